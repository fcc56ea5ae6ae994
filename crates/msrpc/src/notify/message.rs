//! A window's message queue (what an `HWND` is posted to).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::wait::WaitQueue;

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
    inner: Arc<WaitQueue<Message>>,
}

impl MessageQueue {
    /// A new, empty queue.
    pub fn new() -> MessageQueue {
        MessageQueue {
            inner: Arc::new(WaitQueue::new()),
        }
    }

    /// `PostMessage`: appends a message and returns at once.
    pub fn post(&self, message: Message) {
        self.inner.push(message);
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
        self.inner.pop(timeout)
    }

    /// `PeekMessage(.., PM_REMOVE or PM_NOREMOVE)`: the oldest message without waiting,
    /// removed from the queue when `remove` is true.
    pub fn peek_message(&self, remove: bool) -> Option<Message> {
        self.inner.peek(remove)
    }

    /// Messages queued and not yet taken.
    pub fn queued(&self) -> usize {
        self.inner.len()
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
