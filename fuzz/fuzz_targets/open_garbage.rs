//! Opens a store directory whose data, hint and merge-record files hold arbitrary bytes, then
//! reads everything every way the API offers. Open may fail with an error; nothing may panic,
//! hang or crash, every key the index lists must read back consistently through get, fold,
//! scan and the iterator, and a read-write reopen (which repairs the log) must serve exactly
//! what the first open served.
//!
//! Input: one config byte, then files, each `[tag][len: u16 LE][len payload bytes]`:
//! - `tag & 3`: 0 `<id>.data`, 1 `<id>.hint`, 2 `merge.tmp/COMMIT`, 3 `MERGED-<id>`;
//! - `(tag >> 2) & 7`: id - 1 (ids 1..=8, so files collide and replace each other);
//! - bit 5: put a valid file header (or merge magic: version 2 when config bit 3 is set, else
//!   version 1) in front of the payload;
//! - bit 6: give the payload valid checksums: every record of a data file that decodes, a hint's
//!   footer (the payload ends with its entry count and two damage counters; the harness adds
//!   the data file's length, its tail CRC and the hint's CRC), a merge record's trailing CRC;
//! - bit 7: the header's `order` is 1 instead of the id (as files written by a merge have).
//!
//! Without bits 5 and 6 a random mutation would almost never get past a checksum; with them the
//! fuzzer explores the recovery rules themselves (record boundaries, batches, damaged headers,
//! stale hints, half-finished merges). Config byte: bit 0 opens read-only first; bit 1 opens
//! with small key and value limits, below sizes that are valid in the format; bit 3 makes merge
//! records version 2; bit 4 makes data file headers version 1 (no batch-start marks); bit 2
//! makes hint
//! headers compact (version 2), and then bit 6 of a hint's tag builds the whole compact hint
//! from the final data file: the payload's bytes select the records (the bitmap), the chunk
//! table (offsets, digests of headers and keys) and the footer are computed, so a hint that
//! selects any records, superseded, tombstones or batch records included, gets loaded.

#![no_main]

#[path = "common.rs"]
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::ops::ControlFlow;
use std::path::Path;

use bitcask::format::{self, FILE_HEADER_LEN, FileHeader, FileKind, RecordLimits};
use bitcask::{Bitcask, ErrorKind, Options};
use common::Bytes;
use libfuzzer_sys::fuzz_target;

/// What every key of a store reads as: its value, or None where the record is damaged.
type State = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

fuzz_target!(|data: &[u8]| {
    let dir = common::scratch_dir("open-garbage");
    let mut input = Bytes::new(data);
    let config = input.u8();
    write_files(&dir, &mut input, config);
    if let Some(keep) = std::env::var_os("BITCASK_FUZZ_DUMP") {
        // Turning a crash into a regression test starts from the files it decodes to:
        // `BITCASK_FUZZ_DUMP=/tmp/x cargo fuzz run open_garbage <crash>` leaves them in /tmp/x.
        let keep = Path::new(&keep);
        fs::create_dir_all(keep).unwrap();
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                fs::copy(e.path(), keep.join(e.file_name())).unwrap();
            }
        }
    }

    let mut opts = Options::default();
    if config & 2 != 0 {
        opts.max_key_size(16).unwrap();
        opts.max_value_size(64).unwrap();
    }
    let first = if config & 1 != 0 {
        let mut ro = opts.clone();
        ro.read_only(true);
        open_and_read(&dir, &ro)
    } else {
        open_and_read(&dir, &opts)
    };
    if let Some(first) = first {
        // A read-write open repairs (cuts a torn tail, finishes or discards a merge, writes a
        // hint at close); none of that may change what a key reads as. (Where replay resumes
        // after damage depends on what follows it, so an open that cuts, or read-only would
        // cut, a damaged last file replays it as cut.)
        let second = open_and_read(&dir, &opts).expect("the store opened before; reopen failed");
        assert_eq!(
            first, second,
            "a read-write reopen changed what the store serves"
        );
        let third = open_and_read(&dir, &opts).expect("reopen after a repair failed");
        assert_eq!(
            second, third,
            "a second reopen changed what the store serves"
        );
    }
    let _ = fs::remove_dir_all(&dir);
});

fn write_files(dir: &Path, input: &mut Bytes<'_>, config: u8) {
    let (compact, merge_v2) = (config & 4 != 0, config & 8 != 0);
    let data_version = if config & 16 != 0 {
        format::OLDEST_FORMAT_VERSION
    } else {
        format::FORMAT_VERSION
    };
    let mut files: BTreeMap<(u8, u32), Vec<u8>> = BTreeMap::new();
    // Hints to finish once the data files are known: id -> whether it has a header.
    let mut hints: BTreeMap<u32, bool> = BTreeMap::new();
    let hint_version = if compact {
        format::COMPACT_HINT_VERSION
    } else {
        format::KEYED_HINT_VERSION
    };
    while !input.is_empty() {
        let tag = input.u8();
        let len = input.u16() as usize;
        let payload = input.take(len);
        let kind = tag & 3;
        let id = 1 + ((tag >> 2) & 7) as u32;
        let header = tag & 0x20 != 0;
        let fix = tag & 0x40 != 0;
        let order = if tag & 0x80 != 0 { 1 } else { id };
        let mut bytes = Vec::new();
        match kind {
            0 | 1 => {
                if header {
                    let kind = if kind == 0 {
                        FileKind::Data
                    } else {
                        FileKind::Hint
                    };
                    let version = if kind == FileKind::Hint {
                        hint_version
                    } else {
                        data_version
                    };
                    bytes.extend_from_slice(
                        &FileHeader {
                            kind,
                            file_id: id,
                            order,
                        }
                        .encode_version(version),
                    );
                }
                let start = bytes.len();
                bytes.extend_from_slice(payload);
                if kind == 0 && fix {
                    fix_record_crcs(&mut bytes[start..]);
                }
                if kind == 1 {
                    // The footer depends on the final data file: finish it after all are read.
                    hints.remove(&id);
                    if fix {
                        hints.insert(id, header);
                    }
                }
            }
            _ => {
                if header {
                    bytes.extend_from_slice(if merge_v2 { b"BCMERGE2" } else { b"BCMERGE1" });
                }
                bytes.extend_from_slice(payload);
                if fix {
                    let crc = crc32fast::hash(&bytes);
                    bytes.extend_from_slice(&crc.to_le_bytes());
                }
            }
        }
        files.insert((kind, id), bytes);
    }
    for (id, header) in hints {
        let data = files.get(&(0, id)).cloned().unwrap_or_default();
        let hint = files.get_mut(&(1, id)).expect("hint listed");
        if compact {
            let selection = hint.split_off(if header { FILE_HEADER_LEN } else { 0 });
            compact_hint(hint, &data, &selection);
            continue;
        }
        // The footer is [entries][data length][2 damage counters][tail CRC][CRC]: the payload
        // ends with the entry count and the counters; the data length goes between them.
        let at = hint.len().saturating_sub(16);
        let counters = hint.split_off(at);
        hint.extend_from_slice(&(data.len() as u64).to_le_bytes());
        hint.extend_from_slice(&counters);
        hint.extend_from_slice(&tail_crc(&data).to_le_bytes());
        let crc = crc32fast::hash(hint);
        hint.extend_from_slice(&crc.to_le_bytes());
    }
    for ((kind, id), bytes) in files {
        let path = match kind {
            0 => format::data_path(dir, id),
            1 => format::hint_path(dir, id),
            2 => {
                fs::create_dir_all(dir.join("merge.tmp")).unwrap();
                dir.join("merge.tmp").join("COMMIT")
            }
            _ => dir.join(format!("MERGED-{id:010}")),
        };
        fs::write(&path, bytes).unwrap();
    }
}

/// Gives every record that decodes from the start of `b` onwards a correct CRC, stopping at the
/// first bytes that do not decode as a record header or run past the end.
fn fix_record_crcs(b: &mut [u8]) {
    let mut pos = 0;
    while let Ok(h) = format::decode_record_header(&b[pos..], RecordLimits::FORMAT) {
        let Some(end) = pos.checked_add(h.record_len() as usize) else {
            return;
        };
        if end > b.len() {
            return;
        }
        let crc = crc32fast::hash(&b[pos + 4..end]);
        b[pos..pos + 4].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
}

/// CRC-32 of a data file's last 32 bytes after its header (fewer if it is shorter), as a hint's
/// footer records it.
fn tail_crc(data: &[u8]) -> u32 {
    let n = 32.min(data.len().saturating_sub(FILE_HEADER_LEN));
    crc32fast::hash(&data[data.len() - n..])
}

/// Appends to `out` (a compact hint's header, or nothing) the bitmap, chunk table and footer of a
/// compact hint of `data` whose bitmap is taken from `selection`, as `src/log/hint/compact.rs` lays them out.
/// Where the records stop following one another the walk stops, and the hint will not load.
fn compact_hint(out: &mut Vec<u8>, data: &[u8], selection: &[u8]) {
    const CHUNK: u64 = 1 << 16;
    let mut rows: Vec<(u32, crc32fast::Hasher)> = Vec::new();
    let mut records = 0u64;
    let mut pos = FILE_HEADER_LEN;
    while pos < data.len() {
        let Ok(h) = format::decode_record_header(&data[pos..], RecordLimits::FORMAT) else {
            break;
        };
        let end = pos + h.record_len() as usize;
        if end > data.len() {
            break;
        }
        if records % CHUNK == 0 {
            rows.push((pos as u32, crc32fast::Hasher::new()));
        }
        let key_end = pos + h.header_len as usize + h.key_len as usize;
        rows.last_mut().unwrap().1.update(&data[pos..key_end]);
        records += 1;
        pos = end;
    }
    let mut bitmap = selection.to_vec();
    bitmap.resize(records.div_ceil(8) as usize, 0);
    if records % 8 != 0 {
        *bitmap.last_mut().unwrap() &= (1u8 << (records % 8)) - 1;
    }
    let entries: u64 = bitmap.iter().map(|b| b.count_ones() as u64).sum();
    out.extend_from_slice(&bitmap);
    for (offset, crc) in rows {
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&crc.finalize().to_le_bytes());
    }
    for v in [entries, records, data.len() as u64] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&tail_crc(data).to_le_bytes());
    let crc = crc32fast::hash(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Opens the store and reads every key through every read path, checking they agree. Returns
/// what it read; None when open failed (with an error, which is allowed: the input may not be a
/// store at all).
fn open_and_read(dir: &Path, opts: &Options) -> Option<State> {
    let db = match Bitcask::open(dir, opts) {
        Ok(db) => db,
        Err(e) => {
            assert!(
                matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Io),
                "open failed with an unexpected kind of error: {e}"
            );
            assert!(!e.to_string().is_empty());
            return None;
        }
    };

    let mut keys = Vec::new();
    let _ = db.fold_keys(|k| {
        keys.push(k.to_vec());
        ControlFlow::Continue(())
    });
    let mut state = State::new();
    for k in &keys {
        let got = match db.get(k) {
            Ok(Some(v)) => Some(v),
            Err(e) if e.kind() == ErrorKind::Corrupt => None,
            // Keys of garbage can exceed this open's limits; the keydir may still hold them.
            Err(e) if e.kind() == ErrorKind::TooLarge => continue,
            Ok(None) => panic!("fold_keys listed {k:?}, get says it is absent"),
            Err(e) => panic!("get({k:?}): unexpected error {e}"),
        };
        assert!(db.contains(k).unwrap(), "listed key {k:?} not contained");
        assert!(
            state.insert(k.clone(), got).is_none(),
            "fold_keys listed {k:?} twice"
        );
    }

    let mut folded = BTreeMap::new();
    let _ = db.fold(|k, v| {
        assert!(
            folded.insert(k.to_vec(), v.to_vec()).is_none(),
            "fold visited {k:?} twice"
        );
        ControlFlow::Continue(())
    });
    for (k, v) in &folded {
        if let Some(want) = state.get(k) {
            assert_eq!(want.as_ref(), Some(v), "fold and get disagree on {k:?}");
        }
    }

    let mut scanned = Vec::new();
    let _ = db.scan_prefix(b"", |k, v| {
        scanned.push((k.to_vec(), v.to_vec()));
        ControlFlow::Continue(())
    });
    let mut iterated = Vec::new();
    let mut it = db.iter();
    loop {
        match it.next_entry() {
            Ok(Some((k, v))) => iterated.push((k.to_vec(), v.to_vec())),
            Ok(None) => break,
            Err(e) => assert_eq!(e.kind(), ErrorKind::Corrupt, "iterator: {e}"),
        }
    }
    drop(it);
    for list in [&scanned, &iterated] {
        assert!(
            list.windows(2).all(|w| w[0].0 < w[1].0),
            "scan/iterator out of order"
        );
        for (k, v) in list {
            if let Some(want) = state.get(k) {
                assert_eq!(
                    want.as_ref(),
                    Some(v),
                    "scan/iterator and get disagree on {k:?}"
                );
            }
        }
    }
    assert_eq!(
        scanned, iterated,
        "scan_prefix(\"\") and the iterator disagree"
    );

    if let Err(e) = db.close() {
        assert_eq!(e.kind(), ErrorKind::Io, "close: {e}");
    }
    Some(state)
}
