//! The script language: one handler per command.

use std::collections::BTreeSet;
use std::fmt::Write;

use raft::{ConfChange, Durable, NodeId, ReadMode};

use crate::cluster::Cluster;

/// Runs a script and returns it with every command's output replaced by
/// what it produced now.
pub fn run_script(script: &str) -> String {
    let mut cluster = Cluster::default();
    let mut out = String::new();
    for line in script.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            out.push_str(line);
            out.push('\n');
        } else if let Some(cmd) = line.strip_prefix("> ") {
            out.push_str(line);
            out.push('\n');
            run(&mut cluster, cmd, &mut out);
        }
    }
    out
}

fn ids(args: &[&str]) -> Vec<NodeId> {
    args.iter().map(|a| a.parse().unwrap_or_else(|_| panic!("not a node id: {a}"))).collect()
}

fn run(c: &mut Cluster, cmd: &str, out: &mut String) {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let (name, args) = words.split_first().expect("a command");
    match *name {
        "bug" => {
            c.bugs.insert(args[0].parse().expect("a bug name"));
        }
        "show-writes" => c.show_writes = true,
        "max-msg-entries" => c.max_msg_entries = Some(args[0].parse().expect("a count")),
        "bootstrap" => {
            let voters = ids(args);
            for &id in &voters {
                c.add(id, Durable::bootstrap(voters.clone()));
            }
        }
        "join" => c.add(ids(args)[0], Durable::default()),
        "campaign" => {
            let id = ids(args)[0];
            c.raft(id).campaign_now();
            c.process(id, out);
        }
        "deliver" => c.deliver_round(out),
        "tick" => {
            let id = ids(&args[..1])[0];
            let n: u32 = args.get(1).map_or(1, |n| n.parse().unwrap());
            for _ in 0..n {
                c.raft(id).tick();
            }
            c.process(id, out);
        }
        "tick-all" => {
            let n: u32 = args[0].parse().unwrap();
            for _ in 0..n {
                let up: Vec<NodeId> = c.nodes.iter().filter(|(_, n)| n.raft.is_some()).map(|(id, _)| *id).collect();
                for id in up {
                    c.raft(id).tick();
                }
            }
            c.process_all(out);
        }
        "stabilize" => c.stabilize(out),
        "propose" => {
            let id = ids(&args[..1])[0];
            let data = bytes::Bytes::copy_from_slice(args[1].as_bytes());
            match c.raft(id).propose(data) {
                Ok(index) => writeln!(out, "ok index={index}").unwrap(),
                Err(e) => writeln!(out, "error: {e}").unwrap(),
            }
        }
        "read" => {
            let id = ids(&args[..1])[0];
            let ctx: u64 = args[1].parse().unwrap();
            let mode = match args[2] {
                "lease" => ReadMode::Lease,
                "read-index" => ReadMode::ReadIndex,
                other => panic!("unknown read mode {other}"),
            };
            if let Err(e) = c.raft(id).read(ctx, mode) {
                writeln!(out, "error: {e}").unwrap();
            }
            c.process(id, out);
        }
        "transfer" => {
            let [id, target] = ids(args)[..] else { panic!("transfer FROM TO") };
            if let Err(e) = c.raft(id).transfer_leader(target) {
                writeln!(out, "error: {e}").unwrap();
            }
        }
        "add-learner" | "promote" | "remove" => {
            let [id, target] = ids(args)[..] else { panic!("{name} LEADER NODE") };
            let change = match *name {
                "add-learner" => ConfChange::AddLearner(target),
                "promote" => ConfChange::Promote(target),
                _ => ConfChange::Remove(target),
            };
            match c.raft(id).propose_conf_change(change) {
                Ok(index) => writeln!(out, "ok index={index}").unwrap(),
                Err(e) => writeln!(out, "error: {e}").unwrap(),
            }
        }
        "reset-peers" => {
            let id = ids(&args[..1])[0];
            let voters: BTreeSet<NodeId> = ids(&args[1..]).into_iter().collect();
            if let Err(e) = c.raft(id).reset_peers(voters) {
                writeln!(out, "error: {e}").unwrap();
            }
            c.process(id, out);
        }
        "cut" => {
            let [a, b] = ids(args)[..] else { panic!("cut FROM TO") };
            c.cut.insert((a, b));
        }
        "isolate" => {
            let id = ids(args)[0];
            let others: Vec<NodeId> = c.nodes.keys().copied().filter(|&o| o != id).collect();
            for o in others {
                c.cut.insert((id, o));
                c.cut.insert((o, id));
            }
        }
        "heal" => c.cut.clear(),
        "drop-queued" => {
            let n = c.queue.len();
            c.queue.clear();
            writeln!(out, "dropped {n} messages").unwrap();
        }
        "crash" => {
            let id = ids(args)[0];
            let node = c.nodes.get_mut(&id).unwrap();
            node.raft = None;
            node.applied.clear();
        }
        "wipe" => {
            // The node's disk is emptied and it starts again as a bootstrap
            // member of the voters given: an operator's mistake the cluster
            // cannot detect, but its survivors must report.
            let (id, voters) = ids(args).split_first().map(|(id, v)| (*id, v.to_vec())).expect("wipe NODE VOTERS...");
            let node = c.nodes.get_mut(&id).unwrap();
            node.raft = None;
            node.applied.clear();
            node.disk = Durable::bootstrap(voters);
        }
        "restart" => {
            let id = ids(args)[0];
            let cfg = crate::cluster::config(id, &c.bugs, c.max_msg_entries);
            let node = c.nodes.get_mut(&id).unwrap();
            node.raft = Some(raft::Raft::new(cfg, node.disk.clone()).unwrap());
            c.process(id, out);
        }
        "compact" => {
            let id = ids(args)[0];
            let raft = c.raft(id);
            let index = raft.applied_index();
            raft.compact(index, bytes::Bytes::from(format!("state-at-{index}"))).unwrap();
            let snapshot = raft.snapshot().clone();
            let disk = &mut c.nodes.get_mut(&id).unwrap().disk;
            disk.entries.retain(|e| e.index > index);
            disk.snapshot = snapshot;
            writeln!(out, "compacted to {index}").unwrap();
        }
        "status" => {
            for id in ids(args) {
                let st = c.raft(id).status();
                writeln!(
                    out,
                    "n{id}: {:?} term={} vote={} leader={} commit={} applied={} last={} lease={} voters={:?} \
                     learners={:?}",
                    st.role,
                    st.term,
                    st.vote,
                    st.leader,
                    st.commit,
                    st.applied,
                    st.last_index,
                    if st.lease_until.is_some() { "valid" } else { "none" },
                    st.conf.voters,
                    st.conf.learners
                )
                .unwrap();
                if let Some(lost) = st.lost_commits {
                    writeln!(out, "n{id}: {lost}").unwrap();
                }
            }
        }
        "applied" => {
            let id = ids(args)[0];
            let applied = c.nodes[&id].applied.join(", ");
            writeln!(out, "n{id}: [{applied}]").unwrap();
        }
        other => panic!("unknown command {other}"),
    }
}
