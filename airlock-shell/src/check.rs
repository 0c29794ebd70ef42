//! Judging what the reader found: every simple command against the policy (after
//! unwrapping `env`, `timeout`, ...), every construct that cannot be known before
//! the line runs, every redirection against the root.

use std::collections::BTreeSet;
use std::ops::Range;

use airlock_policy::Policy;

use crate::decision::{Basis, CommandDecision, Construct, Outcome, ShellDecision};
use crate::options::ShellOptions;
use crate::parse::{
    self, ARITH, ARRAY, BRACE, CMDSUB, EXECUTING, GLOB, Item, PARAMOP, PROCSUB, Redirect,
    RedirectKind, Simple, UNKNOWN, Word,
};

/// Checks every simple command of a POSIX/bash command `line` against `policy`.
///
/// Never fails and never panics: a line that cannot be read (too long, nested too
/// deeply, not valid shell) is denied with [`ShellDecision::error`] saying why.
///
/// ```
/// use airlock_policy::Policy;
/// use airlock_shell::{check_line, Outcome, ShellOptions};
///
/// let policy = Policy::builder()
///     .add("git.toml", "[command]\nbin = \"git\"\n[deny]\nargs = [\"push & --force\"]\n")?
///     .build();
/// let options = ShellOptions::new().allow_commands(["cd", "ls"]);
///
/// let ok = check_line(&policy, "cd src && git status; ls -la | ls", &options);
/// assert_eq!(ok.outcome(), Outcome::Allow);
///
/// let denied = check_line(&policy, "git add . && git push --force origin main", &options);
/// assert_eq!(denied.outcome(), Outcome::Deny);
/// let part = denied.deciding().unwrap();
/// assert_eq!(part.text(), "git push --force origin main");
/// assert_eq!(part.span(), 13..41);
/// assert_eq!(part.rule_id(), Some("deny.args[0]"));
///
/// let unknown = check_line(&policy, "git $(cat cmd)", &options);
/// assert_eq!(unknown.rule_id(), Some("shell.command-substitution"));
/// # Ok::<(), airlock_policy::CompileError>(())
/// ```
pub fn check_line(policy: &Policy, line: &str, options: &ShellOptions) -> ShellDecision {
    check(policy, line, options, None)
}

/// [`check_line`], and every command name the check looked for in `policy`, whether
/// or not the policy has a module for it.
///
/// The check depends on the policy only through those names: a policy that has, for
/// each of them, the module another policy has (or has none where the other has none)
/// decides the line exactly as the other does. So a caller may compile modules as a
/// line needs them, until no name it looks for is missing
/// ([`crate::hook::policy_for_line`]).
pub fn check_line_noting(
    policy: &Policy,
    line: &str,
    options: &ShellOptions,
) -> (ShellDecision, BTreeSet<String>) {
    let mut looked_for = BTreeSet::new();
    let decision = check(policy, line, options, Some(&mut looked_for));
    (decision, looked_for)
}

/// [`check_line`], noting the names looked for in `looked_for` when given.
fn check(
    policy: &Policy,
    line: &str,
    options: &ShellOptions,
    looked_for: Option<&mut BTreeSet<String>>,
) -> ShellDecision {
    let items = match parse::parse(line, options.max_len_bytes(), options.max_nesting()) {
        Ok(items) => items,
        Err(error) => {
            return ShellDecision {
                outcome: Outcome::Deny,
                commands: Vec::new(),
                error: Some(error),
            };
        }
    };
    let mut checker = Checker {
        policy,
        options,
        line,
        cwds: options.cwd_dir().and_then(normalize).map(|cwd| vec![cwd]),
        out: Vec::new(),
        looked_for,
    };
    for item in &items {
        checker.item(item);
    }
    // Source order: a substitution's commands were read before the command around it.
    checker.out.sort_by_key(|c| c.span.start);
    let outcome = checker
        .out
        .iter()
        .map(|c| c.outcome)
        .max()
        .unwrap_or(Outcome::Allow);
    ShellDecision {
        outcome,
        commands: checker.out,
        error: None,
    }
}

/// Programs that run a string as shell code.
const EVAL: &[&str] = &["eval", "source", ".", "trap", "alias"];
/// Shells: what they run is code the checker cannot see.
const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "fish", "csh", "tcsh", "busybox",
];
/// Programs that run another program with an argv the checker cannot see (or with
/// privileges, or under control), refused even when allowed as plain commands.
const WRAPPERS: &[&str] = &[
    "sudo",
    "doas",
    "su",
    "runuser",
    "pkexec",
    "xargs",
    "parallel",
    "watch",
    "chroot",
    "unshare",
    "nsenter",
    "setsid",
    "flock",
    "ionice",
    "taskset",
    "chrt",
    "strace",
    "ltrace",
    "gdb",
    "script",
    "enable",
    "hash",
    "coproc",
    "expect",
    "ssh-agent",
    "dbus-run-session",
];
/// Builtins whose `NAME=value` arguments are assignments.
const DECLARATIONS: &[&str] = &["export", "declare", "typeset", "local", "readonly"];
/// The most wrappers unwrapped from one command.
const MAX_UNWRAP: usize = 16;

struct Checker<'c, 'n> {
    policy: &'c Policy,
    options: &'c ShellOptions,
    line: &'c str,
    /// Every directory the line may be in at this point (a `cd` may fail or be in a
    /// subshell, so the earlier ones stay); `None` when one is not known.
    cwds: Option<Vec<String>>,
    out: Vec<CommandDecision>,
    /// Where to note every command name looked for in the policy, if anywhere.
    looked_for: Option<&'n mut BTreeSet<String>>,
}

/// What unwrapping found: the index of the real command's name, the variables
/// assigned on the way, or a construct that stops the check.
enum Unwrapped {
    Command(usize, Vec<String>),
    /// `command -v NAME` and friends: nothing runs.
    Lookup,
    /// Only a wrapper, no command after it: judge the wrapper itself.
    Bare(usize),
    Refused(Construct),
}

impl Checker<'_, '_> {
    /// Whether the policy has a module for `name` (the only way the check asks).
    fn has_module(&mut self, name: &str) -> bool {
        if let Some(noted) = self.looked_for.as_deref_mut() {
            if !noted.contains(name) {
                noted.insert(name.to_owned());
            }
        }
        self.policy.module(name).is_some()
    }

    fn unknown(&self) -> Outcome {
        if self.options.asks() {
            Outcome::Ask
        } else {
            Outcome::Deny
        }
    }

    fn text(&self, span: &Range<usize>) -> String {
        self.line.get(span.clone()).unwrap_or("").to_owned()
    }

    fn construct(&mut self, construct: Construct, span: &Range<usize>, argv: Option<Vec<String>>) {
        self.out.push(CommandDecision {
            text: self.text(span),
            span: span.clone(),
            argv,
            outcome: self.unknown(),
            basis: Basis::Construct(construct),
        });
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Simple(simple) => self.simple(simple),
            Item::Word(word) => self.executing(word),
            Item::Arithmetic(span) => {
                let construct = if self.text(span).starts_with("coproc") {
                    Construct::Wrapper("coproc".to_owned())
                } else {
                    Construct::Arithmetic
                };
                self.construct(construct, span, None);
            }
            Item::Redirect(redirect) => self.redirect(redirect),
            Item::Function(name, span) => {
                // The body is judged where it is written; a call is judged by its
                // name like any command (the definition may be in a subshell, and
                // then the call runs the program of that name).
                if self.has_module(name) {
                    self.construct(Construct::FunctionShadows(name.clone()), span, None);
                }
            }
        }
    }

    /// Reports what runs or changes state when `word` is expanded.
    fn executing(&mut self, word: &Word) {
        if word.flags & EXECUTING == 0 {
            return;
        }
        let construct = if word.flags & CMDSUB != 0 {
            Construct::CommandSubstitution
        } else if word.flags & PROCSUB != 0 {
            Construct::ProcessSubstitution
        } else if word.flags & ARITH != 0 {
            Construct::Arithmetic
        } else {
            Construct::ParameterOperator
        };
        self.construct(construct, &word.span, None);
    }

    /// The construct that makes a word's value unknown.
    fn unknown_word(word: &Word) -> Construct {
        if word.flags & CMDSUB != 0 {
            Construct::CommandSubstitution
        } else if word.flags & PROCSUB != 0 {
            Construct::ProcessSubstitution
        } else if word.flags & ARITH != 0 {
            Construct::Arithmetic
        } else if word.flags & PARAMOP != 0 {
            Construct::ParameterOperator
        } else if word.flags & ARRAY != 0 {
            Construct::Assignment(word.value.trim_end_matches('=').to_owned())
        } else if word.flags & BRACE != 0 {
            Construct::BraceExpansion
        } else if word.flags & GLOB != 0 {
            Construct::Glob
        } else {
            // VAR, OPAQUE.
            Construct::Variable
        }
    }

    fn simple(&mut self, simple: &Simple) {
        for word in &simple.words {
            self.executing(word);
        }
        for assignment in &simple.assignments {
            self.executing(&assignment.value);
        }
        for redirect in &simple.redirects {
            self.redirect(redirect);
        }
        let span = &simple.span;
        for assignment in &simple.assignments {
            if assignment.value.flags & ARRAY != 0 || !self.options.is_allowed_env(&assignment.name)
            {
                self.construct(
                    Construct::Assignment(assignment.name.clone()),
                    &assignment.value.span,
                    None,
                );
            }
        }
        let Some(name) = simple.words.first() else {
            return;
        };
        if !name.is_literal() {
            let construct = Self::unknown_word(name);
            self.construct(construct, span, None);
            return;
        }
        let words = &simple.words;
        let (index, env) = match self.unwrap(words, simple) {
            Unwrapped::Command(index, env) => (index, env),
            Unwrapped::Bare(index) => (index, Vec::new()),
            Unwrapped::Lookup => {
                let argv = Self::literal_argv(words);
                self.push(span, argv, Outcome::Allow, Basis::AllowedCommand);
                return;
            }
            Unwrapped::Refused(construct) => {
                let argv = Self::literal_argv(words);
                self.construct(construct, span, argv);
                return;
            }
        };
        for var in env {
            if !self.options.is_allowed_env(&var) {
                self.construct(Construct::Assignment(var), span, None);
            }
        }
        let command = words.get(index..).unwrap_or(&[]);
        let Some(name_word) = command.first() else {
            return;
        };
        let name = name_word.value.as_str();
        if matches!(name, "cd" | "pushd" | "popd") {
            self.change_directory(command);
        }
        if self.has_module(name) {
            if let Some(word) = command.iter().find(|w| !w.is_literal()) {
                let construct = Self::unknown_word(word);
                self.construct(construct, span, None);
                return;
            }
            let argv: Vec<String> = command.iter().map(|w| w.value.clone()).collect();
            let decision = self.policy.check(name, argv.get(1..).unwrap_or(&[]));
            let outcome = Outcome::from(decision.verdict());
            let explanation = decision.explanation();
            self.push(span, Some(argv), outcome, Basis::Policy(explanation));
            return;
        }
        if self.options.is_allowed_command(name) {
            if DECLARATIONS.contains(&name) {
                // `export PATH=/x`: the same assignment as `PATH=/x`.
                for word in command.iter().skip(1) {
                    let assigned = parse::assignment_name(&word.value)
                        .or_else(|| (!word.is_literal()).then_some(""));
                    let refused =
                        assigned.filter(|var| var.is_empty() || !self.options.is_allowed_env(var));
                    if let Some(var) = refused {
                        let construct = if var.is_empty() {
                            Self::unknown_word(word)
                        } else {
                            Construct::Assignment(var.to_owned())
                        };
                        self.construct(construct, &word.span, None);
                    }
                }
            }
            let argv = Self::literal_argv(command);
            self.push(span, argv, Outcome::Allow, Basis::AllowedCommand);
            return;
        }
        let argv = Self::literal_argv(command);
        if name.contains('/') {
            self.construct(Construct::CommandPath(name.to_owned()), span, argv);
            return;
        }
        let outcome = self.unknown();
        self.push(span, argv, outcome, Basis::UnknownCommand);
    }

    fn push(
        &mut self,
        span: &Range<usize>,
        argv: Option<Vec<String>>,
        outcome: Outcome,
        basis: Basis,
    ) {
        self.out.push(CommandDecision {
            text: self.text(span),
            span: span.clone(),
            argv,
            outcome,
            basis,
        });
    }

    /// The argv when every word is literal (for the decision's record).
    fn literal_argv(words: &[Word]) -> Option<Vec<String>> {
        words
            .iter()
            .map(|w| w.is_literal().then(|| w.value.clone()))
            .collect()
    }

    /// Unwraps `env`, `timeout`, `nice`, `nohup`, `command`, `builtin`, `stdbuf`,
    /// `time`; refuses evaluators, shells and wrappers that hide their argv.
    fn unwrap(&self, words: &[Word], simple: &Simple) -> Unwrapped {
        let mut i = 0;
        let mut env = Vec::new();
        for _ in 0..MAX_UNWRAP {
            let Some(name_word) = words.get(i) else {
                return Unwrapped::Bare(i.saturating_sub(1));
            };
            if !name_word.is_literal() {
                return Unwrapped::Refused(Self::unknown_word(name_word));
            }
            let name = name_word.value.as_str();
            let arg = |k: usize| {
                words
                    .get(k)
                    .filter(|w| w.is_literal())
                    .map(|w| w.value.as_str())
            };
            let next = match name {
                "env" => {
                    let mut k = i + 1;
                    loop {
                        match arg(k) {
                            Some("-i" | "--ignore-environment" | "-" | "-0" | "--null") => k += 1,
                            Some("-u" | "--unset") => k += 2,
                            Some(a)
                                if a.starts_with("--unset=")
                                    || (a.starts_with("-u") && a.len() > 2) =>
                            {
                                k += 1;
                            }
                            Some("--") => {
                                k += 1;
                                while let Some(a) = arg(k) {
                                    match parse::assignment_name(a) {
                                        Some(var) => {
                                            env.push(var.to_owned());
                                            k += 1;
                                        }
                                        None => break,
                                    }
                                }
                                break;
                            }
                            Some(a) if a.starts_with('-') => {
                                return Unwrapped::Refused(Construct::Wrapper(format!("env {a}")));
                            }
                            Some(a) => match parse::assignment_name(a) {
                                Some(var) => {
                                    env.push(var.to_owned());
                                    k += 1;
                                }
                                None => break,
                            },
                            None => {
                                if words.get(k).is_some() {
                                    return Unwrapped::Refused(Self::unknown_word_at(words, k));
                                }
                                break;
                            }
                        }
                    }
                    k
                }
                "timeout" => {
                    let mut k = i + 1;
                    loop {
                        match arg(k) {
                            Some("--preserve-status" | "--foreground" | "-v" | "--verbose") => {
                                k += 1
                            }
                            Some("-s" | "--signal" | "-k" | "--kill-after") => k += 2,
                            Some(a)
                                if a.starts_with("--signal=") || a.starts_with("--kill-after=") =>
                            {
                                k += 1
                            }
                            Some(a)
                                if (a.starts_with("-s") || a.starts_with("-k")) && a.len() > 2 =>
                            {
                                k += 1
                            }
                            Some("--") => {
                                k += 1;
                                break;
                            }
                            Some(a) if a.starts_with('-') => {
                                return Unwrapped::Refused(Construct::Wrapper(format!(
                                    "timeout {a}"
                                )));
                            }
                            _ => break,
                        }
                    }
                    // The duration.
                    k + 1
                }
                "nice" => {
                    let mut k = i + 1;
                    loop {
                        match arg(k) {
                            Some("-n" | "--adjustment") => k += 2,
                            Some(a) if a.starts_with("--adjustment=") => k += 1,
                            Some(a) if a.starts_with("-n") && a.len() > 2 => k += 1,
                            Some(a)
                                if a.len() > 1
                                    && a.starts_with('-')
                                    && a.bytes().skip(1).all(|c| c.is_ascii_digit()) =>
                            {
                                k += 1;
                            }
                            Some("--") => {
                                k += 1;
                                break;
                            }
                            Some(a) if a.starts_with('-') => {
                                return Unwrapped::Refused(Construct::Wrapper(format!("nice {a}")));
                            }
                            _ => break,
                        }
                    }
                    k
                }
                "nohup" => match arg(i + 1) {
                    Some("--") => i + 2,
                    Some(a) if a.starts_with('-') => {
                        return Unwrapped::Refused(Construct::Wrapper(format!("nohup {a}")));
                    }
                    _ => i + 1,
                },
                "command" => {
                    let mut k = i + 1;
                    loop {
                        match arg(k) {
                            Some("-p") => k += 1,
                            Some("-v" | "-V" | "-pv" | "-pV") => return Unwrapped::Lookup,
                            Some("--") => {
                                k += 1;
                                break;
                            }
                            Some(a) if a.starts_with('-') => {
                                return Unwrapped::Refused(Construct::Wrapper(format!(
                                    "command {a}"
                                )));
                            }
                            _ => break,
                        }
                    }
                    k
                }
                "builtin" => i + 1,
                "time" => match arg(i + 1) {
                    Some("-p") => i + 2,
                    Some(a) if a.starts_with('-') => {
                        return Unwrapped::Refused(Construct::Wrapper(format!("time {a}")));
                    }
                    _ => i + 1,
                },
                "stdbuf" => {
                    let mut k = i + 1;
                    loop {
                        match arg(k) {
                            Some("-i" | "-o" | "-e") => k += 2,
                            Some(a)
                                if a.starts_with("--input=")
                                    || a.starts_with("--output=")
                                    || a.starts_with("--error=")
                                    || ((a.starts_with("-i")
                                        || a.starts_with("-o")
                                        || a.starts_with("-e"))
                                        && a.len() > 2) =>
                            {
                                k += 1;
                            }
                            Some("--") => {
                                k += 1;
                                break;
                            }
                            Some(a) if a.starts_with('-') => {
                                return Unwrapped::Refused(Construct::Wrapper(format!(
                                    "stdbuf {a}"
                                )));
                            }
                            _ => break,
                        }
                    }
                    k
                }
                "exec" => return Unwrapped::Refused(Construct::Exec),
                _ if EVAL.contains(&name) => {
                    return Unwrapped::Refused(Construct::Eval(name.to_owned()));
                }
                _ if SHELLS.contains(&name) => {
                    let fed = simple.redirects.iter().any(|r| {
                        matches!(r.kind, RedirectKind::HereDoc | RedirectKind::HereString)
                    });
                    return Unwrapped::Refused(if fed {
                        Construct::HereDocToShell(name.to_owned())
                    } else {
                        Construct::Shell(name.to_owned())
                    });
                }
                _ if WRAPPERS.contains(&name) => {
                    return Unwrapped::Refused(Construct::Wrapper(name.to_owned()));
                }
                "find" => {
                    let runs = words.iter().skip(i + 1).any(|w| {
                        matches!(w.value.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir")
                    });
                    if runs {
                        return Unwrapped::Refused(Construct::Wrapper("find -exec".to_owned()));
                    }
                    return Unwrapped::Command(i, env);
                }
                _ => return Unwrapped::Command(i, env),
            };
            if next >= words.len() {
                // A wrapper with nothing to run (`env` prints the environment).
                return Unwrapped::Bare(i);
            }
            if words
                .get(i + 1..next)
                .is_some_and(|ws| ws.iter().any(|w| !w.is_literal()))
            {
                return Unwrapped::Refused(Construct::Wrapper(name.to_owned()));
            }
            i = next;
        }
        Unwrapped::Refused(Construct::Wrapper("nested wrappers".to_owned()))
    }

    fn unknown_word_at(words: &[Word], k: usize) -> Construct {
        words.get(k).map_or(Construct::Variable, Self::unknown_word)
    }

    fn redirect(&mut self, redirect: &Redirect) {
        let target = &redirect.target;
        self.executing(target);
        match redirect.kind {
            RedirectKind::Duplicate | RedirectKind::HereDoc | RedirectKind::HereString => return,
            RedirectKind::File => {}
        }
        if target.flags & UNKNOWN != 0 {
            self.construct(
                Construct::Redirection(self.text(&target.span)),
                &redirect.span,
                None,
            );
            return;
        }
        if !self.redirect_allowed(&target.value) {
            self.construct(
                Construct::Redirection(target.value.clone()),
                &redirect.span,
                None,
            );
        } else if redirect.writes && target.value.split('/').any(|part| part == ".git") {
            // Hooks, configuration and the index's filters in a git directory run code.
            self.construct(
                Construct::GitDirectory(target.value.clone()),
                &redirect.span,
                None,
            );
        }
    }

    fn redirect_allowed(&self, target: &str) -> bool {
        const DEVICES: &[&str] = &[
            "/dev/null",
            "/dev/stdin",
            "/dev/stdout",
            "/dev/stderr",
            "/dev/fd/0",
            "/dev/fd/1",
            "/dev/fd/2",
        ];
        if DEVICES.contains(&target) {
            return true;
        }
        let Some(root) = self.options.root_dir() else {
            return false;
        };
        let Some(root) = normalize(root) else {
            return false;
        };
        let inside = |full: &str| {
            normalize(full).is_some_and(|full| {
                root == "/"
                    || full == root
                    || full
                        .strip_prefix(&root)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
        };
        if target.starts_with('/') {
            return inside(target);
        }
        match &self.cwds {
            Some(cwds) => cwds.iter().all(|cwd| inside(&format!("{cwd}/{target}"))),
            None => false,
        }
    }

    /// `cd DIR` / `pushd DIR` with a literal directory adds it to the directories the
    /// line may be in; anything else (`cd`, `cd -`, `popd`, a variable) makes the
    /// directory unknown.
    fn change_directory(&mut self, command: &[Word]) {
        const MAX_CWDS: usize = 8;
        let args: Vec<&Word> = command
            .iter()
            .skip(1)
            .filter(|w| !matches!(w.value.as_str(), "-L" | "-P" | "-e" | "--"))
            .collect();
        let dir = match (command.first().map(|w| w.value.as_str()), args.as_slice()) {
            (Some("cd" | "pushd"), [dir])
                if dir.is_literal() && !dir.value.is_empty() && !dir.value.starts_with('-') =>
            {
                dir.value.as_str()
            }
            _ => {
                self.cwds = None;
                return;
            }
        };
        let Some(cwds) = self.cwds.as_mut() else {
            return;
        };
        let new: Vec<String> = cwds
            .iter()
            .filter_map(|cwd| {
                if dir.starts_with('/') {
                    normalize(dir)
                } else {
                    normalize(&format!("{cwd}/{dir}"))
                }
            })
            .collect();
        for cwd in new {
            if !cwds.contains(&cwd) {
                cwds.push(cwd);
            }
        }
        if cwds.len() > MAX_CWDS {
            self.cwds = None;
        }
    }
}

/// A path with `.`, `..` and repeated `/` resolved lexically; `None` for a relative
/// path.
fn normalize(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    Some(format!("/{}", parts.join("/")))
}
