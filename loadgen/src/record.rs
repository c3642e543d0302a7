//! What a run measured: latency histograms per operation (corrected for
//! coordinated omission and not), a per-second timeline, and the history.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use history::{Event, EventType, Function};
use serde::Serialize;
use serde_json::Value;

use crate::driver::Outcome;

fn histogram() -> Histogram<u64> {
    // Microseconds, from 1 µs to an hour, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// One second of the run.
#[derive(Default)]
struct Second {
    ok: u64,
    errors: BTreeMap<&'static str, u64>,
    latency: Option<Histogram<u64>>,
}

pub struct Recorder {
    warmup: Duration,
    /// Latency from the intended send time (what a user waiting saw).
    pub corrected: BTreeMap<&'static str, Histogram<u64>>,
    /// Latency from the actual send time (what most tools report).
    pub uncorrected: BTreeMap<&'static str, Histogram<u64>>,
    timeline: Vec<Second>,
    pub history: Vec<Event>,
    pub counts: BTreeMap<&'static str, u64>,
    /// Operations whose intended start is past the warm-up, whatever their outcome.
    pub measured_ops: u64,
    /// When the last operation completed.
    pub last_done: Duration,
}

impl Recorder {
    pub fn new(warmup: Duration) -> Recorder {
        Recorder {
            warmup,
            corrected: BTreeMap::new(),
            uncorrected: BTreeMap::new(),
            timeline: Vec::new(),
            history: Vec::new(),
            counts: BTreeMap::new(),
            measured_ops: 0,
            last_done: Duration::ZERO,
        }
    }

    /// One completed operation: times are offsets from the run's start.
    pub fn record(
        &mut self,
        name: &'static str,
        intended: Duration,
        sent: Duration,
        done: Duration,
        outcome: &Outcome,
    ) {
        let kind = match outcome {
            Outcome::Ok(_) => "ok",
            Outcome::Failed(_) => "failed",
            Outcome::Unknown(_) => "unknown",
        };
        *self.counts.entry(kind).or_default() += 1;
        self.last_done = self.last_done.max(done);
        let second = done.as_secs() as usize;
        if self.timeline.len() <= second {
            self.timeline.resize_with(second + 1, Second::default);
        }
        let s = &mut self.timeline[second];
        let corrected_us = (done.saturating_sub(intended).as_micros() as u64).max(1);
        match outcome {
            Outcome::Ok(_) => {
                s.ok += 1;
                let _ = s.latency.get_or_insert_with(histogram).record(corrected_us);
            }
            Outcome::Failed(_) | Outcome::Unknown(_) => *s.errors.entry(kind).or_default() += 1,
        }
        if intended < self.warmup {
            return;
        }
        self.measured_ops += 1;
        if !matches!(outcome, Outcome::Ok(_)) {
            return;
        }
        let uncorrected_us = (done.saturating_sub(sent).as_micros() as u64).max(1);
        let _ = self.corrected.entry(name).or_insert_with(histogram).record(corrected_us);
        let _ = self.uncorrected.entry(name).or_insert_with(histogram).record(uncorrected_us);
    }

    pub fn event(&mut self, process: u64, kind: EventType, f: Function, key: &str, value: Value, at: Duration) {
        self.history.push(Event {
            process,
            kind,
            f,
            key: key.to_string(),
            value,
            time_ns: at.as_nanos() as u64,
            extra: Default::default(),
        });
    }

    /// `second,ok,failed,unknown,p50_us,p99_us,max_us`, warm-up included
    /// (the summary says where it ends).
    pub fn write_timeline(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "second,ok,failed,unknown,p50_us,p99_us,max_us")?;
        for (i, s) in self.timeline.iter().enumerate() {
            let (p50, p99, max) = s
                .latency
                .as_ref()
                .map_or((0, 0, 0), |h| (h.value_at_quantile(0.5), h.value_at_quantile(0.99), h.max()));
            let failed = s.errors.get("failed").copied().unwrap_or(0);
            let unknown = s.errors.get("unknown").copied().unwrap_or(0);
            writeln!(out, "{i},{},{failed},{unknown},{p50},{p99},{max}", s.ok)?;
        }
        Ok(())
    }
}

/// Percentiles of one histogram, in microseconds.
#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub p9999: u64,
    pub max: u64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        Percentiles {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// HdrHistogram's percentile distribution text (`.hgrm`), values in ms.
pub fn write_hgrm(h: &Histogram<u64>, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{:>12} {:>14} {:>10} {:>14}\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)")?;
    let mut count = 0;
    for v in h.iter_quantiles(1) {
        count += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let inverse = if q < 1.0 { format!("{:.2}", 1.0 / (1.0 - q)) } else { "inf".into() };
        writeln!(out, "{:>12.3} {:>14.12} {:>10} {:>14}", v.value_iterated_to() as f64 / 1000.0, q, count, inverse)?;
    }
    writeln!(
        out,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]\n#[Max     = {:>12.3}, Total count    = {:>12}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0,
        h.max() as f64 / 1000.0,
        h.len()
    )
}
