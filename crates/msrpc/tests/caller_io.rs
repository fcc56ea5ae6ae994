//! A blocking call's I/O on the calling thread (`BindingOptions::blocking_io_on_caller`): the
//! same answers as through the connection's task; a command that comes while such a call is in
//! flight (here an async call on the same connection) takes the call back to the task without
//! losing it; the call timeout orphans the call from the calling thread; and a connection the
//! server closed while the task was parked is replaced, not used.
//!
//! Every wait is bounded; every server a test starts is stopped by it.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use msrpc::server::{Dispatch, Server, ServerConfig};
use msrpc::{Binding, BindingOptions, Error, IncomingCall, Interface, SyntaxId};

const IFACE: SyntaxId = SyntaxId {
    uuid: uuid::uuid!("3b6d8f10-52a4-4c7e-9e21-7fa0c4d5b812"),
    major: 1,
    minor: 0,
};

/// Opnum 0 is held until the test answers it; opnum 1 echoes at once.
struct Held(Mutex<Vec<IncomingCall>>);

impl Interface for Held {
    fn syntax(&self) -> SyntaxId {
        IFACE
    }
    fn name(&self) -> &str {
        "held"
    }
    fn operation_count(&self) -> u16 {
        2
    }
    fn dispatch(&self, mut call: IncomingCall) -> Dispatch {
        if call.info().opnum == 1 {
            let stub = call.stub().to_vec();
            return call.answer(stub);
        }
        call.detach_stub();
        self.0.lock().unwrap().push(call);
        Dispatch::Deferred
    }
}

impl Held {
    fn held(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Answers the held calls with their own request stubs.
    fn answer_all(&self) {
        for c in self.0.lock().unwrap().drain(..) {
            let stub = c.stub().to_vec();
            c.reply(stub);
        }
    }
}

async fn server(config: ServerConfig) -> (Server, Arc<Held>, String) {
    let held = Arc::new(Held(Mutex::new(Vec::new())));
    let server = Server::builder()
        .config(config)
        .interface(held.clone())
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let text = server.bindings()[0].to_string();
    (server, held, text)
}

fn echo_blocking(b: &Binding, i: u32) -> msrpc::Result<Vec<u8>> {
    let sent = i.to_le_bytes().to_vec();
    b.call_blocking(IFACE, 1, move |_, _| Ok(sent))
        .map(|r| r.stub)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_calls_get_the_same_answers_either_way() {
    let (server, _held, text) = server(ServerConfig::default()).await;
    for on in [true, false] {
        let o = BindingOptions::default().with_blocking_io_on_caller(on);
        let b = Binding::with_options(&text, o).unwrap();
        let r = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            for i in 0..200u32 {
                got.push(echo_blocking(&b, i));
            }
            // Past the largest request the calling thread writes itself: the task's way.
            let big = vec![0x5a; 64 * 1024];
            let sent = big.clone();
            let r = b.call_blocking(IFACE, 1, move |_, _| Ok(sent)).unwrap();
            assert_eq!(r.stub, big);
            got
        })
        .await
        .unwrap();
        for (i, r) in r.into_iter().enumerate() {
            assert_eq!(
                r.unwrap(),
                (i as u32).to_le_bytes(),
                "option {on}, call {i}"
            );
        }
    }
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_call_takes_a_blocking_call_in_flight_back_to_the_task() {
    let (server, held, text) = server(ServerConfig::default()).await;
    let b = Binding::from_string(&text).unwrap();
    // Connected and bound first, so the blocking call finds the task parked.
    let sent = b.call(IFACE, 1, |_, _| Ok(vec![7; 4])).await.unwrap();
    assert_eq!(sent.stub, vec![7; 4]);
    let bb = b.clone();
    let blocked = tokio::task::spawn_blocking(move || {
        bb.call_blocking(IFACE, 0, |_, _| Ok(vec![1, 2, 3, 4]))
    });
    let h = held.clone();
    common::eventually_async("the server holds the blocking call", move || h.held() == 1).await;
    // While the blocking call waits: async calls on the same connection (the binding has one)
    // are answered, so the blocking call went back to the task and its connection reads.
    for i in 0..20u32 {
        let sent = i.to_le_bytes().to_vec();
        let r = tokio::time::timeout(common::WAIT, b.call(IFACE, 1, move |_, _| Ok(sent)))
            .await
            .expect("an async call behind a blocking one was not answered")
            .unwrap();
        assert_eq!(r.stub, i.to_le_bytes());
    }
    assert!(
        !blocked.is_finished(),
        "the held call ended before it was answered"
    );
    held.answer_all();
    let r = tokio::time::timeout(common::WAIT, blocked)
        .await
        .expect("the handed-over call never ended")
        .unwrap()
        .unwrap();
    assert_eq!(r.stub, vec![1, 2, 3, 4]);
    // And the connection is parked again: a blocking call still works.
    let bb = b.clone();
    let r = tokio::task::spawn_blocking(move || echo_blocking(&bb, 99))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r, 99u32.to_le_bytes());
    b.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_call_times_out_on_the_calling_thread() {
    let (server, held, text) = server(ServerConfig::default()).await;
    let timeout = Duration::from_millis(300);
    let o = BindingOptions::default().with_call_timeout(timeout);
    let b = Binding::with_options(&text, o).unwrap();
    let bb = b.clone();
    let (first, timed_out, after) = tokio::task::spawn_blocking(move || {
        let first = echo_blocking(&bb, 1);
        let t = std::time::Instant::now();
        let r = bb.call_blocking(IFACE, 0, |_, _| Ok(vec![5; 4]));
        let took = t.elapsed();
        (first, (r, took), echo_blocking(&bb, 2))
    })
    .await
    .unwrap();
    assert_eq!(first.unwrap(), 1u32.to_le_bytes());
    let (r, took) = timed_out;
    assert!(
        matches!(r, Err(Error::CallTimeout(d)) if d == timeout),
        "{r:?}"
    );
    assert!(
        took >= timeout,
        "timed out after {took:?}, before {timeout:?}"
    );
    assert_eq!(after.unwrap(), 2u32.to_le_bytes(), "the binding serves on");
    assert_eq!(held.held(), 1, "the server got the call");
    b.close();
    server.shutdown(Duration::from_secs(1)).await;
    held.0.lock().unwrap().clear();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_connection_the_server_closed_is_replaced() {
    let mut c = ServerConfig::default();
    c.idle_timeout = Duration::from_millis(300);
    let (server, _held, text) = server(c).await;
    let b = Binding::from_string(&text).unwrap();
    let bb = b.clone();
    let r = tokio::task::spawn_blocking(move || echo_blocking(&bb, 1))
        .await
        .unwrap();
    assert_eq!(r.unwrap(), 1u32.to_le_bytes());
    common::eventually_async("the server closes the idle connection", || {
        server.stats().idle_closed >= 1
    })
    .await;
    // The parked task read nothing meanwhile; the next calls must not fail on the dead socket.
    let bb = b.clone();
    let r = tokio::task::spawn_blocking(move || (echo_blocking(&bb, 2), echo_blocking(&bb, 3)))
        .await
        .unwrap();
    assert_eq!(r.0.unwrap(), 2u32.to_le_bytes());
    assert_eq!(r.1.unwrap(), 3u32.to_le_bytes());
    let r = b.call(IFACE, 1, |_, _| Ok(vec![4; 4])).await.unwrap();
    assert_eq!(r.stub, vec![4; 4]);
    b.close();
    server.shutdown(Duration::from_secs(1)).await;
}
