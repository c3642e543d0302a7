//! Linearizability of registers (put / get / delete / cas), key by key:
//! a history is linearizable if and only if each key's is
//! (P-compositionality), so keys are checked independently, in parallel.
//!
//! Failed operations took no effect and are dropped; so are reads whose
//! outcome is unknown, which constrain nothing. Writes of unknown outcome
//! (`info`, or never completed) may take effect at any time after their
//! call, or never. Each key gets the Wing-Gong-Lowe search with
//! memoization ([`search`]); a key that is not linearizable is shrunk to a
//! minimal proof ([`minimize`]).

mod minimize;
mod model;
mod search;

use std::collections::{BTreeSet, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use history::{Event, Function};

use super::json::canonical;
use super::{CheckResult, Checker, Finding, Operation, Verdict, events_of, operations_by_key, panic_message, plural};
use model::{KeyOp, Step};
use search::{Limits, Outcome};

const CHECKER: &str = "linearizable-register";

/// Limits on one check. Running out gives `unknown`, never a guess.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// For the whole check, shrinking counterexamples included.
    pub time: Duration,
    /// Memoized (linearized set, state) pairs per key.
    pub max_states: usize,
    /// Memory all memos together may use, in bytes.
    pub memory: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { time: Duration::from_secs(60), max_states: 10_000_000, memory: 2 << 30 }
    }
}

/// The register linearizability checker as a [`Checker`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Registers {
    pub budget: Budget,
}

impl Checker for Registers {
    fn name(&self) -> &str {
        CHECKER
    }

    fn check(&self, history: &[Event]) -> CheckResult {
        check_registers(history, self.budget)
    }
}

/// How many invalid keys get a shrunk counterexample of their own; the
/// others are named in the reason.
const MAX_FINDINGS: usize = 10;

/// Shrinking stops after this long even with budget left: a larger proof
/// is still a proof.
const MAX_SHRINK_TIME: Duration = Duration::from_secs(10);

/// Checks the register operations of `events` (append and read are not
/// register operations and are ignored).
pub fn check_registers(events: &[Event], budget: Budget) -> CheckResult {
    let deadline = Instant::now() + budget.time;
    let registers = |op: &Operation| matches!(op.f, Function::Put | Function::Get | Function::Delete | Function::Cas);
    let groups = match operations_by_key(CHECKER, events, registers) {
        Ok(groups) => groups,
        Err(unknown) => return unknown,
    };
    let total: usize = groups.iter().map(|(_, ops)| ops.len()).sum();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(groups.len()).max(1);
    let limits = Limits { deadline, max_states: budget.max_states, memo_bytes: budget.memory / workers };
    let outcomes = check_keys(&groups, workers, &limits);

    let mut invalid: Vec<usize> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for (i, outcome) in outcomes.iter().enumerate() {
        match outcome {
            KeyOutcome::Checked(_, Outcome::Linearizable) => {}
            KeyOutcome::Checked(_, Outcome::NotLinearizable) => invalid.push(i),
            KeyOutcome::Checked(_, Outcome::GaveUp(why)) | KeyOutcome::Unreadable(why) => {
                unknown.push(format!("key {:?}: {why}", groups[i].0))
            }
        }
    }
    if !invalid.is_empty() {
        let shrink = Limits { deadline: deadline.min(Instant::now() + MAX_SHRINK_TIME), ..limits };
        let findings: Vec<Finding> = invalid
            .iter()
            .take(MAX_FINDINGS)
            .map(|&i| {
                let KeyOutcome::Checked(key_ops, _) = &outcomes[i] else {
                    unreachable!("only checked keys are invalid")
                };
                finding(events, &groups[i].0, &groups[i].1, key_ops, &shrink)
            })
            .collect();
        let keys: Vec<String> = invalid.iter().map(|&i| format!("{:?}", groups[i].0)).collect();
        let shown = keys.len().min(20);
        let more = if keys.len() > shown { format!(" and {} more", keys.len() - shown) } else { String::new() };
        let undecided = if unknown.is_empty() { String::new() } else { format!(", {} undecided", unknown.len()) };
        let reason = format!(
            "{} of {} not linearizable ({}{more}{undecided}); key {:?}: {}",
            invalid.len(),
            plural(groups.len(), "key"),
            keys[..shown].join(", "),
            findings[0].key,
            findings[0].what
        );
        return CheckResult::invalid(CHECKER, reason, findings);
    }
    if !unknown.is_empty() {
        let reason = format!("{} of {} undecided: {}", unknown.len(), plural(groups.len(), "key"), unknown.join("; "));
        return CheckResult::new(CHECKER, Verdict::Unknown, reason, vec![]);
    }
    let reason = format!("{} on {} linearizable", plural(total, "operation"), plural(groups.len(), "key"));
    CheckResult::new(CHECKER, Verdict::Valid, reason, vec![])
}

enum KeyOutcome {
    /// The key's operations (failed ones left out), and the result of
    /// searching the relevant ones. Shrinking starts again from all of
    /// them: which are relevant depends on which are trusted (an unknown
    /// write nobody observes becomes relevant once an acknowledged
    /// operation that observes its value is relaxed).
    Checked(Vec<(usize, KeyOp)>, Outcome),
    /// The key's operations could not be read, or the search panicked.
    Unreadable(String),
}

/// Searches every key on `workers` threads, the busiest keys first so that
/// one long key does not start last.
fn check_keys(groups: &[(String, Vec<Operation>)], workers: usize, limits: &Limits) -> Vec<KeyOutcome> {
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(groups[i].1.len()));
    let next = AtomicUsize::new(0);
    let mut outcomes: Vec<Option<KeyOutcome>> = (0..groups.len()).map(|_| None).collect();
    let done: Vec<Vec<(usize, KeyOutcome)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let outcome = catch_unwind(AssertUnwindSafe(|| check_key(&groups[i].1, limits)))
                            .unwrap_or_else(|p| {
                                KeyOutcome::Unreadable(format!("the search panicked: {}", panic_message(p.as_ref())))
                            });
                        out.push((i, outcome));
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("panics are caught per key")).collect()
    });
    for (i, outcome) in done.into_iter().flatten() {
        outcomes[i] = Some(outcome);
    }
    outcomes.into_iter().map(|o| o.expect("every key is checked once")).collect()
}

/// The key's operations as the search sees them, each with its position
/// in `ops`.
fn key_ops(ops: &[Operation]) -> Result<Vec<(usize, KeyOp)>, String> {
    let live: Vec<(usize, &Operation)> = ops.iter().enumerate().filter(|(_, op)| !op.failed).collect();
    let steps = model::steps(&live.iter().map(|(_, op)| *op).collect::<Vec<_>>())?;
    Ok(live.iter().zip(steps).map(|(&(i, op), step)| (i, KeyOp::new(step, op.call, op.ret))).collect())
}

fn check_key(ops: &[Operation], limits: &Limits) -> KeyOutcome {
    let all = match key_ops(ops) {
        Ok(all) => all,
        Err(why) => return KeyOutcome::Unreadable(why),
    };
    let plain: Vec<KeyOp> = all.iter().map(|(_, op)| *op).collect();
    let searched: Vec<KeyOp> = model::relevant(&plain).into_iter().map(|(_, op)| op).collect();
    let outcome = search::search(&searched, limits);
    KeyOutcome::Checked(all, outcome)
}

/// The shrunk proof for one key, with the writes of the values it read as
/// context.
fn finding(events: &[Event], key: &str, ops: &[Operation], key_ops: &[(usize, KeyOp)], limits: &Limits) -> Finding {
    let plain: Vec<KeyOp> = key_ops.iter().map(|(_, op)| *op).collect();
    let proof = minimize::minimize(&plain, limits);
    let essential: Vec<&Operation> = proof.essential.iter().map(|&j| &ops[key_ops[j].0]).collect();
    let essential_at: HashSet<usize> = proof.essential.iter().map(|&j| key_ops[j].0).collect();
    let observed: HashSet<String> = proof
        .essential
        .iter()
        .filter_map(|&j| {
            let op = &ops[key_ops[j].0];
            match key_ops[j].1.step {
                Step::Get(_) => Some(canonical(&op.output)),
                Step::Cas(..) => op.input.get(0).map(canonical),
                Step::Put(_) | Step::Delete => None,
            }
        })
        .collect();
    let context: Vec<&Operation> = ops
        .iter()
        .enumerate()
        .filter(|(i, op)| !essential_at.contains(i) && written(op).is_some_and(|v| observed.contains(&v)))
        .map(|(_, op)| op)
        .take(MAX_CONTEXT)
        .collect();
    let mut what = match essential.len() {
        1 => "this acknowledged operation cannot be linearized".to_string(),
        n => format!("these {n} acknowledged operations cannot be linearized"),
    };
    what.push_str(
        ", whether or not any other operation took effect (if it did: by its return, or at any time after its call \
         for one that never returned)",
    );
    if !proof.minimal {
        what.push_str(" (time ran out while shrinking: the set may not be minimal)");
    }
    let proof_events = events_of(events, essential);
    // So a report can tell a stale read served as such from a
    // linearizable one that went wrong.
    let read_kinds: BTreeSet<&str> = proof_events.iter().filter_map(Event::consistency).collect();
    if !read_kinds.is_empty() {
        let kinds: Vec<&str> = read_kinds.into_iter().collect();
        what.push_str(&format!("; its reads were served {}", kinds.join(" and ")));
    }
    if !context.is_empty() {
        what.push_str("; the context shows writes of the values read, failed and unknown ones included");
    }
    Finding { key: key.to_string(), what, events: proof_events, context: events_of(events, context) }
}

/// At most this many context operations per finding.
const MAX_CONTEXT: usize = 20;

/// The canonical value an operation would leave, if it writes.
fn written(op: &Operation) -> Option<String> {
    match op.f {
        Function::Put => Some(canonical(&op.input)),
        Function::Delete => Some(canonical(&serde_json::Value::Null)),
        Function::Cas => op.input.get(1).map(canonical),
        Function::Get | Function::Append | Function::Read | Function::Transfer | Function::Add => None,
    }
}
