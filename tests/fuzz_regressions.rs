//! Failing cases the fuzz targets (fuzz/) found, kept as ordinary tests. Each builds the damaged
//! directory by hand: hint files and merge records whose checksums hold but whose contents are
//! inconsistent (as a crafted file or a writer bug would leave them).

use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use bitcask::{Bitcask, Options};

/// CRC-32/ISO-HDLC, as FORMAT.md specifies (bitwise: the inputs here are a few hundred bytes).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn hint_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:010}.hint"))
}

/// A store whose first data file is sealed with a hint (with keys) listing `k1` then `k2`; `k1`
/// was later overwritten in the second file. Returns the hint's bytes and how many hints an open
/// uses.
fn store_with_hint(dir: &Path) -> (Vec<u8>, u64) {
    let mut opts = Options::default();
    opts.max_file_size(256).unwrap().compact_hints(false);
    let db = Bitcask::open(dir, &opts).unwrap();
    db.put(b"k1", &[b'a'; 100]).unwrap();
    db.put(b"k2", &[b'b'; 100]).unwrap();
    db.put(b"k1", &[b'c'; 100]).unwrap(); // past 256 bytes: the first file is sealed
    db.close().unwrap();
    let hint = fs::read(hint_path(dir, 1)).expect("the sealed first file has a hint");
    assert!(hint.windows(2).any(|w| w == b"k2"));
    let db = Bitcask::open(dir, &Options::default()).unwrap();
    let hints = db.stats().hint_files_loaded;
    assert!(hints >= 1);
    db.close().unwrap();
    (hint, hints)
}

/// Rewrites the hint's trailing CRC (the last 4 bytes: CRC-32 of everything before them).
fn write_hint(dir: &Path, mut hint: Vec<u8>) {
    let at = hint.len() - 4;
    let crc = crc32(&hint[..at]);
    hint[at..].copy_from_slice(&crc.to_le_bytes());
    fs::write(hint_path(dir, 1), hint).unwrap();
}

/// Every key a fold yields reads back through get with the same value, once.
fn check_fold_agrees_with_get(db: &Bitcask) {
    let mut seen = Vec::new();
    let _ = db.fold(|k, v| {
        assert!(!seen.contains(&k.to_vec()), "fold yielded {k:?} twice");
        seen.push(k.to_vec());
        assert_eq!(
            db.get(k).unwrap().as_deref(),
            Some(v),
            "fold yielded {k:?} with a value get does not return"
        );
        ControlFlow::Continue(())
    });
}

/// open_garbage: a hint entry pointing past the end of its data file made every read of that key
/// fail with an I/O error ("reach past the end") instead of the hint being ignored.
#[test]
fn hint_entry_past_the_end_of_its_data_file_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (mut hint, hints) = store_with_hint(dir.path());
    // The first entry's offset field (entry bytes 5..9, right after the 24-byte header).
    hint[24 + 5..24 + 9].copy_from_slice(&0x00FF_FFFFu32.to_le_bytes());
    write_hint(dir.path(), hint);
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(
        db.stats().hint_files_loaded,
        hints - 1,
        "the damaged hint was used"
    );
    assert_eq!(db.get(b"k1").unwrap(), Some(vec![b'c'; 100]));
    assert_eq!(db.get(b"k2").unwrap(), Some(vec![b'b'; 100]));
    check_fold_agrees_with_get(&db);
}

/// open_garbage: two hint entries naming the same record made a fold yield that record's key
/// twice (the second time under the other entry's key, which a fold never checked).
#[test]
fn hint_entries_sharing_a_record_are_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (mut hint, hints) = store_with_hint(dir.path());
    // Point the second entry (k2's) at the first entry's record: copy offset and length.
    let first = 24;
    let second = first + 13 + 1 + 2; // fixed part, 1-byte key length, "k1"
    assert_eq!(&hint[second + 14..second + 16], b"k2");
    let loc: Vec<u8> = hint[first + 5..first + 13].to_vec();
    hint[second + 5..second + 13].copy_from_slice(&loc);
    write_hint(dir.path(), hint);
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(
        db.stats().hint_files_loaded,
        hints - 1,
        "the inconsistent hint was used"
    );
    assert_eq!(db.get(b"k2").unwrap(), Some(vec![b'b'; 100]));
    check_fold_agrees_with_get(&db);
}

/// open_garbage: a hint entry filing a record under another key (here k2's record under "k3")
/// made a fold yield k2, a key get does not have, with its old value. A fold must check that
/// each record holds the key the index filed it under, as get does (FORMAT.md, rule 6).
#[test]
fn fold_checks_each_record_holds_the_key_it_was_filed_under() {
    let dir = tempfile::tempdir().unwrap();
    let (mut hint, _) = store_with_hint(dir.path());
    let at = hint.windows(2).position(|w| w == b"k2").unwrap();
    hint[at + 1] = b'3';
    write_hint(dir.path(), hint);
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(db.get(b"k2").unwrap(), None, "the index has no k2");
    assert!(
        db.get(b"k3").is_err(),
        "k3's record holds k2: get reports damage"
    );
    check_fold_agrees_with_get(&db);
    let mut keys = Vec::new();
    let res = db.fold(|k, _| {
        keys.push(k.to_vec());
        ControlFlow::Continue(())
    });
    assert_eq!(keys, vec![b"k1".to_vec()]);
    assert!(res.is_err(), "the mislabelled record is reported as damage");
}

/// open_garbage: a merge commit record with a valid checksum and no output files panicked the
/// read-write open (index out of bounds naming the MERGED- marker).
#[test]
fn merge_commit_without_outputs_does_not_panic_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    db.put(b"k", b"v").unwrap();
    db.close().unwrap();
    let mut commit = b"BCMERGE1".to_vec();
    commit.extend_from_slice(&1u32.to_le_bytes()); // one input...
    commit.extend_from_slice(&1u32.to_le_bytes()); // ...file 1, the store's only file
    commit.extend_from_slice(&0u32.to_le_bytes()); // no outputs
    let crc = crc32(&commit);
    commit.extend_from_slice(&crc.to_le_bytes());
    fs::create_dir(dir.path().join("merge.tmp")).unwrap();
    fs::write(dir.path().join("merge.tmp/COMMIT"), &commit).unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    assert!(!dir.path().join("merge.tmp").exists());
    db.close().unwrap();
}

/// What get returns for a key; an error as its kind.
type Read = Result<Option<Vec<u8>>, String>;

/// Every key the index lists, with what get returns for it (a damaged record reads as an error).
fn served(db: &Bitcask) -> Vec<(Vec<u8>, Read)> {
    let mut keys = Vec::new();
    let _ = db.fold_keys(|k| {
        keys.push(k.to_vec());
        ControlFlow::Continue(())
    });
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let v = db.get(&k).map_err(|e| format!("{:?}", e.kind()));
            (k, v)
        })
        .collect()
}

/// open_garbage (once its hint footers were fixed, so runs went deeper): a last data file with
/// damage in the middle and garbage at its end. The repairing open cut the garbage; but where
/// replay resumes after damage depends on what follows it (a candidate counts when a valid
/// record or the end of the file comes next), and the cut moved the end, so the next open
/// served a batch ("k2" = "batched") that the repairing open had not. A repairing open that cuts
/// a damaged last file now replays it again as cut (`recovery::load`).
#[test]
fn a_repair_that_moves_the_end_of_a_damaged_file_serves_what_later_opens_serve() {
    let dir = tempfile::tempdir().unwrap();
    let files: [(&str, &[u8]); 4] = [
        (
            "0000000002.data",
            include_bytes!("data/repair-moves-file-end/0000000002.data"),
        ),
        (
            "0000000003.data",
            include_bytes!("data/repair-moves-file-end/0000000003.data"),
        ),
        (
            "0000000006.data",
            include_bytes!("data/repair-moves-file-end/0000000006.data"),
        ),
        (
            "0000000007.data",
            include_bytes!("data/repair-moves-file-end/0000000007.data"),
        ),
    ];
    for (name, bytes) in files {
        fs::write(dir.path().join(name), bytes).unwrap();
    }
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert!(
        db.stats().truncated_bytes > 0,
        "the repair cuts the last file"
    );
    let repaired = served(&db);
    db.close().unwrap();
    for _ in 0..2 {
        let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
        assert_eq!(served(&db), repaired);
        db.close().unwrap();
    }
}

/// open_garbage `regression-resync-after-tail-cut`: one data file with a damaged record whose
/// length still decodes, then a batch, then a torn tail. A read-only open (which cuts nothing)
/// and the repairing open served the batch, the open after the cut did not. Every open now
/// replays a damaged last file as cut, read-only ones included.
#[test]
fn read_only_repairing_and_later_opens_of_a_damaged_file_serve_the_same() {
    let bytes = include_bytes!("data/resync-after-tail-cut/0000000001.data");
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("0000000001.data"), bytes).unwrap();
    let mut ro = Options::default();
    ro.read_only(true);
    let db = Bitcask::open(dir.path(), &ro).unwrap();
    let read_only = served(&db);
    drop(db);
    assert_eq!(
        fs::read(dir.path().join("0000000001.data")).unwrap(),
        bytes,
        "a read-only open changes nothing"
    );
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert!(db.stats().truncated_bytes > 0, "the repair cuts the file");
    assert_eq!(served(&db), read_only);
    db.close().unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(served(&db), read_only);
}

/// open_garbage: the damage counters in hint footers were summed unchecked; two hints claiming
/// 2^63 damaged records overflowed (a panic in debug builds, a wrapped count in release).
#[test]
fn huge_damage_counters_in_hints_do_not_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options::default();
    opts.max_file_size(256).unwrap().compact_hints(false);
    let db = Bitcask::open(dir.path(), &opts).unwrap();
    for i in 0..5u8 {
        db.put(&[b'k', i], &[i; 100]).unwrap(); // two records per file, three files
    }
    db.close().unwrap();
    for id in [1, 2] {
        let mut hint = fs::read(hint_path(dir.path(), id)).unwrap();
        let footer = hint.len() - 40;
        for word in [2, 3] {
            let at = footer + word * 8;
            hint[at..at + 8].copy_from_slice(&(1u64 << 63).to_le_bytes());
        }
        let at = hint.len() - 4;
        let crc = crc32(&hint[..at]);
        hint[at..].copy_from_slice(&crc.to_le_bytes());
        fs::write(hint_path(dir.path(), id), hint).unwrap();
    }
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    let s = db.stats();
    assert_eq!(s.hint_files_loaded, 3);
    assert_eq!((s.corrupt_records, s.corrupt_bytes), (u64::MAX, u64::MAX));
    assert_eq!(db.get(b"k\x04").unwrap(), Some(vec![4; 100]));
    db.merge().unwrap();
}
