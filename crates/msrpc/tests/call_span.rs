//! Every call has a `tracing` span on both sides (`rpc_call`, target `msrpc::call`) whose fields
//! name the interface, the opnum, the call id, the association group, the authentication level
//! and, once it ended, the status in words and the duration (docs/runtime.md, "Tracing").
//!
//! One test in this file: the capturing subscriber is the process's global one, because the
//! server's connection task and the client's run on the runtime's worker threads.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use msrpc::server::Server;
use msrpc::{Binding, Win32Status, mgmt};
use msrpc_sample::AsyncRpcHandler;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

type Fields = BTreeMap<String, String>;

/// Keeps the fields of every `rpc_call` span, and hands them over when the span closes.
#[derive(Clone, Default)]
struct Capture {
    closed: Arc<Mutex<Vec<Fields>>>,
}

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.to_string());
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "rpc_call" {
            return;
        }
        let mut f = Fields::new();
        f.insert("target".into(), attrs.metadata().target().into());
        attrs.record(&mut Visitor(&mut f));
        ctx.span(id).unwrap().extensions_mut().insert(f);
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(f) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(&mut Visitor(f));
        }
    }
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && let Some(f) = span.extensions_mut().remove::<Fields>()
        {
            self.closed.lock().unwrap().push(f);
        }
    }
}

struct Quiet;

impl AsyncRpcHandler for Quiet {
    fn non_async_func(&self, _message: &[u8]) {}
    fn shutdown(&self) -> Result<(), Win32Status> {
        Err(Win32Status::ERROR_ACCESS_DENIED)
    }
}

fn find<'a>(all: &'a [Fields], side: &str, opnum: &str) -> Vec<&'a Fields> {
    all.iter()
        .filter(|f| f["side"] == side && f["opnum"] == opnum)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_has_a_span_on_both_sides_with_its_status() {
    let capture = Capture::default();
    tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::DEBUG)
        .with(capture.clone())
        .init();

    let server = Server::builder()
        .interface(Arc::new(msrpc_sample::service(Quiet)))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let b = server.bindings()[0].to_string();
    let binding = Binding::from_string(&b).unwrap();
    // mgmt is_server_listening (opnum 2), through the generated client: answered.
    assert!(mgmt::is_server_listening(&binding).await.unwrap());
    // Opnum 9 of mgmt does not exist: faulted nca_s_op_rng_error before any manager runs.
    let err = binding
        .call(mgmt::MGMT, 9, |_, _| Ok(Vec::new()))
        .await
        .unwrap_err();
    assert_eq!(
        err.status(),
        Win32Status::RPC_S_PROCNUM_OUT_OF_RANGE,
        "{err}"
    );
    binding.close();
    server.shutdown(std::time::Duration::from_secs(2)).await;

    let all = capture.closed.lock().unwrap().clone();
    let server_ok = find(&all, "server", "2");
    assert_eq!(server_ok.len(), 1, "{all:#?}");
    let s = server_ok[0];
    assert_eq!(s["target"], "msrpc::call");
    assert_eq!(s["interface"], "mgmt");
    assert_eq!(s["status"], "ok");
    assert_eq!(s["auth_level"], "none");
    assert!(s["call_id"].parse::<u32>().unwrap() >= 1, "{s:?}");
    assert!(s["assoc_group"].starts_with("0x"), "{s:?}");
    assert!(s.contains_key("duration_us"), "{s:?}");

    let client_ok = find(&all, "client", "2");
    assert_eq!(client_ok.len(), 1, "{all:#?}");
    let c = client_ok[0];
    // The generated stub names its interface; the same call id on both sides.
    assert_eq!(c["interface"], "mgmt");
    assert_eq!(c["status"], "ok");
    assert_eq!(c["call_id"], s["call_id"]);
    assert_eq!(c["assoc_group"], s["assoc_group"]);

    let server_fault = find(&all, "server", "9");
    assert_eq!(server_fault.len(), 1, "{all:#?}");
    assert_eq!(server_fault[0]["interface"], "mgmt");
    assert_eq!(server_fault[0]["status"], "fault nca_s_op_rng_error");
    // A call made by UUID names the interface by its UUID and version.
    let client_fault = find(&all, "client", "9");
    assert_eq!(client_fault.len(), 1, "{all:#?}");
    assert_eq!(client_fault[0]["interface"], mgmt::MGMT.to_string());
    assert_eq!(client_fault[0]["status"], "fault nca_s_op_rng_error");
}
