//! The files of a run: summary.json, one .hgrm per operation, timeline.csv,
//! history.jsonl.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::record::{Percentiles, Recorder, write_hgrm};
use crate::run::RateReport;

/// `summary.json`. Latencies are in microseconds; `corrected` counts from
/// the intended send time, `uncorrected` from the actual one.
#[derive(Serialize)]
pub struct Summary<'a> {
    pub workload: &'a str,
    pub target: &'a str,
    pub mode: &'a str,
    pub seed: u64,
    pub warmup_seconds: f64,
    pub rate: RateReport,
    /// Outcomes of every operation (warm-up included): ok, failed, unknown.
    pub outcomes: &'a BTreeMap<&'static str, u64>,
    pub latency_us: BTreeMap<&'static str, BTreeMap<&'static str, Percentiles>>,
}

pub fn summary<'a>(
    recorder: &'a Recorder,
    workload: &'a str,
    target: &'a str,
    mode: &'a str,
    seed: u64,
    warmup_seconds: f64,
    rate: RateReport,
) -> Summary<'a> {
    let mut latency_us: BTreeMap<&'static str, BTreeMap<&'static str, Percentiles>> = BTreeMap::new();
    for (name, h) in &recorder.corrected {
        latency_us.entry(name).or_default().insert("corrected", Percentiles::of(h));
    }
    for (name, h) in &recorder.uncorrected {
        latency_us.entry(name).or_default().insert("uncorrected", Percentiles::of(h));
    }
    Summary { workload, target, mode, seed, warmup_seconds, rate, outcomes: &recorder.counts, latency_us }
}

pub fn write_all(dir: &Path, summary: &Summary<'_>, recorder: &Recorder) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(summary)? + "\n")?;
    for (name, h) in &recorder.corrected {
        write_hgrm(h, &mut BufWriter::new(std::fs::File::create(dir.join(format!("{name}.hgrm")))?))?;
    }
    for (name, h) in &recorder.uncorrected {
        let file = std::fs::File::create(dir.join(format!("{name}.uncorrected.hgrm")))?;
        write_hgrm(h, &mut BufWriter::new(file))?;
    }
    recorder.write_timeline(&mut BufWriter::new(std::fs::File::create(dir.join("timeline.csv"))?))?;
    let mut history = BufWriter::new(std::fs::File::create(dir.join("history.jsonl"))?);
    for e in &recorder.history {
        history::write_event(&mut history, e)?;
    }
    history.flush()
}
