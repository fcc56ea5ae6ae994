//! Differential test of the *generated* stubs against Samba's NDR (python3-samba): Samba packs
//! the `[in]` and `[out]` halves of srvsvc and mgmt calls in NDR20 and NDR64, little- and
//! big-endian; the generated request/response structs must decode Samba's bytes to the same
//! values and encode those values to exactly Samba's bytes.
//!
//! Needs `/usr/bin/python3` with python3-samba, so the tests are ignored by a plain `cargo test`;
//! `./scripts/test` installs it and runs them with `--include-ignored`, and a missing peer then
//! fails them.

use std::collections::HashMap;
use std::process::{Command, Stdio};

use msrpc_ndr::{
    ConformantArray, ConformantVaryingArray, DataRep, Stub as _, Syntax, Unique, WideString,
};

#[path = "support/rt.rs"]
mod rt;
use rt as codegen;

mod srvsvc_idl {
    include!("fixtures/shipped/srvsvc.rs");
}
mod mgmt_idl {
    include!("fixtures/shipped/mgmt.rs");
}
mod features_idl {
    include!("fixtures/features.rs");
}

const PY: &str = "/usr/bin/python3";

const SCRIPT: &str = r#"
from samba.dcerpc import srvsvc, mgmt, misc
VARIANTS = (("ndr20le", False, False), ("ndr20be", True, False), ("ndr64le", False, True), ("ndr64be", True, True))
def out(n, b): print(n, b.hex())

g100 = srvsvc.NetSrvGetInfo(); g100.in_server_unc = "\\\\HOST"; g100.in_level = 100
i = srvsvc.NetSrvInfo100(); i.platform_id = 500; i.server_name = "HOST"; g100.out_info = i; g100.result = 0

g101 = srvsvc.NetSrvGetInfo(); g101.in_server_unc = None; g101.in_level = 101
i = srvsvc.NetSrvInfo101(); i.platform_id = 500; i.server_name = "HOST"; i.version_major = 10
i.version_minor = 0; i.server_type = 0x9003; i.comment = "Samba"; g101.out_info = i; g101.result = 0

g102 = srvsvc.NetSrvGetInfo(); g102.in_server_unc = "h"; g102.in_level = 102
i = srvsvc.NetSrvInfo102(); i.platform_id = 500; i.server_name = "S"; i.version_major = 6; i.version_minor = 1
i.server_type = 3; i.comment = ""; i.users = 7; i.disc = 0xffffffff; i.hidden = 1; i.announce = 240
i.anndelta = 3000; i.licenses = 0; i.userpath = "c:\\"; g102.out_info = i; g102.result = 0

e = srvsvc.NetShareEnumAll(); e.in_server_unc = "\\\\HOST"
ctr = srvsvc.NetShareInfoCtr(); ctr.level = 1
c1 = srvsvc.NetShareCtr1(); c1.count = 0; c1.array = None; ctr.ctr = c1
e.in_info_ctr = ctr; e.in_max_buffer = 0xffffffff; e.in_resume_handle = 0
octr = srvsvc.NetShareInfoCtr(); octr.level = 1
oc1 = srvsvc.NetShareCtr1()
shares = []
for name, typ, comment in (("IPC$", 0x80000003, "IPC Service"), ("data", 0, None)):
    s = srvsvc.NetShareInfo1(); s.name = name; s.type = typ; s.comment = comment; shares.append(s)
oc1.count = 2; oc1.array = shares; octr.ctr = oc1
e.out_info_ctr = octr; e.out_totalentries = 2; e.out_resume_handle = 7; e.result = 0

p = mgmt.inq_princ_name(); p.in_authn_proto = 9; p.in_princ_name_size = 32
p.out_princ_name = "host/h@REALM"; p.result = 0

from samba.dcerpc import lsa, security
from samba.ndr import ndr_pack
ls = lsa.String(); ls.string = "abc"
ln = lsa.String(); ln.string = None
sid = lsa.SidArray(); sp = lsa.SidPtr(); sp.sid = security.dom_sid("S-1-5-21-1-2-3"); sid.sids = [sp]; sid.num_sids = 1

for v, be, n64 in VARIANTS:
    out("lsa_string_" + v, ndr_pack(ls)) if not be and not n64 else None
    out("lsa_string_null_" + v, ndr_pack(ln)) if not be and not n64 else None
    out("dom_sid_" + v, ndr_pack(sid)) if not be and not n64 else None
    for name, f in (("getinfo100", g100), ("getinfo101", g101), ("getinfo102", g102), ("shareenum", e), ("princ", p)):
        out(name + "_in_" + v, f.__ndr_pack_in__(bigendian=be, ndr64=n64))
        out(name + "_out_" + v, f.__ndr_pack_out__(bigendian=be, ndr64=n64))
"#;

fn samba_vectors() -> HashMap<String, Vec<u8>> {
    let available = Command::new(PY)
        .args([
            "-c",
            "import samba.ndr, samba.dcerpc.srvsvc, samba.dcerpc.mgmt, samba.dcerpc.lsa, samba.dcerpc.security",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        available,
        "{PY} with python3-samba is not available (./scripts/peers/install.sh installs it)"
    );
    let out = Command::new(PY)
        .args(["-c", SCRIPT])
        .stderr(Stdio::piped())
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| {
            let bytes = (0..v.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&v[i..i + 2], 16).expect("hex"))
                .collect();
            (k.to_string(), bytes)
        })
        .collect()
}

const VARIANTS: [(&str, Syntax, DataRep); 4] = [
    ("ndr20le", Syntax::Ndr20, DataRep::LITTLE_ENDIAN),
    ("ndr20be", Syntax::Ndr20, DataRep::BIG_ENDIAN),
    ("ndr64le", Syntax::Ndr64, DataRep::LITTLE_ENDIAN),
    ("ndr64be", Syntax::Ndr64, DataRep::BIG_ENDIAN),
];

fn ws(s: &str) -> Unique<WideString> {
    Unique::new(WideString::from(s))
}

/// Decodes Samba's bytes, compares with `want`, and re-encodes to Samba's bytes exactly.
macro_rules! same {
    ($vectors:expr, $failures:expr, $key:expr, $ty:ty, $want:expr, $syntax:expr, $rep:expr) => {{
        let samba = &$vectors[&$key];
        match <$ty>::decode(samba, $syntax, $rep) {
            Err(e) => $failures.push(format!("{}: we cannot decode Samba's bytes: {e}", $key)),
            Ok(got) if got != $want => {
                $failures.push(format!("{}: decoded {got:?}\n  expected {:?}", $key, $want))
            }
            Ok(_) => {}
        }
        let ours = $want.encode($syntax, $rep).expect("encode");
        if &ours != samba {
            $failures.push(format!(
                "{}: bytes differ\n  samba {:02x?}\n  ours  {:02x?}",
                $key, samba, ours
            ));
        }
    }};
}

#[test]
#[ignore = "needs python3-samba: ./scripts/test installs it"]
fn generated_stubs_match_samba() {
    use srvsvc_idl::srvsvc::*;
    use srvsvc_idl::*;
    let v = samba_vectors();
    let mut failures: Vec<String> = Vec::new();
    for (name, s, r) in VARIANTS {
        // NetrServerGetInfo (opnum 21), levels 100, 101, 102.
        let req = NetrServerGetInfoRequest {
            ServerName: ws("\\\\HOST"),
            Level: 100,
        };
        same!(
            v,
            failures,
            format!("getinfo100_in_{name}"),
            NetrServerGetInfoRequest,
            req,
            s,
            r
        );
        let resp = NetrServerGetInfoResponse {
            InfoStruct: SERVER_INFO::ServerInfo100(Unique::new(SERVER_INFO_100 {
                sv100_platform_id: PLATFORM_ID_NT,
                sv100_name: ws("HOST"),
            })),
            return_value: 0,
        };
        same!(
            v,
            failures,
            format!("getinfo100_out_{name}"),
            NetrServerGetInfoResponse,
            resp,
            s,
            r
        );

        let req = NetrServerGetInfoRequest {
            ServerName: Unique::null(),
            Level: 101,
        };
        same!(
            v,
            failures,
            format!("getinfo101_in_{name}"),
            NetrServerGetInfoRequest,
            req,
            s,
            r
        );
        let resp = NetrServerGetInfoResponse {
            InfoStruct: SERVER_INFO::ServerInfo101(Unique::new(SERVER_INFO_101 {
                sv101_platform_id: 500,
                sv101_name: ws("HOST"),
                sv101_version_major: 10,
                sv101_version_minor: 0,
                sv101_type: 0x9003,
                sv101_comment: ws("Samba"),
            })),
            return_value: 0,
        };
        same!(
            v,
            failures,
            format!("getinfo101_out_{name}"),
            NetrServerGetInfoResponse,
            resp,
            s,
            r
        );

        let req = NetrServerGetInfoRequest {
            ServerName: ws("h"),
            Level: 102,
        };
        same!(
            v,
            failures,
            format!("getinfo102_in_{name}"),
            NetrServerGetInfoRequest,
            req,
            s,
            r
        );
        let resp = NetrServerGetInfoResponse {
            InfoStruct: SERVER_INFO::ServerInfo102(Unique::new(SERVER_INFO_102 {
                sv102_platform_id: 500,
                sv102_name: ws("S"),
                sv102_version_major: 6,
                sv102_version_minor: 1,
                sv102_type: 3,
                sv102_comment: ws(""),
                sv102_users: 7,
                sv102_disc: -1,
                sv102_hidden: 1,
                sv102_announce: 240,
                sv102_anndelta: 3000,
                sv102_licenses: 0,
                sv102_userpath: ws("c:\\"),
            })),
            return_value: 0,
        };
        same!(
            v,
            failures,
            format!("getinfo102_out_{name}"),
            NetrServerGetInfoResponse,
            resp,
            s,
            r
        );

        // NetrShareEnum (opnum 15; Samba calls it NetShareEnumAll), level 1.
        let req = NetrShareEnumRequest {
            ServerName: ws("\\\\HOST"),
            InfoStruct: SHARE_ENUM_STRUCT {
                Level: 1,
                ShareInfo: SHARE_ENUM_UNION::Level1(Unique::new(SHARE_INFO_1_CONTAINER {
                    EntriesRead: 0,
                    Buffer: Unique::null(),
                })),
            },
            PreferedMaximumLength: 0xffff_ffff,
            ResumeHandle: Unique::new(0),
        };
        same!(
            v,
            failures,
            format!("shareenum_in_{name}"),
            NetrShareEnumRequest,
            req,
            s,
            r
        );
        let resp = NetrShareEnumResponse {
            InfoStruct: SHARE_ENUM_STRUCT {
                Level: 1,
                ShareInfo: SHARE_ENUM_UNION::Level1(Unique::new(SHARE_INFO_1_CONTAINER {
                    EntriesRead: 2,
                    Buffer: Unique::new(ConformantArray(vec![
                        SHARE_INFO_1 {
                            shi1_netname: ws("IPC$"),
                            shi1_type: STYPE_IPC | STYPE_SPECIAL,
                            shi1_remark: ws("IPC Service"),
                        },
                        SHARE_INFO_1 {
                            shi1_netname: ws("data"),
                            shi1_type: STYPE_DISKTREE,
                            shi1_remark: Unique::null(),
                        },
                    ])),
                })),
            },
            TotalEntries: 2,
            ResumeHandle: Unique::new(7),
            return_value: 0,
        };
        same!(
            v,
            failures,
            format!("shareenum_out_{name}"),
            NetrShareEnumResponse,
            resp,
            s,
            r
        );

        // mgmt inq_princ_name (opnum 4): a conformant varying [string] char array.
        use mgmt_idl::mgmt::*;
        let req = RpcMgmtInqPrincNameRequest {
            authn_proto: 9,
            princ_name_size: 32,
        };
        same!(
            v,
            failures,
            format!("princ_in_{name}"),
            RpcMgmtInqPrincNameRequest,
            req,
            s,
            r
        );
        let resp = RpcMgmtInqPrincNameResponse {
            princ_name: ConformantVaryingArray {
                max_count: 32,
                offset: 0,
                items: b"host/h@REALM\0".to_vec(),
            },
            status: 0,
        };
        same!(
            v,
            failures,
            format!("princ_out_{name}"),
            RpcMgmtInqPrincNameResponse,
            resp,
            s,
            r
        );
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The MS-DTYP prelude's `RPC_UNICODE_STRING` and `RPC_SID` against Samba's `lsa_String` and
/// `dom_sid2` (same wire layout; Samba packs the SID inside an `lsa_SidArray`), packed as whole values in NDR20 little-endian (`ndr_pack`).
#[test]
#[ignore = "needs python3-samba: ./scripts/test installs it"]
fn prelude_types_match_samba() {
    use features_idl::*;
    let v = samba_vectors();
    let (s, r) = (Syntax::Ndr20, DataRep::LITTLE_ENDIAN);
    let abc = RPC_UNICODE_STRING {
        Length: 6,
        MaximumLength: 6,
        Buffer: Unique::new(ConformantVaryingArray::new("abc".encode_utf16().collect())),
    };
    assert_eq!(
        msrpc_ndr::encode_all(&abc, s, r).expect("encode"),
        v["lsa_string_ndr20le"]
    );
    let back: RPC_UNICODE_STRING =
        msrpc_ndr::decode_all(&v["lsa_string_ndr20le"], s, r, Default::default(), true)
            .expect("decode");
    assert_eq!(back, abc);
    let null = RPC_UNICODE_STRING {
        Length: 0,
        MaximumLength: 0,
        Buffer: Unique::null(),
    };
    assert_eq!(
        msrpc_ndr::encode_all(&null, s, r).expect("encode"),
        v["lsa_string_null_ndr20le"]
    );
    let sid = RPC_SID {
        Revision: 1,
        SubAuthorityCount: 4,
        IdentifierAuthority: RPC_SID_IDENTIFIER_AUTHORITY {
            Value: [0, 0, 0, 0, 0, 5],
        },
        SubAuthority: ConformantArray(vec![21, 1, 2, 3]),
    };
    // A pointee RPC_SID: hoisted conformance (the sub-authority count), then the structure. In
    // Samba's bytes that is everything after the last referent id.
    let ours = msrpc_ndr::encode_all(&sid, s, r).expect("encode");
    let samba = &v["dom_sid_ndr20le"];
    assert_eq!(&ours[..], &samba[samba.len() - ours.len()..]);
    let back: RPC_SID = msrpc_ndr::decode_all(
        &samba[samba.len() - ours.len()..],
        s,
        r,
        Default::default(),
        true,
    )
    .expect("decode");
    assert_eq!(back, sid);
}
