//! The client-call layer: the only part of the generator that assumes a shape for the runtime's
//! client API (`Builder::client`, on by default).
//!
//! Emitted shape, inside each interface module:
//!
//! ```text
//! pub struct Client<C>(pub C);
//! impl<C: <rt>::ClientCall> Client<C> {
//!     pub async fn op(&self, req: OpRequest) -> Result<OpResponse, C::Error>;
//!     pub fn op_blocking(&self, req: OpRequest) -> Result<OpResponse, C::Error>;
//!     // [async] operations only: the AsyncState form
//!     pub fn op_start(&self, state: &<rt>::AsyncState<OpResponse>, req: OpRequest)
//!         -> Result<(), C::Error>;
//! }
//! ```
//!
//! where the runtime provides (the transfer syntax is known only once the interface is bound,
//! so the request is encoded by a closure the runtime calls):
//!
//! ```text
//! pub struct Reply { pub stub: Vec<u8>, pub syntax: ndr::Syntax, pub drep: ndr::DataRep }
//! pub trait ClientCall {
//!     type Error: From<ndr::Error>;
//!     fn call<E>(&self, interface: &'static InterfaceDescriptor, opnum: u16, encode: E)
//!         -> impl Future<Output = Result<Reply, Self::Error>> + Send
//!         where E: FnOnce(ndr::Syntax, ndr::DataRep) -> ndr::Result<Vec<u8>> + Send + 'static;
//!     fn call_blocking<E>(&self, interface, opnum, encode: E) -> Result<Reply, Self::Error>;
//!     fn call_async<R, E, D>(&self, state: &AsyncState<R>, interface, opnum, encode: E,
//!         decode: D) -> Result<(), Self::Error>
//!         where D: FnOnce(Reply) -> ndr::Result<R> + Send + 'static;
//! }
//! ```

use std::fmt::Write as _;

use super::{Gen, snake, upper_camel};
use crate::model::Interface;

pub(super) fn client_layer(g: &Gen<'_>, itf: &Interface, out: &mut String) {
    let rt = &g.rt;
    let _ = writeln!(
        out,
        "/// Typed client calls over a binding handle (for msrpc: `Binding` or `&Binding`).\n\
         #[derive(Debug, Clone)] pub struct Client<C>(pub C);\n\
         impl<C: {rt}::ClientCall> Client<C> {{"
    );
    for op in &itf.ops {
        let s = upper_camel(&op.name);
        let m = snake(&op.name);
        let f = m.trim_start_matches("r#");
        let opnum = op.opnum;
        let name = &op.name;
        let _ = writeln!(
            out,
            "/// Calls `{name}` (opnum {opnum}) and awaits the reply. Dropping the future cancels the call.\n\
             pub async fn {m}(&self, req: {s}Request) -> ::core::result::Result<{s}Response, C::Error> {{ \
             let reply = self.0.call(&INTERFACE, {opnum}, move |syntax, rep| req.encode(syntax, rep)).await?; \
             Ok({s}Response::decode(&reply.stub, reply.syntax, reply.drep)?) }}\n\
             /// Calls `{name}` (opnum {opnum}) from synchronous code: blocks the thread until the reply.\n\
             pub fn {f}_blocking(&self, req: {s}Request) -> ::core::result::Result<{s}Response, C::Error> {{ \
             let reply = self.0.call_blocking(&INTERFACE, {opnum}, move |syntax, rep| req.encode(syntax, rep))?; \
             Ok({s}Response::decode(&reply.stub, reply.syntax, reply.drep)?) }}"
        );
        if op.is_async {
            let _ = writeln!(
                out,
                "/// Starts `{name}` (opnum {opnum}, `[async]`) on `state` and returns once the request is on its way;\n\
                 /// the reply comes through `state`'s notification and `state.complete()`.\n\
                 pub fn {f}_start(&self, state: &{rt}::AsyncState<{s}Response>, req: {s}Request) -> ::core::result::Result<(), C::Error> {{ \
                 self.0.call_async(state, &INTERFACE, {opnum}, move |syntax, rep| req.encode(syntax, rep), \
                 |reply| {s}Response::decode(&reply.stub, reply.syntax, reply.drep)) }}"
            );
        }
    }
    out.push_str("}\n");
}
