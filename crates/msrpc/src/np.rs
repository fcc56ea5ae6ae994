//! `ncacn_np`: connection-oriented RPC over SMB2/3 named pipes, client side (cargo feature
//! `ncacn-np`). SMB itself is the `smb2` crate's; this module is the glue (docs/named-pipes.md).
//!
//! - **Sessions.** One SMB session per server, port and credentials, shared by every pipe opened
//!   to it from this process (`SmbSession`): a binding with several connections opens several
//!   pipes on one session, and two bindings to one server share it too. A session whose TCP
//!   connection is gone is replaced by a new one on the next connect (reconnect after the server
//!   closed it); pipes that were open on it fail their calls, as a closed TCP connection does.
//! - **The pipe.** CREATE of `NAME` on `IPC$`, then a byte stream to the runtime (the same
//!   connection task as TCP drives it): every RPC PDU the runtime writes goes out as one SMB2
//!   WRITE (a message on a message-mode pipe), and SMB2 READs hand what the server writes back.
//!   A READ is kept outstanding while any reply is awaited, so many calls are in progress on one
//!   pipe at once (call ids tell them apart). When nothing else is awaited, the last fragment of a
//!   request or a bind goes out as FSCTL_PIPE_TRANSCEIVE instead, which writes it and reads the
//!   reply in one exchange, as Windows does for a synchronous call ([`SmbOptions::transceive`]).
//! - **Closing.** When the runtime closes the connection the pipe is CLOSEd; when the server or
//!   the SMB connection ends it, the runtime sees end of stream and fails the calls in progress
//!   (1726 or 1820), never leaving them waiting.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use smb2::msg::close::CloseRequest;
use smb2::msg::create::{
    CreateDisposition, CreateRequest, CreateResponse, ImpersonationLevel, ShareAccess,
};
use smb2::msg::ioctl::{FSCTL_PIPE_TRANSCEIVE, IoctlRequest, IoctlResponse};
use smb2::msg::read::{ReadRequest, ReadResponse, SMB2_CHANNEL_NONE};
use smb2::msg::write::WriteRequest;
use smb2::pack::{ReadCursor, Unpack};
use smb2::types::flags::FileAccessMask;
use smb2::types::status::NtStatus;
use smb2::types::{Command, FileId, OplockLevel, TreeId};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tracing::{debug, trace};

use crate::auth::Credentials;
use crate::client::BindingOptions;
use crate::error::{Error, Result};
use msrpc_proto::Win32Status;

pub use crate::client::SmbOptions;

/// What the SMB layer of a named-pipe connection negotiated, and the session key stubs need
/// (`RpcBindingInqSecurityContextKeyInfo`; samr and lsarpc encrypt passwords with it).
#[derive(Clone)]
#[non_exhaustive]
pub struct SmbSessionInfo {
    /// The SMB dialect, as on the wire: 0x0202, 0x0210, 0x0300, 0x0302 or 0x0311.
    pub dialect: u16,
    /// The session signs its messages.
    pub signed: bool,
    /// The session (or the IPC$ tree) encrypts its messages (SMB 3.x).
    pub encrypted: bool,
    /// The session key an RPC stub uses: the SMB session key for SMB 2.x. `None` for SMB 3.x,
    /// whose application key the `smb2` crate does not expose (docs/named-pipes.md).
    pub session_key: Option<Vec<u8>>,
    /// The SMB session id: pipes on one session share it.
    pub session_id: u64,
    /// The session logged on with Kerberos (else NTLM, or anonymous).
    pub kerberos: bool,
    /// The most replies this pipe awaited at once (updated while it is open): more than one means
    /// calls overlapped on the pipe.
    peak: Arc<AtomicUsize>,
}

impl SmbSessionInfo {
    /// The most replies the pipe awaited at once so far: more than one means several calls were
    /// in progress on the pipe together.
    pub fn peak_replies_awaited(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for SmbSessionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmbSessionInfo")
            .field("dialect", &format_args!("{:#06x}", self.dialect))
            .field("signed", &self.signed)
            .field("encrypted", &self.encrypted)
            .field(
                "session_key",
                &self.session_key.as_ref().map(|_| "<redacted>"),
            )
            .field("session_id", &format_args!("{:#x}", self.session_id))
            .field("kerberos", &self.kerberos)
            .field("peak_replies_awaited", &self.peak_replies_awaited())
            .finish()
    }
}

/// An authenticated SMB session with `IPC$` connected, shared by the pipes opened on it.
struct SmbSession {
    /// Kept for the session's lifetime: dropping the client would end the session. `None` for
    /// a Kerberos session, which `conn` alone keeps.
    _client: Option<tokio::sync::Mutex<smb2::SmbClient>>,
    conn: smb2::client::connection::Connection,
    tree: TreeId,
    info: SmbSessionInfo,
}

impl std::fmt::Debug for SmbSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmbSession")
            .field("tree", &self.tree)
            .field("info", &self.info)
            .finish()
    }
}

/// Sessions by server, port, credentials and logon (NTLM, or Kerberos with its KDC, `cifs/HOST`
/// and ccache). Entries are weak: a session lives as long as a pipe uses it.
type SessionKey = (String, u16, String, String, String, String);
static SESSIONS: Mutex<Option<HashMap<SessionKey, Weak<SmbSession>>>> = Mutex::new(None);
/// Serialises session setup, so concurrent first connections to one server share one session.
static SETUP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The credentials the SMB session authenticates with: [`SmbOptions::credentials`], else the
/// binding's RPC credentials, else none (an anonymous session).
fn smb_credentials(options: &BindingOptions) -> Credentials {
    if let Some(c) = &options.smb.credentials {
        return c.clone();
    }
    if let Some(a) = &options.auth {
        return a.credentials.clone();
    }
    Credentials::new("", "", "")
}

/// A Kerberos logon of the SMB session: the KDC (`HOST:PORT`), the host of `cifs/HOST`, and the
/// credential cache if the tickets come from one.
#[derive(Clone, Debug, PartialEq, Eq)]
struct KerberosLogon {
    kdc: String,
    server_host: String,
    ccache: Option<std::path::PathBuf>,
}

/// How the SMB session logs on ([`SmbOptions::auth`]): `None` for NTLM (or anonymous).
fn kerberos_logon(host: &str, options: &BindingOptions) -> Result<Option<KerberosLogon>> {
    use crate::client::{SmbAuth, SmbKerberos};
    let rpc_target = options.auth.as_ref().and_then(|a| {
        let kerberos = matches!(
            a.service,
            crate::auth::AuthnService::Kerberos | crate::auth::AuthnService::Negotiate
        );
        a.kerberos.as_ref().filter(|_| kerberos)
    });
    let krb = match &options.smb.auth {
        SmbAuth::Ntlm => return Ok(None),
        SmbAuth::Kerberos(k) => k.clone(),
        SmbAuth::Auto => match rpc_target {
            Some(t) if options.smb.credentials.is_none() => {
                if t.client_key.is_some() {
                    return Err(Error::status_msg(
                        Win32Status::ERROR_ACCESS_DENIED,
                        "SMB session setup: Kerberos from a keytab is not available at the SMB \
                         layer (the smb2 crate logs on with a password or a credential cache): \
                         `kinit -k -t KEYTAB USER` and set SmbKerberos::ccache, or give a password",
                    ));
                }
                SmbKerberos::new(t.kdc.clone())
            }
            _ => return Ok(None),
        },
    };
    let server_host = match krb.server_host {
        Some(h) => h,
        None if host.parse::<std::net::IpAddr>().is_err() => host.to_owned(),
        None => match rpc_target
            .and_then(|t| t.service_principal.split_once('/'))
            .map(|(_, h)| h.split(['@', ':']).next().unwrap_or(h))
            .filter(|h| !h.is_empty())
        {
            Some(h) => h.to_owned(),
            None => {
                return Err(Error::Smb {
                    status: Win32Status::ERROR_ACCESS_DENIED,
                    nt_status: None,
                    message: format!(
                        "SMB session setup: Kerberos needs the server's host name for cifs/HOST, \
                         and the binding names the IP address {host}: name the host in the \
                         binding or set SmbKerberos::server_host"
                    ),
                });
            }
        },
    };
    let kdc = krb.kdc.trim();
    let kdc = kdc.strip_prefix("tcp://").unwrap_or(kdc);
    Ok(Some(KerberosLogon {
        kdc: kdc.trim_end_matches('/').to_owned(),
        server_host,
        ccache: krb.ccache,
    }))
}

async fn session(host: &str, options: &BindingOptions) -> Result<Arc<SmbSession>> {
    let creds = smb_credentials(options);
    let kerberos = kerberos_logon(host, options)?;
    let key: SessionKey = (
        host.to_ascii_lowercase(),
        options.smb.port,
        creds.user().to_owned(),
        creds.domain().to_ascii_lowercase(),
        creds.password().to_owned(),
        kerberos.as_ref().map_or_else(String::new, |k| {
            format!(
                "krb5 {} cifs/{} {:?}",
                k.kdc,
                k.server_host.to_ascii_lowercase(),
                k.ccache
            )
        }),
    );
    let lookup = |key: &SessionKey| {
        let mut map = SESSIONS.lock().unwrap_or_else(|p| p.into_inner());
        let map = map.get_or_insert_with(HashMap::new);
        map.retain(|_, w| w.strong_count() > 0);
        map.get(key)
            .and_then(Weak::upgrade)
            .filter(|s| !s.conn.is_disconnected())
    };
    if let Some(s) = lookup(&key) {
        return Ok(s);
    }
    let _setup = SETUP.lock().await;
    if let Some(s) = lookup(&key) {
        return Ok(s);
    }
    let s = Arc::new(match &kerberos {
        Some(k) => open_kerberos_session(host, &creds, k, options).await?,
        None => open_session(host, &creds, options).await?,
    });
    SESSIONS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(key, Arc::downgrade(&s));
    Ok(s)
}

fn addr(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

async fn open_session(
    host: &str,
    creds: &Credentials,
    options: &BindingOptions,
) -> Result<SmbSession> {
    let config = smb2::ClientConfig {
        addr: addr(host, options.smb.port),
        timeout: options.connect_timeout,
        username: creds.user().to_owned(),
        password: creds.password().to_owned(),
        domain: creds.domain().to_owned(),
        auto_reconnect: false,
        compression: false,
        dfs_enabled: false,
        response_timeout: options.smb.response_timeout,
        ..Default::default()
    };
    let where_ = format!("SMB server {}", addr(host, options.smb.port));
    let mut client = smb2::SmbClient::connect(config).await.map_err(|e| {
        let what = if e.status() == Some(NtStatus::ACCESS_DENIED) {
            // What Samba answers when it requires encryption and no cipher was negotiated (and
            // also a plain refusal of the account).
            "session setup (access denied: the account is refused, or the server requires \
             SMB3 encryption and no cipher was negotiated)"
        } else {
            "session setup"
        };
        smb_error(&where_, what, e, creds.user().is_empty())
    })?;
    let tree = client
        .connect_share("IPC$")
        .await
        .map_err(|e| smb_error(&where_, "tree connect to IPC$", e, creds.user().is_empty()))?;
    let conn = client.connection().clone();
    let info = session_info(&conn, client.session(), &tree, false);
    debug!(%host, ?info, "SMB session up (NTLM), IPC$ connected");
    Ok(SmbSession {
        tree: tree.tree_id,
        _client: Some(tokio::sync::Mutex::new(client)),
        conn,
        info,
    })
}

/// What the pipes of a session learn about it.
fn session_info(
    conn: &smb2::client::connection::Connection,
    session: &smb2::Session,
    tree: &smb2::Tree,
    kerberos: bool,
) -> SmbSessionInfo {
    let dialect = conn.params().as_ref().map_or(0, |p| p.dialect as u16);
    SmbSessionInfo {
        dialect,
        signed: session.should_sign,
        encrypted: session.should_encrypt || tree.encrypt_data,
        // SMB 2.x signs with the session key itself (MS-SMB2 3.2.5.3.1).
        session_key: (dialect < 0x0300 && !session.signing_key.is_empty())
            .then(|| session.signing_key.clone()),
        session_id: session.session_id.0,
        kerberos,
        peak: Arc::new(AtomicUsize::new(0)),
    }
}

/// How long the TCP connect that checks the KDC is there may take (or the connect timeout,
/// if shorter).
const KDC_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Kerberos error codes (RFC 4120 7.5.9) a logon meets, in words.
fn krb_error_name(code: u32) -> Option<&'static str> {
    Some(match code {
        13 => {
            "KDC_ERR_BADOPTION: the KDC refused the ticket options (with a TGT from a \
             credential cache: it must be forwardable, `kinit -f`)"
        }
        6 => "KDC_ERR_C_PRINCIPAL_UNKNOWN: client not found in the Kerberos database",
        7 => "KDC_ERR_S_PRINCIPAL_UNKNOWN: server not found in the Kerberos database (no such SPN)",
        14 => "KDC_ERR_ETYPE_NOSUPP: no common encryption type",
        18 => "KDC_ERR_CLIENT_REVOKED: the account is disabled or locked out",
        23 => "KDC_ERR_KEY_EXPIRED: the password has expired",
        24 => "KDC_ERR_PREAUTH_FAILED: wrong password (logon failure)",
        31 => "KRB_AP_ERR_BAD_INTEGRITY",
        32 => "KRB_AP_ERR_TKT_EXPIRED: the ticket has expired",
        37 => "KRB_AP_ERR_SKEW: clock skew too great",
        41 => "KRB_AP_ERR_MODIFIED: the server could not decrypt the ticket",
        _ => return None,
    })
}

/// A failed Kerberos SMB session setup as the runtime reports it: a refusal by the KDC or the
/// server, an unreachable KDC and a bad credential cache are `ERROR_ACCESS_DENIED`, with the
/// Kerberos error in words where there is one.
fn kerberos_error(where_: &str, k: &KerberosLogon, e: smb2::Error) -> Error {
    let detail = match &e {
        smb2::Error::Auth { message } => {
            let code = message
                .split_once("KRB-ERROR code ")
                .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse::<u32>().ok());
            match code.and_then(krb_error_name) {
                Some(name) => format!("{message}: {name}"),
                None => message.clone(),
            }
        }
        smb2::Error::Io(io) => format!("the KDC at {} is unreachable: {io}", k.kdc),
        smb2::Error::Timeout => format!("no answer from the KDC at {} or the SMB server", k.kdc),
        _ => {
            return smb_error(
                where_,
                &format!("Kerberos session setup for cifs/{}", k.server_host),
                e,
                false,
            );
        }
    };
    Error::Smb {
        status: Win32Status::ERROR_ACCESS_DENIED,
        nt_status: e.status().map(|s| s.0),
        message: format!(
            "{where_}: Kerberos session setup for cifs/{} (KDC {}) failed: {detail}",
            k.server_host, k.kdc
        ),
    }
}

/// An SMB session logged on with Kerberos: the AS and TGS exchanges for `cifs/HOST` (or the
/// tickets of a credential cache), then the AP-REQ in SPNEGO in one SESSION_SETUP.
async fn open_kerberos_session(
    host: &str,
    creds: &Credentials,
    k: &KerberosLogon,
    options: &BindingOptions,
) -> Result<SmbSession> {
    use smb2::auth::kerberos::KerberosCredentials;
    use smb2::client::connection::Connection;
    let where_ = format!("SMB server {}", addr(host, options.smb.port));
    let mut username = creds.user().to_owned();
    let mut realm = creds.domain().to_ascii_uppercase();
    let ccache = match &k.ccache {
        None => None,
        Some(path) => {
            let text = path.to_string_lossy();
            let path = std::path::Path::new(text.strip_prefix("FILE:").unwrap_or(&text));
            let cc =
                smb2::auth::kerberos::ccache::load_ccache(Some(path)).map_err(|e| Error::Smb {
                    status: Win32Status::ERROR_ACCESS_DENIED,
                    nt_status: None,
                    message: format!(
                        "{where_}: Kerberos session setup: no usable credential cache at {}: {e}",
                        path.display()
                    ),
                })?;
            let me = &cc.default_principal;
            if username.is_empty() {
                username = me.components.join("/");
            }
            if realm.is_empty() {
                realm = me.realm.clone();
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let usable = cc
                .find_service_ticket("cifs", &k.server_host, &realm)
                .or_else(|| cc.find_tgt(&realm));
            match usable {
                None => {
                    return Err(Error::Smb {
                        status: Win32Status::ERROR_ACCESS_DENIED,
                        nt_status: None,
                        message: format!(
                            "{where_}: Kerberos session setup: the credential cache {} has no \
                             ticket for krbtgt/{realm} or cifs/{} (kinit first)",
                            path.display(),
                            k.server_host
                        ),
                    });
                }
                Some(t) if u64::from(t.endtime) <= now => {
                    return Err(Error::Smb {
                        status: Win32Status::ERROR_ACCESS_DENIED,
                        nt_status: None,
                        message: format!(
                            "{where_}: Kerberos session setup: the ticket in the credential cache \
                             {} has expired (kinit again)",
                            path.display()
                        ),
                    });
                }
                Some(_) => {}
            }
            Some(cc)
        }
    };
    if username.is_empty() || realm.is_empty() {
        return Err(Error::Smb {
            status: Win32Status::ERROR_ACCESS_DENIED,
            nt_status: None,
            message: format!(
                "{where_}: Kerberos session setup needs a user and a realm (USER@REALM)"
            ),
        });
    }
    // smb2 asks the KDC over UDP first and waits 10 s for each of three tries before TCP, so
    // a KDC that is not there would only show as the connect timeout. A TCP connect first
    // (every AD KDC serves TCP) says so at once.
    let kdc_addr = if k.kdc.contains(':') {
        k.kdc.clone()
    } else {
        format!("{}:88", k.kdc)
    };
    match tokio::time::timeout(
        options.connect_timeout.min(KDC_PROBE_TIMEOUT),
        tokio::net::TcpStream::connect(&kdc_addr),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(kerberos_error(&where_, k, smb2::Error::Io(e)));
        }
        Err(_) => {
            return Err(kerberos_error(&where_, k, smb2::Error::Timeout));
        }
    }
    let kc = KerberosCredentials {
        username,
        password: creds.password().to_owned(),
        realm,
        kdc_address: k.kdc.clone(),
    };
    let connect = smb2::transport::ConnectOptions::with_timeout(options.connect_timeout);
    let mut conn = Connection::connect_with(&addr(host, options.smb.port), connect)
        .await
        .map_err(|e| smb_error(&where_, "connect", e, false))?;
    conn.set_response_timeout(options.smb.response_timeout);
    conn.negotiate()
        .await
        .map_err(|e| smb_error(&where_, "negotiate", e, false))?;
    let session = match &ccache {
        Some(cc) => {
            smb2::Session::setup_kerberos_from_ccache(&mut conn, &kc, &k.server_host, cc).await
        }
        None => smb2::Session::setup_kerberos(&mut conn, &kc, &k.server_host).await,
    }
    .map_err(|e| kerberos_error(&where_, k, e))?;
    let tree = smb2::Tree::connect(&mut conn, "IPC$")
        .await
        .map_err(|e| smb_error(&where_, "tree connect to IPC$", e, false))?;
    // A share that asks for encryption gets it, as smb2's own connect_share does.
    if tree.encrypt_data
        && !conn.should_encrypt()
        && let (Some(enc), Some(dec)) = (&session.encryption_key, &session.decryption_key)
    {
        let cipher = conn
            .params()
            .and_then(|p| p.cipher)
            .unwrap_or(smb2::crypto::encryption::Cipher::Aes128Ccm);
        conn.activate_encryption(enc.clone(), dec.clone(), cipher);
    }
    let info = session_info(&conn, &session, &tree, true);
    debug!(%host, spn = %format_args!("cifs/{}", k.server_host), ?info, "SMB session up (Kerberos), IPC$ connected");
    Ok(SmbSession {
        tree: tree.tree_id,
        _client: None,
        conn,
        info,
    })
}

/// An SMB-layer failure as the runtime reports it: access denied (a refused logon, no access,
/// signing the session cannot give) as `ERROR_ACCESS_DENIED`; no such pipe, an unreachable server
/// or a broken SMB connection as `RPC_S_SERVER_UNAVAILABLE`.
/// `anonymous`: the session was asked for without credentials.
fn smb_error(where_: &str, what: &str, e: smb2::Error, anonymous: bool) -> Error {
    use smb2::ErrorKind as K;
    let nt = e.status().map(|s| s.0);
    let denied = matches!(
        nt,
        // STATUS_ACCESS_DENIED, STATUS_LOGON_FAILURE, STATUS_NO_SUCH_USER, STATUS_WRONG_PASSWORD,
        // STATUS_ACCOUNT_RESTRICTION .. STATUS_ACCOUNT_DISABLED, STATUS_ACCOUNT_EXPIRED,
        // STATUS_PASSWORD_MUST_CHANGE, STATUS_ACCOUNT_LOCKED_OUT.
        Some(
            0xC000_0022 | 0xC000_006D | 0xC000_0064 | 0xC000_006A | 0xC000_006E
                ..=0xC000_0072 | 0xC000_0193 | 0xC000_0224 | 0xC000_0234
        )
    ) || matches!(
        e.kind(),
        K::AccessDenied | K::AuthRequired | K::SigningRequired
    );
    let status = if denied {
        Win32Status::ERROR_ACCESS_DENIED
    } else {
        Win32Status::RPC_S_SERVER_UNAVAILABLE
    };
    let hint = match e.kind() {
        K::SigningRequired => " (the server requires signing, which a guest session cannot do)",
        K::AuthRequired if anonymous => {
            " (the server refuses anonymous sessions: give credentials)"
        }
        K::AuthRequired => " (check the user name and password)",
        _ => "",
    };
    Error::Smb {
        status,
        nt_status: nt,
        message: format!("{where_}: {what} failed: {e}{hint}"),
    }
}

/// The far end of a pipe connection's byte stream, and what the connection learnt about its SMB
/// session.
pub(crate) struct PipeStream {
    pub(crate) stream: DuplexStream,
    pub(crate) info: SmbSessionInfo,
}

/// Bytes buffered between the runtime and the pipe in each direction.
const DUPLEX_BUFFER: usize = 256 * 1024;

/// The runtime the SMB sessions and the pipes' tasks run on. Sessions are shared by every
/// binding of the process, whatever runtime each binding's calls run on, so they live on a
/// runtime of their own that outlives them all (a session made on a caller's runtime would die
/// with it, under the other bindings using it).
fn smb_runtime() -> Result<tokio::runtime::Handle> {
    static RT: std::sync::OnceLock<std::io::Result<tokio::runtime::Runtime>> =
        std::sync::OnceLock::new();
    match RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("msrpc-smb")
            .enable_all()
            .build()
    }) {
        Ok(rt) => Ok(rt.handle().clone()),
        Err(e) => Err(Error::status_msg(
            Win32Status::RPC_S_OUT_OF_RESOURCES,
            format!("cannot start the SMB runtime: {e}"),
        )),
    }
}

/// Opens `\pipe\NAME` on `host` and starts the task that carries the runtime's bytes over it.
pub(crate) async fn connect(
    host: &str,
    pipe: &str,
    options: &BindingOptions,
) -> Result<PipeStream> {
    /// Stops the connect on the SMB runtime when the caller gives up on it (connect timeout, drop).
    struct AbortOnDrop(tokio::task::AbortHandle);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let (host, pipe, options) = (host.to_owned(), pipe.to_owned(), options.clone());
    let task = smb_runtime()?.spawn(async move { connect_here(&host, &pipe, &options).await });
    let _abort = AbortOnDrop(task.abort_handle());
    task.await
        .map_err(|e| Error::status_msg(Win32Status::RPC_S_INTERNAL_ERROR, e.to_string()))?
}

async fn connect_here(host: &str, pipe: &str, options: &BindingOptions) -> Result<PipeStream> {
    let session = session(host, options).await?;
    let where_ = format!("SMB server {}", addr(host, options.smb.port));
    let req = CreateRequest {
        requested_oplock_level: OplockLevel::None,
        impersonation_level: ImpersonationLevel::Impersonation,
        desired_access: FileAccessMask::new(
            FileAccessMask::FILE_READ_DATA | FileAccessMask::FILE_WRITE_DATA,
        ),
        file_attributes: 0,
        share_access: ShareAccess(ShareAccess::FILE_SHARE_READ | ShareAccess::FILE_SHARE_WRITE),
        create_disposition: CreateDisposition::FileOpen,
        create_options: 0,
        name: pipe.to_owned(),
        create_contexts: Vec::new(),
    };
    let frame = session
        .conn
        .execute(Command::Create, &req, Some(session.tree))
        .await
        .map_err(|e| smb_error(&where_, &format!("opening \\pipe\\{pipe}"), e, false))?;
    if frame.header.status != NtStatus::SUCCESS {
        return Err(smb_error(
            &where_,
            &format!("opening \\pipe\\{pipe}"),
            smb2::Error::Protocol {
                status: frame.header.status,
                command: Command::Create,
            },
            false,
        ));
    }
    let resp = CreateResponse::unpack(&mut ReadCursor::new(&frame.body)).map_err(|e| {
        Error::status_msg(
            Win32Status::RPC_S_PROTOCOL_ERROR,
            format!("{where_}: bad CREATE response: {e}"),
        )
    })?;
    let (near, far) = tokio::io::duplex(DUPLEX_BUFFER);
    let mut info = session.info.clone();
    info.peak = Arc::new(AtomicUsize::new(0));
    let peak = info.peak.clone();
    let io = PipeIo {
        session,
        file: resp.file_id,
        read_size: options.smb.read_size,
    };
    tokio::spawn(pump(io, far, options.smb.transceive, pipe.to_owned(), peak));
    Ok(PipeStream { stream: near, info })
}

/// The SMB operations on one open pipe.
#[derive(Clone)]
struct PipeIo {
    session: Arc<SmbSession>,
    file: FileId,
    read_size: u32,
}

type Op = Pin<Box<dyn Future<Output = io::Result<Option<Vec<u8>>>> + Send>>;

fn nt_error(what: &str, status: NtStatus) -> io::Error {
    let kind = match status.0 {
        // STATUS_PIPE_BROKEN, STATUS_PIPE_DISCONNECTED, STATUS_PIPE_CLOSING, STATUS_END_OF_FILE,
        // STATUS_FILE_CLOSED.
        0xC000_014B | 0xC000_00B0 | 0xC000_00B1 | 0xC000_0011 | 0xC000_0128 => {
            io::ErrorKind::BrokenPipe
        }
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{what}: {status:?}"))
}

fn io_error(what: &str, e: smb2::Error) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, format!("{what}: {e}"))
}

impl PipeIo {
    /// One SMB2 WRITE carrying one PDU.
    fn write(&self, pdu: Vec<u8>) -> Op {
        let io = self.clone();
        Box::pin(async move {
            let req = WriteRequest {
                data_offset: 0x70,
                offset: 0,
                file_id: io.file,
                channel: 0,
                remaining_bytes: 0,
                write_channel_info_offset: 0,
                write_channel_info_length: 0,
                flags: 0,
                data: pdu,
            };
            let f = io
                .session
                .conn
                .execute(Command::Write, &req, Some(io.session.tree))
                .await
                .map_err(|e| io_error("pipe WRITE", e))?;
            if f.header.status != NtStatus::SUCCESS {
                return Err(nt_error("pipe WRITE", f.header.status));
            }
            Ok(None)
        })
    }

    /// One SMB2 READ: the next message, or part of it (STATUS_BUFFER_OVERFLOW: read again).
    fn read(&self) -> Op {
        let io = self.clone();
        Box::pin(async move {
            let req = ReadRequest {
                padding: 0x50,
                flags: 0,
                length: io.read_size,
                offset: 0,
                file_id: io.file,
                minimum_count: 0,
                channel: SMB2_CHANNEL_NONE,
                remaining_bytes: 0,
                read_channel_info: Vec::new(),
            };
            let f = io
                .session
                .conn
                .execute(Command::Read, &req, Some(io.session.tree))
                .await
                .map_err(|e| io_error("pipe READ", e))?;
            if !f.header.status.is_success_or_partial() {
                return Err(nt_error("pipe READ", f.header.status));
            }
            let r = ReadResponse::unpack(&mut ReadCursor::new(&f.body))
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            Ok(Some(r.data))
        })
    }

    /// FSCTL_PIPE_TRANSCEIVE: writes `pdu` and reads the next message (or its first part).
    fn transceive(&self, pdu: Vec<u8>) -> Op {
        let io = self.clone();
        Box::pin(async move {
            let req = IoctlRequest {
                ctl_code: FSCTL_PIPE_TRANSCEIVE,
                file_id: io.file,
                max_input_response: 0,
                max_output_response: io.read_size,
                flags: 1, // SMB2_0_IOCTL_IS_FSCTL
                input_data: pdu,
            };
            let f = io
                .session
                .conn
                .execute(Command::Ioctl, &req, Some(io.session.tree))
                .await
                .map_err(|e| io_error("pipe TRANSCEIVE", e))?;
            if !f.header.status.is_success_or_partial() {
                return Err(nt_error("pipe TRANSCEIVE", f.header.status));
            }
            let r = IoctlResponse::unpack(&mut ReadCursor::new(&f.body))
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            Ok(Some(r.output_data))
        })
    }

    async fn close(&self) {
        let req = CloseRequest {
            flags: 0,
            file_id: self.file,
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.session
                .conn
                .execute(Command::Close, &req, Some(self.session.tree)),
        )
        .await;
    }
}

/// PDU types (C706): the ones whose reply the pump waits for, and the ones that are replies.
const PTYPE_REQUEST: u8 = 0;
const PTYPE_RESPONSE: u8 = 2;
const PTYPE_FAULT: u8 = 3;
const PTYPE_BIND: u8 = 11;
const PTYPE_BIND_ACK: u8 = 12;
const PTYPE_BIND_NAK: u8 = 13;
const PTYPE_ALTER: u8 = 14;
const PTYPE_ALTER_RESP: u8 = 15;
const PFC_LAST_FRAG: u8 = 0x02;
const PFC_MAYBE: u8 = 0x40;

/// `frag_length` of the PDU starting `buf` (its drep gives the byte order), once its header is in.
fn frag_length(buf: &[u8]) -> Option<usize> {
    let h = buf.get(..10)?;
    let n = if h[4] & 0x10 != 0 {
        u16::from_le_bytes([h[8], h[9]])
    } else {
        u16::from_be_bytes([h[8], h[9]])
    };
    Some(usize::from(n))
}

/// Whether a PDU the client sends gets a reply: a bind, an alter_context, or the last fragment of
/// a request that is not `maybe`.
fn awaits_reply(pdu: &[u8]) -> bool {
    let (ptype, flags) = (pdu[2], pdu[3]);
    matches!(ptype, PTYPE_BIND | PTYPE_ALTER)
        || (ptype == PTYPE_REQUEST && flags & PFC_LAST_FRAG != 0 && flags & PFC_MAYBE == 0)
}

/// Whether a PDU the server sends completes a reply the client awaits.
fn completes_reply(header: &[u8]) -> bool {
    let (ptype, flags) = (header[2], header[3]);
    matches!(ptype, PTYPE_BIND_ACK | PTYPE_BIND_NAK | PTYPE_ALTER_RESP)
        || (matches!(ptype, PTYPE_RESPONSE | PTYPE_FAULT) && flags & PFC_LAST_FRAG != 0)
}

/// Follows the PDUs in the bytes the server sends, to count the replies that arrive.
#[derive(Default)]
struct Incoming {
    /// The start of the current PDU (its header, up to 10 bytes).
    header: Vec<u8>,
    /// Bytes of the current PDU still to come after the header bytes seen.
    left: usize,
}

impl Incoming {
    /// Feeds bytes; returns how many replies they completed. `Err` when the stream is not RPC.
    fn feed(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let mut done = 0;
        while !data.is_empty() {
            if self.left > 0 {
                let n = self.left.min(data.len());
                self.left -= n;
                data = &data[n..];
                if self.left == 0 {
                    if completes_reply(&self.header) {
                        done += 1;
                    }
                    self.header.clear();
                }
                continue;
            }
            let want = 10 - self.header.len();
            let n = want.min(data.len());
            self.header.extend_from_slice(&data[..n]);
            data = &data[n..];
            if let Some(len) = frag_length(&self.header) {
                if len < 16 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("the server sent a PDU of frag_length {len}"),
                    ));
                }
                self.left = len - 10;
            }
        }
        Ok(done)
    }
}

/// Carries the runtime's byte stream over the pipe until either side ends it.
async fn pump(
    io: PipeIo,
    far: DuplexStream,
    transceive: bool,
    name: String,
    peak: Arc<AtomicUsize>,
) {
    let (mut rd, mut wr) = tokio::io::split(far);
    // Bytes from the runtime not yet written to the pipe; PDUs are cut from the front.
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut incoming = Incoming::default();
    // Replies awaited: PDUs written that get a reply, less the replies seen.
    let mut awaited: usize = 0;
    let mut writing: Option<Op> = None;
    let mut transceiving = false;
    let mut reading: Option<Op> = None;
    let mut runtime_done = false;
    let why = loop {
        if writing.is_none()
            && let Some(len) = frag_length(&out)
            && out.len() >= len
        {
            if len < 16 {
                break "the runtime wrote a PDU shorter than its header".to_owned();
            }
            let pdu: Vec<u8> = out.drain(..len).collect();
            let reply = awaits_reply(&pdu);
            if transceive && reply && awaited == 0 && reading.is_none() && out.is_empty() {
                trace!(pipe = %name, len, "pipe TRANSCEIVE");
                writing = Some(io.transceive(pdu));
                transceiving = true;
            } else {
                trace!(pipe = %name, len, "pipe WRITE");
                writing = Some(io.write(pdu));
            }
            if reply {
                awaited += 1;
                peak.fetch_max(awaited, Ordering::Relaxed);
            }
        }
        if reading.is_none() && !transceiving && awaited > 0 {
            reading = Some(io.read());
        }
        if runtime_done && writing.is_none() && out.len() < 16 {
            break "the runtime closed the connection".to_owned();
        }
        let room = out.len() < DUPLEX_BUFFER;
        tokio::select! {
            r = rd.read(&mut chunk), if !runtime_done && room => match r {
                Ok(0) | Err(_) => runtime_done = true,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
            },
            r = async { writing.as_mut().expect("guarded").await }, if writing.is_some() => {
                writing = None;
                transceiving = false;
                match r {
                    Ok(Some(data)) => {
                        if let Err(e) = deliver(&mut wr, &mut incoming, &mut awaited, &data).await {
                            break e;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => break e.to_string(),
                }
            }
            r = async { reading.as_mut().expect("guarded").await }, if reading.is_some() => {
                reading = None;
                match r {
                    Ok(Some(data)) => {
                        if let Err(e) = deliver(&mut wr, &mut incoming, &mut awaited, &data).await {
                            break e;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => break e.to_string(),
                }
            }
        }
    };
    debug!(pipe = %name, %why, "named pipe closed");
    // End of stream for the runtime: its calls in progress fail at once.
    let _ = wr.shutdown().await;
    drop(wr);
    drop(rd);
    drop(reading);
    drop(writing);
    io.close().await;
}

/// Hands bytes read from the pipe to the runtime, counting the replies they complete.
async fn deliver(
    wr: &mut tokio::io::WriteHalf<DuplexStream>,
    incoming: &mut Incoming,
    awaited: &mut usize,
    data: &[u8],
) -> std::result::Result<(), String> {
    let done = incoming.feed(data).map_err(|e| e.to_string())?;
    *awaited = awaited.saturating_sub(done);
    wr.write_all(data)
        .await
        .map_err(|e| format!("the runtime stopped reading: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdu(ptype: u8, flags: u8, len: u16) -> Vec<u8> {
        let mut p = vec![5, 0, ptype, flags, 0x10, 0, 0, 0];
        p.extend_from_slice(&len.to_le_bytes());
        p.resize(usize::from(len), 0);
        p
    }

    #[test]
    fn incoming_counts_replies_across_split_reads() {
        let mut bytes = pdu(PTYPE_RESPONSE, 0x01, 40);
        bytes.extend(pdu(PTYPE_RESPONSE, 0x02, 30));
        bytes.extend(pdu(PTYPE_BIND_ACK, 0x03, 60));
        let mut inc = Incoming::default();
        let mut done = 0;
        for piece in bytes.chunks(7) {
            done += inc.feed(piece).expect("valid");
        }
        assert_eq!(done, 2);
        assert!(inc.header.is_empty() && inc.left == 0);
    }

    #[test]
    fn incoming_refuses_a_runt_pdu() {
        let mut inc = Incoming::default();
        assert!(inc.feed(&pdu(PTYPE_RESPONSE, 0x03, 16)[..10]).is_ok());
        let mut bad = Incoming::default();
        let mut p = pdu(PTYPE_RESPONSE, 0x03, 16);
        p[8] = 4;
        assert!(bad.feed(&p).is_err());
    }

    fn with_auth(auth: Option<crate::auth::AuthInfo>) -> BindingOptions {
        BindingOptions {
            auth,
            ..BindingOptions::default()
        }
    }

    fn krb(level: crate::auth::AuthnLevel) -> crate::auth::AuthInfo {
        crate::auth::AuthInfo::kerberos(
            level,
            Credentials::new("alice", "AD.EXAMPLE", "pw"),
            "tcp://kdc.ad.example:88",
            "host/dc1.ad.example",
        )
    }

    #[test]
    fn the_smb_logon_follows_the_rpc_credentials() {
        use crate::auth::{AuthInfo, AuthnLevel};
        use crate::client::{SmbAuth, SmbKerberos};
        // Kerberos RPC credentials: Kerberos for cifs/<the binding's host name>.
        let k = kerberos_logon("fs1.ad.example", &with_auth(Some(krb(AuthnLevel::None))))
            .unwrap()
            .expect("Kerberos");
        assert_eq!(k.server_host, "fs1.ad.example");
        assert_eq!(k.kdc, "kdc.ad.example:88");
        assert_eq!(k.ccache, None);
        // Negotiate with a KDC too; to an IP address, the host of the RPC SPN.
        let neg = AuthInfo::negotiate_kerberos(
            AuthnLevel::PktPrivacy,
            Credentials::new("alice", "AD.EXAMPLE", "pw"),
            "kdc.ad.example",
            "host/dc1.ad.example@AD.EXAMPLE",
        );
        let k = kerberos_logon("10.0.0.5", &with_auth(Some(neg)))
            .unwrap()
            .expect("Kerberos");
        assert_eq!(k.server_host, "dc1.ad.example");
        assert_eq!(k.kdc, "kdc.ad.example");
        // NTLM, Negotiate without a KDC, nothing, or SMB credentials of their own: NTLM.
        let creds = || Credentials::new("alice", "AD", "pw");
        for auth in [
            Some(AuthInfo::ntlm(AuthnLevel::PktPrivacy, creds())),
            Some(AuthInfo::negotiate(AuthnLevel::PktPrivacy, creds())),
            None,
        ] {
            assert_eq!(kerberos_logon("fs1", &with_auth(auth)).unwrap(), None);
        }
        let mut o = with_auth(Some(krb(AuthnLevel::None)));
        o.smb.credentials = Some(creds());
        assert_eq!(kerberos_logon("fs1", &o).unwrap(), None);
        // Forced either way.
        let mut o = with_auth(Some(krb(AuthnLevel::None)));
        o.smb.auth = SmbAuth::Ntlm;
        assert_eq!(kerberos_logon("fs1", &o).unwrap(), None);
        let mut o = with_auth(Some(AuthInfo::ntlm(AuthnLevel::None, creds())));
        o.smb.auth = SmbAuth::Kerberos(
            SmbKerberos::new("kdc:88")
                .with_server_host("fs9.ad.example")
                .with_ccache("/tmp/cc"),
        );
        let k = kerberos_logon("10.0.0.5", &o).unwrap().expect("Kerberos");
        assert_eq!(k.server_host, "fs9.ad.example");
        assert_eq!(k.ccache.as_deref(), Some(std::path::Path::new("/tmp/cc")));
        // An IP address and nothing to name the host with: refused, with the way out.
        o.smb.auth = SmbAuth::Kerberos(SmbKerberos::new("kdc:88"));
        let e = kerberos_logon("::1", &o).unwrap_err();
        assert_eq!(e.status(), Win32Status::ERROR_ACCESS_DENIED);
        assert!(e.to_string().contains("server_host"), "{e}");
    }

    #[test]
    fn kerberos_errors_are_named() {
        let k = KerberosLogon {
            kdc: "kdc:88".into(),
            server_host: "fs1".into(),
            ccache: None,
        };
        let e = kerberos_error(
            "SMB server fs1:445",
            &k,
            smb2::Error::Auth {
                message: "Kerberos AS exchange failed: KRB-ERROR code 24 ()".into(),
            },
        );
        assert_eq!(e.status(), Win32Status::ERROR_ACCESS_DENIED);
        let text = e.to_string();
        assert!(
            text.contains("wrong password") && text.contains("cifs/fs1"),
            "{text}"
        );
        let e = kerberos_error(
            "SMB server fs1:445",
            &k,
            smb2::Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused)),
        );
        assert!(
            e.to_string().contains("KDC at kdc:88 is unreachable"),
            "{e}"
        );
        assert_eq!(krb_error_name(999), None);
    }

    #[test]
    fn which_pdus_await_a_reply() {
        assert!(awaits_reply(&pdu(PTYPE_BIND, 0x03, 16)));
        assert!(awaits_reply(&pdu(PTYPE_REQUEST, 0x03, 24)));
        assert!(!awaits_reply(&pdu(PTYPE_REQUEST, 0x01, 24)));
        assert!(!awaits_reply(&pdu(PTYPE_REQUEST, 0x43, 24)));
        assert!(!awaits_reply(&pdu(18, 0x03, 16))); // co_cancel
        assert!(!awaits_reply(&pdu(16, 0x03, 16))); // rpc_auth_3
    }
}
