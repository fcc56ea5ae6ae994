//! `msrpc idl`: compiles the shipped IDL to the same Rust as the library, and reports bad input
//! with exit code 2 and a `file:line:col` diagnostic with a caret.

use std::process::Command;

fn msrpc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_msrpc"))
}

/// The AsyncRPC sample's IDL and ACF (msrpc-sample's).
fn idl_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../msrpc-sample/idl")
}

/// msrpc's shipped IDL (srvsvc imports from there).
fn msrpc_idl_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../msrpc/idl")
}

#[test]
fn compiles_idl_with_its_acf_to_stdout_and_to_a_file() {
    let idl = idl_dir();
    let out = msrpc()
        .arg("idl")
        .arg(idl.join("asyncrpc.idl"))
        .output()
        .expect("run msrpc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let lib =
        msrpc_idl::compile_to_string(idl.join("asyncrpc.idl"), Some(&idl.join("asyncrpc.acf")))
            .expect("compiles");
    assert_eq!(
        text, lib,
        "the ACF beside the IDL is picked up, as MIDL does"
    );
    assert!(text.contains("pub async fn async_func_start("));
    assert!(text.contains("pub fn async_func_start_blocking("));

    let file = std::env::temp_dir().join(format!("msrpc-idl-cli-{}.rs", std::process::id()));
    let st = msrpc()
        .arg("idl")
        .args(["-I"])
        .arg(msrpc_idl_dir())
        .arg(msrpc_idl_dir().join("srvsvc.idl"))
        .arg("-o")
        .arg(&file)
        .status()
        .expect("run msrpc");
    assert!(st.success());
    let written = std::fs::read_to_string(&file).expect("written");
    assert!(written.contains("pub mod srvsvc"));
    std::fs::remove_file(&file).ok();
}

#[test]
fn bad_idl_exits_2_with_a_located_diagnostic() {
    let file = std::env::temp_dir().join(format!("msrpc-idl-cli-bad-{}.idl", std::process::id()));
    std::fs::write(
        &file,
        "[uuid(12345678-1234-abcd-ef00-0123456789ab), version(1.0)] interface x {\n    void f([in] pipe int p);\n}\n",
    )
    .expect("write");
    let out = msrpc().arg("idl").arg(&file).output().expect("run msrpc");
    std::fs::remove_file(&file).ok();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(":2:17: error: a pipe type must be declared with `typedef pipe T NAME;`"),
        "{err}"
    );
    assert!(err.contains("^^^^"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn lang_c_writes_the_three_files() {
    let dir = std::env::temp_dir().join(format!("msrpc-idl-c-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let idl = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/c/asyncrpc/asyncrpc.idl"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_msrpc"))
        .args(["idl", "--lang", "c", idl, "-o"])
        .arg(&dir)
        .output()
        .expect("msrpc runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h = std::fs::read_to_string(dir.join("asyncrpc.h")).expect("asyncrpc.h");
    // The ACF beside the IDL was found: the implicit handle and the [async] form.
    assert!(
        h.contains("extern handle_t AsyncRPC_ClientIfHandle;"),
        "{h}"
    );
    assert!(
        h.contains("void AsyncFunc(PRPC_ASYNC_STATE AsyncFunc_AsyncHandle"),
        "{h}"
    );
    assert!(dir.join("asyncrpc_c.c").is_file() && dir.join("asyncrpc_s.c").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}
