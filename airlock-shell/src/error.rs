//! Why a line could not be read.

use std::ops::Range;

/// What kind of reading failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Longer than [`ShellOptions::max_len`](crate::ShellOptions::max_len).
    TooLong,
    /// Nested deeper than [`ShellOptions::max_depth`](crate::ShellOptions::max_depth).
    TooDeep,
    /// Not a line bash would run (an unterminated quote, a stray `)`, ...).
    Syntax,
}

/// A line that could not be read. Checking turns it into a deny.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at byte {}", span.start)]
pub struct ParseError {
    pub(crate) kind: ParseErrorKind,
    pub(crate) message: String,
    pub(crate) span: Range<usize>,
}

impl ParseError {
    pub(crate) fn new(
        kind: ParseErrorKind,
        message: impl Into<String>,
        span: Range<usize>,
    ) -> Self {
        ParseError {
            kind,
            message: message.into(),
            span,
        }
    }

    /// What failed.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// The message, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where, as a byte range of the line.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// The stable id: `shell.too-long`, `shell.too-deep` or `shell.syntax`.
    pub fn id(&self) -> &'static str {
        match self.kind {
            ParseErrorKind::TooLong => "shell.too-long",
            ParseErrorKind::TooDeep => "shell.too-deep",
            ParseErrorKind::Syntax => "shell.syntax",
        }
    }
}
