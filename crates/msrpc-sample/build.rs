//! Generates the AsyncRPC stubs from idl/asyncrpc.idl and idl/asyncrpc.acf into OUT_DIR: once with
//! blocking manager routines (`asyncrpc.rs`) and once with `async fn` ones (`asyncrpc_future.rs`).

use std::path::PathBuf;

fn main() {
    let idl = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("idl");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-changed=build.rs");
    let (file, acf) = (idl.join("asyncrpc.idl"), idl.join("asyncrpc.acf"));
    for (async_server, name) in [(false, "asyncrpc.rs"), (true, "asyncrpc_future.rs")] {
        let code = msrpc_idl::Builder::new()
            .include_dir(&idl)
            .async_server(async_server)
            .generate(&file, Some(&acf))
            .unwrap_or_else(|e| panic!("IDL compile failed:\n{e}"));
        std::fs::write(out.join(name), code).expect("write the generated stubs");
    }
    println!("cargo:rerun-if-changed={}", file.display());
    println!("cargo:rerun-if-changed={}", acf.display());
}
