//! How a tool reads its own argv: the option style, which options take values, their
//! aliases, abbreviation, and the tree of subcommand scopes. Built from `[syntax]`
//! (and from the commands that rules name), then used by the reader.

use toml::Spanned;

use crate::automaton::FnvMap;
use crate::error::{CompileError, ErrorKind, Source};
use crate::format::{
    RawAccess, RawDoubleDash, RawOperands, RawPath, RawPaths, RawScope, RawStyle, RawSyntax,
    RawUndeclared,
};
use crate::paths::{PathAccess, PathForm, PathSpec};

/// Index of a declared option in [`Syntax::options`].
pub(crate) type OptId = u32;
/// Index of a node in the subcommand tree; the root (global scope) is 0.
pub(crate) type NodeId = usize;

/// The option conventions of a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Unknown tool: `-x=v` and `--x=v` split, `-word` is one option, no bundling.
    Generic,
    /// getopt_long / git parse-options: bundling, `-ovalue`, `--long[=v]`.
    Gnu,
    /// cobra/pflag: like gnu, plus `-o=value` and booleans taking `=value`.
    Pflag,
    /// Go's `flag` package: one or two dashes, `-name=value`, stops at a non-flag.
    Go,
}

/// What an option does with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Takes no value.
    Flag,
    /// Requires a value: attached or the next argument.
    Value,
    /// Takes a value only when attached (`--opt=value`, `-ovalue`).
    Optional,
    /// A boolean: `--opt` is true, `--opt=false` is false; never takes the next argument.
    Bool,
}

/// One declared option: every name it answers to, and its kind.
#[derive(Debug, Clone)]
pub(crate) struct OptionSpec {
    /// Normalized names; `names[0]` is the canonical one shown in readings.
    pub names: Vec<String>,
    pub kind: Kind,
    /// Declared in the global scope.
    pub global: bool,
    /// Its value's path declarations, indexes into [`Syntax::paths`].
    pub paths: Vec<u32>,
}

/// Which operands of a scope are paths (indexes into [`Syntax::paths`]).
#[derive(Debug, Clone)]
pub(crate) enum OperandPaths {
    /// Every operand.
    Every(u32),
    /// By position: the first operand, the second, ...; later ones are not paths.
    Each(Vec<u32>),
}

impl OperandPaths {
    /// The path declaration of the operand at `position` (from 1).
    pub(crate) fn spec(&self, position: usize) -> Option<u32> {
        match self {
            OperandPaths::Every(spec) => Some(*spec),
            OperandPaths::Each(specs) => specs.get(position.checked_sub(1)?).copied(),
        }
    }
}

/// The options of one scope.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScopeTable {
    exact: FnvMap<String, OptId>,
    /// One-letter ASCII options (`-c`), by letter: the common case without hashing.
    ascii_shorts: Vec<Option<OptId>>,
    /// Long names (`--x`, or `-x` in go style) sorted, for prefix lookup.
    longs: Vec<(String, OptId)>,
    abbreviate: bool,
    /// Declared in `[syntax.global]` or `[syntax.commands]` (not only made for a rule's
    /// path or as a step of a longer path).
    pub declared: bool,
    pub options_until: Option<u32>,
    /// Which operands of this scope are paths.
    pub operands: Option<OperandPaths>,
}

impl ScopeTable {
    /// Records `name` in the letter table when it is `-` and one ASCII letter.
    fn index_short(&mut self, name: &str, id: OptId) {
        let mut chars = name.chars();
        if let (Some('-'), Some(c), None) = (chars.next(), chars.next(), chars.next()) {
            if c.is_ascii() {
                if self.ascii_shorts.is_empty() {
                    self.ascii_shorts = vec![None; 128];
                }
                if let Some(slot) = self.ascii_shorts.get_mut(c as usize) {
                    *slot = Some(id);
                }
            }
        }
    }
}

/// A node of the subcommand tree.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathNode {
    pub table: ScopeTable,
    pub children: FnvMap<String, NodeId>,
}

/// The compiled syntax of a module.
#[derive(Debug, Clone)]
pub(crate) struct Syntax {
    pub style: Style,
    pub global_anywhere: bool,
    /// Global options are looked up before the subcommand's own, in every scope
    /// (`global_first = true`): argparse's parent parser in aws reads `--reg` as
    /// `--region` even where the operation has `--registry-id`.
    pub global_first: bool,
    /// A value option never takes a following argument that looks like an option
    /// (`values_skip_options = true`): argparse leaves `--filters --region x` with no
    /// filters and reads `--region x`.
    pub values_skip_options: bool,
    pub double_dash_ends_options: bool,
    /// Undeclared options always take a following non-option word as their value
    /// (`undeclared = "takes-value"`) instead of being read both ways.
    pub undeclared_takes_value: bool,
    /// Undeclared options make the argv unreadable, hence denied
    /// (`undeclared = "deny"`).
    pub undeclared_denied: bool,
    /// Undeclared options make the argv unreadable in the scopes the module declares,
    /// and take a following non-option word as their value elsewhere
    /// (`undeclared = "deny-declared"`).
    pub undeclared_denied_declared: bool,
    pub subcommands: bool,
    /// Whether scopes abbreviate long options unless they say otherwise.
    pub default_abbreviate: bool,
    pub nodes: Vec<PathNode>,
    pub options: Vec<OptionSpec>,
    /// The path declarations of options and operands.
    pub paths: Vec<PathSpec>,
    /// The path declarations of every option value without one of its own.
    pub value_paths: Vec<u32>,
}

/// The result of looking an option name up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// A declared option; `global` says whether it came from the global scope.
    Found(OptId, bool),
    /// An abbreviation that fits several different options: the tool rejects it.
    Ambiguous,
    /// Not declared.
    Unknown,
}

impl Syntax {
    /// Builds the syntax from `[syntax]` (or the defaults when absent).
    pub(crate) fn build(raw: Option<&RawSyntax>, src: Source<'_>) -> Result<Self, CompileError> {
        let default = RawSyntax::default();
        let raw = raw.unwrap_or(&default);
        let style = match raw.style.as_ref().map(|s| *s.get_ref()) {
            None | Some(RawStyle::Generic) => Style::Generic,
            Some(RawStyle::Gnu) => Style::Gnu,
            Some(RawStyle::Pflag) => Style::Pflag,
            Some(RawStyle::Go) => Style::Go,
        };
        let mut syntax = Self {
            style,
            global_anywhere: raw.global_anywhere.unwrap_or(false),
            global_first: raw.global_first.unwrap_or(false),
            values_skip_options: raw.values_skip_options.unwrap_or(false),
            double_dash_ends_options: raw.double_dash != Some(RawDoubleDash::Ignored),
            undeclared_takes_value: raw.undeclared == Some(RawUndeclared::TakesValue),
            undeclared_denied: raw.undeclared == Some(RawUndeclared::Deny),
            undeclared_denied_declared: raw.undeclared == Some(RawUndeclared::DenyDeclared),
            subcommands: raw.subcommands.unwrap_or(!raw.commands.is_empty()),
            default_abbreviate: raw.abbreviate.unwrap_or(false),
            nodes: vec![PathNode::default()],
            options: Vec::new(),
            paths: Vec::new(),
            value_paths: Vec::new(),
        };
        if let Some(raw_paths) = &raw.value_paths {
            syntax.value_paths = syntax.add_paths(raw_paths, src)?;
        }
        let abbreviate = syntax.default_abbreviate;
        if let Some(global) = &raw.global {
            syntax.declare_scope(0, global, true, abbreviate, src)?;
        } else {
            syntax.set_defaults(0, None, abbreviate);
        }
        for (path, scope) in &raw.commands {
            let words = split_path(path.get_ref());
            if words.is_empty() {
                return Err(src.error(ErrorKind::Syntax, path.span(), "empty command path"));
            }
            let node = syntax.ensure_path(&words);
            syntax.declare_scope(node, scope, false, abbreviate, src)?;
        }
        Ok(syntax)
    }

    fn set_defaults(&mut self, node: NodeId, options_until: Option<u32>, abbreviate: bool) {
        let go_default = (self.style == Style::Go).then_some(1);
        if let Some(n) = self.nodes.get_mut(node) {
            n.table.options_until = options_until.or(go_default);
            n.table.abbreviate = abbreviate;
        }
    }

    fn declare_scope(
        &mut self,
        node: NodeId,
        scope: &Spanned<RawScope>,
        global: bool,
        default_abbreviate: bool,
        src: Source<'_>,
    ) -> Result<(), CompileError> {
        let raw = scope.get_ref();
        self.set_defaults(
            node,
            raw.options_until,
            raw.abbreviate.unwrap_or(default_abbreviate),
        );
        if let Some(n) = self.nodes.get_mut(node) {
            n.table.declared = true;
        }
        let groups = [
            (&raw.flags, Kind::Flag),
            (&raw.values, Kind::Value),
            (&raw.optional, Kind::Optional),
            (&raw.bools, Kind::Bool),
        ];
        for (specs, kind) in groups {
            for spec in specs {
                self.declare_option(node, spec, kind, global, src)?;
            }
        }
        if let Some(n) = self.nodes.get_mut(node) {
            n.table.longs.sort();
        }
        for (name, raw_path) in &raw.paths {
            self.declare_option_path(node, name, raw_path, src)?;
        }
        if let Some(operands) = &raw.operands {
            let paths = match operands.get_ref() {
                RawOperands::Every(raw_path) => {
                    OperandPaths::Every(self.add_path(raw_path, operands.span(), src)?)
                }
                RawOperands::Each(list) => OperandPaths::Each(
                    list.iter()
                        .map(|p| self.add_path(p.get_ref(), p.span(), src))
                        .collect::<Result<_, _>>()?,
                ),
            };
            if let Some(n) = self.nodes.get_mut(node) {
                n.table.operands = Some(paths);
            }
        }
        Ok(())
    }

    /// `paths = { NAME = ... }` in the scope of `node`: `NAME` must be an option of that
    /// scope that takes a value, named once.
    fn declare_option_path(
        &mut self,
        node: NodeId,
        name: &Spanned<String>,
        raw_paths: &Spanned<RawPaths>,
        src: Source<'_>,
    ) -> Result<(), CompileError> {
        let normalized = self
            .normalize_name(name.get_ref())
            .map_err(|why| src.error(ErrorKind::Syntax, name.span(), why))?;
        let id = self
            .nodes
            .get(node)
            .and_then(|n| n.table.exact.get(&normalized).copied())
            .ok_or_else(|| {
                src.error(
                    ErrorKind::Syntax,
                    name.span(),
                    format!(
                        "`{}` is not an option of this scope: declare it in `values` or `optional` first",
                        name.get_ref()
                    ),
                )
            })?;
        let specs = self.add_paths(raw_paths, src)?;
        let option = self
            .options
            .get_mut(usize::try_from(id).unwrap_or(usize::MAX))
            .ok_or_else(|| src.error(ErrorKind::Syntax, name.span(), "internal: missing option"))?;
        if matches!(option.kind, Kind::Flag | Kind::Bool) {
            return Err(src.error(
                ErrorKind::Syntax,
                name.span(),
                format!("`{}` takes no value: it cannot name a path", name.get_ref()),
            ));
        }
        if !option.paths.is_empty() {
            return Err(src.error(
                ErrorKind::Syntax,
                name.span(),
                format!(
                    "`{}` already has a path declaration (under another of its names)",
                    name.get_ref()
                ),
            ));
        }
        option.paths = specs;
        Ok(())
    }

    /// Compiles one path declaration or a list of them.
    fn add_paths(
        &mut self,
        raw: &Spanned<RawPaths>,
        src: Source<'_>,
    ) -> Result<Vec<u32>, CompileError> {
        match raw.get_ref() {
            RawPaths::One(path) => Ok(vec![self.add_path(path, raw.span(), src)?]),
            RawPaths::Many(list) => list
                .iter()
                .map(|p| self.add_path(p.get_ref(), p.span(), src))
                .collect(),
        }
    }

    /// Compiles a path declaration and returns its index.
    fn add_path(
        &mut self,
        raw: &RawPath,
        span: std::ops::Range<usize>,
        src: Source<'_>,
    ) -> Result<u32, CompileError> {
        let access = |a: RawAccess| match a {
            RawAccess::Read => PathAccess::Read,
            RawAccess::Write => PathAccess::Write,
            RawAccess::Chdir => PathAccess::Chdir,
        };
        let spec = match raw {
            RawPath::Access(a) => PathSpec {
                access: access(*a),
                form: PathForm::Whole,
                prefixes: Vec::new(),
                unless: None,
            },
            RawPath::Table(table) => {
                let lower = |keys: &[String]| -> Vec<String> {
                    keys.iter().map(|k| k.trim().to_ascii_lowercase()).collect()
                };
                let forms = usize::from(table.before.is_some())
                    + usize::from(!table.fields.is_empty())
                    + usize::from(!table.keys.is_empty());
                if forms > 1 {
                    return Err(src.error(
                        ErrorKind::Syntax,
                        span,
                        "a path is `before` a separator, in `fields` or after `keys`: choose one",
                    ));
                }
                let form = if let Some(before) = &table.before {
                    if before.get_ref().is_empty() {
                        return Err(src.error(
                            ErrorKind::Syntax,
                            before.span(),
                            "`before` needs a separator",
                        ));
                    }
                    PathForm::Before(before.get_ref().clone())
                } else if !table.fields.is_empty() {
                    PathForm::Fields(lower(&table.fields))
                } else if !table.keys.is_empty() {
                    PathForm::Keys(lower(&table.keys))
                } else {
                    PathForm::Whole
                };
                let unless = if table.unless.is_empty() {
                    None
                } else {
                    let mut set = globset::GlobSetBuilder::new();
                    for glob in &table.unless {
                        let compiled = globset::GlobBuilder::new(glob.get_ref())
                            .literal_separator(false)
                            .backslash_escape(true)
                            .empty_alternates(true)
                            .build()
                            .map_err(|e| {
                                src.error(
                                    ErrorKind::Glob,
                                    glob.span(),
                                    format!("invalid glob `{}`: {}", glob.get_ref(), e.kind()),
                                )
                            })?;
                        set.add(compiled);
                    }
                    Some(set.build().map_err(|e| {
                        src.error(ErrorKind::Glob, span.clone(), format!("invalid globs: {e}"))
                    })?)
                };
                PathSpec {
                    access: access(table.access),
                    form,
                    prefixes: table.prefix.clone(),
                    unless,
                }
            }
        };
        let index = u32::try_from(self.paths.len())
            .map_err(|_| src.error(ErrorKind::TooLarge, span, "too many path declarations"))?;
        self.paths.push(spec);
        Ok(index)
    }

    fn declare_option(
        &mut self,
        node: NodeId,
        spec: &Spanned<String>,
        kind: Kind,
        global: bool,
        src: Source<'_>,
    ) -> Result<(), CompileError> {
        let id = OptId::try_from(self.options.len())
            .map_err(|_| src.error(ErrorKind::TooLarge, spec.span(), "too many options"))?;
        let mut names = Vec::new();
        for name in spec.get_ref().split('|').map(str::trim) {
            let normalized = self
                .normalize_name(name)
                .map_err(|why| src.error(ErrorKind::Syntax, spec.span(), why))?;
            names.push(normalized);
        }
        let style = self.style;
        let table = &mut self
            .nodes
            .get_mut(node)
            .ok_or_else(|| src.error(ErrorKind::Syntax, spec.span(), "internal: missing scope"))?
            .table;
        for name in &names {
            table.index_short(name, id);
            if table.exact.insert(name.clone(), id).is_some() {
                return Err(src.error(
                    ErrorKind::Syntax,
                    spec.span(),
                    format!("option `{name}` is declared twice in this scope"),
                ));
            }
            if is_long(style, name) {
                table.longs.push((name.clone(), id));
            }
        }
        // Show the first long name when there is one: `--upload-pack`, not `-u`.
        if let Some(pos) = names.iter().position(|n| is_long(style, n)) {
            names.swap(0, pos);
        }
        self.options.push(OptionSpec {
            names,
            kind,
            global,
            paths: Vec::new(),
        });
        Ok(())
    }

    /// Checks an option name written in the module and puts it in the form the reader
    /// produces (one dash for go style).
    pub(crate) fn normalize_name(&self, name: &str) -> Result<String, String> {
        let body = name.trim_start_matches('-');
        let dashes = name.len() - body.len();
        if dashes == 0 || dashes > 2 || body.is_empty() {
            return Err(format!(
                "`{name}` is not an option name: write `-x`, `--long` or `-long`"
            ));
        }
        if body.contains(['=', ' ', '\t', '&', '|']) {
            return Err(format!(
                "option name `{name}` contains `=`, `&`, `|` or a blank"
            ));
        }
        match self.style {
            Style::Go => Ok(format!("-{body}")),
            Style::Gnu | Style::Pflag if dashes == 1 && body.chars().count() != 1 => Err(format!(
                "`{name}`: in this style a single-dash option is one character; bundles are read letter by letter"
            )),
            _ => Ok(name.to_owned()),
        }
    }

    /// Declares `name` as an option of `kind` in the global scope unless it is already
    /// declared there (generic modules learn value options from their rules).
    pub(crate) fn declare_implicit(&mut self, name: &str, kind: Kind) {
        let Ok(name) = self.normalize_name(name) else {
            return;
        };
        let Ok(id) = OptId::try_from(self.options.len()) else {
            return;
        };
        let style = self.style;
        let Some(table) = self.nodes.first_mut().map(|n| &mut n.table) else {
            return;
        };
        if table.exact.contains_key(&name) {
            return;
        }
        table.exact.insert(name.clone(), id);
        table.index_short(&name, id);
        if is_long(style, &name) {
            table.longs.push((name.clone(), id));
            table.longs.sort();
        }
        self.options.push(OptionSpec {
            names: vec![name],
            kind,
            global: true,
            paths: Vec::new(),
        });
    }

    /// Adds the nodes for a subcommand path and returns the last one.
    pub(crate) fn ensure_path(&mut self, words: &[&str]) -> NodeId {
        let mut node = 0;
        for word in words {
            let existing = self
                .nodes
                .get(node)
                .and_then(|n| n.children.get(*word).copied());
            node = match existing {
                Some(child) => child,
                None => {
                    let child = self.nodes.len();
                    let abbreviate = self.default_abbreviate;
                    self.nodes.push(PathNode::default());
                    self.set_defaults(child, None, abbreviate);
                    if let Some(n) = self.nodes.get_mut(node) {
                        n.children.insert((*word).to_owned(), child);
                    }
                    child
                }
            };
        }
        self.subcommands = true;
        node
    }

    /// The node reached from `node` by `word`, if the tree has it.
    pub(crate) fn child(&self, node: NodeId, word: &str) -> Option<NodeId> {
        self.nodes.get(node)?.children.get(word).copied()
    }

    /// Looks `name` up in the scope of `node` (`None`: a subcommand the syntax does not
    /// know), falling back to the global scope where the syntax allows global options
    /// anywhere. Long names may be abbreviated where the scope allows it.
    pub(crate) fn lookup(&self, node: Option<NodeId>, name: &str) -> Lookup {
        if self.global_first && self.global_anywhere && node != Some(0) {
            let global = self.lookup_in(0, name, true);
            if global != Lookup::Unknown {
                return global;
            }
        }
        let in_scope = match node {
            Some(node) => self.lookup_in(node, name, node == 0),
            None => Lookup::Unknown,
        };
        if in_scope != Lookup::Unknown || node == Some(0) || !self.global_anywhere {
            return in_scope;
        }
        self.lookup_in(0, name, true)
    }

    /// Looks the one-letter option `-c` up, as [`Syntax::lookup`] would.
    pub(crate) fn lookup_short(&self, node: Option<NodeId>, c: char) -> Lookup {
        if self.global_first && self.global_anywhere && node != Some(0) {
            let global = self.lookup_short_in(0, c, true);
            if global != Lookup::Unknown {
                return global;
            }
        }
        let in_scope = match node {
            Some(node) => self.lookup_short_in(node, c, node == 0),
            None => Lookup::Unknown,
        };
        if in_scope != Lookup::Unknown || node == Some(0) || !self.global_anywhere {
            return in_scope;
        }
        self.lookup_short_in(0, c, true)
    }

    fn lookup_short_in(&self, node: NodeId, c: char, global: bool) -> Lookup {
        if !c.is_ascii() {
            let mut buf = [0u8; 8];
            return self.lookup_in(node, crate::reading::short_name(c, &mut buf), global);
        }
        let id = self
            .nodes
            .get(node)
            .and_then(|n| n.table.ascii_shorts.get(c as usize).copied().flatten());
        id.map_or(Lookup::Unknown, |id| Lookup::Found(id, global))
    }

    fn lookup_in(&self, node: NodeId, name: &str, global: bool) -> Lookup {
        let Some(table) = self.nodes.get(node).map(|n| &n.table) else {
            return Lookup::Unknown;
        };
        if let Some(&id) = table.exact.get(name) {
            return Lookup::Found(id, global);
        }
        if !table.abbreviate || !is_long(self.style, name) {
            return Lookup::Unknown;
        }
        let start = table.longs.partition_point(|(n, _)| n.as_str() < name);
        let mut found = None;
        for (long, id) in table.longs.get(start..).unwrap_or(&[]) {
            if !long.starts_with(name) {
                break;
            }
            match found {
                None => found = Some(*id),
                Some(other) if other != *id => return Lookup::Ambiguous,
                Some(_) => {}
            }
        }
        found.map_or(Lookup::Unknown, |id| Lookup::Found(id, global))
    }

    /// The declared option `id`.
    pub(crate) fn option(&self, id: OptId) -> Option<&OptionSpec> {
        self.options.get(usize::try_from(id).ok()?)
    }

    /// The path declaration `index`.
    pub(crate) fn path_spec(&self, index: u32) -> Option<&PathSpec> {
        self.paths.get(usize::try_from(index).ok()?)
    }

    /// Which operands of `node`'s scope are paths.
    pub(crate) fn operand_paths(&self, node: NodeId) -> Option<&OperandPaths> {
        self.nodes.get(node)?.table.operands.as_ref()
    }

    /// Whether an undeclared option read in `node`'s scope makes the argv unreadable.
    pub(crate) fn refuses_undeclared(&self, node: Option<NodeId>) -> bool {
        self.undeclared_denied
            || (self.undeclared_denied_declared
                && node
                    .and_then(|n| self.nodes.get(n))
                    .is_some_and(|n| n.table.declared))
    }

    /// The options-until count of `node`'s scope (`None`: an unknown subcommand).
    pub(crate) fn options_until(&self, node: Option<NodeId>) -> Option<u32> {
        match node {
            Some(node) => self.nodes.get(node).and_then(|n| n.table.options_until),
            None => (self.style == Style::Go).then_some(1),
        }
    }
}

/// Whether `name` is a long option name in `style` (abbreviation applies to these).
fn is_long(style: Style, name: &str) -> bool {
    match style {
        Style::Go | Style::Generic => name.len() > 2,
        Style::Gnu | Style::Pflag => name.starts_with("--"),
    }
}

/// Splits a command path such as `"state rm"` into its words.
pub(crate) fn split_path(path: &str) -> Vec<&str> {
    path.split_whitespace().collect()
}

/// What an extending module adds to its base's syntax (see `compose`, which checks
/// that it redeclares nothing).
impl Syntax {
    /// Declares `scope`'s options in `node`. A `new` node (one the base does not have)
    /// also takes the scope's settings; an existing node keeps the base's.
    pub(crate) fn extend_scope(
        &mut self,
        node: NodeId,
        scope: &Spanned<RawScope>,
        new: bool,
        src: Source<'_>,
    ) -> Result<(), CompileError> {
        let global = node == 0;
        if new {
            return self.declare_scope(node, scope, global, self.default_abbreviate, src);
        }
        let raw = scope.get_ref();
        for (specs, kind) in [
            (&raw.flags, Kind::Flag),
            (&raw.values, Kind::Value),
            (&raw.optional, Kind::Optional),
            (&raw.bools, Kind::Bool),
        ] {
            for spec in specs {
                self.declare_option(node, spec, kind, global, src)?;
            }
        }
        if let Some(n) = self.nodes.get_mut(node) {
            n.table.longs.sort();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax(toml_text: &str) -> Syntax {
        let raw: RawSyntax = toml::from_str(toml_text).unwrap();
        Syntax::build(
            Some(&raw),
            Source {
                name: "t",
                text: toml_text,
            },
        )
        .unwrap()
    }

    #[test]
    fn abbreviations_resolve_to_unique_options_only() {
        let s = syntax(
            "style = \"gnu\"\n[commands.fetch]\nabbreviate = true\nvalues = [\"--upload-pack\"]\nflags = [\"--update-shallow\", \"--all\"]\n",
        );
        let fetch = s.child(0, "fetch").unwrap();
        assert!(matches!(
            s.lookup(Some(fetch), "--upl"),
            Lookup::Found(_, false)
        ));
        assert_eq!(s.lookup(Some(fetch), "--up"), Lookup::Ambiguous);
        assert_eq!(s.lookup(Some(fetch), "--zz"), Lookup::Unknown);
        assert_eq!(s.lookup(Some(fetch), "-u"), Lookup::Unknown);
    }

    #[test]
    fn global_options_are_found_after_the_subcommand_only_when_allowed() {
        let text = "style = \"gnu\"\nglobal_anywhere = true\n[global]\nvalues = [\"--region\"]\n[commands.ec2]\n";
        let s = syntax(text);
        let ec2 = s.child(0, "ec2").unwrap();
        assert!(matches!(
            s.lookup(Some(ec2), "--region"),
            Lookup::Found(_, true)
        ));
        let s = syntax(&text.replace("global_anywhere = true", ""));
        assert_eq!(s.lookup(s.child(0, "ec2"), "--region"), Lookup::Unknown);
    }

    #[test]
    fn go_style_names_take_one_dash() {
        let s = syntax("style = \"go\"\n[commands.apply]\nbools = [\"--auto-approve\"]\n");
        let apply = s.child(0, "apply").unwrap();
        assert!(matches!(
            s.lookup(Some(apply), "-auto-approve"),
            Lookup::Found(..)
        ));
        assert_eq!(s.options_until(Some(apply)), Some(1));
    }

    #[test]
    fn bad_names_are_rejected() {
        let text = "style = \"gnu\"\n[global]\nflags = [\"-ab\"]\n";
        let raw: RawSyntax = toml::from_str(text).unwrap();
        let err = Syntax::build(Some(&raw), Source { name: "t", text }).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Syntax);
        assert_eq!(err.location().line, 3);
        let text = "[global]\nflags = [\"-a\", \"-a\"]\n";
        let raw: RawSyntax = toml::from_str(text).unwrap();
        let err = Syntax::build(Some(&raw), Source { name: "t", text }).unwrap_err();
        assert!(err.message().contains("declared twice"), "{err}");
    }
}
