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

/// Offsets and lengths of the records of a data file, walked by their headers.
fn records_of(file: &[u8]) -> Vec<(usize, usize, u8)> {
    use bitcask::format::{FILE_HEADER_LEN, RecordLimits, decode_record_header};
    let mut out = Vec::new();
    let mut pos = FILE_HEADER_LEN;
    while let Ok(h) = decode_record_header(&file[pos..], RecordLimits::FORMAT) {
        let len = h.record_len() as usize;
        if pos + len > file.len() {
            break;
        }
        out.push((pos, len, h.flags));
        pos += len;
    }
    out
}

/// A one-file store: keys a..d written plainly ("old"), then one batch rewriting all four
/// ("new"), then a plain put of "after". Returns the store directory's data file bytes and the
/// (offset, len) of the batch's four records.
fn store_with_a_batch(dir: &std::path::Path) -> (Vec<u8>, Vec<(usize, usize)>) {
    let db = open(dir);
    for k in [b"a", b"b", b"c", b"d"] {
        db.put(k, b"old").unwrap();
    }
    let mut batch = Batch::new();
    for k in [b"a", b"b", b"c", b"d"] {
        batch.put(k, b"new").unwrap();
    }
    db.write(&batch).unwrap();
    db.put(b"after", b"x").unwrap();
    db.close().unwrap();
    let file = data_files(dir).pop().unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let batch_records: Vec<(usize, usize)> = records_of(&bytes)
        .into_iter()
        .filter(|r| r.2 & bitcask::format::FLAG_BATCH != 0)
        .map(|r| (r.0, r.1))
        .collect();
    assert_eq!(batch_records.len(), 4);
    (bytes, batch_records)
}

fn remove_hints(dir: &std::path::Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "hint") {
            std::fs::remove_file(p).unwrap();
        }
    }
}

fn values(db: &Bitcask) -> Vec<Option<Vec<u8>>> {
    [b"a", b"b", b"c", b"d"]
        .iter()
        .map(|k| db.get(*k).unwrap())
        .collect()
}

#[test]
fn damage_to_any_record_of_a_batch_discards_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, batch) = store_with_a_batch(dir.path());
    let file = data_files(dir.path()).pop().unwrap();
    let flags: Vec<u8> = records_of(&bytes)
        .iter()
        .filter(|r| r.2 & bitcask::format::FLAG_BATCH != 0)
        .map(|r| r.2)
        .collect();
    assert_ne!(
        flags[0] & bitcask::format::FLAG_BATCH_START,
        0,
        "the first is marked"
    );
    assert!(
        flags[1..]
            .iter()
            .all(|f| f & bitcask::format::FLAG_BATCH_START == 0)
    );
    for (i, &(at, len)) in batch.iter().enumerate() {
        let mut damaged = bytes.clone();
        damaged[at + len - 1] ^= 0xFF; // the last value byte: the CRC fails
        std::fs::write(&file, &damaged).unwrap();
        remove_hints(dir.path());
        let db = open(dir.path());
        let old = Some(b"old".to_vec());
        assert_eq!(
            values(&db),
            vec![old.clone(), old.clone(), old.clone(), old],
            "damage in batch record {i}: nothing of the batch applies"
        );
        assert_eq!(db.get(b"after").unwrap().as_deref(), Some(&b"x"[..]));
        assert_eq!(
            db.stats().corrupt_records,
            4,
            "record {i}: the damaged one and the three dropped with it"
        );
        drop(db);
    }
}

/// Rewrites a version-2 data file as version 1 wrote it: header version 1, no BATCH_START.
fn as_version_1(bytes: &[u8]) -> Vec<u8> {
    use bitcask::format::{FILE_HEADER_LEN, FLAG_BATCH_START, FileHeader, FileKind};
    let mut out = bytes.to_vec();
    let h = FileHeader::decode(&out[..FILE_HEADER_LEN], FileKind::Data).unwrap();
    out[..FILE_HEADER_LEN].copy_from_slice(&h.encode_version(1));
    for (at, len, flags) in records_of(bytes) {
        if flags & FLAG_BATCH_START != 0 {
            out[at + 4] &= !FLAG_BATCH_START;
            let crc = crc32fast::hash(&out[at + 4..at + len]);
            out[at..at + 4].copy_from_slice(&crc.to_le_bytes());
        }
    }
    out
}

#[test]
fn version_1_files_are_read_and_never_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, batch) = store_with_a_batch(dir.path());
    let file = data_files(dir.path()).pop().unwrap();
    let v1 = as_version_1(&bytes);
    std::fs::write(&file, &v1).unwrap();
    remove_hints(dir.path());

    let db = open(dir.path());
    let new = Some(b"new".to_vec());
    assert_eq!(
        values(&db),
        vec![new.clone(), new.clone(), new.clone(), new]
    );
    assert_eq!(db.stats().corrupt_records, 0);
    // The next write goes to a new (version 2) file: the version-1 file is left as it is.
    db.put(b"later", b"y").unwrap();
    db.close().unwrap();
    assert_eq!(data_files(dir.path()).len(), 2);
    assert_eq!(std::fs::read(&file).unwrap(), v1);
    let db = open(dir.path());
    assert_eq!(db.get(b"later").unwrap().as_deref(), Some(&b"y"[..]));
    drop(db);

    // Version 1 cannot tell a batch whose first record was lost from a new one: its rule (the
    // rest of the batch applies as a batch of its own) still holds for such files.
    let mut damaged = v1.clone();
    let (at, len) = batch[0];
    damaged[at + len - 1] ^= 0xFF;
    std::fs::write(&file, &damaged).unwrap();
    remove_hints(dir.path());
    let db = open(dir.path());
    let (old, new) = (Some(b"old".to_vec()), Some(b"new".to_vec()));
    assert_eq!(values(&db), vec![old, new.clone(), new.clone(), new]);
}
