#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod atom;
mod automaton;
mod compose;
mod decision;
mod elements;
mod entry;
mod error;
mod format;
mod globs;
mod inline_vec;
mod location;
mod module;
mod paths;
mod policy;
mod reading;
#[cfg(any(test, feature = "reference"))]
mod reference;
mod rule;
mod syntax;

pub use compose::ModuleHeader;
pub use decision::{Basis, Decision, Explanation, Verdict};
pub use elements::{ArgSpan, Element, Opt, Word};
pub use error::{CompileError, ErrorKind};
pub use location::{Location, Snippet};
pub use module::{EnvSpec, ExecSpec, Module};
pub use paths::{PathAccess, PathSource, PathValue};
pub use policy::{Policy, PolicyBuilder};
pub use reading::{MAX_READINGS, Reading, Unreadable};
pub use rule::{Action, Rule};

/// Compiles one module: the one-call shortcut for [`Module::compile`].
pub fn compile(source_name: &str, text: &str) -> Result<Module, CompileError> {
    Module::compile(source_name, text)
}
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
