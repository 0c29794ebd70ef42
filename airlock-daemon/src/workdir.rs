//! The program's working directory, held open: the request's cwd is translated
//! through the agent's mounts, opened, and the directory the descriptor really is
//! (read back from the kernel, after the open) must lie inside a mount. The child
//! enters it with `fchdir`, so swapping a symlink or directory after the check cannot
//! move the program anywhere else.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use airlock_core::{CwdError, Mount, confine, translate};
use rustix::fs::{Mode, OFlags};

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
        let dir = Self::open(&host).map_err(|source| WorkDirError::Open {
            cwd: cwd.to_owned(),
            source,
        })?;
        confine(roots, &dir.path)?;
        Ok(dir)
    }

    /// Opens `path` (symlinks followed) as a directory and reads back which directory
    /// it is. No confinement check: for callers that chose the path themselves.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let path = real_path(&fd)?;
        Ok(Self { path, fd })
    }
}

/// The path the kernel gives an open descriptor (`/proc/self/fd/N`).
pub(crate) fn real_path(fd: &OwnedFd) -> std::io::Result<PathBuf> {
    use std::os::fd::AsRawFd;
    let link = format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd());
    let path = std::fs::read_link(link)?;
    if !path.is_absolute() {
        return Err(std::io::Error::other(format!(
            "the directory has no path (`{}`)",
            path.display()
        )));
    }
    Ok(path)
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
