//! Sans-IO core of the MS-RPCE connection-oriented protocol (DCE/RPC over TCP and named pipes:
//! `ncacn_*`).
//!
//! No I/O, no clocks, no async: the runtime (crate `msrpc`, on tokio) moves bytes and calls in;
//! this crate decides what goes on the wire and what happened. The layers:
//!
//! - [`wire`]: every connection-oriented PDU as a checked parse/emit struct, open code-space
//!   newtypes ([`wire::PacketType`], [`wire::PfcFlags`], [`wire::RejectReason`], …), both
//!   integer representations, the security trailer framing ([`wire::AuthVerifier`]).
//! - [`vt`]: the verification trailer.
//! - [`frag`]: stream framing, lazy fragmentation and bounded reassembly.
//! - [`negotiate`]: presentation contexts, transfer syntaxes and bind-time features.
//! - [`server::ServerConnection`] and [`client::ClientConnection`]: the association and call
//!   state machines.
//! - [`auth`]: the security provider seam ([`auth::SecurityContext`], [`auth::Acceptor`]; the
//!   runtime implements NTLM, SPNEGO and Kerberos on it) and the per-fragment trailer framing.
//! - [`error`]: the crate's error type, the single error-to-wire mapping, and
//!   [`ConnectionError`] with its [`Initiator`].
//!
//! # Driving the machines
//!
//! Both machines follow quinn-proto: bytes read from the transport go into `handle_bytes(now,
//! bytes)` in any chunking; `poll_transmit()` returns the next PDU to write (fragments are made
//! lazily, so only call it when the transport can take more: that is the backpressure);
//! `poll_event()` says what happened. After a `Closed` event, write what `poll_transmit` still
//! returns and close the transport. Call `handle_transport_closed()` on end of stream.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use bytes::Bytes;
//! use msrpc_proto::{
//!     ClientConfig, ClientConnection, ClientEvent, ServerConfig, ServerConnection, ServerEvent,
//!     StaticRegistry, SyntaxId,
//! };
//!
//! let epm = SyntaxId::new(uuid::uuid!("e1af8308-5d1f-11c9-91a4-08002b14a0fa"), 3, 0);
//! let registry = Arc::new(StaticRegistry::new(vec![(epm, vec![SyntaxId::NDR20])]));
//! let mut config = ServerConfig::default(); // the config structs are non-exhaustive
//! config.sec_addr = "135".into();
//! let mut server = ServerConnection::new(config, registry);
//! let mut client = ClientConnection::new(ClientConfig::default());
//! let now = Instant::now();
//!
//! // Move every pending PDU from one side to the other.
//! fn pump(c: &mut ClientConnection, s: &mut ServerConnection, now: Instant) {
//!     loop {
//!         let mut moved = false;
//!         while let Some(pdu) = c.poll_transmit() { s.handle_bytes(now, &pdu); moved = true; }
//!         while let Some(pdu) = s.poll_transmit() { c.handle_bytes(now, &pdu); moved = true; }
//!         if !moved { break; }
//!     }
//! }
//!
//! client.bind(&[epm]).unwrap();
//! pump(&mut client, &mut server, now);
//! let Some(ClientEvent::Bound(outcome)) = client.poll_event() else { panic!() };
//! assert_eq!(outcome.sec_addr, "135");
//! let ctx = client.context_for(&epm).unwrap();
//! assert!(matches!(server.poll_event(), Some(ServerEvent::Bound { .. })));
//!
//! // A call: the client sends the request, the runtime dispatches it on the server.
//! let call_id = client.start_call(ctx.context_id, 2, None, Bytes::from_static(b"in")).unwrap();
//! pump(&mut client, &mut server, now);
//! let Some(ServerEvent::Call(call)) = server.poll_event() else { panic!() };
//! assert_eq!((call.opnum, &call.stub[..]), (2, &b"in"[..]));
//! server.respond(call.call_id, Bytes::from_static(b"out")).unwrap();
//! pump(&mut client, &mut server, now);
//! match client.poll_event() {
//!     Some(ClientEvent::Response { call_id: id, stub, .. }) => {
//!         assert_eq!(id, call_id);
//!         assert_eq!(&stub[..], b"out");
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```
//!
//! # Failures
//!
//! Call-level failures (a fault, an unknown presentation context) end one call and leave the
//! association up. Association-level failures end the connection with
//! [`ConnectionError`], which records who caused it ([`Initiator`]). The server decides unknown
//! contexts and protocol violations itself ([`Error::reaction`] is the one mapping to fault,
//! bind_nak or close); unknown opnums are the runtime's to fault with `nca_s_op_rng_error`.
//!
//! # Guide for the runtime
//!
//! **Server.** One [`ServerConnection`] per accepted transport connection, sharing one
//! `Arc<dyn InterfaceRegistry>` (it answers which interfaces and transfer syntaxes are served and
//! allocates association groups; [`StaticRegistry`] is a ready one). Per connection set
//! [`ServerConfig::sec_addr`] to the listener's endpoint (`"49664"`, `"\\PIPE\\epmapper"`).
//! For each [`ServerEvent::Call`]: look up the opnum (fault unknown ones with
//! `FaultStatus::NCA_S_OP_RNG_ERROR` and [`Execution::DidNotExecute`]), decode the stub with the call's
//! `transfer_syntax` and `drep`, and answer with [`ServerConnection::respond`] (stub encoded
//! little-endian: responses always go out with drep `10 00 00 00`) or
//! [`ServerConnection::fault`]. [`ServerEvent::Cancel`] feeds the call's `test_cancel`;
//! [`ServerEvent::Orphaned`] means the answer will be dropped. Answers to calls that no longer
//! exist return [`Error::NoSuchCall`]: ignore it. Backpressure: stop reading the socket while
//! [`ServerConnection::transmit_backlog`] or [`ServerConnection::active_calls`] is above your
//! limits; [`ServerConnection::buffered_bytes`] reports input memory.
//!
//! **Client.** [`ClientConnection::bind`] once, wait for [`ClientEvent::Bound`], pick contexts with
//! [`ClientConnection::context_for`], then [`ClientConnection::start_call`] as often as needed
//! (calls are pipelined; completion order is the server's). Each call ends with exactly one of
//! [`ClientEvent::Response`], [`ClientEvent::Fault`], or its id in [`ClientEvent::Closed`]`.calls`
//! — except calls the runtime orphaned, which end when [`ClientConnection::orphan`] returns.
//! Non-abortive cancel is [`ClientConnection::cancel`]; abortive is `orphan` (see its docs for
//! what goes on the wire). After [`ClientEvent::Shutdown`] start no new calls on the connection.
//! Pool the association: a new connection joins it with [`ClientConfig::assoc_group`].
//!
//! **Time.** `now` is recorded (`last_activity()`) for idle timeouts; the protocol itself has no
//! timers, so there is no `poll_timeout`. Call timeouts (`RPC_C_OPT_CALL_TIMEOUT`) are the
//! runtime's: when one fires, call `orphan`.
//!
//! # Decisions
//!
//! Where the specifications leave room or real peers differ from them (fragment sizes, reassembly,
//! transfer syntaxes, feature negotiation, cancel, error mapping, trailer padding), the choices and
//! their reasons are recorded in the repository's `docs/protocol.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod client;
pub mod error;
pub mod frag;
pub mod idmap;
mod input;
pub mod negotiate;
pub mod server;
pub mod status;
mod transmit;
pub mod vt;
pub mod wire;

pub use client::{BindOutcome, ClientConfig, ClientConnection, ClientEvent};
pub use error::{ConnectionError, Error, Initiator};
pub use frag::Stub;
pub use idmap::IdMap;
pub use negotiate::{BindTimeFeatures, InterfaceRegistry, PresentationContext, StaticRegistry};
pub use server::{IncomingCall, ServerConfig, ServerConnection, ServerEvent};
pub use status::{FaultStatus, Win32Status};
pub use wire::{Execution, Pdu, SyntaxId};
