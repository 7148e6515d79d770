//! The C ABI. Every `unsafe` of the crate's boundary lives under this module.
//!
//! Conventions (the same in every file here, after rustls-ffi):
//! - every exported function runs its body inside [`boundary`] / [`boundary_or`], which catch a
//!   panic and turn it into `BC_E_PANIC` (or a harmless default for calls without a status);
//! - every pointer is checked for NULL before use, and lengths are checked against the store's
//!   limits before a slice is made from them;
//! - a failure records `"<call>: <detail>"` in this thread's last-error slot.

#![allow(non_camel_case_types)]

use std::cell::RefCell;
use std::ffi::{CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{Error, ErrorKind};

pub mod batch;
pub mod db;
pub mod iter;
pub mod options;

/// Success.
pub const BC_OK: c_int = 0;
/// The key does not exist (not an error: `bc_get`, `bc_delete`, `bc_contains`).
pub const BC_NOT_FOUND: c_int = 1;
/// A callback returned non-zero and the iteration stopped early (not an error).
pub const BC_STOPPED: c_int = 2;
/// An argument was invalid: a NULL pointer where data is needed, an empty key, an option value
/// out of range, a path that is not a directory.
pub const BC_E_INVALID: c_int = -1;
/// The operating system failed an I/O call (the message names the call, path and OS error), or
/// an earlier fsync failure made the handle refuse writes.
pub const BC_E_IO: c_int = -2;
/// Data on disk failed a checksum or format check. Nothing wrong was returned.
pub const BC_E_CORRUPT: c_int = -3;
/// Another read-write handle (in this or another process) holds the store's lock.
pub const BC_E_LOCKED: c_int = -4;
/// A write was attempted through a handle opened read-only.
pub const BC_E_READ_ONLY: c_int = -5;
/// A key or value is larger than the handle's limit.
pub const BC_E_TOO_LARGE: c_int = -6;
/// The caller's buffer is too small; the size needed was stored in the length out-parameter.
pub const BC_E_BUFFER: c_int = -7;
/// A bug inside the library panicked; the call was abandoned. The handle stays usable, but
/// please report the message from `bc_last_error()`.
pub const BC_E_PANIC: c_int = -8;

/// No fsync on writes: an acknowledged write survives the process being killed, not a power cut.
pub const BC_SYNC_NONE: c_int = 0;
/// fdatasync before each write returns; concurrent writers share one fsync (group commit):
/// with several writers, the thread about to run the fsync first waits, for at most half the
/// last fsync's duration, until as many writers have written as the last fsync found waiting.
/// A lone writer never waits.
pub const BC_SYNC_ALWAYS: c_int = 1;
/// A background thread fdatasyncs every `interval_ms` when there is unsynced data.
pub const BC_SYNC_INTERVAL: c_int = 2;

/// A failed call: the status to return and the detail for `bc_last_error()`.
#[derive(Debug)]
pub(crate) struct Failure {
    status: c_int,
    message: String,
}

impl Failure {
    pub(crate) fn new(status: c_int, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Failure::new(BC_E_INVALID, message)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let status = match e.kind() {
            ErrorKind::InvalidArgument => BC_E_INVALID,
            ErrorKind::Io => BC_E_IO,
            ErrorKind::Corrupt => BC_E_CORRUPT,
            ErrorKind::Locked => BC_E_LOCKED,
            ErrorKind::ReadOnly => BC_E_READ_ONLY,
            ErrorKind::TooLarge => BC_E_TOO_LARGE,
        };
        Failure::new(status, e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(call: &str, message: &str) {
    let text = format!("{call}: {message}").replace('\0', "\\0");
    let text = CString::new(text).expect("NULs were escaped");
    LAST_ERROR.with(|slot| *slot.borrow_mut() = text);
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("internal panic: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("internal panic: {s}")
    } else {
        "internal panic".to_string()
    }
}

/// Runs the body of a status-returning export: a panic becomes `BC_E_PANIC`, an `Err` becomes its
/// status, and both leave a message for `bc_last_error()`.
pub(crate) fn boundary(call: &str, body: impl FnOnce() -> Result<c_int, Failure>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) => status,
        Ok(Err(failure)) => {
            set_last_error(call, &failure.message);
            failure.status
        }
        Err(payload) => {
            set_last_error(call, &panic_message(&*payload));
            BC_E_PANIC
        }
    }
}

/// Runs the body of an export without a status (constructors, destructors): a panic returns
/// `fallback` and leaves a message for `bc_last_error()`.
pub(crate) fn boundary_or<T>(call: &str, fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            set_last_error(call, &panic_message(&*payload));
            fallback
        }
    }
}

/// Borrows `(ptr, len)` as a byte slice after checking it: `(NULL, 0)` is the empty slice, NULL
/// with a non-zero length is an error, and so is a length above `limit` (checked before any slice
/// is formed, so an absurd length never reaches `from_raw_parts`).
///
/// # Safety
/// If `ptr` is not NULL it must point to `len` readable bytes that stay valid and unmodified for
/// `'a`.
pub(crate) unsafe fn bytes_arg<'a>(
    ptr: *const u8,
    len: usize,
    what: &'static str,
    limit: u64,
) -> Result<&'a [u8], Failure> {
    if len as u64 > limit {
        let e = Error::TooLarge {
            what,
            size: len as u64,
            limit,
        };
        return Err(e.into());
    }
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::invalid(format!(
            "{what} pointer is NULL but its length is {len}"
        )));
    }
    // SAFETY: non-NULL, and the caller promises `len` readable bytes; `len` ≤ limit ≤ 3 GiB, well
    // under isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Fails with a message naming the parameter if `ptr` is NULL.
pub(crate) fn non_null<T>(ptr: *const T, what: &'static str) -> Result<(), Failure> {
    if ptr.is_null() {
        Err(Failure::invalid(format!("{what} must not be NULL")))
    } else {
        Ok(())
    }
}

/// Copies `bytes` into a fresh `malloc` block of at least one byte (so that an empty value is a
/// real, freeable pointer), for the caller to release with `bc_free`.
pub(crate) fn malloc_copy(bytes: &[u8]) -> Result<*mut u8, Failure> {
    // SAFETY: malloc has no preconditions; the result is checked before use.
    let p = unsafe { libc::malloc(bytes.len().max(1)) }.cast::<u8>();
    if p.is_null() {
        return Err(Failure::new(
            BC_E_IO,
            format!("out of memory allocating {} bytes", bytes.len()),
        ));
    }
    // SAFETY: `p` has room for `bytes.len()` bytes and cannot overlap a live Rust slice.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
    Ok(p)
}

/// The library version, e.g. `"0.1.0"`: static text, never NULL. Equals `BC_VERSION_STRING` of the
/// header the program was compiled against, unless it runs with a different library build.
#[unsafe(no_mangle)]
pub extern "C" fn bc_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Static English text for a status code: never NULL, also for codes this version does not know
/// (those get "unknown status"). Does not depend on any call having failed.
#[unsafe(no_mangle)]
pub extern "C" fn bc_status_str(status: c_int) -> *const c_char {
    let text: &'static str = match status {
        BC_OK => "ok\0",
        BC_NOT_FOUND => "not found\0",
        BC_STOPPED => "stopped by callback\0",
        BC_E_INVALID => "invalid argument\0",
        BC_E_IO => "I/O error\0",
        BC_E_CORRUPT => "corrupt data\0",
        BC_E_LOCKED => "store is locked by another writer\0",
        BC_E_READ_ONLY => "store is read-only\0",
        BC_E_TOO_LARGE => "key or value too large\0",
        BC_E_BUFFER => "buffer too small\0",
        BC_E_PANIC => "internal panic\0",
        _ => "unknown status\0",
    };
    text.as_ptr().cast()
}

/// Detail of the last call **on this thread** that returned a negative status, as
/// `"<function>: <what happened>"`, naming the path and the OS error where there is one. Never
/// NULL: `""` before any failure. Successful calls leave it unchanged.
///
/// The text is owned by the library and stays valid until the next failing call on the same
/// thread; copy it to keep it.
///
/// **Go (cgo):** a goroutine may move to another OS thread between two cgo calls, so read this in
/// the *same* cgo call as the failing function (a small C helper in the preamble that calls the
/// function and, on failure, copies `bc_last_error()`).
#[unsafe(no_mangle)]
pub extern "C" fn bc_last_error() -> *const c_char {
    boundary_or("bc_last_error", c"".as_ptr(), || {
        // The CString lives in this thread's slot until the next failure replaces it.
        LAST_ERROR.with(|slot| slot.borrow().as_ptr())
    })
}

/// Frees a buffer the library returned (a value from `bc_get`). NULL is a harmless no-op. Do not
/// pass memory from anywhere else, and free each buffer once.
///
/// # Safety
/// `ptr` must be NULL or a pointer returned by this library and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_free(ptr: *mut c_void) {
    // SAFETY: the caller passes NULL or a block from this library's malloc.
    unsafe { libc::free(ptr) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last_error() -> String {
        // SAFETY: bc_last_error never returns NULL and the text is NUL-terminated.
        unsafe { CStr::from_ptr(bc_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_inside_the_boundary_becomes_bc_e_panic_with_a_message() {
        let rc = boundary("bc_test_call", || -> Result<c_int, Failure> {
            panic!("deliberate test panic")
        });
        assert_eq!(rc, BC_E_PANIC);
        assert_eq!(
            last_error(),
            "bc_test_call: internal panic: deliberate test panic"
        );
        let v = boundary_or("bc_test_ptr", 7usize, || panic!("again"));
        assert_eq!(v, 7);
        assert!(last_error().starts_with("bc_test_ptr: internal panic"));
    }

    #[test]
    fn failures_set_status_and_message_and_success_keeps_the_old_message() {
        let rc = boundary("bc_x", || Err(Failure::invalid("bad thing")));
        assert_eq!(rc, BC_E_INVALID);
        assert_eq!(last_error(), "bc_x: bad thing");
        assert_eq!(boundary("bc_y", || Ok(BC_OK)), BC_OK);
        assert_eq!(last_error(), "bc_x: bad thing");
    }

    #[test]
    fn bytes_arg_checks_null_and_limit_before_forming_a_slice() {
        // SAFETY: only NULL / (NULL, 0) / a real array are passed.
        unsafe {
            assert!(
                bytes_arg(std::ptr::null(), 0, "key", 10)
                    .unwrap()
                    .is_empty()
            );
            assert_eq!(
                bytes_arg(std::ptr::null(), 1, "key", 10)
                    .err()
                    .unwrap()
                    .status,
                BC_E_INVALID
            );
            assert_eq!(
                bytes_arg(std::ptr::null(), usize::MAX, "key", 10)
                    .err()
                    .unwrap()
                    .status,
                BC_E_TOO_LARGE
            );
            let data = [1u8, 2, 3];
            assert_eq!(bytes_arg(data.as_ptr(), 3, "key", 10).unwrap(), &data);
        }
    }

    #[test]
    fn status_strings_cover_every_code_and_unknown_ones() {
        for code in [
            BC_OK,
            BC_NOT_FOUND,
            BC_STOPPED,
            BC_E_INVALID,
            BC_E_IO,
            BC_E_CORRUPT,
            BC_E_LOCKED,
            BC_E_READ_ONLY,
            BC_E_TOO_LARGE,
            BC_E_BUFFER,
            BC_E_PANIC,
        ] {
            // SAFETY: static NUL-terminated text.
            let s = unsafe { CStr::from_ptr(bc_status_str(code)) };
            assert_ne!(s.to_bytes(), b"unknown status", "code {code}");
        }
        // SAFETY: as above.
        let s = unsafe { CStr::from_ptr(bc_status_str(12345)) };
        assert_eq!(s.to_bytes(), b"unknown status");
    }
}
