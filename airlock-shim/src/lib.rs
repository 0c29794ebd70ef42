//! The container-side Airlock shim. One static binary, symlinked under each command's
//! name (`git`, `terraform`, ...): `argv[0]`'s file name is the command. It sends the
//! argv, the working directory and the container id to the daemon over the socket in
//! `AIRLOCK_SOCKET` (default `/run/docker-airlock.sock`), streams stdin, stdout and
//! stderr, forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT, and exits with the program's
//! exit code (128 + N when a signal killed it).
//!
//! It starts without std or a C library (the binary's `rt` module is its entry point):
//! a C library's start-up is most of a small program's start on a VM, and the shim runs
//! before every command an agent runs. It is one thread: a `poll` loop over the
//! socket, stdin and a signalfd ([`relay`]).
//!
//! Its own failures are one line on stderr, starting `airlock:`, with distinct exit
//! codes:
//!
//! | code | meaning |
//! |---|---|
//! | 124 | protocol or daemon error |
//! | 125 | cannot connect to the daemon's socket |
//! | 126 | denied by policy (the line names the rule and its reason) |
//! | 127 | unknown command: not available to this agent |
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

extern crate alloc;

pub mod relay;
mod request;
mod sys;

use alloc::format;
use alloc::string::String;
use core::fmt::Write as _;

use airlock_rpc::ErrorCode;

use crate::relay::Failure;
use crate::request::Start;
pub use crate::sys::exit;

/// The socket used when `AIRLOCK_SOCKET` is not set.
pub const DEFAULT_SOCKET: &str = "/run/docker-airlock.sock";

/// Exit code: protocol or daemon error.
pub const EXIT_PROTOCOL: i32 = 124;
/// Exit code: cannot connect.
pub const EXIT_CONNECT: i32 = 125;
/// Exit code: denied by policy.
pub const EXIT_DENIED: i32 = 126;
/// Exit code: unknown command.
pub const EXIT_UNKNOWN: i32 = 127;

const USAGE: &str = "\
airlock-shim: runs commands through the Airlock daemon, outside this container.

Link it under the name of each command the agent may use, for example:
    ln -s /usr/local/bin/airlock-shim /usr/local/bin/git
Then `git status` here runs the real git on the host, if the daemon's policy allows it.

Environment:
    AIRLOCK_SOCKET   the daemon's socket for this agent (default /run/docker-airlock.sock)

Exit codes: the program's own, or 124 protocol error, 125 cannot connect,
126 denied by policy, 127 unknown command.
";

/// Runs the shim with the process's argv and environment (each entry `NAME=value`);
/// returns the exit code.
pub fn run(args: &[&[u8]], env: &[&[u8]]) -> i32 {
    if sys::open_standard_descriptors().is_err() {
        // Nothing can be said: stderr may be among the closed ones.
        return EXIT_PROTOCOL;
    }
    let request = match request::read(args, env) {
        Start::Usage => {
            let _ = relay::write_all(sys::stdout(), USAGE.as_bytes());
            return 0;
        }
        Start::Refuse(line, code) => {
            say(&line);
            return code;
        }
        Start::Run(request) => request,
    };
    let command = request.params.command.clone();
    match relay::forward(&request.socket, request.params) {
        Ok(code) => code,
        Err(e) => report(&command, &request.socket, &e),
    }
}

/// Prints one line about a failure and returns its exit code.
fn report(command: &str, socket: &[u8], error: &Failure) -> i32 {
    let (code, line) = match error {
        Failure::Connect(_) => (
            EXIT_CONNECT,
            format!(
                "cannot connect to the Airlock daemon at `{}`: {error} (is the daemon running, and is its socket mounted into this container? AIRLOCK_SOCKET overrides the path)",
                String::from_utf8_lossy(socket)
            ),
        ),
        Failure::Rpc(e) if e.code == ErrorCode::UnknownCommand => (
            EXIT_UNKNOWN,
            format!("{command}: not available through Airlock ({})", e.message),
        ),
        Failure::Rpc(e) if e.code == ErrorCode::Invalid && e.rule.is_some() => (
            EXIT_DENIED,
            format!(
                "{command}: denied by rule `{}`: {}",
                e.rule.as_deref().unwrap_or("?"),
                e.reason.as_deref().unwrap_or(&e.message)
            ),
        ),
        Failure::Rpc(e) => (EXIT_PROTOCOL, format!("{command}: {}", e.message)),
        other => (EXIT_PROTOCOL, format!("{command}: {other}")),
    };
    say(&line);
    code
}

/// Writes `airlock: LINE` and a newline to stderr.
fn say(line: &str) {
    let _ = relay::write_all(sys::stderr(), format!("airlock: {line}\n").as_bytes());
}

/// For the binary's panic handler: a panic is a bug in the shim, said in one line on
/// stderr (without allocating: the panic may be an allocation's), then exit 124.
pub fn die(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut line = FixedLine::default();
    let _ = write!(
        line,
        "airlock: internal error in the shim: {}",
        info.message()
    );
    line.end();
    let _ = relay::write_all(sys::stderr(), line.bytes());
    exit(EXIT_PROTOCOL)
}

/// A line of at most 512 bytes on the stack; what does not fit is cut.
struct FixedLine {
    buf: [u8; 512],
    len: usize,
}

impl Default for FixedLine {
    fn default() -> Self {
        Self {
            buf: [0; 512],
            len: 0,
        }
    }
}

impl FixedLine {
    /// Ends the line with a newline (in the last byte if it is full).
    fn end(&mut self) {
        self.len = self.len.min(self.buf.len() - 1);
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b'\n';
            self.len += 1;
        }
    }

    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl core::fmt::Write for FixedLine {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.buf.get_mut(self.len..).unwrap_or_default();
        let n = s.len().min(room.len());
        if let (Some(dest), Some(src)) = (room.get_mut(..n), s.as_bytes().get(..n)) {
            dest.copy_from_slice(src);
        }
        self.len += n;
        Ok(())
    }
}
