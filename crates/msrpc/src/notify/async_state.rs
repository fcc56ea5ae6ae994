//! The async handle, `RPC_ASYNC_STATE`.
//!
//! # Life of a handle
//!
//! ```text
//!  new / reinitialize          begin                 finish / abortive cancel     complete
//!  ───────────────► Initialized ─────► Pending ─────────────────────────► Completed ───────► Taken
//!                        ▲                                                                   │
//!                        └─────────────────────── reinitialize ──────────────────────────────┘
//! ```
//!
//! - The client creates the handle with a [`Notification`] (`RpcAsyncInitializeHandle` plus
//!   setting `NotificationType` and `u`).
//! - The runtime begins the call on the handle as the call starts (`Binding::start`, or a
//!   generated `op_start` form). It refuses with 1914 `RPC_S_INVALID_ASYNC_HANDLE` unless the
//!   handle is `Initialized`: a pending handle cannot carry a second call, and a used one must be
//!   [re-initialised](AsyncState::reinitialize) first.
//! - When the reply (or a fault) arrives the runtime stores it in the handle and fires the
//!   notification exactly once.
//! - The client polls [`AsyncState::status`] (997 `RPC_S_ASYNC_CALL_PENDING` until done) and
//!   takes the result with [`AsyncState::complete`] (`RpcAsyncCompleteCall`), or awaits
//!   [`AsyncState::completion`]. Both give an [`Error`](crate::Error) whose
//!   [`status`](crate::Error::status) is the one `RpcAsyncCompleteCall` returns.
//!
//! # Ownership
//!
//! The handle is shared: clones are further handles, and the runtime keeps the state alive while
//! the call is pending, so nothing is freed under the call. When the last client handle is
//! dropped while the call is pending, the call is cancelled abortively (orphaned).
//!
//! A notification routine that needs the handle should capture a [`WeakAsyncState`]
//! ([`AsyncState::downgrade`]): a strong clone stored inside the handle's own notification
//! would keep the handle alive forever.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};

use msrpc_proto::Initiator;
use msrpc_proto::status::Win32Status;

use super::wait::lock;
use super::{CallToken, Notification, RpcAsyncEvent};
use crate::error::{Error, Result};

/// The `UserInfo` field of `RPC_ASYNC_STATE`: anything the application wants to keep with the
/// handle.
pub type UserInfo = Arc<dyn Any + Send + Sync>;

/// How the runtime hears about [`AsyncState::cancel`]: it sends `co_cancel` (both kinds) and,
/// when abortive, orphans the call locally. Called with no lock held, on the cancelling
/// thread; must not block.
pub(crate) trait CancelHook: Send + Sync {
    /// The client cancelled the pending call.
    fn cancel(&self, mode: CancelMode);
}

impl<F: Fn(CancelMode) + Send + Sync> CancelHook for F {
    fn cancel(&self, mode: CancelMode) {
        self(mode)
    }
}

/// How [`AsyncState::cancel`] cancels: `RpcAsyncCancelCall`'s `fAbort`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelMode {
    /// `fAbort = FALSE`: tell the server (`co_cancel`) and keep waiting: the call completes with
    /// the server's answer, which may be a reply, or a fault with 1818.
    NonAbortive,
    /// `fAbort = TRUE`: tell the server, and complete the call at once as 1818
    /// `RPC_S_CALL_CANCELLED`; a later answer is discarded.
    Abortive,
}

/// The async handle (`RPC_ASYNC_STATE`) of a call whose reply decodes to `R`. Clones are further
/// handles to the same state. See the module docs for its life.
pub struct AsyncState<R> {
    handle: Arc<Handle<R>>,
}

/// A weak handle, for notification routines; see [`AsyncState::downgrade`].
pub struct WeakAsyncState<R> {
    handle: Weak<Handle<R>>,
}

/// The client's handles count; dropping the last one while pending orphans the call.
struct Handle<R> {
    shared: Arc<Shared<R>>,
}

struct Shared<R> {
    token: CallToken,
    inner: Mutex<Inner<R>>,
}

struct Inner<R> {
    notification: Notification,
    user_info: Option<UserInfo>,
    /// Counts calls started on this handle, so a stale completer cannot touch a later call.
    generation: u64,
    phase: Phase<R>,
    waker: Option<Waker>,
}

enum Phase<R> {
    Initialized,
    Pending {
        notification: Notification,
        hook: Arc<dyn CancelHook>,
        cancel_requested: bool,
    },
    Completed(Outcome<R>),
    /// The result was taken; the call's final status stays readable.
    Taken(Win32Status),
}

/// A completed call's result: ready, or the reply still to be decoded by whoever takes it.
enum Outcome<R> {
    Ready(Result<R>),
    /// The reply arrived; decoding it (on the taker's thread) gives the result.
    Undecoded(Box<dyn FnOnce() -> Result<R> + Send>),
}

/// 1914 `RPC_S_INVALID_ASYNC_HANDLE`, with what was wrong with the handle.
fn invalid_handle(what: &str) -> Error {
    Error::status_msg(Win32Status::RPC_S_INVALID_ASYNC_HANDLE, what)
}

const PENDING_HANDLE: &str = "the async handle has a call pending";
const USED_HANDLE: &str = "the async handle has a call pending, or completed and was not \
                           re-initialised (call reinitialize() before reusing it)";

fn next_token() -> CallToken {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    CallToken(NEXT.fetch_add(1, Ordering::Relaxed))
}

impl<R> AsyncState<R> {
    /// `RpcAsyncInitializeHandle` with the notification chosen: a new handle, ready for a call.
    pub fn new(notification: Notification) -> Self {
        AsyncState {
            handle: Arc::new(Handle {
                shared: Arc::new(Shared {
                    token: next_token(),
                    inner: Mutex::new(Inner {
                        notification,
                        user_info: None,
                        generation: 0,
                        phase: Phase::Initialized,
                        waker: None,
                    }),
                }),
            }),
        }
    }

    fn shared(&self) -> &Shared<R> {
        &self.handle.shared
    }

    /// This handle's token: what notifications carry to identify it.
    pub fn token(&self) -> CallToken {
        self.shared().token
    }

    /// A weak handle that does not keep the state alive.
    pub fn downgrade(&self) -> WeakAsyncState<R> {
        WeakAsyncState {
            handle: Arc::downgrade(&self.handle),
        }
    }

    /// `RpcAsyncInitializeHandle` on an existing handle: makes a used handle ready for another
    /// call, dropping a result not taken with `complete`. An error with status 1914
    /// `RPC_S_INVALID_ASYNC_HANDLE` while a call is pending.
    pub fn reinitialize(&self) -> Result<()> {
        let mut inner = lock(&self.shared().inner);
        if matches!(inner.phase, Phase::Pending { .. }) {
            return Err(invalid_handle(PENDING_HANDLE));
        }
        inner.phase = Phase::Initialized;
        inner.waker = None;
        Ok(())
    }

    /// The notification the next call will use (clone).
    pub fn notification(&self) -> Notification {
        lock(&self.shared().inner).notification.clone()
    }

    /// Changes the notification for the next call. An error with status 1914 while a call is
    /// pending (the pending call keeps the one it started with either way).
    pub fn set_notification(&self, notification: Notification) -> Result<()> {
        let mut inner = lock(&self.shared().inner);
        if matches!(inner.phase, Phase::Pending { .. }) {
            return Err(invalid_handle(PENDING_HANDLE));
        }
        inner.notification = notification;
        Ok(())
    }

    /// The `UserInfo` field.
    pub fn user_info(&self) -> Option<UserInfo> {
        lock(&self.shared().inner).user_info.clone()
    }

    /// Sets the `UserInfo` field.
    pub fn set_user_info(&self, info: Option<UserInfo>) {
        lock(&self.shared().inner).user_info = info;
    }

    /// Runtime side: a call starts on this handle. Resolves an APC notification without a
    /// thread to the calling thread, keeps `hook` for [`AsyncState::cancel`], and returns the
    /// completer. 1914 `RPC_S_INVALID_ASYNC_HANDLE` unless the handle is initialised and idle.
    pub(crate) fn begin(&self, hook: Arc<dyn CancelHook>) -> Result<CallCompleter<R>> {
        let mut inner = lock(&self.shared().inner);
        if !matches!(inner.phase, Phase::Initialized) {
            return Err(invalid_handle(USED_HANDLE));
        }
        inner.generation += 1;
        inner.phase = Phase::Pending {
            notification: inner.notification.clone().bind_to_caller(),
            hook,
            cancel_requested: false,
        };
        Ok(CallCompleter {
            shared: Some(self.handle.shared.clone()),
            generation: inner.generation,
        })
    }

    /// `RpcAsyncGetCallStatus`: 997 `RPC_S_ASYNC_CALL_PENDING` while the call runs, then its
    /// final status (0 on success, 1818 cancelled, or the fault's status), also after
    /// `complete`. 1914 on a handle with no call started.
    pub fn status(&self) -> Win32Status {
        match &lock(&self.shared().inner).phase {
            Phase::Initialized => Win32Status::RPC_S_INVALID_ASYNC_HANDLE,
            Phase::Pending { .. } => Win32Status::RPC_S_ASYNC_CALL_PENDING,
            Phase::Completed(Outcome::Ready(Ok(_)) | Outcome::Undecoded(_)) => Win32Status::OK,
            Phase::Completed(Outcome::Ready(Err(e))) => e.status(),
            Phase::Taken(s) => *s,
        }
    }

    /// True while a call is pending.
    pub fn is_pending(&self) -> bool {
        matches!(lock(&self.shared().inner).phase, Phase::Pending { .. })
    }

    /// `RpcAsyncCompleteCall`: the call's result, handing over the reply.
    ///
    /// The error's [`status`](Error::status) is what `RpcAsyncCompleteCall` returns:
    /// 997 `RPC_S_ASYNC_CALL_PENDING` while pending (try again later; nothing is taken);
    /// otherwise the answer is final: the reply, or the call's error ([`Error::Cancelled`], 1818
    /// `RPC_S_CALL_CANCELLED`; [`Error::Fault`] with the server's fault status; a connection
    /// failure; 1783 `RPC_X_BAD_STUB_DATA` when the reply does not decode). After that the
    /// handle needs [`reinitialize`](AsyncState::reinitialize); `complete` again, or on a handle
    /// with no call, gives 1914 `RPC_S_INVALID_ASYNC_HANDLE`.
    ///
    /// ```
    /// use msrpc::{AsyncState, Notification, Win32Status};
    ///
    /// let state: AsyncState<u32> = AsyncState::new(Notification::None);
    /// // No call was started on the handle.
    /// let e = state.complete().unwrap_err();
    /// assert_eq!(e.status(), Win32Status::RPC_S_INVALID_ASYNC_HANDLE);
    /// ```
    pub fn complete(&self) -> Result<R> {
        take_result(&self.shared().inner)
    }

    /// `RpcAsyncCancelCall(fAbort)`. Both kinds tell the runtime's hook (which sends
    /// `co_cancel`). Non-abortive: the call stays pending until the server's reply or fault
    /// arrives. Abortive: the call completes at once as 1818 `RPC_S_CALL_CANCELLED`, the
    /// notification fires, and a later reply is discarded. An error with status 1914
    /// `RPC_S_INVALID_ASYNC_HANDLE` when no call is pending.
    pub fn cancel(&self, mode: CancelMode) -> Result<()> {
        cancel_shared(self.shared(), mode)
    }

    /// A future resolving to what [`complete`](AsyncState::complete) returns once the call is
    /// no longer pending; for async code. Usable alongside any notification.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future neither cancels the call nor loses the result: the result is taken
    /// only by the poll that returns `Ready`, and until then stays available to `complete`.
    /// One waker is kept per handle, so await one such future at a time.
    pub fn completion(&self) -> AsyncCompletion<R> {
        AsyncCompletion {
            state: self.clone(),
        }
    }
}

/// Takes a completed call's result, decoding the reply if it has not been yet. The decoding runs
/// with the handle's lock released; the handle reads as taken meanwhile.
fn take_result<R>(shared: &Mutex<Inner<R>>) -> Result<R> {
    let outcome = {
        let mut inner = lock(shared);
        take_outcome(&mut inner)?
    };
    match outcome {
        Outcome::Ready(r) => r,
        Outcome::Undecoded(decode) => {
            let r = decode();
            if let Err(e) = &r {
                // A reply that does not decode: the call's final status is the decoding error.
                let mut inner = lock(shared);
                if matches!(inner.phase, Phase::Taken(_)) {
                    inner.phase = Phase::Taken(e.status());
                }
            }
            r
        }
    }
}

/// Moves a completed call to `Taken`, handing over its outcome; 997 while pending, 1914 when no
/// result is there to take.
fn take_outcome<R>(inner: &mut Inner<R>) -> Result<Outcome<R>> {
    let final_status = match &inner.phase {
        Phase::Pending { .. } => {
            return Err(Error::status_msg(
                Win32Status::RPC_S_ASYNC_CALL_PENDING,
                "the asynchronous call is still pending (complete it once its notification fires)",
            ));
        }
        Phase::Initialized => {
            return Err(invalid_handle("no call was started on the async handle"));
        }
        Phase::Taken(_) => {
            return Err(invalid_handle(
                "the call's result was already taken (reinitialize() the handle for another call)",
            ));
        }
        Phase::Completed(Outcome::Ready(Err(e))) => e.status(),
        Phase::Completed(_) => Win32Status::OK,
    };
    match std::mem::replace(&mut inner.phase, Phase::Taken(final_status)) {
        Phase::Completed(outcome) => Ok(outcome),
        _ => Err(invalid_handle("no completed call on the async handle")),
    }
}

fn cancel_shared<R>(shared: &Shared<R>, mode: CancelMode) -> Result<()> {
    let mut inner = lock(&shared.inner);
    let Phase::Pending {
        hook,
        cancel_requested,
        ..
    } = &mut inner.phase
    else {
        return Err(invalid_handle("no call is pending on the async handle"));
    };
    *cancel_requested = true;
    let hook = hook.clone();
    if mode == CancelMode::NonAbortive {
        drop(inner);
        hook.cancel(mode);
        return Ok(());
    }
    let done = complete_locked(
        &mut inner,
        Outcome::Ready(Err(Error::Cancelled {
            initiator: Initiator::Local,
        })),
    );
    drop(inner);
    hook.cancel(mode);
    if let Some(done) = done {
        done.deliver(shared.token);
    }
    Ok(())
}

/// What to do after a call completes, once the lock is released.
struct Delivery {
    notification: Notification,
    waker: Option<Waker>,
}

impl Delivery {
    fn deliver(self, token: CallToken) {
        if let Some(w) = self.waker {
            w.wake();
        }
        if let Err(e) = self.notification.fire(RpcAsyncEvent::CallComplete, token) {
            tracing::warn!(error = %e, "async call completion notification was not delivered");
        }
    }
}

/// Moves a pending call to `Completed`, returning its delivery; `None` if it was not pending.
fn complete_locked<R>(inner: &mut Inner<R>, result: Outcome<R>) -> Option<Delivery> {
    if !matches!(inner.phase, Phase::Pending { .. }) {
        return None;
    }
    match std::mem::replace(&mut inner.phase, Phase::Completed(result)) {
        Phase::Pending { notification, .. } => Some(Delivery {
            notification,
            waker: inner.waker.take(),
        }),
        _ => None,
    }
}

impl<R> Clone for AsyncState<R> {
    fn clone(&self) -> Self {
        AsyncState {
            handle: self.handle.clone(),
        }
    }
}

impl<R> Clone for WeakAsyncState<R> {
    fn clone(&self) -> Self {
        WeakAsyncState {
            handle: self.handle.clone(),
        }
    }
}

impl<R> WeakAsyncState<R> {
    /// The handle, if a client handle still exists.
    pub fn upgrade(&self) -> Option<AsyncState<R>> {
        self.handle.upgrade().map(|handle| AsyncState { handle })
    }
}

impl<R> Drop for Handle<R> {
    fn drop(&mut self) {
        // The last client handle is gone: nobody can take the result, so orphan the call.
        let _ = cancel_shared(&self.shared, CancelMode::Abortive);
    }
}

impl<R> fmt::Debug for AsyncState<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = lock(&self.shared().inner);
        let phase = match &inner.phase {
            Phase::Initialized => "Initialized",
            Phase::Pending { .. } => "Pending",
            Phase::Completed(_) => "Completed",
            Phase::Taken(_) => "Taken",
        };
        f.debug_struct("AsyncState")
            .field("token", &self.shared().token)
            .field("phase", &phase)
            .field("notification", &inner.notification)
            .finish_non_exhaustive()
    }
}

impl<R> fmt::Debug for WeakAsyncState<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WeakAsyncState")
    }
}

/// The runtime's half of one pending call, from [`AsyncState::begin`]. Completes that call
/// exactly once.
///
/// Dropped without [`finish`](CallCompleter::finish) or
/// [`fail_at_start`](CallCompleter::fail_at_start) (for example, when the connection task
/// dies), it completes the call as 1726 `RPC_S_CALL_FAILED` so the client is never left waiting.
pub(crate) struct CallCompleter<R> {
    shared: Option<Arc<Shared<R>>>,
    generation: u64,
}

impl<R> CallCompleter<R> {
    /// The handle's token.
    pub(crate) fn token(&self) -> Option<CallToken> {
        self.shared.as_ref().map(|s| s.token)
    }

    /// True once the client asked to cancel (either kind).
    #[cfg(test)]
    pub(crate) fn is_cancel_requested(&self) -> bool {
        let Some(shared) = &self.shared else {
            return false;
        };
        let inner = lock(&shared.inner);
        if inner.generation != self.generation {
            return true;
        }
        match &inner.phase {
            Phase::Pending {
                cancel_requested, ..
            } => *cancel_requested,
            Phase::Initialized => false,
            Phase::Completed(_) | Phase::Taken(_) => true,
        }
    }

    /// The reply (or fault status) arrived: store it and fire the notification (with
    /// [`RpcAsyncEvent::CallComplete`]). Returns false, discarding `result`, when the call is
    /// no longer pending (it was cancelled abortively).
    pub(crate) fn finish(mut self, result: Result<R>) -> bool {
        self.finish_inner(Outcome::Ready(result))
    }

    /// The reply arrived, still encoded: store `decode` and fire the notification. `decode` runs
    /// on the thread that takes the result ([`AsyncState::complete`], or the completion future's
    /// poll), as `RpcAsyncCompleteCall` unmarshals the out parameters on the caller's thread; the
    /// status reads 0 until then. Returns false, dropping `decode`, when the call is no longer
    /// pending.
    pub(crate) fn finish_deferred(
        mut self,
        decode: impl FnOnce() -> Result<R> + Send + 'static,
    ) -> bool {
        self.finish_inner(Outcome::Undecoded(Box::new(decode)))
    }

    fn finish_inner(&mut self, result: Outcome<R>) -> bool {
        let Some(shared) = self.shared.take() else {
            return false;
        };
        let mut inner = lock(&shared.inner);
        if inner.generation != self.generation {
            return false;
        }
        let done = complete_locked(&mut inner, result);
        drop(inner);
        match done {
            Some(d) => {
                d.deliver(shared.token);
                true
            }
            None => false,
        }
    }

    /// The call failed as it was made (the stub would raise an exception): the handle returns
    /// to `Initialized` and no notification fires, as on Windows. The caller reports the error
    /// to the client directly.
    pub(crate) fn fail_at_start(mut self) {
        if let Some(shared) = self.shared.take() {
            let mut inner = lock(&shared.inner);
            if inner.generation == self.generation && matches!(inner.phase, Phase::Pending { .. }) {
                inner.phase = Phase::Initialized;
            }
        }
    }
}

impl<R> Drop for CallCompleter<R> {
    fn drop(&mut self) {
        if self.shared.is_some() {
            self.finish_inner(Outcome::Ready(Err(Error::status_msg(
                Win32Status::RPC_S_CALL_FAILED,
                "the runtime dropped the call without completing it",
            ))));
        }
    }
}

impl<R> fmt::Debug for CallCompleter<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallCompleter")
            .field("token", &self.token())
            .field("generation", &self.generation)
            .finish()
    }
}

/// The future returned by [`AsyncState::completion`].
#[must_use = "futures do nothing unless polled"]
pub struct AsyncCompletion<R> {
    state: AsyncState<R>,
}

impl<R> Future for AsyncCompletion<R> {
    type Output = Result<R>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let shared = &self.state.shared().inner;
        {
            let mut inner = lock(shared);
            if matches!(inner.phase, Phase::Pending { .. }) {
                inner.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
        }
        Poll::Ready(take_result(shared))
    }
}

impl<R> fmt::Debug for AsyncCompletion<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncCompletion")
            .field("state", &self.state)
            .finish()
    }
}

#[cfg(test)]
mod tests;
