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
//! After the run, [`Pinned::finish`] writes back a configuration git changed
//! (`git push -u`, `git remote add`) under git's own `config.lock`, and points the
//! `.git` file of a worktree `git worktree add` created at the real common directory.
//!
//! Repositories are created unpinned (`clone`, `init` write their own configuration).

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};

/// The most of a repository configuration the daemon reads; a longer one is refused.
pub const MAX_CONFIG: u64 = 1 << 20;

/// The entries of a common directory that are shared between worktrees (git's
/// `common_list` in path.c), linked from the shadow. `config` is not among them: it is
/// the shadow's own copy. Lock-file targets (`packed-refs`, `shallow`, `gc.pid`) are
/// linked even when missing, so that git creates them in the real directory.
const LINKED: &[(&str, Link)] = &[
    ("objects", Link::IfPresent),
    ("refs", Link::IfPresent),
    ("reftable", Link::IfPresent),
    ("logs", Link::Ensure),
    ("worktrees", Link::Ensure),
    ("hooks", Link::IfPresent),
    ("info", Link::IfPresent),
    ("branches", Link::IfPresent),
    ("remotes", Link::IfPresent),
    ("rr-cache", Link::IfPresent),
    ("svn", Link::IfPresent),
    ("lost-found", Link::IfPresent),
    ("common", Link::IfPresent),
    ("packed-refs", Link::Always),
    ("shallow", Link::Always),
    ("gc.pid", Link::Always),
];

/// How an entry of the common directory is linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Only when it exists (git creates it rarely, or its existence means something:
    /// an `rr-cache` directory switches rerere on).
    IfPresent,
    /// A directory created in the real common directory when missing, so what git
    /// writes there lands in the repository.
    Ensure,
    /// Linked whether or not it exists (a file git writes through a lock file).
    Always,
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
    /// The real common directory, as opened.
    common: PathBuf,
    /// The real common directory, held open.
    common_fd: OwnedFd,
    /// The bytes that were judged.
    judged: Vec<u8>,
}

impl Pinned {
    /// Pins the repository whose common directory is `common`: opens it, checks that
    /// it lies inside one of `roots`, reads its configuration once and builds the
    /// shadow in `scratch`.
    pub fn new(common: &Path, roots: &[PathBuf], scratch: &Path) -> Result<Self, PinError> {
        let common_fd = rustix::fs::open(
            common,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| PinError::Open {
            path: common.to_owned(),
            source: e.into(),
        })?;
        let real = std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&common_fd)
        ))
        .map_err(|source| PinError::Open {
            path: common.to_owned(),
            source,
        })?;
        if !roots.iter().any(|root| real.starts_with(root)) {
            return Err(PinError::Outside { path: real });
        }
        let judged = read_config(&common_fd)?;
        let shadow = scratch.join("git-common");
        std::fs::create_dir(&shadow).map_err(PinError::Shadow)?;
        std::fs::write(shadow.join("config"), &judged).map_err(PinError::Shadow)?;
        for (name, link) in LINKED {
            let target = real.join(name);
            // A `stat` per name, not a listing of the directory: the agent decides how
            // many entries it holds.
            let present = rustix::fs::statat(&common_fd, *name, AtFlags::SYMLINK_NOFOLLOW).is_ok();
            let make = match link {
                Link::IfPresent => present,
                Link::Always => true,
                Link::Ensure => {
                    if !present {
                        // An empty directory git would make itself on first use.
                        let _ = rustix::fs::mkdirat(&common_fd, *name, Mode::from_raw_mode(0o755));
                    }
                    true
                }
            };
            if make {
                std::os::unix::fs::symlink(&target, shadow.join(name)).map_err(PinError::Shadow)?;
            }
        }
        Ok(Self {
            shadow,
            common: real,
            common_fd,
            judged,
        })
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
        self.repoint_worktrees();
        let now = std::fs::read(self.shadow.join("config"))?;
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
    fn repoint_worktrees(&self) {
        let Ok(entries) = std::fs::read_dir(self.common.join("worktrees")) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Ok(gitdir) = std::fs::read_to_string(entry.path().join("gitdir")) else {
                continue;
            };
            let dot_git = PathBuf::from(gitdir.trim_end_matches('\n'));
            let shadowed = format!(
                "gitdir: {}\n",
                self.shadow.join("worktrees").join(&name).display()
            );
            if std::fs::read_to_string(&dot_git).is_ok_and(|text| text == shadowed) {
                let real = format!(
                    "gitdir: {}\n",
                    self.common.join("worktrees").join(&name).display()
                );
                let _ = std::fs::write(&dot_git, real);
            }
        }
    }
}

/// Reads `config` in the held directory: a regular file, without following a
/// symlink, without blocking on a FIFO, at most [`MAX_CONFIG`] bytes. A missing file
/// is an empty configuration.
fn read_config(common: &OwnedFd) -> Result<Vec<u8>, PinError> {
    let fd = match rustix::fs::openat(
        common.as_fd(),
        "config",
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(Vec::new()),
        Err(e) => return Err(PinError::Config(std::io::Error::from(e).to_string())),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|e| PinError::Config(e.to_string()))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(PinError::Config("`config` is not a regular file".into()));
    }
    // Room for the size the file has, and one byte more to see it grown: read in one
    // call as a rule.
    let expected = usize::try_from(stat.st_size.clamp(0, MAX_CONFIG as i64)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(expected + 1);
    std::fs::File::from(fd)
        .take(MAX_CONFIG + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| PinError::Config(e.to_string()))?;
    if bytes.len() as u64 > MAX_CONFIG {
        return Err(PinError::Config(format!(
            "it is longer than {MAX_CONFIG} bytes"
        )));
    }
    Ok(bytes)
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

    #[test]
    fn git_reads_the_pinned_bytes_and_its_work_lands_in_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let ws = root.join("ws");
        let remote = root.join("ws/remote.git");
        std::fs::create_dir_all(&ws).unwrap();
        git(&ws, &[], &["init", "-q", "-b", "main", "repo"]);
        git(&ws, &[], &["init", "-q", "--bare", "remote.git"]);
        let repo = ws.join("repo");
        std::fs::write(repo.join("a"), "a\n").unwrap();
        git(&repo, &[], &["add", "a"]);
        git(&repo, &[], &["commit", "-q", "-m", "one"]);
        git(
            &repo,
            &[],
            &["remote", "add", "origin", remote.to_str().unwrap()],
        );
        let scratch = tempfile::tempdir().unwrap();
        let pinned = Pinned::new(
            &repo.join(".git"),
            std::slice::from_ref(&ws),
            scratch.path(),
        )
        .unwrap();
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
        assert!(
            Command::new("mkfifo")
                .arg(ws.join("fifo/.git/config"))
                .status()
                .unwrap()
                .success()
        );
        let e = Pinned::new(
            &ws.join("fifo/.git"),
            std::slice::from_ref(&ws),
            scratch.path(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
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
}
