//! Compiles and runs the C tests of the C ABI (`c-tests/*.c`, one program each), the C++ header
//! check (`c-tests/header_cxx.cpp`) and the README example (`examples/hello.c`) against the
//! cdylib that cargo built for this test run. One `#[test]` per program, so a failure is named;
//! each program prints `file:line: message` for its first failed check, shown in the panic.
//!
//! Flags: `-std=c11` (C++: `-std=c++11`) `-Wall -Wextra -Wpedantic -Werror -pthread`. The
//! programs see `include/` through `-isystem`, as CMake does for an imported target, which hides
//! warnings inside `bitcask.h`; `header_strict_c` / `header_strict_cxx` compile `test_header.c`
//! and `header_cxx.cpp` once more with a plain `-I`, so a warning in the header fails those two
//! tests by name instead of every program. CMakeLists.txt registers the same tests.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// A hung program (say, a deadlock in a fold callback) fails after this long instead of hanging
/// `cargo test`.
const TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, PartialEq)]
enum Lang {
    C,
    Cxx,
}

/// Where cargo put the cdylib for this run: during `cargo test` every crate type of the library
/// is built into `target/<profile>/deps/`, the directory of this test binary. The program links
/// `-lbitcask`, which records the SONAME (`libbitcask.so.0.1`) as NEEDED, but cargo writes only
/// `libbitcask.so`: create the SONAME link next to it, or the loader finds nothing.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .expect("test binary has a directory")
        .to_path_buf();
    let lib = dir.join("libbitcask.so");
    assert!(
        lib.exists(),
        "{} is missing: cargo should build the cdylib for integration tests",
        lib.display()
    );
    let link = dir.join(env!("BITCASK_SONAME"));
    // Tests run in parallel: another one may have created the link in the meantime.
    match std::os::unix::fs::symlink("libbitcask.so", &link) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => panic!("creating {}: {e}", link.display()),
    }
    dir
}

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c-tests");
    fs::create_dir_all(&dir).expect("create output directory");
    dir
}

/// The compiler with the flags every program gets.
fn compiler(lang: Lang) -> Command {
    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .target(env!("BITCASK_TARGET"))
        .host(env!("BITCASK_TARGET"))
        .opt_level(0)
        .cpp(lang == Lang::Cxx)
        .get_compiler();
    let mut cmd = compiler.to_command();
    cmd.arg(if lang == Lang::Cxx {
        "-std=c++11"
    } else {
        "-std=c11"
    })
    .args(["-Wall", "-Wextra", "-Wpedantic", "-Werror", "-pthread"]);
    cmd
}

/// Compiles one source file into an executable and returns its path.
fn compile(source: &str, lang: Lang) -> PathBuf {
    let src = Path::new(ROOT).join(source);
    let stem = src.file_stem().unwrap().to_str().unwrap();
    let exe = out_dir().join(stem);
    let libdir = lib_dir();
    let mut cmd = compiler(lang);
    cmd.arg("-isystem")
        .arg(Path::new(ROOT).join("include"))
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .arg(format!("-L{}", libdir.display()))
        .arg("-lbitcask")
        .arg(format!("-Wl,-rpath,{}", libdir.display()));
    check_compiles(cmd, source);
    exe
}

/// Compiles `source` with bitcask.h as an ordinary header (`-I`), for warnings only.
fn compile_strict(source: &str, lang: Lang) {
    let mut cmd = compiler(lang);
    cmd.arg("-I")
        .arg(Path::new(ROOT).join("include"))
        .arg("-fsyntax-only")
        .arg(Path::new(ROOT).join(source));
    check_compiles(cmd, source);
}

fn check_compiles(mut cmd: Command, source: &str) {
    // The command line without the environment (which `{cmd:?}` would print in full).
    let line = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running the compiler ({line}): {e}"));
    assert!(
        out.status.success(),
        "compiling {source} failed:\n{line}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a program with a timeout and returns its stdout; panics with its output if it fails.
fn run(exe: &Path, args: &[&Path]) -> String {
    let name = exe.file_name().unwrap().to_string_lossy().into_owned();
    // Output goes to files, not pipes, so a chatty program can never block on a full pipe while
    // we wait for it.
    let stdout_path = exe.with_extension("stdout");
    let stderr_path = exe.with_extension("stderr");
    let mut child = Command::new(exe)
        .args(args)
        // Each program makes its own mkdtemp directory under $TMPDIR and removes it.
        .env("TMPDIR", env!("CARGO_TARGET_TMPDIR"))
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).unwrap())
        .stderr(File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
    match status {
        Some(s) if s.success() => {
            eprintln!("{name}: {:.2?}", start.elapsed());
            stdout
        }
        Some(s) => panic!("{name} failed ({s}):\n--- stderr ---\n{stderr}--- stdout ---\n{stdout}"),
        None => panic!(
            "{name} did not finish within {TIMEOUT:?} (deadlock?):\n--- stderr ---\n{stderr}\
             --- stdout ---\n{stdout}"
        ),
    }
}

fn c_test(file: &str) {
    let exe = compile(&format!("c-tests/{file}"), Lang::C);
    run(&exe, &[]);
}

macro_rules! c_tests {
    ($($name:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $name() {
                c_test($file);
            }
        )*
        /// Every program in c-tests/, so a new one cannot be forgotten here.
        const C_TESTS: &[&str] = &[$($file),*];
    };
}

c_tests! {
    c_bad_input => "test_bad_input.c",
    c_basics => "test_basics.c",
    c_batch => "test_batch.c",
    c_durability => "test_durability.c",
    c_expiry => "test_expiry.c",
    c_fold => "test_fold.c",
    c_header => "test_header.c",
    c_locking => "test_locking.c",
    c_many_files => "test_many_files.c",
    c_merge => "test_merge.c",
    c_open => "test_open.c",
    c_options => "test_options.c",
    c_out_params => "test_out_params.c",
    c_recovery => "test_recovery.c",
    c_scan => "test_scan.c",
    c_stats => "test_stats.c",
    c_threads => "test_threads.c",
}

#[test]
fn every_c_test_program_is_listed() {
    let mut on_disk: Vec<String> = fs::read_dir(Path::new(ROOT).join("c-tests"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".c"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = C_TESTS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "add new c-tests/*.c programs to c_tests! in tests/c_api.rs"
    );
}

#[test]
fn cxx_header() {
    let exe = compile("c-tests/header_cxx.cpp", Lang::Cxx);
    run(&exe, &[]);
}

#[test]
fn header_strict_c() {
    compile_strict("c-tests/test_header.c", Lang::C);
}

#[test]
fn header_strict_cxx() {
    compile_strict("c-tests/header_cxx.cpp", Lang::Cxx);
}

#[test]
fn example_hello() {
    let exe = compile("examples/hello.c", Lang::C);
    let store = out_dir().join(format!("hello-store-{}", std::process::id()));
    let _ = fs::remove_dir_all(&store);
    // Twice: the second run reopens the store the first one left.
    for _ in 0..2 {
        let stdout = run(&exe, &[&store]);
        assert_eq!(stdout, "hello = world\n");
    }
    fs::remove_dir_all(&store).unwrap();
}
