//! The write lock: one read-write handle per store across threads and processes; read-only
//! handles beside it; no stale lock after a crash.

mod common;

use std::io::{BufRead, BufReader};

use bitcask::{Bitcask, ErrorKind, Options};
use common::{child_role, spawn_child};

const TEST: &str = "the_lock_works_across_processes";

fn read_only() -> Options {
    let mut o = Options::default();
    o.read_only(true);
    o
}

#[test]
fn a_second_writer_in_the_same_process_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    let err = match Bitcask::open(dir.path(), &Options::default()) {
        Err(e) => e,
        Ok(_) => panic!("two writers"),
    };
    assert_eq!(err.kind(), ErrorKind::Locked);
    assert!(err.to_string().contains("LOCK"), "{err}");
    // A read-only handle can open beside it.
    db.put(b"k", b"v").unwrap();
    let ro = Bitcask::open(dir.path(), &read_only()).unwrap();
    assert_eq!(ro.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    db.close().unwrap();
    Bitcask::open(dir.path(), &Options::default()).unwrap();
}

#[test]
fn a_read_only_open_never_creates_anything() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let err = match Bitcask::open(&missing, &read_only()) {
        Err(e) => e,
        Ok(_) => panic!("opened a missing store read-only"),
    };
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(!missing.exists());
    let mut no_create = Options::default();
    no_create.create_if_missing(false);
    assert!(Bitcask::open(&missing, &no_create).is_err());
    assert!(!missing.exists());
}

/// Child roles: `writer` opens read-write, writes a key, reports `@@ready`, then waits to be
/// killed; `reader` opens read-only and reports what it sees and whether it may write.
fn child(role: &str, dir: &std::path::Path) -> ! {
    match role {
        "writer" => {
            let db = Bitcask::open(dir, &Options::default()).unwrap();
            db.put(b"from-child", b"yes").unwrap();
            println!("@@ready");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
        "reader" => {
            let db = Bitcask::open(dir, &read_only()).unwrap();
            let seen = db.get(b"before").unwrap().unwrap_or_default();
            let err = db.put(b"x", b"y").unwrap_err();
            println!("@@{} {:?}", String::from_utf8_lossy(&seen), err.kind());
            std::process::exit(0);
        }
        "second-writer" => {
            let kind = Bitcask::open(dir, &Options::default())
                .err()
                .map(|e| e.kind());
            println!("@@{kind:?}");
            std::process::exit(0);
        }
        _ => unreachable!(),
    }
}

fn marker_line(child: &mut std::process::Child) -> String {
    let out = child.stdout.take().unwrap();
    for line in BufReader::new(out).lines() {
        let line = line.unwrap();
        if let Some((_, rest)) = line.split_once("@@") {
            return rest.to_string();
        }
    }
    panic!("child ended without reporting");
}

#[test]
fn the_lock_works_across_processes() {
    if let Some((role, dir)) = child_role() {
        child(&role, &dir);
    }
    let dir = tempfile::tempdir().unwrap();

    // Our writer holds the lock: another process can neither write nor is blocked from reading.
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    db.put(b"before", b"written by parent").unwrap();
    let mut second = spawn_child(TEST, "second-writer", dir.path());
    assert_eq!(marker_line(&mut second), "Some(Locked)");
    second.wait().unwrap();
    let mut reader = spawn_child(TEST, "reader", dir.path());
    assert_eq!(marker_line(&mut reader), "written by parent ReadOnly");
    assert!(reader.wait().unwrap().success());
    db.close().unwrap();

    // A writer that is killed leaves no stale lock behind.
    let mut writer = spawn_child(TEST, "writer", dir.path());
    assert_eq!(marker_line(&mut writer), "ready");
    assert_eq!(
        Bitcask::open(dir.path(), &Options::default())
            .err()
            .map(|e| e.kind()),
        Some(ErrorKind::Locked)
    );
    writer.kill().unwrap();
    writer.wait().unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(db.get(b"from-child").unwrap().as_deref(), Some(&b"yes"[..]));
}
