//! The history format: JSON Lines, one [`Event`] per line, in time order.
//!
//! ```text
//! {"process":3,"type":"invoke","f":"put","key":"k7","value":"v123","time_ns":1200}
//! {"process":3,"type":"ok","f":"put","key":"k7","value":"v123","time_ns":3400}
//! ```
//!
//! This is a contract other tools produce too, so the reader is lenient where
//! leniency is unambiguous (keys may be JSON strings or integers, values any JSON,
//! extra fields are kept) and strict where a guess could change a verdict
//! (unknown `type` or `f` is an error naming the line).
//!
//! A read may say how it was served, in a `consistency` field (see
//! [`Event::consistency`]): loadgen writes the target's own name for the
//! kind of read (raft-node: `lease`, `read_index`, `follower`, `stale`;
//! etcd: `linearizable`, `serializable`). Histories without it (other
//! tools') load as before.
//!
//! Bank and set workloads use Jepsen's shapes, with no key: a transfer is
//! `{"f":"transfer","value":{"from":A,"to":B,"amount":N}}`, a read of every
//! account `{"f":"read","value":{"A":balance,...}}` (null on invoke); a set
//! add is `{"f":"add","value":E}`, a read of the set `{"f":"read","value":
//! [E,...]}`. A history with keys holds one bank or set per key.
//!
//! Semantics of `type`:
//! - `invoke`: the operation was sent.
//! - `ok`: it took effect (for reads, `value` is what was read).
//! - `fail`: it certainly did not take effect (a cas whose compare failed is a fail).
//! - `info`: unknown outcome; it may take effect at any time after its invoke, and
//!   the process never issues another operation.

use std::io::{self, BufRead, Write};

use serde::{Deserialize, Deserializer, Serialize};

mod validate;

pub use validate::{InvalidHistory, Pair, pair, validate};

/// What happened to an operation at this point of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// The operation's function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Function {
    Put,
    Get,
    Delete,
    Cas,
    Append,
    Read,
    /// Bank: move an amount between two accounts.
    Transfer,
    /// Set: add one element.
    Add,
}

impl Function {
    /// The name as written in a history.
    pub fn name(self) -> &'static str {
        match self {
            Function::Put => "put",
            Function::Get => "get",
            Function::Delete => "delete",
            Function::Cas => "cas",
            Function::Append => "append",
            Function::Read => "read",
            Function::Transfer => "transfer",
            Function::Add => "add",
        }
    }
}

impl std::fmt::Display for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One line of a history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Event {
    pub process: u64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub f: Function,
    /// Absent (empty) where the workload has no keys, as Jepsen's bank and
    /// set histories: left out when written.
    #[serde(default, deserialize_with = "key_from_string_or_integer", skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "schema", schemars(with = "KeySchema"))]
    pub key: String,
    /// put: the value written; get: null on invoke, the value read (or null
    /// for an absent key) on ok; cas: `[expected, new]`; append: the value
    /// appended; read: the list read (null for an absent key), or a bank's
    /// balances by account, or a set's elements; delete: null; transfer:
    /// `{from, to, amount}`; add: the element.
    #[serde(default)]
    pub value: serde_json::Value,
    pub time_ns: u64,
    /// Fields this crate does not interpret, kept so a rewrite loses nothing.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The field that says how a read was served.
pub const CONSISTENCY: &str = "consistency";

impl Event {
    /// How a read was served, when the history says (see the crate docs).
    pub fn consistency(&self) -> Option<&str> {
        self.extra.get(CONSISTENCY)?.as_str()
    }

    /// Records how a read was served.
    pub fn set_consistency(&mut self, kind: &str) {
        self.extra.insert(CONSISTENCY.into(), serde_json::Value::String(kind.into()));
    }
}

/// What a key may be written as: the schema of what the reader accepts.
#[cfg(feature = "schema")]
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a schema only: never built
enum KeySchema {
    Text(String),
    Integer(i64),
}

fn key_from_string_or_integer<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct KeyVisitor;
    impl serde::de::Visitor<'_> for KeyVisitor {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a key that is a string or an integer")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<String, E> {
            Ok(s.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, i: i64) -> Result<String, E> {
            Ok(i.to_string())
        }
        fn visit_u64<E: serde::de::Error>(self, i: u64) -> Result<String, E> {
            Ok(i.to_string())
        }
    }
    d.deserialize_any(KeyVisitor)
}

/// A history line that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// `line` and `column` count from 1, in the file.
    #[error("line {line}, column {column}: {message}")]
    Parse { line: usize, column: usize, message: String },
    #[error("reading history: {0}")]
    Io(#[from] io::Error),
}

/// Reads a whole history; blank lines are skipped.
pub fn read(input: impl BufRead) -> Result<Vec<Event>, ReadError> {
    Ok(read_numbered(input)?.into_iter().map(|(_, event)| event).collect())
}

/// Reads a whole history, each event with its line number (from 1), so that
/// a later complaint about an event can name its line even when blank lines
/// were skipped.
pub fn read_numbered(input: impl BufRead) -> Result<Vec<(usize, Event)>, ReadError> {
    let mut events = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event = serde_json::from_str(&line).map_err(|e| {
            // serde's message ends with its own position inside this one
            // line ("at line 1 column 26"): keep the message, report the
            // position in the file.
            let full = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
            ReadError::Parse { line: i + 1, column: e.column(), message }
        })?;
        events.push((i + 1, event));
    }
    Ok(events)
}

/// Writes one event as one line.
pub fn write_event(out: &mut impl Write, event: &Event) -> io::Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_may_be_strings_or_integers_and_extra_fields_survive_a_rewrite() {
        let text = "{\"process\":1,\"type\":\"invoke\",\"f\":\"put\",\"key\":7,\"value\":[1,\"x\"],\"time_ns\":5,\"node\":\"n1\"}\n";
        let events = read(text.as_bytes()).unwrap();
        assert_eq!(events[0].key, "7");
        assert_eq!(events[0].extra["node"], "n1");
        let mut out = Vec::new();
        write_event(&mut out, &events[0]).unwrap();
        assert_eq!(read(out.as_slice()).unwrap(), events);
    }

    #[test]
    fn jepsen_bank_and_set_lines_have_no_key_and_are_written_back_without_one() {
        let text = concat!(
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"transfer\",\"value\":{\"from\":1,\"to\":2,\"amount\":3},\"time_ns\":1}\n",
            "{\"process\":1,\"type\":\"ok\",\"f\":\"add\",\"value\":7,\"time_ns\":2}\n",
        );
        let events = read(text.as_bytes()).unwrap();
        assert_eq!((events[0].f, events[0].key.as_str()), (Function::Transfer, ""));
        assert_eq!(events[1].f, Function::Add);
        let mut out = Vec::new();
        write_event(&mut out, &events[0]).unwrap();
        assert!(!String::from_utf8(out.clone()).unwrap().contains("\"key\""));
        assert_eq!(read(out.as_slice()).unwrap()[0], events[0]);
    }

    #[test]
    fn a_bad_line_names_its_line_and_column_in_the_file() {
        let text = "\n{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k\",\"time_ns\":1}\n\n{\"process\":1,\"type\":\"okay\",\"f\":\"get\",\"key\":\"k\",\"time_ns\":2}\n";
        let err = read_numbered(text.as_bytes()).unwrap_err().to_string();
        assert!(err.starts_with("line 4, column 26: unknown variant `okay`"), "{err}");
        assert!(!err.contains("at line 1"), "{err}");
        let err = read("{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":[1],\"time_ns\":2}".as_bytes());
        assert!(err.unwrap_err().to_string().contains("a key that is a string or an integer"));
        let numbered = read_numbered(text.replace("okay", "ok").as_bytes()).unwrap();
        assert_eq!(numbered.iter().map(|(line, _)| *line).collect::<Vec<_>>(), [2, 4]);
    }
}
