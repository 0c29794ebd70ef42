//! Atoms: the smallest conditions a rule is made of, in a form both the automaton
//! and the reference interpreter read. A rule holds when all its atoms hold.

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
) -> impl Iterator<Item = std::borrow::Cow<'v, str>> + 'v {
    csv_fields(value).filter_map(move |field| {
        let (key, val) = match &field {
            std::borrow::Cow::Borrowed(f) => {
                let (k, v) = f.split_once('=')?;
                (k.trim().to_ascii_lowercase(), std::borrow::Cow::Borrowed(v))
            }
            std::borrow::Cow::Owned(f) => {
                let (k, v) = f.split_once('=')?;
                (
                    k.trim().to_ascii_lowercase(),
                    std::borrow::Cow::Owned(v.to_owned()),
                )
            }
        };
        fields.contains(&key).then_some(val)
    })
}

/// Splits a CSV record into fields, unquoting quoted ones.
fn csv_fields(record: &str) -> impl Iterator<Item = std::borrow::Cow<'_, str>> + '_ {
    let mut rest = Some(record);
    std::iter::from_fn(move || {
        let text = rest?;
        if !text.contains('"') {
            return match text.split_once(',') {
                Some((field, tail)) => {
                    rest = Some(tail);
                    Some(std::borrow::Cow::Borrowed(field))
                }
                None => {
                    rest = None;
                    Some(std::borrow::Cow::Borrowed(text))
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
                    rest = text.get(i + 1..);
                    return Some(std::borrow::Cow::Owned(field));
                }
                _ => field.push(c),
            }
        }
        rest = None;
        Some(std::borrow::Cow::Owned(field))
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
    fn scope_filters() {
        assert!(ScopeFilter::Any.admits(true) && ScopeFilter::Any.admits(false));
        assert!(ScopeFilter::Global.admits(true) && !ScopeFilter::Global.admits(false));
        assert!(!ScopeFilter::Command.admits(true) && ScopeFilter::Command.admits(false));
    }
}
