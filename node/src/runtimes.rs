//! Single-threaded tokio runtimes, each on a thread of its own.
//!
//! A task and the tasks it wakes that share such a thread run one after
//! another on it, never at once on two cores: what a connection's streams
//! queue while its task waits for the thread leaves in one write. raft-node
//! serves each connection on one of these (server::serving), and loadgen
//! runs each lane of clients on one, with its own connections.

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The threads, stopped and joined when dropped; tasks still running on
/// them are dropped with their runtime.
pub struct RuntimeThreads {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl RuntimeThreads {
    /// `count` threads (at least one) named `name-0`, `name-1`, ...
    pub fn start(count: usize, name: &str) -> std::io::Result<RuntimeThreads> {
        let mut started = RuntimeThreads { handles: Vec::new(), stops: Vec::new(), threads: Vec::new() };
        for n in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            started.handles.push(runtime.handle().clone());
            started.stops.push(stop);
            let thread = std::thread::Builder::new().name(format!("{name}-{n}")).spawn(move || {
                let _ = runtime.block_on(stopped);
            })?;
            started.threads.push(thread);
        }
        Ok(started)
    }

    /// Where to spawn tasks onto each thread.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }
}

impl Drop for RuntimeThreads {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
