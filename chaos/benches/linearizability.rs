//! The register checker on a 100,000-operation history over 1,000 keys
//! written by 10 concurrent processes (linearizable by construction: each
//! operation takes effect at a random instant between its call and return).

use std::collections::HashMap;

use chaos::check::{Budget, Verdict, check_registers};
use criterion::{Criterion, criterion_group, criterion_main};
use history::{Event, EventType, Function};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

fn history(ops: usize, keys: u64, processes: u64, seed: u64) -> Vec<Event> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // (call, effect, return, process, key, function, value)
    let mut planned = Vec::with_capacity(ops);
    let mut clock = vec![0u64; processes as usize];
    for i in 0..ops {
        let p = i as u64 % processes;
        let call = clock[p as usize] + rng.random_range(1..50);
        let effect = call + rng.random_range(1..100);
        let ret = effect + rng.random_range(1..100);
        clock[p as usize] = ret;
        let key = rng.random_range(0..keys);
        let f = match rng.random_range(0..10) {
            0..5 => Function::Get,
            5..9 => Function::Put,
            _ => Function::Cas,
        };
        planned.push((call, effect, ret, p, key, f, i as u64));
    }
    let mut by_effect: Vec<usize> = (0..planned.len()).collect();
    by_effect.sort_by_key(|&i| planned[i].1);
    let mut state: HashMap<u64, Value> = HashMap::new();
    let mut results: Vec<(Value, Value, EventType)> = vec![(Value::Null, Value::Null, EventType::Ok); planned.len()];
    for i in by_effect {
        let (_, _, _, _, key, f, v) = planned[i];
        let current = state.get(&key).cloned().unwrap_or(Value::Null);
        results[i] = match f {
            Function::Get => (Value::Null, current, EventType::Ok),
            Function::Put => {
                state.insert(key, json!(v));
                (json!(v), json!(v), EventType::Ok)
            }
            _ => {
                let input = json!([current.clone(), v]);
                if rng.random_bool(0.5) {
                    state.insert(key, json!(v));
                    (input.clone(), input, EventType::Ok)
                } else {
                    (json!([json!(-1), v]), json!([json!(-1), v]), EventType::Fail)
                }
            }
        };
    }
    let mut timed = Vec::with_capacity(2 * planned.len());
    for (i, &(call, _, ret, p, key, f, _)) in planned.iter().enumerate() {
        let (input, output, outcome) = results[i].clone();
        let e = |kind, value, time_ns| Event {
            process: p,
            kind,
            f,
            key: key.to_string(),
            value,
            time_ns,
            extra: Default::default(),
        };
        timed.push(e(EventType::Invoke, input, call));
        timed.push(e(outcome, output, ret));
    }
    timed.sort_by_key(|e| e.time_ns);
    timed
}

fn bench(c: &mut Criterion) {
    let events = history(100_000, 1_000, 10, 7);
    assert_eq!(check_registers(&events, Budget::default()).verdict, Verdict::Valid);
    let mut group = c.benchmark_group("linearizability");
    group.sample_size(10);
    group.bench_function("100k_ops_1k_keys_10_processes", |b| b.iter(|| check_registers(&events, Budget::default())));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
