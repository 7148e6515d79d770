//! `bitcask`: inspect, repair, dump, load and benchmark a bitcask store. See `docs/CLI.md`.
//!
//! Exit codes: 0 success; 1 the operation failed (one line `bitcask: <error>` on stderr); 2 usage
//! error; 3 the key is absent (`get`, `delete`); 4 `verify` found damage (after `--repair`: damage
//! it could not repair).

mod args;
mod bench;
mod dump;
mod hist;
mod progress;

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

use args::{ParseOutcome, Parsed, Spec, flag, val};
use bitcask::{Bitcask, Options, SyncMode};

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_ABSENT: u8 = 3;
const EXIT_DAMAGED: u8 = 4;

/// How a command ends other than successfully.
pub enum Fail {
    /// The operation failed: `bitcask: <message>`, exit 1.
    Error(String),
    /// Bad arguments: the message and the usage line, exit 2.
    Usage(String),
    /// A quiet non-zero exit whose output was already written (absent key, damage).
    Code(u8, Option<String>),
}

impl From<bitcask::Error> for Fail {
    fn from(e: bitcask::Error) -> Self {
        Fail::Error(e.to_string())
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Error(e.to_string())
    }
}

pub type CmdResult = Result<(), Fail>;

const OUTPUT_NOTE: &str = "Output: by default keys and values are escaped text, one entry per line: printable ASCII as\n\
is, backslash as \\\\, tab as \\t, newline as \\n, every other byte as \\xNN. --hex prints lowercase\n\
hex. --raw prints the bytes unchanged (only safe for text without tabs or newlines).";

type Command = fn(&Spec, &Parsed) -> CmdResult;

static COMMANDS: &[(&Spec, Command)] = &[
    (&GET, cmd_get),
    (&PUT, cmd_put),
    (&DELETE, cmd_delete),
    (&KEYS, cmd_keys),
    (&SCAN, cmd_scan),
    (&STATS, cmd_stats),
    (&MERGE, cmd_merge),
    (&VERIFY, cmd_verify),
    (&dump::DUMP, dump::cmd_dump),
    (&dump::LOAD, dump::cmd_load),
    (&bench::BENCH, bench::cmd_bench),
];

static GET: Spec = Spec {
    name: "get",
    about: "Print the value of KEY. Opens the store read-only (works beside a running writer).",
    positionals: &[("DIR", true), ("KEY", true)],
    options: &[
        flag("key-hex", "KEY is given in hex"),
        flag("hex", "print the value in hex, then a newline"),
        flag(
            "raw",
            "print the value's bytes exactly, no newline (the default)",
        ),
    ],
    notes: "Exit status 3 (and nothing on stdout) when the key is absent.\n\
            Keys are taken as the argument's bytes; with --key-hex, as hex digits (\"00ff\").",
    examples: &[
        "bitcask get /var/lib/store user:42",
        "bitcask get /var/lib/store 00ff10 --key-hex --hex",
        "bitcask get /var/lib/store avatar:7 > avatar.png",
    ],
};

static PUT: Spec = Spec {
    name: "put",
    about: "Set KEY to a value from the VALUE argument, a file (--file) or stdin (--stdin, or VALUE '-').",
    positionals: &[("DIR", true), ("KEY", true), ("VALUE", false)],
    options: &[
        val("file", "PATH", "read the value from this file"),
        flag("stdin", "read the value from standard input"),
        flag("key-hex", "KEY is given in hex"),
        flag("value-hex", "VALUE is given in hex"),
        val("ttl", "SECS", "the key expires after this many seconds"),
        flag("create", "create the store directory if it does not exist"),
    ],
    notes: "The write is fsynced before the command exits.\n\
            Keys are taken as the argument's bytes; with --key-hex, as hex digits (\"00ff\").",
    examples: &[
        "bitcask put /var/lib/store user:42 '{\"name\":\"Ada\"}'",
        "bitcask put /var/lib/store avatar:7 --file avatar.png",
        "printf 'a\\0b' | bitcask put /var/lib/store k --stdin",
        "bitcask put /var/lib/store session:9 token --ttl 3600",
    ],
};

static DELETE: Spec = Spec {
    name: "delete",
    about: "Delete KEY.",
    positionals: &[("DIR", true), ("KEY", true)],
    options: &[flag("key-hex", "KEY is given in hex")],
    notes: "Exit status 3 when the key was already absent. The delete is fsynced before the command exits.",
    examples: &["bitcask delete /var/lib/store user:42"],
};

static KEYS: Spec = Spec {
    name: "keys",
    about: "List the live keys in ascending byte order. Opens the store read-only.",
    positionals: &[("DIR", true)],
    options: &[
        val("prefix", "P", "only keys starting with P"),
        flag("prefix-hex", "P is given in hex"),
        flag("hex", "print keys in hex"),
        flag("raw", "print keys unescaped"),
        flag("count", "print only the number of matching keys"),
    ],
    notes: OUTPUT_NOTE,
    examples: &[
        "bitcask keys /var/lib/store",
        "bitcask keys /var/lib/store --prefix user: --count",
    ],
};

static SCAN: Spec = Spec {
    name: "scan",
    about: "Print the key and value (tab-separated) of the live keys in [START, END), ascending. \
            Opens the store read-only.",
    positionals: &[("DIR", true)],
    options: &[
        val(
            "start",
            "K",
            "first key (inclusive); default: from the smallest",
        ),
        val("end", "K", "end key (exclusive); default: to the largest"),
        flag("key-hex", "--start and --end are given in hex"),
        val("limit", "N", "stop after N entries"),
        flag("hex", "print keys and values in hex"),
        flag("raw", "print keys and values unescaped"),
    ],
    notes: OUTPUT_NOTE,
    examples: &[
        "bitcask scan /var/lib/store --start user: --end user;",
        "bitcask scan /var/lib/store --limit 10 --hex",
    ],
};

static STATS: Spec = Spec {
    name: "stats",
    about: "Keys, files, live and dead bytes, fragmentation per file, and whether a merge is advised. \
            Opens the store read-only.",
    positionals: &[("DIR", true)],
    options: &[flag("json", "print one JSON object instead of a table")],
    notes: "\"merge advised\" applies the default merge trigger (60% of the sealed files' bytes dead, or\n\
            512 MiB dead) to every file but the newest, which a writer would be appending to.",
    examples: &[
        "bitcask stats /var/lib/store",
        "bitcask stats /var/lib/store --json",
    ],
};

static MERGE: Spec = Spec {
    name: "merge",
    about: "Rewrite the store's live records into new files and delete the old ones. Needs the write \
            lock: fails while another process has the store open for writing.",
    positionals: &[("DIR", true)],
    options: &[flag("quiet", "no progress output")],
    notes: "Progress goes to stderr: a redrawn bar (bytes done / total, rate, time left) on a terminal,\n\
            one plain line per 10% otherwise.",
    examples: &["bitcask merge /var/lib/store"],
};

static VERIFY: Spec = Spec {
    name: "verify",
    about: "Read every record of every data file and every hint file; check checksums and that the \
            hints agree with their data files. Reports each problem as '<file>: offset <n>: <what>'.",
    positionals: &[("DIR", true)],
    options: &[
        flag(
            "repair",
            "truncate a torn tail of the newest file and rebuild or delete bad hint files (takes the write lock)",
        ),
        flag("quiet", "print only the problems"),
    ],
    notes: "Without --repair the store is not opened at all, only read, so it works beside a running writer.\n\
            Exit status: 0 no problems; 4 problems found (with --repair: problems that remain after\n\
            repairing, i.e. damaged records inside a file, which `bitcask merge` rewrites away).",
    examples: &[
        "bitcask verify /var/lib/store",
        "bitcask verify /var/lib/store --repair",
    ],
};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    ExitCode::from(run(&args))
}

fn top_help() -> String {
    let mut s = String::from(
        "bitcask: inspect, repair, dump, load and benchmark a bitcask store\n\nUsage: bitcask <command> DIR [args] [options]\n\nCommands:\n",
    );
    for (spec, _) in COMMANDS {
        let first = spec.about.split(". ").next().unwrap_or(spec.about);
        s.push_str(&format!(
            "  {:<8} {}\n",
            spec.name,
            first.trim_end_matches('.')
        ));
    }
    s.push_str(
        "\n`bitcask <command> --help` shows a command's options and examples.\n\
         Exit status: 0 ok, 1 failed, 2 usage error, 3 key absent, 4 damage found. See docs/CLI.md.\n",
    );
    s
}

fn run(args: &[OsString]) -> u8 {
    let Some(cmd) = args.first() else {
        eprint!("{}", top_help());
        return EXIT_USAGE;
    };
    let cmd = cmd.to_string_lossy();
    if cmd == "-h" || cmd == "--help" || cmd == "help" {
        print!("{}", top_help());
        return 0;
    }
    let Some((spec, f)) = COMMANDS.iter().find(|(s, _)| s.name == cmd) else {
        eprintln!("bitcask: unknown command '{cmd}' (try `bitcask --help`)");
        return EXIT_USAGE;
    };
    let parsed = match args::parse(spec, &args[1..]) {
        Ok(p) => p,
        Err(ParseOutcome::Help) => {
            print!("{}", spec.help());
            return 0;
        }
        Err(ParseOutcome::Usage(msg)) => return usage(spec, &msg),
    };
    match f(spec, &parsed) {
        Ok(()) => 0,
        Err(Fail::Usage(msg)) => usage(spec, &msg),
        Err(Fail::Error(msg)) => {
            let _ = io::stdout().flush();
            eprintln!("bitcask: {}", one_line(&msg));
            EXIT_FAILED
        }
        Err(Fail::Code(code, msg)) => {
            let _ = io::stdout().flush();
            if let Some(msg) = msg {
                eprintln!("bitcask: {}", one_line(&msg));
            }
            code
        }
    }
}

fn usage(spec: &Spec, msg: &str) -> u8 {
    eprintln!(
        "bitcask {}: {msg}\nUsage: {} (see `bitcask {} --help`)",
        spec.name,
        spec.usage_line(),
        spec.name
    );
    EXIT_USAGE
}

fn one_line(msg: &str) -> String {
    msg.replace('\n', " ")
}

/// A write to stdout failed because the reader went away (`| head`): stop quietly.
fn output(r: io::Result<()>) -> CmdResult {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Fail::Code(0, None)),
        Err(e) => Err(Fail::Error(format!("write to stdout: {e}"))),
    }
}

pub fn dir_arg(p: &Parsed) -> PathBuf {
    PathBuf::from(p.positional(0).expect("DIR is required"))
}

/// Opens read-only: never takes the lock, never changes a file.
pub fn open_read_only(dir: &std::path::Path) -> Result<Bitcask, Fail> {
    let mut o = Options::default();
    o.read_only(true).create_if_missing(false);
    Ok(Bitcask::open(dir, &o)?)
}

pub fn open_writable(dir: &std::path::Path, create: bool, sync: SyncMode) -> Result<Bitcask, Fail> {
    let mut o = Options::default();
    o.create_if_missing(create);
    o.sync(sync)?;
    Ok(Bitcask::open(dir, &o)?)
}

pub fn parse_hex(s: &OsStr, what: &str) -> Result<Vec<u8>, Fail> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(Fail::Usage(format!(
            "{what}: hex needs an even number of digits"
        )));
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    b.chunks(2)
        .map(|pair| match (digit(pair[0]), digit(pair[1])) {
            (Some(h), Some(l)) => Ok(h << 4 | l),
            _ => Err(Fail::Usage(format!(
                "{what}: '{}' is not hex",
                String::from_utf8_lossy(b)
            ))),
        })
        .collect()
}

fn bytes_arg(s: &OsStr, hex: bool, what: &str) -> Result<Vec<u8>, Fail> {
    let v = if hex {
        parse_hex(s, what)?
    } else {
        s.as_bytes().to_vec()
    };
    Ok(v)
}

fn key_arg(p: &Parsed, i: usize) -> Result<Vec<u8>, Fail> {
    let key = bytes_arg(
        p.positional(i).expect("KEY is required"),
        p.flag("key-hex"),
        "KEY",
    )?;
    if key.is_empty() {
        return Err(Fail::Usage("KEY must not be empty".into()));
    }
    Ok(key)
}

pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// The default text form of bytes: unambiguous and one line (see OUTPUT_NOTE).
pub fn escape(b: &[u8], out: &mut Vec<u8>) {
    for &c in b {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
}

#[derive(Clone, Copy)]
enum Style {
    Escaped,
    Hex,
    Raw,
}

fn style(p: &Parsed) -> Result<Style, Fail> {
    match (p.flag("hex"), p.flag("raw")) {
        (true, true) => Err(Fail::Usage("--hex and --raw exclude each other".into())),
        (true, false) => Ok(Style::Hex),
        (false, true) => Ok(Style::Raw),
        (false, false) => Ok(Style::Escaped),
    }
}

fn render(b: &[u8], style: Style, out: &mut Vec<u8>) {
    match style {
        Style::Escaped => escape(b, out),
        Style::Hex => out.extend_from_slice(hex(b).as_bytes()),
        Style::Raw => out.extend_from_slice(b),
    }
}

fn cmd_get(_: &Spec, p: &Parsed) -> CmdResult {
    let key = key_arg(p, 1)?;
    if p.flag("hex") && p.flag("raw") {
        return Err(Fail::Usage("--hex and --raw exclude each other".into()));
    }
    let db = open_read_only(&dir_arg(p))?;
    let Some(value) = db.get(&key)? else {
        return Err(Fail::Code(EXIT_ABSENT, Some("key not found".into())));
    };
    let mut out = io::stdout().lock();
    output(if p.flag("hex") {
        writeln!(out, "{}", hex(&value))
    } else {
        out.write_all(&value)
    })?;
    output(out.flush())
}

fn cmd_put(_: &Spec, p: &Parsed) -> CmdResult {
    let key = key_arg(p, 1)?;
    let from_arg = p.positional(2);
    let dash = from_arg.is_some_and(|v| v.as_bytes() == b"-");
    let stdin = p.flag("stdin") || dash;
    let given = [
        from_arg.is_some(),
        p.value("file").is_some(),
        p.flag("stdin"),
    ];
    if given.iter().filter(|&&s| s).count() != 1 {
        return Err(Fail::Usage(
            "give the value exactly one way: VALUE, --file PATH, or --stdin (VALUE '-')".into(),
        ));
    }
    if p.flag("value-hex") && (from_arg.is_none() || dash) {
        return Err(Fail::Usage(
            "--value-hex applies to a VALUE argument".into(),
        ));
    }
    let value = if let Some(v) = from_arg.filter(|_| !stdin) {
        bytes_arg(v, p.flag("value-hex"), "VALUE")?
    } else if let Some(path) = p.value("file") {
        std::fs::read(path)
            .map_err(|e| Fail::Error(format!("read '{}': {e}", path.to_string_lossy())))?
    } else {
        let mut v = Vec::new();
        io::stdin()
            .read_to_end(&mut v)
            .map_err(|e| Fail::Error(format!("read stdin: {e}")))?;
        v
    };
    let ttl: u32 = p.number("ttl", 0).map_err(Fail::Usage)?;
    if p.value("ttl").is_some() && ttl == 0 {
        return Err(Fail::Usage("--ttl must be at least 1".into()));
    }
    let db = open_writable(&dir_arg(p), p.flag("create"), SyncMode::Always)?;
    if ttl > 0 {
        db.put_ttl(&key, &value, ttl)?;
    } else {
        db.put(&key, &value)?;
    }
    db.close()?;
    Ok(())
}

fn cmd_delete(_: &Spec, p: &Parsed) -> CmdResult {
    let key = key_arg(p, 1)?;
    let db = open_writable(&dir_arg(p), false, SyncMode::Always)?;
    let existed = db.delete(&key)?;
    db.close()?;
    if existed {
        Ok(())
    } else {
        Err(Fail::Code(EXIT_ABSENT, Some("key not found".into())))
    }
}

fn cmd_keys(_: &Spec, p: &Parsed) -> CmdResult {
    let style = style(p)?;
    let prefix = match p.value("prefix") {
        Some(v) => bytes_arg(v, p.flag("prefix-hex"), "--prefix")?,
        None if p.flag("prefix-hex") => {
            return Err(Fail::Usage("--prefix-hex needs --prefix".into()));
        }
        None => Vec::new(),
    };
    let db = open_read_only(&dir_arg(p))?;
    // Collecting then sorting: the index is a hash, and sorted output is what scripts diff.
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let _ = db.fold_keys(|k| {
        if k.starts_with(&prefix) {
            keys.push(k.to_vec());
        }
        ControlFlow::Continue(())
    });
    let mut out = io::BufWriter::new(io::stdout().lock());
    if p.flag("count") {
        output(writeln!(out, "{}", keys.len()))?;
        return output(out.flush());
    }
    keys.sort_unstable();
    let mut line = Vec::new();
    for k in &keys {
        line.clear();
        render(k, style, &mut line);
        line.push(b'\n');
        output(out.write_all(&line))?;
    }
    output(out.flush())
}

fn cmd_scan(_: &Spec, p: &Parsed) -> CmdResult {
    let style = style(p)?;
    let hex_keys = p.flag("key-hex");
    let start = p
        .value("start")
        .map(|v| bytes_arg(v, hex_keys, "--start"))
        .transpose()?;
    let end = p
        .value("end")
        .map(|v| bytes_arg(v, hex_keys, "--end"))
        .transpose()?;
    let limit: u64 = p.number("limit", u64::MAX).map_err(Fail::Usage)?;
    let db = open_read_only(&dir_arg(p))?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut line = Vec::new();
    let mut n = 0u64;
    let mut write_err = None;
    if limit > 0 {
        let _stopped = db.scan(start.as_deref(), end.as_deref(), |k, v| {
            line.clear();
            render(k, style, &mut line);
            line.push(b'\t');
            render(v, style, &mut line);
            line.push(b'\n');
            if let Err(e) = out.write_all(&line) {
                write_err = Some(e);
                return ControlFlow::Break(());
            }
            n += 1;
            if n >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
    }
    if let Some(e) = write_err {
        return output(Err(e));
    }
    output(out.flush())
}

fn cmd_stats(_: &Spec, p: &Parsed) -> CmdResult {
    let db = open_read_only(&dir_arg(p))?;
    let s = db.stats();
    let files = db.file_stats();
    let advised = db.merge_advised();
    let frag = |live: u64, dead: u64| {
        if live + dead == 0 {
            0.0
        } else {
            dead as f64 * 100.0 / (live + dead) as f64
        }
    };
    let newest = files.last().map(|f| f.id);
    let mut out = io::stdout().lock();
    let text = if p.flag("json") {
        let per_file: Vec<String> = files
            .iter()
            .map(|f| {
                format!(
                    "{{\"id\":{},\"order\":{},\"bytes\":{},\"live_bytes\":{},\"dead_bytes\":{},\"fragmentation_percent\":{:.1},\"newest\":{}}}",
                    f.id,
                    f.order,
                    f.len,
                    f.live_bytes,
                    f.dead_bytes,
                    frag(f.live_bytes, f.dead_bytes),
                    Some(f.id) == newest
                )
            })
            .collect();
        format!(
            "{{\"keys\":{},\"data_files\":{},\"total_bytes\":{},\"live_bytes\":{},\"dead_bytes\":{},\"fragmentation_percent\":{:.1},\"corrupt_records\":{},\"corrupt_bytes\":{},\"torn_tail_bytes\":{},\"hint_files_loaded\":{},\"data_files_scanned\":{},\"incomplete_merges\":{},\"merge_advised\":{},\"files\":[{}]}}\n",
            s.keys,
            s.data_files,
            s.total_bytes,
            s.live_bytes,
            s.dead_bytes,
            frag(s.live_bytes, s.dead_bytes),
            s.corrupt_records,
            s.corrupt_bytes,
            s.truncated_bytes,
            s.hint_files_loaded,
            s.data_files_scanned,
            s.incomplete_merges,
            advised,
            per_file.join(",")
        )
    } else {
        let mut t = String::new();
        t.push_str(&format!("keys            {}\n", s.keys));
        t.push_str(&format!("data files      {}\n", s.data_files));
        t.push_str(&format!("total bytes     {}\n", s.total_bytes));
        t.push_str(&format!("live bytes      {}\n", s.live_bytes));
        t.push_str(&format!(
            "dead bytes      {} ({:.1}% fragmentation)\n",
            s.dead_bytes,
            frag(s.live_bytes, s.dead_bytes)
        ));
        if s.corrupt_records > 0 || s.truncated_bytes > 0 {
            t.push_str(&format!(
                "damage          {} damaged records ({} bytes) skipped, {} bytes of torn tail ignored (run `bitcask verify`)\n",
                s.corrupt_records, s.corrupt_bytes, s.truncated_bytes
            ));
        }
        if s.incomplete_merges > 0 {
            t.push_str(&format!(
                "merges         {} did not finish: their output files are missing or damaged, so their inputs are kept and served (run `bitcask verify`)\n",
                s.incomplete_merges
            ));
        }
        t.push_str(&format!(
            "merge advised   {}\n\n",
            if advised {
                "yes (run `bitcask merge`)"
            } else {
                "no"
            }
        ));
        t.push_str(&format!(
            "{:>10}  {:>10}  {:>14}  {:>14}  {:>14}  {:>6}\n",
            "file", "order", "bytes", "live", "dead", "frag%"
        ));
        for f in &files {
            t.push_str(&format!(
                "{:>10}  {:>10}  {:>14}  {:>14}  {:>14}  {:>6.1}{}\n",
                f.id,
                f.order,
                f.len,
                f.live_bytes,
                f.dead_bytes,
                frag(f.live_bytes, f.dead_bytes),
                if Some(f.id) == newest { "  newest" } else { "" }
            ));
        }
        t
    };
    output(out.write_all(text.as_bytes()))
}

fn cmd_merge(_: &Spec, p: &Parsed) -> CmdResult {
    let db = open_writable(&dir_arg(p), false, SyncMode::None)?;
    let before = db.stats();
    let mut bar = progress::Progress::new("merge", !p.flag("quiet"));
    let started = std::time::Instant::now();
    db.merge_with_progress(|m| bar.bytes(m.bytes_done, m.bytes_total))?;
    bar.finish();
    let after = db.stats();
    db.close()?;
    if !p.flag("quiet") {
        eprintln!(
            "merge: done in {:.2} s: {} data files, {} bytes -> {} data files, {} bytes",
            started.elapsed().as_secs_f64(),
            before.data_files,
            before.total_bytes,
            after.data_files,
            after.total_bytes
        );
    }
    Ok(())
}

fn cmd_verify(_: &Spec, p: &Parsed) -> CmdResult {
    let dir = dir_arg(p);
    let repair = p.flag("repair");
    let quiet = p.flag("quiet");
    let report = bitcask::verify::verify(&dir, repair, &mut |_| {})?;
    let mut out = io::stdout().lock();
    let mut text = String::new();
    for problem in &report.problems {
        text.push_str(&format!("{problem}\n"));
    }
    if !quiet {
        for note in &report.notes {
            text.push_str(&format!("note: {note}\n"));
        }
        for r in &report.repairs {
            text.push_str(&format!("repaired: {r}\n"));
        }
        if repair {
            for problem in &report.remaining {
                text.push_str(&format!("remains: {problem}\n"));
            }
        }
        text.push_str(&format!(
            "verified {} data files ({} bytes, {} records) and {} hint files: {} problems{}\n",
            report.data_files,
            report.data_bytes,
            report.records,
            report.hint_files_ok,
            report.problems.len(),
            if repair {
                format!(
                    ", {} repairs, {} remaining",
                    report.repairs.len(),
                    report.remaining.len()
                )
            } else {
                String::new()
            }
        ));
        if report.missing_hints > 0 {
            text.push_str(&format!(
                "{} sealed files have no hint file (a read-write open writes them)\n",
                report.missing_hints
            ));
        }
    }
    output(out.write_all(text.as_bytes()))?;
    if report.is_clean(repair) {
        Ok(())
    } else {
        Err(Fail::Code(EXIT_DAMAGED, None))
    }
}
