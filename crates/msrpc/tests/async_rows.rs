//! The Windows page "Making the asynchronous call", statement by statement, and its server side,
//! over real TCP on 127.0.0.1: the client's asynchronous calls
//! (`RPC_ASYNC_STATE`, every notification style, cancel, timeouts) and the server's `[async]`
//! managers (`AsyncCall`: complete from any thread, abort, test_cancel, subscriptions).
//!
//! Each test starts its own server (the AsyncRPC sample, or a small interface of its own) on a
//! tokio runtime, and makes client calls from the test thread, as the page's program does. Every
//! wait is bounded; timing is only ever checked with generous bounds.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use common::{eventually, stays, within};
use msrpc::CancelMode;
use msrpc::notify::{
    AsyncState, CallToken, Completion, CompletionPort, Event, MessageQueue, Notification,
    RpcAsyncEvent, ThreadRef, WM_USER, WaitOutcome, sleep_alertable,
};
use msrpc::server::{
    AsyncCall, CallEvent, Dispatch, IncomingCall, Interface, Server, ServerConfig, Subscription,
};
use msrpc::{Binding, BindingOptions, Error, FaultStatus, SyntaxId, Win32Status};
use msrpc_ndr::{Decoder, Encoder};
use msrpc_sample::{self as sample, ASYNC_RPC, AsyncRpcHandler};
use tokio::runtime::Runtime;

/// Upper bound for anything that should happen "soon".
const WAIT: Duration = Duration::from_secs(5);
/// How long we watch for something that must not happen (with [`stays`]).
const QUIET: Duration = Duration::from_millis(300);

const OK: Win32Status = Win32Status::OK;
const PENDING: Win32Status = Win32Status::RPC_S_ASYNC_CALL_PENDING;
const INVALID_HANDLE: Win32Status = Win32Status::RPC_S_INVALID_ASYNC_HANDLE;
const CANCELLED: Win32Status = Win32Status::RPC_S_CALL_CANCELLED;
const IN_PROGRESS: Win32Status = Win32Status::RPC_S_CALL_IN_PROGRESS;

/// A handle operation's result with its error reduced to the status `RpcAsyncCompleteCall` (or
/// the other `RpcAsync*` functions) would return.
fn st<T>(r: msrpc::Result<T>) -> Result<T, Win32Status> {
    r.map_err(|e| e.status())
}

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

type AsyncFn = Box<dyn Fn(AsyncCall<()>, u32) + Send + Sync>;

/// The sample's handler with observable behaviour: `NonAsyncFunc` messages and the order of
/// `AsyncFunc` dispatches are logged; `AsyncFunc` does what `on_async` says.
struct TestHandler {
    log: Arc<Mutex<Vec<String>>>,
    on_async: AsyncFn,
}

impl AsyncRpcHandler for TestHandler {
    fn non_async_func(&self, message: &[u8]) {
        let m = String::from_utf8_lossy(message).into_owned();
        self.log.lock().unwrap().push(format!("sync:{m}"));
    }
    fn shutdown(&self) -> Result<(), Win32Status> {
        Err(Win32Status::ERROR_ACCESS_DENIED)
    }
    fn async_func(&self, call: AsyncCall<()>, delay_ms: u32) {
        self.log.lock().unwrap().push(format!("async:{delay_ms}"));
        (self.on_async)(call, delay_ms);
    }
}

/// One server on its own runtime and one client runtime, so nothing the server does can stall
/// the client's connection tasks.
struct Env {
    server_rt: Runtime,
    client_rt: Runtime,
    server: Server,
    text: String,
    log: Arc<Mutex<Vec<String>>>,
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

impl Env {
    /// The AsyncRPC sample with `on_async` as its `AsyncFunc` manager.
    fn sample(on_async: impl Fn(AsyncCall<()>, u32) + Send + Sync + 'static) -> Env {
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler = TestHandler {
            log: log.clone(),
            on_async: Box::new(on_async),
        };
        Env::with_interface(Arc::new(msrpc_sample::service(handler)), log)
    }

    /// The sample as shipped: `AsyncFunc` completes after its delay, or aborts with 1818 when
    /// the client cancels.
    fn default_sample() -> Env {
        Env::sample(sample::complete_after_delay)
    }

    /// The sample whose `AsyncFunc` calls are handed to the test thread, to finish by hand.
    fn held() -> (Env, mpsc::Receiver<(AsyncCall<()>, u32)>) {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let env = Env::sample(move |call, delay| {
            tx.lock().unwrap().send((call, delay)).unwrap();
        });
        (env, rx)
    }

    fn with_interface(iface: Arc<dyn Interface>, log: Arc<Mutex<Vec<String>>>) -> Env {
        Env::with_config(iface, log, ServerConfig::default())
    }

    fn with_config(
        iface: Arc<dyn Interface>,
        log: Arc<Mutex<Vec<String>>>,
        config: ServerConfig,
    ) -> Env {
        let server_rt = runtime();
        let server = server_rt
            .block_on(
                Server::builder()
                    .config(config)
                    .interface(iface)
                    .listen("ncacn_ip_tcp:127.0.0.1[0]")
                    .start(),
            )
            .unwrap();
        let text = server.bindings()[0].to_string();
        Env {
            server_rt,
            client_rt: runtime(),
            server,
            text,
            log,
        }
    }

    fn binding(&self) -> Binding {
        self.binding_with(BindingOptions::default())
    }

    fn binding_with(&self, options: BindingOptions) -> Binding {
        let _rt = self.client_rt.enter();
        Binding::with_options(&self.text, options).unwrap()
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn stop(self) {
        self.server_rt
            .block_on(self.server.shutdown(Duration::from_secs(2)));
        assert_eq!(
            self.server.stats().calls_in_progress,
            0,
            "every call was answered"
        );
    }
}

/// The next `AsyncFunc` call the server received.
fn next_call(rx: &mpsc::Receiver<(AsyncCall<()>, u32)>) -> AsyncCall<()> {
    rx.recv_timeout(WAIT)
        .expect("the server did not receive AsyncFunc")
        .0
}

/// Polls `RpcAsyncGetCallStatus` until the call is no longer pending.
fn wait_done<R>(state: &AsyncState<R>) -> Win32Status {
    eventually("the async call to finish", || state.status() != PENDING);
    state.status()
}

/// A notification counting how often it fired (a callback).
fn counting() -> (Notification, Arc<AtomicUsize>) {
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    let note = Notification::callback(move |_, ev| {
        assert_eq!(ev, RpcAsyncEvent::CallComplete);
        c.fetch_add(1, Ordering::SeqCst);
    });
    (note, n)
}

/// A port nothing listens on.
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// Client: the handle
// ---------------------------------------------------------------------------------------------

/// `RpcAsyncInitializeHandle(&Async, sizeof)` → `AsyncState::new(notification)`, then
/// `state.reinitialize()` before reuse.
#[test]
fn row_initialize_handle_then_reinitialize_before_reuse() {
    let env = Env::default_sample();
    let b = env.binding();
    let ev = Event::auto_reset();
    let state = AsyncState::new(Notification::Event(ev.clone()));
    assert_eq!(
        state.status(),
        INVALID_HANDLE,
        "no call started on a new handle"
    );
    for round in 0..3 {
        sample::async_func_start_blocking(&state, &b, 20).unwrap();
        assert!(ev.wait_timeout(WAIT), "round {round}: no notification");
        assert_eq!(st(state.complete()), Ok(()), "round {round}");
        state.reinitialize().unwrap();
        assert_eq!(state.status(), INVALID_HANDLE, "re-initialised: no call");
    }
    // Re-initialising a handle whose call is pending is refused, and leaves the call alone.
    sample::async_func_start_blocking(&state, &b, 200).unwrap();
    assert_eq!(st(state.reinitialize()), Err(INVALID_HANDLE));
    assert_eq!(state.status(), PENDING);
    assert!(ev.wait_timeout(WAIT));
    assert_eq!(st(state.complete()), Ok(()));
    env.stop();
}

/// Each pending call needs its own handle: a second call on a pending handle gives 1914 and
/// never reaches the server.
#[test]
fn row_each_pending_call_needs_its_own_handle() {
    let (env, rx) = Env::held();
    let b = env.binding();
    let first = AsyncState::new(Notification::None);
    sample::async_func_start_blocking(&first, &b, 1).unwrap();
    let call1 = next_call(&rx);
    let err = sample::async_func_start_blocking(&first, &b, 2).unwrap_err();
    assert_eq!(err.status(), INVALID_HANDLE, "{err}");
    assert!(
        rx.recv_timeout(QUIET).is_err(),
        "the refused call reached the server"
    );
    assert_eq!(first.status(), PENDING, "the first call is untouched");
    // A handle of its own works while the first is pending.
    let second = AsyncState::new(Notification::None);
    sample::async_func_start_blocking(&second, &b, 3).unwrap();
    let call2 = next_call(&rx);
    call2.complete(());
    assert_eq!(wait_done(&second), OK);
    assert_eq!(first.status(), PENDING);
    call1.complete(());
    assert_eq!(wait_done(&first), OK);
    assert_eq!(
        (st(first.complete()), st(second.complete())),
        (Ok(()), Ok(()))
    );
    assert_eq!(env.log(), vec!["async:1", "async:3"]);
    env.stop();
}

/// A completed handle that was not re-initialised gives 1914, whether or not its result was
/// taken, and the call is not made.
#[test]
fn row_reinitialize_before_another_call() {
    let env = Env::default_sample();
    let b = env.binding();
    let ev = Event::manual_reset();
    let state = AsyncState::new(Notification::Event(ev.clone()));
    sample::async_func_start_blocking(&state, &b, 10).unwrap();
    assert!(ev.wait_timeout(WAIT));
    // Completed, result not yet taken.
    let err = sample::async_func_start_blocking(&state, &b, 11).unwrap_err();
    assert_eq!(err.status(), INVALID_HANDLE, "{err}");
    assert_eq!(st(state.complete()), Ok(()), "the refusal kept the result");
    // Completed and taken.
    let err = sample::async_func_start_blocking(&state, &b, 12).unwrap_err();
    assert_eq!(err.status(), INVALID_HANDLE, "{err}");
    assert_eq!(
        env.server.stats().calls_received,
        1,
        "refused calls are not made"
    );
    state.reinitialize().unwrap();
    ev.reset();
    sample::async_func_start_blocking(&state, &b, 13).unwrap();
    assert!(ev.wait_timeout(WAIT));
    assert_eq!(st(state.complete()), Ok(()));
    assert_eq!(env.log(), vec!["async:10", "async:13"]);
    env.stop();
}

/// Handle memory lives until the reply: the runtime shares ownership while the call is pending.
/// Dropping one clone changes nothing; dropping the last one orphans the call (the server hears
/// a cancel), nothing is freed under the call, and the binding carries on.
#[test]
fn row_handle_memory_lives_until_reply() {
    let (env, rx) = Env::held();
    let b = env.binding();

    // 1. A clone kept on another thread: dropping ours does not disturb the call.
    let ev = Event::manual_reset();
    let state = AsyncState::new(Notification::Event(ev.clone()));
    sample::async_func_start_blocking(&state, &b, 1).unwrap();
    let call = next_call(&rx);
    let kept = state.clone();
    let waiter = thread::spawn(move || {
        assert!(ev.wait_timeout(WAIT), "no notification");
        kept.complete()
    });
    drop(state);
    stays("dropping a clone cancelled the call", QUIET, || {
        call.test_cancel() == IN_PROGRESS
    });
    call.complete(());
    assert_eq!(st(waiter.join().unwrap()), Ok(()));

    // 2. The last handle dropped while pending: the call is orphaned, cleanly.
    let ev = Event::manual_reset();
    let (note, fired) = counting();
    let state: AsyncState<()> = AsyncState::new(Notification::Event(ev.clone()));
    let weak = state.downgrade();
    let cb_state = AsyncState::new(note);
    sample::async_func_start_blocking(&state, &b, 2).unwrap();
    sample::async_func_start_blocking(&cb_state, &b, 3).unwrap();
    let call2 = next_call(&rx);
    let call3 = next_call(&rx);
    drop(state);
    drop(cb_state);
    assert!(weak.upgrade().is_none(), "the client's handle is gone");
    eventually("the server to hear the orphaned calls", || {
        call2.test_cancel() == CANCELLED && call3.test_cancel() == CANCELLED
    });
    // The notification still fired exactly once (the cancel only rushes it).
    assert!(ev.wait_timeout(WAIT));
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    // A late answer is discarded without harm.
    call2.complete(());
    call3.abort(CANCELLED);
    stays("notified twice", QUIET, || {
        fired.load(Ordering::SeqCst) == 1
    });
    sample::non_async_func_blocking(&b, "still usable").unwrap();
    env.stop();
}

// ---------------------------------------------------------------------------------------------
// Client: [out] and [in, out]
// ---------------------------------------------------------------------------------------------

/// A small interface with an `[async]` operation that has `[in, out]` and `[out]` parameters:
/// `long Reverse([in] long n, [in, out, size_is(n)] long *values, [out] long *sum)`, opnum 0.
const REVERSE_IF: SyntaxId =
    SyntaxId::new(uuid::uuid!("3b8d3c1e-0b2f-4c7e-9d41-5a1c0f3e6b20"), 1, 0);

/// (values reversed, sum, return value)
type ReverseOut = (Vec<u32>, u32, u32);

struct ReverseServer;

impl Interface for ReverseServer {
    fn syntax(&self) -> SyntaxId {
        REVERSE_IF
    }
    fn name(&self) -> &str {
        "Reverse"
    }
    fn operation_count(&self) -> u16 {
        1
    }
    fn dispatch(&self, call: IncomingCall) -> Dispatch {
        let info = call.info();
        let mut d = Decoder::new(call.stub(), info.syntax, info.drep);
        let values: msrpc_ndr::Result<Vec<u32>> = (|| {
            let n = d.read_u32()?;
            let mut v = Vec::new();
            for _ in 0..n {
                v.push(d.read_u32()?);
            }
            d.finish()?;
            Ok(v)
        })();
        let call: AsyncCall<ReverseOut> = AsyncCall::new(call, |(v, sum, ret), e| {
            e.write_u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
            for x in v {
                e.write_u32(*x);
            }
            e.write_u32(*sum);
            e.write_u32(*ret);
            Ok(())
        });
        let Ok(values) = values else {
            call.abort(Win32Status::RPC_X_BAD_STUB_DATA);
            return Dispatch::Deferred;
        };
        // Answer later, from a thread of its own (the manager's own work time, not a wait).
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(150));
            let sum = values.iter().fold(0u32, |a, x| a.wrapping_add(*x));
            let rev = values.into_iter().rev().collect();
            call.complete((rev, sum, 0));
        });
        Dispatch::Deferred
    }
}

#[test]
fn row_out_buffers_owned_by_reply() {
    let env = Env::with_interface(Arc::new(ReverseServer), Arc::default());
    let b = env.binding();
    let ev = Event::auto_reset();
    let state: AsyncState<ReverseOut> = AsyncState::new(Notification::Event(ev.clone()));
    // The [in, out] buffer moves into the call: the caller cannot free it while it is pending.
    let inout: Vec<u32> = (1..=1000).collect();
    b.start_blocking(
        &state,
        REVERSE_IF,
        0,
        move |syntax, rep| {
            let mut e = Encoder::new(syntax, rep);
            e.write_u32(u32::try_from(inout.len()).unwrap());
            for x in &inout {
                e.write_u32(*x);
            }
            Ok(e.into_bytes())
        },
        |reply| {
            let mut d = Decoder::new(&reply.stub, reply.syntax, reply.drep);
            let n = d.read_u32()?;
            let mut v = Vec::new();
            for _ in 0..n {
                v.push(d.read_u32()?);
            }
            let sum = d.read_u32()?;
            let ret = d.read_u32()?;
            d.finish()?;
            Ok((v, sum, ret))
        },
    )
    .unwrap();
    assert_eq!(state.status(), PENDING);
    assert_eq!(
        st(state.complete()),
        Err(PENDING),
        "no outs before the reply"
    );
    assert!(ev.wait_timeout(WAIT));
    // The outs are owned values handed over by complete(); they outlive the handle.
    let (values, sum, ret) = state.complete().unwrap();
    drop(state);
    assert_eq!(values, (1..=1000).rev().collect::<Vec<u32>>());
    assert_eq!(sum, 500_500);
    assert_eq!(ret, 0);
    env.stop();
}

/// The connection's task hands the reply's bytes to the handle and fires the notification; the
/// out parameters are unmarshalled by `complete()`, on the thread that calls it (as
/// `RpcAsyncCompleteCall` does), never on the runtime's threads. A reply that does not decode is
/// reported by `complete()`, and becomes the call's final status.
#[test]
fn row_complete_unmarshals_on_the_callers_thread() {
    let env = Env::with_interface(Arc::new(ReverseServer), Arc::default());
    let b = env.binding();
    let encode = |syntax, rep| {
        let mut e = Encoder::new(syntax, rep);
        e.write_u32(3);
        for x in [1u32, 2, 3] {
            e.write_u32(x);
        }
        Ok(e.into_bytes())
    };
    let ev = Event::auto_reset();
    let state: AsyncState<u32> = AsyncState::new(Notification::Event(ev.clone()));
    let decoded_on = Arc::new(Mutex::new(None));
    let seen = decoded_on.clone();
    b.start_blocking(&state, REVERSE_IF, 0, encode, move |reply| {
        *seen.lock().unwrap() = Some(thread::current().id());
        Ok(u32::try_from(reply.stub.len()).unwrap())
    })
    .unwrap();
    assert!(ev.wait_timeout(WAIT));
    assert_eq!(state.status(), Win32Status::OK, "the reply is in");
    assert_eq!(
        *decoded_on.lock().unwrap(),
        None,
        "decoded before complete()"
    );
    // 3 values, the count, the sum and the return value: 6 u32s.
    assert_eq!(st(state.complete()), Ok(24));
    assert_eq!(*decoded_on.lock().unwrap(), Some(thread::current().id()));

    // A decoder that refuses the reply: complete() says so, and so does the status afterwards.
    state.reinitialize().unwrap();
    b.start_blocking(&state, REVERSE_IF, 0, encode, |reply| {
        let mut d = Decoder::new(&reply.stub, reply.syntax, reply.drep);
        d.read_u32()?;
        d.finish()?; // trailing bytes: bad stub data
        Ok(0)
    })
    .unwrap();
    assert!(ev.wait_timeout(WAIT));
    assert_eq!(state.status(), Win32Status::OK, "not decoded yet");
    assert_eq!(st(state.complete()), Err(Win32Status::RPC_X_BAD_STUB_DATA));
    assert_eq!(state.status(), Win32Status::RPC_X_BAD_STUB_DATA);
    env.stop();
}

// ---------------------------------------------------------------------------------------------
// Client: notification styles
// ---------------------------------------------------------------------------------------------

/// Event notification: auto-reset and manual-reset events; `wait_any` over several handles.
#[test]
fn row_event_notification() {
    let (env, rx) = Env::held();
    let b = env.binding();
    let auto = Event::auto_reset();
    let manual = Event::manual_reset();
    let a = AsyncState::new(Notification::Event(auto.clone()));
    let m = AsyncState::new(Notification::Event(manual.clone()));
    sample::async_func_start_blocking(&a, &b, 1).unwrap();
    sample::async_func_start_blocking(&m, &b, 2).unwrap();
    let call_a = next_call(&rx);
    let call_m = next_call(&rx);
    assert!(!auto.wait_timeout(QUIET), "set before the reply");
    assert_eq!(Event::wait_any(&[&auto, &manual], Duration::ZERO), None);
    // The manual-reset handle's call finishes first: wait_any names it.
    call_m.complete(());
    assert_eq!(Event::wait_any(&[&auto, &manual], WAIT), Some(1));
    assert!(manual.is_set(), "a manual-reset event stays set");
    assert_eq!(a.status(), PENDING);
    call_a.complete(());
    assert!(auto.wait_timeout(WAIT));
    assert!(
        !auto.is_set(),
        "an auto-reset event is consumed by the wait"
    );
    assert_eq!((st(a.complete()), st(m.complete())), (Ok(()), Ok(())));
    env.stop();
}

/// Polling: `status()` is 997 until the call is done, then the final status (also after
/// `complete`).
#[test]
fn row_polling_status_pending_until_done() {
    let (env, rx) = Env::held();
    let b = env.binding();
    let state = AsyncState::new(Notification::None);
    sample::async_func_start_blocking(&state, &b, 1).unwrap();
    let call = next_call(&rx);
    stays(
        "the status left 997 before the call was answered",
        QUIET,
        || state.status() == PENDING,
    );
    call.complete(());
    assert_eq!(wait_done(&state), OK);
    assert_eq!(st(state.complete()), Ok(()));
    assert_eq!(state.status(), OK, "the final status stays readable");

    // A fault: polling ends with the fault's status.
    state.reinitialize().unwrap();
    sample::async_func_start_blocking(&state, &b, 2).unwrap();
    let call = next_call(&rx);
    assert_eq!(state.status(), PENDING);
    call.abort(Win32Status::ERROR_ACCESS_DENIED);
    assert_eq!(wait_done(&state), Win32Status::ERROR_ACCESS_DENIED);
    assert_eq!(st(state.complete()), Err(Win32Status::ERROR_ACCESS_DENIED));
    env.stop();
}

/// APC with `hThread` = 0: queued to the thread that made the call, run only when it waits
/// alertably, with `RpcCallComplete`.
#[test]
fn row_apc_to_calling_thread_runs_only_in_alertable_wait() {
    let (env, rx) = Env::held();
    let b = env.binding();
    let ran: Arc<Mutex<Vec<(ThreadId, CallToken, RpcAsyncEvent)>>> = Arc::default();
    let state = AsyncState::new(Notification::apc({
        let ran = ran.clone();
        move |token, ev| {
            ran.lock()
                .unwrap()
                .push((thread::current().id(), token, ev))
        }
    }));
    let me = ThreadRef::current();
    sample::async_func_start_blocking(&state, &b, 1).unwrap();
    next_call(&rx).complete(());
    // The call completes, but the APC waits for an alertable wait of this thread.
    assert_eq!(wait_done(&state), OK);
    eventually("the APC to be queued to this thread", || {
        me.pending_apcs() == 1
    });
    stays("APC ran outside an alertable wait", QUIET, || {
        ran.lock().unwrap().is_empty()
    });
    assert_eq!(sleep_alertable(WAIT), WaitOutcome::IoCompletion);
    let ran = ran.lock().unwrap().clone();
    assert_eq!(
        ran,
        vec![(
            thread::current().id(),
            state.token(),
            RpcAsyncEvent::CallComplete
        )]
    );
    assert_eq!(me.pending_apcs(), 0);
    assert_eq!(st(state.complete()), Ok(()));

    // Event::wait_alertable runs it too.
    state.reinitialize().unwrap();
    let ev = Event::manual_reset();
    sample::async_func_start_blocking(&state, &b, 2).unwrap();
    next_call(&rx).complete(());
    assert_eq!(wait_done(&state), OK);
    assert_eq!(ev.wait_alertable(WAIT), WaitOutcome::IoCompletion);
    assert_eq!(st(state.complete()), Ok(()));
    env.stop();
}

/// APC with `hThread` set: queued to that thread, not the caller; run in its alertable wait.
#[test]
fn row_apc_to_named_thread() {
    let (env, rx) = Env::held();
    let b = env.binding();
    let (ref_tx, ref_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        ref_tx.send(ThreadRef::current()).unwrap();
        // Not alertable: a plain blocking receive.
        go_rx.recv_timeout(WAIT).unwrap();
        let outcome = sleep_alertable(WAIT);
        done_tx.send(outcome).unwrap();
    });
    let target = ref_rx.recv_timeout(WAIT).unwrap();
    let ran: Arc<Mutex<Vec<(ThreadId, RpcAsyncEvent)>>> = Arc::default();
    let state = AsyncState::new(Notification::apc_to(target.clone(), {
        let ran = ran.clone();
        move |_, ev| ran.lock().unwrap().push((thread::current().id(), ev))
    }));
    sample::async_func_start_blocking(&state, &b, 1).unwrap();
    next_call(&rx).complete(());
    assert_eq!(wait_done(&state), OK);
    eventually("the APC to be queued to the named thread", || {
        target.pending_apcs() == 1
    });
    assert_eq!(
        ThreadRef::current().pending_apcs(),
        0,
        "queued to the caller"
    );
    // The caller's alertable wait does not run another thread's APC.
    assert_eq!(
        sleep_alertable(Duration::from_millis(50)),
        WaitOutcome::Timeout
    );
    stays("ran before an alertable wait", QUIET, || {
        ran.lock().unwrap().is_empty()
    });
    go_tx.send(()).unwrap();
    assert_eq!(
        done_rx.recv_timeout(WAIT).unwrap(),
        WaitOutcome::IoCompletion
    );
    worker.join().unwrap();
    assert_eq!(
        ran.lock().unwrap().clone(),
        vec![(target.id(), RpcAsyncEvent::CallComplete)]
    );
    assert_eq!(st(state.complete()), Ok(()));
    env.stop();
}

/// I/O completion port: one packet per call, with the handle's bytes, key and overlapped, each
/// taken by exactly one of several waiting threads.
#[test]
fn row_io_completion_port_gets_bytes_key_overlapped() {
    const N: usize = 6;
    let (env, rx) = Env::held();
    let b = env.binding();
    let port = CompletionPort::new();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let port = port.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Some(c) = port.get_queued_completion_status(Duration::from_secs(2)) {
                    got.push(c);
                }
                got
            })
        })
        .collect();
    let states: Vec<AsyncState<()>> = (0..N)
        .map(|i| {
            AsyncState::new(Notification::IoCompletionPort {
                port: port.clone(),
                bytes: 100 + i as u32,
                key: 0xA000 + i,
                overlapped: 0x10_0000 + i * 0x100,
            })
        })
        .collect();
    for (i, s) in states.iter().enumerate() {
        sample::async_func_start_blocking(s, &b, i as u32).unwrap();
    }
    let calls: Vec<_> = (0..N).map(|_| next_call(&rx)).collect();
    assert_eq!(port.queued(), 0);
    for c in calls {
        c.complete(());
    }
    let mut got: Vec<Completion> = waiters
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    got.sort_by_key(|c| c.key);
    let want: Vec<Completion> = (0..N)
        .map(|i| Completion {
            bytes: 100 + i as u32,
            key: 0xA000 + i,
            overlapped: 0x10_0000 + i * 0x100,
        })
        .collect();
    assert_eq!(got, want, "one packet per call, each taken once");
    for c in got {
        let s = &states[c.key - 0xA000];
        assert_eq!(st(s.complete()), Ok(()));
    }
    env.stop();
}

/// Window handle: `Message { msg, wparam: 0, lparam: call }` posted to the window's queue.
#[test]
fn row_window_message_wparam_0_lparam_call() {
    let (env, rx) = Env::held();
    let b = env.binding();
    let queue = MessageQueue::new();
    let s1 = AsyncState::new(Notification::Hwnd {
        queue: queue.clone(),
        msg: WM_USER + 1,
    });
    let s2 = AsyncState::new(Notification::Hwnd {
        queue: queue.clone(),
        msg: WM_USER + 2,
    });
    sample::async_func_start_blocking(&s1, &b, 1).unwrap();
    sample::async_func_start_blocking(&s2, &b, 2).unwrap();
    let c1 = next_call(&rx);
    let c2 = next_call(&rx);
    assert_eq!(queue.peek_message(false), None, "posted before the reply");
    c2.complete(());
    c1.abort(Win32Status::ERROR_ACCESS_DENIED);
    let mut seen = Vec::new();
    for _ in 0..2 {
        let m = queue.get_message_timeout(WAIT).expect("no message");
        assert_eq!(m.wparam, 0);
        // lparam identifies the call's handle.
        let (state, msg) = if m.lparam == s1.token().0 {
            (&s1, WM_USER + 1)
        } else {
            assert_eq!(m.lparam, s2.token().0, "lparam is not a call of ours");
            (&s2, WM_USER + 2)
        };
        assert_eq!(m.msg, msg);
        seen.push((msg, st(state.complete())));
    }
    seen.sort_by_key(|(m, _)| *m);
    assert_eq!(
        seen,
        vec![
            (WM_USER + 1, Err(Win32Status::ERROR_ACCESS_DENIED)),
            (WM_USER + 2, Ok(()))
        ]
    );
    assert_eq!(queue.peek_message(false), None, "one message per call");
    env.stop();
}

/// Callback: runs on a runtime thread with the handle's token and `RpcCallComplete`; it may
/// take the result itself through a weak handle.
#[test]
fn row_callback_notification() {
    let (env, rx) = Env::held();
    let b = env.binding();
    let (tx, results) = mpsc::channel();
    let tx = Mutex::new(tx);
    let state: AsyncState<()> = AsyncState::new(Notification::None);
    let weak = state.downgrade();
    state
        .set_notification(Notification::callback(move |token, ev| {
            let r = weak.upgrade().map(|s| st(s.complete()));
            let _ = tx
                .lock()
                .unwrap()
                .send((thread::current().id(), token, ev, r));
        }))
        .unwrap();
    sample::async_func_start_blocking(&state, &b, 1).unwrap();
    assert!(
        results.recv_timeout(QUIET).is_err(),
        "called before the reply"
    );
    next_call(&rx).complete(());
    let (tid, token, ev, r) = results.recv_timeout(WAIT).expect("no callback");
    assert_ne!(tid, thread::current().id(), "runs on a runtime thread");
    assert_eq!(token, state.token());
    assert_eq!(ev, RpcAsyncEvent::CallComplete);
    assert_eq!(r, Some(Ok(())));
    assert!(results.recv_timeout(QUIET).is_err(), "called twice");
    assert_eq!(st(state.complete()), Err(INVALID_HANDLE), "already taken");
    env.stop();
}

/// A `Future` for each call; dropping it cancels the call on the wire (the server's
/// `test_cancel` and subscriptions see it).
#[test]
fn row_future_per_call_dropping_it_cancels_on_the_wire() {
    let (env, rx) = Env::held();
    let b = env.binding();

    // Awaited to the end, it gives the result.
    let fut = env.client_rt.spawn({
        let b = b.clone();
        async move { sample::async_func(&b, 1).await }
    });
    next_call(&rx).complete(());
    env.client_rt.block_on(fut).unwrap().unwrap();

    // Dropped while pending: co_cancel/orphaned reach the server.
    let fut = env.client_rt.spawn({
        let b = b.clone();
        async move { sample::async_func(&b, 2).await }
    });
    let call = next_call(&rx);
    let cancelled = Event::manual_reset();
    call.subscribe(
        Subscription::CallCancel,
        Notification::Event(cancelled.clone()),
        CallToken(7),
    );
    let seen: Arc<Mutex<Vec<CallEvent>>> = Arc::default();
    call.on_event({
        let seen = seen.clone();
        move |e| seen.lock().unwrap().push(e)
    });
    assert_eq!(call.test_cancel(), IN_PROGRESS);
    fut.abort();
    assert!(
        env.client_rt.block_on(fut).unwrap_err().is_cancelled(),
        "the future was dropped"
    );
    assert!(
        cancelled.wait_timeout(WAIT),
        "the server never heard the cancel"
    );
    assert_eq!(call.test_cancel(), CANCELLED);
    // on_event listeners run one after the other: the callback may still be on its way.
    eventually("the on_event callback", || {
        seen.lock().unwrap().contains(&CallEvent::Cancel)
    });
    call.abort(CANCELLED);

    // Dropped by a timeout around it: the same.
    let r = env.client_rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(100), sample::async_func(&b, 3)).await
    });
    assert!(r.is_err(), "the timeout fired");
    let call = next_call(&rx);
    eventually("the server to hear the cancel", || {
        call.test_cancel() == CANCELLED
    });
    call.complete(());
    // The association carries on.
    sample::non_async_func_blocking(&b, "after the dropped futures").unwrap();
    env.stop();
}

// ---------------------------------------------------------------------------------------------
// Client: calls while pending, failures, complete, cancel
// ---------------------------------------------------------------------------------------------

/// Synchronous calls while an async call is pending, on the same binding and connection.
#[test]
fn row_sync_calls_while_async_pending_same_binding() {
    let (env, rx) = Env::held();
    let b = env.binding();
    let ev = Event::auto_reset();
    let state = AsyncState::new(Notification::Event(ev.clone()));
    sample::async_func_start_blocking(&state, &b, 1).unwrap();
    let call = next_call(&rx);
    for i in 0..5 {
        sample::non_async_func_blocking(&b, &format!("meanwhile {i}")).unwrap();
        assert_eq!(state.status(), PENDING);
    }
    assert!(!ev.is_set());
    call.complete(());
    assert!(ev.wait_timeout(WAIT));
    assert_eq!(st(state.complete()), Ok(()));
    assert_eq!(b.connection_count(), 1);
    assert_eq!(env.server.stats().connections_accepted, 1, "one connection");
    assert_eq!(
        env.log(),
        vec![
            "async:1",
            "sync:meanwhile 0",
            "sync:meanwhile 1",
            "sync:meanwhile 2",
            "sync:meanwhile 3",
            "sync:meanwhile 4"
        ]
    );
    env.stop();
}

/// An RPC exception while the call is made: `Err` at once, no notification ever, and the
/// handle (never started) is usable again without re-initialising.
#[test]
fn row_exception_during_call_means_no_notification() {
    let env = Env::default_sample();
    let dead = {
        let _rt = env.client_rt.enter();
        Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{}]", dead_port())).unwrap()
    };
    let ev = Event::manual_reset();
    let state = AsyncState::new(Notification::Event(ev.clone()));
    let t0 = Instant::now();
    let err = sample::async_func_start_blocking(&state, &dead, 10).unwrap_err();
    assert!(t0.elapsed() < WAIT, "the failure was not prompt");
    assert_eq!(err.status(), Win32Status::RPC_S_SERVER_UNAVAILABLE, "{err}");
    assert!(!ev.wait_timeout(QUIET), "a failed call notified");
    assert_eq!(state.status(), INVALID_HANDLE, "no call on the handle");
    assert_eq!(st(state.complete()), Err(INVALID_HANDLE));

    // The same with a callback: never called.
    let (note, fired) = counting();
    let cb = AsyncState::new(note);
    assert!(sample::async_func_start_blocking(&cb, &dead, 10).is_err());
    stays("a failed call called its callback", QUIET, || {
        fired.load(Ordering::SeqCst) == 0
    });

    // The handle was never started: a call on a live binding works without reinitialize.
    let b = env.binding();
    sample::async_func_start_blocking(&state, &b, 10).unwrap();
    assert!(ev.wait_timeout(WAIT));
    assert_eq!(st(state.complete()), Ok(()));
    sample::async_func_start_blocking(&cb, &b, 10).unwrap();
    eventually("the callback", || fired.load(Ordering::SeqCst) == 1);
    assert_eq!(st(cb.complete()), Ok(()));

    // Other failures as the call is made: an interface the server does not offer (the bind
    // is rejected) and in-parameters that cannot be marshalled. Err at once, no notification.
    let unknown = SyntaxId::new(uuid::uuid!("11111111-2222-3333-4444-555555555555"), 1, 0);
    state.reinitialize().unwrap();
    ev.reset();
    let err = b
        .start_blocking(&state, unknown, 0, |_, _| Ok(Vec::new()), |_| Ok(()))
        .unwrap_err();
    assert_eq!(err.status(), Win32Status::RPC_S_UNKNOWN_IF, "{err}");
    assert!(
        matches!(
            err,
            Error::BindRejected {
                reason: msrpc::error::BindRejection::Context {
                    reason: msrpc::error::ProviderReason::ABSTRACT_SYNTAX_NOT_SUPPORTED,
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the server rejected the binding: abstract syntax not supported (RPC_S_UNKNOWN_IF 1717)"
    );
    let err = b
        .start_blocking(
            &state,
            ASYNC_RPC,
            sample::OP_ASYNC_FUNC,
            |_, _| Err(msrpc_ndr::Error::new(msrpc_ndr::ErrorKind::NullRefPointer)),
            |_| Ok(()),
        )
        .unwrap_err();
    assert_eq!(err.status(), Win32Status::RPC_X_BAD_STUB_DATA, "{err}");
    assert!(!ev.wait_timeout(QUIET), "a failed call notified");
    assert_eq!(state.status(), INVALID_HANDLE, "still never started");
    sample::async_func_start_blocking(&state, &b, 10).unwrap();
    assert!(ev.wait_timeout(WAIT));
    assert_eq!(st(state.complete()), Ok(()));
    env.stop();
}

/// `RpcAsyncCompleteCall`: 997 while pending (no effect), then the outs or the final status;
/// anything but pending is final (a second complete gives 1914).
#[test]
fn row_complete_returns_outs_or_final_status() {
    let (env, rx) = Env::held();
    let b = env.binding();
    let state = AsyncState::new(Notification::None);
    // Success.
    sample::async_func_start_blocking(&state, &b, 1).unwrap();
    let call = next_call(&rx);
    for _ in 0..3 {
        assert_eq!(st(state.complete()), Err(PENDING));
    }
    call.complete(());
    wait_done(&state);
    assert_eq!(st(state.complete()), Ok(()));
    assert_eq!(st(state.complete()), Err(INVALID_HANDLE));
    // A fault.
    state.reinitialize().unwrap();
    sample::async_func_start_blocking(&state, &b, 2).unwrap();
    let call = next_call(&rx);
    assert_eq!(st(state.complete()), Err(PENDING));
    call.abort(Win32Status::RPC_X_BAD_STUB_DATA);
    wait_done(&state);
    assert_eq!(st(state.complete()), Err(Win32Status::RPC_X_BAD_STUB_DATA));
    assert_eq!(st(state.complete()), Err(INVALID_HANDLE));
    // Cancelled.
    state.reinitialize().unwrap();
    sample::async_func_start_blocking(&state, &b, 3).unwrap();
    let call = next_call(&rx);
    state.cancel(CancelMode::Abortive).unwrap();
    assert_eq!(st(state.complete()), Err(CANCELLED));
    assert_eq!(st(state.complete()), Err(INVALID_HANDLE));
    call.abort(CANCELLED);
    env.stop();
}

/// Non-abortive cancel: the server is told, the call stays pending, and the server's answer
/// decides: a normal completion is a success; an abort with 1818 is cancelled.
#[test]
fn row_cancel_non_abortive_waits_for_server_reply() {
    let (env, rx) = Env::held();
    let b = env.binding();
    let ev = Event::manual_reset();
    let state = AsyncState::new(Notification::Event(ev.clone()));

    // The server completes normally despite the cancel.
    sample::async_func_start_blocking(&state, &b, 1).unwrap();
    let call = next_call(&rx);
    state.cancel(CancelMode::NonAbortive).unwrap();
    eventually("the server to see the cancel", || {
        call.test_cancel() == CANCELLED
    });
    assert!(
        !ev.wait_timeout(QUIET),
        "a non-abortive cancel completed the call"
    );
    assert_eq!(state.status(), PENDING);
    call.complete(());
    assert!(ev.wait_timeout(WAIT), "the notification still fires");
    assert_eq!(st(state.complete()), Ok(()), "the server's answer wins");

    // The server aborts on the cancel.
    state.reinitialize().unwrap();
    ev.reset();
    sample::async_func_start_blocking(&state, &b, 2).unwrap();
    let call = next_call(&rx);
    state.cancel(CancelMode::NonAbortive).unwrap();
    eventually("the server to see the cancel", || {
        call.test_cancel() == CANCELLED
    });
    assert_eq!(state.status(), PENDING);
    call.abort(CANCELLED);
    assert!(ev.wait_timeout(WAIT));
    assert_eq!(st(state.complete()), Err(CANCELLED));
    env.stop();

    // The sample as shipped aborts at once when the client cancels.
    let env = Env::default_sample();
    let b = env.binding();
    let ev = Event::manual_reset();
    let state = AsyncState::new(Notification::Event(ev.clone()));
    sample::async_func_start_blocking(&state, &b, 60_000).unwrap();
    eventually("AsyncFunc to be running on the server", || {
        env.server.stats().calls_in_progress == 1
    });
    state.cancel(CancelMode::NonAbortive).unwrap();
    assert!(ev.wait_timeout(WAIT));
    assert_eq!(st(state.complete()), Err(CANCELLED));
    env.stop();
}

/// Abortive cancel: the call completes at once as 1818 (the notification fires inside
/// `cancel`), the server still hears it, a late reply is discarded, and the binding carries on.
#[test]
fn row_cancel_abortive_completes_at_once_and_tells_server() {
    let (env, rx) = Env::held();
    let b = env.binding();
    let ev = Event::manual_reset();
    let state = AsyncState::new(Notification::Event(ev.clone()));
    sample::async_func_start_blocking(&state, &b, 1).unwrap();
    let call = next_call(&rx);
    let heard = Event::manual_reset();
    call.subscribe(
        Subscription::CallCancel,
        Notification::Event(heard.clone()),
        CallToken(1),
    );
    state.cancel(CancelMode::Abortive).unwrap();
    // At once: no waiting for the server.
    assert!(ev.is_set(), "the notification fired inside cancel()");
    assert_eq!(state.status(), CANCELLED);
    assert!(
        heard.wait_timeout(WAIT),
        "the server's subscription did not fire"
    );
    assert_eq!(call.test_cancel(), CANCELLED);
    // The late reply is discarded.
    call.complete(());
    stays("the late reply was not discarded", QUIET, || {
        state.status() == CANCELLED
    });
    assert_eq!(st(state.complete()), Err(CANCELLED));
    assert_eq!(
        st(state.cancel(CancelMode::Abortive)),
        Err(INVALID_HANDLE),
        "nothing left to cancel"
    );
    sample::non_async_func_blocking(&b, "after the abortive cancel").unwrap();
    env.stop();
}

// ---------------------------------------------------------------------------------------------
// Server: [async] managers
// ---------------------------------------------------------------------------------------------

/// The manager gets the async handle first, returns at once, and the call is completed later
/// from another thread.
#[test]
fn row_server_manager_gets_async_handle_and_completes_from_any_thread() {
    let returned = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let env = Env::sample({
        let returned = returned.clone();
        move |call, delay| {
            assert_eq!(call.info().opnum, sample::OP_ASYNC_FUNC);
            assert_eq!(call.info().interface, ASYNC_RPC);
            let dispatcher = thread::current().id();
            let tx = tx.lock().unwrap().clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(u64::from(delay)));
                let completer = thread::current().id();
                call.complete(());
                tx.send((dispatcher, completer)).unwrap();
            });
            returned.store(true, Ordering::SeqCst);
        }
    });
    let b = env.binding();
    let ev = Event::auto_reset();
    let state = AsyncState::new(Notification::Event(ev.clone()));
    sample::async_func_start_blocking(&state, &b, 300).unwrap();
    eventually("the manager to return", || returned.load(Ordering::SeqCst));
    assert_eq!(state.status(), PENDING, "returning did not finish the call");
    // The connection keeps serving while the manager's call is outstanding.
    sample::non_async_func_blocking(&b, "while the manager's call is open").unwrap();
    assert!(ev.wait_timeout(WAIT));
    assert_eq!(st(state.complete()), Ok(()));
    let (dispatcher, completer) = rx.recv_timeout(WAIT).unwrap();
    assert_ne!(dispatcher, completer, "completed from another thread");
    env.stop();
}

/// `abort(code)` reaches the client as a fault with that status: Win32 5 as 5; 1818 as
/// `nca_s_fault_cancel` (1818); a dropped, unfinished call as 1726.
#[test]
fn row_server_abort_reaches_client_as_fault_status() {
    let env = Env::sample(|call, code| {
        if code == 0 {
            drop(call); // never finished: the runtime faults it
        } else {
            call.abort(Win32Status(code));
        }
    });
    let b = env.binding();
    let ev = Event::auto_reset();
    let state = AsyncState::new(Notification::Event(ev.clone()));
    for (code, want) in [
        (5, Win32Status::ERROR_ACCESS_DENIED),
        (1818, CANCELLED),
        (0, Win32Status::RPC_S_CALL_FAILED),
    ] {
        state.reinitialize().unwrap();
        sample::async_func_start_blocking(&state, &b, code).unwrap();
        assert!(ev.wait_timeout(WAIT), "abort({code}) did not notify");
        // complete() hands over the server's fault itself, with its status and flags.
        let e = state.complete().unwrap_err();
        assert_eq!(e.status(), want, "abort({code})");
        assert!(matches!(e, Error::Fault { .. }), "abort({code}): {e:?}");
    }
    // On the wire: 5 travels as 5, 1818 as nca_s_fault_cancel.
    for (code, wire, win32) in [
        (5, FaultStatus(5), Win32Status::ERROR_ACCESS_DENIED),
        (1818, FaultStatus::NCA_S_FAULT_CANCEL, CANCELLED),
    ] {
        let err = env
            .client_rt
            .block_on(sample::async_func(&b, code))
            .unwrap_err();
        match err {
            Error::Fault {
                status, win32: w, ..
            } => {
                assert_eq!((status, w), (wire, win32), "abort({code})");
            }
            other => panic!("abort({code}): {other:?}"),
        }
    }
    env.stop();
}

/// `RpcServerTestCancel`: 1791 while the call is in progress, 1818 once the client cancels.
#[test]
fn row_server_test_cancel_in_progress_then_cancelled() {
    let (env, rx) = Env::held();
    let b = env.binding();
    let state = AsyncState::new(Notification::None);
    sample::async_func_start_blocking(&state, &b, 1).unwrap();
    let call = next_call(&rx);
    assert_eq!(call.test_cancel(), IN_PROGRESS);
    stays("a cancel nobody made", QUIET, || {
        call.test_cancel() == IN_PROGRESS
    });
    state.cancel(CancelMode::NonAbortive).unwrap();
    eventually("test_cancel to report the cancel", || {
        call.test_cancel() == CANCELLED
    });
    assert!(!call.is_client_gone());
    call.abort(CANCELLED);
    assert_eq!(wait_done(&state), CANCELLED);
    env.stop();
}

/// `RpcServerSubscribeForNotification` for ClientDisconnect and CallCancel, delivered through
/// an event and through a completion port.
#[test]
fn row_server_subscribe_client_disconnect_and_call_cancel() {
    let (env, rx) = Env::held();

    // 1. Events. Cancel first, then the client closes its binding under the call.
    let b = env.binding();
    let state = AsyncState::new(Notification::None);
    sample::async_func_start_blocking(&state, &b, 1).unwrap();
    let call = next_call(&rx);
    let on_cancel = Event::manual_reset();
    let on_disconnect = Event::manual_reset();
    call.subscribe(
        Subscription::CallCancel,
        Notification::Event(on_cancel.clone()),
        CallToken(1),
    );
    call.subscribe(
        Subscription::ClientDisconnect,
        Notification::Event(on_disconnect.clone()),
        CallToken(1),
    );
    state.cancel(CancelMode::NonAbortive).unwrap();
    assert!(on_cancel.wait_timeout(WAIT), "CallCancel not delivered");
    assert!(!on_disconnect.wait_timeout(QUIET), "not disconnected yet");
    b.close();
    assert!(
        on_disconnect.wait_timeout(WAIT),
        "ClientDisconnect not delivered"
    );
    assert!(call.is_client_gone());
    // The client's call ends too (the connection failed under it).
    let st = wait_done(&state);
    assert!(
        [
            Win32Status::RPC_S_CALL_FAILED,
            Win32Status::RPC_S_COMM_FAILURE
        ]
        .contains(&st),
        "{st:?}"
    );
    call.complete(()); // sends nothing: the client is gone

    // 2. A completion port, keys telling the two apart; a subscription made after the cancel
    // is delivered at once.
    let b = env.binding();
    let state = AsyncState::new(Notification::None);
    sample::async_func_start_blocking(&state, &b, 2).unwrap();
    let call = next_call(&rx);
    let port = CompletionPort::new();
    call.subscribe(
        Subscription::ClientDisconnect,
        Notification::IoCompletionPort {
            port: port.clone(),
            bytes: 3,
            key: 0xD15C,
            overlapped: 0x2000,
        },
        CallToken(2),
    );
    state.cancel(CancelMode::NonAbortive).unwrap();
    eventually("the server to see the cancel", || {
        call.test_cancel() == CANCELLED
    });
    call.subscribe(
        Subscription::CallCancel,
        Notification::IoCompletionPort {
            port: port.clone(),
            bytes: 4,
            key: 0xCA7C,
            overlapped: 0x2000,
        },
        CallToken(2),
    );
    let c = port.get_queued_completion_status(WAIT).expect("CallCancel");
    assert_eq!((c.bytes, c.key, c.overlapped), (4, 0xCA7C, 0x2000));
    assert_eq!(port.get_queued_completion_status(QUIET), None);
    b.close();
    let c = port
        .get_queued_completion_status(WAIT)
        .expect("ClientDisconnect");
    assert_eq!((c.bytes, c.key, c.overlapped), (3, 0xD15C, 0x2000));
    assert!(
        port.get_queued_completion_status(QUIET).is_none(),
        "once each"
    );
    wait_done(&state);
    call.abort(CANCELLED);

    // 3. The other styles: a window message, a callback, and an APC to a named thread, which
    // runs it in its alertable wait.
    let b = env.binding();
    let state = AsyncState::new(Notification::None);
    sample::async_func_start_blocking(&state, &b, 3).unwrap();
    let call = next_call(&rx);
    let window = MessageQueue::new();
    call.subscribe(
        Subscription::CallCancel,
        Notification::Hwnd {
            queue: window.clone(),
            msg: WM_USER + 7,
        },
        CallToken(0x77),
    );
    let (cb_tx, cb_rx) = mpsc::channel();
    let cb_tx = Mutex::new(cb_tx);
    call.subscribe(
        Subscription::ClientDisconnect,
        Notification::callback(move |token, ev| {
            let _ = cb_tx.lock().unwrap().send((token, ev));
        }),
        CallToken(0x78),
    );
    let (ref_tx, ref_rx) = mpsc::channel();
    let (apc_tx, apc_rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        ref_tx.send(ThreadRef::current()).unwrap();
        let end = Instant::now() + WAIT;
        while Instant::now() < end {
            if sleep_alertable(Duration::from_millis(50)) == WaitOutcome::IoCompletion {
                return;
            }
        }
    });
    let target = ref_rx.recv_timeout(WAIT).unwrap();
    call.subscribe(
        Subscription::CallCancel,
        Notification::apc_to(target.clone(), {
            let apc_tx = Mutex::new(apc_tx);
            move |token, ev| {
                let _ = apc_tx
                    .lock()
                    .unwrap()
                    .send((thread::current().id(), token, ev));
            }
        }),
        CallToken(0x79),
    );
    state.cancel(CancelMode::NonAbortive).unwrap();
    let m = window.get_message_timeout(WAIT).expect("no window message");
    assert_eq!((m.msg, m.wparam, m.lparam), (WM_USER + 7, 0, 0x77));
    assert_eq!(
        apc_rx.recv_timeout(WAIT).unwrap(),
        (
            target.id(),
            CallToken(0x79),
            RpcAsyncEvent::ServerCallCancel
        )
    );
    waiter.join().unwrap();
    assert!(cb_rx.recv_timeout(QUIET).is_err(), "not disconnected yet");
    b.close();
    assert_eq!(
        cb_rx.recv_timeout(WAIT).unwrap(),
        (CallToken(0x78), RpcAsyncEvent::ClientDisconnect)
    );
    wait_done(&state);
    call.abort(CANCELLED);
    env.stop();
}

/// Finishing a call whose client or server is gone is harmless, from any thread: nothing is
/// sent, nothing panics, and the server's count of calls in progress returns to zero.
#[test]
fn row_server_complete_after_the_client_or_server_is_gone() {
    let (env, rx) = Env::held();
    // The client closed its binding under the call.
    let b = env.binding();
    let state = AsyncState::new(Notification::None);
    sample::async_func_start_blocking(&state, &b, 1).unwrap();
    let call = next_call(&rx);
    b.close();
    eventually("the server to see the client go", || call.is_client_gone());
    thread::spawn(move || call.complete(())).join().unwrap();
    wait_done(&state);
    eventually("no call in progress", || {
        env.server.stats().calls_in_progress == 0
    });
    // The server shut down (no grace) with the call held, then its runtime went away.
    let b = env.binding();
    let state = AsyncState::new(Notification::None);
    sample::async_func_start_blocking(&state, &b, 2).unwrap();
    let call = next_call(&rx);
    let Env {
        server_rt,
        client_rt,
        server,
        ..
    } = env;
    server_rt.block_on(server.shutdown(Duration::ZERO));
    let st = wait_done(&state);
    assert_ne!(st, OK, "the call cannot have succeeded");
    drop(server_rt);
    thread::spawn(move || call.abort(CANCELLED)).join().unwrap();
    drop(client_rt);
}

/// Causal ordering: calls started from one thread on one binding are dispatched by the server
/// in the order they were made (async and sync calls alike).
#[test]
fn row_causal_ordering_per_binding_and_thread() {
    const N: u32 = 40;
    let env = Env::sample(|call, _| call.complete(()));
    for noncausal in [false, true] {
        env.log.lock().unwrap().clear();
        let mut opts = BindingOptions::default();
        opts.noncausal = noncausal;
        let b = env.binding_with(opts);
        let states: Vec<AsyncState<()>> = (0..N)
            .map(|_| AsyncState::new(Notification::None))
            .collect();
        let mut want = Vec::new();
        for (i, s) in states.iter().enumerate() {
            sample::async_func_start_blocking(s, &b, i as u32).unwrap();
            want.push(format!("async:{i}"));
            if i % 10 == 9 {
                sample::non_async_func_blocking(&b, &format!("{i}")).unwrap();
                want.push(format!("sync:{i}"));
            }
        }
        for s in &states {
            assert_eq!(wait_done(s), OK);
        }
        if !noncausal {
            assert_eq!(env.log(), want, "dispatched out of order");
        } else {
            // Noncausal allows any order; every call still runs exactly once.
            let mut got = env.log();
            got.sort();
            want.sort();
            assert_eq!(got, want);
        }
    }
    env.stop();
}

/// Causal ordering with a binding that may open several connections: one thread's calls are
/// dispatched in the order they were made (they stay on one connection), another thread's calls
/// may use another connection, and a noncausal binding spreads its calls over the pool.
#[test]
fn row_causal_ordering_across_connections_of_one_binding() {
    const N: u32 = 30;
    let (env, rx) = Env::held();
    let pool_opts = |noncausal: bool| {
        let mut opts = BindingOptions::default();
        opts.max_connections = 4;
        opts.max_calls_per_connection = 1;
        opts.noncausal = noncausal;
        opts
    };
    let run = |b: &Binding, base: u32| -> Vec<u32> {
        let states: Vec<AsyncState<()>> = (0..N)
            .map(|_| AsyncState::new(Notification::None))
            .collect();
        let mut order = Vec::new();
        let mut held = Vec::new();
        // Several calls stay in progress, so a pool of 1-call connections would want to grow.
        for (i, s) in states.iter().enumerate() {
            sample::async_func_start_blocking(s, b, base + i as u32).unwrap();
            while let Ok((call, d)) = rx.recv_timeout(Duration::from_millis(20)) {
                order.push(d - base);
                held.push(call);
            }
            if held.len() > 2 {
                held.remove(0).complete(());
            }
        }
        for c in held.drain(..) {
            c.complete(());
        }
        while order.len() < N as usize {
            let (call, d) = rx.recv_timeout(WAIT).expect("a call got lost");
            order.push(d - base);
            call.complete(());
        }
        for s in &states {
            assert_eq!(wait_done(s), OK);
        }
        order
    };

    // Causal: in order, on the thread's one connection.
    let b = env.binding_with(pool_opts(false));
    assert_eq!(
        run(&b, 0),
        (0..N).collect::<Vec<_>>(),
        "dispatched out of order"
    );
    assert_eq!(env.server.stats().connections_accepted, 1);
    // Another thread holds a call on the binding: this thread's calls are not stuck behind it.
    let other = {
        let b = b.clone();
        thread::spawn(move || {
            let s = AsyncState::new(Notification::None);
            sample::async_func_start_blocking(&s, &b, 1_000_000).unwrap();
            s
        })
        .join()
        .unwrap()
    };
    let other_call = next_call(&rx);
    assert_eq!(
        run(&b, 0),
        (0..N).collect::<Vec<_>>(),
        "dispatched out of order"
    );
    other_call.complete(());
    assert_eq!(wait_done(&other), OK);

    // Noncausal: the calls may spread over several connections; each still runs once.
    let before = env.server.stats().connections_accepted;
    let b = env.binding_with(pool_opts(true));
    let mut order = run(&b, 0);
    order.sort_unstable();
    assert_eq!(order, (0..N).collect::<Vec<_>>());
    assert!(
        env.server.stats().connections_accepted - before > 1,
        "a noncausal binding with 1-call connections used one connection"
    );
    env.stop();
}

/// `RPC_C_OPT_CALL_TIMEOUT`: when it expires the call ends as 1818, the notification fires and
/// the server hears the cancel.
#[test]
fn row_call_timeout_ends_as_cancelled() {
    let (env, rx) = Env::held();
    let mut opts = BindingOptions::default();
    opts.call_timeout = Some(Duration::from_millis(200));
    let b = env.binding_with(opts);
    let ev = Event::manual_reset();
    let state = AsyncState::new(Notification::Event(ev.clone()));
    let t0 = Instant::now();
    sample::async_func_start_blocking(&state, &b, 1).unwrap();
    let call = next_call(&rx);
    assert!(ev.wait_timeout(WAIT), "the timeout did not end the call");
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(150), "ended early: {took:?}");
    assert_eq!(st(state.complete()), Err(CANCELLED));
    eventually("the server to hear the cancel", || {
        call.test_cancel() == CANCELLED
    });
    call.abort(CANCELLED);

    // The Future form: the same status.
    let err = env
        .client_rt
        .block_on(sample::async_func(&b, 2))
        .unwrap_err();
    assert_eq!(err.status(), CANCELLED, "{err}");
    next_call(&rx).abort(CANCELLED);

    // A call answered in time is not affected.
    state.reinitialize().unwrap();
    ev.reset();
    sample::async_func_start_blocking(&state, &b, 3).unwrap();
    next_call(&rx).complete(());
    assert!(ev.wait_timeout(WAIT));
    assert_eq!(st(state.complete()), Ok(()));
    env.stop();
}

/// The manager completes the call, then the server shuts down gracefully at once (as a
/// `Shutdown` manager that calls `RpcMgmtStopServerListening` does): the answer already given
/// must still reach the client.
#[test]
fn row_server_complete_then_graceful_shutdown_delivers_reply() {
    let mut lost = Vec::new();
    for round in 0..20 {
        let (env, rx) = Env::held();
        let b = env.binding();
        let state = AsyncState::new(Notification::None);
        sample::async_func_start_blocking(&state, &b, round).unwrap();
        let call = next_call(&rx);
        call.complete(());
        env.server_rt
            .block_on(env.server.shutdown(Duration::from_secs(5)));
        let st = wait_done(&state);
        if st != OK {
            lost.push((round, st));
        }
        env.stop();
    }
    assert!(lost.is_empty(), "replies lost (round, status): {lost:?}");
}

// ---------------------------------------------------------------------------------------------
// Edge cases of the rows above, through a TCP proxy that can slow the client's bytes down
// ---------------------------------------------------------------------------------------------

/// A TCP proxy on 127.0.0.1 that forwards each accepted connection to `target`. While it is
/// paused, nothing from the clients is forwarded (it holds what it read, and the rest piles up in
/// the socket buffers). It counts the bytes it has read from clients.
struct Proxy {
    text: String,
    paused: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
}

impl Proxy {
    fn start(target: &str) -> Proxy {
        let port = target
            .rsplit_once('[')
            .and_then(|(_, p)| p.strip_suffix(']'))
            .unwrap()
            .to_string();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let text = format!("ncacn_ip_tcp:127.0.0.1[{}]", l.local_addr().unwrap().port());
        let paused = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let (gate, count) = (paused.clone(), received.clone());
        thread::spawn(move || {
            for client in l.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = std::net::TcpStream::connect(format!("127.0.0.1:{port}")) else {
                    return;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (gate, count) = (gate.clone(), count.clone());
                thread::spawn(move || pump(client, server, Some((gate, count))));
                thread::spawn(move || pump(s2, c2, None));
            }
        });
        Proxy {
            text,
            paused,
            received,
        }
    }

    /// Bytes read from clients so far (forwarded or held).
    fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }

    fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }

    /// A binding to the proxy, on the test's client runtime.
    fn binding(&self, env: &Env) -> Binding {
        let _rt = env.client_rt.enter();
        Binding::from_string(&self.text).unwrap()
    }
}

/// Copies `from` to `to`. With a gate (client to server): counts what it reads, and holds it
/// while the gate is set.
fn pump(
    mut from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    gate: Option<(Arc<AtomicBool>, Arc<AtomicU64>)>,
) {
    use std::io::{Read, Write};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some((_, count)) = &gate {
                    count.fetch_add(n as u64, Ordering::SeqCst);
                }
                // The pause gate: a flag the test flips, polled (it is not a wait for an event).
                while gate.as_ref().is_some_and(|(g, _)| g.load(Ordering::SeqCst)) {
                    thread::sleep(Duration::from_millis(5));
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// `RpcAsyncCancelCall` from another thread while the call is still being made (connecting and
/// binding): the cancel must not be lost. Non-abortive: the server hears it once the call
/// arrives. Abortive: the call completes at once as 1818, and the server, if the call reaches it
/// at all, hears the cancel.
#[test]
fn row_cancel_while_the_call_is_being_made_is_not_lost() {
    let (env, rx) = Env::held();
    let proxy = Proxy::start(&env.text);
    for abortive in [false, true] {
        // The call's connect goes through, its bind waits in the proxy until the cancel is made.
        proxy.pause();
        let b = proxy.binding(&env);
        let before = proxy.received();
        let state = AsyncState::new(Notification::None);
        let starter = {
            let (state, b) = (state.clone(), b.clone());
            thread::spawn(move || sample::async_func_start_blocking(&state, &b, 1))
        };
        eventually("the bind to reach the proxy", || proxy.received() > before);
        assert_eq!(state.status(), PENDING, "the call has begun on the handle");
        state
            .cancel(if abortive {
                CancelMode::Abortive
            } else {
                CancelMode::NonAbortive
            })
            .unwrap();
        if abortive {
            assert_eq!(state.status(), CANCELLED, "abortive: at once");
        }
        proxy.resume();
        let started = starter.join().unwrap();
        match rx.recv_timeout(WAIT) {
            Ok((call, _)) => {
                let heard = within(Duration::from_secs(2), || call.test_cancel() == CANCELLED);
                call.abort(CANCELLED);
                assert!(
                    heard,
                    "abortive={abortive}: the call ran on the server, which never heard the \
                     cancel (call_async returned {started:?})"
                );
            }
            Err(_) => assert!(abortive, "a non-abortive cancel must not stop the call"),
        }
        assert!(wait_done(&state) == CANCELLED || state.status() == OK);
    }
    env.stop();
}

/// `RPC_C_OPT_CALL_TIMEOUT` when the server accepts the connection but never answers (not even
/// the bind): the call still ends, as cancelled, near the timeout, instead of hanging.
#[test]
fn row_call_timeout_covers_a_server_that_never_answers_the_bind() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let hold = thread::spawn({
        let stop = stop.clone();
        move || {
            // Accept and keep the sockets open, reading nothing back.
            let mut kept = Vec::new();
            l.set_nonblocking(true).unwrap();
            let end = Instant::now() + Duration::from_secs(8);
            while Instant::now() < end && !stop.load(Ordering::SeqCst) {
                if let Ok((s, _)) = l.accept() {
                    kept.push(s);
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
    });
    let rt = runtime();
    let mut opts = BindingOptions::default();
    opts.call_timeout = Some(Duration::from_millis(300));
    let b = {
        let _rt = rt.enter();
        Binding::with_options(&format!("ncacn_ip_tcp:127.0.0.1[{port}]"), opts).unwrap()
    };
    let ev = Event::manual_reset();
    let state = AsyncState::new(Notification::Event(ev.clone()));
    let (tx, done) = mpsc::channel();
    let t0 = Instant::now();
    {
        let state = state.clone();
        thread::spawn(move || {
            let _ = tx.send(sample::async_func_start_blocking(&state, &b, 1));
        });
    }
    let started = done.recv_timeout(WAIT);
    let took = t0.elapsed();
    match started {
        Err(_) => panic!("call_async hung for {WAIT:?} although call_timeout is 300 ms"),
        // Either the call fails as it is made (no notification), or it starts and then ends
        // as cancelled.
        Ok(Err(e)) => assert!(
            [CANCELLED, Win32Status::RPC_S_SERVER_UNAVAILABLE].contains(&e.status()),
            "{e}"
        ),
        Ok(Ok(())) => {
            assert!(ev.wait_timeout(WAIT));
            assert_eq!(st(state.complete()), Err(CANCELLED));
        }
    }
    assert!(took < Duration::from_secs(4), "took {took:?}");
    stop.store(true, Ordering::SeqCst);
    hold.join().unwrap();
}

/// Abortive cancel while the request is still being sent (MS-RPCE 3.3.1.5.10): the call
/// completes at once as 1818; the partial request is orphaned, so the server never runs it; the
/// binding works afterwards (on this connection or a new one).
#[test]
fn row_cancel_abortive_while_request_is_being_sent() {
    const BIG: u32 = 8 << 20; // 32 MiB of stub: more than the socket buffers hold
    let mut config = ServerConfig::default();
    config.max_request_size = 64 << 20;
    let env = Env::with_config(Arc::new(ReverseServer), Arc::default(), config);
    let proxy = Proxy::start(&env.text);
    let b = proxy.binding(&env);
    let start = |state: &AsyncState<ReverseOut>, n: u32| {
        b.start_blocking(
            state,
            REVERSE_IF,
            0,
            move |syntax, rep| {
                let mut e = Encoder::new(syntax, rep);
                e.write_u32(n);
                for x in 0..n {
                    e.write_u32(x);
                }
                Ok(e.into_bytes())
            },
            |reply| {
                let mut d = Decoder::new(&reply.stub, reply.syntax, reply.drep);
                let n = d.read_u32()?;
                let mut v = Vec::new();
                for _ in 0..n {
                    v.push(d.read_u32()?);
                }
                let sum = d.read_u32()?;
                let ret = d.read_u32()?;
                d.finish()?;
                Ok((v, sum, ret))
            },
        )
    };
    // Warm up: the connection is bound, and a small call works through the proxy.
    let state: AsyncState<ReverseOut> = AsyncState::new(Notification::None);
    start(&state, 3).unwrap();
    assert_eq!(wait_done(&state), OK);
    assert_eq!(state.complete().unwrap().0, vec![2, 1, 0]);
    let received = env.server.stats().calls_received;

    // The proxy holds the bytes back, so most of the request is still unsent at the cancel.
    proxy.pause();
    state.reinitialize().unwrap();
    let sent = proxy.received();
    start(&state, BIG).unwrap();
    eventually("the request to begin arriving at the proxy", || {
        proxy.received() > sent
    });
    state.cancel(CancelMode::Abortive).unwrap();
    assert_eq!(state.status(), CANCELLED, "completed at once");
    proxy.resume();
    stays(
        "the server ran a call the client orphaned while sending it",
        Duration::from_millis(1500),
        || env.server.stats().calls_received == received,
    );
    // The binding carries on.
    state.reinitialize().unwrap();
    start(&state, 4).unwrap();
    assert_eq!(wait_done(&state), OK);
    assert_eq!(state.complete().unwrap().0, vec![3, 2, 1, 0]);
    env.stop();
}

/// A subscription made while the client's cancel is arriving is delivered exactly once, never
/// lost: "an event that already happened is delivered at once", and one that happens later
/// reaches every listener registered before it.
#[test]
fn row_server_subscribe_never_misses_a_cancel_that_races_it() {
    let (env, rx) = Env::held();
    let b = env.binding();
    let mut lost_rounds = Vec::new();
    for round in 0..5 {
        let state = AsyncState::new(Notification::None);
        sample::async_func_start_blocking(&state, &b, round).unwrap();
        let call = Arc::new(next_call(&rx));
        let fired = Arc::new(AtomicUsize::new(0));
        let subscribed = Arc::new(AtomicUsize::new(0));
        let subscriber = {
            let (call, fired, subscribed) = (call.clone(), fired.clone(), subscribed.clone());
            thread::spawn(move || {
                let mut made = 0usize;
                let mut after = 0;
                let end = Instant::now() + WAIT;
                while after < 1000 && Instant::now() < end {
                    if call.test_cancel() == CANCELLED {
                        after += 1;
                    }
                    let fired = fired.clone();
                    call.on_event(move |e| {
                        if e == CallEvent::Cancel {
                            fired.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                    made += 1;
                    subscribed.store(made, Ordering::SeqCst);
                }
                made
            })
        };
        // The cancel races subscriptions already under way.
        eventually("the subscriber to begin", || {
            subscribed.load(Ordering::SeqCst) > 0
        });
        state.cancel(CancelMode::NonAbortive).unwrap();
        let made = subscriber.join().unwrap();
        // A signal() may still be walking the listeners: wait for it to reach them all.
        within(WAIT, || fired.load(Ordering::SeqCst) >= made);
        let n = fired.load(Ordering::SeqCst);
        if n != made {
            lost_rounds.push((round, made, n));
        }
        Arc::try_unwrap(call).unwrap().abort(CANCELLED);
        assert_eq!(wait_done(&state), CANCELLED);
    }
    assert!(
        lost_rounds.is_empty(),
        "subscriptions made vs delivered (round, made, delivered): {lost_rounds:?}"
    );
    env.stop();
}

/// A call's future dropped while the call is still being made (its bind held back by the
/// proxy): either the call never reaches the server, or the server hears the cancel.
#[test]
fn row_future_dropped_while_the_call_is_being_made() {
    let (env, rx) = Env::held();
    let proxy = Proxy::start(&env.text);
    proxy.pause();
    let b = proxy.binding(&env);
    let fut = env.client_rt.spawn({
        let b = b.clone();
        async move { sample::async_func(&b, 1).await }
    });
    eventually("the bind to reach the proxy", || proxy.received() > 0);
    fut.abort();
    assert!(env.client_rt.block_on(fut).unwrap_err().is_cancelled());
    proxy.resume();
    if let Ok((call, _)) = rx.recv_timeout(Duration::from_secs(1)) {
        eventually("the server to hear the cancel", || {
            call.test_cancel() == CANCELLED
        });
        call.abort(CANCELLED);
    }
    sample::non_async_func_blocking(&b, "after the dropped future").unwrap();
    env.stop();
}

/// Whatever ends a call (reply, fault, either cancel, timeout), its notification fires exactly
/// once.
#[test]
fn row_notification_fires_exactly_once_per_call() {
    let (env, rx) = Env::held();
    let mut opts = BindingOptions::default();
    opts.call_timeout = Some(Duration::from_millis(300));
    let b = env.binding_with(opts);
    let (note, fired) = counting();
    let state = AsyncState::new(note);
    type Ending = fn(&AsyncState<()>, AsyncCall<()>);
    let endings: [(&str, Ending, Win32Status); 5] = [
        ("reply", |_, c| c.complete(()), OK),
        (
            "fault",
            |_, c| c.abort(Win32Status::ERROR_ACCESS_DENIED),
            Win32Status::ERROR_ACCESS_DENIED,
        ),
        (
            "cancel, then reply",
            |s, c| {
                s.cancel(CancelMode::NonAbortive).unwrap();
                eventually("the server to hear the cancel", || {
                    c.test_cancel() == CANCELLED
                });
                c.complete(());
            },
            OK,
        ),
        (
            "abortive cancel, then reply",
            |s, c| {
                s.cancel(CancelMode::Abortive).unwrap();
                c.complete(());
            },
            CANCELLED,
        ),
        (
            "timeout, then reply",
            |s, c| {
                wait_done(s);
                c.complete(());
            },
            CANCELLED,
        ),
    ];
    for (i, (name, end, want)) in endings.into_iter().enumerate() {
        state.reinitialize().unwrap();
        sample::async_func_start_blocking(&state, &b, i as u32).unwrap();
        let call = next_call(&rx);
        end(&state, call);
        assert_eq!(wait_done(&state), want, "{name}");
        eventually(&format!("{name}: the notification"), || {
            fired.load(Ordering::SeqCst) > i
        });
        stays(&format!("{name}: fired twice"), QUIET, || {
            fired.load(Ordering::SeqCst) == i + 1
        });
        assert_eq!(
            st(state.complete()),
            if want == OK { Ok(()) } else { Err(want) }
        );
    }
    env.stop();
}
