//! A gate suite (`chaos gate SUITE.yaml`): the runs a CI job gates on.
//!
//! ```yaml
//! name: gate
//! runs:
//!   - scenario: ../workloads/smoke.yaml     # relative to this file
//!   - scenario: ../workloads/failover/kill-2-of-5.yaml
//!     name: kill-2-of-5                     # default: the scenario's name
//!     seeds: [1, 2, 3]                      # one run each; default: the scenario's seed
//!     backend: process                      # default: the scenario's
//!     thresholds: ["rto_max < 5s"]          # judged besides the scenario's
//!     unsafe_bugs: [ack-before-persist]     # planted, as --unsafe-inject-bug does
//! ```
//!
//! Every scenario is loaded with the suite, so a mistake anywhere stops the
//! gate before its first run, naming the suite's file, line and column.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use loadgen::workload::WorkloadError;
use serde::{Deserialize, Deserializer};

use crate::scenario::{BackendKind, Overrides, Scenario};
use crate::thresholds::Threshold;

/// A suite, every run planned with its scenario loaded and overridden.
#[derive(Debug)]
pub struct Suite {
    pub path: PathBuf,
    pub name: String,
    pub runs: Vec<PlannedRun>,
}

#[derive(Debug)]
pub struct PlannedRun {
    /// Unique in the suite; also the run's directory under the gate's.
    pub name: String,
    /// As the suite names it.
    pub scenario_path: PathBuf,
    /// Loaded, with the suite's seed, backend, thresholds and bugs applied.
    pub scenario: Scenario,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    #[serde(default)]
    name: String,
    #[serde(deserialize_with = "runs")]
    runs: Vec<RunEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunEntry {
    scenario: ScenarioRef,
    #[serde(default, deserialize_with = "run_name")]
    name: Option<String>,
    #[serde(default, deserialize_with = "seeds")]
    seeds: Option<Vec<u64>>,
    #[serde(default)]
    backend: Option<BackendKind>,
    #[serde(default)]
    thresholds: Vec<Threshold>,
    #[serde(default)]
    unsafe_bugs: Vec<String>,
}

/// A scenario named by a suite, loaded where it is named.
#[derive(Debug)]
struct ScenarioRef {
    written: PathBuf,
    scenario: Scenario,
}

thread_local! {
    /// The directory of the suite being parsed. serde_yaml_ng puts a line
    /// and column only on errors raised while it deserializes, so a
    /// scenario is loaded (relative to the suite) inside deserialization.
    static SUITE_DIR: RefCell<PathBuf> = RefCell::new(PathBuf::new());
}

impl<'de> Deserialize<'de> for ScenarioRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ScenarioRef, D::Error> {
        checked_str(d, "a scenario file, relative to the suite", |written| {
            let path = SUITE_DIR.with(|dir| dir.borrow().join(written));
            let scenario = Scenario::load(&path).map_err(|e| match e {
                WorkloadError::Read { source, .. } => format!("cannot read {}: {source}", path.display()),
                other => other.to_string(),
            })?;
            Ok(ScenarioRef { written: PathBuf::from(written), scenario })
        })
    }
}

/// A string, checked while serde_yaml_ng deserializes it, so that the error
/// carries the string's own line and column.
fn checked_str<'de, D: Deserializer<'de>, T>(
    d: D,
    expecting: &'static str,
    check: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    struct Checked<F>(F, &'static str);
    impl<'de, T, F: FnOnce(&str) -> Result<T, String>> serde::de::Visitor<'de> for Checked<F> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(self.1)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
            (self.0)(v).map_err(E::custom)
        }
    }
    d.deserialize_str(Checked(check, expecting))
}

fn runs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<RunEntry>, D::Error> {
    checked_seq(d, "a list of runs", |runs: Vec<RunEntry>| {
        if runs.is_empty() {
            return Err("a suite lists at least one run".into());
        }
        Ok(runs)
    })
}

/// A list, checked while serde_yaml_ng deserializes it (see `checked_str`).
fn checked_seq<'de, D: Deserializer<'de>, T: Deserialize<'de>, U>(
    d: D,
    expecting: &'static str,
    check: impl FnOnce(Vec<T>) -> Result<U, String>,
) -> Result<U, D::Error> {
    struct Checked<F, T>(F, &'static str, std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>, U, F: FnOnce(Vec<T>) -> Result<U, String>> serde::de::Visitor<'de> for Checked<F, T> {
        type Value = U;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(self.1)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<U, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            (self.0)(items).map_err(serde::de::Error::custom)
        }
    }
    d.deserialize_seq(Checked(check, expecting, std::marker::PhantomData))
}

/// Run names become directory names.
fn run_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked_str(d, "a run name", |name| {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if name.is_empty() || name.starts_with('.') || !name.chars().all(allowed) {
            return Err(format!(
                "run name {name:?}: expected letters, digits, '-', '_' or '.' (not first): it names a directory"
            ));
        }
        Ok(Some(name.to_string()))
    })
}

fn seeds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u64>>, D::Error> {
    checked_seq(d, "a list of seeds", |seeds: Vec<u64>| {
        if seeds.is_empty() {
            return Err("list at least one seed, or leave `seeds` out for the scenario's".into());
        }
        if seeds.iter().collect::<BTreeSet<_>>().len() != seeds.len() {
            return Err(format!("{seeds:?}: each seed once"));
        }
        Ok(Some(seeds))
    })
}

/// What can be wrong with a suite.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("{}: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", file.display())]
    Yaml { file: PathBuf, line: usize, column: usize, message: String },
    #[error("{}: run {name:?} comes twice: give the runs distinct `name`s or seeds", file.display())]
    DuplicateRun { file: PathBuf, name: String },
}

impl Suite {
    pub fn load(path: &Path) -> Result<Suite, SuiteError> {
        let text = std::fs::read_to_string(path).map_err(|source| SuiteError::Read { file: path.into(), source })?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        SUITE_DIR.with(|d| *d.borrow_mut() = dir);
        let parsed: Result<SuiteFile, _> = serde_yaml_ng::from_str(&text);
        SUITE_DIR.with(|d| d.borrow_mut().clear());
        let file = parsed.map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            // The location leads the message already; drop its repeat at the end.
            let message = e.to_string();
            let message = message.strip_suffix(&format!(" at line {line} column {column}")).unwrap_or(&message).into();
            SuiteError::Yaml { file: path.into(), line, column, message }
        })?;
        let name = if file.name.is_empty() { stem(path) } else { file.name };
        let mut runs = Vec::new();
        for entry in file.runs {
            runs.extend(entry.plan());
        }
        let mut seen = BTreeSet::new();
        if let Some(twice) = runs.iter().find(|r| !seen.insert(r.name.as_str())) {
            return Err(SuiteError::DuplicateRun { file: path.into(), name: twice.name.clone() });
        }
        Ok(Suite { path: path.to_path_buf(), name, runs })
    }
}

impl RunEntry {
    /// One run per seed, named `NAME-seedN`.
    fn plan(self) -> Vec<PlannedRun> {
        let ScenarioRef { written, scenario } = self.scenario;
        let base = self.name.unwrap_or_else(|| match scenario.file.name.as_str() {
            "" => stem(&written),
            name => name.to_string(),
        });
        let seeds = self.seeds.unwrap_or_else(|| vec![scenario.file.seed]);
        seeds
            .into_iter()
            .map(|seed| {
                let mut scenario = scenario.clone();
                scenario.apply(&Overrides {
                    seed: Some(seed),
                    system: None,
                    backend: self.backend,
                    unsafe_bugs: self.unsafe_bugs.clone(),
                    thresholds: self.thresholds.clone(),
                });
                PlannedRun { name: format!("{base}-seed{seed}"), scenario_path: written.clone(), scenario }
            })
            .collect()
    }
}

fn stem(path: &Path) -> String {
    path.file_stem().map_or_else(|| "suite".into(), |s| s.to_string_lossy().into_owned())
}
