//! SSH keys as capabilities, with the real daemon, the real shim and OpenSSH's
//! `ssh-agent`: a program run for an agent whose profile names a key (`[ssh_agent]
//! keys`) gets `SSH_AUTH_SOCK` and can use the key through it (`ssh-add -l` lists its
//! fingerprint), while nothing it is given (environment, output, audit log) holds the
//! key's path or bytes. Reloads replace the ssh-agent when the key changes and stop it
//! when the key goes; shutdown stops it; a key that does not load stops the start.
//!
//! Needs `ssh-agent`, `ssh-add` and `ssh-keygen` (`.ci/run` installs them): without
//! them the tests fail under `CI=true` and are skipped, loudly, elsewhere.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod support;
use support::{shim_binary, start_daemon, write};

/// Whether the OpenSSH tools are here; outside CI a missing one skips the test loudly.
fn tools_present() -> bool {
    let missing: Vec<&str> = ["ssh-agent", "ssh-add", "ssh-keygen"]
        .into_iter()
        .filter(|tool| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("missing {}", missing.join(", "));
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the ssh-agent tests must run in CI: {why}"
    );
    eprintln!("\n*** SKIPPED ssh_agent: {why} (install openssh-client) ***\n");
    false
}

fn keygen(path: &Path, passphrase: &str) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path.with_extension("pub"));
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            passphrase,
            "-C",
            "airlock-test",
            "-f",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

fn fingerprint(key: &Path) -> String {
    let output = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    text.split_whitespace().nth(1).unwrap().to_owned()
}

/// The base64 body of a private key file: what must never leave the daemon's side.
fn private_lines(key: &Path) -> Vec<String> {
    std::fs::read_to_string(key)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .map(str::to_owned)
        .collect()
}

/// The scratch layout: `config/`, `agents.toml`, agent `a1` (workspace `a1/ws`, seen
/// at the same path by the "container"), its key in `keys/` (outside every mount),
/// the daemon's TMPDIR `run/` (where the ssh-agents' directories go).
struct Setup {
    dir: tempfile::TempDir,
    workspace: PathBuf,
    key: PathBuf,
    bin: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        write(
            &root.join("config/config.toml"),
            &format!(
                "[commands]\nenable = [\"env\", \"ssh-add\"]\n[log]\npath = \"{}\"\n",
                root.join("audit.log").display()
            ),
        );
        write(
            &root.join("a1/commands/env.toml"),
            "[command]\nbin = \"env\"\n",
        );
        write(
            &root.join("a1/commands/ssh-add.toml"),
            "[command]\nbin = \"ssh-add\"\n",
        );
        write(&root.join("agents.toml"), "[a1]\npath = \"a1\"\n");
        let workspace = root.join("a1/ws");
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::create_dir_all(root.join("keys")).unwrap();
        std::fs::create_dir_all(root.join("run")).unwrap();
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for name in ["env", "ssh-add"] {
            std::os::unix::fs::symlink(shim_binary(), bin.join(name)).unwrap();
        }
        let setup = Self {
            workspace,
            key: root.join("keys/id_ed25519"),
            bin,
            dir,
        };
        setup.profile(true);
        setup
    }

    fn root(&self) -> PathBuf {
        self.dir.path().canonicalize().unwrap()
    }

    /// Writes agent `a1`'s profile, with its key under `[ssh_agent]` or without.
    fn profile(&self, with_key: bool) {
        let keys = if with_key {
            format!("[ssh_agent]\nkeys = [\"{}\"]\n", self.key.display())
        } else {
            String::new()
        };
        write(
            &self.root().join("a1/airlock.toml"),
            &format!(
                "commands = []\n[env]\nset = {{ FROM_PROFILE = \"1\" }}\n[[mounts]]\ncontainer = \"{0}\"\nhost = \"{0}\"\n{keys}",
                self.workspace.display()
            ),
        );
    }

    /// Starts the daemon with an ssh-agent of its own in its environment (which no
    /// program may see) and TMPDIR in `run/`.
    fn start(&self) -> Running {
        let root = self.root();
        let run = root.join("run");
        let (child, stdout) = start_daemon(
            &root,
            &[
                ("SSH_AUTH_SOCK", "/daemon/own/agent.sock"),
                ("SSH_AGENT_PID", "4242"),
                ("TMPDIR", run.to_str().unwrap()),
                ("XDG_RUNTIME_DIR", ""),
            ],
        );
        let (lines, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { return };
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        Running { child, lines: rx }
    }

    /// Runs `name` (the shim) in the workspace.
    fn run(&self, name: &str, args: &[&str]) -> Output {
        let output = Command::new(self.bin.join(name))
            .args(args)
            .env_clear()
            .env("AIRLOCK_SOCKET", self.root().join("sockets/a1.sock"))
            .current_dir(&self.workspace)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{name} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// The program's environment, as `env` run through the daemon prints it.
    fn program_env(&self) -> String {
        String::from_utf8(self.run("env", &[]).stdout).unwrap()
    }

    /// The program's `SSH_AUTH_SOCK`, if it has one.
    fn auth_sock(&self) -> Option<PathBuf> {
        self.program_env()
            .lines()
            .find_map(|line| line.strip_prefix("SSH_AUTH_SOCK="))
            .map(PathBuf::from)
    }

    /// The ssh-agents' directories in the daemon's TMPDIR.
    fn agent_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.root().join("run"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("airlock-ssh-agent-"))
            })
            .collect()
    }
}

struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGHUP, then waits until the daemon says it reloaded.
    fn reload(&self) {
        self.signal("HUP");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains("configuration reloaded") => return,
                Ok(_) => {}
                Err(e) => panic!("the daemon did not reload: {e}"),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(needle))
        .collect()
}

#[test]
fn programs_use_the_key_through_the_socket_and_never_see_it() {
    if !tools_present() {
        return;
    }
    let setup = Setup::new();
    keygen(&setup.key, "");
    let root = setup.root();
    let check = Command::new(env!("CARGO_BIN_EXE_airlock-daemon"))
        .args(["check", "--config"])
        .arg(root.join("config"))
        .arg("--agents")
        .arg(root.join("agents.toml"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{check:?}");
    assert!(said.contains("(ssh-agent: 1 key)"), "{said}");
    let daemon = setup.start();
    let key_path = setup.key.display().to_string();

    // The program gets the agent's socket, not the daemon's own ssh-agent, not the key.
    let env = setup.program_env();
    assert!(env.contains("FROM_PROFILE=1"), "{env}");
    let socket = setup.auth_sock().expect("SSH_AUTH_SOCK");
    assert_ne!(socket, Path::new("/daemon/own/agent.sock"));
    assert!(!env.contains("SSH_AGENT_PID"), "{env}");
    assert!(!env.contains(&key_path), "{env}");
    assert!(!env.contains("id_ed25519"), "{env}");
    let private = socket.parent().unwrap();
    assert_eq!(private.parent(), Some(setup.root().join("run").as_path()));
    assert!(!socket.starts_with(&setup.workspace));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(private).unwrap().permissions().mode() & 0o777,
        0o700
    );

    // Through the socket, the (confined) program can use the key.
    let listed = String::from_utf8(setup.run("ssh-add", &["-l"]).stdout).unwrap();
    assert!(listed.contains(&fingerprint(&setup.key)), "{listed}");

    // The key changes: a fresh ssh-agent with the new key, the old one gone.
    keygen(&setup.key, "");
    daemon.reload();
    let rotated = setup
        .auth_sock()
        .expect("SSH_AUTH_SOCK after the key changed");
    assert_ne!(rotated, socket);
    assert!(!socket.exists(), "the replaced ssh-agent's socket is gone");
    assert!(processes_mentioning(socket.to_str().unwrap()).is_empty());
    let listed = String::from_utf8(setup.run("ssh-add", &["-l"]).stdout).unwrap();
    assert!(listed.contains(&fingerprint(&setup.key)), "{listed}");
    assert_eq!(setup.agent_dirs().len(), 1);

    // Unchanged: the same ssh-agent.
    daemon.reload();
    assert_eq!(setup.auth_sock().as_ref(), Some(&rotated));

    // The key goes: no SSH_AUTH_SOCK, no ssh-agent.
    setup.profile(false);
    daemon.reload();
    assert_eq!(setup.auth_sock(), None);
    assert!(setup.agent_dirs().is_empty());
    assert!(processes_mentioning(rotated.to_str().unwrap()).is_empty());

    // Back, then shutdown stops it.
    setup.profile(true);
    daemon.reload();
    let last = setup.auth_sock().expect("SSH_AUTH_SOCK");
    let mut daemon = daemon;
    daemon.signal("TERM");
    assert!(daemon.child.wait().unwrap().success());
    assert!(!last.exists());
    assert!(setup.agent_dirs().is_empty());
    assert!(processes_mentioning(last.to_str().unwrap()).is_empty());

    // Nothing the agent could get holds the key: not the audit log, not the output
    // (checked above), not the profile's environment.
    let audit = std::fs::read_to_string(setup.root().join("audit.log")).unwrap();
    assert!(audit.lines().count() >= 8, "{audit}");
    for line in private_lines(&setup.key) {
        assert!(!audit.contains(&line), "the audit log holds the key");
    }
    assert!(!audit.contains(&key_path), "the audit log names the key");
}

#[test]
fn a_key_that_does_not_load_stops_the_start() {
    if !tools_present() {
        return;
    }
    let setup = Setup::new();
    keygen(&setup.key, "a passphrase nobody types");
    let root = setup.root();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_airlock-daemon"))
        .args(["start", "--config"])
        .arg(root.join("config"))
        .arg("--agents")
        .arg(root.join("agents.toml"))
        .arg("--sockets")
        .arg(root.join("sockets"))
        .env("TMPDIR", root.join("run"))
        .env("XDG_RUNTIME_DIR", "")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("agent `a1`"), "{stderr}");
    assert!(
        stderr.contains(&format!("ssh key `{}`", setup.key.display())),
        "{stderr}"
    );
    assert!(stderr.contains("passphrase"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10), "it prompted");
    assert!(!root.join("sockets/a1.sock").exists(), "nothing served");
    assert!(setup.agent_dirs().is_empty());
}

#[test]
fn check_names_a_missing_key_at_its_line_and_column() {
    let setup = Setup::new();
    let root = setup.root();
    let output = Command::new(env!("CARGO_BIN_EXE_airlock-daemon"))
        .args(["check", "--config"])
        .arg(root.join("config"))
        .arg("--agents")
        .arg(root.join("agents.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("ssh key `{}`", setup.key.display())),
        "{stderr}"
    );
    assert!(stderr.contains("cannot be read"), "{stderr}");
    assert!(stderr.contains("a1/airlock.toml:8:9"), "{stderr}");
    assert!(stderr.contains('^'), "{stderr}");
}

#[test]
fn doctor_lists_the_ssh_agent_tools_when_an_agent_has_keys() {
    let setup = Setup::new();
    let root = setup.root();
    let doctor = || {
        let output = Command::new(env!("CARGO_BIN_EXE_airlock-daemon"))
            .args(["doctor", "--config"])
            .arg(root.join("config"))
            .arg("--agents")
            .arg(root.join("agents.toml"))
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    let with_keys = doctor();
    for tool in ["ssh-agent", "ssh-add"] {
        assert!(
            with_keys
                .lines()
                .any(|l| l.contains(tool) && l.contains("`a1`")),
            "{with_keys}"
        );
    }
    setup.profile(false);
    assert!(!doctor().contains("ssh-agent"));
}

/// `ss` (iproute2), or `None` (loudly) outside CI; under `CI=true` it must be here.
fn ss() -> Option<PathBuf> {
    let found = ["/usr/bin/ss", "/bin/ss", "/usr/sbin/ss", "/sbin/ss"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the socket-listing test must run in CI: no `ss` (install iproute2)"
        );
        eprintln!("\n*** SKIPPED: no `ss` (install iproute2) ***\n");
    }
    found
}

/// Landlock does not govern connecting to a unix socket by path, so what keeps one
/// agent's programs off another agent's ssh-agent is that its path is unknown to them.
/// `ss -xl` lists every unix socket with its path through a `NETLINK_SOCK_DIAG` socket,
/// which Landlock does not govern either (before the system-call filter, a program of
/// one agent found the other's socket so and listed its key through it). A program run
/// by the daemon cannot open that socket (and `/proc/net/unix`, `ss`'s fallback, is out
/// of its reach): the agent's ssh-agent socket is not among what it lists. Control: `ss`
/// run here, unconfined, lists it.
#[test]
fn programs_cannot_list_the_sockets_that_lead_to_an_ssh_agent() {
    if !tools_present() {
        return;
    }
    let Some(ss) = ss() else { return };
    let setup = Setup::new();
    keygen(&setup.key, "");
    let root = setup.root();
    write(
        &root.join("config/config.toml"),
        &format!(
            "[commands]\nenable = [\"env\", \"ssh-add\", \"ss\"]\n[log]\npath = \"{}\"\n",
            root.join("audit.log").display()
        ),
    );
    write(
        &root.join("a1/commands/ss.toml"),
        &format!("[command]\nbin = \"{}\"\n", ss.display()),
    );
    std::os::unix::fs::symlink(shim_binary(), setup.bin.join("ss")).unwrap();
    let _daemon = setup.start();
    let socket = setup.auth_sock().expect("the program's SSH_AUTH_SOCK");
    let socket = socket.display().to_string();

    let listed = |output: &Output| String::from_utf8_lossy(&output.stdout).into_owned();
    let control = Command::new(&ss).arg("-xl").output().unwrap();
    assert!(
        listed(&control).contains(&socket),
        "control: `ss -xl` does not list {socket}: {}",
        listed(&control)
    );
    let confined = Command::new(setup.bin.join("ss"))
        .arg("-xl")
        .env_clear()
        .env("AIRLOCK_SOCKET", root.join("sockets/a1.sock"))
        .current_dir(&setup.workspace)
        .output()
        .unwrap();
    assert!(
        !listed(&confined).contains(&socket),
        "a program listed the ssh-agent's socket: {}",
        listed(&confined)
    );
    let said = String::from_utf8_lossy(&confined.stderr);
    assert!(said.contains("netlink"), "{said}");
}
