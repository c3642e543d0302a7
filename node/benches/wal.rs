//! WAL append throughput with fsync on, beside the floor of this disk
//! measured in the same run: a 4 KiB write + fdatasync on a plain file in the
//! same directory. Each WAL iteration is one batch (entries of 256 B and a
//! hard state) written as one record and made durable by one fdatasync.
//!
//! The files live under Cargo's target tmp directory, on the real disk (a
//! tmpfs would make fdatasync free and the figures meaningless).

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use node::storage::wal::Wal;
use node::storage::{Batch, StoredEntry, StoredHardState, WalOptions};

fn wal_append(c: &mut Criterion) {
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mut group = c.benchmark_group("wal");
    group.sample_size(20).measurement_time(Duration::from_secs(8));

    let dir = tempfile::tempdir_in(base).unwrap();
    let mut file = std::fs::File::create(dir.path().join("floor")).unwrap();
    let page = vec![7u8; 4096];
    group.throughput(Throughput::Elements(1));
    group.bench_function("floor_4KiB_write_fdatasync", |b| {
        b.iter(|| {
            file.write_all(&page).unwrap();
            file.sync_data().unwrap();
        })
    });

    for size in [1u64, 16, 64] {
        let dir = tempfile::tempdir_in(base).unwrap();
        let (mut wal, _) = Wal::open(dir.path(), WalOptions::default()).unwrap();
        let data = Bytes::from(vec![1u8; 256]);
        let mut index = 0;
        group.throughput(Throughput::Elements(size));
        group.bench_function(format!("append_{size}x256B_fsync"), |b| {
            b.iter(|| {
                let entries = (0..size)
                    .map(|_| {
                        index += 1;
                        StoredEntry { index, term: 1, kind: 1, data: data.clone() }
                    })
                    .collect();
                let hard_state = Some(StoredHardState { term: 1, vote: 1, commit: index });
                wal.append(&Batch { installed_snapshot: None, entries, hard_state }).unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, wal_append);
criterion_main!(benches);
