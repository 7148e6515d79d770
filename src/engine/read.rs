//! The read path: get and contains through the keydir and the file cache's maps, and the
//! folds over every live key.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::ops::ControlFlow;

use crate::error::{Error, Result};
use crate::format::{self, RecordError, RecordLimits};
use crate::io::clock::now_secs;
use crate::io::map::SeqReader;
use crate::keydir::Loc;

use super::*;

/// Read-ahead for folds.
const FOLD_CHUNK: usize = 1 << 20;

impl Bitcask {
    /// The value of `key`, if present.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_with(key, <[u8]>::to_vec)
    }

    /// Reads `key` and hands its verified value to `f` without an intermediate copy.
    pub fn get_with<R>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        self.inner.check_key(key)?;
        let mut f = Some(f);
        loop {
            let Some(loc) = self.inner.live_loc(key) else {
                return Ok(None);
            };
            let result = self.inner.read_value(key, loc, &mut f);
            match result {
                Ok(r) => return Ok(Some(r)),
                // A merge moved the key and deleted the file between our lookup and our read:
                // look again. (The location changes, so this cannot loop forever.)
                Err(e) if is_not_found(&e) && self.inner.keydir.get(key) != Some(loc) => {}
                // A read-only handle's index is fixed at its open; the writer may have merged
                // the file away since.
                Err(Error::Io { path, source, .. })
                    if self.inner.opts.read_only && source.kind() == io::ErrorKind::NotFound =>
                {
                    return Err(Error::Io {
                        op: "read data file (removed since this read-only handle opened, most \
                             likely by a merge in the writing process: reopen the handle)",
                        path,
                        source,
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether `key` is present. Answers from memory; reads no value.
    pub fn contains(&self, key: &[u8]) -> Result<bool> {
        self.inner.check_key(key)?;
        Ok(self.inner.live_loc(key).is_some())
    }

    /// Calls `f(key, value)` for every key live when the fold starts, exactly once each, in log
    /// order (oldest surviving write first), reading each data file front to back. `f` may call
    /// any method of this handle. Returns `Break` if `f` stopped the fold.
    ///
    /// A record that fails its checksum is skipped; after visiting everything else the fold
    /// returns the first such error.
    pub fn fold(
        &self,
        mut f: impl FnMut(&[u8], &[u8]) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>> {
        let inner = &*self.inner;
        // Each location with its key (at `keys[at..at + len]`): a record is served only if it
        // holds the key the index filed it under, as every read checks (FORMAT.md, rule 6).
        let mut locs: Vec<(Loc, usize, usize)> = Vec::new();
        let mut keys = Vec::new();
        let order: BTreeMap<u32, u32>;
        let _pin;
        {
            let w = inner.write.lock();
            // Taken with writes excluded: no merge can retire a file this snapshot points into
            // between the snapshot and the pin.
            _pin = self.inner.pin();
            locs.reserve(inner.keydir.len());
            let now = now_secs();
            inner.keydir.for_each(|key, loc| {
                if !loc.expired_at(now) {
                    locs.push((loc, keys.len(), key.len()));
                    keys.extend_from_slice(key);
                }
            });
            order = w.files.iter().map(|(&id, m)| (id, m.order)).collect();
        }
        let order_of = |id: u32| order.get(&id).copied().unwrap_or(id);
        locs.sort_unstable_by_key(|(l, ..)| (order_of(l.file_id), l.file_id, l.offset));
        let mut first_damage = None;
        for group in locs.chunk_by(|a, b| a.0.file_id == b.0.file_id) {
            let id = group[0].0.file_id;
            let path = format::data_path(&inner.dir, id);
            let file =
                File::open(&path).map_err(|e| Error::io("open data file", path.clone(), e))?;
            // Read no further than the last record wanted: the active file may be longer than
            // its records (reserved space) and be cut back to them meanwhile by a seal.
            let wanted = group
                .iter()
                .map(|(l, ..)| l.offset as u64 + l.len as u64)
                .max()
                .unwrap_or(0);
            let len = file
                .metadata()
                .map_err(|e| Error::io("stat data file", path.clone(), e))?
                .len()
                .min(wanted);
            let mut reader = SeqReader::new(&file, len, FOLD_CHUNK);
            for &(loc, at, klen) in group {
                let bytes = reader
                    .bytes_at(loc.offset as u64, loc.len as usize)
                    .map_err(|e| Error::io("read data file", path.clone(), e))?;
                let checked = verify_record(bytes, &loc).and_then(|rec| {
                    if rec.key == &keys[at..at + klen] {
                        Ok(rec)
                    } else {
                        Err("record holds a different key than the index says".into())
                    }
                });
                match checked {
                    Ok(rec) => {
                        if f(rec.key, rec.value).is_break() {
                            return Ok(ControlFlow::Break(()));
                        }
                    }
                    Err(why) => {
                        first_damage.get_or_insert_with(|| {
                            Error::corrupt(path.clone(), loc.offset as u64, why)
                        });
                    }
                }
            }
        }
        match first_damage {
            Some(e) => Err(e),
            None => Ok(ControlFlow::Continue(())),
        }
    }

    /// Calls `f(key)` for every key live when the fold starts, exactly once each, in no
    /// particular order. Reads nothing from disk. `f` may call any method of this handle.
    pub fn fold_keys(&self, mut f: impl FnMut(&[u8]) -> ControlFlow<()>) -> ControlFlow<()> {
        let inner = &*self.inner;
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        {
            let _no_writes = inner.write.lock();
            ends.reserve(inner.keydir.len());
            let now = now_secs();
            inner.keydir.for_each(|key, loc| {
                if !loc.expired_at(now) {
                    bytes.extend_from_slice(key);
                    ends.push(bytes.len());
                }
            });
        }
        let mut start = 0;
        for end in ends {
            f(&bytes[start..end])?;
            start = end;
        }
        ControlFlow::Continue(())
    }
}

fn verify_record<'a>(bytes: &'a [u8], loc: &Loc) -> Result<format::RecordRef<'a>, String> {
    let rec = format::decode_record(bytes, RecordLimits::FORMAT).map_err(|e| match e {
        RecordError::Truncated => "record cut short".to_string(),
        RecordError::Invalid(why) => why.to_string(),
        RecordError::Checksum => "record checksum mismatch".to_string(),
    })?;
    if rec.header.record_len() != loc.len as u64 {
        return Err("record length differs from the index".into());
    }
    if rec.header.is_tombstone() {
        return Err("index points at a tombstone".into());
    }
    Ok(rec)
}

impl Inner {
    /// The keydir entry of `key` unless it has expired.
    pub(crate) fn live_loc(&self, key: &[u8]) -> Option<Loc> {
        self.keydir
            .get(key)
            .filter(|loc| loc.expires == 0 || !loc.expired_at(now_secs()))
    }

    /// Verifies the record at `loc` in place (in the file's memory map) and hands its value to
    /// `f`: no copy of the record, one copy of the value by `f` at most.
    fn read_value<R>(
        &self,
        key: &[u8],
        loc: Loc,
        f: &mut Option<impl FnOnce(&[u8]) -> R>,
    ) -> Result<R> {
        let outcome =
            self.files
                .with_bytes(loc.file_id, loc.offset as u64, loc.len as usize, |record| {
                    let rec = verify_record(record, &loc)?;
                    if rec.key != key {
                        return Err("record holds a different key than the index says".to_string());
                    }
                    let f = f.take().expect("called once: a successful read returns");
                    Ok(f(rec.value))
                })?;
        outcome.map_err(|why| Error::corrupt(self.data_path(loc.file_id), loc.offset as u64, why))
    }

    /// Reads the record at `loc` into `buf`, checks its CRC and that it holds `key`, and returns
    /// where its value lies in `buf`.
    pub(crate) fn read_at(
        &self,
        key: &[u8],
        loc: Loc,
        buf: &mut Vec<u8>,
    ) -> Result<std::ops::Range<usize>> {
        buf.resize(loc.len as usize, 0);
        self.files
            .read_exact_at(loc.file_id, buf, loc.offset as u64)?;
        let rec = verify_record(buf, &loc)
            .map_err(|why| Error::corrupt(self.data_path(loc.file_id), loc.offset as u64, why))?;
        if rec.key != key {
            return Err(Error::corrupt(
                self.data_path(loc.file_id),
                loc.offset as u64,
                "record holds a different key than the index says",
            ));
        }
        let start = (rec.header.header_len + rec.header.key_len) as usize;
        Ok(start..loc.len as usize)
    }
}

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
}
