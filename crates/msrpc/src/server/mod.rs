//! The RPC server: interfaces, listeners, limits, dispatch and graceful shutdown.
//!
//! ```no_run
//! # async fn run(iface: std::sync::Arc<dyn msrpc::server::Interface>) -> msrpc::Result<()> {
//! let server = msrpc::server::Server::builder()
//!     .interface(iface)
//!     .listen("ncacn_ip_tcp:127.0.0.1[0]")
//!     .start()
//!     .await?;
//! println!("listening on {}", server.bindings()[0]);
//! server.shutdown(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```
//!
//! A server answers every request it accepts exactly once, with a response or a fault, unless the
//! client orphans it. An [`IncomingCall`] dropped without an answer is faulted with
//! `RPC_S_CALL_FAILED` (mapped to `nca_s_unspec_reject`), never forgotten.

mod async_call;
mod call;
mod conn;
mod context;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tracing::{debug, info, warn};

use crate::auth::{AuthnLevel, ClientIdentity, KerberosService, UserStore};
use crate::binding::StringBinding;
use crate::error::{Error, Result};
use crate::transport::{Address, Listener};
use msrpc_ndr::{DecodeLimits, Syntax};
use msrpc_proto::{SyntaxId, Win32Status};

pub use async_call::{AsyncCall, ReplyEncoder, Subscription};
pub use call::{
    Answered, CallEvent, CallInfo, Dispatch, FaultCode, IncomingCall, Interface, RunOn,
};

pub use context::ContextValue;

/// Server limits and behaviour. Every limit has a documented default.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Connections open at once, over all listeners. Past it, new connections are accepted and closed at
    /// once. Default 1024.
    pub max_connections: usize,
    /// Calls in progress on one connection. Past it the server stops reading from that connection
    /// (backpressure) rather than faulting well-formed calls. Default 1234.
    pub max_calls_per_connection: usize,
    /// Calls in progress in the whole server (`RPC_C_LISTEN_MAX_CALLS_DEFAULT`). Past it, new calls get
    /// the fault `nca_s_server_too_busy`. Default 1234.
    pub max_calls: usize,
    /// The largest reassembled request stub (MS-RPCE 3.3.3.5.4). Default 4 MiB.
    pub max_request_size: usize,
    /// The largest fragment the server offers to receive and send (`max_recv_frag`/`max_xmit_frag`).
    /// Default 5840, as Samba and Windows.
    pub max_fragment: u16,
    /// Answers (responses, faults) queued on one connection and not yet written before the server stops
    /// reading more requests from it: a client that never reads its responses stalls only itself.
    /// Default 64.
    pub max_queued_answers: usize,
    /// A connection with no call in progress and no bytes received for this long is closed. Default 15 min.
    pub idle_timeout: Duration,
    /// How long a partially received PDU (or request being reassembled) may take before the
    /// connection is closed, and how long a new connection may take to complete its first bind.
    /// The clock restarts whenever a whole PDU arrives, so a client that streams many PDUs is never
    /// cut off; a slow-loris client sending a byte at a time, or a half-open connection that sent
    /// part of a PDU and went silent, is. Time the server spends not reading (backpressure) does not
    /// count. Default 30 s.
    pub pdu_timeout: Duration,
    /// Whether mgmt `stop_server_listening` is honoured. Default false: the call is denied with
    /// `ERROR_ACCESS_DENIED` (5).
    pub allow_remote_stop: bool,
    /// The principal name `mgmt inq_princ_name` answers. Default empty.
    pub principal_name: String,
    /// The transfer syntax accepted when a client offers both NDR20 and NDR64 for an interface
    /// (MS-RPCE 3.3.1.5.6; per interface with [`ServerBuilder::interface_syntax`]). Default
    /// [`Syntax::Ndr64`], as a 64-bit Windows server built with MIDL's `/protocol all` does; a
    /// client that offers only NDR20 (Samba, impacket, 32-bit Windows) gets NDR20 either way.
    pub preferred_syntax: Syntax,
    /// What decoding one request may cost: nesting depth, pointers, pointees and bytes allocated
    /// ([`DecodeLimits`]; its defaults: depth 64, 65,536 full pointers, 1,048,576 pointees,
    /// 64 MiB). The generated server stubs decode under these; a request past them is faulted with
    /// `RPC_X_BAD_STUB_DATA` before the manager runs.
    pub decode_limits: DecodeLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 1024,
            max_calls_per_connection: 1234,
            max_calls: 1234,
            max_request_size: 4 * 1024 * 1024,
            max_fragment: 5840,
            max_queued_answers: 64,
            idle_timeout: Duration::from_secs(15 * 60),
            pdu_timeout: Duration::from_secs(30),
            allow_remote_stop: false,
            principal_name: String::new(),
            preferred_syntax: Syntax::Ndr64,
            decode_limits: DecodeLimits::default(),
        }
    }
}

/// What a server asks of the callers of one interface (`RpcServerRegisterIf3`'s flags and
/// security callback).
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct InterfaceSecurity {
    /// Calls below this level are refused with `ERROR_ACCESS_DENIED` (5) before the manager
    /// runs. Default [`AuthnLevel::None`]: anyone.
    pub min_auth_level: AuthnLevel,
    /// Called for every call that passed the level check; `false` refuses it with
    /// `ERROR_ACCESS_DENIED` before the manager runs. Default none.
    pub callback: Option<SecurityCallback>,
    /// Whether anonymous logons (an anonymous NTLM context, directly or inside SPNEGO:
    /// [`ClientIdentity::anonymous`]) may call the interface. Default `false`: they are refused
    /// with `ERROR_ACCESS_DENIED` (5) before the level check and the callback, which is stricter
    /// than Windows (it leaves them to the security callback). The built-in endpoint mapper and
    /// mgmt serve them, as Windows' do. Calls with no security context at all are not anonymous
    /// logons: [`min_auth_level`](Self::min_auth_level) governs them.
    pub allow_anonymous: bool,
}

impl InterfaceSecurity {
    /// Refuse calls below `level`.
    pub fn min_level(level: AuthnLevel) -> InterfaceSecurity {
        InterfaceSecurity {
            min_auth_level: level,
            callback: None,
            allow_anonymous: false,
        }
    }

    /// Lets anonymous logons call the interface (they still pass the level check and the
    /// callback, which sees [`ClientIdentity::is_anonymous`]).
    pub fn allow_anonymous(mut self) -> InterfaceSecurity {
        self.allow_anonymous = true;
        self
    }

    /// Also ask `f` about every call (by client identity, interface and opnum).
    pub fn with_callback(
        mut self,
        f: impl Fn(&SecurityCheck<'_>) -> bool + Send + Sync + 'static,
    ) -> InterfaceSecurity {
        self.callback = Some(Arc::new(f));
        self
    }
}

impl std::fmt::Debug for InterfaceSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterfaceSecurity")
            .field("min_auth_level", &self.min_auth_level)
            .field("callback", &self.callback.is_some())
            .field("allow_anonymous", &self.allow_anonymous)
            .finish()
    }
}

/// A security callback: `true` lets the call through.
pub type SecurityCallback = Arc<dyn Fn(&SecurityCheck<'_>) -> bool + Send + Sync>;

/// What a security callback sees about a call before its manager runs.
#[derive(Debug)]
#[non_exhaustive]
pub struct SecurityCheck<'a> {
    /// The client's identity (anonymous logons included: [`ClientIdentity::is_anonymous`]), or
    /// `None` for a call with no security context.
    pub client: Option<&'a ClientIdentity>,
    /// The interface.
    pub interface: SyntaxId,
    /// The operation.
    pub opnum: u16,
    /// The client's address.
    pub peer: &'a crate::transport::PeerAddr,
}

/// Builds a [`Server`].
#[derive(Default)]
pub struct ServerBuilder {
    config: ServerConfig,
    interfaces: Vec<(Arc<dyn Interface>, uuid::Uuid)>,
    object_types: Vec<(uuid::Uuid, uuid::Uuid)>,
    listen: Vec<String>,
    builtin_mgmt: bool,
    /// Serve the endpoint mapper, listening here too.
    epm_listen: Option<String>,
    /// Register with the endpoint mapper at this binding.
    epm_external: Option<String>,
    users: Option<Arc<UserStore>>,
    kerberos: Option<Arc<KerberosService>>,
    schannel: Option<Arc<crate::auth::SchannelKeys>>,
    default_security: InterfaceSecurity,
    security: Vec<(SyntaxId, InterfaceSecurity)>,
    syntaxes: Vec<(SyntaxId, Syntax)>,
    refuse_anonymous: bool,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("interfaces", &self.interfaces.len())
            .field("listen", &self.listen)
            .finish()
    }
}

impl ServerBuilder {
    /// Replaces the configuration.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Registers an interface (`RpcServerRegisterIf`) as the manager for objects of the nil type.
    pub fn interface(mut self, iface: Arc<dyn Interface>) -> Self {
        self.interfaces.push((iface, uuid::Uuid::nil()));
        self
    }

    /// Registers an interface's manager for one object type (`RpcServerRegisterIf` with
    /// `MgrTypeUuid`). Requests whose object UUID has that type (see [`ServerBuilder::object_type`])
    /// go to this manager.
    pub fn interface_for_type(mut self, iface: Arc<dyn Interface>, type_uuid: uuid::Uuid) -> Self {
        self.interfaces.push((iface, type_uuid));
        self
    }

    /// Gives an object UUID a type (`RpcObjectSetType`). Objects never given a type have the nil type.
    pub fn object_type(mut self, object: uuid::Uuid, type_uuid: uuid::Uuid) -> Self {
        self.object_types.push((object, type_uuid));
        self
    }

    /// Adds a listener, as a string binding: `ncacn_ip_tcp:127.0.0.1[8765]`, `ncacn_ip_tcp:[::1][0]`
    /// (port 0 picks a free port), `ncalrpc:[name]`.
    pub fn listen(mut self, binding: impl Into<String>) -> Self {
        self.listen.push(binding.into());
        self
    }

    /// Serves the endpoint mapper (epm v3.0) in this server, listening on `binding` as well
    /// (usually `ncacn_ip_tcp:127.0.0.1[135]`, the well-known endpoint; any port works), and
    /// registers every interface of the server (mgmt aside) at each of its other listeners, with
    /// the real ports: listen on `ncacn_ip_tcp:127.0.0.1[0]` and clients resolve the port through
    /// the endpoint mapper. [`Server::register`] adds later interfaces; shutdown removes them.
    /// See [`crate::epm`].
    pub fn endpoint_mapper(mut self, binding: impl Into<String>) -> Self {
        self.epm_listen = Some(binding.into());
        self
    }

    /// Registers every interface of the server (mgmt aside) at each listener with the host's
    /// endpoint mapper at `epm` (`ept_insert`, usually on `ncacn_ip_tcp:127.0.0.1[135]`; endpoint
    /// mappers accept it from local callers only), and removes them (`ept_delete`) at shutdown.
    /// Starting fails if the endpoint mapper refuses.
    pub fn register_with_endpoint_mapper(mut self, epm: impl Into<String>) -> Self {
        self.epm_external = Some(epm.into());
        self
    }

    /// Accepts NTLM-authenticated clients whose accounts are in `users`
    /// (`RpcServerRegisterAuthInfo`), with NTLM (auth type 10) directly or inside Negotiate
    /// (SPNEGO, auth type 9), as a Windows server registered with `RPC_C_AUTHN_GSS_NEGOTIATE`
    /// does. Without it, authenticated binds are refused with bind_nak
    /// `AUTHENTICATION_TYPE_NOT_RECOGNIZED`.
    pub fn authentication(mut self, users: Arc<UserStore>) -> Self {
        self.users = Some(users);
        self
    }

    /// Accepts Kerberos (auth type 16, DCE style) for `service`: clients present tickets for its
    /// principal from their KDC. Combines with [`ServerBuilder::authentication`].
    pub fn kerberos(mut self, service: KerberosService) -> Self {
        self.kerberos = Some(Arc::new(service));
        self
    }

    /// Accepts Schannel (auth type 68, `RPC_C_AUTHN_NETLOGON`, [MS-NRPC] 3.3) with the session
    /// keys in `keys`: a netlogon interface served here adds each secure channel its
    /// NetrServerAuthenticate3 establishes. Combines with the others.
    pub fn schannel(mut self, keys: Arc<crate::auth::SchannelKeys>) -> Self {
        self.schannel = Some(keys);
        self
    }

    /// The minimum level for every interface of the server except the endpoint mapper (which
    /// stays open to anonymous lookups, as on Windows) and interfaces given their own
    /// [`ServerBuilder::interface_security`]. mgmt is included. Default [`AuthnLevel::None`].
    pub fn min_auth_level(mut self, level: AuthnLevel) -> Self {
        self.default_security.min_auth_level = level;
        self
    }

    /// Lets anonymous logons call every interface without its own [`InterfaceSecurity`] (see
    /// [`InterfaceSecurity::allow_anonymous`]; by default they are refused).
    pub fn allow_anonymous(mut self) -> Self {
        self.default_security.allow_anonymous = true;
        self
    }

    /// Refuses anonymous logons everywhere, the endpoint mapper and mgmt included, whatever an
    /// interface allows: their calls get `ERROR_ACCESS_DENIED` (5) before any manager runs
    /// (`msrpc serve --no-anonymous`).
    pub fn refuse_anonymous(mut self) -> Self {
        self.refuse_anonymous = true;
        self
    }

    /// A security callback for every interface without its own [`InterfaceSecurity`]
    /// (the endpoint mapper aside).
    pub fn security_callback(
        mut self,
        f: impl Fn(&SecurityCheck<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.default_security.callback = Some(Arc::new(f));
        self
    }

    /// The security of one interface (by UUID and major version), replacing the server-wide
    /// [`min_auth_level`](Self::min_auth_level) and [`security_callback`](Self::security_callback)
    /// for it.
    pub fn interface_security(mut self, interface: SyntaxId, security: InterfaceSecurity) -> Self {
        self.security.push((interface, security));
        self
    }

    /// The transfer syntax one interface (by UUID and major version) prefers when a client offers
    /// both, replacing [`ServerConfig::preferred_syntax`] for it.
    pub fn interface_syntax(mut self, interface: SyntaxId, syntax: Syntax) -> Self {
        self.syntaxes.push((interface, syntax));
        self
    }

    /// Leaves out the built-in mgmt interface (it is served by default).
    pub fn without_mgmt(mut self) -> Self {
        self.builtin_mgmt = false;
        self
    }

    /// Binds every listener and starts serving.
    pub async fn start(self) -> Result<Server> {
        if self.listen.is_empty() {
            return Err(Error::status_msg(
                Win32Status::RPC_S_NO_PROTSEQS_REGISTERED,
                "no listener: add one with .listen(\"ncacn_ip_tcp:127.0.0.1[0]\")",
            ));
        }
        let with_mgmt = self.builtin_mgmt;
        let to_register: Vec<(SyntaxId, String)> = self
            .interfaces
            .iter()
            .map(|(i, _)| (i.syntax(), i.name().to_owned()))
            .collect();
        let epm_db = self
            .epm_listen
            .as_ref()
            .map(|_| Arc::new(crate::epm::EndpointDb::new()));
        let epm_external = match &self.epm_external {
            Some(b) => {
                // Bounded, so an endpoint mapper that went away cannot hold up shutdown for long.
                let opts = crate::client::BindingOptions {
                    connect_timeout: Duration::from_secs(5),
                    call_timeout: Some(Duration::from_secs(5)),
                    ..Default::default()
                };
                Some(crate::client::Binding::with_options(b, opts)?)
            }
            None => None,
        };
        let mut security = HashMap::new();
        for (id, sec) in self.security {
            security.insert((id.uuid, id.major), sec);
        }
        let shared = Arc::new(Shared {
            users: self.users,
            kerberos: self.kerberos,
            schannel: self.schannel,
            default_security: self.default_security,
            refuse_anonymous: self.refuse_anonymous,
            security,
            syntaxes: {
                // The endpoint mapper prefers NDR20 unless told otherwise: its clients (Windows'
                // runtime resolving endpoints, impacket, Samba) speak NDR20 to it, and tshark
                // dissects its towers in NDR20 only.
                let epm = crate::epm::EPM;
                let mut m: HashMap<_, _> = HashMap::from([((epm.uuid, epm.major), Syntax::Ndr20)]);
                m.extend(self.syntaxes.iter().map(|(i, s)| ((i.uuid, i.major), *s)));
                m
            },
            config: self.config,
            interfaces: Mutex::new(HashMap::new()),
            object_types: Mutex::new(HashMap::new()),
            next_assoc_group: std::sync::atomic::AtomicU32::new(0x0001_0000),
            stats: Stats::default(),
            groups: context::Groups::default(),
            connections: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
            listening: AtomicBool::new(true),
            stop: watch::channel(false).0,
            close_all: watch::channel(false).0,
            idle: Notify::new(),
            closed: Notify::new(),
            bindings: Mutex::new(Vec::new()),
            epm: Mutex::new(None),
            strict_contexts: Mutex::new(std::collections::HashSet::new()),
        });
        if with_mgmt {
            let mgmt =
                crate::mgmt::MgmtInterface::new(crate::mgmt::Manager::new(Arc::downgrade(&shared)));
            shared.register(Arc::new(mgmt), uuid::Uuid::nil())?;
        }
        if let Some(db) = &epm_db {
            shared.register(
                Arc::new(crate::epm::EndpointMapper::new(db.clone()).service()),
                uuid::Uuid::nil(),
            )?;
        }
        for (iface, ty) in self.interfaces {
            shared.register(iface, ty)?;
        }
        for (object, ty) in self.object_types {
            shared.set_object_type(object, ty);
        }
        let mut listeners = Vec::new();
        let mut dynamic = Vec::new();
        let epm_listen = self.epm_listen.iter().map(|b| (b, true));
        for (text, is_epm) in self.listen.iter().map(|b| (b, false)).chain(epm_listen) {
            let binding: StringBinding = text.parse()?;
            let addr = Address::for_listen(&binding)?;
            let listener = Listener::bind(&addr).await.map_err(|e| {
                Error::status_msg(
                    Win32Status::RPC_S_CANT_CREATE_ENDPOINT,
                    format!("cannot listen on {text}: {e}"),
                )
            })?;
            let real = listener.local_addr().map_err(|e| {
                Error::status_msg(Win32Status::RPC_S_CANT_CREATE_ENDPOINT, e.to_string())
            })?;
            let shown = real.apply_to(&binding);
            info!(binding = %shown, "listening");
            if !is_epm {
                dynamic.push(shown.clone());
            }
            shared
                .bindings
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(shown);
            listeners.push(listener);
        }
        for listener in listeners {
            tokio::spawn(accept_loop(shared.clone(), listener));
        }
        let server = Server { shared };
        if epm_db.is_some() || epm_external.is_some() {
            let reg = Arc::new(crate::epm::Registration::new(epm_db, epm_external, dynamic));
            *server.shared.epm.lock().unwrap_or_else(|p| p.into_inner()) = Some(reg.clone());
            if let Err(e) = reg.add(&to_register).await {
                server.shutdown(Duration::ZERO).await;
                return Err(e);
            }
        }
        Ok(server)
    }
}

/// A running server. Dropping it does not stop it; call [`Server::shutdown`].
#[derive(Clone, Debug)]
pub struct Server {
    shared: Arc<Shared>,
}

impl Server {
    /// A builder with the default configuration and the built-in mgmt interface.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            builtin_mgmt: true,
            ..ServerBuilder::default()
        }
    }

    /// The bindings the server listens on, with the real ports (`ncacn_ip_tcp:127.0.0.1[49731]`).
    pub fn bindings(&self) -> Vec<StringBinding> {
        self.shared
            .bindings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Registers one more interface while running, for the nil object type. With an endpoint
    /// mapper (served or external), use [`Server::register_and_announce`] to register its
    /// endpoints too.
    pub fn register(&self, iface: Arc<dyn Interface>) -> Result<()> {
        self.shared.register(iface, uuid::Uuid::nil())
    }

    /// [`Server::register`], then registers the interface's endpoints with the endpoint mapper the
    /// server serves or registers with (nothing more without one).
    pub async fn register_and_announce(&self, iface: Arc<dyn Interface>) -> Result<()> {
        let entry = (iface.syntax(), iface.name().to_owned());
        self.shared.register(iface, uuid::Uuid::nil())?;
        match self.epm_registration() {
            Some(reg) => reg.add(&[entry]).await,
            None => Ok(()),
        }
    }

    /// The endpoint map this server serves ([`ServerBuilder::endpoint_mapper`]), if any.
    pub fn endpoint_db(&self) -> Option<Arc<crate::epm::EndpointDb>> {
        self.epm_registration()?.local_db().cloned()
    }

    fn epm_registration(&self) -> Option<Arc<crate::epm::Registration>> {
        self.shared
            .epm
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// `RpcObjectSetType` while running: requests for `object` go to the manager registered for
    /// `type_uuid`. The nil type removes the object's type.
    pub fn set_object_type(&self, object: uuid::Uuid, type_uuid: uuid::Uuid) {
        self.shared.set_object_type(object, type_uuid);
    }

    /// Counters (the mgmt `inq_stats` values and more).
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot(&self.shared)
    }

    /// Resolves when the server stops listening: after [`Server::shutdown`] or an allowed remote
    /// `stop_server_listening`.
    pub async fn stopped(&self) {
        let mut rx = self.shared.stop.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Graceful shutdown: stop accepting connections and new calls, let calls in progress finish for up
    /// to `grace`, then close every connection.
    pub async fn shutdown(&self, grace: Duration) {
        // Unregister first, so no client is sent here any more.
        if let Some(reg) = self.epm_registration() {
            reg.remove_all().await;
        }
        self.shared.stop_listening();
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let idle = self.shared.idle.notified();
            if self.shared.calls.load(Ordering::Acquire) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                warn!(
                    calls = self.shared.calls.load(Ordering::Acquire),
                    "shutdown grace expired with calls in progress"
                );
                break;
            }
        }
        self.shared.close_all.send_replace(true);
        // Let the connections write the answers already given and close, so a process that exits
        // right after `shutdown` does not cut them off. Bounded: a peer that never reads cannot
        // hold the shutdown up.
        let flush_deadline = tokio::time::Instant::now() + SHUTDOWN_FLUSH;
        loop {
            let closed = self.shared.closed.notified();
            if self.shared.connections.load(Ordering::Acquire) == 0 {
                break;
            }
            if tokio::time::timeout_at(flush_deadline, closed)
                .await
                .is_err()
            {
                warn!(
                    connections = self.shared.connections.load(Ordering::Acquire),
                    "connections still open after shutdown"
                );
                break;
            }
        }
    }
}

/// How long [`Server::shutdown`] waits, after the grace period, for connections to write the answers
/// already given and close.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);

/// The managers of one interface, by object type.
type Managers = HashMap<uuid::Uuid, Arc<dyn Interface>>;

/// Server state shared by its listeners, connections and the mgmt interface.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    /// Accounts for NTLM, if the server authenticates.
    pub(crate) users: Option<Arc<UserStore>>,
    /// The Kerberos service, if the server accepts Kerberos.
    pub(crate) kerberos: Option<Arc<KerberosService>>,
    /// Schannel's session keys, if the server accepts Schannel.
    pub(crate) schannel: Option<Arc<crate::auth::SchannelKeys>>,
    default_security: InterfaceSecurity,
    /// Anonymous logons are refused everywhere ([`ServerBuilder::refuse_anonymous`]).
    refuse_anonymous: bool,
    security: HashMap<(uuid::Uuid, u16), InterfaceSecurity>,
    /// Per-interface transfer syntax preferences (else `config.preferred_syntax`).
    syntaxes: HashMap<(uuid::Uuid, u16), Syntax>,
    /// Managers by interface (UUID, major version), then by object type.
    interfaces: Mutex<HashMap<(uuid::Uuid, u16), Managers>>,
    object_types: Mutex<HashMap<uuid::Uuid, uuid::Uuid>>,
    next_assoc_group: std::sync::atomic::AtomicU32,
    pub(crate) stats: Stats,
    pub(crate) groups: context::Groups,
    connections: AtomicUsize,
    pub(crate) calls: AtomicUsize,
    listening: AtomicBool,
    stop: watch::Sender<bool>,
    pub(crate) close_all: watch::Sender<bool>,
    pub(crate) idle: Notify,
    /// Notified when the last connection closes.
    closed: Notify,
    bindings: Mutex<Vec<StringBinding>>,
    /// The endpoints registered with an endpoint mapper, to remove at shutdown.
    epm: Mutex<Option<Arc<crate::epm::Registration>>>,
    /// The `[strict_context_handle]` interfaces registered
    /// ([`Interface::strict_context_handles`]).
    strict_contexts: Mutex<std::collections::HashSet<SyntaxId>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("connections", &self.connections)
            .field("calls", &self.calls)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// A `[strict_context_handle]` interface (its calls get only its own context handles).
    pub(crate) fn is_strict(&self, id: &SyntaxId) -> bool {
        let s = self
            .strict_contexts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        !s.is_empty() && s.contains(id)
    }

    fn register(&self, iface: Arc<dyn Interface>, type_uuid: uuid::Uuid) -> Result<()> {
        let id = iface.syntax();
        if iface.strict_context_handles() {
            self.strict_contexts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id);
        }
        let mut map = self.interfaces.lock().unwrap_or_else(|p| p.into_inner());
        let managers = map.entry((id.uuid, id.major)).or_default();
        if let Some(existing) = managers.values().next()
            && existing.syntax() != id
        {
            let e = existing.syntax();
            return Err(Error::status_msg(
                Win32Status::RPC_S_ALREADY_REGISTERED,
                format!(
                    "interface {} is already registered as v{}.{}",
                    id.uuid, e.major, e.minor
                ),
            ));
        }
        if managers.contains_key(&type_uuid) {
            return Err(Error::status_msg(
                Win32Status::RPC_S_TYPE_ALREADY_REGISTERED,
                format!(
                    "interface {} v{}.{} already has a manager for type {type_uuid}",
                    id.uuid, id.major, id.minor
                ),
            ));
        }
        debug!(uuid = %id.uuid, major = id.major, minor = id.minor, name = iface.name(), %type_uuid, "registered interface");
        managers.insert(type_uuid, iface);
        Ok(())
    }

    fn set_object_type(&self, object: uuid::Uuid, type_uuid: uuid::Uuid) {
        let mut t = self.object_types.lock().unwrap_or_else(|p| p.into_inner());
        if type_uuid.is_nil() {
            t.remove(&object);
        } else {
            t.insert(object, type_uuid);
        }
    }

    /// Whether some manager serves `offered` at the client's version: the same major and a minor at
    /// least the client's (the DCE rule).
    pub(crate) fn serves(&self, offered: &SyntaxId) -> bool {
        let map = self.interfaces.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(offered.uuid, offered.major))
            .and_then(|m| m.values().next())
            .is_some_and(|i| offered.is_served_by(&i.syntax()))
    }

    /// The transfer syntax `interface` prefers when a client offers both.
    pub(crate) fn preferred_syntax(&self, interface: &SyntaxId) -> Syntax {
        self.syntaxes
            .get(&(interface.uuid, interface.major))
            .copied()
            .unwrap_or(self.config.preferred_syntax)
    }

    /// The manager for a call: by interface, then by the type of the call's object (nil when the
    /// request carries no object UUID or the object has no type). `Err` is the fault to send.
    pub(crate) fn manager(
        &self,
        offered: &SyntaxId,
        object: Option<uuid::Uuid>,
    ) -> std::result::Result<Arc<dyn Interface>, msrpc_proto::FaultStatus> {
        let ty = object
            .and_then(|o| {
                self.object_types
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&o)
                    .copied()
            })
            .unwrap_or_else(uuid::Uuid::nil);
        let map = self.interfaces.lock().unwrap_or_else(|p| p.into_inner());
        let managers = map
            .get(&(offered.uuid, offered.major))
            .ok_or(msrpc_proto::FaultStatus::NCA_S_UNK_IF)?;
        managers
            .get(&ty)
            .cloned()
            .ok_or(msrpc_proto::FaultStatus::NCA_S_UNSUPPORTED_TYPE)
    }

    /// True when [`admits`](Self::admits) passes every call to `id` from a caller that is not an
    /// anonymous logon: the endpoint mapper, and interfaces with no minimum level and no callback.
    /// The interfaces' security is fixed when the server is built, so a connection may remember
    /// this; anonymous logons always go through [`admits`](Self::admits) (the anonymous policy).
    pub(crate) fn admits_all(&self, id: &SyntaxId) -> bool {
        if id.uuid == crate::epm::EPM.uuid {
            return true;
        }
        let sec = self
            .security
            .get(&(id.uuid, id.major))
            .unwrap_or(&self.default_security);
        sec.min_auth_level.effective() == AuthnLevel::None && sec.callback.is_none()
    }

    /// Whether a call may reach its manager: the anonymous policy, the interface's minimum level,
    /// then its security callback. The endpoint mapper is always open (but to anonymous logons
    /// only when the server does not refuse them), mgmt serves anonymous logons too (docs/auth.md).
    pub(crate) fn admits(&self, check: &SecurityCheck<'_>) -> bool {
        let id = check.interface;
        let anonymous = check.client.is_some_and(|c| c.anonymous);
        if anonymous && self.refuse_anonymous {
            return false;
        }
        if id.uuid == crate::epm::EPM.uuid {
            return true;
        }
        let sec = self
            .security
            .get(&(id.uuid, id.major))
            .unwrap_or(&self.default_security);
        let builtin = id.uuid == crate::mgmt::MGMT.uuid;
        if anonymous && !sec.allow_anonymous && !builtin {
            return false;
        }
        let level = check.client.map_or(AuthnLevel::None, |c| c.level);
        if level < sec.min_auth_level.effective() {
            return false;
        }
        sec.callback.as_ref().is_none_or(|cb| cb(check))
    }

    /// A new association group id (never 0).
    pub(crate) fn new_assoc_group(&self) -> u32 {
        loop {
            let g = self.next_assoc_group.fetch_add(1, Ordering::Relaxed);
            if g != 0 {
                return g;
            }
        }
    }

    /// Every registered interface (mgmt `inq_if_ids`).
    pub(crate) fn interface_ids(&self) -> Vec<SyntaxId> {
        let map = self.interfaces.lock().unwrap_or_else(|p| p.into_inner());
        let mut ids: Vec<_> = map
            .values()
            .filter_map(|m| m.values().next())
            .map(|i| i.syntax())
            .collect();
        ids.sort();
        ids
    }

    pub(crate) fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    pub(crate) fn stop_listening(&self) {
        self.listening.store(false, Ordering::Release);
        self.stop.send_replace(true);
    }
}

/// Server counters. The per-call ones (calls and PDUs in and out, faults) are counted by each
/// connection in a [`ConnStats`] of its own, which only its task writes: no atomic
/// read-modify-write on a cache line every connection shares, once per call. They are summed when
/// read ([`Stats::totals`]): the totals of the connections that have closed, plus those of every
/// connection still open, taken under one lock, so a read is exact (mgmt `inq_stats`).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Connections open now, and the sum of the counters of those that have closed.
    conns: Mutex<ConnTotals>,
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    pub(crate) pdu_timeouts: AtomicU64,
    pub(crate) idle_closed: AtomicU64,
}

#[derive(Debug, Default)]
struct ConnTotals {
    open: Vec<Arc<ConnStats>>,
    closed: [u64; ConnStats::COUNTERS],
}

/// One connection's per-call counters. Written by its connection task only (a load and a
/// store, no read-modify-write), read by [`Stats::totals`] from anywhere. On a cache line of its
/// own.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct ConnStats {
    /// calls received, calls sent, PDUs received, PDUs sent, faults sent.
    counters: [AtomicU64; ConnStats::COUNTERS],
}

impl ConnStats {
    const COUNTERS: usize = 5;
    pub(crate) const CALLS_RECEIVED: usize = 0;
    pub(crate) const CALLS_SENT: usize = 1;
    pub(crate) const PKTS_RECEIVED: usize = 2;
    pub(crate) const PKTS_SENT: usize = 3;
    pub(crate) const FAULTS_SENT: usize = 4;

    /// Adds `n` to counter `i`. Only the connection's own task calls it (one writer).
    #[inline]
    pub(crate) fn add(&self, i: usize, n: u64) {
        let c = &self.counters[i];
        c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    fn values(&self) -> [u64; ConnStats::COUNTERS] {
        std::array::from_fn(|i| self.counters[i].load(Ordering::Relaxed))
    }
}

/// A connection's counters, registered with the server while the connection lives; dropping it
/// folds them into the closed connections' totals.
pub(crate) struct ConnCounters {
    shared: Arc<Shared>,
    stats: Arc<ConnStats>,
}

impl ConnCounters {
    pub(crate) fn register(shared: &Arc<Shared>) -> ConnCounters {
        let stats = Arc::new(ConnStats::default());
        shared
            .stats
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .open
            .push(stats.clone());
        ConnCounters {
            shared: shared.clone(),
            stats,
        }
    }
}

impl std::ops::Deref for ConnCounters {
    type Target = ConnStats;
    fn deref(&self) -> &ConnStats {
        &self.stats
    }
}

impl Drop for ConnCounters {
    fn drop(&mut self) {
        let mut t = self
            .shared
            .stats
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(i) = t.open.iter().position(|s| Arc::ptr_eq(s, &self.stats)) {
            t.open.swap_remove(i);
        }
        for (sum, v) in t.closed.iter_mut().zip(self.stats.values()) {
            *sum = sum.wrapping_add(v);
        }
    }
}

impl Stats {
    /// The per-call counters summed over every connection, open or closed, in
    /// [`ConnStats`]' order.
    pub(crate) fn totals(&self) -> [u64; ConnStats::COUNTERS] {
        let t = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        let mut sum = t.closed;
        for c in &t.open {
            for (s, v) in sum.iter_mut().zip(c.values()) {
                *s = s.wrapping_add(v);
            }
        }
        sum
    }
}

/// A copy of the server's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Requests received (mgmt `rpc_c_stats_calls_in`).
    pub calls_received: u64,
    /// Responses sent (mgmt `rpc_c_stats_calls_out`).
    pub calls_sent: u64,
    /// PDUs received (mgmt `rpc_c_stats_pkts_in`).
    pub pkts_received: u64,
    /// PDUs sent (mgmt `rpc_c_stats_pkts_out`).
    pub pkts_sent: u64,
    /// Faults sent.
    pub faults_sent: u64,
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections refused because of `max_connections`.
    pub connections_refused: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Calls in progress now.
    pub calls_in_progress: u64,
    /// Connections closed by `pdu_timeout` (slow or half-sent PDU, or no bind in time).
    pub pdu_timeouts: u64,
    /// Connections closed by `idle_timeout`.
    pub idle_closed: u64,
}

impl Stats {
    fn snapshot(&self, shared: &Shared) -> StatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let t = self.totals();
        StatsSnapshot {
            calls_received: t[ConnStats::CALLS_RECEIVED],
            calls_sent: t[ConnStats::CALLS_SENT],
            pkts_received: t[ConnStats::PKTS_RECEIVED],
            pkts_sent: t[ConnStats::PKTS_SENT],
            faults_sent: t[ConnStats::FAULTS_SENT],
            connections_accepted: l(&self.connections_accepted),
            connections_refused: l(&self.connections_refused),
            connections_open: shared.connections.load(Ordering::Relaxed) as u64,
            calls_in_progress: shared.calls.load(Ordering::Relaxed) as u64,
            pdu_timeouts: l(&self.pdu_timeouts),
            idle_closed: l(&self.idle_closed),
        }
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: Listener) {
    let mut stop = shared.stop.subscribe();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let open = shared.connections.fetch_add(1, Ordering::AcqRel);
        if open >= shared.config.max_connections {
            shared.connections.fetch_sub(1, Ordering::AcqRel);
            shared
                .stats
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            debug!(?peer, "connection refused: max_connections reached");
            drop(stream);
            continue;
        }
        shared
            .stats
            .connections_accepted
            .fetch_add(1, Ordering::Relaxed);
        let s = shared.clone();
        tokio::spawn(async move {
            conn::serve_connection(s.clone(), stream, peer).await;
            if s.connections.fetch_sub(1, Ordering::AcqRel) == 1 {
                s.closed.notify_waiters();
            }
        });
    }
    debug!("listener stopped");
}
