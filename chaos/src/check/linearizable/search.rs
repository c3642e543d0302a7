//! The Wing-Gong-Lowe search for one key (Lowe, "Testing for
//! linearizability", 2017; the shape of Porcupine's `checkSingle`).
//!
//! The history's calls and returns sit in one doubly linked list in time
//! order. Walking it from the head: at a call, try to linearize that
//! operation now (the model allows it from the current state, and the
//! resulting (linearized set, state) pair was never explored before), and if
//! so lift its call and return out of the list and start again from the
//! head; at a return, the operation it closes was not linearized in time, so
//! undo the last choice and try the next call after it. The history is
//! linearizable once every acknowledged operation is linearized; operations
//! of unknown outcome have their return at the very end (infinity) and may
//! be left out.

use std::collections::HashSet;
use std::time::Instant;

use super::model::{ABSENT, KeyOp, State};

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
    /// Calls and returns in time order; at equal times calls come first, so
    /// operations that touch count as concurrent.
    fn new(ops: &[KeyOp]) -> List {
        let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * ops.len());
        for (i, op) in ops.iter().enumerate() {
            order.push((op.call, false, i));
            order.push((op.ret.unwrap_or(u64::MAX), true, i));
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

pub(super) fn search(ops: &[KeyOp], limits: &Limits) -> Outcome {
    let mut list = List::new(ops);
    let mut remaining_ok = ops.iter().filter(|o| o.ret.is_some()).count();
    let words = ops.len().div_ceil(64);
    // A memo entry is the linearized set with the state as one more word.
    let entry_bytes = (words + 1) * 8 + 48;
    let max_states = limits.max_states.min(limits.memo_bytes / entry_bytes);
    let mut linearized = vec![0u64; words + 1];
    let mut seen: HashSet<Box<[u64]>> = HashSet::new();
    let mut state: State = ABSENT;
    // The calls linearized so far, with the state before each.
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut entry = list.first();
    let mut steps: u64 = 0;
    while remaining_ok > 0 {
        steps += 1;
        if steps.is_multiple_of(4096) && Instant::now() > limits.deadline {
            return Outcome::GaveUp("out of time".into());
        }
        if entry != NIL && !list.nodes[entry].is_return {
            let op = list.nodes[entry].op;
            if let Some(next_state) = ops[op].step.apply(state) {
                linearized[op / 64] |= 1 << (op % 64);
                linearized[words] = u64::from(next_state);
                if seen.insert(linearized.as_slice().into()) {
                    if seen.len() > max_states {
                        return Outcome::GaveUp(format!("explored more than {max_states} states"));
                    }
                    stack.push((entry, state));
                    state = next_state;
                    list.lift(entry);
                    if ops[op].ret.is_some() {
                        remaining_ok -= 1;
                    }
                    entry = list.first();
                    continue;
                }
                linearized[op / 64] &= !(1 << (op % 64));
            }
            entry = list.nodes[entry].next;
            continue;
        }
        // A return of an operation not yet linearized (or the end of the
        // list): undo the last choice and try the next call after it.
        let Some((undo, previous)) = stack.pop() else { return Outcome::NotLinearizable };
        let op = list.nodes[undo].op;
        linearized[op / 64] &= !(1 << (op % 64));
        state = previous;
        list.unlift(undo);
        if ops[op].ret.is_some() {
            remaining_ok += 1;
        }
        entry = list.nodes[undo].next;
    }
    Outcome::Linearizable
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::model::Step;
    use super::*;

    fn limits() -> Limits {
        Limits { deadline: Instant::now() + Duration::from_secs(10), max_states: 1 << 20, memo_bytes: 1 << 30 }
    }

    fn op(step: Step, call: u64, ret: Option<u64>) -> KeyOp {
        KeyOp { step, call, ret }
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
