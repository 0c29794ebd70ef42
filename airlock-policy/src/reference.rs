//! The reference interpreter: the same semantics as the automaton, written as plainly
//! as possible, rule by rule and entry by entry. It is the test oracle: property tests
//! and a fuzz target check that the automaton always agrees with it.

use crate::atom::{Atom, ValuePattern, field_values};
use crate::reading::{OptKey, Reading, Token};
use crate::syntax::Syntax;

/// Whether `atom` holds on `reading`.
pub(crate) fn atom_holds(syntax: &Syntax, atom: &Atom, reading: &Reading<'_, '_>) -> bool {
    match atom {
        Atom::Path(words) => {
            reading.path.len() >= words.len()
                && words.iter().zip(&reading.path).all(|(w, p)| w == p)
        }
        Atom::Word {
            pattern,
            operands_only,
        } => {
            let path: &[&str] = if *operands_only { &[] } else { &reading.path };
            path.iter()
                .copied()
                .chain(reading.words())
                .any(|word| value_matches(pattern, word))
        }
        Atom::Option { name, scope, value } => reading.tokens.iter().any(|token| {
            let Token::Opt {
                key,
                global,
                value: token_value,
                ..
            } = token
            else {
                return false;
            };
            let named = match key {
                OptKey::Declared(id) => syntax
                    .option(*id)
                    .is_some_and(|spec| spec.names.iter().any(|n| n == name)),
                undeclared => undeclared.spelled(name),
            };
            named
                && scope.admits(*global)
                && match value {
                    None => true,
                    Some(pattern) => token_value.is_some_and(|v| value_matches_fields(pattern, v)),
                }
        }),
    }
}

/// Whether all `atoms` hold on `reading`.
pub(crate) fn rule_holds(syntax: &Syntax, atoms: &[Atom], reading: &Reading<'_, '_>) -> bool {
    atoms.iter().all(|atom| atom_holds(syntax, atom, reading))
}

fn value_matches_fields(pattern: &ValuePattern, value: &str) -> bool {
    if pattern.fields.is_empty() {
        return value_matches(pattern, value);
    }
    field_values(value, &pattern.fields).any(|field| value_matches(pattern, &field))
}

fn value_matches(pattern: &ValuePattern, value: &str) -> bool {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        /// Each glob compiled once per thread: compiling is a regex compilation, and the
        /// oracle would otherwise spend nearly all its time there.
        static COMPILED: RefCell<HashMap<(String, bool), Option<globset::GlobMatcher>>> =
            RefCell::new(HashMap::new());
    }
    COMPILED.with(|cache| {
        let mut cache = cache.borrow_mut();
        cache
            .entry((pattern.glob.clone(), pattern.ignore_case))
            .or_insert_with(|| {
                globset::GlobBuilder::new(&pattern.glob)
                    .literal_separator(false)
                    .case_insensitive(pattern.ignore_case)
                    .backslash_escape(true)
                    .empty_alternates(true)
                    .build()
                    .ok()
                    .map(|glob| glob.compile_matcher())
            })
            .as_ref()
            .is_some_and(|matcher| matcher.is_match(value))
    })
}
