//! The RPC client: binding handles, the association pool, and calls.
//!
//! A [`Binding`] is an `RPC_BINDING_HANDLE`: a string binding plus options. Calls made through one
//! binding share an association: they are multiplexed by call id on one connection (PFC_CONC_MPX), and
//! more connections are opened only when [`BindingOptions::max_connections`] allows it and the
//! connections in use are full. Interfaces after the first are added with alter_context.
//!
//! Every call ends: with a reply, a fault, a cancel, a timeout, or a connection failure. When a
//! connection dies every call pending on it fails at once with `RPC_S_COMM_FAILURE` (1820)
//! (`RPC_S_CALL_FAILED` (1726) where the request had been fully sent and may have executed).
//!
//! # Cancel safety
//! Dropping the future of [`Binding::call`] before it resolves cancels the call: the runtime sends
//! `co_cancel` and orphans it, and a late reply is discarded. The request may still run on the server.

mod conn;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};

use crate::binding::StringBinding;
use crate::error::{Error, Result};
use crate::notify::{AsyncState, CallCompleter, CancelMode};

use msrpc_ndr::{DataRep, DecodeLimits, Syntax};
use msrpc_proto::{SyntaxId, Win32Status};

pub(crate) use conn::ConnHandle;

/// Options of a binding handle (`RpcBindingSetOption` and friends). Every limit has a documented default.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BindingOptions {
    /// Connecting gives up after this long with `RPC_S_SERVER_UNAVAILABLE`. Default 20 s.
    pub connect_timeout: Duration,
    /// `RPC_C_OPT_CALL_TIMEOUT`: a call not answered within this time is cancelled and ends as
    /// `RPC_S_CALL_CANCELLED` (1818). Default none.
    pub call_timeout: Option<Duration>,
    /// Connections this binding may open to the server. Default 1: every call is multiplexed on one
    /// connection.
    pub max_connections: usize,
    /// Calls in progress on one connection before another connection is opened (or, at
    /// `max_connections`, before new calls wait). Default 1234.
    pub max_calls_per_connection: usize,
    /// The largest fragment offered (`max_xmit_frag`/`max_recv_frag`). Default 5840.
    pub max_fragment: u16,
    /// The largest reassembled response stub accepted. Default 64 MiB.
    pub max_response_size: usize,
    /// What decoding one reply may cost: nesting depth, pointers, pointees and bytes allocated
    /// ([`DecodeLimits`]; its defaults: depth 64, 65,536 full pointers, 1,048,576 pointees,
    /// 64 MiB). The generated client stubs decode under these (`msrpc::codegen::decode_reply`); a
    /// reply past them fails the call with `RPC_X_BAD_STUB_DATA`.
    pub decode_limits: DecodeLimits,
    /// Offer NDR64 besides NDR20 in binds (the server chooses: Windows and msrpc servers take
    /// NDR64, Samba and impacket NDR20). Default true, as a 64-bit Windows client does.
    pub offer_ndr64: bool,
    /// `RPC_C_OPT_BINDING_NONCAUSAL`: asynchronous calls made from one thread need not be executed in
    /// the order they were made. Default false (causal).
    pub noncausal: bool,
    /// Keep the connection after abortively cancelling a call whose request was still being sent,
    /// when the server accepted the keep-connection-on-orphan feature (MS-RPCE 3.3.1.5.10). Default
    /// false: Samba 4.17 accepts the feature but then faults the next call on that connection, so the
    /// connection is closed and a new one opened instead (docs/interop.md).
    pub keep_connection_on_orphan: bool,
    /// A blocking call ([`Binding::call_blocking`] and the generated stubs' blocking calls) on a
    /// TCP connection with no other call in progress writes its request and reads its answer on
    /// the calling thread, through the connection's own protocol core, instead of handing both
    /// to the connection's task (two thread hand-offs each way fewer; docs/runtime.md). Anything
    /// the task has to do meanwhile (another call, a cancel, a close) takes the call back to the
    /// task. Default true; the environment variable `MSRPC_CALLER_IO=0` turns it off for every
    /// binding of the process (for A/B measurements). Named pipes, Unix sockets and requests
    /// over 2 KiB always go through the task.
    pub blocking_io_on_caller: bool,
    /// The endpoint mapper's port, asked (`ept_map`) for the endpoint of a binding without one
    /// (`ncacn_ip_tcp:HOST` on HOST, `ncalrpc:` on 127.0.0.1). Default 135.
    pub endpoint_mapper_port: u16,
    /// `RpcBindingSetAuthInfo`: authenticate every connection of this binding with the package
    /// and level of the [`AuthInfo`](crate::auth::AuthInfo) (NTLM, SPNEGO or Kerberos). Default
    /// none: calls are unauthenticated. The endpoint mapper lookup for a binding
    /// without an endpoint stays unauthenticated, as on Windows.
    pub auth: Option<crate::auth::AuthInfo>,
    /// The SMB layer of `ncacn_np` bindings (port 445, credentials, pipe I/O). Ignored by the
    /// other protocol sequences.
    pub smb: SmbOptions,
}

/// Settings of the SMB2/3 session and pipe under an `ncacn_np` binding (cargo feature
/// `ncacn-np`; docs/named-pipes.md).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SmbOptions {
    /// The SMB server's TCP port. Default 445.
    pub port: u16,
    /// Who the SMB session authenticates as. Default none: the credentials of
    /// [`BindingOptions::auth`], or an anonymous session when there are none.
    pub credentials: Option<crate::auth::Credentials>,
    /// How the SMB session authenticates: NTLM or Kerberos. Default [`SmbAuth::Auto`]: Kerberos
    /// when the binding's RPC authentication is Kerberos (or Negotiate with a KDC) and supplies the
    /// SMB credentials, NTLM otherwise.
    pub auth: SmbAuth,
    /// Send the last fragment of a request (or a bind) with FSCTL_PIPE_TRANSCEIVE, which writes it
    /// and reads the reply in one SMB exchange, when no other reply is awaited on the pipe.
    /// Otherwise (and always when false) PDUs go out as SMB2 WRITEs and replies come back through
    /// SMB2 READs. Default true.
    pub transceive: bool,
    /// The length asked for in each pipe READ or TRANSCEIVE; a longer message arrives in several
    /// reads. Default 65536.
    pub read_size: u32,
    /// The largest fragment offered on a pipe (`max_xmit_frag`/`max_recv_frag`), in place of
    /// [`BindingOptions::max_fragment`]. Default 4280, as Windows uses on named pipes.
    pub max_fragment: u16,
    /// How long an SMB request may go without any sign of life from the server (an interim
    /// STATUS_PENDING counts) before the SMB connection is given up; `None` waits indefinitely.
    /// Default 30 s.
    pub response_timeout: Option<Duration>,
}

/// How the SMB session of an `ncacn_np` binding authenticates ([`SmbOptions::auth`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmbAuth {
    /// As the binding's RPC authentication: Kerberos, with its KDC, when
    /// [`BindingOptions::auth`] is Kerberos or Negotiate with a
    /// [`KerberosTarget`](crate::auth::KerberosTarget) and [`SmbOptions::credentials`] is not
    /// set (so the SMB session logs on with the RPC credentials); NTLM otherwise. This is what
    /// a Windows client does in a domain: the SMB session and the RPC bind both use Kerberos.
    #[default]
    Auto,
    /// NTLM, whatever the RPC authentication is.
    Ntlm,
    /// Kerberos (SPNEGO wrapping a Kerberos AP-REQ in SESSION_SETUP), for the service principal
    /// `cifs/HOST`.
    Kerberos(SmbKerberos),
}

/// Kerberos for an SMB session ([`SmbAuth::Kerberos`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SmbKerberos {
    /// The KDC, `tcp://HOST:PORT` or `HOST:PORT` (port 88 if left out).
    pub kdc: String,
    /// The host name in the SMB server's principal `cifs/HOST`. Default none: the binding's
    /// network address when it is a name (as Windows does for `\\HOST\IPC$`), else the host
    /// of the RPC service principal (`host/dc1.corp.example` gives `dc1.corp.example`); a
    /// binding to an IP address with neither fails, since an IP address has no SPN.
    pub server_host: Option<String>,
    /// Take the TGT (or a `cifs/HOST` service ticket) from this MIT credential cache (`FILE:`
    /// prefix optional) instead of logging on with the password. Default none.
    pub ccache: Option<std::path::PathBuf>,
}

impl SmbKerberos {
    /// Kerberos through the KDC at `kdc`, with the other settings at their defaults.
    pub fn new(kdc: impl Into<String>) -> SmbKerberos {
        SmbKerberos {
            kdc: kdc.into(),
            server_host: None,
            ccache: None,
        }
    }

    /// Sets [`SmbKerberos::server_host`].
    pub fn with_server_host(mut self, host: impl Into<String>) -> SmbKerberos {
        self.server_host = Some(host.into());
        self
    }

    /// Sets [`SmbKerberos::ccache`].
    pub fn with_ccache(mut self, path: impl Into<std::path::PathBuf>) -> SmbKerberos {
        self.ccache = Some(path.into());
        self
    }
}

impl Default for SmbOptions {
    fn default() -> Self {
        SmbOptions {
            port: 445,
            credentials: None,
            auth: SmbAuth::Auto,
            transceive: true,
            read_size: 65536,
            max_fragment: 4280,
            response_timeout: Some(Duration::from_secs(30)),
        }
    }
}

impl Default for BindingOptions {
    fn default() -> Self {
        BindingOptions {
            connect_timeout: Duration::from_secs(20),
            call_timeout: None,
            max_connections: 1,
            max_calls_per_connection: 1234,
            max_fragment: 5840,
            max_response_size: 64 * 1024 * 1024,
            decode_limits: DecodeLimits::default(),
            offer_ndr64: true,
            noncausal: false,
            keep_connection_on_orphan: false,
            blocking_io_on_caller: true,
            endpoint_mapper_port: crate::epm::EPM_PORT,
            auth: None,
            smb: SmbOptions::default(),
        }
    }
}

impl BindingOptions {
    /// The defaults, to change with the `with_*` methods (the struct is `#[non_exhaustive]`, so
    /// outside this crate it cannot be written as a literal):
    ///
    /// ```
    /// # use std::time::Duration;
    /// let options = msrpc::BindingOptions::new()
    ///     .with_call_timeout(Duration::from_secs(5))
    ///     .with_max_connections(4);
    /// assert_eq!(options.max_connections, 4);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn with_connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// Sets [`call_timeout`](Self::call_timeout).
    pub fn with_call_timeout(mut self, call_timeout: Duration) -> Self {
        self.call_timeout = Some(call_timeout);
        self
    }

    /// Sets [`max_connections`](Self::max_connections).
    pub fn with_max_connections(mut self, max_connections: usize) -> Self {
        self.max_connections = max_connections;
        self
    }

    /// Sets [`max_calls_per_connection`](Self::max_calls_per_connection).
    pub fn with_max_calls_per_connection(mut self, max_calls_per_connection: usize) -> Self {
        self.max_calls_per_connection = max_calls_per_connection;
        self
    }

    /// Sets [`max_fragment`](Self::max_fragment).
    pub fn with_max_fragment(mut self, max_fragment: u16) -> Self {
        self.max_fragment = max_fragment;
        self
    }

    /// Sets [`max_response_size`](Self::max_response_size).
    pub fn with_max_response_size(mut self, max_response_size: usize) -> Self {
        self.max_response_size = max_response_size;
        self
    }

    /// Sets [`decode_limits`](Self::decode_limits).
    pub fn with_decode_limits(mut self, decode_limits: DecodeLimits) -> Self {
        self.decode_limits = decode_limits;
        self
    }

    /// Sets [`offer_ndr64`](Self::offer_ndr64).
    pub fn with_offer_ndr64(mut self, offer_ndr64: bool) -> Self {
        self.offer_ndr64 = offer_ndr64;
        self
    }

    /// Sets [`noncausal`](Self::noncausal).
    pub fn with_noncausal(mut self, noncausal: bool) -> Self {
        self.noncausal = noncausal;
        self
    }

    /// Sets [`keep_connection_on_orphan`](Self::keep_connection_on_orphan).
    pub fn with_keep_connection_on_orphan(mut self, keep_connection_on_orphan: bool) -> Self {
        self.keep_connection_on_orphan = keep_connection_on_orphan;
        self
    }

    /// Sets [`blocking_io_on_caller`](Self::blocking_io_on_caller).
    pub fn with_blocking_io_on_caller(mut self, blocking_io_on_caller: bool) -> Self {
        self.blocking_io_on_caller = blocking_io_on_caller;
        self
    }

    /// Sets [`endpoint_mapper_port`](Self::endpoint_mapper_port).
    pub fn with_endpoint_mapper_port(mut self, endpoint_mapper_port: u16) -> Self {
        self.endpoint_mapper_port = endpoint_mapper_port;
        self
    }

    /// Sets [`auth`](Self::auth): authenticate every connection of the binding.
    pub fn with_auth(mut self, auth: crate::auth::AuthInfo) -> Self {
        self.auth = Some(auth);
        self
    }
}

/// The data representation msrpc clients send (and announce in their request headers).
const REQUEST_REP: DataRep = DataRep::LITTLE_ENDIAN;

/// Whether `MSRPC_CALLER_IO` leaves blocking callers' own I/O on (anything but `0`, `off` or
/// `false`; read once per process).
pub(crate) fn caller_io_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        !matches!(
            std::env::var("MSRPC_CALLER_IO").as_deref(),
            Ok("0") | Ok("off") | Ok("false")
        )
    })
}

/// Threads remembered for causal ordering; past it, entries of dead connections are dropped, and
/// threads beyond it are not pinned.
const MAX_AFFINITY_ENTRIES: usize = 4096;

/// A reply: the response stub and how to decode it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Reply {
    /// The NDR-encoded out-parameters and return value.
    pub stub: Vec<u8>,
    /// The transfer syntax negotiated for the interface.
    pub syntax: Syntax,
    /// The response's data representation.
    pub drep: DataRep,
    /// The limits to decode it under: the binding's [`BindingOptions::decode_limits`].
    pub limits: DecodeLimits,
}

/// A binding handle (`RPC_BINDING_HANDLE`). Cheap to clone; clones share the association.
#[derive(Clone, Debug)]
pub struct Binding {
    inner: Arc<BindingInner>,
}

#[derive(Debug)]
struct BindingInner {
    target: StringBinding,
    options: BindingOptions,
    pool: Mutex<Vec<ConnHandle>>,
    /// The object UUID sent with each request (`RpcBindingSetObject`); from the string binding.
    object: Mutex<Option<uuid::Uuid>>,
    /// The connection each calling thread's calls go to, for causal ordering.
    affinity: Mutex<HashMap<ThreadId, ConnHandle>>,
    /// Held while a connection is being opened, so concurrent first calls share one connection.
    connecting: tokio::sync::Mutex<()>,
    /// The association group the server assigned to the first connection; later connections join it.
    assoc_group: Mutex<u32>,
    /// Where the endpoint mapper sent a binding without an endpoint (kept until a connection to it
    /// fails).
    resolved: Mutex<Option<crate::transport::Address>>,
    rt: Handle,
}

impl Binding {
    /// A binding from a string binding (`RpcBindingFromStringBinding`), with default options.
    pub fn from_string(binding: &str) -> Result<Binding> {
        Binding::with_options(binding, BindingOptions::default())
    }

    /// A binding with options.
    pub fn with_options(binding: &str, options: BindingOptions) -> Result<Binding> {
        let target: StringBinding = binding.parse()?;
        if options.max_connections == 0 || options.max_calls_per_connection == 0 {
            return Err(Error::status_msg(
                Win32Status::ERROR_INVALID_PARAMETER,
                "max_connections and max_calls_per_connection must be at least 1",
            ));
        }
        let object = target.object();
        Ok(Binding {
            inner: Arc::new(BindingInner {
                target,
                options,
                pool: Mutex::new(Vec::new()),
                object: Mutex::new(object),
                connecting: tokio::sync::Mutex::new(()),
                affinity: Mutex::new(HashMap::new()),
                assoc_group: Mutex::new(0),
                resolved: Mutex::new(None),
                rt: runtime_handle(),
            }),
        })
    }

    /// The string binding this handle was made from.
    pub fn string_binding(&self) -> &StringBinding {
        &self.inner.target
    }

    /// The object UUID sent with each call, if any (`RpcBindingInqObject`).
    pub fn object(&self) -> Option<uuid::Uuid> {
        *self.inner.object.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the object UUID sent with later calls on this binding and its clones
    /// (`RpcBindingSetObject`); `None` sends none.
    pub fn set_object(&self, object: Option<uuid::Uuid>) {
        *self.inner.object.lock().unwrap_or_else(|p| p.into_inner()) = object;
    }

    /// The binding's options.
    pub fn options(&self) -> &BindingOptions {
        &self.inner.options
    }

    /// Makes a call and waits for its reply. `encode` receives the transfer syntax negotiated for the
    /// interface and the data representation to encode in (msrpc clients send little-endian), and
    /// returns the request stub: the same closure as the generated stubs hand
    /// [`ClientCall`](crate::codegen::ClientCall).
    ///
    /// ```no_run
    /// # async fn demo() -> msrpc::Result<()> {
    /// use msrpc::{Binding, SyntaxId, Uuid};
    ///
    /// const IFACE: SyntaxId = SyntaxId::new(
    ///     Uuid::from_u128(0x7f6c4340_eb67_11d1_b9d7_00c04fad9a3b), 1, 0);
    /// let b = Binding::from_string("ncacn_ip_tcp:127.0.0.1[8765]")?;
    /// // Opnum 2 of the AsyncRPC sample (`Shutdown`) has no [in] parameters: an empty stub.
    /// let reply = b.call(IFACE, 2, |_syntax, _rep| Ok(Vec::new())).await?;
    /// assert!(reply.stub.is_empty());
    /// # Ok(()) }
    /// ```
    ///
    /// # Cancel safety
    /// Dropping the future cancels the call (co_cancel, then orphaned); see the module docs.
    pub async fn call(
        &self,
        iface: SyntaxId,
        opnum: u16,
        encode: impl FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>>,
    ) -> Result<Reply> {
        self.call_from(iface, None, opnum, encode, None).await
    }

    /// Makes a call from synchronous code and blocks the thread until the reply. It is the same
    /// call as [`Binding::call`], driven from this thread. On a TCP connection with nothing else
    /// in progress this thread also writes the request and reads the answer itself
    /// ([`BindingOptions::blocking_io_on_caller`]); otherwise the connection's task does the I/O.
    ///
    /// # Panics
    /// On a thread that is running async tasks (a tokio worker, or inside `block_on`), as tokio's
    /// own `block_on` does: blocking there could stall the runtime the call needs. Use
    /// [`Binding::call`] there, or `tokio::task::spawn_blocking`.
    pub fn call_blocking(
        &self,
        iface: SyntaxId,
        opnum: u16,
        encode: impl FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static,
    ) -> Result<Reply> {
        self.call_blocking_named(iface, None, opnum, encode)
    }

    /// [`Binding::call_blocking`], with the interface's name for the call's span when known.
    pub(crate) fn call_blocking_named(
        &self,
        iface: SyntaxId,
        name: Option<&'static str>,
        opnum: u16,
        encode: impl FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static,
    ) -> Result<Reply> {
        let caller = std::thread::current().id();
        self.inner
            .rt
            .block_on(self.call_from(iface, name, opnum, encode, Some(caller)))
    }

    /// [`Binding::call`] with `object` as this call's object UUID (the request's
    /// `PFC_OBJECT_UUID`, MS-RPCE 2.2.2.6) in place of the binding's ([`Binding::set_object`]),
    /// for this call only: a DCOM call names the object it calls by its IPID so (MS-DCOM
    /// 1.3.6, 3.2.4.2). Clones of the binding calling other objects at the same time are not
    /// affected.
    pub async fn call_with_object(
        &self,
        iface: SyntaxId,
        opnum: u16,
        object: uuid::Uuid,
        encode: impl FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>>,
    ) -> Result<Reply> {
        self.call_from_object(iface, None, opnum, Some(object), encode, None)
            .await
    }

    /// [`Binding::call_with_object`] from synchronous code (see [`Binding::call_blocking`]).
    pub fn call_with_object_blocking(
        &self,
        iface: SyntaxId,
        opnum: u16,
        object: uuid::Uuid,
        encode: impl FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static,
    ) -> Result<Reply> {
        self.call_object_blocking_named(iface, None, opnum, object, encode)
    }

    /// [`Binding::call_with_object_blocking`], with the interface's name for the call's span.
    pub(crate) fn call_object_blocking_named(
        &self,
        iface: SyntaxId,
        name: Option<&'static str>,
        opnum: u16,
        object: uuid::Uuid,
        encode: impl FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static,
    ) -> Result<Reply> {
        let caller = std::thread::current().id();
        self.inner.rt.block_on(self.call_from_object(
            iface,
            name,
            opnum,
            Some(object),
            encode,
            Some(caller),
        ))
    }

    /// Every form of the call: `name` is the interface's name for the call's span (generated
    /// stubs know it), `caller` the thread blocked on it, if any.
    pub(crate) async fn call_from(
        &self,
        iface: SyntaxId,
        name: Option<&'static str>,
        opnum: u16,
        encode: impl FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>>,
        caller: Option<ThreadId>,
    ) -> Result<Reply> {
        self.call_from_object(iface, name, opnum, self.object(), encode, caller)
            .await
    }

    /// [`Binding::call_from`] with the object UUID given (`None`: no object UUID).
    pub(crate) async fn call_from_object(
        &self,
        iface: SyntaxId,
        name: Option<&'static str>,
        opnum: u16,
        object: Option<uuid::Uuid>,
        encode: impl FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>>,
        caller: Option<ThreadId>,
    ) -> Result<Reply> {
        let (conn, stub) = self.prepare(iface, encode, caller).await?;
        let opts = &self.inner.options;
        let stub = if caller.is_some() {
            match conn.call_direct((iface, name), opnum, object, stub, opts.call_timeout) {
                conn::DirectCall::Done(r) => return r,
                conn::DirectCall::HandedOff(rx) => {
                    return rx.await.unwrap_or_else(|_| Err(conn::connection_gone()));
                }
                conn::DirectCall::NotTaken(stub) => stub,
            }
        } else {
            stub
        };
        conn::PendingCall::start(conn, (iface, name), opnum, object, stub, opts.call_timeout)?
            .wait()
            .await
    }

    /// Starts an asynchronous call on `state` (the page's `AsyncFunc(&Async, hBinding, ...)`) and
    /// returns as soon as the request is on its way. Completion is reported through the handle's
    /// notification; [`AsyncState::complete`] then runs `decode` on the reply (on the thread that
    /// calls it, as `RpcAsyncCompleteCall` unmarshals on the caller's thread) and gives its
    /// result, or 1818 cancelled, or the fault's status.
    ///
    /// An error here means the call was never made (the page's RPC exception): the handle is left
    /// initialised and no notification follows. A handle with a pending call, or one completed and
    /// not re-initialised, is refused with `RPC_S_INVALID_ASYNC_HANDLE` (1914).
    ///
    /// This blocks the calling thread until the request is queued (connecting and binding first if
    /// needed), as the Windows stub does; nothing else runs per call: the connection's task
    /// completes the handle when the reply arrives.
    ///
    /// # Panics
    /// On a thread that is running async tasks, as [`Binding::call_blocking`]; in async code use
    /// [`Binding::start`] or just await [`Binding::call`].
    pub fn start_blocking<R: Send + 'static>(
        &self,
        state: &AsyncState<R>,
        iface: SyntaxId,
        opnum: u16,
        encode: impl FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static,
        decode: impl FnOnce(Reply) -> msrpc_ndr::Result<R> + Send + 'static,
    ) -> Result<()> {
        self.start_blocking_named(state, iface, None, opnum, encode, decode)
    }

    /// [`Binding::start_blocking`], with the interface's name for the call's span when known.
    pub(crate) fn start_blocking_named<R: Send + 'static>(
        &self,
        state: &AsyncState<R>,
        iface: SyntaxId,
        name: Option<&'static str>,
        opnum: u16,
        encode: impl FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static,
        decode: impl FnOnce(Reply) -> msrpc_ndr::Result<R> + Send + 'static,
    ) -> Result<()> {
        let caller = std::thread::current().id();
        self.inner.rt.block_on(self.start_async(
            state,
            (iface, name),
            opnum,
            encode,
            decode,
            Some(caller),
        ))
    }

    /// [`Binding::start_blocking`] for async code (never blocks a runtime worker): resolves once
    /// the request is on its way, with the same errors; completion then comes through `state`.
    pub async fn start<R: Send + 'static>(
        &self,
        state: &AsyncState<R>,
        iface: SyntaxId,
        opnum: u16,
        encode: impl FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static,
        decode: impl FnOnce(Reply) -> msrpc_ndr::Result<R> + Send + 'static,
    ) -> Result<()> {
        self.start_async(state, (iface, None), opnum, encode, decode, None)
            .await
    }

    /// Both forms of the asynchronous call: the handle is begun, the request queued with the
    /// handle itself as the call's sink, and the handle's cancel hook pointed at the call.
    pub(crate) async fn start_async<R: Send + 'static>(
        &self,
        state: &AsyncState<R>,
        (iface, name): (SyntaxId, Option<&'static str>),
        opnum: u16,
        encode: impl FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>>,
        decode: impl FnOnce(Reply) -> msrpc_ndr::Result<R> + Send + 'static,
        caller: Option<ThreadId>,
    ) -> Result<()> {
        let (slot, completer) = begin_async(state)?;
        let (conn, stub) = match self.prepare(iface, encode, caller).await {
            Ok(p) => p,
            Err(e) => {
                // Failed as it was made: no notification, the handle goes back to initialised.
                completer.fail_at_start();
                return Err(e);
            }
        };
        let sink = conn::Sink::Boxed(Box::new(AsyncSink {
            completer,
            decode: Box::new(decode),
        }));
        let timeout = self.inner.options.call_timeout;
        let canceller =
            match conn.start_call((iface, name), opnum, self.object(), stub, timeout, sink) {
                Ok(c) => c,
                Err((e, sink)) => {
                    sink.not_started();
                    return Err(e);
                }
            };
        let mut t = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mode) = t.early.take() {
            // The client cancelled while the call was being made: tell the server now.
            canceller.cancel(mode);
        }
        t.call = Some(canceller);
        Ok(())
    }

    /// Everything before the request is queued: a connection with the interface bound, and the
    /// request stub encoded in the negotiated transfer syntax. An error here means the call was
    /// never made (the page's "RPC exception"): nothing will follow it.
    async fn prepare(
        &self,
        iface: SyntaxId,
        encode: impl FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>>,
        caller: Option<ThreadId>,
    ) -> Result<(ConnHandle, Vec<u8>)> {
        // Connecting and binding are bounded by the connect timeout, and by the call timeout when it
        // is shorter: a server that accepts but never answers the bind cannot hang the call.
        let opts = &self.inner.options;
        // The common case: the thread's connection, its interface bound. Nothing to wait for,
        // so no timeout to set up (a clock read and a timer handle per call).
        if let Some(conn) = caller
            .filter(|_| !opts.noncausal)
            .and_then(|t| self.affine(t))
            && let Some((_, syntax)) = conn.context(&iface)
        {
            let stub = encode(syntax, REQUEST_REP)?;
            return Ok((conn, stub));
        }
        let setup = async {
            let conn = self.connection(iface, caller).await?;
            let syntax = conn.ensure_context(iface).await?;
            Ok::<_, Error>((conn, syntax))
        };
        let limit = opts
            .call_timeout
            .map_or(opts.connect_timeout, |t| t.min(opts.connect_timeout));
        let (conn, syntax) = match tokio::time::timeout(limit, setup).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(match opts.call_timeout {
                    Some(t) if t <= opts.connect_timeout => Error::CallTimeout(t),
                    _ => Error::ConnectTimeout(opts.connect_timeout),
                });
            }
        };
        let stub = encode(syntax, REQUEST_REP)?;
        Ok((conn, stub))
    }

    /// A live connection with room for one more call, opening one if the pool allows it.
    /// A new connection binds `iface` before it joins the pool, so the association group the server
    /// assigns is known before another connection is opened to join it.
    ///
    /// Causal ordering (the default, unless [`BindingOptions::noncausal`]): calls made from one thread
    /// stay on one connection, where the server receives and dispatches them in the order they were
    /// made. Non-causal calls go to whichever connection has room.
    async fn connection(&self, iface: SyntaxId, caller: Option<ThreadId>) -> Result<ConnHandle> {
        let caller = caller.filter(|_| !self.inner.options.noncausal);
        if let Some(c) = caller.and_then(|t| self.affine(t)) {
            return Ok(c);
        }
        let c = match self.pooled() {
            Some(c) => c,
            None => {
                let _opening = self.inner.connecting.lock().await;
                match self.pooled() {
                    Some(c) => c,
                    None => self.open(iface).await?,
                }
            }
        };
        if let Some(t) = caller {
            let mut map = self
                .inner
                .affinity
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if map.len() >= MAX_AFFINITY_ENTRIES {
                map.retain(|_, c| c.is_usable());
            }
            if map.len() < MAX_AFFINITY_ENTRIES {
                map.insert(t, c.clone());
            }
        }
        Ok(c)
    }

    /// The live connection a thread's earlier calls went to.
    fn affine(&self, t: ThreadId) -> Option<ConnHandle> {
        let map = self
            .inner
            .affinity
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.get(&t).filter(|c| c.is_usable()).cloned()
    }

    /// A pooled connection to use, or `None` when a new one should be opened.
    fn pooled(&self) -> Option<ConnHandle> {
        let opts = &self.inner.options;
        {
            let mut pool = self.inner.pool.lock().unwrap_or_else(|p| p.into_inner());
            pool.retain(|c| c.is_usable());
            if let Some(c) = pool
                .iter()
                .find(|c| c.calls_in_progress() < opts.max_calls_per_connection)
            {
                return Some(c.clone());
            }
            if pool.len() >= opts.max_connections {
                // All connections are full: share the least loaded one; its task queues the call.
                return pool.iter().min_by_key(|c| c.calls_in_progress()).cloned();
            }
        }
        None
    }

    async fn open(&self, iface: SyntaxId) -> Result<ConnHandle> {
        let opts = &self.inner.options;
        // An association group lives as long as one of its connections: with none left, the
        // server has forgotten it (Windows refuses a bind for a group that does not exist), so
        // the new connection starts a new group.
        let alive = {
            let mut pool = self.inner.pool.lock().unwrap_or_else(|p| p.into_inner());
            pool.retain(|c| c.is_usable());
            !pool.is_empty()
        };
        let group = {
            let mut g = self
                .inner
                .assoc_group
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if !alive {
                *g = 0;
            }
            *g
        };
        let (addr, resolved) = self.address(iface).await?;
        let conn = match ConnHandle::connect(addr, opts.clone(), group, &self.inner.rt).await {
            Ok(c) => c,
            Err(e) => {
                if resolved {
                    // The server may have moved: ask the endpoint mapper again next time.
                    *self
                        .inner
                        .resolved
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = None;
                }
                return Err(e);
            }
        };
        conn.ensure_context(iface).await?;
        {
            let mut g = self
                .inner
                .assoc_group
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if group == 0 {
                *g = conn.assoc_group();
            }
        }
        let mut pool = self.inner.pool.lock().unwrap_or_else(|p| p.into_inner());
        pool.push(conn.clone());
        Ok(conn)
    }

    /// Where to connect. A binding without an endpoint is resolved through the endpoint mapper, as
    /// the Windows runtime does for a partially bound handle: `ncacn_ip_tcp:HOST` asks the one on
    /// `HOST` (`ept_map` for `iface`, NDR20, TCP), `ncalrpc:` the one on this host (an ncalrpc
    /// tower). The answer is kept for later connections of this binding. The flag says whether the
    /// address came from the endpoint mapper.
    async fn address(&self, iface: SyntaxId) -> Result<(crate::transport::Address, bool)> {
        use crate::binding::BindingTarget;
        use crate::transport::Address;
        let target = &self.inner.target;
        #[cfg(feature = "ncacn-np")]
        if let Ok(BindingTarget::Np { host, pipe: None }) = target.target() {
            return self.resolve_np(host, iface).await;
        }
        let partial = match target.target() {
            Ok(BindingTarget::Tcp { host, port: None }) => Some(Some(host)),
            Ok(BindingTarget::Lrpc(ep)) if ep.name().is_none() => Some(None),
            _ => None,
        };
        let Some(tcp_host) = partial else {
            return Ok((Address::for_connect(target)?, false));
        };
        let cached = self
            .inner
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(addr) = cached {
            return Ok((addr, true));
        }
        let opts = &self.inner.options;
        // Boxed: resolving makes a call on another binding, which opens a connection.
        let addr = match tcp_host {
            Some(host) => {
                let fut = Box::pin(crate::epm::resolve_tcp(
                    &host,
                    opts.endpoint_mapper_port,
                    iface,
                    self.object(),
                    opts,
                ));
                let port = fut.await?;
                Address::Tcp { host, port }
            }
            None => {
                let fut = Box::pin(crate::epm::resolve_lrpc(
                    opts.endpoint_mapper_port,
                    iface,
                    self.object(),
                    opts,
                ));
                fut.await?
            }
        };
        *self
            .inner
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(addr.clone());
        Ok((addr, true))
    }

    /// `ncacn_np:HOST` without a pipe: the endpoint mapper over `\pipe\epmapper` names it.
    #[cfg(feature = "ncacn-np")]
    async fn resolve_np(
        &self,
        host: String,
        iface: SyntaxId,
    ) -> Result<(crate::transport::Address, bool)> {
        let cached = self
            .inner
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(addr) = cached {
            return Ok((addr, true));
        }
        let fut = Box::pin(crate::epm::resolve_np(
            &host,
            iface,
            self.object(),
            &self.inner.options,
        ));
        let pipe = fut.await?;
        let addr = crate::transport::Address::Pipe { host, pipe };
        *self
            .inner
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(addr.clone());
        Ok((addr, true))
    }

    /// The port the endpoint mapper resolved this `ncacn_ip_tcp` binding to, if it had no
    /// endpoint and a connection was made (`RpcBindingToStringBinding` on a fully bound handle
    /// shows it).
    pub fn resolved_port(&self) -> Option<u16> {
        match &*self
            .inner
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
        {
            Some(crate::transport::Address::Tcp { port, .. }) => Some(*port),
            _ => None,
        }
    }

    /// Where the endpoint mapper sent this binding, if it had no endpoint and a connection was
    /// made: the TCP host and port, or the ncalrpc socket.
    pub fn resolved_address(&self) -> Option<crate::transport::Address> {
        self.inner
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What the SMB layer of this `ncacn_np` binding negotiated (dialect, signing, encryption,
    /// session key), from one of its open pipes; `None` when it has no pipe open (make a call
    /// first) or is not a named-pipe binding.
    pub fn smb_info(&self) -> Option<crate::transport::SmbInfo> {
        let mut pool = self.inner.pool.lock().unwrap_or_else(|p| p.into_inner());
        pool.retain(|c| c.is_usable());
        pool.iter().find_map(|c| c.smb_info().cloned())
    }

    /// The session key of the SMB session under this `ncacn_np` binding, which samr and lsarpc
    /// stubs encrypt passwords with (`RpcBindingInqSecurityContextKeyInfo`; docs/named-pipes.md).
    ///
    /// Errors: `RPC_S_NO_CONTEXT_AVAILABLE` (1765) when the binding has no pipe open yet (make a
    /// call first), is not a named-pipe binding, or the session is SMB 3.x, whose application key
    /// the SMB crate does not expose.
    pub fn smb_session_key(&self) -> Result<Vec<u8>> {
        #[cfg(feature = "ncacn-np")]
        {
            let info = self.smb_info().ok_or_else(|| {
                Error::status_msg(
                    Win32Status::RPC_S_NO_CONTEXT_AVAILABLE,
                    "no SMB session: the binding is not ncacn_np, or has no pipe open yet (make a call first)",
                )
            })?;
            info.session_key.clone().ok_or_else(|| {
                Error::status_msg(
                    Win32Status::RPC_S_NO_CONTEXT_AVAILABLE,
                    format!(
                        "the SMB session (dialect {:#06x}) has no session key available: the smb2 \
                         crate does not expose the SMB 3.x application key",
                        info.dialect
                    ),
                )
            })
        }
        #[cfg(not(feature = "ncacn-np"))]
        Err(Error::status_msg(
            Win32Status::RPC_S_NO_CONTEXT_AVAILABLE,
            "no SMB session: this build of msrpc has no named pipes (cargo feature ncacn-np)",
        ))
    }

    /// Connections this binding has open now.
    pub fn connection_count(&self) -> usize {
        let mut pool = self.inner.pool.lock().unwrap_or_else(|p| p.into_inner());
        pool.retain(|c| c.is_usable());
        pool.len()
    }

    /// Closes the binding's connections in an orderly way; calls in progress fail with
    /// `RPC_S_CALL_FAILED`.
    pub fn close(&self) {
        let pool = std::mem::take(&mut *self.inner.pool.lock().unwrap_or_else(|p| p.into_inner()));
        for c in pool {
            c.close();
        }
    }
}

/// Where the handle's cancel hook finds the call: the call's canceller once the request is queued,
/// and any cancel asked for before that, to be applied as soon as the call exists.
#[derive(Debug, Default)]
struct CancelTarget {
    call: Option<conn::Canceller>,
    early: Option<CancelMode>,
}

type CancelSlot = Arc<Mutex<CancelTarget>>;

/// Starts a call on the handle: the handle's cancel hook reaches the call once it exists.
fn begin_async<R>(state: &AsyncState<R>) -> Result<(CancelSlot, CallCompleter<R>)> {
    let slot: CancelSlot = Arc::new(Mutex::new(CancelTarget::default()));
    let hook = {
        let slot = slot.clone();
        Arc::new(move |mode: CancelMode| {
            let mut t = slot.lock().unwrap_or_else(|p| p.into_inner());
            match &t.call {
                Some(c) => c.cancel(mode),
                // Still connecting or binding: remember it; an abortive cancel wins.
                None if t.early == Some(CancelMode::Abortive) => {}
                None => t.early = Some(mode),
            }
        })
    };
    let completer = state.begin(hook)?;
    Ok((slot, completer))
}

/// An asynchronous call's sink: the connection task completes the handle directly, with the
/// reply's bytes; `decode` runs later, in [`AsyncState::complete`] or the completion future's poll.
struct AsyncSink<R> {
    completer: CallCompleter<R>,
    decode: Box<dyn FnOnce(Reply) -> msrpc_ndr::Result<R> + Send>,
}

impl<R: Send + 'static> conn::CallSink for AsyncSink<R> {
    fn complete(self: Box<Self>, outcome: Result<Reply>) {
        let AsyncSink { completer, decode } = *self;
        match outcome {
            Ok(reply) => {
                completer.finish_deferred(move || Ok(decode(reply)?));
            }
            Err(e) => {
                completer.finish(Err(e));
            }
        }
    }

    fn not_started(self: Box<Self>) {
        self.completer.fail_at_start();
    }
}

impl Drop for BindingInner {
    /// The last handle to the binding is gone (`RpcBindingFree`): its connections close once their
    /// calls in progress are answered, which ends the association (the server runs down its context
    /// handles).
    fn drop(&mut self) {
        for c in self
            .pool
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            c.drain();
        }
    }
}

/// The current tokio runtime, or else a small shared runtime the library starts for synchronous callers.
fn runtime_handle() -> Handle {
    if let Ok(h) = Handle::try_current() {
        return h;
    }
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("msrpc-runtime")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the msrpc runtime: {e}"))
    })
    .handle()
    .clone()
}
