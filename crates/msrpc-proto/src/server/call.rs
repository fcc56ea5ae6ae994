//! Requests, co_cancel and orphaned: verification, reassembly and the calls the runtime gets.

use bytes::Bytes;
use msrpc_ndr::DataRep;

use super::{ActiveCall, CallAuth, IncomingCall, ServerConnection, ServerEvent, SlotState, State};
use crate::auth::{AuthError, AuthFailure, level_protects, verify_continuation, verify_decoded};
use crate::error::{ConnectionError, Error, Initiator, WireReaction};
use crate::negotiate::{BindTimeFeatures, PresentationContext};
use crate::status::{FaultStatus, Win32Status};
use crate::vt::{VerificationTrailer, VtCommand};
use crate::wire::{AuthLevel, Execution, PacketType, Pdu, PduBody, PfcFlags};

impl ServerConnection {
    pub(super) fn on_request(&mut self, pdu: Pdu, raw: &Bytes) -> Result<(), Error> {
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
        if let Some((current, current_ctx)) = self.reassembler.single() {
            return self.on_fragment_during_reassembly(pdu, raw, current, current_ctx);
        }
        let ignored = call_id != self.last_call_id && self.last_call_id.wrapping_sub(call_id) < 150;
        if !first && self.mpx && !ignored && !self.calls.contains_key(&call_id) {
            // With PFC_CONC_MPX, a fragment of an unknown call that is not its first is checked
            // as a request before it is refused, as Windows (the suite's
            // test_ntlmssp_auth_MPX_middle_*): an unknown presentation context is faulted
            // nca_s_unknown_if (context 0, PFC_DID_NOT_EXECUTE) and the connection stays; a
            // trailer naming no established context, or another package or level than its
            // context's, access denied and the close; else nca_s_proto_error naming the
            // fragment's presentation context, and the close.
            let ctx = request_context(&pdu);
            if !self.contexts.contains_key(&ctx) {
                self.call_error(Error::UnknownContext(ctx), call_id, 0);
                return Ok(());
            }
            let (status, why) = match &pdu.auth {
                Some(a)
                    if self.auth.get(&a.context_id).is_none_or(|s| {
                        s.state != SlotState::Established
                            || s.ctx.auth_type() != a.auth_type
                            || s.ctx.auth_level() != a.auth_level
                    }) =>
                {
                    (
                        FaultStatus::ACCESS_DENIED,
                        "a fragment on a security context that is not established",
                    )
                }
                _ => (
                    FaultStatus::NCA_S_PROTO_ERROR,
                    "a fragment of a call whose first fragment never came",
                ),
            };
            let e = Error::Security(AuthError::new(AuthFailure::LogonFailure, why));
            self.refuse_and_close(call_id, ctx, status, e);
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
                let context_id = request_context(&pdu);
                match verify_decoded(pdu, raw, slot.ctx.as_mut()) {
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
                        self.refuse_and_close(call_id, context_id, status, e);
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
            if !last && pdu.flags.contains(PfcFlags::PENDING_CANCEL) {
                // The first of several fragments with PFC_PENDING_CANCEL: Windows faults it
                // RPC_S_NO_CALL_ACTIVE naming context 0, with PFC_DID_NOT_EXECUTE, and closes the
                // connection (the raw suite's test_first_cancel_requests). On a later fragment
                // the flag is ignored (test_2nd_cancel_requests, test_last_cancel_requests), and
                // on a single-fragment request it reaches the manager as a pending cancel.
                self.queue_fault(
                    call_id,
                    0,
                    0,
                    FaultStatus(Win32Status::RPC_S_NO_CALL_ACTIVE.0),
                    Execution::DidNotExecute,
                );
                self.finish(
                    ConnectionError::Protocol {
                        initiator: Initiator::Remote,
                        error: Error::InconsistentFragment(call_id),
                    },
                    true,
                );
                return Ok(());
            }
        }
        self.push_fragment(pdu, call_id, auth_id)
    }

    /// Reassemble a verified request fragment; dispatch the call when it is complete.
    fn push_fragment(&mut self, pdu: Pdu, call_id: u32, auth_id: Option<u32>) -> Result<(), Error> {
        let context_id = request_context(&pdu);
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
                                Execution::DidNotExecute,
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
                        Execution::DidNotExecute,
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
                // As Windows (the raw suite's test_fragmented_requests04 and 05): access denied
                // naming the fragment's presentation context, then the close.
                if let WireReaction::Fault { status, .. } = e.reaction() {
                    self.refuse_and_close(call_id, context_id, status, e);
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// A request fragment while the request `current` (first fragment on presentation context
    /// `current_ctx`) is being reassembled. As Windows (the suite's
    /// test_ntlmssp_multi_auth_first1_* and test_orphaned_request_after_first_*):
    /// - a fragment of another call is nca_s_proto_error and the close; the fault names the call
    ///   in reassembly and its presentation context, or with `PFC_CONC_MPX` the new call and
    ///   context 0; never `PFC_DID_NOT_EXECUTE`;
    /// - a fragment of the same call is verified with the security context of its first
    ///   fragment, whatever its own trailer names (its `auth_type`, `auth_level`,
    ///   `auth_context_id`, `p_cont_id` and `opnum` are ignored): one without a trailer is
    ///   nca_s_proto_error, one that does not verify `RPC_S_SEC_PKG_ERROR`, one with
    ///   `PFC_FIRST_FRAG` again nca_s_proto_error; each names the call's presentation context,
    ///   then the close.
    fn on_fragment_during_reassembly(
        &mut self,
        pdu: Pdu,
        raw: &Bytes,
        current: u32,
        current_ctx: u16,
    ) -> Result<(), Error> {
        let call_id = pdu.call_id;
        let proto = FaultStatus::NCA_S_PROTO_ERROR;
        if call_id != current {
            let e = Error::InterleavedFragments {
                previous: current,
                new: call_id,
            };
            let (id, ctx) = if self.mpx {
                (call_id, 0)
            } else {
                (current, current_ctx)
            };
            self.reassembler.discard(current);
            self.refuse_and_close(id, ctx, proto, e);
            return Ok(());
        }
        let max = usize::from(self.config.max_recv_frag);
        if raw.len() > max {
            return Err(Error::FragmentTooLarge {
                len: raw.len(),
                max,
            });
        }
        let first = pdu.flags.contains(PfcFlags::FIRST_FRAG);
        let call_auth = self.reassembling_auth.flatten();
        let mut pdu = match call_auth {
            None if pdu.auth.is_some() => {
                self.refuse_and_close(
                    call_id,
                    current_ctx,
                    proto,
                    Error::InconsistentFragment(call_id),
                );
                return Ok(());
            }
            None => pdu,
            Some(_) if pdu.auth.is_none() => {
                self.refuse_and_close(
                    call_id,
                    current_ctx,
                    proto,
                    Error::InconsistentFragment(call_id),
                );
                return Ok(());
            }
            Some(id) => match self.auth.get_mut(&id) {
                Some(slot) if level_protects(slot.ctx.auth_level()) => {
                    match verify_continuation(pdu, raw, slot.ctx.as_mut()) {
                        Ok(clear) => clear,
                        Err(e) => {
                            let status = FaultStatus(Win32Status::RPC_S_SEC_PKG_ERROR.0);
                            self.refuse_and_close(call_id, current_ctx, status, e);
                            return Ok(());
                        }
                    }
                }
                _ => pdu,
            },
        };
        if first {
            self.refuse_and_close(
                call_id,
                current_ctx,
                proto,
                Error::InconsistentFragment(call_id),
            );
            return Ok(());
        }
        if let PduBody::Request(r) = &mut pdu.body {
            r.context_id = current_ctx;
        }
        self.push_fragment(pdu, call_id, call_auth)
    }

    /// The security of a call: its trailer's context, or the association's connect-level
    /// context for a request without a trailer.
    pub(super) fn call_auth(&self, auth_id: Option<u32>) -> Option<CallAuth> {
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
    pub(super) fn refuse_and_close(
        &mut self,
        call_id: u32,
        context_id: u16,
        status: FaultStatus,
        error: Error,
    ) {
        self.reassembler.discard(call_id);
        self.reassembling_auth = None;
        self.queue_fault(call_id, context_id, 0, status, Execution::MayHaveExecuted);
        self.finish(
            ConnectionError::Protocol {
                initiator: Initiator::Remote,
                error,
            },
            true,
        );
    }

    pub(super) fn on_cancel(&mut self, call_id: u32) {
        if let Some(c) = self.calls.get_mut(&call_id) {
            c.cancel_count = c.cancel_count.saturating_add(1);
            self.events.push_back(ServerEvent::Cancel { call_id });
        } else if self.reassembler.contains(call_id) {
            // Cancelled while its request is still arriving: dispatch it as pending-cancel.
            self.cancelled_partial = Some(call_id);
        }
    }

    pub(super) fn on_orphaned(&mut self, call_id: u32) {
        let keep = self
            .features
            .is_some_and(|f| f.contains(BindTimeFeatures::KEEP_CONNECTION_ON_ORPHAN));
        if !keep && self.reassembler.contains(call_id) {
            // Without keep-connection-on-orphan, an orphaned PDU for a request still arriving is
            // ignored: its next fragments continue it, as Windows (the suite's
            // test_orphaned_request_after_first_last, _no_last and their _mpx forms). With it,
            // the client abandons the partial request and goes on (MS-RPCE 3.3.1.5.10).
            return;
        }
        let was_partial = self.reassembler.discard(call_id);
        if self.discarding == Some(call_id) {
            self.discarding = None;
        }
        let was_active = self.calls.remove(&call_id).is_some();
        // A response not yet started is dropped; one being sent finishes to keep the stream sane.
        self.transmit.drop_queued(call_id);
        if was_active {
            self.events.push_back(ServerEvent::Orphaned { call_id });
        }
        let _ = was_partial;
    }

    /// A failure of one call that leaves the association intact.
    pub(super) fn call_error(&mut self, e: Error, call_id: u32, context_id: u16) {
        if let WireReaction::Fault { status, execution } = e.reaction() {
            self.queue_fault(call_id, context_id, 0, status, execution);
        }
    }
}

/// The presentation context a request names (0 for a continuation fragment).
pub(super) fn request_context(pdu: &Pdu) -> u16 {
    match &pdu.body {
        PduBody::Request(r) => r.context_id,
        _ => 0,
    }
}

/// Check the verification trailer (MS-RPCE 2.2.2.13) at the end of a protected request's stub,
/// if there is one, against the call; `Ok` is the stub length without it.
pub(super) fn check_verification_trailer(
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
