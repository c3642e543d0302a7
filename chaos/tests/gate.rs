//! `chaos gate`: suites that are wrong are refused with the suite's line
//! and column before anything runs; real runs in turn give the combined
//! junit.xml, summary.json and index.html and the exit code a CI job reads.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use chaos::scenario::BackendKind;
use chaos::suite::Suite;
use junit_parser::TestStatus;
use serde_json::Value;

mod common;

/// Writes `text` as `suite.yaml` in `dir`, `@W` standing for workloads/.
fn write_suite(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("suite.yaml");
    std::fs::write(&path, text.replace("@W", &common::workloads().display().to_string())).unwrap();
    path
}

fn load_error(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write_suite(dir.path(), text);
    let message = Suite::load(&path).unwrap_err().to_string();
    message.strip_prefix(&format!("{}", path.display())).unwrap_or_else(|| panic!("names the suite: {message}")).into()
}

#[test]
fn mistakes_in_a_suite_name_its_line_and_column() {
    let cases = [
        (
            "runs:\n  - scenario: @W/smoke.yaml\n    seed: 3\n",
            ":3:5: runs[0]: unknown field `seed`, expected one of `scenario`, `name`, `seeds`, `backend`, \
             `thresholds`, `unsafe_bugs`",
        ),
        ("runs:\n  - scenario: @W/smoke.yaml\n  - scenario: nowhere.yaml\n", ":3:15: runs[1].scenario: cannot read "),
        (
            "runs:\n  - scenario: @W/smoke.yaml\n    thresholds: [\"rto < 2s\"]\n",
            ":3:17: runs[0].thresholds: \"rto < 2s\": unknown metric \"rto\"",
        ),
        ("runs:\n  - scenario: @W/smoke.yaml\n    backend: k8s\n", ":3:14: runs[0].backend: unknown variant `k8s`"),
        (
            "runs:\n  - scenario: @W/smoke.yaml\n    name: a/b\n",
            ":3:11: runs[0].name: run name \"a/b\": expected letters",
        ),
        ("runs:\n  - scenario: @W/smoke.yaml\n    seeds: []\n", ":3:12: runs[0].seeds: list at least one seed"),
        ("runs:\n  - scenario: @W/smoke.yaml\n    seeds: [2, 2]\n", ":3:12: runs[0].seeds: [2, 2]: each seed once"),
        ("name: empty\nruns: []\n", ":2:7: a suite lists at least one run"),
        ("runs:\n  - scenario: @W/smoke.yaml\n  - scenario: @W/smoke.yaml\n", ": run \"smoke-seed1\" comes twice"),
    ];
    for (suite, expected) in cases {
        let message = load_error(suite);
        let (location, what) = expected.split_once(' ').unwrap();
        assert!(message.starts_with(location), "{suite}\ngave {message}");
        assert!(message.contains(what), "{suite}\ngave {message}\nexpected {expected}");
    }
}

#[test]
fn a_broken_scenario_is_named_at_the_suite_line_with_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.yaml"),
        "name: broken\ncluster: {size: 3}\nworkload: @W/mixed.yaml\nfaults:\n  - {at: 1s, kind: nope}\n"
            .replace("@W", &common::workloads().display().to_string()),
    )
    .unwrap();
    let path = write_suite(dir.path(), "name: s\nruns:\n  - scenario: broken.yaml\n");
    let message = Suite::load(&path).unwrap_err().to_string();
    let expected = format!(
        "{}:3:15: runs[0].scenario: {}:5:20: faults[0].kind: unknown variant `nope`",
        path.display(),
        dir.path().join("broken.yaml").display()
    );
    assert!(message.starts_with(&expected), "{message}\nexpected {expected}");
}

#[test]
fn each_seed_is_a_run_with_the_suite_overrides_applied() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_suite(
        dir.path(),
        "runs:\n  - scenario: @W/failover/kill-2-of-5.yaml\n    name: k\n    seeds: [4, 5]\n    backend: docker\n    \
         thresholds: [\"rto_max < 5s\"]\n    unsafe_bugs: [forget-vote]\n  - scenario: @W/smoke.yaml\n",
    );
    let suite = Suite::load(&path).unwrap();
    assert_eq!(suite.name, "suite", "a suite without a name takes its file's");
    let names: Vec<&str> = suite.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["k-seed4", "k-seed5", "smoke-seed1"]);
    let k = &suite.runs[1].scenario.file;
    assert_eq!((k.seed, k.backend), (5, BackendKind::Docker));
    assert_eq!(k.cluster.unsafe_bugs, ["forget-vote"]);
    assert_eq!(k.thresholds.last().map(|t| t.text.as_str()), Some("rto_max < 5s"));
    let smoke = &suite.runs[2].scenario.file;
    assert_eq!((smoke.seed, smoke.backend), (1, BackendKind::Process), "the scenario's own, untouched");
    assert!(smoke.cluster.unsafe_bugs.is_empty());
}

/// A short real scenario in `dir`: 3 nodes, 10 s of mixed load, the leader
/// killed once.
fn short_scenario(dir: &Path) -> PathBuf {
    let path = dir.join("short.yaml");
    std::fs::write(
        &path,
        format!(
            "name: short\ncluster: {{size: 3, node_args: [\"--tick-ms\", \"20\", \"--election-ticks\", \"10\"]}}\n\
             workload: {}/mixed.yaml\nduration: 10s\nfaults:\n  - {{at: 3s, for: 2s, kind: kill_leader}}\n",
            common::workloads().display()
        ),
    )
    .unwrap();
    path
}

/// `chaos gate SUITE --out DIR` on 127.0.0.191+ and `port`.
fn gate(suite: &Path, out: &Path, port: u16, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chaos"));
    command.arg("gate").arg(suite).arg("--out").arg(out);
    command.args(["--binary", &common::raft_node().to_string_lossy(), "--ip-base", "190", "--port", &port.to_string()]);
    command.args(extra);
    command
}

fn finished(output: &Output) -> (i32, String) {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().expect("exited"), text)
}

fn summary(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

/// (name, verdict) of every run in the gate's summary.json.
fn verdicts(summary: &Value) -> Vec<(String, String)> {
    let runs = summary["runs"].as_array().unwrap();
    runs.iter().map(|r| (r["name"].as_str().unwrap().into(), r["verdict"].as_str().unwrap().into())).collect()
}

/// The testsuites of the gate's junit.xml, read by a JUnit parser: each
/// with its testcases as (name, "ok", "failure: WHY", "error: WHY" or
/// "skipped: WHY").
fn testsuites(out: &Path) -> Vec<(String, Vec<(String, String)>)> {
    let xml = std::fs::read(out.join("junit.xml")).unwrap();
    let parsed = junit_parser::from_reader(std::io::Cursor::new(xml)).expect("junit.xml parses");
    let outcome = |status: &TestStatus| match status {
        TestStatus::Success => "ok".to_string(),
        TestStatus::Failure(f) => format!("failure: {}", f.message),
        TestStatus::Error(e) => format!("error: {}", e.message),
        TestStatus::Skipped(s) => format!("skipped: {}", s.message),
    };
    let cases = |suite: &junit_parser::TestSuite| {
        suite.cases.iter().map(|c| (c.original_name.clone(), outcome(&c.status))).collect::<Vec<_>>()
    };
    parsed.suites.iter().map(|suite| (suite.name.clone(), cases(suite))).collect()
}

/// The gate's summary.json validates against reports/gate.schema.json.
fn assert_valid_gate_summary(summary: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/gate.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(summary).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn a_valid_run_and_a_planted_bug_give_exit_1_and_say_which_failed_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let short = short_scenario(dir.path());
    let suite = write_suite(
        dir.path(),
        &format!(
            "name: two\nruns:\n  - scenario: {}\n    thresholds: [\"lost_writes == 0\"]\n  \
             - scenario: @W/bugs/power-loss.yaml\n    unsafe_bugs: [ack-before-persist]\n  \
             - scenario: {}\n    name: refused\n    unsafe_bugs: [off-by-one]\n",
            short.display(),
            short.display()
        ),
    );
    let out = dir.path().join("gate");
    let (code, text) = finished(&gate(&suite, &out, 17861, &[]).output().unwrap());
    assert_eq!(code, 1, "an invalid run outranks the refused one: {text}");
    assert!(text.contains("[1/3] short-seed1 (seed 1, process): valid in "), "{text}");
    assert!(text.contains("[2/3] power-loss-seed1 (seed 1, process): invalid in "), "{text}");
    assert!(text.contains("[3/3] refused-seed1 (seed 1, process): error in "), "{text}");

    let summary = summary(&out);
    assert_eq!(summary["exit_code"], 1);
    let expected = [("short-seed1", "valid"), ("power-loss-seed1", "invalid"), ("refused-seed1", "error")];
    assert_eq!(verdicts(&summary), expected.map(|(n, v)| (n.to_string(), v.to_string())));
    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(runs[1]["unsafe_bugs"], serde_json::json!(["ack-before-persist"]));
    assert_eq!((runs[1]["seed"].as_u64(), runs[1]["backend"].as_str()), (Some(1), Some("process")));
    assert!(runs[2]["reason"].as_str().unwrap().contains("unknown bug \"off-by-one\""), "{}", runs[2]);
    for run in &runs[..2] {
        let path = run["path"].as_str().unwrap();
        let own: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(path).join("summary.json")).unwrap()).unwrap();
        assert_eq!(own["verdict"], run["verdict"], "the run's own summary agrees");
    }

    assert_valid_gate_summary(&summary);

    let suites = testsuites(&out);
    let names: Vec<&str> = suites.iter().map(|(n, _)| n.as_str()).collect();
    let planted = |run: &str, bug: &str| format!("chaos.{run} [UNSAFE BUGS PLANTED: {bug}]");
    assert_eq!(
        names,
        [
            "chaos.short-seed1".to_string(),
            planted("power-loss-seed1", "ack-before-persist"),
            planted("refused-seed1", "off-by-one")
        ]
    );
    let case_names = |i: usize| suites[i].1.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        case_names(0),
        [
            "linearizable-register",
            "list-append",
            "split-brain",
            "convergence",
            "lost-writes",
            "threshold lost_writes == 0"
        ],
        "a testcase per check and threshold: {suites:#?}"
    );
    assert!(suites[0].1.iter().all(|(_, outcome)| outcome == "ok"), "every case of the valid run passed: {suites:#?}");
    let failed: Vec<&(String, String)> = suites[1].1.iter().filter(|(_, o)| o.starts_with("failure: ")).collect();
    assert!(!failed.is_empty() && failed.iter().all(|(_, o)| o.len() > "failure: ".len()), "{suites:#?}");
    assert!(case_names(1).contains(&"threshold lost_writes == 0".to_string()), "the scenario's threshold: {suites:#?}");
    assert_eq!(suites[2].1.len(), 1, "{suites:#?}");
    let (case, outcome) = &suites[2].1[0];
    assert!(case == "run" && outcome.contains("unknown bug \"off-by-one\""), "{suites:#?}");

    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains("<a href=\"short-seed1/report.html\">report</a>"), "{index}");
    assert!(index.contains("<a href=\"power-loss-seed1/report.html\">report</a>"), "{index}");
    assert!(out.join("short-seed1/report.html").exists() && out.join("power-loss-seed1/report.html").exists());
    assert!(index.contains("UNSAFE BUGS PLANTED in power-loss-seed1 (ack-before-persist)"), "{index}");
    assert!(index.contains("<span class=\"verdict invalid\">invalid</span>"), "{index}");
}

#[test]
fn fail_fast_stops_after_the_first_failing_run() {
    let dir = tempfile::tempdir().unwrap();
    let short = short_scenario(dir.path());
    // No run completes a million operations a second: invalid, surely.
    let suite = write_suite(
        dir.path(),
        &format!(
            "runs:\n  - scenario: {0}\n    name: hopeless\n    thresholds: [\"achieved_rate > 1000000\"]\n  \
             - scenario: {0}\n",
            short.display()
        ),
    );
    let out = dir.path().join("gate");
    let (code, text) = finished(&gate(&suite, &out, 17862, &["--fail-fast"]).output().unwrap());
    assert_eq!(code, 1, "{text}");
    assert!(!text.contains("[2/2]"), "the second run never started: {text}");
    let summary = summary(&out);
    let expected = [("hopeless-seed1", "invalid"), ("short-seed1", "not-run")];
    assert_eq!(verdicts(&summary), expected.map(|(n, v)| (n.to_string(), v.to_string())));
    assert_eq!(summary["runs"][1]["reason"], "--fail-fast: hopeless-seed1 was invalid");
    assert!(!out.join("short-seed1").exists());
    assert_valid_gate_summary(&summary);
    let suites = testsuites(&out);
    let threshold =
        suites[0].1.iter().find(|(n, _)| n == "threshold achieved_rate > 1000000").expect("its own testcase");
    assert!(threshold.1.starts_with("failure: failed: was "), "{suites:#?}");
    assert_eq!(suites[1].1, [("run".to_string(), "skipped: --fail-fast: hopeless-seed1 was invalid".to_string())]);
}

#[test]
fn a_harness_error_alone_exits_2_and_names_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let suite = write_suite(
        dir.path(),
        "runs:\n  - scenario: @W/smoke.yaml\n    unsafe_bugs: [off-by-one]\n  - scenario: @W/smoke.yaml\n    \
         name: also-refused\n    unsafe_bugs: [off-by-one]\n",
    );
    let out = dir.path().join("gate");
    let (code, text) = finished(&gate(&suite, &out, 17863, &[]).output().unwrap());
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("no verdict (error: smoke-seed1, also-refused-seed1)"),
        "a failing run does not stop the rest: {text}"
    );
    assert_eq!(summary(&out)["exit_code"], 2);
}

#[test]
fn a_bad_suite_is_one_line_and_exit_2_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let suite = write_suite(dir.path(), "runs:\n  - scenario: @W/smoke.yaml\n    seed: 3\n");
    let out = dir.path().join("gate");
    let output = gate(&suite, &out, 17864, &[]).output().unwrap();
    let (code, _) = finished(&output);
    assert_eq!(code, 2);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with(&format!("error: {}:3:5: runs[0]: unknown field `seed`", suite.display())), "{err}");
    assert!(!out.exists(), "nothing was written");
}

#[test]
fn ctrl_c_stops_the_run_going_on_and_writes_the_combined_files_for_the_runs_done() {
    let dir = tempfile::tempdir().unwrap();
    let short = short_scenario(dir.path());
    let suite = write_suite(
        dir.path(),
        &format!("runs:\n  - scenario: {0}\n    name: first\n  - scenario: {0}\n    name: second\n", short.display()),
    );
    let out = dir.path().join("gate");
    let mut child = gate(&suite, &out, 17865, &[]).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let mut seen = Vec::new();
    for line in lines.by_ref().map_while(Result::ok) {
        seen.push(line.clone());
        // The second run's members are started once its log directory is.
        if line.starts_with("[2/2] second-seed1") && line.contains("running") {
            break;
        }
    }
    let second_nodes = out.join("second-seed1/nodes");
    for _ in 0..100 {
        if second_nodes.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(second_nodes.exists(), "the second run never started: {seen:#?}");
    // SAFETY: kill(2) on the child's pid, which has not been waited for.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    lines.for_each(drop);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{seen:#?}");
    let summary = summary(&out);
    let expected = [("first-seed1", "valid"), ("second-seed1", "interrupted")];
    assert_eq!(verdicts(&summary), expected.map(|(n, v)| (n.to_string(), v.to_string())));
    assert_eq!(summary["interrupted"], true);
    let leftover = Command::new("pgrep").args(["-f", &out.display().to_string()]).output().unwrap();
    assert!(leftover.stdout.is_empty(), "nodes left running: {}", String::from_utf8_lossy(&leftover.stdout));
}

#[test]
fn the_ci_suites_load() {
    let ci = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci");
    let gate = Suite::load(&ci.join("gate.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = gate.runs.iter().map(|r| r.name.as_str()).collect();
    let expected = ["smoke", "partition-asymmetric", "leader-faults", "kill-2-of-5", "add-1", "remove-1", "power-loss"]
        .map(|n| format!("{n}-seed1"));
    assert_eq!(names, expected);
    assert!(gate.runs.iter().all(|r| r.scenario.file.cluster.unsafe_bugs.is_empty()), "the gate runs the correct node");
    let nightly = Suite::load(&ci.join("nightly.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(nightly.runs.iter().filter(|r| r.scenario.file.name == "nemesis").count() >= 3, "the nemesis, seeds apart");
}
