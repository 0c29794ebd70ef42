//! Where a command may reach: the patterns of an agent's `[access.COMMAND] remotes`
//! list, matched against the places a request would contact (for git, the URLs it
//! fetches from or pushes to, after its own `insteadOf` rewriting).
//!
//! A pattern matches a whole URL. `*` stands for one or more characters of
//! `A-Za-z0-9._~+-` (never `/`, `:`, `@`, `?`, `#` or `%`), `**` for the same plus `/`;
//! every other character stands for itself. A URL that could be read two ways is
//! refused before any pattern is tried: one with `%` (an escaped `/` or `@`), a `.`
//! or `..` path segment (`https://host/acme/../evil` reaches `/evil`), a backslash,
//! whitespace or a control character.

use std::ops::Range;

use toml::Spanned;

/// One `remotes` pattern, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The pattern as written.
    pub text: String,
    /// Its byte range in the profile, for errors.
    pub span: Range<usize>,
}

/// Why a URL is not even compared with the patterns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// It holds something that lets two readings of it differ.
    #[error("`{url}` holds {what}, which could make it reach somewhere other than it reads")]
    Ambiguous {
        /// The URL.
        url: String,
        /// What was found.
        what: &'static str,
    },
}

impl Pattern {
    /// Checks a pattern as written in a profile.
    pub(crate) fn new(raw: Spanned<String>) -> Result<Self, (Range<usize>, String)> {
        let span = raw.span();
        let text = raw.into_inner();
        if text.is_empty() {
            return Err((span, "empty remote pattern".to_owned()));
        }
        if let Err(UrlError::Ambiguous { what, .. }) = plain(&text.replace('*', "x")) {
            return Err((span, format!("the pattern `{text}` holds {what}")));
        }
        if text.contains("***") {
            return Err((span, format!("`{text}`: write `*` or `**`, not `***`")));
        }
        Ok(Self { text, span })
    }

    /// Whether the pattern matches all of `url`.
    pub fn matches(&self, url: &str) -> bool {
        matches(self.text.as_bytes(), url.as_bytes())
    }
}

/// Refuses URLs that could be read two ways (see the module's documentation).
pub fn plain(url: &str) -> Result<(), UrlError> {
    let ambiguous = |what| {
        Err(UrlError::Ambiguous {
            url: url.to_owned(),
            what,
        })
    };
    if url.contains('%') {
        return ambiguous("`%`");
    }
    if url.contains('\\') {
        return ambiguous("a backslash");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return ambiguous("whitespace or a control character");
    }
    let path_part = url.split_once("://").map_or(url, |(_, rest)| rest);
    if path_part
        .split(['/', ':'])
        .any(|segment| segment == "." || segment == "..")
    {
        return ambiguous("a `.` or `..` segment");
    }
    Ok(())
}

/// Whether `url` is allowed by `patterns`: it must be [`plain`] and match one.
pub fn allowed(patterns: &[Pattern], url: &str) -> Result<bool, UrlError> {
    plain(url)?;
    Ok(patterns.iter().any(|p| p.matches(url)))
}

fn in_star(byte: u8, slash: bool) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(byte, b'.' | b'_' | b'~' | b'+' | b'-')
        || (slash && byte == b'/')
}

/// Matches a whole `text` against `pattern` (`*` and `**` as documented), in
/// O(pattern × text) time without backtracking.
fn matches(pattern: &[u8], text: &[u8]) -> bool {
    // States: positions in the pattern; a star state may consume one more byte.
    enum Token {
        Byte(u8),
        Star { slash: bool },
    }
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&b) = pattern.get(i) {
        if b == b'*' {
            let slash = pattern.get(i + 1) == Some(&b'*');
            tokens.push(Token::Star { slash });
            i += if slash { 2 } else { 1 };
        } else {
            tokens.push(Token::Byte(b));
            i += 1;
        }
    }
    // reach[k]: the first k tokens can match the text read so far, with token k-1 (a
    // star) having consumed at least one byte when it is a star.
    let mut reach = vec![false; tokens.len() + 1];
    if let Some(first) = reach.first_mut() {
        *first = true;
    }
    let at = |v: &[bool], i: usize| v.get(i).copied().unwrap_or(false);
    let mut next = vec![false; tokens.len() + 1];
    for &byte in text {
        // Nothing but the start of the text reaches the pattern's start.
        if let Some(first) = next.first_mut() {
            *first = false;
        }
        for (k, (token, after)) in tokens.iter().zip(next.iter_mut().skip(1)).enumerate() {
            *after = match token {
                Token::Byte(b) => at(&reach, k) && *b == byte,
                // Start the star (from k) or go on with it (from k + 1).
                Token::Star { slash } => {
                    (at(&reach, k) || at(&reach, k + 1)) && in_star(byte, *slash)
                }
            };
        }
        std::mem::swap(&mut reach, &mut next);
    }
    reach.last().copied().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> Pattern {
        Pattern::new(Spanned::new(0..0, text.to_owned())).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn stars_match_one_segment_or_many() {
        let one = pattern("https://github.com/acme/*");
        assert!(one.matches("https://github.com/acme/app"));
        assert!(one.matches("https://github.com/acme/app.git"));
        assert!(!one.matches("https://github.com/acme/"), "one or more");
        assert!(!one.matches("https://github.com/acme/a/b"));
        assert!(!one.matches("https://github.com/acmeco/app"));
        let many = pattern("https://github.com/acme/**");
        assert!(many.matches("https://github.com/acme/a/b"));
        assert!(!many.matches("https://github.com/other/a"));
        let scp = pattern("git@github.com:acme/*");
        assert!(scp.matches("git@github.com:acme/app.git"));
        assert!(!scp.matches("git@github.com:acme/app@evil.com:x"));
    }

    #[test]
    fn userinfo_and_host_tricks_do_not_match() {
        let p = pattern("https://github.com/**");
        assert!(!p.matches("https://github.com@evil.example/acme/app"));
        assert!(!p.matches("https://github.com.evil.example/acme"));
        assert!(!p.matches("https://github.com:evil/acme"));
        let host = pattern("https://*.example.com/**");
        assert!(host.matches("https://git.example.com/a"));
        assert!(!host.matches("https://x@evil.com/.example.com/a"));
    }

    #[test]
    fn ambiguous_urls_are_refused_before_matching() {
        let p = vec![pattern("https://github.com/acme/**")];
        assert!(allowed(&p, "https://github.com/acme/app").unwrap());
        for url in [
            "https://github.com/acme/../evil/app",
            "https://github.com/acme/%2e%2e/evil",
            "https://github.com/acme/./app",
            "https://github.com/acme/a\\b",
            "https://github.com/acme/a b",
        ] {
            assert!(allowed(&p, url).is_err(), "{url}");
        }
        assert!(!allowed(&p, "https://evil.example/acme/app").unwrap());
    }

    #[test]
    fn patterns_are_checked_when_loaded() {
        for bad in ["", "https://a/%2f", "https://a/../b", "https://a/***"] {
            assert!(
                Pattern::new(Spanned::new(3..9, bad.to_owned())).is_err(),
                "{bad}"
            );
        }
    }
}
