//! lsarpc (LSAD and LSAT, one interface): the operations Samba implements that take plain
//! arguments. The policy handle comes from LSAT's LsarOpenPolicy2 and serves LSAD's calls (one
//! interface). Account, secret and trusted-domain objects do not exist on this standalone
//! server, so their handle operations are called with a handle the server never gave (Samba
//! faults those with nca_s_fault_context_mismatch). Over samba-dcerpcd's TCP no policy can be
//! opened (Samba keeps LSA's opens to named pipes and ncalrpc): every call is still made, and
//! refused as `np_only` and `unknown_handle` below say.

use msrpc::Binding;
use msrpc::codegen::ndr::{ConformantArray, Unique};
use msrpc_windows::dtyp::{LUID, RPC_SID};
use msrpc_windows::lsad::lsarpc as lsad;
use msrpc_windows::lsat::lsarpc as lsat;
use msrpc_windows::{Sid, unicode_string};

use crate::call;
use crate::ops::*;

const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
/// `SeShutdownPrivilege`'s LUID on Windows and Samba.
const SE_SHUTDOWN_LUID: u32 = 19;
/// `STATUS_NO_SUCH_PRIVILEGE`.
const STATUS_NO_SUCH_PRIVILEGE: u32 = 0xC000_0060;

fn lsad_attrs() -> msrpc_windows::lsad::LSAPR_OBJECT_ATTRIBUTES {
    msrpc_windows::lsad::LSAPR_OBJECT_ATTRIBUTES {
        Length: 0,
        RootDirectory: Unique::default(),
        ObjectName: Unique::default(),
        Attributes: 0,
        SecurityDescriptor: Unique::default(),
        SecurityQualityOfService: Unique::default(),
    }
}

fn lsat_attrs() -> msrpc_windows::lsat::LSAPR_OBJECT_ATTRIBUTES {
    msrpc_windows::lsat::LSAPR_OBJECT_ATTRIBUTES {
        Length: 0,
        RootDirectory: Unique::default(),
        ObjectName: Unique::default(),
        Attributes: 0,
        SecurityDescriptor: Unique::default(),
        SecurityQualityOfService: Unique::default(),
    }
}

pub(crate) async fn run(b: &Binding, peer: Peer) -> Tally {
    use msrpc_windows::lsad::*;
    use msrpc_windows::lsat::{
        LSAP_LOOKUP_LEVEL, LSAPR_SID_ENUM_BUFFER, LSAPR_SID_INFORMATION, LSAPR_TRANSLATED_NAMES,
        LSAPR_TRANSLATED_NAMES_EX, LSAPR_TRANSLATED_SIDS, LSAPR_TRANSLATED_SIDS_EX,
        LSAPR_TRANSLATED_SIDS_EX2,
    };
    let mut t = Tally::new("lsarpc", peer);
    let d = lsad::Client(b);
    let l = lsat::Client(b);
    // Over TCP, Samba refuses the LSA operations it keeps to ncacn_np and ncalrpc (the opens,
    // LsarClose, the lookups but LookupSids3/LookupNames4, LsarGetUserName) with a fault,
    // access denied, before it looks at any handle (`source3/rpc_server/lsa/srv_lsa_nt.c`).
    let np_only = |smbd: Outcome| peer.pick(smbd, Fault(ERROR_ACCESS_DENIED));
    // The rest check no transport: over TCP they are called on a handle the server never gave
    // (no policy can be opened there), which Samba's handle lookup faults
    // (nca_s_fault_context_mismatch).
    let unknown_handle = |smbd: Outcome| peer.pick(smbd, Fault(ERROR_INVALID_HANDLE));

    if let Some(o) = call!(
        t,
        "LsarOpenPolicy",
        d.lsar_open_policy(lsad::LsarOpenPolicyRequest {
            SystemName: Unique::default(),
            ObjectAttributes: lsad_attrs(),
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        np_only(OK)
    ) {
        call!(
            t,
            "LsarClose",
            d.lsar_close(lsad::LsarCloseArgs {
                ObjectHandle: o.PolicyHandle
            }),
            np_only(OK)
        );
    }
    if let Some(o) = call!(
        t,
        "LsarOpenPolicy3",
        d.lsar_open_policy3(lsad::LsarOpenPolicy3Request {
            SystemName: Unique::default(),
            ObjectAttributes: lsad_attrs(),
            DesiredAccess: MAXIMUM_ALLOWED,
            InVersion: 1,
            InRevisionInfo: LSAPR_REVISION_INFO::V1(LSAPR_REVISION_INFO_V1 {
                Revision: 1,
                SupportedFeatures: 0,
            }),
        }),
        // Samba's source has it (4.19 on); the smbd installed here predates it.
        Fault(RPC_S_PROCNUM_OUT_OF_RANGE)
    ) && o.return_value == 0
    {
        call!(
            t,
            "LsarClose",
            d.lsar_close(lsad::LsarCloseArgs {
                ObjectHandle: o.PolicyHandle
            }),
            np_only(OK)
        );
    }
    // Over TCP, Samba opens no policy (it serves lsarpc there for a Netlogon secure channel's
    // LookupSids3/LookupNames4, as Windows does): the calls on a policy handle are made with one
    // the server never gave, and each is refused as below.
    let p = call!(
        t,
        "LsarOpenPolicy2",
        l.lsar_open_policy2(lsat::LsarOpenPolicy2Request {
            SystemName: Unique::default(),
            ObjectAttributes: lsat_attrs(),
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        peer.pick(OK, Fault(ERROR_ACCESS_DENIED))
    );
    let p = match (p, peer) {
        (Some(p), _) => p.PolicyHandle,
        (None, Peer::Dcerpcd) => forged(b),
        (None, Peer::Smbd) => return t,
    };

    let mut account_sid = None;
    // A standalone server has no DNS domain information (STATUS_INVALID_INFO_CLASS). The
    // server role: Samba sends POLICY_LSA_SERVER_ROLE as 32 bits where MS-LSAD's plain enum is
    // 16 bits in NDR20, so the spec's decoder reads the role from the padding and the role
    // (3, PolicyServerRolePrimary) as the status. Recorded as found.
    for (class, want) in [
        (POLICY_INFORMATION_CLASS::PolicyAccountDomainInformation, OK),
        (POLICY_INFORMATION_CLASS::PolicyPrimaryDomainInformation, OK),
        (
            POLICY_INFORMATION_CLASS::PolicyDnsDomainInformation,
            Status(STATUS_INVALID_INFO_CLASS),
        ),
        (
            POLICY_INFORMATION_CLASS::PolicyLsaServerRoleInformation,
            Status(3),
        ),
    ] {
        if let Some(o) = call!(
            t,
            "LsarQueryInformationPolicy",
            d.lsar_query_information_policy(lsad::LsarQueryInformationPolicyArgs {
                PolicyHandle: p.clone(),
                InformationClass: class,
            }),
            unknown_handle(want)
        ) && let Some(LSAPR_POLICY_INFORMATION::PolicyAccountDomainInfo(i)) =
            o.PolicyInformation.as_ref()
        {
            account_sid = i.DomainSid.as_ref().map(Sid::from);
        }
    }
    // Over TCP no policy is queried; the calls that take the account domain's SID are refused
    // before the SID is looked at, so any domain SID serves.
    let account_sid = account_sid
        .or_else(|| (peer == Peer::Dcerpcd).then(|| "S-1-5-21-1000-2000-3000".parse().unwrap()));
    let Some(account_sid) = account_sid else {
        t.expect("LsarQueryInformationPolicy", false, "no account domain SID");
        return t;
    };
    let me = account_sid.with_rid(1000);
    call!(
        t,
        "LsarQuerySecurityObject",
        d.lsar_query_security_object(lsad::LsarQuerySecurityObjectArgs {
            ObjectHandle: p.clone(),
            SecurityInformation: 4,
        }),
        unknown_handle(OK)
    );
    if let Some(o) = call!(
        t,
        "LsarEnumeratePrivileges",
        d.lsar_enumerate_privileges(lsad::LsarEnumeratePrivilegesArgs {
            PolicyHandle: p.clone(),
            EnumerationContext: 0,
            PreferedMaximumLength: 0x1_0000,
        }),
        unknown_handle(OK)
    ) {
        t.expect(
            "LsarEnumeratePrivileges",
            o.EnumerationBuffer.Entries >= 5,
            format!("{} privileges", o.EnumerationBuffer.Entries),
        );
    }
    if let Some(o) = call!(
        t,
        "LsarLookupPrivilegeValue",
        d.lsar_lookup_privilege_value(lsad::LsarLookupPrivilegeValueArgs {
            PolicyHandle: p.clone(),
            Name: unicode_string("SeShutdownPrivilege"),
        }),
        unknown_handle(OK)
    ) {
        t.expect(
            "LsarLookupPrivilegeValue",
            o.Value.LowPart == SE_SHUTDOWN_LUID,
            format!("{:?}", o.Value),
        );
    }
    call!(
        t,
        "LsarLookupPrivilegeValue",
        d.lsar_lookup_privilege_value(lsad::LsarLookupPrivilegeValueArgs {
            PolicyHandle: p.clone(),
            Name: unicode_string("SeNoSuchPrivilege"),
        }),
        unknown_handle(Status(STATUS_NO_SUCH_PRIVILEGE))
    );
    call!(
        t,
        "LsarLookupPrivilegeName",
        d.lsar_lookup_privilege_name(lsad::LsarLookupPrivilegeNameArgs {
            PolicyHandle: p.clone(),
            Value: LUID {
                LowPart: SE_SHUTDOWN_LUID,
                HighPart: 0,
            },
        }),
        unknown_handle(OK)
    );
    call!(
        t,
        "LsarLookupPrivilegeDisplayName",
        d.lsar_lookup_privilege_display_name(lsad::LsarLookupPrivilegeDisplayNameArgs {
            PolicyHandle: p.clone(),
            Name: unicode_string("SeShutdownPrivilege"),
            ClientLanguage: 0,
            ClientSystemDefaultLanguage: 0,
        }),
        unknown_handle(OK)
    );
    // Samba's IDL bounds PreferedMaximumLength to 8192 ([range]); past it, a fault.
    call!(
        t,
        "LsarEnumerateAccounts",
        d.lsar_enumerate_accounts(lsad::LsarEnumerateAccountsArgs {
            PolicyHandle: p.clone(),
            EnumerationContext: 0,
            PreferedMaximumLength: 4096,
        }),
        unknown_handle(OK)
    );
    call!(
        t,
        "LsarEnumerateTrustedDomains",
        d.lsar_enumerate_trusted_domains(lsad::LsarEnumerateTrustedDomainsArgs {
            PolicyHandle: p.clone(),
            EnumerationContext: 0,
            PreferedMaximumLength: 0x1_0000,
        }),
        // No trusts.
        unknown_handle(Status(STATUS_NO_MORE_ENTRIES))
    );
    // Samba's classic (non-AD) LSA faults the Ex form.
    call!(
        t,
        "LsarEnumerateTrustedDomainsEx",
        d.lsar_enumerate_trusted_domains_ex(lsad::LsarEnumerateTrustedDomainsExArgs {
            PolicyHandle: p.clone(),
            EnumerationContext: 0,
            PreferedMaximumLength: 0x1_0000,
        }),
        Fault(RPC_S_PROCNUM_OUT_OF_RANGE)
    );
    // msrpc holds no rights.
    call!(
        t,
        "LsarEnumerateAccountRights",
        d.lsar_enumerate_account_rights(lsad::LsarEnumerateAccountRightsArgs {
            PolicyHandle: p.clone(),
            AccountSid: RPC_SID::from(&me),
        }),
        unknown_handle(Status(STATUS_OBJECT_NAME_NOT_FOUND))
    );
    call!(
        t,
        "LsarEnumerateAccountsWithUserRight",
        d.lsar_enumerate_accounts_with_user_right(lsad::LsarEnumerateAccountsWithUserRightArgs {
            PolicyHandle: p.clone(),
            UserRight: Unique::new(unicode_string("SeShutdownPrivilege")),
        }),
        unknown_handle(OK)
    );
    let rights = || LSAPR_USER_RIGHT_SET {
        Entries: 1,
        UserRights: Unique::new(ConformantArray(vec![unicode_string("SeShutdownPrivilege")])),
    };
    call!(
        t,
        "LsarAddAccountRights",
        d.lsar_add_account_rights(lsad::LsarAddAccountRightsArgs {
            PolicyHandle: p.clone(),
            AccountSid: RPC_SID::from(&me),
            UserRights: rights(),
        }),
        unknown_handle(Status(STATUS_ACCESS_DENIED))
    );
    call!(
        t,
        "LsarRemoveAccountRights",
        d.lsar_remove_account_rights(lsad::LsarRemoveAccountRightsArgs {
            PolicyHandle: p.clone(),
            AccountSid: RPC_SID::from(&me),
            AllRights: 0,
            UserRights: rights(),
        }),
        unknown_handle(Status(STATUS_ACCESS_DENIED))
    );
    call!(
        t,
        "LsarCreateAccount",
        d.lsar_create_account(lsad::LsarCreateAccountArgs {
            PolicyHandle: p.clone(),
            AccountSid: RPC_SID::from(&me),
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        unknown_handle(Status(STATUS_ACCESS_DENIED))
    );
    let account = call!(
        t,
        "LsarOpenAccount",
        d.lsar_open_account(lsad::LsarOpenAccountArgs {
            PolicyHandle: p.clone(),
            AccountSid: RPC_SID::from(&me),
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        unknown_handle(OK)
    )
    .map(|o| o.AccountHandle)
    .unwrap_or_else(|| forged(b));
    call!(
        t,
        "LsarCreateSecret",
        d.lsar_create_secret(lsad::LsarCreateSecretArgs {
            PolicyHandle: p.clone(),
            SecretName: unicode_string("msrpc-secret"),
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        unknown_handle(Status(STATUS_ACCESS_DENIED))
    );
    call!(
        t,
        "LsarOpenSecret",
        d.lsar_open_secret(lsad::LsarOpenSecretArgs {
            PolicyHandle: p.clone(),
            SecretName: unicode_string("msrpc-secret"),
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        unknown_handle(Status(STATUS_OBJECT_NAME_NOT_FOUND))
    );
    let other: Sid = "S-1-5-21-1-2-3".parse().unwrap();
    call!(
        t,
        "LsarOpenTrustedDomain",
        d.lsar_open_trusted_domain(lsad::LsarOpenTrustedDomainArgs {
            PolicyHandle: p.clone(),
            TrustedDomainSid: RPC_SID::from(&other),
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        unknown_handle(Status(STATUS_INVALID_PARAMETER))
    );
    call!(
        t,
        "LsarOpenTrustedDomainByName",
        d.lsar_open_trusted_domain_by_name(lsad::LsarOpenTrustedDomainByNameArgs {
            PolicyHandle: p.clone(),
            TrustedDomainName: unicode_string("NOSUCHDOMAIN"),
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        unknown_handle(Status(STATUS_UNSUCCESSFUL))
    );
    call!(
        t,
        "LsarQueryTrustedDomainInfo",
        d.lsar_query_trusted_domain_info(lsad::LsarQueryTrustedDomainInfoArgs {
            PolicyHandle: p.clone(),
            TrustedDomainSid: RPC_SID::from(&other),
            InformationClass: TRUSTED_INFORMATION_CLASS::TrustedDomainNameInformation,
        }),
        unknown_handle(Status(STATUS_INVALID_PARAMETER))
    );
    call!(
        t,
        "LsarQueryTrustedDomainInfoByName",
        d.lsar_query_trusted_domain_info_by_name(lsad::LsarQueryTrustedDomainInfoByNameArgs {
            PolicyHandle: p.clone(),
            TrustedDomainName: unicode_string("NOSUCHDOMAIN"),
            InformationClass: TRUSTED_INFORMATION_CLASS::TrustedDomainNameInformation,
        }),
        unknown_handle(Status(STATUS_UNSUCCESSFUL))
    );
    call!(
        t,
        "LsarDeleteTrustedDomain",
        d.lsar_delete_trusted_domain(lsad::LsarDeleteTrustedDomainArgs {
            PolicyHandle: p.clone(),
            TrustedDomainSid: RPC_SID::from(&other),
        }),
        unknown_handle(Status(STATUS_ACCESS_DENIED))
    );

    // Trusted-domain information (TRUSTED_POSIX_OFFSET_INFO, the simplest class): by SID and by
    // name on the policy handle (no such trust: Samba answers as for the opens above), and on a
    // trusted-domain handle the server never gave.
    let posix = || {
        LSAPR_TRUSTED_DOMAIN_INFO::TrustedPosixOffsetInfo(TRUSTED_POSIX_OFFSET_INFO {
            Offset: 0x10_0000,
        })
    };
    call!(
        t,
        "LsarSetTrustedDomainInfo",
        d.lsar_set_trusted_domain_info(lsad::LsarSetTrustedDomainInfoArgs {
            PolicyHandle: p.clone(),
            TrustedDomainSid: RPC_SID::from(&other),
            InformationClass: TRUSTED_INFORMATION_CLASS::TrustedPosixOffsetInformation,
            TrustedDomainInformation: posix(),
        }),
        unknown_handle(Status(STATUS_INVALID_PARAMETER))
    );
    call!(
        t,
        "LsarSetTrustedDomainInfoByName",
        d.lsar_set_trusted_domain_info_by_name(lsad::LsarSetTrustedDomainInfoByNameArgs {
            PolicyHandle: p.clone(),
            TrustedDomainName: unicode_string("NOSUCHDOMAIN"),
            InformationClass: TRUSTED_INFORMATION_CLASS::TrustedPosixOffsetInformation,
            TrustedDomainInformation: posix(),
        }),
        unknown_handle(Status(STATUS_UNSUCCESSFUL))
    );
    call!(
        t,
        "LsarQueryInfoTrustedDomain",
        d.lsar_query_info_trusted_domain(lsad::LsarQueryInfoTrustedDomainArgs {
            TrustedDomainHandle: forged(b),
            InformationClass: TRUSTED_INFORMATION_CLASS::TrustedPosixOffsetInformation,
        }),
        Fault(ERROR_INVALID_HANDLE)
    );
    call!(
        t,
        "LsarSetInformationTrustedDomain",
        d.lsar_set_information_trusted_domain(lsad::LsarSetInformationTrustedDomainArgs {
            TrustedDomainHandle: forged(b),
            InformationClass: TRUSTED_INFORMATION_CLASS::TrustedPosixOffsetInformation,
            TrustedDomainInformation: posix(),
        }),
        Fault(ERROR_INVALID_HANDLE)
    );

    // Creating a trust and setting forest-trust records: a standalone server does not support
    // them (STATUS_NOT_SUPPORTED); CreateTrustedDomainEx3 is newer than this smbd (op_rng_error).
    let trust = || LSAPR_TRUSTED_DOMAIN_INFORMATION_EX {
        Name: unicode_string("trust.example"),
        FlatName: unicode_string("TRUST"),
        Sid: Unique::new(RPC_SID::from(&other)),
        TrustDirection: 3,
        TrustType: 2,
        TrustAttributes: 0,
    };
    call!(
        t,
        "LsarCreateTrustedDomainEx2",
        d.lsar_create_trusted_domain_ex2(lsad::LsarCreateTrustedDomainEx2Args {
            PolicyHandle: p.clone(),
            TrustedDomainInformation: trust(),
            AuthenticationInformation: LSAPR_TRUSTED_DOMAIN_AUTH_INFORMATION_INTERNAL {
                AuthBlob: LSAPR_TRUSTED_DOMAIN_AUTH_BLOB {
                    AuthSize: 0,
                    AuthBlob: Unique::default(),
                },
            },
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        Status(STATUS_NOT_SUPPORTED)
    );
    call!(
        t,
        "LsarCreateTrustedDomainEx3",
        d.lsar_create_trusted_domain_ex3(lsad::LsarCreateTrustedDomainEx3Args {
            PolicyHandle: p.clone(),
            TrustedDomainInformation: trust(),
            AuthenticationInformation: LSAPR_TRUSTED_DOMAIN_AUTH_INFORMATION_INTERNAL_AES {
                AuthData: [0; 64],
                Salt: [0; 16],
                cbCipher: 0,
                Cipher: Unique::default(),
            },
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        Fault(RPC_S_PROCNUM_OUT_OF_RANGE)
    );
    call!(
        t,
        "LsarSetForestTrustInformation",
        d.lsar_set_forest_trust_information(lsad::LsarSetForestTrustInformationArgs {
            PolicyHandle: p.clone(),
            TrustedDomainName: unicode_string("trust.example"),
            HighestRecordType: LSA_FOREST_TRUST_RECORD_TYPE::ForestTrustTopLevelName,
            ForestTrustInfo: LSA_FOREST_TRUST_INFORMATION {
                RecordCount: 0,
                Entries: Unique::default(),
            },
            CheckOnly: 1,
        }),
        Status(STATUS_NOT_SUPPORTED)
    );

    // msrpc's account object (Samba opens one for any SID), then secrets, which this server
    // does not have: a handle it never gave.
    call!(
        t,
        "LsarEnumeratePrivilegesAccount",
        d.lsar_enumerate_privileges_account(lsad::LsarEnumeratePrivilegesAccountArgs {
            AccountHandle: account.clone()
        }),
        unknown_handle(Status(STATUS_OBJECT_NAME_NOT_FOUND))
    );
    call!(
        t,
        "LsarGetSystemAccessAccount",
        d.lsar_get_system_access_account(lsad::LsarGetSystemAccessAccountArgs {
            AccountHandle: account.clone()
        }),
        unknown_handle(Status(STATUS_OBJECT_NAME_NOT_FOUND))
    );
    call!(
        t,
        "LsarSetSystemAccessAccount",
        d.lsar_set_system_access_account(lsad::LsarSetSystemAccessAccountArgs {
            AccountHandle: account.clone(),
            SystemAccess: 1,
        }),
        unknown_handle(Status(STATUS_ACCESS_DENIED))
    );
    let privs = || LSAPR_PRIVILEGE_SET {
        PrivilegeCount: 0,
        Control: 0,
        Privilege: ConformantArray(Vec::new()),
    };
    call!(
        t,
        "LsarAddPrivilegesToAccount",
        d.lsar_add_privileges_to_account(lsad::LsarAddPrivilegesToAccountArgs {
            AccountHandle: account.clone(),
            Privileges: privs(),
        }),
        unknown_handle(Status(STATUS_ACCESS_DENIED))
    );
    call!(
        t,
        "LsarRemovePrivilegesFromAccount",
        d.lsar_remove_privileges_from_account(lsad::LsarRemovePrivilegesFromAccountArgs {
            AccountHandle: account.clone(),
            AllPrivileges: 1,
            Privileges: Unique::default(),
        }),
        unknown_handle(Status(STATUS_ACCESS_DENIED))
    );
    // msrpc's account object has no privileges entry (nothing to list or read; writes refused).
    call!(
        t,
        "LsarClose",
        d.lsar_close(lsad::LsarCloseArgs {
            ObjectHandle: account
        }),
        np_only(OK)
    );
    call!(
        t,
        "LsarQuerySecret",
        d.lsar_query_secret(lsad::LsarQuerySecretArgs {
            SecretHandle: forged(b),
            EncryptedCurrentValue: Unique::new(Unique::default()),
            CurrentValueSetTime: Unique::default(),
            EncryptedOldValue: Unique::default(),
            OldValueSetTime: Unique::default(),
        }),
        Fault(ERROR_INVALID_HANDLE)
    );
    call!(
        t,
        "LsarSetSecret",
        d.lsar_set_secret(lsad::LsarSetSecretArgs {
            SecretHandle: forged(b),
            EncryptedCurrentValue: Unique::default(),
            EncryptedOldValue: Unique::default(),
        }),
        Fault(ERROR_INVALID_HANDLE)
    );
    call!(
        t,
        "LsarDeleteObject",
        d.lsar_delete_object(lsad::LsarDeleteObjectArgs {
            ObjectHandle: forged(b)
        }),
        Fault(ERROR_INVALID_HANDLE)
    );

    // LSAT: names and SIDs.
    let names = || ConformantArray(vec![unicode_string("msrpc")]);
    if let Some(o) = call!(
        t,
        "LsarLookupNames",
        l.lsar_lookup_names(lsat::LsarLookupNamesArgs {
            PolicyHandle: p.clone(),
            Count: 1,
            Names: names(),
            TranslatedSids: LSAPR_TRANSLATED_SIDS {
                Entries: 0,
                Sids: Unique::default(),
            },
            LookupLevel: LSAP_LOOKUP_LEVEL::LsapLookupWksta,
            MappedCount: 0,
        }),
        np_only(OK)
    ) {
        t.expect("LsarLookupNames", o.MappedCount == 1, "msrpc mapped");
    }
    call!(
        t,
        "LsarLookupNames2",
        l.lsar_lookup_names2(lsat::LsarLookupNames2Args {
            PolicyHandle: p.clone(),
            Count: 1,
            Names: names(),
            TranslatedSids: LSAPR_TRANSLATED_SIDS_EX {
                Entries: 0,
                Sids: Unique::default(),
            },
            LookupLevel: LSAP_LOOKUP_LEVEL::LsapLookupWksta,
            MappedCount: 0,
            LookupOptions: 0,
            ClientRevision: 2,
        }),
        np_only(OK)
    );
    call!(
        t,
        "LsarLookupNames3",
        l.lsar_lookup_names3(lsat::LsarLookupNames3Args {
            PolicyHandle: p.clone(),
            Count: 1,
            Names: names(),
            TranslatedSids: LSAPR_TRANSLATED_SIDS_EX2 {
                Entries: 0,
                Sids: Unique::default(),
            },
            LookupLevel: LSAP_LOOKUP_LEVEL::LsapLookupWksta,
            MappedCount: 0,
            LookupOptions: 0,
            ClientRevision: 2,
        }),
        np_only(OK)
    );
    let sids = || LSAPR_SID_ENUM_BUFFER {
        Entries: 1,
        SidInfo: Unique::new(ConformantArray(vec![LSAPR_SID_INFORMATION {
            Sid: Unique::new(RPC_SID::from(&account_sid.with_rid(513))),
        }])),
    };
    call!(
        t,
        "LsarLookupSids",
        l.lsar_lookup_sids(lsat::LsarLookupSidsArgs {
            PolicyHandle: p.clone(),
            SidEnumBuffer: sids(),
            TranslatedNames: LSAPR_TRANSLATED_NAMES {
                Entries: 0,
                Names: Unique::default(),
            },
            LookupLevel: LSAP_LOOKUP_LEVEL::LsapLookupWksta,
            MappedCount: 0,
        }),
        np_only(OK)
    );
    call!(
        t,
        "LsarLookupSids2",
        l.lsar_lookup_sids2(lsat::LsarLookupSids2Args {
            PolicyHandle: p.clone(),
            SidEnumBuffer: sids(),
            TranslatedNames: LSAPR_TRANSLATED_NAMES_EX {
                Entries: 0,
                Names: Unique::default(),
            },
            LookupLevel: LSAP_LOOKUP_LEVEL::LsapLookupWksta,
            MappedCount: 0,
            LookupOptions: 0,
            ClientRevision: 2,
        }),
        np_only(OK)
    );
    // LookupSids3 and LookupNames4 are for a Netlogon secure channel ([MS-LSAT] 3.1.4.9): Samba
    // serves them over TCP only, so a named pipe is refused by the transport check and TCP under
    // NTLM (not Schannel) by the authentication check; the same fault, access denied, on both.
    call!(
        t,
        "LsarLookupSids3",
        l.lsar_lookup_sids3(lsat::LsarLookupSids3Request {
            SidEnumBuffer: sids(),
            TranslatedNames: LSAPR_TRANSLATED_NAMES_EX {
                Entries: 0,
                Names: Unique::default(),
            },
            LookupLevel: LSAP_LOOKUP_LEVEL::LsapLookupWksta,
            MappedCount: 0,
            LookupOptions: 0,
            ClientRevision: 2,
        }),
        Fault(ERROR_ACCESS_DENIED)
    );
    call!(
        t,
        "LsarLookupNames4",
        l.lsar_lookup_names4(lsat::LsarLookupNames4Request {
            Count: 1,
            Names: names(),
            TranslatedSids: LSAPR_TRANSLATED_SIDS_EX2 {
                Entries: 0,
                Sids: Unique::default(),
            },
            LookupLevel: LSAP_LOOKUP_LEVEL::LsapLookupWksta,
            MappedCount: 0,
            LookupOptions: 0,
            ClientRevision: 2,
        }),
        Fault(ERROR_ACCESS_DENIED)
    );
    if let Some(o) = call!(
        t,
        "LsarGetUserName",
        l.lsar_get_user_name(lsat::LsarGetUserNameRequest {
            SystemName: Unique::default(),
            UserName: Unique::default(),
            DomainName: Unique::new(Unique::default()),
        }),
        np_only(OK)
    ) {
        let name = o
            .UserName
            .as_ref()
            .map(msrpc_windows::string_of)
            .unwrap_or_default();
        t.expect("LsarGetUserName", name == "msrpc", format!("user {name:?}"));
    }
    call!(
        t,
        "LsarClose",
        d.lsar_close(lsad::LsarCloseArgs { ObjectHandle: p }),
        np_only(OK)
    );
    t
}
