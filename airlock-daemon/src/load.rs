//! Loading the daemon's configuration from disk: `config.toml`, the agents file, each
//! agent's `airlock.toml`, override modules and hooks. Every error names the file,
//! and for file contents its line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use airlock_core::{
    AgentProfile, AgentScope, AgentsFile, CommandAccess, DaemonConfig, HostPath, ScopeError,
    SourceError,
};
use airlock_policy::{CompileError, Policy};

use crate::confine::{ConfineError, Confiner, Grants};
use crate::scratch::HomeLink;
use crate::ssh_agent::{SshAgent, SshKey};
use crate::trusted::Trusted;

/// Everything the daemon serves, loaded and checked.
#[derive(Debug)]
pub struct Loaded {
    /// `config.toml`.
    pub config: DaemonConfig,
    /// The directory holding `config.toml`.
    pub config_dir: PathBuf,
    /// The agents, by name.
    pub agents: BTreeMap<String, Agent>,
    /// How programs are confined.
    pub confiner: Confiner,
    /// Where the commands' programs were found (kept until the next reload).
    pub programs: Programs,
}

/// Where each module's program (its `bin`) was found on the daemon's `PATH`, so that a
/// request does not search `PATH` again: a program found once is checked to still be an
/// executable file at the same path (one `stat`) and searched for again when it is not.
/// A program installed later in a directory earlier on `PATH` is used from the next
/// reload on. A `bin` that is an absolute path is that path, as always.
///
/// A program that really is (links resolved) inside an agent's mount is refused: that
/// agent could replace it, and the daemon would run the agent's own program with the
/// credentials it hands the real one.
#[derive(Debug, Default)]
pub struct Programs {
    found: std::sync::Mutex<BTreeMap<String, PathBuf>>,
}

/// Why a module's program cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProgramError {
    /// Not on the daemon's `PATH` (or, pinned, not an executable file).
    #[error("`{bin}` is not installed where the daemon runs")]
    Missing {
        /// The module's `bin`.
        bin: String,
    },
    /// Inside an agent's mount.
    #[error(
        "`{bin}` is `{}`, inside agent `{agent}`'s mount `{}`: that agent could replace the program the daemon runs; install it outside every mount (and keep the daemon's `PATH` off the mounts)",
        path.display(),
        mount.display()
    )]
    InsideMount {
        /// The module's `bin`.
        bin: String,
        /// Where the program really is.
        path: PathBuf,
        /// The agent whose mount it is in.
        agent: String,
        /// That mount.
        mount: PathBuf,
    },
}

impl Programs {
    /// The program `bin` names, on `PATH`, if it is inside none of the mounts of
    /// `agents`.
    pub fn find(
        &self,
        bin: &str,
        agents: &BTreeMap<String, Agent>,
    ) -> Result<PathBuf, ProgramError> {
        let mut found = match self.found.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(path) = found.get(bin) {
            if crate::doctor::is_executable(path) {
                return Ok(path.clone());
            }
        }
        found.remove(bin);
        let search = std::env::var_os("PATH").unwrap_or_default();
        let missing = || ProgramError::Missing {
            bin: bin.to_owned(),
        };
        let path = crate::doctor::find_program(bin, &search).ok_or_else(missing)?;
        let real = std::fs::canonicalize(&path).map_err(|_| missing())?;
        for (agent, loaded) in agents {
            if let Some(mount) = loaded.mount_roots.iter().find(|m| real.starts_with(m)) {
                return Err(ProgramError::InsideMount {
                    bin: bin.to_owned(),
                    path: real,
                    agent: agent.clone(),
                    mount: mount.clone(),
                });
            }
        }
        found.insert(bin.to_owned(), path.clone());
        Ok(path)
    }
}

/// One agent, ready to serve.
#[derive(Debug)]
pub struct Agent {
    /// Its scope: profile and modules.
    pub scope: AgentScope,
    /// Its directory.
    pub dir: PathBuf,
    /// The canonical host paths of its mounts (a cwd must resolve inside one).
    pub mount_roots: Vec<PathBuf>,
    /// `hooks/pre-exec`, if present.
    pub pre_exec: Option<PathBuf>,
    /// `hooks/post-exec`, if present.
    pub post_exec: Option<PathBuf>,
    /// What each command may reach beyond the mounts (`[access.COMMAND]`), with its
    /// paths resolved on the host.
    pub access: BTreeMap<String, Access>,
    /// The keys its ssh-agent holds (`[ssh_agent] keys`), resolved and checked.
    pub ssh_keys: Vec<SshKey>,
    /// Its running ssh-agent, once the server has started one (agents without keys,
    /// and agents loaded outside `start`, have none).
    pub ssh_agent: Option<Arc<SshAgent>>,
    /// The environment each command's programs start from, by command, made on first
    /// use (see `pipeline::base_env`); emptied when the ssh-agent changes.
    pub(crate) base_envs: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
}

/// What one command may reach, resolved.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The paths and ports the profile grants.
    pub grants: Grants,
    /// The declared `~/...` paths, linked into the run's private home.
    pub home: Vec<HomeLink>,
}

impl Agent {
    /// What a run of `command` (whose program is `program`) may reach besides its own
    /// private directory: the mounts, the program, and what the profile declares.
    pub fn grants(&self, command: &str, program: &Path, exec: &airlock_policy::ExecSpec) -> Grants {
        let mut grants = self
            .access
            .get(command)
            .map(|a| a.grants.clone())
            .unwrap_or_default();
        grants.read_write.extend(self.mount_roots.iter().cloned());
        grants.exec.push(program.to_owned());
        grants.exec_writable = exec.exec_writable;
        grants
    }

    /// The links of `command`'s private home.
    pub fn home_links(&self, command: &str) -> &[HomeLink] {
        self.access.get(command).map_or(&[], |a| a.home.as_slice())
    }

    /// The socket of its ssh-agent, for `SSH_AUTH_SOCK`.
    pub fn ssh_auth_sock(&self) -> Option<&Path> {
        self.ssh_agent.as_deref().map(SshAgent::socket)
    }
}

/// Why loading failed. Each message starts with `error:` and names the file (and, for
/// what is written in a file, its line and column).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be read.
    #[error("error: cannot read `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// `--config` names something that is not a directory.
    #[error(
        "error: `{}` is not a directory: --config names the directory that holds config.toml",
        path.display()
    )]
    ConfigNotADirectory {
        /// What `--config` named.
        path: PathBuf,
    },
    /// A configuration file is invalid.
    #[error("{0}")]
    Source(Box<SourceError>),
    /// A module does not compile.
    #[error("{0}")]
    Module(Box<CompileError>),
    /// An agent's scope is inconsistent.
    #[error("{}", scope_message(agent, source))]
    Scope {
        /// The agent.
        agent: String,
        /// What is wrong.
        source: Box<ScopeError>,
    },
    /// Confinement cannot be set up.
    #[error("error: {0}")]
    Confine(#[from] ConfineError),
}

/// A scope error's message: the located ones as they are, the others under the agent's
/// name.
fn scope_message(agent: &str, error: &ScopeError) -> String {
    match error {
        ScopeError::Module(_) | ScopeError::Override(_) => error.to_string(),
        _ => format!("error: agent `{agent}`: {error}"),
    }
}

impl From<SourceError> for LoadError {
    fn from(error: SourceError) -> Self {
        LoadError::Source(Box::new(error))
    }
}

/// Reads a file as text, naming it in the error.
pub fn read_text(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Loads `config_dir/config.toml`, the agents file (if any) and every agent, for
/// sockets in the default place (`config_dir/sockets`).
pub fn load(config_dir: &Path, agents_file: Option<&Path>) -> Result<Loaded, LoadError> {
    load_serving(config_dir, agents_file, &config_dir.join("sockets"))
}

/// [`load`], for the agents' sockets in `sockets`. No mount may cover what the daemon
/// trusts ([`crate::trusted`]): its configuration, the agents file, the audit log,
/// `sockets`, the runs' private directories, and each agent's profile, modules and
/// hooks.
pub fn load_serving(
    config_dir: &Path,
    agents_file: Option<&Path>,
    sockets: &Path,
) -> Result<Loaded, LoadError> {
    if config_dir.exists() && !config_dir.is_dir() {
        return Err(LoadError::ConfigNotADirectory {
            path: config_dir.to_owned(),
        });
    }
    let config_path = config_dir.join("config.toml");
    let mut config = DaemonConfig::parse(
        &config_path.display().to_string(),
        &read_text(&config_path)?,
    )?;
    // Like every other path in a configuration file, relative to its file.
    if let Some(path) = &mut config.log.path {
        if path.is_relative() {
            *path = config_dir.join(&*path);
        }
    }
    let confiner = Confiner::new(&config.confinement)?;
    let builtins = airlock_builtins::policy().map_err(|e| LoadError::Module(Box::new(e)))?;
    let log = config
        .log
        .path
        .clone()
        .unwrap_or_else(|| config_dir.join("audit.log"));
    let mut trusted = vec![
        Trusted::new(&config_path, "the daemon's configuration"),
        Trusted::new(&log, "the audit log"),
        crate::trusted::sockets(sockets),
        Trusted::new(confiner.scratch_base(), "the runs' private directories"),
        Trusted::new(
            &crate::ssh_agent::base_dir(),
            "the directory of the ssh-agents' sockets",
        ),
    ];
    let mut agents = BTreeMap::new();
    if let Some(file) = agents_file {
        trusted.push(Trusted::new(file, "the agents file"));
        let source = file.display().to_string();
        let text = read_text(file)?;
        let parsed = AgentsFile::parse(&source, &text)?;
        let base = file.parent().unwrap_or(Path::new("."));
        let mut dirs = Vec::new();
        for (name, dir) in parsed.agents {
            // Absolute: hooks run in the agent's directory, so a path relative to the
            // daemon's own working directory would not lead to them from there.
            let resolved = base.join(&dir);
            let resolved = std::path::absolute(&resolved).unwrap_or(resolved);
            let at = |message: String| {
                let span = parsed.path_spans.get(&name).cloned().unwrap_or(0..0);
                LoadError::from(SourceError::new(&source, &text, span, message))
            };
            if !resolved.is_dir() {
                return Err(at(format!(
                    "agent `{name}`: its directory `{}` ({}) {}",
                    dir.display(),
                    resolved.display(),
                    if resolved.exists() {
                        "is not a directory"
                    } else {
                        "does not exist"
                    }
                )));
            }
            if !resolved.join("airlock.toml").is_file() {
                return Err(at(format!(
                    "agent `{name}`: its directory `{}` has no `airlock.toml` ({})",
                    dir.display(),
                    resolved.join("airlock.toml").display()
                )));
            }
            trusted.extend(crate::trusted::agent_files(&name, &resolved));
            dirs.push((name, resolved));
        }
        for (name, dir) in dirs {
            let agent = load_agent(&config, &builtins, &name, &dir, &trusted)?;
            agents.insert(name, agent);
        }
    }
    Ok(Loaded {
        config,
        config_dir: config_dir.to_owned(),
        agents,
        programs: Programs::default(),
        confiner,
    })
}

/// Loads one agent directory; none of its mounts may cover what is `trusted`.
pub fn load_agent(
    config: &DaemonConfig,
    builtins: &Policy,
    name: &str,
    dir: &Path,
    trusted: &[Trusted],
) -> Result<Agent, LoadError> {
    let profile_path = dir.join("airlock.toml");
    let profile_source = profile_path.display().to_string();
    let profile_text = read_text(&profile_path)?;
    let profile = AgentProfile::parse(name, &profile_source, &profile_text)?;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut access = BTreeMap::new();
    for (command, declared) in &profile.access {
        let resolve = |path: &HostPath| {
            resolve_declared(path, dir, home.as_deref()).map_err(|message| {
                SourceError::new(&profile_source, &profile_text, path.span.clone(), message)
            })
        };
        let CommandAccess {
            read,
            write,
            connect,
            bind,
            ports_span,
            remotes: _,
            remotes_span: _,
            hosts: _,
            hosts_span: _,
            regions: _,
            regions_span: _,
        } = declared;
        if let Some(span) = ports_span {
            let abi = crate::confine::kernel_abi().min(crate::confine::NEWEST_ABI);
            if config.confinement.mode == airlock_core::ConfinementMode::Landlock && abi < 4 {
                return Err(SourceError::new(
                    &profile_source,
                    &profile_text,
                    span.clone(),
                    format!(
                        "TCP port lists need Landlock ABI 4 (Linux 6.7); this kernel has {}",
                        abi.max(0)
                    ),
                )
                .into());
            }
        }
        let read: Vec<PathBuf> = read.iter().map(&resolve).collect::<Result<_, _>>()?;
        let write: Vec<PathBuf> = write.iter().map(&resolve).collect::<Result<_, _>>()?;
        // A path its programs may write is as good as a mount for what it covers; one
        // they may read shows them what it holds (other agents' profiles, other runs'
        // files, the names of the ssh-agents' sockets).
        let granted = (declared.read.iter().zip(&read).map(|p| (p, "read")))
            .chain(declared.write.iter().zip(&write).map(|p| (p, "write")));
        for ((path, resolved), verb) in granted {
            if let Some(covered) = crate::trusted::covered(resolved, trusted) {
                return Err(SourceError::new(
                    &profile_source,
                    &profile_text,
                    path.span.clone(),
                    format!(
                        "`{}` ({}) lets `{command}` {verb} {} (`{}`); declare narrower paths",
                        path.written.display(),
                        resolved.display(),
                        covered.what,
                        covered.path.display()
                    ),
                )
                .into());
            }
        }
        let home = declared
            .read
            .iter()
            .zip(&read)
            .chain(declared.write.iter().zip(&write))
            .filter_map(|(path, target)| {
                let relative = path.written.strip_prefix("~").ok()?;
                (!relative.as_os_str().is_empty()).then(|| HomeLink {
                    relative: relative.to_owned(),
                    target: target.clone(),
                })
            })
            .collect();
        let grants = Grants {
            read,
            read_write: write,
            exec: Vec::new(),
            connect: connect.clone(),
            bind: bind.clone(),
            exec_writable: true,
        };
        access.insert(command.clone(), Access { grants, home });
    }
    let ssh_keys = profile
        .ssh_agent
        .keys
        .iter()
        .map(|key| {
            SshKey::resolve(key, dir, home.as_deref()).map_err(|message| {
                SourceError::new(&profile_source, &profile_text, key.span.clone(), message)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut overrides = Vec::new();
    let commands_dir = dir.join("commands");
    if commands_dir.is_dir() {
        let entries = std::fs::read_dir(&commands_dir).map_err(|source| LoadError::Io {
            path: commands_dir.clone(),
            source,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            overrides.push((path.display().to_string(), stem, read_text(&path)?));
        }
    }
    // The daemon's enable list is the ceiling: a command beyond it is an error where the
    // agent lists it.
    if let Some(listed) = &profile.commands {
        if let Some(command) = listed.iter().find(|c| !config.enable.contains(*c)) {
            let enabled: Vec<&str> = config.enable.iter().map(String::as_str).collect();
            return Err(SourceError::new(
                &profile_source,
                &profile_text,
                profile.command_spans.get(command).cloned().unwrap_or(0..0),
                format!(
                    "`{command}` is not in the daemon's enable list (config.toml enables {}): enable it there or remove it here",
                    enabled.join(", ")
                ),
            )
            .into());
        }
    }
    let mut mount_roots = Vec::new();
    let mut profile = profile;
    for (index, mount) in profile.mounts.iter_mut().enumerate() {
        let written = mount.host.clone();
        mount.host = dir.join(&mount.host);
        let root = std::fs::canonicalize(&mount.host)
            .and_then(|root| {
                if root.is_dir() {
                    Ok(root)
                } else {
                    Err(std::io::Error::other("not a directory"))
                }
            })
            .map_err(|e| {
                SourceError::new(
                    &profile_source,
                    &profile_text,
                    profile.mount_host_spans.get(index).cloned().unwrap_or(0..0),
                    format!(
                        "mount host path `{}` ({}) cannot be used: {e}",
                        written.display(),
                        mount.host.display()
                    ),
                )
            })?;
        if let Some(covered) = crate::trusted::covered(&root, trusted) {
            return Err(SourceError::new(
                &profile_source,
                &profile_text,
                profile.mount_host_spans.get(index).cloned().unwrap_or(0..0),
                format!(
                    "mount host path `{}` ({}) holds {} (`{}`), which the agent could then rewrite from its container; keep the daemon's configuration, the agents file, the audit log, the sockets, the runs' private directories and every agent's profile, modules and hooks outside every mount",
                    written.display(),
                    root.display(),
                    covered.what,
                    covered.path.display()
                ),
            )
            .into());
        }
        mount_roots.push(root);
    }
    for (key, declared) in ssh_keys.iter().zip(&profile.ssh_agent.keys) {
        if let Some(message) = key_exposure(key, &mount_roots, &access) {
            return Err(SourceError::new(
                &profile_source,
                &profile_text,
                declared.span.clone(),
                message,
            )
            .into());
        }
    }
    let hook = |name: &str| {
        let path = dir.join("hooks").join(name);
        path.exists().then_some(path)
    };
    // A module named for one command but guarding another: at its `bin`.
    for (source, stem, text) in &overrides {
        if let Ok(header) = airlock_policy::ModuleHeader::parse(source, text) {
            if header.command() != stem {
                return Err(SourceError::new(
                    source,
                    text,
                    header.bin_span(),
                    format!(
                        "this module is for `{}`, but its file is named for `{stem}`: name it `commands/{}.toml`",
                        header.command(),
                        header.command()
                    ),
                )
                .into());
            }
        }
    }
    // A listed command with neither a built-in nor a module of the agent's: at the
    // command.
    if let Some(listed) = &profile.commands {
        let own = |command: &str| overrides.iter().any(|(_, stem, _)| stem == command);
        if let Some(command) = listed
            .iter()
            .find(|c| builtins.module(c).is_none() && !own(c))
        {
            return Err(SourceError::new(
                &profile_source,
                &profile_text,
                profile.command_spans.get(command).cloned().unwrap_or(0..0),
                format!(
                    "`{command}` has no built-in module: add `commands/{command}.toml` to this agent's directory"
                ),
            )
            .into());
        }
    }
    let scope = AgentScope::new(config, profile, builtins, &overrides).map_err(|source| {
        LoadError::Scope {
            agent: name.to_owned(),
            source: Box::new(source),
        }
    })?;
    for (command, declared) in &scope.profile().access {
        let runs = scope.policy().module(command).map(|m| m.command());
        for (key, span, tool) in [
            ("remotes", &declared.remotes_span, "git"),
            ("hosts", &declared.hosts_span, "ssh"),
            ("regions", &declared.regions_span, "aws"),
        ] {
            let Some(span) = span else {
                continue;
            };
            if runs != Some(tool) {
                return Err(SourceError::new(
                    &profile_source,
                    &profile_text,
                    span.clone(),
                    format!(
                        "`{key}` is checked for {tool} only, and `{command}` does not run {tool}: its destinations would not be checked"
                    ),
                )
                .into());
            }
        }
    }
    // A module that pins its program (`bin = "/usr/bin/git"`) names one that exists.
    for (source, stem, text) in &overrides {
        let Some(module) = scope.policy().module(stem) else {
            continue;
        };
        let pinned = Path::new(module.bin());
        if pinned.is_absolute() && !crate::doctor::is_executable(pinned) {
            let span = airlock_policy::ModuleHeader::parse(source, text)
                .map(|h| h.bin_span())
                .unwrap_or(0..0);
            return Err(SourceError::new(
                source,
                text,
                span,
                format!(
                    "`{}` is not an executable file: a pinned `bin` must name the program itself",
                    pinned.display()
                ),
            )
            .into());
        }
    }
    Ok(Agent {
        scope,
        dir: dir.to_owned(),
        mount_roots,
        pre_exec: hook("pre-exec"),
        post_exec: hook("post-exec"),
        access,
        ssh_keys,
        ssh_agent: None,
        base_envs: Mutex::default(),
    })
}

/// Why a key the ssh-agent holds would also be readable as a file, if it would: inside
/// one of the agent's mounts, or under a path `[access.COMMAND]` grants.
fn key_exposure(
    key: &SshKey,
    mount_roots: &[PathBuf],
    access: &BTreeMap<String, Access>,
) -> Option<String> {
    if let Some(root) = mount_roots.iter().find(|root| key.path.starts_with(root)) {
        return Some(format!(
            "ssh key `{}` is inside the mount `{}`: the agent could read it; keep keys outside every mount",
            key.written.display(),
            root.display()
        ));
    }
    access.iter().find_map(|(command, granted)| {
        let grants = &granted.grants;
        let path = grants
            .read
            .iter()
            .chain(&grants.read_write)
            .find(|path| key.path.starts_with(path))?;
        Some(format!(
            "ssh key `{}` is under `{}`, which `[access.{command}]` lets programs read; the ssh-agent is the only way to the key: grant narrower paths",
            key.written.display(),
            path.display()
        ))
    })
}

/// The host path a profile declares, which must exist: the error is the message for
/// the declaration's line and column.
fn resolve_declared(
    path: &HostPath,
    agent_dir: &Path,
    home: Option<&Path>,
) -> Result<PathBuf, String> {
    let resolved = path.resolve(agent_dir, home).ok_or_else(|| {
        format!(
            "`{}` is under `~`, but the daemon has no HOME",
            path.written.display()
        )
    })?;
    std::fs::canonicalize(&resolved).map_err(|e| {
        format!(
            "`{}` ({}) cannot be used: {e}",
            path.written.display(),
            resolved.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads agent `a1` from `dir` with `profile` as its `airlock.toml`.
    fn load_profile(dir: &Path, profile: &str) -> Result<Agent, LoadError> {
        std::fs::create_dir_all(dir.join("ws")).unwrap();
        std::fs::write(dir.join("airlock.toml"), profile).unwrap();
        let config = DaemonConfig::parse("c", "[commands]\nenable = [\"git\"]\n").unwrap();
        load_agent(
            &config,
            &airlock_builtins::policy().unwrap(),
            "a1",
            dir,
            &[],
        )
    }

    const MOUNT: &str = "commands = []\n[[mounts]]\ncontainer = \"/workspace\"\nhost = \"ws\"\n";

    #[test]
    fn ssh_agent_keys_resolve_against_the_agent_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join("keys/deploy"), "key").unwrap();
        let agent = load_profile(
            dir.path(),
            &format!("{MOUNT}[ssh_agent]\nkeys = [\"keys/deploy\"]\n"),
        )
        .unwrap();
        assert_eq!(agent.ssh_keys.len(), 1);
        assert_eq!(
            agent.ssh_keys[0].path,
            dir.path().join("keys/deploy").canonicalize().unwrap()
        );
        assert!(agent.ssh_agent.is_none(), "the server starts it");
    }

    #[test]
    fn a_missing_key_is_an_error_at_its_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let e = load_profile(
            dir.path(),
            &format!("{MOUNT}[ssh_agent]\nkeys = [\"keys/none\"]\n"),
        )
        .unwrap_err();
        let LoadError::Source(source) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(
            (source.location.line, source.location.column),
            (6, 9),
            "{e}"
        );
        let text = e.to_string();
        assert!(text.contains("ssh key `keys/none`"), "{text}");
        assert!(text.contains("cannot be read"), "{text}");
        assert!(text.contains("airlock.toml:6:9"), "{text}");
        assert!(text.contains('^'), "{text}");
    }

    #[test]
    fn a_key_the_agent_or_its_programs_could_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ws/.ssh")).unwrap();
        std::fs::write(dir.path().join("ws/.ssh/id"), "key").unwrap();
        let e = load_profile(
            dir.path(),
            &format!("{MOUNT}[ssh_agent]\nkeys = [\"ws/.ssh/id\"]\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("inside the mount"), "{e}");
        assert!(e.contains(":6:9"), "{e}");

        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join("keys/id"), "key").unwrap();
        std::fs::write(dir.path().join("keys/known_hosts"), "").unwrap();
        let e = load_profile(
            dir.path(),
            &format!("{MOUNT}[access.git]\nread = [\"keys\"]\n[ssh_agent]\nkeys = [\"keys/id\"]\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`[access.git]`"), "{e}");
        assert!(e.contains(":8:9"), "{e}");
        // A narrower grant beside the key is fine.
        let agent = load_profile(
            dir.path(),
            &format!(
                "{MOUNT}[access.git]\nread = [\"keys/known_hosts\"]\n[ssh_agent]\nkeys = [\"keys/id\"]\n"
            ),
        )
        .unwrap();
        assert_eq!(agent.ssh_keys.len(), 1);
    }
}
