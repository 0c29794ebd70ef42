//! The container-side Airlock shim. One static binary, symlinked under each command's
//! name (`git`, `terraform`, ...): `argv[0]`'s file name is the command. It sends the
//! argv, the working directory and the container id to the daemon over the socket in
//! `AIRLOCK_SOCKET` (default `/run/docker-airlock.sock`), streams stdin, stdout and
//! stderr, forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT, and exits with the program's
//! exit code (128 + N when a signal killed it).
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
#![deny(missing_docs)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use airlock_rpc::{
    Client, ClientError, CommandParams, ErrorCode, Event, InputSender, Signal, Stream,
};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;

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

/// Runs the shim with the process's argv and environment; returns the exit code.
pub fn run() -> i32 {
    let mut args = std::env::args_os();
    let argv0 = args.next().map(PathBuf::from).unwrap_or_default();
    let command = argv0
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if command.is_empty() || command == "airlock-shim" {
        print!("{USAGE}");
        return 0;
    }
    // Arguments travel as JSON text: one that is not UTF-8 cannot be carried as it is,
    // and a replacement character would run something other than what was asked.
    let mut text_args = Vec::new();
    for (n, arg) in args.enumerate() {
        match arg.into_string() {
            Ok(arg) => text_args.push(arg),
            Err(arg) => {
                eprintln!(
                    "airlock: {command}: argument {} ({}) is not UTF-8; Airlock carries text arguments only",
                    n + 1,
                    arg.to_string_lossy()
                );
                return 126;
            }
        }
    }
    let args = text_args;
    let socket = std::env::var_os("AIRLOCK_SOCKET")
        .filter(|s| !s.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_SOCKET), PathBuf::from);
    let params = CommandParams {
        command: command.clone(),
        args,
        // A working directory that is not UTF-8 is sent as none: the daemon refuses it.
        cwd: std::env::current_dir()
            .ok()
            .and_then(|d| d.into_os_string().into_string().ok()),
        container_id: container_id(),
    };
    match forward(&socket, params) {
        Ok(code) => code,
        Err(e) => report(&command, &socket, &e),
    }
}

/// Sends the command and relays everything until it ends; returns its exit code.
fn forward(socket: &Path, params: CommandParams) -> Result<i32, ClientError> {
    let mut client = Client::start(socket, params)?;
    let sender = client.sender();
    spawn_stdin(sender.clone());
    spawn_signals(sender);
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    loop {
        match client.next_event()? {
            Event::Output(Stream::Stdout, data) => {
                if stdout
                    .write_all(&data)
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    // Our stdout is gone (`| head`): leave, and the daemon stops the program.
                    return Ok(128 + 13);
                }
            }
            Event::Output(Stream::Stderr, data) => {
                let _ = stderr.write_all(&data);
                let _ = stderr.flush();
            }
            Event::Exit(status) => return Ok(status.shell_code()),
        }
    }
}

/// Copies our stdin to the program until end of input.
fn spawn_stdin(sender: InputSender) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sender.stdin(buf.get(..n).unwrap_or(&[])).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = sender.stdin_eof();
    });
}

/// Forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to the program.
fn spawn_signals(sender: InputSender) {
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT]) else {
        return;
    };
    std::thread::spawn(move || {
        for number in signals.forever() {
            let signal = match number {
                SIGINT => Signal::Int,
                SIGTERM => Signal::Term,
                SIGHUP => Signal::Hup,
                _ => Signal::Quit,
            };
            if sender.signal(signal).is_err() {
                return;
            }
        }
    });
}

/// Prints one line about a failure and returns its exit code.
fn report(command: &str, socket: &Path, error: &ClientError) -> i32 {
    let (code, line) = match error {
        ClientError::Connect { source, .. } => (
            EXIT_CONNECT,
            format!(
                "cannot connect to the Airlock daemon at `{}`: {source} (is the daemon running, and is its socket mounted into this container? AIRLOCK_SOCKET overrides the path)",
                socket.display()
            ),
        ),
        ClientError::Rpc(e) if e.code == ErrorCode::UnknownCommand => (
            EXIT_UNKNOWN,
            format!("{command}: not available through Airlock ({})", e.message),
        ),
        ClientError::Rpc(e) if e.code == ErrorCode::Invalid && e.rule.is_some() => (
            EXIT_DENIED,
            format!(
                "{command}: denied by rule `{}`: {}",
                e.rule.as_deref().unwrap_or("?"),
                e.reason.as_deref().unwrap_or(&e.message)
            ),
        ),
        ClientError::Rpc(e) => (EXIT_PROTOCOL, format!("{command}: {}", e.message)),
        other => (EXIT_PROTOCOL, format!("{command}: {other}")),
    };
    eprintln!("airlock: {line}");
    code
}

/// The container's id, when it can be told: the hostname docker and kubernetes set.
fn container_id() -> Option<String> {
    std::fs::read_to_string("/etc/hostname")
        .or_else(|_| std::fs::read_to_string("/proc/sys/kernel/hostname"))
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}
