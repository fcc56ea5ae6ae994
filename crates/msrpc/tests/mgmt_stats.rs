//! mgmt `inq_stats` counts what MS-RPCE says it counts: calls and PDUs, not socket reads.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use msrpc::server::Server;
use msrpc::{Binding, BindingOptions, Win32Status, mgmt};
use msrpc_sample::{self as sample, ASYNC_RPC, AsyncRpcHandler};

struct Quiet;

impl AsyncRpcHandler for Quiet {
    fn non_async_func(&self, _message: &[u8]) {}
    fn shutdown(&self) -> Result<(), Win32Status> {
        Err(Win32Status::ERROR_ACCESS_DENIED)
    }
}

/// `rpc_c_stats_pkts_in` (index 2) grows by one per request fragment: a request the client sends
/// in N fragments, which arrive in fewer socket reads than N, counts N.
#[tokio::test]
async fn pkts_in_counts_request_fragments() {
    let server = Server::builder()
        .interface(Arc::new(msrpc_sample::service(Quiet)))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let b = server.bindings()[0].to_string();
    let mut opts = BindingOptions::default();
    opts.max_fragment = 1024;
    let binding = Binding::with_options(&b, opts).unwrap();
    // Both interfaces bound first (the second by alter_context), so only calls follow.
    sample::non_async_func(&binding, "warm").await.unwrap();
    let before = mgmt::inq_stats(&binding).await.unwrap();

    let stub_len = Arc::new(AtomicUsize::new(0));
    let len = stub_len.clone();
    binding
        .call(ASYNC_RPC, sample::OP_NON_ASYNC_FUNC, move |syntax, rep| {
            let mut e = msrpc_ndr::Encoder::new(syntax, rep);
            e.encode_param(&msrpc_ndr::NdrString::from("x".repeat(20_000).as_str()))?;
            let stub = e.into_bytes();
            len.store(stub.len(), Ordering::SeqCst);
            Ok(stub)
        })
        .await
        .unwrap();
    let after = mgmt::inq_stats(&binding).await.unwrap();

    // Each request fragment carries up to 1024 - 24 (the request header) stub bytes.
    let fragments = stub_len.load(Ordering::SeqCst).div_ceil(1024 - 24);
    assert!(fragments >= 20, "the request was fragmented: {fragments}");
    // The big call's fragments, and the second inq_stats request itself.
    assert_eq!(
        after[2] - before[2],
        fragments as u32 + 1,
        "{before:?} -> {after:?}"
    );
    // calls in (index 0): the big call and the second inq_stats.
    assert_eq!(after[0] - before[0], 2, "{before:?} -> {after:?}");
    server.shutdown(Duration::from_secs(1)).await;
}

/// The counters of a connection that has closed stay in the server's totals: each connection
/// counts its own, and they are folded into the closed connections' sum when it ends.
#[tokio::test]
async fn closed_connections_stay_counted() {
    let server = Server::builder()
        .interface(Arc::new(msrpc_sample::service(Quiet)))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let b = server.bindings()[0].to_string();
    let first = Binding::from_string(&b).unwrap();
    sample::non_async_func(&first, "one").await.unwrap();
    sample::non_async_func(&first, "two").await.unwrap();
    drop(first);
    // Bounded wait for the server to see the connection end.
    let mut open = u64::MAX;
    for _ in 0..200 {
        open = server.stats().connections_open;
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(open, 0, "the first connection closed");
    let s = server.stats();
    assert_eq!((s.calls_received, s.calls_sent), (2, 2), "{s:?}");

    let second = Binding::from_string(&b).unwrap();
    sample::non_async_func(&second, "three").await.unwrap();
    let s = server.stats();
    assert_eq!((s.calls_received, s.calls_sent), (3, 3), "{s:?}");
    // inq_stats is a call of its own on the open connection, counted in before it is answered.
    let v = mgmt::inq_stats(&second).await.unwrap();
    assert_eq!((v[0], v[1]), (4, 3), "{v:?}");
    server.shutdown(Duration::from_secs(1)).await;
}
