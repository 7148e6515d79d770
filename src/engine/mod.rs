//! The engine: the store handle ([`Bitcask`]) and its shared state ([`Inner`]): open, close,
//! counters. Each concern has its own file, each adding to `Bitcask` and `Inner`:
//! - `write.rs`: encoding records, appending them with the keydir update, sealing full files;
//! - `sync.rs`: group commit, the interval syncer, explicit syncs;
//! - `read.rs`: get, contains, the folds;
//! - `batch.rs`: atomic batches; `scan.rs`: scans and the iterator;
//! - `merge.rs`: merge; `background.rs`: the background thread, fold pins and reaping.
//!
//! Below the engine: `log` (replay at open, hints, merge records), `keydir`, `io`, `format`.
//!
//! # Concurrency
//! - Reads take one keydir shard read lock (for the lookup only) and one read lock on the file
//!   cache, then copy out of the file's memory map. They never wait for a disk write or an fsync.
//! - Writes are serialised by one mutex held for the append (a copy into the active file's map,
//!   or a `pwrite`; see `WriteMap`) and the keydir update, so
//!   the keydir always reflects a prefix of the log. fsync happens outside that mutex (see
//!   [`SyncState`]), except the one that seals a full file (`rotate`: the sealed file must be
//!   durable before any byte of the next one can be, or a power cut could keep a later write and
//!   lose an earlier one). Under `SyncMode::Always`, writers that appended while an fsync was
//!   running all ride on the next one, whose leader first waits for its group (group commit).
//! - A fold copies the key locations while holding the write mutex (a consistent snapshot: no
//!   half-applied write or batch), then reads without any lock, so its callback may call back into
//!   the handle, writes included.

pub(crate) mod background;
pub(crate) mod batch;
pub(crate) mod merge;
mod read;
pub(crate) mod scan;
mod sync;
#[cfg(any(test, feature = "test-hooks"))]
mod test_hooks;
mod write;

use sync::{SyncProgress, SyncState};
pub(crate) use write::Op;
use write::append_map;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::engine::background::Pins;
use crate::error::{Error, Result};
use crate::format::{self, FILE_HEADER_LEN};
use crate::io::fs::{create_data_file, sync_dir};
use crate::io::lock::DirLock;
use crate::io::map::{FileCache, WriteMap};
use crate::keydir::KeyDir;
use crate::log::merge_records::{self, IncompleteMerge};
use crate::log::recovery::{self, FileMeta, LoadStats};
use crate::options::{Options, SyncMode};

/// A snapshot of a store's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Live keys.
    pub keys: u64,
    /// Data files in the store.
    pub data_files: u64,
    /// Bytes of all data files up to their last record, headers included. Not counted: the space
    /// reserved ahead of appends, by which the active file is longer on disk while the store is
    /// open (up to 8 MiB, cut at close).
    pub total_bytes: u64,
    /// Bytes of the records that hold the live value of a key.
    pub live_bytes: u64,
    /// Bytes of records a merge can drop: overwritten values, deleted values and tombstones.
    pub dead_bytes: u64,
    /// Damaged records skipped when the store was opened (never served).
    pub corrupt_records: u64,
    /// Bytes those damaged records occupy.
    pub corrupt_bytes: u64,
    /// Bytes of torn tail cut from the last data file when the store was opened.
    pub truncated_bytes: u64,
    /// fsyncs of data files this handle has run (group commit makes this smaller than the number
    /// of synced writes when writers overlap).
    pub syncs: u64,
    /// Live and dead bytes of the sealed files only (what a merge can work on).
    pub sealed_live_bytes: u64,
    pub sealed_dead_bytes: u64,
    /// Merges completed by this handle.
    pub merges: u64,
    /// Bytes of data files merges of this handle removed, minus the bytes they wrote.
    pub reclaimed_bytes: u64,
    /// At open: data files whose keys were loaded from their hint file, and files scanned.
    pub hint_files_loaded: u64,
    pub data_files_scanned: u64,
    /// Merges that did not finish and cannot be finished: their record names outputs that are
    /// missing or damaged, so their inputs were kept and are served (details:
    /// [`Bitcask::incomplete_merges`], or `bitcask verify`). A later merge rewrites those files
    /// and retires the records, bringing this back to 0.
    pub incomplete_merges: u64,
}

/// One data file, as [`Bitcask::file_stats`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStats {
    pub id: u32,
    /// The file's place in log order (`docs/FORMAT.md`): merge outputs sort before later files.
    pub order: u32,
    /// Bytes, header included.
    pub len: u64,
    /// Bytes of records holding a live key's current value.
    pub live_bytes: u64,
    /// Bytes a merge can drop: overwritten and deleted values, tombstones, damage.
    pub dead_bytes: u64,
    /// Whether this handle appends to it (never on a read-only handle).
    pub active: bool,
}

/// An open Bitcask store. Share it between threads by reference or `Arc`; every method takes
/// `&self`. Dropping it closes it (use [`Bitcask::close`] to see the error, if any).
pub struct Bitcask {
    pub(crate) inner: Arc<Inner>,
    flusher: Option<JoinHandle<()>>,
    worker: Option<JoinHandle<()>>,
}

pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) opts: Options,
    pub(crate) keydir: KeyDir,
    pub(crate) files: FileCache,
    pub(crate) write: Mutex<WriteState>,
    sync: SyncState,
    poisoned: AtomicBool,
    poison_reason: Mutex<String>,
    #[cfg(any(test, feature = "test-hooks"))]
    hooks: test_hooks::Hooks,
    shutdown: Mutex<bool>,
    shutdown_cv: Condvar,
    /// Serialises merges and hint writing: both read sealed files a merge may retire.
    pub(crate) maint: Mutex<()>,
    /// Files retired by merges, deleted once no fold started before the merge still runs.
    pub(crate) pins: Mutex<Pins>,
    /// Work for the background thread: hints of newly sealed files, the stop flag.
    pub(crate) bg: Mutex<BgState>,
    pub(crate) bg_cv: Condvar,
    /// Set once any key may expire: the background thread then sweeps expired keys.
    pub(crate) expiring: AtomicBool,
    _lock: Option<DirLock>,
}

#[derive(Default)]
pub(crate) struct BgState {
    pub(crate) stop: bool,
    pub(crate) hints: std::collections::VecDeque<u32>,
}

pub(crate) struct WriteState {
    /// None on a read-only handle.
    pub(crate) active: Option<ActiveFile>,
    /// Every data file of the store, with its live byte count.
    pub(crate) files: BTreeMap<u32, FileMeta>,
    pub(crate) counters: LoadStats,
    pub(crate) merges: u64,
    pub(crate) reclaimed_bytes: u64,
    /// Merges whose records name outputs that are not all in place (see [`IncompleteMerge`]).
    pub(crate) incomplete_merges: Vec<IncompleteMerge>,
}

pub(crate) struct ActiveFile {
    /// Shared with a syncer that fsyncs it without holding the write mutex.
    file: Arc<File>,
    /// Where appends go: a writable map of the file, or None to `pwrite` (see `WriteMap`).
    map: Option<WriteMap>,
    pub(crate) id: u32,
    pub(crate) len: u64,
    pub(crate) next_id: u32,
    /// Bytes appended through this handle so far: the position group commit syncs up to.
    appended: u64,
    /// The file had a valid hint at open (so with nothing appended, close need not write one).
    hinted: bool,
    /// Offset up to which writeback of the appended bytes has been started (see `append`).
    written_back: u64,
}

impl Bitcask {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: impl AsRef<Path>, opts: &Options) -> Result<Bitcask> {
        let dir = dir.as_ref().to_path_buf();
        prepare_dir(&dir, opts)?;
        let lock = if opts.read_only {
            None
        } else {
            Some(DirLock::acquire(&dir)?)
        };
        // A read-only open changes nothing, but replays what a read-write open would leave.
        let merges = if opts.read_only {
            merge_records::inspect(&dir)?
        } else {
            merge_records::recover(&dir)?
        };
        let loaded = recovery::load(
            &dir,
            !opts.read_only,
            opts,
            &recovery::Exclusions {
                dead_inputs: merges.dead_inputs(),
                reserved_next_id: merges.reserved_next_id(),
            },
        )?;
        let mut files = loaded.files;
        let active = if opts.read_only {
            None
        } else {
            Some(match loaded.resume {
                Some((id, len, hinted)) => {
                    let path = format::data_path(&dir, id);
                    let file = OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(&path)
                        .map_err(|e| Error::io("open active data file", path.clone(), e))?;
                    // What the previous process appended may still be only in the page cache;
                    // make it durable now so that "synced" means everything in the file.
                    file.sync_data()
                        .map_err(|e| Error::io("sync active data file", path, e))?;
                    ActiveFile {
                        map: append_map(&file, len, opts),
                        file: Arc::new(file),
                        id,
                        len,
                        next_id: loaded.next_id,
                        appended: 0,
                        hinted,
                        written_back: len,
                    }
                }
                None => {
                    let (file, id) = create_data_file(&dir, loaded.next_id)?;
                    files.insert(id, FileMeta::new(id, FILE_HEADER_LEN as u64));
                    ActiveFile {
                        map: append_map(&file, FILE_HEADER_LEN as u64, opts),
                        file: Arc::new(file),
                        id,
                        len: FILE_HEADER_LEN as u64,
                        next_id: id + 1,
                        appended: 0,
                        hinted: false,
                        written_back: FILE_HEADER_LEN as u64,
                    }
                }
            })
        };
        let inner = Arc::new(Inner {
            files: FileCache::new(dir.clone(), opts.max_open_files, opts.max_file_size),
            dir,
            opts: opts.clone(),
            keydir: loaded.keydir,
            write: Mutex::new(WriteState {
                active,
                files,
                counters: loaded.stats,
                merges: 0,
                reclaimed_bytes: 0,
                incomplete_merges: merges.incomplete,
            }),
            sync: SyncState {
                progress: Mutex::new(SyncProgress {
                    synced: 0,
                    running: false,
                    fsyncs: 0,
                    waiting: Vec::new(),
                    concurrency: 1,
                    last_fsync: Duration::ZERO,
                    gathering: false,
                    gather_timeouts: 0,
                }),
                done: Condvar::new(),
                arrived: Condvar::new(),
            },
            poisoned: AtomicBool::new(false),
            poison_reason: Mutex::new(String::new()),
            #[cfg(any(test, feature = "test-hooks"))]
            hooks: test_hooks::Hooks::default(),
            shutdown: Mutex::new(false),
            shutdown_cv: Condvar::new(),
            maint: Mutex::new(()),
            pins: Mutex::new(Pins::default()),
            bg: Mutex::new(BgState {
                stop: false,
                hints: loaded.missing_hints.into(),
            }),
            bg_cv: Condvar::new(),
            expiring: AtomicBool::new(loaded.any_expiring || opts.expiry_secs != 0),
            _lock: lock,
        });
        let flusher = match opts.sync {
            SyncMode::Interval(every) if !opts.read_only => {
                let inner = Arc::clone(&inner);
                Some(
                    std::thread::Builder::new()
                        .name("bitcask-flush".into())
                        .spawn(move || inner.flush_every(every))
                        .map_err(|e| Error::io("start the interval sync thread", None, e))?,
                )
            }
            _ => None,
        };
        let worker = if opts.read_only {
            None
        } else {
            let inner = Arc::clone(&inner);
            Some(
                std::thread::Builder::new()
                    .name("bitcask-bg".into())
                    .spawn(move || inner.background())
                    .map_err(|e| Error::io("start the background thread", None, e))?,
            )
        };
        Ok(Bitcask {
            inner,
            flusher,
            worker,
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// The largest key this handle accepts.
    pub fn max_key_size(&self) -> u32 {
        self.inner.opts.max_key_size
    }

    /// The largest value this handle accepts.
    pub fn max_value_size(&self) -> u64 {
        self.inner.opts.max_value_size
    }

    /// Whether the handle was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.inner.opts.read_only
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.inner.keydir.len()
    }

    /// Whether the store holds no keys.
    pub fn is_empty(&self) -> bool {
        self.inner.keydir.is_empty()
    }

    /// Rewrites the live records of every sealed file (the active file is sealed first) into new
    /// files with hints, publishes them atomically and removes the old files once no fold still
    /// reads them. Readers and writers keep going meanwhile; a write made during the merge wins
    /// over the merged copy. On failure the store is exactly as before.
    pub fn merge(&self) -> Result<()> {
        self.inner.merge()
    }

    /// Current counters.
    pub fn stats(&self) -> Stats {
        let inner = &*self.inner;
        let syncs = inner.sync.progress.lock().fsyncs;
        let w = inner.write.lock();
        let active = w.active.as_ref().map(|a| a.id);
        let mut s = Stats {
            keys: inner.keydir.len() as u64,
            data_files: w.files.len() as u64,
            corrupt_records: w.counters.corrupt_records,
            corrupt_bytes: w.counters.corrupt_bytes,
            truncated_bytes: w.counters.truncated_bytes,
            syncs,
            merges: w.merges,
            reclaimed_bytes: w.reclaimed_bytes,
            hint_files_loaded: w.counters.hint_files_loaded,
            data_files_scanned: w.counters.data_files_scanned,
            incomplete_merges: w.incomplete_merges.len() as u64,
            ..Stats::default()
        };
        for (&id, m) in &w.files {
            s.total_bytes += m.len;
            s.live_bytes += m.live;
            s.dead_bytes += m.dead();
            if Some(id) != active {
                s.sealed_live_bytes += m.live;
                s.sealed_dead_bytes += m.dead();
            }
        }
        s
    }

    /// The merges that did not finish and cannot be finished (see [`IncompleteMerge`]), as
    /// counted by [`Stats::incomplete_merges`].
    pub fn incomplete_merges(&self) -> Vec<IncompleteMerge> {
        self.inner.write.lock().incomplete_merges.clone()
    }

    /// Every data file with its size and how many of its bytes hold live values, in log order
    /// (for inspection tools; [`Bitcask::stats`] has the totals).
    pub fn file_stats(&self) -> Vec<FileStats> {
        let w = self.inner.write.lock();
        let active = w.active.as_ref().map(|a| a.id);
        let mut v: Vec<FileStats> = w
            .files
            .iter()
            .map(|(&id, m)| FileStats {
                id,
                order: m.order,
                len: m.len,
                live_bytes: m.live,
                dead_bytes: m.dead(),
                active: Some(id) == active,
            })
            .collect();
        v.sort_by_key(|f| (f.order, f.id));
        v
    }

    /// Syncs, stops background work, releases the lock. Reports a failed final sync.
    pub fn close(mut self) -> Result<()> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<()> {
        let inner = &*self.inner;
        {
            *inner.shutdown.lock() = true;
            inner.shutdown_cv.notify_all();
        }
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        {
            inner.bg.lock().stop = true;
            inner.bg_cv.notify_all();
        }
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        inner.reap();
        let Some(mut active) = inner.write.lock().active.take() else {
            return Ok(());
        };
        inner.check_writable()?;
        let path = inner.data_path(active.id);
        if let Some(map) = active.map.as_mut() {
            // As at a seal: the sync below then needs no page-by-page write-protection.
            map.release_front(active.len);
            map.finish(&active.file, active.len).map_err(|e| {
                Error::io("cut the reserved tail of the data file", path.clone(), e)
            })?;
        }
        active
            .file
            .sync_all()
            .map_err(|e| Error::io("sync data file at close", path, e))?;
        // Closing seals the active file: give it a hint so the next open reads no values, unless
        // nothing was appended since the open and its hint is still there.
        let order = inner.write.lock().files.get(&active.id).map(|m| m.order);
        let hint_current = active.appended == 0 && active.hinted;
        if let Some(order) = order
            && !hint_current
        {
            let _ = recovery::build_hint(&inner.dir, active.id, order, inner.opts.compact_hints);
        }
        Ok(())
    }
}

impl Drop for Bitcask {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

impl Inner {
    fn data_path(&self, id: u32) -> PathBuf {
        format::data_path(&self.dir, id)
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.opts.read_only {
            return Err(Error::ReadOnly);
        }
        if self.poisoned.load(Ordering::Acquire) {
            return Err(Error::Poisoned(self.poison_reason.lock().clone()));
        }
        Ok(())
    }

    pub(crate) fn poison(&self, why: String) {
        let mut reason = self.poison_reason.lock();
        if reason.is_empty() {
            *reason = why;
        }
        self.poisoned.store(true, Ordering::Release);
    }
}

fn prepare_dir(dir: &Path, opts: &Options) -> Result<()> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::invalid(format!(
            "'{}' exists but is not a directory; a store is a directory",
            dir.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if opts.read_only || !opts.create_if_missing {
                let why = if opts.read_only {
                    "open store directory (read-only opens never create it)"
                } else {
                    "open store directory (create_if_missing is off)"
                };
                return Err(Error::io(why, dir.to_path_buf(), e));
            }
            fs::create_dir(dir)
                .map_err(|e| Error::io("create store directory", dir.to_path_buf(), e))?;
            if let Some(parent) = dir.parent() {
                let parent = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                sync_dir(parent)?;
            }
            Ok(())
        }
        Err(e) => Err(Error::io("open store directory", dir.to_path_buf(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::write::WRITE_BEHIND_BYTES;
    use super::*;

    #[test]
    fn expected_keys_sizes_the_keydir_so_a_fill_never_rehashes() {
        const N: u64 = 200_000;
        let fill = |opts: &Options| {
            let dir = tempfile::tempdir().unwrap();
            let db = Bitcask::open(dir.path(), opts).unwrap();
            for i in 0..N {
                db.put(&i.to_le_bytes(), b"v").unwrap();
            }
            assert_eq!(db.len(), N as usize);
            db.inner.keydir.rebuilds()
        };
        let growing = fill(&Options::default());
        let mut opts = Options::default();
        opts.expected_keys(N).unwrap();
        // One shard may exceed the slack of the sizing (see KeyDir::with_capacity).
        let sized = fill(&opts);
        assert!(sized <= 1, "{sized} rebuilds");
        assert!(
            growing >= 4 * 64,
            "{growing} rebuilds without the expectation"
        );
    }

    /// Past each write-behind point the append map's front is unmapped (WriteMap::release_front):
    /// appends must go on after it, and everything written must read back, open and reopened.
    #[test]
    fn appends_and_reads_across_write_behind_points() {
        let dir = tempfile::tempdir().unwrap();
        let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
        let value = |i: u32| vec![(i % 251) as u8; 1000 + (i % 7) as usize];
        let n = 3 * (WRITE_BEHIND_BYTES as u32) / 1000;
        for i in 0..n {
            db.put(&i.to_le_bytes(), &value(i)).unwrap();
        }
        {
            let w = db.inner.write.lock();
            let active = w.active.as_ref().unwrap();
            assert!(
                active.written_back >= 2 * WRITE_BEHIND_BYTES,
                "write-behind ran"
            );
            assert!(active.map.as_ref().is_none_or(|m| m.released() > 0));
        }
        for i in (0..n).step_by(97) {
            assert_eq!(db.get(&i.to_le_bytes()).unwrap(), Some(value(i)), "key {i}");
        }
        db.close().unwrap();
        let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
        assert_eq!(db.len(), n as usize);
        for i in 0..n {
            assert_eq!(db.get(&i.to_le_bytes()).unwrap(), Some(value(i)), "key {i}");
        }
    }

    #[test]
    fn a_poisoned_handle_refuses_writes_but_keeps_serving_reads() {
        let dir = tempfile::tempdir().unwrap();
        let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
        db.put(b"k", b"v").unwrap();
        db.inner
            .poison("fsync of 0000000001.data failed: EIO".into());
        for err in [
            db.put(b"k2", b"v").unwrap_err(),
            db.delete(b"k").unwrap_err(),
            db.sync().unwrap_err(),
        ] {
            assert!(matches!(err, Error::Poisoned(_)), "{err}");
            let text = err.to_string();
            assert!(text.contains("fsync of 0000000001.data failed"), "{text}");
            assert!(text.contains("close and reopen"), "{text}");
        }
        assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
        assert!(matches!(db.close().unwrap_err(), Error::Poisoned(_)));
        // Reopening clears it: what is on disk is what recovery finds.
        let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
        db.put(b"k2", b"v2").unwrap();
    }
}
