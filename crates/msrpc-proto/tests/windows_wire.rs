//! Windows' behaviour on the wire, one rule a test, as Samba's raw DCE/RPC conformance suite
//! (python3-samba `samba.tests.dcerpc.raw_protocol`, checked against Windows) shows it. Raw PDUs
//! go into a `ServerConnection` and the answers are read back byte by byte. docs/interop.md
//! lists each rule with its source.

#![allow(clippy::unwrap_used)]

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use msrpc_proto::auth::{Acceptor, AuthError, AuthFailure, AuthStep, SecurityContext};
use msrpc_proto::wire::{
    AuthLevel, AuthType, AuthVerifier, Bind, ContextElement, PacketType, Pdu, PduBody, PfcFlags,
    Request,
};
use msrpc_proto::{ServerConfig, ServerConnection, ServerEvent, StaticRegistry, SyntaxId};
use uuid::uuid;

const IFACE: SyntaxId = SyntaxId::new(uuid!("afa8bd80-7d8a-11c9-bef4-08002b102989"), 1, 0);

/// A three-leg package: NEG -> CHAL -> AUTH, which completes with no token (as NTLM).
struct ThreeLegs {
    level: AuthLevel,
}

impl SecurityContext for ThreeLegs {
    fn auth_type(&self) -> AuthType {
        AuthType::NTLM
    }
    fn auth_level(&self) -> AuthLevel {
        self.level
    }
    fn context_id(&self) -> u32 {
        1
    }
    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        match input {
            Some(b"NEG") => Ok(AuthStep::Continue(b"CHAL".to_vec())),
            Some(b"AUTH") => Ok(AuthStep::Complete(None)),
            _ => Err(AuthError::new(AuthFailure::LogonFailure, "wrong token")),
        }
    }
    fn signature_len(&self) -> usize {
        16
    }
    fn protect(&mut self, _: &mut [u8], _: Range<usize>, _: Range<usize>) -> Result<(), AuthError> {
        Ok(())
    }
    fn verify(&mut self, _: &mut [u8], _: Range<usize>, _: Range<usize>) -> Result<(), AuthError> {
        Err(AuthError::new(AuthFailure::Tampered, "never verifies"))
    }
}

struct Acc;

impl Acceptor for Acc {
    fn accept(
        &self,
        _: AuthType,
        level: AuthLevel,
        _: u32,
    ) -> Result<Box<dyn SecurityContext>, AuthError> {
        Ok(Box::new(ThreeLegs { level }))
    }
}

fn server() -> ServerConnection {
    let registry = Arc::new(StaticRegistry::new(vec![(IFACE, vec![SyntaxId::NDR20])]));
    let mut s = ServerConnection::new(ServerConfig::default(), registry);
    s.set_acceptor(Arc::new(Acc));
    s
}

fn ctx(id: u16) -> ContextElement {
    ContextElement {
        context_id: id,
        abstract_syntax: IFACE,
        transfer_syntaxes: vec![SyntaxId::NDR20],
    }
}

fn bind_body(contexts: Vec<ContextElement>) -> Bind {
    Bind {
        max_xmit_frag: 5840,
        max_recv_frag: 5840,
        assoc_group: 0,
        contexts,
    }
}

fn trailer(value: &'static [u8]) -> AuthVerifier {
    AuthVerifier::new(
        AuthType::NTLM,
        AuthLevel::PKT_INTEGRITY,
        1,
        Bytes::from_static(value),
    )
}

/// Feed `pdu`, return every PDU the server sends back (raw).
fn exchange(s: &mut ServerConnection, pdu: &Pdu) -> Vec<Vec<u8>> {
    s.handle_bytes(Instant::now(), &pdu.emit().unwrap());
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

fn one(s: &mut ServerConnection, pdu: &Pdu) -> Vec<u8> {
    let mut out = exchange(s, pdu);
    assert_eq!(out.len(), 1, "one answer expected");
    out.remove(0)
}

fn bound_unauthenticated() -> ServerConnection {
    let mut s = server();
    let ack = one(
        &mut s,
        &Pdu::new(
            0,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Bind(bind_body(vec![ctx(1)])),
        ),
    );
    assert_eq!(ack[2], PacketType::BIND_ACK.0);
    s
}

#[test]
fn the_alter_context_leg_that_completes_a_context_is_answered_with_an_empty_trailer() {
    let mut s = server();
    let mut bind = Pdu::new(
        0,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Bind(bind_body(vec![ctx(1)])),
    );
    bind.auth = Some(trailer(b"NEG"));
    let ack = one(&mut s, &bind);
    assert_eq!(ack[2], PacketType::BIND_ACK.0);
    let mut alter = Pdu::new(
        1,
        PfcFlags::FIRST_AND_LAST,
        PduBody::AlterContext(bind_body(vec![ctx(1)])),
    );
    alter.auth = Some(trailer(b"AUTH"));
    let resp = one(&mut s, &alter);
    assert_eq!(resp[2], PacketType::ALTER_CONTEXT_RESP.0);
    // auth_length 0, and the last 8 bytes are the trailer: NTLM, integrity, pad 0, context 1.
    assert_eq!(u16::from_le_bytes([resp[10], resp[11]]), 0);
    assert_eq!(&resp[resp.len() - 8..], &[0x0a, 5, 0, 0, 1, 0, 0, 0]);
    assert_eq!(
        usize::from(u16::from_le_bytes([resp[8], resp[9]])),
        resp.len()
    );
    // And our own parser takes the PDU (the 8 bytes are not a framed trailer).
    let parsed = Pdu::parse(&resp).unwrap();
    assert!(matches!(parsed.body, PduBody::AlterContextResp(_)));
}

#[test]
fn a_request_refused_for_its_security_is_faulted_without_did_not_execute_and_names_its_context() {
    let mut s = bound_unauthenticated();
    let mut req = Pdu::new(
        3,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Request(Request {
            alloc_hint: 0,
            context_id: 1,
            opnum: 0,
            object: None,
            stub: Bytes::new(),
        }),
    );
    // A trailer for a security context that was never opened.
    req.auth = Some(AuthVerifier::new(
        AuthType(1),
        AuthLevel::CONNECT,
        0,
        Bytes::from_static(b"none"),
    ));
    let fault = one(&mut s, &req);
    assert_eq!(fault[2], PacketType::FAULT.0);
    assert_eq!(fault[3], 0x03, "pfc_flags: FIRST|LAST, no DID_NOT_EXECUTE");
    assert_ne!(
        u32::from_le_bytes(fault[16..20].try_into().unwrap()),
        0,
        "alloc_hint"
    );
    assert_eq!(u16::from_le_bytes([fault[20], fault[21]]), 1, "context_id");
    assert_eq!(u32::from_le_bytes(fault[24..28].try_into().unwrap()), 5);
    assert!(s.is_closed());
}

#[test]
fn a_fault_the_connection_does_not_survive_has_no_did_not_execute() {
    let mut s = bound_unauthenticated();
    // A middle fragment of a call that never started: protocol error, then the close.
    let req = Pdu::new(
        7,
        PfcFlags(0),
        PduBody::Request(Request {
            alloc_hint: 0,
            context_id: 1,
            opnum: 0,
            object: None,
            stub: Bytes::from_static(&[0; 8]),
        }),
    );
    let fault = one(&mut s, &req);
    assert_eq!(fault[2], PacketType::FAULT.0);
    assert_eq!(fault[3], 0x03);
    assert_eq!(
        u32::from_le_bytes(fault[24..28].try_into().unwrap()),
        0x1c01_000b
    );
    assert!(s.is_closed());
}

#[test]
fn a_call_level_fault_keeps_did_not_execute_and_a_nonzero_alloc_hint() {
    let mut s = bound_unauthenticated();
    let req = Pdu::new(
        2,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Request(Request {
            alloc_hint: 0,
            context_id: 9,
            opnum: 0,
            object: None,
            stub: Bytes::new(),
        }),
    );
    let fault = one(&mut s, &req);
    assert_eq!(fault[3], 0x23, "unknown context: the call did not execute");
    assert_ne!(u32::from_le_bytes(fault[16..20].try_into().unwrap()), 0);
    assert!(!s.is_closed());
}

#[test]
fn a_bind_nak_is_padded_to_four_bytes_and_ends_the_association() {
    let mut s = bound_unauthenticated();
    let nak = one(
        &mut s,
        &Pdu::new(
            1,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Bind(bind_body(vec![ctx(1)])),
        ),
    );
    assert_eq!(nak[2], PacketType::BIND_NAK.0);
    // header, reason 0, one version 5.0, three pad bytes.
    assert_eq!(nak.len(), 24);
    assert_eq!(&nak[16..], &[0, 0, 1, 5, 0, 0, 0, 0]);
    assert!(s.is_closed());
}

#[test]
fn a_bind_without_contexts_gets_bind_nak_not_specified() {
    let mut s = server();
    let nak = one(
        &mut s,
        &Pdu::new(
            0,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Bind(bind_body(vec![])),
        ),
    );
    assert_eq!(nak[2], PacketType::BIND_NAK.0);
    assert_eq!(u16::from_le_bytes([nak[16], nak[17]]), 0);
    assert!(s.is_closed());
}

#[test]
fn an_alter_context_without_contexts_is_faulted_proto_error_then_closed() {
    let mut s = bound_unauthenticated();
    let fault = one(
        &mut s,
        &Pdu::new(
            1,
            PfcFlags::FIRST_AND_LAST,
            PduBody::AlterContext(bind_body(vec![])),
        ),
    );
    assert_eq!(fault[2], PacketType::FAULT.0);
    assert_eq!(fault[3], 0x23);
    assert_eq!(
        u32::from_le_bytes(fault[24..28].try_into().unwrap()),
        0x1c01_000b
    );
    assert!(s.is_closed());
}

#[test]
fn a_bind_whose_auth_length_overruns_it_gets_bind_nak_protocol_version() {
    let mut s = server();
    let mut raw = Pdu::new(
        0,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Bind(bind_body(vec![])),
    )
    .emit()
    .unwrap();
    raw[10] = 8; // auth_length 8, and no trailer
    s.handle_bytes(Instant::now(), &raw);
    let nak = s.poll_transmit().unwrap();
    assert_eq!(nak[2], PacketType::BIND_NAK.0);
    assert_eq!(u16::from_le_bytes([nak[16], nak[17]]), 4);
    assert!(s.is_closed());
}

#[test]
fn bind_ack_and_alter_context_resp_carry_the_negotiated_size_in_both_fields() {
    let mut s = server();
    let mut b = bind_body(vec![ctx(1)]);
    b.max_xmit_frag = 0xffff;
    b.max_recv_frag = 3199;
    let ack = one(
        &mut s,
        &Pdu::new(0, PfcFlags::FIRST_AND_LAST, PduBody::Bind(b)),
    );
    assert_eq!(&ack[16..20], &[0x78, 0x0c, 0x78, 0x0c], "3192 and 3192");
    // alter_context's own sizes are ignored.
    let mut a = bind_body(vec![ctx(2)]);
    a.max_xmit_frag = 0xffff;
    a.max_recv_frag = 0xffff;
    let resp = one(
        &mut s,
        &Pdu::new(1, PfcFlags::FIRST_AND_LAST, PduBody::AlterContext(a)),
    );
    assert_eq!(&resp[16..20], &[0x78, 0x0c, 0x78, 0x0c]);
    // Receiving still accepts fragments up to the server's own 5840; one byte more is a
    // proto_error fault (0x03, context 0), then the close.
    let req = |len: usize| {
        Pdu::new(
            2,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Request(Request {
                alloc_hint: 0,
                context_id: 1,
                opnum: 0,
                object: None,
                stub: Bytes::from(vec![0; len - 24]),
            }),
        )
    };
    assert!(exchange(&mut s, &req(5840)).is_empty());
    let mut s2 = server();
    one(
        &mut s2,
        &Pdu::new(
            0,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Bind(bind_body(vec![ctx(1)])),
        ),
    );
    let fault = one(&mut s2, &req(5841));
    assert_eq!(fault[2], PacketType::FAULT.0);
    assert_eq!(fault[3], 0x03);
    assert_eq!(u16::from_le_bytes([fault[20], fault[21]]), 0);
    assert_eq!(
        u32::from_le_bytes(fault[24..28].try_into().unwrap()),
        0x1c01_000b
    );
    assert!(s2.is_closed());
}

#[test]
fn a_feature_element_is_read_from_its_first_transfer_syntax_and_the_rest_ignored() {
    let mut s = server();
    // 6cb71c2c-9812-4540-0300-000000000000 v1: both features, then NDR20 which is ignored.
    let btf = SyntaxId::new(uuid!("6cb71c2c-9812-4540-0300-000000000000"), 1, 0);
    let el = ContextElement {
        context_id: 1,
        abstract_syntax: IFACE,
        transfer_syntaxes: vec![btf, SyntaxId::NDR20],
    };
    let ack = one(
        &mut s,
        &Pdu::new(
            0,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Bind(bind_body(vec![el])),
        ),
    );
    let PduBody::BindAck(a) = Pdu::parse(&ack).unwrap().body else {
        panic!("bind_ack expected")
    };
    assert_eq!(a.results[0].result.0, 3, "negotiate_ack");
    assert_eq!(a.results[0].reason, 3, "both features");
}

#[test]
fn a_response_carries_the_low_byte_of_the_context_id_and_an_unknown_context_fault_names_0() {
    let mut s = server();
    one(
        &mut s,
        &Pdu::new(
            0,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Bind(bind_body(vec![ctx(0x1001)])),
        ),
    );
    let req = |call_id: u32, context_id: u16| {
        Pdu::new(
            call_id,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Request(Request {
                alloc_hint: 0,
                context_id,
                opnum: 0,
                object: None,
                stub: Bytes::new(),
            }),
        )
    };
    assert!(exchange(&mut s, &req(2, 0x1001)).is_empty());
    s.respond(2, Bytes::from_static(&[0; 4])).unwrap();
    let resp = s.poll_transmit().unwrap();
    assert_eq!(resp[2], PacketType::RESPONSE.0);
    assert_eq!(u16::from_le_bytes([resp[20], resp[21]]), 0x01);
    let fault = one(&mut s, &req(3, 12345));
    assert_eq!(fault[3], 0x23);
    assert_eq!(u16::from_le_bytes([fault[20], fault[21]]), 0);
}

#[test]
fn bind_ack_and_alter_context_resp_answer_the_flags_of_their_own_pdu() {
    let mut s = server();
    let hs = PfcFlags::FIRST_AND_LAST | PfcFlags::SUPPORT_HEADER_SIGN;
    let ack = one(
        &mut s,
        &Pdu::new(
            0,
            hs | PfcFlags::CONC_MPX,
            PduBody::Bind(bind_body(vec![ctx(1)])),
        ),
    );
    assert_eq!(
        ack[3], 0x17,
        "FIRST|LAST|HEADER_SIGN|CONC_MPX, without a trailer too"
    );
    let alter = |id, flags| Pdu::new(id, flags, PduBody::AlterContext(bind_body(vec![ctx(2)])));
    assert_eq!(
        one(&mut s, &alter(1, PfcFlags(0xff)))[3],
        0x07,
        "no CONC_MPX on alter_context_resp"
    );
    assert_eq!(
        one(&mut s, &alter(2, PfcFlags::FIRST_AND_LAST))[3],
        0x03,
        "no HEADER_SIGN unless asked"
    );
}

/// Serves IFACE; group 7 exists, any other requested group does not.
struct Groups;

impl msrpc_proto::InterfaceRegistry for Groups {
    fn transfer_syntaxes(&self, i: &SyntaxId) -> Option<Vec<SyntaxId>> {
        (*i == IFACE).then(|| vec![SyntaxId::NDR20])
    }
    fn assoc_group(&self, requested: u32) -> u32 {
        match requested {
            0 => 9,
            7 => 7,
            _ => 0,
        }
    }
}

#[test]
fn a_bind_for_an_association_group_that_does_not_exist_gets_bind_nak() {
    let bind = |group| {
        let mut b = bind_body(vec![ctx(1)]);
        b.assoc_group = group;
        Pdu::new(0, PfcFlags::FIRST_AND_LAST, PduBody::Bind(b))
    };
    for (group, answer) in [
        (0, PacketType::BIND_ACK),
        (7, PacketType::BIND_ACK),
        (8, PacketType::BIND_NAK),
    ] {
        let mut s = ServerConnection::new(ServerConfig::default(), Arc::new(Groups));
        let out = one(&mut s, &bind(group));
        assert_eq!(out[2], answer.0, "group {group}");
        assert_eq!(s.is_closed(), answer == PacketType::BIND_NAK);
    }
}

#[test]
fn a_context_without_transfer_syntaxes_or_two_feature_elements_end_the_association() {
    let empty = ContextElement {
        context_id: 1,
        abstract_syntax: IFACE,
        transfer_syntaxes: vec![],
    };
    let mut s = server();
    let nak = one(
        &mut s,
        &Pdu::new(
            0,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Bind(bind_body(vec![empty.clone()])),
        ),
    );
    assert_eq!(nak[2], PacketType::BIND_NAK.0);
    assert!(s.is_closed());

    let btf = |bits: &str| {
        let u = uuid::Uuid::parse_str(&format!("6cb71c2c-9812-4540-{bits}-000000000000")).unwrap();
        ContextElement {
            context_id: 1,
            abstract_syntax: SyntaxId::new(uuid::Uuid::nil(), 0, 0),
            transfer_syntaxes: vec![SyntaxId::new(u, 1, 0)],
        }
    };
    let mut s = server();
    let twice = vec![btf("0100"), btf("0200")];
    let nak = one(
        &mut s,
        &Pdu::new(0, PfcFlags::FIRST_AND_LAST, PduBody::Bind(bind_body(twice))),
    );
    assert_eq!(nak[2], PacketType::BIND_NAK.0);
    assert!(s.is_closed());

    let mut s = bound_unauthenticated();
    let fault = one(
        &mut s,
        &Pdu::new(
            1,
            PfcFlags::FIRST_AND_LAST,
            PduBody::AlterContext(bind_body(vec![empty])),
        ),
    );
    assert_eq!(fault[2], PacketType::FAULT.0);
    assert_eq!(
        u32::from_le_bytes(fault[24..28].try_into().unwrap()),
        0x1c01_000b
    );
    assert!(s.is_closed());
}

#[test]
fn an_alter_context_cut_short_after_its_context_count_is_faulted_then_closed() {
    let mut s = bound_unauthenticated();
    let mut raw = Pdu::new(
        1,
        PfcFlags::FIRST_AND_LAST,
        PduBody::AlterContext(bind_body(vec![])),
    )
    .emit()
    .unwrap();
    raw.truncate(25); // no reserved bytes after n_context_elem
    raw[8] = 25;
    s.handle_bytes(Instant::now(), &raw);
    let fault = s.poll_transmit().unwrap();
    assert_eq!(fault[2], PacketType::FAULT.0);
    assert_eq!(fault[3], 0x23);
    assert_eq!(
        u32::from_le_bytes(fault[24..28].try_into().unwrap()),
        0x1c01_000b
    );
    assert!(s.is_closed());
}

/// Bind with NEG, then send `alter` as the next leg; returns the answer and the server.
fn leg_after_neg(alter: Pdu) -> (Vec<u8>, ServerConnection) {
    let mut s = server();
    let mut bind = Pdu::new(
        0,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Bind(bind_body(vec![ctx(1)])),
    );
    bind.auth = Some(trailer(b"NEG"));
    assert_eq!(one(&mut s, &bind)[2], PacketType::BIND_ACK.0);
    let answer = one(&mut s, &alter);
    (answer, s)
}

fn fault_status(fault: &[u8]) -> u32 {
    assert_eq!(fault[2], PacketType::FAULT.0);
    u32::from_le_bytes(fault[24..28].try_into().unwrap())
}

#[test]
fn a_failed_leg_of_an_exchange_in_progress_is_faulted_then_closed() {
    // A token the package refuses (a wrong password): access denied.
    let mut alter = Pdu::new(
        1,
        PfcFlags::FIRST_AND_LAST,
        PduBody::AlterContext(bind_body(vec![ctx(1)])),
    );
    alter.auth = Some(trailer(b"BAD"));
    let (fault, s) = leg_after_neg(alter.clone());
    assert_eq!(fault_status(&fault), 5);
    assert_eq!(fault[3], 0x23, "PFC_DID_NOT_EXECUTE");
    assert!(s.is_closed());
    // A leg that changes the package: RPC_S_SEC_PKG_ERROR.
    let mut other = alter.clone();
    other.auth = Some(AuthVerifier::new(
        AuthType::KERBEROS,
        AuthLevel::PKT_INTEGRITY,
        1,
        Bytes::from_static(b"AUTH"),
    ));
    let (fault, s) = leg_after_neg(other);
    assert_eq!(fault_status(&fault), 0x721);
    assert!(s.is_closed());
    // One that changes the level, or names auth type none: access denied.
    for (t, l) in [
        (AuthType::NTLM, AuthLevel::PKT_PRIVACY),
        (AuthType::NONE, AuthLevel::PKT_INTEGRITY),
    ] {
        let mut changed = alter.clone();
        changed.auth = Some(AuthVerifier::new(t, l, 1, Bytes::from_static(b"AUTH")));
        let (fault, s) = leg_after_neg(changed);
        assert_eq!(fault_status(&fault), 5);
        assert!(s.is_closed());
    }
    // The same leg with the right token completes and the association stays.
    let mut good = alter;
    good.auth = Some(trailer(b"AUTH"));
    let (resp, s) = leg_after_neg(good);
    assert_eq!(resp[2], PacketType::ALTER_CONTEXT_RESP.0);
    assert!(!s.is_closed());
}

#[test]
fn a_leg_that_changes_a_presentation_context_is_faulted_proto_error_then_closed() {
    let changed = [
        ContextElement {
            transfer_syntaxes: vec![SyntaxId::NDR20, SyntaxId::NDR64],
            ..ctx(1)
        },
        ContextElement {
            abstract_syntax: SyntaxId::new(uuid!("e1af8308-5d1f-11c9-91a4-08002b14a0fa"), 3, 0),
            ..ctx(1)
        },
    ];
    for c in changed {
        let mut alter = Pdu::new(
            1,
            PfcFlags::FIRST_AND_LAST,
            PduBody::AlterContext(bind_body(vec![c])),
        );
        alter.auth = Some(trailer(b"AUTH"));
        let (fault, s) = leg_after_neg(alter);
        assert_eq!(fault_status(&fault), 0x1c01_000b);
        assert_eq!(fault[3], 0x23);
        assert!(s.is_closed());
    }
}

/// Refuses every level with `AuthFailure::Package` (as the runtime's Negotiate at the call
/// level), or every package with `Unsupported`.
struct Refusing(AuthFailure);

impl Acceptor for Refusing {
    fn accept(
        &self,
        _: AuthType,
        _: AuthLevel,
        _: u32,
    ) -> Result<Box<dyn SecurityContext>, AuthError> {
        Err(AuthError::new(self.0, "refused"))
    }
}

#[test]
fn a_package_that_refuses_the_level_gets_bind_nak_9_an_unknown_one_8() {
    for (kind, reason) in [(AuthFailure::Package, 9u8), (AuthFailure::Unsupported, 8)] {
        let registry = Arc::new(StaticRegistry::new(vec![(IFACE, vec![SyntaxId::NDR20])]));
        let mut s = ServerConnection::new(ServerConfig::default(), registry);
        s.set_acceptor(Arc::new(Refusing(kind)));
        let mut bind = Pdu::new(
            0,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Bind(bind_body(vec![ctx(1)])),
        );
        bind.auth = Some(trailer(b"NEG"));
        let nak = one(&mut s, &bind);
        assert_eq!(nak[2], PacketType::BIND_NAK.0);
        assert_eq!(nak[16], reason, "{kind:?}");
        assert!(s.is_closed());
    }
}

#[test]
fn a_request_before_the_security_exchange_finished_is_a_protocol_error_then_closed() {
    let mut s = server();
    let mut bind = Pdu::new(
        0,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Bind(bind_body(vec![ctx(1)])),
    );
    bind.auth = Some(trailer(b"NEG"));
    assert_eq!(one(&mut s, &bind)[2], PacketType::BIND_ACK.0);
    let mut req = Pdu::new(
        1,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Request(Request {
            alloc_hint: 0,
            context_id: 1,
            opnum: 0,
            object: None,
            stub: Bytes::new(),
        }),
    );
    req.auth = Some(trailer(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    let fault = one(&mut s, &req);
    assert_eq!(fault_status(&fault), 0x1c01_000b);
    assert_eq!(fault[3], 0x23, "PFC_DID_NOT_EXECUTE");
    assert_eq!(u16::from_le_bytes([fault[20], fault[21]]), 0, "context 0");
    assert!(s.is_closed());
}

/// Completes on AUTH with a token still to send back (as SPNEGO's accept-completed).
struct LastWord;

impl Acceptor for LastWord {
    fn accept(
        &self,
        _: AuthType,
        level: AuthLevel,
        _: u32,
    ) -> Result<Box<dyn SecurityContext>, AuthError> {
        struct Ctx(AuthLevel);
        impl SecurityContext for Ctx {
            fn auth_type(&self) -> AuthType {
                AuthType::NTLM
            }
            fn auth_level(&self) -> AuthLevel {
                self.0
            }
            fn context_id(&self) -> u32 {
                1
            }
            fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
                match input {
                    Some(b"NEG") => Ok(AuthStep::Continue(b"CHAL".to_vec())),
                    _ => Ok(AuthStep::Complete(Some(b"DONE".to_vec()))),
                }
            }
            fn signature_len(&self) -> usize {
                16
            }
            fn protect(
                &mut self,
                _: &mut [u8],
                _: Range<usize>,
                _: Range<usize>,
            ) -> Result<(), AuthError> {
                Ok(())
            }
            fn verify(
                &mut self,
                _: &mut [u8],
                _: Range<usize>,
                _: Range<usize>,
            ) -> Result<(), AuthError> {
                Ok(())
            }
        }
        Ok(Box::new(Ctx(level)))
    }
}

fn request(call_id: u32, auth: Option<AuthVerifier>) -> Pdu {
    let mut req = Pdu::new(
        call_id,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Request(Request {
            alloc_hint: 0,
            context_id: 1,
            opnum: 0,
            object: None,
            stub: Bytes::new(),
        }),
    );
    req.auth = auth;
    req
}

#[test]
fn rpc_auth_3_cannot_finish_a_package_that_has_a_token_to_answer() {
    for (acceptor, completes) in [
        (Arc::new(Acc) as Arc<dyn Acceptor>, true),
        (Arc::new(LastWord) as Arc<dyn Acceptor>, false),
    ] {
        let registry = Arc::new(StaticRegistry::new(vec![(IFACE, vec![SyntaxId::NDR20])]));
        let mut s = ServerConnection::new(ServerConfig::default(), registry);
        s.set_acceptor(acceptor);
        let level = AuthLevel::CONNECT;
        let t =
            |v: &'static [u8]| AuthVerifier::new(AuthType::NTLM, level, 1, Bytes::from_static(v));
        let mut bind = Pdu::new(
            0,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Bind(bind_body(vec![ctx(1)])),
        );
        bind.auth = Some(t(b"NEG"));
        assert_eq!(one(&mut s, &bind)[2], PacketType::BIND_ACK.0);
        let mut auth3 = Pdu::new(0, PfcFlags::FIRST_AND_LAST, PduBody::Auth3 { pad: [0; 4] });
        auth3.auth = Some(t(b"AUTH"));
        assert!(exchange(&mut s, &auth3).is_empty());
        let answers = exchange(&mut s, &request(2, Some(t(&[0; 16]))));
        if completes {
            // Established at connect: the call is dispatched (nothing is sent yet).
            assert!(answers.is_empty(), "{answers:?}");
            assert!(!s.is_closed());
        } else {
            assert_eq!(fault_status(&answers[0]), 5);
            assert!(s.is_closed());
        }
    }
}

#[test]
fn a_request_at_another_level_than_its_context_is_access_denied_then_closed() {
    let mut s = server();
    let c = |v: &'static [u8]| {
        AuthVerifier::new(AuthType::NTLM, AuthLevel::CONNECT, 1, Bytes::from_static(v))
    };
    let mut bind = Pdu::new(
        0,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Bind(bind_body(vec![ctx(1)])),
    );
    bind.auth = Some(c(b"NEG"));
    assert_eq!(one(&mut s, &bind)[2], PacketType::BIND_ACK.0);
    let mut alter = Pdu::new(
        1,
        PfcFlags::FIRST_AND_LAST,
        PduBody::AlterContext(bind_body(vec![ctx(1)])),
    );
    alter.auth = Some(c(b"AUTH"));
    assert_eq!(one(&mut s, &alter)[2], PacketType::ALTER_CONTEXT_RESP.0);
    let packet = AuthVerifier::new(
        AuthType::NTLM,
        AuthLevel::PACKET,
        1,
        Bytes::from_static(&[0; 16]),
    );
    let fault = one(&mut s, &request(2, Some(packet)));
    assert_eq!(fault_status(&fault), 5);
    assert_eq!(
        fault[3], 0x03,
        "no PFC_DID_NOT_EXECUTE: the connection does not survive it"
    );
    assert_eq!(
        u16::from_le_bytes([fault[20], fault[21]]),
        1,
        "the request's context"
    );
    assert!(s.is_closed());
}

/// A two-leg package (NEG, then AUTH on alter_context) whose signature is 16 bytes of its
/// `auth_context_id`: a fragment verifies only with the context that signed it.
struct Keyed {
    id: u32,
    level: AuthLevel,
}

impl SecurityContext for Keyed {
    fn auth_type(&self) -> AuthType {
        AuthType::NTLM
    }
    fn auth_level(&self) -> AuthLevel {
        self.level
    }
    fn context_id(&self) -> u32 {
        self.id
    }
    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        match input {
            Some(b"NEG") => Ok(AuthStep::Continue(b"CHAL".to_vec())),
            Some(b"AUTH") => Ok(AuthStep::Complete(None)),
            _ => Err(AuthError::new(AuthFailure::LogonFailure, "wrong token")),
        }
    }
    fn signature_len(&self) -> usize {
        16
    }
    fn protect(
        &mut self,
        pdu: &mut [u8],
        _: Range<usize>,
        sig: Range<usize>,
    ) -> Result<(), AuthError> {
        pdu[sig].fill(self.id as u8);
        Ok(())
    }
    fn verify(
        &mut self,
        pdu: &mut [u8],
        _: Range<usize>,
        sig: Range<usize>,
    ) -> Result<(), AuthError> {
        if pdu[sig].iter().all(|b| *b == self.id as u8) {
            Ok(())
        } else {
            Err(AuthError::new(
                AuthFailure::Tampered,
                "another context's signature",
            ))
        }
    }
}

struct KeyedAcc;

impl Acceptor for KeyedAcc {
    fn accept(
        &self,
        _: AuthType,
        level: AuthLevel,
        id: u32,
    ) -> Result<Box<dyn SecurityContext>, AuthError> {
        Ok(Box::new(Keyed { id, level }))
    }
}

const PROTO_ERROR: u32 = 0x1c01_000b;
const SEC_PKG_ERROR: u32 = 0x0000_0721;

fn keyed_trailer(id: u32, value: &'static [u8]) -> AuthVerifier {
    AuthVerifier::new(
        AuthType::NTLM,
        AuthLevel::PKT_INTEGRITY,
        id,
        Bytes::from_static(value),
    )
}

/// An unauthenticated bind (with `PFC_CONC_MPX` when `mpx`), then security contexts `ids`, each
/// opened by alter_context at integrity, as the suite's `_test_generic_auth_first_2nd`.
fn bound_with_contexts(config: ServerConfig, mpx: bool, ids: &[u32]) -> ServerConnection {
    let registry = Arc::new(StaticRegistry::new(vec![(IFACE, vec![SyntaxId::NDR20])]));
    let mut s = ServerConnection::new(config, registry);
    s.set_acceptor(Arc::new(KeyedAcc));
    let mut flags = PfcFlags::FIRST_AND_LAST;
    if mpx {
        flags = flags | PfcFlags::CONC_MPX;
    }
    let ack = one(
        &mut s,
        &Pdu::new(0, flags, PduBody::Bind(bind_body(vec![ctx(1)]))),
    );
    assert_eq!(ack[2], PacketType::BIND_ACK.0);
    for &id in ids {
        for leg in [&b"NEG"[..], &b"AUTH"[..]] {
            let mut alter = Pdu::new(
                id,
                PfcFlags::FIRST_AND_LAST,
                PduBody::AlterContext(bind_body(vec![ctx(1)])),
            );
            let value: &'static [u8] = if leg == b"NEG" { b"NEG" } else { b"AUTH" };
            alter.auth = Some(keyed_trailer(id, value));
            assert_eq!(one(&mut s, &alter)[2], PacketType::ALTER_CONTEXT_RESP.0);
        }
    }
    while s.poll_event().is_some() {}
    s
}

/// A request fragment of call `call_id` on presentation context `context_id`, signed by
/// security context `signer` (or without a trailer), its trailer naming `auth`.
fn fragment(
    call_id: u32,
    flags: PfcFlags,
    context_id: u16,
    signer: Option<u32>,
    auth: (AuthType, AuthLevel, u32),
) -> Vec<u8> {
    let mut req = Pdu::new(
        call_id,
        flags,
        PduBody::Request(Request {
            alloc_hint: 32,
            context_id,
            opnum: 0,
            object: None,
            stub: Bytes::from_static(&[0xfe; 16]),
        }),
    );
    if let Some(id) = signer {
        let sig = Bytes::from(vec![id as u8; 16]);
        req.auth = Some(AuthVerifier::new(auth.0, auth.1, auth.2, sig));
    }
    req.emit().unwrap()
}

fn feed(s: &mut ServerConnection, bytes: &[u8]) -> Vec<Vec<u8>> {
    s.handle_bytes(Instant::now(), bytes);
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

fn call_and_context(fault: &[u8]) -> (u32, u16, u8) {
    (
        u32::from_le_bytes(fault[12..16].try_into().unwrap()),
        u16::from_le_bytes([fault[20], fault[21]]),
        fault[3],
    )
}

const OWN: (AuthType, AuthLevel, u32) = (AuthType::NTLM, AuthLevel::PKT_INTEGRITY, 1);

#[test]
fn a_fragment_of_another_call_during_reassembly_is_a_protocol_error_then_closed() {
    // Without CONC_MPX the fault names the call in reassembly and its context; with it, the
    // new call and context 0. Never PFC_DID_NOT_EXECUTE.
    for (mpx, second_first, expected) in [
        (false, false, (3, 1, 0x03)),
        (false, true, (3, 1, 0x03)),
        (true, false, (4, 0, 0x03)),
        (true, true, (4, 0, 0x03)),
    ] {
        let mut s = bound_with_contexts(ServerConfig::default(), mpx, &[1, 2]);
        assert!(feed(&mut s, &fragment(3, PfcFlags::FIRST_FRAG, 1, Some(1), OWN)).is_empty());
        let flags = if second_first {
            PfcFlags::FIRST_FRAG
        } else {
            PfcFlags::LAST_FRAG
        };
        let other = (AuthType::NTLM, AuthLevel::PKT_INTEGRITY, 2);
        let out = feed(&mut s, &fragment(4, flags, 1, Some(2), other));
        assert_eq!(out.len(), 1, "mpx {mpx}");
        assert_eq!(fault_status(&out[0]), PROTO_ERROR);
        assert_eq!(call_and_context(&out[0]), expected, "mpx {mpx}");
        assert!(s.is_closed());
    }
}

#[test]
fn a_continuation_fragment_is_verified_with_its_calls_context_whatever_it_names() {
    // Trailer fields, p_cont_id and opnum of a continuation are ignored: the call completes.
    let mut s = bound_with_contexts(ServerConfig::default(), false, &[1, 2]);
    assert!(feed(&mut s, &fragment(3, PfcFlags::FIRST_FRAG, 1, Some(1), OWN)).is_empty());
    let junk = (AuthType(111), AuthLevel(111), 111);
    assert!(
        feed(
            &mut s,
            &fragment(3, PfcFlags::LAST_FRAG, 111, Some(1), junk)
        )
        .is_empty()
    );
    let call = std::iter::from_fn(|| s.poll_event()).find_map(|e| match e {
        msrpc_proto::ServerEvent::Call(c) => Some(c),
        _ => None,
    });
    let call = call.expect("the call is dispatched");
    assert_eq!((call.call_id, call.context_id, call.stub.len()), (3, 1, 32));
    assert_eq!(call.auth.unwrap().context_id, 1);

    // Signed by another context (whose trailer it names): RPC_S_SEC_PKG_ERROR; without a
    // trailer, or a first fragment again: nca_s_proto_error. Each names the call's context.
    let ctx2 = (AuthType::NTLM, AuthLevel::PACKET, 2);
    for (flags, signer, names, status) in [
        (PfcFlags::LAST_FRAG, Some(2), ctx2, SEC_PKG_ERROR),
        (PfcFlags::FIRST_FRAG, Some(2), ctx2, SEC_PKG_ERROR),
        (PfcFlags::LAST_FRAG, None, OWN, PROTO_ERROR),
        (PfcFlags::FIRST_FRAG, None, OWN, PROTO_ERROR),
        (PfcFlags::FIRST_FRAG, Some(1), junk, PROTO_ERROR),
    ] {
        let mut s = bound_with_contexts(ServerConfig::default(), false, &[1, 2]);
        assert!(feed(&mut s, &fragment(3, PfcFlags::FIRST_FRAG, 1, Some(1), OWN)).is_empty());
        let out = feed(&mut s, &fragment(3, flags, 111, signer, names));
        assert_eq!(out.len(), 1);
        assert_eq!(fault_status(&out[0]), status, "{flags:?} {signer:?}");
        assert_eq!(call_and_context(&out[0]), (3, 1, 0x03));
        assert!(s.is_closed());
    }
}

#[test]
fn with_conc_mpx_a_stray_fragment_is_checked_as_a_request_before_it_is_refused() {
    // Unknown presentation context: nca_s_unknown_if, context 0, PFC_DID_NOT_EXECUTE, still up.
    let mut s = bound_with_contexts(ServerConfig::default(), true, &[1]);
    let out = feed(&mut s, &fragment(3, PfcFlags::NONE, 111, Some(1), OWN));
    assert_eq!(fault_status(&out[0]), 0x1c01_0003);
    assert_eq!(call_and_context(&out[0]), (3, 0, 0x23));
    assert!(!s.is_closed());
    // A trailer naming no established context: access denied naming the request's context.
    let mut s = bound_with_contexts(ServerConfig::default(), true, &[1]);
    let other = (AuthType::NTLM, AuthLevel::PKT_INTEGRITY, 111);
    let out = feed(&mut s, &fragment(3, PfcFlags::NONE, 1, Some(1), other));
    assert_eq!(fault_status(&out[0]), 5);
    assert_eq!(call_and_context(&out[0]), (3, 1, 0x03));
    assert!(s.is_closed());
    // Everything right but the first fragment: nca_s_proto_error naming the context.
    let mut s = bound_with_contexts(ServerConfig::default(), true, &[1]);
    let out = feed(&mut s, &fragment(3, PfcFlags::NONE, 1, Some(1), OWN));
    assert_eq!(fault_status(&out[0]), PROTO_ERROR);
    assert_eq!(call_and_context(&out[0]), (3, 1, 0x03));
    assert!(s.is_closed());
}

#[test]
fn an_orphaned_pdu_for_a_request_still_arriving_is_ignored() {
    let mut s = bound_unauthenticated();
    let first = Pdu::new(
        1,
        PfcFlags::FIRST_FRAG,
        PduBody::Request(Request {
            alloc_hint: 0,
            context_id: 1,
            opnum: 0,
            object: None,
            stub: Bytes::from_static(&[1; 8]),
        }),
    );
    assert!(exchange(&mut s, &first).is_empty());
    let orphaned = Pdu::new(1, PfcFlags::FIRST_AND_LAST, PduBody::Orphaned);
    assert!(exchange(&mut s, &orphaned).is_empty());
    let mut last = first.clone();
    last.flags = PfcFlags::LAST_FRAG;
    assert!(exchange(&mut s, &last).is_empty());
    let call = std::iter::from_fn(|| s.poll_event()).find_map(|e| match e {
        msrpc_proto::ServerEvent::Call(c) => Some(c),
        _ => None,
    });
    assert_eq!(call.expect("the call completes").stub.len(), 16);
}

#[test]
fn one_security_context_past_the_limit_is_faulted_proto_error_then_closed() {
    assert_eq!(ServerConfig::default().max_auth_contexts, 2049);
    let mut config = ServerConfig::default();
    config.max_auth_contexts = 2;
    let mut s = bound_with_contexts(config, false, &[1, 2]);
    let mut alter = Pdu::new(
        3,
        PfcFlags::FIRST_AND_LAST,
        PduBody::AlterContext(bind_body(vec![ctx(1)])),
    );
    alter.auth = Some(keyed_trailer(3, b"NEG"));
    let fault = one(&mut s, &alter);
    assert_eq!(fault_status(&fault), PROTO_ERROR);
    assert_eq!(call_and_context(&fault), (3, 0, 0x23));
    assert!(s.is_closed());
}

/// `pdu` emitted, with the auth_pad_length of its trailer set to `pad` (no pad bytes added).
fn with_pad_length(pdu: &Pdu, pad: impl Fn(usize) -> usize) -> Vec<u8> {
    let mut b = pdu.emit().unwrap();
    let auth_len = usize::from(u16::from_le_bytes([b[10], b[11]]));
    let trailer_at = b.len() - auth_len - 8;
    b[trailer_at + 2] = u8::try_from(pad(trailer_at)).unwrap();
    b
}

#[test]
fn a_bind_auth_pad_length_is_not_stripped_only_checked_against_the_trailer_offset_less_24() {
    let mut bind = Pdu::new(
        0,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Bind(bind_body(vec![ctx(1)])),
    );
    bind.auth = Some(trailer(b"NEG"));
    // A pad that would swallow the context list: the body is still read up to the trailer.
    let mut s = server();
    let out = feed(&mut s, &with_pad_length(&bind, |at| at - 24));
    assert_eq!(out[0][2], PacketType::BIND_ACK.0);
    assert!(!s.is_closed());
    // One more: bind_nak "protocol version not supported" (4), then the close.
    let mut s = server();
    let out = feed(&mut s, &with_pad_length(&bind, |at| at - 24 + 1));
    assert_eq!(out[0][2], PacketType::BIND_NAK.0);
    assert_eq!(u16::from_le_bytes([out[0][16], out[0][17]]), 4);
    assert!(s.is_closed());
    // A real pad (bytes present before the trailer) is still taken.
    let mut padded = bind.clone();
    padded.auth.as_mut().unwrap().pad = Bytes::from_static(&[0; 4]);
    let mut s = server();
    assert_eq!(one(&mut s, &padded)[2], PacketType::BIND_ACK.0);
}

#[test]
fn an_rpc_auth_3_whose_pad_does_not_fit_is_faulted_no_memory_then_closed() {
    for (pad, refused) in [(0, false), (1, true)] {
        let mut s = server();
        let mut bind = Pdu::new(
            0,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Bind(bind_body(vec![ctx(1)])),
        );
        bind.auth = Some(trailer(b"NEG"));
        assert_eq!(one(&mut s, &bind)[2], PacketType::BIND_ACK.0);
        let mut auth3 = Pdu::new(0, PfcFlags::FIRST_AND_LAST, PduBody::Auth3 { pad: [0; 4] });
        auth3.auth = Some(trailer(b"AUTH"));
        let out = feed(&mut s, &with_pad_length(&auth3, |_| pad));
        if refused {
            assert_eq!(fault_status(&out[0]), 0x1c00_001b);
            assert_eq!(call_and_context(&out[0]), (0, 0, 0x23));
            assert!(s.is_closed());
        } else {
            assert!(out.is_empty());
            assert!(!s.is_closed());
        }
    }
}

#[test]
fn a_new_exchange_on_an_established_context_is_refused_then_closed() {
    // Over alter_context: access denied, PFC_DID_NOT_EXECUTE, context 0.
    let mut s = bound_with_contexts(ServerConfig::default(), false, &[2]);
    let mut alter = Pdu::new(
        5,
        PfcFlags::FIRST_AND_LAST,
        PduBody::AlterContext(bind_body(vec![ctx(1)])),
    );
    alter.auth = Some(keyed_trailer(2, b"NEG"));
    let fault = one(&mut s, &alter);
    assert_eq!(fault_status(&fault), 5);
    assert_eq!(call_and_context(&fault), (5, 0, 0x23));
    assert!(s.is_closed());
    // Over rpc_auth_3: nca_s_proto_error, PFC_DID_NOT_EXECUTE, context 0.
    let mut s = bound_with_contexts(ServerConfig::default(), false, &[2]);
    let mut auth3 = Pdu::new(6, PfcFlags::FIRST_AND_LAST, PduBody::Auth3 { pad: [0; 4] });
    auth3.auth = Some(keyed_trailer(2, b"NEG"));
    let fault = one(&mut s, &auth3);
    assert_eq!(fault_status(&fault), PROTO_ERROR);
    assert_eq!(call_and_context(&fault), (6, 0, 0x23));
    assert!(s.is_closed());
    // An alter_context without a trailer still only adds presentation contexts.
    let mut s = bound_with_contexts(ServerConfig::default(), false, &[2]);
    let alter = Pdu::new(
        7,
        PfcFlags::FIRST_AND_LAST,
        PduBody::AlterContext(bind_body(vec![ctx(1), ctx(3)])),
    );
    assert_eq!(one(&mut s, &alter)[2], PacketType::ALTER_CONTEXT_RESP.0);
    assert!(!s.is_closed());
}

#[test]
fn an_alter_context_that_changes_an_accepted_transfer_syntax_is_a_protocol_error_then_closed() {
    let registry = Arc::new(StaticRegistry::new(vec![(
        IFACE,
        vec![SyntaxId::NDR20, SyntaxId::NDR64],
    )]));
    let bound = || {
        let mut s = ServerConnection::new(ServerConfig::default(), registry.clone());
        let bind = Pdu::new(
            0,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Bind(bind_body(vec![ctx(1)])),
        );
        assert_eq!(one(&mut s, &bind)[2], PacketType::BIND_ACK.0);
        s
    };
    let alter = |syntaxes: Vec<SyntaxId>| {
        Pdu::new(
            1,
            PfcFlags::FIRST_AND_LAST,
            PduBody::AlterContext(bind_body(vec![ContextElement {
                context_id: 1,
                abstract_syntax: IFACE,
                transfer_syntaxes: syntaxes,
            }])),
        )
    };
    // Context 1 has NDR20; offering it NDR64 instead: nca_s_proto_error, then the close.
    let mut s = bound();
    let fault = one(&mut s, &alter(vec![SyntaxId::NDR64]));
    assert_eq!(fault_status(&fault), PROTO_ERROR);
    assert_eq!(call_and_context(&fault), (1, 0, 0x23));
    assert!(s.is_closed());
    // The same syntax again is fine; unknown syntaxes only are rejected and the context stays.
    let mut s = bound();
    assert_eq!(
        one(&mut s, &alter(vec![SyntaxId::NDR20]))[2],
        PacketType::ALTER_CONTEXT_RESP.0
    );
    let unknown = SyntaxId::new(uuid!("e1af8308-5d1f-11c9-91a4-08002b14a0fa"), 3, 0);
    assert_eq!(
        one(&mut s, &alter(vec![unknown]))[2],
        PacketType::ALTER_CONTEXT_RESP.0
    );
    assert!(!s.is_closed());
    assert_eq!(s.context(1).unwrap().transfer_syntax, SyntaxId::NDR20);
}

/// A three-leg context that records what the core tells it about header signing.
struct HeaderProbe {
    inner: ThreeLegs,
    /// The last `set_header_signing` value (None: never told).
    told: Arc<std::sync::Mutex<Option<bool>>>,
}

impl SecurityContext for HeaderProbe {
    fn auth_type(&self) -> AuthType {
        self.inner.auth_type()
    }
    fn auth_level(&self) -> AuthLevel {
        self.inner.auth_level()
    }
    fn context_id(&self) -> u32 {
        1
    }
    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        self.inner.step(input)
    }
    fn signature_len(&self) -> usize {
        16
    }
    fn protect(&mut self, _: &mut [u8], _: Range<usize>, _: Range<usize>) -> Result<(), AuthError> {
        Ok(())
    }
    fn verify(&mut self, _: &mut [u8], _: Range<usize>, _: Range<usize>) -> Result<(), AuthError> {
        Ok(())
    }
    fn set_header_signing(&mut self, on: bool) {
        *self.told.lock().unwrap() = Some(on);
    }
}

struct ProbeAcc(Arc<std::sync::Mutex<Option<bool>>>);

impl Acceptor for ProbeAcc {
    fn accept(
        &self,
        _: AuthType,
        level: AuthLevel,
        _: u32,
    ) -> Result<Box<dyn SecurityContext>, AuthError> {
        Ok(Box::new(HeaderProbe {
            inner: ThreeLegs { level },
            told: self.0.clone(),
        }))
    }
}

/// How far header signing got: `flags` on the bind (NEG), then the second leg as `second`
/// (alter_context or rpc_auth_3) with `flags2`, then an alter_context without a trailer with
/// `flags3` (None: not sent). Returns what the context was told after each step.
fn header_signing_after(
    flags: PfcFlags,
    second: PacketType,
    flags2: PfcFlags,
    flags3: Option<PfcFlags>,
) -> Vec<Option<bool>> {
    let told = Arc::new(std::sync::Mutex::new(None));
    let registry = Arc::new(StaticRegistry::new(vec![(IFACE, vec![SyntaxId::NDR20])]));
    let mut s = ServerConnection::new(ServerConfig::default(), registry);
    s.set_acceptor(Arc::new(ProbeAcc(told.clone())));
    let mut seen = Vec::new();
    let mut bind = Pdu::new(0, flags, PduBody::Bind(bind_body(vec![ctx(1)])));
    bind.auth = Some(trailer(b"NEG"));
    assert_eq!(one(&mut s, &bind)[2], PacketType::BIND_ACK.0);
    seen.push(*told.lock().unwrap());
    let body = if second == PacketType::AUTH3 {
        PduBody::Auth3 { pad: [0; 4] }
    } else {
        PduBody::AlterContext(bind_body(vec![ctx(1)]))
    };
    let mut leg = Pdu::new(1, flags2, body);
    leg.auth = Some(trailer(b"AUTH"));
    let _ = exchange(&mut s, &leg);
    seen.push(*told.lock().unwrap());
    if let Some(f) = flags3 {
        let alter = Pdu::new(2, f, PduBody::AlterContext(bind_body(vec![ctx(1)])));
        assert_eq!(one(&mut s, &alter)[2], PacketType::ALTER_CONTEXT_RESP.0);
        seen.push(*told.lock().unwrap());
    }
    assert_eq!(
        s.header_signing(),
        seen.last().copied().flatten().unwrap_or(false)
    );
    seen
}

#[test]
fn header_signing_is_told_to_the_context_and_turned_on_by_bind_or_alter_context_never_auth3() {
    let plain = PfcFlags::FIRST_AND_LAST;
    let hs = PfcFlags::FIRST_AND_LAST | PfcFlags::SUPPORT_HEADER_SIGN;
    let alter = PacketType::ALTER_CONTEXT;
    let auth3 = PacketType::AUTH3;
    // Asked for on the bind: on from the start.
    assert_eq!(
        header_signing_after(hs, auth3, plain, None),
        [Some(true), Some(true)]
    );
    // Not asked for: the context signs without the header (Kerberos: the stub only).
    assert_eq!(
        header_signing_after(plain, auth3, plain, None),
        [Some(false), Some(false)]
    );
    // The suite's test_krb5_hdr_sign_delayed3: rpc_auth_3 asking for it does not turn it on.
    assert_eq!(
        header_signing_after(plain, auth3, hs, None),
        [Some(false), Some(false)]
    );
    // test_krb5_hdr_sign_delayed2: the second leg, an alter_context asking for it, does.
    assert_eq!(
        header_signing_after(plain, alter, hs, None),
        [Some(false), Some(true)]
    );
    // test_krb5_hdr_sign_delayed1: a later alter_context without a trailer does too, for the
    // whole association; and a later one without the flag does not turn it off.
    assert_eq!(
        header_signing_after(plain, auth3, plain, Some(hs)),
        [Some(false), Some(false), Some(true)]
    );
    assert_eq!(
        header_signing_after(hs, auth3, plain, Some(plain)),
        [Some(true), Some(true), Some(true)]
    );
}

/// `pdu` emitted, with `extra` inserted after its context list (before any trailer), and its
/// lengths fixed up.
fn with_bytes_after_contexts(pdu: &Pdu, extra: &[u8]) -> Vec<u8> {
    let mut raw = pdu.emit().unwrap();
    let auth_len = usize::from(u16::from_le_bytes([raw[10], raw[11]]));
    let trailer_at = if auth_len == 0 {
        raw.len()
    } else {
        raw.len() - auth_len - 8
    };
    raw.splice(trailer_at..trailer_at, extra.iter().copied());
    let len = u16::try_from(raw.len()).unwrap();
    raw[8..10].copy_from_slice(&len.to_le_bytes());
    raw
}

#[test]
fn an_authenticated_alter_context_may_carry_bytes_after_its_context_list() {
    // impacket's Kerberos third leg: the 44-byte context item again after a count of 1, pad 0.
    let one_ctx = bind_body(vec![ctx(1)]);
    let item = {
        let raw = Pdu::new(
            1,
            PfcFlags::FIRST_AND_LAST,
            PduBody::AlterContext(one_ctx.clone()),
        )
        .emit()
        .unwrap();
        raw[raw.len() - 44..].to_vec()
    };
    let mut alter = Pdu::new(
        1,
        PfcFlags::FIRST_AND_LAST,
        PduBody::AlterContext(one_ctx.clone()),
    );
    alter.auth = Some(trailer(b"AUTH"));
    let raw = with_bytes_after_contexts(&alter, &item);
    let parsed = Pdu::parse(&raw).unwrap();
    let PduBody::AlterContext(b) = &parsed.body else {
        panic!()
    };
    assert_eq!(b.contexts.len(), 1);
    assert_eq!(&parsed.auth.unwrap().value[..], b"AUTH");
    // The server completes the exchange on it.
    let mut s = server();
    let mut bind = Pdu::new(0, PfcFlags::FIRST_AND_LAST, PduBody::Bind(one_ctx.clone()));
    bind.auth = Some(trailer(b"NEG"));
    assert_eq!(one(&mut s, &bind)[2], PacketType::BIND_ACK.0);
    s.handle_bytes(Instant::now(), &raw);
    let out: Vec<_> = std::iter::from_fn(|| s.poll_transmit()).collect();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0][2], PacketType::ALTER_CONTEXT_RESP.0);
    assert!(!s.is_closed());
    // Without a trailer the same bytes are trailing bytes.
    let bare = Pdu::new(1, PfcFlags::FIRST_AND_LAST, PduBody::AlterContext(one_ctx));
    let raw = with_bytes_after_contexts(&bare, &item);
    assert!(matches!(
        Pdu::parse(&raw),
        Err(msrpc_proto::Error::TrailingBytes(44))
    ));
}

fn request_fragment(call_id: u32, flags: PfcFlags, alloc_hint: u32, stub: Vec<u8>) -> Pdu {
    Pdu::new(
        call_id,
        flags,
        PduBody::Request(Request {
            alloc_hint,
            context_id: 1,
            opnum: 4,
            object: None,
            stub: Bytes::from(stub),
        }),
    )
}

#[test]
fn a_request_over_the_size_limit_is_access_denied_without_did_not_execute_then_closed() {
    // The raw suite's test_fragmented_requests05: fragments adding up past the limit, alloc_hint 0.
    let mut config = ServerConfig::default();
    config.max_request_size = 3000;
    let registry = Arc::new(StaticRegistry::new(vec![(IFACE, vec![SyntaxId::NDR20])]));
    let mut s = ServerConnection::new(config.clone(), registry.clone());
    let bind = Pdu::new(
        0,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Bind(bind_body(vec![ctx(1)])),
    );
    assert_eq!(one(&mut s, &bind)[2], PacketType::BIND_ACK.0);
    let first = request_fragment(5, PfcFlags::FIRST_FRAG, 0, vec![0; 2000]);
    assert!(exchange(&mut s, &first).is_empty());
    let second = request_fragment(5, PfcFlags(0), 0, vec![0; 2000]);
    let fault = one(&mut s, &second);
    assert_eq!(fault[2], PacketType::FAULT.0);
    assert_eq!(call_and_context(&fault), (5, 1, 0x03));
    assert_eq!(fault_status(&fault), 5);
    assert!(s.is_closed());

    // test_fragmented_requests04: a first fragment announcing more than the limit is refused
    // at once; one announcing exactly the limit is not.
    let mut s = ServerConnection::new(config.clone(), registry.clone());
    assert_eq!(one(&mut s, &bind)[2], PacketType::BIND_ACK.0);
    let first = request_fragment(6, PfcFlags::FIRST_FRAG, 3001, vec![0; 100]);
    let fault = one(&mut s, &first);
    assert_eq!(call_and_context(&fault), (6, 1, 0x03));
    assert_eq!(fault_status(&fault), 5);
    assert!(s.is_closed());
    let mut s = ServerConnection::new(config, registry);
    assert_eq!(one(&mut s, &bind)[2], PacketType::BIND_ACK.0);
    let first = request_fragment(7, PfcFlags::FIRST_FRAG, 3000, vec![0; 100]);
    assert!(exchange(&mut s, &first).is_empty());
    let last = request_fragment(7, PfcFlags::LAST_FRAG, 0, vec![0; 100]);
    assert!(exchange(&mut s, &last).is_empty());
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ServerEvent::Call(c) if c.stub.len() == 200)),
        "{events:?}"
    );
    assert!(!s.is_closed());
}

#[test]
fn pending_cancel_on_the_first_of_several_fragments_is_no_call_active_then_closed() {
    // The raw suite's test_first_cancel_requests: RPC_S_NO_CALL_ACTIVE naming context 0, did not
    // execute, then the close.
    let mut s = bound_unauthenticated();
    let first = request_fragment(
        2,
        PfcFlags::FIRST_FRAG | PfcFlags::PENDING_CANCEL,
        0,
        vec![0; 8],
    );
    let fault = one(&mut s, &first);
    assert_eq!(fault[2], PacketType::FAULT.0);
    assert_eq!(call_and_context(&fault), (2, 0, 0x23));
    assert_eq!(fault_status(&fault), 0x6bd);
    assert!(s.is_closed());

    // test_2nd_cancel_requests and test_last_cancel_requests: on a later fragment it is ignored.
    for later in [
        PfcFlags::PENDING_CANCEL,
        PfcFlags::LAST_FRAG | PfcFlags::PENDING_CANCEL,
    ] {
        let mut s = bound_unauthenticated();
        let first = request_fragment(3, PfcFlags::FIRST_FRAG, 0, vec![1; 8]);
        assert!(exchange(&mut s, &first).is_empty());
        assert!(exchange(&mut s, &request_fragment(3, later, 0, vec![2; 8])).is_empty());
        if !later.contains(PfcFlags::LAST_FRAG) {
            let last = request_fragment(3, PfcFlags::LAST_FRAG, 0, vec![3; 8]);
            assert!(exchange(&mut s, &last).is_empty());
        }
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, ServerEvent::Call(c) if c.call_id == 3 && c.stub.len() >= 16)),
            "{events:?}"
        );
        assert!(!s.is_closed());
    }
}
