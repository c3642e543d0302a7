//! What the cluster tests share: the node binary, and running a scenario
//! with its results kept when it fails.
//!
//! Every test that starts nodes takes its own `ip_base` (127.0.0.x) and
//! port, listed here, so tests running in parallel never collide:
//! backend.rs 40+/17301, run.rs 70+/17601, seams.rs 17801 (nothing
//! listens: refused before start), 140+/17811 and 170+/17821, planted_bugs.rs 100+/17701,
//! 110+/17711, 120+/17721, 130+/17731, 140+/17741, 150+/17751, 80+/18251 and
//! 85+/18261, packet_faults.rs 190+/18201, clean.rs 210+/17901, faults.rs 220+/17981, 225+/17984, 200+/17987, 205+/17990 and 240+/17993,
//! workloads.rs 60+/18001, 65+/18011, 70+/18021 and 18031, 75+ on 18041 and
//! 18051 (etcd: peers on port + 1),
//! etcd.rs 230+ on 17921..=17959 (each etcd member also listens on port + 1,
//! for its peers). docker.rs needs no range: each docker run makes a
//! network with a /24 of its own (10.213.x.0), on DOCKER_PORT.
//! gate.rs: 190+ on 17861 to 17865, a port per test (a gate's runs are
//! sequential).

#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};

use chaos::backend::docker::image;
use chaos::check::Verdict;
use chaos::nemesis::InjectedFault;
use chaos::runner::{RunOptions, RunReport, run};
use chaos::scenario::{BackendKind, Scenario};

/// The port members listen on in docker tests, each on its container's IP.
pub const DOCKER_PORT: u16 = 7000;

/// The `raft-node` binary Cargo built next to the test executables.
pub fn raft_node() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("raft-node");
    assert!(path.exists(), "{} is missing: run `cargo build -p node` (or `cargo test --workspace`)", path.display());
    path
}

/// The repository's `workloads/` directory.
pub fn workloads() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads")
}

/// Runs `scenario`; on a harness error the run directory is kept and named.
pub async fn run_scenario(scenario: &Scenario, ip_base: u8, port: u16, out: &Path) -> RunReport {
    let options =
        RunOptions { raft_node: raft_node(), etcd: None, out: out.to_path_buf(), ip_base, port, keep_data: false };
    run_with(scenario, &options).await
}

/// Every check of the run is valid; the first that is not is named.
pub fn assert_every_check_valid(report: &RunReport) {
    for c in &report.checks {
        assert_eq!(c.verdict, Verdict::Valid, "{}: {}: {}", report.scenario, c.checker, c.reason);
    }
}

/// Runs `scenario` in containers, with the static raft-node built for
/// their image; on a harness error the run directory is kept and named.
pub async fn run_in_containers(mut scenario: Scenario, out: &Path) -> RunReport {
    scenario.file.backend = BackendKind::Docker;
    let raft_node = tokio::task::spawn_blocking(image::build_static_binary).await.unwrap().unwrap();
    let options =
        RunOptions { raft_node, etcd: None, out: out.to_path_buf(), ip_base: 0, port: DOCKER_PORT, keep_data: false };
    let report = run_with(&scenario, &options).await;
    assert_eq!(report.backend, "docker");
    report
}

/// Runs `scenario` with these options; on a harness error the run
/// directory is kept and named.
pub async fn run_with(scenario: &Scenario, options: &RunOptions) -> RunReport {
    let out = &options.out;
    match run(scenario, options).await {
        Ok(report) => report,
        Err(e) => panic!("the run failed: {e}; its files are in {}", keep(out).display()),
    }
}

/// `out/summary.json` validates against the schema kept in the repository.
pub fn assert_summary_matches_schema(out: &Path) {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/summary.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let errors: Vec<String> =
        validator.iter_errors(&summary).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "summary.json does not match reports/summary.schema.json: {errors:#?}");
}

/// `out/junit.xml`, read by a JUnit parser.
pub fn parse_junit(out: &Path) -> junit_parser::TestSuites {
    let file = std::fs::File::open(out.join("junit.xml")).unwrap();
    junit_parser::from_reader(std::io::BufReader::new(file)).expect("junit.xml parses as JUnit")
}

/// Each `<svg ...>...</svg>` in a page, in order.
pub fn charts(html: &str) -> Vec<&str> {
    html.match_indices("<svg").map(|(start, _)| &html[start..start + html[start..].find("</svg>").unwrap()]).collect()
}

/// The faults of `report` that were not shown to take effect: skipped for
/// want of a target, or injected without the confirmation that they bit.
pub fn unconfirmed_faults(report: &RunReport) -> Vec<&InjectedFault> {
    report
        .faults
        .iter()
        .filter(|f| f.confirmed.starts_with("skipped") || f.confirmed.contains("NOT confirmed"))
        .collect()
}

/// Moves a failed run's directory out of its test's temporary directory,
/// which is removed when the test panics; returns where it went.
pub fn keep(out: &Path) -> PathBuf {
    let kept = std::env::temp_dir().join(format!(
        "raftstorm-failed-{}-{}",
        out.parent().and_then(Path::file_name).map_or("run".into(), |n| n.to_string_lossy().into_owned()),
        std::process::id()
    ));
    match std::fs::rename(out, &kept) {
        Ok(()) => kept,
        Err(_) => out.to_path_buf(),
    }
}

/// Writes the scenario `NAME.yaml` into `dir`, beside a copy of
/// `workloads/mixed.yaml` for it to run: 3 nodes with a 200 ms election
/// timeout, `duration`, and `faults` (a YAML flow sequence); returns its
/// path.
pub fn mixed_scenario(dir: &Path, name: &str, duration: &str, faults: &str) -> PathBuf {
    std::fs::copy(workloads().join("mixed.yaml"), dir.join("mixed.yaml")).unwrap();
    let path = dir.join(format!("{name}.yaml"));
    let cluster = r#"{size: 3, node_args: ["--tick-ms", "20", "--election-ticks", "10"]}"#;
    let yaml =
        format!("name: {name}\ncluster: {cluster}\nworkload: mixed.yaml\nduration: {duration}\nfaults: {faults}\n");
    std::fs::write(&path, yaml).unwrap();
    path
}
