//! A node with an empty data directory and `--peers` bootstraps a new
//! cluster, which is right only if the cluster does not exist yet. If it
//! does (the node's disk was lost and the operator started it again with
//! its original flags) the node would vote and acknowledge with a log it
//! forgot, and a leader missing acknowledged writes could be elected.
//!
//! So before it takes part, such a node asks its peers whether the
//! replicated state records it as a member that already took part
//! (`MemberStarted`, written by a leader once a member acknowledges it), as
//! etcd checks whether a member with empty data was already published. It
//! serves status meanwhile, so peers bootstrapping at the same moment answer
//! each other at once, but neither ticks nor takes peer messages. A marker
//! file keeps the check pending across a crash, so a node that was refused
//! stays refused.
//!
//! The check is only as good as the answers: a peer that is down cannot say
//! it knew this node. The node waits for every peer up to `wait`, then goes
//! on with those that answered, and says which did not.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use tracing::{info, warn};

use crate::client::Client;
use crate::storage::{StorageError, write_durably};

const MARKER: &str = "bootstrap-unconfirmed";

/// Notes that this directory's bootstrap is not confirmed yet.
pub fn mark_unconfirmed(dir: &Path) -> Result<(), StorageError> {
    write_durably(&dir.join(MARKER), &[b"peers not yet asked whether this node already took part\n"])
}

pub fn is_unconfirmed(dir: &Path) -> bool {
    dir.join(MARKER).exists()
}

fn mark_confirmed(dir: &Path) -> std::io::Result<()> {
    std::fs::remove_file(dir.join(MARKER))?;
    std::fs::File::open(dir)?.sync_all()
}

/// Asks every other peer whether the cluster knows `id` as started; an error
/// (with what to do instead) if one does.
pub async fn confirm_bootstrap(
    id: u64,
    cluster: &str,
    dir: &Path,
    peers: &BTreeMap<u64, String>,
    token: Option<String>,
    wait: Duration,
) -> anyhow::Result<()> {
    let client = Client::new(Vec::new(), token);
    let mut unanswered: BTreeMap<u64, String> =
        peers.iter().filter(|(p, _)| **p != id).map(|(p, a)| (*p, a.clone())).collect();
    let deadline = tokio::time::Instant::now() + wait;
    while !unanswered.is_empty() {
        let mut answered = Vec::new();
        for (&peer, address) in &unanswered {
            let Ok(status) = client.status(address).await else { continue };
            answered.push(peer);
            if status.cluster != cluster {
                warn!(peer, %address, their_cluster = %status.cluster, "a peer belongs to another cluster; ignoring its answer");
                continue;
            }
            if status.started_members.contains(&id) {
                anyhow::bail!(
                    "node {id} has an empty data directory ({dir}), but node {peer} at {address} records it as a member \
                     that already took part in cluster {cluster:?}: its log and votes are gone, and bootstrapping \
                     again could lose acknowledged writes. To bring this machine back, remove the old member \
                     (`raft-node ctl --endpoints {address} remove {id}`) and start it with a new --id and \
                     `--join {address}` (ids are never reused). Refusing to start.",
                    dir = dir.display()
                );
            }
        }
        for peer in answered {
            unanswered.remove(&peer);
        }
        if unanswered.is_empty() || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if unanswered.is_empty() {
        info!("every peer confirmed this node is new to the cluster");
    } else {
        let ids: Vec<u64> = unanswered.keys().copied().collect();
        warn!(
            unanswered = ?ids,
            "bootstrapping without an answer from these peers: if this node's data directory was wiped, they may hold \
             writes it acknowledged"
        );
    }
    mark_confirmed(dir)?;
    Ok(())
}
