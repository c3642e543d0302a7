//! Checks over what the nodes themselves reported: split brain from their
//! role-change streams, convergence from their final digests, and recovery
//! times around each fault.

use std::collections::BTreeMap;

use history::{Event, Function};
use serde::{Deserialize, Serialize};

use super::{CheckResult, NodeEvent, NodeEventKind, Recovery, Verdict};

fn result(checker: &str, verdict: Verdict, reason: String) -> CheckResult {
    CheckResult::new(checker, verdict, reason, vec![])
}

/// At most one leader per term, over every node's stream; and no lease read
/// served after another node had become leader of a later term (the leases
/// overlapped: that leader could commit writes the read did not see).
pub fn check_split_brain(events: &[NodeEvent]) -> CheckResult {
    // The first report of each term's leader.
    let mut leaders: BTreeMap<u64, &NodeEvent> = BTreeMap::new();
    for e in events.iter().filter(|e| e.is_leader()) {
        match leaders.get(&e.term) {
            Some(other) if other.node != e.node => {
                let reason = format!("nodes {} and {} both led term {}", other.node, e.node, e.term);
                return result("split-brain", Verdict::Invalid, reason);
            }
            Some(other) if other.wall_ns <= e.wall_ns => {}
            _ => {
                leaders.insert(e.term, e);
            }
        }
    }
    if leaders.is_empty() {
        return result("split-brain", Verdict::Unknown, "no node ever reported being leader".into());
    }
    let lease_reads: Vec<&NodeEvent> = events.iter().filter(|e| e.kind == NodeEventKind::LeaseRead).collect();
    for read in &lease_reads {
        let successor = leaders
            .range(read.term + 1..)
            .map(|(_, l)| *l)
            .filter(|l| l.node != read.node && l.wall_ns < read.wall_ns)
            .min_by_key(|l| l.wall_ns);
        if let Some(l) = successor {
            let reason = format!(
                "overlapping leases: node {} served a lease read in term {} at {:.3} s, {:.1} ms after node {} \
                 became leader of term {} at {:.3} s",
                read.node,
                read.term,
                read.wall_ns as f64 / 1e9,
                (read.wall_ns - l.wall_ns) as f64 / 1e6,
                l.node,
                l.term,
                l.wall_ns as f64 / 1e9
            );
            return result("split-brain", Verdict::Invalid, reason);
        }
    }
    let reason = format!(
        "{} terms, one leader each; {} lease-read reports, none after a later term's leader",
        leaders.len(),
        lease_reads.len()
    );
    result("split-brain", Verdict::Valid, reason)
}

/// A node's final state after the heal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalState {
    pub node: u64,
    pub applied: u64,
    pub digest: String,
}

/// Every node reached the same applied index and state digest.
pub fn check_convergence(states: &[FinalState]) -> CheckResult {
    let Some(first) = states.first() else {
        return result("convergence", Verdict::Unknown, "no node reported its final state".into());
    };
    let differing: Vec<String> = states
        .iter()
        .filter(|s| (s.applied, &s.digest) != (first.applied, &first.digest))
        .map(|s| format!("node {} at {} ({})", s.node, s.applied, s.digest))
        .collect();
    if differing.is_empty() {
        let reason = format!("{} nodes at index {} with digest {}", states.len(), first.applied, first.digest);
        return result("convergence", Verdict::Valid, reason);
    }
    let reason =
        format!("node {} is at {} ({}), but {}", first.node, first.applied, first.digest, differing.join(", "));
    result("convergence", Verdict::Invalid, reason)
}

/// Acknowledged register writes missing from the final state (RPO): for
/// each key, the final value read must be one some write could have left
/// last: a write (acknowledged or unknown) that no acknowledged write began
/// strictly after. Each key failing this lost at least its latest
/// acknowledged write.
pub fn lost_writes(
    history: &[Event],
    final_values: &BTreeMap<String, serde_json::Value>,
) -> Result<Vec<String>, history::InvalidHistory> {
    let ops = super::operations(history)?;
    let mut by_key: BTreeMap<&str, Vec<&super::Operation>> = BTreeMap::new();
    for op in ops.iter().filter(|o| !o.failed && matches!(o.f, Function::Put | Function::Delete | Function::Cas)) {
        by_key.entry(&op.key).or_default().push(op);
    }
    let mut lost = Vec::new();
    for (key, writes) in by_key {
        let acked_calls: Vec<u64> = writes.iter().filter(|w| w.ret.is_some()).map(|w| w.call).collect();
        let written = |w: &super::Operation| match w.f {
            Function::Put => w.input.clone(),
            Function::Delete => serde_json::Value::Null,
            _ => w.input.get(1).cloned().unwrap_or_default(),
        };
        let possible: Vec<serde_json::Value> = writes
            .iter()
            .filter(|w| w.ret.is_none_or(|r| acked_calls.iter().all(|&c| c <= r)))
            .map(|w| written(w))
            .collect();
        let has_acked = writes.iter().any(|w| w.ret.is_some());
        let final_value = final_values.get(key).cloned().unwrap_or_default();
        if has_acked && !possible.contains(&final_value) {
            lost.push(key.to_string());
        }
    }
    Ok(lost)
}

/// A fault's window, as the runner logged it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FaultWindow {
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// RTO per fault: from injection to the completion of the first write
/// *sent* after it that was acknowledged (a write answered just after the
/// injection but sent before it says nothing about recovery), and to the
/// first leader elected after it.
pub fn recovery_times(faults: &[FaultWindow], history: &[Event], roles: &[NodeEvent]) -> Vec<Recovery> {
    let writes = [Function::Put, Function::Delete, Function::Cas, Function::Append, Function::Transfer, Function::Add];
    let acked: Vec<(u64, u64)> = super::operations(history)
        .unwrap_or_default()
        .iter()
        .filter(|o| !o.failed && writes.contains(&o.f))
        .filter_map(|o| Some((o.call, o.ret?)))
        .collect();
    let mut elected: Vec<u64> = roles.iter().filter(|r| r.is_leader()).map(|r| r.wall_ns).collect();
    elected.sort_unstable();
    faults
        .iter()
        .map(|f| Recovery {
            fault: f.name.clone(),
            to_first_write_ns: acked
                .iter()
                .filter(|(call, _)| *call >= f.start_ns)
                .map(|(_, ret)| ret - f.start_ns)
                .min(),
            to_first_leader_ns: elected.iter().find(|&&t| t > f.start_ns).map(|t| t - f.start_ns),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role(node: u64, role: &str, term: u64, wall_ns: u64) -> NodeEvent {
        NodeEvent { node, kind: NodeEventKind::Role, role: role.into(), term, wall_ns }
    }

    fn lease_read(node: u64, term: u64, wall_ns: u64) -> NodeEvent {
        NodeEvent { node, kind: NodeEventKind::LeaseRead, role: "Leader".into(), term, wall_ns }
    }

    fn ev(process: u64, kind: history::EventType, f: Function, key: &str, value: serde_json::Value, t: u64) -> Event {
        Event { process, kind, f, key: key.into(), value, time_ns: t, extra: Default::default() }
    }

    #[test]
    fn two_leaders_in_one_term_is_split_brain() {
        let ok = [role(1, "Leader", 2, 10), role(2, "Leader", 3, 20), role(1, "Leader", 2, 30)];
        assert_eq!(check_split_brain(&ok).verdict, Verdict::Valid, "one node reporting twice is fine");
        let bad = [role(1, "Leader", 2, 10), role(3, "Follower", 2, 15), role(2, "Leader", 2, 20)];
        let r = check_split_brain(&bad);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert!(r.reason.contains("nodes 1 and 2 both led term 2"), "{}", r.reason);
        assert_eq!(check_split_brain(&[]).verdict, Verdict::Unknown);
    }

    #[test]
    fn a_lease_read_after_a_later_leader_took_over_is_an_overlap() {
        let handover = [role(1, "Leader", 2, 100), role(1, "Follower", 3, 400), role(2, "Leader", 3, 500)];
        let mut ok = handover.to_vec();
        ok.extend([lease_read(1, 2, 390), lease_read(2, 3, 600)]);
        let r = check_split_brain(&ok);
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.reason);
        assert!(r.reason.contains("2 lease-read reports"), "{}", r.reason);

        let mut stale = handover.to_vec();
        stale.push(lease_read(1, 2, 520_000_000));
        let r = check_split_brain(&stale);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert!(
            r.reason.contains("node 1 served a lease read in term 2") && r.reason.contains("node 2"),
            "{}",
            r.reason
        );

        // The same node leading the next term is no overlap, and a later
        // term's leader reported only after the read is none either.
        let own = [role(1, "Leader", 2, 100), role(1, "Leader", 3, 200), lease_read(1, 2, 300)];
        assert_eq!(check_split_brain(&own).verdict, Verdict::Valid);
        let later = [role(1, "Leader", 2, 100), lease_read(1, 2, 300), role(2, "Leader", 3, 301)];
        assert_eq!(check_split_brain(&later).verdict, Verdict::Valid);
    }

    #[test]
    fn convergence_needs_equal_index_and_digest() {
        let s = |node, applied, digest: &str| FinalState { node, applied, digest: digest.into() };
        assert_eq!(check_convergence(&[s(1, 9, "ab"), s(2, 9, "ab")]).verdict, Verdict::Valid);
        let r = check_convergence(&[s(1, 9, "ab"), s(2, 9, "cd"), s(3, 8, "ab")]);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert!(r.reason.contains("node 2 at 9 (cd)") && r.reason.contains("node 3 at 8 (ab)"), "{}", r.reason);
    }

    #[test]
    fn a_final_state_without_the_last_acknowledged_write_lost_it() {
        use history::EventType::*;
        let history = vec![
            ev(1, Invoke, Function::Put, "a", json!(1), 10),
            ev(1, Ok, Function::Put, "a", json!(1), 20),
            ev(1, Invoke, Function::Put, "a", json!(2), 30),
            ev(1, Ok, Function::Put, "a", json!(2), 40),
            // Two concurrent writes on b: either may be last.
            ev(2, Invoke, Function::Put, "b", json!("x"), 10),
            ev(3, Invoke, Function::Put, "b", json!("y"), 11),
            ev(2, Ok, Function::Put, "b", json!("x"), 20),
            ev(3, Ok, Function::Put, "b", json!("y"), 21),
            // An unknown write on c may be last.
            ev(4, Invoke, Function::Put, "c", json!(5), 10),
            ev(4, Ok, Function::Put, "c", json!(5), 11),
            ev(5, Invoke, Function::Put, "c", json!(6), 20),
            ev(5, Info, Function::Put, "c", json!(6), 30),
        ];
        let finals = |a, b, c| BTreeMap::from([("a".to_string(), a), ("b".to_string(), b), ("c".to_string(), c)]);
        let lost = |a, b, c| lost_writes(&history, &finals(a, b, c)).unwrap();
        assert!(lost(json!(2), json!("x"), json!(6)).is_empty());
        assert!(lost(json!(2), json!("y"), json!(5)).is_empty());
        assert_eq!(lost(json!(1), json!("y"), json!(5)), vec!["a"]);
        assert_eq!(lost(json!(2), serde_json::Value::Null, json!(5)), vec!["b"]);
    }

    #[test]
    fn recovery_is_measured_from_injection_to_the_next_write_and_leader() {
        use history::EventType::*;
        let history = vec![
            ev(1, Invoke, Function::Put, "a", json!(1), 90),
            ev(1, Ok, Function::Put, "a", json!(1), 100),
            // Sent before the fault, answered after it: not a recovery.
            ev(2, Invoke, Function::Put, "b", json!(1), 190),
            ev(2, Ok, Function::Put, "b", json!(1), 205),
            ev(1, Invoke, Function::Put, "a", json!(2), 210),
            ev(1, Ok, Function::Put, "a", json!(2), 450),
        ];
        let roles = [role(1, "Leader", 2, 50), role(2, "Leader", 3, 300)];
        let faults = [FaultWindow { name: "kill leader".into(), start_ns: 200, end_ns: 250 }];
        let r = recovery_times(&faults, &history, &roles);
        assert_eq!(
            r,
            vec![Recovery { fault: "kill leader".into(), to_first_write_ns: Some(250), to_first_leader_ns: Some(100) }]
        );
    }
}
