//! Lease and stale reads answered on the gRPC worker that took them, with no
//! hop through the Raft driver's thread (a channel send, a thread woken, a
//! oneshot back): without it the node spends 14% less CPU per lease get
//! (BENCHMARKS.md, issue 13).
//!
//! The driver owns the state machine and keeps it here, under a lock, beside
//! the lease it holds. Why a lease read answered here is linearizable:
//! - The lease is published only once the driver has applied everything
//!   committed, its own term's first entry included, so every write a
//!   previous leader acknowledged is in the state. A write of this term is
//!   acknowledged only after it is applied under the write lock, so a read
//!   that starts after the acknowledgement sees it.
//! - The published lease ends when the core's clock would end it: at the
//!   scheduled time of the tick that reaches the core's `lease_until` (the
//!   driver's ticks are never early, only late, and it catches up before it
//!   answers anything). The core's lease already allows for clock drift.
//! - The driver withdraws the lease before it sends the messages of any
//!   Ready after which the core no longer holds it (a TimeoutNow for a
//!   transfer, a step-down, a newer term), so no other leader can be
//!   elected on anything this node sent while a read here trusted it.
//!
//! A read that finds no lease goes to the driver, which confirms it as the
//! core decides (ReadIndex when the lease is gone).

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use crate::kv::KvState;
use crate::proto::kv::Consistency;
use crate::server::driver::{KvError, ReadAnswer, wall_ns};
use crate::server::metrics::Metrics;

/// The state machine and what may be read from it without the driver.
pub struct LocalReads {
    shared: RwLock<Shared>,
    /// Lease reads served here since the driver last reported them, all in
    /// the published lease's term (the driver takes them before it changes
    /// that term, under the write lock).
    lease_reads: AtomicU64,
    last_lease_read_wall_ns: AtomicU64,
    metrics: Arc<Metrics>,
}

pub struct Shared {
    pub kv: KvState,
    lease: Option<PublishedLease>,
    /// False once the disk failed: the node serves nothing, stale reads
    /// included.
    serving: bool,
}

/// A lease the driver holds: valid on this node's monotonic clock until
/// `until`, in `term`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishedLease {
    pub term: u64,
    pub until: Instant,
}

/// Lease reads served in one term: how many, and when the last was.
#[derive(Debug, PartialEq, Eq)]
pub struct LeaseReads {
    pub term: u64,
    pub last_wall_ns: u64,
    pub count: u64,
}

impl LocalReads {
    pub fn new(kv: KvState, metrics: Arc<Metrics>) -> Arc<LocalReads> {
        Arc::new(LocalReads {
            shared: RwLock::new(Shared { kv, lease: None, serving: true }),
            lease_reads: AtomicU64::new(0),
            last_lease_read_wall_ns: AtomicU64::new(0),
            metrics,
        })
    }

    /// Answers a lease read under a published lease, or any stale read; None
    /// sends the read to the driver.
    pub fn read(&self, key: &str, list: bool, consistency: Consistency) -> Option<Result<ReadAnswer, KvError>> {
        let shared = self.shared.read().expect("not poisoned");
        match consistency {
            Consistency::Stale if shared.serving => {}
            Consistency::Lease if shared.lease.is_some_and(|l| Instant::now() < l.until) => {
                self.lease_reads.fetch_add(1, Relaxed);
                self.last_lease_read_wall_ns.fetch_max(wall_ns(), Relaxed);
            }
            _ => return None,
        }
        self.metrics.reads[consistency as usize].fetch_add(1, Relaxed);
        Some(answer(&shared.kv, key, list))
    }

    pub fn state(&self) -> RwLockReadGuard<'_, Shared> {
        self.shared.read().expect("not poisoned")
    }

    pub fn state_mut(&self) -> RwLockWriteGuard<'_, Shared> {
        self.shared.write().expect("not poisoned")
    }

    /// Replaces the published lease (None withdraws it); returns the lease
    /// reads of the one replaced, if it was of another term or withdrawn.
    pub fn publish(&self, lease: Option<PublishedLease>) -> Option<LeaseReads> {
        let mut shared = self.state_mut();
        let old = shared.lease;
        shared.lease = lease;
        let term_ends = old.is_some_and(|o| lease.is_none_or(|l| l.term != o.term));
        term_ends.then(|| self.take_reads(old.expect("checked above").term)).flatten()
    }

    /// Stops every read here for good: the disk failed.
    pub fn stop_serving(&self) -> Option<LeaseReads> {
        let reads = self.publish(None);
        self.state_mut().serving = false;
        reads
    }

    /// The lease reads served in the published lease's term since the last
    /// call, if any.
    pub fn take_lease_reads(&self) -> Option<LeaseReads> {
        let shared = self.state();
        shared.lease.and_then(|l| self.take_reads(l.term))
    }

    fn take_reads(&self, term: u64) -> Option<LeaseReads> {
        let last_wall_ns = self.last_lease_read_wall_ns.swap(0, Relaxed);
        let count = self.lease_reads.swap(0, Relaxed);
        (last_wall_ns != 0).then_some(LeaseReads { term, last_wall_ns, count })
    }
}

/// A read of `key` from `kv` as it stands.
pub fn answer(kv: &KvState, key: &str, list: bool) -> Result<ReadAnswer, KvError> {
    let index = kv.applied();
    if list {
        let values = kv.read_list(key).map_err(|e| KvError::Invalid(e.to_string()))?;
        Ok(ReadAnswer::List { values, index })
    } else {
        let value = kv.get(key).map_err(|e| KvError::Invalid(e.to_string()))?;
        Ok(ReadAnswer::Register { value, index })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn reads() -> Arc<LocalReads> {
        LocalReads::new(KvState::default(), Arc::new(Metrics::default()))
    }

    fn lease(term: u64, left: Duration) -> Option<PublishedLease> {
        Some(PublishedLease { term, until: Instant::now() + left })
    }

    #[test]
    fn a_lease_read_needs_a_published_lease_that_has_not_run_out() {
        let local = reads();
        assert!(local.read("k", false, Consistency::Lease).is_none(), "no lease published");
        local.publish(lease(3, Duration::from_secs(3600)));
        assert!(matches!(local.read("k", false, Consistency::Lease), Some(Ok(ReadAnswer::Register { .. }))));
        local.publish(Some(PublishedLease { term: 3, until: Instant::now() }));
        assert!(local.read("k", false, Consistency::Lease).is_none(), "the lease ran out");
        local.publish(None);
        assert!(local.read("k", false, Consistency::Lease).is_none(), "withdrawn");
    }

    #[test]
    fn only_lease_and_stale_reads_are_answered_here() {
        let local = reads();
        local.publish(lease(1, Duration::from_secs(3600)));
        assert!(local.read("k", false, Consistency::ReadIndex).is_none());
        assert!(local.read("k", false, Consistency::Follower).is_none());
        assert!(local.read("k", true, Consistency::Stale).is_some());
    }

    #[test]
    fn a_node_whose_disk_failed_answers_nothing_here() {
        let local = reads();
        local.publish(lease(1, Duration::from_secs(3600)));
        local.stop_serving();
        assert!(local.read("k", false, Consistency::Stale).is_none());
        assert!(local.read("k", false, Consistency::Lease).is_none());
    }

    #[test]
    fn lease_reads_are_reported_in_the_term_they_were_served_in() {
        let local = reads();
        local.publish(lease(4, Duration::from_secs(3600)));
        local.read("k", false, Consistency::Lease);
        local.read("k", false, Consistency::Lease);
        local.read("k", false, Consistency::Stale);
        // A renewal in the same term keeps the count.
        assert_eq!(local.publish(lease(4, Duration::from_secs(7200))), None);
        let reported = local.publish(lease(5, Duration::from_secs(3600))).expect("term 4 ended");
        assert_eq!((reported.term, reported.count), (4, 2));
        assert!(reported.last_wall_ns > 0);
        assert_eq!(local.take_lease_reads(), None, "nothing served in term 5 yet");
        local.read("k", false, Consistency::Lease);
        assert_eq!(local.take_lease_reads().map(|r| (r.term, r.count)), Some((5, 1)));
        assert_eq!(local.take_lease_reads(), None, "taken once");
    }
}
