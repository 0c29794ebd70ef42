//! Rule entries, the small language of the original module format: `-x` and `--long`
//! (that option is present), `-x=GLOB` (with a value matching the glob), a bare word
//! (that positional word; a glob is allowed), and `A & B` (all of them, any order).

use std::ops::Range;

/// One part of an entry expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// An option, as written (not yet normalized), with an optional value glob.
    Option { name: String, value: Option<String> },
    /// A positional word or glob.
    Word(String),
}

/// An entry with the byte range it occupies inside the expression string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpannedEntry {
    pub entry: Entry,
    pub span: Range<usize>,
}

/// Splits `expr` on `&` and reads each part. Errors carry the span of the bad part
/// (relative to `expr`).
pub(crate) fn parse(expr: &str) -> Result<Vec<SpannedEntry>, (Range<usize>, String)> {
    let mut entries = Vec::new();
    let mut start = 0;
    for part in expr.split('&') {
        let end = start + part.len();
        let trimmed_start = start + (part.len() - part.trim_start().len());
        let text = part.trim();
        let span = trimmed_start..trimmed_start + text.len();
        start = end + 1;
        if text.is_empty() {
            return Err((
                span.start..span.start.max(end).max(span.start + 1),
                "empty entry: write `-x`, `--long`, `-x=GLOB`, a word, or join them with `&`"
                    .to_owned(),
            ));
        }
        let entry = if text.len() > 1 && text.starts_with('-') {
            match text.split_once('=') {
                Some((name, value)) => Entry::Option {
                    name: name.to_owned(),
                    value: Some(value.to_owned()),
                },
                None => Entry::Option {
                    name: text.to_owned(),
                    value: None,
                },
            }
        } else {
            Entry::Word(text.to_owned())
        };
        entries.push(SpannedEntry { entry, span });
    }
    Ok(entries)
}

/// Whether `pattern` has glob syntax (otherwise it is compared literally).
pub(crate) fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', ']', '{', '}', '\\'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(expr: &str) -> Vec<Entry> {
        parse(expr).unwrap().into_iter().map(|e| e.entry).collect()
    }

    #[test]
    fn reads_every_entry_form() {
        assert_eq!(
            entries("apply & -auto-approve"),
            vec![
                Entry::Word("apply".into()),
                Entry::Option {
                    name: "-auto-approve".into(),
                    value: None
                }
            ]
        );
        assert_eq!(
            entries("-v=/*:*"),
            vec![Entry::Option {
                name: "-v".into(),
                value: Some("/*:*".into())
            }]
        );
        assert_eq!(
            entries("--template="),
            vec![Entry::Option {
                name: "--template".into(),
                value: Some(String::new())
            }]
        );
        assert_eq!(entries("-"), vec![Entry::Word("-".into())]);
    }

    #[test]
    fn spans_point_at_the_part() {
        let parsed = parse("a &  --b").unwrap();
        assert_eq!(parsed[1].span, 5..8);
        let (span, msg) = parse("a & & b").unwrap_err();
        assert_eq!(span.start, 4);
        assert!(msg.contains("empty entry"));
        // A value or a word may contain blanks: an argument can.
        assert_eq!(
            entries("-m=*fix the* & my file"),
            vec![
                Entry::Option {
                    name: "-m".into(),
                    value: Some("*fix the*".into())
                },
                Entry::Word("my file".into())
            ]
        );
    }
}
