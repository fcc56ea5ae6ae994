//! Faults: the server killed mid-call, the server restarted on the same port, and a proxy that
//! delays, drops and cuts connections. No call hangs, no call gets a wrong answer.
//!
//! Every loop is bounded in count and time; every server and proxy a test starts is stopped by it.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Quiet, eventually_async, port_of};
use msrpc::server::{Dispatch, Server, ServerConfig};
use msrpc::{Binding, BindingOptions, IncomingCall, Interface, SyntaxId, Win32Status};
use msrpc_sample as sample;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Replies with its request stub, so a wrong answer is visible.
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

async fn start_on(port: u16) -> Server {
    Server::builder()
        .config(ServerConfig::default())
        .interface(Arc::new(msrpc_sample::service(Quiet)))
        .interface(Arc::new(Echo))
        .listen(format!("ncacn_ip_tcp:127.0.0.1[{port}]"))
        .start()
        .await
        .unwrap()
}

/// A server on its own runtime, which the test can kill by shutting the runtime down: every task
/// and socket of the server goes at once, as if the process died.
fn server_on_own_runtime(port: u16) -> (tokio::runtime::Runtime, Server, u16) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(start_on(port));
    let port = port_of(&server);
    (rt, server, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_mid_call_then_restarted_on_the_same_port() {
    let (rt, server, port) = tokio::task::spawn_blocking(|| server_on_own_runtime(0))
        .await
        .unwrap();
    let text = format!("ncacn_ip_tcp:127.0.0.1[{port}]");
    let mut opts = BindingOptions::default();
    opts.call_timeout = Some(Duration::from_secs(30));
    let b = Binding::with_options(&text, opts).unwrap();
    sample::non_async_func(&b, "before").await.unwrap();
    let pending: Vec<_> = (0..10)
        .map(|_| {
            let b = b.clone();
            tokio::spawn(async move { sample::async_func(&b, 20_000).await })
        })
        .collect();
    eventually_async("the ten calls to be running on the server", || {
        server.stats().calls_in_progress == 10
    })
    .await;
    // Kill: the server's runtime goes away with every task and socket.
    let t0 = Instant::now();
    tokio::task::spawn_blocking(move || {
        rt.shutdown_background();
        drop(server);
    })
    .await
    .unwrap();
    for p in pending {
        let r = tokio::time::timeout(Duration::from_secs(20), p)
            .await
            .expect("a pending call hung after the server was killed")
            .unwrap();
        let err = r.unwrap_err();
        assert_eq!(err.status(), Win32Status::RPC_S_COMM_FAILURE, "{err}");
    }
    let failed_after = t0.elapsed();
    assert!(
        failed_after < Duration::from_secs(20),
        "pending calls took {failed_after:?} to fail"
    );
    // While the server is down, a call fails (server unavailable), it does not hang.
    let down = tokio::time::timeout(Duration::from_secs(30), sample::non_async_func(&b, "down"))
        .await
        .expect("a call to a dead server hung");
    assert!(down.is_err());

    // Restart on the same port (tokio's listener sets SO_REUSEADDR on Unix, so TIME_WAIT
    // connections from the killed server do not block the bind).
    let server2 = start_on(port).await;
    assert_eq!(port_of(&server2), port);
    // The same binding reconnects on its next call.
    sample::non_async_func(&b, "after restart").await.unwrap();
    sample::async_func(&b, 10).await.unwrap();
    drop(b);
    server2.shutdown(Duration::from_secs(1)).await;
}

/// xorshift64*, seeded: the proxy's choices are reproducible.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

#[derive(Default)]
struct ProxyStats {
    passed: AtomicU64,
    dropped: AtomicU64,
    cut: AtomicU64,
}

/// A TCP proxy to `target`: per connection, pass through with small delays per chunk (60%),
/// close at once (15%), or cut both sides after a random number of bytes, mostly mid-PDU (25%).
async fn proxy(listener: TcpListener, target: u16, seed: u64, stats: Arc<ProxyStats>) {
    let mut rng = Rng(seed | 1);
    loop {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        let mode = rng.below(100);
        let cut_at = 1 + rng.below(12_000) as usize;
        let delay_ms = rng.below(15);
        let stats = stats.clone();
        tokio::spawn(async move {
            if (60..75).contains(&mode) {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
                drop(client);
                return;
            }
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                return;
            };
            let limit = if mode >= 75 {
                stats.cut.fetch_add(1, Ordering::Relaxed);
                Some(cut_at)
            } else {
                stats.passed.fetch_add(1, Ordering::Relaxed);
                None
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            // Bytes moved in both directions share one budget: the cut falls anywhere.
            let moved = Arc::new(AtomicU64::new(0));
            // Either direction ending (or the cut) closes both sides.
            tokio::select! {
                _ = pump(cr, sw, moved.clone(), limit, delay_ms) => {}
                _ = pump(sr, cw, moved, limit, delay_ms) => {}
            }
        });
    }
}

async fn pump(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    moved: Arc<AtomicU64>,
    limit: Option<usize>,
    delay_ms: u64,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        }
        let before = moved.fetch_add(n as u64, Ordering::Relaxed) as usize;
        if let Some(l) = limit
            && before + n >= l
        {
            let part = l.saturating_sub(before);
            let _ = w.write_all(&buf[..part]).await;
            return;
        }
        if w.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_that_delays_drops_and_cuts_gives_no_hang_and_no_wrong_answer() {
    let server = start_on(0).await;
    let target = port_of(&server);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pport = listener.local_addr().unwrap().port();
    let stats = Arc::new(ProxyStats::default());
    let proxy_task = tokio::spawn(proxy(listener, target, 0x00c0_ffee, stats.clone()));
    let text = format!("ncacn_ip_tcp:127.0.0.1[{pport}]");

    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let statuses = Arc::new(std::sync::Mutex::new(
        std::collections::BTreeMap::<u32, u64>::new(),
    ));
    let mut clients = Vec::new();
    for c in 0..4u64 {
        let (text, ok, failed, statuses) =
            (text.clone(), ok.clone(), failed.clone(), statuses.clone());
        clients.push(tokio::spawn(async move {
            let mut b = Binding::from_string(&text).unwrap();
            let mut rng = Rng((c + 7).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            // Bounded: 40 calls per client, each bounded by 30 s.
            for i in 0..40u64 {
                if i % 4 == 0 {
                    // A fresh binding (connection) every 4 calls, so the proxy's choices apply
                    // often.
                    b = Binding::from_string(&text).unwrap();
                }
                let len = rng.below(20_000) as usize;
                let data: Vec<u8> = (0..len).map(|k| (k as u64 ^ i ^ c) as u8).collect();
                let d = data.clone();
                let r = tokio::time::timeout(
                    Duration::from_secs(30),
                    b.call(ECHO, 0, move |_, _| Ok(d)),
                )
                .await
                .expect("a call through the proxy hung");
                match r {
                    Ok(reply) => {
                        assert_eq!(reply.stub, data, "wrong answer through the proxy");
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        *statuses.lock().unwrap().entry(e.status().0).or_default() += 1;
                    }
                }
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let (p, d, cut) = (
        stats.passed.load(Ordering::Relaxed),
        stats.dropped.load(Ordering::Relaxed),
        stats.cut.load(Ordering::Relaxed),
    );
    eprintln!(
        "proxy: {ok} answered correctly, {failed} failed {:?}; connections passed {p}, dropped {d}, cut {cut}",
        statuses.lock().unwrap()
    );
    assert_eq!(ok + failed, 160);
    assert!(ok > 0, "nothing got through the proxy");
    assert!(d + cut > 0, "the proxy injected no fault");
    proxy_task.abort();
    // The server carries on: all calls in progress end, and a direct client is served.
    let direct = Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{target}]")).unwrap();
    sample::non_async_func(&direct, "direct").await.unwrap();
    drop(direct);
    server.shutdown(Duration::from_secs(1)).await;
    assert_eq!(server.stats().calls_in_progress, 0);
}

/// Regression for a client bug the soak found: a call whose future is dropped while its binding is
/// opening a connection (after the TCP connect, before the connection joins the binding's pool) left
/// that connection open for good, because the connection task held its own command sender and never
/// saw that every handle was gone. Handles now own the sender; the task ends with the last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_call_while_connecting_leaves_no_connection() {
    let server = start_on(0).await;
    let text = server.bindings()[0].to_string();
    let mut rng = Rng(12345);
    // Bounded: 200 bindings, each call dropped after 0..3 ms.
    for _ in 0..200 {
        let b = Binding::from_string(&text).unwrap();
        let wait = Duration::from_micros(rng.below(3000));
        let _ = tokio::time::timeout(wait, sample::async_func(&b, 50)).await;
        drop(b);
    }
    eventually_async(
        "every connection to close after every binding was dropped",
        || server.stats().connections_open == 0,
    )
    .await;
    server.shutdown(Duration::from_secs(1)).await;
}
