//! The set checker: clients add unique elements to a set, and a final read
//! (once the faults have healed) must hold every add that was acknowledged
//! before it began, and nothing that was never added.
//!
//! Histories have Jepsen's set shape: `add` with the element, `read`
//! returning the elements (null: none). Each key is its own set (Jepsen's
//! histories have none: one set). The final read is the last completed
//! read to begin; it judges:
//! - lost: an add acknowledged before the final read began, absent from it;
//! - recovered: an add of unknown outcome (info) present in it, which is
//!   fine: it may have taken effect at any time;
//!
//! and every completed read judges:
//! - unexpected: an element that no add wrote, that only a failed add
//!   wrote, or whose add began only after the read ended.

use std::collections::{BTreeSet, HashMap};

use history::{Event, Function};
use serde_json::Value;

use super::json::canonical;
use super::{CheckResult, Checker, Finding, Operation, Verdict, events_of, operations_by_key, plural};

const CHECKER: &str = "set";

/// Findings kept in a result; the rest are counted.
const MAX_FINDINGS: usize = 100;

/// Elements named in a reason or finding at most.
const MAX_NAMED: usize = 10;

/// Operations shown beside a finding's proof at most. A finding holds a
/// read of the whole set, which may be large: one finding per read, not
/// one per element, keeps the summary and the report small.
const MAX_CONTEXT: usize = 20;

/// The set checker as a [`Checker`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Set;

impl Checker for Set {
    fn name(&self) -> &str {
        CHECKER
    }

    fn check(&self, history: &[Event]) -> CheckResult {
        check_set(history)
    }
}

/// What one set's operations showed.
#[derive(Default)]
struct Tally<'a> {
    acknowledged: usize,
    unknown: usize,
    recovered: usize,
    /// The final read, and the adds acknowledged before it that it lacks.
    lost: Option<(&'a Operation, Vec<&'a Operation>)>,
    /// Each read showing elements never added: the elements, each with why
    /// and the add that shows it (a failed one, or one begun too late).
    unexpected: Vec<(&'a Operation, Vec<Unexpected<'a>>)>,
}

struct Unexpected<'a> {
    element: String,
    why: &'static str,
    add: Option<&'a Operation>,
}

/// Checks the adds and reads of `events`.
pub fn check_set(events: &[Event]) -> CheckResult {
    let sets = |op: &Operation| matches!(op.f, Function::Add | Function::Read);
    let groups = match operations_by_key(CHECKER, events, sets) {
        Ok(groups) => groups,
        Err(unknown) => return unknown,
    };
    let mut findings = Vec::new();
    let (mut lost, mut unexpected) = (Vec::new(), Vec::new());
    let (mut acknowledged, mut unknown, mut recovered, mut judged) = (0, 0, 0, 0);
    for (key, ops) in &groups {
        let tally = match check_one(ops) {
            Ok(Some(tally)) => tally,
            Ok(None) => continue,
            Err(why) => return CheckResult::new(CHECKER, Verdict::Unknown, format!("key {key:?}: {why}"), vec![]),
        };
        judged += 1;
        acknowledged += tally.acknowledged;
        unknown += tally.unknown;
        recovered += tally.recovered;
        if let Some((read, adds)) = &tally.lost {
            let elements: Vec<String> = adds.iter().map(|add| add.input.to_string()).collect();
            let what = format!(
                "the final read lacks {} acknowledged before it began: {}",
                plural(adds.len(), "add"),
                named(&elements)
            );
            let context = events_of(events, adds.iter().skip(1).take(MAX_CONTEXT).copied());
            findings.push(Finding { key: key.clone(), what, events: events_of(events, [adds[0], *read]), context });
            lost.extend(elements);
        }
        for (read, found) in &tally.unexpected {
            let shown: Vec<String> = found.iter().map(|u| format!("{} ({})", u.element, u.why)).collect();
            let what = format!("a read shows {} never added: {}", plural(found.len(), "element"), named(&shown));
            let mut culprits = found.iter().filter_map(|u| u.add);
            let proof = events_of(events, std::iter::once(*read).chain(culprits.next()));
            let context = events_of(events, culprits.take(MAX_CONTEXT));
            findings.push(Finding { key: key.clone(), what, events: proof, context });
            unexpected.extend(found.iter().map(|u| u.element.clone()));
        }
    }
    if !findings.is_empty() {
        // Lost adds first: they are what a user of the set would miss.
        findings.truncate(MAX_FINDINGS);
        let mut parts = Vec::new();
        if !lost.is_empty() {
            parts.push(format!("{} lost ({})", plural(lost.len(), "acknowledged add"), named(&lost)));
        }
        if !unexpected.is_empty() {
            parts.push(format!("{} never added ({})", plural(unexpected.len(), "element"), named(&unexpected)));
        }
        let reason = format!("{}; first: {}", parts.join(", "), findings[0].what);
        return CheckResult::invalid(CHECKER, reason, findings);
    }
    if judged == 0 {
        let reason = "no read of the set completed, so nothing was checked".to_string();
        return CheckResult::new(CHECKER, Verdict::Unknown, reason, vec![]);
    }
    let reason = format!(
        "the final read of {} holds all {} and nothing never added; {recovered} of {unknown} adds of unknown outcome \
         present",
        plural(judged, "set"),
        plural(acknowledged, "acknowledged add"),
    );
    CheckResult::new(CHECKER, Verdict::Valid, reason, vec![])
}

/// "a, b, c" (and how many more).
fn named(elements: &[String]) -> String {
    let mut text = elements.iter().take(MAX_NAMED).cloned().collect::<Vec<_>>().join(", ");
    if elements.len() > MAX_NAMED {
        text += &format!(" and {} more", elements.len() - MAX_NAMED);
    }
    text
}

/// One set's tally; None when no read of it completed.
fn check_one(ops: &[Operation]) -> Result<Option<Tally<'_>>, String> {
    let mut adds: HashMap<String, &Operation> = HashMap::new();
    let mut failed: HashMap<String, &Operation> = HashMap::new();
    for op in ops.iter().filter(|o| o.f == Function::Add) {
        let element = canonical(&op.input);
        let earlier = if op.failed { failed.insert(element, op) } else { adds.insert(element, op) };
        if earlier.is_some() {
            return Err(format!("{} is added more than once; this checker needs unique elements", op.input));
        }
    }
    let mut reads: Vec<(&Operation, BTreeSet<String>)> = Vec::new();
    for op in ops.iter().filter(|o| o.f == Function::Read && o.ret.is_some() && !o.failed) {
        let elements = match &op.output {
            Value::Null => BTreeSet::new(),
            Value::Array(items) => items.iter().map(canonical).collect(),
            other => return Err(format!("a read returned {other}, which is not a list of elements")),
        };
        reads.push((op, elements));
    }
    let Some((last, final_elements)) = reads.iter().max_by_key(|(op, _)| (op.call, op.events.0)) else {
        return Ok(None);
    };
    let mut tally = Tally::default();
    let mut lost = Vec::new();
    for (element, add) in &adds {
        let present = final_elements.contains(element);
        match add.ret {
            None => {
                tally.unknown += 1;
                tally.recovered += usize::from(present);
            }
            Some(ret) => {
                tally.acknowledged += 1;
                if ret < last.call && !present {
                    lost.push(*add);
                }
            }
        }
    }
    lost.sort_by_key(|add| add.events.0);
    if !lost.is_empty() {
        tally.lost = Some((*last, lost));
    }
    for (read, elements) in &reads {
        let read_end = read.ret.unwrap_or(u64::MAX);
        let mut found = Vec::new();
        for element in elements {
            let (why, add) = match (adds.get(element), failed.get(element)) {
                (Some(add), _) if add.call > read_end => ("its add began only after the read ended", Some(*add)),
                (Some(_), _) => continue,
                (None, Some(fail)) => ("only a failed add wrote it", Some(*fail)),
                (None, None) => ("no add wrote it", None),
            };
            found.push(Unexpected { element: element.clone(), why, add });
        }
        if !found.is_empty() {
            tally.unexpected.push((*read, found));
        }
    }
    Ok(Some(tally))
}
