//! An agent's own modules (`commands/NAME.toml`) beside the built-ins. A module for a
//! command that has a built-in either extends it (`extends = "builtin:NAME"`: the
//! built-in's rules, syntax and hardening stay in force and the agent's are added) or
//! says `replace = true`; a module that does neither is refused, so that adding one
//! local rule cannot silently drop the built-in's hardening.

use std::fmt;

use airlock_policy::{Action, Module, ModuleHeader, Policy};

use crate::gate::ScopeError;
use crate::source_error::SourceError;

/// The prefix of a built-in's name in `extends`.
pub const BUILTIN_PREFIX: &str = "builtin:";

/// An agent's module, compiled.
#[derive(Debug)]
pub(crate) struct Override {
    pub module: Module,
    /// Set when the module replaces a built-in: what it gives up.
    pub replaced: Option<GivenUp>,
}

/// What a module that replaces a built-in (`replace = true`) gives up: the built-in's
/// hardening the replacement does not have. `airlock-daemon check` warns with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GivenUp {
    /// The built-in module's source name (`builtin:git.toml`).
    pub builtin: String,
    /// The built-in's `[env] set` variables the replacement does not set to the same
    /// value.
    pub env_set: Vec<String>,
    /// The built-in's `[env] strip` variables the replacement does not strip.
    pub env_strip: Vec<String>,
    /// The ids of the built-in's deny rules that the replacement has no rule for.
    pub deny_rules: Vec<String>,
    /// The built-in's `[exec]` settings the replacement loosens (`stdin = false`, ...).
    pub exec: Vec<String>,
}

impl GivenUp {
    /// What `replacement` lacks of `builtin`'s hardening.
    pub fn new(builtin: &Module, replacement: &Module) -> Self {
        let (base, own) = (builtin.env(), replacement.env());
        let env_set = base
            .set
            .iter()
            .filter(|(k, v)| own.set.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect();
        let env_strip = base
            .strip
            .iter()
            .filter(|k| !own.strip.contains(k))
            .cloned()
            .collect();
        let deny_rules = builtin
            .rules()
            .iter()
            .filter(|r| r.action() == Action::Deny)
            .filter(|r| !replacement.rules().iter().any(|o| o.id() == r.id()))
            .map(|r| r.id().to_owned())
            .collect();
        let (base, own) = (builtin.exec(), replacement.exec());
        let mut exec = Vec::new();
        if !base.concurrent && own.concurrent {
            exec.push("concurrent = false".to_owned());
        }
        if !base.stdin && own.stdin {
            exec.push("stdin = false".to_owned());
        }
        if let Some(limit) = base.timeout {
            if own.timeout.is_none_or(|t| t > limit) {
                exec.push(format!("timeout_secs = {}", limit.as_secs()));
            }
        }
        Self {
            builtin: builtin.source_name().to_owned(),
            env_set,
            env_strip,
            deny_rules,
            exec,
        }
    }

    /// Whether the replacement keeps all of it.
    pub fn is_empty(&self) -> bool {
        self.env_set.is_empty()
            && self.env_strip.is_empty()
            && self.deny_rules.is_empty()
            && self.exec.is_empty()
    }
}

impl fmt::Display for GivenUp {
    /// `env set: A, B; env strip: C; deny rules: x, y; exec: stdin = false`, or
    /// `nothing` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = [
            ("env set", &self.env_set),
            ("env strip", &self.env_strip),
            ("deny rules", &self.deny_rules),
            ("exec", &self.exec),
        ]
        .into_iter()
        .filter(|(_, items)| !items.is_empty())
        .map(|(what, items)| format!("{what}: {}", items.join(", ")))
        .collect();
        if parts.is_empty() {
            f.write_str("nothing")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

/// Compiles a module's `text`, on top of the built-in it names in `extends`
/// (`builtin:NAME`, looked up in `builtins`) when it names one.
pub fn compile_module(builtins: &Policy, source: &str, text: &str) -> Result<Module, ScopeError> {
    let header = ModuleHeader::parse(source, text)?;
    compile_with(builtins, &header, source, text)
}

fn compile_with(
    builtins: &Policy,
    header: &ModuleHeader,
    source: &str,
    text: &str,
) -> Result<Module, ScopeError> {
    let Some(name) = header.extends() else {
        return Ok(Module::compile(source, text)?);
    };
    let base = name
        .strip_prefix(BUILTIN_PREFIX)
        .and_then(|n| builtins.module(n));
    match base {
        Some(base) => Ok(Module::compile_extending(base, source, text)?),
        None => Err(source_error(
            source,
            text,
            header.extends_span().unwrap_or(0..0),
            format!(
                "`{name}` is not a built-in module: write `{BUILTIN_PREFIX}NAME` (built-ins: {})",
                builtins.commands().collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// Compiles the agent's module `commands/<stem>.toml` and applies the rule for modules
/// of commands that have a built-in.
pub(crate) fn compile_override(
    builtins: &Policy,
    source: &str,
    stem: &str,
    text: &str,
) -> Result<Override, ScopeError> {
    let header = ModuleHeader::parse(source, text)?;
    // `bin` names the command (`git`), or pins its program (`/usr/bin/git`).
    if header.command() != stem {
        return Err(ScopeError::MisnamedOverride {
            file: source.to_owned(),
            bin: header.command().to_owned(),
        });
    }
    let builtin = builtins.module(stem);
    if header.extends().is_none() {
        match (builtin, header.replace_span()) {
            (Some(_), None) => {
                return Err(source_error(
                    source,
                    text,
                    header.bin_span(),
                    format!(
                        "`{stem}` has a built-in module, and this file would replace it wholly, dropping its rules and hardening: add `extends = \"{BUILTIN_PREFIX}{stem}\"` to `[command]` to add these rules to the built-in's, or `replace = true` to give the built-in up"
                    ),
                ));
            }
            (None, Some(span)) => {
                return Err(source_error(
                    source,
                    text,
                    span,
                    format!("there is no built-in `{stem}` to replace: remove `replace = true`"),
                ));
            }
            _ => {}
        }
    }
    let module = compile_with(builtins, &header, source, text)?;
    let replaced = match builtin {
        Some(builtin) if header.replaces() => Some(GivenUp::new(builtin, &module)),
        _ => None,
    };
    Ok(Override { module, replaced })
}

fn source_error(
    source: &str,
    text: &str,
    span: std::ops::Range<usize>,
    message: String,
) -> ScopeError {
    ScopeError::Override(Box::new(SourceError::new(source, text, span, message)))
}
