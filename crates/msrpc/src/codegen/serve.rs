//! Serving a generated interface: decoding a request, running its manager where the generated
//! `Server::accept` says, and answering with the reply or the fault.

use std::future::Future;

use msrpc_ndr::{DataRep, Syntax};

use super::*;

/// What a generated `dispatch` decodes a request from: the stub, its transfer syntax and data
/// representation, and the limits to decode it under.
pub type StubInput<'a> = (&'a [u8], Syntax, DataRep, DecodeLimits);

/// Decodes a request stub under `limits`, as every generated server stub does. Bytes after the
/// parameters are ignored, as Windows ignores them: it answers a request whose stub is followed
/// by zero bytes up to the whole 4 MiB a request may reassemble to, and one whose stub is sent
/// three times over in three fragments, from the first copy (Samba's raw conformance suite,
/// checked against Windows: `test_fragmented_requests01`..`03`, `test_2nd_cancel_requests`).
/// A stub too short for its parameters, or with bad values in them, is still an error
/// (faulted `nca_s_fault_ndr`).
pub fn decode_request<Req: Stub>(
    stub: &[u8],
    syntax: Syntax,
    rep: DataRep,
    limits: DecodeLimits,
) -> ndr::Result<Req> {
    let mut d = ndr::Decoder::with_limits(stub, syntax, rep, limits);
    let req = Req::decode_from(&mut d)?;
    if d.finish().is_err() {
        tracing::debug!(
            bytes = d.remaining(),
            "bytes after the request's parameters, ignored as Windows ignores them"
        );
    }
    Ok(req)
}

/// One synchronous operation of a generated `dispatch`: decodes the request stub under the
/// input's limits ([`decode_request`]: bytes after the parameters ignored), runs the manager
/// routine and encodes its response with [`encode_reply`].
pub fn dispatch_op<Req: Stub, Resp: Stub>(
    (stub, syntax, rep, limits): StubInput<'_>,
    manager: impl FnOnce(Req) -> Result<Resp, Win32Status>,
) -> Result<Vec<u8>, DispatchError> {
    let req = decode_request(stub, syntax, rep, limits).map_err(DispatchError::Decode)?;
    let resp = manager(req).map_err(DispatchError::Manager)?;
    encode_reply(&resp, syntax).map_err(DispatchError::Encode)
}

/// [`dispatch_op`] for an `async fn` manager (`Builder::async_server`).
pub async fn dispatch_op_future<Req: Stub, Resp: Stub, Fut>(
    (stub, syntax, rep, limits): StubInput<'_>,
    manager: impl FnOnce(Req) -> Fut,
) -> Result<Vec<u8>, DispatchError>
where
    Fut: Future<Output = Result<Resp, Win32Status>>,
{
    let req = decode_request(stub, syntax, rep, limits).map_err(DispatchError::Decode)?;
    let resp = manager(req).await.map_err(DispatchError::Manager)?;
    encode_reply(&resp, syntax).map_err(DispatchError::Encode)
}

/// The limits a call's request stub is decoded under: the server's
/// [`ServerConfig::decode_limits`](crate::server::ServerConfig::decode_limits).
pub fn call_limits(call: &IncomingCall) -> DecodeLimits {
    call.info().decode_limits
}

/// Decodes a reply stub under the limits of the binding it came over
/// ([`BindingOptions::decode_limits`](crate::BindingOptions::decode_limits)); what the generated
/// client methods call.
pub fn decode_reply<T: Stub>(reply: &Reply) -> ndr::Result<T> {
    T::decode_with_limits(&reply.stub, reply.syntax, reply.drep, reply.limits)
}

/// Runs a synchronous manager where `run` says (tokio's blocking pool, or the connection's task
/// for [`RunOn::ConnectionTask`]; `f` gets opnum, request stub, transfer syntax, the request's
/// data representation and the [`call_limits`] to decode it under) and answers the call with its
/// reply or fault. Called from `Interface::dispatch`, on the connection's task.
pub fn serve_blocking<F>(call: IncomingCall, run: RunOn, f: F) -> Dispatch
where
    F: FnOnce(u16, &[u8], Syntax, DataRep, DecodeLimits) -> Result<Vec<u8>, DispatchError>
        + Send
        + 'static,
{
    serve_blocking_call(call, run, move |_, opnum, stub, syntax, rep, limits| {
        f(opnum, stub, syntax, rep, limits)
    })
}

/// Runs an `async fn` manager (`Builder::async_server`) on a task of its own: `f` gets opnum, the
/// request stub, transfer syntax, the request's data representation and the [`call_limits`],
/// and its future's outcome answers the call. Called from `Interface::dispatch`, on the
/// connection's task. If the future panics the call is dropped, which faults it.
pub fn serve_future<F, Fut>(mut call: IncomingCall, f: F) -> Dispatch
where
    F: FnOnce(u16, Vec<u8>, Syntax, DataRep, DecodeLimits) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, DispatchError>> + Send + 'static,
{
    let info = call.info();
    let (opnum, syntax, drep) = (info.opnum, info.syntax, info.drep);
    let limits = call_limits(&call);
    let fut = f(opnum, call.take_stub(), syntax, drep, limits);
    tokio::spawn(async move {
        match fut.await {
            Ok(stub) => call.reply(stub),
            Err(e) => fault(call, e),
        }
    });
    Dispatch::Deferred
}

/// Like [`serve_blocking`], for interfaces whose manager routines take the call (context handles,
/// `handle_t`): `f` also gets the call, which the generated `dispatch` passes to those routines so
/// they can see who called and create, look up and close handles in the client's association group.
pub fn serve_blocking_call<F>(call: IncomingCall, run: RunOn, f: F) -> Dispatch
where
    F: FnOnce(
            &IncomingCall,
            u16,
            &[u8],
            Syntax,
            DataRep,
            DecodeLimits,
        ) -> Result<Vec<u8>, DispatchError>
        + Send
        + 'static,
{
    let serve = move |call: &IncomingCall| {
        let info = call.info();
        let (opnum, syntax, drep) = (info.opnum, info.syntax, info.drep);
        f(call, opnum, call.stub(), syntax, drep, call_limits(call))
    };
    match run {
        RunOn::ConnectionTask => match serve(&call) {
            Ok(stub) => call.answer(stub),
            Err(e) => answer_fault(call, e),
        },
        RunOn::Pool => {
            let mut call = call;
            call.detach_stub();
            tokio::task::spawn_blocking(move || match serve(&call) {
                Ok(stub) => call.reply(stub),
                Err(e) => fault(call, e),
            });
            Dispatch::Deferred
        }
    }
}

/// The future [`serve_future_call`] runs: it may borrow the call.
pub type CallFuture<'c> =
    std::pin::Pin<Box<dyn Future<Output = Result<Vec<u8>, DispatchError>> + Send + 'c>>;

/// Like [`serve_future`], for interfaces with context-handle operations: the task owns the call
/// and `f`'s future borrows it (the generated `dispatch` hands it to those managers).
pub fn serve_future_call<F>(mut call: IncomingCall, f: F) -> Dispatch
where
    F: for<'c> FnOnce(
            &'c IncomingCall,
            u16,
            &'c [u8],
            Syntax,
            DataRep,
            DecodeLimits,
        ) -> CallFuture<'c>
        + Send
        + 'static,
{
    call.detach_stub();
    tokio::spawn(async move {
        let info = call.info();
        let (opnum, syntax, drep) = (info.opnum, info.syntax, info.drep);
        let limits = call_limits(&call);
        let r = f(&call, opnum, call.stub(), syntax, drep, limits).await;
        match r {
            Ok(stub) => call.reply(stub),
            Err(e) => fault(call, e),
        }
    });
    Dispatch::Deferred
}

/// Decodes the request of an `[async]` operation (under [`call_limits`]) and hands the manager
/// an [`AsyncCall`], at once, on the connection's task (the manager must not block). A request
/// that does not decode is faulted with `nca_s_fault_ndr` and the manager is not entered.
pub fn serve_async<Req: Stub, Resp: Stub>(
    call: IncomingCall,
    manager: impl FnOnce(AsyncCall<Resp>, Req),
) -> Dispatch {
    let info = call.info();
    match decode_request(call.stub(), info.syntax, info.drep, call_limits(&call)) {
        Ok(req) => {
            manager(AsyncCall::new(call, Resp::encode_into), req);
            Dispatch::Deferred
        }
        Err(e) => answer_fault(call, DispatchError::Decode(e)),
    }
}
