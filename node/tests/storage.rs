//! Storage under crashes and damage: the WAL, snapshot files, the identity
//! of a data directory, the node's glue, and a conformance suite that the
//! WAL and an in-memory model both pass.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use std::os::unix::fs::FileExt;

use node::storage::snapshot::SnapshotStore;
use node::storage::wal::{Recovered, Wal};
use node::storage::{
    Batch, StorageError, StoredEntry, StoredHardState, StoredSnapshot, WalOptions, check_identity, records_end,
};

fn entry(index: u64, term: u64) -> StoredEntry {
    StoredEntry { index, term, kind: (index % 3) as u8, data: Bytes::from(format!("command {index} of term {term}")) }
}

fn hard_state(term: u64, commit: u64) -> StoredHardState {
    StoredHardState { term, vote: term % 3 + 1, commit }
}

fn batch(entries: impl IntoIterator<Item = StoredEntry>, hard_state: Option<StoredHardState>) -> Batch {
    Batch { installed_snapshot: None, entries: entries.into_iter().collect(), hard_state }
}

/// Room for every batch of a test in one segment, preallocated small: the
/// tests that cut or damage each byte reopen the log hundreds of times.
fn one_segment() -> WalOptions {
    WalOptions { segment_bytes: 64 << 10, ..WalOptions::default() }
}

fn small_segments() -> WalOptions {
    WalOptions { segment_bytes: 300, ..WalOptions::default() }
}

/// A segment's records, without the zeros preallocated after them.
fn records(segment: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(segment).unwrap();
    bytes.truncate(records_end(segment).unwrap() as usize);
    bytes
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn corrupt(result: Result<(Wal, Recovered), StorageError>) -> (PathBuf, u64, String) {
    match result {
        Err(e @ StorageError::Corrupt { .. }) => {
            let message = e.to_string();
            let StorageError::Corrupt { file, offset, .. } = e else { unreachable!() };
            (file, offset, message)
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a damaged log was accepted"),
    }
}

/// A log store as the node needs one; the WAL and `Memory` implement it.
trait LogStore: Sized {
    fn append(&mut self, batch: &Batch) -> Result<(), StorageError>;
    fn compact(&mut self, index: u64) -> Result<(), StorageError>;
    /// Drops the store and opens it again, as a restart after a crash does.
    fn reopen(self) -> (Self, Recovered);
}

struct Disk {
    dir: tempfile::TempDir,
    options: WalOptions,
    wal: Wal,
}

impl Disk {
    fn new(options: WalOptions) -> Disk {
        let dir = tempfile::tempdir().unwrap();
        let (wal, recovered) = Wal::open(dir.path(), options.clone()).unwrap();
        assert_eq!(recovered, Recovered::default());
        Disk { dir, options, wal }
    }
}

impl LogStore for Disk {
    fn append(&mut self, batch: &Batch) -> Result<(), StorageError> {
        self.wal.append(batch)
    }

    fn compact(&mut self, index: u64) -> Result<(), StorageError> {
        self.wal.compact(index)
    }

    fn reopen(self) -> (Self, Recovered) {
        let Disk { dir, options, wal } = self;
        drop(wal);
        let (wal, recovered) = Wal::open(dir.path(), options.clone()).unwrap();
        (Disk { dir, options, wal }, recovered)
    }
}

/// The log as plainly as it can be said: the model the WAL must agree with.
#[derive(Default)]
struct Memory {
    log: Recovered,
}

impl LogStore for Memory {
    fn append(&mut self, batch: &Batch) -> Result<(), StorageError> {
        let mut log = self.log.clone();
        if let Some(index) = batch.installed_snapshot {
            log = Recovered { compacted: index, entries: vec![], ..log };
        }
        for e in &batch.entries {
            if e.index <= log.compacted || e.index > log.last_index() + 1 {
                return Err(StorageError::Invalid(format!("entry {}", e.index)));
            }
            log.entries.retain(|x| x.index < e.index);
            log.entries.push(e.clone());
        }
        log.hard_state = batch.hard_state.unwrap_or(log.hard_state);
        self.log = log;
        Ok(())
    }

    fn compact(&mut self, index: u64) -> Result<(), StorageError> {
        if index > self.log.compacted {
            self.log.entries.retain(|e| e.index > index);
            self.log.compacted = index;
        }
        Ok(())
    }

    fn reopen(self) -> (Self, Recovered) {
        let recovered = self.log.clone();
        (self, recovered)
    }
}

/// Cases every log store passes, each taking a fresh, empty store.
mod suite {
    use super::*;

    pub fn appended_batches_are_recovered(mut s: impl LogStore) {
        s.append(&batch([entry(1, 1), entry(2, 1)], Some(hard_state(1, 0)))).unwrap();
        s.append(&batch([entry(3, 1)], Some(hard_state(1, 2)))).unwrap();
        s.append(&batch([], Some(hard_state(2, 3)))).unwrap();
        let (_, recovered) = s.reopen();
        assert_eq!(recovered.entries, vec![entry(1, 1), entry(2, 1), entry(3, 1)]);
        assert_eq!(recovered.hard_state, hard_state(2, 3), "the latest hard state wins");
        assert_eq!(recovered.compacted, 0);
    }

    pub fn a_conflicting_append_replaces_the_suffix(mut s: impl LogStore) {
        s.append(&batch((1..=5).map(|i| entry(i, 1)), None)).unwrap();
        s.append(&batch([entry(3, 2), entry(4, 2)], Some(hard_state(2, 2)))).unwrap();
        let (mut s, recovered) = s.reopen();
        assert_eq!(recovered.entries, vec![entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)]);
        // Several runs in one batch, as when queued Readies are merged.
        s.append(&batch([entry(5, 2), entry(6, 2), entry(5, 3)], None)).unwrap();
        let (_, recovered) = s.reopen();
        assert_eq!(recovered.entries.last(), Some(&entry(5, 3)));
        assert_eq!(recovered.entries.len(), 5);
    }

    pub fn a_log_raft_never_writes_is_refused_and_leaves_no_trace(mut s: impl LogStore) {
        s.append(&batch([entry(1, 1), entry(2, 1)], Some(hard_state(1, 1)))).unwrap();
        let gap = s.append(&batch([entry(4, 1)], Some(hard_state(9, 9))));
        assert!(matches!(gap, Err(StorageError::Invalid(_))), "a gap");
        s.compact(1).unwrap();
        let below = s.append(&batch([entry(1, 2)], None));
        assert!(matches!(below, Err(StorageError::Invalid(_))), "a rewrite of a compacted entry");
        let (_, recovered) = s.reopen();
        assert_eq!(recovered.entries, vec![entry(2, 1)]);
        assert_eq!(recovered.hard_state, hard_state(1, 1));
    }

    pub fn compaction_keeps_the_entries_after_it_and_the_hard_state(mut s: impl LogStore) {
        s.append(&batch([], Some(hard_state(3, 0)))).unwrap();
        for i in 1..=40 {
            s.append(&batch([entry(i, 3)], None)).unwrap();
        }
        s.compact(25).unwrap();
        s.compact(20).unwrap();
        let (mut s, recovered) = s.reopen();
        assert_eq!(recovered.compacted, 25);
        assert_eq!(recovered.entries, (26..=40).map(|i| entry(i, 3)).collect::<Vec<_>>());
        assert_eq!(recovered.hard_state, hard_state(3, 0));
        // A snapshot may cover more than the log holds.
        s.compact(45).unwrap();
        s.append(&batch([entry(46, 4)], None)).unwrap();
        let (_, recovered) = s.reopen();
        assert_eq!((recovered.compacted, recovered.entries), (45, vec![entry(46, 4)]));
    }

    pub fn an_installed_snapshot_replaces_the_whole_log(mut s: impl LogStore) {
        s.append(&batch((1..=10).map(|i| entry(i, 1)), Some(hard_state(1, 4)))).unwrap();
        // Entries 6..=10 are not in the leader's log: they go too.
        let install =
            Batch { installed_snapshot: Some(8), entries: vec![entry(9, 3)], hard_state: Some(hard_state(3, 8)) };
        s.append(&install).unwrap();
        let (_, recovered) = s.reopen();
        assert_eq!((recovered.compacted, recovered.entries), (8, vec![entry(9, 3)]));
        assert_eq!(recovered.hard_state, hard_state(3, 8));
    }
}

macro_rules! conformance {
    ($name:ident, $new:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn appended_batches_are_recovered() {
                suite::appended_batches_are_recovered($new);
            }

            #[test]
            fn a_conflicting_append_replaces_the_suffix() {
                suite::a_conflicting_append_replaces_the_suffix($new);
            }

            #[test]
            fn a_log_raft_never_writes_is_refused_and_leaves_no_trace() {
                suite::a_log_raft_never_writes_is_refused_and_leaves_no_trace($new);
            }

            #[test]
            fn compaction_keeps_the_entries_after_it_and_the_hard_state() {
                suite::compaction_keeps_the_entries_after_it_and_the_hard_state($new);
            }

            #[test]
            fn an_installed_snapshot_replaces_the_whole_log() {
                suite::an_installed_snapshot_replaces_the_whole_log($new);
            }
        }
    };
}

conformance!(memory, Memory::default());
conformance!(wal_one_segment, Disk::new(WalOptions::default()));
conformance!(wal_small_segments, Disk::new(small_segments()));

mod model {
    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        /// Entries from `back` below the next index, `count` of them.
        Append {
            back: u64,
            count: u64,
            term: u64,
            hard_state: bool,
        },
        Install {
            ahead: u64,
        },
        Compact {
            back: u64,
        },
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u64..4, 0u64..5, 1u64..5, any::<bool>())
                .prop_map(|(back, count, term, hard_state)| Op::Append { back, count, term, hard_state }),
            1 => (0u64..5).prop_map(|ahead| Op::Install { ahead }),
            2 => (0u64..8).prop_map(|back| Op::Compact { back }),
            2 => Just(Op::Reopen),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Any sequence of writes, compactions and restarts leaves the WAL
        /// (with segments small enough to roll and be deleted often) holding
        /// what the model holds.
        #[test]
        fn the_wal_agrees_with_the_model(ops in prop::collection::vec(op(), 1..40)) {
            let mut disk = Disk::new(WalOptions { segment_bytes: 200, ..WalOptions::default() });
            let mut memory = Memory::default();
            for (step, op) in ops.into_iter().enumerate() {
                let next = memory.log.last_index() + 1;
                let (d, m) = match op {
                    Op::Append { back, count, term, hard_state: with_hs } => {
                        let first = next.saturating_sub(back).max(1);
                        let b = batch((first..first + count).map(|i| entry(i, term)), with_hs.then(|| hard_state(term, first)));
                        (disk.append(&b).is_ok(), memory.append(&b).is_ok())
                    }
                    Op::Install { ahead } => {
                        let b = Batch { installed_snapshot: Some(next + ahead), ..Batch::default() };
                        (disk.append(&b).is_ok(), memory.append(&b).is_ok())
                    }
                    Op::Compact { back } => {
                        let index = next.saturating_sub(back);
                        (disk.compact(index).is_ok(), memory.compact(index).is_ok())
                    }
                    Op::Reopen => {
                        let (d, from_disk) = disk.reopen();
                        disk = d;
                        prop_assert_eq!(&from_disk, &memory.log, "step {}", step);
                        (true, true)
                    }
                };
                prop_assert_eq!(d, m, "step {}: the stores disagree on accepting it", step);
                let (last, compacted) = (memory.log.last_index(), memory.log.compacted);
                prop_assert_eq!((disk.wal.last_index(), disk.wal.compacted()), (last, compacted), "step {}", step);
            }
            let (_, from_disk) = disk.reopen();
            prop_assert_eq!(from_disk, memory.log);
        }
    }
}

/// Each batch written in turn, with the log the model says it leaves.
fn write_batches(dir: &Path, batches: &[Batch]) -> Vec<(u64, Recovered)> {
    let (mut wal, _) = Wal::open(dir, one_segment()).unwrap();
    let mut memory = Memory::default();
    let segment = files_in(dir).pop().unwrap();
    let mut after = vec![(0, Recovered::default())];
    for b in batches {
        wal.append(b).unwrap();
        memory.append(b).unwrap();
        after.push((records_end(&segment).unwrap(), memory.log.clone()));
    }
    after
}

fn varied_batches() -> Vec<Batch> {
    vec![
        batch([entry(1, 1)], Some(hard_state(1, 0))),
        batch([entry(2, 1), entry(3, 1), entry(4, 1)], None),
        batch([], Some(hard_state(2, 3))),
        batch([entry(3, 2)], Some(hard_state(2, 3))),
        Batch { installed_snapshot: Some(9), entries: vec![entry(10, 3)], hard_state: Some(hard_state(3, 9)) },
        batch([entry(11, 3)], None),
    ]
}

#[test]
fn a_cut_at_every_byte_of_the_last_segment_recovers_exactly_the_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let after = write_batches(dir.path(), &varied_batches());
    let segment = files_in(dir.path()).pop().unwrap();
    let whole = records(&segment);
    assert_eq!(after.last().unwrap().0, whole.len() as u64);
    for cut in 0..=whole.len() {
        std::fs::write(&segment, &whole[..cut]).unwrap();
        let (mut wal, recovered) = Wal::open(dir.path(), one_segment()).unwrap();
        let (end, expected) = after.iter().rfind(|(end, _)| *end <= cut as u64).unwrap();
        assert_eq!(&recovered, expected, "cut at {cut}");
        assert_eq!(records_end(&segment).unwrap(), *end, "cut at {cut}");
        let mut torn = vec![1; cut - *end as usize];
        std::fs::File::open(&segment).unwrap().read_exact_at(&mut torn, *end).unwrap();
        assert!(torn.iter().all(|&b| b == 0), "cut at {cut}: the torn tail is cut off");
        // New records follow the intact ones, so the next open accepts them.
        let next = entry(recovered.last_index() + 1, 9);
        wal.append(&batch([next.clone()], None)).unwrap();
        drop(wal);
        let (_, again) = Wal::open(dir.path(), one_segment()).unwrap();
        assert_eq!(again.entries.last(), Some(&next), "cut at {cut}");
    }
}

#[test]
fn a_flipped_byte_mid_log_refuses_to_start_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let after = write_batches(dir.path(), &varied_batches());
    let segment = files_in(dir.path()).pop().unwrap();
    let whole = records(&segment);
    // Every byte of every record but the last: an intact batch follows.
    let last_start = after[after.len() - 2].0;
    for at in 0..last_start {
        let mut bytes = whole.clone();
        bytes[at as usize] ^= 0x10;
        std::fs::write(&segment, &bytes).unwrap();
        let (file, offset, message) = corrupt(Wal::open(dir.path(), one_segment()));
        let record_start = after.iter().rfind(|(end, _)| *end <= at).unwrap().0;
        assert_eq!((file, offset), (segment.clone(), record_start), "flip at {at}");
        assert!(message.starts_with(&format!("{}: corrupt at byte {record_start}: ", segment.display())), "{message}");
    }
    // The same damage in the last record is indistinguishable from a torn
    // write: that record goes.
    let mut bytes = whole.clone();
    bytes[last_start as usize + 12] ^= 0x10;
    std::fs::write(&segment, &bytes).unwrap();
    let (_, recovered) = Wal::open(dir.path(), one_segment()).unwrap();
    assert_eq!(&recovered, &after[after.len() - 2].1);
}

#[test]
fn zeros_after_the_last_record_are_a_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    let after = write_batches(dir.path(), &varied_batches());
    let segment = files_in(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.extend_from_slice(&[0; 4096]);
    std::fs::write(&segment, &bytes).unwrap();
    let (_, recovered) = Wal::open(dir.path(), one_segment()).unwrap();
    assert_eq!(&recovered, &after.last().unwrap().1);
}

#[test]
fn damage_in_a_segment_before_the_last_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), small_segments()).unwrap();
    for i in 1..=30 {
        wal.append(&batch([entry(i, 1)], None)).unwrap();
    }
    drop(wal);
    let files = files_in(dir.path());
    assert!(files.len() >= 3, "small segments roll over");
    let len = std::fs::metadata(&files[0]).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&files[0]).unwrap().set_len(len - 3).unwrap();
    let (file, offset, message) = corrupt(Wal::open(dir.path(), small_segments()));
    assert_eq!(file, files[0]);
    assert!(offset < len - 3, "{message}");
}

#[test]
fn a_lost_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), small_segments()).unwrap();
    for i in 1..=30 {
        wal.append(&batch([entry(i, 1)], None)).unwrap();
    }
    drop(wal);
    let files = files_in(dir.path());
    let middle = tempfile::tempdir().unwrap();
    let moved = middle.path().join("moved");
    std::fs::rename(&files[1], &moved).unwrap();
    let (file, _, message) = corrupt(Wal::open(dir.path(), small_segments()));
    assert_eq!(file, files[2]);
    assert!(message.contains("a segment is missing"), "{message}");
    std::fs::rename(&moved, &files[1]).unwrap();
    std::fs::remove_file(&files[0]).unwrap();
    let (_, _, message) = corrupt(Wal::open(dir.path(), small_segments()));
    assert!(message.contains("no compaction record says why"), "{message}");
}

#[test]
fn compaction_deletes_covered_segments_and_the_hard_state_survives() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), small_segments()).unwrap();
    // The only hard state is in the first segment, which compaction deletes.
    wal.append(&batch([entry(1, 2)], Some(hard_state(2, 1)))).unwrap();
    for i in 2..=60 {
        wal.append(&batch([entry(i, 2)], None)).unwrap();
    }
    let before = files_in(dir.path());
    wal.compact(40).unwrap();
    let kept = files_in(dir.path());
    assert!(kept.len() < before.len() && kept.len() >= 2, "{} -> {}", before.len(), kept.len());
    assert!(!kept.contains(&before[0]));
    drop(wal);
    let (mut wal, recovered) = Wal::open(dir.path(), small_segments()).unwrap();
    assert_eq!(recovered.hard_state, hard_state(2, 1));
    assert_eq!(recovered.compacted, 40);
    assert_eq!(recovered.entries, (41..=60).map(|i| entry(i, 2)).collect::<Vec<_>>());
    // Segments holding only covered entries go, even the one with the
    // compaction record, once a newer record says as much.
    for i in 61..=90 {
        wal.append(&batch([entry(i, 2)], None)).unwrap();
    }
    wal.compact(85).unwrap();
    drop(wal);
    let (_, recovered) = Wal::open(dir.path(), small_segments()).unwrap();
    assert_eq!((recovered.compacted, recovered.entries.len(), recovered.hard_state), (85, 5, hard_state(2, 1)));
    assert!(!files_in(dir.path()).iter().any(|f| kept.contains(f)));
}

#[test]
fn a_failed_write_stops_the_log_until_it_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), small_segments()).unwrap();
    wal.append(&batch((1..=10).map(|i| entry(i, 1)), None)).unwrap();
    // The segment the next append rolls over to cannot be created.
    let next_segment = dir.path().join("0000000000000002-00000000000000000011.wal");
    std::fs::create_dir(&next_segment).unwrap();
    let failed = wal.append(&batch([entry(11, 1)], None)).unwrap_err();
    assert!(matches!(failed, StorageError::Io { ref path, .. } if *path == next_segment), "{failed}");
    std::fs::remove_dir(&next_segment).unwrap();
    let again = wal.append(&batch([entry(11, 1)], None)).unwrap_err();
    assert!(matches!(again, StorageError::Failed { .. }), "{again}");
    drop(wal);
    let (mut wal, recovered) = Wal::open(dir.path(), small_segments()).unwrap();
    assert_eq!(recovered.last_index(), 10);
    wal.append(&batch([entry(11, 1)], None)).unwrap();
}

#[test]
fn snapshots_are_saved_whole_and_the_newest_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(store.load_latest().unwrap(), None);
    let snapshot = |index: u64| StoredSnapshot {
        index,
        term: 2,
        membership: Bytes::from_static(b"voters 1 2 3"),
        data: Bytes::from(format!("state at {index}")),
    };
    for index in [10, 20, 30] {
        store.save(&snapshot(index)).unwrap();
    }
    // A save cut short by a crash leaves a temporary file behind.
    let leftover = dir.path().join("00000000000000000040.snap.tmp");
    std::fs::write(&leftover, b"partial").unwrap();
    assert_eq!(store.load_latest().unwrap(), Some(snapshot(30)), "the temporary file is not a snapshot");
    let store = SnapshotStore::open(dir.path()).unwrap();
    assert!(!leftover.exists(), "open clears it away");
    let mut kept: Vec<String> =
        files_in(dir.path()).iter().map(|p| p.file_name().unwrap().to_str().unwrap().into()).collect();
    kept.sort();
    assert_eq!(kept, ["00000000000000000020.snap", "00000000000000000030.snap"], "the newest two are kept");

    let newest = dir.path().join("00000000000000000030.snap");
    let mut bytes = std::fs::read(&newest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&newest, bytes).unwrap();
    match store.load_latest() {
        Err(StorageError::Corrupt { file, .. }) => assert_eq!(file, newest, "a damaged snapshot is refused"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_data_directory_of_another_node_or_cluster_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(check_identity(&data, "alpha", 1).unwrap(), "a new directory is claimed");
    assert!(!check_identity(&data, "alpha", 1).unwrap());
    let other_node = check_identity(&data, "alpha", 2).unwrap_err();
    assert!(matches!(other_node, StorageError::WrongIdentity { found_node: 1, expected_node: 2, .. }));
    assert_eq!(
        other_node.to_string(),
        format!("{} belongs to cluster=alpha node=1, not to cluster=alpha node=2", data.display())
    );
    let other_cluster = check_identity(&data, "beta", 1).unwrap_err().to_string();
    assert!(other_cluster.contains("cluster=alpha node=1, not to cluster=beta node=1"), "{other_cluster}");
    std::fs::write(data.join("identity"), "garbage").unwrap();
    assert!(matches!(check_identity(&data, "alpha", 1), Err(StorageError::Corrupt { .. })));
}

/// The node's glue, in the core's types, over a data directory.
mod glue {
    use node::storage::{SnapshotStore, Wal};
    use raft::{ConfChange, ConfState, Entry, HardState, Payload, Snapshot, SnapshotMeta};

    use super::*;

    fn command(index: u64, term: u64) -> Entry {
        Entry { index, term, payload: Payload::Command(Bytes::from(format!("put k{index}"))) }
    }

    #[test]
    fn queued_readies_become_durable_only_at_sync_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, recovered) = Wal::open(dir.path(), WalOptions::default()).unwrap();
        assert_eq!((recovered.hard_state, recovered.entries.len()), (HardState::default(), 0));
        let change = Entry { index: 1, term: 1, payload: Payload::ConfChange(ConfChange::AddLearner(4)) };
        let queue = |wal: &mut Wal| {
            wal.append(Some(HardState { term: 1, vote: 1, commit: 0 }), std::slice::from_ref(&change)).unwrap();
            wal.append(None, &[Entry { index: 2, term: 1, payload: Payload::Noop }, command(3, 1)]).unwrap();
            wal.append(Some(HardState { term: 2, vote: 2, commit: 2 }), &[command(3, 2)]).unwrap();
        };
        queue(&mut wal);
        drop(wal);
        let (mut wal, recovered) = Wal::open(dir.path(), WalOptions::default()).unwrap();
        assert_eq!(
            (recovered.hard_state, recovered.entries.len()),
            (HardState::default(), 0),
            "a crash before the sync keeps nothing queued"
        );
        queue(&mut wal);
        wal.sync().unwrap();
        drop(wal);
        let (_, recovered) = Wal::open(dir.path(), WalOptions::default()).unwrap();
        assert_eq!(recovered.hard_state, HardState { term: 2, vote: 2, commit: 2 });
        let expected = vec![change, Entry { index: 2, term: 1, payload: Payload::Noop }, command(3, 2)];
        assert_eq!(recovered.entries, expected);
    }

    #[test]
    fn entries_after_an_installed_snapshot_replace_the_old_log() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), WalOptions::default()).unwrap();
        wal.append(None, &(1..=5).map(|i| command(i, 1)).collect::<Vec<_>>()).unwrap();
        wal.sync().unwrap();
        // The core installed a snapshot at 50 and goes on from 51.
        wal.install_snapshot(50).unwrap();
        wal.append(Some(HardState { term: 3, vote: 0, commit: 50 }), &[command(51, 3)]).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let (_, recovered) = Wal::open(dir.path(), WalOptions::default()).unwrap();
        assert_eq!(recovered.entries, vec![command(51, 3)]);
    }

    #[test]
    fn a_snapshot_installed_inside_the_log_drops_the_entries_after_it() {
        // A follower held entries 1..=8 of term 1 when the leader's snapshot
        // at 5 (term 2) replaced its log; it crashed before anything followed.
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), WalOptions::default()).unwrap();
        wal.append(None, &(1..=8).map(|i| command(i, 1)).collect::<Vec<_>>()).unwrap();
        wal.sync().unwrap();
        wal.install_snapshot(5).unwrap();
        wal.append(Some(HardState { term: 2, vote: 0, commit: 5 }), &[]).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let (mut wal, recovered) = Wal::open(dir.path(), WalOptions::default()).unwrap();
        assert_eq!(recovered.entries, vec![], "entries 6..=8 of the replaced log came back");
        // The log goes on from the snapshot.
        wal.append(None, &[command(6, 2)]).unwrap();
        wal.sync().unwrap();
        drop(wal);
        assert_eq!(Wal::open(dir.path(), WalOptions::default()).unwrap().1.entries, vec![command(6, 2)]);
    }

    #[test]
    fn entries_that_do_not_follow_the_snapshot_are_not_recovered() {
        // A crash after the snapshot file was saved and before the WAL knew.
        let meta = SnapshotMeta { index: 5, term: 2, conf: ConfState::with_voters([1, 2, 3]) };
        let old: Vec<Entry> = (1..=8).map(|i| command(i, 1)).collect();
        assert_eq!(node::storage::entries_after(&meta, old), vec![], "the log disagrees with the snapshot at 5");
        let agreeing: Vec<Entry> = (4..=8).map(|i| command(i, 2)).collect();
        assert_eq!(node::storage::entries_after(&meta, agreeing), (6..=8).map(|i| command(i, 2)).collect::<Vec<_>>());
        let after_compaction: Vec<Entry> = (6..=8).map(|i| command(i, 2)).collect();
        assert_eq!(node::storage::entries_after(&meta, after_compaction.clone()), after_compaction);
    }

    #[test]
    fn snapshots_keep_their_membership() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(dir.path()).unwrap();
        let meta = SnapshotMeta { index: 12, term: 3, conf: ConfState::with_voters([1, 2, 3]) };
        let snapshot = Snapshot { meta, data: Bytes::from_static(b"kv state") };
        store.save(&snapshot).unwrap();
        assert_eq!(SnapshotStore::open(dir.path()).unwrap().load_latest().unwrap(), Some(snapshot));
    }
}

/// A commit index written without a sync (a provisional record) is there
/// for a restarted process, and the next record, written over it, carries it.
#[test]
fn a_provisional_commit_index_survives_the_process_and_the_next_record_carries_it() {
    let dir = tempfile::tempdir().unwrap();
    let segment_of = |dir: &Path| files_in(dir).pop().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), one_segment()).unwrap();
    wal.append(&batch([entry(1, 1), entry(2, 1)], Some(hard_state(1, 0)))).unwrap();
    let synced_end = records_end(&segment_of(dir.path())).unwrap();
    wal.append_provisional(&batch([], Some(hard_state(1, 2)))).unwrap();
    drop(wal);
    let (mut wal, recovered) = Wal::open(dir.path(), one_segment()).unwrap();
    assert_eq!(recovered.hard_state, hard_state(1, 2), "a restarted process finds the commit index");

    // From here on the provisional record is one the log holds, as it was
    // made durable at the open. A new one, with a long commit index...
    let intact_end = records_end(&segment_of(dir.path())).unwrap();
    assert!(intact_end > synced_end);
    wal.append_provisional(&batch([], Some(StoredHardState { commit: u64::MAX >> 8, ..hard_state(1, 0) }))).unwrap();
    // ...replaced by a shorter record that has no hard state of its own.
    wal.append(&batch([], None)).unwrap();
    wal.append(&batch([entry(3, 1)], None)).unwrap();
    drop(wal);
    let segment = segment_of(dir.path());
    let end = records_end(&segment).unwrap();
    let mut tail = vec![1; 64];
    std::fs::File::open(&segment).unwrap().read_exact_at(&mut tail, end).unwrap();
    assert!(tail.iter().all(|&b| b == 0), "the longer provisional record left nothing after the last record");
    let (_, recovered) = Wal::open(dir.path(), one_segment()).unwrap();
    assert_eq!(recovered.hard_state.commit, u64::MAX >> 8, "the record over it carried its hard state");
    assert_eq!(recovered.last_index(), 3);
    assert!(
        matches!(
            Wal::open(dir.path(), one_segment()).unwrap().0.append_provisional(&batch([entry(4, 1)], None)),
            Err(StorageError::Invalid(_))
        ),
        "entries are never provisional"
    );
}

#[test]
fn a_power_cut_takes_a_provisional_commit_index() {
    let data = tempfile::tempdir().unwrap();
    let wal_dir = data.path().join("wal");
    let tracked = WalOptions { track_durable: true, ..one_segment() };
    let (mut wal, _) = Wal::open(&wal_dir, tracked.clone()).unwrap();
    wal.append(&batch([entry(1, 1)], Some(hard_state(1, 0)))).unwrap();
    wal.append_provisional(&batch([], Some(hard_state(1, 1)))).unwrap();
    drop(wal);
    let dropped = node::storage::power_loss::drop_unsynced(data.path()).unwrap();
    assert!(dropped.bytes_cut > 0, "{dropped:?}");
    let (_, recovered) = Wal::open(&wal_dir, tracked).unwrap();
    assert_eq!((recovered.hard_state, recovered.last_index()), (hard_state(1, 0), 1));
}

#[test]
fn a_simulated_power_cut_keeps_exactly_the_synced_batches() {
    let data = tempfile::tempdir().unwrap();
    let wal_dir = data.path().join("wal");
    let batches: Vec<Batch> = (1..=12).map(|i| batch([entry(i, 1)], Some(hard_state(1, i - 1)))).collect();
    let synced = WalOptions { segment_bytes: 200, track_durable: true, ..WalOptions::default() };
    let (mut wal, _) = Wal::open(&wal_dir, synced.clone()).unwrap();
    for b in &batches[..5] {
        wal.append(b).unwrap();
    }
    drop(wal);
    let (_, durable) = Wal::open(&wal_dir, WalOptions::default()).unwrap();
    // The rest is written but never synced, across new segments too.
    let (mut wal, _) = Wal::open(&wal_dir, WalOptions { sync: false, ..synced.clone() }).unwrap();
    let before_rest = files_in(&wal_dir).len();
    for b in &batches[5..] {
        wal.append(b).unwrap();
    }
    drop(wal);
    assert!(files_in(&wal_dir).len() > before_rest, "the unsynced batches started new segments");

    let dropped = node::storage::power_loss::drop_unsynced(data.path()).unwrap();
    assert!(dropped.segments_deleted > 0 && dropped.bytes_cut > 0, "{dropped:?}");
    let (_, after_cut) = Wal::open(&wal_dir, WalOptions::default()).unwrap();
    assert_eq!(after_cut, durable);
    assert_eq!(after_cut.last_index(), 5);
    // Cutting again takes nothing more.
    let again = node::storage::power_loss::drop_unsynced(data.path()).unwrap();
    assert_eq!(again, Default::default());
}

#[test]
fn a_power_cut_is_refused_for_a_node_that_did_not_track_its_syncs() {
    let data = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(&data.path().join("wal"), WalOptions::default()).unwrap();
    wal.append(&batch([entry(1, 1)], None)).unwrap();
    drop(wal);
    let err = node::storage::power_loss::drop_unsynced(data.path()).unwrap_err();
    assert!(err.to_string().contains("durable"), "{err}");
}
