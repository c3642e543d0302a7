//! The JSON Schemas kept in the repository are the ones the types give,
//! and what chaos writes validates against them.
//!
//! After changing a type: `UPDATE_SCHEMAS=1 cargo test -p reports --test
//! schema` rewrites the files; review the diff (and bump SCHEMA_VERSION if
//! an older reader would misread the new form).

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;

fn kept(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(file)
}

/// The kept schema equals `generated`, or is rewritten when asked.
fn assert_kept(file: &str, generated: &Value) -> Value {
    let path = kept(file);
    let text = serde_json::to_string_pretty(generated).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    // Compared as JSON, not as text: which crates share the build decides
    // whether serde_json keeps keys in insertion order (a workspace build
    // turns `preserve_order` on), and with it the order they print in.
    let on_disk: Option<Value> = std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok());
    assert!(
        on_disk.as_ref() == Some(generated),
        "{} differs from the schema the types give: run UPDATE_SCHEMAS=1 cargo test -p reports --test schema",
        path.display()
    );
    generated.clone()
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::validator_for(schema).expect("a valid JSON Schema")
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

#[test]
fn the_summary_schema_is_the_one_the_types_give_and_a_summary_validates() {
    let schema = assert_kept("summary.schema.json", &reports::summary::schema());
    let validator = validator(&schema);
    let dir = common::run_dir(&common::summary(), true);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(errors(&validator, &written), Vec::<String>::new());

    // The schema is strict enough to catch a mistake.
    let mut wrong = written.clone();
    wrong["verdict"] = "maybe".into();
    wrong.as_object_mut().unwrap().remove("reproduce");
    let found = errors(&validator, &wrong);
    assert_eq!(found.len(), 2, "{found:?}");
}

#[test]
fn the_cluster_timeline_schema_is_the_one_the_types_give_and_lines_validate() {
    let schema = assert_kept("cluster.schema.json", &reports::cluster::schema());
    let validator = validator(&schema);
    let (cluster, _) = common::cluster_timeline();
    for event in &cluster {
        let line = serde_json::to_value(event).unwrap();
        assert_eq!(errors(&validator, &line), Vec::<String>::new(), "{line}");
    }
    assert!(!errors(&validator, &serde_json::json!({"at_ns": 1, "event": "exploded", "node": 1})).is_empty());
}

#[test]
fn the_gate_schema_is_the_one_the_types_give_and_a_gate_summary_validates() {
    use reports::gate::{GATE_SCHEMA_VERSION, GateRun, GateSummary, RunVerdict};
    let schema = assert_kept("gate.schema.json", &reports::gate::schema());
    let validator = validator(&schema);
    let run = |name: &str, verdict: RunVerdict, reason: Option<&str>| GateRun {
        name: name.into(),
        scenario: "../workloads/smoke.yaml".into(),
        scenario_name: "smoke".into(),
        seed: 1,
        backend: "process".into(),
        unsafe_bugs: vec![],
        verdict,
        reason: reason.map(str::to_string),
        path: name.into(),
        seconds: 31.5,
        summary: Some(common::summary()),
    };
    let gate = GateSummary {
        schema_version: GATE_SCHEMA_VERSION,
        suite: "ci/gate.yaml".into(),
        name: "gate".into(),
        exit_code: 2,
        interrupted: false,
        runs: vec![
            run("smoke-seed1", RunVerdict::Valid, None),
            run("smoke-seed2", RunVerdict::Error, Some("harness: x")),
        ],
    };
    let written = serde_json::to_value(&gate).unwrap();
    assert!(written["runs"][0].get("summary").is_none(), "a run's summary stays in its own directory");
    assert_eq!(errors(&validator, &written), Vec::<String>::new());
    let mut wrong = written.clone();
    wrong["runs"][1]["verdict"] = "broken".into();
    assert_eq!(errors(&validator, &wrong).len(), 1);
}
