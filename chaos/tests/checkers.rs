//! The checkers against histories with known answers, and the
//! linearizability search against a brute-force one on random small histories.

use std::path::Path;
use std::time::Duration;

use chaos::check::{Budget, CheckResult, Verdict, check_list_append, check_registers, operations};
use history::{Event, EventType, Function};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A checker under test.
type Checker = dyn Fn(&[Event]) -> CheckResult;

fn read_history(path: &Path) -> Vec<Event> {
    history::read(std::io::BufReader::new(std::fs::File::open(path).unwrap())).unwrap()
}

#[test]
fn every_fixture_gets_its_known_verdict() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories");
    let mut checked = 0;
    let register = |events: &[Event]| check_registers(events, Budget::default());
    let models: [(&str, &Checker); 2] = [("register", &register), ("list-append", &check_list_append)];
    for (model, check) in models {
        for (sub, expected) in [("valid", Verdict::Valid), ("invalid", Verdict::Invalid)] {
            for entry in std::fs::read_dir(dir.join(model).join(sub)).unwrap() {
                let path = entry.unwrap().path();
                let events = read_history(&path);
                let result = check(&events);
                assert_eq!(result.verdict, expected, "{}: {}", path.display(), result.reason);
                if expected == Verdict::Invalid {
                    assert!(!result.counterexample.is_empty(), "{}: no counterexample", path.display());
                    assert!(result.counterexample.len() <= events.len());
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 19);
}

#[test]
fn the_counterexample_keeps_only_what_proves_the_violation() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories/register/invalid/lost-delete-one-key-of-two.jsonl");
    let result = check_registers(&read_history(&path), Budget::default());
    assert!(result.counterexample.iter().all(|e| e.key == "x"), "only the failing key");
    assert!(result.reason.contains("1 of 2 keys"), "{}", result.reason);
}

#[test]
fn a_budget_that_runs_out_gives_unknown_not_a_guess() {
    // Many concurrent writes and reads of one key: a large search space.
    let mut events = Vec::new();
    for p in 0..40u64 {
        events.push(event(p, EventType::Invoke, Function::Put, json!(p), 0));
    }
    for p in 0..40u64 {
        events.push(event(p, EventType::Ok, Function::Put, json!(p), 100));
    }
    events.push(event(99, EventType::Invoke, Function::Get, Value::Null, 200));
    events.push(event(99, EventType::Ok, Function::Get, json!("never written"), 300));
    let result = check_registers(&events, Budget { time: Duration::from_secs(5), max_states: 1000 });
    assert_eq!(result.verdict, Verdict::Unknown, "{}", result.reason);
}

#[test]
fn malformed_histories_are_unknown_with_the_reason() {
    let events = vec![event(1, EventType::Ok, Function::Put, json!("a"), 10)];
    let result = check_registers(&events, Budget::default());
    assert_eq!(result.verdict, Verdict::Unknown);
    assert!(result.reason.contains("never invoked"), "{}", result.reason);
}

fn event(process: u64, kind: EventType, f: Function, value: Value, time_ns: u64) -> Event {
    Event { process, kind, f, key: "k".into(), value, time_ns, extra: Default::default() }
}

/// A small random history: operations with random overlaps and outcomes,
/// values read drawn from what was written (or a stray value).
fn arb_history() -> impl Strategy<Value = Vec<Event>> {
    let op = (0u8..4, 0u64..4, 0u64..30, 1u64..30, 0u8..10, 0u64..4);
    prop::collection::vec(op, 1..7).prop_map(|ops| {
        let mut timed = Vec::new();
        for (p, (kind, v, start, len, outcome, read)) in ops.into_iter().enumerate() {
            let p = p as u64;
            let (f, input, output) = match kind {
                0 => (Function::Put, json!(v), json!(v)),
                1 => (Function::Get, Value::Null, if read == 0 { Value::Null } else { json!(read) }),
                2 => (Function::Delete, Value::Null, Value::Null),
                _ => (Function::Cas, json!([if v == 0 { Value::Null } else { json!(v) }, json!(read)]), Value::Null),
            };
            timed.push((start * 2, event(p, EventType::Invoke, f, input.clone(), start * 2)));
            let end = (start + len) * 2 + 1;
            match outcome {
                0 => timed.push((end, event(p, EventType::Info, f, input, end))),
                1 => {}
                2 if f == Function::Cas => timed.push((end, event(p, EventType::Fail, f, input, end))),
                _ => {
                    timed.push((end, event(p, EventType::Ok, f, if f == Function::Get { output } else { input }, end)))
                }
            }
        }
        timed.sort_by_key(|(t, _)| *t);
        timed.into_iter().map(|(_, e)| e).collect()
    })
}

/// Brute force: try every order of every subset of unknown-outcome writes
/// together with all acknowledged operations, respecting real time.
fn brute_force(events: &[Event]) -> bool {
    let ops = operations(events).unwrap();
    let ops: Vec<_> = ops.into_iter().filter(|o| !(o.failed || o.f == Function::Get && o.ret.is_none())).collect();
    let required: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].ret.is_some()).collect();
    let optional: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].ret.is_none()).collect();
    for mask in 0..(1u32 << optional.len()) {
        let mut chosen = required.clone();
        chosen.extend(optional.iter().enumerate().filter(|(b, _)| mask & (1 << b) != 0).map(|(_, &i)| i));
        if permutations_ok(&ops, &mut chosen, &mut Vec::new()) {
            return true;
        }
    }
    false
}

fn permutations_ok(ops: &[chaos::check::Operation], rest: &mut Vec<usize>, order: &mut Vec<usize>) -> bool {
    if rest.is_empty() {
        return replay(ops, order);
    }
    for i in 0..rest.len() {
        let candidate = rest[i];
        // Real time: nothing still to place may have returned before this call.
        if rest.iter().any(|&o| o != candidate && ops[o].ret.is_some_and(|r| r < ops[candidate].call)) {
            continue;
        }
        rest.remove(i);
        order.push(candidate);
        let ok = permutations_ok(ops, rest, order);
        order.pop();
        rest.insert(i, candidate);
        if ok {
            return true;
        }
    }
    false
}

fn replay(ops: &[chaos::check::Operation], order: &[usize]) -> bool {
    let mut state = Value::Null;
    for &i in order {
        let op = &ops[i];
        match op.f {
            Function::Put => state = op.input.clone(),
            Function::Delete => state = Value::Null,
            Function::Get => {
                if op.output != state {
                    return false;
                }
            }
            Function::Cas => {
                let pair = op.input.as_array().unwrap();
                if pair[0] != state {
                    return false;
                }
                state = pair[1].clone();
            }
            _ => unreachable!(),
        }
    }
    true
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]
    #[test]
    fn the_search_agrees_with_brute_force(events in arb_history()) {
        let fast = check_registers(&events, Budget::default());
        prop_assert_ne!(fast.verdict, Verdict::Unknown, "{}", fast.reason);
        prop_assert_eq!(fast.verdict == Verdict::Valid, brute_force(&events), "{}", fast.reason);
    }
}
