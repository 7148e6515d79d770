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
//! A hint is only an accelerator: missing, stale or damaged, it is ignored and the data file is
//! scanned instead. It is written to `<id>.hint.tmp`, fsynced and renamed, so a crash never
//! leaves a half-written `<id>.hint`.

use std::collections::HashSet;
use std::fs::{self, File};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::{self, FILE_HEADER_LEN, FLAG_HAS_EXPIRY, FLAG_TOMBSTONE, FileHeader, FileKind};
use crate::keydir::Loc;

const ENTRY_FIXED_LEN: usize = 13;
const FOOTER_LEN: usize = 40;
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

    /// Writes `<dir>/<id>.hint` via a temporary file, fsynced, then renamed.
    pub fn write(mut self, dir: &Path, id: u32, data_len: u64, summary: HintSummary) -> Result<()> {
        let tail = tail_crc(&format::data_path(dir, id), data_len)
            .map_err(|e| Error::io("read data file tail", format::data_path(dir, id), e))?;
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
    let summary = verify(&bytes, dir, id, order, data_len)?;
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
    let mut word = [0u8; 8];
    if len < (FILE_HEADER_LEN + FOOTER_LEN) as u64
        || f.read_exact_at(&mut word, len - FOOTER_LEN as u64).is_err()
    {
        return 0;
    }
    // The footer is not verified here; bound the claim by what the file could hold, so a
    // damaged count cannot make the caller reserve absurd memory.
    let most = (len - (FILE_HEADER_LEN + FOOTER_LEN) as u64) / (ENTRY_FIXED_LEN as u64 + 2);
    u64::from_le_bytes(word).min(most)
}

fn verify(bytes: &[u8], dir: &Path, id: u32, order: u32, data_len: u64) -> Option<HintSummary> {
    if bytes.len() < FILE_HEADER_LEN + FOOTER_LEN {
        return None;
    }
    let header = FileHeader::decode(&bytes[..FILE_HEADER_LEN], FileKind::Hint).ok()?;
    if header.file_id != id || header.order != order {
        return None;
    }
    let crc_at = bytes.len() - 4;
    if crc32fast::hash(&bytes[..crc_at]) != u32::from_le_bytes(bytes[crc_at..].try_into().ok()?) {
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
    if key_len == 0 || key_len > crate::options::MAX_KEY_SIZE_LIMIT as usize {
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
        b.write(dir, 3, 410, summary).unwrap();
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
        b.write(dir.path(), 3, 500, HintSummary::default()).unwrap();
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
}
