//! Segment files and reading one back.
//!
//! A segment is named `<seq>-<first index>.wal`: its place in the log, then
//! the index its first entry was expected at. The log is replayed in `seq`
//! order. Names by first index alone would sort wrongly once a conflict
//! rewrites entries that an earlier segment holds.

use std::path::{Path, PathBuf};

use tracing::warn;

use super::StorageError;
use super::batch::{self, Frame};
use super::record::{self, Decoded};

pub struct SegmentFile {
    pub seq: u64,
    pub path: PathBuf,
}

pub fn file_name(seq: u64, first_index: u64) -> String {
    format!("{seq:016}-{first_index:020}.wal")
}

fn parse_name(name: &str) -> Option<(u64, u64)> {
    let (seq, first_index) = name.strip_suffix(".wal")?.split_once('-')?;
    Some((seq.parse().ok()?, first_index.parse().ok()?))
}

/// The segments in `dir`, in log order. Other files are not ours to judge.
pub fn list(dir: &Path) -> Result<Vec<SegmentFile>, StorageError> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))? {
        let entry = entry.map_err(|e| StorageError::io(dir, e))?;
        let Some((seq, _first_index)) = entry.file_name().to_str().and_then(parse_name) else { continue };
        segments.push(SegmentFile { seq, path: entry.path() });
    }
    segments.sort_by_key(|s| s.seq);
    Ok(segments)
}

/// The intact records of one segment, with their byte offsets.
pub struct Scanned {
    pub frames: Vec<(u64, Frame)>,
    /// Where the intact records end, if a torn write follows them.
    pub torn_at: Option<u64>,
    /// Where the intact records end: the next record goes here.
    pub end: u64,
}

/// Reads a segment. `prev_seq` is the batch number of the last record before
/// it, if any: batch numbers go up by one, so a gap means a lost segment.
///
/// Damage (a short or bad record) is a torn write, cut off, only when it is
/// in the last segment and no intact record of a later batch follows it. A
/// batch is written only after the fsync of the one before returned (one
/// written without a sync is provisional: the next is written over it), so
/// an intact later batch proves the damaged one had been made durable: bit
/// rot, or a bug, and the file is refused. Damage in an earlier segment is always
/// refused, as a new segment is started only after the old one was synced.
/// Zeros from the end of the records to the end of the last segment are the
/// space it was given in advance (see wal.rs), not damage.
pub fn scan(path: &Path, last: bool, mut prev_seq: Option<u64>) -> Result<Scanned, StorageError> {
    let buf = std::fs::read(path).map_err(|e| StorageError::io(path, e))?;
    let corrupt = |offset: usize, reason: String| StorageError::Corrupt {
        file: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    let mut frames = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let damage = match record::decode(&buf[at..]) {
            Decoded::Record { payload, len } => {
                let frame = batch::decode(payload).map_err(|reason| corrupt(at, reason))?;
                if let Some(prev) = prev_seq
                    && frame.seq != prev + 1
                {
                    let reason =
                        format!("batch {} follows batch {prev}: a segment is missing or out of place", frame.seq);
                    return Err(corrupt(at, reason));
                }
                prev_seq = Some(frame.seq);
                frames.push((at as u64, frame));
                at += len;
                continue;
            }
            Decoded::Truncated => "the file ends inside a record",
            Decoded::Bad(why) => why,
        };
        if last && all_zeros(&buf[at..]) {
            return Ok(Scanned { frames, torn_at: None, end: at as u64 });
        }
        if let Some((later, seq)) = later_batch(&buf, at, prev_seq) {
            let reason = format!("{damage}, yet batch {seq} at byte {later} after it is intact");
            return Err(corrupt(at, reason));
        }
        if !last {
            return Err(corrupt(at, format!("{damage}, in a segment that is not the last")));
        }
        warn!(file = %path.display(), offset = at, reason = damage, "a write torn by a crash ends the log");
        return Ok(Scanned { frames, torn_at: Some(at as u64), end: at as u64 });
    }
    Ok(Scanned { frames, torn_at: None, end: at as u64 })
}

/// By blocks, compared as slices (memcmp): a preallocated tail is megabytes.
fn all_zeros(bytes: &[u8]) -> bool {
    const ZEROS: [u8; 4096] = [0; 4096];
    bytes.chunks(ZEROS.len()).all(|block| block == &ZEROS[..block.len()])
}

/// Where the intact records at the start of a segment end, without
/// checking what they hold: how much of a file is log, for tools that cut
/// or damage one (its preallocated tail is not).
pub fn records_end(path: &Path) -> Result<u64, StorageError> {
    let buf = std::fs::read(path).map_err(|e| StorageError::io(path, e))?;
    let mut at = 0;
    while let Decoded::Record { len, .. } = record::decode(&buf[at..]) {
        at += len;
    }
    Ok(at as u64)
}

/// The first intact record after `at` of a batch numbered after `prev_seq`.
/// Bytes that look like an older record (inside an entry's data, or left in
/// reused disk blocks by a deleted segment) prove nothing.
fn later_batch(buf: &[u8], at: usize, prev_seq: Option<u64>) -> Option<(usize, u64)> {
    (at + 1..buf.len()).find_map(|i| match record::decode(&buf[i..]) {
        Decoded::Record { payload, .. } => {
            let seq = batch::decode(payload).ok()?.seq;
            prev_seq.is_none_or(|prev| seq > prev).then_some((i, seq))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_in_log_order_and_parse_back() {
        assert_eq!(file_name(2, 15), "0000000000000002-00000000000000000015.wal");
        assert_eq!(parse_name(&file_name(2, 15)), Some((2, 15)));
        assert_eq!(parse_name("0000000000000002.wal"), None);
        assert_eq!(parse_name("0000000000000002-00000000000000000015.wal.tmp"), None);
    }
}
