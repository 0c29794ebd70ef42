//! Claude Code's `PreToolUse` hook, without the I/O: a payload in, a reply out.
//!
//! Claude Code runs the hook with the tool call as JSON on stdin
//! (`{"session_id", "hook_event_name": "PreToolUse", "tool_name": "Bash",
//! "tool_input": {"command", "description"}, "cwd", ...}`). The hook answers on
//! stdout with `{"hookSpecificOutput": {"hookEventName": "PreToolUse",
//! "permissionDecision": "deny" | "ask", "permissionDecisionReason": "..."}}` and exit
//! status 0, or says nothing for a call it lets through (Claude Code's own permission
//! rules then apply). Exit status 2 blocks the call with stderr as the reason; the
//! hook uses it for input it cannot read, so that a malformed payload fails closed.
//!
//! ```
//! use airlock_shell::hook::{judge, Reply};
//! use airlock_shell::ShellOptions;
//!
//! let policy = airlock_builtins::policy()?;
//! let payload = r#"{"hook_event_name":"PreToolUse","tool_name":"Bash",
//!     "tool_input":{"command":"git -c core.pager=x log"},"cwd":"/work/repo"}"#;
//! let reply = judge(&policy, &ShellOptions::new(), payload);
//! assert_eq!(reply.exit_code(), 0);
//! assert!(reply.stdout().unwrap().contains(r#""permissionDecision":"deny""#));
//! # Ok::<(), airlock_policy::CompileError>(())
//! ```

use std::collections::BTreeMap;

use airlock_policy::{Module, ModuleHeader, Policy};
use serde_json::{Value, json};

use crate::{Outcome, ShellDecision, ShellOptions, check_line, check_line_noting};

/// The most bytes of payload read; a longer payload is malformed.
pub const MAX_PAYLOAD: usize = 1024 * 1024;

/// What the hook answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Not a Bash call, or a line that is allowed: say nothing, exit 0.
    Pass,
    /// Deny or ask, with the reason, as JSON on stdout and exit 0.
    Decide {
        /// `Deny` or `Ask`.
        outcome: Outcome,
        /// The reason shown to Claude (deny) or to the person (ask).
        reason: String,
    },
    /// The payload cannot be read: exit 2 with the reason on stderr (blocks the call).
    Malformed(String),
}

impl Reply {
    /// The JSON to print on stdout, if any.
    pub fn stdout(&self) -> Option<String> {
        match self {
            Reply::Decide { outcome, reason } => Some(
                json!({
                    "hookSpecificOutput": {
                        "hookEventName": "PreToolUse",
                        "permissionDecision": outcome.as_str(),
                        "permissionDecisionReason": reason,
                    }
                })
                .to_string(),
            ),
            Reply::Pass | Reply::Malformed(_) => None,
        }
    }

    /// The text to print on stderr, if any.
    pub fn stderr(&self) -> Option<String> {
        match self {
            Reply::Malformed(why) => Some(format!("airlock: {why}")),
            Reply::Pass | Reply::Decide { .. } => None,
        }
    }

    /// The exit status: 2 for a malformed payload, else 0.
    pub fn exit_code(&self) -> i32 {
        match self {
            Reply::Malformed(_) => 2,
            Reply::Pass | Reply::Decide { .. } => 0,
        }
    }
}

/// Judges one hook payload. A `Bash` call's `tool_input.command` is checked with
/// [`check_line`]; other tools pass. When `options` has no root, the payload's `cwd`
/// (an absolute path) is the root redirections must stay inside; the payload's `cwd`
/// is where relative redirections start.
pub fn judge(policy: &Policy, options: &ShellOptions, payload: &str) -> Reply {
    match bash_call(options, payload) {
        Ok(Some((command, options))) => reply_for(&check_line(policy, &command, &options)),
        Ok(None) => Reply::Pass,
        Err(reply) => reply,
    }
}

/// [`judge`] with the built-in modules and the user's `modules` (`(source name, TOML
/// text)`, as for [`build_policy`]), of which only what the Bash call's line needs is
/// compiled ([`policy_for_line`]): the same reply as [`judge`] with
/// `build_policy(modules)`, without compiling every built-in for every call (the `aws`
/// module alone takes some 60-80 ms). The user's modules are compiled for every call, so
/// one that does not compile blocks every call, as it would with [`build_policy`].
pub fn judge_with_modules(
    modules: &[(String, String)],
    options: &ShellOptions,
    payload: &str,
) -> Reply {
    let call = match bash_call(options, payload) {
        Ok(call) => call,
        Err(reply) => return reply,
    };
    // Another tool's call checks no line, but the user's modules must still compile.
    let (line, line_options) = match &call {
        Some((command, options)) => (command.as_str(), options),
        None => ("", options),
    };
    match decide_with_modules(modules, line, line_options) {
        Ok((_, decision)) if call.is_some() => reply_for(&decision),
        Ok(_) => Reply::Pass,
        Err(e) => Reply::Malformed(e.to_string()),
    }
}

/// The command line of a Bash call in `payload`, with `options` completed from the
/// payload's `cwd`; `None` for another tool; the reply for a payload that cannot be
/// read.
fn bash_call(
    options: &ShellOptions,
    payload: &str,
) -> Result<Option<(String, ShellOptions)>, Reply> {
    if payload.len() > MAX_PAYLOAD {
        return Err(Reply::Malformed(format!(
            "the hook payload is {} bytes, more than {MAX_PAYLOAD}",
            payload.len()
        )));
    }
    let value: Value = serde_json::from_str(payload)
        .map_err(|e| Reply::Malformed(format!("the hook payload is not JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(Reply::Malformed(
            "the hook payload is not a JSON object".to_owned(),
        ));
    };
    match object.get("hook_event_name") {
        Some(Value::String(event)) if event == "PreToolUse" => {}
        Some(Value::String(event)) => {
            return Err(Reply::Malformed(format!(
                "the hook runs for PreToolUse, not `{event}`"
            )));
        }
        _ => {
            return Err(Reply::Malformed(
                "the hook payload has no `hook_event_name`".to_owned(),
            ));
        }
    }
    let tool = match object.get("tool_name") {
        Some(Value::String(tool)) => tool,
        _ => {
            return Err(Reply::Malformed(
                "the hook payload has no `tool_name`".to_owned(),
            ));
        }
    };
    if tool != "Bash" {
        return Ok(None);
    }
    let command = match object
        .get("tool_input")
        .and_then(|input| input.get("command"))
    {
        Some(Value::String(command)) => command,
        _ => {
            return Err(Reply::Malformed(
                "the Bash call has no `tool_input.command` string".to_owned(),
            ));
        }
    };
    let mut options = options.clone();
    if let Some(cwd) = object
        .get("cwd")
        .and_then(Value::as_str)
        .filter(|cwd| cwd.starts_with('/'))
    {
        if options.root_dir().is_none() {
            options = options.root(cwd);
        }
        options = options.cwd(cwd);
    }
    Ok(Some((command.clone(), options)))
}

/// The reply for a decision on a Bash command line: the deciding part, its reason and
/// rule, then up to two more parts that are not allowed.
pub fn reply_for(decision: &ShellDecision) -> Reply {
    const MORE: usize = 2;
    match decision.outcome() {
        Outcome::Allow => Reply::Pass,
        outcome => {
            let mut reason = format!("airlock: {}", decision.reason());
            if let Some(id) = decision.rule_id() {
                reason.push_str(&format!(" (rule `{id}`"));
                if let Some(location) = decision.deciding().and_then(|d| d.location()) {
                    reason.push_str(&format!(" at {location}"));
                }
                reason.push(')');
            }
            let deciding = decision.deciding().map(|d| d.span());
            let others: Vec<String> = decision
                .commands()
                .iter()
                .filter(|c| c.outcome() != Outcome::Allow && Some(c.span()) != deciding)
                .map(|c| {
                    let id = c
                        .rule_id()
                        .map(|id| format!(" (`{id}`)"))
                        .unwrap_or_default();
                    format!("`{}`: {}{id}", c.text(), c.reason())
                })
                .collect();
            for (i, other) in others.iter().take(MORE).enumerate() {
                reason.push_str(if i == 0 { "; also " } else { "; " });
                reason.push_str(other);
            }
            if others.len() > MORE {
                reason.push_str(&format!("; and {} more", others.len() - MORE));
            }
            Reply::Decide { outcome, reason }
        }
    }
}

/// Why the hook's policy could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A module does not compile.
    #[error(transparent)]
    Compile(#[from] airlock_policy::CompileError),
    /// A module extends something other than a built-in.
    #[error("`{source_name}` extends `{base}`: the hook knows only `builtin:NAME` bases")]
    UnknownBase {
        /// The module's source name.
        source_name: String,
        /// What it extends.
        base: String,
    },
    /// A module stands in for a built-in without saying so.
    #[error(
        "`{source_name}` is a module for `{bin}`, which a built-in guards: say `extends = \"builtin:{bin}\"` to add rules, or `replace = true` to replace it"
    )]
    ShadowsBuiltin {
        /// The module's source name.
        source_name: String,
        /// The command.
        bin: String,
    },
}

/// The built-in modules plus `modules` (`(source name, TOML text)`): a module that
/// says `extends = "builtin:NAME"` adds its rules to that built-in, one with
/// `replace = true` replaces the built-in for its command, any other adds a command.
pub fn build_policy(modules: &[(String, String)]) -> Result<Policy, PolicyError> {
    let mut builtins = BTreeMap::new();
    for name in airlock_builtins::names() {
        compile_builtin(&mut builtins, name)?;
    }
    assemble(&builtins, modules)
}

/// The policy [`build_policy`] builds from `modules`, as far as `line` can tell: the
/// user's modules, and only the built-ins the check of `line` looks for (and those the
/// user's modules extend).
///
/// Built as a fixed point: check the line against the policy so far, compile every
/// built-in it looked for that is missing, and again until none is. The check depends
/// on the policy only through the names it looks for ([`check_line_noting`]), and at
/// the end each of those has what [`build_policy`]'s policy has for it, so the line is
/// decided exactly as that policy decides it; a line that names no built-in compiles
/// none.
pub fn policy_for_line(
    modules: &[(String, String)],
    line: &str,
    options: &ShellOptions,
) -> Result<Policy, PolicyError> {
    decide_with_modules(modules, line, options).map(|(policy, _)| policy)
}

/// [`policy_for_line`], and the decision on `line` its last round made.
fn decide_with_modules(
    modules: &[(String, String)],
    line: &str,
    options: &ShellOptions,
) -> Result<(Policy, ShellDecision), PolicyError> {
    let mut builtins = BTreeMap::new();
    for (source_name, text) in modules {
        let header = airlock_policy::ModuleHeader::parse(source_name, text)?;
        if let Some(base) = header.extends().and_then(|b| b.strip_prefix("builtin:")) {
            compile_builtin(&mut builtins, base)?;
        }
    }
    loop {
        let policy = assemble(&builtins, modules)?;
        let (decision, looked_for) = check_line_noting(&policy, line, options);
        let mut compiled = false;
        for name in &looked_for {
            compiled |= compile_builtin(&mut builtins, name)?;
        }
        if !compiled {
            return Ok((policy, decision));
        }
    }
}

/// Compiles the built-in `name` into `builtins` unless it is there; returns whether it
/// compiled one (`false` too when there is no such built-in).
fn compile_builtin(
    builtins: &mut BTreeMap<String, Module>,
    name: &str,
) -> Result<bool, PolicyError> {
    if builtins.contains_key(name) {
        return Ok(false);
    }
    let Some(module) = airlock_builtins::compile(name) else {
        return Ok(false);
    };
    builtins.insert(name.to_owned(), module?);
    Ok(true)
}

/// `builtins` (by name, which is each built-in's command) and `modules` in one policy:
/// a module that says `extends = "builtin:NAME"` adds its rules to that built-in, one
/// with `replace = true` replaces the built-in for its command, any other adds a
/// command.
fn assemble(
    builtins: &BTreeMap<String, Module>,
    modules: &[(String, String)],
) -> Result<Policy, PolicyError> {
    let mut by_bin: BTreeMap<String, Module> = builtins
        .values()
        .map(|module| (module.bin().to_owned(), module.clone()))
        .collect();
    for (source_name, text) in modules {
        let header = ModuleHeader::parse(source_name, text)?;
        let module = match header.extends() {
            Some(base) => {
                let Some(base_module) = base
                    .strip_prefix("builtin:")
                    .and_then(|name| by_bin.get(name))
                else {
                    return Err(PolicyError::UnknownBase {
                        source_name: source_name.clone(),
                        base: base.to_owned(),
                    });
                };
                Module::compile_extending(base_module, source_name, text)?
            }
            None => {
                if airlock_builtins::get(header.bin()).is_some() && !header.replaces() {
                    return Err(PolicyError::ShadowsBuiltin {
                        source_name: source_name.clone(),
                        bin: header.bin().to_owned(),
                    });
                }
                Module::compile(source_name, text)?
            }
        };
        by_bin.insert(module.bin().to_owned(), module);
    }
    let mut builder = Policy::builder();
    for module in by_bin.into_values() {
        builder.add_module(module)?;
    }
    Ok(builder.build())
}
