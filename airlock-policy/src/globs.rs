//! Many globs as one deterministic automaton: every glob is lowered to a regex by
//! globset and all of them are compiled into a single dense DFA (regex-automata) that
//! reports, in one pass over a value, every glob the whole value matches.

use regex_automata::dfa::{Automaton, OverlappingState, StartKind, dense};
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};

/// The most memory one glob automaton may take.
const DFA_SIZE_LIMIT: usize = 64 << 20;

/// Lowers a glob to the regex globset would match it with (`*` crosses `/` and
/// newlines; the whole value must match).
pub(crate) fn glob_regex(glob: &str, ignore_case: bool) -> Result<String, globset::Error> {
    let glob = globset::GlobBuilder::new(glob)
        .literal_separator(false)
        .case_insensitive(ignore_case)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()?;
    Ok(format!("(?s){}", glob.regex()))
}

/// A compiled set of globs.
#[derive(Debug, Clone)]
pub(crate) struct GlobSetDfa {
    dfa: dense::DFA<Vec<u32>>,
}

/// The globs could not be compiled together (only when they are too large).
#[derive(Debug, thiserror::Error)]
#[error("the value patterns are too large to compile: {0}")]
pub(crate) struct TooLarge(pub(crate) String);

impl GlobSetDfa {
    /// Compiles regexes produced by [`glob_regex`]; pattern `i` is reported as `i`.
    pub(crate) fn new(regexes: &[String]) -> Result<Self, TooLarge> {
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .match_kind(MatchKind::All)
                    .start_kind(StartKind::Anchored)
                    .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                    .determinize_size_limit(Some(DFA_SIZE_LIMIT)),
            )
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            .build_many(regexes)
            .map_err(|e| TooLarge(e.to_string()))?;
        Ok(Self { dfa })
    }

    /// Calls `found` with the index of every glob that matches all of `value`.
    pub(crate) fn for_each_match(&self, value: &str, mut found: impl FnMut(usize)) {
        let input = Input::new(value).anchored(Anchored::Yes);
        let mut state = OverlappingState::start();
        // Patterns are plain ASCII-mode regexes without look-around, so the DFA has no
        // quit bytes and the search cannot fail; an error would end the search.
        while let Ok(()) = self.dfa.try_search_overlapping_fwd(&input, &mut state) {
            match state.get_match() {
                Some(m) => found(m.pattern().as_usize()),
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(globs: &[(&str, bool)], value: &str) -> Vec<usize> {
        let regexes: Vec<String> = globs
            .iter()
            .map(|(g, ci)| glob_regex(g, *ci).unwrap())
            .collect();
        let set = GlobSetDfa::new(&regexes).unwrap();
        let mut out = Vec::new();
        set.for_each_match(value, |i| out.push(i));
        out.sort_unstable();
        out
    }

    #[test]
    fn reports_every_matching_glob() {
        let globs = [
            ("/*:*", false),
            ("/etc*", false),
            ("*", false),
            ("x", false),
        ];
        assert_eq!(matches(&globs, "/etc:/host"), vec![0, 1, 2]);
        assert_eq!(matches(&globs, "./src:/src"), vec![2]);
        assert_eq!(matches(&globs, "x"), vec![2, 3]);
    }

    #[test]
    fn star_crosses_newlines_and_case_can_be_ignored() {
        assert_eq!(matches(&[("core.*", false)], "core.pager=a\nb"), vec![0]);
        assert_eq!(matches(&[("sys_admin", true)], "SYS_ADMIN"), vec![0]);
        assert!(matches(&[("sys_admin", false)], "SYS_ADMIN").is_empty());
        assert_eq!(matches(&[("", false)], ""), vec![0]);
    }
}
