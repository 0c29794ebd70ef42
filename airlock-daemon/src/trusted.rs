//! What the daemon trusts, which no agent may be able to write, nor its programs read:
//! its configuration and audit log, the agents file, each agent's profile, modules and
//! hooks, the agents' sockets, the runs' private directories and the directory of the
//! ssh-agents' sockets.
//!
//! An agent writes everything under its mounts, from its container, at any moment. A
//! mount that covers an agent's `hooks` lets that agent rewrite a hook the daemon runs
//! unconfined, on the host, with its credentials, at the next request (shown with the
//! real daemon before this check: an agent directory mounted as the workspace, the hook
//! rewritten through the mount, `id` written outside every mount); one that covers a
//! profile or a module rewrites the agent's policy at the next reload; one that covers
//! the sockets lets its agent connect as another; one that covers the private
//! directories lets it change what the next run of any agent is given (the pinned git
//! configuration git reads by path). So each mount is refused when it covers any of
//! them: when one of them is the mount or lies beneath it; and so is each path a
//! command's programs are granted, to write or to read (reading, they would see another
//! agent's profile, other runs' files, the names of the ssh-agents' sockets).

use std::path::{Path, PathBuf};

/// A file or directory the daemon trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trusted {
    /// Where it really is: links resolved, as far as it exists.
    pub path: PathBuf,
    /// What it is, for an error ("agent `a1`'s hooks").
    pub what: String,
}

impl Trusted {
    /// `path`, which need not exist yet (a directory the daemon makes), as `what`.
    pub fn new(path: &Path, what: impl Into<String>) -> Self {
        Self {
            path: real_path(path),
            what: what.into(),
        }
    }
}

/// The first of `trusted` that a mount at `root` (a real path) would let its agent
/// write: one that is `root` or lies beneath it.
pub fn covered<'t>(root: &Path, trusted: &'t [Trusted]) -> Option<&'t Trusted> {
    trusted.iter().find(|t| t.path.starts_with(root))
}

/// What the daemon trusts in agent `name`'s directory `dir`: its profile, and the
/// directories of its modules and hooks (what is there, and what would be put there),
/// with the modules and hooks themselves wherever links lead.
pub fn agent_files(name: &str, dir: &Path) -> Vec<Trusted> {
    let mut trusted = vec![
        Trusted::new(
            &dir.join("airlock.toml"),
            format!("agent `{name}`'s profile"),
        ),
        Trusted::new(&dir.join("commands"), format!("agent `{name}`'s modules")),
        Trusted::new(&dir.join("hooks"), format!("agent `{name}`'s hooks")),
    ];
    let modules = std::fs::read_dir(dir.join("commands"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path());
    let hooks = ["pre-exec", "post-exec"].map(|hook| dir.join("hooks").join(hook));
    for path in modules.chain(hooks) {
        if path.exists() {
            let what = format!("agent `{name}`'s `{}`", path.display());
            trusted.push(Trusted::new(&path, what));
        }
    }
    trusted
}

/// The agents' sockets directory, as trusted.
pub fn sockets(dir: &Path) -> Trusted {
    Trusted::new(dir, "the agents' sockets directory")
}

/// `path` with links resolved: the real path of its longest part that exists, and the
/// rest as written (a directory not made yet, a file not written yet).
fn real_path(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |path, name| path.join(name));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test")]
mod tests {
    use super::*;

    #[test]
    fn a_mount_covers_what_is_at_or_beneath_it_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("a1/ws")).unwrap();
        std::fs::create_dir_all(root.join("a1/hooks")).unwrap();
        std::fs::write(root.join("a1/airlock.toml"), "").unwrap();
        let trusted = agent_files("a1", &root.join("a1"));
        // The workspace beside the profile covers nothing of it.
        assert_eq!(covered(&root.join("a1/ws"), &trusted), None);
        // The agent's directory, or above it: its profile first.
        for mount in [root.join("a1"), root.clone()] {
            let found = covered(&mount, &trusted).unwrap();
            assert_eq!(found.what, "agent `a1`'s profile");
        }
        // The hooks themselves, and the modules' directory before it exists.
        assert_eq!(
            covered(&root.join("a1/hooks"), &trusted).unwrap().what,
            "agent `a1`'s hooks"
        );
        let modules = Trusted::new(&root.join("a1/commands"), "m");
        assert_eq!(modules.path, root.join("a1/commands"));
    }

    #[test]
    fn hooks_and_modules_are_trusted_where_their_links_lead() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("a1/hooks")).unwrap();
        std::fs::create_dir_all(root.join("a1/commands")).unwrap();
        std::fs::create_dir_all(root.join("ws")).unwrap();
        std::fs::write(root.join("ws/hook"), "#!/bin/sh\n").unwrap();
        std::fs::write(root.join("ws/git.toml"), "").unwrap();
        std::os::unix::fs::symlink(root.join("ws/hook"), root.join("a1/hooks/pre-exec")).unwrap();
        std::os::unix::fs::symlink(root.join("ws/git.toml"), root.join("a1/commands/git.toml"))
            .unwrap();
        let trusted = agent_files("a1", &root.join("a1"));
        let found: Vec<&str> = trusted
            .iter()
            .filter(|t| t.path.starts_with(root.join("ws")))
            .map(|t| t.what.as_str())
            .collect();
        assert_eq!(found.len(), 2, "{trusted:?}");
        assert!(covered(&root.join("ws"), &trusted).is_some());
    }

    #[test]
    fn a_path_not_made_yet_is_named_by_its_real_parent() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        assert_eq!(
            sockets(&root.join("link/sockets/deeper")).path,
            root.join("real/sockets/deeper")
        );
    }
}
