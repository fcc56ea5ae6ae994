//! The server side of one connection: association and call state machine, sans-IO.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use uuid::Uuid;

use crate::error::{ConnectionError, Error, Initiator, WireReaction};
use crate::frag::{MIN_FRAG, OutKind, Outgoing, PduFramer, Reassembler};
use crate::negotiate::{
    BindTimeFeatures, InterfaceRegistry, PresentationContext, TransferSyntaxPolicy,
    negotiate_server,
};
use crate::status::FaultStatus;
use crate::wire::{
    BindAck, BindNak, Drep, Fault, Header, PacketType, Pdu, PduBody, PfcFlags, RejectReason,
    SyntaxId,
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
    /// The negotiated transfer syntax (NDR20 or NDR64).
    pub transfer_syntax: SyntaxId,
    /// The operation number; the runtime faults unknown ones with `nca_s_op_rng_error`.
    pub opnum: u16,
    /// The object UUID, if the request carried one.
    pub object: Option<Uuid>,
    /// The reassembled stub data.
    pub stub: Bytes,
    /// The data representation of the stub.
    pub drep: Drep,
    /// The first fragment had `PFC_MAYBE` (no response expected).
    pub maybe: bool,
    /// The client had a cancel pending when it sent the call (`PFC_PENDING_CANCEL`).
    pub pending_cancel: bool,
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
            xmit_frag: usize::from(config.max_xmit_frag),
            config,
            registry,
            framer: PduFramer::new(),
            state: State::AwaitingBind,
            assoc_group: 0,
            features: None,
            contexts: HashMap::new(),
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
        }
    }

    /// Feed bytes read from the transport, in any chunking.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        self.last_activity = Some(now);
        self.framer.push(bytes);
        while self.state != State::Closed {
            match self.framer.next_pdu(usize::from(u16::MAX)) {
                Ok(Some(raw)) => self.handle_pdu(raw),
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
                match cur.next_fragment(self.xmit_frag) {
                    Ok((bytes, last)) => {
                        if last {
                            self.current = None;
                        }
                        return Some(bytes);
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
        self.responses.push_back(Outgoing::new(
            call_id,
            OutKind::Response {
                context_id: call.context_id,
                cancel_count: call.cancel_count,
            },
            stub,
            Drep::LITTLE_ENDIAN,
        ));
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
            Err(e) => return self.protocol_error(e, Some(header), true),
        };
        let result = match pdu.packet_type() {
            PacketType::BIND => self.on_bind(pdu, false),
            PacketType::ALTER_CONTEXT => self.on_bind(pdu, true),
            PacketType::REQUEST => self.on_request(pdu, raw.len()),
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
                // A second bind on an association: refuse it, keep the association.
                self.queue_bind_nak(call_id, RejectReason::NOT_SPECIFIED);
                return Ok(());
            }
            (true, _) => return Err(Error::NotBound),
        }
        if pdu.auth.is_some() {
            return Err(Error::Auth("no security provider configured"));
        }
        let neg = negotiate_server(
            bind,
            self.registry.as_ref(),
            self.config.transfer_syntax_policy,
            self.config.features,
            self.features.is_some() || alter,
        );
        if !alter {
            self.assoc_group = self.registry.assoc_group(bind.assoc_group);
            self.features = neg.features;
            let peer_recv = bind.max_recv_frag.max(MIN_FRAG);
            let xmit = self.config.max_xmit_frag.min(peer_recv);
            self.xmit_frag = usize::from(xmit);
            self.state = State::Bound;
        }
        for c in &neg.accepted {
            self.contexts.insert(c.context_id, *c);
        }
        let xmit = u16::try_from(self.xmit_frag).unwrap_or(u16::MAX);
        let recv = self.config.max_recv_frag;
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
        let mut flags = PfcFlags::FIRST_AND_LAST;
        if self.config.conc_mpx && pdu.flags.contains(PfcFlags::CONC_MPX) {
            flags = flags | PfcFlags::CONC_MPX;
        }
        let body = if alter {
            PduBody::AlterContextResp(ack)
        } else {
            PduBody::BindAck(ack)
        };
        self.queue_pdu(Pdu::new(call_id, flags, body));
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

    fn on_request(&mut self, pdu: Pdu, raw_len: usize) -> Result<(), Error> {
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
        if pdu.auth.is_some() {
            return Err(Error::Auth(
                "request with a security trailer on an unauthenticated association",
            ));
        }
        let max = usize::from(self.config.max_recv_frag);
        if raw_len > max {
            return Err(Error::FragmentTooLarge { len: raw_len, max });
        }
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
                self.call_error(Error::UnknownContext(ctx), call_id, ctx);
                return Ok(());
            }
        }
        match self.reassembler.push(pdu) {
            Ok(None) => Ok(()),
            Ok(Some(msg)) => {
                let ctx = self
                    .contexts
                    .get(&msg.context_id)
                    .copied()
                    .ok_or(Error::UnknownContext(msg.context_id))?;
                let cancelled = self.cancelled_partial == Some(call_id);
                if cancelled {
                    self.cancelled_partial = None;
                }
                self.calls.insert(
                    call_id,
                    ActiveCall {
                        context_id: msg.context_id,
                        cancel_count: u8::from(cancelled),
                    },
                );
                self.events.push_back(ServerEvent::Call(IncomingCall {
                    call_id,
                    context_id: msg.context_id,
                    interface: ctx.interface,
                    transfer_syntax: ctx.transfer_syntax,
                    opnum: msg.opnum,
                    object: msg.object,
                    stub: msg.stub,
                    drep: msg.drep,
                    maybe: msg.first_flags.contains(PfcFlags::MAYBE),
                    pending_cancel: msg.first_flags.contains(PfcFlags::PENDING_CANCEL) || cancelled,
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
                    stream_broken || !is_bind
                }
            }
            WireReaction::FaultAndClose => {
                if let Some(id) = call_id {
                    self.queue_fault(id, 0, 0, FaultStatus::NCA_S_PROTO_ERROR, true);
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
            alloc_hint: 0,
            context_id,
            cancel_count,
            flags: 0,
            status,
            reserved: 0,
            stub: Bytes::new(),
        });
        self.queue_pdu(Pdu::new(call_id, flags, body));
    }

    fn queue_bind_nak(&mut self, call_id: u32, reason: RejectReason) {
        let body = PduBody::BindNak(BindNak {
            reason,
            versions: vec![(5, 0)],
            extra: Bytes::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_is_send() {
        fn is_send<T: Send>() {}
        is_send::<ServerConnection>();
    }
}
