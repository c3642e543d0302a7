//! `chaos run` refuses what the chosen system or backend cannot do, in one
//! line and with exit 2, before it starts anything.

use std::path::Path;
use std::process::Command;

/// Runs `chaos run ARGS` into `out`: exit code and stderr.
fn chaos_run(out: &Path, args: &[&str]) -> (i32, String) {
    let smoke = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads/smoke.yaml");
    let result = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .arg("run")
        .arg(&smoke)
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .unwrap();
    (result.status.code().unwrap(), String::from_utf8_lossy(&result.stderr).into_owned())
}

#[test]
fn an_unknown_backend_or_system_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = chaos_run(dir.path(), &["--backend", "kubernetes"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim(), "error: --backend: unknown backend \"kubernetes\" (known: process, docker)");
    let (code, err) = chaos_run(dir.path(), &["--system", "etcd"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim(), "error: --system: unknown system \"etcd\" (known: raft-node)");
    assert!(!dir.path().join("nodes").exists(), "nothing was started");
}

#[test]
fn a_bug_the_system_cannot_plant_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = chaos_run(dir.path(), &["--unsafe-inject-bug", "off-by-one", "--port", "17801"]);
    assert_eq!(code, 2, "{err}");
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("error: ")
            && last.contains("smoke.yaml: cluster.unsafe_bugs: the raft-node system: unknown bug \"off-by-one\""),
        "{err}"
    );
    assert!(!dir.path().join("nodes").exists(), "nothing was started");
}
