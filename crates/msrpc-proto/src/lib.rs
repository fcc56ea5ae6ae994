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
//! - [`auth`]: the seam for a later security provider.
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
//! `FaultStatus::NCA_S_OP_RNG_ERROR`, `did_not_execute = true`), decode the stub with the call's
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
//! - Fragment size: each side sends fragments of at most the smaller of its own configured
//!   `max_xmit_frag` and the peer's `max_recv_frag`, the latter raised to 1432 (C706
//!   `MustRecvFragSize`). The fragments of one call go out contiguously; other PDUs wait for the
//!   call's last fragment, except an `orphaned` PDU, which ends it.
//! - Reassembly: `alloc_hint` is only a hint (reservation capped at 64 KiB). A server reassembles
//!   one call at a time: request fragments of another call before the last fragment of the current
//!   one close the connection (the fragments of a call are contiguous); a stray non-first fragment
//!   of a call less than 150 ids old is ignored (MS-RPCE 3.3.3.5.6). A request over
//!   `max_request_size` (4 MiB) is faulted with status 5 (MS-RPCE 3.3.3.5.4). A client accepts
//!   interleaved response fragments of different calls, each bounded by `max_response_size`.
//! - Transfer syntaxes: the client offers one context per (interface, transfer syntax) pair, as
//!   Windows does, plus one bind-time feature negotiation context (MS-RPCE 3.3.1.5.3). A server
//!   accepts, per interface and PDU, only the context whose syntax its
//!   [`negotiate::TransferSyntaxPolicy`] prefers (NDR20 by default) and rejects the others with
//!   provider reason 2; an interface it does not serve gets reason 1 (version rule: same major,
//!   server minor ≥ client minor).
//! - Feature negotiation: the server answers `negotiate_ack` (3) with the accepted bits in the
//!   reason field. A client that gets anything else (impacket's server answers user rejection)
//!   records no features, so orphaning a call mid-request closes the connection
//!   (MS-RPCE 3.3.1.5.10).
//!   samba-dcerpcd 4.17 answers 0x3 but does not drop an orphaned call's partial request (the
//!   next call is faulted `nca_s_proto_error`): set [`ClientConfig::keep_connection_on_orphan`]
//!   to false for such servers.
//! - Cancel: the client never sets `PFC_PENDING_CANCEL` on requests (samba-dcerpcd faults such a
//!   request with 0x6bd and drops the connection); a cancel before the request went out is a
//!   co_cancel right after its last fragment. The server still honours the flag from peers.
//! - `PFC_CONC_MPX` is set by the client and echoed by the server, but not enforced: Samba and
//!   impacket set neither yet answer pipelined calls.
//! - Errors: a fault for an unknown context id is `nca_s_unk_if` with `did_not_execute`; a bind
//!   with a wrong version is answered with bind_nak reason 4; a bind carrying a security trailer
//!   (no provider yet) with bind_nak reason 8 (an alter_context with `nca_s_proto_error`: it has
//!   no nak); any other violation closes the connection, after a
//!   `nca_s_proto_error` fault when the call is known. Fault statuses servers must not send
//!   (MS-RPCE 3.3.3.5.1) are refused by `fault()` and reported as protocol errors by the client.
//! - Security trailers parse with any `auth_pad_length` (impacket pads to 4, Samba to 16) and are
//!   emitted 16-byte aligned from the stub start ([`auth::protect_fragment`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod client;
pub mod error;
pub mod frag;
pub mod negotiate;
pub mod server;
pub mod status;
pub mod vt;
pub mod wire;

pub use client::{BindOutcome, ClientConfig, ClientConnection, ClientEvent};
pub use error::{ConnectionError, Error, Initiator};
pub use negotiate::{BindTimeFeatures, InterfaceRegistry, PresentationContext, StaticRegistry};
pub use server::{IncomingCall, ServerConfig, ServerConnection, ServerEvent};
pub use status::{FaultStatus, Win32Status};
pub use wire::{Pdu, SyntaxId};
