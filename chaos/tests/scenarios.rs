//! Every YAML file under `workloads/` loads, without running: scenarios (a
//! `cluster` at the top) through chaos's loader, which checks them and the
//! workload they name, the plain workloads through loadgen's. A field renamed
//! in the code but not in a file, or mistyped in a file, fails here rather
//! than when someone next runs that file.

use std::path::{Path, PathBuf};

use chaos::scenario::Scenario;
use loadgen::workload::Workload;

mod common;

/// Every `.yaml` file under `dir`, relative to it, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in std::fs::read_dir(dir.join(&relative)).unwrap() {
            let entry = entry.unwrap();
            let path = relative.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn is_scenario(path: &Path) -> bool {
    let text = std::fs::read_to_string(path).unwrap();
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()));
    yaml.get("cluster").is_some()
}

#[test]
fn every_scenario_and_workload_under_workloads_loads() {
    let root = common::workloads();
    let (mut scenarios, mut workloads, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for relative in yaml_files(&root) {
        let path = root.join(&relative);
        let name = relative.to_string_lossy().into_owned();
        let loaded = if is_scenario(&path) {
            Scenario::load(&path).map(|_| scenarios.push(name))
        } else {
            Workload::load(&path).map(|_| workloads.push(name))
        };
        if let Err(e) = loaded {
            errors.push(e.to_string());
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    for name in ["smoke.yaml", "nemesis.yaml", "bank.yaml", "set.yaml"] {
        assert!(scenarios.iter().any(|s| s == name), "{name} is not among the scenarios {scenarios:?}");
    }
    for dir in ["failover/", "bugs/", "faults/"] {
        assert!(scenarios.iter().any(|s| s.starts_with(dir)), "no scenario under {dir} in {scenarios:?}");
    }
    for name in ["mixed.yaml", "ycsb-a.yaml", "bugs/writes.yaml"] {
        assert!(workloads.iter().any(|w| w == name), "{name} is not among the workloads {workloads:?}");
    }
}

/// A history check named for another kind of workload than the scenario's
/// is a mistake, refused with the field and both kinds.
#[test]
fn a_check_for_another_kind_of_workload_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("set.yaml");
    let text = std::fs::read_to_string(common::workloads().join("set.yaml")).unwrap();
    std::fs::write(&path, format!("{text}checks: [bank, convergence]\n")).unwrap();
    let e = Scenario::load(&path).unwrap_err().to_string();
    assert!(e.ends_with("set.yaml: checks: bank judges bank workloads, and this one is a set workload"), "{e}");
    std::fs::write(&path, format!("{text}checks: [set, convergence]\n")).unwrap();
    assert!(Scenario::load(&path).is_ok());
}
