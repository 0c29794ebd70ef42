//! The real shim binary, run under a command's name against an in-process fake daemon.
//! (Here, not in `airlock-shim/`: the shim's workspace has no std, and its tests need it.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;

use airlock_rpc::base64;
use serde_json::{Value, json};

#[allow(
    dead_code,
    reason = "these tests need only the shim from the shared helpers"
)]
mod support;

struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Conn {
    fn recv(&mut self) -> Value {
        let mut line = String::new();
        assert!(
            self.reader.read_line(&mut line).unwrap() > 0,
            "shim closed the connection"
        );
        serde_json::from_str(&line).unwrap()
    }

    fn send(&mut self, value: Value) {
        self.raw(format!("{value}\n").as_bytes());
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// Answers `hello` and returns the `exec` request's params.
    fn handshake(&mut self) -> Value {
        let hello = self.recv();
        assert_eq!(hello["method"], "hello");
        self.send(json!({"jsonrpc":"2.0","id":hello["id"],"result":{"version":1,"capabilities":["binary","stdin","signals"]}}));
        let exec = self.recv();
        assert_eq!(exec["method"], "exec");
        exec["params"].clone()
    }

    fn output(&mut self, stream: &str, bytes: &[u8]) {
        self.send(json!({"jsonrpc":"2.0","method":"output","params":{"stream":stream,"data_b64":base64::encode(bytes)}}));
    }
}

struct Fake {
    dir: tempfile::TempDir,
    socket: PathBuf,
    server: JoinHandle<Value>,
}

/// A fake daemon serving one connection with `script`; returns what the script returns.
fn fake(script: impl FnOnce(&mut Conn) -> Value + Send + 'static) -> Fake {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        // A shim that stops talking fails the test instead of hanging it.
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let mut conn = Conn {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        script(&mut conn)
    });
    Fake {
        dir,
        socket,
        server,
    }
}

/// The shim, linked as `name` in `dir`.
fn shim(dir: &Path, name: &str) -> Command {
    let link = dir.join(name);
    if !link.exists() {
        std::os::unix::fs::symlink(support::shim_binary(), &link).unwrap();
    }
    Command::new(link)
}

fn run(fake: &Fake, name: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = shim(fake.dir.path(), name)
        .args(args)
        .env("AIRLOCK_SOCKET", &fake.socket)
        .current_dir(fake.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

#[test]
fn sends_the_command_and_relays_stdin_and_binary_output() {
    let fake = fake(|conn| {
        let params = conn.handshake();
        let mut received = Vec::new();
        loop {
            let message = conn.recv();
            match message["method"].as_str().unwrap() {
                "stdin" => received.extend(
                    base64::decode(message["params"]["data_b64"].as_str().unwrap()).unwrap(),
                ),
                "stdin_eof" => break,
                other => panic!("unexpected {other}"),
            }
        }
        // Echo it back, in two streams, then exit 3.
        for chunk in received.chunks(100_000) {
            conn.output("stdout", chunk);
        }
        conn.output("stderr", b"\xffwarn");
        conn.send(json!({"jsonrpc":"2.0","id":1,"result":{"exit_code":3}}));
        params
    });
    let input: Vec<u8> = (0..=255u8).cycle().take(3_000_000).collect();
    let output = run(&fake, "git", &["commit", "-m", "a b"], &input);
    let params = fake.server.join().unwrap();
    assert_eq!(params["command"], "git");
    assert_eq!(params["args"], json!(["commit", "-m", "a b"]));
    let cwd = std::fs::canonicalize(fake.dir.path()).unwrap();
    assert_eq!(params["cwd"], cwd.to_str().unwrap());
    assert_eq!(output.status.code(), Some(3));
    assert!(
        output.stdout == input,
        "stdout differs ({} bytes)",
        output.stdout.len()
    );
    assert_eq!(output.stderr, b"\xffwarn");
}

#[test]
fn exits_128_plus_the_signal_and_forwards_signals() {
    let fake = fake(|conn| {
        conn.handshake();
        conn.output("stdout", b"ready\n");
        loop {
            let message = conn.recv();
            if message["method"] == "signal" {
                conn.send(json!({"jsonrpc":"2.0","id":1,"result":{"exit_code":130,"signal":2}}));
                return message["params"]["signal"].clone();
            }
        }
    });
    let mut child = shim(fake.dir.path(), "terraform")
        .arg("apply")
        .env("AIRLOCK_SOCKET", &fake.socket)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(fake.server.join().unwrap(), "SIGINT");
    assert_eq!(status.code(), Some(130));
}

#[test]
fn denials_and_unknown_commands_have_their_own_exit_codes() {
    let fake_denied = fake(|conn| {
        conn.handshake();
        conn.send(json!({"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"denied","data":{"rule":"git.upload-pack","reason":"runs a command on the host"}}}));
        Value::Null
    });
    let output = run(&fake_denied, "git", &["fetch", "--upload-pack=x"], b"");
    assert_eq!(output.status.code(), Some(126));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr,
        "airlock: git: denied by rule `git.upload-pack`: runs a command on the host\n"
    );

    let fake_unknown = fake(|conn| {
        conn.handshake();
        conn.send(json!({"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"unknown command `rm`"}}));
        Value::Null
    });
    let output = run(&fake_unknown, "rm", &["-rf", "/"], b"");
    assert_eq!(output.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("airlock: rm: not available"));
}

#[test]
fn protocol_errors_exit_124_without_panicking() {
    for script in [
        (|conn: &mut Conn| {
            conn.handshake();
            conn.raw(b"garbage\n");
            Value::Null
        }) as fn(&mut Conn) -> Value,
        |conn| {
            conn.handshake();
            conn.output("stdout", b"partial");
            Value::Null // closes mid-stream
        },
        |conn| {
            conn.handshake();
            conn.raw(&vec![b'x'; 3 << 20]);
            Value::Null
        },
        |conn| {
            let _ = conn.recv();
            conn.raw(b"{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"exit_code\":0}\n");
            Value::Null
        },
    ] {
        let fake = fake(script);
        let output = run(&fake, "git", &["status"], b"");
        let _ = fake.server.join();
        assert_eq!(
            output.status.code(),
            Some(124),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.starts_with("airlock: git: "), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn cannot_connect_says_which_socket() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.sock");
    let output = shim(dir.path(), "git")
        .arg("status")
        .env("AIRLOCK_SOCKET", &missing)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(125));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains(missing.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("is the daemon running"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
}

#[test]
fn under_its_own_name_it_explains_itself() {
    let output = Command::new(support::shim_binary()).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("ln -s"), "{text}");
    assert!(text.contains("AIRLOCK_SOCKET"));
}

#[test]
fn an_argument_that_is_not_utf8_is_refused_not_replaced() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens: the shim must refuse before it connects.
    let output = shim(dir.path(), "git")
        .arg("log")
        .arg(std::ffi::OsStr::from_bytes(b"--grep=\xff"))
        .env("AIRLOCK_SOCKET", dir.path().join("none.sock"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(126));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("argument 2"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The shim's stdin and stdout are closed when it starts: its socket, opened next, must
/// not take descriptor 0 or 1 (std opened `/dev/null` on them; the shim without std does
/// the same). Without that, the daemon's messages would be read as stdin, or the
/// program's output written into the socket.
#[test]
fn a_closed_stdin_or_stdout_is_not_taken_by_the_socket() {
    for (redirect, name) in [("<&-", "stdin"), (">&-", "stdout")] {
        let fake = fake(|conn| {
            conn.handshake();
            conn.output("stdout", b"program-output\n");
            let mut stdin = Vec::new();
            loop {
                let message = conn.recv();
                match message["method"].as_str() {
                    Some("stdin_eof") => break,
                    Some("stdin") => stdin.push(message["params"].clone()),
                    _ => panic!("unexpected {message}"),
                }
            }
            conn.send(json!({"jsonrpc":"2.0","id":1,"result":{"exit_code":0}}));
            // Whatever else the shim writes before it closes the connection.
            let mut rest = Vec::new();
            std::io::Read::read_to_end(&mut conn.reader, &mut rest).unwrap();
            json!({"stdin": stdin, "rest": String::from_utf8_lossy(&rest)})
        });
        let link = fake.dir.path().join("git");
        std::os::unix::fs::symlink(support::shim_binary(), &link).unwrap();
        let output = Command::new("sh")
            .arg("-c")
            .arg(format!("exec \"$0\" status {redirect}"))
            .arg(&link)
            .env("AIRLOCK_SOCKET", &fake.socket)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let seen = fake.server.join().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name} closed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(seen["stdin"], json!([]), "{name} closed: {seen}");
        assert_eq!(seen["rest"], "", "{name} closed: {seen}");
        if name == "stdin" {
            assert_eq!(output.stdout, b"program-output\n");
        }
    }
}

/// The daemon sends much output before it reads any stdin, while the shim has much
/// stdin to send: the shim must go on reading output while its stdin waits, or both
/// sides wait on each other for ever (a program such as `cat` fed a large file).
#[test]
fn output_flows_while_stdin_waits_to_be_read() {
    const OUT: usize = 4 << 20;
    let fake = fake(|conn| {
        conn.handshake();
        let chunk = vec![b'o'; 64 * 1024];
        for _ in 0..OUT / chunk.len() {
            conn.output("stdout", &chunk);
        }
        let mut received = 0usize;
        loop {
            let message = conn.recv();
            match message["method"].as_str() {
                Some("stdin") => {
                    received += base64::decode(message["params"]["data_b64"].as_str().unwrap())
                        .unwrap()
                        .len();
                }
                Some("stdin_eof") => break,
                _ => panic!("unexpected {message}"),
            }
        }
        conn.send(json!({"jsonrpc":"2.0","id":1,"result":{"exit_code":0}}));
        json!(received)
    });
    let input = vec![b'i'; 4 << 20];
    let output = run(&fake, "cat", &[], &input);
    assert_eq!(fake.server.join().unwrap(), json!(input.len()));
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(output.stdout.len(), OUT);
}
