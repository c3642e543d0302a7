//! `chaos check` as a user runs it.

use std::process::Command;

fn chaos_check(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chaos")).arg("check").args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn fixture(name: &str) -> String {
    format!("{}/tests/histories/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn exit_codes_say_valid_invalid_or_unknown() {
    let (code, out) = chaos_check(&["--history", &fixture("register/valid/sequential-put-get.jsonl")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("VALID"));
    let (code, out) = chaos_check(&["--history", &fixture("register/invalid/stale-read-after-write.jsonl")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("INVALID") && out.contains("counterexample:"), "{out}");
    let (code, out) = chaos_check(&[
        "--history",
        &fixture("register/invalid/stale-read-after-write.jsonl"),
        "--json",
        "--model",
        "register",
    ]);
    assert_eq!(code, 1);
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed["verdict"], "invalid");
}

#[test]
fn a_bad_line_is_reported_with_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    std::fs::write(
        &path,
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\",\"value\":1,\"time_ns\":1}\n{\"process\":1,\"type\":\"okay\"}\n",
    )
    .unwrap();
    let (code, out) = chaos_check(&["--history", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.contains("line 2"), "{out}");
    let (code, out) = chaos_check(&["--history", "/nonexistent/history.jsonl"]);
    assert_eq!(code, 2);
    assert!(out.contains("/nonexistent/history.jsonl"), "{out}");
}

#[test]
fn the_model_is_inferred_from_the_operations() {
    let (code, out) = chaos_check(&["--history", &fixture("list-append/invalid/lost-acknowledged-append.jsonl")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("model: ListAppend") && out.contains("list-append: INVALID"), "{out}");
}
