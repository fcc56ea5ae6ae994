//! What an interface implementation sees: the [`Interface`] trait and the [`IncomingCall`] it answers.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::transport::PeerAddr;
use msrpc_ndr::{ContextHandle, DataRep, Syntax};
use msrpc_proto::{FaultStatus, SyntaxId, Win32Status};

/// A served interface: what `RpcServerRegisterIf` registers. Generated server stubs implement it; so can
/// hand-written code.
///
/// `dispatch` is called on the connection's task and must not block: decode, then hand the call to a
/// task or a thread (the generated stubs do this for you), and answer it from there.
pub trait Interface: Send + Sync + 'static {
    /// The interface UUID and version.
    fn syntax(&self) -> SyntaxId;
    /// A name for logs and tools.
    fn name(&self) -> &str;
    /// The number of operations; opnums at or past it are faulted with `nca_s_op_rng_error` before
    /// `dispatch` is called.
    fn operation_count(&self) -> u16;
    /// Handles one call. The call must be answered exactly once ([`IncomingCall::reply`] or
    /// [`IncomingCall::fault`]); dropping it unanswered faults it with `nca_s_unspec_reject`.
    fn dispatch(&self, call: IncomingCall);
}

/// Facts about a call: who made it and how.
#[derive(Debug)]
#[non_exhaustive]
pub struct CallInfo {
    /// The interface the call was made on.
    pub interface: SyntaxId,
    /// The operation number.
    pub opnum: u16,
    /// The object UUID the client sent (PFC_OBJECT_UUID), if any.
    pub object: Option<uuid::Uuid>,
    /// The negotiated transfer syntax.
    pub syntax: Syntax,
    /// The data representation of the request.
    pub drep: DataRep,
    /// The client's address.
    pub peer: PeerAddr,
    /// The association group the connection belongs to.
    pub assoc_group: u32,
    /// The call id on its connection.
    pub call_id: u32,
    /// Who made the call and at what level (`RpcBindingInqAuthClient`), or `None` for an
    /// unauthenticated call.
    pub client: Option<crate::auth::ClientIdentity>,
    /// The limits to decode the request stub under: the server's
    /// [`ServerConfig::decode_limits`](super::ServerConfig::decode_limits).
    pub decode_limits: msrpc_ndr::DecodeLimits,
}

/// The answer a connection task receives for a call.
#[derive(Debug)]
pub(crate) enum Answer {
    Reply(Vec<u8>),
    Fault(FaultStatus),
}

#[derive(Debug)]
pub(crate) struct Completion {
    pub(crate) call_id: u32,
    pub(crate) answer: Answer,
}

/// A subscriber to a call's events.
pub(crate) type Listener = Arc<dyn Fn(CallEvent) + Send + Sync>;

/// Per-call state shared between the connection task and whoever holds the call.
#[derive(Default)]
pub(crate) struct CallState {
    pub(crate) cancelled: AtomicBool,
    pub(crate) disconnected: AtomicBool,
    pub(crate) listeners: Mutex<Vec<Listener>>,
}

impl fmt::Debug for CallState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallState")
            .field("cancelled", &self.cancelled.load(Ordering::Relaxed))
            .field("disconnected", &self.disconnected.load(Ordering::Relaxed))
            .finish()
    }
}

/// Something that happened to a call in progress (`RpcServerSubscribeForNotification`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallEvent {
    /// The client cancelled the call (`RpcNotificationCallCancel`).
    Cancel,
    /// The client's connection went away (`RpcNotificationClientDisconnect`).
    ClientDisconnect,
}

impl CallState {
    pub(crate) fn signal(&self, event: CallEvent) {
        let flag = match event {
            CallEvent::Cancel => &self.cancelled,
            CallEvent::ClientDisconnect => &self.disconnected,
        };
        // The flag is set under the listeners' lock, and `subscribe` reads it under the same lock:
        // a subscriber added before this point is called here, one added after sees the flag and
        // calls itself. Either way exactly once. Listeners run with the lock released.
        let listeners = {
            let listeners = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
            if flag.swap(true, Ordering::AcqRel) {
                return;
            }
            listeners.clone()
        };
        for l in listeners.iter() {
            l(event);
        }
    }
}

/// One call to answer. Answer it exactly once, from any thread.
pub struct IncomingCall {
    pub(crate) info: CallInfo,
    pub(crate) stub: Vec<u8>,
    pub(crate) state: Arc<CallState>,
    pub(crate) tx: Option<mpsc::UnboundedSender<Completion>>,
    pub(crate) guard: Option<CallGuard>,
    pub(crate) group: Option<Arc<super::context::AssocGroup>>,
}

impl fmt::Debug for IncomingCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingCall")
            .field("info", &self.info)
            .field("stub_len", &self.stub.len())
            .finish()
    }
}

/// Counts a call as in progress in the server until dropped.
pub(crate) struct CallGuard(pub(crate) Arc<super::Shared>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.0.calls.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl IncomingCall {
    /// The call's facts.
    pub fn info(&self) -> &CallInfo {
        &self.info
    }

    /// The authenticated client (`RpcBindingInqAuthClient`), or `None` for an unauthenticated
    /// call.
    pub fn client(&self) -> Option<&crate::auth::ClientIdentity> {
        self.info.client.as_ref()
    }

    /// The request's stub data (the NDR-encoded in-parameters).
    pub fn stub(&self) -> &[u8] {
        &self.stub
    }

    /// Takes the stub data out of the call.
    pub fn take_stub(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.stub)
    }

    /// `RpcServerTestCancel`: `RPC_S_CALL_CANCELLED` (1818) once the client has cancelled the call,
    /// `RPC_S_CALL_IN_PROGRESS` (1791) until then.
    pub fn test_cancel(&self) -> Win32Status {
        if self.state.cancelled.load(Ordering::Acquire) {
            Win32Status::RPC_S_CALL_CANCELLED
        } else {
            Win32Status::RPC_S_CALL_IN_PROGRESS
        }
    }

    /// True once the client's connection has gone away.
    pub fn is_client_gone(&self) -> bool {
        self.state.disconnected.load(Ordering::Acquire)
    }

    /// Calls `f` when the client cancels the call or disconnects (`RpcServerSubscribeForNotification`).
    /// An event that already happened is delivered at once.
    pub fn subscribe(&self, f: impl Fn(CallEvent) + Send + Sync + 'static) {
        let f: Listener = Arc::new(f);
        let (cancelled, disconnected) = {
            let mut listeners = self
                .state
                .listeners
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            listeners.push(f.clone());
            (
                self.state.cancelled.load(Ordering::Acquire),
                self.state.disconnected.load(Ordering::Acquire),
            )
        };
        if cancelled {
            f(CallEvent::Cancel);
        }
        if disconnected {
            f(CallEvent::ClientDisconnect);
        }
    }

    /// Creates a context handle for `value` in the client's association group. `rundown` runs if the
    /// client's association ends with the handle still open (the context rundown routine).
    pub fn new_context<T: Send + 'static>(
        &self,
        value: T,
        rundown: impl FnOnce(T) + Send + 'static,
    ) -> Result<ContextHandle, FaultStatus> {
        let group = self
            .group
            .as_ref()
            .ok_or(FaultStatus::NCA_S_FAULT_CONTEXT_MISMATCH)?;
        Ok(group.create(value, rundown))
    }

    /// The value behind a context handle the client presented. A null, unknown, closed or
    /// differently-typed handle is `nca_s_fault_context_mismatch` (fault the call with it).
    pub fn context<T: Send + 'static>(
        &self,
        handle: &ContextHandle,
    ) -> Result<super::ContextValue<T>, FaultStatus> {
        let group = self
            .group
            .as_ref()
            .ok_or(FaultStatus::NCA_S_FAULT_CONTEXT_MISMATCH)?;
        group.get(handle)
    }

    /// Closes a context handle and hands back its value (its rundown will not run). Return
    /// [`ContextHandle::NULL`] to the client in its place.
    pub fn close_context<T: Send + 'static>(
        &self,
        handle: &ContextHandle,
    ) -> Result<T, FaultStatus> {
        let group = self
            .group
            .as_ref()
            .ok_or(FaultStatus::NCA_S_FAULT_CONTEXT_MISMATCH)?;
        group.close(handle)
    }

    /// Context handles open in the client's association group.
    pub fn open_contexts(&self) -> usize {
        self.group.as_ref().map_or(0, |g| g.len())
    }

    /// Answers with the response stub (the NDR-encoded out-parameters and return value).
    pub fn reply(mut self, stub: Vec<u8>) {
        self.send(Answer::Reply(stub));
    }

    /// Answers with a fault. A Win32 status is mapped to its `nca_s_*` equivalent (MS-RPCE 3.1.1.5.5);
    /// others travel unchanged, as Windows servers do with `ERROR_ACCESS_DENIED`.
    pub fn fault(mut self, status: impl Into<FaultCode>) {
        let code = status.into().0;
        self.send(Answer::Fault(code));
    }

    fn send(&mut self, answer: Answer) {
        if let Some(tx) = self.tx.take() {
            let c = Completion {
                call_id: self.info.call_id,
                answer,
            };
            // Answered inside its connection's `dispatch`: hand it back directly (see `dispatch_inline`).
            let mut c = Some(c);
            let _ = INLINE.try_with(|slot| {
                if let Some((t, q)) = slot.borrow_mut().as_mut()
                    && t.same_channel(&tx)
                    && let Some(c) = c.take()
                {
                    q.push(c);
                }
            });
            if let Some(c) = c {
                let _ = tx.send(c);
            }
        }
        self.guard = None;
    }
}

type InlineSlot = Option<(mpsc::UnboundedSender<Completion>, Vec<Completion>)>;

thread_local! {
    /// Set by a connection's task while it runs `Interface::dispatch`: answers given before
    /// `dispatch` returns, on that thread, for that connection, are collected here instead of going
    /// through the connection's channel, which would wake the task that is already running (and, in
    /// tokio's multi-threaded scheduler, wake another worker to steal it: a futex wake per call).
    static INLINE: std::cell::RefCell<InlineSlot> = const { std::cell::RefCell::new(None) };
}

/// Runs `dispatch` and returns the answers it gave at once (an inline manager, a decode fault).
pub(crate) fn dispatch_inline(
    tx: &mpsc::UnboundedSender<Completion>,
    dispatch: impl FnOnce(),
) -> Vec<Completion> {
    struct Restore(InlineSlot);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            let _ = INLINE.try_with(|s| *s.borrow_mut() = prev);
        }
    }
    let prev = INLINE
        .try_with(|s| s.replace(Some((tx.clone(), Vec::new()))))
        .unwrap_or(None);
    let restore = Restore(prev);
    dispatch();
    let mine = INLINE
        .try_with(|s| s.borrow_mut().take())
        .ok()
        .flatten()
        .map(|(_, q)| q)
        .unwrap_or_default();
    drop(restore);
    mine
}

impl Drop for IncomingCall {
    fn drop(&mut self) {
        if self.tx.is_some() {
            tracing::warn!(
                call_id = self.info.call_id,
                opnum = self.info.opnum,
                "call dropped unanswered; faulting it"
            );
            self.send(Answer::Fault(FaultStatus::NCA_S_UNSPEC_REJECT));
        }
    }
}

/// A fault code: from a [`FaultStatus`] as is, or from a [`Win32Status`] through the MS-RPCE mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultCode(pub FaultStatus);

impl From<FaultStatus> for FaultCode {
    fn from(s: FaultStatus) -> Self {
        FaultCode(s)
    }
}

impl From<Win32Status> for FaultCode {
    fn from(s: Win32Status) -> Self {
        FaultCode(s.to_fault())
    }
}
