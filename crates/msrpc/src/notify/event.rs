//! Event objects (`CreateEvent`), auto-reset and manual-reset.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use super::WaitOutcome;
use super::apc::ThreadRef;
use super::wait::{WaiterList, Wake, deadline_after, lock, park_until};

/// An event object. Clones are further handles to the same event.
///
/// - **Manual-reset** (`CreateEvent(.., TRUE, ..)`): once set, it stays signaled and releases
///   every wait until [`Event::reset`].
/// - **Auto-reset** (`CreateEvent(.., FALSE, ..)`): a set releases one wait, which consumes the
///   signal; with no one waiting it stays signaled until a wait consumes it. Setting an event
///   that is already signaled does nothing (signals do not accumulate).
///
/// All methods are thread-safe. The blocking waits park the calling thread: from async code use
/// [`Event::wait_async`] (or `spawn_blocking`) instead.
#[derive(Clone)]
pub struct Event {
    inner: Arc<EventInner>,
}

struct EventInner {
    manual_reset: bool,
    state: Mutex<EventState>,
}

#[derive(Default)]
struct EventState {
    signaled: bool,
    waiters: WaiterList,
}

impl Event {
    /// A new auto-reset event, not signaled.
    pub fn auto_reset() -> Event {
        Event::new(false, false)
    }

    /// A new manual-reset event, not signaled.
    pub fn manual_reset() -> Event {
        Event::new(true, false)
    }

    /// `CreateEvent(NULL, manual_reset, initial_state, NULL)`.
    pub fn new(manual_reset: bool, initially_signaled: bool) -> Event {
        Event {
            inner: Arc::new(EventInner {
                manual_reset,
                state: Mutex::new(EventState {
                    signaled: initially_signaled,
                    waiters: WaiterList::default(),
                }),
            }),
        }
    }

    /// True for a manual-reset event.
    pub fn is_manual_reset(&self) -> bool {
        self.inner.manual_reset
    }

    /// `SetEvent`: signals the event and wakes its waiters.
    pub fn set(&self) {
        let wakes = {
            let mut s = lock(&self.inner.state);
            if s.signaled {
                return;
            }
            s.signaled = true;
            s.waiters.snapshot()
        };
        // Every waiter re-checks under the lock; for an auto-reset event only the first
        // consumes the signal and the others wait on.
        for w in wakes {
            w.wake();
        }
    }

    /// `ResetEvent`: makes the event non-signaled.
    pub fn reset(&self) {
        lock(&self.inner.state).signaled = false;
    }

    /// Whether the event is signaled now, without consuming the signal.
    pub fn is_set(&self) -> bool {
        lock(&self.inner.state).signaled
    }

    /// Consumes the signal if present (auto-reset) and reports whether the event was signaled:
    /// a wait with a zero timeout.
    pub fn try_wait(&self) -> bool {
        let mut s = lock(&self.inner.state);
        self.consume(&mut s)
    }

    fn consume(&self, s: &mut EventState) -> bool {
        if s.signaled {
            if !self.inner.manual_reset {
                s.signaled = false;
            }
            true
        } else {
            false
        }
    }

    fn register(&self, wake: Wake) -> u64 {
        lock(&self.inner.state).waiters.add(wake)
    }

    fn deregister(&self, id: u64) {
        lock(&self.inner.state).waiters.remove(id);
    }

    /// `WaitForSingleObject(h, INFINITE)`: blocks until the event is signaled.
    pub fn wait(&self) {
        let _ = wait_objects(&[self], super::INFINITE, false);
    }

    /// `WaitForSingleObject(h, ms)`: true if the event was signaled within `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        matches!(wait_objects(&[self], timeout, false), Waited::Object(_))
    }

    /// `WaitForMultipleObjects(n, handles, FALSE, ms)`: waits until any of `events` is signaled
    /// and returns the lowest index among the signaled ones, or `None` on timeout (or for an
    /// empty slice). Only the event that satisfies the wait is consumed (auto-reset); the
    /// others are left as they are.
    pub fn wait_any(events: &[&Event], timeout: Duration) -> Option<usize> {
        match wait_objects(events, timeout, false) {
            Waited::Object(i) => Some(i),
            _ => None,
        }
    }

    /// `WaitForSingleObjectEx(h, ms, TRUE)`: waits until the event is signaled, or until APCs
    /// queued to the calling thread have run on it (they run inside this call), or the timeout.
    /// A signaled event is checked first, as on Windows: if it is signaled on entry the wait is
    /// satisfied and queued APCs stay queued.
    pub fn wait_alertable(&self, timeout: Duration) -> WaitOutcome {
        match wait_objects(&[self], timeout, true) {
            Waited::Object(_) => WaitOutcome::Signaled,
            Waited::Apcs => WaitOutcome::IoCompletion,
            Waited::Timeout => WaitOutcome::Timeout,
        }
    }

    /// A future that completes when the event is signaled, consuming the signal of an
    /// auto-reset event; for async code.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the signal is consumed only in the poll that returns `Ready`, so dropping
    /// the future before then leaves the event as it was and loses no signal.
    pub fn wait_async(&self) -> EventWait {
        EventWait {
            event: self.clone(),
            id: None,
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("manual_reset", &self.inner.manual_reset)
            .field("signaled", &self.is_set())
            .finish()
    }
}

impl PartialEq for Event {
    /// Identity: two handles to the same event.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Event {}

enum Waited {
    Object(usize),
    Apcs,
    Timeout,
}

/// Deregisters the current thread from every event on the way out, panics included.
struct Registered<'a> {
    events: &'a [&'a Event],
    ids: Vec<u64>,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        for (e, id) in self.events.iter().zip(&self.ids) {
            e.deregister(*id);
        }
    }
}

fn wait_objects(events: &[&Event], timeout: Duration, alertable: bool) -> Waited {
    let deadline = deadline_after(timeout);
    let me = alertable.then(ThreadRef::current);
    let thread = std::thread::current();
    // Register before the first check: a set after the check then unparks us, and the park
    // token makes that race-free.
    let _registered = Registered {
        events,
        ids: events
            .iter()
            .map(|e| e.register(Wake::Thread(thread.clone())))
            .collect(),
    };
    loop {
        for (i, e) in events.iter().enumerate() {
            if e.try_wait() {
                return Waited::Object(i);
            }
        }
        if let Some(me) = &me
            && me.run_pending() > 0
        {
            return Waited::Apcs;
        }
        if events.is_empty() && !alertable {
            return Waited::Timeout;
        }
        if !park_until(deadline) {
            return Waited::Timeout;
        }
    }
}

/// The future returned by [`Event::wait_async`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct EventWait {
    event: Event,
    id: Option<u64>,
}

impl Future for EventWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut s = lock(&this.event.inner.state);
        if this.event.consume(&mut s) {
            if let Some(id) = this.id.take() {
                s.waiters.remove(id);
            }
            return Poll::Ready(());
        }
        this.id = Some(s.waiters.update(this.id, Wake::Task(cx.waker().clone())));
        Poll::Pending
    }
}

impl Drop for EventWait {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.event.deregister(id);
        }
    }
}
