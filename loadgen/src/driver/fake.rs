//! An in-process target: a map behind a lock, answering after a fixed
//! latency, optionally stalling once (every request waits, as on a server
//! whose disk or process froze), or answering at once without storing
//! anything (to measure loadgen itself).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::time::Instant;

use super::{COMPARE_FAILED, Driver, Outcome, text};
use crate::workload::Consistency;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct FakeOptions {
    /// Every answer takes this long.
    pub latency: Duration,
    /// `(after, length)`: the first request arriving `after` the driver was
    /// built starts a stall of `length`; every request arriving during it
    /// waits for its end.
    pub stall: Option<(Duration, Duration)>,
    /// Answer every request at once with ok and null, storing nothing.
    pub noop: bool,
}

enum Stall {
    Armed { at: Instant, length: Duration },
    Until(Instant),
    Over,
}

pub struct FakeDriver {
    options: FakeOptions,
    /// A std mutex, not a tokio one: it is held for a few instructions and
    /// never across an await.
    stall: Mutex<Stall>,
    store: Mutex<BTreeMap<String, Value>>,
}

impl FakeDriver {
    pub fn new(options: FakeOptions) -> FakeDriver {
        let stall = match options.stall {
            Some((after, length)) => Stall::Armed { at: Instant::now() + after, length },
            None => Stall::Over,
        };
        FakeDriver { options, stall: Mutex::new(stall), store: Mutex::new(BTreeMap::new()) }
    }

    /// A fake answering every request after `latency`.
    pub fn with_latency(latency: Duration) -> FakeDriver {
        FakeDriver::new(FakeOptions { latency, ..FakeOptions::default() })
    }

    /// Waits out the stall and the latency; false for a no-op target.
    async fn serve(&self) -> bool {
        if self.options.noop {
            return false;
        }
        let wait_until = {
            let now = Instant::now();
            let mut stall = self.stall.lock().expect("not poisoned");
            match *stall {
                Stall::Armed { at, length } if now >= at => {
                    *stall = Stall::Until(now + length);
                    Some(now + length)
                }
                Stall::Until(end) if now < end => Some(end),
                Stall::Until(_) => {
                    *stall = Stall::Over;
                    None
                }
                Stall::Armed { .. } | Stall::Over => None,
            }
        };
        if let Some(end) = wait_until {
            tokio::time::sleep_until(end).await;
        }
        if !self.options.latency.is_zero() {
            tokio::time::sleep(self.options.latency).await;
        }
        true
    }

    fn store(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Value>> {
        self.store.lock().expect("not poisoned")
    }
}

const NOOP: Outcome = Outcome::Ok(Value::Null);

impl Driver for FakeDriver {
    async fn get(&self, key: &str, _consistency: Consistency) -> Outcome {
        if !self.serve().await {
            return NOOP;
        }
        Outcome::Ok(self.store().get(key).cloned().unwrap_or(Value::Null))
    }

    async fn put(&self, key: &str, value: Bytes) -> Outcome {
        if self.serve().await {
            self.store().insert(key.to_owned(), text(&value));
        }
        NOOP
    }

    async fn delete(&self, key: &str) -> Outcome {
        if self.serve().await {
            self.store().remove(key);
        }
        NOOP
    }

    async fn cas(&self, key: &str, expected: Option<Bytes>, new: Bytes) -> Outcome {
        if !self.serve().await {
            return NOOP;
        }
        let mut store = self.store();
        if store.get(key) == expected.as_deref().map(text).as_ref() {
            store.insert(key.to_owned(), text(&new));
            NOOP
        } else {
            Outcome::Failed(COMPARE_FAILED.into())
        }
    }

    async fn read_registers(&self, keys: &[String]) -> Outcome {
        if !self.serve().await {
            return NOOP;
        }
        let store = self.store();
        Outcome::Ok(Value::Object(
            keys.iter().map(|k| (k.clone(), store.get(k).cloned().unwrap_or(Value::Null))).collect(),
        ))
    }

    async fn write_if(&self, compares: &[(String, Option<Bytes>)], puts: &[(String, Bytes)]) -> Outcome {
        if !self.serve().await {
            return NOOP;
        }
        let mut store = self.store();
        if compares.iter().any(|(key, expected)| store.get(key) != expected.as_deref().map(text).as_ref()) {
            return Outcome::Failed(COMPARE_FAILED.into());
        }
        for (key, value) in puts {
            store.insert(key.clone(), text(value));
        }
        NOOP
    }

    async fn append(&self, key: &str, value: Bytes) -> Outcome {
        if self.serve().await {
            let mut store = self.store();
            let list = store.entry(key.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = list {
                items.push(text(&value));
            }
        }
        NOOP
    }

    async fn read_list(&self, key: &str, consistency: Consistency) -> Outcome {
        self.get(key, consistency).await
    }

    /// One store, read in place: every read is linearizable.
    fn read_kind(&self, _consistency: Consistency) -> &'static str {
        "linearizable"
    }

    async fn scan(&self, start: &str, end: &str, limit: usize) -> Outcome {
        if !self.serve().await {
            return Outcome::Ok(Value::Array(Vec::new()));
        }
        let store = self.store();
        let pairs = store
            .range(start.to_owned()..end.to_owned())
            .take(limit)
            .map(|(k, v)| Value::Array(vec![Value::String(k.clone()), v.clone()]))
            .collect();
        Outcome::Ok(Value::Array(pairs))
    }

    fn supports_scan(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_stall_holds_every_request_arriving_during_it_once() {
        let fake = FakeDriver::new(FakeOptions {
            latency: Duration::from_millis(1),
            stall: Some((Duration::from_secs(1), Duration::from_secs(2))),
            noop: false,
        });
        let t0 = Instant::now();
        fake.put("k", Bytes::from_static(b"a")).await;
        assert_eq!(t0.elapsed(), Duration::from_millis(1));
        tokio::time::sleep_until(t0 + Duration::from_secs(1)).await;
        // The first request after 1 s starts the stall; one arriving 0.5 s
        // into it waits for the same end; later ones do not wait.
        let (first, second) = tokio::join!(fake.get("k", Consistency::Lease), async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            fake.get("k", Consistency::Lease).await
        });
        assert_eq!(first, Outcome::Ok(Value::String("a".into())));
        assert_eq!(second, first);
        assert_eq!(t0.elapsed(), Duration::from_millis(3001));
        let before = Instant::now();
        fake.get("k", Consistency::Lease).await;
        assert_eq!(before.elapsed(), Duration::from_millis(1));
    }

    #[tokio::test]
    async fn cas_compares_and_scan_returns_a_key_range() {
        let fake = FakeDriver::new(FakeOptions::default());
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        assert_eq!(fake.cas("k1", None, b("x")).await, NOOP);
        assert!(matches!(fake.cas("k1", None, b("y")).await, Outcome::Failed(_)));
        assert_eq!(fake.cas("k1", Some(b("x")), b("y")).await, NOOP);
        fake.put("k2", b("z")).await;
        fake.put("l1", b("list")).await;
        let scan = fake.scan("k", "l", 10).await;
        assert_eq!(scan, Outcome::Ok(serde_json::json!([["k1", "y"], ["k2", "z"]])));
    }
}
