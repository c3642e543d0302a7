//! `chaos run` refuses what the chosen system or backend cannot do, in one
//! line and with exit 2, before it starts anything.

use std::path::Path;
use std::process::Command;

mod common;

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
    let (code, err) = chaos_run(dir.path(), &["--system", "zookeeper"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim(), "error: --system: unknown system \"zookeeper\" (known: raft-node, etcd)");
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

#[test]
fn a_second_run_on_the_same_addresses_stops_and_the_first_stays_valid() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = common::mixed_scenario(dir.path(), "short", "15s", "[{at: 9s, for: 2s, kind: kill_leader}]");
    let run = |out: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chaos"));
        command.arg("run").arg(&scenario).arg("--out").arg(dir.path().join(out));
        command.args(["--binary", &common::raft_node().to_string_lossy(), "--ip-base", "140", "--port", "17811"]);
        command
    };
    let mut first = run("first").stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Let the first run elect its leader and start its workload.
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(first.stderr.take().unwrap()));
    assert!(lines.by_ref().take(50).flatten().any(|l| l.contains("[")), "the first run never got going");
    let second = run("second").output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(err.contains("already answers as node") && err.contains("another run uses these addresses"), "{err}");
    lines.for_each(drop);
    assert!(first.wait().unwrap().success(), "the first run stays valid");
}

#[test]
fn a_member_that_exits_by_itself_is_a_harness_error_not_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = common::mixed_scenario(dir.path(), "quiet", "8s", "[]");
    let out = dir.path().join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .arg("run")
        .arg(&scenario)
        .args(["--ip-base", "170", "--port", "17821", "--out"])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Once the workload runs, one member dies with no fault to blame: only
    // this run's nodes have its directory on their command line.
    let node_2 = out.join("nodes/node-2");
    let mut killed = false;
    for _ in 0..300 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        // Elected means started; the 8 s workload is under way 2 s later.
        let log = std::fs::read_to_string(out.join("nodes/node-2.log")).unwrap_or_default();
        if !log.contains("leader=1") && !log.contains("leader=2") && !log.contains("leader=3") {
            continue;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
        let status =
            Command::new("pkill").args(["-KILL", "-f", "--", &format!("--data {}( |$)", node_2.display())]).status();
        if status.is_ok_and(|s| s.success()) {
            killed = true;
            break;
        }
    }
    let result = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(killed, "no node 2 process to kill: {stderr}");
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("node 2 exited though no fault stopped it; its last log line:"), "{stderr}");
}

#[test]
fn a_crash_site_the_system_lacks_is_refused_naming_its_sites() {
    let dir = tempfile::tempdir().unwrap();
    let refusal = |fault: &str| {
        let scenario = common::mixed_scenario(dir.path(), "crash", "10s", &format!("[{fault}]"));
        let out = Command::new(env!("CARGO_BIN_EXE_chaos"))
            .arg("run")
            .arg(&scenario)
            .args(["--port", "17802", "--out"])
            .arg(dir.path().join("out"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(!dir.path().join("out/nodes").exists(), "nothing was started");
        String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default().to_string()
    };
    let e = refusal("{at: 1s, for: 1s, kind: crash_at, site: crash-in-the-kitchen}");
    assert!(
        e.contains("faults[0]: crash_at: the raft-node system has no crash site \"crash-in-the-kitchen\"")
            && e.contains("crash-before-wal-sync"),
        "{e}"
    );
    let e = refusal("{at: 1s, for: 1s, kind: kill_leader, site: crash-before-apply}");
    assert!(e.contains("faults[0]: `site` is for crash_at, not kill_leader"), "{e}");
}
