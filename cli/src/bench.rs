//! `bench`: a db_bench-style workload on a fresh store, phase by phase, with throughput and
//! latency percentiles.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::args::{Parsed, Spec, flag, val};
use crate::hist::Histogram;
use crate::{CmdResult, Fail};
use bitcask::{Bitcask, Options, SyncMode};
use fastrand::Rng;

pub static BENCH: Spec = Spec {
    name: "bench",
    about: "Run a configurable workload, like LevelDB's db_bench, and print ops/s, MB/s and latency \
            percentiles per phase. Runs on a fresh store in a temporary directory, removed afterwards.",
    positionals: &[],
    options: &[
        val("keys", "N", "number of keys (default 1000000)"),
        val(
            "key-size",
            "BYTES",
            "key length (default 16; keys are zero-padded decimal numbers)",
        ),
        val("value-size", "BYTES", "value length (default 100)"),
        val(
            "threads",
            "N",
            "threads sharing the handle in each phase (default 1)",
        ),
        val(
            "sync",
            "MODE",
            "none (default), always, interval (1 s) or interval:MS",
        ),
        val(
            "phases",
            "LIST",
            "comma-separated, run in the order given (default: all, in the order below)",
        ),
        val(
            "dir",
            "DIR",
            "run in DIR (created if missing) and keep it, instead of a temporary directory",
        ),
        val("seed", "N", "random seed (default 1)"),
        flag(
            "presize",
            "size the index for --keys at open (Options::expected_keys): no rehash during fill",
        ),
        flag("json", "print one JSON object instead of the table"),
    ],
    notes: "Phases:\n\
  fill         put every key once, in random order\n\
  read         get random existing keys (uniform, with repeats); every value is checked\n\
  readmissing  get random keys that do not exist\n\
  overwrite    put random existing keys again (afterwards about half the bytes are dead)\n\
  mixed        90% read / 10% overwrite, random keys\n\
  merge        one full merge (ops = 1; MB/s = bytes of data files read)\n\
  reopen       close, then open again (ops = keys loaded; MB/s = bytes of data files)\n\
Each phase runs `--keys` operations, split between the threads. Latency is per operation,\n\
measured around each call and counted in a log-bucketed histogram (within 3%).\n\
MB/s counts key + value bytes (key bytes only for readmissing), in 10^6 bytes.",
    examples: &[
        "bitcask bench",
        "bitcask bench --keys 100000 --threads 2 --phases fill,read,mixed",
        "bitcask bench --sync always --keys 10000 --json",
        "bitcask bench --dir /mnt/ssd/bench-store --value-size 4096",
    ],
};

const ALL_PHASES: [&str; 7] = [
    "fill",
    "read",
    "readmissing",
    "overwrite",
    "mixed",
    "merge",
    "reopen",
];

struct Config {
    keys: u64,
    key_size: usize,
    value_size: usize,
    threads: usize,
    sync: SyncMode,
    sync_name: String,
    phases: Vec<&'static str>,
    seed: u64,
    presize: bool,
}

struct PhaseResult {
    name: &'static str,
    ops: u64,
    secs: f64,
    bytes: u64,
    hist: Histogram,
    /// Phase-specific facts, printed after the numbers.
    extra: Vec<(&'static str, u64)>,
}

fn config(p: &Parsed) -> Result<Config, Fail> {
    let u = Fail::Usage;
    let keys: u64 = p.number("keys", 1_000_000).map_err(u)?;
    let key_size: usize = p.number("key-size", 16).map_err(Fail::Usage)?;
    let value_size: usize = p.number("value-size", 100).map_err(Fail::Usage)?;
    let threads: usize = p.number("threads", 1).map_err(Fail::Usage)?;
    let seed: u64 = p.number("seed", 1).map_err(Fail::Usage)?;
    if keys == 0 || keys > 1 << 32 {
        return Err(Fail::Usage("--keys must be 1 ..= 4294967296".into()));
    }
    // readmissing uses the numbers keys..2*keys, which must fit the key size too.
    let digits = (2 * keys).to_string().len();
    if key_size < digits || key_size > 64 << 10 {
        return Err(Fail::Usage(format!(
            "--key-size must be {digits} ..= 65536 for {keys} keys"
        )));
    }
    if value_size > 64 << 20 {
        return Err(Fail::Usage("--value-size must be at most 67108864".into()));
    }
    if threads == 0 || threads > 1024 {
        return Err(Fail::Usage("--threads must be 1 ..= 1024".into()));
    }
    let sync_name = p
        .value("sync")
        .map_or("none".into(), |v| v.to_string_lossy().into_owned());
    let sync = match sync_name.as_str() {
        "none" => SyncMode::None,
        "always" => SyncMode::Always,
        "interval" => SyncMode::Interval(Duration::from_secs(1)),
        s => match s
            .strip_prefix("interval:")
            .and_then(|ms| ms.parse::<u64>().ok())
        {
            Some(ms) if ms >= 1 => SyncMode::Interval(Duration::from_millis(ms)),
            _ => {
                return Err(Fail::Usage(format!(
                    "--sync: '{s}' is not none, always, interval or interval:MS"
                )));
            }
        },
    };
    let phases = match p.value("phases") {
        None => ALL_PHASES.to_vec(),
        Some(list) => {
            let list = list.to_string_lossy();
            let mut v = Vec::new();
            for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match ALL_PHASES.iter().find(|&&p| p == name) {
                    Some(&p) => v.push(p),
                    None => {
                        return Err(Fail::Usage(format!(
                            "--phases: unknown phase '{name}' (known: {})",
                            ALL_PHASES.join(",")
                        )));
                    }
                }
            }
            if v.is_empty() {
                return Err(Fail::Usage("--phases is empty".into()));
            }
            v
        }
    };
    Ok(Config {
        keys,
        key_size,
        value_size,
        threads,
        sync,
        sync_name,
        phases,
        seed,
        presize: p.flag("presize"),
    })
}

/// Writes key number `i` into `buf` (zero-padded decimal, `buf.len()` digits).
fn key_into(buf: &mut [u8], mut i: u64) {
    for b in buf.iter_mut().rev() {
        *b = b'0' + (i % 10) as u8;
        i /= 10;
    }
}

/// Values are windows into one random buffer, at an offset that depends on the key, so a read
/// can be checked without storing what was written.
struct Values {
    pool: Vec<u8>,
    size: usize,
}

const VALUE_OFFSETS: u64 = 61;

impl Values {
    fn new(size: usize, seed: u64) -> Self {
        let mut pool = vec![0; size + VALUE_OFFSETS as usize];
        Rng::with_seed(seed ^ 0xA5A5).fill(&mut pool);
        Values { pool, size }
    }
    fn of(&self, i: u64) -> &[u8] {
        let at = (i % VALUE_OFFSETS) as usize;
        &self.pool[at..at + self.size]
    }
}

pub fn cmd_bench(_: &Spec, p: &Parsed) -> CmdResult {
    let cfg = config(p)?;
    let temp;
    let (dir, kept): (PathBuf, bool) = match p.value("dir") {
        Some(d) => (PathBuf::from(d), true),
        None => {
            temp = tempfile::Builder::new()
                .prefix("bitcask-bench-")
                .tempdir()
                .map_err(|e| Fail::Error(format!("create a temporary directory: {e}")))?;
            (temp.path().to_path_buf(), false)
        }
    };
    let json = p.flag("json");
    if !json {
        println!(
            "bitcask bench: {} keys of {} B, values of {} B, {} thread{}, sync {}{}, {} ({})",
            cfg.keys,
            cfg.key_size,
            cfg.value_size,
            cfg.threads,
            if cfg.threads == 1 { "" } else { "s" },
            cfg.sync_name,
            if cfg.presize { ", index presized" } else { "" },
            dir.display(),
            if kept { "kept" } else { "removed afterwards" }
        );
        println!(
            "{:<12} {:>9} {:>9} {:>11} {:>8} {:>9} {:>9} {:>9} {:>9}",
            "phase", "ops", "seconds", "ops/s", "MB/s", "p50", "p99", "p99.9", "max"
        );
    }
    let results = run_phases(&cfg, &dir, json)?;
    if json {
        println!("{}", to_json(&cfg, &dir, kept, &results));
    }
    Ok(())
}

fn open(dir: &Path, cfg: &Config) -> Result<Bitcask, Fail> {
    let mut o = Options::default();
    o.sync(cfg.sync)?;
    if cfg.presize {
        o.expected_keys(cfg.keys)?;
    }
    Ok(Bitcask::open(dir, &o)?)
}

fn run_phases(cfg: &Config, dir: &Path, json: bool) -> Result<Vec<PhaseResult>, Fail> {
    let values = Values::new(cfg.value_size, cfg.seed);
    let mut db = Some(open(dir, cfg)?);
    let mut results = Vec::new();
    for &phase in &cfg.phases {
        let handle = db.as_ref().expect("open between phases");
        let r = match phase {
            "fill" => {
                let mut order: Vec<u64> = (0..cfg.keys).collect();
                Rng::with_seed(cfg.seed).shuffle(&mut order);
                ops_phase(
                    phase,
                    cfg,
                    handle,
                    &values,
                    |_, n| order[n as usize],
                    Op::Put,
                )?
            }
            "read" => ops_phase(
                phase,
                cfg,
                handle,
                &values,
                random_key(cfg.keys, 0),
                Op::Get,
            )?,
            "readmissing" => ops_phase(
                phase,
                cfg,
                handle,
                &values,
                random_key(cfg.keys, cfg.keys),
                Op::GetMissing,
            )?,
            "overwrite" => ops_phase(
                phase,
                cfg,
                handle,
                &values,
                random_key(cfg.keys, 0),
                Op::Put,
            )?,
            "mixed" => ops_phase(
                phase,
                cfg,
                handle,
                &values,
                random_key(cfg.keys, 0),
                Op::Mixed,
            )?,
            "merge" => {
                let before = handle.stats();
                let t = Instant::now();
                handle.merge()?;
                let elapsed = t.elapsed();
                let after = handle.stats();
                let mut hist = Histogram::default();
                hist.record(elapsed.as_nanos() as u64);
                PhaseResult {
                    name: phase,
                    ops: 1,
                    secs: elapsed.as_secs_f64(),
                    bytes: before.total_bytes,
                    hist,
                    extra: vec![
                        ("bytes_before", before.total_bytes),
                        ("bytes_after", after.total_bytes),
                    ],
                }
            }
            "reopen" => {
                db.take().expect("open").close()?;
                let t = Instant::now();
                let reopened = open(dir, cfg)?;
                let elapsed = t.elapsed();
                let s = reopened.stats();
                db = Some(reopened);
                let mut hist = Histogram::default();
                hist.record(elapsed.as_nanos() as u64);
                PhaseResult {
                    name: phase,
                    ops: s.keys,
                    secs: elapsed.as_secs_f64(),
                    bytes: s.total_bytes,
                    hist,
                    extra: vec![
                        ("hint_files_loaded", s.hint_files_loaded),
                        ("data_files_scanned", s.data_files_scanned),
                    ],
                }
            }
            _ => unreachable!("phases are validated"),
        };
        if !json {
            print_row(&r);
        }
        results.push(r);
    }
    db.take().expect("open").close()?;
    Ok(results)
}

/// Key numbers drawn uniformly from `base..base + keys`.
fn random_key(keys: u64, base: u64) -> impl Fn(&mut Rng, u64) -> u64 + Sync {
    move |rng, _| base + rng.u64(..keys)
}

#[derive(Clone, Copy)]
enum Op {
    Put,
    Get,
    GetMissing,
    Mixed,
}

/// Runs `cfg.keys` operations split between `cfg.threads` threads; `pick(rng, n)` chooses the
/// key number of operation `n`.
fn ops_phase(
    name: &'static str,
    cfg: &Config,
    db: &Bitcask,
    values: &Values,
    pick: impl Fn(&mut Rng, u64) -> u64 + Sync,
    op: Op,
) -> Result<PhaseResult, Fail> {
    let failure: Mutex<Option<String>> = Mutex::new(None);
    let per_thread = cfg.keys.div_ceil(cfg.threads as u64);
    let started = Instant::now();
    let outcomes: Vec<(Histogram, u64, u64, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cfg.threads as u64)
            .map(|t| {
                let (pick, failure) = (&pick, &failure);
                s.spawn(move || {
                    let mut hist = Histogram::default();
                    let mut rng = Rng::with_seed(
                        cfg.seed.wrapping_add(t + 1).wrapping_mul(31) ^ name.len() as u64,
                    );
                    let mut key = vec![0u8; cfg.key_size];
                    let (mut found, mut bytes, mut writes) = (0u64, 0u64, 0u64);
                    let from = t * per_thread;
                    let to = (from + per_thread).min(cfg.keys);
                    for n in from..to {
                        let i = pick(&mut rng, n);
                        key_into(&mut key, i);
                        let write = match op {
                            Op::Put => true,
                            Op::Get | Op::GetMissing => false,
                            Op::Mixed => rng.u8(..10) == 0,
                        };
                        let t0 = Instant::now();
                        let result = if write {
                            db.put(&key, values.of(i)).map(|()| None)
                        } else {
                            db.get(&key)
                        };
                        hist.record(t0.elapsed().as_nanos() as u64);
                        match result {
                            Ok(Some(v)) => {
                                found += 1;
                                bytes += (cfg.key_size + v.len()) as u64;
                                if v != values.of(i) {
                                    *failure.lock().unwrap() = Some(format!(
                                        "{name}: key {} read back a wrong value",
                                        String::from_utf8_lossy(&key)
                                    ));
                                    break;
                                }
                            }
                            Ok(None) if write => {
                                writes += 1;
                                bytes += (cfg.key_size + cfg.value_size) as u64;
                            }
                            Ok(None) => bytes += cfg.key_size as u64,
                            Err(e) => {
                                *failure.lock().unwrap() = Some(format!("{name}: {e}"));
                                break;
                            }
                        }
                    }
                    (hist, found, bytes, writes)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread panicked"))
            .collect()
    });
    let secs = started.elapsed().as_secs_f64();
    if let Some(msg) = failure.into_inner().unwrap() {
        return Err(Fail::Error(msg));
    }
    let mut hist = Histogram::default();
    let (mut found, mut bytes, mut writes) = (0, 0, 0);
    for (h, f, b, w) in &outcomes {
        hist.merge(h);
        found += f;
        bytes += b;
        writes += w;
    }
    let extra = match op {
        Op::Get | Op::GetMissing => vec![("found", found)],
        Op::Mixed => vec![("found", found), ("writes", writes)],
        Op::Put => vec![],
    };
    if matches!(op, Op::GetMissing) && found > 0 {
        return Err(Fail::Error(format!(
            "readmissing: {found} absent keys were found"
        )));
    }
    Ok(PhaseResult {
        name,
        ops: cfg.keys,
        secs,
        bytes,
        hist,
        extra,
    })
}

fn per_sec(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

fn latency(nanos: u64) -> String {
    if nanos < 10_000 {
        format!("{:.2} µs", nanos as f64 / 1e3)
    } else if nanos < 10_000_000 {
        format!("{:.0} µs", nanos as f64 / 1e3)
    } else if nanos < 10_000_000_000 {
        format!("{:.0} ms", nanos as f64 / 1e6)
    } else {
        format!("{:.1} s", nanos as f64 / 1e9)
    }
}

fn print_row(r: &PhaseResult) {
    let h = &r.hist;
    let mut extra = String::new();
    for (k, v) in &r.extra {
        extra.push_str(&format!("  {k}={v}"));
    }
    // One merge per run: a rate of merges per second says nothing.
    let rate = if r.name == "merge" {
        "-".to_string()
    } else {
        format!("{:.0}", per_sec(r.ops, r.secs))
    };
    println!(
        "{:<12} {:>9} {:>9.3} {:>11} {:>8.1} {:>9} {:>9} {:>9} {:>9}{extra}",
        r.name,
        r.ops,
        r.secs,
        rate,
        per_sec(r.bytes, r.secs) / 1e6,
        latency(h.quantile(0.50)),
        latency(h.quantile(0.99)),
        latency(h.quantile(0.999)),
        latency(h.max()),
    );
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn to_json(cfg: &Config, dir: &Path, kept: bool, results: &[PhaseResult]) -> String {
    let phases: Vec<String> = results
        .iter()
        .map(|r| {
            let h = &r.hist;
            let mut extra = String::new();
            for (k, v) in &r.extra {
                extra.push_str(&format!(",\"{k}\":{v}"));
            }
            format!(
                "{{\"phase\":\"{}\",\"ops\":{},\"seconds\":{:.6},\"ops_per_sec\":{:.1},\"mb_per_sec\":{:.3},\"bytes\":{},\"latency_ns\":{{\"p50\":{},\"p99\":{},\"p99_9\":{},\"max\":{}}}{extra}}}",
                r.name,
                r.ops,
                r.secs,
                per_sec(r.ops, r.secs),
                per_sec(r.bytes, r.secs) / 1e6,
                r.bytes,
                h.quantile(0.50),
                h.quantile(0.99),
                h.quantile(0.999),
                h.max()
            )
        })
        .collect();
    format!(
        "{{\"keys\":{},\"key_size\":{},\"value_size\":{},\"threads\":{},\"sync\":{},\"presize\":{},\"dir\":{},\"dir_kept\":{},\"phases\":[{}]}}",
        cfg.keys,
        cfg.key_size,
        cfg.value_size,
        cfg.threads,
        json_str(&cfg.sync_name),
        cfg.presize,
        json_str(&dir.to_string_lossy()),
        kept,
        phases.join(",")
    )
}
