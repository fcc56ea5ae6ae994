//! The notification primitives on their own, with real threads.
//!
//! Timeouts here are generous upper bounds for "this must happen"; assertions are about what
//! happened, never about how long it took.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use msrpc::notify::{
    CallToken, Completion, CompletionPort, Event, INFINITE, Message, MessageQueue, Notification,
    NotifyError, RpcAsyncEvent, ThreadRef, WM_USER, WaitOutcome, sleep_alertable,
};

/// "Long enough that it must have happened by then."
const LONG: Duration = Duration::from_secs(10);
/// "Short: we expect nothing to happen."
const SHORT: Duration = Duration::from_millis(20);

// ---------------------------------------------------------------- Event

#[test]
fn auto_reset_event_releases_one_wait_per_set() {
    let e = Event::auto_reset();
    assert!(!e.wait_timeout(Duration::ZERO));
    e.set();
    e.set(); // signals do not accumulate
    assert!(e.wait_timeout(Duration::ZERO));
    assert!(!e.wait_timeout(Duration::ZERO), "auto-reset consumed");
}

#[test]
fn manual_reset_event_stays_set_until_reset() {
    let e = Event::manual_reset();
    e.set();
    assert!(e.wait_timeout(Duration::ZERO));
    assert!(e.wait_timeout(Duration::ZERO));
    assert!(e.is_set());
    e.reset();
    assert!(!e.wait_timeout(SHORT));
    let e = Event::new(true, true);
    assert!(e.is_set());
}

#[test]
fn set_from_another_thread_wakes_a_waiter() {
    let e = Event::auto_reset();
    let e2 = e.clone();
    let t = thread::spawn(move || e2.wait_timeout(LONG));
    e.set();
    assert!(t.join().unwrap());
}

#[test]
fn auto_reset_wakes_exactly_one_of_many_waiters_per_set() {
    const WAITERS: usize = 8;
    let e = Event::auto_reset();
    let woke = Arc::new(AtomicUsize::new(0));
    let ready = Arc::new(Barrier::new(WAITERS + 1));
    let handles: Vec<_> = (0..WAITERS)
        .map(|_| {
            let (e, woke, ready) = (e.clone(), woke.clone(), ready.clone());
            thread::spawn(move || {
                ready.wait();
                if e.wait_timeout(LONG) {
                    woke.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    ready.wait();
    // Each set releases one waiter; the event never holds more than one signal, so set again
    // only after the previous signal was consumed.
    for n in 1..=WAITERS {
        e.set();
        let mut spins = 0;
        while woke.load(Ordering::SeqCst) < n {
            assert!(spins < 10_000, "a set released no waiter");
            spins += 1;
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(woke.load(Ordering::SeqCst), n, "one set, one waiter");
    }
    for h in handles {
        h.join().unwrap();
    }
    assert!(!e.is_set());
}

#[test]
fn manual_reset_releases_every_waiter() {
    let e = Event::manual_reset();
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let e = e.clone();
            thread::spawn(move || e.wait_timeout(LONG))
        })
        .collect();
    e.set();
    for h in handles {
        assert!(h.join().unwrap());
    }
}

#[test]
fn wait_any_returns_lowest_signaled_index_and_consumes_only_it() {
    let a = Event::auto_reset();
    let b = Event::auto_reset();
    let c = Event::auto_reset();
    b.set();
    c.set();
    assert_eq!(Event::wait_any(&[&a, &b, &c], Duration::ZERO), Some(1));
    assert!(!b.is_set(), "the satisfying auto-reset event is consumed");
    assert!(c.is_set(), "the others are left alone");
    assert_eq!(Event::wait_any(&[&a, &b, &c], Duration::ZERO), Some(2));
    assert_eq!(Event::wait_any(&[&a, &b, &c], SHORT), None);
    assert_eq!(Event::wait_any(&[], SHORT), None);
}

#[test]
fn wait_any_wakes_for_a_later_set() {
    let a = Event::auto_reset();
    let b = Event::manual_reset();
    let b2 = b.clone();
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        tx.send(()).unwrap();
        Event::wait_any(&[&a, &b2], LONG)
    });
    rx.recv().unwrap();
    b.set();
    assert_eq!(t.join().unwrap(), Some(1));
    assert!(b.is_set(), "manual-reset stays set");
}

#[test]
fn event_wait_async_is_cancel_safe() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    let e = Event::auto_reset();
    let mut cx = Context::from_waker(Waker::noop());
    {
        let mut f = pin!(e.wait_async());
        assert!(f.as_mut().poll(&mut cx).is_pending());
        e.set();
        // Dropped before being polled again: the signal must survive.
    }
    assert!(e.is_set());
    let mut f = pin!(e.wait_async());
    assert_eq!(f.as_mut().poll(&mut cx), Poll::Ready(()));
    assert!(!e.is_set());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_wait_async_from_tokio() {
    let e = Event::auto_reset();
    let e2 = e.clone();
    let t = thread::spawn(move || e2.set());
    tokio::time::timeout(LONG, e.wait_async()).await.unwrap();
    t.join().unwrap();
}

// ---------------------------------------------------------------- APCs

#[test]
fn apcs_run_only_inside_an_alertable_wait_on_the_target_thread() {
    let (to_worker, worker_rx) = mpsc::channel::<&'static str>();
    let (tx_ref, rx_ref) = mpsc::channel();
    let ran_on = Arc::new(Mutex::new(Vec::new()));
    let worker = thread::spawn(move || {
        tx_ref.send(ThreadRef::current()).unwrap();
        // Non-alertable activity: APCs must not run here.
        assert_eq!(worker_rx.recv().unwrap(), "queued");
        thread::sleep(SHORT);
        let plain = Event::auto_reset();
        assert!(!plain.wait_timeout(SHORT));
        let before = ThreadRef::current().pending_apcs();
        // Now alertable.
        let outcome = sleep_alertable(LONG);
        (before, outcome)
    });
    let target = rx_ref.recv().unwrap();
    for _ in 0..3 {
        let ran_on = ran_on.clone();
        target
            .queue_apc(Box::new(move || {
                ran_on.lock().unwrap().push(thread::current().id())
            }))
            .unwrap();
    }
    to_worker.send("queued").unwrap();
    let (before, outcome) = worker.join().unwrap();
    assert_eq!(before, 3, "nothing ran outside the alertable wait");
    assert_eq!(outcome, WaitOutcome::IoCompletion);
    let ran_on = ran_on.lock().unwrap();
    assert_eq!(ran_on.len(), 3, "all queued APCs ran in one alertable wait");
    assert!(ran_on.iter().all(|id| *id == target.id()));
}

#[test]
fn apc_wakes_a_thread_already_sleeping_alertably() {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        tx.send(ThreadRef::current()).unwrap();
        sleep_alertable(LONG)
    });
    let target = rx.recv().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    target
        .queue_apc(Box::new(move || {
            r.fetch_add(1, Ordering::SeqCst);
        }))
        .unwrap();
    assert_eq!(worker.join().unwrap(), WaitOutcome::IoCompletion);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn sleep_alertable_times_out_without_apcs() {
    assert_eq!(sleep_alertable(SHORT), WaitOutcome::Timeout);
    assert_eq!(sleep_alertable(Duration::ZERO), WaitOutcome::Timeout);
}

#[test]
fn apc_queued_to_self_runs_at_next_alertable_wait() {
    let me = ThreadRef::current();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    me.queue_apc(Box::new(move || {
        r.fetch_add(1, Ordering::SeqCst);
    }))
    .unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(sleep_alertable(Duration::ZERO), WaitOutcome::IoCompletion);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(me, ThreadRef::current());
}

#[test]
fn event_wait_alertable_outcomes() {
    let e = Event::auto_reset();
    assert_eq!(e.wait_alertable(SHORT), WaitOutcome::Timeout);
    e.set();
    assert_eq!(e.wait_alertable(LONG), WaitOutcome::Signaled);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    ThreadRef::current()
        .queue_apc(Box::new(move || {
            r.fetch_add(1, Ordering::SeqCst);
        }))
        .unwrap();
    assert_eq!(e.wait_alertable(LONG), WaitOutcome::IoCompletion);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert!(!e.is_set());
}

#[test]
fn event_wait_alertable_woken_by_apc_from_another_thread() {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let e = Event::auto_reset();
        tx.send(ThreadRef::current()).unwrap();
        e.wait_alertable(LONG)
    });
    let target = rx.recv().unwrap();
    target.queue_apc(Box::new(|| {})).unwrap();
    assert_eq!(worker.join().unwrap(), WaitOutcome::IoCompletion);
}

#[test]
fn queueing_to_an_exited_thread_fails_and_drops_nothing_silently() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let worker = thread::spawn(move || {
        tx.send(ThreadRef::current()).unwrap();
        go_rx.recv().unwrap(); // exits without an alertable wait
    });
    let target = rx.recv().unwrap();
    // Queued while alive, never run: freed when the thread exits.
    let c = Counted(drops.clone());
    target
        .queue_apc(Box::new(move || {
            let _keep = &c;
            panic!("must not run");
        }))
        .unwrap();
    go_tx.send(()).unwrap();
    worker.join().unwrap();
    assert!(target.has_exited());
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "queued routine freed at exit"
    );
    assert_eq!(target.pending_apcs(), 0);
    // After exit: a clear error that hands the routine back.
    let c = Counted(drops.clone());
    let err = target
        .queue_apc(Box::new(move || {
            let _keep = &c;
        }))
        .unwrap_err();
    assert!(err.to_string().contains("exited"));
    let routine = err.into_routine();
    routine();
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

// ---------------------------------------------------------------- CompletionPort

#[test]
fn completion_port_round_trip_and_timeout() {
    let port = CompletionPort::new();
    assert_eq!(port.get_queued_completion_status(SHORT), None);
    port.post(12, 34, 56);
    port.clone().post(1, 2, 3);
    assert_eq!(
        port.get_queued_completion_status(Duration::ZERO),
        Some(Completion {
            bytes: 12,
            key: 34,
            overlapped: 56
        })
    );
    assert_eq!(
        port.get_queued_completion_status(INFINITE),
        Some(Completion {
            bytes: 1,
            key: 2,
            overlapped: 3
        })
    );
    assert_eq!(port.queued(), 0);
}

#[test]
fn completion_port_each_packet_to_exactly_one_of_many_waiters() {
    const WAITERS: usize = 6;
    const PACKETS: usize = 300;
    let port = CompletionPort::new();
    let got = Arc::new(Mutex::new(Vec::new()));
    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let (port, got) = (port.clone(), got.clone());
            thread::spawn(move || {
                while let Some(c) = port.get_queued_completion_status(Duration::from_millis(500)) {
                    if c.key == usize::MAX {
                        return; // one stop packet per waiter
                    }
                    got.lock().unwrap().push(c.overlapped);
                }
                panic!("waiter timed out before its stop packet");
            })
        })
        .collect();
    let posters: Vec<_> = (0..3)
        .map(|p| {
            let port = port.clone();
            thread::spawn(move || {
                for i in 0..PACKETS / 3 {
                    port.post(0, p, p * 1000 + i);
                }
            })
        })
        .collect();
    for p in posters {
        p.join().unwrap();
    }
    for _ in 0..WAITERS {
        port.post(0, usize::MAX, 0);
    }
    for w in waiters {
        w.join().unwrap();
    }
    let mut got = got.lock().unwrap().clone();
    got.sort_unstable();
    let mut want: Vec<usize> = (0..3)
        .flat_map(|p| (0..PACKETS / 3).map(move |i| p * 1000 + i))
        .collect();
    want.sort_unstable();
    assert_eq!(got, want, "every packet delivered exactly once");
}

// ---------------------------------------------------------------- MessageQueue

#[test]
fn message_queue_post_peek_get() {
    let q = MessageQueue::new();
    assert_eq!(q.peek_message(true), None);
    assert_eq!(q.get_message_timeout(SHORT), None);
    let m1 = Message {
        msg: WM_USER + 1,
        wparam: 0,
        lparam: 7,
    };
    let m2 = Message {
        msg: WM_USER + 2,
        wparam: 1,
        lparam: 8,
    };
    q.post(m1);
    q.clone().post(m2);
    assert_eq!(q.peek_message(false), Some(m1));
    assert_eq!(q.queued(), 2);
    assert_eq!(q.peek_message(true), Some(m1));
    assert_eq!(q.get_message(), m2);
    assert_eq!(q.queued(), 0);
}

#[test]
fn get_message_blocks_until_posted_from_another_thread() {
    let q = MessageQueue::new();
    let q2 = q.clone();
    let reader = thread::spawn(move || q2.get_message());
    let m = Message {
        msg: WM_USER,
        wparam: 0,
        lparam: 42,
    };
    q.post(m);
    assert_eq!(reader.join().unwrap(), m);
}

// ---------------------------------------------------------------- Notification

#[test]
fn notification_event_sets_the_event() {
    let e = Event::manual_reset();
    Notification::Event(e.clone())
        .fire(RpcAsyncEvent::CallComplete, CallToken(1))
        .unwrap();
    assert!(e.is_set());
}

#[test]
fn notification_ioc_posts_the_handles_values() {
    let port = CompletionPort::new();
    let n = Notification::IoCompletionPort {
        port: port.clone(),
        bytes: 5,
        key: 6,
        overlapped: 7,
    };
    n.fire(RpcAsyncEvent::CallComplete, CallToken(9)).unwrap();
    assert_eq!(
        port.get_queued_completion_status(Duration::ZERO),
        Some(Completion {
            bytes: 5,
            key: 6,
            overlapped: 7
        })
    );
}

#[test]
fn notification_hwnd_posts_msg_with_wparam_0_and_the_call_in_lparam() {
    let q = MessageQueue::new();
    let n = Notification::Hwnd {
        queue: q.clone(),
        msg: WM_USER + 5,
    };
    n.fire(RpcAsyncEvent::CallComplete, CallToken(77)).unwrap();
    assert_eq!(
        q.peek_message(true),
        Some(Message {
            msg: WM_USER + 5,
            wparam: 0,
            lparam: 77
        })
    );
}

#[test]
fn notification_callback_runs_with_token_and_event() {
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let n = Notification::callback(move |t, e| *s.lock().unwrap() = Some((t, e)));
    n.fire(RpcAsyncEvent::CallComplete, CallToken(3)).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        Some((CallToken(3), RpcAsyncEvent::CallComplete))
    );
    Notification::None
        .fire(RpcAsyncEvent::CallComplete, CallToken(3))
        .unwrap();
}

#[test]
fn notification_apc_with_no_thread_binds_to_the_caller() {
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let unbound =
        Notification::apc(move |t, e| *s.lock().unwrap() = Some((thread::current().id(), t, e)));
    assert_eq!(
        unbound.fire(RpcAsyncEvent::CallComplete, CallToken(1)),
        Err(NotifyError::ApcThreadNotBound)
    );
    // "Call time" on this thread; completion fired from another thread.
    let bound = unbound.bind_to_caller();
    let fired = thread::spawn(move || bound.fire(RpcAsyncEvent::CallComplete, CallToken(2)));
    fired.join().unwrap().unwrap();
    assert!(seen.lock().unwrap().is_none(), "runs only when alertable");
    assert_eq!(sleep_alertable(LONG), WaitOutcome::IoCompletion);
    assert_eq!(
        *seen.lock().unwrap(),
        Some((
            thread::current().id(),
            CallToken(2),
            RpcAsyncEvent::CallComplete
        ))
    );
}

#[test]
fn notification_apc_to_an_exited_thread_reports_it() {
    let t = thread::spawn(ThreadRef::current).join().unwrap();
    let n = Notification::apc_to(t, |_, _| panic!("must not run"));
    assert_eq!(
        n.fire(RpcAsyncEvent::CallComplete, CallToken(1)),
        Err(NotifyError::ApcThreadExited)
    );
}

#[test]
fn rpc_async_event_values_match_windows() {
    assert_eq!(RpcAsyncEvent::CallComplete.as_u32(), 0);
    assert_eq!(RpcAsyncEvent::SendComplete.as_u32(), 1);
    assert_eq!(RpcAsyncEvent::ReceiveComplete.as_u32(), 2);
    assert_eq!(RpcAsyncEvent::ClientDisconnect.as_u32(), 3);
    assert_eq!(RpcAsyncEvent::ServerCallCancel.as_u32(), 4);
}
