//! What an open does with a merge record, whatever the directory beside it holds: it deletes a
//! merge's inputs only once every output the record names is in place (there, with an intact
//! header, the recorded length, and a matching hint), and otherwise keeps and serves every file,
//! counts the merge as incomplete, and never reuses an id the record names.
//!
//! The stores here are real ones caught between a merge's commit and the deletion of its inputs
//! (a running iterator holds the inputs; the directory is copied at that moment), then changed
//! the way a lost rename, a partial copy or a hand-deletion would change them.

use std::collections::BTreeMap;
use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use bitcask::{Bitcask, Options};

type State = BTreeMap<Vec<u8>, Vec<u8>>;

fn options() -> Options {
    let mut o = Options::default();
    o.max_file_size(4096).unwrap();
    o
}

fn read_only() -> Options {
    let mut o = options();
    o.read_only(true);
    o
}

fn data_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:010}.data"))
}

fn hint_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:010}.hint"))
}

/// Every key the store serves, with its value (a read that fails is a test failure).
fn served(db: &Bitcask) -> State {
    let mut keys = Vec::new();
    let _ = db.fold_keys(|k| {
        keys.push(k.to_vec());
        ControlFlow::Continue(())
    });
    keys.into_iter()
        .map(|k| {
            let v = db.get(&k).unwrap().expect("a listed key reads back");
            (k, v)
        })
        .collect()
}

fn open_and_read(dir: &Path, opts: &Options) -> (State, u64) {
    let db = Bitcask::open(dir, opts).unwrap();
    let state = served(&db);
    let incomplete = db.stats().incomplete_merges;
    db.close().unwrap();
    (state, incomplete)
}

fn cut_to(path: &Path, len: u64) {
    let f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len).unwrap();
}

fn data_ids(dir: &Path) -> Vec<u32> {
    let mut ids: Vec<u32> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".data")?.parse().ok()
        })
        .collect();
    ids.sort_unstable();
    ids
}

fn merge_records(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("MERGED-")
        })
        .collect();
    v.sort();
    v
}

/// A merge record as docs/FORMAT.md lays out version 2.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    merge_id: u32,
    inputs: Vec<u32>,
    outputs: Vec<(u32, u64)>,
}

impl Record {
    fn encode(&self) -> Vec<u8> {
        let mut b = b"BCMERGE2".to_vec();
        b.extend_from_slice(&self.merge_id.to_le_bytes());
        b.extend_from_slice(&(self.inputs.len() as u32).to_le_bytes());
        for id in &self.inputs {
            b.extend_from_slice(&id.to_le_bytes());
        }
        b.extend_from_slice(&(self.outputs.len() as u32).to_le_bytes());
        for (id, len) in &self.outputs {
            b.extend_from_slice(&id.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
        }
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Record {
        assert_eq!(&b[..8], b"BCMERGE2", "merges write version-2 records");
        let (body, crc) = b.split_at(b.len() - 4);
        assert_eq!(
            crc32fast::hash(body),
            u32::from_le_bytes(crc.try_into().unwrap())
        );
        let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().unwrap());
        let merge_id = u32_at(8);
        let n = u32_at(12) as usize;
        let inputs = (0..n).map(|i| u32_at(16 + 4 * i)).collect();
        let at = 16 + 4 * n;
        let m = u32_at(at) as usize;
        let outputs = (0..m)
            .map(|i| {
                let e = at + 4 + 12 * i;
                (
                    u32_at(e),
                    u64::from_le_bytes(body[e + 4..e + 12].try_into().unwrap()),
                )
            })
            .collect();
        assert_eq!(at + 4 + 12 * m, body.len(), "nothing after the outputs");
        Record {
            merge_id,
            inputs,
            outputs,
        }
    }

    /// The same record in version 1 (no merge id, no lengths), as older libraries wrote it.
    fn encode_v1(&self) -> Vec<u8> {
        let mut b = b"BCMERGE1".to_vec();
        let outputs: Vec<u32> = self.outputs.iter().map(|o| o.0).collect();
        for list in [&self.inputs, &outputs] {
            b.extend_from_slice(&(list.len() as u32).to_le_bytes());
            for id in list {
                b.extend_from_slice(&id.to_le_bytes());
            }
        }
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }
}

/// A store whose merge has committed (outputs in place, record `MERGED-<id>` written) but whose
/// inputs are not deleted yet, as a crash at that moment leaves it; with what it serves.
struct MidMerge {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    state: State,
    record_path: PathBuf,
    record: Record,
}

fn mid_merge() -> MidMerge {
    let live = tempfile::tempdir().unwrap();
    let db = Bitcask::open(live.path(), &options()).unwrap();
    for round in 0..3u32 {
        for k in 0..150u32 {
            let value = format!("value {k} round {round} {}", "x".repeat(30));
            db.put(format!("key{k:04}").as_bytes(), value.as_bytes())
                .unwrap();
        }
    }
    for k in (0..150u32).step_by(7) {
        db.delete(format!("key{k:04}").as_bytes()).unwrap();
    }
    let state = served(&db);
    // A running iterator keeps the merge from deleting its inputs.
    let pin = db.iter();
    db.merge().unwrap();
    let copy = tempfile::tempdir().unwrap();
    let dir = copy.path().join("store");
    fs::create_dir(&dir).unwrap();
    for e in fs::read_dir(live.path()).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    drop(pin);
    db.close().unwrap();

    let records = merge_records(&dir);
    assert_eq!(records.len(), 1, "the copy holds the merge's record");
    let record = Record::decode(&fs::read(&records[0]).unwrap());
    assert!(record.inputs.len() >= 3 && !record.outputs.is_empty());
    assert_eq!(record.merge_id, record.outputs[0].0);
    for &id in &record.inputs {
        assert!(data_path(&dir, id).exists(), "input {id} still there");
    }
    for &(id, len) in &record.outputs {
        assert_eq!(fs::metadata(data_path(&dir, id)).unwrap().len(), len);
        assert!(hint_path(&dir, id).exists());
    }
    MidMerge {
        _tmp: copy,
        dir,
        state,
        record_path: records[0].clone(),
        record,
    }
}

/// Checks an open of `m` (changed to make its merge incomplete) keeps everything: the read-only
/// open and every read-write open serve the store as it was, count one incomplete merge, delete
/// nothing the record names, keep the record, and create no file under an id it names; then a
/// merge rewrites the files and retires the record. Returns the reason the open gave.
fn check_kept_and_served(m: &MidMerge, expect_reason: &str) {
    let before = data_ids(&m.dir);
    let (ro, ro_incomplete) = open_and_read(&m.dir, &read_only());
    assert_eq!(ro, m.state, "read-only open");
    assert_eq!(ro_incomplete, 1);

    let db = Bitcask::open(&m.dir, &options()).unwrap();
    assert_eq!(served(&db), m.state, "read-write open");
    assert_eq!(db.stats().incomplete_merges, 1);
    let incomplete = db.incomplete_merges();
    assert_eq!(incomplete.len(), 1);
    assert_eq!(incomplete[0].record, m.record_path);
    assert_eq!(incomplete[0].inputs, m.record.inputs);
    assert!(
        incomplete[0].reason.contains(expect_reason),
        "reason {:?} should say {expect_reason:?}",
        incomplete[0].reason
    );
    for id in before.iter() {
        assert!(data_path(&m.dir, *id).exists(), "file {id} kept");
    }
    assert!(m.record_path.exists(), "the record is kept");
    // Enough writes to fill several new files: none may take an id the record names.
    for k in 0..200u32 {
        db.put(format!("new{k:04}").as_bytes(), &[b'n'; 60])
            .unwrap();
    }
    let named_max = m
        .record
        .inputs
        .iter()
        .chain(m.record.outputs.iter().map(|o| &o.0))
        .max()
        .copied()
        .unwrap();
    for id in data_ids(&m.dir) {
        if !before.contains(&id) {
            assert!(
                id > named_max,
                "new file {id} reuses an id the record names"
            );
        }
    }
    let mut want = m.state.clone();
    for k in 0..200u32 {
        want.insert(format!("new{k:04}").into_bytes(), vec![b'n'; 60]);
    }
    assert_eq!(served(&db), want);
    db.close().unwrap();

    let (again, count) = open_and_read(&m.dir, &options());
    assert_eq!(again, want, "a second read-write open");
    assert_eq!(count, 1);
    assert!(m.record_path.exists());

    // The way out: a merge rewrites every file the record names and retires the record.
    let db = Bitcask::open(&m.dir, &options()).unwrap();
    db.merge().unwrap();
    assert_eq!(db.stats().incomplete_merges, 0);
    assert!(db.incomplete_merges().is_empty());
    db.close().unwrap();
    assert!(!m.record_path.exists(), "the merge retired the record");
    assert!(merge_records(&m.dir).is_empty());
    let (after, count) = open_and_read(&m.dir, &options());
    assert_eq!(after, want, "after the merge");
    assert_eq!(count, 0);
}

#[test]
fn a_complete_merge_is_finished_by_the_next_open() {
    let m = mid_merge();
    let (ro, count) = open_and_read(&m.dir, &read_only());
    assert_eq!(ro, m.state);
    assert_eq!(count, 0);
    // A read-only open leaves everything where it is...
    for &id in &m.record.inputs {
        assert!(data_path(&m.dir, id).exists());
    }
    // ...a read-write one deletes the inputs, then the record.
    let (rw, count) = open_and_read(&m.dir, &options());
    assert_eq!(rw, m.state);
    assert_eq!(count, 0);
    for &id in &m.record.inputs {
        assert!(!data_path(&m.dir, id).exists(), "input {id} deleted");
        assert!(!hint_path(&m.dir, id).exists());
    }
    assert!(merge_records(&m.dir).is_empty());
}

#[test]
fn outputs_missing_keep_the_inputs() {
    let m = mid_merge();
    for &(id, _) in &m.record.outputs {
        fs::remove_file(data_path(&m.dir, id)).unwrap();
        fs::remove_file(hint_path(&m.dir, id)).unwrap();
    }
    check_kept_and_served(&m, "is missing");
}

#[test]
fn one_output_of_several_missing_keeps_the_inputs() {
    let m = mid_merge();
    assert!(
        m.record.outputs.len() >= 2,
        "a merge of this store writes several files"
    );
    let (id, _) = *m.record.outputs.last().unwrap();
    fs::remove_file(data_path(&m.dir, id)).unwrap();
    check_kept_and_served(&m, &format!("{id:010}.data is missing"));
}

#[test]
fn an_output_cut_short_keeps_the_inputs() {
    let m = mid_merge();
    let (id, len) = m.record.outputs[0];
    cut_to(&data_path(&m.dir, id), len - 10);
    check_kept_and_served(&m, &format!("is {} bytes; the merge wrote {len}", len - 10));
}

#[test]
fn an_output_cut_short_with_its_hint_gone_keeps_the_inputs() {
    let m = mid_merge();
    let (id, len) = m.record.outputs[0];
    fs::remove_file(hint_path(&m.dir, id)).unwrap();
    cut_to(&data_path(&m.dir, id), len / 2);
    check_kept_and_served(&m, "the merge wrote");
}

#[test]
fn an_output_with_a_damaged_header_keeps_the_inputs() {
    let m = mid_merge();
    let path = data_path(&m.dir, m.record.outputs[0].0);
    let mut bytes = fs::read(&path).unwrap();
    bytes[9] ^= 0x40; // the format version
    fs::write(&path, bytes).unwrap();
    check_kept_and_served(&m, "damaged header");
}

#[test]
fn an_output_whose_hint_disagrees_keeps_the_inputs() {
    let m = mid_merge();
    let id = m.record.outputs[0].0;
    let path = hint_path(&m.dir, id);
    let mut bytes = fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1; // the hint's own CRC
    fs::write(&path, bytes).unwrap();
    check_kept_and_served(&m, "hint does not match");
}

#[test]
fn inputs_already_gone_finish_the_merge() {
    let m = mid_merge();
    // A crash after some inputs were deleted, before the record was.
    for &id in &m.record.inputs[..2] {
        fs::remove_file(data_path(&m.dir, id)).unwrap();
        let _ = fs::remove_file(hint_path(&m.dir, id));
    }
    let (ro, count) = open_and_read(&m.dir, &read_only());
    assert_eq!(ro, m.state, "the remaining inputs are not replayed");
    assert_eq!(count, 0);
    let (rw, count) = open_and_read(&m.dir, &options());
    assert_eq!(rw, m.state);
    assert_eq!(count, 0);
    for &id in &m.record.inputs {
        assert!(!data_path(&m.dir, id).exists());
    }
    assert!(merge_records(&m.dir).is_empty());
}

#[test]
fn a_record_naming_files_that_never_existed_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &options()).unwrap();
    for k in 0..100u32 {
        db.put(format!("k{k}").as_bytes(), &[7u8; 50]).unwrap();
    }
    let state = served(&db);
    db.close().unwrap();
    let files = data_ids(dir.path());
    assert!(files.len() >= 2 && *files.last().unwrap() < 40);
    let record = Record {
        merge_id: 60,
        inputs: vec![40, 41],
        outputs: vec![(60, 4096)],
    };
    let path = dir.path().join("MERGED-60");
    fs::write(&path, record.encode()).unwrap();

    let (ro, count) = open_and_read(dir.path(), &read_only());
    assert_eq!((ro, count), (state.clone(), 1));
    let db = Bitcask::open(dir.path(), &options()).unwrap();
    assert_eq!(served(&db), state);
    assert_eq!(db.stats().incomplete_merges, 1);
    assert!(
        db.incomplete_merges()[0]
            .reason
            .contains("0000000060.data is missing")
    );
    // The active file starts above every id the record names.
    let active = db.file_stats().into_iter().find(|f| f.active).unwrap();
    assert!(active.id > 60, "active file {}", active.id);
    db.close().unwrap();
    for id in &files {
        assert!(data_path(dir.path(), *id).exists());
    }
    assert!(path.exists());
}

#[test]
fn a_version_1_record_is_finished_only_when_its_outputs_can_be_checked() {
    // Intact outputs with their hints (which record each file's length): finished.
    let m = mid_merge();
    fs::write(&m.record_path, m.record.encode_v1()).unwrap();
    let (rw, count) = open_and_read(&m.dir, &options());
    assert_eq!((rw, count), (m.state.clone(), 0));
    for &id in &m.record.inputs {
        assert!(!data_path(&m.dir, id).exists());
    }

    // An output without its hint: nothing says how long it should be, so nothing is deleted.
    let m = mid_merge();
    fs::write(&m.record_path, m.record.encode_v1()).unwrap();
    fs::remove_file(hint_path(&m.dir, m.record.outputs[0].0)).unwrap();
    check_kept_and_served(&m, "hint is missing");
}

#[test]
fn a_later_complete_merge_retires_an_earlier_incomplete_record() {
    // A store that kept an incomplete record, then merged (in check_kept_and_served's last
    // step) retires it at the merge. Here the crash comes between the later merge's commit and
    // its deletions: the next open must still see the earlier record as moot.
    let m = mid_merge();
    for &(id, _) in &m.record.outputs {
        fs::remove_file(data_path(&m.dir, id)).unwrap();
    }
    let old_record = m.record_path.clone();
    let db = Bitcask::open(&m.dir, &options()).unwrap();
    let pin = db.iter();
    db.merge().unwrap();
    // The record is retired as soon as the later merge is durable, before its inputs go.
    assert!(!old_record.exists());
    assert_eq!(db.stats().incomplete_merges, 0);
    let copy = tempfile::tempdir().unwrap();
    for e in fs::read_dir(&m.dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), copy.path().join(e.file_name())).unwrap();
        }
    }
    drop(pin);
    db.close().unwrap();
    // Put the old record back beside the later merge's: the later one covers all its files.
    fs::write(
        copy.path().join(old_record.file_name().unwrap()),
        m.record.encode(),
    )
    .unwrap();
    assert_eq!(merge_records(copy.path()).len(), 2);
    let (ro, count) = open_and_read(copy.path(), &read_only());
    assert_eq!((ro, count), (m.state.clone(), 0));
    let (rw, count) = open_and_read(copy.path(), &options());
    assert_eq!((rw, count), (m.state.clone(), 0));
    assert!(merge_records(copy.path()).is_empty());
}

#[test]
fn verify_names_an_incomplete_merge_and_repair_deletes_nothing() {
    let m = mid_merge();
    let id = m.record.outputs[0].0;
    fs::remove_file(data_path(&m.dir, id)).unwrap();
    let report = bitcask::verify::verify(&m.dir, false, &mut |_| {}).unwrap();
    let problems: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.kind == bitcask::verify::ProblemKind::IncompleteMerge)
        .collect();
    assert_eq!(problems.len(), 1, "{:?}", report.problems);
    assert_eq!(problems[0].file, m.record_path);
    assert!(
        problems[0]
            .what
            .contains(&format!("{id:010}.data is missing"))
    );
    let before = data_ids(&m.dir);
    let repaired = bitcask::verify::verify(&m.dir, true, &mut |_| {}).unwrap();
    assert!(
        repaired
            .remaining
            .iter()
            .any(|p| p.kind == bitcask::verify::ProblemKind::IncompleteMerge)
    );
    assert_eq!(data_ids(&m.dir), before);
    assert!(m.record_path.exists());

    // Nor does repair rebuild the hint of a file such a record names: a hint rebuilt from a
    // cut-short output would vouch for its length.
    let m = mid_merge();
    fs::write(&m.record_path, m.record.encode_v1()).unwrap();
    let (id, len) = m.record.outputs[0];
    cut_to(&data_path(&m.dir, id), len - 1);
    let hint = fs::read(hint_path(&m.dir, id)).unwrap();
    let repaired = bitcask::verify::verify(&m.dir, true, &mut |_| {}).unwrap();
    assert!(repaired.repairs.is_empty(), "{:?}", repaired.repairs);
    assert_eq!(fs::read(hint_path(&m.dir, id)).unwrap(), hint);
    assert_eq!(open_and_read(&m.dir, &options()), (m.state.clone(), 1));

    // A complete one is only a note.
    let m = mid_merge();
    let report = bitcask::verify::verify(&m.dir, false, &mut |_| {}).unwrap();
    assert!(
        report
            .problems
            .iter()
            .all(|p| p.kind != bitcask::verify::ProblemKind::IncompleteMerge)
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("deletes its inputs")),
        "{:?}",
        report.notes
    );
}

/// The open_garbage finding (shared/fuzz-findings/open_garbage-reopen-serves-nothing.bin): one
/// data file with six keys and a torn tail, and a merge record with a valid checksum naming file
/// 1 and outputs that do not exist. A read-write open used to delete file 1 and start a new file
/// 1, so the store then served only what was written after.
#[test]
fn fuzz_finding_a_record_without_its_outputs_loses_nothing() {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/open_garbage-reopen-serves-nothing");
    let tmp = tempfile::tempdir().unwrap();
    for e in fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    let (first, _) = open_and_read(tmp.path(), &read_only());
    assert_eq!(first.len(), 6, "the finding's store serves six keys");
    let db = Bitcask::open(tmp.path(), &options()).unwrap();
    assert_eq!(served(&db), first);
    db.put(b"zz", b"1").unwrap();
    db.close().unwrap();
    assert!(data_path(tmp.path(), 1).exists());
    let mut want = first.clone();
    want.insert(b"zz".to_vec(), b"1".to_vec());
    for _ in 0..2 {
        let (now, _) = open_and_read(tmp.path(), &options());
        assert_eq!(now, want);
    }

    // The finding's record names ids no merge would (it is refused as damaged, and removed by
    // the read-write open above). The same store with a well-formed record whose output is
    // missing: kept and counted, and the six keys still served.
    let tmp = tempfile::tempdir().unwrap();
    fs::copy(src.join("0000000001.data"), data_path(tmp.path(), 1)).unwrap();
    let record = Record {
        merge_id: 2,
        inputs: vec![1],
        outputs: vec![(2, 583)],
    };
    fs::write(tmp.path().join("MERGED-0000000002"), record.encode()).unwrap();
    let (ro, count) = open_and_read(tmp.path(), &read_only());
    assert_eq!((ro, count), (first.clone(), 1));
    let db = Bitcask::open(tmp.path(), &options()).unwrap();
    db.put(b"zz", b"1").unwrap();
    db.close().unwrap();
    for _ in 0..2 {
        assert_eq!(open_and_read(tmp.path(), &options()), (want.clone(), 1));
    }
}

/// A merge that fails after its commit point (here: a directory where an output's hint must be
/// renamed to) leaves its record and outputs on disk for the next open to finish, and the
/// handle refuses further writes: it no longer knows every file the store holds, and a later
/// merge would leave the moved-in output behind as a stale copy (a deleted key would return).
#[test]
fn a_merge_that_fails_after_its_commit_point_is_finished_by_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &options()).unwrap();
    for round in 0..2u32 {
        for k in 0..100u32 {
            db.put(
                format!("key{k:04}").as_bytes(),
                format!("v{round}{}", "x".repeat(40)).as_bytes(),
            )
            .unwrap();
        }
    }
    let state = served(&db);
    // The merge seals the active file into a new one, then writes its first output after it.
    let newest = db.file_stats().into_iter().map(|f| f.id).max().unwrap();
    let first_output = newest + 2;
    let obstacle = hint_path(dir.path(), first_output);
    fs::create_dir(&obstacle).unwrap();
    fs::write(obstacle.join("in-the-way"), b"x").unwrap();
    let err = db.merge().unwrap_err();
    assert_eq!(err.kind(), bitcask::ErrorKind::Io, "{err}");
    assert!(
        data_path(dir.path(), first_output).exists(),
        "the output was moved in"
    );
    let refused = db.delete(b"key0001").unwrap_err();
    assert!(
        refused.to_string().contains("after its commit point"),
        "writes are refused: {refused}"
    );
    assert_eq!(served(&db), state, "reads go on");
    let _ = db.close();
    fs::remove_dir_all(&obstacle).unwrap();

    let (rw, count) = open_and_read(dir.path(), &options());
    assert_eq!((rw, count), (state.clone(), 0));
    assert!(!dir.path().join("merge.tmp").exists());
    assert!(merge_records(dir.path()).is_empty());
    let db = Bitcask::open(dir.path(), &options()).unwrap();
    assert!(
        db.file_stats()
            .iter()
            .all(|f| f.active || f.id >= first_output),
        "the inputs are gone: {:?}",
        db.file_stats()
    );
    db.close().unwrap();
}

/// A crash between writing `merge.tmp/COMMIT` and moving the outputs in: read-only opens and
/// verify see a committed merge waiting to be moved (not an incomplete one), and the next
/// read-write open moves the outputs in and finishes it.
#[test]
fn a_commit_whose_outputs_are_still_in_merge_tmp_is_finished_by_the_next_open() {
    let m = mid_merge();
    let tmp = m.dir.join("merge.tmp");
    fs::create_dir(&tmp).unwrap();
    for &(id, _) in &m.record.outputs {
        fs::rename(data_path(&m.dir, id), data_path(&tmp, id)).unwrap();
        fs::rename(hint_path(&m.dir, id), hint_path(&tmp, id)).unwrap();
    }
    fs::rename(&m.record_path, tmp.join("COMMIT")).unwrap();

    assert_eq!(open_and_read(&m.dir, &read_only()), (m.state.clone(), 0));
    let report = bitcask::verify::verify(&m.dir, false, &mut |_| {}).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(
        report.notes.iter().any(|n| n.contains("not yet moved")),
        "{:?}",
        report.notes
    );

    assert_eq!(open_and_read(&m.dir, &options()), (m.state.clone(), 0));
    assert!(!tmp.exists());
    for &id in &m.record.inputs {
        assert!(!data_path(&m.dir, id).exists());
    }
    for &(id, len) in &m.record.outputs {
        assert_eq!(fs::metadata(data_path(&m.dir, id)).unwrap().len(), len);
    }
}
