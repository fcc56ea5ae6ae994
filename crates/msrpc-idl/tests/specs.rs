//! The specifications' full IDL (tests/specs/, transcribed by scripts/openspecs-idl.py; see its
//! README) through the compiler the way msrpc-windows' build.rs runs it: the MS-DTYP prelude
//! shared, the specs directory as include directory, parse + check + Rust generation.
//!
//! Each file compiles, or is in `KNOWN_FAILURES` with the first line of its exact error, so this
//! fails both when a fix lands (take the file off the list) and when a new failure appears.

use std::path::{Path, PathBuf};

/// (file stem, first line of the error, the construct MIDL accepts and msrpc-idl does not).
const KNOWN_FAILURES: &[(&str, &str, &str)] = &[];

fn specs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs")
}

fn compile(path: &Path) -> Result<String, String> {
    msrpc_idl::Builder::new()
        .include_dir(specs_dir())
        .shared_prelude("crate::dtyp")
        .generate(path, None)
        .map_err(|d| d.to_string())
}

#[test]
fn every_transcribed_spec_compiles_or_is_a_known_failure() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(specs_dir())
        .expect("tests/specs")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "idl"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 14,
        "{} IDL files in tests/specs",
        files.len()
    );
    let mut ok = 0;
    let mut problems = Vec::new();
    for path in &files {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let known = KNOWN_FAILURES.iter().find(|(s, _, _)| *s == stem);
        match (compile(path), known) {
            (Ok(code), None) => {
                assert!(code.contains("pub "), "{stem}: no items generated");
                ok += 1;
            }
            (Ok(_), Some(_)) => {
                problems.push(format!("{stem} now compiles: take it off KNOWN_FAILURES"))
            }
            (Err(e), None) => problems.push(format!("{stem} does not compile:\n{e}")),
            (Err(e), Some((_, want, _))) => {
                let first = e.lines().next().unwrap_or_default();
                // Diagnostics name the file by its full path; compare from the file name on.
                let first = first.rsplit('/').next().unwrap_or(first);
                if first != *want {
                    problems.push(format!(
                        "{stem}: error changed:\n  was {want}\n  now {first}"
                    ));
                }
            }
        }
    }
    println!("{ok} of {} compile", files.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn known_failures_name_existing_files() {
    for (stem, _, why) in KNOWN_FAILURES {
        assert!(
            specs_dir().join(format!("{stem}.idl")).is_file(),
            "{stem}.idl missing"
        );
        assert!(!why.is_empty(), "{stem}: give the construct");
    }
}
