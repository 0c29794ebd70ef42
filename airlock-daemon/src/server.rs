//! Serving: one unix socket per agent (`SOCKETS/<agent>.sock`, mode 0600, a stale
//! socket replaced, removed on exit), one ssh-agent per agent that names keys, a cap on
//! connections overall and per agent, graceful shutdown on SIGTERM/SIGINT and reload
//! on SIGHUP.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, RwLock};

use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit_log::AuditLog;
use crate::cli::{CliResult, ConfigArgs};
use crate::connection::{self, Context};
use crate::load::{self, Loaded};
use crate::ssh_agent::{self, SshAgents};

/// How long connections get to end after their programs were killed on shutdown.
const KILL_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How often what the agents' audit budgets left out is summed up in the log.
const SUMMARIES_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// What every connection shares: the current configuration (replaced on reload),
/// the audit log, and the shutdown signals.
#[derive(Debug)]
pub struct Shared {
    /// The configuration in force.
    pub loaded: RwLock<Arc<Loaded>>,
    /// The audit log.
    pub audit: AuditLog,
    /// Cancelled on shutdown: stop accepting, finish what runs.
    pub shutdown: CancellationToken,
    /// Cancelled when the grace period is over: kill what still runs.
    pub kill: CancellationToken,
    /// Caps connections over all agents.
    pub connections: Arc<AtomicUsize>,
    /// Connections over a cap whose request is being read for their refusal.
    pub refusing: AtomicUsize,
    /// Serializes runs of non-concurrent commands, by command name.
    pub serial: tokio::sync::Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Shared {
    /// The configuration in force now.
    pub fn current(&self) -> Arc<Loaded> {
        match self.loaded.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The lock that serializes runs of `command`.
    pub async fn serial_lock(&self, command: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.serial.lock().await;
        Arc::clone(locks.entry(command.to_owned()).or_default())
    }
}

/// `airlock-daemon start`.
pub fn start(config: &ConfigArgs, sockets: Option<&Path>) -> CliResult {
    let config_dir = config.config_dir();
    let sockets = sockets.map_or_else(|| config_dir.join("sockets"), Path::to_path_buf);
    let loaded = load::load_serving(&config_dir, config.agents.as_deref(), &sockets)
        .map_err(|e| e.to_string())?;
    // Before the runtime starts threads: the guard is forked from a daemon with one.
    crate::guard::start().map_err(|e| {
        format!("error: cannot start the guard that stops runs with the daemon: {e}")
    })?;
    // Before the runtime's threads, and inherited by everything the daemon starts.
    crate::syscall_filter::enter_for_daemon()
        .map_err(|e| format!("error: cannot install the system-call filter: {e}"))?;
    // The daemon's threads never take a processor from a program on waking (see
    // `scheduling`); the guard, forked above, keeps the normal policy.
    crate::scheduling::batch();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .on_thread_start(crate::scheduling::batch)
        .enable_all()
        .build()
        .map_err(|e| format!("error: cannot start the runtime: {e}"))?;
    runtime.block_on(serve(loaded, config.clone(), sockets))
}

/// Serves every agent of the configuration in `config_dir` (and the agents file
/// `agents`, if any) on its socket in `sockets`, exactly as `airlock-daemon start
/// --config CONFIG_DIR --agents AGENTS --sockets SOCKETS` does, until SIGTERM or SIGINT
/// (SIGHUP reloads the configuration). For a program that embeds the daemon, such as
/// a benchmark that observes it ([`crate::timing`]); call it from the process's main
/// thread before it starts others (the guard is forked first, see [`crate::guard`]).
/// The error is the message `start` prints.
pub fn serve_agents(
    config_dir: &Path,
    agents: Option<&Path>,
    sockets: &Path,
) -> Result<(), String> {
    let config = ConfigArgs {
        config: Some(config_dir.to_owned()),
        agents: agents.map(Path::to_owned),
    };
    start(&config, Some(sockets)).map(|_| ())
}

/// Serves until SIGTERM/SIGINT. Runs on the thread that `block_on` runs on, which
/// lives as long as the daemon: the ssh-agents it starts die with that thread.
async fn serve(mut loaded: Loaded, config: ConfigArgs, sockets: PathBuf) -> CliResult {
    // Handlers first: a signal that arrives once the sockets are announced must not
    // find the default action (which would end the daemon without cleaning up).
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| format!("error: {e}"))?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| format!("error: {e}"))?;
    let mut hangup = signal(SignalKind::hangup()).map_err(|e| format!("error: {e}"))?;
    // Whatever a program leaves behind stays below the daemon: it is reaped here, and a
    // connection from it to an agent's socket is recognized and refused.
    crate::children::become_subreaper()
        .map_err(|e| format!("error: cannot become the reaper of the programs' children: {e}"))?;
    // What a daemon killed without stopping left of its runs' private directories.
    let swept = crate::scratch::sweep(loaded.confiner.scratch_base());
    if swept > 0 {
        eprintln!(
            "airlock-daemon: removed {swept} private directories of runs left by a daemon that was killed"
        );
    }
    let reaper_stop = CancellationToken::new();
    tokio::spawn(crate::children::reaper(reaper_stop.clone()));
    std::fs::create_dir_all(&sockets)
        .and_then(|()| std::fs::set_permissions(&sockets, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| {
            format!(
                "error: cannot prepare socket directory `{}`: {e}",
                sockets.display()
            )
        })?;
    let log_path = loaded
        .config
        .log
        .path
        .clone()
        .unwrap_or_else(|| loaded.config_dir.join("audit.log"));
    let audit = AuditLog::open(
        &log_path,
        loaded.config.log.max_size_bytes,
        loaded.config.log.max_files,
    )
    .map_err(|e| format!("error: cannot open audit log `{}`: {e}", log_path.display()))?;
    // Before any socket is bound: an agent whose keys do not load is not served.
    let mut ssh_agents = SshAgents::default();
    start_ssh_agents(&mut ssh_agents, &mut loaded).map_err(|e| format!("error: {e}"))?;
    let shared = Arc::new(Shared {
        connections: Arc::new(AtomicUsize::new(0)),
        refusing: AtomicUsize::new(0),
        loaded: RwLock::new(Arc::new(loaded)),
        audit,
        shutdown: CancellationToken::new(),
        kill: CancellationToken::new(),
        serial: tokio::sync::Mutex::new(BTreeMap::new()),
    });
    let tracker = TaskTracker::new();
    // What the agents' audit budgets left out is summed up every few seconds.
    let summaries = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SUMMARIES_EVERY).await;
                if let Err(e) = shared.audit.write_summaries() {
                    eprintln!("airlock-daemon: cannot write the audit log: {e}");
                }
            }
        })
    };
    // The next run's kits of recently used commands are kept fresh, so that an agent
    // that thinks between commands still finds one (see `Confiner::keep_warm`).
    let keep_warm = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(crate::confine::KEEP_WARM_EVERY).await;
                shared.current().confiner.keep_warm();
            }
        })
    };
    let mut listeners: BTreeMap<String, Listening> = BTreeMap::new();
    let current = shared.current();
    bind_agents(&current, &sockets, &shared, &tracker, &mut listeners)?;
    warn_device_mounts(&current);
    println!(
        "airlock-daemon {}: enabled commands: {}",
        env!("CARGO_PKG_VERSION"),
        current
            .config
            .enable
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    // Not held while serving: a reload must be able to drop this configuration (and
    // with it the ssh-agents it alone uses).
    drop(current);
    println!("audit log: {}", shared.audit.path().display());
    if listeners.is_empty() {
        println!("no agents (pass --agents FILE to serve some)");
    }

    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => {
                reload(&config, &sockets, &shared, &tracker, &mut listeners, &mut ssh_agents);
            }
        }
    }

    eprintln!("airlock-daemon: shutting down");
    shared.shutdown.cancel();
    tracker.close();
    let grace = shared.current().config.limits.shutdown_grace;
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        eprintln!("airlock-daemon: grace period over, killing running commands");
        shared.kill.cancel();
        // Killed programs end at once; what is still waiting on a client that stopped
        // reading is abandoned (its programs die with the daemon).
        if tokio::time::timeout(KILL_WAIT, tracker.wait())
            .await
            .is_err()
        {
            eprintln!("airlock-daemon: connections still open after the kill; leaving them");
        }
    }
    for (_, listening) in listeners {
        listening.stop();
    }
    ssh_agents.stop_all();
    reaper_stop.cancel();
    summaries.abort();
    keep_warm.abort();
    if let Err(e) = shared.audit.write_summaries() {
        eprintln!("airlock-daemon: cannot write the audit log: {e}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Gives every agent of `loaded` that names keys its ssh-agent (see
/// [`SshAgents::attach`]) and says which ones started.
fn start_ssh_agents(
    ssh_agents: &mut SshAgents,
    loaded: &mut Loaded,
) -> Result<(), ssh_agent::SshAgentError> {
    let search = std::env::var_os("PATH").unwrap_or_default();
    let started = ssh_agents.attach(loaded, &search, &ssh_agent::base_dir())?;
    for name in started {
        let keys = loaded.agents.get(&name).map_or(0, |a| a.ssh_keys.len());
        println!(
            "ssh-agent for {name}: {keys} key{}",
            if keys == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// Warns, on stderr, of every agent mount whose file system honours device files
/// ([`crate::devices`]).
fn warn_device_mounts(loaded: &Loaded) {
    for (name, agent) in &loaded.agents {
        for root in &agent.mount_roots {
            if let Some(warning) = crate::devices::warning(name, root) {
                eprintln!("airlock-daemon: warning: {warning}");
            }
        }
    }
}

/// A bound agent socket and its accept loop.
struct Listening {
    path: PathBuf,
    stop: CancellationToken,
}

impl Listening {
    fn stop(self) {
        self.stop.cancel();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds a socket for every agent of `loaded` that has none yet.
fn bind_agents(
    loaded: &Loaded,
    sockets: &Path,
    shared: &Arc<Shared>,
    tracker: &TaskTracker,
    listeners: &mut BTreeMap<String, Listening>,
) -> Result<(), String> {
    for name in loaded.agents.keys() {
        if listeners.contains_key(name) {
            continue;
        }
        let path = sockets.join(format!("{name}.sock"));
        let listener = bind(&path)?;
        println!("agent {name}: {}", path.display());
        let stop = CancellationToken::new();
        let per_agent = Arc::new(AtomicUsize::new(0));
        tracker.spawn(accept_loop(
            listener,
            name.clone(),
            Arc::clone(shared),
            per_agent,
            tracker.clone(),
            stop.clone(),
        ));
        listeners.insert(name.clone(), Listening { path, stop });
    }
    Ok(())
}

/// Binds `path` with mode 0600, replacing a stale socket (one nobody answers on).
fn bind(path: &Path) -> Result<UnixListener, String> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!(
                "error: `{}` is in use: is another airlock-daemon running?",
                path.display()
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("error: cannot remove stale `{}`: {e}", path.display()))?;
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| format!("error: cannot bind `{}`: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("error: cannot restrict `{}`: {e}", path.display()))?;
    Ok(listener)
}

async fn accept_loop(
    listener: UnixListener,
    agent: String,
    shared: Arc<Shared>,
    per_agent: Arc<AtomicUsize>,
    tracker: TaskTracker,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shared.shutdown.cancelled() => return,
            () = stop.cancelled() => return,
        };
        let accepted_at = std::time::Instant::now();
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                eprintln!("airlock-daemon: agent {agent}: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        // The caps in force now (a reload changes them for the next connection).
        let limits = shared.current().config.limits;
        let permits = (
            Slot::take(&shared.connections, limits.max_connections),
            Slot::take(&per_agent, limits.max_connections_per_agent),
        );
        let context = Context {
            agent: agent.clone(),
            shared: Arc::clone(&shared),
            accepted: accepted_at,
        };
        match permits {
            (Some(global), Some(local)) => {
                tracker.spawn(async move {
                    connection::serve(stream, context).await;
                    drop((global, local));
                });
            }
            _ => {
                tracker.spawn(connection::refuse_busy(stream, context));
            }
        }
    }
}

/// One connection counted against a cap, released when dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// A slot of `count` if fewer than `limit` are taken.
    fn take(count: &Arc<AtomicUsize>, limit: usize) -> Option<Self> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(count)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// SIGHUP: load the configuration again; a broken one (or one whose keys do not
/// load) keeps the old and says why.
fn reload(
    config: &ConfigArgs,
    sockets: &Path,
    shared: &Arc<Shared>,
    tracker: &TaskTracker,
    listeners: &mut BTreeMap<String, Listening>,
    ssh_agents: &mut SshAgents,
) {
    let mut loaded =
        match load::load_serving(&config.config_dir(), config.agents.as_deref(), sockets) {
            Ok(loaded) => loaded,
            Err(e) => {
                eprintln!("airlock-daemon: reload failed, keeping the old configuration:\n{e}");
                return;
            }
        };
    // Agents whose keys changed get a fresh ssh-agent; the old one stops once the
    // requests still running under the old configuration are done.
    if let Err(e) = start_ssh_agents(ssh_agents, &mut loaded) {
        eprintln!("airlock-daemon: reload failed, keeping the old configuration:\nerror: {e}");
        return;
    }
    let gone: Vec<String> = listeners
        .keys()
        .filter(|name| !loaded.agents.contains_key(*name))
        .cloned()
        .collect();
    for name in gone {
        if let Some(listening) = listeners.remove(&name) {
            println!("agent {name}: removed");
            listening.stop();
        }
    }
    if let Err(e) = bind_agents(&loaded, sockets, shared, tracker, listeners) {
        eprintln!("airlock-daemon: reload: {e}");
    }
    warn_device_mounts(&loaded);
    match shared.loaded.write() {
        Ok(mut guard) => *guard = Arc::new(loaded),
        Err(poisoned) => *poisoned.into_inner() = Arc::new(loaded),
    }
    println!("airlock-daemon: configuration reloaded");
}

/// The peer's credentials, from the socket.
pub fn peer(stream: &UnixStream) -> Option<airlock_core::Peer> {
    let cred = stream.peer_cred().ok()?;
    Some(airlock_core::Peer {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: cred.pid(),
    })
}
