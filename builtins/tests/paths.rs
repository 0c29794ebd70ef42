//! The path values each built-in module declares: for every argv, the host paths the
//! tool will read or write, in every spelling the tool accepts, over every plausible
//! reading (the daemon must confine all of them).
//!
//! Each case says how the fact behind it was checked on this machine: git 2.47.3,
//! OpenSSH 9.2 (`ssh -G` prints the configuration without connecting), Terraform 1.11,
//! the docker 28 client (no engine: it parses, then fails to connect, or refuses a
//! copy without a container side), kubectl 1.32 (no cluster: same) and aws-cli 1.45
//! (`--debug` against an unreachable `--endpoint-url` shows what would be sent).
//! Some are also re-checked here against the installed git and ssh.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test"
)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use airlock_policy::{Module, PathAccess, PathSource};

/// `(access, path text, what it came from)` over every reading.
type Paths = BTreeSet<(String, String, String)>;

fn module(name: &str) -> Module {
    airlock_builtins::compile(name).unwrap().unwrap()
}

fn paths_of(module: &Module, argv: &[String]) -> Paths {
    let mut found = BTreeSet::new();
    for reading in module.readings(argv).unwrap() {
        for path in reading.paths() {
            let from = match path.source() {
                PathSource::Option(opt) => opt.name().to_owned(),
                PathSource::Operand { position, .. } => format!("operand {position}"),
                _ => "?".to_owned(),
            };
            found.insert((path.access().to_string(), path.text().to_owned(), from));
        }
    }
    found
}

fn expect(items: &[(&str, &str, &str)]) -> Paths {
    items
        .iter()
        .map(|(a, t, f)| ((*a).to_owned(), (*t).to_owned(), (*f).to_owned()))
        .collect()
}

/// An argv and the `(access, path, from)` it must report.
type Case<'c> = (&'c str, &'c [(&'c str, &'c str, &'c str)]);

/// Checks every case of `name` and reports all mismatches.
fn check(name: &str, cases: &[Case<'_>]) {
    let module = module(name);
    let mut failures = Vec::new();
    for (argv, expected) in cases {
        let words = shell_words(argv);
        let got = paths_of(&module, &words);
        if got != expect(expected) {
            failures.push(format!(
                "{name} {argv}:\n  expected {:?}\n  got      {got:?}",
                expect(expected)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Splits a case as a shell would (single quotes only, enough for these cases).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            _ => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

#[test]
fn git_paths() {
    check(
        "git",
        &[
            // Verified: `git log --output=FILE` and `git -C sub log --output=f` (sub/f).
            (
                "log -1 --output=out.txt",
                &[("write", "out.txt", "--output")],
            ),
            ("log --output out.txt", &[("write", "out.txt", "--output")]),
            (
                "-C sub log --output=o",
                &[("chdir", "sub", "-C"), ("write", "o", "--output")],
            ),
            ("show --output=/tmp/x", &[("write", "/tmp/x", "--output")]),
            // Verified for each: every command that takes git's diff options writes it.
            ("blame --output=o f", &[("write", "o", "--output")]),
            ("rev-list --output=o HEAD", &[("write", "o", "--output")]),
            (
                "diff-tree -p --output=o HEAD",
                &[("write", "o", "--output")],
            ),
            ("reflog show --output=o", &[("write", "o", "--output")]),
            ("stash show --output=o", &[("write", "o", "--output")]),
            // format-patch: `-o DIR`, bundled, `=`, and its own `--output`.
            (
                "format-patch -o patches -1",
                &[("write", "patches", "--output-directory")],
            ),
            (
                "format-patch -kopatches -1",
                &[("write", "patches", "--output-directory")],
            ),
            (
                "format-patch --output-directory=p -1",
                &[("write", "p", "--output-directory")],
            ),
            (
                "format-patch -1 --output=one.patch",
                &[("write", "one.patch", "--output")],
            ),
            // diff: every operand may be read (`git diff /etc/passwd /dev/null` prints
            // the file even without --no-index, verified).
            (
                "diff --no-index /etc/passwd /dev/null",
                &[
                    ("read", "/etc/passwd", "operand 1"),
                    ("read", "/dev/null", "operand 2"),
                ],
            ),
            (
                "diff /etc/passwd ./x",
                &[
                    ("read", "/etc/passwd", "operand 1"),
                    ("read", "./x", "operand 2"),
                ],
            ),
            (
                "diff --stat --output=d.txt",
                &[("write", "d.txt", "--output")],
            ),
            // clone: the source unless it is a URL (file:// is a path), then the
            // directory. Verified: `git clone h:x out` clones the local directory `h:x`.
            (
                "clone ../src dst",
                &[
                    ("read", "../src", "operand 1"),
                    ("write", "dst", "operand 2"),
                ],
            ),
            (
                "clone file:///srv/repo.git d",
                &[
                    ("read", "/srv/repo.git", "operand 1"),
                    ("write", "d", "operand 2"),
                ],
            ),
            (
                "clone https://example.com/r.git d",
                &[("write", "d", "operand 2")],
            ),
            ("clone ssh://git@example.com/r.git", &[]),
            (
                "clone git@example.com:r.git",
                &[("read", "git@example.com:r.git", "operand 1")],
            ),
            (
                "clone --template=/tpl --separate-git-dir ../g --reference /ref r d",
                &[
                    ("read", "/tpl", "--template"),
                    ("write", "../g", "--separate-git-dir"),
                    ("read", "/ref", "--reference"),
                    ("read", "r", "operand 1"),
                    ("write", "d", "operand 2"),
                ],
            ),
            (
                "clone --templ=t r",
                &[("read", "t", "--template"), ("read", "r", "operand 1")],
            ),
            // init, worktree add, bundle create (verified: each creates its path).
            ("init newrepo", &[("write", "newrepo", "operand 1")]),
            (
                "init -q --template= ../x",
                &[("read", "", "--template"), ("write", "../x", "operand 1")],
            ),
            ("worktree add ../wt", &[("write", "../wt", "operand 1")]),
            (
                "worktree add -b topic ../wt main",
                &[("write", "../wt", "operand 1")],
            ),
            (
                "bundle create ../b.bundle HEAD",
                &[("write", "../b.bundle", "operand 1")],
            ),
            (
                "bundle create -q b.bundle --all",
                &[("write", "b.bundle", "operand 1")],
            ),
            (
                "bundle verify b.bundle",
                &[("read", "b.bundle", "operand 1")],
            ),
            // archive: `-o`, `--output`; `--add-file` puts any readable file in the
            // archive (verified with /etc/hostname).
            (
                "archive -o ../a.tar HEAD",
                &[("write", "../a.tar", "--output")],
            ),
            (
                "archive --output=a.tar --add-file=/etc/hostname HEAD",
                &[
                    ("write", "a.tar", "--output"),
                    ("read", "/etc/hostname", "--add-file"),
                ],
            ),
            // Global options: -C, --git-dir, --work-tree; every path after every -C.
            (
                "--git-dir=g -C a -C b --work-tree w status",
                &[
                    ("write", "g", "--git-dir"),
                    ("chdir", "a", "-C"),
                    ("chdir", "b", "-C"),
                    ("write", "w", "--work-tree"),
                ],
            ),
            // Message and pathspec files; `-` is stdin.
            ("commit -F msg.txt", &[("read", "msg.txt", "--file")]),
            (
                "commit --file=/etc/passwd",
                &[("read", "/etc/passwd", "--file")],
            ),
            ("commit -aF -", &[]),
            (
                "commit -t .gitmessage",
                &[("read", ".gitmessage", "--template")],
            ),
            (
                "commit --pathspec-from-file=list",
                &[("read", "list", "--pathspec-from-file")],
            ),
            ("tag -a v1 -F notes", &[("read", "notes", "--file")]),
            ("merge -F m topic", &[("read", "m", "--file")]),
            (
                "add --pathspec-from-file=/tmp/l",
                &[("read", "/tmp/l", "--pathspec-from-file")],
            ),
            ("grep -f patterns x", &[("read", "patterns", "-f")]),
            (
                "hash-object -w /etc/hostname",
                &[("read", "/etc/hostname", "operand 1")],
            ),
            (
                "blame --contents /etc/hostname f",
                &[("read", "/etc/hostname", "--contents")],
            ),
            // Local repositories in fetch and push (verified: both work on a path).
            (
                "push ../other.git HEAD:main",
                &[("write", "../other.git", "operand 1")],
            ),
            ("push https://example.com/r main", &[]),
            ("fetch /srv/r.git", &[("read", "/srv/r.git", "operand 1")]),
            // Nothing: no path-valued option.
            ("status", &[]),
            ("commit -m 'a message'", &[]),
            ("log -S --output --oneline", &[]),
        ],
    );
}

#[test]
fn terraform_paths() {
    // Verified: `terraform -chdir=a plan -var-file=v -out=p` reads a/v and writes a/p;
    // `show p` and `apply -state-out=s -backup=b p` in a/; a second -chdir is refused.
    check(
        "terraform",
        &[
            (
                "-chdir=infra plan -var-file=prod.tfvars -out=tf.plan",
                &[
                    ("chdir", "infra", "-chdir"),
                    ("read", "prod.tfvars", "-var-file"),
                    ("write", "tf.plan", "-out"),
                ],
            ),
            ("plan --out tf.plan", &[("write", "tf.plan", "-out")]),
            (
                "plan -state=old.tfstate",
                &[("read", "old.tfstate", "-state")],
            ),
            ("apply tf.plan", &[("read", "tf.plan", "operand 1")]),
            (
                "apply -state=s -state-out=o -backup=b -var-file v",
                &[
                    ("write", "s", "-state"),
                    ("write", "o", "-state-out"),
                    ("write", "b", "-backup"),
                    ("read", "v", "-var-file"),
                ],
            ),
            ("show tf.plan", &[("read", "tf.plan", "operand 1")]),
            (
                "show -json /tmp/x.tfstate",
                &[("read", "/tmp/x.tfstate", "operand 1")],
            ),
            ("output -state=/s", &[("read", "/s", "-state")]),
            (
                "init -backend-config=backend.hcl",
                &[("read", "backend.hcl", "-backend-config")],
            ),
            ("init -backend-config=bucket=b", &[]),
            (
                "init -plugin-dir=/opt/plugins",
                &[("read", "/opt/plugins", "-plugin-dir")],
            ),
            (
                "fmt -recursive ../modules",
                &[("write", "../modules", "operand 1")],
            ),
            ("fmt -", &[]),
            ("plan", &[]),
            ("plan -var action=destroy", &[]),
        ],
    );
}

#[test]
fn docker_paths() {
    // Verified with the docker 28 client: `cp ./a:b c` and `cp :x c` are both local
    // ("must specify at least one container source"), `cp a:b c` and `cp a/b:c d`
    // have a container side.
    check(
        "docker",
        &[
            ("build .", &[("read", ".", "operand 1")]),
            (
                "build -f ../Dockerfile -t x --iidfile id.txt ctx",
                &[
                    ("read", "../Dockerfile", "--file"),
                    ("write", "id.txt", "--iidfile"),
                    ("read", "ctx", "operand 1"),
                ],
            ),
            ("build --file=- .", &[("read", ".", "operand 1")]),
            ("build https://example.com/ctx.git", &[]),
            ("build -", &[]),
            (
                "run --env-file ./.env --label-file=l --cidfile=/tmp/cid alpine",
                &[
                    ("read", "./.env", "--env-file"),
                    ("read", "l", "--label-file"),
                    ("write", "/tmp/cid", "--cidfile"),
                ],
            ),
            ("exec --env-file e c sh", &[("read", "e", "--env-file")]),
            // `-v SRC:DST`: the source when it starts with /, . or ~; bundled and `=`.
            ("run -v /etc:/e alpine", &[("write", "/etc", "--volume")]),
            (
                "run -dv./data:/data alpine",
                &[("write", "./data", "--volume")],
            ),
            (
                "run --volume=~/.ssh:/k:ro alpine",
                &[("write", "~/.ssh", "--volume")],
            ),
            ("run -v data:/data alpine", &[]),
            ("run -v /anonymous alpine", &[]),
            (
                "container create -v ../x:/x img",
                &[("write", "../x", "--volume")],
            ),
            // `--mount`: the source field, any case, quoted.
            (
                "run --mount type=bind,src=/,dst=/host alpine",
                &[("write", "/", "--mount")],
            ),
            (
                "run --mount 'type=bind,\"SOURCE=/a,b\",target=/t' alpine",
                &[("write", "/a,b", "--mount")],
            ),
            ("run --mount type=tmpfs,dst=/t alpine", &[]),
            // Options after the image belong to the container's command.
            ("run alpine -v /:/host", &[]),
            // cp: the host side, `:PATH` included; `-` is a tar stream.
            (
                "cp c:/etc/passwd ./passwd",
                &[("write", "./passwd", "operand 2")],
            ),
            ("cp ./in c:/tmp/in", &[("read", "./in", "operand 1")]),
            (
                "cp :/etc/shadow c:/x",
                &[("read", "/etc/shadow", "operand 1")],
            ),
            ("cp -a ./a:b c:/x", &[("read", "./a:b", "operand 1")]),
            (
                "container cp c:/x /tmp/y",
                &[("write", "/tmp/y", "operand 2")],
            ),
            ("cp c:/x -", &[]),
            // Archives.
            (
                "save -o img.tar alpine",
                &[("write", "img.tar", "--output")],
            ),
            (
                "image save --output=/tmp/i.tar alpine",
                &[("write", "/tmp/i.tar", "--output")],
            ),
            ("load -i img.tar", &[("read", "img.tar", "--input")]),
            ("export -o c.tar c", &[("write", "c.tar", "--output")]),
            ("import c.tar img", &[("read", "c.tar", "operand 1")]),
            // Client configuration.
            (
                "--tlscacert /ca.pem ps",
                &[("read", "/ca.pem", "--tlscacert")],
            ),
            ("ps", &[]),
        ],
    );
}

#[test]
fn kubectl_paths() {
    // Verified with kubectl 1.32: `cp a b` has no remote side, `cp a:b c` and
    // `cp /a:b c` do (the first `:` makes a pod spec); `logs -f` is --follow.
    check(
        "kubectl",
        &[
            (
                "apply -f deploy.yaml",
                &[("read", "deploy.yaml", "--filename")],
            ),
            (
                "apply --filename=/etc/k8s/x.yaml",
                &[("read", "/etc/k8s/x.yaml", "--filename")],
            ),
            (
                "apply -k overlays/prod",
                &[("read", "overlays/prod", "--kustomize")],
            ),
            ("delete -f ./x.yaml", &[("read", "./x.yaml", "--filename")]),
            ("get -f x.yaml -o yaml", &[("read", "x.yaml", "--filename")]),
            (
                "rollout status -f d.yaml",
                &[("read", "d.yaml", "--filename")],
            ),
            (
                "set image -f d.yaml c=img",
                &[("read", "d.yaml", "--filename")],
            ),
            ("apply -f -", &[]),
            ("apply -f https://example.com/x.yaml", &[]),
            ("logs -f pod", &[]),
            ("kustomize ./base", &[("read", "./base", "operand 1")]),
            (
                "--kubeconfig /tmp/kc get pods",
                &[("read", "/tmp/kc", "--kubeconfig")],
            ),
            (
                "get pods --kubeconfig=kc",
                &[("read", "kc", "--kubeconfig")],
            ),
            ("cp ns/pod:/etc/x ./x", &[("write", "./x", "operand 2")]),
            ("cp ./x pod:/tmp/x", &[("read", "./x", "operand 1")]),
            (
                "cp -c app /tmp/a pod:/a",
                &[("read", "/tmp/a", "operand 1")],
            ),
            (
                "cluster-info dump --output-directory=/tmp/d",
                &[("write", "/tmp/d", "--output-directory")],
            ),
            ("get pods", &[]),
        ],
    );
}

#[test]
fn ssh_paths() {
    // Verified with `ssh -G`: each -o keyword in KEY=VALUE, `KEY VALUE` and ` key = value`
    // form, and `UserKnownHostsFile a b` (two files).
    check(
        "ssh",
        &[
            ("-i ~/.ssh/deploy host", &[("read", "~/.ssh/deploy", "-i")]),
            ("-i/k host", &[("read", "/k", "-i")]),
            ("-qi /k host uptime", &[("read", "/k", "-i")]),
            ("-F ./cfg host", &[("read", "./cfg", "-F")]),
            ("-E /tmp/log host", &[("write", "/tmp/log", "-E")]),
            ("-S /tmp/ctl host", &[("write", "/tmp/ctl", "-S")]),
            ("-I ./p11.so host", &[("read", "./p11.so", "-I")]),
            ("-o IdentityFile=/x host", &[("read", "/x", "-o")]),
            ("-o 'identityfile /y' host", &[("read", "/y", "-o")]),
            ("-o ' IdentityFile = /z' host", &[("read", "/z", "-o")]),
            ("-oCertificateFile=c host", &[("read", "c", "-o")]),
            ("-o ControlPath=/tmp/c host", &[("write", "/tmp/c", "-o")]),
            (
                "-o 'UserKnownHostsFile /a /b' host",
                &[("write", "/a", "-o"), ("write", "/b", "-o")],
            ),
            (
                "-o IdentityAgent=/run/agent host",
                &[("read", "/run/agent", "-o")],
            ),
            (
                "-o PKCS11Provider=/lib/p.so host",
                &[("read", "/lib/p.so", "-o")],
            ),
            ("-o ConnectTimeout=5 host", &[]),
            // After the destination and its first word, it is the remote command.
            ("host ls -i /x", &[]),
            ("host -i /k uptime", &[("read", "/k", "-i")]),
        ],
    );
}

#[test]
fn aws_paths() {
    // Verified with aws-cli 1.45 --debug: `--user-data file://x` sends x's content,
    // `FILE://x` is sent as text; `s3 cp S3://b/k .` is a local copy.
    check(
        "aws",
        &[
            (
                "ec2 run-instances --image-id ami-1 --user-data file://init.sh",
                &[("read", "init.sh", "--user-data")],
            ),
            (
                "lambda update-function-code --function-name f --zip-file fileb:///tmp/f.zip",
                &[("read", "/tmp/f.zip", "--zip-file")],
            ),
            (
                "ec2 run-instances --cli-input-json file://in.json",
                &[("read", "in.json", "--cli-input-json")],
            ),
            ("ec2 run-instances --user-data FILE://x", &[]),
            (
                "--ca-bundle /etc/ca.pem s3 ls",
                &[("read", "/etc/ca.pem", "--ca-bundle")],
            ),
            (
                "s3 cp ./report.csv s3://bucket/r.csv",
                &[("read", "./report.csv", "operand 1")],
            ),
            (
                "s3 cp s3://bucket/r.csv /tmp/r.csv",
                &[("write", "/tmp/r.csv", "operand 2")],
            ),
            (
                "s3 cp --recursive ./dir s3://bucket/d/",
                &[("read", "./dir", "operand 1")],
            ),
            // Abbreviated (verified: `s3 cp --recur DIR s3://...` uploads DIR).
            (
                "s3 cp --recur ./dir s3://b/",
                &[("read", "./dir", "operand 1")],
            ),
            (
                "--ca-b /etc/ca.pem s3 ls",
                &[("read", "/etc/ca.pem", "--ca-bundle")],
            ),
            ("s3 cp - s3://b/k", &[]),
            (
                "s3 cp S3://b/k .",
                &[
                    ("read", "S3://b/k", "operand 1"),
                    ("write", ".", "operand 2"),
                ],
            ),
            (
                "s3 sync --delete s3://b/p ./mirror",
                &[("write", "./mirror", "operand 2")],
            ),
            ("s3 sync ./site s3://b/", &[("read", "./site", "operand 1")]),
            (
                "s3 mv ./upload.bin s3://b/u",
                &[("write", "./upload.bin", "operand 1")],
            ),
            ("--region us-east-1 s3 ls s3://b", &[]),
            ("ec2 describe-instances --instance-ids i-1", &[]),
        ],
    );
}

/// Runs `program` in `dir` with a clean environment.
fn run(program: &str, dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap_or_else(|e| panic!("{program} is installed: {e}"))
}

#[test]
fn git_writes_where_the_reading_says() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    assert!(
        run("git", &dir.join("sub"), &["init", "-q"])
            .status
            .success()
    );
    assert!(
        run(
            "git",
            &dir.join("sub"),
            &["commit", "-q", "--allow-empty", "-m", "x"]
        )
        .status
        .success()
    );
    let git = module("git");
    for (argv, written) in [
        (
            &["-C", "sub", "log", "-1", "--output=out.txt"][..],
            "sub/out.txt",
        ),
        (&["-C", "sub", "format-patch", "-1", "-o", "p"][..], "sub/p"),
        (
            &["-C", "sub", "bundle", "create", "b.bundle", "HEAD"][..],
            "sub/b.bundle",
        ),
        (
            &["-C", "sub", "archive", "--output", "a.tar", "HEAD"][..],
            "sub/a.tar",
        ),
    ] {
        assert!(!dir.join(written).exists());
        let out = run("git", dir, argv);
        assert!(
            out.status.success(),
            "{argv:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(dir.join(written).exists(), "{argv:?} wrote {written}");
        // The reading: one write path, relative to the one directory change.
        let readings = git.readings(argv).unwrap();
        assert_eq!(readings.len(), 1, "{argv:?}");
        let paths = readings[0].paths();
        let writes: Vec<_> = paths
            .iter()
            .filter(|p| p.access() == PathAccess::Write)
            .collect();
        assert_eq!(writes.len(), 1, "{argv:?}: {paths:?}");
        let resolved: std::path::PathBuf = writes[0]
            .base()
            .iter()
            .map(|i| paths[*i].text())
            .chain([writes[0].text()])
            .collect();
        assert_eq!(resolved, Path::new(written), "{argv:?}");
        assert_eq!(
            writes[0]
                .span()
                .text_in(argv)
                .map(|t| t.ends_with(writes[0].text())),
            Some(true)
        );
    }
}

#[test]
fn ssh_reads_the_files_the_reading_reports() {
    let dir = tempfile::tempdir().unwrap();
    let ssh = module("ssh");
    for (argv, keyword) in [
        (
            &["-o", "IdentityFile=/x/key", "host"][..],
            "identityfile /x/key",
        ),
        (
            &["-o", "identityfile /y/key", "host"][..],
            "identityfile /y/key",
        ),
        (&["-oCertificateFile=/c", "host"][..], "certificatefile /c"),
        (
            &["-o", "ControlPath=/tmp/ctl", "host"][..],
            "controlpath /tmp/ctl",
        ),
        (
            &["-o", "UserKnownHostsFile /a /b", "host"][..],
            "userknownhostsfile /a /b",
        ),
    ] {
        let mut args = vec!["-G", "-F", "/dev/null"];
        args.extend_from_slice(argv);
        let out = run("ssh", dir.path(), &args);
        let config = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(
            config.lines().any(|l| l == keyword),
            "ssh -G {argv:?} has no `{keyword}`"
        );
        let reported: Vec<String> = ssh.readings(argv).unwrap()[0]
            .paths()
            .iter()
            .map(|p| p.text().to_owned())
            .collect();
        let expected: Vec<&str> = keyword.split(' ').skip(1).collect();
        assert_eq!(reported, expected, "{argv:?}");
    }
}
