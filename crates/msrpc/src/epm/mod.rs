//! The endpoint mapper (epm, `e1af8308-5d1f-11c9-91a4-08002b14a0fa` v3.0): the endpoint database, the
//! epm server, and the client-side resolution of bindings without an endpoint.

mod db;

pub use db::{
    EPT_S_CANT_PERFORM_OP, EPT_S_INVALID_ENTRY, EPT_S_NOT_REGISTERED, EndpointDb, Entry, Inquiry,
    MAX_ANNOTATION, VersionOption,
};
