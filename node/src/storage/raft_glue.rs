//! The node's glue: the Raft core's entries, hard states and snapshots over
//! storage's own types, in the directory layout of the module doc.
//!
//! This mapping belongs beside the server, which owns the core's other
//! encodings (`wire.rs`); it sits here so the server keeps building while
//! storage no longer depends on the core.

use std::path::Path;

use bytes::Bytes;
use prost::Message as _;
use raft::{Entry, HardState, Payload, Snapshot, SnapshotMeta};

use super::{Batch, StorageError, StoredEntry, StoredHardState, StoredSnapshot, WalOptions, snapshot, wal};
use crate::proto::raft as pb;
use crate::wire::{change_from_pb, change_to_pb, conf_from_pb, conf_to_pb};

const NOOP: u8 = 0;
const COMMAND: u8 = 1;
const CONF_CHANGE: u8 = 2;

/// What the log held at open, in the core's types.
#[derive(Debug)]
pub struct Recovered {
    pub hard_state: HardState,
    /// The live entries after the compaction point.
    pub entries: Vec<Entry>,
}

/// The write-ahead log in `DIR/wal`, fed the core's Readies.
pub struct Wal {
    log: wal::Wal,
    /// Written by the next `sync`, as one record.
    pending: Batch,
    /// The last index once `pending` is written.
    last_index: u64,
}

impl Wal {
    pub fn open(data_dir: &Path, options: WalOptions) -> Result<(Wal, Recovered), StorageError> {
        let (log, recovered) = wal::Wal::open(&data_dir.join("wal"), options)?;
        let hs = recovered.hard_state;
        let recovered = Recovered {
            hard_state: HardState { term: hs.term, vote: hs.vote, commit: hs.commit },
            entries: recovered.entries.into_iter().map(entry_from_stored).collect::<Result<_, _>>()?,
        };
        let last_index = log.last_index();
        Ok((Wal { log, pending: Batch::default(), last_index }, recovered))
    }

    /// Queues a hard state and entries for the next `sync`, so that one
    /// record and one fdatasync cover every Ready queued meanwhile.
    pub fn append(&mut self, hard_state: Option<HardState>, entries: &[Entry]) -> Result<(), StorageError> {
        self.pending.entries.extend(entries.iter().map(entry_to_stored));
        self.last_index = entries.last().map_or(self.last_index, |e| e.index);
        if let Some(hs) = hard_state {
            self.pending.hard_state = Some(StoredHardState { term: hs.term, vote: hs.vote, commit: hs.commit });
        }
        Ok(())
    }

    /// The core installed a leader's snapshot at `index` (already saved) and
    /// cleared its log: the WAL's log now ends there, whatever it held
    /// after. Without this record, entries the core threw away would come
    /// back at the next start, after a snapshot they do not follow.
    pub fn install_snapshot(&mut self, index: u64) -> Result<(), StorageError> {
        self.sync()?;
        self.pending.installed_snapshot = Some(index);
        self.last_index = index;
        Ok(())
    }

    /// Makes everything queued durable: one record, one fdatasync.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        self.log.append(&std::mem::take(&mut self.pending))
    }

    /// Writes a queued hard state that only moves the commit index, without
    /// a sync (see [`Ready::must_sync`](raft::Ready)): it survives a crash
    /// of the process, and the next record replaces it.
    pub fn write_provisional(&mut self) -> Result<(), StorageError> {
        self.log.append_provisional(&std::mem::take(&mut self.pending))
    }

    /// Drops the segments a durable snapshot at `index` covers.
    pub fn compact(&mut self, index: u64) -> Result<(), StorageError> {
        self.sync()?;
        self.log.compact(index)?;
        self.last_index = self.log.last_index();
        Ok(())
    }
}

fn entry_to_stored(e: &Entry) -> StoredEntry {
    let (kind, data) = match &e.payload {
        Payload::Noop => (NOOP, Bytes::new()),
        Payload::Command(data) => (COMMAND, data.clone()),
        Payload::ConfChange(cc) => (CONF_CHANGE, change_to_pb(cc).encode_to_vec().into()),
    };
    StoredEntry { index: e.index, term: e.term, kind, data }
}

fn entry_from_stored(e: StoredEntry) -> Result<Entry, StorageError> {
    let undecodable = |reason: String| StorageError::Undecodable { what: format!("log entry {}", e.index), reason };
    let payload = match e.kind {
        NOOP => Payload::Noop,
        COMMAND => Payload::Command(e.data.clone()),
        CONF_CHANGE => {
            let pb = pb::ConfChange::decode(e.data.clone()).map_err(|err| undecodable(err.to_string()))?;
            Payload::ConfChange(change_from_pb(pb).map_err(|err| undecodable(err.to_string()))?)
        }
        kind => return Err(undecodable(format!("unknown entry kind {kind}"))),
    };
    Ok(Entry { index: e.index, term: e.term, payload })
}

/// The recovered entries that follow `snapshot`. A crash between saving an
/// installed snapshot and recording the install in the WAL leaves the old
/// log behind it: entries after the snapshot's index count only if the log
/// agrees with the snapshot at that index (or holds nothing at it), since
/// otherwise they belong to a history the snapshot replaced.
pub fn entries_after(snapshot: &SnapshotMeta, entries: Vec<Entry>) -> Vec<Entry> {
    let at_snapshot = entries.iter().find(|e| e.index == snapshot.index);
    if at_snapshot.is_some_and(|e| e.term != snapshot.term) {
        return Vec::new();
    }
    entries.into_iter().filter(|e| e.index > snapshot.index).collect()
}

/// The snapshot files in `DIR/snap`, in the core's types.
pub struct SnapshotStore {
    files: snapshot::SnapshotStore,
}

impl SnapshotStore {
    pub fn open(data_dir: &Path) -> Result<SnapshotStore, StorageError> {
        Ok(SnapshotStore { files: snapshot::SnapshotStore::open(&data_dir.join("snap"))? })
    }

    pub fn save(&self, s: &Snapshot) -> Result<(), StorageError> {
        self.files.save(&StoredSnapshot {
            index: s.meta.index,
            term: s.meta.term,
            membership: conf_to_pb(&s.meta.conf).encode_to_vec().into(),
            data: s.data.clone(),
        })
    }

    pub fn load_latest(&self) -> Result<Option<Snapshot>, StorageError> {
        let Some(s) = self.files.load_latest()? else { return Ok(None) };
        let conf = pb::ConfState::decode(s.membership).map_err(|e| StorageError::Undecodable {
            what: format!("the membership of snapshot {}", s.index),
            reason: e.to_string(),
        })?;
        Ok(Some(Snapshot {
            meta: SnapshotMeta { index: s.index, term: s.term, conf: conf_from_pb(conf) },
            data: s.data,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::ConfChange;

    #[test]
    fn every_payload_kind_round_trips() {
        let payloads = [
            Payload::Noop,
            Payload::Command(Bytes::from_static(b"put k v")),
            Payload::ConfChange(ConfChange::AddLearner(4)),
            Payload::ConfChange(ConfChange::Reset([1, 2].into())),
        ];
        for payload in payloads {
            let e = Entry { index: 3, term: 2, payload };
            assert_eq!(entry_from_stored(entry_to_stored(&e)).unwrap(), e);
        }
        let unknown = StoredEntry { index: 9, term: 1, kind: 7, data: Bytes::new() };
        assert_eq!(entry_from_stored(unknown).unwrap_err().to_string(), "log entry 9: unknown entry kind 7");
    }
}
