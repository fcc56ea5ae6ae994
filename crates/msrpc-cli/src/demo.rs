//! `msrpc demo`: the page "Making the asynchronous call", end to end over real TCP.
//!
//! A server (the AsyncRPC sample, with `AsyncFunc` as an asynchronous manager) and a client run in
//! this process and talk over a TCP connection on 127.0.0.1. The client:
//! 1. makes `AsyncFunc` once per notification style, and while each is pending makes the synchronous
//!    `NonAsyncFunc` on the same binding;
//! 2. cancels a call, non-abortively (the server sees the cancel and aborts with 1818) and abortively;
//! 3. makes a call that fails as it is made, and shows that no notification follows;
//! 4. reuses a handle without re-initialising it, and gets 1914.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use msrpc::CancelMode;
use msrpc::notify::{
    AsyncState, CompletionPort, Event, MessageQueue, Notification, RpcAsyncEvent, WM_USER,
    sleep_alertable,
};
use msrpc::server::Server;
use msrpc::{Binding, Win32Status};
use msrpc_sample::{self as sample, AsyncRpcHandler};

use crate::output::Failure;
use crate::output::outln;

static START: OnceLock<Instant> = OnceLock::new();
static JSON: OnceLock<bool> = OnceLock::new();

/// One notification style of the demo: make AsyncFunc and wait for it that way.
type Style<'a> = dyn Fn(&Binding, u32) -> Result<(), Failure> + 'a;

/// A blank line between the steps of the text timeline.
fn blank() {
    if !JSON.get().copied().unwrap_or(false) {
        outln!();
    }
}

fn say(who: &str, what: impl std::fmt::Display) {
    let t = START.get_or_init(Instant::now).elapsed();
    if JSON.get().copied().unwrap_or(false) {
        let v = serde_json::json!({ "t_ms": t.as_secs_f64() * 1e3, "who": who, "what": what.to_string() });
        outln!("{v}");
    } else {
        outln!("[{:>8.1} ms] {who:<6} {what}", t.as_secs_f64() * 1e3);
    }
}

struct DemoHandler;

impl AsyncRpcHandler for DemoHandler {
    fn non_async_func(&self, message: &[u8]) {
        say(
            "server",
            format!("NonAsyncFunc(\"{}\")", String::from_utf8_lossy(message)),
        );
    }
    fn shutdown(&self) -> Result<(), Win32Status> {
        Err(Win32Status::ERROR_ACCESS_DENIED)
    }
}

/// Waits for an outcome, bounded, or reports which step hung.
fn expect<T>(what: &str, v: Option<T>) -> Result<T, Failure> {
    v.ok_or_else(|| Failure::other(format!("demo: {what} did not happen in time")))
}

fn check(what: &str, ok: bool) -> Result<(), Failure> {
    if ok {
        Ok(())
    } else {
        Err(Failure::other(format!("demo: {what}")))
    }
}

pub(crate) fn run(delay: u32, json: bool) -> Result<(), Failure> {
    START.get_or_init(Instant::now);
    let _ = JSON.set(json);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::other(format!("cannot start the runtime: {e}")))?;
    let server = rt
        .block_on(
            Server::builder()
                .interface(Arc::new(msrpc_sample::service(DemoHandler)))
                .listen("ncacn_ip_tcp:127.0.0.1[0]")
                .start(),
        )
        .map_err(Failure::rpc)?;
    let binding_text = server.bindings()[0].to_string();
    say(
        "server",
        format!("listening on {binding_text} (AsyncFunc is an [async] manager)"),
    );
    let binding = Binding::from_string(&binding_text).map_err(Failure::rpc)?;
    let wait = Duration::from_millis(u64::from(delay) * 4 + 5_000);

    // Each style: start AsyncFunc, make NonAsyncFunc while it is pending, then be notified.
    let styles: [(&str, &Style<'_>); 7] = [
        ("event", &|b, d| event_style(b, d, wait)),
        ("polling", &|b, d| polling_style(b, d, wait)),
        ("APC", &|b, d| apc_style(b, d, wait)),
        ("I/O completion port", &|b, d| iocp_style(b, d, wait)),
        ("window message", &|b, d| hwnd_style(b, d, wait)),
        ("callback", &|b, d| callback_style(b, d, wait)),
        ("Rust Future", &|b, d| future_style(&rt, b, d)),
    ];
    for (name, f) in styles {
        blank();
        say("client", format!("--- notification: {name}"));
        f(&binding, delay)?;
    }

    blank();
    say(
        "client",
        "--- cancel, non-abortive: the server hears co_cancel and aborts with 1818",
    );
    cancel_style(&binding, delay, false, wait)?;
    blank();
    say(
        "client",
        "--- cancel, abortive: the call completes at once as cancelled",
    );
    cancel_style(&binding, delay, true, wait)?;

    blank();
    say(
        "client",
        "--- a call that fails as it is made gets no notification",
    );
    failing_start()?;

    blank();
    say("client", "--- a handle must be re-initialised before reuse");
    reuse_without_reinitialize(&binding, delay, wait)?;

    blank();
    rt.block_on(server.shutdown(Duration::from_secs(2)));
    let stats = server.stats();
    say(
        "server",
        format!(
            "stopped: {} calls received, {} answered, {} faults",
            stats.calls_received, stats.calls_sent, stats.faults_sent
        ),
    );
    say(
        "demo",
        "done: every notification style fired once per call, as the page describes",
    );
    Ok(())
}

fn start(state: &AsyncState<()>, b: &Binding, delay: u32) -> Result<(), Failure> {
    say(
        "client",
        format!("AsyncFunc(&Async, hBinding, {delay}) ..."),
    );
    sample::async_func_start_blocking(state, b, delay).map_err(Failure::rpc)?;
    say("client", "... returned at once; the call is pending");
    Ok(())
}

fn sync_call_meanwhile(b: &Binding, state: &AsyncState<()>) -> Result<(), Failure> {
    say(
        "client",
        "NonAsyncFunc(hBinding, \"...\") while AsyncFunc is pending",
    );
    sample::non_async_func_blocking(b, "sent while AsyncFunc is still running")
        .map_err(Failure::rpc)?;
    say(
        "client",
        format!(
            "NonAsyncFunc returned; AsyncFunc status: {}",
            status_name(state.status())
        ),
    );
    check(
        "AsyncFunc should still be pending",
        state.status() == Win32Status::RPC_S_ASYNC_CALL_PENDING,
    )
}

fn finish(state: &AsyncState<()>) -> Result<(), Failure> {
    match state.complete() {
        Ok(()) => {
            say(
                "client",
                "RpcAsyncCompleteCall: AsyncFunc completed (status 0)",
            );
            Ok(())
        }
        Err(e) => Err(Failure::other(format!("AsyncFunc failed: {e}"))),
    }
}

fn status_name(s: Win32Status) -> String {
    format!("{} ({})", s.name().unwrap_or("?"), s.0)
}

fn event_style(b: &Binding, delay: u32, wait: Duration) -> Result<(), Failure> {
    let ev = Event::auto_reset();
    let state = AsyncState::new(Notification::Event(ev.clone()));
    start(&state, b, delay)?;
    sync_call_meanwhile(b, &state)?;
    check("the event fired", ev.wait_timeout(wait))?;
    say("client", "WaitForSingleObject(hEvent): signalled");
    finish(&state)
}

fn polling_style(b: &Binding, delay: u32, wait: Duration) -> Result<(), Failure> {
    let state = AsyncState::new(Notification::None);
    start(&state, b, delay)?;
    sync_call_meanwhile(b, &state)?;
    let t0 = Instant::now();
    let mut polls = 0u32;
    while state.status() == Win32Status::RPC_S_ASYNC_CALL_PENDING && t0.elapsed() < wait {
        polls += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    say(
        "client",
        format!(
            "RpcAsyncGetCallStatus: {} after {polls} polls",
            status_name(state.status())
        ),
    );
    finish(&state)
}

fn apc_style(b: &Binding, delay: u32, wait: Duration) -> Result<(), Failure> {
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let state = AsyncState::new(Notification::apc(move |_, ev| {
        say(
            "client",
            format!("APC routine runs on the calling thread: event {ev:?}"),
        );
        r.store(ev == RpcAsyncEvent::CallComplete, Ordering::SeqCst);
    }));
    start(&state, b, delay)?;
    sync_call_meanwhile(b, &state)?;
    check(
        "the APC did not run outside an alertable wait",
        !ran.load(Ordering::SeqCst),
    )?;
    say("client", "SleepEx(INFINITE, TRUE): an alertable wait");
    let t0 = Instant::now();
    while !ran.load(Ordering::SeqCst) && t0.elapsed() < wait {
        sleep_alertable(Duration::from_millis(200));
    }
    check("the APC ran", ran.load(Ordering::SeqCst))?;
    finish(&state)
}

fn iocp_style(b: &Binding, delay: u32, wait: Duration) -> Result<(), Failure> {
    let port = CompletionPort::new();
    let state = AsyncState::new(Notification::IoCompletionPort {
        port: port.clone(),
        bytes: 0,
        key: 0xA5,
        overlapped: 0x1000,
    });
    start(&state, b, delay)?;
    sync_call_meanwhile(b, &state)?;
    let c = expect(
        "the completion packet",
        port.get_queued_completion_status(wait),
    )?;
    say(
        "client",
        format!(
            "GetQueuedCompletionStatus: bytes {}, key {:#x}, overlapped {:#x}",
            c.bytes, c.key, c.overlapped
        ),
    );
    check(
        "the packet carries the handle's values",
        c.key == 0xA5 && c.overlapped == 0x1000,
    )?;
    finish(&state)
}

fn hwnd_style(b: &Binding, delay: u32, wait: Duration) -> Result<(), Failure> {
    let queue = MessageQueue::new();
    let msg = WM_USER + 1;
    let state = AsyncState::new(Notification::Hwnd {
        queue: queue.clone(),
        msg,
    });
    start(&state, b, delay)?;
    sync_call_meanwhile(b, &state)?;
    let m = expect("the window message", queue.get_message_timeout(wait))?;
    say(
        "client",
        format!(
            "GetMessage: msg WM_USER+{}, wParam {}, lParam {:#x}",
            m.msg - WM_USER,
            m.wparam,
            m.lparam
        ),
    );
    check(
        "the message is the handle's",
        m.msg == msg && m.wparam == 0 && m.lparam == state.token().0,
    )?;
    finish(&state)
}

fn callback_style(b: &Binding, delay: u32, wait: Duration) -> Result<(), Failure> {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let state = AsyncState::new(Notification::callback(move |_, ev| {
        say(
            "client",
            format!("callback runs on a runtime thread: event {ev:?}"),
        );
        let _ = tx.lock().map(|t| t.send(ev));
    }));
    start(&state, b, delay)?;
    sync_call_meanwhile(b, &state)?;
    let ev = expect("the callback", rx.recv_timeout(wait).ok())?;
    check(
        "the callback got RpcCallComplete",
        ev == RpcAsyncEvent::CallComplete,
    )?;
    finish(&state)
}

fn future_style(rt: &tokio::runtime::Runtime, b: &Binding, delay: u32) -> Result<(), Failure> {
    rt.block_on(async {
        say(
            "client",
            format!("let call = AsyncFunc(&binding, {delay}); // a Future"),
        );
        let pending = tokio::spawn({
            let b = b.clone();
            async move { sample::async_func(&b, delay).await }
        });
        say(
            "client",
            "NonAsyncFunc(...).await while the future is pending",
        );
        sample::non_async_func(b, "sent while the AsyncFunc future is pending")
            .await
            .map_err(Failure::rpc)?;
        let r = pending.await.map_err(|e| Failure::other(e.to_string()))?;
        r.map_err(Failure::rpc)?;
        say("client", "call.await: AsyncFunc completed");
        Ok(())
    })
}

fn cancel_style(b: &Binding, delay: u32, abortive: bool, wait: Duration) -> Result<(), Failure> {
    let ev = Event::manual_reset();
    let state = AsyncState::new(Notification::Event(ev.clone()));
    // A long call, so the cancel is what ends it.
    start(&state, b, delay * 10)?;
    std::thread::sleep(Duration::from_millis(50));
    say(
        "client",
        format!(
            "RpcAsyncCancelCall(&Async, fAbort = {})",
            if abortive { "TRUE" } else { "FALSE" }
        ),
    );
    let t0 = Instant::now();
    state
        .cancel(if abortive {
            CancelMode::Abortive
        } else {
            CancelMode::NonAbortive
        })
        .map_err(|e| Failure::other(format!("cancel: {e}")))?;
    check(
        "the notification still fires after a cancel",
        ev.wait_timeout(wait),
    )?;
    say(
        "client",
        format!(
            "notified {:.1} ms after the cancel",
            t0.elapsed().as_secs_f64() * 1e3
        ),
    );
    match state.complete() {
        Err(e) if e.status() == Win32Status::RPC_S_CALL_CANCELLED => {
            say(
                "client",
                format!("RpcAsyncCompleteCall: {}", status_name(e.status())),
            );
            Ok(())
        }
        other => Err(Failure::other(format!(
            "expected RPC_S_CALL_CANCELLED, got {other:?}"
        ))),
    }
}

fn failing_start() -> Result<(), Failure> {
    // Nothing listens on this port: the call fails as it is made.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Failure::other(e.to_string()))?;
    let dead =
        Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{port}]")).map_err(Failure::rpc)?;
    let ev = Event::auto_reset();
    let state = AsyncState::new(Notification::Event(ev.clone()));
    say(
        "client",
        format!("AsyncFunc on ncacn_ip_tcp:127.0.0.1[{port}], where nothing listens"),
    );
    match sample::async_func_start_blocking(&state, &dead, 10) {
        Ok(()) => Err(Failure::other("the call to a dead endpoint was accepted")),
        Err(e) => {
            say(
                "client",
                format!(
                    "RpcExcept: exception {:#x} = {} ({})",
                    e.status().0,
                    e.status().0,
                    e.status().name().unwrap_or("?")
                ),
            );
            let fired = ev.wait_timeout(Duration::from_millis(300));
            say(
                "client",
                format!("waited 300 ms: notification fired = {fired}"),
            );
            check("no notification after a failed start", !fired)
        }
    }
}

fn reuse_without_reinitialize(b: &Binding, delay: u32, wait: Duration) -> Result<(), Failure> {
    let ev = Event::auto_reset();
    let state = AsyncState::new(Notification::Event(ev.clone()));
    start(&state, b, delay / 4)?;
    say(
        "client",
        "AsyncFunc again on the same, still pending handle ...",
    );
    let e = match sample::async_func_start_blocking(&state, b, delay / 4) {
        Ok(()) => return Err(Failure::other("a pending handle was accepted")),
        Err(e) => e,
    };
    say(
        "client",
        format!("... refused: {}", status_name(e.status())),
    );
    check(
        "1914 for a pending handle",
        e.status() == Win32Status::RPC_S_INVALID_ASYNC_HANDLE,
    )?;
    check("the first call completes", ev.wait_timeout(wait))?;
    finish(&state)?;
    let e = match sample::async_func_start_blocking(&state, b, delay / 4) {
        Ok(()) => {
            return Err(Failure::other(
                "a completed, not re-initialised handle was accepted",
            ));
        }
        Err(e) => e,
    };
    say(
        "client",
        format!(
            "completed but not re-initialised: {}",
            status_name(e.status())
        ),
    );
    check(
        "1914 before reinitialize",
        e.status() == Win32Status::RPC_S_INVALID_ASYNC_HANDLE,
    )?;
    state
        .reinitialize()
        .map_err(|e| Failure::other(format!("reinitialize: {e}")))?;
    say(
        "client",
        "RpcAsyncInitializeHandle(&Async): the handle is ready again",
    );
    start(&state, b, delay / 4)?;
    check("the reused handle completes", ev.wait_timeout(wait))?;
    finish(&state)
}
