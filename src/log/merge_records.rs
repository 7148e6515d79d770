//! What an open does with merge records: finish a merge whose outputs are all in place, keep
//! (and report) one whose outputs are not, discard uncommitted output. The rules are in
//! `docs/FORMAT.md`, "Merge files".

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::merge_record::{
    COMMIT_FILE, Commit, MERGE_DIR, MERGED_PREFIX, Output, is_record_name,
};
use crate::format::{self, FILE_HEADER_LEN, FileHeader, FileKind};
use crate::io::fs::sync_dir;
use crate::log::hint;

/// A merge whose record names outputs that are not all in place (missing, cut short, with a
/// damaged header, or disagreeing with their hint). Nothing it names is deleted: its inputs
/// stay and are served, and its record stays, keeping its file ids from being reused, until a
/// later merge rewrites every file it names that still exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncompleteMerge {
    /// The record (`MERGED-<id>` in the store directory, or `merge.tmp/COMMIT`).
    pub record: PathBuf,
    /// The input and output data file ids the record names.
    pub inputs: Vec<u32>,
    pub outputs: Vec<u32>,
    /// Why the outputs are not in place (the first problem found), e.g.
    /// `0000000002.data is missing`.
    pub reason: String,
}

impl IncompleteMerge {
    pub(crate) fn named(&self) -> impl Iterator<Item = u32> + '_ {
        self.inputs.iter().chain(&self.outputs).copied()
    }

    /// What happened and what the store does about it, without the record's name.
    pub fn describe(&self) -> String {
        let list = |ids: &[u32]| {
            ids.iter()
                .map(|id| id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "merge of files [{}] into [{}] did not finish: {}; every file is kept and served, \
             and a merge rewrites them and retires this record",
            list(&self.inputs),
            list(&self.outputs),
            self.reason
        )
    }
}

impl std::fmt::Display for IncompleteMerge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.record.file_name().map_or_else(
            || self.record.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        write!(f, "{name}: {}", self.describe())
    }
}

/// What the merge records of a store directory say, judged against the files present.
#[derive(Default)]
pub(crate) struct MergeRecords {
    /// Records whose every output is in place, in merge order: their inputs are dead.
    complete: Vec<(PathBuf, Commit)>,
    /// Records whose outputs are not all in place.
    pub incomplete: Vec<IncompleteMerge>,
    /// Incomplete records with nothing left to protect: every data file they name that still
    /// exists is an input of a later complete merge (which will delete it).
    superseded: Vec<PathBuf>,
    /// Files named like a record that do not decode as one: nothing is done on their word.
    damaged: Vec<PathBuf>,
    /// `merge.tmp/` exists without a valid `COMMIT`.
    uncommitted_output: bool,
    /// `merge.tmp/COMMIT` is valid and its outputs are in place, some still in `merge.tmp/`:
    /// the next read-write open moves them in and finishes the merge. Until then the inputs are
    /// what is replayed.
    committed_in_tmp: bool,
}

impl MergeRecords {
    /// One line per record that a read-write open will act on (finish, or remove as moot or
    /// damaged), and for uncommitted output it will discard.
    pub fn describe_pending(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let name = |p: &Path| {
            let parent = p
                .parent()
                .and_then(|d| d.file_name())
                .filter(|d| *d == MERGE_DIR);
            let file = p
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            match parent {
                Some(_) => format!("{MERGE_DIR}/{file}"),
                None => file.into_owned(),
            }
        };
        for (path, c) in &self.complete {
            notes.push(format!(
                "{}: a merge finished writing files {:?}; the next read-write open deletes its \
                 inputs {:?}, which are no longer replayed",
                name(path),
                c.outputs.iter().map(|o| o.id).collect::<Vec<_>>(),
                c.inputs
            ));
        }
        for path in &self.superseded {
            notes.push(format!(
                "{}: an unfinished merge that a later merge replaced; the next read-write open \
                 removes the record",
                name(path)
            ));
        }
        for path in &self.damaged {
            notes.push(format!(
                "{}: not a valid merge record (damaged, or not written by this library); nothing is \
                 deleted on its word, and the next read-write open removes it",
                name(path)
            ));
        }
        if self.committed_in_tmp {
            notes.push(format!(
                "{MERGE_DIR}/{COMMIT_FILE}: a merge committed but its outputs are not yet moved \
                 into the store (interrupted, or running now); the next read-write open finishes it"
            ));
        }
        if self.uncommitted_output {
            notes.push(format!(
                "{MERGE_DIR}/: output of a merge that never committed (interrupted, or running \
                 now); the next read-write open deletes it"
            ));
        }
        notes
    }

    /// Data files that are inputs of a complete merge: a read-only open does not replay them,
    /// as a read-write open (which deletes them) would not.
    pub fn dead_inputs(&self) -> std::collections::BTreeSet<u32> {
        self.complete
            .iter()
            .flat_map(|(_, c)| c.inputs.iter().copied())
            .collect()
    }

    /// One above the largest file id a kept record names: ids the store must not reuse, since a
    /// new file under a missing output's id would make the record look complete.
    pub fn reserved_next_id(&self) -> u32 {
        self.incomplete
            .iter()
            .flat_map(|m| m.named())
            .max()
            .map_or(0, |id| id.saturating_add(1))
    }
}

/// Reads the merge records of `dir` (the `MERGED-` records, and `merge.tmp/COMMIT` when it is
/// valid) and judges each against the files present. Changes nothing.
pub(crate) fn inspect(dir: &Path) -> Result<MergeRecords> {
    let io = |op, path: &Path, e| Error::io(op, path.to_path_buf(), e);
    let mut found: Vec<(PathBuf, Commit)> = Vec::new();
    let mut out = MergeRecords::default();
    let read = |path: &Path| match fs::read(path) {
        Ok(bytes) => Ok(Some(Commit::decode(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read merge record", path, e)),
    };
    let tmp = dir.join(MERGE_DIR);
    let tmp_commit = tmp.join(COMMIT_FILE);
    match read(&tmp_commit)? {
        Some(Some(c)) => {
            let where_is = |o: &Output| {
                if format::data_path(&tmp, o.id).exists() {
                    &tmp
                } else {
                    dir
                }
            };
            let some_in_tmp = c.outputs.iter().any(|o| *where_is(o) == tmp);
            let in_place = c
                .outputs
                .iter()
                .all(|o| matches!(output_problem(where_is(o), o), Ok(None)));
            if some_in_tmp && in_place {
                out.committed_in_tmp = true;
            } else {
                found.push((tmp_commit, c));
            }
        }
        // An unreadable COMMIT is an uncommitted merge, not a damaged record.
        _ => out.uncommitted_output = tmp.exists(),
    }
    let entries = fs::read_dir(dir).map_err(|e| io("list store directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io("list store directory", dir, e))?;
        if !entry.file_name().to_str().is_some_and(is_record_name) {
            continue;
        }
        let path = entry.path();
        match read(&path)? {
            Some(Some(c)) => found.push((path, c)),
            Some(None) => out.damaged.push(path),
            None => {}
        }
    }
    // Older merges first: a later merge may have taken an earlier one's outputs as inputs.
    found.sort_by_key(|(_, c)| c.merge_id);
    let mut pending: Vec<(u32, IncompleteMerge)> = Vec::new();
    for (path, commit) in found {
        match commit
            .outputs
            .iter()
            .find_map(|o| output_problem(dir, o).transpose())
            .transpose()
            .map_err(|e| io("check merge output", &path, e))?
        {
            None => out.complete.push((path, commit)),
            Some(reason) => pending.push((
                commit.merge_id,
                IncompleteMerge {
                    record: path,
                    inputs: commit.inputs,
                    outputs: commit.outputs.iter().map(|o| o.id).collect(),
                    reason,
                },
            )),
        }
    }
    let dead = out.dead_inputs();
    for (merge_id, m) in pending {
        let later_complete = out.complete.iter().any(|(_, c)| c.merge_id > merge_id);
        let protects_nothing = m
            .named()
            .all(|id| dead.contains(&id) || !format::data_path(dir, id).exists());
        if later_complete && protects_nothing {
            out.superseded.push(m.record);
        } else {
            out.incomplete.push(m);
        }
    }
    Ok(out)
}

/// Why output `o` of a merge is not in place in `dir`; `None` when its data file is there with
/// an intact header naming it, the length the record gives (a version-1 record gives none: then
/// the hint, which records it, must be there), and a hint, if it has one, that matches it.
fn output_problem(dir: &Path, o: &Output) -> std::io::Result<Option<String>> {
    use std::os::unix::fs::FileExt;
    let path = format::data_path(dir, o.id);
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into());
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Some(format!("{name} is missing")));
        }
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let mut head = [0u8; FILE_HEADER_LEN];
    let got = file.read_at(&mut head, 0)?;
    let header = match FileHeader::decode(&head[..got], FileKind::Data) {
        Ok(h) if h.file_id == o.id => h,
        Ok(h) => {
            return Ok(Some(format!(
                "{name}'s header names file {}, not {}",
                h.file_id, o.id
            )));
        }
        Err(why) => return Ok(Some(format!("{name} has a damaged header ({why})"))),
    };
    if let Some(want) = o.len
        && len != want
    {
        return Ok(Some(format!(
            "{name} is {len} bytes; the merge wrote {want}"
        )));
    }
    let hint = format::hint_path(dir, o.id);
    if hint.exists() {
        if hint::load(dir, o.id, header.order, len, &mut |_| {}).is_none() {
            return Ok(Some(format!(
                "{name}'s hint does not match it (the hint is damaged, or the data file is not \
                 the one the merge wrote)"
            )));
        }
    } else if o.len.is_none() {
        return Ok(Some(format!(
            "{name}'s hint is missing, and the version-1 merge record gives no length to check \
             the file against"
        )));
    }
    Ok(None)
}

/// At a read-write open, before replay: finish committed merges whose outputs are all in place,
/// discard uncommitted output and half-written hints, and keep (and report) every merge whose
/// outputs are not all in place. Returns what is left: the incomplete merges.
pub(crate) fn recover(dir: &Path) -> Result<MergeRecords> {
    let tmp = dir.join(MERGE_DIR);
    let io = |op, path: &Path, e| Error::io(op, path.to_path_buf(), e);
    if let Ok(bytes) = fs::read(tmp.join(COMMIT_FILE))
        && let Some(commit) = Commit::decode(&bytes)
    {
        // Committed but not fully moved in: finish the move. Whether the outputs are all in
        // place is judged below, with every other record.
        for o in &commit.outputs {
            for (from, to) in [
                (format::data_path(&tmp, o.id), format::data_path(dir, o.id)),
                (format::hint_path(&tmp, o.id), format::hint_path(dir, o.id)),
            ] {
                if from.exists() {
                    fs::rename(&from, &to).map_err(|e| io("finish merge", &from, e))?;
                }
            }
        }
        // The outputs' new names must be durable before the record that says to delete the
        // inputs: a file system may persist renames out of order.
        sync_dir(dir)?;
        let marker = dir.join(format!("{MERGED_PREFIX}{}", commit.merge_id));
        fs::rename(tmp.join(COMMIT_FILE), &marker).map_err(|e| io("finish merge", &marker, e))?;
        sync_dir(dir)?;
    }
    // What is left in merge.tmp was never committed: the inputs hold all of it.
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| io("remove unfinished merge output", &tmp, e))?;
    }
    let entries = fs::read_dir(dir).map_err(|e| io("list store directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io("list store directory", dir, e))?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(format::is_hint_tmp_name)
        {
            // A hint whose writer was killed; hints are rewritten on demand.
            let path = entry.path();
            fs::remove_file(&path).map_err(|e| io("remove unfinished hint", &path, e))?;
        }
    }

    let mut records = inspect(dir)?;
    // A record that does not decode cannot say what to delete, and one with nothing left to
    // protect is replaced by the later merge that rewrote its files: neither needs keeping.
    for path in records
        .damaged
        .drain(..)
        .chain(records.superseded.drain(..))
    {
        remove_if_present(&path).map_err(|e| io("remove merge record", &path, e))?;
    }
    sync_dir(dir)?;
    for (marker, commit) in std::mem::take(&mut records.complete) {
        delete_files(dir, &commit.inputs)?;
        // The deletions must be durable before the record of what to delete goes.
        sync_dir(dir)?;
        remove_if_present(&marker).map_err(|e| io("remove merge record", &marker, e))?;
    }
    sync_dir(dir)?;
    Ok(records)
}

pub(crate) fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

pub(crate) fn delete_files(dir: &Path, ids: &[u32]) -> Result<()> {
    for &id in ids {
        for path in [format::hint_path(dir, id), format::data_path(dir, id)] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("delete merged file", path, e)),
            }
        }
    }
    Ok(())
}
