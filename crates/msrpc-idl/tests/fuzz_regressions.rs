//! Inputs the fuzzer (`fuzz/fuzz_targets/idl_parse.rs`) found, kept as regression tests: each must
//! end in diagnostics or code quickly, never in a panic, a hang or unbounded memory.

use std::path::Path;

fn compile(path: &Path) -> Result<String, msrpc_idl::Diagnostics> {
    msrpc_idl::Builder::new().generate(path, None)
}

/// A macro whose body names macros that expand again: before the fix, the expansion grew
/// exponentially (6 GiB). Now a macro is not re-expanded inside itself, and expansion is capped.
#[test]
fn macro_expansion_is_bounded() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions/macro-blowup.idl");
    let err = compile(&path).expect_err("the input is not valid IDL");
    assert!(err.to_string().contains("macro-blowup.idl:"), "{err}");
}

#[test]
fn self_referential_macros_expand_once() {
    let dir = std::env::temp_dir().join(format!("msrpc-idl-regress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("selfref.idl");
    // In C, `A` inside its own expansion stays `A`: `A` becomes `A A A` exactly once.
    let text = "#define A A A A A A A A A A\n#define B A B A B A B\n\
        [uuid(12345678-1234-1234-1234-123456789abc), version(1.0)]\n\
        interface x { void f([in] handle_t h, [in] long B); }\n";
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    let r = compile(&path);
    let _ = std::fs::remove_dir_all(&dir);
    let err = r.expect_err("`A A ...` is not a parameter name");
    assert!(err.to_string().contains("selfref.idl:4:"), "{err}");
}
