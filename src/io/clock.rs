//! The clock records carry: whole seconds since the Unix epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// A second every clock read returns instead of the real one (0: the real clock). Set only by
/// the test hook `Bitcask::pin_clock`, so tests can write byte-for-byte reproducible files.
#[cfg(any(test, feature = "test-hooks"))]
static PINNED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Makes every clock read of this process return `secs` (0 restores the real clock).
#[cfg(any(test, feature = "test-hooks"))]
pub(crate) fn pin(secs: u32) {
    PINNED.store(secs, std::sync::atomic::Ordering::Relaxed);
}

/// Seconds since the Unix epoch, from the coarse real-time clock: records carry whole seconds,
/// and the coarse clock (updated every tick, a few ms) is read without touching the clock
/// hardware, which on some virtual machines made the precise one a tenth of a put.
pub(crate) fn now_secs() -> u32 {
    #[cfg(any(test, feature = "test-hooks"))]
    {
        let pinned = PINNED.load(std::sync::atomic::Ordering::Relaxed);
        if pinned != 0 {
            return pinned;
        }
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the one timespec it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    if rc == 0 && ts.tv_sec >= 0 {
        return ts.tv_sec.min(u32::MAX as libc::time_t) as u32;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().min(u32::MAX as u64) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_clock_tells_wall_clock_seconds() {
        // Records carry these seconds and TTLs are judged by them: they must be the real-time
        // clock's (a coarse one lags by at most a tick), not, say, seconds since boot.
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let coarse = now_secs() as u64;
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(
            before.saturating_sub(1) <= coarse && coarse <= after,
            "{before} {coarse} {after}"
        );
    }
}
