//! The crash harness shared by `tests/crash_consistency.rs` (SIGKILL) and `tests/power_loss.rs`
//! (SIGKILL, then everything not fsynced dropped).
//!
//! Parent and child derive the same operation sequence from a seed, so the child only reports
//! which operations were acknowledged (`@@A <op index> ...` on stdout after the call returned).
//! At a kill at most one operation is in flight. Every value encodes (key, round, op index), and
//! all values of one batch carry the batch's op index, so the parent can tell exactly which
//! prefix of the operation sequence the reopened store holds: the check is that the store equals
//! the model after some op `j` with `lo <= j <= hi`, where `hi` is the in-flight op and `lo` the
//! last op the mode's rules say must survive. A half batch, a wrong value, a resurrected delete
//! or a lost acknowledged write all make that impossible.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use bitcask::{Batch, Bitcask, Options, SyncMode};

use crate::common::spawn_child;
use fastrand::Rng;

/// Keys are `k` + a 16-bit number below this: small enough that most puts overwrite.
pub const KEYS: u16 = 150;

#[derive(Clone, Debug)]
pub enum Op {
    Put(u16, usize),
    Delete(u16),
    /// Distinct keys; `None` deletes.
    Batch(Vec<(u16, Option<usize>)>),
    Merge,
}

impl Op {
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Put(..) => "put",
            Op::Delete(_) => "delete",
            Op::Batch(_) => "batch",
            Op::Merge => "merge",
        }
    }
}

pub fn key(k: u16) -> Vec<u8> {
    format!("k{k:05}").into_bytes()
}

/// The value op `op` of round `round` writes for key `k`: self-describing, so a wrong value says
/// where it came from.
pub fn value(k: u16, round: u64, op: u64, len: usize) -> Vec<u8> {
    let mut v = format!("{k}:{round}:{op}:").into_bytes();
    let fill = (k as u64 ^ op ^ round) as u8;
    v.resize(v.len().max(len), fill);
    v
}

/// Operation `n` of the sequence for `seed`; the same in parent and child.
pub struct OpGen(Rng);

impl OpGen {
    pub fn new(seed: u64) -> Self {
        OpGen(Rng::with_seed(seed))
    }

    pub fn next_op(&mut self) -> Op {
        let r = &mut self.0;
        let vlen = |r: &mut Rng| match r.u64(..20) {
            0 => 0,
            1 => 2000 + r.usize(..3000), // spans pages, forces rotations
            _ => r.usize(..300),
        };
        match r.u64(..100) {
            0..=44 => Op::Put(r.u16(..KEYS), vlen(r)),
            45..=59 => Op::Delete(r.u16(..KEYS)),
            // Overwrites of a few hot keys.
            60..=74 => Op::Put(r.u16(..8), vlen(r)),
            75..=96 => {
                let n = 2 + r.usize(..7);
                let mut keys: Vec<u16> = Vec::new();
                while keys.len() < n {
                    let k = r.u16(..KEYS);
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                Op::Batch(
                    keys.into_iter()
                        .map(|k| (k, (r.u64(..4) != 0).then(|| vlen(r))))
                        .collect(),
                )
            }
            _ => Op::Merge,
        }
    }
}

pub fn options(mode: &str) -> Options {
    let mut o = Options::default();
    // Small files: rotations, sealed files with hints and merges with several inputs all happen
    // within a few hundred operations.
    o.max_file_size(8 << 10).unwrap();
    o.sync(match mode {
        "always" => SyncMode::Always,
        "interval" => SyncMode::Interval(Duration::from_millis(3)),
        "none" => SyncMode::None,
        other => panic!("unknown sync mode {other}"),
    })
    .unwrap();
    o
}

/// The child: runs the operation sequence of `seed` forever and reports each acknowledged op
/// as `@@A <index> <active id> <active len> <durable id> <durable len>`.
pub fn child(role: &str, dir: &Path) -> ! {
    let parts: Vec<&str> = role.split(':').collect();
    let (mode, round, seed): (&str, u64, u64) = (
        parts[0],
        parts[1].parse().unwrap(),
        parts[2].parse().unwrap(),
    );
    let db = Bitcask::open(dir, &options(mode)).unwrap();
    let mut ops = OpGen::new(seed);
    let mut out = std::io::stdout().lock();
    let mut batch = Batch::new();
    for n in 0u64.. {
        match ops.next_op() {
            Op::Put(k, len) => db.put(&key(k), &value(k, round, n, len)).unwrap(),
            Op::Delete(k) => {
                db.delete(&key(k)).unwrap();
            }
            Op::Batch(items) => {
                batch.clear();
                for (k, v) in items {
                    match v {
                        Some(len) => batch.put(&key(k), &value(k, round, n, len)).unwrap(),
                        None => batch.delete(&key(k)).unwrap(),
                    }
                }
                db.write(&batch).unwrap();
            }
            Op::Merge => db.merge().unwrap(),
        }
        let (did, dlen) = db.durable_position().unwrap();
        // Where the active file's records end now is where this op's bytes end (a merge or
        // rotation may have started a new file; the file may be longer by reserved space).
        let (aid, alen) = db.append_position().unwrap();
        writeln!(out, "@@A {n} {aid} {alen} {did} {dlen}").unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

pub fn bitcask_data_path(dir: &Path, id: u32) -> std::path::PathBuf {
    dir.join(format!("{id:010}.data"))
}

/// One acknowledgement as the child reported it.
#[derive(Clone, Copy, Debug)]
pub struct Ack {
    pub op: u64,
    /// Where the op's bytes end: (file id, length).
    pub end: (u32, u64),
    /// What was durable once it returned.
    pub durable: (u32, u64),
}

fn parse_ack(line: &str) -> Option<Ack> {
    // libtest prints "test <name> ... " without a newline before the child's first line.
    let (_, line) = line.split_once("@@A ")?;
    let f: Vec<u64> = line.split(' ').map(|s| s.trim().parse().unwrap()).collect();
    Some(Ack {
        op: f[0],
        end: (f[1] as u32, f[2]),
        durable: (f[3] as u32, f[4]),
    })
}

/// The model: the value of every present key.
pub type State = HashMap<u16, Vec<u8>>;

/// What a crash test counts.
#[derive(Default, Debug)]
pub struct Tally {
    pub kills: u64,
    pub acked_ops: u64,
    /// Kills by the kind of the op in flight.
    pub in_flight: BTreeMap<&'static str, u64>,
    /// Kills after which the in-flight op turned out applied.
    pub in_flight_applied: u64,
    /// Power loss: acknowledged ops the reopened store no longer held (allowed outside Always).
    pub ops_lost: u64,
    pub truncated_bytes: u64,
    /// Power loss: active files whose unsynced tail was replaced by zeros.
    pub zeroed_tails: u64,
}

pub struct Harness<'a> {
    pub test: &'a str,
    pub mode: &'a str,
    pub power_loss: bool,
    pub seed: u64,
    pub rng: Rng,
    pub dir: tempfile::TempDir,
    pub state: State,
    pub round: u64,
    pub tally: Tally,
    /// What the last simulated power loss did, for failure messages.
    pub last_cut: String,
}

impl<'a> Harness<'a> {
    pub fn new(test: &'a str, mode: &'a str, power_loss: bool, seed: u64) -> Self {
        Harness {
            test,
            mode,
            power_loss,
            seed,
            rng: Rng::with_seed(seed),
            dir: tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap(),
            state: State::new(),
            round: 0,
            tally: Tally::default(),
            last_cut: String::new(),
        }
    }

    fn fail(&self, what: String) -> ! {
        panic!(
            "{} (mode {}, round {}, seed {}: rerun with BITCASK_CRASH_SEED={}) {}",
            what, self.mode, self.round, self.seed, self.seed, self.last_cut
        )
    }

    /// One round: start a child, kill it at a random moment, (power loss: drop what was not
    /// durable), reopen and check.
    pub fn round(&mut self) {
        self.round += 1;
        let round = self.round;
        let op_seed = self.rng.u64(..);
        let role = format!("{}:{round}:{op_seed}", self.mode);
        let mut child = spawn_child(self.test, &role, self.dir.path());
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Fsyncs make Always ops ~100x slower: aim at a similar time per round.
        let most = if self.mode == "always" { 40 } else { 400 };
        let target = self.rng.u64(..most);
        let mut last: Option<Ack> = None;
        let mut exited = false;
        while last.map_or(0, |a| a.op + 1) < target {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(a) = parse_ack(&line) {
                        last = Some(a);
                    }
                }
                _ => {
                    exited = true;
                    break;
                }
            }
        }
        if exited {
            let status = child.wait().unwrap();
            self.fail(format!(
                "the child stopped on its own ({status}); see its stderr"
            ));
        }
        // Land anywhere inside the next operations, not just after an acknowledgement.
        std::thread::sleep(Duration::from_micros(self.rng.u64(..1500)));
        // SAFETY: kill(2) on our own child's pid, which has not been waited for.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        if status.signal() != Some(libc::SIGKILL) {
            self.fail(format!("the child ended with {status}, not by the kill"));
        }
        let mut acks: Vec<Ack> = Vec::new();
        if let Some(a) = last {
            acks.push(a);
        }
        for line in lines.map_while(Result::ok) {
            if let Some(a) = parse_ack(&line) {
                acks.push(a);
            }
        }
        let last = acks.last().copied();
        // The ops of this round up to the one in flight, with the state before each.
        let acked = last.map_or(0, |a| a.op + 1); // ops 0..acked were acknowledged
        let in_flight = acked; // op `acked` may or may not have happened
        let mut gen_ = OpGen::new(op_seed);
        let ops: Vec<Op> = (0..=in_flight).map(|_| gen_.next_op()).collect();
        self.tally.kills += 1;
        self.tally.acked_ops += acked;
        *self
            .tally
            .in_flight
            .entry(ops[in_flight as usize].kind())
            .or_default() += 1;

        // Lowest op count the reopened store may hold.
        let mut lo = acked;
        self.last_cut.clear();
        if self.power_loss {
            if let Some(last) = last {
                self.drop_unsynced(last.durable);
                // An op survives if its bytes end inside what is durable: in a file sealed since
                // (rotation fsyncs) or before the durable length of the active file.
                let (did, dlen) = last.durable;
                lo = acks
                    .iter()
                    .filter(|a| a.end.0 < did || (a.end.0 == did && a.end.1 <= dlen))
                    .map(|a| a.op + 1)
                    .max()
                    .unwrap_or(0);
                if self.mode == "always" && lo != acked {
                    self.fail(format!(
                        "under Always, op {} was acknowledged but durable_position says only \
                         ops below {lo} were on disk",
                        acked - 1
                    ));
                }
            } else {
                lo = 0;
            }
        }

        let db = Bitcask::open(self.dir.path(), &options(self.mode))
            .unwrap_or_else(|e| self.fail(format!("reopen failed: {e}")));
        let stats = db.stats();
        self.tally.truncated_bytes += stats.truncated_bytes;
        if stats.corrupt_records != 0 {
            self.fail(format!(
                "reopen counted {} damaged records after a crash",
                stats.corrupt_records
            ));
        }
        let found = read_all(&db).unwrap_or_else(|e| self.fail(e));
        let held = self.match_prefix(&found, &ops, round, lo, in_flight + 1);
        if held == in_flight + 1 {
            self.tally.in_flight_applied += 1;
        }
        self.tally.ops_lost += acked.saturating_sub(held);
        self.state = found;
        db.close()
            .unwrap_or_else(|e| self.fail(format!("close failed: {e}")));
        let leftovers: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("merge") || n.starts_with("MERGED") || n.ends_with(".tmp"))
            .collect();
        if !leftovers.is_empty() {
            self.fail(format!(
                "merge or hint leftovers after a clean close: {leftovers:?}"
            ));
        }
    }

    /// Power loss: everything not fsynced is gone. Files the writer created after the report
    /// (a rotation by the op in flight: `order == id` in the header, or no header yet) mean the
    /// reported active file was sealed, which fsyncs it whole; otherwise it is cut back to its
    /// durable length. The file being appended to at the loss gets one of the tails a disk can
    /// leave: cut at the durable length, some of the unsynced bytes kept (a torn record), or the
    /// size kept but the unsynced bytes zero. A header that was never synced may vanish. Merge
    /// outputs were fsynced before they were published, so they stay.
    fn drop_unsynced(&mut self, (did, dlen): (u32, u64)) {
        let dir = self.dir.path();
        let mut created: Vec<u32> = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_suffix(".data")
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let bytes = std::fs::read(&path).unwrap();
            let order = bytes
                .get(16..20)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap()));
            if id > did && order.is_none_or(|o| o == id) {
                created.push(id);
            }
        }
        // Only the newest one can hold unsynced bytes: rotation syncs the file it seals.
        let (id, floor) = match created.iter().max() {
            Some(&id) => (id, 0),
            None => (did, dlen),
        };
        let Ok(f) = std::fs::OpenOptions::new()
            .write(true)
            .open(bitcask_data_path(dir, id))
        else {
            return; // retired by a merge in flight
        };
        use std::os::unix::fs::FileExt;
        let len = f.metadata().unwrap().len();
        let floor = floor.min(len);
        let variant = self.rng.u64(..4);
        self.last_cut = format!(
            "power cut: reported durable ({did}, {dlen}); cut file {id} (len {len}, floor {floor}), \
             variant {variant}, files created since {created:?}"
        );
        match variant {
            0 if floor <= 24 => f.set_len(0).unwrap(),
            1 if len > floor => f.set_len(floor + self.rng.u64(..len - floor + 1)).unwrap(),
            // Zeros past a header only: a zeroed header is a damaged file, not a torn one.
            2 if len > floor.max(24) => {
                let floor = floor.max(24);
                let from = floor + self.rng.u64(..len - floor);
                f.write_all_at(&vec![0; (len - from) as usize], from)
                    .unwrap();
                self.tally.zeroed_tails += 1;
            }
            _ => f.set_len(floor).unwrap(),
        }
    }

    /// Returns the `j` in `lo..=hi` such that `found` equals the state after the first `j` ops
    /// of this round (the highest such `j`), or fails with the difference.
    fn match_prefix(&self, found: &State, ops: &[Op], round: u64, lo: u64, hi: u64) -> u64 {
        let mut model = self.state.clone();
        let mut undo: Vec<Vec<(u16, Option<Vec<u8>>)>> = Vec::new();
        for (n, op) in ops.iter().enumerate().take(hi as usize) {
            let mut changes: Vec<(u16, Option<Vec<u8>>)> = Vec::new();
            let n = n as u64;
            match op {
                Op::Put(k, len) => changes.push((*k, Some(value(*k, round, n, *len)))),
                Op::Delete(k) => changes.push((*k, None)),
                Op::Batch(items) => {
                    for (k, v) in items {
                        changes.push((*k, v.map(|len| value(*k, round, n, len))));
                    }
                }
                Op::Merge => {}
            }
            let mut old = Vec::new();
            for (k, v) in changes {
                let prev = match v {
                    Some(v) => model.insert(k, v),
                    None => model.remove(&k),
                };
                old.push((k, prev));
            }
            undo.push(old);
        }
        let differs = |model: &State, k: u16| model.get(&k) != found.get(&k);
        let mut mismatched: usize = (0..KEYS).filter(|&k| differs(&model, k)).count();
        let mut j = hi;
        loop {
            if mismatched == 0 {
                return j;
            }
            if j == lo {
                break;
            }
            j -= 1;
            for (k, prev) in undo[j as usize].iter().rev() {
                let before = differs(&model, *k);
                match prev {
                    Some(v) => model.insert(*k, v.clone()),
                    None => model.remove(k),
                };
                let after = differs(&model, *k);
                mismatched = mismatched + after as usize - before as usize;
            }
        }
        // `model` is now the state after `lo` ops: show how the store differs from it.
        let show = |v: Option<&Vec<u8>>| {
            v.map(|v| String::from_utf8_lossy(&v[..v.len().min(20)]).into_owned())
        };
        let diffs: Vec<String> = (0..KEYS)
            .filter(|&k| differs(&model, k))
            .take(8)
            .map(|k| {
                format!(
                    "key {k}: store {:?}, expected {:?}",
                    show(found.get(&k)),
                    show(model.get(&k))
                )
            })
            .collect();
        self.fail(format!(
            "the reopened store is not the state after any op count in {lo}..={hi} (ops in \
             flight: {:?}); against {lo} ops: {diffs:?}",
            ops.last().map(Op::kind)
        ))
    }
}

/// Everything the store holds, read through the iterator and cross-checked with `get`; fails on
/// a key outside the test's key space or any error.
pub fn read_all(db: &Bitcask) -> Result<State, String> {
    let mut found = State::new();
    for item in db.iter() {
        let (k, v) = item.map_err(|e| format!("iterator failed: {e}"))?;
        let n = std::str::from_utf8(&k)
            .ok()
            .and_then(|s| s.strip_prefix('k'))
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|&n| n < KEYS && key(n) == k)
            .ok_or_else(|| format!("a key that was never written: {k:?}"))?;
        found.insert(n, v);
    }
    for k in 0..KEYS {
        let got = db
            .get(&key(k))
            .map_err(|e| format!("get of key {k} failed: {e}"))?;
        if got.as_ref() != found.get(&k) {
            return Err(format!("get and the iterator disagree on key {k}"));
        }
    }
    if db.len() != found.len() {
        return Err(format!(
            "len() says {} keys, the iterator found {}",
            db.len(),
            found.len()
        ));
    }
    Ok(found)
}

/// The run's seed: `BITCASK_CRASH_SEED` or a fresh one (printed, so a failure can be rerun).
pub fn seed() -> u64 {
    let seed = crate::common::seed_from_env("BITCASK_CRASH_SEED");
    eprintln!("crash harness seed: {seed} (BITCASK_CRASH_SEED={seed} reruns it)");
    seed
}

/// Runs `rounds` kills per mode, or with `BITCASK_CRASH_SECS` set, rounds across the modes for
/// that many seconds. Returns the tallies per mode.
pub fn run(test: &str, modes: &[&str], power_loss: bool, rounds: u64) -> Vec<(String, Tally)> {
    let seed = seed();
    let long: Option<Duration> = std::env::var("BITCASK_CRASH_SECS")
        .ok()
        .map(|s| Duration::from_secs(s.parse().expect("BITCASK_CRASH_SECS is a number")));
    let mut harnesses: Vec<Harness> = modes
        .iter()
        .enumerate()
        .map(|(i, m)| Harness::new(test, m, power_loss, seed.wrapping_add(i as u64)))
        .collect();
    let start = Instant::now();
    match long {
        Some(limit) => {
            while start.elapsed() < limit {
                for h in &mut harnesses {
                    h.round();
                    // Start afresh now and then so stores stay small.
                    if h.round % 500 == 0 {
                        h.dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
                        h.state.clear();
                    }
                }
            }
        }
        None => {
            for h in &mut harnesses {
                for _ in 0..rounds {
                    h.round();
                }
            }
        }
    }
    let mut out = Vec::new();
    for h in harnesses {
        eprintln!(
            "{test} mode {}: {} kills in {:.1?} total, {:?}",
            h.mode,
            h.tally.kills,
            start.elapsed(),
            h.tally
        );
        out.push((h.mode.to_string(), h.tally));
    }
    out
}
