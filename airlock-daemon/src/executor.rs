//! Runs the real program: `execve` with an explicit argv (never a shell), a clean
//! environment, its own process group, stdin forwarded, stdout and stderr streamed as
//! they come. The whole group is killed when the client goes away, when the timeout
//! fires or on shutdown, and the child is always reaped.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::confine;
use crate::workdir::WorkDir;

pub use airlock_rpc::{ExitStatus as Exit, Signal as WireSignal, Stream};

/// The signal to send for a forwarded one.
fn os_signal(signal: WireSignal) -> Signal {
    match signal {
        WireSignal::Int => Signal::INT,
        WireSignal::Term => Signal::TERM,
        WireSignal::Hup => Signal::HUP,
        WireSignal::Quit => Signal::QUIT,
    }
}

/// Output is read and sent in chunks of at most this many bytes.
pub const CHUNK: usize = 256 * 1024;

/// The capacity asked for the program's output pipes: fewer, larger reads.
const PIPE_SIZE: usize = 256 * 1024;

/// What to run.
#[derive(Debug)]
pub struct Spec {
    /// The program's absolute path.
    pub program: PathBuf,
    /// Its arguments (after the program name).
    pub args: Vec<String>,
    /// The host working directory, held open and checked.
    pub cwd: WorkDir,
    /// The whole environment.
    pub env: BTreeMap<String, String>,
    /// When to kill it.
    pub timeout: Duration,
    /// The Landlock ruleset the program runs under (`None`: unconfined).
    pub ruleset: Option<OwnedFd>,
}

/// A command for `program` that starts in `cwd` (entered with `fchdir`), confined by
/// `ruleset` when there is one, dies with the daemon, with exactly `env`, piped stdio
/// and its own process group, killed when dropped. `cwd` and `ruleset` must stay open
/// until the command is spawned.
pub fn confined_command<'e>(
    program: &Path,
    cwd: &OwnedFd,
    ruleset: Option<&OwnedFd>,
    env: impl IntoIterator<Item = (&'e String, &'e String)>,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command
        .env_clear()
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let cwd = cwd.as_raw_fd();
    let ruleset = confine::raw(ruleset);
    let parent = rustix::process::getpid();
    #[expect(
        unsafe_code,
        reason = "the closure runs between fork and exec and makes only async-signal-safe system calls (see confine::enter)"
    )]
    unsafe {
        command.pre_exec(move || Ok(confine::enter(cwd, ruleset, parent)?));
    }
    command
}

/// Input from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Bytes for the program's stdin.
    Data(Vec<u8>),
    /// End of stdin.
    Eof,
    /// A signal for the program's process group.
    Signal(WireSignal),
}

/// The end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// How the program ended.
    pub exit: Exit,
    /// The timeout killed it.
    pub timed_out: bool,
    /// Cancellation (client gone, shutdown) killed it.
    pub cancelled: bool,
    /// Bytes written to its stdin.
    pub bytes_in: u64,
    /// Bytes read from its stdout and stderr.
    pub bytes_out: u64,
}

/// Runs `spec`, forwarding `input` and streaming output into `output` (a bounded
/// channel: a slow client slows the program instead of growing memory). Fails only
/// when the program cannot be started. [`start`] then [`Started::finish`].
pub async fn run(
    spec: Spec,
    input: mpsc::Receiver<Input>,
    output: mpsc::Sender<(Stream, Vec<u8>)>,
    cancel: CancellationToken,
) -> std::io::Result<Finished> {
    start(spec)?.finish(input, output, cancel).await
}

/// A started program whose output is not read yet ([`start`]).
#[derive(Debug)]
pub struct Started {
    spawned: crate::spawn::Spawned,
    /// The program's process group, watched by the guard until the run is over.
    watched: crate::guard::Watched,
    timeout: Duration,
}

/// Starts `spec` now, on the calling thread: a request's task calls this itself, so
/// that nothing between the request and the program's start waits for another thread
/// to wake up (a task handed to the runtime can be taken by its other thread, which the
/// kernel must wake first). Fails only when the program cannot be started.
pub fn start(spec: Spec) -> std::io::Result<Started> {
    let spawned = crate::spawn::spawn(&crate::spawn::Launch {
        program: &spec.program,
        args: &spec.args,
        env: spec
            .env
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect(),
        cwd: &spec.cwd.fd,
        ruleset: spec.ruleset.as_ref(),
    })?;
    // The child has its own copies: the ruleset is no longer needed here.
    drop(spec.ruleset);
    // The program leads its own process group, which dies with the daemon, whatever
    // ends the daemon (until this is dropped, after the group was killed).
    let watched = crate::guard::watch(spawned.process.pid());
    Ok(Started {
        spawned,
        watched,
        timeout: spec.timeout,
    })
}

impl Started {
    /// Forwards `input` to the started program and streams its output into `output`
    /// until it has ended (see [`run`]). Fails only when the program's end cannot be
    /// waited for.
    pub async fn finish(
        self,
        input: mpsc::Receiver<Input>,
        output: mpsc::Sender<(Stream, Vec<u8>)>,
        cancel: CancellationToken,
    ) -> std::io::Result<Finished> {
        let Started {
            spawned,
            watched,
            timeout,
        } = self;
        let finished = stream_until_exit(spawned, timeout, input, output, cancel).await;
        drop(watched);
        finished
    }
}

/// [`Started::finish`]: the loop of a run, from its start to its end.
async fn stream_until_exit(
    spawned: crate::spawn::Spawned,
    timeout: Duration,
    mut input: mpsc::Receiver<Input>,
    output: mpsc::Sender<(Stream, Vec<u8>)>,
    cancel: CancellationToken,
) -> std::io::Result<Finished> {
    let mut child = spawned.process;
    let group = child.pid();
    let bytes_out = Arc::new(AtomicU64::new(0));
    for pipe in [spawned.stdout.as_fd(), spawned.stderr.as_fd()] {
        // Only a hint: a smaller pipe (the system's limit) works the same, slower.
        let _ = rustix::pipe::fcntl_setpipe_size(pipe, PIPE_SIZE);
    }
    // Cancelled before the readers are stopped: what they gathered goes out first.
    let flush = CancellationToken::new();
    let readers = vec![
        tokio::spawn(pump(
            spawned.stdout,
            Stream::Stdout,
            output.clone(),
            Arc::clone(&bytes_out),
            flush.clone(),
        )),
        tokio::spawn(pump(
            spawned.stderr,
            Stream::Stderr,
            output.clone(),
            Arc::clone(&bytes_out),
            flush.clone(),
        )),
    ];
    drop(output);
    let (stdin_tx, stdin_rx) = mpsc::channel::<Vec<u8>>(2);
    let bytes_in = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn(feed(spawned.stdin, stdin_rx, Arc::clone(&bytes_in)));
    let mut stdin_tx = Some(stdin_tx);
    let mut input_open = true;
    // Stdin waiting for room towards the program: held here, never awaited inside an
    // arm, so a program that does not read its stdin cannot keep the loop from seeing
    // the deadline, the cancellation or the program's exit.
    let mut pending: Option<Vec<u8>> = None;

    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut timed_out = false;
    let mut cancelled = false;
    // When a stopped program that has not ended gets SIGKILL.
    let mut kill_at: Option<tokio::time::Instant> = None;
    let exit = loop {
        let room_tx = if pending.is_some() {
            stdin_tx.clone()
        } else {
            None
        };
        let room = async move {
            match room_tx {
                Some(tx) => tx.reserve_owned().await.map_err(|_| ()),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            exit = child.wait() => break exit?,
            permit = room => {
                match (permit, pending.take()) {
                    (Ok(permit), Some(data)) => {
                        permit.send(data);
                    }
                    _ => stdin_tx = None,
                }
            }
            message = input.recv(), if input_open && pending.is_none() => match message {
                Some(Input::Data(data)) => {
                    if stdin_tx.is_some() {
                        pending = Some(data);
                    }
                }
                Some(Input::Eof) => stdin_tx = None,
                Some(Input::Signal(signal)) => {
                    if let Some(group) = group {
                        let _ = kill_process_group(group, os_signal(signal));
                    }
                }
                None => {
                    input_open = false;
                    stdin_tx = None;
                }
            },
            () = &mut deadline, if !timed_out => {
                timed_out = true;
                stop_group(group, &child, &mut kill_at);
            }
            () = cancel.cancelled(), if !cancelled => {
                cancelled = true;
                stop_group(group, &child, &mut kill_at);
            }
            () = wait_until(kill_at) => {
                kill_run(group, &child);
                kill_at = None;
            }
        }
    };
    // The leader is gone; whatever it left in its group goes too, so that the pipes
    // close and nothing outlives the request.
    if let Some(group) = group {
        let _ = kill_process_group(group, Signal::KILL);
    }
    drop(stdin_tx);
    drain(readers, &bytes_out, &cancel, &flush, timed_out || cancelled).await;
    writer.abort();
    let _ = writer.await;
    Ok(Finished {
        exit,
        timed_out,
        cancelled,
        bytes_in: bytes_in.load(Ordering::Relaxed),
        bytes_out: bytes_out.load(Ordering::Relaxed),
    })
}

/// How long the output may make no progress after the program ended before the rest
/// is dropped: a descendant that left the process group can hold the pipes open for
/// ever, and a client that stopped reading can stop the readers for ever.
const DRAIN_STALL: Duration = Duration::from_secs(2);

/// Waits for the output readers after the program ended, as long as they make
/// progress (a slow client still gets everything), and not at all after a timeout or
/// cancellation; then stops them.
async fn drain(
    readers: Vec<tokio::task::JoinHandle<()>>,
    bytes_out: &AtomicU64,
    cancel: &CancellationToken,
    flush: &CancellationToken,
    abandon: bool,
) {
    let mut readers = readers;
    if !abandon {
        let mut seen = bytes_out.load(Ordering::Relaxed);
        loop {
            let all = async {
                for reader in readers.iter_mut() {
                    let _ = reader.await;
                }
            };
            tokio::select! {
                () = all => return,
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(DRAIN_STALL) => {
                    let now = bytes_out.load(Ordering::Relaxed);
                    if now == seen {
                        break;
                    }
                    seen = now;
                }
            }
        }
    }
    // Output a reader holds for gathering is sent before it is stopped (a program that
    // cleaned up after its TERM said so); a reader that cannot send at once is not waited
    // for long.
    flush.cancel();
    for mut reader in readers {
        if tokio::time::timeout(FLUSH_WAIT, &mut reader).await.is_err() {
            reader.abort();
            let _ = reader.await;
        }
    }
}

/// How long a reader is given to send what it gathered before it is stopped.
const FLUSH_WAIT: Duration = Duration::from_millis(20);

/// The process group a child started with `process_group(0)` leads (its pid), while
/// it has not been reaped.
pub(crate) fn process_group(child: &tokio::process::Child) -> Option<Pid> {
    child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw)
}

/// How long a program asked to stop (SIGTERM: timeout, client gone, shutdown) has to
/// end on its own (terraform releasing its state lock) before its group is killed.
pub const TERM_GRACE: Duration = Duration::from_secs(2);

/// Asks `group` to stop (SIGTERM) and sets when it is killed, unless that is set
/// already.
fn stop_group(
    group: Option<Pid>,
    child: &crate::spawn::Process,
    kill_at: &mut Option<tokio::time::Instant>,
) {
    if kill_at.is_some() {
        return;
    }
    match group {
        Some(group) => {
            let _ = kill_process_group(group, Signal::TERM);
        }
        None => child.signal(Signal::TERM),
    }
    *kill_at = Some(tokio::time::Instant::now() + TERM_GRACE);
}

/// Kills a run's `group` (or, without one, its program alone).
fn kill_run(group: Option<Pid>, child: &crate::spawn::Process) {
    match group {
        Some(group) => {
            let _ = kill_process_group(group, Signal::KILL);
        }
        None => child.signal(Signal::KILL),
    }
}

/// Waits until `at`, or for ever when there is none.
async fn wait_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Kills `group` (or, without one, the child alone).
pub(crate) fn kill_group(group: Option<Pid>, child: &mut tokio::process::Child) {
    match group {
        Some(group) => {
            let _ = kill_process_group(group, Signal::KILL);
        }
        None => {
            let _ = child.start_kill();
        }
    }
}

/// Copies one output pipe into the channel until end of file or the client leaves.
async fn pump(
    mut pipe: impl AsyncRead + Unpin,
    stream: Stream,
    output: mpsc::Sender<(Stream, Vec<u8>)>,
    counter: Arc<AtomicU64>,
    flush: CancellationToken,
) {
    // Read into spare capacity: nothing is zeroed or touched before the program writes.
    let mut buf = Vec::with_capacity(CHUNK);
    loop {
        buf.clear();
        let ended = match pipe.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) if flush.is_cancelled() => false,
            Ok(_) => gather(&mut pipe, &mut buf, &flush).await,
        };
        counter.fetch_add(buf.len() as u64, Ordering::Relaxed);
        if output.send((stream, buf.clone())).await.is_err() {
            // The client is gone; keep draining so the program is not
            // blocked on a full pipe before it is killed.
            buf.clear();
            while matches!(pipe.read_buf(&mut buf).await, Ok(n) if n > 0) {
                buf.clear();
            }
            return;
        }
        if ended {
            return;
        }
    }
}

/// How long output that does not fill a chunk waits for more before it is sent.
/// Programs write a line at a time to a pipe (git flushes after each commit when its
/// stdout is not a file): through the daemon each write would be a message and a wake-up
/// of the client and of whatever reads its output, about 50 µs each here. Gathered, a
/// `git log --oneline -5` is one message; output is late by at most this much.
const GATHER: Duration = Duration::from_millis(1);

/// Reads more into `buf` (which holds what one read brought) while it comes within
/// [`GATHER`], the chunk is not full and `flush` is not cancelled. Returns whether the
/// output ended.
async fn gather(
    pipe: &mut (impl AsyncRead + Unpin),
    buf: &mut Vec<u8>,
    flush: &CancellationToken,
) -> bool {
    let deadline = tokio::time::Instant::now() + GATHER;
    while buf.len() < CHUNK {
        // Read no further than the chunk: `read_buf` would grow the vector.
        let limit = u64::try_from(CHUNK - buf.len()).unwrap_or(0);
        let mut rest = (&mut *pipe).take(limit);
        let read = tokio::select! {
            read = tokio::time::timeout_at(deadline, rest.read_buf(buf)) => read,
            () = flush.cancelled() => return false,
        };
        match read {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            // Nothing more in time: what came goes now (a cancelled `read_buf` has
            // taken nothing from the pipe).
            Err(_) => return false,
        }
    }
    false
}

/// Writes client stdin to the program until the channel closes (end of input).
async fn feed(
    mut stdin: tokio::net::unix::pipe::Sender,
    mut data: mpsc::Receiver<Vec<u8>>,
    counter: Arc<AtomicU64>,
) {
    while let Some(chunk) = data.recv().await {
        if stdin.write_all(&chunk).await.is_err() {
            return;
        }
        counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
    let _ = stdin.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(program: &str, args: &[&str]) -> Spec {
        Spec {
            program: PathBuf::from(program),
            args: args.iter().map(|s| s.to_string()).collect(),
            cwd: WorkDir::open(&std::env::temp_dir()).unwrap(),
            env: [("PATH".to_owned(), "/usr/bin:/bin".to_owned())].into(),
            timeout: Duration::from_secs(30),
            ruleset: None,
        }
    }

    async fn collect(
        spec: Spec,
        inputs: Vec<Input>,
        cancel: CancellationToken,
    ) -> (Finished, Vec<u8>, Vec<u8>) {
        let (in_tx, in_rx) = mpsc::channel(16);
        let (out_tx, mut out_rx) = mpsc::channel(16);
        let run = tokio::spawn(run(spec, in_rx, out_tx, cancel));
        for i in inputs {
            in_tx.send(i).await.unwrap();
        }
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        while let Some((stream, chunk)) = out_rx.recv().await {
            match stream {
                Stream::Stdout => stdout.extend(chunk),
                Stream::Stderr => stderr.extend(chunk),
            }
        }
        drop(in_tx);
        (run.await.unwrap().unwrap(), stdout, stderr)
    }

    #[tokio::test]
    async fn streams_binary_output_and_exit_code() {
        let (done, out, err) = collect(
            spec(
                "/bin/sh",
                &["-c", "printf '\\000\\377abc'; printf oops >&2; exit 3"],
            ),
            vec![],
            CancellationToken::new(),
        )
        .await;
        assert_eq!(out, b"\x00\xffabc");
        assert_eq!(err, b"oops");
        assert_eq!(done.exit, Exit::Code(3));
        assert_eq!(done.bytes_out, 9);
    }

    #[tokio::test]
    async fn forwards_stdin_and_end_of_input() {
        let (done, out, _) = collect(
            spec("/bin/cat", &[]),
            vec![
                Input::Data(b"hello ".to_vec()),
                Input::Data(vec![0, 1, 2]),
                Input::Eof,
            ],
            CancellationToken::new(),
        )
        .await;
        assert_eq!(out, b"hello \x00\x01\x02");
        assert_eq!(done.exit, Exit::Code(0));
        assert_eq!(done.bytes_in, 9);
    }

    #[tokio::test]
    async fn forwards_signals_and_reports_death_by_signal() {
        let (done, _, _) = collect(
            spec("/bin/sleep", &["30"]),
            vec![Input::Signal(WireSignal::Int)],
            CancellationToken::new(),
        )
        .await;
        assert_eq!(done.exit, Exit::Signal(2));
    }

    #[tokio::test]
    async fn cancellation_kills_the_whole_group() {
        let marker = tempfile::NamedTempFile::new().unwrap();
        let path = marker.path().to_str().unwrap().to_owned();
        let cancel = CancellationToken::new();
        cancel.cancel();
        // The grandchild would write the marker after the shell is gone, unless the
        // group is killed.
        let script = format!("(sleep 2; echo late > {path}) & sleep 30");
        let (done, _, _) = collect(spec("/bin/sh", &["-c", &script]), vec![], cancel).await;
        assert!(done.cancelled);
        assert_eq!(
            done.exit,
            Exit::Signal(15),
            "asked to stop, the shell stopped"
        );
        // The grandchild was killed with the group: `pgrep` finds nothing in it.
        let alive = std::process::Command::new("/bin/sh")
            .args([
                "-c",
                &format!("ps -eo args | grep -F 'echo late > {path}' | grep -v grep"),
            ])
            .output()
            .unwrap();
        assert!(
            alive.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&alive.stdout)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_kills() {
        let mut s = spec("/bin/sleep", &["30"]);
        s.timeout = Duration::from_millis(100);
        let (done, _, _) = collect(s, vec![], CancellationToken::new()).await;
        assert!(done.timed_out);
        assert_eq!(done.exit, Exit::Signal(15));
    }

    #[tokio::test]
    async fn a_stopped_program_may_clean_up_and_one_that_ignores_it_is_killed() {
        // Traps TERM, cleans up, exits with its own status.
        let mut s = spec(
            "/bin/sh",
            &["-c", "trap 'echo cleaned up; exit 3' TERM; sleep 30 & wait"],
        );
        s.timeout = Duration::from_millis(300);
        let (done, out, _) = collect(s, vec![], CancellationToken::new()).await;
        assert!(done.timed_out);
        assert_eq!(done.exit, Exit::Code(3));
        assert_eq!(out, b"cleaned up\n");
        // Ignores TERM: killed once the grace is over.
        let mut s = spec(
            "/bin/sh",
            &["-c", "trap '' TERM; sleep 30 & wait; sleep 30"],
        );
        s.timeout = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let (done, _, _) = collect(s, vec![], CancellationToken::new()).await;
        assert_eq!(done.exit, Exit::Signal(9));
        assert!(
            started.elapsed() >= TERM_GRACE,
            "killed before the grace was over"
        );
    }

    #[tokio::test]
    async fn environment_is_exactly_the_spec() {
        let mut s = spec("/usr/bin/env", &[]);
        s.env.insert("ONLY".into(), "this".into());
        let (_, out, _) = collect(s, vec![], CancellationToken::new()).await;
        let text = String::from_utf8(out).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort_unstable();
        assert_eq!(lines, ["ONLY=this", "PATH=/usr/bin:/bin"]);
    }

    #[tokio::test]
    async fn missing_program_is_an_error() {
        let (in_tx, in_rx) = mpsc::channel(1);
        let (out_tx, _out_rx) = mpsc::channel(1);
        let result = run(
            spec("/nonexistent/prog", &[]),
            in_rx,
            out_tx,
            CancellationToken::new(),
        )
        .await;
        assert!(result.is_err());
        drop(in_tx);
    }
}
