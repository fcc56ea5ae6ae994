//! Calls a manager keeps past `Interface::dispatch` keep their own request bytes: the stub of a
//! request that came in one fragment is a slice of the connection's input buffer (no copy for a
//! call answered at once), and the buffer goes on receiving other requests while the held calls
//! wait. Each held call, answered later from another thread, must echo exactly what it was sent,
//! whether or not the manager detached its stub.
//!
//! Every loop is bounded; the server the test starts is stopped by it.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use msrpc::server::{Dispatch, Server, ServerConfig};
use msrpc::{Binding, BindingOptions, IncomingCall, Interface, SyntaxId};

const HELD: SyntaxId = SyntaxId {
    uuid: uuid::uuid!("3b0f8c2e-5d41-4e7a-a6c9-19d2e4f07b55"),
    major: 1,
    minor: 0,
};

/// Opnum 0 is held until `release` has seen `hold` calls, then all are answered in reverse order
/// from a thread of their own, each with its own stub. Opnum 1 answers at once (inline) with its
/// stub. Calls with an odd first byte detach their stub, the others do not.
struct Holder {
    hold: usize,
    held: Arc<Mutex<Vec<IncomingCall>>>,
}

impl Interface for Holder {
    fn syntax(&self) -> SyntaxId {
        HELD
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
        if call.stub().first().is_some_and(|b| b % 2 == 1) {
            call.detach_stub();
        }
        let mut held = self.held.lock().unwrap();
        held.push(call);
        if held.len() == self.hold {
            let calls: Vec<IncomingCall> = held.drain(..).collect();
            std::thread::spawn(move || {
                for c in calls.into_iter().rev() {
                    let stub = c.stub().to_vec();
                    c.reply(stub);
                }
            });
        }
        Dispatch::Deferred
    }
}

/// A stub of `len` bytes that names its call: `i` in every byte.
fn stub_of(i: usize, len: usize) -> Vec<u8> {
    vec![i as u8; len]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_calls_echo_their_own_bytes_while_the_input_buffer_moves_on() {
    const HOLD: usize = 48;
    let server = Server::builder()
        .config(ServerConfig::default())
        .interface(Arc::new(Holder {
            hold: HOLD,
            held: Arc::default(),
        }))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let binding = server.bindings()[0].to_string();
    let mut o = BindingOptions::default();
    o.call_timeout = Some(Duration::from_secs(20));
    o.noncausal = true;
    let b = Binding::with_options(&binding, o).unwrap();
    // One connection: the held calls and the inline ones share its input buffer.
    let mut tasks = Vec::new();
    for i in 0..HOLD {
        let bh = b.clone();
        tasks.push(tokio::spawn(async move {
            let sent = stub_of(i, 8 + i);
            let expect = sent.clone();
            let r = bh.call(HELD, 0, move |_, _| Ok(sent)).await.unwrap();
            assert_eq!(r.stub, expect, "held call {i} got another call's bytes");
        }));
        // Inline calls in between keep the buffer busy with other requests.
        let sent = stub_of(200, 16);
        let r = b.call(HELD, 1, move |_, _| Ok(sent)).await.unwrap();
        assert_eq!(r.stub, stub_of(200, 16));
        // Until the last one is held, every held call is still waiting: the inline calls
        // overtook them on the same connection.
        if i + 1 < HOLD {
            assert!(
                tasks.iter().all(|t| !t.is_finished()),
                "a held call ended early"
            );
        }
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(20), t)
            .await
            .expect("a held call never completed")
            .unwrap();
    }
    b.close();
    server.shutdown(Duration::from_secs(2)).await;
}
