//! Durable state of a node: a segmented write-ahead log of entries and hard
//! states, snapshot files, and the identity of the data directory.
//!
//! ```text
//! DIR/identity                      the cluster and node id it belongs to
//! DIR/wal/<seq>-<first index>.wal   log segments, replayed in seq order
//! DIR/wal/durable                   how far the log is synced (tests only)
//! DIR/snap/<index>.snap             the newest two snapshots
//! ```
//!
//! Storage knows nothing of the Raft core: [`wal::Wal`] and
//! [`snapshot::SnapshotStore`] take [`StoredEntry`], [`StoredHardState`] and
//! [`StoredSnapshot`]. [`Wal`], [`SnapshotStore`] and [`Recovered`] at this
//! module's root are the node's glue, in the core's types (`raft_glue.rs`).
//!
//! Each WAL record is `len: u32 | crc32c(payload): u32 | payload` and holds
//! one [`Batch`]: a hard state, entries, an installed snapshot. One record
//! and one fdatasync per batch make a group commit atomic: after a crash a
//! batch is there whole or not at all.

mod batch;
pub mod damage;
mod error;
mod identity;
pub mod power_loss;
mod raft_glue;
mod record;
mod recovery;
mod segment;
pub mod snapshot;
pub mod wal;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use batch::{Batch, StoredEntry, StoredHardState};
pub use error::StorageError;
pub use identity::check_identity;
pub use raft_glue::{Recovered, SnapshotStore, Wal, entries_after};
pub use segment::records_end;
pub use snapshot::StoredSnapshot;
pub use wal::WalOptions;

/// fsyncs a directory, so that a file created, renamed or deleted in it stays
/// so after a crash: a name lives in the directory, not in the file.
fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(|e| StorageError::io(dir, e))
}

/// Creates `dir` if missing, durably: a data directory that a crash unmade
/// would bring the node back empty, free to vote again in a term it voted in.
fn create_dir(dir: &Path) -> Result<(), StorageError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
    sync_dir(dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))
}

/// Writes `parts` to `path` so that after return the file is there whole
/// after any crash, and before it either the old file or none: a temporary
/// file, fsynced, renamed over `path`, then the directory fsynced.
pub fn write_durably(path: &Path, parts: &[&[u8]]) -> Result<(), StorageError> {
    let tmp = write_temporary(path, parts)?;
    publish(&tmp, path)
}

/// The first half of [`write_durably`]: `parts` in `path`.tmp, fsynced.
fn write_temporary(path: &Path, parts: &[&[u8]]) -> Result<PathBuf, StorageError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
    for part in parts {
        file.write_all(part).map_err(|e| StorageError::io(&tmp, e))?;
    }
    file.sync_all().map_err(|e| StorageError::io(&tmp, e))?;
    Ok(tmp)
}

/// The second half of [`write_durably`]: the temporary file renamed over
/// `path`, and the directory fsynced.
fn publish(tmp: &Path, path: &Path) -> Result<(), StorageError> {
    std::fs::rename(tmp, path).map_err(|e| StorageError::io(path, e))?;
    sync_dir(path.parent().expect("a file lives in a directory"))
}
