//! The disk thread: group commit of the core's writes.
//!
//! Every write queued while the previous fsync ran goes into the next one:
//! under load, one fdatasync covers many Readies.

use std::sync::mpsc::{Receiver, Sender};

use raft::{Entry, HardState, Message, Snapshot};
use tracing::error;

use crate::server::driver::Input;
use crate::server::peers::Peers;
use crate::storage::{SnapshotStore, StorageError, Wal};

/// One Ready's share of the disk work.
pub struct WriteJob {
    pub number: u64,
    pub hard_state: Option<HardState>,
    pub snapshot: Option<Snapshot>,
    pub entries: Vec<Entry>,
    /// Sent only once all of the above is durable.
    pub then_send: Vec<Message>,
    /// The core's `must_sync`: false when the job only moves the commit
    /// index, which needs no fdatasync.
    pub sync: bool,
}

pub enum DiskWork {
    Ready(WriteJob),
    /// Save a snapshot the core compacted to, then drop the WAL segments it
    /// covers. Until it is saved, the WAL still holds everything.
    Snapshot(Snapshot),
}

pub struct Writer {
    pub wal: Wal,
    pub snapshots: SnapshotStore,
    pub peers: Peers,
    pub driver: Sender<Input>,
    pub metrics: std::sync::Arc<crate::server::metrics::Metrics>,
    /// A test hook: sleep this long before each fsync, as a slow disk would.
    pub delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The planted bug `forget-snapshot-install`: an installed snapshot is
    /// saved, but the WAL is not told that the log now ends at its index.
    pub unsafe_forget_snapshot_install: bool,
}

impl Writer {
    pub fn run(mut self, work: Receiver<DiskWork>) {
        while let Ok(first) = work.recv() {
            let mut batch = vec![first];
            batch.extend(work.try_iter());
            if let Err(e) = self.write(batch) {
                error!(error = %e, "disk write failed");
                let _ = self.driver.send(Input::DiskFailed(e.to_string()));
                return;
            }
        }
    }

    fn write(&mut self, batch: Vec<DiskWork>) -> Result<(), StorageError> {
        let started = std::time::Instant::now();
        let mut last_number = None;
        let mut release = Vec::new();
        let mut installed = false;
        let mut sync = false;
        for work in batch {
            match work {
                DiskWork::Ready(job) => {
                    if let Some(s) = &job.snapshot {
                        // An installed snapshot replaces the whole log: save
                        // it, then record in the WAL that the log ends at its
                        // index, before the entries that follow it.
                        self.snapshots.save(s)?;
                        if !self.unsafe_forget_snapshot_install {
                            self.wal.install_snapshot(s.meta.index)?;
                        }
                        installed = true;
                    }
                    self.wal.append(job.hard_state, &job.entries)?;
                    sync |= job.sync;
                    last_number = Some(job.number);
                    release.extend(job.then_send);
                }
                DiskWork::Snapshot(s) => {
                    self.snapshots.save(&s)?;
                    self.wal.compact(s.meta.index)?;
                }
            }
        }
        self.metrics.append.observe(started.elapsed());
        if !sync {
            // Only commit indexes: written, so that a restarted process
            // finds them, but not synced.
            self.wal.write_provisional()?;
            self.release(release, last_number);
            return Ok(());
        }
        let syncing = std::time::Instant::now();
        let delay = self.delay_ms.load(std::sync::atomic::Ordering::Relaxed);
        if delay > 0 {
            std::thread::sleep(std::time::Duration::from_millis(delay));
        }
        self.wal.sync()?;
        self.metrics.fsync.observe(syncing.elapsed());
        crate::failpoints::crash("crash-after-wal-sync");
        if installed {
            crate::failpoints::crash("crash-after-snapshot-install");
        }
        self.release(release, last_number);
        Ok(())
    }

    /// What waited on the writes up to Ready `number` may go now.
    fn release(&self, messages: Vec<Message>, number: Option<u64>) {
        self.peers.send_all(messages);
        if let Some(number) = number {
            let _ = self.driver.send(Input::Persisted(number));
        }
    }
}
