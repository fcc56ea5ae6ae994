//! The client's call-timeout timer among many calls: each call leaves an entry in the connection
//! task's deadline heap, entries of ended calls are dropped in bulk, and the one timer of the task
//! is moved only when the earliest deadline changes. A call the server never answers, made
//! before hundreds of calls that end while it waits, must still time out (not before its
//! timeout), and the connection must still serve calls.
//!
//! Every wait is bounded; the server the test starts is stopped by it.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use msrpc::server::{Dispatch, Server, ServerConfig};
use msrpc::{Binding, BindingOptions, Error, IncomingCall, Interface, SyntaxId};

const IFACE: SyntaxId = SyntaxId {
    uuid: uuid::uuid!("8e4f2a61-0c3d-4b9e-b7a5-52c1d9e03f77"),
    major: 1,
    minor: 0,
};

/// Opnum 0 is never answered while the test runs (the call is kept, then dropped at shutdown);
/// opnum 1 echoes at once.
struct Silent(Mutex<Vec<IncomingCall>>);

impl Interface for Silent {
    fn syntax(&self) -> SyntaxId {
        IFACE
    }
    fn name(&self) -> &str {
        "silent"
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_times_out_after_hundreds_of_calls_that_ended() {
    let silent = Arc::new(Silent(Mutex::new(Vec::new())));
    let server = Server::builder()
        .config(ServerConfig::default())
        .interface(silent.clone())
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let timeout = Duration::from_secs(2);
    let mut o = BindingOptions::default();
    o.call_timeout = Some(timeout);
    let b = Binding::with_options(&server.bindings()[0].to_string(), o).unwrap();
    b.call(IFACE, 1, |_, _| Ok(vec![0; 4])).await.unwrap();
    // The unanswered call first, then hundreds of calls that end while it waits: their entries
    // are dropped around its own, which must survive.
    let t = Instant::now();
    let bs = b.clone();
    let silent_call =
        tokio::spawn(async move { bs.call(IFACE, 0, |_, _| Ok(vec![1, 2, 3, 4])).await });
    for i in 0..300u32 {
        let sent = i.to_le_bytes().to_vec();
        let r = b.call(IFACE, 1, move |_, _| Ok(sent)).await.unwrap();
        assert_eq!(r.stub, i.to_le_bytes());
    }
    let r = tokio::time::timeout(Duration::from_secs(15), silent_call)
        .await
        .expect("the unanswered call did not time out within 15 s")
        .unwrap();
    let took = t.elapsed();
    assert!(
        matches!(r, Err(Error::CallTimeout(d)) if d == timeout),
        "{r:?}"
    );
    assert!(
        took >= timeout,
        "timed out after {took:?}, before {timeout:?}"
    );
    assert_eq!(
        silent.0.lock().unwrap().len(),
        1,
        "the server holds the call"
    );
    // The connection still serves calls.
    let r = b.call(IFACE, 1, |_, _| Ok(vec![9; 8])).await.unwrap();
    assert_eq!(r.stub, vec![9; 8]);
    b.close();
    server.shutdown(Duration::from_secs(1)).await;
    silent.0.lock().unwrap().clear();
}
