//! Keeps the protocol core free of I/O, clocks and async runtimes (it is sans-IO): greps the
//! crate's sources and manifest.

use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "std::net",
    "tokio",
    "std::fs",
    "std::io::Read",
    "std::io::Write",
    "Instant::now",
    "SystemTime::now",
    "std::thread::sleep",
    "async fn",
    ".await",
];

fn scan(dir: &Path, hits: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            scan(&path, hits);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read source");
            for (i, line) in text.lines().enumerate() {
                // Doc examples may show how a runtime drives the machine with a real clock.
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for f in FORBIDDEN {
                    if line.contains(f) {
                        hits.push(format!("{}:{}: {f}", path.display(), i + 1));
                    }
                }
            }
        }
    }
}

#[test]
fn sources_are_free_of_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut hits = Vec::new();
    scan(&root.join("src"), &mut hits);
    assert!(
        hits.is_empty(),
        "I/O in the sans-IO core:\n{}",
        hits.join("\n")
    );
}

#[test]
fn manifest_has_no_runtime_dependencies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("read manifest");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap_or("")
        .split("\n[")
        .next()
        .unwrap_or("");
    for f in ["tokio", "async-std", "smol", "mio", "socket2"] {
        assert!(!deps.contains(f), "runtime dependency {f} in msrpc-proto");
    }
}
