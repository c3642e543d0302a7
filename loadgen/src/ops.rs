//! Operations: what the generator draws from a workload's mix.

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
}

impl OpKind {
    pub const ALL: [OpKind; 8] = [
        OpKind::Read,
        OpKind::Update,
        OpKind::Insert,
        OpKind::Delete,
        OpKind::Cas,
        OpKind::ReadModifyWrite,
        OpKind::Append,
        OpKind::ListRead,
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
        }
    }

    fn weight(self, mix: &Mix) -> f64 {
        match self {
            OpKind::Read => mix.read,
            OpKind::Update => mix.update,
            OpKind::Insert => mix.insert,
            OpKind::Delete => mix.delete,
            OpKind::Cas => mix.cas,
            OpKind::ReadModifyWrite => mix.read_modify_write,
            OpKind::Append => mix.append,
            OpKind::ListRead => mix.list_read,
        }
    }
}

/// One operation to send. Written values are unique across the run, so a
/// history checker can tell every write apart.
#[derive(Clone, Debug)]
pub struct Op {
    pub kind: OpKind,
    pub key: String,
    pub value: Bytes,
    /// Cas: the value it expects (None: the key is absent). The runner
    /// fills it from a read just before, so a cas can win or lose a race.
    pub expected: Option<Bytes>,
}

pub struct Generator {
    kinds: Vec<(OpKind, f64)>,
    total: f64,
    chooser: KeyChooser,
    keys: u64,
    list_keys: u64,
    sizes: (usize, usize),
    written: u64,
    /// Prepended to every key, so that runs against one long-lived cluster
    /// do not see each other's keys and each history stands alone.
    prefix: String,
    value_tag: String,
}

impl Generator {
    pub fn new(workload: &Workload, prefix: &str) -> Generator {
        let kinds: Vec<(OpKind, f64)> =
            OpKind::ALL.iter().map(|k| (*k, k.weight(&workload.mix))).filter(|(_, w)| *w > 0.0).collect();
        let total = kinds.iter().map(|(_, w)| w).sum();
        let sizes = match (workload.values.size, workload.values.min, workload.values.max) {
            (Some(s), _, _) => (s, s),
            (None, Some(min), Some(max)) => (min, max),
            _ => (100, 100),
        };
        Generator {
            kinds,
            total,
            chooser: KeyChooser::new(workload.distribution(), workload.keys.count),
            keys: workload.keys.count,
            list_keys: workload.keys.count.div_ceil(10),
            sizes,
            written: 0,
            prefix: prefix.to_string(),
            value_tag: String::new(),
        }
    }

    /// Values written by this generator carry `tag`, so several generators
    /// in one run never write the same value.
    pub fn with_value_tag(mut self, tag: usize) -> Generator {
        self.value_tag = format!("c{tag}-");
        self
    }

    pub fn next(&mut self, rng: &mut impl Rng) -> Op {
        let mut pick = rng.random_range(0.0..self.total);
        let kind = self
            .kinds
            .iter()
            .find(|(_, w)| {
                pick -= w;
                pick < 0.0
            })
            .map_or(self.kinds[0].0, |(k, _)| *k);
        let key = match kind {
            OpKind::Insert => {
                self.keys += 1;
                format!("{}k{}", self.prefix, self.keys - 1)
            }
            // Lists live on their own keys: a key is a register or a list.
            OpKind::Append | OpKind::ListRead => format!("{}l{}", self.prefix, rng.random_range(0..self.list_keys)),
            _ => format!("{}k{}", self.prefix, self.chooser.next(rng, self.keys)),
        };
        self.written += 1;
        let size = rng.random_range(self.sizes.0..=self.sizes.1);
        let mut value = format!("{}v{}-", self.value_tag, self.written).into_bytes();
        value.resize(size.max(value.len()), b'.');
        Op { kind, key, value: value.into(), expected: None }
    }
}
