//! `bc_iter`: a pull iterator, for callers that cannot take callbacks.

use std::ffi::c_int;
use std::ptr;

use super::db::{as_db, bc_db};
use super::{BC_NOT_FOUND, BC_OK, Failure, boundary, boundary_or, non_null};
use crate::engine::scan::Iter;

/// A snapshot of the store's live keys, read one entry at a time in ascending unsigned byte
/// order of the keys. Create with `bc_iter_new`, advance with `bc_iter_next`, release with
/// `bc_iter_free`.
///
/// Writes, deletes and merges on the store while an iterator is open are safe and do not change
/// what it yields (a key that expires before it is reached is skipped). An open iterator keeps the
/// data files it may read from being deleted by a merge, so free it when done. Free every iterator
/// before `bc_close` of its store.
///
/// **Threads:** use one iterator from one thread at a time; any number may be open at once, on
/// any threads.
pub struct bc_iter {
    _private: [u8; 0],
}

/// Takes a snapshot of the live keys and stores a new iterator in `*out` (NULL on failure). Cost:
/// one pass over the in-memory index and a sort of the keys; no value is read until
/// `bc_iter_next`.
///
/// Returns `BC_OK`, or `BC_E_INVALID` for NULL `db` or `out`.
///
/// # Safety
/// `db` NULL or live; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_iter_new(db: *mut bc_db, out: *mut *mut bc_iter) -> c_int {
    boundary("bc_iter_new", || {
        non_null(out, "out")?;
        // SAFETY: writable per the contract.
        unsafe { *out = ptr::null_mut() };
        let it = as_db(db)?.iter();
        // SAFETY: writable per the contract.
        unsafe { *out = Box::into_raw(Box::new(it)).cast() };
        Ok(BC_OK)
    })
}

/// Moves to the next entry. On `BC_OK`, `*key`/`*klen` and `*val`/`*vlen` describe it; the bytes
/// belong to the iterator and stay valid until the next call on it or `bc_iter_free` (copy what
/// you keep; do not `bc_free` them). At the end returns `BC_NOT_FOUND` (and again on later
/// calls). On any non-`BC_OK` status the outputs are NULL / 0.
///
/// Returns `BC_OK`, `BC_NOT_FOUND`, `BC_E_INVALID` (a NULL argument), `BC_E_CORRUPT` (this
/// entry's record failed its checksum; the next call continues after it), `BC_E_IO`.
///
/// # Safety
/// `it` NULL or live; the out-pointers NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_iter_next(
    it: *mut bc_iter,
    key: *mut *const u8,
    klen: *mut usize,
    val: *mut *const u8,
    vlen: *mut usize,
) -> c_int {
    boundary("bc_iter_next", || {
        // SAFETY: each is NULL or writable per the contract.
        unsafe {
            if !key.is_null() {
                *key = ptr::null();
            }
            if !klen.is_null() {
                *klen = 0;
            }
            if !val.is_null() {
                *val = ptr::null();
            }
            if !vlen.is_null() {
                *vlen = 0;
            }
        }
        non_null(key, "key")?;
        non_null(klen, "klen")?;
        non_null(val, "val")?;
        non_null(vlen, "vlen")?;
        if it.is_null() {
            return Err(Failure::invalid("iterator handle must not be NULL"));
        }
        // SAFETY: a live Box<Iter> from bc_iter_new, used by one thread at a time.
        let it = unsafe { &mut *it.cast::<Iter>() };
        match it.next_entry()? {
            None => Ok(BC_NOT_FOUND),
            Some((k, v)) => {
                // SAFETY: writable per the contract; the bytes live in the iterator until its
                // next call.
                unsafe {
                    *key = k.as_ptr();
                    *klen = k.len();
                    *val = v.as_ptr();
                    *vlen = v.len();
                }
                Ok(BC_OK)
            }
        }
    })
}

/// Releases an iterator (and lets a merge delete the files it was keeping). NULL is a no-op.
///
/// # Safety
/// `it` NULL or a pointer from `bc_iter_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_iter_free(it: *mut bc_iter) {
    boundary_or("bc_iter_free", (), || {
        if !it.is_null() {
            // SAFETY: per the contract, a live Box<Iter>.
            drop(unsafe { Box::from_raw(it.cast::<Iter>()) });
        }
    })
}
