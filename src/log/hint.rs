//! Hint files: the keys and record positions of one sealed data file, so that opening a store
//! rebuilds the keydir without reading a single value.
//!
//! ```text
//! <id>.hint
//! file header (24 bytes, as a data file's, magic "\x89BCH\r\n\x1a\n", same id and order)
//! entries, one per record the data file's replay applies, in offset order:
//!   offset size field
//!        0    1 flags        TOMBSTONE, HAS_EXPIRY (the record's own flag bits)
//!        1    4 timestamp    u32, the record's
//!        5    4 offset       u32, of the record in the data file
//!        9    4 length       u32, of the whole record
//!       13  1-5 key length   LEB128 varint
//!        .  0/4 expiry       u32, present with HAS_EXPIRY
//!        .    k key
//! footer (40 bytes):
//!        0    8 entries          u64, number of entries
//!        8    8 data length      u64, length of the data file described; any other length = stale
//!       16    8 corrupt records  u64, damaged records the replay skipped
//!       24    8 corrupt bytes    u64, bytes those occupy
//!       32    4 tail crc         crc32 of the data file's last (up to) 32 bytes; a mismatch = stale
//!       36    4 crc              crc32 of every byte of the file before this field
//! ```
//!
//! A compact hint (header version 2, written by default) holds no keys: one bit per record of
//! the data file says whether replay applies it, and a checksum per 65,536 records over their
//! headers and keys lets an open trust the headers without checking each value's CRC. Opening
//! walks the data file's headers through a map (those chunks in parallel); keys come from there.
//! A hint with keys costs 30 bytes per entry for a 16-byte key (a quarter of a merged store of
//! 100-byte values); a compact one a bit per record and 8 bytes per chunk, at the price of
//! reading the data file's header pages at open.
//!
//! ```text
//! <id>.hint, version 2
//! file header (24 bytes, version 2)
//! bitmap: ceil(records / 8) bytes; bit i (byte i / 8, bit i % 8, least significant first) is
//!         set when the data file's i-th record (in offset order) is an entry; unused bits zero
//! chunk table: ceil(records / 65536) rows, one per run of 65,536 records (the last may be
//!         shorter), 8 bytes each:
//!        0    4 offset           u32, of the chunk's first record in the data file
//!        4    4 digest           crc32 over the concatenation, for each record of the chunk in
//!                                offset order, of its bytes from its first through its key's
//!                                last (its CRC, flags, timestamp, lengths, expiry and key)
//! footer (32 bytes):
//!        0    8 entries          u64, bits set
//!        8    8 records          u64, records in the data file (bits in the bitmap)
//!       16    8 data length      u64, as above
//!       24    4 tail crc         as above
//!       28    4 crc              crc32 of every byte of the file before this field
//! ```
//! A compact hint is written only for a file whose records follow one another from the file
//! header to its end with no damage, and at least three quarters of whose records are entries
//! (an open walks them all); any other file gets a hint with keys.
//!
//! A hint is only an accelerator: missing, stale or damaged, it is ignored and the data file is
//! scanned instead. It is written to `<id>.hint.tmp`, fsynced and renamed, so a crash never
//! leaves a half-written `<id>.hint`.

use std::collections::HashSet;
use std::fs::{self, File};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::{
    self, COMPACT_HINT_VERSION, FILE_HEADER_LEN, FLAG_HAS_EXPIRY, FLAG_TOMBSTONE, FileHeader,
    FileKind, MAX_RECORD_HEADER_LEN, RecordHeader, RecordLimits,
};
use crate::io::map::FileImage;
use crate::keydir::Loc;

const ENTRY_FIXED_LEN: usize = 13;
const FOOTER_LEN: usize = 40;
const COMPACT_FOOTER_LEN: usize = 32;
/// Records per row of a compact hint's chunk table (the unit an open walks on one thread).
const CHUNK_RECORDS: u64 = 1 << 16;
const CHUNK_ROW_LEN: usize = 8;
/// How much of the data file's end the tail check covers.
const TAIL_CHECK_LEN: u64 = 32;
const HINT_FLAGS: u8 = FLAG_TOMBSTONE | FLAG_HAS_EXPIRY;

/// One applied record of a data file, as replay and hints both describe it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry<'a> {
    pub key: &'a [u8],
    pub loc: Loc,
    pub flags: u8,
    pub timestamp: u32,
    pub expiry: u32,
}

impl Entry<'_> {
    pub fn is_tombstone(&self) -> bool {
        self.flags & FLAG_TOMBSTONE != 0
    }
}

/// A fast multiply-rotate hash for de-duplicating one file's keys (std's SipHash cost more
/// than the rest of writing a hint). Not keyed: the keys come from the store's own file, and a
/// pathological set only makes the de-duplication slower, never wrong.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0 ^ (bytes.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            h = (h ^ w).wrapping_mul(0xFF51_AFD7_ED55_8CCD).rotate_left(29);
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        self.0 = h ^ (h >> 32);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// What a hint's footer says besides its entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HintSummary {
    pub entries: u64,
    pub corrupt_records: u64,
    pub corrupt_bytes: u64,
}

/// Accumulates a hint in memory; [`HintBuilder::write`] puts it on disk atomically.
pub(crate) struct HintBuilder {
    buf: Vec<u8>,
    entries: u64,
    /// Entries added, before [`HintBuilder::keep_last_per_key`] dropped superseded ones.
    added: u64,
}

impl HintBuilder {
    pub fn new(file_id: u32, order: u32) -> Self {
        let header = FileHeader {
            kind: FileKind::Hint,
            file_id,
            order,
        };
        HintBuilder {
            buf: header.encode().to_vec(),
            entries: 0,
            added: 0,
        }
    }

    pub fn add(&mut self, e: &Entry<'_>) {
        let flags = e.flags & HINT_FLAGS;
        self.buf.push(flags);
        self.buf.extend_from_slice(&e.timestamp.to_le_bytes());
        self.buf.extend_from_slice(&e.loc.offset.to_le_bytes());
        self.buf.extend_from_slice(&e.loc.len.to_le_bytes());
        let mut v = e.key.len() as u32;
        while v >= 0x80 {
            self.buf.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
        if flags & FLAG_HAS_EXPIRY != 0 {
            self.buf.extend_from_slice(&e.expiry.to_le_bytes());
        }
        self.buf.extend_from_slice(e.key);
        self.entries += 1;
        self.added += 1;
    }

    /// Drops every entry that a later entry for the same key supersedes. Replay applies a
    /// file's entries in order, so only a key's last entry in the file has any effect; a file
    /// written by a fill and then an overwrite holds every key twice, and its hint (and the
    /// open that loads it) would otherwise be twice as large as needed. Order is kept.
    pub fn keep_last_per_key(&mut self) {
        let body = &self.buf[FILE_HEADER_LEN..];
        let mut starts: Vec<u32> = Vec::with_capacity(self.entries as usize + 1);
        let mut pos = 0;
        while pos < body.len() {
            starts.push(pos as u32);
            pos = parse_entry(body, pos, 0)
                .expect("entries this builder wrote")
                .1;
        }
        starts.push(body.len() as u32);
        let key_at = |i: usize| {
            parse_entry(body, starts[i] as usize, 0)
                .expect("entries this builder wrote")
                .0
                .key
        };
        // Newest first: an entry is kept if no later one (already seen) has its key.
        let n = starts.len() - 1;
        let mut seen: HashSet<&[u8], BuildHasherDefault<KeyHasher>> =
            HashSet::with_capacity_and_hasher(n, Default::default());
        let mut keep = vec![false; n];
        for i in (0..n).rev() {
            keep[i] = seen.insert(key_at(i));
        }
        if seen.len() == n {
            return;
        }
        let mut kept = Vec::with_capacity(self.buf.len());
        kept.extend_from_slice(&self.buf[..FILE_HEADER_LEN]);
        for i in (0..n).filter(|&i| keep[i]) {
            kept.extend_from_slice(&body[starts[i] as usize..starts[i + 1] as usize]);
        }
        self.entries = seen.len() as u64;
        self.buf = kept;
    }

    /// Writes `<dir>/<id>.hint` via a temporary file, fsynced, then renamed: a compact hint
    /// if `compact` and the data file allows one, else a hint with keys.
    pub fn write(
        mut self,
        dir: &Path,
        id: u32,
        data_len: u64,
        summary: HintSummary,
        compact: bool,
    ) -> Result<()> {
        let tail = tail_crc(&format::data_path(dir, id), data_len)
            .map_err(|e| Error::io("read data file tail", format::data_path(dir, id), e))?;
        let undamaged = summary.corrupt_records == 0 && summary.corrupt_bytes == 0;
        // The file has at least `added` records: if too few of those are entries, the compact
        // hint would be refused after walking the whole file (see `compact`).
        if compact && undamaged && !too_sparse(self.entries, self.added) {
            let image = self
                .compact(dir, id, data_len, tail)
                .map_err(|e| Error::io("read data file", format::data_path(dir, id), e))?;
            if let Some(image) = image {
                self.buf = image;
                return self.put(dir, id);
            }
        }
        for v in [
            self.entries,
            data_len,
            summary.corrupt_records,
            summary.corrupt_bytes,
        ] {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.buf.extend_from_slice(&tail.to_le_bytes());
        let crc = crc32fast::hash(&self.buf);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.put(dir, id)
    }

    /// The compact hint of this builder's entries, or `None` if the data file's records do not
    /// follow one another to its end or an entry is not where a record starts.
    fn compact(
        &self,
        dir: &Path,
        id: u32,
        data_len: u64,
        tail: u32,
    ) -> io::Result<Option<Vec<u8>>> {
        let file = File::open(format::data_path(dir, id))?;
        let Some(image) = FileImage::new(&file, data_len)? else {
            return Ok(None);
        };
        let data = image.bytes();
        let body = &self.buf[FILE_HEADER_LEN..];
        let mut wanted = EntryIter { body, pos: 0 };
        let mut next = wanted.next();
        let mut bitmap = Vec::new();
        let mut chunks: Vec<(u32, crc32fast::Hasher)> = Vec::new();
        let mut entries = 0u64;
        let mut matched = true;
        let walked = walk(
            data,
            FILE_HEADER_LEN,
            data.len(),
            u64::MAX,
            |index, offset, h| {
                if index % 8 == 0 {
                    bitmap.push(0u8);
                }
                if index % CHUNK_RECORDS == 0 {
                    chunks.push((offset as u32, crc32fast::Hasher::new()));
                }
                let key_end = offset + h.header_len as usize + h.key_len as usize;
                chunks
                    .last_mut()
                    .expect("pushed above")
                    .1
                    .update(&data[offset..key_end]);
                let Some(e) = next else { return };
                if e.loc.offset as usize == offset {
                    matched &= e.loc.len as u64 == h.record_len();
                    bitmap[(index / 8) as usize] |= 1 << (index % 8);
                    entries += 1;
                    next = wanted.next();
                } else if (e.loc.offset as usize) < offset {
                    matched = false;
                }
            },
        );
        let Some(records) = walked else {
            return Ok(None);
        };
        if !matched || next.is_some() || entries != self.entries {
            return Ok(None);
        }
        // An open walks every record of the file for a compact hint, but reads only the entries
        // of a hint with keys: where many records are superseded in the same file (a fill and
        // an overwrite: half), the keyed hint loads faster (80 vs 130 ms for 1M keys). Merge
        // outputs, and files only appended to, are all entries.
        if too_sparse(entries, records) {
            return Ok(None);
        }
        let header = FileHeader::decode(&self.buf[..FILE_HEADER_LEN], FileKind::Hint)
            .expect("the header this builder wrote");
        let mut out = Vec::with_capacity(
            FILE_HEADER_LEN + bitmap.len() + chunks.len() * CHUNK_ROW_LEN + COMPACT_FOOTER_LEN,
        );
        out.extend_from_slice(&header.encode_version(COMPACT_HINT_VERSION));
        out.extend_from_slice(&bitmap);
        for (offset, digest) in chunks {
            out.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(&digest.finalize().to_le_bytes());
        }
        for v in [entries, records, data_len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&tail.to_le_bytes());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(Some(out))
    }

    fn put(self, dir: &Path, id: u32) -> Result<()> {
        let path = format::hint_path(dir, id);
        let tmp = tmp_path(&path);
        let result = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(&self.buf)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io("write hint file", path, e));
        }
        Ok(())
    }
}

/// Whether a file of `records` records of which `entries` are entries should get a keyed hint
/// (fewer than 3 in 4 records are entries).
fn too_sparse(entries: u64, records: u64) -> bool {
    entries.saturating_mul(4) < records.saturating_mul(3)
}

/// The entries of a keyed hint's body, in order (only for bodies this module wrote or verified).
struct EntryIter<'a> {
    body: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for EntryIter<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        let (e, next) = parse_entry(self.body, self.pos, 0)?;
        self.pos = next;
        Some(e)
    }
}

/// Walks the records of `data[from..to]` by their headers alone (values are neither read nor
/// checked), at most `limit` of them, calling `visit(index, offset, header)` for each (index
/// counts from 0 at `from`). Returns how many there were, or `None` unless they follow one
/// another from `from` exactly to `to`.
fn walk(
    data: &[u8],
    from: usize,
    to: usize,
    limit: u64,
    mut visit: impl FnMut(u64, usize, &RecordHeader),
) -> Option<u64> {
    if from < FILE_HEADER_LEN || from > to || to > data.len() {
        return None;
    }
    let mut pos = from;
    let mut index = 0u64;
    while pos < to {
        if index == limit {
            return None;
        }
        let head = &data[pos..to.min(pos + MAX_RECORD_HEADER_LEN)];
        let header = format::decode_record_header(head, RecordLimits::FORMAT).ok()?;
        let end = usize::try_from(pos as u64 + header.record_len()).ok()?;
        if end > to {
            return None;
        }
        visit(index, pos, &header);
        index += 1;
        pos = end;
    }
    Some(index)
}

/// CRC of the last bytes of a data file of length `len`: a cheap check that the file a hint
/// describes was not rewritten to the same length (say, cut back by recovery and appended to).
fn tail_crc(data: &Path, len: u64) -> std::io::Result<u32> {
    use std::os::unix::fs::FileExt;
    let n = TAIL_CHECK_LEN.min(len.saturating_sub(FILE_HEADER_LEN as u64));
    let mut buf = vec![0u8; n as usize];
    File::open(data)?.read_exact_at(&mut buf, len - n)?;
    Ok(crc32fast::hash(&buf))
}

/// `<id>.hint.tmp`: the name a hint is written under before it is complete.
pub(crate) fn tmp_path(hint: &Path) -> PathBuf {
    let mut name = hint.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Reads `<dir>/<id>.hint` and, if it is intact and describes a data file of exactly `data_len`
/// bytes with this id and order, calls `apply` for each entry. Returns `None` (having called
/// nothing) for a missing, stale or damaged hint.
pub(crate) fn load(
    dir: &Path,
    id: u32,
    order: u32,
    data_len: u64,
    apply: &mut dyn FnMut(Entry<'_>),
) -> Option<HintSummary> {
    load_all(dir, id, order, data_len, &mut |entries| {
        for &e in entries {
            apply(e);
        }
    })
}

/// Like [`load`], but hands over all entries at once (in file order), so the caller can apply
/// them in parallel.
pub(crate) fn load_all(
    dir: &Path,
    id: u32,
    order: u32,
    data_len: u64,
    apply: &mut dyn FnMut(&[Entry<'_>]),
) -> Option<HintSummary> {
    let mut bytes = Vec::new();
    File::open(format::hint_path(dir, id))
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .ok()?;
    match checked_version(&bytes, id, order)? {
        COMPACT_HINT_VERSION => load_compact(&bytes, dir, id, data_len, apply),
        _ => load_keyed(&bytes, dir, id, data_len, apply),
    }
}

fn load_keyed(
    bytes: &[u8],
    dir: &Path,
    id: u32,
    data_len: u64,
    apply: &mut dyn FnMut(&[Entry<'_>]),
) -> Option<HintSummary> {
    let summary = keyed_footer(bytes, dir, id, data_len)?;
    let body = &bytes[FILE_HEADER_LEN..bytes.len() - FOOTER_LEN];
    // Parse everything before applying anything, so a hint that fails half-way changes nothing.
    let mut entries = Vec::with_capacity(summary.entries.min(1 << 24) as usize);
    let mut pos = 0;
    let mut free_from = FILE_HEADER_LEN as u64;
    while pos < body.len() {
        let (entry, next) = parse_entry(body, pos, id)?;
        // Entries name distinct records of the data file in offset order. A hint whose checksums
        // hold but whose positions do not (a crafted file, a writer bug) is not trusted: reads
        // would fail past the end, and two keys on one record would make a fold report one key
        // twice.
        let start = entry.loc.offset as u64;
        let end = start + entry.loc.len as u64;
        if start < free_from || end > data_len || (entry.loc.len as usize) < format::MIN_RECORD_LEN
        {
            return None;
        }
        free_from = end;
        entries.push(entry);
        pos = next;
    }
    if entries.len() as u64 != summary.entries {
        return None;
    }
    apply(&entries);
    Some(summary)
}

/// What a compact hint says besides its bitmap.
struct CompactFooter<'a> {
    entries: u64,
    records: u64,
    bitmap: &'a [u8],
    /// (offset of the first record, digest) per chunk of [`CHUNK_RECORDS`] records.
    chunks: Vec<(usize, u32)>,
}

fn load_compact(
    bytes: &[u8],
    dir: &Path,
    id: u32,
    data_len: u64,
    apply: &mut dyn FnMut(&[Entry<'_>]),
) -> Option<HintSummary> {
    let hint = compact_footer(bytes, dir, id, data_len)?;
    let file = File::open(format::data_path(dir, id)).ok()?;
    let image = FileImage::new(&file, data_len).ok()??;
    let entries = walk_compact(&hint, image.bytes(), id)?;
    apply(&entries);
    Some(HintSummary {
        entries: hint.entries,
        corrupt_records: 0,
        corrupt_bytes: 0,
    })
}

/// The entries a compact hint selects from the data file `data`, or `None` if the file does not
/// match the hint. Chunks are walked in parallel.
fn walk_compact<'a>(hint: &CompactFooter<'_>, data: &'a [u8], id: u32) -> Option<Vec<Entry<'a>>> {
    // Each chunk's entries go to their own part of one array: its size is known from the bitmap.
    let chunk_bytes = (CHUNK_RECORDS / 8) as usize;
    let counts: Vec<usize> = hint
        .bitmap
        .chunks(chunk_bytes)
        .map(|b| b.iter().map(|x| x.count_ones() as usize).sum())
        .collect();
    if counts.iter().sum::<usize>() as u64 != hint.entries || counts.len() != hint.chunks.len() {
        return None;
    }
    let placeholder = Entry {
        key: &[],
        loc: Loc {
            file_id: id,
            offset: 0,
            len: 0,
            expires: 0,
        },
        flags: 0,
        timestamp: 0,
        expiry: 0,
    };
    let mut entries = vec![placeholder; hint.entries as usize];
    let mut jobs = Vec::with_capacity(counts.len());
    let mut rest = entries.as_mut_slice();
    for (k, &count) in counts.iter().enumerate() {
        let (mine, later) = rest.split_at_mut(count);
        jobs.push((k, mine));
        rest = later;
    }
    let walk_chunk = |k: usize, out: &mut [Entry<'a>]| -> bool {
        let (from, digest) = hint.chunks[k];
        let to = hint.chunks.get(k + 1).map_or(data.len(), |c| c.0);
        let records = CHUNK_RECORDS.min(hint.records - k as u64 * CHUNK_RECORDS);
        let bits = &hint.bitmap[k * chunk_bytes..];
        let mut crc = crc32fast::Hasher::new();
        let mut filled = 0;
        let walked = walk(data, from, to, records, |index, offset, h| {
            let key_start = offset + h.header_len as usize;
            let key_end = key_start + h.key_len as usize;
            crc.update(&data[offset..key_end]);
            if bits[(index / 8) as usize] & (1 << (index % 8)) == 0 {
                return;
            }
            if let Some(slot) = out.get_mut(filled) {
                *slot = Entry {
                    key: &data[key_start..key_end],
                    loc: Loc {
                        file_id: id,
                        offset: offset as u32,
                        len: h.record_len() as u32,
                        expires: 0,
                    },
                    flags: h.flags & HINT_FLAGS,
                    timestamp: h.timestamp,
                    expiry: h.expiry,
                };
            }
            filled += 1;
        });
        walked == Some(records) && filled == out.len() && crc.finalize() == digest
    };
    // Everything is checked before anything is applied: a data file whose headers or keys
    // changed since the hint was written (damage) is scanned instead.
    let threads = crate::log::load_threads().min(jobs.len());
    let ok = if threads <= 1 {
        jobs.iter_mut().all(|(k, out)| walk_chunk(*k, out))
    } else {
        let per = jobs.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = jobs
                .chunks_mut(per)
                .map(|group| s.spawn(|| group.iter_mut().all(|(k, out)| walk_chunk(*k, out))))
                .collect();
            handles.into_iter().all(|h| h.join().unwrap_or(false))
        })
    };
    drop(jobs);
    ok.then_some(entries)
}

/// The version in a hint's header, if the header is intact (the rest is not checked).
pub(crate) fn version(dir: &Path, id: u32) -> Option<u16> {
    let mut head = [0u8; FILE_HEADER_LEN];
    File::open(format::hint_path(dir, id))
        .and_then(|mut f| f.read_exact(&mut head))
        .ok()?;
    FileHeader::decode_versioned(&head, FileKind::Hint)
        .ok()
        .map(|(_, v)| v)
}

/// The entry count a hint's footer claims, read without loading the hint (0 if unreadable). Used
/// only to size the keydir before a load; the hint is verified when it is loaded.
pub(crate) fn entry_count(dir: &Path, id: u32) -> u64 {
    use std::os::unix::fs::FileExt;
    let Ok(f) = File::open(format::hint_path(dir, id)) else {
        return 0;
    };
    let Ok(len) = f.metadata().map(|m| m.len()) else {
        return 0;
    };
    let Some(version) = version(dir, id) else {
        return 0;
    };
    let (footer_len, smallest_entry_bits) = match version {
        COMPACT_HINT_VERSION => (COMPACT_FOOTER_LEN as u64, 1),
        _ => (FOOTER_LEN as u64, (ENTRY_FIXED_LEN as u64 + 2) * 8),
    };
    let mut word = [0u8; 8];
    if len < FILE_HEADER_LEN as u64 + footer_len
        || f.read_exact_at(&mut word, len - footer_len).is_err()
    {
        return 0;
    }
    // The footer is not verified here; bound the claim by what the file could hold, so a
    // damaged count cannot make the caller reserve absurd memory.
    let most = (len - FILE_HEADER_LEN as u64 - footer_len) * 8 / smallest_entry_bits;
    u64::from_le_bytes(word).min(most)
}

/// The version of a hint whose header names this file and order and whose CRC holds.
fn checked_version(bytes: &[u8], id: u32, order: u32) -> Option<u16> {
    if bytes.len() < FILE_HEADER_LEN + COMPACT_FOOTER_LEN.min(FOOTER_LEN) {
        return None;
    }
    let (header, version) =
        FileHeader::decode_versioned(&bytes[..FILE_HEADER_LEN], FileKind::Hint).ok()?;
    if header.file_id != id || header.order != order {
        return None;
    }
    let crc_at = bytes.len() - 4;
    if crc32fast::hash(&bytes[..crc_at]) != u32::from_le_bytes(bytes[crc_at..].try_into().ok()?) {
        return None;
    }
    Some(version)
}

fn keyed_footer(bytes: &[u8], dir: &Path, id: u32, data_len: u64) -> Option<HintSummary> {
    if bytes.len() < FILE_HEADER_LEN + FOOTER_LEN {
        return None;
    }
    let footer = &bytes[bytes.len() - FOOTER_LEN..];
    let word = |i: usize| u64::from_le_bytes(footer[i * 8..i * 8 + 8].try_into().unwrap());
    if word(1) != data_len {
        return None;
    }
    let tail = u32::from_le_bytes(footer[32..36].try_into().unwrap());
    if tail_crc(&format::data_path(dir, id), data_len).ok()? != tail {
        return None;
    }
    Some(HintSummary {
        entries: word(0),
        corrupt_records: word(2),
        corrupt_bytes: word(3),
    })
}

fn compact_footer<'a>(
    bytes: &'a [u8],
    dir: &Path,
    id: u32,
    data_len: u64,
) -> Option<CompactFooter<'a>> {
    let body_len = bytes
        .len()
        .checked_sub(FILE_HEADER_LEN + COMPACT_FOOTER_LEN)?;
    let footer = &bytes[bytes.len() - COMPACT_FOOTER_LEN..];
    let word = |i: usize| u64::from_le_bytes(footer[i * 8..i * 8 + 8].try_into().unwrap());
    let (entries, records) = (word(0), word(1));
    if word(2) != data_len || entries > records || records > data_len {
        return None;
    }
    let bitmap_len = records.div_ceil(8) as usize;
    let rows = records.div_ceil(CHUNK_RECORDS) as usize;
    if bitmap_len + rows * CHUNK_ROW_LEN != body_len {
        return None;
    }
    let body = &bytes[FILE_HEADER_LEN..FILE_HEADER_LEN + body_len];
    let (bitmap, table) = body.split_at(bitmap_len);
    // Bits past the last record must be clear, so that one file has one hint image.
    if records % 8 != 0 && bitmap[bitmap_len - 1] >> (records % 8) != 0 {
        return None;
    }
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    let chunks: Vec<(usize, u32)> = table
        .chunks(CHUNK_ROW_LEN)
        .map(|row| (u32_at(row, 0) as usize, u32_at(row, 4)))
        .collect();
    // Chunks start in order inside the file, the first right after the file header.
    let starts_ok = chunks.first().is_none_or(|c| c.0 == FILE_HEADER_LEN)
        && chunks.windows(2).all(|w| w[0].0 < w[1].0)
        && chunks.last().is_none_or(|c| (c.0 as u64) < data_len);
    if !starts_ok {
        return None;
    }
    if tail_crc(&format::data_path(dir, id), data_len).ok()? != u32_at(footer, 24) {
        return None;
    }
    Some(CompactFooter {
        entries,
        records,
        bitmap,
        chunks,
    })
}

fn parse_entry(b: &[u8], pos: usize, file_id: u32) -> Option<(Entry<'_>, usize)> {
    let fixed = b.get(pos..pos + ENTRY_FIXED_LEN)?;
    let flags = fixed[0];
    if flags & !HINT_FLAGS != 0 {
        return None;
    }
    let u32_at = |i: usize| u32::from_le_bytes(fixed[i..i + 4].try_into().unwrap());
    let (timestamp, offset, len) = (u32_at(1), u32_at(5), u32_at(9));
    let mut at = pos + ENTRY_FIXED_LEN;
    let mut key_len: u64 = 0;
    for shift in (0..35).step_by(7) {
        let byte = *b.get(at)?;
        at += 1;
        key_len |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        if shift == 28 {
            return None;
        }
    }
    let expiry = if flags & FLAG_HAS_EXPIRY != 0 {
        let e = u32::from_le_bytes(b.get(at..at + 4)?.try_into().unwrap());
        at += 4;
        e
    } else {
        0
    };
    let key_len = usize::try_from(key_len).ok()?;
    if key_len == 0 || key_len > crate::format::MAX_KEY_SIZE_LIMIT as usize {
        return None;
    }
    let key = b.get(at..at + key_len)?;
    Some((
        Entry {
            key,
            loc: Loc {
                file_id,
                offset,
                len,
                expires: 0,
            },
            flags,
            timestamp,
            expiry,
        },
        at + key_len,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::FORMAT_VERSION;

    fn sample(dir: &Path) -> Vec<Row> {
        fs::write(format::data_path(dir, 3), [5u8; 410]).unwrap();
        let entries = vec![
            (
                b"alpha".to_vec(),
                Loc {
                    file_id: 3,
                    offset: 24,
                    len: 40,
                    expires: 0,
                },
                0,
                0,
            ),
            (
                vec![0u8; 300],
                Loc {
                    file_id: 3,
                    offset: 64,
                    len: 330,
                    expires: 0,
                },
                FLAG_HAS_EXPIRY,
                99,
            ),
            (
                b"alpha".to_vec(),
                Loc {
                    file_id: 3,
                    offset: 394,
                    len: 16,
                    expires: 0,
                },
                FLAG_TOMBSTONE,
                0,
            ),
        ];
        let mut b = HintBuilder::new(3, 2);
        for (key, loc, flags, expiry) in &entries {
            b.add(&Entry {
                key,
                loc: *loc,
                flags: *flags,
                timestamp: 1_700_000_000,
                expiry: *expiry,
            });
        }
        let summary = HintSummary {
            entries: 3,
            corrupt_records: 1,
            corrupt_bytes: 7,
        };
        b.write(dir, 3, 410, summary, false).unwrap();
        entries
    }

    type Row = (Vec<u8>, Loc, u8, u32);

    fn collect(dir: &Path, order: u32, len: u64) -> Option<Vec<Row>> {
        let mut got = Vec::new();
        load(dir, 3, order, len, &mut |e| {
            got.push((e.key.to_vec(), e.loc, e.flags, e.expiry))
        })
        .map(|_| got)
    }

    #[test]
    fn keep_last_per_key_drops_superseded_entries_and_keeps_order() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(format::data_path(dir.path(), 3), [5u8; 500]).unwrap();
        let mut b = HintBuilder::new(3, 2);
        let rows: [(&[u8], u32, u8); 5] = [
            (b"a", 24, 0),
            (b"b", 60, 0),
            (b"a", 100, FLAG_TOMBSTONE),
            (b"c", 140, 0),
            (b"b", 180, 0),
        ];
        for &(key, offset, flags) in &rows {
            b.add(&Entry {
                key,
                loc: Loc {
                    file_id: 3,
                    offset,
                    len: 30,
                    expires: 0,
                },
                flags,
                timestamp: 1,
                expiry: 0,
            });
        }
        b.keep_last_per_key();
        b.write(dir.path(), 3, 500, HintSummary::default(), false)
            .unwrap();
        let got: Vec<(Vec<u8>, u32, u8)> = collect(dir.path(), 2, 500)
            .unwrap()
            .into_iter()
            .map(|(k, loc, flags, _)| (k, loc.offset, flags))
            .collect();
        let want: Vec<(Vec<u8>, u32, u8)> = vec![
            (b"a".to_vec(), 100, FLAG_TOMBSTONE),
            (b"c".to_vec(), 140, 0),
            (b"b".to_vec(), 180, 0),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn round_trip_and_staleness() {
        let dir = tempfile::tempdir().unwrap();
        let entries = sample(dir.path());
        assert_eq!(collect(dir.path(), 2, 410), Some(entries));
        assert!(!tmp_path(&format::hint_path(dir.path(), 3)).exists());
        assert_eq!(collect(dir.path(), 2, 411), None, "data file grew: stale");
        assert_eq!(collect(dir.path(), 5, 410), None, "different order");
        let mut data = fs::read(format::data_path(dir.path(), 3)).unwrap();
        data[400] = 6;
        fs::write(format::data_path(dir.path(), 3), data).unwrap();
        assert_eq!(
            collect(dir.path(), 2, 410),
            None,
            "same length, different tail"
        );
    }

    #[test]
    fn any_damage_or_truncation_makes_the_hint_ignored() {
        let dir = tempfile::tempdir().unwrap();
        sample(dir.path());
        let path = format::hint_path(dir.path(), 3);
        let good = fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            fs::write(&path, &bad).unwrap();
            assert_eq!(collect(dir.path(), 2, 410), None, "flip at {i}");
            fs::write(&path, &good[..i]).unwrap();
            assert_eq!(collect(dir.path(), 2, 410), None, "cut at {i}");
        }
    }

    /// A real data file `<dir>/3.data` (order 2) of `records` (key, tombstone?) records, and the
    /// entries a scan of it applies, as a hint builder holds them (last per key).
    fn data_file(dir: &Path, records: &[(Vec<u8>, bool)], compact: bool) -> (Vec<u8>, Vec<Row>) {
        let mut data = FileHeader {
            kind: FileKind::Data,
            file_id: 3,
            order: 2,
        }
        .encode()
        .to_vec();
        let mut b = HintBuilder::new(3, 2);
        for (i, (key, tombstone)) in records.iter().enumerate() {
            let offset = data.len() as u32;
            let (flags, value, expiry) = match (tombstone, i % 3) {
                (true, _) => (FLAG_TOMBSTONE, &b""[..], 0),
                (false, 0) => (0, &b"with expiry"[..], 2_000_000_000),
                (false, _) => (0, &b"value"[..], 0),
            };
            format::encode_record(&mut data, flags, 1_700_000_000, expiry, key, value);
            let flags = flags | if expiry != 0 { FLAG_HAS_EXPIRY } else { 0 };
            b.add(&Entry {
                key,
                loc: Loc {
                    file_id: 3,
                    offset,
                    len: data.len() as u32 - offset,
                    expires: 0,
                },
                flags,
                timestamp: 1_700_000_000,
                expiry,
            });
        }
        fs::write(format::data_path(dir, 3), &data).unwrap();
        b.keep_last_per_key();
        let len = data.len() as u64;
        b.write(dir, 3, len, HintSummary::default(), compact)
            .unwrap();
        let rows = collect(dir, 2, len).expect("a fresh hint loads");
        (data, rows)
    }

    fn hint_version(dir: &Path) -> u16 {
        let b = fs::read(format::hint_path(dir, 3)).unwrap();
        FileHeader::decode_versioned(&b[..FILE_HEADER_LEN], FileKind::Hint)
            .unwrap()
            .1
    }

    fn distinct(n: u32) -> Vec<(Vec<u8>, bool)> {
        (0..n).map(|i| (i.to_le_bytes().to_vec(), false)).collect()
    }

    #[test]
    fn compact_hint_selects_what_a_keyed_hint_lists() {
        // 9 records, 8 keys: "k1" is deleted after being written (dense enough for compact).
        let mut records: Vec<(Vec<u8>, bool)> = (0..8)
            .map(|i| (format!("k{i}").into_bytes(), false))
            .collect();
        records.push((b"k1".to_vec(), true));
        let keyed = tempfile::tempdir().unwrap();
        let compact = tempfile::tempdir().unwrap();
        let (_, want) = data_file(keyed.path(), &records, false);
        let (_, got) = data_file(compact.path(), &records, true);
        assert_eq!(hint_version(keyed.path()), FORMAT_VERSION);
        assert_eq!(hint_version(compact.path()), COMPACT_HINT_VERSION);
        assert_eq!(got, want);
        assert_eq!(got.len(), 8);
        assert_eq!(entry_count(compact.path(), 3), 8);
        // 1 bit per record and one chunk row instead of 8 keys.
        let size = fs::metadata(format::hint_path(compact.path(), 3))
            .unwrap()
            .len();
        assert_eq!(
            size,
            (FILE_HEADER_LEN + 2 + CHUNK_ROW_LEN + COMPACT_FOOTER_LEN) as u64
        );
    }

    #[test]
    fn a_file_of_mostly_superseded_records_gets_a_keyed_hint() {
        let dir = tempfile::tempdir().unwrap();
        let mut records = distinct(10);
        records.extend(distinct(10));
        data_file(dir.path(), &records, true);
        assert_eq!(hint_version(dir.path()), FORMAT_VERSION);
        // 3 in 4 records are entries: still compact.
        let mut records = distinct(12);
        records.extend(distinct(4));
        data_file(dir.path(), &records, true);
        assert_eq!(hint_version(dir.path()), COMPACT_HINT_VERSION);
    }

    #[test]
    fn any_damage_to_a_compact_hint_or_its_truncation_makes_it_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (data, _) = data_file(dir.path(), &distinct(20), true);
        let len = data.len() as u64;
        let path = format::hint_path(dir.path(), 3);
        let good = fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            fs::write(&path, &bad).unwrap();
            assert_eq!(collect(dir.path(), 2, len), None, "flip at {i}");
            fs::write(&path, &good[..i]).unwrap();
            assert_eq!(collect(dir.path(), 2, len), None, "cut at {i}");
        }
    }

    #[test]
    fn a_compact_hint_is_ignored_when_a_record_header_or_key_changed() {
        let dir = tempfile::tempdir().unwrap();
        let (data, want) = data_file(dir.path(), &distinct(20), true);
        let len = data.len() as u64;
        // Which bytes are headers and keys (the hint vouches for them) and which are values
        // (checked by each read's CRC, not at open).
        let mut vouched = vec![true; data.len()];
        for (_, loc, flags, expiry) in &want {
            let value_len = if flags & FLAG_HAS_EXPIRY != 0 { 11 } else { 5 };
            let end = (loc.offset + loc.len) as usize;
            vouched[end - value_len..end].fill(false);
            let _ = expiry;
        }
        let tail_from = data.len() - TAIL_CHECK_LEN as usize;
        let path = format::data_path(dir.path(), 3);
        for i in FILE_HEADER_LEN..data.len() {
            let mut bad = data.clone();
            bad[i] ^= 0x20;
            fs::write(&path, &bad).unwrap();
            let loads = collect(dir.path(), 2, len).is_some();
            assert_eq!(loads, !vouched[i] && i < tail_from, "flip at {i}");
        }
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "131K records: hours under Miri; the small files above cover the code"
    )]
    fn a_compact_hint_of_several_chunks_loads_in_parallel_and_checks_each() {
        let dir = tempfile::tempdir().unwrap();
        let n = CHUNK_RECORDS as u32 * 2 + 100;
        let mut records = distinct(n);
        // Every 10th key again at the end: entries of the first chunks move to the last.
        records.extend(
            (0..n)
                .step_by(10)
                .map(|i| (i.to_le_bytes().to_vec(), i % 20 == 0)),
        );
        let (data, got) = data_file(dir.path(), &records, true);
        assert_eq!(hint_version(dir.path()), COMPACT_HINT_VERSION);
        let keyed = tempfile::tempdir().unwrap();
        let (_, want) = data_file(keyed.path(), &records, false);
        assert_eq!(got, want);
        // A key changed in the last chunk is found.
        let at = data.len() - 40;
        let mut bad = data.clone();
        let (_, loc, ..) = want
            .iter()
            .rev()
            .find(|r| (r.1.offset as usize) < at)
            .unwrap();
        bad[loc.offset as usize + 11] ^= 0x01; // the first key byte (11-byte header)
        fs::write(format::data_path(dir.path(), 3), &bad).unwrap();
        assert_eq!(collect(dir.path(), 2, data.len() as u64), None);
    }
}
