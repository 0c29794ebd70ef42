//! Standard base64 (RFC 4648, with padding), for binary-safe payloads.

use alloc::string::String;
use alloc::vec::Vec;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    encode_into(bytes, &mut out);
    // Only alphabet bytes and `=` were written.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the encoding of `bytes` to `out`.
pub fn encode_into(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len().div_ceil(3) * 4);
    let symbol = |n: u32, shift: u32| {
        ALPHABET
            .get(((n >> shift) & 63) as usize)
            .copied()
            .unwrap_or(b'A')
    };
    let mut chunks = bytes.chunks_exact(3);
    for chunk in &mut chunks {
        if let [b0, b1, b2] = *chunk {
            let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
            out.extend_from_slice(&[symbol(n, 18), symbol(n, 12), symbol(n, 6), symbol(n, 0)]);
        }
    }
    match *chunks.remainder() {
        [b0] => {
            let n = u32::from(b0) << 16;
            out.extend_from_slice(&[symbol(n, 18), symbol(n, 12), b'=', b'=']);
        }
        [b0, b1] => {
            let n = (u32::from(b0) << 16) | (u32::from(b1) << 8);
            out.extend_from_slice(&[symbol(n, 18), symbol(n, 12), symbol(n, 6), b'=']);
        }
        _ => {}
    }
}

/// The value of each byte in the alphabet, or 0xff.
#[expect(
    clippy::indexing_slicing,
    reason = "built at compile time: `i < 64` and any byte indexes a 256-entry table"
)]
const DECODE: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Decodes `text`; `None` when it is not base64.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let body = text.trim_end_matches('=');
    if bytes.len() - body.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in body.bytes() {
        let value = DECODE.get(usize::from(c)).copied().filter(|v| *v != 0xff)?;
        let value = u32::from(value);
        acc = (acc << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded).unwrap(), plain.as_bytes());
        }
        assert!(decode("Zm9").is_none());
        assert!(decode("Zm9!").is_none());
        assert!(decode("Z===").is_none());
    }

    proptest! {
        #[test]
        fn round_trips(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(decode(&encode(&bytes)).unwrap(), bytes);
        }
    }
}
