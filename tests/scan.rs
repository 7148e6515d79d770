//! Ordered scans and the pull iterator: byte order, open bounds, prefixes, snapshots under
//! concurrent writes and merges.

mod common;

use std::ops::ControlFlow;

use bitcask::{Bitcask, Options};
use fastrand::Rng;

fn keys() -> Vec<Vec<u8>> {
    let mut k: Vec<Vec<u8>> = vec![
        b"a".to_vec(),
        b"a\0".to_vec(),
        b"ab".to_vec(),
        b"\0".to_vec(),
        b"\0\0".to_vec(),
        b"\xff".to_vec(),
        b"\xff\xff\x00".to_vec(),
        b"b".to_vec(),
        b"ba".to_vec(),
        b"\x7f".to_vec(),
    ];
    let mut rng = Rng::with_seed(3);
    for _ in 0..200 {
        let len = 1 + rng.usize(..6);
        k.push(common::bytes(&mut rng, len));
    }
    k.sort();
    k.dedup();
    k
}

fn collect_scan(db: &Bitcask, start: Option<&[u8]>, end: Option<&[u8]>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let _ = db
        .scan(start, end, |k, v| {
            assert_eq!(v, [k, b"=v"].concat());
            out.push(k.to_vec());
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

#[test]
fn scans_follow_unsigned_byte_order_with_open_and_closed_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    let all = keys();
    let mut shuffled = all.clone();
    Rng::with_seed(5).shuffle(&mut shuffled);
    for k in &shuffled {
        db.put(k, &[k.as_slice(), b"=v"].concat()).unwrap();
    }
    db.put(b"deleted", b"x").unwrap();
    db.delete(b"deleted").unwrap();
    assert_eq!(collect_scan(&db, None, None), all);
    for (s, e) in [
        (&b"a"[..], &b"b"[..]),
        (b"\0", b"\0\0"),
        (b"a\0", b"ab"),
        (b"\x80", b"\xff\xff"),
    ] {
        let want: Vec<Vec<u8>> = all
            .iter()
            .filter(|k| k.as_slice() >= s && k.as_slice() < e)
            .cloned()
            .collect();
        assert_eq!(collect_scan(&db, Some(s), Some(e)), want, "[{s:?}, {e:?})");
        let from: Vec<Vec<u8>> = all.iter().filter(|k| k.as_slice() >= s).cloned().collect();
        assert_eq!(collect_scan(&db, Some(s), None), from);
        let to: Vec<Vec<u8>> = all.iter().filter(|k| k.as_slice() < e).cloned().collect();
        assert_eq!(collect_scan(&db, None, Some(e)), to);
    }
    assert!(collect_scan(&db, Some(b"b"), Some(b"a")).is_empty());
    for prefix in [&b"a"[..], b"\0", b"\xff", b"", b"zz-none"] {
        let want: Vec<Vec<u8>> = all
            .iter()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        let mut got = Vec::new();
        let _ = db
            .scan_prefix(prefix, |k, _| {
                got.push(k.to_vec());
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(got, want, "prefix {prefix:?}");
    }
    let mut n = 0;
    let flow = db
        .scan(None, None, |_, _| {
            n += 1;
            if n == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert!(flow.is_break());
    assert_eq!(n, 3);
}

#[test]
fn a_scan_callback_may_write_without_changing_what_is_visited() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    for i in 0..100u32 {
        db.put(format!("p{i:03}").as_bytes(), b"v").unwrap();
    }
    let mut seen = 0;
    let _ = db
        .scan_prefix(b"p", |k, _| {
            seen += 1;
            db.put(&[k, b"x"].concat(), b"new").unwrap();
            db.delete(k).unwrap();
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(seen, 100);
    assert_eq!(db.len(), 100);
}

#[test]
fn iterators_are_snapshots_through_writes_and_merges() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::default();
    o.max_file_size(4096).unwrap();
    let db = Bitcask::open(dir.path(), &o).unwrap();
    for i in 0..500u32 {
        db.put(&i.to_be_bytes(), format!("old{i}").as_bytes())
            .unwrap();
    }
    let mut it = db.iter();
    let mut second = db.iter();
    for i in 0..500u32 {
        if i % 2 == 0 {
            db.put(&i.to_be_bytes(), b"new").unwrap();
        } else {
            db.delete(&i.to_be_bytes()).unwrap();
        }
    }
    db.put(b"after", b"x").unwrap();
    db.merge().unwrap();
    let files_during = common::data_files(dir.path()).len();
    let mut count = 0u32;
    while let Some((k, v)) = it.next_entry().unwrap() {
        assert_eq!(k, count.to_be_bytes());
        assert_eq!(v, format!("old{count}").as_bytes());
        count += 1;
    }
    assert_eq!(count, 500);
    assert!(it.next_entry().unwrap().is_none());
    assert_eq!(second.by_ref().count(), 500);
    drop(it);
    drop(second);
    let files_after = common::data_files(dir.path()).len();
    assert!(
        files_after < files_during,
        "merged-away files must go once the iterators are dropped ({files_during} -> {files_after})"
    );
    let fresh: Vec<_> = db.iter().map(|e| e.unwrap().0).collect();
    assert_eq!(fresh.len(), 251);
}
