//! Kerberos in a real Active Directory domain: the Samba AD DC of `scripts/peers/addc.sh` (realm
//! AD.MSRPC.TEST), in a network namespace of its own. These tests run inside that namespace:
//!
//! ```sh
//! scripts/peers/addc.sh start /tmp/addc
//! scripts/peers/addc.sh exec /tmp/addc cargo test -p msrpc --test addc -- --include-ignored
//! ```
//!
//! (`./scripts/test` does this; every test here is named `addc_*`, so that its workspace run outside
//! the namespace can `--skip addc_` them, and its run inside selects them.) `addc.sh exec` sets `MSRPC_ADDC_DIR` and the other `MSRPC_ADDC_*`
//! variables from DIR/env.
//!
//! - msrpc's client with the DC's own PAC-bearing AES256 tickets (password and keytab logons,
//!   plain Kerberos and SPNEGO choosing Kerberos) calls the DC's mgmt on 135 and its samr,
//!   netlogon and lsarpc on the ports its endpoint mapper gives, at connect, packet, integrity and
//!   privacy, with calls in parallel on one connection;
//! - requests altered or replayed in flight are never dispatched;
//! - a wrong password, an unknown user, a wrong SPN and an unreachable KDC give clear errors;
//! - msrpc's server with the service account's exported keytab accepts msrpc's client at every
//!   level and shows the manager the client's name.
//! - the same server negotiates Kerberos inside SPNEGO (auth type 9) at every level, refusing a
//!   ticket for another service; a server without a keytab refuses a Kerberos-only Negotiate client.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use msrpc::server::{Dispatch, IncomingCall, Interface, InterfaceSecurity, Server};
use msrpc::{
    AuthInfo, AuthnLevel, Binding, BindingOptions, Credentials, KerberosService, Keytab, SyntaxId,
    Win32Status, epm, mgmt,
};

const LEVELS: [AuthnLevel; 4] = [
    AuthnLevel::Connect,
    AuthnLevel::Pkt,
    AuthnLevel::PktIntegrity,
    AuthnLevel::PktPrivacy,
];
/// lsarpc (MS-LSAD), v0.0.
const LSARPC: SyntaxId = SyntaxId::new(uuid::uuid!("12345778-1234-abcd-ef00-0123456789ab"), 0, 0);
/// samr (MS-SAMR), v1.0.
const SAMR: SyntaxId = SyntaxId::new(uuid::uuid!("12345778-1234-abcd-ef00-0123456789ac"), 1, 0);
/// netlogon (MS-NRPC), v1.0.
const NETLOGON: SyntaxId = SyntaxId::new(uuid::uuid!("12345678-1234-abcd-ef00-01234567cffb"), 1, 0);
const EPM: uuid::Uuid = uuid::uuid!("e1af8308-5d1f-11c9-91a4-08002b14a0fa");

struct Dc {
    env: HashMap<String, String>,
    password: String,
}

impl Dc {
    fn var(&self, k: &str) -> &str {
        self.env
            .get(k)
            .unwrap_or_else(|| panic!("{k} missing from the DC's env file"))
    }
    fn realm(&self) -> &str {
        self.var("MSRPC_ADDC_REALM")
    }
    fn kdc(&self) -> &str {
        self.var("MSRPC_ADDC_KDC_URL")
    }
    fn auth(&self, level: AuthnLevel, password: &str, spn: &str) -> AuthInfo {
        AuthInfo::kerberos(
            level,
            Credentials::new(self.var("MSRPC_ADDC_USER"), self.realm(), password),
            self.kdc(),
            spn,
        )
    }
    fn dc_binding(&self, port: u16, auth: AuthInfo) -> Binding {
        let mut o = BindingOptions::default();
        o.call_timeout = Some(Duration::from_secs(30));
        o.auth = Some(auth);
        Binding::with_options(&format!("ncacn_ip_tcp:127.0.0.1[{port}]"), o).unwrap()
    }
}

/// The DC `addc.sh exec` describes. Panics (the test is ignored unless asked for) when run
/// outside it.
fn dc() -> Dc {
    let dir = std::env::var("MSRPC_ADDC_DIR").expect(
        "MSRPC_ADDC_DIR is not set: run inside the DC's namespace with \
         scripts/peers/addc.sh exec DIR cargo test -p msrpc --test addc -- --include-ignored",
    );
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).unwrap();
    let env = read("env")
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    Dc {
        env,
        password: read("alice.password").trim().to_owned(),
    }
}

/// An interface's port from the DC's endpoint mapper (unauthenticated, as Windows clients ask).
async fn tcp_port(iface: SyntaxId) -> u16 {
    let epm_b = Binding::from_string("ncacn_ip_tcp:127.0.0.1[135]").unwrap();
    let towers = epm::map_tcp(&epm_b, iface, None, 4).await.unwrap();
    towers
        .iter()
        .find_map(|t| t.tcp_port())
        .unwrap_or_else(|| panic!("the DC's endpoint mapper knows {iface:?} over TCP"))
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// SamrConnect2, SamrEnumerateDomainsInSamServer and SamrCloseHandle (MS-SAMR opnums 57, 6, 1):
/// returns the reply of the enumeration.
async fn samr_domains(b: &Binding) -> msrpc::Result<Vec<u8>> {
    // ServerName: a null unique pointer; DesiredAccess: SAM_SERVER_ENUMERATE_DOMAINS |
    // SAM_SERVER_LOOKUP_DOMAIN.
    let mut connect = vec![0u8; 4];
    connect.extend_from_slice(&0x30u32.to_le_bytes());
    let r = b.call(SAMR, 57, move |_, _| Ok(connect)).await?;
    assert_eq!(r.stub.len(), 24, "a server handle and a status");
    assert_eq!(&r.stub[20..], &[0; 4], "SamrConnect2 status");
    let handle = r.stub[..20].to_vec();
    // EnumerationContext 0, PreferedMaximumLength 1000.
    let mut enumerate = handle.clone();
    enumerate.extend_from_slice(&0u32.to_le_bytes());
    enumerate.extend_from_slice(&1000u32.to_le_bytes());
    let domains = b.call(SAMR, 6, move |_, _| Ok(enumerate)).await?;
    let close = b.call(SAMR, 1, move |_, _| Ok(handle)).await?;
    assert_eq!(&close.stub[20..], &[0; 4], "SamrCloseHandle status");
    Ok(domains.stub)
}

/// LsarOpenPolicy2 (MS-LSAD opnum 44) asking for POLICY_VIEW_LOCAL_INFORMATION.
async fn lsa_open_policy(b: &Binding) -> msrpc::Result<Vec<u8>> {
    // SystemName: a null unique pointer; ObjectAttributes: Length 24, the rest null or zero.
    let mut open = vec![0u8; 4];
    open.extend_from_slice(&24u32.to_le_bytes());
    open.extend_from_slice(&[0; 20]);
    open.extend_from_slice(&0x0000_0001u32.to_le_bytes());
    Ok(b.call(LSARPC, 44, move |_, _| Ok(open)).await?.stub)
}

#[tokio::test]
#[ignore = "needs addc: ./scripts/test starts it"]
async fn addc_kerberos_to_the_dcs_mgmt_samr_and_lsarpc_at_every_level() {
    let dc = dc();
    let spn = dc.var("MSRPC_ADDC_DC_SPN").to_owned();
    let samr = tcp_port(SAMR).await;
    let lsa = tcp_port(LSARPC).await;
    for level in LEVELS {
        let b = dc.dc_binding(135, dc.auth(level, &dc.password, &spn));
        let ids = mgmt::inq_if_ids(&b)
            .await
            .unwrap_or_else(|e| panic!("{level}: mgmt inq_if_ids: {e}"));
        assert!(ids.iter().any(|i| i.uuid == EPM), "{level}: {ids:?}");
        assert!(mgmt::is_server_listening(&b).await.unwrap(), "{level}");

        // samr needs a signing level on this DC; python3-samba is refused at connect too.
        let b = dc.dc_binding(samr, dc.auth(level, &dc.password, &spn));
        match samr_domains(&b).await {
            Ok(reply) => {
                assert_ne!(level, AuthnLevel::Connect, "samr answered at connect");
                for name in [dc.var("MSRPC_ADDC_DOMAIN"), "BUILTIN"] {
                    let n = utf16(name);
                    assert!(
                        reply.windows(n.len()).any(|w| w == n.as_slice()),
                        "{level}: samr lists {name}"
                    );
                }
                assert_eq!(&reply[reply.len() - 4..], &[0; 4], "{level}: enum status");
            }
            Err(e) => {
                assert_eq!(level, AuthnLevel::Connect, "samr at {level}: {e}");
                assert_eq!(e.status(), Win32Status::ERROR_ACCESS_DENIED, "{e}");
            }
        }

        // lsarpc over TCP: the DC binds (Kerberos accepted) but refuses the policy handle at
        // every level, as it refuses python3-samba's; MS-LSAD restricts LSA over TCP.
        let b = dc.dc_binding(lsa, dc.auth(level, &dc.password, &spn));
        let e = lsa_open_policy(&b).await.expect_err("LSA policy over TCP");
        assert_eq!(e.status(), Win32Status::ERROR_ACCESS_DENIED, "{level}: {e}");
    }
}

#[tokio::test]
#[ignore = "needs addc: ./scripts/test starts it"]
async fn addc_parallel_signed_and_sealed_calls_to_the_dc_share_one_connection() {
    let dc = dc();
    let spn = dc.var("MSRPC_ADDC_DC_SPN").to_owned();
    for level in [AuthnLevel::PktIntegrity, AuthnLevel::PktPrivacy] {
        let b = dc.dc_binding(135, dc.auth(level, &dc.password, &spn));
        mgmt::is_server_listening(&b).await.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move { mgmt::inq_if_ids(&b).await }));
        }
        for t in tasks {
            let ids = t.await.unwrap().unwrap_or_else(|e| panic!("{level}: {e}"));
            assert!(ids.iter().any(|i| i.uuid == EPM));
        }
    }
}

#[tokio::test]
#[ignore = "needs addc: ./scripts/test starts it"]
async fn addc_a_keytab_logs_the_client_on_without_a_password() {
    let dc = dc();
    let keytab = Keytab::from_file(dc.var("MSRPC_ADDC_USER_KEYTAB")).unwrap();
    let auth = dc
        .auth(AuthnLevel::PktIntegrity, "", dc.var("MSRPC_ADDC_DC_SPN"))
        .with_keytab(&keytab)
        .unwrap();
    let b = dc.dc_binding(135, auth);
    assert!(mgmt::is_server_listening(&b).await.unwrap());
}

#[tokio::test]
#[ignore = "needs addc: ./scripts/test starts it"]
async fn addc_bad_logons_give_clear_errors() {
    let dc = dc();
    let spn = dc.var("MSRPC_ADDC_DC_SPN").to_owned();
    let level = AuthnLevel::PktIntegrity;
    let expect = |what: &str, r: msrpc::Result<bool>, status: Win32Status, text: &str| {
        let e = r.expect_err(what);
        eprintln!("{what}: {e}");
        assert_eq!(e.status(), status, "{what}: {e}");
        assert!(
            e.to_string().to_lowercase().contains(text),
            "{what}: {e:?} should say {text:?}"
        );
    };
    let b = dc.dc_binding(135, dc.auth(level, "Wr0ng-password!", &spn));
    expect(
        "wrong password",
        mgmt::is_server_listening(&b).await,
        Win32Status::ERROR_ACCESS_DENIED,
        "logon",
    );
    let auth = AuthInfo::kerberos(
        level,
        Credentials::new("nobody-here", dc.realm(), "x"),
        dc.kdc(),
        &spn,
    );
    let b = dc.dc_binding(135, auth);
    expect(
        "unknown user",
        mgmt::is_server_listening(&b).await,
        Win32Status::ERROR_ACCESS_DENIED,
        "not found",
    );
    let b = dc.dc_binding(
        135,
        dc.auth(level, &dc.password, "host/nosuch.ad.msrpc.test"),
    );
    expect(
        "unknown SPN",
        mgmt::is_server_listening(&b).await,
        Win32Status::ERROR_ACCESS_DENIED,
        "server not found",
    );
    let auth = AuthInfo::kerberos(
        level,
        Credentials::new(dc.var("MSRPC_ADDC_USER"), dc.realm(), &dc.password),
        "tcp://127.0.0.1:9",
        &spn,
    );
    let b = dc.dc_binding(135, auth);
    expect(
        "unreachable KDC",
        mgmt::is_server_listening(&b).await,
        Win32Status::ERROR_ACCESS_DENIED,
        "kdc",
    );
}

const WHO: SyntaxId = SyntaxId::new(uuid::uuid!("0e3f5a7c-1b2d-4e6f-8a9b-0c1d2e3f4a61"), 1, 0);

#[derive(Default)]
struct Who {
    ran: AtomicUsize,
}

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
        self.ran.fetch_add(1, Ordering::SeqCst);
        let out = match call.client() {
            Some(c) => format!(
                "{}@{} {}\n{}",
                c.user,
                c.domain,
                c.level,
                c.groups.join(",")
            ),
            None => "anonymous".into(),
        };
        call.answer(out.into_bytes())
    }
}

#[tokio::test]
#[ignore = "needs addc: ./scripts/test starts it"]
async fn addc_a_server_with_the_exported_keytab_accepts_the_domains_tickets() {
    let dc = dc();
    let keytab = Keytab::from_file(dc.var("MSRPC_ADDC_KEYTAB")).unwrap();
    let spn = dc.var("MSRPC_ADDC_SERVICE_SPN").to_owned();
    let service = KerberosService::from_keytab(&keytab, Some(&spn), dc.kdc()).unwrap();
    let s = Server::builder()
        .interface(Arc::new(Who::default()))
        .kerberos(service)
        .interface_security(WHO, InterfaceSecurity::min_level(AuthnLevel::Connect))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let text = s.bindings()[0].to_string();
    for level in LEVELS {
        let mut o = BindingOptions::default();
        o.call_timeout = Some(Duration::from_secs(30));
        o.auth = Some(dc.auth(level, &dc.password, &spn));
        let b = Binding::with_options(&text, o).unwrap();
        for _ in 0..3 {
            let r = b
                .call(WHO, 0, |_, _| Ok(Vec::new()))
                .await
                .unwrap_or_else(|e| panic!("{level}: {e}"));
            let who = String::from_utf8(r.stub).unwrap();
            let (name, groups) = who.split_once('\n').unwrap();
            assert_eq!(
                name.to_lowercase(),
                format!("alice@{} {level}", dc.realm()).to_lowercase()
            );
            // The groups from the ticket's PAC: Domain Users (RID 513) first, as alice's
            // primary group, and msrpc-testers.
            let groups: Vec<&str> = groups.split(',').collect();
            assert!(groups[0].ends_with("-513"), "{level}: {groups:?}");
            assert!(
                groups.contains(&dc.var("MSRPC_ADDC_TESTERS_SID")),
                "{level}: {groups:?}"
            );
        }
    }
    s.shutdown(Duration::from_secs(1)).await;
}

/// What the proxy does to the first request it forwards.
#[derive(Clone, Copy, Debug)]
enum Tamper {
    /// Flip one bit of its stub.
    Flip,
    /// Forward it, and once its response has gone back, send it again (a finished call's id,
    /// so only the sequence number gives the copy away).
    Replay,
}

/// Reads whole PDUs from `from` into `pending`; `None` at the end of the stream.
async fn next_pdu(
    from: &mut (impl tokio::io::AsyncRead + Unpin),
    pending: &mut Vec<u8>,
) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    loop {
        if pending.len() >= 16 {
            let len = usize::from(u16::from_le_bytes([pending[8], pending[9]]));
            if len >= 16 && pending.len() >= len {
                return Some(pending.drain(..len).collect());
            }
        }
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

/// A proxy to `target` that tampers with the first request; `closed` fires when the server has
/// closed its side.
async fn tampering_proxy(
    target: std::net::SocketAddr,
    how: Tamper,
) -> (u16, tokio::sync::oneshot::Receiver<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        let server = tokio::net::TcpStream::connect(target).await.unwrap();
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, sw) = server.into_split();
        let sw = Arc::new(tokio::sync::Mutex::new(sw));
        let first: Arc<std::sync::Mutex<Option<Vec<u8>>>> = Arc::default();
        let (up_sw, up_first) = (sw.clone(), first.clone());
        tokio::spawn(async move {
            let mut pending = Vec::new();
            let mut seen = false;
            while let Some(mut pdu) = next_pdu(&mut cr, &mut pending).await {
                if pdu[2] == 0 && !seen {
                    seen = true;
                    match how {
                        Tamper::Flip => pdu[24 + 1] ^= 0x01,
                        Tamper::Replay => *up_first.lock().unwrap() = Some(pdu.clone()),
                    }
                }
                if up_sw.lock().await.write_all(&pdu).await.is_err() {
                    return;
                }
            }
        });
        let mut pending = Vec::new();
        while let Some(pdu) = next_pdu(&mut sr, &mut pending).await {
            if cw.write_all(&pdu).await.is_err() {
                break;
            }
            let copy = if pdu[2] == 2 {
                first.lock().unwrap().take()
            } else {
                None
            };
            if let Some(copy) = copy {
                let _ = sw.lock().await.write_all(&copy).await;
            }
        }
        let _ = cw.shutdown().await;
        let _ = tx.send(());
    });
    (port, rx)
}

#[tokio::test]
#[ignore = "needs addc: ./scripts/test starts it"]
async fn addc_altered_and_replayed_kerberos_requests_are_never_dispatched() {
    let dc = dc();
    let keytab = Keytab::from_file(dc.var("MSRPC_ADDC_KEYTAB")).unwrap();
    let spn = dc.var("MSRPC_ADDC_SERVICE_SPN").to_owned();
    for level in [AuthnLevel::PktIntegrity, AuthnLevel::PktPrivacy] {
        for how in [Tamper::Flip, Tamper::Replay] {
            let who = Arc::new(Who::default());
            let s = Server::builder()
                .interface(who.clone())
                .kerberos(KerberosService::from_keytab(&keytab, Some(&spn), dc.kdc()).unwrap())
                .listen("ncacn_ip_tcp:127.0.0.1[0]")
                .start()
                .await
                .unwrap();
            let port = s.bindings()[0].endpoint().unwrap().parse::<u16>().unwrap();
            let (proxy, closed) = tampering_proxy(([127, 0, 0, 1], port).into(), how).await;
            let mut o = BindingOptions::default();
            o.call_timeout = Some(Duration::from_secs(30));
            o.auth = Some(dc.auth(level, &dc.password, &spn));
            let b = Binding::with_options(&format!("ncacn_ip_tcp:127.0.0.1[{proxy}]"), o).unwrap();
            let r = b.call(WHO, 0, |_, _| Ok(b"pay alice".to_vec())).await;
            match how {
                Tamper::Flip => {
                    let e = r.expect_err("an altered request");
                    assert!(
                        matches!(
                            e.status(),
                            Win32Status::RPC_S_SEC_PKG_ERROR | Win32Status::RPC_S_COMM_FAILURE
                        ),
                        "{level} {how:?}: {e}"
                    );
                    assert_eq!(
                        who.ran.load(Ordering::SeqCst),
                        0,
                        "{level}: the altered call ran"
                    );
                }
                Tamper::Replay => {
                    r.unwrap_or_else(|e| panic!("{level}: the original request: {e}"));
                    // The server refuses the copy (its sequence number is old) and closes.
                    tokio::time::timeout(Duration::from_secs(20), closed)
                        .await
                        .expect("the server closes the connection after the replay")
                        .unwrap();
                    assert_eq!(who.ran.load(Ordering::SeqCst), 1, "{level}: the replay ran");
                }
            }
            s.shutdown(Duration::from_secs(1)).await;
        }
    }
}

#[tokio::test]
#[ignore = "needs addc: ./scripts/test starts it"]
async fn addc_negotiate_choosing_kerberos_to_the_dcs_mgmt_and_samr_at_every_level() {
    let dc = dc();
    let spn = dc.var("MSRPC_ADDC_DC_SPN").to_owned();
    let samr = tcp_port(SAMR).await;
    let user = || Credentials::new(dc.var("MSRPC_ADDC_USER"), dc.realm(), &dc.password);
    for level in LEVELS {
        let auth = || AuthInfo::negotiate_kerberos(level, user(), dc.kdc(), &spn);
        let b = dc.dc_binding(135, auth());
        let ids = mgmt::inq_if_ids(&b)
            .await
            .unwrap_or_else(|e| panic!("{level}: SPNEGO/Kerberos mgmt: {e}"));
        assert!(ids.iter().any(|i| i.uuid == EPM), "{level}");
        if level != AuthnLevel::Connect {
            let reply = samr_domains(&dc.dc_binding(samr, auth()))
                .await
                .unwrap_or_else(|e| panic!("{level}: SPNEGO/Kerberos samr: {e}"));
            let n = utf16(dc.var("MSRPC_ADDC_DOMAIN"));
            assert!(reply.windows(n.len()).any(|w| w == n.as_slice()), "{level}");
        }
    }
}

/// NetrServerReqChallenge (MS-NRPC opnum 4) for computer `name`: the server's 8-byte challenge.
async fn netlogon_challenge(b: &Binding, name: &str) -> msrpc::Result<Vec<u8>> {
    // PrimaryName: a null unique pointer; ComputerName: a conformant varying string with its
    // terminating zero, padded to 4; ClientChallenge: 8 bytes.
    let chars: Vec<u16> = name.encode_utf16().chain([0]).collect();
    let n = chars.len() as u32;
    let mut req = vec![0u8; 4];
    for v in [n, 0, n] {
        req.extend_from_slice(&v.to_le_bytes());
    }
    req.extend(chars.iter().flat_map(|c| c.to_le_bytes()));
    while !req.len().is_multiple_of(4) {
        req.push(0);
    }
    req.extend_from_slice(&[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
    let r = b.call(NETLOGON, 4, move |_, _| Ok(req)).await?;
    assert_eq!(r.stub.len(), 12, "a challenge and a status");
    assert_eq!(&r.stub[8..], &[0; 4], "NetrServerReqChallenge status");
    Ok(r.stub[..8].to_vec())
}

#[tokio::test]
#[ignore = "needs addc: ./scripts/test starts it"]
async fn addc_kerberos_to_the_dcs_netlogon_at_every_level() {
    let dc = dc();
    let spn = dc.var("MSRPC_ADDC_DC_SPN").to_owned();
    let port = tcp_port(NETLOGON).await;
    for level in LEVELS {
        for auth in [
            dc.auth(level, &dc.password, &spn),
            AuthInfo::negotiate_kerberos(
                level,
                Credentials::new(dc.var("MSRPC_ADDC_USER"), dc.realm(), &dc.password),
                dc.kdc(),
                &spn,
            ),
        ] {
            let service = auth.service;
            let b = dc.dc_binding(port, auth);
            if level == AuthnLevel::Connect {
                // This DC refuses netlogon at connect, to python3-samba too.
                let e = netlogon_challenge(&b, "WS1")
                    .await
                    .expect_err("netlogon at connect");
                assert_eq!(
                    e.status(),
                    Win32Status::ERROR_ACCESS_DENIED,
                    "{service:?}: {e}"
                );
                continue;
            }
            let c1 = netlogon_challenge(&b, "WS1")
                .await
                .unwrap_or_else(|e| panic!("{level} {service:?}: netlogon: {e}"));
            let c2 = netlogon_challenge(&b, "WS1").await.unwrap();
            // A fresh random challenge each time.
            assert_ne!(c1, c2, "{level} {service:?}");
        }
    }
}

/// A server with `service` (a keytab) and/or an empty users file, serving [`Who`].
async fn who_server(service: Option<KerberosService>, who: Arc<Who>) -> Server {
    let mut builder = Server::builder()
        .interface(who)
        .interface_security(WHO, InterfaceSecurity::min_level(AuthnLevel::Connect))
        .authentication(Arc::new(msrpc::UserStore::new()));
    if let Some(s) = service {
        builder = builder.kerberos(s);
    }
    builder
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs addc: ./scripts/test starts it"]
async fn addc_negotiate_choosing_kerberos_to_a_keytab_server_at_every_level() {
    let dc = dc();
    let keytab = Keytab::from_file(dc.var("MSRPC_ADDC_KEYTAB")).unwrap();
    let spn = dc.var("MSRPC_ADDC_SERVICE_SPN").to_owned();
    let service = KerberosService::from_keytab(&keytab, Some(&spn), dc.kdc()).unwrap();
    let who = Arc::new(Who::default());
    let s = who_server(Some(service), who.clone()).await;
    let text = s.bindings()[0].to_string();
    let user = || Credentials::new(dc.var("MSRPC_ADDC_USER"), dc.realm(), &dc.password);
    for level in LEVELS {
        let mut o = BindingOptions::default();
        o.call_timeout = Some(Duration::from_secs(30));
        o.auth = Some(AuthInfo::negotiate_kerberos(level, user(), dc.kdc(), &spn));
        let b = Binding::with_options(&text, o).unwrap();
        // Several calls: the sequence numbers after the mechListMICs line up both ways.
        for _ in 0..3 {
            let r = b
                .call(WHO, 0, |_, _| Ok(Vec::new()))
                .await
                .unwrap_or_else(|e| panic!("{level}: SPNEGO/Kerberos to the keytab server: {e}"));
            let who = String::from_utf8(r.stub).unwrap();
            let (name, groups) = who.split_once('\n').unwrap();
            assert_eq!(
                name.to_lowercase(),
                format!("alice@{} {level}", dc.realm()).to_lowercase()
            );
            let groups: Vec<&str> = groups.split(',').collect();
            assert!(groups[0].ends_with("-513"), "{level}: {groups:?}");
            assert!(
                groups.contains(&dc.var("MSRPC_ADDC_TESTERS_SID")),
                "{level}: {groups:?}"
            );
        }
    }
    assert_eq!(who.ran.load(Ordering::SeqCst), 12);
    s.shutdown(Duration::from_secs(1)).await;
}

/// One call to [`Who`] on `s`, SPNEGO choosing Kerberos at integrity with a ticket for `spn`.
async fn negotiate_kerberos_who(dc: &Dc, s: &Server, spn: &str) -> msrpc::Result<msrpc::Reply> {
    let user = Credentials::new(dc.var("MSRPC_ADDC_USER"), dc.realm(), &dc.password);
    let mut o = BindingOptions::default();
    o.call_timeout = Some(Duration::from_secs(30));
    o.auth = Some(AuthInfo::negotiate_kerberos(
        AuthnLevel::PktIntegrity,
        user,
        dc.kdc(),
        spn,
    ));
    let b = Binding::with_options(&s.bindings()[0].to_string(), o).unwrap();
    b.call(WHO, 0, |_, _| Ok(Vec::new())).await
}

#[tokio::test]
#[ignore = "needs addc: ./scripts/test starts it"]
async fn addc_negotiate_kerberos_with_a_wrong_ticket_or_no_keytab_is_refused() {
    let dc = dc();
    let keytab = Keytab::from_file(dc.var("MSRPC_ADDC_KEYTAB")).unwrap();
    let spn = dc.var("MSRPC_ADDC_SERVICE_SPN").to_owned();
    // A ticket for another service (the DC's): the keytab has no key for it.
    let service = KerberosService::from_keytab(&keytab, Some(&spn), dc.kdc()).unwrap();
    let who = Arc::new(Who::default());
    let s = who_server(Some(service), who.clone()).await;
    let e = negotiate_kerberos_who(&dc, &s, dc.var("MSRPC_ADDC_DC_SPN"))
        .await
        .expect_err("a ticket for another service is refused");
    eprintln!("wrong ticket: {e}");
    assert_eq!(e.status(), Win32Status::ERROR_ACCESS_DENIED, "{e}");
    assert_eq!(who.ran.load(Ordering::SeqCst), 0);
    s.shutdown(Duration::from_secs(1)).await;
    // No keytab: a client that offers only Kerberos has nothing to fall back to (bind_nak: the
    // NegTokenInit offers no mechanism the server has).
    let who = Arc::new(Who::default());
    let s = who_server(None, who.clone()).await;
    let e = negotiate_kerberos_who(&dc, &s, &spn)
        .await
        .expect_err("Kerberos without a keytab is refused");
    eprintln!("no keytab: {e}");
    assert_eq!(e.status(), Win32Status::ERROR_ACCESS_DENIED, "{e}");
    assert_eq!(who.ran.load(Ordering::SeqCst), 0);
    s.shutdown(Duration::from_secs(1)).await;
}
