//! A workload as a user writes it in YAML (see `workloads/*.yaml` and the
//! README). Unknown fields are errors; a YAML mistake is reported with its
//! file, line and column, a bad value with its field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::keys::Distribution;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    #[serde(default)]
    pub name: String,
    /// The register and list keys; none for a bank or a set, which have
    /// their own.
    #[serde(default)]
    pub keys: Keys,
    #[serde(default)]
    pub values: Values,
    pub mix: Mix,
    #[serde(default)]
    pub consistency: Consistency,
    /// Reads take these in turn, overriding `consistency`.
    #[serde(default)]
    pub read_consistency: Vec<Consistency>,
    /// Scans: the longest range, in keys (each scan draws 1..=this, as YCSB).
    #[serde(default = "default_scan_length")]
    pub scan_length: usize,
    /// The accounts of a bank workload (the mix's transfer and bank_read).
    #[serde(default)]
    pub bank: Option<Bank>,
    /// A set workload (the mix's add).
    #[serde(default)]
    pub set: Option<SetAdds>,
    pub load: Load,
}

/// Jepsen's bank: `accounts` accounts, each starting at `initial_balance`
/// (created before the run), so every read of them all must add up to
/// `accounts * initial_balance`; each transfer moves 1..=`max_transfer`
/// between two accounts drawn at random, and fails rather than overdraw.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bank {
    pub accounts: u32,
    pub initial_balance: u64,
    pub max_transfer: u64,
}

impl Bank {
    /// What every read of all the accounts must add up to.
    pub fn total(&self) -> i64 {
        i64::from(self.accounts) * self.initial_balance as i64
    }

    /// The accounts' names in the history: 0, 1, ...
    pub fn account_names(&self) -> Vec<String> {
        (0..self.accounts).map(|a| a.to_string()).collect()
    }
}

/// Jepsen's set: adds of unique elements (0, 1, 2, ...), then one read of
/// the whole set once the run (and, under chaos, every fault) is over.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAdds {
    /// Stop adding after this many (the run ends early when they are all
    /// sent); none: add until the duration is up.
    #[serde(default)]
    pub adds: Option<u64>,
}

fn default_scan_length() -> usize {
    100
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// Keys that exist at the start (inserts add more); at least 1 when
    /// the mix has register or list operations.
    pub count: u64,
    /// Write every key once before the measured run (as YCSB's load phase),
    /// so reads find values; the writes are in the history, not in the
    /// latency figures.
    #[serde(default)]
    pub preload: bool,
    #[serde(default)]
    pub distribution: DistributionName,
    /// Zipfian and latest: the skew; 0.99 as in YCSB.
    #[serde(default = "default_theta")]
    pub theta: f64,
    /// Hotspot: the share of keys that are hot, and of operations they get.
    #[serde(default = "default_hot_keys")]
    pub hot_keys: f64,
    #[serde(default = "default_hot_ops")]
    pub hot_ops: f64,
}

impl Default for Keys {
    /// No keys: for a bank or a set.
    fn default() -> Keys {
        Keys {
            count: 0,
            preload: false,
            distribution: DistributionName::default(),
            theta: default_theta(),
            hot_keys: default_hot_keys(),
            hot_ops: default_hot_ops(),
        }
    }
}

fn default_theta() -> f64 {
    0.99
}
fn default_hot_keys() -> f64 {
    0.2
}
fn default_hot_ops() -> f64 {
    0.8
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistributionName {
    Uniform,
    #[default]
    Zipfian,
    Latest,
    Hotspot,
}

/// Value sizes in bytes: fixed (`size`) or drawn uniformly from `min..=max`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Values {
    pub size: Option<usize>,
    pub min: Option<usize>,
    pub max: Option<usize>,
}

impl Default for Values {
    fn default() -> Self {
        Values { size: Some(100), min: None, max: None }
    }
}

impl Values {
    /// The smallest and largest size (equal for a fixed size); valid after
    /// [`Workload::parse`].
    pub fn range(&self) -> (usize, usize) {
        match (self.size, self.min, self.max) {
            (Some(s), _, _) => (s, s),
            (None, Some(min), Some(max)) => (min, max),
            _ => (100, 100),
        }
    }
}

/// Relative weights of the operations (any non-negative numbers).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    #[serde(default)]
    pub read: f64,
    #[serde(default)]
    pub update: f64,
    #[serde(default)]
    pub insert: f64,
    #[serde(default)]
    pub delete: f64,
    #[serde(default)]
    pub cas: f64,
    #[serde(default)]
    pub read_modify_write: f64,
    #[serde(default)]
    pub append: f64,
    #[serde(default)]
    pub list_read: f64,
    /// YCSB E's short range scans, over the register keys in key order;
    /// only for targets with range reads (etcd, the fake), refused before
    /// the run by the others.
    #[serde(default)]
    pub scan: f64,
    /// Bank: a transfer between two accounts (needs `bank:`).
    #[serde(default)]
    pub transfer: f64,
    /// Bank: a read of every account at once (needs `bank:`).
    #[serde(default)]
    pub bank_read: f64,
    /// Set: an add of a new element (a set workload).
    #[serde(default)]
    pub add: f64,
}

impl Mix {
    /// The weights of the register and list operations (what `keys` is for).
    fn keyed(&self) -> [f64; 9] {
        [
            self.read,
            self.update,
            self.insert,
            self.delete,
            self.cas,
            self.read_modify_write,
            self.append,
            self.list_read,
            self.scan,
        ]
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consistency {
    #[default]
    Lease,
    ReadIndex,
    Follower,
    Stale,
}

impl Consistency {
    /// As a workload writes it.
    pub fn name(self) -> &'static str {
        match self {
            Consistency::Lease => "lease",
            Consistency::ReadIndex => "read_index",
            Consistency::Follower => "follower",
            Consistency::Stale => "stale",
        }
    }
}

/// What a workload's operations act on, which decides how its history is
/// checked (validation keeps the three apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadKind {
    /// Registers and lists by key.
    KeyValue,
    /// A bank's accounts.
    Bank,
    /// One set.
    Set,
}

impl WorkloadKind {
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::KeyValue => "key-value",
            WorkloadKind::Bank => "bank",
            WorkloadKind::Set => "set",
        }
    }
}

impl Workload {
    pub fn kind(&self) -> WorkloadKind {
        if self.bank.is_some() {
            WorkloadKind::Bank
        } else if self.mix.add > 0.0 {
            WorkloadKind::Set
        } else {
            WorkloadKind::KeyValue
        }
    }

    /// The consistencies reads take in turn: `read_consistency`, or else
    /// `consistency` alone.
    pub fn reads(&self) -> Vec<Consistency> {
        if self.read_consistency.is_empty() { vec![self.consistency] } else { self.read_consistency.clone() }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    pub mode: Mode,
    /// Open loop: operations per second, sent on schedule whatever the
    /// latency (latency counts from the intended send time).
    pub rate: Option<f64>,
    /// Closed loop: clients, each waiting for its answer before the next.
    pub clients: Option<usize>,
    #[serde(deserialize_with = "duration")]
    pub duration: Duration,
    /// Measured but left out of the results.
    #[serde(default, deserialize_with = "duration")]
    pub warmup: Duration,
    /// Open loop: the rate changes at these points.
    #[serde(default)]
    pub steps: Vec<RateStep>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Open,
    Closed,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateStep {
    #[serde(deserialize_with = "duration")]
    pub after: Duration,
    pub rate: f64,
}

/// "250ms", "30s", "2m", or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| c.is_alphabetic()).unwrap_or(text.len()));
    let value: f64 = number.trim().parse().map_err(|_| format!("{text:?} is not a duration like 30s or 250ms"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        other => return Err(format!("unknown unit {other:?} in {text:?} (use ms, s or m)")),
    };
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(format!("{text:?} is not a non-negative duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(f64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Seconds(s) => parse_duration(&s.to_string()),
        Raw::Text(t) => parse_duration(&t),
    }
    .map_err(serde::de::Error::custom)
}

#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("{file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Yaml { file: PathBuf, line: usize, column: usize, message: String },
    #[error("{file}: {field}: {message}")]
    Invalid { file: PathBuf, field: &'static str, message: String },
}

impl Workload {
    pub fn load(file: &Path) -> Result<Workload, WorkloadError> {
        let text = std::fs::read_to_string(file).map_err(|source| WorkloadError::Read { file: file.into(), source })?;
        Workload::parse(file, &text)
    }

    pub fn parse(file: &Path, text: &str) -> Result<Workload, WorkloadError> {
        let workload: Workload = serde_yaml_ng::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            // The location leads the message already; drop its repeat at the end.
            let message = e.to_string();
            let message = message.strip_suffix(&format!(" at line {line} column {column}")).unwrap_or(&message).into();
            WorkloadError::Yaml { file: file.into(), line, column, message }
        })?;
        workload.validate().map_err(|(field, message)| WorkloadError::Invalid { file: file.into(), field, message })?;
        Ok(workload)
    }

    /// What `parse` checks beyond the YAML's shape: the field at fault and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let m = &self.mix;
        let keyed = m.keyed().iter().any(|w| *w > 0.0);
        if keyed && self.keys.count == 0 {
            return Err(("keys.count", "must be at least 1 (the mix has register or list operations)".into()));
        }
        self.validate_bank_and_set(keyed)?;
        if !(0.0..10.0).contains(&self.keys.theta) || self.keys.theta == 1.0 {
            return Err(("keys.theta", format!("{} is outside [0, 10) or exactly 1", self.keys.theta)));
        }
        for (field, v) in [("keys.hot_keys", self.keys.hot_keys), ("keys.hot_ops", self.keys.hot_ops)] {
            if !(0.0..=1.0).contains(&v) {
                return Err((field, format!("{v} is not a fraction in [0, 1]")));
            }
        }
        match (self.values.size, self.values.min, self.values.max) {
            (Some(_), None, None) => {}
            (None, Some(min), Some(max)) if min <= max => {}
            _ => return Err(("values", "give either size, or min and max with min <= max".into())),
        }
        let weights: Vec<f64> = m.keyed().into_iter().chain([m.transfer, m.bank_read, m.add]).collect();
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || weights.iter().sum::<f64>() <= 0.0 {
            return Err(("mix", "weights must be non-negative and not all zero".into()));
        }
        if self.scan_length == 0 {
            return Err(("scan_length", "must be at least 1".into()));
        }
        match self.load.mode {
            Mode::Open => match self.load.rate {
                Some(r) if r > 0.0 => {}
                _ => return Err(("load.rate", "an open loop needs a rate above 0 operations per second".into())),
            },
            Mode::Closed => match self.load.clients {
                Some(c) if c > 0 => {}
                _ => return Err(("load.clients", "a closed loop needs at least 1 client".into())),
            },
        }
        if self.load.duration.is_zero() {
            return Err(("load.duration", "must be above 0".into()));
        }
        if self.load.mode == Mode::Closed && !self.load.steps.is_empty() {
            return Err(("load.steps", "rate steps apply to an open loop only".into()));
        }
        if self.load.steps.iter().any(|s| s.rate <= 0.0 || s.after >= self.load.duration) {
            return Err(("load.steps", "each step needs a rate above 0 and a time within the duration".into()));
        }
        Ok(())
    }

    /// A bank's or a set's mix is theirs alone, and each needs its section.
    fn validate_bank_and_set(&self, keyed: bool) -> Result<(), (&'static str, String)> {
        let m = &self.mix;
        let banking = m.transfer > 0.0 || m.bank_read > 0.0;
        let adding = m.add > 0.0;
        if [keyed, banking, adding].iter().filter(|k| **k).count() > 1 {
            return Err((
                "mix",
                "a bank (transfer, bank_read), a set (add) and register or list operations cannot share a workload"
                    .into(),
            ));
        }
        match (&self.bank, banking) {
            (None, true) => {
                return Err((
                    "bank",
                    "transfer and bank_read need a bank: {accounts, initial_balance, max_transfer}".into(),
                ));
            }
            (Some(_), false) => return Err(("bank", "the mix has no transfer or bank_read to use it".into())),
            (Some(bank), true) => {
                if bank.accounts < 2 {
                    return Err((
                        "bank.accounts",
                        format!("{} is too few: a transfer needs 2 accounts", bank.accounts),
                    ));
                }
                if bank.max_transfer == 0 {
                    return Err(("bank.max_transfer", "must be at least 1".into()));
                }
                if i64::try_from(bank.initial_balance).ok().and_then(|b| b.checked_mul(bank.accounts.into())).is_none()
                {
                    return Err((
                        "bank.initial_balance",
                        "the accounts' total must fit in a signed 64-bit integer".into(),
                    ));
                }
            }
            (None, false) => {}
        }
        match (&self.set, adding) {
            (Some(_), false) => Err(("set", "the mix has no add to use it".into())),
            (Some(SetAdds { adds: Some(0) }), true) => Err(("set.adds", "must be at least 1".into())),
            _ => Ok(()),
        }
    }

    pub fn distribution(&self) -> Distribution {
        let theta = self.keys.theta;
        match self.keys.distribution {
            DistributionName::Uniform => Distribution::Uniform,
            DistributionName::Zipfian => Distribution::Zipfian { theta },
            DistributionName::Latest => Distribution::Latest { theta },
            DistributionName::Hotspot => {
                Distribution::Hotspot { hot_keys: self.keys.hot_keys, hot_ops: self.keys.hot_ops }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Workload, WorkloadError> {
        Workload::parse(Path::new("w.yaml"), text)
    }

    const GOOD: &str = "keys: {count: 10}\nmix: {read: 1}\nload: {mode: open, rate: 100, duration: 2s}\n";

    #[test]
    fn a_minimal_workload_gets_defaults() {
        let w = parse(GOOD).unwrap();
        assert_eq!(w.distribution(), Distribution::Zipfian { theta: 0.99 });
        assert_eq!(w.values.size, Some(100));
        assert_eq!(w.consistency, Consistency::Lease);
        assert_eq!(w.load.duration, Duration::from_secs(2));
    }

    #[test]
    fn yaml_errors_name_file_line_and_column() {
        let e = parse("keys: {count: 10}\nmix: {read: 1}\nload:\n  mode: open\n  rate: fast\n").unwrap_err();
        assert_eq!(e.to_string(), "w.yaml:5:9: load.rate: invalid type: string \"fast\", expected f64");
        let e = parse("keys: {count: 10, colour: red}\nmix: {read: 1}\nload: {mode: open, rate: 1, duration: 1s}\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("w.yaml:1:19: keys: unknown field `colour`, expected one of `count`"), "{e}");
        let e = parse(&GOOD.replace("mode: open", "mode: opne")).unwrap_err().to_string();
        assert_eq!(e, "w.yaml:3:14: load.mode: unknown variant `opne`, expected `open` or `closed`");
    }

    #[test]
    fn bad_values_name_their_field() {
        let closed = GOOD.replace("mode: open, rate: 100", "mode: closed");
        assert!(parse(&closed).unwrap_err().to_string().contains("load.clients"));
        let dur = GOOD.replace("2s", "2 fortnights");
        assert!(parse(&dur).unwrap_err().to_string().contains("unknown unit"));
    }

    #[test]
    fn bank_and_set_workloads_need_their_sections_and_a_mix_of_their_own() {
        let load = "load: {mode: closed, clients: 2, duration: 1s}\n";
        let bank = "bank: {accounts: 5, initial_balance: 100, max_transfer: 5}\n";
        let w = parse(&format!("mix: {{transfer: 4, bank_read: 1}}\n{bank}{load}")).unwrap();
        assert_eq!(w.bank.as_ref().map(Bank::total), Some(500));
        assert!(parse(&format!("mix: {{add: 1}}\nset: {{adds: 100}}\n{load}")).is_ok());
        assert!(parse(&format!("mix: {{add: 1}}\n{load}")).is_ok(), "a set needs no section");
        let cases = [
            (format!("mix: {{transfer: 1}}\n{load}"), "w.yaml: bank: transfer and bank_read need a bank"),
            (format!("mix: {{read: 1}}\n{bank}{load}"), "w.yaml: keys.count: must be at least 1"),
            (format!("keys: {{count: 3}}\nmix: {{read: 1}}\n{bank}{load}"), "w.yaml: bank: the mix has no transfer"),
            (format!("mix: {{transfer: 1, add: 1}}\n{bank}{load}"), "w.yaml: mix: a bank (transfer, bank_read), a set"),
            (
                format!("mix: {{transfer: 1}}\n{}{load}", bank.replace("5,", "1,")),
                "w.yaml: bank.accounts: 1 is too few",
            ),
            (
                format!("mix: {{transfer: 1}}\n{}{load}", bank.replace("max_transfer: 5", "max_transfer: 0")),
                "w.yaml: bank.max_transfer",
            ),
            (format!("mix: {{add: 1}}\nset: {{adds: 0}}\n{load}"), "w.yaml: set.adds: must be at least 1"),
            (format!("mix: {{read: 1}}\nkeys: {{count: 1}}\nset: {{}}\n{load}"), "w.yaml: set: the mix has no add"),
        ];
        for (text, want) in cases {
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}\nfor\n{text}");
        }
        let e = parse(&format!(
            "mix: {{transfer: 1}}\nbank: {{accounts: 5, initial_balance: -1, max_transfer: 1}}\n{load}"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("w.yaml:2:38: bank.initial_balance: invalid type: integer `-1`, expected u64"), "{e}");
    }

    #[test]
    fn every_shipped_workload_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads");
        for name in ["ycsb-a", "ycsb-b", "ycsb-c", "ycsb-d", "ycsb-e", "ycsb-f", "mixed"] {
            let w = Workload::load(&dir.join(format!("{name}.yaml"))).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(w.name, name);
        }
    }
}
