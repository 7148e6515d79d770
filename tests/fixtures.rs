//! Stores written by earlier builds of the library, committed byte for byte, must keep opening
//! and reading the same (docs/FORMAT.md, versions). `tests/data/fixtures/`:
//! - `v1-compact`, `v1-keyed`: written by the library at commit 46fb57c (data file format
//!   version 1, before batch-start marks), with compact and with keyed hints;
//! - `v2-compact`, `v2-keyed`: the same program run by the library as of data format version 2,
//!   before the keydir that holds no keys (issue 18), which will change the hints.
//!
//! Each was made by `make_fixture.rs.txt` there (an example program: 4 KiB files; 200 keys, half
//! overwritten, every 7th deleted; a key with a long TTL and one with a 1-second TTL; a batch; a
//! merge; 50 more keys and a second batch; close). Tests copy them: a read-write open changes
//! files.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;

use bitcask::{Bitcask, Options};

type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// What every fixture holds.
fn expected() -> State {
    let mut s = State::new();
    for i in 0..200u32 {
        let round = if i % 2 == 0 { 1 } else { 0 };
        s.insert(
            format!("key{i:03}").into_bytes(),
            format!("value-{i}-{round}").into_bytes(),
        );
    }
    for i in (0..200u32).step_by(7) {
        s.remove(format!("key{i:03}").as_bytes());
    }
    s.insert(b"ttl-long".to_vec(), b"lives".to_vec());
    s.insert(b"batch-a".to_vec(), b"A".to_vec());
    s.insert(b"batch-b".to_vec(), b"B".to_vec());
    s.remove(&b"key001"[..]);
    for i in 0..50u32 {
        s.insert(format!("after{i:02}").into_bytes(), b"later".to_vec());
    }
    s.insert(b"batch-c".to_vec(), b"C".to_vec());
    s.insert(b"key003".to_vec(), b"from a batch".to_vec());
    s
}

fn served(db: &Bitcask) -> State {
    let mut keys = Vec::new();
    let _ = db.fold_keys(|k| {
        keys.push(k.to_vec());
        ControlFlow::Continue(())
    });
    let state: State = keys
        .into_iter()
        .map(|k| {
            let v = db.get(&k).unwrap().expect("a listed key reads back");
            (k, v)
        })
        .collect();
    assert!(
        db.get(b"ttl-short").unwrap().is_none(),
        "the 1-second TTL has passed"
    );
    state
}

fn copy_of(fixture: &str) -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fixtures")
        .join(fixture);
    let dst = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.path().join(e.file_name())).unwrap();
    }
    dst
}

fn check(fixture: &str) {
    let want = expected();
    let dir = copy_of(fixture);
    let mut ro = Options::default();
    ro.read_only(true);
    let db = Bitcask::open(dir.path(), &ro).unwrap();
    assert_eq!(served(&db), want, "{fixture}: read-only");
    let s = db.stats();
    assert_eq!(
        (s.corrupt_records, s.data_files_scanned, s.hint_files_loaded),
        (0, 0, 3),
        "{fixture}: every file from its hint, no damage"
    );
    drop(db);

    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(served(&db), want, "{fixture}: read-write");
    db.put(b"new", b"write").unwrap();
    db.merge().unwrap();
    db.close().unwrap();
    let mut want = want;
    want.insert(b"new".to_vec(), b"write".to_vec());
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(
        served(&db),
        want,
        "{fixture}: after a write, a merge and a reopen"
    );
    db.close().unwrap();
    let report = bitcask::verify::verify(dir.path(), false, &mut |_| {}).unwrap();
    assert!(
        report.problems.is_empty(),
        "{fixture}: {:?}",
        report.problems
    );
}

#[test]
fn version_1_store_with_compact_hints() {
    check("v1-compact");
}

#[test]
fn version_1_store_with_keyed_hints() {
    check("v1-keyed");
}

#[test]
fn version_2_store_with_compact_hints() {
    check("v2-compact");
}

#[test]
fn version_2_store_with_keyed_hints() {
    check("v2-keyed");
}
