//! The summary `chaos run` prints when it ends: one line per fact, the
//! verdict last (where a terminal leaves the eye).

use std::fmt::Write;
use std::path::Path;

use crate::summary::Summary;

fn ms(ns: Option<u64>) -> String {
    ns.map_or("never".to_string(), |ns| format!("{:.0} ms", ns as f64 / 1e6))
}

/// The lines for `summary`, whose files are in `dir`.
pub fn render(summary: &Summary, dir: &Path) -> String {
    let mut out = String::new();
    let s = summary;
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "scenario {} (seed {}): {} on {}, partitions by {}",
        s.scenario, s.seed, s.system, s.backend, s.cut_mechanism
    );
    if !s.unsafe_bugs.is_empty() {
        let _ = writeln!(out, "UNSAFE BUGS PLANTED: {:?}", s.unsafe_bugs);
    }
    for f in &s.faults {
        let (start, end) = (f.start_ns as f64 / 1e9, f.end_ns as f64 / 1e9);
        let _ = writeln!(out, "fault {:<16} nodes {:?} {start:>6.1}s-{end:>6.1}s  {}", f.kind, f.target, f.confirmed);
    }
    for r in &s.recoveries {
        let (write, leader) = (ms(r.to_first_write_ns), ms(r.to_first_leader_ns));
        let _ = writeln!(out, "recovery {:<13} first write after {write}, first leader after {leader}", r.fault);
    }
    let _ = writeln!(out, "load: {:.0} ops/s, outcomes {:?}", s.rate.achieved_rate, s.outcomes);
    for (op, p) in &s.latency_us {
        let ms = |us: u64| us as f64 / 1e3;
        let _ =
            writeln!(out, "latency {op:<8} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms", ms(p.p50), ms(p.p99), ms(p.max));
    }
    for t in &s.thresholds {
        let verdict = match t.passed {
            Some(true) => "met",
            Some(false) => "FAILED",
            None => "no value",
        };
        let _ = writeln!(out, "threshold {:<24} {verdict} (was {})", t.expr, t.actual.as_deref().unwrap_or("-"));
    }
    for c in &s.checks {
        let _ = writeln!(out, "{:<22} {:?}: {}", c.checker, c.verdict, c.reason);
    }
    let _ = writeln!(out, "reproduce: {}", s.reproduce.command());
    let _ = writeln!(out, "verdict: {:?}; results in {}", s.verdict, dir.display());
    out
}
