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
//! | `RPC_C_AUTHN_NETLOGON` (Schannel, client side) | [`AuthInfo::schannel`] with a [`SchannelSession`] |
//! | `RPC_C_AUTHN_NETLOGON` (Schannel, server side) | [`ServerBuilder::schannel`](crate::server::ServerBuilder::schannel) with [`SchannelKeys`] |
//! | `SEC_WINNT_AUTH_IDENTITY` | [`Credentials`] |
//! | `RpcServerRegisterAuthInfo` | [`ServerBuilder::authentication`](crate::server::ServerBuilder::authentication) with a [`UserStore`] |
//! | `RpcServerRegisterIf3` security callback, `RPC_IF_ALLOW_SECURE_ONLY` | [`InterfaceSecurity`](crate::server::InterfaceSecurity) |
//! | `RpcBindingInqAuthClient` | [`IncomingCall::client`](crate::server::IncomingCall::client) |
//!
//! Passwords are held in memory only as long as the binding or store lives, are never logged,
//! and are redacted from `Debug` output.

use std::ops::Range;

use msrpc_proto::auth::{
    Acceptor, AuthError, AuthFailure, AuthStep, PeerIdentity, SecurityContext,
};
use msrpc_proto::wire::{AuthLevel, AuthType};

// The types users see are in `config` (a binding's settings and the caller's identity), `users`
// (a server's NTLM accounts) and `keytab`; the packages in `ntlm`, `kerberos` (with `mic` and
// `pac`) and `spnego`, on the shared `sspi` plumbing of `sspi_glue`. This file picks the context
// a connection gets: `AuthInfo::client_context` on the client, `StoreAcceptor` on the server, and
// `Primed` for a first leg run ahead of time.
mod be_reader;
mod ccache;
mod config;
mod der;
mod kerberos;
mod keytab;
mod krb_initiator;
mod mic;
mod ntlm;
mod ntlm_session;
mod pac;
mod schannel;
mod schannel_server;
mod spnego;
mod spnego_server;
mod sspi_glue;
mod users;

pub use ccache::{
    Ccache, CcacheCredential, CcachePrincipal, MAX_CCACHE_BYTES, MAX_CCACHE_COUNT,
    MAX_CCACHE_CREDENTIALS,
};
pub use config::{
    AuthInfo, AuthnLevel, AuthnService, ClientIdentity, ClientKey, Credentials, KerberosTarget,
};
pub use kerberos::{KerberosService, MAX_CLOCK_SKEW};
pub use keytab::{Keytab, KeytabEntry, MAX_KEYTAB_BYTES};
pub use schannel::{NETLOGON_NEG_SUPPORTS_AES, NL_AUTH_SHA2_SIGNATURE_LEN, SchannelSession};
pub use schannel_server::{DEFAULT_MAX_SCHANNEL_SESSIONS, MAX_NL_AUTH_MESSAGE, SchannelKeys};
pub use users::{UserStore, UsersFileError};

use kerberos::KerberosContext;
use krb_initiator::{NegotiateTgt, TgtKerberos};
use ntlm::NtlmContext;
use schannel::SchannelClient;
use schannel_server::SchannelServer;
use spnego::{NegotiateClient, NegotiateKerberos};
use spnego_server::NegotiateServer;

impl AuthInfo {
    /// A new client security context for one connection.
    pub(crate) fn client_context(
        &self,
        context_id: u32,
    ) -> Result<Box<dyn SecurityContext>, AuthError> {
        let level = self.level.effective().to_wire();
        Ok(match self.service {
            AuthnService::Netlogon => {
                let Some(session) = &self.schannel else {
                    return Err(AuthError::new(
                        AuthFailure::Unsupported,
                        "Schannel needs a secure channel's session (AuthInfo::schannel)",
                    ));
                };
                Box::new(SchannelClient::new(level, context_id, session)?)
            }
            AuthnService::Ntlm => {
                Box::new(NtlmContext::client(level, context_id, &self.credentials))
            }
            AuthnService::Negotiate => match &self.kerberos {
                Some(target) if let Some(tgt) = self.tgt()? => {
                    Box::new(NegotiateTgt::new(TgtKerberos::new(
                        level,
                        context_id,
                        tgt,
                        &target.kdc,
                        &target.service_principal,
                    )))
                }
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
                if let Some(tgt) = self.tgt()? {
                    return Ok(Box::new(TgtKerberos::new(
                        level,
                        context_id,
                        tgt,
                        &target.kdc,
                        &target.service_principal,
                    )));
                }
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

impl AuthInfo {
    /// The TGT a Kerberos client starts from: the one [`AuthInfo::with_ccache`] read, or, when
    /// the credentials have no password and no keytab key, the one of the cache `KRB5CCNAME`
    /// names (read now). `None`: the AS exchange with the password or key.
    fn tgt(&self) -> Result<Option<krb_initiator::Tgt>, AuthError> {
        let Some(target) = &self.kerberos else {
            return Ok(None);
        };
        if let Some(tgt) = &target.tgt {
            return Ok(Some(tgt.clone()));
        }
        if !self.credentials.password.is_empty() || target.client_key.is_some() {
            return Ok(None);
        }
        let Some(path) = std::env::var_os("KRB5CCNAME") else {
            return Ok(None);
        };
        let info = self.clone().with_ccache(path)?;
        Ok(info.kerberos.and_then(|t| t.tgt))
    }
}

/// The protocol core's [`Acceptor`] for a server that checks NTLM logons against `store` (what
/// [`ServerBuilder::authentication`](crate::server::ServerBuilder::authentication) installs), for
/// driving a `msrpc_proto::ServerConnection` directly.
pub fn ntlm_acceptor(store: std::sync::Arc<UserStore>) -> std::sync::Arc<dyn Acceptor> {
    std::sync::Arc::new(StoreAcceptor {
        store,
        kerberos: None,
        schannel: None,
    })
}

/// A server's security contexts: NTLM checked against a [`UserStore`], and Kerberos when the
/// server has a [`KerberosService`], each directly or inside SPNEGO (Negotiate, as a Windows server
/// registered with `RPC_C_AUTHN_GSS_NEGOTIATE` accepts).
#[derive(Debug)]
pub(crate) struct StoreAcceptor {
    pub(crate) store: std::sync::Arc<UserStore>,
    pub(crate) kerberos: Option<std::sync::Arc<KerberosService>>,
    /// Schannel's session keys, when the server hosts netlogon's secure channel.
    pub(crate) schannel: Option<std::sync::Arc<SchannelKeys>>,
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
            // As Windows (the suite's test_spnego_call_bind): Negotiate at the call level is
            // refused (bind_nak reason 9); clients raise it to packet on connection-oriented
            // transports, as msrpc's does.
            Some(AuthnService::Negotiate) if level == AuthLevel::CALL => Err(AuthError::new(
                AuthFailure::Package,
                "Negotiate at the call level: use packet (connection-oriented transports)",
            )),
            Some(AuthnService::Negotiate) => Ok(Box::new(NegotiateServer::new(
                level,
                context_id,
                self.store.clone(),
                self.kerberos.clone(),
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
            Some(AuthnService::Netlogon) if let Some(keys) = &self.schannel => Ok(Box::new(
                SchannelServer::new(level, context_id, keys.clone())?,
            )),
            Some(AuthnService::Kerberos | AuthnService::Netlogon) | None => Err(AuthError::new(
                AuthFailure::Unsupported,
                format!("authentication type {} is not supported", auth_type.0),
            )),
        }
    }
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
    fn set_header_signing(&mut self, on: bool) {
        self.inner.set_header_signing(on);
    }
}
