//! bind, alter_context and their answers: presentation contexts, results and reasons.

use std::fmt;

use bytes::Bytes;

use super::{Reader, SyntaxId};
use crate::error::Error;

open_code!(
    /// The result of one presentation context in bind_ack / alter_context_resp.
    BindAckResult(u16), "6" {
    /// Accepted.
    ACCEPTANCE = 0;
    /// Rejected by the user (server application).
    USER_REJECTION = 1;
    /// Rejected by the RPC runtime; see [`ProviderReason`].
    PROVIDER_REJECTION = 2;
    /// Bind-time feature negotiation answer; the reason field holds the accepted
    /// [`BindTimeFeatures`](crate::negotiate::BindTimeFeatures) (MS-RPCE 3.3.1.5.3).
    NEGOTIATE_ACK = 3;
});

open_code!(
    /// The reason of a rejected presentation context (`p_provider_reason_t`).
    ProviderReason(u16), "6" {
    /// Reason not specified.
    NOT_SPECIFIED = 0;
    /// The abstract syntax (interface) is not supported.
    ABSTRACT_SYNTAX_NOT_SUPPORTED = 1;
    /// None of the proposed transfer syntaxes is supported.
    PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED = 2;
    /// A local limit was exceeded.
    LOCAL_LIMIT_EXCEEDED = 3;
});

open_code!(
    /// The reason in a bind_nak (`p_reject_reason_t`, C706 §12.6.4.5).
    RejectReason(u16), "6" {
    /// Reason not specified.
    NOT_SPECIFIED = 0;
    /// Temporary congestion.
    TEMPORARY_CONGESTION = 1;
    /// A local limit was exceeded.
    LOCAL_LIMIT_EXCEEDED = 2;
    /// Called presentation address unknown.
    CALLED_PADDR_UNKNOWN = 3;
    /// The protocol version is not supported.
    PROTOCOL_VERSION_NOT_SUPPORTED = 4;
    /// The default context is not supported.
    DEFAULT_CONTEXT_NOT_SUPPORTED = 5;
    /// User data not readable.
    USER_DATA_NOT_READABLE = 6;
    /// No PSAP available.
    NO_PSAP_AVAILABLE = 7;
    /// The authentication type is not recognized.
    AUTHENTICATION_TYPE_NOT_RECOGNIZED = 8;
    /// The checksum is invalid.
    INVALID_CHECKSUM = 9;
});

/// A presentation context element of bind / alter_context (`p_cont_elem_t`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ContextElement {
    /// `p_cont_id`.
    pub context_id: u16,
    /// The interface.
    pub abstract_syntax: SyntaxId,
    /// Offered transfer syntaxes, in preference order.
    pub transfer_syntaxes: Vec<SyntaxId>,
}

/// One entry of the bind_ack result list (`p_result_t`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ContextResult {
    /// Result.
    pub result: BindAckResult,
    /// Reason: a [`ProviderReason`] for rejections, the accepted feature bits for NEGOTIATE_ACK.
    pub reason: u16,
    /// The accepted transfer syntax ([`SyntaxId::NIL`] when rejected).
    pub transfer_syntax: SyntaxId,
}

/// Body of bind and alter_context (C706 §12.6.4.3, §12.6.4.1).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Bind {
    /// `max_xmit_frag`.
    pub max_xmit_frag: u16,
    /// `max_recv_frag`.
    pub max_recv_frag: u16,
    /// `assoc_group_id`: 0 for a new group.
    pub assoc_group: u32,
    /// The presentation contexts.
    pub contexts: Vec<ContextElement>,
}

/// Body of bind_ack and alter_context_resp (C706 §12.6.4.4, §12.6.4.2).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BindAck {
    /// `max_xmit_frag`.
    pub max_xmit_frag: u16,
    /// `max_recv_frag`.
    pub max_recv_frag: u16,
    /// `assoc_group_id`.
    pub assoc_group: u32,
    /// `sec_addr.port_spec` as sent, including its terminating NUL (empty when length 0, as in
    /// alter_context_resp).
    pub sec_addr: Bytes,
    /// The result list, one per offered context.
    pub results: Vec<ContextResult>,
}

impl BindAck {
    /// The secondary address as text, without the terminating NUL.
    pub fn sec_addr_str(&self) -> String {
        let raw = self.sec_addr.strip_suffix(b"\0").unwrap_or(&self.sec_addr);
        String::from_utf8_lossy(raw).into_owned()
    }

    /// A `sec_addr` field for `s`: its bytes and a NUL, or empty for an empty string.
    pub fn sec_addr_from_str(s: &str) -> Bytes {
        if s.is_empty() {
            return Bytes::new();
        }
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        Bytes::from(v)
    }
}

/// Body of bind_nak (C706 §12.6.4.5, with MS-RPCE's additions kept raw in `extra`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BindNak {
    /// The reason.
    pub reason: RejectReason,
    /// Supported protocol versions `(major, minor)`.
    pub versions: Vec<(u8, u8)>,
    /// Anything after the version list (MS-RPCE pad, signature and extended error), kept raw.
    pub extra: Bytes,
}

pub(super) fn parse_bind(r: &mut Reader<'_>) -> Result<Bind, Error> {
    let max_xmit_frag = r.u16()?;
    let max_recv_frag = r.u16()?;
    let assoc_group = r.u32()?;
    let n = r.u8()?;
    r.bytes(3)?; // reserved, reserved2
    // Each element is at least 44 bytes: never allocate for more than the buffer can hold.
    let mut contexts = Vec::with_capacity(usize::from(n).min(r.remaining() / 44));
    for _ in 0..n {
        let context_id = r.u16()?;
        let n_ts = r.u8()?;
        r.u8()?;
        let abstract_syntax = r.syntax()?;
        let mut transfer_syntaxes = Vec::with_capacity(usize::from(n_ts).min(r.remaining() / 20));
        for _ in 0..n_ts {
            transfer_syntaxes.push(r.syntax()?);
        }
        contexts.push(ContextElement {
            context_id,
            abstract_syntax,
            transfer_syntaxes,
        });
    }
    Ok(Bind {
        max_xmit_frag,
        max_recv_frag,
        assoc_group,
        contexts,
    })
}

pub(super) fn parse_bind_ack(r: &mut Reader<'_>) -> Result<BindAck, Error> {
    let max_xmit_frag = r.u16()?;
    let max_recv_frag = r.u16()?;
    let assoc_group = r.u32()?;
    let len = r.u16()?;
    let sec_addr = r.bytes_shared(usize::from(len))?;
    r.align(4)?;
    let n = r.u8()?;
    r.bytes(3)?;
    let mut results = Vec::with_capacity(usize::from(n).min(r.remaining() / 24));
    for _ in 0..n {
        results.push(ContextResult {
            result: BindAckResult(r.u16()?),
            reason: r.u16()?,
            transfer_syntax: r.syntax()?,
        });
    }
    // Windows answers a leg that completed a security context with an empty trailer
    // (auth_length 0, so the 8 bytes are not framed as a trailer): accept what follows the
    // results instead of rejecting it as trailing bytes.
    let _ = r.rest();
    Ok(BindAck {
        max_xmit_frag,
        max_recv_frag,
        assoc_group,
        sec_addr,
        results,
    })
}
