//! Where git will find its repository, worked out in-process the way git's own
//! discovery (`setup_git_directory_gently` in setup.c, git 2.39 to 2.47) does it, so
//! that a git request does not cost a `git rev-parse` process.
//!
//! Only the plain cases are answered here: the working directory (after the argv's
//! `-C` options), walked up to the filesystem's root or the first mount point, looking
//! for a `.git` directory, a `.git` file (`gitdir: PATH`, worktrees and submodules) or
//! a bare repository. Everything else (an environment that sets `GIT_DIR` and its
//! kin, `--git-dir`, `--work-tree`, `--bare`, a `.git` file or `HEAD` git might read
//! another way) is [`Discovery::AskGit`]: the caller asks git itself, as before.
//!
//! A wrong answer here would not let the agent past the configuration check: git runs
//! with `GIT_COMMON_DIR` at the shadow of the repository found here, so the only
//! configuration it reads is the one that was judged. What is found must be named by
//! what was opened, though, since the pin reads the configuration of the directory
//! found and checks its name against the mounts: a `.git` in the working directory is
//! opened in the directory held (named by that directory's name), anything else is
//! named by the kernel after it is opened, never by a path that the agent could have
//! changed (a directory renamed, a link in its place) since it was checked. The
//! differential tests (`tests/git_discover.rs`) compare every answer with `git
//! rev-parse` on the layouts git knows.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

use crate::workdir::{WorkDir, open_directory};

/// Environment variables that change how git finds its repository: when the program's
/// environment holds one, git is asked.
const DISCOVERY_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
    "GIT_OBJECT_DIRECTORY",
    "GIT_NAMESPACE",
    "GIT_IMPLICIT_WORK_TREE",
];

/// The most of a `.git` file, `HEAD` or `commondir` this module reads (git reads a
/// `.git` file of any size; a longer one is left to git).
const MAX_SMALL_FILE: u64 = 4096;

/// What the discovery found.
#[derive(Debug)]
pub enum Discovery {
    /// A repository: its git directory (a real path) and its common directory, held
    /// open as it was found (the pin reads the configuration through it).
    Found {
        /// The per-worktree git directory (`HEAD`, index, rebase state).
        git_dir: PathBuf,
        /// The common directory (configuration, objects, refs), open, with its real
        /// path.
        common_dir: WorkDir,
    },
    /// No repository between the working directory and the first mount point.
    NotARepository,
    /// A case this module does not answer: ask git.
    AskGit,
}

/// Finds the repository git would use, started in `cwd` with the argv's location
/// options `location` (from `airlock_builtins::git_location_args`) and the program's
/// environment `env`. `roots` are the real paths of the agent's mounts: beyond them
/// the program is confined, and git's view of a directory there (which files it may
/// read) is git's to tell.
pub fn discover(
    cwd: &WorkDir,
    location: &[String],
    env: &BTreeMap<String, String>,
    roots: &[PathBuf],
) -> Discovery {
    if DISCOVERY_ENV.iter().any(|name| env.contains_key(*name)) {
        return Discovery::AskGit;
    }
    let Some((held, start)) = enter(cwd, location) else {
        return Discovery::AskGit;
    };
    let held = held.as_ref().map_or(cwd.fd.as_fd(), |fd| fd.as_fd());
    walk(held, &start, roots).unwrap_or(Discovery::AskGit)
}

/// The directory git starts in: `cwd`, then each `-C` in turn, with its path (`None`
/// for the directory: `cwd` itself). `None` when the location holds anything else or
/// a directory cannot be entered.
fn enter(cwd: &WorkDir, location: &[String]) -> Option<(Option<OwnedFd>, PathBuf)> {
    let mut held: Option<OwnedFd> = None;
    let mut words = location.iter();
    while let Some(word) = words.next() {
        if word != "-C" {
            return None;
        }
        let dir = words.next()?;
        if dir.is_empty() {
            // git ignores `-C ""`.
            continue;
        }
        let base = held.as_ref().map_or(cwd.fd.as_fd(), |fd| fd.as_fd());
        let next = open_directory(base, dir.as_str(), OFlags::empty()).ok()?;
        held = Some(next);
    }
    match held {
        None => Some((None, cwd.path.clone())),
        Some(fd) => {
            let path = crate::fd_path::real_path(fd.as_fd()).ok()?;
            Some((Some(fd), path))
        }
    }
}

/// git's walk from `start` (a real, absolute path, the directory `held` as it was
/// named when opened) towards the root. `None`: ask git.
fn walk(held: BorrowedFd<'_>, start: &Path, roots: &[PathBuf]) -> Option<Discovery> {
    if !start.is_absolute() {
        return None;
    }
    let device = rustix::fs::fstat(held).ok()?.st_dev;
    let mut dir = start.to_owned();
    let mut held = Some(held);
    loop {
        if !airlock_core::inside(roots, &dir) {
            // Outside the mounts, what the confined git may read decides: anything
            // that looks like a repository is git's to judge.
            let present = |name: &str| std::fs::symlink_metadata(dir.join(name)).is_ok();
            if present(".git") || present("HEAD") {
                return None;
            }
        } else if let Some(found) = at(&dir, held)? {
            return Some(found);
        }
        held = None;
        let Some(parent) = dir.parent().map(Path::to_owned) else {
            return Some(Discovery::NotARepository);
        };
        // git stops at a mount point unless GIT_DISCOVERY_ACROSS_FILESYSTEM is set.
        if rustix::fs::stat(&parent).ok()?.st_dev != device {
            return Some(Discovery::NotARepository);
        }
        dir = parent;
    }
}

/// One step of the walk: `dir/.git` (a file or a directory), then `dir` itself as a
/// bare repository. `held` is `dir` open, when it is (the directory git starts in).
/// `Some(None)`: nothing here, go on; `None`: ask git.
fn at(dir: &Path, held: Option<BorrowedFd<'_>>) -> Option<Option<Discovery>> {
    let dot_git = dir.join(".git");
    // A `.git` directory (the common case) is opened as itself, not through a link.
    // Opened in the held directory, it is named by that directory's name and its own.
    // Opened by its path, the kernel names it: the agent may have renamed a directory
    // of the path since it was checked and put a link to anywhere in its place.
    let opened = match held {
        Some(held) => open_directory(held, ".git", OFlags::NOFOLLOW),
        None => open_directory(rustix::fs::CWD, &dot_git, OFlags::NOFOLLOW),
    };
    match opened {
        Ok(fd) => {
            let named = held.map(|_| dot_git.clone());
            if let Some(found) = git_directory_at(fd, named)? {
                return Some(Some(found));
            }
        }
        Err(rustix::io::Errno::NOENT) => {}
        // A file or a link.
        Err(rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP) => {
            match std::fs::metadata(&dot_git) {
                Ok(meta) if meta.is_file() => return gitfile(&dot_git, dir).map(Some),
                Ok(meta) if meta.is_dir() => {
                    if let Some(found) = git_directory(&dot_git)? {
                        return Some(Some(found));
                    }
                }
                // Neither file nor directory (a FIFO, a device): git's behaviour is not
                // ours to guess.
                Ok(_) => return None,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => return None,
            }
        }
        Err(_) => return None,
    }
    git_directory(dir)
}

/// A `.git` file: `gitdir: PATH`, relative to the directory that holds it; git
/// refuses the repository when `PATH` is not a git directory.
fn gitfile(dot_git: &Path, dir: &Path) -> Option<Discovery> {
    let text = read_small(dot_git)?;
    let text = String::from_utf8(text).ok()?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let target = line.strip_prefix("gitdir: ")?;
    if target.is_empty() || target.contains('\n') {
        return None;
    }
    let target = dir.join(target);
    // Not a git directory: git dies ("not a git repository"), which is git's to say.
    git_directory(&target)?
}

/// git's `is_git_directory` on the directory `suspect` (links followed): see
/// [`git_directory_at`]. `Some(None)`: not one.
fn git_directory(suspect: &Path) -> Option<Option<Discovery>> {
    match open_directory(rustix::fs::CWD, suspect, OFlags::empty()) {
        Ok(fd) => git_directory_at(fd, None),
        Err(rustix::io::Errno::NOENT) => Some(None),
        Err(_) => None,
    }
}

/// git's `is_git_directory` on the open directory `suspect`: a valid `HEAD`, and
/// `objects` and `refs` (of the common directory a `commondir` file names) that can be
/// searched. `path` is its real path when the caller knows it (else the kernel is
/// asked). `Some(None)`: not one.
fn git_directory_at(suspect: OwnedFd, path: Option<PathBuf>) -> Option<Option<Discovery>> {
    if !head_is_valid(suspect.as_fd())? {
        return Some(None);
    }
    let named = match read_small_at(suspect.as_fd(), "commondir")? {
        None => None,
        Some(bytes) => {
            let text = String::from_utf8(bytes).ok()?;
            let named = text.strip_suffix('\n').unwrap_or(&text).to_owned();
            if named.is_empty() || named.contains('\n') {
                return None;
            }
            Some(named)
        }
    };
    // The common directory, opened (relative to `suspect` unless absolute).
    let common = match &named {
        None => None,
        Some(named) => match open_directory(suspect.as_fd(), named.as_str(), OFlags::empty()) {
            Ok(fd) => Some(fd),
            Err(_) => return Some(None),
        },
    };
    let searchable = |name: &str| {
        let dir = common.as_ref().unwrap_or(&suspect);
        rustix::fs::accessat(
            dir,
            name,
            rustix::fs::Access::EXEC_OK,
            rustix::fs::AtFlags::empty(),
        )
        .is_ok()
    };
    if !searchable("objects") || !searchable("refs") {
        return Some(None);
    }
    // The real paths, as the kernel names the directories it opened (what
    // `canonicalize` gives, in one system call instead of one per component); the
    // common directory stays open for the pin.
    let git_dir = match path {
        Some(path) => path,
        None => crate::fd_path::real_path(suspect.as_fd()).ok()?,
    };
    let common_dir = match common {
        None => WorkDir {
            path: git_dir.clone(),
            fd: suspect,
        },
        Some(fd) => WorkDir {
            path: crate::fd_path::real_path(fd.as_fd()).ok()?,
            fd,
        },
    };
    Some(Some(Discovery::Found {
        git_dir,
        common_dir,
    }))
}

/// git's `validate_headref` on `HEAD` in the git directory `dir`: a symlink into
/// `refs/`, `ref: refs/...`, or an object name. `Some(false)` when there is no `HEAD`;
/// `None` when there is one git might read differently from this function.
fn head_is_valid(dir: BorrowedFd<'_>) -> Option<bool> {
    let bytes = match crate::small_file::read_at(dir, "HEAD", MAX_SMALL_FILE) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Some(false),
        // A link (read as such, not followed), or something git may read otherwise.
        Err(crate::small_file::SmallFileError::NotRegular(_)) => {
            let target = rustix::fs::readlinkat(dir, "HEAD", Vec::new()).ok()?;
            let target = Path::new(std::ffi::OsStr::from_bytes(target.as_bytes()));
            return target.starts_with("refs/").then_some(true);
        }
        Err(_) => return None,
    };
    if let Some(rest) = bytes.strip_prefix(b"ref:") {
        let rest = rest.trim_ascii_start();
        return rest.starts_with(b"refs/").then_some(true);
    }
    let hex = bytes.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    matches!(hex, 40 | 64).then_some(true)
}

/// Reads the small regular file `name` in `dir` (a link is not followed, and
/// neither is a FIFO or a device opened); `Some(None)` for a missing file, `None`: ask
/// git.
fn read_small_at(dir: BorrowedFd<'_>, name: &str) -> Option<Option<Vec<u8>>> {
    crate::small_file::read_at(dir, name, MAX_SMALL_FILE).ok()
}

/// Reads a small regular file (never opening a FIFO or a device); `None`: ask git
/// (also when there is no such file).
fn read_small(path: &Path) -> Option<Vec<u8>> {
    crate::small_file::read(path, MAX_SMALL_FILE).ok()?
}
