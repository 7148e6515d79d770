//! Durability: group commit for `SyncMode::Always`, the `SyncMode::Interval` thread, and
//! explicit syncs.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::options::SyncMode;

use super::*;

/// Group commit. `synced` is the `appended` position known durable; one thread at a time runs
/// an fsync, and everyone whose write it covers returns when it finishes.
///
/// Without more, groups stay small when writers write in a loop: the writers an fsync covers
/// return, write again while the next fsync already runs for the writers that arrived meanwhile,
/// and so wait for the one after. Writers then split into two alternating half-groups. So the
/// thread about to run an fsync first *gathers*:
/// it waits until as many writers have appended as were waiting when the last fsync ended
/// (`concurrency`), for at most half the last fsync's duration (a writer that stopped writing
/// costs that wait once: the next fsync's end counts one writer fewer). This is
/// the adaptive form of PostgreSQL's `commit_delay`/`commit_siblings` and MySQL's
/// `binlog_group_commit_sync_delay`. A lone writer never waits. Measurements and the
/// alternatives tried: bench/DECISIONS.md, "Group commit".
pub(super) struct SyncState {
    pub(super) progress: Mutex<SyncProgress>,
    pub(super) done: Condvar,
    /// Signalled when a writer arrives while the leader gathers.
    pub(super) arrived: Condvar,
}

pub(super) struct SyncProgress {
    pub(super) synced: u64,
    pub(super) running: bool,
    pub(super) fsyncs: u64,
    /// The position each writer now in `sync_upto` waits for (one entry per writer; few).
    pub(super) waiting: Vec<u64>,
    /// Writers that were in `sync_upto` when the last fsync finished: the group to gather.
    pub(super) concurrency: usize,
    /// How long the last fsync took: bounds the gathering wait.
    pub(super) last_fsync: Duration,
    /// A leader is waiting for `concurrency` writers to arrive.
    pub(super) gathering: bool,
    /// Gatherings that ended at their deadline rather than with the whole group.
    pub(super) gather_timeouts: u64,
}

impl SyncProgress {
    /// Writers in `sync_upto` whose writes no finished fsync covers yet.
    fn uncovered(&self) -> usize {
        self.waiting.iter().filter(|&&t| t > self.synced).count()
    }

    fn leave(&mut self, target: u64) {
        if let Some(i) = self.waiting.iter().position(|&t| t == target) {
            self.waiting.swap_remove(i);
        }
    }
}

/// The longest a leader gathers, whatever the fsync takes: a disk slow enough to need more is
/// slow enough that group size matters less than latency.
const MAX_GATHER: Duration = Duration::from_millis(5);

impl Bitcask {
    /// Forces every write acknowledged so far to stable storage, whatever the sync mode.
    pub fn sync(&self) -> Result<()> {
        let inner = &*self.inner;
        let appended = match &inner.write.lock().active {
            Some(active) => active.appended,
            None => return Ok(()),
        };
        inner.sync_upto(appended, false)
    }
}

impl Inner {
    pub(crate) fn after_write(&self, appended: u64) -> Result<()> {
        if self.opts.sync == SyncMode::Always {
            self.sync_upto(appended, true)
        } else {
            Ok(())
        }
    }

    /// Returns once everything appended up to `target` is durable. If an fsync is already
    /// running, waits for it and then runs one more if that one did not cover `target`: so every
    /// writer that arrived during an fsync shares the next one. A `writer` (a caller that just
    /// appended, as opposed to `sync()` or the interval thread) counts towards the group a
    /// leader gathers (see [`SyncState`]).
    fn sync_upto(&self, target: u64, writer: bool) -> Result<()> {
        let mut p = self.sync.progress.lock();
        if writer {
            p.waiting.push(target);
            if p.gathering {
                // Even before the group is complete: woken now and then, the leader's CPU is
                // less often idle when the last writer arrives, and a wake-up from idle costs
                // most (bench/DECISIONS.md, "Group commit").
                self.sync.arrived.notify_one();
            }
        }
        let result = self.sync_upto_locked(&mut p, target, writer);
        if writer {
            p.leave(target);
        }
        result
    }

    fn sync_upto_locked(
        &self,
        p: &mut MutexGuard<'_, SyncProgress>,
        target: u64,
        writer: bool,
    ) -> Result<()> {
        loop {
            if self.poisoned.load(Ordering::Acquire) {
                return Err(Error::Poisoned(self.poison_reason.lock().clone()));
            }
            if p.synced >= target {
                return Ok(());
            }
            if p.running {
                self.sync.done.wait(p);
                continue;
            }
            p.running = true;
            if writer && p.concurrency > 1 {
                let deadline = Instant::now() + (p.last_fsync / 2).min(MAX_GATHER);
                p.gathering = true;
                while p.uncovered() < p.concurrency {
                    if self.sync.arrived.wait_until(p, deadline).timed_out() {
                        p.gather_timeouts += 1;
                        break;
                    }
                }
                p.gathering = false;
            }
            let started = Instant::now();
            let (result, snapshot) = MutexGuard::unlocked(p, || {
                let snapshot = {
                    let w = self.write.lock();
                    w.active
                        .as_ref()
                        .map(|a| (Arc::clone(&a.file), a.id, a.appended))
                };
                let result = match &snapshot {
                    Some((file, id, _)) => self
                        .sync_data_file(file)
                        .map_err(|e| Error::io("sync data file", self.data_path(*id), e)),
                    None => Ok(()),
                };
                (result, snapshot)
            });
            if let Err(e) = &result {
                self.poison(e.to_string());
            }
            p.running = false;
            p.fsyncs += snapshot.is_some() as u64;
            p.last_fsync = started.elapsed();
            // Everyone still here, this leader included, wrote while this group formed: the
            // next leader waits for as many.
            p.concurrency = p.waiting.len().max(1);
            if let (Ok(()), Some((_, _, appended))) = (&result, &snapshot) {
                p.synced = p.synced.max(*appended);
            }
            self.sync.done.notify_all();
            result?;
            if snapshot.is_none() {
                return Ok(());
            }
        }
    }

    /// fdatasync of a data file being written.
    pub(super) fn sync_data_file(&self, file: &File) -> io::Result<()> {
        #[cfg(any(test, feature = "test-hooks"))]
        self.hooks.before_sync()?;
        file.sync_data()
    }

    /// Body of the `SyncMode::Interval` thread.
    pub(super) fn flush_every(&self, every: Duration) {
        let mut stop = self.shutdown.lock();
        while !*stop {
            self.shutdown_cv.wait_for(&mut stop, every);
            if *stop {
                break;
            }
            drop(stop);
            let appended = self.write.lock().active.as_ref().map_or(0, |a| a.appended);
            let synced = self.sync.progress.lock().synced;
            if appended > synced {
                // A failure poisons the handle; writers report it.
                let _ = self.sync_upto(appended, false);
            }
            stop = self.shutdown.lock();
        }
    }
}
