//! I/O faults: a full disk and a failing fsync.
//!
//! Disk full runs the store on a tmpfs the test mounts (size- or inode-limited), which needs root
//! or CAP_SYS_ADMIN (CI runs as root). Without it the tests fail with a message saying so: a
//! skipped fault test would look like a passed one.

mod common;

use std::ffi::CString;
use std::path::{Path, PathBuf};

use bitcask::{Bitcask, Error, ErrorKind, Options, SyncMode};

/// A tmpfs mounted for one test; unmounted (lazily, so an open handle cannot block it) on drop,
/// whether the test passed or panicked.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

fn mount(target: &Path, opts: &str, remount: bool) -> std::io::Result<()> {
    let src = CString::new("tmpfs").unwrap();
    let tgt = CString::new(target.as_os_str().as_encoded_bytes()).unwrap();
    let data = CString::new(opts).unwrap();
    let flags = if remount { libc::MS_REMOUNT } else { 0 };
    // SAFETY: valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            src.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl Tmpfs {
    fn new(opts: &str) -> Tmpfs {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        if let Err(e) = mount(dir.path(), opts, false) {
            panic!(
                "cannot mount a tmpfs ({opts}) at {}: {e}. The disk-full tests need root or \
                 CAP_SYS_ADMIN (CI runs as root); run them as root rather than skipping them",
                dir.path().display()
            );
        }
        Tmpfs {
            path: dir.path().to_path_buf(),
            _dir: dir,
        }
    }

    /// Changes the limits in place: "freeing space" without touching the store's files.
    fn remount(&self, opts: &str) {
        mount(&self.path, opts, true).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let tgt = CString::new(self.path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: valid NUL-terminated path.
        unsafe { libc::umount2(tgt.as_ptr(), libc::MNT_DETACH) };
    }
}

fn value(i: u32, len: usize) -> Vec<u8> {
    let mut v = format!("value {i} ").into_bytes();
    v.resize(len, (i % 251) as u8);
    v
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

fn is_enospc(e: &Error) -> bool {
    e.kind() == ErrorKind::Io && e.to_string().contains("No space left on device")
}

fn check_all(db: &Bitcask, acked: &[(u32, usize)], when: &str) {
    for &(i, len) in acked {
        let got = db
            .get(&key(i))
            .unwrap_or_else(|e| panic!("{when}: get key {i}: {e}"));
        assert_eq!(got, Some(value(i, len)), "{when}: key {i}");
    }
}

fn no_merge_leftovers(dir: &Path) {
    let left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("merge") || n.starts_with("MERGED"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Puts until the filesystem is full: the put that does not fit fails with BC_E_IO naming
/// ENOSPC, is taken back (the store stays readable and writable once there is space again), a
/// merge on the full disk fails cleanly, and after the space comes back and a reopen every
/// acknowledged write is intact.
#[test]
fn a_full_disk_fails_the_put_with_enospc_and_loses_nothing() {
    for mode in [SyncMode::None, SyncMode::Always] {
        let fs = Tmpfs::new("size=256k");
        let dir = fs.path.join("store");
        let mut opts = Options::default();
        opts.max_file_size(48 << 10).unwrap().sync(mode).unwrap();
        let db = Bitcask::open(&dir, &opts).unwrap();
        let mut acked: Vec<(u32, usize)> = Vec::new();
        let mut failures = 0;
        let mut failed_ops = std::collections::BTreeSet::new();
        let mut i = 0;
        // Sizes that do not divide pages, so appends straddle page boundaries.
        while failures < 20 {
            i += 1;
            let len = [3000, 700, 5000, 64][i as usize % 4];
            match db.put(&key(i), &value(i, len)) {
                Ok(()) => acked.push((i, len)),
                Err(e) => {
                    assert!(is_enospc(&e), "{mode:?}: put {i} failed with {e}");
                    // Neither the failed append nor anything else poisons the handle.
                    assert!(!matches!(e, Error::Poisoned(_)), "{e}");
                    failures += 1;
                    let text = e.to_string();
                    failed_ops.insert(text[..text.find(" '").unwrap_or(text.len())].to_string());
                }
            }
            assert!(i < 10_000, "a 256 KiB filesystem never filled up");
        }
        assert!(acked.len() > 20, "{mode:?}: only {} puts fit", acked.len());
        // The append itself ran out of space (rotation is the next test's).
        assert!(
            failed_ops.contains("append to data file"),
            "{mode:?}: {failed_ops:?}"
        );
        check_all(&db, &acked, "disk full");
        let merge = db.merge();
        assert!(
            merge.as_ref().is_err_and(is_enospc),
            "{mode:?}: merge on a full disk: {merge:?}"
        );
        check_all(&db, &acked, "after a merge on the full disk");
        no_merge_leftovers(&dir);
        // Space comes back: the same handle writes again.
        fs.remount("size=4m");
        for j in 0..50 {
            let i = 1_000_000 + j;
            db.put(&key(i), &value(i, 3000)).unwrap();
            acked.push((i, 3000));
        }
        db.merge().unwrap();
        check_all(&db, &acked, "space back");
        db.close().unwrap();
        let db = Bitcask::open(&dir, &opts).unwrap();
        check_all(&db, &acked, "reopened");
        assert_eq!(db.len(), acked.len());
        assert_eq!(db.stats().corrupt_records, 0);
        db.close().unwrap();
        eprintln!(
            "{mode:?}: {} puts acknowledged before the disk filled, {failures} failed with \
             ENOSPC in {failed_ops:?}",
            acked.len() - 50
        );
    }
}

/// With free bytes but no free inodes, appends work and rotation cannot create the next file:
/// the put that needs it fails with ENOSPC naming the file it could not create, the handle keeps
/// serving, a merge (which needs new files) fails cleanly, and everything acknowledged survives.
#[test]
fn rotation_and_merge_without_room_for_a_new_file_fail_cleanly() {
    let fs = Tmpfs::new("size=8m,nr_inodes=12");
    let dir = fs.path.join("store");
    let mut opts = Options::default();
    opts.max_file_size(2048)
        .unwrap()
        .sync(SyncMode::Always)
        .unwrap();
    let db = Bitcask::open(&dir, &opts).unwrap();
    let mut acked: Vec<(u32, usize)> = Vec::new();
    let mut rotation_failures = 0;
    for i in 0..2000 {
        match db.put(&key(i), &value(i, 300)) {
            Ok(()) => acked.push((i, 300)),
            Err(e) => {
                assert!(is_enospc(&e), "put {i}: {e}");
                assert!(e.to_string().contains("create data file"), "put {i}: {e}");
                rotation_failures += 1;
                if rotation_failures == 5 {
                    break;
                }
            }
        }
    }
    assert_eq!(rotation_failures, 5, "the inodes never ran out");
    assert!(acked.len() > 6, "only {} puts fit", acked.len());
    check_all(&db, &acked, "inodes exhausted");
    let merge = db.merge();
    assert!(
        merge.as_ref().is_err_and(is_enospc),
        "merge without inodes: {merge:?}"
    );
    check_all(&db, &acked, "after the failed merge");
    fs.remount("nr_inodes=1000");
    for i in 5000..5100 {
        db.put(&key(i), &value(i, 300)).unwrap();
        acked.push((i, 300));
    }
    db.merge().unwrap();
    db.close().unwrap();
    let db = Bitcask::open(&dir, &opts).unwrap();
    check_all(&db, &acked, "reopened");
    assert_eq!(db.len(), acked.len());
    assert_eq!(db.stats().corrupt_records, 0);
    no_merge_leftovers(&dir);
}

/// A failed fsync poisons the handle: the write whose fsync failed reports it, every later
/// write is refused with a message that says why and what to do, reads go on, close reports
/// it, and a reopen finds everything that reached the file. (The failure is injected through a
/// hidden hook: no device here can be made to fail an fsync on demand.)
#[test]
fn a_failed_fsync_poisons_the_handle_for_writes_with_a_clear_message() {
    for trigger in ["put", "sync", "rotation"] {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = Options::default();
        opts.max_file_size(1024).unwrap();
        opts.sync(if trigger == "sync" {
            SyncMode::None
        } else {
            SyncMode::Always
        })
        .unwrap();
        let db = Bitcask::open(dir.path(), &opts).unwrap();
        db.put(b"before", b"1").unwrap();
        if trigger == "rotation" {
            // Fill the file so the next put seals it: the fsync of sealing is the one that fails.
            db.put(b"filler", &[7; 900]).unwrap();
        }
        db.fail_next_sync();
        let err = match trigger {
            "sync" => {
                db.put(b"victim", b"2").unwrap();
                db.sync().unwrap_err()
            }
            _ => db.put(b"victim", &[2; 200]).unwrap_err(),
        };
        assert_eq!(err.kind(), ErrorKind::Io, "{trigger}: {err}");
        let text = err.to_string();
        assert!(text.contains("Input/output error"), "{trigger}: {text}");
        assert!(text.contains("sync"), "{trigger}: {text}");
        for later in [
            db.put(b"after", b"3").unwrap_err(),
            db.delete(b"before").unwrap_err(),
            db.merge().unwrap_err(),
            db.sync().unwrap_err(),
        ] {
            assert!(matches!(later, Error::Poisoned(_)), "{trigger}: {later}");
            assert_eq!(later.kind(), ErrorKind::Io);
            let text = later.to_string();
            assert!(
                text.contains("refuses writes") && text.contains("Input/output error"),
                "{trigger}: {text}"
            );
            assert!(text.contains("close and reopen"), "{trigger}: {text}");
        }
        assert_eq!(db.get(b"before").unwrap().as_deref(), Some(&b"1"[..]));
        assert!(db.close().is_err(), "{trigger}: close hid the failure");
        let db = Bitcask::open(dir.path(), &opts).unwrap();
        assert_eq!(db.get(b"before").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(db.get(b"after").unwrap(), None);
        db.put(b"after", b"3").unwrap();
    }
}
