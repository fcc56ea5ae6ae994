//! What the server sends: the PDU dispatch, responses and faults, and the verification of
//! protected fragments.

use bytes::Bytes;
use msrpc_ndr::DataRep;

use super::{ClientConnection, ClientEvent, State};
use crate::auth::{AuthError, AuthFailure, level_protects, verify_decoded};
use crate::error::{ConnectionError, Error, Initiator};
use crate::frag::Frame;
use crate::negotiate::PresentationContext;
use crate::status::FaultStatus;
use crate::wire::{Execution, PacketType, Pdu, PduBody, PfcFlags};

impl ClientConnection {
    pub(super) fn handle_pdu(&mut self, pdu: Pdu) -> Result<(), Error> {
        match pdu.body {
            PduBody::BindAck(ref ack) | PduBody::AlterContextResp(ref ack) => {
                let alter = pdu.packet_type() == PacketType::ALTER_CONTEXT_RESP;
                let pending = match self.pending_bind.take() {
                    Some(p) if p.alter == alter && p.call_id == pdu.call_id => p,
                    other => {
                        self.pending_bind = other;
                        return Err(Error::UnexpectedPdu(pdu.packet_type()));
                    }
                };
                let conc = pdu.flags.contains(PfcFlags::CONC_MPX);
                if pending.auth_leg {
                    return self.on_auth_leg(pdu.auth.as_ref());
                }
                if !pending.alter && self.security.is_some() {
                    self.on_bind_auth(&pdu, pending.call_id, &pending.offered)?;
                }
                self.on_bind_ack(pending, ack, conc)?;
                if let Some(leg) = self.next_auth_leg.take() {
                    self.pending_bind = Some(leg);
                }
                Ok(())
            }
            PduBody::BindNak(nak) => {
                if self.state != State::Binding {
                    return Err(Error::UnexpectedPdu(PacketType::BIND_NAK));
                }
                self.pending_bind = None;
                self.events.push_back(ClientEvent::BindRejected {
                    reason: nak.reason,
                    versions: nak.versions,
                });
                self.finish(ConnectionError::BindRejected(nak.reason), false);
                Ok(())
            }
            PduBody::Response(_) => {
                let call_id = pdu.call_id;
                if !self.calls.contains_key(&call_id) {
                    // Orphaned or unknown call: discard (bounded: nothing is buffered).
                    self.reassembler.discard(call_id);
                    return Ok(());
                }
                // The server answered before the whole request went out: stop sending it.
                self.transmit.stop_current(call_id);
                match self.reassembler.push(pdu)? {
                    None => Ok(()),
                    Some(msg) => {
                        if let Some(sec) = self.security.as_mut() {
                            sec.confirmed = true;
                        }
                        let call = self.calls.remove(&call_id);
                        let syntax = call
                            .and_then(|c| self.contexts.get(&c.context_id))
                            .map(PresentationContext::syntax)
                            .unwrap_or_default();
                        self.events.push_back(match DataRep::parse(msg.drep.0) {
                            Ok(drep) => ClientEvent::Response {
                                call_id,
                                stub: msg.stub,
                                syntax,
                                drep,
                                cancel_count: msg.cancel_count,
                            },
                            Err(_) => ClientEvent::Fault {
                                call_id,
                                status: FaultStatus::NCA_S_UNSUPPORTED_TYPE,
                                execution: Execution::MayHaveExecuted,
                                stub: Bytes::new(),
                            },
                        });
                        Ok(())
                    }
                }
            }
            PduBody::Fault(f) => {
                let call_id = pdu.call_id;
                if let Some((alter, leg)) = self
                    .pending_bind
                    .as_ref()
                    .filter(|p| p.call_id == call_id)
                    .map(|p| (p.alter, p.auth_leg))
                {
                    self.pending_bind = None;
                    if alter && !leg {
                        self.events
                            .push_back(ClientEvent::AlterContextFailed { status: f.status });
                    } else if leg {
                        // The server refused the last leg of the security exchange: the logon.
                        self.finish(
                            ConnectionError::Protocol {
                                initiator: Initiator::Remote,
                                error: Error::Security(AuthError::new(
                                    AuthFailure::LogonFailure,
                                    format!(
                                        "the server refused the logon (fault {:#x})",
                                        f.status.0
                                    ),
                                )),
                            },
                            false,
                        );
                    } else {
                        self.finish(ConnectionError::BindFaulted(f.status), false);
                    }
                    return Ok(());
                }
                if self.calls.remove(&call_id).is_none() {
                    return Ok(());
                }
                self.reassembler.discard(call_id);
                self.transmit.stop_current(call_id);
                self.transmit.drop_queued(call_id);
                // MS-RPCE 3.3.2.5.1: a status servers must not send is a protocol error.
                let status = if f.status.is_forbidden_on_wire() {
                    FaultStatus::NCA_S_PROTO_ERROR
                } else {
                    f.status
                };
                // The first answer on a freshly authenticated association being a protocol error
                // is the server refusing the credentials: rpc_auth_3 has no reply, and
                // samba-dcerpcd reports a failed NTLM logon this way where Windows sends
                // ERROR_ACCESS_DENIED. Report it as the access denied it is.
                let status = match self.security.as_ref() {
                    Some(sec)
                        if sec.established
                            && !sec.confirmed
                            && status == FaultStatus::NCA_S_PROTO_ERROR =>
                    {
                        FaultStatus::ACCESS_DENIED
                    }
                    _ => status,
                };
                self.events.push_back(ClientEvent::Fault {
                    call_id,
                    status,
                    execution: Execution::from_flags(pdu.flags),
                    stub: f.stub,
                });
                Ok(())
            }
            PduBody::Shutdown => {
                if !self.shutdown {
                    self.shutdown = true;
                    self.events.push_back(ClientEvent::Shutdown);
                }
                Ok(())
            }
            other => Err(Error::UnexpectedPdu(other.packet_type())),
        }
    }

    /// Parse a received PDU, verifying (and unsealing) response and fault fragments when the
    /// association is protected.
    pub(super) fn unprotect(&mut self, frame: Frame) -> Result<Pdu, Error> {
        let Frame { header, bytes: raw } = frame;
        let Some(sec) = self
            .security
            .as_mut()
            .filter(|s| s.established && level_protects(s.ctx.auth_level()))
        else {
            return Pdu::decode(&header, &raw);
        };
        let signed = header.ptype == PacketType::RESPONSE
            || (header.ptype == PacketType::FAULT && header.auth_length > 0);
        if !signed {
            return Pdu::decode(&header, &raw);
        }
        if header.auth_length == 0 {
            return Err(Error::Security(AuthError::new(
                AuthFailure::Tampered,
                "a response without a signature on a protected association",
            )));
        }
        let pdu = Pdu::decode(&header, &raw)?;
        verify_decoded(pdu, &raw, sec.ctx.as_mut())
    }
}
