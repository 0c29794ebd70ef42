//! The real daemon, started as a process with a scratch configuration, driven by raw
//! socket clients speaking the wire protocol.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use airlock_rpc::base64;
use serde_json::{Value, json};

mod support;
use support::{peak_memory, start_daemon, write};

struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
    stdout: BufReader<std::process::ChildStdout>,
}

const SH: &str = "[command]\nbin = \"sh\"\n[[rule]]\nid = \"sh.no-rm\"\naction = \"deny\"\nargs = \"-c=*rm *\"\nreason = \"no deleting\"\n";

impl Daemon {
    fn start() -> Self {
        Self::start_with("", "")
    }

    /// Starts with `cat`'s module replaced by `cat_module`.
    fn start_with_cat(cat_module: &str) -> Self {
        let daemon = Self::start_with("", "");
        write(&daemon.dir.path().join("a1/commands/cat.toml"), cat_module);
        daemon.signal("HUP");
        daemon
    }

    /// Starts with extra `[limits]` lines and extra top-level profile lines.
    fn start_with(limits: &str, profile: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            &root.join("config/config.toml"),
            &format!(
                "[commands]\nenable = [\"cat\", \"sh\"]\n[limits]\n{}{limits}",
                if limits.contains("shutdown_grace_secs") {
                    ""
                } else {
                    "shutdown_grace_secs = 5\n"
                }
            ),
        );
        write(
            &root.join("a1/airlock.toml"),
            &format!(
                "commands = []\n{profile}[env]\nset = {{ PROFILE_VAR = \"from-profile\" }}\n[[mounts]]\ncontainer = \"/workspace\"\nhost = \"ws\"\n"
            ),
        );
        std::fs::create_dir_all(root.join("a1/ws/sub")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("a1/ws/etc-link")).unwrap();
        write(
            &root.join("a1/commands/cat.toml"),
            "[command]\nbin = \"cat\"\n",
        );
        write(&root.join("a1/commands/sh.toml"), SH);
        write(&root.join("agents.toml"), "[a1]\npath = \"a1\"\n");
        let (child, stdout) = start_daemon(root, &[("SECRET_IN_DAEMON_ENV", "daemon-secret")]);
        let socket = root.join("sockets/a1.sock");
        Daemon {
            child,
            dir,
            socket,
            stdout,
        }
    }

    fn connect(&self) -> Client {
        let stream = UnixStream::connect(&self.socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
        }
    }

    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("config/audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Runs a command end to end: the daemon still serves.
    fn assert_serving(&self) {
        let (out, _, end) = self
            .connect()
            .exec("sh", &["-c", "echo alive"], "/workspace");
        assert_eq!(out, b"alive\n");
        assert_eq!(end["result"]["exit_code"], 0, "{end}");
    }

    /// Sends SIGHUP and waits until the daemon says it reloaded.
    fn reload(&mut self) {
        self.signal("HUP");
        let mut line = String::new();
        while !line.contains("configuration reloaded") {
            line.clear();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "daemon exited"
            );
        }
    }

    /// Installs `body` as the agent's `hooks/NAME` with `mode`, and reloads.
    fn install_hook(&mut self, name: &str, body: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join("a1/hooks").join(name);
        write(&path, &format!("#!/bin/sh\n{body}\n"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        self.reload();
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Client {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Client {
    fn send(&mut self, value: Value) {
        let mut line = value.to_string();
        line.push('\n');
        self.stream.write_all(line.as_bytes()).unwrap();
    }

    fn recv(&mut self) -> Value {
        let mut line = String::new();
        assert!(
            self.reader.read_line(&mut line).unwrap() > 0,
            "connection closed"
        );
        serde_json::from_str(&line).unwrap()
    }

    fn hello(&mut self) {
        self.send(json!({"jsonrpc":"2.0","id":0,"method":"hello","params":{"version":1,"capabilities":["binary"]}}));
        let reply = self.recv();
        assert_eq!(reply["result"]["version"], 1, "{reply}");
    }

    /// Sends an exec and collects (stdout, stderr, final message).
    fn exec(&mut self, command: &str, args: &[&str], cwd: &str) -> (Vec<u8>, Vec<u8>, Value) {
        self.send(json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":command,"args":args,"cwd":cwd}}));
        self.collect()
    }

    fn collect(&mut self) -> (Vec<u8>, Vec<u8>, Value) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        loop {
            let message = self.recv();
            if message.get("method") == Some(&json!("output")) {
                let params = &message["params"];
                let bytes = match params.get("data_b64") {
                    Some(b64) => base64::decode(b64.as_str().unwrap()).unwrap(),
                    None => params["data"].as_str().unwrap().as_bytes().to_vec(),
                };
                if params["stream"] == "stdout" {
                    out.extend(bytes)
                } else {
                    err.extend(bytes)
                }
            } else {
                return (out, err, message);
            }
        }
    }
}

#[test]
fn runs_allowed_commands_with_stdin_and_binary_output() {
    let daemon = Daemon::start();
    let mut client = daemon.connect();
    client.hello();
    client.send(json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"cat","args":[],"cwd":"/workspace"}}));
    let input: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    for chunk in input.chunks(50_000) {
        client.send(
            json!({"jsonrpc":"2.0","method":"stdin","params":{"data_b64": base64::encode(chunk)}}),
        );
    }
    client.send(json!({"jsonrpc":"2.0","method":"stdin_eof"}));
    let (out, _, end) = client.collect();
    assert_eq!(end["result"]["exit_code"], 0, "{end}");
    assert!(
        out == input,
        "binary stdin came back changed ({} bytes)",
        out.len()
    );

    let mut client = daemon.connect();
    client.hello();
    let (out, _, end) = client.exec(
        "sh",
        &["-c", "printf '\\377\\000x'; exit 7"],
        "/workspace/sub",
    );
    assert_eq!(out, b"\xff\x00x");
    assert_eq!(end["result"]["exit_code"], 7);
}

#[test]
fn original_clients_get_the_original_shape() {
    let daemon = Daemon::start();
    let mut client = daemon.connect();
    let (out, _, end) = client.exec(
        "sh",
        &[
            "-c",
            "pwd; echo $PROFILE_VAR; echo ${SECRET_IN_DAEMON_ENV:-unset}",
        ],
        "/workspace/sub",
    );
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with("/a1/ws/sub"), "{text}");
    assert_eq!(lines[1], "from-profile");
    assert_eq!(
        lines[2], "unset",
        "the daemon's own environment is not the base"
    );
    assert_eq!(
        end,
        json!({"jsonrpc":"2.0","id":1,"result":{"exit_code":0}})
    );
}

#[test]
fn refusals_carry_codes_and_rules() {
    let daemon = Daemon::start();
    let (_, _, denied) = daemon
        .connect()
        .exec("sh", &["-c", "rm -rf /"], "/workspace");
    assert_eq!(denied["error"]["code"], -32600, "{denied}");
    assert_eq!(denied["error"]["data"]["rule"], "sh.no-rm");
    assert_eq!(denied["error"]["data"]["reason"], "no deleting");
    let (_, _, unknown) = daemon.connect().exec("git", &["status"], "/workspace");
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    let (_, _, outside) = daemon.connect().exec("cat", &["/dev/null"], "/etc");
    assert_eq!(outside["error"]["data"]["rule"], "airlock.cwd", "{outside}");
    let (_, _, link) = daemon
        .connect()
        .exec("cat", &["/dev/null"], "/workspace/etc-link");
    assert_eq!(link["error"]["data"]["rule"], "airlock.cwd", "{link}");
    let mut garbage = daemon.connect();
    garbage.stream.write_all(b"{not json\n").unwrap();
    assert_eq!(garbage.recv()["error"]["code"], -32700);

    let audit = daemon.audit();
    let decisions: Vec<&str> = audit
        .iter()
        .map(|r| r["decision"].as_str().unwrap())
        .collect();
    assert_eq!(
        decisions,
        ["deny", "unknown", "deny", "deny", "error"],
        "{audit:?}"
    );
    assert_eq!(audit[0]["rule"], "sh.no-rm");
    // The line that was not JSON is on record too.
    assert_eq!(audit[4]["rule"], "airlock.protocol", "{audit:?}");
    assert!(audit[0]["peer"]["uid"].is_number());
    let text = serde_json::to_string(&audit).unwrap();
    assert!(
        !text.contains("from-profile"),
        "no environment value in the audit log"
    );
}

#[test]
fn signals_and_disconnects_reach_the_program() {
    let daemon = Daemon::start();
    let mut client = daemon.connect();
    client.hello();
    client.send(json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"sh","args":["-c","echo ready; exec sleep 30"],"cwd":"/workspace"}}));
    let first = client.recv();
    assert_eq!(first["method"], "output");
    client.send(json!({"jsonrpc":"2.0","method":"signal","params":{"signal":"SIGINT"}}));
    let (_, _, end) = client.collect();
    assert_eq!(end["result"]["signal"], 2, "{end}");
    assert_eq!(end["result"]["exit_code"], 130);

    // A client that goes away takes its program with it.
    let mut client = daemon.connect();
    client.send(json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"sh","args":["-c","echo $$; exec sleep 30"],"cwd":"/workspace"}}));
    let pid_line = client.recv();
    let pid: u32 = pid_line["params"]["data"]
        .as_str()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "program {pid} outlived its client"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn oversized_lines_are_refused_and_the_daemon_keeps_serving() {
    let daemon = Daemon::start();
    let mut client = daemon.connect();
    let junk = vec![b'x'; 4 << 20];
    // The daemon stops reading after the limit; the write may fail once it closes.
    let _ = client.stream.write_all(&junk);
    let mut reply = String::new();
    let _ = client.reader.read_line(&mut reply);
    assert!(reply.contains("-32700"), "{reply}");
    daemon.assert_serving();
}

#[test]
fn sigterm_shuts_down_cleanly_and_sighup_survives_a_broken_config() {
    let mut daemon = Daemon::start();
    std::fs::write(
        daemon.dir.path().join("config/config.toml"),
        "[commands]\nenable = []\n",
    )
    .unwrap();
    daemon.signal("HUP");
    // Still serving with the old configuration.
    let (out, _, _) = daemon
        .connect()
        .exec("sh", &["-c", "echo still"], "/workspace");
    assert_eq!(out, b"still\n");
    daemon.signal("TERM");
    let status = daemon.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!daemon.socket.exists(), "socket removed on exit");
    let mut rest = String::new();
    daemon.stdout.read_to_string(&mut rest).unwrap();
}

#[test]
fn connections_over_the_cap_get_an_error_and_the_daemon_keeps_serving() {
    let daemon = Daemon::start_with("max_connections_per_agent = 1\n", "");
    // The first connection holds the only permit while it stays open...
    let mut first = daemon.connect();
    first.hello();
    // ...so a second one is answered with an error and closed.
    let mut second = daemon.connect();
    let reply = second.recv();
    assert_eq!(reply["error"]["code"], -32603, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many connections")
    );
    drop(first);
    // Once the first leaves, the permit is free again (the daemon frees it on close).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (out, _, end) = daemon
            .connect()
            .exec("sh", &["-c", "echo ok"], "/workspace");
        if end.get("result").is_some() {
            assert_eq!(out, b"ok\n");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the permit was never released: {end}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn users_outside_allowed_uids_are_refused() {
    let daemon = Daemon::start_with("", "allowed_uids = [4242]\n");
    let (_, _, reply) = daemon
        .connect()
        .exec("sh", &["-c", "echo no"], "/workspace");
    assert_eq!(reply["error"]["code"], -32600, "{reply}");
    assert_eq!(reply["id"], 1, "the refusal answers the request: {reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("may not use"),
        "{reply}"
    );
    let records = daemon.audit();
    let refused = records
        .iter()
        .find(|r| r["rule"] == "airlock.peer")
        .expect("the refusal is in the audit log");
    assert_eq!(refused["decision"], "deny");
    assert_eq!(refused["command"], "sh");
}

#[test]
fn modules_can_keep_the_agent_off_the_programs_stdin() {
    let daemon = Daemon::start_with_cat("[command]\nbin = \"cat\"\n[exec]\nstdin = false\n");
    // The reload is asynchronous: wait until the new module is in force.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut client = daemon.connect();
        client.hello();
        client.send(json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"cat","args":[],"cwd":"/workspace"}}));
        client.send(
            json!({"jsonrpc":"2.0","method":"stdin","params":{"data_b64": base64::encode(b"yes\n")}}),
        );
        client.send(json!({"jsonrpc":"2.0","method":"stdin_eof"}));
        let (out, _, end) = client.collect();
        assert_eq!(end["result"]["exit_code"], 0, "{end}");
        if out.is_empty() {
            break;
        }
        assert_eq!(out, b"yes\n");
        assert!(
            Instant::now() < deadline,
            "the stdin = false module never took effect"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn post_exec_hooks_filter_output_and_exit_status() {
    let mut daemon = Daemon::start();
    // Replaces all output with one line and reports success, whatever the program did.
    daemon.install_hook(
        "post-exec",
        r#"read -r request
case "$request" in *'"command":"sh"'*'"host_cwd":"/'*) ;; *) echo "bad request line" >&2; exit 1;; esac
seen=0
while read -r line; do case "$line" in *'"stream":"stdout"'*) seen=1;; *'"exit":{"code":3}'*) echo '{"exit_code":0}';; esac; done
echo "{\"stream\":\"stdout\",\"data\":\"filtered $seen\"}""#,
        0o755,
    );
    let (out, err, end) =
        daemon
            .connect()
            .exec("sh", &["-c", "echo AKIASECRET; exit 3"], "/workspace");
    assert_eq!(
        out,
        b"filtered 1",
        "stderr: {}",
        String::from_utf8_lossy(&err)
    );
    assert_eq!(end["result"]["exit_code"], 0, "{end}");
    let record = daemon.audit().pop().unwrap();
    assert_eq!(record["decision"], "allow", "{record}");
    assert_eq!(record["exit_code"], 0, "{record}");
}

#[test]
fn failing_post_exec_hooks_fail_closed() {
    let mut daemon = Daemon::start();
    daemon.install_hook(
        "post-exec",
        "cat >/dev/null; echo 'redactor broke' >&2; exit 1",
        0o755,
    );
    let (out, _, end) = daemon
        .connect()
        .exec("sh", &["-c", "echo private"], "/workspace");
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    assert_eq!(end["error"]["code"], -32603, "{end}");
    let message = end["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("post-exec hook exited with 1: redactor broke"),
        "{message}"
    );
    let record = daemon.audit().pop().unwrap();
    assert_eq!(record["decision"], "error", "{record}");
    assert_eq!(record["rule"], "airlock.post-exec", "{record}");

    // A hook without its run bit: the program never starts.
    daemon.install_hook("post-exec", "cat", 0o644);
    let marker = daemon.dir.path().join("a1/ws/ran");
    let (_, _, end) = daemon
        .connect()
        .exec("sh", &["-c", "touch ran"], "/workspace");
    assert_eq!(end["error"]["code"], -32600, "{end}");
    assert_eq!(end["error"]["data"]["rule"], "airlock.post-exec", "{end}");
    assert!(
        !marker.exists(),
        "the program ran without its post-exec hook"
    );
}

#[test]
fn an_unterminated_300_megabyte_line_stays_bounded() {
    let daemon = Daemon::start();
    // What the daemon holds before any request: mostly the compiled built-in modules.
    let baseline = peak_memory(daemon.child.id());
    let mut client = daemon.connect();
    let junk = vec![b'x'; 1 << 20];
    let mut sent = 0usize;
    // The daemon stops reading at its line limit and closes: writing then fails.
    while sent < 300 << 20 {
        if client.stream.write_all(&junk).is_err() {
            break;
        }
        sent += junk.len();
    }
    let mut reply = String::new();
    let _ = client.reader.read_line(&mut reply);
    assert!(reply.contains("-32700"), "{reply}");
    // A raw stdin header announcing 300 MB is refused the same way, before any byte.
    let mut client = daemon.connect();
    client.send(json!({"jsonrpc":"2.0","id":0,"method":"hello","params":{"version":1,"capabilities":["raw"]}}));
    let _ = client.recv();
    client.send(json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"cat","args":[],"cwd":"/workspace"}}));
    client.send(json!({"jsonrpc":"2.0","method":"stdin","params":{"raw": 300u64 << 20}}));
    let mut closed = String::new();
    loop {
        closed.clear();
        if client.reader.read_line(&mut closed).unwrap_or(0) == 0 {
            break;
        }
    }
    let peak = peak_memory(daemon.child.id());
    assert!(
        peak - baseline < 32 << 20 && peak < 256 << 20,
        "daemon peak memory {peak} bytes ({baseline} before the requests)"
    );
    daemon.assert_serving();
}

#[test]
fn two_hundred_concurrent_commands_run_in_bounded_memory() {
    const N: usize = 200;
    let daemon = Daemon::start_with(
        "max_connections = 512\nmax_connections_per_agent = 256\n",
        "",
    );
    // What the daemon holds before any request: mostly the compiled built-in modules.
    let baseline = peak_memory(daemon.child.id());
    // Each `cat` waits for its stdin, so all of them run at once.
    let mut clients: Vec<Client> = (0..N)
        .map(|_| {
            let mut client = daemon.connect();
            client.hello();
            client.send(json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"cat","args":[],"cwd":"/workspace"}}));
            client
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = children_of(daemon.child.id());
        if running >= N {
            break;
        }
        assert!(Instant::now() < deadline, "only {running} of {N} started");
        std::thread::sleep(Duration::from_millis(20));
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let data = format!("client {i}\n");
        client.send(
            json!({"jsonrpc":"2.0","method":"stdin","params":{"data_b64": base64::encode(data.as_bytes())}}),
        );
        client.send(json!({"jsonrpc":"2.0","method":"stdin_eof"}));
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let (out, _, end) = client.collect();
        assert_eq!(end["result"]["exit_code"], 0, "{end}");
        assert_eq!(out, format!("client {i}\n").as_bytes());
    }
    let peak = peak_memory(daemon.child.id());
    assert!(
        peak - baseline < 32 << 20 && peak < 256 << 20,
        "daemon peak memory {peak} bytes ({baseline} before the requests)"
    );
    assert_eq!(
        daemon
            .audit()
            .iter()
            .filter(|r| r["command"] == "cat" && r["exit_code"] == 0)
            .count(),
        N
    );
}

/// How many processes have `pid` as their parent.
fn children_of(pid: u32) -> usize {
    let parent = pid.to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter(|stat| {
            // The fields after the command's closing parenthesis: state, ppid, ...
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                == Some(parent.as_str())
        })
        .count()
}

#[test]
fn a_module_timeout_kills_the_program_and_says_so() {
    let mut daemon = Daemon::start();
    write(
        &daemon.dir.path().join("a1/commands/sh.toml"),
        &format!("{SH}[exec]\ntimeout_secs = 1\n"),
    );
    daemon.reload();
    let mut client = daemon.connect();
    client.hello();
    client.send(json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"sh","args":["-c","echo $$; exec sleep 60"],"cwd":"/workspace"}}));
    let (out, err, end) = client.collect();
    assert_eq!(
        end["result"]["signal"], 15,
        "asked to stop, it stopped: {end}"
    );
    let told = String::from_utf8_lossy(&err);
    assert!(
        told.starts_with("airlock: stopped after ") && told.ends_with(" s (timeout)\n"),
        "the agent is told why: {told}"
    );
    let pid = String::from_utf8(out).unwrap().trim().to_owned();
    // Killed and reaped: not even a zombie is left.
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "{pid} remains"
    );
    let record = daemon.audit().pop().unwrap();
    assert_eq!(record["signal"], 15, "{record}");
    assert_eq!(record["reason"], "stopped: timeout", "{record}");
}

#[test]
fn sigterm_lets_running_commands_finish_within_the_grace_then_kills_the_rest() {
    let mut daemon = Daemon::start_with("shutdown_grace_secs = 1\n", "");
    let start = |script: &str| {
        let mut client = daemon.connect();
        client.hello();
        client.send(json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"sh","args":["-c",script],"cwd":"/workspace"}}));
        // The program runs once it has printed.
        assert_eq!(client.recv()["method"], "output");
        client
    };
    let mut short = start("echo started; sleep 0.3; echo done");
    let mut long = start("echo started; exec sleep 60");
    daemon.signal("TERM");
    let (out, _, end) = short.collect();
    assert_eq!(out, b"done\n", "a command inside the grace period finishes");
    assert_eq!(end["result"]["exit_code"], 0, "{end}");
    let (_, err, end) = long.collect();
    assert_eq!(end["result"]["signal"], 15, "the rest is stopped: {end}");
    assert!(
        String::from_utf8_lossy(&err).contains("(shutdown)"),
        "{}",
        String::from_utf8_lossy(&err)
    );
    let status = daemon.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!daemon.socket.exists());
}

/// Reads what is left on a connection until the daemon closes it.
fn rest_of(client: &mut Client) -> String {
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut client.reader, &mut rest);
    rest
}

#[test]
fn idle_and_malformed_connections_are_closed_and_raw_needs_hello() {
    let daemon = Daemon::start_with("idle_timeout_secs = 1\n", "");
    // Half a request, then silence: answered and closed after the idle timeout.
    let mut slow = daemon.connect();
    slow.stream.write_all(b"{\"jsonrpc\":\"2.0\",").unwrap();
    let started = Instant::now();
    let rest = rest_of(&mut slow);
    assert!(rest.contains("no request in time"), "{rest}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // A line that is not JSON: -32700, and the connection is closed.
    let mut bad = daemon.connect();
    bad.stream.write_all(b"this is not json\n").unwrap();
    let reply = bad.recv();
    assert_eq!(reply["error"]["code"], -32700, "{reply}");
    assert_eq!(rest_of(&mut bad), "", "closed after the parse error");
    // Raw bytes without `raw` agreed in hello: refused, closed, nothing run.
    let mut raw = daemon.connect();
    raw.stream
        .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"stdin\",\"params\":{\"raw\":3}}\nabc")
        .unwrap();
    let reply = raw.recv();
    assert_eq!(reply["error"]["code"], -32700, "{reply}");
    assert!(
        reply["error"]["message"].as_str().unwrap().contains("raw"),
        "{reply}"
    );
    daemon.assert_serving();
}

#[test]
fn connection_caps_follow_a_reload() {
    let mut daemon = Daemon::start();
    let first = daemon.connect();
    let mut second = daemon.connect();
    second.hello();
    write(
        &daemon.dir.path().join("config/config.toml"),
        "[commands]\nenable = [\"cat\", \"sh\"]\n[limits]\nmax_connections_per_agent = 1\nshutdown_grace_secs = 5\n",
    );
    daemon.reload();
    // Two are open already (they stay); a third is over the new cap of one.
    let mut third = daemon.connect();
    let reply = third.recv();
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many connections"),
        "{reply}"
    );
    drop((first, second));
}

/// The records with `rule`, once there are at least `count` (waiting a moment).
fn record_with_rule(daemon: &Daemon, rule: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found: Vec<Value> = daemon
            .audit()
            .into_iter()
            .filter(|r| r["rule"] == rule)
            .collect();
        if found.len() >= count {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no {count} records with {rule}: {:?}",
            daemon.audit()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_connection_over_the_cap_is_answered_by_id_and_on_record() {
    let daemon = Daemon::start_with("max_connections_per_agent = 1\n", "");
    let mut first = daemon.connect();
    first.hello();
    let mut busy = daemon.connect();
    busy.send(json!({"jsonrpc":"2.0","id":7,"method":"exec","params":{"command":"sh","args":["-c","echo no"],"cwd":"/workspace"}}));
    let reply = busy.recv();
    assert_eq!(reply["id"], 7, "the refusal answers the request: {reply}");
    assert_eq!(reply["error"]["code"], -32603, "{reply}");
    let records = record_with_rule(&daemon, "airlock.busy", 1);
    assert_eq!(records[0]["command"], "sh", "{records:?}");
    assert_eq!(records[0]["argv"], json!(["-c", "echo no"]), "{records:?}");
    assert_eq!(records[0]["decision"], "error");
    drop(first);
}

#[test]
fn every_refused_request_is_answered_and_on_record() {
    let daemon = Daemon::start_with("idle_timeout_secs = 1\n", "");
    // A line that is not JSON.
    let mut bad = daemon.connect();
    bad.stream.write_all(b"this is not json\n").unwrap();
    assert_eq!(bad.recv()["error"]["code"], -32700);
    let records = record_with_rule(&daemon, "airlock.protocol", 1);
    assert_eq!(records[0]["decision"], "error", "{records:?}");
    // A request that is JSON but not a request: answered by id.
    let mut invalid = daemon.connect();
    invalid.send(json!({"jsonrpc":"2.0","id":3,"method":"exec","params":{"args":"not a list"}}));
    let reply = invalid.recv();
    assert_eq!(reply["id"], 3, "{reply}");
    assert_eq!(reply["error"]["code"], -32600, "{reply}");
    record_with_rule(&daemon, "airlock.protocol", 2);
    // A line longer than the limit.
    let mut long = daemon.connect();
    let _ = long.stream.write_all(&vec![b'x'; 2 << 20]);
    let mut reply = String::new();
    let _ = long.reader.read_line(&mut reply);
    assert!(reply.contains("-32700"), "{reply}");
    let records = record_with_rule(&daemon, "airlock.protocol", 3);
    assert!(
        records[2]["reason"]
            .as_str()
            .unwrap()
            .contains("longer than"),
        "{records:?}"
    );
    // A second command while the first runs: refused by its id, on record, and the
    // first one runs to its end.
    let mut twice = daemon.connect();
    twice.send(json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"sh","args":["-c","sleep 0.5; echo first"],"cwd":"/workspace"}}));
    twice.send(json!({"jsonrpc":"2.0","id":2,"method":"exec","params":{"command":"sh","args":["-c","echo second"],"cwd":"/workspace"}}));
    let refused = twice.recv();
    assert_eq!(refused["id"], 2, "{refused}");
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    let (out, _, end) = twice.collect();
    assert_eq!(out, b"first\n");
    assert_eq!(end["id"], 1, "{end}");
    assert_eq!(end["result"]["exit_code"], 0, "{end}");
    let records = record_with_rule(&daemon, "airlock.protocol", 4);
    assert_eq!(records[3]["decision"], "deny", "{records:?}");
    assert_eq!(records[3]["argv"], json!(["-c", "echo second"]));
    // Nothing in time.
    let mut idle = daemon.connect();
    let rest = rest_of(&mut idle);
    assert!(rest.contains("no request in time"), "{rest}");
    let records = record_with_rule(&daemon, "airlock.idle", 1);
    assert_eq!(records[0]["decision"], "error", "{records:?}");
    daemon.assert_serving();
}

#[test]
fn a_client_that_stops_reading_does_not_hold_its_connection_or_its_record() {
    let mut daemon =
        Daemon::start_with("idle_timeout_secs = 1\nmax_connections_per_agent = 1\n", "");
    write(
        &daemon.dir.path().join("a1/commands/sh.toml"),
        &format!("{SH}[exec]\ntimeout_secs = 1\n"),
    );
    daemon.reload();
    // The program floods; the client never reads (and stays connected).
    let mut client = daemon.connect();
    client.send(json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"sh","args":["-c","head -c 100000000 /dev/zero"],"cwd":"/workspace"}}));
    let started = Instant::now();
    // The timeout stops the program; the end of the run is on record although the
    // client still has not read anything.
    let deadline = Instant::now() + Duration::from_secs(30);
    let end = loop {
        if let Some(end) = daemon
            .audit()
            .into_iter()
            .find(|r| r["command"] == "sh" && r["decision"] == "allow")
        {
            break end;
        }
        assert!(
            Instant::now() < deadline,
            "no end record while the client does not read: {:?}",
            daemon.audit()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(end["reason"], "stopped: timeout", "{end}");
    // And the only connection slot is free again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (out, _, end) = daemon
            .connect()
            .exec("sh", &["-c", "echo ok"], "/workspace");
        if end.get("result").is_some() {
            assert_eq!(out, b"ok\n");
            break;
        }
        assert!(Instant::now() < deadline, "the slot was never freed: {end}");
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("stalled client: slot free after {:?}", started.elapsed());
    drop(client);
}

/// A program the daemon would find inside an agent's mount (its `PATH` leads there) is
/// refused, not run: the agent could have put its own there, and the daemon would run
/// it with the credentials it hands the real one (shown before the check: the daemon
/// ran the planted `true`, which wrote `id` into the workspace). Control: the same
/// `PATH` order with the planted program outside every mount: it is what runs, so the
/// refusal is the check's and not the search's.
#[test]
fn a_program_found_inside_a_mount_is_refused_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    write(
        &root.join("config/config.toml"),
        "[commands]\nenable = [\"true\"]\n",
    );
    write(
        &root.join("a1/airlock.toml"),
        "commands = [\"true\"]\n[[mounts]]\ncontainer = \"/workspace\"\nhost = \"ws\"\n",
    );
    write(
        &root.join("a1/commands/true.toml"),
        "[command]\nbin = \"true\"\n",
    );
    write(&root.join("agents.toml"), "[a1]\npath = \"a1\"\n");
    let ws = root.join("a1/ws");
    let plant = |dir: &Path, marker: &str| {
        use std::os::unix::fs::PermissionsExt;
        let program = dir.join("true");
        let script = format!("#!/bin/sh\nid > {}\n", ws.join(marker).display());
        write(&program, &script);
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let run = |path_dir: &Path| {
        let path = format!("{}:/usr/bin:/bin", path_dir.display());
        let (mut daemon, _out) = start_daemon(&root, &[("PATH", path.as_str())]);
        let mut stream = UnixStream::connect(root.join("sockets/a1.sock")).unwrap();
        stream
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"exec\",\"params\":{\"command\":\"true\",\"args\":[],\"cwd\":\"/workspace\"}}\n")
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let _ = daemon.kill();
        let _ = daemon.wait();
        reply
    };

    plant(&ws, "PLANTED-RAN");
    let reply = run(&ws);
    assert!(reply.contains("airlock.program"), "{reply}");
    assert!(reply.contains("inside agent `a1`'s mount"), "{reply}");
    assert!(!ws.join("PLANTED-RAN").exists(), "the planted program ran");

    let outside = root.join("bin");
    plant(&outside, "OUTSIDE-RAN");
    let reply = run(&outside);
    assert!(reply.contains("\"exit_code\":0"), "{reply}");
    assert!(
        ws.join("OUTSIDE-RAN").exists(),
        "control: the program outside did not run"
    );
}
