//! The built-in Airlock command modules: `git`, `terraform`, `aws`, `docker`, `ssh` and
//! `kubectl`, each a TOML module (see `airlock-policy` for the format) with a
//! threat-model note, embedded so the daemon and embedders need no files.
//!
//! ```
//! let policy = airlock_builtins::policy()?;
//! let decision = policy.check("git", &["fetch", "--upload-pac=touch /tmp/x", "origin"]);
//! assert!(!decision.is_allowed());
//! # Ok::<(), airlock_policy::CompileError>(())
//! ```
#![deny(missing_docs)]

use airlock_policy::{CompileError, Module, Policy};

mod destination;
mod git_config;
mod git_remote;
mod git_repo;

pub use destination::{DestinationError, aws_regions, ssh_destinations};
pub use git_config::{ConfigJudgement, ConfigRisk, git_config_risks, judge_repository_config};
pub use git_remote::{GitDestination, GitRemotes, git_destinations};
pub use git_repo::{GitLocationError, git_location_args, git_subcommand, git_todo_risks};

/// The built-in module `name`, compiled once into `cell` (an unknown name compiles an
/// empty module, which the caller's tests would notice).
pub(crate) fn cached(
    cell: &'static std::sync::OnceLock<Result<Module, CompileError>>,
    name: &str,
) -> Result<&'static Module, &'static CompileError> {
    cell.get_or_init(|| match compile(name) {
        Some(result) => result,
        None => Module::compile(&format!("builtin:{name}.toml"), ""),
    })
    .as_ref()
}

/// A built-in module: its name, TOML source and threat-model notes.
#[derive(Debug)]
pub struct Builtin {
    /// The command name.
    pub name: &'static str,
    /// The module's TOML.
    pub source: &'static str,
    /// The threat-model notes (markdown).
    pub notes: &'static str,
}

macro_rules! builtin {
    ($name:literal) => {
        Builtin {
            name: $name,
            source: include_str!(concat!("../modules/", $name, ".toml")),
            notes: include_str!(concat!("../modules/", $name, ".md")),
        }
    };
}

const BUILTINS: &[Builtin] = &[
    builtin!("aws"),
    builtin!("docker"),
    builtin!("git"),
    builtin!("kubectl"),
    builtin!("ssh"),
    builtin!("terraform"),
];

impl Builtin {
    /// The source name the module compiles under, e.g. `builtin:git.toml`.
    pub fn source_name(&self) -> String {
        format!("builtin:{}.toml", self.name)
    }

    /// Compiles the module.
    pub fn compile(&self) -> Result<Module, CompileError> {
        Module::compile(&self.source_name(), self.source)
    }
}

/// The built-in for `name`.
pub fn get(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The names of every built-in, in name order.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|b| b.name)
}

/// Compiles the built-in for `name`.
pub fn compile(name: &str) -> Option<Result<Module, CompileError>> {
    get(name).map(Builtin::compile)
}

/// Every built-in, compiled into one policy.
pub fn policy() -> Result<Policy, CompileError> {
    let mut builder = Policy::builder();
    for builtin in BUILTINS {
        builder.add_module(builtin.compile()?)?;
    }
    Ok(builder.build())
}
