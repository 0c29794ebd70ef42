//! A blocking client over a std unix socket, for the shim: no async runtime. One
//! connection per `exec`; stdin and signals can be sent from other threads through an
//! [`InputSender`] while the caller reads events.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::frame::{DEFAULT_MAX_LINE, FrameDecoder, FrameError};
use crate::message::{
    CAP_BINARY, CAP_SIGNALS, CAP_STDIN, ClientMessage, CommandParams, DecodeError, ExitStatus,
    RpcError, ServerMessage, Signal, Stream, VERSION,
};

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

/// One event of a running command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Output bytes.
    Output(Stream, Vec<u8>),
    /// The program ended.
    Exit(ExitStatus),
}

/// A connected client.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    decoder: FrameDecoder,
    writer: Arc<Mutex<UnixStream>>,
    binary: bool,
}

/// Sends stdin and signals for a running command; cloneable, usable from any thread.
#[derive(Debug, Clone)]
pub struct InputSender {
    writer: Arc<Mutex<UnixStream>>,
}

impl InputSender {
    fn send(&self, message: &ClientMessage) -> std::io::Result<()> {
        let mut line = message.encode();
        line.push('\n');
        let mut writer = self
            .writer
            .lock()
            .map_err(|_| std::io::Error::other("writer lock poisoned"))?;
        writer.write_all(line.as_bytes())
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
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.display().to_string(),
            source,
        })?;
        let writer = Arc::new(Mutex::new(stream.try_clone()?));
        let mut client = Self {
            stream,
            decoder: FrameDecoder::new(DEFAULT_MAX_LINE * 2),
            writer,
            binary: false,
        };
        client.hello()?;
        Ok(client)
    }

    fn hello(&mut self) -> Result<(), ClientError> {
        self.sender().send(&ClientMessage::Hello {
            id: json!(0),
            version: VERSION,
            capabilities: vec![CAP_BINARY.into(), CAP_STDIN.into(), CAP_SIGNALS.into()],
        })?;
        match self.next_message()? {
            ServerMessage::Hello { capabilities, .. } => {
                self.binary = capabilities.iter().any(|c| c == CAP_BINARY);
                Ok(())
            }
            ServerMessage::Error { error, .. } => Err(ClientError::Rpc(error)),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// A sender for stdin and signals.
    pub fn sender(&self) -> InputSender {
        InputSender {
            writer: Arc::clone(&self.writer),
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
        let mut buf = [0u8; 64 * 1024];
        loop {
            if let Some(line) = self.decoder.next_frame()? {
                return Ok(ServerMessage::decode(&line)?);
            }
            let n = self.stream.read(&mut buf)?;
            if n == 0 {
                self.decoder.finish()?;
                return Err(ClientError::Closed);
            }
            self.decoder.push(buf.get(..n).unwrap_or(&[]));
        }
    }
}
