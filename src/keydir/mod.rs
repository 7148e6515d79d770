//! The keydir: the in-memory index from every live key to the location of its newest record.
//!
//! Bitcask keeps every key in RAM, so the per-key overhead of this index bounds how many keys a
//! store can hold. The target is at most 32 bytes per key beyond the key bytes themselves (at 10
//! million 16-byte keys); a `HashMap<Box<[u8]>, Loc>` needs 70+ bytes because of the per-key heap
//! allocation, the 16-byte fat pointer and hashbrown's load factor. The layout here:
//!
//! - **Shards.** 64 shards chosen by the top hash bits, each behind its own `RwLock`, so readers
//!   run in parallel and a resize or compaction stalls only 1/64 of the keys.
//! - **Slot table.** Per shard, an open-addressing table of `u64` slots, linear probing in Robin
//!   Hood order with backward-shift deletion (no tombstones). A slot holds a 40-bit reference into
//!   the shard's key arena plus 24 bits that are compared before the arena is touched: a 16-bit
//!   hash tag and the slot's probe distance. A key can only sit at `home + distance`, so a
//!   candidate must match the tag *and* have exactly the distance being probed; a mismatch almost
//!   never costs a cache miss in the arena. The stored distance also makes deletion and the Robin
//!   Hood early exit work without re-hashing keys.
//! - **Key arena.** Entries `[Loc][varint key length + dead flag][key]` packed into chunks of at
//!   most 64 KiB, so growth never reallocates a large buffer; an entry larger than 8 KiB gets a
//!   dedicated chunk that is freed as soon as its key is removed. Overwrites rewrite the `Loc` in
//!   place. Removed small entries are flagged dead and counted as garbage; a shard compacts its
//!   arena once garbage outweighs live data.
//! - **Staggered growth.** Tables double, but shard `i` starts at `64 + i` slots, so the 64 shards
//!   reach their resize points at different key counts. That spreads resize pauses over time and,
//!   more importantly, flattens the memory sawtooth: with power-of-two tables that all double
//!   together, the whole keydir would sit at 44% load right after a doubling (18 B/key of table
//!   alone); staggered, the average is ~13 B/key at any key count.
//!
//! - **Huge pages.** Tables and full 64 KiB chunks come from a pool of 2 MiB-aligned memory
//!   advised `MADV_HUGEPAGE` (`hugemem`): a random lookup's two touches then rarely miss
//!   the TLB as well as the cache (see that module for the release policy that keeps RSS
//!   honest).
//!
//! Budget for a 16-byte key: slot table 8 B / load (load between 0.44 and 0.875, ~13 B averaged
//! over the stagger) + arena entry 12 (`Loc`) + 1 (varint) + 16 (key) + chunk tail slack. That is
//! about 27 B/key of overhead.

pub(crate) mod hugemem;

use hugemem::{Chunk, Pool, Table};
use parking_lot::RwLock;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;

/// Where the newest record of a key lives: data file id, byte offset of the record in that file,
/// and the record's total length in bytes (header + key + value); and when the key expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Loc {
    pub file_id: u32,
    pub offset: u32,
    pub len: u32,
    /// Seconds since the Unix epoch from which the key reads as absent; 0 = never.
    pub expires: u32,
}

impl Loc {
    /// Whether two locations name the same record (expiry aside).
    pub fn same_record(&self, other: &Loc) -> bool {
        (self.file_id, self.offset, self.len) == (other.file_id, other.offset, other.len)
    }

    /// Whether the key has expired at `now` (seconds since the epoch).
    pub fn expired_at(&self, now: u32) -> bool {
        self.expires != 0 && now >= self.expires
    }
}

/// Asks the CPU to start loading the cache line that `bytes` starts in.
#[inline]
pub(crate) fn prefetch_read<T>(bytes: &[T]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults and changes no state, and the address is
    // that of a live slice anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch(bytes.as_ptr().cast(), std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;

// Slot layout (one u64; 0 means empty):
//
// | bits   | 63..48 | 47..40             | 39..16          | 15..0              |
// |--------|--------|--------------------|-----------------|--------------------|
// | field  | tag    | probe distance + 1 | arena chunk no. | offset in chunk    |
//
// Distance is stored plus one so that an occupied slot is never 0 and an empty slot compares as
// "distance -1", which lets the Robin Hood early exit and the empty check be one comparison.
const TAG_SHIFT: u32 = 48;
const DIST_SHIFT: u32 = 40;
const DIST_ONE: u64 = 1 << DIST_SHIFT;
const MAX_FIELD: u64 = 0xFF;
const REF_MASK: u64 = (1 << DIST_SHIFT) - 1;

// Arena entry layout (byte offsets from the entry's start):
//
// | bytes | 0..12                      | 12..12+v                            | ..+key_len |
// |-------|----------------------------|-------------------------------------|------------|
// | field | Loc: file_id, offset, len  | LEB128 varint: key_len << 1 + dead  | key bytes  |
// |       | (three u32 little-endian)  | (v = 1 byte for keys < 64 bytes)    |            |
//
// A 40-bit reference is `chunk << 16 | offset`. Shared chunks are at most 64 KiB, so every entry
// in them starts below 1 << 16; a dedicated chunk holds one entry at offset 0, however long.
const LOC_BYTES: usize = 16;
const OFFSET_BITS: u32 = 16;
const CHUNK_SIZE: usize = 1 << OFFSET_BITS;
/// 2^24 chunks: reaching that needs over 128 GiB of live keys in one shard (8 TiB in all).
const MAX_CHUNKS: usize = 1 << (DIST_SHIFT - OFFSET_BITS);
/// Larger entries get their own chunk: packing them would leave up to their size unused at the end
/// of a shared chunk, and removing them can free the memory at once instead of waiting for a
/// compaction.
const BIG_ENTRY: usize = CHUNK_SIZE / 8;
/// The first shared chunk of a shard grows from this size by doubling, so small keydirs (tests,
/// tiny stores) do not pay 64 KiB per shard.
const FIRST_CHUNK_MIN: usize = 256;

/// Below this much garbage a shard never compacts: copying is cheap but not free, and tiny shards
/// would otherwise compact every few removes.
const COMPACT_MIN_GARBAGE: usize = 4096;
/// Smallest table of shard 0; shard `i` starts at `BASE_CAP + i` (see the module docs).
const BASE_CAP: usize = 64;
/// The home slot is a fixed-point product of 32 hash bits and the capacity.
const MAX_CAP: usize = (u32::MAX as usize).saturating_add(1);

// Which hash bits feed what. They are disjoint so the shard choice, the home slot and the tag are
// independent: keys of one shard still spread over its whole table, and keys that share a home
// still differ in their tags.
//
// | bits | 63..58 | 55..40 | 31..0     |
// |------|--------|--------|-----------|
// | use  | shard  | tag    | home slot |
#[inline]
fn shard_of(h: u64) -> usize {
    (h >> (64 - SHARD_BITS)) as usize
}

#[inline]
fn tag_of(h: u64) -> u64 {
    (h >> 40) & 0xFFFF
}

/// Multiply-shift instead of a mask so that capacities need not be powers of two (the stagger).
#[inline]
fn home(h: u64, cap: usize) -> usize {
    (((h & 0xFFFF_FFFF) * cap as u64) >> 32) as usize
}

#[inline]
fn field(slot: u64) -> u64 {
    (slot >> DIST_SHIFT) & MAX_FIELD
}

#[inline]
fn split_ref(r: u64) -> (usize, usize) {
    (
        (r >> OFFSET_BITS) as usize,
        (r & ((1 << OFFSET_BITS) - 1)) as usize,
    )
}

#[inline]
fn make_ref(chunk: usize, offset: usize) -> u64 {
    (chunk as u64) << OFFSET_BITS | offset as u64
}

// ---------------------------------------------------------------------------------------------
// Hashing

/// 64x64->128 multiply folded to 64 bits: the core of wyhash/foldhash. Every output bit depends
/// on every input bit, which is what lets one multiply replace several rounds of shifts and xors.
#[inline(always)]
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline(always)]
fn r8(b: &[u8]) -> u64 {
    b.first_chunk::<8>().map_or(0, |w| u64::from_le_bytes(*w))
}

#[inline(always)]
fn r4(b: &[u8]) -> u64 {
    b.first_chunk::<4>()
        .map_or(0, |w| u64::from(u32::from_le_bytes(*w)))
}

/// Seeded hash in the style of wyhash. Both operands of every multiply are xored with a secret, so
/// without the secrets nobody can pick input words that zero a product and erase the state (the
/// known weakness of multiply-fold hashes with public constants).
#[derive(Clone, Copy)]
struct Hasher {
    s1: u64,
    s2: u64,
    /// Tests clear hash bits through this mask to force collisions.
    #[cfg(test)]
    keep: u64,
}

impl Hasher {
    fn new() -> Self {
        // RandomState is seeded from the OS once per thread and varies per instance, which gives
        // every keydir its own secrets without a new dependency.
        let rs = RandomState::new();
        Hasher {
            s1: rs.hash_one(0x6b65_7964_6972_0001_u64),
            s2: rs.hash_one(0x6b65_7964_6972_0002_u64),
            #[cfg(test)]
            keep: u64::MAX,
        }
    }

    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        let (s1, s2) = (self.s1, self.s2);
        let len = key.len();
        // For up to 16 bytes, two (possibly overlapping) reads cover every byte, so distinct keys
        // of equal length give distinct (a, b); the length goes into the final multiply.
        let (a, b, acc) = if len <= 16 {
            if len >= 8 {
                (r8(key), r8(&key[len - 8..]), s2)
            } else if len >= 4 {
                (r4(key), r4(&key[len - 4..]), s2)
            } else if len > 0 {
                let a = u64::from(key[0]) << 16
                    | u64::from(key[len / 2]) << 8
                    | u64::from(key[len - 1]);
                (a, 0, s2)
            } else {
                (0, 0, s2)
            }
        } else {
            let mut acc = s2;
            let mut rest = key;
            while rest.len() > 16 {
                acc = mum(r8(rest) ^ s1, r8(&rest[8..]) ^ acc);
                rest = &rest[16..];
            }
            (r8(&key[len - 16..]), r8(&key[len - 8..]), acc)
        };
        self.mask(mum(s1 ^ len as u64, mum(a ^ s1, b ^ acc)))
    }

    #[cfg(not(test))]
    #[inline(always)]
    fn mask(&self, h: u64) -> u64 {
        h
    }

    #[cfg(test)]
    fn mask(&self, h: u64) -> u64 {
        h & self.keep
    }
}

// ---------------------------------------------------------------------------------------------
// Arena entries

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Encodes into `buf`; returns the encoded length.
fn put_varint(buf: &mut [u8; 10], mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        buf[n] = v as u8 | 0x80;
        v >>= 7;
        n += 1;
    }
    buf[n] = v as u8;
    n + 1
}

/// Returns the value and its encoded length; `None` if the bytes end early or it overflows.
#[inline]
fn get_varint(b: &[u8]) -> Option<(u64, usize)> {
    let first = *b.first()?;
    if first < 0x80 {
        return Some((u64::from(first), 1));
    }
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7F) << (7 * i);
        if byte < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

fn encode_loc(loc: Loc) -> [u8; LOC_BYTES] {
    let mut b = [0u8; LOC_BYTES];
    b[0..4].copy_from_slice(&loc.file_id.to_le_bytes());
    b[4..8].copy_from_slice(&loc.offset.to_le_bytes());
    b[8..12].copy_from_slice(&loc.len.to_le_bytes());
    b[12..16].copy_from_slice(&loc.expires.to_le_bytes());
    b
}

fn decode_loc(b: &[u8; LOC_BYTES]) -> Loc {
    let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    Loc {
        file_id: word(0),
        offset: word(4),
        len: word(8),
        expires: word(12),
    }
}

fn entry_size(key_len: usize) -> usize {
    LOC_BYTES + varint_len((key_len as u64) << 1) + key_len
}

fn write_entry(out: &mut Chunk, loc: Loc, key: &[u8]) {
    out.extend_from_slice(&encode_loc(loc));
    let mut varint = [0u8; 10];
    let n = put_varint(&mut varint, (key.len() as u64) << 1);
    out.extend_from_slice(&varint[..n]);
    out.extend_from_slice(key);
}

struct Entry<'a> {
    loc: Loc,
    key: &'a [u8],
    dead: bool,
    size: usize,
}

/// Parses the entry at `off`; `None` at the end of the chunk.
#[inline]
fn parse_entry(chunk: &[u8], off: usize) -> Option<Entry<'_>> {
    let (loc, rest) = chunk.get(off..)?.split_first_chunk::<LOC_BYTES>()?;
    let (v, n) = get_varint(rest)?;
    let key_len = usize::try_from(v >> 1).ok()?;
    let key = rest.get(n..n.checked_add(key_len)?)?;
    Some(Entry {
        loc: decode_loc(loc),
        key,
        dead: v & 1 == 1,
        size: LOC_BYTES + n + key_len,
    })
}

#[inline]
fn entry_at(chunks: &[Chunk], r: u64) -> Option<Entry<'_>> {
    let (c, off) = split_ref(r);
    parse_entry(chunks.get(c)?, off)
}

// ---------------------------------------------------------------------------------------------
// Shard

#[derive(Clone, Copy)]
enum Pos {
    Slot(usize),
    Spill(usize),
}

/// Robin Hood insertion of a new slot for hash `h` and arena reference `r`. `Err` carries the one
/// slot (possibly an older one displaced on the way) that would need a distance beyond
/// `MAX_FIELD`; every other slot is then correctly placed.
fn place(slots: &mut [u64], h: u64, r: u64) -> Result<(), u64> {
    let cap = slots.len();
    let mut cur = tag_of(h) << TAG_SHIFT | DIST_ONE | r;
    if cap == 0 {
        return Err(cur);
    }
    let mut i = home(h, cap);
    // The caller keeps the table below full, so an empty slot ends the walk; the step bound only
    // guarantees termination if that ever failed.
    for _ in 0..cap {
        let s = slots[i];
        if s == 0 {
            slots[i] = cur;
            return Ok(());
        }
        if field(s) < field(cur) {
            slots[i] = cur;
            cur = s;
        }
        if field(cur) == MAX_FIELD {
            return Err(cur);
        }
        cur += DIST_ONE;
        i += 1;
        if i == cap {
            i = 0;
        }
    }
    Err(cur)
}

struct Shard {
    /// The slot table; empty until the first insert.
    slots: Table,
    /// Live keys, including spilled ones.
    len: usize,
    /// This shard's first table size; growth doubles it.
    base: usize,
    chunks: Vec<Chunk>,
    /// The shared chunk that receives small entries.
    tail: Option<usize>,
    /// Indexes of freed dedicated chunks, reused before the chunk list grows.
    free_chunks: Vec<u32>,
    /// Bytes of live and of dead entries in shared chunks (dedicated chunks are freed at once).
    live_bytes: usize,
    garbage_bytes: usize,
    /// `(hash, ref)` of keys that found no slot within `MAX_FIELD` probes of home. Only a
    /// pathological hash distribution (many keys agreeing on 32+ bits) gets here; a side list keeps
    /// that case correct and bounded instead of growing the table without end.
    spill: Vec<(u64, u64)>,
    /// Where tables and full chunks come from (shared by all shards of the keydir).
    pool: Option<Arc<Pool>>,
    #[cfg(test)]
    stats: TestStats,
}

#[cfg(test)]
#[derive(Clone, Copy, Default, Debug)]
struct TestStats {
    compactions: usize,
    rebuilds: usize,
}

impl Shard {
    fn new(base: usize, pool: Option<Arc<Pool>>) -> Self {
        Shard {
            slots: Table::EMPTY,
            len: 0,
            base,
            chunks: Vec::new(),
            tail: None,
            free_chunks: Vec::new(),
            live_bytes: 0,
            garbage_bytes: 0,
            spill: Vec::new(),
            pool,
            #[cfg(test)]
            stats: TestStats::default(),
        }
    }

    fn heap_bytes(&self) -> usize {
        self.slots.footprint()
            + self.chunks.capacity() * size_of::<Chunk>()
            + self.chunks.iter().map(Chunk::footprint).sum::<usize>()
            + self.free_chunks.capacity() * size_of::<u32>()
            + self.spill.capacity() * size_of::<(u64, u64)>()
    }

    #[inline]
    fn find(&self, h: u64, key: &[u8]) -> Option<(Pos, u64)> {
        let cap = self.slots.len();
        if cap > 0 {
            let want = tag_of(h) << 8;
            let mut i = home(h, cap);
            let mut f = 1u64;
            loop {
                let s = self.slots[i];
                let hi = s >> DIST_SHIFT;
                // Robin Hood order: past a slot nearer its home than we are to ours (or an empty
                // one, field 0), the key cannot be. Fields never exceed MAX_FIELD, so this ends
                // within MAX_FIELD + 1 probes.
                if hi & MAX_FIELD < f {
                    break;
                }
                if hi == want | f && self.key_eq(s & REF_MASK, key) {
                    return Some((Pos::Slot(i), s & REF_MASK));
                }
                f += 1;
                i += 1;
                if i == cap {
                    i = 0;
                }
            }
        }
        if self.spill.is_empty() {
            return None;
        }
        self.spill
            .iter()
            .position(|&(sh, r)| sh == h && self.key_eq(r, key))
            .map(|k| (Pos::Spill(k), self.spill[k].1))
    }

    #[inline]
    fn key_eq(&self, r: u64, key: &[u8]) -> bool {
        entry_at(&self.chunks, r).is_some_and(|e| e.key == key)
    }

    fn loc_at(&self, r: u64) -> Option<Loc> {
        entry_at(&self.chunks, r).map(|e| e.loc)
    }

    fn set_loc(&mut self, r: u64, loc: Loc) {
        let (c, off) = split_ref(r);
        let dst = self
            .chunks
            .get_mut(c)
            .and_then(|chunk| chunk.get_mut(off..off + LOC_BYTES));
        if let Some(dst) = dst {
            dst.copy_from_slice(&encode_loc(loc));
        }
    }

    fn get(&self, h: u64, key: &[u8]) -> Option<Loc> {
        let (_, r) = self.find(h, key)?;
        self.loc_at(r)
    }

    fn insert(&mut self, hasher: &Hasher, h: u64, key: &[u8], loc: Loc) -> Option<Loc> {
        if let Some((_, r)) = self.find(h, key) {
            let old = self.loc_at(r);
            self.set_loc(r, loc);
            return old;
        }
        let r = self.append(key, loc);
        self.len += 1;
        let cap = self.slots.len();
        if self.len as u64 * 8 > cap as u64 * 7 && cap < MAX_CAP {
            // The rebuild walks the arena, which already holds the new entry.
            self.rebuild(self.grown_cap(), hasher);
        } else if let Err(cur) = place(&mut self.slots, h, r) {
            if self.len * 2 >= cap && cap < MAX_CAP {
                // A long run at moderate load: more room is the cheap fix.
                self.rebuild(self.grown_cap(), hasher);
            } else {
                let r = cur & REF_MASK;
                let h = entry_at(&self.chunks, r).map_or(0, |e| hasher.hash(e.key));
                self.spill.push((h, r));
            }
        }
        None
    }

    fn replace_if(&mut self, h: u64, key: &[u8], expected: Loc, new: Loc) -> bool {
        match self.find(h, key) {
            Some((_, r)) if self.loc_at(r) == Some(expected) => {
                self.set_loc(r, new);
                true
            }
            _ => false,
        }
    }

    fn remove(&mut self, hasher: &Hasher, h: u64, key: &[u8]) -> Option<Loc> {
        let (pos, r) = self.find(h, key)?;
        let loc = self.loc_at(r);
        match pos {
            Pos::Slot(i) => self.erase_slot(i),
            Pos::Spill(k) => {
                self.spill.swap_remove(k);
            }
        }
        self.kill(r);
        self.len -= 1;
        if self.garbage_bytes >= COMPACT_MIN_GARBAGE && self.garbage_bytes >= self.live_bytes {
            self.compact(hasher);
        }
        loc
    }

    /// Backward-shift deletion: pull the following run back by one until a slot that is empty or
    /// already at its home, so lookups never need tombstones.
    fn erase_slot(&mut self, mut i: usize) {
        let cap = self.slots.len();
        loop {
            let j = if i + 1 == cap { 0 } else { i + 1 };
            let s = self.slots[j];
            if field(s) <= 1 {
                break;
            }
            self.slots[i] = s - DIST_ONE;
            i = j;
        }
        self.slots[i] = 0;
    }

    fn grown_cap(&self) -> usize {
        match self.slots.len() {
            0 => self.base,
            cap => cap.saturating_mul(2).min(MAX_CAP),
        }
    }

    /// Appends a new entry and returns its reference.
    fn append(&mut self, key: &[u8], loc: Loc) -> u64 {
        let size = entry_size(key.len());
        if size > BIG_ENTRY {
            let mut buf = Chunk::with_capacity(size, self.pool.as_ref());
            write_entry(&mut buf, loc, key);
            return make_ref(self.add_chunk(buf), 0);
        }
        let c = self.tail_with_room(size);
        let chunk = &mut self.chunks[c];
        let off = chunk.len();
        write_entry(chunk, loc, key);
        self.live_bytes += size;
        make_ref(c, off)
    }

    /// Copies an already encoded small, live entry (compaction).
    fn append_raw(&mut self, bytes: &[u8]) -> u64 {
        let c = self.tail_with_room(bytes.len());
        let chunk = &mut self.chunks[c];
        let off = chunk.len();
        chunk.extend_from_slice(bytes);
        self.live_bytes += bytes.len();
        make_ref(c, off)
    }

    /// The shared chunk to append `size` (at most `BIG_ENTRY`) bytes to, with room reserved.
    fn tail_with_room(&mut self, size: usize) -> usize {
        if let Some(t) = self.tail {
            let chunk = &mut self.chunks[t];
            let need = chunk.len() + size;
            if need <= chunk.capacity() {
                return t;
            }
            if need <= CHUNK_SIZE {
                let cap = chunk.capacity().saturating_mul(2).clamp(need, CHUNK_SIZE);
                chunk.grow_to(cap, self.pool.as_ref());
                return t;
            }
            // The shard already filled a chunk, so it will likely fill the next one too: allocate
            // it whole instead of regrowing it step by step.
            let t = self.add_chunk(Chunk::with_capacity(CHUNK_SIZE, self.pool.as_ref()));
            self.tail = Some(t);
            return t;
        }
        let t = self.add_chunk(Chunk::with_capacity(
            FIRST_CHUNK_MIN.max(size),
            self.pool.as_ref(),
        ));
        self.tail = Some(t);
        t
    }

    fn add_chunk(&mut self, chunk: Chunk) -> usize {
        if let Some(c) = self.free_chunks.pop() {
            let c = c as usize;
            self.chunks[c] = chunk;
            return c;
        }
        // Resource limit, like a Vec's capacity overflow: see MAX_CHUNKS for why it is unreachable
        // before memory runs out.
        assert!(
            self.chunks.len() < MAX_CHUNKS,
            "keydir shard exceeds its arena address space"
        );
        self.chunks.push(chunk);
        self.chunks.len() - 1
    }

    /// Marks the entry at `r` dead, or frees it if it has a chunk of its own.
    fn kill(&mut self, r: u64) {
        let (c, off) = split_ref(r);
        let Some(chunk) = self.chunks.get_mut(c) else {
            return;
        };
        let Some(size) = parse_entry(chunk, off).map(|e| e.size) else {
            return;
        };
        if size > BIG_ENTRY {
            *chunk = Chunk::default();
            self.free_chunks.push(c as u32);
        } else {
            // The dead flag is bit 0 of the varint's value, i.e. bit 0 of its first byte.
            if let Some(b) = chunk.get_mut(off + LOC_BYTES) {
                *b |= 1;
            }
            self.live_bytes -= size;
            self.garbage_bytes += size;
        }
    }

    /// Rebuilds the slot table with `cap` slots from the arena. Walking the arena reads memory
    /// sequentially; walking the old table would take a cache miss per key to re-hash it.
    fn rebuild(&mut self, cap: usize, hasher: &Hasher) {
        #[cfg(test)]
        {
            self.stats.rebuilds += 1;
        }
        // Free the old table first: it is not needed, and this keeps the peak at one table.
        self.slots = Table::EMPTY;
        self.spill = Vec::new();
        let mut slots = Table::zeroed(cap, self.pool.as_ref());
        let mut spill = Vec::new();
        for (c, chunk) in self.chunks.iter().enumerate() {
            let mut off = 0;
            while let Some(e) = parse_entry(chunk, off) {
                if !e.dead {
                    let r = make_ref(c, off);
                    if let Err(cur) = place(&mut slots, hasher.hash(e.key), r) {
                        let r = cur & REF_MASK;
                        let h = entry_at(&self.chunks, r).map_or(0, |e| hasher.hash(e.key));
                        spill.push((h, r));
                    }
                }
                off += e.size;
            }
        }
        self.slots = slots;
        self.spill = spill;
    }

    /// Copies the live entries into fresh chunks, rewriting the references in place (no rehash),
    /// then shrinks the table if it has become mostly empty.
    fn compact(&mut self, hasher: &Hasher) {
        #[cfg(test)]
        {
            self.stats.compactions += 1;
        }
        let mut old = std::mem::take(&mut self.chunks);
        self.tail = None;
        self.free_chunks = Vec::new();
        self.live_bytes = 0;
        self.garbage_bytes = 0;
        for i in 0..self.slots.len() {
            let s = self.slots[i];
            if s != 0 {
                let r = self.adopt(&mut old, s & REF_MASK);
                self.slots[i] = (s & !REF_MASK) | r;
            }
        }
        for k in 0..self.spill.len() {
            let r = self.adopt(&mut old, self.spill[k].1);
            self.spill[k].1 = r;
        }
        drop(old);
        let cap = self.slots.len();
        if self.len == 0 {
            self.slots = Table::EMPTY;
            self.spill = Vec::new();
        } else if self.len as u64 * 32 < cap as u64 * 7 {
            // Below a quarter of the maximum load: shrink to half of the maximum load, which
            // leaves room to double before the next resize.
            let mut target = self.base;
            while (target as u64) * 7 < self.len as u64 * 16 {
                target *= 2;
            }
            if target < cap {
                self.rebuild(target, hasher);
            }
        }
    }

    /// Moves the live entry `r` of the old chunk list into this shard's (new) arena.
    fn adopt(&mut self, old: &mut [Chunk], r: u64) -> u64 {
        let (c, off) = split_ref(r);
        let Some(chunk) = old.get_mut(c) else {
            return r;
        };
        let Some(size) = parse_entry(chunk, off).map(|e| e.size) else {
            return r;
        };
        if size > BIG_ENTRY {
            make_ref(self.add_chunk(std::mem::take(chunk)), 0)
        } else {
            self.append_raw(&chunk[off..off + size])
        }
    }

    /// Arena order, which is sequential in memory; every live key has exactly one live entry.
    fn visit(&self, f: &mut impl FnMut(&[u8], Loc)) {
        for chunk in &self.chunks {
            let mut off = 0;
            while let Some(e) = parse_entry(chunk, off) {
                if !e.dead {
                    f(e.key, e.loc);
                }
                off += e.size;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// KeyDir

/// Own cache lines per shard: readers write the lock word, and neighbouring shards sharing a
/// line would make readers of different shards contend.
#[repr(align(128))]
struct ShardLock(RwLock<Shard>);

/// The keydir: a sharded map from key bytes to [`Loc`], safe to share between threads.
pub struct KeyDir {
    shards: Box<[ShardLock; SHARDS]>,
    hasher: Hasher,
}

/// A set of shards write-locked for the duration of a load: entries are applied without a lock
/// round trip each, and the caller can prefetch the slot a coming entry will probe, so the cache
/// misses of many inserts overlap instead of being paid one after another (opening a store is
/// almost all keydir inserts, each a miss into a table far larger than the cache).
pub struct BulkLoad<'k> {
    guards: Vec<Option<parking_lot::RwLockWriteGuard<'k, Shard>>>,
    hasher: &'k Hasher,
}

impl BulkLoad<'_> {
    fn shard(&mut self, h: u64) -> &mut Shard {
        self.guards[shard_of(h)]
            .as_mut()
            .expect("bulk load of a key in a shard it does not hold")
    }

    /// Asks the CPU to start loading the slot `h`'s lookup begins at.
    #[inline]
    pub fn prefetch(&self, h: u64) {
        if let Some(Some(shard)) = self.guards.get(shard_of(h)) {
            let cap = shard.slots.len();
            if cap > 0 {
                prefetch_read(std::slice::from_ref(&shard.slots[home(h, cap)]));
            }
        }
    }

    /// [`KeyDir::insert`] with the key's precomputed hash.
    pub fn insert(&mut self, h: u64, key: &[u8], loc: Loc) -> Option<Loc> {
        let hasher = self.hasher;
        self.shard(h).insert(hasher, h, key, loc)
    }

    /// [`KeyDir::remove`] with the key's precomputed hash.
    pub fn remove(&mut self, h: u64, key: &[u8]) -> Option<Loc> {
        let hasher = self.hasher;
        self.shard(h).remove(hasher, h, key)
    }
}

// Shared by reference between reader and writer threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<KeyDir>();
};

impl KeyDir {
    /// An empty keydir. Tables and arenas are allocated on first insert into each shard.
    pub fn new() -> Self {
        let pool = Pool::shared();
        KeyDir {
            shards: Box::new(std::array::from_fn(|i| {
                ShardLock(RwLock::new(Shard::new(BASE_CAP + i, pool.clone())))
            })),
            hasher: Hasher::new(),
        }
    }

    /// Pre-sizes the slot tables for `keys` keys, so loading that many needs no resize.
    pub fn with_capacity(keys: usize) -> Self {
        let kd = Self::new();
        if keys == 0 {
            return kd;
        }
        // Shard sizes are binomial around the mean; 4 standard deviations of slack make a resize
        // during the load very unlikely at a cost of a few percent.
        let per = keys / SHARDS;
        let need = per + 4 * per.isqrt() + 8;
        let cap = need.saturating_add(need / 7 + 1).min(MAX_CAP);
        for s in kd.shards.iter() {
            let mut shard = s.0.write();
            // An absurd hint must not abort the process (as `vec![0; cap]` would on allocation
            // failure); the table then just grows on demand.
            if let Some(slots) = Table::try_zeroed(cap, shard.pool.as_ref()) {
                shard.slots = slots;
            }
        }
        kd
    }

    #[inline]
    fn shard(&self, h: u64) -> &RwLock<Shard> {
        &self.shards[shard_of(h)].0
    }

    /// Asks the CPU to start loading the slot where a lookup of `key` starts, so that the cache
    /// miss overlaps with the caller's work before the real lookup.
    pub fn prefetch(&self, key: &[u8]) {
        let h = self.hasher.hash(key);
        let shard = self.shard(h).read();
        let cap = shard.slots.len();
        if cap > 0 {
            prefetch_read(std::slice::from_ref(&shard.slots[home(h, cap)]));
        }
    }

    /// The location of `key`'s newest record, if the key is live.
    pub fn get(&self, key: &[u8]) -> Option<Loc> {
        let h = self.hasher.hash(key);
        self.shard(h).read().get(h, key)
    }

    /// Whether `key` is live.
    pub fn contains(&self, key: &[u8]) -> bool {
        let h = self.hasher.hash(key);
        self.shard(h).read().find(h, key).is_some()
    }

    /// Inserts or overwrites; returns the previous `Loc`.
    pub fn insert(&self, key: &[u8], loc: Loc) -> Option<Loc> {
        let h = self.hasher.hash(key);
        self.shard(h).write().insert(&self.hasher, h, key, loc)
    }

    /// Returns the removed `Loc`.
    pub fn remove(&self, key: &[u8]) -> Option<Loc> {
        let h = self.hasher.hash(key);
        self.shard(h).write().remove(&self.hasher, h, key)
    }

    /// Replace the Loc only if the current one equals `expected` (used by merge to publish a
    /// moved record without overwriting a newer write). Returns true if replaced.
    pub fn replace_if(&self, key: &[u8], expected: Loc, new: Loc) -> bool {
        let h = self.hasher.hash(key);
        self.shard(h).write().replace_if(h, key, expected, new)
    }

    /// Applies `(key, Some(loc))` inserts and `(key, None)` removals, in order, as one atomic step:
    /// every shard involved is write-locked (in shard order, so two batches cannot deadlock) before
    /// the first change, so no reader sees some of the changes without the others. Returns the
    /// previous `Loc` of each operation.
    pub fn apply_atomically(&self, ops: &[(&[u8], Option<Loc>)]) -> Vec<Option<Loc>> {
        let hashes: Vec<u64> = ops.iter().map(|(k, _)| self.hasher.hash(k)).collect();
        let mut shard_ids: Vec<usize> = hashes.iter().map(|&h| shard_of(h)).collect();
        shard_ids.sort_unstable();
        shard_ids.dedup();
        let mut guards: Vec<_> = shard_ids
            .iter()
            .map(|&i| (i, self.shards[i].0.write()))
            .collect();
        ops.iter()
            .zip(&hashes)
            .map(|(&(key, loc), &h)| {
                let at = guards
                    .binary_search_by_key(&shard_of(h), |(i, _)| *i)
                    .expect("every involved shard is locked");
                let shard = &mut guards[at].1;
                match loc {
                    Some(loc) => shard.insert(&self.hasher, h, key, loc),
                    None => shard.remove(&self.hasher, h, key),
                }
            })
            .collect()
    }

    /// Number of shards: keys with different [`KeyDir::shard_index`] never contend, so work can be
    /// split across threads by shard.
    pub const SHARDS: usize = SHARDS;

    /// The shard `key` lives in, `0..KeyDir::SHARDS`.
    pub fn shard_index(&self, key: &[u8]) -> usize {
        shard_of(self.hasher.hash(key))
    }

    /// The hash the keydir files `key` under ([`BulkLoad`] takes it precomputed).
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash(key)
    }

    /// The shard a hash from [`KeyDir::hash`] belongs to.
    pub fn shard_of_hash(h: u64) -> usize {
        shard_of(h)
    }

    /// Write-locks every shard `owns` selects, for a bulk load (see [`BulkLoad`]).
    pub fn bulk_load(&self, owns: impl Fn(usize) -> bool) -> BulkLoad<'_> {
        BulkLoad {
            guards: self
                .shards
                .iter()
                .enumerate()
                .map(|(i, s)| owns(i).then(|| s.0.write()))
                .collect(),
            hasher: &self.hasher,
        }
    }

    /// Number of live keys. Not a snapshot: shards are counted one after another.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.0.read().len).sum()
    }

    /// Whether no key is live.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.0.read().len == 0)
    }

    /// Bytes of heap this keydir holds (tables + key storage, counted by capacity, not by use).
    /// Table rebuilds (growth or shrink) since the keydir was made, over all shards.
    #[cfg(test)]
    pub(crate) fn rebuilds(&self) -> usize {
        self.shards.iter().map(|s| s.0.read().stats.rebuilds).sum()
    }

    pub fn heap_bytes(&self) -> usize {
        size_of::<[ShardLock; SHARDS]>()
            + self
                .shards
                .iter()
                .map(|s| s.0.read().heap_bytes())
                .sum::<usize>()
    }

    /// Visit every entry, one shard at a time under that shard's read lock. `f` must not call into
    /// the KeyDir.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], Loc)) {
        for s in self.shards.iter() {
            s.0.read().visit(&mut f);
        }
    }

    /// Same, but holding the read locks of ALL shards for the whole visit (a consistent
    /// snapshot). Locks are taken in shard order and writers hold one shard at a time, so this
    /// cannot deadlock against writers or against another snapshot.
    pub fn for_each_consistent(&self, mut f: impl FnMut(&[u8], Loc)) {
        let guards: Vec<_> = self.shards.iter().map(|s| s.0.read()).collect();
        for g in &guards {
            g.visit(&mut f);
        }
    }

    /// Removes every key and returns the memory.
    pub fn clear(&self) {
        for s in self.shards.iter() {
            let mut shard = s.0.write();
            *shard = Shard::new(shard.base, shard.pool.clone());
        }
    }
}

impl Default for KeyDir {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for KeyDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyDir")
            .field("len", &self.len())
            .field("heap_bytes", &self.heap_bytes())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// The seeded generator every test of the crate uses (`fastrand`), with the draws these
    /// tests make.
    struct Rng(fastrand::Rng);

    impl Rng {
        fn new(seed: u64) -> Self {
            Rng(fastrand::Rng::with_seed(seed))
        }

        fn next(&mut self) -> u64 {
            self.0.u64(..)
        }

        fn below(&mut self, n: usize) -> usize {
            self.0.usize(..n)
        }

        fn bytes(&mut self, n: usize) -> Vec<u8> {
            let mut v = vec![0u8; n];
            self.0.fill(&mut v);
            v
        }

        fn loc(&mut self) -> Loc {
            let mut word = || match self.below(8) {
                0 => 0,
                1 => u32::MAX,
                _ => self.next() as u32,
            };
            Loc {
                file_id: word(),
                offset: word(),
                len: word(),
                expires: word(),
            }
        }
    }

    impl KeyDir {
        /// A keydir whose hash keeps only the bits in `keep`, to force collisions.
        fn with_hash_mask(keep: u64) -> Self {
            let mut kd = KeyDir::new();
            kd.hasher.keep = keep;
            kd
        }

        fn stats(&self) -> TestStats {
            let mut t = TestStats::default();
            for s in self.shards.iter() {
                let s = s.0.read();
                t.compactions += s.stats.compactions;
                t.rebuilds += s.stats.rebuilds;
            }
            t
        }

        fn spilled(&self) -> usize {
            self.shards.iter().map(|s| s.0.read().spill.len()).sum()
        }

        fn max_field(&self) -> u64 {
            let f = |s: &ShardLock| s.0.read().slots.iter().map(|&x| field(x)).max();
            self.shards.iter().filter_map(f).max().unwrap_or(0)
        }

        /// Checks every structural invariant of every shard.
        fn check_invariants(&self) {
            for (si, s) in self.shards.iter().enumerate() {
                s.0.read().check(&self.hasher, si);
            }
        }
    }

    impl Shard {
        fn check(&self, hasher: &Hasher, shard_idx: usize) {
            let cap = self.slots.len();
            let mut refs = HashSet::new();
            for (i, &s) in self.slots.iter().enumerate() {
                if s == 0 {
                    continue;
                }
                let r = s & REF_MASK;
                let e = entry_at(&self.chunks, r).expect("slot points at an entry");
                assert!(!e.dead, "slot points at a dead entry");
                let h = hasher.hash(e.key);
                assert_eq!(shard_of(h), shard_idx, "key in the wrong shard");
                assert_eq!(s >> TAG_SHIFT, tag_of(h), "tag");
                let d = (field(s) - 1) as usize;
                assert_eq!((home(h, cap) + d) % cap, i, "distance does not lead home");
                if d > 0 {
                    let prev = self.slots[(i + cap - 1) % cap];
                    assert!(prev != 0 && field(prev) + 1 >= field(s), "Robin Hood order");
                }
                assert!(refs.insert(r), "two slots share an entry");
            }
            for &(h, r) in &self.spill {
                let e = entry_at(&self.chunks, r).expect("spill points at an entry");
                assert!(!e.dead);
                assert_eq!(hasher.hash(e.key), h, "spilled hash");
                assert!(refs.insert(r), "spill duplicates an entry");
            }
            assert_eq!(refs.len(), self.len, "len");
            if cap < MAX_CAP {
                assert!(self.len as u64 * 8 <= cap as u64 * 7, "load factor");
            }
            let (mut live, mut dead, mut seen) = (0, 0, 0);
            for (c, chunk) in self.chunks.iter().enumerate() {
                assert!(chunk.capacity() <= CHUNK_SIZE || chunk.len() > BIG_ENTRY);
                let mut off = 0;
                while let Some(e) = parse_entry(chunk, off) {
                    let big = e.size > BIG_ENTRY;
                    assert!(
                        !big || (off == 0 && e.size == chunk.len()),
                        "big entry shares"
                    );
                    if e.dead {
                        dead += e.size;
                    } else {
                        assert!(refs.contains(&make_ref(c, off)), "live entry unreferenced");
                        seen += 1;
                        if !big {
                            live += e.size;
                        }
                    }
                    off += e.size;
                }
                assert_eq!(off, chunk.len(), "chunk parses to its end");
            }
            for &c in &self.free_chunks {
                assert_eq!(
                    self.chunks[c as usize].capacity(),
                    0,
                    "free chunk holds memory"
                );
            }
            assert_eq!(seen, self.len, "live entries");
            assert_eq!(live, self.live_bytes, "live bytes");
            assert_eq!(dead, self.garbage_bytes, "garbage bytes");
            assert!(
                self.garbage_bytes < COMPACT_MIN_GARBAGE || self.garbage_bytes < self.live_bytes,
                "compaction overdue"
            );
        }
    }

    fn loc(n: u32) -> Loc {
        Loc {
            file_id: n,
            offset: n.wrapping_mul(7),
            len: n ^ 0xABCD,
            expires: n.wrapping_mul(3),
        }
    }

    /// Keys of lengths 1..64 over a small alphabet with NUL, shared prefixes, all-NUL keys of
    /// several lengths, the empty key, keys around the dedicated-chunk threshold and a few huge
    /// ones (200 KiB and 1.1 MiB, with near-identical twins).
    fn key_pool(rng: &mut Rng, n: usize) -> Vec<Vec<u8>> {
        let mut pool: Vec<Vec<u8>> = vec![Vec::new()];
        while pool.len() < n {
            let k = match rng.below(10) {
                0..=5 => {
                    let len = 1 + rng.below(63);
                    let alphabet = [0u8, 1, b'a', b'b', 0xFF, rng.next() as u8];
                    (0..len).map(|_| alphabet[rng.below(6)]).collect()
                }
                6 | 7 => {
                    let mut k = pool[rng.below(pool.len())].clone();
                    if k.len() > 1 && rng.below(2) == 0 {
                        k.pop();
                    } else {
                        let extra = 1 + rng.below(3);
                        k.extend(rng.bytes(extra));
                    }
                    k
                }
                8 => vec![0u8; 1 + rng.below(63)],
                _ => {
                    let mut k = b"k/".to_vec();
                    k.extend_from_slice(&(pool.len() as u64).to_le_bytes());
                    k
                }
            };
            pool.push(k);
        }
        // Entry sizes around BIG_ENTRY: the shared/dedicated decision must be consistent.
        for len in BIG_ENTRY - 20..BIG_ENTRY - 10 {
            pool.push(rng.bytes(len));
        }
        let big = rng.bytes(200 << 10);
        let mut twin = big.clone();
        *twin.last_mut().unwrap() ^= 1;
        let mut longer = big.clone();
        longer.push(0);
        let huge = rng.bytes(1100 << 10);
        let mut huge_twin = huge.clone();
        huge_twin[0] ^= 0x80;
        pool.extend([big, twin, longer, huge, huge_twin]);
        pool
    }

    fn check_against_model(kd: &KeyDir, model: &HashMap<Vec<u8>, Loc>, pool: &[Vec<u8>]) {
        assert_eq!(kd.len(), model.len());
        assert_eq!(kd.is_empty(), model.is_empty());
        for k in pool {
            assert_eq!(
                kd.get(k),
                model.get(k).copied(),
                "get {:?}",
                &k[..k.len().min(16)]
            );
            assert_eq!(kd.contains(k), model.contains_key(k));
        }
        let mut seen = HashMap::new();
        kd.for_each(|k, l| assert!(seen.insert(k.to_vec(), l).is_none(), "visited twice"));
        assert!(&seen == model, "for_each differs from the model");
        let mut n = 0;
        kd.for_each_consistent(|k, l| {
            assert_eq!(model.get(k), Some(&l));
            n += 1;
        });
        assert_eq!(n, model.len());
        kd.check_invariants();
    }

    /// Random operations checked against a HashMap. `phases` lists (ops, insert %, remove %); the
    /// rest of each phase is split between replace_if and get. The whole state is compared five
    /// times per phase and at its end.
    fn run_model(kd: &KeyDir, seed: u64, pool_size: usize, phases: &[(usize, usize, usize)]) {
        let mut rng = Rng::new(seed);
        let pool = key_pool(&mut rng, pool_size);
        let mut model: HashMap<Vec<u8>, Loc> = HashMap::new();
        let mut step = 0;
        for &(ops, ins, rem) in phases {
            let check_every = (ops / 5).max(1);
            for _ in 0..ops {
                let k = &pool[rng.below(pool.len())];
                let p = rng.below(100);
                if p < ins {
                    let l = rng.loc();
                    assert_eq!(kd.insert(k, l), model.insert(k.clone(), l));
                } else if p < ins + rem {
                    assert_eq!(kd.remove(k), model.remove(k));
                } else if p < ins + rem + (100 - ins - rem) / 2 {
                    let expected = match model.get(k) {
                        Some(&cur) if rng.below(4) != 0 => cur,
                        _ => rng.loc(),
                    };
                    let new = rng.loc();
                    let should = model.get(k) == Some(&expected);
                    assert_eq!(kd.replace_if(k, expected, new), should);
                    if should {
                        model.insert(k.clone(), new);
                    }
                } else {
                    assert_eq!(kd.get(k), model.get(k).copied());
                }
                step += 1;
                if step % check_every == 0 {
                    check_against_model(kd, &model, &pool);
                }
            }
            check_against_model(kd, &model, &pool);
        }
    }

    #[test]
    fn model_mixed() {
        for seed in 1..=4 {
            let kd = KeyDir::new();
            run_model(&kd, seed, 20_000, &[(25_000, 70, 5), (15_000, 30, 30)]);
            // One rebuild per shard is the first allocation; more means the tables grew.
            assert!(kd.stats().rebuilds >= SHARDS * 2, "tables never grew");
        }
    }

    #[test]
    fn model_delete_most_compacts_and_shrinks() {
        for seed in 10..=12 {
            let kd = KeyDir::new();
            run_model(&kd, seed, 50_000, &[(100_000, 90, 0)]);
            let key_bytes = |kd: &KeyDir| {
                let mut n = 0;
                kd.for_each(|k, _| n += k.len());
                n
            };
            let full = kd.heap_bytes() - key_bytes(&kd);
            run_model_continue(&kd, seed);
            let st = kd.stats();
            assert!(st.compactions >= SHARDS, "compactions: {st:?}");
            // With ~5% of the keys left, the memory beyond the key bytes must have been returned
            // (arena garbage compacted, tables shrunk, big keys freed).
            let now = kd.heap_bytes() - key_bytes(&kd);
            assert!(now < full / 3, "{now} vs {full}");
        }
    }

    /// Second half of `model_delete_most_compacts_and_shrinks`: same pool and model rebuilt from
    /// the keydir, then remove-heavy and mixed phases.
    fn run_model_continue(kd: &KeyDir, seed: u64) {
        let mut rng = Rng::new(seed ^ 0xDEAD);
        let mut model = HashMap::new();
        let mut pool = Vec::new();
        kd.for_each(|k, l| {
            model.insert(k.to_vec(), l);
            pool.push(k.to_vec());
        });
        pool.extend(key_pool(&mut rng, 100));
        // Remove ~95% of the keys, then keep mixing.
        let mut order: Vec<usize> = (0..pool.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        for &i in &order[..order.len() * 95 / 100] {
            assert_eq!(kd.remove(&pool[i]), model.remove(&pool[i]));
        }
        check_against_model(kd, &model, &pool);
        for _ in 0..20_000 {
            let k = &pool[rng.below(pool.len())];
            match rng.below(4) {
                0 => {
                    let l = rng.loc();
                    assert_eq!(kd.insert(k, l), model.insert(k.clone(), l));
                }
                1 | 2 => assert_eq!(kd.remove(k), model.remove(k)),
                _ => assert_eq!(kd.get(k), model.get(k).copied()),
            }
        }
        check_against_model(kd, &model, &pool);
    }

    #[test]
    fn model_with_colliding_hashes() {
        // Everything in one shard, one home slot and one tag: every probe compares keys, runs
        // exceed the maximum distance and keys spill.
        let kd = KeyDir::with_hash_mask(0);
        run_model(&kd, 21, 1200, &[(6000, 70, 10), (6000, 20, 50)]);
        // Only 256 homes per shard, so long runs but fewer spills.
        let kd2 = KeyDir::with_hash_mask(0xFFFF_FF00_FF00_0000);
        run_model(&kd2, 22, 3000, &[(12_000, 70, 10), (6000, 20, 50)]);
        let kd3 = KeyDir::with_hash_mask(0);
        for i in 0..1000u32 {
            kd3.insert(&i.to_le_bytes(), loc(i));
        }
        assert!(kd3.spilled() > 0, "the spill path was not exercised");
        // Collisions must not make the table grow beyond what the key count needs.
        assert!(kd3.heap_bytes() < 256 << 10, "{} bytes", kd3.heap_bytes());
        kd3.check_invariants();
        for i in (0..1000u32).step_by(2) {
            assert_eq!(kd3.remove(&i.to_le_bytes()), Some(loc(i)));
        }
        for i in 0..1000u32 {
            let want = (i % 2 == 1).then(|| loc(i));
            assert_eq!(kd3.get(&i.to_le_bytes()), want);
        }
        kd3.check_invariants();
    }

    #[test]
    fn overwrite_replace_if_and_empty_key() {
        let kd = KeyDir::new();
        assert_eq!(kd.get(b""), None);
        assert_eq!(kd.insert(b"", loc(1)), None);
        assert_eq!(kd.insert(b"", loc(2)), Some(loc(1)));
        assert_eq!(kd.insert(b"\0", loc(3)), None);
        assert_eq!(kd.insert(b"\0\0", loc(4)), None);
        assert_eq!(kd.len(), 3);
        let before = kd.heap_bytes();
        for i in 0..1000 {
            kd.insert(b"\0", loc(i));
        }
        assert_eq!(kd.heap_bytes(), before, "overwrites must update in place");
        assert!(!kd.replace_if(b"\0", loc(3), loc(9)));
        assert!(kd.replace_if(b"\0", loc(999), loc(9)));
        assert_eq!(kd.get(b"\0"), Some(loc(9)));
        assert!(!kd.replace_if(b"missing", loc(0), loc(1)));
        assert_eq!(kd.get(b"missing"), None);
        assert_eq!(kd.remove(b""), Some(loc(2)));
        assert_eq!(kd.remove(b""), None);
        assert_eq!(kd.get(b"\0\0"), Some(loc(4)));
        kd.check_invariants();
        kd.clear();
        assert!(kd.is_empty());
        assert_eq!(kd.get(b"\0"), None);
        assert!(kd.heap_bytes() <= size_of::<[ShardLock; SHARDS]>());
    }

    #[test]
    fn prefetch_works_on_empty_and_filled_shards() {
        // An empty shard has no slot table: prefetching into it must not index it.
        let kd = KeyDir::new();
        kd.prefetch(b"nothing here");
        kd.insert(b"k", loc(1));
        kd.prefetch(b"k");
        kd.prefetch(b"absent");
        assert_eq!(kd.get(b"k"), Some(loc(1)));
    }

    #[test]
    fn with_capacity_avoids_rebuilds() {
        let n = 200_000u32;
        let fill = |kd: &KeyDir| {
            for i in 0..n {
                kd.insert(&i.to_be_bytes(), loc(i));
            }
            kd.stats().rebuilds
        };
        let unsized_rebuilds = fill(&KeyDir::new());
        let kd = KeyDir::with_capacity(n as usize);
        // The slack (4 standard deviations of a shard's share) is exceeded by one shard in
        // about 1 load of 400 (measured; the seed is random), so one rebuild is allowed;
        // without the capacity every shard rebuilds its way up several times.
        let rebuilds = fill(&kd);
        assert!(rebuilds <= 1, "{rebuilds} rebuilds");
        assert!(unsized_rebuilds >= 4 * SHARDS, "{unsized_rebuilds}");
        assert_eq!(kd.len(), n as usize);
        for i in 0..n {
            assert_eq!(kd.get(&i.to_be_bytes()), Some(loc(i)));
        }
        kd.check_invariants();
        // An absurd hint must not abort or panic.
        let _ = KeyDir::with_capacity(usize::MAX);
    }

    #[test]
    fn concurrent_writers_and_readers() {
        const STABLE: u32 = 20_000;
        const PER_WRITER: u32 = 60_000;
        const WRITERS: u32 = 3;
        let key = |i: u32| format!("key-{i:08}").into_bytes();
        let kd = KeyDir::new();
        for i in 0..STABLE {
            kd.insert(&key(i), loc(i));
        }
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            let writers: Vec<_> = (0..WRITERS)
                .map(|w| {
                    let kd = &kd;
                    s.spawn(move || {
                        let lo = STABLE + w * PER_WRITER;
                        for i in lo..lo + PER_WRITER {
                            assert_eq!(kd.insert(&key(i), loc(i)), None);
                        }
                        for i in lo..lo + PER_WRITER {
                            match i % 3 {
                                0 => assert_eq!(kd.remove(&key(i)), Some(loc(i))),
                                1 => assert!(kd.replace_if(&key(i), loc(i), loc(i + 1))),
                                _ => {}
                            }
                        }
                    })
                })
                .collect();
            for r in 0..2u64 {
                let (kd, done) = (&kd, &done);
                s.spawn(move || {
                    let mut rng = Rng::new(100 + r);
                    let mut reads = 0u64;
                    while !done.load(Ordering::Relaxed) || reads < 10_000 {
                        let i = rng.below(STABLE as usize) as u32;
                        assert_eq!(kd.get(&key(i)), Some(loc(i)), "stable key lost");
                        let j = STABLE + rng.below((WRITERS * PER_WRITER) as usize) as u32;
                        if let Some(l) = kd.get(&key(j)) {
                            assert!(l == loc(j) || l == loc(j + 1), "torn or foreign Loc");
                        }
                        reads += 1;
                    }
                });
            }
            for w in writers {
                w.join().unwrap();
            }
            done.store(true, Ordering::Relaxed);
        });
        let mut expected = STABLE as usize;
        for i in STABLE..STABLE + WRITERS * PER_WRITER {
            let want = match i % 3 {
                0 => None,
                1 => Some(loc(i + 1)),
                _ => Some(loc(i)),
            };
            expected += usize::from(want.is_some());
            assert_eq!(kd.get(&key(i)), want);
        }
        assert_eq!(kd.len(), expected);
        let mut n = 0;
        kd.for_each_consistent(|_, _| n += 1);
        assert_eq!(n, expected);
        kd.check_invariants();
    }

    /// Tables and full chunks of a large keydir live in the huge-page pool: growth, overwrites,
    /// removal down to a few keys (arena compaction and table shrink free pool blocks) and
    /// regrowth into the freed memory must keep every key readable.
    #[test]
    fn large_keydir_through_growth_compaction_shrink_and_regrowth() {
        const N: u32 = 600_000;
        let kd = KeyDir::new();
        let key = |i: u32| {
            let mut k = [0u8; 16];
            k[..4].copy_from_slice(&i.to_le_bytes());
            k[4..12].copy_from_slice(&mum(u64::from(i), 0x9E37_79B9_7F4A_7C15).to_le_bytes());
            k
        };
        for i in 0..N {
            kd.insert(&key(i), loc(i));
        }
        let pool = kd.shards[0].0.read().pool.clone();
        let pooled = pool.as_ref().map(|p| p.in_use());
        if cfg!(all(target_os = "linux", not(miri))) {
            assert!(
                pooled.unwrap_or(0) > N as usize * 16,
                "{pooled:?}: the pool is unused"
            );
        }
        for i in (0..N).step_by(3) {
            kd.insert(&key(i), loc(i + 1));
        }
        for i in 0..N {
            if i % 20 != 0 {
                assert!(kd.remove(&key(i)).is_some());
            }
        }
        assert!(kd.stats().compactions >= SHARDS);
        if let (Some(p), Some(before)) = (&pool, pooled) {
            assert!(p.in_use() < before / 4, "{} vs {before}", p.in_use());
        }
        kd.check_invariants();
        for i in 0..N {
            let want = (i % 20 == 0).then(|| loc(if i % 3 == 0 { i + 1 } else { i }));
            assert_eq!(kd.get(&key(i)), want, "key {i}");
        }
        for i in N..N + N / 2 {
            kd.insert(&key(i), loc(i));
        }
        kd.check_invariants();
        assert_eq!(kd.len(), N as usize / 20 + N as usize / 2);
        for i in N..N + N / 2 {
            assert_eq!(kd.get(&key(i)), Some(loc(i)));
        }
    }

    #[test]
    fn heap_bytes_per_key_within_budget() {
        const N: u64 = 1_000_000;
        let kd = KeyDir::new();
        for i in 0..N {
            let a = mum(i ^ 0x5151_5151, 0x9E37_79B9_7F4A_7C15);
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&i.to_le_bytes());
            k[8..].copy_from_slice(&a.to_le_bytes());
            kd.insert(&k, loc(i as u32));
        }
        assert_eq!(kd.len(), N as usize);
        let heap = kd.heap_bytes();
        let per_key = heap as f64 / N as f64;
        // Keys, Locs and one slot per key are the floor; anything below means undercounting.
        assert!(
            per_key >= 16.0 + 12.0 + 8.0,
            "{per_key} B/key is impossibly low"
        );
        assert!(
            per_key - 16.0 <= 32.0,
            "overhead {:.1} B/key",
            per_key - 16.0
        );
        assert_eq!(kd.spilled(), 0);
        assert!(kd.max_field() < 64, "probe distance {}", kd.max_field());
    }

    #[test]
    fn hash_spreads_similar_keys() {
        let h = Hasher::new();
        let mut shards = [0usize; SHARDS];
        let mut tags = HashSet::new();
        let mut homes = HashSet::new();
        let n = 1 << 16;
        for i in 0..n as u32 {
            let x = h.hash(&i.to_le_bytes());
            shards[shard_of(x)] += 1;
            tags.insert(tag_of(x));
            homes.insert(home(x, 1 << 20));
        }
        let mean = n / SHARDS;
        assert!(
            shards.iter().all(|&c| c > mean * 3 / 4 && c < mean * 5 / 4),
            "{shards:?}"
        );
        // 65536 draws from 65536 tags leave ~63% distinct; far fewer means correlated bits.
        assert!(tags.len() > n * 6 / 10, "{} tags", tags.len());
        assert!(homes.len() > n * 9 / 10, "{} homes", homes.len());
        // Seeds differ per keydir, and every length (including 0) hashes differently.
        assert_ne!(h.hash(b"abc"), Hasher::new().hash(b"abc"));
        let zeros = [0u8; 40];
        let all: HashSet<u64> = (0..=40).map(|l| h.hash(&zeros[..l])).collect();
        assert_eq!(all.len(), 41);
    }
}
