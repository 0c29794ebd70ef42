//! The built-in Airlock command modules (placeholder until the modules land: no
//! built-ins yet, so every command needs an agent override).
#![deny(missing_docs)]

use airlock_policy::{CompileError, Module, Policy};

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

const BUILTINS: &[Builtin] = &[];

/// The built-in for `name`.
pub fn get(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The names of every built-in.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|b| b.name)
}

/// Compiles the built-in for `name`.
pub fn compile(name: &str) -> Option<Result<Module, CompileError>> {
    get(name).map(|b| Module::compile(&format!("builtin:{}.toml", b.name), b.source))
}

/// Every built-in, compiled.
pub fn policy() -> Result<Policy, CompileError> {
    let mut builder = Policy::builder();
    for b in BUILTINS {
        builder.add(&format!("builtin:{}.toml", b.name), b.source)?;
    }
    Ok(builder.build())
}
