//! `msrpc serve --netlogon`: netlogon ([MS-NRPC]) served from msrpc-windows' generated stubs, as far
//! as a server without a domain behind it can honestly go.
//!
//! - NetrServerReqChallenge (opnum 4, [MS-NRPC] 3.5.4.4.1) is real: the server remembers the
//!   client's challenge and a random server challenge per computer name (the ChallengeTable of
//!   [MS-NRPC] 3.5.4.4.1, at most [`DEFAULT_MAX_CHALLENGES`] names, the oldest forgotten first) and
//!   answers the server challenge with STATUS_SUCCESS.
//! - Every other operation answers as [MS-NRPC] 3.5.4 says a server that does not support a method
//!   must: ERROR_NOT_SUPPORTED (0x32) or STATUS_NOT_SUPPORTED (0xC00000BB), by the method's return
//!   type, with its out parameters empty (NULL pointers, zero counts). Where the out parameters
//!   have no empty encoding (a union with no arm for a zero discriminant: NetrLogonGetCapabilities,
//!   NetrLogonGetDomainInfo, NetrChainSetClientAttributes), the call is faulted with
//!   ERROR_NOT_SUPPORTED instead. The request is decoded first either way, so a
//!   malformed one is faulted with `nca_s_fault_ndr` as for any generated interface.
//! - Opnums 50-58 (not used on the wire) fault with `nca_s_op_rng_error`, and opnums past 59 are
//!   refused by the runtime with the same fault.
//!
//! - With `--machines FILE`, NetrServerAuthenticate3 (opnum 26, [MS-NRPC] 3.5.4.4.2), and
//!   NetrServerAuthenticate2 (opnum 15, 3.5.4.4.3: the same without the RID), are real for
//!   the file's accounts: AES only (a client not offering `NETLOGON_NEG_SUPPORTS_AES` gets
//!   STATUS_DOWNGRADE_DETECTED), the session key and credentials of msrpc-windows'
//!   `netlogon::session_key_aes` / `credential_aes`, each remembered challenge used once.
//!   Without the file they are not supported, as NetrServerAuthenticate always is.
//!
//!   A successful NetrServerAuthenticate3 remembers the secure channel (session key, negotiated
//!   and requested flags, the server's stored credential) for the computer, at most
//!   [`DEFAULT_MAX_SECURE_CHANNELS`] computers, the oldest forgotten first, and gives its
//!   session key to the server's Schannel acceptor (`msrpc::SchannelKeys`, auth type 68 at the
//!   integrity and privacy levels, [MS-NRPC] 3.3).
//! - Over Schannel, NetrLogonGetCapabilities (opnum 21, [MS-NRPC] 3.5.4.4.10) is real: the call
//!   must come over Schannel (else STATUS_ACCESS_DENIED) from the computer it names, its
//!   authenticator must verify against the stored credential ([MS-NRPC] 3.1.4.5; else
//!   STATUS_ACCESS_DENIED, the chain not stepped), and the answer is the return authenticator
//!   and, at query level 1, the negotiated flags, at level 2 the flags the client asked for in
//!   NetrServerAuthenticate3. Another level faults RPC_S_INVALID_TAG (as Samba does for levels it
//!   does not know: the reply union has no arm to send). The other authenticator-carrying
//!   methods (NetrLogonSamLogonEx, NetrServerPasswordSet2...) stay not supported.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use msrpc::codegen::{DispatchError, RunOn, StubInput, dispatch_op, serve_blocking};
use msrpc::server::{Dispatch, IncomingCall, Interface};
use msrpc::{AuthnService, ClientIdentity, SchannelKeys, SchannelSession, SyntaxId, Win32Status};
use msrpc_ndr::{DataRep, Decoder, Stub, Syntax};
use msrpc_windows::netlogon::logon::{self, INTERFACE};
use msrpc_windows::netlogon::{
    MachineSecret, NETLOGON_AUTHENTICATOR, NETLOGON_CAPABILITIES, NETLOGON_CREDENTIAL,
    NETLOGON_NEG_AUTHENTICATED_RPC, NETLOGON_NEG_SUPPORTS_AES, credential_add, credential_aes,
    session_key_aes,
};

/// How many computer names the challenge table remembers at once (default 1024); a new name past
/// it forgets the oldest. A client's NetrServerReqChallenge is only useful to the
/// NetrServerAuthenticate call that follows it, so a small table serves many clients.
pub(crate) const DEFAULT_MAX_CHALLENGES: usize = 1024;

/// How many computers' secure channels the server remembers at once (default 1024, as
/// `msrpc::DEFAULT_MAX_SCHANNEL_SESSIONS`); a new one past it forgets the oldest, whose client
/// must run NetrServerReqChallenge and NetrServerAuthenticate3 again.
pub(crate) const DEFAULT_MAX_SECURE_CHANNELS: usize = msrpc::auth::DEFAULT_MAX_SCHANNEL_SESSIONS;

/// `RPC_S_INVALID_TAG`: the fault for a NetrLogonGetCapabilities query level with no reply arm.
const RPC_S_INVALID_TAG: u32 = 1733;

/// `STATUS_NOT_SUPPORTED`, the NTSTATUS a server returns for a method it does not support.
const STATUS_NOT_SUPPORTED: u32 = 0xC000_00BB;
/// `ERROR_NOT_SUPPORTED`, the NET_API_STATUS a server returns for a method it does not support.
const ERROR_NOT_SUPPORTED: u32 = 0x0000_0032;

/// `STATUS_ACCESS_DENIED`: no challenge for the computer, or a client credential that does not
/// verify ([MS-NRPC] 3.5.4.4.2).
const STATUS_ACCESS_DENIED: u32 = 0xC000_0022;
/// `STATUS_NO_TRUST_SAM_ACCOUNT`: no machine account of that name.
const STATUS_NO_TRUST_SAM_ACCOUNT: u32 = 0xC000_018B;
/// `STATUS_DOWNGRADE_DETECTED`: a client that does not offer AES (RejectMD5Clients).
const STATUS_DOWNGRADE_DETECTED: u32 = 0xC000_0388;
/// The Netlogon options this server negotiates: AES credentials and session key
/// (`NETLOGON_NEG_SUPPORTS_AES`, bit W) and Secure RPC (`NETLOGON_NEG_AUTHENTICATED_RPC`, bit Y:
/// Schannel).
const SERVER_NEGOTIATE_FLAGS: u32 = NETLOGON_NEG_SUPPORTS_AES | NETLOGON_NEG_AUTHENTICATED_RPC;
/// The `AccountRid` of the first account of the machines file; the next ones follow in order.
pub(crate) const FIRST_MACHINE_RID: u32 = 1000;

/// The netlogon interface of `msrpc serve --netlogon` (see the module docs).
/// Clones share the challenge table and the secure channels.
#[derive(Debug, Clone)]
pub(crate) struct NetlogonServer {
    challenges: Arc<Mutex<ChallengeTable>>,
    /// With `--machines`: the accounts NetrServerAuthenticate3 knows.
    machines: Option<Arc<Machines>>,
    /// The secure channels NetrServerAuthenticate3 established, by computer.
    channels: Arc<Mutex<ChannelTable>>,
    /// Their session keys, for the server's Schannel acceptor.
    keys: Arc<SchannelKeys>,
}

/// One computer's secure channel, server side ([MS-NRPC] 3.5.4.4.2's outcome).
#[derive(Debug, Clone)]
struct Channel {
    session_key: [u8; 16],
    negotiated: u32,
    requested: u32,
    /// `ServerStoredCredential`, stepped by every authenticator that verifies.
    stored: [u8; 8],
}

/// The secure channels by computer name (upper case), oldest first, bounded.
#[derive(Debug)]
struct ChannelTable {
    max: usize,
    entries: VecDeque<(String, Channel)>,
}

impl ChannelTable {
    fn insert(&mut self, computer: &str, channel: Channel) {
        let key = computer.to_uppercase();
        self.entries.retain(|(k, _)| *k != key);
        while self.entries.len() >= self.max.max(1) {
            self.entries.pop_front();
        }
        self.entries.push_back((key, channel));
    }

    fn get_mut(&mut self, computer: &str) -> Option<&mut Channel> {
        let key = computer.to_uppercase();
        self.entries
            .iter_mut()
            .find(|(k, _)| *k == key)
            .map(|(_, c)| c)
    }
}

impl NetlogonServer {
    /// A server whose challenge table holds at most `max_challenges` computer names (at least 1).
    pub(crate) fn new(max_challenges: usize) -> Self {
        NetlogonServer {
            challenges: Arc::new(Mutex::new(ChallengeTable::new(max_challenges))),
            machines: None,
            channels: Arc::new(Mutex::new(ChannelTable {
                max: DEFAULT_MAX_SECURE_CHANNELS,
                entries: VecDeque::new(),
            })),
            keys: Arc::new(SchannelKeys::new(DEFAULT_MAX_SECURE_CHANNELS)),
        }
    }

    /// Whether secure channels can be established here (`--machines`): then the server should
    /// accept Schannel with [`schannel_keys`](Self::schannel_keys).
    pub(crate) fn serves_schannel(&self) -> bool {
        self.machines.is_some()
    }

    /// The session keys of the secure channels established here, for
    /// `ServerBuilder::schannel`.
    pub(crate) fn schannel_keys(&self) -> Arc<SchannelKeys> {
        self.keys.clone()
    }

    /// Serves NetrServerAuthenticate3 for these machine accounts.
    pub(crate) fn with_machines(mut self, machines: Machines) -> Self {
        self.machines = Some(Arc::new(machines));
        self
    }

    /// NetrServerAuthenticate3 ([MS-NRPC] 3.5.4.4.2) against the machines file: the AES session
    /// key from the account's NT hash and the challenges NetrServerReqChallenge remembered for
    /// `ComputerName` (used once: forgotten by this call whatever its outcome), the client's
    /// credential checked, the server's returned.
    fn authenticate3(
        &self,
        machines: &Machines,
        req: logon::NetrServerAuthenticate3Request,
    ) -> logon::NetrServerAuthenticate3Response {
        let refuse = |status: u32| logon::NetrServerAuthenticate3Response {
            ServerCredential: NETLOGON_CREDENTIAL { data: [0; 8] },
            NegotiateFlags: 0,
            AccountRid: 0,
            return_value: status as i32,
        };
        let computer = req.ComputerName.to_string_lossy();
        let pair = self
            .challenges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(&computer);
        if req.NegotiateFlags & NETLOGON_NEG_SUPPORTS_AES == 0 {
            return refuse(STATUS_DOWNGRADE_DETECTED);
        }
        let Some((client_challenge, server_challenge)) = pair else {
            return refuse(STATUS_ACCESS_DENIED);
        };
        let Some((rid, nt_hash)) = machines.find(&req.AccountName.to_string_lossy()) else {
            return refuse(STATUS_NO_TRUST_SAM_ACCOUNT);
        };
        let key = session_key_aes(&nt_hash, &client_challenge, &server_challenge);
        let expected = credential_aes(&client_challenge, &key);
        let given = req.ClientCredential.data;
        // [MS-NRPC] 3.1.4.1: a credential whose first five bytes are all alike is refused (the
        // all-zero credential of CVE-2020-1472 among them).
        let degenerate = given[1..5].iter().all(|b| *b == given[0]);
        if degenerate || !constant_time_eq(&expected, &given) {
            return refuse(STATUS_ACCESS_DENIED);
        }
        let negotiated = req.NegotiateFlags & SERVER_NEGOTIATE_FLAGS;
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                &computer,
                Channel {
                    session_key: key,
                    negotiated,
                    requested: req.NegotiateFlags,
                    stored: expected,
                },
            );
        // The domain is the client's to name in its NL_AUTH_MESSAGE; the store keys by computer.
        self.keys
            .insert(SchannelSession::new(key, negotiated, "", computer));
        logon::NetrServerAuthenticate3Response {
            ServerCredential: NETLOGON_CREDENTIAL {
                data: credential_aes(&server_challenge, &key),
            },
            NegotiateFlags: negotiated,
            AccountRid: rid,
            return_value: 0,
        }
    }

    /// NetrLogonGetCapabilities ([MS-NRPC] 3.5.4.4.10; see the module docs).
    fn get_capabilities(
        &self,
        client: Option<&ClientIdentity>,
        req: logon::NetrLogonGetCapabilitiesRequest,
    ) -> Result<logon::NetrLogonGetCapabilitiesResponse, Win32Status> {
        let arm = |flags: u32| match req.QueryLevel {
            1 => Ok(NETLOGON_CAPABILITIES::ServerCapabilities(flags)),
            2 => Ok(NETLOGON_CAPABILITIES::RequestedFlags(flags)),
            _ => Err(Win32Status(RPC_S_INVALID_TAG)),
        };
        let refuse = |status: u32| -> Result<logon::NetrLogonGetCapabilitiesResponse, Win32Status> {
            Ok(logon::NetrLogonGetCapabilitiesResponse {
                ReturnAuthenticator: NETLOGON_AUTHENTICATOR {
                    Credential: NETLOGON_CREDENTIAL { data: [0; 8] },
                    Timestamp: 0,
                },
                Capabilities: arm(0)?,
                return_value: status as i32,
            })
        };
        arm(0)?;
        let computer = req
            .ComputerName
            .0
            .as_ref()
            .map(|c| c.to_string_lossy())
            .unwrap_or_default();
        // Over Schannel, from the computer the call names ([MS-NRPC] 3.5.4.4.10: the secure
        // channel's, or access denied).
        let from_it = client.is_some_and(|c| {
            c.service == AuthnService::Netlogon && c.user.eq_ignore_ascii_case(&computer)
        });
        if !from_it {
            return refuse(STATUS_ACCESS_DENIED);
        }
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let Some(ch) = channels.get_mut(&computer) else {
            return refuse(STATUS_ACCESS_DENIED);
        };
        // [MS-NRPC] 3.1.4.5: the client's credential is the stored one plus the timestamp,
        // encrypted; then the stored one is that plus one, and the return authenticator it
        // encrypted.
        let sent = credential_add(&ch.stored, req.Authenticator.Timestamp);
        if !constant_time_eq(
            &credential_aes(&sent, &ch.session_key),
            &req.Authenticator.Credential.data,
        ) {
            return refuse(STATUS_ACCESS_DENIED);
        }
        ch.stored = credential_add(&sent, 1);
        let flags = if req.QueryLevel == 1 {
            ch.negotiated
        } else {
            ch.requested
        };
        Ok(logon::NetrLogonGetCapabilitiesResponse {
            ReturnAuthenticator: NETLOGON_AUTHENTICATOR {
                Credential: NETLOGON_CREDENTIAL {
                    data: credential_aes(&ch.stored, &ch.session_key),
                },
                Timestamp: 0,
            },
            Capabilities: arm(flags)?,
            return_value: 0,
        })
    }

    /// NetrServerReqChallenge ([MS-NRPC] 3.5.4.4.1): a fresh server challenge for `computer`,
    /// remembered with the client's.
    fn req_challenge(
        &self,
        req: logon::NetrServerReqChallengeRequest,
    ) -> Result<logon::NetrServerReqChallengeResponse, Win32Status> {
        let mut server = [0u8; 8];
        if let Err(e) = getrandom::fill(&mut server) {
            tracing::warn!(error = %e, "no random bytes for a netlogon server challenge");
            // STATUS_INTERNAL_ERROR: the call was understood, the server cannot answer it.
            return Ok(logon::NetrServerReqChallengeResponse {
                ServerChallenge: NETLOGON_CREDENTIAL { data: [0; 8] },
                return_value: 0xC000_00E5_u32 as i32,
            });
        }
        let computer = req.ComputerName.to_string_lossy();
        self.challenges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(&computer, req.ClientChallenge.data, server);
        Ok(logon::NetrServerReqChallengeResponse {
            ServerChallenge: NETLOGON_CREDENTIAL { data: server },
            return_value: 0,
        })
    }

    /// The challenges remembered for `computer` (client's, server's).
    #[cfg(test)]
    fn challenge(&self, computer: &str) -> Option<([u8; 8], [u8; 8])> {
        self.challenges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .find(computer)
    }

    /// The reply stub of one call from `client` (who the call's security context says it is).
    fn serve(
        &self,
        opnum: u16,
        input: StubInput<'_>,
        client: Option<&ClientIdentity>,
    ) -> Result<Vec<u8>, DispatchError> {
        if opnum == 4 {
            return dispatch_op(input, |req| self.req_challenge(req));
        }
        if let (26, Some(machines)) = (opnum, &self.machines) {
            return dispatch_op(input, |req| Ok(self.authenticate3(machines, req)));
        }
        if let (15, Some(machines)) = (opnum, &self.machines) {
            // NetrServerAuthenticate2 ([MS-NRPC] 3.5.4.4.3): NetrServerAuthenticate3 without the
            // account's RID (what Samba's own Schannel client calls).
            return dispatch_op(input, |req: logon::NetrServerAuthenticate2Request| {
                let r = self.authenticate3(
                    machines,
                    logon::NetrServerAuthenticate3Request {
                        PrimaryName: req.PrimaryName,
                        AccountName: req.AccountName,
                        SecureChannelType: req.SecureChannelType,
                        ComputerName: req.ComputerName,
                        ClientCredential: req.ClientCredential,
                        NegotiateFlags: req.NegotiateFlags,
                    },
                );
                Ok(logon::NetrServerAuthenticate2Response {
                    ServerCredential: r.ServerCredential,
                    NegotiateFlags: r.NegotiateFlags,
                    return_value: r.return_value,
                })
            });
        }
        if let (21, Some(_)) = (opnum, &self.machines) {
            return dispatch_op(input, |req| self.get_capabilities(client, req));
        }
        unsupported(opnum, input)
    }
}

impl Interface for NetlogonServer {
    fn syntax(&self) -> SyntaxId {
        INTERFACE.syntax_id()
    }

    fn name(&self) -> &str {
        INTERFACE.name
    }

    fn operation_count(&self) -> u16 {
        INTERFACE.operations.len() as u16
    }

    fn dispatch(&self, call: IncomingCall) -> Dispatch {
        let me = self.clone();
        let client = call.client().cloned();
        // Every routine here returns at once: answered on the connection's task.
        serve_blocking(
            call,
            RunOn::ConnectionTask,
            move |opnum, stub, syntax, rep, limits| {
                me.serve(opnum, (stub, syntax, rep, limits), client.as_ref())
            },
        )
    }
}

/// The ChallengeTable: the last challenges of each computer name, oldest first.
#[derive(Debug)]
struct ChallengeTable {
    max: usize,
    /// (computer name in upper case, client challenge, server challenge).
    entries: VecDeque<(String, [u8; 8], [u8; 8])>,
}

impl ChallengeTable {
    fn new(max: usize) -> Self {
        ChallengeTable {
            max: max.max(1),
            entries: VecDeque::new(),
        }
    }

    /// Remembers a pair for `computer` (names compare case-insensitively, as NetBIOS names do),
    /// replacing its earlier pair, and forgets the oldest name past the limit.
    fn insert(&mut self, computer: &str, client: [u8; 8], server: [u8; 8]) {
        let key = computer.to_uppercase();
        self.entries.retain(|(k, _, _)| *k != key);
        while self.entries.len() >= self.max {
            self.entries.pop_front();
        }
        self.entries.push_back((key, client, server));
    }

    /// Forgets `computer`'s pair, returning it.
    fn take(&mut self, computer: &str) -> Option<([u8; 8], [u8; 8])> {
        let key = computer.to_uppercase();
        let at = self.entries.iter().position(|(k, _, _)| *k == key)?;
        self.entries.remove(at).map(|(_, c, s)| (c, s))
    }

    #[cfg(test)]
    fn find(&self, computer: &str) -> Option<([u8; 8], [u8; 8])> {
        let key = computer.to_uppercase();
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|&(_, c, s)| (c, s))
    }
}

/// The machine accounts of `--machines FILE`: one `NAME:PASSWORD` a line (NAME with or without
/// the account's `$`, compared case-insensitively), `#` comments and blank lines ignored. Only the
/// NT hash of each password is kept.
#[derive(Debug)]
pub(crate) struct Machines {
    /// (account name in upper case without `$`, NT hash), in file order.
    accounts: Vec<(String, [u8; 16])>,
}

impl Machines {
    /// Reads a machines file; a line without `:` or with an empty name is an error naming it.
    pub(crate) fn from_file(path: &std::path::Path) -> Result<Machines, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Machines::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn parse(text: &str) -> Result<Machines, String> {
        let mut accounts = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let Some((name, password)) = line.split_once(':') else {
                return Err(format!("line {}: not NAME:PASSWORD", n + 1));
            };
            let name = name.trim().trim_end_matches('$').to_uppercase();
            if name.is_empty() {
                return Err(format!("line {}: no account name", n + 1));
            }
            let hash = MachineSecret::Password(password.to_owned()).nt_hash();
            accounts.push((name, hash));
        }
        Ok(Machines { accounts })
    }

    /// The account's RID ([`FIRST_MACHINE_RID`] and on, in file order) and NT hash.
    fn find(&self, account: &str) -> Option<(u32, [u8; 16])> {
        let key = account.trim_end_matches('$').to_uppercase();
        let at = self.accounts.iter().position(|(k, _)| *k == key)?;
        let rid = FIRST_MACHINE_RID.saturating_add(u32::try_from(at).unwrap_or(u32::MAX));
        Some((rid, self.accounts[at].1))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A method's return value when the method is not supported ([MS-NRPC] 3.5.4, "based on the
/// return type").
trait NotSupported {
    fn not_supported() -> Self;
}

impl NotSupported for i32 {
    /// NTSTATUS: STATUS_NOT_SUPPORTED.
    fn not_supported() -> Self {
        STATUS_NOT_SUPPORTED as i32
    }
}

impl NotSupported for u32 {
    /// NET_API_STATUS: ERROR_NOT_SUPPORTED.
    fn not_supported() -> Self {
        ERROR_NOT_SUPPORTED
    }
}

/// Zero bytes to decode an empty reply from.
static ZEROS: [u8; 4096] = [0; 4096];

/// A reply with empty out parameters: decoded from zero bytes (NULL unique pointers, zero
/// integers and counts), or `None` where the reply has no such encoding.
fn empty_reply<R: Stub>() -> Option<R> {
    let mut d = Decoder::new(&ZEROS, Syntax::Ndr20, DataRep::default());
    R::decode_from(&mut d).ok()
}

macro_rules! unsupported_ops {
    ($($opnum:literal => $req:ident, $resp:ident,)*) => {
        /// Every operation but NetrServerReqChallenge: the request decoded, then answered
        /// not supported (see the module docs).
        fn unsupported(opnum: u16, input: StubInput<'_>) -> Result<Vec<u8>, DispatchError> {
            match opnum {
                $($opnum => dispatch_op(input, |_: logon::$req| {
                    let mut r = empty_reply::<logon::$resp>()
                        .ok_or(Win32Status(ERROR_NOT_SUPPORTED))?;
                    r.return_value = NotSupported::not_supported();
                    Ok(r)
                }),)*
                _ => Err(DispatchError::UnknownOpnum(opnum)),
            }
        }

        /// Each unsupported opnum, and whether its reply has an empty encoding (else it faults).
        #[cfg(test)]
        fn unsupported_opnums() -> Vec<(u16, bool)> {
            vec![$(($opnum, empty_reply::<logon::$resp>().is_some()),)*]
        }
    };
}

// Opnum => request, response: every netlogon method with a return value but opnum 4.
unsupported_ops! {
    0 => NetrLogonUasLogonRequest, NetrLogonUasLogonResponse,
    1 => NetrLogonUasLogoffRequest, NetrLogonUasLogoffResponse,
    2 => NetrLogonSamLogonRequest, NetrLogonSamLogonResponse,
    3 => NetrLogonSamLogoffRequest, NetrLogonSamLogoffResponse,
    5 => NetrServerAuthenticateRequest, NetrServerAuthenticateResponse,
    6 => NetrServerPasswordSetRequest, NetrServerPasswordSetResponse,
    7 => NetrDatabaseDeltasRequest, NetrDatabaseDeltasResponse,
    8 => NetrDatabaseSyncRequest, NetrDatabaseSyncResponse,
    9 => NetrAccountDeltasRequest, NetrAccountDeltasResponse,
    10 => NetrAccountSyncRequest, NetrAccountSyncResponse,
    11 => NetrGetDCNameRequest, NetrGetDCNameResponse,
    12 => NetrLogonControlRequest, NetrLogonControlResponse,
    13 => NetrGetAnyDCNameRequest, NetrGetAnyDCNameResponse,
    14 => NetrLogonControl2Request, NetrLogonControl2Response,
    15 => NetrServerAuthenticate2Request, NetrServerAuthenticate2Response,
    16 => NetrDatabaseSync2Request, NetrDatabaseSync2Response,
    17 => NetrDatabaseRedoRequest, NetrDatabaseRedoResponse,
    18 => NetrLogonControl2ExRequest, NetrLogonControl2ExResponse,
    19 => NetrEnumerateTrustedDomainsRequest, NetrEnumerateTrustedDomainsResponse,
    20 => DsrGetDcNameRequest, DsrGetDcNameResponse,
    21 => NetrLogonGetCapabilitiesRequest, NetrLogonGetCapabilitiesResponse,
    22 => NetrLogonSetServiceBitsRequest, NetrLogonSetServiceBitsResponse,
    23 => NetrLogonGetTrustRidRequest, NetrLogonGetTrustRidResponse,
    24 => NetrLogonComputeServerDigestRequest, NetrLogonComputeServerDigestResponse,
    25 => NetrLogonComputeClientDigestRequest, NetrLogonComputeClientDigestResponse,
    26 => NetrServerAuthenticate3Request, NetrServerAuthenticate3Response,
    27 => DsrGetDcNameExRequest, DsrGetDcNameExResponse,
    28 => DsrGetSiteNameRequest, DsrGetSiteNameResponse,
    29 => NetrLogonGetDomainInfoRequest, NetrLogonGetDomainInfoResponse,
    30 => NetrServerPasswordSet2Request, NetrServerPasswordSet2Response,
    31 => NetrServerPasswordGetRequest, NetrServerPasswordGetResponse,
    32 => NetrLogonSendToSamRequest, NetrLogonSendToSamResponse,
    33 => DsrAddressToSiteNamesWRequest, DsrAddressToSiteNamesWResponse,
    34 => DsrGetDcNameEx2Request, DsrGetDcNameEx2Response,
    35 => NetrLogonGetTimeServiceParentDomainRequest, NetrLogonGetTimeServiceParentDomainResponse,
    36 => NetrEnumerateTrustedDomainsExRequest, NetrEnumerateTrustedDomainsExResponse,
    37 => DsrAddressToSiteNamesExWRequest, DsrAddressToSiteNamesExWResponse,
    38 => DsrGetDcSiteCoverageWRequest, DsrGetDcSiteCoverageWResponse,
    39 => NetrLogonSamLogonExRequest, NetrLogonSamLogonExResponse,
    40 => DsrEnumerateDomainTrustsRequest, DsrEnumerateDomainTrustsResponse,
    41 => DsrDeregisterDnsHostRecordsRequest, DsrDeregisterDnsHostRecordsResponse,
    42 => NetrServerTrustPasswordsGetRequest, NetrServerTrustPasswordsGetResponse,
    43 => DsrGetForestTrustInformationRequest, DsrGetForestTrustInformationResponse,
    44 => NetrGetForestTrustInformationRequest, NetrGetForestTrustInformationResponse,
    45 => NetrLogonSamLogonWithFlagsRequest, NetrLogonSamLogonWithFlagsResponse,
    46 => NetrServerGetTrustInfoRequest, NetrServerGetTrustInfoResponse,
    47 => OpnumUnused47Request, OpnumUnused47Response,
    48 => DsrUpdateReadOnlyServerDnsRecordsRequest, DsrUpdateReadOnlyServerDnsRecordsResponse,
    49 => NetrChainSetClientAttributesRequest, NetrChainSetClientAttributesResponse,
    59 => NetrServerAuthenticateKerberosRequest, NetrServerAuthenticateKerberosResponse,
}

#[cfg(test)]
mod tests {
    use msrpc_ndr::{DecodeLimits, Unique};
    use msrpc_windows::netlogon::NETLOGON_SECURE_CHANNEL_TYPE;

    use super::*;

    const LE: DataRep = DataRep::LITTLE_ENDIAN;

    fn call(s: &NetlogonServer, opnum: u16, stub: &[u8]) -> Result<Vec<u8>, DispatchError> {
        s.serve(
            opnum,
            (stub, Syntax::Ndr20, LE, DecodeLimits::default()),
            None,
        )
    }

    /// NetrServerReqChallenge's request as the raw suite builds it by hand (`_get_netlogon_ctx`):
    /// PrimaryName `\\MSRPCRAW`, ComputerName `UNKNOWNCOMPUTER`, client challenge 11..88.
    fn suite_stub() -> Vec<u8> {
        let utf16 = |s: &str| {
            s.encode_utf16()
                .chain([0])
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<_>>()
        };
        let server = "\\\\MSRPCRAW";
        let n = server.len() as u32 + 1;
        let mut b = Vec::new();
        for v in [0x0002_0000, n, 0, n] {
            b.extend_from_slice(&u32::to_le_bytes(v));
        }
        b.extend(utf16(server));
        while b.len() % 4 != 0 {
            b.push(0);
        }
        let computer = "UNKNOWNCOMPUTER";
        let n = computer.len() as u32 + 1;
        for v in [n, 0, n] {
            b.extend_from_slice(&u32::to_le_bytes(v));
        }
        b.extend(utf16(computer));
        b.extend_from_slice(&[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
        b
    }

    #[test]
    fn req_challenge_answers_a_server_challenge_and_remembers_both() {
        let s = NetlogonServer::new(DEFAULT_MAX_CHALLENGES);
        let reply = call(&s, 4, &suite_stub()).unwrap();
        // The 12 bytes the suite checks: the server challenge, then STATUS_SUCCESS.
        assert_eq!(reply.len(), 12);
        assert_eq!(&reply[8..], &[0, 0, 0, 0]);
        let (client, server) = s.challenge("unknowncomputer").expect("remembered");
        assert_eq!(client, [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
        assert_eq!(&reply[..8], &server);
        // A second request for the same name gets a fresh challenge (8 random bytes twice
        // alike: 2^-64) and replaces the first.
        let again = call(&s, 4, &suite_stub()).unwrap();
        assert_ne!(&again[..8], &reply[..8]);
        assert_eq!(s.challenge("UNKNOWNCOMPUTER").unwrap().1, again[..8]);
    }

    #[test]
    fn req_challenge_that_does_not_decode_faults_ndr() {
        let s = NetlogonServer::new(1);
        let stub = suite_stub();
        let e = call(&s, 4, &stub[..stub.len() - 3]).unwrap_err();
        assert!(matches!(e, DispatchError::Decode(_)), "{e:?}");
        assert!(s.challenge("UNKNOWNCOMPUTER").is_none());
    }

    #[test]
    fn challenge_table_is_bounded_and_forgets_the_oldest() {
        let mut t = ChallengeTable::new(2);
        t.insert("A", [1; 8], [2; 8]);
        t.insert("B", [3; 8], [4; 8]);
        t.insert("a", [5; 8], [6; 8]); // replaces A, which becomes the newest
        t.insert("C", [7; 8], [8; 8]); // forgets B
        assert_eq!(t.entries.len(), 2);
        assert_eq!(t.find("A"), Some(([5; 8], [6; 8])));
        assert_eq!(t.find("B"), None);
        assert_eq!(t.find("c"), Some(([7; 8], [8; 8])));
        assert_eq!(ChallengeTable::new(0).max, 1);
    }

    #[test]
    fn other_methods_answer_not_supported_by_their_return_type() {
        let s = NetlogonServer::new(4);
        // NTSTATUS: NetrServerAuthenticate3 (no machine accounts, no secure channel).
        let req = logon::NetrServerAuthenticate3Request {
            PrimaryName: Unique(None),
            AccountName: "WS1$".into(),
            SecureChannelType: NETLOGON_SECURE_CHANNEL_TYPE::WorkstationSecureChannel,
            ComputerName: "WS1".into(),
            ClientCredential: NETLOGON_CREDENTIAL { data: [9; 8] },
            NegotiateFlags: 0x6000_0000,
        };
        let stub = req.encode(Syntax::Ndr20, LE).unwrap();
        let reply = call(&s, 26, &stub).unwrap();
        let r = logon::NetrServerAuthenticate3Response::decode(&reply, Syntax::Ndr20, LE).unwrap();
        assert_eq!(r.return_value as u32, STATUS_NOT_SUPPORTED);
        assert_eq!(r.ServerCredential.data, [0; 8]);
        // NET_API_STATUS: DsrGetDcNameEx2, with no DOMAIN_CONTROLLER_INFOW.
        let req = logon::DsrGetDcNameEx2Request {
            ComputerName: Unique(None),
            AccountName: Unique(None),
            AllowableAccountControlBits: 0,
            DomainName: Some("CORP".into()).into(),
            DomainGuid: Unique(None),
            SiteName: Unique(None),
            Flags: 0,
        };
        let stub = req.encode(Syntax::Ndr20, LE).unwrap();
        let reply = call(&s, 34, &stub).unwrap();
        let r = logon::DsrGetDcNameEx2Response::decode(&reply, Syntax::Ndr20, LE).unwrap();
        assert_eq!(r.return_value, ERROR_NOT_SUPPORTED);
        assert!(r.DomainControllerInfo.0.is_none());
        // A request that does not decode is faulted before anything is answered.
        assert!(matches!(
            call(&s, 26, &[1, 2]),
            Err(DispatchError::Decode(_))
        ));
    }

    #[test]
    fn every_method_is_served_and_the_unused_opnums_are_out_of_range() {
        let listed = unsupported_opnums();
        // Opnums 0..=49 but 4, and 59: NetrServerReqChallenge is the real one.
        let expected: Vec<u16> = (0..50).filter(|&o| o != 4).chain([59]).collect();
        assert_eq!(listed.iter().map(|&(o, _)| o).collect::<Vec<_>>(), expected);
        // Every reply has an empty encoding but three, whose out unions have no arm for a zero
        // discriminant and so fault ERROR_NOT_SUPPORTED: NetrLogonGetCapabilities,
        // NetrLogonGetDomainInfo and NetrChainSetClientAttributes (docs/interop.md).
        let faulting: Vec<u16> = listed
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|&(o, _)| o)
            .collect();
        assert_eq!(faulting, [21, 29, 49]);
        assert_eq!(INTERFACE.operations.len(), 60);
        let s = NetlogonServer::new(1);
        for opnum in 50..=58 {
            assert!(matches!(
                call(&s, opnum, &[]),
                Err(DispatchError::UnknownOpnum(o)) if o == opnum
            ));
        }
    }

    #[test]
    fn machines_file_lines() {
        let m = Machines::parse("# c\n\nWS1$:pw:with:colons\r\n ws2 :x\n").unwrap();
        assert_eq!(m.accounts.len(), 2);
        let (rid, hash) = m.find("ws1").unwrap();
        assert_eq!(rid, FIRST_MACHINE_RID);
        assert_eq!(
            hash,
            MachineSecret::Password("pw:with:colons".into()).nt_hash()
        );
        assert_eq!(m.find("WS2$").unwrap().0, FIRST_MACHINE_RID + 1);
        assert!(m.find("WS3").is_none());
        assert_eq!(
            Machines::parse("a\nWS1\n").unwrap_err(),
            "line 1: not NAME:PASSWORD"
        );
        assert_eq!(
            Machines::parse("$:pw").unwrap_err(),
            "line 1: no account name"
        );
    }

    fn authenticate(s: &NetlogonServer, credential: [u8; 8], flags: u32) -> (u32, [u8; 8]) {
        let req = logon::NetrServerAuthenticate3Request {
            PrimaryName: Unique(None),
            AccountName: "WS1$".into(),
            SecureChannelType: NETLOGON_SECURE_CHANNEL_TYPE::WorkstationSecureChannel,
            ComputerName: "WS1".into(),
            ClientCredential: NETLOGON_CREDENTIAL { data: credential },
            NegotiateFlags: flags,
        };
        let stub = req.encode(Syntax::Ndr20, LE).unwrap();
        let reply = call(s, 26, &stub).unwrap();
        let r = logon::NetrServerAuthenticate3Response::decode(&reply, Syntax::Ndr20, LE).unwrap();
        (r.return_value as u32, r.ServerCredential.data)
    }

    fn req_challenge(s: &NetlogonServer, client: [u8; 8]) -> [u8; 8] {
        let req = logon::NetrServerReqChallengeRequest {
            PrimaryName: Unique(None),
            ComputerName: "WS1".into(),
            ClientChallenge: NETLOGON_CREDENTIAL { data: client },
        };
        let reply = call(s, 4, &req.encode(Syntax::Ndr20, LE).unwrap()).unwrap();
        reply[..8].try_into().unwrap()
    }

    #[test]
    fn authenticate3_checks_the_credential_and_uses_each_challenge_once() {
        let s = NetlogonServer::new(8).with_machines(Machines::parse("WS1:pw").unwrap());
        let hash = MachineSecret::Password("pw".into()).nt_hash();
        let aes = NETLOGON_NEG_SUPPORTS_AES;
        // No challenge first: access denied.
        assert_eq!(authenticate(&s, [1; 8], aes).0, STATUS_ACCESS_DENIED);

        let client = [1, 2, 3, 4, 5, 6, 7, 8];
        let server = req_challenge(&s, client);
        let key = session_key_aes(&hash, &client, &server);
        let good = credential_aes(&client, &key);
        let (status, server_credential) = authenticate(&s, good, aes | 0x4000_0000);
        assert_eq!(status, 0);
        assert_eq!(server_credential, credential_aes(&server, &key));
        // The challenge was used: the same credential again is refused.
        assert_eq!(authenticate(&s, good, aes).0, STATUS_ACCESS_DENIED);

        // Without AES: downgrade detected (and the challenge is gone all the same).
        req_challenge(&s, client);
        assert_eq!(authenticate(&s, good, 0x4000).0, STATUS_DOWNGRADE_DETECTED);
        assert!(s.challenge("WS1").is_none());
        // An all-zero credential (CVE-2020-1472's) and a wrong one are refused.
        for bad in [[0; 8], [9; 8]] {
            req_challenge(&s, [0; 8]);
            assert_eq!(authenticate(&s, bad, aes).0, STATUS_ACCESS_DENIED);
        }
        // Without --machines the method is not supported.
        let plain = NetlogonServer::new(8);
        req_challenge(&plain, client);
        assert_eq!(authenticate(&plain, good, aes).0, STATUS_NOT_SUPPORTED);
    }

    #[test]
    fn authenticate3_feeds_schannel_and_get_capabilities_needs_it() {
        let s = NetlogonServer::new(8).with_machines(Machines::parse("WS1:pw").unwrap());
        assert!(s.serves_schannel() && !NetlogonServer::new(1).serves_schannel());
        let hash = MachineSecret::Password("pw".into()).nt_hash();
        let aes = NETLOGON_NEG_SUPPORTS_AES;
        let client = [1, 2, 3, 4, 5, 6, 7, 8];
        let server = req_challenge(&s, client);
        let key = session_key_aes(&hash, &client, &server);
        assert!(s.schannel_keys().get("ws1").is_none());
        let (status, _) = authenticate(&s, credential_aes(&client, &key), aes | 0x4000_0000 | 1);
        assert_eq!(status, 0);
        // The Schannel acceptor now knows WS1's session key and the flags negotiated.
        let session = s.schannel_keys().get("ws1").unwrap();
        assert_eq!(session.session_key(), key);
        assert_eq!(session.negotiate_flags(), aes | 0x4000_0000);
        // Without Schannel (no client identity): access denied, whatever the authenticator.
        let auth = NETLOGON_AUTHENTICATOR {
            Credential: NETLOGON_CREDENTIAL {
                data: credential_aes(&credential_add(&credential_aes(&client, &key), 5), &key),
            },
            Timestamp: 5,
        };
        let req = |level: u32| logon::NetrLogonGetCapabilitiesRequest {
            ServerName: "\\\\MSRPC".into(),
            ComputerName: Some("WS1".into()).into(),
            Authenticator: auth.clone(),
            ReturnAuthenticator: NETLOGON_AUTHENTICATOR {
                Credential: NETLOGON_CREDENTIAL { data: [0; 8] },
                Timestamp: 0,
            },
            QueryLevel: level,
        };
        let reply = call(&s, 21, &req(1).encode(Syntax::Ndr20, LE).unwrap()).unwrap();
        let r = logon::NetrLogonGetCapabilitiesResponse::decode(&reply, Syntax::Ndr20, LE).unwrap();
        assert_eq!(r.return_value as u32, STATUS_ACCESS_DENIED);
        assert_eq!(r.ReturnAuthenticator.Credential.data, [0; 8]);
        // A level with no reply arm faults RPC_S_INVALID_TAG.
        let e = call(&s, 21, &req(3).encode(Syntax::Ndr20, LE).unwrap()).unwrap_err();
        assert!(
            matches!(e, DispatchError::Manager(Win32Status(RPC_S_INVALID_TAG))),
            "{e:?}"
        );
    }

    #[test]
    fn channel_table_is_bounded() {
        let mut t = ChannelTable {
            max: 2,
            entries: VecDeque::new(),
        };
        let ch = |n: u8| Channel {
            session_key: [n; 16],
            negotiated: 0,
            requested: 0,
            stored: [n; 8],
        };
        t.insert("a", ch(1));
        t.insert("b", ch(2));
        t.insert("A", ch(3));
        t.insert("c", ch(4));
        assert_eq!(t.entries.len(), 2);
        assert!(t.get_mut("b").is_none());
        assert_eq!(t.get_mut("a").unwrap().stored, [3; 8]);
    }
}
