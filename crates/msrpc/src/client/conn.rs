//! One client connection: a task that owns a [`msrpc_proto::ClientConnection`] and its transport, and
//! the handle callers use to bind interfaces and start calls on it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, trace};

use super::{BindingOptions, Reply};
use crate::error::{BindRejection, Error, Initiator, Result};
use crate::notify::CancelMode;
use crate::trace::{CallSpan, call_span, fault_words, level_words, win32_words};
use crate::transport::{Address, Outbox, Stream};
use msrpc_ndr::Syntax;
use msrpc_proto::{
    ClientConfig, ClientConnection, ClientEvent, ConnectionError, Execution, IdMap, SyntaxId,
    Win32Status,
};

/// Where the answer to a bind or alter_context goes: the context id and its transfer syntax.
type BindReply = oneshot::Sender<Result<(u16, Syntax)>>;

/// Where a call's outcome goes. The connection task hands the reply's bytes (or the reason the
/// call failed) to the sink and is done with the call: decoding is the caller's, on the caller's
/// thread, so a large reply never holds up the other calls on the connection.
pub(crate) trait CallSink: Send + 'static {
    /// The call ended: its undecoded reply, or why it failed.
    fn complete(self: Box<Self>, outcome: Result<Reply>);
    /// The call was never made (the connection was gone before it took the request): undo
    /// whatever the sink set up, without any notification.
    fn not_started(self: Box<Self>);
}

/// A call's sink: the oneshot of a future or a blocked thread held as it is (no box per call),
/// or any other sink (an async handle's) boxed.
pub(crate) enum Sink {
    /// `Binding::call` and `call_blocking`.
    Reply(oneshot::Sender<Result<Reply>>),
    /// The others.
    Boxed(Box<dyn CallSink>),
}

impl Sink {
    fn complete(self, outcome: Result<Reply>) {
        match self {
            Sink::Reply(tx) => {
                let _ = tx.send(outcome);
            }
            Sink::Boxed(s) => s.complete(outcome),
        }
    }

    /// See [`CallSink::not_started`].
    pub(crate) fn not_started(self) {
        if let Sink::Boxed(s) = self {
            s.not_started();
        }
    }
}

enum Command {
    Bind {
        iface: SyntaxId,
        reply: oneshot::Sender<Result<(u16, Syntax)>>,
    },
    Call {
        local: u64,
        ctx: u16,
        /// The interface, and its IDL name when a generated stub made the call (for the span).
        iface: (SyntaxId, Option<&'static str>),
        opnum: u16,
        object: Option<uuid::Uuid>,
        stub: Vec<u8>,
        /// The binding's call timeout: the task cancels the call when it runs out.
        timeout: Option<Duration>,
        sink: Sink,
    },
    Cancel {
        local: u64,
        abortive: bool,
    },
    /// Close now; calls in progress fail.
    Close,
    /// Close once the calls in progress are answered; start no new ones.
    Drain,
    /// Bytes wait on a parked connection's socket that no call asked for (a `shutdown` PDU, a
    /// late answer): read them before parking again.
    Wake,
}

/// How long a blocking caller doing its own I/O reads before it looks whether the connection's
/// task wants the connection back (a command came: another call, a cancel, a bind, a close).
/// A command waits at most this long behind a blocking call in flight. Default 2 ms.
pub(crate) const CALLER_IO_SLICE: Duration = Duration::from_millis(2);

/// The read buffer of a blocking caller doing its own I/O (made once per connection, on its
/// first blocking call). 16 KiB.
const CALLER_IO_READ: usize = 16 * 1024;

/// The largest request stub a blocking caller writes itself. Its write then fits in the send
/// buffer of a socket with nothing in flight (Linux gives at least 4 KiB, 16 KiB by default), so
/// it never blocks on a server that stops reading, where neither the call timeout nor a command
/// could interrupt it; a larger request goes through the task, whose writes wait asynchronously.
/// Default 2 KiB.
pub(crate) const CALLER_IO_MAX_STUB: usize = 2 * 1024;

/// What a parked connection task lends a blocking caller (docs/runtime.md, "The blocking call
/// and its thread hand-offs"): the protocol core, a duplicate of the TCP socket's descriptor,
/// and the caller's buffers. The task holds it by value whenever it is not parked.
///
/// The socket is in blocking mode for as long as the task is parked (switched once when it
/// parks and once when it takes the core back, not twice per call: the two descriptors share
/// one file description, and the task reads and writes nothing while parked).
pub(crate) struct Direct {
    conn: ClientConnection,
    sock: std::net::TcpStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// The read timeout last set on the socket (set again only when a call needs another).
    slice: Option<Duration>,
    /// A call the caller began and handed back to the task unfinished.
    handoff: Option<(u32, Pending)>,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct")
            .field("handoff", &self.handoff.as_ref().map(|(id, _)| *id))
            .finish_non_exhaustive()
    }
}

/// A blocking caller's hold on a parked connection: on every way out (panics included) the
/// core goes back to the parking place (its socket still blocking), and the task is told.
struct Borrowed<'a> {
    shared: &'a Shared,
    d: Option<Direct>,
}

impl Borrowed<'_> {
    fn d(&mut self) -> &mut Direct {
        self.d.as_mut().expect("held until dropped")
    }
}

impl Drop for Borrowed<'_> {
    fn drop(&mut self) {
        if let Some(d) = self.d.take() {
            *self.shared.direct.lock().unwrap_or_else(|p| p.into_inner()) = Some(d);
            self.shared.returned.notify_one();
        }
    }
}

/// How a blocking caller's attempt at its own I/O ended.
pub(crate) enum DirectCall {
    /// The call ended on the calling thread.
    Done(Result<Reply>),
    /// The task had a command meanwhile: the call is the task's now; its outcome comes here.
    HandedOff(oneshot::Receiver<Result<Reply>>),
    /// The connection was not parked: make the call the task's way.
    NotTaken(Vec<u8>),
}

#[derive(Debug)]
struct Shared {
    in_progress: AtomicUsize,
    usable: AtomicBool,
    assoc_group: AtomicU32,
    next_local: AtomicU64,
    contexts: Mutex<HashMap<SyntaxId, (u16, Syntax)>>,
    bind_lock: tokio::sync::Mutex<()>,
    /// What the SMB layer negotiated, on a named pipe.
    smb: Option<crate::transport::SmbInfo>,
    /// The binding's limits, handed to each reply.
    decode_limits: msrpc_ndr::DecodeLimits,
    /// The authentication level of the connection's calls, for their spans.
    auth_level: &'static str,
    /// A TCP connection whose blocking callers may do their own I/O while its task is parked.
    direct_ok: bool,
    /// The parked task's core and socket, while no caller holds them.
    direct: Mutex<Option<Direct>>,
    /// Set before every command is sent: the task wants the connection back.
    want: AtomicBool,
    /// A caller gave the core back.
    returned: tokio::sync::Notify,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Bind { iface, .. } => write!(f, "Bind({iface:?})"),
            Command::Call { local, opnum, .. } => write!(f, "Call({local}, opnum {opnum})"),
            Command::Cancel { local, abortive } => {
                write!(f, "Cancel({local}, abortive {abortive})")
            }
            Command::Close => write!(f, "Close"),
            Command::Drain => write!(f, "Drain"),
            Command::Wake => write!(f, "Wake"),
        }
    }
}

/// A handle to one connection of a binding's pool.
#[derive(Clone, Debug)]
pub(crate) struct ConnHandle {
    shared: Arc<Shared>,
    /// Held by handles only, never by the connection's task: when the last handle (pool entry,
    /// pending call, canceller) is gone, the task sees its command channel close and ends.
    cmd: mpsc::UnboundedSender<Command>,
}

impl ConnHandle {
    /// Connects and starts the connection's task. `assoc_group` 0 asks the server for a new group.
    pub(crate) async fn connect(
        addr: Address,
        options: BindingOptions,
        assoc_group: u32,
        rt: &Handle,
    ) -> Result<ConnHandle> {
        let (stream, smb) = Stream::connect_with(&addr, &options).await?;
        // A duplicate of a TCP socket's descriptor, for blocking callers' own I/O.
        let direct_sock = match &stream {
            Stream::Tcp(t) if options.blocking_io_on_caller && super::caller_io_enabled() => {
                use std::os::fd::AsFd;
                t.as_fd()
                    .try_clone_to_owned()
                    .ok()
                    .map(std::net::TcpStream::from)
            }
            _ => None,
        };
        let mut cfg = ClientConfig::default();
        cfg.max_xmit_frag = stream.max_fragment(&options);
        cfg.max_recv_frag = cfg.max_xmit_frag;
        cfg.max_response_size = options.max_response_size;
        cfg.assoc_group = assoc_group;
        cfg.keep_connection_on_orphan = options.keep_connection_on_orphan;
        cfg.transfer_syntaxes = if options.offer_ndr64 {
            vec![SyntaxId::NDR20, SyntaxId::NDR64]
        } else {
            vec![SyntaxId::NDR20]
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            in_progress: AtomicUsize::new(0),
            usable: AtomicBool::new(true),
            assoc_group: AtomicU32::new(assoc_group),
            next_local: AtomicU64::new(1),
            contexts: Mutex::new(HashMap::new()),
            bind_lock: tokio::sync::Mutex::new(()),
            smb,
            decode_limits: options.decode_limits,
            auth_level: level_words(
                options
                    .auth
                    .as_ref()
                    .map(|a| a.level.effective())
                    .filter(|l| *l > crate::auth::AuthnLevel::None),
            ),
            direct_ok: direct_sock.is_some(),
            direct: Mutex::new(None),
            want: AtomicBool::new(false),
            returned: tokio::sync::Notify::new(),
        });
        let mut conn = ClientConnection::new(cfg);
        if let Some(auth) = options
            .auth
            .as_ref()
            .filter(|a| a.level > crate::auth::AuthnLevel::None)
        {
            let id = NEXT_AUTH_CONTEXT.fetch_add(1, Ordering::Relaxed);
            let auth = auth.clone();
            // The first leg may talk to a KDC (Kerberos): run it off the async runtime.
            let primed = tokio::task::spawn_blocking(move || {
                crate::auth::Primed::new(auth.client_context(id)?)
            })
            .await
            .map_err(|e| Error::status_msg(Win32Status::RPC_S_INTERNAL_ERROR, e.to_string()))?;
            let primed =
                primed.map_err(|e| Error::status_msg(auth_status(e.kind), e.to_string()))?;
            let ctx: Box<dyn msrpc_proto::auth::SecurityContext> = Box::new(primed);
            conn.set_security(ctx).map_err(|e| Error::Protocol {
                initiator: Initiator::Local,
                reason: e.to_string(),
            })?;
        }
        // Schannel counts one sequence for both directions ([MS-NRPC] 3.3.1): a request sent
        // while another call's response is on its way would cross it and neither would verify.
        // Such a connection carries one call at a time; later calls wait in its task.
        let lockstep = options
            .auth
            .as_ref()
            .is_some_and(|a| a.service == crate::auth::AuthnService::Netlogon);
        rt.spawn(run(conn, stream, direct_sock, rx, shared.clone(), lockstep));
        Ok(ConnHandle { shared, cmd: tx })
    }

    /// Whether new calls may go to this connection. A parked connection's task is not reading,
    /// so this looks at its socket (one `recv` with `MSG_PEEK`): a server that closed it while
    /// idle makes it unusable, as the reading task would have; bytes nobody asked for wake the
    /// task to read them.
    pub(crate) fn is_usable(&self) -> bool {
        if !self.shared.usable.load(Ordering::Acquire) {
            return false;
        }
        if self.shared.direct_ok
            && let Ok(g) = self.shared.direct.try_lock()
            && let Some(d) = g.as_ref()
        {
            // The parked socket is blocking: a peek that must not wait says so itself.
            let mut b = [std::mem::MaybeUninit::<u8>::uninit(); 1];
            match socket2::SockRef::from(&d.sock)
                .recv_with_flags(&mut b, libc::MSG_PEEK | libc::MSG_DONTWAIT)
            {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Ok(0) | Err(_) => {
                    drop(g);
                    self.shared.usable.store(false, Ordering::Release);
                    self.close();
                    return false;
                }
                Ok(_) => {
                    drop(g);
                    let _ = self.send(Command::Wake);
                }
            }
        }
        true
    }

    pub(crate) fn calls_in_progress(&self) -> usize {
        self.shared.in_progress.load(Ordering::Acquire)
    }

    /// What the SMB layer of a named-pipe connection negotiated.
    pub(crate) fn smb_info(&self) -> Option<&crate::transport::SmbInfo> {
        self.shared.smb.as_ref()
    }

    pub(crate) fn assoc_group(&self) -> u32 {
        self.shared.assoc_group.load(Ordering::Acquire)
    }

    pub(crate) fn close(&self) {
        let _ = self.send(Command::Close);
    }

    /// Closes the connection once its calls in progress are answered.
    pub(crate) fn drain(&self) {
        let _ = self.send(Command::Drain);
    }

    /// The negotiated transfer syntax for `iface`, binding (or altering the context) first if needed.
    pub(crate) async fn ensure_context(&self, iface: SyntaxId) -> Result<Syntax> {
        if let Some((_, s)) = self.context(&iface) {
            return Ok(s);
        }
        let _guard = self.shared.bind_lock.lock().await;
        if let Some((_, s)) = self.context(&iface) {
            return Ok(s);
        }
        let (tx, rx) = oneshot::channel();
        self.send(Command::Bind { iface, reply: tx })?;
        let (ctx, syntax) = rx.await.unwrap_or_else(|_| Err(connection_gone()))?;
        self.shared
            .contexts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(iface, (ctx, syntax));
        Ok(syntax)
    }

    /// The context id and transfer syntax `iface` is bound with on this connection, if it is.
    pub(crate) fn context(&self, iface: &SyntaxId) -> Option<(u16, Syntax)> {
        self.shared
            .contexts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(iface)
            .copied()
    }

    /// Every command goes through here or `start_call_owned`: the flag first, so that a caller
    /// about to do its own I/O sees that the task has work, and a parked task is taken back.
    fn send(&self, cmd: Command) -> Result<()> {
        self.shared.want.store(true, Ordering::SeqCst);
        self.cmd.send(cmd).map_err(|_| connection_gone())
    }

    /// A blocking call on the calling thread, when this connection's task is parked (no call in
    /// progress, no command waiting): the request is written and its answer read here, through
    /// the same core, instead of two hand-offs each way. When a command comes meanwhile, the
    /// call is handed to the task unfinished and its outcome comes as a task's call's does.
    pub(crate) fn call_direct(
        &self,
        (iface, name): (SyntaxId, Option<&'static str>),
        opnum: u16,
        object: Option<uuid::Uuid>,
        stub: Vec<u8>,
        timeout: Option<Duration>,
    ) -> DirectCall {
        let shared = &*self.shared;
        if !shared.direct_ok
            || stub.len() > CALLER_IO_MAX_STUB
            || shared.want.load(Ordering::SeqCst)
        {
            return DirectCall::NotTaken(stub);
        }
        let Some((ctx, _)) = self.context(&iface) else {
            return DirectCall::NotTaken(stub);
        };
        let taken = shared
            .direct
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(d) = taken else {
            return DirectCall::NotTaken(stub);
        };
        let mut b = Borrowed { shared, d: Some(d) };
        // A command sent just before the core was taken: the task comes first.
        if shared.want.load(Ordering::SeqCst) {
            return DirectCall::NotTaken(stub);
        }
        let id = match b.d().conn.start_call(ctx, opnum, object, stub) {
            Ok(id) => id,
            Err(e) => {
                return DirectCall::Done(Err(Error::status_msg(
                    Win32Status::RPC_S_CALL_FAILED_DNE,
                    e,
                )));
            }
        };
        shared.in_progress.fetch_add(1, Ordering::AcqRel);
        let span = call_span!(
            "client",
            InterfaceName((iface, name)),
            opnum,
            id,
            shared.assoc_group.load(Ordering::Relaxed),
            shared.auth_level
        );
        let deadline = timeout.map(|t| (Instant::now() + t, t));
        let d = b.d();
        let mut outcome: Option<Result<Reply>> = None;
        flush(d);
        loop {
            while let Some(ev) = d.conn.poll_event() {
                match ev {
                    ClientEvent::Response {
                        call_id,
                        stub,
                        syntax,
                        drep,
                        ..
                    } if call_id == id => {
                        outcome = Some(Ok(Reply {
                            stub: Vec::from(stub),
                            syntax,
                            drep,
                            limits: shared.decode_limits,
                        }));
                    }
                    ClientEvent::Fault {
                        call_id,
                        status,
                        execution,
                        ..
                    } if call_id == id => {
                        outcome = Some(Err(Error::fault(status, execution)));
                    }
                    ClientEvent::Shutdown => shared.usable.store(false, Ordering::Release),
                    ClientEvent::Closed { error, .. } => {
                        shared.usable.store(false, Ordering::Release);
                        debug!(?error, "client connection closed");
                        outcome = Some(Err(Error::Connection {
                            status: connection_status(&error),
                            initiator: error.initiator(),
                            cause: error,
                        }));
                    }
                    other => trace!(?other, "client event"),
                }
            }
            if outcome.is_none() && d.conn.is_closed() {
                shared.usable.store(false, Ordering::Release);
                outcome = Some(Err(connection_gone()));
            }
            if outcome.is_some() {
                break;
            }
            if shared.want.load(Ordering::SeqCst) {
                // The task has work: the call becomes one of its calls, as `start_call` makes.
                let (tx, rx) = oneshot::channel();
                let local = shared.next_local.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                let deadline = deadline.map(|(at, t)| {
                    let left = at.saturating_duration_since(now);
                    (tokio::time::Instant::now() + left, t)
                });
                d.handoff = Some((
                    id,
                    Pending {
                        local,
                        sink: Sink::Reply(tx),
                        span,
                        deadline,
                    },
                ));
                return DirectCall::HandedOff(rx);
            }
            let mut want_slice = CALLER_IO_SLICE;
            if let Some((at, t)) = deadline {
                let now = Instant::now();
                if now >= at {
                    // The call timeout ran out: orphan the call, as the task does.
                    let _ = d.conn.orphan(id);
                    flush(d);
                    outcome = Some(Err(Error::CallTimeout(t)));
                    break;
                }
                // (A zero read timeout is refused: at least 1 ms, so the timeout may end that late.)
                want_slice = want_slice.min(at - now).max(Duration::from_millis(1));
            }
            if d.slice != Some(want_slice) {
                let _ = d.sock.set_read_timeout(Some(want_slice));
                d.slice = Some(want_slice);
            }
            let Direct {
                sock, rbuf, conn, ..
            } = &mut *d;
            if rbuf.is_empty() {
                // Made on a connection's first blocking call, not for every connection.
                rbuf.resize(CALLER_IO_READ, 0);
            }
            match sock.read(rbuf) {
                Ok(0) => conn.handle_transport_closed(),
                Ok(n) => conn.handle_bytes(Instant::now(), &rbuf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => conn.handle_transport_closed(),
            }
        }
        let r = outcome.expect("the loop ends with an outcome");
        shared.in_progress.fetch_sub(1, Ordering::AcqRel);
        span.end(|| outcome_words(&r));
        drop(b);
        DirectCall::Done(r)
    }

    /// Queues a call; its request goes out as soon as the transport takes it, and its outcome goes
    /// to `sink`. On an error the call was never made, and the sink is handed back untouched.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_call(
        &self,
        iface: (SyntaxId, Option<&'static str>),
        opnum: u16,
        object: Option<uuid::Uuid>,
        stub: Vec<u8>,
        timeout: Option<Duration>,
        sink: Sink,
    ) -> std::result::Result<Canceller, (Error, Sink)> {
        self.clone()
            .start_call_owned(iface, opnum, object, stub, timeout, sink)
    }

    /// [`ConnHandle::start_call`], the handle moved into the call's canceller (no clone of its
    /// `Arc` and channel sender per call).
    pub(crate) fn start_call_owned(
        self,
        (iface, name): (SyntaxId, Option<&'static str>),
        opnum: u16,
        object: Option<uuid::Uuid>,
        stub: Vec<u8>,
        timeout: Option<Duration>,
        sink: Sink,
    ) -> std::result::Result<Canceller, (Error, Sink)> {
        let Some((ctx, _)) = self.context(&iface) else {
            let e = Error::status_msg(Win32Status::RPC_S_INTERNAL_ERROR, "interface not bound");
            return Err((e, sink));
        };
        let local = self.shared.next_local.fetch_add(1, Ordering::Relaxed);
        self.shared.in_progress.fetch_add(1, Ordering::AcqRel);
        self.shared.want.store(true, Ordering::SeqCst);
        let cmd = Command::Call {
            local,
            ctx,
            iface: (iface, name),
            opnum,
            object,
            stub,
            timeout,
            sink,
        };
        if let Err(mpsc::error::SendError(cmd)) = self.cmd.send(cmd) {
            self.shared.in_progress.fetch_sub(1, Ordering::AcqRel);
            let Command::Call { sink, .. } = cmd else {
                unreachable!("the command sent was a call")
            };
            return Err((connection_gone(), sink));
        }
        Ok(Canceller { conn: self, local })
    }
}

/// How a client call ended, in words, for its span.
fn outcome_words(r: &Result<Reply>) -> std::borrow::Cow<'static, str> {
    match r {
        Ok(_) => "ok".into(),
        Err(Error::Fault { status, .. }) => fault_words(*status),
        Err(Error::CallTimeout(_)) => "timed out".into(),
        Err(Error::Cancelled { .. }) => "cancelled".into(),
        Err(e) => win32_words(e.status()),
    }
}

/// An interface for a span: its IDL name when known, else its UUID and version.
struct InterfaceName((SyntaxId, Option<&'static str>));

impl std::fmt::Display for InterfaceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            (_, Some(name)) => f.write_str(name),
            (id, None) => write!(f, "{id}"),
        }
    }
}

/// `auth_context_id`s of this process's client connections (any value is valid; distinct ones make
/// captures easier to read).
static NEXT_AUTH_CONTEXT: std::sync::atomic::AtomicU32 =
    std::sync::atomic::AtomicU32::new(0x4d53_0001);

/// The status a caller sees when its connection ended for `e`.
fn connection_status(e: &ConnectionError) -> Win32Status {
    match e {
        ConnectionError::Protocol {
            error: msrpc_proto::Error::Security(a),
            ..
        } => auth_status(a.kind),
        _ => Win32Status::RPC_S_COMM_FAILURE,
    }
}

/// The status a caller sees for a security failure of this kind.
fn auth_status(kind: msrpc_proto::auth::AuthFailure) -> Win32Status {
    use msrpc_proto::auth::AuthFailure;
    match kind {
        AuthFailure::LogonFailure => Win32Status::ERROR_ACCESS_DENIED,
        AuthFailure::Unsupported => Win32Status::RPC_S_UNKNOWN_AUTHN_SERVICE,
        _ => Win32Status::RPC_S_SEC_PKG_ERROR,
    }
}

pub(crate) fn connection_gone() -> Error {
    Error::Connection {
        status: Win32Status::RPC_S_COMM_FAILURE,
        initiator: Initiator::Remote,
        cause: ConnectionError::TransportClosed,
    }
}

/// A blocking caller writes what the core has to send, on its (blocking) socket; a failed write
/// closes the connection in the core, as the task's does.
fn flush(d: &mut Direct) {
    d.wbuf.clear();
    while d.conn.poll_transmit_into(&mut d.wbuf) {}
    if !d.wbuf.is_empty() && d.sock.write_all(&d.wbuf).is_err() {
        d.conn.handle_transport_closed();
    }
    d.wbuf.clear();
}

/// The task takes its core back from the parking place, waiting for a caller that holds it
/// (the flag asks it to hand over).
async fn take_back(shared: &Shared) -> Direct {
    loop {
        let notified = shared.returned.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(d) = shared
            .direct
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return d;
        }
        shared.want.store(true, Ordering::SeqCst);
        notified.await;
    }
}

/// A call whose request is on its way, awaited by a future or a blocked thread.
#[derive(Debug)]
pub(crate) struct PendingCall {
    canceller: Canceller,
    rx: oneshot::Receiver<Result<Reply>>,
    done: bool,
}

impl PendingCall {
    /// Starts a call on `conn` whose reply this handle awaits.
    pub(crate) fn start(
        conn: ConnHandle,
        iface: (SyntaxId, Option<&'static str>),
        opnum: u16,
        object: Option<uuid::Uuid>,
        stub: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<PendingCall> {
        let (tx, rx) = oneshot::channel();
        let canceller = conn
            .start_call_owned(iface, opnum, object, stub, timeout, Sink::Reply(tx))
            .map_err(|(e, _)| e)?;
        Ok(PendingCall {
            canceller,
            rx,
            done: false,
        })
    }

    /// Waits for the reply, the fault, the connection's failure or the call timeout.
    pub(crate) async fn wait(mut self) -> Result<Reply> {
        let r = (&mut self.rx).await;
        self.done = true;
        r.unwrap_or_else(|_| Err(connection_gone()))
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        if !self.done {
            self.canceller.cancel(CancelMode::Abortive);
        }
    }
}

/// Cancels one pending call.
#[derive(Clone, Debug)]
pub(crate) struct Canceller {
    conn: ConnHandle,
    local: u64,
}

impl Canceller {
    /// Non-abortive: co_cancel, keep waiting for the answer. Abortive: co_cancel or orphaned, and the
    /// call ends at once as cancelled.
    pub(crate) fn cancel(&self, mode: CancelMode) {
        let _ = self.conn.send(Command::Cancel {
            local: self.local,
            abortive: mode == CancelMode::Abortive,
        });
    }
}

struct Pending {
    local: u64,
    sink: Sink,
    span: CallSpan,
    /// When the call timeout runs out, and how long it was.
    deadline: Option<(tokio::time::Instant, Duration)>,
}

/// A call the connection has taken but not started.
struct HeldCall {
    local: u64,
    ctx: u16,
    iface: (SyntaxId, Option<&'static str>),
    opnum: u16,
    object: Option<uuid::Uuid>,
    stub: Vec<u8>,
    timeout: Option<Duration>,
    sink: Sink,
}

async fn run(
    mut conn: ClientConnection,
    stream: Stream,
    direct_sock: Option<std::net::TcpStream>,
    mut rx: mpsc::UnboundedReceiver<Command>,
    shared: Arc<Shared>,
    lockstep: bool,
) {
    // What a blocking caller borrows while the task is parked (TCP, the option on).
    let mut lend = direct_sock.map(|sock| Direct {
        // Replaced by the real core whenever it is lent.
        conn: ClientConnection::new(ClientConfig::default()),
        sock,
        rbuf: Vec::new(),
        wbuf: Vec::new(),
        slice: None,
        handoff: None,
    });
    let mut parked = false;
    let mut poke = false;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut out = Outbox::default();
    let mut calls: IdMap<u32, Pending> = IdMap::default();
    let mut by_local: IdMap<u64, u32> = IdMap::default();
    // Call timeouts, earliest first; an entry whose call has ended is skipped when it comes up.
    let mut timers: BinaryHeap<Reverse<(tokio::time::Instant, u32)>> = BinaryHeap::new();
    let mut bind_waiter: Option<(SyntaxId, BindReply)> = None;
    let timer = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(timer);
    let mut armed: Option<tokio::time::Instant> = None;
    let mut eof = false;
    let mut closing = false;
    let mut draining = false;
    // With `lockstep`, the calls waiting for the one in progress to end, in order.
    let mut held: std::collections::VecDeque<HeldCall> = std::collections::VecDeque::new();

    let finish_call = |calls: &mut IdMap<u32, Pending>,
                       by_local: &mut IdMap<u64, u32>,
                       id: u32,
                       r: Result<Reply>| {
        if let Some(p) = calls.remove(&id) {
            by_local.remove(&p.local);
            shared.in_progress.fetch_sub(1, Ordering::AcqRel);
            p.span.end(|| outcome_words(&r));
            p.sink.complete(r);
        }
    };

    // Takes the core back from the parking place (waiting for a caller that holds it), with
    // the call a caller handed over, if any.
    macro_rules! unpark {
        () => {{
            let mut d = take_back(&shared).await;
            // The task's own I/O is non-blocking again.
            let _ = d.sock.set_nonblocking(true);
            std::mem::swap(&mut d.conn, &mut conn);
            if let Some((id, p)) = d.handoff.take() {
                if let Some((at, _)) = p.deadline {
                    timers.push(Reverse((at, id)));
                }
                by_local.insert(p.local, id);
                calls.insert(id, p);
            }
            lend = Some(d);
            parked = false;
        }};
    }

    loop {
        while let Some(ev) = conn.poll_event() {
            match ev {
                ClientEvent::Bound(outcome) => {
                    if !outcome.alter {
                        shared
                            .assoc_group
                            .store(outcome.assoc_group, Ordering::Release);
                    }
                    if let Some((iface, reply)) = bind_waiter.take() {
                        let r = if let Some(c) =
                            outcome.accepted.iter().find(|c| c.interface == iface)
                        {
                            Ok((c.context_id, c.syntax()))
                        } else if let Some(r) =
                            outcome.rejected.iter().find(|c| c.interface == iface)
                        {
                            let reason = BindRejection::Context {
                                result: r.result,
                                reason: r.reason,
                            };
                            Err(Error::BindRejected {
                                status: reason.status(conn.is_secured()),
                                reason,
                            })
                        } else {
                            Err(Error::Protocol {
                                initiator: Initiator::Remote,
                                reason: "the bind answer did not mention the interface".into(),
                            })
                        };
                        let _ = reply.send(r);
                    }
                }
                ClientEvent::BindRejected { reason, .. } => {
                    if let Some((_, reply)) = bind_waiter.take() {
                        // A refused authenticated bind is access denied (or an unknown package).
                        let reason = BindRejection::Nak(reason);
                        let _ = reply.send(Err(Error::BindRejected {
                            status: reason.status(conn.is_secured()),
                            reason,
                        }));
                    }
                }
                ClientEvent::AlterContextFailed { status } => {
                    if let Some((_, reply)) = bind_waiter.take() {
                        let _ = reply.send(Err(Error::fault(status, Execution::DidNotExecute)));
                    }
                }
                ClientEvent::Response {
                    call_id,
                    stub,
                    syntax,
                    drep,
                    ..
                } => {
                    let reply = Reply {
                        // Zero-copy when the reassembled stub owns its buffer.
                        stub: Vec::from(stub),
                        syntax,
                        drep,
                        limits: shared.decode_limits,
                    };
                    finish_call(&mut calls, &mut by_local, call_id, Ok(reply));
                }
                ClientEvent::Fault {
                    call_id,
                    status,
                    execution,
                    ..
                } => {
                    finish_call(
                        &mut calls,
                        &mut by_local,
                        call_id,
                        Err(Error::fault(status, execution)),
                    );
                }
                ClientEvent::Shutdown => {
                    shared.usable.store(false, Ordering::Release);
                }
                ClientEvent::Closed {
                    error,
                    calls: failed,
                } => {
                    shared.usable.store(false, Ordering::Release);
                    debug!(?error, "client connection closed");
                    let err = |e: &ConnectionError| Error::Connection {
                        status: connection_status(e),
                        initiator: e.initiator(),
                        cause: e.clone(),
                    };
                    for id in failed {
                        finish_call(&mut calls, &mut by_local, id, Err(err(&error)));
                    }
                    let ids: Vec<u32> = calls.keys().copied().collect();
                    for id in ids {
                        finish_call(&mut calls, &mut by_local, id, Err(err(&error)));
                    }
                    if let Some((_, reply)) = bind_waiter.take() {
                        let _ = reply.send(Err(err(&error)));
                    }
                    closing = true;
                }
                other => trace!(?other, "client event"),
            }
        }
        // Start the calls taken: all of them, or with `lockstep` the next once none is in
        // progress.
        while !lockstep || calls.is_empty() {
            let Some(HeldCall {
                local,
                ctx,
                iface,
                opnum,
                object,
                stub,
                timeout,
                sink,
            }) = held.pop_front()
            else {
                break;
            };
            match conn.start_call(ctx, opnum, object, stub) {
                Ok(id) => {
                    let deadline = timeout.map(|t| (tokio::time::Instant::now() + t, t));
                    if let Some((at, _)) = deadline {
                        timers.push(Reverse((at, id)));
                    }
                    let span = call_span!(
                        "client",
                        InterfaceName(iface),
                        opnum,
                        id,
                        shared.assoc_group.load(Ordering::Relaxed),
                        shared.auth_level
                    );
                    calls.insert(
                        id,
                        Pending {
                            local,
                            sink,
                            span,
                            deadline,
                        },
                    );
                    by_local.insert(local, id);
                }
                Err(e) => {
                    // The connection took the call but cannot make it (closed, or shut
                    // down by the server): it fails as not executed.
                    shared.in_progress.fetch_sub(1, Ordering::AcqRel);
                    sink.complete(Err(Error::status_msg(
                        Win32Status::RPC_S_CALL_FAILED_DNE,
                        e,
                    )));
                }
            }
        }
        if draining
            && calls.is_empty()
            && held.is_empty()
            && bind_waiter.is_none()
            && !conn.is_closed()
        {
            conn.close();
            closing = true;
        }
        out.fill(|b| conn.poll_transmit_into(b));
        if out.is_empty() && (closing || conn.is_closed() || eof) {
            break;
        }
        if calls.is_empty() {
            conn.release_input_buffer();
            out.release();
        }
        // Entries of calls that ended stay in the heap until they come up: with a long call
        // timeout and many short calls, drop them once they outnumber the live ones.
        if timers.len() > 2 * calls.len() + 64 {
            timers.retain(|Reverse((at, id))| {
                calls
                    .get(id)
                    .and_then(|p| p.deadline)
                    .is_some_and(|d| d.0 == *at)
            });
        }
        // Park: nothing in progress, nothing to write, no command waiting. A blocking caller
        // may then borrow the core and the socket; the task reads nothing meanwhile and wakes on
        // a command or its timer. The flag is cleared before the channel is looked at, so a
        // command sent after that look finds it set.
        if lend.is_some()
            && !poke
            && calls.is_empty()
            && bind_waiter.is_none()
            && out.is_empty()
            && !closing
            && !draining
            && !eof
            && !conn.is_closed()
        {
            shared.want.store(false, Ordering::SeqCst);
            if rx.is_empty() {
                let mut d = lend.take().expect("checked");
                // Blocking while parked, for the callers' reads with a timeout and writes.
                let _ = d.sock.set_nonblocking(false);
                std::mem::swap(&mut d.conn, &mut conn);
                *shared.direct.lock().unwrap_or_else(|p| p.into_inner()) = Some(d);
                parked = true;
            }
        }
        poke = false;
        let next_timer = timers.peek().map(|Reverse((at, _))| *at);
        // One timer for the task, moved only when the earliest deadline changes (not made and
        // registered anew on every turn of the loop).
        if next_timer != armed {
            if let Some(at) = next_timer {
                timer.as_mut().reset(at);
            }
            armed = next_timer;
        }
        tokio::select! {
            () = &mut timer, if armed.is_some() => {
                if parked {
                    unpark!();
                }
                armed = None;
                let now = tokio::time::Instant::now();
                while let Some(&Reverse((at, id))) = timers.peek() {
                    if at > now {
                        break;
                    }
                    timers.pop();
                    // The call timeout ran out: orphan the call (co_cancel or orphaned on the wire)
                    // and end it, as an abortive cancel does.
                    let Some(t) = calls.get(&id).and_then(|p| p.deadline).filter(|d| d.0 == at).map(|d| d.1) else {
                        continue;
                    };
                    let _ = conn.orphan(id);
                    finish_call(&mut calls, &mut by_local, id, Err(Error::CallTimeout(t)));
                }
            }
            r = out.write_to(&mut wr), if !out.is_empty() && !parked => {
                match r {
                    Ok(0) | Err(_) => { conn.handle_transport_closed(); out = Outbox::default(); eof = true; }
                    Ok(n) => out.advance(n),
                }
            }
            // Straight into the core's input buffer: no copy.
            r = rd.read_buf(conn.input_buffer()), if !eof && !parked => {
                match r {
                    Ok(0) | Err(_) => { conn.handle_transport_closed(); eof = true; }
                    Ok(n) => conn.handle_input(Instant::now(), n),
                }
            }
            cmd = rx.recv(), if !closing => {
                if parked {
                    unpark!();
                }
                match cmd {
                    None | Some(Command::Close) => {
                        conn.close();
                        closing = true;
                    }
                    Some(Command::Drain) => {
                        // Orderly close: no new calls; the connection closes once the calls in
                        // progress have their answers.
                        shared.usable.store(false, Ordering::Release);
                        draining = true;
                    }
                    Some(Command::Bind { iface, reply }) => {
                        let r = if conn.is_bound() { conn.alter_context(&[iface]) } else { conn.bind(&[iface]) };
                        match r {
                            Ok(_) => bind_waiter = Some((iface, reply)),
                            Err(e) => { let _ = reply.send(Err(Error::Protocol { initiator: Initiator::Local, reason: e.to_string() })); }
                        }
                    }
                    Some(Command::Call { local, ctx, iface, opnum, object, stub, timeout, sink }) => {
                        held.push_back(HeldCall { local, ctx, iface, opnum, object, stub, timeout, sink });
                    }
                    Some(Command::Wake) => poke = true,
                    Some(Command::Cancel { local, abortive }) => {
                        if let Some(at) = held.iter().position(|h| h.local == local) {
                            // Not sent yet: it ends now, cancelled, whatever the kind of cancel.
                            if let Some(h) = held.remove(at) {
                                shared.in_progress.fetch_sub(1, Ordering::AcqRel);
                                h.sink.complete(Err(Error::Cancelled { initiator: Initiator::Local }));
                            }
                        } else if let Some(&id) = by_local.get(&local) {
                            if abortive {
                                let _ = conn.orphan(id);
                                finish_call(&mut calls, &mut by_local, id, Err(Error::Cancelled { initiator: Initiator::Local }));
                            } else {
                                let _ = conn.cancel(id);
                            }
                        }
                    }
                }
            }
        }
    }
    shared.usable.store(false, Ordering::Release);
    let _ = wr.shutdown().await;
    let ids: Vec<u32> = calls.keys().copied().collect();
    for id in ids {
        finish_call(&mut calls, &mut by_local, id, Err(connection_gone()));
    }
    for h in held {
        shared.in_progress.fetch_sub(1, Ordering::AcqRel);
        h.sink.complete(Err(connection_gone()));
    }
}
