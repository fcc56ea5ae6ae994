//! Context handles end to end over TCP: kept per association group, type-checked, closed, and run
//! down when the client's association ends.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use msrpc::server::{Dispatch, IncomingCall, Interface, Server};
use msrpc::{Binding, Error, FaultStatus, SyntaxId};
use msrpc_ndr::{ContextHandle, Decoder, Encoder, NdrDecode};

const IFACE: SyntaxId = SyntaxId::new(uuid::uuid!("0f7a1c55-2b1e-4d5a-9e7b-3c1d2e3f4a5b"), 1, 0);

struct Counter(u32);
struct Other;

/// opnum 0: open(u32) -> handle; 1: get(handle) -> u32; 2: close(handle) -> handle; 3: open_other() -> handle
struct Handles {
    rundowns: Arc<AtomicUsize>,
}

impl Interface for Handles {
    fn syntax(&self) -> SyntaxId {
        IFACE
    }
    fn name(&self) -> &str {
        "context-test"
    }
    fn operation_count(&self) -> u16 {
        4
    }
    fn dispatch(&self, call: IncomingCall) -> Dispatch {
        let info = call.info();
        let mut d = Decoder::new(call.stub(), info.syntax, info.drep);
        let mut e = Encoder::new(info.syntax, msrpc::DataRep::LITTLE_ENDIAN);
        let r: Result<(), FaultStatus> = (|| {
            match info.opnum {
                0 => {
                    let v = d.read_u32().map_err(|_| FaultStatus::NCA_S_FAULT_NDR)?;
                    let rd = self.rundowns.clone();
                    let h = call.new_context(Counter(v), move |_| {
                        rd.fetch_add(1, Ordering::SeqCst);
                    })?;
                    e.encode_param(&h)
                        .map_err(|_| FaultStatus::NCA_S_FAULT_NDR)?;
                }
                1 => {
                    let h = ContextHandle::decode_head(&mut d)
                        .map_err(|_| FaultStatus::NCA_S_FAULT_NDR)?;
                    let c = call.context::<Counter>(&h)?;
                    let v = c.lock().unwrap().0;
                    e.write_u32(v);
                }
                2 => {
                    let h = ContextHandle::decode_head(&mut d)
                        .map_err(|_| FaultStatus::NCA_S_FAULT_NDR)?;
                    call.close_context::<Counter>(&h)?;
                    e.encode_param(&ContextHandle::NULL)
                        .map_err(|_| FaultStatus::NCA_S_FAULT_NDR)?;
                }
                _ => {
                    let h = call.new_context(Other, |_| {})?;
                    e.encode_param(&h)
                        .map_err(|_| FaultStatus::NCA_S_FAULT_NDR)?;
                }
            }
            Ok(())
        })();
        match r {
            Ok(()) => call.answer(e.into_bytes()),
            Err(f) => call.answer_fault(f),
        }
    }
}

async fn open(b: &Binding, v: u32) -> ContextHandle {
    let r = b
        .call(IFACE, 0, move |s, rep| {
            let mut e = Encoder::new(s, rep);
            e.write_u32(v);
            Ok(e.into_bytes())
        })
        .await
        .unwrap();
    ContextHandle::decode_head(&mut Decoder::new(&r.stub, r.syntax, r.drep)).unwrap()
}

async fn get(b: &Binding, h: ContextHandle) -> Result<u32, Error> {
    let r = b
        .call(IFACE, 1, move |s, rep| {
            let mut e = Encoder::new(s, rep);
            e.encode_param(&h)?;
            Ok(e.into_bytes())
        })
        .await?;
    Ok(Decoder::new(&r.stub, r.syntax, r.drep).read_u32()?)
}

async fn close(b: &Binding, h: ContextHandle) -> Result<ContextHandle, Error> {
    let r = b
        .call(IFACE, 2, move |s, rep| {
            let mut e = Encoder::new(s, rep);
            e.encode_param(&h)?;
            Ok(e.into_bytes())
        })
        .await?;
    Ok(ContextHandle::decode_head(&mut Decoder::new(
        &r.stub, r.syntax, r.drep,
    ))?)
}

async fn start(rundowns: &Arc<AtomicUsize>) -> (Server, String) {
    let server = Server::builder()
        .interface(Arc::new(Handles {
            rundowns: rundowns.clone(),
        }))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let text = server.bindings()[0].to_string();
    (server, text)
}

/// Waits (bounded) until some rundown has run.
async fn wait_for_a_rundown(rundowns: &AtomicUsize) {
    common::eventually_async("a rundown to run", || rundowns.load(Ordering::SeqCst) > 0).await;
}

fn assert_mismatch(r: Result<impl std::fmt::Debug, Error>) {
    match r {
        Err(Error::Fault { status, .. }) => {
            assert_eq!(status, FaultStatus::NCA_S_FAULT_CONTEXT_MISMATCH)
        }
        other => panic!("expected nca_s_fault_context_mismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn context_handles_live_per_association_and_run_down() {
    let rundowns = Arc::new(AtomicUsize::new(0));
    let (server, text) = start(&rundowns).await;
    let b = Binding::from_string(&text).unwrap();

    let h1 = open(&b, 7).await;
    let h2 = open(&b, 9).await;
    assert!(!h1.is_null() && h1 != h2);
    assert_eq!(get(&b, h1).await.unwrap(), 7);
    assert_eq!(get(&b, h2).await.unwrap(), 9);

    // A handle of another type, an unknown one, and a closed one: context mismatch.
    let other = {
        let r = b.call(IFACE, 3, |_, _| Ok(Vec::new())).await.unwrap();
        ContextHandle::decode_head(&mut Decoder::new(&r.stub, r.syntax, r.drep)).unwrap()
    };
    assert_mismatch(get(&b, other).await);
    assert_mismatch(
        get(
            &b,
            ContextHandle {
                attributes: 0,
                uuid: uuid::Uuid::new_v4(),
            },
        )
        .await,
    );
    assert!(close(&b, h1).await.unwrap().is_null());
    assert_mismatch(get(&b, h1).await);
    assert_mismatch(close(&b, h1).await);

    // Another association (a new binding) cannot use this association's handles.
    let stranger = Binding::from_string(&text).unwrap();
    assert_mismatch(get(&stranger, h2).await);
    stranger.close();

    // The client goes away with h2 and `other` open: h2's rundown runs (other's does nothing).
    assert_eq!(rundowns.load(Ordering::SeqCst), 0);
    b.close();
    wait_for_a_rundown(&rundowns).await;
    assert_eq!(
        rundowns.load(Ordering::SeqCst),
        1,
        "the rundown of the open handle ran once"
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn handles_are_shared_by_the_connections_of_one_association_group() {
    let rundowns = Arc::new(AtomicUsize::new(0));
    let (server, text) = start(&rundowns).await;
    let mut opts = msrpc::BindingOptions::default();
    opts.max_connections = 2;
    opts.max_calls_per_connection = 1;
    let b = Binding::with_options(&text, opts).unwrap();
    let h = open(&b, 42).await;
    // Many calls at once, one call per connection: a second connection opens and joins the group.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let b = b.clone();
        tasks.push(tokio::spawn(async move { get(&b, h).await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 42);
    }
    assert_eq!(server.stats().connections_accepted, 2);
    b.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn dropping_the_last_binding_ends_the_association() {
    let rundowns = Arc::new(AtomicUsize::new(0));
    let (server, text) = start(&rundowns).await;
    let b = Binding::from_string(&text).unwrap();
    let h = open(&b, 5).await;
    assert_eq!(get(&b, h).await.unwrap(), 5);
    let clone = b.clone();
    drop(b);
    // Another handle to the binding keeps the association alive.
    assert_eq!(get(&clone, h).await.unwrap(), 5);
    drop(clone);
    wait_for_a_rundown(&rundowns).await;
    assert_eq!(
        rundowns.load(Ordering::SeqCst),
        1,
        "the association ended with the binding"
    );
    server.shutdown(Duration::from_secs(1)).await;
}
