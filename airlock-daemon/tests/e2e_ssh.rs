//! The whole promise, end to end, with real programs: an agent in a sandbox uses git
//! over SSH without ever holding the key.
//!
//! - A real `sshd` on 127.0.0.1 (a free high port, its own config and host key) serves
//!   a bare repository to a key whose private half lives in a directory only the
//!   daemon's side sees.
//! - The real daemon serves agent `a1`, whose profile names that key under
//!   `[ssh_agent]` (the daemon loads it into an ssh-agent of the agent's own; git and ssh
//!   get only `SSH_AUTH_SOCK`, and `GIT_SSH_COMMAND` carries only host-key options) and
//!   mounts a workspace; the built-in git module decides.
//! - The "container" is bubblewrap with its own mount, pid, network, ipc and uts
//!   namespaces (no network at all), only `/usr` of the host, no real git, the
//!   workspace at `/workspace`, the agent socket at `/run/docker-airlock.sock` and the
//!   shim on `PATH` as `git`.
//!
//! Inside, `git clone`, `commit` and `push` over SSH work; reading the key fails; `git -c
//! core.sshCommand=...`, an abbreviated `--upload-pack` and a `core.fsmonitor` planted in
//! `.git/config` run nothing on the host (a marker file stays absent, while the same
//! payloads run directly by the host's git do create it); the audit log holds one
//! record per request, and neither it nor the profile's environment holds the key's
//! path or bytes.
//!
//! Needs `sshd`, `ssh-keygen`, `ssh-agent`, `ssh-add`, `bwrap` and `git` (`.ci/run`
//! installs them). Without them
//! the test fails under `CI=true` and is skipped, loudly, elsewhere.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::io::BufRead;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{host_git, shim_binary, start_daemon, write};

const SSHD: &str = "/usr/sbin/sshd";
const BWRAP: &str = "/usr/bin/bwrap";

/// Kills a child process when the test ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether the tools are here; outside CI a missing one skips the test loudly.
fn tools_present() -> bool {
    let missing: Vec<&str> = [
        SSHD,
        BWRAP,
        "/usr/bin/ssh-keygen",
        "/usr/bin/ssh",
        "/usr/bin/ssh-agent",
        "/usr/bin/ssh-add",
    ]
    .into_iter()
    .filter(|p| !Path::new(p).exists())
    .chain(
        (!Command::new("git")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()))
        .then_some("git"),
    )
    .collect();
    let sandbox_works = missing.is_empty()
        && Command::new(BWRAP)
            .args(["--unshare-all", "--ro-bind", "/usr", "/usr"])
            .args([
                "--symlink",
                "usr/lib64",
                "/lib64",
                "--symlink",
                "usr/lib",
                "/lib",
            ])
            .args(["/usr/bin/true"])
            .status()
            .is_ok_and(|s| s.success());
    if missing.is_empty() && sandbox_works {
        return true;
    }
    let why = if missing.is_empty() {
        "bubblewrap cannot create namespaces here".to_owned()
    } else {
        format!("missing {}", missing.join(", "))
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the end-to-end test must run in CI: {why}"
    );
    eprintln!(
        "\n*** SKIPPED e2e_ssh: {why} (install openssh-server, openssh-client, bubblewrap, git) ***\n"
    );
    false
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The host side: sshd with its keys, the bare repository, and the agent's key.
struct Remote {
    _sshd: Guard,
    port: u16,
    user: String,
    repo: PathBuf,
    key: PathBuf,
    known_hosts: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_remote(host: &Path) -> Remote {
    let keys = host.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let keygen = |path: &Path| {
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(path));
    };
    let host_key = host.join("ssh_host_ed25519_key");
    keygen(&host_key);
    let key = keys.join("id_ed25519");
    keygen(&key);
    let authorized = host.join("authorized_keys");
    std::fs::copy(key.with_extension("pub"), &authorized).unwrap();

    let repo = host.join("srv/repo.git");
    std::fs::create_dir_all(&repo).unwrap();
    host_git(&repo, &["init", "-q", "--bare", "-b", "main"]);
    let seed = host.join("seed");
    host_git(host, &["clone", "-q", repo.to_str().unwrap(), "seed"]);
    std::fs::write(seed.join("README"), "seeded\n").unwrap();
    host_git(&seed, &["add", "README"]);
    host_git(
        &seed,
        &[
            "-c",
            "user.name=seed",
            "-c",
            "user.email=seed@example.invalid",
            "commit",
            "-q",
            "-m",
            "seed",
        ],
    );
    host_git(&seed, &["push", "-q", "origin", "HEAD:main"]);

    let user = String::from_utf8(run(Command::new("id").arg("-un")).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let port = free_port();
    let config = host.join("sshd_config");
    write(
        &config,
        &format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nAuthorizedKeysFile {}\n\
             PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nLogLevel ERROR\n",
            host_key.display(),
            authorized.display()
        ),
    );
    // sshd insists on its privilege-separation directory.
    let _ = std::fs::create_dir_all("/run/sshd");
    let sshd = Guard(
        Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "sshd never listened on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let public = std::fs::read_to_string(host_key.with_extension("pub")).unwrap();
    let mut fields = public.split_whitespace();
    let known_hosts = host.join("known_hosts");
    write(
        &known_hosts,
        &format!(
            "[127.0.0.1]:{port} {} {}\n",
            fields.next().unwrap(),
            fields.next().unwrap()
        ),
    );
    Remote {
        _sshd: sshd,
        port,
        user,
        repo,
        key,
        known_hosts,
    }
}

/// The daemon's configuration: git only, the agent's key in its ssh-agent.
fn configure_daemon(root: &Path, remote: &Remote, workspace: &Path) {
    write(
        &root.join("config/config.toml"),
        &format!(
            "[commands]\nenable = [\"git\", \"cat\"]\n[log]\npath = \"{}\"\n",
            root.join("audit.log").display()
        ),
    );
    // Host-key options only: the key reaches ssh through SSH_AUTH_SOCK.
    let ssh = format!(
        "ssh -F /dev/null -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes",
        remote.known_hosts.display()
    );
    write(
        &root.join("agent/airlock.toml"),
        &format!(
            "commands = [\"git\", \"cat\"]\n\
             [env]\nset = {{ GIT_SSH_COMMAND = \"{ssh}\", GIT_AUTHOR_NAME = \"agent\", GIT_AUTHOR_EMAIL = \"agent@example.invalid\", GIT_COMMITTER_NAME = \"agent\", GIT_COMMITTER_EMAIL = \"agent@example.invalid\" }}\n\
             [[mounts]]\ncontainer = \"/workspace\"\nhost = \"{}\"\n\
             [access.git]\nread = [\"{}\"]\nconnect = [{}]\n\
             [ssh_agent]\nkeys = [\"{}\"]\n",
            workspace.display(),
            remote.known_hosts.display(),
            remote.port,
            remote.key.display(),
        ),
    );
    // A module with no rules at all: only the kernel stands between it and the key.
    write(
        &root.join("agent/commands/cat.toml"),
        "[command]\nbin = \"cat\"\n",
    );
    write(&root.join("agents.toml"), "[a1]\npath = \"agent\"\n");
}

/// The "container": bubblewrap with only /usr of the host, no real git, no network.
struct Container {
    workspace: PathBuf,
    socket: PathBuf,
    shim: PathBuf,
}

impl Container {
    /// Runs `argv` inside, in `/workspace/<dir>`.
    fn run(&self, dir: &str, argv: &[&str]) -> Output {
        Command::new(BWRAP)
            .args([
                "--unshare-pid",
                "--unshare-net",
                "--unshare-ipc",
                "--unshare-uts",
            ])
            .args(["--die-with-parent", "--new-session"])
            .args(["--ro-bind", "/usr", "/usr"])
            .args([
                "--symlink",
                "usr/bin",
                "/bin",
                "--symlink",
                "usr/lib",
                "/lib",
            ])
            .args([
                "--symlink",
                "usr/lib64",
                "/lib64",
                "--symlink",
                "usr/sbin",
                "/sbin",
            ])
            // The host's gits are not in the container: only the shim answers to `git`.
            .args(["--tmpfs", "/usr/local"])
            .args(hide_if_present("/usr/bin/git", "--ro-bind", "/dev/null"))
            .args(hide_if_present("/usr/lib/git-core", "--tmpfs", ""))
            .args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"])
            .arg("--bind")
            .arg(&self.workspace)
            .arg("/workspace")
            .arg("--bind")
            .arg(&self.socket)
            .arg("/run/docker-airlock.sock")
            .arg("--ro-bind")
            .arg(&self.shim)
            .arg("/opt/airlock/bin/airlock-shim")
            .args(["--symlink", "airlock-shim", "/opt/airlock/bin/git"])
            .args(["--symlink", "airlock-shim", "/opt/airlock/bin/cat"])
            .args(["--chdir", &format!("/workspace/{dir}")])
            .args([
                "/usr/bin/env",
                "-i",
                "PATH=/opt/airlock/bin:/usr/bin",
                "HOME=/tmp",
            ])
            .args(argv)
            .output()
            .unwrap()
    }

    /// Runs `argv` inside and expects exit `code`.
    fn expect(&self, dir: &str, argv: &[&str], code: i32) -> Output {
        let output = self.run(dir, argv);
        assert_eq!(
            output.status.code(),
            Some(code),
            "{argv:?} in /workspace/{dir}: stdout {} stderr {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

/// bwrap arguments that cover `path` (with `/dev/null` or an empty tmpfs) if it exists.
fn hide_if_present<'a>(path: &'a str, how: &'a str, source: &'a str) -> Vec<&'a str> {
    match (Path::new(path).exists(), source.is_empty()) {
        (false, _) => Vec::new(),
        (true, true) => vec![how, path],
        (true, false) => vec![how, source, path],
    }
}

fn audit(root: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(root.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn an_agent_in_a_sandbox_uses_git_over_ssh_without_the_key() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let remote = start_remote(&root.join("host"));
    let workspace = root.join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    configure_daemon(&root, &remote, &workspace);
    // The ssh-agent's directory goes in the daemon's TMPDIR.
    let run = root.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let (daemon, stdout) = start_daemon(
        &root,
        &[("TMPDIR", run.to_str().unwrap()), ("XDG_RUNTIME_DIR", "")],
    );
    let _daemon = Guard(daemon);
    std::thread::spawn(move || for _ in stdout.lines() {});
    let container = Container {
        workspace: workspace.clone(),
        socket: root.join("sockets/a1.sock"),
        shim: shim_binary(),
    };
    let marker = root.join("host/marker");
    let url = format!(
        "ssh://{}@127.0.0.1:{}{}",
        remote.user,
        remote.port,
        remote.repo.display()
    );

    // The everyday path: clone, commit, push, all over SSH with the daemon's key.
    container.expect("", &["git", "clone", "-q", &url, "repo"], 0);
    assert_eq!(
        std::fs::read_to_string(workspace.join("repo/README")).unwrap(),
        "seeded\n"
    );
    container.expect("repo", &["sh", "-c", "echo from the sandbox > new.txt"], 0);
    container.expect("repo", &["git", "add", "new.txt"], 0);
    container.expect("repo", &["git", "commit", "-q", "-m", "from the agent"], 0);
    container.expect("repo", &["git", "push", "-q", "origin", "HEAD:main"], 0);
    let head = host_git(&remote.repo, &["log", "-1", "--format=%s %an", "main"]);
    assert_eq!(head, "from the agent agent\n");

    // The key is nowhere in the container, and neither is the host's home; and the
    // programs the daemon runs for the agent cannot read it either: a rule-free `cat`
    // through Airlock meets the kernel, and git's path is refused before it runs.
    let key = remote.key.to_str().unwrap();
    let private_bytes = std::fs::read_to_string(&remote.key).unwrap();
    let secret_line = private_bytes
        .lines()
        .find(|l| !l.starts_with("-----"))
        .unwrap()
        .to_owned();
    let read = container.expect("", &["cat", key], 1);
    assert!(
        String::from_utf8_lossy(&read.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert!(!String::from_utf8_lossy(&read.stdout).contains(&secret_line));
    let diff = container.expect("", &["git", "diff", "--no-index", key, "/dev/null"], 126);
    assert!(String::from_utf8_lossy(&diff.stderr).contains("airlock.path"));
    assert!(!String::from_utf8_lossy(&diff.stdout).contains(&secret_line));
    // Control: the host's own cat, unconfined, reads it.
    let control = Command::new("cat").arg(key).output().unwrap();
    assert!(String::from_utf8_lossy(&control.stdout).contains(&secret_line));
    assert!(!container.run("", &["ls", "/root"]).status.success());
    // Nor is the real git: only the shim answers.
    assert!(
        !container
            .run("", &["/usr/bin/git", "--version"])
            .status
            .success()
    );

    // Attacks: each refused with its rule, and nothing runs on the host.
    let touch = format!("touch {}", marker.display());
    let ssh_command = format!("core.sshCommand=sh -c '{touch}'");
    let refused = container.expect("repo", &["git", "-c", &ssh_command, "fetch"], 126);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("git.config-injection"));
    let upload = format!("--upload-pac={touch}");
    let refused = container.expect("repo", &["git", "fetch", &upload, "origin"], 126);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("git.upload-pack"));
    let plant = format!("printf '[core]\\n\\tfsmonitor = {touch}\\n' >> .git/config");
    container.expect("repo", &["sh", "-c", &plant], 0);
    let refused = container.expect("repo", &["git", "status"], 126);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("airlock.git-config"));
    assert!(!marker.exists(), "an attack ran a command on the host");

    // Controls: the same payloads do run when the host's git is used directly, so the
    // marker's absence above means something.
    let repo = workspace.join("repo");
    let _ = Command::new("git")
        .args(["-c", &ssh_command, "fetch", "-q"])
        .current_dir(&repo)
        .env_remove("GIT_SSH_COMMAND")
        .output()
        .unwrap();
    assert!(marker.exists(), "control: core.sshCommand did not fire");
    std::fs::remove_file(&marker).unwrap();
    let _ = Command::new("git")
        .args(["status", "--short"])
        .current_dir(&repo)
        .output()
        .unwrap();
    assert!(
        marker.exists(),
        "control: the planted fsmonitor did not fire"
    );

    // One audit record per request, with the decision and the rule; each run's start is
    // on record before it ran.
    let all = audit(&root);
    let starts = all.iter().filter(|r| r["decision"] == "start").count();
    let records: Vec<serde_json::Value> = all
        .into_iter()
        .filter(|r| r["decision"] != "start")
        .collect();
    assert_eq!(
        starts,
        records.iter().filter(|r| r["decision"] == "allow").count(),
        "a start record for every run"
    );
    let summary: Vec<(String, String, Option<String>)> = records
        .iter()
        .map(|r| {
            (
                r["argv"][0].as_str().unwrap_or("").to_owned(),
                r["decision"].as_str().unwrap().to_owned(),
                r["rule"].as_str().map(str::to_owned),
            )
        })
        .collect();
    // The built-in git module is an allow list: each allowed run names its rule.
    let expected = [
        ("clone", "allow", Some("git.allow.clone")),
        ("add", "allow", Some("git.allow.add")),
        ("commit", "allow", Some("git.allow.commit")),
        ("push", "allow", Some("git.allow.push")),
        (key, "allow", None),
        ("diff", "deny", Some("airlock.path")),
        ("-c", "deny", Some("git.config-injection")),
        ("fetch", "deny", Some("git.upload-pack")),
        ("status", "deny", Some("airlock.git-config")),
    ];
    let expected: Vec<(String, String, Option<String>)> = expected
        .iter()
        .map(|(a, d, r)| ((*a).to_owned(), (*d).to_owned(), r.map(str::to_owned)))
        .collect();
    assert_eq!(summary, expected, "{records:#?}");
    for record in &records[..4] {
        assert_eq!(record["exit_code"], 0, "{record}");
        assert_eq!(record["agent"], "a1");
    }

    // The key is a capability, not a file anyone is told about: the audit log holds
    // neither its bytes nor its path, and no environment value the profile sets names
    // it (git and ssh found it through SSH_AUTH_SOCK alone).
    let log = std::fs::read_to_string(root.join("audit.log")).unwrap();
    let private = std::fs::read_to_string(&remote.key).unwrap();
    for line in private.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!log.contains(line), "the audit log holds the key");
    }
    // Its path appears only where the agent itself wrote it (the two refused reads).
    for record in records.iter().filter(|r| r.to_string().contains(key)) {
        assert!(
            record["argv"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a.as_str().is_some_and(|a| a.contains(key))),
            "the audit log names the key: {record}"
        );
    }
    let profile: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("agent/airlock.toml")).unwrap()).unwrap();
    let set = profile["env"]["set"].as_table().unwrap();
    assert!(set.contains_key("GIT_SSH_COMMAND"));
    for (name, value) in set {
        let value = value.as_str().unwrap();
        assert!(
            !value.contains(key) && !value.contains("id_ed25519"),
            "{name} names the key"
        );
    }
    assert!(
        profile["access"]["git"]["read"]
            .as_array()
            .unwrap()
            .iter()
            .all(|path| path.as_str() != Some(key)),
        "no program may read the key file"
    );
}
