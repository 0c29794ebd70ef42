//! A run's private directory: `TMPDIR` and `HOME` for one program, created by the
//! daemon before the run (made ahead by a [`ScratchPool`]) and removed after it (once
//! the run is answered, see [`Scratch::remove_later`]).
//!
//! The program's `HOME` is never the daemon user's home (which holds every
//! credential): it is an empty directory of the run's own, in which each `~/...` path
//! the agent's profile declares for the command is a symlink to the real file or
//! directory (which the confinement grants). Tools find the configuration they were
//! given where they look for it, and nothing else: an undeclared `~/.aws` simply does
//! not exist for them.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A link in the run's home: `relative` (under `~`) points at `target` (the real,
/// resolved host path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeLink {
    /// The path under the home, e.g. `.kube/config`.
    pub relative: PathBuf,
    /// The resolved host path it stands for.
    pub target: PathBuf,
}

/// What a run's private directory is made with besides `home/` and `tmp/`, when it is
/// made ahead of its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// Nothing more.
    #[default]
    Plain,
    /// The links of git's shadow common directory ([`crate::git_pin::prepare_shadow`]),
    /// which a run of git completes with its repository's configuration.
    GitShadow,
}

/// The run's directory, removed (without following symlinks) when dropped.
#[derive(Debug)]
pub struct Scratch {
    dir: tempfile::TempDir,
    /// git's shadow common directory, when it was laid out ([`Layout::GitShadow`])
    /// and not yet taken.
    shadow: Option<crate::git_pin::Shadow>,
}

impl Scratch {
    /// Creates the run's directory (mode 0700, an unguessable name in `base`) with
    /// `home/` holding `links` and an empty `tmp/`.
    pub fn create_in(base: &Path, links: &[HomeLink]) -> io::Result<Self> {
        let scratch = Self::empty_in(base)?;
        scratch.link(links)?;
        Ok(scratch)
    }

    /// The run's directory with an empty `home/` and an empty `tmp/`.
    fn empty_in(base: &Path) -> io::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix(owned_prefix())
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(base)?;
        let scratch = Self { dir, shadow: None };
        std::fs::create_dir(scratch.home())?;
        std::fs::create_dir(scratch.tmp())?;
        Ok(scratch)
    }

    /// Puts `links` into the home.
    fn link(&self, links: &[HomeLink]) -> io::Result<()> {
        for link in links {
            let at = self.home().join(&link.relative);
            if let Some(parent) = at.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::os::unix::fs::symlink(&link.target, &at)?;
        }
        Ok(())
    }

    /// Adds what `layout` asks for to the directory.
    pub fn lay_out(&mut self, layout: Layout) -> io::Result<()> {
        match layout {
            Layout::Plain => Ok(()),
            Layout::GitShadow => {
                self.shadow = Some(crate::git_pin::prepare_shadow(self.root())?);
                Ok(())
            }
        }
    }

    /// git's shadow common directory, if it was laid out (once).
    pub fn take_shadow(&mut self) -> Option<crate::git_pin::Shadow> {
        self.shadow.take()
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

    /// Removes the directory on the background thread ([`crate::background`]): once its
    /// run is over and answered, nobody waits for the file system.
    pub fn remove_later(self) {
        crate::background::run(move || drop(self));
    }
}

/// How every private directory this daemon makes is named before its random part:
/// `airlock-run-NS.PID.START-`, the daemon's pid namespace (the inode of
/// `/proc/self/ns/pid`), pid and start time, so that a daemon that starts can tell the
/// directories of one that is gone ([`sweep`]). `airlock-run-` alone when those cannot
/// be read (such directories are never swept).
fn owned_prefix() -> &'static str {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PREFIX.get_or_init(|| {
        let pid = rustix::process::getpid().as_raw_nonzero().get();
        match (pid_namespace(), crate::children::own_start_time()) {
            (Some(ns), Some(start)) => format!("airlock-run-{ns}.{pid}.{start}-"),
            _ => "airlock-run-".to_owned(),
        }
    })
}

/// The inode of this process's pid namespace.
fn pid_namespace() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid").ok().map(|m| m.ino())
}

/// Removes from `base` the private directories that a daemon of this user, in this pid
/// namespace, left behind when it was killed without stopping (SIGKILL): directories
/// named for a daemon ([`owned_prefix`]) that no longer runs (no process with that pid
/// and start time). Only real directories owned by the daemon's user are removed,
/// without following symlinks; anything else is left alone. Returns how many went.
pub fn sweep(base: &Path) -> usize {
    use std::os::unix::fs::MetadataExt;
    let (Some(ns), Ok(entries)) = (pid_namespace(), std::fs::read_dir(base)) else {
        return 0;
    };
    let uid = rustix::process::getuid().as_raw();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix("airlock-run-"))
            .and_then(|rest| rest.split_once('-'))
            .map(|(owner, _)| owner)
        else {
            continue;
        };
        let mut fields = owner.split('.').map(str::parse::<u64>);
        let (Some(Ok(their_ns)), Some(Ok(pid)), Some(Ok(start)), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Ok(pid) = i32::try_from(pid) else {
            continue;
        };
        if their_ns != ns || crate::children::start_time(pid) == Some(start) {
            continue;
        }
        let path = entry.path();
        let ours = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == uid);
        if ours && std::fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Runs' private directories, made ahead of the runs that take them (on the background
/// thread, [`crate::background`]) so that a request does not wait for the file system to make
/// three directories.
///
/// Each directory is handed to one run only, exactly as [`Scratch::create_in`] makes
/// it: fresh, mode 0700, with an unguessable name, an empty `tmp/` and a `home/` that
/// gets the run's links when it is taken. Until then nobody has been granted it: the
/// confinement grants a run only its own directory, never the base. Those still
/// waiting are removed when the pool is dropped (a reload makes a new one).
#[derive(Debug)]
pub struct ScratchPool {
    base: PathBuf,
    ready: Mutex<Vec<Scratch>>,
    /// The background thread is making directories.
    refilling: AtomicBool,
}

/// How many directories the pool keeps made.
const AHEAD: usize = 2;

impl ScratchPool {
    /// A pool that makes directories in `base` (none yet: the first run that takes one
    /// starts the making).
    pub fn new(base: PathBuf) -> Self {
        Self {
            base,
            ready: Mutex::new(Vec::new()),
            refilling: AtomicBool::new(false),
        }
    }

    /// Where the directories are made.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// A run's private directory with `links` in its home: one made ahead when one is
    /// ready, else one made now; either way, the pool makes more in the background.
    pub fn take(self: &Arc<Self>, links: &[HomeLink]) -> io::Result<Scratch> {
        let ready = self.lock().pop();
        let scratch = match ready {
            Some(scratch) => scratch,
            None => Scratch::empty_in(&self.base)?,
        };
        self.refill();
        scratch.link(links)?;
        Ok(scratch)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Scratch>> {
        match self.ready.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Makes directories up to [`AHEAD`] on the background thread
    /// ([`crate::background`]), when not already doing so. A directory that cannot be made is made, or its error
    /// reported, by the next run that finds none ready.
    fn refill(self: &Arc<Self>) {
        if self.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        let pool = Arc::clone(self);
        crate::background::run(move || {
            while pool.lock().len() < AHEAD {
                match Scratch::empty_in(&pool.base) {
                    Ok(scratch) => pool.lock().push(scratch),
                    Err(_) => break,
                }
            }
            pool.refilling.store(false, Ordering::Release);
        });
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

    #[test]
    fn what_a_killed_daemon_left_is_swept_and_nothing_else() {
        let base = tempfile::tempdir().unwrap();
        let mine = Scratch::create_in(base.path(), &[]).unwrap();
        std::fs::write(mine.tmp().join("f"), "x").unwrap();
        let prefix = owned_prefix();
        let me = rustix::process::getpid().as_raw_nonzero().get();
        assert!(prefix.contains(&format!(".{me}.")), "{prefix}");
        // A daemon that is gone: this one's pid with another start time.
        let (ns, start) = (
            pid_namespace().unwrap(),
            crate::children::own_start_time().unwrap(),
        );
        let gone = base
            .path()
            .join(format!("airlock-run-{ns}.{me}.{}-abc", start + 1));
        std::fs::create_dir_all(gone.join("tmp/deep")).unwrap();
        let older = base.path().join("airlock-run-AbCdEf");
        std::fs::create_dir(&older).unwrap();
        let link = base
            .path()
            .join(format!("{}xyz", prefix.replace(&format!(".{me}."), ".1.")));
        std::os::unix::fs::symlink(base.path(), &link).unwrap();
        assert_eq!(sweep(base.path()), 1);
        assert!(!gone.exists());
        assert!(mine.tmp().join("f").exists(), "a running daemon's are kept");
        assert!(older.exists(), "names without an owner are kept");
        assert!(
            link.symlink_metadata().is_ok(),
            "symlinks are not followed or removed"
        );
    }
}
