//! `bc_options`: open-time settings, and the sync modes (the header's section "options").

use std::ffi::c_int;
use std::ptr;
use std::time::Duration;

use super::cast::{Castable, OwnershipBox, free_box, to_boxed_mut_ptr, try_mut_from_ptr};
use super::{BC_OK, Failure, ffi_boundary};
use crate::{MergeTrigger, Options, SyncMode};

/// ==== SYNC MODES ================================================================================
/// The mode argument of bc_options_set_sync: when writes reach stable storage (see DURABILITY at
/// the top).
/// ================================================================================================
///
/// No fsync on writes: an acknowledged write survives the process being killed, not a power cut.
pub const BC_SYNC_NONE: c_int = 0;
/// fdatasync before each write returns; concurrent writers share one fsync (group commit):
/// with several writers, the thread about to run the fsync first waits, for at most half the
/// last fsync's duration, until as many writers have written as the last fsync found waiting.
/// A lone writer never waits.
pub const BC_SYNC_ALWAYS: c_int = 1;
/// A background thread fdatasyncs every interval_ms when there is unsynced data.
pub const BC_SYNC_INTERVAL: c_int = 2;

/// Settings for bc_open. Create with bc_options_new, adjust with the bc_options_set_ calls, pass
/// to any number of bc_open calls (each copies what it needs), release with bc_options_free.
///
/// Not thread-safe: do not change one bc_options from two threads at once. Reading it in
/// bc_open from several threads is fine while nobody changes it.
pub struct bc_options {
    _private: [u8; 0],
}

impl Castable for bc_options {
    type Ownership = OwnershipBox;
    type RustType = Options;
    const NAME: &'static str = "options";
}

/// What an `Options` setter returns: `&mut Options` when it cannot fail, else
/// `Result<&mut Options>`. Either way the export returns `BC_OK` or the setter's error.
trait Applied {
    fn status(self) -> Result<c_int, Failure>;
}

impl Applied for &mut Options {
    fn status(self) -> Result<c_int, Failure> {
        Ok(BC_OK)
    }
}

impl Applied for crate::Result<&mut Options> {
    fn status(self) -> Result<c_int, Failure> {
        self?;
        Ok(BC_OK)
    }
}

/// The whole body of a `bc_options_set_*` export: `set_option!(o, |opts| expr)` borrows the
/// settings behind the handle `o` as `opts` (NULL returns `BC_E_INVALID`, "options handle must
/// not be NULL"), then evaluates `expr`, a call of one `Options` setter (`?` may reject an
/// argument first), and returns `BC_OK` or the setter's error, all inside the export's
/// `ffi_boundary!` (which names the export in `bc_last_error()`). The second argument is written
/// as a closure so that rustfmt formats it; it is not one (`?` in it leaves the boundary's body).
macro_rules! set_option {
    ($o:ident, |$opts:ident| $set:expr) => {
        ffi_boundary!({
            let $opts = try_mut_from_ptr!($o);
            Applied::status($set)
        })
    };
}

/// ==== OPTIONS ===================================================================================
/// Settings for bc_open: make a bc_options with bc_options_new, change what you need with the
/// bc_options_set_ calls, pass it to bc_open, free it with bc_options_free. Every setter takes
/// the bc_options first (a live one from bc_options_new, changed by one thread at a time;
/// NULL gives BC_E_INVALID) and returns BC_OK, or BC_E_INVALID for NULL or a value out of range,
/// which leaves the setting as it was.
/// ================================================================================================
///
/// New settings with every default:
///   - create_if_missing on; read-write; sync BC_SYNC_NONE;
///   - max_file_size 256 MiB; max_key_size 64 KiB; max_value_size 64 MiB; max_open_files 64;
///   - no expected key count; no expiry;
///   - auto-merge off; merge trigger 60% fragmentation or 512 MiB of dead bytes;
///   - mmap writes on; compact hints on.
///
/// @return the settings, owned by the caller, who releases them with bc_options_free; NULL only
///         if memory is exhausted.
#[unsafe(no_mangle)]
pub extern "C" fn bc_options_new() -> *mut bc_options {
    ffi_boundary!(on_panic = ptr::null_mut(), {
        to_boxed_mut_ptr(Options::default())
    })
}

/// Releases settings. Stores opened with them are not affected.
///
/// @param[in] o  NULL (a harmless no-op) or settings from bc_options_new not yet freed. They are
///               invalid after the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_free(o: *mut bc_options) {
    ffi_boundary!(on_panic = (), {
        // SAFETY: per the contract, NULL or live settings the caller never uses again.
        unsafe { free_box(o) }
    })
}

/// Whether bc_open creates the store directory (the last path component only) when it does not
/// exist. With 0, a missing directory fails with BC_E_IO.
///
/// @param[in,out] o   the settings.
/// @param[in]     on  non-zero (the default) to create, 0 not to.
/// @return BC_OK, or BC_E_INVALID for NULL o.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_create_if_missing(o: *mut bc_options, on: c_int) -> c_int {
    set_option!(o, |opts| opts.create_if_missing(on != 0))
}

/// Whether to open without taking the write lock. Such a handle can be open beside a writer in
/// another process, sees the store as it was when opened, never changes any file, and returns
/// BC_E_READ_ONLY from every write.
///
/// @param[in,out] o   the settings.
/// @param[in]     on  non-zero for read-only; 0 (the default) for read-write.
/// @return BC_OK, or BC_E_INVALID for NULL o.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_read_only(o: *mut bc_options, on: c_int) -> c_int {
    set_option!(o, |opts| opts.read_only(on != 0))
}

/// When writes reach stable storage:
///   - BC_SYNC_NONE (default): never fsync on write; interval_ms is ignored;
///   - BC_SYNC_ALWAYS: every write call returns only after fdatasync; interval_ms is ignored;
///   - BC_SYNC_INTERVAL: a background thread fdatasyncs every interval_ms milliseconds.
///
/// @param[in,out] o            the settings.
/// @param[in]     mode         BC_SYNC_NONE, BC_SYNC_ALWAYS or BC_SYNC_INTERVAL.
/// @param[in]     interval_ms  for BC_SYNC_INTERVAL, at least 1.
/// @return BC_OK, or BC_E_INVALID for NULL o, an unknown mode or a zero interval.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_sync(
    o: *mut bc_options,
    mode: c_int,
    interval_ms: u32,
) -> c_int {
    set_option!(o, |opts| opts.sync(sync_mode(mode, interval_ms)?))
}

/// The engine's sync mode for a `BC_SYNC_*` code.
fn sync_mode(mode: c_int, interval_ms: u32) -> Result<SyncMode, Failure> {
    match mode {
        BC_SYNC_NONE => Ok(SyncMode::None),
        BC_SYNC_ALWAYS => Ok(SyncMode::Always),
        BC_SYNC_INTERVAL => Ok(SyncMode::Interval(Duration::from_millis(
            interval_ms.into(),
        ))),
        other => Err(Failure::invalid(format!(
            "unknown sync mode {other} (use BC_SYNC_NONE, BC_SYNC_ALWAYS or BC_SYNC_INTERVAL)"
        ))),
    }
}

/// Size at which the active data file is sealed and a new one begun. A record bigger than this
/// is still accepted, alone in its own file.
///
/// @param[in,out] o      the settings.
/// @param[in]     bytes  256 to 4294967295 inclusive (default 256 MiB).
/// @return BC_OK, or BC_E_INVALID for NULL o or a size out of range.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_max_file_size(o: *mut bc_options, bytes: u64) -> c_int {
    set_option!(o, |opts| opts.max_file_size(bytes))
}

/// Largest key accepted; longer keys get BC_E_TOO_LARGE. Keys are held in memory, so this also
/// bounds the index's size per key.
///
/// @param[in,out] o      the settings.
/// @param[in]     bytes  1 to 1048576 inclusive (1 MiB; default 65536).
/// @return BC_OK, or BC_E_INVALID for NULL o or a size out of range.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_max_key_size(o: *mut bc_options, bytes: u32) -> c_int {
    set_option!(o, |opts| opts.max_key_size(bytes))
}

/// Largest value accepted; larger values get BC_E_TOO_LARGE.
///
/// @param[in,out] o      the settings.
/// @param[in]     bytes  0 to 3221225472 inclusive (3 GiB; default 64 MiB).
/// @return BC_OK, or BC_E_INVALID for NULL o or a size out of range.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_max_value_size(o: *mut bc_options, bytes: u64) -> c_int {
    set_option!(o, |opts| opts.max_value_size(bytes))
}

/// How many data files a handle keeps open for reading. Beyond that the least recently used is
/// closed and reopened on demand, so a store of any number of files works under a small
/// file-descriptor limit. A handle uses this many descriptors plus about three (lock, active
/// file, a fold's reader).
///
/// @param[in,out] o      the settings.
/// @param[in]     files  1 to 1048576 inclusive (default 64).
/// @return BC_OK, or BC_E_INVALID for NULL o or a count out of range.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_max_open_files(o: *mut bc_options, files: u32) -> c_int {
    set_option!(o, |opts| opts.max_open_files(files as usize))
}

/// How many keys the store is expected to hold. The open sizes the in-memory index for that many
/// keys up front (about 9 bytes of memory per expected key, touched as keys arrive), so filling
/// the store never pauses to grow and rehash the index: what Kyoto Cabinet's bnum and Tkrzw's
/// num_buckets do. A store that opens with more keys than this is sized for the keys it has; one
/// that ends up with more grows as usual. Do not overstate it by much: on Linux the index lives
/// in 2 MiB transparent huge pages, so a few thousand keys scattered over an index sized for
/// billions make most of it resident.
///
/// @param[in,out] o     the settings.
/// @param[in]     keys  0 (the default, no expectation) to 4294967296 inclusive.
/// @return BC_OK, or BC_E_INVALID for NULL o or a count above 4294967296.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_expected_keys(o: *mut bc_options, keys: u64) -> c_int {
    set_option!(o, |opts| opts.expected_keys(keys))
}

/// Store-wide expiry: every key reads as absent secs seconds (at least, and less than secs + 1)
/// after it was written (judged by the write time stored in its record, so it holds across
/// reopens), and merge drops it. A per-key TTL from bc_put_ttl that ends sooner wins.
///
/// @param[in,out] o     the settings.
/// @param[in]     secs  seconds a key lives; 0 (the default) means never expire.
/// @return BC_OK, or BC_E_INVALID for NULL o.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_expiry_secs(o: *mut bc_options, secs: u32) -> c_int {
    set_option!(o, |opts| opts.expiry_secs(secs))
}

/// Whether a background thread of the handle checks the merge trigger a few times a second and
/// merges when it holds; it stops at bc_close. Ignored for read-only handles.
///
/// @param[in,out] o   the settings.
/// @param[in]     on  non-zero to merge automatically; 0 (the default) merges only on bc_merge.
/// @return BC_OK, or BC_E_INVALID for NULL o.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_auto_merge(o: *mut bc_options, on: c_int) -> c_int {
    set_option!(o, |opts| opts.auto_merge(on != 0))
}

/// When a background merge starts (with bc_options_set_auto_merge): once the sealed files' dead
/// bytes reach fragmentation_percent of their record bytes, or dead_bytes in all, whichever comes
/// first. Defaults: 60 and 536870912 (512 MiB), as Basho's bitcask. Dead bytes are overwritten
/// and deleted values and tombstones (see bc_stats.sealed_dead_bytes).
///
/// @param[in,out] o                      the settings.
/// @param[in]     fragmentation_percent  0 to 100 inclusive.
/// @param[in]     dead_bytes             any count.
/// @return BC_OK, or BC_E_INVALID for NULL o or a percentage above 100.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_merge_trigger(
    o: *mut bc_options,
    fragmentation_percent: u32,
    dead_bytes: u64,
) -> c_int {
    set_option!(o, |opts| opts.merge_trigger(MergeTrigger {
        fragmentation_percent,
        dead_bytes,
    }))
}

/// Whether appends go through a writable memory map of the active data file, over disk space
/// reserved ahead with fallocate (a put then costs a copy into the page cache, not a write
/// system call). Used only on ext4, XFS and tmpfs, where reserved space cannot run out when the
/// pages are written back; on other file systems, or when off, appends use pwrite. Durability
/// is the same either way. While the store is open its active file is longer on disk than its
/// records by the reserved space (up to 8 MiB), cut at close.
///
/// @param[in,out] o   the settings.
/// @param[in]     on  non-zero (the default) for mapped appends, 0 for pwrite.
/// @return BC_OK, or BC_E_INVALID for NULL o.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_mmap_writes(o: *mut bc_options, on: c_int) -> c_int {
    set_option!(o, |opts| opts.mmap_writes(on != 0))
}

/// Whether hint files are written compact, one bit per record of their data file instead of
/// every key (for 16-byte keys and 100-byte values a merged store takes about a fifth less
/// disk: 1.10x its raw keys and values instead of 1.35x). An open then walks the data file's
/// record headers instead of reading keys from the hint, so a compact hint is written only for a
/// file whose records are mostly (3/4) live entries, such as a merge's output. With 0 every hint
/// lists its keys: with a cold page cache a store of small values reopens faster. Either kind is
/// read whatever this says; it decides only what is written.
///
/// @param[in,out] o   the settings.
/// @param[in]     on  non-zero (the default) for compact hints, 0 for hints that list keys.
/// @return BC_OK, or BC_E_INVALID for NULL o.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_compact_hints(o: *mut bc_options, on: c_int) -> c_int {
    set_option!(o, |opts| opts.compact_hints(on != 0))
}
