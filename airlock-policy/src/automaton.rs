//! The compiled matcher. Every atom of every rule is indexed by what it looks at: an
//! option atom under each option key it can match (declared options through a table
//! indexed by option id, undeclared ones through a hash map of spellings), a word atom
//! under its literal word or in the glob automaton, a path atom in a trie. Checking a
//! reading visits each token once, collects the atoms it satisfies, and then checks
//! only the rules those atoms start: the cost follows the argv, not the rule count.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::atom::{Atom, ScopeFilter, ValuePattern, field_values};
use crate::entry::is_glob;
use crate::globs::{GlobSearchFailed, GlobSet, GlobSetBuilder, TooLarge};
use crate::inline_vec::InlineVec;
use crate::reading::{OptKey, Reading, Token, short_name};
use crate::syntax::Syntax;

/// Index of an atom.
pub(crate) type AtomId = u32;
/// Index of a rule.
pub(crate) type RuleId = u32;
/// The atoms a reading satisfies; inline for ordinary argv.
pub(crate) type AtomList = InlineVec<AtomId, 32>;

/// An FNV-1a variant that mixes eight bytes at a time: a fast hash for the short keys
/// of the matcher's maps (keys come from the module; argv only looks them up).
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // FNV-1a over eight bytes at a time, then the tail byte by byte.
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            hash ^= u64::from_le_bytes(word);
            hash = hash.wrapping_mul(0x0100_0000_01b3).rotate_left(29);
        }
        for byte in chunks.remainder() {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

/// A hash map with [`Fnv`] hashing.
pub(crate) type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// The value globs of one option key over one kind of candidate (the whole value, or
/// named fields): a group of the glob automaton.
#[derive(Debug, Clone)]
struct ValueGroup {
    fields: Vec<String>,
    group: usize,
}

/// Everything that can match one option key.
#[derive(Debug, Clone, Default)]
struct KeySlot {
    presence: Vec<(AtomId, ScopeFilter)>,
    values: Vec<ValueGroup>,
}

/// Word atoms: literal words by hash, the rest in a group of the glob automaton.
#[derive(Debug, Clone, Default)]
struct WordMatcher {
    literal: FnvMap<String, Vec<AtomId>>,
    group: Option<usize>,
}

/// The outcome of one reading: the first deny rule and the first allow rule that hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub deny: Option<RuleId>,
    pub allow: Option<RuleId>,
}

/// The compiled, immutable matcher of a module.
#[derive(Debug, Clone)]
pub(crate) struct Automaton {
    declared: Vec<KeySlot>,
    undeclared: FnvMap<String, KeySlot>,
    /// Word atoms that also look at subcommand-path words.
    words: WordMatcher,
    /// Word atoms that look only at operands.
    operands: WordMatcher,
    /// For each node of the syntax's subcommand tree, the path atoms ending there.
    paths: Vec<Vec<AtomId>>,
    globs: GlobSet,
    /// For each glob of `globs`: its atom and the scopes the atom looks at.
    glob_targets: Vec<(AtomId, ScopeFilter)>,
    /// For each atom, the rules it starts (each rule is started by its rarest atom).
    starts: Vec<Vec<RuleId>>,
    /// For each rule, its atoms in ascending order, and whether it denies.
    rules: Vec<(Vec<AtomId>, bool)>,
}

/// Builds an [`Automaton`].
pub(crate) struct AutomatonBuilder<'s> {
    syntax: &'s Syntax,
    atoms: Vec<Atom>,
    atom_ids: HashMap<Atom, AtomId>,
    rules: Vec<(Vec<AtomId>, bool)>,
}

/// Where an option atom's key lives while building.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Declared(usize),
    Undeclared(String),
}

/// A glob's regex, its atom, and the scopes the atom looks at.
type GlobTarget = (String, AtomId, ScopeFilter);

/// Globs and their targets, collected while building.
#[derive(Default)]
struct Globs {
    builder: GlobSetBuilder,
    targets: Vec<(AtomId, ScopeFilter)>,
}

impl Globs {
    /// Adds a group of globs and returns its index.
    fn add_group(&mut self, globs: &[GlobTarget]) -> usize {
        let group = self.builder.group();
        for (regex, atom, scope) in globs {
            self.builder.add(group, regex.clone());
            self.targets.push((*atom, *scope));
        }
        group
    }
}

/// Word atoms collected while building.
#[derive(Default)]
struct WordsBuilder {
    literal: FnvMap<String, Vec<AtomId>>,
    globs: Vec<GlobTarget>,
}

impl WordsBuilder {
    fn add(&mut self, pattern: &ValuePattern, id: AtomId) -> Result<(), TooLarge> {
        if pattern.ignore_case || is_glob(&pattern.glob) {
            self.globs
                .push((pattern.regex.clone(), id, ScopeFilter::Any));
        } else {
            self.literal
                .entry(pattern.glob.clone())
                .or_default()
                .push(id);
        }
        Ok(())
    }

    fn build(self, globs: &mut Globs) -> WordMatcher {
        WordMatcher {
            literal: self.literal,
            group: (!self.globs.is_empty()).then(|| globs.add_group(&self.globs)),
        }
    }
}

impl<'s> AutomatonBuilder<'s> {
    pub(crate) fn new(syntax: &'s Syntax) -> Self {
        Self {
            syntax,
            atoms: Vec::new(),
            atom_ids: HashMap::new(),
            rules: Vec::new(),
        }
    }

    /// Adds a rule made of `atoms`; identical atoms are shared between rules.
    pub(crate) fn add_rule(&mut self, atoms: &[Atom], deny: bool) -> Result<RuleId, TooLarge> {
        let mut ids = Vec::with_capacity(atoms.len());
        for atom in atoms {
            let next = AtomId::try_from(self.atoms.len())
                .map_err(|_| TooLarge("too many atoms".into()))?;
            let id = *self.atom_ids.entry(atom.clone()).or_insert_with(|| {
                self.atoms.push(atom.clone());
                next
            });
            ids.push(id);
        }
        ids.sort_unstable();
        ids.dedup();
        let rule =
            RuleId::try_from(self.rules.len()).map_err(|_| TooLarge("too many rules".into()))?;
        self.rules.push((ids, deny));
        Ok(rule)
    }

    pub(crate) fn build(self) -> Result<Automaton, TooLarge> {
        let mut declared = vec![KeySlot::default(); self.syntax.options.len()];
        let mut undeclared: FnvMap<String, KeySlot> = FnvMap::default();
        let mut words = WordsBuilder::default();
        let mut operands = WordsBuilder::default();
        let mut paths = vec![Vec::new(); self.syntax.nodes.len()];
        let mut value_globs: HashMap<(Key, Vec<String>), Vec<GlobTarget>> = HashMap::new();
        let mut options_by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, spec) in self.syntax.options.iter().enumerate() {
            for name in &spec.names {
                options_by_name.entry(name).or_default().push(i);
            }
        }

        for (index, atom) in self.atoms.iter().enumerate() {
            let id = AtomId::try_from(index).map_err(|_| TooLarge("too many atoms".into()))?;
            match atom {
                Atom::Option { name, scope, value } => {
                    let declared_keys = options_by_name
                        .get(name.as_str())
                        .into_iter()
                        .flatten()
                        .filter(|&&i| {
                            self.syntax
                                .options
                                .get(i)
                                .is_some_and(|spec| scope.admits(spec.global))
                        })
                        .map(|&i| Key::Declared(i));
                    let keys = declared_keys.chain(std::iter::once(Key::Undeclared(name.clone())));
                    for key in keys {
                        match value {
                            None => slot(&mut declared, &mut undeclared, &key)
                                .presence
                                .push((id, *scope)),
                            Some(pattern) => value_globs
                                .entry((key, pattern.fields.clone()))
                                .or_default()
                                .push((pattern.regex.clone(), id, *scope)),
                        }
                    }
                }
                Atom::Word {
                    pattern,
                    operands_only,
                } => {
                    let target = if *operands_only {
                        &mut operands
                    } else {
                        &mut words
                    };
                    target.add(pattern, id)?;
                }
                Atom::Path(path) => {
                    // Compiling a module adds every rule's path to the syntax tree.
                    let node = path
                        .iter()
                        .try_fold(0, |node, word| self.syntax.child(node, word));
                    if let Some(atoms) = node.and_then(|n| paths.get_mut(n)) {
                        atoms.push(id);
                    }
                }
            }
        }

        let mut globs = Globs::default();
        let mut grouped: Vec<_> = value_globs.into_iter().collect();
        grouped.sort_by(|a, b| a.0.cmp(&b.0));
        for ((key, fields), entries) in grouped {
            let group = globs.add_group(&entries);
            slot(&mut declared, &mut undeclared, &key)
                .values
                .push(ValueGroup { fields, group });
        }
        let words = words.build(&mut globs);
        let operands = operands.build(&mut globs);

        // Each rule is started by its rarest atom, so that an atom many rules share
        // (a subcommand path, say) does not make every one of them be tried.
        let mut uses = vec![0usize; self.atoms.len()];
        for (atoms, _) in &self.rules {
            for atom in atoms {
                if let Some(n) = uses.get_mut(*atom as usize) {
                    *n += 1;
                }
            }
        }
        let mut starts = vec![Vec::new(); self.atoms.len()];
        for (rule, (atoms, _)) in self.rules.iter().enumerate() {
            let rule = RuleId::try_from(rule).map_err(|_| TooLarge("too many rules".into()))?;
            let rarest = atoms
                .iter()
                .min_by_key(|a| (uses.get(**a as usize).copied().unwrap_or(0), **a));
            if let Some(start) = rarest.and_then(|a| starts.get_mut(*a as usize)) {
                start.push(rule);
            }
        }

        Ok(Automaton {
            declared,
            undeclared,
            words,
            operands,
            paths,
            globs: globs.builder.build()?,
            glob_targets: globs.targets,
            starts,
            rules: self.rules,
        })
    }
}

/// The slot of `key`; declared keys always index into `declared`.
fn slot<'m>(
    declared: &'m mut [KeySlot],
    undeclared: &'m mut FnvMap<String, KeySlot>,
    key: &Key,
) -> &'m mut KeySlot {
    match key {
        Key::Declared(i) => match declared.get_mut(*i) {
            Some(slot) => slot,
            None => undeclared.entry(String::new()).or_default(),
        },
        Key::Undeclared(name) => undeclared.entry(name.clone()).or_default(),
    }
}

impl Automaton {
    /// Collects the atoms `reading` satisfies into `matched` (sorted, deduplicated).
    pub(crate) fn matched_atoms(
        &self,
        reading: &Reading<'_, '_>,
        matched: &mut AtomList,
    ) -> Result<(), GlobSearchFailed> {
        matched.clear();
        for word in &reading.path {
            self.match_word(&self.words, word, matched)?;
        }
        for info in &reading.path_info {
            if let Some(atoms) = info.node().and_then(|n| self.paths.get(n)) {
                matched.extend_from_slice(atoms);
            }
        }
        for token in &reading.tokens {
            match token {
                Token::Word { text, .. } => {
                    self.match_word(&self.words, text, matched)?;
                    self.match_word(&self.operands, text, matched)?;
                }
                Token::Opt {
                    key, global, value, ..
                } => {
                    let slot = match key {
                        OptKey::Declared(id) => self.declared.get(*id as usize),
                        OptKey::Long(_) | OptKey::Short(_) if self.undeclared.is_empty() => None,
                        OptKey::Long(name) => self.undeclared.get(*name),
                        OptKey::Short(c) => {
                            let mut buf = [0u8; 8];
                            self.undeclared.get(short_name(*c, &mut buf))
                        }
                    };
                    if let Some(slot) = slot {
                        self.match_option(slot, *global, *value, matched)?;
                    }
                }
            }
        }
        matched.sort_dedup();
        Ok(())
    }

    fn match_word(
        &self,
        words: &WordMatcher,
        word: &str,
        matched: &mut AtomList,
    ) -> Result<(), GlobSearchFailed> {
        if !words.literal.is_empty() {
            if let Some(atoms) = words.literal.get(word) {
                matched.extend_from_slice(atoms);
            }
        }
        if let Some(group) = words.group {
            self.globs.for_each_match(group, word, |i| {
                if let Some((atom, _)) = self.glob_targets.get(i) {
                    matched.push(*atom);
                }
            })?;
        }
        Ok(())
    }

    fn match_option(
        &self,
        slot: &KeySlot,
        global: bool,
        value: Option<&str>,
        matched: &mut AtomList,
    ) -> Result<(), GlobSearchFailed> {
        for (atom, scope) in &slot.presence {
            if scope.admits(global) {
                matched.push(*atom);
            }
        }
        let Some(value) = value else {
            return Ok(());
        };
        let mut found = |i: usize| {
            if let Some((atom, scope)) = self.glob_targets.get(i) {
                if scope.admits(global) {
                    matched.push(*atom);
                }
            }
        };
        for group in &slot.values {
            if group.fields.is_empty() {
                self.globs.for_each_match(group.group, value, &mut found)?;
            } else {
                for field in field_values(value, &group.fields) {
                    self.globs.for_each_match(group.group, &field, &mut found)?;
                }
            }
        }
        Ok(())
    }

    /// Whether every atom of `rule` is in `matched` (sorted).
    pub(crate) fn rule_holds(&self, rule: RuleId, matched: &[AtomId]) -> bool {
        self.rules
            .get(rule as usize)
            .is_some_and(|(atoms, _)| atoms.iter().all(|a| matched.binary_search(a).is_ok()))
    }

    /// The first deny rule and the first allow rule that `matched` satisfies.
    pub(crate) fn outcome(&self, matched: &[AtomId]) -> Outcome {
        let mut outcome = Outcome::default();
        for atom in matched {
            for &rule in self
                .starts
                .get(*atom as usize)
                .map_or(&[][..], Vec::as_slice)
            {
                let Some((atoms, deny)) = self.rules.get(rule as usize) else {
                    continue;
                };
                let best = if *deny {
                    &mut outcome.deny
                } else {
                    &mut outcome.allow
                };
                if best.is_some_and(|b| b <= rule) {
                    continue;
                }
                if atoms.iter().all(|a| matched.binary_search(a).is_ok()) {
                    *best = Some(rule);
                }
            }
        }
        outcome
    }
}
