//! Hooks for this crate's own tests, compiled only with the `test-hooks` feature (which the
//! tests turn on): fault injection and slow disks for fsync, and the positions and counters
//! crash and group-commit tests check. Not part of the shipped library.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::engine::Bitcask;
use crate::format::FILE_HEADER_LEN;

/// What the hooks below have asked of the handle's data-file fsyncs.
#[derive(Default)]
pub(crate) struct Hooks {
    /// The next data-file fsync fails.
    fail_next_sync: AtomicBool,
    /// Microseconds added to every data-file fsync.
    sync_delay_us: AtomicU64,
}

impl Hooks {
    /// Runs before each data-file fsync: fails it once on request, or slows it down.
    pub(crate) fn before_sync(&self) -> io::Result<()> {
        if self.fail_next_sync.swap(false, Ordering::AcqRel) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        let delay = self.sync_delay_us.load(Ordering::Relaxed);
        if delay > 0 {
            std::thread::sleep(Duration::from_micros(delay));
        }
        Ok(())
    }
}

impl Bitcask {
    /// The active data file's id and how many of its bytes are known durable (fsynced): every
    /// sealed file is wholly durable, so this is the store's whole durable state. None on a
    /// read-only handle. For crash tests that simulate power loss by cutting the active file
    /// back to this length; not a stable API.
    pub fn durable_position(&self) -> Option<(u32, u64)> {
        let inner = &*self.inner;
        let w = inner.write.lock();
        let active = w.active.as_ref()?;
        let synced = inner.sync.progress.lock().synced;
        // Rotation syncs the sealed file, so `synced` never lags behind this file's start.
        let unsynced = active.appended.saturating_sub(synced);
        Some((
            active.id,
            active
                .len
                .saturating_sub(unsynced)
                .max(FILE_HEADER_LEN as u64),
        ))
    }

    /// Makes the next fsync of a data file by this handle fail with EIO, as a failing disk would,
    /// so tests can check that the handle poisons itself. Not a stable API.
    pub fn fail_next_sync(&self) {
        self.inner
            .hooks
            .fail_next_sync
            .store(true, Ordering::Release);
    }

    /// Makes every data-file fsync by this handle take `extra` longer, as a slow disk would, so
    /// tests of group commit do not depend on how fast this machine's fsync is. Not a stable API.
    pub fn delay_syncs(&self, extra: Duration) {
        let micros = u64::try_from(extra.as_micros()).unwrap_or(u64::MAX);
        self.inner
            .hooks
            .sync_delay_us
            .store(micros, Ordering::Relaxed);
    }

    /// How many times a group-commit leader stopped waiting for the writers it expected (see
    /// `SyncState`). For tests; not a stable API.
    pub fn gather_timeouts(&self) -> u64 {
        self.inner.sync.progress.lock().gather_timeouts
    }

    /// The active data file's id and where its records end (the next append's offset); the
    /// file itself may be longer by space reserved ahead. None on a read-only handle. For crash
    /// tests; not a stable API.
    pub fn append_position(&self) -> Option<(u32, u64)> {
        let w = self.inner.write.lock();
        w.active.as_ref().map(|a| (a.id, a.len))
    }

    /// Makes every clock read of this process (record timestamps, expiry times, expiry checks)
    /// return `secs`; 0 restores the real clock. Process-wide: for a test binary of its own.
    pub fn pin_clock(secs: u32) {
        crate::io::clock::pin(secs);
    }
}
