//! The scheduling policies of the daemon's threads and of the programs it starts.
//!
//! A run hands the processor back and forth between the daemon and its program: the
//! program's `execve` wakes the daemon thread that started it (see [`crate::spawn`]),
//! and the program's end wakes a daemon thread for each stream it closes and again for
//! its exit. The kernel puts a thread woken that way on the waker's processor and lets
//! it take that processor at once, so each of those wake-ups stopped the program for a
//! moment (three times at the end of a proxied `/bin/true`, on a machine of two cores).
//! The daemon's threads therefore run under `SCHED_BATCH`, which never takes the
//! processor from a running thread on waking: a woken daemon thread waits until the
//! program blocks or ends, or moves to an idle processor. The programs start under the
//! normal policy again ([`normal`], in the child before `execve`: a policy is inherited
//! across `clone` and `execve`). What the daemon starts otherwise (hooks, git's probes,
//! the ssh-agents) keeps `SCHED_BATCH`: it differs from the normal policy only in that
//! it never takes a processor on waking.
//!
//! The background thread runs under `SCHED_IDLE` instead ([`crate::background`]).
//! All of it is best effort: a kernel or container that refuses leaves a thread as it
//! was.

/// Puts the calling thread under `SCHED_BATCH` (see the module's documentation).
pub fn batch() {
    set(libc::SCHED_BATCH);
}

/// Puts the calling thread under `SCHED_IDLE`: it runs only when no other thread wants
/// the processor.
pub fn idle() {
    set(libc::SCHED_IDLE);
}

/// Puts the calling process under the normal policy (`SCHED_OTHER`). One system call
/// on a plain struct: safe in the child of [`crate::spawn`], before `execve`.
pub fn normal() {
    set(libc::SCHED_OTHER);
}

/// The calling thread's policy (for tests).
#[cfg(test)]
pub(crate) fn current() -> libc::c_int {
    #[expect(
        unsafe_code,
        reason = "sched_getscheduler takes a pid; 0 is the calling thread"
    )]
    unsafe {
        libc::sched_getscheduler(0)
    }
}

fn set(policy: libc::c_int) {
    let param = libc::sched_param { sched_priority: 0 };
    #[expect(
        unsafe_code,
        reason = "sched_setscheduler reads one plain struct; pid 0 is the calling thread"
    )]
    unsafe {
        libc::sched_setscheduler(0, policy, &param);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test")]
mod tests {
    use super::*;

    #[test]
    fn a_thread_moves_between_the_policies() {
        std::thread::spawn(|| {
            batch();
            assert_eq!(current(), libc::SCHED_BATCH);
            normal();
            assert_eq!(current(), libc::SCHED_OTHER);
        })
        .join()
        .unwrap();
    }
}
