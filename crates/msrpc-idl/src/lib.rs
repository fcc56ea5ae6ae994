//! msrpc-idl
