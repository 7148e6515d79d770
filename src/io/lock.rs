//! The store's write lock: an exclusive `flock` on `<dir>/LOCK` (`File::try_lock`).
//!
//! `flock` locks belong to the open file description, so they die with the process (a crash leaves
//! no stale lock, unlike basho's PID files) and a second `open` of the same store inside one
//! process conflicts just like one from another process.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::format::LOCK_FILE;

/// Held for the life of a read-write handle; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct DirLock {
    file: File,
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Closing our descriptor is not enough: a child forked while the store was open shares
        // the open file description, and the flock lives as long as any copy. Unlock explicitly.
        let _ = self.file.unlock();
    }
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("open lock file", path.clone(), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(Error::Locked { path }),
            Err(TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
        }
        // The holder's pid is informational only (for an operator wondering who holds it); the
        // lock itself is the flock, so a failure to record it is not an error.
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", std::process::id());
        Ok(DirLock { file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_in_same_process_fails_until_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }
}
