//! Generates the stubs of the interfaces msrpc ships (this crate's idl/) into OUT_DIR with
//! msrpc-idl. Reruns only when a file in idl/ (or this script, or msrpc-idl) changes.

use std::path::PathBuf;

fn main() {
    let idl = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("idl");
    println!("cargo:rerun-if-changed=build.rs");
    // The same options as msrpc-idl's golden test for the shipped stubs (tests/golden.rs), so the
    // committed goldens are exactly what is compiled here (tests/generated_stubs.rs checks it).
    msrpc_idl::Builder::new()
        .runtime_path("crate::codegen")
        .include_dir(&idl)
        .compile(
            &[
                idl.join("mgmt.idl"),
                idl.join("epm.idl"),
                idl.join("srvsvc.idl"),
            ],
            &[] as &[PathBuf],
        )
        .unwrap_or_else(|e| panic!("IDL compile failed:\n{e}"));
}
