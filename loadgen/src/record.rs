//! What a run measured: latency histograms per operation (corrected for
//! coordinated omission and not), how late the sender was, a per-second
//! timeline, outcome counts and error reasons, and the history.
//!
//! Times are offsets from the run's start. Only operations whose intended
//! send time falls after the warm-up count in the figures; the history
//! holds every operation.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use history::{Event, EventType, Function};
use serde::Serialize;
use serde_json::Value;

use crate::driver::Outcome;

/// Microseconds, from 1 µs to an hour, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// Distinct error reasons kept by name; the rest are counted as "other",
/// so a target that puts addresses or ids in its errors cannot grow the
/// summary without bound.
const MAX_REASONS: usize = 32;

/// The history as it is recorded, in chunks of a fixed size, so that it
/// grows without moving what it holds: every lane records through one lock,
/// and a `Vec` doubling from hundreds of thousands of events held that lock
/// for 80-150 ms while it copied, a stall that every client saw.
#[derive(Debug, Default)]
pub struct EventLog {
    chunks: Vec<Vec<Event>>,
}

/// Events per chunk of an [`EventLog`] (about 2 MiB).
const CHUNK: usize = 16 * 1024;

impl EventLog {
    fn push(&mut self, event: Event) -> &mut Event {
        if self.chunks.last().is_none_or(|c| c.len() >= CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let chunk = self.chunks.last_mut().expect("just made room");
        chunk.push(event);
        chunk.last_mut().expect("just pushed")
    }

    pub fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// In the order they were recorded.
    pub fn iter(&self) -> impl Iterator<Item = &Event> + Clone {
        self.chunks.iter().flatten()
    }

    /// Every event in one `Vec`, moved there once, when the run is over.
    pub fn into_vec(self) -> Vec<Event> {
        let mut all = Vec::with_capacity(self.len());
        self.chunks.into_iter().for_each(|c| all.extend(c));
        all
    }
}

impl From<Vec<Event>> for EventLog {
    fn from(events: Vec<Event>) -> EventLog {
        EventLog { chunks: vec![events] }
    }
}

/// One second of the measured run.
struct Second {
    ok: u64,
    failed: u64,
    unknown: u64,
    latency: Histogram<u64>,
}

impl Default for Second {
    fn default() -> Self {
        Second { ok: 0, failed: 0, unknown: 0, latency: histogram() }
    }
}

pub struct Recorder {
    /// Where the measured schedule begins (after any preload): timeline
    /// seconds count from here.
    origin: Duration,
    /// Where the figures begin: `origin` plus the warm-up.
    measure_from: Duration,
    /// Latency from the intended send time (what a user waiting saw; from
    /// the actual send if that was earlier), per operation name, ok
    /// outcomes only.
    pub corrected: BTreeMap<&'static str, Histogram<u64>>,
    /// Latency from the actual send time (what most tools report).
    pub uncorrected: BTreeMap<&'static str, Histogram<u64>>,
    /// Actual minus intended send time, 0 when early: loadgen's own lateness
    /// (open loop; 0 in a closed loop, where the intended time is the send
    /// time).
    pub send_lag: Histogram<u64>,
    timeline: Vec<Second>,
    pub history: EventLog,
    /// Measured operations by outcome: ok, failed, unknown.
    pub counts: BTreeMap<&'static str, u64>,
    /// Measured failed and unknown operations by reason.
    pub errors: BTreeMap<String, u64>,
    pub measured_ops: u64,
    /// When the last measured operation completed.
    pub last_done: Duration,
    /// The instant times are offsets from.
    pub started: tokio::time::Instant,
    /// Why the run could not begin (a bank whose accounts could not be
    /// opened): a harness problem, not a verdict on the target.
    pub setup_failed: Option<String>,
}

impl Recorder {
    pub fn new(origin: Duration, warmup: Duration) -> Recorder {
        Recorder {
            origin,
            measure_from: origin + warmup,
            corrected: BTreeMap::new(),
            uncorrected: BTreeMap::new(),
            send_lag: histogram(),
            timeline: Vec::new(),
            history: EventLog::default(),
            counts: BTreeMap::new(),
            errors: BTreeMap::new(),
            measured_ops: 0,
            last_done: Duration::ZERO,
            started: tokio::time::Instant::now(),
            setup_failed: None,
        }
    }

    /// Moves the start of the measured schedule (once a preload is done).
    pub fn begin_at(&mut self, origin: Duration) {
        self.measure_from = origin + (self.measure_from - self.origin);
        self.origin = origin;
    }

    pub fn warmup(&self) -> Duration {
        self.measure_from - self.origin
    }

    /// One completed operation.
    pub fn record(
        &mut self,
        name: &'static str,
        intended: Duration,
        sent: Duration,
        done: Duration,
        outcome: &Outcome,
    ) {
        if intended < self.measure_from {
            return;
        }
        self.measured_ops += 1;
        self.last_done = self.last_done.max(done);
        let second = done.saturating_sub(self.origin).as_secs() as usize;
        if self.timeline.len() <= second {
            self.timeline.resize_with(second + 1, Second::default);
        }
        let row = &mut self.timeline[second];
        let micros = |d: Duration| (d.as_micros() as u64).max(1);
        // From the intended send time, or from the actual one if the sender
        // went early: either way never shorter than the uncorrected latency.
        let corrected = micros(done.saturating_sub(intended.min(sent)));
        let kind = match outcome {
            Outcome::Ok(_) => {
                row.ok += 1;
                let _ = row.latency.record(corrected);
                let _ = self.corrected.entry(name).or_insert_with(histogram).record(corrected);
                let _ =
                    self.uncorrected.entry(name).or_insert_with(histogram).record(micros(done.saturating_sub(sent)));
                "ok"
            }
            Outcome::Failed(why) => {
                row.failed += 1;
                self.error(why);
                "failed"
            }
            Outcome::Unknown(why) => {
                row.unknown += 1;
                self.error(why);
                "unknown"
            }
        };
        let _ = self.send_lag.record(micros(sent.saturating_sub(intended)));
        *self.counts.entry(kind).or_default() += 1;
    }

    fn error(&mut self, why: &str) {
        let reason = if self.errors.len() < MAX_REASONS || self.errors.contains_key(why) { why } else { "other" };
        *self.errors.entry(reason.to_string()).or_default() += 1;
    }

    /// Adds one event to the history; returns it, for fields most events lack.
    pub fn event(
        &mut self,
        process: u64,
        kind: EventType,
        f: Function,
        key: &str,
        value: Value,
        at: Duration,
    ) -> &mut Event {
        self.history.push(Event {
            process,
            kind,
            f,
            key: key.to_string(),
            value,
            time_ns: at.as_nanos() as u64,
            extra: Default::default(),
        })
    }

    /// `timeline.csv`: one row per second of the measured run, by completion
    /// time; `second` counts from the start of the schedule (so the first
    /// row is the first second after the warm-up), latency columns are
    /// corrected latencies of ok operations in microseconds (0 when none).
    pub fn write_timeline(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "second,ok,failed,unknown,p50_us,p99_us,max_us")?;
        let first = self.warmup().as_secs() as usize;
        for (i, s) in self.timeline.iter().enumerate().skip(first) {
            let (p50, p99, max) = if s.latency.is_empty() {
                (0, 0, 0)
            } else {
                (s.latency.value_at_quantile(0.5), s.latency.value_at_quantile(0.99), s.latency.max())
            };
            writeln!(out, "{i},{},{},{},{p50},{p99},{max}", s.ok, s.failed, s.unknown)?;
        }
        Ok(())
    }
}

/// Percentiles of one histogram, in microseconds.
#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub p9999: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        Percentiles {
            count: h.len(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
        }
    }
}

/// HdrHistogram's percentile distribution text (`.hgrm`, as
/// `outputPercentileDistribution` writes it with 5 ticks per half
/// distance), values in milliseconds: readable by HdrHistogram's plotter.
pub fn write_hgrm(h: &Histogram<u64>, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{:>12} {:>14} {:>10} {:>14}\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)")?;
    let mut count = 0;
    for v in h.iter_quantiles(5) {
        count += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let ms = v.value_iterated_to() as f64 / 1000.0;
        if q < 1.0 {
            writeln!(out, "{ms:>12.3} {q:>2.12} {count:>10} {:>14.2}", 1.0 / (1.0 - q))?;
        } else {
            writeln!(out, "{ms:>12.3} {q:>2.12} {count:>10}")?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_event_log_keeps_every_event_in_order_across_its_chunks() {
        let mut r = Recorder::new(Duration::ZERO, Duration::ZERO);
        let count = 2 * CHUNK + 3;
        for i in 0..count {
            r.event(i as u64, EventType::Invoke, Function::Put, "k", Value::Null, Duration::from_nanos(i as u64))
                .set_consistency("lease");
        }
        assert_eq!(r.history.len(), count);
        assert_eq!(r.history.chunks.len(), 3);
        assert!(r.history.iter().map(|e| e.process).eq(0..count as u64));
        let all = std::mem::take(&mut r.history).into_vec();
        assert!(all.iter().enumerate().all(|(i, e)| e.time_ns == i as u64 && e.consistency() == Some("lease")));
        let mut log = EventLog::from(all);
        let first = log.iter().next().unwrap().clone();
        log.push(Event { process: 9, ..first });
        assert_eq!((log.len(), log.chunks.len()), (count + 1, 2));
    }

    #[test]
    fn warm_up_operations_are_left_out_of_figures_and_timeline() {
        let mut r = Recorder::new(Duration::ZERO, Duration::from_secs(2));
        r.begin_at(Duration::from_secs(1));
        let ok = Outcome::Ok(Value::Null);
        r.record("read", 2900 * MS, 2900 * MS, 2910 * MS, &ok);
        r.record("read", 3000 * MS, 3000 * MS, 3010 * MS, &ok);
        r.record("read", 3500 * MS, 3600 * MS, 3700 * MS, &Outcome::Unknown("timeout".into()));
        assert_eq!(r.measured_ops, 2);
        assert_eq!(r.corrected["read"].len(), 1);
        assert_eq!(r.counts["unknown"], 1);
        assert_eq!(r.errors["timeout"], 1);
        assert_eq!(r.send_lag.max(), r.send_lag.highest_equivalent(100_000));
        let mut csv = Vec::new();
        r.write_timeline(&mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert_eq!(csv.lines().nth(1), Some("2,1,0,1,10007,10007,10007"), "{csv}");
        assert_eq!(csv.lines().count(), 2);
    }

    #[test]
    fn corrected_latency_starts_at_the_earlier_of_intended_and_actual_send() {
        let mut r = Recorder::new(Duration::ZERO, Duration::ZERO);
        let ok = Outcome::Ok(Value::Null);
        // Sent 0.5 ms early: 2 ms from the send, not 1.5 ms from the intent.
        r.record("early", 1000 * MS, 999_500 * MS / 1000, 1_001_500 * MS / 1000, &ok);
        // Sent 10 ms late: 12 ms from the intent, 2 ms from the send.
        r.record("late", 1000 * MS, 1010 * MS, 1012 * MS, &ok);
        assert_eq!(r.corrected["early"].max(), r.corrected["early"].highest_equivalent(2000));
        assert_eq!(r.uncorrected["early"].max(), r.uncorrected["early"].highest_equivalent(2000));
        assert_eq!(r.corrected["late"].max(), r.corrected["late"].highest_equivalent(12_000));
        assert_eq!(r.uncorrected["late"].max(), r.uncorrected["late"].highest_equivalent(2000));
        assert_eq!(r.send_lag.max(), r.send_lag.highest_equivalent(10_000));
    }

    #[test]
    fn hgrm_ends_at_the_max_with_the_total_count() {
        let mut h = histogram();
        for v in 1..=1000 {
            h.record(v * 1000).unwrap();
        }
        let mut out = Vec::new();
        write_hgrm(&h, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let last_row = text.lines().rfind(|l| !l.starts_with('#') && !l.trim().is_empty()).unwrap();
        let cells: Vec<&str> = last_row.split_whitespace().collect();
        assert_eq!(cells[1..], ["1.000000000000", "1000"], "{last_row}");
        assert!(text.contains("Total count    =         1000"), "{text}");
    }
}
