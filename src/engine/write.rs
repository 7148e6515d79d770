//! The write path: encoding records, appending them to the active file (through its map or
//! `pwrite`) with the keydir update, and sealing a full file.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::error::{Error, Result};
use crate::format::{self, FILE_HEADER_LEN, FLAG_TOMBSTONE};
use crate::io::clock::now_secs;
use crate::io::fs::{create_data_file, start_writeback};
use crate::io::map::WriteMap;
use crate::keydir::Loc;
use crate::log::recovery::FileMeta;
use crate::options::Options;

use super::*;

/// A thread's reusable record-encoding buffer is released after a record larger than this.
const KEEP_RECORD_BUF: usize = 4 << 20;

thread_local! {
    static RECORD_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Bitcask {
    /// Stores `value` under `key`, replacing any previous value. Empty values are real values.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let inner = &*self.inner;
        inner.check_key(key)?;
        inner.check_value(value)?;
        inner.check_writable()?;
        inner.put_expiring(key, value, 0)
    }

    /// Stores `value` under `key` for `ttl_secs` seconds (at least 1): from then on every read
    /// path treats the key as absent, also after a reopen, and merge drops it. A later `put`
    /// makes the key permanent again.
    pub fn put_ttl(&self, key: &[u8], value: &[u8], ttl_secs: u32) -> Result<()> {
        let inner = &*self.inner;
        inner.check_key(key)?;
        inner.check_value(value)?;
        inner.check_writable()?;
        if ttl_secs == 0 {
            return Err(Error::invalid(
                "ttl_secs must be at least 1 (use put for no expiry)",
            ));
        }
        // The clock has whole seconds: one more second makes the key last at least `ttl_secs`
        // (and less than `ttl_secs + 1`), never less.
        inner.put_expiring(
            key,
            value,
            now_secs().saturating_add(ttl_secs).saturating_add(1),
        )
    }

    /// Removes `key`. Returns whether it was present; nothing is written when it was not.
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        let inner = &*self.inner;
        inner.check_key(key)?;
        inner.check_writable()?;
        inner.keydir.prefetch(key);
        let appended = with_record(FLAG_TOMBSTONE, now_secs(), 0, key, &[], |record| {
            let op = Op {
                key,
                len: record.len() as u32,
                tombstone: true,
                expires: 0,
            };
            inner.append(record, &[op], true)
        })?;
        match appended {
            Some(at) => inner.after_write(at).map(|()| true),
            None => Ok(false),
        }
    }
}

/// One keydir change of an append: the record for `key` is `len` bytes long.
pub(crate) struct Op<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) len: u32,
    pub(crate) tombstone: bool,
    /// When the key expires (0 = never), as the keydir will hold it.
    pub(crate) expires: u32,
}

/// Encodes one record into this thread's scratch buffer (outside every lock) and hands it on.
/// `timestamp` is the write time (seconds), `expiry` the record's own expiry field (0 = none).
fn with_record<R>(
    flags: u8,
    timestamp: u32,
    expiry: u32,
    key: &[u8],
    value: &[u8],
    f: impl FnOnce(&[u8]) -> R,
) -> R {
    RECORD_BUF.with(|cell| {
        let mut owned;
        let mut borrowed;
        let buf: &mut Vec<u8> = match cell.try_borrow_mut() {
            Ok(b) => {
                borrowed = b;
                &mut borrowed
            }
            Err(_) => {
                owned = Vec::new();
                &mut owned
            }
        };
        buf.clear();
        format::encode_record(buf, flags, timestamp, expiry, key, value);
        let r = f(buf);
        if buf.capacity() > KEEP_RECORD_BUF {
            *buf = Vec::new();
        }
        r
    })
}

impl Inner {
    pub(crate) fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.is_empty() {
            return Err(Error::invalid("key must not be empty"));
        }
        if key.len() as u64 > self.opts.max_key_size as u64 {
            return Err(Error::TooLarge {
                what: "key",
                size: key.len() as u64,
                limit: self.opts.max_key_size as u64,
            });
        }
        Ok(())
    }

    /// Appends a put whose record carries `expiry` (0 = none) and syncs per the mode.
    fn put_expiring(&self, key: &[u8], value: &[u8], expiry: u32) -> Result<()> {
        // The keydir insert below is a cache miss into a table far larger than the cache: start
        // it now, so it overlaps with encoding, checksumming and copying the record
        // (bench/DECISIONS.md, "Keydir prefetch on put").
        self.keydir.prefetch(key);
        let now = now_secs();
        let expires = self.opts.expires_at(now, expiry);
        if expires != 0 && !self.expiring.load(Ordering::Relaxed) {
            self.expiring.store(true, Ordering::Relaxed);
        }
        let appended = with_record(0, now, expiry, key, value, |record| {
            let op = Op {
                key,
                len: record.len() as u32,
                tombstone: false,
                expires,
            };
            self.append(record, &[op], false)
        })?;
        self.after_write(appended.expect("a put always appends"))
    }

    pub(crate) fn check_value(&self, value: &[u8]) -> Result<()> {
        if value.len() as u64 > self.opts.max_value_size {
            return Err(Error::TooLarge {
                what: "value",
                size: value.len() as u64,
                limit: self.opts.max_value_size,
            });
        }
        Ok(())
    }

    /// Appends `records` (one record per op, back to back) with one write and applies the ops to
    /// the keydir as one atomic step. With `only_if_present` (a single delete), nothing is written
    /// when the key is absent (checked under the write mutex) and `None` is returned. Returns the
    /// append position to sync up to.
    pub(crate) fn append(
        &self,
        records: &[u8],
        ops: &[Op<'_>],
        only_if_present: bool,
    ) -> Result<Option<u64>> {
        let mut w = self.write.lock();
        if only_if_present && !ops.iter().all(|op| self.live_loc(op.key).is_some()) {
            return Ok(None);
        }
        self.check_writable()?;
        let WriteState { active, files, .. } = &mut *w;
        let active = active.as_mut().ok_or(Error::ReadOnly)?;
        if active.len > FILE_HEADER_LEN as u64
            && active.len + records.len() as u64 > self.opts.max_file_size
        {
            self.rotate(active, files)?;
        }
        let offset = active.len;
        if offset + records.len() as u64 > u32::MAX as u64 {
            return Err(Error::TooLarge {
                what: "batch",
                size: records.len() as u64,
                limit: u32::MAX as u64 - offset,
            });
        }
        self.write_records(active, records, offset)?;
        active.len += records.len() as u64;
        active.appended += records.len() as u64;
        if active.len - active.written_back >= WRITE_BEHIND_BYTES {
            if let Some(map) = active.map.as_mut() {
                map.release_front(active.len);
            }
            start_writeback(&active.file, active.written_back, active.len);
            active.written_back = active.len;
        }
        let id = active.id;
        files
            .get_mut(&id)
            .expect("the active file is registered")
            .len = active.len;
        let mut account = |new: Option<Loc>, old: Option<Loc>| {
            if let Some(new) = new {
                files.get_mut(&id).expect("registered").live += new.len as u64;
            }
            if let Some(old) = old
                && let Some(m) = files.get_mut(&old.file_id)
            {
                m.live -= old.len as u64;
            }
        };
        if let [op] = ops {
            // The common case, a single put or delete: no allocation.
            let loc = Loc {
                file_id: id,
                offset: offset as u32,
                len: op.len,
                expires: op.expires,
            };
            let (new, old) = if op.tombstone {
                (None, self.keydir.remove(op.key))
            } else {
                (Some(loc), self.keydir.insert(op.key, loc))
            };
            account(new, old);
        } else {
            let mut at = offset as u32;
            let changes: Vec<(&[u8], Option<Loc>)> = ops
                .iter()
                .map(|op| {
                    let loc = Loc {
                        file_id: id,
                        offset: at,
                        len: op.len,
                        expires: op.expires,
                    };
                    at += op.len;
                    (op.key, (!op.tombstone).then_some(loc))
                })
                .collect();
            let olds = self.keydir.apply_atomically(&changes);
            for ((_, new), old) in changes.iter().zip(olds) {
                account(*new, old);
            }
        }
        Ok(Some(active.appended))
    }

    /// Puts `records` at `offset` of the active file: through its map when it has one (no
    /// system call), else with `pwrite`. On error nothing of `records` is left in the file.
    fn write_records(&self, active: &mut ActiveFile, records: &[u8], offset: u64) -> Result<()> {
        let end = offset + records.len() as u64;
        let path = || self.data_path(active.id);
        if let Some(map) = active.map.as_mut() {
            if map.covers(end) {
                match map.write_at(&active.file, records, offset) {
                    Ok(true) => return Ok(()),
                    // Nothing was written (space is reserved before the copy).
                    Err(e) => return Err(Error::io("append to data file", path(), e)),
                    Ok(false) => {}
                }
            }
            // A record past the map (larger than the file size limit), or a filesystem that
            // cannot reserve space: this file continues with pwrite.
            map.finish(&active.file, offset)
                .map_err(|e| Error::io("cut the reserved tail of the data file", path(), e))?;
            active.map = None;
        }
        if let Err(e) = active.file.write_all_at(records, offset) {
            // Take back whatever part reached the file, so the log stays a clean sequence of
            // records; if even that fails the file's tail is unknown: poison.
            if let Err(e2) = active.file.set_len(offset) {
                self.poison(format!(
                    "append to '{}' failed ({e}) and cutting it back failed ({e2})",
                    path().display()
                ));
            }
            return Err(Error::io("append to data file", path(), e));
        }
        Ok(())
    }

    /// Seals the active file and starts the next one; the background thread writes the sealed
    /// file's hint.
    pub(crate) fn rotate(
        &self,
        active: &mut ActiveFile,
        files: &mut BTreeMap<u32, FileMeta>,
    ) -> Result<()> {
        let sealed = active.id;
        if let Some(map) = active.map.as_mut() {
            // No append goes to this file again: unmapped pages are written back by the
            // fdatasync below without being write-protected one by one (see release_front).
            map.release_front(active.len);
            // The sealed file ends at its last record. fdatasync below makes the new length
            // durable too (a size change is data-retrieval metadata), so a sealed file never
            // comes back with the reserved zeros after a crash.
            map.finish(&active.file, active.len).map_err(|e| {
                Error::io(
                    "cut the reserved tail of the data file",
                    self.data_path(sealed),
                    e,
                )
            })?;
        }
        self.sync_data_file(&active.file).map_err(|e| {
            let err = Error::io("sync data file being sealed", self.data_path(sealed), e);
            self.poison(err.to_string());
            err
        })?;
        // Everything appended so far is in the file just synced.
        {
            let mut p = self.sync.progress.lock();
            p.synced = p.synced.max(active.appended);
            p.fsyncs += 1;
        }
        let id = active.next_id;
        let (file, id) = create_data_file(&self.dir, id)?;
        files.insert(id, FileMeta::new(id, FILE_HEADER_LEN as u64));
        active.map = append_map(&file, FILE_HEADER_LEN as u64, &self.opts);
        active.file = Arc::new(file);
        active.id = id;
        active.len = FILE_HEADER_LEN as u64;
        active.next_id = id + 1;
        active.hinted = false;
        active.written_back = FILE_HEADER_LEN as u64;
        self.bg.lock().hints.push_back(sealed);
        self.bg_cv.notify_all();
        Ok(())
    }
}

/// How far appends may run ahead of the writeback started for them. Closer cuts the worst put's
/// wait but costs throughput and read latency, as writeback then competes with everything all
/// the time (bench/DECISIONS.md, "Write-behind distance").
pub(super) const WRITE_BEHIND_BYTES: u64 = 8 << 20;

/// The append map for an active file of `len` bytes, unless the options or the filesystem rule
/// it out.
pub(super) fn append_map(file: &File, len: u64, opts: &Options) -> Option<WriteMap> {
    if !opts.mmap_writes {
        return None;
    }
    WriteMap::new(file, len, opts.max_file_size)
}
