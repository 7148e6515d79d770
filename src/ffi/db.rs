//! `bc_db`: the store handle and its calls.

use std::ffi::{CStr, OsStr, c_char, c_int, c_void};
use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
use std::ptr;

use super::options::{bc_options, options_ref};
use super::{
    BC_E_BUFFER, BC_NOT_FOUND, BC_OK, BC_STOPPED, Failure, boundary, bytes_arg, malloc_copy,
    non_null,
};
use crate::engine::Bitcask;
use crate::options::Options;

/// An open store. Create with `bc_open`, release with `bc_close`.
///
/// **Thread-safe:** one `bc_db` may be used by any number of threads at once. Reads run in
/// parallel and never wait for a disk write or an fsync; writes are serialised. The only rule is
/// that no call may be running on a handle (in any thread) when `bc_close` is called on it.
pub struct bc_db {
    _private: [u8; 0],
}

/// Called by `bc_fold` once per live key with its value. The pointers are valid only during the
/// call (copy what you keep). Return 0 to continue, non-zero to stop the fold (which then returns
/// `BC_STOPPED`). It may call any function on the same `bc_db`, writes included. It must not
/// unwind (C++ exceptions, longjmp) through the library.
pub type bc_fold_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        key: *const u8,
        klen: usize,
        val: *const u8,
        vlen: usize,
    ) -> c_int,
>;

/// Called by `bc_fold_keys` once per live key. Same rules as `bc_fold_fn`.
pub type bc_key_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, key: *const u8, klen: usize) -> c_int>;

/// Counters of a store, filled by `bc_stats_get`. New fields are only ever added at the end.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct bc_stats {
    /// Live keys.
    pub keys: u64,
    /// Data files in the store directory.
    pub data_files: u64,
    /// Bytes of all data files up to their last record, headers included. Not counted: the space
    /// reserved ahead of appends, by which the active file is longer on disk while the store is
    /// open (up to 8 MiB, cut at close).
    pub total_bytes: u64,
    /// Bytes of the records holding the current value of each live key.
    pub live_bytes: u64,
    /// Bytes a merge can reclaim: overwritten and deleted values, and tombstones.
    pub dead_bytes: u64,
    /// Damaged records skipped when the store was opened (never served to readers).
    pub corrupt_records: u64,
    /// Bytes occupied by those damaged records.
    pub corrupt_bytes: u64,
    /// Bytes of torn tail (a write cut short by a crash) removed from the last data file at open.
    pub truncated_bytes: u64,
    /// fsyncs of data files run by this handle. Under `BC_SYNC_ALWAYS` with concurrent writers
    /// it stays below the number of writes: they share fsyncs (group commit).
    pub syncs: u64,
    /// Live bytes of the sealed (immutable) files: what a merge would copy.
    pub sealed_live_bytes: u64,
    /// Dead bytes of the sealed files: what a merge would reclaim. The auto-merge trigger compares
    /// these two.
    pub sealed_dead_bytes: u64,
    /// Merges completed by this handle (by `bc_merge` or in the background).
    pub merges: u64,
    /// Bytes of data files removed by this handle's merges, minus the bytes they wrote.
    pub reclaimed_bytes: u64,
    /// At open: data files whose index came from their hint file (no value was read)...
    pub hint_files_loaded: u64,
    /// ...and data files that had to be scanned (no valid hint).
    pub data_files_scanned: u64,
    /// Merges that did not finish and cannot be: the merge record names output files that are
    /// missing or damaged (a copy or restore of the directory that missed files, files deleted
    /// by hand). Nothing such a record names is deleted: its input files are kept and served,
    /// and no new file takes an id it names. Nonzero means files are missing from the store
    /// directory; `bitcask verify` names them. The next merge rewrites the files and retires the
    /// records, bringing this back to 0.
    pub incomplete_merges: u64,
}

pub(crate) fn as_db<'a>(db: *mut bc_db) -> Result<&'a Bitcask, Failure> {
    if db.is_null() {
        return Err(Failure::invalid("db handle must not be NULL"));
    }
    // SAFETY: a non-NULL bc_db came from bc_open (a Box<Bitcask>) and, by the contract of
    // bc_close, is not closed while calls on it run.
    Ok(unsafe { &*db.cast::<Bitcask>() })
}

/// Borrows a key argument after checking it against the handle's key limit.
///
/// # Safety
/// As for [`bytes_arg`].
unsafe fn key_arg<'a>(db: &Bitcask, key: *const u8, klen: usize) -> Result<&'a [u8], Failure> {
    // SAFETY: forwarded contract.
    unsafe { bytes_arg(key, klen, "key", db.max_key_size().into()) }
}

/// Opens the store in directory `dir` (a NUL-terminated path), creating it if it is missing and
/// `create_if_missing` is on. `opts` may be NULL for the defaults; it is only read during the call.
/// On success `*out` receives the handle; on failure `*out` is set to NULL.
///
/// A read-write open takes an exclusive OS lock on `<dir>/LOCK` that is released by `bc_close` or
/// by the process ending (also by a crash). Opening recovers from a crash: a torn record at the
/// end of the last data file is cut off; damaged records elsewhere are skipped and counted in
/// `bc_stats`.
///
/// Returns `BC_OK`, or:
/// - `BC_E_INVALID`: NULL `dir` or `out`, an empty path, or `dir` exists and is not a directory;
/// - `BC_E_LOCKED`: another read-write handle holds the store (this or another process);
/// - `BC_E_IO`: the directory is missing (and may not be created), not accessible, or a file
///   operation failed;
/// - `BC_E_CORRUPT`: a data file was written by an incompatible format version.
///
/// # Safety
/// `dir` must be NULL or a NUL-terminated string; `opts` NULL or live; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_open(
    dir: *const c_char,
    opts: *const bc_options,
    out: *mut *mut bc_db,
) -> c_int {
    boundary("bc_open", || {
        non_null(out, "out")?;
        // SAFETY: `out` is non-NULL and writable per the contract.
        unsafe { *out = ptr::null_mut() };
        non_null(dir, "dir")?;
        // SAFETY: `dir` is non-NULL and NUL-terminated per the contract.
        let dir = unsafe { CStr::from_ptr(dir) }.to_bytes();
        if dir.is_empty() {
            return Err(Failure::invalid("dir must not be an empty path"));
        }
        let defaults = Options::default();
        // SAFETY: `opts` is NULL or live per the contract.
        let opts = unsafe { options_ref(opts) }.unwrap_or(&defaults);
        let db = Bitcask::open(OsStr::from_bytes(dir), opts)?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { *out = Box::into_raw(Box::new(db)).cast() };
        Ok(BC_OK)
    })
}

/// Syncs what was written, releases the lock and frees the handle. NULL is a harmless no-op
/// returning `BC_OK`. The handle is freed even when an error is returned; do not use it again.
///
/// Returns `BC_OK`, or `BC_E_IO` if the final fsync failed (or an earlier one did): data written
/// since the last successful sync may not be durable.
///
/// # Safety
/// `db` must be NULL or a live handle from `bc_open`, with no call running on it in any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_close(db: *mut bc_db) -> c_int {
    boundary("bc_close", || {
        if db.is_null() {
            return Ok(BC_OK);
        }
        // SAFETY: per the contract, `db` is a live Box<Bitcask> nobody else is using.
        let db = unsafe { Box::from_raw(db.cast::<Bitcask>()) };
        db.close()?;
        Ok(BC_OK)
    })
}

/// Stores `val` under `key`, replacing any previous value. Keys are 1 ..= `max_key_size` bytes of
/// anything (NUL included); values 0 ..= `max_value_size` bytes (`(NULL, 0)` is an empty value,
/// which is stored and returned as such). Under `BC_SYNC_ALWAYS` the value is on stable storage
/// when this returns.
///
/// Returns `BC_OK`, or `BC_E_INVALID` (NULL `db`, empty key, NULL pointer with non-zero length),
/// `BC_E_TOO_LARGE`, `BC_E_READ_ONLY`, `BC_E_IO` (write or sync failed; the store stays readable
/// and the value is not stored, or after a failed fsync the handle refuses writes).
///
/// # Safety
/// Non-NULL pointers must be valid for their lengths for the duration of the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_put(
    db: *mut bc_db,
    key: *const u8,
    klen: usize,
    val: *const u8,
    vlen: usize,
) -> c_int {
    boundary("bc_put", || {
        let db = as_db(db)?;
        // SAFETY: forwarded contract.
        let key = unsafe { key_arg(db, key, klen) }?;
        // SAFETY: forwarded contract.
        let val = unsafe { bytes_arg(val, vlen, "value", db.max_value_size()) }?;
        db.put(key, val)?;
        Ok(BC_OK)
    })
}

/// Reads the value of `key` into a new buffer: on `BC_OK`, `*val` points to `*vlen` bytes that the
/// caller must release with `bc_free` (at least one byte is allocated, so an empty value is a
/// non-NULL pointer with `*vlen == 0`). On any other status `*val` is NULL and `*vlen` 0.
///
/// Returns `BC_OK`, `BC_NOT_FOUND`, or `BC_E_INVALID` (NULL `db`, `val` or `vlen`, bad key),
/// `BC_E_TOO_LARGE` (key longer than allowed), `BC_E_CORRUPT` (the stored record fails its
/// checksum: no bytes are returned), `BC_E_IO`.
///
/// # Safety
/// `key` valid for `klen` bytes; `val` and `vlen` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_get(
    db: *mut bc_db,
    key: *const u8,
    klen: usize,
    val: *mut *mut u8,
    vlen: *mut usize,
) -> c_int {
    boundary("bc_get", || {
        // Reset every output first, so that a caller checking them after any failure (even one
        // caused by the other output being NULL) never sees stale values.
        // SAFETY: each is NULL or writable per the contract.
        unsafe {
            if !val.is_null() {
                *val = ptr::null_mut();
            }
            if !vlen.is_null() {
                *vlen = 0;
            }
        }
        non_null(val, "val")?;
        non_null(vlen, "vlen")?;
        let db = as_db(db)?;
        // SAFETY: forwarded contract.
        let key = unsafe { key_arg(db, key, klen) }?;
        match db.get_with(key, |v| malloc_copy(v).map(|p| (p, v.len())))? {
            None => Ok(BC_NOT_FOUND),
            Some(copied) => {
                let (p, n) = copied?;
                // SAFETY: writable per the contract.
                unsafe {
                    *val = p;
                    *vlen = n;
                }
                Ok(BC_OK)
            }
        }
    })
}

/// Reads the value of `key` into the caller's buffer `buf` of `cap` bytes (`buf` may be NULL when
/// `cap` is 0, to ask for the size). `*vlen` receives the value's length: on `BC_OK` the value is
/// in `buf[0..*vlen]`; on `BC_E_BUFFER` nothing was copied and `*vlen` is the capacity needed. On
/// other statuses `*vlen` is 0.
///
/// Returns `BC_OK`, `BC_NOT_FOUND`, `BC_E_BUFFER`, or the errors of `bc_get`.
///
/// # Safety
/// `buf` NULL or writable for `cap` bytes; `vlen` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_get_into(
    db: *mut bc_db,
    key: *const u8,
    klen: usize,
    buf: *mut u8,
    cap: usize,
    vlen: *mut usize,
) -> c_int {
    boundary("bc_get_into", || {
        non_null(vlen, "vlen")?;
        // SAFETY: non-NULL and writable per the contract.
        unsafe { *vlen = 0 };
        if buf.is_null() && cap > 0 {
            return Err(Failure::invalid(format!("buf is NULL but cap is {cap}")));
        }
        let db = as_db(db)?;
        // SAFETY: forwarded contract.
        let key = unsafe { key_arg(db, key, klen) }?;
        let found = db.get_with(key, |v| {
            if v.len() <= cap {
                if !v.is_empty() {
                    // SAFETY: `buf` is writable for `cap` >= v.len() bytes and is caller memory,
                    // so it cannot overlap the library's read buffer.
                    unsafe { ptr::copy_nonoverlapping(v.as_ptr(), buf, v.len()) };
                }
                (BC_OK, v.len())
            } else {
                (BC_E_BUFFER, v.len())
            }
        })?;
        match found {
            None => Ok(BC_NOT_FOUND),
            Some((status, n)) => {
                // SAFETY: writable per the contract.
                unsafe { *vlen = n };
                if status == BC_E_BUFFER {
                    return Err(Failure::new(
                        BC_E_BUFFER,
                        format!("the value is {n} bytes but the buffer holds {cap}"),
                    ));
                }
                Ok(status)
            }
        }
    })
}

/// Deletes `key` by appending a tombstone. Nothing is written if the key is absent.
///
/// Returns `BC_OK` (deleted), `BC_NOT_FOUND` (there was nothing to delete), or `BC_E_INVALID`,
/// `BC_E_TOO_LARGE`, `BC_E_READ_ONLY`, `BC_E_IO` as for `bc_put`.
///
/// # Safety
/// `key` valid for `klen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_delete(db: *mut bc_db, key: *const u8, klen: usize) -> c_int {
    boundary("bc_delete", || {
        let db = as_db(db)?;
        // SAFETY: forwarded contract.
        let key = unsafe { key_arg(db, key, klen) }?;
        Ok(if db.delete(key)? { BC_OK } else { BC_NOT_FOUND })
    })
}

/// Whether `key` exists, answered from memory without reading its value.
///
/// Returns `BC_OK` (present), `BC_NOT_FOUND` (absent), or `BC_E_INVALID` / `BC_E_TOO_LARGE`.
///
/// # Safety
/// `key` valid for `klen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_contains(db: *mut bc_db, key: *const u8, klen: usize) -> c_int {
    boundary("bc_contains", || {
        let db = as_db(db)?;
        // SAFETY: forwarded contract.
        let key = unsafe { key_arg(db, key, klen) }?;
        Ok(if db.contains(key)? {
            BC_OK
        } else {
            BC_NOT_FOUND
        })
    })
}

/// Calls `fn(ctx, key, klen, val, vlen)` once for every key that is live when the fold starts, in
/// log order (oldest surviving write first), reading the data files sequentially: a fold over a
/// store far larger than RAM runs at disk speed. Keys written or deleted during the fold (also by
/// `fn` itself) do not change which keys are visited. Writers pause only while the fold copies the
/// index positions at its start (about 10 ns per key); readers never pause.
///
/// Returns `BC_OK` after visiting every key, `BC_STOPPED` if `fn` returned non-zero,
/// `BC_E_INVALID` (NULL `db` or `fn`), `BC_E_IO`, or `BC_E_CORRUPT` if a record failed its
/// checksum (that key was skipped; all others were visited).
///
/// # Safety
/// `fn` must be safe to call with `ctx` from this thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_fold(db: *mut bc_db, r#fn: bc_fold_fn, ctx: *mut c_void) -> c_int {
    boundary("bc_fold", || {
        let db = as_db(db)?;
        let Some(callback) = r#fn else {
            return Err(Failure::invalid("fn must not be NULL"));
        };
        let end = db.fold(fold_callback(callback, ctx))?;
        Ok(if end.is_break() { BC_STOPPED } else { BC_OK })
    })
}

/// Calls `fn(ctx, key, klen)` once for every key live when the call starts, in no particular
/// order, without reading any value from disk. Same callback rules as `bc_fold`.
///
/// Returns `BC_OK`, `BC_STOPPED`, or `BC_E_INVALID` (NULL `db` or `fn`).
///
/// # Safety
/// `fn` must be safe to call with `ctx` from this thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_fold_keys(db: *mut bc_db, r#fn: bc_key_fn, ctx: *mut c_void) -> c_int {
    boundary("bc_fold_keys", || {
        let db = as_db(db)?;
        let Some(callback) = r#fn else {
            return Err(Failure::invalid("fn must not be NULL"));
        };
        let end = db.fold_keys(|k| {
            // SAFETY: as in bc_fold.
            let rc = unsafe { callback(ctx, k.as_ptr(), k.len()) };
            if rc == 0 {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        });
        Ok(if end.is_break() { BC_STOPPED } else { BC_OK })
    })
}

/// Forces every write acknowledged so far onto stable storage (fdatasync), whatever the sync mode.
/// A no-op on a read-only handle.
///
/// Returns `BC_OK`, `BC_E_INVALID` (NULL `db`) or `BC_E_IO` (the fsync failed; from then on the
/// handle refuses writes, because it can no longer tell what reached the disk).
///
/// # Safety
/// `db` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_sync(db: *mut bc_db) -> c_int {
    boundary("bc_sync", || {
        as_db(db)?.sync()?;
        Ok(BC_OK)
    })
}

/// Fills `*out` with the store's current counters. On failure a non-NULL `*out` is zeroed.
///
/// Returns `BC_OK`, or `BC_E_INVALID` for NULL `db` or `out`.
///
/// # Safety
/// `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_stats_get(db: *mut bc_db, out: *mut bc_stats) -> c_int {
    boundary("bc_stats_get", || {
        non_null(out, "out")?;
        // SAFETY: non-NULL and writable per the contract; zeroed so a failure leaves no stale data.
        unsafe { out.write(bc_stats::default()) };
        let s = as_db(db)?.stats();
        let stats = bc_stats {
            keys: s.keys,
            data_files: s.data_files,
            total_bytes: s.total_bytes,
            live_bytes: s.live_bytes,
            dead_bytes: s.dead_bytes,
            corrupt_records: s.corrupt_records,
            corrupt_bytes: s.corrupt_bytes,
            truncated_bytes: s.truncated_bytes,
            syncs: s.syncs,
            sealed_live_bytes: s.sealed_live_bytes,
            sealed_dead_bytes: s.sealed_dead_bytes,
            merges: s.merges,
            reclaimed_bytes: s.reclaimed_bytes,
            hint_files_loaded: s.hint_files_loaded,
            data_files_scanned: s.data_files_scanned,
            incomplete_merges: s.incomplete_merges,
        };
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out.write(stats) };
        Ok(BC_OK)
    })
}

/// Compacts the store: seals the active file, rewrites the live records of every sealed file into
/// new files (each with a hint file), publishes them atomically and deletes the old files as soon
/// as no fold that started before still reads them. Returns when the merged files are published.
///
/// Readers and writers on this handle (any thread) keep working during the merge; writers wait at
/// most for brief swaps. A write made while the merge runs always wins over the merged copy.
/// Deleted keys stay deleted. Killed at any moment, the store reopens with exactly its data. One
/// merge runs at a time per handle; a second call waits for the first.
///
/// Returns `BC_OK`, `BC_E_INVALID` (NULL `db`), `BC_E_READ_ONLY`, or `BC_E_IO` (the merge failed,
/// for example the disk is full; the store is exactly as it was, and the message says why).
///
/// # Safety
/// `db` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_merge(db: *mut bc_db) -> c_int {
    boundary("bc_merge", || {
        as_db(db)?.merge()?;
        Ok(BC_OK)
    })
}

/// Like `bc_put`, and the key expires `ttl_secs` (>= 1) seconds from now (the clock has whole
/// seconds: the key lives at least `ttl_secs` and less than `ttl_secs + 1` seconds): from then on every read
/// (get, contains, fold, fold_keys, scans, iterators) treats it as absent, also after a reopen,
/// and a merge drops it. A later `bc_put` of the key makes it permanent again. A store-wide
/// expiry (`bc_options_set_expiry_secs`) that ends sooner wins.
///
/// Returns the statuses of `bc_put`; `BC_E_INVALID` also for `ttl_secs` 0.
///
/// # Safety
/// As `bc_put`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_put_ttl(
    db: *mut bc_db,
    key: *const u8,
    klen: usize,
    val: *const u8,
    vlen: usize,
    ttl_secs: u32,
) -> c_int {
    boundary("bc_put_ttl", || {
        let db = as_db(db)?;
        // SAFETY: forwarded contract.
        let key = unsafe { key_arg(db, key, klen) }?;
        // SAFETY: forwarded contract.
        let val = unsafe { bytes_arg(val, vlen, "value", db.max_value_size()) }?;
        db.put_ttl(key, val, ttl_secs)?;
        Ok(BC_OK)
    })
}

fn fold_callback(
    callback: unsafe extern "C" fn(*mut c_void, *const u8, usize, *const u8, usize) -> c_int,
    ctx: *mut c_void,
) -> impl FnMut(&[u8], &[u8]) -> ControlFlow<()> {
    move |k, v| {
        // SAFETY: the caller of the exported function promises `callback` accepts `ctx`; the
        // slices outlive the call.
        let rc = unsafe { callback(ctx, k.as_ptr(), k.len(), v.as_ptr(), v.len()) };
        if rc == 0 {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }
}

/// A scan bound or prefix. It is only compared, so any length memory can have is fine; a longer
/// one describes no memory at all, which makes it an invalid argument (not a "too large" key:
/// `BC_E_TOO_LARGE` is not among the scans' documented statuses).
///
/// # Safety
/// As for [`bytes_arg`].
unsafe fn bound_arg<'a>(p: *const u8, len: usize, what: &'static str) -> Result<&'a [u8], Failure> {
    if len > isize::MAX as usize {
        return Err(Failure::invalid(format!(
            "{what} length {len} is larger than any object can be"
        )));
    }
    // SAFETY: forwarded contract.
    unsafe { bytes_arg(p, len, what, isize::MAX as u64) }
}

/// Calls `fn(ctx, key, klen, val, vlen)` for each live key in `[start, end)`, in ascending
/// unsigned byte order (shorter sorts first when one key is a prefix of the other). A NULL bound
/// (with length 0) is open on that side; `(ptr, 0)` is the empty key, the smallest of all. The
/// key set is fixed when the scan starts; same callback rules as `bc_fold` (it may call any
/// function on `db`; non-zero stops with `BC_STOPPED`).
///
/// Cost: a pass over the in-memory index (no disk), a sort of the matching keys, and one disk
/// read per match: a scan that matches a few keys of millions reads only those values.
///
/// Returns `BC_OK`, `BC_STOPPED`, `BC_E_INVALID` (NULL `db` or `fn`, a NULL bound with non-zero
/// length, a length above `PTRDIFF_MAX`), `BC_E_IO`, or `BC_E_CORRUPT` (a damaged record was
/// skipped; the rest were visited).
///
/// # Safety
/// Non-NULL bounds valid for their lengths; `fn` safe to call with `ctx`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_scan(
    db: *mut bc_db,
    start: *const u8,
    slen: usize,
    end: *const u8,
    elen: usize,
    r#fn: bc_fold_fn,
    ctx: *mut c_void,
) -> c_int {
    boundary("bc_scan", || {
        let db = as_db(db)?;
        let Some(callback) = r#fn else {
            return Err(Failure::invalid("fn must not be NULL"));
        };
        // A bound need not be a valid key (any length), so only the slice limit applies.
        let bound = |p: *const u8, len: usize, what| -> Result<Option<&[u8]>, Failure> {
            if p.is_null() && len == 0 {
                return Ok(None);
            }
            // SAFETY: forwarded contract.
            unsafe { bound_arg(p, len, what) }.map(Some)
        };
        let start = bound(start, slen, "start")?;
        let end = bound(end, elen, "end")?;
        let flow = db.scan(start, end, fold_callback(callback, ctx))?;
        Ok(if flow.is_break() { BC_STOPPED } else { BC_OK })
    })
}

/// Calls `fn` for each live key that starts with `prefix` (`plen` bytes; `(NULL, 0)` matches
/// every key), in ascending order. Same rules, cost and statuses as `bc_scan`.
///
/// # Safety
/// `prefix` valid for `plen` bytes; `fn` safe to call with `ctx`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_scan_prefix(
    db: *mut bc_db,
    prefix: *const u8,
    plen: usize,
    r#fn: bc_fold_fn,
    ctx: *mut c_void,
) -> c_int {
    boundary("bc_scan_prefix", || {
        let db = as_db(db)?;
        let Some(callback) = r#fn else {
            return Err(Failure::invalid("fn must not be NULL"));
        };
        // SAFETY: forwarded contract.
        let prefix = unsafe { bound_arg(prefix, plen, "prefix") }?;
        let flow = db.scan_prefix(prefix, fold_callback(callback, ctx))?;
        Ok(if flow.is_break() { BC_STOPPED } else { BC_OK })
    })
}
