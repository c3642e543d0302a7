//! The list-append checker, in the spirit of Elle but per key and simpler.
//!
//! Each `append` adds a value, unique within its key, to the list at that
//! key; each `read` returns the whole list (null: empty). If the key's
//! operations are linearizable, the reads are all prefixes of one order of
//! appends (the longest read), and:
//! - a read holds each value once, and only values some append (not a
//!   failed one) wrote, and whose append had begun before the read ended;
//! - a read that began after an append was acknowledged holds its value;
//! - a read that began after another read ended holds at least as much;
//! - an append acknowledged before another began comes first in the order.
//!
//! Each violation is reported with the events that show it.

use std::collections::{HashMap, HashSet};

use history::{Event, Function};
use serde_json::Value;

use super::json::canonical;
use super::{CheckResult, Checker, Finding, Operation, Verdict, events_of, operations_by_key, plural};

const CHECKER: &str = "list-append";

/// Findings kept in a result; the rest are counted.
const MAX_FINDINGS: usize = 100;

/// The list-append checker as a [`Checker`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ListAppend;

impl Checker for ListAppend {
    fn name(&self) -> &str {
        CHECKER
    }

    fn check(&self, history: &[Event]) -> CheckResult {
        check_list_append(history)
    }
}

/// Checks the append and read operations of `events` (register operations
/// are ignored).
pub fn check_list_append(events: &[Event]) -> CheckResult {
    let lists = |op: &Operation| matches!(op.f, Function::Append | Function::Read);
    let groups = match operations_by_key(CHECKER, events, lists) {
        Ok(groups) => groups,
        Err(unknown) => return unknown,
    };
    let total: usize = groups.iter().map(|(_, ops)| ops.len()).sum();
    let mut findings: Vec<Finding> = Vec::new();
    let mut violations = 0;
    let mut bad_keys = 0;
    let mut unreadable: Vec<String> = Vec::new();
    for (key, ops) in &groups {
        match check_key(ops) {
            Ok(found) if found.is_empty() => {}
            Ok(found) => {
                bad_keys += 1;
                violations += found.len();
                let room = MAX_FINDINGS.saturating_sub(findings.len());
                findings.extend(found.into_iter().take(room).map(|(what, culprits)| Finding {
                    key: key.clone(),
                    what,
                    events: events_of(events, culprits),
                    context: vec![],
                }));
            }
            Err(why) => unreadable.push(format!("key {key:?}: {why}")),
        }
    }
    if let Some(first) = findings.first() {
        let reason = format!(
            "{} on {bad_keys} of {}; first, key {:?}: {}",
            plural(violations, "violation"),
            plural(groups.len(), "key"),
            first.key,
            first.what
        );
        return CheckResult::invalid(CHECKER, reason, findings);
    }
    if !unreadable.is_empty() {
        let reason = format!("{} not checked: {}", plural(unreadable.len(), "key"), unreadable.join("; "));
        return CheckResult::new(CHECKER, Verdict::Unknown, reason, vec![]);
    }
    CheckResult::new(
        CHECKER,
        Verdict::Valid,
        format!("{} on {} consistent", plural(total, "operation"), plural(groups.len(), "list")),
        vec![],
    )
}

type Violation<'a> = (String, Vec<&'a Operation>);

/// A read that completed, with its list as canonical values.
struct Read<'a> {
    op: &'a Operation,
    list: Vec<String>,
}

fn check_key(ops: &[Operation]) -> Result<Vec<Violation<'_>>, String> {
    let mut appends: HashMap<String, &Operation> = HashMap::new();
    let mut failed: HashMap<String, &Operation> = HashMap::new();
    for op in ops.iter().filter(|o| o.f == Function::Append) {
        let value = canonical(&op.input);
        let earlier = if op.failed { failed.insert(value, op) } else { appends.insert(value, op) };
        if earlier.is_some() {
            return Err(format!("{} is appended more than once; this checker needs unique values", op.input));
        }
    }
    let mut reads: Vec<Read> = Vec::new();
    for op in ops.iter().filter(|o| o.f == Function::Read && o.ret.is_some() && !o.failed) {
        let list = match &op.output {
            Value::Null => Vec::new(),
            Value::Array(items) => items.iter().map(canonical).collect(),
            other => return Err(format!("a read returned {other}, which is not a list")),
        };
        reads.push(Read { op, list });
    }
    let mut found = Vec::new();
    for read in &reads {
        found.extend(read_alone(read, &appends, &failed));
    }
    // The longest read (the earliest of them) stands for the one order.
    let Some(longest) = reads.iter().rev().max_by_key(|r| r.list.len()) else { return Ok(found) };
    let acked = Acked::new(&appends, longest);
    for read in &reads {
        match read.list.iter().zip(&longest.list).position(|(a, b)| a != b) {
            Some(at) => found.push((
                format!(
                    "two reads disagree on the order of appends: at position {at} one has {} and the other {}",
                    read.list[at], longest.list[at]
                ),
                vec![read.op, longest.op],
            )),
            None => {
                if let Some(lost) = acked.latest_missing(read.op.call, read.list.len()) {
                    let why = format!(
                        "the append of {} was acknowledged before a read began, and the read lacks it",
                        lost.input
                    );
                    found.push((why, vec![lost, read.op]));
                }
            }
        }
    }
    found.extend(real_time_order(longest, &appends, &acked));
    found.extend(monotonic_reads(&reads));
    Ok(found)
}

/// What one read shows wrong by itself: a duplicate, a value no append (or
/// only a failed one) wrote, a value whose append had not begun.
fn read_alone<'a>(
    read: &Read<'a>,
    appends: &HashMap<String, &'a Operation>,
    failed: &HashMap<String, &'a Operation>,
) -> Vec<Violation<'a>> {
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    for v in &read.list {
        if !seen.insert(v) {
            found.push((format!("{v} appears twice in one read"), vec![read.op]));
            continue;
        }
        match (appends.get(v), failed.get(v)) {
            (Some(append), _) if read.op.ret.is_some_and(|r| r < append.call) => {
                let why = format!("a read shows {v}, whose append began only after the read ended");
                found.push((why, vec![read.op, append]));
            }
            (Some(_), _) => {}
            (None, Some(fail)) => {
                found.push((format!("a read shows {v}, which only a failed append wrote"), vec![read.op, fail]))
            }
            (None, None) => found.push((format!("a read shows {v}, which no append wrote"), vec![read.op])),
        }
    }
    found
}

/// The acknowledged appends by completion time, with where each sits in
/// the order (usize::MAX: absent from it), so that "which appends were
/// acknowledged before time t" is a prefix and "the furthest of them in the
/// order" is a lookup.
struct Acked<'a> {
    by_return: Vec<(u64, &'a Operation)>,
    /// For the first k appends by return: the furthest position, and whose.
    furthest: Vec<(usize, Option<&'a Operation>)>,
}

impl<'a> Acked<'a> {
    fn new(appends: &HashMap<String, &'a Operation>, order: &Read) -> Acked<'a> {
        let position: HashMap<&str, usize> = order.list.iter().enumerate().map(|(i, v)| (v.as_str(), i)).collect();
        let mut by_return: Vec<(u64, &Operation)> = appends.values().filter_map(|op| Some((op.ret?, *op))).collect();
        by_return.sort_by_key(|(ret, op)| (*ret, op.events.0));
        let mut furthest = vec![(0, None)];
        for (_, op) in &by_return {
            let at = position.get(canonical(&op.input).as_str()).copied().unwrap_or(usize::MAX);
            let &(best, who) = furthest.last().expect("starts non-empty");
            furthest.push(if who.is_none() || at > best { (at, Some(*op)) } else { (best, who) });
        }
        Acked { by_return, furthest }
    }

    /// An append acknowledged before `time` that is not within the first
    /// `len` values of the order.
    fn latest_missing(&self, time: u64, len: usize) -> Option<&'a Operation> {
        let k = self.by_return.partition_point(|(ret, _)| *ret < time);
        match self.furthest[k] {
            (at, Some(op)) if at >= len => Some(op),
            _ => None,
        }
    }
}

/// In the order, every append must follow those acknowledged before it began.
fn real_time_order<'a>(
    longest: &Read<'a>,
    appends: &HashMap<String, &'a Operation>,
    acked: &Acked<'a>,
) -> Vec<Violation<'a>> {
    let mut found = Vec::new();
    for (at, v) in longest.list.iter().enumerate() {
        let Some(later) = appends.get(v) else { continue };
        if let Some(earlier) = acked.latest_missing(later.call, at) {
            let why = format!(
                "the append of {} was acknowledged before the append of {} began, yet a read shows {} without {} \
                 before it",
                earlier.input, later.input, later.input, earlier.input
            );
            found.push((why, vec![earlier, later, longest.op]));
        }
    }
    found
}

/// A read that began after another ended sees at least as much.
fn monotonic_reads<'a>(reads: &[Read<'a>]) -> Vec<Violation<'a>> {
    let mut by_return: Vec<&Read> = reads.iter().collect();
    by_return.sort_by_key(|r| r.op.ret);
    let mut longest_so_far: Vec<Option<&Read>> = vec![None];
    for r in &by_return {
        let best = *longest_so_far.last().expect("starts non-empty");
        longest_so_far.push(if best.is_none_or(|b| r.list.len() > b.list.len()) { Some(r) } else { best });
    }
    let mut found = Vec::new();
    for later in reads {
        let k = by_return.partition_point(|r| r.op.ret.is_some_and(|t| t < later.op.call));
        if let Some(earlier) = longest_so_far[k]
            && earlier.list.len() > later.list.len()
        {
            let why = format!(
                "a read that began after another ended sees less ({} values, the earlier one {})",
                later.list.len(),
                earlier.list.len()
            );
            found.push((why, vec![earlier.op, later.op]));
        }
    }
    found
}
