//! Where a git request sends or fetches: the URLs git will contact, worked out from
//! the argv (the built-in module's reading) and the repository's remotes, as git's
//! remote.c resolves them (`insteadOf` and `pushInsteadOf` rewriting, `pushurl`,
//! remote groups, the default remote).
//!
//! When the argv names no remote, git picks one from the current branch; the branch
//! is whatever `HEAD` says at the moment git reads it, which the agent can change.
//! So a request without a remote reaches, for this check, every remote any branch
//! could pick (and `origin`): a superset that cannot be raced.

use std::collections::{BTreeMap, BTreeSet};

use airlock_policy::Reading;

use crate::git_repo::{GitLocationError, git_module};

/// The remote configuration of a repository (from `git config --list`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitRemotes {
    /// `remote.NAME.url` and `remote.NAME.pushurl`, by remote name.
    remotes: BTreeMap<String, Remote>,
    /// `remotes.GROUP`: the remote names of each group.
    groups: BTreeMap<String, Vec<String>>,
    /// `remote.pushDefault`.
    push_default: Option<String>,
    /// `branch.NAME.remote`, for every branch.
    branch_remotes: BTreeSet<String>,
    /// `branch.NAME.pushRemote`, for every branch.
    branch_push_remotes: BTreeSet<String>,
    /// `url.BASE.insteadOf = PREFIX`, as (prefix, base).
    instead_of: Vec<(String, String)>,
    /// `url.BASE.pushInsteadOf = PREFIX`, as (prefix, base).
    push_instead_of: Vec<(String, String)>,
}

/// One configured remote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Remote {
    urls: Vec<String>,
    push_urls: Vec<String>,
}

/// A place a git request reaches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GitDestination {
    /// The URL (or path) git contacts, after rewriting.
    pub url: String,
    /// Whether git sends to it (`push`) rather than fetches from it.
    pub push: bool,
}

impl GitRemotes {
    /// Reads the remote configuration from `(key, value)` entries as `git config
    /// --list` prints them (section and name in lower case, subsection as written).
    pub fn add(&mut self, key: &str, value: Option<&str>) {
        let value = value.unwrap_or("");
        let Some((section, rest)) = key.split_once('.') else {
            return;
        };
        let (sub, name) = match rest.rsplit_once('.') {
            Some((sub, name)) => (Some(sub), name),
            None => (None, rest),
        };
        let section = section.to_ascii_lowercase();
        let name = name.to_ascii_lowercase();
        match (section.as_str(), sub, name.as_str()) {
            ("remote", Some(remote), "url") => self.remote(remote).urls.push(value.to_owned()),
            ("remote", Some(remote), "pushurl") => {
                self.remote(remote).push_urls.push(value.to_owned());
            }
            ("remote", None, "pushdefault") => self.push_default = Some(value.to_owned()),
            ("remotes", None, group) => self
                .groups
                .entry(group.to_owned())
                .or_default()
                .extend(value.split_ascii_whitespace().map(str::to_owned)),
            ("branch", Some(_), "remote") => {
                self.branch_remotes.insert(value.to_owned());
            }
            ("branch", Some(_), "pushremote") => {
                self.branch_push_remotes.insert(value.to_owned());
            }
            ("url", Some(base), "insteadof") => {
                self.instead_of.push((value.to_owned(), base.to_owned()));
            }
            ("url", Some(base), "pushinsteadof") => {
                self.push_instead_of
                    .push((value.to_owned(), base.to_owned()));
            }
            _ => {}
        }
    }

    fn remote(&mut self, name: &str) -> &mut Remote {
        self.remotes.entry(name.to_owned()).or_default()
    }

    /// The URLs `git push REMOTE` sends to (`REMOTE` a name or a URL).
    pub fn push_urls(&self, remote: &str) -> Vec<String> {
        let Some(configured) = self.remotes.get(remote).filter(|r| !r.urls.is_empty()) else {
            // A URL (or a name git resolves some other way, which is then checked as
            // if it were a URL and fails closed).
            return vec![
                rewrite(remote, &self.push_instead_of)
                    .unwrap_or_else(|| rewrite_or_keep(remote, &self.instead_of)),
            ];
        };
        if !configured.push_urls.is_empty() {
            return configured
                .push_urls
                .iter()
                .map(|url| rewrite_or_keep(url, &self.instead_of))
                .collect();
        }
        // remote.c: `pushInsteadOf` turns matching URLs into push URLs; when one
        // matches, only those are pushed to.
        let pushed: Vec<String> = configured
            .urls
            .iter()
            .filter_map(|url| rewrite(url, &self.push_instead_of))
            .collect();
        if !pushed.is_empty() {
            return pushed;
        }
        configured
            .urls
            .iter()
            .map(|url| rewrite_or_keep(url, &self.instead_of))
            .collect()
    }

    /// The URLs `git fetch REMOTE` fetches from (`REMOTE` a name, a group or a URL).
    pub fn fetch_urls(&self, remote: &str) -> Vec<String> {
        if let Some(configured) = self.remotes.get(remote).filter(|r| !r.urls.is_empty()) {
            return configured
                .urls
                .iter()
                .map(|url| rewrite_or_keep(url, &self.instead_of))
                .collect();
        }
        if let Some(members) = self.groups.get(remote) {
            return members.iter().flat_map(|m| self.fetch_urls(m)).collect();
        }
        vec![rewrite_or_keep(remote, &self.instead_of)]
    }

    /// Every remote a request that names none may push to: each branch's
    /// `pushRemote`, `remote.pushDefault`, each branch's `remote`, `origin`.
    fn default_push_remotes(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self.branch_push_remotes.clone();
        names.extend(self.push_default.iter().cloned());
        names.extend(self.branch_remotes.iter().cloned());
        names.insert("origin".to_owned());
        names
    }

    /// Every remote a request that names none may fetch from: each branch's
    /// `remote`, `origin`.
    fn default_fetch_remotes(&self) -> BTreeSet<String> {
        let mut names = self.branch_remotes.clone();
        names.insert("origin".to_owned());
        names
    }

    /// Every configured remote (`fetch --all`, `remote update`).
    fn all_remotes(&self) -> impl Iterator<Item = &str> {
        self.remotes.keys().map(String::as_str)
    }
}

/// git's `alias_url`: the longest matching prefix wins; `None` when none matches.
fn rewrite(url: &str, rules: &[(String, String)]) -> Option<String> {
    rules
        .iter()
        .filter(|(prefix, _)| url.starts_with(prefix.as_str()))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(prefix, base)| format!("{base}{}", &url[prefix.len()..]))
}

fn rewrite_or_keep(url: &str, rules: &[(String, String)]) -> String {
    rewrite(url, rules).unwrap_or_else(|| url.to_owned())
}

/// The destinations of a git argv, read by the built-in module's syntax (every
/// plausible reading counts), with the repository's remote configuration `remotes`
/// (empty outside a repository). Subcommands that contact no remote have none.
pub fn git_destinations<S: AsRef<str>>(
    args: &[S],
    remotes: &GitRemotes,
) -> Result<Vec<GitDestination>, GitLocationError> {
    let module = git_module()?;
    let readings = module
        .readings(args)
        .map_err(GitLocationError::Unreadable)?;
    let mut found = BTreeSet::new();
    for reading in &readings {
        destinations_of(reading, remotes, &mut found);
    }
    Ok(found.into_iter().collect())
}

fn destinations_of(
    reading: &Reading<'_, '_>,
    remotes: &GitRemotes,
    out: &mut BTreeSet<GitDestination>,
) {
    let path: Vec<&str> = reading.path().to_vec();
    let operands: Vec<&str> = reading.operands().map(|w| w.text()).collect();
    let option = |name: &str| {
        reading
            .options()
            .filter(|o| !o.is_global() && o.is(name))
            .filter_map(|o| o.value().map(str::to_owned))
            .last()
    };
    let has = |name: &str| reading.options().any(|o| !o.is_global() && o.is(name));
    let mut push = |urls: Vec<String>| {
        out.extend(
            urls.into_iter()
                .map(|url| GitDestination { url, push: true }),
        );
    };
    match path.first().copied() {
        Some("push") => {
            if let Some(first) = operands.first() {
                push(remotes.push_urls(first));
            } else if let Some(repo) = option("--repo") {
                push(remotes.push_urls(&repo));
            } else {
                for name in remotes.default_push_remotes() {
                    push(remotes.push_urls(&name));
                }
            }
        }
        Some(sub @ ("fetch" | "pull")) => {
            let mut names: Vec<String> = Vec::new();
            if has("--all") {
                names.extend(remotes.all_remotes().map(str::to_owned));
            } else if sub == "fetch" && has("--multiple") {
                names.extend(operands.iter().map(|o| (*o).to_owned()));
            } else if let Some(first) = operands.first() {
                names.push((*first).to_owned());
            } else {
                names.extend(remotes.default_fetch_remotes());
            }
            fetch(out, names.iter().flat_map(|n| remotes.fetch_urls(n)));
        }
        Some("ls-remote") => match operands.first() {
            Some(first) => fetch(out, remotes.fetch_urls(first)),
            None => fetch(
                out,
                remotes
                    .default_fetch_remotes()
                    .iter()
                    .flat_map(|n| remotes.fetch_urls(n)),
            ),
        },
        Some("clone") => {
            if let Some(first) = operands.first() {
                fetch(out, remotes.fetch_urls(first));
            }
        }
        Some("archive") => {
            if let Some(remote) = option("--remote") {
                fetch(out, remotes.fetch_urls(&remote));
            }
        }
        Some("remote") => {
            // `remote VERB ...`: the verb is a path word when the module declares it,
            // an operand otherwise.
            let (verb, rest) = match path.get(1) {
                Some(verb) => (Some(*verb), operands.as_slice()),
                None => (
                    operands.first().copied(),
                    operands.get(1..).unwrap_or_default(),
                ),
            };
            match verb {
                Some("show" | "prune" | "set-head") if !has("-n") => {
                    // Every operand is a remote (set-head's second is a branch: it is
                    // checked as a remote too, which can only deny more).
                    fetch(out, rest.iter().flat_map(|n| remotes.fetch_urls(n)));
                }
                Some("update") if rest.is_empty() => {
                    fetch(
                        out,
                        remotes.all_remotes().flat_map(|n| remotes.fetch_urls(n)),
                    );
                }
                Some("update") => fetch(out, rest.iter().flat_map(|n| remotes.fetch_urls(n))),
                // `remote add -f NAME URL` fetches from the new remote at once.
                Some("add") if has("-f") || has("--fetch") => {
                    if let Some(url) = rest.get(1) {
                        fetch(out, remotes.fetch_urls(url));
                    }
                }
                _ => {}
            }
        }
        _ => {}
    }
}

fn fetch(out: &mut BTreeSet<GitDestination>, urls: impl IntoIterator<Item = String>) {
    out.extend(
        urls.into_iter()
            .map(|url| GitDestination { url, push: false }),
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test")]
mod tests {
    use super::*;

    fn remotes(config: &[(&str, &str)]) -> GitRemotes {
        let mut remotes = GitRemotes::default();
        for (key, value) in config {
            remotes.add(key, Some(value));
        }
        remotes
    }

    fn urls(args: &[&str], remotes: &GitRemotes) -> Vec<(String, bool)> {
        git_destinations(args, remotes)
            .unwrap()
            .into_iter()
            .map(|d| (d.url, d.push))
            .collect()
    }

    #[test]
    fn push_follows_remote_names_pushurl_and_rewriting() {
        let r = remotes(&[
            ("remote.origin.url", "https://github.com/acme/app"),
            ("remote.fork.url", "gh:me/app"),
            ("url.git@github.com:.pushinsteadof", "gh:"),
            ("url.https://github.com/.insteadof", "gh:"),
            ("remote.mirror.url", "https://a.example/x"),
            ("remote.mirror.pushurl", "https://b.example/x"),
        ]);
        assert_eq!(
            urls(&["push", "origin", "main"], &r),
            [("https://github.com/acme/app".to_owned(), true)]
        );
        assert_eq!(
            urls(&["push", "fork"], &r),
            [("git@github.com:me/app".to_owned(), true)]
        );
        assert_eq!(
            urls(&["fetch", "fork"], &r),
            [("https://github.com/me/app".to_owned(), false)]
        );
        assert_eq!(
            urls(&["push", "mirror"], &r),
            [("https://b.example/x".to_owned(), true)]
        );
        assert_eq!(
            urls(&["push", "--repo=gh:x/y"], &r),
            [("git@github.com:x/y".to_owned(), true)]
        );
    }

    #[test]
    fn a_push_without_a_remote_reaches_every_remote_a_branch_could_pick() {
        let r = remotes(&[
            ("remote.origin.url", "https://o.example/r"),
            ("remote.evil.url", "https://evil.example/r"),
            ("branch.other.remote", "evil"),
        ]);
        let got = urls(&["push"], &r);
        assert!(got.contains(&("https://evil.example/r".to_owned(), true)));
        assert!(got.contains(&("https://o.example/r".to_owned(), true)));
        assert_eq!(
            urls(&["push", "-u", "origin", "HEAD"], &r),
            [("https://o.example/r".to_owned(), true)]
        );
    }

    #[test]
    fn fetch_all_groups_and_unknown_names() {
        let r = remotes(&[
            ("remote.a.url", "https://a.example/r"),
            ("remote.b.url", "https://b.example/r"),
            ("remotes.both", "a b"),
        ]);
        assert_eq!(urls(&["fetch", "--all"], &r).len(), 2);
        assert_eq!(urls(&["fetch", "both"], &r).len(), 2);
        assert_eq!(urls(&["remote", "update"], &r).len(), 2);
        assert_eq!(
            urls(&["pull", "nosuch"], &r),
            [("nosuch".to_owned(), false)]
        );
        assert_eq!(
            urls(
                &["clone", "https://c.example/r", "dir"],
                &GitRemotes::default()
            ),
            [("https://c.example/r".to_owned(), false)]
        );
        assert_eq!(
            urls(&["remote", "add", "-f", "x", "https://x.example/r"], &r),
            [("https://x.example/r".to_owned(), false)]
        );
        assert!(urls(&["remote", "add", "x", "https://x.example/r"], &r).is_empty());
        assert!(urls(&["status"], &r).is_empty());
        assert!(urls(&["commit", "-m", "push origin"], &r).is_empty());
    }
}
