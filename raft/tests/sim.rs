//! The whole-cluster simulation, over many seeds per cluster size, and the
//! proof that it catches each planted bug.

use raft::UnsafeBug;
use raft::sim::{Invariant, Options, run};

/// Every seed must pass, and each must have been struck by a fault and have
/// committed its post-heal write: a seed with neither tested nothing.
fn run_seeds(nodes: usize, seeds: std::ops::Range<u64>) {
    for seed in seeds {
        let options = Options::new(nodes, seed);
        let outcome = run(&options);
        let replay = options.replay_command();
        if let Some(v) = outcome.violation {
            panic!("seed {seed}: {v}\nreplay: {replay}");
        }
        let s = &outcome.stats;
        assert!(s.recovered_at.is_some(), "seed {seed} passed without its post-heal write\nreplay: {replay}");
        let faults = s.crashes + s.partitions + s.one_way_cuts;
        assert!(faults > 0, "seed {seed}: the nemesis never struck\nreplay: {replay}");
    }
}

#[test]
fn three_nodes_300_seeds() {
    run_seeds(3, 0..300);
}

#[test]
fn five_nodes_300_seeds() {
    run_seeds(5, 0..300);
}

#[test]
fn seven_nodes_300_seeds() {
    run_seeds(7, 0..300);
}

#[test]
fn a_seed_replays_exactly() {
    let options = Options::new(5, 7);
    let (a, b) = (run(&options), run(&options));
    assert_eq!(format!("{:?}", a.stats), format!("{:?}", b.stats));
    assert!(a.stats.events > 1000);
}

#[test]
fn every_kind_of_fault_and_feature_is_exercised() {
    let mut total = raft::sim::Stats::default();
    for seed in 0..40 {
        let s = run(&Options::new(5, seed)).stats;
        total.crashes += s.crashes;
        total.partitions += s.partitions;
        total.one_way_cuts += s.one_way_cuts;
        total.transfers += s.transfers;
        total.conf_changes += s.conf_changes;
        total.snapshots_installed += s.snapshots_installed;
        total.messages_dropped += s.messages_dropped;
        for i in 0..3 {
            total.reads_served[i] += s.reads_served[i];
        }
    }
    let counts = [
        ("crashes", total.crashes),
        ("partitions", total.partitions),
        ("one-way cuts", total.one_way_cuts),
        ("leader transfers", total.transfers),
        ("membership changes", total.conf_changes),
        ("snapshot installs", total.snapshots_installed),
        ("dropped messages", total.messages_dropped),
        ("lease reads", total.reads_served[0]),
        ("read-index reads", total.reads_served[1]),
        ("follower reads", total.reads_served[2]),
    ];
    for (what, count) in counts {
        assert!(count >= 10, "only {count} {what} in 40 seeds");
    }
}

/// Runs up to 50 seeds with `bug` planted and returns the first violation.
fn first_violation(bug: UnsafeBug) -> (u64, Invariant) {
    for seed in 0..50 {
        let mut options = Options::new(3, seed);
        options.bugs.insert(bug);
        if let Some(v) = run(&options).violation {
            return (seed, v.invariant);
        }
    }
    panic!("{bug} went unnoticed for 50 seeds");
}

#[test]
fn stale_lease_read_is_caught() {
    let (_, invariant) = first_violation(UnsafeBug::StaleLeaseRead);
    assert_eq!(invariant, Invariant::LinearizableRead);
}

#[test]
fn ack_before_persist_is_caught() {
    let (_, invariant) = first_violation(UnsafeBug::AckBeforePersist);
    assert_eq!(invariant, Invariant::CommitDurability);
}

#[test]
fn leader_self_ack_is_caught() {
    let (_, invariant) = first_violation(UnsafeBug::LeaderSelfAck);
    assert_eq!(invariant, Invariant::CommitDurability);
}

#[test]
fn forget_vote_is_caught() {
    let (_, invariant) = first_violation(UnsafeBug::ForgetVote);
    assert_eq!(invariant, Invariant::VoteOnce, "a forgotten vote is given again in the same term");
}

#[test]
fn commit_old_term_is_caught() {
    let (_, invariant) = first_violation(UnsafeBug::CommitOldTerm);
    assert_eq!(invariant, Invariant::CurrentTermCommit);
}
