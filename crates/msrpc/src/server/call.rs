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
/// `dispatch` is called on the connection's task and must not block: decode, then either answer at
/// once ([`IncomingCall::answer`], for work that takes no time) or hand the call to a task or a
/// thread (the generated stubs do this for you) and answer it from there
/// ([`IncomingCall::reply`]), returning [`Dispatch::Deferred`].
pub trait Interface: Send + Sync + 'static {
    /// The interface UUID and version.
    fn syntax(&self) -> SyntaxId;
    /// A name for logs and tools.
    fn name(&self) -> &str;
    /// The number of operations; opnums at or past it are faulted with `nca_s_op_rng_error` before
    /// `dispatch` is called.
    fn operation_count(&self) -> u16;
    /// Handles one call, and says how: answered here (the value of [`IncomingCall::answer`] or
    /// [`IncomingCall::answer_fault`]) or [`Dispatch::Deferred`]. A deferred call must be answered
    /// exactly once ([`IncomingCall::reply`] or [`IncomingCall::fault`]); dropping it unanswered
    /// faults it with `nca_s_unspec_reject`.
    fn dispatch(&self, call: IncomingCall) -> Dispatch;
    /// `[strict_context_handle]`: its calls get only the context handles its own managers
    /// created ([`IncomingCall::context`] and [`IncomingCall::close_context`] give another
    /// interface's `nca_s_fault_context_mismatch`). Default false: any interface's handle of the
    /// client's association group, if its type matches (MIDL's default).
    fn strict_context_handles(&self) -> bool {
        false
    }
}

/// What [`Interface::dispatch`] did with its call.
#[must_use = "return it from Interface::dispatch: an answer given there goes straight to the connection"]
#[derive(Debug)]
pub enum Dispatch {
    /// Answered inside `dispatch` ([`IncomingCall::answer`], [`IncomingCall::answer_fault`]): the
    /// connection writes the answer as soon as `dispatch` returns, with no hand-off.
    Answered(Answered),
    /// Handed on (to a task, a thread, an `[async]` manager), to be answered from there with
    /// [`IncomingCall::reply`] or [`IncomingCall::fault`] (or faulted when dropped).
    Deferred,
}

/// Where a generated `Service` runs a synchronous manager routine: what the generated
/// `Server::accept` returns for each call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RunOn {
    /// Off the connection's task: on tokio's blocking pool for a blocking routine (so it may block),
    /// on a task of its own for an `async fn` one. The default.
    #[default]
    Pool,
    /// On the connection's task, there and then, answered with no hand-off: for routines that
    /// return at once (read a table, flip a flag) and never block. `async fn` routines ignore it.
    ConnectionTask,
}

/// An answer given inside [`Interface::dispatch`]; only the connection that dispatched the call
/// opens it.
#[derive(Debug)]
pub struct Answered(pub(crate) Completion);

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
    /// Who made the call and at what level (`RpcBindingInqAuthClient`; anonymous logons have the
    /// anonymous identity), or `None` for a call with no security context.
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

/// Per-call state shared between the connection task and whoever holds the call. The
/// connection task reuses it from call to call when nothing else holds it, so what every call
/// of the connection needs is held here once, not cloned per call: the connection's answer
/// channel and the server (whose count of calls in progress the call is in).
pub(crate) struct CallState {
    pub(crate) cancelled: AtomicBool,
    pub(crate) disconnected: AtomicBool,
    pub(crate) listeners: Mutex<Vec<Listener>>,
    pub(crate) tx: mpsc::UnboundedSender<Completion>,
    pub(crate) shared: Arc<super::Shared>,
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
    pub(crate) fn new(tx: mpsc::UnboundedSender<Completion>, shared: Arc<super::Shared>) -> Self {
        CallState {
            cancelled: AtomicBool::new(false),
            disconnected: AtomicBool::new(false),
            listeners: Mutex::new(Vec::new()),
            tx,
            shared,
        }
    }

    /// Back to a new call's state, for reuse by the connection task (which holds the only
    /// reference).
    pub(crate) fn reset(&mut self) {
        *self.cancelled.get_mut() = false;
        *self.disconnected.get_mut() = false;
        self.listeners
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

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
    /// The request stub. For a request that came in one fragment it is a slice of the
    /// connection's input buffer (no copy is made for a call answered inside `dispatch`); the
    /// runtime's helpers that answer later make it a copy of its own first
    /// ([`detach_stub`](IncomingCall::detach_stub)), so a call held for long never holds on to
    /// the connection's buffer.
    pub(crate) stub: bytes::Bytes,
    pub(crate) state: Arc<CallState>,
    /// Not answered yet (the answer goes through `state.tx`, or back from `dispatch`).
    pub(crate) open: bool,
    /// In the server's count of calls in progress (`state.shared.calls`) until answered.
    pub(crate) counted: bool,
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

/// A call is no longer in progress in the server.
pub(crate) fn call_ended(shared: &super::Shared) {
    if shared.calls.fetch_sub(1, Ordering::AcqRel) == 1 {
        shared.idle.notify_waiters();
    }
}

impl IncomingCall {
    /// The call's facts.
    pub fn info(&self) -> &CallInfo {
        &self.info
    }

    /// The authenticated client (`RpcBindingInqAuthClient`), anonymous logons included
    /// ([`ClientIdentity::is_anonymous`](crate::auth::ClientIdentity::is_anonymous)), or `None`
    /// for a call with no security context.
    pub fn client(&self) -> Option<&crate::auth::ClientIdentity> {
        self.info.client.as_ref()
    }

    /// The request's stub data (the NDR-encoded in-parameters).
    pub fn stub(&self) -> &[u8] {
        &self.stub
    }

    /// Drops the stub bytes past `len`, before the request is decoded: for an interface that
    /// tolerates what some peers append (the generated `Server::accept` may call it).
    pub fn truncate_stub(&mut self, len: usize) {
        self.stub.truncate(len);
    }

    /// Takes the stub data out of the call.
    pub fn take_stub(&mut self) -> Vec<u8> {
        // No copy when the stub owns its buffer (a reassembled request); else one.
        Vec::from(std::mem::take(&mut self.stub))
    }

    /// Makes the stub a copy of its own when it is a slice of the connection's input buffer.
    /// Call it before keeping the call past [`Interface::dispatch`] (on another task or thread,
    /// or held for an `[async]` manager): a few bytes kept then do not keep the connection's
    /// whole read buffer alive. The runtime's `codegen::serve_*` helpers do this themselves.
    pub fn detach_stub(&mut self) {
        if !self.stub.is_empty() {
            self.stub = bytes::Bytes::from(self.stub.to_vec());
        }
    }

    /// Lets the stub go (the request is decoded and nothing reads it again).
    pub(crate) fn release_stub(&mut self) {
        self.stub = bytes::Bytes::new();
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
        Ok(group.create(value, rundown, self.info.interface))
    }

    /// The interface a strict interface's call requires of the handles it presents.
    fn strict_interface(&self) -> Option<SyntaxId> {
        self.state
            .shared
            .is_strict(&self.info.interface)
            .then_some(self.info.interface)
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
        group.get(handle, self.strict_interface())
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
        group.close(handle, self.strict_interface())
    }

    /// Context handles open in the client's association group.
    pub fn open_contexts(&self) -> usize {
        self.group.as_ref().map_or(0, |g| g.len())
    }

    /// Answers with the response stub (the NDR-encoded out-parameters and return value), from
    /// any thread, after `dispatch` deferred the call.
    pub fn reply(mut self, stub: Vec<u8>) {
        self.send(Answer::Reply(stub));
    }

    /// Answers with the response stub inside [`Interface::dispatch`]: return the value from it.
    pub fn answer(mut self, stub: Vec<u8>) -> Dispatch {
        self.take(Answer::Reply(stub))
    }

    /// Faults the call inside [`Interface::dispatch`] (mapped as [`IncomingCall::fault`] maps):
    /// return the value from it.
    pub fn answer_fault(mut self, status: impl Into<FaultCode>) -> Dispatch {
        self.take(Answer::Fault(status.into().0))
    }

    fn take(&mut self, answer: Answer) -> Dispatch {
        self.uncount();
        if std::mem::take(&mut self.open) {
            Dispatch::Answered(Answered(Completion {
                call_id: self.info.call_id,
                answer,
            }))
        } else {
            Dispatch::Deferred
        }
    }

    fn uncount(&mut self) {
        if std::mem::take(&mut self.counted) {
            call_ended(&self.state.shared);
        }
    }

    /// Answers with a fault. A Win32 status is mapped to its `nca_s_*` equivalent (MS-RPCE 3.1.1.5.5);
    /// others travel unchanged, as Windows servers do with `ERROR_ACCESS_DENIED`.
    pub fn fault(mut self, status: impl Into<FaultCode>) {
        let code = status.into().0;
        self.send(Answer::Fault(code));
    }

    fn send(&mut self, answer: Answer) {
        if std::mem::take(&mut self.open) {
            let _ = self.state.tx.send(Completion {
                call_id: self.info.call_id,
                answer,
            });
        }
        self.uncount();
    }
}

impl Drop for IncomingCall {
    fn drop(&mut self) {
        if self.open {
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
