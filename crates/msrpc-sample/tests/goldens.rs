//! The stubs `build.rs` generates are msrpc-idl's committed goldens for the shipped AsyncRPC IDL
//! (`crates/msrpc-idl/tests/fixtures/shipped/asyncrpc.rs` and `async_server/asyncrpc.rs`), but for
//! the runtime path: the goldens name `crate::codegen` (so msrpc-idl's tests can mount a stand-in
//! runtime there), this crate the default `::msrpc::codegen`.

fn check(built: &str, golden: &str) {
    let built = std::fs::read_to_string(format!("{}/{built}", env!("OUT_DIR"))).expect("built");
    let path = format!(
        "{}/../msrpc-idl/tests/fixtures/{golden}",
        env!("CARGO_MANIFEST_DIR")
    );
    let golden = std::fs::read_to_string(&path).expect("golden");
    let from = "use crate::codegen as rt;";
    assert_eq!(
        golden.matches(from).count(),
        1,
        "{path} names its runtime once"
    );
    assert!(
        built == golden.replace(from, "use ::msrpc::codegen as rt;"),
        "build.rs output differs from {path}; run `MSRPC_BLESS=1 cargo test -p msrpc-idl --test golden`"
    );
}

#[test]
fn generated_stubs_match_the_committed_goldens() {
    check("asyncrpc.rs", "shipped/asyncrpc.rs");
    check("asyncrpc_future.rs", "async_server/asyncrpc.rs");
}
