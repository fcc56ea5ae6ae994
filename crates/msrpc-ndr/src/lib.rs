//! msrpc-ndr
#![forbid(unsafe_code)]
