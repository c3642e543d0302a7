//! The WAL and snapshot files under crashes and damage.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use node::storage::{SnapshotStore, StorageError, Wal, WalOptions, check_identity};
use raft::{ConfState, Entry, HardState, Payload, Snapshot, SnapshotMeta};

fn entry(index: u64, term: u64) -> Entry {
    Entry { index, term, payload: Payload::Command(Bytes::from(format!("command {index}"))) }
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("wal")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

/// Writes entries 1..=n, each in its own synced batch, with a hard state.
fn write_log(dir: &Path, n: u64) {
    let (mut wal, _) = Wal::open(dir, WalOptions::default()).unwrap();
    for i in 1..=n {
        wal.append(Some(HardState { term: 1, vote: 1, commit: i - 1 }), &[entry(i, 1)]).unwrap();
        wal.sync().unwrap();
    }
}

#[test]
fn a_cut_at_every_byte_of_the_last_segment_recovers_exactly_the_whole_records() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 6);
    let segment = segment_files(dir.path()).pop().unwrap();
    let full = std::fs::read(&segment).unwrap();
    // Where each batch (entry + hard state) ends.
    let mut batch_ends = Vec::new();
    {
        let probe = tempfile::tempdir().unwrap();
        for n in 1..=6 {
            write_log(probe.path(), n);
            batch_ends.push(std::fs::metadata(segment_files(probe.path()).pop().unwrap()).unwrap().len() as usize);
            std::fs::remove_dir_all(probe.path().join("wal")).unwrap();
        }
    }
    assert_eq!(*batch_ends.last().unwrap(), full.len());
    for cut in 0..=full.len() {
        let copy = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(copy.path().join("wal")).unwrap();
        std::fs::write(copy.path().join("wal").join(segment.file_name().unwrap()), &full[..cut]).unwrap();
        let (_, recovered) = Wal::open(copy.path(), WalOptions::default()).unwrap();
        let whole_batches = batch_ends.iter().filter(|&&end| end <= cut).count() as u64;
        // A batch is its entry record then its hard-state record: a cut
        // between them keeps the entry but not that batch's hard state.
        let entries = recovered.entries.len() as u64;
        assert!(entries == whole_batches || entries == whole_batches + 1, "cut at {cut}: {entries} entries");
        let expected: Vec<Entry> = (1..=entries).map(|i| entry(i, 1)).collect();
        assert_eq!(recovered.entries, expected, "cut at {cut}");
        let commit = if whole_batches == 0 { 0 } else { whole_batches - 1 };
        assert_eq!(recovered.hard_state.commit, commit, "cut at {cut}");
        // The torn tail is gone from the file, so new writes follow intact records.
        let (mut wal, _) = Wal::open(copy.path(), WalOptions::default()).unwrap();
        wal.append(None, &[entry(entries + 1, 2)]).unwrap();
        wal.sync().unwrap();
        let (_, again) = Wal::open(copy.path(), WalOptions::default()).unwrap();
        assert_eq!(again.entries.last(), Some(&entry(entries + 1, 2)), "cut at {cut}");
    }
}

#[test]
fn a_flipped_byte_mid_log_refuses_to_start_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 5);
    let segment = segment_files(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&segment, &bytes).unwrap();
    match Wal::open(dir.path(), WalOptions::default()) {
        Err(e @ StorageError::Corrupt { .. }) => {
            let message = e.to_string();
            assert!(message.contains(segment.to_str().unwrap()), "{message}");
            assert!(message.contains("at byte"), "{message}");
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a corrupt log was accepted"),
    }
}

#[test]
fn replaced_suffixes_segments_and_compaction_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions { segment_bytes: 200, sync: true };
    {
        let (mut wal, _) = Wal::open(dir.path(), options.clone()).unwrap();
        for i in 1..=20 {
            wal.append(None, &[entry(i, 1)]).unwrap();
        }
        // A new leader's log replaces entries 15.. with its own.
        wal.append(Some(HardState { term: 2, vote: 3, commit: 14 }), &[entry(15, 2), entry(16, 2)]).unwrap();
        wal.sync().unwrap();
    }
    assert!(segment_files(dir.path()).len() > 2, "small segments roll over");
    let (mut wal, recovered) = Wal::open(dir.path(), options.clone()).unwrap();
    let mut expected: Vec<Entry> = (1..=14).map(|i| entry(i, 1)).collect();
    expected.extend([entry(15, 2), entry(16, 2)]);
    assert_eq!(recovered.entries, expected);
    assert_eq!(recovered.hard_state, HardState { term: 2, vote: 3, commit: 14 });

    let before = segment_files(dir.path()).len();
    wal.compact(12).unwrap();
    assert!(segment_files(dir.path()).len() < before, "segments below the snapshot are deleted");
    let (_, recovered) = Wal::open(dir.path(), options).unwrap();
    assert_eq!(recovered.hard_state, HardState { term: 2, vote: 3, commit: 14 }, "the hard state survives compaction");
    assert_eq!(recovered.entries.last(), Some(&entry(16, 2)));
    assert!(recovered.entries.iter().all(|e| e.index > 12 || e.term == 1));
}

#[test]
fn snapshots_are_saved_whole_and_the_newest_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    assert!(store.load_latest().unwrap().is_none());
    for index in [10, 20, 30] {
        let meta = SnapshotMeta { index, term: 2, conf: ConfState::with_voters([1, 2, 3]) };
        store.save(&Snapshot { meta, data: Bytes::from(format!("state at {index}")) }).unwrap();
    }
    // A temp file left by a crash mid-save is not a snapshot.
    std::fs::write(dir.path().join("snap").join("00000000000000000040.tmp"), b"partial").unwrap();
    let latest = store.load_latest().unwrap().unwrap();
    assert_eq!(latest.meta.index, 30);
    assert_eq!(latest.data, Bytes::from("state at 30"));
    assert_eq!(latest.meta.conf.voters, [1, 2, 3].into());
    let kept = std::fs::read_dir(dir.path().join("snap"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "snap"));
    assert_eq!(kept.count(), 2, "older snapshots are deleted");

    let newest = dir.path().join("snap").join("00000000000000000030.snap");
    let mut bytes = std::fs::read(&newest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&newest, bytes).unwrap();
    assert!(matches!(store.load_latest(), Err(StorageError::Corrupt { .. })), "a damaged snapshot is refused");
}

#[test]
fn a_data_directory_of_another_node_or_cluster_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(check_identity(dir.path(), "alpha", 1).unwrap(), "a new directory is initialized");
    assert!(!check_identity(dir.path(), "alpha", 1).unwrap());
    let other_node = check_identity(dir.path(), "alpha", 2).unwrap_err().to_string();
    assert!(other_node.contains("node=1") && other_node.contains("node=2"), "{other_node}");
    let other_cluster = check_identity(dir.path(), "beta", 1).unwrap_err().to_string();
    assert!(other_cluster.contains("cluster=alpha") && other_cluster.contains("cluster=beta"), "{other_cluster}");
}
