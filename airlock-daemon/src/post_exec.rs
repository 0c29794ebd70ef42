//! The post-exec hook: a filter between the program and the client that may rewrite
//! output and the exit status. It runs beside the program and works on the stream, so
//! the daemon never holds more than a few chunks of output, however long the run.
//!
//! The hook's stdin is NDJSON: first the request (as the pre-exec hook sees it), then
//! one `{"stream":"stdout"|"stderr","data_b64":"..."}` per chunk of output in the
//! order the program wrote it (chunks are cut anywhere, at most 256 KiB), and last
//! `{"exit":{"code":N}}` or `{"exit":{"signal":N}}`, then end of input. Its stdout is
//! NDJSON the daemon forwards to the client: `{"stream":..,"data":"text"}` or
//! `{"stream":..,"data_b64":".."}`, and `{"exit_code":N}` (0 to 255) to replace the
//! exit status reported. Each line is at most [`MAX_LINE`] bytes.
//!
//! It fails closed: a hook that cannot start, exits non-zero, dies, prints a line that
//! is none of the above or longer than the cap, stops reading its input, or is still
//! running [`the hook timeout`](airlock_core::Limits::hook_timeout) after the program
//! ended, kills the program and turns the reply into an error. Output the hook has
//! already passed on has reached the client; nothing else does.

use std::path::Path;
use std::time::Duration;

use airlock_rpc::base64;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::executor::{Exit, Finished, Stream};
use crate::hooks::HookRequest;

/// The longest line a post-exec hook may print (1 MiB).
pub const MAX_LINE: usize = 1024 * 1024;

/// How much of the hook's stderr is kept for the error message.
const STDERR_KEPT: usize = 4096;

/// A running program's output, chunk by chunk.
pub type Output = mpsc::Receiver<(Stream, Vec<u8>)>;

/// A running program: resolves to how it ended.
pub type Running = JoinHandle<Result<Finished, RunError>>;

/// Why a run did not end with an exit status for the client.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program could not be started.
    #[error("cannot start the program: {0}")]
    Start(#[source] std::io::Error),
    /// The post-exec hook failed; the program was killed.
    #[error("post-exec hook {0}")]
    PostExec(String),
    /// A task of the daemon failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A started post-exec hook, not yet wired to a program.
#[derive(Debug)]
pub struct Hook {
    child: Child,
    timeout: Duration,
}

impl Hook {
    /// Starts the hook at `path` in `dir` with exactly `env`, and hands it the request
    /// line. Fails (and the program must not run) when it is not an executable file or
    /// cannot start.
    pub async fn start(
        path: &Path,
        dir: &Path,
        env: &[(String, String)],
        request: &HookRequest<'_>,
        timeout: Duration,
    ) -> Result<Self, String> {
        if !crate::doctor::is_executable(path) {
            return Err(format!(
                "post-exec hook `{}` is not an executable file",
                path.display()
            ));
        }
        let mut line =
            serde_json::to_vec(request).map_err(|e| format!("post-exec hook input: {e}"))?;
        line.push(b'\n');
        let mut command = crate::hooks::hook_command(path, dir, env);
        command.env("AIRLOCK_HOOK", "post-exec");
        let mut child = crate::hooks::spawn_hook(&mut command)
            .await
            .map_err(|e| format!("post-exec hook could not start: {e}"))?;
        if let Some(stdin) = child.stdin.as_mut() {
            // A pipe holds far more than one request line; a hook that died at once
            // shows up when the output is filtered.
            let _ = stdin.write_all(&line).await;
        }
        Ok(Self { child, timeout })
    }

    /// Puts the hook between a running program (its `output` and its `run`) and the
    /// client: returns the filtered output and the run's end. `cancel` kills the
    /// program when the hook fails.
    pub fn filter(
        self,
        output: Output,
        run: Running,
        cancel: CancellationToken,
    ) -> (Output, Running) {
        let (filtered_tx, filtered_rx) = mpsc::channel(16);
        let handle = tokio::spawn(filter(self, output, run, cancel, filtered_tx));
        (filtered_rx, handle)
    }
}

/// One line the hook printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookLine {
    /// Output for the client.
    Output(Stream, Vec<u8>),
    /// The exit code to report instead of the program's.
    ExitCode(i32),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    stream: Option<String>,
    data: Option<String>,
    data_b64: Option<String>,
    exit_code: Option<i64>,
}

/// Reads one line of the hook's output; the error says what is wrong with it.
pub fn parse_line(line: &[u8]) -> Result<HookLine, String> {
    let raw: RawLine = serde_json::from_slice(line)
        .map_err(|e| format!("printed a line that is not an output line: {e}"))?;
    let stream = match raw.stream.as_deref() {
        None => None,
        Some("stdout") => Some(Stream::Stdout),
        Some("stderr") => Some(Stream::Stderr),
        Some(other) => return Err(format!("printed an unknown stream `{other}`")),
    };
    match (stream, raw.data, raw.data_b64, raw.exit_code) {
        (Some(stream), Some(text), None, None) => Ok(HookLine::Output(stream, text.into_bytes())),
        (Some(stream), None, Some(b64), None) => base64::decode(&b64)
            .map(|bytes| HookLine::Output(stream, bytes))
            .ok_or_else(|| "printed `data_b64` that is not base64".to_owned()),
        (None, None, None, Some(code)) => match i32::try_from(code) {
            Ok(code) if (0..=255).contains(&code) => Ok(HookLine::ExitCode(code)),
            _ => Err(format!("printed exit_code {code}, not between 0 and 255")),
        },
        _ => Err("printed a line that is neither output (`stream` with `data` or `data_b64`) nor `exit_code`".to_owned()),
    }
}

/// The input line for a chunk of output.
fn chunk_line(stream: Stream, data: &[u8]) -> Vec<u8> {
    let encoded = base64::encode(data);
    let mut line = Vec::with_capacity(encoded.len() + 40);
    line.extend_from_slice(b"{\"stream\":\"");
    line.extend_from_slice(stream.name().as_bytes());
    line.extend_from_slice(b"\",\"data_b64\":\"");
    line.extend_from_slice(encoded.as_bytes());
    line.extend_from_slice(b"\"}\n");
    line
}

/// The input line for the program's end.
fn exit_line(exit: Exit) -> Vec<u8> {
    match exit {
        Exit::Code(code) => format!("{{\"exit\":{{\"code\":{code}}}}}\n"),
        Exit::Signal(signal) => format!("{{\"exit\":{{\"signal\":{signal}}}}}\n"),
    }
    .into_bytes()
}

/// Writes the program's output and then its end to the hook. Returns whether the
/// hook took everything; when it stops reading, the program is cancelled and its
/// output drained so that it can end.
async fn feed(
    mut stdin: ChildStdin,
    mut output: mpsc::Receiver<(Stream, Vec<u8>)>,
    exit: oneshot::Receiver<Exit>,
    cancel: CancellationToken,
) -> bool {
    let mut open = true;
    while let Some((stream, data)) = output.recv().await {
        if open && stdin.write_all(&chunk_line(stream, &data)).await.is_err() {
            open = false;
            cancel.cancel();
        }
    }
    let Ok(exit) = exit.await else {
        return false;
    };
    open = open && stdin.write_all(&exit_line(exit)).await.is_ok();
    let _ = stdin.shutdown().await;
    open
}

async fn filter(
    mut hook: Hook,
    output: mpsc::Receiver<(Stream, Vec<u8>)>,
    mut run: JoinHandle<Result<Finished, RunError>>,
    cancel: CancellationToken,
    filtered: mpsc::Sender<(Stream, Vec<u8>)>,
) -> Result<Finished, RunError> {
    let (Some(stdin), Some(stdout), Some(stderr)) = (
        hook.child.stdin.take(),
        hook.child.stdout.take(),
        hook.child.stderr.take(),
    ) else {
        cancel.cancel();
        return Err(RunError::Internal("post-exec hook without pipes".into()));
    };
    let (exit_tx, exit_rx) = oneshot::channel();
    let feeder = tokio::spawn(feed(stdin, output, exit_rx, cancel.clone()));
    let errors = tokio::spawn(keep_head(stderr));
    let mut lines = airlock_rpc::LineReader::new(BufReader::new(stdout), MAX_LINE);
    let mut exit_tx = Some(exit_tx);
    let mut finished: Option<Finished> = None;
    let mut exit_code = None;
    // Set once the program has ended: the hook then has `timeout` to finish.
    let deadline = tokio::time::sleep(Duration::MAX);
    tokio::pin!(deadline);
    let failure = loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => match parse_line(&line) {
                    Ok(HookLine::Output(stream, data)) => {
                        // A client that left no longer reads; the run ends anyway.
                        let _ = filtered.send((stream, data)).await;
                    }
                    Ok(HookLine::ExitCode(code)) => exit_code = Some(code),
                    Err(why) => break Some(why),
                },
                Ok(None) if finished.is_some() => break None,
                Ok(None) => break Some("stopped before the program ended".to_owned()),
                Err(e) => break Some(format!("output: {e}")),
            },
            result = &mut run, if finished.is_none() => {
                let done = match result {
                    Ok(Ok(done)) => done,
                    Ok(Err(e)) => {
                        hook.kill();
                        return Err(e);
                    }
                    Err(e) => {
                        hook.kill();
                        return Err(RunError::Internal(e.to_string()));
                    }
                };
                if let Some(tx) = exit_tx.take() {
                    let _ = tx.send(done.exit);
                }
                finished = Some(done);
                deadline.as_mut().reset(tokio::time::Instant::now() + hook.timeout);
            }
            () = &mut deadline => {
                break Some(format!(
                    "still ran {} s after the program ended",
                    hook.timeout.as_secs_f64()
                ));
            }
        }
    };
    let failure = match failure {
        Some(why) => Some(why),
        None => {
            let remaining = deadline
                .deadline()
                .saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(remaining, hook.child.wait()).await {
                Ok(Ok(status)) if status.success() => None,
                Ok(Ok(status)) => Some(describe(status, &errors.await.unwrap_or_default())),
                Ok(Err(e)) => Some(format!("could not be waited for: {e}")),
                Err(_) => Some(format!(
                    "still ran {} s after the program ended",
                    hook.timeout.as_secs_f64()
                )),
            }
        }
    };
    if let Some(why) = failure {
        cancel.cancel();
        hook.kill();
        feeder.abort();
        if finished.is_none() {
            // Reap the program (the executor kills and waits for it).
            let _ = run.await;
        }
        return Err(RunError::PostExec(why));
    }
    let took_everything = feeder.await.unwrap_or(false);
    let Some(mut done) = finished else {
        return Err(RunError::Internal("the run did not end".into()));
    };
    if !took_everything {
        return Err(RunError::PostExec(
            "stopped reading the program's output".into(),
        ));
    }
    if let Some(code) = exit_code {
        done.exit = Exit::Code(code);
    }
    Ok(done)
}

impl Hook {
    /// Kills the hook's whole process group.
    fn kill(&mut self) {
        let group = crate::executor::process_group(&self.child);
        crate::executor::kill_group(group, &mut self.child);
    }
}

/// Keeps the first bytes of the hook's stderr and drains the rest.
async fn keep_head(mut stderr: tokio::process::ChildStderr) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = STDERR_KEPT.saturating_sub(kept.len());
        kept.extend_from_slice(buf.get(..n.min(room)).unwrap_or(&[]));
    }
    kept
}

fn describe(status: std::process::ExitStatus, stderr: &[u8]) -> String {
    use std::os::unix::process::ExitStatusExt;
    let said = String::from_utf8_lossy(stderr);
    let said = said.lines().map(str::trim).find(|l| !l.is_empty());
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with {code}"),
        (None, Some(signal)) => format!("died of signal {signal}"),
        (None, None) => "failed".to_owned(),
    };
    match said {
        Some(line) => format!("{how}: {}", line.chars().take(512).collect::<String>()),
        None => how,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::{self, Input, Spec};
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    #[test]
    fn hook_lines_are_read_strictly() {
        assert_eq!(
            parse_line(br#"{"stream":"stdout","data":"hi"}"#),
            Ok(HookLine::Output(Stream::Stdout, b"hi".to_vec()))
        );
        assert_eq!(
            parse_line(br#"{"stream":"stderr","data_b64":"AP8="}"#),
            Ok(HookLine::Output(Stream::Stderr, vec![0, 255]))
        );
        assert_eq!(parse_line(br#"{"exit_code":3}"#), Ok(HookLine::ExitCode(3)));
        for bad in [
            &br#"{"stream":"stdin","data":"x"}"#[..],
            br#"{"stream":"stdout"}"#,
            br#"{"stream":"stdout","data":"a","data_b64":"YQ=="}"#,
            br#"{"stream":"stdout","data_b64":"!!"}"#,
            br#"{"exit_code":256}"#,
            br#"{"exit_code":-1}"#,
            br#"{"exit_code":1,"stream":"stdout"}"#,
            br#"{"stream":"stdout","data":"x","extra":1}"#,
            b"plain text",
            b"{}",
        ] {
            assert!(parse_line(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn input_lines_are_json() {
        let line = chunk_line(Stream::Stderr, &[0, 1, 255]);
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["stream"], "stderr");
        assert_eq!(
            base64::decode(value["data_b64"].as_str().unwrap()).unwrap(),
            [0, 1, 255]
        );
        let exit: serde_json::Value = serde_json::from_slice(&exit_line(Exit::Signal(9))).unwrap();
        assert_eq!(exit["exit"]["signal"], 9);
    }

    struct Run {
        result: Result<Finished, RunError>,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    }

    /// Runs `sh -c program` through a post-exec hook written as a shell script.
    async fn through(hook_body: &str, program: &str, timeout: Duration) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("post-exec");
        std::fs::write(&path, format!("#!/bin/sh\n{hook_body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let env = [("PATH".to_owned(), "/usr/bin:/bin".to_owned())];
        let args = vec!["-c".to_owned(), program.to_owned()];
        let request = HookRequest {
            agent: "a1",
            command: "sh",
            args: &args,
            cwd: "/workspace",
            host_cwd: "/tmp",
            readings: &[],
        };
        let hook = Hook::start(&path, dir.path(), &env, &request, timeout)
            .await
            .unwrap();
        let spec = Spec {
            program: PathBuf::from("/bin/sh"),
            args,
            cwd: crate::workdir::WorkDir::open(&std::env::temp_dir()).unwrap(),
            env: env.iter().cloned().collect(),
            timeout: Duration::from_secs(30),
            ruleset: None,
        };
        let (in_tx, in_rx) = mpsc::channel(4);
        in_tx.send(Input::Eof).await.unwrap();
        let (out_tx, out_rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let run = tokio::spawn(async move {
            executor::run(spec, in_rx, out_tx, token)
                .await
                .map_err(RunError::Start)
        });
        let (mut filtered, handle) = hook.filter(out_rx, run, cancel);
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        while let Some((stream, data)) = filtered.recv().await {
            match stream {
                Stream::Stdout => stdout.extend(data),
                Stream::Stderr => stderr.extend(data),
            }
        }
        drop(in_tx);
        Run {
            result: handle.await.unwrap(),
            stdout,
            stderr,
        }
    }

    /// A hook that forwards every chunk unchanged: it copies each input line that
    /// carries output (the input format is also a valid output line).
    const PASS: &str = "grep --line-buffered '\"stream\"'";

    const SECONDS: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn a_pass_through_hook_keeps_output_and_status() {
        let run = through(PASS, "printf 'a\\000b'; printf err >&2; exit 7", SECONDS).await;
        assert_eq!(run.stdout, b"a\x00b");
        assert_eq!(run.stderr, b"err");
        assert_eq!(run.result.unwrap().exit, Exit::Code(7));
    }

    #[tokio::test]
    async fn a_hook_may_rewrite_output_and_exit_code() {
        let hook =
            "read -r request; case \"$request\" in *'\"command\":\"sh\"'*) ;; *) exit 9;; esac
while read -r line; do case \"$line\" in *'\"exit\"'*) echo '{\"exit_code\":0}';; esac; done
echo '{\"stream\":\"stdout\",\"data\":\"[redacted]\"}'";
        let run = through(hook, "echo secret; exit 3", SECONDS).await;
        assert_eq!(run.stdout, b"[redacted]");
        assert_eq!(run.result.unwrap().exit, Exit::Code(0));
    }

    #[tokio::test]
    async fn output_streams_through_without_being_held() {
        // 8 MiB through the hook while it runs: nothing waits for the end.
        let run = through(PASS, "head -c 8388608 /dev/zero", SECONDS).await;
        assert_eq!(run.stdout.len(), 8 * 1024 * 1024);
        assert!(run.stdout.iter().all(|b| *b == 0));
        assert_eq!(run.result.unwrap().exit, Exit::Code(0));
    }

    fn failed(run: &Run) -> String {
        match &run.result {
            Err(RunError::PostExec(why)) => why.clone(),
            other => panic!("expected a post-exec failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn failing_hooks_fail_the_run() {
        let run = through(
            "cat >/dev/null; echo 'cannot redact' >&2; exit 4",
            "echo x",
            SECONDS,
        )
        .await;
        assert!(
            failed(&run).contains("exited with 4: cannot redact"),
            "{}",
            failed(&run)
        );
        assert!(run.stdout.is_empty());

        let run = through("cat >/dev/null; echo garbage", "echo x", SECONDS).await;
        assert!(
            failed(&run).contains("not an output line"),
            "{}",
            failed(&run)
        );

        let run = through("cat >/dev/null; kill -9 $$", "echo x", SECONDS).await;
        assert!(failed(&run).contains("signal 9"), "{}", failed(&run));

        let run = through(
            "cat >/dev/null; head -c 2000000 /dev/zero | tr '\\0' a",
            "true",
            SECONDS,
        )
        .await;
        assert!(failed(&run).contains("longer than"), "{}", failed(&run));
    }

    #[tokio::test]
    async fn a_hook_that_quits_early_kills_the_program() {
        // The hook leaves at once; the program would run for a minute.
        let run = through("exit 0", "sleep 60", SECONDS).await;
        assert!(
            failed(&run).contains("before the program ended"),
            "{}",
            failed(&run)
        );
    }

    #[tokio::test]
    async fn a_hook_that_hangs_after_the_program_is_killed() {
        let run = through(
            "cat >/dev/null; sleep 60",
            "echo x",
            Duration::from_millis(300),
        )
        .await;
        assert!(
            failed(&run).contains("after the program ended"),
            "{}",
            failed(&run)
        );
    }

    #[tokio::test]
    async fn a_hook_that_is_not_executable_never_starts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("post-exec");
        std::fs::write(&path, "#!/bin/sh\ncat\n").unwrap();
        let request = HookRequest {
            agent: "a1",
            command: "sh",
            args: &[],
            cwd: "/workspace",
            host_cwd: "/tmp",
            readings: &[],
        };
        let started = Hook::start(&path, dir.path(), &[], &request, SECONDS).await;
        assert!(matches!(started, Err(why) if why.contains("not an executable")));
    }
}
