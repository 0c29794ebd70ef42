//! Errors in configuration text: what is wrong, the file, line and column, and the
//! line with a caret under the fault.

use std::fmt;
use std::ops::Range;

use airlock_policy::{Location, Snippet};

/// A fault in a configuration file, located in its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SourceError {
    /// What is wrong (lowercase, user input in backticks).
    pub message: String,
    /// Where.
    pub location: Location,
    /// The line, with the caret position.
    pub snippet: Snippet,
}

impl SourceError {
    /// An error at byte range `span` of `text`, which was read from `source`.
    pub fn new(source: &str, text: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            location: Location::at(source, text, span.start),
            snippet: Snippet::new(text, span),
        }
    }

    /// The error for a TOML parse or schema error from the `toml` crate.
    pub fn from_toml(source: &str, text: &str, error: &toml::de::Error) -> Self {
        Self::new(
            source,
            text,
            error.span().unwrap_or(0..0),
            error.message().trim_end().to_owned(),
        )
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        writeln!(f, "  --> {}", self.location)?;
        self.snippet.render(self.location.line, f)
    }
}
