//! The client side of one connection: bind / alter_context negotiation and concurrent calls,
//! sans-IO.
//!
//! This file holds the connection, its configuration and events, and its public API; `bind.rs`
//! sends the bind and handles its answers and the security exchange; `receive.rs` takes the PDUs
//! the server sends (responses, faults, shutdown), verifying protected ones.

use std::collections::VecDeque;
use std::fmt;

use bytes::Bytes;
use msrpc_ndr::{DataRep, Syntax};
use uuid::Uuid;

use crate::auth::{SecurityContext, level_protects};
use crate::error::{ConnectionError, Error, Initiator};
use crate::frag::{Frame, OutKind, Outgoing, Reassembler, Stub};
use crate::idmap::IdMap;
use crate::input::{Input, Receive, input_api};
use crate::negotiate::{BindTimeFeatures, PresentationContext, TransferSyntaxPolicy};
use crate::status::FaultStatus;
use crate::transmit::{Signers, Transmit, Unsendable};
use crate::vt::{VerificationTrailer, VtCommand, VtEntry};
use crate::wire::{
    BindAckResult, ContextElement, Drep, Execution, PacketType, Pdu, PduBody, PfcFlags,
    ProviderReason, RejectReason, SyntaxId,
};

mod bind;
mod receive;

/// Client limits and offers. `ClientConfig::default()` gives the defaults listed per field.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Largest fragment the client sends (bind `max_xmit_frag`). Default 5840. Requests are cut
    /// into fragments of at most the smaller of this and the server's `max_recv_frag` (raised to
    /// 1432, C706 `MustRecvFragSize`). Values below 1432 are for tests against ourselves.
    pub max_xmit_frag: u16,
    /// Largest fragment the client receives (bind `max_recv_frag`). Default 5840.
    pub max_recv_frag: u16,
    /// Largest reassembled response stub. Default 16 MiB; a larger response fails the call with
    /// a local protocol error and closes the connection.
    pub max_response_size: usize,
    /// Transfer syntaxes offered for every interface, one presentation context each (as Windows
    /// does). Default `[NDR20]`.
    pub transfer_syntaxes: Vec<SyntaxId>,
    /// Which accepted context [`ClientConnection::context_for`] prefers. Default NDR20.
    pub transfer_syntax_policy: TransferSyntaxPolicy,
    /// Bind-time features to offer, or `None` to not offer feature negotiation. Default both.
    pub features: Option<BindTimeFeatures>,
    /// The association group to join; 0 asks for a new one. Default 0.
    pub assoc_group: u32,
    /// Set `PFC_CONC_MPX` on the bind. Default true.
    pub conc_mpx: bool,
    /// Data representation of the PDUs (and so of the stubs the runtime encodes). Default
    /// little-endian.
    pub drep: Drep,
    /// Keep the connection after sending an orphaned PDU when the server negotiated
    /// keep-connection-on-orphan (MS-RPCE 3.3.1.5.10). Default true. Set it to false for servers
    /// that advertise the feature but do not honour it: samba-dcerpcd 4.17 answers 0x3 yet keeps
    /// the orphaned call's partial request and faults the next call with `nca_s_proto_error`.
    pub keep_connection_on_orphan: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            max_xmit_frag: 5840,
            max_recv_frag: 5840,
            max_response_size: 16 * 1024 * 1024,
            transfer_syntaxes: vec![SyntaxId::NDR20],
            transfer_syntax_policy: TransferSyntaxPolicy::PreferNdr20,
            features: Some(BindTimeFeatures::ALL),
            assoc_group: 0,
            conc_mpx: true,
            drep: Drep::LITTLE_ENDIAN,
            keep_connection_on_orphan: true,
        }
    }
}

/// A context the server refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejectedContext {
    /// The offered context id.
    pub context_id: u16,
    /// The interface.
    pub interface: SyntaxId,
    /// The offered transfer syntax.
    pub transfer_syntax: SyntaxId,
    /// User or provider rejection.
    pub result: BindAckResult,
    /// Why.
    pub reason: ProviderReason,
}

/// The server's answer to a bind or alter_context.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BindOutcome {
    /// The answer to alter_context rather than bind.
    pub alter: bool,
    /// The association group.
    pub assoc_group: u32,
    /// The secondary address (server port or pipe), empty in alter_context_resp.
    pub sec_addr: String,
    /// Fragment size this client now sends.
    pub max_xmit_frag: u16,
    /// Fragment size the server sends.
    pub max_recv_frag: u16,
    /// Bind-time features the server accepted, or `None` if it did not answer the negotiation.
    pub features: Option<BindTimeFeatures>,
    /// The server set `PFC_CONC_MPX`.
    pub conc_mpx: bool,
    /// Accepted contexts.
    pub accepted: Vec<PresentationContext>,
    /// Rejected contexts.
    pub rejected: Vec<RejectedContext>,
}

/// What happened on a client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// bind_ack or alter_context_resp.
    Bound(BindOutcome),
    /// The server refused the bind with bind_nak; a [`ClientEvent::Closed`] follows.
    BindRejected {
        /// Why.
        reason: RejectReason,
        /// Protocol versions the server supports.
        versions: Vec<(u8, u8)>,
    },
    /// The server faulted the alter_context; the association stays usable.
    AlterContextFailed {
        /// The fault status.
        status: FaultStatus,
    },
    /// A call's complete response.
    Response {
        /// The call.
        call_id: u32,
        /// The reassembled stub.
        stub: Bytes,
        /// The transfer syntax of the call's presentation context, to decode the stub with.
        syntax: Syntax,
        /// The stub's data representation. A response whose drep this side cannot decode (EBCDIC
        /// characters, non-IEEE floats) is reported as a [`ClientEvent::Fault`] with
        /// `nca_s_unsupported_type` instead, as a server would fault such a request.
        drep: DataRep,
        /// The server's cancel count (how many cancels it saw).
        cancel_count: u8,
    },
    /// A call failed with a fault PDU (a call-level failure: the connection stays up). A status
    /// that servers must not send (MS-RPCE 3.3.3.5.1, such as 0) is reported as
    /// `nca_s_proto_error` (3.3.2.5.1).
    Fault {
        /// The call.
        call_id: u32,
        /// The status (map with [`FaultStatus::to_win32`]).
        status: FaultStatus,
        /// Whether the fault carried `PFC_DID_NOT_EXECUTE`.
        execution: Execution,
        /// Extended error stub data, if any.
        stub: Bytes,
    },
    /// The server sent shutdown: start no new calls here; outstanding calls continue.
    Shutdown,
    /// The connection is over; `calls` were outstanding and have failed. Write out what
    /// [`ClientConnection::poll_transmit`] still returns, then close the transport.
    Closed {
        /// Why, and who caused it.
        error: ConnectionError,
        /// Calls that were still waiting for an answer.
        calls: Vec<u32>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Unbound,
    Binding,
    Bound,
    Closed,
}

#[derive(Debug)]
struct PendingBind {
    call_id: u32,
    alter: bool,
    offered: Vec<ContextElement>,
    feature_context: Option<u16>,
    /// This alter_context carries another leg of the security exchange (SPNEGO), not new
    /// interfaces.
    auth_leg: bool,
}

/// The client's security context and how far its exchange got.
struct ClientSecurity {
    ctx: Box<dyn SecurityContext>,
    established: bool,
    /// The server answered `PFC_SUPPORT_HEADER_SIGN`: requests carry a verification trailer.
    header_sign: bool,
    /// A response arrived since the exchange completed: the server accepted the credentials.
    /// (rpc_auth_3 has no answer; a refused logon shows as a fault on the first call.)
    confirmed: bool,
}

#[derive(Debug, Clone, Copy)]
struct CallState {
    cancel_count: u8,
    /// The presentation context the call was made on (its transfer syntax decodes the response).
    context_id: u16,
}

/// The client side of one connection-oriented association.
///
/// Call `bind.rs`(Self::bind), then [`start_call`](Self::start_call) any number of times; feed
/// transport bytes to [`handle_bytes`](Self::handle_bytes) and drain
/// [`poll_event`](Self::poll_event) and [`poll_transmit`](Self::poll_transmit). Request fragments
/// are produced lazily, one PDU per `poll_transmit`, and the fragments of one call go out
/// contiguously; other calls' requests, co_cancel and orphaned PDUs go out between calls.
pub struct ClientConnection {
    config: ClientConfig,
    input: Input,
    state: State,
    next_call_id: u32,
    next_context_id: u16,
    pending_bind: Option<PendingBind>,
    assoc_group: u32,
    xmit_frag: usize,
    features: Option<BindTimeFeatures>,
    contexts: IdMap<u16, PresentationContext>,
    shutdown: bool,
    calls: IdMap<u32, CallState>,
    reassembler: Reassembler,
    transmit: Transmit,
    events: VecDeque<ClientEvent>,
    close_after_flush: bool,
    security: Option<ClientSecurity>,
    /// The bind's outcome, reported once the security exchange is complete.
    deferred_bound: Option<BindOutcome>,
    /// An alter_context leg of the security exchange, queued while the bind_ack is handled.
    next_auth_leg: Option<PendingBind>,
}

impl Receive for ClientConnection {
    fn input(&mut self) -> &mut Input {
        &mut self.input
    }

    fn closed(&self) -> bool {
        self.state == State::Closed
    }

    fn handle_frame(&mut self, frame: Frame) {
        let r = self.unprotect(frame).and_then(|p| self.handle_pdu(p));
        if let Err(e) = r {
            self.protocol_error(e);
        }
    }

    fn framing_error(&mut self, error: Error, _call_id: Option<u32>) {
        self.protocol_error(error);
    }
}

/// The client's one security context protects every protected call.
impl Signers for Option<ClientSecurity> {
    fn signer(&mut self, _auth_context_id: u32) -> Option<&mut dyn SecurityContext> {
        self.as_mut()
            .map(|s| &mut *s.ctx as &mut dyn SecurityContext)
    }
}

impl fmt::Debug for ClientConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConnection")
            .field("state", &self.state)
            .field("assoc_group", &self.assoc_group)
            .field("contexts", &self.contexts.len())
            .field("calls", &self.calls.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecurity")
            .field("established", &self.established)
            .field("header_sign", &self.header_sign)
            .finish_non_exhaustive()
    }
}

impl ClientConnection {
    /// A connection that has not bound yet.
    pub fn new(config: ClientConfig) -> ClientConnection {
        ClientConnection {
            xmit_frag: usize::from(config.max_xmit_frag),
            reassembler: Reassembler::new(config.max_response_size, true),
            assoc_group: config.assoc_group,
            config,
            input: Input::default(),
            state: State::Unbound,
            next_call_id: 1,
            next_context_id: 0,
            pending_bind: None,
            features: None,
            contexts: IdMap::default(),
            shutdown: false,
            calls: IdMap::default(),
            transmit: Transmit::default(),
            events: VecDeque::new(),
            close_after_flush: false,
            security: None,
            deferred_bound: None,
            next_auth_leg: None,
        }
    }

    /// Authenticate the association with `ctx` (its package, level and `auth_context_id`). Call
    /// it before `bind.rs`(Self::bind). The bind carries the first token; the [`ClientEvent::Bound`]
    /// event comes once the exchange is complete (after rpc_auth_3 is queued for NTLM, or after
    /// the last alter_context leg for SPNEGO). At the packet, integrity and privacy levels every
    /// request fragment is then signed (and sealed), and every response fragment must verify.
    pub fn set_security(&mut self, ctx: Box<dyn SecurityContext>) -> Result<(), Error> {
        if self.state != State::Unbound {
            return Err(Error::InvalidState(
                "set_security: already bound or binding",
            ));
        }
        self.security = Some(ClientSecurity {
            ctx,
            established: false,
            header_sign: false,
            confirmed: false,
        });
        Ok(())
    }

    /// True when a security context was set (authenticated or not yet).
    pub fn is_secured(&self) -> bool {
        self.security.is_some()
    }

    /// True when the association is authenticated and the exchange complete.
    pub fn is_authenticated(&self) -> bool {
        self.security.as_ref().is_some_and(|s| s.established)
    }

    /// Send a bind offering `interfaces`, each with every configured transfer syntax, plus the
    /// feature negotiation context. Returns the bind's call id.
    pub fn bind(&mut self, interfaces: &[SyntaxId]) -> Result<u32, Error> {
        if self.state != State::Unbound {
            return Err(Error::InvalidState("bind: already bound or binding"));
        }
        self.send_bind(interfaces, false)
    }

    /// Send an alter_context adding `interfaces` to the association. Calls on existing contexts
    /// may continue meanwhile.
    pub fn alter_context(&mut self, interfaces: &[SyntaxId]) -> Result<u32, Error> {
        if self.state != State::Bound || self.pending_bind.is_some() {
            return Err(Error::InvalidState(
                "alter_context: not bound, or a negotiation is pending",
            ));
        }
        self.send_bind(interfaces, true)
    }

    /// Start a call on a negotiated context. `stub` is the NDR-encoded input in the configured
    /// drep. Returns the call id that later events carry.
    pub fn start_call(
        &mut self,
        context_id: u16,
        opnum: u16,
        object: Option<Uuid>,
        stub: impl Into<Stub>,
    ) -> Result<u32, Error> {
        let stub = stub.into();
        if self.state == State::Closed {
            return Err(Error::InvalidState("connection closed"));
        }
        if self.shutdown {
            return Err(Error::InvalidState("the server sent shutdown"));
        }
        if !self.contexts.contains_key(&context_id) {
            return Err(Error::UnknownContext(context_id));
        }
        if self.security.as_ref().is_some_and(|s| !s.established) {
            return Err(Error::InvalidState(
                "start_call: the security exchange is not complete",
            ));
        }
        let call_id = self.alloc_call_id();
        let protected = self
            .security
            .as_ref()
            .filter(|s| level_protects(s.ctx.auth_level()));
        let stub = match protected {
            Some(sec) if sec.header_sign => {
                self.with_verification_trailer(&stub, call_id, context_id, opnum)?
            }
            _ => stub,
        };
        let auth = protected.map(|s| s.ctx.context_id());
        self.calls.insert(
            call_id,
            CallState {
                cancel_count: 0,
                context_id,
            },
        );
        let mut out = Outgoing::new(
            call_id,
            OutKind::Request {
                context_id,
                opnum,
                object,
            },
            stub,
            self.config.drep,
        );
        out.auth = auth;
        self.transmit.push_call(out);
        Ok(call_id)
    }

    /// Non-abortive cancel: tell the server (co_cancel) and keep waiting for its response or fault.
    ///
    /// The co_cancel goes out after the call's last request fragment (right away if the request
    /// is already out). `PFC_PENDING_CANCEL` is never set on requests: samba-dcerpcd answers such a
    /// request with fault 0x6bd and drops the connection.
    pub fn cancel(&mut self, call_id: u32) -> Result<(), Error> {
        let call = self
            .calls
            .get_mut(&call_id)
            .ok_or(Error::NoSuchCall(call_id))?;
        call.cancel_count = call.cancel_count.saturating_add(1);
        if let Some(o) = self.transmit.find_mut(call_id) {
            o.cancel_after = true;
            return Ok(());
        }
        self.queue_simple(call_id, PduBody::CoCancel);
        Ok(())
    }

    /// Abortive cancel: forget the call now (any later response or fault is discarded).
    ///
    /// - request not yet started: nothing goes on the wire;
    /// - request partly sent: its remaining fragments are dropped and an orphaned PDU is sent;
    ///   unless keep-connection-on-orphan was negotiated the connection then closes
    ///   ([`ClientEvent::Closed`] with [`ConnectionError::Orphaned`]; MS-RPCE 3.3.1.5.10);
    /// - request fully sent: co_cancel is sent so the server's `test_cancel` sees it.
    pub fn orphan(&mut self, call_id: u32) -> Result<(), Error> {
        self.calls
            .remove(&call_id)
            .ok_or(Error::NoSuchCall(call_id))?;
        self.reassembler.discard(call_id);
        if self.transmit.drop_queued(call_id) {
            return Ok(());
        }
        if self.transmit.stop_current(call_id) {
            self.queue_simple(call_id, PduBody::Orphaned);
            let keep = self.config.keep_connection_on_orphan
                && self
                    .features
                    .is_some_and(|f| f.contains(BindTimeFeatures::KEEP_CONNECTION_ON_ORPHAN));
            if !keep {
                self.finish(ConnectionError::Orphaned, true);
            }
            return Ok(());
        }
        self.queue_simple(call_id, PduBody::CoCancel);
        Ok(())
    }

    input_api!();

    /// The transport reached end of stream or failed.
    pub fn handle_transport_closed(&mut self) {
        self.finish(ConnectionError::TransportClosed, false);
    }

    /// Close the connection now; outstanding calls fail.
    pub fn close(&mut self) {
        self.finish(ConnectionError::LocallyClosed, false);
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// The next PDU to write, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        let mut pdu = Vec::new();
        self.poll_transmit_into(&mut pdu).then_some(pdu)
    }

    /// [`poll_transmit`](Self::poll_transmit), appending the PDU to `buf` (a batch of PDUs to
    /// write together) instead of returning a buffer of its own; false when there is nothing to
    /// send.
    pub fn poll_transmit_into(&mut self, buf: &mut Vec<u8>) -> bool {
        loop {
            let open = self.state != State::Closed && !self.close_after_flush;
            let Some(r) = self
                .transmit
                .poll(buf, self.xmit_frag, open, &mut self.security)
            else {
                return false;
            };
            let Unsendable { call_id, error } = match r {
                Ok(()) => return true,
                Err(unsendable) => unsendable,
            };
            // The call cannot be sent: fail it (and, when the package could not protect it, the
            // connection, whose sequence is now broken) rather than leave it waiting for an
            // answer that will never come.
            if matches!(error, Error::Security(_)) {
                self.finish(
                    ConnectionError::Protocol {
                        initiator: Initiator::Local,
                        error,
                    },
                    false,
                );
            } else if self.calls.remove(&call_id).is_some() {
                self.events.push_back(ClientEvent::Fault {
                    call_id,
                    status: FaultStatus::NCA_S_PROTO_ERROR,
                    execution: Execution::DidNotExecute,
                    stub: Bytes::new(),
                });
            }
        }
    }

    /// True if [`poll_transmit`](Self::poll_transmit) has something to return.
    pub fn wants_transmit(&self) -> bool {
        self.transmit.wants(self.state != State::Closed)
    }

    /// True once the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// True after bind_ack until close.
    pub fn is_bound(&self) -> bool {
        self.state == State::Bound
    }

    /// True after the server sent shutdown.
    pub fn is_shut_down(&self) -> bool {
        self.shutdown
    }

    /// Calls waiting for an answer.
    pub fn outstanding_calls(&self) -> usize {
        self.calls.len()
    }

    /// The association group (0 before the bind_ack).
    pub fn assoc_group(&self) -> u32 {
        self.assoc_group
    }

    /// Bind-time features the server accepted.
    pub fn features(&self) -> Option<BindTimeFeatures> {
        self.features
    }

    /// The accepted context for `interface` whose transfer syntax the policy prefers.
    pub fn context_for(&self, interface: &SyntaxId) -> Option<PresentationContext> {
        let pref = match self.config.transfer_syntax_policy {
            TransferSyntaxPolicy::PreferNdr64 => SyntaxId::NDR64,
            _ => SyntaxId::NDR20,
        };
        let mut best: Option<PresentationContext> = None;
        for c in self.contexts.values().filter(|c| c.interface == *interface) {
            let better = match best {
                None => true,
                Some(b) => {
                    (c.transfer_syntax == pref && b.transfer_syntax != pref)
                        || (c.transfer_syntax == b.transfer_syntax && c.context_id < b.context_id)
                }
            };
            if better {
                best = Some(*c);
            }
        }
        best
    }

    /// All accepted presentation contexts.
    pub fn contexts(&self) -> impl Iterator<Item = &PresentationContext> + '_ {
        self.contexts.values()
    }

    /// The fragment size this client sends (after the bind_ack).
    pub fn max_xmit_frag(&self) -> usize {
        self.xmit_frag
    }

    fn alloc_call_id(&mut self) -> u32 {
        let id = self.next_call_id;
        self.next_call_id = self.next_call_id.wrapping_add(1).max(1);
        id
    }

    /// The stub with a verification trailer (MS-RPCE 2.2.2.13) appended, 4-byte aligned: the
    /// server checks the signed copy of the header fields it carries.
    fn with_verification_trailer(
        &self,
        stub: &[u8],
        call_id: u32,
        context_id: u16,
        opnum: u16,
    ) -> Result<Stub, Error> {
        let Some(ctx) = self.contexts.get(&context_id) else {
            return Err(Error::UnknownContext(context_id));
        };
        let vt = VerificationTrailer {
            commands: vec![
                VtEntry {
                    command: VtCommand::Bitmask1(1),
                    must_process: false,
                },
                VtEntry {
                    command: VtCommand::PContext {
                        interface: ctx.interface,
                        transfer_syntax: ctx.transfer_syntax,
                    },
                    must_process: false,
                },
                VtEntry {
                    command: VtCommand::Header2 {
                        ptype: PacketType::REQUEST,
                        reserved: [0; 3],
                        drep: self.config.drep,
                        call_id,
                        context_id,
                        opnum,
                    },
                    must_process: false,
                },
            ],
        };
        let mut v = Vec::with_capacity(stub.len() + 80);
        v.extend_from_slice(stub);
        v.resize(stub.len().next_multiple_of(4), 0);
        v.extend_from_slice(&vt.emit(self.config.drep.is_little_endian())?);
        Ok(Stub::Owned(v))
    }

    fn queue_simple(&mut self, call_id: u32, body: PduBody) {
        // Emitting a body-less PDU built here cannot fail.
        let _ = self.push_control(Pdu::new(call_id, PfcFlags::FIRST_AND_LAST, body));
    }

    /// Queue a PDU of this connection (bind, rpc_auth_3, co_cancel, ...) in its data
    /// representation, ahead of request fragments.
    fn push_control(&mut self, mut pdu: Pdu) -> Result<(), Error> {
        pdu.drep = self.config.drep;
        self.transmit.push_control(pdu.emit()?);
        Ok(())
    }

    /// A protocol violation by the server ends the association (the one place for the client).
    fn protocol_error(&mut self, e: Error) {
        self.finish(
            ConnectionError::Protocol {
                initiator: Initiator::Remote,
                error: e,
            },
            false,
        );
    }

    fn finish(&mut self, error: ConnectionError, keep_control: bool) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.close_after_flush = true;
        if !keep_control {
            self.transmit.clear_control();
        }
        self.transmit.clear_calls();
        self.pending_bind = None;
        let mut calls: Vec<u32> = self.calls.drain().map(|(id, _)| id).collect();
        calls.sort_unstable();
        self.reassembler = Reassembler::new(0, true);
        self.input.discard();
        self.events.push_back(ClientEvent::Closed { error, calls });
    }
}
