//! Statuses, errors and the version (the header's last section). The status codes themselves are
//! defined in `mod.rs`, so that they open the header.

use std::ffi::{c_char, c_int};

use super::{
    BC_E_BUFFER, BC_E_CORRUPT, BC_E_INVALID, BC_E_IO, BC_E_LOCKED, BC_E_PANIC, BC_E_READ_ONLY,
    BC_E_TOO_LARGE, BC_NOT_FOUND, BC_OK, BC_STOPPED, ffi_boundary, last_error_ptr,
};

/// ==== STATUSES AND ERRORS =======================================================================
/// A failing call returns a status code (listed at the top); these calls describe it. None of
/// them fails, and any thread may call them.
/// ================================================================================================
///
/// Static English text for a status code. Does not depend on any call having failed.
///
/// @param[in] status  any int, also codes this version does not know.
/// @return static text, never NULL ("unknown status" for an unknown code); do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn bc_status_str(status: c_int) -> *const c_char {
    // No boundary: a match over constants cannot panic.
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

/// Detail of the last call on this thread that returned a negative status, as
/// "<function>: <what happened>", naming the path and the OS error where there is one.
/// Successful calls leave it unchanged.
///
/// Go (cgo): a goroutine may move to another OS thread between two cgo calls, so read this in
/// the same cgo call as the failing function (a small C helper in the preamble that calls the
/// function and, on failure, copies bc_last_error()).
///
/// @return this thread's message, never NULL: "" before any failure. The text is owned by the
///         library and stays valid until the next failing call on the same thread; copy it to
///         keep it, and do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn bc_last_error() -> *const c_char {
    ffi_boundary!(on_panic = c"".as_ptr(), { last_error_ptr() })
}

/// The version of the library that is running, which can differ from the header's
/// BC_VERSION_STRING when the program runs with another library build.
///
/// @return static text such as "0.1.0", never NULL; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn bc_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
