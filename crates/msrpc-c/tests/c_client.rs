//! The page's C code on Linux: examples/c/asyncrpc's clients, built with `cc -Wall -Werror
//! ... -lmsrpc_c` from the stubs of `msrpc idl --lang c`, against the Rust sample server on an
//! ephemeral loopback port.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

#[test]
fn page_snippet_event_client_against_the_rust_server() {
    let exe = build_example("event", "client_event.c", &[]);
    let srv = SampleServer::start();
    let port = srv.port.to_string();
    // AsyncFunc takes 2 s on the server; NonAsyncFunc is made and answered meanwhile.
    let r = run(&exe, &[&port, "2000"], &[], Duration::from_secs(60));
    let messages = srv.log.0.lock().unwrap().clone();
    srv.stop();
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("Calling the remote procedure 'AsyncFunc'")
            && r.stdout
                .contains("Calling the remote procedure 'NonAsyncFunc'"),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("While 'AsyncFunc' is running asynchronously"),
        "{r:?}"
    );
    // The overlap: the synchronous call came back while the asynchronous one was pending.
    assert!(
        r.stdout
            .contains("after NonAsyncFunc, AsyncFunc status 997 (still pending)"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("AsyncFunc completed: RpcAsyncCompleteCall returned 0"),
        "{r:?}"
    );
    // Shutdown is refused by the server with 5, raised in C and caught by RpcExcept.
    assert!(
        r.stdout
            .contains("Shutdown: Run time reported exception 0x5 = 5"),
        "{r:?}"
    );
    assert!(
        !r.stdout.contains("Run time reported exception 0x6"),
        "{r:?}"
    );
    assert_eq!(messages, vec!["hello from the page's C code".to_string()]);
}

#[test]
fn the_client_gets_a_connection_failure_as_an_exception() {
    let exe = build_example("event-refused", "client_event.c", &[]);
    // A port nothing listens on: bind one, note it, close it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = run(
        &exe,
        &[&port.to_string(), "10"],
        &[],
        Duration::from_secs(60),
    );
    // AsyncFunc fails as it is made: RPC_S_SERVER_UNAVAILABLE (1722 = 0x6ba) is raised and
    // caught, and the handle carries no call (RpcAsyncGetCallStatus: 1914), so no notification
    // will come (the page's note).
    assert!(
        r.stdout
            .contains("AsyncFunc: Run time reported exception 0x6ba = 1722"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("NonAsyncFunc: Run time reported exception 0x6ba = 1722"),
        "{r:?}"
    );
    assert!(r.stdout.contains("AsyncFunc status 1914"), "{r:?}");
    assert!(r.stdout.contains("AsyncFunc was never made"), "{r:?}");
    assert_eq!(r.code, Some(1), "{r:?}");
}

/// Runs one style's client against `port` and checks the lines every client prints.
fn run_style(exe: &std::path::Path, port: u16) -> Run {
    let r = run(
        exe,
        &[&port.to_string(), "1000"],
        &[],
        Duration::from_secs(60),
    );
    assert_eq!(r.code, Some(0), "{}: {r:?}", exe.display());
    for want in [
        "after NonAsyncFunc, AsyncFunc status 997 (still pending)",
        "AsyncFunc completed: RpcAsyncCompleteCall returned 0",
        "Shutdown: Run time reported exception 0x5 = 5",
    ] {
        assert!(r.stdout.contains(want), "{}: {want}: {r:?}", exe.display());
    }
    r
}

#[test]
fn every_notification_style_in_c() {
    let exes: Vec<_> = ["polling", "apc", "ioc", "hwnd", "callback"]
        .iter()
        .map(|s| build_example(&format!("style-{s}"), &format!("client_{s}.c"), &[]))
        .collect();
    let srv = SampleServer::start();
    let port = srv.port;
    let out: Vec<Run> = exes.iter().map(|e| run_style(e, port)).collect();
    let messages = srv.log.0.lock().unwrap().len();
    srv.stop();
    assert_eq!(messages, 5, "one NonAsyncFunc per client");
    // Polling: the status went from 997 to 0 without a notification.
    assert!(
        out[0].stdout.contains("RpcAsyncGetCallStatus returned 0"),
        "{:?}",
        out[0]
    );
    // APC: not run by a plain Sleep although the call had completed; run by SleepEx (0xC0,
    // WAIT_IO_COMPLETION) with the handle and RpcCallComplete, and so was the user APC.
    assert!(
        out[1]
            .stdout
            .contains("after a plain Sleep: status 0, APC ran: no"),
        "{:?}",
        out[1]
    );
    assert!(
        out[1]
            .stdout
            .contains("SleepEx returned 0xc0; APC: handle ok, event 0; user APC data 0x5150"),
        "{:?}",
        out[1]
    );
    // IOC: the packet carries the handle's three values.
    assert!(
        out[2]
            .stdout
            .contains("GetQueuedCompletionStatus: 1 bytes=42 key=7 overlapped ok"),
        "{:?}",
        out[2]
    );
    // HWND: nothing queued before completion, then the message with the handle in lParam.
    assert!(
        out[3].stdout.contains("PeekMessage before completion: 0"),
        "{:?}",
        out[3]
    );
    assert!(
        out[3]
            .stdout
            .contains("GetMessage: 1 message 0x401 lParam ok"),
        "{:?}",
        out[3]
    );
    // Callback: completed on the runtime's thread; completing again is 1914.
    assert!(
        out[4].stdout.contains("second RpcAsyncCompleteCall: 1914"),
        "{:?}",
        out[4]
    );
}
