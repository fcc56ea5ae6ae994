//! The server side of one connection: association and call state machine, sans-IO.
//!
//! This file holds the connection, its configuration and events, its public API and the PDU
//! dispatch; `bind.rs` answers bind, alter_context and rpc_auth_3; `call.rs` takes requests,
//! co_cancel and orphaned; `answer.rs` is where errors become faults, bind_naks and the close.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use msrpc_ndr::{DataRep, Syntax};
use uuid::Uuid;

use crate::auth::{Acceptor, AuthError, PeerIdentity, SecurityContext};
use crate::error::{ConnectionError, Error, Initiator};
use crate::frag::{Frame, OutKind, Outgoing, Reassembler, Stub};
use crate::idmap::IdMap;
use crate::input::{Input, Receive, input_api};
use crate::negotiate::{
    BindTimeFeatures, InterfaceRegistry, PresentationContext, TransferSyntaxPolicy,
};
use crate::status::FaultStatus;
use crate::transmit::{Signers, Transmit, Unsendable};
use crate::wire::{
    AuthLevel, AuthType, Drep, Execution, PacketType, Pdu, PduBody, PfcFlags, RejectReason,
    SyntaxId,
};

mod answer;
mod bind;
mod call;
mod fast;

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
    /// Largest reassembled request stub. Default 4 MiB (MS-RPCE 3.3.3.5.4). A call over the limit,
    /// or whose first fragment announces more (`alloc_hint`), is faulted with status 5
    /// (`ERROR_ACCESS_DENIED`, as that section says; pfc_flags 0x03) and the connection is closed,
    /// as Windows (the raw suite's test_fragmented_requests04 and 05).
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
    /// Security contexts (`auth_context_id`s) one connection may open. Past it, an
    /// alter_context that opens another is faulted `nca_s_proto_error` and the connection
    /// closed. Default 2049, Windows' limit (the suite's test_multiple_auth_limit); each context
    /// holds a package's session state (a few hundred bytes to a few KiB for NTLM).
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
            max_auth_contexts: 2049,
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
    input: Input,
    state: State,
    assoc_group: u32,
    xmit_frag: usize,
    features: Option<BindTimeFeatures>,
    contexts: IdMap<u16, PresentationContext>,
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
    calls: IdMap<u32, ActiveCall>,
    transmit: Transmit,
    events: VecDeque<ServerEvent>,
    acceptor: Option<Arc<dyn Acceptor>>,
    auth: HashMap<u32, AuthSlot>,
    /// The security context of the request being reassembled (fragments of one call must agree).
    reassembling_auth: Option<Option<u32>>,
    header_sign: bool,
    /// The bind negotiated `PFC_CONC_MPX`.
    mpx: bool,
}

impl Receive for ServerConnection {
    fn input(&mut self) -> &mut Input {
        &mut self.input
    }

    fn closed(&self) -> bool {
        self.state == State::Closed
    }

    fn handle_frame(&mut self, frame: Frame) {
        self.handle_pdu(frame);
    }

    fn framing_error(&mut self, error: Error, call_id: Option<u32>) {
        self.raw_call_id = call_id;
        self.protocol_error(error, None, true);
    }
}

impl Signers for HashMap<u32, AuthSlot> {
    fn signer(&mut self, auth_context_id: u32) -> Option<&mut dyn SecurityContext> {
        self.get_mut(&auth_context_id)
            .map(|slot| &mut *slot.ctx as &mut dyn SecurityContext)
    }
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
            input: Input::default(),
            state: State::AwaitingBind,
            assoc_group: 0,
            features: None,
            contexts: IdMap::default(),
            offered: HashMap::new(),
            reassembler: Reassembler::new(limit, false),
            discarding: None,
            last_call_id: 0,
            cancelled_partial: None,
            raw_call_id: None,
            calls: IdMap::default(),
            transmit: Transmit::default(),
            events: VecDeque::new(),
            acceptor: None,
            auth: HashMap::new(),
            reassembling_auth: None,
            header_sign: false,
            mpx: false,
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

    input_api!();

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
        let mut pdu = Vec::new();
        self.poll_transmit_into(&mut pdu).then_some(pdu)
    }

    /// [`poll_transmit`](Self::poll_transmit), appending the PDU to `buf` (a batch of PDUs to
    /// write together) instead of returning a buffer of its own; false when there is nothing to
    /// send. A transport that writes what `buf` holds in one system call sends the answers
    /// ready together in one write, with no allocation per PDU.
    pub fn poll_transmit_into(&mut self, buf: &mut Vec<u8>) -> bool {
        loop {
            let open = self.state != State::Closed;
            let Some(r) = self
                .transmit
                .poll(buf, self.xmit_frag, open, &mut self.auth)
            else {
                return false;
            };
            match r {
                Ok(()) => return true,
                Err(Unsendable {
                    error: error @ Error::Security(_),
                    ..
                }) => {
                    // The package cannot sign: the sequence is broken, so is the connection.
                    self.finish(
                        ConnectionError::Protocol {
                            initiator: Initiator::Local,
                            error,
                        },
                        true,
                    );
                }
                // A response that cannot be emitted is dropped.
                Err(_) => {}
            }
        }
    }

    /// True if [`poll_transmit`](Self::poll_transmit) has something to return.
    pub fn wants_transmit(&self) -> bool {
        self.transmit.wants(self.state != State::Closed)
    }

    /// PDUs and responses queued for transmission. The runtime stops reading from the transport
    /// while this stays high: a client that never reads must not grow the server's memory, and
    /// faults and bind answers are queued here too.
    pub fn transmit_backlog(&self) -> usize {
        self.transmit.backlog()
    }

    /// Send the response stub (NDR, little-endian) of an active call.
    pub fn respond(&mut self, call_id: u32, stub: impl Into<Stub>) -> Result<(), Error> {
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
            stub.into(),
            Drep::LITTLE_ENDIAN,
        );
        out.auth = call.auth;
        self.transmit.push_call(out);
        Ok(())
    }

    /// Fault an active call; [`Execution::DidNotExecute`] sets `PFC_DID_NOT_EXECUTE` (the manager
    /// routine was not entered: the client may retry). The statuses of
    /// [`FaultStatus::FORBIDDEN_ON_WIRE`] (0 among them) are refused (MS-RPCE 3.3.3.5.1).
    pub fn fault(
        &mut self,
        call_id: u32,
        status: FaultStatus,
        execution: Execution,
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
            execution,
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
        self.transmit.clear_control();
        self.finish(ConnectionError::LocallyClosed, false);
    }

    /// True once the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whole PDUs received so far (mgmt's `rpc_c_stats_pkts_in` counts these, not socket reads).
    pub fn pdus_received(&self) -> u64 {
        self.input.pdus_received()
    }

    /// Bytes held for input: the partial PDU being framed plus the request being reassembled
    /// (bounded by 64 KiB plus `max_request_size`).
    pub fn buffered_bytes(&self) -> usize {
        self.input.buffered() + self.reassembler.buffered()
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

    fn handle_pdu(&mut self, frame: Frame) {
        let Frame { header, bytes: raw } = frame;
        let pdu = match Pdu::decode(&header, &raw) {
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
                self.queue_fault(
                    header.call_id,
                    0,
                    0,
                    FaultStatus::NCA_S_PROTO_ERROR,
                    Execution::DidNotExecute,
                );
                return self.finish(
                    ConnectionError::Protocol {
                        initiator: Initiator::Remote,
                        error: e,
                    },
                    true,
                );
            }
            Err(e @ Error::BadAuthLength(_))
                if header.ptype == PacketType::AUTH3 && self.state == State::Bound =>
            {
                // An rpc_auth_3 whose auth_pad_length does not fit is faulted
                // nca_s_fault_remote_no_memory with PFC_DID_NOT_EXECUTE, naming context 0, then
                // the close, as Windows (the suite's test_ntlmssp_auth_pad_fail_auth3).
                self.queue_fault(
                    header.call_id,
                    0,
                    0,
                    FaultStatus::NCA_S_FAULT_REMOTE_NO_MEMORY,
                    Execution::DidNotExecute,
                );
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
