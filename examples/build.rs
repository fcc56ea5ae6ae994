//! Generates the srvsvc client of `crates/msrpc/idl/srvsvc.idl` for `srvsvc_np`, as a user crate's build.rs would.

fn main() {
    let idl = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/msrpc/idl");
    println!("cargo:rerun-if-changed=build.rs");
    println!(
        "cargo:rerun-if-changed={}",
        idl.join("srvsvc.idl").display()
    );
    msrpc_idl::Builder::new()
        .include_dir(&idl)
        .compile(&[idl.join("srvsvc.idl")], &[] as &[std::path::PathBuf])
        .unwrap_or_else(|e| panic!("IDL compile failed:\n{e}"));
}
