//! Power loss: SIGKILL, then everything written after the last fsync is dropped (the active file
//! is cut back to the durable length the child reported, files rotated in after it are removed,
//! a never-synced header may vanish too), then reopen and check (`tests/common/crash.rs`).
//!
//! Under `SyncMode::Always` every acknowledged op must survive. Under `None` and `Interval` the
//! store must hold the state after some prefix of the ops that includes every op whose bytes were
//! durable: older values may come back only because newer writes were not yet synced, never a
//! value that was not written, half a batch or a delete undone out of order.

mod common;

use common::child_role;
#[path = "common/crash.rs"]
mod crash;

const TEST: &str = "power_loss_keeps_every_synced_op_and_a_clean_prefix";

#[test]
fn power_loss_keeps_every_synced_op_and_a_clean_prefix() {
    if let Some((role, dir)) = child_role() {
        crash::child(&role, &dir);
    }
    let tallies = crash::run(TEST, &["always", "none", "interval"], true, 40);
    for (mode, t) in &tallies {
        assert!(
            t.kills > 0 && t.acked_ops > 0,
            "mode {mode}: nothing ran: {t:?}"
        );
        if mode == "always" {
            assert_eq!(t.ops_lost, 0, "mode {mode}");
        }
    }
    // Without fsyncs the cut must actually have dropped acknowledged ops, or the simulation
    // simulated nothing.
    let none = &tallies.iter().find(|(m, _)| m == "none").unwrap().1;
    assert!(
        none.ops_lost > 0,
        "no op was lost under SyncMode::None: {none:?}"
    );
}

/// Regression: a power loss can persist the size of the last append but not all of its bytes
/// (the end of the record reads as zeros). Recovery dropped the record and truncated it but also
/// counted it as a damaged record (`corrupt_records`), which reports a routine torn write as
/// media damage; FORMAT.md rule 4 calls it a torn tail.
#[test]
fn a_last_record_whose_bytes_did_not_reach_the_disk_is_a_torn_tail_not_damage() {
    use bitcask::{Bitcask, Options};
    use std::os::unix::fs::FileExt;
    for zeroed in [1u64, 50, 110] {
        let dir = tempfile::tempdir().unwrap();
        let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
        for i in 0..5u8 {
            db.put(&[b'k', i], &[i; 100]).unwrap();
        }
        drop(db);
        std::fs::remove_file(dir.path().join("0000000001.hint")).unwrap();
        let path = dir.path().join("0000000001.data");
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let len = f.metadata().unwrap().len();
        let record_len = 113; // 11-byte header, 2-byte key, 100-byte value
        let mut record = vec![0; record_len as usize];
        f.read_exact_at(&mut record, len - record_len).unwrap();
        f.write_all_at(&vec![0; zeroed as usize], len - zeroed)
            .unwrap();
        let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
        let s = db.stats();
        // The zeroed end of the record cannot be told from space the writer reserved ahead
        // (appends go through a map over fallocated space), so only the bytes up to its last
        // non-zero one count. With 110 zeroed, what is left is the first 3 bytes of the CRC,
        // which covers the timestamp: one time in 256 the third of them is itself zero.
        let kept = &record[..(record_len - zeroed) as usize];
        let nonzero = kept.iter().rposition(|&b| b != 0).map_or(0, |at| at + 1);
        assert_eq!(
            (s.corrupt_records, s.truncated_bytes),
            (0, nonzero as u64),
            "last {zeroed} bytes zeroed, record was {record:02x?}"
        );
        for i in 0..4u8 {
            assert_eq!(db.get(&[b'k', i]).unwrap(), Some(vec![i; 100]));
        }
        assert_eq!(db.get(&[b'k', 4]).unwrap(), None);
        drop(db);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len - record_len);
    }
}
