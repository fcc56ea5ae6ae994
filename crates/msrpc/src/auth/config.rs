//! What a client and a server's managers see of authentication: levels, packages, credentials,
//! a binding's [`AuthInfo`] and the caller's [`ClientIdentity`].

use std::fmt;
use std::str::FromStr;

use msrpc_proto::auth::{AuthError, AuthFailure};
use msrpc_proto::wire::{AuthLevel, AuthType};

use super::ccache::Ccache;
use super::keytab::{self, Keytab};
use super::krb_initiator::Tgt;
use super::schannel::SchannelSession;

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
    /// ([`AuthInfo::kerberos`], [`KerberosService`](super::KerberosService)).
    Kerberos,
    /// Schannel, Netlogon's own package (`RPC_C_AUTHN_NETLOGON`, auth type 68, [MS-NRPC] 3.3):
    /// signs and seals with a netlogon secure channel's session key ([`AuthInfo::schannel`]).
    /// Client side only, AES only, integrity and privacy only.
    Netlogon,
}

impl AuthnService {
    /// The `auth_type` on the wire.
    pub fn to_wire(self) -> AuthType {
        match self {
            AuthnService::Ntlm => AuthType::NTLM,
            AuthnService::Negotiate => AuthType::SPNEGO,
            AuthnService::Kerberos => AuthType::KERBEROS,
            AuthnService::Netlogon => AuthType::NETLOGON,
        }
    }

    /// From the wire value, if msrpc implements that package.
    pub fn from_wire(t: AuthType) -> Option<AuthnService> {
        match t {
            AuthType::NTLM => Some(AuthnService::Ntlm),
            AuthType::SPNEGO => Some(AuthnService::Negotiate),
            AuthType::KERBEROS => Some(AuthnService::Kerberos),
            AuthType::NETLOGON => Some(AuthnService::Netlogon),
            _ => None,
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            AuthnService::Ntlm => "ntlm",
            AuthnService::Negotiate => "negotiate",
            AuthnService::Kerberos => "kerberos",
            AuthnService::Netlogon => "schannel",
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
    pub(super) user: String,
    pub(super) domain: String,
    pub(super) password: String,
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
pub(super) fn split_user(s: &str) -> (&str, &str) {
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
    /// Schannel: the secure channel's session key, flags and names.
    pub schannel: Option<SchannelSession>,
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
    /// The TGT from a credential cache ([`AuthInfo::with_ccache`]), used instead of an AS
    /// exchange.
    pub(crate) tgt: Option<Tgt>,
}

/// A client's long-term Kerberos key (from a keytab). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientKey {
    pub(super) key: Vec<u8>,
    pub(super) aes256: bool,
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
            schannel: None,
        }
    }

    /// Schannel (auth type 68) at `level` (integrity or privacy) with a netlogon secure
    /// channel's `session` ([MS-NRPC] 3.3). The session comes from NetrServerAuthenticate3
    /// (`msrpc-windows`' `netlogon::SecureChannel::establish`). Client side only; the session
    /// must have negotiated AES.
    pub fn schannel(level: AuthnLevel, session: SchannelSession) -> AuthInfo {
        AuthInfo {
            level,
            service: AuthnService::Netlogon,
            credentials: Credentials::new(format!("{}$", session.computer()), session.domain(), ""),
            kerberos: None,
            schannel: Some(session),
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
                tgt: None,
            }),
            schannel: None,
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

    /// Kerberos starting from the TGT in the MIT credential cache at `path` (`kinit -c
    /// FILE:PATH`; a `FILE:` prefix as in `KRB5CCNAME` is accepted): the TGS exchange for the
    /// service uses the TGT and its session key, so neither a password nor a keytab is needed.
    /// The TGT is the one of the credentials' realm (their domain), or of the cache's default
    /// principal when the domain is empty; an empty user and domain are filled in from the
    /// cache. Fails with a clear error when this is not Kerberos (or Negotiate choosing it),
    /// the file cannot be read, it has no TGT for the realm, or the TGT has expired.
    ///
    /// Without this, a Kerberos binding whose credentials have no password (and no keytab)
    /// reads the cache `KRB5CCNAME` names when a connection starts.
    pub fn with_ccache(mut self, path: impl AsRef<std::path::Path>) -> Result<AuthInfo, AuthError> {
        let Some(target) = self.kerberos.as_mut() else {
            return Err(AuthError::new(
                AuthFailure::Unsupported,
                "a credential cache is for Kerberos (AuthInfo::kerberos)",
            ));
        };
        let cc = Ccache::from_file(path)?;
        let realm =
            (!self.credentials.domain.is_empty()).then_some(self.credentials.domain.as_str());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let cred = cc.tgt(realm, now)?;
        target.tgt = Some(Tgt::from_credential(cred, cc.time_offset)?);
        if self.credentials.user.is_empty() {
            self.credentials.user = cc.principal.name();
        }
        if self.credentials.domain.is_empty() {
            self.credentials.domain = cc.principal.realm.clone();
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
            schannel: None,
        }
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
    /// The logon was anonymous (an NTLM AUTHENTICATE with no user and empty responses, MS-NLMP
    /// 3.2.5.1.2, directly or inside SPNEGO): the caller is nobody, named as Windows names it
    /// (`NT AUTHORITY\\ANONYMOUS LOGON`). It never has a user's rights: interfaces refuse it
    /// unless registered with [`InterfaceSecurity::allow_anonymous`](crate::server::InterfaceSecurity::allow_anonymous).
    pub anonymous: bool,
}

impl ClientIdentity {
    /// Whether the caller logged on anonymously (see [`ClientIdentity::anonymous`]).
    pub fn is_anonymous(&self) -> bool {
        self.anonymous
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
