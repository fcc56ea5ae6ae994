//! The server adapter: turns a user's implementation of the generated `Server` trait into the
//! runtime's `Interface`. Like the client layer, this is the only part of the server side that
//! assumes a shape for the runtime; the runtime module provides:
//!
//! ```text
//! trait Interface { fn syntax(&self) -> ndr::SyntaxId; fn name(&self) -> &str;
//!                   fn operation_count(&self) -> u16; fn dispatch(&self, call: IncomingCall) -> Dispatch; }
//! IncomingCall::info().opnum
//! // what the generated `Server::accept` returns, and what answers a call it refused:
//! enum RunOn { Pool, ConnectionTask }
//! fn refuse(call, status: Win32Status) -> Dispatch;
//! InterfaceDescriptor::syntax_id(&self) -> ndr::SyntaxId
//! AsyncCall<R>                         // what an [async] manager finishes later
//! fn serve_async<Req: ndr::Stub, Resp: ndr::Stub>(call, manager: impl FnOnce(AsyncCall<Resp>, Req));
//! // each arm of the generated `dispatch` (`dispatch_op_future(..).await` with async_server):
//! fn dispatch_op<Req: ndr::Stub, Resp: ndr::Stub>((stub, syntax, rep, limits),
//!     manager: impl FnOnce(Req) -> Result<Resp, Win32Status>) -> Result<Vec<u8>, DispatchError>;
//! // `limits` below are the ndr::DecodeLimits the runtime decodes this call's request under:
//! // `run` is what `Server::accept` returned (`ConnectionTask`: call `f` there and answer at once):
//! fn serve_blocking(call, run: RunOn, f: impl FnOnce(opnum, stub, syntax, rep, limits)
//!                   -> Result<Vec<u8>, DispatchError> + Send + 'static);
//! // interfaces with context-handle operations (their managers get the call):
//! fn serve_blocking_call(call, run: RunOn, f: impl FnOnce(&IncomingCall, opnum, stub, syntax, rep, limits)
//!                        -> Result<Vec<u8>, DispatchError> + Send + 'static);
//! // with Builder::async_server(true), and with context-handle operations (the future borrows
//! // the call, which the runtime keeps until it is done):
//! fn serve_future_call(call, f: impl for<'c> FnOnce(&'c IncomingCall, opnum, &'c [u8], syntax,
//!                      rep, limits) -> Pin<Box<dyn Future<Output = Result<Vec<u8>,
//!                      DispatchError>> + Send + 'c>> + Send + 'static);
//! // with Builder::async_server(true):
//! fn serve_future(call, f: impl FnOnce(opnum, stub: Vec<u8>, syntax, rep, limits)
//!                 -> impl Future<Output = Result<Vec<u8>, DispatchError>> + Send + 'static);
//! ```

use std::fmt::Write as _;

use super::Options;
use super::{Gen, snake, upper_camel};
use crate::model::Interface;

pub(super) fn service(
    g: &Gen<'_>,
    itf: &Interface,
    opts: &Options,
    with_call: bool,
    out: &mut String,
) {
    let rt = &g.rt;
    let n = &g.ndr;
    let count = itf.ops.iter().map(|o| o.opnum + 1).max().unwrap_or(0);
    // `[strict_context_handle]`: the runtime refuses other interfaces' handles to its managers.
    let strict = if itf.strict_context {
        "fn strict_context_handles(&self) -> bool { true }\n"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "/// Serves a [`Server`] implementation as a runtime interface (register it with the server).\n\
         /// {}\n\
         /// `[async]` ones run at once on the connection's task with an `AsyncCall` and must not block.\n\
         pub struct Service<S: ?Sized>(pub ::std::sync::Arc<S>);\n\
         impl<S: Server> Service<S> {{ /// Wraps a manager.\n pub fn new(server: S) -> Self {{ Service(::std::sync::Arc::new(server)) }} }}\n\
         impl<S: ?Sized> ::core::fmt::Debug for Service<S> {{ fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {{ f.write_str({:?}) }} }}\n\
         impl<S: Server + Send + Sync + 'static + ?Sized> {rt}::Interface for Service<S> {{\n\
         fn syntax(&self) -> {n}::SyntaxId {{ INTERFACE.syntax_id() }}\n\
         fn name(&self) -> &str {{ INTERFACE.name }}\n\
         fn operation_count(&self) -> u16 {{ {count} }}\n\
         {strict}\
         fn dispatch(&self, mut call: {rt}::IncomingCall) -> {rt}::Dispatch {{ \
         let run = match self.0.{}(&mut call) {{ Ok(run) => run, Err(status) => return {rt}::refuse(call, status) }}; \
         match call.info().opnum {{",
        if opts.async_server {
            "Synchronous manager routines are `async fn`s run on a task of their own;"
        } else {
            "Synchronous manager routines run where `Server::accept` says (by default the blocking pool);"
        },
        format!("Service({})", itf.name),
        super::accept_hook(itf)
    );
    for op in itf.ops.iter().filter(|op| op.is_async) {
        let s = upper_camel(&op.name);
        let _ = write!(
            out,
            "{} => {rt}::serve_async::<{s}Request, {s}Response>(call, |call, req| self.0.{}(call, req)),",
            op.opnum,
            snake(&op.name)
        );
    }
    if opts.async_server && with_call {
        let _ = writeln!(
            out,
            "_ => {{ let server = ::std::sync::Arc::clone(&self.0); \
             let _ = run; {rt}::serve_future_call(call, move |call, opnum, stub, syntax, rep, limits| ::std::boxed::Box::pin(async move {{ dispatch(&*server, call, opnum, stub, syntax, rep, limits).await }})) }} }} }} }}"
        );
    } else if opts.async_server {
        let _ = writeln!(
            out,
            "_ => {{ let server = ::std::sync::Arc::clone(&self.0); \
             let _ = run; {rt}::serve_future(call, move |opnum, stub, syntax, rep, limits| async move {{ dispatch(&*server, opnum, &stub, syntax, rep, limits).await }}) }} }} }} }}"
        );
    } else if with_call {
        let _ = writeln!(
            out,
            "_ => {{ let server = ::std::sync::Arc::clone(&self.0); \
             {rt}::serve_blocking_call(call, run, move |call, opnum, stub, syntax, rep, limits| dispatch(&*server, call, opnum, stub, syntax, rep, limits)) }} }} }} }}"
        );
    } else {
        let _ = writeln!(
            out,
            "_ => {{ let server = ::std::sync::Arc::clone(&self.0); \
             {rt}::serve_blocking(call, run, move |opnum, stub, syntax, rep, limits| dispatch(&*server, opnum, stub, syntax, rep, limits)) }} }} }} }}"
        );
    }
}
