//! The client-call layer: the only part of the generator that assumes a shape for the runtime's
//! client API. It is off by default (`Builder::client`) and kept small so the runtime engineer
//! can change it without touching the rest of the generator.
//!
//! Emitted shape, inside each interface module:
//!
//! ```text
//! pub struct Client<C>(pub C);
//! impl<C: <rt>::ClientCall> Client<C> {
//!     pub async fn op(&self, req: OpRequest) -> Result<OpResponse, C::Error>;
//! }
//! ```
//!
//! where the runtime provides
//!
//! ```text
//! pub trait ClientCall {
//!     type Error: From<ndr::Error>;
//!     /// The negotiated transfer syntax and data representation.
//!     fn transfer(&self) -> (ndr::Syntax, ndr::DataRep);
//!     /// Sends one request stub and returns the response stub.
//!     fn call(&self, interface: &'static InterfaceDescriptor, opnum: u16, stub: Vec<u8>)
//!         -> impl Future<Output = Result<Vec<u8>, Self::Error>> + Send;
//! }
//! ```

use std::fmt::Write as _;

use super::{Gen, snake, upper_camel};
use crate::model::Interface;

pub(super) fn client_layer(g: &Gen<'_>, itf: &Interface, out: &mut String) {
    let rt = &g.rt;
    let _ = writeln!(
        out,
        "/// Typed client calls over a runtime binding.\n pub struct Client<C>(pub C);\n\
         impl<C: {rt}::ClientCall> Client<C> {{"
    );
    for op in &itf.ops {
        let s = upper_camel(&op.name);
        let _ = writeln!(
            out,
            "/// Calls `{}` (opnum {}).\n pub async fn {}(&self, req: {s}Request) -> ::core::result::Result<{s}Response, C::Error> {{ \
             let (syntax, rep) = self.0.transfer(); \
             let stub = req.encode(syntax, rep)?; \
             let reply = self.0.call(&INTERFACE, {s}Request::OPNUM, stub).await?; \
             Ok({s}Response::decode(&reply, syntax, rep)?) }}",
            op.name,
            op.opnum,
            snake(&op.name)
        );
    }
    out.push_str("}\n");
}
