//! A run directory as `chaos run` leaves it, built from the typed summary
//! (the same types chaos writes) rather than from JSON text, so it cannot
//! drift from what chaos really writes.

#![allow(dead_code)] // each test file uses its own part

use std::path::Path;

use history::{Event, EventType, Function};
use reports::cluster::{ClusterChange, ClusterEvent, NodeEvent, NodeEventKind};
use reports::{
    CheckResult, Finding, InjectedFault, Percentiles, Rate, Recovery, Reproduce, SCHEMA_VERSION, Summary,
    ThresholdOutcome, Verdict,
};
use serde_json::json;

pub fn event(process: u64, kind: EventType, f: Function, value: serde_json::Value, time_ns: u64) -> Event {
    Event { process, kind, f, key: "k1".into(), value, time_ns, extra: Default::default() }
}

/// A stale read: process 3 reads v1 after process 4's put of v2 completed.
pub fn stale_read() -> Vec<Event> {
    vec![
        event(4, EventType::Invoke, Function::Put, json!("v2"), 1_000_000_000),
        event(4, EventType::Ok, Function::Put, json!("v2"), 1_020_000_000),
        event(3, EventType::Invoke, Function::Get, json!(null), 1_030_000_000),
        event(3, EventType::Ok, Function::Get, json!("v1"), 1_045_000_000),
    ]
}

pub fn summary() -> Summary {
    let proof = stale_read();
    let context = vec![
        event(2, EventType::Invoke, Function::Put, json!("v1"), 900_000_000),
        event(2, EventType::Ok, Function::Put, json!("v1"), 950_000_000),
    ];
    let finding = Finding { key: "k1".into(), what: "stale read".into(), events: proof, context };
    let bugs = vec!["stale-lease-read".to_string()];
    Summary {
        schema_version: SCHEMA_VERSION,
        scenario: "smoke-kill-leader".into(),
        seed: 1,
        verdict: Verdict::Invalid,
        system: "raft-node".into(),
        backend: "process".into(),
        cut_mechanism: "Iptables".into(),
        unsafe_bugs: bugs.clone(),
        reproduce: Reproduce {
            scenario_path: "workloads/failover/kill-leader.yaml".into(),
            seed: 1,
            system: "raft-node".into(),
            backend: "process".into(),
            unsafe_bugs: bugs,
        },
        checks: vec![
            CheckResult::invalid("linearizable-register", "key k1 read a stale value".into(), vec![finding]),
            CheckResult::new("split-brain", Verdict::Valid, "one leader per term".into(), vec![]),
        ],
        thresholds: vec![
            ThresholdOutcome { expr: "rto_p50 < 2s".into(), actual: Some("0.81s".into()), passed: Some(true) },
            ThresholdOutcome { expr: "error_rate < 0.001".into(), actual: Some("0.03".into()), passed: Some(false) },
        ],
        faults: vec![
            InjectedFault {
                kind: "kill_leader".into(),
                target: vec![1],
                start_ns: 4_000_000_000,
                end_ns: 8_000_000_000,
                confirmed: "processes gone; status refused".into(),
            },
            InjectedFault {
                kind: "partition_majority".into(),
                target: vec![2, 3],
                start_ns: 12_000_000_000,
                end_ns: 15_500_000_000,
                confirmed: "connections refused".into(),
            },
        ],
        recoveries: vec![
            Recovery {
                fault: "kill_leader".into(),
                to_first_write_ns: Some(812_000_000),
                to_first_leader_ns: Some(540_000_000),
            },
            Recovery { fault: "partition_majority".into(), to_first_write_ns: None, to_first_leader_ns: None },
        ],
        rate: Rate { target_rate: Some(500.0), achieved_rate: 498.2, rate_error: Some(0.003), measured_seconds: 25.0 },
        outcomes: [("ok".to_string(), 12000), ("fail".into(), 3), ("info".into(), 10)].into_iter().collect(),
        latency_us: [(
            "read".to_string(),
            Percentiles {
                count: 5000,
                mean: 501.0,
                p50: 400,
                p90: 700,
                p99: 2000,
                p999: 9000,
                p9999: 12000,
                max: 12000,
            },
        )]
        .into_iter()
        .collect(),
        status_poll_ms: 250,
    }
}

const HGRM: &str = "       Value     Percentile TotalCount 1/(1-Percentile)

       0.171 0.000000000000          1           1.00
       0.400 0.500000000000       2500           2.00
       0.700 0.900000000000       4500          10.00
       2.000 0.990000000000       4950         100.00
       9.000 0.999000000000       4995        1000.00
      12.000 1.000000000000       5000
#[Mean    =        0.501, StdDeviation   =        0.200]
#[Max     =       12.000, Total count    =         5000]
#[Buckets =           22, SubBuckets     =         2048]
";

/// Node 1 leads term 1 and is killed at 4 s; node 2 leads term 2 from
/// 4.5 s; node 1 comes back at 8 s; 2 and 3 are cut off from 12 s to 15.5 s.
pub fn cluster_timeline() -> (Vec<ClusterEvent>, Vec<NodeEvent>) {
    let s = 1_000_000_000u64;
    let at = |at_ns, change| ClusterEvent { at_ns, change };
    let status = |node, role: &str| ClusterChange::Status {
        node,
        role: role.into(),
        term: 1,
        leader: Some(1),
        members: vec![1, 2, 3],
    };
    let cluster = vec![
        at(0, status(1, "leader")),
        at(0, status(2, "follower")),
        at(0, status(3, "follower")),
        at(4 * s, ClusterChange::Killed { node: 1 }),
        at(8 * s, ClusterChange::Restarted { node: 1 }),
        at(12 * s, ClusterChange::Cut { from: 2, to: 1 }),
        at(12 * s, ClusterChange::Cut { from: 3, to: 1 }),
        at(15 * s + s / 2, ClusterChange::Healed),
        at(20 * s, status(1, "follower")),
    ];
    let role = |node, role: &str, term, wall_ns| NodeEvent {
        node,
        kind: NodeEventKind::Role,
        role: role.into(),
        term,
        wall_ns,
    };
    let events = vec![
        role(1, "Leader", 1, 0),
        role(2, "Follower", 1, 0),
        role(3, "Follower", 1, 0),
        role(2, "Candidate", 2, 4 * s + s / 4),
        role(2, "Leader", 2, 4 * s + s / 2),
        role(3, "Follower", 2, 4 * s + s / 2),
        role(1, "Follower", 2, 8 * s + s / 5),
    ];
    (cluster, events)
}

/// A run directory with `summary`, and with the cluster timeline, history,
/// a workload timeline and two histograms unless `summary_only`.
pub fn run_dir(summary: &Summary, summary_only: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_run_dir(dir.path(), summary, summary_only);
    dir
}

pub fn write_run_dir(dir: &Path, summary: &Summary, summary_only: bool) {
    reports::write_summary(dir, summary).unwrap();
    if summary_only {
        return;
    }
    let (cluster, events) = cluster_timeline();
    reports::write_lines(&dir.join("cluster.jsonl"), &cluster).unwrap();
    reports::write_lines(&dir.join("events.jsonl"), &events).unwrap();
    reports::write_lines(&dir.join("history.jsonl"), &stale_read()).unwrap();
    let mut timeline = String::from("second,ok,failed,unknown,p50_us,p99_us,max_us\n");
    for second in 0..20 {
        let stalled = (4..5).contains(&second) || (12..16).contains(&second);
        let (ok, p50) = if stalled { (0, 0) } else { (480, 400 + second * 10) };
        timeline += &format!("{second},{ok},{},{},{p50},{},{}\n", u32::from(stalled) * 3, 2, p50 * 5, p50 * 30);
    }
    std::fs::write(dir.join("timeline.csv"), timeline).unwrap();
    std::fs::write(dir.join("get.hgrm"), HGRM).unwrap();
    std::fs::write(dir.join("put.hgrm"), HGRM.replace("12.000", "40.000")).unwrap();
}

/// Each `<svg ...>...</svg>` in the page, in order.
pub fn charts(html: &str) -> Vec<&str> {
    html.match_indices("<svg").map(|(start, _)| &html[start..start + html[start..].find("</svg>").unwrap()]).collect()
}
