//! The files of a run and its one-screen text summary.
//!
//! `--out DIR` gets:
//! - `summary.json`: [`Summary`], schema `loadgen-summary/1` (below);
//! - `<op>.hgrm` and `<op>.uncorrected.hgrm` per operation name: HdrHistogram
//!   percentile distributions in milliseconds;
//! - `timeline.csv`: one row per measured second (see
//!   [`Recorder::write_timeline`]);
//! - `history.jsonl`: every operation's invoke and completion, in the
//!   `history` crate's format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::record::{Percentiles, Recorder, write_hgrm};
use crate::run::RateReport;
use crate::workload::{Mode, Workload};

/// `summary.json`. Latencies are in microseconds; `corrected` counts from
/// the intended send time, `uncorrected` from the actual one. Every figure
/// covers the measured part of the run only (after the warm-up).
#[derive(Debug, Serialize)]
pub struct Summary {
    /// `loadgen-summary/1`; a new version number on any incompatible change.
    pub schema: &'static str,
    pub workload: String,
    pub target: String,
    /// `open` or `closed`.
    pub mode: &'static str,
    /// Open loop: the bound on operations in flight; closed: the clients.
    pub clients: usize,
    pub seed: u64,
    pub key_prefix: String,
    pub duration_seconds: f64,
    pub warmup_seconds: f64,
    pub rate: RateReport,
    /// Operations by outcome: `ok`, `failed` (certainly not applied),
    /// `unknown` (may have applied).
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Failed and unknown operations by the reason the target gave.
    pub errors: BTreeMap<String, u64>,
    /// Per operation name (read, update, ...): `corrected` and `uncorrected`
    /// percentiles of ok operations.
    pub latency_us: BTreeMap<&'static str, BTreeMap<&'static str, Percentiles>>,
    /// How late loadgen sent operations against their intended time: its own
    /// share of the corrected latency.
    pub send_lag_us: Percentiles,
    /// Events in `history.jsonl` (preload and warm-up included).
    pub history_events: usize,
}

impl Summary {
    pub fn new(
        recorder: &Recorder,
        workload: &Workload,
        target: &str,
        seed: u64,
        key_prefix: &str,
        rate: RateReport,
    ) -> Summary {
        let mut latency_us: BTreeMap<&'static str, BTreeMap<&'static str, Percentiles>> = BTreeMap::new();
        for (kind, histograms) in [("corrected", &recorder.corrected), ("uncorrected", &recorder.uncorrected)] {
            for (name, h) in histograms {
                latency_us.entry(name).or_default().insert(kind, Percentiles::of(h));
            }
        }
        let mode = if workload.load.mode == Mode::Open { "open" } else { "closed" };
        let default_clients = if workload.load.mode == Mode::Open { crate::run::DEFAULT_OPEN_CLIENTS } else { 1 };
        Summary {
            schema: "loadgen-summary/1",
            workload: workload.name.clone(),
            target: target.into(),
            mode,
            clients: workload.load.clients.unwrap_or(default_clients),
            seed,
            key_prefix: key_prefix.into(),
            duration_seconds: workload.load.duration.as_secs_f64(),
            warmup_seconds: recorder.warmup().as_secs_f64(),
            rate,
            outcomes: recorder.counts.clone(),
            errors: recorder.errors.clone(),
            latency_us,
            send_lag_us: Percentiles::of(&recorder.send_lag),
            history_events: recorder.history.len(),
        }
    }

    /// The one-screen summary for a terminal.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{} against {} ({} loop, seed {})", self.workload, self.target, self.mode, self.seed);
        let r = &self.rate;
        let _ = match (r.target_rate, r.rate_error) {
            (Some(t), Some(e)) => writeln!(
                s,
                "rate      {:.0} ops/s achieved of {t:.0} target ({:.2}% off) over {:.1} s",
                r.achieved_rate,
                100.0 * e,
                r.measured_seconds
            ),
            _ => writeln!(s, "rate      {:.0} ops/s over {:.1} s", r.achieved_rate, r.measured_seconds),
        };
        let outcomes: Vec<String> = self.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(s, "outcomes  {}", outcomes.join(", "));
        let mut errors: Vec<(&String, &u64)> = self.errors.iter().collect();
        errors.sort_by(|a, b| b.1.cmp(a.1));
        for (why, n) in errors.iter().take(3) {
            let _ = writeln!(s, "  {n:>8} × {why}");
        }
        let _ = writeln!(
            s,
            "{:<30} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "latency ms", "count", "p50", "p99", "p99.9", "p99.99", "max"
        );
        let ms = |us: u64| us as f64 / 1000.0;
        let mut row = |label: String, p: &Percentiles| {
            let _ = writeln!(
                s,
                "{label:<30} {:>9} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                p.count,
                ms(p.p50),
                ms(p.p99),
                ms(p.p999),
                ms(p.p9999),
                ms(p.max)
            );
        };
        for (name, kinds) in &self.latency_us {
            for (kind, p) in kinds {
                row(format!("{name} {kind}"), p);
            }
        }
        if self.mode == "open" {
            row("loadgen send lag".into(), &self.send_lag_us);
        }
        s
    }
}

pub fn write_all(dir: &Path, summary: &Summary, recorder: &Recorder) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(summary)? + "\n")?;
    write_recording(dir, recorder)
}

/// What the recorder holds, as files in `dir` (which must exist): an `.hgrm`
/// per operation (corrected, and `.uncorrected`), `timeline.csv` and
/// `history.jsonl`.
pub fn write_recording(dir: &Path, recorder: &Recorder) -> std::io::Result<()> {
    for (suffix, histograms) in [("", &recorder.corrected), (".uncorrected", &recorder.uncorrected)] {
        for (name, h) in histograms {
            let mut out = BufWriter::new(std::fs::File::create(dir.join(format!("{name}{suffix}.hgrm")))?);
            write_hgrm(h, &mut out)?;
            out.flush()?;
        }
    }
    let mut timeline = BufWriter::new(std::fs::File::create(dir.join("timeline.csv"))?);
    recorder.write_timeline(&mut timeline)?;
    timeline.flush()?;
    let mut history = BufWriter::new(std::fs::File::create(dir.join("history.jsonl"))?);
    for e in recorder.history.iter() {
        history::write_event(&mut history, e)?;
    }
    history.flush()
}
