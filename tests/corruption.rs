//! Damage at every byte: for a small store (merged files with hints, sealed files with hints, an
//! unhinted last file; batches, deletes, overwrites and TTL'd keys), every byte offset of every
//! data and hint file is (a) truncated at and (b) has one bit flipped, one case at a time. Each
//! case opens the store read-write (which repairs) under a timeout and reads every key with `get`
//! and the iterator.
//!
//! What a read may return, from `docs/FORMAT.md` ("Recovery rules"): a key whose newest record
//! is intact must read exactly that (its value, or absent after a delete). A key whose newest
//! record was damaged or cut away (or sits in a batch with a damaged record, rule 3) may read
//! `Corrupt` (rule 6: the index came from a hint that cannot see the damage), or what replay
//! without the lost records gives (rule 2: the record is skipped): the newest surviving older
//! value, or absent. Never other bytes. Open may refuse with `Corrupt` (a damaged format
//! version); it may not fail otherwise, panic or hang. Hint damage must change nothing (the data
//! file is scanned instead). The counts are printed and kept in docs/TESTING.md.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bitcask::format::{self, FLAG_BATCH, FLAG_BATCH_END, RecordLimits};
use bitcask::{Batch, Bitcask, ErrorKind, Options};

fn options() -> Options {
    let mut o = Options::default();
    o.max_file_size(400).unwrap();
    o
}

/// One record as it lies on disk in the undamaged store.
#[derive(Clone, Debug)]
struct Rec {
    file: u32,
    start: u64,
    end: u64,
    key: Vec<u8>,
    /// None: a tombstone.
    value: Option<Vec<u8>>,
    /// (file, offset of the batch's first record) for a record with `BATCH`.
    batch: Option<(u32, u64)>,
}

/// Builds the store and returns its files (name -> bytes) and every key ever written.
fn build(dir: &Path) -> (BTreeMap<String, Vec<u8>>, Vec<Vec<u8>>) {
    let db = Bitcask::open(dir, &options()).unwrap();
    let v = |k: u32, gen_: u32| {
        format!(
            "value of {k} generation {gen_} {}",
            "#".repeat(k as usize % 7)
        )
        .into_bytes()
    };
    let key = |k: u32| format!("key{k}").into_bytes();
    for k in 0..10 {
        db.put(&key(k), &v(k, 1)).unwrap();
    }
    db.put_ttl(&key(10), &v(10, 1), 86_400).unwrap();
    db.put_ttl(&key(11), &v(11, 1), 86_400).unwrap();
    let mut b = Batch::new();
    b.put(&key(12), &v(12, 1)).unwrap();
    b.put(&key(13), &v(13, 1)).unwrap();
    b.delete(&key(3)).unwrap();
    db.write(&b).unwrap();
    db.delete(&key(4)).unwrap();
    db.put(&key(5), &v(5, 2)).unwrap();
    db.put(&key(13), &v(13, 2)).unwrap(); // leaves key12 a batch record whose batch is dead
    // Merged files (order < id) whose keys are overwritten by files written afterwards.
    db.merge().unwrap();
    db.put(&key(0), &v(0, 2)).unwrap();
    db.put(&key(1), &v(1, 2)).unwrap();
    let mut b = Batch::new();
    b.put(&key(2), &v(2, 2)).unwrap();
    b.put(&key(6), &v(6, 2)).unwrap();
    b.delete(&key(7)).unwrap();
    db.write(&b).unwrap();
    db.delete(&key(8)).unwrap();
    db.put(&key(14), &v(14, 1)).unwrap();
    db.put_ttl(&key(15), &v(15, 1), 86_400).unwrap();
    db.put(&key(0), &v(0, 3)).unwrap();
    db.put(&key(9), &v(9, 2)).unwrap();
    // A second generation of merged files, then sealed and active files over them.
    db.merge().unwrap();
    for k in [1, 2, 10, 12, 14, 16, 17] {
        db.put(&key(k), &v(k, 4)).unwrap();
    }
    db.delete(&key(15)).unwrap();
    let mut b = Batch::new();
    b.put(&key(18), &v(18, 1)).unwrap();
    b.delete(&key(6)).unwrap();
    b.put(&key(5), &v(5, 4)).unwrap();
    db.write(&b).unwrap();
    db.put_ttl(&key(0), &v(0, 4), 86_400).unwrap();
    db.close().unwrap();
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".data") || name.ends_with(".hint") {
            files.insert(name, std::fs::read(&p).unwrap());
        }
    }
    // The last data file as a crash leaves it: without the hint close wrote.
    let last = files
        .keys()
        .filter(|n| n.ends_with(".data"))
        .max()
        .unwrap()
        .clone();
    files.remove(&last.replace(".data", ".hint"));
    let mut keys: Vec<Vec<u8>> = (0..19).map(key).collect();
    keys.push(b"never-written".to_vec());
    (files, keys)
}

/// Every record of every data file, and each file's order, from the undamaged bytes.
fn parse(files: &BTreeMap<String, Vec<u8>>) -> (Vec<Rec>, HashMap<u32, u32>) {
    let mut recs = Vec::new();
    let mut orders = HashMap::new();
    for (name, bytes) in files {
        let Some(stem) = name.strip_suffix(".data") else {
            continue;
        };
        let id: u32 = stem.parse().unwrap();
        let h = format::FileHeader::decode(&bytes[..24], format::FileKind::Data).unwrap();
        orders.insert(id, h.order);
        let mut pos = 24;
        let mut batch_start = None;
        while pos < bytes.len() {
            let r = format::decode_record(&bytes[pos..], RecordLimits::FORMAT)
                .expect("the undamaged store parses");
            let len = r.header.record_len() as usize;
            let batch = if r.header.flags & FLAG_BATCH != 0 {
                let start = *batch_start.get_or_insert(pos as u64);
                if r.header.flags & FLAG_BATCH_END != 0 {
                    batch_start = None;
                }
                Some((id, start))
            } else {
                None
            };
            recs.push(Rec {
                file: id,
                start: pos as u64,
                end: (pos + len) as u64,
                key: r.key.to_vec(),
                value: (!r.header.is_tombstone()).then(|| r.value.to_vec()),
                batch,
            });
            pos += len;
        }
    }
    // Log order: (order, id), then offset.
    recs.sort_by_key(|r| (orders[&r.file], r.file, r.start));
    (recs, orders)
}

/// What reading a key may give: the exact answer, or (when its newest record was lost) the
/// replay-without-it answer or Corrupt.
struct Allowed {
    exact: Option<Vec<u8>>,
    /// Some when the newest record of the key was lost.
    fallback: Option<Option<Vec<u8>>>,
}

fn allowed(recs: &[Rec], lost: &dyn Fn(&Rec) -> bool, key: &[u8]) -> Allowed {
    let mut lost_batches = std::collections::HashSet::new();
    for r in recs {
        if let Some(b) = r.batch
            && lost(r)
        {
            lost_batches.insert(b);
        }
    }
    let gone = |r: &Rec| lost(r) || r.batch.is_some_and(|b| lost_batches.contains(&b));
    let mine: Vec<&Rec> = recs.iter().filter(|r| r.key == key).collect();
    let exact = mine.last().and_then(|r| r.value.clone());
    match mine.last() {
        Some(newest) if gone(newest) => Allowed {
            exact,
            fallback: Some(
                mine.iter()
                    .rev()
                    .find(|r| !gone(r))
                    .and_then(|r| r.value.clone()),
            ),
        },
        _ => Allowed {
            exact,
            fallback: None,
        },
    }
}

#[derive(Default, Debug)]
struct Counts {
    cases: u64,
    open_refused_corrupt: u64,
    reads: u64,
    exact: u64,
    older_value: u64,
    absent_after_loss: u64,
    corrupt_error: u64,
}

/// A key and what reading it gave.
type Read = (Vec<u8>, Result<Option<Vec<u8>>, ErrorKind>);

#[derive(Clone, Copy)]
enum Mutation {
    Truncate,
    Flip,
}

/// Restores the undamaged store into `dir`, applies one mutation, opens and reads everything.
/// Returns the per-read outcomes or a description of what went wrong.
fn run_case(
    dir: &Path,
    files: &BTreeMap<String, Vec<u8>>,
    keys: &[Vec<u8>],
    target: &str,
    at: usize,
    m: &Mutation,
) -> Result<Vec<Read>, String> {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
    for (name, bytes) in files {
        let mut bytes = bytes.clone();
        if name == target {
            match m {
                Mutation::Truncate => bytes.truncate(at),
                Mutation::Flip => bytes[at] ^= 1 << (at * 5 % 8),
            }
        }
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let db = match Bitcask::open(dir, &options()) {
        Ok(db) => db,
        Err(e) if e.kind() == ErrorKind::Corrupt => return Ok(Vec::new()),
        Err(e) => return Err(format!("open failed with {:?}: {e}", e.kind())),
    };
    let mut out = Vec::new();
    for k in keys {
        out.push((k.clone(), db.get(k).map_err(|e| e.kind())));
    }
    // The iterator and a fold must agree with get: no extra keys, same values.
    let gets: HashMap<Vec<u8>, Option<Vec<u8>>> = out
        .iter()
        .filter_map(|(k, r)| r.as_ref().ok().map(|v| (k.clone(), v.clone())))
        .collect();
    for item in db.iter() {
        match item {
            Ok((k, v)) => match gets.get(&k) {
                Some(Some(g)) if *g == v => {}
                other => return Err(format!("iterator gave {k:?} = {v:?}; get gave {other:?}")),
            },
            Err(e) if e.kind() == ErrorKind::Corrupt => {}
            Err(e) => return Err(format!("iterator failed: {e}")),
        }
    }
    let mut folded = 0;
    let fold = db.fold(|k, v| {
        match gets.get(k) {
            Some(Some(g)) if g == v => folded += 1,
            _ => folded = usize::MAX / 2,
        }
        ControlFlow::Continue(())
    });
    if folded >= usize::MAX / 2 {
        return Err("fold returned a pair get did not".into());
    }
    if let Err(e) = fold
        && e.kind() != ErrorKind::Corrupt
    {
        return Err(format!("fold failed: {e}"));
    }
    db.close().map_err(|e| format!("close failed: {e}"))?;
    Ok(out)
}

fn scratch_dir() -> tempfile::TempDir {
    // Every case opens read-write, which fsyncs: tmpfs makes that free.
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
    }
}

#[test]
fn every_truncation_and_bit_flip_reads_right_absent_or_corrupt_never_wrong() {
    let build_dir = scratch_dir();
    let (files, keys) = build(build_dir.path());
    let (recs, _orders) = parse(&files);
    assert!(
        files.keys().filter(|n| n.ends_with(".hint")).count() >= 2
            && recs.iter().any(|r| r.batch.is_some())
            && _orders.iter().any(|(id, o)| id != o),
        "the store lacks hints, batches or merged files: {:?}",
        files.keys().collect::<Vec<_>>()
    );
    let work = scratch_dir();
    let work_path: PathBuf = work.path().to_path_buf();
    let mut counts = Counts::default();
    let started = Instant::now();
    let total_bytes: usize = files.values().map(Vec::len).sum();
    for (target, bytes) in &files {
        let is_data = target.ends_with(".data");
        let id: u32 = target[..10].parse().unwrap();
        for at in 0..bytes.len() {
            for m in [Mutation::Truncate, Mutation::Flip] {
                // Records of the target data file the mutation destroys.
                let lost = |r: &Rec| {
                    is_data
                        && r.file == id
                        && match m {
                            Mutation::Truncate => r.end > at as u64,
                            Mutation::Flip => (r.start..r.end).contains(&(at as u64)),
                        }
                };
                // Open and read in a thread, so a hang fails the test instead of stalling it.
                let (tx, rx) = mpsc::channel();
                let (f, k, t, d) = (
                    files.clone(),
                    keys.clone(),
                    target.clone(),
                    work_path.clone(),
                );
                let m2 = m;
                let worker = std::thread::spawn(move || {
                    let _ = tx.send(run_case(&d, &f, &k, &t, at, &m2));
                });
                let what = format!(
                    "{} {target} at byte {at}",
                    match m {
                        Mutation::Truncate => "truncating",
                        Mutation::Flip => "flipping a bit of",
                    }
                );
                let outcome = match rx.recv_timeout(Duration::from_secs(30)) {
                    Ok(r) => r,
                    Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: open/read hung"),
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        let _ = worker.join();
                        panic!("{what}: open or a read panicked")
                    }
                };
                worker.join().unwrap();
                let reads = outcome.unwrap_or_else(|e| panic!("{what}: {e}"));
                counts.cases += 1;
                if reads.is_empty() {
                    counts.open_refused_corrupt += 1;
                    continue;
                }
                for (key, got) in reads {
                    counts.reads += 1;
                    let a = allowed(&recs, &lost, &key);
                    let show = |v: &Option<Vec<u8>>| {
                        v.as_ref().map(|v| String::from_utf8_lossy(v).into_owned())
                    };
                    match (&got, &a.fallback) {
                        (Ok(v), _) if *v == a.exact => counts.exact += 1,
                        (Ok(v), Some(fb)) if v == fb => {
                            if v.is_some() {
                                counts.older_value += 1
                            } else {
                                counts.absent_after_loss += 1
                            }
                        }
                        (Err(ErrorKind::Corrupt), Some(_)) => counts.corrupt_error += 1,
                        _ => panic!(
                            "{what}: key {:?} read {:?}; allowed: {:?}{}",
                            String::from_utf8_lossy(&key),
                            got.as_ref().map(show),
                            show(&a.exact),
                            match &a.fallback {
                                Some(fb) => format!(
                                    ", or (its newest record was lost) {:?} or Corrupt",
                                    show(fb)
                                ),
                                None => " only (its newest record is intact)".into(),
                            }
                        ),
                    }
                }
            }
        }
    }
    eprintln!(
        "corruption sweep: {} files, {total_bytes} bytes, {:.1?}: {counts:?}",
        files.len(),
        started.elapsed()
    );
    // Damage must have been felt, or the sweep did not reach the records.
    assert!(counts.corrupt_error + counts.older_value + counts.absent_after_loss > 0);
    assert_eq!(counts.cases, 2 * total_bytes as u64);
}

/// Regression: merge copied batch records verbatim, `BATCH` flag included. When the other
/// records of the batch were dead, the copy was a batch without its `BATCH_END`, which a scan
/// (the merged file's hint lost or damaged) discards whole: the key vanished.
#[test]
fn a_merged_batch_record_survives_losing_the_merge_hint() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    let mut b = Batch::new();
    b.put(b"a", b"1").unwrap();
    b.put(b"b", b"2").unwrap();
    db.write(&b).unwrap();
    db.put(b"b", b"3").unwrap();
    db.merge().unwrap();
    db.close().unwrap();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|e| e == "hint") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get(b"b").unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(db.stats().corrupt_records, 0);
}

/// Regression: a data file whose header fails its CRC was replayed at its id. For a merged file
/// (order below its id) that put its old copies after files written later, so one flipped bit
/// in a 24-byte header silently served stale values. The order now comes from the file's hint.
#[test]
fn a_damaged_header_keeps_a_merged_file_in_its_place_in_log_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &options()).unwrap();
    db.put(b"k", b"old").unwrap();
    db.merge().unwrap(); // k's copy goes to a merged file whose id is above the active file's
    db.put(b"k", b"new").unwrap();
    db.close().unwrap();
    let merged = common::data_files(dir.path())
        .into_iter()
        .find(|p| {
            let b = std::fs::read(p).unwrap();
            let h = format::FileHeader::decode(&b[..24], format::FileKind::Data).unwrap();
            h.order != h.file_id
        })
        .expect("a merged file");
    let mut bytes = std::fs::read(&merged).unwrap();
    bytes[2] ^= 0x10; // inside the magic: the header CRC fails, the records are intact
    std::fs::write(&merged, bytes).unwrap();
    let db = Bitcask::open(dir.path(), &options()).unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(db.stats().corrupt_records, 1);
}
