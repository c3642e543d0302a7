//! Linearizability of registers, key by key (P-compositionality), with the
//! Wing-Gong-Lowe search: walk the history's call and return events in time
//! order, linearize a pending call when the model allows it, backtrack at a
//! return whose operation is not yet linearized, and never revisit a
//! (linearized set, state) pair already explored (Lowe's memoization).
//!
//! Operations whose outcome is unknown (`info`, or never completed) may take
//! effect at any point after their call, or never: their return is at
//! infinity and the search is done once every `ok` operation is linearized.
//! Failed operations took no effect and are dropped; so are reads whose
//! outcome is unknown, which constrain nothing.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use history::{Event, Function};
use serde_json::Value;

use super::{CheckResult, Operation, Verdict, operations_by_key};

/// Limits on one check. Running out gives `unknown`, never a guess.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub time: Duration,
    /// Memoized (linearized set, state) pairs per key.
    pub max_states: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { time: Duration::from_secs(60), max_states: 5_000_000 }
    }
}

/// A register's value: 0 is "absent", others index an interned JSON value.
type State = u32;

#[derive(Clone, Copy)]
enum Step {
    Put(State),
    Get(State),
    Delete,
    Cas(State, State),
}

struct KeyOp {
    step: Step,
    call: u64,
    ret: Option<u64>,
}

enum KeyVerdict {
    Valid,
    Invalid,
    Unknown(String),
}

pub fn check_registers(events: &[Event], budget: Budget) -> CheckResult {
    const CHECKER: &str = "linearizable-register";
    let result = |verdict, reason, counterexample| CheckResult::new(CHECKER, verdict, reason, counterexample);
    let registers =
        |op: &Operation| !op.failed && matches!(op.f, Function::Put | Function::Get | Function::Delete | Function::Cas);
    let groups = match operations_by_key(CHECKER, events, registers) {
        Ok(groups) => groups,
        Err(unknown) => return unknown,
    };
    let total: usize = groups.iter().map(|(_, ops)| ops.len()).sum();
    let keys: Vec<&str> = groups.iter().map(|(k, _)| k.as_str()).collect();
    let by_key: HashMap<&str, Vec<&Operation>> =
        groups.iter().map(|(k, ops)| (k.as_str(), ops.iter().collect())).collect();
    let deadline = Instant::now() + budget.time;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(keys.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let outcomes: Vec<(usize, KeyVerdict)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(key) = keys.get(i) else { break };
                        out.push((i, check_key(&by_key[key], deadline, budget.max_states)));
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut unknown = Vec::new();
    let mut invalid_keys: Vec<usize> = Vec::new();
    for (i, verdict) in outcomes {
        match verdict {
            KeyVerdict::Valid => {}
            KeyVerdict::Invalid => invalid_keys.push(i),
            KeyVerdict::Unknown(why) => unknown.push(format!("key {:?}: {why}", keys[i])),
        }
    }
    if let Some(&first) = invalid_keys.iter().min() {
        let key = keys[first];
        let shown = minimal_counterexample(&by_key[key], budget.max_states);
        let mut counterexample: Vec<Event> = Vec::new();
        let mut positions: Vec<usize> =
            shown.iter().flat_map(|op| [Some(op.events.0), op.events.1]).flatten().collect();
        positions.sort_unstable();
        counterexample.extend(positions.into_iter().map(|p| events[p].clone()));
        let reason = format!(
            "{} of {} keys not linearizable; key {key:?} cannot be explained by any order of these {} operations",
            invalid_keys.len(),
            keys.len(),
            shown.len()
        );
        return result(Verdict::Invalid, reason, counterexample);
    }
    if !unknown.is_empty() {
        return result(Verdict::Unknown, unknown.join("; "), vec![]);
    }
    result(Verdict::Valid, format!("{total} operations on {} keys are linearizable", keys.len()), vec![])
}

/// Drops reads one at a time while the rest stays non-linearizable: fewer
/// reads only remove constraints, so what remains is still proof.
fn minimal_counterexample<'a>(ops: &[&'a Operation], max_states: usize) -> Vec<&'a Operation> {
    let mut kept: Vec<&Operation> = ops.to_vec();
    let budget_each = Instant::now() + Duration::from_secs(5);
    let mut i = kept.len();
    while i > 0 {
        i -= 1;
        if kept[i].f != Function::Get || Instant::now() > budget_each {
            continue;
        }
        let mut without = kept.clone();
        without.remove(i);
        if matches!(check_key(&without, budget_each, max_states), KeyVerdict::Invalid) {
            kept = without;
        }
    }
    kept
}

fn check_key(ops: &[&Operation], deadline: Instant, max_states: usize) -> KeyVerdict {
    let mut values: HashMap<String, State> = HashMap::new();
    let mut intern = |v: &Value| -> State {
        if v.is_null() {
            return 0;
        }
        let next = values.len() as State + 1;
        *values.entry(v.to_string()).or_insert(next)
    };
    let mut key_ops = Vec::new();
    for op in ops {
        let step = match op.f {
            Function::Put => Step::Put(intern(&op.input)),
            Function::Delete => Step::Delete,
            Function::Get if op.ret.is_none() => continue,
            Function::Get => Step::Get(intern(&op.output)),
            Function::Cas => match op.input.as_array().map(Vec::as_slice) {
                Some([expected, new]) => Step::Cas(intern(expected), intern(new)),
                _ => return KeyVerdict::Unknown(format!("a cas value must be [expected, new], got {}", op.input)),
            },
            Function::Append | Function::Read => continue,
        };
        key_ops.push(KeyOp { step, call: op.call, ret: op.ret });
    }
    search(&key_ops, deadline, max_states)
}

fn apply(state: State, step: Step) -> Option<State> {
    match step {
        Step::Put(v) => Some(v),
        Step::Get(v) => (v == state).then_some(state),
        Step::Delete => Some(0),
        Step::Cas(expected, new) => (expected == state).then_some(new),
    }
}

/// One call or return event in the doubly linked list the search walks.
#[derive(Clone, Copy)]
struct Node {
    op: usize,
    is_return: bool,
    prev: usize,
    next: usize,
    /// For a call: the node of its return.
    partner: usize,
}

const NIL: usize = usize::MAX;

/// Memory the memoization of one key may use (two keys are searched at once
/// on two cores).
const MEMO_BYTES: usize = 2 << 30;

fn search(ops: &[KeyOp], deadline: Instant, max_states: usize) -> KeyVerdict {
    let n = ops.len();
    let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
    for (i, op) in ops.iter().enumerate() {
        order.push((op.call, false, i));
        order.push((op.ret.unwrap_or(u64::MAX), true, i));
    }
    // At equal times calls come first: operations that touch are concurrent.
    order.sort_unstable();
    // Node 0 is a sentinel head.
    let mut nodes = vec![Node { op: NIL, is_return: false, prev: NIL, next: 1, partner: NIL }];
    let mut call_node = vec![0; n];
    let mut ret_node = vec![0; n];
    for (pos, &(_, is_return, op)) in order.iter().enumerate() {
        let id = pos + 1;
        nodes.push(Node {
            op,
            is_return,
            prev: id - 1,
            next: if pos + 1 < order.len() { id + 1 } else { NIL },
            partner: NIL,
        });
        if is_return { ret_node[op] = id } else { call_node[op] = id }
    }
    for op in 0..n {
        nodes[call_node[op]].partner = ret_node[op];
    }
    let lift = |nodes: &mut Vec<Node>, id: usize| {
        for x in [id, nodes[id].partner] {
            let Node { prev, next, .. } = nodes[x];
            nodes[prev].next = next;
            if next != NIL {
                nodes[next].prev = prev;
            }
        }
    };
    let unlift = |nodes: &mut Vec<Node>, id: usize| {
        for x in [nodes[id].partner, id] {
            let Node { prev, next, .. } = nodes[x];
            nodes[prev].next = x;
            if next != NIL {
                nodes[next].prev = x;
            }
        }
    };

    let mut remaining_ok = ops.iter().filter(|o| o.ret.is_some()).count();
    let mut linearized = vec![0u64; n.div_ceil(64)];
    // Each memoized state holds a copy of the linearized set: on a key with
    // many operations, bound the states by memory as well as by count.
    let max_states = max_states.min(MEMO_BYTES / (linearized.len() * 8 + 48));
    let mut state: State = 0;
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut seen: HashSet<(Vec<u64>, State)> = HashSet::new();
    let mut entry = nodes[0].next;
    let mut steps: u64 = 0;
    while remaining_ok > 0 {
        steps += 1;
        if steps.is_multiple_of(4096) && Instant::now() > deadline {
            return KeyVerdict::Unknown("out of time".into());
        }
        if entry != NIL && !nodes[entry].is_return {
            let op = nodes[entry].op;
            if let Some(next_state) = apply(state, ops[op].step) {
                linearized[op / 64] |= 1 << (op % 64);
                if seen.insert((linearized.clone(), next_state)) {
                    if seen.len() > max_states {
                        return KeyVerdict::Unknown(format!("explored more than {max_states} states"));
                    }
                    stack.push((entry, state));
                    state = next_state;
                    lift(&mut nodes, entry);
                    if ops[op].ret.is_some() {
                        remaining_ok -= 1;
                    }
                    entry = nodes[0].next;
                    continue;
                }
                linearized[op / 64] &= !(1 << (op % 64));
            }
            entry = nodes[entry].next;
            continue;
        }
        // A return of an operation not yet linearized (or the end): undo the
        // last choice and try the next candidate after it.
        let Some((undo, previous)) = stack.pop() else { return KeyVerdict::Invalid };
        let op = nodes[undo].op;
        linearized[op / 64] &= !(1 << (op % 64));
        state = previous;
        unlift(&mut nodes, undo);
        if ops[op].ret.is_some() {
            remaining_ok += 1;
        }
        entry = nodes[undo].next;
    }
    KeyVerdict::Valid
}
