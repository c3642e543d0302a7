//! Data-driven interaction tests, in the manner of etcd-raft's: each file in
//! `tests/testdata` is a script of commands (lines starting with `> `), each
//! followed by the output it must produce. Run with `REWRITE=1` to rewrite
//! the expected output, then review the diff.

mod cluster;
mod commands;

use std::path::Path;

#[test]
fn interaction_scripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata");
    let rewrite = std::env::var_os("REWRITE").is_some();
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("testdata exists").map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for path in files {
        let script = std::fs::read_to_string(&path).unwrap();
        let actual = commands::run_script(&script);
        if actual == script {
            continue;
        }
        if rewrite {
            std::fs::write(&path, &actual).unwrap();
        } else {
            failures.push(format!("{}:\n{}", path.display(), first_difference(&script, &actual)));
        }
    }
    assert!(failures.is_empty(), "scripts differ (REWRITE=1 to accept):\n{}", failures.join("\n"));
}

fn first_difference(expected: &str, actual: &str) -> String {
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        if e != a {
            return format!("  line {}:\n    expected: {e}\n    actual:   {a}", i + 1);
        }
    }
    format!("  lengths differ: expected {} lines, got {}", expected.lines().count(), actual.lines().count())
}
