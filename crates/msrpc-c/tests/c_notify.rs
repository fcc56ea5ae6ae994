//! `RpcServerSubscribeForNotification` on the C server (tests/fixtures/notify_server.c): its
//! `[async]` manager subscribes to the client's disconnect (event style) and cancel (callback
//! style); a C client killed mid-call, and a Rust client cancelling, are noticed by the manager,
//! which unsubscribes (`NotificationsQueued` 1) and aborts the call.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use msrpc::notify::{AsyncState, CancelMode, Event, Notification};
use msrpc::{Binding, Win32Status};

use common::*;

fn build(name: &str) -> (PathBuf, PathBuf) {
    let (dir, exe) = build_with_sample(
        name,
        "crates/msrpc-c/tests/fixtures/notify_server.c",
        "asyncrpc_s.c",
        &["-pthread"],
    );
    (dir, exe)
}

fn start(exe: &Path, dir: &Path) -> (Child, u16, PathBuf) {
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
    (child, port, out)
}

/// Waits (bounded) until the server's output contains `what`.
fn wait_for(out: &Path, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(out).unwrap_or_default();
        if log.contains(what) {
            return log;
        }
        assert!(Instant::now() < deadline, "never saw {what:?}: {log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(mut child: Child, port: u16, out: &Path) -> String {
    let b = Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{port}]")).unwrap();
    let _ = msrpc_sample::shutdown_blocking(&b);
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = std::fs::read_to_string(out).unwrap();
    assert_eq!(code, Some(0), "{log}");
    log
}

#[test]
fn a_client_that_disconnects_mid_call_is_noticed_by_the_manager() {
    let (dir, exe) = build("notify-disconnect");
    let client = build_example("notify-client", "client_event.c", &[]);
    let (server, port, out) = start(&exe, &dir);
    // The page's client, AsyncFunc with a minute's delay, killed while the call is pending.
    let mut c = Command::new(&client)
        .args([&port.to_string(), "60000"])
        .env("LD_LIBRARY_PATH", lib_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let log = wait_for(&out, "AsyncFunc: subscribed");
    assert!(log.contains("AsyncFunc: subscribed 0 0"), "{log}");
    c.kill().unwrap();
    c.wait().unwrap();
    wait_for(&out, "RpcAsyncAbortCall:");
    let log = stop(server, port, &out);
    assert!(log.contains("misuse: 87 1725"), "{log}");
    assert!(
        log.contains("AsyncFunc: client disconnected (event)"),
        "{log}"
    );
    assert!(log.contains("unsubscribe: 0, queued 1"), "{log}");
    assert!(!log.contains("completed after"), "{log}");
}

#[test]
fn a_client_cancel_reaches_the_managers_callback() {
    let (dir, exe) = build("notify-cancel");
    let (server, port, out) = start(&exe, &dir);
    let b = Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{port}]")).unwrap();
    let done = Event::auto_reset();
    let state = AsyncState::new(Notification::Event(done.clone()));
    msrpc_sample::async_func_start_blocking(&state, &b, 60_000).unwrap();
    wait_for(&out, "AsyncFunc: subscribed 0 0");
    state.cancel(CancelMode::NonAbortive).unwrap();
    assert!(
        done.wait_timeout(Duration::from_secs(20)),
        "the cancel was answered"
    );
    assert_eq!(
        state.complete().unwrap_err().status(),
        Win32Status::RPC_S_CALL_CANCELLED
    );
    // The worker prints after RpcAsyncAbortCall returns, which may be after the client saw the
    // answer: wait for the line rather than race it.
    wait_for(&out, "RpcAsyncAbortCall:");
    // A call nobody cancels completes after its delay, untouched by its subscriptions.
    state.reinitialize().unwrap();
    msrpc_sample::async_func_start_blocking(&state, &b, 50).unwrap();
    assert!(done.wait_timeout(Duration::from_secs(20)));
    state.complete().unwrap();
    // As above: the line comes after RpcAsyncCompleteCall has sent the reply.
    wait_for(&out, "AsyncFunc: completed after");
    let log = stop(server, port, &out);
    // RpcClientCancel is 4.
    assert!(
        log.contains("AsyncFunc: cancelled (callback, event 4)"),
        "{log}"
    );
    assert!(log.contains("unsubscribe: 0, queued 1"), "{log}");
    assert!(log.contains("RpcAsyncAbortCall: 0"), "{log}");
    assert!(log.contains("AsyncFunc: completed after 50 ms: 0"), "{log}");
    assert!(!log.contains("disconnected"), "{log}");
}
