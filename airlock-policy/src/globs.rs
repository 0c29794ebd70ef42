//! All the globs of a module as one deterministic automaton. Globs are lowered to
//! regexes by globset and grouped (the value globs of one option, the word globs, ...);
//! every glob is compiled into a single DFA (regex-automata) as the pattern
//! `GROUP NUL GLOB`. A check walks the DFA over the group's prefix and then over the
//! value, one pass, without building a haystack, and reads every glob of the group
//! that matches the whole value from the final state.
//!
//! The DFA is regex-automata's lazy DFA: states are built on first use and cached, so
//! compiling thousands of globs costs only their NFA, and a check after warm-up is a
//! table walk. Caches come from a pool (one per thread in use) and are bounded; a
//! full cache is cleared and refilled, never grown without bound.

use std::sync::Arc;

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::hybrid::{LazyStateID, StartError};
use regex_automata::nfa::thompson;
use regex_automata::util::pool::Pool;
use regex_automata::util::{start, syntax};
use regex_automata::{Anchored, MatchKind};

/// The most memory one lazy DFA cache may take before it is cleared.
const CACHE_CAPACITY: usize = 4 << 20;
/// The most memory the glob NFA may take.
const NFA_SIZE_LIMIT: usize = 64 << 20;

/// Lowers a glob to the regex globset matches it with (`*` crosses `/` and newlines;
/// the whole value must match).
pub(crate) fn glob_regex(glob: &str, ignore_case: bool) -> Result<String, globset::Error> {
    let glob = globset::GlobBuilder::new(glob)
        .literal_separator(false)
        .case_insensitive(ignore_case)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()?;
    // globset writes `(?-u)^...$`, with `(?i)` after `(?-u)` when ignoring case.
    let regex = glob.regex();
    let body = regex.strip_prefix("(?-u)").unwrap_or(regex);
    let (flags, body) = match body.strip_prefix("(?i)") {
        Some(rest) => ("is", rest),
        None => ("s", body),
    };
    let body = body.strip_prefix('^').unwrap_or(body);
    let body = body.strip_suffix('$').unwrap_or(body);
    Ok(format!("(?{flags}:{body})"))
}

/// The globs could not be compiled together (only when they are too large).
#[derive(Debug, thiserror::Error)]
#[error("the glob patterns are too large to compile: {0}")]
pub(crate) struct TooLarge(pub(crate) String);

/// Collects globs by group before compiling them.
#[derive(Debug, Default)]
pub(crate) struct GlobSetBuilder {
    groups: usize,
    /// Every glob's group and regex, in the order added.
    patterns: Vec<(usize, String)>,
}

impl GlobSetBuilder {
    /// Starts a new group and returns its index.
    pub(crate) fn group(&mut self) -> usize {
        self.groups += 1;
        self.groups - 1
    }

    /// Adds a regex from [`glob_regex`] to `group`; returns the glob's index, which
    /// [`GlobSet::for_each_match`] reports.
    pub(crate) fn add(&mut self, group: usize, regex: String) -> usize {
        self.patterns.push((group, regex));
        self.patterns.len() - 1
    }

    /// Compiles every glob into one DFA.
    pub(crate) fn build(self) -> Result<GlobSet, TooLarge> {
        let patterns: Vec<String> = self
            .patterns
            .iter()
            .map(|(g, r)| format!("(?-u)^{g}\\x00{r}$"))
            .collect();
        if patterns.is_empty() {
            return Ok(GlobSet { lazy: None });
        }
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .match_kind(MatchKind::All)
                    .cache_capacity(CACHE_CAPACITY)
                    .skip_cache_capacity_check(true)
                    .minimum_cache_clear_count(None),
            )
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            .thompson(thompson::Config::new().nfa_size_limit(Some(NFA_SIZE_LIMIT)))
            .build_many(&patterns)
            .map_err(|e| TooLarge(e.to_string()))?;
        let dfa = Arc::new(dfa);
        let for_pool = Arc::clone(&dfa);
        let create: CreateCache = Box::new(move || for_pool.create_cache());
        Ok(GlobSet {
            lazy: Some(Arc::new(Lazy {
                dfa,
                caches: Pool::new(create),
            })),
        })
    }
}

type CreateCache =
    Box<dyn Fn() -> Cache + Send + Sync + std::panic::RefUnwindSafe + std::panic::UnwindSafe>;

/// The lazy DFA and its pool of caches.
struct Lazy {
    dfa: Arc<DFA>,
    caches: Pool<Cache, CreateCache>,
}

impl std::fmt::Debug for Lazy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lazy")
            .field("patterns", &self.dfa.pattern_len())
            .finish()
    }
}

/// The compiled globs of a module.
#[derive(Debug, Clone)]
pub(crate) struct GlobSet {
    lazy: Option<Arc<Lazy>>,
}

/// The lazy DFA could not continue (it never should: the patterns have no
/// look-around or Unicode word boundaries and the cache is never given up on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GlobSearchFailed;

impl GlobSet {
    /// Calls `found` with the index of every glob of `group` that matches all of
    /// `value`, in one pass over the value.
    pub(crate) fn for_each_match(
        &self,
        group: usize,
        value: &str,
        found: impl FnMut(usize),
    ) -> Result<(), GlobSearchFailed> {
        let Some(lazy) = &self.lazy else {
            return Ok(());
        };
        let mut cache = lazy.caches.get();
        walk(&lazy.dfa, &mut cache, group, value, found).map_err(|_| GlobSearchFailed)
    }
}

#[derive(Debug)]
enum WalkError {
    Start,
    Cache,
}

impl From<StartError> for WalkError {
    fn from(_: StartError) -> Self {
        WalkError::Start
    }
}

impl From<regex_automata::hybrid::CacheError> for WalkError {
    fn from(_: regex_automata::hybrid::CacheError) -> Self {
        WalkError::Cache
    }
}

fn walk(
    dfa: &DFA,
    cache: &mut Cache,
    group: usize,
    value: &str,
    mut found: impl FnMut(usize),
) -> Result<(), WalkError> {
    let mut state: LazyStateID =
        dfa.start_state(cache, &start::Config::new().anchored(Anchored::Yes))?;
    let mut digits = [0u8; 20];
    let prefix = group_prefix(group, &mut digits);
    for &byte in prefix.iter().chain(&[0u8]).chain(value.as_bytes()) {
        state = dfa.next_state(cache, state, byte)?;
        if state.is_dead() {
            return Ok(());
        }
    }
    state = dfa.next_eoi_state(cache, state)?;
    if !state.is_match() {
        return Ok(());
    }
    for i in 0..dfa.match_len(cache, state) {
        found(dfa.match_pattern(cache, state, i).as_usize());
    }
    Ok(())
}

/// Writes `group` in decimal into `buf` and returns the digits.
fn group_prefix(mut group: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        if let Some(slot) = buf.get_mut(start) {
            // `group % 10` is below 10, so the cast cannot truncate.
            *slot = b'0' + (group % 10) as u8;
        }
        group /= 10;
        if group == 0 || start == 0 {
            break;
        }
    }
    buf.get(start..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(globs: &[(&str, bool)], value: &str) -> Vec<usize> {
        let mut builder = GlobSetBuilder::default();
        let _other = builder.group();
        builder.add(_other, glob_regex("*", false).unwrap());
        let group = builder.group();
        for (g, ci) in globs {
            builder.add(group, glob_regex(g, *ci).unwrap());
        }
        let set = builder.build().unwrap();
        let mut out = Vec::new();
        set.for_each_match(group, value, |i| out.push(i - 1))
            .unwrap();
        out.sort_unstable();
        out
    }

    #[test]
    fn reports_every_matching_glob_of_the_group() {
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
    fn group_prefixes_are_decimal() {
        let mut buf = [0u8; 20];
        assert_eq!(group_prefix(0, &mut buf), b"0");
        assert_eq!(group_prefix(1207, &mut buf), b"1207");
        assert_eq!(
            group_prefix(usize::MAX, &mut buf),
            usize::MAX.to_string().as_bytes()
        );
    }

    #[test]
    fn star_crosses_newlines_and_case_can_be_ignored() {
        assert_eq!(matches(&[("core.*", false)], "core.pager=a\nb"), vec![0]);
        assert_eq!(matches(&[("sys_admin", true)], "SYS_ADMIN"), vec![0]);
        assert!(matches(&[("sys_admin", false)], "SYS_ADMIN").is_empty());
        assert_eq!(matches(&[("", false)], ""), vec![0]);
        assert_eq!(matches(&[("a\0b", false)], "a\0b"), vec![0]);
        assert!(
            matches(&[("é", true)], "É").is_empty(),
            "ASCII case folding only"
        );
    }
}
