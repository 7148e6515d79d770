//! The module tree is layered: each top-level module of `src/` may use only the modules below it
//! (README, "Layout"). This test reads the sources and fails when a lower layer names a higher
//! one, so the shape stays as the code grows. Comments are not code: a doc link upwards is fine.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Bottom to top. A module may use its own layer and those before it.
const LAYERS: [&str; 9] = [
    "error", "format", "options", "io", "keydir", "log", "engine", "verify", "ffi",
];

fn layer_of(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|&m| m == module)
        .unwrap_or_else(|| panic!("module `{module}` is in no layer: add it to LAYERS and README"))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a source file without its comments (line comments, doc comments, block comments)
/// and string literals, which may mention anything.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            i = end;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // A character literal such as '"'.
            i += 3;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// `pub use` re-exports of `src/lib.rs`: item name -> the top-level module it comes from.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let code = code_of(lib);
    let mut map = BTreeMap::new();
    for stmt in code.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = rest.split("::").next().unwrap().trim().to_string();
        let names = match rest.find('{') {
            Some(open) => rest[open + 1..rest.rfind('}').unwrap()].to_string(),
            None => rest.rsplit("::").next().unwrap().to_string(),
        };
        for name in names.split(',') {
            let name = name.trim();
            if !name.is_empty() {
                map.insert(name.to_string(), module.clone());
            }
        }
    }
    map
}

/// Every top-level module a piece of code names through `crate::` (directly, or through a root
/// re-export such as `crate::Bitcask` or `use crate::{Options, Stats}`).
fn named_modules(code: &str, reexports: &BTreeMap<String, String>) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end]
                .split(',')
                .map(|n| n.trim().split("::").next().unwrap().trim())
                .collect()
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            vec![&rest[..end]]
        };
        for name in names {
            if name.is_empty() || name == "self" {
                continue;
            }
            let module = if LAYERS.contains(&name) {
                name.to_string()
            } else if let Some(m) = reexports.get(name) {
                m.clone()
            } else {
                panic!("`crate::{name}` is neither a layered module nor a root re-export");
            };
            found.push(module);
        }
    }
    found
}

#[test]
fn lower_layers_never_use_higher_ones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let reexports = root_reexports(&fs::read_to_string(root.join("lib.rs")).unwrap());
    let mut files = Vec::new();
    sources(&root, &mut files);
    files.sort();
    let mut violations = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&root).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        if first == "lib.rs" {
            continue;
        }
        let module = first.trim_end_matches(".rs");
        let layer = layer_of(module);
        let code = code_of(&fs::read_to_string(path).unwrap());
        for used in named_modules(&code, &reexports) {
            if layer_of(&used) > layer {
                violations.push(format!(
                    "{}: `{module}` (layer {layer}) uses `{used}` (layer {})",
                    rel.display(),
                    layer_of(&used)
                ));
            }
        }
    }
    violations.sort();
    violations.dedup();
    assert!(
        violations.is_empty(),
        "imports must flow down the layers {LAYERS:?}:\n{}",
        violations.join("\n")
    );
}

/// The C layer is written against the engine's public API: the crate root's re-exports, never
/// an engine module's internals.
#[test]
fn the_c_layer_uses_only_the_public_api() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root.join("ffi"), &mut files);
    let mut violations = Vec::new();
    for path in &files {
        let code = code_of(&fs::read_to_string(path).unwrap());
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..end];
            if LAYERS.contains(&name) && name != "ffi" {
                violations.push(format!(
                    "{}: crate::{name}::",
                    path.strip_prefix(&root).unwrap().display()
                ));
            }
        }
    }
    violations.sort();
    violations.dedup();
    assert!(
        violations.is_empty(),
        "src/ffi must use the root re-exports (`crate::Bitcask`, `crate::Options`, ...), not:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_through_comments_groups_and_reexports() {
    let reexports = root_reexports(
        "pub use engine::{Bitcask, Stats};\npub use options::{\n    MergeTrigger, Options,\n};\n",
    );
    assert_eq!(reexports["Bitcask"], "engine");
    assert_eq!(reexports["MergeTrigger"], "options");
    let code = code_of(
        "// crate::engine in a comment\n/// [`x`](crate::Bitcask)\nuse crate::{Options, format::X};\nlet s = \"crate::ffi\";\nfn f() { crate::io::clock::now_secs() }",
    );
    assert_eq!(
        named_modules(&code, &reexports),
        vec!["options", "format", "io"]
    );
}
