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
//! Semantics of `type`:
//! - `invoke`: the operation was sent.
//! - `ok`: it took effect (for reads, `value` is what was read).
//! - `fail`: it certainly did not take effect (a cas whose compare failed is a fail).
//! - `info`: unknown outcome; it may take effect at any time after its invoke, and
//!   the process never issues another operation.

use std::io::{self, BufRead, Write};

use serde::{Deserialize, Deserializer, Serialize};

/// What happened to an operation at this point of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// The operation's function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    Put,
    Get,
    Delete,
    Cas,
    Append,
    Read,
}

/// One line of a history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub process: u64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub f: Function,
    #[serde(deserialize_with = "key_from_string_or_integer")]
    pub key: String,
    /// put: the value written; get: null on invoke, the value read (or null
    /// for an absent key) on ok; cas: `[expected, new]`; append: the value
    /// appended; read: the list read (null for an absent key); delete: null.
    #[serde(default)]
    pub value: serde_json::Value,
    pub time_ns: u64,
    /// Fields this crate does not interpret, kept so a rewrite loses nothing.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn key_from_string_or_integer<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Key {
        Text(String),
        Integer(i64),
    }
    Ok(match Key::deserialize(d)? {
        Key::Text(s) => s,
        Key::Integer(i) => i.to_string(),
    })
}

/// A history line that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("line {line}: {source}")]
    Parse {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("reading history: {0}")]
    Io(#[from] io::Error),
}

/// Reads a whole history; blank lines are skipped.
pub fn read(input: impl BufRead) -> Result<Vec<Event>, ReadError> {
    let mut events = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event = serde_json::from_str(&line).map_err(|source| ReadError::Parse { line: i + 1, source })?;
        events.push(event);
    }
    Ok(events)
}

/// Writes one event as one line.
pub fn write_event(out: &mut impl Write, event: &Event) -> io::Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    out.write_all(b"\n")
}
