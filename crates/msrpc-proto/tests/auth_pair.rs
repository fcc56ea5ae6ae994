//! The security legs and per-fragment protection through both state machines, in memory, with a
//! toy package (sequence-numbered checksum, XOR "sealing"): three legs with rpc_auth_3 (as NTLM),
//! four legs over alter_context (as SPNEGO), a failed logon, and the verification trailer.

#![allow(clippy::unwrap_used)]

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use msrpc_proto::auth::{
    Acceptor, AuthError, AuthFailure, AuthStep, PeerIdentity, SecurityContext, level_seals,
};
use msrpc_proto::wire::{AuthLevel, AuthType, PacketType, Pdu};
use msrpc_proto::{
    ClientConfig, ClientConnection, ClientEvent, Error, Execution, FaultStatus, ServerConfig,
    ServerConnection, ServerEvent, StaticRegistry, SyntaxId,
};
use uuid::uuid;

const IFACE: SyntaxId = SyntaxId::new(uuid!("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b"), 1, 0);

/// The toy's script: what each side answers to what.
#[derive(Clone, Copy)]
enum Legs {
    /// NEG -> CHAL -> AUTH (rpc_auth_3).
    Three,
    /// NEG -> CHAL -> AUTH -> DONE (alter_context leg).
    Four,
}

struct Toy {
    legs: Legs,
    server: bool,
    level: AuthLevel,
    password: &'static [u8],
    send_seq: u32,
    recv_seq: u32,
    done: bool,
}

impl Toy {
    fn new(legs: Legs, server: bool, level: AuthLevel, password: &'static [u8]) -> Toy {
        Toy {
            legs,
            server,
            level,
            password,
            send_seq: 0,
            recv_seq: 0,
            done: false,
        }
    }

    fn mac(&self, seq: u32, pdu: &[u8], sig_at: usize) -> u32 {
        let mut h = seq.wrapping_mul(0x9e37_79b9) ^ u32::from(self.password[0]);
        for b in &pdu[..sig_at] {
            h = h.rotate_left(5) ^ u32::from(*b);
        }
        h
    }
}

impl SecurityContext for Toy {
    fn auth_type(&self) -> AuthType {
        AuthType::NTLM
    }
    fn auth_level(&self) -> AuthLevel {
        self.level
    }
    fn context_id(&self) -> u32 {
        77
    }
    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        let bad = || AuthError::new(AuthFailure::LogonFailure, "toy: wrong token");
        let out = |t: &[u8]| t.to_vec();
        let mut auth = b"AUTH:".to_vec();
        auth.extend_from_slice(self.password);
        let r = match (self.server, self.legs, input) {
            (false, _, None) => AuthStep::Continue(out(b"NEG")),
            (false, Legs::Three, Some(b"CHAL")) => AuthStep::Complete(Some(auth)),
            (false, Legs::Four, Some(b"CHAL")) => AuthStep::Continue(auth),
            (false, Legs::Four, Some(b"DONE")) => AuthStep::Complete(None),
            (true, _, Some(b"NEG")) => AuthStep::Continue(out(b"CHAL")),
            (true, legs, Some(t)) if t.starts_with(b"AUTH:") => {
                if &t[5..] != b"right" {
                    return Err(bad());
                }
                match legs {
                    Legs::Three => AuthStep::Complete(None),
                    Legs::Four => AuthStep::Complete(Some(out(b"DONE"))),
                }
            }
            _ => return Err(bad()),
        };
        if matches!(r, AuthStep::Complete(_)) {
            self.done = true;
        }
        Ok(r)
    }
    fn signature_len(&self) -> usize {
        8
    }
    fn protect(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        sig: Range<usize>,
    ) -> Result<(), AuthError> {
        let seq = self.send_seq;
        self.send_seq += 1;
        let mac = self.mac(seq, pdu, sig.start);
        pdu[sig.start..sig.start + 4].copy_from_slice(&seq.to_le_bytes());
        pdu[sig.start + 4..sig.end].copy_from_slice(&mac.to_le_bytes());
        if level_seals(self.level) {
            for b in &mut pdu[body] {
                *b ^= 0x5a;
            }
        }
        Ok(())
    }
    fn verify(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        sig: Range<usize>,
    ) -> Result<(), AuthError> {
        let tampered = |w: &str| Err(AuthError::new(AuthFailure::Tampered, w));
        let seq = u32::from_le_bytes(pdu[sig.start..sig.start + 4].try_into().unwrap());
        if seq != self.recv_seq {
            return tampered("sequence");
        }
        self.recv_seq += 1;
        if level_seals(self.level) {
            for b in &mut pdu[body] {
                *b ^= 0x5a;
            }
        }
        let mac = u32::from_le_bytes(pdu[sig.start + 4..sig.end].try_into().unwrap());
        if mac != self.mac(seq, pdu, sig.start) {
            return tampered("checksum");
        }
        Ok(())
    }
    fn peer_identity(&self) -> Option<PeerIdentity> {
        (self.server && self.done).then(|| PeerIdentity::new("toy-user", "TOY"))
    }
}

struct ToyAcceptor(Legs);

impl Acceptor for ToyAcceptor {
    fn accept(
        &self,
        t: AuthType,
        level: AuthLevel,
        _id: u32,
    ) -> Result<Box<dyn SecurityContext>, AuthError> {
        if t != AuthType::NTLM {
            return Err(AuthError::new(AuthFailure::Unsupported, "toy"));
        }
        Ok(Box::new(Toy::new(self.0, true, level, b"right")))
    }
}

struct Pair {
    client: ClientConnection,
    server: ServerConnection,
    now: Instant,
    /// Every PDU the client sent, as it went on the wire.
    client_wire: Vec<Vec<u8>>,
}

impl Pair {
    fn new(legs: Legs, level: AuthLevel, password: &'static [u8]) -> Pair {
        let registry = Arc::new(StaticRegistry::new(vec![(IFACE, vec![SyntaxId::NDR20])]));
        let mut server = ServerConnection::new(ServerConfig::default(), registry);
        server.set_acceptor(Arc::new(ToyAcceptor(legs)));
        let mut client = ClientConnection::new(ClientConfig::default());
        client
            .set_security(Box::new(Toy::new(legs, false, level, password)))
            .unwrap();
        Pair {
            client,
            server,
            now: Instant::now(),
            client_wire: Vec::new(),
        }
    }

    fn drive(&mut self) {
        for _ in 0..100 {
            let mut moved = false;
            while let Some(b) = self.client.poll_transmit() {
                self.server.handle_bytes(self.now, &b);
                self.client_wire.push(b);
                moved = true;
            }
            while let Some(b) = self.server.poll_transmit() {
                self.client.handle_bytes(self.now, &b);
                moved = true;
            }
            if !moved {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    fn client_events(&mut self) -> Vec<ClientEvent> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    fn server_events(&mut self) -> Vec<ServerEvent> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }

    fn bind(&mut self) -> u16 {
        self.client.bind(&[IFACE]).unwrap();
        self.drive();
        let events = self.client_events();
        let Some(ClientEvent::Bound(b)) = events.first() else {
            panic!("no Bound: {events:?}")
        };
        b.accepted[0].context_id
    }

    fn sent_types(&self) -> Vec<PacketType> {
        self.client_wire
            .iter()
            .map(|b| Pdu::parse(b).unwrap().packet_type())
            .collect()
    }
}

fn answer_every_call(p: &mut Pair) -> Vec<msrpc_proto::IncomingCall> {
    let mut calls = Vec::new();
    for ev in p.server_events() {
        if let ServerEvent::Call(c) = ev {
            p.server
                .respond(c.call_id, Bytes::from(vec![0xC5; 100]))
                .unwrap();
            calls.push(c);
        }
    }
    calls
}

#[test]
fn three_legs_with_rpc_auth_3_then_sealed_calls_both_ways() {
    let mut p = Pair::new(Legs::Three, AuthLevel::PKT_PRIVACY, b"right");
    let ctx = p.bind();
    assert!(p.client.is_authenticated());
    assert_eq!(
        p.sent_types(),
        [PacketType::BIND, PacketType::AUTH3],
        "NTLM-like: bind, then rpc_auth_3 with the bind's call id"
    );
    let secret = b"the quick brown fox jumps over the lazy dog".to_vec();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            p.client
                .start_call(ctx, 3, None, Bytes::from(secret.clone()))
                .unwrap(),
        );
    }
    p.drive();
    // Sealed on the wire: the request stub never appears in clear.
    assert!(
        p.client_wire
            .iter()
            .all(|b| !b.windows(9).any(|w| w == b"quick bro"))
    );
    let calls = answer_every_call(&mut p);
    assert_eq!(calls.len(), 5);
    for c in &calls {
        assert_eq!(&c.stub[..secret.len()], &secret[..]);
        let auth = c.auth.as_ref().unwrap();
        assert_eq!(auth.level, AuthLevel::PKT_PRIVACY);
        assert_eq!(auth.peer.as_ref().unwrap().user, "toy-user");
    }
    p.drive();
    let answers: Vec<_> = p
        .client_events()
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::Response { call_id, stub, .. } => Some((call_id, stub)),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 5);
    assert!(answers.iter().all(|(_, s)| s[..] == [0xC5; 100][..]));
}

#[test]
fn four_legs_over_alter_context_hold_the_bind_back_until_done() {
    let mut p = Pair::new(Legs::Four, AuthLevel::PKT_INTEGRITY, b"right");
    p.client.bind(&[IFACE]).unwrap();
    // Only the bind has gone: calls cannot start before the exchange completes.
    while let Some(b) = p.client.poll_transmit() {
        p.server.handle_bytes(p.now, &b);
        p.client_wire.push(b);
    }
    while let Some(b) = p.server.poll_transmit() {
        p.client.handle_bytes(p.now, &b);
    }
    assert!(
        p.client_events().is_empty(),
        "Bound must wait for the last leg"
    );
    assert!(matches!(
        p.client.start_call(0, 0, None, Bytes::new()),
        Err(Error::InvalidState(_))
    ));
    p.drive();
    let events = p.client_events();
    assert!(
        matches!(events.first(), Some(ClientEvent::Bound(_))),
        "{events:?}"
    );
    assert_eq!(
        p.sent_types(),
        [PacketType::BIND, PacketType::ALTER_CONTEXT],
        "SPNEGO-like: the extra leg travels in alter_context"
    );
    let id = p
        .client
        .start_call(0, 1, None, Bytes::from_static(b"signed"))
        .unwrap();
    p.drive();
    let calls = answer_every_call(&mut p);
    assert_eq!(calls[0].call_id, id);
    assert_eq!(
        calls[0].auth.as_ref().unwrap().level,
        AuthLevel::PKT_INTEGRITY
    );
    // Signed, not sealed: the stub is in clear on the wire.
    assert!(
        p.client_wire
            .iter()
            .any(|b| b.windows(6).any(|w| w == b"signed"))
    );
}

#[test]
fn a_failed_logon_refuses_the_first_call_with_access_denied_and_closes() {
    let mut p = Pair::new(Legs::Three, AuthLevel::PKT_PRIVACY, b"wrong");
    let ctx = p.bind();
    let id = p
        .client
        .start_call(ctx, 0, None, Bytes::from_static(b"x"))
        .unwrap();
    p.drive();
    let server = p.server_events();
    assert!(
        server
            .iter()
            .any(|e| matches!(e, ServerEvent::AuthFailed { .. })),
        "{server:?}"
    );
    assert!(
        !server.iter().any(|e| matches!(e, ServerEvent::Call(_))),
        "dispatched: {server:?}"
    );
    assert!(p.server.is_closed());
    let events = p.client_events();
    // The fault has no PFC_DID_NOT_EXECUTE, as Windows sends it before it disconnects (Samba's
    // raw_protocol _test_auth_none_level_request: pfc_flags 0x03); it used to set the flag.
    assert!(
        events.iter().any(|e| matches!(e,
            ClientEvent::Fault { call_id, status, execution: Execution::MayHaveExecuted, .. }
                if *call_id == id && *status == FaultStatus(5))),
        "{events:?}"
    );
}

#[test]
fn a_replayed_request_fragment_is_refused_and_never_dispatched() {
    let mut p = Pair::new(Legs::Three, AuthLevel::PKT_INTEGRITY, b"right");
    let ctx = p.bind();
    p.client
        .start_call(ctx, 0, None, Bytes::from_static(b"pay 10"))
        .unwrap();
    p.drive();
    assert_eq!(answer_every_call(&mut p).len(), 1);
    p.drive();
    let request = p.client_wire.last().unwrap().clone();
    p.server.handle_bytes(p.now, &request);
    let events = p.server_events();
    assert!(
        !events.iter().any(|e| matches!(e, ServerEvent::Call(_))),
        "{events:?}"
    );
    assert!(p.server.is_closed());
    let out = std::iter::from_fn(|| p.server.poll_transmit()).collect::<Vec<_>>();
    let fault = Pdu::parse(out.last().unwrap()).unwrap();
    assert_eq!(fault.packet_type(), PacketType::FAULT);
}

#[test]
fn the_verification_trailer_is_sent_checked_and_stripped() {
    let mut p = Pair::new(Legs::Three, AuthLevel::PKT_INTEGRITY, b"right");
    let ctx = p.bind();
    // The server answered PFC_SUPPORT_HEADER_SIGN, so requests carry the trailer.
    assert!(p.server.header_signing());
    p.client
        .start_call(ctx, 2, None, Bytes::from_static(b"abcdef"))
        .unwrap();
    p.drive();
    let request = p.client_wire.last().unwrap();
    assert!(request.windows(8).any(|w| w == msrpc_proto::vt::SIGNATURE));
    let calls = answer_every_call(&mut p);
    // The stub reaches the manager without the trailer (2 zero bytes pad it to 4).
    assert_eq!(&calls[0].stub[..], b"abcdef\0\0");
}
