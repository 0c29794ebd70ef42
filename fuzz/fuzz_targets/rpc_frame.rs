//! The frame decoder and message decoders accept any bytes, in any chunking, without
//! panicking or holding more than the line limit.
#![no_main]

use airlock_rpc::{ClientMessage, FrameDecoder, ServerMessage};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 256;

fuzz_target!(|data: &[u8]| {
    let (sizes, stream) = data.split_at(data.len().min(4));
    let mut decoder = FrameDecoder::new(MAX);
    let mut rest = stream;
    let mut turn = 0;
    while !rest.is_empty() {
        let size = usize::from(sizes.get(turn % sizes.len().max(1)).copied().unwrap_or(7)).max(1);
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        turn += 1;
        decoder.push(chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(line)) => {
                    assert!(line.len() <= MAX);
                    let _ = ClientMessage::decode(&line);
                    let _ = ServerMessage::decode(&line);
                    let _ = ClientMessage::decode_header(&line);
                    // A raw header: its bytes come next (a reader refuses more than MAX).
                    if let Ok((_, Some(len))) = ServerMessage::decode_header(&line) {
                        if len > MAX {
                            return;
                        }
                        if let Some(bytes) = decoder.take(len) {
                            assert_eq!(bytes.len(), len);
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(decoder.buffered() <= MAX + 256);
    }
    let _ = decoder.finish();
});
