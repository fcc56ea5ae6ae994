//! Server limits end to end over TCP: each gets a clear fault, reject or close, and the server carries
//! on serving others.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Quiet, eventually_async, port_of};
use msrpc::server::{AsyncCall, Server, ServerConfig};
use msrpc::{Binding, Error, FaultStatus, Win32Status, mgmt};
use msrpc_sample::{self as sample, AsyncRpcHandler};

async fn server_with(config: ServerConfig) -> (Server, String) {
    common::sample_server_with(Quiet, config).await
}

#[tokio::test]
async fn calls_past_max_calls_get_server_too_busy() {
    let mut c = ServerConfig::default();
    c.max_calls = 2;
    let (server, text) = server_with(c).await;
    let b = Binding::from_string(&text).unwrap();
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let b = b.clone();
            tokio::spawn(async move { sample::async_func(&b, 2_000).await })
        })
        .collect();
    eventually_async("both slow calls to be running on the server", || {
        server.stats().calls_in_progress == 2
    })
    .await;
    match sample::non_async_func(&b, "one too many").await {
        Err(Error::Fault {
            status, execution, ..
        }) => {
            assert_eq!(status, FaultStatus::NCA_S_SERVER_TOO_BUSY);
            assert_eq!(execution, msrpc::Execution::DidNotExecute);
        }
        other => panic!("expected server_too_busy, got {other:?}"),
    }
    for t in slow {
        t.await.unwrap().unwrap();
    }
    // Below the limit again: served.
    sample::non_async_func(&b, "served again").await.unwrap();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn connections_past_max_connections_are_closed_and_others_go_on() {
    let mut c = ServerConfig::default();
    c.max_connections = 1;
    let (server, text) = server_with(c).await;
    let first = Binding::from_string(&text).unwrap();
    assert!(mgmt::is_server_listening(&first).await.unwrap());
    let second = Binding::from_string(&text).unwrap();
    let err = mgmt::is_server_listening(&second).await.unwrap_err();
    assert_eq!(err.status(), Win32Status::RPC_S_COMM_FAILURE, "{err}");
    assert!(mgmt::is_server_listening(&first).await.unwrap());
    assert_eq!(server.stats().connections_refused, 1);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn oversized_request_is_refused_and_the_server_carries_on() {
    let mut c = ServerConfig::default();
    c.max_request_size = 64 * 1024;
    let (server, text) = server_with(c).await;
    let b = Binding::from_string(&text).unwrap();
    let err = sample::non_async_func(&b, &"y".repeat(100_000))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Fault { .. } | Error::Connection { .. }),
        "{err}"
    );
    let b2 = Binding::from_string(&text).unwrap();
    sample::non_async_func(&b2, "small").await.unwrap();
    server.shutdown(Duration::from_secs(1)).await;
}

// Multi-threaded: the test reads with a blocking socket while the server runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bytes_close_the_connection_and_the_server_carries_on() {
    let (server, text) = server_with(ServerConfig::default()).await;
    let port = port_of(&server);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Not DCE/RPC at all: version 9, absurd frag_length.
    s.write_all(b"\x09\x00\x0b\x03\x10\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00garbage")
        .unwrap();
    let mut buf = [0u8; 256];
    // The server answers with bind_nak (reason 4, protocol version not supported) and closes.
    let t0 = std::time::Instant::now();
    let n = s
        .read(&mut buf)
        .expect("the server neither answered nor closed the connection");
    assert!(
        n >= 17 && buf[2] == 13,
        "expected a bind_nak, got {:02x?}",
        &buf[..n]
    );
    assert_eq!(buf[16], 4, "reject reason: protocol version not supported");
    assert_eq!(
        s.read(&mut buf).unwrap(),
        0,
        "the server closes after the bind_nak"
    );
    assert!(t0.elapsed() < Duration::from_secs(4));
    let b = Binding::from_string(&text).unwrap();
    assert!(mgmt::is_server_listening(&b).await.unwrap());
    server.shutdown(Duration::from_secs(1)).await;
}

/// `AsyncFunc` managers that count how many of them run at once, at most.
#[derive(Clone, Default)]
struct Overlap {
    running: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl AsyncRpcHandler for Overlap {
    fn non_async_func(&self, _: &[u8]) {}
    fn shutdown(&self) -> Result<(), Win32Status> {
        Err(Win32Status::ERROR_ACCESS_DENIED)
    }
    fn async_func(&self, call: AsyncCall<()>, delay_ms: u32) {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let running = self.running.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(u64::from(delay_ms))).await;
            // Leaves the count before answering, so the next call cannot overtake it.
            running.fetch_sub(1, Ordering::SeqCst);
            call.complete(());
        });
    }
}

#[tokio::test]
async fn calls_past_max_calls_per_connection_wait_instead_of_failing() {
    let mut c = ServerConfig::default();
    c.max_calls_per_connection = 2;
    let overlap = Overlap::default();
    let (server, text) = common::sample_server_with(overlap.clone(), c).await;
    let b = Binding::from_string(&text).unwrap();
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let b = b.clone();
            tokio::spawn(async move { sample::async_func(&b, 200).await })
        })
        .collect();
    for t in calls {
        t.await.unwrap().unwrap();
    }
    // Two at a time on the one connection: never more, and the two did overlap.
    assert_eq!(
        overlap.most.load(Ordering::SeqCst),
        2,
        "calls running at once"
    );
    assert_eq!(server.stats().connections_accepted, 1);
    assert_eq!(server.stats().calls_received, 6);
    assert_eq!(server.stats().faults_sent, 0);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn an_absurd_conformance_count_is_bad_stub_data_not_an_allocation() {
    let (server, text) = server_with(ServerConfig::default()).await;
    let b = Binding::from_string(&text).unwrap();
    // NonAsyncFunc's [string] argument claiming 4 G characters, with 8 bytes behind it.
    let err = b
        .call(
            msrpc_sample::ASYNC_RPC,
            msrpc_sample::OP_NON_ASYNC_FUNC,
            |_, _| {
                let mut stub = Vec::new();
                stub.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes()); // max_count
                stub.extend_from_slice(&0u32.to_le_bytes()); // offset
                stub.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes()); // actual_count
                stub.extend_from_slice(b"12345678");
                Ok(stub)
            },
        )
        .await
        .unwrap_err();
    match err {
        Error::Fault { status, .. } => assert_eq!(status, FaultStatus::NCA_S_FAULT_NDR),
        other => panic!("{other:?}"),
    }
    sample::non_async_func(&b, "the connection carries on")
        .await
        .unwrap();
    server.shutdown(Duration::from_secs(1)).await;
}

// Multi-threaded: the test writes with a blocking socket while the server runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_larger_than_max_recv_frag_closes_only_that_connection() {
    let (server, text) = server_with(ServerConfig::default()).await;
    let port = port_of(&server);
    // A real bind, made by the protocol core's client.
    let mut client = msrpc_proto::ClientConnection::new(msrpc_proto::ClientConfig::default());
    client.bind(&[msrpc_sample::ASYNC_RPC]).unwrap();
    let bind = client.poll_transmit().unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&bind).unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    assert!(
        n >= 16 && buf[2] == 12,
        "expected a bind_ack, got {:02x?}",
        &buf[..n]
    );
    // A request fragment of 6000 bytes, past the 5840 negotiated.
    let len: u16 = 6000;
    let mut req = vec![5, 0, 0, 0x03, 0x10, 0, 0, 0];
    req.extend_from_slice(&len.to_le_bytes());
    req.extend_from_slice(&0u16.to_le_bytes());
    req.extend_from_slice(&2u32.to_le_bytes());
    req.extend_from_slice(&(u32::from(len) - 24).to_le_bytes()); // alloc_hint
    req.extend_from_slice(&0u16.to_le_bytes()); // context id
    req.extend_from_slice(&0u16.to_le_bytes()); // opnum
    req.resize(usize::from(len), 0);
    let _ = s.write_all(&req);
    // The server closes the connection (it may first send a fault or nothing at all).
    let t0 = std::time::Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => assert!(
                t0.elapsed() < Duration::from_secs(5),
                "the connection stayed open"
            ),
        }
    }
    let b = Binding::from_string(&text).unwrap();
    assert!(mgmt::is_server_listening(&b).await.unwrap());
    server.shutdown(Duration::from_secs(1)).await;
}
