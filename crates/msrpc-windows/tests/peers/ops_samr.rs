//! samr: the operations Samba implements that take plain arguments, on the account domain,
//! user `msrpc`, group `None` (513) and Builtin's `Users` (545). Writes are refused to `msrpc`
//! (no privileges), so nothing is changed. The password-change, ValidatePassword and
//! user-creation-with-password operations (encrypted buffers) are listed in `NOT_CALLED`.

use msrpc::codegen::ndr::{ConformantArray, ConformantVaryingArray, Unique};
use msrpc::{Binding, ClientContext};
use msrpc_windows::dtyp::RPC_SID;
use msrpc_windows::samr::samr::*;
use msrpc_windows::samr::*;
use msrpc_windows::{Sid, unicode_string};

use crate::call;
use crate::ops::*;

const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
/// `DOMAIN_GROUP_RID_USERS`, the group every account of a standalone Samba is in ("None").
const GROUP_NONE: u32 = 513;
/// `DOMAIN_ALIAS_RID_USERS` (Builtin).
const ALIAS_USERS: u32 = 545;
/// `USER_NORMAL_ACCOUNT`.
const USER_NORMAL_ACCOUNT: u32 = 0x10;

type Ctx = ClientContext<Binding>;

/// `size_is(1000)` of SamrLookupNamesInDomain's and SamrLookupIdsInDomain's arrays.
const MAX_LOOKUP: u64 = 1000;

fn names_of(names: &[&str]) -> ConformantVaryingArray<msrpc_windows::dtyp::RPC_UNICODE_STRING> {
    ConformantVaryingArray {
        max_count: MAX_LOOKUP,
        offset: 0,
        items: names.iter().map(|n| unicode_string(n)).collect(),
    }
}

pub(crate) async fn run(b: &Binding, peer: Peer) -> Tally {
    let mut t = Tally::new("samr", peer);
    let c = Client(b);

    // The four connects; each handle closed.
    let mut servers: Vec<Ctx> = Vec::new();
    if let Some(o) = call!(
        t,
        "SamrConnect",
        c.samr_connect(SamrConnectRequest {
            ServerName: Unique::default(),
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        OK
    ) {
        servers.push(o.ServerHandle);
    }
    if let Some(o) = call!(
        t,
        "SamrConnect2",
        c.samr_connect2(SamrConnect2Request {
            ServerName: Unique::default(),
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        OK
    ) {
        servers.push(o.ServerHandle);
    }
    if let Some(o) = call!(
        t,
        "SamrConnect4",
        c.samr_connect4(SamrConnect4Request {
            ServerName: Unique::default(),
            ClientRevision: 2,
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        OK
    ) {
        servers.push(o.ServerHandle);
    }
    let Some(server) = call!(
        t,
        "SamrConnect5",
        c.samr_connect5(SamrConnect5Request {
            ServerName: Unique::default(),
            DesiredAccess: MAXIMUM_ALLOWED,
            InVersion: 1,
            InRevisionInfo: SAMPR_REVISION_INFO::V1(SAMPR_REVISION_INFO_V1 {
                Revision: 3,
                SupportedFeatures: 0,
            }),
        }),
        OK
    ) else {
        return t;
    };
    let server = server.ServerHandle;
    for h in servers {
        call!(
            t,
            "SamrCloseHandle",
            c.samr_close_handle(SamrCloseHandleArgs { SamHandle: h }),
            OK
        );
    }
    call!(
        t,
        "SamrEnumerateDomainsInSamServer",
        c.samr_enumerate_domains_in_sam_server(SamrEnumerateDomainsInSamServerArgs {
            ServerHandle: server.clone(),
            EnumerationContext: 0,
            PreferedMaximumLength: 0x1_0000,
        }),
        OK
    );
    let Some(d) = call!(
        t,
        "SamrLookupDomainInSamServer",
        c.samr_lookup_domain_in_sam_server(SamrLookupDomainInSamServerArgs {
            ServerHandle: server.clone(),
            Name: unicode_string(peer.server()),
        }),
        OK
    ) else {
        return t;
    };
    let Some(dsid) = d.DomainId.as_ref().cloned() else {
        t.expect("SamrLookupDomainInSamServer", false, "no SID");
        return t;
    };
    let domain_sid = Sid::from(&dsid);
    let builtin_sid: Sid = "S-1-5-32".parse().unwrap();
    let open_domain = |sid: RPC_SID| {
        c.samr_open_domain(SamrOpenDomainArgs {
            ServerHandle: server.clone(),
            DesiredAccess: MAXIMUM_ALLOWED,
            DomainId: sid,
        })
    };
    let Some(dom) = call!(t, "SamrOpenDomain", open_domain(dsid.clone()), OK) else {
        return t;
    };
    let dom = dom.DomainHandle;
    let Some(builtin) = call!(
        t,
        "SamrOpenDomain",
        open_domain(RPC_SID::from(&builtin_sid)),
        OK
    ) else {
        return t;
    };
    let builtin = builtin.DomainHandle;

    call!(
        t,
        "SamrQuerySecurityObject",
        c.samr_query_security_object(SamrQuerySecurityObjectArgs {
            ObjectHandle: server.clone(),
            SecurityInformation: 4,
        }),
        OK
    );
    let sd = call!(
        t,
        "SamrQuerySecurityObject",
        c.samr_query_security_object(SamrQuerySecurityObjectArgs {
            ObjectHandle: dom.clone(),
            SecurityInformation: 4,
        }),
        OK
    )
    .and_then(|o| o.SecurityDescriptor.as_ref().cloned());
    for class in [
        DOMAIN_INFORMATION_CLASS::DomainPasswordInformation,
        DOMAIN_INFORMATION_CLASS::DomainGeneralInformation,
        DOMAIN_INFORMATION_CLASS::DomainNameInformation,
    ] {
        call!(
            t,
            "SamrQueryInformationDomain",
            c.samr_query_information_domain(SamrQueryInformationDomainArgs {
                DomainHandle: dom.clone(),
                DomainInformationClass: class,
            }),
            OK
        );
    }
    if let Some(o) = call!(
        t,
        "SamrQueryInformationDomain2",
        c.samr_query_information_domain2(SamrQueryInformationDomain2Args {
            DomainHandle: dom.clone(),
            DomainInformationClass: DOMAIN_INFORMATION_CLASS::DomainGeneralInformation,
        }),
        OK
    ) {
        // The workgroup's name, this server as the replica source, user msrpc counted.
        let ok = match o.Buffer.as_ref() {
            Some(SAMPR_DOMAIN_INFO_BUFFER::General(g)) => {
                msrpc_windows::string_of(&g.DomainName).eq_ignore_ascii_case("MSRPCTEST")
                    && msrpc_windows::string_of(&g.ReplicaSourceNodeName)
                        .eq_ignore_ascii_case(peer.server())
                    && g.UserCount >= 1
            }
            _ => false,
        };
        t.expect(
            "SamrQueryInformationDomain2",
            ok,
            format!("general info: {:?}", o.Buffer),
        );
    }
    call!(
        t,
        "SamrSetInformationDomain",
        c.samr_set_information_domain(SamrSetInformationDomainArgs {
            DomainHandle: dom.clone(),
            DomainInformationClass: DOMAIN_INFORMATION_CLASS::DomainOemInformation,
            DomainInformation: SAMPR_DOMAIN_INFO_BUFFER::Oem(SAMPR_DOMAIN_OEM_INFORMATION {
                OemInformation: unicode_string("msrpc"),
            }),
        }),
        Status(STATUS_ACCESS_DENIED)
    );
    call!(
        t,
        "SamrEnumerateUsersInDomain",
        c.samr_enumerate_users_in_domain(SamrEnumerateUsersInDomainArgs {
            DomainHandle: dom.clone(),
            EnumerationContext: 0,
            UserAccountControl: 0,
            PreferedMaximumLength: 0x1_0000,
        }),
        OK
    );
    call!(
        t,
        "SamrEnumerateGroupsInDomain",
        c.samr_enumerate_groups_in_domain(SamrEnumerateGroupsInDomainArgs {
            DomainHandle: dom.clone(),
            EnumerationContext: 0,
            PreferedMaximumLength: 0x1_0000,
        }),
        OK
    );
    call!(
        t,
        "SamrEnumerateAliasesInDomain",
        c.samr_enumerate_aliases_in_domain(SamrEnumerateAliasesInDomainArgs {
            DomainHandle: builtin.clone(),
            EnumerationContext: 0,
            PreferedMaximumLength: 0x1_0000,
        }),
        OK
    );
    // Display information: users, by index and by prefix.
    call!(
        t,
        "SamrQueryDisplayInformation",
        c.samr_query_display_information(SamrQueryDisplayInformationArgs {
            DomainHandle: dom.clone(),
            DisplayInformationClass: DOMAIN_DISPLAY_INFORMATION::DomainDisplayUser,
            Index: 0,
            EntryCount: 100,
            PreferredMaximumLength: 0x1_0000,
        }),
        OK
    );
    call!(
        t,
        "SamrQueryDisplayInformation2",
        c.samr_query_display_information2(SamrQueryDisplayInformation2Args {
            DomainHandle: dom.clone(),
            DisplayInformationClass: DOMAIN_DISPLAY_INFORMATION::DomainDisplayUser,
            Index: 0,
            EntryCount: 100,
            PreferredMaximumLength: 0x1_0000,
        }),
        OK
    );
    call!(
        t,
        "SamrQueryDisplayInformation3",
        c.samr_query_display_information3(SamrQueryDisplayInformation3Args {
            DomainHandle: dom.clone(),
            DisplayInformationClass: DOMAIN_DISPLAY_INFORMATION::DomainDisplayUser,
            Index: 0,
            EntryCount: 100,
            PreferredMaximumLength: 0x1_0000,
        }),
        OK
    );
    call!(
        t,
        "SamrGetDisplayEnumerationIndex",
        c.samr_get_display_enumeration_index(SamrGetDisplayEnumerationIndexArgs {
            DomainHandle: dom.clone(),
            DisplayInformationClass: DOMAIN_DISPLAY_INFORMATION::DomainDisplayUser,
            Prefix: unicode_string("msrpc"),
        }),
        OK
    );
    call!(
        t,
        "SamrGetDisplayEnumerationIndex2",
        c.samr_get_display_enumeration_index2(SamrGetDisplayEnumerationIndex2Args {
            DomainHandle: dom.clone(),
            DisplayInformationClass: DOMAIN_DISPLAY_INFORMATION::DomainDisplayUser,
            Prefix: unicode_string("msrpc"),
        }),
        OK
    );
    // Names and RIDs.
    let Some(names) = call!(
        t,
        "SamrLookupNamesInDomain",
        c.samr_lookup_names_in_domain(SamrLookupNamesInDomainArgs {
            DomainHandle: dom.clone(),
            Count: 1,
            Names: names_of(&["msrpc"]),
        }),
        OK
    ) else {
        return t;
    };
    let rid = names
        .RelativeIds
        .Element
        .as_ref()
        .and_then(|e| e.0.first().copied())
        .unwrap_or_default();
    t.expect(
        "SamrLookupNamesInDomain",
        rid >= 1000,
        format!("msrpc's RID {rid}"),
    );
    call!(
        t,
        "SamrLookupNamesInDomain",
        c.samr_lookup_names_in_domain(SamrLookupNamesInDomainArgs {
            DomainHandle: dom.clone(),
            Count: 1,
            Names: names_of(&["nosuchuser"]),
        }),
        Status(STATUS_NONE_MAPPED)
    );
    call!(
        t,
        "SamrLookupIdsInDomain",
        c.samr_lookup_ids_in_domain(SamrLookupIdsInDomainArgs {
            DomainHandle: dom.clone(),
            Count: 2,
            RelativeIds: ConformantVaryingArray {
                max_count: MAX_LOOKUP,
                offset: 0,
                items: vec![rid, 999_999],
            },
        }),
        Status(STATUS_SOME_NOT_MAPPED)
    );
    if let Some(o) = call!(
        t,
        "SamrRidToSid",
        c.samr_rid_to_sid(SamrRidToSidArgs {
            ObjectHandle: dom.clone(),
            Rid: rid,
        }),
        OK
    ) {
        let sid = o.Sid.as_ref().map(Sid::from);
        t.expect(
            "SamrRidToSid",
            sid.as_ref() == Some(&domain_sid.with_rid(rid)),
            format!("{sid:?}"),
        );
    }
    call!(
        t,
        "SamrGetAliasMembership",
        c.samr_get_alias_membership(SamrGetAliasMembershipArgs {
            DomainHandle: builtin.clone(),
            SidArray: SAMPR_PSID_ARRAY {
                Count: 1,
                Sids: Unique::new(ConformantArray(vec![SAMPR_SID_INFORMATION {
                    SidPointer: Unique::new(RPC_SID::from(&domain_sid.with_rid(rid))),
                }])),
            },
        }),
        OK
    );
    call!(
        t,
        "SamrRemoveMemberFromForeignDomain",
        c.samr_remove_member_from_foreign_domain(SamrRemoveMemberFromForeignDomainArgs {
            DomainHandle: builtin.clone(),
            MemberSid: RPC_SID::from(&domain_sid.with_rid(rid)),
        }),
        // msrpc is in no alias: nothing to remove.
        OK
    );
    call!(
        t,
        "SamrGetDomainPasswordInformation",
        c.samr_get_domain_password_information(SamrGetDomainPasswordInformationRequest {
            Unused: Unique::default(),
        }),
        OK
    );

    // User msrpc.
    if let Some(user) = call!(
        t,
        "SamrOpenUser",
        c.samr_open_user(SamrOpenUserArgs {
            DomainHandle: dom.clone(),
            DesiredAccess: MAXIMUM_ALLOWED,
            UserId: rid,
        }),
        OK
    ) {
        let user = user.UserHandle;
        if let Some(o) = call!(
            t,
            "SamrQueryInformationUser",
            c.samr_query_information_user(SamrQueryInformationUserArgs {
                UserHandle: user.clone(),
                UserInformationClass: USER_INFORMATION_CLASS::UserGeneralInformation,
            }),
            OK
        ) {
            let ok = matches!(o.Buffer.as_ref(), Some(SAMPR_USER_INFO_BUFFER::General(g))
                if msrpc_windows::string_of(&g.UserName) == "msrpc");
            t.expect("SamrQueryInformationUser", ok, "general info names msrpc");
        }
        call!(
            t,
            "SamrQueryInformationUser2",
            c.samr_query_information_user2(SamrQueryInformationUser2Args {
                UserHandle: user.clone(),
                UserInformationClass: USER_INFORMATION_CLASS::UserGeneralInformation,
            }),
            OK
        );
        call!(
            t,
            "SamrGetGroupsForUser",
            c.samr_get_groups_for_user(SamrGetGroupsForUserArgs {
                UserHandle: user.clone()
            }),
            OK
        );
        call!(
            t,
            "SamrGetUserDomainPasswordInformation",
            c.samr_get_user_domain_password_information(SamrGetUserDomainPasswordInformationArgs {
                UserHandle: user.clone()
            }),
            OK
        );
        if let Some(sd) = sd {
            call!(
                t,
                "SamrSetSecurityObject",
                c.samr_set_security_object(SamrSetSecurityObjectArgs {
                    ObjectHandle: user.clone(),
                    SecurityInformation: 4,
                    SecurityDescriptor: sd,
                }),
                Status(STATUS_ACCESS_DENIED)
            );
        }
        let comment = || {
            SAMPR_USER_INFO_BUFFER::AdminComment(SAMPR_USER_ADMIN_COMMENT_INFORMATION {
                AdminComment: unicode_string("msrpc"),
            })
        };
        call!(
            t,
            "SamrSetInformationUser",
            c.samr_set_information_user(SamrSetInformationUserArgs {
                UserHandle: user.clone(),
                UserInformationClass: USER_INFORMATION_CLASS::UserAdminCommentInformation,
                Buffer: comment(),
            }),
            Status(STATUS_ACCESS_DENIED)
        );
        call!(
            t,
            "SamrSetInformationUser2",
            c.samr_set_information_user2(SamrSetInformationUser2Args {
                UserHandle: user.clone(),
                UserInformationClass: USER_INFORMATION_CLASS::UserAdminCommentInformation,
                Buffer: comment(),
            }),
            Status(STATUS_ACCESS_DENIED)
        );
        call!(
            t,
            "SamrDeleteUser",
            c.samr_delete_user(SamrDeleteUserArgs {
                UserHandle: user.clone()
            }),
            Status(STATUS_ACCESS_DENIED)
        );
        call!(
            t,
            "SamrCloseHandle",
            c.samr_close_handle(SamrCloseHandleArgs { SamHandle: user }),
            OK
        );
    }

    // Group None.
    if let Some(g) = call!(
        t,
        "SamrOpenGroup",
        c.samr_open_group(SamrOpenGroupArgs {
            DomainHandle: dom.clone(),
            DesiredAccess: MAXIMUM_ALLOWED,
            GroupId: GROUP_NONE,
        }),
        OK
    ) {
        let g = g.GroupHandle;
        call!(
            t,
            "SamrQueryInformationGroup",
            c.samr_query_information_group(SamrQueryInformationGroupArgs {
                GroupHandle: g.clone(),
                GroupInformationClass: GROUP_INFORMATION_CLASS::GroupGeneralInformation,
            }),
            OK
        );
        call!(
            t,
            "SamrGetMembersInGroup",
            c.samr_get_members_in_group(SamrGetMembersInGroupArgs {
                GroupHandle: g.clone()
            }),
            OK
        );
        call!(
            t,
            "SamrSetInformationGroup",
            c.samr_set_information_group(SamrSetInformationGroupArgs {
                GroupHandle: g.clone(),
                GroupInformationClass: GROUP_INFORMATION_CLASS::GroupAdminCommentInformation,
                Buffer: SAMPR_GROUP_INFO_BUFFER::AdminComment(
                    SAMPR_GROUP_ADM_COMMENT_INFORMATION {
                        AdminComment: unicode_string("msrpc"),
                    }
                ),
            }),
            Status(STATUS_ACCESS_DENIED)
        );
        call!(
            t,
            "SamrAddMemberToGroup",
            c.samr_add_member_to_group(SamrAddMemberToGroupArgs {
                GroupHandle: g.clone(),
                MemberId: rid,
                Attributes: 7,
            }),
            Status(STATUS_ACCESS_DENIED)
        );
        call!(
            t,
            "SamrRemoveMemberFromGroup",
            c.samr_remove_member_from_group(SamrRemoveMemberFromGroupArgs {
                GroupHandle: g.clone(),
                MemberId: rid,
            }),
            Status(STATUS_ACCESS_DENIED)
        );
        call!(
            t,
            "SamrDeleteGroup",
            c.samr_delete_group(SamrDeleteGroupArgs {
                GroupHandle: g.clone()
            }),
            Status(STATUS_ACCESS_DENIED)
        );
        call!(
            t,
            "SamrCloseHandle",
            c.samr_close_handle(SamrCloseHandleArgs { SamHandle: g }),
            OK
        );
    }

    // Builtin\Users: a standalone Samba with no group mapping has no Builtin aliases, so
    // SamrOpenAlias answers STATUS_NO_SUCH_ALIAS and the alias operations are called with a
    // handle the server never gave, which Samba faults (nca_s_fault_context_mismatch).
    call!(
        t,
        "SamrOpenAlias",
        c.samr_open_alias(SamrOpenAliasArgs {
            DomainHandle: builtin.clone(),
            DesiredAccess: MAXIMUM_ALLOWED,
            AliasId: ALIAS_USERS,
        }),
        Status(STATUS_NO_SUCH_ALIAS)
    );
    {
        let a = forged(b);
        call!(
            t,
            "SamrQueryInformationAlias",
            c.samr_query_information_alias(SamrQueryInformationAliasArgs {
                AliasHandle: a.clone(),
                AliasInformationClass: ALIAS_INFORMATION_CLASS::AliasGeneralInformation,
            }),
            Fault(ERROR_INVALID_HANDLE)
        );
        call!(
            t,
            "SamrGetMembersInAlias",
            c.samr_get_members_in_alias(SamrGetMembersInAliasArgs {
                AliasHandle: a.clone()
            }),
            Fault(ERROR_INVALID_HANDLE)
        );
        call!(
            t,
            "SamrSetInformationAlias",
            c.samr_set_information_alias(SamrSetInformationAliasArgs {
                AliasHandle: a.clone(),
                AliasInformationClass: ALIAS_INFORMATION_CLASS::AliasAdminCommentInformation,
                Buffer: SAMPR_ALIAS_INFO_BUFFER::AdminComment(
                    SAMPR_ALIAS_ADM_COMMENT_INFORMATION {
                        AdminComment: unicode_string("msrpc"),
                    }
                ),
            }),
            Fault(ERROR_INVALID_HANDLE)
        );
        let member = || RPC_SID::from(&domain_sid.with_rid(rid));
        call!(
            t,
            "SamrAddMemberToAlias",
            c.samr_add_member_to_alias(SamrAddMemberToAliasArgs {
                AliasHandle: a.clone(),
                MemberId: member(),
            }),
            Fault(ERROR_INVALID_HANDLE)
        );
        call!(
            t,
            "SamrRemoveMemberFromAlias",
            c.samr_remove_member_from_alias(SamrRemoveMemberFromAliasArgs {
                AliasHandle: a.clone(),
                MemberId: member(),
            }),
            Fault(ERROR_INVALID_HANDLE)
        );
        call!(
            t,
            "SamrDeleteAlias",
            c.samr_delete_alias(SamrDeleteAliasArgs {
                AliasHandle: a.clone()
            }),
            Fault(ERROR_INVALID_HANDLE)
        );
    }

    // Password changes with no encrypted buffers: the OEM form is refused as malformed; the
    // Unicode form is taken as a wrong password (STATUS_WRONG_PASSWORD; this Samba's default
    // policy locks no account out).
    call!(
        t,
        "SamrUnicodeChangePasswordUser2",
        c.samr_unicode_change_password_user2(SamrUnicodeChangePasswordUser2Request {
            ServerName: Unique::default(),
            UserName: unicode_string("msrpc"),
            NewPasswordEncryptedWithOldNt: Unique::default(),
            OldNtOwfPasswordEncryptedWithNewNt: Unique::default(),
            LmPresent: 0,
            NewPasswordEncryptedWithOldLm: Unique::default(),
            OldLmOwfPasswordEncryptedWithNewNt: Unique::default(),
        }),
        Status(STATUS_WRONG_PASSWORD)
    );
    call!(
        t,
        "SamrOemChangePasswordUser2",
        c.samr_oem_change_password_user2(SamrOemChangePasswordUser2Request {
            ServerName: Unique::default(),
            UserName: RPC_STRING {
                Length: 5,
                MaximumLength: 5,
                Buffer: Unique::new(ConformantVaryingArray::new(b"msrpc".to_vec())),
            },
            NewPasswordEncryptedWithOldLm: Unique::default(),
            OldLmOwfPasswordEncryptedWithNewLm: Unique::default(),
        }),
        Status(STATUS_INVALID_PARAMETER)
    );

    // The AES form with an all-zero (so undecryptable) buffer.
    call!(
        t,
        "SamrUnicodeChangePasswordUser4",
        c.samr_unicode_change_password_user4(SamrUnicodeChangePasswordUser4Request {
            ServerName: Unique::default(),
            UserName: unicode_string("msrpc"),
            EncryptedPassword: SAMPR_ENCRYPTED_PASSWORD_AES {
                AuthData: [0; 64],
                Salt: [0; 16],
                cbCipher: 16,
                Cipher: Unique::new(ConformantArray(vec![0; 16])),
                PBKDF2Iterations: 5000,
            },
        }),
        Status(STATUS_WRONG_PASSWORD)
    );
    let zero = || msrpc_windows::dtyp::LARGE_INTEGER { QuadPart: 0 };
    // Samba serves SamrValidatePassword over TCP and ncalrpc only, at privacy, and on a DC
    // only (`_samr_ValidatePassword`): faulted with access denied on a named pipe by the
    // transport check, and over TCP (NTLM at privacy) by the server-role check, as both Samba
    // peers here are standalone servers. The same fault, for two reasons.
    call!(
        t,
        "SamrValidatePassword",
        c.samr_validate_password(SamrValidatePasswordRequest {
            ValidationType: PASSWORD_POLICY_VALIDATION_TYPE::SamValidateAuthentication,
            InputArg: SAM_VALIDATE_INPUT_ARG::ValidateAuthenticationInput(
                SAM_VALIDATE_AUTHENTICATION_INPUT_ARG {
                    InputPersistedFields: SAM_VALIDATE_PERSISTED_FIELDS {
                        PresentFields: 0,
                        PasswordLastSet: zero(),
                        BadPasswordTime: zero(),
                        LockoutTime: zero(),
                        BadPasswordCount: 0,
                        PasswordHistoryLength: 0,
                        PasswordHistory: Unique::default(),
                    },
                    PasswordMatched: 1,
                },
            ),
        }),
        Fault(ERROR_ACCESS_DENIED)
    );

    // Creations: refused to msrpc.
    call!(
        t,
        "SamrCreateUserInDomain",
        c.samr_create_user_in_domain(SamrCreateUserInDomainArgs {
            DomainHandle: dom.clone(),
            Name: unicode_string("msrpcnew"),
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        Status(STATUS_ACCESS_DENIED)
    );
    call!(
        t,
        "SamrCreateUser2InDomain",
        c.samr_create_user2_in_domain(SamrCreateUser2InDomainArgs {
            DomainHandle: dom.clone(),
            Name: unicode_string("msrpcnew"),
            AccountType: USER_NORMAL_ACCOUNT,
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        Status(STATUS_ACCESS_DENIED)
    );
    call!(
        t,
        "SamrCreateGroupInDomain",
        c.samr_create_group_in_domain(SamrCreateGroupInDomainArgs {
            DomainHandle: dom.clone(),
            Name: unicode_string("msrpcgroup"),
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        Status(STATUS_ACCESS_DENIED)
    );
    call!(
        t,
        "SamrCreateAliasInDomain",
        c.samr_create_alias_in_domain(SamrCreateAliasInDomainArgs {
            DomainHandle: dom.clone(),
            AccountName: unicode_string("msrpcalias"),
            DesiredAccess: MAXIMUM_ALLOWED,
        }),
        Status(STATUS_ACCESS_DENIED)
    );
    for h in [builtin, dom, server] {
        call!(
            t,
            "SamrCloseHandle",
            c.samr_close_handle(SamrCloseHandleArgs { SamHandle: h }),
            OK
        );
    }
    t
}
