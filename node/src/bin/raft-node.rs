//! `raft-node`: run a Raft key-value node, or talk to a cluster (`ctl`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use node::client::{Client, ClientError};
use node::proto::kv::Consistency;
use node::server::{NodeConfig, run};
use raft::UnsafeBug;

/// mimalloc rather than glibc's malloc: per request, gRPC allocates and
/// frees many small buffers across threads (glibc's `_int_free` and
/// `malloc_consolidate` showed in the leader's profile under puts).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A Raft key-value node.
///
/// Start a 3-node cluster on one machine (one command per terminal):
///
///   raft-node --id 1 --listen 127.0.0.11:7001 --peers 1=127.0.0.11:7001,2=127.0.0.12:7001,3=127.0.0.13:7001 --data /tmp/n1
///
/// then: raft-node ctl --endpoints 127.0.0.11:7001,127.0.0.12:7001,127.0.0.13:7001 status
#[derive(Parser, Debug)]
#[command(name = "raft-node", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: Option<RunArgs>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Talk to a running cluster, in the manner of etcdctl.
    Ctl(CtlArgs),
    /// TESTING: simulate a power cut on the data directory of a node that is
    /// no longer running: cut its WAL back to what it had synced. The node
    /// must have run with --track-durable-writes.
    DropUnsynced {
        /// The node's data directory.
        #[arg(long)]
        data: PathBuf,
    },
}

#[derive(Args, Debug)]
struct RunArgs {
    /// This node's id: a positive integer, never reused in the cluster's life.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    /// Address to serve peers, clients and admins on; outgoing peer
    /// connections leave from its IP.
    #[arg(long)]
    listen: SocketAddr,
    /// Initial members as ID=IP:PORT,... (this node included) to bootstrap a
    /// new cluster. Ignored once the data directory holds state.
    #[arg(long, value_parser = parse_peer, value_delimiter = ',')]
    peers: Vec<(u64, SocketAddr)>,
    /// Join an existing cluster as a learner through this member's address.
    #[arg(long, conflicts_with = "peers")]
    join: Option<String>,
    /// Data directory (created if missing).
    #[arg(long)]
    data: PathBuf,
    /// A name for the cluster; a data directory of another cluster is refused.
    #[arg(long, default_value = "raftstorm")]
    cluster: String,
    /// With an empty data directory and --peers: how long to wait for the
    /// peers to say whether they know this node already (a node whose disk
    /// was lost must rejoin under a new id, never bootstrap again).
    #[arg(long, default_value_t = 3000)]
    bootstrap_wait_ms: u64,
    /// Length of one tick of the Raft clock.
    #[arg(long, default_value_t = 50)]
    tick_ms: u64,
    /// Election timeout, in ticks (the actual one is drawn from [this, 2 x this)).
    #[arg(long, default_value_t = 20)]
    election_ticks: u32,
    /// Heartbeat interval, in ticks.
    #[arg(long, default_value_t = 2)]
    heartbeat_ticks: u32,
    /// fsync every write batch. `--fsync=false` is for benchmarks only: a
    /// crash may then lose acknowledged writes.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    fsync: bool,
    /// How much slower than real time this node's clock may run, as a
    /// fraction in [0, 0.5): lease reads stop that much earlier.
    #[arg(long, default_value_t = 0.1)]
    max_clock_drift: f64,
    /// Keep DATA/wal/durable up to date with how far the WAL is synced, so a
    /// test harness can simulate a power cut after killing the node
    /// (`raft-node drop-unsynced`).
    #[arg(long)]
    track_durable_writes: bool,
    /// Token required by admin calls that change anything.
    #[arg(long, env = "RAFT_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// Snapshot the state machine every this many applied entries.
    #[arg(long, default_value_t = 10_000)]
    snapshot_every: u64,
    /// Plant a deliberate bug (repeatable) to test checkers. NEVER in production.
    #[arg(long = "unsafe-inject-bug", value_name = "NAME")]
    unsafe_bugs: Vec<UnsafeBug>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
    /// Threads serving gRPC connections and the outbound peer streams
    /// (each connection stays on one of them), beside the Raft and disk
    /// threads; default one per CPU.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    workers: Option<u16>,
}

fn parse_peer(s: &str) -> Result<(u64, SocketAddr), String> {
    let (id, addr) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected ID=IP:PORT"))?;
    let id: u64 = id.parse().map_err(|_| format!("{s:?}: the id must be a positive integer"))?;
    if id == 0 {
        return Err(format!("{s:?}: the id must be a positive integer"));
    }
    let addr = addr.parse().map_err(|_| format!("{s:?}: {addr:?} is not IP:PORT"))?;
    Ok((id, addr))
}

#[derive(Args, Debug)]
struct CtlArgs {
    /// Cluster members to talk to, IP:PORT,...
    #[arg(long, value_delimiter = ',', required = true)]
    endpoints: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[arg(long, env = "RAFT_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    #[command(subcommand)]
    op: CtlOp,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ReadConsistency {
    Lease,
    ReadIndex,
    Follower,
    Stale,
}

#[derive(Subcommand, Debug)]
enum CtlOp {
    /// Every endpoint's view: role, term, leader, indexes, lease.
    Status,
    Put {
        key: String,
        value: String,
    },
    Get {
        key: String,
        #[arg(long, value_enum, default_value = "lease")]
        consistency: ReadConsistency,
    },
    Del {
        key: String,
    },
    /// Set KEY to VALUE only if it holds --expected (or, with --absent, holds nothing).
    Cas {
        key: String,
        value: String,
        #[arg(long, required_unless_present = "absent", conflicts_with = "absent")]
        expected: Option<String>,
        #[arg(long)]
        absent: bool,
    },
    /// The membership as the leader sees it.
    Members,
    AddLearner {
        id: u64,
        address: String,
    },
    Promote {
        id: u64,
    },
    Remove {
        id: u64,
    },
    Transfer {
        id: u64,
    },
    /// Applied index and state digest of every endpoint.
    Digest,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match node::runtime(cli.run.as_ref().and_then(|run| run.workers)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match (cli.command, cli.run) {
        (Some(Command::Ctl(ctl)), _) => runtime.block_on(ctl_main(ctl)),
        (Some(Command::DropUnsynced { data }), _) => drop_unsynced(&data),
        (None, Some(args)) => runtime.block_on(node_main(args)),
        (None, None) => {
            eprintln!("error: give node flags (see --help) or a subcommand");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn node_main(args: RunArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if args.log_json {
        tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init();
    } else {
        // Colour only for a terminal: a log file must stay plain text.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
    }
    let peers: BTreeMap<u64, String> = args.peers.iter().map(|(id, a)| (*id, a.to_string())).collect();
    if args.peers.len() != peers.len() {
        anyhow::bail!("--peers lists an id twice");
    }
    let cfg = NodeConfig {
        id: args.id,
        listen: args.listen,
        peers,
        join: args.join,
        data: args.data,
        cluster: args.cluster,
        tick: Duration::from_millis(args.tick_ms.max(1)),
        bootstrap_wait: Duration::from_millis(args.bootstrap_wait_ms),
        election_ticks: args.election_ticks,
        heartbeat_ticks: args.heartbeat_ticks,
        fsync: args.fsync,
        max_clock_drift: args.max_clock_drift,
        track_durable: args.track_durable_writes,
        admin_token: args.admin_token,
        unsafe_bugs: args.unsafe_bugs.into_iter().collect::<BTreeSet<_>>(),
        snapshot_every: args.snapshot_every.max(1),
        metrics: args.metrics,
        serving_threads: node::thread_count(args.workers),
    };
    // Ctrl-C or SIGTERM (how service managers and the chaos harness stop a
    // node) ends it cleanly; SIGKILL is the crash the WAL is built for.
    // Peers keep their streams open, so the server's graceful shutdown gets
    // a second; everything acknowledged is on disk already.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let _ = stop_tx.send(true);
    });
    let mut stopping = stop_rx.clone();
    let shutdown = async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    };
    tokio::select! {
        served = run(cfg, shutdown) => served,
        _ = async {
            let _ = stopping.wait_for(|stop| *stop).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        } => Ok(()),
    }
}

fn drop_unsynced(data: &std::path::Path) -> anyhow::Result<()> {
    let dropped = node::storage::power_loss::drop_unsynced(data)?;
    println!("deleted {} segments, cut {} bytes", dropped.segments_deleted, dropped.bytes_cut);
    Ok(())
}

async fn ctl_main(args: CtlArgs) -> anyhow::Result<()> {
    let mut client = Client::new(args.endpoints.clone(), args.admin_token.clone());
    client.deadline = Duration::from_secs(args.timeout);
    let json = args.json;
    let text = |v: &Option<Bytes>| v.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
    match args.op {
        CtlOp::Status => {
            let mut rows = Vec::new();
            let mut alarms = Vec::new();
            for ep in client.endpoints() {
                match client.status(ep).await {
                    Ok(s) => {
                        let alarm = (!s.alarm.is_empty()).then(|| {
                            alarms.push(format!("ALARM at {ep} (node {}): {}", s.id, s.alarm));
                            if json { s.alarm.clone() } else { "see below".to_string() }
                        });
                        rows.push(serde_json::json!({
                        "endpoint": ep, "id": s.id, "role": s.role, "term": s.term, "leader": s.leader,
                        "commit": s.commit, "applied": s.applied, "last_index": s.last_index,
                        "lease_ms": s.lease_remaining_ms, "unsafe_bugs": s.unsafe_bugs, "fsync": s.fsync,
                        "cluster": s.cluster, "alarm": alarm,
                        }))
                    }
                    Err(e) => rows.push(serde_json::json!({ "endpoint": ep, "error": e.to_string() })),
                }
            }
            print_rows(json, &rows);
            if !json {
                for alarm in alarms {
                    eprintln!("{alarm}");
                }
            }
        }
        CtlOp::Put { key, value } => {
            let index = client.put(&key, value.into()).await.map_err(outcome)?;
            print_rows(json, &[serde_json::json!({ "key": key, "index": index })]);
        }
        CtlOp::Get { key, consistency } => {
            let consistency = match consistency {
                ReadConsistency::Lease => Consistency::Lease,
                ReadConsistency::ReadIndex => Consistency::ReadIndex,
                ReadConsistency::Follower => Consistency::Follower,
                ReadConsistency::Stale => Consistency::Stale,
            };
            let r = client.get(&key, consistency).await.map_err(outcome)?;
            print_rows(json, &[serde_json::json!({ "key": key, "value": text(&r.value), "index": r.index })]);
        }
        CtlOp::Del { key } => {
            let index = client.delete(&key).await.map_err(outcome)?;
            print_rows(json, &[serde_json::json!({ "key": key, "index": index })]);
        }
        CtlOp::Cas { key, value, expected, .. } => {
            let expected = expected.map(Bytes::from);
            let r = client.cas(&key, expected, value.into()).await.map_err(outcome)?;
            print_rows(
                json,
                &[serde_json::json!({
                    "key": key, "succeeded": r.succeeded, "current": text(&r.current), "index": r.index
                })],
            );
            if !r.succeeded {
                anyhow::bail!("compare failed");
            }
        }
        CtlOp::Members => {
            let mut leader = None;
            for ep in client.endpoints() {
                if let Ok(s) = client.status(ep).await
                    && s.role == "Leader"
                {
                    leader = Some(s);
                    break;
                }
            }
            let s = leader.ok_or_else(|| anyhow::anyhow!("no endpoint is the leader right now"))?;
            let rows: Vec<_> = s
                .members
                .iter()
                .map(|m| serde_json::json!({
                    "id": m.id, "address": m.address, "voter": m.voter, "match": m.match_index, "progress": m.progress
                }))
                .collect();
            print_rows(json, &rows);
        }
        CtlOp::AddLearner { id, address } => done(json, client.add_learner(id, &address).await.map_err(outcome)?),
        CtlOp::Promote { id } => done(json, client.promote(id).await.map_err(outcome)?),
        CtlOp::Remove { id } => done(json, client.remove(id).await.map_err(outcome)?),
        CtlOp::Transfer { id } => done(json, client.transfer_leader(id).await.map_err(outcome)?),
        CtlOp::Digest => {
            let mut rows = Vec::new();
            for ep in client.endpoints() {
                match client.digest(ep).await {
                    Ok(d) => rows.push(serde_json::json!({ "endpoint": ep, "applied": d.applied, "digest": d.digest })),
                    Err(e) => rows.push(serde_json::json!({ "endpoint": ep, "error": e.to_string() })),
                }
            }
            print_rows(json, &rows);
        }
    }
    Ok(())
}

fn outcome(e: ClientError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn done(json: bool, index: u64) {
    print_rows(json, &[serde_json::json!({ "index": index })]);
}

/// A table with one column per key of the first row, or JSON lines.
fn print_rows(json: bool, rows: &[serde_json::Value]) {
    if json {
        for r in rows {
            println!("{r}");
        }
        return;
    }
    let Some(serde_json::Value::Object(first)) = rows.first() else { return };
    let keys: Vec<&String> = first.keys().collect();
    let cell = |r: &serde_json::Value, k: &str| match r.get(k) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => "-".into(),
        Some(v) => v.to_string(),
    };
    let widths: Vec<usize> =
        keys.iter().map(|k| rows.iter().map(|r| cell(r, k).len()).max().unwrap_or(0).max(k.len())).collect();
    let line = |cells: Vec<String>| {
        cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_string()
    };
    println!("{}", line(keys.iter().map(|k| k.to_uppercase()).collect()));
    for r in rows {
        let mut cells: Vec<String> = keys.iter().map(|k| cell(r, k)).collect();
        if let Some(err) = r.get("error") {
            cells = vec![cell(r, "endpoint"), format!("error: {}", err.as_str().unwrap_or_default())];
        }
        println!("{}", line(cells));
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
