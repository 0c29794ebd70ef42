//! `airlock-daemon init`: scaffold a working configuration (`config.toml`, an agents
//! file, one agent with a workspace mount, every key commented), and, as a separate
//! step (`init --systemd`), a systemd unit that starts the daemon on it. Neither
//! overwrites an existing file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{CliResult, ConfigArgs};
use crate::load;

/// The unit's file name.
pub const UNIT_NAME: &str = "airlock.service";

/// Where `init --systemd` writes the unit unless told otherwise.
pub const DEFAULT_UNIT: &str = "/etc/systemd/system/airlock.service";

/// What `init` is asked to do.
#[derive(Debug, Clone)]
pub struct InitArgs {
    /// The configuration directory and agents file.
    pub config: ConfigArgs,
    /// The scaffolded agent's name.
    pub agent: String,
    /// Write the systemd unit instead of the configuration.
    pub systemd: bool,
    /// Where the unit goes.
    pub unit: Option<PathBuf>,
    /// The sockets directory the unit's daemon uses.
    pub sockets: Option<PathBuf>,
    /// The user the unit runs the daemon as (name or uid).
    pub run_as: Option<String>,
    /// Remove the unit instead.
    pub uninstall: bool,
}

/// Runs `init`.
pub fn run(args: &InitArgs) -> CliResult {
    if args.systemd {
        let unit = args
            .unit
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_UNIT));
        if args.uninstall {
            return uninstall(&unit);
        }
        return install_unit(args, &unit);
    }
    scaffold(&args.config, &args.agent)
}

/// The files of a scaffolded configuration: `(path, text)`, and the workspace
/// directory to create.
fn scaffold_files(
    config_dir: &Path,
    agents_file: &Path,
    agent: &str,
) -> (Vec<(PathBuf, String)>, PathBuf) {
    let agent_dir = agents_file
        .parent()
        .unwrap_or(Path::new("."))
        .join("agents")
        .join(agent);
    let files = vec![
        (config_dir.join("config.toml"), CONFIG_TOML.to_owned()),
        (
            agents_file.to_owned(),
            AGENTS_TOML.replace("{agent}", agent),
        ),
        (
            agent_dir.join("airlock.toml"),
            AGENT_TOML.replace("{agent}", agent),
        ),
    ];
    (files, agent_dir.join("workspace"))
}

const CONFIG_TOML: &str = r#"# The Airlock daemon's configuration (`airlock-daemon check` validates it; every
# error names its line and column, and unknown keys are errors).

[commands]
# The ceiling for every agent: a command not listed here runs for no agent. Each
# needs a module (a built-in: git, terraform, aws, docker, ssh, kubectl; or an agent's
# commands/NAME.toml) and its program on the daemon's PATH (`airlock-daemon doctor`).
enable = ["git"]

[log]
# The audit log, one JSON line per request; a relative path is relative to this
# directory.
path = "audit.log"
# Rotate when the log reaches this many MiB.
max_size_mb = 16
# How many rotated logs (audit.log.1, ...) to keep.
max_files = 3

[limits]
# A run is stopped after this many seconds unless its module says otherwise.
default_timeout_secs = 3600
# On SIGTERM, how long running commands get to finish before they are stopped.
shutdown_grace_secs = 10

[confinement]
# Every program runs under Landlock, confined to its agent's mounts, a private
# temporary directory and the system; "none" gives programs the daemon user's whole
# reach (only for kernels without Landlock).
mode = "landlock"
"#;

const AGENTS_TOML: &str = r#"# The agents this daemon serves, each on its own socket (SOCKETS/NAME.sock).

[{agent}]
# The agent's directory (airlock.toml, commands/, hooks/); a relative path is
# relative to this file.
path = "agents/{agent}"
"#;

const AGENT_TOML: &str = r#"# Agent `{agent}`: what it may run, and where.

# The commands it may use: within config.toml's enable list ([] would mean all of
# them).
commands = ["git"]

# The local users who may connect to its socket (default: root and the daemon's
# user).
# allowed_uids = [1000]

# How its container's paths map to the host's: a request's working directory must be
# inside a mount, and programs may write only in mounts.
[[mounts]]
# The directory as the agent's container sees it.
container = "/workspace"
# The host directory; a relative path is relative to this agent's directory.
host = "workspace"

# What a command may reach beyond its mounts and the system, e.g.:
# [access.git]
# read = ["~/.gitconfig"]   # ~/ is the daemon user's home
# connect = [22, 443]       # TCP ports (Landlock ABI 4)
"#;

/// Writes a scaffolded configuration, refusing if any of its files exists.
fn scaffold(config: &ConfigArgs, agent: &str) -> CliResult {
    if !airlock_core::is_agent_name(agent) {
        return Err(format!(
            "error: `{agent}` is not an agent name: use letters, digits, `-`, `_` and `.`"
        ));
    }
    let config_dir = config.config_dir();
    if config_dir.exists() && !config_dir.is_dir() {
        return Err(format!(
            "error: `{}` is not a directory (--config names the directory that holds config.toml)",
            config_dir.display()
        ));
    }
    let agents_file = config
        .agents
        .clone()
        .unwrap_or_else(|| config_dir.join("agents.toml"));
    let (files, workspace) = scaffold_files(&config_dir, &agents_file, agent);
    let existing: Vec<String> = files
        .iter()
        .map(|(path, _)| path)
        .filter(|path| std::fs::symlink_metadata(path).is_ok())
        .map(|path| format!("`{}`", path.display()))
        .collect();
    if !existing.is_empty() {
        return Err(format!(
            "error: {} already exist{}; init overwrites nothing (remove {} or choose another --config)",
            existing.join(", "),
            if existing.len() == 1 { "s" } else { "" },
            if existing.len() == 1 { "it" } else { "them" },
        ));
    }
    for (path, text) in &files {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("error: cannot create `{}`: {e}", dir.display()))?;
        }
        // `create_new`: a file that appeared since the check above is not overwritten.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .map_err(|e| format!("error: cannot write `{}`: {e}", path.display()))?;
        println!("created {}", path.display());
    }
    std::fs::create_dir_all(&workspace)
        .map_err(|e| format!("error: cannot create `{}`: {e}", workspace.display()))?;
    println!("created {}/", workspace.display());
    let flags = format!(
        "--config {} --agents {}",
        shell_words::quote(&config_dir.display().to_string()),
        shell_words::quote(&agents_file.display().to_string())
    );
    println!("next:");
    println!("  airlock-daemon check {flags}     # validate it");
    println!(
        "  airlock-daemon start {flags}     # serve agent `{agent}` (its container sees {} as /workspace)",
        workspace.display()
    );
    println!("  airlock-daemon init --systemd {flags}   # a systemd unit that starts it");
    Ok(ExitCode::SUCCESS)
}

/// Removes the unit at `path`.
fn uninstall(path: &Path) -> CliResult {
    match std::fs::remove_file(path) {
        Ok(()) => println!("removed {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("nothing to remove: {} does not exist", path.display());
        }
        Err(e) => return Err(format!("error: cannot remove `{}`: {e}", path.display())),
    }
    println!("then: systemctl daemon-reload");
    Ok(ExitCode::SUCCESS)
}

/// An absolute form of `path` (resolved when it exists).
fn absolute(path: &Path) -> Result<PathBuf, String> {
    if let Ok(real) = std::fs::canonicalize(path) {
        return Ok(real);
    }
    std::path::absolute(path)
        .map_err(|e| format!("error: cannot resolve `{}`: {e}", path.display()))
}

/// What the unit needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitSpec {
    /// This executable.
    pub executable: PathBuf,
    /// The configuration directory.
    pub config_dir: PathBuf,
    /// The agents file, if any.
    pub agents: Option<PathBuf>,
    /// The sockets directory.
    pub sockets: PathBuf,
    /// Who runs the daemon (`User=`).
    pub user: String,
    /// Directories the daemon or its programs write: the sockets, the audit log's
    /// directory, the agents' mounts, declared write paths, the scratch directory.
    pub writable: Vec<PathBuf>,
    /// `[limits] shutdown_grace_secs`.
    pub grace_secs: u64,
}

/// Writes the unit for the configuration `args` names, refusing to overwrite.
fn install_unit(args: &InitArgs, unit: &Path) -> CliResult {
    if std::fs::symlink_metadata(unit).is_ok() {
        return Err(format!(
            "error: `{}` already exists; init overwrites nothing (`init --systemd --uninstall` removes it, or choose another --unit)",
            unit.display()
        ));
    }
    let config_dir = absolute(&args.config.config_dir())?;
    let agents = match &args.config.agents {
        Some(file) => Some(absolute(file)?),
        None => Some(config_dir.join("agents.toml")).filter(|f| f.is_file()),
    };
    // The unit is only as good as the configuration: load it as `start` would.
    let loaded = load::load(&config_dir, agents.as_deref()).map_err(|e| e.to_string())?;
    let sockets = absolute(
        &args
            .sockets
            .clone()
            .unwrap_or_else(|| config_dir.join("sockets")),
    )?;
    // The directory must exist for `ReadWritePaths=`.
    std::fs::create_dir_all(&sockets)
        .map_err(|e| format!("error: cannot create `{}`: {e}", sockets.display()))?;
    let log = loaded
        .config
        .log
        .path
        .clone()
        .unwrap_or_else(|| config_dir.join("audit.log"));
    let mut writable = vec![sockets.clone()];
    writable.extend(log.parent().map(Path::to_path_buf));
    if let Some(scratch) = &loaded.config.confinement.scratch {
        writable.push(scratch.clone());
    }
    for agent in loaded.agents.values() {
        writable.extend(agent.mount_roots.iter().cloned());
        for access in agent.access.values() {
            writable.extend(access.grants.read_write.iter().cloned());
        }
    }
    writable.sort();
    writable.dedup();
    let executable =
        std::env::current_exe().map_err(|e| format!("error: cannot find this executable: {e}"))?;
    let user = args
        .run_as
        .clone()
        .unwrap_or_else(|| rustix::process::getuid().as_raw().to_string());
    let spec = UnitSpec {
        executable,
        config_dir,
        agents,
        sockets,
        user,
        writable,
        grace_secs: loaded.config.limits.shutdown_grace.as_secs(),
    };
    let text = unit_text(&spec)?;
    if let Some(dir) = unit.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("error: cannot create `{}`: {e}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(unit)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|e| format!("error: cannot write `{}`: {e}", unit.display()))?;
    println!("wrote {}", unit.display());
    if spec.agents.is_none() {
        eprintln!("warning: no agents file: the unit's daemon serves no agents (pass --agents)");
    }
    if args.run_as.is_some() {
        eprintln!(
            "warning: `~/` paths of the profiles were resolved with this user's HOME; if `{}` has another home, run `init --systemd` as that user",
            spec.user
        );
    }
    if unit.starts_with("/etc/systemd/system") {
        println!("then: systemctl daemon-reload && systemctl enable --now {UNIT_NAME}");
    } else {
        println!(
            "then, as root: cp {} /etc/systemd/system/{UNIT_NAME} && systemctl daemon-reload && systemctl enable --now {UNIT_NAME}",
            shell_words::quote(&unit.display().to_string())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `path` as one word of a unit file: in double quotes, with `\`, `"`, `%` and `$`
/// escaped; a path with a control character cannot be written.
fn unit_word(path: &Path) -> Result<String, String> {
    let text = path.to_str().ok_or_else(|| {
        format!(
            "error: `{}` is not UTF-8 and cannot be written in a unit",
            path.display()
        )
    })?;
    if text.chars().any(char::is_control) {
        return Err(format!(
            "error: `{}` has a control character and cannot be written in a unit",
            path.display()
        ));
    }
    let mut word = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' => word.push_str("\\\\"),
            '"' => word.push_str("\\\""),
            '%' => word.push_str("%%"),
            '$' => word.push_str("$$"),
            c => word.push(c),
        }
    }
    word.push('"');
    Ok(word)
}

/// The unit's text: a system unit running the daemon as `spec.user`, with absolute
/// paths and sandboxing that leaves the daemon's own confinement working.
///
/// Why each setting, and what was left out:
/// - `NoNewPrivileges=yes`: the daemon sets no_new_privs itself before Landlock;
///   Landlock needs no capability.
/// - `ProtectSystem=strict` with `ReadWritePaths=` for exactly what the daemon and its
///   programs write (they share its mount namespace; Landlock narrows further).
/// - `RuntimeDirectory=airlock` and `XDG_RUNTIME_DIR` pointing at it: the runs'
///   private directories and the agents' ssh-agent sockets go there.
/// - `PrivateTmp=yes`, `PrivateDevices=yes`, kernel and cgroup protection,
///   `RestrictSUIDSGID=yes`, `LockPersonality=yes`, `RestrictRealtime=yes`.
/// - `KillMode=mixed`: SIGTERM to the daemon alone, which lets runs finish for
///   `shutdown_grace_secs` and then stops them; `TimeoutStopSec=` leaves it that long.
/// - Not `ProtectProc=invisible` (the daemon reads `/proc/PID` of connecting peers to
///   refuse its own descendants), not `PrivateUsers=` (a connecting container's uid
///   would be unmapped, and `allowed_uids` could not see it), not `SystemCallFilter=`
///   (Landlock's system calls, `prctl` for the subreaper), and not a user unit (systemd
///   turns on `PrivateUsers=` for sandboxed user units).
pub fn unit_text(spec: &UnitSpec) -> Result<String, String> {
    let mut exec = format!(
        "{} start --config {} --sockets {}",
        unit_word(&spec.executable)?,
        unit_word(&spec.config_dir)?,
        unit_word(&spec.sockets)?
    );
    if let Some(agents) = &spec.agents {
        exec.push_str(" --agents ");
        exec.push_str(&unit_word(agents)?);
    }
    let writable = spec
        .writable
        .iter()
        .map(|p| unit_word(p))
        .collect::<Result<Vec<_>, _>>()?
        .join(" ");
    // A private /tmp would hide a configuration or workspace that lives there.
    let in_tmp = |p: &PathBuf| p.starts_with("/tmp") || p.starts_with("/var/tmp");
    let private_tmp = if [&spec.executable, &spec.config_dir, &spec.sockets]
        .into_iter()
        .chain(&spec.agents)
        .chain(&spec.writable)
        .any(in_tmp)
    {
        "# PrivateTmp= left out: the configuration or a workspace is under /tmp.\n"
    } else {
        "PrivateTmp=yes\n"
    };
    if spec.user.is_empty()
        || spec
            .user
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!("error: `{}` is not a user name", spec.user));
    }
    Ok(format!(
        "# Written by `airlock-daemon init --systemd`; `init --systemd --uninstall` removes it.\n\
         [Unit]\n\
         Description=Airlock: run CLI tools for AI agents without their credentials\n\
         After=network.target\n\
         \n\
         [Service]\n\
         Type=exec\n\
         User={user}\n\
         ExecStart={exec}\n\
         ExecReload=/bin/kill -HUP $MAINPID\n\
         Restart=on-failure\n\
         # SIGTERM to the daemon alone: it lets running commands finish for\n\
         # shutdown_grace_secs, then stops them.\n\
         KillMode=mixed\n\
         TimeoutStopSec={stop}\n\
         UMask=0077\n\
         # The runs' private directories and the ssh-agent sockets.\n\
         RuntimeDirectory=airlock\n\
         RuntimeDirectoryMode=0700\n\
         Environment=XDG_RUNTIME_DIR=%t/airlock\n\
         # Sandboxing that leaves the daemon's Landlock confinement of each program\n\
         # working. Not ProtectProc= (peers are checked in /proc), PrivateUsers= (peer\n\
         # uids) or SystemCallFilter= (Landlock, prctl).\n\
         NoNewPrivileges=yes\n\
         ProtectSystem=strict\n\
         # What the daemon and its programs write: sockets, audit log, mounts, declared\n\
         # write paths, scratch.\n\
         ReadWritePaths={writable}\n\
         {private_tmp}\
         PrivateDevices=yes\n\
         ProtectKernelTunables=yes\n\
         ProtectKernelModules=yes\n\
         ProtectKernelLogs=yes\n\
         ProtectControlGroups=yes\n\
         RestrictSUIDSGID=yes\n\
         LockPersonality=yes\n\
         RestrictRealtime=yes\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        user = spec.user,
        stop = spec.grace_secs.saturating_add(10),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_words_are_quoted_and_escaped() {
        assert_eq!(unit_word(Path::new("/a b")).unwrap(), "\"/a b\"");
        assert_eq!(
            unit_word(Path::new("/x%y$z\"\\")).unwrap(),
            "\"/x%%y$$z\\\"\\\\\""
        );
        assert!(unit_word(Path::new("/a\nb")).is_err());
    }

    #[test]
    fn the_unit_names_absolute_paths_and_what_is_writable() {
        let spec = UnitSpec {
            executable: "/usr/bin/airlock-daemon".into(),
            config_dir: "/etc/airlock".into(),
            agents: Some("/etc/airlock/agents.toml".into()),
            sockets: "/run/airlock-sockets".into(),
            user: "1000".into(),
            writable: vec!["/run/airlock-sockets".into(), "/srv/ws".into()],
            grace_secs: 10,
        };
        let text = unit_text(&spec).unwrap();
        assert!(text.contains("ExecStart=\"/usr/bin/airlock-daemon\" start --config \"/etc/airlock\" --sockets \"/run/airlock-sockets\" --agents \"/etc/airlock/agents.toml\"\n"), "{text}");
        assert!(
            text.contains("ReadWritePaths=\"/run/airlock-sockets\" \"/srv/ws\"\n"),
            "{text}"
        );
        assert!(text.contains("TimeoutStopSec=20\n"), "{text}");
        assert!(text.contains("User=1000\n"), "{text}");
        assert!(!text.contains("PrivateUsers=yes"), "{text}");
        assert!(text.contains("\nPrivateTmp=yes\n"), "{text}");
        assert!(
            text.contains("NoNewPrivileges=yes\nProtectSystem=strict\n"),
            "{text}"
        );
    }
}
