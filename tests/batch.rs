//! Atomic batches: all or nothing in memory, on disk and across a crash at any byte.

mod common;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use bitcask::{Batch, Bitcask, ErrorKind, Options, SyncMode};
use common::data_files;

fn open(dir: &std::path::Path) -> Bitcask {
    Bitcask::open(dir, &Options::default()).unwrap()
}

#[test]
fn a_batch_applies_in_order_and_is_reusable() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.put(b"gone", b"old").unwrap();
    let mut b = Batch::new();
    b.put(b"a", b"1").unwrap();
    b.delete(b"a").unwrap();
    b.delete(b"b").unwrap();
    b.put(b"b", b"2").unwrap();
    b.delete(b"gone").unwrap();
    b.put(b"empty", b"").unwrap();
    db.write(&b).unwrap();
    assert_eq!(db.get(b"a").unwrap(), None);
    assert_eq!(db.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(db.get(b"gone").unwrap(), None);
    assert_eq!(db.get(b"empty").unwrap(), Some(vec![]));
    b.clear();
    assert!(b.is_empty());
    b.put(b"c", b"3").unwrap();
    db.write(&b).unwrap();
    db.write(&Batch::new()).unwrap();
    drop(db);
    let db = open(dir.path());
    assert_eq!(db.get(b"a").unwrap(), None);
    assert_eq!(db.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(db.get(b"c").unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(db.get(b"gone").unwrap(), None);
    assert_eq!(db.len(), 3);
}

#[test]
fn a_batch_over_the_limits_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::default();
    o.max_value_size(10).unwrap();
    let db = Bitcask::open(dir.path(), &o).unwrap();
    let mut b = Batch::new();
    b.put(b"ok", b"small").unwrap();
    b.put(b"big", &[0; 11]).unwrap();
    assert_eq!(db.write(&b).unwrap_err().kind(), ErrorKind::TooLarge);
    assert_eq!(db.get(b"ok").unwrap(), None);
    assert_eq!(db.stats().live_bytes + db.stats().dead_bytes, 0);
    assert_eq!(
        b.put(b"", b"x").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn a_synced_batch_costs_one_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::default();
    o.sync(SyncMode::Always).unwrap();
    let db = Bitcask::open(dir.path(), &o).unwrap();
    let mut b = Batch::new();
    for i in 0..100u32 {
        b.put(&i.to_be_bytes(), b"v").unwrap();
    }
    let before = db.stats().syncs;
    db.write(&b).unwrap();
    assert_eq!(db.stats().syncs, before + 1);
}

#[test]
fn a_batch_torn_at_any_byte_vanishes_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    for i in 0..5u32 {
        db.put(&i.to_be_bytes(), b"before").unwrap();
    }
    db.close().unwrap();
    let file = data_files(dir.path()).pop().unwrap();
    let before = std::fs::read(&file).unwrap();
    let db = open(dir.path());
    let mut b = Batch::new();
    for i in 0..5u32 {
        b.put(&i.to_be_bytes(), b"after the batch").unwrap();
    }
    b.delete(&0u32.to_be_bytes()).unwrap();
    b.put(b"new", b"key").unwrap();
    db.write(&b).unwrap();
    drop(db);
    let after = std::fs::read(&file).unwrap();
    let remove_hints = || {
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "hint") {
                std::fs::remove_file(p).unwrap();
            }
        }
    };
    for cut in before.len()..after.len() {
        std::fs::write(&file, &after[..cut]).unwrap();
        remove_hints();
        let db = open(dir.path());
        for i in 0..5u32 {
            assert_eq!(
                db.get(&i.to_be_bytes()).unwrap().as_deref(),
                Some(&b"before"[..]),
                "cut at {cut}: key {i}"
            );
        }
        assert_eq!(db.get(b"new").unwrap(), None, "cut at {cut}");
        let s = db.stats();
        // Trailing zero bytes of a cut record are indistinguishable from space the writer had
        // reserved ahead (mmap appends), so they are cut without being counted.
        let torn = after[before.len()..cut]
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        assert_eq!(s.truncated_bytes, torn as u64, "cut at {cut}");
        assert_eq!(
            (s.corrupt_records, s.corrupt_bytes),
            (0, 0),
            "a torn tail is not damage"
        );
        drop(db);
    }
    std::fs::write(&file, &after).unwrap();
    remove_hints();
    let db = open(dir.path());
    assert_eq!(db.get(&0u32.to_be_bytes()).unwrap(), None);
    assert_eq!(
        db.get(&1u32.to_be_bytes()).unwrap().as_deref(),
        Some(&b"after the batch"[..])
    );
    assert_eq!(db.get(b"new").unwrap().as_deref(), Some(&b"key"[..]));
}

#[test]
fn readers_never_see_half_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::default();
    o.max_file_size(16 << 10).unwrap();
    let db = Bitcask::open(dir.path(), &o).unwrap();
    let keys: Vec<Vec<u8>> = (0..10).map(|i| format!("a{i}").into_bytes()).collect();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (db, keys, stop) = (&db, &keys, &stop);
        s.spawn(move || {
            let mut b = Batch::new();
            for round in 0u32..2000 {
                b.clear();
                for k in keys {
                    b.put(k, &round.to_le_bytes()).unwrap();
                }
                db.write(&b).unwrap();
                if round % 500 == 0 {
                    db.merge().unwrap();
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
        s.spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // The batch writes a0 first and a9 last; read a0 then a9. Applied atomically,
                // a9 can never be from an older round than the a0 read before it.
                let round = |v: Vec<u8>| u32::from_le_bytes(v.try_into().unwrap());
                let first = db.get(&keys[0]).unwrap().map(round);
                let last = db.get(&keys[9]).unwrap().map(round);
                if let (Some(f), Some(l)) = (first, last) {
                    assert!(l >= f, "read a0 at round {f}, then a9 at older round {l}");
                }
                let mut seen = Vec::new();
                let _ = db
                    .fold(|_, v| {
                        seen.push(v.to_vec());
                        ControlFlow::Continue(())
                    })
                    .unwrap();
                assert!(
                    seen.windows(2).all(|w| w[0] == w[1]),
                    "fold saw a partial batch"
                );
                let mut scanned = Vec::new();
                let _ = db
                    .scan_prefix(b"a", |_, v| {
                        scanned.push(v.to_vec());
                        ControlFlow::Continue(())
                    })
                    .unwrap();
                assert!(
                    scanned.windows(2).all(|w| w[0] == w[1]),
                    "scan saw a partial batch"
                );
            }
        });
    });
}
