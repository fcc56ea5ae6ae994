//! Schannel, server side ([MS-NRPC] 3.3, the acceptor): the session keys a netlogon server's
//! NetrServerAuthenticate3 established, looked up by the computer name of a client's
//! `NL_AUTH_MESSAGE`, and the server's context that verifies and unseals requests and signs and
//! seals responses with them (the same `NL_AUTH_SHA2_SIGNATURE` code as the client's,
//! `schannel::protect_fragment` / `verify_fragment`).
//!
//! - The bind's negotiate token (type 0, [MS-NRPC] 2.2.1.3.1) names the computer (the OEM or
//!   UTF-8 NetBIOS name, else the DNS host name) and the domain (the OEM NetBIOS name, else the
//!   DNS name); the domain is reported but not checked (the store has no domain of its own). A token that
//!   does not parse or lacks a domain or a computer name (3.3.4.1.2), and a computer with no
//!   session in the store (3.3.4.1.3), are SEC_E_INVALID_TOKEN ([`AuthFailure::BadToken`]), which
//!   the protocol core answers with bind_nak (reason not specified, ERROR_ACCESS_DENIED). The
//!   answer is the 12-byte response token (type 1, flags 0, then zeros, 3.3.4.1.3).
//! - The server keeps one sequence counter for both directions, as the client: a request's token
//!   carries it with 0x80 in byte 4 (the client's direction bit), the response's without. A
//!   request whose signature, sequence or sealed stub does not verify is
//!   [`AuthFailure::Tampered`] (SEC_E_MESSAGE_ALTERED / SEC_E_OUT_OF_SEQUENCE).
//! - The established context's peer is the computer (user) in the client's domain
//!   (`RpcBindingInqAuthClient`), for the netlogon interface to match against its calls'
//!   `ComputerName`.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use msrpc_proto::auth::{AuthError, AuthFailure, AuthStep, PeerIdentity, SecurityContext};
use msrpc_proto::wire::{AuthLevel, AuthType};

use super::schannel::{
    NETLOGON_NEG_SUPPORTS_AES, NL_AUTH_SHA2_SIGNATURE_LEN, SchannelSession, protect_fragment,
    verify_fragment,
};

/// How many computers' Schannel sessions a [`SchannelKeys`] store holds at once (default 1024);
/// a new computer past it forgets the oldest (which must establish its secure channel again).
pub const DEFAULT_MAX_SCHANNEL_SESSIONS: usize = 1024;

/// The longest `NL_AUTH_MESSAGE` negotiate token accepted (default 1024 bytes: two NetBIOS names
/// and up to three DNS names fit many times over).
pub const MAX_NL_AUTH_MESSAGE: usize = 1024;

const NL_FLAG_OEM_NETBIOS_DOMAIN_NAME: u32 = 0x1;
const NL_FLAG_OEM_NETBIOS_COMPUTER_NAME: u32 = 0x2;
const NL_FLAG_UTF8_DNS_DOMAIN_NAME: u32 = 0x4;
const NL_FLAG_UTF8_DNS_HOST_NAME: u32 = 0x8;
const NL_FLAG_UTF8_NETBIOS_COMPUTER_NAME: u32 = 0x10;

/// The Schannel session keys a server accepts: one per computer, fed by the netlogon
/// interface's successful NetrServerAuthenticate3 and read by the Schannel acceptor
/// ([`ServerBuilder::schannel`](crate::server::ServerBuilder::schannel)). Bounded (the oldest
/// computer forgotten first); names compare case-insensitively. `Debug` shows no key.
#[derive(Debug)]
pub struct SchannelKeys {
    max: usize,
    /// (computer name in upper case, session), oldest first.
    sessions: Mutex<VecDeque<(String, SchannelSession)>>,
}

impl Default for SchannelKeys {
    fn default() -> Self {
        SchannelKeys::new(DEFAULT_MAX_SCHANNEL_SESSIONS)
    }
}

impl SchannelKeys {
    /// A store of at most `max` computers (at least 1).
    pub fn new(max: usize) -> SchannelKeys {
        SchannelKeys {
            max: max.max(1),
            sessions: Mutex::new(VecDeque::new()),
        }
    }

    /// Remembers `session` for its computer, replacing an earlier one (a re-established secure
    /// channel); contexts already bound keep the key they were bound with.
    pub fn insert(&self, session: SchannelSession) {
        let key = session.computer().to_uppercase();
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.retain(|(k, _)| *k != key);
        while s.len() >= self.max {
            s.pop_front();
        }
        s.push_back((key, session));
    }

    /// The session of `computer`, if any.
    pub fn get(&self, computer: &str) -> Option<SchannelSession> {
        let key = computer.to_uppercase();
        let s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    }

    /// How many computers are remembered.
    pub fn len(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The names of a negotiate `NL_AUTH_MESSAGE`.
#[derive(Debug, PartialEq, Eq)]
struct Negotiate {
    domain: String,
    computer: String,
}

fn bad(detail: &str) -> AuthError {
    AuthError::new(
        AuthFailure::BadToken,
        format!("Schannel negotiate token: {detail} (SEC_E_INVALID_TOKEN)"),
    )
}

/// Parses a negotiate token ([MS-NRPC] 2.2.1.3.1): type 0, flags, then the names the flags
/// announce in flag order, OEM strings NUL-terminated, UTF-8 ones compressed as DNS names
/// ([RFC 1035] 4.1.4). The NetBIOS names win; the DNS ones stand in when those are absent.
fn parse_negotiate(t: &[u8]) -> Result<Negotiate, AuthError> {
    if t.len() > MAX_NL_AUTH_MESSAGE {
        return Err(bad("longer than MAX_NL_AUTH_MESSAGE"));
    }
    let u32_at = |at: usize| {
        t.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (Some(kind), Some(flags)) = (u32_at(0), u32_at(4)) else {
        return Err(bad("shorter than 8 bytes"));
    };
    if kind != 0 {
        return Err(bad("not a negotiate request"));
    }
    let mut at = 8;
    let oem = |at: &mut usize| -> Result<String, AuthError> {
        let rest = t.get(*at..).unwrap_or_default();
        let Some(nul) = rest.iter().position(|b| *b == 0) else {
            return Err(bad("unterminated name"));
        };
        *at += nul + 1;
        Ok(String::from_utf8_lossy(&rest[..nul]).into_owned())
    };
    let mut domain = String::new();
    let mut computer = String::new();
    if flags & NL_FLAG_OEM_NETBIOS_DOMAIN_NAME != 0 {
        domain = oem(&mut at)?;
    }
    if flags & NL_FLAG_OEM_NETBIOS_COMPUTER_NAME != 0 {
        computer = oem(&mut at)?;
    }
    // A compressed DNS name: labels up to a zero length or a pointer.
    let skip_dns = |at: &mut usize| -> Result<String, AuthError> {
        let mut labels = Vec::new();
        loop {
            let Some(&len) = t.get(*at) else {
                return Err(bad("truncated DNS name"));
            };
            if len == 0 {
                *at += 1;
                break;
            }
            if len & 0xc0 == 0xc0 {
                *at += 2;
                break;
            }
            let Some(label) = t.get(*at + 1..*at + 1 + len as usize) else {
                return Err(bad("truncated DNS label"));
            };
            labels.push(String::from_utf8_lossy(label).into_owned());
            *at += 1 + len as usize;
        }
        Ok(labels.join("."))
    };
    if flags & NL_FLAG_UTF8_DNS_DOMAIN_NAME != 0 {
        let name = skip_dns(&mut at)?;
        if domain.is_empty() {
            domain = name;
        }
    }
    if flags & NL_FLAG_UTF8_DNS_HOST_NAME != 0 {
        let name = skip_dns(&mut at)?;
        if computer.is_empty() {
            computer = name;
        }
    }
    if flags & NL_FLAG_UTF8_NETBIOS_COMPUTER_NAME != 0 {
        let name = skip_dns(&mut at)?;
        if computer.is_empty() {
            computer = name;
        }
    }
    // [MS-NRPC] 3.3.4.1.2: at least one domain name and one computer name.
    if computer.is_empty() || domain.is_empty() {
        return Err(bad("no domain name or no computer name"));
    }
    Ok(Negotiate { domain, computer })
}

/// The server's Schannel context for one `auth_context_id`.
pub(crate) struct SchannelServer {
    level: AuthLevel,
    context_id: u32,
    keys: Arc<SchannelKeys>,
    /// The session once the negotiate token named a known computer, and the domain it gave.
    session: Option<(SchannelSession, String)>,
    /// One counter for both directions ([MS-NRPC] 3.3.1).
    seq: u64,
    header_signing: bool,
}

impl SchannelServer {
    /// A context at `level`: integrity or privacy only (as the client; Windows refuses the
    /// others for Schannel).
    pub(crate) fn new(
        level: AuthLevel,
        context_id: u32,
        keys: Arc<SchannelKeys>,
    ) -> Result<SchannelServer, AuthError> {
        if level != AuthLevel::PKT_INTEGRITY && level != AuthLevel::PKT_PRIVACY {
            return Err(AuthError::new(
                AuthFailure::Unsupported,
                "Schannel protects at the integrity or privacy level only",
            ));
        }
        Ok(SchannelServer {
            level,
            context_id,
            keys,
            session: None,
            seq: 0,
            header_signing: true,
        })
    }

    fn key(&self) -> Result<[u8; 16], AuthError> {
        match &self.session {
            Some((s, _)) => Ok(s.session_key()),
            None => Err(AuthError::new(
                AuthFailure::BadToken,
                "Schannel context not established",
            )),
        }
    }
}

impl SecurityContext for SchannelServer {
    fn auth_type(&self) -> AuthType {
        AuthType::NETLOGON
    }
    fn auth_level(&self) -> AuthLevel {
        self.level
    }
    fn context_id(&self) -> u32 {
        self.context_id
    }
    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        let (Some(t), None) = (input, &self.session) else {
            return Err(AuthError::new(
                AuthFailure::BadToken,
                "Schannel token out of sequence",
            ));
        };
        let n = parse_negotiate(t)?;
        // [MS-NRPC] 3.3.4.1.3: no session key for the client is SEC_E_INVALID_TOKEN too.
        let Some(session) = self.keys.get(&n.computer) else {
            return Err(AuthError::new(
                AuthFailure::BadToken,
                format!(
                    "no secure channel for computer {:?}: NetrServerAuthenticate3 first \
                     (SEC_E_INVALID_TOKEN)",
                    n.computer
                ),
            ));
        };
        if session.negotiate_flags() & NETLOGON_NEG_SUPPORTS_AES == 0 {
            return Err(AuthError::new(
                AuthFailure::Unsupported,
                "Schannel without AES is not supported",
            ));
        }
        self.session = Some((session, n.domain));
        Ok(AuthStep::Complete(Some(vec![
            1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ])))
    }
    fn signature_len(&self) -> usize {
        NL_AUTH_SHA2_SIGNATURE_LEN
    }
    fn protect(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        let key = self.key()?;
        let seal = self.level == AuthLevel::PKT_PRIVACY;
        protect_fragment(
            &key,
            &mut self.seq,
            false,
            seal,
            self.header_signing,
            pdu,
            body,
            signature,
        )
    }
    fn verify(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        let key = self.key()?;
        let seal = self.level == AuthLevel::PKT_PRIVACY;
        verify_fragment(
            &key,
            &mut self.seq,
            true,
            seal,
            self.header_signing,
            pdu,
            body,
            signature,
        )
    }
    fn peer_identity(&self) -> Option<PeerIdentity> {
        self.session
            .as_ref()
            .map(|(s, domain)| PeerIdentity::new(s.computer(), domain.clone()))
    }
    fn set_header_signing(&mut self, on: bool) {
        self.header_signing = on;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::schannel::SchannelClient;
    use super::*;

    fn session(key: u8) -> SchannelSession {
        SchannelSession::new([key; 16], NETLOGON_NEG_SUPPORTS_AES, "DOM", "WS1")
    }

    #[test]
    fn negotiate_tokens_parse_or_are_refused() {
        assert_eq!(
            parse_negotiate(b"\0\0\0\0\x03\0\0\0DOM\0WS1\0").unwrap(),
            Negotiate {
                domain: "DOM".into(),
                computer: "WS1".into()
            }
        );
        // OEM names and then a DNS domain and a UTF-8 NetBIOS computer name (Windows' five).
        let mut t = b"\0\0\0\0\x17\0\0\0D\0W\0".to_vec();
        t.extend_from_slice(b"\x03dom\x03com\0\x03ws1\xc0\x00\x03WS1\0");
        let n = parse_negotiate(&t).unwrap();
        assert_eq!(n.computer, "W");
        assert_eq!(
            parse_negotiate(b"\0\0\0\0\x11\0\0\0D\0\x03WS2\0")
                .unwrap()
                .computer,
            "WS2"
        );
        // [MS-NRPC] 3.3.4.1.1's sample token.
        let sample = [
            0x00, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x4E, 0x54, 0x44, 0x45, 0x56, 0x00,
            0x4E, 0x41, 0x53, 0x4B, 0x4F, 0x00, 0x05, 0x6E, 0x74, 0x64, 0x65, 0x76, 0x04, 0x63,
            0x6F, 0x72, 0x70, 0x09, 0x6D, 0x69, 0x63, 0x72, 0x6F, 0x73, 0x6F, 0x66, 0x74, 0x03,
            0x63, 0x6F, 0x6D, 0x00, 0x05, 0x4E, 0x41, 0x53, 0x4B, 0x4F, 0x00,
        ];
        assert_eq!(
            parse_negotiate(&sample).unwrap(),
            Negotiate {
                domain: "NTDEV".into(),
                computer: "NASKO".into()
            }
        );
        // Every truncation of it is refused, never panicked on (the last name's NUL cut off
        // included), and so is every one-byte change of the flags.
        for n in 0..sample.len() {
            assert!(parse_negotiate(&sample[..n]).is_err(), "{n}");
        }
        for f in 0..=255u8 {
            let mut t = sample.to_vec();
            t[4] = f;
            let _ = parse_negotiate(&t);
        }
        // The DNS names alone.
        let mut t = b"\0\0\0\0\x0c\0\0\0".to_vec();
        t.extend_from_slice(b"\x03dom\x03com\0\x03ws4\x03dom\x03com\0");
        assert_eq!(
            parse_negotiate(&t).unwrap(),
            Negotiate {
                domain: "dom.com".into(),
                computer: "ws4.dom.com".into()
            }
        );
        for t in [
            &b""[..],
            b"\0\0\0\0\x02\0\0\0WS1\0",
            b"\0\0\0\0",
            b"\x01\0\0\0\x03\0\0\0D\0W\0",
            b"\0\0\0\0\x03\0\0\0DOM",
            b"\0\0\0\0\x01\0\0\0DOM\0",
            b"\0\0\0\0\x10\0\0\0\x09WS",
        ] {
            assert_eq!(parse_negotiate(t).unwrap_err().kind, AuthFailure::BadToken);
        }
        assert!(parse_negotiate(&vec![0; MAX_NL_AUTH_MESSAGE + 1]).is_err());
    }

    #[test]
    fn keys_are_bounded_and_case_insensitive() {
        let k = SchannelKeys::new(2);
        k.insert(session(1));
        k.insert(SchannelSession::new(
            [2; 16],
            NETLOGON_NEG_SUPPORTS_AES,
            "",
            "ws2",
        ));
        k.insert(SchannelSession::new(
            [3; 16],
            NETLOGON_NEG_SUPPORTS_AES,
            "",
            "ws1",
        ));
        assert_eq!(k.len(), 2);
        assert_eq!(k.get("WS1").unwrap().session_key(), [3; 16]);
        k.insert(SchannelSession::new(
            [4; 16],
            NETLOGON_NEG_SUPPORTS_AES,
            "",
            "WS3",
        ));
        assert!(k.get("ws2").is_none());
        assert_eq!(SchannelKeys::new(0).max, 1);
        assert!(!format!("{k:?}").contains("[3, 3"));
    }

    /// The client and the server contexts talk to each other: both directions, both levels,
    /// with and without header signing; a wrong key and an unknown computer are refused.
    #[test]
    fn client_and_server_round_trip() {
        let keys = Arc::new(SchannelKeys::default());
        keys.insert(session(7));
        for level in [AuthLevel::PKT_INTEGRITY, AuthLevel::PKT_PRIVACY] {
            for hs in [true, false] {
                let mut c = SchannelClient::new(level, 0, &session(7)).unwrap();
                let mut s = SchannelServer::new(level, 0, keys.clone()).unwrap();
                c.set_header_signing(hs);
                s.set_header_signing(hs);
                let AuthStep::Continue(t) = c.step(None).unwrap() else {
                    panic!()
                };
                let AuthStep::Complete(Some(r)) = s.step(Some(&t)).unwrap() else {
                    panic!()
                };
                assert_eq!(c.step(Some(&r)).unwrap(), AuthStep::Complete(None));
                assert_eq!(s.peer_identity().unwrap().to_string(), "DOM\\WS1");
                for round in 0..3u8 {
                    let clear = vec![round; 40];
                    let mut pdu = [clear.clone(), vec![0; 56]].concat();
                    c.protect(&mut pdu, 0..40, 40..96).unwrap();
                    assert_eq!(level == AuthLevel::PKT_PRIVACY, pdu[..40] != clear[..]);
                    s.verify(&mut pdu, 0..40, 40..96).unwrap();
                    assert_eq!(pdu[..40], clear[..]);
                    s.protect(&mut pdu, 0..40, 40..96).unwrap();
                    c.verify(&mut pdu, 0..40, 40..96).unwrap();
                    assert_eq!(pdu[..40], clear[..]);
                    // The server's own token reflected back at the same sequence number:
                    // the direction bit refuses it.
                    let e = s.reflected(&clear);
                    assert_eq!(e.kind, AuthFailure::Tampered);
                }
            }
        }
        // A client with another key: its first request does not verify.
        let mut c = SchannelClient::new(AuthLevel::PKT_PRIVACY, 0, &session(8)).unwrap();
        let mut s = SchannelServer::new(AuthLevel::PKT_PRIVACY, 0, keys.clone()).unwrap();
        let AuthStep::Continue(t) = c.step(None).unwrap() else {
            panic!()
        };
        let AuthStep::Complete(Some(r)) = s.step(Some(&t)).unwrap() else {
            panic!()
        };
        c.step(Some(&r)).unwrap();
        let mut pdu = vec![0u8; 96];
        c.protect(&mut pdu, 0..40, 40..96).unwrap();
        let e = s.verify(&mut pdu, 0..40, 40..96).unwrap_err();
        assert_eq!(e.kind, AuthFailure::Tampered);
        // An unknown computer: SEC_E_INVALID_TOKEN at the bind.
        let mut s = SchannelServer::new(AuthLevel::PKT_PRIVACY, 0, keys.clone()).unwrap();
        let e = s.step(Some(b"\0\0\0\0\x03\0\0\0DOM\0WS9\0")).unwrap_err();
        assert_eq!(e.kind, AuthFailure::BadToken);
        assert!(s.protect(&mut pdu, 0..40, 40..96).is_err());
        assert!(SchannelServer::new(AuthLevel::CONNECT, 0, keys).is_err());
    }

    impl SchannelServer {
        /// Protects `clear` as a response and verifies it as a request at the same sequence
        /// number, leaving the counter as it was.
        fn reflected(&mut self, clear: &[u8]) -> AuthError {
            let seq = self.seq;
            let mut pdu = [clear, &[0; 56]].concat();
            self.protect(&mut pdu, 0..40, 40..96).unwrap();
            self.seq = seq;
            let e = self.verify(&mut pdu, 0..40, 40..96).unwrap_err();
            self.seq = seq;
            e
        }
    }
}
