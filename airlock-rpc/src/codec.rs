//! The async side (feature `tokio`): a bounded, cancel-safe line reader for servers.

use std::prelude::rust_2024::*;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::frame::FrameError;
use crate::message::{ClientMessage, DecodeError};

/// Why the next message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The bytes are not lines (too long, cut off).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The line is not a message; answer with an error and go on.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Raw stdin bytes are handed on in pieces of at most this many bytes.
pub const RAW_PIECE: usize = 64 * 1024;

/// Reads lines of at most `max` bytes. Cancel-safe: a partly read line is kept for the
/// next call, so [`LineReader::next_message`] can sit in a `select!`.
#[derive(Debug)]
pub struct LineReader<R> {
    input: R,
    max: usize,
    line: Vec<u8>,
    /// Raw stdin bytes still to read after a `raw` header, and those read so far.
    raw: Option<(usize, Vec<u8>)>,
    /// Whether `raw` headers are accepted (the capability was agreed).
    raw_agreed: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Whether `raw` headers (bytes after the line) are accepted; a server sets this
    /// from what `hello` agreed (a reader accepts them until told otherwise). Raw bytes
    /// that were not agreed are a framing error: the stream cannot be read on.
    pub fn agree_raw(&mut self, agreed: bool) {
        self.raw_agreed = agreed;
    }

    /// A reader for lines of at most `max` bytes.
    pub fn new(input: R, max: usize) -> Self {
        Self {
            input,
            max,
            line: Vec::new(),
            raw: None,
            raw_agreed: true,
        }
    }

    /// The next line without its newline; `Ok(None)` at a clean end of stream.
    pub async fn next_line(&mut self) -> Result<Option<Vec<u8>>, ReadError> {
        loop {
            let buf = self.input.fill_buf().await?;
            if buf.is_empty() {
                return if self.line.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated.into())
                };
            }
            let newline = buf.iter().position(|b| *b == b'\n');
            let chunk = buf.get(..newline.unwrap_or(buf.len())).unwrap_or(&[]);
            if self.line.len() + chunk.len() > self.max {
                return Err(FrameError::TooLong(self.max).into());
            }
            self.line.extend_from_slice(chunk);
            let consumed = newline.map_or(buf.len(), |i| i + 1);
            self.input.consume(consumed);
            if newline.is_some() {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
        }
    }

    /// The next client message; blank lines are skipped, and the raw bytes after a
    /// `stdin` line with `raw` (at most the line limit) are read into it.
    pub async fn next_message(&mut self) -> Result<Option<ClientMessage>, ReadError> {
        loop {
            if let Some((remaining, bytes)) = &mut self.raw {
                // Raw bytes come out in pieces of at most RAW_PIECE: a header announcing
                // a megabyte makes the reader hold a piece, not the megabyte.
                let want = (*remaining).min(RAW_PIECE);
                while bytes.len() < want {
                    let buf = self.input.fill_buf().await?;
                    if buf.is_empty() {
                        return Err(FrameError::Truncated.into());
                    }
                    let take = (want - bytes.len()).min(buf.len());
                    bytes.extend_from_slice(buf.get(..take).unwrap_or(&[]));
                    self.input.consume(take);
                }
                *remaining -= want;
                let data = std::mem::take(bytes);
                if *remaining == 0 {
                    self.raw = None;
                }
                return Ok(Some(ClientMessage::Stdin(data)));
            }
            match self.next_line().await? {
                None => return Ok(None),
                Some(line) if line.iter().all(u8::is_ascii_whitespace) => continue,
                Some(line) => match ClientMessage::decode_header(&line)? {
                    (message, None) => return Ok(Some(message)),
                    (_, Some(_)) if !self.raw_agreed => {
                        return Err(FrameError::RawNotAgreed.into());
                    }
                    (_, Some(len)) if len > self.max => {
                        return Err(FrameError::TooLong(self.max).into());
                    }
                    (_, Some(0)) => return Ok(Some(ClientMessage::Stdin(Vec::new()))),
                    (_, Some(len)) => {
                        self.raw = Some((len, Vec::with_capacity(len.min(RAW_PIECE))))
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn raw_stdin_comes_in_bounded_pieces() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut raw = Vec::new();
        ClientMessage::Stdin(data.clone()).write_to(true, &mut raw);
        ClientMessage::StdinEof.write_to(true, &mut raw);
        let mut reader = LineReader::new(&raw[..], 1 << 20);
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        loop {
            match reader.next_message().await.unwrap() {
                Some(ClientMessage::Stdin(piece)) => {
                    sizes.push(piece.len());
                    got.extend(piece);
                }
                Some(ClientMessage::StdinEof) => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            sizes,
            [RAW_PIECE, RAW_PIECE, RAW_PIECE, 200_000 - 3 * RAW_PIECE]
        );
        assert!(got == data);
    }

    #[tokio::test]
    async fn reads_lines_bounded_and_reports_truncation() {
        let input: &[u8] = b"{\"method\":\"stdin_eof\"}\n\n{\"method\":\"stdin_eof\"}\r\npartial";
        let mut reader = LineReader::new(input, 64);
        assert_eq!(
            reader.next_message().await.unwrap(),
            Some(ClientMessage::StdinEof)
        );
        assert_eq!(
            reader.next_message().await.unwrap(),
            Some(ClientMessage::StdinEof)
        );
        assert!(matches!(
            reader.next_message().await,
            Err(ReadError::Frame(FrameError::Truncated))
        ));
        // Raw bytes after their line, split anyhow, newlines included.
        let mut raw = Vec::new();
        ClientMessage::Stdin(b"a\nb\x00".to_vec()).write_to(true, &mut raw);
        ClientMessage::StdinEof.write_to(true, &mut raw);
        let mut reader = LineReader::new(&raw[..], 64);
        assert_eq!(
            reader.next_message().await.unwrap(),
            Some(ClientMessage::Stdin(b"a\nb\x00".to_vec()))
        );
        assert_eq!(
            reader.next_message().await.unwrap(),
            Some(ClientMessage::StdinEof)
        );
        assert_eq!(reader.next_message().await.unwrap(), None);
        let header = raw.iter().position(|b| *b == b'\n').unwrap() + 1;
        let cut = &raw[..header + 2];
        assert!(matches!(
            LineReader::new(cut, 64).next_message().await,
            Err(ReadError::Frame(FrameError::Truncated))
        ));
        let mut big = Vec::new();
        ClientMessage::Stdin(vec![7; 100]).write_to(true, &mut big);
        assert!(matches!(
            LineReader::new(&big[..], 64).next_message().await,
            Err(ReadError::Frame(FrameError::TooLong(64)))
        ));
        let long = [b'x'; 100];
        let mut reader = LineReader::new(&long[..], 64);
        assert!(matches!(
            reader.next_line().await,
            Err(ReadError::Frame(FrameError::TooLong(64)))
        ));
    }
}
