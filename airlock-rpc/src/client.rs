//! A blocking client over a std unix socket, without an async runtime (the daemon's
//! command line and tests use it; the shim, which has no std, drives [`ReplyReader`]
//! itself). One connection per `exec`; stdin and signals can be sent from other threads
//! through an [`InputSender`] while the caller reads events.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::prelude::rust_2024::*;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::frame::FrameError;
use crate::message::{
    CAP_RAW, ClientMessage, CommandParams, DecodeError, RpcError, ServerMessage, Signal,
};
use crate::reply::{Event, ReplyError, ReplyReader, opening};

/// What can go wrong on the client side.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached.
    #[error("cannot connect to `{path}`: {source}")]
    Connect {
        /// The socket path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Reading or writing failed.
    #[error("connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// The server's bytes are not lines.
    #[error("protocol error: {0}")]
    Frame(#[from] FrameError),
    /// A line is not a message.
    #[error("protocol error: {0}")]
    Decode(#[from] DecodeError),
    /// The server closed the connection before the final reply.
    #[error("protocol error: the daemon closed the connection before the command finished")]
    Closed,
    /// The server answered something out of place.
    #[error("protocol error: unexpected reply")]
    Unexpected,
    /// The server refused the request.
    #[error("{0}")]
    Rpc(RpcError),
}

impl From<ReplyError> for ClientError {
    fn from(error: ReplyError) -> Self {
        match error {
            ReplyError::Frame(e) => ClientError::Frame(e),
            ReplyError::Decode(e) => ClientError::Decode(e),
            ReplyError::Unexpected => ClientError::Unexpected,
        }
    }
}

/// How much one read from the socket takes at most.
const READ_SIZE: usize = 256 * 1024;

/// A connected client.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    reader: ReplyReader,
    writer: Arc<Mutex<UnixStream>>,
    /// The server sends and takes bytes raw (capability `raw`).
    raw: bool,
    /// Where reads land.
    buf: Vec<u8>,
}

/// Sends stdin and signals for a running command; cloneable, usable from any thread.
#[derive(Debug, Clone)]
pub struct InputSender {
    writer: Arc<Mutex<UnixStream>>,
    raw: bool,
}

impl InputSender {
    fn send(&self, message: &ClientMessage) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        message.write_to(self.raw, &mut bytes);
        let mut writer = self
            .writer
            .lock()
            .map_err(|_| std::io::Error::other("writer lock poisoned"))?;
        writer.write_all(&bytes)
    }

    /// Bytes for the program's stdin.
    pub fn stdin(&self, data: &[u8]) -> std::io::Result<()> {
        self.send(&ClientMessage::Stdin(data.to_vec()))
    }

    /// End of the program's stdin.
    pub fn stdin_eof(&self) -> std::io::Result<()> {
        self.send(&ClientMessage::StdinEof)
    }

    /// A signal for the program.
    pub fn signal(&self, signal: Signal) -> std::io::Result<()> {
        self.send(&ClientMessage::Signal(signal))
    }
}

impl Client {
    /// Connects to the socket at `path` and negotiates the protocol.
    pub fn connect(path: &Path) -> Result<Self, ClientError> {
        Self::open(path, None)
    }

    /// Connects, negotiates and starts `params` in one round trip (the `exec` goes out
    /// with the `hello`); then read [`Client::next_event`] until [`Event::Exit`].
    pub fn start(path: &Path, params: CommandParams) -> Result<Self, ClientError> {
        Self::open(path, Some(params))
    }

    fn open(path: &Path, exec: Option<CommandParams>) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.display().to_string(),
            source,
        })?;
        let writer = Arc::new(Mutex::new(stream.try_clone()?));
        let mut client = Self {
            stream,
            reader: ReplyReader::new(),
            writer,
            raw: false,
            buf: std::vec![0; READ_SIZE],
        };
        client.stream.write_all(&opening(exec))?;
        match client.next_message()? {
            ServerMessage::Hello { capabilities, .. } => {
                client.raw = capabilities.iter().any(|c| c == CAP_RAW);
                Ok(client)
            }
            ServerMessage::Error { error, .. } => Err(ClientError::Rpc(error)),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// A sender for stdin and signals.
    pub fn sender(&self) -> InputSender {
        InputSender {
            writer: Arc::clone(&self.writer),
            raw: self.raw,
        }
    }

    /// Starts `params`; then read [`Client::next_event`] until [`Event::Exit`].
    pub fn exec(&mut self, params: CommandParams) -> Result<(), ClientError> {
        self.sender().send(&ClientMessage::Exec {
            id: json!(1),
            params,
        })?;
        Ok(())
    }

    /// Asks whether `params` would be allowed: `(allowed, rule, reason)`.
    pub fn check(
        &mut self,
        params: CommandParams,
    ) -> Result<(bool, Option<String>, Option<String>), ClientError> {
        self.sender().send(&ClientMessage::Check {
            id: json!(2),
            params,
        })?;
        match self.next_message()? {
            ServerMessage::Decision {
                allowed,
                rule,
                reason,
                ..
            } => Ok((allowed, rule, reason)),
            ServerMessage::Error { error, .. } => Err(ClientError::Rpc(error)),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// The next event of the running command.
    pub fn next_event(&mut self) -> Result<Event, ClientError> {
        match self.next_message()? {
            ServerMessage::Output { stream, data } => Ok(Event::Output(stream, data)),
            ServerMessage::Exit { status, .. } => Ok(Event::Exit(status)),
            ServerMessage::Error { error, .. } => Err(ClientError::Rpc(error)),
            ServerMessage::Hello { .. } | ServerMessage::Decision { .. } => {
                Err(ClientError::Unexpected)
            }
        }
    }

    fn next_message(&mut self) -> Result<ServerMessage, ClientError> {
        read_message(&mut self.reader, &mut self.stream, &mut self.buf)
    }
}

/// Reads the next server message from `input`.
fn read_message(
    reader: &mut ReplyReader,
    input: &mut impl Read,
    buf: &mut [u8],
) -> Result<ServerMessage, ClientError> {
    loop {
        if let Some(message) = reader.next_message()? {
            return Ok(message);
        }
        let n = input.read(buf)?;
        if n == 0 {
            reader.finish()?;
            return Err(ClientError::Closed);
        }
        reader.push(buf.get(..n).unwrap_or(&[]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Encoding, ExitStatus, Stream};

    #[test]
    fn reads_raw_and_line_messages_split_anywhere() {
        let messages = [
            ServerMessage::Output {
                stream: Stream::Stdout,
                data: b"line\n\x00\xff{".to_vec(),
            },
            ServerMessage::Output {
                stream: Stream::Stderr,
                data: Vec::new(),
            },
            ServerMessage::Exit {
                id: json!(1),
                status: ExitStatus::Code(3),
            },
        ];
        let mut wire = Vec::new();
        for m in &messages {
            m.write_to(Encoding::Raw, &mut wire);
        }
        // One byte per read: every split point is exercised.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                match (self.0.split_first(), buf.first_mut()) {
                    (Some((b, rest)), Some(slot)) => {
                        *slot = *b;
                        self.0 = rest;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let mut input = Trickle(&wire);
        let mut reader = ReplyReader::new();
        for expected in &messages {
            assert_eq!(
                &read_message(&mut reader, &mut input, &mut [0; 16]).unwrap(),
                expected
            );
        }
        assert!(matches!(
            read_message(&mut reader, &mut input, &mut [0; 16]),
            Err(ClientError::Closed)
        ));
        // Cut inside the raw bytes: an error, not a short message.
        let cut = wire.iter().position(|b| *b == b'\n').unwrap() + 3;
        let mut reader = ReplyReader::new();
        assert!(matches!(
            read_message(&mut reader, &mut &wire[..cut], &mut [0; 16]),
            Err(ClientError::Frame(FrameError::Truncated))
        ));
    }
}
