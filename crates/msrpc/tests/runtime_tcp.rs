//! Our client against our server over real TCP on loopback (and ncalrpc over a Unix socket).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Quiet, eventually_async, sample_server as start};
use msrpc::server::Server;
use msrpc::{Binding, BindingOptions, Error, FaultStatus, SyntaxId, Win32Status, mgmt};
use msrpc_sample::{self as sample, ASYNC_RPC};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test]
async fn mgmt_calls_work_end_to_end() {
    let (server, b) = start().await;
    let binding = Binding::from_string(&b).unwrap();
    assert!(mgmt::is_server_listening(&binding).await.unwrap());
    let ids = mgmt::inq_if_ids(&binding).await.unwrap();
    assert!(ids.contains(&ASYNC_RPC), "{ids:?}");
    assert!(ids.contains(&mgmt::MGMT), "{ids:?}");
    let stats = mgmt::inq_stats(&binding).await.unwrap();
    assert_eq!(stats.len(), 4);
    assert!(stats[0] >= 3, "calls in: {stats:?}");
    let err = mgmt::stop_server_listening(&binding).await.unwrap_err();
    assert_eq!(err.status(), Win32Status::ERROR_ACCESS_DENIED);
    assert_eq!(mgmt::inq_princ_name(&binding, 10).await.unwrap(), "");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn sample_calls_and_sync_call_while_async_pending() {
    let (server, b) = start().await;
    let binding = Binding::from_string(&b).unwrap();
    let slow = {
        let binding = binding.clone();
        tokio::spawn(async move { sample::async_func(&binding, 2_000).await })
    };
    eventually_async("AsyncFunc to be running on the server", || {
        server.stats().calls_in_progress == 1
    })
    .await;
    // A synchronous call made from a plain thread while the async call is pending, same binding.
    let b2 = binding.clone();
    let r = tokio::task::spawn_blocking(move || {
        b2.call_blocking(ASYNC_RPC, sample::OP_NON_ASYNC_FUNC, |syntax, rep| {
            let mut e = msrpc_ndr::Encoder::new(syntax, rep);
            e.encode_param(&msrpc_ndr::NdrString::from("hello"))?;
            Ok(e.into_bytes())
        })
    })
    .await
    .unwrap();
    r.unwrap();
    assert!(
        !slow.is_finished(),
        "the sync call waited for the async one"
    );
    slow.await.unwrap().unwrap();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn many_concurrent_calls_share_one_connection() {
    let (server, b) = start().await;
    let binding = Binding::from_string(&b).unwrap();
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let binding = binding.clone();
        tasks.push(tokio::spawn(async move {
            sample::async_func(&binding, 20 + (i % 7) * 10).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(server.stats().connections_accepted, 1);
    assert_eq!(server.stats().calls_received, 200);
    server.shutdown(Duration::from_secs(1)).await;
}

/// A loopback proxy in front of `127.0.0.1:target` that forwards both ways and records the header
/// of every PDU the client sends: (packet type, pfc_flags, frag_length). The task is the caller's
/// to abort.
async fn recording_proxy(
    target: u16,
) -> (
    u16,
    Arc<Mutex<Vec<(u8, u8, u16)>>>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(("127.0.0.1", target)).await.unwrap();
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let log = log.clone();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut sr, &mut cw).await;
            });
            tokio::spawn(async move {
                let mut pdu = vec![0u8; 16];
                while cr.read_exact(&mut pdu[..16]).await.is_ok() {
                    // Our client writes little-endian headers (drep 0x10).
                    let frag_length = u16::from_le_bytes([pdu[8], pdu[9]]);
                    pdu.resize(usize::from(frag_length).max(16), 0);
                    if cr.read_exact(&mut pdu[16..]).await.is_err() {
                        return;
                    }
                    log.lock().unwrap().push((pdu[2], pdu[3], frag_length));
                    if sw.write_all(&pdu).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, seen, task)
}

#[tokio::test]
async fn large_requests_are_fragmented_and_reassembled() {
    const PFC_FIRST_FRAG: u8 = 0x01;
    const PFC_LAST_FRAG: u8 = 0x02;
    const REQUEST: u8 = 0;
    let (server, _) = start().await;
    let (port, seen, proxy) = recording_proxy(common::port_of(&server)).await;
    let mut opts = BindingOptions::default();
    opts.max_fragment = 1432;
    let binding = Binding::with_options(&format!("ncacn_ip_tcp:127.0.0.1[{port}]"), opts).unwrap();
    let msg = "x".repeat(200_000);
    sample::non_async_func(&binding, &msg).await.unwrap();
    assert_eq!(server.stats().calls_received, 1, "one call on the server");
    let requests: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(ptype, ..)| *ptype == REQUEST)
        .copied()
        .collect();
    // 200 000 bytes of stub in fragments of at most 1432 bytes, headers included.
    assert!(
        requests.len() >= 200_000 / 1432,
        "{} fragments",
        requests.len()
    );
    assert!(
        requests.iter().all(|(_, _, len)| *len <= 1432),
        "a fragment over max_fragment: {requests:?}"
    );
    let first = requests.iter().filter(|(_, f, _)| f & PFC_FIRST_FRAG != 0);
    let last = requests.iter().filter(|(_, f, _)| f & PFC_LAST_FRAG != 0);
    assert_eq!(first.count(), 1, "one first fragment");
    assert_eq!(last.count(), 1, "one last fragment");
    assert_ne!(requests[0].1 & PFC_FIRST_FRAG, 0, "the first is first");
    assert_ne!(
        requests[requests.len() - 1].1 & PFC_LAST_FRAG,
        0,
        "the last is last"
    );
    drop(binding);
    proxy.abort();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn unknown_opnum_faults_with_op_rng_error() {
    let (server, b) = start().await;
    let binding = Binding::from_string(&b).unwrap();
    let err = binding
        .call(ASYNC_RPC, 9, |_, _| Ok(Vec::new()))
        .await
        .unwrap_err();
    match err {
        Error::Fault {
            status,
            win32,
            execution,
        } => {
            assert_eq!(status, FaultStatus::NCA_S_OP_RNG_ERROR);
            assert_eq!(win32, Win32Status::RPC_S_PROCNUM_OUT_OF_RANGE);
            assert_eq!(execution, msrpc::Execution::DidNotExecute);
        }
        other => panic!("{other:?}"),
    }
    // The association carries on.
    sample::non_async_func(&binding, "still here")
        .await
        .unwrap();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn unknown_interface_is_rejected_as_unknown_if() {
    let (server, b) = start().await;
    let binding = Binding::from_string(&b).unwrap();
    let other = SyntaxId::new(uuid::uuid!("11111111-2222-3333-4444-555555555555"), 1, 0);
    let err = binding
        .call(other, 0, |_, _| Ok(Vec::new()))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Win32Status::RPC_S_UNKNOWN_IF, "{err}");
    // A higher minor version than the server's is not served either (DCE version rule).
    let newer = SyntaxId::new(ASYNC_RPC.uuid, 1, 1);
    let err = binding
        .call(newer, 0, |_, _| Ok(Vec::new()))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Win32Status::RPC_S_UNKNOWN_IF, "{err}");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn call_timeout_ends_the_call_as_cancelled() {
    let (server, b) = start().await;
    let mut opts = BindingOptions::default();
    opts.call_timeout = Some(Duration::from_millis(100));
    let binding = Binding::with_options(&b, opts).unwrap();
    let err = sample::async_func(&binding, 5_000).await.unwrap_err();
    assert_eq!(err.status(), Win32Status::RPC_S_CALL_CANCELLED);
    // The server saw the cancel and aborted the call; the connection carries on.
    sample::non_async_func(&binding, "after timeout")
        .await
        .unwrap();
    server.shutdown(Duration::from_secs(2)).await;
    assert_eq!(server.stats().calls_in_progress, 0);
}

#[tokio::test]
async fn server_gone_fails_pending_calls_promptly() {
    let (server, b) = start().await;
    let binding = Binding::from_string(&b).unwrap();
    let pending = {
        let binding = binding.clone();
        tokio::spawn(async move { sample::async_func(&binding, 10_000).await })
    };
    eventually_async("the call to be running on the server", || {
        server.stats().calls_in_progress == 1
    })
    .await;
    // Zero grace: the connection is closed under the pending call.
    server.shutdown(Duration::ZERO).await;
    let r = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("hung")
        .unwrap();
    let err = r.unwrap_err();
    assert!(
        matches!(
            err.status(),
            Win32Status::RPC_S_COMM_FAILURE | Win32Status::RPC_S_CALL_CANCELLED
        ),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_server_is_server_unavailable() {
    // Bind a port, then close it so nothing listens there.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let binding = Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{port}]")).unwrap();
    let err = mgmt::is_server_listening(&binding).await.unwrap_err();
    assert_eq!(err.status(), Win32Status::RPC_S_SERVER_UNAVAILABLE);
}

#[tokio::test]
async fn ncalrpc_over_unix_socket() {
    let dir = std::env::temp_dir().join(format!("msrpc-test-{}", std::process::id()));
    let path = dir.join("sample.sock");
    let binding_text = format!("ncalrpc:[{}]", path.display());
    let server = Server::builder()
        .interface(Arc::new(msrpc_sample::service(Quiet)))
        .listen(binding_text.clone())
        .start()
        .await
        .unwrap();
    let binding = Binding::from_string(&binding_text).unwrap();
    assert!(mgmt::is_server_listening(&binding).await.unwrap());
    sample::non_async_func(&binding, "over a unix socket")
        .await
        .unwrap();
    server.shutdown(Duration::from_secs(1)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn graceful_shutdown_lets_running_calls_finish() {
    let (server, b) = start().await;
    let binding = Binding::from_string(&b).unwrap();
    let pending = {
        let binding = binding.clone();
        tokio::spawn(async move { sample::async_func(&binding, 500).await })
    };
    // Shut down only once the call is running on the server, so the grace period is what lets
    // it finish.
    eventually_async("the call to be running on the server", || {
        server.stats().calls_in_progress == 1
    })
    .await;
    server.shutdown(Duration::from_secs(30)).await;
    assert_eq!(server.stats().calls_in_progress, 0);
    assert_eq!(
        server.stats().calls_sent,
        1,
        "the running call was answered"
    );
    pending.await.unwrap().unwrap();
}

#[tokio::test]
async fn several_listeners_ipv4_ipv6_and_unix_socket() {
    let dir = std::env::temp_dir().join(format!("msrpc-multi-{}", std::process::id()));
    let sock = dir.join("multi.sock");
    let server = Server::builder()
        .interface(Arc::new(msrpc_sample::service(Quiet)))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .listen("ncacn_ip_tcp:::1[0]")
        .listen(format!("ncalrpc:[{}]", sock.display()))
        .start()
        .await
        .unwrap();
    let bindings = server.bindings();
    assert_eq!(bindings.len(), 3);
    for b in &bindings {
        let text = b.to_string();
        let binding = Binding::from_string(&text).unwrap();
        assert!(mgmt::is_server_listening(&binding).await.unwrap(), "{text}");
        sample::non_async_func(&binding, &text).await.unwrap();
    }
    server.shutdown(Duration::from_secs(1)).await;
    let _ = std::fs::remove_dir_all(dir);
}
