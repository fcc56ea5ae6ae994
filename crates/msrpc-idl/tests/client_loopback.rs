//! The optional client layer end to end, without a network: `Client` encodes each request, a
//! loopback `ClientCall` hands the stub to the generated `dispatch`, and the client decodes the
//! reply stub.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use msrpc_ndr::{DataRep, NdrString, Syntax};

#[path = "support/rt.rs"]
mod rt;

mod asyncrpc_idl {
    include!("fixtures/client/asyncrpc.rs");
}

use asyncrpc_idl::async_rpc::*;

/// The manager routines: records what they were asked.
#[derive(Default)]
struct Sample {
    log: Mutex<Vec<String>>,
}

impl Server for Sample {
    fn non_async_func(
        &self,
        req: NonAsyncFuncRequest,
    ) -> Result<NonAsyncFuncResponse, rt::Win32Status> {
        self.log.lock().unwrap().push(req.pszMessage.to_string());
        Ok(NonAsyncFuncResponse {})
    }
    fn async_func(&self, req: AsyncFuncRequest) -> Result<AsyncFuncResponse, rt::Win32Status> {
        self.log
            .lock()
            .unwrap()
            .push(format!("delay {}", req.nAsychDelay));
        Ok(AsyncFuncResponse {})
    }
    fn shutdown(&self, _: ShutdownRequest) -> Result<ShutdownResponse, rt::Win32Status> {
        Err(rt::Win32Status(1726))
    }
}

#[derive(Debug)]
#[allow(dead_code)] // the payloads are for Debug output
enum CallError {
    Ndr(msrpc_ndr::Error),
    Fault(u32),
}

impl From<msrpc_ndr::Error> for CallError {
    fn from(e: msrpc_ndr::Error) -> Self {
        CallError::Ndr(e)
    }
}

struct Loopback<'s> {
    server: &'s Sample,
    syntax: Syntax,
    rep: DataRep,
}

impl rt::ClientCall for Loopback<'_> {
    type Error = CallError;
    fn transfer(&self) -> (Syntax, DataRep) {
        (self.syntax, self.rep)
    }
    fn call(
        &self,
        interface: &'static rt::InterfaceDescriptor,
        opnum: u16,
        stub: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, CallError>> + Send {
        assert_eq!(interface.name, "AsyncRPC");
        let reply =
            dispatch(self.server, opnum, &stub, self.syntax, self.rep).map_err(|e| match e {
                rt::DispatchError::Manager(s) => CallError::Fault(s.0),
                other => panic!("{other:?}"),
            });
        std::future::ready(reply)
    }
}

/// Polls a future that is ready at once (the loopback never waits).
fn now<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("loopback call did not complete at once"),
    }
}

#[test]
fn client_calls_reach_the_server_and_back() {
    let server = Sample::default();
    for (syntax, rep) in [
        (Syntax::Ndr20, DataRep::LITTLE_ENDIAN),
        (Syntax::Ndr64, DataRep::BIG_ENDIAN),
    ] {
        let client = Client(Loopback {
            server: &server,
            syntax,
            rep,
        });
        now(client.non_async_func(NonAsyncFuncRequest {
            pszMessage: NdrString::from("hello"),
        }))
        .unwrap();
        now(client.async_func(AsyncFuncRequest { nAsychDelay: 10000 })).unwrap();
        assert!(matches!(
            now(client.shutdown(ShutdownRequest {})),
            Err(CallError::Fault(1726))
        ));
    }
    assert_eq!(
        *server.log.lock().unwrap(),
        ["hello", "delay 10000", "hello", "delay 10000"]
    );
}
