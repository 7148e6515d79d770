//! The worked example in docs/FORMAT.md ("Worked example") is this test's output: a tiny store
//! written by the library with its clock pinned (so every byte is reproducible), dumped field by
//! field. The test fails when the document and the library's bytes differ; regenerate the
//! section with `BITCASK_BLESS=1 cargo test --test format_example`.
//!
//! The dump walks the files by the layouts FORMAT.md documents, so a change to a layout that the
//! document does not follow shows up here too. One test in its own binary: the pinned clock is
//! process-wide.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use bitcask::format::{
    FILE_HEADER_LEN, FLAG_BATCH, FLAG_BATCH_END, FLAG_BATCH_START, FLAG_HAS_EXPIRY, FLAG_TOMBSTONE,
    FileHeader, FileKind, RecordLimits, decode_record_header,
};
use bitcask::{Batch, Bitcask, Options};

const BEGIN: &str = "<!-- BEGIN GENERATED EXAMPLE: tests/format_example.rs -->";
const END: &str = "<!-- END GENERATED EXAMPLE -->";
/// 2023-11-14 22:13:20 UTC.
const CLOCK: u32 = 1_700_000_000;

/// The example store: a put, a put with a 60-second TTL, a delete, a two-record batch.
fn write_store(dir: &Path, compact_hints: bool) {
    let mut opts = Options::default();
    opts.compact_hints(compact_hints);
    let db = Bitcask::open(dir, &opts).unwrap();
    db.put(b"k1", b"v1").unwrap();
    db.put_ttl(b"k2", b"v2", 60).unwrap();
    db.delete(b"k1").unwrap();
    let mut batch = Batch::new();
    batch.put(b"k3", b"v3").unwrap();
    batch.put(b"k4", b"v4").unwrap();
    db.write(&batch).unwrap();
    db.close().unwrap();
}

struct Dump<'a> {
    bytes: &'a [u8],
    out: String,
}

impl Dump<'_> {
    /// One line: the offset, the bytes `[at, at + len)` in hex, and what they are.
    fn field(&mut self, at: usize, len: usize, what: impl AsRef<str>) {
        let hex: Vec<String> = self.bytes[at..at + len]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let hex = hex.join(" ");
        writeln!(self.out, "{at:>6}  {hex:<36} {}", what.as_ref()).unwrap();
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes[at..at + 4].try_into().unwrap())
    }

    fn u64_at(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes[at..at + 8].try_into().unwrap())
    }

    fn heading(&mut self, text: impl AsRef<str>) {
        writeln!(self.out, "{}", text.as_ref()).unwrap();
    }

    fn file_header(&mut self, kind: FileKind) {
        let (h, version) = FileHeader::decode_versioned(&self.bytes[..FILE_HEADER_LEN], kind)
            .expect("the library's own header");
        self.field(0, 8, "magic");
        self.field(8, 2, format!("version {version}"));
        self.field(10, 2, "header flags (none defined)");
        self.field(12, 4, format!("file id {}", h.file_id));
        self.field(16, 4, format!("order {}", h.order));
        self.field(20, 4, "CRC-32 of bytes 0..20");
    }
}

fn flag_names(flags: u8) -> String {
    let names: Vec<&str> = [
        (FLAG_TOMBSTONE, "TOMBSTONE"),
        (FLAG_HAS_EXPIRY, "HAS_EXPIRY"),
        (FLAG_BATCH, "BATCH"),
        (FLAG_BATCH_END, "BATCH_END"),
        (FLAG_BATCH_START, "BATCH_START"),
    ]
    .iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|&(_, name)| name)
    .collect();
    if names.is_empty() {
        "flags: none".into()
    } else {
        format!("flags: {}", names.join(" | "))
    }
}

fn text(b: &[u8]) -> String {
    format!("\"{}\"", String::from_utf8_lossy(b))
}

fn varint_len(v: u64) -> usize {
    let mut n = 1;
    let mut v = v >> 7;
    while v > 0 {
        n += 1;
        v >>= 7;
    }
    n
}

fn dump_data(name: &str, bytes: &[u8], out: &mut String) {
    let mut d = Dump {
        bytes,
        out: String::new(),
    };
    d.heading(format!("{name} ({} bytes)", bytes.len()));
    d.file_header(FileKind::Data);
    let mut at = FILE_HEADER_LEN;
    while at < bytes.len() {
        let h = decode_record_header(&bytes[at..], RecordLimits::FORMAT).unwrap();
        let end = at + h.record_len() as usize;
        let key_at = at + h.header_len as usize;
        let key = &bytes[key_at..key_at + h.key_len as usize];
        let value = &bytes[key_at + h.key_len as usize..end];
        let what = if h.flags & FLAG_TOMBSTONE != 0 {
            format!("delete {}", text(key))
        } else {
            format!("put {} = {}", text(key), text(value))
        };
        d.heading(format!("record at {at}, {} bytes: {what}", end - at));
        d.field(at, 4, format!("CRC-32 of bytes {}..{end}", at + 4));
        d.field(at + 4, 1, flag_names(h.flags));
        d.field(at + 5, 4, format!("timestamp {}", h.timestamp));
        let klen = varint_len(h.key_len as u64);
        let vlen = varint_len(h.value_len as u64);
        d.field(at + 9, klen, format!("key length {}", h.key_len));
        d.field(at + 9 + klen, vlen, format!("value length {}", h.value_len));
        let mut pos = at + 9 + klen + vlen;
        if h.flags & FLAG_HAS_EXPIRY != 0 {
            d.field(
                pos,
                4,
                format!("expiry {} (timestamp + 60 s TTL + 1)", d.u32_at(pos)),
            );
            pos += 4;
        }
        d.field(pos, key.len(), format!("key {}", text(key)));
        if !value.is_empty() {
            d.field(
                pos + key.len(),
                value.len(),
                format!("value {}", text(value)),
            );
        }
        at = end;
    }
    out.push_str(&d.out);
}

fn dump_hint(name: &str, bytes: &[u8], out: &mut String) {
    let mut d = Dump {
        bytes,
        out: String::new(),
    };
    let (_, version) =
        FileHeader::decode_versioned(&bytes[..FILE_HEADER_LEN], FileKind::Hint).unwrap();
    d.heading(format!(
        "{name}, version {version} ({}; {} bytes)",
        if version == 1 { "keyed" } else { "compact" },
        bytes.len()
    ));
    d.file_header(FileKind::Hint);
    let mut at = FILE_HEADER_LEN;
    if version == 1 {
        let footer = bytes.len() - 40;
        while at < footer {
            let flags = bytes[at];
            d.heading(format!("entry at {at}"));
            d.field(at, 1, flag_names(flags));
            d.field(at + 1, 4, format!("timestamp {}", d.u32_at(at + 1)));
            d.field(at + 5, 4, format!("record offset {}", d.u32_at(at + 5)));
            d.field(at + 9, 4, format!("record length {}", d.u32_at(at + 9)));
            let klen = bytes[at + 13] as usize; // one varint byte: keys here are short
            d.field(at + 13, 1, format!("key length {klen}"));
            let mut pos = at + 14;
            if flags & FLAG_HAS_EXPIRY != 0 {
                d.field(pos, 4, format!("expiry {}", d.u32_at(pos)));
                pos += 4;
            }
            d.field(pos, klen, format!("key {}", text(&bytes[pos..pos + klen])));
            at = pos + klen;
        }
        d.heading(format!("footer at {footer}"));
        d.field(footer, 8, format!("entries {}", d.u64_at(footer)));
        d.field(
            footer + 8,
            8,
            format!("data file length {}", d.u64_at(footer + 8)),
        );
        d.field(
            footer + 16,
            8,
            format!("damaged records {}", d.u64_at(footer + 16)),
        );
        d.field(
            footer + 24,
            8,
            format!("damaged bytes {}", d.u64_at(footer + 24)),
        );
        d.field(
            footer + 32,
            4,
            "tail CRC: CRC-32 of the data file's last 32 bytes",
        );
        d.field(
            footer + 36,
            4,
            format!("CRC-32 of bytes 0..{}", footer + 36),
        );
    } else {
        let footer = bytes.len() - 32;
        let records = d.u64_at(footer + 8) as usize;
        let bitmap = records.div_ceil(8);
        d.field(
            at,
            bitmap,
            format!("bitmap: record i is an entry when bit i is set ({records} records)"),
        );
        at += bitmap;
        while at < footer {
            d.field(
                at,
                4,
                format!("chunk: offset {} of its first record", d.u32_at(at)),
            );
            d.field(
                at + 4,
                4,
                "chunk digest: CRC-32 of its records' bytes through each key",
            );
            at += 8;
        }
        d.heading(format!("footer at {footer}"));
        d.field(footer, 8, format!("entries {}", d.u64_at(footer)));
        d.field(footer + 8, 8, format!("records {}", d.u64_at(footer + 8)));
        d.field(
            footer + 16,
            8,
            format!("data file length {}", d.u64_at(footer + 16)),
        );
        d.field(
            footer + 24,
            4,
            "tail CRC: CRC-32 of the data file's last 32 bytes",
        );
        d.field(
            footer + 28,
            4,
            format!("CRC-32 of bytes 0..{}", footer + 28),
        );
    }
    out.push_str(&d.out);
}

fn generate() -> String {
    Bitcask::pin_clock(CLOCK);
    let compact = tempfile::tempdir().unwrap();
    let keyed = tempfile::tempdir().unwrap();
    write_store(compact.path(), true);
    write_store(keyed.path(), false);
    Bitcask::pin_clock(0);
    let data = fs::read(compact.path().join("0000000001.data")).unwrap();
    assert_eq!(
        data,
        fs::read(keyed.path().join("0000000001.data")).unwrap(),
        "the two stores' data files are the same bytes"
    );
    let mut dump = String::new();
    dump_data("0000000001.data", &data, &mut dump);
    dump.push('\n');
    let hint = fs::read(keyed.path().join("0000000001.hint")).unwrap();
    dump_hint("0000000001.hint", &hint, &mut dump);
    dump.push('\n');
    let hint = fs::read(compact.path().join("0000000001.hint")).unwrap();
    dump_hint("0000000001.hint", &hint, &mut dump);

    let mut section = String::new();
    writeln!(section, "{BEGIN}").unwrap();
    writeln!(
        section,
        "\nThe store this code writes, with the clock at {CLOCK} (all numbers decimal unless in \
         the hex\ncolumn), closed, then dumped; the second hint is what the same store gets with \
         compact hints\n(the default), the first with `compact_hints` off:\n"
    )
    .unwrap();
    writeln!(
        section,
        "```rust\ndb.put(b\"k1\", b\"v1\")?;\ndb.put_ttl(b\"k2\", b\"v2\", 60)?;\n\
         db.delete(b\"k1\")?;\nlet mut batch = Batch::new();\nbatch.put(b\"k3\", b\"v3\")?;\n\
         batch.put(b\"k4\", b\"v4\")?;\ndb.write(&batch)?;\ndb.close()?;\n```\n"
    )
    .unwrap();
    writeln!(section, "```text\n{}```\n", dump).unwrap();
    write!(section, "{END}").unwrap();
    section
}

#[test]
fn the_worked_example_in_format_md_is_what_the_library_writes() {
    let fresh = generate();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/FORMAT.md");
    let doc = fs::read_to_string(&path).unwrap();
    let (start, end) = match (doc.find(BEGIN), doc.find(END)) {
        (Some(s), Some(e)) => (s, e + END.len()),
        _ => panic!("docs/FORMAT.md has no generated example between {BEGIN} and {END}"),
    };
    let current = &doc[start..end];
    if std::env::var_os("BITCASK_BLESS").is_some() {
        fs::write(&path, format!("{}{fresh}{}", &doc[..start], &doc[end..])).unwrap();
        return;
    }
    assert!(
        current == fresh,
        "docs/FORMAT.md's worked example differs from what the library writes; regenerate it with \
         `BITCASK_BLESS=1 cargo test --test format_example` and review the diff"
    );
}
