//! Where something was written: a source name with a line and column, and the
//! rendering of a source line with a caret under a span.

use std::fmt;
use std::ops::Range;

/// A place in a module's source text: the source name, a 1-based line and a
/// 1-based column (counted in characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serialize", derive(serde::Serialize))]
pub struct Location {
    /// The name the source was given when it was compiled (usually a file path).
    pub source: String,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Location {
    /// The location of byte offset `offset` in `text` (clamped to the text).
    pub fn at(source: &str, text: &str, offset: usize) -> Self {
        let offset = clamp_to_char_boundary(text, offset);
        let before = text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        Self {
            source: source.to_owned(),
            line,
            column,
        }
    }
}

/// The start of every line of a text, to find many locations without rescanning it.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { starts }
    }

    /// The same as [`Location::at`], in time proportional to the line's length.
    pub(crate) fn location(&self, source: &str, text: &str, offset: usize) -> Location {
        let offset = clamp_to_char_boundary(text, offset);
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let line_start = self.starts.get(line - 1).copied().unwrap_or(0);
        let column = text
            .get(line_start..offset)
            .map_or(0, |s| s.chars().count())
            + 1;
        Location {
            source: source.to_owned(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.source, self.line, self.column)
    }
}

/// A span of source text, rendered as the source line with a caret under the span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The whole source line the span starts on, without its newline.
    pub line_text: String,
    /// 0-based character column where the caret starts.
    pub start: usize,
    /// Number of carets (at least one).
    pub width: usize,
}

impl Snippet {
    /// The snippet for byte range `span` of `text` (clamped to the text).
    pub fn new(text: &str, span: Range<usize>) -> Self {
        let start = clamp_to_char_boundary(text, span.start);
        let end = clamp_to_char_boundary(text, span.end.max(start));
        let line_start = text
            .get(..start)
            .and_then(|s| s.rfind('\n'))
            .map_or(0, |i| i + 1);
        let line_end = text
            .get(start..)
            .and_then(|s| s.find('\n'))
            .map_or(text.len(), |i| start + i);
        let line_text = text
            .get(line_start..line_end)
            .unwrap_or("")
            .trim_end_matches('\r');
        let caret_start = text.get(line_start..start).map_or(0, |s| s.chars().count());
        let caret_end = text
            .get(start..end.min(line_end))
            .map_or(0, |s| s.chars().count());
        Self {
            line_text: line_text.to_owned(),
            start: caret_start,
            width: caret_end.max(1),
        }
    }

    /// Writes the snippet as `  N | text` and a caret line, in the style of rustc.
    pub fn render(&self, line_number: usize, f: &mut impl fmt::Write) -> fmt::Result {
        let gutter = line_number.to_string();
        let pad = " ".repeat(gutter.len());
        writeln!(f, "{pad} |")?;
        writeln!(f, "{gutter} | {}", self.line_text)?;
        write!(
            f,
            "{pad} | {}{}",
            " ".repeat(self.start),
            "^".repeat(self.width)
        )
    }
}

fn clamp_to_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        let loc = Location::at("m.toml", text, text.find('"').unwrap());
        assert_eq!((loc.line, loc.column), (2, 6));
        assert_eq!(loc.to_string(), "m.toml:2:6");
    }

    #[test]
    fn line_index_agrees_with_a_scan() {
        let text = "a\n\nbé = 1\r\nlast";
        let index = LineIndex::new(text);
        for offset in 0..=text.len() + 2 {
            assert_eq!(
                index.location("s", text, offset),
                Location::at("s", text, offset),
                "{offset}"
            );
        }
    }

    #[test]
    fn snippet_puts_caret_under_span() {
        let text = "[command]\nbin = 42\n";
        let start = text.find("42").unwrap();
        let snip = Snippet::new(text, start..start + 2);
        let mut out = String::new();
        snip.render(2, &mut out).unwrap();
        assert_eq!(out, "  |\n2 | bin = 42\n  |       ^^");
    }

    #[test]
    fn out_of_range_spans_do_not_panic() {
        let snip = Snippet::new("é", 1..99);
        assert_eq!(snip.width, 1);
        let loc = Location::at("x", "é", 1);
        assert_eq!(loc.column, 1);
    }
}
