//! One handle shared by many threads: parallel readers and writers, group commit, folds that
//! write, interval sync.

mod common;

use std::ops::ControlFlow;
use std::sync::Barrier;
use std::time::Duration;

use bitcask::{Bitcask, Options, SyncMode};

#[test]
fn threads_share_one_handle_for_reads_writes_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options::default();
    opts.max_file_size(64 << 10).unwrap();
    let db = Bitcask::open(dir.path(), &opts).unwrap();
    for i in 0..500u32 {
        db.put(format!("shared{i}").as_bytes(), &i.to_le_bytes())
            .unwrap();
    }
    let threads = 8u32;
    std::thread::scope(|s| {
        for t in 0..threads {
            let db = &db;
            s.spawn(move || {
                for i in 0..2000u32 {
                    let k = format!("t{t}-{i}");
                    db.put(k.as_bytes(), k.as_bytes()).unwrap();
                    if i % 3 == 0 {
                        assert!(db.delete(k.as_bytes()).unwrap());
                    }
                    let j = (i * 7 + t) % 500;
                    assert_eq!(
                        db.get(format!("shared{j}").as_bytes()).unwrap().unwrap(),
                        j.to_le_bytes()
                    );
                }
            });
        }
    });
    let check = |db: &Bitcask| {
        for t in 0..threads {
            for i in 0..2000u32 {
                let k = format!("t{t}-{i}");
                let want = if i % 3 == 0 {
                    None
                } else {
                    Some(k.clone().into_bytes())
                };
                assert_eq!(db.get(k.as_bytes()).unwrap(), want);
            }
        }
    };
    check(&db);
    drop(db);
    check(&Bitcask::open(dir.path(), &opts).unwrap());
}

#[test]
fn concurrent_synced_writers_share_fsyncs() {
    // On a real disk (not tmpfs) so that an fsync takes long enough for writers to overlap.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut opts = Options::default();
    opts.sync(SyncMode::Always).unwrap();
    let db = Bitcask::open(dir.path(), &opts).unwrap();
    let (threads, per_thread) = (8u32, 50u32);
    let start = Barrier::new(threads as usize);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (db, start) = (&db, &start);
            s.spawn(move || {
                start.wait();
                for i in 0..per_thread {
                    db.put(format!("{t}/{i}").as_bytes(), b"durable").unwrap();
                }
            });
        }
    });
    let stats = db.stats();
    let writes = u64::from(threads * per_thread);
    assert!(stats.syncs >= 1);
    assert!(
        stats.syncs < writes,
        "{} fsyncs for {writes} synced writes: no group commit",
        stats.syncs
    );
    eprintln!(
        "group commit: {writes} synced writes, {} fsyncs",
        stats.syncs
    );
}

/// `threads` writers, `per_thread` synced puts each, all released at once.
fn synced_writers(db: &Bitcask, threads: u32, per_thread: u32, tag: &str) {
    let start = Barrier::new(threads as usize);
    std::thread::scope(|s| {
        for t in 0..threads {
            let start = &start;
            s.spawn(move || {
                start.wait();
                for i in 0..per_thread {
                    db.put(format!("{tag}/{t}/{i}").as_bytes(), b"durable")
                        .unwrap();
                }
            });
        }
    });
}

/// A store under `SyncMode::Always` whose fsyncs take `extra` longer: a slow disk, so that the
/// group-commit leader's gathering window (half an fsync) dwarfs a thread's wake-up, however
/// loaded the machine running the test.
fn slow_synced_store(dir: &tempfile::TempDir, extra: Duration) -> Bitcask {
    let mut opts = Options::default();
    opts.sync(SyncMode::Always).unwrap();
    let db = Bitcask::open(dir.path(), &opts).unwrap();
    db.delay_syncs(extra);
    db
}

#[test]
fn synced_writers_gather_into_whole_groups() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let db = slow_synced_store(&dir, Duration::from_millis(20));
    let (threads, per_thread) = (4u32, 25u32);
    synced_writers(&db, threads, per_thread, "w");
    let writes = u64::from(threads * per_thread);
    let syncs = db.stats().syncs;
    eprintln!("gathered: {writes} synced writes in {syncs} fsyncs");
    // Without gathering, writers that loop split into two alternating half-groups: about
    // writes / 2 fsyncs. Whole groups take writes / 4, plus the first (one writer) and a
    // last partial one.
    assert!(
        syncs <= writes / 3,
        "{syncs} fsyncs for {writes} synced writes by {threads} writers: groups did not gather"
    );
    for t in 0..threads {
        for i in 0..per_thread {
            assert!(db.get(format!("w/{t}/{i}").as_bytes()).unwrap().is_some());
        }
    }
}

#[test]
fn gathering_stops_waiting_for_writers_that_left() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let db = slow_synced_store(&dir, Duration::from_millis(5));
    synced_writers(&db, 4, 10, "many");
    let before = db.gather_timeouts();
    // Alone now: the first fsync may still wait for the three that left, then no more.
    synced_writers(&db, 1, 20, "alone");
    let waits = db.gather_timeouts() - before;
    assert!(
        waits <= 1,
        "a lone writer waited {waits} times for writers that had stopped"
    );
}

#[test]
fn a_single_synced_writer_fsyncs_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options::default();
    opts.sync(SyncMode::Always).unwrap();
    let db = Bitcask::open(dir.path(), &opts).unwrap();
    for i in 0..20u32 {
        db.put(&i.to_le_bytes(), b"v").unwrap();
    }
    assert!(db.delete(&0u32.to_le_bytes()).unwrap());
    assert_eq!(
        db.stats().syncs,
        21,
        "every put and delete must fsync under SyncMode::Always"
    );
    assert_eq!(
        db.gather_timeouts(),
        0,
        "a lone writer never waits for others"
    );
}

#[test]
fn no_sync_mode_never_fsyncs_on_write_but_sync_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    for i in 0..20u32 {
        db.put(&i.to_le_bytes(), b"v").unwrap();
    }
    assert_eq!(db.stats().syncs, 0);
    db.sync().unwrap();
    assert_eq!(db.stats().syncs, 1);
    db.sync().unwrap();
    assert_eq!(db.stats().syncs, 1, "nothing new to sync");
}

#[test]
fn interval_mode_syncs_in_the_background_and_stops_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options::default();
    opts.sync(SyncMode::Interval(Duration::from_millis(5)))
        .unwrap();
    let db = Bitcask::open(dir.path(), &opts).unwrap();
    db.put(b"k", b"v").unwrap();
    let mut waited = Duration::ZERO;
    while db.stats().syncs == 0 && waited < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
        waited += Duration::from_millis(5);
    }
    assert!(db.stats().syncs >= 1, "the interval thread never synced");
    db.close().unwrap();
}

#[test]
fn readers_during_a_fold_that_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    for i in 0..1000u32 {
        db.put(&i.to_be_bytes(), &i.to_le_bytes()).unwrap();
    }
    std::thread::scope(|s| {
        let db = &db;
        s.spawn(move || {
            let mut visited = 0;
            let _ = db
                .fold(|k, v| {
                    visited += 1;
                    assert_eq!(k.len(), 4);
                    assert_eq!(v.len(), 4);
                    db.put(&[k, b"+"].concat(), v).unwrap();
                    ControlFlow::Continue(())
                })
                .unwrap();
            assert_eq!(visited, 1000);
        });
        for _ in 0..2 {
            s.spawn(move || {
                for i in (0..1000u32).rev() {
                    assert_eq!(db.get(&i.to_be_bytes()).unwrap().unwrap(), i.to_le_bytes());
                }
            });
        }
    });
    assert_eq!(db.len(), 2000);
}
