//! The Windows SDK "AsyncRPC" sample interface, the example of the page "Making the asynchronous call".
//!
//! ```idl
//! [uuid(7f6c4340-eb67-11d1-b9d7-00c04fad9a3b), version(1.0), pointer_default(unique)]
//! interface AsyncRPC {
//!     void NonAsyncFunc([in] handle_t hBinding, [in, string] unsigned char *pszMessage);
//!     void AsyncFunc([in] handle_t hBinding, [in] unsigned long nAsychDelay);   // [async] in the ACF
//!     void Shutdown([in] handle_t hBinding);
//! }
//! ```
//!
//! The stubs here are written by hand; the IDL compiler's output for `idl/AsyncRPC.idl` replaces them.

use std::sync::Arc;
use std::time::Duration;

use msrpc_ndr::{Decoder, Encoder, NdrString};

use crate::client::Binding;
use crate::error::Result;
use crate::notify::AsyncState;
use crate::server::{AsyncCall, IncomingCall, Interface};
use msrpc_proto::{FaultStatus, SyntaxId, Win32Status};

/// The interface id: `7f6c4340-eb67-11d1-b9d7-00c04fad9a3b` v1.0.
pub const ASYNC_RPC: SyntaxId =
    SyntaxId::new(uuid::uuid!("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b"), 1, 0);

/// `DEFAULT_ASYNC_DELAY`: the sample's default delay, in milliseconds.
pub const DEFAULT_ASYNC_DELAY: u32 = 10_000;
/// The sample's default endpoint.
pub const DEFAULT_ENDPOINT: &str = "8765";

/// Opnum of `NonAsyncFunc`.
pub const OP_NON_ASYNC_FUNC: u16 = 0;
/// Opnum of `AsyncFunc`.
pub const OP_ASYNC_FUNC: u16 = 1;
/// Opnum of `Shutdown`.
pub const OP_SHUTDOWN: u16 = 2;

/// What the sample server does with its calls.
pub trait AsyncRpcHandler: Send + Sync + 'static {
    /// `NonAsyncFunc`: a message from the client.
    fn non_async_func(&self, message: &[u8]);
    /// `Shutdown`: return `Ok` to stop the server, or a status to fault the call with.
    fn shutdown(&self) -> std::result::Result<(), Win32Status>;

    /// `AsyncFunc`, an `[async]` manager: it may return at once and finish `call` later, from any
    /// thread. The default completes after `delay_ms`, or aborts at once with
    /// `RPC_S_CALL_CANCELLED` (1818) when the client cancels or goes away.
    fn async_func(&self, call: AsyncCall<()>, delay_ms: u32) {
        complete_after_delay(call, delay_ms);
    }
}

/// The sample's `AsyncFunc` behaviour: complete after `delay_ms`, or abort with
/// `RPC_S_CALL_CANCELLED` as soon as the client cancels the call or disconnects.
pub fn complete_after_delay(call: AsyncCall<()>, delay_ms: u32) {
    let cancelled = Arc::new(tokio::sync::Notify::new());
    {
        let cancelled = cancelled.clone();
        call.on_event(move |_| cancelled.notify_one());
    }
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(u64::from(delay_ms))) => call.complete(()),
            _ = cancelled.notified() => call.abort(Win32Status::RPC_S_CALL_CANCELLED),
        }
    });
}

/// The sample server: `AsyncFunc` is an asynchronous manager that completes after `nAsychDelay`
/// milliseconds, or at once with `RPC_S_CALL_CANCELLED` when the client cancels the call.
#[derive(Debug)]
pub struct AsyncRpcServer<H> {
    handler: Arc<H>,
}

impl<H: AsyncRpcHandler> AsyncRpcServer<H> {
    /// A sample server with its handler.
    pub fn new(handler: H) -> Self {
        AsyncRpcServer {
            handler: Arc::new(handler),
        }
    }
}

impl<H: AsyncRpcHandler> Interface for AsyncRpcServer<H> {
    fn syntax(&self) -> SyntaxId {
        ASYNC_RPC
    }

    fn name(&self) -> &str {
        "AsyncRPC"
    }

    fn operation_count(&self) -> u16 {
        3
    }

    fn dispatch(&self, call: IncomingCall) {
        let info = call.info();
        let mut d = Decoder::new(call.stub(), info.syntax, info.drep);
        match info.opnum {
            OP_NON_ASYNC_FUNC => {
                let msg = d
                    .decode_param::<NdrString>()
                    .and_then(|m| d.finish().map(|()| m));
                match msg {
                    Ok(msg) => {
                        self.handler.non_async_func(msg.as_bytes());
                        call.reply(Vec::new());
                    }
                    Err(_) => call.fault(FaultStatus::NCA_S_FAULT_NDR),
                }
            }
            OP_ASYNC_FUNC => {
                let delay = d.read_u32().and_then(|v| d.finish().map(|()| v));
                let Ok(delay) = delay else {
                    call.fault(FaultStatus::NCA_S_FAULT_NDR);
                    return;
                };
                let call = AsyncCall::new(call, |(), _| Ok(()));
                self.handler.async_func(call, delay);
            }
            OP_SHUTDOWN => match d
                .finish()
                .map_err(|_| ())
                .and_then(|()| self.handler.shutdown().map_err(|_| ()))
            {
                Ok(()) => call.reply(Vec::new()),
                Err(()) => call.fault(Win32Status::ERROR_ACCESS_DENIED),
            },
            _ => call.fault(FaultStatus::NCA_S_OP_RNG_ERROR),
        }
    }
}

/// Client stub: `NonAsyncFunc`.
pub async fn non_async_func(binding: &Binding, message: &str) -> Result<()> {
    let msg = NdrString::from(message);
    let reply = binding
        .call(ASYNC_RPC, OP_NON_ASYNC_FUNC, |syntax| {
            let mut e = Encoder::new(syntax, msrpc_ndr::DataRep::LITTLE_ENDIAN);
            e.encode_param(&msg)?;
            Ok(e.into_bytes())
        })
        .await?;
    Decoder::new(&reply.stub, reply.syntax, reply.drep).finish()?;
    Ok(())
}

/// Client stub: `AsyncFunc`, awaited (the `Future` form of the asynchronous call).
pub async fn async_func(binding: &Binding, delay_ms: u32) -> Result<()> {
    let reply = binding
        .call(ASYNC_RPC, OP_ASYNC_FUNC, |syntax| {
            let mut e = Encoder::new(syntax, msrpc_ndr::DataRep::LITTLE_ENDIAN);
            e.write_u32(delay_ms);
            Ok(e.into_bytes())
        })
        .await?;
    Decoder::new(&reply.stub, reply.syntax, reply.drep).finish()?;
    Ok(())
}

/// Client stub: `Shutdown`.
pub async fn shutdown(binding: &Binding) -> Result<()> {
    let reply = binding
        .call(ASYNC_RPC, OP_SHUTDOWN, |_| Ok(Vec::new()))
        .await?;
    Decoder::new(&reply.stub, reply.syntax, reply.drep).finish()?;
    Ok(())
}

/// Client stub, the page's asynchronous form: `AsyncFunc(&Async, hBinding, nAsychDelay)`. Returns as
/// soon as the request is on its way; completion comes through `state`'s notification, and
/// [`AsyncState::complete`] then returns `Ok(())`, 1818 if cancelled, or the fault's status.
///
/// Blocks the calling thread until the request is queued: call it from an ordinary thread.
pub fn async_func_start(state: &AsyncState<()>, binding: &Binding, delay_ms: u32) -> Result<()> {
    binding.call_async(
        state,
        ASYNC_RPC,
        OP_ASYNC_FUNC,
        move |syntax| {
            let mut e = Encoder::new(syntax, msrpc_ndr::DataRep::LITTLE_ENDIAN);
            e.write_u32(delay_ms);
            Ok(e.into_bytes())
        },
        |reply| Ok(Decoder::new(&reply.stub, reply.syntax, reply.drep).finish()?),
    )
}

/// Client stub: `NonAsyncFunc`, blocking (the page's synchronous call).
pub fn non_async_func_blocking(binding: &Binding, message: &str) -> Result<()> {
    let msg = NdrString::from(message);
    let reply = binding.call_blocking(ASYNC_RPC, OP_NON_ASYNC_FUNC, move |syntax| {
        let mut e = Encoder::new(syntax, msrpc_ndr::DataRep::LITTLE_ENDIAN);
        e.encode_param(&msg)?;
        Ok(e.into_bytes())
    })?;
    Decoder::new(&reply.stub, reply.syntax, reply.drep).finish()?;
    Ok(())
}
