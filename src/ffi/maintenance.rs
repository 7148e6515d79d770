//! Merge and counters of a `bc_db` (the header's section "merge and maintenance").

use std::ffi::c_int;

use super::cast::try_ref_from_ptr;
use super::db::bc_db;
use super::{BC_OK, ffi_boundary, out_arg};
use crate::Stats;

/// Counters of a store, filled by bc_stats_get. New fields are only ever added at the end.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct bc_stats {
    /// Live keys.
    pub keys: u64,
    /// Data files in the store directory.
    pub data_files: u64,
    /// Bytes of all data files up to their last record, headers included. Not counted: the space
    /// reserved ahead of appends, by which the active file is longer on disk while the store is
    /// open (up to 8 MiB, cut at close).
    pub total_bytes: u64,
    /// Bytes of the records holding the current value of each live key.
    pub live_bytes: u64,
    /// Bytes a merge can reclaim: overwritten and deleted values, and tombstones.
    pub dead_bytes: u64,
    /// Damaged records skipped when the store was opened (never served to readers).
    pub corrupt_records: u64,
    /// Bytes occupied by those damaged records.
    pub corrupt_bytes: u64,
    /// Bytes of torn tail (a write cut short by a crash) removed from the last data file at open.
    pub truncated_bytes: u64,
    /// fsyncs of data files run by this handle. Under BC_SYNC_ALWAYS with concurrent writers it
    /// stays below the number of writes: they share fsyncs (group commit).
    pub syncs: u64,
    /// Live bytes of the sealed (immutable) files: what a merge would copy.
    pub sealed_live_bytes: u64,
    /// Dead bytes of the sealed files: what a merge would reclaim. The auto-merge trigger compares
    /// these two.
    pub sealed_dead_bytes: u64,
    /// Merges completed by this handle (by bc_merge or in the background).
    pub merges: u64,
    /// Bytes of data files removed by this handle's merges, minus the bytes they wrote.
    pub reclaimed_bytes: u64,
    /// At open: data files whose index came from their hint file (no value was read)...
    pub hint_files_loaded: u64,
    /// ...and data files that had to be scanned (no valid hint).
    pub data_files_scanned: u64,
    /// Merges that did not finish and cannot be: the merge record names output files that are
    /// missing or damaged (a copy or restore of the directory that missed files, files deleted
    /// by hand). Nothing such a record names is deleted: its input files are kept and served,
    /// and no new file takes an id it names. Nonzero means files are missing from the store
    /// directory; the command bitcask verify names them. The next merge rewrites the files and
    /// retires the records, bringing this back to 0.
    pub incomplete_merges: u64,
}

/// Every engine counter, each by name: both lists are spelled out in full (no `..`), so a field
/// added to `Stats` without its `bc_stats` twin, or the reverse, fails to compile instead of
/// reading as a silent 0.
impl From<Stats> for bc_stats {
    fn from(stats: Stats) -> Self {
        let Stats {
            keys,
            data_files,
            total_bytes,
            live_bytes,
            dead_bytes,
            corrupt_records,
            corrupt_bytes,
            truncated_bytes,
            syncs,
            sealed_live_bytes,
            sealed_dead_bytes,
            merges,
            reclaimed_bytes,
            hint_files_loaded,
            data_files_scanned,
            incomplete_merges,
        } = stats;
        bc_stats {
            keys,
            data_files,
            total_bytes,
            live_bytes,
            dead_bytes,
            corrupt_records,
            corrupt_bytes,
            truncated_bytes,
            syncs,
            sealed_live_bytes,
            sealed_dead_bytes,
            merges,
            reclaimed_bytes,
            hint_files_loaded,
            data_files_scanned,
            incomplete_merges,
        }
    }
}

/// ==== MERGE AND MAINTENANCE =====================================================================
/// Overwrites and deletes leave dead bytes in the data files until a merge rewrites them
/// (bc_merge, or automatically with bc_options_set_auto_merge); bc_stats_get shows how much a
/// merge would reclaim. bc_sync (section WRITING) forces writes to stable storage.
/// ================================================================================================
///
/// Compacts the store: seals the active file, rewrites the live records of every sealed file into
/// new files (each with a hint file), publishes them atomically and deletes the old files as soon
/// as no fold that started before still reads them. Returns when the merged files are published.
///
/// Readers and writers on this handle (any thread) keep working during the merge; writers wait at
/// most for brief swaps. A write made while the merge runs always wins over the merged copy.
/// Deleted keys stay deleted. Killed at any moment, the store reopens with exactly its data. One
/// merge runs at a time per handle; a second call waits for the first.
///
/// @param[in] db  a live handle from bc_open (NULL gives BC_E_INVALID).
/// @return BC_OK, or:
///   - BC_E_INVALID: NULL db;
///   - BC_E_READ_ONLY: the handle was opened read-only;
///   - BC_E_IO: the merge failed, for example the disk is full; the store is exactly as it was,
///     and the message says why.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_merge(db: *mut bc_db) -> c_int {
    ffi_boundary!({
        try_ref_from_ptr!(db).merge()?;
        Ok(BC_OK)
    })
}

/// Reads the store's current counters, which are kept in memory (no disk access).
///
/// @param[in]  db   a live handle from bc_open (NULL gives BC_E_INVALID).
/// @param[out] out  a caller-owned bc_stats, filled on BC_OK and zeroed on failure.
/// @return BC_OK, or BC_E_INVALID for NULL db or out.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bc_stats_get(db: *mut bc_db, out: *mut bc_stats) -> c_int {
    ffi_boundary!({
        // SAFETY: `out` is NULL or writable per the contract; zeroed so a failure leaves no stale
        // data.
        let out = unsafe { out_arg(out, "out", bc_stats::default()) }?;
        *out = try_ref_from_ptr!(db).stats().into();
        Ok(BC_OK)
    })
}
