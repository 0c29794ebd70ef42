//! The working directory: the request's cwd is a claim made inside the container. It
//! is translated through the agent's mounts into a host path, and the daemon then
//! checks that the path it resolves to (symlinks included) stays inside a mount.

use std::path::{Component, Path, PathBuf};

/// One mount: what the container sees at `container` is the host's `host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute path inside the container.
    pub container: PathBuf,
    /// Absolute path on the host.
    pub host: PathBuf,
}

/// Why a cwd cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CwdError {
    /// No cwd, or not an absolute path.
    #[error("the working directory `{0}` is not an absolute path")]
    NotAbsolute(String),
    /// `..` climbs above `/`, or the path has a NUL.
    #[error("the working directory `{0}` is malformed")]
    Malformed(String),
    /// The path is not under any of the agent's mounts.
    #[error("the working directory `{0}` is outside the agent's mounts")]
    OutsideMounts(String),
    /// The host path resolves (through symlinks) outside every mount.
    #[error("the working directory resolves to `{0}`, outside the agent's mounts")]
    EscapesMounts(String),
}

/// Translates a container cwd into a host path through `mounts` (the longest
/// matching container prefix wins). Purely lexical: `.` and `..` are resolved first,
/// symlinks are the daemon's to check with [`confine`].
pub fn translate(mounts: &[Mount], container_cwd: &str) -> Result<PathBuf, CwdError> {
    if container_cwd.contains('\0') {
        return Err(CwdError::Malformed(
            container_cwd.escape_debug().to_string(),
        ));
    }
    let path = Path::new(container_cwd);
    if !path.is_absolute() {
        return Err(CwdError::NotAbsolute(container_cwd.to_owned()));
    }
    let normal = normalize(path).ok_or_else(|| CwdError::Malformed(container_cwd.to_owned()))?;
    mounts
        .iter()
        .filter_map(|m| {
            let rest = normal.strip_prefix(&m.container).ok()?;
            Some((m.container.components().count(), m.host.join(rest)))
        })
        .max_by_key(|(depth, _)| *depth)
        .map(|(_, host)| host)
        .ok_or_else(|| CwdError::OutsideMounts(container_cwd.to_owned()))
}

/// Checks that `resolved` (the canonical host path the daemon resolved) lies inside
/// one of `roots` (the canonical host paths of the mounts).
pub fn confine(roots: &[PathBuf], resolved: &Path) -> Result<(), CwdError> {
    if inside(roots, resolved) {
        Ok(())
    } else {
        Err(CwdError::EscapesMounts(resolved.display().to_string()))
    }
}

/// Whether `path` lies inside one of `roots`, each compared whole component by whole
/// component (`/ws` holds `/ws/a`, not `/wsx`); [`confine`] without its error, for a
/// test repeated on a walk.
pub fn inside(roots: &[PathBuf], path: &Path) -> bool {
    roots.iter().any(|root| path.starts_with(root))
}

/// Resolves `.` and `..` lexically; `None` when `..` climbs above the root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(part) => out.push(part),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mounts() -> Vec<Mount> {
        vec![
            Mount {
                container: "/workspace".into(),
                host: "/srv/a1/ws".into(),
            },
            Mount {
                container: "/workspace/cache".into(),
                host: "/srv/cache".into(),
            },
        ]
    }

    #[test]
    fn translates_through_the_longest_mount() {
        assert_eq!(
            translate(&mounts(), "/workspace").unwrap(),
            PathBuf::from("/srv/a1/ws")
        );
        assert_eq!(
            translate(&mounts(), "/workspace/src/./x").unwrap(),
            PathBuf::from("/srv/a1/ws/src/x")
        );
        assert_eq!(
            translate(&mounts(), "/workspace/cache/y").unwrap(),
            PathBuf::from("/srv/cache/y")
        );
        assert_eq!(
            translate(&mounts(), "/workspace/cache/../z").unwrap(),
            PathBuf::from("/srv/a1/ws/z")
        );
    }

    #[test]
    fn refuses_what_is_outside() {
        assert!(matches!(
            translate(&mounts(), "/etc"),
            Err(CwdError::OutsideMounts(_))
        ));
        assert!(matches!(
            translate(&mounts(), "/workspace/../etc"),
            Err(CwdError::OutsideMounts(_))
        ));
        assert!(matches!(
            translate(&mounts(), "/workspacex"),
            Err(CwdError::OutsideMounts(_))
        ));
        assert!(matches!(
            translate(&mounts(), ""),
            Err(CwdError::NotAbsolute(_))
        ));
        assert!(matches!(
            translate(&mounts(), "workspace"),
            Err(CwdError::NotAbsolute(_))
        ));
        assert!(matches!(
            translate(&mounts(), "/.."),
            Err(CwdError::Malformed(_))
        ));
        assert!(matches!(
            translate(&mounts(), "/workspace\0"),
            Err(CwdError::Malformed(_))
        ));
        assert!(matches!(
            translate(&[], "/workspace"),
            Err(CwdError::OutsideMounts(_))
        ));
    }

    #[test]
    fn confines_resolved_paths() {
        let roots = vec![PathBuf::from("/srv/a1/ws")];
        assert!(confine(&roots, Path::new("/srv/a1/ws/x")).is_ok());
        assert!(confine(&roots, Path::new("/srv/a1/wsx")).is_err());
        assert!(confine(&roots, Path::new("/etc")).is_err());
        assert!(inside(&roots, Path::new("/srv/a1/ws")));
        assert!(!inside(&roots, Path::new("/srv/a1/wsx/y")));
        assert!(!inside(&[], Path::new("/srv/a1/ws")));
    }

    proptest! {
        #[test]
        fn translated_paths_stay_under_a_mount_host(parts in prop::collection::vec(prop::sample::select(vec!["..", ".", "a", "workspace", "cache", "etc"]), 0..8)) {
            let cwd = format!("/{}", parts.join("/"));
            if let Ok(host) = translate(&mounts(), &cwd) {
                prop_assert!(host.starts_with("/srv/a1/ws") || host.starts_with("/srv/cache"), "{cwd} -> {host:?}");
                prop_assert!(!host.components().any(|c| c == Component::ParentDir));
            }
        }
    }
}
