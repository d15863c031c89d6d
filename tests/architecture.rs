//! The library's layers point one way (ARCHITECTURE.md): no module of `src/` uses a module of a
//! layer above its own, and no two top-level modules use each other. Read from the source: every
//! `crate::…` path outside comments, with the crate root's re-exports (`crate::Gate`) resolved
//! to the module they come from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may use modules of its own layer or below.
const LAYERS: &[&[&str]] = &[
    &["error", "clock", "json", "alg"],
    &["keys"],
    &["claims", "validate", "token", "dangerous"],
    &["store", "session"],
    &["gate"],
    &["axum", "server"],
];

fn layer(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&module))
        .unwrap_or_else(|| panic!("module {module} is in no layer: add it to LAYERS"))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `name` → module for the crate root's `pub use module::{name, …}` lines.
fn root_exports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.strip_prefix("pub use ") else {
            continue;
        };
        let (module, names) = rest.split_once("::").unwrap();
        for name in names
            .trim_end_matches(';')
            .trim_matches(|c| c == '{' || c == '}')
            .split(',')
        {
            out.insert(name.trim().to_string(), module.to_string());
        }
    }
    out
}

/// The top-level modules one source line names through `crate::`.
fn used(line: &str, exports: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in line.match_indices("crate::") {
        let rest = &line[at + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::c}`: the first segment of each item.
            group
                .split('}')
                .next()
                .unwrap()
                .split(',')
                .map(|item| item.trim().split("::").next().unwrap())
                .collect()
        } else {
            vec![
                rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap(),
            ]
        };
        for name in names.into_iter().filter(|n| !n.is_empty()) {
            match exports.get(name) {
                Some(module) => out.push(module.clone()),
                None => out.push(name.to_string()),
            }
        }
    }
    out
}

#[test]
fn layers_point_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let exports = root_exports(&std::fs::read_to_string(root.join("lib.rs")).unwrap());
    let mut files = Vec::new();
    sources(&root, &mut files);
    // (from, to) → where.
    let mut uses: BTreeMap<(String, String), String> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap();
        let from = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if from == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for to in used(line, &exports) {
                if to != from {
                    uses.entry((from.clone(), to))
                        .or_insert_with(|| format!("{}:{}", relative.display(), n + 1));
                }
            }
        }
    }
    let mut wrong = BTreeSet::new();
    for ((from, to), at) in &uses {
        if layer(to) > layer(from) {
            wrong.insert(format!("{from} uses {to}, a layer above it ({at})"));
        }
        if let Some(back) = uses.get(&(to.clone(), from.clone()))
            && from < to
        {
            wrong.insert(format!("{from} and {to} use each other ({at}; {back})"));
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", {
        let lines: Vec<String> = wrong.into_iter().collect();
        lines.join("\n")
    });
}

#[test]
fn the_reader_sees_paths_as_written() {
    let exports = root_exports("pub use gate::{Gate, Revoked};\npub use error::Error;");
    assert_eq!(
        used("use crate::{Gate, store::Store};", &exports),
        ["gate", "store"]
    );
    assert_eq!(
        used("x: crate::Error, y: crate::keys::Namespace", &exports),
        ["error", "keys"]
    );
}
