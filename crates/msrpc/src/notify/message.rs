//! A window's message queue (what an `HWND` is posted to).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::wait::{deadline_after, lock};

/// `WM_USER`: the first message number free for private use; RPC applications usually pick
/// their completion message at or above it.
pub const WM_USER: u32 = 0x0400;

/// A posted message (`MSG` without the window, time and point).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Message {
    /// The message number.
    pub msg: u32,
    /// `WPARAM`.
    pub wparam: usize,
    /// `LPARAM`.
    pub lparam: usize,
}

/// A window's message queue: the target of an `HWND` notification. Clones are further handles
/// to the same queue (like copies of an `HWND`). Messages are delivered in the order posted,
/// each to one reader.
#[derive(Clone)]
pub struct MessageQueue {
    inner: Arc<QueueInner>,
}

struct QueueInner {
    messages: Mutex<VecDeque<Message>>,
    ready: Condvar,
}

impl MessageQueue {
    /// A new, empty queue.
    pub fn new() -> MessageQueue {
        MessageQueue {
            inner: Arc::new(QueueInner {
                messages: Mutex::new(VecDeque::new()),
                ready: Condvar::new(),
            }),
        }
    }

    /// `PostMessage`: appends a message and returns at once.
    pub fn post(&self, message: Message) {
        lock(&self.inner.messages).push_back(message);
        self.inner.ready.notify_one();
    }

    /// `GetMessage`: removes and returns the oldest message, blocking until there is one.
    pub fn get_message(&self) -> Message {
        loop {
            if let Some(m) = self.get_message_timeout(super::INFINITE) {
                return m;
            }
        }
    }

    /// `GetMessage` with a time limit (`MsgWaitForMultipleObjects` then `PeekMessage`): the
    /// oldest message, or `None` if none arrives within `timeout`.
    pub fn get_message_timeout(&self, timeout: Duration) -> Option<Message> {
        let deadline = deadline_after(timeout);
        let mut q = lock(&self.inner.messages);
        loop {
            if let Some(m) = q.pop_front() {
                return Some(m);
            }
            q = match deadline {
                None => self
                    .inner
                    .ready
                    .wait(q)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return None;
                    }
                    self.inner
                        .ready
                        .wait_timeout(q, d - now)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// `PeekMessage(.., PM_REMOVE or PM_NOREMOVE)`: the oldest message without waiting,
    /// removed from the queue when `remove` is true.
    pub fn peek_message(&self, remove: bool) -> Option<Message> {
        let mut q = lock(&self.inner.messages);
        if remove {
            q.pop_front()
        } else {
            q.front().copied()
        }
    }

    /// Messages queued and not yet taken.
    pub fn queued(&self) -> usize {
        lock(&self.inner.messages).len()
    }
}

impl Default for MessageQueue {
    fn default() -> Self {
        MessageQueue::new()
    }
}

impl fmt::Debug for MessageQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageQueue")
            .field("queued", &self.queued())
            .finish()
    }
}

impl PartialEq for MessageQueue {
    /// Identity: two handles to the same queue.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for MessageQueue {}
