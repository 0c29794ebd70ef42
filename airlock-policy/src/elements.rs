//! The parts of a [`Reading`](crate::Reading) as callers see them: options with their
//! canonical names and values, operands and subcommand words, each with where it was
//! written in the argv ([`ArgSpan`]), so that a caller can act on (or rewrite) exactly
//! the text the tool will read.

use std::fmt;
use std::ops::Range;

use crate::reading::{OptKey, Value, short_name};
use crate::syntax::{Style, Syntax};

/// Where a piece of a reading was written: bytes `range()` of argument `index()` of
/// the argv (the arguments after the program name, as given to the check).
///
/// ```
/// # use airlock_policy::compile;
/// let module = compile("git.toml", "[command]\nbin = \"git\"\n[syntax]\nstyle = \"gnu\"\n[syntax.global]\nvalues = [\"-C\"]\n")?;
/// let argv = ["-Csub", "status"];
/// let readings = module.readings(&argv).unwrap();
/// let chdir = readings[0].options().next().unwrap();
/// let span = chdir.value_span().unwrap();
/// assert_eq!((span.index(), span.range()), (0, 2..5));
/// assert_eq!(span.text_in(&argv), Some("sub"));
/// # Ok::<(), airlock_policy::CompileError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArgSpan {
    index: usize,
    start: usize,
    end: usize,
}

impl ArgSpan {
    pub(crate) fn new(index: usize, start: usize, end: usize) -> Self {
        Self { index, start, end }
    }

    /// The index of the argument in the argv (0 is the first argument after the
    /// program name).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The byte range inside that argument. (Offsets are kept in 32 bits: for an
    /// argument of 4 GiB or more a range may lie past its end, and
    /// [`ArgSpan::text_in`] then returns `None` rather than other text.)
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// The text this span covers in `argv` (the argv the reading was made from), or
    /// `None` when `argv` is another argv that does not have it.
    pub fn text_in<'s, S: AsRef<str>>(&self, argv: &'s [S]) -> Option<&'s str> {
        argv.get(self.index)?.as_ref().get(self.range())
    }
}

/// A positional word of a reading (an operand, or a word of the subcommand path): a
/// whole argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Word<'a> {
    text: &'a str,
    index: usize,
}

impl<'a> Word<'a> {
    pub(crate) fn new(text: &'a str, index: usize) -> Self {
        Self { text, index }
    }

    /// The word.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Its index in the argv.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Where it was written: the whole argument.
    pub fn span(&self) -> ArgSpan {
        ArgSpan::new(self.index, 0, self.text.len())
    }
}

/// An option as the tool reads it: which option (its canonical name, whether the
/// module declares it), the scope it was read in, and its value.
///
/// `git clone -nqu'touch x' r` has three options: `--no-checkout`, `--quiet`, and
/// `--upload-pack` with the value `touch x`, all written in argument 1.
#[derive(Clone, Copy)]
pub struct Opt<'m, 'a> {
    syntax: &'m Syntax,
    key: OptKey<'a>,
    global: bool,
    value: Option<Value<'a>>,
    index: usize,
    /// `-x` for an undeclared one-letter option (a char is at most four bytes).
    short: [u8; 8],
}

impl<'m, 'a> Opt<'m, 'a> {
    pub(crate) fn new(
        syntax: &'m Syntax,
        key: OptKey<'a>,
        global: bool,
        value: Option<Value<'a>>,
        index: u32,
    ) -> Self {
        let mut short = [0u8; 8];
        if let OptKey::Short(c) = key {
            short_name(c, &mut short);
        }
        Self {
            syntax,
            key,
            global,
            value,
            index: index as usize,
            short,
        }
    }

    /// The option's name: for a declared option its canonical name as the module
    /// declares it (the first long alias: `--upload-pack` for `-u|--upload-pack`; in the
    /// go style with one dash, `-chdir`); for an undeclared one its spelling (`--foo`,
    /// `-x` for a letter of a bundle).
    pub fn name(&self) -> &str {
        match self.key {
            OptKey::Declared(id) => self
                .syntax
                .option(id)
                .and_then(|o| o.names.first())
                .map_or("?", String::as_str),
            OptKey::Long(name) => name,
            OptKey::Short(c) => {
                let len = 1 + c.len_utf8();
                self.short
                    .get(..len)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .unwrap_or("-")
            }
        }
    }

    /// Whether the option answers to `name`: any alias of a declared option (`-u` and
    /// `--upload-pack` in git's `clone`; `-chdir` and `--chdir` in the go style), or the
    /// spelling of an undeclared one.
    pub fn is(&self, name: &str) -> bool {
        // The go style reads `--name` as `-name`, and declared names are kept that way.
        let go_name = match (self.syntax.style, name.strip_prefix("--")) {
            (Style::Go, Some(body)) if !body.is_empty() && !body.starts_with('-') => {
                Some(format!("-{body}"))
            }
            _ => None,
        };
        let normalized = go_name.as_deref().unwrap_or(name);
        match self.key {
            OptKey::Declared(id) => self
                .syntax
                .option(id)
                .is_some_and(|o| o.names.iter().any(|n| n == normalized)),
            OptKey::Long(_) | OptKey::Short(_) => self.name() == name || self.name() == normalized,
        }
    }

    /// Whether the module's `[syntax]` declares this option.
    pub fn is_declared(&self) -> bool {
        matches!(self.key, OptKey::Declared(_))
    }

    /// Whether it was read in the global scope: before the subcommand, or a global
    /// option the syntax accepts anywhere (`global_anywhere`).
    pub fn is_global(&self) -> bool {
        self.global
    }

    /// The value the option took, if any (attached as in `--opt=v`, `-ov`, or the next
    /// argument).
    pub fn value(&self) -> Option<&'a str> {
        self.value.map(|v| v.text)
    }

    /// Where the value was written; `None` without a value. The value is always the
    /// rest of its argument, which is the option's own (`--opt=v`) or the next one.
    pub fn value_span(&self) -> Option<ArgSpan> {
        self.value.map(|v| v.span())
    }

    /// The index of the argument the option was written in (for a letter of a bundle,
    /// the bundle).
    pub fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn key(&self) -> OptKey<'a> {
        self.key
    }
}

impl fmt::Debug for Opt<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opt")
            .field("name", &self.name())
            .field("declared", &self.is_declared())
            .field("global", &self.global)
            .field("value", &self.value())
            .field("index", &self.index)
            .field("value_span", &self.value_span())
            .finish()
    }
}

impl PartialEq for Opt<'_, '_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.syntax, other.syntax)
            && self.key == other.key
            && self.global == other.global
            && self.value == other.value
            && self.index == other.index
    }
}

impl Eq for Opt<'_, '_> {}

/// One element of a reading, in argv order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Element<'m, 'a> {
    /// An option, with its value if it took one.
    Option(Opt<'m, 'a>),
    /// A positional word that is not part of the subcommand path.
    Operand(Word<'a>),
}
