//! One-way cuts between loopback addresses with iptables.
//!
//! Each node has its own 127.0.0.x address, and its outgoing peer
//! connections leave from it. The link A->B is A's TCP connection to B's
//! listening port, so the rule `-s A -d B -p tcp --dport PORT -j DROP` cuts
//! exactly that link: B's connection to A (and A's ACKs on it, which go to
//! B's ephemeral port) are untouched. Dropping every packet from A to B
//! would stall B->A too, since TCP needs both directions.
//!
//! A system whose members also send over connections their peers opened
//! (etcd's peer streams: B dials A, and A writes its messages to B on that
//! connection) needs the second rule `-s A -d B -p tcp --sport PORT -j
//! DROP` for the link A->B to be cut at all; it drops A's ACKs on those
//! connections as well, so for such a system a one-way cut stalls both
//! directions. That is the system's transport, not the cut.
//!
//! A member that does not bind its outgoing connections to its own address
//! (etcd: they leave from 127.0.0.1) cannot be told by its source address;
//! the process backend then runs each member as a user of its own, and the
//! rules match the sending socket's owner (`-m owner --uid-owner`) instead.
//! Nor can the connections such a member opened be told by their
//! destination: what A sends on B's connection goes to 127.0.0.1, not to
//! B's address. So every connection a member dials is marked with its user
//! when it opens (CONNMARK, [`Firewall::mark_dials`]), and the second rule
//! matches that mark (`-m connmark --mark B`) instead of `-d B`; with `-d B`
//! alone A's messages went on reaching B until TCP stalled for want of the
//! ACKs the first rule dropped, for a few hundred ms.
//!
//! Rules live in a chain of our own, hooked into OUTPUT (loopback packets
//! traverse it), named per run so parallel runs never touch each other's
//! rules, and removed on drop, whatever happened.
//!
//! The same chain can live in another network namespace (a container's),
//! entered from the host with `nsenter`, so the container needs no tools.
//!
//! The jump into the chain carries its owner in a comment, so that a chain
//! a killed chaos process left in the host's namespace can be told from
//! one a live run still uses ([`remove_orphans`]).

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{BackendError, owner};

/// How the packets of one member are told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// By their source address: the member's own.
    Address(Ipv4Addr),
    /// By the user that owns the sending socket.
    User(u32),
}

/// One direction of a link between two members, as the rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub from: Sender,
    pub to: Ipv4Addr,
    /// The peer port, where `to` listens (and `from` too).
    pub port: u16,
    /// Also what `from` sends from its peer port: its messages on the
    /// connections `to` opened (see the module docs).
    pub accepted: bool,
    /// The user `to` runs as, when each member has its own: the
    /// connections it opened carry it as their mark.
    pub to_user: Option<u32>,
}

pub struct Firewall {
    chain: String,
    /// A process whose network namespace holds the chain; the host's when
    /// `None`.
    netns_of: Option<u32>,
    /// The comment on the jump into the chain: [`OWNER_COMMENT`] and the
    /// owner.
    owner: String,
    /// Users whose new connections are marked with their uid.
    marked_users: Mutex<Vec<u32>>,
}

const CHAIN_PREFIX: &str = "RSTORM-";
const OWNER_COMMENT: &str = "raftstorm owner ";

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
        let chain = format!("{CHAIN_PREFIX}{}-{n}", std::process::id());
        iptables_in(netns_of, &["-N", &chain])?;
        let owner = format!("{OWNER_COMMENT}{}", owner::this_process());
        let fw = Firewall { chain, netns_of, owner, marked_users: Mutex::new(Vec::new()) };
        fw.run(&fw.hook("-I"))?;
        Ok(fw)
    }

    /// Inserts (`-I`) or deletes (`-D`) the jump from OUTPUT into the chain.
    fn hook<'a>(&'a self, action: &'a str) -> [&'a str; 8] {
        [action, "OUTPUT", "-m", "comment", "--comment", &self.owner, "-j", &self.chain]
    }

    fn run(&self, args: &[&str]) -> Result<String, BackendError> {
        iptables_in(self.netns_of, args)
    }

    pub fn chain(&self) -> &str {
        &self.chain
    }

    /// Drops what the link's sender sends to its port on `to`, and with
    /// `accepted` also what it sends from its own such port. Cuts go first
    /// in the chain: a link both cut and shaped is cut (a packet the shaper
    /// accepts skips the rest of the chain).
    pub fn cut(&self, link: &Link) -> Result<(), BackendError> {
        self.rules("-I", link, &["-j", "DROP"])
    }

    /// Marks every connection `uid` opens from now on with `uid`, so that
    /// a cut can tell what its peers send back on it (see the module docs).
    /// Before the member starts: a connection opened earlier is not marked.
    pub fn mark_dials(&self, uid: u32) -> Result<(), BackendError> {
        let mut marked = self.marked_users.lock().expect("not poisoned");
        if !marked.contains(&uid) {
            self.insert_mark_rule(uid)?;
            marked.push(uid);
        }
        Ok(())
    }

    /// Inserted at the top, above the shaping rules (whose NFQUEUE verdict
    /// ends the chain); cuts inserted later go above it, and a packet they
    /// drop opens no connection to mark.
    fn insert_mark_rule(&self, uid: u32) -> Result<(), BackendError> {
        let uid = uid.to_string();
        let owned = ["-m", "owner", "--uid-owner", &uid, "-m", "conntrack", "--ctstate", "NEW"];
        let mut args = vec!["-I", &self.chain];
        args.extend(owned);
        args.extend(["-j", "CONNMARK", "--set-mark", &uid]);
        self.run(&args).map(|_| ())
    }

    /// Removes the rules one `cut` added.
    pub fn uncut(&self, link: &Link) -> Result<(), BackendError> {
        self.rules("-D", link, &["-j", "DROP"])
    }

    /// Sends what `cut` would drop to NFQUEUE `queue` (a [`super::shaper`]),
    /// copies the shaper sends aside; packets pass if no one serves it.
    pub fn shape(&self, link: &Link, queue: u16) -> Result<(), BackendError> {
        self.rules("-A", link, &self.to_queue(queue))
    }

    /// Removes the rules one `shape` added.
    pub fn unshape(&self, link: &Link, queue: u16) -> Result<(), BackendError> {
        self.rules("-D", link, &self.to_queue(queue))
    }

    fn to_queue(&self, queue: u16) -> [String; 10] {
        let mark = format!("{:#x}", super::shaper::COPY_MARK);
        ["-m", "mark", "!", "--mark", &mark, "-j", "NFQUEUE", "--queue-num", &queue.to_string(), "--queue-bypass"]
            .map(str::to_string)
    }

    /// Adds (`-I`, `-A`) or deletes (`-D`) the rules for one link: the same
    /// text both ways, as iptables deletes by exact match.
    fn rules<S: AsRef<str>>(&self, action: &str, link: &Link, target: &[S]) -> Result<(), BackendError> {
        let (to, port) = (link.to.to_string(), link.port.to_string());
        let sender = match link.from {
            Sender::Address(ip) => vec!["-s".to_string(), ip.to_string()],
            Sender::User(uid) => vec!["-m".into(), "owner".into(), "--uid-owner".into(), uid.to_string()],
        };
        // What `from` sends to `to`'s port, and (accepted) from its own port
        // on the connections `to` opened: those go to `to`'s address, or,
        // when `to` dials from elsewhere, carry `to`'s mark.
        let to_them = ["-d", &to, "-p", "tcp", "--dport", &port].map(str::to_string).to_vec();
        let mut matches = vec![to_them];
        if link.accepted {
            matches.push(match link.to_user {
                Some(uid) => ["-p", "tcp", "--sport", &port, "-m", "connmark", "--mark"]
                    .into_iter()
                    .map(str::to_string)
                    .chain([uid.to_string()])
                    .collect(),
                None => ["-d", &to, "-p", "tcp", "--sport", &port].map(str::to_string).to_vec(),
            });
        }
        for m in &matches {
            let mut args = vec![action, &self.chain];
            args.extend(sender.iter().map(String::as_str));
            args.extend(m.iter().map(String::as_str));
            args.extend(target.iter().map(AsRef::as_ref));
            self.run(&args)?;
        }
        Ok(())
    }

    /// The network namespace the chain is in: of this process, or the host's.
    pub fn netns_of(&self) -> Option<u32> {
        self.netns_of
    }

    /// Removes every cut and shaping; connections go on being marked.
    pub fn heal(&self) -> Result<(), BackendError> {
        self.run(&["-F", &self.chain])?;
        for &uid in self.marked_users.lock().expect("not poisoned").iter() {
            self.insert_mark_rule(uid)?;
        }
        Ok(())
    }

    /// Packets dropped by the cut rules so far: proof a cut took effect.
    pub fn dropped_packets(&self) -> Result<u64, BackendError> {
        let listing = self.run(&["-L", &self.chain, "-v", "-x", "-n"])?;
        // Columns: pkts bytes target prot ...
        Ok(listing
            .lines()
            .skip(2)
            .filter_map(|l| {
                let fields: Vec<&str> = l.split_whitespace().collect();
                (fields.get(2) == Some(&"DROP")).then(|| fields[0].parse::<u64>().ok())?
            })
            .sum())
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        let _ = self.run(&self.hook("-D"));
        remove_chain(None, &self.chain);
    }
}

fn remove_chain(netns_of: Option<u32>, chain: &str) {
    let _ = iptables_in(netns_of, &["-F", chain]);
    let _ = iptables_in(netns_of, &["-X", chain]);
}

/// Removes the chains (and their jumps) in the host's namespace whose
/// chaos process is gone; returns their names. Chains in containers'
/// namespaces go with the containers.
pub fn remove_orphans() -> Result<Vec<String>, BackendError> {
    if !Firewall::available() {
        return Ok(Vec::new());
    }
    let mut removed = Vec::new();
    for (owner, chain) in owned_jumps(&iptables_in(None, &["-S", "OUTPUT"])?) {
        if owner::alive(&owner) {
            continue;
        }
        let comment = format!("{OWNER_COMMENT}{owner}");
        iptables_in(None, &["-D", "OUTPUT", "-m", "comment", "--comment", &comment, "-j", &chain])?;
        remove_chain(None, &chain);
        removed.push(chain);
    }
    Ok(removed)
}

/// (owner, chain) of each jump into one of our chains in an `iptables -S
/// OUTPUT` listing, which prints the comment quoted:
/// `-A OUTPUT -m comment --comment "raftstorm owner 12:34" -j RSTORM-12-0`.
fn owned_jumps(listing: &str) -> Vec<(String, String)> {
    listing
        .lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once(&format!("--comment \"{OWNER_COMMENT}"))?;
            let (owner, rest) = rest.split_once('"')?;
            let chain = rest.trim().strip_prefix("-j ")?.trim();
            chain.starts_with(CHAIN_PREFIX).then(|| (owner.to_string(), chain.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_into_our_chains_are_read_with_their_owners() {
        let listing = "-P OUTPUT ACCEPT\n\
            -A OUTPUT -m comment --comment \"raftstorm owner 12:34\" -j RSTORM-12-0\n\
            -A OUTPUT -j DOCKER\n\
            -A OUTPUT -m comment --comment \"someone else\" -j RSTORM-9-0\n\
            -A OUTPUT -m comment --comment \"raftstorm owner 5:6\" -j OTHER\n";
        assert_eq!(owned_jumps(listing), [("12:34".to_string(), "RSTORM-12-0".to_string())]);
    }
}
