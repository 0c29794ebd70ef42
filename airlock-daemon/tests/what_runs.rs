//! What runs is what was checked (issue: one reading, no races, the whole repository
//! configuration). Each reproduction runs the real daemon, the real shim and the real
//! git with the built-in module; the payload creates a marker file in the workspace,
//! and a control shows the same payload firing when the host's git runs it directly.
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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod support;
use support::{host_git, shim_binary, start_daemon, write};

struct Agent {
    _dir: tempfile::TempDir,
    daemon: Child,
    socket: PathBuf,
    git: PathBuf,
    ws: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// A daemon whose agent `a1` has the built-in git module and a workspace with a
/// repository of one commit (`a.txt`).
fn agent() -> Agent {
    agent_with_hook(|_| None)
}

/// [`agent`], with the pre-exec hook `hook` writes (given the tests' root directory).
fn agent_with_hook(hook: impl FnOnce(&Path) -> Option<String>) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    if let Some(script) = hook(&root) {
        let path = root.join("a1/hooks/pre-exec");
        write(&path, &script);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    write(
        &root.join("config/config.toml"),
        "[commands]\nenable = [\"git\"]\n",
    );
    let ws = root.join("a1/ws");
    std::fs::create_dir_all(&ws).unwrap();
    write(
        &root.join("a1/airlock.toml"),
        &format!(
            "commands = [\"git\"]\n[env]\nset = {{ GIT_AUTHOR_NAME = \"a\", GIT_AUTHOR_EMAIL = \"a@example.invalid\", GIT_COMMITTER_NAME = \"a\", GIT_COMMITTER_EMAIL = \"a@example.invalid\" }}\n[[mounts]]\ncontainer = \"{0}\"\nhost = \"{0}\"\n",
            ws.display()
        ),
    );
    // The built-in git module is an allow list: the repository's aliases and `archive`
    // are not on it, so the operator names the ones these tests run (an alias is then
    // judged by its expansion, and every run by the daemon's configuration checks).
    write(
        &root.join("a1/commands/git.toml"),
        "[command]\nbin = \"git\"\nextends = \"builtin:git\"\n\n[[rule]]\nid = \"test.archive\"\naction = \"allow\"\ncommand = \"archive\"\n\n[[rule]]\nid = \"test.alias-st\"\naction = \"allow\"\ncommand = \"st\"\n\n[[rule]]\nid = \"test.alias-tidy\"\naction = \"allow\"\ncommand = \"tidy\"\n\n[[rule]]\nid = \"test.alias-lg\"\naction = \"allow\"\ncommand = \"lg\"\n",
    );
    write(&root.join("agents.toml"), "[a1]\npath = \"a1\"\n");
    let (daemon, out) = start_daemon(&root, &[]);
    std::thread::spawn(move || for _ in out.lines() {});
    let git = root.join("bin/git");
    std::fs::create_dir_all(git.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(shim_binary(), &git).unwrap();
    host_git(&ws, &["init", "-q", "-b", "main"]);
    std::fs::write(ws.join("a.txt"), "one\n").unwrap();
    host_git(&ws, &["add", "a.txt"]);
    host_git(&ws, &["commit", "-q", "-m", "one"]);
    Agent {
        socket: root.join("sockets/a1.sock"),
        _dir: dir,
        daemon,
        git,
        ws,
    }
}

impl Agent {
    /// `git args` through the shim, in `dir` (inside the workspace).
    fn git_in(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new(&self.git)
            .args(args)
            .env("AIRLOCK_SOCKET", &self.socket)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn git(&self, args: &[&str]) -> Output {
        self.git_in(&self.ws, args)
    }

    fn marker(&self, name: &str) -> PathBuf {
        self.ws.join(format!("MARK-{name}"))
    }
}

/// The host's git, unconfined and unpinned: the control.
fn control(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_EDITOR", "true")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

#[test]
fn the_repository_checked_is_the_one_git_uses_whatever_the_global_options() {
    let a = agent();
    let sub = a.ws.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    host_git(&sub, &["init", "-q", "-b", "main"]);
    let marker = a.marker("alias");
    append(
        &sub.join(".git/config"),
        &format!("[alias]\n\tst = !touch {}\n", marker.display()),
    );
    for args in [
        &["--attr-source", "HEAD", "-C", "sub", "st"][..],
        &["-C", "sub", "st"],
        &["--no-pager", "-C", "sub", "--literal-pathspecs", "st"],
    ] {
        let output = a.git(args);
        assert_eq!(
            output.status.code(),
            Some(126),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("airlock.git-config"),
            "{}",
            stderr(&output)
        );
        assert!(!marker.exists(), "{args:?} ran the planted alias");
    }
    control(&a.ws, &["--attr-source", "HEAD", "-C", "sub", "st"]);
    assert!(marker.exists(), "control: the alias did not run");
}

/// The working directory is checked and held open; the repository is then looked for
/// from the directory held, never by its path again: a directory renamed after the
/// check, with a link to a repository outside the mounts put in its place, leads the
/// checks nowhere else (they would read that repository's configuration, and git,
/// pointed at the copy, would print it). A pre-exec hook makes the swap, at the moment
/// a racing agent would have to win.
#[test]
fn a_working_directory_swapped_for_a_link_after_its_check_leads_nowhere_else() {
    const SECRET: &str = "https://x:SECRET-TOKEN@example.invalid/r.git";
    let a = agent_with_hook(|root| {
        let (ws, outside) = (root.join("a1/ws"), root.join("outside/proj"));
        Some(format!(
            "#!/bin/sh\ncat >/dev/null\nif [ ! -L {0}/proj ]; then mv {0}/proj {0}/moved && ln -s {1} {0}/proj; fi\n",
            ws.display(),
            outside.display()
        ))
    });
    let outside =
        a.ws.parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("outside/proj");
    std::fs::create_dir_all(&outside).unwrap();
    host_git(&outside, &["init", "-q", "-b", "main"]);
    host_git(&outside, &["remote", "add", "origin", SECRET]);
    let proj = a.ws.join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    host_git(&proj, &["init", "-q", "-b", "main"]);
    host_git(
        &proj,
        &["remote", "add", "mine", "https://example.invalid/mine.git"],
    );

    let output = a.git_in(&proj, &["remote", "-v"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        std::fs::symlink_metadata(&proj)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        !stdout.contains("SECRET"),
        "the outside configuration was read: {stdout}"
    );
    assert!(
        stdout.contains("mine"),
        "not the agent's own repository: {stdout}"
    );
    // Control: by its path, the directory now leads to the outside repository.
    let control = control(&proj, &["remote", "-v"]);
    assert!(
        String::from_utf8_lossy(&control.stdout).contains("SECRET"),
        "control: {control:?}"
    );
}

/// The rebase todo list is named by the file the daemon opened: a `.git/rebase-merge`
/// link to another repository in the middle of a rebase (another agent's, outside this
/// agent's mounts) is refused without the daemon quoting a line of that list. The
/// control: the same list inside the repository is read, and its line quoted.
#[test]
fn a_rebase_todo_list_outside_the_mounts_is_refused_unquoted() {
    const LINE: &str = "exec echo OTHER-AGENTS-LINE";
    let a = agent();
    let root = a.ws.parent().unwrap().parent().unwrap();
    let elsewhere = root.join("b1/repo/.git/rebase-merge");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("git-rebase-todo"), format!("{LINE}\n")).unwrap();
    let planted = a.ws.join(".git/rebase-merge");
    std::os::unix::fs::symlink(&elsewhere, &planted).unwrap();

    let output = a.git(&["status", "--short"]);
    assert_eq!(output.status.code(), Some(126), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("airlock.git-rebase-todo")
            && stderr(&output).contains("outside the agent's mounts"),
        "{}",
        stderr(&output)
    );
    assert!(
        !stderr(&output).contains("OTHER-AGENTS-LINE"),
        "the outside list was quoted: {}",
        stderr(&output)
    );

    // Control: the same list in the repository itself is read and quoted.
    std::fs::remove_file(&planted).unwrap();
    std::fs::create_dir(&planted).unwrap();
    std::fs::write(planted.join("git-rebase-todo"), format!("{LINE}\n")).unwrap();
    let output = a.git(&["status", "--short"]);
    assert_eq!(output.status.code(), Some(126), "{}", stderr(&output));
    assert!(stderr(&output).contains(LINE), "{}", stderr(&output));
}

#[test]
fn a_swapped_repository_configuration_is_never_read_in_a_thousand_runs() {
    let a = agent();
    let marker = a.marker("textconv");
    std::fs::write(a.ws.join(".gitattributes"), "a.txt diff=x\n").unwrap();
    std::fs::write(a.ws.join("a.txt"), "two\n").unwrap();
    let config = a.ws.join(".git/config");
    let clean = std::fs::read_to_string(&config).unwrap();
    let evil = a.ws.join(".git/config.evil");
    std::fs::write(
        &evil,
        format!(
            "{clean}[diff \"x\"]\n\ttextconv = touch {}; cat\n",
            marker.display()
        ),
    )
    .unwrap();

    let swap = |runs: &dyn Fn() -> usize| -> (usize, u64) {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (config, evil) = (config.clone(), evil.clone());
        let swapper = std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !flag.load(Ordering::Relaxed) {
                rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &config,
                    rustix::fs::CWD,
                    &evil,
                    rustix::fs::RenameFlags::EXCHANGE,
                )
                .unwrap();
                swaps += 1;
                std::thread::sleep(std::time::Duration::from_micros(500));
            }
            swaps
        });
        let allowed = runs();
        stop.store(true, Ordering::Relaxed);
        (allowed, swapper.join().unwrap())
    };

    // Control: the host's git, 200 runs under the same swapping, runs the driver.
    let (_, _) = swap(&|| {
        for _ in 0..200 {
            control(&a.ws, &["diff"]);
            if marker.exists() {
                break;
            }
        }
        0
    });
    assert!(marker.exists(), "control: the swapped-in driver never ran");
    std::fs::remove_file(&marker).unwrap();

    let (allowed, swaps) = swap(&|| {
        let mut allowed = 0;
        for _ in 0..1000 {
            let output = a.git(&["diff"]);
            if output.status.success() {
                allowed += 1;
            }
        }
        allowed
    });
    assert!(!marker.exists(), "a swapped-in driver ran through Airlock");
    assert!(swaps > 1000, "the swapper barely ran ({swaps} swaps)");
    // Runs that found the clean file ran; runs that found the other were refused.
    assert!(
        allowed > 0,
        "no run was allowed: the test exercised nothing"
    );
    assert!(
        allowed < 1000,
        "no run was refused: the swap was never seen"
    );
}

#[test]
fn a_worktree_added_through_the_daemon_works_after_the_run() {
    let a = agent();
    let wt = a.ws.join("wt");
    let output = a.git(&["worktree", "add", "-q", "-b", "side", wt.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    // Its `.git` file names the real common directory, not the run's shadow (gone).
    assert_eq!(
        std::fs::read_to_string(wt.join(".git")).unwrap(),
        format!("gitdir: {}\n", a.ws.join(".git/worktrees/wt").display())
    );
    let output = control(&wt, &["status", "--short", "--branch"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("side"));
    // Other runs leave the worktree as it is, in the repository and in the worktree.
    for dir in [&a.ws, &wt] {
        let output = a.git_in(dir, &["status", "--short"]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let output = a.git_in(&wt, &["commit", "-q", "--allow-empty", "-m", "on side"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = control(&a.ws, &["log", "--format=%s", "-1", "side"]);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "on side\n");
}

#[test]
fn aliases_are_judged_by_their_expansion() {
    let a = agent();
    let marker = a.marker("rebase");
    std::fs::write(a.ws.join("b.txt"), "b\n").unwrap();
    host_git(&a.ws, &["add", "b.txt"]);
    host_git(&a.ws, &["commit", "-q", "-m", "two"]);
    append(
        &a.ws.join(".git/config"),
        &format!(
            "[alias]\n\ttidy = rebase -x 'touch {}' HEAD~1\n\tlg = log --oneline -1\n",
            marker.display()
        ),
    );
    let output = a.git(&["tidy"]);
    assert_eq!(output.status.code(), Some(126), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("airlock.git-alias"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("rebase"), "{}", stderr(&output));
    assert!(!marker.exists());
    // An alias whose expansion is allowed works.
    let output = a.git(&["lg"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("two"));
    control(&a.ws, &["tidy"]);
    assert!(marker.exists(), "control: the alias's exec did not run");
}

#[test]
fn program_valued_keys_found_by_allow_list_not_by_name() {
    let a = agent();
    // (name, what is planted, the argv, the control's extra options: `add -p` pipes
    // through the filter only when it colours its diff)
    let cases: [(&str, String, &[&str], &[&str]); 3] = [
        (
            "tar",
            format!(
                "[tar \"tgzx\"]\n\tcommand = touch {}; cat\n",
                a.marker("tar").display()
            ),
            &["archive", "--format=tgzx", "-o", "out.tgz", "HEAD"],
            &[],
        ),
        (
            "gpg",
            format!(
                "[gpg]\n\tformat = ssh\n[gpg \"ssh\"]\n\tdefaultKeyCommand = touch {}\n",
                a.marker("gpg").display()
            ),
            &["commit", "-S", "--allow-empty", "-q", "-m", "signed"],
            &[],
        ),
        (
            "difffilter",
            format!(
                "[interactive]\n\tdiffFilter = touch {}; cat\n",
                a.marker("difffilter").display()
            ),
            &["add", "-p"],
            &["-c", "color.ui=always"],
        ),
    ];
    let clean = std::fs::read_to_string(a.ws.join(".git/config")).unwrap();
    for (name, plant, args, control_options) in cases {
        std::fs::write(a.ws.join("a.txt"), format!("{name}\n")).unwrap();
        std::fs::write(a.ws.join(".git/config"), format!("{clean}{plant}")).unwrap();
        let output = a.git(args);
        assert_eq!(
            output.status.code(),
            Some(126),
            "{name}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("airlock.git-config"),
            "{}",
            stderr(&output)
        );
        assert!(!a.marker(name).exists(), "{name}: the program ran");
        let control_args: Vec<&str> = control_options.iter().chain(args).copied().collect();
        control(&a.ws, &control_args);
        assert!(a.marker(name).exists(), "control: {name} did not run");
    }
}

#[test]
fn submodules_are_never_entered() {
    let a = agent();
    let root = a.ws.parent().unwrap().to_owned();
    let sub = root.join("sub-src");
    std::fs::create_dir_all(&sub).unwrap();
    host_git(&sub, &["init", "-q", "-b", "main"]);
    std::fs::write(sub.join("f"), "x\n").unwrap();
    host_git(&sub, &["add", "f"]);
    host_git(&sub, &["commit", "-q", "-m", "s"]);
    host_git(
        &a.ws,
        &["submodule", "add", "-q", sub.to_str().unwrap(), "lib"],
    );
    host_git(&a.ws, &["commit", "-q", "-m", "lib"]);
    let marker = a.marker("clean");
    append(
        &a.ws.join(".git/modules/lib/config"),
        &format!(
            "[filter \"x\"]\n\tclean = touch {}; cat\n",
            marker.display()
        ),
    );
    std::fs::write(a.ws.join("lib/.gitattributes"), "f filter=x\n").unwrap();
    let touch = || {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let f = std::fs::File::options()
            .append(true)
            .open(a.ws.join("lib/f"))
            .unwrap();
        f.set_modified(std::time::SystemTime::now()).unwrap();
    };
    touch();
    let output = a.git(&["status", "--short"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        !marker.exists(),
        "git status ran the submodule's clean filter"
    );
    for args in [
        &["submodule", "status"][..],
        &["status", "--ignore-submodules=none"],
        &["fetch", "--recurse-submodules=yes"],
    ] {
        let output = a.git(args);
        assert_eq!(
            output.status.code(),
            Some(126),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    touch();
    control(&a.ws, &["status", "--short"]);
    assert!(
        marker.exists(),
        "control: the submodule's filter did not run"
    );
}

#[test]
fn a_local_push_runs_none_of_the_targets_hooks() {
    let a = agent();
    let evil = a.ws.join("evil.git");
    std::fs::create_dir_all(&evil).unwrap();
    host_git(&evil, &["init", "-q", "--bare", "-b", "main"]);
    let marker = a.marker("hook");
    let hook = evil.join("hooks/pre-receive");
    std::fs::write(&hook, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = a.git(&["push", "./evil.git", "HEAD:main"]);
    assert!(
        !marker.exists(),
        "the target's hook ran: {}",
        stderr(&output)
    );
    control(&a.ws, &["push", "-q", "./evil.git", "HEAD:main"]);
    assert!(marker.exists(), "control: the hook did not run");
}

#[test]
fn paths_in_the_argv_are_translated_and_confined() {
    let a = agent();
    let outside = a.ws.parent().unwrap().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let target = outside.join("log.txt");
    let output = a.git(&["log", &format!("--output={}", target.display()), "-1"]);
    assert_eq!(output.status.code(), Some(126), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("airlock.path"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("outside the agent's mounts"),
        "{}",
        stderr(&output)
    );
    assert!(!target.exists());
    for args in [
        &["diff", "--no-index", "../../outside/x", "a.txt"][..],
        &["diff", "/etc/passwd", "/dev/null"],
    ] {
        let output = a.git(args);
        assert_eq!(
            output.status.code(),
            Some(126),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("airlock.path"),
            "{}",
            stderr(&output)
        );
    }
    // Inside the mounts the file is written.
    let output = a.git(&["log", "--output=inside.txt", "-1", "--format=%s"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(a.ws.join("inside.txt")).unwrap(),
        "one\n"
    );
}

/// Holds `path` under a write lease, as an agent that owns the file can (`F_SETLEASE`
/// needs no privilege on one's own file); the lease is given up when the descriptor
/// returned is closed.
fn lease(path: &Path) -> std::os::fd::OwnedFd {
    use std::os::fd::AsRawFd;
    let fd: std::os::fd::OwnedFd = std::fs::File::open(path).unwrap().into();
    #[expect(
        unsafe_code,
        reason = "a signal's disposition set to SIG_IGN and an fcntl on a descriptor held here: plain system calls"
    )]
    // SAFETY: no handler is installed; the descriptor is open for the call.
    let set = unsafe {
        // The holder of a lease is told with SIGIO, which would end this process.
        libc::signal(libc::SIGIO, libc::SIG_IGN);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETLEASE, libc::F_WRLCK)
    };
    assert_eq!(set, 0, "F_SETLEASE: {}", std::io::Error::last_os_error());
    fd
}

/// An agent that holds its repository's configuration under a lease cannot make the
/// daemon wait: an open of a leased file waits for the holder to let go, up to the
/// kernel's `lease-break-time` (45 s by default), and the daemon reads the configuration
/// on one of its few runtime threads. Each request (more at once than the daemon has
/// such threads) is refused at once with the reason; without the fix each would wait
/// 45 s, until the kernel broke the lease, and then run.
#[test]
fn a_repository_configuration_held_under_a_lease_is_refused_not_waited_for() {
    let a = Arc::new(agent());
    let config = a.ws.join(".git/config");
    let held = lease(&config);
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let a = Arc::clone(&a);
            std::thread::spawn(move || a.git(&["status", "--short"]))
        })
        .collect();
    for run in runs {
        let output = run.join().unwrap();
        assert_eq!(output.status.code(), Some(126), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("airlock.git-config")
                && stderr(&output).contains("held under a lease"),
            "{}",
            stderr(&output)
        );
    }
    // Control: the file is leased, and an open that may wait waits while it is.
    let (opened, waiting) = std::sync::mpsc::channel();
    let opener = std::thread::spawn(move || {
        let file = std::fs::File::open(config);
        let _ = opened.send(());
        file.map(drop)
    });
    assert!(
        waiting
            .recv_timeout(std::time::Duration::from_millis(500))
            .is_err(),
        "a blocking open of the configuration did not wait for the lease"
    );
    drop(held);
    opener.join().unwrap().unwrap();
    let output = a.git(&["status", "--short"]);
    assert!(output.status.success(), "{}", stderr(&output));
}
