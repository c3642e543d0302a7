//! WAL append throughput with fsync, beside the raw floor of this disk:
//! a 4 KiB write + fdatasync on a plain file in the same directory.

use std::io::Write;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use node::storage::{Wal, WalOptions};
use raft::{Entry, HardState, Payload};

fn wal_append(c: &mut Criterion) {
    // Under the target directory, on the real disk (not a tmpfs /tmp).
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-wal");
    std::fs::create_dir_all(&base).unwrap();
    let mut group = c.benchmark_group("wal");
    group.sample_size(20);

    let dir = tempfile::tempdir_in(&base).unwrap();
    let mut file = std::fs::File::create(dir.path().join("floor")).unwrap();
    let page = vec![7u8; 4096];
    group.throughput(Throughput::Elements(1));
    group.bench_function("floor_4KiB_write_fdatasync", |b| {
        b.iter(|| {
            file.write_all(&page).unwrap();
            file.sync_data().unwrap();
        })
    });

    for batch in [1usize, 16, 64] {
        let dir = tempfile::tempdir_in(&base).unwrap();
        let (mut wal, _) = Wal::open(dir.path(), WalOptions::default()).unwrap();
        let mut index = 0u64;
        let payload = Bytes::from(vec![1u8; 256]);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("append_{batch}x256B_fsync"), |b| {
            b.iter(|| {
                let entries: Vec<Entry> = (0..batch)
                    .map(|_| {
                        index += 1;
                        Entry { index, term: 1, payload: Payload::Command(payload.clone()) }
                    })
                    .collect();
                wal.append(Some(HardState { term: 1, vote: 1, commit: index }), &entries).unwrap();
                wal.sync().unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, wal_append);
criterion_main!(benches);
