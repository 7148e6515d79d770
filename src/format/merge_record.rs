//! The merge commit record (`merge.tmp/COMMIT`, then `MERGED-<merge id>`): which data files a
//! merge replaced by which. Bytes only; what an open does with a record is `log::merge_records`.

/// Subdirectory holding a merge's output until it is committed.
pub(crate) const MERGE_DIR: &str = "merge.tmp";
/// The record's name inside [`MERGE_DIR`] until the outputs are moved in.
pub(crate) const COMMIT_FILE: &str = "COMMIT";
/// The record's name in the store directory once the outputs are in: this, then the merge id.
pub(crate) const MERGED_PREFIX: &str = "MERGED-";

/// Whether `name` is a merge record's name in the store directory: [`MERGED_PREFIX`] and 1 to
/// 10 decimal digits (the merge id; this library writes it unpadded, earlier files may be
/// padded). Anything else is not a record: nothing is done on its word, nor is it deleted.
pub(crate) fn is_record_name(name: &str) -> bool {
    name.strip_prefix(MERGED_PREFIX)
        .is_some_and(|id| (1..=10).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()))
}

/// The commit record: which files a merge replaced by which.
///
/// ```text
/// merge.tmp/COMMIT, then MERGED-<merge id>           version 2 (written since 0.1.x)
///   offset size field
///        0    8 magic        "BCMERGE2"
///        8    4 merge id     u32: names the record; above every input id; the first output's
///                            id when there are outputs. Records are finished in this order.
///       12    4 inputs       u32 n, then n input file ids (u32 each)
///        .    4 outputs      u32 m, then m entries of 12 bytes:
///                              0  4 id       u32, the output file's id
///                              4  8 length   u64, the output data file's length in bytes
///        .    4 crc          crc32 of every byte before it
///
/// version 1 (still read): "BCMERGE1", u32 n, n input ids, u32 m >= 1, m output ids, crc32;
/// the merge id is the first output's id, and output lengths are not recorded.
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Commit {
    pub merge_id: u32,
    pub inputs: Vec<u32>,
    pub outputs: Vec<Output>,
}

/// One output file a commit record names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Output {
    pub id: u32,
    /// The data file's length; `None` in a version-1 record.
    pub len: Option<u64>,
}

const COMMIT_MAGIC_V1: &[u8; 8] = b"BCMERGE1";
const COMMIT_MAGIC: &[u8; 8] = b"BCMERGE2";
/// The largest file id a store uses (`docs/FORMAT.md`, Limits).
const MAX_FILE_ID: u32 = u32::MAX - 1;

impl Commit {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = COMMIT_MAGIC.to_vec();
        b.extend_from_slice(&self.merge_id.to_le_bytes());
        b.extend_from_slice(&(self.inputs.len() as u32).to_le_bytes());
        for id in &self.inputs {
            b.extend_from_slice(&id.to_le_bytes());
        }
        b.extend_from_slice(&(self.outputs.len() as u32).to_le_bytes());
        for o in &self.outputs {
            b.extend_from_slice(&o.id.to_le_bytes());
            b.extend_from_slice(&o.len.unwrap_or(0).to_le_bytes());
        }
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a record of either version. `None` for anything this library did not write: a
    /// bad magic or checksum, a short or overlong record, or ids that no merge would have named
    /// (outputs not above every input, an id out of range or named twice).
    pub fn decode(b: &[u8]) -> Option<Commit> {
        if b.len() < 8 + 4 {
            return None;
        }
        let v2 = match &b[..8] {
            m if m == COMMIT_MAGIC => true,
            m if m == COMMIT_MAGIC_V1 => false,
            _ => return None,
        };
        let (body, crc) = b.split_at(b.len() - 4);
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
            return None;
        }
        let mut pos = 8;
        let u32_at = |pos: &mut usize| -> Option<u32> {
            let v = u32::from_le_bytes(body.get(*pos..*pos + 4)?.try_into().ok()?);
            *pos += 4;
            Some(v)
        };
        let merge_id = if v2 { Some(u32_at(&mut pos)?) } else { None };
        let n = u32_at(&mut pos)? as usize;
        let inputs = (0..n)
            .map(|_| u32_at(&mut pos))
            .collect::<Option<Vec<u32>>>()?;
        let m = u32_at(&mut pos)? as usize;
        let mut outputs = Vec::with_capacity(m.min(body.len() / 4));
        for _ in 0..m {
            let id = u32_at(&mut pos)?;
            let len = if v2 {
                let len = u64::from_le_bytes(body.get(pos..pos + 8)?.try_into().ok()?);
                pos += 8;
                Some(len)
            } else {
                None
            };
            outputs.push(Output { id, len });
        }
        if pos != body.len() {
            return None;
        }
        // A version-1 record is named after its first output, so it always has one.
        let merge_id = merge_id.or_else(|| outputs.first().map(|o| o.id))?;
        let mut named: Vec<u32> = inputs.clone();
        named.extend(outputs.iter().map(|o| o.id));
        let distinct = {
            let mut sorted = named.clone();
            sorted.sort_unstable();
            sorted.windows(2).all(|w| w[0] != w[1])
        };
        let in_range = |id: &u32| (1..=MAX_FILE_ID).contains(id);
        let ordered = inputs.iter().all(|&i| i < merge_id)
            && outputs.iter().all(|o| o.id >= merge_id)
            && in_range(&merge_id);
        (distinct && ordered && named.iter().all(in_range)).then_some(Commit {
            merge_id,
            inputs,
            outputs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(inputs: &[u32], outputs: &[u32]) -> Vec<u8> {
        let mut b = COMMIT_MAGIC_V1.to_vec();
        for list in [inputs, outputs] {
            b.extend_from_slice(&(list.len() as u32).to_le_bytes());
            for id in list {
                b.extend_from_slice(&id.to_le_bytes());
            }
        }
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    #[test]
    fn commit_record_round_trips_and_rejects_damage() {
        let c = Commit {
            merge_id: 9,
            inputs: vec![1, 2, 5],
            outputs: vec![
                Output {
                    id: 9,
                    len: Some(4096),
                },
                Output {
                    id: 10,
                    len: Some(24),
                },
            ],
        };
        let b = c.encode();
        assert_eq!(&b[..8], b"BCMERGE2");
        assert_eq!(b.len(), 8 + 4 + 4 + 3 * 4 + 4 + 2 * 12 + 4);
        assert_eq!(Commit::decode(&b), Some(c));
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 1;
            assert!(Commit::decode(&bad).is_none(), "flip at {i}");
            assert!(Commit::decode(&b[..i]).is_none(), "cut at {i}");
        }
        // A merge that found nothing live has a record without outputs.
        let empty = Commit {
            merge_id: 7,
            inputs: vec![3, 4],
            outputs: vec![],
        };
        assert_eq!(Commit::decode(&empty.encode()), Some(empty));
    }

    #[test]
    fn record_names_are_merged_and_a_decimal_id() {
        assert!(is_record_name("MERGED-7"));
        assert!(is_record_name("MERGED-0000000007"));
        assert!(!is_record_name("MERGED-"));
        assert!(!is_record_name("MERGED-notes.txt"));
        assert!(!is_record_name("MERGED-00000000007"));
        assert!(!is_record_name("merged-7"));
    }

    #[test]
    fn version_1_records_are_read_without_lengths() {
        let d = Commit::decode(&v1(&[1, 2], &[6, 7])).unwrap();
        assert_eq!(d.merge_id, 6);
        assert_eq!(d.inputs, vec![1, 2]);
        assert_eq!(
            d.outputs,
            vec![Output { id: 6, len: None }, Output { id: 7, len: None }]
        );
        // Version 1 names the record after its first output, so it must have one.
        assert!(Commit::decode(&v1(&[1], &[])).is_none());
    }

    #[test]
    fn records_naming_ids_no_merge_would_name_are_refused() {
        let record = |merge_id, inputs: Vec<u32>, outputs: &[u32]| {
            Commit {
                merge_id,
                inputs,
                outputs: outputs
                    .iter()
                    .map(|&id| Output { id, len: Some(24) })
                    .collect(),
            }
            .encode()
        };
        assert!(Commit::decode(&record(5, vec![1, 2], &[5, 6])).is_some());
        // An output that is also an input would be deleted as an input.
        assert!(Commit::decode(&v1(&[1, 6], &[6])).is_none());
        assert!(Commit::decode(&record(5, vec![1, 5], &[5])).is_none());
        // Outputs not above every input, or below the merge id.
        assert!(Commit::decode(&v1(&[1, 7], &[6])).is_none());
        assert!(Commit::decode(&record(5, vec![1], &[4])).is_none());
        // An id named twice, or out of range.
        assert!(Commit::decode(&record(5, vec![1, 1], &[5])).is_none());
        assert!(Commit::decode(&v1(&[0], &[3])).is_none());
        assert!(Commit::decode(&v1(&[1], &[u32::MAX])).is_none());
        assert!(Commit::decode(&record(u32::MAX, vec![1], &[])).is_none());
        // Trailing bytes.
        let mut long = record(5, vec![1], &[5]);
        long.splice(long.len() - 4..long.len() - 4, [0u8; 4]);
        let crc = crc32fast::hash(&long[..long.len() - 4]);
        let n = long.len();
        long[n - 4..].copy_from_slice(&crc.to_le_bytes());
        assert!(Commit::decode(&long).is_none());
    }
}
