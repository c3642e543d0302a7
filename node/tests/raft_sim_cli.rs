//! The `raft-sim` binary as a user runs it: exit codes and what it prints.

use std::process::Command;

fn raft_sim(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_raft-sim")).args(args).output().expect("raft-sim runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().expect("exited normally"), text)
}

#[test]
fn a_clean_run_prints_one_result_line_and_exits_zero() {
    let (code, out) = raft_sim(&["--nodes", "5", "--seeds", "20"]);
    assert_eq!(code, 0, "{out}");
    let line = out.lines().find(|l| l.starts_with("raft-sim:")).expect("a result line");
    assert!(line.contains("seeds=20 violations=0"), "{line}");
}

#[test]
fn every_planted_bug_fails_the_run_and_names_the_invariant_and_seed() {
    let expected = [
        ("stale-lease-read", "linearizable-read"),
        ("ack-before-persist", "commit-durability"),
        ("leader-self-ack", "commit-durability"),
        ("forget-vote", "vote-once"),
        ("commit-old-term", "current-term-commit"),
    ];
    for (bug, invariant) in expected {
        let (code, out) = raft_sim(&["--unsafe-bug", bug, "--seeds", "50"]);
        assert_eq!(code, 1, "{bug}: {out}");
        assert!(out.contains("UNSAFE BUGS PLANTED"), "{bug}: no loud warning\n{out}");
        let line = out.lines().find(|l| l.starts_with("raft-sim:")).expect("a result line");
        assert!(line.contains(&format!("({invariant})")), "{bug}: {line}");
        let replay = out.lines().find(|l| l.trim_start().starts_with("replay:")).expect("a replay command");
        assert!(replay.contains(&format!("--unsafe-bug {bug}")) && replay.contains("--seed "), "{replay}");
    }
}

#[test]
fn a_replayed_seed_fails_the_same_way() {
    let (_, out) = raft_sim(&["--unsafe-bug", "leader-self-ack", "--seeds", "50"]);
    let replay = out.lines().find(|l| l.trim_start().starts_with("replay:")).expect("a replay command");
    let seed = replay.split("--seed ").nth(1).and_then(|s| s.split_whitespace().next()).expect("a seed");
    let (code, again) = raft_sim(&["--unsafe-bug", "leader-self-ack", "--seed", seed]);
    assert_eq!(code, 1);
    let first = |s: &str| s.lines().find(|l| l.starts_with("seed ")).map(str::to_owned);
    assert_eq!(first(&out), first(&again));
}

#[test]
fn an_unknown_bug_name_is_a_usage_error() {
    let (code, out) = raft_sim(&["--unsafe-bug", "no-such-bug"]);
    assert_eq!(code, 2);
    assert!(out.contains("known: stale-lease-read"), "{out}");
}
