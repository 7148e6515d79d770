//! Open-time recovery: torn tails, damaged records, damaged headers, newest-wins ordering.

mod common;

use std::fs::OpenOptions;
use std::io::Write;

use bitcask::{Bitcask, ErrorKind, Options};
use common::data_files;

fn open(dir: &std::path::Path) -> Bitcask {
    Bitcask::open(dir, &Options::default()).unwrap()
}

fn small_files() -> Options {
    let mut o = Options::default();
    o.max_file_size(512).unwrap();
    o
}

#[test]
fn a_torn_last_record_at_every_byte_is_cut_and_writing_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.put(b"first", b"one").unwrap();
    db.put(b"second", b"two").unwrap();
    db.close().unwrap();
    let file = data_files(dir.path()).pop().unwrap();
    let full = std::fs::read(&file).unwrap();
    let db = open(dir.path());
    db.put(b"third", b"three, the torn one").unwrap();
    drop(db);
    let with_third = std::fs::read(&file).unwrap();
    assert!(with_third.len() > full.len());

    for cut in full.len()..with_third.len() {
        std::fs::write(&file, &with_third[..cut]).unwrap();
        let db = open(dir.path());
        assert_eq!(
            db.get(b"first").unwrap().as_deref(),
            Some(&b"one"[..]),
            "cut {cut}"
        );
        assert_eq!(db.get(b"second").unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(db.get(b"third").unwrap(), None, "cut {cut}");
        // Zero bytes ending a cut record look exactly like space the writer reserved ahead, so
        // they are cut without being counted.
        let torn = with_third[full.len()..cut]
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        assert_eq!(db.stats().truncated_bytes, torn as u64, "cut {cut}");
        drop(db);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), full.len() as u64);
        let db = open(dir.path());
        // Writing resumes right after the last good record, in the same file.
        db.put(b"fourth", b"4").unwrap();
        drop(db);
        assert_eq!(data_files(dir.path()).len(), 1);
        let db = open(dir.path());
        assert_eq!(db.get(b"fourth").unwrap().as_deref(), Some(&b"4"[..]));
        assert_eq!(db.stats().truncated_bytes, 0);
        drop(db);
    }
}

#[test]
fn garbage_appended_after_the_last_record_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.put(b"k", b"v").unwrap();
    db.close().unwrap();
    let file = data_files(dir.path()).pop().unwrap();
    let good_len = std::fs::metadata(&file).unwrap().len();
    let mut f = OpenOptions::new().append(true).open(&file).unwrap();
    f.write_all(&[0xAB; 37]).unwrap();
    f.write_all(&[0; 4096]).unwrap();
    drop(f);
    let db = open(dir.path());
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    // The zeros after the garbage are indistinguishable from reserved space: cut, not counted.
    assert_eq!(db.stats().truncated_bytes, 37);
    drop(db);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), good_len);
}

/// A writer killed while its file still had space reserved ahead of the appends leaves zeros
/// after the last record: reopening cuts them silently and appends right after the records.
#[test]
fn reserved_zeros_after_the_last_record_are_not_damage() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.put(b"k", b"value ending in zeros\0\0\0").unwrap();
    db.close().unwrap();
    let file = data_files(dir.path()).pop().unwrap();
    let good_len = std::fs::metadata(&file).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(good_len + (3 << 20))
        .unwrap();
    let db = open(dir.path());
    assert_eq!(
        db.get(b"k").unwrap().as_deref(),
        Some(&b"value ending in zeros\0\0\0"[..])
    );
    let s = db.stats();
    assert_eq!(
        (s.truncated_bytes, s.corrupt_records, s.corrupt_bytes),
        (0, 0, 0)
    );
    assert_eq!(s.total_bytes, good_len);
    db.put(b"k2", b"v2").unwrap();
    drop(db);
    let db = open(dir.path());
    assert_eq!(db.get(b"k2").unwrap().as_deref(), Some(&b"v2"[..]));
    assert_eq!(db.get(b"k").unwrap().unwrap().len(), 24);
    assert_eq!(db.stats().truncated_bytes, 0);
}

#[test]
fn a_read_only_open_ignores_a_torn_tail_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.put(b"k", b"v").unwrap();
    db.close().unwrap();
    let file = data_files(dir.path()).pop().unwrap();
    let mut f = OpenOptions::new().append(true).open(&file).unwrap();
    f.write_all(b"\x01\x02\x03").unwrap();
    drop(f);
    let before = std::fs::read(&file).unwrap();
    let mut ro = Options::default();
    ro.read_only(true);
    let db = Bitcask::open(dir.path(), &ro).unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(db.put(b"x", b"y").unwrap_err().kind(), ErrorKind::ReadOnly);
    drop(db);
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

/// Finds `needle` in the store's files: (file, offset).
fn locate(dir: &std::path::Path, needle: &[u8]) -> (std::path::PathBuf, usize) {
    for file in data_files(dir) {
        let bytes = std::fs::read(&file).unwrap();
        if let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) {
            return (file, at);
        }
    }
    panic!("bytes not found");
}

fn flip(file: &std::path::Path, at: usize) {
    let mut bytes = std::fs::read(file).unwrap();
    bytes[at] ^= 0x40;
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn a_damaged_value_is_never_served_and_is_skipped_at_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &small_files()).unwrap();
    for i in 0..40u32 {
        db.put(
            format!("key{i}").as_bytes(),
            format!("value-number-{i:04}").as_bytes(),
        )
        .unwrap();
    }
    let (file, at) = locate(dir.path(), b"value-number-0003");
    flip(&file, at + 5);
    // The open handle reads through the damage and refuses it.
    let err = db.get(b"key3").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");
    assert_eq!(
        db.get(b"key4").unwrap().as_deref(),
        Some(&b"value-number-0004"[..])
    );
    // fold visits everything else, then reports the damage.
    let mut n = 0;
    let err = db
        .fold(|_, _| {
            n += 1;
            std::ops::ControlFlow::Continue(())
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert_eq!(n, 39);
    drop(db);

    // Reopened from hints (written before or after the damage), the damage shows at the read.
    let db = Bitcask::open(dir.path(), &small_files()).unwrap();
    assert!(matches!(
        db.get(b"key3"),
        Ok(None) | Err(bitcask::Error::Corrupt { .. })
    ));
    drop(db);
    // Reopened by scanning, the damaged record (in a sealed file) is skipped and counted.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "hint") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let db = Bitcask::open(dir.path(), &small_files()).unwrap();
    assert_eq!(db.get(b"key3").unwrap(), None);
    assert_eq!(db.stats().corrupt_records, 1);
    for i in (0..40u32).filter(|&i| i != 3) {
        assert_eq!(
            db.get(format!("key{i}").as_bytes()).unwrap().unwrap(),
            format!("value-number-{i:04}").into_bytes()
        );
    }
}

#[test]
fn damage_to_a_length_field_resynchronises_on_the_next_record() {
    for compact in [true, false] {
        let mut opts = Options::default();
        opts.compact_hints(compact);
        let dir = tempfile::tempdir().unwrap();
        let db = Bitcask::open(dir.path(), &opts).unwrap();
        for i in 0..20u32 {
            db.put(
                format!("key-{i:02}").as_bytes(),
                format!("val-{i:02}").as_bytes(),
            )
            .unwrap();
        }
        db.close().unwrap();
        // The key length varint sits 5 bytes after the record start (crc, flags, timestamp):
        // break it so the header claims a huge key.
        let (file, key_at) = locate(dir.path(), b"key-07");
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[key_at - 2] = 0xFF;
        std::fs::write(&file, bytes).unwrap();
        let db = open(dir.path());
        if compact {
            // A compact hint checks every record header at open: the file is scanned.
            assert_eq!(db.stats().hint_files_loaded, 0);
            assert_eq!(db.get(b"key-07").unwrap(), None);
        } else {
            // A hint with keys is trusted at open; the damage shows at the read.
            assert_eq!(db.stats().hint_files_loaded, 1);
            assert_eq!(db.get(b"key-07").unwrap_err().kind(), ErrorKind::Corrupt);
        }
        drop(db);
        // Without a hint, the scan skips the damaged record and finds the next one.
        let _ = std::fs::remove_file(file.with_extension("hint"));
        let db = open(dir.path());
        assert_eq!(db.get(b"key-07").unwrap(), None);
        for i in (0..20u32).filter(|&i| i != 7) {
            assert_eq!(
                db.get(format!("key-{i:02}").as_bytes()).unwrap().unwrap(),
                format!("val-{i:02}").into_bytes(),
                "key {i}"
            );
        }
        let stats = db.stats();
        assert_eq!(stats.corrupt_records, 1);
        assert_eq!(
            stats.truncated_bytes, 0,
            "damage in the middle is not a torn tail"
        );
    }
}

#[test]
fn a_file_cut_short_before_its_header_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &small_files()).unwrap();
    for i in 0..30u32 {
        db.put(&i.to_be_bytes(), &[7; 40]).unwrap();
    }
    db.close().unwrap();
    // A crash right after creating the next file leaves it empty or with half a header.
    let next = dir.path().join("0000009999.data");
    for len in [0usize, 10] {
        std::fs::write(&next, vec![0x89; len]).unwrap();
        let db = Bitcask::open(dir.path(), &small_files()).unwrap();
        assert_eq!(db.len(), 30);
        db.put(b"after", b"crash").unwrap();
        drop(db);
        let db = Bitcask::open(dir.path(), &small_files()).unwrap();
        assert_eq!(db.get(b"after").unwrap().as_deref(), Some(&b"crash"[..]));
        assert!(db.delete(b"after").unwrap());
        drop(db);
        std::fs::remove_file(&next).ok();
    }
}

#[test]
fn a_file_from_a_newer_format_version_is_refused_with_a_clear_message() {
    let (err, ..) = open_with_header(|b| b[8] = 9); // version
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(err.to_string().contains("format version 9"), "{err}");
}

/// Rewrites the header of the store's only data file with `change` applied (the header CRC
/// recomputed, so it reads as intact) and returns the open's error.
fn open_with_header(change: impl Fn(&mut [u8])) -> (bitcask::Error, Vec<u8>, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.put(b"k", b"v").unwrap();
    db.close().unwrap();
    let file = data_files(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    change(&mut bytes);
    let crc = crc32fast::hash(&bytes[..20]);
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&file, &bytes).unwrap();
    let mut ro = Options::default();
    ro.read_only(true);
    for opts in [ro, Options::default()] {
        if let Ok(_db) = Bitcask::open(dir.path(), &opts) {
            panic!("opened a store whose header must be refused");
        }
    }
    let err = Bitcask::open(dir.path(), &Options::default())
        .err()
        .unwrap();
    let after = std::fs::read(&file).unwrap();
    assert_eq!(after, bytes, "refusing must not change the file");
    (err, after, file)
}

#[test]
fn a_header_with_flags_this_library_does_not_know_is_refused() {
    let (err, ..) = open_with_header(|b| b[10] = 0x01);
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(
        err.to_string().contains("unknown file header flags 0x1"),
        "{err}"
    );
}

#[test]
fn a_header_naming_another_file_is_refused() {
    let (err, _, file) = open_with_header(|b| b[12..16].copy_from_slice(&3u32.to_le_bytes()));
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    let msg = err.to_string();
    assert!(msg.contains("names file 3, not 1"), "{msg}");
    assert!(msg.contains(&file.display().to_string()), "{msg}");
}

#[test]
fn newest_write_wins_after_reopen_however_fast_the_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &small_files()).unwrap();
    // Hundreds of overwrites in the same second, across many files.
    for round in 0..300u32 {
        db.put(b"hot", &round.to_le_bytes()).unwrap();
        if round % 7 == 0 {
            db.delete(b"hot").unwrap();
            db.put(b"hot", &round.to_le_bytes()).unwrap();
        }
    }
    assert!(db.stats().data_files > 5);
    drop(db);
    let db = Bitcask::open(dir.path(), &small_files()).unwrap();
    assert_eq!(db.get(b"hot").unwrap().unwrap(), 299u32.to_le_bytes());
    assert_eq!(db.len(), 1);
}

#[test]
fn a_deleted_key_stays_deleted_across_files_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &small_files()).unwrap();
    db.put(b"gone", b"old value").unwrap();
    for i in 0..50u32 {
        db.put(&i.to_be_bytes(), &[1; 30]).unwrap();
    }
    db.delete(b"gone").unwrap();
    drop(db);
    for _ in 0..3 {
        let db = Bitcask::open(dir.path(), &small_files()).unwrap();
        assert_eq!(db.get(b"gone").unwrap(), None);
        assert_eq!(db.len(), 50);
    }
}

#[test]
fn reopening_does_not_start_a_new_file_each_time() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..5u32 {
        let db = open(dir.path());
        db.put(&i.to_be_bytes(), b"v").unwrap();
    }
    assert_eq!(data_files(dir.path()).len(), 1);
    assert_eq!(open(dir.path()).len(), 5);
}

#[test]
fn stats_account_live_and_dead_bytes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.put(b"a", &[1; 100]).unwrap(); // 11 + 1 + 100
    let one = 112u64;
    let s = db.stats();
    assert_eq!((s.keys, s.live_bytes, s.dead_bytes), (1, one, 0));
    db.put(b"a", &[2; 100]).unwrap();
    let s = db.stats();
    assert_eq!((s.keys, s.live_bytes, s.dead_bytes), (1, one, one));
    db.delete(b"a").unwrap(); // tombstone: 11 + 1
    let s = db.stats();
    assert_eq!((s.keys, s.live_bytes, s.dead_bytes), (0, 0, 2 * one + 12));
    assert_eq!(s.total_bytes, 24 + 2 * one + 12);
    drop(db);
    let s = open(dir.path()).stats();
    assert_eq!((s.keys, s.live_bytes, s.dead_bytes), (0, 0, 2 * one + 12));
    assert_eq!(s.total_bytes, 24 + 2 * one + 12);
}

/// A hint of more than 64K entries is loaded on several threads with the keydir's bulk path
/// (shards locked once, slots prefetched): the result, live/dead accounting included, must be
/// exactly what a record-by-record scan of the same file gives.
#[test]
fn a_large_hint_loads_to_the_same_index_as_a_scan() {
    // Unmerged, the file holds many superseded records and gets a hint with keys; merged, every
    // record is live and the hint is compact (two chunks of 65,536 records, walked in parallel).
    for merged in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        let n = 150_000u32;
        for i in 0..n {
            db.put(&i.to_be_bytes(), &[i as u8; 20]).unwrap();
        }
        for i in (0..n).step_by(3) {
            db.put(&i.to_be_bytes(), &[!(i as u8); 30]).unwrap();
        }
        for i in (0..n).step_by(5) {
            assert!(db.delete(&i.to_be_bytes()).unwrap());
        }
        for i in (1..n).step_by(7) {
            db.put_ttl(&i.to_be_bytes(), b"far future", 1 << 30)
                .unwrap();
        }
        if merged {
            db.merge().unwrap();
        }
        let (len, before) = (db.len(), db.stats());
        db.close().unwrap();

        let check = |db: &Bitcask| {
            assert_eq!(db.len(), len);
            for i in 0..n {
                let want: Option<Vec<u8>> = if i % 7 == 1 {
                    Some(b"far future".to_vec())
                } else if i % 5 == 0 {
                    None
                } else if i % 3 == 0 {
                    Some(vec![!(i as u8); 30])
                } else {
                    Some(vec![i as u8; 20])
                };
                assert_eq!(db.get(&i.to_be_bytes()).unwrap(), want, "key {i}");
            }
            let s = db.stats();
            assert_eq!(
                (s.live_bytes, s.dead_bytes),
                (before.live_bytes, before.dead_bytes)
            );
        };
        let hints: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "hint"))
            .collect();
        let versions: Vec<u8> = hints.iter().map(|p| std::fs::read(p).unwrap()[8]).collect();
        assert!(
            versions.contains(&if merged { 2 } else { 1 }),
            "{versions:?}"
        );
        let db = open(dir.path());
        assert_eq!(
            db.stats().hint_files_loaded,
            hints.len() as u64,
            "the reopen must use the hints"
        );
        check(&db);
        drop(db);
        for p in hints {
            std::fs::remove_file(p).unwrap();
        }
        let db = open(dir.path());
        assert_eq!(db.stats().hint_files_loaded, 0);
        check(&db);
    }
}
