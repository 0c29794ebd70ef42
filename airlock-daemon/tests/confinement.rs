//! The kernel layer: every program the real daemon runs, asked for through the real
//! shim, reaches its agent's mounts, its private TMPDIR and HOME, the system and what
//! its profile declares, and nothing else. Each attack is shown to work when the same
//! program runs unconfined (a control, run directly by the test or by a daemon with
//! `mode = "none"`) and to fail through Airlock, with the host file neither read nor
//! written.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::io::BufRead;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod support;
use support::{host_git, shim_binary, start_daemon, write};

/// The unique string every fake secret holds.
fn marker() -> String {
    format!(
        "FAKE-KEY-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// A daemon serving agent `a1` (workspace `a1/ws`, seen at the same path inside the
/// "container"), with the daemon user's HOME at `home/` holding a fake key, files
/// beyond the mounts in `outside/`, and another agent's workspace in `b1/ws`.
struct Host {
    _dir: tempfile::TempDir,
    root: PathBuf,
    daemon: Child,
    socket: PathBuf,
    bin: PathBuf,
    ws: PathBuf,
    home: PathBuf,
    outside: PathBuf,
    other_ws: PathBuf,
    secret: String,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn host(confinement: &str, access: &str) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let secret = marker();
    write(
        &root.join("config/config.toml"),
        &format!(
            "[commands]\nenable = [\"git\", \"cat\", \"sh\", \"bash\", \"perl\"]\n{confinement}"
        ),
    );
    let ws = root.join("a1/ws");
    let other_ws = root.join("b1/ws");
    let home = root.join("home");
    let outside = root.join("outside");
    for d in [&ws, &other_ws, &outside] {
        std::fs::create_dir_all(d).unwrap();
    }
    write(&home.join(".ssh/id_ed25519"), &format!("{secret}\n"));
    write(&home.join(".gitconfig"), "[user]\n\tname = daemon\n");
    write(&outside.join("secret"), &format!("{secret}\n"));
    write(&other_ws.join("secret"), &format!("{secret}\n"));
    for (agent, workspace) in [("a1", &ws), ("b1", &other_ws)] {
        write(
            &root.join(agent).join("airlock.toml"),
            &format!(
                "commands = []\n[env]\nset = {{ GIT_AUTHOR_NAME = \"a\", GIT_AUTHOR_EMAIL = \"a@example.invalid\", GIT_COMMITTER_NAME = \"a\", GIT_COMMITTER_EMAIL = \"a@example.invalid\" }}\n[[mounts]]\ncontainer = \"{0}\"\nhost = \"{0}\"\n{access}",
                workspace.display()
            ),
        );
        for module in ["cat", "sh", "bash", "perl"] {
            write(
                &root.join(agent).join(format!("commands/{module}.toml")),
                &format!("[command]\nbin = \"{module}\"\n"),
            );
        }
    }
    write(
        &root.join("agents.toml"),
        "[a1]\npath = \"a1\"\n[b1]\npath = \"b1\"\n",
    );
    let home_env = home.display().to_string();
    let (daemon, out) = start_daemon(&root, &[("HOME", &home_env)]);
    std::thread::spawn(move || for _ in out.lines() {});
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["git", "cat", "sh", "bash", "perl"] {
        std::os::unix::fs::symlink(shim_binary(), bin.join(name)).unwrap();
    }
    Host {
        socket: root.join("sockets/a1.sock"),
        root,
        _dir: dir,
        daemon,
        bin,
        ws,
        home,
        outside,
        other_ws,
        secret,
    }
}

impl Host {
    /// Runs `name args` through the shim, in `cwd` (a container path; the same here).
    fn run_in(&self, cwd: &Path, name: &str, args: &[&str]) -> Output {
        Command::new(self.bin.join(name))
            .args(args)
            .env("AIRLOCK_SOCKET", &self.socket)
            .current_dir(cwd)
            .output()
            .unwrap()
    }

    fn run(&self, name: &str, args: &[&str]) -> Output {
        self.run_in(&self.ws, name, args)
    }

    /// Asserts that `output` does not carry the secret.
    fn assert_secret_absent(&self, output: &Output, what: &str) {
        let all = [&output.stdout[..], &output.stderr[..]].concat();
        assert!(
            !String::from_utf8_lossy(&all).contains(&self.secret),
            "{what}: the secret reached the agent"
        );
    }

    fn outside(&self, name: &str) -> String {
        self.outside.join(name).display().to_string()
    }
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}, stdout {}, stderr {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A repository with one commit in the agent's workspace.
fn repository(h: &Host) {
    host_git(&h.ws, &["init", "-q", "-b", "main"]);
    std::fs::write(h.ws.join("f"), "one\n").unwrap();
    host_git(&h.ws, &["add", "f"]);
    host_git(&h.ws, &["commit", "-q", "-m", "one"]);
}

#[test]
fn git_reads_and_writes_nothing_beyond_the_mounts() {
    let h = host("", "");
    repository(&h);
    let key = h.home.join(".ssh/id_ed25519").display().to_string();

    // Control: unconfined, the payload prints the key.
    let control = Command::new("git")
        .args(["diff", "--no-index", &key, "/dev/null"])
        .current_dir(&h.ws)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&control.stdout).contains(&h.secret));
    let through = h.run("git", &["diff", "--no-index", &key, "/dev/null"]);
    assert!(!through.status.success(), "{}", text(&through));
    h.assert_secret_absent(&through, "git diff --no-index KEY");

    // Writes beyond the mounts: each would create its file unconfined.
    let writes: [(&str, Vec<String>); 6] = [
        (
            "log",
            vec![
                "log".into(),
                format!("--output={}", h.outside("log")),
                "-1".into(),
                "--format=%s".into(),
            ],
        ),
        (
            "patches",
            vec![
                "format-patch".into(),
                "-o".into(),
                h.outside("patches"),
                "-1".into(),
            ],
        ),
        (
            "a.tar",
            vec![
                "archive".into(),
                "-o".into(),
                h.outside("a.tar"),
                "HEAD".into(),
            ],
        ),
        (
            "b.bundle",
            vec![
                "bundle".into(),
                "create".into(),
                h.outside("b.bundle"),
                "HEAD".into(),
            ],
        ),
        (
            "newrepo",
            vec!["init".into(), "-q".into(), h.outside("newrepo")],
        ),
        ("wt", vec!["worktree".into(), "add".into(), h.outside("wt")]),
    ];
    for (name, args) in &writes {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = h.run("git", &args);
        assert!(!output.status.success(), "git {args:?}: {}", text(&output));
        assert!(
            !h.outside.join(name).exists(),
            "git {args:?} wrote beyond the mounts"
        );
        // Control: the same command, run by the host's git, writes it.
        let control_args: Vec<String> = args
            .iter()
            .map(|a| a.replace(&h.outside(name), &h.outside(&format!("control-{name}"))))
            .collect();
        let control_args: Vec<&str> = control_args.iter().map(String::as_str).collect();
        host_git(&h.ws, &control_args);
        assert!(
            h.outside.join(format!("control-{name}")).exists(),
            "control for {name}"
        );
    }

    // Reading a host repository beyond the mounts.
    let host_repo = h.outside.join("repo");
    std::fs::create_dir_all(&host_repo).unwrap();
    host_git(&host_repo, &["init", "-q", "-b", "main"]);
    std::fs::write(host_repo.join("stolen"), format!("{}\n", h.secret)).unwrap();
    host_git(&host_repo, &["add", "stolen"]);
    host_git(&host_repo, &["commit", "-q", "-m", "s"]);
    let clone = h.run("git", &["clone", "-q", host_repo.to_str().unwrap(), "copy"]);
    assert!(!clone.status.success(), "{}", text(&clone));
    assert!(!h.ws.join("copy/stolen").exists());
    h.assert_secret_absent(&clone, "git clone HOST_REPO");

    // Everyday git works.
    std::fs::write(h.ws.join("f"), "two\n").unwrap();
    for args in [
        vec!["status", "--short"],
        vec!["diff"],
        vec!["add", "-u"],
        vec!["commit", "-q", "-m", "destroy the old wording"],
        vec!["log", "--oneline", "-2"],
        vec!["diff", "--no-index", "f", "/dev/null"],
    ] {
        let output = h.run("git", &args);
        // `diff --no-index` exits 1 when the files differ.
        let expected = if args.contains(&"--no-index") { 1 } else { 0 };
        assert_eq!(
            output.status.code(),
            Some(expected),
            "git {args:?}: {}",
            text(&output)
        );
    }
    let log = h.run("git", &["log", "--format=%s", "-1"]);
    assert_eq!(
        String::from_utf8_lossy(&log.stdout),
        "destroy the old wording\n"
    );
}

#[test]
fn a_module_without_rules_reaches_nothing_beyond_the_mounts() {
    let h = host("", "");
    let key = h.home.join(".ssh/id_ed25519").display().to_string();
    let outside_secret = h.outside("secret");
    let double_slash = format!("/{outside_secret}");
    // From a1/ws: up to the root, then into outside/.
    let relative = "../../outside/secret".to_owned();
    let other = h.other_ws.join("secret").display().to_string();
    let audit = h.root.join("config/audit.log").display().to_string();
    for path in [
        key.as_str(),
        &outside_secret,
        &double_slash,
        &relative,
        &other,
        &audit,
        // Every unix socket's path on the host (another agent's ssh-agent), and other
        // processes' command lines.
        "/proc/net/unix",
        "/proc/1/cmdline",
    ] {
        // Control: `cat` itself can read it (the test runs as the daemon's user).
        let control = Command::new("cat")
            .arg(path)
            .current_dir(&h.ws)
            .output()
            .unwrap();
        assert!(control.status.success(), "control cat {path}");
        let output = h.run("cat", &[path]);
        assert!(!output.status.success(), "cat {path}: {}", text(&output));
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("Permission denied"),
            "cat {path}: {}",
            text(&output)
        );
        h.assert_secret_absent(&output, path);
    }
    // Secrets of the system stay closed even to a daemon running as root.
    if rustix::process::getuid().is_root() {
        let control = Command::new("cat").arg("/etc/shadow").output().unwrap();
        assert!(control.status.success(), "control: root reads /etc/shadow");
        let output = h.run("cat", &["/etc/shadow"]);
        assert!(!output.status.success(), "{}", text(&output));
        assert!(output.stdout.is_empty());
    }
    // Writes beyond the mounts: the daemon's home, outside, /tmp.
    let tmp_target = std::env::temp_dir().join(format!("airlock-{}", marker()));
    for target in [
        h.home.join(".bashrc"),
        h.outside.join("written"),
        tmp_target.clone(),
    ] {
        let script = format!("echo pwned > '{}'", target.display());
        let output = h.run("sh", &["-c", &script]);
        assert!(!output.status.success(), "{script}: {}", text(&output));
        assert!(!target.exists(), "{script} wrote beyond the mounts");
    }
    // What a program does get: its workspace, a private TMPDIR and HOME, its real cwd.
    let output = h.run(
        "sh",
        &[
            "-c",
            "echo in-ws > note && cat note && echo t > \"$TMPDIR/t\" && cat \"$TMPDIR/t\" && ls -A \"$HOME\" | wc -l && echo \"$PWD\" && pwd",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    let ws = h.ws.display().to_string();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("in-ws\nt\n0\n{ws}\n{ws}\n")
    );
    assert!(h.ws.join("note").exists());
}

/// A device file opens the device it names wherever it lies, past every path rule: a
/// daemon running as root may make them, so a program it runs must not; and one the
/// agent's container makes in a mount opens, but its device's own ioctls are refused.
/// Needs root (`CAP_MKNOD`); fails under CI without it, skips loudly elsewhere.
#[test]
fn device_files_are_neither_made_nor_driven() {
    if !rustix::process::getuid().is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this test as root"
        );
        eprintln!("SKIPPED: making device files needs root");
        return;
    }
    let h = host("", "");
    // `/dev/kmsg` by its path is out of reach, as every device the system list does
    // not name.
    let output = h.run("sh", &["-c", "head -n 1 /dev/kmsg"]);
    assert!(!output.status.success(), "{}", text(&output));
    for dir in [h.ws.display().to_string(), "$TMPDIR".to_owned()] {
        // Control: the same commands, unconfined, make the file and read the kernel's
        // log through it.
        let scratch = tempfile::tempdir().unwrap();
        let control = Command::new("sh")
            .args(["-c", "mknod \"$0/kmsg\" c 1 11 && head -n 1 \"$0/kmsg\""])
            .arg(scratch.path())
            .output()
            .unwrap();
        assert!(control.status.success(), "control: {}", text(&control));
        assert!(!control.stdout.is_empty(), "control: {}", text(&control));

        let script = format!("mknod \"{dir}/kmsg\" c 1 11 || exit 3; head -n 1 \"{dir}/kmsg\"");
        let output = h.run("sh", &["-c", &script]);
        assert_eq!(output.status.code(), Some(3), "{dir}: {}", text(&output));
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("Permission denied"),
            "{dir}: {}",
            text(&output)
        );
        assert!(output.stdout.is_empty(), "{dir}: {}", text(&output));
    }
    assert!(!h.ws.join("kmsg").exists());
    // One the agent's container makes in the mount opens (Landlock governs paths, not
    // devices; the daemon warns of such mounts), but its device's own ioctls are
    // refused: a terminal's could type into it (`TIOCSTI`). `TCGETS` on a copy of
    // `/dev/null`'s: refused by the device itself unconfined, by Landlock through the
    // daemon.
    rustix::fs::mknodat(
        rustix::fs::CWD,
        h.ws.join("null"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .unwrap();
    let script = "open(F, '+<', 'null') or die \"open: $!\\n\"; ioctl(F, 0x5401, my $b = \"\\0\" x 64) or die \"ioctl: $!\\n\"";
    let control = Command::new("perl")
        .args(["-e", script])
        .current_dir(&h.ws)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&control.stderr),
        "ioctl: Inappropriate ioctl for device\n",
        "control: {}",
        text(&control)
    );
    let output = h.run("perl", &["-e", script]);
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "ioctl: Permission denied\n",
        "{}",
        text(&output)
    );
    // A FIFO is no device: programs still make them.
    let output = h.run("sh", &["-c", "mkfifo pipe && test -p pipe"]);
    assert!(output.status.success(), "{}", text(&output));
}

#[test]
fn declared_paths_and_ports_are_all_a_command_gets() {
    let allowed = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let allowed_port = allowed.local_addr().unwrap().port();
    let other_port = other.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().canonicalize().unwrap().join("shared");
    write(&shared.join("config"), "declared\n");
    let h = host(
        "",
        &format!(
            "[access.bash]\nread = [\"~/.gitconfig\", \"{}\"]\nconnect = [{allowed_port}]\n",
            shared.display()
        ),
    );
    // The declared file under `~` is in the program's private home, where tools look.
    let output = h.run(
        "bash",
        &[
            "-c",
            "cat ~/.gitconfig; cat \"$0\"",
            &shared.join("config").display().to_string(),
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "[user]\n\tname = daemon\ndeclared\n"
    );
    // Declared read-only: not writable.
    let output = h.run(
        "bash",
        &[
            "-c",
            "echo x >> \"$0\"",
            &shared.join("config").display().to_string(),
        ],
    );
    assert!(!output.status.success(), "{}", text(&output));
    assert_eq!(
        std::fs::read_to_string(shared.join("config")).unwrap(),
        "declared\n"
    );
    // The key beside the declared file stays closed.
    let output = h.run("bash", &["-c", "cat ~/.ssh/id_ed25519"]);
    assert!(!output.status.success());
    h.assert_secret_absent(&output, "undeclared file in the home");
    // TCP: the declared port only.
    let connect = |port: u16| {
        h.run(
            "bash",
            &[
                "-c",
                &format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected"),
            ],
        )
    };
    let output = connect(allowed_port);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "connected\n",
        "{}",
        text(&output)
    );
    let output = connect(other_port);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("Permission denied"),
        "{}",
        text(&output)
    );
    // Control: the same bash, unconfined, reaches the other port.
    let control = Command::new("bash")
        .args([
            "-c",
            &format!("exec 3<>/dev/tcp/127.0.0.1/{other_port} && echo connected"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&control.stdout), "connected\n");
    // Only the command the access is declared for gets it.
    let output = h.run("sh", &["-c", "cat ~/.gitconfig"]);
    assert!(!output.status.success(), "{}", text(&output));
    drop((allowed, other));
}

/// Flips `link` between a directory inside the workspace and one outside until
/// stopped, as fast as it can (a new symlink renamed over the old one: atomic).
fn swapper(
    link: PathBuf,
    inside: PathBuf,
    outside: PathBuf,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let handle = std::thread::spawn(move || {
        let tmp = link.with_extension("swap");
        let mut flips = 0u64;
        while !flag.load(Ordering::Relaxed) {
            let target = if flips % 2 == 0 { &outside } else { &inside };
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(target, &tmp).unwrap();
            std::fs::rename(&tmp, &link).unwrap();
            flips += 1;
        }
        flips
    });
    (stop, handle)
}

/// Runs `runs` requests while a swapper flips `ws/flip`: as the cwd and as a path
/// argument. Returns how many printed the outside secret and whether a file was
/// written outside.
fn swap_runs(h: &Host, runs: usize) -> (usize, usize, bool) {
    let inside = h.ws.join("inside");
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::write(inside.join("secret"), "inside\n").unwrap();
    let link = h.ws.join("flip");
    // The link exists before the first run; the swapper only ever replaces it.
    std::os::unix::fs::symlink(&inside, &link).unwrap();
    let (stop, swapper) = swapper(link.clone(), inside, h.outside.clone());
    let mut leaked = 0;
    let mut ran_inside = 0;
    for n in 0..runs {
        let output = if n % 2 == 0 {
            // The cwd is the flipping link.
            h.run_in(&link, "sh", &["-c", "cat secret; echo x > written-by-cwd"])
        } else {
            h.run(
                "sh",
                &["-c", "cat flip/secret; echo x > flip/written-by-arg"],
            )
        };
        if String::from_utf8_lossy(&output.stdout).contains(&h.secret) {
            leaked += 1;
        }
        if String::from_utf8_lossy(&output.stdout).contains("inside") {
            ran_inside += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flips = swapper.join().unwrap();
    assert!(
        flips > runs as u64,
        "the swapper barely ran ({flips} flips)"
    );
    let written =
        h.outside.join("written-by-cwd").exists() || h.outside.join("written-by-arg").exists();
    (leaked, ran_inside, written)
}

#[test]
fn a_swapped_symlink_gets_nowhere_outside_the_mounts_in_a_thousand_runs() {
    let h = host("", "");
    let (leaked, ran_inside, written) = swap_runs(&h, 1000);
    assert_eq!(leaked, 0, "runs that printed the outside secret");
    assert!(!written, "a run wrote outside the mounts");
    assert!(
        ran_inside > 0,
        "no run saw the inside: the test exercised nothing"
    );
}

#[test]
fn control_without_confinement_the_swap_reaches_outside() {
    let h = host("[confinement]\nmode = \"none\"\n", "");
    let (leaked, _, written) = swap_runs(&h, 200);
    assert!(
        leaked > 0 || written,
        "unconfined, the swapped symlink should reach outside at least once"
    );
}

/// A perl one-liner that connects to the unix socket `$ARGV[0]`, asks it to run
/// `echo pwned` in `$ARGV[1]`, and prints what comes back.
const ASK_ANOTHER_AGENT: &str = r#"use IO::Socket::UNIX; $| = 1; print "asking\n"; my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!\n"; print $s qq({"jsonrpc":"2.0","id":7,"method":"exec","params":{"command":"sh","args":["-c","echo pwned"],"cwd":"$ARGV[1]"}}\n); while (<$s>) { print }"#;

#[test]
fn a_program_cannot_use_another_agents_socket_even_detached() {
    let h = host("", "");
    let other_socket = h.root.join("sockets/b1.sock").display().to_string();
    let other_ws = h.other_ws.display().to_string();
    // Control: a process that is not one of the daemon's programs gets b1's command run.
    let control = Command::new("perl")
        .args(["-e", ASK_ANOTHER_AGENT, &other_socket, &other_ws])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&control.stdout).contains("pwned"),
        "control: {}",
        text(&control)
    );
    // a1's program asks b1's socket directly: refused.
    let direct = h.run("perl", &["-e", ASK_ANOTHER_AGENT, &other_socket, &other_ws]);
    let said = String::from_utf8_lossy(&direct.stdout).into_owned();
    assert!(!said.contains("pwned"), "{}", text(&direct));
    assert!(
        said.contains("may not use an agent's socket"),
        "{}",
        text(&direct)
    );
    // Detached from the run (its own session, its parent gone): still refused, since
    // the daemon is the subreaper of whatever its programs leave behind.
    let script = format!(
        // (The run waits a moment: until the detached child has called setsid, it is
        // still in the run's process group, which is killed when the run ends.)
        "setsid -f perl -e '{}' '{other_socket}' '{other_ws}' > detached.txt 2>&1; sleep 1",
        ASK_ANOTHER_AGENT.replace('\'', "'\\''")
    );
    let output = h.run("sh", &["-c", &script]);
    assert!(output.status.success(), "{}", text(&output));
    let reply = h.ws.join("detached.txt");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let said = loop {
        let said = std::fs::read_to_string(&reply).unwrap_or_default();
        if said.contains("jsonrpc") || std::time::Instant::now() > deadline {
            break said;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(!said.contains("pwned"), "{said}");
    assert!(said.contains("may not use an agent's socket"), "{said}");
    // And the refusals are in the audit log.
    let log = std::fs::read_to_string(h.root.join("config/audit.log")).unwrap();
    assert!(
        log.matches("\"rule\":\"airlock.peer\"").count() >= 2,
        "{log}"
    );
}
