//! Data files are mapped for random access (MADV_RANDOM), so a get that misses the page cache
//! reads one page and not a whole read-ahead window; see the comment in src/io/map.rs.

#![cfg(target_os = "linux")]

use bitcask::{Bitcask, Options};

/// The `VmFlags` line of every mapping in /proc/self/smaps whose path lies under `dir`.
fn vm_flags_of_mappings_under(dir: &std::path::Path) -> Vec<(String, String)> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let dir = dir.to_str().unwrap();
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in smaps.lines() {
        if let Some(flags) = line.strip_prefix("VmFlags:") {
            if let Some(path) = current.take() {
                out.push((path, flags.trim().to_string()));
            }
        } else if is_mapping_header(line) {
            // "start-end perms offset dev inode [path]"
            // Only the read maps: the active file's append map (`rw-s`) is written front to
            // back and needs no advice.
            let fields: Vec<&str> = line.split_whitespace().collect();
            current = fields
                .get(5)
                .filter(|p| p.starts_with(dir) && fields[1] == "r--s")
                .map(|p| p.to_string());
        }
    }
    out
}

fn is_mapping_header(line: &str) -> bool {
    line.split_whitespace().next().is_some_and(|range| {
        range.split_once('-').is_some_and(|(a, b)| {
            u64::from_str_radix(a, 16).is_ok() && u64::from_str_radix(b, 16).is_ok()
        })
    })
}

#[test]
fn data_file_maps_are_advised_random() {
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    let db = Bitcask::open(&dir_path, &Options::default()).unwrap();
    db.put(b"k", b"v").unwrap();
    // the first get maps the data file
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));

    let maps = vm_flags_of_mappings_under(&dir_path);
    let data: Vec<_> = maps.iter().filter(|(p, _)| p.ends_with(".data")).collect();
    assert!(
        !data.is_empty(),
        "no mapping of a data file under {dir_path:?}: {maps:?}"
    );
    for (path, flags) in data {
        assert!(
            flags.split_whitespace().any(|f| f == "rr"),
            "{path} is mapped without MADV_RANDOM (VmFlags: {flags})"
        );
    }
}
