//! A run's private directory: `TMPDIR` and `HOME` for one program, created by the
//! daemon before the run and removed after it.
//!
//! The program's `HOME` is never the daemon user's home (which holds every
//! credential): it is an empty directory of the run's own, in which each `~/...` path
//! the agent's profile declares for the command is a symlink to the real file or
//! directory (which the confinement grants). Tools find the configuration they were
//! given where they look for it, and nothing else: an undeclared `~/.aws` simply does
//! not exist for them.

use std::io;
use std::path::{Path, PathBuf};

/// A link in the run's home: `relative` (under `~`) points at `target` (the real,
/// resolved host path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeLink {
    /// The path under the home, e.g. `.kube/config`.
    pub relative: PathBuf,
    /// The resolved host path it stands for.
    pub target: PathBuf,
}

/// The run's directory, removed (without following symlinks) when dropped.
#[derive(Debug)]
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    /// Creates the run's directory (mode 0700, an unguessable name in `base`) with
    /// `home/` holding `links` and an empty `tmp/`.
    pub fn create_in(base: &Path, links: &[HomeLink]) -> io::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("airlock-run-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(base)?;
        let scratch = Self { dir };
        std::fs::create_dir(scratch.home())?;
        std::fs::create_dir(scratch.tmp())?;
        for link in links {
            let at = scratch.home().join(&link.relative);
            if let Some(parent) = at.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::os::unix::fs::symlink(&link.target, &at)?;
        }
        Ok(scratch)
    }

    /// The whole directory (what the confinement grants read and write).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The program's `HOME`.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The program's `TMPDIR`.
    pub fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_holds_only_the_declared_links_and_everything_goes_away() {
        let real = tempfile::tempdir().unwrap();
        std::fs::write(real.path().join("config"), "x").unwrap();
        let links = [
            HomeLink {
                relative: ".kube/config".into(),
                target: real.path().join("config"),
            },
            HomeLink {
                relative: ".gitconfig".into(),
                target: real.path().join("config"),
            },
        ];
        let scratch = Scratch::create_in(&std::env::temp_dir(), &links).unwrap();
        let root = scratch.root().to_owned();
        assert_eq!(
            std::fs::read_to_string(scratch.home().join(".kube/config")).unwrap(),
            "x"
        );
        let mut names: Vec<_> = std::fs::read_dir(scratch.home())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, [".gitconfig", ".kube"]);
        assert!(scratch.tmp().is_dir());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&root).unwrap().permissions().mode() & 0o777,
            0o700
        );
        drop(scratch);
        assert!(!root.exists());
        assert!(
            real.path().join("config").exists(),
            "targets are not removed"
        );
    }
}
