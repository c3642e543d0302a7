//! Simulating a power cut for tests: what a crash of the machine, not just of
//! the process, would take away.
//!
//! SIGKILL leaves everything written in the page cache, so killed nodes lose
//! nothing and a node that acknowledges before it syncs is never caught. With
//! [`WalOptions::track_durable`](super::WalOptions) the WAL notes in
//! `wal/durable` how far it has fdatasynced, after each sync and before
//! anything is acknowledged. After the process is dead, [`drop_unsynced`]
//! cuts the log back to that point: the worst a power cut may do (LazyFS in
//! Jepsen does the same below the file system).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{StorageError, segment};

const MARKER: &str = "durable";
/// Fixed size, so that each update is one write over the last.
const MARKER_LEN: usize = 64;

/// The durable prefix of the log: every segment before `seq`, and the first
/// `len` bytes of segment `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurablePoint {
    pub seq: u64,
    pub len: u64,
}

pub struct Marker(File);

impl Marker {
    pub fn create(wal_dir: &Path) -> Result<Marker, StorageError> {
        let path = wal_dir.join(MARKER);
        let file = OpenOptions::new().create(true).write(true).truncate(false).open(&path);
        file.map(Marker).map_err(|e| StorageError::io(&path, e))
    }

    /// Records that the log is durable up to `point`. Not synced itself: it
    /// only has to survive the process, which the page cache sees to.
    pub fn set(&self, point: DurablePoint) -> std::io::Result<()> {
        let mut text = format!("{} {}", point.seq, point.len).into_bytes();
        text.resize(MARKER_LEN - 1, b' ');
        text.push(b'\n');
        self.0.write_all_at(&text, 0)
    }
}

/// What [`drop_unsynced`] took away.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    pub segments_deleted: usize,
    pub bytes_cut: u64,
}

/// Cuts the WAL of a stopped node in `data_dir` back to what it had made
/// durable. Refuses a directory whose node did not track it.
pub fn drop_unsynced(data_dir: &Path) -> Result<Dropped, StorageError> {
    let wal_dir = data_dir.join("wal");
    let path = wal_dir.join(MARKER);
    let text = std::fs::read_to_string(&path).map_err(|e| StorageError::io(&path, e))?;
    let point = parse(&text).ok_or_else(|| {
        StorageError::Invalid(format!("{}: expected \"SEQ LEN\", found {:?}", path.display(), text.trim()))
    })?;
    let mut dropped = Dropped::default();
    // Bytes cut count the log's records, not the space preallocated after them.
    for file in segment::list(&wal_dir)? {
        if file.seq > point.seq {
            let records = segment::records_end(&file.path)?;
            std::fs::remove_file(&file.path).map_err(|e| StorageError::io(&file.path, e))?;
            dropped.segments_deleted += 1;
            dropped.bytes_cut += records;
        } else if file.seq == point.seq {
            let len = std::fs::metadata(&file.path).map_err(|e| StorageError::io(&file.path, e))?.len();
            if len > point.len {
                let records = segment::records_end(&file.path)?;
                let f = OpenOptions::new().write(true).open(&file.path).map_err(|e| StorageError::io(&file.path, e))?;
                f.set_len(point.len).map_err(|e| StorageError::io(&file.path, e))?;
                dropped.bytes_cut += records.saturating_sub(point.len);
            }
        }
    }
    Ok(dropped)
}

fn parse(text: &str) -> Option<DurablePoint> {
    let (seq, len) = text.trim().split_once(' ')?;
    Some(DurablePoint { seq: seq.parse().ok()?, len: len.trim().parse().ok()? })
}
