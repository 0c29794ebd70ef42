//! The result of checking a line: one outcome for the line, and one judgement for
//! every simple command and every construct in it.

use std::fmt;
use std::ops::Range;

use airlock_policy::{Explanation, Location, Verdict};

use crate::error::ParseError;

/// Allow, ask a person, or deny. Ordered so that the strictest of several outcomes is
/// their `max()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Everything in the line may run.
    Allow,
    /// Something in the line cannot be judged before it runs; a person should decide
    /// (only when [`ShellOptions::ask`](crate::ShellOptions::ask) is set).
    Ask,
    /// Something in the line must not run.
    Deny,
}

impl Outcome {
    /// `"allow"`, `"ask"` or `"deny"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Ask => "ask",
            Outcome::Deny => "deny",
        }
    }
}

impl From<Verdict> for Outcome {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Allow => Outcome::Allow,
            Verdict::Deny => Outcome::Deny,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A shell construct whose effect cannot be known before the line runs, or that runs
/// a program the checker cannot see. Each has a stable id (`shell.…`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Construct {
    /// `$(...)` or `` `...` ``.
    CommandSubstitution,
    /// `<(...)` or `>(...)`.
    ProcessSubstitution,
    /// `$((...))`, `$[...]`, `((...))`, `for ((...))`.
    Arithmetic,
    /// `$NAME`, `${NAME}`, `~` where the value decides (the command name, a checked
    /// command's arguments, a redirection target).
    Variable,
    /// `${NAME...}` with an operator (`:-`, `:=`, `#`, `/`, `[...]`, ...): it can
    /// assign or evaluate arithmetic.
    ParameterOperator,
    /// `*`, `?`, `[...]` or an extended glob where the expansion decides.
    Glob,
    /// `{a,b}` or `{1..3}`: one word becomes several.
    BraceExpansion,
    /// `NAME=value` (before a command, through `env`, or alone) for a name not allowed
    /// by [`ShellOptions::allow_env`](crate::ShellOptions::allow_env).
    Assignment(String),
    /// `eval`, `source`, `.`, `trap`, `alias`: a string run as shell code.
    Eval(String),
    /// `exec`: replaces the shell.
    Exec,
    /// A program that runs another program the checker cannot see (`sudo`, `xargs`,
    /// `find -exec`, `watch`, a wrapper with options it does not know).
    Wrapper(String),
    /// A shell or `-c` string (`sh`, `bash -c`, `zsh`): code the checker cannot see.
    Shell(String),
    /// A here-document or here-string feeding a shell.
    HereDocToShell(String),
    /// A redirection to a file outside the root, or whose target is not known.
    Redirection(String),
    /// A redirection that writes into a `.git` directory: its hooks and configuration
    /// run code.
    GitDirectory(String),
    /// A command named by a path (`./x`, `/usr/bin/git`).
    CommandPath(String),
    /// A function definition's name shadows a command with a module.
    FunctionShadows(String),
}

impl Construct {
    /// The stable id, e.g. `shell.command-substitution`.
    pub fn id(&self) -> &'static str {
        match self {
            Construct::CommandSubstitution => "shell.command-substitution",
            Construct::ProcessSubstitution => "shell.process-substitution",
            Construct::Arithmetic => "shell.arithmetic",
            Construct::Variable => "shell.variable",
            Construct::ParameterOperator => "shell.parameter-operator",
            Construct::Glob => "shell.glob",
            Construct::BraceExpansion => "shell.brace-expansion",
            Construct::Assignment(_) => "shell.assignment",
            Construct::Eval(_) => "shell.eval",
            Construct::Exec => "shell.exec",
            Construct::Wrapper(_) => "shell.wrapper",
            Construct::Shell(_) => "shell.shell",
            Construct::HereDocToShell(_) => "shell.heredoc-to-shell",
            Construct::Redirection(_) => "shell.redirection",
            Construct::GitDirectory(_) => "shell.git-directory",
            Construct::CommandPath(_) => "shell.command-path",
            Construct::FunctionShadows(_) => "shell.function-shadows",
        }
    }

    /// A human reason naming the construct.
    pub fn reason(&self) -> String {
        match self {
            Construct::CommandSubstitution => {
                "command substitution runs a command whose output cannot be known before the line runs".to_owned()
            }
            Construct::ProcessSubstitution => {
                "process substitution runs a command the checker does not judge".to_owned()
            }
            Construct::Arithmetic => {
                "arithmetic expansion is evaluated when the line runs".to_owned()
            }
            Construct::Variable => {
                "a variable or `~` decides this word, and its value is not known before the line runs".to_owned()
            }
            Construct::ParameterOperator => {
                "a parameter expansion with an operator can assign or evaluate when the line runs".to_owned()
            }
            Construct::Glob => {
                "a glob decides this word, and what it matches is not known before the line runs".to_owned()
            }
            Construct::BraceExpansion => {
                "brace expansion turns one word into several".to_owned()
            }
            Construct::Assignment(name) => format!(
                "assigning `{name}` changes the environment of what runs (allow it with an allowed variable name)"
            ),
            Construct::Eval(name) => format!("`{name}` runs a string as shell code"),
            Construct::Exec => "`exec` replaces the shell".to_owned(),
            Construct::Wrapper(what) => {
                format!("`{what}` runs a program the checker cannot see")
            }
            Construct::Shell(name) => {
                format!("`{name}` runs shell code the checker cannot see")
            }
            Construct::HereDocToShell(name) => {
                format!("a here-document or here-string feeds code to `{name}`")
            }
            Construct::Redirection(target) => format!(
                "the redirection to `{target}` is outside the root or not known before the line runs"
            ),
            Construct::GitDirectory(target) => format!(
                "the redirection writes `{target}` in a git directory, whose hooks and configuration run code"
            ),
            Construct::CommandPath(path) => format!(
                "`{path}` names a program by its path; only commands named by their name are judged"
            ),
            Construct::FunctionShadows(name) => format!(
                "a function named `{name}` stands in for the command its module judges"
            ),
        }
    }
}

impl fmt::Display for Construct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason())
    }
}

/// What decided one part of the line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Basis {
    /// The command's policy module decided: its rule id, reason, location and reading.
    Policy(Explanation),
    /// A plain command the options allow.
    AllowedCommand,
    /// No module knows the command and the options do not allow it.
    UnknownCommand,
    /// A construct that cannot be judged before the line runs.
    Construct(Construct),
}

/// The judgement of one part of the line: a simple command (after unwrapping `env`,
/// `timeout`, ...) or a construct found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandDecision {
    pub(crate) text: String,
    pub(crate) span: Range<usize>,
    pub(crate) argv: Option<Vec<String>>,
    pub(crate) outcome: Outcome,
    pub(crate) basis: Basis,
}

impl CommandDecision {
    /// The source text of the simple command (or of the construct), as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Its byte range in the line.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// The argv after quote removal, program name first, when it is known statically
    /// (after unwrapping wrappers such as `env` and `timeout`).
    pub fn argv(&self) -> Option<&[String]> {
        self.argv.as_deref()
    }

    /// Allow, ask or deny.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// What decided.
    pub fn basis(&self) -> &Basis {
        &self.basis
    }

    /// The deciding rule's id (`git.config-injection`, `airlock.unknown-command`,
    /// `shell.command-substitution`, `shell.allowed-command`, ...), when there is one.
    pub fn rule_id(&self) -> Option<&str> {
        match &self.basis {
            Basis::Policy(explanation) => explanation.rule_id.as_deref(),
            Basis::AllowedCommand => Some("shell.allowed-command"),
            Basis::UnknownCommand => Some("airlock.unknown-command"),
            Basis::Construct(construct) => Some(construct.id()),
        }
    }

    /// A human reason.
    pub fn reason(&self) -> String {
        match &self.basis {
            Basis::Policy(explanation) => explanation.reason.clone(),
            Basis::AllowedCommand => "an allowed plain command".to_owned(),
            Basis::UnknownCommand => match self.argv.as_ref().and_then(|a| a.first()) {
                Some(name) => format!(
                    "unknown command `{name}`: no policy module judges it and it is not an allowed command"
                ),
                None => "unknown command".to_owned(),
            },
            Basis::Construct(construct) => construct.reason(),
        }
    }

    /// Where the deciding rule was written, when a module's rule decided.
    pub fn location(&self) -> Option<&Location> {
        match &self.basis {
            Basis::Policy(explanation) => explanation.location.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for CommandDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: `{}`: {}", self.outcome, self.text, self.reason())?;
        if let Some(id) = self.rule_id() {
            write!(f, " ({id}")?;
            if let Some(location) = self.location() {
                write!(f, " at {location}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// The decision on a whole line: the strictest outcome of its parts, every part's
/// judgement in source order, or the reason the line could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellDecision {
    pub(crate) outcome: Outcome,
    pub(crate) commands: Vec<CommandDecision>,
    pub(crate) error: Option<ParseError>,
}

impl ShellDecision {
    /// Allow, ask or deny: the strictest of the parts (deny when the line could not
    /// be read; allow for a line with no command).
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Whether the whole line may run.
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }

    /// Every part judged, in source order.
    pub fn commands(&self) -> &[CommandDecision] {
        &self.commands
    }

    /// The first part whose outcome is the line's (none for an allowed line or an
    /// unreadable one).
    pub fn deciding(&self) -> Option<&CommandDecision> {
        if self.outcome == Outcome::Allow {
            return None;
        }
        self.commands.iter().find(|c| c.outcome == self.outcome)
    }

    /// Why the line could not be read (too long, too deep, a syntax error).
    pub fn error(&self) -> Option<&ParseError> {
        self.error.as_ref()
    }

    /// The deciding rule's id (`shell.syntax` and friends for an unreadable line).
    pub fn rule_id(&self) -> Option<&str> {
        match &self.error {
            Some(error) => Some(error.id()),
            None => self.deciding().and_then(CommandDecision::rule_id),
        }
    }

    /// A human reason for the outcome, naming the command or construct that decided.
    pub fn reason(&self) -> String {
        if let Some(error) = &self.error {
            return format!("cannot read the command line: {error}");
        }
        match self.deciding() {
            Some(part) => format!("`{}`: {}", part.text, part.reason()),
            None if self.commands.is_empty() => "no command".to_owned(),
            None => "every command is allowed".to_owned(),
        }
    }
}

impl fmt::Display for ShellDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.outcome, self.reason())?;
        if let Some(id) = self.rule_id() {
            write!(f, " ({id})")?;
        }
        Ok(())
    }
}
