//! Concurrency stress: 8 threads on one handle, each mixing puts, deletes, batches, gets,
//! `contains`, iterators, scans and folds, while another thread merges in a loop. Fixed op
//! count (`BITCASK_STRESS_OPS` per thread, default 4000; raise it for a long run).
//!
//! Every key is owned by one thread, which numbers its ops on that key 1, 2, 3, ...; op `n` is a
//! delete when `n % 5 == 4`, else a put (alone or in a batch) of a value that encodes (key,
//! owner, n, batch). The owner publishes `started[k] = n` before the call and
//! `committed[k] = n` after it returns. A reader loads `committed` before its read and `started`
//! after it, so what it sees must be the state after some op in that window (linearizability):
//! exactly the bytes of a put in the window, or absent if the window holds a delete (or op 0,
//! "never written"). Each reader also remembers the newest op it has seen per key and fails if a
//! later read goes back (per-key order never reversed). Snapshots (iterator, scan, fold) must
//! also never show half a batch: if one key shows batch B's put, every key of B must show that
//! put or a later op.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use bitcask::{Batch, Bitcask, Options};

mod common;
use fastrand::Rng;

const THREADS: usize = 8;
const KEYS_PER_THREAD: usize = 48;
const KEYS: usize = THREADS * KEYS_PER_THREAD;

fn key(k: usize) -> Vec<u8> {
    format!("key{k:05}").into_bytes()
}

fn is_delete(n: u64) -> bool {
    n % 5 == 4
}

/// The value op `n` on key `k` writes; `batch` is 0 outside a batch.
fn value(k: usize, n: u64, batch: u64) -> Vec<u8> {
    let owner = k / KEYS_PER_THREAD;
    let mut v = format!("{k}:{owner}:{n}:{batch}:").into_bytes();
    let len = match (k as u64 * 7 + n) % 23 {
        0 => 2500, // rotations
        l => (l * 11) as usize,
    };
    v.resize(v.len().max(len), (n % 251) as u8);
    v
}

/// (n, batch) of a value, after checking it is exactly what op n on key k wrote.
fn decode(k: usize, v: &[u8]) -> Result<(u64, u64), String> {
    let text = String::from_utf8_lossy(&v[..v.len().min(40)]).into_owned();
    let f: Vec<&str> = text.split(':').collect();
    let parse = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok());
    match (parse(0), parse(2), parse(3)) {
        (Some(kk), Some(n), Some(b)) if kk as usize == k && value(k, n, b) == v => Ok((n, b)),
        _ => Err(format!("key {k} holds bytes no op wrote: {text:?}")),
    }
}

struct Shared {
    started: Vec<AtomicU64>,
    committed: Vec<AtomicU64>,
    /// Batch id -> its (key, n) puts; registered before the batch is written.
    batches: Mutex<HashMap<u64, Vec<(usize, u64)>>>,
    failed: AtomicBool,
}

/// What one reader has seen so far (per key, the newest op number).
struct Reader {
    seen: Vec<u64>,
}

impl Reader {
    /// Checks one observation of key `k` (None = absent) against the window `[lo, hi]` and this
    /// reader's history; returns the op number it stands for.
    fn observe(&mut self, k: usize, got: Option<&[u8]>, lo: u64, hi: u64) -> Result<u64, String> {
        let floor = lo.max(self.seen[k]);
        let n = match got {
            Some(v) => {
                let (n, _) = decode(k, v)?;
                if is_delete(n) || n < floor || n > hi {
                    return Err(format!(
                        "key {k}: read op {n}'s value; allowed ops {floor}..={hi} (window \
                         {lo}..={hi}, this reader already saw {})",
                        self.seen[k]
                    ));
                }
                n
            }
            // The oldest delete (or "never written") that explains it.
            None => (floor..=hi)
                .find(|&n| n == 0 || is_delete(n))
                .ok_or_else(|| {
                    format!(
                        "key {k}: absent, but no delete among allowed ops {floor}..={hi} (window \
                         {lo}..={hi}, this reader already saw {})",
                        self.seen[k]
                    )
                })?,
        };
        self.seen[k] = n;
        Ok(n)
    }
}

fn window_start(s: &Shared) -> Vec<u64> {
    s.committed.iter().map(|c| c.load(SeqCst)).collect()
}

fn window_end(s: &Shared) -> Vec<u64> {
    s.started.iter().map(|c| c.load(SeqCst)).collect()
}

/// Checks a snapshot (key -> value) of every key.
fn check_snapshot(
    s: &Shared,
    r: &mut Reader,
    snap: &HashMap<usize, Vec<u8>>,
    lo: &[u64],
    hi: &[u64],
    what: &str,
) -> Result<(), String> {
    let mut ops = vec![0u64; KEYS];
    for k in 0..KEYS {
        ops[k] = r
            .observe(k, snap.get(&k).map(Vec::as_slice), lo[k], hi[k])
            .map_err(|e| format!("{what}: {e}"))?;
    }
    let batches = s.batches.lock().unwrap();
    for (&k, v) in snap {
        let (n, b) = decode(k, v)?;
        if b == 0 {
            continue;
        }
        for &(other, other_n) in &batches[&b] {
            // The snapshot reflects batch b for k, so it must for `other` too (or later): its
            // value from that op or a later one, or absent by a later delete.
            let ok = match snap.get(&other) {
                Some(_) => ops[other] >= other_n,
                None => (other_n..=hi[other]).any(is_delete),
            };
            if !ok {
                return Err(format!(
                    "{what}: half a batch: key {k} shows op {n} of batch {b}, key {other} shows \
                     op {} before that batch's op {other_n}",
                    ops[other]
                ));
            }
        }
    }
    Ok(())
}

fn parse_key(k: &[u8]) -> Result<usize, String> {
    std::str::from_utf8(k)
        .ok()
        .and_then(|s| s.strip_prefix("key"))
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n < KEYS && key(n) == k)
        .ok_or_else(|| format!("a key no op wrote: {k:?}"))
}

fn worker(db: &Bitcask, s: &Shared, t: usize, ops: u64, seed: u64) -> Result<(), String> {
    let mut rng = Rng::with_seed(seed ^ ((t as u64 + 1) * 0x51_7CC1));
    let mine = t * KEYS_PER_THREAD..(t + 1) * KEYS_PER_THREAD;
    let mut next_n = vec![1u64; KEYS_PER_THREAD];
    let mut r = Reader {
        seen: vec![0; KEYS],
    };
    let mut batch = Batch::new();
    for i in 0..ops {
        if s.failed.load(SeqCst) {
            return Ok(());
        }
        match rng.u64(..100) {
            // A write to one of this thread's keys.
            0..=34 => {
                let k = mine.start + rng.usize(..KEYS_PER_THREAD);
                let n = next_n[k - mine.start];
                next_n[k - mine.start] += 1;
                s.started[k].store(n, SeqCst);
                if is_delete(n) {
                    db.delete(&key(k)).map_err(|e| e.to_string())?;
                } else {
                    db.put(&key(k), &value(k, n, 0))
                        .map_err(|e| e.to_string())?;
                }
                s.committed[k].store(n, SeqCst);
            }
            // A batch of puts to 2-5 of this thread's keys (due deletes happen alone first).
            35..=44 => {
                let id = ((t as u64 + 1) << 40) | i;
                let mut items = Vec::new();
                while items.len() < 2 + rng.usize(..4) {
                    let k = mine.start + rng.usize(..KEYS_PER_THREAD);
                    if items.iter().any(|&(kk, _)| kk == k) {
                        continue;
                    }
                    let slot = &mut next_n[k - mine.start];
                    if is_delete(*slot) {
                        s.started[k].store(*slot, SeqCst);
                        db.delete(&key(k)).map_err(|e| e.to_string())?;
                        s.committed[k].store(*slot, SeqCst);
                        *slot += 1;
                    }
                    items.push((k, *slot));
                    *slot += 1;
                }
                s.batches.lock().unwrap().insert(id, items.clone());
                batch.clear();
                for &(k, n) in &items {
                    batch.put(&key(k), &value(k, n, id)).unwrap();
                    s.started[k].store(n, SeqCst);
                }
                db.write(&batch).map_err(|e| e.to_string())?;
                for &(k, n) in &items {
                    s.committed[k].store(n, SeqCst);
                }
            }
            // Point reads of any thread's keys.
            45..=84 => {
                let k = rng.usize(..KEYS);
                let lo = s.committed[k].load(SeqCst);
                let got = if rng.u64(..4) == 0 {
                    // contains answers from memory: check it against the same window.
                    db.contains(&key(k))
                        .map_err(|e| e.to_string())?
                        .then(|| db.get(&key(k)).map_err(|e| e.to_string()))
                        .transpose()?
                        .flatten()
                } else {
                    db.get(&key(k)).map_err(|e| e.to_string())?
                };
                let hi = s.started[k].load(SeqCst);
                r.observe(k, got.as_deref(), lo, hi)?;
            }
            // Snapshots: iterator, scan over everything (and a range), fold.
            _ => {
                let lo = window_start(s);
                let mut snap = HashMap::new();
                let what = match rng.u64(..4) {
                    0 => {
                        for item in db.iter() {
                            let (k, v) = item.map_err(|e| e.to_string())?;
                            snap.insert(parse_key(&k)?, v);
                        }
                        "iterator"
                    }
                    1 => {
                        let mut bad = None;
                        let _flow = db
                            .scan(None, None, |k, v| match parse_key(k) {
                                Ok(k) => {
                                    snap.insert(k, v.to_vec());
                                    ControlFlow::Continue(())
                                }
                                Err(e) => {
                                    bad = Some(e);
                                    ControlFlow::Break(())
                                }
                            })
                            .map_err(|e| e.to_string())?;
                        if let Some(e) = bad {
                            return Err(e);
                        }
                        "scan"
                    }
                    2 => {
                        // A range scan: check only the keys in range, in order.
                        let (a, b) = (rng.usize(..KEYS), KEYS);
                        let mut last: Option<Vec<u8>> = None;
                        let mut got = Vec::new();
                        let _flow = db
                            .scan(Some(&key(a)), Some(&key(b)), |k, v| {
                                got.push((k.to_vec(), v.to_vec()));
                                ControlFlow::Continue(())
                            })
                            .map_err(|e| e.to_string())?;
                        let hi = window_end(s);
                        let mut present = vec![false; KEYS];
                        for (k, v) in got {
                            if last.as_ref().is_some_and(|l| *l >= k) {
                                return Err("range scan out of order".into());
                            }
                            let n = parse_key(&k)?;
                            if n < a {
                                return Err(format!("range scan from {a} returned key {n}"));
                            }
                            r.observe(n, Some(&v), lo[n], hi[n])
                                .map_err(|e| format!("range scan: {e}"))?;
                            present[n] = true;
                            last = Some(k);
                        }
                        for n in a..KEYS {
                            if !present[n] {
                                r.observe(n, None, lo[n], hi[n])
                                    .map_err(|e| format!("range scan: {e}"))?;
                            }
                        }
                        continue;
                    }
                    _ => {
                        let mut bad = None;
                        let _flow = db
                            .fold(|k, v| match parse_key(k) {
                                Ok(k) => {
                                    if snap.insert(k, v.to_vec()).is_some() {
                                        bad = Some(format!("fold visited key {k} twice"));
                                    }
                                    ControlFlow::Continue(())
                                }
                                Err(e) => {
                                    bad = Some(e);
                                    ControlFlow::Break(())
                                }
                            })
                            .map_err(|e| e.to_string())?;
                        if let Some(e) = bad {
                            return Err(e);
                        }
                        "fold"
                    }
                };
                let hi = window_end(s);
                check_snapshot(s, &mut r, &snap, &lo, &hi, what)?;
            }
        }
    }
    Ok(())
}

#[test]
fn eight_threads_and_a_merger_never_read_a_wrong_stale_or_half_written_value() {
    let ops: u64 = std::env::var("BITCASK_STRESS_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4000);
    let seed = common::seed_from_env("BITCASK_STRESS_SEED");
    eprintln!("stress seed {seed} (BITCASK_STRESS_SEED), {ops} ops per thread");
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut opts = Options::default();
    opts.max_file_size(32 << 10).unwrap();
    let db = Arc::new(Bitcask::open(dir.path(), &opts).unwrap());
    let shared = Arc::new(Shared {
        started: (0..KEYS).map(|_| AtomicU64::new(0)).collect(),
        committed: (0..KEYS).map(|_| AtomicU64::new(0)).collect(),
        batches: Mutex::new(HashMap::new()),
        failed: AtomicBool::new(false),
    });
    let done = Arc::new(AtomicBool::new(false));
    let started = std::time::Instant::now();
    let merger = {
        let (db, done, shared) = (Arc::clone(&db), Arc::clone(&done), Arc::clone(&shared));
        std::thread::spawn(move || {
            let mut merges = 0u64;
            while !done.load(SeqCst) {
                if let Err(e) = db.merge() {
                    shared.failed.store(true, SeqCst);
                    return Err(format!("merge failed: {e}"));
                }
                merges += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Ok(merges)
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (db, shared) = (Arc::clone(&db), Arc::clone(&shared));
            std::thread::spawn(move || {
                let r = worker(&db, &shared, t, ops, seed);
                if r.is_err() {
                    shared.failed.store(true, SeqCst);
                }
                r
            })
        })
        .collect();
    let mut errors = Vec::new();
    for (t, w) in workers.into_iter().enumerate() {
        if let Err(e) = w.join().expect("a worker panicked") {
            errors.push(format!("thread {t}: {e}"));
        }
    }
    done.store(true, SeqCst);
    let merges = merger.join().expect("the merger panicked");
    assert!(errors.is_empty(), "seed {seed}: {errors:?}");
    let merges = merges.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    assert!(merges > 0, "no merge ran");
    // Quiescent: the final state is exactly the last op of every key, also after a reopen.
    let check_final = |db: &Bitcask| {
        for k in 0..KEYS {
            let n = shared.committed[k].load(SeqCst);
            let got = db.get(&key(k)).unwrap();
            match got {
                None => assert!(n == 0 || is_delete(n), "key {k}: absent after op {n}"),
                Some(v) => assert_eq!(decode(k, &v).unwrap().0, n, "key {k}"),
            }
        }
    };
    check_final(&db);
    let stats = db.stats();
    eprintln!(
        "stress: {} threads x {ops} ops + {merges} merges in {:.1?}; {stats:?}",
        THREADS,
        started.elapsed()
    );
    Arc::try_unwrap(db).ok().unwrap().close().unwrap();
    let db = Bitcask::open(dir.path(), &opts).unwrap();
    check_final(&db);
}
