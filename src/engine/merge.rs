//! Merge: rewrite the live records of the sealed files into new files, publish them atomically,
//! then retire the old files once nothing reads them.
//!
//! # Steps and why each is safe
//! 1. Under the write mutex, seal the active file (if it holds records). The inputs are every
//!    sealed file: the whole log except the new active file, so a key's older values can only be
//!    in the inputs and tombstones can all be dropped: whatever a tombstone hid is not copied.
//! 2. Without any lock writers wait for, copy each input's records that the keydir still points
//!    at (found through the input's hint, or a scan) into `merge.tmp/<id>.data`, with hints. The
//!    outputs get ids above every existing id and `order` = the newest input's order, so they
//!    replay after every input and before every file written later (`docs/FORMAT.md`).
//! 3. fsync the outputs, then write and fsync `merge.tmp/COMMIT` (inputs and outputs, with a
//!    CRC). This is the commit point: before it a crash leaves the inputs authoritative and the
//!    temporary directory is discarded at the next open; after it the next open finishes the job.
//! 4. Move the outputs into the store, move the commit record to `MERGED-<first output id>`,
//!    fsync the directory.
//! 5. Publish in memory in small chunks under the write mutex: a key moves to its copy only if
//!    the keydir still points at the input record (a compare-and-swap), so a write made during the
//!    merge always wins over the copy.
//! 6. Retire the inputs: delete them (and their hints, then the `MERGED-` record) as soon as no
//!    fold that started before step 5 is still running.
//!
//! At open, `log::merge_records::recover` replays steps 4 and 6 for any committed merge whose
//! outputs are all in place and discards uncommitted output. Duplicated records (inputs and
//! outputs both present) are harmless in between: the outputs replay after the inputs and carry
//! the same values.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::engine::Inner;
use crate::error::{Error, Result};
use crate::format::merge_record::{COMMIT_FILE, Commit, MERGE_DIR, MERGED_PREFIX, Output};
use crate::format::{self, FILE_HEADER_LEN, FileHeader, FileKind, RecordLimits};
use crate::io::fs::sync_dir;
use crate::io::map::SeqReader;
use crate::keydir::Loc;
use crate::log::hint::{self, Entry, HintBuilder, HintSummary};
use crate::log::merge_records::{IncompleteMerge, remove_if_present};
use crate::log::recovery::FileMeta;

/// Keys published per hold of the write mutex: bounds how long a writer can wait.
const PUBLISH_CHUNK: usize = 1024;
const COPY_CHUNK: usize = 1 << 20;

/// How far a merge has got, as [`Bitcask::merge_with_progress`](crate::Bitcask::merge_with_progress)
/// reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MergeProgress {
    /// Bytes of the input files read so far, and in all.
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Input files finished, and in all.
    pub files_done: u64,
    pub files_total: u64,
}

impl crate::Bitcask {
    /// [`Bitcask::merge`](crate::Bitcask::merge), calling `progress` as input bytes are read
    /// (after each record copied, so the callback should be cheap) and once at the end with
    /// `bytes_done == bytes_total`.
    pub fn merge_with_progress(&self, mut progress: impl FnMut(&MergeProgress)) -> Result<()> {
        self.inner.merge_reporting(&mut progress)
    }

    /// Whether the store's merge trigger ([`Options::merge_trigger`](crate::Options::merge_trigger))
    /// holds for its sealed files now, i.e. whether auto-merge would merge. On a read-only handle
    /// the newest file counts as the one a writer appends to.
    pub fn merge_advised(&self) -> bool {
        self.inner.merge_due()
    }
}

/// The output side of a merge: data files of at most `max_file_size` in `merge.tmp`.
struct Outputs<'a> {
    inner: &'a Inner,
    tmp: PathBuf,
    order: u32,
    done: Vec<(u32, u64, HintBuilder)>,
    current: Option<(u32, BufWriter<File>, u64, HintBuilder)>,
}

impl Outputs<'_> {
    fn append(&mut self, record: &[u8], e: &Entry<'_>) -> Result<Loc> {
        let fits = |len: u64| {
            len == FILE_HEADER_LEN as u64
                || len + record.len() as u64 <= self.inner.opts.max_file_size
        };
        if !self.current.as_ref().is_some_and(|c| fits(c.2)) {
            self.finish_current()?;
            let id = self.inner.allocate_file_id()?;
            let path = format::data_path(&self.tmp, id);
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|err| Error::io("create merge output", path.clone(), err))?;
            let mut w = BufWriter::with_capacity(COPY_CHUNK, file);
            let header = FileHeader {
                kind: FileKind::Data,
                file_id: id,
                order: self.order,
            };
            w.write_all(&header.encode())
                .map_err(|err| Error::io("write merge output", path, err))?;
            self.current = Some((
                id,
                w,
                FILE_HEADER_LEN as u64,
                HintBuilder::new(id, self.order),
            ));
        }
        let (id, w, len, hints) = self.current.as_mut().expect("opened above");
        w.write_all(record).map_err(|err| {
            Error::io("write merge output", format::data_path(&self.tmp, *id), err)
        })?;
        let loc = Loc {
            file_id: *id,
            offset: *len as u32,
            len: record.len() as u32,
            expires: e.loc.expires,
        };
        hints.add(&Entry { loc, ..*e });
        *len += record.len() as u64;
        Ok(loc)
    }

    fn finish_current(&mut self) -> Result<()> {
        if let Some((id, w, len, hints)) = self.current.take() {
            let path = format::data_path(&self.tmp, id);
            let file = w
                .into_inner()
                .map_err(|e| Error::io("write merge output", path.clone(), e.into_error()))?;
            file.sync_all()
                .map_err(|e| Error::io("sync merge output", path, e))?;
            self.done.push((id, len, hints));
        }
        Ok(())
    }
}

/// One record the merge copied: where it was and where its copy is.
struct Moved {
    key_end: usize,
    from: Loc,
    to: Loc,
}

impl Inner {
    /// Runs a full merge of the sealed files. Serialised with other merges and hint writing.
    pub(crate) fn merge(&self) -> Result<()> {
        self.merge_reporting(&mut |_| {})
    }

    pub(crate) fn merge_reporting(&self, progress: &mut dyn FnMut(&MergeProgress)) -> Result<()> {
        self.check_writable()?;
        let _maint = self.maint.lock();
        if self.expiring.load(std::sync::atomic::Ordering::Relaxed) {
            self.sweep_expired();
        }
        let (inputs, order) = {
            let mut w = self.write.lock();
            let crate::engine::WriteState { active, files, .. } = &mut *w;
            let active = active.as_mut().ok_or(Error::ReadOnly)?;
            if active.len > FILE_HEADER_LEN as u64 {
                self.rotate(active, files)?;
            }
            let active_id = active.id;
            let mut inputs: Vec<(u32, FileMeta)> = files
                .iter()
                .filter(|(id, _)| **id != active_id)
                .map(|(&id, &m)| (id, m))
                .collect();
            inputs.sort_by_key(|&(id, m)| (m.order, id));
            let order = inputs.iter().map(|(_, m)| m.order).max();
            (inputs, order)
        };
        let Some(order) = order else {
            return Ok(());
        };
        let tmp = self.dir.join(MERGE_DIR);
        let mut committed = false;
        let result = self.merge_into(&tmp, &inputs, order, progress, &mut committed);
        match &result {
            // Nothing is committed before the COMMIT file exists; drop the partial output.
            Err(_) if !committed => {
                let _ = fs::remove_dir_all(&tmp);
            }
            // Committed but not published: what is on disk is right, what this handle knows is
            // not (the outputs are not among its files, so a later merge would leave them behind
            // as stale copies). Only a reopen finishes it from the record.
            Err(e) => self.poison(format!(
                "a merge failed after its commit point ({e}); close and reopen the store to \
                 finish it"
            )),
            Ok(()) => {}
        }
        result
    }

    fn merge_into(
        &self,
        tmp: &Path,
        inputs: &[(u32, FileMeta)],
        order: u32,
        progress: &mut dyn FnMut(&MergeProgress),
        committed: &mut bool,
    ) -> Result<()> {
        if tmp.exists() {
            fs::remove_dir_all(tmp)
                .map_err(|e| Error::io("clear merge directory", tmp.to_path_buf(), e))?;
        }
        fs::create_dir(tmp)
            .map_err(|e| Error::io("create merge directory", tmp.to_path_buf(), e))?;
        let mut out = Outputs {
            inner: self,
            tmp: tmp.to_path_buf(),
            order,
            done: Vec::new(),
            current: None,
        };
        let mut keys: Vec<u8> = Vec::new();
        let mut moved: Vec<Moved> = Vec::new();
        let mut lost: Vec<(usize, usize, Loc)> = Vec::new();
        let mut report = MergeProgress {
            bytes_total: inputs.iter().map(|(_, m)| m.len).sum(),
            files_total: inputs.len() as u64,
            ..MergeProgress::default()
        };
        for &(id, meta) in inputs {
            if self.bg.lock().stop {
                // bc_close is waiting: give up; nothing is committed yet.
                return Err(Error::io(
                    "merge",
                    None,
                    std::io::Error::new(
                        std::io::ErrorKind::Interrupted,
                        "cancelled because the store is closing",
                    ),
                ));
            }
            let base = report.bytes_done;
            self.copy_live(
                id,
                meta,
                &mut out,
                &mut keys,
                &mut moved,
                &mut lost,
                &mut |at| {
                    report.bytes_done = base + at;
                    progress(&report);
                },
            )?;
            report.bytes_done = base + meta.len;
            report.files_done += 1;
            progress(&report);
        }
        out.finish_current()?;
        let mut outputs: Vec<(u32, u64)> = Vec::new();
        for (id, len, hints) in std::mem::take(&mut out.done) {
            hints.write(
                tmp,
                id,
                len,
                HintSummary::default(),
                self.opts.compact_hints,
            )?;
            outputs.push((id, len));
        }
        let input_ids: Vec<u32> = inputs.iter().map(|(id, _)| *id).collect();

        // Commit point.
        let commit = Commit {
            merge_id: match outputs.first() {
                Some(&(id, _)) => id,
                // Nothing was live: the record still needs a name above every input.
                None => self.allocate_file_id()?,
            },
            inputs: input_ids.clone(),
            outputs: outputs
                .iter()
                .map(|&(id, len)| Output { id, len: Some(len) })
                .collect(),
        };
        let commit_path = tmp.join(COMMIT_FILE);
        (|| -> std::io::Result<()> {
            let mut f = File::create(&commit_path)?;
            f.write_all(&commit.encode())?;
            f.sync_all()
        })()
        .map_err(|e| Error::io("write merge commit record", commit_path.clone(), e))?;
        sync_dir(tmp)?;
        *committed = true;

        // From here on the merge is durable; a failure below is finished by the next open.
        for &(id, _) in &outputs {
            for (from, to) in [
                (format::data_path(tmp, id), format::data_path(&self.dir, id)),
                (format::hint_path(tmp, id), format::hint_path(&self.dir, id)),
            ] {
                fs::rename(&from, &to).map_err(|e| Error::io("publish merge output", from, e))?;
            }
        }
        // The outputs' names must be durable before the marker that retires the inputs: a file
        // system may persist the two renames out of order.
        sync_dir(&self.dir)?;
        let marker = self.dir.join(format!("{MERGED_PREFIX}{}", commit.merge_id));
        fs::rename(&commit_path, &marker)
            .map_err(|e| Error::io("publish merge output", marker.clone(), e))?;
        let _ = fs::remove_dir(tmp);
        sync_dir(&self.dir)?;
        self.retire_superseded_records(&input_ids);

        // Publish in memory.
        let bytes_in: u64 = inputs.iter().map(|(_, m)| m.len).sum();
        let bytes_out: u64 = outputs.iter().map(|(_, len)| len).sum();
        {
            let mut w = self.write.lock();
            for &(id, len) in &outputs {
                w.files.insert(id, FileMeta::new(order, len));
            }
        }
        let mut start = 0;
        for chunk in moved.chunks(PUBLISH_CHUNK) {
            let mut w = self.write.lock();
            for m in chunk {
                let key = &keys[start..m.key_end];
                start = m.key_end;
                if self.keydir.replace_if(key, m.from, m.to) {
                    if let Some(f) = w.files.get_mut(&m.from.file_id) {
                        f.live -= m.from.len as u64;
                    }
                    if let Some(f) = w.files.get_mut(&m.to.file_id) {
                        f.live += m.to.len as u64;
                    }
                }
            }
        }
        {
            let mut w = self.write.lock();
            // Expired keys, and live records that failed their checksum (reads already failed
            // with BC_E_CORRUPT), have no copy: their keys go, unless rewritten meanwhile.
            let now = crate::io::clock::now_secs();
            for &(from, to, loc) in &lost {
                let key = &keys[from..to];
                if self.keydir.get(key) == Some(loc) {
                    self.keydir.remove(key);
                    if let Some(f) = w.files.get_mut(&loc.file_id) {
                        f.live -= loc.len as u64;
                    }
                    if !loc.expired_at(now) {
                        w.counters.corrupt_records = w.counters.corrupt_records.saturating_add(1);
                    }
                }
            }
            for id in &input_ids {
                w.files.remove(id);
            }
            w.merges += 1;
            w.reclaimed_bytes += bytes_in.saturating_sub(bytes_out);
        }
        self.retire(input_ids, marker);
        Ok(())
    }

    /// Copies the records of input `id` that the keydir still points at, reporting the input
    /// offset reached to `progress`.
    // The accumulators are the caller's, shared across inputs; a struct for them would only move
    // the same list elsewhere.
    #[allow(clippy::too_many_arguments)]
    fn copy_live(
        &self,
        id: u32,
        meta: FileMeta,
        out: &mut Outputs<'_>,
        keys: &mut Vec<u8>,
        moved: &mut Vec<Moved>,
        lost: &mut Vec<(usize, usize, Loc)>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        // Which records are live: from the hint when there is one, else from a scan.
        let mut live: Vec<(usize, usize, Loc, u8, u32, u32)> = Vec::new();
        let mut entry_keys: Vec<u8> = Vec::new();
        let now = crate::io::clock::now_secs();
        let mut collect = |e: Entry<'_>| {
            if e.is_tombstone() {
                return;
            }
            // Live = the keydir still points at this very record. (An expired one is dropped at
            // publish, below.)
            let Some(current) = self.keydir.get(e.key) else {
                return;
            };
            if current.same_record(&e.loc) {
                let from = entry_keys.len();
                entry_keys.extend_from_slice(e.key);
                live.push((
                    from,
                    entry_keys.len(),
                    current,
                    e.flags,
                    e.timestamp,
                    e.expiry,
                ));
            }
        };
        if hint::load(&self.dir, id, meta.order, meta.len, &mut collect).is_none() {
            crate::log::recovery::scan_sealed(&self.dir, id, &mut collect)?;
        }
        let path = format::data_path(&self.dir, id);
        let file = File::open(&path).map_err(|e| Error::io("open merge input", path.clone(), e))?;
        let mut reader = SeqReader::new(&file, meta.len, COPY_CHUNK);
        for (from, to, loc, flags, timestamp, expiry) in live {
            let key = &entry_keys[from..to];
            let bytes = reader
                .bytes_at(loc.offset as u64, loc.len as usize)
                .map_err(|e| Error::io("read merge input", path.clone(), e))?;
            progress(loc.offset as u64 + loc.len as u64);
            let intact = format::decode_record(bytes, RecordLimits::FORMAT)
                .is_ok_and(|r| r.key == key && r.header.record_len() == loc.len as u64);
            let key_start = keys.len();
            keys.extend_from_slice(key);
            if !intact || loc.expired_at(now) {
                lost.push((key_start, keys.len(), loc));
                continue;
            }
            let entry = Entry {
                key,
                loc,
                flags,
                timestamp,
                expiry,
            };
            // A copied batch record stands alone: kept with its flags, a batch whose other
            // records are dead would look unfinished to a scan and be dropped whole.
            let to_loc = out.append(&format::without_batch_flags(bytes), &entry)?;
            moved.push(Moved {
                key_end: keys.len(),
                from: loc,
                to: to_loc,
            });
        }
        Ok(())
    }

    /// A fresh file id, above every id in use (shared with the writer's rotation).
    pub(crate) fn allocate_file_id(&self) -> Result<u32> {
        let mut w = self.write.lock();
        let active = w.active.as_mut().ok_or(Error::ReadOnly)?;
        let id = active.next_id;
        if id >= u32::MAX - 1 {
            return Err(Error::invalid("data file ids are exhausted"));
        }
        active.next_id += 1;
        Ok(id)
    }

    /// Removes the records of incomplete merges that the merge whose inputs are `inputs` (just
    /// committed, its record durable) makes moot: every data file they name that still exists
    /// is one of those inputs, which this merge rewrote and will delete.
    fn retire_superseded_records(&self, inputs: &[u32]) {
        let moot: Vec<IncompleteMerge> = {
            let mut w = self.write.lock();
            let (moot, kept) = std::mem::take(&mut w.incomplete_merges)
                .into_iter()
                .partition(|m: &IncompleteMerge| {
                    m.named().all(|id| {
                        inputs.contains(&id) || !format::data_path(&self.dir, id).exists()
                    })
                });
            w.incomplete_merges = kept;
            moot
        };
        let mut failed = Vec::new();
        for m in moot {
            if remove_if_present(&m.record).is_err() {
                failed.push(m);
            }
        }
        // A record left behind is judged again at the next open.
        let _ = sync_dir(&self.dir);
        self.write.lock().incomplete_merges.extend(failed);
    }
}
