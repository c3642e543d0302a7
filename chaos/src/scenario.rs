//! A scenario as a user writes it in YAML: a cluster, a workload, a fault
//! schedule. Unknown fields are errors; YAML mistakes name file, line and
//! column.

use std::path::{Path, PathBuf};
use std::time::Duration;

use loadgen::workload::{Workload, WorkloadError, WorkloadKind, parse_duration};
use serde::{Deserialize, Deserializer, Serialize};

use crate::thresholds::Threshold;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    #[serde(default)]
    pub name: String,
    pub cluster: Cluster,
    /// Where the members run: `process` (local processes on 127.0.0.x) or
    /// `docker`.
    #[serde(default)]
    pub backend: BackendKind,
    /// The checks to run (default: all of them).
    #[serde(default = "all_checks")]
    pub checks: Vec<CheckKind>,
    /// A loadgen workload: a file name (relative to the scenario file), or
    /// the workload itself, inline.
    pub workload: WorkloadSpec,
    /// Overrides the workload's duration.
    #[serde(default, deserialize_with = "optional_duration")]
    pub duration: Option<Duration>,
    /// Reads take these consistencies in turn (overrides the workload's).
    /// `stale` is not linearizable and would be reported as such.
    #[serde(default)]
    pub read_consistency: Vec<loadgen::workload::Consistency>,
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// A random fault schedule drawn from `seed`, besides `faults`.
    #[serde(default)]
    pub nemesis: Option<RandomNemesis>,
    /// Conditions on the results, e.g. `rto_p50 < 2s`; a failed one makes
    /// the run invalid.
    #[serde(default)]
    pub thresholds: Vec<Threshold>,
    /// Seeds the workload and the random nemesis: the same seed replays the
    /// same schedule.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

/// Faults drawn at random, one every `every`, each lasting `for`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomNemesis {
    #[serde(deserialize_with = "duration")]
    pub every: Duration,
    #[serde(rename = "for", deserialize_with = "duration")]
    pub lasts: Duration,
    /// When the first one starts (default: `every`).
    #[serde(default, deserialize_with = "optional_duration")]
    pub start: Option<Duration>,
    /// The kinds to draw from (default: every kind that heals).
    #[serde(default)]
    pub kinds: Vec<FaultKind>,
}

fn default_seed() -> u64 {
    1
}

/// Where the members run (`backend:`, `--backend`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// Local processes on 127.0.0.x.
    #[default]
    Process,
    /// Containers on a network of their own.
    Docker,
}

/// What runs (`cluster.system:`, `--system`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SystemKind {
    /// This workspace's Raft key-value node.
    #[default]
    RaftNode,
    /// etcd 3.4 (Debian's etcd-server), found on the PATH.
    Etcd,
}

/// Parses a kind by the name a scenario gives it; the error lists them.
fn by_name<T: for<'de> Deserialize<'de>>(what: &str, name: &str, names: &[&str]) -> Result<T, String> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(name))
        .map_err(|_| format!("unknown {what} {name:?} (known: {})", names.join(", ")))
}

impl BackendKind {
    /// As a scenario names it.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Process => "process",
            BackendKind::Docker => "docker",
        }
    }
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    fn from_str(name: &str) -> Result<BackendKind, String> {
        by_name("backend", name, &["process", "docker"])
    }
}

impl std::str::FromStr for SystemKind {
    type Err = String;
    fn from_str(name: &str) -> Result<SystemKind, String> {
        by_name("system", name, &["raft-node", "etcd"])
    }
}

/// The checks a scenario can ask for; thresholds always run. Of the
/// history checks, each runs for its kind of workload only (the default
/// names all three).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Per-key linearizability of put/get/delete/cas (and list-append when
    /// the workload appends): key-value workloads.
    Linearizability,
    /// Every read of all the accounts sees the initial total, and no
    /// negative balance: bank workloads.
    Bank,
    /// The final read holds every acknowledged add, and nothing never
    /// added: set workloads.
    Set,
    SplitBrain,
    Convergence,
    LostWrites,
}

impl CheckKind {
    /// As a scenario names it.
    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }

    /// The workload a history check judges; None for the others.
    pub fn judges(self) -> Option<WorkloadKind> {
        match self {
            CheckKind::Linearizability => Some(WorkloadKind::KeyValue),
            CheckKind::Bank => Some(WorkloadKind::Bank),
            CheckKind::Set => Some(WorkloadKind::Set),
            CheckKind::SplitBrain | CheckKind::Convergence | CheckKind::LostWrites => None,
        }
    }
}

fn all_checks() -> Vec<CheckKind> {
    vec![
        CheckKind::Linearizability,
        CheckKind::Bank,
        CheckKind::Set,
        CheckKind::SplitBrain,
        CheckKind::Convergence,
        CheckKind::LostWrites,
    ]
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// The system under test: `raft-node` or `etcd`.
    #[serde(default)]
    pub system: SystemKind,
    pub size: u64,
    /// Extra flags for every raft-node member (timeouts...).
    #[serde(default)]
    pub node_args: Vec<String>,
    /// Extra flags for every etcd member, after the harness's own; they
    /// may replace its timeouts (`--heartbeat-interval 50
    /// --election-timeout 500`).
    #[serde(default)]
    pub etcd_args: Vec<String>,
    /// Planted bugs (`--unsafe-inject-bug`), to show the checks catch them;
    /// names the system knows (a run with others is refused).
    #[serde(default)]
    pub unsafe_bugs: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    #[serde(deserialize_with = "duration")]
    pub at: Duration,
    /// How long the fault lasts before it heals (membership changes and
    /// transfers are permanent and take none).
    #[serde(rename = "for", default, deserialize_with = "duration")]
    pub lasts: Duration,
    pub kind: FaultKind,
    /// Nodes to add or remove (add_voters, remove_voters), or whose disks
    /// fail (disk_error, disk_full, the leader first); 1 by default.
    #[serde(default = "one")]
    pub count: u64,
    /// skew_leader_clock: how much faster the clock runs, e.g. `+20%` (the
    /// default) or `-30%` (slower, which eats into the lease margin).
    #[serde(default = "default_skew", deserialize_with = "percent")]
    pub skew: f64,
    /// slow_follower_disks: added to every fsync; net_delay and
    /// net_reorder: what each packet is held (default 50ms).
    #[serde(default = "default_disk_delay", deserialize_with = "duration")]
    pub delay: Duration,
    /// net_delay: each packet's delay varies within `delay ± jitter`
    /// (default none).
    #[serde(default, deserialize_with = "duration")]
    pub jitter: Duration,
    /// net_loss, net_duplicate, net_reorder: the share of packets lost,
    /// sent twice, or sent at once ahead of the delayed others, e.g. `10%`
    /// (default 10%, 10%, 25%).
    #[serde(default, deserialize_with = "optional_share")]
    pub percent: Option<f64>,
    /// net_bandwidth: what the links carry, in tc's units: `1mbit`,
    /// `500kbit`, `64kbps` (bytes) (default 1mbit).
    #[serde(default, deserialize_with = "optional_rate")]
    pub rate: Option<u64>,
    /// Packet faults: which of the node's links, `both` (the default),
    /// `outbound` (what it sends) or `inbound` (what it is sent).
    #[serde(default)]
    pub direction: Direction,
    /// Packet faults: whose links, the `leader`'s (the default) or a
    /// `follower`'s (drawn at random).
    #[serde(default)]
    pub node: Role,
    /// crash_at: the failpoint site where the leader aborts, one of the
    /// system's crash sites; drawn at random from them when not given.
    #[serde(default)]
    pub site: Option<String>,
}

impl Fault {
    /// A fault of `kind` with every parameter at its default, as the random
    /// nemesis draws them.
    pub fn with_defaults(at: Duration, lasts: Duration, kind: FaultKind) -> Fault {
        Fault {
            at,
            lasts,
            kind,
            count: one(),
            skew: default_skew(),
            delay: default_disk_delay(),
            jitter: Duration::ZERO,
            percent: None,
            rate: None,
            direction: Direction::default(),
            node: Role::default(),
            site: None,
        }
    }
}

/// Which of a node's links a packet fault shapes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Both,
    Outbound,
    Inbound,
}

/// Whom a packet fault is aimed at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Leader,
    Follower,
}

fn optional_share<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let text = String::deserialize(d)?;
    parse_share(&text).map(Some).map_err(serde::de::Error::custom)
}

/// `10%` as 0.1; within 0% and 100%.
pub(crate) fn parse_share(text: &str) -> Result<f64, String> {
    let number = text
        .trim()
        .strip_suffix('%')
        .ok_or_else(|| format!("expected a percentage such as \"10%\", found {text:?}"))?;
    match number.trim().parse::<f64>() {
        Ok(value) if (0.0..=100.0).contains(&value) => Ok(value / 100.0),
        Ok(_) => Err(format!("{text}: a share must be within 0% and 100%")),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

fn optional_rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let text = String::deserialize(d)?;
    parse_rate(&text).map(Some).map_err(serde::de::Error::custom)
}

/// A rate in tc's units, as bytes per second: `bit`, `kbit`, `mbit`,
/// `gbit` are bits per second, `bps`, `kbps`, `mbps`, `gbps` bytes (tc's
/// k is 1000).
pub(crate) fn parse_rate(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bytes_per_unit = match unit.trim().to_ascii_lowercase().as_str() {
        "bit" => 1.0 / 8.0,
        "kbit" => 1e3 / 8.0,
        "mbit" => 1e6 / 8.0,
        "gbit" => 1e9 / 8.0,
        "bps" => 1.0,
        "kbps" => 1e3,
        "mbps" => 1e6,
        "gbps" => 1e9,
        _ => return Err(format!("{text:?}: expected a rate such as \"1mbit\", \"500kbit\" or \"64kbps\"")),
    };
    let value: f64 = number.parse().map_err(|_| format!("{text:?}: {number:?} is not a number"))?;
    let bytes = (value * bytes_per_unit).round();
    if bytes < 1.0 {
        return Err(format!("{text}: a rate must be at least 1 byte per second"));
    }
    Ok(bytes as u64)
}

fn default_disk_delay() -> Duration {
    Duration::from_millis(50)
}

fn default_skew() -> f64 {
    0.2
}

fn percent<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let text = String::deserialize(d)?;
    let number = text.trim().strip_suffix('%').ok_or_else(|| {
        serde::de::Error::custom(format!("expected a percentage such as \"+20%\" or \"-30%\", found {text:?}"))
    })?;
    let value: f64 =
        number.trim().parse().map_err(|_| serde::de::Error::custom(format!("{text:?} is not a number")))?;
    if !(-90.0..=900.0).contains(&value) {
        return Err(serde::de::Error::custom(format!("{text}: a clock skew must be within -90% and +900%")));
    }
    Ok(value / 100.0)
}

fn one() -> u64 {
    1
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// SIGKILL the leader; restart it when the fault ends.
    KillLeader,
    /// SIGKILL a follower; restart it when the fault ends.
    KillFollower,
    /// SIGKILL a member drawn at random; restart it when the fault ends.
    KillRandom,
    /// Every member loses power at once: SIGKILL, and each loses the writes
    /// it had not synced. The followers come back at once, the old leader
    /// when the fault ends (so the others decide what survived).
    PowerLoss,
    /// A follower loses its disk: SIGKILL, its data directory emptied, and
    /// started again with its original arguments (a correct member refuses
    /// to rejoin so). When the fault ends the old member is removed and the
    /// machine joins under a new id, as its operator would bring it back.
    WipeNode,
    /// A follower's newest WAL segment gets a flipped byte while it is down
    /// (SIGKILL, flip, start): it must refuse to start, naming the file and
    /// offset. Healed as wipe_node: removed, its machine joined anew.
    CorruptWal,
    /// As corrupt_wal, in the follower's newest snapshot.
    CorruptSnapshot,
    /// SIGSTOP the leader; SIGCONT when the fault ends.
    PauseLeader,
    /// Cut the leader off from everyone, both ways.
    IsolateLeader,
    /// The leader's messages to the others are dropped; theirs still arrive.
    LeaderOutbound,
    /// The others' messages to the leader are dropped; the leader's still arrive.
    LeaderInbound,
    /// Cut a follower drawn at random off from everyone, both ways.
    IsolateFollower,
    /// Split into a majority and a minority that holds the leader.
    PartitionHalves,
    /// Two halves that cannot reach each other, and one node (drawn at
    /// random) that reaches both.
    Bridge,
    /// Members in a ring (random order), each reaching only its nearest
    /// neighbours: every node sees a majority, no two the same one.
    MajoritiesRing,
    /// Hand leadership to another voter.
    TransferLeader,
    /// SIGKILL a minority, the leader among them; restart them when it ends.
    KillMinority,
    /// SIGKILL a majority, the leader among them: no progress until it ends.
    KillMajority,
    /// Start `count` new nodes, join them as learners, promote them.
    AddVoters,
    /// Remove `count` followers from the membership and stop them.
    RemoveVoters,
    /// Run the leader's clock fast or slow by `skew` (its lease clock included).
    SkewLeaderClock,
    /// Every follower's disk takes `delay` longer for each fsync.
    SlowFollowerDisks,
    /// The WAL fsyncs of `count` members, the leader first, fail with EIO
    /// (a failpoint); each must stop acknowledging and leading. Restarted
    /// when the fault ends.
    DiskError,
    /// The WAL writes of `count` members, the leader first, fail with
    /// ENOSPC (a failpoint), as disk_error. Restarted when the fault ends.
    DiskFull,
    /// The leader's process aborts at a failpoint `site`; restarted on its
    /// data when the fault ends.
    CrashAt,
    /// A follower is cut off until the leader has compacted its log past
    /// it, so that it must catch up by snapshot; it aborts right after
    /// installing it and is restarted when the fault ends.
    SnapshotTransfer,
    /// The `node`'s packets (in `direction`) are held `delay ± jitter`.
    NetDelay,
    /// A `percent` of the `node`'s packets are lost.
    NetLoss,
    /// A `percent` of the `node`'s packets arrive twice.
    NetDuplicate,
    /// A `percent` of the `node`'s packets go at once, the rest are held
    /// `delay`: the first overtake the others.
    NetReorder,
    /// The `node`'s links carry at most `rate`, packets queueing behind
    /// one another (and dropped past 1000 waiting).
    NetBandwidth,
}

impl FaultKind {
    /// What a random nemesis draws from by default: every fault that heals.
    pub const HEALING: [FaultKind; 23] = [
        FaultKind::KillLeader,
        FaultKind::KillFollower,
        FaultKind::KillRandom,
        FaultKind::KillMinority,
        FaultKind::PauseLeader,
        FaultKind::IsolateLeader,
        FaultKind::IsolateFollower,
        FaultKind::LeaderOutbound,
        FaultKind::LeaderInbound,
        FaultKind::PartitionHalves,
        FaultKind::Bridge,
        FaultKind::MajoritiesRing,
        FaultKind::SkewLeaderClock,
        FaultKind::SlowFollowerDisks,
        FaultKind::PowerLoss,
        FaultKind::DiskError,
        FaultKind::DiskFull,
        FaultKind::CrashAt,
        FaultKind::NetDelay,
        FaultKind::NetLoss,
        FaultKind::NetDuplicate,
        FaultKind::NetReorder,
        FaultKind::NetBandwidth,
    ];

    /// Changes that stay: no heal at the end of the window.
    pub fn is_permanent(self) -> bool {
        matches!(self, FaultKind::TransferLeader | FaultKind::AddVoters | FaultKind::RemoveVoters)
    }

    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

#[derive(Clone, Debug)]
pub enum WorkloadSpec {
    File(PathBuf),
    Inline(Box<Workload>),
}

impl<'de> Deserialize<'de> for WorkloadSpec {
    /// A string names a file; a mapping is the workload, parsed in place so
    /// that its mistakes keep their line and column.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<WorkloadSpec, D::Error> {
        struct Spec;
        impl<'de> serde::de::Visitor<'de> for Spec {
            type Value = WorkloadSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a workload file name, or a workload mapping (keys, mix, load...)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<WorkloadSpec, E> {
                Ok(WorkloadSpec::File(PathBuf::from(v)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<WorkloadSpec, A::Error> {
                let w = Workload::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(WorkloadSpec::Inline(Box::new(w)))
            }
        }
        d.deserialize_any(Spec)
    }
}

/// A scenario with its workload loaded.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Where it was read from, for messages.
    pub path: PathBuf,
    pub file: ScenarioFile,
    pub workload: Workload,
}

/// What a command line (`chaos run --seed ...`) or a gate suite's run
/// changes in a scenario.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub seed: Option<u64>,
    pub system: Option<SystemKind>,
    pub backend: Option<BackendKind>,
    /// Planted besides the scenario's own.
    pub unsafe_bugs: Vec<String>,
    /// Judged besides the scenario's own.
    pub thresholds: Vec<Threshold>,
}

impl Scenario {
    pub fn apply(&mut self, overrides: &Overrides) {
        let file = &mut self.file;
        if let Some(seed) = overrides.seed {
            file.seed = seed;
        }
        if let Some(system) = overrides.system {
            file.cluster.system = system;
        }
        if let Some(backend) = overrides.backend {
            file.backend = backend;
        }
        // Each once: the reproducing command names the scenario's own too.
        for bug in &overrides.unsafe_bugs {
            if !file.cluster.unsafe_bugs.contains(bug) {
                file.cluster.unsafe_bugs.push(bug.clone());
            }
        }
        file.thresholds.extend(overrides.thresholds.iter().cloned());
    }

    pub fn load(path: &Path) -> Result<Scenario, WorkloadError> {
        let text = std::fs::read_to_string(path).map_err(|source| WorkloadError::Read { file: path.into(), source })?;
        let file: ScenarioFile = serde_yaml_ng::from_str(&text).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            WorkloadError::Yaml { file: path.into(), line, column, message: e.to_string() }
        })?;
        let invalid = |field, message: String| WorkloadError::Invalid { file: path.into(), field, message };
        if !(1..=7).contains(&file.cluster.size) {
            return Err(invalid("cluster.size", "must be between 1 and 7".into()));
        }
        let mut workload = match &file.workload {
            WorkloadSpec::File(name) => Workload::load(&path.parent().unwrap_or(Path::new(".")).join(name))?,
            WorkloadSpec::Inline(w) => {
                w.validate()
                    .map_err(|(field, message)| invalid(field, format!("in the inline workload: {message}")))?;
                Workload::clone(w)
            }
        };
        if !file.read_consistency.is_empty() {
            workload.read_consistency = file.read_consistency.clone();
        }
        if let Some(d) = file.duration {
            workload.load.duration = d;
            workload.load.warmup = workload.load.warmup.min(d / 4);
        }
        if file.checks.is_empty() && file.thresholds.is_empty() {
            return Err(invalid(
                "checks",
                "name at least one check (or a threshold): a run must judge something".into(),
            ));
        }
        // The default names every history check; a scenario that names one
        // for another kind of workload has a mistake in it.
        if file.checks != all_checks()
            && let Some((check, judged)) =
                file.checks.iter().find_map(|c| c.judges().filter(|k| *k != workload.kind()).map(|k| (c, k)))
        {
            let message = format!(
                "{} judges {} workloads, and this one is a {} workload",
                check.name(),
                judged.name(),
                workload.kind().name()
            );
            return Err(invalid("checks", message));
        }
        if let Some(n) = &file.nemesis {
            if n.every.is_zero() || n.lasts >= n.every {
                return Err(invalid("nemesis", "`for` must be shorter than `every`, which must be positive".into()));
            }
            if n.kinds.iter().any(|k| k.is_permanent()) {
                return Err(invalid("nemesis.kinds", "membership changes and transfers do not heal".into()));
            }
        }
        for (i, f) in file.faults.iter().enumerate() {
            if f.at + f.lasts >= workload.load.duration && !f.kind.is_permanent() {
                let message = format!("fault {i} ends after the workload ({:?})", workload.load.duration);
                return Err(invalid("faults", message));
            }
        }
        Ok(Scenario { path: path.to_path_buf(), file, workload })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_in_tcs_units_and_shares_as_percentages() {
        assert_eq!(parse_rate("1mbit"), Ok(125_000));
        assert_eq!(parse_rate("500kbit"), Ok(62_500));
        assert_eq!(parse_rate("64kbps"), Ok(64_000));
        assert_eq!(parse_rate(" 2.5 Mbps"), Ok(2_500_000));
        assert!(parse_rate("fast").unwrap_err().contains("expected a rate such as"));
        assert!(parse_rate("1mile").unwrap_err().contains("expected a rate such as"));
        assert!(parse_rate("0bit").unwrap_err().contains("at least 1 byte"));
        assert_eq!(parse_share("10%"), Ok(0.1));
        assert_eq!(parse_share("100%"), Ok(1.0));
        assert!(parse_share("10").unwrap_err().contains("expected a percentage"));
        assert!(parse_share("150%").unwrap_err().contains("within 0% and 100%"));
    }

    #[test]
    fn a_bad_packet_fault_field_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("w.yaml"),
            "keys: {count: 1}\nmix: {read: 1}\nload: {mode: closed, clients: 1, duration: 5s}\n",
        )
        .unwrap();
        let path = dir.path().join("s.yaml");
        std::fs::write(
            &path,
            "cluster: {size: 3}\nworkload: w.yaml\nfaults:\n  - {at: 1s, for: 1s, kind: net_loss, percent: 20}\n",
        )
        .unwrap();
        let e = Scenario::load(&path).unwrap_err().to_string();
        assert!(e.contains("s.yaml") && e.contains("line 4") && e.contains("percentage"), "{e}");
    }
}
