//! `chaos clean` after a chaos process was killed in the middle of a run on
//! the process backend: its member processes and its iptables chain are
//! gone afterwards, and a live run's are left alone.

use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

/// The member processes (pids) and the iptables chains (names) that the
/// chaos process `pid` owns.
fn owned_by(pid: u32) -> (Vec<u32>, Vec<String>) {
    let prefix = format!("RAFTSTORM_OWNER={pid}:");
    let processes = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var.starts_with(prefix.as_bytes())))
        })
        .collect();
    let listing = Command::new("iptables").args(["-w", "5", "-S", "OUTPUT"]).output().unwrap();
    let chains = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter(|l| l.contains(&format!("\"raftstorm owner {pid}:")))
        .filter_map(|l| Some(l.rsplit_once("-j ")?.1.trim().to_string()))
        .collect();
    (processes, chains)
}

fn chaos_clean() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_chaos")).arg("clean").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "chaos clean: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// Kills the chaos process even when an assertion fails first.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_killed_runs_members_and_chain_are_removed_and_a_live_runs_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = common::mixed_scenario(dir.path(), "cut", "60s", "[{at: 1s, for: 50s, kind: leader_outbound}]");
    let run = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .arg("run")
        .arg(&scenario)
        .args(["--binary", &common::raft_node().to_string_lossy(), "--ip-base", "210", "--port", "17901", "--out"])
        .arg(dir.path().join("out"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut run = KillOnDrop(run);
    let pid = run.0.id();
    // Until the cut is in place: three members and a chain with a rule.
    let mut cut = false;
    for _ in 0..600 {
        std::thread::sleep(Duration::from_millis(100));
        let (members, chains) = owned_by(pid);
        let rules = |chain: &str| {
            let out = Command::new("iptables").args(["-w", "5", "-S", chain]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).contains("-j DROP")
        };
        if members.len() == 3 && chains.len() == 1 && rules(&chains[0]) {
            cut = true;
            break;
        }
        assert!(run.0.try_wait().unwrap().is_none(), "the run ended before its cut");
    }
    assert!(cut, "the run never had three members and a cut: {:?}", owned_by(pid));

    chaos_clean();
    let (members, chains) = owned_by(pid);
    assert_eq!((members.len(), chains.len()), (3, 1), "a live run's members and chain stay");

    run.0.kill().unwrap();
    run.0.wait().unwrap();
    let (members, chains) = owned_by(pid);
    assert_eq!((members.len(), chains.len()), (3, 1), "killing chaos leaves its members and chain behind");
    let printed = chaos_clean();
    assert!(printed.contains("killed 3 member processes") && printed.contains(&chains[0]), "{printed}");
    // SIGKILL is delivered before kill(2) returns, but the exits take a moment.
    let mut left = owned_by(pid);
    for _ in 0..100 {
        if left.0.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        left = owned_by(pid);
    }
    assert_eq!(left, (vec![], vec![]), "nothing of the killed run is left");
}
