//! Durable state of a node: a segmented write-ahead log of entries and hard
//! states, snapshot files, and the identity of the data directory.
//!
//! ```text
//! DIR/identity          cluster and node id this directory belongs to
//! DIR/wal/<first>.wal   segments named by the first index they may hold
//! DIR/snap/<index>.snap the newest snapshots
//! ```
//! A WAL record is `len: u32 | crc32c(payload): u32 | payload`, little
//! endian. Appending an entry at index i discards every entry >= i written
//! before: a truncation needs no record of its own.

mod record;
mod snapshot;
mod wal;

use std::io;
use std::path::{Path, PathBuf};

pub use snapshot::SnapshotStore;
pub use wal::{Wal, WalOptions};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "{file}: corrupt at byte {offset}: {reason} (records after it are valid, so this is not a torn write; refusing to start)"
    )]
    Corrupt { file: PathBuf, offset: u64, reason: String },
    #[error("{dir} belongs to {found}, not to {expected}")]
    WrongIdentity { dir: PathBuf, found: String, expected: String },
    #[error("{path}: the disk is full")]
    NoSpace { path: PathBuf },
    #[error("{path}: the file system is read-only")]
    ReadOnly { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl StorageError {
    pub fn io(path: &Path, source: io::Error) -> StorageError {
        let path = path.to_path_buf();
        match source.raw_os_error() {
            Some(28) => StorageError::NoSpace { path },
            Some(30) => StorageError::ReadOnly { path },
            _ => StorageError::Io { path, source },
        }
    }
}

/// Checks (or, for a new directory, writes) which cluster and node a data
/// directory belongs to, so a node never starts on another node's data.
pub fn check_identity(dir: &Path, cluster: &str, node_id: u64) -> Result<bool, StorageError> {
    std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
    let path = dir.join("identity");
    let expected = format!("cluster={cluster} node={node_id}");
    match std::fs::read_to_string(&path) {
        Ok(found) if found.trim() == expected => Ok(false),
        Ok(found) => {
            Err(StorageError::WrongIdentity { dir: dir.to_path_buf(), found: found.trim().to_string(), expected })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            snapshot::write_durably(&path, format!("{expected}\n").as_bytes())?;
            Ok(true)
        }
        Err(e) => Err(StorageError::io(&path, e)),
    }
}

/// fsyncs a directory, so that a file created or renamed in it survives a
/// crash (the name lives in the directory, not in the file).
pub fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(|e| StorageError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_or_read_only_disk_gets_its_own_error() {
        // /dev/full answers every write with ENOSPC, as a full disk does.
        let mut full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let e = io::Write::write_all(&mut full, b"x").and_then(|()| io::Write::flush(&mut full)).unwrap_err();
        let e = StorageError::io(Path::new("/dev/full"), e);
        assert!(matches!(e, StorageError::NoSpace { .. }), "{e}");
        assert!(e.to_string().contains("/dev/full: the disk is full"));
        let e = StorageError::io(Path::new("/data"), io::Error::from_raw_os_error(30));
        assert!(matches!(e, StorageError::ReadOnly { .. }), "EROFS");
    }
}
