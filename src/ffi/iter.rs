//! Folds, scans and `bc_iter`, the pull iterator for callers that cannot take callbacks (the
//! header's section "iteration and scans").

use std::ffi::{c_int, c_void};
use std::ops::ControlFlow;
use std::ptr;

use super::cast::{
    Castable, OwnershipBox, free_box, to_boxed_mut_ptr, try_mut_from_ptr, try_ref_from_ptr,
};
use super::db::bc_db;
use super::{
    BC_NOT_FOUND, BC_OK, BC_STOPPED, Failure, bytes_arg, clear_out, ffi_boundary, out_arg,
};
use crate::Iter;

/// Called by bc_fold, bc_scan and bc_scan_prefix once per live key with its value. The pointers
/// are valid only during the call (copy what you keep). Return 0 to continue, non-zero to stop
/// (the call then returns BC_STOPPED). It runs on the calling thread, receives the ctx given to
/// the call, and may call any function on the same bc_db, writes included. It must not unwind
/// (C++ exceptions, longjmp) through the library.
pub type bc_fold_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        key: *const u8,
        klen: usize,
        val: *const u8,
        vlen: usize,
    ) -> c_int,
>;

/// Called by bc_fold_keys once per live key. Same rules as bc_fold_fn.
pub type bc_key_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, key: *const u8, klen: usize) -> c_int>;

/// The callback of an export, or `BC_E_INVALID` ("fn must not be NULL").
fn callback<F>(f: Option<F>) -> Result<F, Failure> {
    f.ok_or_else(|| Failure::invalid("fn must not be NULL"))
}

/// The status of a walk that ended normally or was stopped by its callback.
fn walk_status(flow: ControlFlow<()>) -> c_int {
    if flow.is_break() { BC_STOPPED } else { BC_OK }
}

/// A C callback's return as a walk's next step: 0 continues, anything else stops.
fn step(rc: c_int) -> ControlFlow<()> {
    if rc == 0 {
        ControlFlow::Continue(())
    } else {
        ControlFlow::Break(())
    }
}

fn fold_callback(
    callback: unsafe extern "C" fn(*mut c_void, *const u8, usize, *const u8, usize) -> c_int,
    ctx: *mut c_void,
) -> impl FnMut(&[u8], &[u8]) -> ControlFlow<()> {
    move |k, v| {
        // SAFETY: the caller of the exported function promises `callback` accepts `ctx`; the
        // slices outlive the call.
        step(unsafe { callback(ctx, k.as_ptr(), k.len(), v.as_ptr(), v.len()) })
    }
}

/// ==== ITERATION AND SCANS =======================================================================
/// Three ways to visit many keys. Callbacks: bc_fold (every key and value, in log order, at disk
/// speed), bc_fold_keys (keys only, from memory), bc_scan and bc_scan_prefix (a key range, in
/// key order). Pull: a bc_iter (every key and value, in key order) for callers that cannot take
/// callbacks. Each visits the keys live when it starts; writes meanwhile do not change that set.
/// ================================================================================================
///
/// Calls fn(ctx, key, klen, val, vlen) once for every key that is live when the fold starts, in
/// log order (oldest surviving write first), reading the data files sequentially: a fold over a
/// store far larger than RAM runs at disk speed. Keys written or deleted during the fold (also by
/// fn itself) do not change which keys are visited. Writers pause only while the fold copies the
/// index positions at its start (about 10 ns per key); readers never pause.
///
/// @param[in] db   a live handle from bc_open (NULL gives BC_E_INVALID).
/// @param[in] fn   the callback (see bc_fold_fn; NULL gives BC_E_INVALID).
/// @param[in] ctx  passed to every call of fn, otherwise unused; may be NULL.
/// @return BC_OK after visiting every key, BC_STOPPED if fn returned non-zero, or:
///   - BC_E_INVALID: NULL db or fn;
///   - BC_E_IO: a read failed;
///   - BC_E_CORRUPT: a record failed its checksum (that key was skipped; all others were
///     visited).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_fold(db: *mut bc_db, r#fn: bc_fold_fn, ctx: *mut c_void) -> c_int {
    ffi_boundary!({
        let db = try_ref_from_ptr!(db);
        let callback = callback(r#fn)?;
        Ok(walk_status(db.fold(fold_callback(callback, ctx))?))
    })
}

/// Calls fn(ctx, key, klen) once for every key live when the call starts, in no particular
/// order, without reading any value from disk. Same callback rules as bc_fold.
///
/// @param[in] db   a live handle from bc_open (NULL gives BC_E_INVALID).
/// @param[in] fn   the callback (see bc_key_fn; NULL gives BC_E_INVALID).
/// @param[in] ctx  passed to every call of fn; may be NULL.
/// @return BC_OK, BC_STOPPED, or BC_E_INVALID (NULL db or fn).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_fold_keys(db: *mut bc_db, r#fn: bc_key_fn, ctx: *mut c_void) -> c_int {
    ffi_boundary!({
        let db = try_ref_from_ptr!(db);
        let callback = callback(r#fn)?;
        // SAFETY: the caller promises `callback` accepts `ctx`; the key outlives the call.
        let flow = db.fold_keys(|k| step(unsafe { callback(ctx, k.as_ptr(), k.len()) }));
        Ok(walk_status(flow))
    })
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

/// Calls fn(ctx, key, klen, val, vlen) for each live key from start (included) to end
/// (excluded), in ascending unsigned byte order (shorter sorts first when one key is a prefix of
/// the other). The key set is fixed when the scan starts; same callback rules as bc_fold (it may
/// call any function on db; non-zero stops with BC_STOPPED).
///
/// Cost: a pass over the in-memory index (no disk), a sort of the matching keys, and one disk
/// read per match: a scan that matches a few keys of millions reads only those values.
///
/// @param[in] db     a live handle from bc_open (NULL gives BC_E_INVALID).
/// @param[in] start  slen bytes, the lowest key visited. NULL with slen 0: no lower bound;
///                   a non-NULL pointer with slen 0 is the empty key, the smallest of all.
/// @param[in] slen   length of start, at most PTRDIFF_MAX.
/// @param[in] end    elen bytes, the first key not visited. NULL with elen 0: no upper bound.
/// @param[in] elen   length of end, at most PTRDIFF_MAX.
/// @param[in] fn     the callback (see bc_fold_fn; NULL gives BC_E_INVALID).
/// @param[in] ctx    passed to every call of fn; may be NULL.
/// @return BC_OK, BC_STOPPED, or:
///   - BC_E_INVALID: NULL db or fn, a NULL bound with non-zero length, a length above
///     PTRDIFF_MAX;
///   - BC_E_IO: a read failed;
///   - BC_E_CORRUPT: a damaged record was skipped; the rest were visited.
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
    ffi_boundary!({
        let db = try_ref_from_ptr!(db);
        let callback = callback(r#fn)?;
        // A bound need not be a valid key (any length), so only the slice limit applies.
        let bound = |p: *const u8, len: usize, what| -> Result<Option<&[u8]>, Failure> {
            if p.is_null() && len == 0 {
                return Ok(None);
            }
            // SAFETY: a non-NULL bound is valid for its length per the contract.
            unsafe { bound_arg(p, len, what) }.map(Some)
        };
        let start = bound(start, slen, "start")?;
        let end = bound(end, elen, "end")?;
        Ok(walk_status(db.scan(
            start,
            end,
            fold_callback(callback, ctx),
        )?))
    })
}

/// Calls fn for each live key that starts with prefix, in ascending order. Same rules, cost and
/// statuses as bc_scan.
///
/// @param[in] db      a live handle from bc_open (NULL gives BC_E_INVALID).
/// @param[in] prefix  plen bytes; (NULL, 0) matches every key.
/// @param[in] plen    length of prefix, at most PTRDIFF_MAX.
/// @param[in] fn      the callback (see bc_fold_fn; NULL gives BC_E_INVALID).
/// @param[in] ctx     passed to every call of fn; may be NULL.
/// @return the statuses of bc_scan.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_scan_prefix(
    db: *mut bc_db,
    prefix: *const u8,
    plen: usize,
    r#fn: bc_fold_fn,
    ctx: *mut c_void,
) -> c_int {
    ffi_boundary!({
        let db = try_ref_from_ptr!(db);
        let callback = callback(r#fn)?;
        // SAFETY: `prefix` is valid for `plen` bytes per the contract.
        let prefix = unsafe { bound_arg(prefix, plen, "prefix") }?;
        Ok(walk_status(
            db.scan_prefix(prefix, fold_callback(callback, ctx))?,
        ))
    })
}

/// A snapshot of the store's live keys, read one entry at a time in ascending unsigned byte
/// order of the keys. Create with bc_iter_new, advance with bc_iter_next, release with
/// bc_iter_free.
///
/// Writes, deletes and merges on the store while an iterator is open are safe and do not change
/// what it yields (a key that expires before it is reached is skipped). An open iterator keeps the
/// data files it may read from being deleted by a merge, so free it when done. Free every iterator
/// before bc_close of its store.
///
/// Threads: use one iterator from one thread at a time; any number may be open at once, on any
/// threads.
pub struct bc_iter {
    _private: [u8; 0],
}

impl Castable for bc_iter {
    type Ownership = OwnershipBox;
    type RustType = Iter;
    const NAME: &'static str = "iterator";
}

/// Takes a snapshot of the live keys and makes an iterator over it. Cost: one pass over the
/// in-memory index and a sort of the keys; no value is read until bc_iter_next.
///
/// @param[in]  db   a live handle from bc_open (NULL gives BC_E_INVALID). It must stay open
///                  until the iterator is freed.
/// @param[out] out  receives the iterator on success, NULL on failure. The caller owns it and
///                  releases it with bc_iter_free.
/// @return BC_OK, or BC_E_INVALID for NULL db or out.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_iter_new(db: *mut bc_db, out: *mut *mut bc_iter) -> c_int {
    ffi_boundary!({
        // SAFETY: `out` is NULL or writable per the contract.
        let out = unsafe { out_arg(out, "out", ptr::null_mut()) }?;
        *out = to_boxed_mut_ptr(try_ref_from_ptr!(db).iter());
        Ok(BC_OK)
    })
}

/// Moves to the next entry and describes it. The bytes belong to the iterator and stay valid
/// until the next call on it or bc_iter_free (copy what you keep; do not bc_free them). At the
/// end returns BC_NOT_FOUND, and again on later calls.
///
/// @param[in,out] it    a live iterator from bc_iter_new (NULL gives BC_E_INVALID).
/// @param[out]    key   on BC_OK the entry's key; NULL on any other status.
/// @param[out]    klen  on BC_OK the key's length; 0 on any other status.
/// @param[out]    val   on BC_OK the entry's value; NULL on any other status.
/// @param[out]    vlen  on BC_OK the value's length; 0 on any other status.
/// @return BC_OK, BC_NOT_FOUND (the end), or:
///   - BC_E_INVALID: a NULL argument;
///   - BC_E_CORRUPT: this entry's record failed its checksum; the next call continues after it;
///   - BC_E_IO: a read failed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_iter_next(
    it: *mut bc_iter,
    key: *mut *const u8,
    klen: *mut usize,
    val: *mut *const u8,
    vlen: *mut usize,
) -> c_int {
    ffi_boundary!({
        // Reset every output first, as bc_get does.
        // SAFETY: each is NULL or writable per the contract.
        unsafe {
            clear_out(key, ptr::null());
            clear_out(klen, 0);
            clear_out(val, ptr::null());
            clear_out(vlen, 0);
        }
        // SAFETY: as above.
        let (key, klen, val, vlen) = unsafe {
            (
                out_arg(key, "key", ptr::null())?,
                out_arg(klen, "klen", 0)?,
                out_arg(val, "val", ptr::null())?,
                out_arg(vlen, "vlen", 0)?,
            )
        };
        let Some((k, v)) = try_mut_from_ptr!(it).next_entry()? else {
            return Ok(BC_NOT_FOUND);
        };
        // The bytes live in the iterator until its next call.
        (*key, *klen, *val, *vlen) = (k.as_ptr(), k.len(), v.as_ptr(), v.len());
        Ok(BC_OK)
    })
}

/// Releases an iterator (and lets a merge delete the files it was keeping).
///
/// @param[in] it  NULL (a no-op) or an iterator from bc_iter_new not yet freed. It is invalid
///                after the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_iter_free(it: *mut bc_iter) {
    ffi_boundary!(on_panic = (), {
        // SAFETY: per the contract, NULL or a live iterator the caller never uses again.
        unsafe { free_box(it) }
    })
}
