//! One typed conversion per C handle family, after rustls-ffi's `Castable`
//! (`librustls/src/ffi.rs`).
//!
//! C sees an opaque `struct bc_db` (`bc_options`, `bc_batch`, `bc_iter`); behind each pointer
//! is a Rust value the library allocated. Each family says once, in its `impl Castable`, which
//! Rust type that is and how C holds it (the [`Castable::Ownership`] kind); every conversion
//! goes through the generic functions and macros here, so no export casts a pointer by hand and
//! a handle of one family can never be read as another (the types would not match).
//!
//! - [`to_boxed_mut_ptr`]: a new handle for C (constructors);
//! - [`try_ref_from_ptr!`] / [`try_mut_from_ptr!`]: borrow the value behind a handle argument,
//!   returning `BC_E_INVALID` (`"<family> handle must not be NULL"`) from the export's body when
//!   it is NULL;
//! - [`ref_from_ptr`]: the same borrow with NULL as `None` (an optional handle);
//! - [`box_from_ptr`] / [`free_box`]: take the value back (destructors; NULL is a no-op).

use super::Failure;

/// Marks a family whose handles are `Box`es: created by one call, freed by one call, with no
/// other owner, so the value may also be borrowed mutably ([`try_mut_from_ptr!`]) and taken
/// back ([`box_from_ptr`]).
pub(crate) struct OwnershipBox;

/// How C holds a family's value. Every family of this API is Box-owned today; a shared handle
/// (rustls-ffi's `OwnershipArc`, cloned and released by reference count) or a borrowed one
/// (`OwnershipRef`, never freed by C) would be a new marker here, and the functions that only
/// make sense for a Box (mutable borrow, take back) would stay unavailable to it.
pub(crate) trait Ownership {}

impl Ownership for OwnershipBox {}

/// The relation between an opaque C type (`bc_db`) and the Rust value behind its pointers
/// (`Bitcask`). Implement it once per family, next to the C type.
pub(crate) trait Castable {
    /// How C holds the value ([`OwnershipBox`]).
    type Ownership: Ownership;
    /// The Rust type behind the opaque C type.
    type RustType;
    /// How messages name a handle of this family: `"<NAME> handle must not be NULL"`.
    const NAME: &'static str;
}

/// A new handle owning `value`, for C to hold until the family's destructor
/// ([`box_from_ptr`] / [`free_box`]).
pub(crate) fn to_boxed_mut_ptr<C>(value: C::RustType) -> *mut C
where
    C: Castable<Ownership = OwnershipBox>,
{
    Box::into_raw(Box::new(value)).cast()
}

/// Borrows the value behind a handle; NULL is `None`.
///
/// # Safety
/// `ptr` must be NULL or a live handle of family `C` (from its constructor, not yet freed) that
/// nothing mutates during `'a`.
pub(crate) unsafe fn ref_from_ptr<'a, C: Castable>(ptr: *const C) -> Option<&'a C::RustType> {
    // SAFETY: per the contract, a non-NULL `ptr` points to a live `C::RustType` (every
    // constructor of the family made it from one: `to_boxed_mut_ptr`), not mutated during 'a.
    unsafe { ptr.cast::<C::RustType>().as_ref() }
}

/// Borrows the value behind a Box-owned handle mutably; NULL is `None`.
///
/// # Safety
/// `ptr` must be NULL or a live handle of family `C` that nothing else accesses during `'a`.
pub(crate) unsafe fn mut_from_ptr<'a, C>(ptr: *mut C) -> Option<&'a mut C::RustType>
where
    C: Castable<Ownership = OwnershipBox>,
{
    // SAFETY: per the contract, a non-NULL `ptr` points to a live `C::RustType` from
    // `to_boxed_mut_ptr`, and this is the only access during 'a.
    unsafe { ptr.cast::<C::RustType>().as_mut() }
}

/// Takes back the value behind a Box-owned handle, ending the handle; NULL is `None`.
///
/// # Safety
/// `ptr` must be NULL or a live handle of family `C`, not used by anything during or after this
/// call (the C caller frees each handle once and never uses it again).
pub(crate) unsafe fn box_from_ptr<C>(ptr: *mut C) -> Option<Box<C::RustType>>
where
    C: Castable<Ownership = OwnershipBox>,
{
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-NULL, so per the contract it came from `to_boxed_mut_ptr` (`Box::into_raw` of
    // a `C::RustType`) and this is its only owner from now on.
    Some(unsafe { Box::from_raw(ptr.cast::<C::RustType>()) })
}

/// Frees the value behind a Box-owned handle: a family's destructor. NULL is a no-op.
///
/// # Safety
/// As [`box_from_ptr`].
pub(crate) unsafe fn free_box<C>(ptr: *mut C)
where
    C: Castable<Ownership = OwnershipBox>,
{
    // SAFETY: forwarded contract.
    drop(unsafe { box_from_ptr(ptr) });
}

/// The failure for a NULL handle of `ptr`'s family (`ptr` only names the family).
pub(crate) fn null_handle<C: Castable>(_ptr: *const C) -> Failure {
    Failure::invalid(format!("{} handle must not be NULL", C::NAME))
}

/// `try_ref_from_ptr!(handle)`: `&RustType` behind a handle argument of an export, or return
/// `Err(BC_E_INVALID "<family> handle must not be NULL")` from the enclosing body with `?` (an
/// `ffi_boundary!` body or any function returning `Result<_, Failure>`).
///
/// Use it only on an argument that the export's C contract requires to be NULL or a live handle
/// of its family ("a live handle from bc_open (NULL gives BC_E_INVALID)"), and that is not being
/// mutated by another thread (the C rules of each family say so: bc_db is only read through
/// here; bc_options, bc_batch and bc_iter are one-thread-at-a-time).
macro_rules! try_ref_from_ptr {
    ($ptr:expr) => {{
        let ptr = $ptr;
        // SAFETY: the export's C contract makes `ptr` NULL or a live handle of its family that
        // nobody mutates during the call (see the macro's doc).
        unsafe { $crate::ffi::cast::ref_from_ptr(ptr) }
            .ok_or_else(|| $crate::ffi::cast::null_handle(ptr))?
    }};
}
pub(crate) use try_ref_from_ptr;

/// `try_mut_from_ptr!(handle)`: `&mut RustType` behind a Box-owned handle argument, or return
/// `Err(BC_E_INVALID ...)` as [`try_ref_from_ptr!`]. Only for families whose C rules forbid use
/// from two threads at once (bc_options, bc_batch, bc_iter), whose contract makes the handle
/// NULL or live.
macro_rules! try_mut_from_ptr {
    ($ptr:expr) => {{
        let ptr = $ptr;
        // SAFETY: the export's C contract makes `ptr` NULL or a live handle of its family, used
        // by one thread at a time, so nothing else accesses it during the call.
        unsafe { $crate::ffi::cast::mut_from_ptr(ptr) }
            .ok_or_else(|| $crate::ffi::cast::null_handle(ptr))?
    }};
}
pub(crate) use try_mut_from_ptr;
