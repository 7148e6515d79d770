//! Expiry: per-key TTLs and store-wide expiry make keys absent to every read path at once, across
//! reopen and merge, and their bytes dead.

use std::ops::ControlFlow;
use std::time::Duration;

use bitcask::{Bitcask, ErrorKind, Options};

fn visible_everywhere(db: &Bitcask, key: &[u8]) -> [bool; 7] {
    let mut folded = false;
    let _ = db
        .fold(|k, _| {
            folded |= k == key;
            ControlFlow::Continue(())
        })
        .unwrap();
    let mut keys = false;
    let _ = db.fold_keys(|k| {
        keys |= k == key;
        ControlFlow::Continue(())
    });
    let mut scanned = false;
    let _ = db
        .scan(None, None, |k, _| {
            scanned |= k == key;
            ControlFlow::Continue(())
        })
        .unwrap();
    let mut prefixed = false;
    let _ = db
        .scan_prefix(key, |k, _| {
            prefixed |= k == key;
            ControlFlow::Continue(())
        })
        .unwrap();
    let iterated = db.iter().any(|e| e.unwrap().0 == key);
    [
        db.get(key).unwrap().is_some(),
        db.contains(key).unwrap(),
        folded,
        keys,
        scanned,
        prefixed,
        iterated,
    ]
}

#[test]
fn a_ttl_key_vanishes_from_every_read_path_and_stays_gone() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(
        db.put_ttl(b"k", b"v", 0).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    db.put_ttl(b"short", b"lived", 1).unwrap();
    db.put_ttl(b"made-permanent", b"v", 1).unwrap();
    db.put(b"made-permanent", b"v2").unwrap();
    db.put(b"forever", b"x").unwrap();
    assert_eq!(visible_everywhere(&db, b"short"), [true; 7]);
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(visible_everywhere(&db, b"short"), [false; 7]);
    assert!(
        !db.delete(b"short").unwrap(),
        "an expired key is not there to delete"
    );
    assert_eq!(visible_everywhere(&db, b"made-permanent"), [true; 7]);
    assert_eq!(db.get(b"forever").unwrap().as_deref(), Some(&b"x"[..]));
    drop(db);
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(visible_everywhere(&db, b"short"), [false; 7]);
    assert_eq!(db.len(), 2);
    let before = db.stats();
    db.merge().unwrap();
    let after = db.stats();
    assert_eq!(visible_everywhere(&db, b"short"), [false; 7]);
    assert_eq!(
        after.live_bytes, before.live_bytes,
        "expired bytes were never live"
    );
    assert_eq!(after.dead_bytes, 0);
    drop(db);
    assert_eq!(
        visible_everywhere(
            &Bitcask::open(dir.path(), &Options::default()).unwrap(),
            b"short"
        ),
        [false; 7]
    );
}

#[test]
fn expired_bytes_count_as_dead_once_swept() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    db.put_ttl(b"a", &[0; 100], 1).unwrap();
    db.put(b"b", &[0; 100]).unwrap();
    let live = db.stats().live_bytes;
    std::thread::sleep(Duration::from_millis(2100));
    // The background thread may have swept already; sweeping again finds nothing more.
    db.sweep_expired();
    assert_eq!(db.sweep_expired(), 0);
    let s = db.stats();
    assert_eq!(s.keys, 1);
    // "a" carries a 4-byte expiry field: 11 + 4 + 1 + 100; "b" 11 + 1 + 100.
    assert_eq!(live, 116 + 112);
    assert_eq!(s.live_bytes, 112);
    assert_eq!(s.dead_bytes, 116);
}

#[test]
fn store_wide_expiry_counts_from_the_write_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::default();
    o.expiry_secs(1);
    let db = Bitcask::open(dir.path(), &o).unwrap();
    db.put(b"k", b"v").unwrap();
    db.put_ttl(b"long-ttl", b"v", 1000).unwrap();
    assert!(db.contains(b"k").unwrap());
    std::thread::sleep(Duration::from_millis(2100));
    assert!(!db.contains(b"k").unwrap());
    assert!(
        !db.contains(b"long-ttl").unwrap(),
        "the store-wide expiry ends sooner"
    );
    drop(db);
    let db = Bitcask::open(dir.path(), &o).unwrap();
    assert!(db.is_empty());
}

#[test]
fn a_ttl_is_a_minimum_lifetime_whatever_the_clock_granularity() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    let millis = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_millis()
    };
    // Just before a second boundary...
    while millis() < 940 {
        std::thread::sleep(Duration::from_millis(5));
    }
    db.put_ttl(b"edge", b"v", 1).unwrap();
    // ...and just after it: far less than a second has passed.
    while millis() >= 900 {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(30));
    assert!(
        db.contains(b"edge").unwrap(),
        "a 1-second TTL ended within ~100 ms"
    );
}
