//! What `chaos run` and `chaos gate` share around a run: the raft-node
//! program to drive, free loopback addresses, and the watchdog and signals
//! that end a run early.

use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::runner::{RunError, RunOptions, RunReport};
use crate::scenario::{BackendKind, Scenario};

/// The raft-node program for runs on `backend`: `given` if any, else one
/// built from this workspace (a static build for containers, which run
/// FROM scratch), else the one installed beside chaos.
pub fn node_binary(backend: BackendKind, given: Option<PathBuf>) -> Result<PathBuf, String> {
    let binary = match given {
        Some(binary) => binary,
        None if backend == BackendKind::Docker => {
            crate::backend::docker::image::build_static_binary().map_err(|e| e.to_string())?
        }
        None => crate::build::raft_node()?,
    };
    if !binary.exists() {
        return Err(format!(
            "{} not found: build it (cargo build --release -p node) or pass --binary",
            binary.display()
        ));
    }
    Ok(binary)
}

/// The first block of ten loopback addresses (from 127.0.0.61) where
/// nothing listens on `port` or `port + 1` (etcd members' peer port): ids 1
/// to 9 fit.
pub fn free_ip_base(port: u16) -> Option<u8> {
    let free = |ip, port| std::net::TcpListener::bind((ip, port)).is_ok();
    (60..=240u8).step_by(10).find(|base| {
        (1..=9u8).all(|n| {
            let ip = std::net::Ipv4Addr::new(127, 0, 0, base + n);
            free(ip, port) && free(ip, port.saturating_add(1))
        })
    })
}

/// Ctrl-C (SIGINT) and SIGTERM (`kill`, `timeout`, a cancelled CI job).
/// Held for as long as runs may follow one another: a signal that arrives
/// between two runs is kept and stops the next one before it starts work.
pub struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    /// Must be called inside a tokio runtime.
    pub fn install() -> std::io::Result<StopSignals> {
        Ok(StopSignals { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    /// Resolves when either signal arrives (or has arrived since the last call).
    pub async fn received(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// How a watched run ended.
// One per run, moved once: the size of a report is no cost worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Watched {
    Finished(Result<RunReport, RunError>),
    /// A stop signal came: the run was dropped, and with it its backend,
    /// which stopped the members and removed their rules, networks and
    /// containers. No verdict.
    Interrupted,
}

/// Runs `scenario` until it finishes, the watchdog fires (a harness error)
/// or a stop signal arrives.
pub async fn run_watched(scenario: &Scenario, options: &RunOptions, stop: &mut StopSignals) -> Watched {
    // Every phase is bounded on its own; this is the backstop.
    let watchdog = scenario.workload.load.duration + Duration::from_secs(600);
    tokio::select! {
        // A signal that came before the run started stops it at once.
        biased;
        _ = stop.received() => Watched::Interrupted,
        r = tokio::time::timeout(watchdog, crate::runner::run(scenario, options)) => Watched::Finished(r.unwrap_or_else(|_| {
            Err(RunError::Cluster(format!("the run took longer than {watchdog:?}; gave up")))
        })),
    }
}
