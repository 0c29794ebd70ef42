//! The compiled matcher. Every atom of every rule is indexed by what it looks at: an
//! option atom under each option key it can match (declared options through a table
//! indexed by option id, undeclared ones through a hash map of spellings), a word atom
//! under its literal word or in one glob automaton, a path atom in a trie. Checking a
//! reading visits each token once, collects the atoms it satisfies, and then checks
//! only the rules those atoms start: the cost follows the argv, not the rule count.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::atom::{Atom, ScopeFilter, ValuePattern, field_values};
use crate::entry::is_glob;
use crate::globs::{GlobSetDfa, TooLarge, glob_regex};
use crate::reading::{OptKey, Reading, Token, short_name};
use crate::syntax::Syntax;

/// Index of an atom.
pub(crate) type AtomId = u32;
/// Index of a rule.
pub(crate) type RuleId = u32;

/// FNV-1a: a fast hash for the short keys of the matcher's maps.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// Value globs over one kind of candidate (the whole value, or named fields).
#[derive(Debug, Clone)]
struct ValueGlobs {
    fields: Vec<String>,
    globs: GlobSetDfa,
    /// For each glob: the atom and the scopes it looks at.
    targets: Vec<(AtomId, ScopeFilter)>,
}

/// Everything that can match one option key.
#[derive(Debug, Clone, Default)]
struct KeySlot {
    presence: Vec<(AtomId, ScopeFilter)>,
    values: Vec<ValueGlobs>,
}

/// Word atoms: literal words by hash, the rest in one automaton.
#[derive(Debug, Clone, Default)]
struct WordMatcher {
    literal: FnvMap<String, Vec<AtomId>>,
    globs: Option<(GlobSetDfa, Vec<AtomId>)>,
}

#[derive(Debug, Clone, Default)]
struct PathNode {
    children: FnvMap<String, usize>,
    atoms: Vec<AtomId>,
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
    paths: Vec<PathNode>,
    /// For each atom, the rules whose smallest atom it is.
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
        let mut paths = vec![PathNode::default()];
        // Value globs are grouped per key and per field list before compiling.
        let mut value_globs: HashMap<(Key, Vec<String>), Vec<GlobTarget>> = HashMap::new();

        for (index, atom) in self.atoms.iter().enumerate() {
            let id = AtomId::try_from(index).map_err(|_| TooLarge("too many atoms".into()))?;
            match atom {
                Atom::Option { name, scope, value } => {
                    let mut keys: Vec<Key> = self
                        .syntax
                        .options_named(name)
                        .filter(|(_, spec)| scope.admits(spec.global))
                        .map(|(opt, _)| Key::Declared(opt as usize))
                        .collect();
                    keys.push(Key::Undeclared(name.clone()));
                    for key in keys {
                        match value {
                            None => slot(&mut declared, &mut undeclared, &key)
                                .presence
                                .push((id, *scope)),
                            Some(pattern) => value_globs
                                .entry((key, pattern.fields.clone()))
                                .or_default()
                                .push((regex_for(pattern)?, id, *scope)),
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
                Atom::Path(words) => {
                    let mut node = 0;
                    for word in words {
                        let existing = paths.get(node).and_then(|n| n.children.get(word)).copied();
                        node = match existing {
                            Some(child) => child,
                            None => {
                                let child = paths.len();
                                paths.push(PathNode::default());
                                if let Some(n) = paths.get_mut(node) {
                                    n.children.insert(word.clone(), child);
                                }
                                child
                            }
                        };
                    }
                    if let Some(n) = paths.get_mut(node) {
                        n.atoms.push(id);
                    }
                }
            }
        }

        let mut grouped: Vec<_> = value_globs.into_iter().collect();
        grouped.sort_by(|a, b| a.0.cmp(&b.0));
        for ((key, fields), entries) in grouped {
            let regexes: Vec<String> = entries.iter().map(|(r, _, _)| r.clone()).collect();
            let globs = GlobSetDfa::new(&regexes)?;
            let targets = entries.iter().map(|(_, a, s)| (*a, *s)).collect();
            slot(&mut declared, &mut undeclared, &key)
                .values
                .push(ValueGlobs {
                    fields,
                    globs,
                    targets,
                });
        }

        let mut starts = vec![Vec::new(); self.atoms.len()];
        for (rule, (atoms, _)) in self.rules.iter().enumerate() {
            let rule = RuleId::try_from(rule).map_err(|_| TooLarge("too many rules".into()))?;
            if let Some(first) = atoms.first().and_then(|a| starts.get_mut(*a as usize)) {
                first.push(rule);
            }
        }

        Ok(Automaton {
            declared,
            undeclared,
            words: words.build()?,
            operands: operands.build()?,
            paths,
            starts,
            rules: self.rules,
        })
    }
}

/// Collects word atoms before compiling their globs.
#[derive(Default)]
struct WordsBuilder {
    literal: FnvMap<String, Vec<AtomId>>,
    globs: Vec<(String, AtomId)>,
}

impl WordsBuilder {
    fn add(&mut self, pattern: &ValuePattern, id: AtomId) -> Result<(), TooLarge> {
        if pattern.ignore_case || is_glob(&pattern.glob) {
            self.globs.push((regex_for(pattern)?, id));
        } else {
            self.literal
                .entry(pattern.glob.clone())
                .or_default()
                .push(id);
        }
        Ok(())
    }

    fn build(self) -> Result<WordMatcher, TooLarge> {
        let globs = if self.globs.is_empty() {
            None
        } else {
            let regexes: Vec<String> = self.globs.iter().map(|(r, _)| r.clone()).collect();
            Some((
                GlobSetDfa::new(&regexes)?,
                self.globs.iter().map(|(_, a)| *a).collect(),
            ))
        };
        Ok(WordMatcher {
            literal: self.literal,
            globs,
        })
    }
}

/// A value glob's regex, its atom and the scopes the atom looks at.
type GlobTarget = (String, AtomId, ScopeFilter);

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Declared(usize),
    Undeclared(String),
}

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

fn regex_for(pattern: &ValuePattern) -> Result<String, TooLarge> {
    glob_regex(&pattern.glob, pattern.ignore_case).map_err(|e| TooLarge(e.to_string()))
}

impl Automaton {
    /// Collects the atoms `reading` satisfies into `matched` (sorted, deduplicated).
    pub(crate) fn matched_atoms(&self, reading: &Reading<'_>, matched: &mut Vec<AtomId>) {
        matched.clear();
        let mut node = self.paths.first();
        for word in &reading.path {
            self.words.match_word(word, matched);
            node = node
                .and_then(|n| n.children.get(*word))
                .and_then(|&child| self.paths.get(child));
            if let Some(n) = node {
                matched.extend_from_slice(&n.atoms);
            }
        }
        for token in &reading.tokens {
            match token {
                Token::Word(word) => {
                    self.words.match_word(word, matched);
                    self.operands.match_word(word, matched);
                }
                Token::Opt { key, global, value } => {
                    let slot = match key {
                        OptKey::Declared(id) => self.declared.get(*id as usize),
                        OptKey::Long(name) => self.undeclared.get(*name),
                        OptKey::Short(c) => {
                            let mut buf = [0u8; 8];
                            self.undeclared.get(short_name(*c, &mut buf))
                        }
                    };
                    if let Some(slot) = slot {
                        match_option(slot, *global, *value, matched);
                    }
                }
            }
        }
        matched.sort_unstable();
        matched.dedup();
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
                if atoms
                    .get(1..)
                    .unwrap_or(&[])
                    .iter()
                    .all(|a| matched.binary_search(a).is_ok())
                {
                    *best = Some(rule);
                }
            }
        }
        outcome
    }
}

impl WordMatcher {
    fn match_word(&self, word: &str, matched: &mut Vec<AtomId>) {
        if let Some(atoms) = self.literal.get(word) {
            matched.extend_from_slice(atoms);
        }
        if let Some((globs, atoms)) = &self.globs {
            globs.for_each_match(word, |i| {
                if let Some(a) = atoms.get(i) {
                    matched.push(*a);
                }
            });
        }
    }
}

fn match_option(slot: &KeySlot, global: bool, value: Option<&str>, matched: &mut Vec<AtomId>) {
    for (atom, scope) in &slot.presence {
        if scope.admits(global) {
            matched.push(*atom);
        }
    }
    let Some(value) = value else {
        return;
    };
    for group in &slot.values {
        let mut found = |i: usize| {
            if let Some((atom, scope)) = group.targets.get(i) {
                if scope.admits(global) {
                    matched.push(*atom);
                }
            }
        };
        if group.fields.is_empty() {
            group.globs.for_each_match(value, &mut found);
        } else {
            for field in field_values(value, &group.fields) {
                group.globs.for_each_match(&field, &mut found);
            }
        }
    }
}
