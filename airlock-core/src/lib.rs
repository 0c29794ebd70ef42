//! The pure domain around one Airlock request: the daemon's configuration, agents and
//! their profiles, the three-layer gate, the environment plan, the mapping of the
//! working directory through mounts, and the audit record. No files, sockets or
//! processes: the daemon reads the files and hands their text here.
#![deny(missing_docs)]

mod access;
mod agents;
mod audit;
mod config;
mod cwd;
pub mod destinations;
mod env;
mod gate;
mod overrides;
mod source_error;

pub use access::{CommandAccess, HostPath, SshAgentSpec};
pub use agents::{AgentProfile, AgentsFile};
pub use audit::{AuditDecision, AuditRecord, Peer};
pub use config::{ConfinementConfig, ConfinementMode, DaemonConfig, Limits, LogConfig};
pub use cwd::{CwdError, Mount, confine, inside, translate};
pub use env::{EnvPlan, PASS as ENV_PASS};
pub use gate::{AgentScope, GateOutcome, ScopeError};
pub use overrides::{BUILTIN_PREFIX, GivenUp, compile_module};
pub use source_error::SourceError;

/// Whether `name` can name an agent (or a command): letters, digits, `-`, `_` and `.`,
/// not leading with `.` or `-`, at most 64 bytes. It becomes a socket's file name.
pub fn is_agent_name(name: &str) -> bool {
    is_plain_name(name)
}

/// Whether `name` can name a command or an agent: it becomes a file name (a socket,
/// a module), so only ASCII letters, digits, `-`, `_` and `.`, not leading with `.`
/// or `-`.
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
