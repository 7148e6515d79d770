//! Version 1 of the hint format: one entry per record replay applies, with its key.
//!
//! ```text
//! <id>.hint, version 1
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

use super::{Entry, HINT_FLAGS, HintFile, HintSummary};
use crate::format::{self, FILE_HEADER_LEN, FLAG_HAS_EXPIRY};
use crate::keydir::Loc;

pub(super) const ENTRY_FIXED_LEN: usize = 13;
pub(super) const FOOTER_LEN: usize = 40;

/// Appends `e` to a hint body being built.
pub(super) fn encode_entry(buf: &mut Vec<u8>, e: &Entry<'_>) {
    let flags = e.flags & HINT_FLAGS;
    buf.push(flags);
    buf.extend_from_slice(&e.timestamp.to_le_bytes());
    buf.extend_from_slice(&e.loc.offset.to_le_bytes());
    buf.extend_from_slice(&e.loc.len.to_le_bytes());
    let mut v = e.key.len() as u32;
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
    if flags & FLAG_HAS_EXPIRY != 0 {
        buf.extend_from_slice(&e.expiry.to_le_bytes());
    }
    buf.extend_from_slice(e.key);
}

/// Ends a hint whose header and entries are in `buf` with its footer.
pub(super) fn finish(
    buf: &mut Vec<u8>,
    entries: u64,
    data_len: u64,
    summary: HintSummary,
    tail: u32,
) {
    for v in [
        entries,
        data_len,
        summary.corrupt_records,
        summary.corrupt_bytes,
    ] {
        buf.extend_from_slice(&v.to_le_bytes());
    }
    buf.extend_from_slice(&tail.to_le_bytes());
    let crc = crc32fast::hash(buf);
    buf.extend_from_slice(&crc.to_le_bytes());
}

/// The entries of a keyed hint's body, in order (only for bodies this module wrote or verified).
pub(super) struct EntryIter<'a> {
    pub body: &'a [u8],
    pub pos: usize,
}

impl<'a> Iterator for EntryIter<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        let (e, next) = parse_entry(self.body, self.pos, 0)?;
        self.pos = next;
        Some(e)
    }
}

/// Loads a hint with keys (see [`super::load_all`]).
pub(super) fn load(h: &HintFile<'_>, apply: &mut dyn FnMut(&[Entry<'_>])) -> Option<HintSummary> {
    let (bytes, id, data_len) = (h.bytes, h.id, h.data_len);
    let summary = footer(h)?;
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

fn footer(h: &HintFile<'_>) -> Option<HintSummary> {
    let footer = h.footer(FOOTER_LEN)?;
    let word = |i: usize| u64::from_le_bytes(footer[i * 8..i * 8 + 8].try_into().unwrap());
    let tail = u32::from_le_bytes(footer[32..36].try_into().unwrap());
    if !h.describes(word(1), tail) {
        return None;
    }
    Some(HintSummary {
        entries: word(0),
        corrupt_records: word(2),
        corrupt_bytes: word(3),
    })
}

pub(super) fn parse_entry(b: &[u8], pos: usize, file_id: u32) -> Option<(Entry<'_>, usize)> {
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
