//! A seeded, deterministic simulation of a whole cluster in one thread.
//!
//! One seed fixes everything: message delays, losses, duplicates and
//! reordering, symmetric and one-way partitions, crashes (which lose every
//! write not yet durable) and restarts, each node's clock rate, membership
//! changes, leader transfers, compactions, and the clients' writes and reads.
//! After every event the [`invariants`] are checked; the first violation ends
//! the run and is reported with its seed, so `run` with the same options
//! replays it exactly.
//!
//! A run has two phases: `fault_ticks` of faults under load, then every fault
//! heals and the cluster has `recovery_ticks` to elect a leader and have a
//! majority of its voters apply a new write (liveness).

mod invariants;
mod nemesis;
mod node;
mod world;

use std::collections::BTreeSet;
use std::fmt;

use crate::config::UnsafeBug;

pub use invariants::Invariant;

#[derive(Clone, Debug)]
pub struct Options {
    /// Voters at start: 3, 5 or 7 are the sizes we test.
    pub nodes: usize,
    pub seed: u64,
    /// Planted bugs to enable on every node.
    pub bugs: BTreeSet<UnsafeBug>,
    /// Ticks (of a nominal clock) of faults under load.
    pub fault_ticks: u64,
    /// Ticks allowed after the heal for a new write to commit.
    pub recovery_ticks: u64,
    /// Print every delivered message to stderr (for replaying one seed).
    pub trace: bool,
}

impl Options {
    pub fn new(nodes: usize, seed: u64) -> Self {
        Options { nodes, seed, bugs: BTreeSet::new(), fault_ticks: 400, recovery_ticks: 300, trace: false }
    }

    /// The command line that replays this run.
    pub fn replay_command(&self) -> String {
        let mut cmd =
            format!("cargo run --release -p node --bin raft-sim -- --nodes {} --seed {}", self.nodes, self.seed);
        for bug in &self.bugs {
            cmd.push_str(&format!(" --unsafe-bug {bug}"));
        }
        if self.fault_ticks != Options::new(0, 0).fault_ticks {
            cmd.push_str(&format!(" --fault-ticks {}", self.fault_ticks));
        }
        cmd
    }
}

/// A broken invariant, with what shows it.
#[derive(Clone, Debug)]
pub struct Violation {
    pub invariant: Invariant,
    pub detail: String,
    /// Simulated time, in thousandths of a nominal tick.
    pub time: u64,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at t={:.3} ticks: {}", self.invariant, self.time as f64 / 1000.0, self.detail)
    }
}

/// What happened in one run, for the summary line and for tests that want
/// to know the faults really happened.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub events: u64,
    pub leaders_elected: u64,
    pub writes_acked: u64,
    pub reads_served: [u64; 3],
    pub crashes: u64,
    pub partitions: u64,
    pub one_way_cuts: u64,
    pub transfers: u64,
    pub conf_changes: u64,
    pub snapshots_installed: u64,
    pub messages_dropped: u64,
    /// Simulated time at which a majority of the leader's voters had applied
    /// the post-heal write; `None` if the run ended without it.
    pub recovered_at: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub violation: Option<Violation>,
    pub stats: Stats,
}

/// Runs one seed. A panic inside the core (a broken internal invariant) is
/// reported as a violation too, never swallowed.
pub fn run(options: &Options) -> Outcome {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| world::World::new(options).run()));
    match result {
        Ok(outcome) => outcome,
        Err(panic) => {
            let detail = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Outcome {
                violation: Some(Violation { invariant: Invariant::CorePanic, detail, time: 0 }),
                stats: Stats::default(),
            }
        }
    }
}
