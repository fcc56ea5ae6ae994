//! The server's fast path (`handle_input_calls`, `respond_into`) against the general one
//! (`handle_input`, `poll_event`, `respond`, `poll_transmit`): the same byte streams, fed to two
//! servers, must give the same calls, in the same order, the same events, the same bytes back
//! and the same state, whichever path each PDU took. The streams mix requests the fast path
//! takes with every kind it must leave to the general path.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use msrpc_proto::wire::{Bind, ContextElement, Pdu, PduBody, PfcFlags, Request};
use msrpc_proto::{
    IncomingCall, ServerConfig, ServerConnection, ServerEvent, StaticRegistry, SyntaxId,
};
use uuid::uuid;

const EPM: SyntaxId = SyntaxId::new(uuid!("e1af8308-5d1f-11c9-91a4-08002b14a0fa"), 3, 0);
const MGMT: SyntaxId = SyntaxId::new(uuid!("afa8bd80-7d8a-11c9-bef4-08002b102989"), 1, 0);

fn server(config: ServerConfig) -> ServerConnection {
    let registry = Arc::new(StaticRegistry::new(vec![
        (EPM, vec![SyntaxId::NDR20, SyntaxId::NDR64]),
        (MGMT, vec![SyntaxId::NDR20]),
    ]));
    ServerConnection::new(config, registry)
}

fn bind(call_id: u32) -> Vec<u8> {
    let ctx = |context_id, abstract_syntax| ContextElement {
        context_id,
        abstract_syntax,
        transfer_syntaxes: vec![SyntaxId::NDR20],
    };
    Pdu::new(
        call_id,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Bind(Bind {
            max_xmit_frag: 5840,
            max_recv_frag: 5840,
            assoc_group: 0,
            contexts: vec![ctx(0, EPM), ctx(1, MGMT)],
        }),
    )
    .emit()
    .unwrap()
}

fn request(call_id: u32, ctx: u16, opnum: u16, flags: PfcFlags, stub: &[u8]) -> Pdu {
    Pdu::new(
        call_id,
        flags,
        PduBody::Request(Request {
            alloc_hint: stub.len() as u32,
            context_id: ctx,
            opnum,
            object: None,
            stub: Bytes::copy_from_slice(stub),
        }),
    )
}

fn emit(p: Pdu) -> Vec<u8> {
    p.emit().unwrap()
}

fn simple(call_id: u32, ctx: u16, stub: &[u8]) -> Vec<u8> {
    emit(request(call_id, ctx, 3, PfcFlags::FIRST_AND_LAST, stub))
}

/// What one server did with a stream: every call and event in order, the bytes it sent, and
/// its state at the end.
#[derive(Debug, PartialEq)]
struct Outcome {
    seen: Vec<ServerEvent>,
    wire: Vec<u8>,
    active: usize,
    closed: bool,
}

/// The answer to a call: its stub echoed after its opnum, or for opnum 7 a stub larger than
/// one fragment, so that some answers must go the general way.
fn answer_of(c: &IncomingCall) -> Vec<u8> {
    let mut v = c.opnum.to_le_bytes().to_vec();
    v.extend_from_slice(&c.stub);
    if c.opnum == 7 {
        v.resize(9000, 0xab);
    }
    v
}

/// The general path: bytes in `chunk`-sized reads, every event polled after each read, the
/// calls answered (except maybe ones) with `respond`, then everything sent.
fn general(stream: &[u8], chunk: usize) -> Outcome {
    let mut s = server(ServerConfig::default());
    let now = Instant::now();
    let mut seen = Vec::new();
    let mut wire = Vec::new();
    for c in stream.chunks(chunk) {
        s.handle_bytes(now, c);
        let mut calls = Vec::new();
        while let Some(ev) = s.poll_event() {
            if let ServerEvent::Call(c) = &ev {
                calls.push(c.clone());
            }
            seen.push(ev);
        }
        for c in calls.iter().filter(|c| !c.maybe) {
            let _ = s.respond(c.call_id, answer_of(c));
        }
        while s.poll_transmit_into(&mut wire) {}
    }
    Outcome {
        seen,
        wire,
        active: s.active_calls(),
        closed: s.is_closed(),
    }
}

/// The fast path as the runtime drives it: each read into the input buffer, the calls handed
/// over inline collected, then the events polled; what the core has queued sent first, then
/// each answer with `respond_into` into the same buffer.
fn fast(stream: &[u8], chunk: usize) -> (Outcome, usize) {
    let mut s = server(ServerConfig::default());
    let now = Instant::now();
    let mut seen = Vec::new();
    let mut wire = Vec::new();
    let mut inline = 0;
    for c in stream.chunks(chunk) {
        s.input_buffer().extend_from_slice(c);
        let mut handed = Vec::new();
        s.handle_input_calls(now, c.len(), |_, call| handed.push(call));
        inline += handed.len();
        let mut calls: Vec<IncomingCall> = handed.clone();
        seen.extend(handed.into_iter().map(ServerEvent::Call));
        while let Some(ev) = s.poll_event() {
            if let ServerEvent::Call(c) = &ev {
                calls.push(c.clone());
            }
            seen.push(ev);
        }
        while s.poll_transmit_into(&mut wire) {}
        for c in calls.iter().filter(|c| !c.maybe) {
            let _ = s.respond_into(c.call_id, answer_of(c), &mut wire);
        }
        while s.poll_transmit_into(&mut wire) {}
    }
    let o = Outcome {
        seen,
        wire,
        active: s.active_calls(),
        closed: s.is_closed(),
    };
    (o, inline)
}

fn check(name: &str, stream: &[u8]) -> usize {
    let mut inline = 0;
    for chunk in [1, 7, 29, 100, stream.len().max(1)] {
        let g = general(stream, chunk);
        let (f, n) = fast(stream, chunk);
        assert_eq!(g, f, "{name}, reads of {chunk} bytes");
        inline = inline.max(n);
    }
    inline
}

#[test]
fn plain_calls_take_the_fast_path_and_give_the_same_bytes() {
    let mut s = bind(1);
    for id in 2..40 {
        s.extend(simple(id, (id % 2) as u16, &[id as u8; 12]));
    }
    let inline = check("plain", &s);
    assert_eq!(
        inline, 38,
        "every call after the bind's read is handed over inline"
    );
}

#[test]
fn every_request_the_fast_path_must_leave_is_left_and_answered_the_same() {
    let mut s = Vec::new();
    // Before the bind: not bound, the close.
    let mut early = s.clone();
    early.extend(simple(1, 0, b"x"));
    check("request before bind", &early);

    s.extend(bind(1));
    s.extend(simple(2, 0, b"ok"));
    // An unknown presentation context: faulted, the connection stays.
    s.extend(simple(3, 9, b"x"));
    // Maybe and pending-cancel flags carried over.
    s.extend(emit(request(
        4,
        0,
        1,
        PfcFlags::FIRST_AND_LAST | PfcFlags::MAYBE,
        b"m",
    )));
    s.extend(emit(request(
        5,
        1,
        1,
        PfcFlags::FIRST_AND_LAST | PfcFlags::PENDING_CANCEL,
        b"c",
    )));
    // A request in two fragments, then one with an object UUID.
    s.extend(emit(request(6, 0, 2, PfcFlags::FIRST_FRAG, &[1; 16])));
    s.extend(emit(request(6, 0, 2, PfcFlags::LAST_FRAG, &[2; 8])));
    let mut obj = request(7, 0, 2, PfcFlags::FIRST_AND_LAST, b"o");
    if let PduBody::Request(r) = &mut obj.body {
        r.object = Some(uuid!("11111111-2222-3333-4444-555555555555"));
    }
    s.extend(emit(obj));
    // An answer larger than one fragment (opnum 7), then a plain call behind it.
    s.extend(emit(request(8, 0, 7, PfcFlags::FIRST_AND_LAST, b"big")));
    s.extend(simple(9, 1, b"after"));
    // A big-endian request.
    let mut be = request(10, 1, 4, PfcFlags::FIRST_AND_LAST, b"be");
    be.drep = msrpc_proto::wire::Drep([0, 0, 0, 0]);
    s.extend(emit(be));
    // co_cancel and orphaned for calls in progress and gone.
    s.extend(emit(Pdu::new(
        9,
        PfcFlags::FIRST_AND_LAST,
        PduBody::CoCancel,
    )));
    s.extend(emit(Pdu::new(
        11,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Orphaned,
    )));
    s.extend(simple(12, 0, b"last"));
    let inline = check("mixed", &s);
    assert!(inline > 0, "some calls took the fast path");

    // A request over max_recv_frag: the close, both ways.
    let mut big = s.clone();
    big.extend(simple(20, 0, &[0; 6000]));
    check("fragment too large", &big);

    // A call id already in progress (a maybe call is never answered): inconsistent, the
    // close.
    let mut dup = bind(1);
    dup.extend(emit(request(
        2,
        0,
        1,
        PfcFlags::FIRST_AND_LAST | PfcFlags::MAYBE,
        b"m",
    )));
    dup.extend(simple(2, 0, b"again"));
    check("duplicate call id", &dup);

    // A request shorter than its body's fields.
    let mut short = bind(1);
    let mut r = simple(2, 0, b"");
    r.truncate(20);
    r[8] = 20;
    short.extend(r);
    check("truncated request", &short);

    // A request that starts while another is in reassembly.
    let mut inter = bind(1);
    inter.extend(emit(request(2, 0, 2, PfcFlags::FIRST_FRAG, &[1; 16])));
    inter.extend(simple(3, 0, b"x"));
    check("interleaved", &inter);
}

#[test]
fn an_answer_is_written_straight_only_when_nothing_is_ahead_of_it() {
    let mut s = server(ServerConfig::default());
    let now = Instant::now();
    let mut stream = bind(1);
    stream.extend(simple(2, 0, b"a"));
    stream.extend(simple(3, 0, b"b"));
    s.input_buffer().extend_from_slice(&stream);
    s.handle_input_calls(now, stream.len(), |_, _| {});
    let calls: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(calls.len() >= 3, "{calls:?}");
    // The bind_ack is queued: call 2's answer must wait behind it.
    let mut wire = Vec::new();
    assert!(!s.respond_into(2, b"x".to_vec(), &mut wire).unwrap());
    assert!(wire.is_empty());
    while s.poll_transmit_into(&mut wire) {}
    let queued = wire.len();
    // Now nothing is ahead: call 3's answer goes straight in, after what the buffer held.
    assert!(s.respond_into(3, b"y".to_vec(), &mut wire).unwrap());
    assert_eq!(wire.len(), queued + 24 + 1);
    assert!(!s.wants_transmit());
    // Answered: a second answer is refused either way.
    assert!(s.respond_into(3, b"y".to_vec(), &mut wire).is_err());
}
