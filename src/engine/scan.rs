//! Ordered reads over many keys: range and prefix scans and the pull iterator, all over a
//! sorted snapshot of the keydir.

use std::ops::ControlFlow;
use std::sync::Arc;

use crate::engine::background::Pin;
use crate::engine::{Bitcask, Inner};
use crate::error::{Error, Result};
use crate::io::clock::now_secs;
use crate::keydir::Loc;

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
}

impl Bitcask {
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
