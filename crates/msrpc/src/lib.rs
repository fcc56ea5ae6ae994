//! msrpc: Microsoft RPC (MS-RPCE) on tokio, in the asynchronous-call model of the Windows RPC runtime.
//!
//! - [`binding`]: string bindings as Windows writes them.
//! - [`client`]: binding handles and calls, blocking or `async`.
//! - [`server`]: interfaces, listeners, limits, graceful shutdown; the built-in mgmt interface.
//! - [`notify`]: `AsyncState` (`RPC_ASYNC_STATE`) and the notification primitives: events, APC
//!   queues, I/O completion ports, window message queues, callbacks.
//! - [`transport`]: `ncacn_ip_tcp` and `ncalrpc` (Unix domain sockets).

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
pub mod sample;
pub mod server;
pub mod transport;

pub use auth::{
    AuthInfo, AuthnLevel, AuthnService, ClientIdentity, Credentials, KerberosService,
    KerberosTarget, UserStore,
};
pub use client::{Binding, BindingOptions, Reply};
pub use codegen::{ClientContext, Stub};
pub use error::{Error, Initiator, Result};
pub use msrpc_ndr::{DataRep, Syntax};
pub use msrpc_proto::{FaultStatus, SyntaxId, Win32Status};
pub use server::{IncomingCall, Interface, Server, ServerConfig};
