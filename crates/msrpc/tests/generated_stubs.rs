//! The stubs `build.rs` generates from this crate's `idl/`: they are byte for byte the goldens committed in
//! msrpc-idl (so CI fails when either drifts), and the generated server adapter (`Service`) and
//! client (`Client`) work over the real runtime: synchronous managers, `[async]` managers with an
//! `AsyncCall`, the three client forms, and the dispatch-error-to-fault mapping.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use msrpc::IncomingCall;
use msrpc::notify::{AsyncState, Notification};
use msrpc::server::{AsyncCall, Server};
use msrpc::{Binding, Error, FaultStatus, Win32Status};
use msrpc_ndr::NdrString;
use msrpc_sample::idl::async_rpc::{self as a, Client, Service};

#[test]
fn generated_stubs_match_the_committed_goldens() {
    let goldens = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../msrpc-idl/tests/fixtures/shipped"
    );
    let mut stale = Vec::new();
    // asyncrpc is msrpc-sample's (its own test checks it).
    for stem in ["mgmt", "epm", "srvsvc"] {
        let built =
            std::fs::read_to_string(format!("{}/{stem}.rs", env!("OUT_DIR"))).expect("built");
        let golden = std::fs::read_to_string(format!("{goldens}/{stem}.rs")).expect("golden");
        if built != golden {
            stale.push(stem);
        }
    }
    assert!(
        stale.is_empty(),
        "{stale:?}: build.rs output differs from msrpc-idl's goldens; run \
         `MSRPC_BLESS=1 cargo test -p msrpc-idl --test golden` and check build.rs uses the same options"
    );
}

#[derive(Default)]
struct Manager {
    log: Mutex<Vec<String>>,
}

impl a::Server for Manager {
    fn non_async_func(
        &self,
        _: &IncomingCall,
        req: a::NonAsyncFuncRequest,
    ) -> Result<a::NonAsyncFuncResponse, Win32Status> {
        // Synchronous managers run on the blocking pool: blocking here is allowed.
        std::thread::sleep(std::time::Duration::from_millis(5));
        self.log.lock().unwrap().push(req.pszMessage.to_string());
        Ok(a::NonAsyncFuncResponse {})
    }

    fn async_func(&self, call: AsyncCall<a::AsyncFuncResponse>, req: a::AsyncFuncRequest) {
        self.log
            .lock()
            .unwrap()
            .push(format!("async {}", req.nAsychDelay));
        std::thread::spawn(move || {
            if req.nAsychDelay == 0 {
                call.abort(Win32Status::RPC_S_CALL_CANCELLED);
            } else {
                call.complete(a::AsyncFuncResponse {});
            }
        });
    }

    fn shutdown(
        &self,
        _: &IncomingCall,
        _: a::ShutdownRequest,
    ) -> Result<a::ShutdownResponse, Win32Status> {
        Err(Win32Status::ERROR_ACCESS_DENIED)
    }
}

fn status(e: &Error) -> Win32Status {
    e.status()
}

#[test]
fn generated_service_and_client_over_tcp() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let manager = Arc::new(Manager::default());
    let server = rt.block_on(async {
        Server::builder()
            .interface(Arc::new(Service(manager.clone())))
            .listen("ncacn_ip_tcp:127.0.0.1[0]")
            .start()
            .await
            .unwrap()
    });
    let target = server.bindings()[0].to_string();
    let binding = rt
        .block_on(async { Binding::from_string(&target) })
        .unwrap();
    let client = Client(binding.clone());

    // async fn form, on the runtime.
    rt.block_on(client.non_async_func(a::NonAsyncFuncRequest {
        pszMessage: NdrString::from("awaited"),
    }))
    .unwrap();
    rt.block_on(client.async_func(a::AsyncFuncRequest { nAsychDelay: 1 }))
        .unwrap();
    let e = rt
        .block_on(client.async_func(a::AsyncFuncRequest { nAsychDelay: 0 }))
        .unwrap_err();
    assert_eq!(status(&e), Win32Status::RPC_S_CALL_CANCELLED, "{e}");
    // Manager(status) faults with that status.
    let e = rt
        .block_on(client.shutdown(a::ShutdownRequest {}))
        .unwrap_err();
    assert_eq!(status(&e), Win32Status::ERROR_ACCESS_DENIED, "{e}");

    // Blocking form and the AsyncState form, from an ordinary thread.
    client
        .non_async_func_blocking(a::NonAsyncFuncRequest {
            pszMessage: NdrString::from("blocking"),
        })
        .unwrap();
    let state = AsyncState::new(Notification::None);
    client
        .async_func_start_blocking(&state, a::AsyncFuncRequest { nAsychDelay: 2 })
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let outcome = loop {
        match state.complete() {
            Err(e) if e.status() == Win32Status::RPC_S_ASYNC_CALL_PENDING => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "AsyncFunc never completed"
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => break other,
        }
    };
    assert_eq!(outcome.unwrap(), a::AsyncFuncResponse {});

    // Bad stub data (a string's count past the stub's end, a u32 cut short) is faulted with
    // nca_s_fault_ndr before any manager runs. (Bytes after the parameters are not bad stub data:
    // Windows ignores them, and so does msrpc, see codegen::decode_request.)
    let e = rt
        .block_on(binding.call(a::INTERFACE.syntax_id(), 0, |_, _| Ok(vec![1, 2, 3, 4])))
        .unwrap_err();
    assert!(
        matches!(e, Error::Fault { status, .. } if status == FaultStatus::NCA_S_FAULT_NDR),
        "{e}"
    );
    let e = rt
        .block_on(binding.call(a::INTERFACE.syntax_id(), 1, |_, _| Ok(vec![1])))
        .unwrap_err();
    assert!(
        matches!(e, Error::Fault { status, .. } if status == FaultStatus::NCA_S_FAULT_NDR),
        "{e}"
    );

    assert_eq!(
        *manager.log.lock().unwrap(),
        ["awaited", "async 1", "async 0", "blocking", "async 2"]
    );
    rt.block_on(server.shutdown(std::time::Duration::from_secs(2)));
}

// `Builder::async_server(true)` output (msrpc-idl's golden), compiled against the real runtime:
// generated code names `crate::codegen`, which here is msrpc's.
use msrpc::codegen;

mod async_server_idl {
    include!("../../msrpc-idl/tests/fixtures/async_server/asyncrpc.rs");
}

struct AsyncManager {
    log: Mutex<Vec<String>>,
}

impl async_server_idl::async_rpc::Server for AsyncManager {
    async fn non_async_func(
        &self,
        _: &IncomingCall,
        req: async_server_idl::async_rpc::NonAsyncFuncRequest,
    ) -> Result<async_server_idl::async_rpc::NonAsyncFuncResponse, Win32Status> {
        // An async manager awaits instead of blocking a thread.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        self.log.lock().unwrap().push(req.pszMessage.to_string());
        Ok(async_server_idl::async_rpc::NonAsyncFuncResponse {})
    }

    fn async_func(
        &self,
        call: AsyncCall<async_server_idl::async_rpc::AsyncFuncResponse>,
        _: async_server_idl::async_rpc::AsyncFuncRequest,
    ) {
        call.complete(async_server_idl::async_rpc::AsyncFuncResponse {});
    }

    async fn shutdown(
        &self,
        _: &IncomingCall,
        _: async_server_idl::async_rpc::ShutdownRequest,
    ) -> Result<async_server_idl::async_rpc::ShutdownResponse, Win32Status> {
        Err(Win32Status::ERROR_ACCESS_DENIED)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_async_fn_managers_over_tcp() {
    use async_server_idl::async_rpc as s;
    let manager = Arc::new(AsyncManager {
        log: Mutex::new(Vec::new()),
    });
    let server = Server::builder()
        .interface(Arc::new(s::Service(manager.clone())))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let b = Binding::from_string(&server.bindings()[0].to_string()).unwrap();
    let client = s::Client(&b);
    // Many calls at once on one connection: each manager awaits on a task of its own.
    let t0 = std::time::Instant::now();
    let calls = (0..50).map(|i| {
        client.non_async_func(s::NonAsyncFuncRequest {
            pszMessage: NdrString::from(format!("m{i}").as_str()),
        })
    });
    for r in futures_join(calls).await {
        r.unwrap();
    }
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(2),
        "the async managers ran one after another: {:?}",
        t0.elapsed()
    );
    assert_eq!(manager.log.lock().unwrap().len(), 50);
    client
        .async_func(s::AsyncFuncRequest { nAsychDelay: 1 })
        .await
        .unwrap();
    let e = client.shutdown(s::ShutdownRequest {}).await.unwrap_err();
    assert_eq!(e.status(), Win32Status::ERROR_ACCESS_DENIED, "{e}");
    server.shutdown(std::time::Duration::from_secs(2)).await;
}

/// Awaits every future concurrently (no extra dependency for `join_all`).
async fn futures_join<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futs: Vec<_> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.expect("ready")).collect()
}

/// Uses the generated `Server::accept` hook: refuses `Shutdown` before it is decoded, runs the
/// synchronous routines on the connection's task when asked to, and records what the managers see
/// of the call (their `handle_t`, and an `[async]` manager's `AsyncCall::incoming`).
struct Hooked {
    inline: bool,
    seen: Mutex<Vec<String>>,
}

impl a::Server for Hooked {
    fn accept(&self, call: &mut IncomingCall) -> Result<msrpc::server::RunOn, Win32Status> {
        if call.info().opnum == a::INTERFACE.operations[2].opnum {
            return Err(Win32Status::ERROR_ACCESS_DENIED);
        }
        Ok(if self.inline {
            msrpc::server::RunOn::ConnectionTask
        } else {
            msrpc::server::RunOn::Pool
        })
    }

    fn non_async_func(
        &self,
        call: &IncomingCall,
        req: a::NonAsyncFuncRequest,
    ) -> Result<a::NonAsyncFuncResponse, Win32Status> {
        self.seen.lock().unwrap().push(format!(
            "{} from loopback {} on {:?}",
            req.pszMessage,
            call.info().peer.is_local(),
            std::thread::current().id()
        ));
        Ok(a::NonAsyncFuncResponse {})
    }

    fn async_func(&self, call: AsyncCall<a::AsyncFuncResponse>, _: a::AsyncFuncRequest) {
        // The same access as a synchronous manager's: the association's context handles.
        let h = call.incoming().new_context(7u32, drop).unwrap();
        let value = *call.incoming().context::<u32>(&h).unwrap().lock().unwrap();
        let closed = call.incoming().close_context::<u32>(&h).unwrap();
        self.seen.lock().unwrap().push(format!(
            "async opnum {} context {value} closed {closed} client {:?}",
            call.info().opnum,
            call.client().map(|c| c.user.clone())
        ));
        call.complete(a::AsyncFuncResponse {});
    }

    fn shutdown(
        &self,
        _: &IncomingCall,
        _: a::ShutdownRequest,
    ) -> Result<a::ShutdownResponse, Win32Status> {
        self.seen.lock().unwrap().push("shutdown entered".into());
        Ok(a::ShutdownResponse {})
    }
}

/// On a current-thread runtime the connection's task runs on the test's thread and the blocking
/// pool on others: where `non_async_func` ran shows what `accept` chose.
#[tokio::test(flavor = "current_thread")]
async fn accept_refuses_calls_and_chooses_where_managers_run() {
    let here = std::thread::current().id();
    for inline in [true, false] {
        let hooked = Arc::new(Hooked {
            inline,
            seen: Mutex::new(Vec::new()),
        });
        let server = Server::builder()
            .interface(Arc::new(Service(hooked.clone())))
            .listen("ncacn_ip_tcp:127.0.0.1[0]")
            .start()
            .await
            .unwrap();
        let b = Binding::from_string(&server.bindings()[0].to_string()).unwrap();
        let client = Client(&b);
        client
            .non_async_func(a::NonAsyncFuncRequest {
                pszMessage: NdrString::from("hello"),
            })
            .await
            .unwrap();
        client
            .async_func(a::AsyncFuncRequest { nAsychDelay: 1 })
            .await
            .unwrap();
        let e = client.shutdown(a::ShutdownRequest {}).await.unwrap_err();
        assert!(
            matches!(e, Error::Fault { status, .. } if status == FaultStatus(5)),
            "refused by accept with ERROR_ACCESS_DENIED: {e}"
        );
        let seen = hooked.seen.lock().unwrap().clone();
        assert_eq!(
            seen.len(),
            2,
            "Shutdown's manager was not entered: {seen:?}"
        );
        let on_test_thread = seen[0] == format!("hello from loopback true on {here:?}");
        assert_eq!(on_test_thread, inline, "inline {inline}: {seen:?}");
        assert_eq!(seen[1], "async opnum 1 context 7 closed 7 client None");
        server.shutdown(std::time::Duration::from_secs(2)).await;
    }
}
