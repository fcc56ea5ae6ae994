//! Context handles through the generated stubs, over TCP: the client keeps each handle tied to the
//! binding (association) it was returned on and makes the calls that present it over that binding;
//! the server's managers get the call and keep their handles in the association group's table.
//!
//! The stubs are msrpc-idl's golden `tests/fixtures/contexts.rs` (from `contexts.idl`), included
//! here against the real runtime (mounted at `crate::codegen`, as the goldens expect).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use msrpc::notify::{AsyncState, Notification};
use msrpc::server::{AsyncCall, IncomingCall, Server};
use msrpc::{Binding, ClientContext, Error, FaultStatus, Win32Status};
use msrpc_ndr::ContextHandle;

mod codegen {
    pub(crate) use msrpc::codegen::*;
}

#[allow(clippy::all, missing_docs, dead_code)]
mod idl {
    include!("../../msrpc-idl/tests/fixtures/contexts.rs");
}

use idl::counters::{self as c, Client, Service};

struct Counter(i32);

#[derive(Default)]
struct Manager {
    /// Manager routines entered (to show what never reached the server).
    calls: AtomicUsize,
    /// Rundowns run (handles left open when an association ended).
    rundowns: Arc<AtomicUsize>,
}

impl Manager {
    fn open(&self, call: &IncomingCall, start: i32) -> Result<ContextHandle, Win32Status> {
        let rundowns = self.rundowns.clone();
        call.new_context(Counter(start), move |_| {
            rundowns.fetch_add(1, Ordering::SeqCst);
        })
        .map_err(FaultStatus::to_win32)
    }

    fn value(call: &IncomingCall, h: &ContextHandle) -> Result<i32, Win32Status> {
        let v = call.context::<Counter>(h).map_err(FaultStatus::to_win32)?;
        Ok(v.lock().unwrap().0)
    }
}

/// What `Bump` does in the caller's association group: adds `by` and gives the handle back, or
/// closes it (null back) when `by` is 0. `[async]` managers reach the group through
/// `AsyncCall::incoming`, as synchronous ones do through their `call`.
fn bump_in(
    call: &IncomingCall,
    counter: &ContextHandle,
    by: i32,
) -> Result<(ContextHandle, i32), FaultStatus> {
    if by == 0 {
        let closed = call.close_context::<Counter>(counter)?;
        return Ok((ContextHandle::NULL, closed.0));
    }
    let v = call.context::<Counter>(counter)?;
    let mut v = v.lock().unwrap();
    v.0 += by;
    Ok((*counter, v.0))
}

impl c::Server for Manager {
    fn bump(&self, call: AsyncCall<c::BumpResponse>, req: c::BumpRequest) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let done = bump_in(call.incoming(), &req.counter, req.by);
        // Finished later, from another thread.
        std::thread::spawn(move || match done {
            Ok((counter, value)) => call.complete(c::BumpResponse {
                counter,
                value,
                return_value: 0,
            }),
            Err(status) => call.abort(status),
        });
    }

    fn open(
        &self,
        call: &IncomingCall,
        req: c::OpenRequest,
    ) -> Result<c::OpenResponse, Win32Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(c::OpenResponse {
            counter: self.open(call, req.start)?,
            return_value: 0,
        })
    }

    fn get(&self, call: &IncomingCall, req: c::GetRequest) -> Result<c::GetResponse, Win32Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(c::GetResponse {
            value: Manager::value(call, &req.counter)?,
            return_value: 0,
        })
    }

    fn add(&self, call: &IncomingCall, req: c::AddRequest) -> Result<c::AddResponse, Win32Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let from = Manager::value(call, &req.from)?;
        let to = call
            .context::<Counter>(&req.to)
            .map_err(FaultStatus::to_win32)?;
        let mut to = to.lock().unwrap();
        to.0 += from;
        Ok(c::AddResponse {
            value: to.0,
            return_value: 0,
        })
    }

    fn close(
        &self,
        call: &IncomingCall,
        req: c::CloseRequest,
    ) -> Result<c::CloseResponse, Win32Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        call.close_context::<Counter>(&req.counter)
            .map_err(FaultStatus::to_win32)?;
        Ok(c::CloseResponse {
            counter: ContextHandle::NULL,
        })
    }

    fn reset(
        &self,
        call: &IncomingCall,
        req: c::ResetRequest,
    ) -> Result<c::ResetResponse, Win32Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let counter = if req.counter.is_null() {
            self.open(call, req.start)?
        } else {
            let v = call
                .context::<Counter>(&req.counter)
                .map_err(FaultStatus::to_win32)?;
            v.lock().unwrap().0 = req.start;
            req.counter
        };
        Ok(c::ResetResponse {
            counter,
            return_value: 0,
        })
    }

    fn create(
        &self,
        call: &IncomingCall,
        req: c::CreateRequest,
    ) -> Result<c::CreateResponse, Win32Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(c::CreateResponse {
            return_value: self.open(call, req.start)?,
        })
    }
}

fn get(h: &ClientContext) -> c::GetArgs<Binding> {
    c::GetArgs { counter: h.clone() }
}

fn assert_mismatch<T: std::fmt::Debug>(r: Result<T, Error>) {
    match r {
        Err(Error::Fault { status, .. }) => {
            assert_eq!(status, FaultStatus::NCA_S_FAULT_CONTEXT_MISMATCH)
        }
        other => panic!("expected nca_s_fault_context_mismatch, got {other:?}"),
    }
}

fn assert_refused<T: std::fmt::Debug>(r: Result<T, Error>, status: Win32Status) {
    match r {
        Err(e @ Error::Status { .. }) => assert_eq!(e.status(), status, "{e}"),
        other => panic!("expected a local refusal with {status}, got {other:?}"),
    }
}

/// Waits (bounded) until `n` reaches `want`, and checks it did not go past it.
async fn wait_for(n: &AtomicUsize, want: usize) {
    common::eventually_async(&format!("{want} rundowns"), || {
        n.load(Ordering::SeqCst) >= want
    })
    .await;
    assert_eq!(n.load(Ordering::SeqCst), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_contexts_follow_their_binding() {
    let manager = Arc::new(Manager::default());
    let server = Server::builder()
        .interface(Arc::new(Service(manager.clone())))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let text = server.bindings()[0].to_string();
    let a = Binding::from_string(&text).unwrap();
    let b = Binding::from_string(&text).unwrap();

    // Returned on A, tied to A.
    let h = Client(&a)
        .open(c::OpenRequest { start: 7 })
        .await
        .unwrap()
        .counter;
    assert!(!h.is_null() && !h.is_closed());
    assert_eq!(Client(&a).get(get(&h)).await.unwrap().value, 7);

    // A client over B still makes the call over A, the handle's binding: it works, and B never
    // even connects.
    assert_eq!(Client(&b).get(get(&h)).await.unwrap().value, 7);
    assert_eq!(b.connection_count(), 0);

    // The raw value presented on another association (here: claimed to belong to B) is not in
    // B's association group: the server faults it.
    let forged = ClientContext::new(h.handle(), b.clone());
    assert_mismatch(Client(&a).get(get(&forged)).await);
    // A handle of B's association as the second [in] handle of a call that goes over A.
    let hb = Client(&b)
        .open(c::OpenRequest { start: 100 })
        .await
        .unwrap()
        .counter;
    assert_mismatch(
        Client(&a)
            .add(c::AddArgs {
                to: h.clone(),
                from: hb.clone(),
            })
            .await,
    );
    // Both on A: fine.
    let h2 = Client(&a)
        .create(c::CreateRequest { start: 5 })
        .await
        .unwrap();
    let h2 = h2.return_value;
    let sum = Client(&b)
        .add(c::AddArgs {
            to: h.clone(),
            from: h2.clone(),
        })
        .await
        .unwrap();
    assert_eq!(sum.value, 12);

    // A null [in] handle is refused before anything is sent (RPC_X_SS_IN_NULL_CONTEXT).
    let fresh = Binding::from_string(&text).unwrap();
    let before = manager.calls.load(Ordering::SeqCst);
    let r = Client(&fresh).get(get(&ClientContext::null())).await;
    assert_refused(r, Win32Status::RPC_X_SS_IN_NULL_CONTEXT);
    assert_eq!(fresh.connection_count(), 0);
    assert_eq!(manager.calls.load(Ordering::SeqCst), before);

    // [in, out] null opens over the client's binding; the same handle back is the same value.
    let r = Client(&a)
        .reset(c::ResetArgs {
            counter: ClientContext::null(),
            start: 1,
        })
        .await
        .unwrap()
        .counter;
    assert!(!r.is_null());
    let again = Client(&b)
        .reset(c::ResetArgs {
            counter: r.clone(),
            start: 2,
        })
        .await
        .unwrap()
        .counter;
    assert_eq!(again.handle(), r.handle());
    assert!(!r.is_closed());
    assert_eq!(Client(&a).get(get(&r)).await.unwrap().value, 2);

    // Close: the server gives back null; the ClientContext (every clone) is closed and later
    // use is refused locally, while the raw value presented again faults on the server.
    let kept = h.clone();
    let closed = Client(&a)
        .close(c::CloseArgs { counter: h })
        .await
        .unwrap()
        .counter;
    assert!(closed.is_null());
    assert!(kept.is_closed());
    let before = manager.calls.load(Ordering::SeqCst);
    assert_refused(
        Client(&a).get(get(&kept)).await,
        Win32Status::ERROR_INVALID_HANDLE,
    );
    assert_refused(
        Client(&a)
            .close(c::CloseArgs {
                counter: kept.clone(),
            })
            .await,
        Win32Status::ERROR_INVALID_HANDLE,
    );
    assert_refused(
        Client(&a).get(get(&closed)).await,
        Win32Status::RPC_X_SS_IN_NULL_CONTEXT,
    );
    assert_eq!(manager.calls.load(Ordering::SeqCst), before);
    let raw = ClientContext::new(kept.handle(), a.clone());
    assert_mismatch(Client(&a).get(get(&raw)).await);

    // The blocking form, from a plain thread.
    let a2 = a.clone();
    let h3 = h2.clone();
    let v = tokio::task::spawn_blocking(move || {
        let opened = Client(&a2)
            .open_blocking(c::OpenRequest { start: 40 })
            .unwrap()
            .counter;
        let v = Client(&a2)
            .add_blocking(c::AddArgs {
                to: opened.clone(),
                from: h3,
            })
            .unwrap()
            .value;
        let closed = Client(&a2)
            .close_blocking(c::CloseArgs { counter: opened })
            .unwrap()
            .counter;
        assert!(closed.is_null());
        v
    })
    .await
    .unwrap();
    assert_eq!(v, 45);

    // Open on A now: h2 (Create) and r (Reset); on B: hb. Ending B's association (closing its
    // binding, `RpcBindingFree`) runs down one; ending A's runs down the other two. (Dropping the
    // last clone of a Binding does not close its connections today; `close` does.)
    assert_eq!(manager.rundowns.load(Ordering::SeqCst), 0);
    drop((hb, forged));
    b.close();
    wait_for(&manager.rundowns, 1).await;
    drop((h2, r, again, kept, closed, raw));
    a.close();
    wait_for(&manager.rundowns, 3).await;
    drop(fresh);
    server.shutdown(Duration::from_secs(1)).await;
}

/// `Bump` is `[async]`: its AsyncState forms take `BumpArgs` with a `ClientContext`, route the call
/// over the handle's binding, and complete with a `BumpOutput` whose handle is the same value (or
/// closes it), as the awaited form does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_start_forms_take_and_give_client_contexts() {
    let manager = Arc::new(Manager::default());
    let server = Server::builder()
        .interface(Arc::new(Service(manager.clone())))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let text = server.bindings()[0].to_string();
    let a = Binding::from_string(&text).unwrap();
    let b = Binding::from_string(&text).unwrap();
    let h = Client(&a)
        .open(c::OpenRequest { start: 1 })
        .await
        .unwrap()
        .counter;

    // Started through a client over B: the call goes over A, the handle's binding.
    let state = AsyncState::new(Notification::None);
    Client(&b)
        .bump_start(
            &state,
            c::BumpArgs {
                counter: h.clone(),
                by: 4,
            },
        )
        .await
        .unwrap();
    let out = state.completion().await.unwrap();
    assert_eq!(out.value, 5);
    assert_eq!(out.counter.handle(), h.handle());
    assert!(!h.is_closed());
    assert_eq!(b.connection_count(), 0);
    // The handle that came back is tied to A: it works wherever it is presented from.
    assert_eq!(Client(&b).get(get(&out.counter)).await.unwrap().value, 5);

    // The page's form from a plain thread: by 0 closes the handle, and every clone with it.
    let (b2, h2) = (b.clone(), h.clone());
    let out = tokio::task::spawn_blocking(move || {
        let state = AsyncState::new(Notification::None);
        Client(&b2)
            .bump_start_blocking(&state, c::BumpArgs { counter: h2, by: 0 })
            .unwrap();
        let deadline = std::time::Instant::now() + common::WAIT;
        loop {
            match state.complete() {
                Err(e) if e.status() == Win32Status::RPC_S_ASYNC_CALL_PENDING => {
                    assert!(std::time::Instant::now() < deadline, "Bump never completed");
                    std::thread::sleep(Duration::from_millis(2));
                }
                other => break other.unwrap(),
            }
        }
    })
    .await
    .unwrap();
    assert!(out.counter.is_null());
    assert_eq!(out.value, 5);
    assert!(h.is_closed());

    // A closed handle is refused before anything is sent, as by the other forms.
    let before = manager.calls.load(Ordering::SeqCst);
    let state = AsyncState::new(Notification::None);
    assert_refused(
        Client(&a)
            .bump_start(&state, c::BumpArgs { counter: h, by: 1 })
            .await,
        Win32Status::ERROR_INVALID_HANDLE,
    );
    assert_eq!(manager.calls.load(Ordering::SeqCst), before);
    a.close();
    b.close();
    server.shutdown(Duration::from_secs(1)).await;
}

/// The same IDL generated with `Builder::async_server(true)`: `async fn` managers that get the
/// call (the future borrows it; the runtime keeps the call until the future is done).
#[allow(clippy::all, missing_docs, dead_code)]
mod idl_async {
    include!("../../msrpc-idl/tests/fixtures/async_server/contexts.rs");
}

mod async_managers {
    use super::*;
    use idl_async::counters as ac;

    const NOT_HERE: Win32Status = Win32Status(1745);

    #[derive(Default)]
    struct AsyncManager {
        rundowns: Arc<AtomicUsize>,
    }

    impl ac::Server for AsyncManager {
        fn bump(&self, call: AsyncCall<ac::BumpResponse>, req: ac::BumpRequest) {
            match bump_in(call.incoming(), &req.counter, req.by) {
                Ok((counter, value)) => call.complete(ac::BumpResponse {
                    counter,
                    value,
                    return_value: 0,
                }),
                Err(status) => call.abort(status),
            }
        }

        async fn open(
            &self,
            call: &IncomingCall,
            req: ac::OpenRequest,
        ) -> Result<ac::OpenResponse, Win32Status> {
            tokio::task::yield_now().await;
            let rundowns = self.rundowns.clone();
            let counter = call
                .new_context(Counter(req.start), move |_| {
                    rundowns.fetch_add(1, Ordering::SeqCst);
                })
                .map_err(FaultStatus::to_win32)?;
            Ok(ac::OpenResponse {
                counter,
                return_value: 0,
            })
        }

        async fn get(
            &self,
            call: &IncomingCall,
            req: ac::GetRequest,
        ) -> Result<ac::GetResponse, Win32Status> {
            tokio::task::yield_now().await;
            Ok(ac::GetResponse {
                value: Manager::value(call, &req.counter)?,
                return_value: 0,
            })
        }

        async fn add(
            &self,
            _: &IncomingCall,
            _: ac::AddRequest,
        ) -> Result<ac::AddResponse, Win32Status> {
            Err(NOT_HERE)
        }

        async fn close(
            &self,
            call: &IncomingCall,
            req: ac::CloseRequest,
        ) -> Result<ac::CloseResponse, Win32Status> {
            tokio::task::yield_now().await;
            call.close_context::<Counter>(&req.counter)
                .map_err(FaultStatus::to_win32)?;
            Ok(ac::CloseResponse {
                counter: ContextHandle::NULL,
            })
        }

        async fn reset(
            &self,
            _: &IncomingCall,
            _: ac::ResetRequest,
        ) -> Result<ac::ResetResponse, Win32Status> {
            Err(NOT_HERE)
        }

        async fn create(
            &self,
            _: &IncomingCall,
            _: ac::CreateRequest,
        ) -> Result<ac::CreateResponse, Win32Status> {
            Err(NOT_HERE)
        }
    }

    #[tokio::test]
    async fn async_fn_managers_get_the_call_too() {
        let manager = Arc::new(AsyncManager::default());
        let server = Server::builder()
            .interface(Arc::new(ac::Service(manager.clone())))
            .listen("ncacn_ip_tcp:127.0.0.1[0]")
            .start()
            .await
            .unwrap();
        let text = server.bindings()[0].to_string();
        let a = Binding::from_string(&text).unwrap();
        let b = Binding::from_string(&text).unwrap();
        let h = ac::Client(&a)
            .open(ac::OpenRequest { start: 3 })
            .await
            .unwrap()
            .counter;
        let h2 = ac::Client(&a)
            .open(ac::OpenRequest { start: 4 })
            .await
            .unwrap()
            .counter;
        let args = |h: &ClientContext| ac::GetArgs { counter: h.clone() };
        assert_eq!(ac::Client(&b).get(args(&h)).await.unwrap().value, 3);
        assert_mismatch(
            ac::Client(&b)
                .get(args(&ClientContext::new(h.handle(), b.clone())))
                .await,
        );
        let closed = ac::Client(&a)
            .close(ac::CloseArgs { counter: h.clone() })
            .await
            .unwrap()
            .counter;
        assert!(closed.is_null() && h.is_closed());
        assert_refused(
            ac::Client(&a).get(args(&h)).await,
            Win32Status::ERROR_INVALID_HANDLE,
        );
        assert_eq!(ac::Client(&a).get(args(&h2)).await.unwrap().value, 4);
        a.close();
        wait_for(&manager.rundowns, 1).await;
        b.close();
        server.shutdown(Duration::from_secs(1)).await;
    }
}
