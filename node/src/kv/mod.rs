//! The replicated state machine: registers and lists by key, client sessions
//! for exactly-once writes, and the members' addresses.
//!
//! Everything here is deterministic: every node applies the same commands in
//! the same order and reaches the same state (checked by [`KvState::digest`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use prost::Message as _;

use crate::proto::kv::{self as pb, command::Op};

/// Sessions kept at most; the least recently used one is forgotten first.
/// A client whose session was forgotten loses exactly-once for retries of
/// the writes it still had in flight, which needs over this many other
/// clients writing in between.
const MAX_SESSIONS: usize = 100_000;

/// Answers kept per session; a client with more writes in flight than this
/// loses exactly-once for the oldest.
const MAX_ANSWERS: usize = 4096;

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Register(Bytes),
    List(Vec<Bytes>),
}

/// What applying a write produced; cached per session so a retry gets the
/// same answer without applying twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteOutcome {
    pub index: u64,
    /// For cas: whether it applied. Always true for other writes.
    pub succeeded: bool,
    /// For a failed cas: the value found.
    pub current: Option<Bytes>,
    /// For a transaction: each register it read, with its value then.
    pub reads: Vec<(String, Option<Bytes>)>,
}

/// What the state machine remembers of one client.
#[derive(Clone, Debug, Default)]
struct SessionRecord {
    /// Seqs below this were answered and acknowledged by the client.
    first_outstanding: u64,
    answers: BTreeMap<u64, WriteOutcome>,
    last_index: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApplyError {
    #[error("the command in the log could not be decoded: {0}")]
    Corrupt(String),
    #[error(
        "write {seq} of client {client_id} was already answered and forgotten (first outstanding: {first_outstanding})"
    )]
    StaleSequence { client_id: u64, seq: u64, first_outstanding: u64 },
    #[error("key {0:?} holds a list, not a register (or the reverse)")]
    WrongType(String),
}

#[derive(Default)]
pub struct KvState {
    data: BTreeMap<String, Value>,
    sessions: HashMap<u64, SessionRecord>,
    peers: BTreeMap<u64, String>,
    /// Members a leader saw acknowledge it (MemberStarted).
    started: BTreeSet<u64>,
    applied: u64,
}

impl KvState {
    pub fn applied(&self) -> u64 {
        self.applied
    }

    pub fn peers(&self) -> &BTreeMap<u64, String> {
        &self.peers
    }

    pub fn started(&self) -> &BTreeSet<u64> {
        &self.started
    }

    /// Marks `index` applied without a command (a no-op or a membership entry).
    pub fn skip(&mut self, index: u64) {
        self.applied = index;
    }

    /// Applies one logged command at `index`.
    pub fn apply(&mut self, index: u64, data: &[u8]) -> Result<WriteOutcome, ApplyError> {
        self.applied = index;
        let cmd = pb::Command::decode(data).map_err(|e| ApplyError::Corrupt(e.to_string()))?;
        let session = cmd.session.unwrap_or_default();
        if session.client_id != 0
            && let Some(rec) = self.sessions.get(&session.client_id)
        {
            if let Some(answer) = rec.answers.get(&session.seq) {
                return Ok(answer.clone());
            }
            if session.seq < rec.first_outstanding {
                let first_outstanding = rec.first_outstanding;
                return Err(ApplyError::StaleSequence {
                    client_id: session.client_id,
                    seq: session.seq,
                    first_outstanding,
                });
            }
        }
        let op = cmd.op.ok_or_else(|| ApplyError::Corrupt("a command without an operation".into()))?;
        let outcome = self.apply_op(index, op)?;
        if session.client_id != 0 {
            self.remember(&session, outcome.clone());
        }
        Ok(outcome)
    }

    fn apply_op(&mut self, index: u64, op: Op) -> Result<WriteOutcome, ApplyError> {
        let ok = WriteOutcome { index, succeeded: true, current: None, reads: Vec::new() };
        match op {
            Op::Put(p) => {
                self.data.insert(p.key, Value::Register(p.value));
            }
            Op::Delete(d) => {
                self.data.remove(&d.key);
            }
            Op::Cas(c) => {
                let current = self.get(&c.key)?;
                if current != c.expected {
                    return Ok(WriteOutcome { index, succeeded: false, current, reads: Vec::new() });
                }
                self.data.insert(c.key, Value::Register(c.value));
            }
            Op::Append(a) => match self.data.entry(a.key.clone()).or_insert_with(|| Value::List(Vec::new())) {
                Value::List(items) => items.push(a.value),
                Value::Register(_) => return Err(ApplyError::WrongType(a.key)),
            },
            Op::Txn(t) => return self.apply_txn(index, t),
            Op::PeerAddress(p) => {
                self.peers.insert(p.id, p.address);
            }
            Op::MemberStarted(m) => {
                self.started.insert(m.id);
            }
        }
        Ok(ok)
    }

    /// Compares, then puts if every compare held, then reads: all at
    /// `index`. A key that holds a list fails the whole transaction before
    /// anything changes.
    fn apply_txn(&mut self, index: u64, t: pb::TxnRequest) -> Result<WriteOutcome, ApplyError> {
        let mut holds = true;
        for c in &t.compares {
            holds &= self.get(&c.key)? == c.expected;
        }
        for key in &t.reads {
            self.get(key)?;
        }
        if holds {
            for p in t.puts {
                self.data.insert(p.key, Value::Register(p.value));
            }
        }
        let reads = t
            .reads
            .into_iter()
            .map(|key| {
                let value = self.get(&key)?;
                Ok((key, value))
            })
            .collect::<Result<_, ApplyError>>()?;
        Ok(WriteOutcome { index, succeeded: holds, current: None, reads })
    }

    fn remember(&mut self, session: &pb::Session, outcome: WriteOutcome) {
        if self.sessions.len() >= MAX_SESSIONS && !self.sessions.contains_key(&session.client_id) {
            let oldest = self.sessions.iter().min_by_key(|(id, r)| (r.last_index, **id)).map(|(id, _)| *id);
            if let Some(id) = oldest {
                self.sessions.remove(&id);
            }
        }
        let rec = self.sessions.entry(session.client_id).or_default();
        rec.last_index = outcome.index;
        rec.answers.insert(session.seq, outcome);
        rec.first_outstanding = rec.first_outstanding.max(session.first_outstanding);
        let keep_from = rec.first_outstanding;
        rec.answers.retain(|seq, _| *seq >= keep_from);
        while rec.answers.len() > MAX_ANSWERS {
            rec.answers.pop_first();
        }
    }

    /// The register at `key`; None when absent.
    pub fn get(&self, key: &str) -> Result<Option<Bytes>, ApplyError> {
        match self.data.get(key) {
            None => Ok(None),
            Some(Value::Register(v)) => Ok(Some(v.clone())),
            Some(Value::List(_)) => Err(ApplyError::WrongType(key.to_string())),
        }
    }

    /// The list at `key`; empty when absent.
    pub fn read_list(&self, key: &str) -> Result<Vec<Bytes>, ApplyError> {
        match self.data.get(key) {
            None => Ok(Vec::new()),
            Some(Value::List(items)) => Ok(items.clone()),
            Some(Value::Register(_)) => Err(ApplyError::WrongType(key.to_string())),
        }
    }

    /// A hash of the whole key-value state (FNV-1a over the sorted pairs):
    /// equal on every node that applied the same prefix.
    pub fn digest(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for (key, value) in &self.data {
            feed(key.as_bytes());
            match value {
                Value::Register(v) => feed(v),
                Value::List(items) => items.iter().for_each(|i| feed(i)),
            }
        }
        h
    }

    pub fn encode_snapshot(&self) -> Vec<u8> {
        let pairs = self
            .data
            .iter()
            .map(|(key, value)| pb::KvPair {
                key: key.clone(),
                value: Some(match value {
                    Value::Register(v) => pb::kv_pair::Value::Register(v.clone()),
                    Value::List(items) => pb::kv_pair::Value::List(pb::ListValue { items: items.clone() }),
                }),
            })
            .collect();
        let mut sessions: Vec<pb::SessionRecord> = self
            .sessions
            .iter()
            .flat_map(|(id, r)| {
                r.answers.iter().map(move |(seq, a)| pb::SessionRecord {
                    client_id: *id,
                    seq: *seq,
                    index: a.index,
                    succeeded: a.succeeded,
                    current: a.current.clone(),
                    first_outstanding: r.first_outstanding,
                    reads: a
                        .reads
                        .iter()
                        .map(|(key, value)| pb::TxnRead { key: key.clone(), value: value.clone() })
                        .collect(),
                })
            })
            .collect();
        sessions.sort_by_key(|s| (s.client_id, s.seq));
        let peers =
            self.peers.iter().map(|(id, address)| pb::PeerAddress { id: *id, address: address.clone() }).collect();
        let started = self.started.iter().copied().collect();
        pb::KvSnapshot { applied: self.applied, pairs, sessions, peers, started }.encode_to_vec()
    }

    pub fn decode_snapshot(data: &[u8]) -> Result<KvState, ApplyError> {
        if data.is_empty() {
            return Ok(KvState::default());
        }
        let snap = pb::KvSnapshot::decode(data).map_err(|e| ApplyError::Corrupt(e.to_string()))?;
        let mut state = KvState { applied: snap.applied, ..Default::default() };
        for pair in snap.pairs {
            let value = match pair.value {
                Some(pb::kv_pair::Value::Register(v)) => Value::Register(v),
                Some(pb::kv_pair::Value::List(l)) => Value::List(l.items),
                None => return Err(ApplyError::Corrupt(format!("key {:?} without a value", pair.key))),
            };
            state.data.insert(pair.key, value);
        }
        for s in snap.sessions {
            let rec = state.sessions.entry(s.client_id).or_default();
            rec.first_outstanding = s.first_outstanding;
            rec.last_index = rec.last_index.max(s.index);
            let reads = s.reads.into_iter().map(|r| (r.key, r.value)).collect();
            rec.answers
                .insert(s.seq, WriteOutcome { index: s.index, succeeded: s.succeeded, current: s.current, reads });
        }
        state.peers = snap.peers.into_iter().map(|p| (p.id, p.address)).collect();
        state.started = snap.started.into_iter().collect();
        Ok(state)
    }
}

/// The member a logged command records as started, if it is a MemberStarted.
pub fn member_started(data: &[u8]) -> Option<u64> {
    match pb::Command::decode(data).ok()?.op? {
        Op::MemberStarted(m) => Some(m.id),
        _ => None,
    }
}

/// Encodes a client write for the log.
pub fn encode_command(session: pb::Session, op: Op) -> Bytes {
    pb::Command { session: Some(session), op: Some(op) }.encode_to_vec().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(client_id: u64, seq: u64, key: &str, value: &str) -> Bytes {
        put_acked(client_id, seq, 0, key, value)
    }

    fn put_acked(client_id: u64, seq: u64, first_outstanding: u64, key: &str, value: &str) -> Bytes {
        let op =
            Op::Put(pb::PutRequest { session: None, key: key.into(), value: Bytes::copy_from_slice(value.as_bytes()) });
        encode_command(pb::Session { client_id, seq, first_outstanding }, op)
    }

    fn cas(key: &str, expected: Option<&str>, value: &str) -> Bytes {
        let op = Op::Cas(pb::CasRequest {
            session: None,
            key: key.into(),
            expected: expected.map(|e| Bytes::copy_from_slice(e.as_bytes())),
            value: Bytes::copy_from_slice(value.as_bytes()),
        });
        encode_command(pb::Session::default(), op)
    }

    #[test]
    fn a_retried_write_applies_once_and_gets_the_same_answer() {
        let mut kv = KvState::default();
        let first = kv.apply(1, &put(7, 1, "k", "a")).unwrap();
        kv.apply(2, &put(8, 1, "k", "b")).unwrap();
        let retry = kv.apply(3, &put(7, 1, "k", "a")).unwrap();
        assert_eq!(retry, first, "the retry answers with the first outcome");
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"b"[..]), "and does not overwrite the later write");
    }

    #[test]
    fn concurrent_writes_of_one_client_apply_in_any_order_and_once() {
        let mut kv = KvState::default();
        kv.apply(1, &put_acked(7, 3, 1, "c", "3")).unwrap();
        kv.apply(2, &put_acked(7, 1, 1, "a", "1")).unwrap();
        kv.apply(3, &put_acked(7, 2, 1, "b", "2")).unwrap();
        assert_eq!(kv.apply(4, &put_acked(7, 1, 1, "a", "x")).unwrap().index, 2, "a retry of seq 1 is answered");
        assert_eq!(kv.get("a").unwrap().as_deref(), Some(&b"1"[..]));
        kv.apply(5, &put_acked(7, 4, 4, "d", "4")).unwrap();
        assert!(
            matches!(kv.apply(6, &put_acked(7, 2, 4, "b", "y")), Err(ApplyError::StaleSequence { .. })),
            "answers below first_outstanding are forgotten, and their retries refused"
        );
        assert_eq!(kv.get("b").unwrap().as_deref(), Some(&b"2"[..]));
    }

    #[test]
    fn cas_compares_with_absent_and_present_values() {
        let mut kv = KvState::default();
        assert!(kv.apply(1, &cas("k", None, "a")).unwrap().succeeded);
        let failed = kv.apply(2, &cas("k", Some("x"), "b")).unwrap();
        assert!(!failed.succeeded);
        assert_eq!(failed.current.as_deref(), Some(&b"a"[..]));
        assert!(kv.apply(3, &cas("k", Some("a"), "b")).unwrap().succeeded);
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"b"[..]));
    }

    fn txn(client_id: u64, seq: u64, compares: &[(&str, Option<&str>)], puts: &[(&str, &str)]) -> Bytes {
        let bytes = |v: &str| Bytes::copy_from_slice(v.as_bytes());
        let op = Op::Txn(pb::TxnRequest {
            session: None,
            compares: compares
                .iter()
                .map(|(key, expected)| pb::TxnCompare { key: key.to_string(), expected: expected.map(bytes) })
                .collect(),
            puts: puts.iter().map(|(key, value)| pb::TxnPut { key: key.to_string(), value: bytes(value) }).collect(),
            reads: vec!["a".into(), "b".into()],
        });
        encode_command(pb::Session { client_id, seq, first_outstanding: 0 }, op)
    }

    fn read_values(outcome: &WriteOutcome) -> Vec<Option<&[u8]>> {
        outcome.reads.iter().map(|(_, v)| v.as_deref()).collect()
    }

    #[test]
    fn a_txn_puts_all_or_nothing_and_reads_after_its_puts() {
        let mut kv = KvState::default();
        let created = kv.apply(1, &txn(0, 0, &[("a", None), ("b", None)], &[("a", "10"), ("b", "10")])).unwrap();
        assert!(created.succeeded);
        assert_eq!(read_values(&created), [Some(&b"10"[..]), Some(&b"10"[..])]);
        let stale =
            kv.apply(2, &txn(0, 0, &[("a", Some("10")), ("b", Some("9"))], &[("a", "7"), ("b", "13")])).unwrap();
        assert!(!stale.succeeded, "one compare failed");
        assert_eq!(read_values(&stale), [Some(&b"10"[..]), Some(&b"10"[..])], "so neither put applied");
        let moved =
            kv.apply(3, &txn(0, 0, &[("a", Some("10")), ("b", Some("10"))], &[("a", "7"), ("b", "13")])).unwrap();
        assert!(moved.succeeded);
        assert_eq!(read_values(&moved), [Some(&b"7"[..]), Some(&b"13"[..])]);
        assert_eq!(moved.index, 3);
    }

    #[test]
    fn a_txn_touching_a_list_changes_nothing_and_a_retry_gets_the_first_answer() {
        let mut kv = KvState::default();
        let op = Op::Append(pb::AppendRequest { session: None, key: "b".into(), value: Bytes::from_static(b"x") });
        kv.apply(1, &encode_command(pb::Session::default(), op)).unwrap();
        let digest = kv.digest();
        assert!(matches!(kv.apply(2, &txn(0, 0, &[], &[("a", "1")])), Err(ApplyError::WrongType(key)) if key == "b"));
        assert_eq!(kv.digest(), digest, "the put before the bad read did not apply");

        let mut kv = KvState::default();
        let first = kv.apply(1, &txn(7, 1, &[("a", None)], &[("a", "1")])).unwrap();
        kv.apply(2, &put(8, 1, "a", "2")).unwrap();
        let restored = KvState::decode_snapshot(&kv.encode_snapshot()).unwrap();
        for mut state in [kv, restored] {
            let retry = state.apply(3, &txn(7, 1, &[("a", None)], &[("a", "1")])).unwrap();
            assert_eq!(retry, first, "answered from the session, reads included, even after a snapshot");
        }
    }

    #[test]
    fn a_snapshot_restores_the_same_state() {
        let mut kv = KvState::default();
        kv.apply(1, &put(1, 1, "a", "1")).unwrap();
        let op = Op::Append(pb::AppendRequest { session: None, key: "l".into(), value: Bytes::from_static(b"x") });
        kv.apply(2, &encode_command(pb::Session::default(), op)).unwrap();
        let restored = KvState::decode_snapshot(&kv.encode_snapshot()).unwrap();
        assert_eq!(restored.digest(), kv.digest());
        assert_eq!(restored.applied(), 2);
        assert_eq!(restored.read_list("l").unwrap(), vec![Bytes::from_static(b"x")]);
        assert!(restored.read_list("a").is_err());
    }
}
