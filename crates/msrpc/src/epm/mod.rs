//! The endpoint mapper (epm, `e1af8308-5d1f-11c9-91a4-08002b14a0fa` v3.0): the endpoint database, the
//! epm server, and the client-side resolution of bindings without an endpoint.
//!
//! - [`EndpointDb`]: the endpoint map, with the `ept_lookup` / `ept_map` matching rules.
//! - [`EndpointMapper`]: the epm interface over a database; a server serves it with
//!   `ServerBuilder::endpoint_mapper` and registers its own interfaces there.
//! - [`map_tcp`], [`lookup_all`], [`insert`], [`delete`]: calls to an endpoint mapper (ours, Samba's,
//!   Windows'). A [`Binding`](crate::Binding) without an endpoint (`ncacn_ip_tcp:host`) is resolved
//!   with `ept_map` on `host[135]` before it connects.

mod client;
mod db;
mod register;
mod server;

#[cfg(feature = "ncacn-np")]
pub(crate) use client::resolve_np;
pub use client::{EPM_PORT, delete, insert, lookup_all, map, map_tcp};
pub(crate) use client::{resolve_lrpc, resolve_tcp};
pub use db::{
    EPT_S_CANT_PERFORM_OP, EPT_S_INVALID_ENTRY, EPT_S_NOT_REGISTERED, EndpointDb, Entry, EptError,
    Inquiry, LookupPage, MAX_ANNOTATION, MAX_ENTRIES, VersionOption,
};
pub(crate) use register::Registration;
pub use server::{EPM, EndpointMapper, EndpointMapperService, MAX_HANDLES, MAX_PAGE};
