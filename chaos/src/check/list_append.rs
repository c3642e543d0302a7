//! The list-append checker, in the spirit of Elle but per key and simpler:
//! each `append` adds a unique value to the list at a key, each `read`
//! returns the whole list. Every read must be a prefix of one order of
//! appends, contain each value at most once, contain only values some
//! append (not known to have failed) wrote, and never miss a value whose
//! append was acknowledged before the read began, nor show one whose append
//! had not yet begun. A read that begins after another ended sees at least
//! as much (lists only grow).

use std::collections::{HashMap, HashSet};

use history::{Event, Function};
use serde_json::Value;

use super::{CheckResult, Operation, Verdict, operations_by_key};

pub fn check_list_append(events: &[Event]) -> CheckResult {
    const CHECKER: &str = "list-append";
    let result = |verdict, reason, counterexample| CheckResult::new(CHECKER, verdict, reason, counterexample);
    let groups = match operations_by_key(CHECKER, events, |op| matches!(op.f, Function::Append | Function::Read)) {
        Ok(groups) => groups,
        Err(unknown) => return unknown,
    };
    let total: usize = groups.iter().map(|(_, ops)| ops.len()).sum();
    for (key, ops) in &groups {
        let ops: Vec<&Operation> = ops.iter().collect();
        if let Err((why, culprits)) = check_key(&ops) {
            let mut positions: Vec<usize> =
                culprits.iter().flat_map(|op| [Some(op.events.0), op.events.1]).flatten().collect();
            positions.sort_unstable();
            positions.dedup();
            let counterexample = positions.into_iter().map(|p| events[p].clone()).collect();
            return result(Verdict::Invalid, format!("key {key:?}: {why}"), counterexample);
        }
    }
    result(Verdict::Valid, format!("{total} operations on {} lists are consistent", groups.len()), vec![])
}

type Violation<'a> = (String, Vec<&'a Operation>);

fn list_of(op: &Operation) -> Result<Vec<String>, String> {
    match &op.output {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => Ok(items.iter().map(Value::to_string).collect()),
        other => Err(format!("a read returned {other}, not a list")),
    }
}

fn check_key<'a>(ops: &[&'a Operation]) -> Result<(), Violation<'a>> {
    // Appends that may have happened (ok or unknown), by value.
    let mut appends: HashMap<String, &Operation> = HashMap::new();
    let mut failed_appends: HashSet<String> = HashSet::new();
    for op in ops.iter().filter(|o| o.f == Function::Append) {
        if op.failed {
            failed_appends.insert(op.input.to_string());
        } else {
            appends.insert(op.input.to_string(), op);
        }
    }
    let mut reads: Vec<(&Operation, Vec<String>)> = Vec::new();
    for op in ops.iter().filter(|o| o.f == Function::Read && o.ret.is_some() && !o.failed) {
        let list = list_of(op).map_err(|why| (why, vec![*op]))?;
        reads.push((op, list));
    }
    for (read, list) in &reads {
        let mut seen = HashSet::new();
        for v in list {
            if !seen.insert(v) {
                return Err((format!("value {v} appears twice in one read"), vec![*read]));
            }
            let Some(append) = appends.get(v) else {
                let why = if failed_appends.contains(v) { "only a failed append wrote" } else { "nobody appended" };
                return Err((format!("a read shows {v}, which {why}"), vec![*read]));
            };
            if read.ret.is_some_and(|r| r < append.call) {
                return Err((format!("a read shows {v} before its append began"), vec![*read, *append]));
            }
        }
        // An append is acknowledged when it has a return time and did not fail
        // (unknown outcomes have none).
        for append in appends.values().filter(|a| a.ret.is_some_and(|r| r < read.call)) {
            if !list.contains(&append.input.to_string()) {
                let why =
                    format!("an acknowledged append of {} is missing from a read that began after it", append.input);
                return Err((why, vec![*append, *read]));
            }
        }
    }
    // One order: every read is a prefix of the longest.
    let longest = reads.iter().max_by_key(|(_, l)| l.len());
    if let Some((long_op, long)) = longest {
        for (op, list) in &reads {
            if long[..list.len()] != list[..] {
                return Err(("two reads disagree on the order of appends".into(), vec![*op, *long_op]));
            }
        }
    }
    // Real time: a read that begins after another ended sees at least as much.
    for (a, la) in &reads {
        for (b, lb) in &reads {
            if a.ret.is_some_and(|r| r < b.call) && lb.len() < la.len() {
                return Err(("a later read sees less than an earlier one".into(), vec![*a, *b]));
            }
        }
    }
    Ok(())
}
