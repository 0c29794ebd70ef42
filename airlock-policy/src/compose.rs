//! Composition: a module that says `extends = "..."` adds its own rules and settings
//! to another module (its *base*) without being able to weaken it.
//!
//! - **Checking** is layered: the base decides first, on its own reading of the argv
//!   with its own syntax, exactly as it would alone. Every deny of the base (a deny
//!   rule, an argv it cannot read) still denies. The extending module's deny rules add
//!   denies. Its allow rules add to an allow-list base's list: an argv the base does
//!   not admit (and does not deny by a rule) is admitted when one of them holds, which
//!   is how an agent enables a subcommand a built-in leaves out. Over a deny-list base
//!   they start an allow list: what the composed module allows, the base allows.
//! - **Syntax**: the extending module reads the argv with the base's syntax, to which
//!   it may add options the base does not read and subcommands the base does not
//!   have. It cannot change the base's settings (style, abbreviation, ...) or
//!   redeclare an option the base reads (in that scope, as an abbreviation, or as a
//!   global option accepted there). The additions change only how the extending
//!   module's own rules read the argv; the base keeps its reading.
//! - **Settings** only tighten: `[env] strip` adds to the base's; `[env] set` adds
//!   variables the base neither sets nor strips; `[args] append` comes after the
//!   base's; `[exec] concurrent = false` and `stdin = false` may be added, not taken
//!   back; `timeout_secs` may only be shorter than the base's.
//! - **Examples** of the extending module are checked against the composed module.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;
use toml::Spanned;

use crate::decision::{Basis, Decision};
use crate::error::{CompileError, ErrorKind, Source};
use crate::format::{RawCommand, RawModule, RawScope, RawSyntax};
use crate::location::{Location, Snippet};
use crate::module::{EnvSpec, ExecSpec, Module};
use crate::syntax::{Lookup, NodeId, Syntax, split_path};

/// What a module's `[command]` table says about its place among other modules: the
/// program, the module it extends, whether it replaces another wholly. Read it before
/// compiling, to find the base that [`Module::compile_extending`] needs.
///
/// ```
/// use airlock_policy::ModuleHeader;
///
/// let text = "[command]\nbin = \"git\"\nextends = \"builtin:git\"\n[deny]\nargs = [\"push\"]\n";
/// let header = ModuleHeader::parse("commands/git.toml", text)?;
/// assert_eq!(header.bin(), "git");
/// assert_eq!(header.extends(), Some("builtin:git"));
/// assert!(!header.replaces());
/// # Ok::<(), airlock_policy::CompileError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleHeader {
    bin: String,
    bin_span: Range<usize>,
    extends: Option<(String, Range<usize>)>,
    replace: Option<Range<usize>>,
}

/// A module file as far as its header goes (other tables are the compiler's concern).
#[derive(Deserialize)]
struct RawHead {
    command: Spanned<RawCommand>,
}

impl ModuleHeader {
    /// Reads the `[command]` table of a module's TOML `text`; `source_name` names it in
    /// errors.
    pub fn parse(source_name: &str, text: &str) -> Result<Self, CompileError> {
        let src = Source {
            name: source_name,
            text,
        };
        let raw: RawHead = toml::from_str(text).map_err(|e| {
            src.error(
                ErrorKind::Toml,
                e.span().unwrap_or(0..0),
                e.message().trim_end_matches('\n').to_owned(),
            )
        })?;
        Self::from_raw(raw.command.get_ref(), src)
    }

    pub(crate) fn from_raw(command: &RawCommand, src: Source<'_>) -> Result<Self, CompileError> {
        let bin = command.bin.get_ref();
        if bin.is_empty() || bin.contains(['\0', ' ', '\t', '\n']) {
            return Err(src.error(
                ErrorKind::Toml,
                command.bin.span(),
                format!("`{bin}` is not a program name"),
            ));
        }
        // A name is looked up on the daemon's PATH; an absolute path pins the program.
        if bin.contains('/') && command_name(bin).is_none() {
            return Err(src.error(
                ErrorKind::Toml,
                command.bin.span(),
                format!(
                    "`{bin}` is neither a program name (`git`, looked up on the daemon's PATH) nor an absolute path without `.` or `..` (`/usr/bin/git`, which pins the program)"
                ),
            ));
        }
        let extends = match &command.extends {
            Some(name) if name.get_ref().trim().is_empty() => {
                return Err(src.error(
                    ErrorKind::Extends,
                    name.span(),
                    "`extends` names the module this one adds to, e.g. `builtin:git`",
                ));
            }
            Some(name) => Some((name.get_ref().clone(), name.span())),
            None => None,
        };
        let replace = command
            .replace
            .as_ref()
            .filter(|r| *r.get_ref())
            .map(Spanned::span);
        if let (Some(span), Some((name, _))) = (&replace, &extends) {
            return Err(src.error(
                ErrorKind::Extends,
                span.clone(),
                format!(
                    "`replace = true` and `extends = \"{name}\"` exclude each other: extend to keep `{name}`'s rules, or replace it wholly"
                ),
            ));
        }
        Ok(Self {
            bin: bin.clone(),
            bin_span: command.bin.span(),
            extends,
            replace,
        })
    }

    /// The program (`bin`).
    pub fn bin(&self) -> &str {
        &self.bin
    }

    /// The command the module is for: `bin`, or its file name when `bin` is an
    /// absolute path (`/usr/bin/git` is the module of `git`).
    pub fn command(&self) -> &str {
        command_name(&self.bin).unwrap_or(&self.bin)
    }

    /// Where `bin`'s value was written (a byte range of the text).
    pub fn bin_span(&self) -> Range<usize> {
        self.bin_span.clone()
    }

    /// `extends`, if written: the name of the module this one adds to.
    pub fn extends(&self) -> Option<&str> {
        self.extends.as_ref().map(|(name, _)| name.as_str())
    }

    /// Where `extends`'s value was written.
    pub fn extends_span(&self) -> Option<Range<usize>> {
        self.extends.as_ref().map(|(_, span)| span.clone())
    }

    /// Whether the module says `replace = true`: it knowingly stands in wholly for
    /// another module of the same program.
    pub fn replaces(&self) -> bool {
        self.replace.is_some()
    }

    /// Where `replace = true` was written.
    pub fn replace_span(&self) -> Option<Range<usize>> {
        self.replace.clone()
    }
}

/// A compiled module's place among others: its header, where its `bin` was written,
/// and the base it extends.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub(crate) header: ModuleHeader,
    bin_location: Location,
    bin_snippet: Snippet,
    pub(crate) base: Option<Arc<Module>>,
}

impl Layer {
    /// Checks `header` against `base` (the module it extends, if compiled as an
    /// extension).
    pub(crate) fn new(
        header: ModuleHeader,
        base: Option<&Module>,
        src: Source<'_>,
    ) -> Result<Self, CompileError> {
        match (base, &header.extends) {
            (None, Some((name, span))) => {
                return Err(src.error(
                    ErrorKind::Extends,
                    span.clone(),
                    format!(
                        "this module extends `{name}`, which is not given: compile it with `Module::compile_extending` and that module (the Airlock daemon resolves `builtin:NAME`)"
                    ),
                ));
            }
            (Some(base), None) => {
                return Err(src.error(
                    ErrorKind::Extends,
                    header.bin_span.clone(),
                    format!(
                        "compiled as an extension of `{}`, but the module does not say so: add `extends = \"...\"` to `[command]`",
                        base.source_name()
                    ),
                ));
            }
            (Some(base), Some((name, _))) if base.command() != header.command() => {
                return Err(src.error(
                    ErrorKind::Extends,
                    header.bin_span.clone(),
                    format!(
                        "this module is for `{}` but extends `{name}`, a module for `{}`",
                        header.command(),
                        base.command()
                    ),
                ));
            }
            _ => {}
        }
        Ok(Self {
            bin_location: Location::at(src.name, src.text, header.bin_span.start),
            bin_snippet: Snippet::new(src.text, header.bin_span.clone()),
            header,
            base: base.map(|b| Arc::new(b.clone())),
        })
    }

    /// An error about the module as a whole, at its `bin`.
    pub(crate) fn error_at_bin(&self, kind: ErrorKind, message: String) -> CompileError {
        CompileError::at(
            kind,
            message,
            self.bin_location.clone(),
            self.bin_snippet.clone(),
        )
    }
}

impl Module {
    /// Compiles `text`, a module that says `extends = "..."`, on top of `base`: the
    /// base's rules, syntax and settings stay in force and the module's own are added
    /// (see the crate's README for what may be added). The module's examples must
    /// hold for the composed module.
    ///
    /// ```
    /// use airlock_policy::{compile, Module, Verdict};
    ///
    /// let base = compile("git.toml", "[command]\nbin = \"git\"\n[syntax]\nstyle = \"gnu\"\n[syntax.global]\nvalues = [\"-c\"]\n[[rule]]\nid = \"git.config\"\naction = \"deny\"\nglobal = true\nargs = \"-c\"\n")?;
    /// let mine = Module::compile_extending(
    ///     &base,
    ///     "commands/git.toml",
    ///     "[command]\nbin = \"git\"\nextends = \"builtin:git\"\n[deny]\nargs = [\"push\"]\n",
    /// )?;
    /// assert_eq!(mine.check(&["push"]).verdict(), Verdict::Deny);
    /// assert_eq!(mine.check(&["-c", "core.fsmonitor=x", "status"]).verdict(), Verdict::Deny);
    /// assert_eq!(mine.check(&["status"]).verdict(), Verdict::Allow);
    /// # Ok::<(), airlock_policy::CompileError>(())
    /// ```
    pub fn compile_extending(
        base: &Module,
        source_name: &str,
        text: &str,
    ) -> Result<Self, CompileError> {
        Self::compile_layer(source_name, text, Some(base))
    }

    /// The module's header: its program, what it extends, whether it replaces.
    pub fn header(&self) -> &ModuleHeader {
        &self.layer.header
    }

    /// The module this one extends (checked first), if it extends one.
    pub fn base(&self) -> Option<&Module> {
        self.layer.base.as_deref()
    }
}

/// The composed decision: the base's, unless it allows; then the extending module's
/// (`own`). An allow rule of the base is kept as the reason when the extending module
/// only found no deny rule.
pub(crate) fn check<'p, 'a>(
    first: Decision<'p, 'a>,
    own: impl FnOnce() -> Decision<'p, 'a>,
) -> Decision<'p, 'a> {
    let base_allow_list = first.module().is_some_and(Module::is_allow_list);
    if !first.is_allowed() {
        // An allow-list base that admits nothing here (no deny rule held, the argv was
        // read): an allow rule of the extending module may admit it.
        if matches!(first.basis(), Basis::NotAllowed) {
            let second = own();
            if second.is_allowed() && matches!(second.basis(), Basis::Rule(_)) {
                return second;
            }
        }
        return first;
    }
    let second = own();
    // With an allow-list base, the extension's allow rules add to the list: an argv the
    // base admits is not refused for lacking one of them (its deny rules still count).
    if base_allow_list && matches!(second.basis(), Basis::NotAllowed) {
        return first;
    }
    match (first.basis(), second.basis()) {
        (Basis::Rule(_), Basis::NoDenyRuleHeld) if second.is_allowed() => first,
        _ => second,
    }
}

/// The syntax an extending module reads with: the base's, plus what `raw` adds.
pub(crate) fn extend_syntax(
    base: &Module,
    raw: Option<&Spanned<RawSyntax>>,
    src: Source<'_>,
) -> Result<Syntax, CompileError> {
    let mut syntax = base.syntax.clone();
    let Some(raw) = raw else {
        return Ok(syntax);
    };
    let settings = raw.get_ref();
    if settings.style.is_some()
        || settings.abbreviate.is_some()
        || settings.global_anywhere.is_some()
        || settings.global_first.is_some()
        || settings.values_skip_options.is_some()
        || settings.double_dash.is_some()
        || settings.undeclared.is_some()
        || settings.subcommands.is_some()
    {
        let span = settings.style.as_ref().map_or(raw.span(), Spanned::span);
        return Err(src.error(
            ErrorKind::Extends,
            span,
            format!(
                "an extending module reads the argv with `{}`'s syntax: it cannot set `style`, `abbreviate`, `global_anywhere`, `global_first`, `values_skip_options`, `double_dash`, `undeclared` or `subcommands`, only declare options and subcommands its base does not have",
                base.source_name()
            ),
        ));
    }
    if let Some(global) = &settings.global {
        add_scope(&mut syntax, base, 0, false, global, src)?;
    }
    for (path, scope) in &settings.commands {
        let words = split_path(path.get_ref());
        if words.is_empty() {
            return Err(src.error(ErrorKind::Syntax, path.span(), "empty command path"));
        }
        let existing = words
            .iter()
            .try_fold(0, |node, word| base.syntax.child(node, word))
            .is_some();
        let node = syntax.ensure_path(&words);
        add_scope(&mut syntax, base, node, !existing, scope, src)?;
    }
    Ok(syntax)
}

/// Adds `scope`'s declarations to `node` after checking that the base reads none of
/// its names there.
fn add_scope(
    syntax: &mut Syntax,
    base: &Module,
    node: NodeId,
    new: bool,
    scope: &Spanned<RawScope>,
    src: Source<'_>,
) -> Result<(), CompileError> {
    let raw = scope.get_ref();
    if !new && (raw.abbreviate.is_some() || raw.options_until.is_some()) {
        return Err(src.error(
            ErrorKind::Extends,
            scope.span(),
            format!(
                "`{}` already has this scope: an extending module cannot change its `abbreviate` or `options_until`",
                base.source_name()
            ),
        ));
    }
    for spec in raw
        .flags
        .iter()
        .chain(&raw.values)
        .chain(&raw.optional)
        .chain(&raw.bools)
    {
        for name in spec.get_ref().split('|').map(str::trim) {
            let normalized = syntax
                .normalize_name(name)
                .map_err(|why| src.error(ErrorKind::Syntax, spec.span(), why))?;
            if syntax.lookup(Some(node), &normalized) != Lookup::Unknown {
                return Err(src.error(
                    ErrorKind::Extends,
                    spec.span(),
                    format!(
                        "`{name}` is already read by `{}` here (declared, an abbreviation of a declared option, or a global option): an extending module declares only options its base does not read",
                        base.source_name()
                    ),
                ));
            }
        }
    }
    syntax.extend_scope(node, scope, new, src)
}

/// `[env]` and `[exec]` with the spans of what an extending module may not write.
#[derive(Default, Deserialize)]
struct SettingSpans {
    #[serde(default)]
    env: EnvSpans,
    #[serde(default)]
    exec: ExecSpans,
}

#[derive(Default, Deserialize)]
struct EnvSpans {
    #[serde(default)]
    set: BTreeMap<Spanned<String>, IgnoredAny>,
}

#[derive(Default, Deserialize)]
struct ExecSpans {
    #[serde(default)]
    concurrent: Option<Spanned<bool>>,
    #[serde(default)]
    stdin: Option<Spanned<bool>>,
    #[serde(default)]
    timeout_secs: Option<Spanned<u64>>,
    #[serde(default)]
    exec_writable: Option<Spanned<bool>>,
}

/// The module's `[env]`, `[args] append` and `[exec]`: as written, or composed with
/// the base's so that they only tighten it.
pub(crate) fn settings(
    raw: &RawModule,
    base: Option<&Module>,
    src: Source<'_>,
) -> Result<(EnvSpec, Vec<String>, ExecSpec), CompileError> {
    let own_exec = ExecSpec {
        concurrent: raw.exec.concurrent.unwrap_or(true),
        stdin: raw.exec.stdin.unwrap_or(true),
        timeout: raw.exec.timeout_secs.map(Duration::from_secs),
        exec_writable: raw.exec.exec_writable.unwrap_or(true),
    };
    let Some(base) = base else {
        let env = EnvSpec {
            strip: raw.env.strip.clone(),
            set: raw.env.set.clone(),
        };
        return Ok((env, raw.args.append.clone(), own_exec));
    };
    let spans: SettingSpans = toml::from_str(src.text).unwrap_or_default();
    let refuse =
        |span: Range<usize>, message: String| Err(src.error(ErrorKind::Extends, span, message));
    let base_env = base.env();
    for key in spans.env.set.keys() {
        let name = key.get_ref();
        if base_env.set.contains_key(name) {
            return refuse(
                key.span(),
                format!(
                    "`{name}` is set by `{}`: an extending module cannot override its environment",
                    base.source_name()
                ),
            );
        }
        if base_env.strip.contains(name) {
            return refuse(
                key.span(),
                format!(
                    "`{name}` is stripped by `{}`: an extending module cannot set it",
                    base.source_name()
                ),
            );
        }
    }
    let base_exec = base.exec();
    for (field, own, base_value) in [
        ("concurrent", &spans.exec.concurrent, base_exec.concurrent),
        ("stdin", &spans.exec.stdin, base_exec.stdin),
        (
            "exec_writable",
            &spans.exec.exec_writable,
            base_exec.exec_writable,
        ),
    ] {
        if let Some(own) = own {
            if *own.get_ref() && !base_value {
                return refuse(
                    own.span(),
                    format!(
                        "`{}` says `{field} = false`: an extending module can only tighten `[exec]`",
                        base.source_name()
                    ),
                );
            }
        }
    }
    if let (Some(own), Some(limit)) = (&spans.exec.timeout_secs, base_exec.timeout) {
        if Duration::from_secs(*own.get_ref()) > limit {
            return refuse(
                own.span(),
                format!(
                    "`{}` kills a run after {} s: an extending module can only shorten `timeout_secs`",
                    base.source_name(),
                    limit.as_secs()
                ),
            );
        }
    }
    let mut env = base_env.clone();
    for name in &raw.env.strip {
        if !env.strip.contains(name) {
            env.strip.push(name.clone());
        }
    }
    env.set
        .extend(raw.env.set.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut append = base.append_args().to_vec();
    append.extend(raw.args.append.iter().cloned());
    let exec = ExecSpec {
        concurrent: base_exec.concurrent && own_exec.concurrent,
        stdin: base_exec.stdin && own_exec.stdin,
        exec_writable: base_exec.exec_writable && own_exec.exec_writable,
        timeout: match (base_exec.timeout, own_exec.timeout) {
            (Some(b), Some(o)) => Some(b.min(o)),
            (b, o) => o.or(b),
        },
    };
    Ok((env, append, exec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Policy, Verdict, compile};

    /// A git-like base: global `-c` denied, an abbreviating `fetch` scope whose
    /// `--upload-pack` is denied, env hardening, a serialized, stdin-less run.
    const BASE: &str = r#"
[command]
bin = "git"
description = "base git"

[syntax]
style = "gnu"
abbreviate = true

[syntax.global]
abbreviate = false
values = ["-c", "-C"]

[syntax.commands.fetch]
values = ["--upload-pack"]
flags = ["--all", "--update-shallow"]

[syntax.commands.ls-remote]
options_until = 1
values = ["--upload-pack|--exec"]

[[rule]]
id = "git.config"
action = "deny"
global = true
args = "-c"

[[rule]]
id = "git.upload-pack"
action = "deny"
command = "fetch"
args = "--upload-pack"

[env]
strip = ["GIT_DIR"]
set = { GIT_TERMINAL_PROMPT = "0" }

[args]
append = ["--base"]

[exec]
concurrent = false
stdin = false
timeout_secs = 600
"#;

    fn base() -> Module {
        compile("builtin:git.toml", BASE).unwrap_or_else(|e| panic!("{e}"))
    }

    fn extend(base: &Module, body: &str) -> Result<Module, CompileError> {
        Module::compile_extending(
            base,
            "commands/git.toml",
            &format!("[command]\nbin = \"git\"\nextends = \"builtin:git\"\n{body}"),
        )
    }

    fn extended(body: &str) -> Module {
        extend(&base(), body).unwrap_or_else(|e| panic!("{e}"))
    }

    fn refused(body: &str) -> CompileError {
        match extend(&base(), body) {
            Ok(_) => panic!("compiled: {body}"),
            Err(e) => e,
        }
    }

    /// The verdict and deciding rule id, with the reference interpreter agreeing.
    fn decide(m: &Module, argv: &str) -> (Verdict, Option<String>) {
        let argv = shell_words::split(argv).unwrap();
        let decision = m.check(&argv);
        assert_eq!(
            decision.verdict(),
            m.check_reference(&argv).0,
            "automaton and reference disagree on {argv:?}"
        );
        (decision.verdict(), decision.explanation().rule_id)
    }

    fn denied_by(m: &Module, argv: &str) -> String {
        match decide(m, argv) {
            (Verdict::Deny, Some(id)) => id,
            other => panic!("`{argv}`: {other:?}"),
        }
    }

    fn allowed(m: &Module, argv: &str) -> bool {
        decide(m, argv).0 == Verdict::Allow
    }

    #[test]
    fn the_base_denies_still_deny_and_the_agents_are_added() {
        let m = extended("[deny]\nargs = [\"push\"]\n");
        assert_eq!(denied_by(&m, "-c core.fsmonitor=x status"), "git.config");
        assert_eq!(denied_by(&m, "-ccore.fsmonitor=x status"), "git.config");
        assert_eq!(
            denied_by(&m, "fetch --upload-pac=x origin"),
            "git.upload-pack"
        );
        assert_eq!(denied_by(&m, "push origin main"), "deny.args[0]");
        assert!(allowed(&m, "status"));
        assert!(allowed(&m, "fetch --all"));
        let decision = m.check(&["-c", "x=y", "status"]);
        assert_eq!(
            decision.module().map(Module::source_name),
            Some("builtin:git.toml"),
            "the base decided"
        );
        assert_eq!(
            decision.rule().map(|r| r.location().to_string()),
            Some("builtin:git.toml:26:9".to_owned()),
            "the line that matched, not the `[[rule]]` header"
        );
        assert_eq!(m.base().map(Module::source_name), Some("builtin:git.toml"));
        assert_eq!(m.header().extends(), Some("builtin:git"));
        assert_eq!(m.description(), Some("base git"));
    }

    #[test]
    fn agent_allow_rules_narrow_a_deny_list_and_extend_an_allow_list() {
        // A deny-list base: the agent's allow rules make an allow list on top of it.
        let m = extended(
            "[[rule]]\nid = \"mine.status\"\naction = \"allow\"\ncommand = \"status\"\n[[rule]]\nid = \"mine.config\"\naction = \"allow\"\nargs = \"-c\"\n",
        );
        assert!(allowed(&m, "status"));
        assert_eq!(denied_by(&m, "log"), "airlock.not-allowed");
        assert_eq!(
            denied_by(&m, "-c core.pager=x status"),
            "git.config",
            "an agent allow rule cannot admit what the base denies"
        );
        // An allow-list base: the agent's allow rules add to its list, never past its
        // deny rules.
        let base = compile(
            "base.toml",
            "[command]\nbin = \"git\"\n[[rule]]\nid = \"base.status\"\naction = \"allow\"\nargs = \"status\"\n[[rule]]\nid = \"base.no-force\"\naction = \"deny\"\nargs = \"--force\"\n",
        )
        .unwrap();
        let m = extend(&base, "[allow]\nargs = [\"push\"]\n").unwrap();
        assert_eq!(
            decide(&m, "push"),
            (Verdict::Allow, Some("allow.args[0]".to_owned()))
        );
        assert_eq!(denied_by(&m, "push --force"), "base.no-force");
        assert_eq!(denied_by(&m, "log"), "airlock.not-allowed");
        assert_eq!(
            m.check(&["log"]).module().map(Module::source_name),
            Some("base.toml")
        );
        assert!(allowed(&m, "status"), "the base's list still holds");
        let m = extend(&base, "[deny]\nargs = [\"-v\"]\n").unwrap();
        assert_eq!(
            decide(&m, "status"),
            (Verdict::Allow, Some("base.status".to_owned()))
        );
        assert_eq!(denied_by(&m, "status -v"), "deny.args[0]");
    }

    #[test]
    fn the_agents_syntax_additions_do_not_change_the_base_reading() {
        // The agent's rule names `fetch origin`, a path the base does not have; the
        // base still reads `--upload-pac` in `fetch` as an abbreviation.
        let m = extended(
            "[[rule]]\nid = \"mine.fetch-origin\"\naction = \"deny\"\ncommand = \"fetch origin\"\nargs = \"--tags\"\n",
        );
        assert_eq!(
            denied_by(&m, "fetch origin --upload-pac=x"),
            "git.upload-pack"
        );
        assert_eq!(denied_by(&m, "fetch origin --tags"), "mine.fetch-origin");
        // A new option in a scope the base declares, and a new scope with settings.
        let m = extended(
            "[syntax.commands.fetch]\nvalues = [\"--refmap\"]\n[syntax.commands.mine]\nabbreviate = false\nvalues = [\"--target\"]\n[[rule]]\nid = \"mine.refmap\"\naction = \"deny\"\ncommand = \"fetch\"\nargs = \"--refmap=*evil*\"\n[[rule]]\nid = \"mine.target\"\naction = \"deny\"\ncommand = \"mine\"\nargs = \"--target=prod\"\n",
        );
        assert_eq!(denied_by(&m, "fetch --refmap evil origin"), "mine.refmap");
        assert_eq!(denied_by(&m, "fetch --refm=evil origin"), "mine.refmap");
        assert_eq!(denied_by(&m, "mine --target prod"), "mine.target");
        assert!(allowed(&m, "mine --targ prod"), "no abbreviation in `mine`");
        assert_eq!(denied_by(&m, "fetch --upload-pac=x"), "git.upload-pack");
    }

    #[test]
    fn redeclarations_and_syntax_settings_are_refused() {
        for (body, line, column, needle) in [
            (
                "[syntax.commands.fetch]\nflags = [\"--upload-pack\"]\n",
                5,
                10,
                "already read",
            ),
            (
                "[syntax.commands.fetch]\nflags = [\"--upload\"]\n",
                5,
                10,
                "abbreviation",
            ),
            (
                "[syntax.global]\nflags = [\"-x\", \"-C\"]\n",
                5,
                16,
                "already read",
            ),
            (
                "[syntax.commands.ls-remote]\nvalues = [\"--exec\"]\n",
                5,
                11,
                "already read",
            ),
            (
                "[syntax.commands.ls-remote]\noptions_until = 2\n",
                4,
                1,
                "options_until",
            ),
            (
                "[syntax]\nstyle = \"generic\"\n",
                5,
                9,
                "cannot set `style`",
            ),
            ("[syntax]\nabbreviate = false\n", 4, 1, "cannot set `style`"),
        ] {
            let e = refused(body);
            assert_eq!(e.kind(), ErrorKind::Extends, "{body}: {e}");
            assert_eq!(
                (e.location().line, e.location().column),
                (line, column),
                "{body}: {e}"
            );
            assert!(e.message().contains(needle), "{body}: {e}");
            assert_eq!(e.location().source, "commands/git.toml");
        }
    }

    #[test]
    fn settings_only_tighten() {
        let m = extended(
            "[env]\nstrip = [\"GIT_DIR\", \"GIT_EXEC_PATH\"]\nset = { GIT_AUTHOR_NAME = \"agent\" }\n[args]\nappend = [\"--mine\"]\n[exec]\ntimeout_secs = 60\nconcurrent = false\n",
        );
        assert_eq!(m.env().strip, ["GIT_DIR", "GIT_EXEC_PATH"]);
        let set: Vec<&str> = m.env().set.keys().map(String::as_str).collect();
        assert_eq!(set, ["GIT_AUTHOR_NAME", "GIT_TERMINAL_PROMPT"]);
        assert_eq!(m.append_args(), ["--base", "--mine"]);
        assert_eq!(
            m.exec(),
            ExecSpec {
                concurrent: false,
                stdin: false,
                exec_writable: true,
                timeout: Some(Duration::from_secs(60)),
            }
        );
        let m = extended("");
        assert_eq!(m.env(), base().env(), "the base's env stays whole");
        assert_eq!(m.exec(), base().exec());
        // A base without a timeout leaves it to the extension (or the daemon).
        let plain = compile("b.toml", "[command]\nbin = \"git\"\n").unwrap();
        let m = extend(&plain, "[exec]\ntimeout_secs = 5\nstdin = false\n").unwrap();
        assert_eq!(m.exec().timeout, Some(Duration::from_secs(5)));
        assert!(!m.exec().stdin && m.exec().concurrent);

        for (body, line, column, needle) in [
            (
                "[env]\nset = { GIT_TERMINAL_PROMPT = \"1\" }\n",
                5,
                9,
                "cannot override",
            ),
            ("[env.set]\nGIT_DIR = \"/x\"\n", 5, 1, "stripped"),
            ("[exec]\nconcurrent = true\n", 5, 14, "only tighten"),
            ("[exec]\nstdin = true\n", 5, 9, "only tighten"),
            ("[exec]\ntimeout_secs = 601\n", 5, 16, "only shorten"),
        ] {
            let e = refused(body);
            assert_eq!(e.kind(), ErrorKind::Extends, "{body}: {e}");
            assert_eq!(
                (e.location().line, e.location().column),
                (line, column),
                "{body}: {e}"
            );
            assert!(e.message().contains(needle), "{body}: {e}");
        }
    }

    #[test]
    fn examples_hold_against_the_composed_module() {
        let e = refused(
            "[deny]\nargs = [\"push\"]\n[examples]\nallow = [\"status\", \"-c x=y status\"]\n",
        );
        assert_eq!(e.kind(), ErrorKind::Example, "{e}");
        assert_eq!((e.location().line, e.location().column), (7, 20), "{e}");
        assert!(e.message().contains("git.config"), "{e}");
        let m = extended(
            "[deny]\nargs = [\"push\"]\n[examples]\ndeny = [\"push\", \"-c x=y status\"]\nallow = [\"status\"]\n",
        );
        assert!(allowed(&m, "status"));
    }

    #[test]
    fn headers_say_what_a_module_extends() {
        let text = "[command]\nbin = \"git\"\nextends = \"builtin:git\"\n";
        let header = ModuleHeader::parse("m.toml", text).unwrap();
        assert_eq!(header.bin(), "git");
        assert_eq!(&text[header.bin_span()], "\"git\"");
        assert_eq!(&text[header.extends_span().unwrap()], "\"builtin:git\"");
        assert!(!header.replaces());
        let replace = ModuleHeader::parse(
            "m.toml",
            "[command]\nbin = \"git\"\nreplace = true\n[deny]\nargs = [\"x\"]\n",
        )
        .unwrap();
        assert!(replace.replaces() && replace.extends().is_none());
        let not =
            ModuleHeader::parse("m.toml", "[command]\nbin = \"git\"\nreplace = false\n").unwrap();
        assert!(!not.replaces());

        for (text, line, column, needle) in [
            (
                "[command]\nbin = \"git\"\nextends = \"builtin:git\"\nreplace = true\n",
                4,
                11,
                "exclude each other",
            ),
            (
                "[command]\nbin = \"git\"\nextends = \" \"\n",
                3,
                11,
                "names the module",
            ),
            (
                "[command]\nbin = \"git\"\nextend = \"builtin:git\"\n",
                3,
                1,
                "unknown field",
            ),
            ("[command]\nbin = \"\"\n", 2, 7, "not a program name"),
        ] {
            let e = ModuleHeader::parse("m.toml", text).unwrap_err();
            assert_eq!(
                (e.location().line, e.location().column),
                (line, column),
                "{e}"
            );
            assert!(e.message().contains(needle), "{e}");
            let e = compile("m.toml", text).unwrap_err();
            assert!(e.message().contains(needle), "compile agrees: {e}");
        }
    }

    #[test]
    fn an_extension_needs_its_base_and_the_same_program() {
        let text =
            "[command]\nbin = \"git\"\nextends = \"builtin:git\"\n[deny]\nargs = [\"push\"]\n";
        let e = compile("m.toml", text).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Extends);
        assert_eq!((e.location().line, e.location().column), (3, 11), "{e}");
        assert!(e.message().contains("compile_extending"), "{e}");

        let e =
            Module::compile_extending(&base(), "m.toml", "[command]\nbin = \"git\"\n").unwrap_err();
        assert_eq!((e.location().line, e.location().column), (2, 7), "{e}");
        assert!(e.message().contains("does not say so"), "{e}");

        let e = Module::compile_extending(
            &base(),
            "m.toml",
            "[command]\nbin = \"ssh\"\nextends = \"builtin:git\"\n",
        )
        .unwrap_err();
        assert!(e.message().contains("a module for `git`"), "{e}");

        // An extension of an extension keeps both layers.
        let first = extended("[deny]\nargs = [\"push\"]\n");
        let second = extend(&first, "[deny]\nargs = [\"pull\"]\n").unwrap();
        assert_eq!(denied_by(&second, "push"), "deny.args[0]");
        assert_eq!(denied_by(&second, "pull"), "deny.args[0]");
        assert_eq!(denied_by(&second, "-c x=y status"), "git.config");
        assert!(allowed(&second, "status"));
    }

    #[test]
    fn a_policy_has_one_module_per_command() {
        let mut builder = Policy::builder();
        builder.add("a.toml", "[command]\nbin = \"git\"\n").unwrap();
        let e = builder
            .add("b.toml", "# the second\n[command]\nbin = \"git\"\n")
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Duplicate);
        assert_eq!(e.location().to_string(), "b.toml:3:7");
        assert!(e.message().contains("`a.toml` already guards it"), "{e}");
        let e = builder.add_module(base()).unwrap_err();
        assert_eq!(e.location().to_string(), "builtin:git.toml:3:7");
        builder.add("c.toml", "[command]\nbin = \"ssh\"\n").unwrap();
        let policy = builder.build();
        assert_eq!(policy.commands().collect::<Vec<_>>(), ["git", "ssh"]);
        assert_eq!(
            policy.module("git").map(Module::source_name),
            Some("a.toml")
        );
    }
}

/// The command an absolute program path is for: its file name, when the path is
/// absolute, has no `.` or `..` and ends in a name; `None` for anything else
/// (including a plain name, which is its own command).
pub(crate) fn command_name(bin: &str) -> Option<&str> {
    let path = std::path::Path::new(bin);
    let clean = path.is_absolute()
        && !bin.ends_with('/')
        && path.components().all(|c| {
            matches!(
                c,
                std::path::Component::RootDir | std::path::Component::Normal(_)
            )
        });
    if !clean {
        return None;
    }
    path.file_name().and_then(|n| n.to_str())
}

#[cfg(test)]
mod pinned_bin_tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

    use crate::{Module, Policy};

    #[test]
    fn an_absolute_bin_pins_the_program_of_the_command_it_names() {
        let module = Module::compile("cat.toml", "[command]\nbin = \"/usr/bin/cat\"\n").unwrap();
        assert_eq!(module.bin(), "/usr/bin/cat");
        assert_eq!(module.command(), "cat");
        let mut builder = Policy::builder();
        builder.add_module(module).unwrap();
        let policy = builder.build();
        assert!(policy.module("cat").is_some(), "held by its command");
        assert!(policy.check("cat", &["x"]).is_allowed());
        for bad in ["bin/cat", "/usr/../cat", "/usr/bin/", "./cat"] {
            let e =
                Module::compile("m.toml", &format!("[command]\nbin = \"{bad}\"\n")).unwrap_err();
            assert_eq!(e.location().line, 2, "{bad}: {e}");
            assert!(e.message().contains("absolute path"), "{bad}: {e}");
        }
        let plain = Module::compile("git.toml", "[command]\nbin = \"git\"\n").unwrap();
        assert_eq!(plain.command(), "git");
    }
}
