//! Data file access: a bounded cache of read handles, and a windowed sequential reader.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{RwLock, RwLockWriteGuard};

use crate::error::{Error, Result};
use crate::format::data_path;

/// Read handles of data files, at most `capacity` open at once.
///
/// Hits take only the read lock and never write to a shared cache line (the recency stamp is
/// rewritten only when it changed), so concurrent readers do not contend. Misses open the file
/// outside any lock and evict the least recently used handle.
pub(crate) struct FileCache {
    dir: PathBuf,
    capacity: usize,
    /// Advances on every miss; a hit stamps its entry with the current value.
    clock: AtomicU64,
    open: RwLock<HashMap<u32, CachedFile>>,
}

struct CachedFile {
    file: File,
    last_used: AtomicU64,
}

impl FileCache {
    pub(crate) fn new(dir: PathBuf, capacity: usize) -> Self {
        FileCache {
            dir,
            capacity: capacity.max(1),
            clock: AtomicU64::new(0),
            open: RwLock::new(HashMap::new()),
        }
    }

    /// Reads exactly `buf.len()` bytes at `offset` of data file `id`.
    pub(crate) fn read_exact_at(&self, id: u32, buf: &mut [u8], offset: u64) -> Result<()> {
        let mut read = |file: &File| {
            file.read_exact_at(buf, offset).map_err(|e| {
                let e = if e.kind() == io::ErrorKind::UnexpectedEof {
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{} bytes at offset {offset} reach past the end", buf.len()),
                    )
                } else {
                    e
                };
                Error::io("read data file", data_path(&self.dir, id), e)
            })
        };
        {
            let open = self.open.read();
            if let Some(cached) = open.get(&id) {
                let now = self.clock.load(Ordering::Relaxed);
                if cached.last_used.load(Ordering::Relaxed) != now {
                    cached.last_used.store(now, Ordering::Relaxed);
                }
                return read(&cached.file);
            }
        }
        let path = data_path(&self.dir, id);
        let file = File::open(&path).map_err(|e| Error::io("open data file", path, e))?;
        let now = self.clock.fetch_add(1, Ordering::Relaxed) + 1;
        let mut open = self.open.write();
        if !open.contains_key(&id) && open.len() >= self.capacity {
            let victim = open
                .iter()
                .min_by_key(|(_, c)| c.last_used.load(Ordering::Relaxed))
                .map(|(&id, _)| id);
            if let Some(victim) = victim {
                open.remove(&victim);
            }
        }
        open.entry(id).or_insert(CachedFile {
            file,
            last_used: AtomicU64::new(now),
        });
        // Downgrading keeps other misses from evicting this handle while we read through it.
        let open = RwLockWriteGuard::downgrade(open);
        read(&open[&id].file)
    }

    /// Closes the handle of a file that is about to be deleted or replaced.
    #[allow(dead_code)] // used once merge deletes files
    pub(crate) fn forget(&self, id: u32) {
        self.open.write().remove(&id);
    }

    /// How many handles are open now.
    #[cfg(test)]
    pub(crate) fn open_count(&self) -> usize {
        self.open.read().len()
    }
}

/// Reads records of one file in offset order through a large window, so a scan or fold touches
/// the disk sequentially even though it asks for one record at a time.
pub(crate) struct SeqReader<'f> {
    file: &'f File,
    file_len: u64,
    window: Vec<u8>,
    window_start: u64,
    chunk: usize,
}

impl<'f> SeqReader<'f> {
    pub(crate) fn new(file: &'f File, file_len: u64, chunk: usize) -> Self {
        SeqReader {
            file,
            file_len,
            window: Vec::new(),
            window_start: 0,
            chunk,
        }
    }

    pub(crate) fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Up to `want` bytes starting at `offset` (fewer only at the end of the file). Reads ahead by
    /// at least one chunk when the bytes are not already in the window.
    pub(crate) fn bytes_at(&mut self, offset: u64, want: usize) -> io::Result<&[u8]> {
        let end = (offset.saturating_add(want as u64)).min(self.file_len);
        if offset >= end {
            return Ok(&[]);
        }
        let in_window =
            offset >= self.window_start && end <= self.window_start + self.window.len() as u64;
        if !in_window {
            let read_len = ((end - offset) as usize)
                .max(self.chunk)
                .min((self.file_len - offset) as usize);
            self.window.resize(read_len, 0);
            self.file.read_exact_at(&mut self.window, offset)?;
            self.window_start = offset;
        }
        let from = (offset - self.window_start) as usize;
        Ok(&self.window[from..from + (end - offset) as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn cache_never_holds_more_than_capacity() {
        let dir = tempfile::tempdir().unwrap();
        for id in 0..10u32 {
            let mut f = File::create(data_path(dir.path(), id)).unwrap();
            f.write_all(&[id as u8; 8]).unwrap();
        }
        let cache = FileCache::new(dir.path().to_path_buf(), 3);
        for round in 0..3 {
            for id in 0..10u32 {
                let mut b = [0u8; 4];
                cache.read_exact_at(id, &mut b, 2).unwrap();
                assert_eq!(b, [id as u8; 4], "round {round} file {id}");
                assert!(cache.open_count() <= 3);
            }
        }
        let mut b = [0u8; 4];
        let err = cache.read_exact_at(3, &mut b, 6).unwrap_err();
        assert!(err.to_string().contains("past the end"), "{err}");
        assert!(cache.read_exact_at(99, &mut b, 0).is_err());
    }

    #[test]
    fn seq_reader_serves_ranges_across_window_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let f = File::open(&path).unwrap();
        let mut r = SeqReader::new(&f, data.len() as u64, 64);
        for (off, len) in [
            (0, 10),
            (5, 100),
            (63, 2),
            (9_990, 50),
            (200, 3000),
            (10_000, 5),
        ] {
            let got = r.bytes_at(off as u64, len).unwrap().to_vec();
            let end = (off + len).min(data.len());
            assert_eq!(got, &data[off.min(end)..end], "at {off}+{len}");
        }
    }
}
