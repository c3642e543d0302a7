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

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::BackendError;

pub struct Firewall {
    chain: String,
}

static NEXT_CHAIN: AtomicU32 = AtomicU32::new(0);

fn iptables(args: &[&str]) -> Result<String, BackendError> {
    let out = Command::new("iptables")
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
        iptables(&["-S", "OUTPUT"]).is_ok()
    }

    pub fn new() -> Result<Firewall, BackendError> {
        let n = NEXT_CHAIN.fetch_add(1, Ordering::Relaxed);
        let chain = format!("RSTORM-{}-{n}", std::process::id());
        iptables(&["-N", &chain])?;
        let fw = Firewall { chain };
        iptables(&["-I", "OUTPUT", "-j", &fw.chain])?;
        Ok(fw)
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
        iptables(&[action, &self.chain, "-s", &from, "-d", &to, "-p", "tcp", "--dport", &port, "-j", "DROP"])?;
        Ok(())
    }

    pub fn heal(&self) -> Result<(), BackendError> {
        iptables(&["-F", &self.chain]).map(|_| ())
    }

    /// Packets dropped by each rule so far: proof a cut took effect.
    pub fn dropped_packets(&self) -> Result<u64, BackendError> {
        let listing = iptables(&["-L", &self.chain, "-v", "-x", "-n"])?;
        Ok(listing.lines().skip(2).filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok()).sum())
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        let _ = iptables(&["-D", "OUTPUT", "-j", &self.chain]);
        let _ = iptables(&["-F", &self.chain]);
        let _ = iptables(&["-X", &self.chain]);
    }
}
