//! The one place where a protocol error becomes bytes on the wire (a fault or a bind_nak) and/or
//! the end of the connection.

use bytes::Bytes;

use super::{ServerConnection, ServerEvent, State};
use crate::error::{ConnectionError, Error, Initiator, WireReaction};
use crate::frag::Reassembler;
use crate::status::FaultStatus;
use crate::wire::{
    BindNak, Execution, Fault, Header, PacketType, Pdu, PduBody, PfcFlags, RejectReason,
};

impl ServerConnection {
    /// The one place where a protocol error becomes bytes on the wire and/or a close.
    pub(super) fn protocol_error(&mut self, e: Error, header: Option<Header>, stream_broken: bool) {
        let reaction = e.reaction();
        let call_id = header.map(|h| h.call_id).or(self.raw_call_id.take());
        let is_bind = header
            .is_some_and(|h| h.ptype == PacketType::BIND || h.ptype == PacketType::ALTER_CONTEXT);
        let close = match reaction {
            WireReaction::Fault { status, execution } => {
                if let Some(id) = call_id {
                    self.queue_fault(id, 0, 0, status, execution);
                }
                stream_broken
            }
            WireReaction::BindNak(reason) => {
                let is_alter = header.is_some_and(|h| h.ptype == PacketType::ALTER_CONTEXT);
                if is_alter && !stream_broken {
                    // alter_context has no nak: fault it and keep the association.
                    if let Some(id) = call_id {
                        self.queue_fault(
                            id,
                            0,
                            0,
                            FaultStatus::NCA_S_PROTO_ERROR,
                            Execution::DidNotExecute,
                        );
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
                    self.queue_fault(
                        id,
                        0,
                        0,
                        FaultStatus::NCA_S_PROTO_ERROR,
                        Execution::MayHaveExecuted,
                    );
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

    pub(super) fn finish(&mut self, error: ConnectionError, keep_control: bool) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        if !keep_control {
            self.transmit.clear_control();
        }
        self.transmit.clear_calls();
        self.calls.clear();
        self.auth.clear();
        self.reassembler = Reassembler::new(0, false);
        self.input.discard();
        self.events.push_back(ServerEvent::Closed { error });
    }

    pub(super) fn queue_fault(
        &mut self,
        call_id: u32,
        context_id: u16,
        cancel_count: u8,
        status: FaultStatus,
        execution: Execution,
    ) {
        let flags = PfcFlags::FIRST_AND_LAST | execution.flags();
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
    pub(super) fn nak_and_close(&mut self, call_id: u32, reason: RejectReason) {
        self.queue_bind_nak(call_id, reason);
        self.finish(ConnectionError::BindRejected(reason), true);
    }

    pub(super) fn queue_bind_nak(&mut self, call_id: u32, reason: RejectReason) {
        // reason (2) + count (1) + one version (2) after the 16-byte header: Windows pads the
        // body to a multiple of 4 with 3 zero bytes (the suite's assertPadding(rep.u._pad, 3)).
        let body = PduBody::BindNak(BindNak {
            reason,
            versions: vec![(5, 0)],
            extra: Bytes::from_static(&[0; 3]),
        });
        self.queue_pdu(Pdu::new(call_id, PfcFlags::FIRST_AND_LAST, body));
    }

    pub(super) fn queue_pdu(&mut self, pdu: Pdu) {
        // Emission of PDUs built here cannot fail (all counts are bounded by what was parsed).
        if let Ok(b) = pdu.emit() {
            self.transmit.push_control(b);
        }
    }
}

/// `alloc_hint` of a fault with no stub. Windows and Samba never send 0 there (the suite asserts
/// it, e.g. `_test_auth_none_level_request`); Samba 4.17 sends 24 (captures/impacket-to-samba-*).
pub(super) const FAULT_ALLOC_HINT: u32 = 24;
