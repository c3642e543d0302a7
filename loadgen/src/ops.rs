//! Operations: what the generator draws from a workload's mix.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use rand::{Rng, RngExt};

use crate::keys::KeyChooser;
use crate::workload::{Mix, Workload};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    Read,
    Update,
    Insert,
    Delete,
    Cas,
    ReadModifyWrite,
    Append,
    ListRead,
    Scan,
    /// Bank: move money between two accounts.
    Transfer,
    /// Bank: read every account at once.
    BankRead,
    /// Set: add a new element.
    Add,
}

impl OpKind {
    pub const ALL: [OpKind; 12] = [
        OpKind::Read,
        OpKind::Update,
        OpKind::Insert,
        OpKind::Delete,
        OpKind::Cas,
        OpKind::ReadModifyWrite,
        OpKind::Append,
        OpKind::ListRead,
        OpKind::Scan,
        OpKind::Transfer,
        OpKind::BankRead,
        OpKind::Add,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OpKind::Read => "read",
            OpKind::Update => "update",
            OpKind::Insert => "insert",
            OpKind::Delete => "delete",
            OpKind::Cas => "cas",
            OpKind::ReadModifyWrite => "read_modify_write",
            OpKind::Append => "append",
            OpKind::ListRead => "list_read",
            OpKind::Scan => "scan",
            OpKind::Transfer => "transfer",
            OpKind::BankRead => "bank_read",
            OpKind::Add => "add",
        }
    }

    pub fn weight(self, mix: &Mix) -> f64 {
        match self {
            OpKind::Read => mix.read,
            OpKind::Update => mix.update,
            OpKind::Insert => mix.insert,
            OpKind::Delete => mix.delete,
            OpKind::Cas => mix.cas,
            OpKind::ReadModifyWrite => mix.read_modify_write,
            OpKind::Append => mix.append,
            OpKind::ListRead => mix.list_read,
            OpKind::Scan => mix.scan,
            OpKind::Transfer => mix.transfer,
            OpKind::BankRead => mix.bank_read,
            OpKind::Add => mix.add,
        }
    }
}

/// One operation to send. Written values are unique across the run, so a
/// history checker can tell every write apart.
#[derive(Clone, Debug)]
pub struct Op {
    pub kind: OpKind,
    /// For a scan, the first key of the range.
    pub key: String,
    pub value: Bytes,
    /// Cas: the value it expects (None: the key is absent). The runner
    /// fills it from a read just before, so a cas can win or lose a race.
    pub expected: Option<Bytes>,
    /// Scan: how many keys at most.
    pub limit: usize,
    /// Transfer: between which accounts, and how much.
    pub transfer: Option<Transfer>,
    /// Add: the element, unique in the run.
    pub element: Option<u64>,
}

impl Op {
    /// An operation on one key, with nothing else to it.
    pub fn on_key(kind: OpKind, key: String, value: Bytes) -> Op {
        Op { kind, key, value, expected: None, limit: 0, transfer: None, element: None }
    }
}

/// A bank transfer: `amount` from account `from` to account `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub from: u32,
    pub to: u32,
    pub amount: u64,
}

/// Register keys are `<prefix>k<index>`, list keys `<prefix>l<index>`: a key
/// is a register or a list, never both, and a scan of registers stops
/// before the lists.
pub fn register_key(prefix: &str, index: u64) -> String {
    format!("{prefix}k{index}")
}

/// Where a bank keeps an account's balance (as decimal text).
pub fn account_key(prefix: &str, account: u32) -> String {
    format!("{prefix}bank/{account}")
}

/// The list a set workload adds its elements to.
pub fn set_key(prefix: &str) -> String {
    format!("{prefix}set")
}

/// The end (exclusive) of a scan over the registers.
pub fn registers_end(prefix: &str) -> String {
    format!("{prefix}l")
}

pub struct Generator {
    kinds: Vec<(OpKind, f64)>,
    total: f64,
    chooser: KeyChooser,
    /// Keys that exist (the initial count plus inserts so far), shared by
    /// the generators of one run so that concurrent clients insert distinct
    /// keys and all see the newest as "latest".
    keys: Arc<AtomicU64>,
    list_keys: u64,
    sizes: (usize, usize),
    scan_length: usize,
    written: u64,
    /// Prepended to every key, so that runs against one long-lived cluster
    /// do not see each other's keys and each history stands alone.
    prefix: String,
    value_tag: String,
    /// Bank: how many accounts, and the largest transfer.
    bank: Option<(u32, u64)>,
    /// Set: the next element, shared by the run's generators so that every
    /// element is added once; and how many to add at most.
    elements: Arc<AtomicU64>,
    max_elements: u64,
}

impl Generator {
    pub fn new(workload: &Workload, prefix: &str) -> Generator {
        let kinds: Vec<(OpKind, f64)> =
            OpKind::ALL.iter().map(|k| (*k, k.weight(&workload.mix))).filter(|(_, w)| *w > 0.0).collect();
        let total = kinds.iter().map(|(_, w)| w).sum();
        Generator {
            kinds,
            total,
            chooser: KeyChooser::new(workload.distribution(), workload.keys.count),
            keys: Arc::new(AtomicU64::new(workload.keys.count)),
            list_keys: workload.keys.count.div_ceil(10),
            sizes: workload.values.range(),
            scan_length: workload.scan_length,
            written: 0,
            prefix: prefix.to_string(),
            value_tag: String::new(),
            bank: workload.bank.as_ref().map(|b| (b.accounts, b.max_transfer)),
            elements: Arc::new(AtomicU64::new(0)),
            max_elements: workload.set.as_ref().and_then(|s| s.adds).unwrap_or(u64::MAX),
        }
    }

    /// A generator for one more client of the same run: same key space,
    /// values tagged apart so no two clients write the same value.
    pub fn for_client(&self, tag: usize) -> Generator {
        Generator {
            kinds: self.kinds.clone(),
            total: self.total,
            chooser: self.chooser.clone(),
            keys: self.keys.clone(),
            list_keys: self.list_keys,
            sizes: self.sizes,
            scan_length: self.scan_length,
            written: 0,
            prefix: self.prefix.clone(),
            value_tag: format!("c{tag}-"),
            bank: self.bank,
            elements: self.elements.clone(),
            max_elements: self.max_elements,
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A value of the workload's size that no other write of the run has.
    pub fn value(&mut self, rng: &mut impl Rng) -> Bytes {
        self.written += 1;
        let size = rng.random_range(self.sizes.0..=self.sizes.1);
        let mut value = format!("{}v{}-", self.value_tag, self.written).into_bytes();
        value.resize(size.max(value.len()), b'.');
        value.into()
    }

    /// The next operation; None once a set workload has sent all its adds.
    pub fn next(&mut self, rng: &mut impl Rng) -> Option<Op> {
        let mut pick = rng.random_range(0.0..self.total);
        let kind = self
            .kinds
            .iter()
            .find(|(_, w)| {
                pick -= w;
                pick < 0.0
            })
            .map_or(self.kinds[0].0, |(k, _)| *k);
        match kind {
            OpKind::Transfer => return Some(self.transfer(rng)),
            OpKind::BankRead => return Some(Op::on_key(kind, String::new(), Bytes::new())),
            OpKind::Add => return self.add(),
            _ => {}
        }
        let key = match kind {
            OpKind::Insert => register_key(&self.prefix, self.keys.fetch_add(1, Ordering::Relaxed)),
            OpKind::Append | OpKind::ListRead => format!("{}l{}", self.prefix, rng.random_range(0..self.list_keys)),
            _ => register_key(&self.prefix, self.chooser.next(rng, self.keys.load(Ordering::Relaxed))),
        };
        let limit = if kind == OpKind::Scan { rng.random_range(1..=self.scan_length) } else { 0 };
        let value = if matches!(kind, OpKind::Read | OpKind::ListRead | OpKind::Delete | OpKind::Scan) {
            Bytes::new()
        } else {
            self.value(rng)
        };
        Some(Op { limit, ..Op::on_key(kind, key, value) })
    }

    fn transfer(&self, rng: &mut impl Rng) -> Op {
        let (accounts, max_transfer) = self.bank.expect("a transfer is drawn only with a bank");
        let from = rng.random_range(0..accounts);
        let to = (from + rng.random_range(1..accounts)) % accounts;
        let amount = rng.random_range(1..=max_transfer);
        Op {
            transfer: Some(Transfer { from, to, amount }),
            ..Op::on_key(OpKind::Transfer, String::new(), Bytes::new())
        }
    }

    fn add(&self) -> Option<Op> {
        let element = self.elements.fetch_add(1, Ordering::Relaxed);
        (element < self.max_elements).then(|| Op {
            element: Some(element),
            ..Op::on_key(OpKind::Add, set_key(&self.prefix), Bytes::from(element.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::path::Path;

    #[test]
    fn clients_of_one_run_insert_distinct_keys_and_write_distinct_values() {
        let w = Workload::parse(
            Path::new("w.yaml"),
            "keys: {count: 5}\nmix: {insert: 1}\nload: {mode: closed, clients: 2, duration: 1s}\n",
        )
        .unwrap();
        let first = Generator::new(&w, "p-");
        let (mut a, mut b) = (first.for_client(0), first.for_client(1));
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let ops: Vec<Op> = (0..10).flat_map(|_| [a.next(&mut rng), b.next(&mut rng)]).flatten().collect();
        let keys: std::collections::BTreeSet<&str> = ops.iter().map(|o| o.key.as_str()).collect();
        let values: std::collections::BTreeSet<&Bytes> = ops.iter().map(|o| &o.value).collect();
        assert_eq!(keys.len(), 20);
        assert_eq!(values.len(), 20);
        assert!(keys.contains("p-k5") && keys.contains("p-k24"));
    }

    #[test]
    fn transfers_join_two_distinct_accounts_and_a_set_adds_each_element_once_up_to_its_count() {
        let load = "load: {mode: closed, clients: 2, duration: 1s}\n";
        let bank = "mix: {transfer: 1}\nbank: {accounts: 3, initial_balance: 10, max_transfer: 4}\n";
        let mut g = Generator::new(&Workload::parse(Path::new("w.yaml"), &format!("{bank}{load}")).unwrap(), "p-");
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let t = g.next(&mut rng).unwrap().transfer.unwrap();
            assert!(t.from != t.to && t.from < 3 && t.to < 3 && (1..=4).contains(&t.amount), "{t:?}");
        }
        let set = Workload::parse(Path::new("w.yaml"), &format!("mix: {{add: 1}}\nset: {{adds: 5}}\n{load}")).unwrap();
        let first = Generator::new(&set, "p-");
        let (mut a, mut b) = (first.for_client(0), first.for_client(1));
        let elements: Vec<u64> = (0..4)
            .flat_map(|_| [a.next(&mut rng), b.next(&mut rng)])
            .flatten()
            .map(|op| {
                assert_eq!(op.key, "p-set");
                op.element.unwrap()
            })
            .collect();
        assert_eq!(elements, [0, 1, 2, 3, 4], "five adds in all, then none");
    }
}
