//! WAL append throughput with fsync on, beside the floor of this disk: a
//! 4 KiB write + fdatasync on a plain file in the same directory. Each WAL
//! iteration is one batch (entries of 256 B and a hard state) written as
//! one record and made durable by one fdatasync.
//!
//! On a shared machine the disk's fsync latency drifts with whatever else
//! writes to it, so every WAL append is interleaved with one floor write,
//! and the ratio of the two, measured over the same seconds, is printed
//! after each benchmark: that ratio is the figure to compare across runs.
//!
//! The files live under Cargo's target tmp directory, on the real disk (a
//! tmpfs would make fdatasync free and the figures meaningless).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use node::storage::wal::Wal;
use node::storage::{Batch, StoredEntry, StoredHardState, WalOptions};

struct Floor {
    file: File,
    page: Vec<u8>,
}

impl Floor {
    fn new(dir: &Path) -> Floor {
        Floor { file: File::create(dir.join("floor")).unwrap(), page: vec![7u8; 4096] }
    }

    fn write(&mut self) {
        self.file.write_all(&self.page).unwrap();
        self.file.sync_data().unwrap();
    }
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn wal_append(c: &mut Criterion) {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mut group = c.benchmark_group("wal");
    group.sample_size(20).measurement_time(Duration::from_secs(8));

    let dir = tempfile::tempdir_in(base).unwrap();
    let mut floor = Floor::new(dir.path());
    group.throughput(Throughput::Elements(1));
    group.bench_function("floor_4KiB_write_fdatasync", |b| b.iter(|| floor.write()));

    for size in [1u64, 16, 64] {
        let dir = tempfile::tempdir_in(base).unwrap();
        let (mut wal, _) = Wal::open(&dir.path().join("wal"), WalOptions::default()).unwrap();
        let mut floor = Floor::new(dir.path());
        let data = Bytes::from(vec![1u8; 256]);
        let mut index = 0;
        let (mut wal_time, mut floor_time) = (Duration::ZERO, Duration::ZERO);
        group.throughput(Throughput::Elements(size));
        group.bench_function(format!("append_{size}x256B_fsync"), |b| {
            b.iter_custom(|iters| {
                let mut measured = Duration::ZERO;
                for _ in 0..iters {
                    floor_time += timed(|| floor.write());
                    let entries = (0..size)
                        .map(|_| {
                            index += 1;
                            StoredEntry { index, term: 1, kind: 1, data: data.clone() }
                        })
                        .collect();
                    let hard_state = Some(StoredHardState { term: 1, vote: 1, commit: index });
                    let batch = Batch { installed_snapshot: None, entries, hard_state };
                    measured += timed(|| wal.append(&batch).unwrap());
                }
                wal_time += measured;
                measured
            })
        });
        let ratio = floor_time.as_secs_f64() / wal_time.as_secs_f64();
        println!("append_{size}x256B_fsync: batches/s = {ratio:.2} x the interleaved floor's writes/s");
    }
    group.finish();
}

criterion_group!(benches, wal_append);
criterion_main!(benches);
