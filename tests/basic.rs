//! Everyday behaviour of the Rust API: round trips, overwrite, delete, reopen, limits.

use std::ops::ControlFlow;

use bitcask::{Bitcask, Error, ErrorKind, Options};

fn open(dir: &std::path::Path) -> Bitcask {
    Bitcask::open(dir, &Options::default()).unwrap()
}

#[test]
fn put_get_overwrite_delete_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.put(b"a", b"1").unwrap();
    db.put(b"b", b"2").unwrap();
    db.put(b"a", b"3").unwrap();
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"3"[..]));
    assert!(db.delete(b"b").unwrap());
    assert!(!db.delete(b"b").unwrap(), "second delete finds nothing");
    assert!(!db.delete(b"never").unwrap());
    assert_eq!(db.get(b"b").unwrap(), None);
    assert_eq!(db.len(), 1);
    db.close().unwrap();

    let db = open(dir.path());
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(db.get(b"b").unwrap(), None);
    assert_eq!(db.len(), 1);
}

#[test]
fn empty_values_and_binary_keys_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.put(b"\0k\0", b"").unwrap();
    db.put(&[0xff; 300], b"v\0v").unwrap();
    assert_eq!(db.get(b"\0k\0").unwrap(), Some(vec![]));
    assert!(db.contains(b"\0k\0").unwrap());
    drop(db);
    let db = open(dir.path());
    assert_eq!(db.get(b"\0k\0").unwrap(), Some(vec![]));
    assert_eq!(db.get(&[0xff; 300]).unwrap().as_deref(), Some(&b"v\0v"[..]));
}

#[test]
fn limits_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options::default();
    opts.max_key_size(4).unwrap().max_value_size(8).unwrap();
    let db = Bitcask::open(dir.path(), &opts).unwrap();
    assert_eq!(
        db.put(b"12345", b"").unwrap_err().kind(),
        ErrorKind::TooLarge
    );
    assert_eq!(
        db.put(b"1", b"123456789").unwrap_err().kind(),
        ErrorKind::TooLarge
    );
    assert_eq!(db.get(b"12345").unwrap_err().kind(), ErrorKind::TooLarge);
    assert_eq!(
        db.put(b"", b"x").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    db.put(b"1234", b"12345678").unwrap();
}

#[test]
fn defaults_accept_64k_keys_and_64m_values() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let key = vec![7u8; 64 << 10];
    let value: Vec<u8> = (0..(64u32 << 20)).map(|i| (i % 251) as u8).collect();
    db.put(&key, &value).unwrap();
    assert!(db.get(&key).unwrap().unwrap() == value);
    drop(db);
    let db = open(dir.path());
    assert!(db.get(&key).unwrap().unwrap() == value);
}

#[test]
fn fold_visits_live_keys_once_in_log_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options::default();
    opts.max_file_size(300).unwrap();
    let db = Bitcask::open(dir.path(), &opts).unwrap();
    for i in 0..50u32 {
        db.put(format!("k{i:02}").as_bytes(), &i.to_le_bytes())
            .unwrap();
    }
    db.put(b"k10", b"new").unwrap(); // moves k10 to the end of the log
    db.delete(b"k20").unwrap();
    assert!(db.stats().data_files > 3, "the test needs several files");
    let mut seen = Vec::new();
    let end = db
        .fold(|k, v| {
            seen.push((k.to_vec(), v.to_vec()));
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(end.is_continue());
    assert_eq!(seen.len(), 49);
    assert_eq!(seen.last().unwrap(), &(b"k10".to_vec(), b"new".to_vec()));
    let expected: Vec<Vec<u8>> = (0..50u32)
        .filter(|&i| i != 10 && i != 20)
        .map(|i| format!("k{i:02}").into_bytes())
        .chain([b"k10".to_vec()])
        .collect();
    let got: Vec<Vec<u8>> = seen.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(got, expected);
}

#[test]
fn fold_can_stop_and_can_write_to_the_same_handle() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    for i in 0..100u32 {
        db.put(&i.to_be_bytes(), b"x").unwrap();
    }
    let mut visits = 0;
    let end = db
        .fold(|k, _| {
            visits += 1;
            // Writing from inside the callback must neither deadlock nor add visits.
            db.put(&[k, b"-copy"].concat(), b"y").unwrap();
            db.delete(k).unwrap();
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(end.is_continue());
    assert_eq!(visits, 100);
    assert_eq!(db.len(), 100);
    let mut n = 0;
    let end = db.fold_keys(|_| {
        n += 1;
        if n == 10 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    assert!(end.is_break());
    assert_eq!(n, 10);
}

#[test]
fn errors_have_actionable_messages() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let err = match Bitcask::open(&file, &Options::default()) {
        Err(e) => e,
        Ok(_) => panic!("opened a plain file as a store"),
    };
    assert!(matches!(err, Error::InvalidArgument(_)));
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[test]
fn durable_position_trails_unsynced_writes_and_catches_up_on_sync() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let (id, start) = db.durable_position().unwrap();
    db.put(b"k", b"v").unwrap();
    assert_eq!(
        db.durable_position(),
        Some((id, start)),
        "SyncMode::None: nothing synced yet"
    );
    db.sync().unwrap();
    let (id2, synced) = db.durable_position().unwrap();
    assert_eq!(id2, id);
    assert!(
        synced > start,
        "the put is durable after sync: {synced} > {start}"
    );
    drop(db);

    let mut opts = Options::default();
    opts.read_only(true);
    let ro = Bitcask::open(dir.path(), &opts).unwrap();
    assert_eq!(ro.durable_position(), None);
}

/// Appends go through a map of the active file over space reserved ahead (on the filesystems
/// that allow it, which include the test machine's): the file is longer on disk than its
/// records while open, exactly its records after close, and the data is the same either way.
#[test]
fn mapped_and_pwrite_appends_write_the_same_store() {
    let data_len = |dir: &std::path::Path| -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "data"))
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum()
    };
    let mut files = Vec::new();
    for mmap in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = Options::default();
        opts.mmap_writes(mmap);
        let db = Bitcask::open(dir.path(), &opts).unwrap();
        for i in 0..1000u32 {
            db.put(&i.to_be_bytes(), &[i as u8; 50]).unwrap();
        }
        assert!(db.delete(&7u32.to_be_bytes()).unwrap());
        let total = db.stats().total_bytes;
        if mmap {
            assert!(
                data_len(dir.path()) > total,
                "no space reserved ahead: is {} ext4, XFS or tmpfs?",
                dir.path().display()
            );
        } else {
            assert_eq!(data_len(dir.path()), total);
        }
        db.close().unwrap();
        assert_eq!(data_len(dir.path()), total, "close cuts the reserved space");
        // Reopen in the other mode and keep appending to the same file.
        opts.mmap_writes(!mmap);
        let db = Bitcask::open(dir.path(), &opts).unwrap();
        db.put(b"after", b"reopen").unwrap();
        drop(db);
        let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
        assert_eq!(db.len(), 1000);
        assert_eq!(db.get(&8u32.to_be_bytes()).unwrap(), Some(vec![8; 50]));
        assert_eq!(db.get(b"after").unwrap().as_deref(), Some(&b"reopen"[..]));
        assert_eq!(db.stats().truncated_bytes + db.stats().corrupt_records, 0);
        drop(db);
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "data"))
            .collect();
        names.sort();
        // Same records in the same order; timestamps differ, so compare lengths.
        files.push(
            names
                .iter()
                .map(|p| std::fs::metadata(p).unwrap().len())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(files[0], files[1]);
}

/// A record larger than the file size limit goes alone into its own file, past the end of the
/// append map (it is written with pwrite); the store reads it back, before and after reopen.
#[test]
fn a_record_larger_than_a_data_file_is_written_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options::default();
    opts.max_file_size(4096).unwrap();
    let db = Bitcask::open(dir.path(), &opts).unwrap();
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    db.put(b"small", b"1").unwrap();
    db.put(b"big", &big).unwrap();
    db.put(b"after", b"2").unwrap();
    assert_eq!(db.get(b"big").unwrap().as_deref(), Some(&big[..]));
    drop(db);
    let db = Bitcask::open(dir.path(), &opts).unwrap();
    assert_eq!(db.get(b"big").unwrap().as_deref(), Some(&big[..]));
    assert_eq!(db.get(b"small").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get(b"after").unwrap().as_deref(), Some(&b"2"[..]));
    let s = db.stats();
    assert_eq!((s.truncated_bytes, s.corrupt_records), (0, 0));
}
