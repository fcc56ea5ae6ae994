//! The sample's two forms over TCP on loopback: the threaded server and the async one, each
//! called with the threaded client functions (from a plain thread) and the async ones.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use msrpc::notify::{AsyncState, Event, Notification};
use msrpc::server::Server;
use msrpc::{Binding, Interface, Win32Status};

#[derive(Default)]
struct Log(Mutex<Vec<String>>);

struct Threaded(Arc<Log>);

impl msrpc_sample::AsyncRpcHandler for Threaded {
    fn non_async_func(&self, message: &[u8]) {
        // The threaded form may block: it runs on the blocking pool.
        std::thread::sleep(Duration::from_millis(1));
        let m = String::from_utf8_lossy(message).into_owned();
        self.0.0.lock().unwrap().push(format!("threaded {m}"));
    }
    fn shutdown(&self) -> Result<(), Win32Status> {
        Err(Win32Status::ERROR_ACCESS_DENIED)
    }
}

struct Futures(Arc<Log>);

impl msrpc_sample::AsyncRpcFutureHandler for Futures {
    async fn non_async_func(&self, message: Vec<u8>) {
        // The async form awaits instead.
        tokio::time::sleep(Duration::from_millis(1)).await;
        let m = String::from_utf8_lossy(&message).into_owned();
        self.0.0.lock().unwrap().push(format!("future {m}"));
    }
    async fn shutdown(&self) -> Result<(), Win32Status> {
        Err(Win32Status::ERROR_ACCESS_DENIED)
    }
}

fn both_client_forms(rt: &tokio::runtime::Runtime, iface: Arc<dyn Interface>) {
    let server = rt.block_on(async {
        Server::builder()
            .interface(iface)
            .listen("ncacn_ip_tcp:127.0.0.1[0]")
            .start()
            .await
            .unwrap()
    });
    let target = server.bindings()[0].to_string();
    let binding = rt
        .block_on(async { Binding::from_string(&target) })
        .unwrap();

    // Async client forms.
    rt.block_on(msrpc_sample::non_async_func(&binding, "awaited"))
        .unwrap();
    rt.block_on(msrpc_sample::async_func(&binding, 1)).unwrap();
    let state = AsyncState::new(Notification::None);
    rt.block_on(msrpc_sample::async_func_start(&state, &binding, 1))
        .unwrap();
    rt.block_on(state.completion()).unwrap();
    let e = rt.block_on(msrpc_sample::shutdown(&binding)).unwrap_err();
    assert_eq!(e.status(), Win32Status::ERROR_ACCESS_DENIED, "{e}");

    // Threaded client forms, from this (non-runtime) thread.
    msrpc_sample::non_async_func_blocking(&binding, "blocking").unwrap();
    let done = Event::auto_reset();
    let state = AsyncState::new(Notification::Event(done.clone()));
    msrpc_sample::async_func_start_blocking(&state, &binding, 1).unwrap();
    assert!(
        done.wait_timeout(Duration::from_secs(10)),
        "AsyncFunc never completed"
    );
    state.complete().unwrap();
    let e = msrpc_sample::shutdown_blocking(&binding).unwrap_err();
    assert_eq!(e.status(), Win32Status::ERROR_ACCESS_DENIED, "{e}");

    rt.block_on(server.shutdown(Duration::from_secs(2)));
}

#[test]
fn threaded_and_async_servers_answer_both_client_forms() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log = Arc::new(Log::default());
    both_client_forms(&rt, Arc::new(msrpc_sample::service(Threaded(log.clone()))));
    both_client_forms(
        &rt,
        Arc::new(msrpc_sample::future_service(Futures(log.clone()))),
    );
    assert_eq!(
        *log.0.lock().unwrap(),
        [
            "threaded awaited",
            "threaded blocking",
            "future awaited",
            "future blocking"
        ]
    );
}
