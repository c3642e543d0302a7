//! `chaos check` as a user runs it.

use std::path::Path;
use std::process::Command;

/// Runs `chaos check ARGS`: exit code, stdout, stderr.
fn chaos_check(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chaos")).arg("check").args(args).output().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (out.status.code().unwrap(), text(&out.stdout), text(&out.stderr))
}

fn fixture(name: &str) -> String {
    format!("{}/tests/histories/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn exit_codes_say_valid_invalid_or_unknown() {
    let (code, out, err) = chaos_check(&["--history", &fixture("register/valid/sequential-put-get.jsonl")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("VALID (linearizable-register)"), "{out}");
    assert!(err.contains("exit 0: valid"), "{err}");

    let (code, out, err) = chaos_check(&["--history", &fixture("register/invalid/stale-read-after-write.jsonl")]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with("INVALID (linearizable-register)"), "{out}");
    assert!(out.contains("counterexample (key \"x\"):"), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("  {")).count(), 6, "three operations: {out}");
    assert!(err.contains("exit 1: invalid"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = chaos_check(&["--history", &hard_history(dir.path()), "--time-limit", "0.001"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.starts_with("UNKNOWN") && out.contains("out of time"), "{out}");
    assert!(err.contains("exit 2: unknown"), "{err}");
}

/// Forty concurrent writes of one key and forty reads, one of a value
/// nobody wrote: proving it takes far more than a millisecond.
fn hard_history(dir: &Path) -> String {
    let path = dir.join("hard.jsonl");
    let mut lines = Vec::new();
    let line = |p: u64, kind: &str, f: &str, value: String, t: u64| {
        format!(r#"{{"process":{p},"type":"{kind}","f":"{f}","key":"k","value":{value},"time_ns":{t}}}"#)
    };
    for p in 0..40 {
        lines.push(line(p, "invoke", "put", p.to_string(), 0));
    }
    for p in 0..40 {
        lines.push(line(p, "ok", "put", p.to_string(), 100));
    }
    for p in 0..40 {
        lines.push(line(100 + p, "invoke", "get", "null".into(), 100));
        lines.push(line(100 + p, "ok", "get", if p == 39 { "\"never\"".into() } else { p.to_string() }, 200 + p));
    }
    std::fs::write(&path, lines.join("\n")).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn json_output_is_the_result_with_the_model() {
    let (code, out, _) = chaos_check(&[
        "--history",
        &fixture("register/invalid/stale-read-after-write.jsonl"),
        "--json",
        "--model",
        "register",
    ]);
    assert_eq!(code, 1);
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed["verdict"], "invalid");
    assert_eq!(parsed["model"], "register");
    assert_eq!(parsed["model_inferred"], false);
    // put b and the read of a after it; put a is context (it may only
    // have taken effect by its return, before put b).
    assert_eq!(parsed["counterexample"].as_array().unwrap().len(), 4);
    assert_eq!(parsed["counterexample"][1]["value"], "b");
    assert_eq!(parsed["counterexample"][3]["value"], "a");
    assert_eq!(parsed["findings"][0]["key"], "x");
}

#[test]
fn bad_input_names_the_file_the_line_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let invoke = r#"{"process":1,"type":"invoke","f":"put","key":"x","value":1,"time_ns":1}"#;
    let path = write("bad.jsonl", &format!("{invoke}\n\n{{\"process\":1,\"type\":\"okay\"}}\n"));
    let (code, out, err) = chaos_check(&["--history", &path]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains(&format!("{path}:3:26: expected a history event: unknown variant `okay`")), "{err}");
    assert!(err.contains("exit 2: error"), "{err}");

    let orphan = r#"{"process":2,"type":"ok","f":"put","key":"x","value":1,"time_ns":2}"#;
    let path = write("orphan.jsonl", &format!("{invoke}\n\n{orphan}\n"));
    let (code, _, err) = chaos_check(&["--history", &path]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("{path}:3: the history is not well formed: process 2 completes")), "{err}");

    let missing = Path::new("/nonexistent/history.jsonl");
    let (code, _, err) = chaos_check(&["--history", missing.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/history.jsonl: No such file"), "{err}");

    let (code, _, err) = chaos_check(&["--history", &path, "--time-limit", "soon"]);
    assert_eq!(code, 2);
    assert!(err.contains("expected a positive number of seconds"), "{err}");
}

#[test]
fn the_model_is_inferred_from_the_operations_and_said() {
    let (code, out, err) = chaos_check(&["--history", &fixture("list-append/invalid/lost-acknowledged-append.jsonl")]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("model: list-append (inferred"), "{err}");
    assert!(out.starts_with("INVALID (list-append)"), "{out}");
    let (code, out, err) = chaos_check(&["--history", &fixture("register/valid/sequential-put-get.jsonl")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("model: register (inferred"), "{err}");
}

#[test]
fn help_explains_the_format_and_the_exit_status() {
    let out = Command::new(env!("CARGO_BIN_EXE_chaos")).args(["check", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for needle in ["--history <FILE>", "--model <MODEL>", "list-append", "--time-limit <SECS>", "info"] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
    let top = Command::new(env!("CARGO_BIN_EXE_chaos")).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&top.stdout).contains("0 valid, 1 invalid, 2 unknown or an error"));
}

/// Jepsen-shaped bank and set histories (no keys) are recognised and
/// judged; `--total` holds a bank to the total it started with.
#[test]
fn bank_and_set_histories_are_judged_by_their_own_models() {
    let (code, out, err) = chaos_check(&["--history", &fixture("set/invalid/lost-acknowledged-add.jsonl")]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("model: set (inferred"), "{err}");
    assert!(out.starts_with("INVALID (set): 1 acknowledged add lost (2)"), "{out}");
    let bank = fixture("bank/valid/transfers-conserve-the-total.jsonl");
    let (code, out, err) = chaos_check(&["--history", &bank]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("VALID (bank)"), "{out}");
    let (code, out, err) = chaos_check(&["--history", &bank, "--total", "40"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("a read's balances add up to 30, not 40"), "{out}");
    let (code, _, err) = chaos_check(&["--history", &bank, "--model", "set", "--total", "40"]);
    assert_eq!(code, 2);
    assert!(err.contains("--total is for the bank model, not set"), "{err}");
}
