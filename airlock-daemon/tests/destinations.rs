//! `[access.git] remotes`: where an agent's git may fetch from and push to. The real
//! daemon, the real shim and the real git push to local bare repositories; each
//! refusal is shown next to a control, the same request from an agent without the
//! list, whose push lands.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

mod support;
use support::{host_git, shim_binary, start_daemon, write};

struct Setup {
    // Dropped first: the daemon stops before its directory goes.
    _daemon: KillOnDrop,
    _dir: tempfile::TempDir,
    root: PathBuf,
    git: PathBuf,
}

/// Two agents on one workspace layout each: `a1` may reach only `WS/allowed.git`
/// (and `https://github.com/acme/**`), `a2` has no list. Each workspace holds `app` (one commit on
/// `main`, remotes `origin` = `allowed.git` and `evil` = `evil.git`) and the two bare
/// repositories.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    write(
        &root.join("config/config.toml"),
        "[commands]\nenable = [\"git\"]\n",
    );
    for (agent, list) in [
        (
            "a1",
            "[access.git]\nremotes = [\"WS/allowed.git\", \"https://github.com/acme/**\"]\n",
        ),
        ("a2", ""),
    ] {
        let ws = root.join(agent).join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        write(
            &root.join(agent).join("airlock.toml"),
            &format!(
                "commands = [\"git\"]\n[env]\nset = {{ GIT_AUTHOR_NAME = \"a\", GIT_AUTHOR_EMAIL = \"a@example.invalid\", GIT_COMMITTER_NAME = \"a\", GIT_COMMITTER_EMAIL = \"a@example.invalid\" }}\n[[mounts]]\ncontainer = \"{0}\"\nhost = \"{0}\"\n{1}",
                ws.display(),
                list.replace("WS", &ws.display().to_string())
            ),
        );
        host_git(&ws, &["init", "-q", "--bare", "allowed.git"]);
        host_git(&ws, &["init", "-q", "--bare", "evil.git"]);
        let app = ws.join("app");
        std::fs::create_dir_all(&app).unwrap();
        host_git(&app, &["init", "-q", "-b", "main"]);
        std::fs::write(app.join("a.txt"), "one\n").unwrap();
        host_git(&app, &["add", "a.txt"]);
        host_git(&app, &["commit", "-q", "-m", "one"]);
        let allowed = ws.join("allowed.git").display().to_string();
        let evil = ws.join("evil.git").display().to_string();
        host_git(&app, &["remote", "add", "origin", &allowed]);
        host_git(&app, &["remote", "add", "evil", &evil]);
    }
    let (daemon, git) = serve_both(&root, "git");
    Setup {
        _daemon: daemon,
        _dir: dir,
        root,
        git,
    }
}

impl Setup {
    fn ws(&self, agent: &str) -> PathBuf {
        self.root.join(agent).join("ws")
    }

    fn git(&self, agent: &str, args: &[&str]) -> Output {
        Command::new(&self.git)
            .args(args)
            .env(
                "AIRLOCK_SOCKET",
                self.root.join(format!("sockets/{agent}.sock")),
            )
            .current_dir(self.ws(agent).join("app"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Whether the bare repository `name` in `agent`'s workspace has a `main`.
    fn received(&self, agent: &str, name: &str) -> bool {
        Command::new("git")
            .args(["rev-parse", "--verify", "-q", "refs/heads/main"])
            .current_dir(self.ws(agent).join(name))
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    fn config(&self, agent: &str, args: &[&str]) {
        host_git(&self.ws(agent).join("app"), &[&["config"], args].concat());
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts `args` is refused for `a1` (nothing reaches `evil.git`) and lands for
/// `a2`, the control.
fn refused_with_control(s: &Setup, args: &[&str]) {
    let denied = s.git("a1", args);
    assert!(!denied.status.success(), "{args:?} ran");
    assert!(
        stderr(&denied).contains("airlock.destination"),
        "{args:?}: {}",
        stderr(&denied)
    );
    assert!(!s.received("a1", "evil.git"), "{args:?} reached evil.git");
    let control = s.git("a2", args);
    assert!(
        control.status.success(),
        "control {args:?}: {}",
        stderr(&control)
    );
    assert!(
        s.received("a2", "evil.git"),
        "control {args:?} did not push"
    );
}

#[test]
fn a_push_reaches_only_the_listed_remotes() {
    let s = setup();
    let ok = s.git("a1", &["push", "-q", "origin", "main"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(s.received("a1", "allowed.git"));

    refused_with_control(&s, &["push", "-q", "evil", "main"]);
}

#[test]
fn a_url_given_directly_is_checked_too() {
    let s = setup();
    for agent in ["a1", "a2"] {
        let url = s.ws(agent).join("evil.git").display().to_string();
        if agent == "a1" {
            let denied = s.git(agent, &["push", "-q", &url, "main"]);
            assert!(
                stderr(&denied).contains("airlock.destination"),
                "{}",
                stderr(&denied)
            );
            assert!(!s.received(agent, "evil.git"));
            let repo = s.git(agent, &["push", "-q", &format!("--repo={url}"), "main"]);
            assert!(
                stderr(&repo).contains("airlock.destination"),
                "{}",
                stderr(&repo)
            );
        } else {
            assert!(s.git(agent, &["push", "-q", &url, "main"]).status.success());
            assert!(s.received(agent, "evil.git"));
        }
    }
}

#[test]
fn insteadof_rewriting_is_followed() {
    let s = setup();
    for agent in ["a1", "a2"] {
        let evil = s.ws(agent).join("evil.git").display().to_string();
        s.config(
            agent,
            &[
                &format!("url.{evil}.insteadOf"),
                "https://github.com/acme/app",
            ],
        );
    }
    // The argv names an allowed URL; git would push to evil.git.
    refused_with_control(&s, &["push", "-q", "https://github.com/acme/app", "main"]);
}

#[test]
fn a_push_that_names_no_remote_counts_every_remote_a_branch_could_pick() {
    let s = setup();
    for agent in ["a1", "a2"] {
        s.config(agent, &["branch.main.remote", "evil"]);
        s.config(agent, &["branch.main.merge", "refs/heads/main"]);
    }
    refused_with_control(&s, &["push", "-q"]);
}

#[test]
fn fetching_from_an_unlisted_remote_is_refused() {
    let s = setup();
    let denied = s.git("a1", &["fetch", "-q", "evil"]);
    assert!(
        stderr(&denied).contains("airlock.destination"),
        "{}",
        stderr(&denied)
    );
    let all = s.git("a1", &["fetch", "-q", "--all"]);
    assert!(
        stderr(&all).contains("airlock.destination"),
        "{}",
        stderr(&all)
    );
    let ok = s.git("a1", &["fetch", "-q", "origin"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(s.git("a2", &["fetch", "-q", "evil"]).status.success());
}

#[test]
fn a_list_for_a_command_that_is_not_git_is_a_load_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    write(
        &root.join("config/config.toml"),
        "[commands]\nenable = [\"git\", \"ssh\"]\n",
    );
    std::fs::create_dir_all(root.join("a/ws")).unwrap();
    write(
        &root.join("a/airlock.toml"),
        "commands = [\"ssh\"]\n[[mounts]]\ncontainer = \"/w\"\nhost = \"ws\"\n[access.ssh]\nremotes = [\"github.com\"]\n",
    );
    write(&root.join("agents.toml"), "[a]\npath = \"a\"\n");
    let out = Command::new(env!("CARGO_BIN_EXE_airlock-daemon"))
        .args(["check", "--config"])
        .arg(root.join("config"))
        .arg("--agents")
        .arg(root.join("agents.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("airlock.toml:6:"), "{text}");
    assert!(text.contains("checked for git only"), "{text}");
}

/// `[access.ssh] hosts`: `a1` may reach 127.0.0.1 only, `a2` (the control) anything.
/// Port 1 refuses every connection, so "Connection refused" from ssh proves it ran and
/// tried that host.
#[test]
fn ssh_connects_only_to_the_listed_hosts_in_every_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    write(
        &root.join("config/config.toml"),
        "[commands]\nenable = [\"ssh\"]\n",
    );
    for (agent, list) in [
        ("a1", "[access.ssh]\nhosts = [\"127.0.0.1\"]\n"),
        ("a2", ""),
    ] {
        let ws = root.join(agent).join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        write(
            &root.join(agent).join("airlock.toml"),
            &format!(
                "commands = [\"ssh\"]\n[[mounts]]\ncontainer = \"{0}\"\nhost = \"{0}\"\n{list}",
                ws.display()
            ),
        );
    }
    let (_daemon, ssh) = serve_both(&root, "ssh");
    let run = |agent: &str, destination: &str| {
        let out = Command::new(&ssh)
            .args(["-o", "BatchMode=yes", "-p", "1", destination, "true"])
            .env("AIRLOCK_SOCKET", root.join(format!("sockets/{agent}.sock")))
            .current_dir(root.join(agent).join("ws"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        stderr(&out)
    };
    let allowed = run("a1", "127.0.0.1");
    assert!(
        allowed.contains("127.0.0.1 port 1: Connection refused"),
        "{allowed}"
    );
    for destination in [
        "127.0.0.2",
        "u@127.0.0.2",
        "a@b@127.0.0.2",
        "ssh://u@127.0.0.2:1",
    ] {
        let denied = run("a1", destination);
        assert!(
            denied.contains("airlock.destination"),
            "{destination}: {denied}"
        );
        assert!(
            !denied.contains("Connection refused"),
            "{destination}: ssh ran"
        );
        let control = run("a2", destination);
        assert!(
            control.contains("127.0.0.2 port 1: Connection refused"),
            "control {destination}: {control}"
        );
    }
}

/// Writes the agents file for `a1` and `a2`, starts the daemon on `root` and returns
/// once both agents are served, with the shim linked as `command`.
fn serve_both(root: &std::path::Path, command: &str) -> (KillOnDrop, PathBuf) {
    write(
        &root.join("agents.toml"),
        "[a1]\npath = \"a1\"\n[a2]\npath = \"a2\"\n",
    );
    let (daemon, mut out) = start_daemon(root, &[]);
    let daemon = KillOnDrop(daemon);
    let mut line = String::new();
    while !line.starts_with("agent a2: ") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "daemon exited early");
    }
    std::thread::spawn(move || for _ in out.lines() {});
    let shim = root.join("bin").join(command);
    std::fs::create_dir_all(shim.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(shim_binary(), &shim).unwrap();
    (daemon, shim)
}

/// Stops a daemon however the test ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real aws program (not a version manager's shim, which needs the user's home).
fn real_aws() -> Option<PathBuf> {
    let out = Command::new("sh")
        .args(["-c", "command -v aws"])
        .output()
        .ok()?;
    let found = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    // pyenv: ROOT/shims/aws stands for ROOT/versions/VERSION/bin/aws.
    if found.parent().is_some_and(|d| d.ends_with("shims")) {
        let root = found.parent()?.parent()?;
        let mut versions: Vec<PathBuf> = std::fs::read_dir(root.join("versions"))
            .ok()?
            .flatten()
            .map(|v| v.path().join("bin/aws"))
            .filter(|p| p.is_file())
            .collect();
        versions.sort();
        return versions.pop();
    }
    found.is_file().then_some(found)
}

/// `[access.aws] regions`: `a1` may address eu-west-1 only, `a2` (the control) any.
/// There is no network here: aws's "Could not connect to the endpoint URL" names the
/// regional endpoint it tried, which proves it ran and for which region.
#[test]
fn aws_addresses_only_the_listed_regions() {
    let Some(aws) = real_aws() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "aws is not installed, and CI must run this test"
        );
        eprintln!("SKIPPED: aws is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    write(
        &root.join("config/config.toml"),
        // The test is about the region check; the interpreter of a version manager's
        // aws lives under a home the confinement (rightly) hides.
        "[commands]\nenable = [\"aws\"]\n[confinement]\nmode = \"none\"\n",
    );
    for (agent, list) in [
        ("a1", "[access.aws]\nregions = [\"eu-west-1\"]\n"),
        ("a2", ""),
    ] {
        let ws = root.join(agent).join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        write(
            &root.join(agent).join("airlock.toml"),
            &format!(
                "commands = [\"aws\"]\n[env]\nset = {{ AWS_ACCESS_KEY_ID = \"AKIAIOSFODNN7EXAMPLE\", AWS_SECRET_ACCESS_KEY = \"fake\", AWS_MAX_ATTEMPTS = \"1\", AWS_EC2_METADATA_DISABLED = \"true\" }}\n[[mounts]]\ncontainer = \"{0}\"\nhost = \"{0}\"\n{list}",
                ws.display()
            ),
        );
        write(
            &root.join(agent).join("commands/aws.toml"),
            &format!(
                "[command]\nbin = \"{}\"\nextends = \"builtin:aws\"\n",
                aws.display()
            ),
        );
    }
    let (_daemon, shim) = serve_both(&root, "aws");
    let run = |agent: &str, args: &[&str]| {
        let out = Command::new(&shim)
            .args(args)
            .env("AIRLOCK_SOCKET", root.join(format!("sockets/{agent}.sock")))
            .current_dir(root.join(agent).join("ws"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        stderr(&out)
    };
    let allowed = run("a1", &["--region", "eu-west-1", "ec2", "describe-regions"]);
    assert!(allowed.contains("ec2.eu-west-1.amazonaws.com"), "{allowed}");
    for args in [
        &["--region", "us-east-1", "ec2", "describe-regions"][..],
        &["ec2", "describe-regions", "--reg", "us-east-1"][..],
        &["ec2", "describe-regions", "--region=us-east-1"][..],
    ] {
        let denied = run("a1", args);
        assert!(denied.contains("airlock.destination"), "{args:?}: {denied}");
        assert!(!denied.contains("amazonaws.com/"), "{args:?}: aws ran");
        let control = run("a2", args);
        assert!(
            control.contains("ec2.us-east-1.amazonaws.com"),
            "control {args:?}: {control}"
        );
    }
    // No region named and none in the environment: it would come from a file.
    let unnamed = run("a1", &["ec2", "describe-regions"]);
    assert!(unnamed.contains("name it with `--region`"), "{unnamed}");
}
