#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod base64;
mod client;
#[cfg(feature = "tokio")]
mod codec;
mod frame;
mod message;

pub use client::{Client, ClientError, Event, InputSender};
#[cfg(feature = "tokio")]
pub use codec::{LineReader, RAW_PIECE, ReadError};
pub use frame::{DEFAULT_MAX_LINE, FrameDecoder, FrameError};
pub use message::{
    CAP_BINARY, CAP_CHECK, CAP_RAW, CAP_SIGNALS, CAP_STDIN, ClientMessage, CommandParams,
    DecodeError, Encoding, ErrorCode, ExitStatus, RpcError, ServerMessage, Signal, Stream, VERSION,
    method,
};
