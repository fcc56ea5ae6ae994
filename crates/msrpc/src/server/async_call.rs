//! The server side of an asynchronous call: what an `[async]` manager routine receives.
//!
//! Windows hands an `[async]` manager a `PRPC_ASYNC_STATE` first; the manager may return at once and
//! finish the call later from any thread with `RpcAsyncCompleteCall` (or `RpcAsyncAbortCall`). Here the
//! manager receives an [`AsyncCall<R>`], where `R` is the reply (the out-parameters and return value).
//! [`AsyncCall::complete`] and [`AsyncCall::abort`] consume the handle, so a call is finished exactly
//! once by construction; a handle dropped unfinished faults the call with `nca_s_unspec_reject`
//! (`RPC_S_CALL_FAILED` at the client), so the client is never left waiting.

use std::fmt;
use std::sync::Arc;

use msrpc_ndr::Encoder;
use msrpc_proto::Win32Status;

use super::call::{CallEvent, CallInfo, FaultCode, IncomingCall};
use crate::notify::{CallToken, Notification, RpcAsyncEvent};

/// Encodes a reply into NDR.
pub type ReplyEncoder<R> = fn(&R, &mut Encoder) -> msrpc_ndr::Result<()>;

/// A pending asynchronous call on the server (`RPC_ASYNC_STATE` as the server manager sees it).
/// `Send`: move it to any thread or task and finish it there.
pub struct AsyncCall<R> {
    call: IncomingCall,
    encode: ReplyEncoder<R>,
}

impl<R> fmt::Debug for AsyncCall<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncCall")
            .field("call", &self.call)
            .finish()
    }
}

/// What a subscription watches (`RPC_NOTIFICATIONS` for `RpcServerSubscribeForNotification`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Subscription {
    /// `RpcNotificationClientDisconnect`: the client's connection went away.
    ClientDisconnect,
    /// `RpcNotificationCallCancel`: the client cancelled the call.
    CallCancel,
}

impl<R> AsyncCall<R> {
    /// Wraps a call; generated server stubs do this for `[async]` operations.
    pub fn new(mut call: IncomingCall, encode: ReplyEncoder<R>) -> Self {
        // The request is decoded by now: its bytes (maybe a slice of the connection's read
        // buffer) are not kept for as long as the manager holds the call.
        call.release_stub();
        AsyncCall { call, encode }
    }

    /// The same call, to be finished with another reply type: `encode` writes an `R2` as this
    /// call's response (a handler's `AsyncCall<()>` for an operation without `[out]` parameters).
    pub fn with_encoder<R2>(self, encode: ReplyEncoder<R2>) -> AsyncCall<R2> {
        AsyncCall {
            call: self.call,
            encode,
        }
    }

    /// Facts about the call.
    pub fn info(&self) -> &CallInfo {
        self.call.info()
    }

    /// The incoming call, as a synchronous manager's `call` parameter is: who made it
    /// ([`IncomingCall::client`]) and the context handles of its association group
    /// ([`IncomingCall::new_context`], [`IncomingCall::context`], [`IncomingCall::close_context`]).
    pub fn incoming(&self) -> &IncomingCall {
        &self.call
    }

    /// The authenticated client (`RpcBindingInqAuthClient`), anonymous logons included, or `None`
    /// for a call with no security context (see [`IncomingCall::client`]).
    pub fn client(&self) -> Option<&crate::auth::ClientIdentity> {
        self.call.client()
    }

    /// `RpcAsyncCompleteCall` on the server: sends the reply. From any thread.
    pub fn complete(self, reply: R) {
        let info = self.call.info();
        let mut e = Encoder::new(info.syntax, msrpc_ndr::DataRep::LITTLE_ENDIAN);
        match (self.encode)(&reply, &mut e) {
            Ok(()) => self.call.reply(e.into_bytes()),
            Err(err) => {
                tracing::warn!(error = %err, "cannot encode the reply; faulting the call");
                self.call.fault(Win32Status::RPC_X_BAD_STUB_DATA);
            }
        }
    }

    /// `RpcAsyncAbortCall`: ends the call with `code`, which reaches the client as a fault with that
    /// status (a Win32 status is mapped to its `nca_s_*` equivalent, e.g. 1818 to `nca_s_fault_cancel`).
    pub fn abort(self, code: impl Into<FaultCode>) {
        self.call.fault(code);
    }

    /// `RpcServerTestCancel`: `RPC_S_CALL_CANCELLED` (1818) once the client cancelled the call,
    /// else `RPC_S_CALL_IN_PROGRESS` (1791).
    pub fn test_cancel(&self) -> Win32Status {
        self.call.test_cancel()
    }

    /// True once the client's connection has gone away: finishing the call then sends nothing.
    pub fn is_client_gone(&self) -> bool {
        self.call.is_client_gone()
    }

    /// `RpcServerSubscribeForNotification`: delivers `RpcNotificationClientDisconnect` or
    /// `RpcNotificationCallCancel` through `notification` (an event, an APC, a completion port, a window
    /// message or a callback), with `token` as the call's identity. An event that already happened is
    /// delivered at once.
    pub fn subscribe(&self, what: Subscription, notification: Notification, token: CallToken) {
        let notification = notification.bind_to_caller();
        let n = Arc::new(notification);
        self.call.subscribe(move |ev| {
            let fire = match (what, ev) {
                (Subscription::ClientDisconnect, CallEvent::ClientDisconnect) => {
                    Some(RpcAsyncEvent::ClientDisconnect)
                }
                (Subscription::CallCancel, CallEvent::Cancel) => {
                    Some(RpcAsyncEvent::ServerCallCancel)
                }
                _ => None,
            };
            if let Some(e) = fire
                && let Err(err) = n.fire(e, token)
            {
                tracing::debug!(error = %err, "subscription notification not delivered");
            }
        });
    }

    /// A plain callback for cancel and disconnect events.
    pub fn on_event(&self, f: impl Fn(CallEvent) + Send + Sync + 'static) {
        self.call.subscribe(f);
    }
}
