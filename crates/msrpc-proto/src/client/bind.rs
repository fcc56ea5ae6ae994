//! bind and alter_context: the offer, the server's answer, and the security exchange's legs.

use bytes::Bytes;

use super::{BindOutcome, ClientConnection, ClientEvent, PendingBind, RejectedContext, State};
use crate::auth::{AuthError, AuthFailure, AuthStep, SecurityContext};
use crate::error::Error;
use crate::frag::MIN_FRAG;
use crate::negotiate::{BindTimeFeatures, PresentationContext};
use crate::wire::{
    AuthVerifier, Bind, BindAck, BindAckResult, ContextElement, PacketType, Pdu, PduBody, PfcFlags,
    ProviderReason, SyntaxId,
};

impl ClientConnection {
    pub(super) fn send_bind(&mut self, interfaces: &[SyntaxId], alter: bool) -> Result<u32, Error> {
        let mut offered = Vec::new();
        for i in interfaces {
            for ts in &self.config.transfer_syntaxes {
                offered.push(ContextElement {
                    context_id: self.next_context_id,
                    abstract_syntax: *i,
                    transfer_syntaxes: vec![*ts],
                });
                self.next_context_id = self.next_context_id.wrapping_add(1);
            }
        }
        let mut feature_context = None;
        if let (false, Some(f), Some(first)) = (alter, self.config.features, interfaces.first()) {
            feature_context = Some(self.next_context_id);
            offered.push(ContextElement {
                context_id: self.next_context_id,
                abstract_syntax: *first,
                transfer_syntaxes: vec![f.to_syntax()],
            });
            self.next_context_id = self.next_context_id.wrapping_add(1);
        }
        if offered.len() > usize::from(u8::MAX) {
            return Err(Error::TooLarge("n_context_elem"));
        }
        let call_id = self.alloc_call_id();
        let bind = Bind {
            max_xmit_frag: self.config.max_xmit_frag,
            max_recv_frag: self.config.max_recv_frag,
            assoc_group: self.assoc_group,
            contexts: offered.clone(),
        };
        let mut flags = PfcFlags::FIRST_AND_LAST;
        if self.config.conc_mpx {
            flags = flags | PfcFlags::CONC_MPX;
        }
        let body = if alter {
            PduBody::AlterContext(bind)
        } else {
            PduBody::Bind(bind)
        };
        let mut auth = None;
        if let (false, Some(sec)) = (alter, self.security.as_mut()) {
            let token = match sec.ctx.step(None).map_err(Error::Security)? {
                AuthStep::Continue(t) => t,
                AuthStep::Complete(t) => t.unwrap_or_default(),
            };
            auth = Some(sec_trailer(sec.ctx.as_ref(), token));
            flags = flags | PfcFlags::SUPPORT_HEADER_SIGN;
        }
        let mut pdu = Pdu::new(call_id, flags, body);
        pdu.auth = auth;
        self.push_control(pdu)?;
        self.pending_bind = Some(PendingBind {
            call_id,
            alter,
            offered,
            feature_context,
            auth_leg: false,
        });
        if !alter {
            self.state = State::Binding;
        }
        Ok(call_id)
    }

    pub(super) fn on_bind_ack(
        &mut self,
        pending: PendingBind,
        ack: &BindAck,
        conc_mpx: bool,
    ) -> Result<(), Error> {
        if ack.results.len() != pending.offered.len() {
            return Err(Error::Malformed {
                pdu: PacketType::BIND_ACK,
                what: "result count differs from the offered contexts",
            });
        }
        let mut accepted = Vec::new();
        let mut rejected = Vec::new();
        let mut features = if pending.alter { self.features } else { None };
        for (offer, res) in pending.offered.iter().zip(&ack.results) {
            let offered_ts = offer
                .transfer_syntaxes
                .first()
                .copied()
                .unwrap_or(SyntaxId::NIL);
            if Some(offer.context_id) == pending.feature_context {
                if res.result == BindAckResult::NEGOTIATE_ACK {
                    let asked = BindTimeFeatures::from_syntax(&offered_ts).unwrap_or_default();
                    features = Some(BindTimeFeatures(res.reason).intersect(asked));
                }
                continue;
            }
            if res.result == BindAckResult::ACCEPTANCE {
                if !offer.transfer_syntaxes.contains(&res.transfer_syntax) {
                    return Err(Error::Malformed {
                        pdu: PacketType::BIND_ACK,
                        what: "accepted a transfer syntax that was not offered",
                    });
                }
                let c = PresentationContext {
                    context_id: offer.context_id,
                    interface: offer.abstract_syntax,
                    transfer_syntax: res.transfer_syntax,
                };
                self.contexts.insert(c.context_id, c);
                accepted.push(c);
            } else {
                rejected.push(RejectedContext {
                    context_id: offer.context_id,
                    interface: offer.abstract_syntax,
                    transfer_syntax: offered_ts,
                    result: res.result,
                    reason: ProviderReason(res.reason),
                });
            }
        }
        if !pending.alter {
            self.assoc_group = ack.assoc_group;
            self.features = features;
            let peer_recv = ack.max_recv_frag.max(MIN_FRAG);
            self.xmit_frag = usize::from(self.config.max_xmit_frag.min(peer_recv));
            self.state = State::Bound;
        }
        let xmit = u16::try_from(self.xmit_frag).unwrap_or(u16::MAX);
        let outcome = ClientEvent::Bound(BindOutcome {
            alter: pending.alter,
            assoc_group: self.assoc_group,
            sec_addr: ack.sec_addr_str(),
            max_xmit_frag: xmit,
            max_recv_frag: ack.max_xmit_frag,
            features: self.features,
            conc_mpx,
            accepted,
            rejected,
        });
        match (outcome, self.security.as_ref()) {
            (ClientEvent::Bound(b), Some(sec)) if !pending.alter && !sec.established => {
                self.deferred_bound = Some(b);
            }
            (ev, _) => self.events.push_back(ev),
        }
        Ok(())
    }

    /// The bind_ack's security trailer: the server's token. NTLM completes here and sends
    /// rpc_auth_3; SPNEGO may need another leg over alter_context.
    pub(super) fn on_bind_auth(
        &mut self,
        pdu: &Pdu,
        call_id: u32,
        offered: &[ContextElement],
    ) -> Result<(), Error> {
        let Some(sec) = self.security.as_mut() else {
            return Ok(());
        };
        let Some(a) = pdu.auth.as_ref() else {
            return Err(Error::Security(AuthError::new(
                AuthFailure::BadToken,
                "the server accepted the bind without answering its authentication",
            )));
        };
        if a.auth_type != sec.ctx.auth_type() || a.context_id != sec.ctx.context_id() {
            return Err(Error::Auth("bind_ack for another security context"));
        }
        sec.header_sign = pdu.flags.contains(PfcFlags::SUPPORT_HEADER_SIGN);
        sec.ctx.set_header_signing(sec.header_sign);
        match sec.ctx.step(Some(&a.value)).map_err(Error::Security)? {
            AuthStep::Complete(token) => {
                sec.established = true;
                if let Some(t) = token {
                    let trailer = sec_trailer(sec.ctx.as_ref(), t);
                    let mut p = Pdu::new(
                        call_id,
                        PfcFlags::FIRST_AND_LAST,
                        PduBody::Auth3 { pad: [0; 4] },
                    );
                    p.auth = Some(trailer);
                    self.push_control(p)?;
                }
            }
            AuthStep::Continue(t) => {
                let trailer = sec_trailer(sec.ctx.as_ref(), t);
                let first: Vec<ContextElement> = offered.iter().take(1).cloned().collect();
                let leg_id = self.alloc_call_id();
                let bind = Bind {
                    max_xmit_frag: self.config.max_xmit_frag,
                    max_recv_frag: self.config.max_recv_frag,
                    assoc_group: 0,
                    contexts: first.clone(),
                };
                let mut p = Pdu::new(
                    leg_id,
                    PfcFlags::FIRST_AND_LAST,
                    PduBody::AlterContext(bind),
                );
                p.auth = Some(trailer);
                self.push_control(p)?;
                // on_bind_ack takes pending_bind for the bind itself; this one is set after.
                self.next_auth_leg = Some(PendingBind {
                    call_id: leg_id,
                    alter: true,
                    offered: first,
                    feature_context: None,
                    auth_leg: true,
                });
            }
        }
        Ok(())
    }

    /// The answer to an alter_context leg of the security exchange.
    pub(super) fn on_auth_leg(&mut self, auth: Option<&AuthVerifier>) -> Result<(), Error> {
        let Some(sec) = self.security.as_mut() else {
            return Err(Error::UnexpectedPdu(PacketType::ALTER_CONTEXT_RESP));
        };
        let token = auth.map(|a| a.value.clone()).unwrap_or_default();
        match sec.ctx.step(Some(&token)).map_err(Error::Security)? {
            AuthStep::Complete(_) => {
                sec.established = true;
                if let Some(b) = self.deferred_bound.take() {
                    self.events.push_back(ClientEvent::Bound(b));
                }
                Ok(())
            }
            AuthStep::Continue(_) => Err(Error::Security(AuthError::new(
                AuthFailure::BadToken,
                "the security exchange needs more legs than msrpc supports",
            ))),
        }
    }
}

/// The security trailer of a bind-family PDU carrying `token`.
pub(super) fn sec_trailer(ctx: &dyn SecurityContext, token: Vec<u8>) -> AuthVerifier {
    AuthVerifier::new(
        ctx.auth_type(),
        ctx.auth_level(),
        ctx.context_id(),
        Bytes::from(token),
    )
}
