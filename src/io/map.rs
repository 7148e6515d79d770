//! Data file access: a bounded cache of read-only memory maps of data files, and a windowed
//! sequential reader.
//!
//! Reads go through a memory map: a get costs a lookup and a copy out of the page cache, no
//! system call (bench/DECISIONS.md, "Reads through memory maps"). The one hazard of a map is a
//! read past the end of the file, which the kernel answers with SIGBUS; [`Mapped::bytes`] only
//! hands out ranges inside the file length it has seen with `fstat`, re-checking when asked for
//! more (the active file grows), so an index entry past the end gets an error, never a signal.
//! Data files only shrink at open (torn-tail repair, before anything is mapped), when the active
//! file's reserved zeros are cut off at seal or close, and when a failed append is cut back:
//! always bytes past the last record, which no index entry points into.
//!
//! Appends go through [`WriteMap`], a writable map of the active file over space reserved
//! with `fallocate`, where the filesystem makes that safe.

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
    /// Address space reserved per mapping (the maximum data file size).
    reserve: usize,
    /// Advances on every miss; a hit stamps its entry with the current value.
    clock: AtomicU64,
    open: RwLock<HashMap<u32, CachedFile>>,
}

struct CachedFile {
    map: Mapped,
    last_used: AtomicU64,
}

/// A read-only, shared memory map of a whole data file (reserved up to a fixed length so the
/// active file can grow into it), with the file kept open to re-check its length.
struct Mapped {
    file: File,
    ptr: *const u8,
    reserved: usize,
    /// Bytes known to exist in the file (its length at the last `fstat`).
    known_len: AtomicU64,
}

// SAFETY: the mapping is read-only and never remapped while shared; `ptr` is only read through
// `bytes`, which bounds every access by `known_len`. Reading shared memory from several threads
// is sound.
unsafe impl Send for Mapped {}
// SAFETY: as above.
unsafe impl Sync for Mapped {}

impl Mapped {
    fn new(file: File, reserve: usize) -> io::Result<Mapped> {
        let len = file.metadata()?.len();
        let reserved = reserve.max(len as usize).max(1);
        // SAFETY: a fresh PROT_READ, MAP_SHARED mapping of an open file; the kernel picks the
        // address. Pages past the end of the file are never touched (see `bytes`).
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                reserved,
                libc::PROT_READ,
                libc::MAP_SHARED,
                std::os::unix::io::AsRawFd::as_raw_fd(&file),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Reads follow the keydir, so they land at random offsets. Without this hint every miss
        // faults in a read-around window (read_ahead_kb, 8 MiB on some disks) for one record;
        // once the data outgrows the page cache that thrashes it (bench/DECISIONS.md, "Reads
        // through memory maps"). Advice only: ignore failure.
        // SAFETY: `ptr`/`reserved` describe the mapping just created.
        unsafe { libc::madvise(ptr, reserved, libc::MADV_RANDOM) };
        Ok(Mapped {
            file,
            ptr: ptr.cast(),
            reserved,
            known_len: AtomicU64::new(len),
        })
    }

    /// `len` bytes at `offset`, if they lie inside both the mapping and the file.
    fn bytes(&self, offset: u64, len: usize) -> io::Result<&[u8]> {
        let end = offset
            .checked_add(len as u64)
            .filter(|&end| end <= self.reserved as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "beyond the mapping"))?;
        if end > self.known_len.load(Ordering::Acquire) {
            let now = self.file.metadata()?.len();
            self.known_len.fetch_max(now, Ordering::AcqRel);
            if end > now {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{len} bytes at offset {offset} reach past the end"),
                ));
            }
        }
        // SAFETY: [offset, end) is inside the mapping and inside the file as `fstat` saw it. A
        // file shrinks while mapped only when the active file's reserved zeros are cut at seal
        // or close (`WriteMap::finish`) or a failed append is cut back: bytes past every record,
        // which no index entry (the source of every read range) points into.
        Ok(unsafe { std::slice::from_raw_parts(self.ptr.add(offset as usize), len) })
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`reserved` are exactly what mmap returned; no slice from `bytes` can
        // outlive `self` (they borrow it).
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.reserved) };
    }
}

impl FileCache {
    pub(crate) fn new(dir: PathBuf, capacity: usize, reserve: u64) -> Self {
        FileCache {
            dir,
            capacity: capacity.max(1),
            reserve: reserve as usize,
            clock: AtomicU64::new(0),
            open: RwLock::new(HashMap::new()),
        }
    }

    /// Reads exactly `buf.len()` bytes at `offset` of data file `id`.
    pub(crate) fn read_exact_at(&self, id: u32, buf: &mut [u8], offset: u64) -> Result<()> {
        let len = buf.len();
        self.with_bytes(id, offset, len, |bytes| buf.copy_from_slice(bytes))
    }

    /// Calls `f` with the `len` bytes at `offset` of data file `id`, straight from the map.
    pub(crate) fn with_bytes<R>(
        &self,
        id: u32,
        offset: u64,
        len: usize,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R> {
        let read = |map: &Mapped| {
            map.bytes(offset, len)
                .map(f)
                .map_err(|e| Error::io("read data file", data_path(&self.dir, id), e))
        };
        {
            let open = self.open.read();
            if let Some(cached) = open.get(&id) {
                let now = self.clock.load(Ordering::Relaxed);
                if cached.last_used.load(Ordering::Relaxed) != now {
                    cached.last_used.store(now, Ordering::Relaxed);
                }
                return read(&cached.map);
            }
        }
        let path = data_path(&self.dir, id);
        let file = File::open(&path).map_err(|e| Error::io("open data file", path.clone(), e))?;
        let map =
            Mapped::new(file, self.reserve).map_err(|e| Error::io("map data file", path, e))?;
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
            map,
            last_used: AtomicU64::new(now),
        });
        // Downgrading keeps other misses from evicting this map while we read through it.
        let open = RwLockWriteGuard::downgrade(open);
        read(&open[&id].map)
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

/// Filesystems where writing through a shared map into `fallocate`d space cannot fail at
/// write-back for lack of space (the blocks are reserved up front): ext4, XFS, tmpfs. On others
/// (copy-on-write filesystems such as btrfs, network filesystems) a full disk would surface as
/// SIGBUS inside a store instruction, so appends there use `pwrite` and report ENOSPC as an error.
const MAP_SAFE_FILESYSTEMS: [i64; 3] = [0xEF53, 0x5846_5342, 0x0102_1994];

/// How far the active file is extended (with `fallocate`) ahead of the appends.
const GROW_STEP: u64 = 8 << 20;

/// The active data file's append target: a writable shared map of the file, reserved up to the
/// maximum file size, over space reserved ahead of the writes with `fallocate`.
///
/// An append is then a `memcpy` into the page cache instead of a `pwrite` system call (which
/// was half of a put). The bytes are in the page cache, hence in the file, as soon as the copy
/// returns: a killed process loses nothing, and `fdatasync` on the file writes them out exactly
/// as it does written pages. The file is longer than its records by the reserved zeros until it
/// is sealed or closed ([`WriteMap::finish`]); recovery stops at them (`log/recovery.rs`).
pub(crate) struct WriteMap {
    ptr: *mut u8,
    reserved: u64,
    /// File length: bytes `[0, allocated)` exist and have disk space reserved.
    allocated: u64,
    /// `[0, released)` is no longer mapped (see `release_front`); appends never go there.
    released: u64,
}

// SAFETY: the pointer is only written through `&mut self` (the owner holds the store's write
// mutex), and the mapping lives until drop.
unsafe impl Send for WriteMap {}

impl WriteMap {
    /// Maps `file` (currently `len` bytes long) for appends, or returns None where appends
    /// should use `pwrite` (an unsuitable filesystem, or the mapping was refused).
    pub(crate) fn new(file: &File, len: u64, reserve: u64) -> Option<WriteMap> {
        let fd = std::os::unix::io::AsRawFd::as_raw_fd(file);
        // SAFETY: fstatfs writes into the zeroed struct we pass; fd is open for the call.
        let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstatfs(fd, &mut fs) } != 0
            || !MAP_SAFE_FILESYSTEMS.contains(&(fs.f_type as i64))
        {
            return None;
        }
        let reserved = reserve.max(len);
        // SAFETY: a fresh shared read-write mapping of an open file; the kernel picks the
        // address. Only `[0, allocated)` is ever touched (see `write_at`).
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                reserved as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        Some(WriteMap {
            ptr: ptr.cast(),
            reserved,
            allocated: len,
            released: 0,
        })
    }

    /// Bytes at the front of the file no longer mapped (see `release_front`).
    #[cfg(test)]
    pub(crate) fn released(&self) -> u64 {
        self.released
    }

    /// Unmaps the whole pages below `upto`, where no append will go again. Writeback of pages
    /// still mapped writable makes the kernel write-protect them one at a time, each with a TLB
    /// shootdown (an interprocessor interrupt to every CPU the process runs on). Unmapping costs
    /// one shootdown for the whole range, and the bytes stay in the page cache (bench/DECISIONS.md,
    /// "Unmapping the written front of the append map").
    pub(crate) fn release_front(&mut self, upto: u64) {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
        let end = upto.min(self.reserved) / page * page;
        if end <= self.released {
            return;
        }
        // SAFETY: `[released, end)` lies inside the mapping and is page-aligned (the mapping
        // starts on a page); nothing refers to it: `write_at` only writes at or past `released`
        // (asserted there), and the map is never read through.
        let rc = unsafe {
            libc::munmap(
                self.ptr.add(self.released as usize).cast(),
                (end - self.released) as usize,
            )
        };
        if rc == 0 {
            self.released = end;
        }
    }

    /// Whether a write ending at `end` fits in the map.
    pub(crate) fn covers(&self, end: u64) -> bool {
        end <= self.reserved
    }

    /// Writes `bytes` at `offset` of `file` (the range must be [`covered`](Self::covers)).
    /// Space is reserved first, so a full disk is an error here, with nothing written, and never
    /// a signal later. Returns false, having written nothing, if the filesystem cannot reserve
    /// space (the caller then switches to `pwrite`).
    pub(crate) fn write_at(&mut self, file: &File, bytes: &[u8], offset: u64) -> io::Result<bool> {
        let end = offset + bytes.len() as u64;
        assert!(end <= self.reserved, "write past the append map");
        assert!(
            offset >= self.released,
            "append below the released front of the map"
        );
        if end > self.allocated {
            let step = end.max(self.allocated + GROW_STEP).min(self.reserved);
            // Reserve a step ahead; short of space, reserve just what this write needs.
            match self.allocate(file, step) {
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && step > end => {
                    self.allocate(file, end)?
                }
                other => other?,
            }
            if self.allocated < end {
                return Ok(false);
            }
        }
        // SAFETY: [offset, end) lies inside the mapping (end <= reserved) and inside the file,
        // whose blocks `fallocate` reserved (end <= allocated); nothing else writes this range
        // (appends are serialised by the write mutex and never overlap written records).
        unsafe { copy_front_to_back(bytes, self.ptr.add(offset as usize)) };
        Ok(true)
    }

    /// Extends the file to `target` bytes with reserved space. Leaves `allocated` unchanged
    /// where the filesystem does not support reservation.
    fn allocate(&mut self, file: &File, target: u64) -> io::Result<()> {
        let fd = std::os::unix::io::AsRawFd::as_raw_fd(file);
        // SAFETY: a plain system call on an open descriptor.
        let rc = unsafe {
            libc::fallocate(
                fd,
                0,
                self.allocated as libc::off_t,
                (target - self.allocated) as libc::off_t,
            )
        };
        if rc == 0 {
            self.allocated = target;
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EOPNOTSUPP) => Ok(()),
            _ => Err(e),
        }
    }

    /// Cuts the reserved zeros off the file so that it ends at its last record (`len`).
    pub(crate) fn finish(&mut self, file: &File, len: u64) -> io::Result<()> {
        if self.allocated > len {
            file.set_len(len)?;
            self.allocated = len;
        }
        Ok(())
    }
}

/// Copies `src` to `dst` strictly front to back, 8 bytes at a time.
///
/// A process killed in the middle of an append must leave a prefix of the bytes in the file,
/// as an interrupted `write` does: recovery cuts a torn last record, but if a later record of
/// the same append (a batch) were complete behind a hole, it would take the hole for damage
/// and resume at that record. `memcpy` gives no order (it may store the last bytes first); here
/// the compiler fences keep the stores in order, and the CPU retires them in program order, so
/// at any instant what is written is a prefix plus at most 8 bytes, less than any record.
///
/// # Safety
/// `dst` must be valid for `src.len()` bytes of writes and not overlap `src`.
unsafe fn copy_front_to_back(src: &[u8], dst: *mut u8) {
    use std::sync::atomic::{Ordering, compiler_fence};
    const _: () = assert!(8 < crate::format::MIN_RECORD_LEN);
    let mut at = 0;
    while at < src.len() {
        let n = (src.len() - at).min(8);
        // SAFETY: `at + n <= src.len()`, within both buffers per the contract.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr().add(at), dst.add(at), n) };
        compiler_fence(Ordering::SeqCst);
        at += n;
    }
}

impl Drop for WriteMap {
    fn drop(&mut self) {
        if self.released < self.reserved {
            // SAFETY: the part of the range mmap returned that `release_front` left mapped; no
            // reference into it outlives `self`.
            unsafe {
                libc::munmap(
                    self.ptr.add(self.released as usize).cast(),
                    (self.reserved - self.released) as usize,
                )
            };
        }
    }
}

/// A read-only map of a whole sealed data file, for passes over its record headers (loading or
/// writing a compact hint). Only the pages a pass touches are read: for large values, the
/// headers' pages and not the values'. (Under Miri, which cannot map files, a copy in memory.)
pub(crate) struct FileImage {
    #[cfg(not(miri))]
    ptr: *const u8,
    #[cfg(not(miri))]
    len: usize,
    #[cfg(miri)]
    copy: Vec<u8>,
}

impl FileImage {
    /// Maps `file`, which must be `expected_len` bytes long (else `Ok(None)`: the caller's
    /// description of the file is stale).
    pub(crate) fn new(file: &File, expected_len: u64) -> io::Result<Option<FileImage>> {
        let len = file.metadata()?.len();
        if len != expected_len || len == 0 || len > usize::MAX as u64 {
            return Ok(None);
        }
        #[cfg(miri)]
        {
            let mut copy = vec![0u8; len as usize];
            file.read_exact_at(&mut copy, 0)?;
            Ok(Some(FileImage { copy }))
        }
        #[cfg(not(miri))]
        {
            // SAFETY: a fresh PROT_READ, MAP_SHARED mapping of an open file of `len` bytes; the
            // kernel picks the address. The mapping outlives the descriptor (POSIX), and is only
            // ever read through `bytes`, which is bounded by `len`.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len as usize,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    std::os::unix::io::AsRawFd::as_raw_fd(file),
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            Ok(Some(FileImage {
                ptr: ptr.cast(),
                len: len as usize,
            }))
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        #[cfg(miri)]
        return &self.copy;
        // SAFETY: the whole mapping, which lies inside the file: only sealed files are mapped
        // here (a sealed file never changes), or a last file at the length its hint records,
        // which its writer never cuts below (it cuts only reserved zeros and torn bytes past
        // the records the hint describes).
        #[cfg(not(miri))]
        unsafe {
            std::slice::from_raw_parts(self.ptr, self.len)
        }
    }
}

impl Drop for FileImage {
    fn drop(&mut self) {
        // SAFETY: exactly the range mmap returned; slices from `bytes` borrow `self`.
        #[cfg(not(miri))]
        unsafe {
            libc::munmap(self.ptr as *mut libc::c_void, self.len)
        };
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
        let cache = FileCache::new(dir.path().to_path_buf(), 3, 1 << 20);
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
    fn released_front_of_the_append_map_is_unmapped_and_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let Some(mut map) = WriteMap::new(&file, 0, 1 << 20) else {
            eprintln!("no append map on this filesystem: skipping");
            return;
        };
        let chunk: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        assert!(map.write_at(&file, &chunk, 0).unwrap());
        map.release_front(10_000);
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        assert_eq!(map.released, 10_000 / page * page);
        // The released pages are gone from the mapping (msync of unmapped memory: ENOMEM) ...
        // SAFETY: msync only inspects the address range; unmapped is the answer we expect.
        let rc = unsafe { libc::msync(map.ptr.cast(), page as usize, libc::MS_ASYNC) };
        assert_eq!(rc, -1);
        assert_eq!(
            io::Error::last_os_error().raw_os_error(),
            Some(libc::ENOMEM)
        );
        // ... the partly written page after them is not, and appends go on from there.
        assert!(map.write_at(&file, &chunk, 10_000).unwrap());
        map.release_front(5_000); // behind the front: nothing to do
        map.finish(&file, 20_000).unwrap();
        drop(map);
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len(), 20_000);
        assert_eq!(&got[..10_000], &chunk[..]);
        assert_eq!(&got[10_000..], &chunk[..]);
    }

    #[test]
    #[should_panic(expected = "append below the released front")]
    fn an_append_below_the_released_front_panics_instead_of_faulting() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("f"))
            .unwrap();
        let Some(mut map) = WriteMap::new(&file, 0, 1 << 20) else {
            panic!("append below the released front (no append map on this filesystem)");
        };
        assert!(map.write_at(&file, &[1u8; 9000], 0).unwrap());
        map.release_front(9000);
        let _ = map.write_at(&file, &[2u8; 10], 0);
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
