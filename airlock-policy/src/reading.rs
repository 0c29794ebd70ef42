//! The reader: turns an argv into the normalized reading the tool itself would make
//! (subcommand path, options with their values, positional words), following the
//! module's [`Syntax`]. Where the argv can be read more than one way (an undeclared
//! option that may or may not take the next argument), the reader is driven by a list
//! of choices so that every plausible reading can be produced.
//!
//! Every token records where it was written (argv index, and for a value its byte
//! offset in that argument), so consumers can act on exactly the text the tool reads.

use std::fmt;

use crate::elements::{ArgSpan, Element, Opt, Word};
use crate::inline_vec::InlineVec;
use crate::syntax::{Kind, Lookup, NodeId, OptId, Style, Syntax};

/// At most this many plausible readings are considered; an argv with more is denied
/// as too ambiguous to decide.
pub const MAX_READINGS: usize = 64;

/// One plausible reading of an argv: what the tool will see. The subcommand path,
/// the options in order with their canonical names and values, and the operands,
/// each with where it was written in the argv.
///
/// A reading borrows the module that read it (`'m`, for option names) and the argv
/// (`'a`). Get one from [`Decision::reading`](crate::Decision::reading) or every
/// plausible one from [`Module::readings`](crate::Module::readings).
#[derive(Clone)]
pub struct Reading<'m, 'a> {
    pub(crate) syntax: &'m Syntax,
    pub(crate) path: InlineVec<&'a str, 4>,
    /// For each path word: its argv index and its node in the subcommand tree.
    pub(crate) path_info: InlineVec<PathInfo, 4>,
    pub(crate) tokens: Vec<Token<'a>>,
}

/// Where a subcommand path word was written, and the node of the subcommand tree it
/// reached (`UNKNOWN` when the tree does not have it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PathInfo {
    pub at: u32,
    pub node: u32,
}

impl PathInfo {
    /// The node of a word the subcommand tree does not know.
    pub(crate) const UNKNOWN: u32 = u32::MAX;

    /// The word's node, if the tree knows it.
    pub(crate) fn node(&self) -> Option<NodeId> {
        (self.node != Self::UNKNOWN).then_some(self.node as NodeId)
    }
}

/// One element of a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// An option, with its value if it took one.
    Opt {
        key: OptKey<'a>,
        /// Read in the global scope (before the subcommand, or a global option the
        /// syntax accepts anywhere).
        global: bool,
        value: Option<&'a str>,
        /// The argv index of the argument the option was written in.
        at: u32,
        /// Where the value starts in its argument.
        value_start: u32,
        /// The value is the next argument (`at + 1`), not the rest of this one.
        detached: bool,
    },
    /// A positional word (an operand; not part of the subcommand path).
    Word {
        text: &'a str,
        /// Its argv index.
        at: u32,
    },
}

/// An option's value and where it was written: `argv[at][start..]`. A value is
/// always the whole rest of its argument (`--opt=VALUE`, `-oVALUE`, or a separate
/// argument), so its start is enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Value<'a> {
    pub text: &'a str,
    pub at: u32,
    pub start: u32,
}

impl<'a> Value<'a> {
    /// The value of an option token.
    pub(crate) fn of_token(
        text: Option<&'a str>,
        at: u32,
        start: u32,
        detached: bool,
    ) -> Option<Self> {
        text.map(|text| Value {
            text,
            at: at.saturating_add(u32::from(detached)),
            start,
        })
    }

    /// Where the value was written.
    pub(crate) fn span(&self) -> ArgSpan {
        let start = self.start as usize;
        ArgSpan::new(self.at as usize, start, start + self.text.len())
    }
}

/// A count or offset as the reader stores it, saturated. Argv indexes never saturate
/// (an argv with that many arguments is refused before reading); a byte offset would
/// need a single argument of 4 GiB.
fn index32(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// Which option a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OptKey<'a> {
    /// A declared option.
    Declared(OptId),
    /// An undeclared option written as a whole word (`--foo`, or `-foo` in the go and
    /// generic styles), without any `=value`.
    Long(&'a str),
    /// An undeclared one-letter option from a bundle (`-x`).
    Short(char),
}

impl OptKey<'_> {
    /// Whether this undeclared option is spelled `name`.
    #[cfg_attr(
        not(any(test, feature = "reference")),
        expect(dead_code, reason = "read by the reference interpreter")
    )]
    pub(crate) fn spelled(&self, name: &str) -> bool {
        match self {
            OptKey::Declared(_) => false,
            OptKey::Long(s) => *s == name,
            OptKey::Short(c) => {
                let mut chars = name.chars();
                chars.next() == Some('-') && chars.next() == Some(*c) && chars.next().is_none()
            }
        }
    }
}

/// Why an argv could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unreadable {
    /// A long option abbreviation that fits several options (the tool rejects it).
    AmbiguousAbbreviation(String),
    /// More than [`MAX_READINGS`] plausible readings.
    TooAmbiguous,
    /// The glob automaton could not finish (it never should; the check fails closed).
    MatcherFailed,
    /// More arguments than a reading can index (`u32::MAX`).
    TooManyArguments,
    /// An option the module does not declare, under `undeclared = "deny"`: an option
    /// nobody classified (a new release's, a typo's) is refused, not guessed at.
    UndeclaredOption {
        /// The option as written (`--frobnicate`, `-Z`).
        option: String,
        /// The subcommand path it was read in (empty: before any subcommand).
        command: String,
    },
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreadable::AmbiguousAbbreviation(arg) => {
                write!(f, "`{arg}` abbreviates more than one option")
            }
            Unreadable::TooAmbiguous => write!(
                f,
                "the argv has more than {MAX_READINGS} plausible readings (undeclared options that may take values)"
            ),
            Unreadable::MatcherFailed => write!(f, "the glob matcher could not finish"),
            Unreadable::TooManyArguments => {
                write!(f, "the argv has more arguments than can be read")
            }
            Unreadable::UndeclaredOption { option, command } => {
                if command.is_empty() {
                    write!(f, "`{option}` is not an option this module knows")?;
                } else {
                    write!(
                        f,
                        "`{option}` is not an option this module knows for `{command}`"
                    )?;
                }
                write!(f, "; options nobody has classified are refused")
            }
        }
    }
}

/// Reads `argv` once, following `choices` at each ambiguous point (false: the
/// undeclared option takes no value). Returns the reading and how many choice points
/// were met.
pub(crate) fn read<'m, 'a, S: AsRef<str>>(
    syntax: &'m Syntax,
    argv: &'a [S],
    choices: &[bool],
) -> Result<(Reading<'m, 'a>, usize), Unreadable> {
    let mut reading = Reading::empty(syntax, argv.len());
    let used = read_into(&mut reading, argv, choices)?;
    Ok((reading, used))
}

/// [`read`] into `reading`, which must be [`Reading::empty`]: returns how many of
/// `choices` were used. On an error `reading` holds what was read before it.
///
/// The check's common path reads into the decision it returns, so that the reading
/// is not moved (a reading is ~200 bytes, a move a `memcpy`).
pub(crate) fn read_into<'m, 'a, S: AsRef<str>>(
    reading: &mut Reading<'m, 'a>,
    argv: &'a [S],
    choices: &[bool],
) -> Result<usize, Unreadable> {
    if u32::try_from(argv.len()).is_err() {
        return Err(Unreadable::TooManyArguments);
    }
    let mut reader = Reader {
        syntax: reading.syntax,
        argv,
        next: 0,
        choices,
        used: 0,
        reading,
        node: Some(0),
    };
    reader.run()?;
    Ok(reader.used)
}

/// Calls `visit` with every plausible reading of `argv`, stopping early when `visit`
/// returns `false`. Fails when the argv cannot be read or has too many readings.
pub(crate) fn for_each_reading<'m, 'a, S: AsRef<str>>(
    syntax: &'m Syntax,
    argv: &'a [S],
    mut visit: impl FnMut(Reading<'m, 'a>) -> bool,
) -> Result<(), Unreadable> {
    let (first, used) = read(syntax, argv, &[])?;
    if used == 0 {
        visit(first);
        return Ok(());
    }
    // Enumerate the leaves of the binary choice tree depth first. The first reading
    // (all choices false) is only visited once we know the total stays in bounds.
    let mut choices = vec![false; used];
    let mut pending = Some(first);
    let mut seen = 1;
    loop {
        if let Some(reading) = pending.take() {
            if !visit(reading) {
                return Ok(());
            }
        }
        let Some(last_false) = choices.iter().rposition(|c| !c) else {
            return Ok(());
        };
        choices.truncate(last_false);
        choices.push(true);
        seen += 1;
        if seen > MAX_READINGS {
            return Err(Unreadable::TooAmbiguous);
        }
        let (reading, used) = read(syntax, argv, &choices)?;
        choices.resize(used.max(choices.len()), false);
        pending = Some(reading);
    }
}

struct Reader<'m, 'a, 'c, 'r, S> {
    syntax: &'m Syntax,
    argv: &'a [S],
    next: usize,
    choices: &'c [bool],
    used: usize,
    reading: &'r mut Reading<'m, 'a>,
    /// The current scope; `None` is a subcommand the syntax does not know.
    node: Option<NodeId>,
}

impl<'a, S: AsRef<str>> Reader<'_, 'a, '_, '_, S> {
    fn run(&mut self) -> Result<(), Unreadable> {
        let mut options = true;
        let mut positionals_in_scope: u32 = 0;
        while let Some((arg, at)) = self.take() {
            if options && arg == "--" {
                if self.syntax.double_dash_ends_options {
                    options = false;
                }
                continue;
            }
            if options && arg.len() > 1 && arg.starts_with('-') {
                let before = self.reading.tokens.len();
                self.option(arg, at)?;
                if self.syntax.refuses_undeclared(self.node) {
                    self.refuse_undeclared(before)?;
                }
                continue;
            }
            if self.syntax.subcommands && positionals_in_scope == 0 {
                let first = self.reading.path.is_empty();
                let child = if first {
                    self.syntax.child(0, arg)
                } else {
                    self.node.and_then(|n| self.syntax.child(n, arg))
                };
                if first || child.is_some() {
                    self.node = child;
                    self.reading.path.push(arg);
                    self.reading.path_info.push(PathInfo {
                        at,
                        node: child.map_or(PathInfo::UNKNOWN, index32),
                    });
                    continue;
                }
            }
            self.reading.tokens.push(Token::Word { text: arg, at });
            positionals_in_scope = positionals_in_scope.saturating_add(1);
            if let Some(until) = self.syntax.options_until(self.node) {
                if positionals_in_scope >= until {
                    options = false;
                }
            }
        }
        Ok(())
    }

    /// Under `undeclared = "deny"`: fails on the first undeclared option among the
    /// tokens read since `from`.
    fn refuse_undeclared(&self, from: usize) -> Result<(), Unreadable> {
        let undeclared = self
            .reading
            .tokens
            .get(from..)
            .unwrap_or(&[])
            .iter()
            .find_map(|t| match t {
                Token::Opt {
                    key: OptKey::Long(name),
                    ..
                } => Some((*name).to_owned()),
                Token::Opt {
                    key: OptKey::Short(c),
                    ..
                } => Some(format!("-{c}")),
                _ => None,
            });
        match undeclared {
            None => Ok(()),
            Some(option) => Err(Unreadable::UndeclaredOption {
                option,
                command: self.reading.path.join(" "),
            }),
        }
    }

    /// The next argument and its argv index.
    fn take(&mut self) -> Option<(&'a str, u32)> {
        let arg = self.argv.get(self.next)?.as_ref();
        // `read` refuses an argv with more than `u32::MAX` arguments: this is exact.
        let at = self.next as u32;
        self.next += 1;
        Some((arg, at))
    }

    /// The next argument, taken whole as a declared option's value; under
    /// `values_skip_options`, only when it does not look like an option.
    fn take_value(&mut self) -> Option<Value<'a>> {
        if self.syntax.values_skip_options && !self.peek_value_candidate() {
            return None;
        }
        self.take().map(|(text, at)| Value { text, at, start: 0 })
    }

    /// `value`, the rest of argument `arg` (number `at`), as an attached value.
    fn attached(arg: &'a str, at: u32, value: &'a str) -> Value<'a> {
        Value {
            text: value,
            at,
            start: index32(arg.len().saturating_sub(value.len())),
        }
    }

    /// The next argument, when an undeclared option may take it as its value.
    fn peek_value_candidate(&self) -> bool {
        self.argv
            .get(self.next)
            .is_some_and(|a| !a.as_ref().starts_with('-') || a.as_ref() == "-")
    }

    fn choose(&mut self) -> bool {
        let choice = self.choices.get(self.used).copied().unwrap_or(false);
        self.used += 1;
        choice
    }

    /// Whether an undeclared option takes the next argument: always under
    /// `undeclared = "takes-value"` (and `"deny-declared"`, where it is not refused),
    /// otherwise both ways (a choice point).
    fn undeclared_takes(&mut self) -> bool {
        self.syntax.undeclared_takes_value
            || self.syntax.undeclared_denied_declared
            || self.choose()
    }

    fn in_global_scope(&self) -> bool {
        self.node == Some(0)
    }

    fn push_opt(&mut self, key: OptKey<'a>, global: bool, value: Option<Value<'a>>, at: u32) {
        self.reading.tokens.push(Token::Opt {
            key,
            global,
            value: value.map(|v| v.text),
            at,
            value_start: value.map_or(0, |v| v.start),
            detached: value.is_some_and(|v| v.at != at),
        });
    }

    fn option(&mut self, arg: &'a str, at: u32) -> Result<(), Unreadable> {
        match self.syntax.style {
            Style::Gnu | Style::Pflag if !arg.starts_with("--") => {
                self.bundle(arg, at);
                Ok(())
            }
            Style::Go if arg.starts_with("--") => {
                self.word_option(arg, arg.get(1..).unwrap_or(arg), at)
            }
            _ => self.word_option(arg, arg, at),
        }
    }

    /// An option written as one word: `--name[=value]`, or `-name[=value]` in the go and
    /// generic styles. `spelled` is `arg` in the normalized dash form.
    fn word_option(&mut self, arg: &'a str, spelled: &'a str, at: u32) -> Result<(), Unreadable> {
        let (name, attached) = match spelled.split_once('=') {
            Some((name, value)) => (name, Some(Self::attached(arg, at, value))),
            None => (spelled, None),
        };
        match self.syntax.lookup(self.node, name) {
            Lookup::Found(id, global) => self.declared(id, global, attached, at),
            Lookup::Ambiguous => return Err(Unreadable::AmbiguousAbbreviation(arg.to_owned())),
            Lookup::Unknown => {
                let global = self.in_global_scope();
                if self.syntax.style == Style::Generic
                    && attached.is_none()
                    && self.generic_attached_short(arg, name, global, at)
                {
                    return Ok(());
                }
                let value = match attached {
                    Some(v) => Some(v),
                    None if self.peek_value_candidate() && self.undeclared_takes() => {
                        self.take_value()
                    }
                    None => None,
                };
                self.push_opt(OptKey::Long(name), global, value, at);
            }
        }
        Ok(())
    }

    /// Generic style: `-vVALUE` where `-v` is a declared value option may be `-v`
    /// with an attached value, or an option of its own; both readings are plausible.
    fn generic_attached_short(
        &mut self,
        arg: &'a str,
        name: &'a str,
        global: bool,
        at: u32,
    ) -> bool {
        let mut chars = name.char_indices().skip(1);
        let Some((_, first)) = chars.next() else {
            return false;
        };
        let Some((rest_at, _)) = chars.next() else {
            return false;
        };
        let Lookup::Found(id, g) = self.syntax.lookup_short(self.node, first) else {
            return false;
        };
        let takes_value = self
            .syntax
            .option(id)
            .is_some_and(|o| matches!(o.kind, Kind::Value | Kind::Optional));
        if !takes_value || !self.choose() {
            return false;
        }
        let value = name.get(rest_at..).map(|v| Self::attached(arg, at, v));
        self.push_opt(OptKey::Declared(id), g || global, value, at);
        true
    }

    /// A declared option with its attached value, if any.
    fn declared(&mut self, id: OptId, global: bool, attached: Option<Value<'a>>, at: u32) {
        let kind = self.syntax.option(id).map_or(Kind::Flag, |o| o.kind);
        match kind {
            Kind::Flag | Kind::Optional => {
                self.push_opt(OptKey::Declared(id), global, attached, at);
            }
            Kind::Value => {
                let value = attached.or_else(|| self.take_value());
                self.push_opt(OptKey::Declared(id), global, value, at);
            }
            Kind::Bool => self.boolean(id, global, attached.map(|v| v.text), at),
        }
    }

    /// A boolean: the last occurrence wins, so a false one removes the earlier ones.
    fn boolean(&mut self, id: OptId, global: bool, attached: Option<&str>, at: u32) {
        if attached.and_then(parse_bool) == Some(false) {
            self.reading
                .tokens
                .retain(|t| !matches!(t, Token::Opt { key: OptKey::Declared(d), .. } if *d == id));
        } else {
            self.push_opt(OptKey::Declared(id), global, None, at);
        }
    }

    /// A bundle of one-letter options, `-abc`, `-ovalue`, `-o=value` (pflag).
    fn bundle(&mut self, arg: &'a str, at: u32) {
        let global = self.in_global_scope();
        let body = arg.get(1..).unwrap_or("");
        let mut offset = 0;
        while let Some(c) = body.get(offset..).and_then(|s| s.chars().next()) {
            offset += c.len_utf8();
            let rest = body.get(offset..).unwrap_or("");
            let pflag_value = (self.syntax.style == Style::Pflag)
                .then(|| rest.strip_prefix('='))
                .flatten();
            let attached = |v: &'a str| Self::attached(arg, at, v);
            let lookup = self.syntax.lookup_short(self.node, c);
            let (id, g) = match lookup {
                Lookup::Found(id, g) => (id, g),
                Lookup::Ambiguous | Lookup::Unknown => {
                    if let Some(value) = pflag_value {
                        self.push_opt(OptKey::Short(c), global, Some(attached(value)), at);
                        return;
                    }
                    if rest.is_empty() {
                        let value = if self.peek_value_candidate() && self.undeclared_takes() {
                            self.take_value()
                        } else {
                            None
                        };
                        self.push_opt(OptKey::Short(c), global, value, at);
                        return;
                    }
                    if self.undeclared_takes() {
                        self.push_opt(OptKey::Short(c), global, Some(attached(rest)), at);
                        return;
                    }
                    self.push_opt(OptKey::Short(c), global, None, at);
                    continue;
                }
            };
            let kind = self.syntax.option(id).map_or(Kind::Flag, |o| o.kind);
            match kind {
                Kind::Flag | Kind::Bool if pflag_value.is_some() => {
                    if kind == Kind::Bool {
                        self.boolean(id, g, pflag_value, at);
                    } else {
                        self.push_opt(OptKey::Declared(id), g, pflag_value.map(attached), at);
                    }
                    return;
                }
                Kind::Flag => self.push_opt(OptKey::Declared(id), g, None, at),
                Kind::Bool => self.boolean(id, g, None, at),
                Kind::Value => {
                    let value = match pflag_value {
                        Some(v) => Some(attached(v)),
                        None if !rest.is_empty() => Some(attached(rest)),
                        None => self.take_value(),
                    };
                    self.push_opt(OptKey::Declared(id), g, value, at);
                    return;
                }
                Kind::Optional => {
                    let value = pflag_value.or((!rest.is_empty()).then_some(rest));
                    self.push_opt(OptKey::Declared(id), g, value.map(attached), at);
                    return;
                }
            }
        }
    }
}

/// Writes `-c` into `buf` and returns it as a string.
pub(crate) fn short_name(c: char, buf: &mut [u8; 8]) -> &str {
    let (dash, tail) = buf.split_at_mut(1);
    dash.fill(b'-');
    let len = 1 + c.encode_utf8(tail).len();
    buf.get(..len)
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or("-")
}

/// Go's `strconv.ParseBool`, as Go's `flag` and pflag use it.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

impl<'m, 'a> Reading<'m, 'a> {
    /// A reading of nothing yet, with room for the tokens of an argv of `len` arguments
    /// (none for an argv too long to read, which [`read_into`] refuses).
    pub(crate) fn empty(syntax: &'m Syntax, len: usize) -> Self {
        let capacity = if u32::try_from(len).is_ok() { len } else { 0 };
        Reading {
            syntax,
            path: InlineVec::default(),
            path_info: InlineVec::default(),
            tokens: Vec::with_capacity(capacity),
        }
    }

    /// The subcommand path, e.g. `["state", "rm"]`.
    pub fn path(&self) -> &[&'a str] {
        &self.path
    }

    /// The words of the subcommand path with where each was written.
    pub fn path_words(&self) -> impl Iterator<Item = Word<'a>> + '_ {
        self.path
            .iter()
            .zip(self.path_info.iter())
            .map(|(text, info)| Word::new(text, info.at as usize))
    }

    /// The positional words (operands), in order.
    pub fn words(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.tokens.iter().filter_map(|t| match t {
            Token::Word { text, .. } => Some(*text),
            Token::Opt { .. } => None,
        })
    }

    /// The operands (positional words that are not part of the subcommand path), in
    /// order, with where each was written.
    pub fn operands(&self) -> impl Iterator<Item = Word<'a>> + '_ {
        self.tokens.iter().filter_map(|t| match t {
            Token::Word { text, at } => Some(Word::new(text, *at as usize)),
            Token::Opt { .. } => None,
        })
    }

    /// The options, in the order the tool reads them, with their values.
    pub fn options(&self) -> impl Iterator<Item = Opt<'m, 'a>> + '_ {
        self.elements().filter_map(|e| match e {
            Element::Option(opt) => Some(opt),
            Element::Operand(_) => None,
        })
    }

    /// Options and operands in argv order (the subcommand path is
    /// [`Reading::path_words`]).
    pub fn elements(&self) -> impl Iterator<Item = Element<'m, 'a>> + '_ {
        let syntax = self.syntax;
        self.tokens.iter().map(move |t| match *t {
            Token::Word { text, at } => Element::Operand(Word::new(text, at as usize)),
            Token::Opt {
                key,
                global,
                value,
                at,
                value_start,
                detached,
            } => Element::Option(Opt::new(
                syntax,
                key,
                global,
                Value::of_token(value, at, value_start, detached),
                at,
            )),
        })
    }
}

impl Reading<'_, '_> {
    /// The scope the operands were read in: the last node of the subcommand path (the
    /// global scope without one), or `None` when the path ends in a word the syntax
    /// does not know.
    pub(crate) fn scope(&self) -> Option<NodeId> {
        match self.path_info.last() {
            None => Some(0),
            Some(info) => info.node(),
        }
    }
}

impl PartialEq for Reading<'_, '_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.syntax, other.syntax)
            && self.path == other.path
            && self.path_info == other.path_info
            && self.tokens == other.tokens
    }
}

impl Eq for Reading<'_, '_> {}

impl fmt::Debug for Reading<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reading")
            .field("path", &self.path_words().collect::<Vec<_>>())
            .field("elements", &self.elements().collect::<Vec<_>>())
            .finish()
    }
}

/// Renders the reading with canonical option names, e.g.
/// `clone --upload-pack=cmd repo`; words are quoted as a shell would need them.
impl fmt::Display for Reading<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for word in self.path.iter() {
            write!(f, "{sep}{}", shell_words::quote(word))?;
            sep = " ";
        }
        for element in self.elements() {
            f.write_str(sep)?;
            sep = " ";
            match element {
                Element::Operand(word) => write!(f, "{}", shell_words::quote(word.text()))?,
                Element::Option(opt) => {
                    f.write_str(opt.name())?;
                    if let Some(value) = opt.value() {
                        write!(f, "={}", shell_words::quote(value))?;
                    }
                }
            }
        }
        Ok(())
    }
}
