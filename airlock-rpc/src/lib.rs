#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(not(test), no_std)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod base64;
#[cfg(feature = "std")]
mod client;
#[cfg(feature = "tokio")]
mod codec;
mod frame;
mod message;
mod reply;

#[cfg(feature = "std")]
pub use client::{Client, ClientError, InputSender};
#[cfg(feature = "tokio")]
pub use codec::{LineReader, RAW_PIECE, ReadError};
pub use frame::{DEFAULT_MAX_LINE, FrameDecoder, FrameError};
pub use message::{
    CAP_BINARY, CAP_CHECK, CAP_RAW, CAP_SIGNALS, CAP_STDIN, ClientMessage, CommandParams,
    DecodeError, Encoding, ErrorCode, ExitStatus, RpcError, ServerMessage, Signal, Stream, VERSION,
    method,
};
pub use reply::{Event, ReplyError, ReplyReader, opening};
