//! What the shim asks for: the command (its own name), the arguments, the working
//! directory and the container's id, and which socket to ask.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use airlock_rpc::CommandParams;
use rustix::fs::{Mode, OFlags};

use crate::DEFAULT_SOCKET;

/// The environment variable that names the daemon's socket.
const SOCKET_VARIABLE: &[u8] = b"AIRLOCK_SOCKET";

/// What the process's argv and environment ask of the shim.
#[derive(Debug, PartialEq, Eq)]
pub enum Start {
    /// Run under its own name (or none): print how to use it.
    Usage,
    /// Refuse before connecting: the line to print (without `airlock: `) and the code.
    Refuse(String, i32),
    /// Forward a command.
    Run(Request),
}

/// A command to forward.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// The daemon's socket.
    pub socket: Vec<u8>,
    /// The command, its arguments, the working directory and the container's id.
    pub params: CommandParams,
}

/// Reads the request from the argv and the environment, with the working directory and
/// the container id this process has.
pub fn read(args: &[&[u8]], env: &[&[u8]]) -> Start {
    let Some((argv0, rest)) = args.split_first() else {
        return Start::Usage;
    };
    let command = command_name(argv0);
    if command.is_empty() || command == "airlock-shim" {
        return Start::Usage;
    }
    // Arguments travel as JSON text: one that is not UTF-8 cannot be carried as it is,
    // and a replacement character would run something other than what was asked.
    let mut text_args = Vec::with_capacity(rest.len());
    for (n, arg) in rest.iter().enumerate() {
        match core::str::from_utf8(arg) {
            Ok(arg) => text_args.push(arg.to_string()),
            Err(_) => {
                return Start::Refuse(
                    format!(
                        "{command}: argument {} ({}) is not UTF-8; Airlock carries text arguments only",
                        n + 1,
                        String::from_utf8_lossy(arg)
                    ),
                    crate::EXIT_DENIED,
                );
            }
        }
    }
    Start::Run(Request {
        socket: socket(env),
        params: CommandParams {
            command,
            args: text_args,
            cwd: current_dir(),
            container_id: container_id(),
        },
    })
}

/// The command: `argv[0]`'s file name.
fn command_name(argv0: &[u8]) -> String {
    let name = argv0.rsplit(|b| *b == b'/').next().unwrap_or(argv0);
    String::from_utf8_lossy(name).into_owned()
}

/// `AIRLOCK_SOCKET` when set and not empty, else the default.
fn socket(env: &[&[u8]]) -> Vec<u8> {
    env.iter()
        .filter_map(|entry| entry.strip_prefix(SOCKET_VARIABLE)?.strip_prefix(b"="))
        .next()
        .filter(|value| !value.is_empty())
        .unwrap_or(DEFAULT_SOCKET.as_bytes())
        .to_vec()
}

/// The working directory; none when it cannot be read or is not UTF-8 (the daemon then
/// refuses the request).
fn current_dir() -> Option<String> {
    rustix::process::getcwd(Vec::new())
        .ok()
        .and_then(|dir| dir.into_string().ok())
}

/// The container's id, when it can be told: the hostname docker and kubernetes set.
fn container_id() -> Option<String> {
    ["/etc/hostname", "/proc/sys/kernel/hostname"]
        .iter()
        .find_map(|path| read_small(path))
        .map(|text| text.trim().to_string())
        .filter(|name| !name.is_empty())
}

/// A short text file (a hostname is at most 64 bytes); none when unreadable.
fn read_small(path: &str) -> Option<String> {
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let mut buf = [0u8; 256];
    let mut len = 0;
    loop {
        let room = buf.get_mut(len..).filter(|room| !room.is_empty())?;
        match rustix::io::read(&fd, room) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return None,
        }
    }
    String::from_utf8(buf.get(..len)?.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn the_command_is_the_name_it_was_run_under() {
        assert_eq!(command_name(b"/usr/local/bin/git"), "git");
        assert_eq!(command_name(b"terraform"), "terraform");
        assert_eq!(command_name(b"/bin/"), "");
        assert_eq!(read(&[b"airlock-shim"], &[]), Start::Usage);
        assert_eq!(read(&[], &[]), Start::Usage);
    }

    #[test]
    fn the_socket_comes_from_the_environment_unless_empty() {
        assert_eq!(socket(&[b"AIRLOCK_SOCKET=/s/a.sock"]), b"/s/a.sock");
        assert_eq!(socket(&[b"AIRLOCK_SOCKET="]), DEFAULT_SOCKET.as_bytes());
        assert_eq!(socket(&[b"AIRLOCK_SOCKETS=/x"]), DEFAULT_SOCKET.as_bytes());
        assert_eq!(socket(&[]), DEFAULT_SOCKET.as_bytes());
    }

    #[test]
    fn arguments_go_as_they_are_and_non_utf8_is_refused() {
        let Start::Run(request) = read(&[b"git", b"commit", b"-m", b"destroy \xc3\xa9"], &[])
        else {
            panic!("not run");
        };
        assert_eq!(request.params.command, "git");
        assert_eq!(request.params.args, ["commit", "-m", "destroy é"]);
        assert_eq!(
            read(&[b"git", b"log", b"--grep=\xff"], &[]),
            Start::Refuse(
                "git: argument 2 (--grep=\u{fffd}) is not UTF-8; Airlock carries text arguments only"
                    .into(),
                crate::EXIT_DENIED
            )
        );
    }
}
