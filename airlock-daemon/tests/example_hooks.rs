//! The example hooks in `examples/hooks/`, each copied into an agent of the real daemon
//! and driven over the agent's socket with raw JSON-RPC lines; the redaction filter is
//! also fed the post-exec protocol directly, and `approve` runs as its own process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use airlock_rpc::base64;
use serde_json::{Value, json};

mod support;
use support::{host_git, one_mount_profile, start_daemon, write};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/hooks")
        .join(name)
}

/// A running daemon with one agent, `a1`, whose workspace is mounted at the same
/// path inside the "container" as on the host, and whose git may also write the
/// repositories in `remotes/` (declared in its profile: beyond the mounts, the kernel
/// lets git reach nothing else).
struct Agent {
    _dir: tempfile::TempDir,
    /// The scratch root (canonical): `config/`, `a1/`, `ws/`, repositories.
    root: PathBuf,
    daemon: Child,
    socket: PathBuf,
    workspace: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// Starts a daemon whose agent has the example hooks `hooks` installed (`(example
/// file, name in hooks/)`), `files` written (relative to the agent directory) and
/// `limits` added to `[limits]`.
fn agent_with(hooks: &[(&str, &str)], files: &[(&str, &str)], limits: &str) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    write(
        &root.join("config/config.toml"),
        &format!("[commands]\nenable = [\"git\", \"cat\", \"sh\"]\n[limits]\n{limits}"),
    );
    let workspace = root.join("ws");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::create_dir_all(root.join("remotes")).unwrap();
    write(
        &root.join("a1/airlock.toml"),
        &format!(
            "{}[access.git]\nwrite = [\"{}\"]\n",
            one_mount_profile(&workspace, &workspace),
            root.join("remotes").display()
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
    for (file, name) in hooks {
        let installed = root.join("a1/hooks").join(name);
        std::fs::create_dir_all(installed.parent().unwrap()).unwrap();
        // Copied, not linked: the daemon runs what is in the agent's directory.
        std::fs::copy(example(file), &installed).unwrap();
    }
    write(&root.join("agents.toml"), "[a1]\npath = \"a1\"\n");
    let (daemon, out) = start_daemon(&root, &[]);
    std::thread::spawn(move || for _ in out.lines() {});
    Agent {
        socket: root.join("sockets/a1.sock"),
        workspace,
        root,
        daemon,
        _dir: dir,
    }
}

/// What came back for one request.
#[derive(Debug)]
struct Reply {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// The final message: a result or an error.
    end: Value,
}

impl Reply {
    fn exit_code(&self) -> Option<i64> {
        self.end["result"]["exit_code"].as_i64()
    }

    /// Asserts the request ran and exited 0.
    fn assert_ok(&self, what: &str) {
        assert_eq!(
            self.exit_code(),
            Some(0),
            "{what}: {} / {}",
            self.end,
            String::from_utf8_lossy(&self.stderr)
        );
    }

    /// Asserts the pre-exec hook refused, and returns its reason.
    fn denied_by_hook(&self, what: &str) -> String {
        assert_eq!(self.end["error"]["code"], -32600, "{what}: {}", self.end);
        assert_eq!(
            self.end["error"]["data"]["rule"], "airlock.pre-exec",
            "{what}: {}",
            self.end
        );
        self.end["error"]["data"]["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

impl Agent {
    fn agent_dir(&self) -> PathBuf {
        self.root.join("a1")
    }

    /// Runs `command args` in `cwd` (a path inside the workspace) over the socket,
    /// with `stdin` (written from another thread while the output is read).
    fn exec_with_stdin(&self, command: &str, args: &[&str], cwd: &Path, stdin: &[u8]) -> Reply {
        let stream = UnixStream::connect(&self.socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let send = |writer: &mut UnixStream, value: Value| {
            let mut line = value.to_string();
            line.push('\n');
            writer.write_all(line.as_bytes()).unwrap();
        };
        send(
            &mut writer,
            json!({"jsonrpc":"2.0","id":0,"method":"hello","params":{"version":1,"capabilities":["binary","stdin"]}}),
        );
        let hello = read_message(&mut reader);
        assert_eq!(hello["result"]["version"], 1, "{hello}");
        send(
            &mut writer,
            json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":command,"args":args,"cwd":cwd}}),
        );
        let input = stdin.to_vec();
        let feeder = std::thread::spawn(move || {
            for chunk in input.chunks(65_536) {
                let message = json!({"jsonrpc":"2.0","method":"stdin","params":{"data_b64": base64::encode(chunk)}});
                let mut line = message.to_string();
                line.push('\n');
                // A refused request closes the connection; later writes may fail.
                if writer.write_all(line.as_bytes()).is_err() {
                    return;
                }
            }
            let _ = writer.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"stdin_eof\"}\n");
        });
        let mut reply = Reply {
            stdout: Vec::new(),
            stderr: Vec::new(),
            end: Value::Null,
        };
        loop {
            let message = read_message(&mut reader);
            if message.get("method") == Some(&json!("output")) {
                let params = &message["params"];
                let bytes = match params.get("data_b64") {
                    Some(b64) => base64::decode(b64.as_str().unwrap()).unwrap(),
                    None => params["data"].as_str().unwrap().as_bytes().to_vec(),
                };
                match params["stream"].as_str().unwrap() {
                    "stdout" => reply.stdout.extend(bytes),
                    _ => reply.stderr.extend(bytes),
                }
            } else {
                reply.end = message;
                break;
            }
        }
        feeder.join().unwrap();
        reply
    }

    fn exec(&self, command: &str, args: &[&str], cwd: &Path) -> Reply {
        self.exec_with_stdin(command, args, cwd, b"")
    }

    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.root.join("config/audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn read_message(reader: &mut BufReader<UnixStream>) -> Value {
    let mut line = String::new();
    assert!(
        reader.read_line(&mut line).unwrap() > 0,
        "connection closed"
    );
    serde_json::from_str(&line).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn bare_repo(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    host_git(path, &["init", "-q", "--bare", "-b", "main"]);
}

/// Every ref of a repository, to show that nothing reached it.
fn refs(repo: &Path) -> String {
    host_git(repo, &["for-each-ref", "--format=%(refname) %(objectname)"])
}

/// A workspace repository with one commit, `origin` = `allowed.git` (listed) and
/// `evil` = `other.git` (not listed), both bare repositories in `remotes/`.
struct Remotes {
    agent: Agent,
    repo: PathBuf,
    allowed: PathBuf,
    other: PathBuf,
}

fn remotes() -> Remotes {
    // The built-in git module is an allow list: the aliases these tests plant, and
    // send-pack, are named by the operator, so the hook sees them.
    let agent = agent_with(
        &[("remote-allowlist", "pre-exec")],
        &[(
            "commands/git.toml",
            "[command]\nbin = \"git\"\nextends = \"builtin:git\"\n\n[[rule]]\nid = \"test.alias-p\"\naction = \"allow\"\ncommand = \"p\"\n\n[[rule]]\nid = \"test.alias-P\"\naction = \"allow\"\ncommand = \"P\"\n\n[[rule]]\nid = \"test.alias-team-up\"\naction = \"allow\"\ncommand = \"team.UP\"\n\n[[rule]]\nid = \"test.send-pack\"\naction = \"allow\"\ncommand = \"send-pack\"\n",
        )],
        "",
    );
    let allowed = agent.root.join("remotes/allowed.git");
    let other = agent.root.join("remotes/other.git");
    bare_repo(&allowed);
    bare_repo(&other);
    write(
        &agent.agent_dir().join("allowed-remotes"),
        &format!(
            "# where pushes may go\n{}\nhttps://example.invalid/team/*.git\n",
            allowed.display()
        ),
    );
    let repo = agent.workspace.join("repo");
    std::fs::create_dir_all(repo.join("sub")).unwrap();
    host_git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("f"), "x\n").unwrap();
    host_git(&repo, &["add", "f"]);
    host_git(&repo, &["commit", "-q", "-m", "one"]);
    host_git(
        &repo,
        &["remote", "add", "origin", allowed.to_str().unwrap()],
    );
    host_git(&repo, &["remote", "add", "evil", other.to_str().unwrap()]);
    Remotes {
        agent,
        repo,
        allowed,
        other,
    }
}

#[test]
fn remote_allowlist_lets_pushes_reach_listed_remotes() {
    let r = remotes();
    let head = host_git(&r.repo, &["rev-parse", "HEAD"]);
    let allowed_path = r.allowed.to_str().unwrap();
    let allowed_url = format!("file://{allowed_path}");
    for (n, argv) in [
        vec!["push", "-q", "origin", "HEAD:refs/heads/b0"],
        vec!["push", "-q", allowed_path, "HEAD:refs/heads/b1"],
        vec!["push", "-q", &allowed_url, "HEAD:refs/heads/b2"],
        vec![
            "-C",
            "sub",
            "push",
            "-qf",
            "--",
            "origin",
            "HEAD:refs/heads/b3",
        ],
    ]
    .into_iter()
    .enumerate()
    {
        r.agent
            .exec("git", &argv, &r.repo)
            .assert_ok(&format!("{argv:?}"));
        assert_eq!(
            host_git(&r.allowed, &["rev-parse", &format!("b{n}")]),
            head,
            "{argv:?} reached the allowed repository"
        );
    }
    // Without an operand: `--repo`, else the branch's remote (here origin).
    host_git(&r.repo, &["config", "branch.main.remote", "origin"]);
    host_git(&r.repo, &["config", "branch.main.merge", "refs/heads/main"]);
    r.agent
        .exec("git", &["push", "-q", "--repo=origin"], &r.repo)
        .assert_ok("push --repo");
    assert_eq!(host_git(&r.allowed, &["rev-parse", "main"]), head);
    std::fs::write(r.repo.join("f"), "y\n").unwrap();
    host_git(&r.repo, &["commit", "-qam", "two"]);
    r.agent
        .exec("git", &["push", "-q"], &r.repo)
        .assert_ok("push");
    assert_eq!(
        host_git(&r.allowed, &["rev-parse", "main"]),
        host_git(&r.repo, &["rev-parse", "HEAD"])
    );
    // Commands that push nothing pass untouched.
    r.agent
        .exec("git", &["status", "--short"], &r.repo)
        .assert_ok("status");
    // Every push went out with --no-recurse-submodules added.
    let pushes: Vec<Value> = r
        .agent
        .audit()
        .into_iter()
        .filter(|a| a["decision"] != "start")
        .filter(|a| a["argv"].as_array().unwrap().iter().any(|w| w == "push"))
        .collect();
    assert_eq!(pushes.len(), 6, "{pushes:?}");
    for audit in &pushes {
        assert!(
            audit["argv"]
                .as_array()
                .unwrap()
                .contains(&json!("--no-recurse-submodules")),
            "{audit}"
        );
    }
    assert_eq!(refs(&r.other), "", "nothing reached other.git");
}

#[test]
fn remote_allowlist_refuses_every_spelling_of_another_destination() {
    let r = remotes();
    let other = r.other.to_str().unwrap().to_owned();
    let other_url = format!("file://{other}");
    let dotted = format!("{}/../other.git", r.allowed.display());
    let refused = |argv: &[&str]| {
        let reply = r.agent.exec("git", argv, &r.repo);
        let reason = reply.denied_by_hook(&format!("{argv:?}"));
        assert_eq!(refs(&r.other), "", "{argv:?} reached other.git");
        reason
    };
    // Options the built-in does not classify (`--end-of-options`, after which git
    // reads options as operands; an unknown global option) are refused by the module
    // before the hook is asked.
    for argv in [
        &["push", "--end-of-options", "evil", "HEAD:main"][..],
        &["--unknown-global", "push", "evil"],
    ] {
        let reply = r.agent.exec("git", argv, &r.repo);
        assert_eq!(
            reply.end["error"]["data"]["rule"], "airlock.unreadable",
            "{argv:?}: {}",
            reply.end
        );
        assert_eq!(refs(&r.other), "", "{argv:?} reached other.git");
    }
    for argv in [
        vec!["push", "evil", "HEAD:main"],
        vec!["push", &other, "HEAD:main"],
        vec!["push", &other_url, "HEAD:main"],
        vec!["push", &dotted, "HEAD:main"],
        vec!["push", "-f", "evil", "HEAD:main"],
        vec!["push", "-f", "-o", "ci.skip", "evil", "HEAD:main"],
        vec!["push", "-fo", "ci.skip", "evil", "HEAD:main"],
        vec!["push", "--push-option", "x", "evil", "HEAD:main"],
        vec!["push", "--rep=evil"],
        vec!["push", "--repo", "evil", "--all"],
        vec!["push", "--repo=origin", "evil", "HEAD:main"],
        vec!["push", "--", "evil", "HEAD:main"],
        vec!["-C", "sub", "push", "evil", "HEAD:main"],
        vec!["--no-pager", "push", "evil", "HEAD:main"],
        // A global option that takes a value: `HEAD` is not the subcommand.
        vec!["--attr-source", "HEAD", "push", "evil", "HEAD:main"],
    ] {
        let reason = refused(&argv);
        assert!(
            reason.contains("is not allowed") && reason.contains("other.git"),
            "{argv:?}: {reason}"
        );
    }
    // Ways of not saying where: each is refused with its own reason. (`push
    // --recurse-submodules` never reaches the hook: the built-in module denies it.)
    for (argv, why) in [
        (vec!["push", "../other.git", "HEAD:main"], "relative path"),
        (
            vec!["push", "https://example.invalid/team/%2e%2e/x.git"],
            "`%`",
        ),
        (
            vec!["push", "https://example.invalid/team/../x.git"],
            "`..`",
        ),
        (vec!["send-pack", &other, "main"], "cannot check"),
    ] {
        let reason = refused(&argv);
        assert!(reason.contains(why), "{argv:?}: {reason}");
    }
    // A glob stands for one path segment of plain characters, never `/`, `#` or `@`.
    for url in [
        "https://example.invalid/team/x/y.git",
        "https://evil.invalid#/team/x.git",
    ] {
        let reason = refused(&["push", url, "HEAD:main"]);
        assert!(reason.contains("is not allowed"), "{url}: {reason}");
    }
}

#[test]
fn remote_allowlist_reads_the_repository_configuration_as_git_does() {
    let r = remotes();
    let other = r.other.to_str().unwrap().to_owned();
    let allowed = r.allowed.to_str().unwrap().to_owned();
    let config = |args: &[&str]| {
        host_git(
            &r.repo,
            &["config"].iter().chain(args).copied().collect::<Vec<_>>(),
        )
    };
    let unset = |section: &str| host_git(&r.repo, &["config", "--remove-section", section]);
    let expect_refused = |argv: &[&str], what: &str| {
        let reason = r.agent.exec("git", argv, &r.repo).denied_by_hook(what);
        assert!(reason.contains("other.git"), "{what}: {argv:?}: {reason}");
        assert_eq!(refs(&r.other), "", "{what}: reached other.git");
    };

    // Aliases are followed, whatever their case or subsection.
    config(&["alias.p", "push evil"]);
    expect_refused(&["p", "HEAD:main"], "alias");
    expect_refused(&["P", "HEAD:main"], "alias, other case");
    unset("alias");
    config(&["alias.Team.up", "push evil"]);
    expect_refused(&["team.UP", "HEAD:main"], "alias with a subsection");
    unset("alias.Team");
    // The push URL of an allowed remote's name is what counts.
    config(&["remote.origin.pushurl", &other]);
    expect_refused(&["push", "origin", "HEAD:main"], "pushurl");
    host_git(&r.repo, &["config", "--unset", "remote.origin.pushurl"]);
    // pushInsteadOf rewrites a URL given directly as well as a remote's.
    config(&[&format!("url.{other}.pushInsteadOf"), &allowed]);
    expect_refused(&["push", &allowed, "HEAD:main"], "pushInsteadOf, URL");
    expect_refused(&["push", "origin", "HEAD:main"], "pushInsteadOf, name");
    unset(&format!("url.{other}"));
    // The default destination follows pushRemote and pushDefault.
    config(&["branch.main.pushRemote", "evil"]);
    expect_refused(&["push"], "branch pushRemote");
    unset("branch.main");
    config(&["remote.pushDefault", "evil"]);
    expect_refused(&["push", "-f"], "remote.pushDefault");
    unset("remote");
    // Remotes defined the old way, in .git/remotes/.
    write(
        &r.repo.join(".git/remotes/legacy"),
        &format!("URL: {other}\nPush: refs/heads/main:refs/heads/main\n"),
    );
    expect_refused(&["push", "legacy"], ".git/remotes");
    // A remote whose transport program comes from the configuration.
    config(&["remote.origin.vcs", "fd"]);
    let reason = r
        .agent
        .exec("git", &["push", "origin", "HEAD:main"], &r.repo)
        .denied_by_hook("vcs");
    assert!(reason.contains("transport program"), "{reason}");
    host_git(&r.repo, &["config", "--unset", "remote.origin.vcs"]);
    // After all that, origin still works.
    r.agent
        .exec("git", &["push", "-q", "origin", "HEAD:main"], &r.repo)
        .assert_ok("origin");
}

#[test]
fn remote_allowlist_keeps_submodules_where_they_are() {
    let r = remotes();
    // A submodule whose own remote is not listed, with a commit only it has, and a
    // .git/config that asks git to push submodules along.
    let sub_remote = r.agent.root.join("remotes/sub-remote.git");
    bare_repo(&sub_remote);
    let seed = r.agent.root.join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    host_git(&seed, &["init", "-q", "-b", "main"]);
    std::fs::write(seed.join("a"), "a\n").unwrap();
    host_git(&seed, &["add", "a"]);
    host_git(&seed, &["commit", "-q", "-m", "s1"]);
    host_git(&seed, &["push", "-q", sub_remote.to_str().unwrap(), "main"]);
    host_git(
        &r.repo,
        &[
            "submodule",
            "add",
            "-q",
            sub_remote.to_str().unwrap(),
            "lib",
        ],
    );
    host_git(&r.repo, &["commit", "-q", "-m", "add lib"]);
    let lib = r.repo.join("lib");
    std::fs::write(lib.join("b"), "b\n").unwrap();
    host_git(&lib, &["add", "b"]);
    host_git(&lib, &["commit", "-q", "-m", "s2"]);
    host_git(&r.repo, &["add", "lib"]);
    host_git(&r.repo, &["commit", "-q", "-m", "bump lib"]);
    host_git(&r.repo, &["config", "push.recurseSubmodules", "on-demand"]);
    let before = refs(&sub_remote);

    // The daemon refuses before the hook is asked: a configuration that makes git enter
    // submodules (whose own configuration it cannot pin) is not one it runs git with.
    let reply = r
        .agent
        .exec("git", &["push", "-q", "origin", "HEAD:main"], &r.repo);
    assert_eq!(
        reply.end["error"]["data"]["rule"], "airlock.git-config",
        "{}",
        reply.end
    );
    assert!(
        reply.end["error"]["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("push.recursesubmodules"),
        "{}",
        reply.end
    );
    assert_eq!(refs(&sub_remote), before, "the submodule was pushed along");
    // Without that setting the push goes through the hook and reaches origin, and
    // the submodule stays where it is.
    host_git(&r.repo, &["config", "--unset", "push.recurseSubmodules"]);
    r.agent
        .exec("git", &["push", "-q", "origin", "HEAD:main"], &r.repo)
        .assert_ok("push with submodules");
    assert_eq!(
        host_git(&r.allowed, &["rev-parse", "main"]),
        host_git(&r.repo, &["rev-parse", "HEAD"])
    );
    assert_eq!(refs(&sub_remote), before, "the submodule was pushed along");
    host_git(&r.repo, &["config", "push.recurseSubmodules", "on-demand"]);

    // Control: the same push without the hook does push the submodule.
    let control = r.agent.root.join("control.git");
    bare_repo(&control);
    host_git(
        &r.repo,
        &["push", "-q", control.to_str().unwrap(), "HEAD:main"],
    );
    assert_ne!(refs(&sub_remote), before, "the control pushed no submodule");
}

#[test]
fn remote_allowlist_without_its_list_refuses_pushes() {
    let r = remotes();
    std::fs::remove_file(r.agent.agent_dir().join("allowed-remotes")).unwrap();
    let reason = r
        .agent
        .exec("git", &["push", "origin", "HEAD:main"], &r.repo)
        .denied_by_hook("no list");
    assert!(reason.contains("no allowlist"), "{reason}");
    assert_eq!(refs(&r.allowed), "");
}

/// What the redaction hook printed, and how it ended.
struct Filtered {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// The longest line it printed.
    longest_line: usize,
    status: std::process::ExitStatus,
    /// Its own stderr.
    message: String,
}

/// Runs the redaction hook as a process and feeds it the post-exec protocol: the
/// request, `chunks` as `{"stream","data_b64"}` lines and, if `exit`, the exit line.
fn filter_raw(chunks: &[(&str, &[u8])], extra: &[&str], exit: bool) -> Filtered {
    let mut child = Command::new(example("redact"))
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("AIRLOCK_HOOK", "post-exec")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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
    for line in extra {
        input.push_str(line);
        input.push('\n');
    }
    if exit {
        input.push_str("{\"exit\":{\"code\":0}}\n");
    }
    let mut stdin = child.stdin.take().unwrap();
    // Written from a thread: the hook streams, so it answers while it reads.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let mut filtered = Filtered {
        stdout: Vec::new(),
        stderr: Vec::new(),
        longest_line: 0,
        status: output.status,
        message: stderr(&output),
    };
    for line in output
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
    {
        filtered.longest_line = filtered.longest_line.max(line.len() + 1);
        let value: Value = serde_json::from_slice(line).unwrap();
        assert_eq!(value.as_object().unwrap().len(), 2, "{value}");
        let data = base64::decode(value["data_b64"].as_str().unwrap()).unwrap();
        match value["stream"].as_str().unwrap() {
            "stdout" => filtered.stdout.extend(data),
            "stderr" => filtered.stderr.extend(data),
            other => panic!("stream {other}"),
        }
    }
    filtered
}

/// Feeds `data` on stdout cut into chunks of the given sizes (cycling), and returns
/// what reached stdout; the hook must exit 0.
fn filter(data: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut chunks = Vec::new();
    let mut at = 0;
    for size in sizes.iter().cycle() {
        if at >= data.len() {
            break;
        }
        let end = (at + size).min(data.len());
        chunks.push(("stdout", &data[at..end]));
        at = end;
    }
    let filtered = filter_raw(&chunks, &[], true);
    assert!(filtered.status.success(), "{}", filtered.message);
    assert!(filtered.stderr.is_empty());
    filtered.stdout
}

const PEM: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDmC0q3VfiJb3GOQr9v0i+CRXgDnkq6mFqzP4hRzGv6QAAAJgHEjEwBxIx\n-----END OPENSSH PRIVATE KEY-----";

/// Every kind of secret the hook knows, each as (what a program prints, what the
/// agent must see instead).
fn secrets() -> Vec<(String, String)> {
    let redacted = |kind: &str| format!("[REDACTED {kind}]");
    vec![
        ("AKIAIOSFODNN7EXAMPLE".into(), redacted("AWS KEY ID")),
        ("ASIAY34FZKBOKMUTVV7A".into(), redacted("AWS KEY ID")),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            "aws_secret_access_key = [REDACTED]".into(),
        ),
        (
            "\"SecretAccessKey\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"".into(),
            "\"SecretAccessKey\": \"[REDACTED]\"".into(),
        ),
        (
            "AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ".into(),
            "AWS_SESSION_TOKEN=[REDACTED]".into(),
        ),
        (format!("ghp_{}", "a1B2c3D4e5".repeat(4)), redacted("GITHUB TOKEN")),
        (format!("gho_{}", "Z9y8X7w6V5".repeat(4)), redacted("GITHUB TOKEN")),
        (format!("ghs_{}", "0123456789".repeat(4)), redacted("GITHUB TOKEN")),
        (
            format!("github_pat_11ABCDEFG0{}_{}", "x".repeat(12), "Yz0".repeat(20)),
            redacted("GITHUB TOKEN"),
        ),
        (
            "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx".into(),
            redacted("SLACK TOKEN"),
        ),
        (
            "Authorization: Bearer abc.def-ghi_jkl~mno+pq/rs=".into(),
            "Authorization: Bearer [REDACTED]".into(),
        ),
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U".into(),
            redacted("JWT"),
        ),
        (PEM.into(), redacted("PRIVATE KEY")),
    ]
}

/// Text with every secret on its own line between ordinary words, and look-alikes
/// that must pass: (input, expected output).
fn sample() -> (Vec<u8>, Vec<u8>) {
    let mut input =
        String::from("start: AKIA, ghp_short, xAKIAIOSFODNN7EXAMPLE, BEGIN PRIVATE KEY in prose\n");
    let mut expected = input.clone();
    for (i, (secret, shown)) in secrets().iter().enumerate() {
        input.push_str(&format!("line {i} <{secret}> after\n"));
        expected.push_str(&format!("line {i} <{shown}> after\n"));
    }
    input.push_str("end without a newline");
    expected.push_str("end without a newline");
    (input.into_bytes(), expected.into_bytes())
}

#[test]
fn redact_hides_each_kind_of_secret_however_the_chunks_cut_it() {
    let (input, expected) = sample();
    // Whole, then cut at every byte, then at sizes that put cuts everywhere else.
    for sizes in [
        vec![input.len()],
        vec![1],
        vec![2, 3, 5, 7, 11, 13],
        vec![64, 1],
    ] {
        let out = filter(&input, &sizes);
        assert!(
            out == expected,
            "chunks of {sizes:?}:\n{}",
            String::from_utf8_lossy(&out)
        );
    }
    // Both streams, interleaved, each redacted on its own.
    let chunks: Vec<(&str, &[u8])> = input
        .chunks(9)
        .flat_map(|c| [("stdout", c), ("stderr", c)])
        .collect();
    let both = filter_raw(&chunks, &[], true);
    assert!(both.status.success(), "{}", both.message);
    assert!(both.stdout == expected && both.stderr == expected);
}

#[test]
fn redact_passes_binary_output_byte_for_byte() {
    // Every byte value, invalid UTF-8 included, many times over.
    let binary: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    assert!(filter(&binary, &[65_536]) == binary);
    assert!(filter(&binary, &[4096, 77]) == binary);
    // A secret inside binary output: only the secret changes.
    let key = b"AKIAIOSFODNN7EXAMPLE";
    let mut input = binary[..1000].to_vec();
    input.extend_from_slice(b"\xff ");
    input.extend_from_slice(key);
    input.extend_from_slice(b" \x00");
    input.extend_from_slice(&binary[..1000]);
    let mut expected = binary[..1000].to_vec();
    expected.extend_from_slice(b"\xff [REDACTED AWS KEY ID] \x00");
    expected.extend_from_slice(&binary[..1000]);
    assert!(filter(&input, &[1003]) == expected);
}

#[test]
fn redact_cuts_long_lines_without_cutting_secrets() {
    // A 300 KB line with no newline: the hook must release it in pieces, and secrets
    // across 64 KiB chunk boundaries still come out whole.
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for (i, (secret, shown)) in secrets().iter().enumerate() {
        // On one line: a key's newlines written as `\n`, as JSON does.
        let secret = &secret.replace('\n', "\\n");
        let boundary = 65_536 * (i / 4 + 1) + 4_000 * (i % 4);
        let pad = boundary - secret.len() / 2 - input.len() - 1;
        let filler: Vec<u8> = (0..pad).map(|n| b"abc=+/ "[n % 7]).collect();
        for (out, text) in [(&mut input, secret), (&mut expected, shown)] {
            out.extend_from_slice(&filler);
            out.extend_from_slice(format!(" {text} ").as_bytes());
        }
    }
    assert!(input.len() > 250_000 && !input.contains(&b'\n'));
    for sizes in [vec![65_536], vec![65_536, 1], vec![200_000], vec![1000, 3]] {
        let out = filter(&input, &sizes);
        assert!(
            out == expected,
            "chunks of {sizes:?}: {} bytes out",
            out.len()
        );
    }
    // Where the hook cuts: it holds back the last 8 KiB of a line longer than 64 KiB,
    // so with 64 KiB chunks it cuts at 8 KiB before each chunk's end. A secret across
    // such a cut is released whole.
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for (i, (secret, shown)) in secrets().iter().enumerate() {
        let secret = &secret.replace('\n', "\\n");
        let cut = 65_536 * (i + 2) - 8_192;
        let filler = vec![b'.'; cut - secret.len() / 2 - input.len() - 1];
        for (out, text) in [(&mut input, secret), (&mut expected, shown)] {
            out.extend_from_slice(&filler);
            out.extend_from_slice(format!(" {text} ").as_bytes());
        }
    }
    let out = filter(&input, &[65_536]);
    assert!(
        out == expected,
        "secrets across cuts: {} bytes out",
        out.len()
    );
    // A chunk far bigger than the daemon sends still comes out in lines under 1 MiB.
    let big: Vec<u8> = (0..=255u8).cycle().take(3 << 20).collect();
    let filtered = filter_raw(&[("stdout", &big)], &[], true);
    assert!(filtered.status.success(), "{}", filtered.message);
    assert!(filtered.stdout == big);
    assert!(
        filtered.longest_line <= 1 << 20,
        "{}",
        filtered.longest_line
    );
}

#[test]
fn redact_withholds_private_key_blocks_across_chunks() {
    let mut input = String::from("before\n");
    let body: String = (0..2000).map(|i| format!("{:064x}\n", i * 7919)).collect();
    input.push_str(&format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{body}-----END RSA PRIVATE KEY-----\nafter\n"
    ));
    // One line of JSON with the key's newlines escaped, as in a service-account file.
    input.push_str("{\"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADAN\\n-----END PRIVATE KEY-----\\n\", \"ok\": 1}\n");
    let expected = "before\n[REDACTED PRIVATE KEY]\nafter\n{\"private_key\": \"[REDACTED PRIVATE KEY]\\n\", \"ok\": 1}\n";
    let bytes = input.as_bytes();
    // The END line cut at every place within it.
    let end = input.find("-----END RSA").unwrap();
    for cut in end..end + 31 {
        let filtered = filter_raw(
            &[("stdout", &bytes[..cut]), ("stdout", &bytes[cut..])],
            &[],
            true,
        );
        assert_eq!(String::from_utf8(filtered.stdout).unwrap(), expected);
    }
    for sizes in [vec![1], vec![65_536], vec![100, 7]] {
        assert_eq!(String::from_utf8(filter(bytes, &sizes)).unwrap(), expected);
    }
    // A block that never ends withholds the rest of the stream, and says so.
    let unended = format!("a\n-----BEGIN EC PRIVATE KEY-----\n{body}");
    let out = String::from_utf8(filter(unended.as_bytes(), &[4096])).unwrap();
    assert!(
        out.starts_with("a\n[REDACTED PRIVATE KEY]\n[REDACTED: a private key block did not end"),
        "{out}"
    );
    assert!(!out.contains(&body[..64]));
}

#[test]
fn redact_fails_on_input_that_is_not_the_protocol() {
    let ok = filter_raw(&[("stdout", b"x")], &[], true);
    assert!(ok.status.success(), "{}", ok.message);
    for extra in [
        "not json",
        "{\"stream\":\"stdin\",\"data_b64\":\"eA==\"}",
        "{\"stream\":\"stdout\",\"data_b64\":\"not base64!\"}",
        "{\"stream\":\"stdout\"}",
        "[1]",
    ] {
        let bad = filter_raw(&[("stdout", b"x")], &[extra], true);
        assert!(!bad.status.success(), "{extra}");
        assert!(
            bad.message.contains("redact: unexpected input"),
            "{}",
            bad.message
        );
    }
    let cut_short = filter_raw(&[("stdout", b"x")], &[], false);
    assert!(!cut_short.status.success(), "no exit line");
}

#[test]
fn redact_works_as_the_daemons_post_exec_hook() {
    let agent = agent_with(&[("redact", "post-exec")], &[], "");
    // 200 KB of binary-ish output through `cat`, each secret straddling a multiple of
    // 64 KiB (where chunks are likely to be cut) or sitting between them.
    let filler = |n: usize, seed: usize| -> Vec<u8> {
        (0..n)
            .map(|i| match (i * 31 + seed) % 97 {
                0 => b'\n',
                k => b"\x00\xff\xfe abc=+/-.:\x80"[k % 14],
            })
            .collect()
    };
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for (i, (secret, shown)) in secrets().iter().enumerate() {
        let target = if i % 2 == 0 {
            65_536 * (i / 2 + 1) - secret.len() / 2
        } else {
            input.len() + 1000
        };
        let pad = filler(target - input.len() - 1, i);
        for (out, text) in [(&mut input, secret), (&mut expected, shown)] {
            out.extend_from_slice(&pad);
            out.extend_from_slice(format!("\n{text}\n").as_bytes());
        }
    }
    assert!(input.len() > 200_000);
    let reply = agent.exec_with_stdin("cat", &[], &agent.workspace, &input);
    reply.assert_ok("cat");
    assert!(
        reply.stdout == expected,
        "{} bytes out, {} expected",
        reply.stdout.len(),
        expected.len()
    );
    // The exit status passes through unchanged, and stderr is filtered too.
    let failed = agent.exec(
        "sh",
        &[
            "-c",
            "echo AKIAIOSFODNN7EXAMPLE; echo ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa >&2; exit 3",
        ],
        &agent.workspace,
    );
    assert_eq!(failed.exit_code(), Some(3), "{}", failed.end);
    assert_eq!(failed.stdout, b"[REDACTED AWS KEY ID]\n");
    assert_eq!(failed.stderr, b"[REDACTED GITHUB TOKEN]\n");
    // Many short lines (a long `git log`): the hook keeps up, and finishes within the
    // daemon's hook timeout after the program ends (work per chunk, not per line).
    let lines = agent.exec("sh", &["-c", "yes | head -c 3000000"], &agent.workspace);
    lines.assert_ok("yes");
    assert!(
        lines.stdout == b"y\n".repeat(1_500_000),
        "{} bytes",
        lines.stdout.len()
    );
}

/// The ids of the requests waiting in `agent_dir`, once there are `n` of them.
fn pending_ids(agent_dir: &Path, n: usize) -> Vec<String> {
    let pending = agent_dir.join("approvals/pending");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(entries) = std::fs::read_dir(&pending) {
            let mut ids: Vec<String> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
                .filter(|n| !n.starts_with('.'))
                .collect();
            if ids.len() == n {
                ids.sort();
                return ids;
            }
        }
        assert!(Instant::now() < deadline, "{n} requests never waited");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `approve --dir AGENT_DIR args...` as a process.
fn approve(agent_dir: &Path, args: &[&str]) -> Output {
    Command::new(example("approve"))
        .arg("--dir")
        .arg(agent_dir)
        .args(args)
        .output()
        .unwrap()
}

fn approve_ok(agent_dir: &Path, args: &[&str]) -> String {
    let output = approve(agent_dir, args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "approve {args:?}: {}",
        stderr(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// An agent with the approval gate, the gate's timeout set to `timeout` and the
/// daemon's hook timeout to `hook_timeout`.
fn gated(timeout: &str, hook_timeout: u32) -> Agent {
    agent_with(
        &[("approval-gate", "pre-exec")],
        &[("approvals/timeout", timeout)],
        &format!("hook_timeout_secs = {hook_timeout}\n"),
    )
}

/// Sends `sh -c script` from another thread of `scope` (it waits for a person). The
/// scope joins it, so the daemon outlives every request even when a test fails.
fn hold<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    agent: &'s Agent,
    script: &'s str,
    cwd: &'s Path,
) -> std::thread::ScopedJoinHandle<'s, Reply> {
    scope.spawn(move || agent.exec("sh", &["-c", script], cwd))
}

#[test]
fn approval_gate_runs_what_a_person_approves_and_refuses_what_they_deny() {
    let agent = gated("20\n", 30);
    let dir = agent.agent_dir();
    let ws = agent.workspace.clone();
    assert_eq!(approve_ok(&dir, &[]), "nothing is waiting\n");
    std::thread::scope(|scope| {
        // Approved: it waits, then runs.
        let held = hold(scope, &agent, "touch ran-1; echo ran", &ws);
        let [id] = pending_ids(&dir, 1).try_into().unwrap();
        assert!(!ws.join("ran-1").exists(), "ran before approval");
        let listing = approve_ok(&dir, &[]);
        assert!(
            listing.contains(&id)
                && listing.contains("\"sh\" \"-c\" \"touch ran-1; echo ran\"")
                && listing.contains(&format!("in {}", json!(ws))),
            "{listing}"
        );
        assert_eq!(approve_ok(&dir, &[&id]), format!("approved {id}\n"));
        let reply = held.join().unwrap();
        reply.assert_ok("approved");
        assert_eq!(reply.stdout, b"ran\n");
        assert!(ws.join("ran-1").exists());
        // A decided request is gone; deciding again is refused.
        assert_eq!(pending_ids(&dir, 0).len(), 0);
        let again = approve(&dir, &["--deny", &id]);
        assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));

        // Two at once: each gets its own answer.
        let first = hold(scope, &agent, "touch ran-2", &ws);
        let second = hold(scope, &agent, "touch ran-3", &ws);
        let ids = pending_ids(&dir, 2);
        let script_of = |id: &str| -> String {
            let text =
                std::fs::read_to_string(dir.join(format!("approvals/pending/{id}.json"))).unwrap();
            let record: Value = serde_json::from_str(&text).unwrap();
            record["args"][1].as_str().unwrap().to_owned()
        };
        let (run, deny) = if script_of(&ids[0]) == "touch ran-2" {
            (&ids[0], &ids[1])
        } else {
            (&ids[1], &ids[0])
        };
        approve_ok(&dir, &["--deny", deny, "not", "before", "the\nrelease"]);
        approve_ok(&dir, &[run]);
        first.join().unwrap().assert_ok("first");
        let reason = second.join().unwrap().denied_by_hook("second");
        assert_eq!(reason, "denied by a person: not before the release");
        assert!(ws.join("ran-2").exists() && !ws.join("ran-3").exists());
    });
}

#[test]
fn approval_gate_denies_when_nobody_answers() {
    let agent = gated("0.5\n", 10);
    let dir = agent.agent_dir();
    let ws = agent.workspace.clone();
    let reason = agent
        .exec("sh", &["-c", "touch ran"], &ws)
        .denied_by_hook("timeout");
    assert!(
        reason.starts_with("no approval within 0.5 s (request "),
        "{reason}"
    );
    assert!(!ws.join("ran").exists());
    // Its id, from the reason: too late to approve now.
    let id = reason
        .trim_end_matches(')')
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    let late = approve(&dir, &[&id]);
    assert_eq!(late.status.code(), Some(1), "{}", stderr(&late));
    assert!(dir.join(format!("approvals/decisions/{id}")).exists());
    // A bad timeout setting denies at once instead of guessing.
    write(&dir.join("approvals/timeout"), "5 minutes\n");
    let reason = agent
        .exec("sh", &["-c", "touch ran"], &ws)
        .denied_by_hook("bad");
    assert!(reason.contains("must be seconds"), "{reason}");
}

/// The pending record of request `id`.
fn pending_record(dir: &Path, id: &str) -> Value {
    let path = dir.join(format!("approvals/pending/{id}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Sends `signal` to the gate process holding request `id`.
fn signal_gate(dir: &Path, id: &str, signal: &str) {
    let pid = pending_record(dir, id)["pid"].as_u64().unwrap().to_string();
    let status = Command::new("kill")
        .args(["-s", signal, &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn approval_decisions_are_made_once() {
    let agent = gated("4\n", 30);
    let dir = agent.agent_dir();
    let ws = agent.workspace.clone();
    std::thread::scope(|scope| {
        // A person denies while the gate is stopped (not looking); a second decision
        // arriving before the gate acts is refused, and the first one holds.
        let held = hold(scope, &agent, "touch ran", &ws);
        let [id] = pending_ids(&dir, 1).try_into().unwrap();
        signal_gate(&dir, &id, "STOP");
        approve_ok(&dir, &["--deny", &id, "first", "answer"]);
        let second = approve(&dir, &[&id]);
        assert_eq!(second.status.code(), Some(1));
        assert!(
            stderr(&second).contains("already decided: \"deny\""),
            "{}",
            stderr(&second)
        );
        signal_gate(&dir, &id, "CONT");
        let reason = held.join().unwrap().denied_by_hook("first answer");
        assert_eq!(reason, "denied by a person: first answer");

        // The gate's time runs out while it is stopped: approving is refused from
        // then on, and the gate denies when it wakes.
        let held = hold(scope, &agent, "touch ran", &ws);
        let [id] = pending_ids(&dir, 1).try_into().unwrap();
        signal_gate(&dir, &id, "STOP");
        let expires = pending_record(&dir, &id)["expires"].as_f64().unwrap();
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
        };
        // Waiting for the clock to pass a deadline, not for a result.
        while now() < expires {
            std::thread::sleep(Duration::from_millis(50));
        }
        let late = approve(&dir, &[&id]);
        assert_eq!(late.status.code(), Some(1));
        assert!(stderr(&late).contains("timed out"), "{}", stderr(&late));
        signal_gate(&dir, &id, "CONT");
        let reason = held.join().unwrap().denied_by_hook("expired");
        assert!(reason.starts_with("no approval within 4 s"), "{reason}");
    });
    assert!(!ws.join("ran").exists());
}

#[test]
fn approval_gate_killed_by_the_daemon_leaves_nothing_to_approve() {
    // The gate would wait 60 s, but the daemon kills hooks after 1 s.
    let agent = gated("60\n", 1);
    let dir = agent.agent_dir();
    let reason = agent
        .exec("sh", &["-c", "touch ran"], &agent.workspace)
        .denied_by_hook("killed");
    assert!(reason.contains("timed out"), "{reason}");
    // The killed gate could not clean up: its pending file stays, unlocked.
    let [id] = pending_ids(&dir, 1).try_into().unwrap();
    let stale = approve(&dir, &[&id]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(
        stderr(&stale).contains("its gate is gone"),
        "{}",
        stderr(&stale)
    );
    assert!(
        !dir.join(format!("approvals/decisions/{id}")).exists(),
        "no decision recorded for a dead request"
    );
    // Listing clears it away.
    let listing = approve_ok(&dir, &[]);
    assert!(listing.contains(&format!("{id}  removed")), "{listing}");
    assert_eq!(pending_ids(&dir, 0).len(), 0);
    assert!(!agent.workspace.join("ran").exists());
}

#[test]
fn approve_shows_agent_text_escaped_and_takes_only_real_ids() {
    let agent = gated("20\n", 30);
    let dir = agent.agent_dir();
    // A working directory and arguments chosen to fool the person reading the list.
    let sneaky = agent
        .workspace
        .join("x\u{1b}[2K\rapproved: echo hello\u{202e}");
    std::fs::create_dir_all(&sneaky).unwrap();
    std::thread::scope(|scope| {
        let held = hold(scope, &agent, "echo \u{1b}]0;title\u{7}; true", &sneaky);
        let [id] = pending_ids(&dir, 1).try_into().unwrap();
        let listing = approve_ok(&dir, &[]);
        assert!(
            listing.is_ascii() && !listing.bytes().any(|b| b < 0x20 && b != b'\n'),
            "{listing:?}"
        );
        assert!(
            listing.contains("x\\u001b[2K\\rapproved: echo hello\\u202e"),
            "{listing}"
        );
        assert!(
            listing.contains("\"echo \\u001b]0;title\\u0007; true\""),
            "{listing}"
        );
        assert_eq!(listing.lines().count(), 2, "{listing}");
        // Ids are 32 hex digits: nothing else names a file.
        for bad in ["../../etc/passwd", "..", &id[..31], &id.to_uppercase(), ""] {
            let output = approve(&dir, &[bad]);
            assert_eq!(output.status.code(), Some(2), "{bad:?}");
            let output = approve(&dir, &["--deny", bad, "x"]);
            assert_eq!(output.status.code(), Some(2), "--deny {bad:?}");
        }
        approve_ok(&dir, &["--deny", &id]);
        let reason = held.join().unwrap().denied_by_hook("sneaky");
        assert_eq!(reason, "denied by a person: denied");
    });
}
