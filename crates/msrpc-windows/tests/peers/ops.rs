//! Every operation Samba's server implements for srvsvc, wkssvc, winreg, svcctl, samr, lsarpc and
//! eventlog, called once or more through the generated stubs over each [`Peer`] (smbd's named
//! pipes, samba-dcerpcd's TCP endpoints), each with the status (or fault) Samba answers as user
//! `msrpc` (no privileges, not an administrator) and its reply decoded. Where the two answer
//! differently, each `run` says which and why at the call.
//!
//! "Implements" is read from Samba's `source3/rpc_server/*/srv_*_nt.c`: an operation whose
//! server routine does more than fault with `DCERPC_FAULT_OP_RNG_ERROR` or return
//! NOT_IMPLEMENTED/NOT_SUPPORTED unconditionally. [`SAMBA_IMPLEMENTED`] lists them per interface
//! by the specifications' names; [`Tally`] records what was called and with which outcome, and the
//! test fails on any outcome other than the expected one, then prints how many of the list were
//! called and which were not (and why, in [`NOT_CALLED`]).

use msrpc::Binding;

/// Which Samba the calls go to. The two are configured differently (scripts/peers/smbd.sh and
/// samba.sh), and Samba checks the transport in some operations.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Peer {
    /// smbd's named pipes (`ncacn_np`, SMB as user `msrpc`): server `NPSRV`, share `scratch`.
    Smbd,
    /// samba-dcerpcd's `ncacn_ip_tcp` endpoints, resolved through its endpoint mapper on 135,
    /// NTLM at privacy as user `msrpc`: server `PEERSRV`, no share but `IPC$`.
    Dcerpcd,
}

impl Peer {
    /// The transport, for the report.
    pub(crate) fn transport(self) -> &'static str {
        match self {
            Peer::Smbd => "smbd's named pipes",
            Peer::Dcerpcd => "samba-dcerpcd's TCP",
        }
    }

    /// The server's NetBIOS name (and its SAM's account domain).
    pub(crate) fn server(self) -> &'static str {
        match self {
            Peer::Smbd => "NPSRV",
            Peer::Dcerpcd => "PEERSRV",
        }
    }

    /// `smbd` over the named pipes, `tcp` over samba-dcerpcd's TCP.
    pub(crate) fn pick<T>(self, smbd: T, tcp: T) -> T {
        match self {
            Peer::Smbd => smbd,
            Peer::Dcerpcd => tcp,
        }
    }
}

/// What a call came back with: the operation's own return value (decoded from the reply), or the
/// call's error (an RPC fault or a refusal), by its Win32 number.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Outcome {
    /// The reply decoded; its return value (Win32 error or NTSTATUS, as the operation returns).
    Status(u32),
    /// No reply to decode: a fault or an error, as `msrpc::Error::status()`.
    Fault(u32),
}

pub(crate) use Outcome::{Fault, Status};

pub(crate) const OK: Outcome = Status(0);
// Win32 errors.
pub(crate) const ERROR_FILE_NOT_FOUND: u32 = 2;
pub(crate) const ERROR_ACCESS_DENIED: u32 = 5;
pub(crate) const ERROR_INVALID_HANDLE: u32 = 6;
pub(crate) const ERROR_INVALID_NAME: u32 = 123;
pub(crate) const ERROR_INVALID_LEVEL: u32 = 124;
pub(crate) const ERROR_NO_MORE_ITEMS: u32 = 259;
pub(crate) const RPC_X_BAD_STUB_DATA: u32 = 1783;
pub(crate) const RPC_S_PROCNUM_OUT_OF_RANGE: u32 = 1745;
pub(crate) const EPT_S_NOT_REGISTERED: u32 = 1753;
// NTSTATUS values.
pub(crate) const STATUS_SOME_NOT_MAPPED: u32 = 0x0000_0107;
pub(crate) const STATUS_NO_MORE_ENTRIES: u32 = 0x8000_001A;
pub(crate) const STATUS_INVALID_INFO_CLASS: u32 = 0xC000_0003;
pub(crate) const STATUS_UNSUCCESSFUL: u32 = 0xC000_0001;
pub(crate) const STATUS_INVALID_PARAMETER: u32 = 0xC000_000D;
pub(crate) const STATUS_ACCESS_DENIED: u32 = 0xC000_0022;
pub(crate) const STATUS_OBJECT_NAME_NOT_FOUND: u32 = 0xC000_0034;
pub(crate) const STATUS_OBJECT_PATH_INVALID: u32 = 0xC000_0039;
pub(crate) const STATUS_WRONG_PASSWORD: u32 = 0xC000_006A;
pub(crate) const STATUS_NONE_MAPPED: u32 = 0xC000_0073;
pub(crate) const STATUS_NOT_SUPPORTED: u32 = 0xC000_00BB;
pub(crate) const STATUS_NO_SUCH_ALIAS: u32 = 0xC000_0151;

/// What one interface's run called, and the outcomes that were not the expected ones.
#[derive(Debug)]
pub(crate) struct Tally {
    pub(crate) iface: &'static str,
    pub(crate) peer: Peer,
    /// False when [`NOT_SERVED`] says the peer does not serve the interface and the run stopped
    /// after its first call, which the endpoint mapper refused.
    pub(crate) served: bool,
    pub(crate) called: Vec<(&'static str, Outcome)>,
    pub(crate) wrong: Vec<String>,
}

impl Tally {
    pub(crate) fn new(iface: &'static str, peer: Peer) -> Self {
        Tally {
            iface,
            peer,
            served: true,
            called: Vec::new(),
            wrong: Vec::new(),
        }
    }

    /// Records a call of `op` that came back `got`, expected `want`.
    pub(crate) fn record(&mut self, op: &'static str, got: Outcome, want: Outcome) {
        self.record_with(op, got, want, String::new());
    }

    /// As [`Tally::record`], with what the error said when the outcome is not the expected one.
    pub(crate) fn record_with(
        &mut self,
        op: &'static str,
        got: Outcome,
        want: Outcome,
        detail: String,
    ) {
        if got != want {
            self.wrong.push(format!(
                "{}::{op} over {}: got {got:x?}, expected {want:x?} {detail}",
                self.iface,
                self.peer.transport()
            ));
        }
        self.called.push((op, got));
    }

    /// Whether [`NOT_SERVED`] lists this interface for this peer; if so, the run stops here (its
    /// first call asserted the endpoint mapper's refusal) and [`report`] says why.
    pub(crate) fn unserved(&mut self) -> bool {
        let listed = NOT_SERVED
            .iter()
            .any(|(p, i, _)| *p == self.peer && *i == self.iface);
        if listed {
            self.served = false;
        }
        listed
    }

    /// Records a check on a decoded reply's contents.
    pub(crate) fn expect(&mut self, op: &'static str, ok: bool, what: impl std::fmt::Display) {
        if !ok {
            self.wrong.push(format!(
                "{}::{op} over {}: {what}",
                self.iface,
                self.peer.transport()
            ));
        }
    }
}

/// Calls `$fut` (a generated client call), records its outcome against `$want`, and gives the
/// decoded reply (`Some`) when there was one.
#[macro_export]
macro_rules! call {
    ($t:expr, $op:literal, $fut:expr, $want:expr) => {{
        let r = $fut.await;
        let (got, detail) = match &r {
            Ok(o) => ($crate::ops::Status(o.return_value as u32), String::new()),
            Err(e) => ($crate::ops::Fault(e.status().0), e.to_string()),
        };
        $t.record_with($op, got, $want, detail);
        r.ok()
    }};
}

/// The operations Samba's server implements, per interface, by the specifications' names.
pub(crate) const SAMBA_IMPLEMENTED: &[(&str, &[&str])] = &[
    (
        "srvsvc",
        &[
            "NetrConnectionEnum",
            "NetrFileEnum",
            "NetrFileClose",
            "NetrSessionEnum",
            "NetrSessionDel",
            "NetrShareAdd",
            "NetrShareEnum",
            "NetrShareGetInfo",
            "NetrShareSetInfo",
            "NetrShareDel",
            "NetrShareDelSticky",
            "NetrServerGetInfo",
            "NetrServerSetInfo",
            "NetrServerDiskEnum",
            "NetrRemoteTOD",
            "NetprNameValidate",
            "NetrShareEnumSticky",
            "NetrpGetFileSecurity",
            "NetrpSetFileSecurity",
        ],
    ),
    (
        "wkssvc",
        &[
            "NetrWkstaGetInfo",
            "NetrWkstaUserEnum",
            "NetrJoinDomain2",
            "NetrUnjoinDomain2",
        ],
    ),
    (
        "winreg",
        &[
            "OpenClassesRoot",
            "OpenCurrentUser",
            "OpenLocalMachine",
            "OpenPerformanceData",
            "OpenUsers",
            "BaseRegCloseKey",
            "BaseRegCreateKey",
            "BaseRegDeleteKey",
            "BaseRegDeleteValue",
            "BaseRegEnumKey",
            "BaseRegEnumValue",
            "BaseRegFlushKey",
            "BaseRegGetKeySecurity",
            "BaseRegOpenKey",
            "BaseRegQueryInfoKey",
            "BaseRegQueryValue",
            "BaseRegRestoreKey",
            "BaseRegSaveKey",
            "BaseRegSetKeySecurity",
            "BaseRegSetValue",
            "BaseInitiateSystemShutdown",
            "BaseAbortSystemShutdown",
            "BaseRegGetVersion",
            "OpenCurrentConfig",
            "OpenDynData",
            "BaseRegQueryMultipleValues",
            "BaseInitiateSystemShutdownEx",
            "OpenPerformanceText",
            "OpenPerformanceNlsText",
            "BaseRegQueryMultipleValues2",
        ],
    ),
    (
        "svcctl",
        &[
            "RCloseServiceHandle",
            "RControlService",
            "RLockServiceDatabase",
            "RQueryServiceObjectSecurity",
            "RSetServiceObjectSecurity",
            "RQueryServiceStatus",
            "RUnlockServiceDatabase",
            "REnumDependentServicesW",
            "REnumServicesStatusW",
            "ROpenSCManagerW",
            "ROpenServiceW",
            "RQueryServiceConfigW",
            "RStartServiceW",
            "RGetServiceDisplayNameW",
            "RQueryServiceConfig2W",
            "RQueryServiceStatusEx",
        ],
    ),
    (
        "eventlog",
        &[
            "ElfrClearELFW",
            "ElfrNumberOfRecords",
            "ElfrOldestRecord",
            "ElfrOpenELW",
            "ElfrReadELW",
            "ElfrReportEventW",
            "ElfrGetLogInformation",
            "ElfrFlushEL",
        ],
    ),
    (
        "samr",
        &[
            "SamrConnect",
            "SamrCloseHandle",
            "SamrSetSecurityObject",
            "SamrQuerySecurityObject",
            "SamrLookupDomainInSamServer",
            "SamrEnumerateDomainsInSamServer",
            "SamrOpenDomain",
            "SamrQueryInformationDomain",
            "SamrSetInformationDomain",
            "SamrCreateGroupInDomain",
            "SamrEnumerateGroupsInDomain",
            "SamrCreateUserInDomain",
            "SamrEnumerateUsersInDomain",
            "SamrCreateAliasInDomain",
            "SamrEnumerateAliasesInDomain",
            "SamrGetAliasMembership",
            "SamrLookupNamesInDomain",
            "SamrLookupIdsInDomain",
            "SamrOpenGroup",
            "SamrQueryInformationGroup",
            "SamrSetInformationGroup",
            "SamrAddMemberToGroup",
            "SamrDeleteGroup",
            "SamrRemoveMemberFromGroup",
            "SamrGetMembersInGroup",
            "SamrOpenAlias",
            "SamrQueryInformationAlias",
            "SamrSetInformationAlias",
            "SamrDeleteAlias",
            "SamrAddMemberToAlias",
            "SamrRemoveMemberFromAlias",
            "SamrGetMembersInAlias",
            "SamrOpenUser",
            "SamrDeleteUser",
            "SamrQueryInformationUser",
            "SamrSetInformationUser",
            "SamrGetGroupsForUser",
            "SamrQueryDisplayInformation",
            "SamrGetDisplayEnumerationIndex",
            "SamrGetUserDomainPasswordInformation",
            "SamrRemoveMemberFromForeignDomain",
            "SamrQueryInformationDomain2",
            "SamrQueryInformationUser2",
            "SamrQueryDisplayInformation2",
            "SamrGetDisplayEnumerationIndex2",
            "SamrCreateUser2InDomain",
            "SamrQueryDisplayInformation3",
            "SamrOemChangePasswordUser2",
            "SamrUnicodeChangePasswordUser2",
            "SamrGetDomainPasswordInformation",
            "SamrConnect2",
            "SamrSetInformationUser2",
            "SamrConnect3",
            "SamrConnect4",
            "SamrUnicodeChangePasswordUser3",
            "SamrConnect5",
            "SamrRidToSid",
            "SamrValidatePassword",
            "SamrUnicodeChangePasswordUser4",
        ],
    ),
    (
        "lsarpc",
        &[
            "LsarClose",
            "LsarEnumeratePrivileges",
            "LsarQuerySecurityObject",
            "LsarOpenPolicy",
            "LsarQueryInformationPolicy",
            "LsarCreateAccount",
            "LsarEnumerateAccounts",
            "LsarEnumerateTrustedDomains",
            "LsarLookupNames",
            "LsarLookupSids",
            "LsarCreateSecret",
            "LsarOpenAccount",
            "LsarEnumeratePrivilegesAccount",
            "LsarAddPrivilegesToAccount",
            "LsarRemovePrivilegesFromAccount",
            "LsarGetSystemAccessAccount",
            "LsarSetSystemAccessAccount",
            "LsarOpenTrustedDomain",
            "LsarQueryInfoTrustedDomain",
            "LsarSetInformationTrustedDomain",
            "LsarOpenSecret",
            "LsarSetSecret",
            "LsarQuerySecret",
            "LsarLookupPrivilegeValue",
            "LsarLookupPrivilegeName",
            "LsarLookupPrivilegeDisplayName",
            "LsarDeleteObject",
            "LsarEnumerateAccountsWithUserRight",
            "LsarEnumerateAccountRights",
            "LsarAddAccountRights",
            "LsarRemoveAccountRights",
            "LsarQueryTrustedDomainInfo",
            "LsarSetTrustedDomainInfo",
            "LsarDeleteTrustedDomain",
            "LsarOpenPolicy2",
            "LsarGetUserName",
            "LsarQueryTrustedDomainInfoByName",
            "LsarSetTrustedDomainInfoByName",
            "LsarEnumerateTrustedDomainsEx",
            "LsarOpenTrustedDomainByName",
            "LsarLookupSids2",
            "LsarLookupNames2",
            "LsarCreateTrustedDomainEx2",
            "LsarLookupNames3",
            "LsarSetForestTrustInformation",
            "LsarLookupSids3",
            "LsarLookupNames4",
            "LsarCreateTrustedDomainEx3",
            "LsarOpenPolicy3",
        ],
    ),
];

/// Operations of [`SAMBA_IMPLEMENTED`] that no test calls, and why.
pub(crate) const NOT_CALLED: &[(&str, &str, &str)] = &[
    (
        "winreg",
        "BaseInitiateSystemShutdown",
        "MS-RRP's IDL has opnum 24 as Opnum24NotImplemented (shutdown is MS-RSP's); Samba keeps it on winreg",
    ),
    (
        "winreg",
        "BaseAbortSystemShutdown",
        "MS-RRP's IDL has opnum 25 as Opnum25NotImplemented",
    ),
    (
        "winreg",
        "OpenDynData",
        "MS-RRP's IDL has opnum 28 as Opnum28NotImplemented (HKEY_DYN_DATA is Windows 9x's)",
    ),
    (
        "winreg",
        "BaseInitiateSystemShutdownEx",
        "MS-RRP's IDL has opnum 30 as Opnum30NotImplemented",
    ),
    (
        "samr",
        "SamrConnect3",
        "MS-SAMR's IDL has opnum 61 as Opnum61NotUsedOnWire; Samba answers it as Connect2",
    ),
    (
        "samr",
        "SamrUnicodeChangePasswordUser3",
        "MS-SAMR's IDL has opnum 63 as Opnum63NotUsedOnWire; Samba implements ChangePasswordUser3",
    ),
    (
        "eventlog",
        "ElfrFlushEL",
        "MS-EVEN's IDL has opnum 23 as Opnum23NotUsedOnWire; Samba answers it (access denied) as FlushEventLog",
    ),
];

/// Interfaces a peer does not serve at all, and why. Each run calls its first operation there
/// anyway, asserts the endpoint mapper's refusal (`EPT_S_NOT_REGISTERED`) and stops; the report
/// counts none of its operations as called.
pub(crate) const NOT_SERVED: &[(Peer, &str, &str)] = &[
    (
        Peer::Dcerpcd,
        "svcctl",
        "Samba's svcctl.idl gives it the endpoints ncacn_np:[\\pipe\\svcctl] and ncalrpc: only, so \
         samba-dcerpcd registers no ncacn_ip_tcp tower for it",
    ),
    (
        Peer::Dcerpcd,
        "eventlog",
        "Samba's eventlog.idl names no endpoint, so PIDL's default, ncacn_np:[\\pipe\\eventlog], \
         is its only one: no ncacn_ip_tcp tower",
    ),
];

/// Prints the count per interface and in all, and fails on any unexpected outcome or any
/// implemented operation neither called nor listed in [`NOT_CALLED`].
pub(crate) fn report(tallies: &[Tally]) {
    let mut wrong = Vec::new();
    let (mut total, mut called_total) = (0, 0);
    for (iface, ops) in SAMBA_IMPLEMENTED {
        let Some(t) = tallies.iter().find(|t| t.iface == *iface) else {
            continue;
        };
        wrong.extend(t.wrong.iter().cloned());
        if !t.served {
            let why = NOT_SERVED
                .iter()
                .find(|(p, i, _)| *p == t.peer && i == iface)
                .map(|(_, _, why)| *why)
                .unwrap_or_default();
            let refused = t
                .called
                .iter()
                .all(|(_, o)| *o == Fault(EPT_S_NOT_REGISTERED));
            if !refused || t.called.is_empty() {
                wrong.push(format!(
                    "{iface} over {}: listed as not served, but called: {:x?}",
                    t.peer.transport(),
                    t.called
                ));
            }
            total += ops.len();
            println!(
                "{iface} over {}: 0 of {} operations Samba implements called: not served \
                 (the endpoint mapper's EPT_S_NOT_REGISTERED asserted); {why}",
                t.peer.transport(),
                ops.len()
            );
            continue;
        }
        let called: Vec<&str> = ops
            .iter()
            .copied()
            .filter(|op| t.called.iter().any(|(c, _)| c == op))
            .collect();
        for (c, _) in &t.called {
            assert!(
                ops.contains(c),
                "{iface}::{c} is called but not in SAMBA_IMPLEMENTED"
            );
        }
        let missing: Vec<&str> = ops
            .iter()
            .copied()
            .filter(|op| !called.contains(op))
            .collect();
        for op in &missing {
            if !NOT_CALLED.iter().any(|(i, o, _)| i == iface && o == op) {
                wrong.push(format!("{iface}::{op}: implemented by Samba, not called"));
            }
        }
        total += ops.len();
        called_total += called.len();
        let faulted = t
            .called
            .iter()
            .filter(|(_, o)| matches!(o, Fault(_)))
            .count();
        println!(
            "{iface} over {}: {} of {} operations Samba implements called ({} calls: {} answered \
             with a status, {faulted} faulted or refused); not called: {missing:?}",
            t.peer.transport(),
            called.len(),
            ops.len(),
            t.called.len(),
            t.called.len() - faulted
        );
    }
    println!("in all: {called_total} of {total} operations Samba implements called");
    assert!(
        wrong.is_empty(),
        "{} unexpected:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// A handle the server never gave (to reach an operation's handle check when no real handle
/// can be had).
pub(crate) fn forged(b: &Binding) -> msrpc::ClientContext<Binding> {
    msrpc::ClientContext::new(
        msrpc::codegen::ndr::ContextHandle {
            attributes: 0,
            uuid: uuid_like(),
        },
        b.clone(),
    )
}

fn uuid_like() -> msrpc::codegen::Uuid {
    msrpc::codegen::Uuid::from_u128(0x6d73_7270_632d_7465_7374_2d66_6f72_6765)
}
