//! What hint files save at open, how fast a merge runs, and what a merge running alongside costs
//! readers and writers.
//!
//! `cargo bench --bench merge [-- --keys N] [--big]` (default 1,000,000 keys).
//!
//! Keys are 16 random-looking bytes, values 100 bytes, data files at most 32 MiB (so even the
//! default store has several). Stores live in `tempfile::tempdir()` directories:
//! 1. Reopen: time from `Bitcask::open` to the first successful `get` of an N-key store, (a) after
//!    a normal close (every data file has a hint) and (b) with every `*.hint` deleted first (every
//!    data file is scanned); median of 3 opens each. `--big` adds a 10,000,000-key store.
//! 2. Merge throughput: N keys written, all overwritten once (half the bytes dead), one `merge()`.
//! 3. Latency during a merge: the store of part 2 overwritten once more, then `merge()` on one
//!    thread while one thread overwrites random existing keys and another reads random keys, each
//!    as fast as it can, timing every operation; then the same two threads for as long again with
//!    no merge (the baseline).
//!
//! The files stay in the page cache throughout (dropping it needs root), so the numbers measure
//! CPU, memory and page-cache copies, not disk reads.

mod common;
use common::{key, mix};
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use bitcask::{Bitcask, Options, Stats};
use fastrand::Rng;

const DEFAULT_KEYS: u64 = 1_000_000;
const BIG_KEYS: u64 = 10_000_000;
const VALUE_LEN: usize = 100;
const MAX_FILE_SIZE: u64 = 32 << 20;
const OPENS: usize = 3;
const MB: f64 = 1e6;

/// A 100-byte value that differs per key and per version.
fn value(i: u64, version: u64, out: &mut [u8; VALUE_LEN]) {
    let mut x = mix(i ^ version.rotate_left(32));
    for chunk in out.chunks_mut(8) {
        x = mix(x);
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
}

fn options() -> Options {
    let mut o = Options::default();
    o.max_file_size(MAX_FILE_SIZE).expect("valid file size");
    o
}

/// Writes version `version` of keys `0..n`; returns puts per second.
fn write_all(db: &Bitcask, n: u64, version: u64) -> f64 {
    let mut v = [0u8; VALUE_LEN];
    let start = Instant::now();
    for i in 0..n {
        value(i, version, &mut v);
        db.put(&key(i), &v).expect("put");
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    db.sync().expect("sync");
    rate
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / MB)
}

// ---------------------------------------------------------------------------------------------
// Part 1: reopen with and without hints.

struct Open {
    secs: f64,
    stats: Stats,
}

/// Opens the store and reads one key; the time covers both. Closes it afterwards (untimed; after
/// a hintless open the close waits for the background thread to write the hints again).
fn timed_open(dir: &Path, probe: &[u8]) -> Open {
    let start = Instant::now();
    let db = Bitcask::open(dir, &options()).expect("open");
    let found = db.get(probe).expect("get");
    let secs = start.elapsed().as_secs_f64();
    found.expect("the probe key is missing after reopen: the store is broken");
    let stats = db.stats();
    db.close().expect("close");
    Open { secs, stats }
}

fn remove_hints(dir: &Path) -> usize {
    let mut removed = 0;
    for entry in fs::read_dir(dir).expect("list store") {
        let path = entry.expect("list store").path();
        if path.extension().is_some_and(|e| e == "hint") {
            fs::remove_file(&path).expect("remove hint");
            removed += 1;
        }
    }
    removed
}

fn reopen(n: u64) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Bitcask::open(tmp.path(), &options()).expect("open");
    let fill_rate = write_all(&db, n, 0);
    let stats = db.stats();
    db.close().expect("close");
    println!(
        "\n{} keys: {} in {} data files (filled at {:.0}k puts/s)",
        thousands(n),
        mb(stats.total_bytes),
        stats.data_files,
        fill_rate / 1e3
    );

    let probe = key(n / 2);
    let mut with = Vec::new();
    let mut without = Vec::new();
    let mut hints_removed = 0;
    // Alternate the two kinds so that drift over the run affects both alike.
    for _ in 0..OPENS {
        with.push(timed_open(tmp.path(), &probe));
        hints_removed = remove_hints(tmp.path());
        without.push(timed_open(tmp.path(), &probe));
    }
    let row = |name: &str, opens: &[Open]| {
        let secs = median(opens.iter().map(|o| o.secs).collect());
        let s = &opens[0].stats;
        println!(
            "  {name:<26} {:>9.4} {:>9.1} {:>7} {:>7}   {}",
            secs,
            secs * 1e9 / n as f64,
            s.hint_files_loaded,
            s.data_files_scanned,
            opens
                .iter()
                .map(|o| format!("{:.4}", o.secs))
                .collect::<Vec<_>>()
                .join(" ")
        );
        secs
    };
    println!(
        "  {:<26} {:>9} {:>9} {:>7} {:>7}   all runs (s)",
        "open + first get", "median s", "ns/key", "hinted", "scanned"
    );
    let a = row("(a) with hints", &with);
    let b = row(&format!("(b) no hints ({hints_removed} deleted)"), &without);
    println!("  {:<26} {:>9.2}x", "ratio (b)/(a)", b / a);
}

// ---------------------------------------------------------------------------------------------
// Part 2: merge throughput.

fn merge_throughput(db: &Bitcask, n: u64) {
    let first = write_all(db, n, 0);
    let second = write_all(db, n, 1);
    let before = db.stats();
    let start = Instant::now();
    db.merge().expect("merge");
    let secs = start.elapsed().as_secs_f64();
    let after = db.stats();
    println!(
        "\n{} keys written ({:.0}k puts/s), then all overwritten ({:.0}k puts/s)",
        thousands(n),
        first / 1e3,
        second / 1e3
    );
    // The merge seals the active file first, so every data file present before is an input.
    println!(
        "  files before/after         {} / {}",
        before.data_files, after.data_files
    );
    println!(
        "  total_bytes before/after   {} / {}  (dead before: {})",
        mb(before.total_bytes),
        mb(after.total_bytes),
        mb(before.dead_bytes)
    );
    println!("  merge time                 {secs:.3} s");
    println!(
        "  read   (inputs, all files) {:>8.1} MB/s  ({})",
        before.total_bytes as f64 / MB / secs,
        mb(before.total_bytes)
    );
    println!(
        "  write  (live bytes)        {:>8.1} MB/s  ({})",
        before.live_bytes as f64 / MB / secs,
        mb(before.live_bytes)
    );
}

// ---------------------------------------------------------------------------------------------
// Part 3: put and get latency with and without a merge running.

/// Latencies in nanoseconds, and gets that found no value.
struct Phase {
    secs: f64,
    puts: Vec<u64>,
    gets: Vec<u64>,
    misses: u64,
}

/// One putter and one getter run until the merge returns (`merge`) or for `duration`.
fn run_phase(db: &Bitcask, n: u64, merge: bool, duration: Duration) -> Phase {
    let stop = AtomicBool::new(false);
    let start_line = Barrier::new(3);
    let secs = Mutex::new(0.0);
    let (puts, (gets, misses)) = std::thread::scope(|s| {
        s.spawn(|| {
            start_line.wait();
            let start = Instant::now();
            if merge {
                db.merge().expect("merge");
            } else {
                std::thread::sleep(duration);
            }
            *secs.lock().unwrap() = start.elapsed().as_secs_f64();
            stop.store(true, Ordering::Relaxed);
        });
        let putter = s.spawn(|| {
            let mut rng = Rng::with_seed(0x9E37_79B9_7F4A_7C15);
            let mut v = [0u8; VALUE_LEN];
            let mut lat = Vec::with_capacity(1 << 22);
            start_line.wait();
            while !stop.load(Ordering::Relaxed) {
                let i = rng.u64(..n);
                value(i, 3 + lat.len() as u64, &mut v);
                let k = key(i);
                let t = Instant::now();
                db.put(&k, &v).expect("put");
                lat.push(t.elapsed().as_nanos() as u64);
            }
            lat
        });
        let getter = s.spawn(|| {
            let mut rng = Rng::with_seed(0xD1B5_4A32_D192_ED03);
            let mut lat = Vec::with_capacity(1 << 22);
            let mut misses = 0;
            start_line.wait();
            while !stop.load(Ordering::Relaxed) {
                let k = key(rng.u64(..n));
                let t = Instant::now();
                let found = db.get(&k).expect("get").is_some();
                lat.push(t.elapsed().as_nanos() as u64);
                misses += u64::from(!found);
            }
            (lat, misses)
        });
        (putter.join().unwrap(), getter.join().unwrap())
    });
    Phase {
        secs: secs.into_inner().unwrap(),
        puts,
        gets,
        misses,
    }
}

/// Nearest-rank percentile of sorted latencies, in microseconds.
fn pct(sorted: &[u64], p: f64) -> f64 {
    let rank = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1e3
}

fn latency_row(op: &str, phase: &str, secs: f64, lat: &mut [u64]) {
    lat.sort_unstable();
    if lat.is_empty() {
        println!("  {op:<4} {phase:<9} {:>10}", 0);
        return;
    }
    println!(
        "  {op:<4} {phase:<9} {:>10} {:>9.0}k {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        thousands(lat.len() as u64),
        lat.len() as f64 / secs / 1e3,
        pct(lat, 50.0),
        pct(lat, 99.0),
        pct(lat, 99.9),
        *lat.last().unwrap() as f64 / 1e3
    );
}

fn merge_latency(db: &Bitcask, n: u64) {
    write_all(db, n, 2);
    let before = db.stats();
    let mut during = run_phase(db, n, true, Duration::ZERO);
    let after = db.stats();
    db.sync().expect("sync");
    let mut baseline = run_phase(db, n, false, Duration::from_secs_f64(during.secs));
    println!(
        "\nall {} keys overwritten again; merge took {:.3} s with the load below \
         (total_bytes {} -> {})",
        thousands(n),
        during.secs,
        mb(before.total_bytes),
        mb(after.total_bytes)
    );
    println!(
        "  {:<4} {:<9} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "op", "phase", "count", "ops/s", "p50 µs", "p99 µs", "p99.9 µs", "max µs"
    );
    latency_row("put", "merge", during.secs, &mut during.puts);
    latency_row("put", "baseline", baseline.secs, &mut baseline.puts);
    latency_row("get", "merge", during.secs, &mut during.gets);
    latency_row("get", "baseline", baseline.secs, &mut baseline.gets);
    println!(
        "  gets that found no value: {} during the merge, {} in the baseline (every key exists)",
        during.misses, baseline.misses
    );
}

// ---------------------------------------------------------------------------------------------

fn usage() -> ! {
    eprintln!("usage: cargo bench --bench merge [-- --keys N] [--big]");
    std::process::exit(2);
}

/// A positive count; `1_000_000` and `1,000,000` are accepted.
fn parse_count(arg: Option<&str>) -> u64 {
    arg.and_then(|s| s.replace(['_', ','], "").parse::<u64>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| usage())
}

fn main() {
    let mut keys = DEFAULT_KEYS;
    let mut big = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--big" => big = true,
            // cargo bench passes this to every bench binary.
            "--bench" => {}
            "--keys" => keys = parse_count(args.next().as_deref()),
            _ => match arg.strip_prefix("--keys=") {
                Some(n) => keys = parse_count(Some(n)),
                None => usage(),
            },
        }
    }

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("bitcask merge benchmark");
    println!(
        "keys 16 B, values {VALUE_LEN} B, max_file_size {} MiB, sync none, {cores} cores, \
         stores under {}",
        MAX_FILE_SIZE >> 20,
        std::env::temp_dir().display()
    );
    println!(
        "All files are in the page cache (it cannot be dropped without root): \
         no disk reads are timed."
    );

    println!("\n== 1. Reopen: open to first successful get, median of {OPENS} ==");
    reopen(keys);
    if big && keys != BIG_KEYS {
        reopen(BIG_KEYS);
    }

    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Bitcask::open(tmp.path(), &options()).expect("open");
    println!("\n== 2. Merge throughput ==");
    merge_throughput(&db, keys);
    println!("\n== 3. Latency during a merge: 1 putter + 1 getter thread, closed loop ==");
    merge_latency(&db, keys);
    db.close().expect("close");
}
