//! The layering, checked: the crates' arrows are enforced by Cargo, and this checks what Cargo
//! cannot, that the core pulls in no I/O and that the application's modules only point down.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::helpers::repo;

/// The application's top-level modules by layer: a module may use only modules of a lower layer
/// (and the crates below: `accord_core`, `accord_store`). A new module goes in this table.
const LAYERS: &[(&str, u8)] = &[
    ("workflow", 0),
    ("keys", 0),
    ("lease", 0),
    ("metrics", 0),
    ("sink", 0),
    ("directory", 1),
    ("mail", 1),
    ("access", 2),
    ("engine", 2),
    ("scheduler", 3),
    ("delivery", 3),
    ("config", 4),
    ("http", 5),
    ("telemetry", 5),
    ("app", 6),
    ("demo", 7),
];

/// What `src/lib.rs` re-exports from the crates below, under the application's names.
const FROM_BELOW: &[&str] = &["clock", "ids", "csp", "store", "wake"];

#[test]
fn the_applications_modules_only_use_modules_below_them() {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut upward = Vec::new();
    for (module, uses) in module_uses(&repo().join("src")) {
        let Some(&layer) = layers.get(module.as_str()) else {
            panic!("src/{module} is not in LAYERS (tests/api/layering.rs): give it a layer");
        };
        for used in uses {
            if FROM_BELOW.contains(&used.as_str()) {
                continue;
            }
            match layers.get(used.as_str()) {
                Some(&below) if below < layer => {}
                _ => upward.push(format!("{module} (layer {layer}) uses crate::{used}")),
            }
        }
    }
    assert!(upward.is_empty(), "arrows that do not point down:\n{}", upward.join("\n"));
}

#[test]
fn the_core_does_no_io_and_the_store_knows_nothing_of_the_application() {
    let core = std::fs::read_to_string(repo().join("crates/accord-core/Cargo.toml")).unwrap();
    let dependencies = core.split("[dependencies]").nth(1).unwrap().split("\n[").next().unwrap();
    for io in ["tokio", "axum", "lettre", "tera", "reqwest", "accord-store"] {
        let declared = dependencies.lines().any(|line| line.trim_start().starts_with(&format!("{io} ")));
        assert!(!declared, "accord-core must not depend on {io}");
    }
    let sqlx = dependencies.lines().find(|line| line.starts_with("sqlx ")).expect("sqlx, behind a feature");
    assert!(sqlx.contains("optional = true"), "sqlx is only the row mapping's, behind the `sqlx` feature: {sqlx}");
    let store = std::fs::read_to_string(repo().join("crates/accord-store/Cargo.toml")).unwrap();
    assert!(!store.lines().any(|line| line.starts_with("accord ")), "accord-store must not depend on the application");
}

/// Each top-level module of the library in `src` (a file or a directory; the binary's `main`,
/// `cli` and `bench` sit above everything) and the top-level modules it names as `crate::…`
/// outside its tests.
fn module_uses(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if ["lib", "main", "cli", "bench"].contains(&name.as_str()) {
            continue;
        }
        let mut files = Vec::new();
        collect_rust_files(&path, &mut files);
        let found = uses.entry(name.clone()).or_default();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let code = &without_test_modules(&text);
            for (at, _) in code.match_indices("crate::") {
                let used: String =
                    code[at + "crate::".len()..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                let in_doc = code[..at].rsplit('\n').next().is_some_and(|line| line.trim_start().starts_with("//"));
                if !used.is_empty() && used != name && !in_doc {
                    found.insert(used);
                }
            }
        }
    }
    uses
}

/// `text` without its `#[cfg(test)]` items: from the attribute to the end of the braces that
/// follow it.
fn without_test_modules(text: &str) -> String {
    let mut kept = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        kept.push_str(&rest[..at]);
        let item = &rest[at..];
        let Some(open) = item.find('{') else { return kept };
        let mut depth = 0;
        let mut end = item.len();
        for (offset, c) in item[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => continue,
            }
            if depth == 0 {
                end = open + offset + 1;
                break;
            }
        }
        rest = &item[end..];
    }
    kept.push_str(rest);
    kept
}

fn collect_rust_files(path: &Path, files: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            collect_rust_files(&entry.unwrap().path(), files);
        }
    } else if path.extension().is_some_and(|ext| ext == "rs") {
        files.push(path.to_owned());
    }
}
