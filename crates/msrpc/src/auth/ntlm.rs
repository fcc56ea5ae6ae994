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
use super::sspi_glue::{MAX_LEGS, init_step, package_error, protect_with, step_from, verify_with};
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
        if matches!(step, AuthStep::Complete(_)) {
            // The AUTHENTICATE leg: sspi's acceptor answers it with no token.
            self.complete_logon(input)?;
            return Ok(AuthStep::Complete(None));
        }
        Ok(step)
    }

    /// The AUTHENTICATE message arrived: look its user up and let the package check the proof.
    fn complete_logon(&mut self, authenticate: &[u8]) -> Result<(), AuthError> {
        let Role::Server {
            store,
            peer,
            unproven,
            flags,
        } = &mut self.role
        else {
            return Err(AuthError::new(AuthFailure::Package, "not a server context"));
        };
        let msg = parse_authenticate(authenticate)?;
        let denied =
            |why: &str| AuthError::new(AuthFailure::LogonFailure, format!("logon denied: {why}"));
        // sspi 0.23 checks the password only through the MIC, and reads the MIC only when the
        // AUTHENTICATE message also sets NTLMSSP_NEGOTIATE_TARGET_INFO: otherwise it accepts any
        // password and derives the keys from the one it was given. At the signing levels that
        // is still sound, because keys from a wrong password cannot verify the client's first
        // fragment, which is refused as a logon failure before anything is dispatched (see
        // `verify`). At the connect level nothing else would catch it, so a logon whose MIC
        // the package does not check is refused there. (impacket sends no MIC; python3-samba
        // sends one without that flag; sspi's own client has both.)
        if !msg.mic_checked && !level_protects(self.level) {
            return Err(denied(
                "the connect level needs a logon with a message integrity code (MIC) \
                 over NTLMSSP_NEGOTIATE_TARGET_INFO; use packet, integrity or privacy",
            ));
        }
        *unproven = level_protects(self.level) && !msg.mic_checked;
        *flags = msg.flags;
        let Some(password) = store.password(&msg.user, &msg.domain) else {
            return Err(denied("unknown user"));
        };
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
        self.legs = self.legs.saturating_add(1);
        if self.legs > MAX_LEGS {
            return Err(AuthError::new(AuthFailure::BadToken, "too many NTLM legs"));
        }
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
        protect_with(&mut self.ntlm, self.level, pdu, &body, &signature)
    }

    fn verify(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
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
            Role::Server { peer, .. } => peer.clone(),
            Role::Client { .. } => None,
        }
    }
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
}
