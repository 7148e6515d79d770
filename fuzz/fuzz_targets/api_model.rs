//! Decodes the input into a sequence of API calls and checks every result against a `BTreeMap`
//! model: put, put_ttl (far-future TTL), delete, batches (also ones that must be refused whole),
//! get, get_with, contains, scan, scan_prefix, the iterator, fold, fold_keys, sync, merge, stats
//! and close + reopen, under a tiny max_file_size so files rotate every few writes. Keys come
//! from a 4-letter alphabet and are 1-3 bytes long, so overwrites, deletes of live keys and
//! shared prefixes are common; empty and oversized keys and oversized values check that a
//! refused write changes nothing.
//!
//! Input: one config byte (file size, sync mode, store-wide limits), then one opcode byte per
//! call followed by that call's arguments (see `key`, `value`).

#![no_main]

#[path = "common.rs"]
mod common;

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;

use bitcask::{Batch, Bitcask, ErrorKind, Options, SyncMode};
use common::Bytes;
use libfuzzer_sys::fuzz_target;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

const MAX_KEY: u32 = 3;
const MAX_VALUE: u64 = 300;
const TTL: u32 = 1_000_000;
/// Bound on calls per input: a long input must not make one iteration slow.
const MAX_CALLS: usize = 400;

/// A key argument: one length byte, then that many letters. 0xFF is the empty key and 0xFE a
/// key one byte over the store's limit; both must be refused.
enum Key {
    Ok(Vec<u8>),
    Empty,
    TooLong,
}

fn key(input: &mut Bytes<'_>) -> Key {
    match input.u8() {
        0xFF => Key::Empty,
        0xFE => Key::TooLong,
        l => {
            let len = 1 + (l as usize % MAX_KEY as usize);
            Key::Ok((0..len).map(|_| b'a' + input.u8() % 4).collect())
        }
    }
}

/// Bytes the store must refuse: the empty key, or one over the limit.
fn bad_key(k: &Key) -> Option<(Vec<u8>, ErrorKind)> {
    match k {
        Key::Ok(_) => None,
        Key::Empty => Some((Vec::new(), ErrorKind::InvalidArgument)),
        Key::TooLong => Some((vec![b'a'; MAX_KEY as usize + 1], ErrorKind::TooLarge)),
    }
}

/// A value argument: a length byte and a fill byte. 0xFF is one byte over the store's value
/// limit (refused); 0xFE a value near the limit, larger than several records of a file.
fn value(input: &mut Bytes<'_>, serial: &mut u32) -> Vec<u8> {
    let len = match input.u8() {
        0xFF => MAX_VALUE as usize + 1,
        0xFE => MAX_VALUE as usize,
        l => l as usize % 40,
    };
    let fill = input.u8();
    // A serial number in the value so an overwrite with the same fill is still a different value
    // (a stale read would otherwise go unnoticed).
    *serial = serial.wrapping_add(1);
    let tag = serial.to_le_bytes();
    (0..len)
        .map(|i| {
            if i < 4 {
                tag[i]
            } else {
                fill.wrapping_add(i as u8)
            }
        })
        .collect()
}

fn expect_err<T: std::fmt::Debug>(r: bitcask::Result<T>, kind: ErrorKind, what: &str) {
    match r {
        Err(e) => {
            assert_eq!(e.kind(), kind, "{what}: wrong error {e}");
            assert!(!e.to_string().is_empty());
        }
        Ok(v) => panic!("{what}: expected {kind:?}, got Ok({v:?})"),
    }
}

fn open(dir: &Path, opts: &Options) -> Bitcask {
    Bitcask::open(dir, opts).unwrap_or_else(|e| panic!("open: {e}"))
}

/// Every read path returns exactly the model.
fn check_all(db: &Bitcask, model: &Model) {
    let mut folded = Model::new();
    let end = db
        .fold(|k, v| {
            assert!(
                folded.insert(k.to_vec(), v.to_vec()).is_none(),
                "fold: {k:?} twice"
            );
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(end.is_continue());
    assert_eq!(&folded, model, "fold");

    let mut keys = Vec::new();
    let _ = db.fold_keys(|k| {
        keys.push(k.to_vec());
        ControlFlow::Continue(())
    });
    keys.sort();
    assert!(keys.iter().eq(model.keys()), "fold_keys");

    let iterated: Vec<(Vec<u8>, Vec<u8>)> = db.iter().map(|e| e.unwrap()).collect();
    assert!(
        iterated.iter().map(|(k, v)| (k, v)).eq(model.iter()),
        "iterator"
    );
    assert_eq!(db.len(), model.len(), "len");
    assert_eq!(db.stats().keys, model.len() as u64, "stats.keys");
}

fuzz_target!(|data: &[u8]| {
    let dir = common::scratch_dir("api-model");
    let mut input = Bytes::new(data);
    let config = input.u8();
    let mut opts = Options::default();
    opts.max_file_size(256 + (config as u64 & 7) * 128).unwrap();
    opts.max_key_size(MAX_KEY).unwrap();
    opts.max_value_size(MAX_VALUE).unwrap();
    match (config >> 3) & 3 {
        1 => {
            opts.sync(SyncMode::Always).unwrap();
        }
        2 => {
            opts.sync(SyncMode::Interval(std::time::Duration::from_millis(1)))
                .unwrap();
        }
        _ => {}
    }

    let mut db = Some(open(&dir, &opts));
    let mut model = Model::new();
    let mut serial = 0u32;
    let mut calls = 0;
    while !input.is_empty() && calls < MAX_CALLS {
        calls += 1;
        let d = db.as_ref().unwrap();
        match input.u8() % 16 {
            op @ (0 | 1) => {
                let k = key(&mut input);
                let v = value(&mut input, &mut serial);
                let put = |k: &[u8]| {
                    if op == 0 {
                        d.put(k, &v)
                    } else {
                        d.put_ttl(k, &v, TTL)
                    }
                };
                if let Some((bad, kind)) = bad_key(&k) {
                    expect_err(put(&bad), kind, "put of a bad key");
                } else if let Key::Ok(k) = k {
                    if v.len() as u64 > MAX_VALUE {
                        expect_err(put(&k), ErrorKind::TooLarge, "put of a large value");
                    } else {
                        put(&k).unwrap();
                        model.insert(k, v);
                    }
                }
            }
            2 => match key(&mut input) {
                Key::Ok(k) => {
                    assert_eq!(d.delete(&k).unwrap(), model.remove(&k).is_some(), "delete")
                }
                k => {
                    let (bad, kind) = bad_key(&k).unwrap();
                    expect_err(d.delete(&bad), kind, "delete of a bad key");
                }
            },
            3 => {
                // A batch of up to 8 operations; one bad operation refuses it whole, either
                // when it is added (the batch's own checks) or when it is written (the store's
                // limits), and then nothing of it may be applied.
                let n = input.u8() % 9;
                let mut batch = Batch::new();
                let mut after = model.clone();
                let mut refused = false;
                for _ in 0..n {
                    let delete = input.u8() & 1 == 1;
                    let k = key(&mut input);
                    let v = if delete {
                        Vec::new()
                    } else {
                        value(&mut input, &mut serial)
                    };
                    let (bytes, ok) = match &k {
                        Key::Ok(k) => (k.clone(), v.len() as u64 <= MAX_VALUE),
                        k => (bad_key(k).unwrap().0, false),
                    };
                    let added = if delete {
                        batch.delete(&bytes)
                    } else {
                        batch.put(&bytes, &v)
                    };
                    match added {
                        Ok(()) => {}
                        Err(e) => {
                            // Only the empty key is beyond the format's own limits.
                            assert!(bytes.is_empty(), "batch refused {bytes:?} early: {e}");
                            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
                            continue;
                        }
                    }
                    refused |= !ok;
                    if delete {
                        after.remove(&bytes);
                    } else {
                        after.insert(bytes, v);
                    }
                }
                match d.write(&batch) {
                    Ok(()) => {
                        assert!(
                            !refused,
                            "a batch with an oversized key or value was written"
                        );
                        model = after;
                    }
                    Err(e) => {
                        assert!(refused, "batch write failed: {e}");
                        assert_eq!(e.kind(), ErrorKind::TooLarge, "batch: {e}");
                    }
                }
            }
            4 | 5 => match key(&mut input) {
                Key::Ok(k) => {
                    assert_eq!(d.get(&k).unwrap(), model.get(&k).cloned(), "get {k:?}");
                    assert_eq!(d.contains(&k).unwrap(), model.contains_key(&k), "contains");
                    let len = d.get_with(&k, |v| v.len()).unwrap();
                    assert_eq!(len, model.get(&k).map(Vec::len), "get_with");
                }
                k => {
                    let (bad, kind) = bad_key(&k).unwrap();
                    expect_err(d.get(&bad), kind, "get of a bad key");
                    expect_err(d.contains(&bad), kind, "contains of a bad key");
                }
            },
            6 => {
                let len = input.u8() as usize % 3;
                let prefix: Vec<u8> = (0..len).map(|_| b'a' + input.u8() % 4).collect();
                let mut got = Vec::new();
                let end = d
                    .scan_prefix(&prefix, |k, v| {
                        got.push((k.to_vec(), v.to_vec()));
                        ControlFlow::Continue(())
                    })
                    .unwrap();
                assert!(end.is_continue());
                let want: Vec<_> = model
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(got, want, "scan_prefix {prefix:?}");
            }
            7 => {
                // A bounded scan that may stop early; an absent bound is open.
                let bound = |input: &mut Bytes<'_>| match key(input) {
                    Key::Ok(k) => Some(k),
                    _ => None,
                };
                let (start, end) = (bound(&mut input), bound(&mut input));
                let stop_after = input.u8() as usize % 8;
                let mut got = Vec::new();
                let flow = d
                    .scan(start.as_deref(), end.as_deref(), |k, v| {
                        got.push((k.to_vec(), v.to_vec()));
                        if got.len() == stop_after {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        }
                    })
                    .unwrap();
                let want: Vec<_> = model
                    .iter()
                    .filter(|(k, _)| start.as_ref().is_none_or(|s| *k >= s))
                    .filter(|(k, _)| end.as_ref().is_none_or(|e| *k < e))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if flow.is_break() {
                    assert_eq!(got.len(), stop_after);
                    assert_eq!(got[..], want[..stop_after], "scan {start:?}..{end:?}");
                } else {
                    assert_eq!(got, want, "scan {start:?}..{end:?}");
                }
            }
            8 => {
                // An iterator taken now yields this snapshot even if writes follow.
                let snapshot = model.clone();
                let mut it = d.iter();
                let k = vec![b'a' + input.u8() % 4];
                d.put(&k, b"after the snapshot").unwrap();
                model.insert(k, b"after the snapshot".to_vec());
                let got: Vec<_> = it.by_ref().map(|e| e.unwrap()).collect();
                assert!(
                    got.iter().map(|(k, v)| (k, v)).eq(snapshot.iter()),
                    "iterator"
                );
            }
            9 => d.sync().unwrap(),
            10 => d.merge().unwrap(),
            11 => {
                let d = db.take().unwrap();
                if input.u8() & 1 == 0 {
                    d.close().unwrap();
                } else {
                    drop(d);
                }
                db = Some(open(&dir, &opts));
                check_all(db.as_ref().unwrap(), &model);
            }
            12 => check_all(d, &model),
            13 => {
                // Deleting every key a prefix scan finds, from inside the scan's callback.
                let prefix = vec![b'a' + input.u8() % 4];
                let _ = d
                    .scan_prefix(&prefix, |k, _| {
                        assert!(
                            d.delete(k).unwrap(),
                            "scan listed a key delete did not find"
                        );
                        ControlFlow::Continue(())
                    })
                    .unwrap();
                model.retain(|k, _| !k.starts_with(&prefix));
            }
            14 => {
                let s = d.stats();
                assert_eq!(s.keys, model.len() as u64, "stats.keys");
                assert!(s.live_bytes <= s.total_bytes, "stats: {s:?}");
            }
            _ => {
                // Overwrite a key with the empty value: stored and returned as such.
                if let Key::Ok(k) = key(&mut input) {
                    d.put(&k, b"").unwrap();
                    model.insert(k, Vec::new());
                }
            }
        }
    }
    let d = db.take().unwrap();
    check_all(&d, &model);
    d.close().unwrap();
    let d = open(&dir, &opts);
    check_all(&d, &model);
    d.close().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
});
