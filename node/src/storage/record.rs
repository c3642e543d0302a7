//! Framing of one WAL record: `len | crc32c | payload`.

pub const HEADER: usize = 8;

/// Largest payload accepted when reading: anything larger is damage.
pub const MAX_PAYLOAD: u32 = 64 << 20;

pub fn encode(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    Record {
        payload: &'a [u8],
        len: usize,
    },
    /// The buffer ends inside this record: a write cut short.
    Truncated,
    /// The record is whole but wrong.
    Bad(&'static str),
}

pub fn decode(buf: &[u8]) -> Decoded<'_> {
    if buf.len() < HEADER {
        return Decoded::Truncated;
    }
    let len = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    if len > MAX_PAYLOAD {
        return Decoded::Bad("implausible record length");
    }
    let end = HEADER + len as usize;
    if buf.len() < end {
        return Decoded::Truncated;
    }
    let payload = &buf[HEADER..end];
    if crc32c::crc32c(payload) != crc {
        return Decoded::Bad("checksum mismatch");
    }
    Decoded::Record { payload, len: end }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20)) {
            let mut buf = Vec::new();
            for p in &payloads {
                encode(p, &mut buf);
            }
            let mut at = 0;
            for p in &payloads {
                match decode(&buf[at..]) {
                    Decoded::Record { payload, len } => {
                        prop_assert_eq!(payload, &p[..]);
                        at += len;
                    }
                    other => prop_assert!(false, "{:?}", other),
                }
            }
            prop_assert_eq!(at, buf.len());
        }

        #[test]
        fn any_flipped_byte_is_detected(payload in prop::collection::vec(any::<u8>(), 1..100), at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut buf = Vec::new();
            encode(&payload, &mut buf);
            let i = at.index(buf.len());
            buf[i] ^= 1 << bit;
            let intact = matches!(decode(&buf), Decoded::Record { payload: p, .. } if p == &payload[..]);
            prop_assert!(!intact, "a flipped bit went unnoticed");
        }
    }
}
