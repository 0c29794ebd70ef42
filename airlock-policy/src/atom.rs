//! Atoms: the smallest conditions a rule is made of, in a form both the automaton
//! and the reference interpreter read. A rule holds when all its atoms hold.

use std::borrow::Cow;
use std::ops::Range;

/// Which options an option atom looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ScopeFilter {
    /// Options anywhere.
    Any,
    /// Global options only (`global = true`).
    Global,
    /// The subcommand's own options (the rule names a `command`).
    Command,
}

impl ScopeFilter {
    /// Whether a token read in the global scope (or not) passes.
    pub(crate) fn admits(self, global: bool) -> bool {
        match self {
            ScopeFilter::Any => true,
            ScopeFilter::Global => global,
            ScopeFilter::Command => !global,
        }
    }
}

/// A value condition: a glob, optionally applied to named fields of a comma-separated
/// `key=value` list (docker `--mount`), optionally ignoring case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ValuePattern {
    pub glob: String,
    /// The glob lowered to a regex (see `globs::glob_regex`), computed once.
    pub regex: String,
    pub ignore_case: bool,
    /// Lowercase field names; empty means the whole value.
    pub fields: Vec<String>,
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Atom {
    /// An option answering to `name` (normalized), in the scopes of `scope`, with a
    /// value matching `value` when given.
    Option {
        name: String,
        scope: ScopeFilter,
        value: Option<ValuePattern>,
    },
    /// A positional word matching the pattern; unless `operands_only`, a word of the
    /// subcommand path also counts (rules with a `command` look only at operands).
    Word {
        pattern: ValuePattern,
        operands_only: bool,
    },
    /// The subcommand path starts with these words.
    Path(Vec<String>),
}

/// The values of the fields named in `fields` in a comma-separated `key=value` list,
/// read as docker reads `--mount` (CSV: fields may be double-quoted, `""` is a quote;
/// keys compare without case and surrounding blanks).
pub(crate) fn field_values<'v>(
    value: &'v str,
    fields: &'v [String],
) -> impl Iterator<Item = Cow<'v, str>> + 'v {
    keyed_fields(value, fields).map(|(_, value)| value)
}

/// A `key=value` field of a CSV record whose key was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NamedField<'v> {
    /// The field's value, unquoted.
    pub value: Cow<'v, str>,
    /// Where the value is written in the record: exactly `value` when the field has
    /// no quotes before its value; otherwise the whole field as written.
    pub written: Range<usize>,
}

/// The fields named in `fields` (lowercase) of a CSV record of `key=value` fields,
/// with where their values are written: the same reader as [`field_values`].
pub(crate) fn named_fields<'v>(
    record: &'v str,
    fields: &[String],
) -> impl Iterator<Item = NamedField<'v>> {
    keyed_fields(record, fields).map(move |(written, value)| {
        let raw = record.get(written.clone()).unwrap_or("");
        let written = match (raw.find('='), raw.find('"')) {
            (Some(eq), None) => written.start + eq + 1..written.end,
            (Some(eq), Some(quote)) if eq < quote => written.start + eq + 1..written.end,
            _ => written,
        };
        NamedField { value, written }
    })
}

/// The fields named in `fields` of a CSV record: each field's range in the record and
/// its value (after the first `=`, unquoted).
fn keyed_fields<'v>(
    record: &'v str,
    fields: &[String],
) -> impl Iterator<Item = (Range<usize>, Cow<'v, str>)> {
    csv_fields(record).filter_map(move |(written, field)| {
        let (key, value) = match field {
            Cow::Borrowed(f) => {
                let (k, v) = f.split_once('=')?;
                (k.trim().to_ascii_lowercase(), Cow::Borrowed(v))
            }
            Cow::Owned(f) => {
                let (k, v) = f.split_once('=')?;
                (k.trim().to_ascii_lowercase(), Cow::Owned(v.to_owned()))
            }
        };
        fields.contains(&key).then_some((written, value))
    })
}

/// Splits a CSV record into fields, unquoting quoted ones; each with where it is
/// written in the record.
fn csv_fields(record: &str) -> impl Iterator<Item = (Range<usize>, Cow<'_, str>)> + '_ {
    let mut start = Some(0);
    std::iter::from_fn(move || {
        let at = start?;
        let text = record.get(at..)?;
        if !text.contains('"') {
            return match text.split_once(',') {
                Some((field, _)) => {
                    start = Some(at + field.len() + 1);
                    Some((at..at + field.len(), Cow::Borrowed(field)))
                }
                None => {
                    start = None;
                    Some((at..record.len(), Cow::Borrowed(text)))
                }
            };
        }
        let mut field = String::new();
        let mut in_quotes = false;
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' if in_quotes && chars.peek().map(|(_, n)| *n) == Some('"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => in_quotes = !in_quotes,
                ',' if !in_quotes => {
                    start = Some(at + i + 1);
                    return Some((at..at + i, Cow::Owned(field)));
                }
                _ => field.push(c),
            }
        }
        start = None;
        Some((at..record.len(), Cow::Owned(field)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(value: &str, names: &[&str]) -> Vec<String> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        field_values(value, &names)
            .map(|c| c.into_owned())
            .collect()
    }

    #[test]
    fn reads_mount_fields_like_docker() {
        assert_eq!(
            fields("type=bind,source=/,target=/host", &["source", "src"]),
            vec!["/"]
        );
        assert_eq!(
            fields("type=bind, SRC =/etc,dst=/x", &["source", "src"]),
            vec!["/etc"]
        );
        assert_eq!(
            fields("\"source=/var/run/docker.sock\",target=/s", &["source"]),
            vec!["/var/run/docker.sock"]
        );
        assert_eq!(
            fields("type=bind,\"src=/a,b\",readonly", &["src"]),
            vec!["/a,b"]
        );
        assert_eq!(fields("a=\"x\"\"y\"", &["a"]), vec!["x\"y"]);
        assert!(fields("readonly", &["source"]).is_empty());
    }

    #[test]
    fn named_fields_say_where_their_values_are_written() {
        let names = vec!["src".to_owned(), "source".to_owned()];
        let record = "type=bind,src=/a,\"source=/b,c\",SRC =\"/d\"\"e\",x=1";
        let found: Vec<(String, &str)> = named_fields(record, &names)
            .map(|f| (f.value.into_owned(), &record[f.written]))
            .collect();
        assert_eq!(
            found,
            [
                ("/a".to_owned(), "/a"),
                ("/b,c".to_owned(), "\"source=/b,c\""),
                ("/d\"e".to_owned(), "\"/d\"\"e\""),
            ]
        );
    }

    #[test]
    fn scope_filters() {
        assert!(ScopeFilter::Any.admits(true) && ScopeFilter::Any.admits(false));
        assert!(ScopeFilter::Global.admits(true) && !ScopeFilter::Global.admits(false));
        assert!(!ScopeFilter::Command.admits(true) && ScopeFilter::Command.admits(false));
    }
}
