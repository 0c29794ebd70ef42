//! A compiled rule as callers see it: its id, what it does, why, and where it was
//! written.

use std::fmt;

use crate::atom::Atom;
use crate::location::{Location, Snippet};

/// What a rule does when it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Admits the argv (in a module with allow rules, an argv must be admitted).
    Allow,
    /// Refuses the argv. Deny always wins over allow.
    Deny,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        })
    }
}

/// One rule of a module.
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) id: String,
    pub(crate) action: Action,
    pub(crate) reason: Option<String>,
    pub(crate) text: String,
    pub(crate) location: Location,
    pub(crate) snippet: Snippet,
    #[cfg_attr(
        not(any(test, feature = "reference")),
        expect(dead_code, reason = "read by the reference interpreter")
    )]
    pub(crate) atoms: Vec<Atom>,
}

impl Rule {
    /// The rule's id: as written (`id = "..."`), or generated from where it stands
    /// (`deny.args[2]`, `rule[4]`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the rule allows or denies.
    pub fn action(&self) -> Action {
        self.action
    }

    /// The reason written for the rule, if any.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// The condition as written, e.g. `clone: --upload-pack` or `apply & -auto-approve`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Where the rule was written.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The source line of the rule, with the caret position.
    pub fn snippet(&self) -> &Snippet {
        &self.snippet
    }

    /// A reason to show: the written one, or one made from the condition.
    pub fn reason_or_default(&self) -> String {
        match &self.reason {
            Some(reason) => reason.clone(),
            None => format!("matches `{}`", self.text),
        }
    }
}
