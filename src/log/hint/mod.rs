//! Hint files: the keys and record positions of one sealed data file, so that opening a store
//! rebuilds the keydir without reading a single value. Two formats, told apart by the header's
//! version: with keys ([`keyed`], version 1) and compact ([`compact`], version 2, the default).
//!
//! A hint is only an accelerator: missing, stale or damaged, it is ignored and the data file is
//! scanned instead. It is written to `<id>.hint.tmp`, fsynced and renamed, so a crash never
//! leaves a half-written `<id>.hint`.

use std::collections::HashSet;
use std::fs::{self, File};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::{
    self, COMPACT_HINT_VERSION, FILE_HEADER_LEN, FLAG_HAS_EXPIRY, FLAG_TOMBSTONE, FileHeader,
    FileKind,
};
use crate::keydir::Loc;

mod compact;
mod keyed;

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
        keyed::encode_entry(&mut self.buf, e);
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
            pos = keyed::parse_entry(body, pos, 0)
                .expect("entries this builder wrote")
                .1;
        }
        starts.push(body.len() as u32);
        let key_at = |i: usize| {
            keyed::parse_entry(body, starts[i] as usize, 0)
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
            let image = compact::image(&self.buf, self.entries, dir, id, data_len, tail)
                .map_err(|e| Error::io("read data file", format::data_path(dir, id), e))?;
            if let Some(image) = image {
                self.buf = image;
                return self.put(dir, id);
            }
        }
        keyed::finish(&mut self.buf, self.entries, data_len, summary, tail);
        self.put(dir, id)
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
    let version = checked_version(&bytes, id, order)?;
    let hint = HintFile {
        bytes: &bytes,
        dir,
        id,
        data_len,
    };
    match version {
        COMPACT_HINT_VERSION => compact::load(&hint, apply),
        _ => keyed::load(&hint, apply),
    }
}

/// A hint file read whole, with the data file it must describe: what both formats' loaders
/// start from.
struct HintFile<'a> {
    bytes: &'a [u8],
    dir: &'a Path,
    id: u32,
    data_len: u64,
}

impl HintFile<'_> {
    /// The last `len` bytes, if the file holds a header and a footer of that length.
    fn footer(&self, len: usize) -> Option<&[u8]> {
        let at = self.bytes.len().checked_sub(len)?;
        (at >= FILE_HEADER_LEN).then(|| &self.bytes[at..])
    }

    /// Whether a footer's data length and tail CRC describe the data file as it is now: a hint
    /// describing any other length, or other last bytes, is stale.
    fn describes(&self, data_len: u64, tail: u32) -> bool {
        data_len == self.data_len
            && tail_crc(&format::data_path(self.dir, self.id), self.data_len).ok() == Some(tail)
    }
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
        COMPACT_HINT_VERSION => (compact::FOOTER_LEN as u64, 1),
        _ => (
            keyed::FOOTER_LEN as u64,
            (keyed::ENTRY_FIXED_LEN as u64 + 2) * 8,
        ),
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
    if bytes.len() < FILE_HEADER_LEN + compact::FOOTER_LEN.min(keyed::FOOTER_LEN) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::KEYED_HINT_VERSION;

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

    /// Flips each bit 0 and cuts at each byte of file 3's hint (order 2, data file of
    /// `data_len` bytes): none of them loads.
    fn every_flip_and_cut_is_ignored(dir: &Path, data_len: u64) {
        let path = format::hint_path(dir, 3);
        let good = fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            fs::write(&path, &bad).unwrap();
            assert_eq!(collect(dir, 2, data_len), None, "flip at {i}");
            fs::write(&path, &good[..i]).unwrap();
            assert_eq!(collect(dir, 2, data_len), None, "cut at {i}");
        }
    }

    #[test]
    fn any_damage_or_truncation_makes_the_hint_ignored() {
        let dir = tempfile::tempdir().unwrap();
        sample(dir.path());
        every_flip_and_cut_is_ignored(dir.path(), 410);
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
        assert_eq!(hint_version(keyed.path()), KEYED_HINT_VERSION);
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
            (FILE_HEADER_LEN + 2 + compact::CHUNK_ROW_LEN + compact::FOOTER_LEN) as u64
        );
    }

    #[test]
    fn a_file_of_mostly_superseded_records_gets_a_keyed_hint() {
        let dir = tempfile::tempdir().unwrap();
        let mut records = distinct(10);
        records.extend(distinct(10));
        data_file(dir.path(), &records, true);
        assert_eq!(hint_version(dir.path()), KEYED_HINT_VERSION);
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
        every_flip_and_cut_is_ignored(dir.path(), len);
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
        let n = compact::CHUNK_RECORDS as u32 * 2 + 100;
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
