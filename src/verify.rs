//! Offline verification and repair of a store directory, record by record.
//!
//! [`Bitcask::open`](crate::Bitcask::open) is built to keep going: it skips damaged records,
//! ignores bad hints and cuts a torn tail without a word beyond a counter. [`verify`] is the
//! opposite: it changes nothing (unless asked to repair), reads every data file and every hint
//! file, and names each problem by file and byte offset.
//!
//! The data files are read with the same replay the engine uses (so verify and open agree on what
//! is a record): every byte range the replay does not apply is a problem, described by decoding
//! the record at its start. Every hint file must describe exactly the records that replay applies,
//! field by field.
//!
//! Repair (which takes the store's write lock) fixes only what can be fixed without losing a
//! record: it cuts a torn tail off the newest data file, rewrites the header of a newest file a
//! crash left shorter than a header, rebuilds the hint of every sealed file whose hint is bad and
//! deletes bad hints of the newest file and hints without a data file. Damage inside a file stays;
//! a merge rewrites the file without it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::merge_record::{MERGE_DIR, MERGED_PREFIX, is_record_name};
use crate::format::{
    self, COMPACT_HINT_VERSION, FILE_HEADER_LEN, FLAG_BATCH, FLAG_HAS_EXPIRY, FLAG_TOMBSTONE,
    FileHeader, FileKind, HeaderError, MAX_RECORD_HEADER_LEN, RecordLimits,
};
use crate::io::lock::DirLock;
use crate::log::hint;

/// What kind of problem a [`Problem`] is, which decides what `repair` can do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// Bytes of a data file that are not valid records (or a damaged file header). The engine
    /// skips them; the records they held are lost. Not repairable in place: a merge rewrites the
    /// file without them.
    Damage,
    /// Bytes at the end of the newest data file that hold no valid record: a write cut off by a
    /// crash. Repair truncates them (as a read-write open would).
    TornTail,
    /// A hint file that is damaged, stale, or disagrees with its data file. The engine ignores it
    /// and scans the data file (slower, never wrong); repair rebuilds or deletes it.
    Hint,
    /// A merge record whose outputs are not all in place (see
    /// [`IncompleteMerge`](crate::IncompleteMerge)). The engine keeps and serves every file it
    /// names; repair leaves it, and the next merge rewrites those files and retires the record.
    IncompleteMerge,
}

/// One problem, at a byte offset of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub offset: u64,
    pub kind: ProblemKind,
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.file.file_name().map_or_else(
            || self.file.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        write!(f, "{name}: offset {}: {}", self.offset, self.what)
    }
}

/// What [`verify`] found (and, with repair, did).
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Data files read, and their bytes.
    pub data_files: u64,
    pub data_bytes: u64,
    /// Valid records read (tombstones included).
    pub records: u64,
    /// Hint files read and found to match their data file.
    pub hint_files_ok: u64,
    /// Sealed data files without a hint (not a problem: a read-write open writes one).
    pub missing_hints: u64,
    /// Problems, in file order. With repair, the problems found before repairing.
    pub problems: Vec<Problem>,
    /// With repair: one line per change made.
    pub repairs: Vec<String>,
    /// With repair: the problems still present after repairing (the store re-verified).
    pub remaining: Vec<Problem>,
    /// Facts worth knowing that are not damage (an unfinished merge, a writer's stale hint).
    pub notes: Vec<String>,
}

impl VerifyReport {
    /// Whether the store is clean: no problems (after repair, none remaining).
    pub fn is_clean(&self, repaired: bool) -> bool {
        if repaired {
            self.remaining.is_empty()
        } else {
            self.problems.is_empty()
        }
    }
}

/// Verifies every data and hint file of the store in `dir` without opening it as a store, so it
/// works beside a running writer (which it never blocks). With `repair`, takes the write lock
/// (failing with [`Error::Locked`] if a writer holds it), repairs what can be repaired without
/// losing a record, and verifies again. `progress` is called with each file before it is read.
pub fn verify(dir: &Path, repair: bool, progress: &mut dyn FnMut(&Path)) -> Result<VerifyReport> {
    let meta =
        fs::metadata(dir).map_err(|e| Error::io("open store directory", dir.to_path_buf(), e))?;
    if !meta.is_dir() {
        return Err(Error::invalid(format!(
            "'{}' is not a directory",
            dir.display()
        )));
    }
    let _lock = if repair {
        Some(DirLock::acquire(dir)?)
    } else {
        None
    };
    let mut report = VerifyReport::default();
    let plan = analyse(dir, &mut report, progress)?;
    if repair && !report.problems.is_empty() {
        apply_repairs(dir, &plan, &mut report)?;
        let mut again = VerifyReport::default();
        analyse(dir, &mut again, &mut |_| {})?;
        report.remaining = again.problems;
    }
    Ok(report)
}

/// What repair would do.
#[derive(Default)]
struct Plan {
    /// Newest data file: (id, cut to this length) when its tail is torn.
    truncate: Option<(u32, u64)>,
    /// Newest data file shorter than a header: rewrite the header.
    rewrite_header: Option<u32>,
    /// Sealed data files whose hint must be rebuilt: (id, order).
    rebuild_hints: Vec<(u32, u32)>,
    /// Hint files to delete.
    delete_hints: Vec<u32>,
}

struct DataFile {
    id: u32,
    order: u32,
    header_ok: bool,
    len: u64,
}

fn analyse(dir: &Path, report: &mut VerifyReport, progress: &mut dyn FnMut(&Path)) -> Result<Plan> {
    let mut data_ids = Vec::new();
    let mut hint_ids = Vec::new();
    let entries =
        fs::read_dir(dir).map_err(|e| Error::io("list store directory", dir.to_path_buf(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list store directory", dir.to_path_buf(), e))?;
        let name = entry.file_name();
        match name.to_str().and_then(format::parse_file_name) {
            Some((id, FileKind::Data)) => data_ids.push(id),
            Some((id, FileKind::Hint)) => hint_ids.push(id),
            None => {
                if let Some(note) = stray_name_note(&name.to_string_lossy()) {
                    report.notes.push(note);
                }
            }
        }
    }
    report.notes.sort();
    data_ids.sort_unstable();
    hint_ids.sort_unstable();
    let named_by_incomplete_merges = check_merge_records(dir, report)?;

    let mut plan = Plan::default();
    let mut files = Vec::with_capacity(data_ids.len());
    for &id in &data_ids {
        let path = format::data_path(dir, id);
        progress(&path);
        let file = File::open(&path).map_err(|e| Error::io("open data file", path.clone(), e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat data file", path.clone(), e))?
            .len();
        let mut head = Vec::with_capacity(FILE_HEADER_LEN);
        (&file)
            .take(FILE_HEADER_LEN as u64)
            .read_to_end(&mut head)
            .map_err(|e| Error::io("read data file", path.clone(), e))?;
        let (order, header_ok) = match FileHeader::decode(&head, FileKind::Data) {
            Ok(h) if h.file_id == id => (h.order, true),
            Ok(h) => {
                report.problems.push(Problem {
                    file: path.clone(),
                    offset: 0,
                    kind: ProblemKind::Damage,
                    what: format!(
                        "file header names file id {}, not {id}: an open refuses the store (a \
                         file renamed or copied in?)",
                        h.file_id
                    ),
                });
                (id, false)
            }
            // Replay puts a file with a bad header in id order, as here.
            Err(why) => {
                report.problems.push(Problem {
                    file: path.clone(),
                    offset: 0,
                    kind: ProblemKind::Damage,
                    what: if why.starts_with("format version")
                        || why.starts_with("unknown file header flags")
                    {
                        format!("file header: {why}; an open refuses the store")
                    } else {
                        format!("bad file header: {why}")
                    },
                });
                (id, false)
            }
        };
        files.push(DataFile {
            id,
            order,
            header_ok,
            len,
        });
    }
    files.sort_by_key(|f| (f.order, f.id));
    let newest = files.last().map(|f| f.id);

    for f in &files {
        let path = format::data_path(dir, f.id);
        let is_newest = Some(f.id) == newest;
        report.data_files += 1;
        report.data_bytes += f.len;
        if f.len < FILE_HEADER_LEN as u64 {
            // A file created just before a crash: the header write never landed.
            let p = report
                .problems
                .iter_mut()
                .find(|p| p.file == path && p.offset == 0);
            if is_newest {
                if let Some(p) = p {
                    p.kind = ProblemKind::TornTail;
                    p.what = format!(
                        "file is {} bytes, shorter than its {FILE_HEADER_LEN}-byte header (created just before a crash)",
                        f.len
                    );
                }
                plan.rewrite_header = Some(f.id);
            }
            continue;
        }
        let mut applied: Vec<Applied> = Vec::new();
        let (summary, scanned_len) = crate::log::recovery::scan_sealed(dir, f.id, &mut |e| {
            applied.push(Applied {
                offset: e.loc.offset as u64,
                len: e.loc.len as u64,
                flags: e.flags & (FLAG_TOMBSTONE | FLAG_HAS_EXPIRY),
                timestamp: e.timestamp,
                expiry: e.expiry,
                key: e.key.to_vec(),
            })
        })?;
        report.records += applied.len() as u64;
        // Batch records are applied when their batch ends, so restore offset order.
        let mut by_offset: Vec<(u64, u64)> = applied.iter().map(|a| (a.offset, a.len)).collect();
        by_offset.sort_unstable();
        let mut expected = FILE_HEADER_LEN as u64;
        let mut gaps = Vec::new();
        for &(offset, len) in &by_offset {
            if offset > expected {
                gaps.push((expected, offset));
            }
            expected = expected.max(offset + len);
        }
        if scanned_len > expected {
            gaps.push((expected, scanned_len));
        }
        for (i, &(from, to)) in gaps.iter().enumerate() {
            let at_end = to == scanned_len && i == gaps.len() - 1;
            let what = describe_gap(&path, from, to, scanned_len)
                .map_err(|e| Error::io("read data file", path.clone(), e))?;
            if at_end && is_newest {
                // Zeros after the records of the newest file are space its writer reserved
                // (the store may be open right now): free space, not a torn write.
                let file =
                    File::open(&path).map_err(|e| Error::io("open data file", path.clone(), e))?;
                let written_to = crate::log::recovery::nonzero_end(&file, from, to)
                    .map_err(|e| Error::io("read data file", path.clone(), e))?;
                if written_to <= from {
                    continue;
                }
                plan.truncate = Some((f.id, from));
                report.problems.push(Problem {
                    file: path.clone(),
                    offset: from,
                    kind: ProblemKind::TornTail,
                    what: format!("torn tail of {} bytes: {what}", written_to - from),
                });
            } else {
                report.problems.push(Problem {
                    file: path.clone(),
                    offset: from,
                    kind: ProblemKind::Damage,
                    what: format!("{} bytes skipped: {what}", to - from),
                });
            }
        }

        let hint_path = format::hint_path(dir, f.id);
        if !hint_path.exists() {
            if !is_newest {
                report.missing_hints += 1;
            }
            continue;
        }
        progress(&hint_path);
        let bad = check_hint(dir, f, scanned_len, &applied, summary.corrupt_records)
            .map_err(|e| Error::io("read hint file", hint_path.clone(), e))?;
        match bad {
            None => report.hint_files_ok += 1,
            Some((offset, what, stale)) => {
                if is_newest && stale {
                    // A writer appending after a hinted open leaves the hint stale until close.
                    report.notes.push(format!(
                        "{}: the newest file's hint is stale ({what}); the engine ignores it",
                        file_name(&hint_path)
                    ));
                    continue;
                }
                report.problems.push(Problem {
                    file: hint_path.clone(),
                    offset,
                    kind: ProblemKind::Hint,
                    what,
                });
                if named_by_incomplete_merges.contains(&f.id) {
                    // Rebuilt from the file as it is, the hint would vouch for an output the
                    // merge record cannot vouch for; the next merge rewrites the file.
                } else if is_newest || !f.header_ok {
                    plan.delete_hints.push(f.id);
                } else {
                    plan.rebuild_hints.push((f.id, f.order));
                }
            }
        }
    }
    for &id in &hint_ids {
        if data_ids.binary_search(&id).is_err() {
            report.problems.push(Problem {
                file: format::hint_path(dir, id),
                offset: 0,
                kind: ProblemKind::Hint,
                what: "hint file without its data file".into(),
            });
            plan.delete_hints.push(id);
        }
    }
    report
        .problems
        .sort_by(|a, b| (&a.file, a.offset).cmp(&(&b.file, b.offset)));
    Ok(plan)
}

/// A note for a directory entry that is not a store file (`docs/FORMAT.md`, "The directory"),
/// or `None` for the store's other names.
fn stray_name_note(name: &str) -> Option<String> {
    let ours = name == format::LOCK_FILE
        || name == MERGE_DIR
        || format::is_hint_tmp_name(name)
        || is_record_name(name);
    if ours {
        return None;
    }
    let looks_like = if name.ends_with(".data") {
        "named like a data file but not <10-digit id>.data: "
    } else if name.ends_with(".hint") || name.ends_with(".hint.tmp") {
        "named like a hint file but not <10-digit id>.hint: "
    } else if name.starts_with(MERGED_PREFIX) {
        "named like a merge record but not MERGED-<id>: "
    } else {
        ""
    };
    Some(format!(
        "{name}: {looks_like}not a store file; opens ignore it (never open, count or delete it)"
    ))
}

/// Reports what the store's merge records say: an incomplete merge is a problem, the rest notes.
/// Returns the data file ids that incomplete merges name.
fn check_merge_records(dir: &Path, report: &mut VerifyReport) -> Result<Vec<u32>> {
    let records = crate::log::merge_records::inspect(dir)?;
    let mut named = Vec::new();
    for m in &records.incomplete {
        named.extend(m.inputs.iter().chain(&m.outputs).copied());
        report.problems.push(Problem {
            file: m.record.clone(),
            offset: 0,
            kind: ProblemKind::IncompleteMerge,
            what: m.describe(),
        });
    }
    report.notes.extend(records.describe_pending());
    Ok(named)
}

/// One record the replay applied, as a hint entry must describe it.
struct Applied {
    offset: u64,
    len: u64,
    flags: u8,
    timestamp: u32,
    expiry: u32,
    key: Vec<u8>,
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

/// Says why the bytes `[from, to)` of a data file were not applied, from the record at `from`.
fn describe_gap(path: &Path, from: u64, to: u64, file_len: u64) -> io::Result<String> {
    let file = File::open(path)?;
    let mut head = vec![0u8; MAX_RECORD_HEADER_LEN.min((file_len - from) as usize)];
    file.read_exact_at(&mut head, from)?;
    let h = match format::decode_record_header(&head, RecordLimits::FORMAT) {
        Ok(h) => h,
        Err(HeaderError::Truncated) => {
            return Ok("record header cut off by the end of the file".into());
        }
        Err(HeaderError::Invalid(why)) => return Ok(format!("not a record header ({why})")),
    };
    let len = h.record_len();
    if from + len > file_len {
        return Ok(format!(
            "record of {len} bytes (key {}, value {}) runs past the end of the file",
            h.key_len, h.value_len
        ));
    }
    if !crc_matches(&file, from, len)? {
        return Ok(format!(
            "checksum mismatch in a record of {len} bytes (key {}, value {})",
            h.key_len, h.value_len
        ));
    }
    if h.flags & FLAG_BATCH != 0 {
        return Ok(format!(
            "atomic batch cut by damage or by the end of the file ({} bytes up to offset {to}): \
             discarded whole",
            to - from
        ));
    }
    // A valid record the replay still did not trust: it was not followed by another valid
    // record, so it may be bytes inside a damaged region that happen to check out.
    Ok(format!("record of {len} bytes inside a damaged region"))
}

/// Streams a record's CRC check, so a huge value does not need to fit in memory.
fn crc_matches(file: &File, at: u64, len: u64) -> io::Result<bool> {
    let mut stored = [0u8; 4];
    file.read_exact_at(&mut stored, at)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; (len as usize).min(1 << 20)];
    let mut pos = at + 4;
    let end = at + len;
    while pos < end {
        let n = ((end - pos) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], pos)?;
        hasher.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(hasher.finalize() == u32::from_le_bytes(stored))
}

const HINT_FOOTER_LEN: u64 = 40;
const COMPACT_HINT_FOOTER_LEN: u64 = 36;
const HINT_ENTRY_FIXED_LEN: u64 = 13;

/// Checks data file `f`'s hint against what replay applied. None when it matches; else the hint
/// offset of the first problem, what it is, and whether it is only stale (the data file grew).
fn check_hint(
    dir: &Path,
    f: &DataFile,
    data_len: u64,
    applied: &[Applied],
    corrupt_records: u64,
) -> io::Result<Option<(u64, String, bool)>> {
    let mut entries = Vec::new();
    let loaded = if f.header_ok {
        hint::load_all(dir, f.id, f.order, data_len, &mut |es| {
            entries.extend(es.iter().map(|e| Applied {
                offset: e.loc.offset as u64,
                len: e.loc.len as u64,
                flags: e.flags,
                timestamp: e.timestamp,
                expiry: e.expiry,
                key: e.key.to_vec(),
            }))
        })
    } else {
        None
    };
    let Some(summary) = loaded else {
        return diagnose_unloadable_hint(dir, f, data_len).map(Some);
    };
    // A hint lists only each key's last applied record in its file (an earlier one has no
    // effect on replay).
    let mut seen = std::collections::HashSet::with_capacity(applied.len());
    let mut hinted: Vec<&Applied> = applied
        .iter()
        .rev()
        .filter(|a| seen.insert(a.key.as_slice()))
        .collect();
    hinted.reverse();
    let applied = hinted;
    // Problems are reported at the hint offset of the entry; a compact hint has one bitmap.
    let compact = hint::version(dir, f.id) == Some(COMPACT_HINT_VERSION);
    let mut at = FILE_HEADER_LEN as u64;
    for (i, h) in entries.iter().enumerate() {
        let Some(a) = applied.get(i) else {
            return Ok(Some((
                at,
                format!(
                    "entry {i} (record at data offset {}) is not a valid record in the data file",
                    h.offset
                ),
                false,
            )));
        };
        let same = h.offset == a.offset
            && h.len == a.len
            && h.flags == a.flags
            && h.timestamp == a.timestamp
            && h.expiry == a.expiry
            && h.key == a.key;
        if !same {
            return Ok(Some((
                at,
                format!(
                    "entry {i} says record at data offset {} of {} bytes; the data file's entry {i} (its {i}th key's last record) is at offset {} of {} bytes{}",
                    h.offset,
                    h.len,
                    a.offset,
                    a.len,
                    if h.offset == a.offset && h.len == a.len {
                        " with different key or fields"
                    } else {
                        ""
                    }
                ),
                false,
            )));
        }
        if compact {
            continue;
        }
        at += HINT_ENTRY_FIXED_LEN
            + varint_len(h.key.len() as u64)
            + if h.flags & FLAG_HAS_EXPIRY != 0 { 4 } else { 0 }
            + h.key.len() as u64;
    }
    if applied.len() > entries.len() {
        return Ok(Some((
            at,
            format!(
                "hint has {} entries; the data file has {} keys with valid records (first missing at data offset {})",
                entries.len(),
                applied.len(),
                applied[entries.len()].offset
            ),
            false,
        )));
    }
    if summary.corrupt_records != corrupt_records {
        return Ok(Some((
            at,
            format!(
                "hint footer counts {} damaged records; the data file has {corrupt_records}",
                summary.corrupt_records
            ),
            false,
        )));
    }
    Ok(None)
}

fn varint_len(mut v: u64) -> u64 {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Why the engine would refuse a hint (it only says whether it loads).
fn diagnose_unloadable_hint(
    dir: &Path,
    f: &DataFile,
    data_len: u64,
) -> io::Result<(u64, String, bool)> {
    if !f.header_ok {
        return Ok((
            0,
            "its data file's header is damaged, so the hint is never used".into(),
            false,
        ));
    }
    let bytes = fs::read(format::hint_path(dir, f.id))?;
    let len = bytes.len() as u64;
    if len < FILE_HEADER_LEN as u64 + COMPACT_HINT_FOOTER_LEN {
        return Ok((
            0,
            format!("hint file is {len} bytes, too short to hold a header and footer"),
            false,
        ));
    }
    let version = match FileHeader::decode_versioned(&bytes[..FILE_HEADER_LEN], FileKind::Hint) {
        Err(why) => return Ok((0, format!("bad hint header: {why}"), false)),
        Ok((h, _)) if h.file_id != f.id || h.order != f.order => {
            return Ok((
                0,
                format!(
                    "hint header says file {} order {}; the data file is {} order {}",
                    h.file_id, h.order, f.id, f.order
                ),
                false,
            ));
        }
        Ok((_, version)) => version,
    };
    // Where the footer starts and which of its words is the data file length (module hint).
    let (footer_len, len_word) = match version {
        COMPACT_HINT_VERSION => (COMPACT_HINT_FOOTER_LEN, 2),
        _ => (HINT_FOOTER_LEN, 1),
    };
    if len < FILE_HEADER_LEN as u64 + footer_len {
        return Ok((
            0,
            format!("hint file is {len} bytes, too short to hold a header and footer"),
            false,
        ));
    }
    let crc_at = len - 4;
    let stored = u32::from_le_bytes(bytes[crc_at as usize..].try_into().expect("4 bytes"));
    if crc32fast::hash(&bytes[..crc_at as usize]) != stored {
        return Ok((crc_at, "hint checksum mismatch".into(), false));
    }
    let footer = len - footer_len;
    let word = |i: u64| {
        let at = (footer + i * 8) as usize;
        u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
    };
    let described = word(len_word);
    if described != data_len {
        return Ok((
            footer + len_word * 8,
            format!(
                "stale: describes a data file of {described} bytes; the data file has {data_len}"
            ),
            described < data_len,
        ));
    }
    Ok((
        footer,
        "the data file's last bytes differ from those the hint was written for, or its entries \
         do not parse, or (compact hint) the data file's record headers and keys differ from \
         those it was written for"
            .into(),
        false,
    ))
}

fn apply_repairs(dir: &Path, plan: &Plan, report: &mut VerifyReport) -> Result<()> {
    if let Some((id, len)) = plan.truncate {
        let path = format::data_path(dir, id);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open data file for repair", path.clone(), e))?;
        file.set_len(len)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io("truncate torn tail", path.clone(), e))?;
        report
            .repairs
            .push(format!("{}: truncated to {len} bytes", file_name(&path)));
    }
    if let Some(id) = plan.rewrite_header {
        let path = format::data_path(dir, id);
        let header = FileHeader {
            kind: FileKind::Data,
            file_id: id,
            order: id,
        };
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open data file for repair", path.clone(), e))?;
        file.set_len(0)
            .and_then(|()| file.write_all_at(&header.encode(), 0))
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io("rewrite data file header", path.clone(), e))?;
        report
            .repairs
            .push(format!("{}: header rewritten", file_name(&path)));
    }
    for &id in &plan.delete_hints {
        let path = format::hint_path(dir, id);
        fs::remove_file(&path).map_err(|e| Error::io("delete hint file", path.clone(), e))?;
        report
            .repairs
            .push(format!("{}: deleted", file_name(&path)));
    }
    for &(id, order) in &plan.rebuild_hints {
        // Repair has no options: it writes the default kind of hint.
        crate::log::recovery::build_hint(dir, id, order, true)?;
        report.repairs.push(format!(
            "{}: rebuilt from its data file",
            file_name(&format::hint_path(dir, id))
        ));
    }
    if !report.repairs.is_empty() {
        crate::io::fs::sync_dir(dir)?;
    }
    Ok(())
}
