//! netlogon's secure channel and Schannel against the Samba AD DC of `scripts/peers/addc.sh`
//! (workstation account MSRPCWS$ with a known password), over ncacn_ip_tcp through the DC's
//! endpoint mapper, inside the DC's network namespace:
//!
//! ```sh
//! scripts/peers/addc.sh start /tmp/addc
//! scripts/peers/addc.sh exec /tmp/addc cargo test -p msrpc-windows --features all --test addc_schannel -- --include-ignored
//! ```

#![allow(clippy::unwrap_used)]
#![cfg(all(feature = "netlogon", feature = "lsarpc"))]

use msrpc::{AuthnLevel, Binding, Win32Status};
use msrpc_windows::netlogon::{
    CAPABILITIES_NEGOTIATED, CAPABILITIES_REQUESTED, MachineSecret, NETLOGON_NEG_SUPPORTS_AES,
    NETLOGON_SECURE_CHANNEL_TYPE, SecureChannel,
};
use msrpc_windows::{Error, NtStatus, Sid, lsat};

fn var(k: &str) -> String {
    std::env::var(k)
        .unwrap_or_else(|_| panic!("{k} unset: run inside `scripts/peers/addc.sh exec`"))
}

fn file(k: &str) -> String {
    std::fs::read_to_string(var(k)).unwrap().trim().to_owned()
}

/// The DC keeps one secure channel, one session key, per machine account ([MS-NRPC] 3.1.4.3:
/// a new NetrServerAuthenticate3 for MSRPCWS$ replaces the session of the one before). The
/// tests all use MSRPCWS$, so they take turns: a test's channel would otherwise be replaced
/// under it by another test's, and its next call faulted `nca_s_fault_sec_pkg_error`.
fn one_channel_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static CHANNEL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    CHANNEL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

const WORKSTATION: NETLOGON_SECURE_CHANNEL_TYPE =
    NETLOGON_SECURE_CHANNEL_TYPE::WorkstationSecureChannel;

/// The DC's endpoint mapper (127.0.0.1:135 in its namespace) gives netlogon's and lsarpc's
/// ports.
const DC: &str = "ncacn_ip_tcp:127.0.0.1";

async fn establish() -> SecureChannel {
    let b = Binding::from_string(DC).unwrap();
    let secret = MachineSecret::Password(file("MSRPC_ADDC_MACHINE_PASSWORD_FILE"));
    SecureChannel::establish(
        &b,
        &var("MSRPC_ADDC_MACHINE"),
        &var("MSRPC_ADDC_DOMAIN"),
        &secret,
        WORKSTATION,
    )
    .await
    .unwrap()
}

#[test]
#[ignore = "needs PEER: the Samba AD DC (scripts/peers/addc.sh), in its namespace"]
fn addc_schannel_establish_right_and_wrong_secret() {
    let _turn = one_channel_at_a_time();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ch = establish().await;
        eprintln!("{ch:?}");
        assert_ne!(ch.negotiated_flags() & NETLOGON_NEG_SUPPORTS_AES, 0);
        // The server ANDs: nothing it returns was not offered.
        assert_eq!(ch.negotiated_flags() & !ch.requested_flags(), 0);
        assert!(ch.account_rid() >= 1000, "{ch:?}");
        assert_eq!(ch.account(), format!("{}$", var("MSRPC_ADDC_MACHINE")));
        // A second channel has another session key (fresh challenges).
        let again = establish().await;
        assert_ne!(again.session_key(), ch.session_key());

        // The NT hash works as the password does.
        let b = Binding::from_string(DC).unwrap();
        let hash = MachineSecret::Password(file("MSRPC_ADDC_MACHINE_PASSWORD_FILE")).nt_hash();
        SecureChannel::establish(
            &b,
            &var("MSRPC_ADDC_MACHINE"),
            &var("MSRPC_ADDC_DOMAIN"),
            &MachineSecret::NtHash(hash),
            WORKSTATION,
        )
        .await
        .unwrap();

        let wrong = SecureChannel::establish(
            &b,
            &var("MSRPC_ADDC_MACHINE"),
            &var("MSRPC_ADDC_DOMAIN"),
            &MachineSecret::Password("not-the-machine-password".into()),
            WORKSTATION,
        )
        .await
        .expect_err("a wrong machine password");
        assert!(
            matches!(
                wrong,
                Error::Nt {
                    op: "NetrServerAuthenticate3",
                    status: NtStatus::STATUS_ACCESS_DENIED
                }
            ),
            "{wrong:?}"
        );
    });
}

#[test]
#[ignore = "needs PEER: the Samba AD DC (scripts/peers/addc.sh), in its namespace"]
fn addc_schannel_get_capabilities_verifies_the_return_authenticator() {
    let _turn = one_channel_at_a_time();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut ch = establish().await;
        let host = var("MSRPC_ADDC_DC_HOST");
        let b = ch.binding(DC, AuthnLevel::PktPrivacy).unwrap();
        // Three calls: the authenticator chain advances with each, and each return
        // authenticator verifies.
        for _ in 0..3 {
            let f = ch
                .get_capabilities(&b, &format!(r"\\{host}"), CAPABILITIES_NEGOTIATED)
                .await
                .unwrap();
            assert_eq!(f, ch.negotiated_flags());
        }
        match ch
            .get_capabilities(&b, &format!(r"\\{host}"), CAPABILITIES_REQUESTED)
            .await
        {
            Ok(f) => assert_eq!(f, ch.requested_flags()),
            // Samba 4.17 faults level 2 (invalid union tag) without stepping its chain;
            // get_capabilities steps ours back, and the next call shows the two agree.
            Err(e) => {
                eprintln!("level 2: {e}");
                assert_eq!(e.win32(), Some(Win32Status(1733)), "{e:?}");
            }
        }
        let f = ch
            .get_capabilities(&b, &format!(r"\\{host}"), CAPABILITIES_NEGOTIATED)
            .await
            .unwrap();
        assert_eq!(f, ch.negotiated_flags());
        // At integrity (signed, not sealed) the DC refuses netlogon's authenticated calls
        // (Samba 4.17: `server schannel require seal`, the default since CVE-2022-38023).
        let mut signed = establish().await;
        let bi = signed.binding(DC, AuthnLevel::PktIntegrity).unwrap();
        let e = signed
            .get_capabilities(&bi, &format!(r"\\{host}"), CAPABILITIES_NEGOTIATED)
            .await
            .expect_err("netlogon at integrity");
        assert!(
            matches!(
                e,
                Error::Nt {
                    status: NtStatus::STATUS_ACCESS_DENIED,
                    ..
                }
            ),
            "{e:?}"
        );
        // An authenticator off the chain (the next one skipped) is refused by the server.
        let _ = ch.next_authenticator(1);
        let e = ch
            .get_capabilities(&b, &format!(r"\\{host}"), CAPABILITIES_NEGOTIATED)
            .await
            .expect_err("an authenticator off the chain");
        assert!(
            matches!(
                e,
                Error::Nt {
                    op: "NetrLogonGetCapabilities",
                    status: NtStatus::STATUS_ACCESS_DENIED
                }
            ),
            "{e:?}"
        );
    });
}

#[test]
#[ignore = "needs PEER: the Samba AD DC (scripts/peers/addc.sh), in its namespace"]
fn addc_schannel_lookup_sids3_and_names4_over_tcp() {
    let _turn = one_channel_at_a_time();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ch = establish().await;
        let alice: Sid = var("MSRPC_ADDC_USER_SID").parse().unwrap();
        let user = var("MSRPC_ADDC_USER");
        for level in [AuthnLevel::PktPrivacy, AuthnLevel::PktIntegrity] {
            let b = ch.binding(DC, level).unwrap();
            let got = lsat::lookup_sids3(&b, std::slice::from_ref(&alice))
                .await
                .unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].name, user, "{got:?}");
            assert!(
                got[0]
                    .domain
                    .eq_ignore_ascii_case(&var("MSRPC_ADDC_DOMAIN")),
                "{got:?}"
            );
            assert_eq!(got[0].kind_name(), "SidTypeUser");
            let names = lsat::lookup_names4(&b, &[user.as_str()]).await.unwrap();
            assert_eq!(names.len(), 1);
            assert_eq!(names[0].sid.as_ref(), Some(&alice), "{names:?}");
        }
        // Without Schannel the DC refuses LookupSids3 over TCP.
        let plain = Binding::from_string(DC).unwrap();
        let e = lsat::lookup_sids3(&plain, std::slice::from_ref(&alice))
            .await
            .expect_err("LookupSids3 over TCP without Schannel");
        assert_eq!(e.win32(), Some(Win32Status::ERROR_ACCESS_DENIED), "{e:?}");
    });
}

/// How many LookupSids3 calls the parallel test starts at once.
const PARALLEL_CALLS: usize = 20;

#[test]
#[ignore = "needs PEER: the Samba AD DC (scripts/peers/addc.sh), in its namespace"]
fn addc_schannel_parallel_calls_on_one_binding() {
    let _turn = one_channel_at_a_time();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ch = establish().await;
        let alice: Sid = var("MSRPC_ADDC_USER_SID").parse().unwrap();
        let b = ch.binding(DC, AuthnLevel::PktPrivacy).unwrap();
        let mut tasks = Vec::new();
        for _ in 0..PARALLEL_CALLS {
            let (b, alice) = (b.clone(), alice.clone());
            tasks.push(tokio::spawn(async move {
                lsat::lookup_sids3(&b, std::slice::from_ref(&alice)).await
            }));
        }
        for t in tasks {
            let got = t.await.unwrap().unwrap();
            assert_eq!(got[0].name, var("MSRPC_ADDC_USER"));
        }
        // All on one connection, one after the other (msrpc's client holds back a Schannel
        // connection's next request until the call before has its answer; sent at once, the
        // crossing sequence numbers fail with SEC_E_OUT_OF_SEQUENCE).
        assert_eq!(b.connection_count(), 1);
    });
}

#[test]
#[ignore = "needs PEER: the Samba AD DC (scripts/peers/addc.sh), in its namespace"]
fn addc_schannel_sam_logon_ex_passes_alices_ntlmv2_logon() {
    let _turn = one_channel_at_a_time();
    use msrpc_windows::netlogon::{av_pairs, ntlmv2_response};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ch = establish().await;
        let b = ch.binding(DC, AuthnLevel::PktPrivacy).unwrap();
        let domain = var("MSRPC_ADDC_DOMAIN");
        let user = var("MSRPC_ADDC_USER");
        let alice: Sid = var("MSRPC_ADDC_USER_SID").parse().unwrap();
        let testers: Sid = var("MSRPC_ADDC_TESTERS_SID").parse().unwrap();
        let respond = |password: &str| {
            let nt = MachineSecret::Password(password.into()).nt_hash();
            ntlmv2_response(
                &nt,
                &user,
                &domain,
                &[1, 2, 3, 4, 5, 6, 7, 8],
                &[9, 9, 8, 8, 7, 7, 6, 6],
                134_000_000_000_000_000,
                &av_pairs(&domain, "MSRPCWS"),
            )
        };
        let ok = ch
            .sam_logon_network(
                &b,
                &domain,
                &user,
                [1, 2, 3, 4, 5, 6, 7, 8],
                &respond(&file("MSRPC_ADDC_PASSWORD_FILE")),
                &[],
            )
            .await
            .unwrap();
        eprintln!("{ok:?}");
        assert_eq!(ok.user, user);
        assert!(ok.domain.eq_ignore_ascii_case(&domain), "{ok:?}");
        assert_eq!(Some(ok.rid), alice.rid(), "{ok:?}");
        assert_eq!(ok.primary_group, 513, "Domain Users");
        assert_eq!(
            ok.domain_sid.as_ref().map(|d| d.with_rid(ok.rid)),
            Some(alice.clone()),
            "{ok:?}"
        );
        assert!(ok.groups.contains(&testers.rid().unwrap()), "{ok:?}");

        let wrong = ch
            .sam_logon_network(
                &b,
                &domain,
                &user,
                [1, 2, 3, 4, 5, 6, 7, 8],
                &respond("not-alices-password"),
                &[],
            )
            .await
            .expect_err("a wrong password");
        assert!(
            matches!(
                wrong,
                Error::Nt {
                    op: "NetrLogonSamLogonEx",
                    status: NtStatus::STATUS_WRONG_PASSWORD
                }
            ),
            "{wrong:?}"
        );
    });
}

#[cfg(feature = "ncacn-np")]
#[test]
#[ignore = "needs PEER: the Samba AD DC (scripts/peers/addc.sh), in its namespace"]
fn addc_schannel_over_the_netlogon_pipe() {
    let _turn = one_channel_at_a_time();
    use msrpc::{AuthInfo, BindingOptions, Credentials};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut ch = establish().await;
        let host = var("MSRPC_ADDC_DC_HOST");
        // The SMB session logs on as alice (NTLM); RPC on the pipe is Schannel.
        let mut options = BindingOptions::default().with_auth(AuthInfo::schannel(
            AuthnLevel::PktPrivacy,
            ch.schannel_session(),
        ));
        options.smb.credentials = Some(Credentials::new(
            var("MSRPC_ADDC_USER"),
            var("MSRPC_ADDC_DOMAIN"),
            file("MSRPC_ADDC_PASSWORD_FILE"),
        ));
        let b =
            Binding::with_options(&format!(r"ncacn_np:{host}[\pipe\netlogon]"), options).unwrap();
        let f = ch
            .get_capabilities(&b, &format!(r"\\{host}"), CAPABILITIES_NEGOTIATED)
            .await
            .unwrap();
        assert_eq!(f, ch.negotiated_flags());
    });
}

#[test]
#[ignore = "needs PEER: the Samba AD DC (scripts/peers/addc.sh), in its namespace"]
fn addc_schannel_a_session_key_the_dc_does_not_know_is_refused() {
    let _turn = one_channel_at_a_time();
    use msrpc::{AuthInfo, BindingOptions, SchannelSession};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ch = establish().await;
        let alice: Sid = var("MSRPC_ADDC_USER_SID").parse().unwrap();
        // The names of the channel the DC knows, another key: the DC cannot verify the request.
        let mut key = ch.session_key();
        key[0] ^= 1;
        let forged = SchannelSession::new(
            key,
            ch.negotiated_flags(),
            var("MSRPC_ADDC_DOMAIN"),
            var("MSRPC_ADDC_MACHINE"),
        );
        let options =
            BindingOptions::default().with_auth(AuthInfo::schannel(AuthnLevel::PktPrivacy, forged));
        let b = Binding::with_options(DC, options).unwrap();
        let e = lsat::lookup_sids3(&b, std::slice::from_ref(&alice))
            .await
            .expect_err("a forged session key");
        // The DC faults the request it cannot verify with nca_s_fault_sec_pkg_error.
        assert_eq!(e.win32(), Some(Win32Status(0x721)), "{e:?}");
        // The real key still works afterwards.
        let good = ch.binding(DC, AuthnLevel::PktPrivacy).unwrap();
        let got = lsat::lookup_sids3(&good, std::slice::from_ref(&alice))
            .await
            .unwrap();
        assert_eq!(got[0].name, var("MSRPC_ADDC_USER"));
    });
}
