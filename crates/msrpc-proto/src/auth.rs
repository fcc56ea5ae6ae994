//! Authentication: the provider seam and the per-fragment framing around it.
//!
//! A provider (NTLM, SPNEGO, Kerberos; the runtime wraps the `sspi` crate) implements
//! [`SecurityContext`]. The connection machines call it for the tokens of the bind /
//! bind_ack / rpc_auth_3 / alter_context legs, and to sign, seal and verify every request and
//! response fragment at the packet, integrity and privacy levels. A server gets its contexts from
//! an [`Acceptor`], one per `auth_context_id` the client opens.
//!
//! Framing rules (MS-RPCE 2.2.2.11): the trailer sits in every fragment; before it the
//! stub is padded so that the trailer starts 16-byte aligned relative to the start of the stub
//! data, and `auth_pad_length` counts those bytes. Parsing accepts any pad (impacket pads to 4,
//! Samba to 16). The signature covers the whole PDU from the header to the trailer (NTLM always
//! does; with `PFC_SUPPORT_HEADER_SIGN` every package must); sealing encrypts the stub and pad.
//!
//! Levels: `CONNECT` authenticates the association only (requests and responses carry no
//! trailer); `CALL` is raised to `PACKET` on connection-oriented transports, as Windows does;
//! `PACKET` and `PKT_INTEGRITY` sign every fragment; `PKT_PRIVACY` signs and seals it.

use std::ops::Range;

use bytes::Bytes;

use crate::error::Error;
use crate::wire::{AuthLevel, AuthType, AuthVerifier, HEADER_LEN, Pdu, PduBody, SEC_TRAILER_LEN};

/// The outcome of one step of a security context exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Send this token and expect another from the peer.
    Continue(Vec<u8>),
    /// The context is established; send this token if any (for example in rpc_auth_3).
    Complete(Option<Vec<u8>>),
}

/// What kind of security failure happened; decides the status a caller or peer sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthFailure {
    /// The credentials were refused (wrong user or password): `ERROR_ACCESS_DENIED` on the wire.
    LogonFailure,
    /// A signature, sequence number or sealed payload did not verify: the PDU was altered,
    /// replayed or reordered (`RPC_S_SEC_PKG_ERROR`).
    Tampered,
    /// A token was malformed or arrived out of sequence.
    BadToken,
    /// The package or level is not supported here.
    Unsupported,
    /// The package failed for another reason.
    Package,
}

/// A security provider's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {detail}")]
pub struct AuthError {
    /// The kind.
    pub kind: AuthFailure,
    /// What the package said (never a password or key).
    pub detail: String,
}

impl AuthError {
    /// An error of `kind`.
    pub fn new(kind: AuthFailure, detail: impl Into<String>) -> AuthError {
        AuthError {
            kind,
            detail: detail.into(),
        }
    }
}

/// The authenticated identity of the peer, once a server context is established.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct PeerIdentity {
    /// The user name as the client sent it.
    pub user: String,
    /// The domain as the client sent it (may be empty).
    pub domain: String,
    /// The SIDs of the client's groups when its package says (Kerberos: from the ticket's PAC,
    /// primary group first); empty otherwise.
    pub groups: Vec<String>,
    /// The logon was anonymous (MS-NLMP 3.2.5.1.2, directly or inside SPNEGO): the context is
    /// established but authenticates nobody; `user` and `domain` are Windows' names for it.
    pub anonymous: bool,
}

impl PeerIdentity {
    /// An identity.
    pub fn new(user: impl Into<String>, domain: impl Into<String>) -> PeerIdentity {
        PeerIdentity {
            user: user.into(),
            domain: domain.into(),
            groups: Vec::new(),
            anonymous: false,
        }
    }

    /// The identity of an anonymous logon: `NT AUTHORITY\ANONYMOUS LOGON`, as Windows names it
    /// (`RpcBindingInqAuthClient` on an anonymous NTLM context), flagged as anonymous.
    pub fn anonymous() -> PeerIdentity {
        PeerIdentity {
            user: "ANONYMOUS LOGON".into(),
            domain: "NT AUTHORITY".into(),
            groups: Vec::new(),
            anonymous: true,
        }
    }

    /// The identity with the client's group SIDs.
    pub fn with_groups(mut self, groups: Vec<String>) -> PeerIdentity {
        self.groups = groups;
        self
    }
}

impl std::fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.domain.is_empty() {
            write!(f, "{}", self.user)
        } else {
            write!(f, "{}\\{}", self.domain, self.user)
        }
    }
}

/// Whether fragments at `level` carry a signature (`CALL` is raised to `PACKET`).
pub fn level_protects(level: AuthLevel) -> bool {
    level.0 >= AuthLevel::CALL.0
}

/// Whether fragments at `level` are sealed.
pub fn level_seals(level: AuthLevel) -> bool {
    level == AuthLevel::PKT_PRIVACY
}

/// Makes a server's security contexts: one per `auth_context_id` a client opens.
pub trait Acceptor: Send + Sync {
    /// A new context for a bind or alter_context carrying `auth_type` at `level`, or
    /// `Err` with [`AuthFailure::Unsupported`] when this server does not do that package.
    fn accept(
        &self,
        auth_type: AuthType,
        level: AuthLevel,
        context_id: u32,
    ) -> Result<Box<dyn SecurityContext>, AuthError>;
}

/// One side's security context for one `auth_context_id` on a connection.
pub trait SecurityContext: Send {
    /// `auth_type` for the trailer.
    fn auth_type(&self) -> AuthType;
    /// `auth_level` for the trailer.
    fn auth_level(&self) -> AuthLevel;
    /// `auth_context_id` for the trailer.
    fn context_id(&self) -> u32;
    /// Feed the peer's token (`None` for a client's first leg) and get the next one.
    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError>;
    /// Size of the signature in `auth_value` of request and response fragments.
    fn signature_len(&self) -> usize;
    /// Sign (integrity) or seal and sign (privacy) one fragment in place. `pdu` is the whole
    /// fragment with the trailer written and `auth_value` zeroed; `body` is the stub and pad to
    /// seal; `signature` is where `auth_value` goes.
    fn protect(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError>;
    /// Verify (and unseal) one received fragment in place; same ranges as [`protect`](Self::protect).
    fn verify(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError>;
    /// The authenticated peer (servers, once established).
    fn peer_identity(&self) -> Option<PeerIdentity> {
        None
    }
    /// Whether header signing (`PFC_SUPPORT_HEADER_SIGN`, MS-RPCE 2.2.2.3) is in force on the
    /// association: then [`protect`](Self::protect) and [`verify`](Self::verify) cover the whole
    /// PDU, header and trailer included; otherwise a package that can tell the two apart
    /// (Kerberos, as Windows' does) covers only the stub and pad (`body`). NTLM covers the whole
    /// PDU either way, as Windows' does, and ignores this. The protocol core calls it whenever an
    /// association's header signing is settled or changes (after each bind, alter_context and
    /// bind_ack), for every context; until then a context assumes it is on.
    fn set_header_signing(&mut self, on: bool) {
        let _ = on;
    }
}

/// Alignment of the security trailer relative to the start of the stub data (MS-RPCE 2.2.2.11).
pub const AUTH_PAD_ALIGN: usize = 16;

/// The pad that puts a trailer after `stub_len` stub bytes on a 16-byte boundary.
pub fn auth_pad_len(stub_len: usize) -> usize {
    (AUTH_PAD_ALIGN - stub_len % AUTH_PAD_ALIGN) % AUTH_PAD_ALIGN
}

/// Frame and protect one request or response fragment: pad its stub, append the security
/// trailer and a zeroed `auth_value` of the provider's signature size, then let the provider
/// sign (and seal) the bytes in place.
pub fn protect_fragment(mut pdu: Pdu, ctx: &mut dyn SecurityContext) -> Result<Vec<u8>, Error> {
    let (stub_len, stub_at) = match &pdu.body {
        PduBody::Request(r) => (
            r.stub.len(),
            HEADER_LEN + 8 + if r.object.is_some() { 16 } else { 0 },
        ),
        PduBody::Response(r) => (r.stub.len(), HEADER_LEN + 8),
        _ => {
            return Err(Error::Auth(
                "only request and response fragments are protected",
            ));
        }
    };
    let pad = auth_pad_len(stub_len);
    let sig_len = ctx.signature_len();
    pdu.auth = Some(AuthVerifier {
        auth_type: ctx.auth_type(),
        auth_level: ctx.auth_level(),
        reserved: 0,
        context_id: ctx.context_id(),
        pad: Bytes::from(vec![0u8; pad]),
        value: Bytes::from(vec![0u8; sig_len]),
    });
    let mut bytes = pdu.emit()?;
    let end = bytes.len();
    let sig_at = end - sig_len;
    let body = stub_at..stub_at + stub_len + pad;
    ctx.protect(&mut bytes, body, sig_at..end)
        .map_err(Error::Security)?;
    Ok(bytes)
}

/// Verify (and unseal) one received request or response fragment in place, then parse it.
/// The returned PDU's stub is the clear text; its `auth` holds the trailer as received.
pub fn verify_fragment(raw: &mut [u8], ctx: &mut dyn SecurityContext) -> Result<Pdu, Error> {
    let parsed = Pdu::parse(raw)?;
    verify_in_place(&parsed, raw, ctx, true)?;
    Pdu::parse(raw)
}

/// [`verify_fragment`] for a fragment the connection already decoded from `raw`: the fragment
/// is copied once (to unseal it), and the clear stub and pad are sliced from the copy into
/// `pdu` instead of parsing the fragment again.
pub(crate) fn verify_decoded(
    pdu: Pdu,
    raw: &[u8],
    ctx: &mut dyn SecurityContext,
) -> Result<Pdu, Error> {
    verify_decoded_with(pdu, raw, ctx, true)
}

/// [`verify_decoded`] for a continuation fragment, which is verified with its call's context
/// whatever its trailer's `auth_type`, `auth_level` and `auth_context_id` say (Windows ignores
/// them: the suite's test_ntlmssp_multi_auth_first1_lastSame111).
pub(crate) fn verify_continuation(
    pdu: Pdu,
    raw: &[u8],
    ctx: &mut dyn SecurityContext,
) -> Result<Pdu, Error> {
    verify_decoded_with(pdu, raw, ctx, false)
}

fn verify_decoded_with(
    mut pdu: Pdu,
    raw: &[u8],
    ctx: &mut dyn SecurityContext,
    check_fields: bool,
) -> Result<Pdu, Error> {
    let mut buf = raw.to_vec();
    let body = verify_in_place(&pdu, &mut buf, ctx, check_fields)?;
    let clear = Bytes::from(buf);
    let stub_len = match &pdu.body {
        PduBody::Request(r) => r.stub.len(),
        PduBody::Response(r) => r.stub.len(),
        _ => 0,
    };
    let stub = clear.slice(body.start..body.start + stub_len);
    match &mut pdu.body {
        PduBody::Request(r) => r.stub = stub,
        PduBody::Response(r) => r.stub = stub,
        _ => {}
    }
    if let Some(a) = &mut pdu.auth {
        a.pad = clear.slice(body.start + stub_len..body.end);
    }
    Ok(pdu)
}

/// Check `parsed`'s trailer against `ctx` and verify (unseal) `raw`, the bytes it was parsed
/// from, in place. Returns the range of the stub and pad.
fn verify_in_place(
    parsed: &Pdu,
    raw: &mut [u8],
    ctx: &mut dyn SecurityContext,
    check_fields: bool,
) -> Result<Range<usize>, Error> {
    let Some(a) = &parsed.auth else {
        return Err(Error::Auth("fragment without a security trailer"));
    };
    if check_fields && (a.auth_type != ctx.auth_type() || a.context_id != ctx.context_id()) {
        return Err(Error::Auth("security trailer for another context"));
    }
    let stub_at = match &parsed.body {
        PduBody::Request(r) => HEADER_LEN + 8 + if r.object.is_some() { 16 } else { 0 },
        PduBody::Response(_) => HEADER_LEN + 8,
        _ => {
            return Err(Error::Auth(
                "only request and response fragments are verified",
            ));
        }
    };
    let end = raw.len();
    let sig_at = end - a.value.len();
    let trailer_at = sig_at - SEC_TRAILER_LEN;
    if check_fields && a.auth_level != ctx.auth_level() {
        return Err(Error::Auth("security trailer at another level"));
    }
    ctx.verify(raw, stub_at..trailer_at, sig_at..end)
        .map_err(Error::Security)?;
    Ok(stub_at..trailer_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{PfcFlags, Request, Response};

    /// A toy provider: "seals" by XOR with 0x5a and "signs" with a byte sum over header and body.
    struct Toy;

    impl Toy {
        fn sum(pdu: &[u8], body: &Range<usize>) -> [u8; 8] {
            let mut s = 0u64;
            for b in &pdu[..8] {
                s = s.wrapping_mul(31).wrapping_add(u64::from(*b));
            }
            for b in &pdu[body.clone()] {
                s = s.wrapping_mul(31).wrapping_add(u64::from(*b));
            }
            s.to_le_bytes()
        }
    }

    impl SecurityContext for Toy {
        fn auth_type(&self) -> AuthType {
            AuthType::NTLM
        }
        fn auth_level(&self) -> AuthLevel {
            AuthLevel::PKT_PRIVACY
        }
        fn context_id(&self) -> u32 {
            7
        }
        fn step(&mut self, _input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
            Ok(AuthStep::Complete(None))
        }
        fn signature_len(&self) -> usize {
            8
        }
        fn protect(
            &mut self,
            pdu: &mut [u8],
            body: Range<usize>,
            signature: Range<usize>,
        ) -> Result<(), AuthError> {
            let sig = Toy::sum(pdu, &body);
            pdu[signature].copy_from_slice(&sig);
            for b in &mut pdu[body] {
                *b ^= 0x5a;
            }
            Ok(())
        }
        fn verify(
            &mut self,
            pdu: &mut [u8],
            body: Range<usize>,
            signature: Range<usize>,
        ) -> Result<(), AuthError> {
            for b in &mut pdu[body.clone()] {
                *b ^= 0x5a;
            }
            if pdu[signature] != Toy::sum(pdu, &body) {
                return Err(AuthError::new(AuthFailure::Tampered, "bad signature"));
            }
            Ok(())
        }
    }

    #[test]
    fn pad_is_to_sixteen() {
        assert_eq!(auth_pad_len(0), 0);
        assert_eq!(auth_pad_len(8), 8);
        assert_eq!(auth_pad_len(120), 8);
        assert_eq!(auth_pad_len(16), 0);
    }

    #[test]
    fn protect_then_verify_round_trips_and_detects_tampering() {
        let stub = Bytes::from_static(b"hello, sealed world");
        let pdu = Pdu::new(
            9,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Request(Request {
                alloc_hint: 19,
                context_id: 1,
                opnum: 4,
                object: None,
                stub: stub.clone(),
            }),
        );
        let mut wire = protect_fragment(pdu, &mut Toy).unwrap();
        // Sealed on the wire, trailer 16-aligned from the stub start, auth_length = 8.
        assert!(!wire.windows(5).any(|w| w == b"hello"));
        let trailer_at = wire.len() - 8 - 8;
        assert_eq!((trailer_at - 24) % 16, 0);
        assert_eq!(wire[10], 8);
        let mut tampered = wire.clone();
        let back = verify_fragment(&mut wire, &mut Toy).unwrap();
        let PduBody::Request(r) = &back.body else {
            panic!()
        };
        assert_eq!(r.stub, stub);
        tampered[30] ^= 1;
        assert!(verify_fragment(&mut tampered, &mut Toy).is_err());

        let resp = Pdu::new(
            9,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Response(Response {
                alloc_hint: 0,
                context_id: 1,
                cancel_count: 0,
                reserved: 0,
                stub: Bytes::from_static(&[1; 32]),
            }),
        );
        let mut wire = protect_fragment(resp, &mut Toy).unwrap();
        assert_eq!(wire.len(), 24 + 32 + 8 + 8);
        assert!(verify_fragment(&mut wire, &mut Toy).is_ok());
    }
}
