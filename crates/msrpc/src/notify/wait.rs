//! Shared waiting machinery: poison-tolerant locking, deadlines, and waiter lists that wake
//! parked threads or async tasks.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Locks, ignoring poisoning: every critical section here leaves its state consistent before
/// it can panic, so a panic elsewhere must not make the primitive unusable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The instant a wait of `timeout` ends; `None` for a timeout too large to represent
/// (such as [`INFINITE`](super::INFINITE)), which means "wait forever".
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Parks the current thread until unparked or `deadline` passes. Returns false once the
/// deadline has passed (checked before parking).
pub(crate) fn park_until(deadline: Option<Instant>) -> bool {
    match deadline {
        None => {
            std::thread::park();
            true
        }
        Some(d) => {
            let now = Instant::now();
            if now >= d {
                return false;
            }
            std::thread::park_timeout(d - now);
            true
        }
    }
}

/// Something to wake when an object changes state.
#[derive(Debug, Clone)]
pub(crate) enum Wake {
    Thread(Thread),
    Task(Waker),
}

impl Wake {
    pub(crate) fn wake(self) {
        match self {
            Wake::Thread(t) => t.unpark(),
            Wake::Task(w) => w.wake(),
        }
    }
}

/// Registered waiters of one object, each with an id to deregister by.
#[derive(Debug, Default)]
pub(crate) struct WaiterList {
    next_id: u64,
    list: Vec<(u64, Wake)>,
}

impl WaiterList {
    pub(crate) fn add(&mut self, wake: Wake) -> u64 {
        self.next_id += 1;
        self.list.push((self.next_id, wake));
        self.next_id
    }

    /// Replaces the waker of `id` (an async task polled again), or adds it.
    pub(crate) fn update(&mut self, id: Option<u64>, wake: Wake) -> u64 {
        if let Some(id) = id
            && let Some(slot) = self.list.iter_mut().find(|(i, _)| *i == id)
        {
            slot.1 = wake;
            return id;
        }
        self.add(wake)
    }

    pub(crate) fn remove(&mut self, id: u64) {
        self.list.retain(|(i, _)| *i != id);
    }

    /// Clones of every waker, to wake after the lock is released.
    pub(crate) fn snapshot(&self) -> Vec<Wake> {
        self.list.iter().map(|(_, w)| w.clone()).collect()
    }
}

/// A FIFO that threads wait on: the core of [`CompletionPort`](super::CompletionPort) and
/// [`MessageQueue`](super::MessageQueue). Each item goes to exactly one taker, in the order pushed.
pub(crate) struct WaitQueue<T> {
    items: Mutex<std::collections::VecDeque<T>>,
    ready: std::sync::Condvar,
}

impl<T> WaitQueue<T> {
    pub(crate) fn new() -> Self {
        WaitQueue {
            items: Mutex::new(std::collections::VecDeque::new()),
            ready: std::sync::Condvar::new(),
        }
    }

    /// Appends an item and wakes one waiter.
    pub(crate) fn push(&self, item: T) {
        lock(&self.items).push_back(item);
        self.ready.notify_one();
    }

    /// The oldest item, waiting up to `timeout` (`Duration::ZERO` polls, `INFINITE` waits without
    /// limit); `None` on timeout.
    pub(crate) fn pop(&self, timeout: Duration) -> Option<T> {
        let deadline = deadline_after(timeout);
        let mut q = lock(&self.items);
        loop {
            // Checked before the deadline: a waiter woken for an item as its time runs out still
            // takes it, so no item is left behind while others sleep.
            if let Some(item) = q.pop_front() {
                return Some(item);
            }
            q = match deadline {
                None => self
                    .ready
                    .wait(q)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return None;
                    }
                    self.ready
                        .wait_timeout(q, d - now)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// The oldest item without waiting, removed when `remove` is true.
    pub(crate) fn peek(&self, remove: bool) -> Option<T>
    where
        T: Copy,
    {
        let mut q = lock(&self.items);
        if remove {
            q.pop_front()
        } else {
            q.front().copied()
        }
    }

    /// Items queued and not yet taken.
    pub(crate) fn len(&self) -> usize {
        lock(&self.items).len()
    }
}
