//! NTLM (MS-NLMP through `sspi`): the client and server contexts, and what the server reads from
//! the AUTHENTICATE message.

use std::ops::Range;

use msrpc_proto::auth::{
    AuthError, AuthFailure, AuthStep, PeerIdentity, SecurityContext, level_protects,
};
use msrpc_proto::wire::{AuthLevel, AuthType};
use sspi::{
    AuthIdentity, AuthIdentityBuffers, BufferType, DataRepresentation, Ntlm, SecurityBuffer,
    ServerRequestFlags, Sspi, SspiEx, SspiImpl, Username,
};

use super::config::Credentials;
use super::ntlm_session::ntlmv2_proof_matches;
use super::sspi_glue::{
    MAX_LEGS, init_step, next_leg, package_error, protect_with, step_from, verify_with,
};
use super::users::UserStore;

enum Role {
    Client {
        creds: Option<AuthIdentityBuffers>,
    },
    Server {
        store: std::sync::Arc<UserStore>,
        peer: Option<PeerIdentity>,
        /// At the signing levels the password is proven by the first fragment that verifies.
        unproven: bool,
        /// The AUTHENTICATE message's flags, once it arrived.
        flags: u32,
        /// The CHALLENGE message sent, for checking the NTLMv2 response.
        challenge: Vec<u8>,
        /// The logon was anonymous (MS-NLMP 3.2.5.1.2): no identity, no session keys.
        anonymous: bool,
    },
}

/// One NTLM security context (MS-NLMP through `sspi`), client or server side.
pub(super) struct NtlmContext {
    ntlm: Ntlm,
    role: Role,
    level: AuthLevel,
    context_id: u32,
    legs: u8,
}

impl NtlmContext {
    pub(super) fn client(level: AuthLevel, context_id: u32, creds: &Credentials) -> NtlmContext {
        NtlmContext {
            ntlm: Ntlm::new(),
            role: Role::Client {
                creds: Some(AuthIdentityBuffers::from_utf8(
                    &creds.user,
                    &creds.domain,
                    &creds.password,
                )),
            },
            level,
            context_id,
            legs: 0,
        }
    }

    pub(super) fn server(
        level: AuthLevel,
        context_id: u32,
        store: std::sync::Arc<UserStore>,
    ) -> NtlmContext {
        NtlmContext {
            ntlm: Ntlm::new(),
            role: Role::Server {
                store,
                peer: None,
                unproven: false,
                flags: 0,
                challenge: Vec::new(),
                anonymous: false,
            },
            level,
            context_id,
            legs: 0,
        }
    }

    /// Once a server logon is complete: `sspi`'s exported session key, the flags the client
    /// chose (its AUTHENTICATE message's), and whether the password is still unproven (`sspi`
    /// checked no MIC). SPNEGO keeps its own session keys from these (see `ntlm_session`).
    pub(super) fn server_session(&self) -> Option<(Vec<u8>, u32, bool)> {
        let Role::Server {
            peer: Some(_),
            unproven,
            flags,
            ..
        } = &self.role
        else {
            return None;
        };
        let keys = self.ntlm.query_context_session_key().ok()?;
        Some((keys.session_key.as_ref().clone(), *flags, *unproven))
    }

    /// The client's exported session key once its logon is complete (tests of the SPNEGO
    /// acceptor play the client's side with it).
    #[cfg(test)]
    pub(super) fn client_session_key(&self) -> Option<Vec<u8>> {
        let keys = self.ntlm.query_context_session_key().ok()?;
        Some(keys.session_key.as_ref().clone())
    }

    /// An anonymous server context has no session keys: nothing is signed or checked with it.
    fn has_keys(&self) -> Result<(), AuthError> {
        match &self.role {
            Role::Server {
                anonymous: true, ..
            } => Err(AuthError::new(
                AuthFailure::Package,
                "NTLM: an anonymous security context has no session keys",
            )),
            _ => Ok(()),
        }
    }

    fn client_step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        let Role::Client { creds } = &mut self.role else {
            return Err(AuthError::new(AuthFailure::Package, "not a client context"));
        };
        init_step(&mut self.ntlm, creds, self.level, input, "NTLM")
    }

    fn server_step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        let Some(input) = input else {
            return Err(AuthError::new(
                AuthFailure::BadToken,
                "no token from the client",
            ));
        };
        if let Role::Server {
            challenge,
            anonymous,
            ..
        } = &mut self.role
            && !challenge.is_empty()
            && is_anonymous_authenticate(input)
        {
            // An anonymous logon authenticates nobody: the context is established, as Windows
            // does, with the anonymous identity and no session keys (docs/auth.md), and the
            // package never sees it. Nothing can be signed with it.
            *anonymous = true;
            return Ok(AuthStep::Complete(None));
        }
        if is_ntlmv1_authenticate(input) {
            // NTLMv1 (or LM only): refused, as a Windows server at LmCompatibilityLevel 5 (the
            // default for domain controllers) refuses it; sspi could not read it anyway.
            return Err(AuthError::new(
                AuthFailure::LogonFailure,
                "logon denied: NTLMv1 and LM responses are not accepted (use NTLMv2)",
            ));
        }
        let mut creds: Option<AuthIdentityBuffers> = None;
        let mut input_bufs = vec![SecurityBuffer::new(input.to_vec(), BufferType::Token)];
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let builder = self
            .ntlm
            .accept_security_context()
            .with_credentials_handle(&mut creds)
            .with_context_requirements(ServerRequestFlags::ALLOCATE_MEMORY)
            .with_target_data_representation(DataRepresentation::Native)
            .with_input(&mut input_bufs)
            .with_output(&mut output);
        let result = self
            .ntlm
            .accept_security_context_impl(builder)
            .and_then(|mut g| g.resolve_to_result())
            .map_err(|e| package_error(AuthFailure::BadToken, &e))?;
        let step = step_from(result.status, output, "NTLM")?;
        if let (AuthStep::Continue(sent), Role::Server { challenge, .. }) = (&step, &mut self.role)
        {
            challenge.clone_from(sent);
        }
        if matches!(step, AuthStep::Complete(_)) {
            // The AUTHENTICATE leg: sspi's acceptor answers it with no token.
            self.complete_logon(input)?;
            return Ok(AuthStep::Complete(None));
        }
        Ok(step)
    }

    /// The AUTHENTICATE message arrived: look its user up, check its NTLMv2 response against the
    /// stored password, and let the package derive the keys.
    fn complete_logon(&mut self, authenticate: &[u8]) -> Result<(), AuthError> {
        let Role::Server {
            store,
            peer,
            unproven,
            flags,
            challenge,
            ..
        } = &mut self.role
        else {
            return Err(AuthError::new(AuthFailure::Package, "not a server context"));
        };
        let msg = parse_authenticate(authenticate)?;
        let denied =
            |why: &str| AuthError::new(AuthFailure::LogonFailure, format!("logon denied: {why}"));
        let Some(password) = store.password(&msg.user, &msg.domain) else {
            return Err(denied("unknown user"));
        };
        // sspi 0.23 checks the password only through the MIC, and reads the MIC only when the
        // AUTHENTICATE message also sets NTLMSSP_NEGOTIATE_TARGET_INFO: otherwise it accepts any
        // password and derives the keys from the one it was given. So the NTLMv2 response
        // (NTProofStr, MS-NLMP 3.3.2) is checked here, which proves the password at every level.
        // NTLMv1 was refused before sspi saw it; should a response still not read as NTLMv2,
        // only the package's MIC or, at the signing levels, the client's first fragment can prove
        // the password: keys from a wrong password cannot verify it (see `verify`). At the connect
        // level nothing else would, so such a logon is refused.
        let proven =
            match ntlmv2_proof_matches(authenticate, challenge, &msg.user, &msg.domain, password) {
                Some(true) => true,
                Some(false) => {
                    return Err(denied("the NTLMv2 response does not match the password"));
                }
                None => msg.mic_checked,
            };
        if !proven && !level_protects(self.level) {
            return Err(denied(
                "the connect level needs an NTLMv2 response or a logon with a message \
                 integrity code (MIC) over NTLMSSP_NEGOTIATE_TARGET_INFO; use packet, \
                 integrity or privacy",
            ));
        }
        *unproven = level_protects(self.level) && !proven;
        *flags = msg.flags;
        let username = Username::new(&msg.user, (!msg.domain.is_empty()).then_some(&msg.domain))
            .map_err(|_| denied("unusable user name"))?;
        self.ntlm
            .custom_set_auth_identity(AuthIdentity {
                username,
                password: password.to_owned().into(),
            })
            .map_err(|e| package_error(AuthFailure::LogonFailure, &e))?;
        self.ntlm
            .complete_auth_token(&mut [])
            .map_err(|e| package_error(AuthFailure::LogonFailure, &e))?;
        *peer = Some(PeerIdentity::new(msg.user, msg.domain));
        Ok(())
    }
}

impl SecurityContext for NtlmContext {
    fn auth_type(&self) -> AuthType {
        AuthType::NTLM
    }

    fn auth_level(&self) -> AuthLevel {
        self.level
    }

    fn context_id(&self) -> u32 {
        self.context_id
    }

    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        next_leg(&mut self.legs, MAX_LEGS, "NTLM")?;
        match self.role {
            Role::Client { .. } => self.client_step(input),
            Role::Server { .. } => self.server_step(input),
        }
    }

    fn signature_len(&self) -> usize {
        16
    }

    fn protect(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        self.has_keys()?;
        protect_with(&mut self.ntlm, self.level, pdu, &body, &signature)
    }

    fn verify(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        self.has_keys()?;
        let result = verify_with(&mut self.ntlm, self.level, pdu, &body, &signature, Some(16));
        if let Role::Server { unproven, .. } = &mut self.role
            && *unproven
        {
            // The first fragment after a logon sspi could not check proves the password, or not.
            *unproven = false;
            if let Err(e) = &result {
                return Err(AuthError::new(
                    AuthFailure::LogonFailure,
                    format!(
                        "logon denied: the first fragment does not verify ({})",
                        e.detail
                    ),
                ));
            }
        }
        result
    }

    fn peer_identity(&self) -> Option<PeerIdentity> {
        match &self.role {
            Role::Server {
                anonymous: true, ..
            } => Some(PeerIdentity::anonymous()),
            Role::Server { peer, .. } => peer.clone(),
            Role::Client { .. } => None,
        }
    }
}

/// Whether `m` is an anonymous NTLM AUTHENTICATE message (MS-NLMP 3.2.5.1.2): no user name, an
/// empty NtChallengeResponse and an LmChallengeResponse of at most one (zero) byte.
pub(super) fn is_anonymous_authenticate(m: &[u8]) -> bool {
    let len = |at: usize| m.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    m.len() >= 64
        && &m[..8] == b"NTLMSSP\0"
        && m[8..12] == [3, 0, 0, 0]
        && len(12).is_some_and(|l| l <= 1)
        && len(20) == Some(0)
        && len(36) == Some(0)
}

/// Whether `m` is an NTLM AUTHENTICATE message (MS-NLMP 2.2.1.3) whose NtChallengeResponse is not
/// an NTLMv2 response: NTLMv1's is 24 bytes (MS-NLMP 3.3.1), an LM-only logon's empty with a
/// 24-byte LmChallengeResponse; an NTLMv2 response is NTProofStr (16) and a client challenge of
/// at least 28 more. Anonymous messages (no user, empty responses) are not NTLMv1.
pub(super) fn is_ntlmv1_authenticate(m: &[u8]) -> bool {
    let len = |at: usize| m.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    m.len() >= 64
        && &m[..8] == b"NTLMSSP\0"
        && m[8..12] == [3, 0, 0, 0]
        && !is_anonymous_authenticate(m)
        && len(20).is_some_and(|nt| nt <= 24)
}

/// What the server needs from an NTLM AUTHENTICATE message (MS-NLMP 2.2.1.3).
struct AuthenticateInfo {
    user: String,
    domain: String,
    /// The message has a MIC that sspi verifies: `MsvAvFlags` bit 0x2 and the
    /// NTLMSSP_NEGOTIATE_TARGET_INFO flag.
    mic_checked: bool,
    /// NegotiateFlags.
    flags: u32,
}

/// Reads the user, domain and whether the NTLMv2 response's AV pairs announce a MIC
/// (`MsvAvFlags` bit 0x2, MS-NLMP 2.2.2.1). Parsing only; the package checks the proofs.
fn parse_authenticate(m: &[u8]) -> Result<AuthenticateInfo, AuthError> {
    let bad = || AuthError::new(AuthFailure::BadToken, "malformed NTLM AUTHENTICATE message");
    if m.len() < 64 || &m[..8] != b"NTLMSSP\0" || m[8..12] != [3, 0, 0, 0] {
        return Err(bad());
    }
    let field = |at: usize| -> Result<&[u8], AuthError> {
        let len = usize::from(u16::from_le_bytes([m[at], m[at + 1]]));
        let off = u32::from_le_bytes([m[at + 4], m[at + 5], m[at + 6], m[at + 7]]) as usize;
        m.get(off..off.checked_add(len).ok_or_else(bad)?)
            .ok_or_else(bad)
    };
    let utf16 = |b: &[u8]| -> Result<String, AuthError> {
        if !b.len().is_multiple_of(2) {
            return Err(bad());
        }
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).map_err(|_| bad())
    };
    let nt = field(20)?;
    let domain = utf16(field(28)?)?;
    let user = utf16(field(36)?)?;
    // NTLMv2 response: NTProofStr (16), then the blob: RespType, HiRespType, 6 reserved,
    // timestamp (8), client challenge (8), 4 reserved, then AV pairs.
    let mut has_mic = false;
    let mut at = 16 + 28;
    while let Some(hdr) = nt.get(at..at + 4) {
        let id = u16::from_le_bytes([hdr[0], hdr[1]]);
        let len = usize::from(u16::from_le_bytes([hdr[2], hdr[3]]));
        if id == 0 {
            break;
        }
        let value = nt.get(at + 4..at + 4 + len).ok_or_else(bad)?;
        if id == 6 && len == 4 {
            let flags = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
            has_mic = flags & 0x2 != 0;
        }
        at += 4 + len;
    }
    let flags = u32::from_le_bytes([m[60], m[61], m[62], m[63]]);
    Ok(AuthenticateInfo {
        user,
        domain,
        mic_checked: has_mic && flags & 0x0080_0000 != 0,
        flags,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use msrpc_proto::auth::{protect_fragment, verify_fragment};
    use msrpc_proto::wire::{Pdu, PduBody, PfcFlags, Request};

    fn pair(level: AuthLevel, password: &str) -> (NtlmContext, NtlmContext) {
        let mut store = UserStore::new();
        store.insert("alice", "s3cret!");
        let store = std::sync::Arc::new(store);
        let client = NtlmContext::client(level, 7, &Credentials::new("alice", "WS", password));
        let server = NtlmContext::server(level, 7, store);
        (client, server)
    }

    fn handshake(c: &mut NtlmContext, s: &mut NtlmContext) -> Result<(), AuthError> {
        let AuthStep::Continue(negotiate) = c.step(None)? else {
            panic!("client finished early")
        };
        let AuthStep::Continue(challenge) = s.step(Some(&negotiate))? else {
            panic!("server finished early")
        };
        let AuthStep::Complete(Some(authenticate)) = c.step(Some(&challenge))? else {
            panic!("no AUTHENTICATE")
        };
        match s.step(Some(&authenticate))? {
            AuthStep::Complete(None) => Ok(()),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn request(stub: &[u8]) -> Pdu {
        Pdu::new(
            3,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Request(Request {
                alloc_hint: stub.len() as u32,
                context_id: 0,
                opnum: 1,
                object: None,
                stub: bytes::Bytes::copy_from_slice(stub),
            }),
        )
    }

    #[test]
    fn ntlm_handshake_then_sealed_and_signed_fragments_verify() {
        for level in [AuthLevel::PKT_INTEGRITY, AuthLevel::PKT_PRIVACY] {
            let (mut c, mut s) = pair(level, "s3cret!");
            handshake(&mut c, &mut s).unwrap();
            assert_eq!(s.peer_identity().unwrap(), PeerIdentity::new("alice", "WS"));
            for i in 0..3u8 {
                let stub = vec![i; 37];
                let mut wire = protect_fragment(request(&stub), &mut c).unwrap();
                let sealed = !wire.windows(37).any(|w| w == stub.as_slice());
                assert_eq!(sealed, level == AuthLevel::PKT_PRIVACY);
                let back = verify_fragment(&mut wire, &mut s).unwrap();
                let PduBody::Request(r) = back.body else {
                    panic!()
                };
                assert_eq!(&r.stub[..], &stub[..]);
            }
        }
    }

    fn established(level: AuthLevel) -> (NtlmContext, NtlmContext) {
        let (mut c, mut s) = pair(level, "s3cret!");
        handshake(&mut c, &mut s).unwrap();
        (c, s)
    }

    #[test]
    fn tampered_replayed_and_reordered_fragments_are_refused() {
        for level in [AuthLevel::PKT_INTEGRITY, AuthLevel::PKT_PRIVACY] {
            // Reordered: the second fragment arrives first.
            let (mut c, mut s) = established(level);
            let _first = protect_fragment(request(b"one one one one"), &mut c).unwrap();
            let mut second = protect_fragment(request(b"two two two two"), &mut c).unwrap();
            assert!(verify_fragment(&mut second, &mut s).is_err());
            // One flipped bit in the header, the stub or the trailer.
            for at in [2usize, 30, 44] {
                let (mut c, mut s) = established(level);
                let mut wire = protect_fragment(request(b"one one one one"), &mut c).unwrap();
                wire[at] ^= 0x01;
                assert!(verify_fragment(&mut wire, &mut s).is_err(), "flip at {at}");
            }
            // Replayed: in order both verify, the first again does not.
            let (mut c, mut s) = established(level);
            let mut first = protect_fragment(request(b"one one one one"), &mut c).unwrap();
            let replay = first.clone();
            let mut second = protect_fragment(request(b"two two two two"), &mut c).unwrap();
            verify_fragment(&mut first, &mut s).unwrap();
            verify_fragment(&mut second, &mut s).unwrap();
            assert!(verify_fragment(&mut replay.clone(), &mut s).is_err());
        }
    }

    #[test]
    fn wrong_password_and_unknown_user_are_logon_failures() {
        let (mut c, mut s) = pair(AuthLevel::PKT_PRIVACY, "wrong");
        let e = handshake(&mut c, &mut s).unwrap_err();
        assert_eq!(e.kind, AuthFailure::LogonFailure, "{e}");
        let store = std::sync::Arc::new(UserStore::new());
        let mut c = NtlmContext::client(AuthLevel::CONNECT, 1, &Credentials::new("bob", "", "x"));
        let mut s = NtlmContext::server(AuthLevel::CONNECT, 1, store);
        let e = handshake(&mut c, &mut s).unwrap_err();
        assert_eq!(e.kind, AuthFailure::LogonFailure);
    }

    /// Runs a logon whose AUTHENTICATE message is first passed through `edit`.
    fn handshake_edited(
        c: &mut NtlmContext,
        s: &mut NtlmContext,
        edit: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), AuthError> {
        let AuthStep::Continue(negotiate) = c.step(None)? else {
            panic!("client finished early")
        };
        let AuthStep::Continue(challenge) = s.step(Some(&negotiate))? else {
            panic!("server finished early")
        };
        let AuthStep::Complete(Some(mut authenticate)) = c.step(Some(&challenge))? else {
            panic!("no AUTHENTICATE")
        };
        edit(&mut authenticate);
        match s.step(Some(&authenticate))? {
            AuthStep::Complete(None) => Ok(()),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn without_a_mic_the_ntlmv2_response_proves_the_password_at_every_level() {
        // With NTLMSSP_NEGOTIATE_TARGET_INFO cleared sspi checks no MIC (impacket's case): the
        // NTLMv2 response alone decides, at the connect and packet levels too.
        let no_target_info = |m: &mut Vec<u8>| m[62] &= !0x80;
        for level in [
            AuthLevel::CONNECT,
            AuthLevel::PACKET,
            AuthLevel::PKT_PRIVACY,
        ] {
            let (mut c, mut s) = pair(level, "s3cret!");
            handshake_edited(&mut c, &mut s, no_target_info).unwrap();
            assert_eq!(s.peer_identity().unwrap(), PeerIdentity::new("alice", "WS"));
            let (_, _, unproven) = s.server_session().unwrap();
            assert!(!unproven, "{level:?}");
            let (mut c, mut s) = pair(level, "wrong");
            let e = handshake_edited(&mut c, &mut s, no_target_info).unwrap_err();
            assert_eq!(e.kind, AuthFailure::LogonFailure, "{e}");
            assert!(e.detail.contains("NTLMv2 response"), "{e}");
            assert!(s.peer_identity().is_none());
        }
    }

    #[test]
    fn ntlmv1_and_lm_responses_are_refused_as_a_logon_failure() {
        // An AUTHENTICATE with a 24-byte LmChallengeResponse at 64 and a 24-byte
        // NtChallengeResponse at 88 (NTLMv1), user "u" at 112.
        let mut v1 = b"NTLMSSP\0\x03\0\0\0".to_vec();
        v1.resize(114, 0);
        let field = |m: &mut Vec<u8>, at: usize, len: u16, off: u32| {
            m[at..at + 2].copy_from_slice(&len.to_le_bytes());
            m[at + 2..at + 4].copy_from_slice(&len.to_le_bytes());
            m[at + 4..at + 8].copy_from_slice(&off.to_le_bytes());
        };
        field(&mut v1, 12, 24, 64);
        field(&mut v1, 20, 24, 88);
        field(&mut v1, 36, 1, 112);
        assert!(is_ntlmv1_authenticate(&v1));
        let mut lm_only = v1.clone();
        field(&mut lm_only, 20, 0, 88);
        assert!(is_ntlmv1_authenticate(&lm_only));
        let mut v2 = v1.clone();
        field(&mut v2, 20, 72, 88);
        assert!(!is_ntlmv1_authenticate(&v2));
        let mut anonymous = b"NTLMSSP\0\x03\0\0\0".to_vec();
        anonymous.resize(64, 0);
        assert!(!is_anonymous_authenticate(&v1));
        assert!(!is_ntlmv1_authenticate(&anonymous));
        let (mut c, mut s) = pair(AuthLevel::PKT_INTEGRITY, "unused");
        let AuthStep::Continue(negotiate) = c.step(None).unwrap() else {
            panic!()
        };
        assert!(matches!(
            s.step(Some(&negotiate)).unwrap(),
            AuthStep::Continue(_)
        ));
        let e = s.step(Some(&v1)).unwrap_err();
        assert_eq!(e.kind, AuthFailure::LogonFailure, "{e}");
        assert!(e.detail.contains("NTLMv1"), "{e}");
    }

    #[test]
    fn an_anonymous_logon_establishes_a_context_with_the_anonymous_identity_and_no_keys() {
        let mut anonymous = b"NTLMSSP\0\x03\0\0\0".to_vec();
        anonymous.resize(64, 0);
        for level in [AuthLevel::CONNECT, AuthLevel::PKT_INTEGRITY] {
            let (mut c, mut s) = pair(level, "unused");
            let AuthStep::Continue(negotiate) = c.step(None).unwrap() else {
                panic!()
            };
            // Before a CHALLENGE was sent it is no logon at all.
            let (_, mut early) = pair(level, "unused");
            assert!(early.step(Some(&anonymous)).is_err());
            assert!(matches!(
                s.step(Some(&negotiate)).unwrap(),
                AuthStep::Continue(_)
            ));
            assert!(matches!(
                s.step(Some(&anonymous)).unwrap(),
                AuthStep::Complete(None)
            ));
            let id = s.peer_identity().unwrap();
            assert!(id.anonymous);
            assert_eq!(id.to_string(), "NT AUTHORITY\\ANONYMOUS LOGON");
            assert!(s.server_session().is_none());
            let mut wire = vec![0u8; 64];
            let e = s.protect(&mut wire, 16..48, 48..64).unwrap_err();
            assert!(e.detail.contains("anonymous"), "{e}");
            let e = s.verify(&mut wire, 16..48, 48..64).unwrap_err();
            assert!(e.detail.contains("anonymous"), "{e}");
        }
    }
}
