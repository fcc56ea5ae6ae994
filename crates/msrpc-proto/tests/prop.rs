//! Property tests: PDU parse/emit round trips, arbitrary bytes into the parsers and into a
//! ServerConnection (no panic, bounded memory).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use msrpc_proto::frag::{PduFramer, Reassembler};
use msrpc_proto::vt::VerificationTrailer;
use msrpc_proto::wire::{
    AuthLevel, AuthType, AuthVerifier, Bind, BindAck, BindAckResult, BindNak, ContextElement,
    ContextResult, Drep, Fault, Pdu, PduBody, PfcFlags, RejectReason, Request, Response,
};
use msrpc_proto::{
    ClientConfig, ClientConnection, FaultStatus, ServerConfig, ServerConnection, ServerEvent,
    StaticRegistry, SyntaxId,
};
use proptest::collection::vec;
use proptest::prelude::*;
use uuid::Uuid;

fn syntax() -> impl Strategy<Value = SyntaxId> {
    (any::<u128>(), any::<u16>(), any::<u16>())
        .prop_map(|(u, a, b)| SyntaxId::new(Uuid::from_u128(u), a, b))
}

fn small_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn bind() -> impl Strategy<Value = Bind> {
    (
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        vec((any::<u16>(), syntax(), vec(syntax(), 0..4)), 0..6),
    )
        .prop_map(|(x, r, g, cs)| Bind {
            max_xmit_frag: x,
            max_recv_frag: r,
            assoc_group: g,
            contexts: cs
                .into_iter()
                .map(|(id, a, ts)| ContextElement {
                    context_id: id,
                    abstract_syntax: a,
                    transfer_syntaxes: ts,
                })
                .collect(),
        })
}

fn bind_ack() -> impl Strategy<Value = BindAck> {
    (
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        small_bytes(40),
        vec((any::<u16>(), any::<u16>(), syntax()), 0..6),
    )
        .prop_map(|(x, r, g, sec, rs)| BindAck {
            max_xmit_frag: x,
            max_recv_frag: r,
            assoc_group: g,
            sec_addr: sec,
            results: rs
                .into_iter()
                .map(|(res, reason, ts)| ContextResult {
                    result: BindAckResult(res),
                    reason,
                    transfer_syntax: ts,
                })
                .collect(),
        })
}

fn body() -> impl Strategy<Value = PduBody> {
    prop_oneof![
        (
            any::<u32>(),
            any::<u16>(),
            any::<u16>(),
            proptest::option::of(any::<u128>()),
            small_bytes(300)
        )
            .prop_map(|(h, c, o, obj, stub)| PduBody::Request(Request {
                alloc_hint: h,
                context_id: c,
                opnum: o,
                object: obj.map(Uuid::from_u128),
                stub,
            })),
        (
            any::<u32>(),
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
            small_bytes(300)
        )
            .prop_map(|(h, c, cc, r, stub)| {
                PduBody::Response(Response {
                    alloc_hint: h,
                    context_id: c,
                    cancel_count: cc,
                    reserved: r,
                    stub,
                })
            }),
        (
            any::<u32>(),
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
            small_bytes(64)
        )
            .prop_map(|(h, c, cc, f, st, r, stub)| PduBody::Fault(Fault {
                alloc_hint: h,
                context_id: c,
                cancel_count: cc,
                flags: f,
                status: FaultStatus(st),
                reserved: r,
                stub,
            })),
        bind().prop_map(PduBody::Bind),
        bind().prop_map(PduBody::AlterContext),
        bind_ack().prop_map(PduBody::BindAck),
        bind_ack().prop_map(PduBody::AlterContextResp),
        (any::<u16>(), vec(any::<(u8, u8)>(), 0..4), small_bytes(24)).prop_map(|(r, v, extra)| {
            // An empty version list followed by extra bytes is ambiguous only if the list is empty
            // and nothing follows; the count byte is always written, so this round-trips.
            PduBody::BindNak(BindNak {
                reason: RejectReason(r),
                versions: v,
                extra,
            })
        }),
        any::<[u8; 4]>().prop_map(|pad| PduBody::Auth3 { pad }),
        Just(PduBody::Shutdown),
        Just(PduBody::CoCancel),
        Just(PduBody::Orphaned),
    ]
}

fn auth() -> impl Strategy<Value = Option<AuthVerifier>> {
    proptest::option::of(
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u32>(),
            small_bytes(20),
            vec(any::<u8>(), 1..80),
        )
            .prop_map(|(t, l, r, ctx, pad, value)| AuthVerifier {
                auth_type: AuthType(t),
                auth_level: AuthLevel(l),
                reserved: r,
                context_id: ctx,
                pad,
                value: Bytes::from(value),
            }),
    )
}

fn pdu() -> impl Strategy<Value = Pdu> {
    (
        any::<u32>(),
        any::<u8>(),
        any::<bool>(),
        any::<[u8; 3]>(),
        body(),
        auth(),
    )
        .prop_map(|(call_id, flags, le, drep_rest, body, auth)| {
            let mut flags = PfcFlags(flags);
            if let PduBody::Request(r) = &body {
                flags = flags.with(PfcFlags::OBJECT_UUID, r.object.is_some());
            }
            Pdu {
                rpc_vers_minor: 0,
                flags,
                drep: Drep([
                    if le { 0x10 } else { 0x00 },
                    drep_rest[0],
                    drep_rest[1],
                    drep_rest[2],
                ]),
                call_id,
                body,
                auth,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn pdu_round_trip(p in pdu()) {
        let bytes = p.emit().unwrap();
        let fl = if p.drep.is_little_endian() {
            u16::from_le_bytes([bytes[8], bytes[9]])
        } else {
            u16::from_be_bytes([bytes[8], bytes[9]])
        };
        prop_assert_eq!(bytes.len(), usize::from(fl));
        let back = Pdu::parse(&bytes).unwrap();
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(back.emit().unwrap(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut bytes in vec(any::<u8>(), 0..400), fix_len in any::<bool>()) {
        if fix_len && bytes.len() >= 16 {
            // Make the header plausible so the body parsers get exercised.
            bytes[0] = 5;
            bytes[1] = 0;
            bytes[4] = 0x10;
            let n = bytes.len() as u16;
            bytes[8..10].copy_from_slice(&n.to_le_bytes());
            bytes[2] %= 20;
            bytes[10] %= 64;
            bytes[11] = 0;
        }
        if let Ok(p) = Pdu::parse(&bytes) {
            // Re-emission is canonical (reserved/pad bytes zeroed) but parses to the same value.
            let again = p.emit().unwrap();
            prop_assert_eq!(Pdu::parse(&again).unwrap(), p);
        }
        let _ = VerificationTrailer::parse(&bytes, true);
        let _ = VerificationTrailer::find(&bytes, false);
    }

    #[test]
    fn reassembly_is_bounded(frags in vec((any::<u8>(), 0u32..4, small_bytes(200)), 0..60), limit in 0usize..2000) {
        let mut r = Reassembler::new(limit, true);
        for (flags, call_id, stub) in frags {
            let p = Pdu::new(call_id, PfcFlags(flags & 3), PduBody::Response(Response {
                alloc_hint: u32::MAX,
                context_id: 0,
                cancel_count: 0,
                reserved: 0,
                stub,
            }));
            if let Ok(Some(m)) = r.push(p) {
                prop_assert!(m.stub.len() <= limit);
            }
            prop_assert!(r.buffered() <= limit * 4);
        }
    }

    #[test]
    fn server_survives_arbitrary_bytes(prefix in any::<bool>(), junk in vec(any::<u8>(), 0..3000), chunk in 1usize..200) {
        let registry = Arc::new(StaticRegistry::new(vec![(
            SyntaxId::new(Uuid::from_u128(1), 1, 0),
            vec![SyntaxId::NDR20],
        )]));
        let mut server = ServerConnection::new(ServerConfig::default(), registry);
        let now = Instant::now();
        let mut input = Vec::new();
        if prefix {
            let mut c = ClientConnection::new(ClientConfig::default());
            c.bind(&[SyntaxId::new(Uuid::from_u128(1), 1, 0)]).unwrap();
            input.extend(c.poll_transmit().unwrap());
        }
        input.extend_from_slice(&junk);
        let mut events = 0usize;
        for c in input.chunks(chunk) {
            server.handle_bytes(now, c);
            while server.poll_transmit().is_some() {}
            while let Some(e) = server.poll_event() {
                events += 1;
                if let ServerEvent::Call(call) = e {
                    let _ = server.respond(call.call_id, call.stub);
                }
            }
        }
        prop_assert!(events <= input.len() / 16 + 2);
    }

    #[test]
    fn server_survives_pdu_sequences(pdus in vec((0u8..6, any::<u8>(), 0u32..6, 0u16..3, small_bytes(700)), 0..40)) {
        let iface = SyntaxId::new(Uuid::from_u128(1), 1, 0);
        let registry = Arc::new(StaticRegistry::new(vec![(iface, vec![SyntaxId::NDR20])]));
        let mut config = ServerConfig::default();
        config.max_request_size = 2000;
        let mut server = ServerConnection::new(config, registry);
        let now = Instant::now();
        let mut c = ClientConnection::new(ClientConfig::default());
        c.bind(&[iface]).unwrap();
        server.handle_bytes(now, &c.poll_transmit().unwrap());
        for (kind, flags, call_id, ctx, stub) in pdus {
            let body = match kind {
                0..=2 => PduBody::Request(Request { alloc_hint: u32::MAX, context_id: ctx, opnum: 0, object: None, stub }),
                3 => PduBody::CoCancel,
                4 => PduBody::Orphaned,
                _ => PduBody::AlterContext(Bind { max_xmit_frag: 10, max_recv_frag: 10, assoc_group: 0, contexts: vec![ContextElement { context_id: ctx, abstract_syntax: iface, transfer_syntaxes: vec![SyntaxId::NDR20] }] }),
            };
            let p = Pdu::new(call_id, PfcFlags(flags & 0x7f), body);
            server.handle_bytes(now, &p.emit().unwrap());
            prop_assert!(server.buffered_bytes() <= 2000 + 65535);
            while let Some(out) = server.poll_transmit() {
                prop_assert!(Pdu::parse(&out).is_ok());
            }
            while let Some(e) = server.poll_event() {
                if let ServerEvent::Call(call) = e {
                    prop_assert!(call.stub.len() <= 2000);
                    let _ = server.respond(call.call_id, call.stub);
                }
            }
        }
    }

    #[test]
    fn client_survives_arbitrary_bytes(junk in vec(any::<u8>(), 0..3000), chunk in 1usize..200, ack in any::<bool>()) {
        let iface = SyntaxId::new(Uuid::from_u128(1), 1, 0);
        let registry = Arc::new(StaticRegistry::new(vec![(iface, vec![SyntaxId::NDR20])]));
        let mut server = ServerConnection::new(ServerConfig::default(), registry);
        let mut client = ClientConnection::new(ClientConfig::default());
        let now = Instant::now();
        client.bind(&[iface]).unwrap();
        let bind = client.poll_transmit().unwrap();
        if ack {
            server.handle_bytes(now, &bind);
            client.handle_bytes(now, &server.poll_transmit().unwrap());
            if let Some(ctx) = client.context_for(&iface) {
                for i in 0..5 {
                    client.start_call(ctx.context_id, i, None, Bytes::from(vec![1u8; 100])).unwrap();
                }
            }
        }
        for c in junk.chunks(chunk) {
            client.handle_bytes(now, c);
            while client.poll_transmit().is_some() {}
            while client.poll_event().is_some() {}
        }
    }

    #[test]
    fn machines_survive_arbitrary_pdus(pdus in vec(pdu(), 0..20), bind_first in any::<bool>()) {
        let iface = SyntaxId::new(Uuid::from_u128(1), 1, 0);
        let registry = Arc::new(StaticRegistry::new(vec![(iface, vec![SyntaxId::NDR20])]));
        let mut server = ServerConnection::new(ServerConfig::default(), registry);
        let mut client = ClientConnection::new(ClientConfig::default());
        let now = Instant::now();
        client.bind(&[iface]).unwrap();
        let bind = client.poll_transmit().unwrap();
        if bind_first {
            server.handle_bytes(now, &bind);
            client.handle_bytes(now, &server.poll_transmit().unwrap());
            if let Some(ctx) = client.context_for(&iface) {
                for i in 0..3 {
                    client.start_call(ctx.context_id, i, None, Bytes::from(vec![1u8; 10])).unwrap();
                }
            }
            while client.poll_transmit().is_some() {}
        }
        for p in pdus {
            let bytes = p.emit().unwrap();
            client.handle_bytes(now, &bytes);
            server.handle_bytes(now, &bytes);
            while let Some(out) = client.poll_transmit() {
                prop_assert!(Pdu::parse(&out).is_ok());
            }
            while let Some(out) = server.poll_transmit() {
                prop_assert!(Pdu::parse(&out).is_ok());
            }
            while client.poll_event().is_some() {}
            while let Some(e) = server.poll_event() {
                if let ServerEvent::Call(c) = e {
                    let _ = server.respond(c.call_id, c.stub);
                }
            }
        }
    }

    #[test]
    fn framer_matches_lengths(sizes in vec(16usize..300, 0..20), chunk in 1usize..64) {
        let mut stream = Vec::new();
        for (i, n) in sizes.iter().enumerate() {
            let p = Pdu::new(i as u32, PfcFlags::FIRST_AND_LAST, PduBody::Response(Response {
                alloc_hint: 0, context_id: 0, cancel_count: 0, reserved: 0,
                stub: Bytes::from(vec![7u8; n - 16]),
            }));
            stream.extend(p.emit().unwrap());
        }
        let mut f = PduFramer::new();
        let mut got = 0;
        for c in stream.chunks(chunk) {
            f.push(c);
            while let Some(p) = f.next_pdu(65535).unwrap() {
                let p = Pdu::parse(&p).unwrap();
                prop_assert_eq!(p.call_id, got);
                got += 1;
            }
        }
        prop_assert_eq!(got as usize, sizes.len());
        prop_assert_eq!(f.buffered(), 0);
    }
}
