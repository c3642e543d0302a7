//! The Wing-Gong-Lowe search for one key (Lowe, "Testing for
//! linearizability", 2017; the shape of Porcupine's `checkSingle`).
//!
//! The calls and returns of the acknowledged operations sit in one doubly
//! linked list in time order. Walking it from the head: at a call, try to
//! linearize that operation now (the model allows it from the current
//! state, and the resulting configuration was never explored before), and
//! if so lift its call and return out of the list and start again from the
//! head; at a return, the operation it closes was not linearized in time,
//! so try an operation of unknown outcome instead, then undo the last
//! choice and try the next one after it. The history is linearizable once
//! every acknowledged operation is linearized.
//!
//! Operations of unknown outcome (writes: unknown reads were dropped) may
//! take effect at any time between their call and their deadline (the end
//! of time for one that never returned), or never; they are what make a
//! search hard, since one called early may be used at any later point,
//! and shrinking a counterexample turns many operations into such ones. If
//! a linearization exists, one exists in which each of them
//! - changes the state and is followed by an operation that reads or
//!   compares against the value it wrote (otherwise leaving it out changes
//!   nothing else);
//! - is, of its twins (same step) that may take effect at that point, the
//!   one with the earliest deadline: swapping it with a twin of a later
//!   deadline used later (or never) keeps a linearization one, as neither
//!   has an outcome to show.
//!
//! so the search looks for those only, and tries them only when no
//! acknowledged operation will do. Its memo knows that a configuration
//! explored without success is hopeless with fewer operations of unknown
//! outcome left to use too.

use std::collections::HashMap;
use std::time::Instant;

use super::model::{ABSENT, KeyOp, State, Step};

/// How far one search may go before it gives up.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    pub deadline: Instant,
    pub max_states: usize,
    /// Memory the memo may use.
    pub memo_bytes: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Linearizable,
    NotLinearizable,
    /// A limit ran out first: the reason.
    GaveUp(String),
}

/// One call or return in the list the search walks.
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

struct List {
    /// Node 0 is the head sentinel.
    nodes: Vec<Node>,
}

impl List {
    /// The calls and returns of the acknowledged operations in time order;
    /// at equal times calls come first, so operations that touch count as
    /// concurrent.
    fn new(ops: &[KeyOp]) -> List {
        let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * ops.len());
        for (i, op) in ops.iter().enumerate() {
            if let Some(ret) = op.ret {
                order.push((op.call, false, i));
                order.push((ret, true, i));
            }
        }
        order.sort_unstable();
        let mut nodes = vec![Node { op: NIL, is_return: false, prev: NIL, next: NIL, partner: NIL }];
        let mut ret_node = vec![0; ops.len()];
        for (pos, &(_, is_return, op)) in order.iter().enumerate() {
            let id = pos + 1;
            nodes[id - 1].next = id;
            nodes.push(Node { op, is_return, prev: id - 1, next: NIL, partner: NIL });
            if is_return {
                ret_node[op] = id;
            }
        }
        for node in nodes.iter_mut().skip(1).filter(|n| !n.is_return) {
            node.partner = ret_node[node.op];
        }
        List { nodes }
    }

    fn first(&self) -> usize {
        self.nodes[0].next
    }

    /// Takes a call and its return out of the list.
    fn lift(&mut self, call: usize) {
        for x in [call, self.nodes[call].partner] {
            let Node { prev, next, .. } = self.nodes[x];
            self.nodes[prev].next = next;
            if next != NIL {
                self.nodes[next].prev = prev;
            }
        }
    }

    /// Puts back what `lift` took out (in reverse, so the links it kept are
    /// still right).
    fn unlift(&mut self, call: usize) {
        for x in [self.nodes[call].partner, call] {
            let Node { prev, next, .. } = self.nodes[x];
            self.nodes[prev].next = x;
            if next != NIL {
                self.nodes[next].prev = x;
            }
        }
    }
}

/// The operations of unknown outcome with one step, in the order they are
/// preferred: by deadline, then call time, then position.
struct Twins {
    step: Step,
    ops: Vec<usize>,
    /// Whether each of `ops` is linearized.
    used: Vec<bool>,
}

impl Twins {
    fn of(ops: &[KeyOp]) -> Vec<Twins> {
        let mut unknown: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].ret.is_none()).collect();
        unknown.sort_by_key(|&i| (ops[i].deadline, ops[i].call, i));
        let mut class: HashMap<Step, usize> = HashMap::new();
        let mut twins: Vec<Twins> = Vec::new();
        for i in unknown {
            let c = *class.entry(ops[i].step).or_insert_with(|| {
                twins.push(Twins { step: ops[i].step, ops: Vec::new(), used: Vec::new() });
                twins.len() - 1
            });
            twins[c].ops.push(i);
            twins[c].used.push(false);
        }
        twins
    }

    /// The one to use next (its place in `ops`), if one may take effect
    /// after the operations linearized so far, the latest of them called
    /// at `after`, and before the first return not linearized, at `until`.
    fn next(&self, ops: &[KeyOp], after: u64, until: u64) -> Option<usize> {
        (0..self.ops.len()).find(|&k| {
            let op = &ops[self.ops[k]];
            !self.used[k] && op.call <= until && op.deadline >= after
        })
    }
}

/// Where the search looks next.
#[derive(Clone, Copy)]
enum Cursor {
    /// At a node of the list.
    Walk(usize),
    /// At a class of twins, for operations of unknown outcome called by
    /// `until` (the time of the first return still in the list).
    Unknown { class: usize, until: u64 },
}

/// A choice made, with the state and the latest call linearized before it.
enum Choice {
    Acked { node: usize, before: State, after: u64 },
    Unknown { class: usize, twin: usize, until: u64, before: State, after: u64 },
}

pub(super) fn search(ops: &[KeyOp], limits: &Limits) -> Outcome {
    let mut list = List::new(ops);
    let mut twins = Twins::of(ops);
    let mut memo = Memo::new(ops, limits);
    let mut remaining_ok = ops.iter().filter(|o| o.ret.is_some()).count();
    let mut state: State = ABSENT;
    // The latest call of the operations linearized: an operation of unknown
    // outcome whose deadline is earlier can no longer take effect.
    let mut after: u64 = 0;
    let mut stack: Vec<Choice> = Vec::new();
    // The values the acknowledged calls before the first return read or
    // compare against, for the operations of unknown outcome to serve.
    let mut wanted: Vec<State> = Vec::new();
    let mut cursor = Cursor::Walk(list.first());
    let mut steps: u64 = 0;
    while remaining_ok > 0 {
        steps += 1;
        if steps.is_multiple_of(4096) && Instant::now() > limits.deadline {
            return Outcome::GaveUp("out of time".into());
        }
        // After an operation of unknown outcome, only one that observes
        // the value it wrote.
        let fits = |step: Step| !matches!(stack.last(), Some(Choice::Unknown { .. })) || step.observed() == Some(state);
        match cursor {
            Cursor::Walk(entry) if entry != NIL && !list.nodes[entry].is_return => {
                let op = list.nodes[entry].op;
                let step = ops[op].step;
                if let Some(next) = step.apply(state).filter(|_| fits(step)) {
                    match memo.visit(op, next, false) {
                        Err(why) => return Outcome::GaveUp(why),
                        Ok(true) => {
                            stack.push(Choice::Acked { node: entry, before: state, after });
                            state = next;
                            after = after.max(ops[op].call);
                            list.lift(entry);
                            remaining_ok -= 1;
                            cursor = Cursor::Walk(list.first());
                            continue;
                        }
                        Ok(false) => {}
                    }
                }
                cursor = Cursor::Walk(list.nodes[entry].next);
                continue;
            }
            Cursor::Walk(boundary) if !twins.is_empty() => {
                let until =
                    if boundary == NIL { u64::MAX } else { ops[list.nodes[boundary].op].ret.unwrap_or(u64::MAX) };
                wanted_before(&list, ops, &mut wanted);
                cursor = Cursor::Unknown { class: 0, until };
                continue;
            }
            Cursor::Unknown { class, until } if class < twins.len() => {
                let step = twins[class].step;
                let candidate = twins[class].next(ops, after, until).zip(step.apply(state)).filter(|&(_, next)| {
                    next != state
                        && fits(step)
                        && (wanted.contains(&next)
                            || twins
                                .iter()
                                .any(|t| t.step.observed() == Some(next) && t.next(ops, after, until).is_some()))
                });
                if let Some((twin, next)) = candidate {
                    let op = twins[class].ops[twin];
                    match memo.visit(op, next, true) {
                        Err(why) => return Outcome::GaveUp(why),
                        Ok(true) => {
                            stack.push(Choice::Unknown { class, twin, until, before: state, after });
                            twins[class].used[twin] = true;
                            state = next;
                            after = after.max(ops[op].call);
                            cursor = Cursor::Walk(list.first());
                            continue;
                        }
                        Ok(false) => {}
                    }
                }
                cursor = Cursor::Unknown { class: class + 1, until };
                continue;
            }
            Cursor::Walk(_) | Cursor::Unknown { .. } => {}
        }
        // Nothing more to try here: undo the last choice and try the next
        // one after it.
        match stack.pop() {
            None => return Outcome::NotLinearizable,
            Some(Choice::Acked { node, before, after: earlier }) => {
                memo.unmark(list.nodes[node].op);
                state = before;
                after = earlier;
                list.unlift(node);
                remaining_ok += 1;
                cursor = Cursor::Walk(list.nodes[node].next);
            }
            Some(Choice::Unknown { class, twin, until, before, after: earlier }) => {
                twins[class].used[twin] = false;
                memo.unmark(twins[class].ops[twin]);
                state = before;
                after = earlier;
                wanted_before(&list, ops, &mut wanted);
                cursor = Cursor::Unknown { class: class + 1, until };
            }
        }
    }
    Outcome::Linearizable
}

/// Collects into `wanted` the values observed by the calls in the list
/// before its first return.
fn wanted_before(list: &List, ops: &[KeyOp], wanted: &mut Vec<State>) {
    wanted.clear();
    let mut node = list.first();
    while node != NIL && !list.nodes[node].is_return {
        wanted.extend(ops[list.nodes[node].op].step.observed());
        node = list.nodes[node].next;
    }
}

/// The configurations explored: which acknowledged operations are
/// linearized, the state, and whether the last operation is of unknown
/// outcome (it restricts what comes next), each with the sets of
/// operations of unknown outcome used on the ways it was reached. None of
/// those sets holds another: a configuration reached having used at least
/// one of them is hopeless.
struct Memo {
    /// Each operation's position in the set it belongs to (acknowledged or
    /// unknown).
    index: Vec<usize>,
    unknown: Vec<bool>,
    /// The acknowledged operations linearized, and one more word: the
    /// state and whether the last operation is of unknown outcome.
    acked: Vec<u64>,
    /// The operations of unknown outcome linearized.
    used: Vec<u64>,
    seen: HashMap<Box<[u64]>, Vec<Box<[u64]>>>,
    entries: usize,
    max_entries: usize,
}

impl Memo {
    fn new(ops: &[KeyOp], limits: &Limits) -> Memo {
        let unknown: Vec<bool> = ops.iter().map(|op| op.ret.is_none()).collect();
        let mut counts = [0, 0];
        let index = unknown
            .iter()
            .map(|&u| {
                counts[usize::from(u)] += 1;
                counts[usize::from(u)] - 1
            })
            .collect();
        let [acked_words, used_words] = counts.map(|n: usize| n.div_ceil(64));
        let entry_bytes = (acked_words + 1 + used_words) * 8 + 64;
        Memo {
            index,
            unknown,
            acked: vec![0; acked_words + 1],
            used: vec![0; used_words],
            seen: HashMap::new(),
            entries: 0,
            max_entries: limits.max_states.min(limits.memo_bytes / entry_bytes),
        }
    }

    fn set(&mut self, op: usize) -> (&mut [u64], usize) {
        let i = self.index[op];
        let set = if self.unknown[op] { &mut self.used } else { &mut self.acked };
        (set, i)
    }

    fn unmark(&mut self, op: usize) {
        let (set, i) = self.set(op);
        set[i / 64] &= !(1 << (i % 64));
    }

    /// Linearizes `op`, leaving `state`; true if the configuration is new
    /// (and worth exploring), false (with `op` unmarked again) if it is
    /// hopeless; an error when the memo is full.
    fn visit(&mut self, op: usize, state: State, after_unknown: bool) -> Result<bool, String> {
        let (set, i) = self.set(op);
        set[i / 64] |= 1 << (i % 64);
        let words = self.acked.len();
        self.acked[words - 1] = u64::from(state) | u64::from(after_unknown) << 32;
        let used = &self.used;
        let is_subset = |a: &[u64], b: &[u64]| a.iter().zip(b).all(|(x, y)| x & !y == 0);
        let hopeless = match self.seen.get_mut(self.acked.as_slice()) {
            Some(sets) if sets.iter().any(|s| is_subset(s, used)) => true,
            Some(sets) => {
                let before = sets.len();
                sets.retain(|s| !is_subset(used, s));
                self.entries -= before - sets.len();
                sets.push(used.as_slice().into());
                false
            }
            None => {
                self.seen.insert(self.acked.as_slice().into(), vec![used.as_slice().into()]);
                false
            }
        };
        if hopeless {
            self.unmark(op);
            return Ok(false);
        }
        self.entries += 1;
        if self.entries > self.max_entries {
            return Err(format!("explored more than {} states", self.max_entries));
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits() -> Limits {
        Limits { deadline: Instant::now() + Duration::from_secs(10), max_states: 1 << 20, memo_bytes: 1 << 30 }
    }

    fn op(step: Step, call: u64, ret: Option<u64>) -> KeyOp {
        KeyOp::new(step, call, ret)
    }

    #[test]
    fn an_unknown_write_may_take_effect_long_after_its_call() {
        let ops = [
            op(Step::Put(1), 0, Some(1)),
            op(Step::Put(2), 2, None),
            op(Step::Get(1), 3, Some(4)),
            op(Step::Get(2), 10, Some(11)),
        ];
        assert_eq!(search(&ops, &limits()), Outcome::Linearizable);
        // Acknowledged at 3, it cannot take effect after the read at 3..4.
        let acked = [ops[0], op(Step::Put(2), 2, Some(3)), op(Step::Get(1), 5, Some(6)), ops[3]];
        assert_eq!(search(&acked, &limits()), Outcome::NotLinearizable);
    }

    #[test]
    fn a_write_no_longer_trusted_may_only_take_effect_by_its_return() {
        let ops = [
            op(Step::Put(1), 0, Some(1)),
            op(Step::Put(2), 2, Some(3)).relaxed(),
            op(Step::Get(1), 4, Some(5)),
            op(Step::Get(2), 6, Some(7)),
        ];
        // Put 2 took effect before the read of 1 or never: 2 cannot be read after.
        assert_eq!(search(&ops, &limits()), Outcome::NotLinearizable);
        let never_returned = [ops[0], op(Step::Put(2), 2, None), ops[2], ops[3]];
        assert_eq!(search(&never_returned, &limits()), Outcome::Linearizable);
    }

    #[test]
    fn twins_are_used_earliest_deadline_first() {
        // Two relaxed puts of 2 called together: the one due at 5 serves the
        // first read of 2, the one due at 20 the read after put 3. Used the
        // other way round, the second read finds no put of 2 left.
        let ops = [
            op(Step::Put(1), 0, Some(1)),
            op(Step::Put(2), 2, Some(20)).relaxed(),
            op(Step::Put(2), 2, Some(5)).relaxed(),
            op(Step::Get(2), 3, Some(4)),
            op(Step::Put(3), 8, Some(9)),
            op(Step::Get(2), 10, Some(11)),
        ];
        assert_eq!(search(&ops, &limits()), Outcome::Linearizable);
    }

    #[test]
    fn nothing_to_linearize_is_linearizable() {
        assert_eq!(search(&[], &limits()), Outcome::Linearizable);
        assert_eq!(search(&[op(Step::Put(1), 0, None)], &limits()), Outcome::Linearizable);
    }

    #[test]
    fn the_memo_cap_gives_up_rather_than_guesses() {
        let ops = [op(Step::Put(1), 0, Some(5)), op(Step::Put(2), 0, Some(5)), op(Step::Get(3), 6, Some(7))];
        let tight = Limits { max_states: 1, ..limits() };
        assert!(matches!(search(&ops, &tight), Outcome::GaveUp(why) if why.contains("more than 1 states")));
    }
}
