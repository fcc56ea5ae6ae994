//! The srvsvc subset (`idl/srvsvc.idl`, compiled by `build.rs` into OUT_DIR and `include!`d here
//! exactly as a user crate would) against samba-dcerpcd, compared with python3-samba's srvsvc
//! client on the same server:
//!
//! 1. srvsvc's dynamic port comes from Samba's endpoint mapper (127.0.0.1:135) through the
//!    generated epm client (`ept_map` with an `ncacn_ip_tcp` tower);
//! 2. `NetrServerGetInfo` at levels 100, 101 and 102, and `NetrShareEnum` at level 1, go
//!    through the generated srvsvc client over msrpc's `Binding` (unauthenticated: Samba answers
//!    these calls anonymously over ncacn_ip_tcp; the NTLM test below authenticates them);
//! 3. python3-samba makes the same calls anonymously (`NetSrvGetInfo`, `NetShareEnumAll`:
//!    Samba's names for opnums 21 and 15) and every field must match.
//!
//! Ignored by a plain `cargo test`; `./scripts/test` starts samba-dcerpcd, installs
//! python3-samba and runs them with `--include-ignored`, and a missing peer then fails them.

#![allow(clippy::unwrap_used, non_snake_case)]

mod common;

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use msrpc::generated::epm::{self as epm_idl, epm};
use msrpc::{Binding, Stub as _};
use msrpc_ndr::tower::Tower;
use msrpc_ndr::{ConformantArray, SyntaxId, Unique, WideString};

// Generated code names the runtime as `crate::codegen`; in a user crate that is `::msrpc::codegen`
// (the Builder default). Here the test mounts it at the crate root.
use msrpc::codegen;

mod srvsvc_idl {
    include!(concat!(env!("OUT_DIR"), "/srvsvc.rs"));
}

use srvsvc_idl::srvsvc::{self as s, Client};
use srvsvc_idl::{SERVER_INFO, SHARE_ENUM_STRUCT, SHARE_ENUM_UNION, SHARE_INFO_1_CONTAINER};

const PY: &str = "/usr/bin/python3";

/// Fails the test when samba-dcerpcd or python3-samba is missing.
fn require_peers() {
    common::require_samba();
    common::require_python3_samba("samba.dcerpc.srvsvc");
}

/// Asks Samba's endpoint mapper for srvsvc's ncacn_ip_tcp port with the generated epm client.
async fn srvsvc_port() -> u16 {
    let epm_binding = Binding::from_string("ncacn_ip_tcp:127.0.0.1[135]").unwrap();
    let srvsvc = s::INTERFACE.syntax_id();
    let tower = Tower::ncacn_ip_tcp(srvsvc, SyntaxId::NDR20, 0, Ipv4Addr::UNSPECIFIED)
        .to_bytes()
        .unwrap();
    let resp = epm::Client(&epm_binding)
        .ept_map(epm::EptMapArgs {
            object: Unique::null(),
            map_tower: Unique::new(epm_idl::twr_t {
                tower_length: tower.len() as u32,
                tower_octet_string: ConformantArray(tower),
            }),
            entry_handle: msrpc::ClientContext::null(),
            max_towers: 4,
        })
        .await
        .unwrap();
    assert_eq!(resp.status, 0, "ept_map status");
    let ports: Vec<(Option<Ipv4Addr>, u16)> = resp
        .towers
        .items
        .iter()
        .filter_map(|t| t.as_ref())
        .filter_map(|t| Tower::parse(&t.tower_octet_string.0).ok())
        .filter(|t| t.interface() == Some(srvsvc))
        .filter_map(|t| t.tcp_port().map(|p| (t.ip(), p)))
        .collect();
    let (ip, port) = *ports.first().expect("the epm knows srvsvc on ncacn_ip_tcp");
    assert!(ip.is_none_or(|ip| ip == Ipv4Addr::LOCALHOST), "{ip:?}");
    assert!((49200..=49300).contains(&port), "dynamic port {port}");
    port
}

fn text(s: &Unique<WideString>) -> serde_like::Value {
    match s.as_ref() {
        Some(w) => serde_like::Value::Str(w.to_string()),
        None => serde_like::Value::Null,
    }
}

/// What our client got, in the same line format the Python script prints.
fn ours(port: u16) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{port}]")).unwrap();
        let c = Client(&b);
        let mut lines = Vec::new();
        for level in [100, 101, 102] {
            let r = c
                .netr_server_get_info(s::NetrServerGetInfoRequest {
                    ServerName: Unique::null(),
                    Level: level,
                })
                .await
                .unwrap();
            assert_eq!(r.return_value, 0, "NetrServerGetInfo({level})");
            assert_eq!(r.InfoStruct.discriminant(), level);
            use serde_like::Value::Int;
            let v = match &r.InfoStruct {
                SERVER_INFO::ServerInfo100(p) => {
                    let i = p.as_ref().unwrap();
                    vec![Int(i.sv100_platform_id.into()), text(&i.sv100_name)]
                }
                SERVER_INFO::ServerInfo101(p) => {
                    let i = p.as_ref().unwrap();
                    vec![
                        Int(i.sv101_platform_id.into()),
                        text(&i.sv101_name),
                        Int(i.sv101_version_major.into()),
                        Int(i.sv101_version_minor.into()),
                        Int(i.sv101_type.into()),
                        text(&i.sv101_comment),
                    ]
                }
                SERVER_INFO::ServerInfo102(p) => {
                    let i = p.as_ref().unwrap();
                    vec![
                        Int(i.sv102_platform_id.into()),
                        text(&i.sv102_name),
                        Int(i.sv102_version_major.into()),
                        Int(i.sv102_version_minor.into()),
                        Int(i.sv102_type.into()),
                        text(&i.sv102_comment),
                        Int(i.sv102_users.into()),
                        Int(i.sv102_disc.into()),
                        Int(i.sv102_hidden.into()),
                        Int(i.sv102_announce.into()),
                        Int(i.sv102_anndelta.into()),
                        Int(i.sv102_licenses.into()),
                        text(&i.sv102_userpath),
                    ]
                }
                #[allow(unreachable_patterns)]
                other => panic!("unexpected arm {other:?}"),
            };
            lines.push(format!("info{level} {}", serde_like::join(&v)));
        }

        let r = c
            .netr_share_enum(s::NetrShareEnumRequest {
                ServerName: Unique::null(),
                InfoStruct: SHARE_ENUM_STRUCT {
                    Level: 1,
                    ShareInfo: SHARE_ENUM_UNION::Level1(Unique::new(SHARE_INFO_1_CONTAINER {
                        EntriesRead: 0,
                        Buffer: Unique::null(),
                    })),
                },
                PreferedMaximumLength: u32::MAX,
                ResumeHandle: Unique::new(0),
            })
            .await
            .unwrap();
        assert_eq!(r.return_value, 0, "NetrShareEnum");
        let SHARE_ENUM_UNION::Level1(ctr) = &r.InfoStruct.ShareInfo else {
            panic!("level 1 asked, got {:?}", r.InfoStruct.ShareInfo)
        };
        let ctr = ctr.as_ref().unwrap();
        let shares = ctr.Buffer.as_ref().map(|a| a.0.as_slice()).unwrap_or(&[]);
        assert_eq!(ctr.EntriesRead as usize, shares.len());
        lines.push(format!(
            "shares total={} read={}",
            r.TotalEntries, ctr.EntriesRead
        ));
        for sh in shares {
            use serde_like::Value::Int;
            lines.push(format!(
                "share {}",
                serde_like::join(&[
                    text(&sh.shi1_netname),
                    Int(sh.shi1_type.into()),
                    text(&sh.shi1_remark)
                ])
            ));
        }

        // The reply of one call re-encodes to Samba's exact bytes (nothing lost in decoding).
        let reply = b
            .call(s::INTERFACE.syntax_id(), 21, |syntax, rep| {
                s::NetrServerGetInfoRequest {
                    ServerName: Unique::null(),
                    Level: 102,
                }
                .encode(syntax, rep)
            })
            .await
            .unwrap();
        let decoded =
            s::NetrServerGetInfoResponse::decode(&reply.stub, reply.syntax, reply.drep).unwrap();
        assert_eq!(
            decoded.encode(reply.syntax, reply.drep).unwrap(),
            reply.stub,
            "NetrServerGetInfo(102) reply does not re-encode to Samba's bytes"
        );
        lines
    })
}

const SCRIPT: &str = r#"
import sys
from samba import param, credentials
from samba.dcerpc import srvsvc
lp = param.LoadParm()
creds = credentials.Credentials()
creds.guess(lp)
creds.set_anonymous()
c = srvsvc.srvsvc('ncacn_ip_tcp:127.0.0.1[%s]' % sys.argv[1], lp, creds)
def v(x):
    if x is None:
        return 'null'
    if isinstance(x, str):
        return repr(x)
    return str(int(x))
def line(tag, vals):
    print(tag + ' ' + ' '.join(v(x) for x in vals))
i = c.NetSrvGetInfo(None, 100)
line('info100', [i.platform_id, i.server_name])
i = c.NetSrvGetInfo(None, 101)
line('info101', [i.platform_id, i.server_name, i.version_major, i.version_minor, i.server_type, i.comment])
i = c.NetSrvGetInfo(None, 102)
line('info102', [i.platform_id, i.server_name, i.version_major, i.version_minor, i.server_type, i.comment,
                 i.users, i.disc, i.hidden, i.announce, i.anndelta, i.licenses, i.userpath])
ctr = srvsvc.NetShareInfoCtr()
ctr.level = 1
ctr.ctr = srvsvc.NetShareCtr1()
ctr, total, resume = c.NetShareEnumAll(None, ctr, 0xffffffff, 0)
arr = ctr.ctr.array or []
print('shares total=%d read=%d' % (total, ctr.ctr.count))
for s in arr:
    line('share', [s.name, s.type, s.comment])
"#;

fn theirs(port: u16) -> Vec<String> {
    let out = Command::new(PY)
        .args(["-c", SCRIPT, &port.to_string()])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python3-samba failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
#[ignore = "needs samba-dcerpcd and python3-samba: ./scripts/test starts it"]
fn srvsvc_subset_matches_python3_samba() {
    require_peers();
    let port = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(srvsvc_port());
    let ours = ours(port);
    let theirs = theirs(port);
    eprintln!("srvsvc on 127.0.0.1[{port}]:");
    for l in &ours {
        eprintln!("  {l}");
    }
    assert!(
        ours.iter().any(|l| l.starts_with("share 'IPC$'")),
        "{ours:?}"
    );
    assert_eq!(
        ours, theirs,
        "msrpc (left) and python3-samba (right) disagree"
    );
}

/// The tiny value printer both sides share (Python's `repr` of plain ASCII strings).
mod serde_like {
    pub(crate) enum Value {
        Null,
        Int(i64),
        Str(String),
    }

    pub(crate) fn join(v: &[Value]) -> String {
        v.iter()
            .map(|x| match x {
                Value::Null => "null".to_string(),
                Value::Int(i) => i.to_string(),
                Value::Str(s) => py_repr(s),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Python's `repr` for strings without quotes or backslashes of both kinds.
    fn py_repr(s: &str) -> String {
        if s.contains('\'') && !s.contains('"') {
            format!("\"{s}\"")
        } else {
            format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
        }
    }
}

/// The password scripts/peers/samba.sh gave user `msrpc` (from MSRPC_SAMBA_DIR, else the default
/// run directory).
fn samba_password() -> String {
    let dir = std::env::var("MSRPC_SAMBA_DIR").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/peers/run/samba").to_owned()
    });
    std::fs::read_to_string(format!("{dir}/password"))
        .map(|p| p.trim().to_owned())
        .unwrap_or_else(|_| "Passw0rd!".to_owned())
}

/// NTLM against samba-dcerpcd: `NetrServerGetInfo(101)` at every level our client offers (signed
/// and sealed fragments in both directions, Samba verifying ours and we verifying Samba's), and a
/// wrong password refused with access denied.
#[test]
#[ignore = "needs samba-dcerpcd: ./scripts/test starts it"]
fn ntlm_to_samba_srvsvc_at_every_level_and_a_wrong_password() {
    use msrpc::{AuthInfo, AuthnLevel, BindingOptions, Credentials, Win32Status};
    require_peers();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let port = srvsvc_port().await;
        let text = format!("ncacn_ip_tcp:127.0.0.1[{port}]");
        let call = |user: &str, password: String, level: AuthnLevel, spnego: bool| {
            let mut opts = BindingOptions::default();
            let creds = Credentials::parse(user, password);
            opts.auth = Some(if spnego {
                AuthInfo::negotiate(level, creds)
            } else {
                AuthInfo::ntlm(level, creds)
            });
            opts.call_timeout = Some(Duration::from_secs(20));
            let b = Binding::with_options(&text, opts).unwrap();
            async move {
                let r = Client(&b)
                    .netr_server_get_info(s::NetrServerGetInfoRequest {
                        ServerName: Unique::null(),
                        Level: 101,
                    })
                    .await?;
                // A second interface on the same authenticated connection (alter_context).
                let listening = msrpc::mgmt::is_server_listening(&b).await?;
                assert!(listening);
                assert_eq!(b.connection_count(), 1);
                Ok::<_, msrpc::Error>(r)
            }
        };
        // Connect needs `allow dcerpc auth level connect = yes` (scripts/peers/samba.sh sets it).
        // SPNEGO (auth type 9) takes one more leg, over alter_context.
        for (level, spnego) in [
            (AuthnLevel::Connect, false),
            (AuthnLevel::Pkt, false),
            (AuthnLevel::PktIntegrity, false),
            (AuthnLevel::PktPrivacy, false),
            (AuthnLevel::PktIntegrity, true),
            (AuthnLevel::PktPrivacy, true),
        ] {
            let level_name = format!("{level}{}", if spnego { " spnego" } else { "" });
            let level_name = level_name.as_str();
            match call("msrpc", samba_password(), level, spnego).await {
                Ok(r) => {
                    assert_eq!(r.return_value, 0, "{level_name}");
                    let SERVER_INFO::ServerInfo101(i) = &r.InfoStruct else {
                        panic!("{level_name}: {:?}", r.InfoStruct)
                    };
                    let name = i.as_ref().unwrap().sv101_name.as_ref().unwrap().to_string();
                    assert_eq!(name, "PEERSRV", "{level_name}");
                }
                Err(e) => panic!("{level_name}: {e}"),
            }
            // At the connect level requests carry no trailer, and Samba serves them as
            // anonymous calls after a failed logon (docs/interop.md); from the packet level on,
            // the first call after a failed logon is refused.
            if level >= AuthnLevel::Pkt {
                let e = call("msrpc", "not-the-password".into(), level, spnego)
                    .await
                    .unwrap_err();
                assert_eq!(
                    e.status(),
                    Win32Status::ERROR_ACCESS_DENIED,
                    "{level_name}: {e}"
                );
            }
        }
    });
}
