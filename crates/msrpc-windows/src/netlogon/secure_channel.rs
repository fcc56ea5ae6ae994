//! The netlogon secure channel, client side ([MS-NRPC] 3.1.4.1 to 3.1.4.5): the client
//! challenge, NetrServerReqChallenge, the session key, the credentials, NetrServerAuthenticate3,
//! and the authenticator chain of the calls that carry one (NetrLogonGetCapabilities here).
//!
//! AES only for the credentials (`NETLOGON_NEG_SUPPORTS_AES`: the session key is HMAC-SHA256
//! over the two challenges keyed by the NT hash, 3.1.4.3.1; credentials are AES-128-CFB8 with a
//! zero IV, 3.1.4.4.1). The strong-key (MD5) session key of 3.1.4.3.2 is computed too
//! ([`session_key_strong`], checked against 4.2's sample), but its DES credentials are not: a
//! server that does not negotiate AES is refused. Composed from RustCrypto's `md4`, `md-5`,
//! `hmac`, `sha2`, `aes` and `cfb8`.
//!
//! The session key then protects a connection with Schannel ([`SecureChannel::binding`],
//! `msrpc::AuthInfo::schannel`, auth type 68), which Samba requires for every call with an
//! authenticator and for lsarpc's LookupSids3 / LookupNames4 over TCP.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use aes::Aes128;
use cfb8::cipher::KeyIvInit;
use hmac::{Hmac, KeyInit as _, Mac};
use md4::{Digest as _, Md4};
use md5::Md5;
use msrpc::{AuthInfo, AuthnLevel, Binding, BindingOptions, SchannelSession};
use sha2::Sha256;

use crate::netlogon::logon::{
    Client, NetrLogonGetCapabilitiesRequest, NetrLogonSamLogonExRequest,
    NetrServerAuthenticate3Request,
};
use crate::netlogon::{
    LM_CHALLENGE, NETLOGON_AUTHENTICATOR, NETLOGON_CAPABILITIES, NETLOGON_CREDENTIAL,
    NETLOGON_LEVEL, NETLOGON_LOGON_IDENTITY_INFO, NETLOGON_LOGON_INFO_CLASS,
    NETLOGON_NETWORK_INFO, NETLOGON_SECURE_CHANNEL_TYPE, NETLOGON_VALIDATION,
    NETLOGON_VALIDATION_INFO_CLASS, OLD_LARGE_INTEGER, STRING, UNICODE_STRING,
};
use crate::{Error, NtStatus, Result, Sid};
use msrpc::codegen::ndr;

/// `NETLOGON_NEG_SUPPORTS_AES` ([MS-NRPC] 3.1.4.2, bit W).
pub const NETLOGON_NEG_SUPPORTS_AES: u32 = msrpc::auth::NETLOGON_NEG_SUPPORTS_AES;
/// `NETLOGON_NEG_STRONG_KEYS` ([MS-NRPC] 3.1.4.2, bit O).
pub const NETLOGON_NEG_STRONG_KEYS: u32 = 0x0000_4000;
/// `NETLOGON_NEG_AUTHENTICATED_RPC` ([MS-NRPC] 3.1.4.2, bit Y: Secure RPC, that is Schannel).
pub const NETLOGON_NEG_AUTHENTICATED_RPC: u32 = 0x4000_0000;

/// The flags [`SecureChannel::establish`] offers: bits A to T (the server keeps those it
/// supports), U (ignore NT4 emulation), V (RODC pass-through), W (AES) and Y (Secure RPC).
/// Samba's DC answers `0x613fffff`'s intersection with its own; AES must survive it.
pub const DEFAULT_NEGOTIATE_FLAGS: u32 =
    0x000f_ffff | 0x0010_0000 | 0x0020_0000 | NETLOGON_NEG_SUPPORTS_AES | NETLOGON_NEG_AUTHENTICATED_RPC;

/// `NetrLogonGetCapabilities` query level 1: the negotiated flags ([MS-NRPC] 3.5.4.4.10).
pub const CAPABILITIES_NEGOTIATED: u32 = 1;
/// `NetrLogonGetCapabilities` query level 2: the flags the client asked for.
pub const CAPABILITIES_REQUESTED: u32 = 2;

/// The most attempts at a client challenge whose first five bytes are not all equal
/// ([MS-NRPC] 3.1.4.1: the server refuses those); random bytes pass at the first almost always.
pub const MAX_CHALLENGE_ATTEMPTS: usize = 16;

/// The machine account's secret: its password, or the NT hash of it (MD4 of the UTF-16LE
/// password). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub enum MachineSecret {
    /// The clear-text password.
    Password(String),
    /// MD4(UTF-16LE(password)).
    NtHash([u8; 16]),
}

impl MachineSecret {
    /// The NT hash ([MS-NRPC] 3.1.4.3: `M4SS`).
    pub fn nt_hash(&self) -> [u8; 16] {
        match self {
            MachineSecret::NtHash(h) => *h,
            MachineSecret::Password(p) => {
                let mut h = Md4::new();
                for u in p.encode_utf16() {
                    h.update(u.to_le_bytes());
                }
                h.finalize().into()
            }
        }
    }
}

impl fmt::Debug for MachineSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MachineSecret::Password(_) => f.write_str("MachineSecret::Password(<redacted>)"),
            MachineSecret::NtHash(_) => f.write_str("MachineSecret::NtHash(<redacted>)"),
        }
    }
}

/// The AES session key ([MS-NRPC] 3.1.4.3.1): the first 16 bytes of
/// HMAC-SHA256(NT hash, ClientChallenge || ServerChallenge).
pub fn session_key_aes(nt_hash: &[u8; 16], client: &[u8; 8], server: &[u8; 8]) -> [u8; 16] {
    let mut mac = hmac_sha256(nt_hash);
    mac.update(client);
    mac.update(server);
    let full = mac.finalize().into_bytes();
    let mut k = [0u8; 16];
    k.copy_from_slice(&full[..16]);
    k
}

/// The strong-key session key ([MS-NRPC] 3.1.4.3.2): HMAC-MD5 keyed by the NT hash over
/// MD5(4 zero bytes || ClientChallenge || ServerChallenge).
pub fn session_key_strong(nt_hash: &[u8; 16], client: &[u8; 8], server: &[u8; 8]) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update([0u8; 4]);
    md5.update(client);
    md5.update(server);
    let digest = md5.finalize();
    let mut mac = match <Hmac<Md5>>::new_from_slice(nt_hash) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts any key length"),
    };
    mac.update(&digest);
    mac.finalize().into_bytes().into()
}

fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    match <Hmac<Sha256>>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts any key length"),
    }
}

/// A Netlogon credential with AES ([MS-NRPC] 3.1.4.4.1): `input` encrypted with AES-128-CFB8
/// under the session key, IV zero.
pub fn credential_aes(input: &[u8; 8], session_key: &[u8; 16]) -> [u8; 8] {
    let mut out = *input;
    cfb8::Encryptor::<Aes128>::new(session_key.into(), &[0u8; 16].into()).encrypt(&mut out);
    out
}

/// `credential + n` on its low 32 bits, little-endian, the carry dropped ([MS-NRPC] 3.1.4.5):
/// how both sides step the stored credential of an authenticator chain.
pub fn credential_add(credential: &[u8; 8], n: u32) -> [u8; 8] {
    let mut out = *credential;
    let low = u32::from_le_bytes([out[0], out[1], out[2], out[3]]).wrapping_add(n);
    out[..4].copy_from_slice(&low.to_le_bytes());
    out
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random client challenge whose first five bytes are not all the same.
fn client_challenge() -> Result<[u8; 8]> {
    for _ in 0..MAX_CHALLENGE_ATTEMPTS {
        let mut c = [0u8; 8];
        getrandom::fill(&mut c).map_err(|e| Error::Reply {
            op: "NetrServerReqChallenge",
            what: format!("no random client challenge: {e}"),
        })?;
        if c[1..5].iter().any(|b| *b != c[0]) {
            return Ok(c);
        }
    }
    Err(Error::Reply {
        op: "NetrServerReqChallenge",
        what: "the random source keeps repeating bytes".into(),
    })
}

/// An established netlogon secure channel: the session key, the negotiated flags, and the
/// client's stored credential, which each authenticator-carrying call advances.
///
/// `Debug` never shows the key or the credential.
#[derive(Clone)]
pub struct SecureChannel {
    session: SchannelSession,
    account: String,
    channel_type: NETLOGON_SECURE_CHANNEL_TYPE,
    requested_flags: u32,
    account_rid: u32,
    stored: [u8; 8],
}

impl fmt::Debug for SecureChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecureChannel")
            .field("session", &self.session)
            .field("account", &self.account)
            .field("channel_type", &self.channel_type.0)
            .field("requested_flags", &format_args!("{:#010x}", self.requested_flags))
            .field("account_rid", &self.account_rid)
            .finish_non_exhaustive()
    }
}

impl SecureChannel {
    /// Establishes the secure channel of `computer` (NetBIOS name, without `$`) in `domain`
    /// (NetBIOS name) over `b` (netlogon's TCP port or `\pipe\netlogon`, no authentication
    /// needed): NetrServerReqChallenge, then NetrServerAuthenticate3 for account `COMPUTER$`
    /// of `channel_type` (`WorkstationSecureChannel` for a member) offering
    /// [`DEFAULT_NEGOTIATE_FLAGS`], then checks the server's credential.
    ///
    /// A wrong secret is the server's `STATUS_ACCESS_DENIED` ([`Error::Nt`]); a server that
    /// does not negotiate AES, or whose credential does not verify, is [`Error::Reply`].
    pub async fn establish(
        b: &Binding,
        computer: &str,
        domain: &str,
        secret: &MachineSecret,
        channel_type: NETLOGON_SECURE_CHANNEL_TYPE,
    ) -> Result<SecureChannel> {
        Self::establish_with_flags(b, computer, domain, secret, channel_type, DEFAULT_NEGOTIATE_FLAGS)
            .await
    }

    /// [`establish`](Self::establish) offering `flags`, which must include
    /// [`NETLOGON_NEG_SUPPORTS_AES`].
    pub async fn establish_with_flags(
        b: &Binding,
        computer: &str,
        domain: &str,
        secret: &MachineSecret,
        channel_type: NETLOGON_SECURE_CHANNEL_TYPE,
        flags: u32,
    ) -> Result<SecureChannel> {
        const OP: &str = "NetrServerAuthenticate3";
        if flags & NETLOGON_NEG_SUPPORTS_AES == 0 {
            return Err(Error::Reply {
                op: OP,
                what: "only the AES secure channel is implemented: offer NETLOGON_NEG_SUPPORTS_AES"
                    .into(),
            });
        }
        let client_challenge = client_challenge()?;
        let server_challenge = super::server_req_challenge(b, computer, client_challenge).await?;
        let key = session_key_aes(&secret.nt_hash(), &client_challenge, &server_challenge);
        let client_credential = credential_aes(&client_challenge, &key);
        let account = format!("{computer}$");
        let r = Client(b)
            .netr_server_authenticate3(NetrServerAuthenticate3Request {
                PrimaryName: Default::default(),
                AccountName: account.as_str().into(),
                SecureChannelType: channel_type,
                ComputerName: computer.into(),
                ClientCredential: NETLOGON_CREDENTIAL {
                    data: client_credential,
                },
                NegotiateFlags: flags,
            })
            .await?;
        let s = NtStatus::from_return(r.return_value);
        if !s.is_success() {
            return Err(Error::Nt { op: OP, status: s });
        }
        if r.NegotiateFlags & NETLOGON_NEG_SUPPORTS_AES == 0 {
            return Err(Error::Reply {
                op: OP,
                what: format!(
                    "the server negotiated {:#010x}, without AES (the DES credentials are not \
                     implemented)",
                    r.NegotiateFlags
                ),
            });
        }
        let want = credential_aes(&server_challenge, &key);
        if !ct_eq(&want, &r.ServerCredential.data) {
            return Err(Error::Reply {
                op: OP,
                what: "the server's credential does not verify: it does not know this session key"
                    .into(),
            });
        }
        Ok(SecureChannel {
            session: SchannelSession::new(key, r.NegotiateFlags, domain, computer),
            account,
            channel_type,
            requested_flags: flags,
            account_rid: r.AccountRid,
            stored: client_credential,
        })
    }

    /// The session key ([MS-NRPC] 3.1.4.3).
    pub fn session_key(&self) -> [u8; 16] {
        self.session.session_key()
    }

    /// The flags the server negotiated (NetrServerAuthenticate3's `NegotiateFlags` out).
    pub fn negotiated_flags(&self) -> u32 {
        self.session.negotiate_flags()
    }

    /// The flags this client offered.
    pub fn requested_flags(&self) -> u32 {
        self.requested_flags
    }

    /// The machine account's RID (NetrServerAuthenticate3's `AccountRid`).
    pub fn account_rid(&self) -> u32 {
        self.account_rid
    }

    /// The account, `COMPUTER$`.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The secure channel type it was established with.
    pub fn channel_type(&self) -> NETLOGON_SECURE_CHANNEL_TYPE {
        self.channel_type
    }

    /// What Schannel needs of this channel (`msrpc::AuthInfo::schannel`).
    pub fn schannel_session(&self) -> SchannelSession {
        self.session.clone()
    }

    /// A binding to `string_binding` (netlogon's or lsarpc's TCP endpoint, say
    /// `ncacn_ip_tcp:DC`) protected with Schannel at `level` (integrity or privacy; Samba
    /// serves netlogon at privacy only, lsarpc at both). Calls made at once are carried one
    /// after the other on the connection (Schannel's sequence numbers count both directions,
    /// so calls that crossed would not verify; msrpc's client holds them back).
    pub fn binding(&self, string_binding: &str, level: AuthnLevel) -> Result<Binding> {
        let options =
            BindingOptions::default().with_auth(AuthInfo::schannel(level, self.schannel_session()));
        Ok(Binding::with_options(string_binding, options)?)
    }

    /// The next authenticator ([MS-NRPC] 3.1.4.5) and the return credential it expects: the
    /// stored credential plus `timestamp`, encrypted; the server must answer with the stored
    /// credential plus `timestamp + 1`, encrypted, which becomes the stored credential.
    pub fn next_authenticator(&mut self, timestamp: u32) -> (NETLOGON_AUTHENTICATOR, Expected) {
        let key = self.session.session_key();
        let sent = credential_add(&self.stored, timestamp);
        let auth = NETLOGON_AUTHENTICATOR {
            Credential: NETLOGON_CREDENTIAL {
                data: credential_aes(&sent, &key),
            },
            Timestamp: timestamp,
        };
        let next = credential_add(&sent, 1);
        self.stored = next;
        (
            auth,
            Expected {
                credential: credential_aes(&next, &key),
            },
        )
    }

    /// Checks the server's return authenticator against what
    /// [`next_authenticator`](Self::next_authenticator) said to expect.
    pub fn verify_return(
        &self,
        op: &'static str,
        expected: &Expected,
        returned: &NETLOGON_AUTHENTICATOR,
    ) -> Result<()> {
        if ct_eq(&expected.credential, &returned.Credential.data) {
            Ok(())
        } else {
            Err(Error::Reply {
                op,
                what: "the return authenticator does not verify: re-establish the secure channel"
                    .into(),
            })
        }
    }

    /// NetrLogonGetCapabilities at `level` ([`CAPABILITIES_NEGOTIATED`] or
    /// [`CAPABILITIES_REQUESTED`]) over `b`, a Schannel binding from [`binding`](Self::binding)
    /// (`server` is the DC's name, `\\DC` or `DC`): sends the next authenticator and verifies
    /// the return authenticator before returning the flags. When the server faults the call
    /// the chain is stepped back (the server did not step its own: seen with Samba 4.17's
    /// fault for level 2); after any other failure, re-establish the channel.
    pub async fn get_capabilities(&mut self, b: &Binding, server: &str, level: u32) -> Result<u32> {
        const OP: &str = "NetrLogonGetCapabilities";
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let stored = self.stored;
        let (auth, expected) = self.next_authenticator(now as u32);
        let r = Client(b)
            .netr_logon_get_capabilities(NetrLogonGetCapabilitiesRequest {
                ServerName: server.into(),
                ComputerName: Some(self.session.computer().into()).into(),
                Authenticator: auth,
                ReturnAuthenticator: NETLOGON_AUTHENTICATOR {
                    Credential: NETLOGON_CREDENTIAL { data: [0; 8] },
                    Timestamp: 0,
                },
                QueryLevel: level,
            })
            .await;
        let r = match r {
            Ok(r) => r,
            // A faulted call did not step the server's chain (Samba 4.17 faults query level 2,
            // RPC_S_INVALID_TAG, and its next authenticator is the one before): step ours back.
            Err(e @ msrpc::Error::Fault { .. }) => {
                self.stored = stored;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        let s = NtStatus::from_return(r.return_value);
        if !s.is_success() {
            return Err(Error::Nt { op: OP, status: s });
        }
        self.verify_return(OP, &expected, &r.ReturnAuthenticator)?;
        match r.Capabilities {
            NETLOGON_CAPABILITIES::ServerCapabilities(f) | NETLOGON_CAPABILITIES::RequestedFlags(f) => {
                Ok(f)
            }
        }
    }
}

/// The NTLMv2 response ([MS-NLMP] 3.3.2) of the user whose NT hash is `nt_hash` to
/// `server_challenge`: `NTProofStr || temp`, where `temp` is the `NTLMv2_CLIENT_CHALLENGE` with
/// `timestamp` (FILETIME), `client_challenge` and `av_pairs` (the AV pairs, `MsvAvEOL` included),
/// and NTProofStr = HMAC_MD5(NTOWFv2, server_challenge || temp), NTOWFv2 =
/// HMAC_MD5(NT hash, UTF-16LE(uppercase(user) || domain)). What an NTLM client sends, and what a
/// server passes on to its DC with [`SecureChannel::sam_logon_network`].
pub fn ntlmv2_response(
    nt_hash: &[u8; 16],
    user: &str,
    domain: &str,
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
    timestamp: u64,
    av_pairs: &[u8],
) -> Vec<u8> {
    let mut owf = hmac_md5(nt_hash);
    for u in user.to_uppercase().encode_utf16().chain(domain.encode_utf16()) {
        owf.update(&u.to_le_bytes());
    }
    let owf: [u8; 16] = owf.finalize().into_bytes().into();
    let mut temp = vec![1u8, 1, 0, 0, 0, 0, 0, 0];
    temp.extend_from_slice(&timestamp.to_le_bytes());
    temp.extend_from_slice(client_challenge);
    temp.extend_from_slice(&[0; 4]);
    temp.extend_from_slice(av_pairs);
    temp.extend_from_slice(&[0; 4]);
    let mut proof = hmac_md5(&owf);
    proof.update(server_challenge);
    proof.update(&temp);
    let mut out = proof.finalize().into_bytes().to_vec();
    out.extend_from_slice(&temp);
    out
}

fn hmac_md5(key: &[u8]) -> Hmac<Md5> {
    match <Hmac<Md5>>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts any key length"),
    }
}

/// The AV pairs of an NTLMv2 response naming `domain` and `computer` (NetBIOS), then
/// `MsvAvEOL` ([MS-NLMP] 2.2.2.1).
pub fn av_pairs(domain: &str, computer: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for (id, v) in [(2u16, domain), (1u16, computer)] {
        let v: Vec<u8> = v.encode_utf16().flat_map(u16::to_le_bytes).collect();
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(v.len().min(usize::from(u16::MAX)) as u16).to_le_bytes());
        out.extend_from_slice(&v[..v.len().min(usize::from(u16::MAX))]);
    }
    out.extend_from_slice(&[0; 4]);
    out
}

/// The longest NTLM response [`SecureChannel::sam_logon_network`] passes on (a `STRING` counts
/// bytes in 16 bits).
pub const MAX_NTLM_RESPONSE: usize = u16::MAX as usize;

fn nl_unicode(s: &str) -> UNICODE_STRING {
    let units: Vec<u16> = s.encode_utf16().take(usize::from(u16::MAX / 2)).collect();
    let bytes = (units.len() * 2) as u16;
    UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: ndr::Unique::new(ndr::ConformantVaryingArray::new(units)),
    }
}

fn nl_text(u: &UNICODE_STRING) -> String {
    u.Buffer
        .as_ref()
        .map(|b| String::from_utf16_lossy(&b.items))
        .unwrap_or_default()
}

fn nl_bytes(b: &[u8]) -> STRING {
    STRING {
        Length: b.len() as u16,
        MaximumLength: b.len() as u16,
        Buffer: if b.is_empty() {
            ndr::Unique::default()
        } else {
            ndr::Unique::new(ndr::ConformantVaryingArray::new(b.to_vec()))
        },
    }
}

/// What the DC says of a user it logged on (`NETLOGON_VALIDATION_SAM_INFO2`, [MS-NRPC]
/// 2.2.1.4.12).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetworkLogon {
    /// `EffectiveName`: the account name.
    pub user: String,
    /// `FullName`.
    pub full_name: String,
    /// `LogonDomainName`.
    pub domain: String,
    /// `LogonDomainId`: the domain's SID.
    pub domain_sid: Option<Sid>,
    /// `UserId`: the user's RID.
    pub rid: u32,
    /// `PrimaryGroupId`.
    pub primary_group: u32,
    /// `GroupIds`: the RIDs of the user's groups in the domain.
    pub groups: Vec<u32>,
    /// `UserFlags` (as in [MS-PAC] 2.5's `KERB_VALIDATION_INFO`).
    pub user_flags: u32,
    /// `LogonServer`: the DC that logged the user on.
    pub logon_server: String,
}

impl SecureChannel {
    /// Passes a user's NTLM network logon to the DC (`NetrLogonSamLogonEx` at
    /// `NetlogonNetworkInformation`, validation level 3, [MS-NRPC] 3.5.4.5.1): `server_challenge`
    /// is the challenge the user answered, `nt_response` the user's NtChallengeResponse (NTLMv2:
    /// [`ntlmv2_response`]), `lm_response` the LmChallengeResponse (may be empty). No
    /// authenticator: the call must go over `b`, a Schannel binding at privacy from
    /// [`binding`](Self::binding) to netlogon. A wrong password is the DC's
    /// `STATUS_WRONG_PASSWORD` or `STATUS_LOGON_FAILURE` ([`Error::Nt`]).
    pub async fn sam_logon_network(
        &self,
        b: &Binding,
        domain: &str,
        user: &str,
        server_challenge: [u8; 8],
        nt_response: &[u8],
        lm_response: &[u8],
    ) -> Result<NetworkLogon> {
        const OP: &str = "NetrLogonSamLogonEx";
        if nt_response.len() > MAX_NTLM_RESPONSE || lm_response.len() > MAX_NTLM_RESPONSE {
            return Err(Error::Reply {
                op: OP,
                what: format!("an NTLM response longer than {MAX_NTLM_RESPONSE} bytes"),
            });
        }
        let info = NETLOGON_NETWORK_INFO {
            Identity: NETLOGON_LOGON_IDENTITY_INFO {
                LogonDomainName: nl_unicode(domain),
                ParameterControl: 0,
                Reserved: OLD_LARGE_INTEGER {
                    LowPart: 0,
                    HighPart: 0,
                },
                UserName: nl_unicode(user),
                Workstation: nl_unicode(self.session.computer()),
            },
            LmChallenge: LM_CHALLENGE {
                data: server_challenge,
            },
            NtChallengeResponse: nl_bytes(nt_response),
            LmChallengeResponse: nl_bytes(lm_response),
        };
        let r = Client(b)
            .netr_logon_sam_logon_ex(NetrLogonSamLogonExRequest {
                LogonServer: Default::default(),
                ComputerName: Some(self.session.computer().into()).into(),
                LogonLevel: NETLOGON_LOGON_INFO_CLASS::NetlogonNetworkInformation,
                LogonInformation: NETLOGON_LEVEL::LogonNetwork(ndr::Unique::new(info)),
                ValidationLevel: NETLOGON_VALIDATION_INFO_CLASS::NetlogonValidationSamInfo2,
                ExtraFlags: 0,
            })
            .await?;
        let s = NtStatus::from_return(r.return_value);
        if !s.is_success() {
            return Err(Error::Nt { op: OP, status: s });
        }
        let v = match &r.ValidationInformation {
            NETLOGON_VALIDATION::ValidationSam2(v) => v.as_ref(),
            _ => None,
        }
        .ok_or_else(|| Error::Reply {
            op: OP,
            what: "success without NETLOGON_VALIDATION_SAM_INFO2".into(),
        })?;
        Ok(NetworkLogon {
            user: nl_text(&v.EffectiveName),
            full_name: nl_text(&v.FullName),
            domain: nl_text(&v.LogonDomainName),
            domain_sid: v.LogonDomainId.as_ref().map(Sid::from),
            rid: v.UserId,
            primary_group: v.PrimaryGroupId,
            groups: v
                .GroupIds
                .as_ref()
                .map(|g| g.0.iter().map(|m| m.RelativeId).collect())
                .unwrap_or_default(),
            user_flags: v.UserFlags,
            logon_server: nl_text(&v.LogonServer),
        })
    }
}

/// The return credential a server must send for one authenticator.
#[derive(Clone, PartialEq, Eq)]
pub struct Expected {
    credential: [u8; 8],
}

impl fmt::Debug for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Expected(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn spec_sample_session_key_and_md4() {
        // [MS-NRPC] 4.2: the machine password (UTF-16LE), its OWF, the challenges and the
        // (strong-key) session key.
        let pw = hex(
            "2e 00 2f 00 2c 00 6e 00 4c 00 3e 00 4f 00 4c 00 5a 00 36 00 73 00 74 00 5e 00 58 00 4b 00 65 00 \
             4d 00 25 00 2e 00 49 00 2d 00 74 00 45 00 60 00 57 00 56 00 6a 00 43 00 5b 00 30 00 36 00 3f 00 \
             5d 00 3a 00 51 00 76 00 5f 00 54 00 6e 00 55 00 6f 00 3a 00 3a 00 42 00 77 00 2c 00 67 00 60 00 \
             76 00 23 00 4a 00 4d 00 36 00 4d 00 71 00 53 00 50 00 75 00 55 00 28 00 6e 00 71 00 34 00 3e 00 \
             79 00 6a 00 5b 00 64 00 5c 00 2b 00 56 00 70 00 52 00 5f 00 79 00 78 00 75 00 63 00 21 00 67 00 \
             30 00 54 00 36 00 35 00 76 00 7a 00 57 00 41 00 42 00 5f 00 42 00 22 00 69 00 3c 00 3c 00 53 00 \
             2b 00 34 00 27 00 5e 00 3a 00 21 00 2c 00 3b 00 25 00 47 00 73 00 2d 00 28 00 22 00 3a 00 20 00 \
             6d 00 3e 00 21 00 43 00 4c 00 66 00 6e 00 4e 00",
        );
        let units: Vec<u16> = pw.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        let password = String::from_utf16(&units).unwrap();
        let owf = MachineSecret::Password(password).nt_hash();
        assert_eq!(owf.to_vec(), hex("31 a5 90 17 0a 35 1f d5 11 48 b2 a1 0a f2 c3 05"));
        let cc: [u8; 8] = hex("3a 03 90 a4 6d 0c 3d 4f").try_into().unwrap();
        let sc: [u8; 8] = hex("0c 4c 13 d1 60 41 c8 60").try_into().unwrap();
        assert_eq!(
            session_key_strong(&owf, &cc, &sc).to_vec(),
            hex("ee fe 8f 40 00 7a 2e eb 68 43 d0 d3 0a 5b e2 e3")
        );
        // 4.2.2: MD4 of UTF-16LE "test".
        assert_eq!(
            MachineSecret::Password("test".into()).nt_hash().to_vec(),
            hex("0c b6 94 88 05 f7 97 bf 2a 82 80 79 73 b8 95 37")
        );
        // The AES key differs from the strong one and depends on both challenges.
        let aes = session_key_aes(&owf, &cc, &sc);
        assert_ne!(aes, session_key_strong(&owf, &cc, &sc));
        assert_ne!(aes, session_key_aes(&owf, &sc, &cc));
    }

    #[test]
    fn credentials_and_the_authenticator_chain() {
        let key = [7u8; 16];
        let cc = [1, 2, 3, 4, 5, 6, 7, 8];
        // CFB8 with a zero IV: the first byte is the first byte of AES(key, 0) XOR the input's.
        let c = credential_aes(&cc, &key);
        assert_ne!(c, cc);
        assert_eq!(credential_aes(&cc, &key), c, "deterministic");
        assert_ne!(credential_aes(&cc, &[8u8; 16]), c);
        // The carry of the low 32 bits is dropped; the high 4 bytes never change.
        assert_eq!(credential_add(&[0xff, 0xff, 0xff, 0xff, 9, 9, 9, 9], 1), [0, 0, 0, 0, 9, 9, 9, 9]);

        let mut ch = SecureChannel {
            session: SchannelSession::new(key, DEFAULT_NEGOTIATE_FLAGS, "D", "C"),
            account: "C$".into(),
            channel_type: NETLOGON_SECURE_CHANNEL_TYPE::WorkstationSecureChannel,
            requested_flags: DEFAULT_NEGOTIATE_FLAGS,
            account_rid: 1000,
            stored: c,
        };
        // What a server does (3.1.4.5), from its own copy of the stored credential.
        let mut server = c;
        for ts in [1_700_000_000u32, 1_700_000_001, 1_700_000_001] {
            let (auth, expected) = ch.next_authenticator(ts);
            server = credential_add(&server, auth.Timestamp);
            assert_eq!(credential_aes(&server, &key), auth.Credential.data);
            server = credential_add(&server, 1);
            let ret = NETLOGON_AUTHENTICATOR {
                Credential: NETLOGON_CREDENTIAL {
                    data: credential_aes(&server, &key),
                },
                Timestamp: 0,
            };
            ch.verify_return("t", &expected, &ret).unwrap();
            // A return authenticator from the step before (a replay) does not verify.
            let (_, next) = ch.clone_expected_for(ts);
            assert!(ch.verify_return("t", &next, &ret).is_err());
        }
        assert!(!format!("{ch:?}").contains("07, 07"), "{ch:?}");
    }

    impl SecureChannel {
        /// What the chain would expect one step later, without advancing it.
        fn clone_expected_for(&self, ts: u32) -> (NETLOGON_AUTHENTICATOR, Expected) {
            let mut copy = SecureChannel {
                session: self.session.clone(),
                account: self.account.clone(),
                channel_type: self.channel_type,
                requested_flags: self.requested_flags,
                account_rid: self.account_rid,
                stored: self.stored,
            };
            copy.next_authenticator(ts)
        }
    }

    #[test]
    fn ntlmv2_response_matches_ms_nlmp_4_2_4() {
        // MS-NLMP 4.2.4: User / Domain / Password, server challenge 0123456789abcdef, client
        // challenge aa.., time 0, AV pairs Domain and Server: NTProofStr 68cd0ab8...
        let nt = MachineSecret::Password("Password".into()).nt_hash();
        let r = ntlmv2_response(
            &nt,
            "User",
            "Domain",
            &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
            &[0xaa; 8],
            0,
            &av_pairs("Domain", "Server"),
        );
        assert_eq!(
            r[..16],
            hex("68 cd 0a b8 51 e5 1c 96 aa bc 92 7b eb ef 6a 1c")[..]
        );
        assert_eq!(r.len(), 16 + 28 + 16 + 16 + 4 + 4);
    }

    #[test]
    fn challenges_are_random_and_pass_the_five_byte_rule() {
        let a = client_challenge().unwrap();
        let b = client_challenge().unwrap();
        assert_ne!(a, b);
        assert!(a[1..5].iter().any(|x| *x != a[0]));
    }
}
