//! Atomic batches: puts and deletes applied all together or not at all.

use crate::engine::{Bitcask, Op};
use crate::error::{Error, Result};
use crate::format::{self, FLAG_BATCH, FLAG_BATCH_END, FLAG_BATCH_START, FLAG_TOMBSTONE};
use crate::io::clock::now_secs;
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
            if i == 0 {
                flags |= FLAG_BATCH_START;
            }
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
}
