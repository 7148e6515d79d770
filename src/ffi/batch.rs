//! `bc_batch`: atomic groups of puts and deletes.

use std::ffi::c_int;

use super::db::{as_db, bc_db};
use super::{BC_OK, Failure, boundary, boundary_or, bytes_arg};
use crate::engine::batch::Batch;
use crate::options::{MAX_KEY_SIZE_LIMIT, MAX_VALUE_SIZE_LIMIT};

/// A group of puts and deletes that `bc_write` applies all together or not at all. Create with
/// `bc_batch_new`, fill with `bc_batch_put` / `bc_batch_delete`, apply with `bc_write` (the batch
/// is unchanged by it and can be written again), empty with `bc_batch_clear` to reuse the memory,
/// release with `bc_batch_free`. The batch copies keys and values; it may hold many megabytes.
///
/// **Not thread-safe:** use one batch from one thread at a time. It is independent of any store.
pub struct bc_batch {
    _private: [u8; 0],
}

fn as_batch<'a>(b: *mut bc_batch) -> Result<&'a mut Batch, Failure> {
    if b.is_null() {
        return Err(Failure::invalid("batch handle must not be NULL"));
    }
    // SAFETY: a non-NULL bc_batch came from bc_batch_new (a Box<Batch>), is not freed, and the
    // caller uses it from one thread at a time.
    Ok(unsafe { &mut *b.cast::<Batch>() })
}

/// A new, empty batch; NULL only if memory is exhausted. Free with `bc_batch_free`.
#[unsafe(no_mangle)]
pub extern "C" fn bc_batch_new() -> *mut bc_batch {
    boundary_or("bc_batch_new", std::ptr::null_mut(), || {
        Box::into_raw(Box::new(Batch::new())).cast()
    })
}

/// Adds "store `val` under `key`" to the batch (copies both). Keys 1 ..= 1 MiB, values up to
/// 3 GiB here; the store's own, possibly smaller, limits are checked by `bc_write`.
///
/// Returns `BC_OK`, `BC_E_INVALID` (NULL batch, empty key, NULL pointer with non-zero length) or
/// `BC_E_TOO_LARGE`.
///
/// # Safety
/// `b` NULL or live; non-NULL pointers valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_batch_put(
    b: *mut bc_batch,
    key: *const u8,
    klen: usize,
    val: *const u8,
    vlen: usize,
) -> c_int {
    boundary("bc_batch_put", || {
        let batch = as_batch(b)?;
        // SAFETY: forwarded contract.
        let key = unsafe { bytes_arg(key, klen, "key", MAX_KEY_SIZE_LIMIT.into()) }?;
        // SAFETY: forwarded contract.
        let val = unsafe { bytes_arg(val, vlen, "value", MAX_VALUE_SIZE_LIMIT) }?;
        batch.put(key, val)?;
        Ok(BC_OK)
    })
}

/// Adds "delete `key`" to the batch. Applied, it writes a tombstone whether or not the key
/// exists; a later put in the same batch wins over it, as in any sequence.
///
/// Returns `BC_OK`, `BC_E_INVALID` or `BC_E_TOO_LARGE`, as `bc_batch_put`.
///
/// # Safety
/// `b` NULL or live; `key` valid for `klen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_batch_delete(b: *mut bc_batch, key: *const u8, klen: usize) -> c_int {
    boundary("bc_batch_delete", || {
        let batch = as_batch(b)?;
        // SAFETY: forwarded contract.
        let key = unsafe { bytes_arg(key, klen, "key", MAX_KEY_SIZE_LIMIT.into()) }?;
        batch.delete(key)?;
        Ok(BC_OK)
    })
}

/// Removes every operation from the batch, keeping its memory for reuse. NULL is a no-op.
///
/// # Safety
/// `b` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_batch_clear(b: *mut bc_batch) {
    boundary_or("bc_batch_clear", (), || {
        if let Ok(batch) = as_batch(b) {
            batch.clear();
        }
    })
}

/// Releases a batch. NULL is a harmless no-op.
///
/// # Safety
/// `b` NULL or a pointer from `bc_batch_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_batch_free(b: *mut bc_batch) {
    boundary_or("bc_batch_free", (), || {
        if !b.is_null() {
            // SAFETY: per the contract, a live Box<Batch>.
            drop(unsafe { Box::from_raw(b.cast::<Batch>()) });
        }
    })
}

/// Applies every operation of `b` to the store, in order, all or nothing: one append and, under
/// `BC_SYNC_ALWAYS`, one fsync for the whole batch. No fold, scan or iterator, and no read of a
/// single key, ever sees part of a batch; after a crash at any byte of the write, reopening finds
/// the whole batch or none of it. An empty batch is a successful no-op.
///
/// Returns `BC_OK`, `BC_E_INVALID` (NULL `db` or `b`), `BC_E_TOO_LARGE` (a key or value over the
/// store's limits: nothing was written), `BC_E_READ_ONLY`, `BC_E_IO` (nothing was applied).
///
/// # Safety
/// `db` NULL or live; `b` NULL or live and not changed by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_write(db: *mut bc_db, b: *const bc_batch) -> c_int {
    boundary("bc_write", || {
        let db = as_db(db)?;
        let batch = as_batch(b.cast_mut())?;
        db.write(batch)?;
        Ok(BC_OK)
    })
}
