//! Open-time configuration of a store.

use std::time::Duration;

use crate::error::{Error, Result};
pub use crate::format::{
    MAX_FILE_SIZE_LIMIT, MAX_KEY_SIZE_LIMIT, MAX_VALUE_SIZE_LIMIT, MIN_FILE_SIZE,
};

/// When appended records are forced to stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// Never fsync on a write. A write that returned is in the operating system's page cache, so it
    /// survives the process being killed, but not a power loss or kernel crash.
    None,
    /// fdatasync before a write returns. Concurrent writers share one fsync (group commit):
    /// with several writers, the thread about to run the fsync first waits, for at most half
    /// the last fsync's duration, until as many writers have written as the last fsync found
    /// waiting. A lone writer never waits.
    Always,
    /// A background thread fdatasyncs the active file at this interval when it has unsynced data.
    Interval(Duration),
}

/// When the background thread merges on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergeTrigger {
    /// Merge when dead bytes are at least this percentage of the sealed files' record bytes.
    pub fragmentation_percent: u32,
    /// ... or when the sealed files hold at least this many dead bytes.
    pub dead_bytes: u64,
}

impl Default for MergeTrigger {
    /// 60% fragmentation or 512 MiB dead, as Basho's bitcask.
    fn default() -> Self {
        MergeTrigger {
            fragmentation_percent: 60,
            dead_bytes: 512 << 20,
        }
    }
}

impl MergeTrigger {
    /// Whether sealed files with these live and dead byte counts need a merge.
    pub fn holds(&self, sealed_live: u64, sealed_dead: u64) -> bool {
        if sealed_dead == 0 {
            return false;
        }
        let total = sealed_live + sealed_dead;
        sealed_dead >= self.dead_bytes
            || sealed_dead * 100 >= u64::from(self.fragmentation_percent) * total
    }
}

/// Largest allowed `expected_keys`: the keydir's tables are sized with 32-bit arithmetic.
pub const MAX_EXPECTED_KEYS: u64 = 1 << 32;

/// Configuration for [`Bitcask::open`](crate::Bitcask::open). Build with [`Options::default`] and the
/// setters, which validate their argument.
///
/// Defaults: `max_file_size` 256 MiB, sync [`SyncMode::None`], read-write, `create_if_missing`
/// on, `max_key_size` 64 KiB, `max_value_size` 64 MiB, `max_open_files` 64, auto-merge off,
/// merge trigger 60% fragmentation or 512 MiB dead, mmap writes and compact hints on, no expected
/// key count.
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) max_file_size: u64,
    pub(crate) sync: SyncMode,
    pub(crate) read_only: bool,
    pub(crate) create_if_missing: bool,
    pub(crate) max_key_size: u32,
    pub(crate) max_value_size: u64,
    pub(crate) max_open_files: usize,
    pub(crate) merge_trigger: MergeTrigger,
    pub(crate) auto_merge: bool,
    pub(crate) expiry_secs: u32,
    pub(crate) mmap_writes: bool,
    pub(crate) compact_hints: bool,
    pub(crate) expected_keys: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_file_size: 256 << 20,
            sync: SyncMode::None,
            read_only: false,
            create_if_missing: true,
            max_key_size: 64 << 10,
            max_value_size: 64 << 20,
            max_open_files: 64,
            merge_trigger: MergeTrigger::default(),
            auto_merge: false,
            expiry_secs: 0,
            mmap_writes: true,
            compact_hints: true,
            expected_keys: 0,
        }
    }
}

impl Options {
    /// New options with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Size at which the active data file is sealed and a new one started. A record larger than
    /// this still gets written, alone in its own file.
    pub fn max_file_size(&mut self, bytes: u64) -> Result<&mut Self> {
        if !(MIN_FILE_SIZE..=MAX_FILE_SIZE_LIMIT).contains(&bytes) {
            return Err(Error::invalid(format!(
                "max_file_size {bytes} is outside {MIN_FILE_SIZE}..={MAX_FILE_SIZE_LIMIT}"
            )));
        }
        self.max_file_size = bytes;
        Ok(self)
    }

    /// When writes reach stable storage. An interval must be at least 1 ms.
    pub fn sync(&mut self, mode: SyncMode) -> Result<&mut Self> {
        if let SyncMode::Interval(d) = mode
            && d < Duration::from_millis(1)
        {
            return Err(Error::invalid("sync interval must be at least 1 ms"));
        }
        self.sync = mode;
        Ok(self)
    }

    /// Open without the write lock: reads see the store as of the open, writes fail.
    pub fn read_only(&mut self, on: bool) -> &mut Self {
        self.read_only = on;
        self
    }

    /// Append through a writable memory map of the active file (on by default): a put then
    /// costs a copy into the page cache instead of a `write` system call. Used only on
    /// filesystems where space reserved with `fallocate` cannot run out at write-back (ext4,
    /// XFS, tmpfs); elsewhere, or when off, appends use `pwrite`. Durability is the same either
    /// way: the bytes are in the page cache when the put returns, and syncs flush them.
    pub fn mmap_writes(&mut self, on: bool) -> &mut Self {
        self.mmap_writes = on;
        self
    }

    /// Write compact hint files (on by default): one bit per record instead of every key, so a
    /// merged store of small values takes about a fifth less disk (for 16-byte keys and
    /// 100-byte values, 30 bytes per key less). An open then walks the data file's record
    /// headers instead of reading keys from the hint, so a compact hint is written only for a
    /// file whose records are mostly (3/4) live entries, such as a merge's output; a file full
    /// of overwritten records gets a hint with keys either way. With a cold page cache a
    /// store of small values reopens faster with hints that carry keys (off). Either kind of
    /// hint is read whatever this says; it decides only what is written.
    pub fn compact_hints(&mut self, on: bool) -> &mut Self {
        self.compact_hints = on;
        self
    }

    /// How many keys the store is expected to hold (0, the default: no expectation). The open
    /// sizes the keydir's slot tables for that many keys up front (about 9 bytes per expected
    /// key, touched as keys arrive), so filling the store never stops to grow and rehash a table:
    /// what Kyoto Cabinet's `bnum` and Tkrzw's `num_buckets` do for their hash files. A store
    /// that opens with more keys than this is sized for the keys it has; a store that ends up
    /// with more grows as usual. At most [`MAX_EXPECTED_KEYS`]. Do not overstate it by much: on
    /// Linux the tables live in 2 MiB transparent huge pages, so a few thousand keys scattered
    /// over tables sized for billions make most of them resident.
    pub fn expected_keys(&mut self, keys: u64) -> Result<&mut Self> {
        if keys > MAX_EXPECTED_KEYS {
            return Err(Error::invalid(format!(
                "expected_keys {keys} is above {MAX_EXPECTED_KEYS}"
            )));
        }
        self.expected_keys = keys;
        Ok(self)
    }

    /// Create the directory (one level) when it does not exist. On by default.
    pub fn create_if_missing(&mut self, on: bool) -> &mut Self {
        self.create_if_missing = on;
        self
    }

    /// Largest accepted key, 1 ..= 1 MiB.
    pub fn max_key_size(&mut self, bytes: u32) -> Result<&mut Self> {
        if bytes == 0 || bytes > MAX_KEY_SIZE_LIMIT {
            return Err(Error::invalid(format!(
                "max_key_size {bytes} is outside 1..={MAX_KEY_SIZE_LIMIT}"
            )));
        }
        self.max_key_size = bytes;
        Ok(self)
    }

    /// Largest accepted value, 0 ..= 3 GiB.
    pub fn max_value_size(&mut self, bytes: u64) -> Result<&mut Self> {
        if bytes > MAX_VALUE_SIZE_LIMIT {
            return Err(Error::invalid(format!(
                "max_value_size {bytes} is above the format's limit of {MAX_VALUE_SIZE_LIMIT}"
            )));
        }
        self.max_value_size = bytes;
        Ok(self)
    }

    /// How many data files may be open for reading at once (at least 1). Files beyond this are
    /// closed least-recently-used first and reopened on demand.
    pub fn max_open_files(&mut self, files: usize) -> Result<&mut Self> {
        if files == 0 || files > 1 << 20 {
            return Err(Error::invalid(format!(
                "max_open_files {files} is outside 1..={}",
                1 << 20
            )));
        }
        self.max_open_files = files;
        Ok(self)
    }

    /// When the background thread merges (with [`Options::auto_merge`]): when dead bytes reach
    /// `fragmentation_percent` of the sealed files' record bytes, or `dead_bytes` in all.
    /// Default 60% or 512 MiB. A percentage above 100 is invalid.
    pub fn merge_trigger(&mut self, trigger: MergeTrigger) -> Result<&mut Self> {
        if trigger.fragmentation_percent > 100 {
            return Err(Error::invalid(format!(
                "fragmentation_percent {} is above 100",
                trigger.fragmentation_percent
            )));
        }
        self.merge_trigger = trigger;
        Ok(self)
    }

    /// Merge in the background whenever the merge trigger holds. Off by default.
    pub fn auto_merge(&mut self, on: bool) -> &mut Self {
        self.auto_merge = on;
        self
    }

    /// Store-wide expiry: every key reads as absent `secs` seconds after it was written (by its
    /// record's timestamp, so also across reopens). 0 (the default) = never. A per-key TTL that
    /// ends sooner wins.
    pub fn expiry_secs(&mut self, secs: u32) -> &mut Self {
        self.expiry_secs = secs;
        self
    }

    /// When a key written at `timestamp` whose record carries `record_expiry` (0 = none)
    /// expires under these options; 0 = never.
    pub(crate) fn expires_at(&self, timestamp: u32, record_expiry: u32) -> u32 {
        let store_wide = if self.expiry_secs == 0 {
            0
        } else {
            // The write time is truncated to the second: + 1 so a key lives at least `secs`.
            timestamp.saturating_add(self.expiry_secs).saturating_add(1)
        };
        match (record_expiry, store_wide) {
            (0, e) | (e, 0) => e,
            (a, b) => a.min(b),
        }
    }

    /// The configured sync mode.
    pub fn sync_mode(&self) -> SyncMode {
        self.sync
    }

    /// Whether the store will be opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_reject_out_of_range_values() {
        let mut o = Options::default();
        assert!(o.max_file_size(MIN_FILE_SIZE - 1).is_err());
        assert!(o.max_file_size(MAX_FILE_SIZE_LIMIT + 1).is_err());
        assert!(o.max_file_size(4096).is_ok());
        assert!(o.max_key_size(0).is_err());
        assert!(o.max_key_size(MAX_KEY_SIZE_LIMIT + 1).is_err());
        assert!(o.max_value_size(MAX_VALUE_SIZE_LIMIT + 1).is_err());
        assert!(o.max_value_size(0).is_ok());
        assert!(o.sync(SyncMode::Interval(Duration::ZERO)).is_err());
        assert!(o.max_open_files(0).is_err());
        assert!(o.expected_keys(MAX_EXPECTED_KEYS + 1).is_err());
        assert!(o.expected_keys(MAX_EXPECTED_KEYS).is_ok());
        assert_eq!(o.expected_keys, MAX_EXPECTED_KEYS);
        assert_eq!(o.max_file_size, 4096);
        assert_eq!(o.max_value_size, 0);
    }

    #[test]
    fn defaults_allow_64k_keys_and_64m_values() {
        let o = Options::default();
        assert!(o.max_key_size >= 64 << 10);
        assert!(o.max_value_size >= 64 << 20);
        assert!(o.create_if_missing);
        assert!(!o.read_only);
    }

    #[test]
    fn trigger_thresholds() {
        let t = MergeTrigger {
            fragmentation_percent: 60,
            dead_bytes: 1000,
        };
        assert!(!t.holds(100, 0));
        assert!(!t.holds(100, 149));
        assert!(t.holds(100, 150));
        assert!(t.holds(1_000_000, 1000));
        assert!(!t.holds(1_000_000, 999));
    }
}
