//! Reading (and rewriting) a small file the agent may have planted (a `.git` file,
//! `commondir`, a rebase todo list) without ever opening anything but a regular file:
//! a FIFO would block the daemon, and opening a device can act on it (the daemon may
//! run as root, and a symlink in the workspace can point anywhere).
//!
//! The path is resolved once, to an `O_PATH` descriptor that opens nothing; its type is
//! checked on that descriptor, and only then is that same inode opened for reading
//! (through `/proc/self/fd`), so a swap of the path in between changes nothing.
//!
//! Nor does a read wait on the agent: a regular file the agent holds under a lease
//! (`F_SETLEASE`, which needs no privilege on a file one owns) would make an open wait
//! until the lease is given up or broken, 45 s by default, on one of the daemon's
//! runtime threads. The open does not wait ([`SmallFileError::Leased`]).

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};

/// Why a small file was not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmallFileError {
    /// It is not a regular file (a FIFO, a device, a directory).
    #[error("`{}` is not a regular file", .0.display())]
    NotRegular(PathBuf),
    /// Another process holds it under a lease: opening it would wait for that process.
    #[error(
        "`{}` is held under a lease by another process; the daemon does not wait for it (try again once that process has let it go)",
        .0.display()
    )]
    Leased(PathBuf),
    /// It is longer than the caller reads.
    #[error("`{}` is longer than {max} bytes", path.display())]
    TooLong {
        /// The file.
        path: PathBuf,
        /// The most the caller reads.
        max: u64,
    },
    /// The system refused.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Reads `path` (symlinks followed) if it is a regular file of at most `max` bytes;
/// `None` when it does not exist.
pub fn read(path: &Path, max: u64) -> Result<Option<Vec<u8>>, SmallFileError> {
    read_held(rustix::fs::CWD, path, OFlags::empty(), max)
}

/// [`read`], with the path the kernel gives the file read (symlinks resolved): the
/// file is named by what was opened, so a caller can check where a path an agent may
/// have planted links to really leads.
pub fn read_named(path: &Path, max: u64) -> Result<Option<(Vec<u8>, PathBuf)>, SmallFileError> {
    let io = io_error(path);
    let Some((held, size)) = open_held(rustix::fs::CWD, path, OFlags::empty())? else {
        return Ok(None);
    };
    let name = crate::fd_path::real_path(held.as_fd()).map_err(io)?;
    let file = reopen(held.as_fd(), path, false)?;
    Ok(Some((read_from(file, size, path, max)?, name)))
}

/// Reads `name` in the directory `dir` without following a symlink in its last
/// component (a symlink is not a regular file), if it is a regular file of at most
/// `max` bytes; `None` when it does not exist.
pub fn read_at(
    dir: BorrowedFd<'_>,
    name: &str,
    max: u64,
) -> Result<Option<Vec<u8>>, SmallFileError> {
    read_held(dir, Path::new(name), OFlags::NOFOLLOW, max)
}

/// [`read`] and [`read_at`]: `path` resolved from `dir` with `flags` added.
fn read_held(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: OFlags,
    max: u64,
) -> Result<Option<Vec<u8>>, SmallFileError> {
    let Some((file, size)) = open_regular(dir, path, flags, false)? else {
        return Ok(None);
    };
    read_from(file, size, path, max).map(Some)
}

/// Replaces what `path` (symlinks followed) holds with `new` when it is a regular file
/// that holds exactly `expected` now, reading and writing the one file that was
/// checked (a path swapped in between changes nothing). Returns whether it did;
/// `Ok(false)` when there is no such file.
pub fn replace_if(path: &Path, expected: &[u8], new: &[u8]) -> Result<bool, SmallFileError> {
    use std::os::unix::fs::FileExt;
    let io = io_error(path);
    let Some((file, size)) = open_regular(rustix::fs::CWD, path, OFlags::empty(), true)? else {
        return Ok(false);
    };
    let max = expected.len() as u64;
    match read_from(&file, size, path, max) {
        Ok(now) if now == expected => {}
        Ok(_) | Err(SmallFileError::TooLong { .. }) => return Ok(false),
        Err(e) => return Err(e),
    }
    file.set_len(0).map_err(io)?;
    file.write_all_at(new, 0).map_err(io)?;
    Ok(true)
}

/// Opens `path`, resolved from `dir` with `flags` added, for reading (and writing
/// with `write`) if it is a regular file, with its size; `None` when it does not
/// exist. The path is resolved once, to an `O_PATH` descriptor whose type is checked
/// before that same inode is opened.
fn open_regular(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: OFlags,
    write: bool,
) -> Result<Option<(std::fs::File, u64)>, SmallFileError> {
    let Some((held, size)) = open_held(dir, path, flags)? else {
        return Ok(None);
    };
    let file = reopen(held.as_fd(), path, write)?;
    Ok(Some((file, size)))
}

/// The checked descriptor `held` (of `path`) opened for reading (and writing with
/// `write`), without waiting for a lease ([`crate::fd_path::reopen`]).
fn reopen(held: BorrowedFd<'_>, path: &Path, write: bool) -> Result<std::fs::File, SmallFileError> {
    crate::fd_path::reopen(held, write).map_err(|source| {
        if source.kind() == std::io::ErrorKind::WouldBlock {
            SmallFileError::Leased(path.to_owned())
        } else {
            io_error(path)(source)
        }
    })
}

/// Resolves `path` from `dir` with `flags` added, once, to an `O_PATH` descriptor that
/// opens nothing, if it is a regular file; with its size. `None` when it does not
/// exist.
fn open_held(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: OFlags,
) -> Result<Option<(OwnedFd, u64)>, SmallFileError> {
    let io = io_error(path);
    let held = match rustix::fs::openat(
        dir,
        path,
        OFlags::PATH | OFlags::CLOEXEC | flags,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(io(e.into())),
    };
    let stat = rustix::fs::fstat(&held).map_err(|e| io(e.into()))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(SmallFileError::NotRegular(path.to_owned()));
    }
    Ok(Some((held, u64::try_from(stat.st_size).unwrap_or(0))))
}

/// Reads at most `max` bytes of `file` (of `size` bytes when opened), from its start;
/// more is [`SmallFileError::TooLong`].
fn read_from(
    mut file: impl Read,
    size: u64,
    path: &Path,
    max: u64,
) -> Result<Vec<u8>, SmallFileError> {
    let io = io_error(path);
    // Room for the size it has and a byte more, to see it grown. One read that gives
    // the size the file had is the whole file; anything else (a file that grew or
    // shrank, a file system that reads less) is read on to its end.
    let mut bytes = vec![0; usize::try_from(size.min(max)).unwrap_or(0) + 1];
    let read = loop {
        match file.read(&mut bytes) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            read => break read.map_err(io)?,
        }
    };
    bytes.truncate(read);
    if read as u64 != size {
        file.take(max.saturating_add(1).saturating_sub(read as u64))
            .read_to_end(&mut bytes)
            .map_err(io)?;
    }
    if bytes.len() as u64 > max {
        return Err(SmallFileError::TooLong {
            path: path.to_owned(),
            max,
        });
    }
    Ok(bytes)
}

/// Turns an I/O error on `path` into a [`SmallFileError`].
fn io_error(path: &Path) -> impl Fn(std::io::Error) -> SmallFileError + Copy + '_ {
    |source| SmallFileError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test")]
mod tests {
    use super::*;

    #[test]
    fn a_file_read_through_a_link_is_named_by_what_was_opened() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        std::fs::write(root.join("real/f"), "text").unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        let (bytes, name) = read_named(&root.join("link/f"), 100).unwrap().unwrap();
        assert_eq!(
            (bytes.as_slice(), name),
            (&b"text"[..], root.join("real/f"))
        );
        assert!(read_named(&root.join("link/none"), 100).unwrap().is_none());
        assert!(matches!(
            read_named(&root.join("link"), 100),
            Err(SmallFileError::NotRegular(_))
        ));
    }

    #[test]
    fn a_file_that_is_not_the_size_it_had_is_read_to_its_end() {
        /// Gives one byte a read, as a file system may.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(1);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let path = Path::new("f");
        let read = |file: &mut dyn Read, size| read_from(file, size, path, 16);
        // Grown since its size was read, shrunk, read a byte at a time: all of it.
        assert_eq!(
            read(&mut &b"ref: refs/x\n"[..], 4).unwrap(),
            b"ref: refs/x\n"
        );
        assert_eq!(read(&mut &b"ref"[..], 12).unwrap(), b"ref");
        assert_eq!(read(&mut Trickle(b"ref: x"), 6).unwrap(), b"ref: x");
        // Grown past what the caller reads.
        assert!(matches!(
            read(&mut &[b'x'; 40][..], 4),
            Err(SmallFileError::TooLong { .. })
        ));
        assert!(matches!(
            read(&mut Trickle(&[b'x'; 17]), 17),
            Err(SmallFileError::TooLong { .. })
        ));
    }

    #[test]
    fn only_regular_files_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "gitdir: x\n").unwrap();
        assert_eq!(read(&file, 64).unwrap().unwrap(), b"gitdir: x\n");
        assert!(read(&dir.path().join("missing"), 64).unwrap().is_none());
        assert!(matches!(
            read(&file, 4),
            Err(SmallFileError::TooLong { .. })
        ));
        // A symlink to a device is refused without the device being opened (/dev/null
        // stands in for one whose open would act).
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        assert!(matches!(
            read(&link, 64),
            Err(SmallFileError::NotRegular(_))
        ));
        // A FIFO would block an open: it is refused, not waited on.
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert!(matches!(
            read(&fifo, 64),
            Err(SmallFileError::NotRegular(_))
        ));
    }

    /// Holds `path` under a write lease, as a process that owns the file can; the lease
    /// is given up when the descriptor returned is closed.
    fn lease(path: &Path) -> OwnedFd {
        use std::os::fd::AsRawFd;
        let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        #[expect(
            unsafe_code,
            reason = "a signal's disposition set to SIG_IGN and an fcntl on a descriptor held here: plain system calls"
        )]
        // SAFETY: no handler is installed; the descriptor is open for the call.
        let set = unsafe {
            // The holder of a lease is told with SIGIO, which would end this process.
            libc::signal(libc::SIGIO, libc::SIG_IGN);
            libc::fcntl(fd.as_raw_fd(), libc::F_SETLEASE, libc::F_WRLCK)
        };
        assert_eq!(set, 0, "F_SETLEASE: {}", std::io::Error::last_os_error());
        fd
    }

    #[test]
    fn a_file_held_under_a_lease_is_refused_not_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(&file, "[core]\n").unwrap();
        let held = lease(&file);
        assert!(matches!(read(&file, 64), Err(SmallFileError::Leased(_))));
        assert!(matches!(
            replace_if(&file, b"[core]\n", b"x"),
            Err(SmallFileError::Leased(_))
        ));
        // Let go, the file reads as it did. (That an open which may wait does wait for
        // the lease: `tests/what_runs.rs`, with the real daemon.)
        drop(held);
        assert_eq!(read(&file, 64).unwrap().unwrap(), b"[core]\n");
    }

    #[test]
    fn replaces_only_a_regular_file_holding_what_was_expected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "gitdir: /shadow/x\n").unwrap();
        assert!(!replace_if(&file, b"gitdir: /other\n", b"new\n").unwrap());
        assert!(!replace_if(&file, b"gitdir: /shadow\n", b"new\n").unwrap());
        assert_eq!(std::fs::read(&file).unwrap(), b"gitdir: /shadow/x\n");
        assert!(replace_if(&file, b"gitdir: /shadow/x\n", b"gitdir: /real/x\n").unwrap());
        assert_eq!(std::fs::read(&file).unwrap(), b"gitdir: /real/x\n");
        assert!(!replace_if(&dir.path().join("missing"), b"", b"x").unwrap());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        assert!(matches!(
            replace_if(&link, b"", b"x"),
            Err(SmallFileError::NotRegular(_))
        ));
    }
}
