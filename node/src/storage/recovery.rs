//! Replaying records into the log they describe.

use std::path::{Path, PathBuf};

use super::StorageError;
use super::batch::{Item, StoredEntry, StoredHardState};

/// What the log held at open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    pub hard_state: StoredHardState,
    /// Entries up to this index are covered by a snapshot (0: none yet).
    pub compacted: u64,
    /// The live entries, `compacted + 1 ..`, contiguous.
    pub entries: Vec<StoredEntry>,
}

impl Recovered {
    pub fn last_index(&self) -> u64 {
        self.entries.last().map_or(self.compacted, |e| e.index)
    }
}

/// An entry appended where its predecessor was not: fine if a snapshot
/// covers the predecessor by the end, damage otherwise.
struct Gap {
    index: u64,
    file: PathBuf,
    offset: u64,
    reason: String,
}

/// The log as the records replayed so far describe it.
///
/// Once compaction has deleted the oldest segments, replay starts part-way
/// through the log, and a compaction record early in what is left may be
/// followed by entries whose predecessors were in the deleted segments
/// (a later compaction covered them). So gaps are noted as they appear and
/// judged at the end, against the final compaction point.
pub struct Replay {
    log: Recovered,
    gaps: Vec<Gap>,
    /// Whether replay starts at the beginning of the log, or a compaction or
    /// installed snapshot record has said where the live log begins.
    anchored: bool,
    first_file: PathBuf,
}

impl Replay {
    /// `first_file`: the oldest segment; `from_start`: it is the first one
    /// ever written.
    pub fn new(first_file: &Path, from_start: bool) -> Replay {
        Replay { log: Recovered::default(), gaps: Vec::new(), anchored: from_start, first_file: first_file.into() }
    }

    /// Applies one item of the record at `offset` in `file`.
    pub fn apply(&mut self, item: Item, file: &Path, offset: u64) -> Result<(), StorageError> {
        let log = &mut self.log;
        match item {
            Item::InstalledSnapshot(index) => {
                log.entries.clear();
                self.gaps.clear();
                log.compacted = index;
                self.anchored = true;
            }
            Item::Entry(e) => {
                if e.index <= log.compacted {
                    let reason = format!("entry {} at or below the compaction point {}", e.index, log.compacted);
                    return Err(StorageError::Corrupt { file: file.into(), offset, reason });
                }
                log.entries.truncate(log.entries.partition_point(|x| x.index < e.index));
                self.gaps.retain(|g| g.index < e.index);
                let last = log.last_index();
                if e.index != last + 1 {
                    let reason = format!("entry {} follows entry {last}: a segment is missing", e.index);
                    self.gaps.push(Gap { index: e.index, file: file.into(), offset, reason });
                }
                log.entries.push(e);
            }
            Item::HardState(hs) => log.hard_state = hs,
            Item::Compacted(index) => {
                self.anchored = true;
                if index > log.compacted {
                    log.entries.drain(..log.entries.partition_point(|x| x.index <= index));
                    self.gaps.retain(|g| g.index > index + 1);
                    log.compacted = index;
                }
            }
        }
        Ok(())
    }

    /// The log, once every record is applied.
    pub fn finish(self) -> Result<Recovered, StorageError> {
        if !self.anchored {
            let reason = "the log does not start here, yet no compaction record says why: a segment is missing";
            return Err(StorageError::Corrupt { file: self.first_file, offset: 0, reason: reason.into() });
        }
        match self.gaps.into_iter().next() {
            Some(gap) => Err(StorageError::Corrupt { file: gap.file, offset: gap.offset, reason: gap.reason }),
            None => Ok(self.log),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Item {
        Item::Entry(StoredEntry { index, term, kind: 0, data: Default::default() })
    }

    fn replay(from_start: bool, items: impl IntoIterator<Item = Item>) -> Result<(u64, Vec<(u64, u64)>), String> {
        let mut r = Replay::new(Path::new("first"), from_start);
        for (offset, item) in items.into_iter().enumerate() {
            r.apply(item, Path::new("f"), offset as u64).map_err(|e| e.to_string())?;
        }
        let log = r.finish().map_err(|e| e.to_string())?;
        Ok((log.compacted, log.entries.iter().map(|e| (e.index, e.term)).collect()))
    }

    #[test]
    fn an_entry_replaces_the_suffix_it_lands_in() {
        let log = replay(true, [entry(1, 1), entry(2, 1), entry(3, 1), entry(2, 2)]);
        assert_eq!(log.unwrap(), (0, vec![(1, 1), (2, 2)]));
    }

    #[test]
    fn a_gap_the_end_does_not_cover_is_refused_where_it_appeared() {
        let err = replay(true, [entry(1, 1), entry(3, 1), entry(4, 1)]).unwrap_err();
        assert_eq!(err, "f: corrupt at byte 1: entry 3 follows entry 1: a segment is missing");
        assert!(replay(true, [entry(2, 1)]).is_err());
        assert!(replay(true, [entry(1, 1), entry(3, 1), Item::Compacted(1)]).is_err());
        assert_eq!(replay(true, [entry(1, 1), entry(3, 1), Item::Compacted(2)]).unwrap(), (2, vec![(3, 1)]));
        assert_eq!(replay(true, [entry(1, 1), entry(3, 1), entry(2, 2)]).unwrap(), (0, vec![(1, 1), (2, 2)]));
    }

    #[test]
    fn an_installed_snapshot_discards_the_whole_log() {
        let log = replay(true, [entry(1, 1), entry(2, 1), Item::InstalledSnapshot(50), entry(51, 3)]);
        assert_eq!(log.unwrap(), (50, vec![(51, 3)]));
    }

    #[test]
    fn a_rewrite_of_a_compacted_entry_is_refused() {
        let err = replay(true, [entry(1, 1), entry(2, 1), Item::Compacted(2), entry(2, 2)]).unwrap_err();
        assert!(err.contains("entry 2 at or below the compaction point 2"), "{err}");
    }

    #[test]
    fn a_log_whose_start_was_deleted_is_judged_by_its_last_compaction_record() {
        // Compacted to 4 while entry 5 was live, then to 7: the segment with
        // entry 5 was deleted, so entry 6 follows the first record.
        let log = replay(false, [Item::Compacted(4), entry(6, 1), entry(7, 1), entry(8, 1), Item::Compacted(7)]);
        assert_eq!(log.unwrap(), (7, vec![(8, 1)]));
        let err = replay(false, [entry(8, 1)]).unwrap_err();
        assert!(err.starts_with("first: corrupt at byte 0: the log does not start here"), "{err}");
        assert!(replay(false, [Item::Compacted(4), entry(6, 1)]).is_err());
    }
}
