//! Snapshot files: `<index>.snap`, each written to a temporary file,
//! fsynced, then renamed into place. The newest two are kept.
//!
//! ```text
//! magic "RSSNAP01" | crc32c of the rest: u32 | index: u64 | term: u64
//!   | membership length: u32 | membership | data
//! ```

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{StorageError, create_dir, publish, write_temporary};

const MAGIC: &[u8; 8] = b"RSSNAP01";
const HEADER: usize = MAGIC.len() + 4 + 8 + 8 + 4;

/// How many snapshot files to keep: the newest, and one before it.
const KEEP: usize = 2;

/// A state-machine image that replaces the log up to `index`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredSnapshot {
    pub index: u64,
    pub term: u64,
    /// The membership as of `index`, in the caller's encoding.
    pub membership: Bytes,
    pub data: Bytes,
}

pub struct SnapshotStore {
    dir: PathBuf,
}

impl SnapshotStore {
    /// Opens (or creates) the snapshot directory `dir`.
    pub fn open(dir: &Path) -> Result<SnapshotStore, StorageError> {
        create_dir(dir)?;
        for name in file_names(dir)? {
            if name.ends_with(".snap.tmp") {
                // A save that a crash cut short: nothing refers to it.
                let path = dir.join(name);
                std::fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
            }
        }
        Ok(SnapshotStore { dir: dir.to_path_buf() })
    }

    fn path(&self, index: u64) -> PathBuf {
        self.dir.join(format!("{index:020}.snap"))
    }

    /// The indexes of the snapshot files, oldest first.
    fn indexes(&self) -> Result<Vec<u64>, StorageError> {
        let mut indexes: Vec<u64> =
            file_names(&self.dir)?.iter().filter_map(|name| name.strip_suffix(".snap")?.parse().ok()).collect();
        indexes.sort_unstable();
        Ok(indexes)
    }

    /// Saves a snapshot durably, then deletes all but the newest two.
    pub fn save(&self, snapshot: &StoredSnapshot) -> Result<(), StorageError> {
        let mut head = [0u8; HEADER - MAGIC.len() - 4];
        head[..8].copy_from_slice(&snapshot.index.to_le_bytes());
        head[8..16].copy_from_slice(&snapshot.term.to_le_bytes());
        head[16..].copy_from_slice(&(snapshot.membership.len() as u32).to_le_bytes());
        let body = [&head[..], &snapshot.membership, &snapshot.data];
        let crc = body.iter().fold(0, |crc, part| crc32c::crc32c_append(crc, part));
        let path = self.path(snapshot.index);
        let tmp = write_temporary(&path, &[MAGIC, &crc.to_le_bytes(), &head, &snapshot.membership, &snapshot.data])?;
        crate::failpoints::crash("crash-in-snapshot-save");
        publish(&tmp, &path)?;
        let indexes = self.indexes()?;
        // An old snapshot that a crash brings back is only older: no fsync.
        for old in &indexes[..indexes.len().saturating_sub(KEEP)] {
            let path = self.path(*old);
            std::fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
        }
        Ok(())
    }

    /// The newest snapshot, if any. A damaged newest file is an error, not a
    /// reason to fall back: the log it let us compact is gone.
    pub fn load_latest(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        let Some(&index) = self.indexes()?.last() else { return Ok(None) };
        let path = self.path(index);
        let buf = Bytes::from(std::fs::read(&path).map_err(|e| StorageError::io(&path, e))?);
        decode(&buf).map(Some).map_err(|(offset, reason)| StorageError::Corrupt { file: path, offset, reason })
    }
}

fn decode(buf: &Bytes) -> Result<StoredSnapshot, (u64, String)> {
    if buf.len() < HEADER {
        return Err((0, format!("{} bytes is shorter than a snapshot header", buf.len())));
    }
    if &buf[..8] != MAGIC {
        return Err((0, "not a snapshot file".into()));
    }
    let u64_at = |at: usize| u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
    if crc32c::crc32c(&buf[12..]) != crc {
        return Err((8, "checksum mismatch".into()));
    }
    let membership_len = u32::from_le_bytes(buf[28..32].try_into().expect("4 bytes")) as usize;
    if membership_len > buf.len() - HEADER {
        return Err((28, format!("a membership of {membership_len} bytes overruns the file")));
    }
    let data_at = HEADER + membership_len;
    Ok(StoredSnapshot {
        index: u64_at(12),
        term: u64_at(20),
        membership: buf.slice(HEADER..data_at),
        data: buf.slice(data_at..),
    })
}

fn file_names(dir: &Path) -> Result<Vec<String>, StorageError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))? {
        let entry = entry.map_err(|e| StorageError::io(dir, e))?;
        names.extend(entry.file_name().into_string().ok());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_header_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(dir.path()).unwrap();
        let snapshot = StoredSnapshot { index: 7, term: 2, membership: Bytes::from_static(b"m"), data: Bytes::new() };
        store.save(&snapshot).unwrap();
        let path = store.path(7);
        let whole = std::fs::read(&path).unwrap();
        for cut in 0..whole.len() {
            std::fs::write(&path, &whole[..cut]).unwrap();
            assert!(matches!(store.load_latest(), Err(StorageError::Corrupt { .. })), "cut at {cut}");
        }
        std::fs::write(&path, &whole).unwrap();
        assert_eq!(store.load_latest().unwrap(), Some(snapshot));
    }
}
