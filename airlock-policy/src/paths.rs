//! Path values: which option values and operands name files or directories on the
//! host, as a module's `[syntax]` declares them (`paths`, `operands`, `value_paths`),
//! and what a reading says about them. The engine stays pure: it reports the text the
//! tool will use as a path, whether the tool reads or writes it, where it was written,
//! and the directory changes in force; resolving them is the caller's business.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use crate::atom::named_fields;
use crate::elements::{ArgSpan, Element, Opt, Word};
use crate::reading::{OptKey, Reading};

/// What the tool does with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PathAccess {
    /// The tool reads the file or directory (`git diff --no-index A B`, `ssh -i KEY`).
    Read,
    /// The tool writes (creates, replaces, deletes) it or below it (`git log
    /// --output=FILE`, `git clone URL DIR`).
    Write,
    /// The tool changes into this directory before it uses any other path of the
    /// argv (`git -C DIR`, `terraform -chdir=DIR`): every other path of the reading is
    /// relative to it, and it works (reads and writes) below it.
    Chdir,
}

impl fmt::Display for PathAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathAccess::Read => "read",
            PathAccess::Write => "write",
            PathAccess::Chdir => "chdir",
        })
    }
}

/// Which part of a value is the path.
#[derive(Debug, Clone)]
pub(crate) enum PathForm {
    /// The whole value.
    Whole,
    /// The text before the first occurrence of the separator; a value without it names
    /// no path (docker `-v SRC:DST`).
    Before(String),
    /// The values of these `key=value` fields of a CSV record (docker `--mount`); keys
    /// lowercase.
    Fields(Vec<String>),
    /// `KEY=VALUE` or `KEY VALUE` for one of these keys (lowercase), ssh `-o` style;
    /// every blank-separated word of VALUE is a path.
    Keys(Vec<String>),
}

/// A compiled path declaration.
#[derive(Debug, Clone)]
pub(crate) struct PathSpec {
    pub access: PathAccess,
    pub form: PathForm,
    /// When not empty, a part is a path only when it starts with one of these (the
    /// first that fits is removed): `file://`; `""` admits any part.
    pub prefixes: Vec<String>,
    /// A part matching one of these globs is not a path.
    pub unless: Option<globset::GlobSet>,
}

impl PathSpec {
    /// Calls `found` with every path in `value`: its text (unquoted, prefix removed)
    /// and the byte range of `value` where it is written.
    pub(crate) fn extract<'v>(
        &self,
        value: &'v str,
        mut found: impl FnMut(Cow<'v, str>, Range<usize>),
    ) {
        let mut part = |text: Cow<'v, str>, written: Range<usize>| {
            let (text, written) = match self.strip_prefix(text, written) {
                Some(stripped) => stripped,
                None => return,
            };
            if self
                .unless
                .as_ref()
                .is_some_and(|u| u.is_match(text.as_ref()))
            {
                return;
            }
            found(text, written);
        };
        match &self.form {
            PathForm::Whole => part(Cow::Borrowed(value), 0..value.len()),
            PathForm::Before(separator) => {
                if let Some(end) = value.find(separator.as_str()) {
                    part(Cow::Borrowed(value.get(..end).unwrap_or("")), 0..end);
                }
            }
            PathForm::Fields(keys) => {
                for field in named_fields(value, keys) {
                    part(field.value, field.written);
                }
            }
            PathForm::Keys(keys) => {
                if let Some((start, words)) = key_words(value, keys) {
                    for (at, word) in words {
                        part(Cow::Borrowed(word), start + at..start + at + word.len());
                    }
                }
            }
        }
    }

    /// Removes the first declared prefix `text` starts with; `None` when prefixes are
    /// declared and none fits. Where the path is written moves along when `text` is
    /// written verbatim.
    fn strip_prefix<'v>(
        &self,
        text: Cow<'v, str>,
        written: Range<usize>,
    ) -> Option<(Cow<'v, str>, Range<usize>)> {
        if self.prefixes.is_empty() {
            return Some((text, written));
        }
        let prefix = self
            .prefixes
            .iter()
            .find(|p| text.starts_with(p.as_str()))?;
        let verbatim = written.len() == text.len();
        let written = if verbatim {
            (written.start + prefix.len()).min(written.end)..written.end
        } else {
            written
        };
        let text = match text {
            Cow::Borrowed(t) => Cow::Borrowed(t.get(prefix.len()..).unwrap_or("")),
            Cow::Owned(t) => Cow::Owned(t.get(prefix.len()..).unwrap_or("").to_owned()),
        };
        Some((text, written))
    }
}

/// ssh's option syntax: `KEY=VALUE`, `KEY VALUE`, `KEY = VALUE`, blanks around, the key
/// without case. Returns where VALUE starts in `value` and its blank-separated words
/// with their offsets in VALUE.
fn key_words<'v>(value: &'v str, keys: &[String]) -> Option<(usize, Vec<(usize, &'v str)>)> {
    let blank = |c: char| c == ' ' || c == '\t';
    let trimmed = value.trim_start_matches(blank);
    let key_start = value.len() - trimmed.len();
    let key_len = trimmed
        .find(|c: char| c == '=' || blank(c))
        .unwrap_or(trimmed.len());
    let key = trimmed.get(..key_len)?.to_ascii_lowercase();
    if !keys.contains(&key) {
        return None;
    }
    let mut rest_start = key_start + key_len;
    let rest = value.get(rest_start..)?;
    let after_blanks = rest.trim_start_matches(blank);
    rest_start += rest.len() - after_blanks.len();
    if let Some(after_eq) = after_blanks.strip_prefix('=') {
        let after = after_eq.trim_start_matches(blank);
        rest_start += 1 + after_eq.len() - after.len();
    }
    let rest = value.get(rest_start..)?;
    let mut words = Vec::new();
    let mut offset = 0;
    for piece in rest.split(blank) {
        if !piece.is_empty() {
            words.push((offset, piece));
        }
        offset += piece.len() + 1;
    }
    Some((rest_start, words))
}

/// What a path value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathSource<'m, 'a> {
    /// The value of this option.
    Option(Opt<'m, 'a>),
    /// An operand: the word, and its position among the operands (1 is the first).
    Operand {
        /// The operand.
        word: Word<'a>,
        /// Its position among the reading's operands, from 1.
        position: usize,
    },
}

/// A path in a reading: the text the tool will use as a path on the host, what it
/// does with it, where it was written, and the directory changes it is relative to.
///
/// The text is what the tool reads: for `--mount src="/a,b"` it is `/a,b`, for
/// `file://x.json` it is `x.json`. [`PathValue::span`] is where it is written in the
/// argv; it covers exactly the text unless the tool unquoted it (a quoted CSV field:
/// then the span covers the quoted text, and `span().text_in(argv)` differs from
/// `text()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathValue<'m, 'a> {
    text: Cow<'a, str>,
    access: PathAccess,
    source: PathSource<'m, 'a>,
    span: ArgSpan,
    base: Vec<usize>,
}

impl<'m, 'a> PathValue<'m, 'a> {
    /// The path as the tool will use it (relative paths are relative to the working
    /// directory after the directory changes of [`PathValue::base`]).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the tool reads, writes or changes into it.
    pub fn access(&self) -> PathAccess {
        self.access
    }

    /// The option or operand it came from.
    pub fn source(&self) -> &PathSource<'m, 'a> {
        &self.source
    }

    /// Where it is written in the argv.
    pub fn span(&self) -> ArgSpan {
        self.span
    }

    /// The directory changes in force for this path: indexes, in the list
    /// [`Reading::paths`] returned, of [`PathAccess::Chdir`] paths, outermost first. A
    /// relative path resolves as `cwd / base[0] / base[1] / ... / text`. For a path
    /// that is not itself a directory change these are all the reading's directory
    /// changes (`git --git-dir=g -C sub` uses `sub/g`); for a directory change, the
    /// ones before it (`git -C a -C b` works in `a/b`).
    pub fn base(&self) -> &[usize] {
        &self.base
    }
}

impl<'m, 'a> Reading<'m, 'a> {
    /// The paths of this reading, in argv order, as the module's `[syntax]` declares
    /// them (`paths`, `operands`, `value_paths`). Only declared paths are reported:
    /// the module must declare every option and operand its tool reads as a path.
    ///
    /// Another plausible reading of the same argv may have other paths; a caller that
    /// confines paths must look at every reading ([`Module::readings`](crate::Module::readings)).
    ///
    /// ```
    /// # use airlock_policy::{compile, PathAccess};
    /// let module = compile("git.toml", r#"
    /// [command]
    /// bin = "git"
    /// [syntax]
    /// style = "gnu"
    /// [syntax.global]
    /// values = ["-C"]
    /// paths = { "-C" = "chdir" }
    /// [syntax.commands.log]
    /// values = ["--output"]
    /// paths = { "--output" = "write" }
    /// "#)?;
    /// let argv = ["-C", "sub", "log", "--output=out.txt"];
    /// let readings = module.readings(&argv).unwrap();
    /// let paths = readings[0].paths();
    /// assert_eq!(paths.len(), 2);
    /// assert_eq!((paths[0].text(), paths[0].access()), ("sub", PathAccess::Chdir));
    /// assert_eq!((paths[1].text(), paths[1].access()), ("out.txt", PathAccess::Write));
    /// assert_eq!(paths[1].base(), [0]); // out.txt is sub/out.txt
    /// assert_eq!(paths[1].span().text_in(&argv), Some("out.txt"));
    /// # Ok::<(), airlock_policy::CompileError>(())
    /// ```
    pub fn paths(&self) -> Vec<PathValue<'m, 'a>> {
        let syntax = self.syntax;
        let operand_scope = self.scope().and_then(|node| syntax.operand_paths(node));
        let mut paths = Vec::new();
        let mut position = 0;
        for element in self.elements() {
            match element {
                Element::Option(opt) => {
                    let (Some(value), Some(span)) = (opt.value(), opt.value_span()) else {
                        continue;
                    };
                    let own = match opt.key() {
                        OptKey::Declared(id) => syntax.option(id).map_or(&[][..], |o| &o.paths),
                        OptKey::Long(_) | OptKey::Short(_) => &[],
                    };
                    let specs = if own.is_empty() {
                        &syntax.value_paths[..]
                    } else {
                        own
                    };
                    for spec in specs.iter().filter_map(|i| syntax.path_spec(*i)) {
                        push_paths(&mut paths, spec, value, span, PathSource::Option(opt));
                    }
                }
                Element::Operand(word) => {
                    position += 1;
                    let Some(spec) = operand_scope
                        .and_then(|operands| operands.spec(position))
                        .and_then(|i| syntax.path_spec(i))
                    else {
                        continue;
                    };
                    let source = PathSource::Operand { word, position };
                    push_paths(&mut paths, spec, word.text(), word.span(), source);
                }
            }
        }
        let chdirs: Vec<usize> = paths
            .iter()
            .enumerate()
            .filter(|(_, p)| p.access == PathAccess::Chdir)
            .map(|(i, _)| i)
            .collect();
        for (i, path) in paths.iter_mut().enumerate() {
            path.base = if path.access == PathAccess::Chdir {
                chdirs.iter().copied().filter(|c| *c < i).collect()
            } else {
                chdirs.clone()
            };
        }
        paths
    }
}

/// Adds the paths `spec` finds in `value` (written at `span`).
fn push_paths<'m, 'a>(
    paths: &mut Vec<PathValue<'m, 'a>>,
    spec: &PathSpec,
    value: &'a str,
    span: ArgSpan,
    source: PathSource<'m, 'a>,
) {
    let base = span.range().start;
    spec.extract(value, |text, written| {
        paths.push(PathValue {
            text,
            access: spec.access,
            source,
            span: ArgSpan::new(span.index(), base + written.start, base + written.end),
            base: Vec::new(),
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(form: PathForm, prefixes: &[&str], unless: &[&str]) -> PathSpec {
        let mut set = globset::GlobSetBuilder::new();
        for glob in unless {
            set.add(
                globset::GlobBuilder::new(glob)
                    .literal_separator(false)
                    .build()
                    .unwrap(),
            );
        }
        PathSpec {
            access: PathAccess::Read,
            form,
            prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
            unless: (!unless.is_empty()).then(|| set.build().unwrap()),
        }
    }

    fn found(spec: &PathSpec, value: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        spec.extract(value, |text, written| {
            out.push((text.into_owned(), value[written].to_owned()));
        });
        out
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn prefixes_are_required_and_removed() {
        let aws = spec(PathForm::Whole, &["file://", "fileb://"], &[]);
        assert_eq!(found(&aws, "file://a.json"), pairs(&[("a.json", "a.json")]));
        assert_eq!(
            found(&aws, "fileb:///etc/x"),
            pairs(&[("/etc/x", "/etc/x")])
        );
        assert!(found(&aws, "i-123").is_empty());
        assert!(found(&aws, "FILE://x").is_empty());
        let clone = spec(PathForm::Whole, &["file://", ""], &["*://*"]);
        assert_eq!(found(&clone, "file:///r"), pairs(&[("/r", "/r")]));
        assert_eq!(found(&clone, "../r"), pairs(&[("../r", "../r")]));
        assert!(found(&clone, "https://h/r").is_empty());
    }

    #[test]
    fn parts_before_a_separator_and_exceptions() {
        let volume = spec(PathForm::Before(":".into()), &[], &["[!/.~]*", ""]);
        assert_eq!(found(&volume, "/etc:/x:ro"), pairs(&[("/etc", "/etc")]));
        assert_eq!(found(&volume, "./d:/d"), pairs(&[("./d", "./d")]));
        assert_eq!(found(&volume, "~/k:/k"), pairs(&[("~/k", "~/k")]));
        assert!(found(&volume, "data:/d").is_empty(), "a named volume");
        assert!(
            found(&volume, "/anonymous").is_empty(),
            "a container path only"
        );
        assert!(found(&volume, ":/x").is_empty());
    }

    #[test]
    fn csv_fields_are_paths() {
        let mount = spec(
            PathForm::Fields(vec!["source".into(), "src".into()]),
            &[],
            &[],
        );
        assert_eq!(
            found(&mount, "type=bind,src=/etc,dst=/e"),
            pairs(&[("/etc", "/etc")])
        );
        assert_eq!(
            found(&mount, "type=bind,\"source=/a,b\",target=/t"),
            pairs(&[("/a,b", "\"source=/a,b\"")])
        );
        assert!(found(&mount, "type=tmpfs,dst=/t").is_empty());
    }

    #[test]
    fn ssh_style_keys_are_read_like_ssh() {
        let keys = spec(
            PathForm::Keys(vec!["identityfile".into(), "userknownhostsfile".into()]),
            &[],
            &[],
        );
        assert_eq!(
            found(&keys, "IdentityFile=~/.ssh/k"),
            pairs(&[("~/.ssh/k", "~/.ssh/k")])
        );
        assert_eq!(found(&keys, "  identityfile = /k"), pairs(&[("/k", "/k")]));
        assert_eq!(found(&keys, "IDENTITYFILE\t/k"), pairs(&[("/k", "/k")]));
        assert_eq!(
            found(&keys, "UserKnownHostsFile /a  /b"),
            pairs(&[("/a", "/a"), ("/b", "/b")])
        );
        assert!(found(&keys, "IdentitiesOnly=yes").is_empty());
        assert!(found(&keys, "ProxyCommand=/x").is_empty());
    }
}
