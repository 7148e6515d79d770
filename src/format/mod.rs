//! The on-disk format: file names, file headers and records. `docs/FORMAT.md` is the long form.
//!
//! All integers are little-endian. All checksums are CRC-32 (IEEE 802.3 polynomial, as computed by
//! `crc32fast`, zlib's `crc32`).
//!
//! # Data file `<id>.data`
//! A 24-byte file header followed by records, back to back, no padding.
//!
//! ```text
//! file header (24 bytes)
//! offset size field
//!      0    8 magic            89 42 43 44 0D 0A 1A 0A   ("\x89BCD\r\n\x1a\n")
//!      8    2 format version   u16 = 2 (1 is still read: see below)
//!     10    2 header flags     u16 = 0 (reserved; a reader rejects unknown bits)
//!     12    4 file id          u32, equals the number in the file name
//!     16    4 order            u32, the file's place in log order (see below)
//!     20    4 header crc       crc32 of bytes 0..20
//! ```
//! `order` equals the file id for every file the writer creates. A file written by a merge carries
//! the id of the newest file it merged, so that it sorts before every file written after that one.
//! Files are replayed in ascending `(order, id)`; later records win.
//!
//! ```text
//! record
//! offset size field
//!      0    4 crc              crc32 of every byte after this field up to the end of the value
//!      4    1 flags            bit 0 TOMBSTONE, bit 1 HAS_EXPIRY, bit 2 BATCH, bit 3 BATCH_END,
//!                              bit 4 BATCH_START; bits 5..7 must be zero
//!      5    4 timestamp        u32, seconds since the Unix epoch when the record was written
//!      9  1-5 key length       unsigned LEB128 varint, 1 ..= 1 MiB
//!      . 1-5 value length      unsigned LEB128 varint; 0 for a tombstone
//!      .  0/4 expiry           u32 seconds since the Unix epoch, present only with HAS_EXPIRY
//!      .    k key
//!      .    v value
//! ```
//! A record's header is 11 bytes for keys and values under 128 bytes, at most 23 bytes.

pub(crate) mod merge_record;

use std::path::{Path, PathBuf};

/// Magic bytes opening every data file.
pub const DATA_MAGIC: [u8; 8] = *b"\x89BCD\r\n\x1a\n";
/// Magic bytes opening every hint file.
pub const HINT_MAGIC: [u8; 8] = *b"\x89BCH\r\n\x1a\n";
/// The data file format version this library writes: 2, whose batches mark their first record
/// (`FLAG_BATCH_START`), so a batch whose first records were lost to damage is discarded whole.
pub const FORMAT_VERSION: u16 = 2;
/// The oldest data file version this library reads: version 1, the same records without
/// `FLAG_BATCH_START` (replayed by version 1's rules; never appended to again).
pub const OLDEST_FORMAT_VERSION: u16 = 1;
/// Hint file version of a hint that lists every entry with its key (`src/log/hint/keyed.rs`).
pub const KEYED_HINT_VERSION: u16 = 1;
/// Hint file version of a compact hint (one bit per record, no keys; `src/log/hint/compact.rs`).
/// A reader that knows only version 1 ignores a compact hint (its header fails the version check)
/// and scans the data file instead.
pub const COMPACT_HINT_VERSION: u16 = 2;

pub const FILE_HEADER_LEN: usize = 24;

/// The largest key the format allows, whatever the options say: keys live in memory.
pub const MAX_KEY_SIZE_LIMIT: u32 = 1 << 20;
/// The largest value the format allows: a record's length must fit in 32 bits.
pub const MAX_VALUE_SIZE_LIMIT: u64 = 3 << 30;
/// Smallest allowed `max_file_size`.
pub const MIN_FILE_SIZE: u64 = 256;
/// Largest allowed `max_file_size`: record offsets are 32-bit.
pub const MAX_FILE_SIZE_LIMIT: u64 = u32::MAX as u64;
const HDR_VERSION_OFFSET: usize = DATA_MAGIC.len();
const HDR_FLAGS_OFFSET: usize = HDR_VERSION_OFFSET + 2;
const HDR_FILE_ID_OFFSET: usize = HDR_FLAGS_OFFSET + 2;
const HDR_ORDER_OFFSET: usize = HDR_FILE_ID_OFFSET + 4;
const HDR_CRC_OFFSET: usize = HDR_ORDER_OFFSET + 4;
const _: () = assert!(HDR_CRC_OFFSET + 4 == FILE_HEADER_LEN);

/// Record flag: this record deletes its key; the value is empty.
pub const FLAG_TOMBSTONE: u8 = 1 << 0;
/// Record flag: a 4-byte expiry time follows the lengths.
pub const FLAG_HAS_EXPIRY: u8 = 1 << 1;
/// Record flag: the record belongs to an atomic batch that ends at the next BATCH_END record.
pub const FLAG_BATCH: u8 = 1 << 2;
/// Record flag: the last record of an atomic batch; the batch applies only if this is present.
pub const FLAG_BATCH_END: u8 = 1 << 3;
/// Record flag (format version 2): the first record of an atomic batch. A batch record read
/// without a batch started before it belongs to a batch whose start was lost.
pub const FLAG_BATCH_START: u8 = 1 << 4;
const KNOWN_FLAGS: u8 =
    FLAG_TOMBSTONE | FLAG_HAS_EXPIRY | FLAG_BATCH | FLAG_BATCH_END | FLAG_BATCH_START;
/// The flags that tie a record to its batch-mates.
const BATCH_FLAGS: u8 = FLAG_BATCH | FLAG_BATCH_END | FLAG_BATCH_START;

const REC_CRC_LEN: usize = 4;
const REC_FLAGS_OFFSET: usize = REC_CRC_LEN;
const REC_TIMESTAMP_OFFSET: usize = REC_FLAGS_OFFSET + 1;
const REC_LENGTHS_OFFSET: usize = REC_TIMESTAMP_OFFSET + 4;
const MAX_VARINT_LEN: usize = 5;
const EXPIRY_LEN: usize = 4;
/// Smallest possible record: empty value, 1-byte key.
pub const MIN_RECORD_LEN: usize = REC_LENGTHS_OFFSET + 2 + 1;
/// Longest possible record header (before the key).
pub const MAX_RECORD_HEADER_LEN: usize = REC_LENGTHS_OFFSET + 2 * MAX_VARINT_LEN + EXPIRY_LEN;

/// Which kind of file a name refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Data,
    Hint,
}

/// Digits in a file id as written in file names; enough for any u32.
const ID_DIGITS: usize = 10;

/// `<dir>/<id>.data`, with the id zero-padded so names sort like ids.
pub fn data_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:0ID_DIGITS$}.data"))
}

/// `<dir>/<id>.hint`.
pub fn hint_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:0ID_DIGITS$}.hint"))
}

/// Name of the lock file inside a store directory.
pub const LOCK_FILE: &str = "LOCK";

/// Parses a data or hint file name: exactly ten decimal digits, then `.data` or `.hint`, as
/// [`data_path`] and [`hint_path`] write them. Anything else (`7.data`, `00000000007.data`) is
/// not a store file: opens ignore it, never open, count or delete it.
pub fn parse_file_name(name: &str) -> Option<(u32, FileKind)> {
    let (stem, kind) = if let Some(stem) = name.strip_suffix(".data") {
        (stem, FileKind::Data)
    } else if let Some(stem) = name.strip_suffix(".hint") {
        (stem, FileKind::Hint)
    } else {
        return None;
    };
    Some((parse_id(stem)?, kind))
}

/// Whether `name` is a hint being written (`<ten digits>.hint.tmp`), which an open deletes.
pub fn is_hint_tmp_name(name: &str) -> bool {
    name.strip_suffix(".tmp")
        .and_then(parse_file_name)
        .is_some_and(|(_, kind)| kind == FileKind::Hint)
}

/// A file id written as exactly [`ID_DIGITS`] decimal digits.
fn parse_id(digits: &str) -> Option<u32> {
    if digits.len() != ID_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The decoded file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    pub kind: FileKind,
    pub file_id: u32,
    pub order: u32,
}

impl FileHeader {
    /// Encodes the header with the version this library writes for its kind: [`FORMAT_VERSION`]
    /// for a data file, [`KEYED_HINT_VERSION`] for a hint.
    pub fn encode(&self) -> [u8; FILE_HEADER_LEN] {
        self.encode_version(match self.kind {
            FileKind::Data => FORMAT_VERSION,
            FileKind::Hint => KEYED_HINT_VERSION,
        })
    }

    /// Encodes the header with an explicit version (hints have two, see [`COMPACT_HINT_VERSION`]).
    pub fn encode_version(&self, version: u16) -> [u8; FILE_HEADER_LEN] {
        let mut b = [0u8; FILE_HEADER_LEN];
        b[..8].copy_from_slice(match self.kind {
            FileKind::Data => &DATA_MAGIC,
            FileKind::Hint => &HINT_MAGIC,
        });
        b[HDR_VERSION_OFFSET..HDR_FLAGS_OFFSET].copy_from_slice(&version.to_le_bytes());
        b[HDR_FLAGS_OFFSET..HDR_FILE_ID_OFFSET].copy_from_slice(&0u16.to_le_bytes());
        b[HDR_FILE_ID_OFFSET..HDR_ORDER_OFFSET].copy_from_slice(&self.file_id.to_le_bytes());
        b[HDR_ORDER_OFFSET..HDR_CRC_OFFSET].copy_from_slice(&self.order.to_le_bytes());
        let crc = crc32fast::hash(&b[..HDR_CRC_OFFSET]);
        b[HDR_CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Checks magic, checksum and version. The error text says which check failed.
    pub fn decode(b: &[u8], expected: FileKind) -> Result<FileHeader, String> {
        Self::decode_versioned(b, expected).map(|(h, _)| h)
    }

    /// Like [`FileHeader::decode`], also returning the version: always [`FORMAT_VERSION`] for a
    /// data file, that or [`COMPACT_HINT_VERSION`] for a hint.
    pub fn decode_versioned(b: &[u8], expected: FileKind) -> Result<(FileHeader, u16), String> {
        if b.len() < FILE_HEADER_LEN {
            return Err(format!(
                "file header is {} bytes, shorter than {FILE_HEADER_LEN}",
                b.len()
            ));
        }
        let magic = match expected {
            FileKind::Data => &DATA_MAGIC,
            FileKind::Hint => &HINT_MAGIC,
        };
        if &b[..8] != magic {
            return Err("bad magic bytes: not a bitcask file of this kind".into());
        }
        let stored_crc = le_u32(&b[HDR_CRC_OFFSET..]);
        if crc32fast::hash(&b[..HDR_CRC_OFFSET]) != stored_crc {
            return Err("file header checksum mismatch".into());
        }
        let version = u16::from_le_bytes([b[HDR_VERSION_OFFSET], b[HDR_VERSION_OFFSET + 1]]);
        let known = match expected {
            FileKind::Data => (OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version),
            FileKind::Hint => version == KEYED_HINT_VERSION || version == COMPACT_HINT_VERSION,
        };
        if !known {
            return Err(format!(
                "format version {version} is not supported (this library reads versions \
                 {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}); open it with a library that \
                 supports it"
            ));
        }
        let flags = u16::from_le_bytes([b[HDR_FLAGS_OFFSET], b[HDR_FLAGS_OFFSET + 1]]);
        if flags != 0 {
            return Err(format!(
                "unknown file header flags {flags:#x} (written by a newer library?)"
            ));
        }
        let header = FileHeader {
            kind: expected,
            file_id: le_u32(&b[HDR_FILE_ID_OFFSET..]),
            order: le_u32(&b[HDR_ORDER_OFFSET..]),
        };
        Ok((header, version))
    }
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The fields of a record in front of its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    pub flags: u8,
    pub timestamp: u32,
    pub key_len: u32,
    pub value_len: u32,
    /// Seconds since the epoch after which the record is expired; 0 when it never expires.
    pub expiry: u32,
    /// Bytes from the start of the record to the first key byte.
    pub header_len: u32,
}

impl RecordHeader {
    /// Total length of the record.
    pub fn record_len(&self) -> u64 {
        self.header_len as u64 + self.key_len as u64 + self.value_len as u64
    }

    pub fn is_tombstone(&self) -> bool {
        self.flags & FLAG_TOMBSTONE != 0
    }
}

/// Why bytes do not decode as a record header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// More bytes are needed to decode the header (a record cut off at the end of a file).
    Truncated,
    /// The bytes cannot be a record header written by this library.
    Invalid(&'static str),
}

/// Limits a decoded header must respect; anything larger is garbage, not a record.
#[derive(Clone, Copy, Debug)]
pub struct RecordLimits {
    pub max_key: u32,
    pub max_value: u32,
}

impl RecordLimits {
    /// The format's own limits, independent of a store's options.
    pub const FORMAT: RecordLimits = RecordLimits {
        max_key: MAX_KEY_SIZE_LIMIT,
        max_value: MAX_VALUE_SIZE_LIMIT as u32,
    };
}

/// Length of the header that [`encode_record`] writes for these sizes.
pub fn record_header_len(key_len: usize, value_len: usize, has_expiry: bool) -> usize {
    REC_LENGTHS_OFFSET
        + varint_len(key_len as u32)
        + varint_len(value_len as u32)
        + if has_expiry { EXPIRY_LEN } else { 0 }
}

/// Total encoded length of a record.
pub fn record_len(key_len: usize, value_len: usize, has_expiry: bool) -> usize {
    record_header_len(key_len, value_len, has_expiry) + key_len + value_len
}

/// Appends one encoded record to `out`. `expiry` 0 means "never". Lengths must already be checked
/// against the limits (they are asserted to fit in 32 bits).
pub fn encode_record(
    out: &mut Vec<u8>,
    flags: u8,
    timestamp: u32,
    expiry: u32,
    key: &[u8],
    value: &[u8],
) {
    let key_len = u32::try_from(key.len()).expect("key length checked by caller");
    let value_len = u32::try_from(value.len()).expect("value length checked by caller");
    let flags = if expiry != 0 {
        flags | FLAG_HAS_EXPIRY
    } else {
        flags & !FLAG_HAS_EXPIRY
    };
    let start = out.len();
    out.reserve(record_len(key.len(), value.len(), expiry != 0));
    out.extend_from_slice(&[0u8; REC_CRC_LEN]);
    out.push(flags);
    out.extend_from_slice(&timestamp.to_le_bytes());
    put_varint(out, key_len);
    put_varint(out, value_len);
    if expiry != 0 {
        out.extend_from_slice(&expiry.to_le_bytes());
    }
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    let crc = crc32fast::hash(&out[start + REC_CRC_LEN..]);
    out[start..start + REC_CRC_LEN].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes the header at the start of `b` without checking the CRC (the caller does that once it
/// has the whole record).
pub fn decode_record_header(b: &[u8], limits: RecordLimits) -> Result<RecordHeader, HeaderError> {
    if b.len() < REC_LENGTHS_OFFSET {
        return Err(HeaderError::Truncated);
    }
    let flags = b[REC_FLAGS_OFFSET];
    if flags & !KNOWN_FLAGS != 0 {
        return Err(HeaderError::Invalid("unknown record flags"));
    }
    if flags & FLAG_BATCH_END != 0 && flags & FLAG_BATCH == 0 {
        return Err(HeaderError::Invalid("BATCH_END without BATCH"));
    }
    if flags & FLAG_BATCH_START != 0 && flags & FLAG_BATCH == 0 {
        return Err(HeaderError::Invalid("BATCH_START without BATCH"));
    }
    let timestamp = le_u32(&b[REC_TIMESTAMP_OFFSET..]);
    let mut pos = REC_LENGTHS_OFFSET;
    let key_len = get_varint(b, &mut pos)?;
    let value_len = get_varint(b, &mut pos)?;
    let expiry = if flags & FLAG_HAS_EXPIRY != 0 {
        if b.len() < pos + EXPIRY_LEN {
            return Err(HeaderError::Truncated);
        }
        let e = le_u32(&b[pos..]);
        pos += EXPIRY_LEN;
        if e == 0 {
            return Err(HeaderError::Invalid("HAS_EXPIRY with a zero expiry"));
        }
        e
    } else {
        0
    };
    if key_len == 0 {
        return Err(HeaderError::Invalid("zero key length"));
    }
    if key_len > limits.max_key {
        return Err(HeaderError::Invalid("key length above the format limit"));
    }
    if value_len > limits.max_value {
        return Err(HeaderError::Invalid("value length above the format limit"));
    }
    if flags & FLAG_TOMBSTONE != 0 && value_len != 0 {
        return Err(HeaderError::Invalid("tombstone with a value"));
    }
    let header = RecordHeader {
        flags,
        timestamp,
        key_len,
        value_len,
        expiry,
        header_len: pos as u32,
    };
    // Varints must be minimal so that the header length is a function of the sizes; a reader of
    // a keydir location relies on that.
    if pos != record_header_len(key_len as usize, value_len as usize, expiry != 0) {
        return Err(HeaderError::Invalid("non-minimal length encoding"));
    }
    Ok(header)
}

/// Copies a complete, verified record without its batch flags (re-computing its CRC), or returns
/// it as it is when it has none. Merge copies records one by one, so a copy must not claim to
/// belong to a batch whose other records it does not carry.
pub(crate) fn without_batch_flags(record: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if record[REC_FLAGS_OFFSET] & BATCH_FLAGS == 0 {
        return std::borrow::Cow::Borrowed(record);
    }
    let mut copy = record.to_vec();
    copy[REC_FLAGS_OFFSET] &= !BATCH_FLAGS;
    let crc = crc32fast::hash(&copy[REC_CRC_LEN..]);
    copy[..REC_CRC_LEN].copy_from_slice(&crc.to_le_bytes());
    std::borrow::Cow::Owned(copy)
}

/// Whether the stored CRC of a complete record matches its bytes.
pub fn record_crc_ok(record: &[u8]) -> bool {
    record.len() >= REC_CRC_LEN
        && crc32fast::hash(&record[REC_CRC_LEN..]) == le_u32(&record[..REC_CRC_LEN])
}

/// A record decoded from a complete buffer, borrowing its key and value.
#[derive(Debug)]
pub struct RecordRef<'a> {
    pub header: RecordHeader,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// Why a complete buffer is not a valid record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordError {
    Truncated,
    Invalid(&'static str),
    Checksum,
}

/// Decodes and verifies the record that starts at `b[0]`. `b` may extend past the record.
/// Inlined: every get runs it, from another module (bench/DECISIONS.md, "Record decoding on
/// the read path").
pub fn decode_record(b: &[u8], limits: RecordLimits) -> Result<RecordRef<'_>, RecordError> {
    let header = decode_record_header(b, limits).map_err(|e| match e {
        HeaderError::Truncated => RecordError::Truncated,
        HeaderError::Invalid(why) => RecordError::Invalid(why),
    })?;
    let len = header.record_len();
    if (b.len() as u64) < len {
        return Err(RecordError::Truncated);
    }
    let record = &b[..len as usize];
    if !record_crc_ok(record) {
        return Err(RecordError::Checksum);
    }
    let key_start = header.header_len as usize;
    let value_start = key_start + header.key_len as usize;
    Ok(RecordRef {
        header,
        key: &record[key_start..value_start],
        value: &record[value_start..],
    })
}

fn varint_len(mut v: u32) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], pos: &mut usize) -> Result<u32, HeaderError> {
    let mut v: u64 = 0;
    for i in 0..MAX_VARINT_LEN {
        let Some(&byte) = b.get(*pos + i) else {
            return Err(HeaderError::Truncated);
        };
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *pos += i + 1;
            return u32::try_from(v).map_err(|_| HeaderError::Invalid("length overflows 32 bits"));
        }
    }
    Err(HeaderError::Invalid("length varint longer than 5 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(flags: u8, expiry: u32, key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_record(&mut v, flags, 1_700_000_000, expiry, key, value);
        v
    }

    #[test]
    fn record_round_trips_with_and_without_expiry() {
        for expiry in [0u32, 1_800_000_000] {
            for (k, v) in [
                (&b"k"[..], &b""[..]),
                (b"key\0with nul", b"value\0"),
                (&[0xffu8; 300][..], &[7u8; 70_000][..]),
            ] {
                let rec = encode(0, expiry, k, v);
                assert_eq!(rec.len(), record_len(k.len(), v.len(), expiry != 0));
                let r = decode_record(&rec, RecordLimits::FORMAT).unwrap();
                assert_eq!(r.key, k);
                assert_eq!(r.value, v);
                assert_eq!(r.header.expiry, expiry);
                assert_eq!(r.header.timestamp, 1_700_000_000);
                assert_eq!(r.header.flags & FLAG_HAS_EXPIRY != 0, expiry != 0);
            }
        }
    }

    #[test]
    fn small_record_header_is_eleven_bytes() {
        assert_eq!(record_header_len(16, 100, false), 11);
        assert_eq!(MAX_RECORD_HEADER_LEN, 23);
        assert_eq!(encode(0, 0, &[1; 16], &[2; 100]).len(), 11 + 116);
    }

    #[test]
    fn layout_is_little_endian_at_documented_offsets() {
        let rec = encode(FLAG_TOMBSTONE, 0, b"ab", b"");
        assert_eq!(rec[4], FLAG_TOMBSTONE);
        assert_eq!(&rec[5..9], &1_700_000_000u32.to_le_bytes());
        assert_eq!(rec[9], 2); // key length
        assert_eq!(rec[10], 0); // value length
        assert_eq!(&rec[11..], b"ab");
        assert_eq!(&rec[..4], &crc32fast::hash(&rec[4..]).to_le_bytes());
    }

    #[test]
    fn worked_example_in_format_md_is_byte_exact() {
        let rec = encode(FLAG_TOMBSTONE, 0, b"ab", b"");
        let expected = [
            0xfd, 0x21, 0xe0, 0x9d, 0x01, 0x00, 0xf1, 0x53, 0x65, 0x02, 0x00, b'a', b'b',
        ];
        assert_eq!(rec, expected);
        let doc = include_str!("../../docs/FORMAT.md");
        assert!(doc.contains("fd 21 e0 9d   CRC-32 of the 9 bytes after it"));
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let rec = encode(0, 1_800_000_000, b"some key", b"some value bytes");
        for bit in 0..rec.len() * 8 {
            let mut bad = rec.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            match decode_record(&bad, RecordLimits::FORMAT) {
                Ok(r) => panic!("flip of bit {bit} accepted: {r:?}"),
                Err(RecordError::Truncated | RecordError::Invalid(_) | RecordError::Checksum) => {}
            }
        }
    }

    #[test]
    fn every_truncation_is_reported_as_truncated() {
        let rec = encode(0, 0, b"key", b"value");
        for cut in 0..rec.len() {
            assert_eq!(
                decode_record(&rec[..cut], RecordLimits::FORMAT).unwrap_err(),
                RecordError::Truncated,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn garbage_headers_are_rejected() {
        let limits = RecordLimits {
            max_key: 10,
            max_value: 10,
        };
        let big = encode(0, 0, &[1; 11], b"");
        assert!(matches!(
            decode_record_header(&big, limits),
            Err(HeaderError::Invalid(_))
        ));
        let zeros = [0u8; 32];
        assert!(decode_record(&zeros, RecordLimits::FORMAT).is_err());
        let mut unknown = encode(0, 0, b"k", b"v");
        unknown[4] = 0x80;
        assert!(matches!(
            decode_record_header(&unknown, RecordLimits::FORMAT),
            Err(HeaderError::Invalid(_))
        ));
    }

    #[test]
    fn file_header_round_trips_and_detects_damage() {
        let h = FileHeader {
            kind: FileKind::Data,
            file_id: 42,
            order: 7,
        };
        let b = h.encode();
        assert_eq!(&b[..8], &DATA_MAGIC);
        assert_eq!(FileHeader::decode(&b, FileKind::Data).unwrap(), h);
        assert!(FileHeader::decode(&b, FileKind::Hint).is_err());
        assert!(FileHeader::decode(&b[..23], FileKind::Data).is_err());
        // Data files are read in versions 1 and 2 and written in 2; hints in 1 (keyed) and 2.
        assert_eq!(
            FileHeader::decode_versioned(&b, FileKind::Data).unwrap(),
            (h, FORMAT_VERSION)
        );
        assert_eq!(
            FileHeader::decode_versioned(&h.encode_version(1), FileKind::Data).unwrap(),
            (h, OLDEST_FORMAT_VERSION)
        );
        for unknown in [0, 3, 0xFFFF] {
            let why = FileHeader::decode(&h.encode_version(unknown), FileKind::Data).unwrap_err();
            assert!(why.starts_with("format version"), "{why}");
        }
        let hint = FileHeader {
            kind: FileKind::Hint,
            ..h
        };
        assert_eq!(
            FileHeader::decode_versioned(
                &hint.encode_version(COMPACT_HINT_VERSION),
                FileKind::Hint
            ),
            Ok((hint, COMPACT_HINT_VERSION))
        );
        assert!(FileHeader::decode(&hint.encode_version(3), FileKind::Hint).is_err());
        for i in 0..FILE_HEADER_LEN {
            let mut bad = b;
            bad[i] ^= 0x10;
            assert!(
                FileHeader::decode(&bad, FileKind::Data).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn file_names_parse_and_sort_like_ids() {
        let dir = Path::new("/s");
        assert_eq!(data_path(dir, 7), Path::new("/s/0000000007.data"));
        assert_eq!(hint_path(dir, 7), Path::new("/s/0000000007.hint"));
        assert_eq!(
            parse_file_name("0000000007.data"),
            Some((7, FileKind::Data))
        );
        assert_eq!(
            parse_file_name("4294967295.hint"),
            Some((u32::MAX, FileKind::Hint))
        );
        assert_eq!(parse_file_name("4294967296.data"), None);
        assert_eq!(parse_file_name("x.data"), None);
        assert_eq!(parse_file_name(".data"), None);
        assert_eq!(parse_file_name("LOCK"), None);
        assert_eq!(parse_file_name("+1.data"), None);
        // Only the exact pattern: a short or long id names no store file.
        assert_eq!(parse_file_name("7.data"), None);
        assert_eq!(parse_file_name("1.hint"), None);
        assert_eq!(parse_file_name("00000000007.data"), None);
        assert_eq!(parse_file_name("000000007.data"), None);
        assert_eq!(parse_file_name("0000000007.data.bak"), None);
        assert!(is_hint_tmp_name("0000000007.hint.tmp"));
        assert!(!is_hint_tmp_name("7.hint.tmp"));
        assert!(!is_hint_tmp_name("notes.hint.tmp"));
        assert!(!is_hint_tmp_name("0000000007.data.tmp"));
    }
}
