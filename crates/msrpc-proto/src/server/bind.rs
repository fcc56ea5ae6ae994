//! bind, alter_context and rpc_auth_3: presentation contexts, fragment sizes and the security
//! exchange.

use bytes::Bytes;

use super::{AuthSlot, ServerConnection, ServerEvent, SlotState, State};
use crate::auth::{AuthError, AuthFailure, AuthStep};
use crate::error::{ConnectionError, Error, Initiator};
use crate::negotiate::{malformed_context_list, negotiate_server};
use crate::status::{FaultStatus, Win32Status};
use crate::wire::{
    AuthLevel, AuthType, AuthVerifier, BindAck, Execution, Pdu, PduBody, PfcFlags, RejectReason,
};

impl ServerConnection {
    pub(super) fn on_bind(&mut self, pdu: Pdu, alter: bool) -> Result<(), Error> {
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
                self.queue_fault(
                    call_id,
                    0,
                    0,
                    FaultStatus::NCA_S_PROTO_ERROR,
                    Execution::DidNotExecute,
                );
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
                self.queue_fault(
                    call_id,
                    0,
                    0,
                    FaultStatus::NCA_S_PROTO_ERROR,
                    Execution::DidNotExecute,
                );
                self.finish(
                    ConnectionError::Protocol {
                        initiator: Initiator::Remote,
                        error: Error::Auth("a security leg changed a presentation context"),
                    },
                    true,
                );
                return Ok(());
            }
            if !self.auth.contains_key(&a.context_id)
                && self.auth.len() >= self.config.max_auth_contexts
            {
                // One security context too many (ServerConfig::max_auth_contexts, by default
                // Windows' 2049: the suite's test_multiple_auth_limit): an alter_context is
                // faulted nca_s_proto_error with PFC_DID_NOT_EXECUTE, a bind naked "local limit
                // exceeded"; then the close.
                if alter {
                    self.queue_fault(
                        call_id,
                        0,
                        0,
                        FaultStatus::NCA_S_PROTO_ERROR,
                        Execution::DidNotExecute,
                    );
                    self.finish(
                        ConnectionError::Protocol {
                            initiator: Initiator::Remote,
                            error: Error::Auth("too many security contexts on the connection"),
                        },
                        true,
                    );
                } else {
                    self.nak_and_close(call_id, RejectReason::LOCAL_LIMIT_EXCEEDED);
                }
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
                        self.queue_fault(call_id, 0, 0, status, Execution::DidNotExecute);
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
        if alter
            && neg.accepted.iter().any(|c| {
                self.contexts
                    .get(&c.context_id)
                    .is_some_and(|old| old.transfer_syntax != c.transfer_syntax)
            })
        {
            // An alter_context that would give an accepted presentation context another
            // transfer syntax is faulted nca_s_proto_error with PFC_DID_NOT_EXECUTE, then the
            // close, as Windows (the suite's test_no_auth_presentation_ctx_invalid4); one whose
            // syntaxes are all unknown is only rejected, and the context stays
            // (test_no_auth_presentation_ctx_valid2).
            self.queue_fault(
                call_id,
                0,
                0,
                FaultStatus::NCA_S_PROTO_ERROR,
                Execution::DidNotExecute,
            );
            self.finish(
                ConnectionError::Protocol {
                    initiator: Initiator::Remote,
                    error: Error::Malformed {
                        pdu: pdu.packet_type(),
                        what: "a presentation context's transfer syntax changed",
                    },
                },
                true,
            );
            return Ok(());
        }
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
            self.mpx = true;
        }
        if pdu.flags.contains(PfcFlags::SUPPORT_HEADER_SIGN) && !self.auth.is_empty() {
            // Header signing (MS-RPCE 2.2.2.3) is on for the whole association once a bind or an
            // alter_context of an authenticated association asks for it, with or without a
            // trailer of its own; rpc_auth_3 never turns it on, and nothing turns it off (as
            // Windows: the suite's test_krb5_hdr_sign_delayed1, _delayed2, _delayed3).
            self.header_sign = true;
        }
        // Every context learns it: Kerberos signs the stub only without it.
        for slot in self.auth.values_mut() {
            slot.ctx.set_header_signing(self.header_sign);
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

    /// Open or continue a security context for a bind / alter_context trailer. `Ok` carries the
    /// trailer of the answer; `Err` the bind_nak reason (bind) or fault status (alter_context).
    pub(super) fn bind_auth(
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
        if slot.ctx.auth_type() != a.auth_type || slot.ctx.auth_level() != a.auth_level {
            if slot.state != SlotState::Negotiating {
                return Err((RejectReason::NOT_SPECIFIED, DENIED));
            }
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
        if slot.state == SlotState::Established {
            // A trailer for a context already established starts a new exchange on it, which
            // Windows refuses: the alter_context is faulted access denied, then the close (the
            // suite's test_spnego_connect_reauth_alter). An alter_context that only adds
            // presentation contexts carries no trailer.
            slot.state = SlotState::Failed;
            return Err((RejectReason::NOT_SPECIFIED, DENIED));
        }
        if slot.state != SlotState::Negotiating {
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

    pub(super) fn established(&mut self, id: u32) {
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
    pub(super) fn on_auth3(&mut self, pdu: Pdu) -> Result<(), Error> {
        if self.state != State::Bound {
            return Err(Error::NotBound);
        }
        let Some(a) = pdu.auth else {
            return Err(Error::Auth("rpc_auth_3 without a security trailer"));
        };
        let Some(slot) = self.auth.get_mut(&a.context_id) else {
            return Err(Error::Auth("rpc_auth_3 for an unknown security context"));
        };
        if slot.state == SlotState::Established {
            // rpc_auth_3 on a context already established (a new exchange started there) is
            // faulted nca_s_proto_error with PFC_DID_NOT_EXECUTE, then the close, as Windows (the
            // suite's test_spnego_connect_reauth_auth3).
            slot.state = SlotState::Failed;
            self.queue_fault(
                pdu.call_id,
                0,
                0,
                FaultStatus::NCA_S_PROTO_ERROR,
                Execution::DidNotExecute,
            );
            self.finish(
                ConnectionError::Protocol {
                    initiator: Initiator::Remote,
                    error: Error::Auth("rpc_auth_3 on an established security context"),
                },
                true,
            );
            return Ok(());
        }
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
}

/// The smallest fragment size Windows negotiates, whatever the client offers (the suite's
/// `test_neg_xmit_0_0`: a bind offering 0 and 0 is answered with 2048).
pub(super) const MIN_NEGOTIATED_FRAG: u16 = 2048;

/// The fragment size a bind negotiates, as Windows: the smallest of the client's
/// `max_xmit_frag`, its `max_recv_frag` and the server's own limit, raised to 2048 (but never
/// above the server's limit), rounded down to a multiple of 8 (the suite's `test_neg_xmit_*`:
/// 0xffff/3199 gives 3192, 0/0xffff gives 2048). The bind_ack carries it in both fields.
pub(super) fn negotiate_frag(peer_xmit: u16, peer_recv: u16, own: u16) -> u16 {
    let n = peer_xmit.min(peer_recv).min(own);
    n.max(MIN_NEGOTIATED_FRAG.min(own)) & !7
}

/// The trailer of a bind_ack / alter_context_resp answering `a` with `token`.
pub(super) fn answer_trailer(a: &AuthVerifier, token: Vec<u8>) -> AuthVerifier {
    AuthVerifier::new(a.auth_type, a.auth_level, a.context_id, Bytes::from(token))
}

#[cfg(test)]
mod tests {
    use super::*;

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
