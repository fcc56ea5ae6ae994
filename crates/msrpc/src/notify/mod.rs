//! The notification primitives of the Windows asynchronous-call model, and the async handle.
//!
//! When an asynchronous RPC completes, the runtime notifies the client in the way it chose in
//! its `RPC_ASYNC_STATE` (see "Making the Asynchronous Call"). Each way is a primitive here,
//! usable on its own with plain std threads, and each is `Send + Sync` so async (tokio) code can
//! fire it:
//!
//! | Windows | here |
//! |---|---|
//! | polling, `RpcAsyncGetCallStatus` | [`Notification::None`], [`AsyncState::status`] |
//! | event object (`CreateEvent`, `SetEvent`, `WaitFor*Object*`) | [`Event`] |
//! | APC (`QueueUserAPC`, `SleepEx`, alertable waits) | [`ThreadRef`], [`sleep_alertable`], [`Event::wait_alertable`] |
//! | I/O completion port | [`CompletionPort`] |
//! | window handle (`PostMessage`, `GetMessage`, `PeekMessage`) | [`MessageQueue`] |
//! | callback (Windows 7 and later) | [`Notification::Callback`] |
//!
//! [`Notification`] names one of these with its parameters, and [`Notification::fire`] delivers
//! an [`RpcAsyncEvent`] through it. [`AsyncState`] is the async handle that holds a notification
//! and the call's result.
//!
//! Timeouts are [`Duration`]s; [`INFINITE`] (or any duration too large to add to
//! [`std::time::Instant::now`]) waits without limit.
//!
//! # Blocking and async code
//!
//! Setting, posting, queueing and firing never block, so the runtime's tokio tasks fire
//! notifications directly. The waits (`wait*`, `sleep_alertable`, `get_*`) park the calling OS
//! thread, as their Windows counterparts do: call them from plain threads (or `spawn_blocking`),
//! not from inside an async task. Async code awaits [`Event::wait_async`] or
//! [`AsyncState::completion`] instead; both are cancel-safe.
//!
//! Parked threads are woken with [`std::thread::Thread::unpark`]; like any user of
//! `park`, other code on the same thread may see a spurious wakeup, which `park` allows.

mod apc;
mod async_state;
mod event;
mod message;
mod port;
mod wait;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use apc::{ApcRoutine, QueueApcError, ThreadRef, sleep_alertable};
pub(crate) use async_state::CallCompleter;
pub use async_state::{AsyncCompletion, AsyncState, CancelMode, UserInfo, WeakAsyncState};
pub use event::{Event, EventWait};
pub use message::{Message, MessageQueue, WM_USER};
pub use port::{Completion, CompletionPort};

/// `INFINITE`: a timeout that never expires.
pub const INFINITE: Duration = Duration::MAX;

/// How an alertable wait ended (`WAIT_OBJECT_0`, `WAIT_IO_COMPLETION`, `WAIT_TIMEOUT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitOutcome {
    /// The object waited on was signaled (and, for an auto-reset event, consumed).
    Signaled,
    /// One or more APCs ran on the waiting thread, which ended the wait.
    IoCompletion,
    /// The timeout elapsed.
    Timeout,
}

/// `RPC_ASYNC_EVENT`: why a notification fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RpcAsyncEvent {
    /// `RpcCallComplete` (0): the call completed; the client calls `complete()`.
    CallComplete,
    /// `RpcSendComplete` (1): a send on an async pipe completed.
    SendComplete,
    /// `RpcReceiveComplete` (2): a receive on an async pipe completed.
    ReceiveComplete,
    /// `RpcClientDisconnect` (3): server side, the client went away.
    ClientDisconnect,
    /// `RpcClientCancel` (4): server side, the client cancelled the call.
    ServerCallCancel,
}

impl RpcAsyncEvent {
    /// The `RPC_ASYNC_EVENT` value.
    pub fn as_u32(self) -> u32 {
        match self {
            Self::CallComplete => 0,
            Self::SendComplete => 1,
            Self::ReceiveComplete => 2,
            Self::ClientDisconnect => 3,
            Self::ServerCallCancel => 4,
        }
    }
}

/// Identifies the async handle a notification is about: what Windows passes as the
/// `PRPC_ASYNC_STATE` pointer. Each [`AsyncState`] has its own token, kept across
/// `reinitialize`; an `Hwnd` notification carries it in `lparam`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallToken(pub usize);

/// A notification routine (`RPCNOTIFICATION_ROUTINE`): gets the handle's token and the event.
/// Capture a clone of the [`AsyncState`] to call `complete()` from it.
pub type NotifyRoutine = Arc<dyn Fn(CallToken, RpcAsyncEvent) + Send + Sync + 'static>;

/// How the runtime tells the client that an asynchronous call completed
/// (`RPC_NOTIFICATION_TYPES` with the `u` union of `RPC_ASYNC_STATE`).
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Notification {
    /// `RpcNotificationTypeNone`: nothing fires; the client polls [`AsyncState::status`].
    #[default]
    None,
    /// `RpcNotificationTypeEvent`: the event is set.
    Event(Event),
    /// `RpcNotificationTypeApc`: `routine` is queued as an APC to `thread`, and runs when that
    /// thread next waits alertably. `thread: None` (`hThread` = 0) means the thread that makes
    /// the call; [`Notification::bind_to_caller`] resolves it when the call starts.
    Apc {
        /// Target thread, or `None` for the calling thread.
        thread: Option<ThreadRef>,
        /// The routine; the closure holds what Windows passes as `NotificationRoutine`'s context.
        routine: NotifyRoutine,
    },
    /// `RpcNotificationTypeIoc`: a packet with these three values is posted to the port.
    IoCompletionPort {
        /// The port.
        port: CompletionPort,
        /// `dwNumberOfBytesTransferred`.
        bytes: u32,
        /// `dwCompletionKey`.
        key: usize,
        /// `lpOverlapped`.
        overlapped: usize,
    },
    /// `RpcNotificationTypeHwnd`: `Message { msg, wparam: 0, lparam: token }` is posted.
    Hwnd {
        /// The window's queue.
        queue: MessageQueue,
        /// The message number (often [`WM_USER`] or above).
        msg: u32,
    },
    /// `RpcNotificationTypeCallback`: the routine runs on the runtime thread that completes
    /// the call. Keep it short and non-blocking.
    Callback(NotifyRoutine),
}

impl Notification {
    /// An APC notification to the thread that will make the call.
    pub fn apc(routine: impl Fn(CallToken, RpcAsyncEvent) + Send + Sync + 'static) -> Self {
        Notification::Apc {
            thread: None,
            routine: Arc::new(routine),
        }
    }

    /// An APC notification to a given thread.
    pub fn apc_to(
        thread: ThreadRef,
        routine: impl Fn(CallToken, RpcAsyncEvent) + Send + Sync + 'static,
    ) -> Self {
        Notification::Apc {
            thread: Some(thread),
            routine: Arc::new(routine),
        }
    }

    /// A callback notification.
    pub fn callback(routine: impl Fn(CallToken, RpcAsyncEvent) + Send + Sync + 'static) -> Self {
        Notification::Callback(Arc::new(routine))
    }

    /// Resolves `Apc { thread: None }` to the calling thread, as Windows does when the call is
    /// made; every other notification is returned unchanged. The runtime calls this on the
    /// thread that starts the call ([`AsyncState`] does it in `begin`).
    pub fn bind_to_caller(self) -> Self {
        match self {
            Notification::Apc {
                thread: None,
                routine,
            } => Notification::Apc {
                thread: Some(ThreadRef::current()),
                routine,
            },
            other => other,
        }
    }

    /// Delivers `event` about the handle `token` through this notification: sets the event,
    /// queues the APC, posts the completion packet or the message, or runs the callback (on
    /// this thread). `None` does nothing.
    pub fn fire(&self, event: RpcAsyncEvent, token: CallToken) -> Result<(), NotifyError> {
        match self {
            Notification::None => Ok(()),
            Notification::Event(e) => {
                e.set();
                Ok(())
            }
            Notification::Apc { thread, routine } => {
                let thread = thread.as_ref().ok_or(NotifyError::ApcThreadNotBound)?;
                let routine = routine.clone();
                thread
                    .queue_apc(Box::new(move || routine(token, event)))
                    .map_err(|_| NotifyError::ApcThreadExited)
            }
            Notification::IoCompletionPort {
                port,
                bytes,
                key,
                overlapped,
            } => {
                port.post(*bytes, *key, *overlapped);
                Ok(())
            }
            Notification::Hwnd { queue, msg } => {
                queue.post(Message {
                    msg: *msg,
                    wparam: 0,
                    lparam: token.0,
                });
                Ok(())
            }
            Notification::Callback(routine) => {
                routine(token, event);
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notification::None => f.write_str("None"),
            Notification::Event(e) => f.debug_tuple("Event").field(e).finish(),
            Notification::Apc { thread, .. } => f
                .debug_struct("Apc")
                .field("thread", thread)
                .finish_non_exhaustive(),
            Notification::IoCompletionPort {
                port,
                bytes,
                key,
                overlapped,
            } => f
                .debug_struct("IoCompletionPort")
                .field("port", port)
                .field("bytes", bytes)
                .field("key", key)
                .field("overlapped", overlapped)
                .finish(),
            Notification::Hwnd { queue, msg } => f
                .debug_struct("Hwnd")
                .field("queue", queue)
                .field("msg", msg)
                .finish(),
            Notification::Callback(_) => f.write_str("Callback(..)"),
        }
    }
}

/// A notification could not be delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotifyError {
    /// An APC notification with no thread: [`Notification::bind_to_caller`] was not called.
    ApcThreadNotBound,
    /// The APC's target thread has exited; the routine was dropped without running.
    ApcThreadExited,
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotifyError::ApcThreadNotBound => {
                "APC notification has no target thread (bind_to_caller was not called)"
            }
            NotifyError::ApcThreadExited => "APC notification target thread has exited",
        })
    }
}

impl std::error::Error for NotifyError {}
