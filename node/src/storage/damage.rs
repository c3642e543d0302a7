//! Damaging a stopped node's files, for tests: bit rot in a WAL segment or
//! in a snapshot. The node must refuse to start on either, naming the file
//! and the offset, rather than serve from it.

use std::path::{Path, PathBuf};

use super::{StorageError, segment};

/// Flips one byte of the newest WAL segment a third of the way in: inside
/// a record that intact records follow, so that it reads as bit rot and not
/// as a write a crash tore. Returns the file and the offset.
pub fn flip_wal_byte(data_dir: &Path) -> Result<(PathBuf, u64), StorageError> {
    let segments = segment::list(&data_dir.join("wal"))?;
    let newest =
        segments.last().ok_or_else(|| StorageError::Invalid(format!("{}: no WAL segment", data_dir.display())))?;
    let path = newest.path.clone();
    let len = segment::records_end(&path)?;
    flip(path, len / 3)
}

/// Flips one byte in the middle of the newest snapshot. Returns the file
/// and the offset.
pub fn flip_snapshot_byte(data_dir: &Path) -> Result<(PathBuf, u64), StorageError> {
    let dir = data_dir.join("snap");
    let mut snapshots = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| StorageError::io(&dir, e))? {
        let path = entry.map_err(|e| StorageError::io(&dir, e))?.path();
        if path.extension().is_some_and(|e| e == "snap") {
            snapshots.push(path);
        }
    }
    // Names are zero-padded indexes: the greatest is the newest.
    snapshots.sort();
    let newest = snapshots.pop().ok_or_else(|| StorageError::Invalid(format!("{}: no snapshot", dir.display())))?;
    let len = std::fs::metadata(&newest).map_err(|e| StorageError::io(&newest, e))?.len();
    flip(newest, len / 2)
}

fn flip(path: PathBuf, offset: u64) -> Result<(PathBuf, u64), StorageError> {
    let mut bytes = std::fs::read(&path).map_err(|e| StorageError::io(&path, e))?;
    let byte =
        bytes.get_mut(offset as usize).ok_or_else(|| StorageError::Invalid(format!("{}: empty", path.display())))?;
    *byte ^= 0x5a;
    std::fs::write(&path, &bytes).map_err(|e| StorageError::io(&path, e))?;
    Ok((path, offset))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::storage::snapshot::{SnapshotStore, StoredSnapshot};

    #[test]
    fn a_flipped_snapshot_byte_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(&dir.path().join("snap")).unwrap();
        let data = Bytes::from(vec![7u8; 100]);
        store.save(&StoredSnapshot { index: 7, term: 2, membership: Bytes::from_static(b"m"), data }).unwrap();
        let (file, _) = flip_snapshot_byte(dir.path()).unwrap();
        let e = store.load_latest().unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: corrupt at byte 8: checksum mismatch", file.display())), "{e}");
    }
}
