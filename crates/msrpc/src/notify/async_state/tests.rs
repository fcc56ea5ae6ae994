//! `AsyncState` (RPC_ASYNC_STATE): one test per statement of the Windows page "Making the
//! asynchronous call" that needs no network.
//! The "runtime" here is the test itself, driving `begin` and the `CallCompleter` (crate-private,
//! hence a unit test; `tests/async_rows.rs` drives the same rows through the public API).
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use msrpc_proto::status::Win32Status;

use super::{AsyncState, CancelHook, CancelMode, UserInfo};
use crate::error::{Error, Initiator};
use crate::notify::{
    CallToken, Completion, CompletionPort, Event, Message, MessageQueue, Notification,
    RpcAsyncEvent, ThreadRef, WM_USER, WaitOutcome, sleep_alertable,
};

const LONG: Duration = Duration::from_secs(10);
const SHORT: Duration = Duration::from_millis(20);

const PENDING: Win32Status = Win32Status::RPC_S_ASYNC_CALL_PENDING;
const INVALID_HANDLE: Win32Status = Win32Status::RPC_S_INVALID_ASYNC_HANDLE;
const CANCELLED: Win32Status = Win32Status::RPC_S_CALL_CANCELLED;

/// A cancel hook that records what it was told.
#[derive(Default)]
struct Hook(Mutex<Vec<bool>>);

impl CancelHook for Hook {
    fn cancel(&self, mode: CancelMode) {
        self.0.lock().unwrap().push(mode == CancelMode::Abortive);
    }
}

fn no_cancel() -> Arc<dyn CancelHook> {
    Arc::new(|_: CancelMode| {})
}

/// The status of an error result, as `RpcAsyncCompleteCall` would return it.
fn status_of<T: std::fmt::Debug>(r: crate::Result<T>) -> Win32Status {
    r.unwrap_err().status()
}

/// A failed call's result with this status.
fn failed<T>(status: Win32Status) -> crate::Result<T> {
    Err(Error::from(status))
}

/// A notification that counts how often it fired.
fn counting() -> (Notification, Arc<AtomicUsize>) {
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    (
        Notification::callback(move |_, e| {
            assert_eq!(e, RpcAsyncEvent::CallComplete);
            c.fetch_add(1, Ordering::SeqCst);
        }),
        n,
    )
}

#[test]
fn client_creates_the_handle_and_reinitializes_before_reuse() {
    let state: AsyncState<u32> = AsyncState::new(Notification::None);
    assert_eq!(state.status(), INVALID_HANDLE, "no call started yet");
    let call = state.begin(no_cancel()).unwrap();
    assert!(call.finish(Ok(1)));
    assert_eq!(state.complete().unwrap(), 1);
    state.reinitialize().unwrap();
    let call = state.begin(no_cancel()).unwrap();
    assert!(call.finish(Ok(2)));
    assert_eq!(state.complete().unwrap(), 2);
}

#[test]
fn each_pending_call_needs_its_own_handle() {
    let state: AsyncState<()> = AsyncState::new(Notification::None);
    let first = state.begin(no_cancel()).unwrap();
    assert_eq!(
        state.begin(no_cancel()).map(|_| ()).unwrap_err().status(),
        INVALID_HANDLE
    );
    assert_eq!(
        status_of(state.reinitialize()),
        INVALID_HANDLE,
        "not while pending"
    );
    // A second handle carries a second call at the same time.
    let other: AsyncState<()> = AsyncState::new(Notification::None);
    let second = other.begin(no_cancel()).unwrap();
    assert_ne!(state.token(), other.token());
    assert!(second.finish(Ok(())));
    assert!(first.finish(Ok(())));
}

#[test]
fn reuse_without_reinitialize_is_refused() {
    let state: AsyncState<()> = AsyncState::new(Notification::None);
    state.begin(no_cancel()).unwrap().finish(Ok(()));
    // Completed but not taken, and taken: both need reinitialize.
    assert_eq!(
        state.begin(no_cancel()).map(|_| ()).unwrap_err().status(),
        INVALID_HANDLE
    );
    state.complete().unwrap();
    assert_eq!(
        state.begin(no_cancel()).map(|_| ()).unwrap_err().status(),
        INVALID_HANDLE
    );
    state.reinitialize().unwrap();
    assert!(state.begin(no_cancel()).is_ok());
}

#[test]
fn handle_memory_lives_until_the_reply() {
    // The runtime's completer keeps the state alive; dropping the client's last handle while
    // pending orphans the call (abortive cancel), and the late reply is discarded safely.
    let hook = Arc::new(Hook::default());
    let (n, fired) = counting();
    let state: AsyncState<Vec<u8>> = AsyncState::new(n);
    let call = state.begin(hook.clone()).unwrap();
    let extra = state.clone();
    drop(state);
    assert!(hook.0.lock().unwrap().is_empty(), "a clone is still alive");
    assert_eq!(extra.status(), PENDING);
    drop(extra);
    assert_eq!(*hook.0.lock().unwrap(), vec![true], "orphaned on last drop");
    assert!(!call.finish(Ok(vec![1, 2, 3])), "late reply discarded");
    assert_eq!(fired.load(Ordering::SeqCst), 1);
}

#[test]
fn out_values_are_owned_by_the_reply() {
    let state: AsyncState<(String, Vec<u32>)> = AsyncState::new(Notification::None);
    let call = state.begin(no_cancel()).unwrap();
    let t = thread::spawn(move || call.finish(Ok(("out".to_owned(), vec![1, 2]))));
    assert!(t.join().unwrap());
    let (s, v) = state.complete().unwrap();
    assert_eq!((s.as_str(), v.as_slice()), ("out", &[1, 2][..]));
}

#[test]
fn event_notification() {
    let event = Event::auto_reset();
    let state: AsyncState<u8> = AsyncState::new(Notification::Event(event.clone()));
    let call = state.begin(no_cancel()).unwrap();
    assert!(!event.wait_timeout(SHORT));
    let t = thread::spawn(move || call.finish(Ok(9)));
    assert!(event.wait_timeout(LONG));
    t.join().unwrap();
    assert_eq!(state.complete().unwrap(), 9);
}

#[test]
fn polling_with_get_call_status() {
    let state: AsyncState<u8> = AsyncState::new(Notification::None);
    let call = state.begin(no_cancel()).unwrap();
    for _ in 0..3 {
        assert_eq!(state.status(), PENDING);
        assert_eq!(status_of(state.complete()), PENDING, "pending is not final");
    }
    call.finish(failed(Win32Status::ERROR_ACCESS_DENIED));
    assert_eq!(state.status(), Win32Status::ERROR_ACCESS_DENIED);
    assert_eq!(
        status_of(state.complete()),
        Win32Status::ERROR_ACCESS_DENIED
    );
    assert_eq!(state.status(), Win32Status::ERROR_ACCESS_DENIED);
    let ok: AsyncState<u8> = AsyncState::new(Notification::None);
    ok.begin(no_cancel()).unwrap().finish(Ok(0));
    assert_eq!(ok.status(), Win32Status::OK);
}

#[test]
fn apc_notification_goes_to_the_calling_thread_when_no_thread_is_set() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let state: AsyncState<u8> = AsyncState::new(Notification::apc(move |token, event| {
        s.lock()
            .unwrap()
            .push((thread::current().id(), token, event))
    }));
    let call = state.begin(no_cancel()).unwrap(); // the calling thread is this one
    thread::spawn(move || call.finish(Ok(1))).join().unwrap();
    assert!(seen.lock().unwrap().is_empty(), "only in an alertable wait");
    assert_eq!(sleep_alertable(LONG), WaitOutcome::IoCompletion);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(
            thread::current().id(),
            state.token(),
            RpcAsyncEvent::CallComplete
        )]
    );
    assert_eq!(state.complete().unwrap(), 1);
}

#[test]
fn apc_notification_goes_to_the_given_thread() {
    let (tx, rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        tx.send(ThreadRef::current()).unwrap();
        let outcome = sleep_alertable(LONG);
        (outcome, done_rx.try_recv().ok())
    });
    let target = rx.recv().unwrap();
    let state: AsyncState<u8> = AsyncState::new(Notification::apc_to(target, move |_, e| {
        done_tx.send((thread::current().id(), e)).unwrap()
    }));
    let call = state.begin(no_cancel()).unwrap();
    call.finish(Ok(3));
    let waiter_id = waiter.thread().id();
    let (outcome, got) = waiter.join().unwrap();
    assert_eq!(outcome, WaitOutcome::IoCompletion);
    assert_eq!(got, Some((waiter_id, RpcAsyncEvent::CallComplete)));
}

#[test]
fn io_completion_port_notified_with_bytes_key_and_overlapped() {
    let port = CompletionPort::new();
    let state: AsyncState<()> = AsyncState::new(Notification::IoCompletionPort {
        port: port.clone(),
        bytes: 11,
        key: 22,
        overlapped: 33,
    });
    let call = state.begin(no_cancel()).unwrap();
    let p = port.clone();
    let waiter = thread::spawn(move || p.get_queued_completion_status(LONG));
    call.finish(Ok(()));
    assert_eq!(
        waiter.join().unwrap(),
        Some(Completion {
            bytes: 11,
            key: 22,
            overlapped: 33
        })
    );
    state.complete().unwrap();
}

#[test]
fn window_handle_message_posted_with_the_call_in_lparam() {
    let queue = MessageQueue::new();
    let state: AsyncState<()> = AsyncState::new(Notification::Hwnd {
        queue: queue.clone(),
        msg: WM_USER + 1,
    });
    state.begin(no_cancel()).unwrap().finish(Ok(()));
    assert_eq!(
        queue.get_message_timeout(LONG),
        Some(Message {
            msg: WM_USER + 1,
            wparam: 0,
            lparam: state.token().0
        })
    );
}

#[test]
fn callback_notification() {
    let (tx, rx) = mpsc::channel();
    let state: AsyncState<u8> = AsyncState::new(Notification::callback(move |t, e| {
        tx.send((t, e)).unwrap();
    }));
    // The callback can reach the handle through a weak reference.
    let weak = state.downgrade();
    let call = state.begin(no_cancel()).unwrap();
    thread::spawn(move || call.finish(Ok(4))).join().unwrap();
    let (token, event) = rx.recv_timeout(LONG).unwrap();
    assert_eq!((token, event), (state.token(), RpcAsyncEvent::CallComplete));
    assert_eq!(weak.upgrade().unwrap().complete().unwrap(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_for_each_call() {
    let state: AsyncState<u32> = AsyncState::new(Notification::None);
    let call = state.begin(no_cancel()).unwrap();
    let completion = state.completion();
    let t = thread::spawn(move || {
        thread::sleep(SHORT);
        call.finish(Ok(99))
    });
    let got = tokio::time::timeout(LONG, completion).await.unwrap();
    assert_eq!(got.unwrap(), 99);
    assert!(t.join().unwrap());
}

#[test]
fn dropping_the_completion_future_keeps_the_result() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    let state: AsyncState<u32> = AsyncState::new(Notification::None);
    let call = state.begin(no_cancel()).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    {
        let mut f = pin!(state.completion());
        assert!(f.as_mut().poll(&mut cx).is_pending());
    }
    assert!(state.is_pending(), "dropping the future does not cancel");
    call.finish(Ok(5));
    assert_eq!(state.complete().unwrap(), 5);
}

#[test]
fn sync_calls_while_an_async_call_is_pending() {
    // The handle does not block its thread or lock the binding: other (sync) work proceeds
    // while the async call is pending, and the async call completes afterwards.
    let event = Event::manual_reset();
    let state: AsyncState<u8> = AsyncState::new(Notification::Event(event.clone()));
    let call = state.begin(no_cancel()).unwrap();
    let sync_result = thread::spawn(|| 2 + 2).join().unwrap();
    assert_eq!(sync_result, 4);
    assert_eq!(state.status(), PENDING);
    call.finish(Ok(1));
    assert!(event.wait_timeout(LONG));
}

#[test]
fn an_exception_during_the_call_means_no_completion_notification() {
    let (n, fired) = counting();
    let state: AsyncState<u8> = AsyncState::new(n);
    let call = state.begin(no_cancel()).unwrap();
    call.fail_at_start();
    assert_eq!(fired.load(Ordering::SeqCst), 0);
    // The call never started: the handle is ready again.
    assert_eq!(state.status(), INVALID_HANDLE);
    state.begin(no_cancel()).unwrap().finish(Ok(1));
    assert_eq!(fired.load(Ordering::SeqCst), 1);
}

#[test]
fn complete_call_returns_outs_or_pending_cancelled_or_fault_and_anything_but_pending_is_final() {
    let state: AsyncState<u8> = AsyncState::new(Notification::None);
    assert_eq!(status_of(state.complete()), INVALID_HANDLE);
    let call = state.begin(no_cancel()).unwrap();
    assert_eq!(status_of(state.complete()), PENDING);
    call.finish(failed(Win32Status::RPC_X_BAD_STUB_DATA));
    assert_eq!(
        status_of(state.complete()),
        Win32Status::RPC_X_BAD_STUB_DATA
    );
    assert_eq!(
        status_of(state.complete()),
        INVALID_HANDLE,
        "final: taken once"
    );
    state.reinitialize().unwrap();
    let _call = state.begin(no_cancel()).unwrap();
    state.cancel(CancelMode::Abortive).unwrap();
    assert_eq!(status_of(state.complete()), CANCELLED);
}

#[test]
fn cancel_call_non_abortive_keeps_waiting_for_the_reply() {
    let hook = Arc::new(Hook::default());
    let (n, fired) = counting();
    let state: AsyncState<u8> = AsyncState::new(n);
    let call = state.begin(hook.clone()).unwrap();
    state.cancel(CancelMode::NonAbortive).unwrap();
    assert_eq!(*hook.0.lock().unwrap(), vec![false], "server told");
    assert!(call.is_cancel_requested());
    assert_eq!(state.status(), PENDING);
    assert_eq!(fired.load(Ordering::SeqCst), 0);
    // The server's answer still decides: here a cancel fault.
    assert!(call.finish(failed(CANCELLED)));
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    assert_eq!(status_of(state.complete()), CANCELLED);
}

#[test]
fn cancel_call_abortive_completes_at_once_as_cancelled_and_discards_the_reply() {
    let hook = Arc::new(Hook::default());
    let (n, fired) = counting();
    let state: AsyncState<u8> = AsyncState::new(n);
    let call = state.begin(hook.clone()).unwrap();
    state.cancel(CancelMode::Abortive).unwrap();
    assert_eq!(*hook.0.lock().unwrap(), vec![true]);
    assert_eq!(state.status(), CANCELLED);
    assert_eq!(
        fired.load(Ordering::SeqCst),
        1,
        "the notification still fires"
    );
    assert!(!call.finish(Ok(1)), "later reply discarded");
    assert_eq!(fired.load(Ordering::SeqCst), 1, "and fires only once");
    let e = state.complete().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Cancelled {
                initiator: Initiator::Local
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.status(), CANCELLED);
    assert_eq!(
        status_of(state.cancel(CancelMode::Abortive)),
        INVALID_HANDLE,
        "nothing pending"
    );
}

#[test]
fn notification_fires_exactly_once_when_reply_and_abortive_cancel_race() {
    for round in 0..200 {
        let (n, fired) = counting();
        let state: AsyncState<u32> = AsyncState::new(n);
        let call = state.begin(no_cancel()).unwrap();
        let s2 = state.clone();
        let a = thread::spawn(move || call.finish(Ok(round)));
        let b = thread::spawn(move || s2.cancel(CancelMode::Abortive));
        let finished = a.join().unwrap();
        let cancelled = b.join().unwrap().is_ok();
        assert_eq!(fired.load(Ordering::SeqCst), 1, "round {round}");
        let result = state.complete();
        if finished {
            assert_eq!(result.unwrap(), round);
        } else {
            assert!(cancelled);
            assert_eq!(status_of(result), CANCELLED);
        }
    }
}

#[test]
fn a_dropped_completer_completes_the_call_as_failed() {
    let (n, fired) = counting();
    let state: AsyncState<u8> = AsyncState::new(n);
    let call = state.begin(no_cancel()).unwrap();
    drop(call);
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    assert_eq!(status_of(state.complete()), Win32Status::RPC_S_CALL_FAILED);
}

#[test]
fn a_stale_completer_cannot_complete_a_later_call() {
    let state: AsyncState<u8> = AsyncState::new(Notification::None);
    let first = state.begin(no_cancel()).unwrap();
    state.cancel(CancelMode::Abortive).unwrap();
    state.complete().unwrap_err();
    state.reinitialize().unwrap();
    let second = state.begin(no_cancel()).unwrap();
    assert!(!first.finish(Ok(1)));
    assert_eq!(state.status(), PENDING);
    assert!(second.finish(Ok(2)));
    assert_eq!(state.complete().unwrap(), 2);
}

#[test]
fn user_info_and_notification_settings() {
    let state: AsyncState<u8> = AsyncState::new(Notification::None);
    assert!(state.user_info().is_none());
    let info: UserInfo = Arc::new("context".to_owned());
    state.set_user_info(Some(info));
    let got = state.user_info().unwrap();
    assert_eq!(got.downcast_ref::<String>().unwrap(), "context");
    let _call = state.begin(no_cancel()).unwrap();
    assert_eq!(
        status_of(state.set_notification(Notification::None)),
        INVALID_HANDLE
    );
    assert!(matches!(state.notification(), Notification::None));
    assert_ne!(state.token(), CallToken(0));
}

#[test]
fn complete_keeps_the_calls_typed_error() {
    // A fault keeps its fault status and flags through the handle; its status is the Win32 one
    // RpcAsyncCompleteCall returns.
    let state: AsyncState<u8> = AsyncState::new(Notification::None);
    let call = state.begin(no_cancel()).unwrap();
    let fault = msrpc_proto::FaultStatus(0x1C01_0002);
    call.finish(Err(Error::fault(
        fault,
        msrpc_proto::Execution::DidNotExecute,
    )));
    assert_eq!(state.status(), Win32Status::RPC_S_PROCNUM_OUT_OF_RANGE);
    match state.complete() {
        Err(Error::Fault {
            status,
            win32,
            execution,
        }) => {
            assert_eq!(status, fault);
            assert_eq!(win32, Win32Status::RPC_S_PROCNUM_OUT_OF_RANGE);
            assert_eq!(execution, msrpc_proto::Execution::DidNotExecute);
        }
        other => panic!("expected the fault, got {other:?}"),
    }
    assert_eq!(state.status(), Win32Status::RPC_S_PROCNUM_OUT_OF_RANGE);
}

#[test]
fn a_reply_that_does_not_decode_is_bad_stub_data_and_the_final_status() {
    let state: AsyncState<u8> = AsyncState::new(Notification::None);
    let call = state.begin(no_cancel()).unwrap();
    assert!(call.finish_deferred(|| {
        Err(Error::from(msrpc_ndr::Error::new(
            msrpc_ndr::ErrorKind::TrailingBytes(3),
        )))
    }));
    assert_eq!(state.status(), Win32Status::OK, "not decoded yet");
    let e = state.complete().unwrap_err();
    assert!(matches!(e, Error::Ndr(_)), "{e:?}");
    assert_eq!(e.status(), Win32Status::RPC_X_BAD_STUB_DATA);
    assert_eq!(state.status(), Win32Status::RPC_X_BAD_STUB_DATA);
}

#[test]
fn misuse_errors_say_what_was_wrong() {
    let state: AsyncState<u8> = AsyncState::new(Notification::None);
    let e = state.complete().unwrap_err();
    assert_eq!(e.status(), INVALID_HANDLE);
    assert!(e.to_string().contains("no call was started"), "{e}");
    let call = state.begin(no_cancel()).unwrap();
    let e = state.complete().unwrap_err();
    assert_eq!(e.status(), PENDING);
    assert!(e.to_string().contains("still pending"), "{e}");
    let e = state.begin(no_cancel()).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("reinitialize()"), "{e}");
    call.finish(Ok(1));
    assert_eq!(state.complete().unwrap(), 1);
    let e = state.complete().unwrap_err();
    assert_eq!(e.status(), INVALID_HANDLE);
    assert!(e.to_string().contains("already taken"), "{e}");
}
