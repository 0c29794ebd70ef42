//! Where the daemon's own time goes in a run, for benchmarks and profiling.
//!
//! A run's round trip is the daemon's work plus the program's: starting it (`fork` or
//! its like, `execve`, the dynamic linker), running it, and its exit. The daemon's part
//! is measured in two pieces, each with the monotonic clock:
//!
//! - **before the spawn**: from the connection being accepted to the program's start
//!   being asked for (the peer check, reading and parsing the request, the policy, the
//!   working directory, the program's path, the private directory, the confinement
//!   ruleset, the environment, the start record in the audit log);
//! - **after the run**: from the executor's return (the program reaped and its output
//!   drained) to the final reply written (the end record, the reply, and what the run
//!   leaves to clean up).
//!
//! What is between the two (the spawn itself, the program, its exit being noticed) is
//! the executor's and the program's, and is not counted here.
//!
//! Nothing is measured unless an observer was installed with [`observe`] (the daemon
//! never installs one): a run then costs a few clock reads and one atomic load.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The daemon's own time in one run (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunTiming {
    /// From the connection accepted to the program's start asked for.
    pub before_spawn: Duration,
    /// From the executor's return to the final reply written.
    pub after_run: Duration,
}

static OBSERVER: OnceLock<fn(RunTiming)> = OnceLock::new();

/// Installs `observer`, called once for every run that ends with a reply (after the
/// reply is written, on the connection's task: it must be quick). Only one observer can
/// be installed; returns `false` when one already was.
pub fn observe(observer: fn(RunTiming)) -> bool {
    OBSERVER.set(observer).is_ok()
}

/// The instants a run passes, filled as it goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Marks {
    /// The connection was accepted.
    pub accepted: Instant,
    /// The program's start was asked for.
    pub spawning: Option<Instant>,
    /// The executor returned.
    pub returned: Option<Instant>,
}

impl Marks {
    /// Marks for a connection accepted at `accepted`.
    pub fn new(accepted: Instant) -> Self {
        Self {
            accepted,
            spawning: None,
            returned: None,
        }
    }

    /// Now, when someone observes (`None` otherwise: no clock read).
    pub fn now() -> Option<Instant> {
        OBSERVER.get().map(|_| Instant::now())
    }

    /// Tells the observer, if there is one, about a run whose reply was just written.
    pub fn replied(&self) {
        let Some(observer) = OBSERVER.get() else {
            return;
        };
        if let (Some(spawning), Some(returned)) = (self.spawning, self.returned) {
            observer(RunTiming {
                before_spawn: spawning.saturating_duration_since(self.accepted),
                after_run: returned.elapsed(),
            });
        }
    }
}
