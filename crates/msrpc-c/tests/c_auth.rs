//! Authentication from C: a C client calling `RpcBindingSetAuthInfo(Ex)` (A and W, ANSI and
//! UNICODE identities, a QOS) against the Rust sample server as `msrpc serve --users FILE
//! --min-auth-level integrity` runs it, so a call only passes when the client really
//! authenticated at integrity or privacy; a wrong password gets Windows' 5.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use msrpc::server::Server;
use msrpc::{AuthnLevel, UserStore, Win32Status};

use common::*;

struct Handler(Arc<Mutex<Vec<String>>>);

impl msrpc_sample::AsyncRpcHandler for Handler {
    fn non_async_func(&self, message: &[u8]) {
        self.0
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(message).into_owned());
    }
    fn shutdown(&self) -> Result<(), Win32Status> {
        Err(Win32Status::ERROR_ACCESS_DENIED)
    }
}

/// The sample server with NTLM accounts, refusing calls below integrity (as `msrpc serve
/// --users FILE --min-auth-level integrity`).
struct AuthServer {
    rt: tokio::runtime::Runtime,
    server: Server,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl AuthServer {
    fn start() -> AuthServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut users = UserStore::new();
        users.insert("alice", "Al1ce-pw");
        users.insert("CORP\\bob", "b0b-pw");
        let server = rt.block_on(async {
            Server::builder()
                .interface(Arc::new(msrpc_sample::service(Handler(log.clone()))))
                .authentication(Arc::new(users))
                .min_auth_level(AuthnLevel::PktIntegrity)
                .listen("ncacn_ip_tcp:127.0.0.1[0]")
                .start()
                .await
                .unwrap()
        });
        let b = server.bindings()[0].to_string();
        let port = b
            .rsplit_once('[')
            .and_then(|(_, p)| p.trim_end_matches(']').parse().ok())
            .unwrap();
        AuthServer {
            rt,
            server,
            port,
            log,
        }
    }

    fn stop(self) {
        self.rt
            .block_on(self.server.shutdown(Duration::from_secs(5)));
    }
}

fn build_client(name: &str) -> std::path::PathBuf {
    build_with_sample(
        name,
        "crates/msrpc-c/tests/fixtures/auth_client.c",
        "asyncrpc_c.c",
        &[],
    )
    .1
}

#[test]
fn c_client_authenticates_with_ntlm_at_integrity_and_privacy() {
    let exe = build_client("auth-client-ok");
    let srv = AuthServer::start();
    let port = srv.port.to_string();
    let cases = [
        ("A", "5", "alice", "Al1ce-pw"),
        ("A", "6", "alice", "Al1ce-pw"),
        ("W", "6", "CORP\\bob", "b0b-pw"),
        ("W", "5", "alice", "Al1ce-pw"),
        ("EX", "6", "alice", "Al1ce-pw"),
        // `DOMAIN\user` in User with no Domain, as Windows takes it.
        ("A", "6", "CORP\\bob", "b0b-pw"),
    ];
    for (form, level, user, pw) in cases {
        let r = run(
            &exe,
            &[&port, form, level, user, pw],
            &[],
            Duration::from_secs(60),
        );
        assert_eq!(r.code, Some(0), "{form} {level} {user}: {r:?}");
        assert!(
            r.stdout.contains("RpcBindingSetAuthInfo: 0\n"),
            "{form} {level} {user}: {r:?}"
        );
        assert!(
            r.stdout.contains("call: 0\n"),
            "{form} {level} {user}: {r:?}"
        );
        // Misuse: Windows' codes, and the binding keeps its authentication.
        for line in [
            "bad level: 1748\n",
            "bad service: 1747\n",
            "no identity: 1749\n",
            "bad binding: 1702\n",
        ] {
            assert!(r.stdout.contains(line), "{line}: {r:?}");
        }
        if form == "EX" {
            assert!(r.stdout.contains("bad qos: 87\n"), "{r:?}");
        }
        // RpcBindingInqAuthInfo(A, W, Ex) gives back what was set, on the handle and on a copy;
        // RpcBindingToStringBinding names the binding, RpcBindingReset drops its endpoint.
        let princ = if form == "W" {
            "ignored-for-ntlm"
        } else {
            "(null)"
        };
        let inq = format!("level {level} svc 10 authz 0 princ {princ} identity same\n");
        let imp = if form == "EX" { 2 } else { 0 };
        for line in [
            format!("inq: 0 {inq}"),
            format!("inq copy: 0 {inq}"),
            format!("inq W/Ex: same, qos version 1 caps 0 tracking 0 imp {imp}\n"),
            "inq Ex, QOS version 0: 87\n".to_string(),
            format!("RpcBindingToStringBinding: 0 ncacn_ip_tcp:127.0.0.1[{port}]\n"),
            "RpcBindingCopy: 0\n".to_string(),
            "RpcBindingReset: 0\n".to_string(),
            "after reset: ncacn_ip_tcp:127.0.0.1\n".to_string(),
            "bad handle: inq 1702 to-string 1702 copy 1702 reset 1702\n".to_string(),
        ] {
            assert!(r.stdout.contains(&line), "{form} {level}: {line}: {r:?}");
        }
    }
    let n = srv.log.lock().unwrap().len();
    srv.stop();
    assert_eq!(n, cases.len());
}

#[test]
fn wrong_password_low_level_and_no_auth_are_access_denied() {
    let exe = build_client("auth-client-denied");
    let srv = AuthServer::start();
    let port = srv.port.to_string();
    let cases = [
        // A wrong password: the bind is refused, the call raises RPC_S_ACCESS_DENIED.
        ("A", "6", "alice", "wrong"),
        ("W", "5", "alice", "wrong"),
        // An unknown user; bob's account is for domain CORP only.
        ("A", "6", "mallory", "Al1ce-pw"),
        ("W", "6", "OTHER\\bob", "b0b-pw"),
        // Right password, level below the server's minimum (connect, packet).
        ("A", "2", "alice", "Al1ce-pw"),
        ("A", "4", "alice", "Al1ce-pw"),
        // Default (connect) and call level (raised to packet, as RpcBindingInqAuthInfo says).
        ("A", "0", "alice", "Al1ce-pw"),
        ("A", "3", "alice", "Al1ce-pw"),
        // No authentication at all.
        ("NONE", "0", "-", "-"),
    ];
    for (form, level, user, pw) in cases {
        let r = run(
            &exe,
            &[&port, form, level, user, pw],
            &[],
            Duration::from_secs(60),
        );
        assert_eq!(r.code, Some(0), "{form} {level} {user}: {r:?}");
        assert!(
            r.stdout.contains("call: exception 5\n"),
            "{form} {level} {user}: {r:?}"
        );
        let inq = match (form, level) {
            ("NONE", _) => "inq: 1746\n".to_string(),
            (_, "0") => "inq: 0 level 2 svc 10 ".to_string(),
            (_, "3") => "inq: 0 level 4 svc 10 ".to_string(),
            (_, l) => format!("inq: 0 level {l} svc 10 "),
        };
        assert!(r.stdout.contains(&inq), "{form} {level}: {inq}: {r:?}");
        if form == "NONE" {
            assert!(r.stdout.contains("inq copy: 1746\n"), "{r:?}");
        }
    }
    let n = srv.log.lock().unwrap().len();
    srv.stop();
    assert_eq!(n, 0, "no refused call reached the manager");
}

/// The KDC `scripts/peers/kdc.sh start DIR` started (`MSRPC_KDC_DIR`): its URL, realm, and the
/// passwords of `alice` and `host/localhost`.
fn kdc() -> (String, String, String, String) {
    let dir = std::env::var("MSRPC_KDC_DIR")
        .expect("MSRPC_KDC_DIR is not set: scripts/peers/kdc.sh start DIR starts a KDC");
    let read = |f: &str| {
        std::fs::read_to_string(format!("{dir}/{f}"))
            .unwrap()
            .trim()
            .to_owned()
    };
    let env = read("env");
    let var = |k: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("{k} in {dir}/env"))
            .to_owned()
    };
    (
        var("MSRPC_KDC_URL"),
        var("MSRPC_KDC_REALM"),
        read("alice.password"),
        read("service.password"),
    )
}

/// Kerberos from C: `RpcBindingSetAuthInfoA` with `RPC_C_AUTHN_GSS_KERBEROS` (and with
/// `RPC_C_AUTHN_GSS_NEGOTIATE`, which chooses Kerberos) gets a ticket for `host/localhost` from
/// the MIT KDC and calls the sample server, which holds that principal's key and refuses calls
/// below integrity; a wrong password is refused with 5.
#[test]
#[ignore = "needs PEER: krb5kdc (scripts/peers/kdc.sh, MSRPC_KDC_DIR)"]
fn c_client_authenticates_with_kerberos_against_the_kdc() {
    let (url, realm, alice, service) = kdc();
    let exe = build_client("auth-client-krb");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let key =
        msrpc::KerberosService::from_password("host/localhost", &realm, &service, &url).unwrap();
    let server = rt.block_on(async {
        Server::builder()
            .interface(Arc::new(msrpc_sample::service(Handler(log.clone()))))
            .kerberos(key)
            .min_auth_level(AuthnLevel::PktIntegrity)
            .listen("ncacn_ip_tcp:127.0.0.1[0]")
            .start()
            .await
            .unwrap()
    });
    let port = server.bindings()[0]
        .to_string()
        .rsplit_once('[')
        .and_then(|(_, p)| p.trim_end_matches(']').parse::<u16>().ok())
        .unwrap()
        .to_string();
    let user = format!("{realm}\\alice");
    let cases = [
        ("KRB", "5", alice.as_str(), "call: 0\n"),
        ("KRB", "6", alice.as_str(), "call: 0\n"),
        ("NEGO", "6", alice.as_str(), "call: 0\n"),
        ("KRB", "6", "not-alice's-password", "call: exception 5\n"),
    ];
    for (form, level, pw, want) in cases {
        let r = run(
            &exe,
            &[&port, form, level, &user, pw, "host/localhost"],
            &[("MSRPC_KDC", url.as_str())],
            Duration::from_secs(60),
        );
        assert_eq!(r.code, Some(0), "{form} {level}: {r:?}");
        assert!(
            r.stdout.contains("RpcBindingSetAuthInfo: 0\n"),
            "{form} {level}: {r:?}"
        );
        assert!(
            r.stdout.contains(want),
            "{form} {level}: want {want:?}: {r:?}"
        );
        // RpcBindingInqAuthInfo: the package, level and SPN as set.
        let svc = if form == "KRB" { 16 } else { 9 };
        let inq =
            format!("inq: 0 level {level} svc {svc} authz 0 princ host/localhost identity same\n");
        assert!(r.stdout.contains(&inq), "{form} {level}: {inq}: {r:?}");
    }
    let n = log.lock().unwrap().len();
    rt.block_on(server.shutdown(Duration::from_secs(5)));
    assert_eq!(
        n, 3,
        "the three authenticated calls reached the manager, the refused one did not"
    );
}
