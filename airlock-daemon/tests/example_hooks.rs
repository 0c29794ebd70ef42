//! The example hooks in `examples/hooks/`, each installed in an agent of the real daemon
//! and driven through the real shim, and the redaction filter also fed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use airlock_rpc::base64;

mod support;
use support::{shim_binary, start_daemon, write};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/hooks")
        .join(name)
}

struct Agent {
    dir: tempfile::TempDir,
    daemon: Child,
    socket: PathBuf,
    workspace: PathBuf,
    bin: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// A daemon whose agent `a1` has `hook` (a file from `examples/hooks/`) installed as
/// `hooks/<as_name>`, and `files` (relative to the agent directory) written.
fn agent_with(hook: &str, as_name: &str, files: &[(&str, &str)]) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    write(
        &root.join("config/config.toml"),
        "[commands]\nenable = [\"git\", \"cat\", \"sh\"]\n",
    );
    let workspace = root.join("ws");
    std::fs::create_dir_all(&workspace).unwrap();
    write(
        &root.join("a1/airlock.toml"),
        &format!(
            "commands = []\n[env]\nset = {{ GIT_AUTHOR_NAME = \"agent\", GIT_AUTHOR_EMAIL = \"a@example.invalid\", GIT_COMMITTER_NAME = \"agent\", GIT_COMMITTER_EMAIL = \"a@example.invalid\" }}\n[[mounts]]\ncontainer = \"{0}\"\nhost = \"{0}\"\n",
            workspace.display()
        ),
    );
    write(
        &root.join("a1/commands/cat.toml"),
        "[command]\nbin = \"cat\"\n",
    );
    write(
        &root.join("a1/commands/sh.toml"),
        "[command]\nbin = \"sh\"\n",
    );
    for (path, text) in files {
        write(&root.join("a1").join(path), text);
    }
    let installed = root.join("a1/hooks").join(as_name);
    std::fs::create_dir_all(installed.parent().unwrap()).unwrap();
    std::fs::copy(example(hook), &installed).unwrap();
    write(&root.join("agents.toml"), "[a1]\npath = \"a1\"\n");
    let (daemon, out) = start_daemon(&root, &[]);
    std::thread::spawn(move || for _ in out.lines() {});
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["git", "cat", "sh"] {
        std::os::unix::fs::symlink(shim_binary(), bin.join(name)).unwrap();
    }
    Agent {
        socket: root.join("sockets/a1.sock"),
        workspace,
        bin,
        daemon,
        dir,
    }
}

impl Agent {
    fn root(&self) -> PathBuf {
        self.dir.path().canonicalize().unwrap()
    }

    /// `name args...` through the shim, in `cwd`.
    fn command(&self, name: &str, args: &[&str], cwd: &Path) -> Command {
        let mut command = Command::new(self.bin.join(name));
        command
            .args(args)
            .env("AIRLOCK_SOCKET", &self.socket)
            .current_dir(cwd);
        command
    }

    fn run(&self, name: &str, args: &[&str], cwd: &Path) -> Output {
        self.command(name, args, cwd).output().unwrap()
    }
}

fn host_git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn remote_allowlist_lets_push_reach_only_listed_remotes() {
    let setup = |root: &Path| {
        for name in ["allowed.git", "other.git"] {
            std::fs::create_dir_all(root.join(name)).unwrap();
            host_git(&root.join(name), &["init", "-q", "--bare", "-b", "main"]);
        }
    };
    let agent = agent_with("remote-allowlist", "pre-exec", &[]);
    let root = agent.root();
    setup(&root);
    let allowed = root.join("allowed.git");
    let other = root.join("other.git");
    write(
        &root.join("a1/allowed-remotes"),
        &format!("# where pushes may go\n{}\n", allowed.display()),
    );
    let repo = agent.workspace.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    host_git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("f"), "x\n").unwrap();
    host_git(&repo, &["add", "f"]);
    host_git(
        &repo,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "commit",
            "-q",
            "-m",
            "one",
        ],
    );
    host_git(
        &repo,
        &["remote", "add", "origin", allowed.to_str().unwrap()],
    );
    host_git(&repo, &["remote", "add", "evil", other.to_str().unwrap()]);

    let pushed = agent.run("git", &["push", "-q", "origin", "HEAD:main"], &repo);
    assert_eq!(pushed.status.code(), Some(0), "{}", stderr(&pushed));
    assert_eq!(host_git(&allowed, &["log", "--format=%s", "main"]), "one\n");
    let status = agent.run("git", &["status", "--short"], &repo);
    assert_eq!(status.status.code(), Some(0), "other commands pass");

    let other_path = other.to_str().unwrap().to_owned();
    for argv in [
        vec!["push", "evil", "HEAD:main"],
        vec!["push", &other_path, "HEAD:main"],
        vec!["push", "-f", "-o", "ci.skip", "evil", "HEAD:main"],
        vec!["push", "-fo", "ci.skip", "evil", "HEAD:main"],
        vec!["push", "--rep=evil"],
        vec!["push", "--repo", "evil", "--all"],
        vec!["-C", ".", "push", "evil", "HEAD:main"],
        vec!["push", "--", "evil", "HEAD:main"],
    ] {
        let refused = agent.run("git", &argv, &repo);
        assert_eq!(
            refused.status.code(),
            Some(126),
            "{argv:?}: {}",
            stderr(&refused)
        );
        assert!(
            stderr(&refused).contains("is not allowed") && stderr(&refused).contains("other.git"),
            "{argv:?}: {}",
            stderr(&refused)
        );
    }
    // Rewriting configured in the repository is what counts: an allowed URL that
    // `pushInsteadOf` sends elsewhere is refused.
    let allowed_path = allowed.to_str().unwrap().to_owned();
    host_git(
        &repo,
        &[
            "config",
            &format!("url.{other_path}.pushInsteadOf"),
            &allowed_path,
        ],
    );
    let refused = agent.run("git", &["push", &allowed_path, "HEAD:main"], &repo);
    assert_eq!(refused.status.code(), Some(126), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("other.git"),
        "{}",
        stderr(&refused)
    );
    host_git(
        &repo,
        &["config", "--remove-section", &format!("url.{other_path}")],
    );
    let pushed = agent.run("git", &["push", "-q", &allowed_path, "HEAD:main"], &repo);
    assert_eq!(pushed.status.code(), Some(0), "{}", stderr(&pushed));

    // A push URL configured on an allowed remote's name is what counts.
    host_git(
        &repo,
        &["remote", "set-url", "--push", "origin", &other_path],
    );
    let refused = agent.run("git", &["push", "origin", "HEAD:main"], &repo);
    assert_eq!(refused.status.code(), Some(126), "{}", stderr(&refused));
    // Options that cannot be placed are refused, not guessed (here the policy already
    // refuses; the hook would too).
    let refused = agent.run("git", &["push", "--re", "evil"], &repo);
    assert_eq!(refused.status.code(), Some(126));
    assert!(
        stderr(&refused).contains("abbreviates more than one option")
            || stderr(&refused).contains("cannot tell"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        host_git(&other, &["for-each-ref"]),
        "",
        "nothing reached other.git"
    );
}

/// Feeds the redaction hook chunks directly: (stdout, stderr) it prints.
fn redact(chunks: &[(&str, &[u8])]) -> (Vec<u8>, Vec<u8>) {
    let mut child = Command::new(example("redact"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = String::from(
        "{\"agent\":\"a1\",\"command\":\"cat\",\"args\":[],\"cwd\":\"/w\",\"host_cwd\":\"/w\"}\n",
    );
    for (stream, data) in chunks {
        input.push_str(&format!(
            "{{\"stream\":\"{stream}\",\"data_b64\":\"{}\"}}\n",
            base64::encode(data)
        ));
    }
    input.push_str("{\"exit\":{\"code\":0}}\n");
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(output.status.success());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    for line in output.stdout.lines() {
        let value: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let data = base64::decode(value["data_b64"].as_str().unwrap()).unwrap();
        match value["stream"].as_str().unwrap() {
            "stdout" => out.extend(data),
            _ => err.extend(data),
        }
    }
    (out, err)
}

const KEY_ID: &str = "AKIAABCDEFGHIJKLMNOP";

#[test]
fn redact_hides_secrets_even_when_chunks_cut_them() {
    let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACD\n-----END OPENSSH PRIVATE KEY-----\n";
    let token = format!("ghp_{}", "a1B2".repeat(9));
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    let mut binary: Vec<u8> = (0..=255u8).collect();
    binary.push(b'\n');
    let text = format!(
        "id {KEY_ID} ok\naws_secret_access_key = {}\n{pem}after the key\nAuthorization: Bearer abc.def-ghi_jkl\ntoken {token} and {jwt}\nxoxb-1234567890-abcdef\n",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    );
    // Cut everywhere that hurts: inside the key id, inside the PEM block, in the token.
    let bytes = text.as_bytes();
    let cuts = [6, 12, 60, 100, 140, 230, 250, bytes.len()];
    let mut chunks: Vec<(&str, &[u8])> = Vec::new();
    let mut start = 0;
    for cut in cuts {
        chunks.push(("stdout", &bytes[start..cut]));
        start = cut;
    }
    chunks.push(("stderr", &binary));
    let (out, err) = redact(&chunks);
    let out = String::from_utf8(out).unwrap();
    assert_eq!(
        out,
        "id [REDACTED AWS KEY ID] ok\naws_secret_access_key = [REDACTED]\n[REDACTED PRIVATE KEY]\nafter the key\nAuthorization: Bearer [REDACTED]\ntoken [REDACTED GITHUB TOKEN] and [REDACTED JWT]\n[REDACTED SLACK TOKEN]\n"
    );
    assert_eq!(err, binary, "binary output passes byte for byte");

    // A line far longer than the hook holds, with a key id across a chunk boundary.
    let mut long = vec![b'x'; 200_000];
    long.extend_from_slice(KEY_ID.as_bytes());
    long.extend(vec![b'y'; 200_000]);
    long.push(b'\n');
    let boundary = 200_000 + 7;
    let (out, _) = redact(&[("stdout", &long[..boundary]), ("stdout", &long[boundary..])]);
    let expected = [
        vec![b'x'; 200_000],
        b"[REDACTED AWS KEY ID]".to_vec(),
        vec![b'y'; 200_000],
        b"\n".to_vec(),
    ]
    .concat();
    assert!(out == expected, "long line: {} bytes out", out.len());
}

#[test]
fn redact_works_as_the_daemons_post_exec_hook() {
    let agent = agent_with("redact", "post-exec", &[]);
    let mut input = vec![b'.'; 300_000];
    input.extend_from_slice(format!("\nkey {KEY_ID}\n").as_bytes());
    input.extend(vec![b'-'; 300_000]);
    let mut cat = agent
        .command("cat", &[], &agent.workspace)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = cat.stdin.take().unwrap();
    let data = input.clone();
    let feeder = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let output = cat.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let expected = [
        vec![b'.'; 300_000],
        b"\nkey [REDACTED AWS KEY ID]\n".to_vec(),
        vec![b'-'; 300_000],
    ]
    .concat();
    assert!(
        output.stdout == expected,
        "{} bytes out",
        output.stdout.len()
    );
    let failed = agent.run(
        "sh",
        &["-c", &format!("echo {KEY_ID}; exit 3")],
        &agent.workspace,
    );
    assert_eq!(
        failed.status.code(),
        Some(3),
        "the exit status passes through"
    );
    assert_eq!(failed.stdout, b"[REDACTED AWS KEY ID]\n");
}

/// Waits for the gate's one pending request and returns its id.
fn pending_id(agent_dir: &Path) -> String {
    let pending = agent_dir.join("approvals/pending");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(entries) = std::fs::read_dir(&pending) {
            let ids: Vec<String> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
                .collect();
            if let [id] = ids.as_slice() {
                return id.clone();
            }
        }
        assert!(Instant::now() < deadline, "no request is pending");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn approve(agent_dir: &Path, args: &[&str]) -> String {
    let output = Command::new(example("approve"))
        .arg("--dir")
        .arg(agent_dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "approve {args:?}: {}",
        stderr(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn approval_gate_holds_each_command_for_a_person() {
    let agent = agent_with(
        "approval-gate",
        "pre-exec",
        &[("approvals/timeout", "30\n")],
    );
    let agent_dir = agent.root().join("a1");
    let marker = agent.workspace.join("ran");

    // Approved: it runs.
    let held = agent
        .command("sh", &["-c", "touch ran; echo ran"], &agent.workspace)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = pending_id(&agent_dir);
    assert!(!marker.exists(), "ran before approval");
    let listing = approve(&agent_dir, &[]);
    assert!(
        listing.contains(&id) && listing.contains("\"touch ran; echo ran\""),
        "{listing}"
    );
    approve(&agent_dir, &[&id]);
    let output = held.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(output.stdout, b"ran\n");
    std::fs::remove_file(&marker).unwrap();

    // Denied, with the person's reason.
    let held = agent
        .command("sh", &["-c", "touch ran"], &agent.workspace)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = pending_id(&agent_dir);
    approve(&agent_dir, &["--deny", &id, "not", "today"]);
    let output = held.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(126));
    assert!(
        stderr(&output).contains("denied by a person: not today"),
        "{}",
        stderr(&output)
    );
    assert!(!marker.exists());

    // Nobody answers: the gate's timeout denies.
    write(&agent_dir.join("approvals/timeout"), "0.5\n");
    let output = agent.run("sh", &["-c", "touch ran"], &agent.workspace);
    assert_eq!(output.status.code(), Some(126));
    assert!(
        stderr(&output).contains("no approval within 0.5 s"),
        "{}",
        stderr(&output)
    );
    assert!(!marker.exists());
    // Ids are checked: nothing outside approvals/ can be named.
    let bad = Command::new(example("approve"))
        .arg("--dir")
        .arg(&agent_dir)
        .arg("../../etc")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
