//! Reliability under hostile clients, over TCP with raw sockets: slow-loris, half-open and idle
//! connections, a flood of binds, and a client that never reads its responses. In each case the
//! offending connection is closed or stalled, and a normal client keeps being served.
//!
//! Every loop is bounded in count and time; every server a test starts is stopped by it.
#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use msrpc::server::{Dispatch, Server, ServerConfig};
use msrpc::{Binding, IncomingCall, Interface, SyntaxId, mgmt};

/// A test interface whose only operation replies with its request stub (so a large request gets a
/// large reply).
struct Echo;

const ECHO: SyntaxId = SyntaxId {
    uuid: uuid::uuid!("6d7a1c53-2f0e-4a8e-9b1c-7e5b3c0f2a11"),
    major: 1,
    minor: 0,
};

impl Interface for Echo {
    fn syntax(&self) -> SyntaxId {
        ECHO
    }
    fn name(&self) -> &str {
        "echo"
    }
    fn operation_count(&self) -> u16 {
        1
    }
    fn dispatch(&self, call: IncomingCall) -> Dispatch {
        let stub = call.stub().to_vec();
        call.answer(stub)
    }
}

async fn server_with(config: ServerConfig) -> (Server, String, u16) {
    let server = Server::builder()
        .config(config)
        .interface(Arc::new(Echo))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let b = server.bindings()[0].to_string();
    let port: u16 = b
        .rsplit('[')
        .next()
        .unwrap()
        .trim_end_matches(']')
        .parse()
        .unwrap();
    (server, b, port)
}

const NDR20: ([u8; 16], u32) = (
    *uuid::uuid!("8a885d04-1ceb-11c9-9fe8-08002b104860").as_bytes(),
    2,
);

fn header(ptype: u8, len: usize, call_id: u32) -> Vec<u8> {
    let mut h = vec![5, 0, ptype, 0x03, 0x10, 0, 0, 0];
    h.extend_from_slice(&u16::try_from(len).unwrap().to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&call_id.to_le_bytes());
    h
}

/// A bind PDU for the echo interface, NDR20, context id 0.
fn bind_pdu() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&5840u16.to_le_bytes());
    body.extend_from_slice(&5840u16.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(&[1, 0, 0, 0]); // one context
    body.extend_from_slice(&0u16.to_le_bytes()); // context id
    body.extend_from_slice(&[1, 0]); // one transfer syntax
    body.extend_from_slice(&ECHO.uuid.to_bytes_le());
    body.extend_from_slice(&ECHO.major.to_le_bytes());
    body.extend_from_slice(&ECHO.minor.to_le_bytes());
    let (ts, v) = NDR20;
    body.extend_from_slice(&uuid::Uuid::from_bytes(ts).to_bytes_le());
    body.extend_from_slice(&v.to_le_bytes());
    let mut p = header(11, 16 + body.len(), 1);
    p.extend_from_slice(&body);
    p
}

/// A single-fragment request for echo opnum 0 with `stub` (must fit in 5840 - 24 bytes).
fn request_pdu(call_id: u32, stub: &[u8]) -> Vec<u8> {
    let mut p = header(0, 24 + stub.len(), call_id);
    p.extend_from_slice(&u32::try_from(stub.len()).unwrap().to_le_bytes());
    p.extend_from_slice(&0u16.to_le_bytes());
    p.extend_from_slice(&0u16.to_le_bytes());
    p.extend_from_slice(stub);
    p
}

/// Reads one PDU (blocking, with the socket's read timeout).
fn read_pdu(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut h = [0u8; 16];
    s.read_exact(&mut h)?;
    let len = usize::from(u16::from_le_bytes([h[8], h[9]]));
    let mut rest = vec![0u8; len.saturating_sub(16)];
    s.read_exact(&mut rest)?;
    let mut p = h.to_vec();
    p.extend_from_slice(&rest);
    Ok(p)
}

/// Connects and binds with a raw socket; panics unless the server answers bind_ack.
fn raw_bound(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&bind_pdu()).unwrap();
    let ack = read_pdu(&mut s).unwrap();
    assert_eq!(ack[2], 12, "expected bind_ack, got ptype {}", ack[2]);
    s
}

/// Waits (bounded) until the peer closes: read returns 0 or a reset. Returns how long it took, or
/// None if the socket was still open after `limit`.
fn wait_closed(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while t0.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(t0.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(t0.elapsed()),
        }
    }
    None
}

async fn echo(b: &Binding, data: &[u8]) -> msrpc::Result<Vec<u8>> {
    let d = data.to_vec();
    Ok(b.call(ECHO, 0, move |_, _| Ok(d)).await?.stub)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_one_byte_per_second_is_closed_and_others_are_served() {
    let mut c = ServerConfig::default();
    c.pdu_timeout = Duration::from_secs(1);
    let (server, text, port) = server_with(c).await;
    let normal = Binding::from_string(&text).unwrap();
    assert_eq!(echo(&normal, b"before").await.unwrap(), b"before");

    let loris = tokio::task::spawn_blocking(move || {
        let mut s = raw_bound(port);
        let req = request_pdu(2, &[7u8; 64]);
        // One byte per second: the server closes after pdu_timeout (1 s); give up after 15 bytes.
        let t0 = Instant::now();
        s.set_read_timeout(Some(Duration::from_millis(1000)))
            .unwrap();
        let mut buf = [0u8; 256];
        for b in req.iter().take(15) {
            if s.write_all(std::slice::from_ref(b)).is_err() {
                return Some(t0.elapsed());
            }
            match s.read(&mut buf) {
                Ok(0) => return Some(t0.elapsed()),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return Some(t0.elapsed()),
            }
        }
        None
    });
    // Served meanwhile.
    for i in 0..5 {
        let m = format!("during {i}");
        assert_eq!(echo(&normal, m.as_bytes()).await.unwrap(), m.as_bytes());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let closed = loris.await.unwrap();
    assert!(
        closed.is_some(),
        "the slow-loris connection was not closed within 15 bytes"
    );
    assert!(server.stats().pdu_timeouts >= 1);
    assert_eq!(echo(&normal, b"after").await.unwrap(), b"after");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_half_open_connections_are_closed() {
    // Never sends anything: closed by the idle timeout (1 s here; pdu_timeout is long).
    let mut c = ServerConfig::default();
    c.idle_timeout = Duration::from_secs(1);
    c.pdu_timeout = Duration::from_secs(120);
    let (server, text, port) = server_with(c).await;
    let closed = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        wait_closed(&mut s, Duration::from_secs(20))
    })
    .await
    .unwrap();
    assert!(closed.is_some(), "silent connection still open after 20 s");
    assert!(server.stats().idle_closed >= 1);
    let b = Binding::from_string(&text).unwrap();
    assert!(mgmt::is_server_listening(&b).await.is_ok() || echo(&b, b"x").await.is_ok());
    drop(b);
    server.shutdown(Duration::from_secs(1)).await;

    // Half a bind and then silence: closed by pdu_timeout (1 s here; idle timeout is long).
    let mut c = ServerConfig::default();
    c.pdu_timeout = Duration::from_secs(1);
    let (server, text, port) = server_with(c).await;
    let closed = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(&bind_pdu()[..20]).unwrap();
        wait_closed(&mut s, Duration::from_secs(20))
    })
    .await
    .unwrap();
    assert!(
        closed.is_some(),
        "half-open connection still open after 20 s"
    );
    // Bound, then half a request and silence: closed too.
    let closed = tokio::task::spawn_blocking(move || {
        let mut s = raw_bound(port);
        s.write_all(&request_pdu(2, &[1u8; 100])[..30]).unwrap();
        wait_closed(&mut s, Duration::from_secs(20))
    })
    .await
    .unwrap();
    assert!(closed.is_some(), "half-sent request still open after 20 s");
    assert!(server.stats().pdu_timeouts >= 2);
    let b = Binding::from_string(&text).unwrap();
    assert_eq!(echo(&b, b"fine").await.unwrap(), b"fine");
    drop(b);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_of_binds_past_max_connections_does_not_stop_a_normal_client() {
    let mut c = ServerConfig::default();
    c.max_connections = 50;
    c.pdu_timeout = Duration::from_secs(5);
    let (server, text, port) = server_with(c).await;
    let normal = Binding::from_string(&text).unwrap();
    assert_eq!(echo(&normal, b"first").await.unwrap(), b"first");

    let flood = tokio::task::spawn_blocking(move || {
        // 500 connections, each sending a bind; kept open until the end. Bounded: 500
        // iterations, each connect/write with a timeout.
        let mut held = Vec::new();
        let mut failed = 0usize;
        let bind = bind_pdu();
        for _ in 0..500 {
            match TcpStream::connect_timeout(
                &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_secs(5),
            ) {
                Ok(mut s) => {
                    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
                    if s.write_all(&bind).is_err() {
                        failed += 1;
                    }
                    held.push(s);
                }
                Err(_) => failed += 1,
            }
        }
        (held, failed)
    });
    // The normal client is served during the flood.
    for i in 0..10 {
        let m = format!("during flood {i}");
        let r = tokio::time::timeout(Duration::from_secs(10), echo(&normal, m.as_bytes()))
            .await
            .expect("normal client hung during the bind flood");
        assert_eq!(r.unwrap(), m.as_bytes());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (held, failed) = flood.await.unwrap();
    // The accept loop may still have connections in its backlog: wait (bounded) for it.
    let t0 = Instant::now();
    while server.stats().connections_refused < 450 && t0.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let st = server.stats();
    eprintln!("flood: {} held, {failed} failed; {st:?}", held.len());
    assert!(
        st.connections_open <= 50,
        "open connections {} past the limit",
        st.connections_open
    );
    assert!(
        st.connections_refused >= 450,
        "refused {}",
        st.connections_refused
    );
    assert_eq!(echo(&normal, b"after").await.unwrap(), b"after");
    drop(held);
    // Once the flood is gone, new clients get in again (bounded wait for the server to see the
    // closes).
    let t0 = Instant::now();
    loop {
        let b = Binding::from_string(&text).unwrap();
        if echo(&b, b"new").await.is_ok() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no new client served after the flood"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(normal);
    server.shutdown(Duration::from_secs(1)).await;
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_never_reads_stalls_only_itself() {
    let mut c = ServerConfig::default();
    c.max_queued_answers = 8;
    let (server, text, port) = server_with(c).await;
    let normal = Binding::from_string(&text).unwrap();
    assert_eq!(echo(&normal, b"first").await.unwrap(), b"first");
    let rss0 = vm_rss_kib();

    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let hog = tokio::task::spawn_blocking(move || {
        let mut s = raw_bound(port);
        s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        let stub = vec![0x5au8; 5000];
        // Requests of 5 KB, each answered with 5 KB, never read. Bounded: 4000 requests
        // (20 MB); the write blocks (timeout) once the server stops reading.
        let mut sent = 0u32;
        let mut stalled = false;
        for i in 0..4000u32 {
            match s.write_all(&request_pdu(i + 2, &stub)) {
                Ok(()) => sent += 1,
                Err(_) => {
                    stalled = true;
                    break;
                }
            }
        }
        // Hold the connection (unread) until the test says so, at most 60 s.
        let _ = stop_rx.recv_timeout(Duration::from_secs(60));
        (sent, stalled)
    });
    // Wait (bounded) for the server to stop taking requests from the hog: calls_received
    // stays the same over a second.
    let t0 = Instant::now();
    let mut last = server.stats().calls_received;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = server.stats().calls_received;
        if now == last {
            break;
        }
        last = now;
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "the server kept reading from a client that never reads"
        );
    }
    // The other client is served while the hog is stalled.
    for i in 0..20 {
        let m = vec![i as u8; 3000];
        let r = tokio::time::timeout(Duration::from_secs(10), echo(&normal, &m))
            .await
            .expect("normal client hung behind the non-reading client");
        assert_eq!(r.unwrap(), m);
    }
    let st = server.stats();
    let rss1 = vm_rss_kib();
    // What is asserted: the server stopped reading from the hog (calls_received is stable),
    // it holds no call in progress for it (every received call was answered into its bounded
    // queue or the socket), and the process grew by less than 64 MiB (the answers queued on the
    // hog's connection are bounded by max_queued_answers plus the kernel's socket buffers).
    assert_eq!(st.calls_in_progress, 0);
    assert!(
        rss1.saturating_sub(rss0) < 64 * 1024,
        "RSS grew from {rss0} KiB to {rss1} KiB"
    );
    stop_tx.send(()).unwrap();
    let (sent, stalled) = hog.await.unwrap();
    assert!(
        stalled,
        "the hog wrote all {sent} requests: the server never stopped reading"
    );
    eprintln!(
        "hog: {sent} requests written before stalling; server received {} calls in all; RSS {rss0} -> {rss1} KiB",
        st.calls_received
    );
    assert_eq!(echo(&normal, b"after").await.unwrap(), b"after");
    drop(normal);
    server.shutdown(Duration::from_secs(1)).await;
}
