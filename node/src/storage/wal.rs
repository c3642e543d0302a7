//! The segmented write-ahead log.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use prost::Message as _;
use raft::{Entry, HardState};
use tracing::warn;

use super::record::{self, Decoded};
use super::{StorageError, sync_dir};
use crate::proto::raft::{self as pb, wal_record::Record};
use crate::wire::{entry_from_pb, entry_to_pb};

#[derive(Clone, Debug)]
pub struct WalOptions {
    /// A new segment starts once the active one reaches this size.
    pub segment_bytes: u64,
    /// fdatasync on every `sync`. Off only for benchmarks: a crash may then
    /// lose acknowledged writes, and every report says so.
    pub sync: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { segment_bytes: 64 << 20, sync: true }
    }
}

struct Segment {
    first_index: u64,
    path: PathBuf,
}

/// What the log held at open.
#[derive(Debug, Default)]
pub struct Recovered {
    pub hard_state: HardState,
    /// Live entries in index order (later writes having replaced earlier ones).
    pub entries: Vec<Entry>,
}

pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    segments: Vec<Segment>,
    active: File,
    active_len: u64,
    last_index: u64,
    hard_state: HardState,
    buf: Vec<u8>,
}

fn segment_name(first_index: u64) -> String {
    format!("{first_index:020}.wal")
}

impl Wal {
    pub fn open(dir: &Path, options: WalOptions) -> Result<(Wal, Recovered), StorageError> {
        let dir = dir.join("wal");
        std::fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        let mut segments: Vec<Segment> = std::fs::read_dir(&dir)
            .map_err(|e| StorageError::io(&dir, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let first_index = name.strip_suffix(".wal")?.parse().ok()?;
                Some(Segment { first_index, path: e.path() })
            })
            .collect();
        segments.sort_by_key(|s| s.first_index);
        let mut recovered = Recovered::default();
        let count = segments.len();
        for (i, segment) in segments.iter().enumerate() {
            replay(&segment.path, i + 1 == count, &mut recovered)?;
        }
        if segments.is_empty() {
            let path = dir.join(segment_name(1));
            File::create(&path).map_err(|e| StorageError::io(&path, e))?;
            sync_dir(&dir)?;
            segments.push(Segment { first_index: 1, path });
        }
        let active_path = &segments.last().expect("at least one segment").path;
        let active = OpenOptions::new().append(true).open(active_path).map_err(|e| StorageError::io(active_path, e))?;
        let active_len = active.metadata().map_err(|e| StorageError::io(active_path, e))?.len();
        let last_index = recovered.entries.last().map_or(0, |e| e.index);
        let wal = Wal {
            dir,
            options,
            segments,
            active,
            active_len,
            last_index,
            hard_state: recovered.hard_state,
            buf: Vec::new(),
        };
        Ok((wal, recovered))
    }

    fn active_path(&self) -> &Path {
        &self.segments.last().expect("at least one segment").path
    }

    /// Writes a hard state and entries (not yet durable: call `sync`).
    pub fn append(&mut self, hard_state: Option<HardState>, entries: &[Entry]) -> Result<(), StorageError> {
        if self.active_len >= self.options.segment_bytes && !entries.is_empty() {
            self.roll(entries[0].index)?;
        }
        self.buf.clear();
        for e in entries {
            let rec = pb::WalRecord { record: Some(Record::Entry(entry_to_pb(e))) };
            record::encode(&rec.encode_to_vec(), &mut self.buf);
            self.last_index = e.index;
        }
        if let Some(hs) = hard_state {
            self.hard_state = hs;
            encode_hard_state(hs, &mut self.buf);
        }
        let path = self.active_path().to_path_buf();
        self.active.write_all(&self.buf).map_err(|e| StorageError::io(&path, e))?;
        self.active_len += self.buf.len() as u64;
        Ok(())
    }

    /// Makes everything appended so far durable: one fdatasync for the batch.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        if self.options.sync {
            let path = self.active_path().to_path_buf();
            self.active.sync_data().map_err(|e| StorageError::io(&path, e))?;
        }
        Ok(())
    }

    fn roll(&mut self, first_index: u64) -> Result<(), StorageError> {
        self.sync()?;
        let path = self.dir.join(segment_name(first_index));
        self.active =
            OpenOptions::new().create(true).append(true).open(&path).map_err(|e| StorageError::io(&path, e))?;
        sync_dir(&self.dir)?;
        self.segments.push(Segment { first_index, path });
        self.active_len = 0;
        Ok(())
    }

    /// Deletes segments holding only entries at or below `index` (a durable
    /// snapshot covers them). The hard state is first rewritten to the active
    /// segment, so deleting older ones never loses it.
    pub fn compact(&mut self, index: u64) -> Result<(), StorageError> {
        let removable = self.segments.windows(2).take_while(|w| w[1].first_index <= index + 1).count();
        if removable == 0 {
            return Ok(());
        }
        self.append(Some(self.hard_state), &[])?;
        self.sync()?;
        for segment in self.segments.drain(..removable) {
            std::fs::remove_file(&segment.path).map_err(|e| StorageError::io(&segment.path, e))?;
        }
        sync_dir(&self.dir)
    }
}

fn encode_hard_state(hs: HardState, out: &mut Vec<u8>) {
    let rec = pb::WalRecord {
        record: Some(Record::HardState(pb::HardState { term: hs.term, vote: hs.vote, commit: hs.commit })),
    };
    record::encode(&rec.encode_to_vec(), out);
}

/// Replays one segment into `into`. Damage at the end of the last segment is
/// a write cut short by a crash: it is cut off. Damage anywhere else, or
/// followed by an intact record, is corruption.
fn replay(path: &Path, last: bool, into: &mut Recovered) -> Result<(), StorageError> {
    let mut buf = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut buf)).map_err(|e| StorageError::io(path, e))?;
    let mut at = 0;
    while at < buf.len() {
        let damage = match record::decode(&buf[at..]) {
            Decoded::Record { payload, len } => {
                apply_record(path, at, payload, into)?;
                at += len;
                continue;
            }
            Decoded::Truncated => "the file ends inside a record",
            Decoded::Bad(why) => why,
        };
        let intact_after = (at + 1..buf.len()).any(|i| matches!(record::decode(&buf[i..]), Decoded::Record { .. }));
        if !last || intact_after {
            return Err(StorageError::Corrupt { file: path.to_path_buf(), offset: at as u64, reason: damage.into() });
        }
        warn!(file = %path.display(), offset = at, reason = damage, "cutting off a torn write at the end of the log");
        let f = OpenOptions::new().write(true).open(path).map_err(|e| StorageError::io(path, e))?;
        f.set_len(at as u64).and_then(|()| f.sync_all()).map_err(|e| StorageError::io(path, e))?;
        break;
    }
    Ok(())
}

fn apply_record(path: &Path, offset: usize, payload: &[u8], into: &mut Recovered) -> Result<(), StorageError> {
    let corrupt = |reason: String| StorageError::Corrupt { file: path.to_path_buf(), offset: offset as u64, reason };
    let rec = pb::WalRecord::decode(payload).map_err(|e| corrupt(e.to_string()))?;
    match rec.record.ok_or_else(|| corrupt("an empty record".into()))? {
        Record::HardState(hs) => into.hard_state = HardState { term: hs.term, vote: hs.vote, commit: hs.commit },
        Record::Entry(e) => {
            let entry = entry_from_pb(e).map_err(|e| corrupt(e.to_string()))?;
            while into.entries.last().is_some_and(|last| last.index >= entry.index) {
                into.entries.pop();
            }
            if let Some(last) = into.entries.last()
                && last.index + 1 != entry.index
            {
                return Err(corrupt(format!("entry {} follows entry {}", entry.index, last.index)));
            }
            into.entries.push(entry);
        }
    }
    Ok(())
}
