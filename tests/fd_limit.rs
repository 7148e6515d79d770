//! A store of a thousand data files works under a 128 file-descriptor limit. Its own test binary:
//! the limit applies to the whole process.

use std::ops::ControlFlow;

use bitcask::{Bitcask, Options};

#[test]
fn a_thousand_files_under_a_128_descriptor_limit() {
    let limit = libc::rlimit {
        rlim_cur: 128,
        rlim_max: 128,
    };
    // SAFETY: setrlimit reads the struct we pass.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options::default();
    opts.max_file_size(256).unwrap();
    let db = Bitcask::open(dir.path(), &opts).unwrap();
    let n = 3000u32;
    for i in 0..n {
        db.put(&i.to_be_bytes(), &[i as u8; 64]).unwrap();
    }
    assert!(
        db.stats().data_files >= 1000,
        "{} files",
        db.stats().data_files
    );
    let check = |db: &Bitcask| {
        for round in 0..2 {
            for i in (0..n).rev() {
                assert_eq!(
                    db.get(&i.to_be_bytes()).unwrap().unwrap(),
                    [i as u8; 64],
                    "round {round} key {i}"
                );
            }
        }
        let mut visited = 0;
        let _ = db
            .fold(|_, _| {
                visited += 1;
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(visited, n);
    };
    check(&db);
    drop(db);
    let db = Bitcask::open(dir.path(), &opts).unwrap();
    check(&db);
}
