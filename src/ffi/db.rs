//! `bc_db`, the store handle: the header's sections "opening and closing", "reading" and
//! "writing". Folds, scans and iterators are in `iter.rs`, merge and stats in `maintenance.rs`.

use std::ffi::{CStr, OsStr, c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::ptr;

use super::cast::{
    Castable, OwnershipBox, box_from_ptr, ref_from_ptr, to_boxed_mut_ptr, try_ref_from_ptr,
};
use super::options::bc_options;
use super::{
    BC_E_BUFFER, BC_NOT_FOUND, BC_OK, Failure, bytes_arg, clear_out, ffi_boundary, malloc_copy,
    non_null, out_arg,
};
use crate::{Bitcask, Options};

/// An open store. Create with bc_open, release with bc_close.
///
/// Thread-safe: one bc_db may be used by any number of threads at once. Reads run in parallel
/// and never wait for a disk write or an fsync; writes are serialised. The only rule is that no
/// call may be running on a handle (in any thread) when bc_close is called on it, and that no
/// bc_iter of it is still open then.
pub struct bc_db {
    _private: [u8; 0],
}

impl Castable for bc_db {
    type Ownership = OwnershipBox;
    type RustType = Bitcask;
    const NAME: &'static str = "db";
}

/// Borrows a key argument after checking it against the handle's key limit.
///
/// # Safety
/// As for [`bytes_arg`].
pub(crate) unsafe fn key_arg<'a>(
    db: &Bitcask,
    key: *const u8,
    klen: usize,
) -> Result<&'a [u8], Failure> {
    // SAFETY: forwarded contract.
    unsafe { bytes_arg(key, klen, "key", db.max_key_size().into()) }
}

/// ==== OPENING AND CLOSING =======================================================================
/// A store is a directory. bc_open gives a handle for it, bc_close syncs and releases it.
/// ================================================================================================
///
/// Opens the store in directory dir, creating the directory if it is missing and
/// create_if_missing is on (the default).
///
/// A read-write open takes an exclusive OS lock on dir/LOCK that is released by bc_close or by
/// the process ending (also by a crash). Opening recovers from a crash: a torn record at the end
/// of the last data file is cut off; damaged records elsewhere are skipped and counted in
/// bc_stats. May be called from any thread; the handle may then be used from any number of
/// threads.
///
/// @param[in]  dir   NUL-terminated path of the store directory; read during the call only.
/// @param[in]  opts  NULL for the defaults, or settings from bc_options_new; read during the call
///                   only (the handle keeps what it needs), so they may be changed or freed
///                   right after.
/// @param[out] out   receives the new handle on success, NULL on failure. The caller owns the
///                   handle and releases it with bc_close.
/// @return BC_OK, or:
///   - BC_E_INVALID: NULL dir or out, an empty path, or dir exists and is not a directory;
///   - BC_E_LOCKED: another read-write handle holds the store (this or another process);
///   - BC_E_IO: the directory is missing (and may not be created), not accessible, or a file
///     operation failed;
///   - BC_E_CORRUPT: a data file's intact header is of a format version this library does not
///     read, has header flags it does not know, or names another file (a file renamed or
///     copied into the directory); or a kept merge record names file ids at the top of the
///     range. Nothing is changed; bc_last_error() names the file. Files in the directory
///     whose names are not exactly a store file's (7.data, notes.txt) are ignored, never read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_open(
    dir: *const c_char,
    opts: *const bc_options,
    out: *mut *mut bc_db,
) -> c_int {
    ffi_boundary!({
        // SAFETY: `out` is NULL or writable per the contract.
        let out = unsafe { out_arg(out, "out", ptr::null_mut()) }?;
        non_null(dir, "dir")?;
        // SAFETY: `dir` is non-NULL and NUL-terminated per the contract.
        let dir = unsafe { CStr::from_ptr(dir) }.to_bytes();
        if dir.is_empty() {
            return Err(Failure::invalid("dir must not be an empty path"));
        }
        let defaults = Options::default();
        // SAFETY: `opts` is NULL or a live bc_options per the contract, not changed meanwhile.
        let opts = unsafe { ref_from_ptr(opts) }.unwrap_or(&defaults);
        let db = Bitcask::open(OsStr::from_bytes(dir), opts)?;
        *out = to_boxed_mut_ptr(db);
        Ok(BC_OK)
    })
}

/// Syncs what was written, releases the lock and frees the handle. The handle is freed even when
/// an error is returned; do not use it again.
///
/// @param[in] db  NULL (a harmless no-op returning BC_OK) or a live handle from bc_open, with no
///                call running on it in any thread and no open bc_iter of it. It is invalid
///                after the call.
/// @return BC_OK, or BC_E_IO if the final fsync failed (or an earlier one did): data written
///         since the last successful sync may not be durable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_close(db: *mut bc_db) -> c_int {
    ffi_boundary!({
        // SAFETY: per the contract, `db` is NULL or a live handle nobody else is using, and the
        // caller never uses it again.
        if let Some(db) = unsafe { box_from_ptr(db) } {
            db.close()?;
        }
        Ok(BC_OK)
    })
}

/// ==== READING ===================================================================================
/// Reads never wait for a disk write or an fsync, and run in parallel on any threads. bc_get
/// returns a copy that the caller frees with bc_free; bc_get_into copies into the caller's
/// buffer; bc_contains answers from memory. Folds, scans and iterators are in section
/// ITERATION AND SCANS.
/// ================================================================================================
///
/// Reads the value of key into a new buffer.
///
/// @param[in]  db    a live handle from bc_open (NULL gives BC_E_INVALID).
/// @param[in]  key   klen bytes (any bytes, NUL included; 1 to the handle's max_key_size); read
///                   during the call only.
/// @param[in]  klen  length of key.
/// @param[out] val   on BC_OK, a new buffer holding the value, which the caller owns and must
///                   release with bc_free (never free()). At least one byte is allocated, so an
///                   empty value is a non-NULL pointer with *vlen 0. NULL on any other status.
/// @param[out] vlen  on BC_OK the value's length; 0 on any other status.
/// @return BC_OK, BC_NOT_FOUND, or:
///   - BC_E_INVALID: NULL db, val or vlen, an empty key, NULL key with non-zero klen;
///   - BC_E_TOO_LARGE: the key is longer than the handle allows;
///   - BC_E_CORRUPT: the stored record fails its checksum (no bytes are returned);
///   - BC_E_IO: the read failed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_get(
    db: *mut bc_db,
    key: *const u8,
    klen: usize,
    val: *mut *mut u8,
    vlen: *mut usize,
) -> c_int {
    ffi_boundary!({
        // Reset every output first, so that a caller checking them after any failure (even one
        // caused by the other output being NULL) never sees stale values.
        // SAFETY: each is NULL or writable per the contract.
        unsafe {
            clear_out(val, ptr::null_mut());
            clear_out(vlen, 0);
        }
        // SAFETY: as above.
        let val = unsafe { out_arg(val, "val", ptr::null_mut()) }?;
        // SAFETY: as above.
        let vlen = unsafe { out_arg(vlen, "vlen", 0) }?;
        let db = try_ref_from_ptr!(db);
        // SAFETY: `key` is valid for `klen` bytes per the contract.
        let key = unsafe { key_arg(db, key, klen) }?;
        match db.get_with(key, |v| malloc_copy(v).map(|p| (p, v.len())))? {
            None => Ok(BC_NOT_FOUND),
            Some(copied) => {
                (*val, *vlen) = copied?;
                Ok(BC_OK)
            }
        }
    })
}

/// Reads the value of key into the caller's buffer. To learn the size first, call with cap 0.
///
/// @param[in]  db    a live handle from bc_open (NULL gives BC_E_INVALID).
/// @param[in]  key   klen bytes, as for bc_get.
/// @param[in]  klen  length of key.
/// @param[out] buf   cap writable bytes; NULL is allowed when cap is 0. On BC_OK its first *vlen
///                   bytes hold the value; on BC_E_BUFFER nothing was copied into it.
/// @param[in]  cap   size of buf.
/// @param[out] vlen  the value's length: on BC_OK the bytes copied, on BC_E_BUFFER the capacity
///                   needed (nothing was copied); 0 on any other status.
/// @return BC_OK, BC_NOT_FOUND, BC_E_BUFFER (cap is smaller than the value), BC_E_INVALID (also
///         for NULL vlen, or NULL buf with a non-zero cap), or the other errors of bc_get.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_get_into(
    db: *mut bc_db,
    key: *const u8,
    klen: usize,
    buf: *mut u8,
    cap: usize,
    vlen: *mut usize,
) -> c_int {
    ffi_boundary!({
        // SAFETY: `vlen` is NULL or writable per the contract.
        let vlen = unsafe { out_arg(vlen, "vlen", 0) }?;
        if buf.is_null() && cap > 0 {
            return Err(Failure::invalid(format!("buf is NULL but cap is {cap}")));
        }
        let db = try_ref_from_ptr!(db);
        // SAFETY: `key` is valid for `klen` bytes per the contract.
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
                *vlen = n;
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

/// Whether key exists, answered from memory without reading its value.
///
/// @param[in] db    a live handle from bc_open (NULL gives BC_E_INVALID).
/// @param[in] key   klen bytes, as for bc_get.
/// @param[in] klen  length of key.
/// @return BC_OK (present), BC_NOT_FOUND (absent), BC_E_INVALID (NULL db, empty key, NULL key
///         with non-zero klen) or BC_E_TOO_LARGE.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_contains(db: *mut bc_db, key: *const u8, klen: usize) -> c_int {
    ffi_boundary!({
        let db = try_ref_from_ptr!(db);
        // SAFETY: `key` is valid for `klen` bytes per the contract.
        let key = unsafe { key_arg(db, key, klen) }?;
        Ok(if db.contains(key)? {
            BC_OK
        } else {
            BC_NOT_FOUND
        })
    })
}

/// Frees a buffer the library returned (a value from bc_get). Any thread may free it.
///
/// @param[in] ptr  NULL (a harmless no-op) or a buffer from this library not yet freed. Do not
///                 pass memory from anywhere else, and free each buffer once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_free(ptr: *mut c_void) {
    // No boundary: libc::free cannot panic.
    // SAFETY: the caller passes NULL or a block from this library's malloc, not yet freed.
    unsafe { libc::free(ptr) }
}

/// ==== WRITING ===================================================================================
/// Writes are serialised per store; each appends one record. When a write returns, it survives
/// the process being killed; under BC_SYNC_ALWAYS it is also on stable storage (see the sync
/// modes and DURABILITY at the top). Atomic groups of writes are in section BATCHES.
/// ================================================================================================
///
/// Stores val under key, replacing any previous value. Under BC_SYNC_ALWAYS the value is on
/// stable storage when this returns.
///
/// @param[in] db    a live handle from bc_open (NULL gives BC_E_INVALID).
/// @param[in] key   klen bytes of anything (NUL included), 1 to the handle's max_key_size;
///                  copied, not kept.
/// @param[in] klen  length of key.
/// @param[in] val   vlen bytes, 0 to the handle's max_value_size; (NULL, 0) is an empty value,
///                  which is stored and returned as such. Copied, not kept.
/// @param[in] vlen  length of val.
/// @return BC_OK, or:
///   - BC_E_INVALID: NULL db, empty key, NULL pointer with non-zero length;
///   - BC_E_TOO_LARGE: key or value over the handle's limits;
///   - BC_E_READ_ONLY: the handle was opened read-only;
///   - BC_E_IO: the write or sync failed; the store stays readable and the value is not
///     stored, or after a failed fsync the handle refuses writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_put(
    db: *mut bc_db,
    key: *const u8,
    klen: usize,
    val: *const u8,
    vlen: usize,
) -> c_int {
    ffi_boundary!({
        let db = try_ref_from_ptr!(db);
        // SAFETY: `key` and `val` are valid for their lengths per the contract.
        let (key, val) = unsafe { (key_arg(db, key, klen)?, value_arg(db, val, vlen)?) };
        db.put(key, val)?;
        Ok(BC_OK)
    })
}

/// Like bc_put, and the key expires ttl_secs seconds from now. The clock has whole seconds: the
/// key lives at least ttl_secs and less than ttl_secs + 1 seconds. From then on every read (get,
/// contains, fold, fold_keys, scans, iterators) treats it as absent, also after a reopen, and a
/// merge drops it. A later bc_put of the key makes it permanent again. A store-wide expiry
/// (bc_options_set_expiry_secs) that ends sooner wins.
///
/// @param[in] db        as for bc_put.
/// @param[in] key       as for bc_put.
/// @param[in] klen      as for bc_put.
/// @param[in] val       as for bc_put.
/// @param[in] vlen      as for bc_put.
/// @param[in] ttl_secs  seconds to live, at least 1.
/// @return the statuses of bc_put; BC_E_INVALID also for ttl_secs 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_put_ttl(
    db: *mut bc_db,
    key: *const u8,
    klen: usize,
    val: *const u8,
    vlen: usize,
    ttl_secs: u32,
) -> c_int {
    ffi_boundary!({
        let db = try_ref_from_ptr!(db);
        // SAFETY: `key` and `val` are valid for their lengths per the contract.
        let (key, val) = unsafe { (key_arg(db, key, klen)?, value_arg(db, val, vlen)?) };
        db.put_ttl(key, val, ttl_secs)?;
        Ok(BC_OK)
    })
}

/// Deletes key by appending a tombstone. Nothing is written if the key is absent.
///
/// @param[in] db    as for bc_put.
/// @param[in] key   as for bc_put.
/// @param[in] klen  length of key.
/// @return BC_OK (deleted), BC_NOT_FOUND (there was nothing to delete), or BC_E_INVALID,
///         BC_E_TOO_LARGE, BC_E_READ_ONLY, BC_E_IO as for bc_put.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_delete(db: *mut bc_db, key: *const u8, klen: usize) -> c_int {
    ffi_boundary!({
        let db = try_ref_from_ptr!(db);
        // SAFETY: `key` is valid for `klen` bytes per the contract.
        let key = unsafe { key_arg(db, key, klen) }?;
        Ok(if db.delete(key)? { BC_OK } else { BC_NOT_FOUND })
    })
}

/// Forces every write acknowledged so far onto stable storage (fdatasync), whatever the sync
/// mode. A no-op on a read-only handle.
///
/// @param[in] db  a live handle from bc_open (NULL gives BC_E_INVALID).
/// @return BC_OK, BC_E_INVALID (NULL db) or BC_E_IO (the fsync failed; from then on the handle
///         refuses writes, because it can no longer tell what reached the disk).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_sync(db: *mut bc_db) -> c_int {
    ffi_boundary!({
        try_ref_from_ptr!(db).sync()?;
        Ok(BC_OK)
    })
}

/// Borrows a value argument after checking it against the handle's value limit.
///
/// # Safety
/// As for [`bytes_arg`].
unsafe fn value_arg<'a>(db: &Bitcask, val: *const u8, vlen: usize) -> Result<&'a [u8], Failure> {
    // SAFETY: forwarded contract.
    unsafe { bytes_arg(val, vlen, "value", db.max_value_size()) }
}
