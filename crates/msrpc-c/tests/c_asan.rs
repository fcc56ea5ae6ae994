//! examples/c/asyncrpc's clients and misuse.c under AddressSanitizer (with LeakSanitizer): no
//! error and no leak. A control program that leaks proves the sanitizer reports leaks here.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

const ASAN: &[&str] = &["-fsanitize=address", "-fno-omit-frame-pointer"];

#[test]
fn clients_under_address_sanitizer() {
    // The control: LeakSanitizer is active in this environment.
    let dir = scratch("asan-control");
    std::fs::write(
        dir.join("leak.c"),
        "#include <stdlib.h>\nint main(void) { void *volatile p = malloc(77); p = 0; (void)p; return 0; }\n",
    )
    .unwrap();
    cc(&dir, &[dir.join("leak.c")], &dir.join("leak"), ASAN);
    let r = run(&dir.join("leak"), &[], &[], Duration::from_secs(30));
    assert!(
        r.stderr
            .contains("ERROR: LeakSanitizer: detected memory leaks"),
        "the control leak is reported: {r:?}"
    );

    let programs = [
        "client_event.c",
        "client_polling.c",
        "client_apc.c",
        "client_ioc.c",
        "client_hwnd.c",
        "client_callback.c",
        "misuse.c",
    ];
    let exes: Vec<_> = programs
        .iter()
        .map(|p| build_example(&format!("asan-{p}"), p, ASAN))
        .collect();
    let srv = SampleServer::start();
    let port = srv.port.to_string();
    let runs: Vec<Run> = exes
        .iter()
        .map(|e| {
            run(
                e,
                &[&port, "300"],
                &[("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")],
                Duration::from_secs(120),
            )
        })
        .collect();
    srv.stop();
    for (p, r) in programs.iter().zip(&runs) {
        assert_eq!(r.code, Some(0), "{p}: {r:?}");
        assert!(!r.stderr.contains("Sanitizer"), "{p}: {}", r.stderr);
    }
}

#[test]
fn auth_client_and_win32_threads_under_address_sanitizer() {
    // win32_threads.c: threads, ExitThread's longjmp, APCs to other threads, named events.
    let dir = scratch("asan-threads");
    let threads = dir.join("win32_threads");
    cc(
        &dir,
        &[root().join("crates/msrpc-c/tests/fixtures/win32_threads.c")],
        &threads,
        &[ASAN, &["-pthread"]].concat(),
    );
    let r = run(
        &threads,
        &[],
        &[("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")],
        Duration::from_secs(120),
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(!r.stderr.contains("Sanitizer"), "{}", r.stderr);

    // auth_client.c: RpcBindingSetAuthInfo A, W and Ex (with its misuse) against the sample
    // server (no accounts there: the logon is refused, 5, which exercises the failure paths).
    let stubs = asyncrpc_stubs("asan-auth");
    let exe = stubs.join("auth_client");
    cc(
        &stubs,
        &[
            root().join("crates/msrpc-c/tests/fixtures/auth_client.c"),
            stubs.join("asyncrpc_c.c"),
        ],
        &exe,
        ASAN,
    );
    let srv = SampleServer::start();
    let port = srv.port.to_string();
    let runs: Vec<Run> = ["A", "W", "EX", "NONE"]
        .iter()
        .map(|form| {
            run(
                &exe,
                &[&port, form, "6", "CORP\\alice", "pw"],
                &[("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")],
                Duration::from_secs(120),
            )
        })
        .collect();
    srv.stop();
    for r in &runs {
        assert_eq!(r.code, Some(0), "{r:?}");
        assert!(!r.stderr.contains("Sanitizer"), "{}", r.stderr);
        assert!(r.stdout.contains("call: "), "{r:?}");
    }
}
