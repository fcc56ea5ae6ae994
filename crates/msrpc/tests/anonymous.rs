//! Anonymous logons (MS-NLMP 3.2.5.1.2: an NTLM AUTHENTICATE with no user and empty responses),
//! plain NTLM over TCP, against the server's policy (docs/auth.md "Anonymous logons"): the
//! endpoint mapper and mgmt serve them, an interface registered by a user refuses them with access
//! denied unless it opts in, `ServerBuilder::refuse_anonymous` refuses them everywhere, and managers
//! and the security callback see the anonymous identity. msrpc's client never logs on anonymously,
//! so the client side here is raw PDUs.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use msrpc::server::{Dispatch, IncomingCall, Interface, InterfaceSecurity, Server};
use msrpc::{SyntaxId, UserStore};
use msrpc_proto::wire::{
    AuthLevel, AuthType, AuthVerifier, Bind, ContextElement, PacketType, Pdu, PduBody, PfcFlags,
    Request,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CLOSED: SyntaxId = SyntaxId::new(uuid::uuid!("5a1e0c7d-2b3a-4c5d-8e9f-a0b1c2d3e4f5"), 1, 0);
const OPEN: SyntaxId = SyntaxId::new(uuid::uuid!("5a1e0c7d-2b3a-4c5d-8e9f-a0b1c2d3e4f6"), 1, 0);
const MGMT: SyntaxId = msrpc::mgmt::MGMT;
const EPM: SyntaxId = msrpc::epm::EPM;

/// Opnum 0 answers the caller as "DOMAIN\user anonymous=BOOL" (or "none"); counts its calls.
struct Who {
    syntax: SyntaxId,
    ran: Arc<AtomicUsize>,
}

impl Interface for Who {
    fn syntax(&self) -> SyntaxId {
        self.syntax
    }
    fn name(&self) -> &str {
        "who"
    }
    fn operation_count(&self) -> u16 {
        1
    }
    fn dispatch(&self, call: IncomingCall) -> Dispatch {
        self.ran.fetch_add(1, Ordering::SeqCst);
        let out = match call.client() {
            Some(c) => format!("{c} anonymous={}", c.is_anonymous()),
            None => "none".into(),
        };
        call.answer(out.into_bytes())
    }
}

struct Fixture {
    server: Server,
    port: u16,
    epm_port: u16,
    ran: Arc<AtomicUsize>,
    /// What the security callback of OPEN saw: (user, anonymous).
    seen: Arc<Mutex<Vec<(String, bool)>>>,
}

async fn start(refuse_anonymous: bool) -> Fixture {
    let mut users = UserStore::new();
    users.insert("alice", "Al1ce-pw");
    let ran = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut builder = Server::builder()
        .interface(Arc::new(Who {
            syntax: CLOSED,
            ran: ran.clone(),
        }))
        .interface(Arc::new(Who {
            syntax: OPEN,
            ran: ran.clone(),
        }))
        .authentication(Arc::new(users))
        .interface_security(
            OPEN,
            InterfaceSecurity::default()
                .allow_anonymous()
                .with_callback(move |check| {
                    if let Some(c) = check.client {
                        log.lock().unwrap().push((c.to_string(), c.is_anonymous()));
                    }
                    true
                }),
        )
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .endpoint_mapper("ncacn_ip_tcp:127.0.0.1[0]");
    if refuse_anonymous {
        builder = builder.refuse_anonymous();
    }
    let server = builder.start().await.unwrap();
    let ports: Vec<u16> = server
        .bindings()
        .iter()
        .map(|b| {
            let t = b.to_string();
            let at = t.rfind('[').unwrap();
            t[at + 1..t.len() - 1].parse().unwrap()
        })
        .collect();
    assert_eq!(ports.len(), 2, "{:?}", server.bindings());
    Fixture {
        server,
        port: ports[0],
        epm_port: ports[1],
        ran,
        seen,
    }
}

/// An NTLM NEGOTIATE message (MS-NLMP 2.2.1.1): unicode, request target, NTLM, always sign,
/// extended session security, 128-bit, key exchange, 56-bit; no domain or workstation.
fn negotiate() -> Vec<u8> {
    let mut m = b"NTLMSSP\0\x01\0\0\0".to_vec();
    m.extend_from_slice(&0xe008_8205u32.to_le_bytes());
    m.resize(40, 0);
    m
}

/// An anonymous AUTHENTICATE message (MS-NLMP 3.2.5.1.2): every field empty.
fn anonymous_authenticate() -> Vec<u8> {
    let mut m = b"NTLMSSP\0\x03\0\0\0".to_vec();
    m.resize(64, 0);
    m[60..64].copy_from_slice(&0xe008_8a05u32.to_le_bytes());
    m
}

fn verifier(level: AuthLevel, token: Vec<u8>) -> AuthVerifier {
    AuthVerifier::new(AuthType::NTLM, level, 1, Bytes::from(token))
}

async fn send(s: &mut TcpStream, pdu: &Pdu) {
    s.write_all(&pdu.emit().unwrap()).await.unwrap();
}

/// The next PDU, raw, or `None` when the server closed the connection.
async fn recv(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut head)).await;
    read.expect("an answer within 10 s").ok()?;
    let len = usize::from(u16::from_le_bytes([head[8], head[9]]));
    let mut pdu = head.to_vec();
    pdu.resize(len.max(16), 0);
    s.read_exact(&mut pdu[16..]).await.ok()?;
    Some(pdu)
}

/// Connects to `port`, binds `iface` and logs on anonymously at `level` (bind, bind_ack, auth3).
async fn anonymous_logon(port: u16, iface: SyntaxId, level: AuthLevel) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut bind = Pdu::new(
        1,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Bind(Bind {
            max_xmit_frag: 5840,
            max_recv_frag: 5840,
            assoc_group: 0,
            contexts: vec![ContextElement {
                context_id: 0,
                abstract_syntax: iface,
                transfer_syntaxes: vec![SyntaxId::NDR20],
            }],
        }),
    );
    bind.auth = Some(verifier(level, negotiate()));
    send(&mut s, &bind).await;
    let ack = recv(&mut s).await.unwrap();
    assert_eq!(ack[2], PacketType::BIND_ACK.0, "{ack:02x?}");
    let parsed = Pdu::parse(&ack).unwrap();
    let challenge = parsed.auth.unwrap();
    assert_eq!(&challenge.value[..12], b"NTLMSSP\0\x02\0\0\0");
    let mut auth3 = Pdu::new(1, PfcFlags::FIRST_AND_LAST, PduBody::Auth3 { pad: [0; 4] });
    auth3.auth = Some(verifier(level, anonymous_authenticate()));
    send(&mut s, &auth3).await;
    s
}

/// Calls `opnum` with `stub` (no trailer: the connect level) and returns (ptype, stub or status).
async fn call(s: &mut TcpStream, call_id: u32, opnum: u16, stub: &[u8]) -> (PacketType, Vec<u8>) {
    let req = Pdu::new(
        call_id,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Request(Request {
            alloc_hint: stub.len() as u32,
            context_id: 0,
            opnum,
            object: None,
            stub: Bytes::from(stub.to_vec()),
        }),
    );
    send(s, &req).await;
    let pdu = recv(s).await.expect("an answer");
    match Pdu::parse(&pdu).unwrap().body {
        PduBody::Response(r) => (PacketType::RESPONSE, r.stub.to_vec()),
        PduBody::Fault(f) => (PacketType::FAULT, f.status.0.to_le_bytes().to_vec()),
        other => panic!("unexpected {other:?}"),
    }
}

fn fault(status: u32) -> (PacketType, Vec<u8>) {
    (PacketType::FAULT, status.to_le_bytes().to_vec())
}

/// mgmt `inq_if_ids` (opnum 0, no in-parameters) answered with a vector and status 0.
fn if_ids_ok(answer: &(PacketType, Vec<u8>)) {
    assert_eq!(answer.0, PacketType::RESPONSE, "{answer:?}");
    assert_eq!(&answer.1[answer.1.len() - 4..], &[0, 0, 0, 0], "{answer:?}");
}

/// epm `ept_lookup` (opnum 2) of everything: inquiry type 0, no object or interface, version
/// option 1, a null handle, at most 4 entries.
fn ept_lookup_all() -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&0u32.to_le_bytes()); // inquiry_type
    m.extend_from_slice(&0u32.to_le_bytes()); // object (null)
    m.extend_from_slice(&0u32.to_le_bytes()); // interface id (null)
    m.extend_from_slice(&1u32.to_le_bytes()); // vers_option
    m.extend_from_slice(&[0u8; 20]); // entry_handle
    m.extend_from_slice(&4u32.to_le_bytes()); // max_ents
    m
}

const ACCESS_DENIED: u32 = 5;

#[tokio::test]
async fn anonymous_logons_reach_epm_mgmt_and_opted_in_interfaces_only() {
    let f = start(false).await;
    // An interface registered by a user refuses them by default, before its manager runs.
    let mut s = anonymous_logon(f.port, CLOSED, AuthLevel::CONNECT).await;
    assert_eq!(call(&mut s, 2, 0, &[]).await, fault(ACCESS_DENIED));
    assert_eq!(f.ran.load(Ordering::SeqCst), 0);
    // One that opts in sees the anonymous identity, in its callback and in its manager.
    let mut s = anonymous_logon(f.port, OPEN, AuthLevel::CONNECT).await;
    let (ptype, stub) = call(&mut s, 2, 0, &[]).await;
    assert_eq!(ptype, PacketType::RESPONSE);
    assert_eq!(
        String::from_utf8(stub).unwrap(),
        "NT AUTHORITY\\ANONYMOUS LOGON anonymous=true"
    );
    assert_eq!(
        f.seen.lock().unwrap().as_slice(),
        &[("NT AUTHORITY\\ANONYMOUS LOGON".to_string(), true)]
    );
    assert_eq!(f.ran.load(Ordering::SeqCst), 1);
    // mgmt and the endpoint mapper serve them, as Windows' do.
    let mut s = anonymous_logon(f.port, MGMT, AuthLevel::CONNECT).await;
    if_ids_ok(&call(&mut s, 2, 0, &[]).await);
    let mut s = anonymous_logon(f.epm_port, EPM, AuthLevel::CONNECT).await;
    let (ptype, _) = call(&mut s, 2, 2, &ept_lookup_all()).await;
    assert_eq!(ptype, PacketType::RESPONSE);
    // Nothing can be signed with an anonymous context: a request at integrity that names it
    // fails its check, and nothing runs.
    let mut s = anonymous_logon(f.port, OPEN, AuthLevel::PKT_INTEGRITY).await;
    let mut req = Pdu::new(
        2,
        PfcFlags::FIRST_AND_LAST,
        PduBody::Request(Request {
            alloc_hint: 0,
            context_id: 0,
            opnum: 0,
            object: None,
            stub: Bytes::new(),
        }),
    );
    req.auth = Some(verifier(AuthLevel::PKT_INTEGRITY, vec![1; 16]));
    send(&mut s, &req).await;
    let pdu = recv(&mut s).await.unwrap();
    assert_eq!(pdu[2], PacketType::FAULT.0, "{pdu:02x?}");
    assert_eq!(f.ran.load(Ordering::SeqCst), 1);
    // A request without a trailer on that connection is an unauthenticated call (no identity),
    // which this interface's level (none) lets through.
    let mut s = anonymous_logon(f.port, OPEN, AuthLevel::PKT_INTEGRITY).await;
    let (ptype, stub) = call(&mut s, 2, 0, &[]).await;
    assert_eq!(
        (ptype, stub.as_slice()),
        (PacketType::RESPONSE, &b"none"[..])
    );
    f.server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn refuse_anonymous_refuses_them_everywhere_but_not_unauthenticated_calls() {
    let f = start(true).await;
    for (port, iface, opnum, stub) in [
        (f.port, OPEN, 0, Vec::new()),
        (f.port, MGMT, 0, Vec::new()),
        (f.epm_port, EPM, 2, ept_lookup_all()),
    ] {
        let mut s = anonymous_logon(port, iface, AuthLevel::CONNECT).await;
        assert_eq!(
            call(&mut s, 2, opnum, &stub).await,
            fault(ACCESS_DENIED),
            "{iface:?}"
        );
    }
    assert_eq!(f.ran.load(Ordering::SeqCst), 0);
    assert!(f.seen.lock().unwrap().is_empty(), "the callback never ran");
    // A call with no security context at all is not an anonymous logon: the interfaces' levels
    // (none here) decide it.
    let b = msrpc::Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{}]", f.port)).unwrap();
    let r = b.call(OPEN, 0, |_, _| Ok(Vec::new())).await.unwrap();
    assert_eq!(r.stub, b"none");
    f.server.shutdown(Duration::from_secs(1)).await;
}
