//! The `bitcask` binary against real stores: every subcommand, bad arguments, damaged stores,
//! dump/load round trips, read-only use beside a writer, and bench's JSON.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use bitcask::{Bitcask, Options};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bitcask"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run bitcask")
}

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A load that stops at damage may exit before reading everything.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: Output) -> Output {
    assert_eq!(
        code(&o),
        0,
        "stdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    o
}

/// A failed operation: exit 1 and exactly one line `bitcask: ...` on stderr.
#[track_caller]
fn failed(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(code(o), 1, "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("bitcask: "), "{err}");
    assert!(err.contains(needle), "{err} should mention {needle}");
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn small_files() -> Options {
    let mut o = Options::default();
    o.max_file_size(4096).unwrap();
    o
}

/// 24-byte file header + records of 16-byte keys and 100-byte values: 127 bytes each.
const REC: u64 = 127;
const HDR: u64 = 24;

fn key(i: u32) -> Vec<u8> {
    format!("key-{i:012}").into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    vec![b'a' + (i % 26) as u8; 100]
}

#[test]
fn put_get_delete_keys_scan_with_binary_data() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s");
    let s = p(&s);
    // The store must exist for put unless --create.
    failed(&run(&["put", s, "a", "1"]), "No such file");
    ok(run(&["put", s, "a", "1", "--create"]));
    ok(run(&["put", s, "b", "two"]));
    ok(run_stdin(&["put", s, "bin", "--stdin"], b"x\0y\n"));
    ok(run_stdin(&["put", s, "dash", "-"], b"from stdin"));
    ok(run(&[
        "put",
        s,
        "00ff0a",
        "--key-hex",
        "ff00",
        "--value-hex",
    ]));
    let file = dir.path().join("v");
    fs::write(&file, [0u8, 1, 2, 255]).unwrap();
    ok(run(&["put", s, "f", "--file", p(&file)]));
    ok(run(&["put", s, "empty", ""]));

    assert_eq!(ok(run(&["get", s, "a"])).stdout, b"1");
    assert_eq!(ok(run(&["get", s, "bin"])).stdout, b"x\0y\n");
    assert_eq!(ok(run(&["get", s, "bin", "--raw"])).stdout, b"x\0y\n");
    assert_eq!(ok(run(&["get", s, "dash"])).stdout, b"from stdin");
    assert_eq!(ok(run(&["get", s, "f", "--hex"])).stdout, b"000102ff\n");
    assert_eq!(
        ok(run(&["get", s, "00ff0a", "--key-hex"])).stdout,
        [0xff, 0]
    );
    assert_eq!(ok(run(&["get", s, "empty"])).stdout, b"");

    // Absent key: exit 3, nothing on stdout.
    let o = run(&["get", s, "nope"]);
    assert_eq!(code(&o), 3);
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("key not found"));

    let keys = ok(run(&["keys", s]));
    assert_eq!(stdout(&keys), "\\x00\\xff\\n\na\nb\nbin\ndash\nempty\nf\n");
    let keys = ok(run(&["keys", s, "--hex", "--prefix", "b"]));
    assert_eq!(stdout(&keys), "62\n62696e\n");
    let keys = ok(run(&["keys", s, "--prefix", "00", "--prefix-hex"]));
    assert_eq!(stdout(&keys), "\\x00\\xff\\n\n");
    assert_eq!(stdout(&ok(run(&["keys", s, "--count"]))), "7\n");

    let scan = ok(run(&["scan", s, "--start", "a", "--end", "c"]));
    assert_eq!(stdout(&scan), "a\t1\nb\ttwo\nbin\tx\\x00y\\n\n");
    let scan = ok(run(&["scan", s, "--start", "b", "--limit", "1", "--hex"]));
    assert_eq!(stdout(&scan), "62\t74776f\n");
    let scan = ok(run(&["scan", s, "--end", "a", "--raw"]));
    assert_eq!(scan.stdout, b"\0\xff\n\t\xff\0\n");

    ok(run(&["delete", s, "a"]));
    assert_eq!(code(&run(&["delete", s, "a"])), 3);
    assert_eq!(code(&run(&["get", s, "a"])), 3);

    let ttl = ok(run(&["put", s, "t", "v", "--ttl", "1000"]));
    drop(ttl);
    let db = Bitcask::open(s, &Options::default()).unwrap();
    assert_eq!(db.get(b"t").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(db.get(b"bin").unwrap().as_deref(), Some(&b"x\0y\n"[..]));
    assert_eq!(db.get(b"a").unwrap(), None);
}

#[test]
fn bad_arguments_are_usage_errors_and_every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    let s = p(dir.path());
    let usage = |args: &[&str], needle: &str| {
        let o = run(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty());
    };
    usage(&[], "Usage: bitcask <command>");
    usage(&["frobnicate"], "unknown command 'frobnicate'");
    usage(&["get", s], "missing KEY");
    usage(&["get", s, "k", "extra"], "unexpected argument 'extra'");
    usage(&["get", s, "k", "--bogus"], "unknown option '--bogus'");
    usage(&["get", s, "zz", "--key-hex"], "not hex");
    usage(&["get", s, "abc", "--key-hex"], "even number");
    usage(&["get", s, "k", "--hex", "--raw"], "exclude each other");
    usage(&["put", s, "k"], "exactly one way");
    usage(&["put", s, "k", "v", "--stdin"], "exactly one way");
    usage(&["put", s, "k", "v", "--ttl", "soon"], "not a valid number");
    usage(&["put", s, "k", "v", "--ttl"], "needs a value");
    usage(&["put", s, "", "v"], "KEY must not be empty");
    usage(&["keys", s, "--count=yes"], "takes no value");
    usage(&["scan", s, "--limit", "-3"], "not a valid number");
    usage(&["bench", "--phases", "fill,sing"], "unknown phase 'sing'");
    usage(&["bench", "--sync", "sometimes"], "--sync");
    usage(&["bench", "--keys", "0"], "--keys");
    usage(
        &["bench", "--keys", "1000", "--key-size", "3"],
        "--key-size",
    );

    let top = ok(run(&["--help"]));
    for cmd in [
        "get", "put", "delete", "keys", "scan", "stats", "merge", "verify", "dump", "load", "bench",
    ] {
        assert!(
            stdout(&top).contains(&format!("  {cmd} ")),
            "{cmd} in top help"
        );
        let h = ok(run(&[cmd, "--help"]));
        let text = stdout(&h);
        assert!(text.contains(&format!("Usage: bitcask {cmd}")), "{text}");
        assert!(
            text.contains("Examples:\n  bitcask "),
            "{cmd} help has examples"
        );
    }
}

#[test]
fn stats_reports_files_and_advises_a_merge_when_the_trigger_holds() {
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &small_files()).unwrap();
    for i in 0..100 {
        db.put(&key(i), &value(i)).unwrap();
    }
    db.close().unwrap();
    let json = stdout(&ok(run(&["stats", p(dir.path()), "--json"])));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["keys"], 100);
    assert_eq!(v["merge_advised"], false);
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len() as u64, v["data_files"].as_u64().unwrap());
    assert!(files.len() >= 4, "4 KiB files: {json}");
    let live: u64 = files
        .iter()
        .map(|f| f["live_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(live, 100 * REC);
    assert_eq!(v["dead_bytes"], 0);

    // Overwrite everything twice: two thirds of the bytes are dead.
    let db = Bitcask::open(dir.path(), &small_files()).unwrap();
    for _ in 0..2 {
        for i in 0..100 {
            db.put(&key(i), &value(i + 1)).unwrap();
        }
    }
    db.close().unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&ok(run(&["stats", p(dir.path()), "--json"])))).unwrap();
    assert_eq!(v["merge_advised"], true);
    assert_eq!(v["dead_bytes"].as_u64().unwrap(), 200 * REC);
    let text = stdout(&ok(run(&["stats", p(dir.path())])));
    assert!(text.contains("keys            100\n"), "{text}");
    assert!(text.contains("merge advised   yes"), "{text}");
    assert!(text.contains("frag%"), "{text}");
    assert!(text.contains("66.7% fragmentation"), "{text}");

    // merge: plain progress lines when stderr is not a terminal, and the dead bytes are gone.
    let m = ok(run(&["merge", p(dir.path())]));
    let err = stderr(&m);
    assert!(err.contains("merge: 100%"), "{err}");
    assert!(err.contains("merge: done"), "{err}");
    assert!(!err.contains('\r'), "no redrawing off a terminal: {err:?}");
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&ok(run(&["stats", p(dir.path()), "--json"])))).unwrap();
    assert_eq!(v["dead_bytes"], 0);
    assert_eq!(v["merge_advised"], false);
    assert_eq!(v["keys"], 100);
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(db.get(&key(7)).unwrap(), Some(value(8)));
    db.close().unwrap();
    assert!(
        ok(run(&["merge", p(dir.path()), "--quiet"]))
            .stderr
            .is_empty()
    );
}

/// A store of `n` records in one data file (closed, so with a hint), and that file's path.
fn one_file_store(dir: &Path, n: u32) -> PathBuf {
    let db = Bitcask::open(dir, &Options::default()).unwrap();
    for i in 0..n {
        db.put(&key(i), &value(i)).unwrap();
    }
    db.close().unwrap();
    let data = dir.join("0000000001.data");
    assert_eq!(fs::metadata(&data).unwrap().len(), HDR + n as u64 * REC);
    assert!(dir.join("0000000001.hint").exists());
    data
}

#[test]
fn verify_passes_a_clean_store() {
    let dir = tempfile::tempdir().unwrap();
    one_file_store(dir.path(), 50);
    let o = ok(run(&["verify", p(dir.path())]));
    assert_eq!(
        stdout(&o),
        "verified 1 data files (6374 bytes, 50 records) and 1 hint files: 0 problems\n"
    );
    assert!(
        ok(run(&["verify", p(dir.path()), "--quiet"]))
            .stdout
            .is_empty()
    );
    failed(&run(&["verify", p(&dir.path().join("missing"))]), "missing");
}

#[test]
fn verify_accepts_a_hint_that_lists_only_each_keys_last_record() {
    // Overwrites and deletes in the same file: its hint lists each key once (its last record),
    // which verify must compare against, not against every record.
    let dir = tempfile::tempdir().unwrap();
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    for round in 0..3 {
        for i in 0..30 {
            db.put(&key(i), &value(i + round)).unwrap();
        }
    }
    for i in 0..10 {
        db.delete(&key(i)).unwrap();
    }
    db.close().unwrap();
    let o = ok(run(&["verify", p(dir.path())]));
    assert!(
        stdout(&o).ends_with("records) and 1 hint files: 0 problems\n"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn verify_finds_a_torn_tail_and_repair_truncates_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = one_file_store(dir.path(), 10);
    let good_len = HDR + 10 * REC;
    // Half of an eleventh record: a write cut short by a crash.
    let mut f = fs::OpenOptions::new().append(true).open(&data).unwrap();
    let mut rec = Vec::new();
    {
        let db = tempfile::tempdir().unwrap();
        let one = one_file_store(db.path(), 11);
        rec.extend_from_slice(&fs::read(one).unwrap()[good_len as usize..]);
    }
    f.write_all(&rec[..60]).unwrap();
    drop(f);

    let o = run(&["verify", p(dir.path())]);
    assert_eq!(code(&o), 4, "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "0000000001.data: offset {good_len}: torn tail of 60 bytes"
        )),
        "{out}"
    );
    // The hint describes the file before the tail: stale, which is noted, not damage.
    assert_eq!(fs::metadata(&data).unwrap().len(), good_len + 60);

    let o = ok(run(&["verify", p(dir.path()), "--repair"]));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "repaired: 0000000001.data: truncated to {good_len} bytes"
        )),
        "{out}"
    );
    assert!(out.contains("0 remaining"), "{out}");
    assert_eq!(fs::metadata(&data).unwrap().len(), good_len);
    ok(run(&["verify", p(dir.path())]));
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(db.len(), 10);
    assert_eq!(db.stats().truncated_bytes, 0);
}

#[test]
fn verify_reports_a_flipped_byte_in_a_sealed_file_by_offset() {
    let dir = tempfile::tempdir().unwrap();
    let data = one_file_store(dir.path(), 20);
    // A newer file, so file 1 is sealed.
    let db = Bitcask::open(dir.path(), &small_files()).unwrap();
    for i in 100..140 {
        db.put(&key(i), &value(i)).unwrap();
    }
    db.close().unwrap();
    let record5 = HDR + 5 * REC;
    let mut bytes = fs::read(&data).unwrap();
    bytes[(record5 + 50) as usize] ^= 0x40;
    fs::write(&data, &bytes).unwrap();

    let o = run(&["verify", p(dir.path())]);
    assert_eq!(code(&o), 4);
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "0000000001.data: offset {record5}: 127 bytes skipped: checksum mismatch in a record of 127 bytes"
        )),
        "{out}"
    );
    // The hint still lists the damaged record, which the data file no longer backs.
    assert!(
        out.contains("0000000001.hint: offset ") && out.contains("entry 5"),
        "{out}"
    );

    // Repair rebuilds the hint but cannot bring the record back: still exit 4.
    let o = run(&["verify", p(dir.path()), "--repair"]);
    assert_eq!(code(&o), 4);
    let out = stdout(&o);
    assert!(out.contains("repaired: 0000000001.hint: rebuilt"), "{out}");
    assert!(
        out.contains(&format!("remains: 0000000001.data: offset {record5}:")),
        "{out}"
    );
    assert!(!out.contains("remains: 0000000001.hint"), "{out}");
    // A merge rewrites the file without the damage.
    ok(run(&["merge", p(dir.path()), "--quiet"]));
    ok(run(&["verify", p(dir.path())]));
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(db.len(), 59);
    assert_eq!(db.get(&key(5)).unwrap(), None);
    assert_eq!(db.get(&key(6)).unwrap(), Some(value(6)));
}

#[test]
fn verify_finds_a_broken_hint_and_repair_rebuilds_it() {
    let dir = tempfile::tempdir().unwrap();
    // Above the 4 KiB file size: the reopen below starts a new file, so file 1 is sealed.
    one_file_store(dir.path(), 40);
    let db = Bitcask::open(dir.path(), &small_files()).unwrap();
    db.put(b"newer", b"file").unwrap();
    db.close().unwrap();
    let hint = dir.path().join("0000000001.hint");
    let good = fs::read(&hint).unwrap();
    let mut bad = good.clone();
    bad[40] ^= 1;
    fs::write(&hint, &bad).unwrap();

    let o = run(&["verify", p(dir.path())]);
    assert_eq!(code(&o), 4);
    let out = stdout(&o);
    let crc_at = good.len() - 4;
    assert!(
        out.contains(&format!(
            "0000000001.hint: offset {crc_at}: hint checksum mismatch"
        )),
        "{out}"
    );
    // The data is fine: only the hint is reported.
    assert!(!out.contains(".data:"), "{out}");

    let o = ok(run(&["verify", p(dir.path()), "--repair"]));
    assert!(
        stdout(&o).contains("repaired: 0000000001.hint: rebuilt"),
        "{}",
        stdout(&o)
    );
    assert_eq!(fs::read(&hint).unwrap(), good, "rebuilt byte for byte");

    // A hint without its data file is reported and deleted.
    fs::write(dir.path().join("0000000077.hint"), b"junk").unwrap();
    let o = run(&["verify", p(dir.path())]);
    assert_eq!(code(&o), 4);
    assert!(stdout(&o).contains("0000000077.hint: offset 0: hint file without its data file"));
    ok(run(&["verify", p(dir.path()), "--repair"]));
    assert!(!dir.path().join("0000000077.hint").exists());
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(db.stats().hint_files_loaded, 2);
    assert_eq!(db.len(), 41);
}

#[test]
fn verify_finds_a_compact_hint_that_selects_the_wrong_records() {
    let dir = tempfile::tempdir().unwrap();
    one_file_store(dir.path(), 40);
    // Key 0 again in the same file: 41 records, 40 entries, still dense enough for a compact
    // hint (bit 0 clear: record 0 is superseded by record 40).
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    db.put(&key(0), b"newer").unwrap();
    db.close().unwrap();
    let hint = dir.path().join("0000000001.hint");
    let mut bytes = fs::read(&hint).unwrap();
    assert_eq!(bytes[8], 2, "a compact hint");
    assert_eq!((bytes[24] & 1, bytes[29] & 1), (0, 1));
    // Select the superseded record instead (same count, checksums made to hold).
    bytes[24] |= 1;
    bytes[29] &= !1;
    let at = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..at]);
    bytes[at..].copy_from_slice(&crc.to_le_bytes());
    fs::write(&hint, &bytes).unwrap();

    let o = run(&["verify", p(dir.path())]);
    assert_eq!(code(&o), 4);
    let out = stdout(&o);
    assert!(
        out.contains("0000000001.hint: offset 24: entry 0 says record at data offset 24"),
        "{out}"
    );
    ok(run(&["verify", p(dir.path()), "--repair"]));
    ok(run(&["verify", p(dir.path())]));
    let db = Bitcask::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(db.get(&key(0)).unwrap().unwrap(), b"newer");
}

#[test]
fn dump_and_load_round_trip_binary_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"\0".to_vec(), b"".to_vec()),
        (b"line\nbreak\ttab".to_vec(), b"\0\xff\x80\r\n".to_vec()),
        ((0..=255u8).collect(), (0..=255u8).rev().collect()),
        (
            b"big".to_vec(),
            (0..1_500_000u32).map(|i| (i * 7) as u8).collect(),
        ),
    ];
    for i in 0..1000u32 {
        pairs.push((key(i), value(i)));
    }
    let db = Bitcask::open(&src, &small_files()).unwrap();
    for (k, v) in &pairs {
        db.put(k, b"older").unwrap();
        db.put(k, v).unwrap();
    }
    db.put(b"deleted", b"x").unwrap();
    db.delete(b"deleted").unwrap();
    // Dump while the writer still holds the store.
    let stream = dir.path().join("dump.bcx");
    let o = ok(run(&["dump", p(&src), "--output", p(&stream)]));
    assert!(stderr(&o).contains("dump: 1004 pairs"), "{}", stderr(&o));
    db.close().unwrap();
    let piped = ok(run(&["dump", p(&src), "--quiet"]));
    assert!(piped.stderr.is_empty());
    let bytes = fs::read(&stream).unwrap();
    assert_eq!(piped.stdout.len(), bytes.len());
    assert_eq!(&bytes[..16], &piped.stdout[..16]);

    let dst = dir.path().join("dst");
    let o = ok(run(&["load", p(&dst), "--input", p(&stream)]));
    assert!(stderr(&o).contains("load: 1004 pairs"), "{}", stderr(&o));
    let dst2 = dir.path().join("dst2");
    ok(run_stdin(&["load", p(&dst2), "--quiet"], &piped.stdout));
    for d in [&dst, &dst2] {
        let db = Bitcask::open(d, &Options::default()).unwrap();
        assert_eq!(db.len(), pairs.len());
        for (k, v) in &pairs {
            assert_eq!(db.get(k).unwrap().as_ref(), Some(v), "{k:?}");
        }
        assert_eq!(db.get(b"deleted").unwrap(), None);
        db.close().unwrap();
    }

    // Damage: a flipped byte in a frame, a cut-off stream, something that is not a dump.
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 1;
    let o = run_stdin(&["load", p(&dir.path().join("x1"))], &flipped);
    failed(&o, "frame checksum mismatch");
    assert!(stderr(&o).contains("load stopped after"), "{}", stderr(&o));
    let o = run_stdin(
        &["load", p(&dir.path().join("x2"))],
        &bytes[..bytes.len() - 5],
    );
    failed(&o, "cut off");
    let o = run_stdin(
        &["load", p(&dir.path().join("x3"))],
        b"{\"key\": \"a\", \"value\": \"b\"}\n",
    );
    failed(&o, "not a bitcask dump stream");
    let mut extra = bytes.clone();
    extra.push(0);
    failed(
        &run_stdin(&["load", p(&dir.path().join("x4"))], &extra),
        "after the end frame",
    );
}

#[test]
fn read_only_commands_work_while_another_handle_writes() {
    let dir = tempfile::tempdir().unwrap();
    let s = p(dir.path());
    let writer = Bitcask::open(dir.path(), &small_files()).unwrap();
    for i in 0..200 {
        writer.put(&key(i), &value(i)).unwrap();
    }
    assert_eq!(ok(run(&["get", s, "key-000000000007"])).stdout, value(7));
    assert_eq!(stdout(&ok(run(&["keys", s, "--count"]))), "200\n");
    let scan = ok(run(&["scan", s, "--start", "key-000000000199"]));
    assert_eq!(scan.stdout.iter().filter(|&&b| b == b'\n').count(), 1);
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&ok(run(&["stats", s, "--json"])))).unwrap();
    assert_eq!(v["keys"], 200);
    ok(run(&["verify", s]));
    let dump = ok(run(&["dump", s, "--quiet"]));
    assert!(dump.stdout.len() > 200 * 100);
    // The writer keeps writing meanwhile, and a new read-only run sees it.
    writer.put(b"late", b"write").unwrap();
    assert_eq!(ok(run(&["get", s, "late"])).stdout, b"write");

    // Commands that write need the lock the writer holds.
    failed(&run(&["put", s, "k", "v"]), "locked");
    failed(&run(&["delete", s, "late"]), "locked");
    failed(&run(&["merge", s]), "locked");
    failed(&run(&["verify", s, "--repair"]), "locked");
    // Nothing the read-only commands did changed the store.
    assert_eq!(writer.get(&key(7)).unwrap(), Some(value(7)));
    writer.close().unwrap();
}

#[test]
fn bench_runs_every_phase_and_prints_json() {
    let o = ok(run(&[
        "bench",
        "--keys",
        "3000",
        "--threads",
        "2",
        "--value-size",
        "64",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["keys"], 3000);
    assert_eq!(v["threads"], 2);
    assert_eq!(v["sync"], "none");
    assert_eq!(v["presize"], false);
    let phases = v["phases"].as_array().unwrap();
    let names: Vec<&str> = phases
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "fill",
            "read",
            "readmissing",
            "overwrite",
            "mixed",
            "merge",
            "reopen"
        ]
    );
    for ph in phases {
        let lat = &ph["latency_ns"];
        let (p50, p99, p999, max) = (
            lat["p50"].as_u64().unwrap(),
            lat["p99"].as_u64().unwrap(),
            lat["p99_9"].as_u64().unwrap(),
            lat["max"].as_u64().unwrap(),
        );
        assert!(p50 > 0 && p50 <= p99 && p99 <= p999 && p999 <= max, "{ph}");
        assert!(ph["seconds"].as_f64().unwrap() > 0.0, "{ph}");
        assert!(ph["ops_per_sec"].as_f64().unwrap() > 0.0, "{ph}");
    }
    assert_eq!(phases[0]["ops"], 3000);
    assert_eq!(phases[1]["found"], 3000, "every read finds its key");
    assert_eq!(phases[2]["found"], 0);
    assert_eq!(phases[5]["ops"], 1);
    assert!(phases[5]["bytes_after"].as_u64() < phases[5]["bytes_before"].as_u64());
    assert_eq!(phases[6]["ops"], 3000, "all keys back after reopen");
    // The temporary directory is gone.
    assert!(!Path::new(v["dir"].as_str().unwrap()).exists());

    // --dir keeps the store; the table names each phase.
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("b");
    let o = ok(run(&[
        "bench",
        "--keys",
        "500",
        "--phases",
        "fill,read",
        "--sync",
        "always",
        "--dir",
        p(&kept),
    ]));
    let text = stdout(&o);
    assert!(text.contains("sync always"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("fill ")), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("read ") && l.contains("found=500"))
    );
    assert!(text.contains("p99.9"), "{text}");
    let db = Bitcask::open(&kept, &Options::default()).unwrap();
    assert_eq!(db.len(), 500);
    drop(db);

    // --presize: the index is sized for --keys at open; the run is otherwise the same.
    let o = ok(run(&[
        "bench",
        "--keys",
        "2000",
        "--phases",
        "fill,read",
        "--presize",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["presize"], true);
    assert_eq!(v["phases"][1]["found"], 2000);
    let o = ok(run(&[
        "bench",
        "--keys",
        "300",
        "--phases",
        "fill",
        "--presize",
    ]));
    assert!(stdout(&o).contains("index presized"), "{}", stdout(&o));
}

#[test]
fn dump_of_one_pair_is_the_example_in_cli_md_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    ok(run(&["put", p(dir.path()), "a", "b"]));
    let got = ok(run(&["dump", p(dir.path()), "--quiet"])).stdout;
    let doc = include_str!("../../docs/CLI.md");
    let start = doc.find("\n89 42 43 58").expect("example in docs/CLI.md") + 1;
    let example: Vec<u8> = doc[start..]
        .lines()
        .take(3)
        .flat_map(|l| l.split("   ").next().unwrap().split_whitespace())
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    assert_eq!(got, example);
}

#[test]
fn stats_and_verify_report_a_merge_whose_output_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    one_file_store(dir.path(), 20);
    // A version-2 merge record (docs/FORMAT.md): merge 9 of file 1 into file 9, which is absent.
    let mut rec = b"BCMERGE2".to_vec();
    for v in [9u32, 1, 1, 1, 9] {
        rec.extend_from_slice(&v.to_le_bytes());
    }
    rec.extend_from_slice(&4096u64.to_le_bytes());
    let crc = crc32fast::hash(&rec);
    rec.extend_from_slice(&crc.to_le_bytes());
    std::fs::write(dir.path().join("MERGED-9"), &rec).unwrap();

    let text = stdout(&ok(run(&["stats", p(dir.path())])));
    assert!(text.contains("merges         1 did not finish"), "{text}");
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&ok(run(&["stats", p(dir.path()), "--json"])))).unwrap();
    assert_eq!(v["incomplete_merges"], 1);
    assert_eq!(v["keys"], 20);

    let o = run(&["verify", p(dir.path())]);
    assert_eq!(code(&o), 4, "a problem: {}", stdout(&o));
    assert!(
        stdout(&o).contains(
            "MERGED-9: offset 0: merge of files [1] into [9] did not finish: \
             0000000009.data is missing"
        ),
        "{}",
        stdout(&o)
    );
}
