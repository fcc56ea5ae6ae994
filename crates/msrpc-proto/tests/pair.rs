//! An in-memory client/server pair with simulated time (quinn-proto's `Pair` style), exercising
//! every PDU type through the two state machines.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use msrpc_proto::negotiate::{BindTimeFeatures, TransferSyntaxPolicy};
use msrpc_proto::wire::{
    AuthLevel, AuthType, AuthVerifier, Bind, ContextElement, Drep, PacketType, Pdu, PduBody,
    PfcFlags, ProviderReason, RejectReason, Request,
};
use msrpc_proto::{
    ClientConfig, ClientConnection, ClientEvent, ConnectionError, Error, Execution, FaultStatus,
    Initiator, ServerConfig, ServerConnection, ServerEvent, StaticRegistry, SyntaxId,
};
use uuid::uuid;

const EPM: SyntaxId = SyntaxId::new(uuid!("e1af8308-5d1f-11c9-91a4-08002b14a0fa"), 3, 0);
const MGMT: SyntaxId = SyntaxId::new(uuid!("afa8bd80-7d8a-11c9-bef4-08002b102989"), 1, 0);
const ASYNC: SyntaxId = SyntaxId::new(uuid!("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b"), 1, 0);
const UNKNOWN: SyntaxId = SyntaxId::new(uuid!("00000000-1111-2222-3333-444444444444"), 1, 0);

struct Pair {
    client: ClientConnection,
    server: ServerConnection,
    now: Instant,
    /// Deliver transport bytes in chunks of this size (arbitrary chunking).
    chunk: usize,
    /// Bytes "on the wire" towards the server, as written by the client.
    to_server: Vec<u8>,
    to_client: Vec<u8>,
}

impl Pair {
    fn new(client: ClientConfig, server: ServerConfig) -> Pair {
        let registry = Arc::new(StaticRegistry::new(vec![
            (EPM, vec![SyntaxId::NDR20, SyntaxId::NDR64]),
            (MGMT, vec![SyntaxId::NDR20]),
            (ASYNC, vec![SyntaxId::NDR20, SyntaxId::NDR64]),
        ]));
        Pair {
            client: ClientConnection::new(client),
            server: ServerConnection::new(server, registry),
            now: Instant::now(),
            chunk: 7,
            to_server: Vec::new(),
            to_client: Vec::new(),
        }
    }

    fn default() -> Pair {
        let mut s = ServerConfig::default();
        s.sec_addr = "49664".into();
        Pair::new(ClientConfig::default(), s)
    }

    /// Move bytes both ways until nothing moves; time advances 1 ms per round.
    fn drive(&mut self) {
        loop {
            self.now += Duration::from_millis(1);
            let mut moved = false;
            while let Some(b) = self.client.poll_transmit() {
                self.to_server.extend_from_slice(&b);
            }
            while let Some(b) = self.server.poll_transmit() {
                self.to_client.extend_from_slice(&b);
            }
            if !self.to_server.is_empty() {
                let bytes = std::mem::take(&mut self.to_server);
                for c in bytes.chunks(self.chunk) {
                    self.server.handle_bytes(self.now, c);
                }
                moved = true;
            }
            if !self.to_client.is_empty() {
                let bytes = std::mem::take(&mut self.to_client);
                for c in bytes.chunks(self.chunk) {
                    self.client.handle_bytes(self.now, c);
                }
                moved = true;
            }
            if !moved {
                break;
            }
        }
    }

    /// Send exactly one client PDU to the server.
    fn client_one(&mut self) -> Option<Vec<u8>> {
        let b = self.client.poll_transmit()?;
        self.server.handle_bytes(self.now, &b);
        Some(b)
    }

    /// Raw bytes from a third party into the server; returns the server's answers as PDUs.
    fn raw_to_server(&mut self, bytes: &[u8]) -> Vec<Pdu> {
        self.server.handle_bytes(self.now, bytes);
        let mut out = Vec::new();
        while let Some(b) = self.server.poll_transmit() {
            out.push(Pdu::parse(&b).expect("server emits valid PDUs"));
        }
        out
    }

    fn client_events(&mut self) -> Vec<ClientEvent> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    fn server_events(&mut self) -> Vec<ServerEvent> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }

    /// Bind to `ifs` and return the outcome.
    fn bind(&mut self, ifs: &[SyntaxId]) -> msrpc_proto::BindOutcome {
        self.client.bind(ifs).unwrap();
        self.drive();
        let ev = self.client_events();
        match &ev[..] {
            [ClientEvent::Bound(o)] => o.clone(),
            other => panic!("{other:?}"),
        }
    }

    /// Answer every pending server call by echoing its stub with a prefix.
    fn echo_all(&mut self) -> usize {
        let mut n = 0;
        for e in self.server_events() {
            if let ServerEvent::Call(c) = e {
                let mut out = b"echo:".to_vec();
                out.extend_from_slice(&c.stub);
                self.server.respond(c.call_id, Bytes::from(out)).unwrap();
                n += 1;
            }
        }
        n
    }
}

fn stub(n: usize, seed: u8) -> Bytes {
    Bytes::from(
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<_>>(),
    )
}

#[test]
fn bind_several_interfaces_with_features() {
    let mut p = Pair::default();
    let o = p.bind(&[EPM, MGMT, UNKNOWN]);
    assert!(!o.alter);
    assert_eq!(o.sec_addr, "49664");
    assert_ne!(o.assoc_group, 0);
    assert_eq!(o.features, Some(BindTimeFeatures::ALL));
    assert!(o.conc_mpx);
    assert_eq!(o.accepted.len(), 2);
    assert_eq!(o.rejected.len(), 1);
    assert_eq!(o.rejected[0].interface, UNKNOWN);
    assert_eq!(
        o.rejected[0].reason,
        ProviderReason::ABSTRACT_SYNTAX_NOT_SUPPORTED
    );
    assert_eq!(
        p.client.context_for(&EPM).unwrap().transfer_syntax,
        SyntaxId::NDR20
    );
    let ev = p.server_events();
    assert!(
        matches!(&ev[..], [ServerEvent::Bound { alter: false, contexts, features, .. }]
        if contexts.len() == 2 && *features == BindTimeFeatures::ALL)
    );
}

#[test]
fn transfer_syntax_choice() {
    // Offer NDR20 and NDR64 for each interface: NDR20 is chosen by default.
    let mut c = ClientConfig::default();
    c.transfer_syntaxes = vec![SyntaxId::NDR64, SyntaxId::NDR20];
    let mut p = Pair::new(c.clone(), ServerConfig::default());
    let o = p.bind(&[EPM, MGMT]);
    assert_eq!(o.accepted.len(), 2);
    assert!(
        o.accepted
            .iter()
            .all(|a| a.transfer_syntax == SyntaxId::NDR20)
    );
    // MGMT offered with NDR64 is rejected with reason 2, and EPM's NDR64 context too.
    assert_eq!(o.rejected.len(), 2);
    assert!(
        o.rejected
            .iter()
            .all(|r| r.reason == ProviderReason::PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED)
    );

    // Server policy prefers NDR64.
    let mut s = ServerConfig::default();
    s.transfer_syntax_policy = TransferSyntaxPolicy::PreferNdr64;
    let mut p = Pair::new(c, s);
    let o = p.bind(&[EPM, MGMT]);
    let epm = o.accepted.iter().find(|a| a.interface == EPM).unwrap();
    assert_eq!(epm.transfer_syntax, SyntaxId::NDR64);
    let mgmt = o.accepted.iter().find(|a| a.interface == MGMT).unwrap();
    assert_eq!(mgmt.transfer_syntax, SyntaxId::NDR20);

    // Only NDR64 offered to an NDR20-only interface: provider rejection, reason 2.
    let mut c = ClientConfig::default();
    c.transfer_syntaxes = vec![SyntaxId::NDR64];
    let mut p = Pair::new(c, ServerConfig::default());
    let o = p.bind(&[MGMT]);
    assert!(o.accepted.is_empty());
    assert_eq!(
        o.rejected[0].reason,
        ProviderReason::PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED
    );
}

#[test]
fn version_rule_in_bind() {
    let mut p = Pair::default();
    let newer_minor = SyntaxId::new(EPM.uuid, 3, 1);
    let other_major = SyntaxId::new(MGMT.uuid, 2, 0);
    let o = p.bind(&[newer_minor, other_major]);
    assert!(o.accepted.is_empty());
    assert_eq!(o.rejected.len(), 2);
}

#[test]
fn alter_context_adds_a_context() {
    let mut p = Pair::default();
    p.bind(&[EPM]);
    p.server_events();
    p.client.alter_context(&[MGMT]).unwrap();
    // A second negotiation while one is pending is refused locally.
    assert!(p.client.alter_context(&[ASYNC]).is_err());
    p.drive();
    let ev = p.client_events();
    let [ClientEvent::Bound(o)] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert!(o.alter);
    assert_eq!(o.sec_addr, "");
    assert_eq!(o.accepted[0].interface, MGMT);
    let ctx = p.client.context_for(&MGMT).unwrap();
    let id = p
        .client
        .start_call(ctx.context_id, 1, None, stub(10, 1))
        .unwrap();
    p.drive();
    let ev = p.server_events();
    assert!(
        matches!(&ev[..], [ServerEvent::Bound { alter: true, .. }, ServerEvent::Call(c)]
        if c.interface == MGMT && c.opnum == 1 && c.call_id == id)
    );
}

#[test]
fn many_concurrent_calls_answered_out_of_order() {
    let mut p = Pair::default();
    p.bind(&[EPM]);
    let ctx = p.client.context_for(&EPM).unwrap().context_id;
    let ids: Vec<u32> = (0..300)
        .map(|i| {
            p.client
                .start_call(ctx, (i % 7) as u16, None, stub(i, i as u8))
                .unwrap()
        })
        .collect();
    p.drive();
    let mut calls: Vec<_> = p
        .server_events()
        .into_iter()
        .filter_map(|e| match e {
            ServerEvent::Call(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 300);
    assert_eq!(p.server.active_calls(), 300);
    calls.reverse();
    for c in &calls {
        let mut out = c.opnum.to_le_bytes().to_vec();
        out.extend_from_slice(&c.stub);
        p.server.respond(c.call_id, Bytes::from(out)).unwrap();
    }
    assert_eq!(p.server.transmit_backlog(), 300);
    assert!(p.server.wants_transmit());
    p.drive();
    assert_eq!(p.server.transmit_backlog(), 0);
    let mut got = 0;
    for e in p.client_events() {
        let ClientEvent::Response {
            call_id, stub: s, ..
        } = e
        else {
            panic!("{e:?}")
        };
        let i = ids.iter().position(|&x| x == call_id).unwrap();
        assert_eq!(&s[..2], &((i % 7) as u16).to_le_bytes());
        assert_eq!(&s[2..], &stub(i, i as u8)[..]);
        got += 1;
    }
    assert_eq!(got, 300);
    assert_eq!(p.client.outstanding_calls(), 0);
}

#[test]
fn fragmented_requests_and_responses_both_ways() {
    let mut c = ClientConfig::default();
    c.max_xmit_frag = 64;
    c.max_recv_frag = 64;
    let mut s = ServerConfig::default();
    s.max_xmit_frag = 80;
    let mut p = Pair::new(c, s);
    p.chunk = 5;
    let o = p.bind(&[EPM]);
    assert_eq!(o.max_xmit_frag, 64);
    let ctx = o.accepted[0].context_id;
    let object = uuid!("01234567-89ab-cdef-0123-456789abcdef");
    let a = p
        .client
        .start_call(ctx, 3, Some(object), stub(1000, 3))
        .unwrap();
    let b = p.client.start_call(ctx, 4, None, stub(333, 4)).unwrap();
    // Every fragment respects the size, and one call's fragments are contiguous.
    let mut seen = Vec::new();
    while let Some(f) = p.client_one() {
        assert!(f.len() <= 64, "{}", f.len());
        let pdu = Pdu::parse(&f).unwrap();
        seen.push((pdu.call_id, pdu.flags));
    }
    let first_b = seen.iter().position(|(id, _)| *id == b).unwrap();
    assert!(seen[..first_b].iter().all(|(id, _)| *id == a));
    assert!(seen[first_b..].iter().all(|(id, _)| *id == b));
    assert!(seen[first_b - 1].1.contains(PfcFlags::LAST_FRAG));

    let ev = p.server_events();
    let calls: Vec<_> = ev
        .iter()
        .filter_map(|e| {
            if let ServerEvent::Call(c) = e {
                Some(c.clone())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].object, Some(object));
    assert_eq!(calls[0].stub, stub(1000, 3));
    assert_eq!(calls[1].stub, stub(333, 4));
    // Responses: 5000 bytes in fragments of at most 80 (server's own limit).
    p.server.respond(b, stub(5000, 9)).unwrap();
    p.server.respond(a, stub(1, 1)).unwrap();
    let mut sizes = Vec::new();
    while let Some(f) = p.server.poll_transmit() {
        sizes.push(f.len());
        p.client.handle_bytes(p.now, &f);
    }
    assert!(sizes.iter().all(|&n| n <= 80));
    assert!(sizes.len() > 60);
    let ev = p.client_events();
    assert!(
        matches!(&ev[0], ClientEvent::Response { call_id, stub: s, .. } if *call_id == b && *s == stub(5000, 9))
    );
    assert!(matches!(&ev[1], ClientEvent::Response { call_id, .. } if *call_id == a));
}

#[test]
fn simulated_time_is_recorded() {
    let mut p = Pair::default();
    let start = p.now;
    assert_eq!(p.server.last_activity(), None);
    p.bind(&[EPM]);
    let after_bind = p.server.last_activity().unwrap();
    assert!(after_bind > start);
    p.now += Duration::from_secs(3600);
    p.client.start_call(0, 0, None, stub(1, 0)).unwrap();
    p.drive();
    assert!(p.server.last_activity().unwrap() >= after_bind + Duration::from_secs(3600));
    assert_eq!(p.client.contexts().count(), 1);
    assert_eq!(p.server.contexts().count(), 1);
    assert_eq!(p.client.max_xmit_frag(), 5840);
    assert_eq!(p.server.max_xmit_frag(), 5840);
}

#[test]
fn one_byte_chunks() {
    let mut p = Pair::default();
    p.chunk = 1;
    let o = p.bind(&[EPM]);
    p.server_events();
    p.client
        .start_call(o.accepted[0].context_id, 0, None, stub(7000, 2))
        .unwrap();
    p.drive();
    assert_eq!(p.echo_all(), 1);
    p.drive();
    let ev = p.client_events();
    assert!(matches!(&ev[..], [ClientEvent::Response { stub: s, .. }] if s.len() == 7005));
}

#[test]
fn big_endian_client() {
    let mut c = ClientConfig::default();
    c.drep = Drep::BIG_ENDIAN;
    c.max_xmit_frag = 100;
    let mut p = Pair::new(c, ServerConfig::default());
    let o = p.bind(&[EPM]);
    p.server_events();
    p.client
        .start_call(o.accepted[0].context_id, 0x0102, None, stub(300, 1))
        .unwrap();
    p.drive();
    let ev = p.server_events();
    let [ServerEvent::Call(call)] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert_eq!(call.drep, msrpc_ndr::DataRep::BIG_ENDIAN);
    assert_eq!(call.opnum, 0x0102);
    assert_eq!(call.stub, stub(300, 1));
}

#[test]
fn fault_is_call_level() {
    let mut p = Pair::default();
    let o = p.bind(&[EPM]);
    p.server_events();
    let ctx = o.accepted[0].context_id;
    let a = p.client.start_call(ctx, 99, None, stub(4, 0)).unwrap();
    let b = p.client.start_call(ctx, 1, None, stub(4, 0)).unwrap();
    p.drive();
    for e in p.server_events() {
        if let ServerEvent::Call(c) = e {
            if c.opnum == 99 {
                p.server
                    .fault(
                        c.call_id,
                        FaultStatus::NCA_S_OP_RNG_ERROR,
                        Execution::DidNotExecute,
                    )
                    .unwrap();
            } else {
                p.server.respond(c.call_id, stub(2, 2)).unwrap();
            }
        }
    }
    p.drive();
    let ev = p.client_events();
    assert!(
        matches!(&ev[0], ClientEvent::Fault { call_id, status, execution: Execution::DidNotExecute, .. }
        if *call_id == a && status.to_win32().0 == 1745)
    );
    assert!(matches!(&ev[1], ClientEvent::Response { call_id, .. } if *call_id == b));
    assert!(!p.client.is_closed());

    // Statuses a server must not send are refused locally (MS-RPCE 3.3.3.5.1)...
    let c = p.client.start_call(ctx, 1, None, stub(4, 0)).unwrap();
    p.drive();
    p.server_events();
    assert!(
        p.server
            .fault(c, FaultStatus(0), Execution::MayHaveExecuted)
            .is_err()
    );
    assert!(
        p.server
            .fault(c, FaultStatus(0xC000_0005), Execution::MayHaveExecuted)
            .is_err()
    );
    // ...and reported as a protocol error when a peer sends one anyway (3.3.2.5.1).
    let raw = Pdu::new(
        c,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Fault(msrpc_proto::wire::Fault {
            alloc_hint: 0,
            context_id: 0,
            cancel_count: 0,
            flags: 0,
            status: FaultStatus(0),
            reserved: 0,
            stub: Bytes::new(),
        }),
    );
    p.client.handle_bytes(p.now, &raw.emit().unwrap());
    assert!(matches!(
        &p.client_events()[..],
        [ClientEvent::Fault {
            status: FaultStatus::NCA_S_PROTO_ERROR,
            ..
        }]
    ));
}

#[test]
fn non_abortive_cancel() {
    let mut p = Pair::default();
    let o = p.bind(&[EPM]);
    p.server_events();
    let id = p
        .client
        .start_call(o.accepted[0].context_id, 1, None, stub(4, 0))
        .unwrap();
    p.drive();
    p.client.cancel(id).unwrap();
    p.drive();
    let ev = p.server_events();
    assert!(
        matches!(&ev[..], [ServerEvent::Call(_), ServerEvent::Cancel { call_id }] if *call_id == id)
    );
    p.server.respond(id, stub(1, 0)).unwrap();
    p.drive();
    let ev = p.client_events();
    // The client kept waiting and got the reply; the server counted one cancel.
    assert!(
        matches!(&ev[..], [ClientEvent::Response { call_id, cancel_count: 1, .. }] if *call_id == id)
    );
}

#[test]
fn cancel_before_sending_follows_the_request() {
    let mut p = Pair::default();
    let o = p.bind(&[EPM]);
    p.server_events();
    let id = p
        .client
        .start_call(o.accepted[0].context_id, 1, None, stub(4, 0))
        .unwrap();
    p.client.cancel(id).unwrap();
    let first = Pdu::parse(&p.client_one().unwrap()).unwrap();
    assert_eq!(first.packet_type(), PacketType::REQUEST);
    assert!(!first.flags.contains(PfcFlags::PENDING_CANCEL));
    let second = Pdu::parse(&p.client_one().unwrap()).unwrap();
    assert_eq!(second.packet_type(), PacketType::CO_CANCEL);
    let ev = p.server_events();
    assert!(
        matches!(&ev[..], [ServerEvent::Call(c), ServerEvent::Cancel { .. }] if !c.pending_cancel)
    );
}

#[test]
fn cancel_while_request_is_still_arriving() {
    let mut c = ClientConfig::default();
    c.max_xmit_frag = 64;
    let mut p = Pair::new(c, ServerConfig::default());
    let o = p.bind(&[EPM]);
    p.server_events();
    let id = p
        .client
        .start_call(o.accepted[0].context_id, 1, None, stub(200, 0))
        .unwrap();
    p.client_one().unwrap();
    // co_cancel is queued behind the call's remaining fragments (they go out contiguously).
    p.client.cancel(id).unwrap();
    let mut kinds = Vec::new();
    while let Some(f) = p.client_one() {
        kinds.push(Pdu::parse(&f).unwrap().packet_type());
    }
    assert_eq!(kinds.last(), Some(&PacketType::CO_CANCEL));
    assert!(
        kinds[..kinds.len() - 1]
            .iter()
            .all(|k| *k == PacketType::REQUEST)
    );
    let ev = p.server_events();
    assert!(
        matches!(&ev[..], [ServerEvent::Call(c), ServerEvent::Cancel { .. }] if c.call_id == id)
    );
}

#[test]
fn abortive_cancel_after_request_sent() {
    let mut p = Pair::default();
    let o = p.bind(&[EPM]);
    p.server_events();
    let id = p
        .client
        .start_call(o.accepted[0].context_id, 1, None, stub(4, 0))
        .unwrap();
    p.drive();
    p.client.orphan(id).unwrap();
    p.drive();
    let ev = p.server_events();
    assert!(
        matches!(&ev[..], [ServerEvent::Call(_), ServerEvent::Cancel { call_id }] if *call_id == id)
    );
    // The late reply is discarded.
    p.server.respond(id, stub(1, 0)).unwrap();
    p.drive();
    assert!(p.client_events().is_empty());
    assert!(!p.client.is_closed());
}

#[test]
fn orphan_mid_request_keeps_connection_when_negotiated() {
    let mut c = ClientConfig::default();
    c.max_xmit_frag = 64;
    let mut p = Pair::new(c, ServerConfig::default());
    let o = p.bind(&[EPM]);
    assert_eq!(o.features, Some(BindTimeFeatures::ALL));
    p.server_events();
    let ctx = o.accepted[0].context_id;
    let id = p.client.start_call(ctx, 1, None, stub(500, 0)).unwrap();
    p.client_one().unwrap();
    p.client_one().unwrap();
    p.client.orphan(id).unwrap();
    let f = p.client_one().unwrap();
    assert_eq!(Pdu::parse(&f).unwrap().packet_type(), PacketType::ORPHANED);
    assert!(p.client_one().is_none());
    assert!(!p.client.is_closed());
    // The server dropped the partial call and serves the next one.
    let id2 = p.client.start_call(ctx, 2, None, stub(10, 0)).unwrap();
    p.drive();
    let ev = p.server_events();
    assert!(matches!(&ev[..], [ServerEvent::Call(c)] if c.call_id == id2));
}

#[test]
fn orphan_mid_request_closes_without_keep_connection() {
    let mut c = ClientConfig::default();
    c.max_xmit_frag = 64;
    c.features = None;
    let mut p = Pair::new(c, ServerConfig::default());
    let o = p.bind(&[EPM]);
    assert_eq!(o.features, None);
    let ctx = o.accepted[0].context_id;
    let id = p.client.start_call(ctx, 1, None, stub(500, 0)).unwrap();
    let other = p.client.start_call(ctx, 1, None, stub(5, 0)).unwrap();
    p.client_one().unwrap();
    p.client.orphan(id).unwrap();
    let ev = p.client_events();
    assert!(
        matches!(&ev[..], [ClientEvent::Closed { error: ConnectionError::Orphaned, calls }]
        if calls == &vec![other])
    );
    // The orphaned PDU is still flushed before the transport closes.
    let f = p.client.poll_transmit().unwrap();
    assert_eq!(Pdu::parse(&f).unwrap().packet_type(), PacketType::ORPHANED);
    assert!(p.client.poll_transmit().is_none());
    assert_eq!(ConnectionError::Orphaned.initiator(), Initiator::Local);
}

#[test]
fn orphan_mid_request_closes_when_keep_connection_is_not_trusted() {
    let mut c = ClientConfig::default();
    c.max_xmit_frag = 64;
    c.keep_connection_on_orphan = false;
    let mut p = Pair::new(c, ServerConfig::default());
    let o = p.bind(&[EPM]);
    assert_eq!(o.features, Some(BindTimeFeatures::ALL));
    let id = p
        .client
        .start_call(o.accepted[0].context_id, 1, None, stub(500, 0))
        .unwrap();
    p.client_one().unwrap();
    p.client.orphan(id).unwrap();
    assert!(p.client.is_closed());
}

#[test]
fn orphan_of_unsent_call_sends_nothing() {
    let mut p = Pair::default();
    let o = p.bind(&[EPM]);
    p.server_events();
    let id = p
        .client
        .start_call(o.accepted[0].context_id, 1, None, stub(4, 0))
        .unwrap();
    p.client.orphan(id).unwrap();
    assert!(p.client.poll_transmit().is_none());
    assert!(p.client.orphan(id).is_err());
}

#[test]
fn server_sees_orphaned_for_dispatched_call() {
    let mut p = Pair::default();
    let o = p.bind(&[EPM]);
    p.server_events();
    let ctx = o.accepted[0].context_id;
    p.client.start_call(ctx, 1, None, stub(4, 0)).unwrap();
    p.drive();
    let ev = p.server_events();
    let [ServerEvent::Call(c)] = &ev[..] else {
        panic!()
    };
    let orphaned = Pdu::new(c.call_id, PfcFlags::FIRST_AND_LAST, PduBody::Orphaned)
        .emit()
        .unwrap();
    assert!(p.raw_to_server(&orphaned).is_empty());
    let ev = p.server_events();
    assert!(matches!(&ev[..], [ServerEvent::Orphaned { call_id }] if *call_id == c.call_id));
    assert!(matches!(
        p.server.respond(c.call_id, stub(1, 1)),
        Err(Error::NoSuchCall(_))
    ));
}

#[test]
fn shutdown_stops_new_calls() {
    let mut p = Pair::default();
    let o = p.bind(&[EPM]);
    p.server_events();
    let ctx = o.accepted[0].context_id;
    let id = p.client.start_call(ctx, 1, None, stub(4, 0)).unwrap();
    p.drive();
    p.server.shutdown();
    p.drive();
    assert_eq!(p.client_events(), vec![ClientEvent::Shutdown]);
    assert!(p.client.is_shut_down());
    assert!(p.client.start_call(ctx, 1, None, stub(4, 0)).is_err());
    // The outstanding call still completes.
    assert_eq!(p.echo_all(), 1);
    p.drive();
    assert!(
        matches!(&p.client_events()[..], [ClientEvent::Response { call_id, .. }] if *call_id == id)
    );
}

fn raw_bind(call_id: u32, contexts: Vec<ContextElement>) -> Pdu {
    Pdu::new(
        call_id,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Bind(Bind {
            max_xmit_frag: 5840,
            max_recv_frag: 5840,
            assoc_group: 0,
            contexts,
        }),
    )
}

fn epm_ctx(id: u16) -> ContextElement {
    ContextElement {
        context_id: id,
        abstract_syntax: EPM,
        transfer_syntaxes: vec![SyntaxId::NDR20],
    }
}

fn raw_request(call_id: u32, ctx: u16, flags: PfcFlags, stub: Bytes) -> Vec<u8> {
    Pdu::new(
        call_id,
        flags,
        PduBody::Request(Request {
            alloc_hint: stub.len() as u32,
            context_id: ctx,
            opnum: 0,
            object: None,
            stub,
        }),
    )
    .emit()
    .unwrap()
}

#[test]
fn bind_nak_for_wrong_version_and_for_auth() {
    // rpc_vers 4: bind_nak "protocol version not supported" listing 5.0, then close.
    let mut p = Pair::default();
    let mut b = raw_bind(1, vec![epm_ctx(0)]).emit().unwrap();
    b[0] = 4;
    let out = p.raw_to_server(&b);
    assert_eq!(out[0].call_id, 1);
    assert!(matches!(&out[0].body, PduBody::BindNak(n)
        if n.reason == RejectReason::PROTOCOL_VERSION_NOT_SUPPORTED && n.versions == vec![(5, 0)]));
    assert!(p.server.is_closed());
    let ev = p.server_events();
    assert!(matches!(
        &ev[..],
        [ServerEvent::Closed {
            error: ConnectionError::Protocol {
                initiator: Initiator::Remote,
                ..
            }
        }]
    ));

    // A bind with a security trailer and no provider: bind_nak 8, then the close (as Windows
    // after every bind_nak, Samba's raw_protocol _test_auth_type_level_bind_nak; the connection
    // used to stay open for another bind).
    let mut p = Pair::default();
    let mut bind = raw_bind(1, vec![epm_ctx(0)]);
    bind.auth = Some(AuthVerifier::new(
        AuthType::NTLM,
        AuthLevel::PKT_INTEGRITY,
        1,
        Bytes::from_static(b"NTLMSSP\0"),
    ));
    let out = p.raw_to_server(&bind.emit().unwrap());
    assert!(
        matches!(&out[0].body, PduBody::BindNak(n) if n.reason == RejectReason::AUTHENTICATION_TYPE_NOT_RECOGNIZED)
    );
    assert!(p.server.is_closed());
    // A plain bind, then a second bind on the association: refused with bind_nak, then closed.
    let mut p = Pair::default();
    let out = p.raw_to_server(&raw_bind(2, vec![epm_ctx(0)]).emit().unwrap());
    assert_eq!(out[0].packet_type(), PacketType::BIND_ACK);
    let out = p.raw_to_server(&raw_bind(3, vec![epm_ctx(0)]).emit().unwrap());
    assert_eq!(out[0].packet_type(), PacketType::BIND_NAK);
    assert!(p.server.is_closed());
}

#[test]
fn alter_context_errors_are_faults() {
    let mut p = Pair::default();
    p.raw_to_server(&raw_bind(1, vec![epm_ctx(0)]).emit().unwrap());
    let mut alter = raw_bind(2, vec![epm_ctx(1)]);
    alter.body = match alter.body {
        PduBody::Bind(b) => PduBody::AlterContext(b),
        other => other,
    };
    alter.auth = Some(AuthVerifier::new(
        AuthType::NTLM,
        AuthLevel::PKT_INTEGRITY,
        1,
        Bytes::from_static(b"NTLMSSP\0"),
    ));
    let out = p.raw_to_server(&alter.emit().unwrap());
    // No acceptor on this server: the security context is refused with access denied.
    assert!(matches!(&out[0].body, PduBody::Fault(f) if f.status == FaultStatus(5)));
    assert!(!p.server.is_closed());

    // The client side: a fault answering alter_context, then one answering a bind.
    let mut p = Pair::default();
    p.bind(&[EPM]);
    let id = p.client.alter_context(&[MGMT]).unwrap();
    p.client.poll_transmit().unwrap();
    let fault = |id| {
        Pdu::new(
            id,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Fault(msrpc_proto::wire::Fault {
                alloc_hint: 0,
                context_id: 0,
                cancel_count: 0,
                flags: 0,
                status: FaultStatus::NCA_S_UNK_IF,
                reserved: 0,
                stub: Bytes::new(),
            }),
        )
        .emit()
        .unwrap()
    };
    p.client.handle_bytes(p.now, &fault(id));
    assert_eq!(
        p.client_events(),
        vec![ClientEvent::AlterContextFailed {
            status: FaultStatus::NCA_S_UNK_IF
        }]
    );
    assert!(p.client.is_bound());
    let mut c = ClientConnection::new(ClientConfig::default());
    let id = c.bind(&[EPM]).unwrap();
    c.handle_bytes(p.now, &fault(id));
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::Closed {
            error: ConnectionError::BindFaulted(_),
            ..
        })
    ));
}

#[test]
fn client_handles_bind_nak() {
    let mut p = Pair::default();
    let id = p.client.bind(&[EPM]).unwrap();
    p.client.poll_transmit().unwrap();
    let nak = Pdu::new(
        id,
        PfcFlags::FIRST_AND_LAST,
        PduBody::BindNak(msrpc_proto::wire::BindNak {
            reason: RejectReason::TEMPORARY_CONGESTION,
            versions: vec![(5, 0)],
            extra: Bytes::new(),
        }),
    );
    p.client.handle_bytes(p.now, &nak.emit().unwrap());
    let ev = p.client_events();
    assert!(matches!(
        &ev[0],
        ClientEvent::BindRejected {
            reason: RejectReason::TEMPORARY_CONGESTION,
            ..
        }
    ));
    assert!(matches!(
        &ev[1],
        ClientEvent::Closed {
            error: ConnectionError::BindRejected(_),
            ..
        }
    ));
    assert_eq!(
        ConnectionError::BindRejected(RejectReason::NOT_SPECIFIED).initiator(),
        Initiator::Remote
    );
}

#[test]
fn unknown_context_faults_the_call_only() {
    let mut p = Pair::default();
    p.raw_to_server(&raw_bind(1, vec![epm_ctx(0)]).emit().unwrap());
    // Single-fragment request on context 7.
    let out = p.raw_to_server(&raw_request(2, 7, PfcFlags::FIRST_AND_LAST, stub(8, 0)));
    assert!(matches!(&out[0].body, PduBody::Fault(f) if f.status == FaultStatus::NCA_S_UNK_IF));
    assert!(out[0].flags.contains(PfcFlags::DID_NOT_EXECUTE));
    // Multi-fragment request on context 7: one fault, the other fragments are dropped.
    let out = p.raw_to_server(&raw_request(3, 7, PfcFlags::FIRST_FRAG, stub(8, 0)));
    assert_eq!(out.len(), 1);
    assert!(
        p.raw_to_server(&raw_request(3, 7, PfcFlags::NONE, stub(8, 0)))
            .is_empty()
    );
    assert!(
        p.raw_to_server(&raw_request(3, 7, PfcFlags::LAST_FRAG, stub(8, 0)))
            .is_empty()
    );
    // The connection still serves calls.
    p.raw_to_server(&raw_request(4, 0, PfcFlags::FIRST_AND_LAST, stub(8, 0)));
    assert!(!p.server.is_closed());
    assert!(
        p.server_events()
            .iter()
            .any(|e| matches!(e, ServerEvent::Call(c) if c.call_id == 4))
    );
}

#[test]
fn co_cancel_between_request_fragments() {
    let mut p = Pair::default();
    p.raw_to_server(&raw_bind(1, vec![epm_ctx(0)]).emit().unwrap());
    p.server_events();
    p.raw_to_server(&raw_request(2, 0, PfcFlags::FIRST_FRAG, stub(8, 0)));
    let cancel = Pdu::new(2, PfcFlags::FIRST_AND_LAST, PduBody::CoCancel);
    p.raw_to_server(&cancel.emit().unwrap());
    p.raw_to_server(&raw_request(2, 0, PfcFlags::LAST_FRAG, stub(8, 1)));
    let ev = p.server_events();
    assert!(matches!(&ev[..], [ServerEvent::Call(c)] if c.pending_cancel && c.stub.len() == 16));
    p.server.respond(2, stub(1, 0)).unwrap();
    let out = p.raw_to_server(&[]);
    // Not counted in cancel_count (it used to be 1): Windows answers 0 (Samba's raw_protocol
    // test_co_cancel_request_after_first); the manager still saw pending_cancel.
    assert!(matches!(&out[0].body, PduBody::Response(r) if r.cancel_count == 0));
}

#[test]
fn interleaved_request_fragments_are_a_protocol_error() {
    let mut p = Pair::default();
    p.raw_to_server(&raw_bind(1, vec![epm_ctx(0)]).emit().unwrap());
    p.server_events();
    assert!(
        p.raw_to_server(&raw_request(2, 0, PfcFlags::FIRST_FRAG, stub(8, 0)))
            .is_empty()
    );
    let out = p.raw_to_server(&raw_request(3, 0, PfcFlags::FIRST_FRAG, stub(8, 0)));
    assert!(
        matches!(&out[..], [f] if matches!(&f.body, PduBody::Fault(x) if x.status == FaultStatus::NCA_S_PROTO_ERROR))
    );
    assert!(p.server.is_closed());
    let ev = p.server_events();
    assert!(matches!(
        &ev[..],
        [ServerEvent::Closed {
            error: ConnectionError::Protocol {
                error: Error::InterleavedFragments {
                    previous: 2,
                    new: 3
                },
                initiator: Initiator::Remote
            }
        }]
    ));
}

#[test]
fn other_protocol_errors() {
    // A request before any bind: fault proto_error and close.
    let mut p = Pair::default();
    let out = p.raw_to_server(&raw_request(1, 0, PfcFlags::FIRST_AND_LAST, stub(8, 0)));
    assert!(
        matches!(&out[0].body, PduBody::Fault(f) if f.status == FaultStatus::NCA_S_PROTO_ERROR)
    );
    assert!(p.server.is_closed());

    // A middle fragment with no first fragment.
    let mut p = Pair::default();
    p.raw_to_server(&raw_bind(1, vec![epm_ctx(0)]).emit().unwrap());
    p.raw_to_server(&raw_request(5, 0, PfcFlags::LAST_FRAG, stub(8, 0)));
    assert!(p.server.is_closed());

    // A PDU type a client must not send (response), and garbage.
    for bad in [
        Pdu::new(1, PfcFlags::FIRST_AND_LAST, PduBody::Shutdown)
            .emit()
            .unwrap(),
        vec![0xffu8; 40],
        {
            // frag_length below the header size
            let mut b = raw_bind(1, vec![epm_ctx(0)]).emit().unwrap();
            b[8] = 4;
            b[9] = 0;
            b
        },
    ] {
        let mut p = Pair::default();
        p.raw_to_server(&bad);
        assert!(p.server.is_closed(), "{bad:02x?}");
    }

    // MS-RPCE 3.3.3.5.6: a stray fragment of a recent old call is ignored.
    let mut p = Pair::default();
    p.raw_to_server(&raw_bind(1, vec![epm_ctx(0)]).emit().unwrap());
    p.raw_to_server(&raw_request(200, 0, PfcFlags::FIRST_AND_LAST, stub(8, 0)));
    assert!(
        p.raw_to_server(&raw_request(190, 0, PfcFlags::LAST_FRAG, stub(8, 0)))
            .is_empty()
    );
    assert!(!p.server.is_closed());
    // 150 or more behind: protocol error.
    p.raw_to_server(&raw_request(20, 0, PfcFlags::LAST_FRAG, stub(8, 0)));
    assert!(p.server.is_closed());

    // A fragment larger than max_recv_frag.
    let mut s = ServerConfig::default();
    s.max_recv_frag = 2000;
    let mut p = Pair::new(ClientConfig::default(), s);
    p.raw_to_server(&raw_bind(1, vec![epm_ctx(0)]).emit().unwrap());
    p.raw_to_server(&raw_request(2, 0, PfcFlags::FIRST_AND_LAST, stub(3000, 0)));
    assert!(p.server.is_closed());
}

#[test]
fn request_size_limit_faults_the_call_then_closes() {
    // As Windows (the raw suite's test_fragmented_requests04 and 05): status 5, then the close.
    let mut s = ServerConfig::default();
    s.max_request_size = 1000;
    let mut c = ClientConfig::default();
    c.max_xmit_frag = 300;
    let mut p = Pair::new(c, s);
    let o = p.bind(&[EPM]);
    p.server_events();
    let ctx = o.accepted[0].context_id;
    let big = p.client.start_call(ctx, 1, None, stub(5000, 0)).unwrap();
    p.drive();
    assert!(
        !p.server_events()
            .iter()
            .any(|e| matches!(e, ServerEvent::Call(_)))
    );
    let ev = p.client_events();
    assert!(
        matches!(&ev[..], [ClientEvent::Fault { call_id, status: FaultStatus(5), .. }, ..] if *call_id == big),
        "{ev:?}"
    );
    assert!(p.server.is_closed());
}

#[test]
fn client_response_limit_closes() {
    let mut c = ClientConfig::default();
    c.max_response_size = 100;
    let mut p = Pair::new(c, ServerConfig::default());
    let o = p.bind(&[EPM]);
    p.server_events();
    let id = p
        .client
        .start_call(o.accepted[0].context_id, 1, None, stub(4, 0))
        .unwrap();
    p.drive();
    p.server_events();
    p.server.respond(id, stub(101, 0)).unwrap();
    p.drive();
    let ev = p.client_events();
    assert!(
        matches!(&ev[..], [ClientEvent::Closed { error: ConnectionError::Protocol { error: Error::ReassemblyLimit { .. }, .. }, calls }] if calls == &vec![id])
    );
}

#[test]
fn transport_close_fails_outstanding_calls() {
    let mut p = Pair::default();
    let o = p.bind(&[EPM]);
    let id = p
        .client
        .start_call(o.accepted[0].context_id, 1, None, stub(4, 0))
        .unwrap();
    p.drive();
    p.client.handle_transport_closed();
    let ev = p.client_events();
    assert!(
        matches!(&ev[..], [ClientEvent::Closed { error: ConnectionError::TransportClosed, calls }] if calls == &vec![id])
    );
    p.server.handle_transport_closed();
    assert!(p.server_events().iter().any(|e| matches!(
        e,
        ServerEvent::Closed {
            error: ConnectionError::TransportClosed
        }
    )));
}

#[test]
fn local_misuse_is_reported() {
    let mut p = Pair::default();
    assert!(matches!(
        p.client.start_call(0, 0, None, Bytes::new()),
        Err(Error::UnknownContext(0))
    ));
    p.bind(&[EPM]);
    assert!(p.client.bind(&[EPM]).is_err());
    assert!(p.client.cancel(42).is_err());
    assert!(p.server.respond(42, Bytes::new()).is_err());
    p.client.close();
    assert!(p.client.start_call(0, 0, None, Bytes::new()).is_err());
}
