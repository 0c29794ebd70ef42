//! Processes whose place in the tree is known, held open by a pidfd.
//!
//! The peer check reads `/proc/PID/stat` for the client and for its parent (7 µs each
//! here), although the parent is as a rule the same long-lived process (the agent's
//! runtime, its shell) request after request. A pidfd settles who has a pid without
//! reading anything: a process keeps its pid while it lives, and `poll` on its pidfd
//! says whether it still lives (half a microsecond). So the processes at which walks
//! end are held by a pidfd with their answer, and the next walk that reaches one of
//! their pids takes the answer if the held process still lives: then it has held that
//! pid since it was held, so it is the process the walk was led to.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::sync::{Mutex, MutexGuard};

use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, PidfdFlags};

/// The most processes held. A full table first lets go of the ones that ended; if it is
/// still full, nothing more is held (the live ones it holds are as useful).
const HELD_MAX: usize = 64;

/// Processes by pid, each with its pidfd and whether it descends from the daemon.
#[derive(Debug, Default)]
pub(super) struct Held(Mutex<BTreeMap<i32, (OwnedFd, bool)>>);

impl Held {
    /// An empty table.
    pub(super) const fn new() -> Self {
        Self(Mutex::new(BTreeMap::new()))
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<i32, (OwnedFd, bool)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The answer for whoever has `pid` now, when that is a held process (one that
    /// still lives). A held process that ended is let go.
    pub(super) fn answer(&self, pid: i32) -> Option<bool> {
        let mut held = self.lock();
        let (pidfd, descends) = held.get(&pid)?;
        if lives(pidfd) {
            return Some(*descends);
        }
        held.remove(&pid);
        None
    }

    /// Holds the process that has `pid` and started at `start` (clock ticks after
    /// boot), whose answer is `descends`; `start_of` reads when whoever has a pid
    /// started. Nothing is held when the process cannot be opened or is no longer the
    /// one read: the pidfd is opened first, then the start time read again, then the
    /// pidfd's process checked alive, so it had the pid when the start time was read,
    /// and is the process read.
    pub(super) fn hold(
        &self,
        pid: i32,
        start: u64,
        descends: bool,
        start_of: impl FnOnce(i32) -> Option<u64>,
    ) {
        if self.answer(pid).is_some() {
            return;
        }
        let Some(raw) = Pid::from_raw(pid) else {
            return;
        };
        let Ok(pidfd) = rustix::process::pidfd_open(raw, PidfdFlags::empty()) else {
            return;
        };
        if start_of(pid) != Some(start) || !lives(&pidfd) {
            return;
        }
        let mut held = self.lock();
        if held.len() >= HELD_MAX {
            held.retain(|_, (pidfd, _)| lives(pidfd));
        }
        if held.len() < HELD_MAX {
            held.insert(pid, (pidfd, descends));
        }
    }

    /// How many processes are held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Whether the process of `pidfd` still lives: its pidfd turns readable once it ended.
/// A `poll` that fails counts as ended (the caller then reads `/proc` instead).
fn lives(pidfd: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
    matches!(
        rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())),
        Ok(0)
    )
}

#[cfg(test)]
mod tests {
    use super::super::start_time;
    use super::*;

    fn sleeper() -> (std::process::Child, i32) {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        (child, pid)
    }

    /// Holds `pid` as it is now, with the answer `descends`.
    fn hold_now(held: &Held, pid: i32, descends: bool) {
        held.hold(pid, start_time(pid).unwrap(), descends, start_time);
    }

    /// Waits until `pid` has ended and is not yet reaped.
    fn wait_for_zombie(pid: i32) {
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            if stat
                .rsplit_once(')')
                .unwrap()
                .1
                .trim_start()
                .starts_with('Z')
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn a_held_process_answers_while_it_lives_and_is_let_go_once_it_ended() {
        let held = Held::new();
        let (mut child, pid) = sleeper();
        assert_eq!(held.answer(pid), None, "nothing held yet");
        hold_now(&held, pid, true);
        assert_eq!(held.answer(pid), Some(true));
        child.kill().unwrap();
        wait_for_zombie(pid);
        // Ended: its pid is about to be free for anyone; the held answer no longer counts.
        assert_eq!(held.answer(pid), None);
        assert_eq!(held.len(), 0, "an ended process is let go");
        child.wait().unwrap();
    }

    #[test]
    fn a_process_that_is_not_the_one_read_is_not_held() {
        let held = Held::new();
        let (mut child, pid) = sleeper();
        let start = start_time(pid).unwrap();
        // The pid read with another start time: whoever has it now is someone else.
        held.hold(pid, start + 1, false, start_time);
        assert_eq!(held.answer(pid), None);
        // A process that ended (its pid not yet free, its start time the same) is not
        // held either: the pidfd opens, and says it ended.
        child.kill().unwrap();
        wait_for_zombie(pid);
        held.hold(pid, start, false, start_time);
        assert_eq!(held.answer(pid), None);
        assert_eq!(held.len(), 0);
        child.wait().unwrap();
        // Nor one that is gone.
        held.hold(pid, start, false, |_| Some(start));
        assert_eq!(held.len(), 0);
    }

    #[test]
    fn a_full_table_lets_go_of_ended_processes_and_keeps_live_ones() {
        let held = Held::new();
        let (mut live, live_pid) = sleeper();
        hold_now(&held, live_pid, false);
        while held.len() < HELD_MAX {
            let (mut child, pid) = sleeper();
            hold_now(&held, pid, false);
            child.kill().unwrap();
            child.wait().unwrap();
        }
        let (mut another, another_pid) = sleeper();
        hold_now(&held, another_pid, true);
        assert_eq!(held.len(), 2, "the ended ones were let go");
        assert_eq!(held.answer(live_pid), Some(false));
        assert_eq!(held.answer(another_pid), Some(true));
        for child in [&mut live, &mut another] {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}
