//! `bc_batch`: atomic groups of puts and deletes (the header's section "batches").

use std::ffi::c_int;
use std::ptr;

use super::cast::{
    Castable, OwnershipBox, free_box, mut_from_ptr, to_boxed_mut_ptr, try_mut_from_ptr,
    try_ref_from_ptr,
};
use super::db::bc_db;
use super::{BC_OK, bytes_arg, ffi_boundary};
use crate::{Batch, MAX_KEY_SIZE_LIMIT, MAX_VALUE_SIZE_LIMIT};

// cbindgen writes the opaque types first, sorted by name, so this one opens the header's types
// and carries their heading.
/// ==== TYPES =====================================================================================
/// Four opaque handles (bc_batch, bc_db, bc_iter, bc_options, in that order here; each comment
/// says how the handle is created and released and its thread rules), then the callback types
/// of folds and scans, and bc_stats.
/// ================================================================================================
///
/// A group of puts and deletes that bc_write applies all together or not at all. Create with
/// bc_batch_new, fill with bc_batch_put and bc_batch_delete, apply with bc_write (the batch is
/// unchanged by it and can be written again), empty with bc_batch_clear to reuse the memory,
/// release with bc_batch_free. The batch copies keys and values; it may hold many megabytes.
///
/// Not thread-safe: use one batch from one thread at a time. It is independent of any store.
pub struct bc_batch {
    _private: [u8; 0],
}

impl Castable for bc_batch {
    type Ownership = OwnershipBox;
    type RustType = Batch;
    const NAME: &'static str = "batch";
}

/// ==== BATCHES ===================================================================================
/// A batch collects puts and deletes in memory, independent of any store; bc_write applies it to
/// a store atomically, with one append and at most one fsync.
/// ================================================================================================
///
/// A new, empty batch.
///
/// @return the batch, owned by the caller, who releases it with bc_batch_free; NULL only if
///         memory is exhausted.
#[unsafe(no_mangle)]
pub extern "C" fn bc_batch_new() -> *mut bc_batch {
    ffi_boundary!(on_panic = ptr::null_mut(), {
        to_boxed_mut_ptr(Batch::new())
    })
}

/// Adds "store val under key" to the batch. Keys may be 1 byte to 1 MiB and values up to 3 GiB
/// here; the store's own, possibly smaller, limits are checked by bc_write.
///
/// @param[in,out] b     a live batch from bc_batch_new (NULL gives BC_E_INVALID).
/// @param[in]     key   klen bytes, copied into the batch.
/// @param[in]     klen  length of key.
/// @param[in]     val   vlen bytes, copied into the batch; (NULL, 0) is an empty value.
/// @param[in]     vlen  length of val.
/// @return BC_OK, BC_E_INVALID (NULL batch, empty key, NULL pointer with non-zero length) or
///         BC_E_TOO_LARGE.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_batch_put(
    b: *mut bc_batch,
    key: *const u8,
    klen: usize,
    val: *const u8,
    vlen: usize,
) -> c_int {
    ffi_boundary!({
        let batch = try_mut_from_ptr!(b);
        // SAFETY: `key` is valid for `klen` bytes per the contract.
        let key = unsafe { bytes_arg(key, klen, "key", MAX_KEY_SIZE_LIMIT.into()) }?;
        // SAFETY: `val` is valid for `vlen` bytes per the contract.
        let val = unsafe { bytes_arg(val, vlen, "value", MAX_VALUE_SIZE_LIMIT) }?;
        batch.put(key, val)?;
        Ok(BC_OK)
    })
}

/// Adds "delete key" to the batch. Applied, it writes a tombstone whether or not the key exists;
/// a later put in the same batch wins over it, as in any sequence.
///
/// @param[in,out] b     a live batch from bc_batch_new (NULL gives BC_E_INVALID).
/// @param[in]     key   klen bytes, copied into the batch.
/// @param[in]     klen  length of key.
/// @return BC_OK, BC_E_INVALID or BC_E_TOO_LARGE, as bc_batch_put.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_batch_delete(b: *mut bc_batch, key: *const u8, klen: usize) -> c_int {
    ffi_boundary!({
        let batch = try_mut_from_ptr!(b);
        // SAFETY: `key` is valid for `klen` bytes per the contract.
        let key = unsafe { bytes_arg(key, klen, "key", MAX_KEY_SIZE_LIMIT.into()) }?;
        batch.delete(key)?;
        Ok(BC_OK)
    })
}

/// Applies every operation of b to the store, in order, all or nothing: one append and, under
/// BC_SYNC_ALWAYS, one fsync for the whole batch. No fold, scan or iterator, and no read of a
/// single key, ever sees part of a batch; after a crash at any byte of the write, reopening finds
/// the whole batch or none of it. An empty batch is a successful no-op.
///
/// @param[in] db  a live handle from bc_open (NULL gives BC_E_INVALID).
/// @param[in] b   a live batch from bc_batch_new (NULL gives BC_E_INVALID), not changed by
///                another thread during the call. It is left as it was: write it again, clear
///                it or free it.
/// @return BC_OK, or:
///   - BC_E_INVALID: NULL db or b;
///   - BC_E_TOO_LARGE: a key or value over the store's limits (nothing was written);
///   - BC_E_READ_ONLY: the handle was opened read-only;
///   - BC_E_IO: nothing was applied.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_write(db: *mut bc_db, b: *const bc_batch) -> c_int {
    ffi_boundary!({
        let db = try_ref_from_ptr!(db);
        let batch = try_ref_from_ptr!(b);
        db.write(batch)?;
        Ok(BC_OK)
    })
}

/// Removes every operation from the batch, keeping its memory for reuse.
///
/// @param[in,out] b  NULL (a no-op) or a live batch from bc_batch_new.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_batch_clear(b: *mut bc_batch) {
    ffi_boundary!(on_panic = (), {
        // SAFETY: per the contract, NULL (a no-op here, not an error) or a live batch that no
        // other thread uses meanwhile.
        if let Some(batch) = unsafe { mut_from_ptr(b) } {
            batch.clear();
        }
    })
}

/// Releases a batch.
///
/// @param[in] b  NULL (a harmless no-op) or a batch from bc_batch_new not yet freed. It is
///               invalid after the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_batch_free(b: *mut bc_batch) {
    ffi_boundary!(on_panic = (), {
        // SAFETY: per the contract, NULL or a live batch the caller never uses again.
        unsafe { free_box(b) }
    })
}
