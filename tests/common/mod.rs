//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// `len` random bytes from `rng` (a `fastrand::Rng` seeded with `Rng::with_seed`, so failures
/// reproduce from the printed seed).
pub fn bytes(rng: &mut fastrand::Rng, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    rng.fill(&mut v);
    v
}

/// A run's seed: the number in environment variable `var`, or a fresh one from the clock. The
/// caller prints it, so that a failure can be rerun with `var` set.
pub fn seed_from_env(var: &str) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// The data files of a store, in id order.
pub fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect();
    files.sort();
    files
}

/// The environment variable that tells a re-executed test binary which child role to play.
pub const CHILD_ROLE: &str = "BITCASK_TEST_CHILD_ROLE";
pub const CHILD_DIR: &str = "BITCASK_TEST_CHILD_DIR";

/// Re-runs this test binary as a child process that executes only `test_name`, with the role and
/// directory in its environment; the test function checks [`child_role`] first and plays the
/// role. Stdout is piped so the child can report progress.
pub fn spawn_child(test_name: &str, role: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ROLE, role)
        .env(CHILD_DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// `Some((role, dir))` when this process is a child started by [`spawn_child`].
pub fn child_role() -> Option<(String, PathBuf)> {
    let role = std::env::var(CHILD_ROLE).ok()?;
    let dir = PathBuf::from(std::env::var(CHILD_DIR).unwrap());
    Some((role, dir))
}
