//! Sans-IO core of the MS-RPCE connection-oriented protocol.
#![forbid(unsafe_code)]

pub mod status;

pub use status::{FaultStatus, Win32Status};
