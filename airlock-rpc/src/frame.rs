//! Framing: one message per line. The decoder never holds more than the maximum line
//! length (plus the last chunk pushed): a peer that never sends a newline gets an error,
//! not our memory. "Need more bytes" (`Ok(None)`) is distinct from "invalid" (`Err`).

use alloc::vec::Vec;

/// The default maximum line length: 1 MiB.
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

/// Why the byte stream is not a sequence of lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A line is longer than the maximum.
    #[error("a line is longer than {0} bytes")]
    TooLong(usize),
    /// The stream ended in the middle of a line.
    #[error("the stream ended in the middle of a line")]
    Truncated,
    /// Raw bytes follow a line, but the `raw` capability was not agreed in `hello`.
    #[error("raw bytes were sent without the `raw` capability agreed in `hello`")]
    RawNotAgreed,
}

/// An incremental line decoder.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Where to resume looking for a newline.
    scanned: usize,
    max: usize,
}

impl FrameDecoder {
    /// A decoder for lines of at most `max` bytes (newline excluded).
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            scanned: 0,
            max,
        }
    }

    /// Adds bytes read from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete line (without its newline, and without a `\r` before it), or
    /// `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let tail = self.buf.get(self.scanned..).unwrap_or(&[]);
        match tail.iter().position(|b| *b == b'\n') {
            Some(i) => {
                let end = self.scanned + i;
                if end > self.max {
                    return Err(FrameError::TooLong(self.max));
                }
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.scanned = 0;
                Ok(Some(line))
            }
            None if self.buf.len() > self.max => Err(FrameError::TooLong(self.max)),
            None => {
                self.scanned = self.buf.len();
                Ok(None)
            }
        }
    }

    /// The next `len` bytes as they are (the raw bytes after a header line), or `None`
    /// when fewer are buffered yet.
    pub fn take(&mut self, len: usize) -> Option<Vec<u8>> {
        if self.buf.len() < len {
            return None;
        }
        let rest = self.buf.split_off(len);
        self.scanned = 0;
        Some(core::mem::replace(&mut self.buf, rest))
    }

    /// Call at end of stream: an unfinished line is an error.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Truncated)
        }
    }

    /// Bytes held, waiting for a newline.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames(decoder: &mut FrameDecoder) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(line) = decoder.next_frame().unwrap() {
            out.push(line);
        }
        out
    }

    #[test]
    fn splits_lines_and_reports_partial_ends() {
        let mut d = FrameDecoder::new(100);
        d.push(b"a\nbc\r\nd");
        assert_eq!(frames(&mut d), vec![b"a".to_vec(), b"bc".to_vec()]);
        assert_eq!(d.finish(), Err(FrameError::Truncated));
        d.push(b"\n");
        assert_eq!(frames(&mut d), vec![b"d".to_vec()]);
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn oversize_lines_fail_without_waiting_for_a_newline() {
        let mut d = FrameDecoder::new(10);
        d.push(&[b'x'; 11]);
        assert_eq!(d.next_frame(), Err(FrameError::TooLong(10)));
        let mut d = FrameDecoder::new(10);
        d.push(&[b'x'; 10]);
        assert_eq!(d.next_frame(), Ok(None));
        d.push(b"\n");
        assert_eq!(d.next_frame().unwrap().unwrap().len(), 10);
    }

    proptest! {
        #[test]
        fn lines_split_at_every_byte_boundary(lines in prop::collection::vec(prop::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n' && *b != b'\r'), 0..20), 0..6)) {
            let mut stream = Vec::new();
            for line in &lines {
                stream.extend_from_slice(line);
                stream.push(b'\n');
            }
            for split in 0..=stream.len() {
                let mut d = FrameDecoder::new(64);
                let (a, b) = stream.split_at(split);
                d.push(a);
                let mut got = frames(&mut d);
                d.push(b);
                got.extend(frames(&mut d));
                prop_assert_eq!(&got, &lines);
                prop_assert_eq!(d.finish(), Ok(()));
            }
        }

        #[test]
        fn memory_stays_bounded(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..50)) {
            let mut d = FrameDecoder::new(100);
            for chunk in chunks {
                d.push(&chunk);
                loop {
                    match d.next_frame() {
                        Ok(Some(_)) => continue,
                        Ok(None) => break,
                        Err(_) => return Ok(()),
                    }
                }
                prop_assert!(d.buffered() <= 100 + 64);
            }
        }
    }
}
