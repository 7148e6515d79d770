//! Model-based property test: random sequences of put / put with TTL / overwrite / delete / batch
//! / get / scan / reopen / merge / fold
//! against a `BTreeMap`, under small file sizes so rotation is constant. Seeds are fixed (and
//! printed on failure); `BITCASK_MODEL_SEEDS=n` runs more.

mod common;

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use bitcask::{Batch, Bitcask, Options, SyncMode};
use fastrand::Rng;

fn run(seed: u64, steps: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::with_seed(seed);
    let mut opts = Options::default();
    opts.max_file_size(256 + rng.u64(..4096)).unwrap();
    if rng.u64(..4) == 0 {
        opts.sync(SyncMode::Always).unwrap();
    }
    let mut db = Bitcask::open(dir.path(), &opts).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    // A small key space so overwrites and deletes hit existing keys often.
    let key_of = |rng: &mut Rng| -> Vec<u8> {
        let id = rng.u64(..64);
        let mut k = format!("k{id}").into_bytes();
        if id.is_multiple_of(5) {
            k.push(0); // keys with NUL bytes
        }
        k
    };
    for step in 0..steps {
        let ctx = || format!("seed {seed} step {step}");
        match rng.u64(..100) {
            0..=44 => {
                let k = key_of(&mut rng);
                let len = match rng.u64(..10) {
                    0 => 0,
                    1 => 2000 + rng.usize(..3000),
                    _ => rng.usize(..64),
                };
                let v = common::bytes(&mut rng, len);
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            45..=54 => {
                let k = key_of(&mut rng);
                assert_eq!(
                    db.delete(&k).unwrap(),
                    model.remove(&k).is_some(),
                    "{}",
                    ctx()
                );
            }
            55..=59 => {
                // A batch of puts and deletes, applied in order.
                let mut batch = Batch::new();
                for _ in 0..1 + rng.u64(..8) {
                    let k = key_of(&mut rng);
                    if rng.u64(..3) == 0 {
                        batch.delete(&k).unwrap();
                        model.remove(&k);
                    } else {
                        let len = rng.usize(..40);
                        let v = common::bytes(&mut rng, len);
                        batch.put(&k, &v).unwrap();
                        model.insert(k, v);
                    }
                }
                db.write(&batch).unwrap();
            }
            60..=62 => {
                // A TTL far in the future: the record carries an expiry field through reopen,
                // hints and merge, and the key stays.
                let k = key_of(&mut rng);
                let len = rng.usize(..40);
                let v = common::bytes(&mut rng, len);
                db.put_ttl(&k, &v, 1_000_000).unwrap();
                model.insert(k, v);
            }
            63..=64 => {
                let (a, b) = (key_of(&mut rng), key_of(&mut rng));
                let (start, end) = if a <= b { (a, b) } else { (b, a) };
                let mut got = Vec::new();
                let _ = db
                    .scan(Some(&start), Some(&end), |k, v| {
                        got.push((k.to_vec(), v.to_vec()));
                        ControlFlow::Continue(())
                    })
                    .unwrap();
                let want: Vec<(Vec<u8>, Vec<u8>)> = model
                    .range(start..end)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(got, want, "{}", ctx());
            }
            65..=89 => {
                let k = key_of(&mut rng);
                assert_eq!(db.get(&k).unwrap(), model.get(&k).cloned(), "{}", ctx());
                assert_eq!(
                    db.contains(&k).unwrap(),
                    model.contains_key(&k),
                    "{}",
                    ctx()
                );
            }
            90..=93 => {
                drop(db);
                db = Bitcask::open(dir.path(), &opts).unwrap();
            }
            94..=95 => db.merge().unwrap(),
            _ => {
                let mut seen = BTreeMap::new();
                let end = db
                    .fold(|k, v| {
                        assert!(
                            seen.insert(k.to_vec(), v.to_vec()).is_none(),
                            "visited twice"
                        );
                        ControlFlow::Continue(())
                    })
                    .unwrap();
                assert!(end.is_continue());
                assert_eq!(seen, model, "{}", ctx());
                let mut keys = Vec::new();
                let _ = db.fold_keys(|k| {
                    keys.push(k.to_vec());
                    ControlFlow::Continue(())
                });
                keys.sort();
                assert!(keys.iter().eq(model.keys()), "{}", ctx());
            }
        }
        assert_eq!(db.len(), model.len(), "{}", ctx());
    }
    drop(db);
    let db = Bitcask::open(dir.path(), &opts).unwrap();
    for (k, v) in &model {
        assert_eq!(db.get(k).unwrap().as_ref(), Some(v), "seed {seed} final");
    }
    assert_eq!(db.len(), model.len());
    let s = db.stats();
    // Every live record is counted once (TTL records carry 4 more bytes, so no closed formula).
    assert_eq!(s.keys, model.len() as u64, "seed {seed}");
    assert!(
        s.live_bytes
            >= model
                .iter()
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum::<u64>()
    );
    assert_eq!(s.corrupt_records, 0);
}

#[test]
fn random_operations_match_a_btreemap() {
    let seeds: u64 = std::env::var("BITCASK_MODEL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    for seed in 0..seeds {
        run(seed, 1500);
    }
}
