//! What can go wrong on disk, sorted by what the caller does about it.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Damage that is not a write cut short by a crash: refuse to start, an
    /// operator must look (restore the node from its peers).
    #[error("{file}: corrupt at byte {offset}: {reason}")]
    Corrupt { file: PathBuf, offset: u64, reason: String },
    /// The data directory belongs to another node or cluster.
    #[error(
        "{dir} belongs to cluster={found_cluster} node={found_node}, not to cluster={expected_cluster} node={expected_node}"
    )]
    WrongIdentity { dir: PathBuf, found_cluster: String, found_node: u64, expected_cluster: String, expected_node: u64 },
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
    /// A write or fsync failed earlier. The kernel may have dropped the dirty
    /// pages it could not write, so a later fsync that succeeds proves
    /// nothing: the log takes no more writes until it is reopened and replayed.
    #[error("{path}: an earlier write failed; reopen the log to recover")]
    Failed { path: PathBuf },
    /// Bytes that passed their checksum but do not decode as the caller's
    /// type: a bug or a version mismatch, never a torn write.
    #[error("{what}: {reason}")]
    Undecodable { what: String, reason: String },
    /// The caller asked for a log that Raft never produces (a gap, a rewrite
    /// of compacted entries): a bug in the caller, refused before any write.
    #[error("invalid write: {0}")]
    Invalid(String),
}

impl StorageError {
    /// Sorts an I/O error: a full or read-only disk is its own variant.
    pub fn io(path: &Path, source: io::Error) -> StorageError {
        let path = path.to_path_buf();
        match source.raw_os_error() {
            Some(28) => StorageError::NoSpace { path },
            Some(30) => StorageError::ReadOnly { path },
            _ => StorageError::Io { path, source },
        }
    }
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
        assert_eq!(e.to_string(), "/dev/full: the disk is full");
        let e = StorageError::io(Path::new("/data"), io::Error::from_raw_os_error(30));
        assert!(matches!(e, StorageError::ReadOnly { .. }), "EROFS");
        let e = StorageError::io(Path::new("/data"), io::Error::from_raw_os_error(5));
        assert_eq!(e.to_string(), "/data: Input/output error (os error 5)");
    }
}
