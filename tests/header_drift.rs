//! `include/bitcask.h` is committed so C users need no Rust toolchain. This test regenerates it
//! in memory and fails when the committed copy is stale. Regenerate with
//! `BITCASK_BLESS=1 cargo test --test header_drift`.

use std::path::Path;

#[test]
fn committed_header_matches_the_code() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut fresh = Vec::new();
    cbindgen::generate(root)
        .expect("cbindgen could not read the crate")
        .write(&mut fresh);
    let path = Path::new(root).join("include/bitcask.h");
    if std::env::var_os("BITCASK_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is stale: regenerate it with `BITCASK_BLESS=1 cargo test --test header_drift` and \
         commit the result",
        path.display()
    );
}

#[test]
fn header_version_macros_match_the_crate_version() {
    let header =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/bitcask.h")).unwrap();
    let expect = [
        format!(
            "#define BC_VERSION_MAJOR {}",
            env!("CARGO_PKG_VERSION_MAJOR")
        ),
        format!(
            "#define BC_VERSION_MINOR {}",
            env!("CARGO_PKG_VERSION_MINOR")
        ),
        format!(
            "#define BC_VERSION_PATCH {}",
            env!("CARGO_PKG_VERSION_PATCH")
        ),
        format!(
            "#define BC_VERSION_STRING \"{}\"",
            env!("CARGO_PKG_VERSION")
        ),
    ];
    for line in expect {
        assert!(
            header.contains(&line),
            "include/bitcask.h lacks `{line}`: update after_includes in cbindgen.toml"
        );
    }
}
