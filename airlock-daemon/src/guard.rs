//! The guard: what makes a run's whole process group die with the daemon.
//!
//! The program the daemon starts has the parent-death signal (SIGKILL, set in
//! [`crate::confine::enter`]), but that covers the program alone: what it started in
//! its process group (`sh -c 'sleep 60 & sleep 60'`) would be left running, unaudited,
//! if the daemon were SIGKILLed or taken by the OOM killer. No signal can be sent by a
//! process that is already dead, so the daemon has a partner: the guard, a small
//! process forked when the daemon starts (before its runtime starts threads), in a
//! session of its own, deaf to the terminal's and the administrator's TERM, INT, HUP
//! and QUIT. It holds the read end of a pipe whose only write end is the daemon's
//! (close-on-exec: no program inherits it), and shares with the daemon a table of
//! process groups (memory mapped shared before the fork; a program's `execve` leaves
//! it behind). The daemon writes the process group of each run into a free slot when
//! the program starts and clears the slot once the group is gone: a store to memory,
//! which wakes nobody (a message on the pipe woke the guard twice a run, on the run's
//! path). When the daemon ends, however it ends, the kernel closes the write end: the
//! guard reads end of file, sends SIGKILL to every group still in the table, and exits.
//! The runs' start records, written before their programs started, are what remains in
//! the audit log.
//!
//! Covered: every process in a run's process group (the program and whatever it
//! started without leaving the group), once the daemon is gone for any reason.
//!
//! Also covered: what a run left behind. The daemon is the subreaper of its programs'
//! descendants, so a process that left its run's group (`setsid -f`) becomes the
//! daemon's child once its parent ends; the reaper then has the guard watch the process
//! group it leads until it is reaped (see [`crate::children`]). Only groups a program
//! leads are ever watched, never the daemon's own: a program may join any group of the
//! daemon's session, and the guard must not kill its supervisor's.
//!
//! Not covered, and why:
//! - a descendant that left its group while its parent still runs, for as long as that
//!   parent runs (it is not the daemon's child yet), or that left its group under an
//!   orphan without becoming one itself: the daemon does not know its group (the kernel
//!   has no "kill my descendants" without cgroups or a pid namespace), an orphan that
//!   does not lead its group (it joined another with `setpgid`), and an orphan
//!   adopted in the last moment before the daemon died (the reaper looks on every
//!   SIGCHLD and every second);
//! - the hooks' process groups (pre-exec and post-exec hooks are not confined and are
//!   the agent owner's own programs); the hook itself has no parent-death signal;
//! - a process forked in the microseconds between the program's start and the daemon
//!   registering its group, if the daemon dies in exactly that window;
//! - a guard that was itself killed (by the daemon's user: on a kernel without
//!   Landlock's signal scoping, ABI 6, a confined program of the same user could send
//!   it SIGKILL, as it could the daemon); the daemon sees it at the next run's start
//!   (the pipe's reader is gone), says so on stderr once and runs on without it.
//!
//! At most [`MAX_GROUPS`] groups are watched at once (the connection caps are far
//! below it); past it a group is not watched.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use rustix::process::Pid;

/// The most process groups the guard watches at once.
pub const MAX_GROUPS: usize = 65_536;

/// The daemon's side of the guard.
#[derive(Debug)]
struct Guard {
    /// The write end of the pipe (never written: its closing is the message).
    write: OwnedFd,
    /// The guard's pid (a child of the daemon, never watched itself).
    pid: i32,
    /// The table of watched groups, shared with the guard.
    table: &'static [AtomicI32],
}

/// The guard's pid, once it started.
pub fn pid() -> Option<i32> {
    GUARD.get().map(|guard| guard.pid)
}

static GUARD: OnceLock<Guard> = OnceLock::new();

/// Whether the daemon already said that the guard is gone.
static LOST: AtomicBool = AtomicBool::new(false);

/// Maps the table of [`MAX_GROUPS`] slots shared with the guard (zeroed by the kernel:
/// every slot free). It lives as long as the daemon, and in the guard until it exits.
fn shared_table() -> io::Result<&'static [AtomicI32]> {
    use rustix::mm::{MapFlags, ProtFlags, mmap_anonymous};
    let len = MAX_GROUPS * std::mem::size_of::<AtomicI32>();
    #[expect(
        unsafe_code,
        reason = "a fresh anonymous mapping, never unmapped, of MAX_GROUPS zeroed i32s: \
                  a valid, aligned, 'static slice of atomics (AtomicI32 has i32's layout)"
    )]
    unsafe {
        let at = mmap_anonymous(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
        )?;
        Ok(std::slice::from_raw_parts(
            at.cast::<AtomicI32>(),
            MAX_GROUPS,
        ))
    }
}

/// Forks the guard. Call once, while the daemon has one thread (before the runtime
/// starts): the child then runs only system calls and never allocates.
pub fn start() -> io::Result<()> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let devnull = std::fs::File::open("/dev/null")?;
    let table = shared_table()?;
    #[expect(
        unsafe_code,
        reason = "fork while the daemon has one thread; the child runs only `guard`, which makes system calls and does not allocate"
    )]
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            drop(write);
            guard(&read, &devnull, table)
        }
        child => {
            drop(read);
            GUARD
                .set(Guard {
                    write,
                    pid: child,
                    table,
                })
                .map_err(|_| io::Error::other("the guard was started twice"))
        }
    }
}

/// A run's process group, watched by the guard until this is dropped (drop it once
/// the group is gone: its id may then be reused).
#[derive(Debug)]
pub struct Watched(Option<&'static AtomicI32>);

/// Registers `group` with the guard, if there is one. Never the daemon's own group
/// (nor init's): only the groups the daemon's programs lead.
pub fn watch(group: Option<Pid>) -> Watched {
    let Some(group) = group else {
        return Watched(None);
    };
    if group == rustix::process::getpgrp() || group.as_raw_nonzero().get() <= 1 {
        return Watched(None);
    }
    let Some(guard) = GUARD.get().filter(|guard| guard_alive(guard)) else {
        return Watched(None);
    };
    Watched(claim(guard.table, group.as_raw_nonzero().get()))
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            slot.store(0, Ordering::Release);
        }
    }
}

/// Writes `group` into the first free slot of `table`; `None` when it is full.
fn claim(table: &'static [AtomicI32], group: i32) -> Option<&'static AtomicI32> {
    table.iter().find(|slot| {
        slot.compare_exchange(0, group, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    })
}

/// Whether the guard still reads its end of the pipe; says once on stderr when it
/// does not.
fn guard_alive(guard: &Guard) -> bool {
    let gone = reader_gone(&guard.write);
    if gone && !LOST.swap(true, Ordering::Relaxed) {
        eprintln!("airlock-daemon: the guard is gone: runs will not die with the daemon");
    }
    !gone
}

/// Whether the read end of the pipe whose write end is `write` is closed everywhere
/// (the kernel shows it as an error on the write end); asked without waiting.
fn reader_gone(write: &OwnedFd) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(write, PollFlags::OUT)];
    matches!(poll(&mut fds, Some(&Timespec::default())), Ok(n) if n > 0)
        && fds.iter().any(|fd| fd.revents().contains(PollFlags::ERR))
}

/// The guard's life: see the module documentation. Never returns.
fn guard(read: &OwnedFd, devnull: &std::fs::File, table: &[AtomicI32]) -> ! {
    use std::os::fd::AsRawFd;
    // Its own session: signals to the daemon's process group do not reach it.
    let _ = rustix::process::setsid();
    #[expect(
        unsafe_code,
        reason = "setting signal dispositions to SIG_IGN and naming the process: plain system calls"
    )]
    unsafe {
        for signal in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGPIPE,
        ] {
            libc::signal(signal, libc::SIG_IGN);
        }
        libc::prctl(libc::PR_SET_NAME, c"airlock-guard".as_ptr());
        // Nothing of the daemon's stays open here but the pipe and stderr.
        libc::dup2(devnull.as_raw_fd(), 0);
        libc::dup2(devnull.as_raw_fd(), 1);
        let keep = read.as_raw_fd();
        if keep > 3 {
            libc::syscall(libc::SYS_close_range, 3u32, (keep - 1) as u32, 0u32);
        }
        libc::syscall(libc::SYS_close_range, (keep + 1) as u32, u32::MAX, 0u32);
    }
    // Nothing is written to the pipe: a read returns at its end, when the daemon is gone.
    let mut buf = [0u8; 64];
    loop {
        match rustix::io::read(read, &mut buf) {
            Ok(0) => break,
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => break,
        }
    }
    for group in groups_in(table) {
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
    #[expect(
        unsafe_code,
        reason = "_exit: end the forked child without running the daemon's exit handlers"
    )]
    unsafe {
        libc::_exit(0)
    }
}

/// The groups `table` holds (never init's, nor a negative id), without allocating.
fn groups_in(table: &[AtomicI32]) -> impl Iterator<Item = Pid> + '_ {
    table
        .iter()
        .map(|slot| slot.load(Ordering::Acquire))
        .filter(|group| *group > 1)
        .filter_map(Pid::from_raw)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test")]
mod tests {
    use super::*;

    #[test]
    fn groups_take_free_slots_and_give_them_back() {
        let table: &'static [AtomicI32] = Box::leak(Box::new([0, 0].map(AtomicI32::new)));
        let first = claim(table, 10).unwrap();
        let second = claim(table, 256).unwrap();
        assert!(claim(table, 7).is_none(), "full: the third is not watched");
        let listed: Vec<i32> = groups_in(table).map(|g| g.as_raw_nonzero().get()).collect();
        assert_eq!(listed, [10, 256]);
        drop(Watched(Some(first)));
        assert!(
            claim(table, 7).is_some(),
            "a slot given back is taken again"
        );
        drop(Watched(Some(second)));
        let listed: Vec<i32> = groups_in(table).map(|g| g.as_raw_nonzero().get()).collect();
        assert_eq!(listed, [7]);
        table[1].store(1, Ordering::Relaxed);
        table[0].store(-5, Ordering::Relaxed);
        assert_eq!(
            groups_in(table).count(),
            0,
            "init and negative ids are never killed"
        );
    }

    #[test]
    fn a_guard_that_stopped_reading_is_seen() {
        let (read, write) = rustix::pipe::pipe().unwrap();
        assert!(!reader_gone(&write));
        drop(read);
        assert!(reader_gone(&write));
    }
}
