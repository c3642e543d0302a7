//! The gRPC floor of the side-by-side benchmark (scripts/bench.sh): a Kv
//! server whose Get answers at once with a 256 B value, no Raft behind it,
//! served on raft-node's serving threads, and a closed loop of clients
//! calling it, dealt over one thread per CPU with a channel each, as
//! loadgen's lanes are. What this reaches is the most a raft-node get could
//! reach through tonic on the same cores.
//!
//!   grpc_echo serve ADDR
//!   grpc_echo load ADDR [--clients 64] [--duration 10] [--warmup 2]
//!
//! `load` prints one JSON line: {"ops_per_s", "p50_ms", "p99_ms"}.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, Subcommand};
use node::proto::kv::kv_client::KvClient;
use node::proto::kv::kv_server::{Kv, KvServer};
use node::proto::kv::{self as kpb};
use node::runtimes::RuntimeThreads;
use tonic::{Request, Response, Status};

#[derive(Parser)]
#[command(about = "tonic unary echo: the gRPC floor under raft-node's gets")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve Get (and nothing else) until killed.
    Serve { address: SocketAddr },
    /// Call Get in a closed loop and print what it achieved as JSON.
    Load {
        address: SocketAddr,
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Seconds measured, after the warm-up.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Seconds run before measuring.
        #[arg(long, default_value_t = 2)]
        warmup: u64,
    },
}

struct Echo {
    value: Bytes,
}

#[tonic::async_trait]
impl Kv for Echo {
    async fn get(&self, _: Request<kpb::GetRequest>) -> Result<Response<kpb::GetResponse>, Status> {
        Ok(Response::new(kpb::GetResponse { value: Some(self.value.clone()), index: 1 }))
    }

    async fn put(&self, _: Request<kpb::PutRequest>) -> Result<Response<kpb::WriteResponse>, Status> {
        Err(Status::unimplemented("echo serves Get only"))
    }

    async fn delete(&self, _: Request<kpb::DeleteRequest>) -> Result<Response<kpb::WriteResponse>, Status> {
        Err(Status::unimplemented("echo serves Get only"))
    }

    async fn cas(&self, _: Request<kpb::CasRequest>) -> Result<Response<kpb::CasResponse>, Status> {
        Err(Status::unimplemented("echo serves Get only"))
    }

    async fn append(&self, _: Request<kpb::AppendRequest>) -> Result<Response<kpb::WriteResponse>, Status> {
        Err(Status::unimplemented("echo serves Get only"))
    }

    async fn read_list(&self, _: Request<kpb::ReadListRequest>) -> Result<Response<kpb::ReadListResponse>, Status> {
        Err(Status::unimplemented("echo serves Get only"))
    }

    async fn txn(&self, _: Request<kpb::TxnRequest>) -> Result<Response<kpb::TxnResponse>, Status> {
        Err(Status::unimplemented("echo serves Get only"))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::Serve { address } => {
            let echo = Echo { value: Bytes::from(vec![b'v'; 256]) };
            let router = tonic::transport::Server::builder().add_service(KvServer::new(echo));
            let serving = RuntimeThreads::start(node::thread_count(None), "serve")?;
            node::server::serving::serve(address, &serving, router, std::future::pending()).await?;
        }
        Command::Load { address, clients, duration, warmup } => {
            let lanes = RuntimeThreads::start(node::thread_count(None), "lane")?;
            let mut channels = Vec::new();
            for lane in lanes.handles() {
                let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?;
                channels.push(lane.spawn(async move { endpoint.connect().await }).await??);
            }
            let start = Instant::now();
            let measure_from = start + Duration::from_secs(warmup);
            let end = measure_from + Duration::from_secs(duration);
            let tasks: Vec<_> = (0..clients)
                .map(|i| {
                    let lane = i % channels.len();
                    let mut client = KvClient::new(channels[lane].clone());
                    lanes.handles()[lane].spawn(async move {
                        let mut latencies_us = Vec::new();
                        while Instant::now() < end {
                            let request = kpb::GetRequest { key: format!("k{i}"), consistency: 0 };
                            let sent = Instant::now();
                            client.get(request).await?;
                            if sent >= measure_from {
                                latencies_us.push(sent.elapsed().as_micros() as u64);
                            }
                        }
                        Ok::<_, Status>(latencies_us)
                    })
                })
                .collect();
            let mut latencies_us = Vec::new();
            for task in tasks {
                latencies_us.extend(task.await??);
            }
            latencies_us.sort_unstable();
            let quantile_ms = |q: f64| {
                let at = ((latencies_us.len() as f64 * q) as usize).min(latencies_us.len().saturating_sub(1));
                latencies_us.get(at).map_or(0.0, |&us| us as f64 / 1000.0)
            };
            let summary = serde_json::json!({
                "ops_per_s": latencies_us.len() as f64 / duration as f64,
                "p50_ms": quantile_ms(0.50),
                "p99_ms": quantile_ms(0.99),
            });
            println!("{summary}");
        }
    }
    Ok(())
}
