//! Version 2 of the hint format (compact, the default): no keys, one bit per record of the data
//! file.
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
//!       16    8 data length      u64, as in a version 1 footer (`keyed`)
//!       24    4 tail crc         as in a version 1 footer
//!       28    4 crc              crc32 of every byte of the file before this field
//! ```
//! A compact hint is written only for a file whose records follow one another from the file
//! header to its end with no damage, and at least three quarters of whose records are entries
//! (an open walks them all); any other file gets a hint with keys.

use std::fs::File;
use std::io;
use std::path::Path;

use super::keyed::EntryIter;
use super::{Entry, HINT_FLAGS, HintFile, HintSummary, too_sparse};
use crate::format::{
    self, COMPACT_HINT_VERSION, FILE_HEADER_LEN, FileHeader, FileKind, MAX_RECORD_HEADER_LEN,
    RecordHeader, RecordLimits,
};
use crate::io::map::FileImage;
use crate::keydir::Loc;

pub(super) const FOOTER_LEN: usize = 32;
/// Records per row of a compact hint's chunk table (the unit an open walks on one thread).
pub(super) const CHUNK_RECORDS: u64 = 1 << 16;
pub(super) const CHUNK_ROW_LEN: usize = 8;

/// The compact hint of the keyed hint `keyed` (header and `keyed_entries` entries, no
/// footer), or `None` if the data file's records do not follow one another to its end or an
/// entry is not where a record starts.
pub(super) fn image(
    keyed: &[u8],
    keyed_entries: u64,
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
    let body = &keyed[FILE_HEADER_LEN..];
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
    if !matched || next.is_some() || entries != keyed_entries {
        return Ok(None);
    }
    // An open walks every record of the file for a compact hint, but reads only the entries
    // of a hint with keys: where many records are superseded in the same file (a fill and
    // an overwrite: half), the keyed hint loads faster (bench/DECISIONS.md, "Compact or keyed
    // hint"). Merge outputs, and files only appended to, are all entries.
    if too_sparse(entries, records) {
        return Ok(None);
    }
    let header = FileHeader::decode(&keyed[..FILE_HEADER_LEN], FileKind::Hint)
        .expect("the header this builder wrote");
    let mut out = Vec::with_capacity(
        FILE_HEADER_LEN + bitmap.len() + chunks.len() * CHUNK_ROW_LEN + FOOTER_LEN,
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

/// What a compact hint says besides its bitmap.
struct CompactFooter<'a> {
    entries: u64,
    records: u64,
    bitmap: &'a [u8],
    /// (offset of the first record, digest) per chunk of [`CHUNK_RECORDS`] records.
    chunks: Vec<(usize, u32)>,
}

/// Loads a compact hint (see [`super::load_all`]).
pub(super) fn load(h: &HintFile<'_>, apply: &mut dyn FnMut(&[Entry<'_>])) -> Option<HintSummary> {
    let (dir, id, data_len) = (h.dir, h.id, h.data_len);
    let hint = footer(h)?;
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

fn footer<'a>(h: &HintFile<'a>) -> Option<CompactFooter<'a>> {
    let (bytes, data_len) = (h.bytes, h.data_len);
    let footer = h.footer(FOOTER_LEN)?;
    let body_len = bytes.len() - FILE_HEADER_LEN - FOOTER_LEN;
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
    if !h.describes(word(2), u32_at(footer, 24)) {
        return None;
    }
    Some(CompactFooter {
        entries,
        records,
        bitmap,
        chunks,
    })
}
