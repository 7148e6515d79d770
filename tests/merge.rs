//! Merge and hint files: space comes back, nothing is lost or resurrected, concurrent work goes
//! on, reopen reads hints instead of values, and damaged or missing hints fall back to a scan.

mod common;

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bitcask::{Bitcask, ErrorKind, MergeTrigger, Options};
use common::data_files;
use fastrand::Rng;

fn opts() -> Options {
    let mut o = Options::default();
    o.max_file_size(8 << 10).unwrap();
    o
}

fn value(i: u32, round: u32) -> Vec<u8> {
    format!("value {i} round {round} {}", "x".repeat((i % 50) as usize)).into_bytes()
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    data_files(dir)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

#[test]
fn merge_shrinks_disk_to_the_live_data_and_keeps_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &opts()).unwrap();
    for round in 0..5 {
        for i in 0..500u32 {
            db.put(&i.to_be_bytes(), &value(i, round)).unwrap();
        }
    }
    for i in (0..500u32).step_by(3) {
        db.delete(&i.to_be_bytes()).unwrap();
    }
    let before = db.stats();
    assert!(before.dead_bytes > 4 * before.live_bytes);
    db.merge().unwrap();
    let after = db.stats();
    assert_eq!(after.merges, 1);
    assert_eq!(after.keys, before.keys);
    assert_eq!(
        after.live_bytes, before.live_bytes,
        "live records are copied byte for byte"
    );
    assert_eq!(after.sealed_dead_bytes, 0);
    assert!(after.reclaimed_bytes > 0);
    let on_disk = dir_bytes(dir.path());
    assert!(
        on_disk < after.live_bytes + after.live_bytes / 5 + 2 * 24 * after.data_files,
        "{on_disk} bytes on disk for {} live",
        after.live_bytes
    );
    let check = |db: &Bitcask| {
        for i in 0..500u32 {
            let want = (i % 3 != 0).then(|| value(i, 4));
            assert_eq!(db.get(&i.to_be_bytes()).unwrap(), want, "key {i}");
        }
    };
    check(&db);
    drop(db);
    let db = Bitcask::open(dir.path(), &opts()).unwrap();
    check(&db);
    assert_eq!(
        db.stats().data_files_scanned,
        0,
        "every file has a hint after a merge and close"
    );
    assert!(db.stats().hint_files_loaded > 0);
    drop(db);
    // No leftovers: no temporary directory, no merge record, a hint per data file.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("merge") || n.starts_with("MERGED")),
        "{names:?}"
    );
    let hints = names.iter().filter(|n| n.ends_with(".hint")).count();
    assert_eq!(
        hints,
        data_files(dir.path()).len(),
        "a closed store has a hint per data file: {names:?}"
    );
}

#[test]
fn deleted_keys_never_come_back_whatever_the_mix_of_merges_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::with_seed(99);
    let mut model: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    let mut db = Bitcask::open(dir.path(), &opts()).unwrap();
    for step in 0..4000u32 {
        let k = rng.u64(..300) as u32;
        match rng.u64(..20) {
            0..=10 => {
                let v = value(k, step);
                db.put(&k.to_be_bytes(), &v).unwrap();
                model.insert(k, v);
            }
            11..=16 => {
                assert_eq!(
                    db.delete(&k.to_be_bytes()).unwrap(),
                    model.remove(&k).is_some()
                );
            }
            17 => db.merge().unwrap(),
            18 => {
                drop(db);
                db = Bitcask::open(dir.path(), &opts()).unwrap();
            }
            _ => {
                // Remove some hints: reopen must scan those files and agree.
                for h in std::fs::read_dir(dir.path()).unwrap() {
                    let p = h.unwrap().path();
                    if p.extension().is_some_and(|e| e == "hint") && rng.bool() {
                        std::fs::remove_file(p).unwrap();
                    }
                }
            }
        }
        if step % 500 == 0 {
            for k in 0..300u32 {
                assert_eq!(
                    db.get(&k.to_be_bytes()).unwrap(),
                    model.get(&k).cloned(),
                    "step {step}"
                );
            }
        }
    }
    drop(db);
    let db = Bitcask::open(dir.path(), &opts()).unwrap();
    for k in 0..300u32 {
        assert_eq!(db.get(&k.to_be_bytes()).unwrap(), model.get(&k).cloned());
    }
    assert_eq!(db.len(), model.len());
}

#[test]
fn writers_readers_and_a_fold_keep_working_during_merges() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &opts()).unwrap();
    for i in 0..2000u32 {
        db.put(&i.to_be_bytes(), &value(i, 0)).unwrap();
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (db, stop) = (&db, &stop);
        // Writer: overwrites keys and immediately reads its own write back.
        s.spawn(move || {
            let mut round = 1;
            while !stop.load(Ordering::Relaxed) {
                for i in (0..2000u32).step_by(7) {
                    db.put(&i.to_be_bytes(), &value(i, round)).unwrap();
                    assert_eq!(db.get(&i.to_be_bytes()).unwrap().unwrap(), value(i, round));
                }
                round += 1;
            }
        });
        // Readers: every key is always present with a well-formed value.
        for _ in 0..2 {
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for i in (0..2000u32).rev() {
                        let v = db.get(&i.to_be_bytes()).unwrap().expect("key vanished");
                        assert!(v.starts_with(format!("value {i} round ").as_bytes()));
                    }
                }
            });
        }
        // A fold that straddles merges sees every key exactly once.
        s.spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let mut seen = std::collections::HashSet::new();
                let _ = db
                    .fold(|k, _| {
                        assert!(seen.insert(k.to_vec()));
                        std::thread::sleep(Duration::from_micros(20));
                        ControlFlow::Continue(())
                    })
                    .unwrap();
                assert_eq!(seen.len(), 2000);
            }
        });
        for _ in 0..8 {
            db.merge().unwrap();
            std::thread::sleep(Duration::from_millis(30));
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(db.stats().merges >= 8);
    let snapshot: Vec<Option<Vec<u8>>> = (0..2000u32)
        .map(|i| db.get(&i.to_be_bytes()).unwrap())
        .collect();
    drop(db);
    let db = Bitcask::open(dir.path(), &opts()).unwrap();
    for i in 0..2000u32 {
        assert_eq!(
            db.get(&i.to_be_bytes()).unwrap(),
            snapshot[i as usize],
            "key {i}"
        );
    }
}

#[test]
fn a_write_during_the_merge_wins_over_the_merged_copy() {
    // Many rounds: each merge races with overwrites and deletes of the keys it is copying.
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &opts()).unwrap();
    for round in 0..10u32 {
        for i in 0..300u32 {
            db.put(&i.to_be_bytes(), &value(i, round * 2)).unwrap();
        }
        std::thread::scope(|s| {
            s.spawn(|| db.merge().unwrap());
            for i in 0..300u32 {
                if i % 2 == 0 {
                    db.put(&i.to_be_bytes(), &value(i, round * 2 + 1)).unwrap();
                } else {
                    db.delete(&i.to_be_bytes()).unwrap();
                }
            }
        });
        for i in 0..300u32 {
            let want = (i % 2 == 0).then(|| value(i, round * 2 + 1));
            assert_eq!(
                db.get(&i.to_be_bytes()).unwrap(),
                want,
                "round {round} key {i}"
            );
        }
    }
    drop(db);
    let db = Bitcask::open(dir.path(), &opts()).unwrap();
    for i in 0..300u32 {
        let want = (i % 2 == 0).then(|| value(i, 19));
        assert_eq!(
            db.get(&i.to_be_bytes()).unwrap(),
            want,
            "key {i} after reopen"
        );
    }
}

#[test]
fn damaged_hints_fall_back_to_scanning_the_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &opts()).unwrap();
    for i in 0..1000u32 {
        db.put(&i.to_be_bytes(), &value(i, 0)).unwrap();
    }
    db.close().unwrap();
    let hints: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hint"))
        .collect();
    assert!(hints.len() > 3);
    // Damage one, truncate one, empty one, delete one.
    let mut b = std::fs::read(&hints[0]).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x20;
    std::fs::write(&hints[0], b).unwrap();
    let b = std::fs::read(&hints[1]).unwrap();
    std::fs::write(&hints[1], &b[..b.len() - 5]).unwrap();
    std::fs::write(&hints[2], b"").unwrap();
    std::fs::remove_file(&hints[3]).unwrap();
    let db = Bitcask::open(dir.path(), &opts()).unwrap();
    assert_eq!(db.stats().data_files_scanned, 4);
    for i in 0..1000u32 {
        assert_eq!(db.get(&i.to_be_bytes()).unwrap().unwrap(), value(i, 0));
    }
    drop(db);
    // The background thread rewrote the missing hints.
    assert_eq!(
        Bitcask::open(dir.path(), &opts())
            .unwrap()
            .stats()
            .data_files_scanned,
        0
    );
}

#[test]
fn a_failed_merge_leaves_the_store_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &opts()).unwrap();
    for i in 0..500u32 {
        db.put(&i.to_be_bytes(), &value(i, 0)).unwrap();
        db.put(&i.to_be_bytes(), &value(i, 1)).unwrap();
    }
    // A plain file where the merge wants its working directory makes it fail.
    std::fs::write(dir.path().join("merge.tmp"), b"in the way").unwrap();
    let files_before = data_files(dir.path());
    let err = db.merge().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.to_string().contains("merge"), "{err}");
    assert_eq!(db.stats().merges, 0);
    for i in 0..500u32 {
        assert_eq!(db.get(&i.to_be_bytes()).unwrap().unwrap(), value(i, 1));
    }
    // Only the sealing of the active file happened.
    for f in &files_before {
        assert!(f.exists(), "{} was removed", f.display());
    }
    std::fs::remove_file(dir.path().join("merge.tmp")).unwrap();
    db.merge().unwrap();
    drop(db);
    let db = Bitcask::open(dir.path(), &opts()).unwrap();
    for i in 0..500u32 {
        assert_eq!(db.get(&i.to_be_bytes()).unwrap().unwrap(), value(i, 1));
    }
}

#[test]
fn auto_merge_runs_when_the_trigger_holds_and_stops_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts();
    o.auto_merge(true)
        .merge_trigger(MergeTrigger {
            fragmentation_percent: 50,
            dead_bytes: u64::MAX,
        })
        .unwrap();
    let db = Bitcask::open(dir.path(), &o).unwrap();
    for round in 0..4 {
        for i in 0..300u32 {
            db.put(&i.to_be_bytes(), &value(i, round)).unwrap();
        }
    }
    let mut waited = 0;
    while db.stats().merges == 0 && waited < 100 {
        std::thread::sleep(Duration::from_millis(50));
        waited += 1;
    }
    let s = db.stats();
    assert!(s.merges >= 1, "no background merge: {s:?}");
    for i in 0..300u32 {
        assert_eq!(db.get(&i.to_be_bytes()).unwrap().unwrap(), value(i, 3));
    }
    db.close().unwrap();
}

#[test]
fn auto_merge_stays_idle_below_the_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts();
    o.auto_merge(true);
    let db = Bitcask::open(dir.path(), &o).unwrap();
    for i in 0..2000u32 {
        db.put(&i.to_be_bytes(), &value(i, 0)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(db.stats().merges, 0, "merged a store with no dead bytes");
}

#[test]
fn a_read_only_handle_opened_before_a_merge_reports_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &opts()).unwrap();
    for i in 0..500u32 {
        db.put(&i.to_be_bytes(), &value(i, 0)).unwrap();
    }
    let mut ro = opts();
    ro.read_only(true);
    let reader = Bitcask::open(dir.path(), &ro).unwrap();
    db.merge().unwrap();
    let err = reader.get(&0u32.to_be_bytes()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains("reopen the handle"), "{err}");
    drop(reader);
    let reader = Bitcask::open(dir.path(), &ro).unwrap();
    assert_eq!(
        reader.get(&0u32.to_be_bytes()).unwrap().unwrap(),
        value(0, 0)
    );
}

#[test]
fn a_large_reopen_from_hints_matches_a_reopen_by_scanning() {
    // Large enough (> 64 Ki entries per hint) that hint entries are applied on several threads.
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::default();
    o.max_file_size(8 << 20).unwrap();
    let db = Bitcask::open(dir.path(), &o).unwrap();
    for round in 0..2u32 {
        for i in 0..150_000u32 {
            db.put(&i.to_le_bytes(), &[round as u8; 20]).unwrap();
        }
    }
    for i in (0..150_000u32).step_by(5) {
        db.delete(&i.to_le_bytes()).unwrap();
    }
    db.close().unwrap();
    let from_hints = Bitcask::open(dir.path(), &o).unwrap();
    let a = from_hints.stats();
    assert_eq!(a.data_files_scanned, 0);
    let values: Vec<Option<Vec<u8>>> = (0..150_000u32)
        .map(|i| from_hints.get(&i.to_le_bytes()).unwrap())
        .collect();
    drop(from_hints);
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "hint") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let scanned = Bitcask::open(dir.path(), &o).unwrap();
    let b = scanned.stats();
    assert_eq!(b.hint_files_loaded, 0);
    assert_eq!(
        (a.keys, a.live_bytes, a.dead_bytes),
        (b.keys, b.live_bytes, b.dead_bytes)
    );
    assert_eq!(a.keys, 120_000);
    for i in 0..150_000u32 {
        assert_eq!(
            scanned.get(&i.to_le_bytes()).unwrap(),
            values[i as usize],
            "key {i}"
        );
    }
}

#[test]
fn close_rewrites_the_last_files_hint_only_after_appends() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    db.put(b"k", b"v").unwrap();
    db.close().unwrap();
    let hint = data_files(dir.path())[0].with_extension("hint");
    let inode = |p: &std::path::Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).unwrap().ino()
    };
    let first = inode(&hint);
    // Open and close without writing: the hint (loaded at open) is kept as it is.
    Bitcask::open(dir.path(), &Options::default())
        .unwrap()
        .close()
        .unwrap();
    assert_eq!(
        inode(&hint),
        first,
        "an unchanged file's hint was rewritten"
    );
    // After an append the old hint is stale; close writes a new one (a new file, renamed in).
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    db.put(b"k2", b"v2").unwrap();
    db.close().unwrap();
    assert_ne!(inode(&hint), first);
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(db.stats().data_files_scanned, 0);
    assert_eq!(db.get(b"k2").unwrap().as_deref(), Some(&b"v2"[..]));
}
