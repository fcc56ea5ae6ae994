//! msrpc runtime

pub mod binding;
pub mod notify;
