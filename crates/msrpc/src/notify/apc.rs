//! Asynchronous procedure calls: per-thread APC queues, [`ThreadRef`] and alertable waits.
//!
//! As on Windows (`QueueUserAPC`, `SleepEx`, `WaitForSingleObjectEx`), an APC queued to a thread
//! runs on that thread, and only while that thread is inside an alertable wait:
//! [`sleep_alertable`], [`Event::wait_alertable`](super::Event::wait_alertable). Nothing else ever
//! runs them: a thread that never waits alertably never runs its APCs.
//!
//! A thread's queue is created the first time [`ThreadRef::current`] is called on it (or it first
//! waits alertably); no registration step is needed. When the thread exits, its queue is closed:
//! APCs still queued are dropped without running, and [`ThreadRef::queue_apc`] fails from then on
//! with [`QueueApcError`], which hands the routine back.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::thread::{Thread, ThreadId};
use std::time::Duration;

use super::WaitOutcome;
use super::wait::{deadline_after, lock, park_until};

/// An APC routine (`PAPCFUNC`); the closure carries what Windows passes as `dwData`.
pub type ApcRoutine = Box<dyn FnOnce() + Send + 'static>;

/// A handle to a thread that can receive APCs (a thread `HANDLE`). Clones refer to the same
/// thread; equality is identity.
#[derive(Clone)]
pub struct ThreadRef {
    inner: Arc<ThreadInner>,
}

struct ThreadInner {
    thread: Thread,
    queue: Mutex<ApcQueue>,
}

#[derive(Default)]
struct ApcQueue {
    apcs: VecDeque<ApcRoutine>,
    exited: bool,
}

/// Closes the thread's queue when its thread-local storage is torn down.
struct Registration(Arc<ThreadInner>);

impl Drop for Registration {
    fn drop(&mut self) {
        let dropped = {
            let mut q = lock(&self.0.queue);
            q.exited = true;
            std::mem::take(&mut q.apcs)
        };
        // Dropped outside the lock: a routine's captures may themselves queue APCs.
        drop(dropped);
    }
}

thread_local! {
    static CURRENT: Registration = Registration(Arc::new(ThreadInner {
        thread: std::thread::current(),
        queue: Mutex::new(ApcQueue::default()),
    }));
}

impl ThreadRef {
    /// The calling thread, registering its APC queue on first use.
    ///
    /// Called while the thread's thread-local storage is being destroyed, this returns a handle
    /// whose queue is already closed.
    pub fn current() -> ThreadRef {
        CURRENT
            .try_with(|r| ThreadRef { inner: r.0.clone() })
            .unwrap_or_else(|_| ThreadRef {
                inner: Arc::new(ThreadInner {
                    thread: std::thread::current(),
                    queue: Mutex::new(ApcQueue {
                        apcs: VecDeque::new(),
                        exited: true,
                    }),
                }),
            })
    }

    /// `QueueUserAPC`: queues `routine` to run on this thread during its next alertable wait,
    /// and wakes the thread if it is waiting alertably now. Fails, handing the routine back,
    /// once the thread has exited.
    pub fn queue_apc(&self, routine: ApcRoutine) -> Result<(), QueueApcError> {
        {
            let mut q = lock(&self.inner.queue);
            if q.exited {
                return Err(QueueApcError { routine });
            }
            q.apcs.push_back(routine);
        }
        self.inner.thread.unpark();
        Ok(())
    }

    /// The std id of the thread.
    pub fn id(&self) -> ThreadId {
        self.inner.thread.id()
    }

    /// The std handle of the thread.
    pub fn thread(&self) -> &Thread {
        &self.inner.thread
    }

    /// True once the thread has exited (its queue is closed).
    pub fn has_exited(&self) -> bool {
        lock(&self.inner.queue).exited
    }

    /// The number of APCs queued and not yet run.
    pub fn pending_apcs(&self) -> usize {
        lock(&self.inner.queue).apcs.len()
    }

    /// Runs every APC queued to this thread, oldest first, including ones queued by the APCs
    /// themselves, and returns how many ran. Only ever called on the current thread's handle,
    /// from an alertable wait. Each routine runs with no lock held.
    pub(crate) fn run_pending(&self) -> usize {
        debug_assert_eq!(self.id(), std::thread::current().id());
        let mut ran = 0;
        loop {
            let next = lock(&self.inner.queue).apcs.pop_front();
            match next {
                Some(apc) => {
                    apc();
                    ran += 1;
                }
                None => return ran,
            }
        }
    }
}

impl PartialEq for ThreadRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for ThreadRef {}

impl fmt::Debug for ThreadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = lock(&self.inner.queue);
        f.debug_struct("ThreadRef")
            .field("id", &self.inner.thread.id())
            .field("name", &self.inner.thread.name())
            .field("pending_apcs", &q.apcs.len())
            .field("exited", &q.exited)
            .finish()
    }
}

/// [`ThreadRef::queue_apc`] failed: the thread has exited. Holds the routine, which did not run.
pub struct QueueApcError {
    routine: ApcRoutine,
}

impl QueueApcError {
    /// The routine that was not queued.
    pub fn into_routine(self) -> ApcRoutine {
        self.routine
    }
}

impl fmt::Debug for QueueApcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueApcError(thread has exited)")
    }
}

impl fmt::Display for QueueApcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot queue an APC: the target thread has exited")
    }
}

impl std::error::Error for QueueApcError {}

/// `SleepEx(timeout, TRUE)`: sleeps until `timeout` passes or APCs are queued to this thread.
/// APCs already queued, or queued during the sleep, run on this thread before it returns
/// [`WaitOutcome::IoCompletion`]; otherwise it returns [`WaitOutcome::Timeout`] once the time
/// has elapsed. A zero timeout just runs what is queued. Never returns
/// [`WaitOutcome::Signaled`]. [`INFINITE`](super::INFINITE) waits for APCs without limit.
pub fn sleep_alertable(timeout: Duration) -> WaitOutcome {
    let me = ThreadRef::current();
    let deadline = deadline_after(timeout);
    loop {
        if me.run_pending() > 0 {
            return WaitOutcome::IoCompletion;
        }
        if !park_until(deadline) {
            return WaitOutcome::Timeout;
        }
    }
}
