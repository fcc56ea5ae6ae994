//! The IDL compiler fed arbitrary text as an IDL file: no panic, no hang; either Rust code or
//! diagnostics with a position. The compiler reads files, so the input goes through a file in a
//! per-process temporary directory.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("msrpc-idl-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch directory");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = scratch().join("input.idl");
    std::fs::write(&path, text).expect("write the input");
    match msrpc_idl::Builder::new().generate(&path, None) {
        Ok(code) => assert!(!code.is_empty()),
        Err(diags) => assert!(!diags.to_string().is_empty()),
    }
});
