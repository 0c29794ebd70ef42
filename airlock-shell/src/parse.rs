//! A bounded reader of POSIX/bash command lines.
//!
//! It does not build a full syntax tree: the checker needs every simple command (its
//! words after quote removal, its assignments and redirections), every word that is
//! expanded outside one (`for` lists, `case` words and patterns, here-document
//! bodies), and every construct that runs something by itself (`((...))`). So the
//! reader walks the line once, left to right, keeping only the state bash's grammar
//! needs to tell a command name from an argument: command position, reserved words,
//! `case` patterns, `for` lists, `[[ ]]`, function definitions. Subshells and
//! substitutions recurse, bounded by the nesting limit; everything else is a loop.
//!
//! Bash's lexical rules followed exactly: blanks and metacharacters (`|&;()<>`,
//! space, tab, newline) end words; `\` escapes one character and `\<newline>` is
//! removed (outside single quotes); `'...'` is literal; `"..."` keeps `$`, `` ` ``
//! and `\` special (`\` only before `$ ` \` " \ newline`); `$'...'` decodes ANSI-C
//! escapes; `#` starts a comment only at the start of a word; reserved words count
//! only unquoted and in command position; here-document bodies start after the
//! next unquoted newline.

use std::ops::Range;

use crate::error::{ParseError, ParseErrorKind};

/// A command substitution: `$(...)`, `` `...` ``.
pub(crate) const CMDSUB: u16 = 1;
/// A process substitution: `<(...)`, `>(...)`.
pub(crate) const PROCSUB: u16 = 1 << 1;
/// Arithmetic: `$((...))`, `$[...]`.
pub(crate) const ARITH: u16 = 1 << 2;
/// A plain variable (`$X`, `${X}`, `$1`, `$@`) or a tilde expansion.
pub(crate) const VAR: u16 = 1 << 3;
/// A parameter expansion with an operator.
pub(crate) const PARAMOP: u16 = 1 << 4;
/// An unquoted glob character or an extended glob.
pub(crate) const GLOB: u16 = 1 << 5;
/// A brace expansion.
pub(crate) const BRACE: u16 = 1 << 6;
/// The literal value could not be decoded exactly (ANSI-C `\c`, a NUL byte).
pub(crate) const OPAQUE: u16 = 1 << 7;
/// An array assignment `a=(...)`.
pub(crate) const ARRAY: u16 = 1 << 8;

/// Flags that run something or change state when the word is expanded.
pub(crate) const EXECUTING: u16 = CMDSUB | PROCSUB | ARITH | PARAMOP;
/// Flags that make the word's value unknown before the line runs.
pub(crate) const UNKNOWN: u16 = EXECUTING | VAR | GLOB | BRACE | OPAQUE | ARRAY;

/// One word: where it is, its value after quote removal (literal parts only), and
/// what expands in it.
#[derive(Debug, Clone)]
pub(crate) struct Word {
    pub span: Range<usize>,
    pub value: String,
    pub quoted: bool,
    pub flags: u16,
}

impl Word {
    /// Whether the value is exactly known.
    pub fn is_literal(&self) -> bool {
        self.flags & UNKNOWN == 0
    }

    /// An unquoted, literal word equal to `s` (a reserved word, an operator-like word).
    pub fn is_plain(&self, s: &str) -> bool {
        !self.quoted && self.flags == 0 && self.value == s
    }
}

/// How a redirection uses its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RedirectKind {
    /// A file (read, write, append, both).
    File,
    /// `n>&m`, `n<&m`, `>&-`.
    Duplicate,
    /// `<<WORD` / `<<-WORD`: the target is the delimiter.
    HereDoc,
    /// `<<<WORD`.
    HereString,
}

/// A redirection.
#[derive(Debug, Clone)]
pub(crate) struct Redirect {
    pub span: Range<usize>,
    pub kind: RedirectKind,
    /// Whether the target is written (everything but `<`, `<&`, `<<`, `<<<`).
    pub writes: bool,
    pub target: Word,
}

/// An assignment `NAME=value`.
#[derive(Debug, Clone)]
pub(crate) struct Assignment {
    pub name: String,
    pub value: Word,
}

/// A simple command.
#[derive(Debug, Clone, Default)]
pub(crate) struct Simple {
    pub span: Range<usize>,
    pub assignments: Vec<Assignment>,
    pub words: Vec<Word>,
    pub redirects: Vec<Redirect>,
}

/// What the checker judges, in source order.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    /// A simple command.
    Simple(Simple),
    /// A word expanded outside a simple command.
    Word(Word),
    /// A construct that runs by itself: `((...))`, `for ((...))`, `coproc`.
    Arithmetic(Range<usize>),
    /// A redirection of a compound command.
    Redirect(Redirect),
    /// A function definition.
    Function(String, Range<usize>),
}

/// Refuses a line continuation where bash removes it before it reads an operator or
/// an expansion (`$\<newline>(id)` is `$(id)`, `&\<newline>&` is `&&`): the reader
/// decides those with a lookahead that does not remove continuations.
pub(crate) fn ambiguous_continuation(src: &str) -> Result<(), ParseError> {
    let bytes = src.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'\\' {
            if bytes.get(i + 1) == Some(&b'\n') {
                let prev = i.checked_sub(1).and_then(|p| bytes.get(p)).copied();
                let next = bytes.get(i + 2).copied();
                let ambiguous = match prev {
                    Some(b'$' | b'<' | b'>' | b'&' | b'|' | b';' | b'(') => true,
                    Some(b'?' | b'*' | b'+' | b'@' | b'!') => next == Some(b'('),
                    Some(b'.') => next == Some(b'.'),
                    _ => false,
                };
                if ambiguous {
                    return Err(ParseError::new(
                        ParseErrorKind::Syntax,
                        "a line continuation inside an operator or an expansion",
                        i..i + 2,
                    ));
                }
            }
            // Skip the escaped byte.
            i += 2;
            continue;
        }
        i += 1;
    }
    Ok(())
}

/// Reads `src` into items, or says why it cannot.
pub(crate) fn parse(src: &str, max_len: usize, max_depth: usize) -> Result<Vec<Item>, ParseError> {
    if src.len() > max_len {
        return Err(ParseError::new(
            ParseErrorKind::TooLong,
            format!("the line is {} bytes long, more than {max_len}", src.len()),
            max_len..src.len(),
        ));
    }
    let mut reader = Reader {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        depth: 0,
        max_depth,
        items: Vec::new(),
        heredocs: Vec::new(),
    };
    if let Some(at) = src.find('\0') {
        // Bash reads a command string as a C string: it would end here.
        return Err(ParseError::new(
            ParseErrorKind::Syntax,
            "a NUL byte in the line",
            at..at + 1,
        ));
    }
    ambiguous_continuation(src)?;
    reader.list(Term::Eof)?;
    if let Some(pending) = reader.heredocs.first() {
        return Err(reader.syntax(
            format!(
                "the here-document `{}` has no body (it ends at the end of the line)",
                pending.delimiter
            ),
            pending.at..src.len(),
        ));
    }
    Ok(reader.items)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term {
    Eof,
    Paren,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Command position: reserved words count.
    Start,
    /// Inside a simple command.
    Simple,
    /// After `)`, `}`, `fi`, `done`, `esac`: only redirections, closers or separators.
    AfterCompound,
    /// After `time`: `-p` may follow.
    AfterTime,
    /// After `case`: the word.
    CaseWord,
    /// After the case word: `in`.
    CaseIn,
    /// A case item's patterns, up to `)`.
    CasePattern,
    /// After `for`/`select`: the name or `((`.
    ForName,
    /// After the name: `in`, `;`, newline or `do`.
    ForIn,
    /// The words after `in`.
    ForWords,
    /// After `function`: the name.
    FunctionName,
    /// After a function name: `()` or the body.
    FunctionParens,
}

struct PendingHereDoc {
    delimiter: String,
    strip_tabs: bool,
    expand: bool,
    at: usize,
}

struct Reader<'s> {
    src: &'s str,
    bytes: &'s [u8],
    pos: usize,
    depth: usize,
    max_depth: usize,
    items: Vec<Item>,
    heredocs: Vec<PendingHereDoc>,
}

const RESERVED_START: &[&str] = &[
    "!", "{", "if", "then", "elif", "else", "while", "until", "do",
];
const RESERVED_CLOSE: &[&str] = &["}", "fi", "done"];

fn is_meta(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>'
    )
}

/// A byte that stands for itself anywhere in a word (and is not a blank or an
/// operator): not a quote, escape, expansion, glob, brace or extended-glob character.
fn is_plain(b: u8) -> bool {
    !is_meta(b)
        && !matches!(
            b,
            b'\\'
                | b'\''
                | b'"'
                | b'$'
                | b'`'
                | b'*'
                | b'?'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'~'
                | b'@'
                | b'!'
                | b'+'
        )
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The name of an assignment word (`NAME=`, `NAME+=`, `NAME[...]=`), from its raw
/// text, when the name part is unquoted.
pub(crate) fn assignment_name(raw: &str) -> Option<&str> {
    let bytes = raw.as_bytes();
    let first = *bytes.first()?;
    if !is_name_start(first) {
        return None;
    }
    let mut i = 1;
    while bytes.get(i).is_some_and(|b| is_name_byte(*b)) {
        i += 1;
    }
    let name = raw.get(..i)?;
    let mut j = i;
    if bytes.get(j) == Some(&b'[') {
        // The subscript ends the scan at `]` or at the end of the word (a blank or an
        // operator), so reading a line stays linear (`a[ a[ a[ ...`).
        loop {
            match bytes.get(j) {
                Some(b']') => break,
                Some(b) if !is_meta(*b) => j += 1,
                _ => return None,
            }
        }
        j += 1;
    }
    if bytes.get(j) == Some(&b'+') {
        j += 1;
    }
    (bytes.get(j) == Some(&b'=')).then_some(name)
}

impl<'s> Reader<'s> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        self.bytes
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(s.as_bytes()))
    }

    fn syntax(&self, message: impl Into<String>, span: Range<usize>) -> ParseError {
        ParseError::new(ParseErrorKind::Syntax, message, span)
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(ParseError::new(
                ParseErrorKind::TooDeep,
                format!("constructs nest more than {} deep", self.max_depth),
                self.pos..self.pos,
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Skips blanks and line continuations.
    fn skip_blanks(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.pos += 1,
                Some(b'\\') if self.peek_at(1) == Some(b'\n') => self.pos += 2,
                _ => return,
            }
        }
    }

    fn skip_comment(&mut self) {
        while let Some(b) = self.peek() {
            if b == b'\n' {
                return;
            }
            self.pos += 1;
        }
    }

    /// Consumes a newline and reads the here-document bodies it starts.
    fn newline(&mut self) -> Result<(), ParseError> {
        self.pos += 1;
        let pending = std::mem::take(&mut self.heredocs);
        for doc in pending {
            self.heredoc_body(&doc)?;
        }
        Ok(())
    }

    fn heredoc_body(&mut self, doc: &PendingHereDoc) -> Result<(), ParseError> {
        let start = self.pos;
        loop {
            if self.pos >= self.bytes.len() {
                return Err(self.syntax(
                    format!(
                        "the here-document `{}` is not closed by its delimiter",
                        doc.delimiter
                    ),
                    doc.at..self.bytes.len(),
                ));
            }
            let line_start = self.pos;
            let line_end = self
                .bytes
                .get(line_start..)
                .and_then(|rest| rest.iter().position(|b| *b == b'\n'))
                .map_or(self.bytes.len(), |n| line_start + n);
            let mut line = self.src.get(line_start..line_end).unwrap_or("").to_owned();
            self.pos = (line_end + 1).min(self.bytes.len());
            // With an unquoted delimiter, `\<newline>` joins lines before the line is
            // compared with the delimiter (`EO\<newline>F` ends the body).
            while doc.expand
                && (line.len() - line.trim_end_matches('\\').len()) % 2 == 1
                && line_end < self.bytes.len()
            {
                line.pop();
                let next_start = self.pos;
                let next_end = self
                    .bytes
                    .get(next_start..)
                    .and_then(|rest| rest.iter().position(|b| *b == b'\n'))
                    .map_or(self.bytes.len(), |n| next_start + n);
                line.push_str(self.src.get(next_start..next_end).unwrap_or(""));
                self.pos = (next_end + 1).min(self.bytes.len());
                if next_end >= self.bytes.len() {
                    break;
                }
            }
            let line = if doc.strip_tabs {
                line.trim_start_matches('\t')
            } else {
                line.as_str()
            };
            if line == doc.delimiter {
                let body = start..line_start;
                let flags = if doc.expand {
                    self.heredoc_flags(body.clone())
                } else {
                    0
                };
                self.items.push(Item::Word(Word {
                    value: String::new(),
                    span: body,
                    quoted: true,
                    flags,
                }));
                return Ok(());
            }
        }
    }

    /// What expands in an unquoted here-document body (`$`, `` ` ``; `\` escapes).
    fn heredoc_flags(&self, body: Range<usize>) -> u16 {
        let bytes = self.bytes.get(body).unwrap_or(&[]);
        let mut flags = 0;
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'\\' => i += 2,
                b'`' => {
                    flags |= CMDSUB;
                    i += 1;
                }
                b'$' => {
                    match bytes.get(i + 1) {
                        Some(b'(') if bytes.get(i + 2) == Some(&b'(') => flags |= ARITH,
                        Some(b'(') => flags |= CMDSUB,
                        Some(b'[') => flags |= ARITH,
                        Some(b'{') => flags |= PARAMOP,
                        Some(c) if is_name_byte(*c) || b"@*#?$!-".contains(c) => flags |= VAR,
                        _ => {}
                    }
                    i += 1;
                }
                _ => i += 1,
            }
        }
        flags
    }

    /// Reads a command list up to the end (or an unmatched `)` for a subshell or a
    /// substitution, which it consumes).
    fn list(&mut self, term: Term) -> Result<(), ParseError> {
        let mut state = State::Start;
        let mut current: Option<Simple> = None;
        let mut case_depth = 0usize;
        let mut patterns_seen = false;
        loop {
            self.skip_blanks();
            let Some(b) = self.peek() else {
                self.finish(&mut current);
                if term == Term::Paren {
                    return Err(self.syntax("`(` is not closed", self.pos..self.pos));
                }
                return Ok(());
            };
            let at = self.pos;
            match b {
                b'#' => self.skip_comment(),
                b'\n' => {
                    self.finish(&mut current);
                    self.newline()?;
                    state = match state {
                        State::Simple | State::AfterTime => State::Start,
                        // `for x` may be followed by `in` or `do` on the next line.
                        State::ForWords => State::Start,
                        State::FunctionParens => State::Start,
                        other => other,
                    };
                }
                b';' => {
                    self.finish(&mut current);
                    if self.starts_with(";;&") {
                        self.pos += 3;
                    } else if self.starts_with(";;") || self.starts_with(";&") {
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                        if matches!(state, State::CasePattern | State::CaseWord | State::CaseIn) {
                            return Err(self.syntax("unexpected `;`", at..self.pos));
                        }
                        state = State::Start;
                        continue;
                    }
                    if case_depth == 0 {
                        return Err(self.syntax("`;;` outside `case`", at..self.pos));
                    }
                    state = State::CasePattern;
                    patterns_seen = false;
                }
                b'&' => {
                    if self.starts_with("&>") {
                        self.redirect(&mut current, &mut state, at)?;
                        continue;
                    }
                    self.finish(&mut current);
                    self.pos += if self.starts_with("&&") { 2 } else { 1 };
                    self.require_command_done(state, at)?;
                    state = State::Start;
                }
                b'|' => {
                    if state == State::CasePattern {
                        self.pos += 1;
                        continue;
                    }
                    self.finish(&mut current);
                    self.pos += if self.starts_with("||") || self.starts_with("|&") {
                        2
                    } else {
                        1
                    };
                    self.require_command_done(state, at)?;
                    state = State::Start;
                }
                b'(' => match state {
                    State::Start | State::AfterTime => {
                        if self.peek_at(1) == Some(b'(') {
                            let span = self.arithmetic_command()?;
                            self.items.push(Item::Arithmetic(span));
                        } else {
                            self.pos += 1;
                            self.enter()?;
                            self.list(Term::Paren)?;
                            self.leave();
                        }
                        state = State::AfterCompound;
                    }
                    State::ForName => {
                        let span = self.arithmetic_command()?;
                        self.items.push(Item::Arithmetic(span));
                        state = State::ForIn;
                    }
                    State::CasePattern if !patterns_seen => self.pos += 1,
                    State::Simple
                        if current
                            .as_ref()
                            .is_some_and(|c| c.words.len() == 1 && c.assignments.is_empty()) =>
                    {
                        // `name ()`: a function definition.
                        self.pos += 1;
                        self.skip_blanks();
                        if self.peek() != Some(b')') {
                            return Err(self.syntax("expected `)` after `name (`", at..self.pos));
                        }
                        self.pos += 1;
                        if let Some(simple) = current.take() {
                            let span = simple.span.start..self.pos;
                            if let Some(name) = simple.words.into_iter().next() {
                                self.items.push(Item::Function(name.value, span));
                            }
                        }
                        state = State::FunctionParens;
                    }
                    State::FunctionParens | State::FunctionName => {
                        self.pos += 1;
                        self.skip_blanks();
                        if self.peek() != Some(b')') {
                            return Err(
                                self.syntax("expected `)` after `function name (`", at..self.pos)
                            );
                        }
                        self.pos += 1;
                        state = State::FunctionParens;
                    }
                    _ => return Err(self.syntax("unexpected `(`", at..at + 1)),
                },
                b')' => {
                    if state == State::CasePattern {
                        self.pos += 1;
                        state = State::Start;
                        continue;
                    }
                    self.finish(&mut current);
                    if term == Term::Paren {
                        self.pos += 1;
                        return Ok(());
                    }
                    return Err(self.syntax("unexpected `)`", at..at + 1));
                }
                b'<' | b'>' if self.peek_at(1) == Some(b'(') => {
                    let word = self.word()?;
                    self.take_word(
                        word,
                        &mut current,
                        &mut state,
                        &mut case_depth,
                        &mut patterns_seen,
                    )?;
                }
                b'<' | b'>' => self.redirect(&mut current, &mut state, at)?,
                _ => {
                    let word = self.word()?;
                    // An IO number (`2>`) or a `{var}>`: the word names a descriptor.
                    if matches!(self.peek(), Some(b'<' | b'>'))
                        && !word.quoted
                        && word.flags & !BRACE == 0
                        && (word.value.bytes().all(|c| c.is_ascii_digit())
                            || (word.value.starts_with('{') && word.value.ends_with('}')))
                        && !word.value.is_empty()
                        && self.peek_at(1) != Some(b'(')
                    {
                        self.redirect(&mut current, &mut state, at)?;
                        continue;
                    }
                    self.take_word(
                        word,
                        &mut current,
                        &mut state,
                        &mut case_depth,
                        &mut patterns_seen,
                    )?;
                }
            }
        }
    }

    fn require_command_done(&self, state: State, at: usize) -> Result<(), ParseError> {
        match state {
            State::CaseWord | State::CaseIn | State::CasePattern | State::ForName => {
                Err(self.syntax("unexpected operator", at..self.pos))
            }
            _ => Ok(()),
        }
    }

    fn finish(&mut self, current: &mut Option<Simple>) {
        if let Some(simple) = current.take() {
            self.items.push(Item::Simple(simple));
        }
    }

    fn take_word(
        &mut self,
        word: Word,
        current: &mut Option<Simple>,
        state: &mut State,
        case_depth: &mut usize,
        patterns_seen: &mut bool,
    ) -> Result<(), ParseError> {
        let unquoted = !word.quoted && word.flags == 0;
        let reserved = |s: &str| unquoted && word.value == s;
        match *state {
            State::Start | State::AfterTime | State::FunctionParens | State::AfterCompound => {
                if *state == State::AfterTime && (reserved("-p") || reserved("--")) {
                    *state = State::Start;
                    return Ok(());
                }
                if unquoted && RESERVED_CLOSE.contains(&word.value.as_str()) {
                    *state = State::AfterCompound;
                    return Ok(());
                }
                if reserved("esac") && *case_depth > 0 {
                    *case_depth -= 1;
                    *state = State::AfterCompound;
                    return Ok(());
                }
                if unquoted && matches!(word.value.as_str(), "then" | "else" | "elif" | "do") {
                    *state = State::Start;
                    return Ok(());
                }
                if *state == State::AfterCompound {
                    return Err(self.syntax(
                        format!("unexpected word `{}` after a compound command", word.value),
                        word.span,
                    ));
                }
                if unquoted && RESERVED_START.contains(&word.value.as_str()) {
                    *state = State::Start;
                    return Ok(());
                }
                if reserved("time") {
                    *state = State::AfterTime;
                    return Ok(());
                }
                if reserved("case") {
                    *state = State::CaseWord;
                    return Ok(());
                }
                if reserved("for") || reserved("select") {
                    *state = State::ForName;
                    return Ok(());
                }
                if reserved("function") {
                    *state = State::FunctionName;
                    return Ok(());
                }
                if reserved("[[") {
                    self.test_command(word)?;
                    *state = State::AfterCompound;
                    return Ok(());
                }
                if reserved("coproc") {
                    self.items.push(Item::Arithmetic(word.span));
                    *state = State::Start;
                    return Ok(());
                }
                *state = State::Simple;
                self.add_to_simple(word, current);
            }
            State::Simple => self.add_to_simple(word, current),
            State::CaseWord => {
                self.items.push(Item::Word(word));
                *state = State::CaseIn;
            }
            State::CaseIn => {
                if !reserved("in") {
                    return Err(self.syntax("expected `in` after the `case` word", word.span));
                }
                *case_depth += 1;
                *state = State::CasePattern;
                *patterns_seen = false;
            }
            State::CasePattern => {
                if reserved("esac") && !*patterns_seen {
                    *case_depth = case_depth.saturating_sub(1);
                    *state = State::AfterCompound;
                    return Ok(());
                }
                *patterns_seen = true;
                self.items.push(Item::Word(word));
            }
            State::ForName => *state = State::ForIn,
            State::ForIn => {
                if reserved("in") {
                    *state = State::ForWords;
                } else if reserved("do") {
                    *state = State::Start;
                } else {
                    return Err(self.syntax("expected `in` or `do` in `for`", word.span));
                }
            }
            State::ForWords => self.items.push(Item::Word(word)),
            State::FunctionName => {
                let span = word.span.clone();
                self.items.push(Item::Function(word.value, span));
                *state = State::FunctionParens;
            }
        }
        Ok(())
    }

    fn add_to_simple(&mut self, word: Word, current: &mut Option<Simple>) {
        let simple = current.get_or_insert_with(|| Simple {
            span: word.span.clone(),
            words: Vec::with_capacity(8),
            ..Simple::default()
        });
        simple.span.end = simple.span.end.max(word.span.end);
        if simple.words.is_empty() {
            let raw = self.src.get(word.span.clone()).unwrap_or("");
            if let Some(name) = assignment_name(raw) {
                let name = name.to_owned();
                simple.assignments.push(Assignment { name, value: word });
                return;
            }
        }
        simple.words.push(word);
    }

    /// `[[ ... ]]`: the words up to `]]`; `(`, `)`, `<`, `>`, `&&`, `||`, `!` are the
    /// test's own operators here.
    fn test_command(&mut self, open: Word) -> Result<(), ParseError> {
        let mut simple = Simple {
            span: open.span.clone(),
            ..Simple::default()
        };
        simple.words.push(open);
        loop {
            self.skip_blanks();
            match self.peek() {
                None => return Err(self.syntax("`[[` is not closed", simple.span.clone())),
                Some(b'\n') => self.newline()?,
                Some(b'(' | b')' | b'<' | b'>' | b'&' | b'|' | b';') => {
                    if self.peek() == Some(b';') {
                        return Err(self.syntax("unexpected `;` in `[[`", self.pos..self.pos + 1));
                    }
                    let start = self.pos;
                    self.pos += 1;
                    if matches!(self.peek(), Some(b'&' | b'|')) {
                        self.pos += 1;
                    }
                    simple.words.push(Word {
                        span: start..self.pos,
                        value: self.src.get(start..self.pos).unwrap_or("").to_owned(),
                        quoted: false,
                        flags: 0,
                    });
                }
                Some(_) => {
                    let word = self.word()?;
                    simple.span.end = word.span.end;
                    let done = word.is_plain("]]");
                    simple.words.push(word);
                    if done {
                        self.items.push(Item::Simple(simple));
                        return Ok(());
                    }
                }
            }
        }
    }

    /// `((...))` (also after `for`): scanned to the matching `))`.
    fn arithmetic_command(&mut self) -> Result<Range<usize>, ParseError> {
        let start = self.pos;
        self.pos += 2;
        self.balanced_parens(2, start)?;
        Ok(start..self.pos)
    }

    /// Scans to where `open` parentheses are closed (quotes and substitutions are
    /// skipped whole).
    fn balanced_parens(&mut self, open: usize, start: usize) -> Result<u16, ParseError> {
        // Substitutions inside recurse back here: count the level.
        self.enter()?;
        let flags = self.balanced_parens_inner(open, start);
        self.leave();
        flags
    }

    fn balanced_parens_inner(&mut self, mut open: usize, start: usize) -> Result<u16, ParseError> {
        let mut flags = 0;
        while open > 0 {
            let Some(b) = self.peek() else {
                return Err(self.syntax("`(` is not closed", start..self.pos));
            };
            match b {
                b'(' => {
                    open += 1;
                    self.pos += 1;
                }
                b')' => {
                    open -= 1;
                    self.pos += 1;
                }
                b'\\' => self.pos += 2,
                b'\'' => {
                    self.single_quoted(&mut Vec::new())?;
                }
                b'"' => {
                    flags |= self.double_quoted(&mut Vec::new())?;
                }
                b'$' => flags |= self.dollar(&mut Vec::new(), false)?,
                b'`' => flags |= self.backquoted()?,
                _ => self.pos += 1,
            }
        }
        self.pos = self.pos.min(self.bytes.len());
        Ok(flags)
    }

    /// Reads a redirection operator and its target.
    fn redirect(
        &mut self,
        current: &mut Option<Simple>,
        state: &mut State,
        start: usize,
    ) -> Result<(), ParseError> {
        const OPS: &[(&str, RedirectKind)] = &[
            ("&>>", RedirectKind::File),
            ("&>", RedirectKind::File),
            ("<<<", RedirectKind::HereString),
            ("<<-", RedirectKind::HereDoc),
            ("<<", RedirectKind::HereDoc),
            ("<>", RedirectKind::File),
            ("<&", RedirectKind::Duplicate),
            (">&", RedirectKind::Duplicate),
            (">>", RedirectKind::File),
            (">|", RedirectKind::File),
            ("<", RedirectKind::File),
            (">", RedirectKind::File),
        ];
        let Some((op, kind)) = OPS.iter().find(|(op, _)| self.starts_with(op)) else {
            return Err(self.syntax("unexpected character", self.pos..self.pos + 1));
        };
        self.pos += op.len();
        self.skip_blanks();
        match self.peek() {
            None => return Err(self.syntax(format!("`{op}` without a target"), start..self.pos)),
            Some(b)
                if is_meta(b) && !(matches!(b, b'<' | b'>') && self.peek_at(1) == Some(b'(')) =>
            {
                return Err(self.syntax(format!("`{op}` without a target"), start..self.pos));
            }
            Some(_) => {}
        }
        let target = self.word()?;
        let mut kind = kind.clone();
        if kind == RedirectKind::Duplicate {
            let v = target.value.as_str();
            let fd = !v.is_empty()
                && (v == "-" || v.trim_end_matches('-').bytes().all(|c| c.is_ascii_digit()));
            if !(fd && target.is_literal()) {
                // `>&word` that is not a descriptor: a file (stdout and stderr).
                kind = RedirectKind::File;
            }
        }
        if kind == RedirectKind::HereDoc {
            if target.flags & !(GLOB | BRACE) != 0 {
                // Bash compares body lines with the delimiter's text, unexpanded.
                return Err(self.syntax(
                    "a here-document delimiter with `$` or `` ` ``",
                    start..target.span.end,
                ));
            }
            let delimiter = target.value.clone();
            self.heredocs.push(PendingHereDoc {
                delimiter,
                strip_tabs: *op == "<<-",
                expand: !target.quoted,
                at: start,
            });
        }
        let redirect = Redirect {
            span: start..target.span.end,
            kind,
            writes: !matches!(*op, "<" | "<&" | "<<" | "<<-" | "<<<"),
            target,
        };
        match state {
            State::Start | State::AfterTime | State::Simple => {
                let simple = current.get_or_insert_with(|| Simple {
                    span: start..start,
                    ..Simple::default()
                });
                simple.span.end = redirect.span.end;
                simple.redirects.push(redirect);
                *state = State::Simple;
            }
            State::AfterCompound => self.items.push(Item::Redirect(redirect)),
            _ => return Err(self.syntax("unexpected redirection", redirect.span)),
        }
        Ok(())
    }

    /// Reads one word at `pos` (which is not a blank or an operator, except a
    /// process substitution's `<(`/`>(`).
    fn word(&mut self) -> Result<Word, ParseError> {
        let start = self.pos;
        if let Some(word) = self.plain_word() {
            return Ok(word);
        }
        let mut value: Vec<u8> = Vec::with_capacity(16);
        let mut quoted = false;
        let mut flags = 0u16;
        // Brace expansion: an unquoted `{` later closed, with an unquoted `,` or `..`.
        let mut brace_open = 0usize;
        let mut brace_sep = false;
        let mut bracket_open = false;
        let assignment = assignment_name(self.src.get(start..).unwrap_or("")).is_some();
        while let Some(b) = self.peek() {
            let at_start = self.pos == start;
            match b {
                b'<' | b'>' if self.peek_at(1) == Some(b'(') && (at_start || !value.is_empty()) => {
                    // Process substitution.
                    let open = self.pos;
                    self.pos += 2;
                    self.enter()?;
                    self.list(Term::Paren)?;
                    self.leave();
                    flags |= PROCSUB;
                    value.extend_from_slice(self.bytes.get(open..self.pos).unwrap_or(&[]));
                }
                b'(' if assignment
                    && value.last() == Some(&b'=')
                    && !quoted
                    && value.iter().filter(|c| **c == b'=').count() == 1 =>
                {
                    // `a=(1 2 3)`.
                    self.pos += 1;
                    flags |= ARRAY | self.balanced_parens(1, start)?;
                }
                b'?' | b'*' | b'+' | b'@' | b'!' if self.peek_at(1) == Some(b'(') => {
                    // An extended glob.
                    self.pos += 2;
                    flags |= GLOB | self.balanced_parens(1, start)?;
                }
                _ if is_meta(b) => break,
                b'\\' => match self.peek_at(1) {
                    Some(b'\n') => self.pos += 2,
                    Some(_) => {
                        let ch_len = self.char_len(self.pos + 1);
                        value.extend_from_slice(
                            self.bytes
                                .get(self.pos + 1..self.pos + 1 + ch_len)
                                .unwrap_or(&[]),
                        );
                        quoted = true;
                        self.pos += 1 + ch_len;
                    }
                    None => {
                        value.push(b'\\');
                        self.pos += 1;
                    }
                },
                b'\'' => {
                    quoted = true;
                    self.single_quoted(&mut value)?;
                }
                b'"' => {
                    quoted = true;
                    flags |= self.double_quoted(&mut value)?;
                }
                b'$' if self.peek_at(1) == Some(b'\'') => {
                    quoted = true;
                    flags |= self.ansi_c(&mut value)?;
                }
                b'$' if self.peek_at(1) == Some(b'"') => {
                    quoted = true;
                    self.pos += 1;
                    flags |= self.double_quoted(&mut value)?;
                }
                b'$' => flags |= self.dollar(&mut value, false)?,
                b'`' => flags |= self.backquoted()?,
                b'~' if at_start || (assignment && matches!(value.last(), Some(b'=' | b':'))) => {
                    flags |= VAR;
                    value.push(b);
                    self.pos += 1;
                }
                b'*' | b'?' => {
                    flags |= GLOB;
                    value.push(b);
                    self.pos += 1;
                }
                b'[' => {
                    bracket_open = true;
                    value.push(b);
                    self.pos += 1;
                }
                b']' => {
                    if bracket_open {
                        flags |= GLOB;
                    }
                    value.push(b);
                    self.pos += 1;
                }
                b'{' => {
                    brace_open += 1;
                    value.push(b);
                    self.pos += 1;
                }
                b',' if brace_open > 0 => {
                    brace_sep = true;
                    value.push(b);
                    self.pos += 1;
                }
                b'.' if brace_open > 0 && self.peek_at(1) == Some(b'.') => {
                    brace_sep = true;
                    value.extend_from_slice(b"..");
                    self.pos += 2;
                }
                b'}' => {
                    if brace_open > 0 && brace_sep {
                        flags |= BRACE;
                    }
                    brace_open = brace_open.saturating_sub(1);
                    value.push(b);
                    self.pos += 1;
                }
                _ => {
                    let ch_len = self.char_len(self.pos);
                    value.extend_from_slice(
                        self.bytes.get(self.pos..self.pos + ch_len).unwrap_or(&[]),
                    );
                    self.pos += ch_len;
                }
            }
        }
        let value = match String::from_utf8(value) {
            Ok(v) => v,
            Err(e) => {
                flags |= OPAQUE;
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        };
        if value.contains('\0') {
            flags |= OPAQUE;
        }
        Ok(Word {
            span: start..self.pos,
            value,
            quoted,
            flags,
        })
    }

    /// The fast path of [`Reader::word`]: a word of ordinary characters only (no
    /// quoting, escapes, expansions, glob or brace characters, `~`) that ends at a
    /// blank, an operator other than `(`, or the end. Its value is its text.
    fn plain_word(&mut self) -> Option<Word> {
        let start = self.pos;
        let rest = self.bytes.get(start..)?;
        let len = rest
            .iter()
            .position(|b| !is_plain(*b))
            .unwrap_or(rest.len());
        match rest.get(len) {
            None => {}
            Some(b'(') => return None,
            Some(b'<' | b'>') if rest.get(len + 1) == Some(&b'(') => return None,
            Some(b) if is_meta(*b) => {}
            Some(_) => return None,
        }
        if len == 0 {
            return None;
        }
        let value = self.src.get(start..start + len)?.to_owned();
        self.pos = start + len;
        Some(Word {
            span: start..self.pos,
            value,
            quoted: false,
            flags: 0,
        })
    }

    /// The length of the UTF-8 character at `at` (1 for ASCII or a stray byte).
    fn char_len(&self, at: usize) -> usize {
        match self.bytes.get(at) {
            Some(b) if *b >= 0xF0 => 4,
            Some(b) if *b >= 0xE0 => 3,
            Some(b) if *b >= 0xC0 => 2,
            _ => 1,
        }
        .min(self.bytes.len().saturating_sub(at).max(1))
    }

    fn single_quoted(&mut self, value: &mut Vec<u8>) -> Result<(), ParseError> {
        let start = self.pos;
        self.pos += 1;
        let rest = self.bytes.get(self.pos..).unwrap_or(&[]);
        match rest.iter().position(|b| *b == b'\'') {
            Some(n) => {
                value.extend_from_slice(rest.get(..n).unwrap_or(&[]));
                self.pos += n + 1;
                Ok(())
            }
            None => Err(self.syntax("a `'` quote is not closed", start..self.bytes.len())),
        }
    }

    fn double_quoted(&mut self, value: &mut Vec<u8>) -> Result<u16, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut flags = 0;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.syntax("a `\"` quote is not closed", start..self.bytes.len()));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(flags);
                }
                b'\\' => match self.peek_at(1) {
                    Some(b'\n') => self.pos += 2,
                    Some(c @ (b'$' | b'`' | b'"' | b'\\')) => {
                        value.push(c);
                        self.pos += 2;
                    }
                    _ => {
                        value.push(b'\\');
                        self.pos += 1;
                    }
                },
                b'$' => flags |= self.dollar(value, true)?,
                b'`' => flags |= self.backquoted()?,
                _ => {
                    value.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    /// `$'...'`: ANSI-C quoting, decoded.
    fn ansi_c(&mut self, value: &mut Vec<u8>) -> Result<u16, ParseError> {
        let start = self.pos;
        self.pos += 2;
        let mut flags = 0;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.syntax("a `$'` quote is not closed", start..self.bytes.len()));
            };
            self.pos += 1;
            match b {
                b'\'' => return Ok(flags),
                b'\\' => {
                    let Some(e) = self.peek() else { continue };
                    self.pos += 1;
                    match e {
                        b'a' => value.push(0x07),
                        b'b' => value.push(0x08),
                        b'e' | b'E' => value.push(0x1b),
                        b'f' => value.push(0x0c),
                        b'n' => value.push(b'\n'),
                        b'r' => value.push(b'\r'),
                        b't' => value.push(b'\t'),
                        b'v' => value.push(0x0b),
                        b'\\' | b'\'' | b'"' | b'?' => value.push(e),
                        b'x' => {
                            let n = self.hex_digits(2);
                            if n.1 == 0 {
                                value.extend_from_slice(b"\\x");
                            } else {
                                value.push(u8::try_from(n.0).unwrap_or(0));
                            }
                        }
                        b'u' | b'U' => {
                            let (code, len) = self.hex_digits(if e == b'u' { 4 } else { 8 });
                            match char::from_u32(code) {
                                Some(c) if len > 0 => {
                                    let mut buf = [0u8; 4];
                                    value.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                                }
                                _ => flags |= OPAQUE,
                            }
                        }
                        b'0'..=b'7' => {
                            let mut code = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        code = code * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            value.push(u8::try_from(code & 0xff).unwrap_or(0));
                        }
                        _ => {
                            // `\c` and unknown escapes: not decoded here.
                            flags |= OPAQUE;
                            value.push(b'\\');
                            value.push(e);
                        }
                    }
                }
                _ => value.push(b),
            }
        }
    }

    fn hex_digits(&mut self, max: usize) -> (u32, usize) {
        let mut code = 0u32;
        let mut len = 0;
        while len < max {
            match self.peek().and_then(|d| char::from(d).to_digit(16)) {
                Some(d) => {
                    code = code.saturating_mul(16).saturating_add(d);
                    self.pos += 1;
                    len += 1;
                }
                None => break,
            }
        }
        (code, len)
    }

    /// `$...` at `pos`: a substitution, arithmetic, a parameter, or a literal `$`.
    ///
    /// In double quotes, `"$(cat <<'EOF' ... EOF)"` (a quoted delimiter, nothing else
    /// in the substitution) is known before the line runs: it is the body without its
    /// trailing newlines, the way agents write commit messages.
    fn dollar(&mut self, value: &mut Vec<u8>, in_quotes: bool) -> Result<u16, ParseError> {
        // `$(`, `$((` and `${` recurse (through lists, quotes and parameters): every
        // level counts against the nesting limit.
        self.enter()?;
        let flags = self.dollar_inner(value, in_quotes);
        self.leave();
        flags
    }

    fn dollar_inner(&mut self, value: &mut Vec<u8>, in_quotes: bool) -> Result<u16, ParseError> {
        let start = self.pos;
        match self.peek_at(1) {
            Some(b'(') if self.peek_at(2) == Some(b'(') => {
                self.pos += 3;
                let inner = self.balanced_parens(2, start)?;
                Ok(ARITH | inner)
            }
            Some(b'(') => {
                self.pos += 2;
                let items = self.items.len();
                self.list(Term::Paren)?;
                if in_quotes {
                    let inner = self
                        .src
                        .get(start + 2..self.pos.saturating_sub(1))
                        .unwrap_or("");
                    if let Some(body) = static_cat_heredoc(inner) {
                        self.items.truncate(items);
                        value.extend_from_slice(body.as_bytes());
                        return Ok(0);
                    }
                }
                Ok(CMDSUB)
            }
            Some(b'[') => {
                self.pos += 2;
                let rest = self.bytes.get(self.pos..).unwrap_or(&[]);
                match rest.iter().position(|b| *b == b']') {
                    Some(n) => {
                        self.pos += n + 1;
                        Ok(ARITH)
                    }
                    None => Err(self.syntax("`$[` is not closed", start..self.bytes.len())),
                }
            }
            Some(b'{') => {
                self.pos += 2;
                let body_start = self.pos;
                let mut depth = 1usize;
                let mut flags = 0;
                while depth > 0 {
                    let Some(b) = self.peek() else {
                        return Err(self.syntax("`${` is not closed", start..self.bytes.len()));
                    };
                    match b {
                        b'{' => {
                            depth += 1;
                            self.pos += 1;
                        }
                        b'}' => {
                            depth -= 1;
                            self.pos += 1;
                        }
                        b'\\' => self.pos += 2,
                        b'\'' => self.single_quoted(&mut Vec::new())?,
                        b'"' => flags |= self.double_quoted(&mut Vec::new())?,
                        b'$' => flags |= self.dollar(&mut Vec::new(), false)?,
                        b'`' => flags |= self.backquoted()?,
                        _ => self.pos += 1,
                    }
                }
                self.pos = self.pos.min(self.bytes.len());
                let body = self
                    .src
                    .get(body_start..self.pos.saturating_sub(1))
                    .unwrap_or("");
                let name = body
                    .strip_prefix('#')
                    .filter(|n| !n.is_empty())
                    .unwrap_or(body);
                let simple = (name.bytes().next().is_some_and(is_name_start)
                    && name.bytes().all(is_name_byte))
                    || (!name.is_empty() && name.bytes().all(|c| c.is_ascii_digit()))
                    || (name.len() == 1 && name.bytes().all(|c| b"@*#?$!-".contains(&c)));
                Ok(flags | if simple { VAR } else { PARAMOP })
            }
            Some(c) if is_name_start(c) => {
                self.pos += 2;
                while self.peek().is_some_and(is_name_byte) {
                    self.pos += 1;
                }
                Ok(VAR)
            }
            Some(c) if c.is_ascii_digit() || b"@*#?$!-".contains(&c) => {
                self.pos += 2;
                Ok(VAR)
            }
            _ => {
                value.push(b'$');
                self.pos += 1;
                Ok(0)
            }
        }
    }

    /// `` `...` ``: scanned to the closing backquote.
    fn backquoted(&mut self) -> Result<u16, ParseError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                None => {
                    return Err(self.syntax("a `` ` `` is not closed", start..self.bytes.len()));
                }
                Some(b'\\') => self.pos += 2,
                Some(b'`') => {
                    self.pos += 1;
                    return Ok(CMDSUB);
                }
                Some(_) => self.pos += 1,
            }
        }
    }
}

/// The output of `cat <<'DELIM'` + body + `DELIM` (the whole text of a command
/// substitution), without its trailing newlines; `None` for anything else.
fn static_cat_heredoc(inner: &str) -> Option<&str> {
    let blanks: &[char] = &[' ', '\t'];
    let s = inner.trim_start_matches(blanks).strip_prefix("cat")?;
    let s = s.trim_start_matches(blanks).strip_prefix("<<")?;
    if s.starts_with(['-', '<']) {
        return None;
    }
    let s = s.trim_start_matches(blanks);
    let quote = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let s = s.get(1..)?;
    let end = s.find(quote)?;
    let delimiter = s.get(..end)?;
    if delimiter.is_empty()
        || delimiter
            .bytes()
            .any(|b| matches!(b, b'\n' | b'$' | b'`' | b'\\' | b'\'' | b'"'))
    {
        return None;
    }
    let rest = s
        .get(end + 1..)?
        .trim_start_matches(blanks)
        .strip_prefix('\n')?;
    let mut line_start = 0;
    loop {
        let line_end = rest
            .get(line_start..)?
            .find('\n')
            .map_or(rest.len(), |n| line_start + n);
        if rest.get(line_start..line_end)? == delimiter {
            let after = rest.get(line_end..)?;
            if !after.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n')) {
                return None;
            }
            return Some(rest.get(..line_start)?.trim_end_matches('\n'));
        }
        if line_end >= rest.len() {
            return None;
        }
        line_start = line_end + 1;
    }
}
