//! The crate's layers import one way: each module uses only the modules below it (see the
//! layout in `src/lib.rs`). Checked on the source, outside `#[cfg(test)]` code and comments.

use std::collections::BTreeSet;
use std::path::Path;

/// Each module and what it may import from the crate.
const ALLOWED: &[(&str, &[&str])] = &[
    ("http", &[]),
    ("wake", &[]),
    ("metrics", &[]),
    ("on_loop", &[]),
    ("nonblocking", &[]),
    ("logging", &["metrics"]),
    ("app", &["http", "wake", "metrics", "on_loop", "logging"]),
    ("server", &["app", "http", "wake", "metrics", "on_loop", "logging", "nonblocking"]),
    ("testing", &["app", "server", "http"]),
    ("store", &["metrics"]),
    ("db", &["store", "wake", "on_loop", "nonblocking", "metrics"]),
    ("site", &["app", "http", "store", "db", "metrics", "wake"]),
    ("config", &["app", "server", "site", "db", "http"]),
];

/// The crate modules `source` names as `crate::module`, ignoring comments and test code.
fn imports(source: &str) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = BTreeSet::new();
    for line in code.lines().filter(|line| !line.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let rest = &line[i + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            found.insert(name);
        }
    }
    found
}

fn sources(path: &Path, out: &mut Vec<String>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            sources(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(std::fs::read_to_string(path).unwrap());
    }
}

#[test]
fn every_module_imports_only_from_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for (module, allowed) in ALLOWED {
        let dir = src.join(module);
        let path = if dir.is_dir() { dir } else { src.join(format!("{module}.rs")) };
        let mut files = Vec::new();
        sources(&path, &mut files);
        assert!(!files.is_empty(), "no source for {module}");
        let used: BTreeSet<String> = files.iter().flat_map(|f| imports(f)).collect();
        for name in used.iter().filter(|n| *n != module && !allowed.contains(&n.as_str())) {
            wrong.push(format!("{module} imports {name}"));
        }
    }
    assert!(wrong.is_empty(), "imports against the layers: {wrong:?}");
}
