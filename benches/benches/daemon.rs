//! The daemon's targets, end to end: the real `airlock-daemon` (release build) and the
//! real shim (static, without a C library), as an agent uses them.
//!
//! - `proxied_true`: `/bin/true` run directly versus through the shim and the daemon
//!   (target: proxied within 0.9 ms of direct), and through a daemon with confinement off
//!   (`[confinement] mode = "none"`): the difference is what Landlock, the held working
//!   directory and the run's private directory cost (target: at most 0.3 ms).
//! - `proxied_git`: `git status` and `git log --oneline -5` in a 200-file repository,
//!   run directly versus through the shim and the daemon with the built-in git module
//!   and every repository check in force (target: proxied within 1.2 ms of direct).
//! - `proxied_cat`: 100 MB of random bytes through a proxied `cat` (target: 300 MB/s),
//!   next to the same bytes through `cat` directly.
//! - Between the git and the `cat` groups, the bench prints medians of the same `true`,
//!   `git status` and `git log` runs taken in turn (direct, proxied, 300 rounds), which a
//!   machine whose speed drifts between criterion's groups does not skew.
//!
//! Every command, direct or proxied, starts the same way: in the workspace, with the
//! variables the daemon passes its programs from its own environment (the path, the
//! locale, the time zone, taken from the bench's) and nothing else.
//!
//! The bench builds what it runs first (`cargo build --release -p airlock-daemon` and
//! the shim exactly as `.ci/shim-size` builds it), so `cargo bench -p
//! airlock-benches --bench daemon` is the whole command.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a benchmark's setup fails loudly"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const CAT_BYTES: usize = 100_000_000;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args).current_dir(workspace());
    command
}

fn run_cargo(mut command: Command) {
    let status = command.status().unwrap();
    assert!(status.success(), "{command:?} failed");
}

/// Builds the release daemon and the shim as agent images get it; returns their paths.
fn build() -> (PathBuf, PathBuf) {
    run_cargo(cargo(&["build", "--release", "-p", "airlock-daemon"]));
    // The shim is a workspace of its own, built in its own target directory.
    let mut shim = cargo(&[
        "build",
        "--release",
        "--manifest-path",
        "airlock-shim/Cargo.toml",
    ]);
    shim.env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR");
    run_cargo(shim);
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace().join("target"), PathBuf::from);
    (
        target.join("release/airlock-daemon"),
        workspace().join("airlock-shim/target/release/airlock-shim"),
    )
}

struct Setup {
    _dir: tempfile::TempDir,
    daemon: Child,
    socket: PathBuf,
    workspace: PathBuf,
    bin: PathBuf,
    input: PathBuf,
    /// The variables every command starts with (see [`Setup::command`]).
    env: std::collections::BTreeMap<String, String>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn write(path: &Path, text: &str) {
    airlock_benches::write_file(path, text).unwrap();
}

fn setup(confinement: &str) -> Setup {
    let (daemon_bin, shim) = build();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let workspace = root.join("a1/ws");
    std::fs::create_dir_all(&workspace).unwrap();
    write(
        &root.join("config/config.toml"),
        &format!("[commands]\nenable = [\"true\", \"cat\", \"git\"]\n{confinement}"),
    );
    write(
        &root.join("a1/airlock.toml"),
        &format!(
            "commands = []\n[[mounts]]\ncontainer = \"{0}\"\nhost = \"{0}\"\n",
            workspace.display()
        ),
    );
    write(
        &root.join("a1/commands/true.toml"),
        "[command]\nbin = \"true\"\n",
    );
    write(
        &root.join("a1/commands/cat.toml"),
        "[command]\nbin = \"cat\"\n",
    );
    write(&root.join("agents.toml"), "[a1]\npath = \"a1\"\n");
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["true", "cat", "git"] {
        std::os::unix::fs::symlink(&shim, bin.join(name)).unwrap();
    }
    airlock_benches::make_repository(&workspace.join("repo"), 20).unwrap();
    let input = root.join("input.bin");

    let mut daemon = Command::new(daemon_bin)
        .args(["start", "--config"])
        .arg(root.join("config"))
        .arg("--agents")
        .arg(root.join("agents.toml"))
        .arg("--sockets")
        .arg(root.join("sockets"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(daemon.stdout.take().unwrap());
    airlock_benches::wait_for_agent(&mut stdout, "a1").unwrap();
    std::thread::spawn(move || for _ in stdout.lines() {});
    Setup {
        socket: root.join("sockets/a1.sock"),
        _dir: dir,
        daemon,
        workspace,
        bin,
        input,
        env: passed_environment(),
    }
}

impl Setup {
    /// Writes the random input `proxied_cat` pipes.
    fn make_input(&self) {
        let mut random = std::fs::File::open("/dev/urandom").unwrap();
        let mut bytes = vec![0u8; CAT_BYTES];
        random.read_exact(&mut bytes).unwrap();
        std::fs::File::create(&self.input)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
    }

    /// `program` started as every command of the bench is, direct or proxied: in the
    /// workspace, with the shim's socket and the variables the daemon passes its
    /// programs from its own environment (the bench's; `airlock_core::ENV_PASS`: the
    /// path, the locale, the time zone). A direct run then sees the locale a proxied
    /// one does: git with `LANG` set loads its message catalogue, about 0.1 ms here,
    /// a cost of the locale and not of the proxy.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(&self.workspace)
            .env_clear()
            .envs(&self.env)
            .env("AIRLOCK_SOCKET", &self.socket);
        command
    }

    /// Runs `program` with the input on stdin and counts what comes out.
    fn pipe_through(&self, program: &Path) -> usize {
        let mut child = self
            .command(program)
            .stdin(std::fs::File::open(&self.input).unwrap())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0;
        loop {
            match out.read(&mut buf).unwrap() {
                0 => break,
                n => total += n,
            }
        }
        assert!(child.wait().unwrap().success());
        total
    }
}

/// The variables of the bench's environment that the daemon passes to its programs:
/// the daemon's own plan for a module and a profile that add nothing.
fn passed_environment() -> std::collections::BTreeMap<String, String> {
    airlock_core::EnvPlan::new(
        &airlock_policy::EnvSpec::default(),
        &Default::default(),
        &Default::default(),
    )
    .apply(std::env::vars_os())
}

fn daemon_targets(c: &mut Criterion) {
    let unconfined = setup("[confinement]\nmode = \"none\"\n");
    let setup = setup("");
    setup.make_input();

    let mut group = c.benchmark_group("proxied_true");
    group.bench_function("direct", |b| {
        b.iter(|| {
            assert!(
                setup
                    .command(Path::new("/bin/true"))
                    .status()
                    .unwrap()
                    .success()
            )
        });
    });
    let shim_true = setup.bin.join("true");
    group.bench_function("proxied", |b| {
        b.iter(|| assert!(setup.command(&shim_true).status().unwrap().success()));
    });
    let unconfined_true = unconfined.bin.join("true");
    group.bench_function("proxied_unconfined", |b| {
        b.iter(|| {
            assert!(
                unconfined
                    .command(&unconfined_true)
                    .status()
                    .unwrap()
                    .success()
            )
        });
    });
    group.finish();

    let mut group = c.benchmark_group("proxied_git");
    let repo = setup.workspace.join("repo");
    let shim_git = setup.bin.join("git");
    for (name, args) in [
        ("status", &["status", "--short"][..]),
        ("log", &["log", "--oneline", "-5"][..]),
    ] {
        let run = |program: &Path| {
            let out = setup
                .command(program)
                .current_dir(&repo)
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let host_git = find_git();
        group.bench_function(format!("{name}_direct"), |b| b.iter(|| run(&host_git)));
        group.bench_function(format!("{name}_proxied"), |b| b.iter(|| run(&shim_git)));
    }
    group.finish();

    interleaved(&setup, 300);

    let mut group = c.benchmark_group("proxied_cat");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(CAT_BYTES as u64));
    group.bench_function("direct", |b| {
        b.iter(|| assert_eq!(setup.pipe_through(Path::new("/bin/cat")), CAT_BYTES));
    });
    let shim_cat = setup.bin.join("cat");
    group.bench_function("proxied", |b| {
        b.iter(|| assert_eq!(setup.pipe_through(&shim_cat), CAT_BYTES));
    });
    group.finish();
}

/// Runs each command directly and proxied in turn, `rounds` times, and prints the
/// medians side by side. Criterion measures one function after another, so a machine
/// that slows down between two of them (a VM's neighbours) moves the difference; taken
/// in turn, both sides see the same machine.
fn interleaved(setup: &Setup, rounds: usize) {
    let repo = setup.workspace.join("repo");
    let host_git = find_git();
    let cases: [(&str, PathBuf, PathBuf, &Path, &[&str]); 3] = [
        (
            "/bin/true",
            PathBuf::from("/bin/true"),
            setup.bin.join("true"),
            &setup.workspace,
            &[],
        ),
        (
            "git status --short",
            host_git.clone(),
            setup.bin.join("git"),
            &repo,
            &["status", "--short"],
        ),
        (
            "git log --oneline -5",
            host_git,
            setup.bin.join("git"),
            &repo,
            &["log", "--oneline", "-5"],
        ),
    ];
    let time = |program: &Path, dir: &Path, args: &[&str]| {
        let started = std::time::Instant::now();
        let out = setup
            .command(program)
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        started.elapsed().as_secs_f64() * 1e6
    };
    let mut times = vec![(Vec::new(), Vec::new()); cases.len()];
    for _ in 0..rounds {
        for ((_, direct, proxied, dir, args), (d, p)) in cases.iter().zip(&mut times) {
            d.push(time(direct, dir, args));
            p.push(time(proxied, dir, args));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("\ninterleaved medians over {rounds} rounds (direct, proxied, difference):");
    for ((name, ..), (d, p)) in cases.iter().zip(&mut times) {
        let (d, p) = (median(d), median(p));
        println!(
            "  {name}: {d:.0} µs, {p:.0} µs, +{:.2} ms",
            (p - d) / 1000.0
        );
    }
}

/// The git the daemon runs (the first on the bench's PATH).
fn find_git() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("git"))
        .find(|p| p.is_file())
        .unwrap()
}

criterion_group!(benches, daemon_targets);
criterion_main!(benches);
