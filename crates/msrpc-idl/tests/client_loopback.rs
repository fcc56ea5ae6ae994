//! The generated client layer and server adapter end to end, without a network: `Client`
//! encodes each request, a loopback `ClientCall` hands it as an `IncomingCall` to the generated
//! `Service` (an `Interface` of the stand-in runtime), which decodes it, runs the manager (on
//! another thread for synchronous routines, with an `AsyncCall` for `[async]` ones) and answers;
//! the client decodes the reply stub.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use msrpc_ndr::{DataRep, DecodeLimits, NdrString, Stub as _, Syntax};

#[path = "support/rt.rs"]
mod rt;
use rt as codegen;

mod asyncrpc_idl {
    include!("fixtures/shipped/asyncrpc.rs");
}

use asyncrpc_idl::async_rpc::*;
use rt::Interface as _;

/// The manager routines: record what they were asked.
#[derive(Default)]
struct Sample {
    log: Mutex<Vec<String>>,
}

impl Server for Sample {
    fn non_async_func(
        &self,
        _: &rt::IncomingCall,
        req: NonAsyncFuncRequest,
    ) -> Result<NonAsyncFuncResponse, rt::Win32Status> {
        self.log.lock().unwrap().push(req.pszMessage.to_string());
        Ok(NonAsyncFuncResponse {})
    }
    fn async_func(&self, call: rt::AsyncCall<AsyncFuncResponse>, req: AsyncFuncRequest) {
        self.log
            .lock()
            .unwrap()
            .push(format!("delay {}", req.nAsychDelay));
        // Finish later, from another thread; 0 means "abort".
        std::thread::spawn(move || {
            if req.nAsychDelay == 0 {
                call.abort(rt::Win32Status(1818));
            } else {
                call.complete(AsyncFuncResponse {});
            }
        });
    }
    fn shutdown(
        &self,
        _: &rt::IncomingCall,
        _: ShutdownRequest,
    ) -> Result<ShutdownResponse, rt::Win32Status> {
        Err(rt::Win32Status(5))
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

struct Loopback {
    service: Service<Sample>,
    syntax: Syntax,
    rep: DataRep,
}

impl Loopback {
    fn roundtrip(
        &self,
        interface: &'static rt::InterfaceDescriptor,
        opnum: u16,
        stub: Vec<u8>,
    ) -> Result<rt::Reply, CallError> {
        assert_eq!(interface.name, "AsyncRPC");
        assert_eq!(self.service.syntax(), interface.syntax_id());
        let (call, answer) = rt::IncomingCall::new(
            rt::CallInfo {
                opnum,
                syntax: self.syntax,
                drep: self.rep,
            },
            stub,
        );
        self.service.dispatch(call);
        match answer.recv().expect("the call is answered") {
            Ok(stub) => Ok(rt::Reply {
                stub,
                syntax: self.syntax,
                drep: DataRep::LITTLE_ENDIAN,
            }),
            Err(status) => Err(CallError::Fault(status)),
        }
    }
}

impl rt::ClientCall for Loopback {
    type Error = CallError;
    fn call<E>(
        &self,
        interface: &'static rt::InterfaceDescriptor,
        opnum: u16,
        encode: E,
    ) -> impl Future<Output = Result<rt::Reply, CallError>> + Send
    where
        E: FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static,
    {
        let r = encode(self.syntax, self.rep)
            .map_err(CallError::from)
            .and_then(|stub| self.roundtrip(interface, opnum, stub));
        std::future::ready(r)
    }
    fn call_blocking<E>(
        &self,
        interface: &'static rt::InterfaceDescriptor,
        opnum: u16,
        encode: E,
    ) -> Result<rt::Reply, CallError>
    where
        E: FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static,
    {
        let stub = encode(self.syntax, self.rep)?;
        self.roundtrip(interface, opnum, stub)
    }
    fn start<R, E, D>(
        &self,
        state: &rt::AsyncState<R>,
        interface: &'static rt::InterfaceDescriptor,
        opnum: u16,
        encode: E,
        decode: D,
    ) -> impl Future<Output = Result<(), CallError>> + Send
    where
        R: Send + 'static,
        E: FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static,
        D: FnOnce(rt::Reply) -> msrpc_ndr::Result<R> + Send + 'static,
    {
        std::future::ready(self.start_blocking(state, interface, opnum, encode, decode))
    }
    fn start_blocking<R, E, D>(
        &self,
        state: &rt::AsyncState<R>,
        interface: &'static rt::InterfaceDescriptor,
        opnum: u16,
        encode: E,
        decode: D,
    ) -> Result<(), CallError>
    where
        R: Send + 'static,
        E: FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static,
        D: FnOnce(rt::Reply) -> msrpc_ndr::Result<R> + Send + 'static,
    {
        let stub = encode(self.syntax, self.rep)?;
        let outcome = match self.roundtrip(interface, opnum, stub) {
            Ok(reply) => decode(reply).map_err(|e| e.to_string()),
            Err(e) => Err(format!("{e:?}")),
        };
        *state.outcome.lock().unwrap() = Some(outcome);
        Ok(())
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
    let server = Arc::new(Sample::default());
    for (syntax, rep) in [
        (Syntax::Ndr20, DataRep::LITTLE_ENDIAN),
        (Syntax::Ndr64, DataRep::BIG_ENDIAN),
    ] {
        let client = Client(Loopback {
            service: Service(server.clone()),
            syntax,
            rep,
        });
        now(client.non_async_func(NonAsyncFuncRequest {
            pszMessage: NdrString::from("hello"),
        }))
        .unwrap();
        client
            .non_async_func_blocking(NonAsyncFuncRequest {
                pszMessage: NdrString::from("blocking"),
            })
            .unwrap();
        now(client.async_func(AsyncFuncRequest { nAsychDelay: 10000 })).unwrap();
        assert!(matches!(
            now(client.async_func(AsyncFuncRequest { nAsychDelay: 0 })),
            Err(CallError::Fault(1818))
        ));
        let state = rt::AsyncState::default();
        client
            .async_func_start_blocking(&state, AsyncFuncRequest { nAsychDelay: 7 })
            .unwrap();
        assert_eq!(
            state.outcome.lock().unwrap().take(),
            Some(Ok(AsyncFuncResponse {}))
        );
        assert!(matches!(
            now(client.shutdown(ShutdownRequest {})),
            Err(CallError::Fault(5))
        ));
    }
    assert_eq!(
        *server.log.lock().unwrap(),
        [
            "hello",
            "blocking",
            "delay 10000",
            "delay 0",
            "delay 7",
            "hello",
            "blocking",
            "delay 10000",
            "delay 0",
            "delay 7"
        ]
    );
}

#[test]
fn service_faults_bad_stubs_and_unknown_opnums() {
    let service = Service::new(Sample::default());
    assert_eq!(service.operation_count(), 3);
    assert_eq!(service.name(), "AsyncRPC");
    let answer = |opnum: u16, stub: Vec<u8>| {
        let (call, rx) = rt::IncomingCall::new(
            rt::CallInfo {
                opnum,
                syntax: Syntax::Ndr20,
                drep: DataRep::LITTLE_ENDIAN,
            },
            stub,
        );
        service.dispatch(call);
        rx.recv().unwrap()
    };
    // Opnum past the interface: nca_s_op_rng_error.
    assert_eq!(answer(3, vec![]), Err(0x1C01_0002));
    // Trailing bytes (other than up to 7 zero bytes of padding) or a short stub: nca_s_fault_ndr,
    // for sync and [async] operations alike.
    assert_eq!(answer(2, vec![0xAA]), Err(0x6F7));
    assert_eq!(answer(1, vec![1, 0]), Err(0x6F7));
    assert!(service.0.log.lock().unwrap().is_empty(), "no manager ran");
    // The request is decoded under the call's limits (the runtime's `call_limits`): the
    // 6-unit string "hello\0" is 6 bytes of `max_bytes`.
    let stub = NonAsyncFuncRequest {
        pszMessage: NdrString::from("hello"),
    }
    .encode(Syntax::Ndr20, DataRep::LITTLE_ENDIAN)
    .unwrap();
    let limited = |max_bytes: usize| {
        let (call, rx) = rt::IncomingCall::new(
            rt::CallInfo {
                opnum: 0,
                syntax: Syntax::Ndr20,
                drep: DataRep::LITTLE_ENDIAN,
            },
            stub.clone(),
        );
        service.dispatch(call.with_limits(DecodeLimits::default().with_max_bytes(max_bytes)));
        rx.recv().unwrap()
    };
    assert_eq!(limited(5), Err(0x6F7));
    assert!(service.0.log.lock().unwrap().is_empty(), "no manager ran");
    assert!(limited(6).is_ok());
}

/// `Builder::async_server(true)`: the synchronous operations' managers are `async fn`s, and the
/// generated `Service` runs each future to completion (here on the stand-in's thread).
mod async_server {
    use super::rt;
    use msrpc_ndr::{DataRep, NdrString, Stub as _, Syntax};
    use rt::Interface as _;

    mod idl {
        include!("fixtures/async_server/asyncrpc.rs");
    }
    use idl::async_rpc::*;

    struct Sample;

    impl Server for Sample {
        async fn non_async_func(
            &self,
            _: &rt::IncomingCall,
            req: NonAsyncFuncRequest,
        ) -> Result<NonAsyncFuncResponse, rt::Win32Status> {
            // An await point that is not ready at once: the stand-in's executor must be woken.
            let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = done.clone();
            std::thread::spawn(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
            std::future::poll_fn(|cx| {
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    std::task::Poll::Ready(())
                } else {
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
            })
            .await;
            if req.pszMessage.to_string() == "deny" {
                return Err(rt::Win32Status(5));
            }
            Ok(NonAsyncFuncResponse {})
        }
        fn async_func(&self, call: rt::AsyncCall<AsyncFuncResponse>, _: AsyncFuncRequest) {
            call.complete(AsyncFuncResponse {});
        }
        async fn shutdown(
            &self,
            _: &rt::IncomingCall,
            _: ShutdownRequest,
        ) -> Result<ShutdownResponse, rt::Win32Status> {
            Ok(ShutdownResponse {})
        }
    }

    fn call(service: &Service<Sample>, opnum: u16, stub: Vec<u8>) -> rt::Answer {
        let (call, rx) = rt::IncomingCall::new(
            rt::CallInfo {
                opnum,
                syntax: Syntax::Ndr20,
                drep: DataRep::LITTLE_ENDIAN,
            },
            stub,
        );
        service.dispatch(call);
        rx.recv().unwrap()
    }

    #[test]
    fn async_fn_managers_answer_through_the_service() {
        let service = Service::new(Sample);
        let req = |m: &str| {
            NonAsyncFuncRequest {
                pszMessage: NdrString::from(m),
            }
            .encode(Syntax::Ndr20, DataRep::LITTLE_ENDIAN)
            .unwrap()
        };
        assert_eq!(call(&service, 0, req("hello")), Ok(vec![]));
        assert_eq!(call(&service, 0, req("deny")), Err(5));
        assert_eq!(call(&service, 2, vec![]), Ok(vec![]));
        assert_eq!(call(&service, 2, vec![0xAA]), Err(0x6F7));
        assert_eq!(call(&service, 1, vec![1, 0, 0, 0]), Ok(vec![]));
        assert_eq!(call(&service, 9, vec![]), Err(0x1C01_0002));
    }
}
