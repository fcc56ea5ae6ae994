//! Stand-in for `msrpc::codegen`: exactly the items generated code may name (see the crate
//! docs), with the same signatures, over an in-memory "wire". Shared by the tests that
//! `include!` the golden files (mounted at `crate::codegen`).
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Mutex;
use std::sync::mpsc;

pub use msrpc_ndr as ndr;
pub use msrpc_ndr::{DecodeLimits, Stub};
pub use uuid::Uuid;

use msrpc_ndr::{DataRep, Syntax, SyntaxId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Win32Status(pub u32);

#[derive(Debug, Clone, Copy)]
pub struct OperationDescriptor {
    pub name: &'static str,
    pub opnum: u16,
    pub is_async: bool,
    pub idempotent: bool,
    pub maybe: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct InterfaceDescriptor {
    pub name: &'static str,
    pub uuid: Uuid,
    pub version: (u16, u16),
    pub operations: &'static [OperationDescriptor],
}

impl InterfaceDescriptor {
    pub const fn syntax_id(&self) -> SyntaxId {
        SyntaxId::new(self.uuid, self.version.0, self.version.1)
    }
}

#[derive(Debug)]
pub enum DispatchError {
    UnknownOpnum(u16),
    Decode(msrpc_ndr::Error),
    Encode(msrpc_ndr::Error),
    Manager(Win32Status),
}

// ---- server side ------------------------------------------------------------------------------

/// What a call ends with on the in-memory wire: a reply stub or a fault status.
pub type Answer = Result<Vec<u8>, u32>;

pub struct CallInfo {
    pub opnum: u16,
    pub syntax: Syntax,
    pub drep: DataRep,
}

pub struct IncomingCall {
    info: CallInfo,
    stub: Vec<u8>,
    answer: mpsc::Sender<Answer>,
    limits: DecodeLimits,
}

impl IncomingCall {
    pub fn new(info: CallInfo, stub: Vec<u8>) -> (Self, mpsc::Receiver<Answer>) {
        let (answer, rx) = mpsc::channel();
        let limits = DecodeLimits::default();
        (
            IncomingCall {
                info,
                stub,
                answer,
                limits,
            },
            rx,
        )
    }
    /// Decodes this call's request under `limits` instead of the defaults.
    pub fn with_limits(mut self, limits: DecodeLimits) -> Self {
        self.limits = limits;
        self
    }
    pub fn info(&self) -> &CallInfo {
        &self.info
    }
    pub fn stub(&self) -> &[u8] {
        &self.stub
    }
    pub fn reply(self, stub: Vec<u8>) {
        let _ = self.answer.send(Ok(stub));
    }
    pub fn fault(self, status: u32) {
        let _ = self.answer.send(Err(status));
    }
}

pub trait Interface: Send + Sync + 'static {
    fn syntax(&self) -> SyntaxId;
    fn name(&self) -> &str;
    fn operation_count(&self) -> u16;
    fn dispatch(&self, call: IncomingCall) -> Dispatch;
}

/// What `dispatch` did: this mock answers every call through its channel, so always deferred.
#[derive(Debug)]
pub enum Dispatch {
    Deferred,
}

pub struct AsyncCall<R> {
    call: IncomingCall,
    _reply: std::marker::PhantomData<fn(R)>,
}

impl<R: Stub> AsyncCall<R> {
    pub fn new(call: IncomingCall) -> Self {
        AsyncCall {
            call,
            _reply: std::marker::PhantomData,
        }
    }
    pub fn complete(self, reply: R) {
        match encode_reply(&reply, self.call.info.syntax) {
            Ok(stub) => self.call.reply(stub),
            Err(_) => self.call.fault(0x6F7),
        }
    }
    pub fn abort(self, status: Win32Status) {
        self.call.fault(status.0);
    }
}

/// Where a synchronous manager runs (what the generated `Server::accept` returns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOn {
    Pool,
    ConnectionTask,
}

/// A call the generated `Server::accept` refused.
pub fn refuse(call: IncomingCall, status: Win32Status) -> Dispatch {
    call.fault(status.0);
    Dispatch::Deferred
}

pub fn fault(call: IncomingCall, err: DispatchError) {
    call.fault(match err {
        DispatchError::UnknownOpnum(_) => 0x1C01_0002,
        DispatchError::Decode(_) | DispatchError::Encode(_) => 0x6F7,
        DispatchError::Manager(s) => s.0,
    });
}

/// Replies go out little-endian, as the runtime's do.
pub fn encode_reply<T: Stub>(reply: &T, syntax: Syntax) -> msrpc_ndr::Result<Vec<u8>> {
    reply.encode(syntax, DataRep::LITTLE_ENDIAN)
}

pub type StubInput<'a> = (&'a [u8], Syntax, DataRep, DecodeLimits);

pub fn dispatch_op<Req: Stub, Resp: Stub>(
    (stub, syntax, rep, limits): StubInput<'_>,
    manager: impl FnOnce(Req) -> Result<Resp, Win32Status>,
) -> Result<Vec<u8>, DispatchError> {
    let req = Req::decode_with_limits(stub, syntax, rep, limits).map_err(DispatchError::Decode)?;
    let resp = manager(req).map_err(DispatchError::Manager)?;
    encode_reply(&resp, syntax).map_err(DispatchError::Encode)
}

pub async fn dispatch_op_future<Req: Stub, Resp: Stub, Fut>(
    (stub, syntax, rep, limits): StubInput<'_>,
    manager: impl FnOnce(Req) -> Fut,
) -> Result<Vec<u8>, DispatchError>
where
    Fut: Future<Output = Result<Resp, Win32Status>>,
{
    let req = Req::decode_with_limits(stub, syntax, rep, limits).map_err(DispatchError::Decode)?;
    let resp = manager(req).await.map_err(DispatchError::Manager)?;
    encode_reply(&resp, syntax).map_err(DispatchError::Encode)
}

/// The limits a call's request is decoded under (a test may set them per call).
pub fn call_limits(call: &IncomingCall) -> DecodeLimits {
    call.limits
}

pub fn decode_reply<T: Stub>(reply: &Reply) -> msrpc_ndr::Result<T> {
    T::decode(&reply.stub, reply.syntax, reply.drep)
}

/// Like `serve_blocking`, handing `f` the call (managers that take it: context handles, `handle_t`).
pub fn serve_blocking_call<F>(call: IncomingCall, run: RunOn, f: F) -> Dispatch
where
    F: FnOnce(
            &IncomingCall,
            u16,
            &[u8],
            Syntax,
            DataRep,
            DecodeLimits,
        ) -> Result<Vec<u8>, DispatchError>
        + Send
        + 'static,
{
    let serve = move || {
        let (opnum, syntax, drep) = (call.info.opnum, call.info.syntax, call.info.drep);
        match f(&call, opnum, &call.stub, syntax, drep, call.limits) {
            Ok(stub) => call.reply(stub),
            Err(e) => fault(call, e),
        }
    };
    match run {
        RunOn::ConnectionTask => serve(),
        RunOn::Pool => drop(std::thread::spawn(serve)),
    }
    Dispatch::Deferred
}

/// Runs the manager on its own thread (the runtime uses tokio's blocking pool), or at once for
/// `RunOn::ConnectionTask`.
pub fn serve_blocking<F>(call: IncomingCall, run: RunOn, f: F) -> Dispatch
where
    F: FnOnce(u16, &[u8], Syntax, DataRep, DecodeLimits) -> Result<Vec<u8>, DispatchError>
        + Send
        + 'static,
{
    serve_blocking_call(call, run, move |_, opnum, stub, syntax, rep, limits| {
        f(opnum, stub, syntax, rep, limits)
    })
}

/// Runs the manager's future to completion on its own thread (the runtime spawns a task).
pub fn serve_future<F, Fut>(call: IncomingCall, f: F) -> Dispatch
where
    F: FnOnce(u16, Vec<u8>, Syntax, DataRep, DecodeLimits) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, DispatchError>> + Send + 'static,
{
    let (opnum, syntax, drep) = (call.info.opnum, call.info.syntax, call.info.drep);
    let fut = f(opnum, call.stub.clone(), syntax, drep, call.limits);
    std::thread::spawn(move || match block_on(fut) {
        Ok(stub) => call.reply(stub),
        Err(e) => fault(call, e),
    });
    Dispatch::Deferred
}

pub type CallFuture<'c> =
    std::pin::Pin<Box<dyn Future<Output = Result<Vec<u8>, DispatchError>> + Send + 'c>>;

/// Runs a future that borrows the call to completion on its own thread.
pub fn serve_future_call<F>(call: IncomingCall, f: F) -> Dispatch
where
    F: for<'c> FnOnce(
            &'c IncomingCall,
            u16,
            &'c [u8],
            Syntax,
            DataRep,
            DecodeLimits,
        ) -> CallFuture<'c>
        + Send
        + 'static,
{
    std::thread::spawn(move || {
        let (opnum, syntax, drep) = (call.info.opnum, call.info.syntax, call.info.drep);
        let r = block_on(f(&call, opnum, &call.stub, syntax, drep, call.limits));
        match r {
            Ok(stub) => call.reply(stub),
            Err(e) => fault(call, e),
        }
    });
    Dispatch::Deferred
}

/// A minimal executor: polls until ready, parking in between.
pub fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

pub fn serve_async<Req: Stub, Resp: Stub>(
    call: IncomingCall,
    manager: impl FnOnce(AsyncCall<Resp>, Req),
) -> Dispatch {
    match Req::decode_with_limits(&call.stub, call.info.syntax, call.info.drep, call.limits) {
        Ok(req) => manager(AsyncCall::new(call), req),
        Err(e) => fault(call, DispatchError::Decode(e)),
    }
    Dispatch::Deferred
}

// ---- client side ------------------------------------------------------------------------------

pub struct Reply {
    pub stub: Vec<u8>,
    pub syntax: Syntax,
    pub drep: DataRep,
}

/// Holds the outcome of a call started with `call_async`.
pub struct AsyncState<R> {
    pub outcome: Mutex<Option<Result<R, String>>>,
}

impl<R> Default for AsyncState<R> {
    fn default() -> Self {
        AsyncState {
            outcome: Mutex::new(None),
        }
    }
}

/// What the generated client layer calls.
pub trait ClientCall {
    type Error: From<msrpc_ndr::Error>;
    fn call<E>(
        &self,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        encode: E,
    ) -> impl Future<Output = Result<Reply, Self::Error>> + Send
    where
        E: FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static;
    fn call_blocking<E>(
        &self,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        encode: E,
    ) -> Result<Reply, Self::Error>
    where
        E: FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static;
    fn start<R, E, D>(
        &self,
        state: &AsyncState<R>,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        encode: E,
        decode: D,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send
    where
        R: Send + 'static,
        E: FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static,
        D: FnOnce(Reply) -> msrpc_ndr::Result<R> + Send + 'static;
    fn start_blocking<R, E, D>(
        &self,
        state: &AsyncState<R>,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        encode: E,
        decode: D,
    ) -> Result<(), Self::Error>
    where
        R: Send + 'static,
        E: FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static,
        D: FnOnce(Reply) -> msrpc_ndr::Result<R> + Send + 'static;
}

/// What a call of an operation with ACF `[comm_status]`/`[fault_status]` ends with (the
/// runtime's has the same variants).
#[derive(Debug, Clone, PartialEq)]
pub enum StatusOutcome<R> {
    Reply(R),
    Status(Win32Status),
}

/// Errors that can stand for `[comm_status]`/`[fault_status]` values (the runtime's signature).
pub trait StatusError {
    fn covered_status(&self, comm: bool, fault: bool) -> Option<Win32Status>;
}

// ---- client context handles ---------------------------------------------------------------------

/// A context handle refused before a call (the runtime's has the same fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextRefused {
    pub operation: &'static str,
    pub parameter: &'static str,
    /// true: closed; false: null.
    pub closed: bool,
}

/// A handle value and the binding it came back on; clones share the closed flag.
#[derive(Debug)]
pub struct ClientContext<B> {
    inner: std::sync::Arc<(
        msrpc_ndr::ContextHandle,
        Option<B>,
        std::sync::atomic::AtomicBool,
    )>,
}

impl<B> Clone for ClientContext<B> {
    fn clone(&self) -> Self {
        ClientContext {
            inner: self.inner.clone(),
        }
    }
}

impl<B> ClientContext<B> {
    pub fn new(handle: msrpc_ndr::ContextHandle, binding: B) -> Self {
        ClientContext {
            inner: std::sync::Arc::new((handle, Some(binding), Default::default())),
        }
    }
    pub fn null() -> Self {
        ClientContext {
            inner: std::sync::Arc::new((msrpc_ndr::ContextHandle::NULL, None, Default::default())),
        }
    }
    pub fn handle(&self) -> msrpc_ndr::ContextHandle {
        self.inner.0
    }
    pub fn binding(&self) -> Option<&B> {
        self.inner.1.as_ref()
    }
    pub fn is_closed(&self) -> bool {
        self.inner.2.load(std::sync::atomic::Ordering::SeqCst)
    }
    pub fn check_in(
        &self,
        operation: &'static str,
        parameter: &'static str,
        in_out: bool,
    ) -> Result<(), ContextRefused> {
        let closed = self.is_closed();
        if closed || (self.inner.0.is_null() && !in_out) {
            return Err(ContextRefused {
                operation,
                parameter,
                closed,
            });
        }
        Ok(())
    }
    pub fn route<'a>(ctxs: &[&'a ClientContext<B>]) -> Option<&'a B> {
        ctxs.iter()
            .filter(|c| !c.inner.0.is_null() && !c.is_closed())
            .find_map(|c| c.binding())
    }
    pub fn returned(
        handle: msrpc_ndr::ContextHandle,
        association: &B,
        input: Option<&ClientContext<B>>,
    ) -> Self
    where
        B: Clone,
    {
        if let Some(input) = input {
            if input.handle() == handle && !handle.is_null() {
                return input.clone();
            }
            input
                .inner
                .2
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        ClientContext::new(handle, association.clone())
    }
}

/// What the generated methods of context-handle operations need of a binding handle.
pub trait ContextCall: ClientCall<Error: From<ContextRefused>> {
    type Association: ClientCall<Error = Self::Error> + Clone + Send + Sync + 'static;
    fn association(&self) -> Self::Association;
}
