//! Atomic batches, ordered scans, the pull iterator and the sweep of expired keys.

use std::ops::ControlFlow;
use std::sync::Arc;

use crate::db::{Bitcask, Inner, Op};
use crate::error::{Error, Result};
use crate::format::{self, FLAG_BATCH, FLAG_BATCH_END, FLAG_TOMBSTONE};
use crate::io::clock::now_secs;
use crate::keydir::Loc;
use crate::merge::Pin;
use crate::options::{MAX_KEY_SIZE_LIMIT, MAX_VALUE_SIZE_LIMIT};

/// Puts and deletes applied all together or not at all by [`Bitcask::write`]. Reusable after
/// [`Batch::clear`]. Not shared between threads (it is `Send`, not `Sync`-shared mutably).
#[derive(Clone, Debug, Default)]
pub struct Batch {
    data: Vec<u8>,
    /// (is delete, key end, value end) into `data`; each op starts where the previous ended.
    ops: Vec<(bool, usize, usize)>,
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put. Checks what can be checked without a store (the format's limits); the store's
    /// own limits are checked by [`Bitcask::write`].
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        check_format_limits(key, value)?;
        self.data.extend_from_slice(key);
        let key_end = self.data.len();
        self.data.extend_from_slice(value);
        self.ops.push((false, key_end, self.data.len()));
        Ok(())
    }

    /// Adds a delete (a tombstone is written whether or not the key exists).
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        check_format_limits(key, &[])?;
        self.data.extend_from_slice(key);
        let end = self.data.len();
        self.ops.push((true, end, end));
        Ok(())
    }

    /// Removes every operation, keeping the memory for reuse.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ops.clear();
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// (is delete, key, value) in insertion order.
    fn iter(&self) -> impl Iterator<Item = (bool, &[u8], &[u8])> {
        let mut start = 0;
        self.ops.iter().map(move |&(delete, key_end, value_end)| {
            let op = (
                delete,
                &self.data[start..key_end],
                &self.data[key_end..value_end],
            );
            start = value_end;
            op
        })
    }
}

fn check_format_limits(key: &[u8], value: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("key must not be empty"));
    }
    if key.len() > MAX_KEY_SIZE_LIMIT as usize {
        return Err(Error::TooLarge {
            what: "key",
            size: key.len() as u64,
            limit: MAX_KEY_SIZE_LIMIT as u64,
        });
    }
    if value.len() as u64 > MAX_VALUE_SIZE_LIMIT {
        return Err(Error::TooLarge {
            what: "value",
            size: value.len() as u64,
            limit: MAX_VALUE_SIZE_LIMIT,
        });
    }
    Ok(())
}

/// Keys and record locations copied from the keydir at one instant, sorted by key.
struct Snapshot {
    _pin: Pin,
    keys: Vec<u8>,
    /// (key end in `keys`, location), in ascending unsigned byte order of the keys.
    entries: Vec<(usize, Loc)>,
}

impl Snapshot {
    fn key(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.entries[i - 1].0 };
        &self.keys[start..self.entries[i].0]
    }
}

impl Inner {
    /// Copies the live keys that pass `wanted`, with writes excluded (so no half batch), pinning
    /// the files the copy points into; then sorts them outside the lock.
    fn snapshot(self: &Arc<Self>, wanted: impl Fn(&[u8]) -> bool) -> Snapshot {
        let mut keys = Vec::new();
        let mut unsorted: Vec<(usize, usize, Loc)> = Vec::new();
        let pin;
        {
            let _no_writes = self.write.lock();
            pin = self.pin();
            let now = now_secs();
            self.keydir.for_each(|key, loc| {
                if !loc.expired_at(now) && wanted(key) {
                    let start = keys.len();
                    keys.extend_from_slice(key);
                    unsorted.push((start, keys.len(), loc));
                }
            });
        }
        unsorted.sort_unstable_by(|a, b| keys[a.0..a.1].cmp(&keys[b.0..b.1]));
        let mut sorted_keys = Vec::with_capacity(keys.len());
        let entries = unsorted
            .into_iter()
            .map(|(start, end, loc)| {
                sorted_keys.extend_from_slice(&keys[start..end]);
                (sorted_keys.len(), loc)
            })
            .collect();
        Snapshot {
            _pin: pin,
            keys: sorted_keys,
            entries,
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
    /// Applies every put and delete of `batch` or none of them: one append, one fsync under
    /// `SyncMode::Always`, one atomic keydir update (no reader sees part of it), and after a crash
    /// at any byte of the write the batch is there whole or not at all.
    pub fn write(&self, batch: &Batch) -> Result<()> {
        let inner = &*self.inner;
        inner.check_writable()?;
        if batch.is_empty() {
            return Ok(());
        }
        for (_, key, value) in batch.iter() {
            inner.check_key(key)?;
            inner.check_value(value)?;
        }
        let now = now_secs();
        let expires = inner.opts.expires_at(now, 0);
        let mut records = Vec::new();
        let mut ops = Vec::with_capacity(batch.len());
        let last = batch.len() - 1;
        for (i, (delete, key, value)) in batch.iter().enumerate() {
            // The keydir misses of the batch's keys overlap with each other and with encoding.
            inner.keydir.prefetch(key);
            let mut flags = FLAG_BATCH;
            if i == last {
                flags |= FLAG_BATCH_END;
            }
            if delete {
                flags |= FLAG_TOMBSTONE;
            }
            let start = records.len();
            format::encode_record(&mut records, flags, now, 0, key, value);
            ops.push(Op {
                key,
                len: (records.len() - start) as u32,
                tombstone: delete,
                expires: if delete { 0 } else { expires },
            });
        }
        let appended = inner.append(&records, &ops, false)?;
        inner.after_write(appended.expect("a batch always appends"))
    }

    /// Calls `f(key, value)` for the live keys in `[start, end)` in ascending unsigned byte order
    /// (`None` leaves that side open), reading only those keys' values. The key set is fixed when
    /// the scan starts; `f` may call any method of this handle. Cost: one pass over the in-memory
    /// index (no disk), a sort of the matches, and one read per match.
    pub fn scan(
        &self,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
        f: impl FnMut(&[u8], &[u8]) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>> {
        let snapshot = self
            .inner
            .snapshot(|k| start.is_none_or(|s| k >= s) && end.is_none_or(|e| k < e));
        self.visit(&snapshot, f)
    }

    /// Calls `f(key, value)` for the live keys that start with `prefix`, in ascending order. Same
    /// rules and cost as [`Bitcask::scan`].
    pub fn scan_prefix(
        &self,
        prefix: &[u8],
        f: impl FnMut(&[u8], &[u8]) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>> {
        let snapshot = self.inner.snapshot(|k| k.starts_with(prefix));
        self.visit(&snapshot, f)
    }

    fn visit(
        &self,
        snapshot: &Snapshot,
        mut f: impl FnMut(&[u8], &[u8]) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>> {
        let mut buf = Vec::new();
        let mut first_damage = None;
        for (i, &(_, loc)) in snapshot.entries.iter().enumerate() {
            let key = snapshot.key(i);
            match self.inner.read_at(key, loc, &mut buf) {
                Ok(range) => {
                    if f(key, &buf[range]).is_break() {
                        return Ok(ControlFlow::Break(()));
                    }
                }
                Err(e @ Error::Corrupt { .. }) => {
                    first_damage.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        match first_damage {
            Some(e) => Err(e),
            None => Ok(ControlFlow::Continue(())),
        }
    }

    /// A pull iterator over a snapshot of the live keys, in ascending key order.
    pub fn iter(&self) -> Iter {
        Iter {
            inner: Arc::clone(&self.inner),
            snapshot: self.inner.snapshot(|_| true),
            next: 0,
            value: Vec::new(),
            range: 0..0,
        }
    }

    /// Removes expired keys from the index now, so their bytes show as dead in [`Bitcask::stats`]
    /// (the background thread does this about once a second). Returns how many it removed.
    pub fn sweep_expired(&self) -> usize {
        self.inner.sweep_expired()
    }
}

/// A snapshot of the live keys taken by [`Bitcask::iter`], read one entry at a time. Writes,
/// deletes and merges on the store meanwhile are safe and do not change what it yields (a key
/// that expires before it is reached is skipped). Files it may read are kept until it is dropped.
pub struct Iter {
    inner: Arc<Inner>,
    snapshot: Snapshot,
    next: usize,
    value: Vec<u8>,
    range: std::ops::Range<usize>,
}

impl Iter {
    /// The next entry, borrowed until the next call; `Ok(None)` at the end. A damaged record
    /// returns `Err(Corrupt)` for that entry; the following call goes on with the next one.
    pub fn next_entry(&mut self) -> Result<Option<(&[u8], &[u8])>> {
        let now = now_secs();
        while self.next < self.snapshot.entries.len() {
            let i = self.next;
            self.next += 1;
            let loc = self.snapshot.entries[i].1;
            if loc.expired_at(now) {
                continue;
            }
            let key = self.snapshot.key(i);
            self.range = self.inner.read_at(key, loc, &mut self.value)?;
            return Ok(Some((
                self.snapshot.key(i),
                &self.value[self.range.clone()],
            )));
        }
        Ok(None)
    }
}

impl Iterator for Iter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry()
            .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .transpose()
    }
}
