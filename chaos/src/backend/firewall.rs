//! One-way cuts between loopback addresses with iptables.
//!
//! Each node has its own 127.0.0.x address, and its outgoing peer
//! connections leave from it. The link A->B is A's TCP connection to B's
//! listening port, so the rule `-s A -d B -p tcp --dport PORT -j DROP` cuts
//! exactly that link: B's connection to A (and A's ACKs on it, which go to
//! B's ephemeral port) are untouched. Dropping every packet from A to B
//! would stall B->A too, since TCP needs both directions.
//!
//! Rules live in a chain of our own, hooked into OUTPUT (loopback packets
//! traverse it), named per run so parallel runs never touch each other's
//! rules, and removed on drop, whatever happened.
//!
//! The same chain can live in another network namespace (a container's),
//! entered from the host with `nsenter`, so the container needs no tools.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::BackendError;

pub struct Firewall {
    chain: String,
    /// A process whose network namespace holds the chain; the host's when
    /// `None`.
    netns_of: Option<u32>,
}

static NEXT_CHAIN: AtomicU32 = AtomicU32::new(0);

fn iptables_in(netns_of: Option<u32>, args: &[&str]) -> Result<String, BackendError> {
    let mut command = match netns_of {
        Some(pid) => {
            let mut nsenter = Command::new("nsenter");
            nsenter.args(["-t", &pid.to_string(), "-n", "iptables"]);
            nsenter
        }
        None => Command::new("iptables"),
    };
    let out = command
        .args(["-w", "5"])
        .args(args)
        .output()
        .map_err(|e| BackendError::Firewall(format!("cannot run iptables: {e}")))?;
    if !out.status.success() {
        return Err(BackendError::Firewall(format!(
            "iptables {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Firewall {
    /// Whether iptables can be used here (root, the tool installed).
    pub fn available() -> bool {
        iptables_in(None, &["-S", "OUTPUT"]).is_ok()
    }

    pub fn new() -> Result<Firewall, BackendError> {
        Firewall::create(None)
    }

    /// A chain in the network namespace of process `pid` (from the host:
    /// needs root, nsenter and iptables there, nothing in the namespace).
    pub fn in_netns_of(pid: u32) -> Result<Firewall, BackendError> {
        Firewall::create(Some(pid))
    }

    fn create(netns_of: Option<u32>) -> Result<Firewall, BackendError> {
        let n = NEXT_CHAIN.fetch_add(1, Ordering::Relaxed);
        let chain = format!("RSTORM-{}-{n}", std::process::id());
        iptables_in(netns_of, &["-N", &chain])?;
        let fw = Firewall { chain, netns_of };
        fw.run(&["-I", "OUTPUT", "-j", &fw.chain])?;
        Ok(fw)
    }

    fn run(&self, args: &[&str]) -> Result<String, BackendError> {
        iptables_in(self.netns_of, args)
    }

    pub fn chain(&self) -> &str {
        &self.chain
    }

    /// Drops what `from` sends to `to_port` on `to`.
    pub fn cut(&self, from: Ipv4Addr, to: Ipv4Addr, to_port: u16) -> Result<(), BackendError> {
        self.rule("-A", from, to, to_port)
    }

    /// Removes one rule `cut` added.
    pub fn uncut(&self, from: Ipv4Addr, to: Ipv4Addr, to_port: u16) -> Result<(), BackendError> {
        self.rule("-D", from, to, to_port)
    }

    /// Appends (`-A`) or deletes (`-D`) the rule for one cut: the same text
    /// both ways, as iptables deletes by exact match.
    fn rule(&self, action: &str, from: Ipv4Addr, to: Ipv4Addr, to_port: u16) -> Result<(), BackendError> {
        let (from, to, port) = (from.to_string(), to.to_string(), to_port.to_string());
        self.run(&[action, &self.chain, "-s", &from, "-d", &to, "-p", "tcp", "--dport", &port, "-j", "DROP"])?;
        Ok(())
    }

    pub fn heal(&self) -> Result<(), BackendError> {
        self.run(&["-F", &self.chain]).map(|_| ())
    }

    /// Packets dropped by each rule so far: proof a cut took effect.
    pub fn dropped_packets(&self) -> Result<u64, BackendError> {
        let listing = self.run(&["-L", &self.chain, "-v", "-x", "-n"])?;
        Ok(listing.lines().skip(2).filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok()).sum())
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        let _ = self.run(&["-D", "OUTPUT", "-j", &self.chain]);
        let _ = self.run(&["-F", &self.chain]);
        let _ = self.run(&["-X", &self.chain]);
    }
}
