//! Misuse from C gets Windows' codes, never a crash: examples/c/asyncrpc/misuse.c against the
//! Rust sample server (an uninitialised or garbage handle, a wrong Size, a pending handle reused
//! (1914), completing twice, cancels of both kinds, made-up bindings and handles), and an
//! exception nobody catches ends the process with a message.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

#[test]
fn misuse_gets_windows_codes() {
    let exe = build_example("misuse", "misuse.c", &[]);
    let srv = SampleServer::start();
    let r = run(
        &exe,
        &[&srv.port.to_string()],
        &[],
        Duration::from_secs(120),
    );
    srv.stop();
    let oks = r.stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(!r.stdout.contains("FAIL"), "{}", r.stdout);
    assert_eq!(oks, 53, "{}", r.stdout);
    assert_eq!(r.code, Some(0), "{r:?}");
    for line in [
        "ok second call on the pending handle: got 1914",
        "ok complete twice: got 1914",
        "ok reuse after completion without re-initialising: got 1914",
        "ok the re-initialised handle carries a call: got 0",
        "ok initialize with Size too small: got 87",
        "ok call on a zeroed handle: got 1914",
        "ok the server's answer to the cancel: got 1818",
        "ok completed at once as cancelled: got 1818",
        "ok it ends at the timeout as cancelled: got 1818",
    ] {
        assert!(r.stdout.contains(line), "{line}: {}", r.stdout);
    }
}

#[test]
fn an_unhandled_exception_aborts_with_its_code() {
    let exe = build_example("unhandled", "misuse.c", &[]);
    // No server needed: the raise comes first.
    let r = run(&exe, &["1", "unhandled"], &[], Duration::from_secs(30));
    assert_eq!(r.code, None, "killed by SIGABRT: {r:?}");
    assert!(
        r.stderr
            .contains("libmsrpc_c: unhandled RPC exception 0x6f7 (1783)"),
        "{r:?}"
    );
}
