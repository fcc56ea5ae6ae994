//! Golden-file tests: every fixture IDL (and the IDL files msrpc ships, in `crates/msrpc/idl/`)
//! is compiled and compared with the committed `.rs` beside it. Any difference fails the test.
//! Run with `MSRPC_BLESS=1` to rewrite the expected files after an intended change.
//!
//! The goldens are generated with exactly the options `crates/msrpc/build.rs` uses
//! (`runtime_path("crate::codegen")`), so the shipped ones are byte for byte what msrpc compiles
//! (`crates/msrpc/tests/generated_stubs.rs` checks that), and `tests/roundtrip.rs` can `include!`
//! them against a stand-in runtime module mounted at `crate::codegen`.

use std::path::{Path, PathBuf};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn builder() -> msrpc_idl::Builder {
    msrpc_idl::Builder::new()
        .runtime_path("crate::codegen")
        .include_dir(manifest_dir().join("../msrpc/idl"))
}

/// Where a shipped IDL file lives: the AsyncRPC sample's in the crate that compiles it
/// (`crates/msrpc-sample`), the others in msrpc's `idl/`.
fn shipped_idl(stem: &str) -> PathBuf {
    let dir = if stem == "asyncrpc" {
        "../msrpc-sample/idl"
    } else {
        "../msrpc/idl"
    };
    manifest_dir().join(dir).join(format!("{stem}.idl"))
}

fn check(idl: &Path, acf: Option<&Path>, expected: &Path, failures: &mut Vec<String>) {
    let got = match builder().generate(idl, acf) {
        Ok(code) => code,
        Err(d) => {
            failures.push(format!("{} did not compile:\n{d}", idl.display()));
            return;
        }
    };
    if std::env::var_os("MSRPC_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(expected, &got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(expected).unwrap_or_default();
    if want != got {
        let first = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| want.lines().count().min(got.lines().count()));
        failures.push(format!(
            "{} differs from {} at line {}:\n  expected: {:?}\n  got:      {:?}\n(rerun with MSRPC_BLESS=1 to accept)",
            idl.display(),
            expected.display(),
            first + 1,
            want.lines().nth(first).unwrap_or("<end of file>"),
            got.lines().nth(first).unwrap_or("<end of file>"),
        ));
    }
}

fn with_acf(idl: &Path) -> Option<PathBuf> {
    let acf = idl.with_extension("acf");
    acf.is_file().then_some(acf)
}

#[test]
fn fixtures_match_goldens() {
    let dir = manifest_dir().join("tests/fixtures");
    let mut idls: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "idl"))
        .collect();
    idls.sort();
    assert!(!idls.is_empty());
    let mut failures = Vec::new();
    for idl in &idls {
        let acf = with_acf(idl);
        check(
            idl,
            acf.as_deref(),
            &idl.with_extension("rs"),
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn shipped_idl_matches_goldens() {
    let mut failures = Vec::new();
    for stem in ["asyncrpc", "mgmt", "epm", "srvsvc"] {
        let idl = shipped_idl(stem);
        let acf = with_acf(&idl);
        let expected = manifest_dir().join(format!("tests/fixtures/shipped/{stem}.rs"));
        check(&idl, acf.as_deref(), &expected, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn async_server_matches_golden() {
    async_server_golden(&shipped_idl("asyncrpc"));
    async_server_golden(&manifest_dir().join("tests/fixtures/contexts.idl"));
}

fn async_server_golden(idl: &Path) {
    let acf = with_acf(idl);
    let stem = idl.file_stem().expect("stem").to_string_lossy();
    let expected = manifest_dir().join(format!("tests/fixtures/async_server/{stem}.rs"));
    let got = builder()
        .async_server(true)
        .generate(idl, acf.as_deref())
        .expect("compiles");
    if std::env::var_os("MSRPC_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(expected.parent().expect("dir")).expect("mkdir");
        std::fs::write(&expected, &got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&expected).unwrap_or_default();
    assert!(
        want == got,
        "{} is stale; rerun with MSRPC_BLESS=1",
        expected.display()
    );
}

#[test]
fn client_layer_is_on_by_default_and_can_be_turned_off() {
    let idl = shipped_idl("asyncrpc");
    let acf = with_acf(&idl);
    let with = builder().generate(&idl, acf.as_deref()).expect("compiles");
    assert!(with.contains("pub struct Client<C>"));
    assert!(
        with.contains("pub async fn async_func_start("),
        "[async] gets the AsyncState form"
    );
    assert!(
        with.contains("pub fn async_func_start_blocking("),
        "and its blocking form"
    );
    assert!(!with.contains("fn non_async_func_start"));
    let without = builder()
        .client(false)
        .generate(&idl, acf.as_deref())
        .expect("compiles");
    assert!(!without.contains("pub struct Client<C>"));
    assert!(without.contains("pub struct Service<S: ?Sized>"));
}

#[test]
fn context_handle_operations_get_client_contexts_and_the_call() {
    let idl = manifest_dir().join("tests/fixtures/contexts.idl");
    let code = builder().generate(&idl, None).expect("compiles");
    // Client: ClientContext in and out, routed over the handle's binding.
    assert!(code.contains("pub struct GetArgs<B>"));
    assert!(code.contains("pub counter: rt::ClientContext<B>"));
    assert!(code.contains("pub struct CloseOutput<B>"));
    assert!(
        !code.contains("pub struct GetOutput"),
        "no [out] handle: GetResponse"
    );
    assert!(code.contains("args.counter.check_in(\"Get\", \"counter\", false)?"));
    assert!(code.contains("args.counter.check_in(\"Close\", \"counter\", true)?"));
    assert!(code.contains("rt::ClientContext::route(&[&args.to, &args.from])"));
    // Server: managers get the call; dispatch takes it.
    assert!(code.contains("call: &rt::IncomingCall,\n                req: GetRequest,"));
    assert!(code.contains("rt::serve_blocking_call("));
    // Explicit handle_t: ClientContext in and out too, but the call goes over the client's own
    // binding (the explicit handle), not routed by the handles (epm).
    let epm = builder()
        .generate(&manifest_dir().join("../msrpc/idl/epm.idl"), None)
        .expect("compiles");
    assert!(epm.contains("pub entry_handle: rt::ClientContext<B>"));
    assert!(epm.contains("args: EptMapArgs<<C as rt::ContextCall>::Association>"));
    assert!(epm.contains("EptMapOutput<<C as rt::ContextCall>::Association>"));
    assert!(epm.contains("args.entry_handle.check_in(\"ept_map\", \"entry_handle\", true)?"));
    assert!(
        !epm.contains("ClientContext::route"),
        "the explicit handle is the binding"
    );
    // [async] with context handles: the AsyncState forms take the same Args (features.idl's Draw).
    let features = builder()
        .generate(
            &manifest_dir().join("tests/fixtures/features.idl"),
            Some(&manifest_dir().join("tests/fixtures/features.acf")),
        )
        .expect("compiles");
    assert!(features.contains(
        "state: &rt::AsyncState<DrawResponse>,\n                args: DrawArgs<<C as rt::ContextCall>::Association>,"
    ));
    // async_server: the future borrows the call, which the runtime keeps until it is done
    // (fixtures/async_server/contexts.rs, run by crates/msrpc/tests/client_context.rs).
    let code = builder()
        .async_server(true)
        .generate(&idl, None)
        .expect("compiles");
    assert!(code.contains("rt::serve_future_call("));
}

#[test]
fn builder_writes_one_file_per_idl_into_out_dir() {
    let out = std::env::temp_dir().join(format!("msrpc-idl-test-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("mkdir");
    let (asyncrpc_idl, mgmt_idl) = (shipped_idl("asyncrpc"), shipped_idl("mgmt"));
    let asyncrpc_acf = asyncrpc_idl.with_extension("acf");
    builder()
        .out_dir(&out)
        .emit_rerun_if_changed(false)
        .compile(&[&asyncrpc_idl, &mgmt_idl], &[&asyncrpc_acf])
        .expect("compiles");
    let asyncrpc = std::fs::read_to_string(out.join("asyncrpc.rs")).expect("asyncrpc.rs");
    assert!(asyncrpc.contains("is_async: true"), "the ACF was applied");
    assert!(out.join("mgmt.rs").is_file());
    // compile_to_string (the CLI's entry point) gives the same text for default options.
    let cli = msrpc_idl::compile_to_string(&asyncrpc_idl, Some(&asyncrpc_acf)).expect("compiles");
    assert!(cli.contains("use ::msrpc::codegen as rt;"));
    assert!(cli.contains("rt::InterfaceDescriptor"));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn the_accept_hook_steps_aside_for_an_operation_named_accept() {
    let idl = "[uuid(0b9c2f4e-4d61-4f1c-9a5e-7c3d2b1a0f99), version(1.0)]\n\
               interface Gate { long Accept([in] long n); long Other([in] long n); }\n";
    let code = builder()
        .generate_from_str("gate.idl", idl, None)
        .expect("compiles");
    assert!(
        code.contains("fn accept(\n                &self,\n                req: AcceptRequest,")
    );
    assert!(code.contains(
        "fn accept_(\n                &self,\n                call: &mut rt::IncomingCall,"
    ));
    assert!(code.contains("self.0.accept_(&mut call)"));
    // Without the clash the hook is `accept`.
    let plain = builder()
        .generate_from_str("gate.idl", &idl.replace("Accept", "Admit"), None)
        .expect("compiles");
    assert!(plain.contains("self.0.accept(&mut call)"));
}
