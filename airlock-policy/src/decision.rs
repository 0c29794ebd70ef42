//! The result of a check: allow or deny, and why.

use std::fmt;

use crate::location::Location;
use crate::module::Module;
use crate::reading::{Reading, Unreadable};
use crate::rule::Rule;

/// Allow or deny. Ordered so that the strictest of several verdicts is their `max()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serialize",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum Verdict {
    /// The argv may run.
    Allow,
    /// The argv must not run.
    Deny,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
        })
    }
}

/// What decided.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Basis<'p> {
    /// A rule held: a deny rule (on some plausible reading) or an allow rule (on every
    /// plausible reading).
    Rule(&'p Rule),
    /// A deny-list module and no deny rule held.
    NoDenyRuleHeld,
    /// A module with allow rules and no allow rule admitted some plausible reading.
    NotAllowed,
    /// The argv cannot be read reliably.
    Unreadable(Unreadable),
    /// No module knows the command.
    UnknownCommand,
}

/// A decision: the verdict, what decided it, and the reading it was made on.
///
/// It borrows the module and the argv; [`Decision::explanation`] is the owned,
/// storable form (serializable with the `serialize` feature).
#[derive(Clone)]
pub struct Decision<'p, 'a> {
    pub(crate) verdict: Verdict,
    pub(crate) basis: Basis<'p>,
    pub(crate) reading: Option<Reading<'p, 'a>>,
    pub(crate) module: Option<&'p Module>,
}

impl<'p, 'a> Decision<'p, 'a> {
    /// Allow or deny.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// Whether the argv may run.
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    /// What decided.
    pub fn basis(&self) -> &Basis<'p> {
        &self.basis
    }

    /// The rule that decided, if a rule did.
    pub fn rule(&self) -> Option<&'p Rule> {
        match self.basis {
            Basis::Rule(rule) => Some(rule),
            _ => None,
        }
    }

    /// The module that decided, if the command has one.
    pub fn module(&self) -> Option<&'p Module> {
        self.module
    }

    /// The reading the decision was made on (for a deny, the reading that matched).
    /// Other plausible readings of the same argv may exist: a consumer that acts on the
    /// reading for security must consider every one ([`Module::readings`]).
    pub fn reading(&self) -> Option<&Reading<'p, 'a>> {
        self.reading.as_ref()
    }

    /// The reading rendered with canonical option names, e.g. `clone --upload-pack=x r`.
    pub fn reading_text(&self) -> Option<String> {
        self.reading.as_ref().map(Reading::to_string)
    }

    /// A human reason: the rule's reason, or what the engine saw.
    pub fn reason(&self) -> String {
        match &self.basis {
            Basis::Rule(rule) => rule.reason_or_default(),
            Basis::NoDenyRuleHeld => "no deny rule matches".to_owned(),
            Basis::NotAllowed => self
                .module
                .and_then(Module::not_allowed_reason)
                .map_or_else(
                    || "no allow rule admits this argv".to_owned(),
                    str::to_owned,
                ),
            Basis::Unreadable(why) => format!("cannot read the argv reliably: {why}"),
            Basis::UnknownCommand => "unknown command".to_owned(),
        }
    }

    /// An owned summary, for logs, wire replies and `explain`.
    pub fn explanation(&self) -> Explanation {
        let rule = self.rule();
        Explanation {
            verdict: self.verdict,
            rule_id: rule
                .map(|r| r.id().to_owned())
                .or_else(|| self.engine_id().map(str::to_owned)),
            reason: self.reason(),
            location: rule.map(|r| r.location().clone()),
            reading: self.reading_text(),
        }
    }

    /// The id of an engine-level decision (no rule), e.g. `airlock.not-allowed`.
    fn engine_id(&self) -> Option<&'static str> {
        match self.basis {
            Basis::Rule(_) | Basis::NoDenyRuleHeld => None,
            Basis::NotAllowed => Some("airlock.not-allowed"),
            Basis::Unreadable(_) => Some("airlock.unreadable"),
            Basis::UnknownCommand => Some("airlock.unknown-command"),
        }
    }
}

/// The verdict, the deciding rule or engine id, the reason and the reading: not the
/// compiled module (kilobytes), which is named by its program only.
impl fmt::Debug for Decision<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = self.rule();
        f.debug_struct("Decision")
            .field("verdict", &self.verdict)
            .field("rule", &rule.map(|r| r.id()).or_else(|| self.engine_id()))
            .field("location", &rule.map(|r| r.location().to_string()))
            .field("reason", &self.reason())
            .field("reading", &self.reading_text())
            .field("module", &self.module.map(Module::bin))
            .finish()
    }
}

impl fmt::Display for Decision<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.verdict, self.reason())?;
        if let Some(rule) = self.rule() {
            write!(f, " (rule `{}` at {})", rule.id(), rule.location())?;
        }
        Ok(())
    }
}

/// An owned summary of a [`Decision`], to store, log or send (with the `serialize`
/// feature it implements `serde::Serialize`: `verdict` as `"allow"`/`"deny"`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serialize", derive(serde::Serialize))]
pub struct Explanation {
    /// Allow or deny.
    pub verdict: Verdict,
    /// The deciding rule's id, an engine id such as `airlock.not-allowed`, or `None`
    /// when no rule applied to an allowed argv.
    pub rule_id: Option<String>,
    /// The human reason.
    pub reason: String,
    /// Where the deciding rule was written.
    pub location: Option<Location>,
    /// The normalized reading.
    pub reading: Option<String>,
}
