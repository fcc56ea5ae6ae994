//! I/O completion ports (`CreateIoCompletionPort`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::wait::WaitQueue;

/// One completion packet: what `GetQueuedCompletionStatus` returns through
/// `lpNumberOfBytesTransferred`, `lpCompletionKey` and `lpOverlapped`. For an RPC call these are
/// the values stored in the async handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Completion {
    /// Bytes transferred (`dwNumberOfBytesTransferred`).
    pub bytes: u32,
    /// Completion key (`ULONG_PTR`).
    pub key: usize,
    /// The `OVERLAPPED` pointer value; any caller-chosen number here.
    pub overlapped: usize,
}

/// A completion port: a FIFO of [`Completion`] packets that any number of threads wait on.
/// Clones are further handles to the same port.
///
/// Each packet goes to exactly one waiter. Windows wakes the most recent waiter first (LIFO) to
/// keep caches warm; this port makes no promise about which waiter gets a packet, only that one
/// does. Packets are delivered in the order they were posted.
#[derive(Clone)]
pub struct CompletionPort {
    inner: Arc<WaitQueue<Completion>>,
}

impl CompletionPort {
    /// `CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0)`: a new, empty port.
    pub fn new() -> CompletionPort {
        CompletionPort {
            inner: Arc::new(WaitQueue::new()),
        }
    }

    /// `PostQueuedCompletionStatus`: queues a packet and wakes one waiter.
    pub fn post(&self, bytes: u32, key: usize, overlapped: usize) {
        self.inner.push(Completion {
            bytes,
            key,
            overlapped,
        });
    }

    /// `GetQueuedCompletionStatus`: dequeues the oldest packet, waiting up to `timeout` for one
    /// (`Duration::ZERO` polls, [`INFINITE`](super::INFINITE) waits without limit). `None` on
    /// timeout (`WAIT_TIMEOUT`).
    pub fn get_queued_completion_status(&self, timeout: Duration) -> Option<Completion> {
        self.inner.pop(timeout)
    }

    /// Packets queued and not yet taken.
    pub fn queued(&self) -> usize {
        self.inner.len()
    }
}

impl Default for CompletionPort {
    fn default() -> Self {
        CompletionPort::new()
    }
}

impl fmt::Debug for CompletionPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompletionPort")
            .field("queued", &self.queued())
            .finish()
    }
}

impl PartialEq for CompletionPort {
    /// Identity: two handles to the same port.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for CompletionPort {}
