//! SSH keys as capabilities: one OpenSSH `ssh-agent` per agent whose profile names keys
//! (`[ssh_agent] keys`).
//!
//! The key files stay where the operator keeps them, outside every confinement: no
//! program the daemon runs can read them. The daemon starts `ssh-agent -D -a SOCKET`
//! for the agent, loads each key with `ssh-add`, and gives the agent's programs only
//! `SSH_AUTH_SOCK` (see [`base_env`]): they can ask the ssh-agent to sign, never for
//! the key.
//!
//! - The socket lives in a directory of its own (mode 0700, an unguessable name, in
//!   `$XDG_RUNTIME_DIR` or else the system's temporary directory), never under an
//!   agent's mount, and is removed with it.
//! - `ssh-agent` and `ssh-add` run in a session of their own, without a controlling
//!   terminal, with an empty environment and stdin from `/dev/null`: a key with a
//!   passphrase fails to load instead of prompting. `ssh-agent` refuses to load
//!   PKCS#11 or FIDO middleware (`-P none`), so a program holding the socket cannot
//!   make the unconfined ssh-agent load a library.
//! - Waiting is bounded: [`SOCKET_TIMEOUT`] for the socket, [`ADD_TIMEOUT`] per key.
//! - An [`SshAgent`] is stopped (killed, reaped, its directory removed) by
//!   [`SshAgent::stop`] or when dropped, and dies with the daemon (the parent-death
//!   signal) if the daemon is killed.
//!
//! [`SshAgents`] keeps one per agent across reloads: an agent whose keys (paths or
//! files) are unchanged keeps its ssh-agent, one whose keys changed gets a fresh one.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_core::HostPath;

use crate::load::Loaded;

/// How long `ssh-agent` may take to listen on its socket.
pub const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `ssh-add` may take to load one key.
pub const ADD_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a wait polls.
const POLL: Duration = Duration::from_millis(10);

/// The most of `ssh-add`'s stderr the daemon reads.
const MAX_STDERR: u64 = 64 * 1024;

/// The longest path a unix socket address holds (`sun_path`, with its final NUL).
const MAX_SOCKET_PATH: usize = 107;

/// The variables about an ssh-agent that programs get only from the daemon.
const AGENT_VARS: [&str; 2] = ["SSH_AUTH_SOCK", "SSH_AGENT_PID"];

/// A program's environment: `plan` applied to the daemon's environment without the
/// daemon's own ssh-agent (`SSH_AUTH_SOCK`, `SSH_AGENT_PID`), then `SSH_AUTH_SOCK` set
/// to the agent's `socket` when it has one, unless the module strips it (`strip`) or a
/// profile or module `set` gave it a value (they win).
pub fn program_env<K: Into<std::ffi::OsString>, V: Into<std::ffi::OsString>>(
    plan: &airlock_core::EnvPlan,
    strip: &[String],
    daemon: impl IntoIterator<Item = (K, V)>,
    socket: Option<&Path>,
) -> std::collections::BTreeMap<String, String> {
    let daemon = daemon
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .filter(|(k, _)| k.to_str().is_none_or(|k| !AGENT_VARS.contains(&k)));
    let mut env = plan.apply(daemon);
    if let Some(socket) = socket {
        if !strip.iter().any(|k| k == "SSH_AUTH_SOCK") {
            env.entry("SSH_AUTH_SOCK".to_owned())
                .or_insert_with(|| socket.display().to_string());
        }
    }
    env
}

/// A key file a profile names, resolved and checked when the agent loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKey {
    /// The path as the profile writes it (`~/.ssh/id_ed25519`, `keys/deploy`).
    pub written: PathBuf,
    /// The resolved, canonical host path.
    pub path: PathBuf,
    /// The file's identity when it was checked: a key replaced or rewritten in place
    /// is a changed key.
    stamp: Stamp,
}

/// Device, inode, size, modification and change times (seconds, nanoseconds).
type Stamp = (u64, u64, u64, i64, i64, i64, i64);

/// A key as written, with the file it names when that reads differently:
/// `` `keys/deploy` (`/srv/a1/keys/deploy`) ``.
fn describe(written: &Path, path: &Path) -> String {
    if written == path {
        format!("`{}`", written.display())
    } else {
        format!("`{}` (`{}`)", written.display(), path.display())
    }
}

impl SshKey {
    /// Resolves `declared` (`~/` under `home`, a relative path under `agent_dir`) and
    /// checks that it is a regular file the daemon can open for reading. The error is
    /// the message for the declaration's line and column.
    pub fn resolve(
        declared: &HostPath,
        agent_dir: &Path,
        home: Option<&Path>,
    ) -> Result<Self, String> {
        use std::os::unix::fs::OpenOptionsExt;
        let written = &declared.written;
        let resolved = declared.resolve(agent_dir, home).ok_or_else(|| {
            format!(
                "ssh key `{}` is under `~`, but the daemon has no HOME",
                written.display()
            )
        })?;
        let cannot = |e: io::Error| {
            format!(
                "ssh key {} cannot be read: {e}",
                describe(written, &resolved)
            )
        };
        let path = std::fs::canonicalize(&resolved).map_err(cannot)?;
        // Non-blocking: a FIFO in the key's place must not stall loading.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
            .map_err(cannot)?;
        let meta = file.metadata().map_err(cannot)?;
        if !meta.is_file() {
            return Err(format!(
                "ssh key {} is not a regular file",
                describe(written, &path)
            ));
        }
        let stamp = (
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
        );
        Ok(Self {
            written: written.clone(),
            path,
            stamp,
        })
    }
}

/// Why an ssh-agent could not be started or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SshAgentError {
    /// `ssh-agent` or `ssh-add` is not installed.
    #[error(
        "agent `{agent}` names ssh keys (`[ssh_agent] keys`), but `{tool}` is not installed where the daemon runs (it comes with OpenSSH's client, e.g. the `openssh-client` package)"
    )]
    MissingTool {
        /// An agent that needs it.
        agent: String,
        /// `ssh-agent` or `ssh-add`.
        tool: &'static str,
    },
    /// The socket's directory could not be created.
    #[error("agent `{agent}`: cannot create a directory for its ssh-agent in `{}`: {source}", base.display())]
    Dir {
        /// The agent.
        agent: String,
        /// Where the directory was to be created.
        base: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The socket's path does not fit a unix socket address.
    #[error("agent `{agent}`: the ssh-agent socket path `{}` is too long for a unix socket; point TMPDIR elsewhere", path.display())]
    PathTooLong {
        /// The agent.
        agent: String,
        /// The socket path.
        path: PathBuf,
    },
    /// The socket would be inside an agent's mount, where that agent could reach it.
    #[error(
        "the ssh-agent socket of agent `{agent}` would be in `{}`, inside agent `{mount_agent}`'s mount `{}`; run the daemon with TMPDIR (or XDG_RUNTIME_DIR) outside every mount", dir.display(), mount.display()
    )]
    InsideMount {
        /// The agent whose socket it is.
        agent: String,
        /// The socket's directory.
        dir: PathBuf,
        /// The agent whose mount covers it.
        mount_agent: String,
        /// The mount's host path.
        mount: PathBuf,
    },
    /// `ssh-agent` could not be started.
    #[error("agent `{agent}`: cannot start `{}`: {source}", program.display())]
    Spawn {
        /// The agent.
        agent: String,
        /// The program.
        program: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// `ssh-agent` ended before it listened.
    #[error("agent `{agent}`: ssh-agent exited before it listened ({status})")]
    Exited {
        /// The agent.
        agent: String,
        /// How it ended.
        status: ExitStatus,
    },
    /// `ssh-agent` did not listen in time.
    #[error("agent `{agent}`: ssh-agent did not listen on `{}` within {} s", socket.display(), SOCKET_TIMEOUT.as_secs())]
    NoSocket {
        /// The agent.
        agent: String,
        /// The socket it was to listen on.
        socket: PathBuf,
    },
    /// A key could not be loaded.
    #[error("agent `{agent}`: cannot load ssh key {key}: {why}")]
    Key {
        /// The agent.
        agent: String,
        /// The key as the profile writes it, and the file it names.
        key: String,
        /// Why.
        why: String,
    },
}

/// Where `ssh-agent` and `ssh-add` are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTools {
    /// `ssh-agent`.
    pub agent: PathBuf,
    /// `ssh-add`.
    pub add: PathBuf,
}

impl SshTools {
    /// Finds both in `search` (a `PATH` value); `agent` names an agent that needs
    /// them, for the error.
    pub fn find(search: &OsStr, agent: &str) -> Result<Self, SshAgentError> {
        let find = |tool: &'static str| {
            crate::doctor::find_program(tool, search).ok_or_else(|| SshAgentError::MissingTool {
                agent: agent.to_owned(),
                tool,
            })
        };
        Ok(Self {
            agent: find("ssh-agent")?,
            add: find("ssh-add")?,
        })
    }
}

/// A running `ssh-agent` holding one agent's keys.
#[derive(Debug)]
pub struct SshAgent {
    socket: PathBuf,
    keys: Vec<SshKey>,
    pid: u32,
    running: Mutex<Option<Running>>,
}

#[derive(Debug)]
struct Running {
    child: Child,
    dir: tempfile::TempDir,
}

impl SshAgent {
    /// Starts an ssh-agent for agent `name` with its socket in a new private directory
    /// under `base`, and loads `keys` into it. Fails, having stopped it, when it does
    /// not listen within [`SOCKET_TIMEOUT`] or a key does not load within
    /// [`ADD_TIMEOUT`] (a key with a passphrase does not load).
    ///
    /// The ssh-agent dies when the thread that started it ends (the parent-death
    /// signal): start it from the thread that lives as long as the daemon.
    pub fn start(
        name: &str,
        keys: &[SshKey],
        tools: &SshTools,
        base: &Path,
    ) -> Result<Self, SshAgentError> {
        use std::os::unix::fs::PermissionsExt;
        // A name of 16 random letters and digits (95 bits): no program of another
        // agent can guess it, where connecting by path is what Landlock does not govern.
        let dir = tempfile::Builder::new()
            .prefix("airlock-ssh-agent-")
            .rand_bytes(16)
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(base)
            .map_err(|source| SshAgentError::Dir {
                agent: name.to_owned(),
                base: base.to_owned(),
                source,
            })?;
        let socket = dir.path().join("agent.sock");
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(SshAgentError::PathTooLong {
                agent: name.to_owned(),
                path: socket,
            });
        }
        let mut command = Command::new(&tools.agent);
        command
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .args(["-P", "none"])
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        detach(&mut command);
        let child =
            crate::children::spawn_std(&mut command).map_err(|source| SshAgentError::Spawn {
                agent: name.to_owned(),
                program: tools.agent.clone(),
                source,
            })?;
        let agent = Self {
            socket,
            keys: keys.to_vec(),
            pid: child.id(),
            running: Mutex::new(Some(Running { child, dir })),
        };
        agent.wait_for_socket(name)?;
        for key in keys {
            agent.add(name, key, &tools.add)?;
        }
        Ok(agent)
    }

    /// The socket programs get as `SSH_AUTH_SOCK`.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The keys it was started with.
    pub fn keys(&self) -> &[SshKey] {
        &self.keys
    }

    /// The ssh-agent's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Stops the ssh-agent: kills and reaps it and removes its directory (and the
    /// socket in it). Stopping a stopped one does nothing.
    pub fn stop(&self) {
        let running = match self.running.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(Running { mut child, dir }) = running {
            let _ = child.kill();
            let _ = child.wait();
            if let Err(e) = dir.close() {
                eprintln!("airlock-daemon: cannot remove the ssh-agent directory: {e}");
            }
        }
    }

    /// Waits until the ssh-agent answers on its socket.
    fn wait_for_socket(&self, name: &str) -> Result<(), SshAgentError> {
        let started = Instant::now();
        loop {
            let exited = match self.running.lock() {
                Ok(mut guard) => guard
                    .as_mut()
                    .and_then(|r| r.child.try_wait().ok().flatten()),
                Err(_) => None,
            };
            if let Some(status) = exited {
                return Err(SshAgentError::Exited {
                    agent: name.to_owned(),
                    status,
                });
            }
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            if started.elapsed() > SOCKET_TIMEOUT {
                return Err(SshAgentError::NoSocket {
                    agent: name.to_owned(),
                    socket: self.socket.clone(),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Loads `key` with `ssh-add`, which must not prompt and must finish in time.
    fn add(&self, name: &str, key: &SshKey, ssh_add: &Path) -> Result<(), SshAgentError> {
        let fail = |why: String| SshAgentError::Key {
            agent: name.to_owned(),
            key: describe(&key.written, &key.path),
            why,
        };
        let mut command = Command::new(ssh_add);
        command
            .arg(&key.path)
            .env_clear()
            .env("SSH_AUTH_SOCK", &self.socket)
            .env("SSH_ASKPASS_REQUIRE", "never")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        detach(&mut command);
        let mut child = crate::children::spawn_std(&mut command)
            .map_err(|e| fail(format!("cannot start `{}`: {e}", ssh_add.display())))?;
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() <= ADD_TIMEOUT => std::thread::sleep(POLL),
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(fail(format!(
                        "ssh-add did not finish within {} s",
                        ADD_TIMEOUT.as_secs()
                    )));
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(fail(format!("cannot wait for ssh-add: {e}")));
                }
            }
        };
        if status.success() {
            return Ok(());
        }
        let mut stderr = Vec::new();
        if let Some(pipe) = child.stderr.take() {
            let _ = pipe.take(MAX_STDERR).read_to_end(&mut stderr);
        }
        Err(fail(add_failure(&String::from_utf8_lossy(&stderr), status)))
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Why `ssh-add` failed, from what it printed.
fn add_failure(stderr: &str, status: ExitStatus) -> String {
    if stderr.contains("passphrase") {
        return "the key is protected by a passphrase, and the daemon does not prompt for one; load a key without a passphrase".to_owned();
    }
    let said: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('@'))
        .collect();
    let said = said.join(" ");
    if said.is_empty() {
        format!("ssh-add failed ({status})")
    } else {
        format!(
            "ssh-add failed ({status}): {}",
            said.chars().take(500).collect::<String>()
        )
    }
}

/// Runs the child in a session of its own (no controlling terminal to prompt on, no
/// terminal signals), killed when the thread that started it ends, without gaining
/// privileges.
///
/// Without a session of its own, `ssh-add` given a key with a passphrase opens
/// `/dev/tty` when the daemon has a controlling terminal and waits for someone to
/// type (stdin from `/dev/null` and no `SSH_ASKPASS`/`DISPLAY` do not prevent that).
///
/// `no_new_privs` keeps the parent-death signal: distributions install `ssh-agent`
/// set-group-id (Debian: group `_ssh`), and the kernel clears the signal when an exec
/// changes the group. What the set-group-id bit is for, keeping processes of the same
/// user from tracing the agent, ssh-agent also does itself (it makes itself
/// non-dumpable), and the programs the daemon runs cannot trace outside their
/// confinement anyway.
fn detach(command: &mut Command) {
    use rustix::process::{Signal, getppid, set_parent_process_death_signal, setsid};
    use rustix::thread::set_no_new_privs;
    let parent = rustix::process::getpid();
    #[expect(
        unsafe_code,
        reason = "the closure runs between fork and exec and makes only async-signal-safe system calls, without allocating"
    )]
    unsafe {
        command.pre_exec(move || {
            setsid()?;
            set_no_new_privs(true)?;
            set_parent_process_death_signal(Some(Signal::KILL))?;
            if getppid() != Some(parent) {
                // The daemon is already gone.
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Where the ssh-agents' directories go: `$XDG_RUNTIME_DIR` (private to the user)
/// when it is an absolute directory, else the system's temporary directory.
pub fn base_dir() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute() && dir.is_dir())
        .unwrap_or_else(std::env::temp_dir)
}

/// One ssh-agent per agent with keys, kept across reloads; all are stopped when this
/// is dropped.
#[derive(Debug, Default)]
pub struct SshAgents {
    running: BTreeMap<String, Arc<SshAgent>>,
}

impl SshAgents {
    /// Gives every agent of `loaded` that names keys its ssh-agent: the one already
    /// running when the agent's keys are unchanged, a fresh one (in `base`) otherwise.
    /// Returns the agents that got a fresh one.
    ///
    /// On success, ssh-agents no longer needed leave this registry; each stops when
    /// the last configuration using it is dropped (requests still running keep theirs).
    /// On error nothing changes, and the ssh-agents this call started are stopped.
    /// Called from the thread that lives as long as the daemon (see [`SshAgent::start`]).
    pub fn attach(
        &mut self,
        loaded: &mut Loaded,
        search: &OsStr,
        base: &Path,
    ) -> Result<Vec<String>, SshAgentError> {
        let mut tools = None;
        let mut next = BTreeMap::new();
        let mut fresh = Vec::new();
        for (name, agent) in &loaded.agents {
            if agent.ssh_keys.is_empty() {
                continue;
            }
            let running = match self.running.get(name) {
                Some(running) if running.keys() == agent.ssh_keys.as_slice() => {
                    let dir = running.socket().parent().unwrap_or(base);
                    check_outside_mounts(name, dir, loaded)?;
                    Arc::clone(running)
                }
                _ => {
                    let tools = match &tools {
                        Some(tools) => tools,
                        None => tools.insert(SshTools::find(search, name)?),
                    };
                    // The new directory goes directly in `base`: it is inside a
                    // mount exactly when `base` is.
                    check_outside_mounts(name, base, loaded)?;
                    fresh.push(name.clone());
                    Arc::new(SshAgent::start(name, &agent.ssh_keys, tools, base)?)
                }
            };
            next.insert(name.clone(), running);
        }
        for (name, agent) in &mut loaded.agents {
            agent.ssh_agent = next.get(name).cloned();
            // The programs' environments name the ssh-agent's socket: made again.
            agent
                .base_envs
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clear();
        }
        self.running = next;
        Ok(fresh)
    }

    /// Stops every ssh-agent in the registry, whoever else still holds it.
    pub fn stop_all(&mut self) {
        for (_, agent) in std::mem::take(&mut self.running) {
            agent.stop();
        }
    }
}

impl Drop for SshAgents {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Refuses a directory for agent `name`'s socket that any agent's mount covers: that
/// agent's container would see the socket.
fn check_outside_mounts(name: &str, dir: &Path, loaded: &Loaded) -> Result<(), SshAgentError> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    for (other, agent) in &loaded.agents {
        if let Some(mount) = agent.mount_roots.iter().find(|root| dir.starts_with(root)) {
            return Err(SshAgentError::InsideMount {
                agent: name.to_owned(),
                dir,
                mount_agent: other.clone(),
                mount: mount.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::process::Output;

    /// `ssh-agent`, `ssh-add` and `ssh-keygen`, or `None` (loudly) when one is
    /// missing outside CI; under `CI=true` a missing tool fails the test.
    fn tools() -> Option<SshTools> {
        let search = std::env::var_os("PATH").unwrap_or_default();
        let found = SshTools::find(&search, "test").and_then(|tools| {
            crate::doctor::find_program("ssh-keygen", &search)
                .map(|_| tools)
                .ok_or(SshAgentError::MissingTool {
                    agent: "test".into(),
                    tool: "ssh-keygen",
                })
        });
        match found {
            Ok(tools) => Some(tools),
            Err(e) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "the ssh-agent tests must run in CI: {e}"
                );
                eprintln!("\n*** SKIPPED: {e} (install openssh-client) ***\n");
                None
            }
        }
    }

    fn keygen(path: &Path, passphrase: &str) {
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", passphrase, "-C", "test", "-f"])
            .arg(path)
            .stdin(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn fingerprint(key: &Path) -> String {
        let output = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(key.with_extension("pub"))
            .output()
            .unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        text.split_whitespace().nth(1).unwrap().to_owned()
    }

    /// `ssh-add -l` against `socket`, with nothing else in its environment.
    fn list(socket: &Path) -> Output {
        Command::new("ssh-add")
            .arg("-l")
            .env_clear()
            .env("SSH_AUTH_SOCK", socket)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn key(dir: &Path, written: &str) -> SshKey {
        let declared = HostPath {
            written: written.into(),
            span: 0..0,
        };
        SshKey::resolve(&declared, dir, None).unwrap()
    }

    fn entries(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }

    #[test]
    fn starts_holds_the_key_and_stops_on_drop() {
        let Some(tools) = tools() else { return };
        let dir = tempfile::tempdir().unwrap();
        let base = tempfile::tempdir().unwrap();
        keygen(&dir.path().join("id"), "");
        let agent = SshAgent::start("a1", &[key(dir.path(), "id")], &tools, base.path()).unwrap();
        let socket = agent.socket().to_owned();
        let private = socket.parent().unwrap();
        assert_eq!(private.parent(), Some(base.path()));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(private).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let listed = list(&socket);
        assert!(listed.status.success(), "{listed:?}");
        let listed = String::from_utf8_lossy(&listed.stdout);
        assert!(
            listed.contains(&fingerprint(&dir.path().join("id"))),
            "{listed}"
        );
        let proc = PathBuf::from(format!("/proc/{}", agent.pid()));
        assert!(proc.exists());

        agent.stop();
        assert!(!socket.exists() && !private.exists(), "socket removed");
        assert!(!proc.exists(), "killed and reaped");
        assert!(!list(&socket).status.success());
        agent.stop();
        drop(agent);
        assert!(entries(base.path()).is_empty());

        // Dropping stops it too.
        let agent = SshAgent::start("a1", &[key(dir.path(), "id")], &tools, base.path()).unwrap();
        let proc = PathBuf::from(format!("/proc/{}", agent.pid()));
        drop(agent);
        assert!(!proc.exists());
        assert!(entries(base.path()).is_empty());
    }

    #[test]
    fn dies_with_the_thread_that_started_it() {
        let Some(tools) = tools() else { return };
        let dir = tempfile::tempdir().unwrap();
        let base = tempfile::tempdir().unwrap();
        keygen(&dir.path().join("id"), "");
        let key = key(dir.path(), "id");
        // Started, then forgotten (as if the daemon were killed): nothing stops it but
        // the parent-death signal when its thread ends. The installed ssh-agent may be
        // set-group-id, which would clear the signal without `no_new_privs`.
        let pid = std::thread::spawn(move || {
            let agent = SshAgent::start("a1", &[key], &tools, base.path()).unwrap();
            let pid = agent.pid();
            std::mem::forget(agent);
            std::mem::forget(base);
            pid
        })
        .join()
        .unwrap();
        use rustix::process::{Pid, Signal, WaitOptions, kill_process, waitpid};
        let pid = Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some((_, status)) = waitpid(Some(pid), WaitOptions::NOHANG).unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = kill_process(pid, Signal::KILL);
                let _ = waitpid(Some(pid), WaitOptions::empty());
                panic!("the ssh-agent outlived the thread that started it");
            }
            std::thread::sleep(POLL);
        };
        assert_eq!(status.terminating_signal(), Some(Signal::KILL.as_raw()));
    }

    #[test]
    fn a_key_with_a_passphrase_fails_to_load_without_prompting() {
        let Some(tools) = tools() else { return };
        let dir = tempfile::tempdir().unwrap();
        let base = tempfile::tempdir().unwrap();
        keygen(&dir.path().join("plain"), "");
        keygen(&dir.path().join("locked"), "a secret passphrase");
        let keys = [key(dir.path(), "plain"), key(dir.path(), "locked")];
        let started = Instant::now();
        let e = SshAgent::start("a1", &keys, &tools, base.path()).unwrap_err();
        let message = e.to_string();
        assert!(matches!(e, SshAgentError::Key { .. }), "{message}");
        assert!(message.contains("agent `a1`"), "{message}");
        assert!(message.contains("`locked`"), "{message}");
        assert!(message.contains("passphrase"), "{message}");
        // It failed at once rather than at the timeout (bounded either way).
        assert!(started.elapsed() < ADD_TIMEOUT, "{:?}", started.elapsed());
        assert!(
            entries(base.path()).is_empty(),
            "the ssh-agent started for the failed load is gone"
        );
    }

    #[test]
    fn a_key_ssh_add_rejects_names_the_key_and_says_why() {
        let Some(tools) = tools() else { return };
        let dir = tempfile::tempdir().unwrap();
        let base = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("junk"), "not a key\n").unwrap();
        let e = SshAgent::start("a1", &[key(dir.path(), "junk")], &tools, base.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot load ssh key `junk`"), "{e}");
        assert!(e.contains("ssh-add failed"), "{e}");
    }

    #[test]
    fn missing_tools_are_a_clear_error() {
        let e = SshTools::find(OsStr::new("/nonexistent"), "a1")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("agent `a1`") && e.contains("`ssh-agent` is not installed"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_or_odd_key_file_is_refused_when_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let declared = |written: &str| HostPath {
            written: written.into(),
            span: 0..0,
        };
        let e = SshKey::resolve(&declared("keys/none"), dir.path(), None).unwrap_err();
        assert!(
            e.contains("ssh key `keys/none`") && e.contains("cannot be read"),
            "{e}"
        );
        let e = SshKey::resolve(&declared("~/.ssh/id"), dir.path(), None).unwrap_err();
        assert!(e.contains("no HOME"), "{e}");
        let e = SshKey::resolve(&declared("."), dir.path(), None).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        // A FIFO in the key's place does not block loading.
        let fifo = dir.path().join("fifo");
        assert!(
            Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let e = SshKey::resolve(&declared("fifo"), dir.path(), None).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn programs_get_only_the_agents_socket_and_a_module_may_strip_it() {
        let daemon = vec![
            ("PATH".to_owned(), "/bin".to_owned()),
            ("SSH_AUTH_SOCK".to_owned(), "/daemon/own.sock".to_owned()),
            ("SSH_AGENT_PID".to_owned(), "1".to_owned()),
        ];
        let module = airlock_policy::EnvSpec::default();
        // Even a profile that passes them gets neither of the daemon's own.
        let pass: BTreeSet<String> =
            ["SSH_AUTH_SOCK".to_owned(), "SSH_AGENT_PID".to_owned()].into();
        let plan = airlock_core::EnvPlan::new(&module, &pass, &BTreeMap::new());
        let with = program_env(
            &plan,
            &[],
            daemon.clone(),
            Some(Path::new("/run/a1/agent.sock")),
        );
        assert_eq!(with["SSH_AUTH_SOCK"], "/run/a1/agent.sock");
        assert!(!with.contains_key("SSH_AGENT_PID"));
        assert_eq!(with["PATH"], "/bin");
        let without = program_env(&plan, &[], daemon.clone(), None);
        assert!(!without.contains_key("SSH_AUTH_SOCK"), "{without:?}");
        assert!(!without.contains_key("SSH_AGENT_PID"));

        let strip = vec!["SSH_AUTH_SOCK".to_owned()];
        let stripped = program_env(&plan, &strip, daemon, Some(Path::new("/run/a1/agent.sock")));
        assert!(!stripped.contains_key("SSH_AUTH_SOCK"), "{stripped:?}");
    }

    /// A loaded configuration with agent `a1` (keys `keys`, its workspace at `ws`).
    fn loaded(agent_dir: &Path, keys: &[&str]) -> Loaded {
        let keys: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
        std::fs::create_dir_all(agent_dir.join("ws")).unwrap();
        std::fs::write(
            agent_dir.join("airlock.toml"),
            format!(
                "commands = []\n[[mounts]]\ncontainer = \"/workspace\"\nhost = \"ws\"\n[ssh_agent]\nkeys = [{}]\n",
                keys.join(", ")
            ),
        )
        .unwrap();
        let config =
            airlock_core::DaemonConfig::parse("c", "[commands]\nenable = [\"git\"]\n").unwrap();
        let agent = crate::load::load_agent(
            &config,
            &airlock_builtins::policy().unwrap(),
            "a1",
            agent_dir,
            &[],
        )
        .unwrap();
        Loaded {
            config,
            config_dir: agent_dir.to_owned(),
            agents: [("a1".to_owned(), agent)].into(),
            confiner: crate::confine::Confiner::off(),
            programs: Default::default(),
        }
    }

    #[test]
    fn reloads_keep_unchanged_agents_and_replace_changed_ones() {
        let Some(_) = tools() else { return };
        let search = std::env::var_os("PATH").unwrap_or_default();
        let dir = tempfile::tempdir().unwrap();
        let base = tempfile::tempdir().unwrap();
        let agent_dir = dir.path().join("a1");
        std::fs::create_dir_all(agent_dir.join("keys")).unwrap();
        keygen(&agent_dir.join("keys/id"), "");
        let mut registry = SshAgents::default();

        let mut first = loaded(&agent_dir, &["keys/id"]);
        let fresh = registry.attach(&mut first, &search, base.path()).unwrap();
        assert_eq!(fresh, ["a1"]);
        let socket = first.agents["a1"].ssh_auth_sock().unwrap().to_owned();
        assert!(list(&socket).status.success());

        // Unchanged keys: the same ssh-agent.
        let mut same = loaded(&agent_dir, &["keys/id"]);
        let fresh = registry.attach(&mut same, &search, base.path()).unwrap();
        assert!(fresh.is_empty());
        assert_eq!(same.agents["a1"].ssh_auth_sock(), Some(socket.as_path()));
        drop(first);
        assert!(socket.exists());

        // A key replaced at the same path is a change: a fresh ssh-agent with the new
        // key; the old one stops when the last configuration holding it goes.
        std::fs::remove_file(agent_dir.join("keys/id")).unwrap();
        std::fs::remove_file(agent_dir.join("keys/id.pub")).unwrap();
        keygen(&agent_dir.join("keys/id"), "");
        let mut rotated = loaded(&agent_dir, &["keys/id"]);
        let fresh = registry.attach(&mut rotated, &search, base.path()).unwrap();
        assert_eq!(fresh, ["a1"]);
        let new_socket = rotated.agents["a1"].ssh_auth_sock().unwrap().to_owned();
        assert_ne!(new_socket, socket);
        assert!(socket.exists(), "still held by the old configuration");
        drop(same);
        assert!(!socket.exists(), "stopped with the last configuration");
        let listed = String::from_utf8(list(&new_socket).stdout).unwrap();
        assert!(listed.contains(&fingerprint(&agent_dir.join("keys/id"))));

        // No keys any more: no ssh-agent, no SSH_AUTH_SOCK.
        let mut none = loaded(&agent_dir, &[]);
        let fresh = registry.attach(&mut none, &search, base.path()).unwrap();
        assert!(fresh.is_empty());
        assert!(none.agents["a1"].ssh_auth_sock().is_none());
        drop(rotated);
        assert!(!new_socket.exists());
        assert!(entries(base.path()).is_empty());

        // Shutdown stops every ssh-agent, even one a configuration still holds.
        let mut last = loaded(&agent_dir, &["keys/id"]);
        registry.attach(&mut last, &search, base.path()).unwrap();
        let socket = last.agents["a1"].ssh_auth_sock().unwrap().to_owned();
        drop(registry);
        assert!(!socket.exists());
        assert!(entries(base.path()).is_empty());
    }

    #[test]
    fn a_socket_directory_inside_a_mount_is_refused() {
        let Some(_) = tools() else { return };
        let search = std::env::var_os("PATH").unwrap_or_default();
        let dir = tempfile::tempdir().unwrap();
        let agent_dir = dir.path().join("a1");
        std::fs::create_dir_all(agent_dir.join("keys")).unwrap();
        keygen(&agent_dir.join("keys/id"), "");
        let mut config = loaded(&agent_dir, &["keys/id"]);
        let inside = agent_dir.join("ws/run");
        std::fs::create_dir_all(&inside).unwrap();
        let mut registry = SshAgents::default();
        let e = registry
            .attach(&mut config, &search, &inside)
            .unwrap_err()
            .to_string();
        assert!(e.contains("inside agent `a1`'s mount"), "{e}");
        assert!(entries(&inside).is_empty(), "nothing was started there");
        assert!(config.agents["a1"].ssh_agent.is_none());
    }
}
