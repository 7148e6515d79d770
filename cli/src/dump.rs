//! `dump` and `load`: every live pair to and from a portable binary stream (`docs/CLI.md` has the
//! format byte by byte). Binary framing rather than JSON Lines: keys and values are arbitrary
//! bytes, and a length-prefixed frame carries them without base64's 33% growth or a parser.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::ops::ControlFlow;

use crate::args::{Parsed, Spec, flag, val};
use crate::progress::Progress;
use crate::{CmdResult, Fail, dir_arg, open_read_only, open_writable};
use bitcask::SyncMode;

/// "\x89BCX\r\n\x1a\n": the data files' magic with X (export) for D; same reasons for each byte.
pub const MAGIC: [u8; 8] = *b"\x89BCX\r\n\x1a\n";
pub const VERSION: u16 = 1;
const HEADER_LEN: usize = 16;
const TAG_PAIR: u8 = 1;
const TAG_END: u8 = 2;
/// The format's own limits (a store may be configured lower; `load` reports what it refuses).
const MAX_KEY: u32 = 1 << 20;
const MAX_VALUE: u32 = 3 << 30;

pub static DUMP: Spec = Spec {
    name: "dump",
    about: "Write every live key and value to a portable binary stream (format: docs/CLI.md). \
            Opens the store read-only.",
    positionals: &[("DIR", true)],
    options: &[
        val("output", "FILE", "write to FILE instead of stdout"),
        flag("quiet", "no progress output"),
    ],
    notes: "Pairs come in log order (the order a sequential read of the files gives). Expiry times are\n\
            not carried: a loaded key does not expire. Refuses to write binary to a terminal.",
    examples: &[
        "bitcask dump /var/lib/store --output store.bcx",
        "bitcask dump /var/lib/store | ssh backup 'cat > store.bcx'",
        "bitcask dump old-store | bitcask load new-store",
    ],
};

pub static LOAD: Spec = Spec {
    name: "load",
    about: "Put every pair of a dump stream into the store (created if missing); later pairs win.",
    positionals: &[("DIR", true)],
    options: &[
        val("input", "FILE", "read from FILE instead of stdin"),
        flag("quiet", "no progress output"),
    ],
    notes: "Every frame's checksum is checked before its pair is written. A damaged or cut-off stream\n\
            stops the load with exit status 1 after the pairs before the damage (the message says\n\
            how many); the store is fsynced either way.",
    examples: &[
        "bitcask load /var/lib/new-store --input store.bcx",
        "bitcask dump old-store | bitcask load new-store",
    ],
};

pub fn stream_header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    // 10..12: flags, zero.
    let crc = crc32(&h[..12]);
    h[12..].copy_from_slice(&crc.to_le_bytes());
    h
}

fn crc32(b: &[u8]) -> u32 {
    crc32fast::hash(b)
}

/// CRC-32/ISO-HDLC (zlib's), the checksum the store's files use too.
struct Crc(crc32fast::Hasher);

impl Crc {
    fn new() -> Self {
        Crc(crc32fast::Hasher::new())
    }
    fn update(&mut self, b: &[u8]) {
        self.0.update(b);
    }
    fn finish(&self) -> u32 {
        self.0.clone().finalize()
    }
}

pub fn cmd_dump(_: &Spec, p: &Parsed) -> CmdResult {
    let to_file = p.value("output");
    if to_file.is_none() && unsafe { libc::isatty(1) } == 1 {
        return Err(Fail::Usage(
            "stdout is a terminal: redirect it or use --output FILE".into(),
        ));
    }
    let db = open_read_only(&dir_arg(p))?;
    let sink: Box<dyn Write> = match to_file {
        Some(path) => Box::new(
            File::create(path)
                .map_err(|e| Fail::Error(format!("create '{}': {e}", path.to_string_lossy())))?,
        ),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 20, sink);
    let mut progress = Progress::new("dump", !p.flag("quiet"));
    out.write_all(&stream_header())?;
    let mut pairs: u64 = 0;
    let mut bytes: u64 = HEADER_LEN as u64;
    let mut write_err = None;
    let mut frame_head = [0u8; 9];
    let _stopped = db.fold(|k, v| {
        frame_head[0] = TAG_PAIR;
        frame_head[1..5].copy_from_slice(&(k.len() as u32).to_le_bytes());
        frame_head[5..9].copy_from_slice(&(v.len() as u32).to_le_bytes());
        let mut crc = Crc::new();
        crc.update(&frame_head);
        crc.update(k);
        crc.update(v);
        let r = out
            .write_all(&frame_head)
            .and_then(|()| out.write_all(k))
            .and_then(|()| out.write_all(v))
            .and_then(|()| out.write_all(&crc.finish().to_le_bytes()));
        if let Err(e) = r {
            write_err = Some(e);
            return ControlFlow::Break(());
        }
        pairs += 1;
        bytes += 13 + k.len() as u64 + v.len() as u64;
        progress.count(pairs, bytes, "pairs");
        ControlFlow::Continue(())
    })?;
    if let Some(e) = write_err {
        return Err(Fail::Error(format!("write dump: {e}")));
    }
    let mut end = [0u8; 13];
    end[0] = TAG_END;
    end[1..9].copy_from_slice(&pairs.to_le_bytes());
    let crc = crc32(&end[..9]);
    end[9..].copy_from_slice(&crc.to_le_bytes());
    bytes += end.len() as u64;
    out.write_all(&end)
        .and_then(|()| out.flush())
        .map_err(|e| Fail::Error(format!("write dump: {e}")))?;
    if let Some(path) = to_file {
        // A dump file that says it is complete should be on disk.
        out.into_inner()
            .map_err(|e| Fail::Error(format!("write dump: {}", e.error())))?;
        File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(|e| Fail::Error(format!("sync '{}': {e}", path.to_string_lossy())))?;
    }
    progress.finish();
    if !p.flag("quiet") {
        eprintln!("dump: {pairs} pairs, {bytes} bytes");
    }
    Ok(())
}

pub fn cmd_load(_: &Spec, p: &Parsed) -> CmdResult {
    let source: Box<dyn Read> = match p.value("input") {
        Some(path) => Box::new(
            File::open(path)
                .map_err(|e| Fail::Error(format!("open '{}': {e}", path.to_string_lossy())))?,
        ),
        None => Box::new(io::stdin().lock()),
    };
    let mut input = BufReader::with_capacity(1 << 20, source);
    let db = open_writable(&dir_arg(p), true, SyncMode::None)?;
    let mut progress = Progress::new("load", !p.flag("quiet"));
    let result = read_stream(&mut input, &mut |k, v, pairs, bytes| {
        db.put(k, v)
            .map_err(|e| format!("pair {} (key of {} bytes): {e}", pairs + 1, k.len()))?;
        progress.count(pairs + 1, bytes, "pairs");
        Ok(())
    });
    progress.finish();
    // Whatever was loaded is made durable, also when the stream turned out to be damaged.
    db.close()?;
    match result {
        Ok((pairs, bytes)) => {
            if !p.flag("quiet") {
                eprintln!("load: {pairs} pairs, {bytes} bytes");
            }
            Ok(())
        }
        Err((pairs, msg)) => Err(Fail::Error(format!(
            "load stopped after {pairs} pairs: {msg}"
        ))),
    }
}

type Sink<'a> = dyn FnMut(&[u8], &[u8], u64, u64) -> Result<(), String> + 'a;

/// Reads a whole stream, calling `sink(key, value, pairs before, stream bytes so far)` for each
/// pair. Ok((pairs, bytes)) at a valid end frame; Err((pairs applied, why)) otherwise.
fn read_stream(input: &mut dyn Read, sink: &mut Sink<'_>) -> Result<(u64, u64), (u64, String)> {
    let mut pairs: u64 = 0;
    let mut header = [0u8; HEADER_LEN];
    read_full(input, &mut header, "stream header").map_err(|e| (0, e))?;
    if header[..8] != MAGIC {
        return Err((0, "not a bitcask dump stream (bad magic bytes)".into()));
    }
    if crc32(&header[..12]) != u32::from_le_bytes(header[12..16].try_into().unwrap()) {
        return Err((0, "stream header checksum mismatch".into()));
    }
    let version = u16::from_le_bytes([header[8], header[9]]);
    if version != VERSION {
        return Err((
            0,
            format!("dump format version {version} is not supported (this tool reads {VERSION})"),
        ));
    }
    if header[10..12] != [0, 0] {
        return Err((0, "unknown stream header flags".into()));
    }
    let mut offset = HEADER_LEN as u64;
    let mut key = Vec::new();
    let mut value = Vec::new();
    loop {
        let mut tag = [0u8; 1];
        read_full(input, &mut tag, "frame")
            .map_err(|e| (pairs, format!("at offset {offset}: {e}")))?;
        match tag[0] {
            TAG_PAIR => {
                let mut lens = [0u8; 8];
                read_full(input, &mut lens, "frame lengths")
                    .map_err(|e| (pairs, format!("at offset {offset}: {e}")))?;
                let klen = u32::from_le_bytes(lens[..4].try_into().unwrap());
                let vlen = u32::from_le_bytes(lens[4..].try_into().unwrap());
                if klen == 0 || klen > MAX_KEY || vlen > MAX_VALUE {
                    return Err((
                        pairs,
                        format!(
                            "at offset {offset}: frame claims key {klen} / value {vlen} bytes, outside the format's limits"
                        ),
                    ));
                }
                key.resize(klen as usize, 0);
                value.resize(vlen as usize, 0);
                read_full(input, &mut key, "key")
                    .map_err(|e| (pairs, format!("at offset {offset}: {e}")))?;
                read_full(input, &mut value, "value")
                    .map_err(|e| (pairs, format!("at offset {offset}: {e}")))?;
                let mut stored = [0u8; 4];
                read_full(input, &mut stored, "frame checksum")
                    .map_err(|e| (pairs, format!("at offset {offset}: {e}")))?;
                let mut crc = Crc::new();
                crc.update(&tag);
                crc.update(&lens);
                crc.update(&key);
                crc.update(&value);
                if crc.finish() != u32::from_le_bytes(stored) {
                    return Err((
                        pairs,
                        format!("at offset {offset}: frame checksum mismatch"),
                    ));
                }
                offset += 13 + klen as u64 + vlen as u64;
                sink(&key, &value, pairs, offset).map_err(|e| (pairs, e))?;
                pairs += 1;
            }
            TAG_END => {
                let mut rest = [0u8; 12];
                read_full(input, &mut rest, "end frame")
                    .map_err(|e| (pairs, format!("at offset {offset}: {e}")))?;
                let mut crc = Crc::new();
                crc.update(&tag);
                crc.update(&rest[..8]);
                if crc.finish() != u32::from_le_bytes(rest[8..].try_into().unwrap()) {
                    return Err((
                        pairs,
                        format!("at offset {offset}: end frame checksum mismatch"),
                    ));
                }
                let count = u64::from_le_bytes(rest[..8].try_into().unwrap());
                if count != pairs {
                    return Err((
                        pairs,
                        format!("end frame counts {count} pairs, the stream held {pairs}"),
                    ));
                }
                offset += 13;
                let mut extra = [0u8; 1];
                match input.read(&mut extra) {
                    Ok(0) => return Ok((pairs, offset)),
                    Ok(_) => {
                        return Err((
                            pairs,
                            format!("bytes after the end frame at offset {offset}"),
                        ));
                    }
                    Err(e) => return Err((pairs, format!("read: {e}"))),
                }
            }
            t => {
                return Err((pairs, format!("at offset {offset}: unknown frame tag {t}")));
            }
        }
    }
}

fn read_full(input: &mut dyn Read, buf: &mut [u8], what: &str) -> Result<(), String> {
    input.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            format!("stream ends inside a {what} (cut off?)")
        } else {
            format!("read {what}: {e}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_zlib_crc32() {
        // The check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn header_bytes_are_as_documented() {
        let h = stream_header();
        assert_eq!(&h[..8], b"\x89BCX\r\n\x1a\n");
        assert_eq!(&h[8..12], &[1, 0, 0, 0]);
        let doc = include_str!("../../docs/CLI.md");
        let hex: Vec<String> = h.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            doc.contains(&hex.join(" ")),
            "docs/CLI.md must show the header {}",
            hex.join(" ")
        );
    }
}
