//! The C server (examples/c/asyncrpc/server.c, written as a Windows programmer writes one) called
//! by msrpc's Rust client (sync, [async] completed from the manager's thread, both kinds of
//! cancel, Shutdown stopping the server) and by the C client.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use msrpc::notify::{AsyncState, CancelMode, Event, Notification};
use msrpc::{Binding, Win32Status};

use common::*;

/// The Rust stubs of tests/fixtures/status.idl with status.acf (kept current by
/// `the_status_rust_stubs_are_current`).
#[allow(
    clippy::all,
    clippy::pedantic,
    dead_code,
    unreachable_pub,
    missing_debug_implementations
)]
mod status_idl {
    include!("fixtures/status_gen.rs");
}

fn build_server(name: &str) -> (PathBuf, PathBuf) {
    let (dir, exe) = build_with_sample(
        name,
        "examples/c/asyncrpc/server.c",
        "asyncrpc_s.c",
        &["-pthread"],
    );
    (dir, exe)
}

/// Starts the C server on an ephemeral loopback port (endpoint "0") and reads the port from the
/// line libmsrpc_c prints when it listens (bounded wait).
fn start(exe: &PathBuf, dir: &std::path::Path) -> (Child, u16, PathBuf) {
    let out = dir.join("server.out");
    let err = dir.join("server.err");
    let child = Command::new(exe)
        .arg("0")
        .env("LD_LIBRARY_PATH", lib_dir())
        .env("MSRPC_LISTEN_ADDRESS", "127.0.0.1")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let port = listening_port(&err, None);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    (child, port, out)
}

/// Waits (bounded) for the server to exit; kills it past the limit.
fn wait_exit(mut child: Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn rust_client_against_the_c_server() {
    let (dir, exe) = build_server("c-server-rust");
    let (child, port, out) = start(&exe, &dir);
    let binding = Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{port}]")).unwrap();

    msrpc_sample::non_async_func_blocking(&binding, "from Rust").unwrap();

    // [async], completed by the manager's worker thread after 300 ms.
    let done = Event::auto_reset();
    let state = AsyncState::new(Notification::Event(done.clone()));
    msrpc_sample::async_func_start_blocking(&state, &binding, 300).unwrap();
    assert!(state.is_pending());
    assert!(done.wait_timeout(Duration::from_secs(20)));
    state.complete().unwrap();

    // Non-abortive cancel: the manager sees RpcServerTestCancel and aborts with 1818.
    state.reinitialize().unwrap();
    msrpc_sample::async_func_start_blocking(&state, &binding, 60_000).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    state.cancel(CancelMode::NonAbortive).unwrap();
    assert!(
        done.wait_timeout(Duration::from_secs(20)),
        "the cancel was answered"
    );
    let e = state.complete().unwrap_err();
    assert_eq!(e.status(), Win32Status::RPC_S_CALL_CANCELLED, "{e}");

    // Abortive cancel: completes at once; the server also sees the cancel and aborts.
    state.reinitialize().unwrap();
    msrpc_sample::async_func_start_blocking(&state, &binding, 60_000).unwrap();
    state.cancel(CancelMode::Abortive).unwrap();
    let e = state.complete().unwrap_err();
    assert_eq!(e.status(), Win32Status::RPC_S_CALL_CANCELLED, "{e}");

    // Both cancels reach the manager's worker, which aborts its call (bounded wait: the worker
    // polls RpcServerTestCancel every 10 ms).
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&out)
        .unwrap()
        .matches("AsyncFunc: cancelled by the client after")
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "the server never saw both cancels"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Shutdown stops the C server (RpcMgmtStopServerListening in the manager).
    msrpc_sample::shutdown_blocking(&binding).unwrap();
    let code = wait_exit(child, Duration::from_secs(30));
    let log = std::fs::read_to_string(&out).unwrap();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("NonAsyncFunc: from Rust"), "{log}");
    assert!(
        log.contains("AsyncFunc: completed after 300 ms, RpcAsyncCompleteCall returned 0"),
        "{log}"
    );
    assert_eq!(
        log.matches("AsyncFunc: cancelled by the client after")
            .count(),
        2,
        "{log}"
    );
    // The non-abortive cancel's abort answered the call (0); after the abortive one the client
    // had gone on, and the server still aborted its call cleanly.
    assert!(log.contains("RpcAsyncAbortCall returned 0"), "{log}");
    assert!(
        log.contains("RpcServerListen returned 0; server stopped"),
        "{log}"
    );
}

#[test]
fn c_client_against_the_c_server() {
    let (dir, exe) = build_server("c-server-c");
    let client = build_example("c-server-client", "client_event.c", &[]);
    let (child, port, out) = start(&exe, &dir);
    let r = run(
        &client,
        &[&port.to_string(), "500"],
        &[],
        Duration::from_secs(60),
    );
    let code = wait_exit(child, Duration::from_secs(30));
    let log = std::fs::read_to_string(&out).unwrap();
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("still pending"), "{r:?}");
    assert!(
        r.stdout.contains("RpcAsyncCompleteCall returned 0"),
        "{r:?}"
    );
    assert!(r.stdout.contains("Shutdown: accepted"), "{r:?}");
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("NonAsyncFunc: hello from the page's C code"),
        "{log}"
    );
}

#[test]
fn scalars_outs_returns_and_strings_c_to_c() {
    // tests/fixtures/calc.idl: signed and unsigned integers of every size, [out] and [in, out]
    // through [ref] pointers, return values, [unique] and WCHAR strings, LP64 `long`.
    let dir = scratch("calc");
    let fx = root().join("crates/msrpc-c/tests/fixtures");
    stubs(&fx.join("calc.idl"), Some(&fx.join("calc.acf")), &dir);
    let server = dir.join("calc_server");
    cc(
        &dir,
        &[fx.join("calc_server.c"), dir.join("calc_s.c")],
        &server,
        &[],
    );
    let client = dir.join("calc_client");
    cc(
        &dir,
        &[fx.join("calc_client.c"), dir.join("calc_c.c")],
        &client,
        &[],
    );
    let (child, port, _) = start(&server, &dir);
    let r = run(&client, &[&port.to_string()], &[], Duration::from_secs(60));
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.code, Some(0), "{r:?}");
    for want in [
        "Add: -1 sum -4",
        "Mix: -5000000302 counter 42 half 2000000000.0",
        "Length: 3004 4",
        // 0x100000000 in a 64-bit C long does not fit the wire's 32 bits: RPC_X_INVALID_BOUND.
        "Add with a 33-bit long: exception 1734",
    ] {
        assert!(r.stdout.contains(want), "{want}: {r:?}");
    }
}

/// A loopback port nobody listens on (bound, then released).
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn context_handle_binding_and_comm_fault_status_c_to_c() {
    status_c_to_c("status", &[], &[]);
}

#[test]
fn context_handle_binding_and_comm_fault_status_under_address_sanitizer() {
    // Both programs under AddressSanitizer, the client (which exits) also under LeakSanitizer:
    // its context handle record (and the binding it keeps) is freed when the handle closes.
    let r = status_c_to_c(
        "status-asan",
        &["-fsanitize=address", "-fno-omit-frame-pointer"],
        &[("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")],
    );
    assert!(!r.stderr.contains("Sanitizer"), "client: {}", r.stderr);
}

/// tests/fixtures/status.idl + status.acf: an operation whose only binding is its context
/// handle, [comm_status, fault_status] on an [out] error_status_t, [fault_status] on the return
/// value, and the same fault raised where neither attribute is given.
fn status_c_to_c(name: &str, cflags: &[&str], client_env: &[(&str, &str)]) -> Run {
    let dir = scratch(name);
    let fx = root().join("crates/msrpc-c/tests/fixtures");
    stubs(&fx.join("status.idl"), Some(&fx.join("status.acf")), &dir);
    let server = dir.join("status_server");
    cc(
        &dir,
        &[fx.join("status_server.c"), dir.join("status_s.c")],
        &server,
        cflags,
    );
    let client = dir.join("status_client");
    cc(
        &dir,
        &[fx.join("status_client.c"), dir.join("status_c.c")],
        &client,
        cflags,
    );
    let (child, port, out) = start(&server, &dir);
    let dead = dead_port();
    let r = run(
        &client,
        &[&port.to_string(), &dead.to_string()],
        client_env,
        Duration::from_secs(120),
    );
    // The client has exited: its association's handle 32 (destroyed on the client only) is
    // run down (bounded wait for the server to see the connection close).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&out)
        .unwrap_or_default()
        .contains("rundown")
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    let server_err = std::fs::read_to_string(dir.join("server.err")).unwrap();
    assert!(!server_err.contains("Sanitizer"), "server: {server_err}");
    assert_eq!(r.code, Some(0), "{r:?}");
    for want in [
        "Open: 0 handle",
        // Over the handle's own binding (the program freed its binding handle already).
        "Get: 1 v 31",
        // RPC_X_SS_IN_NULL_CONTEXT: a null context handle cannot be the binding.
        "Get with a null handle: exception 1775",
        "Close: 2 null",
        "Peek: 5 v 40 st 0",
        "Destroyed: 0 null",
        "Destroy a null handle: exception 6",
        "Fail 0: 3 st 0",
        // The fault lands in the [comm_status, fault_status] parameter, not raised.
        "Fail 1234: st 1234",
        "FailRet 5: 5",
        "FailRet 0: 0",
        // Without the attributes the same fault is raised.
        "Plain 1234: exception 1234",
        // RPC_S_SERVER_UNAVAILABLE lands in the [comm_status] parameter ...
        "Fail on a dead server: st 1722",
        // ... and is raised where only [fault_status] is given.
        "FailRet on a dead server: exception 1722",
    ] {
        assert!(r.stdout.contains(want), "{want}: {r:?}");
    }
    // The handle the client destroyed on its side was run down, once; the one it closed
    // was not.
    let log = std::fs::read_to_string(out).unwrap();
    assert_eq!(log.matches("rundown").count(), 1, "{log}");
    assert!(log.contains("rundown 32"), "{log}");
    r
}

#[test]
fn the_status_rust_stubs_are_current() {
    let fx = root().join("crates/msrpc-c/tests/fixtures");
    let code = msrpc_idl::Builder::new()
        .generate(&fx.join("status.idl"), Some(&fx.join("status.acf")))
        .unwrap();
    let kept = std::fs::read_to_string(fx.join("status_gen.rs")).unwrap();
    assert!(
        code == kept,
        "regenerate crates/msrpc-c/tests/fixtures/status_gen.rs from status.idl and status.acf"
    );
}

#[test]
fn comm_and_fault_status_in_the_rust_client_against_the_c_server() {
    // The Rust form of [comm_status]/[fault_status]: Ok(StatusOutcome::Status(status)) for a
    // covered failure, the reply otherwise; uncovered failures are still errors.
    use msrpc::codegen::StatusOutcome;
    use status_idl::status::*;
    let dir = scratch("status-rust");
    let fx = root().join("crates/msrpc-c/tests/fixtures");
    stubs(&fx.join("status.idl"), Some(&fx.join("status.acf")), &dir);
    let server = dir.join("status_server");
    cc(
        &dir,
        &[fx.join("status_server.c"), dir.join("status_s.c")],
        &server,
        &[],
    );
    let (child, port, out) = start(&server, &dir);
    let b = Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{port}]")).unwrap();
    let dead = Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{}]", dead_port())).unwrap();
    let c = Client(&b);
    let ok = c
        .fail_blocking(FailRequest { code: 0 })
        .map_err(|e| e.to_string());
    let faulted = c
        .fail_blocking(FailRequest { code: 1234 })
        .map_err(|e| e.to_string());
    let ret_faulted = c
        .fail_ret_blocking(FailRetRequest { code: 5 })
        .map_err(|e| e.to_string());
    let plain = c
        .plain_blocking(PlainRequest { code: 1234 })
        .map(|r| r.return_value);
    let comm = Client(&dead)
        .fail_blocking(FailRequest { code: 0 })
        .map_err(|e| e.to_string());
    let ret_comm = Client(&dead)
        .fail_ret_blocking(FailRetRequest { code: 0 })
        .map(|_| ())
        .map_err(|e| e.status());
    // The context handle is the binding of Get (no handle_t), over the association it was
    // opened on; the server runs the rundown when that association ends.
    let opened = c
        .open_blocking(OpenRequest { v: 8 })
        .map_err(|e| e.to_string());
    let got = opened.as_ref().ok().map(|o| {
        Client(&dead)
            .get_blocking(GetArgs { s: o.s.clone() })
            .map(|r| (r.return_value, r.v))
            .map_err(|e| e.to_string())
    });
    // A context-bound operation with [comm_status, fault_status]: the reply, and a handle of
    // another association (presented over a second binding) faulted into the status.
    let b2 = Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{port}]")).unwrap();
    let peeks = opened.as_ref().ok().map(|o| {
        let own = Client(&dead).peek_blocking(PeekArgs { s: o.s.clone() });
        let foreign = Client(&b2).peek_blocking(PeekArgs {
            s: msrpc::codegen::ClientContext::new(o.s.handle(), b2.clone()),
        });
        (
            own.map(|r| match r {
                StatusOutcome::Reply(r) => Ok((r.return_value, r.v, r.st)),
                StatusOutcome::Status(s) => Err(s),
            })
            .map_err(|e| e.to_string()),
            foreign.map_err(|e| e.to_string()),
        )
    });
    drop(b2);
    drop(opened);
    drop(b);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&out)
        .unwrap_or_default()
        .contains("rundown")
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&out).unwrap();

    match ok.unwrap() {
        StatusOutcome::Reply(r) => assert_eq!((r.st, r.return_value), (0, 3)),
        other => panic!("{other:?}"),
    }
    assert_eq!(faulted.unwrap(), StatusOutcome::Status(Win32Status(1234)));
    assert_eq!(ret_faulted.unwrap(), StatusOutcome::Status(Win32Status(5)));
    assert_eq!(
        plain.map_err(|e| e.status()),
        Err(Win32Status(1234)),
        "no attribute: the fault is an error"
    );
    assert_eq!(
        comm.unwrap(),
        StatusOutcome::Status(Win32Status::RPC_S_SERVER_UNAVAILABLE)
    );
    assert_eq!(
        ret_comm,
        Err(Win32Status::RPC_S_SERVER_UNAVAILABLE),
        "[fault_status] only: a communication failure is an error"
    );
    assert_eq!(got.unwrap(), Ok((1, 8)));
    let (own, foreign) = peeks.unwrap();
    assert_eq!(own, Ok(Ok((5, 8, 0))));
    // nca_s_fault_context_mismatch, as a Win32 status: ERROR_INVALID_HANDLE (6).
    assert_eq!(foreign, Ok(StatusOutcome::Status(Win32Status(6))));
    assert_eq!(log.matches("rundown 8").count(), 1, "{log}");
}

#[test]
fn a_rundown_waits_for_the_call_that_uses_the_handle() {
    // The client dies while a manager uses its context handle: the rundown runs once the call
    // is over (the frame holds the handle), never while the manager still uses the pointer.
    let dir = scratch("status-hold");
    let fx = root().join("crates/msrpc-c/tests/fixtures");
    stubs(&fx.join("status.idl"), Some(&fx.join("status.acf")), &dir);
    let server = dir.join("status_server");
    cc(
        &dir,
        &[fx.join("status_server.c"), dir.join("status_s.c")],
        &server,
        &[],
    );
    let client = dir.join("status_client");
    cc(
        &dir,
        &[fx.join("status_client.c"), dir.join("status_c.c")],
        &client,
        &[],
    );
    let (child, port, out) = start(&server, &dir);
    let mut c = Command::new(&client)
        .args([&port.to_string(), "1", "hold"])
        .env("LD_LIBRARY_PATH", lib_dir())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&out).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log().contains("hold start 50") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = c.kill();
    let _ = c.wait();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log().contains("rundown 50") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    let log = log();
    let lines: Vec<&str> = log.lines().collect();
    let at = |l: &str| lines.iter().position(|x| *x == l);
    assert!(at("hold start 50").is_some(), "{log}");
    let rundown = at("rundown 50").expect("no rundown");
    // (Without the hold, the rundown comes at once and the server is stopped before the end.)
    let end = at("hold end 50").expect("the rundown ran while the manager used the handle");
    assert!(
        end < rundown,
        "the rundown ran while the manager used the handle: {log}"
    );
    assert_eq!(log.matches("rundown").count(), 1, "{log}");
}

#[test]
fn calls_presenting_one_context_handle_take_turns() {
    // [context_handle_serialize] (MIDL's default): two calls on one handle at the same time run
    // their managers one after the other (Hold prints its start and its end), while the handle's
    // association serves both.
    use status_idl::status::{Client, HoldArgs, OpenRequest};
    let dir = scratch("status-turns");
    let fx = root().join("crates/msrpc-c/tests/fixtures");
    stubs(&fx.join("status.idl"), Some(&fx.join("status.acf")), &dir);
    let server = dir.join("status_server");
    cc(
        &dir,
        &[fx.join("status_server.c"), dir.join("status_s.c")],
        &server,
        &[],
    );
    let (child, port, out) = start(&server, &dir);
    let b = Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{port}]")).unwrap();
    let opened = Client(&b).open_blocking(OpenRequest { v: 61 });
    let results: Vec<Result<i32, String>> = match &opened {
        Ok(o) => {
            let calls: Vec<_> = (0..2)
                .map(|_| {
                    let s = o.s.clone();
                    let b = b.clone();
                    std::thread::spawn(move || {
                        Client(&b)
                            .hold_blocking(HoldArgs { s, ms: 400 })
                            .map(|r| r.return_value)
                            .map_err(|e| e.to_string())
                    })
                })
                .collect();
            calls.into_iter().map(|t| t.join().unwrap()).collect()
        }
        Err(_) => Vec::new(),
    };
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(opened.is_ok(), "{opened:?}");
    assert_eq!(results, vec![Ok(6), Ok(6)], "{log}");
    let holds: Vec<&str> = log.lines().filter(|l| l.starts_with("hold ")).collect();
    assert_eq!(
        holds,
        [
            "hold start 61",
            "hold end 61",
            "hold start 61",
            "hold end 61"
        ],
        "the managers overlapped on one handle: {log}"
    );
}

#[test]
fn a_strict_context_handle_interface_refuses_another_interface_s_handle() {
    // tests/fixtures/strict.idl: Maker's handle is accepted by Lax (no attribute: any
    // interface's handle, as MIDL's default) and refused by the [strict_context_handle]
    // interface Strict with nca_s_fault_context_mismatch (the client raises 6), which accepts
    // its own.
    let dir = scratch("strict");
    let fx = root().join("crates/msrpc-c/tests/fixtures");
    stubs(&fx.join("strict.idl"), None, &dir);
    let server = dir.join("strict_server");
    cc(
        &dir,
        &[fx.join("strict_server.c"), dir.join("strict_s.c")],
        &server,
        &[],
    );
    let client = dir.join("strict_client");
    cc(
        &dir,
        &[fx.join("strict_client.c"), dir.join("strict_c.c")],
        &client,
        &[],
    );
    let (child, port, _) = start(&server, &dir);
    let r = run(&client, &[&port.to_string()], &[], Duration::from_secs(60));
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.code, Some(0), "{r:?}");
    for want in [
        "LaxUse: 1 41",
        "StrictUse of Maker's handle: exception 6, v 0",
        "StrictUse of its own handle: 2 42",
        // [type_strict_context_handle] on PT.
        "TypedUse of a PH: exception 6, v 0",
        "TypedUse of a PT: 3 43",
    ] {
        assert!(r.stdout.contains(want), "{want}: {r:?}");
    }
}

#[test]
fn a_noserialize_context_handle_lets_calls_run_together() {
    // tests/fixtures/noser.idl: on a [context_handle_noserialize] handle the two managers meet
    // (each answers 1); on a serialised one the first waits its bounded 3 s alone (0) and the
    // second finds it gone by (1).
    let dir = scratch("noser");
    let fx = root().join("crates/msrpc-c/tests/fixtures");
    stubs(&fx.join("noser.idl"), None, &dir);
    let server = dir.join("noser_server");
    cc(
        &dir,
        &[fx.join("noser_server.c"), dir.join("noser_s.c")],
        &server,
        &[],
    );
    let client = dir.join("noser_client");
    cc(
        &dir,
        &[fx.join("noser_client.c"), dir.join("noser_c.c")],
        &client,
        &["-pthread"],
    );
    let (child, port, _) = start(&server, &dir);
    let r = run(&client, &[&port.to_string()], &[], Duration::from_secs(60));
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("noserialize: 2"), "{r:?}");
    assert!(r.stdout.contains("\nserialize: 1"), "{r:?}");
}
