//! The reader: turns an argv into the normalized reading the tool itself would make
//! (subcommand path, options with their values, positional words), following the
//! module's [`Syntax`]. Where the argv can be read more than one way (an undeclared
//! option that may or may not take the next argument), the reader is driven by a list
//! of choices so that every plausible reading can be produced.

use std::fmt;

use crate::inline_vec::InlineVec;
use crate::syntax::{Kind, Lookup, NodeId, OptId, Style, Syntax};

/// At most this many plausible readings are considered; an argv with more is denied
/// as too ambiguous to decide.
pub const MAX_READINGS: usize = 64;

/// The normalized reading of an argv: what the tool will see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading<'a> {
    pub(crate) path: InlineVec<&'a str, 4>,
    /// The syntax node of each path word the subcommand tree knows, in order.
    pub(crate) nodes: InlineVec<NodeId, 4>,
    pub(crate) tokens: Vec<Token<'a>>,
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
    },
    /// A positional word (an operand; not part of the subcommand path).
    Word(&'a str),
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
        }
    }
}

/// Reads `argv` once, following `choices` at each ambiguous point (false: the
/// undeclared option takes no value). Returns the reading and how many choice points
/// were met.
pub(crate) fn read<'a, S: AsRef<str>>(
    syntax: &Syntax,
    argv: &'a [S],
    choices: &[bool],
) -> Result<(Reading<'a>, usize), Unreadable> {
    let mut reader = Reader {
        syntax,
        argv,
        next: 0,
        choices,
        used: 0,
        reading: Reading {
            path: InlineVec::default(),
            nodes: InlineVec::default(),
            tokens: Vec::with_capacity(argv.len()),
        },
        node: Some(0),
    };
    reader.run()?;
    Ok((reader.reading, reader.used))
}

/// Calls `visit` with every plausible reading of `argv`, stopping early when `visit`
/// returns `false`. Fails when the argv cannot be read or has too many readings.
pub(crate) fn for_each_reading<'a, S: AsRef<str>>(
    syntax: &Syntax,
    argv: &'a [S],
    mut visit: impl FnMut(Reading<'a>) -> bool,
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

struct Reader<'s, 'a, 'c, S> {
    syntax: &'s Syntax,
    argv: &'a [S],
    next: usize,
    choices: &'c [bool],
    used: usize,
    reading: Reading<'a>,
    /// The current scope; `None` is a subcommand the syntax does not know.
    node: Option<NodeId>,
}

impl<'a, S: AsRef<str>> Reader<'_, 'a, '_, S> {
    fn run(&mut self) -> Result<(), Unreadable> {
        let mut options = true;
        let mut positionals_in_scope: u32 = 0;
        while let Some(arg) = self.take() {
            if options && arg == "--" {
                if self.syntax.double_dash_ends_options {
                    options = false;
                }
                continue;
            }
            if options && arg.len() > 1 && arg.starts_with('-') {
                self.option(arg)?;
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
                    if let Some(node) = child {
                        self.reading.nodes.push(node);
                    }
                    continue;
                }
            }
            self.reading.tokens.push(Token::Word(arg));
            positionals_in_scope = positionals_in_scope.saturating_add(1);
            if let Some(until) = self.syntax.options_until(self.node) {
                if positionals_in_scope >= until {
                    options = false;
                }
            }
        }
        Ok(())
    }

    fn take(&mut self) -> Option<&'a str> {
        let arg = self.argv.get(self.next)?.as_ref();
        self.next += 1;
        Some(arg)
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
    /// `undeclared = "takes-value"`, otherwise both ways (a choice point).
    fn undeclared_takes(&mut self) -> bool {
        self.syntax.undeclared_takes_value || self.choose()
    }

    fn in_global_scope(&self) -> bool {
        self.node == Some(0)
    }

    fn push_opt(&mut self, key: OptKey<'a>, global: bool, value: Option<&'a str>) {
        self.reading.tokens.push(Token::Opt { key, global, value });
    }

    fn option(&mut self, arg: &'a str) -> Result<(), Unreadable> {
        match self.syntax.style {
            Style::Gnu | Style::Pflag if !arg.starts_with("--") => {
                self.bundle(arg);
                Ok(())
            }
            Style::Go if arg.starts_with("--") => {
                self.word_option(arg, arg.get(1..).unwrap_or(arg))
            }
            _ => self.word_option(arg, arg),
        }
    }

    /// An option written as one word: `--name[=value]`, or `-name[=value]` in the go and
    /// generic styles. `spelled` is `arg` in the normalized dash form.
    fn word_option(&mut self, arg: &'a str, spelled: &'a str) -> Result<(), Unreadable> {
        let (name, attached) = match spelled.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (spelled, None),
        };
        match self.syntax.lookup(self.node, name) {
            Lookup::Found(id, global) => self.declared(id, global, attached),
            Lookup::Ambiguous => return Err(Unreadable::AmbiguousAbbreviation(arg.to_owned())),
            Lookup::Unknown => {
                let global = self.in_global_scope();
                if self.syntax.style == Style::Generic
                    && attached.is_none()
                    && self.generic_attached_short(name, global)
                {
                    return Ok(());
                }
                let value = match attached {
                    Some(v) => Some(v),
                    None if self.peek_value_candidate() && self.undeclared_takes() => self.take(),
                    None => None,
                };
                self.push_opt(OptKey::Long(name), global, value);
            }
        }
        Ok(())
    }

    /// Generic style: `-vVALUE` where `-v` is a declared value option may be `-v`
    /// with an attached value, or an option of its own; both readings are plausible.
    fn generic_attached_short(&mut self, name: &'a str, global: bool) -> bool {
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
        self.push_opt(OptKey::Declared(id), g || global, name.get(rest_at..));
        true
    }

    /// A declared option with its attached value, if any.
    fn declared(&mut self, id: OptId, global: bool, attached: Option<&'a str>) {
        let kind = self.syntax.option(id).map_or(Kind::Flag, |o| o.kind);
        match kind {
            Kind::Flag | Kind::Optional => self.push_opt(OptKey::Declared(id), global, attached),
            Kind::Value => {
                let value = attached.or_else(|| self.take());
                self.push_opt(OptKey::Declared(id), global, value);
            }
            Kind::Bool => self.boolean(id, global, attached),
        }
    }

    /// A boolean: the last occurrence wins, so a false one removes the earlier ones.
    fn boolean(&mut self, id: OptId, global: bool, attached: Option<&'a str>) {
        if attached.and_then(parse_bool) == Some(false) {
            self.reading
                .tokens
                .retain(|t| !matches!(t, Token::Opt { key: OptKey::Declared(d), .. } if *d == id));
        } else {
            self.push_opt(OptKey::Declared(id), global, None);
        }
    }

    /// A bundle of one-letter options, `-abc`, `-ovalue`, `-o=value` (pflag).
    fn bundle(&mut self, arg: &'a str) {
        let global = self.in_global_scope();
        let body = arg.get(1..).unwrap_or("");
        let mut offset = 0;
        while let Some(c) = body.get(offset..).and_then(|s| s.chars().next()) {
            offset += c.len_utf8();
            let rest = body.get(offset..).unwrap_or("");
            let pflag_value = (self.syntax.style == Style::Pflag)
                .then(|| rest.strip_prefix('='))
                .flatten();
            let lookup = self.syntax.lookup_short(self.node, c);
            let (id, g) = match lookup {
                Lookup::Found(id, g) => (id, g),
                Lookup::Ambiguous | Lookup::Unknown => {
                    if let Some(value) = pflag_value {
                        self.push_opt(OptKey::Short(c), global, Some(value));
                        return;
                    }
                    if rest.is_empty() {
                        let value = if self.peek_value_candidate() && self.undeclared_takes() {
                            self.take()
                        } else {
                            None
                        };
                        self.push_opt(OptKey::Short(c), global, value);
                        return;
                    }
                    if self.undeclared_takes() {
                        self.push_opt(OptKey::Short(c), global, Some(rest));
                        return;
                    }
                    self.push_opt(OptKey::Short(c), global, None);
                    continue;
                }
            };
            let kind = self.syntax.option(id).map_or(Kind::Flag, |o| o.kind);
            match kind {
                Kind::Flag | Kind::Bool if pflag_value.is_some() => {
                    if kind == Kind::Bool {
                        self.boolean(id, g, pflag_value);
                    } else {
                        self.push_opt(OptKey::Declared(id), g, pflag_value);
                    }
                    return;
                }
                Kind::Flag => self.push_opt(OptKey::Declared(id), g, None),
                Kind::Bool => self.boolean(id, g, None),
                Kind::Value => {
                    let value = match pflag_value {
                        Some(v) => Some(v),
                        None if !rest.is_empty() => Some(rest),
                        None => self.take(),
                    };
                    self.push_opt(OptKey::Declared(id), g, value);
                    return;
                }
                Kind::Optional => {
                    let value = pflag_value.or((!rest.is_empty()).then_some(rest));
                    self.push_opt(OptKey::Declared(id), g, value);
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

impl<'a> Reading<'a> {
    /// The subcommand path, e.g. `["state", "rm"]`.
    pub fn path(&self) -> &[&'a str] {
        &self.path
    }

    /// The positional words (operands), in order.
    pub fn words(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.tokens.iter().filter_map(|t| match t {
            Token::Word(w) => Some(*w),
            Token::Opt { .. } => None,
        })
    }

    /// Renders the reading with canonical option names, e.g.
    /// `clone --upload-pack=cmd repo`.
    pub(crate) fn display<'r>(&'r self, syntax: &'r Syntax) -> ReadingDisplay<'r, 'a> {
        ReadingDisplay {
            reading: self,
            syntax,
        }
    }
}

/// A reading rendered with its syntax's canonical names.
pub struct ReadingDisplay<'r, 'a> {
    reading: &'r Reading<'a>,
    syntax: &'r Syntax,
}

impl fmt::Display for ReadingDisplay<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for word in self.reading.path.iter() {
            write!(f, "{sep}{}", shell_words::quote(word))?;
            sep = " ";
        }
        for token in &self.reading.tokens {
            f.write_str(sep)?;
            sep = " ";
            match token {
                Token::Word(w) => write!(f, "{}", shell_words::quote(w))?,
                Token::Opt { key, value, .. } => {
                    match key {
                        OptKey::Declared(id) => {
                            let name = self
                                .syntax
                                .option(*id)
                                .and_then(|o| o.names.first())
                                .map_or("?", String::as_str);
                            f.write_str(name)?;
                        }
                        OptKey::Long(name) => f.write_str(name)?,
                        OptKey::Short(c) => write!(f, "-{c}")?,
                    }
                    if let Some(value) = value {
                        write!(f, "={}", shell_words::quote(value))?;
                    }
                }
            }
        }
        Ok(())
    }
}
