//! The main job: fill a fresh store in a temporary directory, read everything back, reopen it
//! and read again, printing the throughput of each phase.
//!
//! ```sh
//! cargo run --release --example demo                 # 1,000,000 keys
//! cargo run --release --example demo -- 200000       # another count
//! ```

use std::time::{Duration, Instant};

use bitcask::{Bitcask, Options};

const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;

fn key(i: u64) -> [u8; KEY_LEN] {
    // A bijective scramble, so keys arrive in random order but each index has one key.
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555_5555_5555_5555;
    let mut k = [0u8; KEY_LEN];
    k[..8].copy_from_slice(&x.to_be_bytes());
    k[8..].copy_from_slice(&i.to_le_bytes());
    k
}

fn value(i: u64, round: u8) -> [u8; VALUE_LEN] {
    let mut v = [round; VALUE_LEN];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

fn report(phase: &str, ops: u64, took: Duration) {
    let secs = took.as_secs_f64();
    println!(
        "{phase:<24} {ops:>10} ops  {:>8.3} s  {:>12.0} ops/s  {:>8.1} MB/s",
        secs,
        ops as f64 / secs,
        (ops as f64 * (KEY_LEN + VALUE_LEN) as f64) / secs / 1e6
    );
}

/// Visits 0..n in a scattered order (a full-period step through the ring).
fn scattered(n: u64) -> impl Iterator<Item = u64> {
    let step = (n / 2 + 1..).find(|s| gcd(*s, n) == 1).unwrap_or(1);
    (0..n).map(move |i| (i * step) % n)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn read_all(db: &Bitcask, n: u64, round: u8) {
    for i in scattered(n) {
        let ok = db
            .get_with(&key(i), |v| v == value(i, round))
            .expect("read failed");
        assert_eq!(ok, Some(true), "key {i} missing or wrong");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let opts = Options::default();
    println!(
        "bitcask {} demo: {n} keys of {KEY_LEN} B, values of {VALUE_LEN} B, store in {}",
        env!("CARGO_PKG_VERSION"),
        dir.path().display()
    );

    let db = Bitcask::open(dir.path(), &opts)?;
    let t = Instant::now();
    for i in 0..n {
        db.put(&key(i), &value(i, 1))?;
    }
    report("fill (random keys)", n, t.elapsed());

    let t = Instant::now();
    read_all(&db, n, 1);
    report("read (random, verified)", n, t.elapsed());

    let t = Instant::now();
    for i in scattered(n) {
        db.put(&key(i), &value(i, 2))?;
    }
    report("overwrite", n, t.elapsed());

    let t = Instant::now();
    let mut seen = 0u64;
    let _ = db.fold(|_, v| {
        seen += (v[8] == 2) as u64;
        std::ops::ControlFlow::Continue(())
    })?;
    assert_eq!(seen, n);
    report("fold (sequential)", n, t.elapsed());

    let stats = db.stats();
    db.close()?;

    let t = Instant::now();
    let db = Bitcask::open(dir.path(), &opts)?;
    let reopen = t.elapsed();
    assert_eq!(db.len() as u64, n);
    println!(
        "{:<24} {n:>10} keys {:>8.3} s  {:>12.0} ns/key (scan of {} data files, {:.1} MB)",
        "reopen",
        reopen.as_secs_f64(),
        reopen.as_nanos() as f64 / n as f64,
        stats.data_files,
        stats.total_bytes as f64 / 1e6
    );

    let t = Instant::now();
    read_all(&db, n, 2);
    report("read after reopen", n, t.elapsed());
    println!(
        "disk: {:.1} MB total, {:.1} MB live, {:.1} MB dead",
        stats.total_bytes as f64 / 1e6,
        stats.live_bytes as f64 / 1e6,
        stats.dead_bytes as f64 / 1e6
    );
    db.close()?;
    Ok(())
}
