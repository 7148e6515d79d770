//! Work that runs beside the callers: the background thread (hints of sealed files, the expiry
//! sweep, auto-merge), and the pins that keep a merge's retired files until no fold reads them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::engine::{Bitcask, Inner};
use crate::io::clock::now_secs;
use crate::io::fs::sync_dir;
use crate::keydir::Loc;
use crate::log::merge_records::{delete_files, remove_if_present};

/// Folds in progress and the files waiting for them to finish.
#[derive(Default)]
pub(crate) struct Pins {
    /// Increments at every merge publish.
    epoch: u64,
    /// Running folds by the epoch they started in.
    running: BTreeMap<u64, usize>,
    /// Retired files: (publish epoch, data file ids, commit record path).
    retired: Vec<(u64, Vec<u32>, PathBuf)>,
}

/// Keeps the files a fold's snapshot points into from being deleted while it runs.
pub(crate) struct Pin {
    inner: Arc<Inner>,
    epoch: u64,
}

impl Drop for Pin {
    fn drop(&mut self) {
        {
            let mut pins = self.inner.pins.lock();
            if let Some(n) = pins.running.get_mut(&self.epoch) {
                *n -= 1;
                if *n == 0 {
                    pins.running.remove(&self.epoch);
                }
            }
        }
        self.inner.reap();
    }
}

impl Inner {
    /// Registers a running fold; see [`Pins`].
    pub(crate) fn pin(self: &Arc<Self>) -> Pin {
        let mut pins = self.pins.lock();
        let epoch = pins.epoch;
        *pins.running.entry(epoch).or_insert(0) += 1;
        Pin {
            inner: Arc::clone(self),
            epoch,
        }
    }

    pub(super) fn retire(&self, ids: Vec<u32>, marker: PathBuf) {
        {
            let mut pins = self.pins.lock();
            pins.epoch += 1;
            let epoch = pins.epoch;
            pins.retired.push((epoch, ids, marker));
        }
        self.reap();
    }

    /// Deletes retired files no running fold can still read.
    pub(crate) fn reap(&self) {
        let mut pins = self.pins.lock();
        let oldest_running = pins.running.keys().next().copied();
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut pins.retired)
            .into_iter()
            .partition(|(epoch, _, _)| oldest_running.is_none_or(|oldest| oldest >= *epoch));
        pins.retired = waiting;
        let mut ready = ready.into_iter();
        while let Some((epoch, ids, marker)) = ready.next() {
            for &id in &ids {
                self.files.forget(id);
            }
            // The deletions must be durable before the record of what to delete goes.
            let deleted = delete_files(&self.dir, &ids).is_ok() && sync_dir(&self.dir).is_ok();
            if deleted && remove_if_present(&marker).is_ok() {
                continue;
            }
            // Retried at the next reap, and finished from the record by the next open. Later
            // merges wait: one may have merged this one's outputs, and deleting those while this
            // record stays would leave it naming missing outputs, so its remaining inputs would
            // be served again.
            let mut back: Vec<_> = std::iter::once((epoch, ids, marker)).chain(ready).collect();
            back.append(&mut pins.retired);
            pins.retired = back;
            break;
        }
    }
    /// Body of the background thread: hints for sealed files, sweeps of expired keys, and
    /// merges when the trigger holds.
    pub(crate) fn background(&self) {
        let tick = std::time::Duration::from_millis(200);
        let mut last_sweep = std::time::Instant::now();
        let mut state = self.bg.lock();
        loop {
            if let Some(id) = state.hints.pop_front() {
                drop(state);
                self.write_hint(id);
                state = self.bg.lock();
                continue;
            }
            if state.stop {
                return;
            }
            let sweeping = self.expiring.load(std::sync::atomic::Ordering::Relaxed);
            if !self.opts.auto_merge && !sweeping {
                self.bg_cv.wait(&mut state);
                continue;
            }
            self.bg_cv.wait_for(&mut state, tick);
            if state.stop || !state.hints.is_empty() {
                continue;
            }
            drop(state);
            // A sweep is a pass over the whole index: about once a second, less often for
            // very large stores.
            let sweep_every =
                std::time::Duration::from_secs(1 + self.keydir.len() as u64 / 1_000_000);
            if sweeping && last_sweep.elapsed() >= sweep_every {
                self.sweep_expired();
                last_sweep = std::time::Instant::now();
            }
            if self.opts.auto_merge && self.merge_due() {
                // A failed merge changes nothing; it is retried at the next check.
                let _ = self.merge();
            }
            state = self.bg.lock();
        }
    }

    pub(super) fn merge_due(&self) -> bool {
        let w = self.write.lock();
        let active = w.active.as_ref().map(|a| a.id).or_else(|| {
            // Read-only: the newest file in log order is the one a writer would append to.
            w.files
                .iter()
                .max_by_key(|(id, m)| (m.order, **id))
                .map(|(id, _)| *id)
        });
        let (live, dead) = w
            .files
            .iter()
            .filter(|(id, _)| Some(**id) != active)
            .fold((0, 0), |(l, d), (_, m)| (l + m.live, d + m.dead()));
        self.opts.merge_trigger.holds(live, dead)
    }

    fn write_hint(&self, id: u32) {
        let _maint = self.maint.lock();
        let order = self.write.lock().files.get(&id).map(|m| m.order);
        // Gone means a merge retired it; a failure only costs a scan at the next open.
        if let Some(order) = order {
            let _ = crate::log::recovery::build_hint(&self.dir, id, order, self.opts.compact_hints);
        }
    }

    /// Removes expired keys from the keydir so their bytes count as dead (and merge reclaims
    /// them). Reads already ignore them; this only settles the accounting.
    pub(crate) fn sweep_expired(&self) -> usize {
        let mut w = self.write.lock();
        let now = now_secs();
        let mut expired: Vec<(Vec<u8>, Loc)> = Vec::new();
        self.keydir.for_each(|key, loc| {
            if loc.expired_at(now) {
                expired.push((key.to_vec(), loc));
            }
        });
        for (key, loc) in &expired {
            // Writes are excluded, so the entry is still the one seen above.
            if self.keydir.remove(key).is_some()
                && let Some(f) = w.files.get_mut(&loc.file_id)
            {
                f.live -= loc.len as u64;
            }
        }
        expired.len()
    }
}

impl Bitcask {
    /// Removes expired keys from the index now, so their bytes show as dead in [`Bitcask::stats`]
    /// (the background thread does this about once a second). Returns how many it removed.
    pub fn sweep_expired(&self) -> usize {
        self.inner.sweep_expired()
    }
}
