//! The C ABI: `include/bitcask.h` is generated from this module by cbindgen. Every `unsafe` of the
//! crate's boundary lives under this module, and it reaches the engine only through the crate's
//! public API (the re-exports at the crate root), as any other user of the crate would.
//!
//! # Layout: the header's order
//!
//! The header is the C manual, so its order is deliberate, and it is this module's order:
//! cbindgen writes the items of a module before those of its submodules, and the submodules in
//! the order of their `mod` lines below; `[fn] sort_by = "None"` in `cbindgen.toml` keeps the
//! functions in source order. cbindgen always writes constants first, then types, then
//! functions, so the status codes (defined in this file, hence first) and the sync modes
//! (`options.rs`) open the header, then the types, then the functions section by section:
//!
//! | file             | header section(s)                                   |
//! |------------------|-----------------------------------------------------|
//! | `db.rs`          | opening and closing; reading; writing (`bc_db`)     |
//! | `batch.rs`       | batches (`bc_batch`)                                |
//! | `iter.rs`        | iteration and scans (callbacks, `bc_iter`)          |
//! | `maintenance.rs` | merge and maintenance (`bc_stats`)                  |
//! | `options.rs`     | options (`bc_options`, sync modes)                  |
//! | `status.rs`      | statuses and errors (`bc_status_str`, ...)          |
//!
//! The first exported item of each section carries the section's heading in its doc comment
//! (cbindgen copies only doc comments of items, so a heading cannot stand alone). The header's
//! opening comment (`header` in `cbindgen.toml`) lists the sections; keep the three in step.
//!
//! # Conventions (the same in every file here, after rustls-ffi)
//!
//! - Every exported function is a plain `#[unsafe(no_mangle)] pub [unsafe] extern "C" fn` item
//!   (so cbindgen sees it and its doc comment) whose whole body is one `ffi_boundary!`: it
//!   catches a panic (`BC_E_PANIC`, or a harmless value for calls without a status), turns an
//!   `Err(Failure)` into its status, and records `"<call>: <detail>"` for `bc_last_error()`,
//!   where `<call>` is derived from the function itself (see `fn_path!`), never typed. The only
//!   exceptions are three bodies that cannot panic: `bc_free` (one `free`), `bc_status_str` and
//!   `bc_version` (static text).
//! - Handles are converted by the `cast` helpers: one `cast::Castable` impl per family
//!   (`bc_db`, `bc_options`, `bc_batch`, `bc_iter`) and `try_ref_from_ptr!` /
//!   `try_mut_from_ptr!`, which turn NULL into `BC_E_INVALID`
//!   (`"<family> handle must not be NULL"`).
//! - Every other pointer is checked for NULL before use (`non_null`, `out_arg`), and lengths
//!   are checked against the store's limits before a slice is made from them (`bytes_arg`).
//! - The doc comments of exported items are C text: cbindgen copies them verbatim into the
//!   header. No backtick spans, Rust ranges, Rust type names, intra-doc links or `# Safety`
//!   sections there; each function's C contract ("must be NULL or a live handle from bc_open")
//!   is its safety contract.

#![allow(non_camel_case_types)]
// The contract of every `unsafe extern "C" fn` here is its C documentation (the `@param` lines:
// "NULL or a live handle from bc_open", "valid for klen bytes"), which cbindgen copies into
// bitcask.h; a Rust `# Safety` heading would land in the C header as well. For the same reason
// rustdoc's markdown lints do not apply to them: `@param[in]` / `@param[out]` are doxygen
// parameter directions (as in lmdb.h), not intra-doc links, and "<function>: <detail>" is text,
// not an HTML tag.
#![allow(
    clippy::missing_safety_doc,
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags
)]

use std::cell::RefCell;
use std::ffi::{CString, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::{Error, ErrorKind};

mod cast;

// The order of these modules is the order of the sections in bitcask.h (see the module comment;
// the comment lines between them also keep rustfmt from sorting them by name).
// OPENING AND CLOSING, READING, WRITING
pub mod db;
// BATCHES
pub mod batch;
// ITERATION AND SCANS
pub mod iter;
// MERGE AND MAINTENANCE
pub mod maintenance;
// OPTIONS
pub mod options;
// STATUSES AND ERRORS
pub mod status;

/// ==== STATUS CODES ==============================================================================
/// Every call that can fail returns one. BC_OK is 0, the non-errors (BC_NOT_FOUND, BC_STOPPED)
/// are positive, errors (BC_E_*) negative. New codes may be added: treat any other negative
/// value as an error. bc_status_str() gives static text for a code, bc_last_error() the detail
/// of this thread's last failure (section STATUSES AND ERRORS).
/// ================================================================================================
///
/// Success.
pub const BC_OK: c_int = 0;
/// The key does not exist (not an error): from bc_get, bc_get_into, bc_delete, bc_contains, and
/// bc_iter_next at the end.
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
/// please report the message from bc_last_error().
pub const BC_E_PANIC: c_int = -8;

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

/// This thread's last-error text; it stays valid until the next failure on this thread.
pub(crate) fn last_error_ptr() -> *const c_char {
    // The CString lives in this thread's slot until the next failure replaces it.
    LAST_ERROR.with(|slot| slot.borrow().as_ptr())
}

/// The exported function's name in `call`, which is either that name or a path from
/// [`fn_path!`] (`bitcask::ffi::db::bc_open::here`): its last segment that starts with `bc_`.
fn call_name(call: &str) -> &str {
    call.rsplit("::")
        .find(|segment| segment.starts_with("bc_"))
        .unwrap_or(call)
}

fn set_last_error(call: &str, message: &str) {
    let text = format!("{}: {message}", call_name(call)).replace('\0', "\\0");
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
/// status, and both leave a message for `bc_last_error()`. Exports call it through
/// [`ffi_boundary!`], which supplies `call`.
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

/// Runs the body of an export without a status (constructors, destructors, text): a panic
/// returns `fallback` and leaves a message for `bc_last_error()`. Exports call it through
/// `ffi_boundary!(on_panic = fallback, { ... })`.
pub(crate) fn boundary_or<T>(call: &str, fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            set_last_error(call, &panic_message(&*payload));
            fallback
        }
    }
}

/// The path of the function whose body this expands in, as a `&'static str` ending in
/// `::<that function>::here` (the type name of a function item declared right there). The
/// boundary takes the exported name from it ([`call_name`]), so no export types its own name
/// and none can name another by mistake: `fn here` belongs to whichever function it expands in.
/// Expand it in the export's body itself, not in a closure (the boundary does). The format of
/// `type_name` is not guaranteed across compilers: `call_name` only needs the path to contain
/// the function's name as a segment, and a change would fail the unit test
/// `the_boundary_names_the_function_it_expands_in` and c-tests/test_bad_input.c (which checks
/// the message prefix of every export).
macro_rules! fn_path {
    () => {{
        fn here() {}
        ::std::any::type_name_of_val(&here)
    }};
}
pub(crate) use fn_path;

/// The whole body of every exported function:
///
/// - `ffi_boundary!({ body })`: `body` yields `Result<c_int, Failure>` (use `?` and
///   `try_ref_from_ptr!` freely); a failure returns its status, a panic `BC_E_PANIC`.
/// - `ffi_boundary!(on_panic = value, { body })` for calls without a status: `body` yields the
///   return value itself, and a panic returns `value`.
///
/// Both run `body` under `catch_unwind` and leave `"<call>: <detail>"` for `bc_last_error()` on
/// failure, `<call>` being the enclosing function's name ([`fn_path!`]). The function stays an
/// ordinary item around the macro, so cbindgen sees it with its doc comment (as in rustls-ffi's
/// `ffi_panic_boundary!`). The arguments are written as expressions (a block; an assignment) so
/// that rustfmt formats the bodies.
macro_rules! ffi_boundary {
    (on_panic = $fallback:expr, $body:block) => {
        $crate::ffi::boundary_or($crate::ffi::fn_path!(), $fallback, || $body)
    };
    ($body:block) => {
        $crate::ffi::boundary($crate::ffi::fn_path!(), || $body)
    };
}
pub(crate) use ffi_boundary;

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

/// Writes `empty` to an output parameter unless it is NULL: every output is written, also on
/// failure, so a caller never reads a stale value.
///
/// # Safety
/// `ptr` must be NULL or valid for a write of `T`.
pub(crate) unsafe fn clear_out<T>(ptr: *mut T, empty: T) {
    if !ptr.is_null() {
        // SAFETY: non-NULL and writable per the contract.
        unsafe { ptr.write(empty) };
    }
}

/// An output parameter that must not be NULL, first set to `empty` (so a later failure leaves
/// `empty` there), borrowed for the rest of the call.
///
/// # Safety
/// `ptr` must be NULL or valid for reads and writes of `T` during `'a`, and not otherwise
/// accessed meanwhile.
pub(crate) unsafe fn out_arg<'a, T>(
    ptr: *mut T,
    what: &'static str,
    empty: T,
) -> Result<&'a mut T, Failure> {
    non_null(ptr, what)?;
    // SAFETY: non-NULL; valid and unaliased per the contract.
    let out = unsafe { &mut *ptr };
    *out = empty;
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::{bc_last_error, bc_status_str};
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

    /// `ffi_boundary!` names the function it expands in, with no name typed anywhere: checked
    /// through real exports of two files (each fails on its NULL handle before touching
    /// anything), and through a local function, whose panic uses the same path.
    #[test]
    fn the_boundary_names_the_function_it_expands_in() {
        // SAFETY: NULL handles and outputs are documented inputs of these calls.
        unsafe {
            let rc = db::bc_open(std::ptr::null(), std::ptr::null(), std::ptr::null_mut());
            assert_eq!(rc, BC_E_INVALID);
            assert_eq!(last_error(), "bc_open: out must not be NULL");
            assert_eq!(
                options::bc_options_set_sync(std::ptr::null_mut(), 0, 0),
                BC_E_INVALID
            );
            assert_eq!(
                last_error(),
                "bc_options_set_sync: options handle must not be NULL"
            );
            assert_eq!(
                iter::bc_iter_new(std::ptr::null_mut(), std::ptr::null_mut()),
                BC_E_INVALID
            );
            assert_eq!(last_error(), "bc_iter_new: out must not be NULL");
        }
        fn bc_local_probe() -> c_int {
            ffi_boundary!({ panic!("probe") })
        }
        assert_eq!(bc_local_probe(), BC_E_PANIC);
        assert_eq!(last_error(), "bc_local_probe: internal panic: probe");
        fn bc_local_default() -> usize {
            ffi_boundary!(on_panic = 3, { panic!("default") })
        }
        assert_eq!(bc_local_default(), 3);
        assert_eq!(last_error(), "bc_local_default: internal panic: default");
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

    /// Each family's handle goes out as a Box and comes back as the same value, through the one
    /// conversion of its `Castable` impl; NULL is refused with the family's name.
    #[test]
    fn handles_round_trip_through_their_castable_conversion() {
        use crate::Options;
        use cast::{
            box_from_ptr, ref_from_ptr, to_boxed_mut_ptr, try_mut_from_ptr, try_ref_from_ptr,
        };
        let p: *mut options::bc_options = to_boxed_mut_ptr(Options::default());
        let check = || -> Result<c_int, Failure> {
            try_mut_from_ptr!(p).read_only(true);
            Ok(c_int::from(
                try_ref_from_ptr!(p.cast_const()).is_read_only(),
            ))
        };
        assert_eq!(check().unwrap(), 1);
        let null: *mut options::bc_options = std::ptr::null_mut();
        let refused = (|| -> Result<c_int, Failure> {
            try_ref_from_ptr!(null);
            Ok(BC_OK)
        })()
        .unwrap_err();
        assert_eq!(refused.status, BC_E_INVALID);
        assert_eq!(refused.message, "options handle must not be NULL");
        // SAFETY: `p` came from to_boxed_mut_ptr and is not used after this.
        let back = unsafe { box_from_ptr(p) }.expect("non-NULL");
        assert!(back.is_read_only());
        // SAFETY: NULL is allowed.
        assert!(unsafe { ref_from_ptr(null.cast_const()) }.is_none());
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
