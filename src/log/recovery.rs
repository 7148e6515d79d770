//! Open-time recovery: find the data files, replay them in log order into a fresh keydir, and
//! decide where writing resumes.
//!
//! Rules (the reasons are in `docs/FORMAT.md`, "Recovery"):
//! - Files replay in ascending `(order, id)`; within a file, by offset. A later record wins, so
//!   the newest write wins however close together the writes were: position, not clock.
//! - A record is applied only when its CRC matches. A damaged record is skipped and counted; the
//!   scan resynchronises on the next record that verifies (and is itself followed by a verifying
//!   record or the end of the file, so that random bytes are not mistaken for a record).
//! - A batch applies only once its BATCH_END record has been read; damage inside a batch, or a
//!   batch cut off by the end of the file, discards the whole batch.
//! - In the last file of the log (the one being written when the process stopped), bytes after
//!   the last applied record that contain no verifying record are a torn tail: a read-write open
//!   truncates them and appends from there; a read-only open ignores them.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::{
    self, FILE_HEADER_LEN, FLAG_BATCH, FLAG_BATCH_END, FLAG_BATCH_START, FORMAT_VERSION,
    FileHeader, FileKind, HeaderError, MAX_RECORD_HEADER_LEN, MIN_RECORD_LEN, RecordHeader,
    RecordLimits,
};
use crate::io::map::SeqReader;
use crate::keydir::{KeyDir, Loc};
use crate::log::hint::{self, Entry, HintBuilder, HintSummary};
use crate::options::Options;

/// How many entries ahead a bulk load prefetches the keydir slot (enough to cover a miss).
const PREFETCH_AHEAD: usize = 8;

/// Sequential read granularity for scans.
const SCAN_CHUNK: usize = 1 << 20;

/// What the engine keeps about each data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileMeta {
    /// Place in log order; equals the id for files the writer created.
    pub order: u32,
    /// Length in bytes, header included.
    pub len: u64,
    /// Bytes of the records in this file that hold a live key's current value. Everything else
    /// past the header (overwritten and deleted values, tombstones, damage) is dead.
    pub live: u64,
}

impl FileMeta {
    pub fn new(order: u32, len: u64) -> Self {
        FileMeta {
            order,
            len,
            live: 0,
        }
    }

    pub fn dead(&self) -> u64 {
        self.len
            .saturating_sub(FILE_HEADER_LEN as u64)
            .saturating_sub(self.live)
    }
}

/// Counters gathered while loading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LoadStats {
    pub corrupt_records: u64,
    pub corrupt_bytes: u64,
    pub truncated_bytes: u64,
    /// Files whose keys came from a hint, and files that had to be scanned.
    pub hint_files_loaded: u64,
    pub data_files_scanned: u64,
}

/// The result of replaying a store directory.
pub(crate) struct Loaded {
    pub keydir: KeyDir,
    /// Every data file, by id.
    pub files: BTreeMap<u32, FileMeta>,
    pub stats: LoadStats,
    /// The file writing may resume in (last in log order, written by the writer, not full), the
    /// length it must be cut to, and whether its hint was valid.
    pub resume: Option<(u32, u64, bool)>,
    /// One above the largest file id seen (data or hint), the next id to create.
    pub next_id: u32,
    /// Sealed files that had no valid hint: a read-write handle writes theirs in the background.
    pub missing_hints: Vec<u32>,
    /// Whether any live key has an expiry (so the background sweep has work).
    pub any_expiring: bool,
}

/// How often a load replays again after cutting (or, read-only, deciding to cut) a damaged last
/// file; each pass can only shorten it, and in practice the second pass cuts nothing.
const MAX_CUT_PASSES: u32 = 8;

/// What the store's merge records (`merge::inspect`) take out of a replay.
#[derive(Default)]
pub(crate) struct Exclusions {
    /// Inputs of merges whose outputs are all in place: not replayed (a read-write open has
    /// already deleted them; a read-only one leaves them).
    pub dead_inputs: std::collections::BTreeSet<u32>,
    /// Ids below this are named by a merge record that is kept: no file is created under them,
    /// and none of them is appended to.
    pub reserved_next_id: u32,
}

impl Exclusions {
    /// Whether a kept merge record may name file `id`: such a file is not written to, and its
    /// hint is not rebuilt (a hint rebuilt from a cut-short output would vouch for its length).
    pub fn is_kept(&self, id: u32) -> bool {
        id < self.reserved_next_id
    }
}

/// Replays every data file of `dir` into a new keydir. A read-write open (`repair`) truncates a
/// torn tail and rewrites a half-written header of the last file; a read-only one changes nothing.
pub(crate) fn load(dir: &Path, repair: bool, opts: &Options, skip: &Exclusions) -> Result<Loaded> {
    let mut truncated = 0;
    let mut tail_cut = None;
    let mut pass = 1;
    loop {
        let (mut loaded, cut) = load_once(dir, repair, opts, skip, tail_cut)?;
        loaded.stats.truncated_bytes += truncated;
        match cut {
            // Where replay resumes after damage depends on what follows it (a candidate record
            // counts if a valid record or the end of the file comes next), and the cut moves the
            // end of the file: replay the file as cut, so that what this open serves is what
            // every later open serves. A read-only open cuts nothing on disk and replays as if.
            Some(cut) if pass < MAX_CUT_PASSES => {
                truncated = loaded.stats.truncated_bytes;
                tail_cut = Some(cut);
                pass += 1;
            }
            _ => return Ok(loaded),
        }
    }
}

/// One replay, with the last file read only up to `tail_cut` when that names it. Returns also
/// where the last file was cut (or, read-only, would be) after damage was skipped in it.
fn load_once(
    dir: &Path,
    repair: bool,
    opts: &Options,
    skip: &Exclusions,
    tail_cut: Option<(u32, u64)>,
) -> Result<(Loaded, Option<(u32, u64)>)> {
    let max_file_size = opts.max_file_size;
    let mut cut_damaged_tail = None;
    let now = crate::io::clock::now_secs();
    let mut ids: Vec<u32> = Vec::new();
    let mut next_id: u32 = skip.reserved_next_id.max(1);
    let entries =
        fs::read_dir(dir).map_err(|e| Error::io("list store directory", dir.to_path_buf(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list store directory", dir.to_path_buf(), e))?;
        let name = entry.file_name();
        let Some((id, kind)) = name.to_str().and_then(format::parse_file_name) else {
            continue;
        };
        next_id = next_id.max(id.saturating_add(1));
        if kind == FileKind::Data && !skip.dead_inputs.contains(&id) {
            ids.push(id);
        }
    }
    if next_id == u32::MAX {
        return Err(Error::corrupt(
            dir,
            0,
            "file ids are exhausted (a file named 4294967294.data or above exists, or a merge \
             record that is kept names one)",
        ));
    }

    // Read every header first: the replay order depends on them.
    // Only ids and header facts are kept: holding every file open would need one descriptor per
    // file, and a store may have thousands.
    // (id, order, header intact, written in the current version, length)
    let mut headers: Vec<(u32, u32, bool, bool, u64)> = Vec::with_capacity(ids.len());
    let mut stats = LoadStats::default();
    for id in ids {
        let (file, path, len) = open_data_file(dir, id)?;
        let mut head = [0u8; FILE_HEADER_LEN];
        let got = read_prefix(&file, &mut head)
            .map_err(|e| Error::io("read data file", path.clone(), e))?;
        let mut header_ok = false;
        let mut current = false;
        let order = match FileHeader::decode_versioned(&head[..got], FileKind::Data) {
            // An intact header (its CRC holds) that names another file: a file renamed or
            // copied in. Replayed under this name, at either id's place in the log, it could
            // put old values over newer ones.
            Ok((h, _)) if h.file_id != id => {
                return Err(Error::corrupt(
                    path,
                    0,
                    format!(
                        "the file header names file {}, not {id}: a data file renamed or \
                         copied into the store? Move it out of the store directory",
                        h.file_id
                    ),
                ));
            }
            Ok((h, version)) => {
                header_ok = true;
                current = version == FORMAT_VERSION;
                h.order
            }
            // An intact header of a version, or with flags, this library does not know: written
            // by a newer library, whose records it cannot be sure to read right.
            Err(reason)
                if reason.starts_with("format version")
                    || reason.starts_with("unknown file header flags") =>
            {
                return Err(Error::corrupt(path, 0, reason));
            }
            // A short header is a file created just before a crash; any other damage to the
            // header leaves the records readable, so both replay in id order.
            Err(_) if got < FILE_HEADER_LEN => id,
            // The order is what keeps a merged file's copies from overriding newer writes:
            // take it from the file's hint, whose header carries it under its own CRC.
            Err(_) => {
                stats.corrupt_records += 1;
                stats.corrupt_bytes += FILE_HEADER_LEN as u64;
                hint_order(dir, id).unwrap_or(id)
            }
        };
        headers.push((id, order, header_ok, current, len));
    }
    headers.sort_by_key(|&(id, order, ..)| (order, id));

    // Size the keydir from the hints' entry counts (an upper bound on the keys they hold, capped
    // against damaged footers), so a large load does not rehash its way up; or for the keys the
    // caller expects to store, if that is more.
    let hinted: u64 = headers
        .iter()
        .map(|&(id, ..)| hint::entry_count(dir, id).min(1 << 32))
        .sum();
    let keydir = KeyDir::with_capacity(hinted.max(opts.expected_keys).min(1 << 32) as usize);
    let mut files: BTreeMap<u32, FileMeta> = headers
        .iter()
        .map(|&(id, order, _, _, len)| (id, FileMeta::new(order, len)))
        .collect();
    let mut resume = None;
    let mut missing_hints = Vec::new();
    let mut any_expiring = false;
    let last = headers.len().checked_sub(1);
    for (index, (id, order, header_ok, current, len)) in headers.into_iter().enumerate() {
        let path = format::data_path(dir, id);
        let is_tail = Some(index) == last;
        let len = match tail_cut {
            Some((cut_id, cut_len)) if is_tail && cut_id == id => len.min(cut_len),
            _ => len,
        };
        let from_hint = if header_ok {
            hint::load_all(dir, id, order, len, &mut |entries| {
                any_expiring |= apply_parallel(&keydir, &mut files, entries, opts, now);
            })
        } else {
            None
        };
        let mut apply = |e: Entry<'_>| {
            let expires = opts.expires_at(e.timestamp, e.expiry);
            any_expiring |= expires != 0;
            apply_entry(&keydir, &mut files, &e, expires, now)
        };
        let outcome = match from_hint {
            Some(summary) => {
                stats.hint_files_loaded += 1;
                ScanOutcome {
                    valid_end: len,
                    scan_end: len,
                    corrupt_records: summary.corrupt_records,
                    corrupt_bytes: summary.corrupt_bytes,
                }
            }
            None => {
                stats.data_files_scanned += 1;
                if !is_tail && header_ok && !skip.is_kept(id) {
                    missing_hints.push(id);
                }
                let file =
                    File::open(&path).map_err(|e| Error::io("open data file", path.clone(), e))?;
                scan_file(&file, &path, id, len, is_tail, &mut apply)?
            }
        };
        // Saturating: a hint's counters are only checksummed, not checked against anything.
        stats.corrupt_records = stats
            .corrupt_records
            .saturating_add(outcome.corrupt_records);
        stats.corrupt_bytes = stats.corrupt_bytes.saturating_add(outcome.corrupt_bytes);
        let mut kept_len = len;
        if is_tail {
            // Zeros after the records are space the writer had reserved (see `WriteMap`), not
            // damage: cut them, but count only the bytes of records that did not complete.
            stats.truncated_bytes = outcome.scan_end.saturating_sub(outcome.valid_end);
            if len > outcome.valid_end {
                kept_len = outcome.valid_end;
            }
            if outcome.corrupt_records > 0 && len > outcome.valid_end {
                cut_damaged_tail = Some((id, outcome.valid_end));
            }
            if repair {
                repair_tail(&path, len, outcome.valid_end)?;
                if len < FILE_HEADER_LEN as u64 {
                    kept_len = FILE_HEADER_LEN as u64;
                }
            }
            // A file with a damaged header is read but never appended to again.
            // Nor is a file a kept merge record names: if the record's outputs turned up, the
            // next open would delete it, appends included.
            // Nor is a file of an older format version: its records follow that version's rules.
            let writable = ((header_ok && current) || len < FILE_HEADER_LEN as u64)
                && order == id
                && !skip.is_kept(id);
            if repair && writable && kept_len < max_file_size {
                // Its hint stays: appending makes it stale (the length check), and if nothing is
                // appended, close need not write it again.
                resume = Some((id, kept_len, from_hint.is_some()));
            } else if repair && from_hint.is_none() && header_ok && !skip.is_kept(id) {
                missing_hints.push(id);
            }
        }
        files.get_mut(&id).expect("inserted above").len = kept_len;
    }
    let loaded = Loaded {
        keydir,
        files,
        stats,
        resume,
        next_id,
        missing_hints,
        any_expiring,
    };
    Ok((loaded, cut_damaged_tail))
}

/// Applies a file's entries (in file order) on several threads, each owning a disjoint set of
/// keydir shards: a key's entries all go to one thread, in order, so the result is the same as
/// applying them one by one, but a large reopen uses every core. Returns whether any key may
/// expire.
fn apply_parallel(
    keydir: &KeyDir,
    files: &mut BTreeMap<u32, FileMeta>,
    entries: &[Entry<'_>],
    opts: &Options,
    now: u32,
) -> bool {
    let threads = crate::log::load_threads();
    if entries.len() < 64 * 1024 {
        let mut any = false;
        for e in entries {
            let expires = opts.expires_at(e.timestamp, e.expiry);
            any |= expires != 0;
            apply_entry(keydir, files, e, expires, now);
        }
        return any;
    }
    // Hash every key once, in parallel; each thread then takes the entries of its shards.
    let mut hashes = vec![0u64; entries.len()];
    let per = entries.len().div_ceil(threads);
    std::thread::scope(|s| {
        for (out, chunk) in hashes.chunks_mut(per).zip(entries.chunks(per)) {
            s.spawn(move || {
                for (h, e) in out.iter_mut().zip(chunk) {
                    *h = keydir.hash(e.key);
                }
            });
        }
    });
    let hashes = &hashes;
    // Each thread counts live-byte changes per file in its own copy; they are summed after.
    let results: Vec<(BTreeMap<u32, FileMeta>, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let mut mine: BTreeMap<u32, FileMeta> = files
                    .iter()
                    .map(|(&id, m)| (id, FileMeta { live: 0, ..*m }))
                    .collect();
                s.spawn(move || {
                    let owns = |shard: usize| shard % threads == t;
                    let picked: Vec<u32> = (0..entries.len() as u32)
                        .filter(|&i| owns(KeyDir::shard_of_hash(hashes[i as usize])))
                        .collect();
                    let mut bulk = keydir.bulk_load(owns);
                    let mut any = false;
                    for (n, &i) in picked.iter().enumerate() {
                        if let Some(&ahead) = picked.get(n + PREFETCH_AHEAD) {
                            bulk.prefetch(hashes[ahead as usize]);
                            // The key is copied into the keydir: it is out of cache by now
                            // (all keys were hashed before), and scattered in a data file's
                            // map when a compact hint was loaded.
                            crate::keydir::prefetch_read(entries[ahead as usize].key);
                        }
                        let (e, h) = (&entries[i as usize], hashes[i as usize]);
                        let expires = opts.expires_at(e.timestamp, e.expiry);
                        any |= expires != 0;
                        apply_change(&mut mine, e, expires, now, |loc| match loc {
                            Some(loc) => bulk.insert(h, e.key, loc),
                            None => bulk.remove(h, e.key),
                        });
                    }
                    (mine, any)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a load thread panicked"))
            .collect()
    });
    let mut any = false;
    for (mine, a) in results {
        any |= a;
        for (id, m) in mine {
            if let Some(f) = files.get_mut(&id) {
                f.live = f.live.wrapping_add(m.live);
            }
        }
    }
    any
}

pub(crate) fn apply_entry(
    keydir: &KeyDir,
    files: &mut BTreeMap<u32, FileMeta>,
    e: &Entry<'_>,
    expires: u32,
    now: u32,
) {
    apply_change(files, e, expires, now, |loc| match loc {
        Some(loc) => keydir.insert(e.key, loc),
        None => keydir.remove(e.key),
    });
}

/// The one rule of replay: a tombstone or an already expired record removes its key, anything
/// else sets it; live-byte counts follow. `set` does the index change (`Some` = insert at that
/// location, `None` = remove) and returns the location it replaced.
fn apply_change(
    files: &mut BTreeMap<u32, FileMeta>,
    e: &Entry<'_>,
    expires: u32,
    now: u32,
    set: impl FnOnce(Option<Loc>) -> Option<Loc>,
) {
    let loc = Loc { expires, ..e.loc };
    let old = if e.is_tombstone() || loc.expired_at(now) {
        set(None)
    } else {
        if let Some(m) = files.get_mut(&e.loc.file_id) {
            m.live = m.live.wrapping_add(e.loc.len as u64);
        }
        set(Some(loc))
    };
    if let Some(old) = old
        && let Some(m) = files.get_mut(&old.file_id)
    {
        m.live = m.live.wrapping_sub(old.len as u64);
    }
}

/// The order recorded in the header of `<id>.hint`, if that header is intact and names `id`.
fn hint_order(dir: &Path, id: u32) -> Option<u32> {
    let file = File::open(format::hint_path(dir, id)).ok()?;
    let mut head = [0u8; FILE_HEADER_LEN];
    let got = read_prefix(&file, &mut head).ok()?;
    let h = FileHeader::decode(&head[..got], FileKind::Hint).ok()?;
    (h.file_id == id && h.order <= id).then_some(h.order)
}

/// Opens data file `id` for reading, with its path and current length.
fn open_data_file(dir: &Path, id: u32) -> Result<(File, PathBuf, u64)> {
    let path = format::data_path(dir, id);
    let file = File::open(&path).map_err(|e| Error::io("open data file", path.clone(), e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat data file", path.clone(), e))?
        .len();
    Ok((file, path, len))
}

/// Replays one sealed data file on its own (no repair), calling `apply` for what it applies.
/// Returns what was skipped and the length scanned.
pub(crate) fn scan_sealed(
    dir: &Path,
    id: u32,
    apply: &mut dyn FnMut(Entry<'_>),
) -> Result<(HintSummary, u64)> {
    let (file, path, len) = open_data_file(dir, id)?;
    let outcome = scan_file(&file, &path, id, len, false, apply)?;
    let summary = HintSummary {
        entries: 0,
        corrupt_records: outcome.corrupt_records,
        corrupt_bytes: outcome.corrupt_bytes,
    };
    Ok((summary, len))
}

/// Writes the hint of sealed data file `id` from a scan of it, compact if `compact` and the
/// file allows.
pub(crate) fn build_hint(dir: &Path, id: u32, order: u32, compact: bool) -> Result<()> {
    let mut builder = HintBuilder::new(id, order);
    let (summary, len) = scan_sealed(dir, id, &mut |e| builder.add(&e))?;
    builder.keep_last_per_key();
    builder.write(dir, id, len, summary, compact)
}

/// Cuts the last file back to its last good record, or rewrites its header if the crash came
/// between creating it and writing the header.
fn repair_tail(path: &Path, len: u64, valid_end: u64) -> Result<()> {
    if len == valid_end && len >= FILE_HEADER_LEN as u64 {
        return Ok(());
    }
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io("open data file for repair", path.to_path_buf(), e))?;
    if len < FILE_HEADER_LEN as u64 {
        let (id, _) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(format::parse_file_name)
            .expect("data file names were parsed before");
        let header = FileHeader {
            kind: FileKind::Data,
            file_id: id,
            order: id,
        };
        use std::os::unix::fs::FileExt;
        file.set_len(0)
            .and_then(|()| file.write_all_at(&header.encode(), 0))
            .map_err(|e| Error::io("rewrite data file header", path.to_path_buf(), e))?;
    } else {
        file.set_len(valid_end)
            .map_err(|e| Error::io("truncate torn tail", path.to_path_buf(), e))?;
    }
    file.sync_all()
        .map_err(|e| Error::io("sync repaired data file", path.to_path_buf(), e))
}

fn read_prefix(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

struct ScanOutcome {
    /// End of the last record that was applied (or the header, if none was).
    valid_end: u64,
    /// Where the scan stopped looking for records: the file's end, or in the last file the end
    /// of its last non-zero byte (no record starts with a zero key length).
    scan_end: u64,
    corrupt_records: u64,
    corrupt_bytes: u64,
}

/// A batch whose BATCH_END has not been read yet.
#[derive(Default)]
struct PendingBatch {
    start: u64,
    /// The batch's start record was not read (version 2 files): it is discarded, not applied.
    fragment: bool,
    keys: Vec<u8>,
    /// (key start, key length, location, flags, timestamp, expiry)
    records: Vec<(usize, usize, Loc, u8, u32, u32)>,
}

impl PendingBatch {
    fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn discard(&mut self, outcome: &mut ScanOutcome, upto: u64) {
        if !self.is_empty() {
            outcome.corrupt_records += self.records.len() as u64;
            outcome.corrupt_bytes += upto - self.start;
            self.keys.clear();
            self.records.clear();
        }
        self.fragment = false;
    }
}

/// Replays one file. Records are verified here; the keydir sees only whole, verified records and
/// only complete batches.
fn scan_file(
    file: &File,
    path: &Path,
    id: u32,
    len: u64,
    is_tail: bool,
    apply: &mut dyn FnMut(Entry<'_>),
) -> Result<ScanOutcome> {
    let io_err = |e| Error::io("read data file", PathBuf::from(path), e);
    let mut reader = SeqReader::new(file, len, SCAN_CHUNK);
    let header_end = FILE_HEADER_LEN as u64;
    let scan_end = if is_tail {
        nonzero_end(file, header_end.min(len), len).map_err(io_err)?
    } else {
        len
    };
    let mut outcome = ScanOutcome {
        valid_end: header_end.min(len),
        scan_end,
        corrupt_records: 0,
        corrupt_bytes: 0,
    };
    // Version 2 marks each batch's first record, so a batch whose first records were lost can be
    // told from a new one; a file of version 1 (or with a damaged header) cannot, and follows
    // version 1's rules.
    let mut head = [0u8; FILE_HEADER_LEN];
    let marks_batch_starts = read_prefix(file, &mut head).map_err(io_err)? == FILE_HEADER_LEN
        && FileHeader::decode_versioned(&head, FileKind::Data)
            .is_ok_and(|(_, version)| version >= FORMAT_VERSION);
    let mut batch = PendingBatch::default();
    let mut pos = header_end;
    while pos < scan_end {
        match record_at(&mut reader, pos).map_err(io_err)? {
            Probe::Valid(h) => {
                let rec_len = h.record_len();
                let key_start = pos + h.header_len as u64;
                let key = reader
                    .bytes_at(key_start, h.key_len as usize)
                    .map_err(io_err)?;
                let loc = Loc {
                    file_id: id,
                    offset: pos as u32,
                    len: rec_len as u32,
                    expires: 0,
                };
                if h.flags & FLAG_BATCH != 0 {
                    if marks_batch_starts {
                        if h.flags & FLAG_BATCH_START != 0 {
                            // A batch still open here never got its end record.
                            batch.discard(&mut outcome, pos);
                        } else if batch.is_empty() {
                            // Its start was lost (damage before it): drop it through its end.
                            batch.fragment = true;
                        }
                    }
                    if batch.is_empty() {
                        batch.start = pos;
                    }
                    let from = batch.keys.len();
                    batch.keys.extend_from_slice(key);
                    batch
                        .records
                        .push((from, key.len(), loc, h.flags, h.timestamp, h.expiry));
                    if h.flags & FLAG_BATCH_END != 0 && batch.fragment {
                        batch.discard(&mut outcome, pos + rec_len);
                    } else if h.flags & FLAG_BATCH_END != 0 {
                        for &(from, klen, loc, flags, timestamp, expiry) in &batch.records {
                            apply(Entry {
                                key: &batch.keys[from..from + klen],
                                loc,
                                flags,
                                timestamp,
                                expiry,
                            });
                        }
                        batch.keys.clear();
                        batch.records.clear();
                        outcome.valid_end = pos + rec_len;
                    }
                } else {
                    // A batch can only be interrupted by the end of the log; anything else in
                    // its middle means its end record was lost.
                    batch.discard(&mut outcome, pos);
                    apply(Entry {
                        key,
                        loc,
                        flags: h.flags,
                        timestamp: h.timestamp,
                        expiry: h.expiry,
                    });
                    outcome.valid_end = pos + rec_len;
                }
                pos += rec_len;
            }
            Probe::Bad { claimed_len } => {
                match next_record(&mut reader, pos, claimed_len, scan_end).map_err(io_err)? {
                    // A damaged record that ends the last file is a write the crash cut short
                    // (the size reached the disk, not all the data): a torn tail, not damage.
                    Some(next) if is_tail && next >= scan_end => pos = len,
                    Some(next) => {
                        batch.discard(&mut outcome, pos);
                        outcome.corrupt_records += 1;
                        outcome.corrupt_bytes += next - pos;
                        pos = next;
                    }
                    // Nothing valid follows: in the last file that is a torn tail (a batch it
                    // cut short is dropped with it and counted as truncated, not as damage).
                    None => {
                        if !is_tail {
                            batch.discard(&mut outcome, pos);
                            outcome.corrupt_records += 1;
                            outcome.corrupt_bytes += len - pos;
                        }
                        pos = len;
                    }
                }
            }
        }
    }
    // A batch still open at the end of the file never completed.
    if !is_tail {
        batch.discard(&mut outcome, len);
    }
    Ok(outcome)
}

/// The end of the last non-zero byte of `file` at or after `from` (`from` if there is none):
/// found reading backwards, so reserved zeros cost one read per 64 KiB of them.
pub(crate) fn nonzero_end(file: &File, from: u64, len: u64) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 64 << 10];
    let mut end = len;
    while end > from {
        let start = end.saturating_sub(buf.len() as u64).max(from);
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|&b| b != 0) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(from)
}

enum Probe {
    Valid(RecordHeader),
    /// Not a valid record. `claimed_len` is the length its header claims when the header itself
    /// decodes and fits in the file (the damage is then likely in the key or value).
    Bad {
        claimed_len: Option<u64>,
    },
}

fn record_at(reader: &mut SeqReader<'_>, pos: u64) -> io::Result<Probe> {
    let head = reader.bytes_at(pos, MAX_RECORD_HEADER_LEN)?;
    let header = match format::decode_record_header(head, RecordLimits::FORMAT) {
        Ok(h) => h,
        Err(HeaderError::Truncated | HeaderError::Invalid(_)) => {
            return Ok(Probe::Bad { claimed_len: None });
        }
    };
    let rec_len = header.record_len();
    if pos + rec_len > reader.file_len() {
        return Ok(Probe::Bad { claimed_len: None });
    }
    if crc_ok(reader, pos, rec_len)? {
        Ok(Probe::Valid(header))
    } else {
        Ok(Probe::Bad {
            claimed_len: Some(rec_len),
        })
    }
}

/// Verifies a record's CRC, streaming large records so a 1 GiB value does not need 1 GiB of RAM.
fn crc_ok(reader: &mut SeqReader<'_>, pos: u64, rec_len: u64) -> io::Result<bool> {
    if rec_len <= SCAN_CHUNK as u64 {
        return Ok(format::record_crc_ok(
            reader.bytes_at(pos, rec_len as usize)?,
        ));
    }
    let stored = {
        let b = reader.bytes_at(pos, 4)?;
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    };
    let mut hasher = crc32fast::Hasher::new();
    let mut at = pos + 4;
    let end = pos + rec_len;
    while at < end {
        let n = ((end - at) as usize).min(SCAN_CHUNK);
        hasher.update(reader.bytes_at(at, n)?);
        at += n as u64;
    }
    Ok(hasher.finalize() == stored)
}

/// Finds where valid records resume after damage at `pos`, or None if none follows.
fn next_record(
    reader: &mut SeqReader<'_>,
    pos: u64,
    claimed_len: Option<u64>,
    scan_end: u64,
) -> io::Result<Option<u64>> {
    // Damage inside the key or value leaves the length intact: trust it if a valid record (or
    // the end of the file) follows.
    if let Some(claimed) = claimed_len {
        let next = pos + claimed;
        if next >= scan_end || trustworthy_at(reader, next, scan_end)? {
            return Ok(Some(next));
        }
    }
    let last_start = reader
        .file_len()
        .saturating_sub(MIN_RECORD_LEN as u64)
        .min(scan_end.saturating_sub(1));
    let mut candidate = pos + 1;
    while candidate <= last_start {
        if trustworthy_at(reader, candidate, scan_end)? {
            return Ok(Some(candidate));
        }
        candidate += 1;
    }
    Ok(None)
}

/// A record that verifies and is followed by another that verifies or by the end of the file
/// (or of its non-zero bytes).
/// Requiring two in a row makes it very unlikely that bytes inside a damaged region (or inside a
/// value that itself contains record-shaped bytes) are taken for a record.
fn trustworthy_at(reader: &mut SeqReader<'_>, at: u64, scan_end: u64) -> io::Result<bool> {
    let Probe::Valid(h) = record_at(reader, at)? else {
        return Ok(false);
    };
    let next = at + h.record_len();
    if next >= scan_end {
        return Ok(true);
    }
    Ok(matches!(record_at(reader, next)?, Probe::Valid(_)))
}
