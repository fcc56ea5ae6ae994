//! srvsvc: the 19 operations Samba implements.

use msrpc::Binding;
use msrpc::codegen::ndr::{ConformantArray, Unique, WideString};
use msrpc_windows::srvsvc::srvsvc::*;
use msrpc_windows::srvsvc::*;

use crate::call;
use crate::ops::*;

fn w(s: &str) -> Unique<WideString> {
    Unique::new(WideString::from(s))
}

pub(crate) async fn run(b: &Binding, peer: Peer) -> Tally {
    let mut t = Tally::new("srvsvc", peer);
    let c = Client(b);
    let none = Unique::<WideString>::default;
    // smbd.sh's config has disk share `scratch`; samba.sh's has no share, so over TCP the share
    // operations name `IPC$`, which every Samba has.
    let share = peer.pick("scratch", "IPC$");

    call!(
        t,
        "NetrConnectionEnum",
        c.netr_connection_enum(NetrConnectionEnumRequest {
            ServerName: none(),
            Qualifier: w("IPC$"),
            InfoStruct: CONNECT_ENUM_STRUCT {
                Level: 0,
                ConnectInfo: CONNECT_ENUM_UNION::Level0(Unique::new(CONNECT_INFO_0_CONTAINER {
                    EntriesRead: 0,
                    Buffer: Unique::default(),
                })),
            },
            PreferedMaximumLength: u32::MAX,
            ResumeHandle: Unique::new(0),
        }),
        // Samba lists connections to administrators only.
        Status(ERROR_ACCESS_DENIED)
    );
    call!(
        t,
        "NetrFileEnum",
        c.netr_file_enum(NetrFileEnumRequest {
            ServerName: none(),
            BasePath: none(),
            UserName: none(),
            InfoStruct: FILE_ENUM_STRUCT {
                Level: 3,
                FileInfo: FILE_ENUM_UNION::Level3(Unique::new(FILE_INFO_3_CONTAINER {
                    EntriesRead: 0,
                    Buffer: Unique::default(),
                })),
            },
            PreferedMaximumLength: u32::MAX,
            ResumeHandle: Unique::new(0),
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    call!(
        t,
        "NetrFileClose",
        c.netr_file_close(NetrFileCloseRequest {
            ServerName: none(),
            FileId: 0x7777,
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    // Samba lists sessions to administrators only.
    call!(
        t,
        "NetrSessionEnum",
        c.netr_session_enum(NetrSessionEnumRequest {
            ServerName: none(),
            ClientName: none(),
            UserName: none(),
            InfoStruct: SESSION_ENUM_STRUCT {
                Level: 0,
                SessionInfo: SESSION_ENUM_UNION::Level0(Unique::new(SESSION_INFO_0_CONTAINER {
                    EntriesRead: 0,
                    Buffer: Unique::default(),
                })),
            },
            PreferedMaximumLength: u32::MAX,
            ResumeHandle: Unique::new(0),
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    call!(
        t,
        "NetrSessionDel",
        c.netr_session_del(NetrSessionDelRequest {
            ServerName: none(),
            ClientName: w(r"\\no-such-client"),
            UserName: none(),
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    call!(
        t,
        "NetrShareAdd",
        c.netr_share_add(NetrShareAddRequest {
            ServerName: none(),
            Level: 2,
            InfoStruct: SHARE_INFO::ShareInfo2(Unique::new(SHARE_INFO_2 {
                shi2_netname: w("msrpcnew"),
                shi2_type: 0,
                shi2_remark: w("added by a test"),
                shi2_permissions: 0,
                shi2_max_uses: u32::MAX,
                shi2_current_uses: 0,
                shi2_path: w("/tmp"),
                shi2_passwd: none(),
            })),
            ParmErr: Unique::new(0),
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    let r = call!(
        t,
        "NetrShareEnum",
        c.netr_share_enum(NetrShareEnumRequest {
            ServerName: none(),
            InfoStruct: SHARE_ENUM_STRUCT {
                Level: 0,
                ShareInfo: SHARE_ENUM_UNION::Level0(Unique::new(SHARE_INFO_0_CONTAINER {
                    EntriesRead: 0,
                    Buffer: Unique::default(),
                })),
            },
            PreferedMaximumLength: u32::MAX,
            ResumeHandle: Unique::new(0),
        }),
        OK
    );
    if let Some(r) = r {
        let names: Vec<String> = match &r.InfoStruct.ShareInfo {
            SHARE_ENUM_UNION::Level0(c) => c
                .as_ref()
                .and_then(|c| c.Buffer.as_ref())
                .map(|a| {
                    a.0.iter()
                        .filter_map(|s| s.shi0_netname.as_ref().map(|n| n.to_string_lossy()))
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        t.expect(
            "NetrShareEnum",
            names.iter().any(|n| n == share),
            format!("level 0 lists {share}: {names:?}"),
        );
    }
    let r = call!(
        t,
        "NetrShareGetInfo",
        c.netr_share_get_info(NetrShareGetInfoRequest {
            ServerName: none(),
            NetName: WideString::from(share),
            Level: 1,
        }),
        OK
    );
    if let Some(r) = r {
        // STYPE_DISKTREE; IPC$ is STYPE_IPC | STYPE_SPECIAL.
        let kind = peer.pick(0, 0x8000_0003);
        let ok = matches!(&r.InfoStruct, SHARE_INFO::ShareInfo1(i)
            if i.as_ref().is_some_and(|i| i.shi1_type == kind));
        t.expect(
            "NetrShareGetInfo",
            ok,
            format!("{share} is of type {kind:#x} at level 1"),
        );
    }
    call!(
        t,
        "NetrShareGetInfo",
        c.netr_share_get_info(NetrShareGetInfoRequest {
            ServerName: none(),
            NetName: WideString::from("nosuchshare"),
            Level: 1,
        }),
        Status(ERROR_INVALID_NAME)
    );
    call!(
        t,
        "NetrShareSetInfo",
        c.netr_share_set_info(NetrShareSetInfoRequest {
            ServerName: none(),
            NetName: WideString::from(share),
            Level: 1005,
            ShareInfo: SHARE_INFO::ShareInfo1005(Unique::new(SHARE_INFO_1005 { shi1005_flags: 0 })),
            ParmErr: Unique::new(0),
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    call!(
        t,
        "NetrShareDel",
        c.netr_share_del(NetrShareDelRequest {
            ServerName: none(),
            NetName: WideString::from(share),
            Reserved: 0,
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    call!(
        t,
        "NetrShareDelSticky",
        c.netr_share_del_sticky(NetrShareDelStickyRequest {
            ServerName: none(),
            NetName: WideString::from(share),
            Reserved: 0,
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    for level in [100, 101, 102] {
        let r = call!(
            t,
            "NetrServerGetInfo",
            c.netr_server_get_info(NetrServerGetInfoRequest {
                ServerName: none(),
                Level: level,
            }),
            OK
        );
        let name = r.and_then(|r| match r.InfoStruct {
            SERVER_INFO::ServerInfo100(i) => i.as_ref().map(|i| i.sv100_name.clone()),
            SERVER_INFO::ServerInfo101(i) => i.as_ref().map(|i| i.sv101_name.clone()),
            SERVER_INFO::ServerInfo102(i) => i.as_ref().map(|i| i.sv102_name.clone()),
            _ => None,
        });
        let name = name
            .and_then(|n| n.as_ref().map(|n| n.to_string_lossy()))
            .unwrap_or_default();
        t.expect(
            "NetrServerGetInfo",
            name.eq_ignore_ascii_case(peer.server()),
            format!("level {level} names the server {}: {name:?}", peer.server()),
        );
    }
    call!(
        t,
        "NetrServerSetInfo",
        c.netr_server_set_info(NetrServerSetInfoRequest {
            ServerName: none(),
            Level: 1005,
            ServerInfo: SERVER_INFO::ServerInfo1005(Unique::new(SERVER_INFO_1005 {
                sv1005_comment: w("comment"),
            })),
            ParmErr: Unique::new(0),
        }),
        OK
    );
    call!(
        t,
        "NetrServerDiskEnum",
        c.netr_server_disk_enum(NetrServerDiskEnumRequest {
            ServerName: none(),
            Level: 0,
            DiskInfoStruct: DISK_ENUM_CONTAINER {
                EntriesRead: 0,
                Buffer: Unique::default(),
            },
            PreferedMaximumLength: u32::MAX,
            ResumeHandle: Unique::new(0),
        }),
        OK
    );
    let r = call!(
        t,
        "NetrRemoteTOD",
        c.netr_remote_tod(NetrRemoteTODRequest { ServerName: none() }),
        OK
    );
    if let Some(r) = r {
        let year = r.BufferPtr.as_ref().map(|t| t.tod_year).unwrap_or_default();
        t.expect(
            "NetrRemoteTOD",
            (2020..3000).contains(&year),
            format!("a plausible year: {year}"),
        );
    }
    // NAMETYPE_SHARE (9) with a valid and an invalid share name.
    call!(
        t,
        "NetprNameValidate",
        c.netpr_name_validate(NetprNameValidateRequest {
            ServerName: none(),
            Name: WideString::from(share),
            NameType: 9,
            Flags: 0,
        }),
        OK
    );
    call!(
        t,
        "NetprNameValidate",
        c.netpr_name_validate(NetprNameValidateRequest {
            ServerName: none(),
            Name: WideString::from("bad/name"),
            NameType: 9,
            Flags: 0,
        }),
        Status(ERROR_INVALID_NAME)
    );
    call!(
        t,
        "NetrShareEnumSticky",
        c.netr_share_enum_sticky(NetrShareEnumStickyRequest {
            ServerName: none(),
            InfoStruct: SHARE_ENUM_STRUCT {
                Level: 1,
                ShareInfo: SHARE_ENUM_UNION::Level1(Unique::new(SHARE_INFO_1_CONTAINER {
                    EntriesRead: 0,
                    Buffer: Unique::default(),
                })),
            },
            PreferedMaximumLength: u32::MAX,
            ResumeHandle: Unique::new(0),
        }),
        OK
    );
    // OWNER | GROUP | DACL of the share's root.
    let r = call!(
        t,
        "NetrpGetFileSecurity",
        c.netrp_get_file_security(NetrpGetFileSecurityRequest {
            ServerName: none(),
            ShareName: w(share),
            lpFileName: WideString::from(""),
            RequestedInformation: 7,
        }),
        OK
    );
    let sd = r.and_then(|r| r.SecurityDescriptor.as_ref().cloned());
    if let Some(sd) = &sd {
        let bytes = sd.Buffer.as_ref().map(|b| b.0.len()).unwrap_or_default();
        t.expect(
            "NetrpGetFileSecurity",
            bytes >= 20 && bytes == sd.Length as usize,
            format!(
                "a self-relative security descriptor of {} octets",
                sd.Length
            ),
        );
    }
    call!(
        t,
        "NetrpSetFileSecurity",
        c.netrp_set_file_security(NetrpSetFileSecurityRequest {
            ServerName: none(),
            ShareName: w(share),
            lpFileName: WideString::from(""),
            SecurityInformation: 4,
            SecurityDescriptor: sd.unwrap_or(ADT_SECURITY_DESCRIPTOR {
                Length: 0,
                Buffer: Unique::new(ConformantArray(Vec::new())),
            }),
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    t
}
