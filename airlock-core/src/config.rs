//! The daemon's own configuration, `config.toml`: the enable list (the ceiling of
//! what any agent may run), the audit log and the limits.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::source_error::SourceError;

/// `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// The commands any agent may have at all (`[commands] enable`).
    pub enable: BTreeSet<String>,
    /// The audit log.
    pub log: LogConfig,
    /// Limits on connections, lines, time.
    pub limits: Limits,
    /// How programs are confined (`[confinement]`).
    pub confinement: ConfinementConfig,
}

/// `[confinement]`: how the daemon confines the programs it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfinementConfig {
    /// The mechanism.
    pub mode: ConfinementMode,
    /// Extra host paths every program may read and execute, beyond the built-in
    /// system list (e.g. `/opt/tools`). Absolute.
    pub system: Vec<PathBuf>,
    /// Where each run's private directory (`TMPDIR`, `HOME`) is made; `None`: the
    /// daemon's `XDG_RUNTIME_DIR` when it has one, else the system's temporary
    /// directory. Absolute.
    pub scratch: Option<PathBuf>,
}

/// `mode` in `[confinement]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfinementMode {
    /// Every program runs under Landlock; the daemon refuses to start without it.
    #[default]
    Landlock,
    /// Programs run with the daemon user's whole reach. Only for hosts without
    /// Landlock, said explicitly.
    None,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// The audit log file; `None`: `audit.log` beside `config.toml`.
    pub path: Option<PathBuf>,
    /// Rotate when the file exceeds this many bytes.
    pub max_size_bytes: u64,
    /// How many rotated files to keep.
    pub max_files: u32,
}

/// `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once, over all agents.
    pub max_connections: usize,
    /// Connections served at once for one agent.
    pub max_connections_per_agent: usize,
    /// The longest request line accepted, in bytes.
    pub max_line_bytes: usize,
    /// How long a command may run when its module sets no timeout.
    pub default_timeout: Duration,
    /// How long a hook may run.
    pub hook_timeout: Duration,
    /// On shutdown, how long running commands get before they are killed.
    pub shutdown_grace: Duration,
    /// How long a connection may take to send its next request before `exec`.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            max_connections_per_agent: 64,
            max_line_bytes: 1 << 20,
            default_timeout: Duration::from_secs(3600),
            hook_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    commands: RawCommands,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    confinement: RawConfinement,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfinement {
    #[serde(default)]
    mode: ConfinementMode,
    #[serde(default)]
    system: Vec<Spanned<PathBuf>>,
    #[serde(default)]
    scratch: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommands {
    enable: Spanned<Vec<Spanned<String>>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    path: Option<PathBuf>,
    max_size_mb: Option<Spanned<u64>>,
    max_files: Option<u32>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_connections: Option<Spanned<usize>>,
    max_connections_per_agent: Option<Spanned<usize>>,
    max_line_bytes: Option<Spanned<usize>>,
    default_timeout_secs: Option<u64>,
    hook_timeout_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
}

impl DaemonConfig {
    /// Parses `config.toml` text; `source` names it in errors.
    pub fn parse(source: &str, text: &str) -> Result<Self, SourceError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| SourceError::from_toml(source, text, &e))?;
        let error = |span, message: String| SourceError::new(source, text, span, message);
        let enable_list = raw.commands.enable.get_ref();
        if enable_list.is_empty() {
            return Err(error(
                raw.commands.enable.span(),
                "`enable` is empty: list the commands agents may run".into(),
            ));
        }
        let mut enable = BTreeSet::new();
        for name in enable_list {
            if !crate::is_plain_name(name.get_ref()) {
                return Err(error(
                    name.span(),
                    format!("`{}` is not a command name", name.get_ref()),
                ));
            }
            if !enable.insert(name.get_ref().clone()) {
                return Err(error(
                    name.span(),
                    format!("`{}` is enabled twice", name.get_ref()),
                ));
            }
        }
        let positive = |value: &Option<Spanned<usize>>, default: usize, what: &str| match value {
            Some(v) if *v.get_ref() == 0 => {
                Err(error(v.span(), format!("`{what}` must be at least 1")))
            }
            Some(v) => Ok(*v.get_ref()),
            None => Ok(default),
        };
        let defaults = Limits::default();
        let limits = Limits {
            max_connections: positive(
                &raw.limits.max_connections,
                defaults.max_connections,
                "max_connections",
            )?,
            max_connections_per_agent: positive(
                &raw.limits.max_connections_per_agent,
                defaults.max_connections_per_agent,
                "max_connections_per_agent",
            )?,
            max_line_bytes: positive(
                &raw.limits.max_line_bytes,
                defaults.max_line_bytes,
                "max_line_bytes",
            )?,
            default_timeout: raw
                .limits
                .default_timeout_secs
                .map_or(defaults.default_timeout, Duration::from_secs),
            hook_timeout: raw
                .limits
                .hook_timeout_secs
                .map_or(defaults.hook_timeout, Duration::from_secs),
            shutdown_grace: raw
                .limits
                .shutdown_grace_secs
                .map_or(defaults.shutdown_grace, Duration::from_secs),
            idle_timeout: raw
                .limits
                .idle_timeout_secs
                .filter(|s| *s > 0)
                .map_or(defaults.idle_timeout, Duration::from_secs),
        };
        let max_size_bytes = match &raw.log.max_size_mb {
            Some(mb) if *mb.get_ref() == 0 => {
                return Err(error(mb.span(), "`max_size_mb` must be at least 1".into()));
            }
            Some(mb) => mb.get_ref().saturating_mul(1 << 20),
            None => 64 << 20,
        };
        let absolute_clean = |path: &Spanned<PathBuf>| {
            path.get_ref().is_absolute()
                && path.get_ref().components().all(|c| {
                    matches!(
                        c,
                        std::path::Component::RootDir | std::path::Component::Normal(_)
                    )
                })
        };
        if let Some(scratch) = &raw.confinement.scratch {
            if !absolute_clean(scratch) {
                return Err(error(
                    scratch.span(),
                    format!(
                        "`{}` must be an absolute path without `.` or `..`",
                        scratch.get_ref().display()
                    ),
                ));
            }
        }
        let mut system = Vec::new();
        for path in raw.confinement.system {
            let clean = path.get_ref().is_absolute()
                && path.get_ref().components().all(|c| {
                    matches!(
                        c,
                        std::path::Component::RootDir | std::path::Component::Normal(_)
                    )
                });
            if !clean {
                return Err(error(
                    path.span(),
                    format!(
                        "`{}` must be an absolute path without `.` or `..`",
                        path.get_ref().display()
                    ),
                ));
            }
            system.push(path.into_inner());
        }
        Ok(Self {
            enable,
            confinement: ConfinementConfig {
                mode: raw.confinement.mode,
                system,
                scratch: raw.confinement.scratch.map(Spanned::into_inner),
            },
            log: LogConfig {
                path: raw.log.path,
                max_size_bytes,
                max_files: raw.log.max_files.unwrap_or(5),
            },
            limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_original_shape() {
        let c = DaemonConfig::parse(
            "config.toml",
            "[commands]\nenable = [\"git\", \"terraform\"]\n",
        )
        .unwrap();
        assert_eq!(c.enable.iter().collect::<Vec<_>>(), ["git", "terraform"]);
        assert_eq!(c.log.max_files, 5);
        assert_eq!(c.limits, Limits::default());
        assert_eq!(
            c.confinement.mode,
            ConfinementMode::Landlock,
            "confined unless said"
        );
    }

    #[test]
    fn reads_confinement() {
        let c = DaemonConfig::parse(
            "c",
            "[commands]\nenable = [\"git\"]\n[confinement]\nmode = \"none\"\nsystem = [\"/opt/tools\"]\nscratch = \"/dev/shm\"\n",
        )
        .unwrap();
        assert_eq!(c.confinement.scratch, Some(PathBuf::from("/dev/shm")));
        assert_eq!(c.confinement.mode, ConfinementMode::None);
        assert_eq!(c.confinement.system, [PathBuf::from("/opt/tools")]);
        let e = DaemonConfig::parse(
            "c",
            "[commands]\nenable = [\"git\"]\n[confinement]\nmode = \"off\"\n",
        )
        .unwrap_err();
        assert_eq!(e.location.line, 4, "{e}");
        let e = DaemonConfig::parse(
            "c",
            "[commands]\nenable = [\"git\"]\n[confinement]\nsystem = [\"opt\"]\n",
        )
        .unwrap_err();
        assert_eq!((e.location.line, e.location.column), (4, 11), "{e}");
    }

    #[test]
    fn reads_log_and_limits() {
        let c = DaemonConfig::parse(
            "c",
            "[commands]\nenable = [\"git\"]\n[log]\npath = \"/var/log/a.log\"\nmax_size_mb = 2\nmax_files = 3\n[limits]\nmax_connections = 10\nshutdown_grace_secs = 1\n",
        )
        .unwrap();
        assert_eq!(c.log.max_size_bytes, 2 << 20);
        assert_eq!(c.log.path, Some(PathBuf::from("/var/log/a.log")));
        assert_eq!(c.limits.max_connections, 10);
        assert_eq!(c.limits.shutdown_grace, Duration::from_secs(1));
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = DaemonConfig::parse("config.toml", "[commands]\nenable = []\n").unwrap_err();
        assert_eq!((e.location.line, e.location.column), (2, 10));
        assert!(e.to_string().contains("config.toml:2:10"), "{e}");
        let e =
            DaemonConfig::parse("c", "[commands]\nenable = [\"git\"]\nenabel = 1\n").unwrap_err();
        assert_eq!(e.location.line, 3);
        assert!(e.message.contains("enabel"), "{e}");
        let e = DaemonConfig::parse("c", "[commands]\nenable = [\"../x\"]\n").unwrap_err();
        assert!(e.message.contains("not a command name"), "{e}");
        let e = DaemonConfig::parse("c", "[log]\nmax_files = 1\n").unwrap_err();
        assert!(e.message.contains("commands"), "{e}");
        let e = DaemonConfig::parse(
            "c",
            "[commands]\nenable = [\"git\"]\n[limits]\nmax_connections = 0\n",
        )
        .unwrap_err();
        assert_eq!(e.location.line, 4);
    }
}
