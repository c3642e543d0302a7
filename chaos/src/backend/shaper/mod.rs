//! Packet faults (delay, jitter, loss, duplication, reordering, a rate
//! limit) on chosen links, done in user space because these machines'
//! kernels have no `sch_netem` (tc says "Specified qdisc kind is unknown").
//!
//! An iptables rule sends the link's packets (the same match as a cut:
//! what A sends to B's peer port, see [`super::firewall`]) to an NFQUEUE;
//! a [`Shaper`] thread of the chaos process reads that queue, and decides
//! each packet's fate as netem would ([`netem`]): it gives the drop verdict,
//! or holds the packet and accepts it when its delay is up, or accepts it
//! and sends a copy through a raw socket. Copies carry a mark that the rule
//! skips, so they are not shaped again. The rule is `--queue-bypass`: if the
//! chaos process dies, packets pass untouched.
//!
//! A shaper for a container's link runs in the container's network
//! namespace: its thread enters it first (setns), so the queue and the raw
//! socket live there, and never does anything else.

pub mod netem;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use netem::{Fate, Netem, Shaping};

use super::{BackendError, Firewall, Link, NodeId};

/// The mark copies carry (SO_MARK), which the shaping rules skip.
pub const COPY_MARK: u32 = 0x5253;
/// Packets held at once, beyond which new ones are dropped (netem's
/// default limit): a rate below what the link is offered loses packets, as
/// a real bottleneck would, instead of holding without bound.
const HELD_LIMIT: usize = 1000;

/// What a shaper did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShapeCounts {
    pub seen: u64,
    pub dropped: u64,
    /// Copies sent.
    pub duplicated: u64,
    /// Sent at once ahead of held ones (reorder).
    pub overtook: u64,
    /// Bytes let through, and over how long (first to last).
    pub bytes_passed: u64,
    pub passing_for: Duration,
}

impl std::ops::AddAssign for ShapeCounts {
    fn add_assign(&mut self, other: ShapeCounts) {
        self.seen += other.seen;
        self.dropped += other.dropped;
        self.duplicated += other.duplicated;
        self.overtook += other.overtook;
        self.bytes_passed += other.bytes_passed;
        self.passing_for = self.passing_for.max(other.passing_for);
    }
}

/// One queue and the thread that serves it. Dropping it stops the thread,
/// which first lets through every packet it holds.
pub struct Shaper {
    queue: u16,
    stop: Arc<AtomicBool>,
    counts: Arc<Mutex<ShapeCounts>>,
    thread: Option<JoinHandle<()>>,
}

/// The queue numbers this process tries first; another process (a parallel
/// run) that holds one makes the bind fail, and the next is tried.
static NEXT_QUEUE: AtomicU16 = AtomicU16::new(0);

/// Whether NFQUEUE works here (root, the kernel's nfnetlink_queue): a
/// queue is bound and released once, in the host's namespace.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let Ok(mut queue) = nfq::Queue::open() else { return false };
        bind_free_queue(&mut queue).is_ok_and(|n| queue.unbind(n).is_ok())
    })
}

fn bind_free_queue(queue: &mut nfq::Queue) -> std::io::Result<u16> {
    let base = (std::process::id() as u16).wrapping_mul(64);
    let mut last = None;
    for _ in 0..256 {
        let n = base.wrapping_add(NEXT_QUEUE.fetch_add(1, Ordering::Relaxed)).max(1);
        match queue.bind(n) {
            Ok(()) => return Ok(n),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free queue")))
}

impl Shaper {
    /// Starts a shaper on a free queue, in the network namespace of process
    /// `netns_of` (the host's when `None`). Its number is [`Shaper::queue`].
    pub fn start(netns_of: Option<u32>, shaping: Shaping, seed: u64) -> Result<Shaper, BackendError> {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Mutex::new(ShapeCounts::default()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let (stop, counts) = (stop.clone(), counts.clone());
            std::thread::Builder::new().name("shaper".into()).spawn(move || match Served::open(netns_of) {
                Ok((mut served, n)) => {
                    let _ = ready_tx.send(Ok(n));
                    served.serve(Netem::new(shaping, seed), &stop, &counts);
                    let _ = served.queue.unbind(n);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })?
        };
        let queue = ready_rx
            .recv()
            .map_err(|_| BackendError::Firewall("the shaper thread died".into()))?
            .map_err(|e| BackendError::Firewall(format!("cannot open a packet queue (NFQUEUE): {e}")))?;
        Ok(Shaper { queue, stop, counts, thread: Some(thread) })
    }

    /// The NFQUEUE number the rules send packets to.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    pub fn counts(&self) -> ShapeCounts {
        *self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the thread (which lets through what it holds) and returns
    /// what it did in all: counts read while it runs may have seen a packet
    /// whose copy or release is still to come.
    pub fn stop(mut self) -> ShapeCounts {
        self.stop_thread();
        self.counts()
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Shaper {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// The shapers and rules of one shaping (`Backend::shape`), by sender:
/// each sender's links are shaped in its firewall (its network namespace)
/// by a shaper of their own, and again, by a new shaper, in the new
/// namespace a restarted container gets ([`ShapedLinks::start`]). A sender
/// that is down when the shaping begins has its links shaped once it starts.
pub struct ShapedLinks {
    shaping: Shaping,
    seed: u64,
    senders: Vec<SenderLinks>,
    /// What the shapers of namespaces that went away did.
    retired: ShapeCounts,
    /// Shapers started so far: each one's seed derives from the shaping's
    /// and this.
    started: u64,
}

/// One sender's links in a shaping. A sender is what the backend keys its
/// firewalls by: a member's id, or one key for the host's one firewall.
struct SenderLinks {
    sender: NodeId,
    links: Vec<Link>,
    /// The shaper and the chain holding the rules, while the sender runs.
    live: Option<(Shaper, String)>,
}

impl ShapedLinks {
    /// Shapes each link `(sender, firewall, link)` in its sender's firewall,
    /// or once the sender starts when it has none now.
    pub fn new(
        links: Vec<(NodeId, Option<&Firewall>, Link)>,
        shaping: &Shaping,
        seed: u64,
    ) -> Result<ShapedLinks, BackendError> {
        let mut shaped = ShapedLinks {
            shaping: shaping.clone(),
            seed,
            senders: Vec::new(),
            retired: Default::default(),
            started: 0,
        };
        let mut firewalls: Vec<(NodeId, &Firewall)> = Vec::new();
        for (sender, firewall, link) in links {
            match shaped.senders.iter_mut().find(|s| s.sender == sender) {
                Some(part) => part.links.push(link),
                None => shaped.senders.push(SenderLinks { sender, links: vec![link], live: None }),
            }
            if let Some(firewall) = firewall
                && !firewalls.iter().any(|&(s, _)| s == sender)
            {
                firewalls.push((sender, firewall));
            }
        }
        for &(sender, firewall) in &firewalls {
            if let Err(e) = shaped.start(sender, firewall) {
                let _ = shaped.remove(|chain| firewalls.iter().map(|&(_, f)| f).find(|f| f.chain() == chain));
                return Err(e);
            }
        }
        Ok(shaped)
    }

    /// Shapes `sender`'s links in `firewall`, a new one (the sender started
    /// in a new namespace), with a new shaper; the shaper of its old
    /// namespace, which no packet reaches any more, stops.
    pub fn start(&mut self, sender: NodeId, firewall: &Firewall) -> Result<(), BackendError> {
        let Some(part) = self.senders.iter_mut().find(|s| s.sender == sender) else { return Ok(()) };
        if let Some((old, _)) = part.live.take() {
            self.retired += old.stop();
        }
        let shaper = Shaper::start(firewall.netns_of(), self.shaping.clone(), self.seed.wrapping_add(self.started))?;
        self.started += 1;
        let queue = shaper.queue();
        part.live = Some((shaper, firewall.chain().to_string()));
        part.links.iter().try_for_each(|link| firewall.shape(link, queue))
    }

    pub fn counts(&self) -> ShapeCounts {
        let mut total = self.retired;
        for (shaper, _) in self.senders.iter().filter_map(|s| s.live.as_ref()) {
            total += shaper.counts();
        }
        total
    }

    /// Removes the rules (from the firewalls `find` still knows by chain:
    /// a container that restarted lost its namespace and its rules with
    /// it), then stops the shapers, which let through what they hold.
    pub fn remove<'f>(self, find: impl Fn(&str) -> Option<&'f Firewall>) -> Result<ShapeCounts, BackendError> {
        let mut counts = self.retired;
        let mut first_error = None;
        for part in self.senders {
            let Some((shaper, chain)) = part.live else { continue };
            if let Some(firewall) = find(&chain) {
                for link in &part.links {
                    if let Err(e) = firewall.unshape(link, shaper.queue()) {
                        first_error.get_or_insert(e);
                    }
                }
            }
            counts += shaper.stop();
        }
        first_error.map_or(Ok(counts), Err)
    }
}

/// The shapings in force in one backend, by the id `Backend::shape`
/// handed out.
#[derive(Default)]
pub struct Shapes {
    by_id: std::collections::BTreeMap<super::ShapeId, ShapedLinks>,
    last_id: super::ShapeId,
}

impl Shapes {
    pub fn add(&mut self, shaped: ShapedLinks) -> super::ShapeId {
        self.last_id += 1;
        self.by_id.insert(self.last_id, shaped);
        self.last_id
    }

    /// Shapes `sender`'s links of every shaping in force in `firewall`, the
    /// sender's new one (see [`ShapedLinks::start`]).
    pub fn start(&mut self, sender: NodeId, firewall: &Firewall) -> Result<(), BackendError> {
        self.by_id.values_mut().try_for_each(|shaped| shaped.start(sender, firewall))
    }

    /// What shaping `id` did so far; nothing once it ended.
    pub fn counts(&self, id: super::ShapeId) -> ShapeCounts {
        self.by_id.get(&id).map(ShapedLinks::counts).unwrap_or_default()
    }

    /// Ends shaping `id` as [`ShapedLinks::remove`] does; nothing for one
    /// that ended.
    pub fn remove<'f>(
        &mut self,
        id: super::ShapeId,
        find: impl Fn(&str) -> Option<&'f Firewall>,
    ) -> Result<ShapeCounts, BackendError> {
        self.by_id.remove(&id).map_or(Ok(ShapeCounts::default()), |shaped| shaped.remove(find))
    }
}

/// A packet held for later, in release order (ties by arrival).
struct Held {
    at: Duration,
    seq: u64,
    message: nfq::Message,
    copy: Option<Vec<u8>>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Held) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Held) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Held) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The queue and the raw socket for copies, in the shaper's namespace.
struct Served {
    queue: nfq::Queue,
    raw: std::os::fd::OwnedFd,
}

impl Served {
    fn open(netns_of: Option<u32>) -> std::io::Result<(Served, u16)> {
        if let Some(pid) = netns_of {
            super::enter_netns(&std::fs::File::open(format!("/proc/{pid}/ns/net"))?)?;
        }
        let mut queue = nfq::Queue::open()?;
        let n = bind_free_queue(&mut queue)?;
        queue.set_fail_open(n, true)?;
        queue.set_queue_max_len(n, 16_384)?;
        queue.set_nonblocking(true);
        Ok((Served { queue, raw: raw_socket()? }, n))
    }

    /// Serves the queue until `stop`, then lets through what it holds.
    fn serve(&mut self, mut netem: Netem, stop: &AtomicBool, counts: &Mutex<ShapeCounts>) {
        let start = Instant::now();
        let mut held: BinaryHeap<Reverse<Held>> = BinaryHeap::new();
        let mut seq = 0u64;
        let mut first_pass: Option<Duration> = None;
        loop {
            let stopping = stop.load(Ordering::Relaxed);
            loop {
                let mut message = match self.queue.recv() {
                    Ok(m) => m,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => return,
                };
                let now = start.elapsed();
                let len = message.get_payload().len();
                let mut tally = counts.lock().unwrap_or_else(|e| e.into_inner());
                tally.seen += 1;
                let fate = match netem.fate(now, len) {
                    Fate::Pass { .. } if held.len() >= HELD_LIMIT => Fate::Drop,
                    fate => fate,
                };
                match fate {
                    Fate::Drop => {
                        tally.dropped += 1;
                        message.set_verdict(nfq::Verdict::Drop);
                        let _ = self.queue.verdict(message);
                    }
                    Fate::Pass { at, copy, overtakes } => {
                        tally.overtook += u64::from(overtakes);
                        let copy = copy.then(|| message.get_payload().to_vec());
                        seq += 1;
                        held.push(Reverse(Held { at, seq, message, copy }));
                    }
                }
            }
            let now = start.elapsed();
            while held.peek().is_some_and(|h| h.0.at <= now || stopping) {
                let Reverse(Held { mut message, copy, .. }) = held.pop().expect("peeked");
                let len = message.get_payload().len() as u64;
                message.set_verdict(nfq::Verdict::Accept);
                let _ = self.queue.verdict(message);
                let mut tally = counts.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(mut copy) = copy {
                    netem::fix_tcp_checksum(&mut copy);
                    tally.duplicated += u64::from(send_raw(&self.raw, &copy));
                }
                tally.bytes_passed += len;
                let first = *first_pass.get_or_insert(now);
                tally.passing_for = now - first;
            }
            if stopping {
                return;
            }
            let next = held.peek().map_or(Duration::from_millis(1), |h| h.0.at.saturating_sub(now));
            std::thread::sleep(next.clamp(Duration::from_micros(100), Duration::from_millis(1)));
        }
    }
}

/// A raw IPv4 socket that sends whole packets (IPPROTO_RAW implies
/// IP_HDRINCL), marked so that the shaping rules let them by.
fn raw_socket() -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: socket(2) and setsockopt(2) with valid arguments; the fd is
    // owned from here on.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let owned = OwnedFd::from_raw_fd(fd);
        let mark = COPY_MARK;
        let len = std::mem::size_of_val(&mark) as libc::socklen_t;
        if libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_MARK, (&raw const mark).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(owned)
    }
}

/// Sends an IPv4 packet as it is to its destination; whether it went.
fn send_raw(raw: &std::os::fd::OwnedFd, packet: &[u8]) -> bool {
    use std::os::fd::AsRawFd;
    if packet.len() < 20 {
        return false;
    }
    // SAFETY: a zeroed sockaddr_in filled in, and sendto(2) over a buffer
    // we own.
    unsafe {
        let mut to: libc::sockaddr_in = std::mem::zeroed();
        to.sin_family = libc::AF_INET as libc::sa_family_t;
        to.sin_addr.s_addr = u32::from_ne_bytes([packet[16], packet[17], packet[18], packet[19]]);
        let sent = libc::sendto(
            raw.as_raw_fd(),
            packet.as_ptr().cast(),
            packet.len(),
            0,
            (&raw const to).cast(),
            std::mem::size_of_val(&to) as libc::socklen_t,
        );
        sent == packet.len() as isize
    }
}
