//! The daemon's children, and what they leave behind.
//!
//! The daemon is a child subreaper: a process that a program it ran leaves behind
//! (`setsid -f`, a double fork) is reparented to the daemon instead of init, so every
//! descendant of every run stays below the daemon in the process tree. That is what
//! lets [`descends_from_daemon`] tell whether a connection to an agent's socket comes
//! from a program the daemon runs (which must never use an agent's socket: it would be
//! one agent reaching into another's scope) however it tried to detach.
//!
//! Orphans become the daemon's children, so the daemon reaps them ([`reap_orphans`]).
//! The children it starts itself are waited for by whoever started them; they are
//! registered at spawn ([`spawn`], [`spawn_std`]) so the reaper leaves them alone.
//! An orphan's process group is watched by the guard ([`crate::guard`]) while the
//! orphan is the daemon's child, so what a run left behind dies with the daemon too.

mod held;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rustix::process::{Pid, WaitOptions};
use tokio_util::sync::CancellationToken;

/// The pids of the children the daemon started itself (their owners wait for them).
static STARTED: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// The orphans the daemon adopted and has not reaped, each with its process group
/// watched by the guard (until it is reaped: then the entry is dropped).
static ADOPTED: Mutex<BTreeMap<i32, (Option<Pid>, crate::guard::Watched)>> =
    Mutex::new(BTreeMap::new());

fn started() -> MutexGuard<'static, BTreeSet<i32>> {
    match STARTED.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Makes the daemon the reaper of whatever its programs leave behind.
pub fn become_subreaper() -> std::io::Result<()> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    Ok(())
}

/// Spawns `command` and registers the child before the reaper can look at it.
pub fn spawn(command: &mut tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    let mut registry = started();
    let child = command.spawn()?;
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        registry.insert(pid);
    }
    Ok(child)
}

/// The registry, locked: a child started while it is held (see [`crate::spawn`]) is
/// registered with [`register`] before the reaper can look at it.
pub(crate) fn register_lock() -> MutexGuard<'static, BTreeSet<i32>> {
    started()
}

/// Registers `pid` in the locked registry and gives the lock back.
pub(crate) fn register(
    mut registry: MutexGuard<'static, BTreeSet<i32>>,
    pid: Pid,
) -> MutexGuard<'static, BTreeSet<i32>> {
    registry.insert(pid.as_raw_nonzero().get());
    registry
}

/// Unregisters a child nobody will wait for: the reaper reaps it once it ends.
pub(crate) fn forget(pid: Pid) {
    started().remove(&pid.as_raw_nonzero().get());
}

/// [`spawn`] for a `std` command (waited for by a thread of its own).
pub fn spawn_std(command: &mut std::process::Command) -> std::io::Result<std::process::Child> {
    let mut registry = started();
    let child = command.spawn()?;
    if let Ok(pid) = i32::try_from(child.id()) {
        registry.insert(pid);
    }
    Ok(child)
}

/// The daemon's current children (of all its threads).
fn children() -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    out
}

/// Whether `pid` is still a child of the daemon (running, or ended and not yet
/// waited for), asked without reaping it.
fn still_a_child(pid: i32) -> bool {
    use rustix::process::{WaitId, WaitIdOptions, waitid};
    let Some(pid) = Pid::from_raw(pid) else {
        return false;
    };
    let options = WaitIdOptions::EXITED
        | WaitIdOptions::STOPPED
        | WaitIdOptions::CONTINUED
        | WaitIdOptions::NOHANG
        | WaitIdOptions::NOWAIT;
    // ECHILD: not the daemon's child (any more).
    waitid(WaitId::Pid(pid), options).is_ok()
}

/// Reaps the children nobody registered (orphans of runs) that have ended, and
/// forgets registered children that are gone. Returns how many it reaped.
pub fn reap_orphans() -> usize {
    let mut registry = started();
    let children = children();
    // A registered child is forgotten only once it is no longer the daemon's child at
    // all (its owner waited for it): the `children` files are a snapshot that can miss
    // a child whose parent thread exited while it was read, and such a child must not
    // be taken for an orphan and reaped under its owner (who would then get ECHILD).
    registry.retain(|pid| children.contains(pid) || still_a_child(*pid));
    let mut adopted = match ADOPTED.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    let mut reaped = 0;
    for raw in children.iter().filter(|pid| !registry.contains(pid)) {
        let Some(pid) = Pid::from_raw(*raw) else {
            continue;
        };
        if let Ok(Some(_)) = rustix::process::waitpid(Some(pid), WaitOptions::NOHANG) {
            reaped += 1;
            // Its group is no longer watched for it (the id may be reused once empty).
            adopted.remove(raw);
        } else if crate::guard::pid() != Some(*raw) {
            // Not reaped, so its pid cannot be reused, nor the group it leads: watch that
            // group, so that it dies with the daemon. Only a group it leads (`setsid`):
            // a process may join any group of the daemon's session (`setpgid`), the
            // daemon's own or its supervisor's among them, and the guard must not kill
            // those. One that stopped leading its group is no longer watched.
            let leads = rustix::process::getpgid(Some(pid)).ok() == Some(pid);
            let group = leads.then_some(pid);
            if adopted.get(raw).map(|(watched, _)| *watched) != Some(group) {
                adopted.insert(*raw, (group, crate::guard::watch(group)));
            }
        }
    }
    // Orphans reaped some other way are forgotten too.
    adopted.retain(|pid, _| children.contains(pid));
    reaped
}

/// How long the reaper waits after a child ended before it looks: most children are
/// runs' programs, whose owners are then finishing the reply, and the look (a read of
/// every thread's `children`) would compete with that reply for the CPU.
const REAP_DELAY: Duration = Duration::from_millis(20);

/// Reaps orphans shortly after a child ends (and every second, for a signal that merged
/// with another), until `stop`.
pub async fn reaper(stop: CancellationToken) {
    let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()).ok();
    loop {
        let signalled = async {
            match sigchld.as_mut() {
                Some(s) => {
                    s.recv().await;
                    tokio::time::sleep(REAP_DELAY).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = signalled => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = stop.cancelled() => return,
        }
        reap_orphans();
    }
}

/// Why a peer's ancestry cannot be told.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the process tree above pid {pid}: {source}")]
pub struct AncestryError {
    /// The process whose parent could not be read.
    pub pid: i32,
    /// The error.
    pub source: std::io::Error,
}

/// Whether process `pid` is a descendant of the daemon (a program it runs, or anything
/// that program started, detached or not: the daemon is their subreaper).
///
/// Walks up from `pid` through the parents. It stops at the daemon (a descendant), at
/// init, at a process that started before the daemon did, or at a process whose
/// answer is known ([`KNOWN`]): a descendant of the daemon is always younger than the
/// daemon (an orphan is given to the nearest subreaper among its ancestors, so nothing
/// becomes the daemon's descendant that was not forked below it), so such a process and
/// everything above it are not the daemon.
pub fn descends_from_daemon(pid: i32) -> Result<bool, AncestryError> {
    let daemon = rustix::process::getpid().as_raw_nonzero().get();
    walk(pid, daemon, daemon_start(), stat_of, &HELD)
}

/// The processes at which walks ended, held by a pidfd (see [`held`]).
static HELD: held::Held = held::Held::new();

/// [`descends_from_daemon`] for a daemon of pid `daemon` started at `daemon_start`,
/// reading each process with `read`, taking the answers of the processes `held`
/// holds, and holding the process at which the walk ends with its answer (when it
/// ends at a process that started before the daemon or whose answer was known).
///
/// A parent read after the process that named it can be a stranger: the parent exited
/// and its pid was given to a new process between the two reads. Such a stranger
/// started after the process it was read as the parent of (a parent is always older
/// than its child), and that process was already given its new parent (the nearest
/// subreaper, or init) when the old one exited, before the pid was free: so a parent
/// younger than its child is not followed; the child is read again, for its new parent.
fn walk(
    pid: i32,
    daemon: i32,
    daemon_start: Option<u64>,
    mut read: impl FnMut(i32) -> std::io::Result<Stat>,
    held: &held::Held,
) -> Result<bool, AncestryError> {
    let mut current = pid;
    let mut walked: Vec<(i32, u64)> = Vec::new();
    // A process tree is not deeper than this in practice; a longer chain is a loop
    // read across a pid reuse: refuse to guess.
    for _ in 0..4096 {
        if current == daemon {
            return Ok(remember(&walked, true));
        }
        if current <= 1 {
            return Ok(remember(&walked, false));
        }
        if let Some(descends) = held.answer(current) {
            return Ok(remember(&walked, descends));
        }
        let stat = read(current).map_err(|source| AncestryError {
            pid: current,
            source,
        })?;
        if let Some(&(child, child_start)) = walked.last() {
            if stat.start > child_start {
                let again = read(child).map_err(|source| AncestryError { pid: child, source })?;
                if again.start != child_start {
                    return Err(AncestryError {
                        pid: child,
                        source: std::io::Error::other("the process exited during the walk"),
                    });
                }
                current = again.ppid;
                continue;
            }
        }
        let older = daemon_start.is_some_and(|daemon_start| stat.start < daemon_start);
        let known = if older {
            Some(false)
        } else {
            lock_known().get(&(current, stat.start)).copied()
        };
        if let Some(descends) = known {
            held.hold(current, stat.start, descends, |pid| {
                read(pid).ok().map(|stat| stat.start)
            });
            return Ok(remember(&walked, descends));
        }
        walked.push((current, stat.start));
        current = stat.ppid;
    }
    Err(AncestryError {
        pid,
        source: std::io::Error::other("the process tree is too deep"),
    })
}

/// The answers of walks already made, by process: its pid and start time. Whether a
/// process descends from the daemon does not change while it lives (an orphan goes to
/// the nearest subreaper among its ancestors: it neither enters nor leaves the daemon's
/// subtree), and a pid comes back only after the whole pid space went round, not within
/// one tick of the start-time clock. So the next client of the same shell reads its own
/// `stat` and its parent's, not the whole container's process tree up to init.
static KNOWN: Mutex<BTreeMap<(i32, u64), bool>> = Mutex::new(BTreeMap::new());

/// The most answers kept; a full table is emptied and filled again.
const KNOWN_MAX: usize = 1024;

fn lock_known() -> MutexGuard<'static, BTreeMap<(i32, u64), bool>> {
    KNOWN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Keeps `descends` as the answer for every process of `walked`; returns it.
fn remember(walked: &[(i32, u64)], descends: bool) -> bool {
    if walked.is_empty() {
        return descends;
    }
    let mut known = lock_known();
    if known.len() + walked.len() > KNOWN_MAX {
        known.clear();
    }
    for process in walked {
        known.insert(*process, descends);
    }
    descends
}

/// When the daemon started (clock ticks after boot), read once; `None` when it cannot
/// be read (then every walk goes up to the daemon or init).
fn daemon_start() -> Option<u64> {
    static START: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *START.get_or_init(|| {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        stat_of(me).ok().map(|stat| stat.start)
    })
}

/// When process `pid` started (clock ticks after boot), if it runs (or is a zombie).
pub(crate) fn start_time(pid: i32) -> Option<u64> {
    stat_of(pid).ok().map(|stat| stat.start)
}

/// When this process (the daemon) started, read once.
pub(crate) fn own_start_time() -> Option<u64> {
    daemon_start()
}

/// What the walk needs of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    /// Its parent's pid.
    ppid: i32,
    /// When it started, in clock ticks after boot.
    start: u64,
}

/// How much of `/proc/PID/stat` is read at most: the command name is at most 64 bytes
/// and the fields up to the start time (the 22nd) at most 21 numbers of 20 digits.
const STAT_BYTES: usize = 1024;

/// The command name's `)` is within this many bytes of `/proc/PID/stat`'s start: a pid
/// (at most 10 digits), ` (`, the name (at most 63 bytes) and `)`. Before that, a `)`
/// may be one inside the name.
const NAME_END: usize = 80;

/// The parent pid and start time of `pid`, from `/proc/PID/stat`, read into a buffer
/// on the stack (one `read` as a rule: reading stops once the fields are in).
fn stat_of(pid: i32) -> std::io::Result<Stat> {
    use std::io::Read;
    let mut file = std::fs::File::open(format!("/proc/{pid}/stat"))?;
    let mut buffer = [0u8; STAT_BYTES];
    let mut len = 0;
    while let Some(free) = buffer.get_mut(len..) {
        let n = match file.read(free) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        len += n;
        let read = buffer.get(..len).unwrap_or_default();
        if n == 0 || len == STAT_BYTES {
            return parse_stat(read, true);
        }
        // Once the command name is surely in (its `)` is within the first bytes),
        // the fields after it may be read from what came.
        if len >= NAME_END {
            if let Ok(stat) = parse_stat(read, false) {
                return Ok(stat);
            }
        }
    }
    parse_stat(buffer.get(..len).unwrap_or_default(), true)
}

/// Reads the parent pid and the start time from the text of `/proc/PID/stat` (or its
/// beginning, `whole` when there is no more). The command name may itself hold spaces
/// and parentheses: the fields are read after the last `)`, and a field counts only
/// once the text goes on after it (or ends there, when `whole`).
fn parse_stat(text: &[u8], whole: bool) -> std::io::Result<Stat> {
    let malformed = || std::io::Error::other("malformed stat");
    let close = text
        .iter()
        .rposition(|b| *b == b')')
        .ok_or_else(malformed)?;
    let rest = text.get(close + 1..).ok_or_else(malformed)?;
    // Only fields that are known to be complete.
    let complete = if whole {
        rest
    } else {
        let end = rest
            .iter()
            .rposition(|b| *b == b' ' || *b == b'\n')
            .ok_or_else(malformed)?;
        rest.get(..end).ok_or_else(malformed)?
    };
    let mut fields = complete
        .split(|b| *b == b' ' || *b == b'\n')
        .filter(|field| !field.is_empty());
    // Fields 3 (state) and 4 (ppid), then 22 (starttime).
    let _state = fields.next();
    let ppid = number(fields.next()).ok_or_else(malformed)?;
    let start = number(fields.nth(17)).ok_or_else(malformed)?;
    Ok(Stat { ppid, start })
}

/// A field of `/proc/PID/stat` read as a number.
fn number<T: std::str::FromStr>(field: Option<&[u8]>) -> Option<T> {
    std::str::from_utf8(field?).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_its_descendants_and_not_its_ancestors() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        assert!(descends_from_daemon(pid).unwrap());
        let parent = rustix::process::getppid().unwrap().as_raw_nonzero().get();
        assert!(!descends_from_daemon(parent).unwrap());
        assert!(!descends_from_daemon(1).unwrap());
        let _ = child.kill();
        let _ = child.wait();
        assert!(descends_from_daemon(i32::MAX).is_err(), "no such process");
    }

    #[test]
    fn answers_are_kept_by_pid_and_start_time() {
        // A shell (a child of this process, the "daemon" here) with a child of its own.
        let mut shell = std::process::Command::new("sh")
            .args(["-c", "sleep 5 & wait"])
            .spawn()
            .unwrap();
        let shell_pid = i32::try_from(shell.id()).unwrap();
        let sleeper = loop {
            let children =
                std::fs::read_to_string(format!("/proc/{shell_pid}/task/{shell_pid}/children"))
                    .unwrap_or_default();
            if let Some(pid) = children.split_whitespace().next() {
                break pid.parse::<i32>().unwrap();
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let shell_start = stat_of(shell_pid).unwrap().start;
        let me = rustix::process::getpid().as_raw_nonzero().get();
        // Walks with a table of held processes of their own, and a count of the reads.
        let held = held::Held::new();
        let reads = std::cell::Cell::new(0);
        let walk_from_sleeper = |held: &held::Held| {
            let read = |pid| {
                reads.set(reads.get() + 1);
                stat_of(pid)
            };
            walk(sleeper, me, daemon_start(), read, held).unwrap()
        };
        assert!(walk_from_sleeper(&held));
        // The walk kept the answer for every process it passed.
        let sleeper_start = stat_of(sleeper).unwrap().start;
        assert_eq!(lock_known().get(&(shell_pid, shell_start)), Some(&true));
        assert_eq!(lock_known().get(&(sleeper, sleeper_start)), Some(&true));
        // An answer for another process that had the same pid does not count.
        lock_known().insert((shell_pid, shell_start + 1), false);
        lock_known().remove(&(sleeper, sleeper_start));
        assert!(walk_from_sleeper(&held::Held::new()));
        // A kept answer ends the walk: the shell's, planted false, is what a walk
        // through it now finds (nothing in a real tree could make it so).
        lock_known().insert((shell_pid, shell_start), false);
        lock_known().remove(&(sleeper, sleeper_start));
        assert!(!walk_from_sleeper(&held));
        // The shell, where that walk ended, is now held with its answer: the next walk
        // reads the sleeper alone and takes the shell's answer from the held process
        // (whatever is kept by pid and start time now).
        lock_known().insert((shell_pid, shell_start), true);
        lock_known().remove(&(sleeper, sleeper_start));
        reads.set(0);
        assert!(!walk_from_sleeper(&held));
        assert_eq!(reads.get(), 1, "only the sleeper was read");
        // Once the shell is gone, its held answer counts no more.
        let _ = shell.kill();
        let _ = shell.wait();
        assert_eq!(held.answer(shell_pid), None);
    }

    #[test]
    fn a_parent_younger_than_its_child_is_a_reused_pid_and_is_not_followed() {
        // A fake process table (start times far beyond any real process's, so that
        // the answers kept for them meet no real one): the daemon is pid 10; a program
        // it ran (pid 200) started a child (300) and exited, and pid 200 now belongs
        // to a stranger outside the daemon's tree, started after the child. (The second
        // case has pids of its own: the first one's answers are kept.)
        const T: u64 = 1 << 60;
        // The child `pid` read first with its old parent `pid - 100`, now a stranger,
        // then with `later`'s parent and start time; and how often it was read.
        let table = |pid: i32, later: (i32, u64)| {
            let reads = std::rc::Rc::new(std::cell::Cell::new(0));
            let counted = std::rc::Rc::clone(&reads);
            let read = move |asked: i32| {
                let (ppid, start) = if asked == pid {
                    counted.set(counted.get() + 1);
                    if counted.get() == 1 {
                        (pid - 100, T + 300)
                    } else {
                        later
                    }
                } else if asked == pid - 100 {
                    (1, T + 400)
                } else {
                    return Err(std::io::Error::other("no such process"));
                };
                Ok(Stat { ppid, start })
            };
            (read, reads)
        };

        // The child was given to the daemon, its subreaper, but the walk read its
        // parent before that happened.
        let (read, reads) = table(300, (10, T + 300));
        assert!(walk(300, 10, Some(T), read, &held::Held::new()).unwrap());
        assert_eq!(
            reads.get(),
            2,
            "the child was read again for its new parent"
        );

        // The child itself gone by then, its pid another process's: no answer rather
        // than a guess.
        let (read, _) = table(301, (1, T + 500));
        let error = walk(301, 10, Some(T), read, &held::Held::new()).unwrap_err();
        assert_eq!(error.pid, 301);
    }

    #[test]
    fn parses_stat_lines_with_odd_command_names() {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let parent = rustix::process::getppid().unwrap().as_raw_nonzero().get();
        assert_eq!(stat_of(me).unwrap().ppid, parent);
        let line = b"42 (a) R 7 8 (b) S 99 99 99 0 -1 4194560 10 0 0 0 1 2 0 0 20 0 1 0 5555 1000 200 18446744073709551615\n";
        let stat = parse_stat(line, true).unwrap();
        assert_eq!(
            stat,
            Stat {
                ppid: 99,
                start: 5555
            }
        );
        // A field cut off at the end of what was read does not count: more is read.
        let at = line.windows(4).position(|w| w == b"5555").unwrap();
        assert!(parse_stat(&line[..at + 2], false).is_err());
        assert!(parse_stat(&line[..at + 4], false).is_err());
        assert_eq!(parse_stat(&line[..at + 5], false).unwrap().start, 5555);
        assert_eq!(parse_stat(&line[..at + 4], true).unwrap().start, 5555);
        assert!(parse_stat(b"42 (a) S 99", true).is_err());
    }

    #[test]
    fn processes_older_than_the_daemon_end_the_walk() {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let parent = rustix::process::getppid().unwrap().as_raw_nonzero().get();
        let (me, parent) = (stat_of(me).unwrap(), stat_of(parent).unwrap());
        assert!(parent.start <= me.start);
        assert_eq!(daemon_start(), Some(me.start));
    }
}
