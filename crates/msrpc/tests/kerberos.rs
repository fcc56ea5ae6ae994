//! Kerberos (auth type 16, DCE style) end to end over TCP, our client against our server, with
//! tickets from a real MIT KDC on loopback (`scripts/peers/kdc.sh`, started by `./scripts/test`,
//! which sets MSRPC_KDC_DIR): the connect, packet, integrity (RFC 4121 MIC tokens) and privacy
//! levels, the client identity the manager sees, a wrong password refused by the KDC, and a
//! server holding the wrong service key.
//!
//! Ignored by a plain `cargo test`; `./scripts/test` starts the KDC and runs them with
//! `--include-ignored`, and a missing KDC then fails them. No Windows peer is tested here; the
//! Samba AD DC is tested in `addc.rs`.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use msrpc::server::{Dispatch, IncomingCall, Interface, InterfaceSecurity, Server};
use msrpc::{
    AuthInfo, AuthnLevel, Binding, BindingOptions, Credentials, KerberosService, SyntaxId,
    Win32Status,
};

const WHO: SyntaxId = SyntaxId::new(uuid::uuid!("0e3f5a7c-1b2d-4e6f-8a9b-0c1d2e3f4a60"), 1, 0);

struct Who;

impl Interface for Who {
    fn syntax(&self) -> SyntaxId {
        WHO
    }
    fn name(&self) -> &str {
        "who"
    }
    fn operation_count(&self) -> u16 {
        1
    }
    fn dispatch(&self, call: IncomingCall) -> Dispatch {
        let mut out = match call.client() {
            Some(c) => format!("{}@{} {} {:?}", c.user, c.domain, c.level, c.service),
            None => "anonymous".into(),
        }
        .into_bytes();
        out.push(0);
        out.extend_from_slice(call.stub());
        call.answer(out)
    }
}

struct Kdc {
    url: String,
    realm: String,
    alice: String,
    service: String,
}

/// The KDC `scripts/peers/kdc.sh start DIR` started (DIR in `MSRPC_KDC_DIR`); fails the test
/// without one.
fn kdc() -> Kdc {
    let dir = std::env::var("MSRPC_KDC_DIR")
        .expect("MSRPC_KDC_DIR is not set: scripts/peers/kdc.sh start DIR starts a KDC");
    let read = |f: &str| {
        std::fs::read_to_string(format!("{dir}/{f}"))
            .unwrap()
            .trim()
            .to_owned()
    };
    let env: HashMap<String, String> = read("env")
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    Kdc {
        url: env["MSRPC_KDC_URL"].clone(),
        realm: env["MSRPC_KDC_REALM"].clone(),
        alice: read("alice.password"),
        service: read("service.password"),
    }
}

async fn server(k: &Kdc, service_password: &str) -> Server {
    let service =
        KerberosService::from_password("host/localhost", &k.realm, service_password, &k.url)
            .unwrap();
    Server::builder()
        .interface(Arc::new(Who))
        .kerberos(service)
        .interface_security(WHO, InterfaceSecurity::min_level(AuthnLevel::Connect))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap()
}

fn binding(text: &str, k: &Kdc, password: &str, level: AuthnLevel) -> Binding {
    let mut o = BindingOptions::default();
    o.call_timeout = Some(Duration::from_secs(20));
    o.auth = Some(AuthInfo::kerberos(
        level,
        Credentials::new("alice", &k.realm, password),
        &k.url,
        "host/localhost",
    ));
    Binding::with_options(text, o).unwrap()
}

async fn who(b: &Binding, payload: &[u8]) -> msrpc::Result<(String, Vec<u8>)> {
    let p = payload.to_vec();
    let r = b.call(WHO, 0, move |_, _| Ok(p)).await?;
    let at = r.stub.iter().position(|b| *b == 0).unwrap();
    Ok((
        String::from_utf8(r.stub[..at].to_vec()).unwrap(),
        r.stub[at + 1..].to_vec(),
    ))
}

#[tokio::test]
#[ignore = "needs krb5kdc: ./scripts/test starts it"]
async fn kerberos_logon_then_signed_and_sealed_calls() {
    let k = kdc();
    let s = server(&k, &k.service).await;
    let text = s.bindings()[0].to_string();
    for level in [
        AuthnLevel::Connect,
        AuthnLevel::Pkt,
        AuthnLevel::PktIntegrity,
        AuthnLevel::PktPrivacy,
    ] {
        let b = binding(&text, &k, &k.alice, level);
        for payload in [b"hello".to_vec(), vec![0x42; 100_000]] {
            let (id, echo) = who(&b, &payload)
                .await
                .unwrap_or_else(|e| panic!("{level}: {e}"));
            // sspi reports the realm in lower case.
            assert_eq!(
                id.to_lowercase(),
                format!("alice@{} {level} kerberos", k.realm).to_lowercase()
            );
            assert_eq!(&echo[..payload.len()], &payload[..]);
        }
        // Calls in parallel on the one connection.
        let mut tasks = Vec::new();
        for i in 0..20u8 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move { who(&b, &[i; 2000]).await }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            let (_, echo) = t.await.unwrap().unwrap();
            assert_eq!(&echo[..2000], &[i as u8; 2000][..]);
        }
    }
    s.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
#[ignore = "needs krb5kdc: ./scripts/test starts it"]
async fn a_wrong_password_or_a_wrong_service_key_is_refused() {
    let k = kdc();
    let s = server(&k, &k.service).await;
    let text = s.bindings()[0].to_string();
    // The KDC refuses the pre-authentication: the call fails before any byte goes to the server.
    let b = binding(&text, &k, "not-alices-password", AuthnLevel::PktPrivacy);
    let e = who(&b, b"x").await.unwrap_err();
    assert_eq!(e.status(), Win32Status::ERROR_ACCESS_DENIED, "{e}");
    s.shutdown(Duration::from_secs(1)).await;

    // A server that holds the wrong key for host/localhost cannot read the ticket.
    let s = server(&k, "not-the-service-password").await;
    let text = s.bindings()[0].to_string();
    let b = binding(&text, &k, &k.alice, AuthnLevel::PktPrivacy);
    let e = who(&b, b"x").await.unwrap_err();
    assert!(
        matches!(
            e.status(),
            Win32Status::ERROR_ACCESS_DENIED | Win32Status::RPC_S_SEC_PKG_ERROR
        ),
        "{e}"
    );
    s.shutdown(Duration::from_secs(1)).await;
}
