//! Reading a run directory back: the summary round-trips through its
//! schema, and a summary that cannot be read is one clear error naming the
//! file (and where in it).

use reports::{ReadError, SCHEMA_VERSION, read_summary};

mod common;

#[test]
fn a_written_summary_reads_back_the_same() {
    let dir = common::run_dir(&common::summary(), true);
    let read = read_summary(dir.path()).unwrap();
    assert_eq!(serde_json::to_value(&read).unwrap(), serde_json::to_value(common::summary()).unwrap());
}

#[test]
fn a_missing_summary_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_summary(dir.path()).unwrap_err();
    assert!(matches!(err, ReadError::Missing(_)), "{err:?}");
    assert_eq!(err.to_string(), format!("{}: not found", dir.path().join("summary.json").display()));
    assert!(reports::html::write_report(dir.path()).is_err());
    assert!(!dir.path().join("report.html").exists());
}

#[test]
fn broken_json_names_the_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("summary.json"), "{\n  \"schema_version\": 1,\n  oops\n}").unwrap();
    let err = read_summary(dir.path()).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:3:3: ", dir.path().join("summary.json").display())), "{err}");
}

#[test]
fn a_field_of_the_wrong_type_names_its_line() {
    let dir = common::run_dir(&common::summary(), true);
    let path = dir.path().join("summary.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"seed\": 1,", "\"seed\": \"one\",")).unwrap();
    let line = text.lines().position(|l| l.contains("\"seed\"")).unwrap() + 1;
    let err = read_summary(dir.path()).unwrap_err().to_string();
    assert!(err.contains(&format!("summary.json:{line}:")) && err.contains("expected u64"), "{err}");
}

#[test]
fn a_newer_or_missing_version_is_refused_saying_which() {
    let dir = common::run_dir(&common::summary(), true);
    let path = dir.path().join("summary.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let newer = SCHEMA_VERSION + 1;
    std::fs::write(
        &path,
        text.replace(&format!("\"schema_version\": {SCHEMA_VERSION}"), &format!("\"schema_version\": {newer}")),
    )
    .unwrap();
    let err = read_summary(dir.path()).unwrap_err();
    assert!(matches!(err, ReadError::Version { found, .. } if found == u64::from(newer)), "{err:?}");
    assert!(err.to_string().contains(&format!("schema_version {newer} is not one this chaos reads")), "{err}");

    std::fs::write(&path, "{\"scenario\": \"old\"}").unwrap();
    let err = read_summary(dir.path()).unwrap_err().to_string();
    assert!(err.contains("summary.json: no schema_version"), "{err}");
}
