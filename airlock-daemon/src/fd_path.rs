//! An open descriptor through `/proc/self/fd`: the path the kernel gives it, and the
//! same file opened again (an `O_PATH` descriptor, checked, opened for reading).
//!
//! The daemon holds `/proc/self/fd` open (threads share the descriptor table), so each
//! use looks up one name in it instead of walking `/proc`, `self` and `fd` again.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::OnceLock;

use rustix::fs::{Mode, OFlags};

/// `/proc/self/fd`, open; `None` when it cannot be opened (each use then walks the
/// path, and fails as it would).
fn directory() -> Option<BorrowedFd<'static>> {
    static DIRECTORY: OnceLock<Option<OwnedFd>> = OnceLock::new();
    DIRECTORY
        .get_or_init(|| {
            crate::workdir::open_directory(rustix::fs::CWD, "/proc/self/fd", OFlags::empty()).ok()
        })
        .as_ref()
        .map(AsFd::as_fd)
}

/// The name of `fd` in `/proc/self/fd`, and the directory to look it up in.
fn entry(fd: BorrowedFd<'_>) -> (BorrowedFd<'static>, String) {
    let number = fd.as_raw_fd();
    match directory() {
        Some(dir) => (dir, number.to_string()),
        None => (rustix::fs::CWD, format!("/proc/self/fd/{number}")),
    }
}

/// The path the kernel gives the open descriptor `fd`; an error when it has none that
/// is absolute (a file outside the process's root, or on no path).
pub(crate) fn real_path(fd: BorrowedFd<'_>) -> std::io::Result<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let (dir, name) = entry(fd);
    let link = rustix::fs::readlinkat(dir, name.as_str(), Vec::new())?;
    let path = PathBuf::from(std::ffi::OsString::from_vec(link.into_bytes()));
    if !path.is_absolute() {
        return Err(std::io::Error::other(format!(
            "the directory has no path (`{}`)",
            path.display()
        )));
    }
    Ok(path)
}

/// The file `fd` (typically an `O_PATH` descriptor) opened again, for reading and, with
/// `write`, writing: the same inode, whatever its path now leads to.
///
/// Never waits: the open is non-blocking, so a file another process holds under a
/// lease (`F_SETLEASE`, which the owner of a file may take without privilege) fails at
/// once with [`std::io::ErrorKind::WouldBlock`]. A blocking open would wait for the
/// holder to let go, up to the kernel's `lease-break-time` (45 s by default), on one of
/// the daemon's few runtime threads. On a regular file a non-blocking descriptor reads
/// and writes as any other.
pub(crate) fn reopen(fd: BorrowedFd<'_>, write: bool) -> std::io::Result<std::fs::File> {
    let (dir, name) = entry(fd);
    let access = if write { OFlags::RDWR } else { OFlags::RDONLY };
    let flags = access | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = rustix::fs::openat(dir, name.as_str(), flags, Mode::empty())?;
    Ok(std::fs::File::from(file))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test")]
mod tests {
    use super::*;

    #[test]
    fn names_and_reopens_what_was_opened() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("f"), "one").unwrap();
        let held = rustix::fs::open(root.join("f"), OFlags::PATH, Mode::empty()).unwrap();
        assert_eq!(real_path(held.as_fd()).unwrap(), root.join("f"));
        // Renamed, and another file put at its path: the descriptor's own file.
        std::fs::rename(root.join("f"), root.join("g")).unwrap();
        std::fs::write(root.join("f"), "two").unwrap();
        assert_eq!(real_path(held.as_fd()).unwrap(), root.join("g"));
        let text = std::io::read_to_string(reopen(held.as_fd(), false).unwrap()).unwrap();
        assert_eq!(text, "one");
    }
}
