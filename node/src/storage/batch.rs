//! What the log stores, and the payload of one WAL record: a batch number
//! then tagged items, little endian.
//!
//! ```text
//! seq: u64, then until the end:
//!   1 installed snapshot  index: u64
//!   2 entry               index: u64, term: u64, kind: u8, len: u32, data
//!   3 hard state          term: u64, vote: u64, commit: u64
//!   4 compacted           index: u64
//! ```

use bytes::Bytes;

/// A log entry as storage sees it: the payload and its kind are the caller's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    pub index: u64,
    pub term: u64,
    /// The caller's tag for `data`; storage never looks at it.
    pub kind: u8,
    pub data: Bytes,
}

/// What Raft must remember across a crash besides the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoredHardState {
    pub term: u64,
    pub vote: u64,
    pub commit: u64,
}

/// One group commit: written as one record, made durable by one fdatasync,
/// and recovered whole or not at all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// A snapshot at this index, received from the leader, replaced the whole
    /// log: every entry is discarded and the log goes on at index + 1. Applied
    /// before `entries`. (Save the snapshot file before appending this.)
    pub installed_snapshot: Option<u64>,
    /// Appending an entry at index i discards every entry >= i written
    /// before, so a batch may start at or below the last index (a conflict)
    /// and may even hold several runs.
    pub entries: Vec<StoredEntry>,
    pub hard_state: Option<StoredHardState>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.installed_snapshot.is_none() && self.entries.is_empty() && self.hard_state.is_none()
    }
}

/// One item of a record, in the order it applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    InstalledSnapshot(u64),
    Entry(StoredEntry),
    HardState(StoredHardState),
    /// Entries up to this index are covered by a snapshot and may be gone.
    Compacted(u64),
}

const INSTALLED_SNAPSHOT: u8 = 1;
const ENTRY: u8 = 2;
const HARD_STATE: u8 = 3;
const COMPACTED: u8 = 4;

/// Writes one record payload: the batch number, then items in order.
pub struct Encoder<'a>(&'a mut Vec<u8>);

impl<'a> Encoder<'a> {
    pub fn new(seq: u64, out: &'a mut Vec<u8>) -> Self {
        out.extend_from_slice(&seq.to_le_bytes());
        Encoder(out)
    }

    pub fn installed_snapshot(&mut self, index: u64) {
        self.0.push(INSTALLED_SNAPSHOT);
        self.0.extend_from_slice(&index.to_le_bytes());
    }

    pub fn entry(&mut self, e: &StoredEntry) {
        self.0.push(ENTRY);
        self.0.extend_from_slice(&e.index.to_le_bytes());
        self.0.extend_from_slice(&e.term.to_le_bytes());
        self.0.push(e.kind);
        self.0.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        self.0.extend_from_slice(&e.data);
    }

    pub fn hard_state(&mut self, hs: StoredHardState) {
        self.0.push(HARD_STATE);
        for n in [hs.term, hs.vote, hs.commit] {
            self.0.extend_from_slice(&n.to_le_bytes());
        }
    }

    pub fn compacted(&mut self, index: u64) {
        self.0.push(COMPACTED);
        self.0.extend_from_slice(&index.to_le_bytes());
    }
}

/// A decoded record payload.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub seq: u64,
    pub items: Vec<Item>,
}

/// Decodes a payload whose checksum matched, so any failure here is a bug or
/// a format mismatch, never a torn write.
pub fn decode(payload: &[u8]) -> Result<Frame, String> {
    let mut r = Reader(payload);
    let seq = r.u64()?;
    let mut items = Vec::new();
    while !r.0.is_empty() {
        items.push(match r.u8()? {
            INSTALLED_SNAPSHOT => Item::InstalledSnapshot(r.u64()?),
            ENTRY => {
                let (index, term, kind) = (r.u64()?, r.u64()?, r.u8()?);
                let len = r.u32()? as usize;
                Item::Entry(StoredEntry { index, term, kind, data: Bytes::copy_from_slice(r.take(len)?) })
            }
            HARD_STATE => Item::HardState(StoredHardState { term: r.u64()?, vote: r.u64()?, commit: r.u64()? }),
            COMPACTED => Item::Compacted(r.u64()?),
            tag => return Err(format!("unknown item tag {tag} in batch {seq}")),
        });
    }
    Ok(Frame { seq, items })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!("the record ends {} bytes short of an item", n - self.0.len()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn item() -> impl Strategy<Value = Item> {
        prop_oneof![
            any::<u64>().prop_map(Item::InstalledSnapshot),
            (any::<u64>(), any::<u64>(), any::<u8>(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(
                |(index, term, kind, data)| Item::Entry(StoredEntry { index, term, kind, data: data.into() })
            ),
            (any::<u64>(), any::<u64>(), any::<u64>())
                .prop_map(|(term, vote, commit)| Item::HardState(StoredHardState { term, vote, commit })),
            any::<u64>().prop_map(Item::Compacted),
        ]
    }

    fn encode(seq: u64, items: &[Item], out: &mut Vec<u8>) {
        let mut w = Encoder::new(seq, out);
        for item in items {
            match item {
                Item::InstalledSnapshot(index) => w.installed_snapshot(*index),
                Item::Entry(e) => w.entry(e),
                Item::HardState(hs) => w.hard_state(*hs),
                Item::Compacted(index) => w.compacted(*index),
            }
        }
    }

    proptest! {
        #[test]
        fn batches_round_trip(seq in any::<u64>(), items in prop::collection::vec(item(), 0..10)) {
            let mut buf = Vec::new();
            encode(seq, &items, &mut buf);
            prop_assert_eq!(decode(&buf).unwrap(), Frame { seq, items });
        }

        #[test]
        fn a_cut_payload_decodes_to_its_whole_items_or_names_the_shortfall(items in prop::collection::vec(item(), 1..5), cut in any::<prop::sample::Index>()) {
            let mut buf = Vec::new();
            encode(7, &items, &mut buf);
            let cut = cut.index(buf.len());
            let whole_items = (0..items.len()).find(|&k| {
                let mut prefix = Vec::new();
                encode(7, &items[..k], &mut prefix);
                prefix.len() == cut
            });
            match whole_items {
                Some(k) => prop_assert_eq!(decode(&buf[..cut]).unwrap(), Frame { seq: 7, items: items[..k].to_vec() }),
                None => {
                    let reason = decode(&buf[..cut]).unwrap_err();
                    prop_assert!(reason.contains("bytes short"), "{}", reason);
                }
            }
        }
    }

    #[test]
    fn an_unknown_tag_is_named() {
        let mut buf = 3u64.to_le_bytes().to_vec();
        buf.push(99);
        assert_eq!(decode(&buf).unwrap_err(), "unknown item tag 99 in batch 3");
    }
}
