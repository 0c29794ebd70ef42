//! What git runs with is what was checked: the repository's configuration, pinned.
//!
//! The agent can write its repository's `.git/config` at any moment, so checking the
//! file and then letting git read it again by path is a race the agent can win (swap a
//! clean file for one naming a textconv driver between the two reads). Instead the
//! daemon reads the bytes once, from the repository's common directory held open,
//! writes them into a daemon-owned *shadow common directory* in the run's private
//! directory, judges that copy, and starts git with `GIT_COMMON_DIR` pointing at the
//! shadow. git then reads its repository configuration from bytes the agent cannot
//! change, while everything else of the common directory (objects, refs, packed refs,
//! reflogs, info, hooks) is a symlink to the real one, so the run's work lands in the
//! repository as usual (git's lock files follow symlinks). Per-worktree state (HEAD,
//! index, the rebase and merge state) stays in the real git directory.
//!
//! The shadow's links do not depend on the repository: each points, by an absolute
//! path, at the same name under `git-real` beside the shadow, and `git-real` is the one
//! link to the real common directory. So the links are made ahead with the run's
//! private directory ([`prepare_shadow`], on the daemon's background thread), and a
//! request makes only `git-real` and the configuration. Every name is linked whether
//! or not the repository has it: git reads a missing one as missing, and creates one
//! it needs through the link in the real directory (git's `mkdir_in_gitdir` follows
//! an absolute symlink, the layout of contrib's `git-new-workdir`), where a directory
//! made in the shadow would be lost with the run.
//!
//! After the run, [`Pinned::finish`] writes back a configuration git changed
//! (`git push -u`, `git remote add`) under git's own `config.lock`, and points the
//! `.git` file of a worktree `git worktree add` created at the real common directory
//! (only after a run that may have written one: [`Pinned::leave_worktrees`]).
//!
//! Repositories are created unpinned (`clone`, `init` write their own configuration).

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};

use crate::small_file::SmallFileError;
use crate::workdir::WorkDir;

/// The most of a repository configuration the daemon reads; a longer one is refused.
pub const MAX_CONFIG: u64 = 1 << 20;

/// The shadow common directory's name in the run's private directory.
const SHADOW: &str = "git-common";

/// The name, in the run's private directory, of the link to the real common directory
/// that every link of the shadow goes through.
const REAL: &str = "git-real";

/// The entries of a common directory that are shared between worktrees (git's
/// `common_list` in path.c), linked from the shadow. `config` is not among them: it is
/// the shadow's own copy. Lock-file targets (`packed-refs`, `shallow`, `gc.pid`) are
/// files git creates through the link.
const LINKED: &[(&str, Link)] = &[
    ("objects", Link::Always),
    ("refs", Link::Always),
    ("reftable", Link::Always),
    ("logs", Link::Ensure),
    ("worktrees", Link::Ensure),
    ("hooks", Link::Always),
    ("info", Link::Ensure),
    ("branches", Link::Always),
    ("remotes", Link::Always),
    ("rr-cache", Link::Always),
    ("svn", Link::Always),
    ("lost-found", Link::Always),
    ("common", Link::Always),
    ("packed-refs", Link::Always),
    ("shallow", Link::Always),
    ("gc.pid", Link::Always),
];

/// What the pin does for a linked entry the real common directory lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Nothing: git reads it as missing and makes it through the link when it needs
    /// it (a missing `rr-cache` also means rerere is off, as in the repository).
    Always,
    /// A directory made in the real common directory (empty, as `git init` makes
    /// it), because git writes below it with `safe_create_leading_directories`
    /// (reflogs, `worktree add`, `update-server-info`), which does not make a directory
    /// through a dangling link.
    Ensure,
}

/// The shadow common directory made ahead of its run ([`prepare_shadow`]): its links and
/// an empty `config`, held open, so that a request only writes the configuration into
/// the file and links `git-real`.
#[derive(Debug)]
pub struct Shadow {
    /// The run's private directory (where `git-real` goes), held open.
    scratch: OwnedFd,
    /// The shadow common directory, held open.
    dir: OwnedFd,
    /// Its `config`, empty, open for writing.
    config: std::fs::File,
}

impl Shadow {
    /// Writes `bytes` into the (empty) configuration; returns what the file is then.
    fn write_config(&mut self, bytes: &[u8]) -> std::io::Result<Written> {
        self.config.write_all(bytes)?;
        Ok(Written::of(&rustix::fs::fstat(&self.config)?))
    }
}

/// Makes the shadow common directory in the run's private directory `scratch`, with
/// its links and an empty configuration: what does not depend on the repository (see
/// the module's documentation). [`Pinned::open`] makes it when the run's directory was
/// not made with it.
pub fn prepare_shadow(scratch: &Path) -> std::io::Result<Shadow> {
    let shadow = scratch.join(SHADOW);
    let real = scratch.join(REAL);
    std::fs::create_dir(&shadow)?;
    for (name, _) in LINKED {
        std::os::unix::fs::symlink(real.join(name), shadow.join(name))?;
    }
    let config = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(shadow.join("config"))?;
    let directory =
        |path: &Path| crate::workdir::open_directory(rustix::fs::CWD, path, OFlags::NOFOLLOW);
    Ok(Shadow {
        scratch: directory(scratch)?,
        dir: directory(&shadow)?,
        config,
    })
}

/// The shadow for a run outside any repository: an empty configuration, and links
/// that lead nowhere (there is no `git-real`), so a repository the agent makes appear
/// during the run has no configuration, objects or refs for git. `made` is the shadow
/// made ahead, if it was. Returns the shadow.
pub fn empty_shadow(scratch: &Path, made: Option<Shadow>) -> std::io::Result<PathBuf> {
    let shadow = scratch.join(SHADOW);
    if made.is_none() {
        prepare_shadow(scratch)?;
    }
    Ok(shadow)
}

/// What the shadow's `config` was when the daemon wrote it: the same file, the same
/// size, not changed since (a write changes the times, git's own writes replace the
/// file) means git did not change the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Written {
    dev: u64,
    ino: u64,
    size: i64,
    modified: (i64, u64),
    changed: (i64, u64),
}

impl Written {
    fn of(stat: &rustix::fs::Stat) -> Self {
        Self {
            dev: stat.st_dev,
            ino: stat.st_ino,
            size: stat.st_size,
            #[allow(clippy::unnecessary_cast, reason = "the field types differ by target")]
            modified: (stat.st_mtime as i64, stat.st_mtime_nsec as u64),
            #[allow(clippy::unnecessary_cast, reason = "the field types differ by target")]
            changed: (stat.st_ctime as i64, stat.st_ctime_nsec as u64),
        }
    }
}

/// Why a repository cannot be pinned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// The common directory cannot be opened.
    #[error("cannot open the repository `{}`: {source}", path.display())]
    Open {
        /// The common directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The common directory is outside the agent's mounts.
    #[error("the repository `{}` is outside the agent's mounts", path.display())]
    Outside {
        /// Where it really is.
        path: PathBuf,
    },
    /// The configuration is not a regular file, too long or unreadable.
    #[error("cannot read the repository's configuration: {0}")]
    Config(String),
    /// The shadow directory cannot be made.
    #[error("cannot prepare the pinned configuration: {0}")]
    Shadow(std::io::Error),
}

/// A repository whose configuration is pinned for one run.
#[derive(Debug)]
pub struct Pinned {
    /// The shadow common directory (in the run's private directory).
    shadow: PathBuf,
    /// The shadow common directory, held open: the run's program may rename or
    /// replace what is at its path.
    shadow_fd: OwnedFd,
    /// The shadow's `config` as written.
    written: Written,
    /// The real common directory, as opened.
    common: PathBuf,
    /// The real common directory, held open.
    common_fd: OwnedFd,
    /// The bytes that were judged.
    judged: Vec<u8>,
    /// Whether the worktrees are looked at after the run (see
    /// [`Pinned::leave_worktrees`]).
    repoint: bool,
}

impl Pinned {
    /// Pins the repository whose common directory is `common`: opens it, then as
    /// [`Pinned::open`] (with no shadow made ahead).
    pub fn new(common: &Path, roots: &[PathBuf], scratch: &Path) -> Result<Self, PinError> {
        let opened = WorkDir::open(common).map_err(|source| PinError::Open {
            path: common.to_owned(),
            source,
        })?;
        Self::open(opened, roots, scratch, None)
    }

    /// Pins the repository whose common directory is `common` (open, with the path
    /// the kernel gives it): checks that it lies inside one of `roots`, reads its
    /// configuration once and completes the shadow in `scratch`: `made`, the one made
    /// ahead there, or one made now.
    pub fn open(
        common: WorkDir,
        roots: &[PathBuf],
        scratch: &Path,
        made: Option<Shadow>,
    ) -> Result<Self, PinError> {
        let WorkDir {
            path: real,
            fd: common_fd,
        } = common;
        if !airlock_core::inside(roots, &real) {
            return Err(PinError::Outside { path: real });
        }
        let judged = read_config(&common_fd)?;
        for (name, link) in LINKED {
            if *link == Link::Ensure {
                // An empty directory git would make itself on first use; one that is
                // there already is left as it is.
                let _ = rustix::fs::mkdirat(&common_fd, *name, Mode::from_raw_mode(0o755));
            }
        }
        // The shadow is made with the run's directory as a rule; made now when not.
        let mut made = match made {
            Some(made) => made,
            None => prepare_shadow(scratch).map_err(PinError::Shadow)?,
        };
        rustix::fs::symlinkat(&real, &made.scratch, REAL)
            .map_err(|e| PinError::Shadow(e.into()))?;
        let written = made.write_config(&judged).map_err(PinError::Shadow)?;
        Ok(Self {
            shadow: scratch.join(SHADOW),
            shadow_fd: made.dir,
            written,
            common: real,
            common_fd,
            judged,
            repoint: true,
        })
    }

    /// Leaves the repository's worktrees alone after the run: for a run that cannot
    /// add, move or repair one (only `git worktree` writes a worktree's `.git` file),
    /// so that a repository with many worktrees does not cost a read of each after
    /// every run.
    pub fn leave_worktrees(&mut self) {
        self.repoint = false;
    }

    /// The pinned configuration file (what git will read; judge this).
    pub fn config(&self) -> PathBuf {
        self.shadow.join("config")
    }

    /// The bytes of the configuration as read (and written to the shadow).
    pub fn judged(&self) -> &[u8] {
        &self.judged
    }

    /// The shadow common directory, for `GIT_COMMON_DIR`.
    pub fn shadow(&self) -> &Path {
        &self.shadow
    }

    /// The real common directory.
    pub fn common(&self) -> &Path {
        &self.common
    }

    /// After the run: writes a configuration git changed back into the repository
    /// (under git's own `config.lock`, so a concurrent git waits or fails as with any
    /// writer), and repoints worktrees created during the run at the real common
    /// directory. Returns whether the configuration was written back.
    pub fn finish(self) -> std::io::Result<bool> {
        if self.repoint {
            self.repoint_worktrees();
        }
        // The file as written, untouched: nothing to read.
        let now = rustix::fs::statat(&self.shadow_fd, "config", AtFlags::SYMLINK_NOFOLLOW);
        if now.is_ok_and(|now| Written::of(&now) == self.written) {
            return Ok(false);
        }
        // The run's program could write its directory: read only a regular file (not
        // through a symlink: the daemon reads what the program may not), and no more
        // than a configuration is allowed to hold.
        let now = crate::small_file::read_at(self.shadow_fd.as_fd(), "config", MAX_CONFIG)
            .map_err(std::io::Error::other)?
            .ok_or_else(|| std::io::Error::other("the pinned configuration is gone"))?;
        if now == self.judged {
            return Ok(false);
        }
        let lock = rustix::fs::openat(
            &self.common_fd,
            "config.lock",
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )?;
        let written = rustix::io::write(&lock, &now)
            .map_err(std::io::Error::from)
            .and_then(|n| {
                if n == now.len() {
                    Ok(())
                } else {
                    Err(std::io::Error::other("short write"))
                }
            });
        drop(lock);
        if let Err(e) = written {
            let _ = rustix::fs::unlinkat(&self.common_fd, "config.lock", AtFlags::empty());
            return Err(e);
        }
        rustix::fs::renameat(&self.common_fd, "config.lock", &self.common_fd, "config")?;
        Ok(true)
    }

    /// `git worktree add` writes the common directory it was given (the shadow) into
    /// the new worktree's `.git` file: point each such file at the real one.
    ///
    /// The agent writes the `worktrees` directory and the files it names, so this reads
    /// at most [`MAX_WORKTREES`] entries and, of each, only small regular files
    /// ([`crate::small_file`]: a FIFO, a device or `/dev/zero` named by a planted
    /// `gitdir` is not read).
    fn repoint_worktrees(&self) {
        let Ok(entries) = std::fs::read_dir(self.common.join("worktrees")) else {
            return;
        };
        let small = |path: &Path| {
            crate::small_file::read(path, MAX_WORKTREE_FILE)
                .ok()
                .flatten()
                .and_then(|bytes| String::from_utf8(bytes).ok())
        };
        for entry in entries.take(MAX_WORKTREES).flatten() {
            let name = entry.file_name();
            let Some(gitdir) = small(&entry.path().join("gitdir")) else {
                continue;
            };
            let dot_git = PathBuf::from(gitdir.trim_end_matches('\n'));
            let shadowed = format!(
                "gitdir: {}\n",
                self.shadow.join("worktrees").join(&name).display()
            );
            let real = format!(
                "gitdir: {}\n",
                self.common.join("worktrees").join(&name).display()
            );
            // The file read is the file written: a path swapped after the check
            // (a link to a file of the daemon user's) is not followed anew.
            let _ = crate::small_file::replace_if(&dot_git, shadowed.as_bytes(), real.as_bytes());
        }
    }
}

/// The most entries of a repository's `worktrees` directory looked at after a run.
const MAX_WORKTREES: usize = 4096;

/// The longest `gitdir` or `.git` file of a worktree that is read.
const MAX_WORKTREE_FILE: u64 = 4096;

/// Reads `config` in the held directory: a regular file (never opening a FIFO or a
/// device the agent planted under that name, nor following a symlink), at most
/// [`MAX_CONFIG`] bytes. A missing file is an empty configuration.
fn read_config(common: &OwnedFd) -> Result<Vec<u8>, PinError> {
    match crate::small_file::read_at(common.as_fd(), "config", MAX_CONFIG) {
        Ok(bytes) => Ok(bytes.unwrap_or_default()),
        Err(SmallFileError::NotRegular(_)) => {
            Err(PinError::Config("`config` is not a regular file".into()))
        }
        Err(SmallFileError::TooLong { .. }) => Err(PinError::Config(format!(
            "it is longer than {MAX_CONFIG} bytes"
        ))),
        Err(e) => Err(PinError::Config(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, env: &[(&str, &Path)], args: &[&str]) -> std::process::Output {
        let output = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// A workspace `ws` (by its real path) in `dir`, holding a repository `repo` on
    /// branch `main`.
    fn workspace(dir: &tempfile::TempDir) -> (PathBuf, PathBuf) {
        let ws = dir.path().canonicalize().unwrap().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        git(&ws, &[], &["init", "-q", "-b", "main", "repo"]);
        let repo = ws.join("repo");
        (ws, repo)
    }

    /// Pins `repo` of the workspace `ws` for a run whose directory is `scratch`.
    fn pin(repo: &Path, ws: &Path, scratch: &Path) -> Pinned {
        Pinned::new(&repo.join(".git"), &[ws.to_owned()], scratch).unwrap()
    }

    fn mkfifo(path: &Path) {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
    }

    #[test]
    fn git_reads_the_pinned_bytes_and_its_work_lands_in_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let (ws, repo) = workspace(&dir);
        let root = ws.parent().unwrap().to_owned();
        let remote = ws.join("remote.git");
        git(&ws, &[], &["init", "-q", "--bare", "remote.git"]);
        std::fs::write(repo.join("a"), "a\n").unwrap();
        git(&repo, &[], &["add", "a"]);
        git(&repo, &[], &["commit", "-q", "-m", "one"]);
        git(
            &repo,
            &[],
            &["remote", "add", "origin", remote.to_str().unwrap()],
        );
        let scratch = tempfile::tempdir().unwrap();
        let pinned = pin(&repo, &ws, scratch.path());
        let env = [("GIT_COMMON_DIR", pinned.shadow())];

        // The agent plants a textconv driver after the pin: git never sees it.
        let marker = root.join("PWNED");
        let mut config = std::fs::OpenOptions::new()
            .append(true)
            .open(repo.join(".git/config"))
            .unwrap();
        use std::io::Write;
        writeln!(
            config,
            "[diff \"x\"]\n\ttextconv = touch {}",
            marker.display()
        )
        .unwrap();
        std::fs::write(repo.join(".gitattributes"), "a diff=x\n").unwrap();
        std::fs::write(repo.join("a"), "b\n").unwrap();
        git(&repo, &env, &["diff"]);
        assert!(!marker.exists(), "git read the planted configuration");
        // Control: without the pin, the same diff runs the driver.
        git(&repo, &[], &["diff"]);
        assert!(marker.exists(), "control: the driver did not run");

        // Everyday work through the shadow reaches the real repository.
        git(&repo, &env, &["commit", "-q", "-am", "two"]);
        git(&repo, &env, &["checkout", "-q", "-b", "feature"]);
        git(&repo, &env, &["tag", "v1"]);
        git(&repo, &env, &["push", "-q", "-u", "origin", "feature"]);
        git(&repo, &env, &["pack-refs", "--all"]);
        git(&repo, &env, &["worktree", "add", "-q", "../wt"]);
        let real = |args: &[&str]| String::from_utf8(git(&repo, &[], args).stdout).unwrap();
        assert_eq!(real(&["log", "--format=%s", "-1"]), "two\n");
        assert_eq!(real(&["branch", "--show-current"]), "feature\n");
        assert_eq!(real(&["tag"]), "v1\n");
        let unset = Command::new("git")
            .args(["config", "branch.feature.remote"])
            .current_dir(&repo)
            .output()
            .unwrap();
        assert_eq!(unset.status.code(), Some(1), "not yet written back");
        assert!(
            pinned.finish().unwrap(),
            "push -u changed the configuration"
        );
        assert_eq!(real(&["config", "branch.feature.remote"]), "origin\n");
        // The planted driver the agent wrote after the pin is gone: the written-back
        // configuration is git's, made from the judged bytes.
        let drivers = Command::new("git")
            .args(["config", "--get-regexp", "^diff\\."])
            .current_dir(&repo)
            .output()
            .unwrap();
        assert_eq!(drivers.status.code(), Some(1), "{drivers:?}");
        // The new worktree works without the shadow.
        drop(scratch);
        let wt = ws.join("wt");
        assert!(git(&wt, &[], &["status", "--short"]).status.success());
        assert_eq!(
            std::fs::read_to_string(wt.join(".git")).unwrap(),
            format!("gitdir: {}\n", repo.join(".git/worktrees/wt").display())
        );
    }

    #[test]
    fn worktrees_left_alone_are_not_repointed() {
        let dir = tempfile::tempdir().unwrap();
        let (ws, repo) = workspace(&dir);
        git(&repo, &[], &["commit", "-q", "--allow-empty", "-m", "one"]);
        let scratch = tempfile::tempdir().unwrap();
        let shadowed = |pinned: &Pinned, name: &str| {
            format!(
                "gitdir: {}\n",
                pinned.shadow().join("worktrees").join(name).display()
            )
        };
        // Left alone: the `.git` file git wrote through the shadow stays as it is.
        let mut pinned = pin(&repo, &ws, scratch.path());
        git(
            &repo,
            &[("GIT_COMMON_DIR", pinned.shadow())],
            &["worktree", "add", "-q", "../one"],
        );
        let written = shadowed(&pinned, "one");
        pinned.leave_worktrees();
        pinned.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(ws.join("one/.git")).unwrap(),
            written
        );
        // Control: by default the worktree is pointed at the real common directory.
        let scratch = tempfile::tempdir().unwrap();
        let pinned = pin(&repo, &ws, scratch.path());
        git(
            &repo,
            &[("GIT_COMMON_DIR", pinned.shadow())],
            &["worktree", "add", "-q", "../two"],
        );
        assert_eq!(
            std::fs::read_to_string(ws.join("two/.git")).unwrap(),
            shadowed(&pinned, "two")
        );
        pinned.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(ws.join("two/.git")).unwrap(),
            format!("gitdir: {}\n", repo.join(".git/worktrees/two").display())
        );
    }

    #[test]
    fn a_shadow_made_ahead_is_completed_and_what_git_makes_lands_in_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let (ws, repo) = workspace(&dir);
        std::fs::write(repo.join("f"), "a\n").unwrap();
        git(&repo, &[], &["add", "f"]);
        git(&repo, &[], &["commit", "-q", "-m", "one"]);
        git(&repo, &[], &["checkout", "-q", "-b", "side"]);
        std::fs::write(repo.join("f"), "side\n").unwrap();
        git(&repo, &[], &["commit", "-q", "-am", "side"]);
        git(&repo, &[], &["checkout", "-q", "main"]);
        std::fs::write(repo.join("f"), "main\n").unwrap();
        git(&repo, &[], &["commit", "-q", "-am", "main"]);
        // A repository made without templates: no info/, and never a rr-cache/.
        std::fs::remove_dir_all(repo.join(".git/info")).unwrap();
        assert!(!repo.join(".git/rr-cache").exists());

        // The run's directory as the kit makes it: the links without the repository.
        let scratch = tempfile::tempdir().unwrap();
        let made = prepare_shadow(scratch.path()).unwrap();
        let common = WorkDir::open(&repo.join(".git")).unwrap();
        let roots = std::slice::from_ref(&ws);
        let pinned = Pinned::open(common, roots, scratch.path(), Some(made)).unwrap();
        assert_eq!(pinned.shadow(), scratch.path().join(SHADOW));
        assert_eq!(std::fs::read(pinned.config()).unwrap(), pinned.judged());
        let env = [("GIT_COMMON_DIR", pinned.shadow())];
        let log = git(&repo, &env, &["log", "--format=%s", "-1", "side"]);
        assert_eq!(String::from_utf8(log.stdout).unwrap(), "side\n");

        // rerere, switched on for this run, makes its rr-cache in the repository, and
        // update-server-info its info/refs: not in the shadow, which goes with the run.
        let merge = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(["-c", "rerere.enabled=true", "merge", "side"])
            .env("GIT_COMMON_DIR", pinned.shadow())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .current_dir(&repo)
            .output()
            .unwrap();
        assert_eq!(merge.status.code(), Some(1), "a conflict: {merge:?}");
        git(&repo, &env, &["merge", "--abort"]);
        git(&repo, &env, &["update-server-info"]);
        assert!(repo.join(".git/rr-cache").is_dir());
        assert!(repo.join(".git/info/refs").is_file());
        for name in ["rr-cache", "info"] {
            let entry = std::fs::symlink_metadata(pinned.shadow().join(name)).unwrap();
            assert!(
                entry.file_type().is_symlink(),
                "{name} was made in the shadow"
            );
        }
        assert!(
            !pinned.finish().unwrap(),
            "the configuration did not change"
        );
    }

    #[test]
    fn a_planted_worktree_naming_a_fifo_or_a_device_is_not_read_after_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let (ws, repo) = workspace(&dir);
        let fifo = ws.join("fifo");
        mkfifo(&fifo);
        for (name, target) in [("a", fifo.as_path()), ("b", Path::new("/dev/zero"))] {
            let entry = repo.join(".git/worktrees").join(name);
            std::fs::create_dir_all(&entry).unwrap();
            std::fs::write(entry.join("gitdir"), format!("{}\n", target.display())).unwrap();
        }
        let scratch = tempfile::tempdir().unwrap();
        let pinned = pin(&repo, &ws, scratch.path());
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(pinned.finish().map_err(|e| e.to_string()));
        });
        // A read of the FIFO would wait for a writer forever, one of /dev/zero for ever.
        let result = finished
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("finishing the run read what the planted worktrees name");
        assert_eq!(result, Ok(false));
    }

    #[test]
    fn outside_a_repository_the_shadow_leads_nowhere() {
        for made_ahead in [false, true] {
            let scratch = tempfile::tempdir().unwrap();
            let made = made_ahead.then(|| prepare_shadow(scratch.path()).unwrap());
            let shadow = empty_shadow(scratch.path(), made).unwrap();
            assert_eq!(std::fs::read(shadow.join("config")).unwrap(), b"");
            assert!(!scratch.path().join(REAL).exists());
            // A repository that appears in the run is not one git can use through it.
            let ws = tempfile::tempdir().unwrap();
            git(ws.path(), &[], &["init", "-q"]);
            let status = Command::new("git")
                .arg("status")
                .env("GIT_COMMON_DIR", &shadow)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .current_dir(ws.path())
                .output()
                .unwrap();
            assert!(!status.status.success(), "{status:?}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_pin() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let ws = root.join("ws");
        let outside = root.join("outside");
        std::fs::create_dir_all(ws.join("fifo/.git")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let e = Pinned::new(&outside, std::slice::from_ref(&ws), scratch.path()).unwrap_err();
        assert!(matches!(e, PinError::Outside { .. }), "{e}");
        std::os::unix::fs::symlink(&outside, ws.join("link")).unwrap();
        let e =
            Pinned::new(&ws.join("link"), std::slice::from_ref(&ws), scratch.path()).unwrap_err();
        assert!(matches!(e, PinError::Outside { .. }), "{e}");
        // A FIFO named `config` is refused without being opened: a writer waiting
        // for a reader to open it still waits (control: opening it for reading, as
        // the daemon did with `O_NONBLOCK`, lets the writer through).
        let fifo = ws.join("fifo/.git/config");
        mkfifo(&fifo);
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::OpenOptions::new().write(true).open(fifo))
        };
        // Time for the writer to be waiting in its open.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let e = Pinned::new(
            &ws.join("fifo/.git"),
            std::slice::from_ref(&ws),
            scratch.path(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(!writer.is_finished(), "the pin opened the FIFO");
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        assert!(
            writer.join().unwrap().is_ok(),
            "control: a reader lets it through"
        );
        drop(reader);
        std::fs::create_dir_all(ws.join("big/.git")).unwrap();
        std::fs::write(
            ws.join("big/.git/config"),
            vec![b'#'; (MAX_CONFIG + 1) as usize],
        )
        .unwrap();
        let e = Pinned::new(
            &ws.join("big/.git"),
            std::slice::from_ref(&ws),
            scratch.path(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("longer than"), "{e}");
        std::fs::create_dir_all(ws.join("sym/.git")).unwrap();
        std::os::unix::fs::symlink(outside.join("config"), ws.join("sym/.git/config")).unwrap();
        let e = Pinned::new(
            &ws.join("sym/.git"),
            std::slice::from_ref(&ws),
            scratch.path(),
        )
        .unwrap_err();
        assert!(matches!(e, PinError::Config(_)), "{e}");
    }

    #[test]
    fn only_a_configuration_git_changed_is_written_back_and_never_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let (ws, repo) = workspace(&dir);
        let config = repo.join(".git/config");
        let original = std::fs::read(&config).unwrap();

        // A run that changes nothing writes nothing back.
        let scratch = tempfile::tempdir().unwrap();
        let pinned = pin(&repo, &ws, scratch.path());
        git(&repo, &[("GIT_COMMON_DIR", pinned.shadow())], &["status"]);
        assert!(!pinned.finish().unwrap());
        assert_eq!(std::fs::read(&config).unwrap(), original);

        // A change made in place (not by git's lock and rename) is still seen.
        let scratch = tempfile::tempdir().unwrap();
        let pinned = pin(&repo, &ws, scratch.path());
        let mut shadowed = std::fs::OpenOptions::new()
            .append(true)
            .open(pinned.config())
            .unwrap();
        writeln!(shadowed, "[user]\n\tname = in place").unwrap();
        drop(shadowed);
        assert!(pinned.finish().unwrap());
        assert!(
            String::from_utf8(std::fs::read(&config).unwrap())
                .unwrap()
                .contains("in place")
        );

        // The run's program replaces the shadow's configuration with a link to a file
        // it may not read (the daemon may): the daemon does not read through it, and
        // nothing of the file reaches the repository.
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "[secret]\n\tkey = PRIVATE\n").unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let pinned = pin(&repo, &ws, scratch.path());
        std::fs::remove_file(pinned.config()).unwrap();
        std::os::unix::fs::symlink(&secret, pinned.config()).unwrap();
        let control = crate::small_file::read(&pinned.config(), MAX_CONFIG).unwrap();
        assert_eq!(
            control.as_deref(),
            Some(&b"[secret]\n\tkey = PRIVATE\n"[..]),
            "control: following the link reads the file"
        );
        assert!(pinned.finish().is_err());
        assert!(
            !String::from_utf8(std::fs::read(&config).unwrap())
                .unwrap()
                .contains("PRIVATE")
        );

        // Nor does it follow the shadow directory replaced by a link.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::copy(&secret, elsewhere.join("config")).unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let pinned = pin(&repo, &ws, scratch.path());
        let moved = scratch.path().join("moved");
        std::fs::rename(pinned.shadow(), &moved).unwrap();
        std::os::unix::fs::symlink(&elsewhere, pinned.shadow()).unwrap();
        assert!(!pinned.finish().unwrap(), "the held directory is unchanged");
        assert!(
            !String::from_utf8(std::fs::read(&config).unwrap())
                .unwrap()
                .contains("PRIVATE")
        );
    }
}
