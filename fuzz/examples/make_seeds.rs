//! Writes the seed inputs of the fuzz targets into fuzz/corpus/<target>/seed-*:
//! - open_garbage: real small stores (rotated files, hints, tombstones, batches, TTLs, a merge),
//!   each encoded three ways: the files as they are; with the header left to the harness; and
//!   with the checksums left to the harness (see fuzz_targets/open_garbage.rs for the encoding);
//! - api_model: a few deterministic pseudo-random call sequences.
//!
//! Run: `cargo run --manifest-path fuzz/Cargo.toml --example make_seeds` (then `cargo fuzz cmin`).

use std::fs;
use std::path::{Path, PathBuf};

use bitcask::format::{self, FILE_HEADER_LEN};
use bitcask::{Batch, Bitcask, Options};
// Seeded (`Rng::with_seed`), so the seeds are the same on every run.
use fastrand::Rng;

/// The hint footer fields the open_garbage harness fills in when asked to fix checksums: data
/// length (8), tail CRC (4), hint CRC (4).
const HARNESS_FOOTER: usize = 16;

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Builds a store in `dir` the way an application would; `merge` also compacts it.
fn build_store(dir: &Path, seed: u64, merge: bool) {
    let mut rng = Rng::with_seed(seed);
    let mut opts = Options::default();
    opts.max_file_size(256 + rng.u64(..512)).unwrap();
    let db = Bitcask::open(dir, &opts).unwrap();
    for i in 0..12 + rng.u64(..20) {
        let key = format!("k{}", rng.u64(..10));
        let value = vec![b'v' ^ i as u8; rng.usize(..40)];
        match rng.u64(..8) {
            0 => {
                db.delete(key.as_bytes()).unwrap();
            }
            1 => db.put_ttl(key.as_bytes(), &value, 1_000_000).unwrap(),
            2 => {
                let mut batch = Batch::new();
                batch.put(key.as_bytes(), &value).unwrap();
                batch.delete(b"k1").unwrap();
                batch.put(b"k2", b"batched").unwrap();
                db.write(&batch).unwrap();
            }
            _ => db.put(key.as_bytes(), &value).unwrap(),
        }
    }
    if merge {
        db.put(b"after", b"merge").unwrap();
        db.merge().unwrap();
        db.put(b"k3", b"newest").unwrap();
    }
    db.close().unwrap();
}

/// One open_garbage input for the store in `dir`. `mode` 0: files verbatim; 1: header bit set
/// and the header stripped; 2: header and fix bits set, checksums stripped or left stale.
fn encode_store(dir: &Path, mode: u8) -> Vec<u8> {
    let mut out = vec![0u8]; // config: read-write open, default limits
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in names {
        let Some((id, kind)) = format::parse_file_name(&name) else {
            continue;
        };
        // The harness knows ids 1..=8 only.
        if !(1..=8).contains(&id) {
            continue;
        }
        let bytes = fs::read(dir.join(&name)).unwrap();
        let kind_bits = match kind {
            format::FileKind::Data => 0u8,
            format::FileKind::Hint => 1,
        };
        let order_is_id = bytes.len() >= FILE_HEADER_LEN
            && bytes[12..16] == bytes[16..20]
            && u32::from_le_bytes(bytes[12..16].try_into().unwrap()) == id;
        if mode > 0 && !order_is_id && id != 1 {
            // A merged file's order is neither its id nor 1: keep it verbatim.
            push_file(&mut out, kind_bits | ((id as u8 - 1) << 2), &bytes);
            continue;
        }
        let order_bit = if order_is_id { 0 } else { 0x80 };
        let mut tag = kind_bits | ((id as u8 - 1) << 2) | order_bit;
        let mut payload = &bytes[..];
        if mode >= 1 && bytes.len() >= FILE_HEADER_LEN {
            tag |= 0x20;
            payload = &bytes[FILE_HEADER_LEN..];
        }
        let mut owned;
        if mode == 2 {
            tag |= 0x40;
            if kind == format::FileKind::Hint {
                payload = &payload[..payload.len().saturating_sub(HARNESS_FOOTER)];
            } else {
                // Zero every CRC the harness will recompute, so the seed shows it does.
                owned = payload.to_vec();
                let mut pos = 0;
                while let Ok(h) =
                    format::decode_record_header(&owned[pos..], format::RecordLimits::FORMAT)
                {
                    let end = pos + h.record_len() as usize;
                    if end > owned.len() {
                        break;
                    }
                    owned[pos..pos + 4].fill(0);
                    pos = end;
                }
                payload = &owned;
            }
        }
        push_file(&mut out, tag, payload);
    }
    out
}

fn push_file(out: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    assert!(payload.len() <= u16::MAX as usize, "seed files are small");
    out.push(tag);
    out.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    out.extend_from_slice(payload);
}

fn main() {
    let garbage = corpus("open_garbage");
    for seed in 1..=4u64 {
        let dir = tempfile_dir(seed);
        build_store(&dir, seed, seed % 2 == 0);
        for mode in 0..3 {
            let input = encode_store(&dir, mode);
            fs::write(garbage.join(format!("seed-store{seed}-mode{mode}")), input).unwrap();
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    let model = corpus("api_model");
    for seed in 1..=8u64 {
        let mut rng = Rng::with_seed(seed * 7919);
        let mut input = vec![0; 64 + rng.usize(..400)];
        rng.fill(&mut input);
        fs::write(model.join(format!("seed-random{seed}")), input).unwrap();
    }
    println!(
        "seeds written under {}",
        garbage.parent().unwrap().display()
    );
}

fn tempfile_dir(seed: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bitcask-seed-{}-{seed}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}
