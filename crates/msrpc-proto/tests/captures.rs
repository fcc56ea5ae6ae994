//! Byte-exact vectors from real peers (impacket 0.13, Samba 4.17, python3-samba): parse, check
//! fields, re-emit and compare.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "common/vectors.rs"]
mod vectors;

use msrpc_proto::negotiate::BindTimeFeatures;
use msrpc_proto::vt::VerificationTrailer;
use msrpc_proto::wire::{
    AuthLevel, AuthType, BindAckResult, PacketType, Pdu, PduBody, PfcFlags, ProviderReason,
    SyntaxId,
};
use msrpc_proto::{FaultStatus, frag::Reassembler};
use uuid::uuid;

use vectors::*;

const EPM: SyntaxId = SyntaxId::new(uuid!("e1af8308-5d1f-11c9-91a4-08002b14a0fa"), 3, 0);
const SRVSVC: SyntaxId = SyntaxId::new(uuid!("4b324fc8-1670-01d3-1278-5a47bf6ee188"), 3, 0);
const WKSSVC: SyntaxId = SyntaxId::new(uuid!("6bffd098-a112-3610-9833-46c3f87e345a"), 1, 0);

fn bytes(h: &str) -> Vec<u8> {
    hex::decode(h).expect("test vector hex")
}

/// Parse, then re-emit and require identical bytes.
fn round_trip(h: &str) -> Pdu {
    let raw = bytes(h);
    let pdu = Pdu::parse(&raw).expect("parse");
    let again = pdu.emit().expect("emit");
    assert_eq!(
        hex::encode(&again),
        hex::encode(&raw),
        "re-emitted bytes differ"
    );
    pdu
}

#[test]
fn epm_bind_and_ack() {
    let pdu = round_trip(EPM_BIND);
    assert_eq!(pdu.call_id, 1);
    assert_eq!(pdu.flags, PfcFlags::FIRST_AND_LAST);
    let PduBody::Bind(b) = pdu.body else { panic!() };
    assert_eq!(
        (b.max_xmit_frag, b.max_recv_frag, b.assoc_group),
        (4280, 4280, 0)
    );
    assert_eq!(b.contexts.len(), 1);
    assert_eq!(b.contexts[0].abstract_syntax, EPM);
    assert_eq!(b.contexts[0].transfer_syntaxes, vec![SyntaxId::NDR20]);

    let pdu = round_trip(EPM_BIND_ACK);
    let PduBody::BindAck(a) = pdu.body else {
        panic!()
    };
    assert_eq!(a.sec_addr_str(), "135");
    assert_eq!(a.assoc_group, 0xcb19);
    assert_eq!(a.results.len(), 1);
    assert_eq!(a.results[0].result, BindAckResult::ACCEPTANCE);
    assert_eq!(a.results[0].transfer_syntax, SyntaxId::NDR20);
}

#[test]
fn ept_lookup_multi_fragment_response() {
    let req = round_trip(EPT_LOOKUP_REQUEST);
    let PduBody::Request(r) = &req.body else {
        panic!()
    };
    assert_eq!((r.opnum, r.context_id, r.alloc_hint), (2, 0, 40));
    assert_eq!(r.object, None);

    let f1 = round_trip(EPT_LOOKUP_RESPONSE_1);
    let f2 = round_trip(EPT_LOOKUP_RESPONSE_2);
    assert_eq!(f1.flags, PfcFlags::FIRST_FRAG);
    assert_eq!(f2.flags, PfcFlags::LAST_FRAG);
    let PduBody::Response(r1) = &f1.body else {
        panic!()
    };
    assert_eq!(r1.alloc_hint, 4828);
    let mut re = Reassembler::new(1 << 20, true);
    assert_eq!(re.push(f1).unwrap(), None);
    let msg = re.push(f2).unwrap().expect("complete");
    assert_eq!(msg.call_id, 1);
    assert_eq!(msg.stub.len(), 4280 - 24 + 596 - 24);
    assert_eq!(msg.stub.len(), 4828);
    // Limits hold: the same response is refused by a smaller reassembler.
    let mut small = Reassembler::new(4300, true);
    small
        .push(Pdu::parse(&bytes(EPT_LOOKUP_RESPONSE_1)).unwrap())
        .unwrap();
    assert!(
        small
            .push(Pdu::parse(&bytes(EPT_LOOKUP_RESPONSE_2)).unwrap())
            .is_err()
    );
}

#[test]
fn feature_negotiation_bind() {
    let pdu = round_trip(FEATURE_BIND);
    let PduBody::Bind(b) = pdu.body else { panic!() };
    assert_eq!((b.max_xmit_frag, b.max_recv_frag), (5840, 5840));
    assert_eq!(b.contexts.len(), 2);
    assert_eq!(b.contexts[0].context_id, 0);
    assert_eq!(b.contexts[0].transfer_syntaxes, vec![SyntaxId::NDR20]);
    assert_eq!(b.contexts[1].context_id, 1);
    assert_eq!(b.contexts[1].abstract_syntax, b.contexts[0].abstract_syntax);
    assert_eq!(
        BindTimeFeatures::from_syntax(&b.contexts[1].transfer_syntaxes[0]),
        Some(BindTimeFeatures::ALL)
    );
    assert_eq!(
        BindTimeFeatures::ALL.to_syntax(),
        b.contexts[1].transfer_syntaxes[0]
    );

    // impacket's server answers the feature context with user rejection (1), reason 2, rather
    // than negotiate_ack: not a reference server, but its bytes must still round-trip.
    let pdu = round_trip(FEATURE_BIND_ACK);
    let PduBody::BindAck(a) = pdu.body else {
        panic!()
    };
    assert_eq!(a.sec_addr_str(), "40136");
    assert_eq!(a.assoc_group, 0x1234);
    assert_eq!(a.results[0].result, BindAckResult::ACCEPTANCE);
    assert_eq!(a.results[1].result, BindAckResult::USER_REJECTION);
    assert_eq!(a.results[1].reason, 2);

    let req = round_trip(FEATURE_REQUEST);
    assert_eq!(req.call_id, 2);
    round_trip(FEATURE_RESPONSE);
}

#[test]
fn provider_rejection_of_ndr64_only_bind() {
    let pdu = round_trip(NDR64_ONLY_BIND);
    let PduBody::Bind(b) = pdu.body else { panic!() };
    assert_eq!(b.contexts[0].abstract_syntax, SRVSVC);
    assert_eq!(b.contexts[0].transfer_syntaxes, vec![SyntaxId::NDR64]);

    let pdu = round_trip(PROVIDER_REJECTION_ACK);
    let PduBody::BindAck(a) = pdu.body else {
        panic!()
    };
    assert_eq!(a.sec_addr_str(), "");
    assert!(a.sec_addr.is_empty());
    assert_eq!(a.results[0].result, BindAckResult::PROVIDER_REJECTION);
    assert_eq!(
        ProviderReason(a.results[0].reason),
        ProviderReason::PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED
    );
    assert_eq!(a.results[0].transfer_syntax, SyntaxId::NIL);
}

#[test]
fn alter_context_and_response() {
    let pdu = round_trip(ALTER_CONTEXT);
    assert_eq!(pdu.packet_type(), PacketType::ALTER_CONTEXT);
    assert_eq!(pdu.call_id, 2);
    let PduBody::AlterContext(b) = &pdu.body else {
        panic!()
    };
    assert_eq!(b.contexts[0].context_id, 1);
    assert_eq!(b.contexts[0].abstract_syntax, WKSSVC);
    let auth = pdu.auth.as_ref().unwrap();
    assert_eq!(auth.auth_type, AuthType::NTLM);
    assert_eq!(auth.auth_level, AuthLevel::PKT_INTEGRITY);
    assert_eq!(&auth.value[..8], b"NTLMSSP\0");

    let pdu = round_trip(ALTER_CONTEXT_RESP);
    let PduBody::AlterContextResp(a) = &pdu.body else {
        panic!()
    };
    assert!(a.sec_addr.is_empty());
    assert_eq!(a.results[0].result, BindAckResult::ACCEPTANCE);
    assert_eq!(pdu.auth.as_ref().unwrap().value.len(), 134);
}

#[test]
fn faults() {
    let pdu = round_trip(FAULT_ACCESS_DENIED);
    let PduBody::Fault(f) = &pdu.body else {
        panic!()
    };
    assert_eq!(f.status, FaultStatus(5));
    assert_eq!(f.alloc_hint, 24);
    assert!(!pdu.flags.contains(PfcFlags::DID_NOT_EXECUTE));

    let pdu = round_trip(FAULT_PROTO_ERROR_DNE);
    let PduBody::Fault(f) = &pdu.body else {
        panic!()
    };
    assert_eq!(f.status, FaultStatus::NCA_S_PROTO_ERROR);
    assert!(pdu.flags.contains(PfcFlags::DID_NOT_EXECUTE));
    assert_eq!(f.flags, 0);
}

#[test]
fn ntlm_bind_ack_and_auth3_trailers() {
    let pdu = round_trip(NTLM_BIND);
    let a = pdu.auth.as_ref().unwrap();
    assert_eq!(
        (a.auth_type, a.auth_level, a.pad.len()),
        (AuthType::NTLM, AuthLevel::CONNECT, 0)
    );
    assert_eq!(a.context_id, 0x0001_357f);
    assert_eq!(a.value.len(), 32);

    let pdu = round_trip(NTLM_BIND_ACK);
    assert_eq!(pdu.auth.as_ref().unwrap().value.len(), 134);

    let pdu = round_trip(NTLM_AUTH3);
    assert_eq!(pdu.packet_type(), PacketType::AUTH3);
    assert_eq!(pdu.body, PduBody::Auth3 { pad: *b"    " });
    assert_eq!(pdu.auth.as_ref().unwrap().value.len(), 252);
}

#[test]
fn signed_request_and_response_trailers() {
    let pdu = round_trip(SIGNED_REQUEST);
    let PduBody::Request(r) = &pdu.body else {
        panic!()
    };
    assert_eq!((r.opnum, r.stub.len()), (21, 8));
    let a = pdu.auth.as_ref().unwrap();
    assert_eq!(
        (a.auth_level, a.pad.len(), a.value.len()),
        (AuthLevel::PKT_INTEGRITY, 0, 16)
    );

    // Samba pads the stub so the trailer is 16-byte aligned from the stub start.
    let pdu = round_trip(SIGNED_RESPONSE);
    let PduBody::Response(r) = &pdu.body else {
        panic!()
    };
    let a = pdu.auth.as_ref().unwrap();
    assert_eq!(a.pad.len(), 8);
    assert_eq!((r.stub.len() + a.pad.len()) % 16, 0);
    assert_eq!(r.alloc_hint as usize, r.stub.len());

    // Each fragment of a signed, fragmented request carries its own trailer.
    let f1 = round_trip(SIGNED_FRAGMENT_1);
    let f2 = round_trip(SIGNED_FRAGMENT_2);
    for f in [&f1, &f2] {
        let PduBody::Request(r) = &f.body else {
            panic!()
        };
        assert_eq!(r.stub.len(), 16);
        assert_eq!(f.auth.as_ref().unwrap().value.len(), 16);
    }
    let PduBody::Request(r) = &f1.body else {
        panic!()
    };
    assert_eq!((r.opnum, r.alloc_hint), (16, 32));
}

#[test]
fn trailing_bytes_and_bad_lengths_are_rejected() {
    let mut raw = bytes(EPM_BIND);
    raw.push(0);
    assert!(Pdu::parse(&raw).is_err(), "frag_length mismatch");
    // Bump frag_length too: now the body has a trailing byte.
    raw[8] += 1;
    assert!(matches!(
        Pdu::parse(&raw),
        Err(msrpc_proto::Error::TrailingBytes(1))
    ));
    // auth_length larger than the PDU.
    let mut raw = bytes(SIGNED_REQUEST);
    raw[10] = 0xff;
    assert!(Pdu::parse(&raw).is_err());
    // auth_pad_length larger than the body.
    let mut raw = bytes(SIGNED_REQUEST);
    let t = raw.len() - 16 - 8;
    raw[t + 2] = 200;
    assert!(Pdu::parse(&raw).is_err());
}

#[test]
fn big_endian_re_encoding_round_trips() {
    // Every captured PDU, re-encoded with a big-endian drep, parses back to the same value.
    for h in [
        EPM_BIND,
        EPM_BIND_ACK,
        EPT_LOOKUP_REQUEST,
        EPT_LOOKUP_RESPONSE_2,
        NTLM_BIND,
        NTLM_AUTH3,
        FAULT_PROTO_ERROR_DNE,
        SIGNED_RESPONSE,
        ALTER_CONTEXT_RESP,
        PROVIDER_REJECTION_ACK,
        FEATURE_BIND,
    ] {
        let mut pdu = Pdu::parse(&bytes(h)).unwrap();
        pdu.drep = msrpc_proto::wire::Drep::BIG_ENDIAN;
        let be = pdu.emit().unwrap();
        assert_eq!(be[4], 0);
        assert_eq!(u16::from_be_bytes([be[8], be[9]]) as usize, be.len());
        assert_eq!(Pdu::parse(&be).unwrap(), pdu);
    }
}

#[test]
fn verification_trailer_round_trip() {
    use msrpc_proto::vt::{VtCommand, VtEntry};
    let vt = VerificationTrailer {
        commands: vec![
            VtEntry {
                command: VtCommand::Bitmask1(1),
                must_process: false,
            },
            VtEntry {
                command: VtCommand::PContext {
                    interface: SRVSVC,
                    transfer_syntax: SyntaxId::NDR20,
                },
                must_process: true,
            },
            VtEntry {
                command: VtCommand::Header2 {
                    ptype: PacketType::REQUEST,
                    reserved: [0; 3],
                    drep: msrpc_proto::wire::Drep::LITTLE_ENDIAN,
                    call_id: 2,
                    context_id: 0,
                    opnum: 21,
                },
                must_process: true,
            },
        ],
    };
    let bytes = vt.emit(true).unwrap();
    assert_eq!(
        &bytes[..8],
        &[0x8a, 0xe3, 0x13, 0x71, 0x02, 0xf4, 0x36, 0x71]
    );
    // bitmask1: command 0x0001, length 4.
    assert_eq!(&bytes[8..12], &[0x01, 0x00, 0x04, 0x00]);
    // header2 is last: END (0x4000) | MUST_PROCESS (0x8000) | 3.
    assert_eq!(
        &bytes[8 + 8 + 44..8 + 8 + 44 + 4],
        &[0x03, 0xc0, 0x10, 0x00]
    );
    assert_eq!(VerificationTrailer::parse(&bytes, true).unwrap(), vt);
    // Found at the end of a stub, 4-byte aligned.
    let mut stub = vec![0xAAu8; 12];
    stub.extend_from_slice(&bytes);
    let (at, found) = VerificationTrailer::find(&stub, true).unwrap();
    assert_eq!((at, found), (12, vt));
}
