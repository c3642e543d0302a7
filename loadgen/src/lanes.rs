//! Lanes: a run's clients dealt over threads, each thread with its own
//! driver, as wrk's threads each own their connections and event loop.
//!
//! On one multi-threaded runtime, 64 clients sharing a driver's connections
//! send each request in a write of its own: the connection's task runs on
//! one thread while the clients queue requests on the other (profiled: one
//! `writev` per lease read). A lane is a single-threaded runtime on its own
//! thread (node::runtimes) with a driver built there, so the driver's
//! connection tasks and the lane's clients share the thread, and the
//! requests they have ready together leave in one write.

use std::future::Future;
use std::sync::Arc;

use node::runtimes::RuntimeThreads;

use crate::run::Lane;

/// One lane per thread, each with a driver `make` builds on that thread.
pub async fn build<D, E, F, Fut>(threads: &RuntimeThreads, make: F) -> Result<Vec<Lane<D>>, E>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<D, E>> + Send + 'static,
    D: Send + Sync + 'static,
    E: Send + 'static,
{
    let mut lanes = Vec::with_capacity(threads.handles().len());
    for runtime in threads.handles() {
        let driver = runtime.spawn(make()).await.expect("a runtime thread runs until dropped")?;
        lanes.push(Lane { runtime: runtime.clone(), driver: Arc::new(driver) });
    }
    Ok(lanes)
}

/// One lane per thread, all sending through `driver` (an in-process
/// target, which has no connections to keep on a thread).
pub fn share<D>(threads: &RuntimeThreads, driver: Arc<D>) -> Vec<Lane<D>> {
    threads.handles().iter().map(|runtime| Lane { runtime: runtime.clone(), driver: driver.clone() }).collect()
}
