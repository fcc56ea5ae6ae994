//! Kerberos (MS-KILE, DCE style, through `sspi`, with msrpc's MIC tokens and PAC reading): the
//! server's identity, the KDC client, and the client and server contexts.

use std::fmt;
use std::ops::Range;

use msrpc_proto::auth::{
    AuthError, AuthFailure, AuthStep, PeerIdentity, SecurityContext, level_seals,
};
use msrpc_proto::wire::{AuthLevel, AuthType};
use sspi::{
    AuthIdentityBuffers, BufferType, ClientRequestFlags, CredentialsBuffers, DataRepresentation,
    SecurityBuffer, ServerRequestFlags, Sspi, SspiImpl, Username,
};

use super::config::{Credentials, KerberosTarget};
use super::keytab::{Keytab, KeytabEntry};
use super::sspi_glue::{
    MAX_LEGS, client_flags, krb_error, next_leg, protect_with, seal_stub_with, step_from,
    unseal_stub_with, verify_with,
};
use super::{mic, pac};

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

/// Talks to a KDC over TCP for `sspi`'s Kerberos (RFC 4120 7.2.2: a 4-byte length, then the
/// message). Bounded: 5 s to connect and per read or write, replies up to 1 MiB.
pub(super) struct KdcClient;

/// The largest KDC reply accepted.
const MAX_KDC_REPLY: usize = 1024 * 1024;

impl sspi::network_client::NetworkClient for KdcClient {
    fn send(&self, request: &sspi::generator::NetworkRequest) -> sspi::Result<Vec<u8>> {
        let err = |m: String| sspi::Error::new(sspi::ErrorKind::NoAuthenticatingAuthority, m);
        if request.protocol != sspi::NetworkProtocol::Tcp {
            return Err(err(format!(
                "KDC over {:?} is not supported: use tcp://",
                request.protocol
            )));
        }
        let host = request.url.host_str().unwrap_or_default();
        let port = request.url.port().unwrap_or(88);
        kdc_exchange(host, port, &request.data).map_err(err)
    }
}

/// One request to the KDC at `host:port` over TCP: `request` is already framed (a 4-byte
/// length, then the message); the reply comes back with its 4-byte length. Bounded as
/// [`KdcClient`] says.
pub(super) fn kdc_exchange(host: &str, port: u16, request: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("KDC {host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| format!("KDC {host}:{port}: no address"))?;
    let timeout = std::time::Duration::from_secs(5);
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("KDC {addr}: {e}"))?;
    let io = |e: std::io::Error| format!("KDC {addr}: {e}");
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    s.write_all(request).map_err(io)?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).map_err(io)?;
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_KDC_REPLY {
        return Err(format!("KDC {addr}: a {n}-byte reply is over the limit"));
    }
    let mut reply = vec![0u8; n + 4];
    reply[..4].copy_from_slice(&len);
    s.read_exact(&mut reply[4..]).map_err(io)?;
    Ok(reply)
}

/// A Kerberos client's credentials for `sspi`: the password, or the key from a keytab.
pub(super) fn kerberos_credentials(
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
pub(super) struct KerberosContext {
    pub(super) pkg: sspi::Kerberos,
    pub(super) client: Option<(Option<CredentialsBuffers>, String)>,
    pub(super) level: AuthLevel,
    pub(super) context_id: u32,
    pub(super) legs: u8,
    pub(super) sig_len: usize,
    pub(super) peer: Option<PeerIdentity>,
    /// Once established: the MICs of the packet and integrity levels, and the sequence check of
    /// every token that arrives.
    pub(super) per_message: Option<mic::PerMessage>,
    /// Server side: the service keys, to read the client's groups from the ticket's PAC.
    pub(super) service_keys: Vec<Vec<u8>>,
    /// Server side: the client's group SIDs, once its AP-REQ is accepted.
    pub(super) groups: Vec<String>,
    /// Header signing is in force (`PFC_SUPPORT_HEADER_SIGN`): tokens cover the whole PDU;
    /// otherwise the stub and pad only, as Windows' Kerberos does.
    pub(super) header_sign: bool,
}

/// The auth_value length before the context is established: the MIC token (packet,
/// integrity) or the wrap token `sspi`'s initiator makes (privacy).
pub(super) fn kerberos_sig_len(level: AuthLevel) -> usize {
    if level_seals(level) { 76 } else { mic::MIC_LEN }
}

impl KerberosContext {
    pub(super) fn client(
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
            header_sign: true,
        })
    }

    pub(super) fn server(
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
            header_sign: true,
        })
    }

    pub(super) fn finish(&mut self) -> Result<(), AuthError> {
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
        next_leg(&mut self.legs, MAX_LEGS, "Kerberos")?;
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
            if !self.header_sign {
                return seal_stub_with(&mut self.pkg, pdu, &body, &signature);
            }
            return protect_with(&mut self.pkg, self.level, pdu, &body, &signature);
        }
        let pm = self.per_message.as_ref().ok_or_else(not_established)?;
        if body.start > body.end || body.end > signature.start || signature.end > pdu.len() {
            return Err(AuthError::new(AuthFailure::Package, "bad fragment layout"));
        }
        // The same sequence as sspi's wrap tokens: the package's next number.
        let seq = u64::from(self.pkg.next_seq_number());
        let (signed, rest) = pdu.split_at_mut(signature.start);
        let out = &mut rest[..signature.end - signature.start];
        if self.header_sign {
            pm.sign(seq, signed, out)
        } else {
            pm.sign(seq, &signed[body], out)
        }
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
            if self.header_sign {
                verify_with(&mut self.pkg, self.level, pdu, &body, &signature, None)?;
            } else {
                unseal_stub_with(&mut self.pkg, pdu, &body, &signature)?;
            }
            if let Some(pm) = self.per_message.as_mut() {
                pm.commit(seq);
            }
            return Ok(());
        }
        let token = token.to_vec();
        if self.header_sign {
            pm.verify(&pdu[..signature.start], &token)
        } else {
            let stub = pdu
                .get(body)
                .ok_or_else(|| AuthError::new(AuthFailure::Tampered, "bad fragment layout"))?;
            pm.verify(stub, &token)
        }
    }

    fn set_header_signing(&mut self, on: bool) {
        self.header_sign = on;
    }

    fn peer_identity(&self) -> Option<PeerIdentity> {
        self.peer.clone()
    }
}

pub(super) fn not_established() -> AuthError {
    AuthError::new(
        AuthFailure::Package,
        "the Kerberos context is not established",
    )
}
