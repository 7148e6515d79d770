//! Memory and speed of the keydir against a `HashMap<Box<[u8]>, Loc>` baseline.
//!
//! `cargo bench --bench keydir_mem [-- KEYS]` (default 10 million 16-byte keys). Each structure is
//! measured in a child process of its own, so the RSS growth of one is not hidden by memory the
//! allocator kept from the other.

mod common;
use bitcask::keydir::{KeyDir, Loc};
use common::key;
use std::collections::HashMap;
use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

const DEFAULT_KEYS: u64 = 10_000_000;
/// Lookups per timed run: enough to leave the caches, short enough for a 2-core machine.
const MAX_LOOKUPS: u64 = 2_000_000;
const RUNS: usize = 3;

fn loc(i: u64) -> Loc {
    Loc {
        file_id: (i >> 20) as u32,
        offset: i as u32,
        len: 64,
        expires: 0,
    }
}

/// The lookup interface both structures are timed through.
trait Map: Sync {
    fn lookup(&self, key: &[u8]) -> Option<Loc>;
}

impl Map for KeyDir {
    fn lookup(&self, key: &[u8]) -> Option<Loc> {
        self.get(key)
    }
}

impl Map for HashMap<Box<[u8]>, Loc> {
    fn lookup(&self, key: &[u8]) -> Option<Loc> {
        self.get(key).copied()
    }
}

fn page_size() -> u64 {
    std::fs::read_to_string("/proc/self/smaps")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("KernelPageSize:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(4096, |kb| kb * 1024)
}

/// Resident set size in bytes, from /proc/self/statm (0 where that does not exist).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page_size())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `threads` threads each do `lookups` random gets of keys `base..base + n`; returns ns per get
/// as seen by one thread (wall time / lookups per thread).
fn time_gets(m: &impl Map, base: u64, n: u64, lookups: u64, threads: u64, hit: bool) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let mut rng = fastrand::Rng::with_seed(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
                let mut found = 0u64;
                for _ in 0..lookups {
                    found += u64::from(m.lookup(&key(base + rng.u64(..n))).is_some());
                }
                assert_eq!(found, if hit { lookups } else { 0 });
                black_box(found);
            });
        }
    });
    start.elapsed().as_nanos() as f64 / lookups as f64
}

struct Result {
    name: &'static str,
    keys: u64,
    heap: u64,
    rss: u64,
    insert_ns: f64,
    get1_ns: f64,
    get2_ns: f64,
    miss_ns: f64,
}

impl Result {
    fn print(&self) {
        let n = self.keys as f64;
        println!("== {} ==", self.name);
        println!("keys                 {}", self.keys);
        println!("heap bytes/key       {:.2}", self.heap as f64 / n);
        println!(
            "overhead B/key       {:.2} (heap - 16 B key)",
            self.heap as f64 / n - 16.0
        );
        println!("RSS growth B/key     {:.2}", self.rss as f64 / n);
        println!("RSS overhead B/key   {:.2}", self.rss as f64 / n - 16.0);
        println!("insert ns/key        {:.1}", self.insert_ns);
        println!("get ns/key, 1 thread {:.1}", self.get1_ns);
        println!(
            "get ns/key, 2 thr.   {:.1} per thread ({:.1} Mget/s total)",
            self.get2_ns,
            2000.0 / self.get2_ns
        );
        println!("get-miss ns/key      {:.1}", self.miss_ns);
        // One line the parent process parses.
        println!(
            "RESULT {} {} {} {} {} {} {} {}",
            self.name,
            self.keys,
            self.heap,
            self.rss,
            self.insert_ns,
            self.get1_ns,
            self.get2_ns,
            self.miss_ns
        );
    }

    fn parse(line: &str) -> Option<Result> {
        let mut f = line.strip_prefix("RESULT ")?.split_whitespace();
        let name = match f.next()? {
            "keydir" => "keydir",
            _ => "hashmap",
        };
        let mut num = || f.next()?.parse::<f64>().ok();
        Some(Result {
            name,
            keys: num()? as u64,
            heap: num()? as u64,
            rss: num()? as u64,
            insert_ns: num()?,
            get1_ns: num()?,
            get2_ns: num()?,
            miss_ns: num()?,
        })
    }
}

fn measure<M: Map>(
    name: &'static str,
    n: u64,
    build: impl FnOnce(u64) -> M,
    heap: impl Fn(&M) -> u64,
) -> Result {
    let rss0 = rss();
    let start = Instant::now();
    let m = build(n);
    let insert_ns = start.elapsed().as_nanos() as f64 / n as f64;
    let rss = rss().saturating_sub(rss0);
    let lookups = n.min(MAX_LOOKUPS);
    let runs = |threads, base, hit| {
        median(
            (0..RUNS)
                .map(|_| time_gets(&m, base, n, lookups, threads, hit))
                .collect(),
        )
    };
    let get1_ns = runs(1, 0, true);
    let get2_ns = runs(2, 0, true);
    // Keys n..2n were never inserted.
    let miss_ns = runs(1, n, false);
    Result {
        name,
        keys: n,
        heap: heap(&m),
        rss,
        insert_ns,
        get1_ns,
        get2_ns,
        miss_ns,
    }
}

fn run(which: &str, n: u64) -> Result {
    if which == "keydir" {
        measure(
            "keydir",
            n,
            |n| {
                let kd = KeyDir::new();
                for i in 0..n {
                    kd.insert(&key(i), loc(i));
                }
                kd
            },
            |kd| kd.heap_bytes() as u64,
        )
    } else {
        measure(
            "hashmap",
            n,
            |n| {
                let mut m: HashMap<Box<[u8]>, Loc> = HashMap::new();
                for i in 0..n {
                    m.insert(Box::from(&key(i)[..]), loc(i));
                }
                m
            },
            // hashbrown: buckets of (fat pointer, Loc) plus one control byte each, at a
            // power-of-two bucket count with 7/8 usable; plus the 16 key bytes per key. malloc's
            // per-allocation overhead is not included (RSS shows it).
            |m| {
                let buckets = (m.capacity() as u64 * 8 / 7).next_power_of_two();
                buckets * (size_of::<(Box<[u8]>, Loc)>() as u64 + 1) + m.len() as u64 * 16
            },
        )
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` appends `--bench`; ignore flags other than our own.
    let n = args
        .iter()
        .find_map(|a| a.parse::<u64>().ok())
        .unwrap_or(DEFAULT_KEYS)
        .max(1);
    if let Some(which) = args.iter().find_map(|a| a.strip_prefix("--only=")) {
        run(which, n).print();
        return;
    }
    println!("keydir_mem: {n} keys of 16 bytes, gets: median of {RUNS} runs\n");
    let mut results = Vec::new();
    for which in ["keydir", "hashmap"] {
        let child = std::env::current_exe().and_then(|exe| {
            Command::new(exe)
                .arg(n.to_string())
                .arg(format!("--only={which}"))
                .output()
        });
        let r = match child {
            Ok(out) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout);
                text.lines()
                    .filter(|l| !l.starts_with("RESULT "))
                    .for_each(|l| println!("{l}"));
                text.lines().find_map(Result::parse)
            }
            _ => None,
        };
        // Fall back to measuring in this process if the child could not run.
        let r = r.unwrap_or_else(|| {
            let r = run(which, n);
            r.print();
            r
        });
        println!();
        results.push(r);
    }
    let (k, h) = (&results[0], &results[1]);
    let n = n as f64;
    println!("== keydir / hashmap ==");
    println!("heap bytes/key       {:.2}", k.heap as f64 / h.heap as f64);
    println!(
        "RSS growth           {:.2}",
        k.rss as f64 / h.rss.max(1) as f64
    );
    println!("insert ns            {:.2}", k.insert_ns / h.insert_ns);
    println!("get ns, 1 thread     {:.2}", k.get1_ns / h.get1_ns);
    println!("get ns, 2 threads    {:.2}", k.get2_ns / h.get2_ns);
    println!("get-miss ns          {:.2}", k.miss_ns / h.miss_ns);
    println!(
        "memory saved         {:.1} B/key (RSS)",
        (h.rss as f64 - k.rss as f64) / n
    );
}
