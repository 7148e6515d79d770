//! Only names of exactly the documented pattern are store files (docs/FORMAT.md, "The
//! directory"): `<10-digit id>.data`, `<10-digit id>.hint`, `<10-digit id>.hint.tmp`,
//! `MERGED-<id>`, `merge.tmp/`, `LOCK`. Anything else in the directory is ignored by every open:
//! never opened, counted, replayed or deleted, and `bitcask verify` names it.

use std::collections::BTreeMap;
use std::fs;
use std::ops::ControlFlow;
use std::path::Path;

use bitcask::{Bitcask, Options};

fn served(dir: &Path, opts: &Options) -> (BTreeMap<Vec<u8>, Vec<u8>>, u64) {
    let db = Bitcask::open(dir, opts).unwrap();
    let mut keys = Vec::new();
    let _ = db.fold_keys(|k| {
        keys.push(k.to_vec());
        ControlFlow::Continue(())
    });
    let state = keys
        .into_iter()
        .map(|k| {
            let v = db.get(&k).unwrap().unwrap();
            (k, v)
        })
        .collect();
    let files = db.stats().data_files;
    db.close().unwrap();
    (state, files)
}

#[test]
fn names_off_the_pattern_are_ignored_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    for i in 0..20u32 {
        db.put(format!("key{i}").as_bytes(), b"value").unwrap();
    }
    db.close().unwrap();
    let (want, files) = served(dir.path(), &Options::default());
    assert_eq!((want.len(), files), (20, 1));

    let real = fs::read(dir.path().join("0000000001.data")).unwrap();
    // Each would have been taken for file 1 or 7: opened under the padded name (and failed),
    // replayed twice, or deleted.
    let strays: Vec<(&str, Vec<u8>)> = vec![
        ("7.data", b"not a data file".to_vec()),
        ("1.data", real.clone()),
        ("00000000001.data", real.clone()),
        ("1.hint", b"not a hint".to_vec()),
        ("notes.hint.tmp", b"keep me".to_vec()),
        ("1.hint.tmp", b"keep me too".to_vec()),
        ("MERGED-notes", b"not a merge record".to_vec()),
        ("README", b"a person's notes".to_vec()),
    ];
    for (name, bytes) in &strays {
        fs::write(dir.path().join(name), bytes).unwrap();
    }

    let mut ro = Options::default();
    ro.read_only(true);
    assert_eq!(served(dir.path(), &ro), (want.clone(), 1));
    for _ in 0..2 {
        assert_eq!(served(dir.path(), &Options::default()), (want.clone(), 1));
    }
    for (name, bytes) in &strays {
        assert_eq!(
            fs::read(dir.path().join(name)).unwrap(),
            *bytes,
            "{name} was changed or deleted"
        );
    }

    let report = bitcask::verify::verify(dir.path(), false, &mut |_| {}).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.data_files, 1);
    for (name, _) in &strays {
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.starts_with(&format!("{name}: ")) && n.contains("not a store file")),
            "verify names {name}: {:?}",
            report.notes
        );
    }
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.starts_with("7.data: named like a data file"))
    );
    // Repair leaves them too.
    bitcask::verify::verify(dir.path(), true, &mut |_| {}).unwrap();
    for (name, bytes) in &strays {
        assert_eq!(fs::read(dir.path().join(name)).unwrap(), *bytes);
    }
}
