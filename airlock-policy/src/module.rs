//! A compiled command module: the typed `[command]`, `[env]`, `[args]` and `[exec]`
//! data for the daemon, the tool's syntax, the rules, and the automaton that checks
//! an argv against them. Compiling runs the module's own examples.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::atom::{Atom, ScopeFilter, ValuePattern};
use crate::automaton::{AtomList, Automaton, AutomatonBuilder, RuleId};
use crate::compose::{self, Layer, ModuleHeader};
use crate::decision::{Basis, Decision, Verdict};
use crate::entry::{self, Entry};
use crate::error::{CompileError, ErrorKind, Source};
use crate::format::{RawAction, RawModule, RawRule};
use crate::globs::glob_regex;
use crate::location::{LineIndex, Snippet};
use crate::reading::{self, Reading, Unreadable};
use crate::rule::{Action, Rule};
use crate::syntax::{Kind, Syntax, split_path};

/// `[env]`: what the daemon strips from and sets in the program's environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvSpec {
    /// Variables removed (before the agent profile's `set`).
    pub strip: Vec<String>,
    /// Variables set last, after the profile: hardening a profile cannot undo.
    pub set: BTreeMap<String, String>,
}

/// `[exec]`: how the daemon runs the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecSpec {
    /// Whether several runs may overlap (`false`: the daemon serializes them).
    pub concurrent: bool,
    /// Whether the agent's stdin reaches the program (`false`: the program's stdin is
    /// empty, so nobody can answer its prompts).
    pub stdin: bool,
    /// How long one run may take before the daemon kills it.
    pub timeout: Option<Duration>,
    /// Whether the program (and whatever it starts) may execute files where the agent
    /// can write: its mounts and the run's private directory (`[exec] exec_writable`,
    /// default true). `false` means a hook, driver or binary the agent planted there
    /// cannot run, whatever tries to start it; the daemon enforces it in the kernel.
    pub exec_writable: bool,
}

/// A compiled, immutable command module. `check` is `Send + Sync` and cannot fail.
#[derive(Debug, Clone)]
pub struct Module {
    source_name: String,
    bin: String,
    description: Option<String>,
    not_allowed: Option<String>,
    versions: Vec<String>,
    env: EnvSpec,
    append: Vec<String>,
    exec: ExecSpec,
    pub(crate) syntax: Syntax,
    automaton: Automaton,
    rules: Vec<Rule>,
    allow_list: bool,
    pub(crate) layer: Layer,
}

impl Module {
    /// Compiles a module from its TOML `text`; `source_name` (usually the file path)
    /// names it in errors and decisions. The module's inline examples are checked: a
    /// rule that does not do what its examples say is an error.
    pub fn compile(source_name: &str, text: &str) -> Result<Self, CompileError> {
        Self::compile_layer(source_name, text, None)
    }

    /// Compiles a module, on top of `base` when it extends one (`compose`).
    pub(crate) fn compile_layer(
        source_name: &str,
        text: &str,
        base: Option<&Module>,
    ) -> Result<Self, CompileError> {
        let src = Source {
            name: source_name,
            text,
        };
        let raw: RawModule = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            src.error(
                ErrorKind::Toml,
                span,
                e.message().trim_end_matches('\n').to_owned(),
            )
        })?;
        let header = ModuleHeader::from_raw(raw.command.get_ref(), src)?;
        let bin = header.bin().to_owned();
        let layer = Layer::new(header, base, src)?;
        let mut syntax = match base {
            None => Syntax::build(raw.syntax.as_ref().map(Spanned::get_ref), src)?,
            Some(base) => compose::extend_syntax(base, raw.syntax.as_ref(), src)?,
        };
        let drafts = drafts(&raw, src)?;
        for draft in &drafts {
            if let Some((words, _)) = &draft.command {
                syntax.ensure_path(&words.iter().map(String::as_str).collect::<Vec<_>>());
            }
        }
        if raw.syntax.is_none() && base.is_none() {
            declare_implicit_values(&mut syntax, &drafts);
        }

        let lines = LineIndex::new(text);
        let mut builder = AutomatonBuilder::new(&syntax);
        let mut rules = Vec::with_capacity(drafts.len());
        for draft in &drafts {
            let atoms = atoms(draft, &syntax, src)?;
            builder
                .add_rule(&atoms, draft.action == Action::Deny)
                .map_err(|e| src.error(ErrorKind::TooLarge, draft.span.clone(), e.to_string()))?;
            rules.push(Rule {
                id: draft.id.clone(),
                action: draft.action,
                reason: draft.reason.clone(),
                text: draft.text.clone(),
                location: lines.location(
                    source_name,
                    text,
                    string_body_start(text, draft.at.clone()),
                ),
                snippet: Snippet::new(text, draft.at.clone()),
                atoms,
            });
        }
        let automaton = builder
            .build()
            .map_err(|e| src.error(ErrorKind::TooLarge, raw.command.span(), e.to_string()))?;

        let (env, append, exec) = compose::settings(&raw, base, src)?;
        let module = Module {
            source_name: source_name.to_owned(),
            bin,
            description: raw
                .command
                .get_ref()
                .description
                .clone()
                .or_else(|| base.and_then(|b| b.description.clone())),
            not_allowed: raw.command.get_ref().not_allowed.clone(),
            versions: if raw.command.get_ref().versions.is_empty() {
                base.map(|b| b.versions.clone()).unwrap_or_default()
            } else {
                raw.command.get_ref().versions.clone()
            },
            env,
            append,
            exec,
            layer,
            allow_list: rules.iter().any(|r| r.action == Action::Allow),
            syntax,
            automaton,
            rules,
        };
        module.run_examples(&drafts, &raw, src)?;
        Ok(module)
    }

    /// The name the module was compiled under.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The program (`[command] bin`): a name looked up on the `PATH`, or an absolute
    /// path that pins it.
    pub fn bin(&self) -> &str {
        &self.bin
    }

    /// The command the module is for: `bin`, or its file name when `bin` is an
    /// absolute path (`bin = "/usr/bin/git"` is the module of `git`). A [`Policy`]
    /// holds modules by this name.
    ///
    /// [`Policy`]: crate::Policy
    pub fn command(&self) -> &str {
        crate::compose::command_name(&self.bin).unwrap_or(&self.bin)
    }

    /// `[command] not_allowed`: why an argv no allow rule admits is denied, if written.
    pub fn not_allowed_reason(&self) -> Option<&str> {
        self.not_allowed.as_deref()
    }

    /// `[command] versions`: the tool releases this module's reading was checked
    /// against (empty: not said).
    pub fn versions(&self) -> &[String] {
        &self.versions
    }

    /// Whether `installed` (a version as the tool prints it, `2.47.3`) is one of
    /// [`Module::versions`]: equal to one, or starting with one followed by a `.`.
    /// `None` when the module does not say.
    pub fn checked_against(&self, installed: &str) -> Option<bool> {
        if self.versions.is_empty() {
            return None;
        }
        Some(self.versions.iter().any(|v| {
            installed == v
                || installed
                    .strip_prefix(v.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        }))
    }

    /// `[command] description`, if written.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// `[env]`.
    pub fn env(&self) -> &EnvSpec {
        &self.env
    }

    /// `[args] append`: arguments the daemon adds after the agent's.
    pub fn append_args(&self) -> &[String] {
        &self.append
    }

    /// `[exec]`.
    pub fn exec(&self) -> ExecSpec {
        self.exec
    }

    /// The rules, in the order written (`[deny]`, `[allow]`, then `[[rule]]`).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether the module has allow rules (then an argv must be admitted by one).
    pub fn is_allow_list(&self) -> bool {
        self.allow_list
    }

    /// Decides whether `argv` (the arguments after the program name) may run.
    ///
    /// Every plausible reading of the argv is considered: a deny rule that holds on any
    /// of them denies, and with allow rules every reading must be admitted. A module
    /// that extends another lets it decide first (`compose`).
    pub fn check<'p, 'a, S: AsRef<str>>(&'p self, argv: &'a [S]) -> Decision<'p, 'a> {
        match self.layer.base.as_deref() {
            Some(base) => compose::check(base.check(argv), || self.check_own(argv)),
            None => self.check_own(argv),
        }
    }

    /// [`Module::check`] with this module's own rules only.
    fn check_own<'p, 'a, S: AsRef<str>>(&'p self, argv: &'a [S]) -> Decision<'p, 'a> {
        // Made here and returned as is (one return of one local), so that the reading
        // is written where the caller keeps the decision instead of being copied there
        // (a reading is ~200 bytes).
        let mut decision = Decision {
            verdict: Verdict::Deny,
            basis: Basis::NotAllowed,
            reading: Some(Reading::empty(&self.syntax, argv.len())),
            module: Some(self),
        };
        if !self.decide_single_reading(argv, &mut decision) {
            self.decide_every_reading(argv, &mut decision);
        }
        decision
    }

    /// The common case: decides an argv with one plausible reading, without the
    /// enumeration's bookkeeping (the same decision: see `check_own_reference`).
    /// Returns `false`, with `decision` to be overwritten, when the argv has more
    /// readings or cannot be read.
    fn decide_single_reading<'p, 'a, S: AsRef<str>>(
        &'p self,
        argv: &'a [S],
        decision: &mut Decision<'p, 'a>,
    ) -> bool {
        let Some(reading) = decision.reading.as_mut() else {
            return false;
        };
        if !matches!(reading::read_into(reading, argv, &[]), Ok(0)) {
            return false;
        }
        let mut matched = AtomList::default();
        if self.automaton.matched_atoms(reading, &mut matched).is_err() {
            decision.basis = Basis::Unreadable(Unreadable::MatcherFailed);
            decision.reading = None;
            return true;
        }
        let outcome = self.automaton.outcome(&matched);
        (decision.verdict, decision.basis) = match (outcome.deny, outcome.allow) {
            (Some(rule), _) => (Verdict::Deny, self.basis(rule)),
            (None, None) if self.allow_list => (Verdict::Deny, Basis::NotAllowed),
            (None, Some(rule)) => (Verdict::Allow, self.basis(rule)),
            (None, None) => (Verdict::Allow, Basis::NoDenyRuleHeld),
        };
        true
    }

    /// Decides on every plausible reading of `argv`: a deny rule on any denies, an
    /// allow-list module must admit all.
    fn decide_every_reading<'p, 'a, S: AsRef<str>>(
        &'p self,
        argv: &'a [S],
        decision: &mut Decision<'p, 'a>,
    ) {
        let mut matched = AtomList::default();
        let mut denied: Option<(RuleId, Reading<'p, 'a>)> = None;
        let mut not_allowed: Option<Reading<'p, 'a>> = None;
        let mut first: Option<(Option<RuleId>, Reading<'p, 'a>)> = None;
        let mut failed = false;
        let result = reading::for_each_reading(&self.syntax, argv, |reading| {
            if self
                .automaton
                .matched_atoms(&reading, &mut matched)
                .is_err()
            {
                failed = true;
                return false;
            }
            let outcome = self.automaton.outcome(&matched);
            if let Some(rule) = outcome.deny {
                denied = Some((rule, reading));
                return false;
            }
            if self.allow_list && outcome.allow.is_none() {
                if not_allowed.is_none() {
                    not_allowed = Some(reading);
                }
                return true;
            }
            if first.is_none() {
                first = Some((outcome.allow, reading));
            }
            true
        });
        let (verdict, basis, reading) = if let Some((rule, reading)) = denied {
            (Verdict::Deny, self.basis(rule), Some(reading))
        } else if failed {
            (
                Verdict::Deny,
                Basis::Unreadable(Unreadable::MatcherFailed),
                None,
            )
        } else if let Err(why) = result {
            (Verdict::Deny, Basis::Unreadable(why), None)
        } else if let Some(reading) = not_allowed {
            (Verdict::Deny, Basis::NotAllowed, Some(reading))
        } else {
            match first {
                Some((Some(rule), reading)) => (Verdict::Allow, self.basis(rule), Some(reading)),
                Some((None, reading)) => (Verdict::Allow, Basis::NoDenyRuleHeld, Some(reading)),
                None => (Verdict::Deny, Basis::NotAllowed, None),
            }
        };
        decision.verdict = verdict;
        decision.basis = basis;
        decision.reading = reading;
    }

    fn basis(&self, rule: RuleId) -> Basis<'_> {
        match self.rules.get(rule as usize) {
            Some(rule) => Basis::Rule(rule),
            None => Basis::NotAllowed,
        }
    }

    /// Whether rule `index` holds for `argv`: on some reading for a deny rule, on
    /// every reading for an allow rule. An unreadable argv holds for deny rules only.
    pub fn rule_holds<S: AsRef<str>>(&self, index: usize, argv: &[S]) -> bool {
        let Some(rule) = self.rules.get(index) else {
            return false;
        };
        let Ok(rule_id) = RuleId::try_from(index) else {
            return false;
        };
        let deny = rule.action == Action::Deny;
        let mut matched = AtomList::default();
        let mut any = false;
        let mut all = true;
        let result = reading::for_each_reading(&self.syntax, argv, |reading| {
            // A matcher failure counts as holding: the example then fails loudly for
            // allow rules and never hides a deny.
            let holds = match self.automaton.matched_atoms(&reading, &mut matched) {
                Ok(()) => self.automaton.rule_holds(rule_id, &matched),
                Err(_) => deny,
            };
            any |= holds;
            all &= holds;
            !(deny && any)
        });
        match result {
            Ok(()) if deny => any,
            Ok(()) => all,
            Err(_) => deny,
        }
    }

    /// Every plausible reading of `argv` (at most [`MAX_READINGS`](crate::MAX_READINGS)),
    /// in a fixed order: the same readings [`Module::check`] decides on. A consumer
    /// that acts on a reading for security (paths to confine, options to inspect) must
    /// consider every one. Fails when the argv cannot be read: an ambiguous
    /// abbreviation, or too many readings.
    ///
    /// ```
    /// # use airlock_policy::compile;
    /// // `--foo` is undeclared: it may or may not take `x` as its value.
    /// let module = compile("t.toml", "[command]\nbin = \"t\"\n[syntax]\nstyle = \"gnu\"\n")?;
    /// let readings = module.readings(&["--foo", "x"]).unwrap();
    /// let texts: Vec<String> = readings.iter().map(|r| r.to_string()).collect();
    /// assert_eq!(texts, ["--foo x", "--foo=x"]);
    /// # Ok::<(), airlock_policy::CompileError>(())
    /// ```
    pub fn readings<'m, 'a, S: AsRef<str>>(
        &'m self,
        argv: &'a [S],
    ) -> Result<Vec<Reading<'m, 'a>>, Unreadable> {
        let mut out = Vec::new();
        reading::for_each_reading(&self.syntax, argv, |r| {
            out.push(r);
            true
        })?;
        Ok(out)
    }

    /// The reference interpreter's decision (the test oracle): the same semantics,
    /// evaluated rule by rule without the automaton.
    #[cfg(any(test, feature = "reference"))]
    pub fn check_reference<S: AsRef<str>>(&self, argv: &[S]) -> (Verdict, Option<String>) {
        if let Some(base) = self.layer.base.as_deref() {
            let decided = base.check_reference(argv);
            let own = self.check_own_reference(argv);
            let own_allows_by_rule = own.0 == Verdict::Allow && own.1.is_some();
            return match decided {
                // An allow-list base that admits nothing: an allow rule of the
                // extension may admit it.
                (Verdict::Deny, Some(id)) if id == "airlock.not-allowed" => {
                    if own_allows_by_rule {
                        own
                    } else {
                        (Verdict::Deny, Some(id))
                    }
                }
                (Verdict::Deny, id) => (Verdict::Deny, id),
                // The base allows: the extension's denies count; its missing allow
                // rule does not, over an allow-list base.
                (Verdict::Allow, id) => match own {
                    (Verdict::Deny, Some(own_id))
                        if own_id == "airlock.not-allowed" && base.is_allow_list() =>
                    {
                        (Verdict::Allow, id)
                    }
                    (Verdict::Allow, None) => (Verdict::Allow, id),
                    other => other,
                },
            };
        }
        self.check_own_reference(argv)
    }

    /// [`Module::check_reference`] with this module's own rules only.
    #[cfg(any(test, feature = "reference"))]
    fn check_own_reference<S: AsRef<str>>(&self, argv: &[S]) -> (Verdict, Option<String>) {
        let mut deny: Option<usize> = None;
        let mut all_admitted = true;
        let mut allow: Option<usize> = None;
        let result = reading::for_each_reading(&self.syntax, argv, |reading| {
            let holds = |r: &Rule| crate::reference::rule_holds(&self.syntax, &r.atoms, &reading);
            if let Some(i) = self
                .rules
                .iter()
                .position(|r| r.action == Action::Deny && holds(r))
            {
                deny = Some(i);
                return false;
            }
            let admitted = self
                .rules
                .iter()
                .position(|r| r.action == Action::Allow && holds(r));
            all_admitted &= admitted.is_some();
            allow = allow.or(admitted);
            true
        });
        let id = |i: usize| self.rules.get(i).map(|r| r.id.clone());
        match (deny, result) {
            (Some(i), _) => (Verdict::Deny, id(i)),
            (None, Err(_)) => (Verdict::Deny, Some("airlock.unreadable".to_owned())),
            (None, Ok(())) if self.allow_list && !all_admitted => {
                (Verdict::Deny, Some("airlock.not-allowed".to_owned()))
            }
            (None, Ok(())) => (Verdict::Allow, allow.and_then(id)),
        }
    }

    fn run_examples(
        &self,
        drafts: &[Draft],
        raw: &RawModule,
        src: Source<'_>,
    ) -> Result<(), CompileError> {
        for (index, draft) in drafts.iter().enumerate() {
            for (example, expected) in draft
                .must_match
                .iter()
                .map(|e| (e, true))
                .chain(draft.not_match.iter().map(|e| (e, false)))
            {
                let argv = example_argv(example, src)?;
                if self.rule_holds(index, &argv) != expected {
                    let verb = if expected {
                        "does not match"
                    } else {
                        "matches"
                    };
                    return Err(src.error(
                        ErrorKind::Example,
                        example.span(),
                        format!(
                            "example `{}` {verb} rule `{}`; read as {}",
                            example.get_ref(),
                            draft.id,
                            self.describe_readings(&argv)
                        ),
                    ));
                }
            }
        }
        let module_examples = raw
            .examples
            .deny
            .iter()
            .map(|e| (e, Verdict::Deny))
            .chain(raw.examples.allow.iter().map(|e| (e, Verdict::Allow)));
        for (example, expected) in module_examples {
            let argv = example_argv(example, src)?;
            let decision = self.check(&argv);
            if decision.verdict() != expected {
                return Err(src.error(
                    ErrorKind::Example,
                    example.span(),
                    format!(
                        "example `{}` should be {expected} but is {}; read as {}",
                        example.get_ref(),
                        decision,
                        self.describe_readings(&argv)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn describe_readings(&self, argv: &[String]) -> String {
        match self.readings(argv) {
            Ok(readings) => readings
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(" or "),
            Err(why) => format!("nothing ({why})"),
        }
    }
}

/// A rule before compilation, from `[deny]`, `[allow]` or `[[rule]]`.
struct Draft {
    id: String,
    action: Action,
    reason: Option<String>,
    /// The condition as written, for display.
    text: String,
    /// Where the rule was written (the entry string, or the `[[rule]]` table).
    span: Range<usize>,
    /// What a decision points at: the entry string, or the `[[rule]]` table's `args`
    /// (else its `command`), the line that matched rather than the table's header.
    at: Range<usize>,
    /// The entries, with their spans in the source.
    entries: Vec<(Entry, Range<usize>)>,
    command: Option<(Vec<String>, Range<usize>)>,
    global: bool,
    fields: Vec<String>,
    ignore_case: bool,
    must_match: Vec<Spanned<String>>,
    not_match: Vec<Spanned<String>>,
}

/// Gathers every rule of the module in order, with ids, and checks that ids are unique.
fn drafts(raw: &RawModule, src: Source<'_>) -> Result<Vec<Draft>, CompileError> {
    let mut drafts = Vec::new();
    let lists = [
        (&raw.deny, Action::Deny, "deny"),
        (&raw.allow, Action::Allow, "allow"),
    ];
    for (list, action, table) in lists {
        for (i, arg) in list.iter().flat_map(|l| l.args.iter()).enumerate() {
            drafts.push(Draft {
                id: format!("{table}.args[{i}]"),
                action,
                reason: None,
                text: arg.get_ref().clone(),
                span: arg.span(),
                at: arg.span(),
                entries: entries(arg, src)?,
                command: None,
                global: false,
                fields: Vec::new(),
                ignore_case: false,
                must_match: Vec::new(),
                not_match: Vec::new(),
            });
        }
    }
    for (i, spanned) in raw.rule.iter().enumerate() {
        drafts.push(rule_draft(i, spanned, src)?);
    }
    let mut seen: BTreeMap<&str, ()> = BTreeMap::new();
    for draft in &drafts {
        if seen.insert(&draft.id, ()).is_some() {
            return Err(src.error(
                ErrorKind::Rule,
                draft.span.clone(),
                format!("rule id `{}` is used twice", draft.id),
            ));
        }
    }
    Ok(drafts)
}

fn rule_draft(
    i: usize,
    spanned: &Spanned<RawRule>,
    src: Source<'_>,
) -> Result<Draft, CompileError> {
    let rule = spanned.get_ref();
    let span = spanned.span();
    let id = match &rule.id {
        Some(id) if id.get_ref().trim().is_empty() => {
            return Err(src.error(ErrorKind::Rule, id.span(), "empty rule id"));
        }
        Some(id) => id.get_ref().clone(),
        None => format!("rule[{i}]"),
    };
    let command = match &rule.command {
        Some(c) => {
            let words: Vec<String> = split_path(c.get_ref())
                .into_iter()
                .map(str::to_owned)
                .collect();
            if words.is_empty() {
                return Err(src.error(ErrorKind::Rule, c.span(), "empty command path"));
            }
            Some((words, c.span()))
        }
        None => None,
    };
    let entries = match &rule.args {
        Some(args) => entries(args, src)?,
        None => Vec::new(),
    };
    if entries.is_empty() && command.is_none() {
        return Err(src.error(
            ErrorKind::Rule,
            span,
            "a rule needs `command`, `args` or both",
        ));
    }
    let mut text = String::new();
    if let Some((words, _)) = &command {
        text.push_str(&words.join(" "));
    }
    if let Some(args) = &rule.args {
        if !text.is_empty() {
            text.push_str(": ");
        }
        if rule.global {
            text.push_str("(global) ");
        }
        text.push_str(args.get_ref());
    }
    let at = rule
        .args
        .as_ref()
        .map(Spanned::span)
        .or_else(|| command.as_ref().map(|(_, span)| span.clone()))
        .unwrap_or_else(|| span.clone());
    Ok(Draft {
        id,
        at,
        action: match rule.action {
            RawAction::Deny => Action::Deny,
            RawAction::Allow => Action::Allow,
        },
        reason: rule.reason.clone(),
        text,
        span,
        entries,
        command,
        global: rule.global,
        fields: rule
            .fields
            .iter()
            .map(|f| f.trim().to_ascii_lowercase())
            .collect(),
        ignore_case: rule.ignore_case,
        must_match: rule.must_match.clone(),
        not_match: rule.not_match.clone(),
    })
}

/// Parses an entry expression, translating spans into the source.
fn entries(
    expr: &Spanned<String>,
    src: Source<'_>,
) -> Result<Vec<(Entry, Range<usize>)>, CompileError> {
    let base = string_body_start(src.text, expr.span());
    entry::parse(expr.get_ref())
        .map(|parsed| {
            parsed
                .into_iter()
                .map(|e| (e.entry, base + e.span.start..base + e.span.end))
                .collect()
        })
        .map_err(|(span, message)| {
            src.error(
                ErrorKind::Entry,
                base + span.start..base + span.end,
                message,
            )
        })
}

/// Where the characters of a TOML string start (after its opening quotes).
fn string_body_start(text: &str, span: Range<usize>) -> usize {
    let quoted = text.get(span.clone()).unwrap_or("");
    let quotes = quoted
        .chars()
        .take_while(|c| *c == '"' || *c == '\'')
        .count()
        .min(3);
    span.start + quotes
}

/// Generic modules (no `[syntax]`): an option written with `=GLOB` takes a value.
fn declare_implicit_values(syntax: &mut Syntax, drafts: &[Draft]) {
    for draft in drafts.iter().filter(|d| d.command.is_none()) {
        for (entry, _) in &draft.entries {
            if let Entry::Option {
                name,
                value: Some(_),
            } = entry
            {
                syntax.declare_implicit(name, Kind::Value);
            }
        }
    }
}

/// Lowers a draft into atoms, normalizing names and checking globs.
fn atoms(draft: &Draft, syntax: &Syntax, src: Source<'_>) -> Result<Vec<Atom>, CompileError> {
    let scope = if draft.global {
        ScopeFilter::Global
    } else if draft.command.is_some() {
        ScopeFilter::Command
    } else {
        ScopeFilter::Any
    };
    let pattern = |glob: &str, span: &Range<usize>, fields: Vec<String>| {
        let regex = glob_regex(glob, draft.ignore_case).map_err(|e| {
            src.error(
                ErrorKind::Glob,
                span.clone(),
                format!("invalid glob `{glob}`: {}", e.kind()),
            )
        })?;
        Ok::<_, CompileError>(ValuePattern {
            glob: glob.to_owned(),
            regex,
            ignore_case: draft.ignore_case,
            fields,
        })
    };
    let mut atoms = Vec::new();
    if let Some((words, _)) = &draft.command {
        atoms.push(Atom::Path(words.clone()));
    }
    for (entry, span) in &draft.entries {
        atoms.push(match entry {
            Entry::Option { name, value } => Atom::Option {
                name: syntax
                    .normalize_name(name)
                    .map_err(|why| src.error(ErrorKind::Entry, span.clone(), why))?,
                scope,
                value: match value {
                    Some(glob) => Some(pattern(glob, span, draft.fields.clone())?),
                    None => None,
                },
            },
            Entry::Word(word) => Atom::Word {
                pattern: pattern(word, span, Vec::new())?,
                operands_only: draft.command.is_some(),
            },
        });
    }
    Ok(atoms)
}

/// Splits an example into an argv, as a shell would (quotes, escapes; no expansion).
fn example_argv(example: &Spanned<String>, src: Source<'_>) -> Result<Vec<String>, CompileError> {
    shell_words::split(example.get_ref()).map_err(|e| {
        src.error(
            ErrorKind::Example,
            example.span(),
            format!(
                "example `{}` cannot be split into arguments: {e}",
                example.get_ref()
            ),
        )
    })
}
