//! The thin layer against Samba: smbd's named pipes (scripts/peers/smbd.sh, `MSRPC_SMBD_DIR`)
//! and samba-dcerpcd over TCP (scripts/peers/samba.sh on 127.0.0.1:135, `MSRPC_SAMBA_DIR`).
//! Ignored by a plain `cargo test`; `./scripts/test` starts both and runs them.

#![allow(clippy::unwrap_used)]
#![cfg(all(
    feature = "srvsvc",
    feature = "samr",
    feature = "lsarpc",
    feature = "ncacn-np"
))]

mod common;

use common::{np, peer_dir};

// The per-operation runs (every_operation_samba_implements_over_*) need every interface they
// call; the workspace build has only the CLI's six, and scripts/test runs them with --features all.
#[cfg(all(
    feature = "wkssvc",
    feature = "svcctl",
    feature = "winreg",
    feature = "eventlog"
))]
#[path = "peers/per_op.rs"]
mod per_op;
#[cfg(all(
    feature = "wkssvc",
    feature = "svcctl",
    feature = "winreg",
    feature = "eventlog"
))]
use per_op::{
    ops, ops_eventlog, ops_lsa, ops_samr, ops_srvsvc, ops_svcctl, ops_winreg, ops_wkssvc,
};

use msrpc::{AuthInfo, AuthnLevel, Binding, BindingOptions, Credentials, Win32Status};
use msrpc_windows::lsat::{POLICY_READ_AND_LOOKUP, Policy};
use msrpc_windows::samr::SamServer;
use msrpc_windows::{Error, Sid, srvsvc};

fn tcp() -> Binding {
    let dir = peer_dir("MSRPC_SAMBA_DIR", "../../target/peers/run/samba");
    let pw = std::fs::read_to_string(dir.join("password"))
        .map(|p| p.trim().to_owned())
        .unwrap_or_else(|_| "Passw0rd!".to_owned());
    let mut o = BindingOptions::default();
    o.auth = Some(AuthInfo::ntlm(
        AuthnLevel::PktPrivacy,
        Credentials::parse("msrpc", &pw),
    ));
    // No endpoint: msrpc asks the host's endpoint mapper (127.0.0.1:135) for each interface.
    Binding::with_options("ncacn_ip_tcp:127.0.0.1", o).unwrap()
}

/// Shares, the SAM's domains, users and groups, and the account domain's SIDs translated, all
/// through the thin layer over `b(pipe)`.
///
/// Over TCP (`lsa: false`) Samba serves lsarpc only for LsarLookupSids3/LsarLookupNames4 under a
/// Netlogon secure channel, as Windows does ([MS-LSAT] 3.1.4.9): LsarOpenPolicy2 is faulted with
/// access denied there, and the test checks exactly that.
async fn everything(b: impl Fn(&str) -> Binding, lsa: bool) {
    let shares = srvsvc::shares(&b("srvsvc")).await.unwrap();
    let ipc = shares
        .iter()
        .find(|s| s.name == "IPC$")
        .expect("IPC$ listed");
    assert_eq!(ipc.kind, 0x8000_0003, "STYPE_IPC | STYPE_SPECIAL");
    assert_eq!(ipc.kind_name(), "IPC (special)");

    let sam_b = b("samr");
    let sam = SamServer::connect(&sam_b).await.unwrap();
    let domains = sam.domains().await.unwrap();
    assert!(domains.iter().any(|d| d == "Builtin"), "{domains:?}");
    let (name, domain) = sam.account_domain().await.unwrap();
    assert!(domains.contains(&name));
    let sid = domain.sid().clone();
    assert!(sid.to_string().starts_with("S-1-5-21-"), "{sid}");
    let mut pages = 0;
    let users = domain.users(&mut |_| pages += 1).await.unwrap();
    assert!(pages >= 1);
    let me = users
        .iter()
        .find(|u| u.name == "msrpc")
        .expect("user msrpc");
    assert!(me.rid >= 1000, "{me:?}");
    domain.groups(&mut |_| {}).await.unwrap();
    domain.aliases(&mut |_| {}).await.unwrap();
    let builtin = sam
        .open_domain(&sam.lookup_domain("Builtin").await.unwrap())
        .await
        .unwrap();
    assert_eq!(builtin.sid().to_string(), "S-1-5-32");
    builtin.aliases(&mut |_| {}).await.unwrap();
    // A handle that was closed is refused before anything is sent.
    let h = domain.handle().context().clone();
    domain.close().await.unwrap();
    let again = msrpc_windows::samr::samr::Client(&sam_b)
        .samr_enumerate_users_in_domain(msrpc_windows::samr::samr::SamrEnumerateUsersInDomainArgs {
            DomainHandle: h,
            EnumerationContext: 0,
            UserAccountControl: 0,
            PreferedMaximumLength: 1024,
        })
        .await
        .expect_err("closed handle");
    assert_eq!(again.status(), Win32Status::ERROR_INVALID_HANDLE, "{again}");
    drop(builtin); // closes in the background
    sam.close().await.unwrap();

    if !lsa {
        let err = Policy::open(&b("lsarpc"), POLICY_READ_AND_LOOKUP)
            .await
            .expect_err("lsarpc over TCP without a secure channel");
        assert_eq!(err.win32(), Some(Win32Status::ERROR_ACCESS_DENIED), "{err}");
        return;
    }
    let lsa = Policy::open(&b("lsarpc"), POLICY_READ_AND_LOOKUP)
        .await
        .unwrap();
    let (lsa_name, lsa_sid) = lsa.account_domain().await.unwrap();
    assert_eq!(lsa_sid, sid, "LSA and SAM agree on the account domain");
    assert!(lsa_name.eq_ignore_ascii_case(&name));
    let bogus: Sid = format!("{sid}-999999").parse().unwrap();
    let t = lsa
        .lookup_sids(&[sid.with_rid(me.rid), bogus.clone()])
        .await
        .unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(
        (t[0].name.as_str(), t[0].kind_name()),
        ("msrpc", "SidTypeUser")
    );
    assert!(t[0].domain.eq_ignore_ascii_case(&name), "{:?}", t[0]);
    assert_eq!(
        (t[1].sid.clone(), t[1].kind_name()),
        (bogus.clone(), "SidTypeUnknown")
    );
    // None of them mapping is an empty answer, not an error.
    assert!(lsa.lookup_sids(&[bogus]).await.unwrap().is_empty());
    lsa.close().await.unwrap();
}

#[test]
#[ignore = "needs smbd: ./scripts/test starts it (scripts/peers/smbd.sh)"]
fn samba_over_named_pipes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(everything(np, true));
}

#[test]
#[ignore = "needs samba-dcerpcd: ./scripts/test starts it (scripts/peers/samba.sh)"]
fn samba_dcerpcd_over_tcp() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(everything(|_| tcp(), false));
}

#[test]
#[ignore = "needs smbd: ./scripts/test starts it (scripts/peers/smbd.sh)"]
fn errors_carry_the_status_name() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sam = SamServer::connect(&np("samr")).await.unwrap();
        let err = sam
            .lookup_domain("NoSuchDomain")
            .await
            .expect_err("no such domain");
        assert!(matches!(err, Error::Nt { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("STATUS_NO_SUCH_DOMAIN (0xC00000DF)"),
            "{err}"
        );
    });
}

/// svcctl, winreg and eventlog over smbd's pipes: Samba's service list, its registry's
/// `CurrentVersion` key, and an event log it does not keep refused by NT name.
#[cfg(all(feature = "svcctl", feature = "winreg", feature = "eventlog"))]
#[test]
#[ignore = "needs smbd: ./scripts/test starts it (scripts/peers/smbd.sh)"]
fn services_registry_and_eventlog_over_named_pipes() {
    use msrpc_windows::winreg::Key;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let services = msrpc_windows::svcctl::services(&np("svcctl"))
            .await
            .unwrap();
        let rr = services
            .iter()
            .find(|s| s.name == "RemoteRegistry")
            .expect("Samba lists RemoteRegistry");
        assert_eq!(rr.state_name(), "RUNNING", "{rr:?}");

        let b = np("winreg");
        let k = Key::open(&b, r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion")
            .await
            .unwrap();
        let subkeys = k.subkeys().await.unwrap();
        assert!(subkeys.iter().any(|s| s == "Winlogon"), "{subkeys:?}");
        let values = k.values().await.unwrap();
        let root = values
            .iter()
            .find(|v| v.name == "SystemRoot")
            .expect("SystemRoot");
        assert_eq!(root.kind_name(), "REG_SZ");
        assert!(
            root.display().to_ascii_lowercase().ends_with(r"\windows"),
            "{root:?}"
        );
        k.close().await.unwrap();
        let err = Key::open(&b, r"HKLM\NoSuchKey\AtAll")
            .await
            .expect_err("missing key");
        assert_eq!(
            err.win32(),
            Some(Win32Status(2)),
            "ERROR_FILE_NOT_FOUND: {err}"
        );

        let err = msrpc_windows::eventlog::newest_records(&np("eventlog"), "Security", 5)
            .await
            .expect_err("smbd keeps no Security log");
        assert!(matches!(err, Error::Nt { .. }), "{err:?}");
        assert!(err.to_string().starts_with("ElfrOpenELW: STATUS_"), "{err}");
    });
}

/// Every operation Samba implements for srvsvc, wkssvc, winreg, svcctl and eventlog (tests/peers/
/// ops*.rs), over smbd's pipes: each outcome as expected, the count printed.
#[cfg(all(
    feature = "wkssvc",
    feature = "svcctl",
    feature = "winreg",
    feature = "eventlog"
))]
#[test]
#[ignore = "needs smbd: ./scripts/test starts it (scripts/peers/smbd.sh)"]
fn every_operation_samba_implements_over_named_pipes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        ops::report(&every_operation(np, ops::Peer::Smbd).await);
    });
}

/// Each interface's run of tests/peers/ops_*.rs over `b(pipe)`.
#[cfg(all(
    feature = "wkssvc",
    feature = "svcctl",
    feature = "winreg",
    feature = "eventlog"
))]
async fn every_operation(b: impl Fn(&str) -> Binding, peer: ops::Peer) -> Vec<ops::Tally> {
    vec![
        ops_srvsvc::run(&b("srvsvc"), peer).await,
        ops_wkssvc::run(&b("wkssvc"), peer).await,
        ops_winreg::run(&b("winreg"), peer).await,
        ops_svcctl::run(&b("svcctl"), peer).await,
        ops_eventlog::run(&b("eventlog"), peer).await,
        ops_samr::run(&b("samr"), peer).await,
        ops_lsa::run(&b("lsarpc"), peer).await,
    ]
}

/// The same runs over samba-dcerpcd's `ncacn_ip_tcp` endpoints (each resolved through its
/// endpoint mapper on 127.0.0.1:135, NTLM at privacy), with the outcomes Samba gives over TCP
/// where they differ from the pipes' (each said at its call in tests/peers/ops_*.rs).
#[cfg(all(
    feature = "wkssvc",
    feature = "svcctl",
    feature = "winreg",
    feature = "eventlog"
))]
#[test]
#[ignore = "needs PEER: samba-dcerpcd (./scripts/test starts it, scripts/peers/samba.sh)"]
fn every_operation_samba_implements_over_tcp() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        ops::report(&every_operation(|_| tcp(), ops::Peer::Dcerpcd).await);
    });
}

/// Which transfer syntax each interface's bind gets when it offers NDR20 and NDR64 (msrpc's
/// default, as a 64-bit Windows client offers), over `b(pipe)`: one call per interface through
/// `Binding::call`, the syntax the encoder is handed recorded and the reply decoded in it. Gives,
/// per interface, the syntax (`None` when no bind was made) and the call's error, if any.
#[cfg(all(
    feature = "wkssvc",
    feature = "svcctl",
    feature = "winreg",
    feature = "eventlog"
))]
async fn syntaxes(
    b: impl Fn(&str) -> Binding,
) -> Vec<(
    &'static str,
    Option<msrpc::codegen::ndr::Syntax>,
    Option<Win32Status>,
)> {
    use std::sync::{Arc, Mutex};

    use msrpc::Stub;
    use msrpc::codegen::ndr::{Syntax, Unique};
    use msrpc_windows::{eventlog, lsat, samr, svcctl, unicode_string, winreg, wkssvc};

    async fn probe<Req: Stub + Send + 'static, Resp: Stub>(
        b: Binding,
        iface: msrpc::codegen::ndr::SyntaxId,
        req: Req,
    ) -> (Option<Syntax>, Option<Win32Status>) {
        assert!(b.options().offer_ndr64, "NDR64 offered by default");
        let seen = Arc::new(Mutex::new(None));
        let s2 = seen.clone();
        let reply = b
            .call(iface, Req::OPNUM, move |syntax, rep| {
                *s2.lock().unwrap() = Some(syntax);
                req.encode(syntax, rep)
            })
            .await;
        let syntax = *seen.lock().unwrap();
        match reply {
            Ok(reply) => {
                assert_eq!(
                    Some(reply.syntax),
                    syntax,
                    "the reply's syntax is the bind's"
                );
                Resp::decode(&reply.stub, reply.syntax, reply.drep)
                    .unwrap_or_else(|e| panic!("reply in {syntax:?}: {e}"));
                (syntax, None)
            }
            Err(e) => (syntax, Some(e.status())),
        }
    }

    let got = vec![
        (
            "srvsvc",
            probe::<_, srvsvc::srvsvc::NetrRemoteTODResponse>(
                b("srvsvc"),
                srvsvc::srvsvc::INTERFACE.syntax_id(),
                srvsvc::srvsvc::NetrRemoteTODRequest {
                    ServerName: Unique::default(),
                },
            )
            .await,
        ),
        (
            "wkssvc",
            probe::<_, wkssvc::wkssvc::NetrWkstaGetInfoResponse>(
                b("wkssvc"),
                wkssvc::wkssvc::INTERFACE.syntax_id(),
                wkssvc::wkssvc::NetrWkstaGetInfoRequest {
                    ServerName: Unique::default(),
                    Level: 100,
                },
            )
            .await,
        ),
        (
            "winreg",
            probe::<_, winreg::winreg::OpenLocalMachineResponse>(
                b("winreg"),
                winreg::winreg::INTERFACE.syntax_id(),
                winreg::winreg::OpenLocalMachineRequest {
                    ServerName: Unique::default(),
                    samDesired: 0x0002_0019,
                },
            )
            .await,
        ),
        (
            "svcctl",
            probe::<_, svcctl::svcctl::ROpenSCManagerWResponse>(
                b("svcctl"),
                svcctl::svcctl::INTERFACE.syntax_id(),
                svcctl::svcctl::ROpenSCManagerWRequest {
                    lpMachineName: Unique::default(),
                    lpDatabaseName: Unique::default(),
                    dwDesiredAccess: 0x0001,
                },
            )
            .await,
        ),
        (
            "samr",
            probe::<_, samr::samr::SamrGetDomainPasswordInformationResponse>(
                b("samr"),
                samr::samr::INTERFACE.syntax_id(),
                samr::samr::SamrGetDomainPasswordInformationRequest {
                    Unused: Unique::default(),
                },
            )
            .await,
        ),
        (
            "lsarpc",
            probe::<_, lsat::lsarpc::LsarGetUserNameResponse>(
                b("lsarpc"),
                lsat::lsarpc::INTERFACE.syntax_id(),
                lsat::lsarpc::LsarGetUserNameRequest {
                    SystemName: Unique::default(),
                    UserName: Unique::default(),
                    DomainName: Unique::new(Unique::default()),
                },
            )
            .await,
        ),
        (
            "eventlog",
            probe::<_, eventlog::eventlog::ElfrOpenELWResponse>(
                b("eventlog"),
                eventlog::eventlog::INTERFACE.syntax_id(),
                eventlog::eventlog::ElfrOpenELWRequest {
                    UNCServerName: Unique::default(),
                    ModuleName: unicode_string("Application"),
                    RegModuleName: unicode_string(""),
                    MajorVersion: 1,
                    MinorVersion: 1,
                },
            )
            .await,
        ),
    ];
    got.into_iter().map(|(n, (s, e))| (n, s, e)).collect()
}

/// smbd's pipes (4.17 here) negotiate NDR20 on every one, so NDR64 is exercised by the
/// round-trip tests only.
#[cfg(all(
    feature = "wkssvc",
    feature = "svcctl",
    feature = "winreg",
    feature = "eventlog"
))]
#[test]
#[ignore = "needs smbd: ./scripts/test starts it (scripts/peers/smbd.sh)"]
fn syntax_negotiated_on_each_pipe_when_ndr64_is_offered() {
    use msrpc::codegen::ndr::Syntax;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let got = syntaxes(np).await;
        for (pipe, syntax, err) in &got {
            println!("{pipe}: offered NDR20 and NDR64, smbd chose {syntax:?}");
            assert_eq!(*err, None, "{pipe}");
        }
        assert!(
            got.iter().all(|(_, s, _)| *s == Some(Syntax::Ndr20)),
            "Samba chose NDR64 somewhere (update the docs and run the ops at NDR64): {got:?}"
        );
    });
}

/// The same over samba-dcerpcd's TCP: srvsvc, wkssvc, winreg and samr answer the call; lsarpc's
/// (LsarGetUserName) is refused by Samba's transport check after the bind; svcctl and eventlog
/// are not served over TCP (no bind). Every bind made negotiates NDR20.
#[cfg(all(
    feature = "wkssvc",
    feature = "svcctl",
    feature = "winreg",
    feature = "eventlog"
))]
#[test]
#[ignore = "needs PEER: samba-dcerpcd (./scripts/test starts it, scripts/peers/samba.sh)"]
fn syntax_negotiated_over_tcp_when_ndr64_is_offered() {
    use msrpc::codegen::ndr::Syntax;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let got = syntaxes(|_| tcp()).await;
        for (iface, syntax, err) in &got {
            println!("{iface}: offered NDR20 and NDR64, samba-dcerpcd chose {syntax:?} ({err:?})");
            let (want_syntax, want_err) = match *iface {
                "svcctl" | "eventlog" => (None, Some(Win32Status(1753))),
                "lsarpc" => (Some(Syntax::Ndr20), Some(Win32Status::ERROR_ACCESS_DENIED)),
                _ => (Some(Syntax::Ndr20), None),
            };
            assert_eq!(
                (*syntax, *err),
                (want_syntax, want_err),
                "{iface} (NDR64 chosen? update the docs and run the ops at NDR64)"
            );
        }
    });
}
