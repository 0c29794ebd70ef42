//! Compile errors: what is wrong, where it was written, and the source line with a
//! caret under the fault.

use std::fmt;
use std::ops::Range;

use crate::location::{Location, Snippet};

/// What kind of fault a [`CompileError`] reports; callers may branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not valid TOML, has an unknown key, or a value of the wrong type.
    Toml,
    /// A `[syntax]` declaration is inconsistent (for example one name declared twice).
    Syntax,
    /// A rule entry (`-x`, `--long=GLOB`, `word`, `A & B`) cannot be read.
    Entry,
    /// A glob in a rule is invalid.
    Glob,
    /// A rule is malformed in some other way (no condition, duplicate id, ...).
    Rule,
    /// An inline example did not hold: the module does not do what it says.
    Example,
    /// The compiled matcher would exceed its size limit.
    TooLarge,
    /// A module that extends another names it wrongly or would weaken it (redeclares
    /// its syntax, overrides its environment, loosens its `[exec]`).
    Extends,
    /// A second module for a command that already has one.
    Duplicate,
}

/// A module could not be compiled. It names the source, line and column, and renders
/// the offending line with a caret under the fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CompileError {
    kind: ErrorKind,
    message: String,
    location: Location,
    snippet: Snippet,
}

impl CompileError {
    /// An error of `kind` at byte range `span` of `text`.
    pub(crate) fn new(
        kind: ErrorKind,
        message: impl Into<String>,
        source: &str,
        text: &str,
        span: Range<usize>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            location: Location::at(source, text, span.start),
            snippet: Snippet::new(text, span),
        }
    }

    /// An error of `kind` at a location found earlier (a compiled module's).
    pub(crate) fn at(
        kind: ErrorKind,
        message: impl Into<String>,
        location: Location,
        snippet: Snippet,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            location,
            snippet,
        }
    }

    /// What kind of fault this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without location (lowercase, user input in backticks).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where the fault was written.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The offending source line and the caret position.
    pub fn snippet(&self) -> &Snippet {
        &self.snippet
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        writeln!(f, "  --> {}", self.location)?;
        self.snippet.render(self.location.line, f)
    }
}

/// Collects the source name and text so that errors can be built from spans.
#[derive(Clone, Copy)]
pub(crate) struct Source<'s> {
    pub name: &'s str,
    pub text: &'s str,
}

impl Source<'_> {
    pub(crate) fn error(
        &self,
        kind: ErrorKind,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> CompileError {
        CompileError::new(kind, message, self.name, self.text, span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_and_caret() {
        let text = "[command]\nbinn = \"git\"\n";
        let err = CompileError::new(
            ErrorKind::Toml,
            "unknown field `binn`",
            "git.toml",
            text,
            10..14,
        );
        assert_eq!(
            err.to_string(),
            "error: unknown field `binn`\n  --> git.toml:2:1\n  |\n2 | binn = \"git\"\n  | ^^^^"
        );
        assert_eq!(err.kind(), ErrorKind::Toml);
    }
}
