//! Framing of one WAL record: `len: u32 | crc32c(payload): u32 | payload`,
//! little endian. A record holds one whole batch (see `batch.rs`).

pub const HEADER: usize = 8;

/// Largest payload. A bigger length field is damage, not a record.
pub const MAX_PAYLOAD: usize = 1 << 30;

/// Starts a record at the end of `out`: append the payload, then `finish`.
pub fn begin(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    start
}

/// Fills in the header of the record begun at `start`; the payload runs to
/// the end of `out`. Refuses a payload longer than `MAX_PAYLOAD`.
pub fn finish(out: &mut [u8], start: usize) -> Result<(), usize> {
    let (header, payload) = out[start..].split_at_mut(HEADER);
    if payload.len() > MAX_PAYLOAD {
        return Err(payload.len());
    }
    header[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[4..].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole, intact record of `len` bytes, header included.
    Record { payload: &'a [u8], len: usize },
    /// The buffer ends inside this record.
    Truncated,
    /// The record is there but wrong.
    Bad(&'static str),
}

pub fn decode(buf: &[u8]) -> Decoded<'_> {
    let Some((header, rest)) = buf.split_first_chunk::<HEADER>() else { return Decoded::Truncated };
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len == 0 {
        // Every record holds at least a batch number. Zeros are what a file
        // system shows for a block it allocated but never wrote.
        return Decoded::Bad("zero length");
    }
    if len > MAX_PAYLOAD {
        return Decoded::Bad("implausible length");
    }
    let Some(payload) = rest.get(..len) else { return Decoded::Truncated };
    if crc32c::crc32c(payload) != crc {
        return Decoded::Bad("checksum mismatch");
    }
    Decoded::Record { payload, len: HEADER + len }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(payload: &[u8], out: &mut Vec<u8>) {
        let start = begin(out);
        out.extend_from_slice(payload);
        finish(out, start).unwrap();
    }

    #[test]
    fn zeros_are_not_a_record() {
        assert_eq!(decode(&[0; 64]), Decoded::Bad("zero length"));
        assert_eq!(decode(&[0; 7]), Decoded::Truncated);
    }

    proptest! {
        #[test]
        fn records_round_trip(payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..20)) {
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
        fn a_cut_record_is_truncated(payload in prop::collection::vec(any::<u8>(), 1..300), cut in any::<prop::sample::Index>()) {
            let mut buf = Vec::new();
            encode(&payload, &mut buf);
            let cut = cut.index(buf.len());
            prop_assert_eq!(decode(&buf[..cut]), Decoded::Truncated);
        }

        #[test]
        fn any_flipped_bit_is_detected(payload in prop::collection::vec(any::<u8>(), 1..100), at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut buf = Vec::new();
            encode(&payload, &mut buf);
            let i = at.index(buf.len());
            buf[i] ^= 1 << bit;
            let intact = matches!(decode(&buf), Decoded::Record { payload: p, .. } if p == &payload[..]);
            prop_assert!(!intact, "a flipped bit went unnoticed");
        }
    }
}
