//! Memory for the keydir's large buffers (slot tables, full arena chunks), in transparent huge
//! pages where the kernel offers them.
//!
//! Why: a lookup of a random key touches a slot and an arena entry somewhere in tens of megabytes
//! (about 30 MB per million 16-byte keys). With 4 KiB pages each of those touches also misses the
//! TLB, and the page walk is one more dependent memory access. With 2 MiB pages the whole keydir of
//! a few million keys fits the TLB. THP is `madvise` by default, under which the system
//! allocator's memory gets no huge pages, so the keydir asks for them itself. The cost is the
//! first touch of each 2 MiB page, which the kernel zeroes at once. Measurements:
//! bench/DECISIONS.md, "Huge pages for the keydir".
//!
//! How: a [`Pool`] maps anonymous memory in segments aligned to 2 MiB and advised
//! `MADV_HUGEPAGE`, and hands out page-granular blocks first-fit, coalescing freed ones. Freed
//! memory is reused first while it is still resident (and in huge pages); beyond 1/32 of the
//! memory in use, or 64 MiB if that is more, it goes back to the kernel (`MADV_DONTNEED`), so the
//! resident size exceeds the live size by at most that much (jemalloc bounds its dirty pages the
//! same way) and a process whose stores are
//! all closed keeps at most 64 MiB for the next open. All keydirs of a process share one pool ([`Pool::shared`]). Blocks smaller than
//! [`POOL_MIN`] come from the system allocator, so small stores (and the many small keydirs of a
//! test suite) do not pay a 2 MiB page each.
//!
//! Everything here falls back to the system allocator where the pool cannot help: other operating
//! systems, Miri (no `mmap`), or a failed `mmap`.

use parking_lot::Mutex;
use std::alloc::{Layout, alloc, alloc_zeroed, dealloc, handle_alloc_error};
use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::{Arc, OnceLock};

/// Blocks at least this large come from the pool; smaller ones from the system allocator.
pub const POOL_MIN: usize = 64 << 10;
const PAGE: usize = 4096;
const HUGE_PAGE: usize = 2 << 20;
/// Segments grow with the pool (a quarter of what is mapped) so that a large keydir needs few of
/// them, but stay bounded so that the unused tail of the newest one is small next to the total.
const MAX_SEGMENT: usize = 64 << 20;
/// Every block is aligned for the widest element stored in one (`u64` slots).
const ALIGN: usize = 8;

fn round_up(n: usize, to: usize) -> Option<usize> {
    Some(n.checked_add(to - 1)? & !(to - 1))
}

/// A shared source of huge-page-backed memory. Cheap to clone through `Arc`; blocks keep their
/// pool alive.
pub struct Pool {
    inner: Mutex<PoolInner>,
    /// Dirty memory up to this much is always kept, whatever is in use.
    retain: usize,
}

/// Free spans by address -> length, adjacent ones always merged.
type Spans = BTreeMap<usize, usize>;

#[derive(Default)]
struct PoolInner {
    /// `(address, length)` of every mapping, unmapped when the pool is dropped.
    segments: Vec<(usize, usize)>,
    /// Freed spans that may still be resident (and in huge pages): reused first.
    dirty: Spans,
    dirty_bytes: usize,
    /// Spans never touched or given back to the kernel.
    clean: Spans,
    mapped: usize,
    in_use: usize,
}

/// Dirty memory is kept for reuse up to this fraction (1/n) of the memory in use, like
/// jemalloc's dirty-page ratio; beyond it the largest dirty spans go back to the kernel.
const DIRTY_RATIO: usize = 32;
/// What a private pool (tests) keeps whatever is in use.
#[cfg(test)]
const DIRTY_MIN: usize = HUGE_PAGE;
/// What the process-wide pool keeps for reuse after every store has closed: enough for the
/// keydir of about a million keys, bounded so that a process that closed its stores does not
/// hold on to the memory of a large one.
const SHARED_RETAIN: usize = 64 << 20;

impl Pool {
    /// A pool, or `None` where huge-page-backed memory is not available (then every block comes
    /// from the system allocator).
    #[cfg(test)]
    fn new() -> Option<Arc<Pool>> {
        Pool::with_retention(DIRTY_MIN)
    }

    fn with_retention(retain: usize) -> Option<Arc<Pool>> {
        if cfg!(all(target_os = "linux", not(miri))) {
            Some(Arc::new(Pool {
                inner: Mutex::new(PoolInner::default()),
                retain,
            }))
        } else {
            None
        }
    }

    /// The process-wide pool every keydir draws from, so a store that is closed and opened
    /// again (or a second store) reuses resident memory instead of faulting in and zeroing
    /// fresh pages, as the system allocator would.
    pub fn shared() -> Option<Arc<Pool>> {
        static SHARED: OnceLock<Option<Arc<Pool>>> = OnceLock::new();
        SHARED
            .get_or_init(|| Pool::with_retention(SHARED_RETAIN))
            .clone()
    }

    /// A block of `len` bytes (a multiple of [`PAGE`]) and whether it may hold old data (else it
    /// reads as zeros); `None` if no memory could be mapped.
    fn take(&self, len: usize) -> Option<(NonNull<u8>, bool)> {
        let mut p = self.inner.lock();
        let mut dirty = false;
        let addr = match take_first_fit(&mut p.dirty, len) {
            Some(addr) => {
                p.dirty_bytes -= len;
                dirty = true;
                addr
            }
            None => match take_first_fit(&mut p.clean, len) {
                // Never touched, or given back with MADV_DONTNEED: private anonymous memory
                // reads as zeros either way.
                Some(addr) => addr,
                None => {
                    let want = (p.mapped / 4).clamp(HUGE_PAGE, MAX_SEGMENT);
                    let size = round_up(len.max(want), HUGE_PAGE)?;
                    let addr = map_segment(size)?;
                    p.segments.push((addr, size));
                    p.mapped += size;
                    if size > len {
                        insert_merged(&mut p.clean, addr + len, size - len);
                    }
                    addr
                }
            },
        };
        p.in_use += len;
        Some((NonNull::new(addr as *mut u8)?, dirty))
    }

    fn give_back(&self, addr: usize, len: usize) {
        let mut p = self.inner.lock();
        p.in_use -= len;
        insert_merged(&mut p.dirty, addr, len);
        p.dirty_bytes += len;
        // Giving memory back at once would keep resident size exact but split the huge pages the
        // freed span shares with live blocks, and the next blocks placed there would get 4 KiB
        // pages. Never giving it back would leave a keydir that stopped growing with its last
        // freed tables resident for good (bench/DECISIONS.md, "Huge pages for the keydir").
        let limit = (p.in_use / DIRTY_RATIO).max(self.retain);
        while p.dirty_bytes > limit {
            let Some((&a, &l)) = p.dirty.iter().max_by_key(|&(_, &l)| l) else {
                break;
            };
            // Just the excess, from the end of the largest span: spans merge, so giving back a
            // whole one could drop far below the limit.
            let cut = round_up(p.dirty_bytes - limit, PAGE).map_or(l, |c| c.min(l));
            if !release(a + l - cut, cut) {
                // Locked memory: it stays dirty (and is zeroed when reused), never "clean".
                break;
            }
            p.dirty.remove(&a);
            if cut < l {
                p.dirty.insert(a, l - cut);
            }
            p.dirty_bytes -= cut;
            insert_merged(&mut p.clean, a + l - cut, cut);
        }
    }

    /// Bytes mapped from the kernel (in use, free, or not yet touched).
    #[cfg(test)]
    fn mapped(&self) -> usize {
        self.inner.lock().mapped
    }

    /// Bytes handed out in blocks and not yet freed.
    #[cfg(test)]
    pub fn in_use(&self) -> usize {
        self.inner.lock().in_use
    }
}

/// Removes `len` bytes from the start of the lowest-addressed span that holds them.
fn take_first_fit(spans: &mut Spans, len: usize) -> Option<usize> {
    let (&addr, &span) = spans.iter().find(|&(_, &span)| span >= len)?;
    spans.remove(&addr);
    if span > len {
        spans.insert(addr + len, span - len);
    }
    Some(addr)
}

/// Adds a span, merging it with its neighbours.
fn insert_merged(spans: &mut Spans, mut addr: usize, mut len: usize) {
    if let Some((&a, &l)) = spans.range(..addr).next_back()
        && a + l == addr
    {
        spans.remove(&a);
        addr = a;
        len += l;
    }
    if let Some(l) = spans.remove(&(addr + len)) {
        len += l;
    }
    spans.insert(addr, len);
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        for &(addr, len) in &self.segments {
            unmap(addr, len);
        }
    }
}

#[cfg(all(target_os = "linux", not(miri)))]
fn map_segment(size: usize) -> Option<usize> {
    let span = size.checked_add(HUGE_PAGE)?;
    // SAFETY: a fresh private anonymous mapping at an address the kernel picks; it aliases
    // nothing. The unaligned head and tail are unmapped right away, and only the aligned middle
    // is ever handed out.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            span,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return None;
        }
        let base = p as usize;
        let start = round_up(base, HUGE_PAGE)?;
        if start > base {
            libc::munmap(p, start - base);
        }
        let tail = base + span - (start + size);
        if tail > 0 {
            libc::munmap((start + size) as *mut libc::c_void, tail);
        }
        // Advice only: without THP (or with it switched off) the memory is ordinary pages.
        libc::madvise(start as *mut libc::c_void, size, libc::MADV_HUGEPAGE);
        Some(start)
    }
}

#[cfg(not(all(target_os = "linux", not(miri))))]
fn map_segment(_size: usize) -> Option<usize> {
    None
}

#[cfg(all(target_os = "linux", not(miri)))]
/// Gives the pages back to the kernel; `false` if it refused (`EINVAL` for memory locked with
/// `mlock`/`mlockall`), in which case they still hold their old bytes.
fn release(addr: usize, len: usize) -> bool {
    // SAFETY: the range lies in a segment of ours and is free: no block refers to it. After
    // MADV_DONTNEED a private anonymous range reads as zeros again, which `take` relies on for
    // clean memory, hence the check.
    unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED) == 0 }
}

#[cfg(not(all(target_os = "linux", not(miri))))]
fn release(_addr: usize, _len: usize) -> bool {
    false
}

#[cfg(all(target_os = "linux", not(miri)))]
fn unmap(addr: usize, len: usize) {
    // SAFETY: the segment was mapped by `map_segment` and the pool is being dropped; every block
    // holds an `Arc` to the pool, so no block from this segment is alive.
    unsafe { libc::munmap(addr as *mut libc::c_void, len) };
}

#[cfg(not(all(target_os = "linux", not(miri))))]
fn unmap(_addr: usize, _len: usize) {}

/// An owned, fixed-size, 8-byte-aligned buffer from the pool or the system allocator. Its bytes
/// are always initialized (zeroed or written before use by the wrappers below).
struct Block {
    ptr: NonNull<u8>,
    len: usize,
    /// `Some` if the memory came from this pool.
    pool: Option<Arc<Pool>>,
}

// SAFETY: a Block owns its memory exclusively, like a Box<[u8]>; the pool it may return the memory
// to is itself Sync (a Mutex).
unsafe impl Send for Block {}
// SAFETY: shared references only read the bytes.
unsafe impl Sync for Block {}

impl Block {
    const EMPTY: Block = Block {
        ptr: NonNull::<u64>::dangling().cast(),
        len: 0,
        pool: None,
    };

    /// `len` bytes from `pool`, if it is given, the block is large enough to be worth a pool
    /// block, and the pool has memory; with whether they may hold old bytes (else zeros).
    fn from_pool(len: usize, pool: Option<&Arc<Pool>>) -> Option<(Block, bool)> {
        let pool = pool.filter(|_| len >= POOL_MIN)?;
        let rounded = round_up(len, PAGE)?;
        let (ptr, dirty) = pool.take(rounded)?;
        let block = Block {
            ptr,
            len: rounded,
            pool: Some(Arc::clone(pool)),
        };
        Some((block, dirty))
    }

    /// `len` bytes, zeroed; `None` if the memory cannot be had.
    fn zeroed(len: usize, pool: Option<&Arc<Pool>>) -> Option<Block> {
        if len == 0 {
            return Some(Block::EMPTY);
        }
        if let Some((block, dirty)) = Block::from_pool(len, pool) {
            // Clean memory is zero already, and skipping the write leaves its pages untouched
            // until used (as calloc does with fresh mappings).
            if dirty {
                // SAFETY: the pool handed out `block.len >= len` writable bytes for our
                // exclusive use.
                unsafe { block.ptr.as_ptr().write_bytes(0, len) };
            }
            return Some(block);
        }
        let layout = Layout::from_size_align(len, ALIGN).ok()?;
        // SAFETY: the layout has a non-zero size.
        let ptr = NonNull::new(unsafe { alloc_zeroed(layout) })?;
        Some(Block {
            ptr,
            len,
            pool: None,
        })
    }

    /// Like [`Block::zeroed`] but aborts like `Vec` when memory runs out.
    fn zeroed_or_abort(len: usize, pool: Option<&Arc<Pool>>) -> Block {
        Block::zeroed(len, pool).unwrap_or_else(|| {
            handle_alloc_error(Layout::from_size_align(len, ALIGN).unwrap_or(Layout::new::<u64>()))
        })
    }

    /// A block of at least `len` bytes whose contents the caller writes before reading them
    /// (arena chunks are read only up to their written length), so it is not zeroed.
    fn for_writing(len: usize, pool: Option<&Arc<Pool>>) -> Block {
        if let Some((block, _)) = Block::from_pool(len, pool) {
            return block;
        }
        let layout = Layout::from_size_align(len.max(1), ALIGN)
            .unwrap_or_else(|_| handle_alloc_error(Layout::new::<u64>()));
        // SAFETY: the layout has a non-zero size.
        let ptr =
            NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout));
        Block {
            ptr,
            len: layout.size(),
            pool: None,
        }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        match &self.pool {
            Some(pool) => pool.give_back(self.ptr.as_ptr() as usize, self.len),
            None => {
                // SAFETY: allocated by `alloc`/`alloc_zeroed` with this exact layout.
                unsafe {
                    dealloc(
                        self.ptr.as_ptr(),
                        Layout::from_size_align_unchecked(self.len, ALIGN),
                    )
                }
            }
        }
    }
}

/// A zero-initialized table of `u64`s of fixed length (a keydir shard's slots).
pub struct Table {
    block: Block,
    len: usize,
}

impl Table {
    pub const EMPTY: Table = Table {
        block: Block::EMPTY,
        len: 0,
    };

    /// `len` zeroed words; `None` if the memory cannot be had (the caller decides whether that is
    /// fatal).
    pub fn try_zeroed(len: usize, pool: Option<&Arc<Pool>>) -> Option<Table> {
        let bytes = len.checked_mul(size_of::<u64>())?;
        Some(Table {
            block: Block::zeroed(bytes, pool)?,
            len,
        })
    }

    /// `len` zeroed words; aborts like `vec![0; len]` when memory runs out.
    pub fn zeroed(len: usize, pool: Option<&Arc<Pool>>) -> Table {
        let bytes = len
            .checked_mul(size_of::<u64>())
            .unwrap_or_else(|| handle_alloc_error(Layout::new::<u64>()));
        Table {
            block: Block::zeroed_or_abort(bytes, pool),
            len,
        }
    }

    /// Bytes of memory held.
    pub fn footprint(&self) -> usize {
        self.block.len
    }
}

impl Deref for Table {
    type Target = [u64];
    fn deref(&self) -> &[u64] {
        // SAFETY: the block holds `len` zero-initialized (then written) u64s, 8-byte aligned.
        unsafe { std::slice::from_raw_parts(self.block.ptr.as_ptr().cast(), self.len) }
    }
}

impl DerefMut for Table {
    fn deref_mut(&mut self) -> &mut [u64] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.block.ptr.as_ptr().cast(), self.len) }
    }
}

/// A byte buffer with a fixed capacity that is appended to (a keydir arena chunk). Only the first
/// `len` bytes are ever read.
pub struct Chunk {
    block: Block,
    len: usize,
}

impl Default for Chunk {
    fn default() -> Self {
        Chunk {
            block: Block::EMPTY,
            len: 0,
        }
    }
}

impl Chunk {
    /// An empty chunk that can hold at least `cap` bytes.
    pub fn with_capacity(cap: usize, pool: Option<&Arc<Pool>>) -> Chunk {
        Chunk {
            block: Block::for_writing(cap, pool),
            len: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.block.len
    }

    /// Appends `bytes`. Panics if they do not fit: callers reserve room first.
    #[inline]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        assert!(end <= self.block.len, "arena chunk overflow");
        // SAFETY: `len..end` lies inside the block (checked above) and cannot overlap `bytes`,
        // which borrows other memory (we hold `&mut self`).
        unsafe {
            self.block
                .ptr
                .as_ptr()
                .add(self.len)
                .copy_from_nonoverlapping(bytes.as_ptr(), bytes.len())
        };
        self.len = end;
    }

    /// Grows the capacity to at least `cap` bytes, keeping the contents.
    pub fn grow_to(&mut self, cap: usize, pool: Option<&Arc<Pool>>) {
        if cap <= self.capacity() {
            return;
        }
        let mut bigger = Chunk::with_capacity(cap, pool);
        bigger.extend_from_slice(self);
        *self = bigger;
    }

    /// Bytes of memory held.
    pub fn footprint(&self) -> usize {
        self.block.len
    }
}

impl Deref for Chunk {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: the first `len` bytes were written by `extend_from_slice`.
        unsafe { std::slice::from_raw_parts(self.block.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for Chunk {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.block.ptr.as_ptr(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_below_the_threshold_use_the_system_allocator() {
        let pool = Pool::new();
        let t = Table::zeroed(100, pool.as_ref());
        assert!(t.block.pool.is_none());
        assert_eq!(t.len(), 100);
        assert!(t.iter().all(|&w| w == 0));
        if let Some(pool) = &pool {
            assert_eq!(pool.mapped(), 0);
        }
    }

    #[cfg(all(target_os = "linux", not(miri)))]
    #[test]
    fn large_blocks_come_from_aligned_segments_and_are_reused_after_free() {
        let pool = Pool::new().expect("linux has a pool");
        let mut t = Table::zeroed(POOL_MIN / 8, Some(&pool));
        assert!(t.block.pool.is_some());
        assert_eq!(
            t.block.ptr.as_ptr() as usize % HUGE_PAGE,
            0,
            "segment start"
        );
        assert!(t.iter().all(|&w| w == 0));
        t.iter_mut().enumerate().for_each(|(i, w)| *w = i as u64);
        let first = t.block.ptr;
        assert_eq!(pool.mapped(), HUGE_PAGE);
        drop(t);
        // Freed memory is reused, and a reused block is zeroed again.
        let t = Table::zeroed(POOL_MIN / 8, Some(&pool));
        assert_eq!(t.block.ptr, first);
        assert!(t.iter().all(|&w| w == 0));
        assert_eq!(pool.mapped(), HUGE_PAGE);
    }

    #[cfg(all(target_os = "linux", not(miri)))]
    #[test]
    fn freed_neighbours_merge_so_a_larger_block_fits_where_two_were() {
        let pool = Pool::new().expect("linux has a pool");
        let a = Chunk::with_capacity(POOL_MIN, Some(&pool));
        let b = Chunk::with_capacity(POOL_MIN, Some(&pool));
        let c = Chunk::with_capacity(POOL_MIN, Some(&pool));
        let start = a.block.ptr;
        assert_eq!(
            b.block.ptr.as_ptr() as usize,
            start.as_ptr() as usize + POOL_MIN
        );
        drop(a);
        drop(b);
        let ab = Chunk::with_capacity(2 * POOL_MIN, Some(&pool));
        assert_eq!(ab.block.ptr, start, "the two freed blocks merged");
        drop(c);
        drop(ab);
        assert_eq!(
            pool.inner.lock().dirty.len(),
            1,
            "everything merged into one span"
        );
        // A block larger than a segment gets a segment of its own.
        let big = Chunk::with_capacity(3 * HUGE_PAGE, Some(&pool));
        assert_eq!(big.capacity(), 3 * HUGE_PAGE);
        assert!(pool.mapped() >= 4 * HUGE_PAGE);
    }

    #[cfg(all(target_os = "linux", not(miri)))]
    #[test]
    fn freed_memory_is_reused_first_and_given_back_beyond_the_dirty_limit() {
        let pool = Pool::new().expect("linux has a pool");
        let blocks: Vec<Chunk> = (0..200)
            .map(|_| Chunk::with_capacity(POOL_MIN, Some(&pool)))
            .collect();
        let in_use = 200 * POOL_MIN;
        assert_eq!(pool.inner.lock().in_use, in_use);
        // Free every other block: each freed one is dirty, none adjacent to another.
        let mut kept = Vec::new();
        let mut freed_addr = None;
        for (i, b) in blocks.into_iter().enumerate() {
            if i % 2 == 0 {
                kept.push(b);
            } else {
                freed_addr.get_or_insert(b.block.ptr);
            }
        }
        {
            let p = pool.inner.lock();
            assert_eq!(p.in_use, in_use / 2);
            let limit = (p.in_use / DIRTY_RATIO).max(DIRTY_MIN);
            assert!(
                p.dirty_bytes <= limit,
                "{} dirty > limit {limit}",
                p.dirty_bytes
            );
            assert_eq!(p.dirty_bytes, p.dirty.values().sum::<usize>());
            assert!(p.dirty_bytes > 0, "some freed memory is kept for reuse");
            assert!(!p.clean.is_empty(), "the rest went back to the kernel");
        }
        // A new block reuses dirty memory before clean or new memory.
        let dirty_before: Vec<usize> = pool.inner.lock().dirty.keys().copied().collect();
        let b = Chunk::with_capacity(POOL_MIN, Some(&pool));
        assert!(dirty_before.contains(&(b.block.ptr.as_ptr() as usize)));
        drop(kept);
        drop(b);
        let p = pool.inner.lock();
        assert_eq!(p.in_use, 0);
        assert!(p.dirty_bytes <= DIRTY_MIN);
    }

    #[cfg(all(target_os = "linux", not(miri)))]
    #[test]
    fn a_pool_keeps_its_retention_when_nothing_is_in_use() {
        let pool = Pool::with_retention(8 * POOL_MIN).expect("linux has a pool");
        let blocks: Vec<Chunk> = (0..20)
            .map(|_| Chunk::with_capacity(POOL_MIN, Some(&pool)))
            .collect();
        drop(blocks);
        let kept: Vec<usize> = {
            let p = pool.inner.lock();
            assert_eq!(p.in_use, 0);
            assert_eq!(p.dirty_bytes, 8 * POOL_MIN, "retained for the next keydir");
            p.dirty.keys().copied().collect()
        };
        // The next table comes from the retained memory, zeroed.
        let t = Table::zeroed(POOL_MIN / 8, Some(&pool));
        assert!(kept.contains(&(t.block.ptr.as_ptr() as usize)));
        assert!(t.iter().all(|&w| w == 0));
    }

    /// Memory the kernel will not take back (mlock'd: a service may `mlockall`) must not be
    /// taken for zeroed memory: a slot table reusing it would start with stale slots.
    #[cfg(all(target_os = "linux", not(miri)))]
    #[test]
    fn locked_memory_stays_dirty_and_is_zeroed_on_reuse() {
        let pool = Pool::new().expect("linux has a pool");
        let mut blocks: Vec<Table> = (0..40)
            .map(|_| Table::zeroed(POOL_MIN / 8, Some(&pool)))
            .collect();
        for t in &mut blocks {
            t.iter_mut().for_each(|w| *w = u64::MAX);
        }
        let segments = pool.inner.lock().segments.clone();
        let freed: Vec<(usize, usize)> = blocks
            .iter()
            .map(|t| (t.block.ptr.as_ptr() as usize, t.block.len))
            .collect();
        for &(start, len) in &segments {
            // SAFETY: the range is our own mapping; locking pages changes no contents.
            if unsafe { libc::mlock(start as *const libc::c_void, len) } != 0 {
                eprintln!("mlock not permitted here (RLIMIT_MEMLOCK): skipping");
                return;
            }
        }
        drop(blocks);
        {
            let p = pool.inner.lock();
            assert!(
                p.dirty_bytes > DIRTY_MIN,
                "over the limit, yet nothing was given back"
            );
            for (&a, &l) in &p.clean {
                assert!(
                    freed.iter().all(|&(b, bl)| a + l <= b || b + bl <= a),
                    "freed locked memory was filed as clean"
                );
            }
        }
        let t = Table::zeroed(40 * POOL_MIN / 8, Some(&pool));
        assert!(
            t.iter().all(|&w| w == 0),
            "reused locked memory was not zeroed"
        );
        for &(start, len) in &segments {
            // SAFETY: as above.
            unsafe { libc::munlock(start as *const libc::c_void, len) };
        }
    }

    #[test]
    fn chunks_append_grow_and_keep_their_bytes() {
        let pool = Pool::new();
        let mut c = Chunk::with_capacity(16, pool.as_ref());
        c.extend_from_slice(b"hello");
        assert_eq!(&c[..], b"hello");
        c.grow_to(POOL_MIN, pool.as_ref());
        assert!(c.capacity() >= POOL_MIN);
        c.extend_from_slice(&[7u8; 1000]);
        assert_eq!(&c[..5], b"hello");
        assert_eq!(c.len(), 1005);
        c[0] = b'j';
        assert_eq!(&c[..5], b"jello");
    }

    #[test]
    #[should_panic(expected = "arena chunk overflow")]
    fn appending_past_the_capacity_panics_instead_of_writing_out_of_bounds() {
        let mut c = Chunk::with_capacity(8, None);
        c.extend_from_slice(&[0u8; 9]);
    }

    #[test]
    fn blocks_cross_threads() {
        let pool = Pool::new();
        let c = Chunk::with_capacity(POOL_MIN, pool.as_ref());
        std::thread::spawn(move || drop(c)).join().unwrap();
    }
}
