//! msrpc runtime
