//! The state machines against real traffic: captured peer bytes drive our machines, and what our
//! machines emit is compared byte for byte with what Samba and python3-samba sent.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "common/vectors.rs"]
mod vectors;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use msrpc_proto::negotiate::InterfaceRegistry;
use msrpc_proto::wire::{BindAckResult, Pdu, PduBody};
use msrpc_proto::{
    BindTimeFeatures, ClientConfig, ClientConnection, ClientEvent, ServerConfig, ServerConnection,
    ServerEvent, SyntaxId,
};
use uuid::uuid;

use vectors::*;

const EPM: SyntaxId = SyntaxId::new(uuid!("e1af8308-5d1f-11c9-91a4-08002b14a0fa"), 3, 0);
const TEST_IF: SyntaxId = SyntaxId::new(uuid!("6b3a1c2e-5d4f-4e8a-9b7c-0a1b2c3d4e5f"), 1, 0);

fn bytes(h: &str) -> Vec<u8> {
    hex::decode(h).unwrap()
}

/// A registry that hands out the association group Samba chose, to compare bytes.
struct Fixed(SyntaxId, u32);

impl InterfaceRegistry for Fixed {
    fn transfer_syntaxes(&self, interface: &SyntaxId) -> Option<Vec<SyntaxId>> {
        interface
            .is_served_by(&self.0)
            .then(|| vec![SyntaxId::NDR20])
    }
    fn assoc_group(&self, _requested: u32) -> u32 {
        self.1
    }
}

#[test]
fn our_server_answers_impacket_like_samba_byte_for_byte() {
    let mut config = ServerConfig::default();
    config.sec_addr = "135".into();
    config.max_xmit_frag = 4280;
    config.max_recv_frag = 4280;
    let mut server = ServerConnection::new(config, Arc::new(Fixed(EPM, 0xcb19)));
    let now = Instant::now();

    // impacket's bind, in two odd chunks.
    let bind = bytes(EPM_BIND);
    server.handle_bytes(now, &bind[..5]);
    server.handle_bytes(now, &bind[5..]);
    assert_eq!(hex::encode(server.poll_transmit().unwrap()), EPM_BIND_ACK);

    // impacket's ept_lookup request; answer with the stub Samba sent.
    server.handle_bytes(now, &bytes(EPT_LOOKUP_REQUEST));
    let _bound = server.poll_event().unwrap();
    let Some(ServerEvent::Call(call)) = server.poll_event() else {
        panic!()
    };
    assert_eq!((call.opnum, call.context_id, call.interface), (2, 0, EPM));
    let mut stub = Vec::new();
    for h in [EPT_LOOKUP_RESPONSE_1, EPT_LOOKUP_RESPONSE_2] {
        let PduBody::Response(r) = Pdu::parse(&bytes(h)).unwrap().body else {
            panic!()
        };
        stub.extend_from_slice(&r.stub);
    }
    server.respond(call.call_id, Bytes::from(stub)).unwrap();
    // Same fragment boundaries and alloc_hints as Samba.
    assert_eq!(
        hex::encode(server.poll_transmit().unwrap()),
        EPT_LOOKUP_RESPONSE_1
    );
    assert_eq!(
        hex::encode(server.poll_transmit().unwrap()),
        EPT_LOOKUP_RESPONSE_2
    );
    assert!(server.poll_transmit().is_none());
}

#[test]
fn our_client_sends_what_python3_samba_sent() {
    let mut config = ClientConfig::default();
    config.conc_mpx = false;
    let mut client = ClientConnection::new(config);
    let now = Instant::now();
    client.bind(&[TEST_IF]).unwrap();
    // Same contexts (NDR20, then the feature context with bits 0x3), same bytes.
    assert_eq!(hex::encode(client.poll_transmit().unwrap()), FEATURE_BIND);

    // impacket's answer: the feature context gets user rejection, so no features.
    client.handle_bytes(now, &bytes(FEATURE_BIND_ACK));
    let Some(ClientEvent::Bound(o)) = client.poll_event() else {
        panic!()
    };
    assert_eq!(o.features, None);
    assert_eq!(o.sec_addr, "40136");
    assert_eq!(o.accepted.len(), 1);
    assert!(
        o.rejected.is_empty(),
        "the feature context is not an interface rejection"
    );

    let PduBody::Request(req) = Pdu::parse(&bytes(FEATURE_REQUEST)).unwrap().body else {
        panic!()
    };
    let id = client.start_call(0, 0, None, req.stub.clone()).unwrap();
    assert_eq!(id, 2);
    assert_eq!(
        hex::encode(client.poll_transmit().unwrap()),
        FEATURE_REQUEST
    );

    let resp = bytes(FEATURE_RESPONSE);
    for b in &resp {
        client.handle_bytes(now, std::slice::from_ref(b));
    }
    let Some(ClientEvent::Response { call_id, stub, .. }) = client.poll_event() else {
        panic!()
    };
    assert_eq!(call_id, 2);
    assert_eq!(stub.len(), resp.len() - 24);
}

#[test]
fn our_server_negotiates_features_with_python3_samba() {
    let registry = Arc::new(msrpc_proto::StaticRegistry::new(vec![(
        TEST_IF,
        vec![SyntaxId::NDR20],
    )]));
    let mut server = ServerConnection::new(ServerConfig::default(), registry);
    server.handle_bytes(Instant::now(), &bytes(FEATURE_BIND));
    let ack = Pdu::parse(&server.poll_transmit().unwrap()).unwrap();
    let PduBody::BindAck(a) = ack.body else {
        panic!()
    };
    assert_eq!(a.results[0].result, BindAckResult::ACCEPTANCE);
    assert_eq!(a.results[1].result, BindAckResult::NEGOTIATE_ACK);
    assert_eq!(a.results[1].reason, 0x3);
    assert_eq!(server.features(), Some(BindTimeFeatures::ALL));
    server.handle_bytes(Instant::now(), &bytes(FEATURE_REQUEST));
    let _ = server.poll_event();
    let Some(ServerEvent::Call(c)) = server.poll_event() else {
        panic!()
    };
    assert_eq!((c.call_id, c.opnum, c.interface), (2, 0, TEST_IF));
}

#[test]
fn our_client_reads_samba_fragmented_response_and_provider_rejection() {
    let mut config = ClientConfig::default();
    config.features = None;
    config.max_xmit_frag = 4280;
    config.max_recv_frag = 4280;
    config.conc_mpx = false;
    let mut client = ClientConnection::new(config);
    client.bind(&[EPM]).unwrap();
    assert_eq!(hex::encode(client.poll_transmit().unwrap()), EPM_BIND);
    client.handle_bytes(Instant::now(), &bytes(EPM_BIND_ACK));
    let Some(ClientEvent::Bound(o)) = client.poll_event() else {
        panic!()
    };
    assert_eq!(
        (o.assoc_group, o.max_xmit_frag, o.max_recv_frag),
        (0xcb19, 4280, 4280)
    );

    // Samba's NDR64-only rejection, as our client sees it.
    let mut config = ClientConfig::default();
    config.features = None;
    config.transfer_syntaxes = vec![SyntaxId::NDR64];
    let mut client = ClientConnection::new(config);
    let srvsvc = SyntaxId::new(uuid!("4b324fc8-1670-01d3-1278-5a47bf6ee188"), 3, 0);
    client.bind(&[srvsvc]).unwrap();
    client.poll_transmit().unwrap();
    client.handle_bytes(Instant::now(), &bytes(PROVIDER_REJECTION_ACK));
    let Some(ClientEvent::Bound(o)) = client.poll_event() else {
        panic!()
    };
    assert!(o.accepted.is_empty());
    assert_eq!(o.rejected[0].result, BindAckResult::PROVIDER_REJECTION);
    assert!(client.context_for(&srvsvc).is_none());
}
