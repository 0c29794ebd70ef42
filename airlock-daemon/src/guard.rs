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
//! (close-on-exec: no program inherits it). The daemon tells it the process group of
//! each run when the program starts and again once the group is gone. When the daemon
//! ends, however it ends, the kernel closes the write end: the guard reads end of file,
//! sends SIGKILL to every group still registered, and exits. The runs' start records,
//! written before their programs started, are what remains in the audit log.
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
//!   it SIGKILL, as it could the daemon); the daemon then says so on stderr once and
//!   runs on without it.
//!
//! At most [`MAX_GROUPS`] groups are watched at once (the connection caps are far
//! below it); past it a group is not watched.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::process::Pid;

/// The most process groups the guard watches at once.
pub const MAX_GROUPS: usize = 65_536;

/// The daemon's end of the pipe to the guard.
#[derive(Debug)]
struct Guard {
    write: OwnedFd,
    /// The guard's pid (a child of the daemon, never watched itself).
    pid: i32,
}

/// The guard's pid, once it started.
pub fn pid() -> Option<i32> {
    GUARD.get().map(|guard| guard.pid)
}

static GUARD: OnceLock<Guard> = OnceLock::new();

/// Whether the daemon already said that the guard is gone.
static LOST: AtomicBool = AtomicBool::new(false);

/// One message on the pipe: `+` or `-`, then the group's id (little endian). Five
/// bytes, less than `PIPE_BUF`: each write is atomic.
const MESSAGE: usize = 5;

/// Forks the guard. Call once, while the daemon has one thread (before the runtime
/// starts): the child then runs only system calls and never allocates.
pub fn start() -> io::Result<()> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let devnull = std::fs::File::open("/dev/null")?;
    // Allocated before the fork: the guard only pushes within this capacity.
    let mut groups: Vec<i32> = Vec::with_capacity(MAX_GROUPS);
    #[expect(
        unsafe_code,
        reason = "fork while the daemon has one thread; the child runs only `guard`, which makes system calls and does not allocate"
    )]
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            drop(write);
            guard(&read, &devnull, &mut groups)
        }
        child => {
            drop(read);
            drop(groups);
            // A guard that stops reading must not block a run's start.
            rustix::io::ioctl_fionbio(&write, true)?;
            GUARD
                .set(Guard { write, pid: child })
                .map_err(|_| io::Error::other("the guard was started twice"))
        }
    }
}

/// A run's process group, watched by the guard until this is dropped (drop it once
/// the group is gone: its id may then be reused).
#[derive(Debug)]
pub struct Watched(Option<Pid>);

/// Registers `group` with the guard, if there is one. Never the daemon's own group
/// (nor init's): only the groups the daemon's programs lead.
pub fn watch(group: Option<Pid>) -> Watched {
    match group {
        Some(group)
            if group != rustix::process::getpgrp()
                && group.as_raw_nonzero().get() > 1
                && tell(b'+', group) =>
        {
            Watched(Some(group))
        }
        _ => Watched(None),
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(group) = self.0.take() {
            tell(b'-', group);
        }
    }
}

/// Sends one message to the guard; whether it went out.
fn tell(op: u8, group: Pid) -> bool {
    let Some(guard) = GUARD.get() else {
        return false;
    };
    let id = group.as_raw_nonzero().get().to_le_bytes();
    let [a, b, c, d] = id;
    let message = [op, a, b, c, d];
    match rustix::io::write(guard.write.as_fd(), &message) {
        Ok(MESSAGE) => true,
        Ok(_) | Err(_) => {
            if !LOST.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "airlock-daemon: the guard is gone or not reading: runs will not die with the daemon"
                );
            }
            false
        }
    }
}

/// The guard's life: see the module documentation. Never returns.
fn guard(read: &OwnedFd, devnull: &std::fs::File, groups: &mut Vec<i32>) -> ! {
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
    // A multiple of the message size: a read never splits a message (each write is
    // atomic), and `pending` covers the case anyway.
    let mut buf = [0u8; MESSAGE * 800];
    let mut pending = [0u8; MESSAGE];
    let mut have = 0usize;
    loop {
        match rustix::io::read(read, &mut buf) {
            Ok(0) => break,
            Ok(n) => {
                for byte in buf.iter().take(n) {
                    if let Some(slot) = pending.get_mut(have) {
                        *slot = *byte;
                    }
                    have += 1;
                    if have == MESSAGE {
                        apply(&pending, groups);
                        have = 0;
                    }
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => break,
        }
    }
    // The daemon is gone.
    for group in groups.iter() {
        if let Some(group) = Pid::from_raw(*group) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
    #[expect(
        unsafe_code,
        reason = "_exit: end the forked child without running the daemon's exit handlers"
    )]
    unsafe {
        libc::_exit(0)
    }
}

/// Applies one message to the watched groups, without allocating.
fn apply(message: &[u8; MESSAGE], groups: &mut Vec<i32>) {
    let [op, a, b, c, d] = *message;
    let group = i32::from_le_bytes([a, b, c, d]);
    if group <= 1 {
        return;
    }
    match op {
        b'+' if groups.len() < groups.capacity() => groups.push(group),
        b'-' => {
            if let Some(i) = groups.iter().position(|g| *g == group) {
                groups.swap_remove(i);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_add_and_remove_groups_without_growing() {
        let mut groups = Vec::with_capacity(2);
        apply(&[b'+', 10, 0, 0, 0], &mut groups);
        apply(&[b'+', 0, 1, 0, 0], &mut groups);
        apply(&[b'+', 7, 0, 0, 0], &mut groups);
        assert_eq!(groups, [10, 256], "full: the third is not watched");
        apply(&[b'-', 10, 0, 0, 0], &mut groups);
        assert_eq!(groups, [256]);
        apply(&[b'+', 1, 0, 0, 0], &mut groups);
        apply(&[b'+', 0xff, 0xff, 0xff, 0xff], &mut groups);
        apply(&[b'?', 9, 0, 0, 0], &mut groups);
        assert_eq!(groups, [256], "init, negative ids and junk are ignored");
        assert_eq!(groups.capacity(), 2);
    }
}
