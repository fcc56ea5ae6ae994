//! Generates the srvsvc subset (crates/msrpc/idl/srvsvc.idl) and a linked list (fuzz/idl/list.idl) for
//! the ndr_generated target, against msrpc's public codegen module.

use std::path::PathBuf;

fn main() {
    let idl = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/msrpc/idl");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=idl/list.idl");
    msrpc_idl::Builder::new()
        .runtime_path("::msrpc::codegen")
        .include_dir(&idl)
        .compile(
            &[
                idl.join("srvsvc.idl"),
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("idl/list.idl"),
            ],
            &[] as &[PathBuf],
        )
        .unwrap_or_else(|e| panic!("IDL compile failed:\n{e}"));
}
