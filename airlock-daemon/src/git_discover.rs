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
//! configuration it reads is the one that was judged. The differential tests
//! (`tests/git_discover.rs`) compare every answer with `git rev-parse` on the layouts
//! git knows.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::workdir::WorkDir;

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
    let Some(start) = enter(cwd, location) else {
        return Discovery::AskGit;
    };
    walk(&start, roots).unwrap_or(Discovery::AskGit)
}

/// The directory git starts in: `cwd`, then each `-C` in turn. `None` when the
/// location holds anything else or a directory cannot be entered.
fn enter(cwd: &WorkDir, location: &[String]) -> Option<PathBuf> {
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
        let next = rustix::fs::openat(
            base,
            dir.as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        held = Some(next);
    }
    match held {
        None => Some(cwd.path.clone()),
        Some(fd) => std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok(),
    }
}

/// git's walk from `start` (a real, absolute path) towards the root. `None`: ask git.
fn walk(start: &Path, roots: &[PathBuf]) -> Option<Discovery> {
    if !start.is_absolute() {
        return None;
    }
    let device = std::fs::metadata(start).ok()?.dev();
    let mut dir = start.to_owned();
    loop {
        if !roots.iter().any(|root| dir.starts_with(root)) {
            // Outside the mounts, what the confined git may read decides: anything
            // that looks like a repository is git's to judge.
            let present = |name: &str| std::fs::symlink_metadata(dir.join(name)).is_ok();
            if present(".git") || present("HEAD") {
                return None;
            }
        } else if let Some(found) = at(&dir)? {
            return Some(found);
        }
        let Some(parent) = dir.parent().map(Path::to_owned) else {
            return Some(Discovery::NotARepository);
        };
        // git stops at a mount point unless GIT_DISCOVERY_ACROSS_FILESYSTEM is set.
        if std::fs::metadata(&parent).ok()?.dev() != device {
            return Some(Discovery::NotARepository);
        }
        dir = parent;
    }
}

/// One step of the walk: `dir/.git` (a file or a directory), then `dir` itself as a
/// bare repository. `Some(None)`: nothing here, go on; `None`: ask git.
fn at(dir: &Path) -> Option<Option<Discovery>> {
    let dot_git = dir.join(".git");
    match std::fs::metadata(&dot_git) {
        Ok(meta) if meta.is_file() => return gitfile(&dot_git, dir).map(Some),
        Ok(meta) if meta.is_dir() => {
            if let Some(found) = git_directory(&dot_git)? {
                return Some(Some(found));
            }
        }
        // Neither file nor directory (a FIFO, a device): git's behaviour is not ours
        // to guess.
        Ok(_) => return None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
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

/// git's `is_git_directory`: a valid `HEAD`, and `objects` and `refs` (of the common
/// directory a `commondir` file names) that can be searched. `Some(None)`: not one.
fn git_directory(suspect: &Path) -> Option<Option<Discovery>> {
    if !head_is_valid(&suspect.join("HEAD"))? {
        return Some(None);
    }
    let common = match read_small_if_present(&suspect.join("commondir"))? {
        None => suspect.to_owned(),
        Some(bytes) => {
            let text = String::from_utf8(bytes).ok()?;
            let named = text.strip_suffix('\n').unwrap_or(&text);
            if named.is_empty() || named.contains('\n') {
                return None;
            }
            suspect.join(named)
        }
    };
    let searchable =
        |name: &str| rustix::fs::access(common.join(name), rustix::fs::Access::EXEC_OK).is_ok();
    if !searchable("objects") || !searchable("refs") {
        return Some(None);
    }
    // The real paths, as the kernel names the directories it opens (what
    // `canonicalize` gives, in two system calls instead of one per component); the
    // common directory stays open for the pin.
    let opened = WorkDir::open(suspect).ok()?;
    let git_dir = opened.path.clone();
    let common_dir = if common == suspect {
        opened
    } else {
        WorkDir::open(&common).ok()?
    };
    Some(Some(Discovery::Found {
        git_dir,
        common_dir,
    }))
}

/// git's `validate_headref`: a symlink into `refs/`, `ref: refs/...`, or an object
/// name. `Some(false)` when there is no `HEAD`; `None` when there is one git might
/// read differently from this function.
fn head_is_valid(head: &Path) -> Option<bool> {
    let meta = match std::fs::symlink_metadata(head) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(false),
        Err(_) => return None,
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(head).ok()?;
        return target.starts_with("refs/").then_some(true);
    }
    if !meta.is_file() {
        return None;
    }
    let bytes = read_small(head)?;
    if let Some(rest) = bytes.strip_prefix(b"ref:") {
        let rest = rest.trim_ascii_start();
        return rest.starts_with(b"refs/").then_some(true);
    }
    let hex = bytes.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    matches!(hex, 40 | 64).then_some(true)
}

/// Reads a small regular file (never opening a FIFO or a device); `None`: ask git.
fn read_small(path: &Path) -> Option<Vec<u8>> {
    read_small_if_present(path)?
}

/// [`read_small`], with `Some(None)` for a missing file.
fn read_small_if_present(path: &Path) -> Option<Option<Vec<u8>>> {
    crate::small_file::read(path, MAX_SMALL_FILE).ok()
}
