//! The program's working directory, held open: the request's cwd is translated
//! through the agent's mounts, opened, and the directory the descriptor really is
//! (read back from the kernel after the open; or, for a path with no `..`, opened
//! without following any link, so that the path is its name) must lie inside a
//! mount. The child
//! enters it with `fchdir`, so swapping a symlink or directory after the check cannot
//! move the program anywhere else.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use airlock_core::{CwdError, Mount, confine, translate};
use rustix::fs::{Mode, OFlags, ResolveFlags};

/// An open, checked working directory.
#[derive(Debug)]
pub struct WorkDir {
    /// The directory's host path, as the kernel names the open directory.
    pub path: PathBuf,
    /// The open directory (`O_PATH`, close-on-exec).
    pub fd: OwnedFd,
}

/// Why a working directory cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkDirError {
    /// Translation or confinement failed.
    #[error(transparent)]
    Cwd(#[from] CwdError),
    /// The directory cannot be opened.
    #[error("the working directory `{cwd}` cannot be opened: {source}")]
    Open {
        /// The cwd as the client claimed it.
        cwd: String,
        /// The error.
        source: std::io::Error,
    },
}

impl WorkDir {
    /// Translates `cwd` (a container path) through `mounts`, opens it, and checks that
    /// what was opened lies inside one of `roots` (the mounts' canonical host paths).
    pub fn open_confined(
        mounts: &[Mount],
        roots: &[PathBuf],
        cwd: &str,
    ) -> Result<Self, WorkDirError> {
        let host = translate(mounts, cwd)?;
        let dir = match Self::open_plain(&host) {
            Some(dir) => dir,
            None => Self::open(&host).map_err(|source| WorkDirError::Open {
                cwd: cwd.to_owned(),
                source,
            })?,
        };
        confine(roots, &dir.path)?;
        Ok(dir)
    }

    /// Opens `path` when no component of it is a link or `..`: the directory the kernel
    /// opened is then named by `path` itself, and reading its name back (what
    /// [`WorkDir::open`] does, a third of its cost) is not needed. `None` when `path`
    /// is not such a path (or cannot be opened so): open it the general way.
    fn open_plain(path: &Path) -> Option<Self> {
        if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
            return None;
        }
        let fd = rustix::fs::openat2(
            rustix::fs::CWD,
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::NO_SYMLINKS,
        )
        .ok()?;
        // As the kernel would name it: without `.`, repeated or trailing slashes.
        let path = path.components().collect();
        Some(Self { path, fd })
    }

    /// Opens `path` (symlinks followed) as a directory and reads back which directory
    /// it is. No confinement check: for callers that chose the path themselves.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let fd = open_directory(rustix::fs::CWD, path, OFlags::empty())?;
        let path = crate::fd_path::real_path(fd.as_fd())?;
        Ok(Self { path, fd })
    }
}

/// Opens the directory `path`, from `base`, as a descriptor that opens nothing
/// (`O_PATH`, close-on-exec), with `flags` added.
pub(crate) fn open_directory<P: rustix::path::Arg>(
    base: BorrowedFd<'_>,
    path: P,
    flags: OFlags,
) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        base,
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC | flags,
        Mode::empty(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_and_confines_what_was_opened() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let ws = root.join("ws");
        let outside = root.join("outside");
        std::fs::create_dir_all(ws.join("src")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, ws.join("escape")).unwrap();
        let mounts = [Mount {
            container: "/workspace".into(),
            host: ws.clone(),
        }];
        let roots = [ws.clone()];
        let ok = WorkDir::open_confined(&mounts, &roots, "/workspace/src").unwrap();
        assert_eq!(ok.path, ws.join("src"));
        let ok = WorkDir::open_confined(&mounts, &roots, "/workspace//./src/").unwrap();
        assert_eq!(ok.path, ws.join("src"));
        // A link inside the mounts: the directory is named by where it really is.
        std::os::unix::fs::symlink(ws.join("src"), ws.join("alias")).unwrap();
        let linked = WorkDir::open_confined(&mounts, &roots, "/workspace/alias").unwrap();
        assert_eq!(linked.path, ws.join("src"));
        // A mount declared through a link and with `..`: named the same way.
        let through = [Mount {
            container: "/workspace".into(),
            host: ws.join("alias/.."),
        }];
        let ok = WorkDir::open_confined(&through, &roots, "/workspace/src").unwrap();
        assert_eq!(ok.path, ws.join("src"));
        let escape = WorkDir::open_confined(&mounts, &roots, "/workspace/escape").unwrap_err();
        assert!(
            matches!(escape, WorkDirError::Cwd(CwdError::EscapesMounts(ref p)) if p == &outside.display().to_string()),
            "{escape}"
        );
        let missing = WorkDir::open_confined(&mounts, &roots, "/workspace/nope").unwrap_err();
        assert!(matches!(missing, WorkDirError::Open { .. }), "{missing}");
        std::fs::write(ws.join("file"), "x").unwrap();
        let file = WorkDir::open_confined(&mounts, &roots, "/workspace/file").unwrap_err();
        assert!(matches!(file, WorkDirError::Open { .. }), "{file}");
    }
}
