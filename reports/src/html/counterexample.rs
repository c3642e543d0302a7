//! A counterexample on a time axis: a row per process, each operation a
//! bar from its invocation to its completion (open-ended when the outcome
//! is unknown), the proof's operations in colour and the context's
//! dimmed. Overlapping bars are what make an order impossible, so seeing
//! them beats reading timestamps.
//!
//! A checker's events may hold only one end of an operation; the other is
//! looked up in the run's history when there is one.

use std::collections::BTreeMap;

use history::{Event, EventType};

use super::escape;
use super::svg::{Axis, RIGHT, WIDTH, x_ticks};

/// Wider than other charts' margin: "process 123" labels the rows.
const LEFT: f64 = 90.0;
const PLOT_WIDTH: f64 = WIDTH - LEFT - RIGHT;
const TOP: f64 = 40.0;
const ROW: f64 = 30.0;
const BAR: f64 = 20.0;
const BOTTOM: f64 = 36.0;

/// One operation as drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub process: u64,
    pub invoke_ns: u64,
    /// None: it never completed, or completed as `info` (unknown).
    pub complete_ns: Option<u64>,
    pub label: String,
    pub proof: bool,
    /// The completion said `fail`: certainly not applied.
    pub failed: bool,
}

/// The operations of `proof` and `context`, each once, in invocation order.
pub fn bars(proof: &[Event], context: &[Event], history: Option<&[Event]>) -> Vec<Bar> {
    let mut found: BTreeMap<(u64, u64), Bar> = BTreeMap::new();
    for (events, proof) in [(proof, true), (context, false)] {
        for e in events {
            let (invoke, completion) = ends(e, events, history);
            let invoke_ns = invoke.map_or(e.time_ns, |i| i.time_ns);
            let done = completion.filter(|c| c.kind != EventType::Info);
            let label = label(invoke.unwrap_or(e), completion);
            let bar = Bar {
                process: e.process,
                invoke_ns,
                complete_ns: done.map(|c| c.time_ns),
                label,
                proof,
                failed: done.is_some_and(|c| c.kind == EventType::Fail),
            };
            // An operation in the proof and the context is proof.
            found.entry((e.process, invoke_ns)).and_modify(|b| b.proof |= proof).or_insert(bar);
        }
    }
    let mut bars: Vec<Bar> = found.into_values().collect();
    bars.sort_by_key(|b| (b.invoke_ns, b.process));
    bars
}

/// The invocation and completion `e` belongs to, from `events` first and
/// then the history.
fn ends<'a>(e: &'a Event, events: &'a [Event], history: Option<&'a [Event]>) -> (Option<&'a Event>, Option<&'a Event>) {
    let sources = [Some(events), history];
    let same = |o: &&Event| o.process == e.process && o.f == e.f && o.key == e.key;
    if e.kind == EventType::Invoke {
        let completion = sources
            .iter()
            .flatten()
            .find_map(|list| list.iter().filter(same).find(|o| o.kind != EventType::Invoke && o.time_ns >= e.time_ns));
        (Some(e), completion)
    } else {
        let invoke = sources
            .iter()
            .flatten()
            .find_map(|list| list.iter().filter(same).rfind(|o| o.kind == EventType::Invoke && o.time_ns <= e.time_ns));
        (invoke, Some(e))
    }
}

/// Characters of an operation's value shown on its bar at most.
const MAX_LABEL: usize = 80;

/// "put k1 = v3", "get k1 -> v2", "cas k1 v1 -> v2 (fail)", "... ?"; an
/// operation of a history without keys (a bank's, a set's) is named by its
/// function alone: "add 7", "read -> [1,2]".
fn label(invoke: &Event, completion: Option<&Event>) -> String {
    let value = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let base = if invoke.key.is_empty() { invoke.f.to_string() } else { format!("{} {}", invoke.f, invoke.key) };
    let shown = match invoke.f {
        history::Function::Get | history::Function::Read => match completion {
            Some(c) if c.kind == EventType::Ok => format!("{base} \u{2192} {}", value(&c.value)),
            _ => base,
        },
        history::Function::Delete => base,
        _ => format!("{base} {}", value(&invoke.value)),
    };
    // A read of a whole set or list can hold thousands of values; the
    // listing below the chart has them all.
    let shown = if shown.chars().count() > MAX_LABEL {
        shown.chars().take(MAX_LABEL).chain(['\u{2026}']).collect()
    } else {
        shown
    };
    match completion.map(|c| c.kind) {
        Some(EventType::Fail) => format!("{shown} (fail)"),
        Some(EventType::Ok) => shown,
        _ => format!("{shown} ?"),
    }
}

/// The chart, or nothing when there is nothing to draw.
pub fn chart(proof: &[Event], context: &[Event], history: Option<&[Event]>) -> String {
    let bars = bars(proof, context, history);
    if bars.is_empty() {
        return String::new();
    }
    let first = bars.iter().map(|b| b.invoke_ns).min().unwrap_or(0);
    let last = bars.iter().map(|b| b.complete_ns.unwrap_or(b.invoke_ns)).max().unwrap_or(first);
    // Room after the last end for open-ended bars to show they go on.
    let span = ((last - first) as f64 * 1.15).max(1_000.0);
    let x = |ns: u64| LEFT + (ns - first) as f64 / span * PLOT_WIDTH;
    // Labels of bars that start far right end at their start instead, inside the chart.
    let label_at = |start: f64| {
        if start > LEFT + 0.7 * PLOT_WIDTH { (start - 3.0, "end") } else { (start + 3.0, "start") }
    };
    let mut processes: Vec<u64> = bars.iter().map(|b| b.process).collect();
    processes.sort_unstable();
    processes.dedup();
    let row_top = |p: u64| TOP + processes.iter().position(|&q| q == p).unwrap_or(0) as f64 * ROW;
    let height = TOP + ROW * processes.len() as f64 + BOTTOM;
    let mut svg = format!(
        "<svg class=\"chart counterexample\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"counterexample\">\n\
         <text x=\"{LEFT}\" y=\"18\" font-size=\"13\" font-weight=\"bold\">The counterexample in time: \
         proof in colour, context dimmed, ? = outcome unknown</text>\n"
    );
    for &p in &processes {
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">process {p}</text>\n",
            LEFT - 6.0,
            row_top(p) + BAR / 2.0 + 4.0
        );
    }
    for bar in &bars {
        let start = x(bar.invoke_ns);
        let end = bar.complete_ns.map_or(LEFT + PLOT_WIDTH, x);
        let (fill, opacity, class) = match (bar.proof, bar.failed) {
            (true, false) => ("#e03131", "0.85", "proof"),
            (true, true) => ("#f783ac", "0.85", "proof"),
            (false, _) => ("#adb5bd", "0.5", "context"),
        };
        // An open end fades out: the operation may have taken effect any time after.
        let dash = if bar.complete_ns.is_none() { " stroke-dasharray=\"4 3\"" } else { "" };
        let completion =
            bar.complete_ns.map_or("never completed (unknown)".to_string(), |c| format!("completed at {c} ns"));
        svg += &format!(
            "<g class=\"op {class}\"><title>process {}: {}, invoked at {} ns, {completion}</title>\
             <rect x=\"{start:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{BAR}\" rx=\"3\" fill=\"{fill}\" fill-opacity=\"{opacity}\" stroke=\"{fill}\"{dash}/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"{}\">{}</text></g>\n",
            bar.process,
            escape(&bar.label),
            bar.invoke_ns,
            row_top(bar.process),
            (end - start).max(2.0),
            label_at(start).0,
            row_top(bar.process) + BAR / 2.0 + 4.0,
            label_at(start).1,
            escape(&bar.label),
        );
    }
    let bottom = TOP + ROW * processes.len() as f64;
    svg += &x_ticks(&Axis::linear("ms", span / 1e6), LEFT, PLOT_WIDTH, bottom);
    svg += &format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">ms after the first invocation shown ({:.3} s into the run)</text>\n",
        LEFT + PLOT_WIDTH / 2.0,
        height - 4.0,
        first as f64 / 1e9
    );
    svg + "</svg>\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(process: u64, kind: EventType, f: history::Function, value: serde_json::Value, time_ns: u64) -> Event {
        Event { process, kind, f, key: "k".into(), value, time_ns, extra: Default::default() }
    }

    #[test]
    fn operations_without_a_key_are_named_by_their_function_and_value() {
        use history::Function::{Add, Read, Transfer};
        use serde_json::json;
        let keyless = |mut e: Event| {
            e.key.clear();
            e
        };
        let transfer = json!({"from": 1, "to": 2, "amount": 3});
        let invoke = keyless(event(1, EventType::Invoke, Transfer, transfer.clone(), 1));
        let ok = keyless(event(1, EventType::Ok, Transfer, transfer.clone(), 2));
        assert_eq!(label(&invoke, Some(&ok)), format!("transfer {transfer}"));
        let add = keyless(event(2, EventType::Invoke, Add, json!(7), 3));
        assert_eq!(label(&add, None), "add 7 ?");
        let (read, read_ok) = (
            keyless(event(3, EventType::Invoke, Read, json!(null), 4)),
            keyless(event(3, EventType::Ok, Read, json!([1, 2]), 5)),
        );
        assert_eq!(label(&read, Some(&read_ok)), "read \u{2192} [1,2]");
        let whole_set = keyless(event(3, EventType::Ok, Read, json!((0..1000).collect::<Vec<u32>>()), 5));
        let shown = label(&read, Some(&whole_set));
        assert_eq!(shown.chars().count(), MAX_LABEL + 1, "{shown}");
        assert!(shown.starts_with("read \u{2192} [0,1,2,") && shown.ends_with('\u{2026}'), "{shown}");
    }

    #[test]
    fn each_operation_is_one_bar_with_its_other_end_taken_from_the_history() {
        use history::Function::{Get, Put};
        use serde_json::json;
        let history = [
            event(1, EventType::Invoke, Put, json!("a"), 10),
            event(2, EventType::Invoke, Get, json!(null), 20),
            event(1, EventType::Ok, Put, json!("a"), 30),
            event(2, EventType::Ok, Get, json!("b"), 40),
            event(3, EventType::Invoke, Put, json!("b"), 50),
            event(3, EventType::Info, Put, json!("b"), 60),
        ];
        // The proof names the get by its completion only; the context the
        // put of "b" by its invocation.
        let bars = bars(
            &history[..1].iter().chain(&history[2..4]).cloned().collect::<Vec<_>>(),
            &history[4..5],
            Some(&history),
        );
        let shown: Vec<(u64, u64, Option<u64>, &str, bool)> =
            bars.iter().map(|b| (b.process, b.invoke_ns, b.complete_ns, b.label.as_str(), b.proof)).collect();
        assert_eq!(
            shown,
            [
                (1, 10, Some(30), "put k a", true),
                (2, 20, Some(40), "get k \u{2192} b", true),
                (3, 50, None, "put k b ?", false)
            ]
        );
    }
}
