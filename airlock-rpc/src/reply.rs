//! A client's side of one connection, without I/O: the bytes it sends first, and the
//! server's messages read off the bytes as they arrive. The std [`crate::Client`] and
//! the shim (which has no std) drive the same reader, each with its own sockets.

use alloc::borrow::ToOwned;
use alloc::vec::Vec;

use serde_json::json;

use crate::frame::{DEFAULT_MAX_LINE, FrameDecoder, FrameError};
use crate::message::{
    CAP_BINARY, CAP_RAW, CAP_SIGNALS, CAP_STDIN, ClientMessage, CommandParams, DecodeError,
    ExitStatus, ServerMessage, Stream, VERSION,
};

/// One event of a running command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Output bytes.
    Output(Stream, Vec<u8>),
    /// The program ended.
    Exit(ExitStatus),
}

/// Why the server's bytes are not its messages.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// The bytes are not lines (or a line is too long, or the stream stopped inside one).
    #[error("protocol error: {0}")]
    Frame(#[from] FrameError),
    /// A line is not a message.
    #[error("protocol error: {0}")]
    Decode(#[from] DecodeError),
    /// Raw bytes were announced by a message that cannot carry them.
    #[error("protocol error: unexpected reply")]
    Unexpected,
}

/// The bytes a client sends first: `hello` with every capability a streaming client
/// has (binary and raw bytes, stdin, signals), then `exec` of `params` when given, so
/// that a command starts in one round trip.
pub fn opening(exec: Option<CommandParams>) -> Vec<u8> {
    let mut first = Vec::new();
    ClientMessage::Hello {
        id: json!(0),
        version: VERSION,
        capabilities: [CAP_BINARY, CAP_RAW, CAP_STDIN, CAP_SIGNALS]
            .map(str::to_owned)
            .to_vec(),
    }
    .write_to(false, &mut first);
    if let Some(params) = exec {
        ClientMessage::Exec {
            id: json!(1),
            params,
        }
        .write_to(false, &mut first);
    }
    first
}

/// The server's messages, decoded from the bytes pushed in, with the raw bytes that
/// follow an `output` line gathered into it. Holds at most one line (2 MiB) or one raw
/// payload (1 MiB) beyond the bytes last pushed.
#[derive(Debug, Clone)]
pub struct ReplyReader {
    decoder: FrameDecoder,
    /// An `output` line read whose raw bytes have not all arrived: its stream and length.
    pending: Option<(Stream, usize)>,
}

impl Default for ReplyReader {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplyReader {
    /// A reader that allows lines of twice the daemon's default limit.
    pub fn new() -> Self {
        Self {
            decoder: FrameDecoder::new(DEFAULT_MAX_LINE * 2),
            pending: None,
        }
    }

    /// Adds bytes read from the server.
    pub fn push(&mut self, bytes: &[u8]) {
        self.decoder.push(bytes);
    }

    /// The next whole message, or `Ok(None)` when more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<ServerMessage>, ReplyError> {
        if let Some((stream, len)) = self.pending {
            return match self.decoder.take(len) {
                Some(data) => {
                    self.pending = None;
                    Ok(Some(ServerMessage::Output { stream, data }))
                }
                None => Ok(None),
            };
        }
        let Some(line) = self.decoder.next_frame()? else {
            return Ok(None);
        };
        match ServerMessage::decode_header(&line)? {
            (message, None) => Ok(Some(message)),
            (_, Some(len)) if len > DEFAULT_MAX_LINE => {
                Err(FrameError::TooLong(DEFAULT_MAX_LINE).into())
            }
            (ServerMessage::Output { stream, .. }, Some(len)) => {
                self.pending = Some((stream, len));
                self.next_message()
            }
            (_, Some(_)) => Err(ReplyError::Unexpected),
        }
    }

    /// The server closed the connection: an error if it stopped inside a message.
    pub fn finish(&self) -> Result<(), ReplyError> {
        self.decoder.finish()?;
        match self.pending {
            Some(_) => Err(FrameError::Truncated.into()),
            None => Ok(()),
        }
    }
}
