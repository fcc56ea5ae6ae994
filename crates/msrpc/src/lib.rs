//! msrpc: Microsoft RPC (MS-RPCE) on tokio, in the asynchronous-call model of the Windows RPC runtime.
//!
//! - [`binding`]: string bindings as Windows writes them.
//! - [`client`]: binding handles and calls, blocking or `async`.
//! - [`server`]: interfaces, listeners, limits, graceful shutdown; the built-in mgmt interface.
//! - [`notify`]: `AsyncState` (`RPC_ASYNC_STATE`) and the notification primitives: events, APC
//!   queues, I/O completion ports, window message queues, callbacks.
//! - [`transport`]: `ncacn_ip_tcp` and `ncalrpc` (Unix domain sockets).
//! - `np` (cargo feature `ncacn-np`): `ncacn_np`, RPC over SMB2/3 named pipes, client side.

#![warn(missing_docs)]

pub mod auth;
pub mod binding;
pub mod client;
#[doc(hidden)]
pub mod codegen;
pub mod epm;
pub mod error;
#[doc(hidden)]
pub mod generated;
pub mod mgmt;
pub mod notify;
#[cfg(feature = "ncacn-np")]
pub mod np;
pub mod server;
mod trace;
pub mod transport;

pub use auth::{
    AuthInfo, AuthnLevel, AuthnService, ClientIdentity, ClientKey, Credentials, KerberosService,
    KerberosTarget, Keytab, SchannelKeys, SchannelSession, UserStore,
};
pub use client::{Binding, BindingOptions, Reply, SmbAuth, SmbKerberos, SmbOptions};
pub use codegen::{ClientContext, Stub};
pub use error::{Error, Initiator, Result};
pub use msrpc_ndr::{DataRep, DecodeLimits, Syntax};
pub use msrpc_proto::{Execution, FaultStatus, SyntaxId, Win32Status};
pub use notify::{AsyncState, CancelMode, Notification};
pub use server::{IncomingCall, Interface, Server, ServerConfig};
pub use uuid::Uuid;

/// The crate README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
