//! Process kills: a child writes and reports each acknowledged write on stdout; the parent kills
//! it with SIGKILL at a random moment, reopens and checks every acknowledged write.
//!
//! Under every sync mode an acknowledged write has reached the OS, so it must survive a process
//! kill (power loss is a different test). Deleted keys must stay deleted.

mod common;

use std::io::{BufRead, BufReader};
use std::time::Duration;

use bitcask::{Bitcask, Options, SyncMode};
use common::{child_role, spawn_child};
use fastrand::Rng;

const TEST: &str = "acknowledged_writes_survive_sigkill_in_every_sync_mode";

fn options(mode: &str) -> Options {
    let mut o = Options::default();
    o.max_file_size(16 << 10).unwrap();
    o.sync(match mode {
        "always" => SyncMode::Always,
        "interval" => SyncMode::Interval(Duration::from_millis(2)),
        _ => SyncMode::None,
    })
    .unwrap();
    o
}

fn value(key: u64, version: u64) -> Vec<u8> {
    let len = (key * 31 + version * 7) % 300;
    let mut v = format!("{key}:{version}:").into_bytes();
    v.resize(v.len() + len as usize, (version % 251) as u8);
    v
}

/// Child: writes forever. Line protocol on stdout (each line prefixed `@@`): `P key version` or `D key` announces an
/// operation before it starts, `OK` acknowledges it once the call returned. So at a kill at most
/// one operation is in flight, and it may or may not have happened.
fn child(role: &str, dir: &std::path::Path) -> ! {
    use std::io::Write;
    let mut parts = role.split(':');
    let (mode, round) = (parts.next().unwrap(), parts.next().unwrap());
    let merge_every: Option<u64> = parts.next().map(|n| n.parse().unwrap());
    let db = Bitcask::open(dir, &options(mode)).unwrap();
    let mut rng = Rng::with_seed(std::process::id() as u64);
    let mut out = std::io::stdout().lock();
    let first_version = round.parse::<u64>().unwrap() * 1_000_000_000 + 1;
    for version in first_version.. {
        if let Some(every) = merge_every
            && version % every == 0
        {
            db.merge().unwrap();
        }
        let key = rng.u64(..200);
        if rng.u64(..5) == 0 {
            writeln!(out, "@@D {key}").unwrap();
            out.flush().unwrap();
            db.delete(&key.to_be_bytes()).unwrap();
        } else {
            writeln!(out, "@@P {key} {version}").unwrap();
            out.flush().unwrap();
            db.put(&key.to_be_bytes(), &value(key, version)).unwrap();
        }
        writeln!(out, "@@OK").unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

type Model = std::collections::HashMap<u64, Option<u64>>;

/// Applies one protocol line; returns the announced-but-unacknowledged operation, if any.
fn apply_line(model: &mut Model, pending: &mut Option<(u64, Option<u64>)>, line: &str) {
    // libtest prints "test <name> ... " without a newline before the child's first line.
    let Some((_, line)) = line.split_once("@@") else {
        return;
    };
    let parts: Vec<&str> = line.split(' ').collect();
    match parts[..] {
        ["P", k, v] => *pending = Some((k.parse().unwrap(), Some(v.parse().unwrap()))),
        ["D", k] => *pending = Some((k.parse().unwrap(), None)),
        ["OK"] => {
            let (k, state) = pending.take().expect("OK without an operation");
            model.insert(k, state);
        }
        _ => {} // test harness chatter
    }
}

#[test]
fn acknowledged_writes_survive_sigkill_in_every_sync_mode() {
    if let Some((role, dir)) = child_role() {
        child(&role, &dir);
    }
    kill_and_check(TEST, &["none", "always", "interval"], None, 12);
}

/// The child merges every few operations, so most kills land inside a merge (copying,
/// committing, publishing or deleting). Afterwards the store must hold exactly the acknowledged
/// data, with no merge leftovers.
#[test]
fn sigkill_during_merges_loses_and_resurrects_nothing() {
    if let Some((role, dir)) = child_role() {
        child(&role, &dir);
    }
    kill_and_check(
        "sigkill_during_merges_loses_and_resurrects_nothing",
        &["none", "always"],
        Some(25),
        15,
    );
}

fn kill_and_check(test: &str, modes: &[&str], merge_every: Option<u64>, default_kills: u64) {
    let kills: u64 = std::env::var("BITCASK_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_kills);
    let mut rng = Rng::with_seed(7);
    for &mode in modes {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        // Last acknowledged state of each key (None = deleted).
        let mut model = Model::default();
        for round in 0..kills {
            let role = match merge_every {
                Some(n) => format!("{mode}:{}:{n}", round + 1),
                None => format!("{mode}:{}", round + 1),
            };
            let mut child = spawn_child(test, &role, dir.path());
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let mut pending = None;
            let stop_after = 20 + rng.u64(..400);
            let mut seen = 0;
            while seen < stop_after {
                let Some(Ok(line)) = lines.next() else { break };
                apply_line(&mut model, &mut pending, &line);
                seen += 1;
            }
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            child.wait().unwrap();
            for line in lines.map_while(Result::ok) {
                apply_line(&mut model, &mut pending, &line);
            }
            let db = Bitcask::open(dir.path(), &options(mode)).unwrap();
            for (&key, &state) in model.iter() {
                let got = db.get(&key.to_be_bytes()).unwrap();
                let acked = state.map(|v| value(key, v));
                let in_flight = match pending {
                    Some((k, s)) if k == key => Some(s.map(|v| value(key, v))),
                    _ => None,
                };
                assert!(
                    got == acked || Some(&got) == in_flight.as_ref(),
                    "mode {mode} round {round}: key {key} is {:?}, acknowledged {:?}",
                    got.as_ref()
                        .map(|v| String::from_utf8_lossy(&v[..v.len().min(24)]).into_owned()),
                    state
                );
            }
            // Adopt whatever the in-flight operation left, so the next round starts exact.
            if let Some((k, _)) = pending {
                let now = db.get(&k.to_be_bytes()).unwrap();
                let state = now.map(|v| {
                    let text = String::from_utf8_lossy(&v).into_owned();
                    text.split(':').nth(1).unwrap().parse().unwrap()
                });
                model.insert(k, state);
            }
            assert_eq!(db.stats().corrupt_records, 0, "mode {mode} round {round}");
            // Exactly the model's live keys: no duplicates, no resurrections.
            let live = model.values().filter(|s| s.is_some()).count();
            assert_eq!(db.len(), live, "mode {mode} round {round}");
            // Closing waits for the background hint writer, so nothing temporary may remain.
            drop(db);
            let leftovers: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.starts_with("merge") || n.starts_with("MERGED") || n.ends_with(".tmp")
                })
                .collect();
            assert!(
                leftovers.is_empty(),
                "mode {mode} round {round}: {leftovers:?}"
            );
        }
    }
}
