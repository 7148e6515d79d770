//! The engine's hot paths, through the Rust API, for profiling while optimising:
//! put (no sync), get of present keys, get of absent keys, contains, and synced puts with 1 and
//! 4 threads. Puts run twice, appending with `pwrite` (`mmap_writes(false)`) as the baseline and
//! through the active file's map (the default), in the same run. Prints ns/op, median of 3 runs.
//!
//! `cargo bench --bench hot_paths [-- KEYS]` (default 1,000,000). Profile one phase with, e.g.,
//! `perf record -g target/release/deps/hot_paths-*`.

mod common;
use common::key;
use std::time::Instant;

use bitcask::{Bitcask, Options, SyncMode};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn time_ns_per_op(ops: u64, f: impl Fn()) -> f64 {
    median(
        (0..3)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_nanos() as f64 / ops as f64
            })
            .collect(),
    )
}

fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let value = [7u8; 100];
    println!("hot paths, {n} keys of 16 B, values of 100 B (ns/op, median of 3)");
    // Baseline in the same run: appends with pwrite instead of through the active file's map.
    let mut pwrite = Options::default();
    pwrite.mmap_writes(false);
    for (name, opts) in [
        ("put (pwrite)", &pwrite),
        ("put (no sync)", &Options::default()),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = Bitcask::open(dir.path(), opts).unwrap();
        let put = time_ns_per_op(n, || {
            for i in 0..n {
                db.put(&key(i), &value).unwrap();
            }
        });
        println!("{name:<22} {put:>8.0}");
    }
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    for i in 0..n {
        db.put(&key(i), &value).unwrap();
    }
    let get = time_ns_per_op(n, || {
        for i in 0..n {
            let found = db
                .get_with(&key(i.wrapping_mul(7919) % n), |v| v.len())
                .unwrap();
            assert_eq!(found, Some(100));
        }
    });
    println!("get (present)          {get:>8.0}");
    let miss = time_ns_per_op(n, || {
        for i in n..2 * n {
            assert!(db.get_with(&key(i), |v| v.len()).unwrap().is_none());
        }
    });
    println!("get (absent)           {miss:>8.0}");
    let contains = time_ns_per_op(n, || {
        for i in 0..n {
            assert!(db.contains(&key(i)).unwrap());
        }
    });
    println!("contains               {contains:>8.0}");
    drop(db);

    let per_thread = 500u64;
    for (mode, threads, mmap) in [
        ("pwrite", 1u64, false),
        ("", 1, true),
        ("pwrite", 4, false),
        ("", 4, true),
    ] {
        let synced = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let mut o = Options::default();
        o.sync(SyncMode::Always).unwrap().mmap_writes(mmap);
        let db = Bitcask::open(synced.path(), &o).unwrap();
        let ns = time_ns_per_op(per_thread * threads, || {
            std::thread::scope(|s| {
                for t in 0..threads {
                    let db = &db;
                    s.spawn(move || {
                        for i in 0..per_thread {
                            db.put(&key(t * 1_000_000 + i), &value).unwrap();
                        }
                    });
                }
            });
        });
        println!(
            "synced put, {threads} thread{} {mode:<7} {ns:>8.0}  ({:.0} puts/s)",
            if threads == 1 { " " } else { "s" },
            1e9 / ns
        );
    }
}
