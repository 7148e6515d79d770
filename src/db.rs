//! The store handle: open, read, write, fold, sync, close.
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

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::format::{self, FILE_HEADER_LEN, FLAG_TOMBSTONE, RecordError, RecordLimits};
use crate::io::clock::now_secs;
use crate::io::fs::{create_data_file, start_writeback, sync_dir};
use crate::io::lock::DirLock;
use crate::io::map::{FileCache, SeqReader, WriteMap};
use crate::keydir::{KeyDir, Loc};
use crate::log::merge_records::{self, IncompleteMerge};
use crate::log::recovery::{self, FileMeta, LoadStats};
use crate::merge::Pins;
use crate::options::{Options, SyncMode};

/// Read-ahead for folds.
const FOLD_CHUNK: usize = 1 << 20;
/// A thread's reusable record-encoding buffer is released after a record larger than this.
const KEEP_RECORD_BUF: usize = 4 << 20;

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
    /// Fault injection for tests: the next data-file fsync fails (see `fail_next_sync`).
    fail_next_sync: AtomicBool,
    /// For tests: microseconds added to every data-file fsync (see `delay_syncs`).
    sync_delay_us: AtomicU64,
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

/// Group commit. `synced` is the `appended` position known durable; one thread at a time runs
/// an fsync, and everyone whose write it covers returns when it finishes.
///
/// Without more, groups stay small when writers write in a loop: the writers an fsync covers
/// return, write again while the next fsync already runs for the writers that arrived meanwhile,
/// and so wait for the one after. Writers then split into two alternating half-groups (measured:
/// 4 synced writers, 2.1 writes per fsync). So the thread about to run an fsync first *gathers*:
/// it waits until as many writers have appended as were waiting when the last fsync ended
/// (`concurrency`), for at most half the last fsync's duration (a writer that stopped writing
/// costs that wait once: the next fsync's end counts one writer fewer). This is
/// the adaptive form of PostgreSQL's `commit_delay`/`commit_siblings` and MySQL's
/// `binlog_group_commit_sync_delay`. A lone writer never waits.
///
/// Measured (the peer benchmark's bitcask binary, 4 writers x 2,000 synced puts against 1
/// writer, medians of 5-6 runs alternated with the library before): 2.02x -> 2.61-2.81x one
/// writer's rate (2.3x in a noisier hour), 2.1 -> 4.0 writes per fsync. Slower, tried: waking waiters with `unpark` in
/// parallel instead of the condvar (2.15x), letting the writer that completes the group run
/// the fsync (smaller groups), polling with `yield_now` near the expected end of an fsync
/// (2.28x: on two cores the yielding waiters took the CPU from the writers still to come).
struct SyncState {
    progress: Mutex<SyncProgress>,
    done: Condvar,
    /// Signalled when a writer arrives while the leader gathers.
    arrived: Condvar,
}

struct SyncProgress {
    synced: u64,
    running: bool,
    fsyncs: u64,
    /// The position each writer now in `sync_upto` waits for (one entry per writer; few).
    waiting: Vec<u64>,
    /// Writers that were in `sync_upto` when the last fsync finished: the group to gather.
    concurrency: usize,
    /// How long the last fsync took: bounds the gathering wait.
    last_fsync: Duration,
    /// A leader is waiting for `concurrency` writers to arrive.
    gathering: bool,
    /// Gatherings that ended at their deadline rather than with the whole group.
    gather_timeouts: u64,
}

impl SyncProgress {
    /// Writers in `sync_upto` whose writes no finished fsync covers yet.
    fn uncovered(&self) -> usize {
        self.waiting.iter().filter(|&&t| t > self.synced).count()
    }

    fn leave(&mut self, target: u64) {
        if let Some(i) = self.waiting.iter().position(|&t| t == target) {
            self.waiting.swap_remove(i);
        }
    }
}

/// The longest a leader gathers, whatever the fsync takes: a disk slow enough to need more is
/// slow enough that group size matters less than latency.
const MAX_GATHER: Duration = Duration::from_millis(5);

thread_local! {
    static RECORD_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
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
            fail_next_sync: AtomicBool::new(false),
            sync_delay_us: AtomicU64::new(0),
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

    /// Stores `value` under `key`, replacing any previous value. Empty values are real values.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let inner = &*self.inner;
        inner.check_key(key)?;
        inner.check_value(value)?;
        inner.check_writable()?;
        inner.put_expiring(key, value, 0)
    }

    /// Stores `value` under `key` for `ttl_secs` seconds (at least 1): from then on every read
    /// path treats the key as absent, also after a reopen, and merge drops it. A later `put`
    /// makes the key permanent again.
    pub fn put_ttl(&self, key: &[u8], value: &[u8], ttl_secs: u32) -> Result<()> {
        let inner = &*self.inner;
        inner.check_key(key)?;
        inner.check_value(value)?;
        inner.check_writable()?;
        if ttl_secs == 0 {
            return Err(Error::invalid(
                "ttl_secs must be at least 1 (use put for no expiry)",
            ));
        }
        // The clock has whole seconds: one more second makes the key last at least `ttl_secs`
        // (and less than `ttl_secs + 1`), never less.
        inner.put_expiring(
            key,
            value,
            now_secs().saturating_add(ttl_secs).saturating_add(1),
        )
    }

    /// Removes `key`. Returns whether it was present; nothing is written when it was not.
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        let inner = &*self.inner;
        inner.check_key(key)?;
        inner.check_writable()?;
        inner.keydir.prefetch(key);
        let appended = with_record(FLAG_TOMBSTONE, now_secs(), 0, key, &[], |record| {
            let op = Op {
                key,
                len: record.len() as u32,
                tombstone: true,
                expires: 0,
            };
            inner.append(record, &[op], true)
        })?;
        match appended {
            Some(at) => inner.after_write(at).map(|()| true),
            None => Ok(false),
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_with(key, <[u8]>::to_vec)
    }

    /// Reads `key` and hands its verified value to `f` without an intermediate copy.
    pub fn get_with<R>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        self.inner.check_key(key)?;
        let mut f = Some(f);
        loop {
            let Some(loc) = self.inner.live_loc(key) else {
                return Ok(None);
            };
            let result = self.inner.read_value(key, loc, &mut f);
            match result {
                Ok(r) => return Ok(Some(r)),
                // A merge moved the key and deleted the file between our lookup and our read:
                // look again. (The location changes, so this cannot loop forever.)
                Err(e) if is_not_found(&e) && self.inner.keydir.get(key) != Some(loc) => {}
                // A read-only handle's index is fixed at its open; the writer may have merged
                // the file away since.
                Err(Error::Io { path, source, .. })
                    if self.inner.opts.read_only && source.kind() == io::ErrorKind::NotFound =>
                {
                    return Err(Error::Io {
                        op: "read data file (removed since this read-only handle opened, most \
                             likely by a merge in the writing process: reopen the handle)",
                        path,
                        source,
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether `key` is present. Answers from memory; reads no value.
    pub fn contains(&self, key: &[u8]) -> Result<bool> {
        self.inner.check_key(key)?;
        Ok(self.inner.live_loc(key).is_some())
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.inner.keydir.len()
    }

    /// Whether the store holds no keys.
    pub fn is_empty(&self) -> bool {
        self.inner.keydir.is_empty()
    }

    /// Calls `f(key, value)` for every key live when the fold starts, exactly once each, in log
    /// order (oldest surviving write first), reading each data file front to back. `f` may call
    /// any method of this handle. Returns `Break` if `f` stopped the fold.
    ///
    /// A record that fails its checksum is skipped; after visiting everything else the fold
    /// returns the first such error.
    pub fn fold(
        &self,
        mut f: impl FnMut(&[u8], &[u8]) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>> {
        let inner = &*self.inner;
        // Each location with its key (at `keys[at..at + len]`): a record is served only if it
        // holds the key the index filed it under, as every read checks (FORMAT.md, rule 6).
        let mut locs: Vec<(Loc, usize, usize)> = Vec::new();
        let mut keys = Vec::new();
        let order: BTreeMap<u32, u32>;
        let _pin;
        {
            let w = inner.write.lock();
            // Taken with writes excluded: no merge can retire a file this snapshot points into
            // between the snapshot and the pin.
            _pin = self.inner.pin();
            locs.reserve(inner.keydir.len());
            let now = now_secs();
            inner.keydir.for_each(|key, loc| {
                if !loc.expired_at(now) {
                    locs.push((loc, keys.len(), key.len()));
                    keys.extend_from_slice(key);
                }
            });
            order = w.files.iter().map(|(&id, m)| (id, m.order)).collect();
        }
        let order_of = |id: u32| order.get(&id).copied().unwrap_or(id);
        locs.sort_unstable_by_key(|(l, ..)| (order_of(l.file_id), l.file_id, l.offset));
        let mut first_damage = None;
        for group in locs.chunk_by(|a, b| a.0.file_id == b.0.file_id) {
            let id = group[0].0.file_id;
            let path = format::data_path(&inner.dir, id);
            let file =
                File::open(&path).map_err(|e| Error::io("open data file", path.clone(), e))?;
            // Read no further than the last record wanted: the active file may be longer than
            // its records (reserved space) and be cut back to them meanwhile by a seal.
            let wanted = group
                .iter()
                .map(|(l, ..)| l.offset as u64 + l.len as u64)
                .max()
                .unwrap_or(0);
            let len = file
                .metadata()
                .map_err(|e| Error::io("stat data file", path.clone(), e))?
                .len()
                .min(wanted);
            let mut reader = SeqReader::new(&file, len, FOLD_CHUNK);
            for &(loc, at, klen) in group {
                let bytes = reader
                    .bytes_at(loc.offset as u64, loc.len as usize)
                    .map_err(|e| Error::io("read data file", path.clone(), e))?;
                let checked = verify_record(bytes, &loc).and_then(|rec| {
                    if rec.key == &keys[at..at + klen] {
                        Ok(rec)
                    } else {
                        Err("record holds a different key than the index says".into())
                    }
                });
                match checked {
                    Ok(rec) => {
                        if f(rec.key, rec.value).is_break() {
                            return Ok(ControlFlow::Break(()));
                        }
                    }
                    Err(why) => {
                        first_damage.get_or_insert_with(|| {
                            Error::corrupt(path.clone(), loc.offset as u64, why)
                        });
                    }
                }
            }
        }
        match first_damage {
            Some(e) => Err(e),
            None => Ok(ControlFlow::Continue(())),
        }
    }

    /// Calls `f(key)` for every key live when the fold starts, exactly once each, in no
    /// particular order. Reads nothing from disk. `f` may call any method of this handle.
    pub fn fold_keys(&self, mut f: impl FnMut(&[u8]) -> ControlFlow<()>) -> ControlFlow<()> {
        let inner = &*self.inner;
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        {
            let _no_writes = inner.write.lock();
            ends.reserve(inner.keydir.len());
            let now = now_secs();
            inner.keydir.for_each(|key, loc| {
                if !loc.expired_at(now) {
                    bytes.extend_from_slice(key);
                    ends.push(bytes.len());
                }
            });
        }
        let mut start = 0;
        for end in ends {
            f(&bytes[start..end])?;
            start = end;
        }
        ControlFlow::Continue(())
    }

    /// Rewrites the live records of every sealed file (the active file is sealed first) into new
    /// files with hints, publishes them atomically and removes the old files once no fold still
    /// reads them. Readers and writers keep going meanwhile; a write made during the merge wins
    /// over the merged copy. On failure the store is exactly as before.
    pub fn merge(&self) -> Result<()> {
        self.inner.merge()
    }

    /// Forces every write acknowledged so far to stable storage, whatever the sync mode.
    pub fn sync(&self) -> Result<()> {
        let inner = &*self.inner;
        let appended = match &inner.write.lock().active {
            Some(active) => active.appended,
            None => return Ok(()),
        };
        inner.sync_upto(appended, false)
    }

    /// The active data file's id and how many of its bytes are known durable (fsynced): every
    /// sealed file is wholly durable, so this is the store's whole durable state. None on a
    /// read-only handle. For crash tests that simulate power loss by cutting the active file
    /// back to this length; not a stable API.
    #[doc(hidden)]
    pub fn durable_position(&self) -> Option<(u32, u64)> {
        let inner = &*self.inner;
        let w = inner.write.lock();
        let active = w.active.as_ref()?;
        let synced = inner.sync.progress.lock().synced;
        // Rotation syncs the sealed file, so `synced` never lags behind this file's start.
        let unsynced = active.appended.saturating_sub(synced);
        Some((
            active.id,
            active
                .len
                .saturating_sub(unsynced)
                .max(FILE_HEADER_LEN as u64),
        ))
    }

    /// Makes the next fsync of a data file by this handle fail with EIO, as a failing disk would,
    /// so tests can check that the handle poisons itself. Not a stable API.
    #[doc(hidden)]
    pub fn fail_next_sync(&self) {
        self.inner.fail_next_sync.store(true, Ordering::Release);
    }

    /// Makes every data-file fsync by this handle take `extra` longer, as a slow disk would, so
    /// tests of group commit do not depend on how fast this machine's fsync is. Not a stable API.
    #[doc(hidden)]
    pub fn delay_syncs(&self, extra: Duration) {
        let micros = u64::try_from(extra.as_micros()).unwrap_or(u64::MAX);
        self.inner.sync_delay_us.store(micros, Ordering::Relaxed);
    }

    /// How many times a group-commit leader stopped waiting for the writers it expected (see
    /// `SyncState`). For tests; not a stable API.
    #[doc(hidden)]
    pub fn gather_timeouts(&self) -> u64 {
        self.inner.sync.progress.lock().gather_timeouts
    }

    /// The active data file's id and where its records end (the next append's offset); the
    /// file itself may be longer by space reserved ahead. None on a read-only handle. For crash
    /// tests; not a stable API.
    #[doc(hidden)]
    pub fn append_position(&self) -> Option<(u32, u64)> {
        let w = self.inner.write.lock();
        w.active.as_ref().map(|a| (a.id, a.len))
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

/// One keydir change of an append: the record for `key` is `len` bytes long.
pub(crate) struct Op<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) len: u32,
    pub(crate) tombstone: bool,
    /// When the key expires (0 = never), as the keydir will hold it.
    pub(crate) expires: u32,
}

/// Encodes one record into this thread's scratch buffer (outside every lock) and hands it on.
/// `timestamp` is the write time (seconds), `expiry` the record's own expiry field (0 = none).
fn with_record<R>(
    flags: u8,
    timestamp: u32,
    expiry: u32,
    key: &[u8],
    value: &[u8],
    f: impl FnOnce(&[u8]) -> R,
) -> R {
    RECORD_BUF.with(|cell| {
        let mut owned;
        let mut borrowed;
        let buf: &mut Vec<u8> = match cell.try_borrow_mut() {
            Ok(b) => {
                borrowed = b;
                &mut borrowed
            }
            Err(_) => {
                owned = Vec::new();
                &mut owned
            }
        };
        buf.clear();
        format::encode_record(buf, flags, timestamp, expiry, key, value);
        let r = f(buf);
        if buf.capacity() > KEEP_RECORD_BUF {
            *buf = Vec::new();
        }
        r
    })
}

fn verify_record<'a>(bytes: &'a [u8], loc: &Loc) -> Result<format::RecordRef<'a>, String> {
    let rec = format::decode_record(bytes, RecordLimits::FORMAT).map_err(|e| match e {
        RecordError::Truncated => "record cut short".to_string(),
        RecordError::Invalid(why) => why.to_string(),
        RecordError::Checksum => "record checksum mismatch".to_string(),
    })?;
    if rec.header.record_len() != loc.len as u64 {
        return Err("record length differs from the index".into());
    }
    if rec.header.is_tombstone() {
        return Err("index points at a tombstone".into());
    }
    Ok(rec)
}

impl Inner {
    fn data_path(&self, id: u32) -> PathBuf {
        format::data_path(&self.dir, id)
    }

    pub(crate) fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.is_empty() {
            return Err(Error::invalid("key must not be empty"));
        }
        if key.len() as u64 > self.opts.max_key_size as u64 {
            return Err(Error::TooLarge {
                what: "key",
                size: key.len() as u64,
                limit: self.opts.max_key_size as u64,
            });
        }
        Ok(())
    }

    /// The keydir entry of `key` unless it has expired.
    pub(crate) fn live_loc(&self, key: &[u8]) -> Option<Loc> {
        self.keydir
            .get(key)
            .filter(|loc| loc.expires == 0 || !loc.expired_at(now_secs()))
    }

    /// Appends a put whose record carries `expiry` (0 = none) and syncs per the mode.
    fn put_expiring(&self, key: &[u8], value: &[u8], expiry: u32) -> Result<()> {
        // The keydir insert below is a cache miss into a table far larger than the cache: start
        // it now, so it overlaps with encoding, checksumming and copying the record (put 359-381
        // -> 296-317 ns in benches/hot_paths, 1M keys).
        self.keydir.prefetch(key);
        let now = now_secs();
        let expires = self.opts.expires_at(now, expiry);
        if expires != 0 && !self.expiring.load(Ordering::Relaxed) {
            self.expiring.store(true, Ordering::Relaxed);
        }
        let appended = with_record(0, now, expiry, key, value, |record| {
            let op = Op {
                key,
                len: record.len() as u32,
                tombstone: false,
                expires,
            };
            self.append(record, &[op], false)
        })?;
        self.after_write(appended.expect("a put always appends"))
    }

    pub(crate) fn check_value(&self, value: &[u8]) -> Result<()> {
        if value.len() as u64 > self.opts.max_value_size {
            return Err(Error::TooLarge {
                what: "value",
                size: value.len() as u64,
                limit: self.opts.max_value_size,
            });
        }
        Ok(())
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

    /// Verifies the record at `loc` in place (in the file's memory map) and hands its value to
    /// `f`: no copy of the record, one copy of the value by `f` at most.
    fn read_value<R>(
        &self,
        key: &[u8],
        loc: Loc,
        f: &mut Option<impl FnOnce(&[u8]) -> R>,
    ) -> Result<R> {
        let outcome =
            self.files
                .with_bytes(loc.file_id, loc.offset as u64, loc.len as usize, |record| {
                    let rec = verify_record(record, &loc)?;
                    if rec.key != key {
                        return Err("record holds a different key than the index says".to_string());
                    }
                    let f = f.take().expect("called once: a successful read returns");
                    Ok(f(rec.value))
                })?;
        outcome.map_err(|why| Error::corrupt(self.data_path(loc.file_id), loc.offset as u64, why))
    }

    /// Reads the record at `loc` into `buf`, checks its CRC and that it holds `key`, and returns
    /// where its value lies in `buf`.
    pub(crate) fn read_at(
        &self,
        key: &[u8],
        loc: Loc,
        buf: &mut Vec<u8>,
    ) -> Result<std::ops::Range<usize>> {
        buf.resize(loc.len as usize, 0);
        self.files
            .read_exact_at(loc.file_id, buf, loc.offset as u64)?;
        let rec = verify_record(buf, &loc)
            .map_err(|why| Error::corrupt(self.data_path(loc.file_id), loc.offset as u64, why))?;
        if rec.key != key {
            return Err(Error::corrupt(
                self.data_path(loc.file_id),
                loc.offset as u64,
                "record holds a different key than the index says",
            ));
        }
        let start = (rec.header.header_len + rec.header.key_len) as usize;
        Ok(start..loc.len as usize)
    }

    /// Appends `records` (one record per op, back to back) with one write and applies the ops to
    /// the keydir as one atomic step. With `only_if_present` (a single delete), nothing is written
    /// when the key is absent (checked under the write mutex) and `None` is returned. Returns the
    /// append position to sync up to.
    pub(crate) fn append(
        &self,
        records: &[u8],
        ops: &[Op<'_>],
        only_if_present: bool,
    ) -> Result<Option<u64>> {
        let mut w = self.write.lock();
        if only_if_present && !ops.iter().all(|op| self.live_loc(op.key).is_some()) {
            return Ok(None);
        }
        self.check_writable()?;
        let WriteState { active, files, .. } = &mut *w;
        let active = active.as_mut().ok_or(Error::ReadOnly)?;
        if active.len > FILE_HEADER_LEN as u64
            && active.len + records.len() as u64 > self.opts.max_file_size
        {
            self.rotate(active, files)?;
        }
        let offset = active.len;
        if offset + records.len() as u64 > u32::MAX as u64 {
            return Err(Error::TooLarge {
                what: "batch",
                size: records.len() as u64,
                limit: u32::MAX as u64 - offset,
            });
        }
        self.write_records(active, records, offset)?;
        active.len += records.len() as u64;
        active.appended += records.len() as u64;
        if active.len - active.written_back >= WRITE_BEHIND_BYTES {
            if let Some(map) = active.map.as_mut() {
                map.release_front(active.len);
            }
            start_writeback(&active.file, active.written_back, active.len);
            active.written_back = active.len;
        }
        let id = active.id;
        files
            .get_mut(&id)
            .expect("the active file is registered")
            .len = active.len;
        let mut account = |new: Option<Loc>, old: Option<Loc>| {
            if let Some(new) = new {
                files.get_mut(&id).expect("registered").live += new.len as u64;
            }
            if let Some(old) = old
                && let Some(m) = files.get_mut(&old.file_id)
            {
                m.live -= old.len as u64;
            }
        };
        if let [op] = ops {
            // The common case, a single put or delete: no allocation.
            let loc = Loc {
                file_id: id,
                offset: offset as u32,
                len: op.len,
                expires: op.expires,
            };
            let (new, old) = if op.tombstone {
                (None, self.keydir.remove(op.key))
            } else {
                (Some(loc), self.keydir.insert(op.key, loc))
            };
            account(new, old);
        } else {
            let mut at = offset as u32;
            let changes: Vec<(&[u8], Option<Loc>)> = ops
                .iter()
                .map(|op| {
                    let loc = Loc {
                        file_id: id,
                        offset: at,
                        len: op.len,
                        expires: op.expires,
                    };
                    at += op.len;
                    (op.key, (!op.tombstone).then_some(loc))
                })
                .collect();
            let olds = self.keydir.apply_atomically(&changes);
            for ((_, new), old) in changes.iter().zip(olds) {
                account(*new, old);
            }
        }
        Ok(Some(active.appended))
    }

    /// Puts `records` at `offset` of the active file: through its map when it has one (no
    /// system call), else with `pwrite`. On error nothing of `records` is left in the file.
    fn write_records(&self, active: &mut ActiveFile, records: &[u8], offset: u64) -> Result<()> {
        let end = offset + records.len() as u64;
        let path = || self.data_path(active.id);
        if let Some(map) = active.map.as_mut() {
            if map.covers(end) {
                match map.write_at(&active.file, records, offset) {
                    Ok(true) => return Ok(()),
                    // Nothing was written (space is reserved before the copy).
                    Err(e) => return Err(Error::io("append to data file", path(), e)),
                    Ok(false) => {}
                }
            }
            // A record past the map (larger than the file size limit), or a filesystem that
            // cannot reserve space: this file continues with pwrite.
            map.finish(&active.file, offset)
                .map_err(|e| Error::io("cut the reserved tail of the data file", path(), e))?;
            active.map = None;
        }
        if let Err(e) = active.file.write_all_at(records, offset) {
            // Take back whatever part reached the file, so the log stays a clean sequence of
            // records; if even that fails the file's tail is unknown: poison.
            if let Err(e2) = active.file.set_len(offset) {
                self.poison(format!(
                    "append to '{}' failed ({e}) and cutting it back failed ({e2})",
                    path().display()
                ));
            }
            return Err(Error::io("append to data file", path(), e));
        }
        Ok(())
    }

    /// Seals the active file and starts the next one; the background thread writes the sealed
    /// file's hint.
    pub(crate) fn rotate(
        &self,
        active: &mut ActiveFile,
        files: &mut BTreeMap<u32, FileMeta>,
    ) -> Result<()> {
        let sealed = active.id;
        if let Some(map) = active.map.as_mut() {
            // No append goes to this file again: unmapped pages are written back by the
            // fdatasync below without being write-protected one by one (see release_front).
            map.release_front(active.len);
            // The sealed file ends at its last record. fdatasync below makes the new length
            // durable too (a size change is data-retrieval metadata), so a sealed file never
            // comes back with the reserved zeros after a crash.
            map.finish(&active.file, active.len).map_err(|e| {
                Error::io(
                    "cut the reserved tail of the data file",
                    self.data_path(sealed),
                    e,
                )
            })?;
        }
        self.sync_data_file(&active.file).map_err(|e| {
            let err = Error::io("sync data file being sealed", self.data_path(sealed), e);
            self.poison(err.to_string());
            err
        })?;
        // Everything appended so far is in the file just synced.
        {
            let mut p = self.sync.progress.lock();
            p.synced = p.synced.max(active.appended);
            p.fsyncs += 1;
        }
        let id = active.next_id;
        let (file, id) = create_data_file(&self.dir, id)?;
        files.insert(id, FileMeta::new(id, FILE_HEADER_LEN as u64));
        active.map = append_map(&file, FILE_HEADER_LEN as u64, &self.opts);
        active.file = Arc::new(file);
        active.id = id;
        active.len = FILE_HEADER_LEN as u64;
        active.next_id = id + 1;
        active.hinted = false;
        active.written_back = FILE_HEADER_LEN as u64;
        self.bg.lock().hints.push_back(sealed);
        self.bg_cv.notify_all();
        Ok(())
    }

    pub(crate) fn after_write(&self, appended: u64) -> Result<()> {
        if self.opts.sync == SyncMode::Always {
            self.sync_upto(appended, true)
        } else {
            Ok(())
        }
    }

    /// Returns once everything appended up to `target` is durable. If an fsync is already
    /// running, waits for it and then runs one more if that one did not cover `target`: so every
    /// writer that arrived during an fsync shares the next one. A `writer` (a caller that just
    /// appended, as opposed to `sync()` or the interval thread) counts towards the group a
    /// leader gathers (see [`SyncState`]).
    fn sync_upto(&self, target: u64, writer: bool) -> Result<()> {
        let mut p = self.sync.progress.lock();
        if writer {
            p.waiting.push(target);
            if p.gathering {
                // Even before the group is complete: woken now and then, the leader's CPU is
                // less often idle when the last writer arrives, and a wake-up from idle costs
                // most here (4 synced writers: 2.61x one writer's rate vs 2.39x waking it once).
                self.sync.arrived.notify_one();
            }
        }
        let result = self.sync_upto_locked(&mut p, target, writer);
        if writer {
            p.leave(target);
        }
        result
    }

    fn sync_upto_locked(
        &self,
        p: &mut MutexGuard<'_, SyncProgress>,
        target: u64,
        writer: bool,
    ) -> Result<()> {
        loop {
            if self.poisoned.load(Ordering::Acquire) {
                return Err(Error::Poisoned(self.poison_reason.lock().clone()));
            }
            if p.synced >= target {
                return Ok(());
            }
            if p.running {
                self.sync.done.wait(p);
                continue;
            }
            p.running = true;
            if writer && p.concurrency > 1 {
                let deadline = Instant::now() + (p.last_fsync / 2).min(MAX_GATHER);
                p.gathering = true;
                while p.uncovered() < p.concurrency {
                    if self.sync.arrived.wait_until(p, deadline).timed_out() {
                        p.gather_timeouts += 1;
                        break;
                    }
                }
                p.gathering = false;
            }
            let started = Instant::now();
            let (result, snapshot) = MutexGuard::unlocked(p, || {
                let snapshot = {
                    let w = self.write.lock();
                    w.active
                        .as_ref()
                        .map(|a| (Arc::clone(&a.file), a.id, a.appended))
                };
                let result = match &snapshot {
                    Some((file, id, _)) => self
                        .sync_data_file(file)
                        .map_err(|e| Error::io("sync data file", self.data_path(*id), e)),
                    None => Ok(()),
                };
                (result, snapshot)
            });
            if let Err(e) = &result {
                self.poison(e.to_string());
            }
            p.running = false;
            p.fsyncs += snapshot.is_some() as u64;
            p.last_fsync = started.elapsed();
            // Everyone still here, this leader included, wrote while this group formed: the
            // next leader waits for as many.
            p.concurrency = p.waiting.len().max(1);
            if let (Ok(()), Some((_, _, appended))) = (&result, &snapshot) {
                p.synced = p.synced.max(*appended);
            }
            self.sync.done.notify_all();
            result?;
            if snapshot.is_none() {
                return Ok(());
            }
        }
    }

    /// fdatasync of a data file being written, failing once on request (`fail_next_sync`).
    fn sync_data_file(&self, file: &File) -> io::Result<()> {
        if self.fail_next_sync.swap(false, Ordering::AcqRel) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        let delay = self.sync_delay_us.load(Ordering::Relaxed);
        if delay > 0 {
            std::thread::sleep(Duration::from_micros(delay));
        }
        file.sync_data()
    }

    /// Body of the `SyncMode::Interval` thread.
    fn flush_every(&self, every: Duration) {
        let mut stop = self.shutdown.lock();
        while !*stop {
            self.shutdown_cv.wait_for(&mut stop, every);
            if *stop {
                break;
            }
            drop(stop);
            let appended = self.write.lock().active.as_ref().map_or(0, |a| a.appended);
            let synced = self.sync.progress.lock().synced;
            if appended > synced {
                // A failure poisons the handle; writers report it.
                let _ = self.sync_upto(appended, false);
            }
            stop = self.shutdown.lock();
        }
    }
}

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
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

/// How far appends may run ahead of the writeback started for them. Measured with benches/merge
/// (32 MiB files, a putter and a getter): 1 MiB cut the put maximum from 22-27 ms to 4-12 ms but
/// cost 8-25% of the puts and made the getter's p99 5x worse (1.2 -> 6.5-7.9 µs), as writeback
/// then competes with it all the time.
const WRITE_BEHIND_BYTES: u64 = 8 << 20;

/// The append map for an active file of `len` bytes, unless the options or the filesystem rule
/// it out.
fn append_map(file: &File, len: u64, opts: &Options) -> Option<WriteMap> {
    if !opts.mmap_writes {
        return None;
    }
    WriteMap::new(file, len, opts.max_file_size)
}

#[cfg(test)]
mod tests {
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
