//! Work done ahead or after, off the requests' path: one thread of the lowest CPU
//! priority (`SCHED_IDLE`) that runs jobs in order.
//!
//! Making the next run's private directory and ruleset, and removing a finished run's
//! directory, must not compete with a request for the processor: on a machine of two
//! cores, a blocking thread of normal priority doing it took the core the request's
//! program was about to start on (a proxied `git status` waited 0.3 ms for it). Under
//! `SCHED_IDLE` the kernel runs this thread only when no other thread wants the
//! processor. None of its jobs is needed for correctness: a kit or directory not made
//! in time is made by the request itself, and a directory not yet removed is removed
//! later (or swept when the daemon next starts).

use std::sync::OnceLock;
use std::sync::mpsc;

/// A job for the thread.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// The queue to the thread (started on first use).
fn queue() -> Option<&'static mpsc::Sender<Job>> {
    static QUEUE: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let (sender, receiver) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("airlock-ahead".to_owned())
                .spawn(move || {
                    crate::scheduling::idle();
                    for job in receiver {
                        job();
                    }
                })
                .ok()
                .map(|_| sender)
        })
        .as_ref()
}

/// Runs `job` on the background thread; runs it here when there is no such thread.
pub fn run(job: impl FnOnce() + Send + 'static) {
    let job: Job = Box::new(job);
    match queue() {
        Some(queue) => {
            if let Err(mpsc::SendError(job)) = queue.send(job) {
                job();
            }
        }
        None => job(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_in_order_on_an_idle_priority_thread() {
        let (done, results) = mpsc::channel();
        for n in 0..3 {
            let done = done.clone();
            run(move || {
                let policy = crate::scheduling::current();
                let name = std::thread::current().name().map(str::to_owned);
                let _ = done.send((n, policy, name));
            });
        }
        let got: Vec<_> = (0..3).map(|_| results.recv().unwrap()).collect();
        for (i, (n, policy, name)) in got.into_iter().enumerate() {
            assert_eq!(n, i);
            assert_eq!(policy, libc::SCHED_IDLE);
            assert_eq!(name.as_deref(), Some("airlock-ahead"));
        }
    }
}
