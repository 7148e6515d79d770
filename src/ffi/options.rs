//! `bc_options`: open-time settings.

use std::ffi::c_int;
use std::time::Duration;

use super::{
    BC_E_INVALID, BC_OK, BC_SYNC_ALWAYS, BC_SYNC_INTERVAL, BC_SYNC_NONE, Failure, boundary,
    boundary_or,
};
use crate::options::{MergeTrigger, Options, SyncMode};

/// Settings for `bc_open`. Create with `bc_options_new`, adjust with the `bc_options_set_*`
/// calls, pass to any number of `bc_open` calls (each copies what it needs), release with
/// `bc_options_free`.
///
/// Not thread-safe: do not change one `bc_options` from two threads at once. Reading it in
/// `bc_open` from several threads is fine while nobody changes it.
pub struct bc_options {
    _private: [u8; 0],
}

fn as_options<'a>(o: *mut bc_options) -> Result<&'a mut Options, Failure> {
    if o.is_null() {
        return Err(Failure::invalid("options handle must not be NULL"));
    }
    // SAFETY: a non-NULL bc_options pointer came from bc_options_new (a Box<Options>) and has not
    // been freed; the caller does not use it from two threads at once.
    Ok(unsafe { &mut *o.cast::<Options>() })
}

/// Borrows the settings behind a `const bc_options *`; NULL gives `None` (defaults).
///
/// # Safety
/// `o` must be NULL or a live pointer from `bc_options_new`.
pub(crate) unsafe fn options_ref<'a>(o: *const bc_options) -> Option<&'a Options> {
    // SAFETY: per the function contract.
    unsafe { o.cast::<Options>().as_ref() }
}

/// New settings with every default:
/// - `max_file_size` 256 MiB; sync `BC_SYNC_NONE`; read-write; `create_if_missing` on;
/// - `max_key_size` 64 KiB; `max_value_size` 64 MiB; `max_open_files` 64;
/// - auto-merge off; merge trigger 60% fragmentation or 512 MiB of dead bytes.
///
/// Returns NULL only if memory is exhausted. Free with `bc_options_free`.
#[unsafe(no_mangle)]
pub extern "C" fn bc_options_new() -> *mut bc_options {
    boundary_or("bc_options_new", std::ptr::null_mut(), || {
        Box::into_raw(Box::new(Options::default())).cast()
    })
}

/// Releases settings from `bc_options_new`. NULL is a harmless no-op. Stores opened with them are
/// not affected.
///
/// # Safety
/// `o` must be NULL or a pointer from `bc_options_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_free(o: *mut bc_options) {
    boundary_or("bc_options_free", (), || {
        if !o.is_null() {
            // SAFETY: per the contract, `o` is a live Box<Options> from bc_options_new.
            drop(unsafe { Box::from_raw(o.cast::<Options>()) });
        }
    })
}

/// Size at which the active data file is sealed and a new one begun: 256 ..= 4294967295 bytes
/// (default 256 MiB). A record bigger than this is still accepted, alone in its own file.
///
/// Returns `BC_OK`, or `BC_E_INVALID` for NULL `o` or a size out of range.
///
/// # Safety
/// `o` must be NULL or a live pointer from `bc_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_max_file_size(o: *mut bc_options, bytes: u64) -> c_int {
    boundary("bc_options_set_max_file_size", || {
        as_options(o)?.max_file_size(bytes)?;
        Ok(BC_OK)
    })
}

/// When writes reach stable storage:
/// - `BC_SYNC_NONE` (default): never fsync on write; `interval_ms` is ignored;
/// - `BC_SYNC_ALWAYS`: every write call returns only after fdatasync; `interval_ms` is ignored;
/// - `BC_SYNC_INTERVAL`: a background thread fdatasyncs every `interval_ms` (>= 1) milliseconds.
///
/// Returns `BC_OK`, or `BC_E_INVALID` for NULL `o`, an unknown mode or a zero interval.
///
/// # Safety
/// `o` must be NULL or a live pointer from `bc_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_sync(
    o: *mut bc_options,
    mode: c_int,
    interval_ms: u32,
) -> c_int {
    boundary("bc_options_set_sync", || {
        let o = as_options(o)?;
        let mode = match mode {
            BC_SYNC_NONE => SyncMode::None,
            BC_SYNC_ALWAYS => SyncMode::Always,
            BC_SYNC_INTERVAL => SyncMode::Interval(Duration::from_millis(interval_ms.into())),
            other => {
                return Err(Failure::new(
                    BC_E_INVALID,
                    format!(
                        "unknown sync mode {other} (use BC_SYNC_NONE, BC_SYNC_ALWAYS or \
                         BC_SYNC_INTERVAL)"
                    ),
                ));
            }
        };
        o.sync(mode)?;
        Ok(BC_OK)
    })
}

/// `on` non-zero: open without taking the write lock. Such a handle can be open beside a writer in
/// another process, sees the store as it was when opened, never changes any file, and returns
/// `BC_E_READ_ONLY` from every write. Default 0.
///
/// Returns `BC_OK`, or `BC_E_INVALID` for NULL `o`.
///
/// # Safety
/// `o` must be NULL or a live pointer from `bc_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_read_only(o: *mut bc_options, on: c_int) -> c_int {
    boundary("bc_options_set_read_only", || {
        as_options(o)?.read_only(on != 0);
        Ok(BC_OK)
    })
}

/// `on` non-zero (the default): `bc_open` creates the store directory (the last path component
/// only) when it does not exist. With 0, a missing directory fails with `BC_E_IO`.
///
/// Returns `BC_OK`, or `BC_E_INVALID` for NULL `o`.
///
/// # Safety
/// `o` must be NULL or a live pointer from `bc_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_create_if_missing(o: *mut bc_options, on: c_int) -> c_int {
    boundary("bc_options_set_create_if_missing", || {
        as_options(o)?.create_if_missing(on != 0);
        Ok(BC_OK)
    })
}

/// Largest key accepted, 1 ..= 1048576 bytes (default 65536). Longer keys get `BC_E_TOO_LARGE`.
/// Keys are held in memory, so this also bounds the index's size per key.
///
/// Returns `BC_OK`, or `BC_E_INVALID` for NULL `o` or a size out of range.
///
/// # Safety
/// `o` must be NULL or a live pointer from `bc_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_max_key_size(o: *mut bc_options, bytes: u32) -> c_int {
    boundary("bc_options_set_max_key_size", || {
        as_options(o)?.max_key_size(bytes)?;
        Ok(BC_OK)
    })
}

/// Largest value accepted, 0 ..= 3221225472 bytes (3 GiB; default 64 MiB). Larger values get
/// `BC_E_TOO_LARGE`.
///
/// Returns `BC_OK`, or `BC_E_INVALID` for NULL `o` or a size out of range.
///
/// # Safety
/// `o` must be NULL or a live pointer from `bc_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_max_value_size(o: *mut bc_options, bytes: u64) -> c_int {
    boundary("bc_options_set_max_value_size", || {
        as_options(o)?.max_value_size(bytes)?;
        Ok(BC_OK)
    })
}

/// How many data files a handle keeps open for reading, 1 ..= 1048576 (default 64). Beyond that
/// the least recently used is closed and reopened on demand, so a store of any number of files
/// works under a small file-descriptor limit. A handle uses this many descriptors plus about
/// three (lock, active file, a fold's reader).
///
/// Returns `BC_OK`, or `BC_E_INVALID` for NULL `o` or a count out of range.
///
/// # Safety
/// `o` must be NULL or a live pointer from `bc_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_max_open_files(o: *mut bc_options, files: u32) -> c_int {
    boundary("bc_options_set_max_open_files", || {
        as_options(o)?.max_open_files(files as usize)?;
        Ok(BC_OK)
    })
}

/// When a background merge starts (with `bc_options_set_auto_merge`): once the sealed files' dead
/// bytes reach `fragmentation_percent` (0 ..= 100) of their record bytes, or `dead_bytes` in all,
/// whichever comes first. Defaults: 60 and 536870912 (512 MiB), as Basho's bitcask. Dead bytes are
/// overwritten and deleted values and tombstones (see `bc_stats.sealed_dead_bytes`).
///
/// Returns `BC_OK`, or `BC_E_INVALID` for NULL `o` or a percentage above 100.
///
/// # Safety
/// `o` must be NULL or a live pointer from `bc_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_merge_trigger(
    o: *mut bc_options,
    fragmentation_percent: u32,
    dead_bytes: u64,
) -> c_int {
    boundary("bc_options_set_merge_trigger", || {
        as_options(o)?.merge_trigger(MergeTrigger {
            fragmentation_percent,
            dead_bytes,
        })?;
        Ok(BC_OK)
    })
}

/// `on` non-zero: a background thread of the handle checks the merge trigger a few times a second
/// and merges when it holds; it stops at `bc_close`. Default 0 (merge only on `bc_merge`). Ignored
/// for read-only handles.
///
/// Returns `BC_OK`, or `BC_E_INVALID` for NULL `o`.
///
/// # Safety
/// `o` must be NULL or a live pointer from `bc_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_auto_merge(o: *mut bc_options, on: c_int) -> c_int {
    boundary("bc_options_set_auto_merge", || {
        as_options(o)?.auto_merge(on != 0);
        Ok(BC_OK)
    })
}

/// `on` non-zero (the default): appends go through a writable memory map of the active data file,
/// over disk space reserved ahead with `fallocate` (a put then costs a copy into the page cache,
/// not a `write` system call). Used only on ext4, XFS and tmpfs, where reserved space cannot run
/// out when the pages are written back; on other file systems, or with `on` 0, appends use
/// `pwrite`. Durability is the same either way. While the store is open its active file is
/// longer on disk than its records by the reserved space (up to 8 MiB), cut at close.
///
/// Returns `BC_OK`, or `BC_E_INVALID` for NULL `o`.
///
/// # Safety
/// `o` must be NULL or a live pointer from `bc_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_mmap_writes(o: *mut bc_options, on: c_int) -> c_int {
    boundary("bc_options_set_mmap_writes", || {
        as_options(o)?.mmap_writes(on != 0);
        Ok(BC_OK)
    })
}

/// `on` non-zero (the default): hint files are written compact, one bit per record of their data
/// file instead of every key (for 16-byte keys and 100-byte values a merged store takes about a
/// fifth less disk: 1.10x its raw keys and values instead of 1.35x). An open then walks the data
/// file's record headers instead of reading keys from the hint, so a compact hint is written only
/// for a file whose records are mostly (3/4) live entries, such as a merge's output. With `on` 0
/// every hint lists its keys: with a cold page cache a store of small values reopens faster.
/// Either kind is read whatever this says; it decides only what is written.
///
/// Returns `BC_OK`, or `BC_E_INVALID` for NULL `o`.
///
/// # Safety
/// `o` must be NULL or a live pointer from `bc_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_compact_hints(o: *mut bc_options, on: c_int) -> c_int {
    boundary("bc_options_set_compact_hints", || {
        as_options(o)?.compact_hints(on != 0);
        Ok(BC_OK)
    })
}

/// How many keys the store is expected to hold: 0 (the default, no expectation) ..= 4294967296.
/// The open sizes the in-memory index for that many keys up front (about 9 bytes of memory per
/// expected key, touched as keys arrive), so filling the store never pauses to grow and rehash
/// the index: what Kyoto Cabinet's `bnum` and Tkrzw's `num_buckets` do. A store that opens with
/// more keys than this is sized for the keys it has; one that ends up with more grows as usual.
/// Do not overstate it by much: on Linux the index lives in 2 MiB transparent huge pages, so a
/// few thousand keys scattered over an index sized for billions make most of it resident.
///
/// Returns `BC_OK`, or `BC_E_INVALID` for NULL `o` or a count above 4294967296.
///
/// # Safety
/// `o` must be NULL or a live pointer from `bc_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_expected_keys(o: *mut bc_options, keys: u64) -> c_int {
    boundary("bc_options_set_expected_keys", || {
        as_options(o)?.expected_keys(keys)?;
        Ok(BC_OK)
    })
}

/// Store-wide expiry: every key reads as absent `secs` seconds (at least, and less than `secs + 1`)
/// after it was written (judged by
/// the write time stored in its record, so it holds across reopens), and merge drops it. 0 (the
/// default) means never. A per-key TTL from `bc_put_ttl` that ends sooner wins.
///
/// Returns `BC_OK`, or `BC_E_INVALID` for NULL `o`.
///
/// # Safety
/// `o` must be NULL or a live pointer from `bc_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_options_set_expiry_secs(o: *mut bc_options, secs: u32) -> c_int {
    boundary("bc_options_set_expiry_secs", || {
        as_options(o)?.expiry_secs(secs);
        Ok(BC_OK)
    })
}
