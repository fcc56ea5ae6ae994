//! Authentication: credentials and levels on a binding, a users file and keytabs for a server, and
//! the NTLM, SPNEGO and Kerberos packages (from the `sspi` crate, with Kerberos MIC tokens and the
//! PAC read on picky-krb) behind the protocol core's [`SecurityContext`] seam.
//!
//! The Windows names map as follows:
//!
//! | Windows | msrpc |
//! |---|---|
//! | `RpcBindingSetAuthInfo(h, princ, level, svc, identity, 0)` | [`BindingOptions::auth`](crate::BindingOptions::auth) with an [`AuthInfo`] |
//! | `RPC_C_AUTHN_LEVEL_*` | [`AuthnLevel`] |
//! | `RPC_C_AUTHN_WINNT` (NTLM), `RPC_C_AUTHN_GSS_NEGOTIATE` | [`AuthnService`] |
//! | `SEC_WINNT_AUTH_IDENTITY` | [`Credentials`] |
//! | `RpcServerRegisterAuthInfo` | [`ServerBuilder::authentication`](crate::server::ServerBuilder::authentication) with a [`UserStore`] |
//! | `RpcServerRegisterIf3` security callback, `RPC_IF_ALLOW_SECURE_ONLY` | [`InterfaceSecurity`](crate::server::InterfaceSecurity) |
//! | `RpcBindingInqAuthClient` | [`IncomingCall::client`](crate::server::IncomingCall::client) |
//!
//! Passwords are held in memory only as long as the binding or store lives, are never logged,
//! and are redacted from `Debug` output.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use msrpc_proto::auth::{
    Acceptor, AuthError, AuthFailure, AuthStep, PeerIdentity, SecurityContext, level_protects,
    level_seals,
};
use msrpc_proto::wire::{AuthLevel, AuthType};
use sspi::ntlm::NtlmConfig;
use sspi::{
    AuthIdentity, AuthIdentityBuffers, BufferType, ClientRequestFlags, CredentialsBuffers,
    DataRepresentation, EncryptionFlags, Negotiate, NegotiateConfig, Ntlm, SecurityBuffer,
    SecurityBufferFlags, SecurityBufferRef, SecurityStatus, ServerRequestFlags, Sspi, SspiEx,
    SspiImpl, Username,
};

mod keytab;
mod mic;
mod pac;

pub use keytab::{Keytab, KeytabEntry, MAX_KEYTAB_BYTES};

/// Authentication level (`RPC_C_AUTHN_LEVEL_*`): how much of each call is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum AuthnLevel {
    /// No authentication (`RPC_C_AUTHN_LEVEL_NONE`, 1).
    #[default]
    None,
    /// The association is authenticated once, at bind (`RPC_C_AUTHN_LEVEL_CONNECT`, 2).
    Connect,
    /// Raised to [`AuthnLevel::Pkt`] on connection-oriented transports, as Windows does
    /// (`RPC_C_AUTHN_LEVEL_CALL`, 3).
    Call,
    /// Every fragment is signed, replay and reordering are detected (`RPC_C_AUTHN_LEVEL_PKT`, 4).
    Pkt,
    /// Every fragment is signed (`RPC_C_AUTHN_LEVEL_PKT_INTEGRITY`, 5).
    PktIntegrity,
    /// Every fragment is signed and its stub sealed (`RPC_C_AUTHN_LEVEL_PKT_PRIVACY`, 6).
    PktPrivacy,
}

impl AuthnLevel {
    /// The wire value.
    pub fn to_wire(self) -> AuthLevel {
        AuthLevel(match self {
            AuthnLevel::None => 1,
            AuthnLevel::Connect => 2,
            AuthnLevel::Call => 3,
            AuthnLevel::Pkt => 4,
            AuthnLevel::PktIntegrity => 5,
            AuthnLevel::PktPrivacy => 6,
        })
    }

    /// From the wire value (0, "default", reads as connect, as Windows does).
    pub fn from_wire(level: AuthLevel) -> Option<AuthnLevel> {
        Some(match level.0 {
            1 => AuthnLevel::None,
            0 | 2 => AuthnLevel::Connect,
            3 => AuthnLevel::Call,
            4 => AuthnLevel::Pkt,
            5 => AuthnLevel::PktIntegrity,
            6 => AuthnLevel::PktPrivacy,
            _ => return None,
        })
    }

    /// The level a call actually gets on the wire (`Call` is raised to `Pkt`).
    pub fn effective(self) -> AuthnLevel {
        if self == AuthnLevel::Call {
            AuthnLevel::Pkt
        } else {
            self
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            AuthnLevel::None => "none",
            AuthnLevel::Connect => "connect",
            AuthnLevel::Call => "call",
            AuthnLevel::Pkt => "packet",
            AuthnLevel::PktIntegrity => "integrity",
            AuthnLevel::PktPrivacy => "privacy",
        }
    }
}

impl fmt::Display for AuthnLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AuthnLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "none" | "1" => AuthnLevel::None,
            "connect" | "2" => AuthnLevel::Connect,
            "call" | "3" => AuthnLevel::Call,
            "packet" | "pkt" | "4" => AuthnLevel::Pkt,
            "integrity" | "pkt_integrity" | "sign" | "5" => AuthnLevel::PktIntegrity,
            "privacy" | "pkt_privacy" | "seal" | "6" => AuthnLevel::PktPrivacy,
            other => {
                return Err(format!(
                    "unknown authentication level {other:?}: use none, connect, call, packet, \
                     integrity or privacy"
                ));
            }
        })
    }
}

/// Authentication service (`RPC_C_AUTHN_*`): the security package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AuthnService {
    /// NTLM (`RPC_C_AUTHN_WINNT`, auth type 10).
    #[default]
    Ntlm,
    /// SPNEGO (`RPC_C_AUTHN_GSS_NEGOTIATE`, auth type 9), negotiating NTLM, or Kerberos when a
    /// KDC is given ([`AuthInfo::negotiate_kerberos`]). Client side only; msrpc servers accept
    /// NTLM and Kerberos.
    Negotiate,
    /// Kerberos (`RPC_C_AUTHN_GSS_KERBEROS`, auth type 16), DCE style (three legs). Needs a KDC
    /// ([`AuthInfo::kerberos`], [`KerberosService`]).
    Kerberos,
}

impl AuthnService {
    /// The `auth_type` on the wire.
    pub fn to_wire(self) -> AuthType {
        match self {
            AuthnService::Ntlm => AuthType::NTLM,
            AuthnService::Negotiate => AuthType::SPNEGO,
            AuthnService::Kerberos => AuthType::KERBEROS,
        }
    }

    /// From the wire value, if msrpc implements that package.
    pub fn from_wire(t: AuthType) -> Option<AuthnService> {
        match t {
            AuthType::NTLM => Some(AuthnService::Ntlm),
            AuthType::SPNEGO => Some(AuthnService::Negotiate),
            AuthType::KERBEROS => Some(AuthnService::Kerberos),
            _ => None,
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            AuthnService::Ntlm => "ntlm",
            AuthnService::Negotiate => "negotiate",
            AuthnService::Kerberos => "kerberos",
        }
    }
}

impl FromStr for AuthnService {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "ntlm" | "winnt" | "10" => Ok(AuthnService::Ntlm),
            "negotiate" | "spnego" | "9" => Ok(AuthnService::Negotiate),
            "kerberos" | "krb5" | "16" => Ok(AuthnService::Kerberos),
            other => Err(format!(
                "unknown authentication service {other:?}: use ntlm, negotiate or kerberos"
            )),
        }
    }
}

/// A user's credentials (`SEC_WINNT_AUTH_IDENTITY`). `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    domain: String,
    password: String,
}

impl Credentials {
    /// Credentials of `user` in `domain` (may be empty).
    pub fn new(
        user: impl Into<String>,
        domain: impl Into<String>,
        password: impl Into<String>,
    ) -> Credentials {
        Credentials {
            user: user.into(),
            domain: domain.into(),
            password: password.into(),
        }
    }

    /// Credentials from a user name as Windows writes it: `DOMAIN\user`, `user@domain` or
    /// `user`.
    pub fn parse(user: &str, password: impl Into<String>) -> Credentials {
        let (domain, user) = split_user(user);
        Credentials::new(user, domain, password)
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The domain (may be empty).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The password, for the transports that authenticate with it (the SMB session).
    #[cfg_attr(not(feature = "ncacn-np"), allow(dead_code))]
    pub(crate) fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `DOMAIN\user` or `user@domain` into (domain, user).
fn split_user(s: &str) -> (&str, &str) {
    if let Some((d, u)) = s.split_once('\\') {
        (d, u)
    } else if let Some((u, d)) = s.rsplit_once('@') {
        (d, u)
    } else {
        ("", s)
    }
}

/// A client's authentication settings for a binding (`RpcBindingSetAuthInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthInfo {
    /// The level. [`AuthnLevel::None`] means no authentication.
    pub level: AuthnLevel,
    /// The package.
    pub service: AuthnService,
    /// Whose credentials. For Kerberos the domain is the realm.
    pub credentials: Credentials,
    /// Kerberos: the KDC (`tcp://HOST:PORT`) and the server's principal (`SERVICE/HOST`).
    pub kerberos: Option<KerberosTarget>,
}

/// Where a Kerberos client gets its ticket, and for which service.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KerberosTarget {
    /// The KDC, `tcp://HOST:PORT` (port 88 if left out).
    pub kdc: String,
    /// The server's service principal name, `SERVICE/HOST` (for example `host/server.example`).
    pub service_principal: String,
    /// The client's long-term key from a keytab, used instead of the password
    /// ([`AuthInfo::with_keytab`]).
    pub client_key: Option<ClientKey>,
}

/// A client's long-term Kerberos key (from a keytab). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientKey {
    key: Vec<u8>,
    aes256: bool,
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let enctype = if self.aes256 { "aes256" } else { "aes128" };
        f.debug_struct("ClientKey")
            .field("enctype", &enctype)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl AuthInfo {
    /// NTLM at `level` with `credentials`.
    pub fn ntlm(level: AuthnLevel, credentials: Credentials) -> AuthInfo {
        AuthInfo {
            level,
            service: AuthnService::Ntlm,
            credentials,
            kerberos: None,
        }
    }

    /// Kerberos at `level`: `credentials` are the user's, with the realm as the domain; the
    /// ticket for `service_principal` comes from the KDC at `kdc` (`tcp://HOST:PORT`).
    pub fn kerberos(
        level: AuthnLevel,
        credentials: Credentials,
        kdc: impl Into<String>,
        service_principal: impl Into<String>,
    ) -> AuthInfo {
        AuthInfo {
            level,
            service: AuthnService::Kerberos,
            credentials,
            kerberos: Some(KerberosTarget {
                kdc: kdc.into(),
                service_principal: service_principal.into(),
                client_key: None,
            }),
        }
    }

    /// Kerberos with the client's key from `keytab` instead of a password: the newest AES key
    /// of the credentials' `user` in the realm (their domain). The password is not used. Fails
    /// when this is not Kerberos or the keytab has no such key.
    pub fn with_keytab(mut self, keytab: &Keytab) -> Result<AuthInfo, AuthError> {
        let Some(target) = self.kerberos.as_mut() else {
            return Err(AuthError::new(
                AuthFailure::Unsupported,
                "a keytab is for Kerberos (AuthInfo::kerberos)",
            ));
        };
        let (user, realm) = (&self.credentials.user, &self.credentials.domain);
        let entry = keytab
            .best_key(user, (!realm.is_empty()).then_some(realm.as_str()))
            .ok_or_else(|| {
                AuthError::new(
                    AuthFailure::LogonFailure,
                    format!("the keytab has no AES key for {user}@{realm}"),
                )
            })?;
        target.client_key = Some(ClientKey {
            key: entry.key().to_vec(),
            aes256: entry.enctype == keytab::AES256_CTS_HMAC_SHA1_96,
        });
        if self.credentials.domain.is_empty() {
            self.credentials.domain = entry.realm.clone();
        }
        Ok(self)
    }

    /// SPNEGO negotiating Kerberos (and only Kerberos) at `level`, as Windows clients in a
    /// domain do: like [`AuthInfo::kerberos`], but auth type 9, the AP-REQ inside SPNEGO.
    pub fn negotiate_kerberos(
        level: AuthnLevel,
        credentials: Credentials,
        kdc: impl Into<String>,
        service_principal: impl Into<String>,
    ) -> AuthInfo {
        let mut info = AuthInfo::kerberos(level, credentials, kdc, service_principal);
        info.service = AuthnService::Negotiate;
        info
    }

    /// SPNEGO (negotiating NTLM) at `level` with `credentials`.
    pub fn negotiate(level: AuthnLevel, credentials: Credentials) -> AuthInfo {
        AuthInfo {
            level,
            service: AuthnService::Negotiate,
            credentials,
            kerberos: None,
        }
    }

    /// A new client security context for one connection.
    pub(crate) fn client_context(
        &self,
        context_id: u32,
    ) -> Result<Box<dyn SecurityContext>, AuthError> {
        let level = self.level.effective().to_wire();
        Ok(match self.service {
            AuthnService::Ntlm => {
                Box::new(NtlmContext::client(level, context_id, &self.credentials))
            }
            AuthnService::Negotiate => match &self.kerberos {
                Some(target) => Box::new(NegotiateKerberos::new(
                    level,
                    context_id,
                    &self.credentials,
                    target,
                )?),
                None => Box::new(NegotiateClient::new(level, context_id, &self.credentials)?),
            },
            AuthnService::Kerberos => {
                let Some(target) = &self.kerberos else {
                    return Err(AuthError::new(
                        AuthFailure::Unsupported,
                        "Kerberos needs a KDC and a service principal (AuthInfo::kerberos)",
                    ));
                };
                Box::new(KerberosContext::client(
                    level,
                    context_id,
                    &self.credentials,
                    target,
                )?)
            }
        })
    }
}

/// Who made a call, as the server's managers see it (`RpcBindingInqAuthClient`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ClientIdentity {
    /// The user name the client authenticated as.
    pub user: String,
    /// Its domain, as the client sent it (may be empty).
    pub domain: String,
    /// The SIDs of its groups, primary group first, when the package says: Kerberos tickets
    /// from Active Directory carry them in their PAC. Empty for NTLM.
    pub groups: Vec<String>,
    /// The package.
    pub service: AuthnService,
    /// The level the call was protected at.
    pub level: AuthnLevel,
}

impl fmt::Display for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.domain.is_empty() {
            write!(f, "{}", self.user)
        } else {
            write!(f, "{}\\{}", self.domain, self.user)
        }
    }
}

/// An error in a users file: which line and why. It never contains a password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {reason}")]
pub struct UsersFileError {
    /// The file (or `<text>`).
    pub source_name: String,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

#[derive(Clone)]
struct UserEntry {
    domain: Option<String>,
    password: String,
}

/// The accounts a server accepts for NTLM: from a users file, or built in code.
///
/// The file has one account per line, `user:password` (any domain) or `DOMAIN\user:password`
/// (that domain only). The password is everything after the first `:`. Blank lines and lines
/// starting with `#` are ignored. User and domain names compare case-insensitively, as Windows
/// does. `Debug` shows the user names only.
#[derive(Clone, Default)]
pub struct UserStore {
    users: HashMap<String, Vec<UserEntry>>,
}

impl fmt::Debug for UserStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.users.keys().collect();
        names.sort();
        f.debug_struct("UserStore").field("users", &names).finish()
    }
}

impl UserStore {
    /// An empty store (refuses everyone).
    pub fn new() -> UserStore {
        UserStore::default()
    }

    /// Adds an account; `user` may be `DOMAIN\user`.
    pub fn insert(&mut self, user: &str, password: impl Into<String>) {
        let (domain, name) = split_user(user);
        self.users
            .entry(name.to_lowercase())
            .or_default()
            .push(UserEntry {
                domain: (!domain.is_empty()).then(|| domain.to_lowercase()),
                password: password.into(),
            });
    }

    /// Parses users-file text; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<UserStore, UsersFileError> {
        let mut store = UserStore::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let err = |reason: &str| UsersFileError {
                source_name: source_name.to_owned(),
                line: i + 1,
                reason: reason.to_owned(),
            };
            let Some((user, password)) = line.split_once(':') else {
                return Err(err("expected USER:PASSWORD or DOMAIN\\USER:PASSWORD"));
            };
            let user = user.trim();
            let (domain, name) = split_user(user);
            if name.is_empty() {
                return Err(err("the user name is empty"));
            }
            if user.contains('\\') && domain.is_empty() {
                return Err(err("the domain before '\\' is empty"));
            }
            if password.is_empty() {
                return Err(err("the password is empty"));
            }
            store.insert(user, password);
        }
        Ok(store)
    }

    /// Reads a users file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<UserStore, UsersFileError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| UsersFileError {
            source_name: name.clone(),
            line: 0,
            reason: format!("cannot read: {e}"),
        })?;
        UserStore::parse(&text, &name)
    }

    /// Accounts in the store.
    pub fn len(&self) -> usize {
        self.users.values().map(Vec::len).sum()
    }

    /// True if the store has no account.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The password for `user` in `domain`, if the store has the account.
    fn password(&self, user: &str, domain: &str) -> Option<&str> {
        let entries = self.users.get(&user.to_lowercase())?;
        let domain = domain.to_lowercase();
        entries
            .iter()
            .find(|e| e.domain.as_deref() == Some(domain.as_str()))
            .or_else(|| entries.iter().find(|e| e.domain.is_none()))
            .map(|e| e.password.as_str())
    }
}

/// The protocol core's [`Acceptor`] for a server that checks NTLM logons against `store` (what
/// [`ServerBuilder::authentication`](crate::server::ServerBuilder::authentication) installs), for
/// driving a `msrpc_proto::ServerConnection` directly.
pub fn ntlm_acceptor(store: std::sync::Arc<UserStore>) -> std::sync::Arc<dyn Acceptor> {
    std::sync::Arc::new(StoreAcceptor {
        store,
        kerberos: None,
    })
}

/// A server's security contexts: NTLM checked against a [`UserStore`], and Kerberos when the
/// server has a [`KerberosService`].
#[derive(Debug)]
pub(crate) struct StoreAcceptor {
    pub(crate) store: std::sync::Arc<UserStore>,
    pub(crate) kerberos: Option<std::sync::Arc<KerberosService>>,
}

impl Acceptor for StoreAcceptor {
    fn accept(
        &self,
        auth_type: AuthType,
        level: AuthLevel,
        context_id: u32,
    ) -> Result<Box<dyn SecurityContext>, AuthError> {
        match AuthnService::from_wire(auth_type) {
            Some(AuthnService::Ntlm) => Ok(Box::new(NtlmContext::server(
                level,
                context_id,
                self.store.clone(),
            ))),
            Some(AuthnService::Kerberos) if self.kerberos.is_some() => {
                let service = self.kerberos.as_ref().map(|k| k.as_ref());
                let Some(service) = service else {
                    return Err(AuthError::new(
                        AuthFailure::Unsupported,
                        "no Kerberos service",
                    ));
                };
                Ok(Box::new(KerberosContext::server(
                    level, context_id, service,
                )?))
            }
            Some(AuthnService::Negotiate | AuthnService::Kerberos) | None => Err(AuthError::new(
                AuthFailure::Unsupported,
                format!("authentication type {} is not supported", auth_type.0),
            )),
        }
    }
}

/// A server's Kerberos identity (`RpcServerRegisterAuthInfo` with `RPC_C_AUTHN_GSS_KERBEROS`):
/// its service principal and the long-term key tickets for it are encrypted with. `Debug` never
/// shows the key.
#[derive(Clone)]
pub struct KerberosService {
    principal: String,
    realm: String,
    key: Vec<u8>,
    /// More principals this server answers for, each with its key (from a keytab).
    others: Vec<(String, Vec<u8>)>,
    kdc: String,
}

impl fmt::Debug for KerberosService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KerberosService")
            .field("principal", &self.principal)
            .field("realm", &self.realm)
            .field(
                "others",
                &self.others.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .field("key", &"<redacted>")
            .finish()
    }
}

impl KerberosService {
    /// The service `principal` (`SERVICE/HOST`) of `realm`, with the AES256 key derived from
    /// `password` and the realm's default salt (REALM followed by the principal's components), as
    /// `kadmin addprinc -pw` makes it. `kdc` (`tcp://HOST:PORT`) is only used for user-to-user
    /// tickets.
    pub fn from_password(
        principal: &str,
        realm: &str,
        password: &str,
        kdc: &str,
    ) -> Result<KerberosService, AuthError> {
        let salt = format!("{realm}{}", principal.replace('/', ""));
        let key = picky_krb::crypto::aes::derive_key_from_password(
            password,
            salt,
            &picky_krb::crypto::aes::AesSize::Aes256,
        )
        .map_err(|e| AuthError::new(AuthFailure::Package, format!("Kerberos key: {e}")))?;
        Ok(KerberosService {
            principal: principal.to_owned(),
            realm: realm.to_owned(),
            key,
            others: Vec::new(),
            kdc: kdc.to_owned(),
        })
    }

    /// The service's keys from a keytab (`samba-tool domain exportkeytab`, `kadmin ktadd`,
    /// `ktutil`): `principal` (`SERVICE/HOST`) with its newest AES key, AES256 before AES128, or,
    /// when `principal` is `None`, the keytab's first principal. The keytab's other principals
    /// are accepted too, each with its newest AES key. A ticket must be encrypted with the
    /// enctype of the key chosen (AD issues AES256 when the account allows it). `kdc` is only
    /// used for user-to-user tickets.
    pub fn from_keytab(
        keytab: &Keytab,
        principal: Option<&str>,
        kdc: &str,
    ) -> Result<KerberosService, AuthError> {
        let missing = |what: String| AuthError::new(AuthFailure::Unsupported, what);
        let principal = match principal {
            Some(p) => p.to_owned(),
            None => keytab
                .entries()
                .first()
                .map(KeytabEntry::principal)
                .ok_or_else(|| missing("the keytab has no keys".to_owned()))?,
        };
        let primary = keytab.best_key(&principal, None).ok_or_else(|| {
            missing(format!(
                "the keytab has no AES128 or AES256 key for {principal}"
            ))
        })?;
        let mut others: Vec<(String, Vec<u8>)> = Vec::new();
        for e in keytab.entries() {
            let p = e.principal();
            if p.eq_ignore_ascii_case(&principal) || others.iter().any(|(o, _)| *o == p) {
                continue;
            }
            if let Some(best) = keytab.best_key(&p, Some(&e.realm)) {
                others.push((p, best.key().to_vec()));
            }
        }
        Ok(KerberosService {
            principal,
            realm: primary.realm.clone(),
            key: primary.key().to_vec(),
            others,
            kdc: kdc.to_owned(),
        })
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The service principal.
    pub fn principal(&self) -> &str {
        &self.principal
    }
}

enum Role {
    Client {
        creds: Option<AuthIdentityBuffers>,
    },
    Server {
        store: std::sync::Arc<UserStore>,
        peer: Option<PeerIdentity>,
        /// At the signing levels the password is proven by the first fragment that verifies.
        unproven: bool,
    },
}

/// One NTLM security context (MS-NLMP through `sspi`), client or server side.
struct NtlmContext {
    ntlm: Ntlm,
    role: Role,
    level: AuthLevel,
    context_id: u32,
    legs: u8,
}

/// An `sspi` NTLM error as a provider error; the package's text never contains secrets.
fn package_error(kind: AuthFailure, e: &sspi::Error) -> AuthError {
    sspi_error(kind, e, "NTLM")
}

/// An `sspi` Kerberos error as a provider error.
fn krb_error(kind: AuthFailure, e: &sspi::Error) -> AuthError {
    sspi_error(kind, e, "Kerberos")
}

/// An `sspi` error of package `name` as a provider error.
fn sspi_error(kind: AuthFailure, e: &sspi::Error, name: &str) -> AuthError {
    let kind = match e.error_type {
        sspi::ErrorKind::LogonDenied => AuthFailure::LogonFailure,
        sspi::ErrorKind::MessageAltered | sspi::ErrorKind::OutOfSequence => {
            if kind == AuthFailure::BadToken {
                AuthFailure::BadToken
            } else {
                AuthFailure::Tampered
            }
        }
        _ => kind,
    };
    AuthError::new(kind, format!("{name}: {}", e.description))
}

/// The most legs either side of NTLM takes; more is a peer looping the exchange.
const MAX_LEGS: u8 = 3;

impl NtlmContext {
    fn client(level: AuthLevel, context_id: u32, creds: &Credentials) -> NtlmContext {
        NtlmContext {
            ntlm: Ntlm::new(),
            role: Role::Client {
                creds: Some(AuthIdentityBuffers::from_utf8(
                    &creds.user,
                    &creds.domain,
                    &creds.password,
                )),
            },
            level,
            context_id,
            legs: 0,
        }
    }

    fn server(level: AuthLevel, context_id: u32, store: std::sync::Arc<UserStore>) -> NtlmContext {
        NtlmContext {
            ntlm: Ntlm::new(),
            role: Role::Server {
                store,
                peer: None,
                unproven: false,
            },
            level,
            context_id,
            legs: 0,
        }
    }

    fn client_step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        let Role::Client { creds } = &mut self.role else {
            return Err(AuthError::new(AuthFailure::Package, "not a client context"));
        };
        init_step(&mut self.ntlm, creds, self.level, input, "NTLM")
    }

    fn server_step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        let Some(input) = input else {
            return Err(AuthError::new(
                AuthFailure::BadToken,
                "no token from the client",
            ));
        };
        let mut creds: Option<AuthIdentityBuffers> = None;
        let mut input_bufs = vec![SecurityBuffer::new(input.to_vec(), BufferType::Token)];
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let builder = self
            .ntlm
            .accept_security_context()
            .with_credentials_handle(&mut creds)
            .with_context_requirements(ServerRequestFlags::ALLOCATE_MEMORY)
            .with_target_data_representation(DataRepresentation::Native)
            .with_input(&mut input_bufs)
            .with_output(&mut output);
        let result = self
            .ntlm
            .accept_security_context_impl(builder)
            .and_then(|mut g| g.resolve_to_result())
            .map_err(|e| package_error(AuthFailure::BadToken, &e))?;
        let step = step_from(result.status, output, "NTLM")?;
        if matches!(step, AuthStep::Complete(_)) {
            // The AUTHENTICATE leg: sspi's acceptor answers it with no token.
            self.complete_logon(input)?;
            return Ok(AuthStep::Complete(None));
        }
        Ok(step)
    }

    /// The AUTHENTICATE message arrived: look its user up and let the package check the proof.
    fn complete_logon(&mut self, authenticate: &[u8]) -> Result<(), AuthError> {
        let Role::Server {
            store,
            peer,
            unproven,
        } = &mut self.role
        else {
            return Err(AuthError::new(AuthFailure::Package, "not a server context"));
        };
        let msg = parse_authenticate(authenticate)?;
        let denied =
            |why: &str| AuthError::new(AuthFailure::LogonFailure, format!("logon denied: {why}"));
        // sspi 0.23 checks the password only through the MIC, and reads the MIC only when the
        // AUTHENTICATE message also sets NTLMSSP_NEGOTIATE_TARGET_INFO: otherwise it accepts any
        // password and derives the keys from the one it was given. At the signing levels that
        // is still sound, because keys from a wrong password cannot verify the client's first
        // fragment, which is refused as a logon failure before anything is dispatched (see
        // `verify`). At the connect level nothing else would catch it, so a logon whose MIC
        // the package does not check is refused there. (impacket sends no MIC; python3-samba
        // sends one without that flag; sspi's own client has both.)
        if !msg.mic_checked && !level_protects(self.level) {
            return Err(denied(
                "the connect level needs a logon with a message integrity code (MIC) \
                 over NTLMSSP_NEGOTIATE_TARGET_INFO; use packet, integrity or privacy",
            ));
        }
        *unproven = level_protects(self.level) && !msg.mic_checked;
        let Some(password) = store.password(&msg.user, &msg.domain) else {
            return Err(denied("unknown user"));
        };
        let username = Username::new(&msg.user, (!msg.domain.is_empty()).then_some(&msg.domain))
            .map_err(|_| denied("unusable user name"))?;
        self.ntlm
            .custom_set_auth_identity(AuthIdentity {
                username,
                password: password.to_owned().into(),
            })
            .map_err(|e| package_error(AuthFailure::LogonFailure, &e))?;
        self.ntlm
            .complete_auth_token(&mut [])
            .map_err(|e| package_error(AuthFailure::LogonFailure, &e))?;
        *peer = Some(PeerIdentity::new(msg.user, msg.domain));
        Ok(())
    }
}

impl SecurityContext for NtlmContext {
    fn auth_type(&self) -> AuthType {
        AuthType::NTLM
    }

    fn auth_level(&self) -> AuthLevel {
        self.level
    }

    fn context_id(&self) -> u32 {
        self.context_id
    }

    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        self.legs = self.legs.saturating_add(1);
        if self.legs > MAX_LEGS {
            return Err(AuthError::new(AuthFailure::BadToken, "too many NTLM legs"));
        }
        match self.role {
            Role::Client { .. } => self.client_step(input),
            Role::Server { .. } => self.server_step(input),
        }
    }

    fn signature_len(&self) -> usize {
        16
    }

    fn protect(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        protect_with(&mut self.ntlm, self.level, pdu, &body, &signature)
    }

    fn verify(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        let result = verify_with(&mut self.ntlm, self.level, pdu, &body, &signature, Some(16));
        if let Role::Server { unproven, .. } = &mut self.role
            && *unproven
        {
            // The first fragment after a logon sspi could not check proves the password, or not.
            *unproven = false;
            if let Err(e) = &result {
                return Err(AuthError::new(
                    AuthFailure::LogonFailure,
                    format!(
                        "logon denied: the first fragment does not verify ({})",
                        e.detail
                    ),
                ));
            }
        }
        result
    }

    fn peer_identity(&self) -> Option<PeerIdentity> {
        match &self.role {
            Role::Server { peer, .. } => peer.clone(),
            Role::Client { .. } => None,
        }
    }
}

/// One `InitializeSecurityContext` step of a client package.
fn init_step<P>(
    pkg: &mut P,
    creds: &mut P::CredentialsHandle,
    level: AuthLevel,
    input: Option<&[u8]>,
    name: &str,
) -> Result<AuthStep, AuthError>
where
    P: Sspi + SspiImpl,
{
    let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
    let mut input_bufs = input.map(|t| vec![SecurityBuffer::new(t.to_vec(), BufferType::Token)]);
    let mut builder = pkg
        .initialize_security_context()
        .with_credentials_handle(creds)
        .with_context_requirements(client_flags(level, ClientRequestFlags::empty()))
        .with_target_data_representation(DataRepresentation::Native)
        .with_output(&mut output);
    if let Some(i) = input_bufs.as_mut() {
        builder = builder.with_input(i);
    }
    let result = pkg
        .initialize_security_context_impl(&mut builder)
        .and_then(|mut g| g.resolve_to_result())
        .map_err(|e| package_error(AuthFailure::BadToken, &e))?;
    step_from(result.status, output, name)
}

/// A package's status and output token as the protocol core's step: another leg, or done
/// (with a last token when the package made one).
fn step_from(
    status: SecurityStatus,
    mut output: Vec<SecurityBuffer>,
    name: &str,
) -> Result<AuthStep, AuthError> {
    let token = output.pop().map(|b| b.buffer).unwrap_or_default();
    match status {
        SecurityStatus::ContinueNeeded => Ok(AuthStep::Continue(token)),
        SecurityStatus::Ok | SecurityStatus::CompleteNeeded => {
            Ok(AuthStep::Complete((!token.is_empty()).then_some(token)))
        }
        other => Err(AuthError::new(
            AuthFailure::Package,
            format!("{name}: unexpected status {other:?}"),
        )),
    }
}

/// The context requirements a client asks for at `level`, besides `extra`.
fn client_flags(level: AuthLevel, extra: ClientRequestFlags) -> ClientRequestFlags {
    let mut flags = ClientRequestFlags::ALLOCATE_MEMORY | extra;
    if level_protects(level) {
        flags |= ClientRequestFlags::INTEGRITY;
    }
    if level_seals(level) {
        flags |= ClientRequestFlags::CONFIDENTIALITY;
    }
    flags
}

/// Sign (and seal, at privacy) one fragment with a package.
fn protect_with<P: Sspi>(
    pkg: &mut P,
    level: AuthLevel,
    pdu: &mut [u8],
    body: &Range<usize>,
    signature: &Range<usize>,
) -> Result<(), AuthError> {
    let mut bufs = fragment_buffers(pdu, body, signature, level_seals(level))?;
    pkg.encrypt_message(EncryptionFlags::empty(), &mut bufs)
        .map_err(|e| sspi_error(AuthFailure::Package, &e, "signing"))?;
    Ok(())
}

/// Verify (and unseal, at privacy) one fragment with a package. `fixed_len` is the signature's
/// length when the package has one (NTLM: 16); Kerberos tokens differ by direction (sspi's
/// acceptor sends 60 bytes where its initiator sends 76), so they are not checked here.
fn verify_with<P: Sspi>(
    pkg: &mut P,
    level: AuthLevel,
    pdu: &mut [u8],
    body: &Range<usize>,
    signature: &Range<usize>,
    fixed_len: Option<usize>,
) -> Result<(), AuthError> {
    if let Some(len) = fixed_len
        && signature.end - signature.start != len
    {
        return Err(AuthError::new(
            AuthFailure::Tampered,
            format!("the signature is not {len} bytes"),
        ));
    }
    let mut bufs = fragment_buffers(pdu, body, signature, level_seals(level))?;
    pkg.decrypt_message(&mut bufs)
        .map_err(|e| sspi_error(AuthFailure::Tampered, &e, "verifying"))?;
    Ok(())
}

/// Split a fragment into a package's buffers: header, body (sealed or not), trailer and
/// signature. The MAC covers the first three.
fn fragment_buffers<'a>(
    pdu: &'a mut [u8],
    body: &Range<usize>,
    signature: &Range<usize>,
    seal: bool,
) -> Result<[SecurityBufferRef<'a>; 4], AuthError> {
    if body.start > body.end || body.end > signature.start || signature.end > pdu.len() {
        return Err(AuthError::new(AuthFailure::Tampered, "bad fragment layout"));
    }
    let (head, rest) = pdu.split_at_mut(body.start);
    let (stub, rest) = rest.split_at_mut(body.end - body.start);
    let (trailer, rest) = rest.split_at_mut(signature.start - body.end);
    let sig = &mut rest[..signature.end - signature.start];
    let ro = SecurityBufferFlags::SECBUFFER_READONLY_WITH_CHECKSUM;
    let stub = if seal {
        SecurityBufferRef::data_buf(stub)
    } else {
        SecurityBufferRef::data_buf(stub).with_flags(ro)
    };
    Ok([
        SecurityBufferRef::data_buf(head).with_flags(ro),
        stub,
        SecurityBufferRef::data_buf(trailer).with_flags(ro),
        SecurityBufferRef::token_buf(sig),
    ])
}

/// Talks to a KDC over TCP for `sspi`'s Kerberos (RFC 4120 7.2.2: a 4-byte length, then the
/// message). Bounded: 5 s to connect and per read or write, replies up to 1 MiB.
struct KdcClient;

/// The largest KDC reply accepted.
const MAX_KDC_REPLY: usize = 1024 * 1024;

impl sspi::network_client::NetworkClient for KdcClient {
    fn send(&self, request: &sspi::generator::NetworkRequest) -> sspi::Result<Vec<u8>> {
        use std::io::{Read, Write};
        use std::net::ToSocketAddrs;
        let err = |m: String| sspi::Error::new(sspi::ErrorKind::NoAuthenticatingAuthority, m);
        if request.protocol != sspi::NetworkProtocol::Tcp {
            return Err(err(format!(
                "KDC over {:?} is not supported: use tcp://",
                request.protocol
            )));
        }
        let host = request.url.host_str().unwrap_or_default();
        let port = request.url.port().unwrap_or(88);
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(|e| err(format!("KDC {host}:{port}: {e}")))?
            .next()
            .ok_or_else(|| err(format!("KDC {host}:{port}: no address")))?;
        let timeout = std::time::Duration::from_secs(5);
        let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| err(format!("KDC {addr}: {e}")))?;
        let io = |e: std::io::Error| err(format!("KDC {addr}: {e}"));
        s.set_read_timeout(Some(timeout)).map_err(io)?;
        s.set_write_timeout(Some(timeout)).map_err(io)?;
        s.write_all(&request.data).map_err(io)?;
        let mut len = [0u8; 4];
        s.read_exact(&mut len).map_err(io)?;
        let n = u32::from_be_bytes(len) as usize;
        if n > MAX_KDC_REPLY {
            return Err(err(format!(
                "KDC {addr}: a {n}-byte reply is over the limit"
            )));
        }
        let mut reply = vec![0u8; n + 4];
        reply[..4].copy_from_slice(&len);
        s.read_exact(&mut reply[4..]).map_err(io)?;
        Ok(reply)
    }
}

/// A Kerberos client's credentials for `sspi`: the password, or the key from a keytab.
fn kerberos_credentials(
    creds: &Credentials,
    target: &KerberosTarget,
) -> Result<CredentialsBuffers, AuthError> {
    Ok(match &target.client_key {
        None => CredentialsBuffers::AuthIdentity(AuthIdentityBuffers::from_utf8(
            &creds.user,
            &creds.domain,
            &creds.password,
        )),
        Some(k) => CredentialsBuffers::Keytab(sspi::KeytabIdentity {
            principal: Username::new_upn(&creds.user, &creds.domain)
                .map_err(|_| AuthError::new(AuthFailure::LogonFailure, "unusable user name"))?,
            key: k.key.clone().into(),
            key_enctype: if k.aes256 {
                picky_krb::crypto::CipherSuite::Aes256CtsHmacSha196
            } else {
                picky_krb::crypto::CipherSuite::Aes128CtsHmacSha196
            },
        }),
    })
}

/// The clock skew a Kerberos server allows between the client's authenticator and its own
/// clock: 5 minutes, as Active Directory and MIT Kerberos default to.
pub const MAX_CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(300);

/// A Kerberos context (MS-KILE, DCE style: AP-REQ in the bind, AP-REP in the bind_ack, the
/// client's AP-REP in rpc_auth_3), client or server side.
struct KerberosContext {
    pkg: sspi::Kerberos,
    client: Option<(Option<CredentialsBuffers>, String)>,
    level: AuthLevel,
    context_id: u32,
    legs: u8,
    sig_len: usize,
    peer: Option<PeerIdentity>,
    /// Once established: the MICs of the packet and integrity levels, and the sequence check of
    /// every token that arrives.
    per_message: Option<mic::PerMessage>,
    /// Server side: the service keys, to read the client's groups from the ticket's PAC.
    service_keys: Vec<Vec<u8>>,
    /// Server side: the client's group SIDs, once its AP-REQ is accepted.
    groups: Vec<String>,
}

/// The auth_value length before the context is established: the MIC token (packet,
/// integrity) or the wrap token `sspi`'s initiator makes (privacy).
fn kerberos_sig_len(level: AuthLevel) -> usize {
    if level_seals(level) { 76 } else { mic::MIC_LEN }
}

impl KerberosContext {
    fn client(
        level: AuthLevel,
        context_id: u32,
        creds: &Credentials,
        target: &KerberosTarget,
    ) -> Result<KerberosContext, AuthError> {
        let config = sspi::KerberosConfig::new_with_kdc_url(&target.kdc, "msrpc".to_owned());
        let pkg = sspi::Kerberos::new_client_from_config(config)
            .map_err(|e| krb_error(AuthFailure::Package, &e))?;
        let buffers = kerberos_credentials(creds, target)?;
        Ok(KerberosContext {
            pkg,
            client: Some((Some(buffers), target.service_principal.clone())),
            level,
            context_id,
            legs: 0,
            sig_len: kerberos_sig_len(level),
            peer: None,
            per_message: None,
            service_keys: Vec::new(),
            groups: Vec::new(),
        })
    }

    fn server(
        level: AuthLevel,
        context_id: u32,
        service: &KerberosService,
    ) -> Result<KerberosContext, AuthError> {
        let names: Vec<&str> = service.principal.split('/').collect();
        let mut props = sspi::kerberos::ServerProperties::new(
            &names,
            None,
            MAX_CLOCK_SKEW,
            Some(service.key.clone().into()),
        )
        .map_err(|e| krb_error(AuthFailure::Package, &e))?;
        for (principal, key) in &service.others {
            let names: Vec<&str> = principal.split('/').collect();
            props
                .add_service_key(&names, key.clone().into())
                .map_err(|e| krb_error(AuthFailure::Package, &e))?;
        }
        let config = sspi::KerberosConfig::new_with_kdc_url(&service.kdc, "msrpc".to_owned());
        let pkg = sspi::Kerberos::new_server_from_config(config, props)
            .map_err(|e| krb_error(AuthFailure::Package, &e))?;
        Ok(KerberosContext {
            pkg,
            client: None,
            level,
            context_id,
            legs: 0,
            sig_len: kerberos_sig_len(level),
            peer: None,
            per_message: None,
            service_keys: std::iter::once(service.key.clone())
                .chain(service.others.iter().map(|(_, k)| k.clone()))
                .collect(),
            groups: Vec::new(),
        })
    }

    fn finish(&mut self) -> Result<(), AuthError> {
        if level_seals(self.level)
            && let Ok(sizes) = self.pkg.query_context_sizes()
        {
            self.sig_len = usize::try_from(sizes.security_trailer).unwrap_or(76);
        }
        let key = self
            .pkg
            .query_context_session_key()
            .map_err(|e| krb_error(AuthFailure::Package, &e))?;
        self.per_message = Some(mic::PerMessage::new(
            key.session_key.as_ref().to_vec(),
            self.client.is_some(),
        )?);
        if self.client.is_none()
            && let Ok(names) = self.pkg.query_context_names()
        {
            let u = names.username;
            let realm = match u.parts() {
                sspi::UsernameParts::UserPrincipalName(p) => p.suffix().to_owned(),
                sspi::UsernameParts::DownLevelLogonName(p) => {
                    p.netbios_domain().unwrap_or_default().to_owned()
                }
            };
            self.peer = Some(
                PeerIdentity::new(u.account_name(), realm)
                    .with_groups(std::mem::take(&mut self.groups)),
            );
        }
        Ok(())
    }
}

impl SecurityContext for KerberosContext {
    fn auth_type(&self) -> AuthType {
        AuthType::KERBEROS
    }

    fn auth_level(&self) -> AuthLevel {
        self.level
    }

    fn context_id(&self) -> u32 {
        self.context_id
    }

    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        self.legs = self.legs.saturating_add(1);
        if self.legs > MAX_LEGS {
            return Err(AuthError::new(
                AuthFailure::BadToken,
                "too many Kerberos legs",
            ));
        }
        let first = self.legs == 1;
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let mut input_bufs = vec![SecurityBuffer::new(
            input.map(<[u8]>::to_vec).unwrap_or_default(),
            BufferType::Token,
        )];
        let status = if let Some((creds, spn)) = self.client.as_mut() {
            let flags = client_flags(
                self.level,
                ClientRequestFlags::MUTUAL_AUTH | ClientRequestFlags::USE_DCE_STYLE,
            );
            let mut builder = self
                .pkg
                .initialize_security_context()
                .with_credentials_handle(creds)
                .with_context_requirements(flags)
                .with_target_data_representation(DataRepresentation::Native)
                .with_target_name(spn)
                .with_input(&mut input_bufs)
                .with_output(&mut output);
            // The first leg talks to the KDC (the runtime runs it on a blocking thread); a
            // refusal there is the logon failing.
            let kind = if first {
                AuthFailure::LogonFailure
            } else {
                AuthFailure::BadToken
            };
            self.pkg
                .initialize_security_context_impl(&mut builder)
                .and_then(|mut g| g.resolve_with_client(&KdcClient))
                .map_err(|e| krb_error(kind, &e))?
                .status
        } else {
            let mut creds: Option<CredentialsBuffers> = None;
            let builder = self
                .pkg
                .accept_security_context()
                .with_credentials_handle(&mut creds)
                .with_context_requirements(
                    ServerRequestFlags::USE_DCE_STYLE | ServerRequestFlags::MUTUAL_AUTH,
                )
                .with_target_data_representation(DataRepresentation::Native)
                .with_input(&mut input_bufs)
                .with_output(&mut output);
            let status = self
                .pkg
                .accept_security_context_impl(builder)
                .and_then(|mut g| g.resolve_with_client(&KdcClient))
                .map_err(|e| {
                    let e = krb_error(AuthFailure::LogonFailure, &e);
                    tracing::debug!(leg = self.legs, error = %e, "Kerberos logon refused");
                    e
                })?
                .status;
            if first && let Some(token) = input {
                // sspi accepted the ticket: read the groups from its PAC.
                let keys: Vec<&[u8]> = self.service_keys.iter().map(Vec::as_slice).collect();
                self.groups = pac::groups(token, &keys).unwrap_or_default();
            }
            status
        };
        let step = step_from(status, output, "Kerberos")?;
        if matches!(step, AuthStep::Complete(_)) {
            self.finish()?;
        }
        Ok(step)
    }

    fn signature_len(&self) -> usize {
        self.sig_len
    }

    fn protect(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        if level_seals(self.level) {
            return protect_with(&mut self.pkg, self.level, pdu, &body, &signature);
        }
        let pm = self.per_message.as_ref().ok_or_else(not_established)?;
        if signature.start > signature.end || signature.end > pdu.len() {
            return Err(AuthError::new(AuthFailure::Package, "bad fragment layout"));
        }
        // The same sequence as sspi's wrap tokens: the package's next number.
        let seq = u64::from(self.pkg.next_seq_number());
        let (signed, rest) = pdu.split_at_mut(signature.start);
        pm.sign(seq, signed, &mut rest[..signature.end - signature.start])
    }

    fn verify(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        let pm = self.per_message.as_mut().ok_or_else(not_established)?;
        let token = pdu
            .get(signature.clone())
            .ok_or_else(|| AuthError::new(AuthFailure::Tampered, "bad fragment layout"))?;
        if level_seals(self.level) {
            // sspi's decrypt_message checks no sequence number: msrpc does, around it.
            let seq = pm.check_wrap(token)?;
            verify_with(&mut self.pkg, self.level, pdu, &body, &signature, None)?;
            if let Some(pm) = self.per_message.as_mut() {
                pm.commit(seq);
            }
            return Ok(());
        }
        let token = token.to_vec();
        pm.verify(&pdu[..signature.start], &token)
    }

    fn peer_identity(&self) -> Option<PeerIdentity> {
        self.peer.clone()
    }
}

fn not_established() -> AuthError {
    AuthError::new(
        AuthFailure::Package,
        "the Kerberos context is not established",
    )
}

/// A context whose first leg already ran (on a blocking thread, since Kerberos's first leg talks
/// to the KDC): its first `step(None)` hands back that result.
pub(crate) struct Primed {
    inner: Box<dyn SecurityContext>,
    first: Option<AuthStep>,
}

impl Primed {
    /// Runs `ctx`'s first leg now (call it off the async runtime).
    pub(crate) fn new(mut ctx: Box<dyn SecurityContext>) -> Result<Primed, AuthError> {
        let first = ctx.step(None)?;
        Ok(Primed {
            inner: ctx,
            first: Some(first),
        })
    }
}

impl SecurityContext for Primed {
    fn auth_type(&self) -> AuthType {
        self.inner.auth_type()
    }
    fn auth_level(&self) -> AuthLevel {
        self.inner.auth_level()
    }
    fn context_id(&self) -> u32 {
        self.inner.context_id()
    }
    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        match (input, self.first.take()) {
            (None, Some(first)) => Ok(first),
            (input, _) => self.inner.step(input),
        }
    }
    fn signature_len(&self) -> usize {
        self.inner.signature_len()
    }
    fn protect(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        sig: Range<usize>,
    ) -> Result<(), AuthError> {
        self.inner.protect(pdu, body, sig)
    }
    fn verify(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        sig: Range<usize>,
    ) -> Result<(), AuthError> {
        self.inner.verify(pdu, body, sig)
    }
    fn peer_identity(&self) -> Option<PeerIdentity> {
        self.inner.peer_identity()
    }
}

/// A client's SPNEGO context negotiating Kerberos (`sspi`'s Negotiate restricted to Kerberos, DCE
/// style). Once SPNEGO has finished, the Kerberos context it chose makes and checks the
/// per-message tokens, exactly as a plain Kerberos context does (MICs at packet and integrity).
struct NegotiateKerberos {
    pkg: Negotiate,
    creds: Option<CredentialsBuffers>,
    spn: String,
    level: AuthLevel,
    context_id: u32,
    legs: u8,
    krb: Option<KerberosContext>,
}

impl NegotiateKerberos {
    fn new(
        level: AuthLevel,
        context_id: u32,
        creds: &Credentials,
        target: &KerberosTarget,
    ) -> Result<Self, AuthError> {
        let config = NegotiateConfig::new(
            Box::new(sspi::KerberosConfig::new_with_kdc_url(
                &target.kdc,
                "msrpc".to_owned(),
            )),
            Some("kerberos,!ntlm".to_owned()),
            "msrpc".to_owned(),
        );
        let pkg = Negotiate::new_client(config).map_err(|e| krb_error(AuthFailure::Package, &e))?;
        Ok(NegotiateKerberos {
            pkg,
            creds: Some(kerberos_credentials(creds, target)?),
            spn: target.service_principal.clone(),
            level,
            context_id,
            legs: 0,
            krb: None,
        })
    }
}

impl SecurityContext for NegotiateKerberos {
    fn auth_type(&self) -> AuthType {
        AuthType::SPNEGO
    }

    fn auth_level(&self) -> AuthLevel {
        self.level
    }

    fn context_id(&self) -> u32 {
        self.context_id
    }

    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        self.legs = self.legs.saturating_add(1);
        if self.legs > MAX_LEGS + 1 {
            return Err(AuthError::new(
                AuthFailure::BadToken,
                "too many SPNEGO legs",
            ));
        }
        let kind = if self.legs == 1 {
            AuthFailure::LogonFailure
        } else {
            AuthFailure::BadToken
        };
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        // sspi's Negotiate wants an input buffer on the first call too (an empty one).
        let mut input_bufs = vec![SecurityBuffer::new(
            input.map(<[u8]>::to_vec).unwrap_or_default(),
            BufferType::Token,
        )];
        let flags = client_flags(
            self.level,
            ClientRequestFlags::MUTUAL_AUTH | ClientRequestFlags::USE_DCE_STYLE,
        );
        let mut builder = self
            .pkg
            .initialize_security_context()
            .with_credentials_handle(&mut self.creds)
            .with_context_requirements(flags)
            .with_target_data_representation(DataRepresentation::Native)
            .with_target_name(&self.spn)
            .with_input(&mut input_bufs)
            .with_output(&mut output);
        let status = self
            .pkg
            .initialize_security_context_impl(&mut builder)
            .and_then(|mut g| g.resolve_with_client(&KdcClient))
            .map_err(|e| sspi_error(kind, &e, "SPNEGO/Kerberos"))?
            .status;
        let mut step = step_from(status, output, "SPNEGO/Kerberos")?;
        // sspi wants the acceptor's mechListMIC whenever DCE style is asked for; Samba's DC (as
        // RFC 4178 5 allows when the mechanism chosen is the initiator's first) answers the last
        // leg with accept-completed and no MIC. Only Kerberos is offered here, so there is no
        // weaker mechanism a missing MIC could hide a downgrade to.
        if matches!(step, AuthStep::Continue(_))
            && self.legs > 2
            && input.is_some_and(is_bare_accept_completed)
        {
            step = AuthStep::Complete(None);
        }
        if matches!(step, AuthStep::Complete(_)) {
            let sspi::NegotiatedProtocol::Kerberos(k) = self.pkg.negotiated_protocol() else {
                return Err(AuthError::new(
                    AuthFailure::Package,
                    "SPNEGO negotiated a package other than Kerberos",
                ));
            };
            let mut krb = KerberosContext {
                pkg: k.clone(),
                client: Some((None, self.spn.clone())),
                level: self.level,
                context_id: self.context_id,
                legs: MAX_LEGS,
                sig_len: kerberos_sig_len(self.level),
                peer: None,
                per_message: None,
                service_keys: Vec::new(),
                groups: Vec::new(),
            };
            krb.finish()?;
            self.krb = Some(krb);
        }
        Ok(step)
    }

    fn signature_len(&self) -> usize {
        self.krb
            .as_ref()
            .map_or(kerberos_sig_len(self.level), |k| k.sig_len)
    }

    fn protect(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        match self.krb.as_mut() {
            Some(k) => k.protect(pdu, body, signature),
            None => Err(not_established()),
        }
    }

    fn verify(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        match self.krb.as_mut() {
            Some(k) => k.verify(pdu, body, signature),
            None => Err(not_established()),
        }
    }
}

/// Whether `token` is a SPNEGO NegTokenResp (RFC 4178 4.2.2) with negState accept-completed and
/// neither a responseToken nor a mechListMIC. DER reading only, bounded by the token.
fn is_bare_accept_completed(token: &[u8]) -> bool {
    /// One DER element at the start of `b`: (tag, contents, rest).
    fn element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, b) = b.split_first()?;
        let (&first, b) = b.split_first()?;
        let (len, b) = if first < 0x80 {
            (usize::from(first), b)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || b.len() < n {
                return None;
            }
            let len = b[..n]
                .iter()
                .fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
            (len, &b[n..])
        };
        (b.len() >= len).then(|| (tag, &b[..len], &b[len..]))
    }
    let Some((0xa1, resp, [])) = element(token) else {
        return false;
    };
    let Some((0x30, mut fields, [])) = element(resp) else {
        return false;
    };
    let mut completed = false;
    while !fields.is_empty() {
        let Some((tag, value, rest)) = element(fields) else {
            return false;
        };
        match tag {
            // negState [0] ENUMERATED: 0 is accept-completed.
            0xa0 => completed = value == [0x0a, 0x01, 0x00],
            // supportedMech [1] may repeat the mechanism; responseToken [2] and mechListMIC [3]
            // must be absent.
            0xa1 => {}
            _ => return false,
        }
        fields = rest;
    }
    completed
}

/// A client's SPNEGO (Negotiate, auth type 9) context: `sspi`'s Negotiate restricted to NTLM,
/// since no KDC is configured (see docs/auth.md). Its extra leg travels in alter_context.
struct NegotiateClient {
    pkg: Negotiate,
    creds: Option<CredentialsBuffers>,
    level: AuthLevel,
    context_id: u32,
    legs: u8,
}

impl NegotiateClient {
    fn new(level: AuthLevel, context_id: u32, creds: &Credentials) -> Result<Self, AuthError> {
        let config = NegotiateConfig::new(
            Box::new(NtlmConfig::default()),
            Some("ntlm".to_owned()),
            "msrpc".to_owned(),
        );
        let pkg =
            Negotiate::new_client(config).map_err(|e| package_error(AuthFailure::Package, &e))?;
        Ok(NegotiateClient {
            pkg,
            creds: Some(CredentialsBuffers::AuthIdentity(
                AuthIdentityBuffers::from_utf8(&creds.user, &creds.domain, &creds.password),
            )),
            level,
            context_id,
            legs: 0,
        })
    }
}

impl SecurityContext for NegotiateClient {
    fn auth_type(&self) -> AuthType {
        AuthType::SPNEGO
    }

    fn auth_level(&self) -> AuthLevel {
        self.level
    }

    fn context_id(&self) -> u32 {
        self.context_id
    }

    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        self.legs = self.legs.saturating_add(1);
        if self.legs > MAX_LEGS + 1 {
            return Err(AuthError::new(
                AuthFailure::BadToken,
                "too many SPNEGO legs",
            ));
        }
        init_step(&mut self.pkg, &mut self.creds, self.level, input, "SPNEGO")
    }

    fn signature_len(&self) -> usize {
        16
    }

    fn protect(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        protect_with(&mut self.pkg, self.level, pdu, &body, &signature)
    }

    fn verify(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        verify_with(&mut self.pkg, self.level, pdu, &body, &signature, Some(16))
    }
}

/// What the server needs from an NTLM AUTHENTICATE message (MS-NLMP 2.2.1.3).
struct AuthenticateInfo {
    user: String,
    domain: String,
    /// The message has a MIC that sspi verifies: `MsvAvFlags` bit 0x2 and the
    /// NTLMSSP_NEGOTIATE_TARGET_INFO flag.
    mic_checked: bool,
}

/// Reads the user, domain and whether the NTLMv2 response's AV pairs announce a MIC
/// (`MsvAvFlags` bit 0x2, MS-NLMP 2.2.2.1). Parsing only; the package checks the proofs.
fn parse_authenticate(m: &[u8]) -> Result<AuthenticateInfo, AuthError> {
    let bad = || AuthError::new(AuthFailure::BadToken, "malformed NTLM AUTHENTICATE message");
    if m.len() < 64 || &m[..8] != b"NTLMSSP\0" || m[8..12] != [3, 0, 0, 0] {
        return Err(bad());
    }
    let field = |at: usize| -> Result<&[u8], AuthError> {
        let len = usize::from(u16::from_le_bytes([m[at], m[at + 1]]));
        let off = u32::from_le_bytes([m[at + 4], m[at + 5], m[at + 6], m[at + 7]]) as usize;
        m.get(off..off.checked_add(len).ok_or_else(bad)?)
            .ok_or_else(bad)
    };
    let utf16 = |b: &[u8]| -> Result<String, AuthError> {
        if !b.len().is_multiple_of(2) {
            return Err(bad());
        }
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).map_err(|_| bad())
    };
    let nt = field(20)?;
    let domain = utf16(field(28)?)?;
    let user = utf16(field(36)?)?;
    // NTLMv2 response: NTProofStr (16), then the blob: RespType, HiRespType, 6 reserved,
    // timestamp (8), client challenge (8), 4 reserved, then AV pairs.
    let mut has_mic = false;
    let mut at = 16 + 28;
    while let Some(hdr) = nt.get(at..at + 4) {
        let id = u16::from_le_bytes([hdr[0], hdr[1]]);
        let len = usize::from(u16::from_le_bytes([hdr[2], hdr[3]]));
        if id == 0 {
            break;
        }
        let value = nt.get(at + 4..at + 4 + len).ok_or_else(bad)?;
        if id == 6 && len == 4 {
            let flags = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
            has_mic = flags & 0x2 != 0;
        }
        at += 4 + len;
    }
    let flags = u32::from_le_bytes([m[60], m[61], m[62], m[63]]);
    Ok(AuthenticateInfo {
        user,
        domain,
        mic_checked: has_mic && flags & 0x0080_0000 != 0,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use msrpc_proto::auth::{protect_fragment, verify_fragment};
    use msrpc_proto::wire::{Pdu, PduBody, PfcFlags, Request};

    fn pair(level: AuthLevel, password: &str) -> (NtlmContext, NtlmContext) {
        let mut store = UserStore::new();
        store.insert("alice", "s3cret!");
        let store = std::sync::Arc::new(store);
        let client = NtlmContext::client(level, 7, &Credentials::new("alice", "WS", password));
        let server = NtlmContext::server(level, 7, store);
        (client, server)
    }

    fn handshake(c: &mut NtlmContext, s: &mut NtlmContext) -> Result<(), AuthError> {
        let AuthStep::Continue(negotiate) = c.step(None)? else {
            panic!("client finished early")
        };
        let AuthStep::Continue(challenge) = s.step(Some(&negotiate))? else {
            panic!("server finished early")
        };
        let AuthStep::Complete(Some(authenticate)) = c.step(Some(&challenge))? else {
            panic!("no AUTHENTICATE")
        };
        match s.step(Some(&authenticate))? {
            AuthStep::Complete(None) => Ok(()),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn request(stub: &[u8]) -> Pdu {
        Pdu::new(
            3,
            PfcFlags::FIRST_AND_LAST,
            PduBody::Request(Request {
                alloc_hint: stub.len() as u32,
                context_id: 0,
                opnum: 1,
                object: None,
                stub: bytes::Bytes::copy_from_slice(stub),
            }),
        )
    }

    #[test]
    fn ntlm_handshake_then_sealed_and_signed_fragments_verify() {
        for level in [AuthLevel::PKT_INTEGRITY, AuthLevel::PKT_PRIVACY] {
            let (mut c, mut s) = pair(level, "s3cret!");
            handshake(&mut c, &mut s).unwrap();
            assert_eq!(s.peer_identity().unwrap(), PeerIdentity::new("alice", "WS"));
            for i in 0..3u8 {
                let stub = vec![i; 37];
                let mut wire = protect_fragment(request(&stub), &mut c).unwrap();
                let sealed = !wire.windows(37).any(|w| w == stub.as_slice());
                assert_eq!(sealed, level == AuthLevel::PKT_PRIVACY);
                let back = verify_fragment(&mut wire, &mut s).unwrap();
                let PduBody::Request(r) = back.body else {
                    panic!()
                };
                assert_eq!(&r.stub[..], &stub[..]);
            }
        }
    }

    fn established(level: AuthLevel) -> (NtlmContext, NtlmContext) {
        let (mut c, mut s) = pair(level, "s3cret!");
        handshake(&mut c, &mut s).unwrap();
        (c, s)
    }

    #[test]
    fn tampered_replayed_and_reordered_fragments_are_refused() {
        for level in [AuthLevel::PKT_INTEGRITY, AuthLevel::PKT_PRIVACY] {
            // Reordered: the second fragment arrives first.
            let (mut c, mut s) = established(level);
            let _first = protect_fragment(request(b"one one one one"), &mut c).unwrap();
            let mut second = protect_fragment(request(b"two two two two"), &mut c).unwrap();
            assert!(verify_fragment(&mut second, &mut s).is_err());
            // One flipped bit in the header, the stub or the trailer.
            for at in [2usize, 30, 44] {
                let (mut c, mut s) = established(level);
                let mut wire = protect_fragment(request(b"one one one one"), &mut c).unwrap();
                wire[at] ^= 0x01;
                assert!(verify_fragment(&mut wire, &mut s).is_err(), "flip at {at}");
            }
            // Replayed: in order both verify, the first again does not.
            let (mut c, mut s) = established(level);
            let mut first = protect_fragment(request(b"one one one one"), &mut c).unwrap();
            let replay = first.clone();
            let mut second = protect_fragment(request(b"two two two two"), &mut c).unwrap();
            verify_fragment(&mut first, &mut s).unwrap();
            verify_fragment(&mut second, &mut s).unwrap();
            assert!(verify_fragment(&mut replay.clone(), &mut s).is_err());
        }
    }

    #[test]
    fn wrong_password_and_unknown_user_are_logon_failures() {
        let (mut c, mut s) = pair(AuthLevel::PKT_PRIVACY, "wrong");
        let e = handshake(&mut c, &mut s).unwrap_err();
        assert_eq!(e.kind, AuthFailure::LogonFailure, "{e}");
        let store = std::sync::Arc::new(UserStore::new());
        let mut c = NtlmContext::client(AuthLevel::CONNECT, 1, &Credentials::new("bob", "", "x"));
        let mut s = NtlmContext::server(AuthLevel::CONNECT, 1, store);
        let e = handshake(&mut c, &mut s).unwrap_err();
        assert_eq!(e.kind, AuthFailure::LogonFailure);
    }

    #[test]
    fn users_file_parses_and_reports_bad_lines_without_passwords() {
        let text = "# accounts\n\nalice:s3cret!\nCORP\\bob:pa:ss\n";
        let store = UserStore::parse(text, "users.txt").unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(store.password("ALICE", "anything"), Some("s3cret!"));
        assert_eq!(store.password("bob", "corp"), Some("pa:ss"));
        assert_eq!(store.password("bob", "other"), None);
        assert!(!format!("{store:?}").contains("s3cret"));
        let e = UserStore::parse("alice:ok\nno-colon-hunter2\n", "u").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert_eq!(UserStore::parse(":pw\n", "u").unwrap_err().line, 1);
        assert_eq!(UserStore::parse("\\bob:pw\n", "u").unwrap_err().line, 1);
        assert_eq!(UserStore::parse("bob:\n", "u").unwrap_err().line, 1);
    }

    #[test]
    fn only_a_bare_spnego_accept_completed_is_taken_without_a_mic() {
        // What Samba's DC sends last: negState accept-completed, nothing else.
        assert!(is_bare_accept_completed(&[
            0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x00
        ]));
        // accept-incomplete, a mechListMIC, trailing bytes, truncation: no.
        assert!(!is_bare_accept_completed(&[
            0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x01
        ]));
        assert!(!is_bare_accept_completed(&[
            0xa1, 0x0b, 0x30, 0x09, 0xa0, 0x03, 0x0a, 0x01, 0x00, 0xa3, 0x02, 0x04, 0x00
        ]));
        assert!(!is_bare_accept_completed(&[
            0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x00, 0
        ]));
        assert!(!is_bare_accept_completed(&[
            0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a
        ]));
        assert!(!is_bare_accept_completed(&[
            0xa1, 0x84, 0xff, 0xff, 0xff, 0xff
        ]));
        assert!(!is_bare_accept_completed(&[]));
    }

    #[test]
    fn levels_parse_and_credentials_hide_the_password() {
        assert_eq!(
            "privacy".parse::<AuthnLevel>().unwrap(),
            AuthnLevel::PktPrivacy
        );
        assert_eq!(
            "INTEGRITY".parse::<AuthnLevel>().unwrap(),
            AuthnLevel::PktIntegrity
        );
        assert!("loud".parse::<AuthnLevel>().is_err());
        assert_eq!(AuthnLevel::Call.effective(), AuthnLevel::Pkt);
        let c = Credentials::parse("CORP\\alice", "hunter2");
        assert_eq!((c.domain(), c.user()), ("CORP", "alice"));
        assert!(!format!("{c:?}").contains("hunter2"));
        let c = Credentials::parse("alice@corp.example", "x");
        assert_eq!((c.domain(), c.user()), ("corp.example", "alice"));
    }
}
