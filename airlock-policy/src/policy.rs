//! A policy: the set of command modules in force, keyed by program name. A command
//! that no module knows does not exist.

use std::collections::BTreeMap;

use crate::decision::{Basis, Decision, Verdict};
use crate::error::{CompileError, ErrorKind};
use crate::module::Module;

/// Several compiled modules, one per command.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    modules: BTreeMap<String, Module>,
}

impl Policy {
    /// A builder to add modules to.
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::default()
    }

    /// Decides whether `command` with `argv` may run. A command without a module is
    /// denied.
    pub fn check<'p, 'a, S: AsRef<str>>(
        &'p self,
        command: &str,
        argv: &'a [S],
    ) -> Decision<'p, 'a> {
        match self.modules.get(command) {
            Some(module) => module.check(argv),
            None => Decision {
                verdict: Verdict::Deny,
                basis: Basis::UnknownCommand,
                reading: None,
                module: None,
            },
        }
    }

    /// The module for `command`.
    pub fn module(&self, command: &str) -> Option<&Module> {
        self.modules.get(command)
    }

    /// The commands with a module, in name order.
    pub fn commands(&self) -> impl Iterator<Item = &str> {
        self.modules.keys().map(String::as_str)
    }
}

/// Builds a [`Policy`]: `Policy::builder().add("git.toml", src)?.build()`.
#[derive(Debug, Default)]
pub struct PolicyBuilder {
    modules: BTreeMap<String, Module>,
}

impl PolicyBuilder {
    /// Compiles a module from `(source name, text)` and adds it under its command
    /// ([`Module::command`]: `bin`, or its file name when `bin` is an absolute path). A
    /// second module for a command that already has one is an error
    /// ([`ErrorKind::Duplicate`]): one command, one module (to add rules to another
    /// module, see [`Module::compile_extending`]).
    pub fn add(&mut self, source_name: &str, text: &str) -> Result<&mut Self, CompileError> {
        let module = Module::compile(source_name, text)?;
        self.add_module(module)
    }

    /// Adds an already compiled module under its command ([`Module::command`]). A second module for a command
    /// that already has one is an error ([`ErrorKind::Duplicate`]), at the second
    /// module's `bin`.
    pub fn add_module(&mut self, module: Module) -> Result<&mut Self, CompileError> {
        if let Some(first) = self.modules.get(module.command()) {
            return Err(module.layer.error_at_bin(
                ErrorKind::Duplicate,
                format!(
                    "a second module for `{}`: `{}` already guards it (one command, one module; `extends` adds rules to another module)",
                    module.command(),
                    first.source_name()
                ),
            ));
        }
        self.modules.insert(module.command().to_owned(), module);
        Ok(self)
    }

    /// The finished policy.
    pub fn build(&mut self) -> Policy {
        Policy {
            modules: std::mem::take(&mut self.modules),
        }
    }
}
