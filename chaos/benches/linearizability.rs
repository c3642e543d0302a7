//! The register checker on seeded, linearizable-by-construction histories:
//! 10 concurrent workers, each operation taking effect at a random instant
//! between its call and return; 1% of operations time out (`info`) and took
//! effect or not at random, 3% of cas fail. The required case: 100,000
//! operations over 1,000 keys, under 5 s on 2 cores. Also 100,000
//! operations over 10 hot keys (10,000 per key, where the memo's sets are
//! large).

use std::collections::HashMap;

use chaos::check::{Budget, Verdict, check_registers};
use criterion::{Criterion, criterion_group, criterion_main};
use history::{Event, EventType, Function};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

struct Planned {
    process: u64,
    key: u64,
    f: Function,
    call: u64,
    effect: u64,
    ret: u64,
    timed_out: bool,
    value: u64,
}

fn history(ops: usize, keys: u64, workers: usize, seed: u64) -> Vec<Event> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut clock = vec![0u64; workers];
    let mut process: Vec<u64> = (0..workers as u64).collect();
    let mut planned = Vec::with_capacity(ops);
    for value in 0..ops as u64 {
        let w = value as usize % workers;
        let call = clock[w] + rng.random_range(1..50);
        let effect = call + rng.random_range(1..100);
        let ret = effect + rng.random_range(1..100);
        let f = match rng.random_range(0..20) {
            0..10 => Function::Get,
            10..17 => Function::Put,
            17 => Function::Delete,
            _ => Function::Cas,
        };
        let timed_out = rng.random_bool(0.01);
        planned.push(Planned {
            process: process[w],
            key: rng.random_range(0..keys),
            f,
            call,
            effect,
            ret,
            timed_out,
            value,
        });
        clock[w] = ret;
        // A worker whose operation timed out carries on as a new process.
        if timed_out {
            process[w] += workers as u64;
        }
    }
    let mut by_effect: Vec<usize> = (0..planned.len()).collect();
    by_effect.sort_by_key(|&i| planned[i].effect);
    let mut state: HashMap<u64, Value> = HashMap::new();
    // Per operation: invocation value, completion value, completion type.
    let mut outcome: Vec<(Value, Value, EventType)> = vec![(Value::Null, Value::Null, EventType::Ok); planned.len()];
    for i in by_effect {
        let p = &planned[i];
        let current = state.get(&p.key).cloned().unwrap_or(Value::Null);
        // A timed-out operation took effect half the time.
        let applies = !p.timed_out || rng.random_bool(0.5);
        let kind = if p.timed_out { EventType::Info } else { EventType::Ok };
        outcome[i] = match p.f {
            Function::Get => (Value::Null, current, kind),
            Function::Put => {
                if applies {
                    state.insert(p.key, json!(p.value));
                }
                (json!(p.value), json!(p.value), kind)
            }
            Function::Delete => {
                if applies {
                    state.remove(&p.key);
                }
                (Value::Null, Value::Null, kind)
            }
            _ if !p.timed_out && rng.random_bool(0.03) => {
                let input = json!([-1, p.value]);
                (input.clone(), input, EventType::Fail)
            }
            _ => {
                if applies {
                    state.insert(p.key, json!(p.value));
                }
                let input = json!([current, p.value]);
                (input.clone(), input, kind)
            }
        };
    }
    let mut events = Vec::with_capacity(2 * planned.len());
    for (p, (input, output, kind)) in planned.iter().zip(outcome) {
        let e = |kind, value, time_ns| Event {
            process: p.process,
            kind,
            f: p.f,
            key: p.key.to_string(),
            value,
            time_ns,
            extra: Default::default(),
        };
        events.push(e(EventType::Invoke, input, p.call));
        events.push(e(kind, output, p.ret));
    }
    events.sort_by_key(|e| (e.time_ns, e.kind != EventType::Invoke));
    events
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("linearizability");
    group.sample_size(10);
    for (name, keys) in [("100k_ops_1k_keys_10_processes", 1_000), ("100k_ops_10_hot_keys_10_processes", 10)] {
        let events = history(100_000, keys, 10, 7);
        let result = check_registers(&events, Budget::default());
        assert_eq!(result.verdict, Verdict::Valid, "{}", result.reason);
        group.bench_function(name, |b| b.iter(|| check_registers(&events, Budget::default())));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
