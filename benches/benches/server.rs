//! The daemon's own work per request (issue #13: from the accepted connection to the
//! spawned program, and from the program's exit to the reply, at most 150 µs with
//! confinement on).
//!
//! The server is the library's ([`airlock_daemon::serve_agents`], the code `start`
//! runs), with a real agent configuration: one agent, one mount, a module for `true`,
//! Landlock confinement on (the default; the bench fails if the audit log does not say
//! `landlock-v...`), the audit log written. The client is this process speaking the
//! JSON-RPC wire directly on the agent's socket: no shim process, one connection per
//! request, the request in one line. The server runs in a child process (this same
//! bench binary, re-executed with `AIRLOCK_BENCH_SERVER` set): the daemon refuses
//! connections from itself and from its descendants, so the client cannot be either.
//!
//! What each figure is:
//!
//! - `server/spawn_direct`: `/bin/true` started and waited for by this process with
//!   `std::process::Command` (what a program start costs here, without the daemon);
//! - `server/check`: a `check` request for `true` (connect, request, the daemon's peer
//!   check, parsing, the policy, the audit record, the reply): the daemon's per-request
//!   work without a run;
//! - `server/exec_true`: an `exec` of `true`, to the final reply: everything, the
//!   program's start and exit included.
//!
//! After criterion, the bench prints two estimates of the daemon's own work per run:
//! `exec_true − spawn_direct` (medians over a few hundred runs of each, measured here:
//! this overstates the daemon's work by whatever its spawn costs beyond a plain one, a
//! larger process forked, the confinement entered in the child, the output pipes, the
//! process group), and the daemon's own clock ([`airlock_daemon::timing`]): the time
//! from the accepted connection to the spawn asked for, and from the executor's return
//! to the reply written, medians and 90th percentiles over every run of the bench.
//!
//! Then a second server, with the built-in git module and a repository of 50 files,
//! answers `git status --short` requests; the bench prints the daemon's own clock for
//! those too (the repository's discovery, its pinned configuration and the judgement of
//! it are the daemon's work before the spawn, writing back the configuration after).
//!
//! Last, a third server answers the same `git status` request eight times, each after
//! a pause of six seconds (an agent thinking), longer than the five seconds the
//! daemon reuses the system paths it opened for the confinement: the figures show
//! whether the next run's kit is still ready after such a pause.
//!
//! The run's private directory is made where the daemon makes it by default (under
//! `XDG_RUNTIME_DIR` when set, a tmpfs under systemd, else under the system's temporary
//! directory), so the figures depend on that file system.
//!
//! `cargo bench -p airlock-benches --bench server` is the whole command.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a benchmark's setup fails loudly"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use airlock_daemon::timing::RunTiming;
use criterion::Criterion;

/// Set in the server's environment: the directory holding its configuration.
const SERVER_ENV: &str = "AIRLOCK_BENCH_SERVER";

/// How the server's summary line starts on its stdout.
const SUMMARY: &str = "timings:";

const EXEC: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"exec\",\"params\":{\"command\":\"true\",\"args\":[],\"cwd\":\"/workspace\"}}\n";
const EXEC_GIT: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"exec\",\"params\":{\"command\":\"git\",\"args\":[\"status\",\"--short\"],\"cwd\":\"/workspace/repo\"}}\n";
const CHECK: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"check\",\"params\":{\"command\":\"true\",\"args\":[],\"cwd\":\"/workspace\"}}\n";

/// The daemon's timings of every run, in the server process.
static TIMINGS: Mutex<Vec<RunTiming>> = Mutex::new(Vec::new());

fn record(timing: RunTiming) {
    TIMINGS.lock().unwrap().push(timing);
}

/// The server process: serves until SIGTERM, then prints the daemon's timings.
fn serve(root: &Path) {
    assert!(airlock_daemon::timing::observe(record));
    airlock_daemon::serve_agents(
        &root.join("config"),
        Some(&root.join("agents.toml")),
        &root.join("sockets"),
    )
    .unwrap();
    let timings = TIMINGS.lock().unwrap();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let line: Vec<String> = timings
        .iter()
        .map(|t| format!("{:.1},{:.1}", micros(t.before_spawn), micros(t.after_run)))
        .collect();
    println!("{SUMMARY} {}", line.join(" "));
}

fn write(path: &Path, text: &str) {
    airlock_benches::write_file(path, text).unwrap();
}

struct Server {
    _dir: tempfile::TempDir,
    root: PathBuf,
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
    socket: PathBuf,
}

impl Server {
    /// A server for `true`, and with `git` for the built-in git module and a small
    /// repository at `/workspace/repo`.
    fn start(git: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let commands = if git {
            "[\"true\", \"git\"]"
        } else {
            "[\"true\"]"
        };
        write(
            &root.join("config/config.toml"),
            &format!("[commands]\nenable = {commands}\n"),
        );
        std::fs::create_dir_all(root.join("a1/ws")).unwrap();
        if git {
            airlock_benches::make_repository(&root.join("a1/ws/repo"), 5).unwrap();
        }
        write(
            &root.join("a1/airlock.toml"),
            &format!(
                "commands = {commands}\n[[mounts]]\ncontainer = \"/workspace\"\nhost = \"ws\"\n"
            ),
        );
        write(
            &root.join("a1/commands/true.toml"),
            "[command]\nbin = \"true\"\n",
        );
        write(&root.join("agents.toml"), "[a1]\npath = \"a1\"\n");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(SERVER_ENV, &root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        airlock_benches::wait_for_agent(&mut stdout, "a1").unwrap();
        Self {
            socket: root.join("sockets/a1.sock"),
            root,
            _dir: dir,
            child,
            stdout,
        }
    }

    /// One `exec` of `true`, to the end of the connection.
    fn exec(&self) {
        self.exec_line(EXEC);
    }

    /// One `exec` of the request `line`, to the end of the connection.
    fn exec_line(&self, line: &[u8]) {
        let mut stream = UnixStream::connect(&self.socket).unwrap();
        stream.write_all(line).unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        assert!(
            reply.ends_with(b"\"result\":{\"exit_code\":0}}\n"),
            "{}",
            String::from_utf8_lossy(&reply)
        );
    }

    /// One `check` of `true`, to its decision.
    fn check(&self) {
        let stream = UnixStream::connect(&self.socket).unwrap();
        (&stream).write_all(CHECK).unwrap();
        let mut reply = String::new();
        BufReader::new(&stream).read_line(&mut reply).unwrap();
        assert!(reply.contains("\"decision\":\"allow\""), "{reply}");
    }

    /// Stops the server; returns the daemon's timings of every run.
    fn stop(mut self) -> Vec<(f64, f64)> {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let mut line = String::new();
        while !line.starts_with(SUMMARY) {
            line.clear();
            assert!(self.stdout.read_line(&mut line).unwrap() > 0, "no timings");
        }
        assert!(self.child.wait().unwrap().success());
        line.trim_start_matches(SUMMARY)
            .split_whitespace()
            .map(|pair| {
                let (before, after) = pair.split_once(',').unwrap();
                (before.parse().unwrap(), after.parse().unwrap())
            })
            .collect()
    }
}

fn spawn_direct() {
    assert!(Command::new("/bin/true").status().unwrap().success());
}

/// The median and the 90th percentile of `values`, sorted in place.
fn median_p90(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[values.len() / 2], values[values.len() * 9 / 10])
}

/// The median time of `runs` calls of `f`, in microseconds.
fn median_of(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    median_p90(&mut times).0
}

fn server(c: &mut Criterion) {
    let server = Server::start(false);
    server.exec();
    let log = std::fs::read_to_string(server.root.join("config/audit.log")).unwrap();
    assert!(
        log.contains("\"confinement\":\"landlock-v"),
        "the run was not confined: {log}"
    );

    let mut group = c.benchmark_group("server");
    group.bench_function("spawn_direct", |b| b.iter(spawn_direct));
    group.bench_function("check", |b| b.iter(|| server.check()));
    group.bench_function("exec_true", |b| b.iter(|| server.exec()));
    group.finish();

    let runs = 500;
    let direct = median_of(runs, spawn_direct);
    let exec = median_of(runs, || server.exec());
    let check = median_of(runs, || server.check());
    let timings = server.stop();
    println!(
        "\nmedians over {runs} runs each: exec_true {exec:.0} µs, spawn_direct {direct:.0} µs, check {check:.0} µs"
    );
    println!(
        "daemon's own work per run, estimated as exec_true - spawn_direct: {:.0} µs",
        exec - direct
    );
    println!(
        "daemon's own work per run, by its own clock over {} runs {}",
        timings.len(),
        own_work(&timings)
    );

    // The same for `git status --short` in a repository: the repository's discovery,
    // its pinned configuration and its judgement are the daemon's own work too.
    let git = Server::start(true);
    let git_exec = median_of(runs, || git.exec_line(EXEC_GIT));
    let timings = git.stop();
    println!(
        "git status --short: exec {git_exec:.0} µs (median of {runs}); daemon's own work by its own clock {}",
        own_work(&timings)
    );

    // An agent thinks between commands, often for longer than the few seconds the
    // confinement's opened system paths are reused: the same request after each pause.
    let paused = Server::start(true);
    for _ in 0..PAUSED_WARM_UP {
        paused.exec_line(EXEC_GIT);
    }
    let mut walls: Vec<f64> = (0..PAUSED_RUNS)
        .map(|_| {
            std::thread::sleep(PAUSE);
            let started = Instant::now();
            paused.exec_line(EXEC_GIT);
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    let timings = paused.stop();
    let (wall, wall_p90) = median_p90(&mut walls);
    println!(
        "git status --short after {} s pauses ({PAUSED_RUNS} runs): exec {wall:.0} / {wall_p90:.0} µs (median / p90); daemon's own work by its own clock {}",
        PAUSE.as_secs(),
        own_work(timings.get(PAUSED_WARM_UP..).unwrap_or_default())
    );
}

/// The pause before each request of the last part of the bench: longer than the five
/// seconds the daemon reuses the system paths it opened for the confinement.
const PAUSE: Duration = Duration::from_secs(6);

/// How many requests the last part of the bench makes, each after a [`PAUSE`].
const PAUSED_RUNS: usize = 8;

/// How many requests the last part of the bench makes first, without pauses and left
/// out of its figures (the caches of a fresh server).
const PAUSED_WARM_UP: usize = 3;

/// The daemon's own clock over `timings` (before the spawn, after the run), as
/// `(median / p90): before the spawn ..., after the run ..., both ...`.
fn own_work(timings: &[(f64, f64)]) -> String {
    let mut before: Vec<f64> = timings.iter().map(|t| t.0).collect();
    let mut after: Vec<f64> = timings.iter().map(|t| t.1).collect();
    let mut sum: Vec<f64> = timings.iter().map(|t| t.0 + t.1).collect();
    let (before, before_p90) = median_p90(&mut before);
    let (after, after_p90) = median_p90(&mut after);
    let (sum, sum_p90) = median_p90(&mut sum);
    format!(
        "(median / p90): before the spawn {before:.0} / {before_p90:.0} µs, after the run {after:.0} / {after_p90:.0} µs, both {sum:.0} / {sum_p90:.0} µs"
    )
}

fn main() {
    if let Some(root) = std::env::var_os(SERVER_ENV) {
        serve(Path::new(&root));
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    server(&mut criterion);
    criterion.final_summary();
}
