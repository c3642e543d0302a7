//! Conditions a run must meet besides correctness, written as
//! `METRIC OP VALUE`: `rto_p50 < 2s`, `lost_writes == 0`, `p99 < 50ms`,
//! `error_rate <= 5%`. A recovery metric may be narrowed to some fault
//! kinds: `rto_max[transfer_leader] <= 100ms`, `rto_p50[kill_leader,
//! pause_leader] <= 300ms` (no spaces inside the brackets). A failed
//! threshold makes the run invalid; one whose metric has no value (an RTO
//! in a run without faults of those kinds) makes it unknown.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::scenario::FaultKind;

/// The metrics measured per fault, which a threshold may narrow to some
/// fault kinds.
const RECOVERY_METRICS: [&str; 4] = ["rto_p50", "rto_p99", "rto_max", "election_max"];

/// The metrics a threshold can name, with their unit.
pub const METRICS: &[(&str, Unit, &str)] = &[
    ("lost_writes", Unit::Count, "keys whose last acknowledged write is missing after the heal"),
    ("rto_p50", Unit::Seconds, "median over faults of injection -> first acknowledged write sent after it"),
    ("rto_p99", Unit::Seconds, "99th percentile of the same"),
    ("rto_max", Unit::Seconds, "the slowest recovery"),
    ("election_max", Unit::Seconds, "slowest injection -> first leader elected after it"),
    ("p50", Unit::Seconds, "latency of acknowledged operations (corrected for coordinated omission)"),
    ("p99", Unit::Seconds, ""),
    ("p999", Unit::Seconds, ""),
    ("max", Unit::Seconds, ""),
    ("error_rate", Unit::Fraction, "operations that failed or whose outcome is unknown, of all"),
    ("achieved_rate", Unit::PerSecond, "operations completed per second"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    Fraction,
    PerSecond,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    pub text: String,
    pub metric: String,
    /// The fault kinds a recovery metric is narrowed to; empty: every fault.
    pub faults: Vec<FaultKind>,
    pub op: Op,
    /// In the metric's base unit (seconds, a fraction, a count).
    pub value: f64,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Threshold, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [metric, op, value] = parts[..] else {
            return Err(format!("{text:?}: expected METRIC OP VALUE, e.g. \"rto_p50 < 2s\""));
        };
        let (metric, faults) = split_fault_kinds(metric).map_err(|why| format!("{text:?}: {why}"))?;
        let Some(&(_, unit, _)) = METRICS.iter().find(|(name, _, _)| *name == metric) else {
            let names: Vec<&str> = METRICS.iter().map(|(n, _, _)| *n).collect();
            return Err(format!("{text:?}: unknown metric {metric:?}; expected one of {}", names.join(", ")));
        };
        let op = match op {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            _ => return Err(format!("{text:?}: expected one of < <= > >= == != after the metric, found {op:?}")),
        };
        let value = parse_value(value, unit).map_err(|why| format!("{text:?}: {why}"))?;
        Ok(Threshold { text: text.to_string(), metric: metric.to_string(), faults, op, value })
    }
}

/// `rto_max[kill_leader,pause_leader]` -> `rto_max` and those kinds.
fn split_fault_kinds(metric: &str) -> Result<(&str, Vec<FaultKind>), String> {
    let Some((name, kinds)) = metric.split_once('[') else { return Ok((metric, Vec::new())) };
    let Some(kinds) = kinds.strip_suffix(']') else {
        return Err(format!("{metric:?}: expected METRIC[FAULT_KIND,...], e.g. rto_max[transfer_leader]"));
    };
    if !RECOVERY_METRICS.contains(&name) {
        return Err(format!(
            "only the recovery metrics ({}) take fault kinds in brackets",
            RECOVERY_METRICS.join(", ")
        ));
    }
    let kinds = kinds
        .split(',')
        .map(|kind| {
            serde_json::from_value(serde_json::Value::String(kind.to_string()))
                .map_err(|_| format!("{kind:?} in {metric:?} is not a fault kind (e.g. kill_leader, transfer_leader)"))
        })
        .collect::<Result<Vec<FaultKind>, String>>()?;
    Ok((name, kinds))
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Threshold, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

fn parse_value(text: &str, unit: Unit) -> Result<f64, String> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+')).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("{text:?} does not start with a number"))?;
    let scale = match (unit, suffix) {
        (Unit::Seconds, "ns") => 1e-9,
        (Unit::Seconds, "us" | "µs") => 1e-6,
        (Unit::Seconds, "ms") => 1e-3,
        (Unit::Seconds, "s") => 1.0,
        (Unit::Seconds, _) => return Err(format!("{text:?} needs a time unit: ns, us, ms or s")),
        (Unit::Fraction, "%") => 0.01,
        (Unit::Fraction, "") => 1.0,
        (Unit::Count | Unit::PerSecond, "") => 1.0,
        (_, other) => return Err(format!("unexpected unit {other:?}")),
    };
    Ok(number * scale)
}

/// A threshold's outcome, as the report shows it.
pub use reports::ThresholdOutcome as Outcome;

/// What thresholds are judged on: the run's figures by metric name, and the
/// recovery after each fault, from which the recovery metrics are taken
/// (over the fault kinds a threshold names, or every fault).
pub struct Measured {
    pub values: BTreeMap<&'static str, f64>,
    pub recoveries: Vec<reports::Recovery>,
}

impl Measured {
    fn value(&self, t: &Threshold) -> Option<f64> {
        let seconds = |ns: u64| ns as f64 / 1e9;
        let chosen = self
            .recoveries
            .iter()
            .filter(|r| t.faults.is_empty() || t.faults.iter().any(|kind| kind.name() == r.fault));
        let rto: Vec<f64> = chosen.clone().filter_map(|r| r.to_first_write_ns).map(seconds).collect();
        let elections: Vec<f64> = chosen.filter_map(|r| r.to_first_leader_ns).map(seconds).collect();
        match t.metric.as_str() {
            "rto_p50" => quantile(&rto, 0.5),
            "rto_p99" => quantile(&rto, 0.99),
            "rto_max" => quantile(&rto, 1.0),
            "election_max" => quantile(&elections, 1.0),
            other => self.values.get(other).copied(),
        }
    }
}

pub fn evaluate(thresholds: &[Threshold], measured: &Measured) -> Vec<Outcome> {
    thresholds
        .iter()
        .map(|t| {
            let unit = METRICS.iter().find(|(n, _, _)| *n == t.metric).map_or(Unit::Count, |m| m.1);
            match measured.value(t) {
                Some(v) => {
                    Outcome { expr: t.text.clone(), actual: Some(show(v, unit)), passed: Some(t.op.holds(v, t.value)) }
                }
                None => Outcome { expr: t.text.clone(), actual: None, passed: None },
            }
        })
        .collect()
}

fn show(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Seconds if v < 1.0 => format!("{:.3}ms", v * 1e3),
        Unit::Seconds => format!("{v:.3}s"),
        Unit::Fraction => format!("{:.3}%", v * 100.0),
        Unit::PerSecond => format!("{v:.1}/s"),
        Unit::Count => format!("{v}"),
    }
}

/// The `q` quantile (nearest rank) of some values, None when there are none.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_units_into_base_units() {
        let t: Threshold = "rto_p50 < 2s".parse().unwrap();
        assert_eq!((t.metric.as_str(), t.op, t.value), ("rto_p50", Op::Lt, 2.0));
        assert_eq!("p99 <= 50ms".parse::<Threshold>().unwrap().value, 0.05);
        assert_eq!("error_rate < 5%".parse::<Threshold>().unwrap().value, 0.05);
        assert_eq!("lost_writes == 0".parse::<Threshold>().unwrap().op, Op::Eq);
    }

    #[test]
    fn bad_thresholds_say_what_was_expected() {
        let e = |s: &str| s.parse::<Threshold>().unwrap_err();
        assert!(e("rto < 2s").contains("unknown metric \"rto\"") && e("rto < 2s").contains("rto_p50"));
        assert!(e("p99 < 50").contains("needs a time unit"));
        assert!(e("p99 ~ 5ms").contains("expected one of <"));
        assert!(e("p99<5ms").contains("METRIC OP VALUE"));
    }

    #[test]
    fn evaluation_passes_fails_or_has_nothing_to_compare() {
        let ts: Vec<Threshold> =
            ["rto_p50 < 2s", "lost_writes == 0", "p99 < 1ms"].iter().map(|s| s.parse().unwrap()).collect();
        let measured = Measured { values: BTreeMap::from([("lost_writes", 0.0), ("p99", 0.004)]), recoveries: vec![] };
        let out = evaluate(&ts, &measured);
        assert_eq!(out.iter().map(|o| o.passed).collect::<Vec<_>>(), vec![None, Some(true), Some(false)]);
        assert_eq!(out[2].actual.as_deref(), Some("4.000ms"));
    }

    fn recovery(fault: &str, rto_ms: u64) -> reports::Recovery {
        reports::Recovery {
            fault: fault.into(),
            to_first_write_ns: Some(rto_ms * 1_000_000),
            to_first_leader_ns: Some(rto_ms * 1_000_000 / 2),
        }
    }

    #[test]
    fn recovery_metrics_narrowed_to_fault_kinds_count_only_those_faults() {
        let measured = Measured {
            values: BTreeMap::new(),
            recoveries: vec![
                recovery("kill_leader", 250),
                recovery("pause_leader", 350),
                recovery("leader_inbound", 500),
                recovery("transfer_leader", 40),
            ],
        };
        let judge = |text: &str| {
            let t: Threshold = text.parse().unwrap();
            evaluate(&[t], &measured).remove(0)
        };
        assert_eq!(judge("rto_max[transfer_leader] <= 100ms").actual.as_deref(), Some("40.000ms"));
        assert_eq!(judge("rto_p50[kill_leader,pause_leader,leader_inbound] <= 300ms").passed, Some(false));
        assert_eq!(judge("rto_p50[kill_leader,pause_leader,leader_inbound] <= 350ms").passed, Some(true));
        assert_eq!(judge("rto_p50 <= 250ms").actual.as_deref(), Some("250.000ms"), "every fault: 40 250 350 500");
        assert_eq!(judge("election_max[pause_leader] < 200ms").actual.as_deref(), Some("175.000ms"));
        assert_eq!(judge("rto_max[isolate_leader] < 1s").passed, None, "no such fault in the run");
    }

    #[test]
    fn fault_kinds_in_brackets_are_checked() {
        let e = |s: &str| s.parse::<Threshold>().unwrap_err();
        assert!(e("p99[kill_leader] < 1s").contains("only the recovery metrics"), "{}", e("p99[kill_leader] < 1s"));
        assert!(
            e("rto_max[kill_leaders] < 1s")
                .contains("\"kill_leaders\" in \"rto_max[kill_leaders]\" is not a fault kind")
        );
        assert!(e("rto_max[kill_leader < 1s").contains("expected METRIC[FAULT_KIND,...]"));
        let t: Threshold = "rto_max[kill_leader,transfer_leader] < 1s".parse().unwrap();
        assert_eq!(t.faults, vec![FaultKind::KillLeader, FaultKind::TransferLeader]);
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(quantile(&[3.0, 1.0, 2.0, 4.0], 0.5), Some(2.0));
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.99), Some(3.0));
    }
}
