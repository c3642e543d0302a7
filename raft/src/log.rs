//! The log as the core sees it: a snapshot, then the entries after it, with
//! the marks that say how far they are handed out, durable, committed and applied.

use std::collections::VecDeque;

use crate::types::{Entry, RejectHint, Snapshot};

/// Invariants: `snapshot.meta.index <= applied <= committed <= last_index()`;
/// `persisted <= last_index()`; every entry below `unstable` has been handed to
/// the driver to persist; `committed` never decreases.
pub(crate) struct RaftLog {
    snapshot: Snapshot,
    /// Entries `snapshot.meta.index + 1 ..= last_index()`.
    entries: VecDeque<Entry>,
    pub committed: u64,
    /// Highest index handed out to be applied.
    pub applied: u64,
    /// Highest index known durable on this node.
    pub persisted: u64,
    /// First index not yet handed out to be persisted.
    pub unstable: u64,
    /// A snapshot received from the leader, to be handed out, persisted and
    /// restored into the state machine.
    pub snapshot_to_install: bool,
}

impl RaftLog {
    /// A log restored from durable state: everything given here is persisted.
    pub fn restore(snapshot: Snapshot, entries: Vec<Entry>, committed: u64) -> Self {
        let first = snapshot.meta.index + 1;
        let entries: VecDeque<Entry> = entries.into_iter().skip_while(|e| e.index < first).collect();
        for (offset, e) in entries.iter().enumerate() {
            assert_eq!(e.index, first + offset as u64, "restored entries must be contiguous after the snapshot");
        }
        let applied = snapshot.meta.index;
        let mut log =
            RaftLog { snapshot, entries, committed: 0, applied, persisted: 0, unstable: 0, snapshot_to_install: false };
        log.persisted = log.last_index();
        log.unstable = log.last_index() + 1;
        log.committed = committed.clamp(applied, log.last_index());
        log
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    pub fn first_index(&self) -> u64 {
        self.snapshot.meta.index + 1
    }

    pub fn last_index(&self) -> u64 {
        self.snapshot.meta.index + self.entries.len() as u64
    }

    pub fn last_term(&self) -> u64 {
        self.term(self.last_index()).expect("the last index always has a term")
    }

    /// The term at `index`, or None when it is compacted away or beyond the end.
    pub fn term(&self, index: u64) -> Option<u64> {
        let snap = &self.snapshot.meta;
        if index == snap.index {
            return Some(snap.term);
        }
        if index < snap.index || index > self.last_index() {
            return None;
        }
        Some(self.entries[(index - snap.index - 1) as usize].term)
    }

    pub fn entry(&self, index: u64) -> Option<&Entry> {
        let first = self.first_index();
        if index < first {
            return None;
        }
        self.entries.get((index - first) as usize)
    }

    pub fn matches(&self, index: u64, term: u64) -> bool {
        self.term(index) == Some(term)
    }

    /// Raft §5.4.1: a candidate's log is at least as up to date as ours.
    pub fn is_up_to_date(&self, last_index: u64, last_term: u64) -> bool {
        last_term > self.last_term() || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// The follower side of Append: if our log holds `prev`, append `entries`
    /// (truncating a conflicting suffix) and return the index of the last entry
    /// the leader sent, which our log now shares with it.
    pub fn maybe_append(&mut self, prev_index: u64, prev_term: u64, entries: &[Entry]) -> Option<u64> {
        if !self.matches(prev_index, prev_term) {
            return None;
        }
        let last_new = prev_index + entries.len() as u64;
        let conflict = entries.iter().position(|e| !self.matches(e.index, e.term));
        if let Some(at) = conflict {
            self.append(entries[at..].to_vec());
        }
        Some(last_new)
    }

    /// Appends entries, truncating whatever stands at and after the first one.
    pub fn append(&mut self, entries: Vec<Entry>) {
        let Some(first) = entries.first() else { return };
        let at = first.index;
        assert!(at > self.committed, "truncating committed entry {at} (committed {})", self.committed);
        assert!(at <= self.last_index() + 1, "gap: appending {at} after {}", self.last_index());
        self.entries.truncate((at - self.first_index()) as usize);
        self.persisted = self.persisted.min(at - 1);
        self.unstable = self.unstable.min(at);
        self.entries.extend(entries);
    }

    /// Our last entry at or before `index` whose term is at most `term`: where a
    /// log ending at (`index`, `term`) can first agree with ours.
    pub fn find_conflict_by_term(&self, index: u64, term: u64) -> RejectHint {
        let mut i = index.min(self.last_index());
        while let Some(t) = self.term(i) {
            if t <= term || i == self.snapshot.meta.index {
                return RejectHint { index: i, term: t };
            }
            i -= 1;
        }
        RejectHint { index: self.snapshot.meta.index, term: self.snapshot.meta.term }
    }

    /// Entries from `lo` on, at most `max_count` and, past the first, `max_bytes`.
    /// None when `lo` is compacted away (the follower needs a snapshot).
    pub fn entries_from(&self, lo: u64, max_count: usize, max_bytes: usize) -> Option<Vec<Entry>> {
        if lo < self.first_index() {
            return None;
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut index = lo;
        while let Some(e) = self.entry(index) {
            bytes += e.payload.size();
            if out.len() == max_count || (!out.is_empty() && bytes > max_bytes) {
                break;
            }
            out.push(e.clone());
            index += 1;
        }
        Some(out)
    }

    pub fn commit_to(&mut self, index: u64) -> bool {
        if index <= self.committed {
            return false;
        }
        assert!(index <= self.last_index(), "commit {index} beyond last index {}", self.last_index());
        self.committed = index;
        true
    }

    /// Entries committed but not yet handed out to be applied; marks them applied.
    pub fn take_committed(&mut self) -> Vec<Entry> {
        let lo = self.applied + 1;
        let out: Vec<Entry> = (lo..=self.committed).filter_map(|i| self.entry(i).cloned()).collect();
        self.applied = self.committed;
        out
    }

    /// Entries not yet handed out to be persisted; marks them handed out.
    pub fn take_unstable(&mut self) -> Vec<Entry> {
        let lo = self.unstable.max(self.first_index());
        let out: Vec<Entry> = (lo..=self.last_index()).filter_map(|i| self.entry(i).cloned()).collect();
        self.unstable = self.last_index() + 1;
        out
    }

    /// The driver made a write durable whose last entry was (`index`, `term`).
    /// If the entry was since replaced, a later write covers it instead.
    pub fn persisted_to(&mut self, index: u64, term: u64) -> bool {
        if index > self.persisted && index < self.unstable && self.matches(index, term) {
            self.persisted = index;
            return true;
        }
        false
    }

    /// Replaces the whole log with a snapshot received from the leader.
    pub fn install_snapshot(&mut self, snapshot: Snapshot) {
        let index = snapshot.meta.index;
        assert!(index > self.committed, "installing snapshot {index} at or below commit {}", self.committed);
        self.persisted = self.persisted.min(self.committed);
        self.entries.clear();
        self.snapshot = snapshot;
        self.committed = index;
        self.unstable = index + 1;
        self.snapshot_to_install = true;
    }

    /// The installed snapshot is durable.
    pub fn snapshot_persisted(&mut self, index: u64) -> bool {
        if index == self.snapshot.meta.index && index > self.persisted {
            self.persisted = index;
            return true;
        }
        false
    }

    /// Takes the snapshot to install, marking the state machine restored to it.
    pub fn take_snapshot_to_install(&mut self) -> Option<Snapshot> {
        if !std::mem::take(&mut self.snapshot_to_install) {
            return None;
        }
        self.applied = self.snapshot.meta.index;
        Some(self.snapshot.clone())
    }

    /// The driver holds a durable snapshot covering everything up to
    /// `snapshot.meta.index`: forget the entries it covers.
    pub fn compact(&mut self, snapshot: Snapshot) {
        let index = snapshot.meta.index;
        let drop = (index - self.snapshot.meta.index) as usize;
        self.entries.drain(..drop);
        self.snapshot = snapshot;
        self.persisted = self.persisted.max(index);
        self.unstable = self.unstable.max(index + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Payload;

    fn ents(terms: &[(u64, u64)]) -> Vec<Entry> {
        terms.iter().map(|&(index, term)| Entry { index, term, payload: Payload::Noop }).collect()
    }

    fn log_with(terms: &[(u64, u64)]) -> RaftLog {
        RaftLog::restore(Snapshot::default(), ents(terms), 0)
    }

    #[test]
    fn maybe_append_truncates_only_from_the_first_conflict() {
        let mut log = log_with(&[(1, 1), (2, 1), (3, 2)]);
        assert_eq!(log.maybe_append(1, 1, &ents(&[(2, 1), (3, 3), (4, 3)])), Some(4));
        assert_eq!(log.term(3), Some(3));
        assert_eq!(log.last_index(), 4);
        assert_eq!(log.persisted, 2, "the replaced entry is no longer durable");
        assert_eq!(log.unstable, 3);
    }

    #[test]
    fn maybe_append_keeps_a_longer_matching_log() {
        let mut log = log_with(&[(1, 1), (2, 1), (3, 1)]);
        assert_eq!(log.maybe_append(1, 1, &ents(&[(2, 1)])), Some(2));
        assert_eq!(log.last_index(), 3, "a stale, shorter Append must not truncate");
    }

    #[test]
    fn maybe_append_rejects_a_missing_prev() {
        let mut log = log_with(&[(1, 1), (2, 1)]);
        assert_eq!(log.maybe_append(2, 2, &[]), None);
        assert_eq!(log.maybe_append(5, 1, &[]), None);
    }

    #[test]
    fn find_conflict_by_term_skips_whole_terms() {
        let log = log_with(&[(1, 1), (2, 1), (3, 2), (4, 2), (5, 4)]);
        assert_eq!(log.find_conflict_by_term(5, 3), RejectHint { index: 4, term: 2 });
        assert_eq!(log.find_conflict_by_term(9, 4), RejectHint { index: 5, term: 4 });
        assert_eq!(log.find_conflict_by_term(4, 1), RejectHint { index: 2, term: 1 });
        assert_eq!(log.find_conflict_by_term(4, 0), RejectHint { index: 0, term: 0 });
    }

    #[test]
    fn entries_from_respects_count_and_bytes_but_always_sends_one() {
        let mut log = log_with(&[]);
        let big = |index| Entry { index, term: 1, payload: Payload::Command(vec![0; 100].into()) };
        log.append((1..=5).map(big).collect());
        assert_eq!(log.entries_from(1, 10, 250).unwrap().len(), 2);
        assert_eq!(log.entries_from(1, 3, 10_000).unwrap().len(), 3);
        assert_eq!(log.entries_from(1, 10, 10).unwrap().len(), 1);
        assert_eq!(log.entries_from(6, 10, 10).unwrap().len(), 0);
    }

    #[test]
    fn compaction_keeps_terms_at_the_boundary() {
        let mut log = log_with(&[(1, 1), (2, 1), (3, 2)]);
        log.commit_to(3);
        log.take_committed();
        let mut snap = Snapshot::default();
        snap.meta.index = 2;
        snap.meta.term = 1;
        log.compact(snap);
        assert_eq!(log.term(2), Some(1));
        assert_eq!(log.term(1), None);
        assert_eq!(log.entries_from(1, 10, 100), None);
        assert_eq!(log.entries_from(3, 10, 100).unwrap().len(), 1);
    }

    #[test]
    fn persisted_to_ignores_a_replaced_entry() {
        let mut log = log_with(&[]);
        log.append(ents(&[(1, 1), (2, 1)]));
        assert_eq!(log.take_unstable().len(), 2);
        log.append(ents(&[(2, 2)]));
        assert!(!log.persisted_to(2, 1), "entry 2 of term 1 was replaced");
        assert_eq!(log.take_unstable().len(), 1);
        assert!(log.persisted_to(2, 2));
        assert_eq!(log.persisted, 2);
    }
}
