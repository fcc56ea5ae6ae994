//! The server side of one connection: association and call state machine, sans-IO.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use msrpc_ndr::{DataRep, Syntax};
use uuid::Uuid;

use crate::auth::{
    Acceptor, AuthError, AuthFailure, AuthStep, PeerIdentity, SecurityContext, level_protects,
    verify_fragment,
};
use crate::error::{ConnectionError, Error, Initiator, WireReaction};
use crate::frag::{OutKind, Outgoing, PduFramer, Reassembler};
use crate::negotiate::{
    BindTimeFeatures, InterfaceRegistry, PresentationContext, TransferSyntaxPolicy,
    malformed_context_list, negotiate_server,
};
use crate::status::{FaultStatus, Win32Status};
use crate::vt::{VerificationTrailer, VtCommand};
use crate::wire::{
    AuthLevel, AuthType, AuthVerifier, BindAck, BindNak, Drep, Fault, Header, PacketType, Pdu,
    PduBody, PfcFlags, RejectReason, SyntaxId,
};

/// Server limits and policy. `ServerConfig::default()` gives the defaults listed per field.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Largest fragment this server sends (bind_ack `max_xmit_frag`). Default 5840, as Samba and
    /// Wine. The fragments actually sent are at most the smaller of this and the client's
    /// `max_recv_frag` (raised to 1432, C706 `MustRecvFragSize`).
    pub max_xmit_frag: u16,
    /// Largest fragment this server receives (bind_ack `max_recv_frag`). Default 5840. Larger
    /// request fragments are a protocol error (the connection is closed).
    pub max_recv_frag: u16,
    /// Largest reassembled request stub. Default 4 MiB (MS-RPCE 3.3.3.5.4). A call over the limit
    /// is faulted with status 5 (`ERROR_ACCESS_DENIED`, as that section says) and its remaining
    /// fragments are dropped; the connection stays up.
    pub max_request_size: usize,
    /// The secondary address in bind_ack: the server's port as a string (`"49664"`) or pipe name
    /// (`"\\PIPE\\epmapper"`). Default empty.
    pub sec_addr: String,
    /// Transfer syntax choice. Default [`TransferSyntaxPolicy::PreferNdr20`].
    pub transfer_syntax_policy: TransferSyntaxPolicy,
    /// Bind-time features the server accepts. Default both.
    pub features: BindTimeFeatures,
    /// Answer `PFC_CONC_MPX` when the client sets it. Default true.
    pub conc_mpx: bool,
    /// Security contexts (`auth_context_id`s) one connection may open. Past it, a bind or
    /// alter_context that opens another is refused. Default 16.
    pub max_auth_contexts: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_xmit_frag: 5840,
            max_recv_frag: 5840,
            max_request_size: 4 * 1024 * 1024,
            sec_addr: String::new(),
            transfer_syntax_policy: TransferSyntaxPolicy::PreferNdr20,
            features: BindTimeFeatures::ALL,
            conc_mpx: true,
            max_auth_contexts: 16,
        }
    }
}

/// A complete request for the runtime to dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IncomingCall {
    /// The call id; answer with [`ServerConnection::respond`] or [`ServerConnection::fault`].
    pub call_id: u32,
    /// The presentation context.
    pub context_id: u16,
    /// The interface of that context (as the client offered it).
    pub interface: SyntaxId,
    /// The negotiated transfer syntax of the call's presentation context.
    pub syntax: Syntax,
    /// The operation number; the runtime faults unknown ones with `nca_s_op_rng_error`.
    pub opnum: u16,
    /// The object UUID, if the request carried one.
    pub object: Option<Uuid>,
    /// The reassembled stub data.
    pub stub: Bytes,
    /// The data representation of the stub. A request in one this side cannot decode (EBCDIC
    /// characters, non-IEEE floats) is faulted with `nca_s_unsupported_type` by the connection
    /// and never reaches the runtime.
    pub drep: DataRep,
    /// The first fragment had `PFC_MAYBE` (no response expected).
    pub maybe: bool,
    /// The client had a cancel pending when it sent the call (`PFC_PENDING_CANCEL`).
    pub pending_cancel: bool,
    /// How the call was authenticated, or `None` for an unauthenticated call.
    pub auth: Option<CallAuth>,
}

/// The security of one call: the context it was made under.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallAuth {
    /// The package.
    pub auth_type: AuthType,
    /// The level the call was protected at (`CONNECT` when the association was authenticated
    /// and the request carried no trailer).
    pub level: AuthLevel,
    /// The `auth_context_id`.
    pub context_id: u32,
    /// The authenticated client.
    pub peer: Option<PeerIdentity>,
}

/// What happened on a server connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A bind (`alter == false`) or alter_context (`alter == true`) was answered.
    Bound {
        /// bind or alter_context.
        alter: bool,
        /// The association group.
        assoc_group: u32,
        /// The contexts accepted by this PDU.
        contexts: Vec<PresentationContext>,
        /// The negotiated bind-time features (NONE if the client did not offer any).
        features: BindTimeFeatures,
        /// Fragment size the server sends.
        max_xmit_frag: u16,
        /// Fragment size the server receives.
        max_recv_frag: u16,
    },
    /// A complete request.
    Call(IncomingCall),
    /// The client sent co_cancel for an active call: the call's `test_cancel` now sees it.
    Cancel {
        /// The call.
        call_id: u32,
    },
    /// The client abandoned the call (orphaned PDU); any later response is dropped.
    Orphaned {
        /// The call.
        call_id: u32,
    },
    /// A security context was established (after bind, alter_context or rpc_auth_3).
    Authenticated {
        /// The `auth_context_id`.
        context_id: u32,
        /// The package.
        auth_type: AuthType,
        /// The level.
        level: AuthLevel,
        /// The client, if the package reports it.
        peer: Option<PeerIdentity>,
    },
    /// A security context failed (wrong credentials, bad token); its calls are refused with
    /// `ERROR_ACCESS_DENIED`.
    AuthFailed {
        /// The `auth_context_id`.
        context_id: u32,
        /// Why.
        error: AuthError,
    },
    /// The connection is over. Write out what [`ServerConnection::poll_transmit`] still returns,
    /// then close the transport.
    Closed {
        /// Why.
        error: ConnectionError,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitingBind,
    Bound,
    Closed,
}

#[derive(Debug, Clone, Copy)]
struct ActiveCall {
    context_id: u16,
    cancel_count: u8,
    /// The security context that protects the response.
    auth: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Negotiating,
    Established,
    Failed,
}

struct AuthSlot {
    ctx: Box<dyn SecurityContext>,
    state: SlotState,
}

/// The server side of one connection-oriented association (one transport connection).
///
/// Drive it like quinn-proto's `Connection`: feed transport bytes to
/// [`handle_bytes`](Self::handle_bytes), then drain [`poll_event`](Self::poll_event) and
/// [`poll_transmit`](Self::poll_transmit). Answer each [`ServerEvent::Call`] with
/// [`respond`](Self::respond) or [`fault`](Self::fault). Response fragments are generated lazily,
/// one per `poll_transmit`, so a runtime that only polls when the socket is writable applies
/// backpressure; stop reading when [`active_calls`](Self::active_calls) is too high.
pub struct ServerConnection {
    config: ServerConfig,
    registry: Arc<dyn InterfaceRegistry>,
    framer: PduFramer,
    state: State,
    assoc_group: u32,
    xmit_frag: usize,
    features: Option<BindTimeFeatures>,
    contexts: HashMap<u16, PresentationContext>,
    /// Each presentation context element as last offered (bind or alter_context), by id: a leg
    /// of a security exchange in progress must offer them unchanged. Bounded like `contexts`:
    /// one entry per `p_cont_id` (u16), and elements come from PDUs within `max_recv_frag`.
    offered: HashMap<u16, crate::wire::ContextElement>,
    reassembler: Reassembler,
    /// A call faulted during reassembly whose remaining fragments are dropped. Fragments of one
    /// call are contiguous, so one is enough (and bounds memory).
    discarding: Option<u32>,
    /// The highest call id that started a request (MS-RPCE 3.3.3.5.6).
    last_call_id: u32,
    /// A call that got co_cancel while still being reassembled.
    cancelled_partial: Option<u32>,
    /// The call id of a PDU whose header could not be parsed (for the bind_nak).
    raw_call_id: Option<u32>,
    calls: HashMap<u32, ActiveCall>,
    control: VecDeque<Vec<u8>>,
    responses: VecDeque<Outgoing>,
    current: Option<Outgoing>,
    events: VecDeque<ServerEvent>,
    last_activity: Option<Instant>,
    acceptor: Option<Arc<dyn Acceptor>>,
    auth: HashMap<u32, AuthSlot>,
    /// The security context of the request being reassembled (fragments of one call must agree).
    reassembling_auth: Option<Option<u32>>,
    header_sign: bool,
    /// Whole PDUs framed from the transport bytes so far.
    pdus_received: u64,
}

impl fmt::Debug for ServerConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConnection")
            .field("state", &self.state)
            .field("assoc_group", &self.assoc_group)
            .field("contexts", &self.contexts.len())
            .field("calls", &self.calls.len())
            .finish_non_exhaustive()
    }
}

impl ServerConnection {
    /// A connection that waits for the client's bind.
    pub fn new(config: ServerConfig, registry: Arc<dyn InterfaceRegistry>) -> ServerConnection {
        let limit = config.max_request_size;
        ServerConnection {
            pdus_received: 0,
            xmit_frag: usize::from(config.max_xmit_frag),
            config,
            registry,
            framer: PduFramer::new(),
            state: State::AwaitingBind,
            assoc_group: 0,
            features: None,
            contexts: HashMap::new(),
            offered: HashMap::new(),
            reassembler: Reassembler::new(limit, false),
            discarding: None,
            last_call_id: 0,
            cancelled_partial: None,
            raw_call_id: None,
            calls: HashMap::new(),
            control: VecDeque::new(),
            responses: VecDeque::new(),
            current: None,
            events: VecDeque::new(),
            last_activity: None,
            acceptor: None,
            auth: HashMap::new(),
            reassembling_auth: None,
            header_sign: false,
        }
    }

    /// Accept authenticated binds: `acceptor` makes a security context for each
    /// `auth_context_id` a client opens. Without one, a bind carrying a security trailer is
    /// refused with bind_nak `AUTHENTICATION_TYPE_NOT_RECOGNIZED`.
    pub fn set_acceptor(&mut self, acceptor: Arc<dyn Acceptor>) {
        self.acceptor = Some(acceptor);
    }

    /// Whether the client asked for header signing and the bind was authenticated
    /// (`PFC_SUPPORT_HEADER_SIGN` answered).
    pub fn header_signing(&self) -> bool {
        self.header_sign
    }

    /// Feed bytes read from the transport, in any chunking.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        if self.state != State::Closed {
            self.framer.push(bytes);
        }
        self.process_input(now);
    }

    /// The connection's input buffer, to read the transport into (tokio's `read_buf`, say): the
    /// bytes not yet framed, with room for the next read after them. Then call
    /// [`handle_input`](Self::handle_input) with the number of bytes the read added. Reading here
    /// saves the copy [`handle_bytes`](Self::handle_bytes) makes.
    pub fn input_buffer(&mut self) -> &mut bytes::BytesMut {
        self.framer.read_buf()
    }

    /// `n` bytes were read into [`input_buffer`](Self::input_buffer): frame and handle what is
    /// complete, as [`handle_bytes`](Self::handle_bytes) does.
    pub fn handle_input(&mut self, now: Instant, n: usize) {
        self.framer.filled(n);
        self.process_input(now);
    }

    /// Nothing is in progress: let the input buffer shrink back to its minimum.
    pub fn release_input_buffer(&mut self) {
        self.framer.idle();
    }

    fn process_input(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        self.last_activity = Some(now);
        while self.state != State::Closed {
            match self.framer.next_pdu(usize::from(u16::MAX)) {
                Ok(Some(raw)) => {
                    self.pdus_received += 1;
                    self.handle_pdu(raw)
                }
                Ok(None) => break,
                Err(e) => {
                    let raw_call_id = self.framer.peek_call_id();
                    self.raw_call_id = raw_call_id;
                    self.protocol_error(e, None, true);
                    break;
                }
            }
        }
    }

    /// The transport reached end of stream or failed.
    pub fn handle_transport_closed(&mut self) {
        self.finish(ConnectionError::TransportClosed, false);
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// The next PDU to write, if any. Fragments of one response go out contiguously; faults and
    /// bind answers go out between responses.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(cur) = self.current.as_mut() {
                if cur.auth.is_some_and(|id| !self.auth.contains_key(&id)) {
                    self.current = None;
                    continue;
                }
                let sec = cur
                    .auth
                    .and_then(|id| self.auth.get_mut(&id))
                    .map(|slot| &mut *slot.ctx as &mut dyn SecurityContext);
                match cur.next_fragment(self.xmit_frag, sec) {
                    Ok((bytes, last)) => {
                        if last {
                            self.current = None;
                        }
                        return Some(bytes);
                    }
                    Err(e @ Error::Security(_)) => {
                        // The package cannot sign: the sequence is broken, so is the connection.
                        self.current = None;
                        self.finish(
                            ConnectionError::Protocol {
                                initiator: Initiator::Local,
                                error: e,
                            },
                            true,
                        );
                        continue;
                    }
                    Err(_) => {
                        self.current = None;
                        continue;
                    }
                }
            }
            if let Some(c) = self.control.pop_front() {
                return Some(c);
            }
            if self.state == State::Closed {
                return None;
            }
            self.current = Some(self.responses.pop_front()?);
        }
    }

    /// True if [`poll_transmit`](Self::poll_transmit) has something to return.
    pub fn wants_transmit(&self) -> bool {
        !self.control.is_empty()
            || (self.state != State::Closed
                && (self.current.is_some() || !self.responses.is_empty()))
    }

    /// PDUs and responses queued for transmission. The runtime stops reading from the transport
    /// while this stays high: a client that never reads must not grow the server's memory, and
    /// faults and bind answers are queued here too.
    pub fn transmit_backlog(&self) -> usize {
        self.control.len() + self.responses.len() + usize::from(self.current.is_some())
    }

    /// Send the response stub (NDR, little-endian) of an active call.
    pub fn respond(&mut self, call_id: u32, stub: Bytes) -> Result<(), Error> {
        if self.state == State::Closed {
            return Err(Error::InvalidState("connection closed"));
        }
        let call = self
            .calls
            .remove(&call_id)
            .ok_or(Error::NoSuchCall(call_id))?;
        let mut out = Outgoing::new(
            call_id,
            OutKind::Response {
                // Windows writes only the low byte of the request's context id into the
                // response (the suite's `rep.u.context_id == req.u.context_id & 0xff`).
                context_id: call.context_id & 0xff,
                cancel_count: call.cancel_count,
            },
            stub,
            Drep::LITTLE_ENDIAN,
        );
        out.auth = call.auth;
        self.responses.push_back(out);
        Ok(())
    }

    /// Fault an active call. `did_not_execute` sets `PFC_DID_NOT_EXECUTE`. The statuses of
    /// [`FaultStatus::FORBIDDEN_ON_WIRE`] (0 among them) are refused (MS-RPCE 3.3.3.5.1).
    pub fn fault(
        &mut self,
        call_id: u32,
        status: FaultStatus,
        did_not_execute: bool,
    ) -> Result<(), Error> {
        if self.state == State::Closed {
            return Err(Error::InvalidState("connection closed"));
        }
        if status.is_forbidden_on_wire() {
            return Err(Error::InvalidState(
                "this status must not be sent in a fault (MS-RPCE 3.3.3.5.1)",
            ));
        }
        let call = self
            .calls
            .remove(&call_id)
            .ok_or(Error::NoSuchCall(call_id))?;
        self.queue_fault(
            call_id,
            call.context_id,
            call.cancel_count,
            status,
            did_not_execute,
        );
        Ok(())
    }

    /// Send a shutdown PDU: the client should not start new calls on this connection.
    pub fn shutdown(&mut self) {
        if self.state != State::Closed {
            self.queue_pdu(Pdu::new(0, PfcFlags::FIRST_AND_LAST, PduBody::Shutdown));
        }
    }

    /// Close the connection now; unsent responses are dropped.
    pub fn close(&mut self) {
        self.control.clear();
        self.finish(ConnectionError::LocallyClosed, false);
    }

    /// True once the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whole PDUs received so far (mgmt's `rpc_c_stats_pkts_in` counts these, not socket reads).
    pub fn pdus_received(&self) -> u64 {
        self.pdus_received
    }

    /// Bytes held for input: the partial PDU being framed plus the request being reassembled
    /// (bounded by 64 KiB plus `max_request_size`).
    pub fn buffered_bytes(&self) -> usize {
        self.framer.buffered() + self.reassembler.buffered()
    }

    /// Calls dispatched and not yet answered.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// The association group (0 before the bind).
    pub fn assoc_group(&self) -> u32 {
        self.assoc_group
    }

    /// The negotiated bind-time features, if the client offered feature negotiation.
    pub fn features(&self) -> Option<BindTimeFeatures> {
        self.features
    }

    /// The negotiated presentation context with this id.
    pub fn context(&self, context_id: u16) -> Option<&PresentationContext> {
        self.contexts.get(&context_id)
    }

    /// All accepted presentation contexts.
    pub fn contexts(&self) -> impl Iterator<Item = &PresentationContext> + '_ {
        self.contexts.values()
    }

    /// The fragment size this server sends.
    pub fn max_xmit_frag(&self) -> usize {
        self.xmit_frag
    }

    /// When the last bytes arrived (for the runtime's idle timeouts).
    pub fn last_activity(&self) -> Option<Instant> {
        self.last_activity
    }

    fn handle_pdu(&mut self, raw: Bytes) {
        let header = match Header::parse(&raw) {
            Ok(h) => h,
            Err(e) => return self.protocol_error(e, None, true),
        };
        let pdu = match Pdu::parse_bytes(&raw) {
            Ok(p) => p,
            Err(e) if header.ptype == PacketType::BIND && self.state == State::AwaitingBind => {
                // A first bind that cannot be parsed is refused as Windows does, then the close:
                // bind_nak "protocol version not supported" when its auth_length overruns it
                // (the suite's test_invalid_auth_noctx), else "not specified" (a bind cut short
                // after its context count: test_no_auth_no_ctx).
                let reason = match e {
                    Error::BadAuthLength(_) => RejectReason::PROTOCOL_VERSION_NOT_SUPPORTED,
                    _ => RejectReason::NOT_SPECIFIED,
                };
                self.queue_bind_nak(header.call_id, reason);
                return self.finish(
                    ConnectionError::Protocol {
                        initiator: Initiator::Remote,
                        error: e,
                    },
                    true,
                );
            }
            Err(e) if header.ptype == PacketType::ALTER_CONTEXT && self.state == State::Bound => {
                // An alter_context that cannot be parsed (one cut short after its context count:
                // the suite's test_alter_no_auth_no_ctx) is faulted nca_s_proto_error with
                // PFC_DID_NOT_EXECUTE, as other alter_context faults, then the close.
                self.queue_fault(header.call_id, 0, 0, FaultStatus::NCA_S_PROTO_ERROR, true);
                return self.finish(
                    ConnectionError::Protocol {
                        initiator: Initiator::Remote,
                        error: e,
                    },
                    true,
                );
            }
            Err(e) => return self.protocol_error(e, Some(header), true),
        };
        let result = match pdu.packet_type() {
            PacketType::BIND => self.on_bind(pdu, false),
            PacketType::ALTER_CONTEXT => self.on_bind(pdu, true),
            PacketType::REQUEST => self.on_request(pdu, &raw),
            PacketType::AUTH3 => self.on_auth3(pdu),
            PacketType::CO_CANCEL => {
                self.on_cancel(pdu.call_id);
                Ok(())
            }
            PacketType::ORPHANED => {
                self.on_orphaned(pdu.call_id);
                Ok(())
            }
            other => Err(Error::UnexpectedPdu(other)),
        };
        if let Err(e) = result {
            self.protocol_error(e, Some(header), false);
        }
    }

    fn on_bind(&mut self, pdu: Pdu, alter: bool) -> Result<(), Error> {
        let call_id = pdu.call_id;
        let (PduBody::Bind(bind) | PduBody::AlterContext(bind)) = &pdu.body else {
            return Err(Error::UnexpectedPdu(pdu.packet_type()));
        };
        match (alter, self.state) {
            (false, State::AwaitingBind) | (true, State::Bound) => {}
            (false, _) => {
                // A second bind on an association: refuse it and end the association.
                self.nak_and_close(call_id, RejectReason::NOT_SPECIFIED);
                return Ok(());
            }
            (true, _) => return Err(Error::NotBound),
        }
        if bind.contexts.is_empty() || malformed_context_list(bind) {
            // A bind or alter_context that offers no presentation context ends the association,
            // as Windows does (the suite's test_no_auth_no_ctx, test_no_auth_invalid_valid_request,
            // test_alter_no_auth_no_ctx): bind_nak "not specified", or for alter_context a fault
            // nca_s_proto_error with PFC_DID_NOT_EXECUTE; then the close.
            if alter {
                self.queue_fault(call_id, 0, 0, FaultStatus::NCA_S_PROTO_ERROR, true);
            } else {
                self.queue_bind_nak(call_id, RejectReason::NOT_SPECIFIED);
            }
            self.finish(
                ConnectionError::Protocol {
                    initiator: Initiator::Remote,
                    error: Error::Malformed {
                        pdu: pdu.packet_type(),
                        what: "no presentation context",
                    },
                },
                true,
            );
            return Ok(());
        }
        let mut group = self.assoc_group;
        if !alter {
            group = self.registry.assoc_group(bind.assoc_group);
            if group == 0 {
                // The registry refused the group the bind asked for (it does not exist).
                self.nak_and_close(call_id, RejectReason::NOT_SPECIFIED);
                return Ok(());
            }
        }
        let mut ack_auth = None;
        if let Some(a) = &pdu.auth {
            let in_progress = self
                .auth
                .get(&a.context_id)
                .is_some_and(|s| s.state == SlotState::Negotiating);
            if alter
                && in_progress
                && a.auth_type != AuthType::NONE
                && bind
                    .contexts
                    .iter()
                    .any(|c| self.offered.get(&c.context_id) != Some(c))
            {
                // A leg of a security exchange in progress that changes a presentation context
                // (its interface or transfer syntaxes) is faulted nca_s_proto_error, then the
                // close, as Windows (the suite's test_spnego_change_abstract, _transfer,
                // _auth_type2).
                self.queue_fault(call_id, 0, 0, FaultStatus::NCA_S_PROTO_ERROR, true);
                self.finish(
                    ConnectionError::Protocol {
                        initiator: Initiator::Remote,
                        error: Error::Auth("a security leg changed a presentation context"),
                    },
                    true,
                );
                return Ok(());
            }
            match self.bind_auth(a) {
                Ok(v) => ack_auth = v,
                Err((reason, status)) => {
                    if alter {
                        let leg_failed = self
                            .auth
                            .get(&a.context_id)
                            .is_some_and(|s| s.state == SlotState::Failed);
                        self.queue_fault(call_id, 0, 0, status, true);
                        if leg_failed {
                            // A failed leg of a security exchange in progress ends the
                            // association after the fault, as Windows (the suite's
                            // test_spnego_change_auth_level, _type1, _type3).
                            self.finish(
                                ConnectionError::Protocol {
                                    initiator: Initiator::Remote,
                                    error: Error::Auth("a leg of the security exchange failed"),
                                },
                                true,
                            );
                        }
                    } else {
                        self.nak_and_close(call_id, reason);
                    }
                    return Ok(());
                }
            }
        }
        let neg = negotiate_server(
            bind,
            self.registry.as_ref(),
            self.config.transfer_syntax_policy,
            self.config.features,
            self.features.is_some() || alter,
        );
        if !alter {
            self.assoc_group = group;
            self.features = neg.features;
            self.xmit_frag = usize::from(negotiate_frag(
                bind.max_xmit_frag,
                bind.max_recv_frag,
                self.config.max_xmit_frag,
            ));
            self.state = State::Bound;
        }
        for c in &neg.accepted {
            self.contexts.insert(c.context_id, *c);
        }
        for c in &bind.contexts {
            self.offered.insert(c.context_id, c.clone());
        }
        // Both fields carry the negotiated size, on bind_ack and every alter_context_resp (the
        // alter_context's own sizes are ignored); receiving still accepts up to max_recv_frag.
        let xmit = u16::try_from(self.xmit_frag).unwrap_or(u16::MAX);
        let recv = xmit;
        let ack = BindAck {
            max_xmit_frag: xmit,
            max_recv_frag: recv,
            assoc_group: self.assoc_group,
            sec_addr: if alter {
                Bytes::new()
            } else {
                BindAck::sec_addr_from_str(&self.config.sec_addr)
            },
            results: neg.results,
        };
        // As Windows (the suite's test_no_auth_request_{bind,alter}_pfc_*, do_generic_bind):
        // bind_ack answers CONC_MPX when asked; alter_context_resp never does; both answer
        // SUPPORT_HEADER_SIGN exactly when this PDU asked for it, with or without a trailer.
        let mut flags = PfcFlags::FIRST_AND_LAST;
        if !alter && self.config.conc_mpx && pdu.flags.contains(PfcFlags::CONC_MPX) {
            flags = flags | PfcFlags::CONC_MPX;
        }
        if !alter && pdu.auth.is_some() && pdu.flags.contains(PfcFlags::SUPPORT_HEADER_SIGN) {
            // Every package here signs the whole PDU, header included (MS-RPCE 2.2.2.3).
            self.header_sign = true;
        }
        if pdu.flags.contains(PfcFlags::SUPPORT_HEADER_SIGN) {
            flags = flags | PfcFlags::SUPPORT_HEADER_SIGN;
        }
        let body = if alter {
            PduBody::AlterContextResp(ack)
        } else {
            PduBody::BindAck(ack)
        };
        let mut answer = Pdu::new(call_id, flags, body);
        answer.auth = ack_auth;
        self.queue_pdu(answer);
        self.events.push_back(ServerEvent::Bound {
            alter,
            assoc_group: self.assoc_group,
            contexts: neg.accepted,
            features: self.features.unwrap_or_default(),
            max_xmit_frag: xmit,
            max_recv_frag: recv,
        });
        Ok(())
    }

    fn on_request(&mut self, pdu: Pdu, raw: &Bytes) -> Result<(), Error> {
        let raw_len = raw.len();
        if self.state != State::Bound {
            return Err(Error::NotBound);
        }
        let call_id = pdu.call_id;
        let first = pdu.flags.contains(PfcFlags::FIRST_FRAG);
        let last = pdu.flags.contains(PfcFlags::LAST_FRAG);
        if self.discarding == Some(call_id) && !first {
            if last {
                self.discarding = None;
            }
            return Ok(());
        }
        if !first && !self.reassembler.contains(call_id) {
            // MS-RPCE 3.3.3.5.6: a non-first fragment with no active call is ignored when its
            // call id is less than 150 below the current one, else it is a protocol error.
            let behind = self.last_call_id.wrapping_sub(call_id);
            if call_id != self.last_call_id && behind < 150 {
                return Ok(());
            }
            return Err(Error::MissingFirstFragment(call_id));
        }
        let max = usize::from(self.config.max_recv_frag);
        if raw_len > max {
            return Err(Error::FragmentTooLarge { len: raw_len, max });
        }
        // Authentication: which context, and verify (and unseal) the fragment before anything
        // else reads its stub. A fragment that fails is never dispatched.
        let auth_id = pdu.auth.as_ref().map(|a| a.context_id);
        if first {
            self.reassembling_auth = Some(auth_id);
        } else if self.reassembling_auth != Some(auth_id) {
            return Err(Error::InconsistentFragment(call_id));
        }
        if auth_id
            .is_some_and(|id| self.auth.get(&id).map(|s| s.state) == Some(SlotState::Negotiating))
        {
            // A request on a security context whose exchange has not finished is a protocol
            // error, as Windows (the suite's test_spnego_unfinished_request): nca_s_proto_error
            // naming context 0, with PFC_DID_NOT_EXECUTE, then the close.
            self.reassembler.discard(call_id);
            self.reassembling_auth = None;
            self.queue_fault(call_id, 0, 0, FaultStatus::NCA_S_PROTO_ERROR, true);
            self.finish(
                ConnectionError::Protocol {
                    initiator: Initiator::Remote,
                    error: Error::Auth("a request before the security exchange finished"),
                },
                true,
            );
            return Ok(());
        }
        let refusal = match auth_id {
            // The client failed to log on: it gets no unauthenticated calls either.
            None if self.auth.values().any(|s| s.state == SlotState::Failed) => {
                Some("request on an association whose logon failed")
            }
            // Unknown context, failed logon, or a request before rpc_auth_3.
            Some(id) if self.auth.get(&id).map(|s| s.state) != Some(SlotState::Established) => {
                Some("request on a security context that is not established")
            }
            // A trailer at another level than its context's, as Windows (the suite's
            // test_spnego_connect_*_upgrade, test_spnego_*_downgrade_connect): access denied.
            Some(id)
                if pdu.auth.as_ref().map(|a| a.auth_level)
                    != self.auth.get(&id).map(|s| s.ctx.auth_level()) =>
            {
                Some("request at another level than its security context")
            }
            _ => None,
        };
        if let Some(why) = refusal {
            let e = Error::Security(AuthError::new(AuthFailure::LogonFailure, why));
            self.refuse_and_close(
                call_id,
                request_context(&pdu),
                FaultStatus::ACCESS_DENIED,
                e,
            );
            return Ok(());
        }
        let pdu = match auth_id.and_then(|id| self.auth.get_mut(&id)) {
            Some(slot) if level_protects(slot.ctx.auth_level()) => {
                let mut buf = raw.to_vec();
                match verify_fragment(&mut buf, slot.ctx.as_mut()) {
                    Ok(clear) => clear,
                    Err(e) => {
                        // A logon proven wrong by its first fragment is access denied; anything
                        // else that fails to verify was altered in flight.
                        let status = match &e {
                            Error::Security(a) if a.kind == AuthFailure::LogonFailure => {
                                FaultStatus::ACCESS_DENIED
                            }
                            _ => FaultStatus(Win32Status::RPC_S_SEC_PKG_ERROR.0),
                        };
                        self.refuse_and_close(call_id, request_context(&pdu), status, e);
                        return Ok(());
                    }
                }
            }
            _ => pdu,
        };
        if first {
            self.discarding = None;
            self.last_call_id = call_id;
            if self.calls.contains_key(&call_id) {
                return Err(Error::InconsistentFragment(call_id));
            }
            let PduBody::Request(req) = &pdu.body else {
                return Err(Error::UnexpectedPdu(pdu.packet_type()));
            };
            if !self.contexts.contains_key(&req.context_id) {
                // A call-level failure: fault it, drop its other fragments, keep the connection.
                let ctx = req.context_id;
                if !last {
                    self.discarding = Some(call_id);
                }
                // The fault names context 0, not the unknown one (test_no_auth_presentation_ctx_invalid1).
                self.call_error(Error::UnknownContext(ctx), call_id, 0);
                return Ok(());
            }
        }
        match self.reassembler.push(pdu) {
            Ok(None) => Ok(()),
            Ok(Some(mut msg)) => {
                let ctx = self
                    .contexts
                    .get(&msg.context_id)
                    .copied()
                    .ok_or(Error::UnknownContext(msg.context_id))?;
                let cancelled = self.cancelled_partial == Some(call_id);
                if cancelled {
                    self.cancelled_partial = None;
                }
                let auth = self.call_auth(auth_id);
                let protected = auth.as_ref().is_some_and(|a| level_protects(a.level));
                if protected {
                    match check_verification_trailer(&msg, &ctx) {
                        Ok(len) => msg.stub.truncate(len),
                        Err(()) => {
                            self.queue_fault(
                                call_id,
                                msg.context_id,
                                0,
                                FaultStatus::ACCESS_DENIED,
                                true,
                            );
                            return Ok(());
                        }
                    }
                }
                let Ok(drep) = DataRep::parse(msg.drep.0) else {
                    // C706 14.1: the receiver converts, but this runtime decodes ASCII and IEEE only.
                    self.queue_fault(
                        call_id,
                        msg.context_id,
                        0,
                        FaultStatus::NCA_S_UNSUPPORTED_TYPE,
                        true,
                    );
                    return Ok(());
                };
                self.calls.insert(
                    call_id,
                    ActiveCall {
                        context_id: msg.context_id,
                        // A co_cancel that came while the request was still arriving reaches
                        // the manager as pending_cancel but is not counted in the response's
                        // cancel_count, as Windows (the suite's test_co_cancel_request_after_first).
                        cancel_count: 0,
                        auth: if protected { auth_id } else { None },
                    },
                );
                self.events.push_back(ServerEvent::Call(IncomingCall {
                    call_id,
                    context_id: msg.context_id,
                    interface: ctx.interface,
                    syntax: ctx.syntax(),
                    opnum: msg.opnum,
                    object: msg.object,
                    stub: msg.stub,
                    drep,
                    maybe: msg.first_flags.contains(PfcFlags::MAYBE),
                    pending_cancel: msg.first_flags.contains(PfcFlags::PENDING_CANCEL) || cancelled,
                    auth,
                }));
                Ok(())
            }
            Err(e @ Error::ReassemblyLimit { .. }) => {
                if !last {
                    self.discarding = Some(call_id);
                }
                self.call_error(e, call_id, 0);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Open or continue a security context for a bind / alter_context trailer. `Ok` carries the
    /// trailer of the answer; `Err` the bind_nak reason (bind) or fault status (alter_context).
    fn bind_auth(
        &mut self,
        a: &AuthVerifier,
    ) -> Result<Option<AuthVerifier>, (RejectReason, FaultStatus)> {
        const DENIED: FaultStatus = FaultStatus::ACCESS_DENIED;
        if a.auth_level.0 < AuthLevel::CONNECT.0 || a.auth_level.0 > AuthLevel::PKT_PRIVACY.0 {
            return Err((RejectReason::NOT_SPECIFIED, DENIED));
        }
        let id = a.context_id;
        let fresh = !self.auth.contains_key(&id);
        if fresh {
            if self.auth.len() >= self.config.max_auth_contexts {
                return Err((RejectReason::LOCAL_LIMIT_EXCEEDED, DENIED));
            }
            let Some(acceptor) = self.acceptor.clone() else {
                return Err((RejectReason::AUTHENTICATION_TYPE_NOT_RECOGNIZED, DENIED));
            };
            // A package this server does not have: reason 8. A package that refuses the level
            // (SPNEGO at the call level, as Windows: the suite's test_spnego_call_bind): 9.
            let ctx = acceptor
                .accept(a.auth_type, a.auth_level, id)
                .map_err(|e| match e.kind {
                    AuthFailure::Package => (RejectReason::INVALID_CHECKSUM, DENIED),
                    _ => (RejectReason::AUTHENTICATION_TYPE_NOT_RECOGNIZED, DENIED),
                })?;
            self.auth.insert(
                id,
                AuthSlot {
                    ctx,
                    state: SlotState::Negotiating,
                },
            );
        }
        let Some(slot) = self.auth.get_mut(&id) else {
            return Err((RejectReason::NOT_SPECIFIED, DENIED));
        };
        if slot.state == SlotState::Negotiating
            && (slot.ctx.auth_type() != a.auth_type || slot.ctx.auth_level() != a.auth_level)
        {
            // A leg that changes the package or the level fails the exchange. As Windows (the
            // suite's test_spnego_change_auth_type1, _type3, _level): another package is
            // RPC_S_SEC_PKG_ERROR, none or another level access denied.
            slot.state = SlotState::Failed;
            let status = if slot.ctx.auth_type() != a.auth_type && a.auth_type != AuthType::NONE {
                FaultStatus(Win32Status::RPC_S_SEC_PKG_ERROR.0)
            } else {
                DENIED
            };
            return Err((RejectReason::NOT_SPECIFIED, status));
        }
        if slot.ctx.auth_type() != a.auth_type || slot.ctx.auth_level() != a.auth_level {
            return Err((RejectReason::NOT_SPECIFIED, DENIED));
        }
        if slot.state != SlotState::Negotiating {
            // An alter_context on an established context only adds presentation contexts.
            return Ok(None);
        }
        match slot.ctx.step(Some(&a.value)) {
            Ok(AuthStep::Continue(token)) => Ok(Some(answer_trailer(a, token))),
            Ok(AuthStep::Complete(token)) => {
                self.established(id);
                // A leg that carried a trailer is answered with one, even when the package has
                // nothing more to say: Windows sends an 8-byte trailer with an empty token
                // (auth_length 0) on the alter_context_resp that completes NTLM's third leg.
                Ok(Some(answer_trailer(a, token.unwrap_or_default())))
            }
            Err(error) => {
                if fresh {
                    self.auth.remove(&id);
                } else {
                    slot.state = SlotState::Failed;
                }
                // A package that cannot give the level asked for (SPNEGO's NTLM session does not
                // seal at privacy) faults an alter_context leg with RPC_S_SEC_PKG_ERROR, as
                // Windows (the suite's test_spnego_privacy_bind_{none,sign}); a refused logon
                // or a bad token with access denied.
                let status = if error.kind == AuthFailure::Package {
                    FaultStatus(Win32Status::RPC_S_SEC_PKG_ERROR.0)
                } else {
                    DENIED
                };
                self.events.push_back(ServerEvent::AuthFailed {
                    context_id: id,
                    error,
                });
                Err((RejectReason::NOT_SPECIFIED, status))
            }
        }
    }

    fn established(&mut self, id: u32) {
        if let Some(slot) = self.auth.get_mut(&id) {
            slot.state = SlotState::Established;
            self.events.push_back(ServerEvent::Authenticated {
                context_id: id,
                auth_type: slot.ctx.auth_type(),
                level: slot.ctx.auth_level(),
                peer: slot.ctx.peer_identity(),
            });
        }
    }

    /// rpc_auth_3: the last leg of a three-leg package (NTLM). Nothing is sent back; a failure
    /// marks the context failed, and its first request is refused with `ERROR_ACCESS_DENIED`.
    fn on_auth3(&mut self, pdu: Pdu) -> Result<(), Error> {
        if self.state != State::Bound {
            return Err(Error::NotBound);
        }
        let Some(a) = pdu.auth else {
            return Err(Error::Auth("rpc_auth_3 without a security trailer"));
        };
        let Some(slot) = self.auth.get_mut(&a.context_id) else {
            return Err(Error::Auth("rpc_auth_3 for an unknown security context"));
        };
        if slot.state != SlotState::Negotiating
            || slot.ctx.auth_type() != a.auth_type
            || slot.ctx.auth_level() != a.auth_level
        {
            slot.state = SlotState::Failed;
            return Ok(());
        }
        let failure = match slot.ctx.step(Some(&a.value)) {
            Ok(AuthStep::Complete(None)) => None,
            // rpc_auth_3 has no answer: a package that completes with a token still to send
            // (SPNEGO's accept-completed) has not finished for its peer, and fails, as Windows
            // (the suite's test_spnego_auth3). SPNEGO's last leg belongs in alter_context.
            Ok(AuthStep::Complete(Some(_))) => Some(AuthError::new(
                AuthFailure::BadToken,
                "the package has a token to answer rpc_auth_3 with, and rpc_auth_3 has no answer",
            )),
            Ok(AuthStep::Continue(_)) => Some(AuthError::new(
                AuthFailure::BadToken,
                "the package wants another leg after rpc_auth_3",
            )),
            Err(error) => Some(error),
        };
        match failure {
            None => self.established(a.context_id),
            Some(error) => {
                slot.state = SlotState::Failed;
                self.events.push_back(ServerEvent::AuthFailed {
                    context_id: a.context_id,
                    error,
                });
            }
        }
        Ok(())
    }

    /// The security of a call: its trailer's context, or the association's connect-level
    /// context for a request without a trailer.
    fn call_auth(&self, auth_id: Option<u32>) -> Option<CallAuth> {
        let (id, slot) = match auth_id {
            Some(id) => (id, self.auth.get(&id)?),
            None => {
                let mut connect = self.auth.iter().filter(|(_, s)| {
                    s.state == SlotState::Established && s.ctx.auth_level() == AuthLevel::CONNECT
                });
                let (id, slot) = connect.next()?;
                (*id, slot)
            }
        };
        if slot.state != SlotState::Established {
            return None;
        }
        Some(CallAuth {
            auth_type: slot.ctx.auth_type(),
            level: slot.ctx.auth_level(),
            context_id: id,
            peer: slot.ctx.peer_identity(),
        })
    }

    /// Fault a request that failed its security check (never dispatched) and close. As Windows
    /// does (the suite's `_test_auth_none_level_request`, `test_ntlmssp_auth_middle_*`), the
    /// fault names the request's presentation context and has no `PFC_DID_NOT_EXECUTE`.
    fn refuse_and_close(
        &mut self,
        call_id: u32,
        context_id: u16,
        status: FaultStatus,
        error: Error,
    ) {
        self.reassembler.discard(call_id);
        self.reassembling_auth = None;
        self.queue_fault(call_id, context_id, 0, status, false);
        self.finish(
            ConnectionError::Protocol {
                initiator: Initiator::Remote,
                error,
            },
            true,
        );
    }

    fn on_cancel(&mut self, call_id: u32) {
        if let Some(c) = self.calls.get_mut(&call_id) {
            c.cancel_count = c.cancel_count.saturating_add(1);
            self.events.push_back(ServerEvent::Cancel { call_id });
        } else if self.reassembler.contains(call_id) {
            // Cancelled while its request is still arriving: dispatch it as pending-cancel.
            self.cancelled_partial = Some(call_id);
        }
    }

    fn on_orphaned(&mut self, call_id: u32) {
        let was_partial = self.reassembler.discard(call_id);
        if self.discarding == Some(call_id) {
            self.discarding = None;
        }
        let was_active = self.calls.remove(&call_id).is_some();
        // A response not yet started is dropped; one being sent finishes to keep the stream sane.
        self.responses.retain(|o| o.call_id != call_id);
        if was_active {
            self.events.push_back(ServerEvent::Orphaned { call_id });
        }
        let _ = was_partial;
    }

    /// A failure of one call that leaves the association intact.
    fn call_error(&mut self, e: Error, call_id: u32, context_id: u16) {
        if let WireReaction::Fault {
            status,
            did_not_execute,
        } = e.reaction()
        {
            self.queue_fault(call_id, context_id, 0, status, did_not_execute);
        }
    }

    /// The one place where a protocol error becomes bytes on the wire and/or a close.
    fn protocol_error(&mut self, e: Error, header: Option<Header>, stream_broken: bool) {
        let reaction = e.reaction();
        let call_id = header.map(|h| h.call_id).or(self.raw_call_id.take());
        let is_bind = header
            .is_some_and(|h| h.ptype == PacketType::BIND || h.ptype == PacketType::ALTER_CONTEXT);
        let close = match reaction {
            WireReaction::Fault {
                status,
                did_not_execute,
            } => {
                if let Some(id) = call_id {
                    self.queue_fault(id, 0, 0, status, did_not_execute);
                }
                stream_broken
            }
            WireReaction::BindNak(reason) => {
                let is_alter = header.is_some_and(|h| h.ptype == PacketType::ALTER_CONTEXT);
                if is_alter && !stream_broken {
                    // alter_context has no nak: fault it and keep the association.
                    if let Some(id) = call_id {
                        self.queue_fault(id, 0, 0, FaultStatus::NCA_S_PROTO_ERROR, true);
                    }
                    false
                } else {
                    if self.state == State::AwaitingBind || is_bind {
                        self.queue_bind_nak(call_id.unwrap_or(0), reason);
                    }
                    // Windows closes the connection after every bind_nak.
                    true
                }
            }
            WireReaction::FaultAndClose => {
                // A fault the connection does not survive carries no PFC_DID_NOT_EXECUTE: Windows
                // sends 0x03 before it disconnects (the suite's test_ntlmssp_auth_middle_alone).
                if let Some(id) = call_id {
                    self.queue_fault(id, 0, 0, FaultStatus::NCA_S_PROTO_ERROR, false);
                }
                true
            }
            WireReaction::Close => true,
        };
        if close {
            self.finish(
                ConnectionError::Protocol {
                    initiator: Initiator::Remote,
                    error: e,
                },
                true,
            );
        }
    }

    fn finish(&mut self, error: ConnectionError, keep_control: bool) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        if !keep_control {
            self.control.clear();
        }
        self.current = None;
        self.responses.clear();
        self.calls.clear();
        self.auth.clear();
        self.reassembler = Reassembler::new(0, false);
        self.framer = PduFramer::new();
        self.events.push_back(ServerEvent::Closed { error });
    }

    fn queue_fault(
        &mut self,
        call_id: u32,
        context_id: u16,
        cancel_count: u8,
        status: FaultStatus,
        dne: bool,
    ) {
        let mut flags = PfcFlags::FIRST_AND_LAST;
        if dne {
            flags = flags | PfcFlags::DID_NOT_EXECUTE;
        }
        let body = PduBody::Fault(Fault {
            alloc_hint: FAULT_ALLOC_HINT,
            context_id,
            cancel_count,
            flags: 0,
            status,
            reserved: 0,
            stub: Bytes::new(),
        });
        self.queue_pdu(Pdu::new(call_id, flags, body));
    }

    /// Refuse a bind and end the association: Windows disconnects after every bind_nak (the
    /// suite's `_test_auth_type_level_bind_nak`, `test_no_auth_valid_valid_request`: "wait for a
    /// disconnect").
    fn nak_and_close(&mut self, call_id: u32, reason: RejectReason) {
        self.queue_bind_nak(call_id, reason);
        self.finish(ConnectionError::BindRejected(reason), true);
    }

    fn queue_bind_nak(&mut self, call_id: u32, reason: RejectReason) {
        // reason (2) + count (1) + one version (2) after the 16-byte header: Windows pads the
        // body to a multiple of 4 with 3 zero bytes (the suite's assertPadding(rep.u._pad, 3)).
        let body = PduBody::BindNak(BindNak {
            reason,
            versions: vec![(5, 0)],
            extra: Bytes::from_static(&[0; 3]),
        });
        self.queue_pdu(Pdu::new(call_id, PfcFlags::FIRST_AND_LAST, body));
    }

    fn queue_pdu(&mut self, pdu: Pdu) {
        // Emission of PDUs built here cannot fail (all counts are bounded by what was parsed).
        if let Ok(b) = pdu.emit() {
            self.control.push_back(b);
        }
    }
}

/// The smallest fragment size Windows negotiates, whatever the client offers (the suite's
/// `test_neg_xmit_0_0`: a bind offering 0 and 0 is answered with 2048).
const MIN_NEGOTIATED_FRAG: u16 = 2048;

/// The fragment size a bind negotiates, as Windows: the smallest of the client's
/// `max_xmit_frag`, its `max_recv_frag` and the server's own limit, raised to 2048 (but never
/// above the server's limit), rounded down to a multiple of 8 (the suite's `test_neg_xmit_*`:
/// 0xffff/3199 gives 3192, 0/0xffff gives 2048). The bind_ack carries it in both fields.
fn negotiate_frag(peer_xmit: u16, peer_recv: u16, own: u16) -> u16 {
    let n = peer_xmit.min(peer_recv).min(own);
    n.max(MIN_NEGOTIATED_FRAG.min(own)) & !7
}

/// `alloc_hint` of a fault with no stub. Windows and Samba never send 0 there (the suite asserts
/// it, e.g. `_test_auth_none_level_request`); Samba 4.17 sends 24 (captures/impacket-to-samba-*).
const FAULT_ALLOC_HINT: u32 = 24;

/// The presentation context a request names (0 for a continuation fragment).
fn request_context(pdu: &Pdu) -> u16 {
    match &pdu.body {
        PduBody::Request(r) => r.context_id,
        _ => 0,
    }
}

/// The trailer of a bind_ack / alter_context_resp answering `a` with `token`.
fn answer_trailer(a: &AuthVerifier, token: Vec<u8>) -> AuthVerifier {
    AuthVerifier::new(a.auth_type, a.auth_level, a.context_id, Bytes::from(token))
}

/// Check the verification trailer (MS-RPCE 2.2.2.13) at the end of a protected request's stub,
/// if there is one, against the call; `Ok` is the stub length without it.
fn check_verification_trailer(
    msg: &crate::frag::Message,
    ctx: &PresentationContext,
) -> Result<usize, ()> {
    let little = msg.drep.is_little_endian();
    let Some((at, vt)) = VerificationTrailer::find(&msg.stub, little) else {
        return Ok(msg.stub.len());
    };
    for entry in &vt.commands {
        match &entry.command {
            VtCommand::Bitmask1(_) => {}
            VtCommand::PContext {
                interface,
                transfer_syntax,
            } => {
                if *interface != ctx.interface || *transfer_syntax != ctx.transfer_syntax {
                    return Err(());
                }
            }
            VtCommand::Header2 {
                ptype,
                drep,
                call_id,
                context_id,
                opnum,
                ..
            } => {
                if *ptype != PacketType::REQUEST
                    || *drep != msg.drep
                    || *call_id != msg.call_id
                    || *context_id != msg.context_id
                    || *opnum != msg.opnum
                {
                    return Err(());
                }
            }
            _ => {
                if entry.must_process {
                    return Err(());
                }
            }
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_is_send() {
        fn is_send<T: Send>() {}
        is_send::<ServerConnection>();
    }

    #[test]
    fn fragment_size_negotiation_follows_windows() {
        assert_eq!(negotiate_frag(0xffff, 0xffff, 5840), 5840);
        assert_eq!(negotiate_frag(0, 0xffff, 5840), 2048);
        assert_eq!(negotiate_frag(0xffff, 0, 5840), 2048);
        assert_eq!(negotiate_frag(3199, 0xffff, 5840), 3192);
        assert_eq!(negotiate_frag(0xffff, 3199, 5840), 3192);
        assert_eq!(negotiate_frag(4280, 4280, 5840), 4280);
        // A server configured below 2048 never sends more than its own limit.
        assert_eq!(negotiate_frag(0xffff, 0xffff, 1024), 1024);
    }
}
