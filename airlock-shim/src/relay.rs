//! One command's connection, relayed in one thread: the request goes out with `hello`,
//! then a `poll` loop moves the program's output to stdout and stderr, and stdin and
//! the forwarded signals to the daemon, until the program's exit status arrives.
//!
//! Bytes for the daemon wait in a bounded buffer and go out without blocking, so the
//! shim always keeps reading output: a program that writes much while its stdin is fed
//! (`cat` of a large file) never waits on a shim that waits on the daemon. Stdin is
//! read only while that buffer has room, so a program that does not read its stdin
//! holds the shim's memory to the buffer's size.

use alloc::vec::Vec;

use airlock_rpc::{
    CAP_RAW, ClientMessage, CommandParams, ReplyError, ReplyReader, RpcError, ServerMessage,
    Stream, opening,
};
use rustix::buffer::spare_capacity;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketAddrUnix, SocketFlags, SocketType, connect, recv,
    send, socket_with,
};

use crate::sys::{self, Signals};

/// How much one read from the socket or from stdin takes at most.
const READ_SIZE: usize = 256 * 1024;

/// Stdin is read only while fewer bytes than this wait to go to the daemon (so at most
/// this and one read more wait).
const OUTGOING_LIMIT: usize = 256 * 1024;

/// The exit code when the shim's stdout is a closed pipe (128 + SIGPIPE).
const EXIT_BROKEN_PIPE: i32 = 128 + 13;

/// Why a command could not be relayed to its end.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The socket could not be reached.
    #[error("{}", Described(*.0))]
    Connect(Errno),
    /// Reading or writing the connection failed.
    #[error("connection failed: {}", Described(*.0))]
    Io(Errno),
    /// The daemon's bytes are not its messages.
    #[error(transparent)]
    Reply(#[from] ReplyError),
    /// The daemon closed the connection before the final reply.
    #[error("protocol error: the daemon closed the connection before the command finished")]
    Closed,
    /// The daemon answered something out of place.
    #[error("protocol error: unexpected reply")]
    Unexpected,
    /// The daemon refused the request.
    #[error("{0}")]
    Rpc(RpcError),
}

/// An error number in words, for the errors a connection meets (its number for the
/// others).
#[derive(Debug, Clone, Copy)]
struct Described(Errno);

impl core::fmt::Display for Described {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let words = match self.0 {
            Errno::NOENT => "no such file or directory",
            Errno::ACCESS | Errno::PERM => "permission denied",
            Errno::CONNREFUSED => "connection refused",
            Errno::NOTDIR => "a component of the path is not a directory",
            Errno::NAMETOOLONG => "the path is too long for a unix socket",
            Errno::LOOP => "too many symbolic links",
            Errno::CONNRESET => "connection reset by the daemon",
            Errno::PIPE => "the daemon closed the connection",
            Errno::NOMEM | Errno::NOBUFS => "out of memory",
            Errno::MFILE | Errno::NFILE => "too many open files",
            other => return write!(f, "system error {}", other.raw_os_error()),
        };
        f.write_str(words)
    }
}

/// Sends `params` to the daemon at `socket` and relays until the program ends; returns
/// its exit code.
pub fn forward(socket: &[u8], params: CommandParams) -> Result<i32, Failure> {
    let connection = open(socket).map_err(Failure::Connect)?;
    // From here on, Ctrl-C and its kin are queued for the program instead of ending
    // the shim (which would end the program without its chance to clean up). Without a
    // signalfd they keep their default action: the shim ends, and the daemon then stops
    // the program.
    let signals = Signals::block().ok();
    // The request goes out first, so that the daemon works on it while the shim sets
    // up the rest.
    // A daemon that refuses a request before reading it whole (one longer than its line
    // limit) says why and closes: its reason is read before the failed send is reported.
    let closed_early = match send_all(&connection, &opening(Some(params))) {
        Ok(()) => None,
        Err(closed @ Failure::Io(Errno::PIPE | Errno::CONNRESET)) => Some(closed),
        Err(failure) => return Err(failure),
    };
    let mut relay = Relay {
        connection,
        reader: ReplyReader::new(),
        // Read into without being zeroed first: only the pages a read fills are touched.
        buf: Vec::with_capacity(READ_SIZE),
        outgoing: Vec::new(),
        raw: false,
        started: false,
        stdin_open: true,
        daemon_reads: closed_early.is_none(),
        signals,
    };
    match (closed_early, relay.run()) {
        (None, result) => result,
        (Some(_), Err(refused @ Failure::Rpc(_))) => Err(refused),
        (Some(closed), _) => Err(closed),
    }
}

/// Sends all of `bytes` on the connection, waiting as long as it takes (the request,
/// before anything is read).
fn send_all(connection: &OwnedFd, mut bytes: &[u8]) -> Result<(), Failure> {
    while !bytes.is_empty() {
        match send(connection, bytes, SendFlags::NOSIGNAL) {
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(Errno::INTR) => {}
            Err(e) => return Err(Failure::Io(e)),
        }
    }
    Ok(())
}

/// Connects to the unix socket at `path`.
fn open(path: &[u8]) -> Result<OwnedFd, Errno> {
    let address = SocketAddrUnix::new(path)?;
    let fd = socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    loop {
        match connect(&fd, &address) {
            Ok(()) => return Ok(fd),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// The state of one relayed command.
struct Relay {
    connection: OwnedFd,
    reader: ReplyReader,
    /// Where reads from the socket and from stdin land.
    buf: Vec<u8>,
    /// Bytes for the daemon not sent yet.
    outgoing: Vec<u8>,
    /// The daemon takes stdin raw (capability `raw`).
    raw: bool,
    /// The daemon answered `hello`: stdin and signals may be sent.
    started: bool,
    /// Stdin has not ended.
    stdin_open: bool,
    /// The daemon still takes bytes (a failed send means it closed its side).
    daemon_reads: bool,
    signals: Option<Signals>,
}

/// What one turn of the loop decided.
enum Turn {
    Continue,
    Exit(i32),
}

impl Relay {
    fn run(&mut self) -> Result<i32, Failure> {
        loop {
            let read_stdin =
                self.started && self.stdin_open && self.outgoing.len() < OUTGOING_LIMIT;
            let mut connection_events = PollFlags::IN;
            if self.daemon_reads && !self.outgoing.is_empty() {
                connection_events |= PollFlags::OUT;
            }
            let stdin = sys::stdin();
            let mut fds = Vec::with_capacity(3);
            fds.push(PollFd::new(&self.connection, connection_events));
            if read_stdin {
                fds.push(PollFd::new(&stdin, PollFlags::IN));
            }
            let signals = self.signals.as_ref().filter(|_| self.started);
            if let Some(signals) = signals {
                fds.push(PollFd::from_borrowed_fd(signals.fd(), PollFlags::IN));
            }
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(e) => return Err(Failure::Io(e)),
            }
            // The descriptors' places: the connection first, then stdin and the signals
            // when they are polled.
            let ready = |at: usize| fds.get(at).map_or_else(PollFlags::empty, PollFd::revents);
            let connection = ready(0);
            let stdin_ready = read_stdin.then(|| ready(1));
            let signal_ready = signals.map(|_| ready(1 + usize::from(read_stdin)));

            if signal_ready.is_some_and(|r| !r.is_empty()) {
                self.take_signals();
            }
            if stdin_ready.is_some_and(|r| !r.is_empty()) {
                self.take_stdin();
            }
            if connection.contains(PollFlags::OUT) {
                self.send_some();
            }
            if connection.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR)
                && let Turn::Exit(code) = self.receive()?
            {
                return Ok(code);
            }
        }
    }

    /// Queues the pending forwarded signals for the daemon.
    fn take_signals(&mut self) {
        let Some(signals) = &self.signals else {
            return;
        };
        while let Some(signal) = signals.next() {
            ClientMessage::Signal(signal).write_to(self.raw, &mut self.outgoing);
        }
    }

    /// Reads what stdin has and queues it (or its end) for the daemon.
    fn take_stdin(&mut self) {
        self.buf.clear();
        match rustix::io::read(sys::stdin(), spare_capacity(&mut self.buf)) {
            Ok(0) => self.end_stdin(),
            Ok(_) => {
                let data = self.buf.clone();
                ClientMessage::Stdin(data).write_to(self.raw, &mut self.outgoing);
            }
            Err(Errno::INTR | Errno::AGAIN) => {}
            // Closed, a directory, a descriptor gone: the program sees its stdin end.
            Err(_) => self.end_stdin(),
        }
    }

    fn end_stdin(&mut self) {
        self.stdin_open = false;
        ClientMessage::StdinEof.write_to(self.raw, &mut self.outgoing);
    }

    /// Sends what the socket takes now without waiting.
    fn send_some(&mut self) {
        match send(
            &self.connection,
            &self.outgoing,
            SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
        ) {
            Ok(n) => {
                self.outgoing.drain(..n.min(self.outgoing.len()));
            }
            Err(Errno::INTR | Errno::AGAIN) => {}
            // The daemon closed its side: what it has to say is still read to its end.
            Err(_) => {
                self.daemon_reads = false;
                self.outgoing = Vec::new();
            }
        }
    }

    /// Reads what the socket has and acts on every whole message in it.
    fn receive(&mut self) -> Result<Turn, Failure> {
        self.buf.clear();
        let n = match recv(
            &self.connection,
            spare_capacity(&mut self.buf),
            RecvFlags::DONTWAIT,
        ) {
            Ok((n, _)) => n,
            Err(Errno::INTR | Errno::AGAIN) => return Ok(Turn::Continue),
            Err(e) => return Err(Failure::Io(e)),
        };
        if n == 0 {
            self.reader.finish()?;
            return Err(Failure::Closed);
        }
        self.reader.push(&self.buf);
        while let Some(message) = self.reader.next_message()? {
            match message {
                ServerMessage::Hello { capabilities, .. } if !self.started => {
                    self.raw = capabilities.iter().any(|c| c == CAP_RAW);
                    self.started = true;
                }
                ServerMessage::Output { stream, data } => {
                    let written = match stream {
                        Stream::Stdout => write_all(sys::stdout(), &data),
                        Stream::Stderr => {
                            // The program's diagnostics are best effort, as its own would be.
                            let _ = write_all(sys::stderr(), &data);
                            Ok(())
                        }
                    };
                    if written.is_err() {
                        // Our stdout is gone (`| head`): leave, and the daemon stops the
                        // program.
                        return Ok(Turn::Exit(EXIT_BROKEN_PIPE));
                    }
                }
                ServerMessage::Exit { status, .. } => {
                    return Ok(Turn::Exit(status.shell_code()));
                }
                ServerMessage::Error { error, .. } => return Err(Failure::Rpc(error)),
                ServerMessage::Hello { .. } | ServerMessage::Decision { .. } => {
                    return Err(Failure::Unexpected);
                }
            }
        }
        Ok(Turn::Continue)
    }
}

/// Writes all of `bytes` to `fd`, waiting for room when it is non-blocking.
pub fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return Err(Errno::PIPE),
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => {
                let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::OUT)];
                match poll(&mut fds, None) {
                    Ok(_) | Err(Errno::INTR) => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
