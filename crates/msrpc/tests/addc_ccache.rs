//! Kerberos from a TGT in an MIT credential cache (`kinit`, `KRB5CCNAME`) against the Samba AD
//! DC of `scripts/peers/addc.sh`, inside its network namespace:
//!
//! ```sh
//! scripts/peers/addc.sh start target/addc
//! scripts/peers/addc.sh exec target/addc cargo test -p msrpc --test addc_ccache -- --include-ignored
//! ```
//!
//! MIT `kinit` gets alice's TGT into a cache; msrpc's client then asks the DC's KDC for the
//! service ticket with that TGT alone (no password, no keytab) and calls the DC's mgmt, samr and
//! lsarpc at connect, packet, integrity and privacy, and a keytab server of its own; an expired
//! TGT, a cache without a TGT for the realm and a KDC refusal give clear errors.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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
const LSARPC: SyntaxId = SyntaxId::new(uuid::uuid!("12345778-1234-abcd-ef00-0123456789ab"), 0, 0);
const SAMR: SyntaxId = SyntaxId::new(uuid::uuid!("12345778-1234-abcd-ef00-0123456789ac"), 1, 0);
const EPM: uuid::Uuid = uuid::uuid!("e1af8308-5d1f-11c9-91a4-08002b14a0fa");

struct Dc {
    dir: PathBuf,
    env: HashMap<String, String>,
    password: String,
}

impl Dc {
    fn var(&self, k: &str) -> &str {
        self.env
            .get(k)
            .unwrap_or_else(|| panic!("{k} missing from the DC's env file"))
    }
    /// Kerberos with no password and no keytab: the TGT comes from `cache`.
    fn auth(&self, level: AuthnLevel, cache: &Path, spn: &str) -> AuthInfo {
        AuthInfo::kerberos(
            level,
            Credentials::new("", "", ""),
            self.var("MSRPC_ADDC_KDC_URL"),
            spn,
        )
        .with_ccache(cache)
        .unwrap()
    }
    /// The same inside SPNEGO (auth type 9, Kerberos only).
    fn negotiate(&self, level: AuthnLevel, cache: &Path, spn: &str) -> AuthInfo {
        AuthInfo::negotiate_kerberos(
            level,
            Credentials::new("", "", ""),
            self.var("MSRPC_ADDC_KDC_URL"),
            spn,
        )
        .with_ccache(cache)
        .unwrap()
    }
    fn binding(&self, port: u16, auth: AuthInfo) -> Binding {
        binding(&format!("ncacn_ip_tcp:127.0.0.1[{port}]"), auth)
    }
    /// `kinit` alice into a fresh cache `name` under the DC's directory.
    fn kinit(&self, name: &str, extra: &[&str]) -> PathBuf {
        let path = self.dir.join(name);
        let _ = std::fs::remove_file(&path);
        let mut child = std::process::Command::new("kinit")
            .args(extra)
            .arg("-c")
            .arg(format!("FILE:{}", path.display()))
            .arg(format!(
                "{}@{}",
                self.var("MSRPC_ADDC_USER"),
                self.var("MSRPC_ADDC_REALM")
            ))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{}", self.password).unwrap();
        assert!(child.wait().unwrap().success(), "kinit");
        path
    }
}

fn binding(s: &str, auth: AuthInfo) -> Binding {
    let mut o = BindingOptions::default();
    o.call_timeout = Some(Duration::from_secs(30));
    o.auth = Some(auth);
    Binding::with_options(s, o).unwrap()
}

fn dc() -> Dc {
    let dir = std::env::var("MSRPC_ADDC_DIR").expect(
        "MSRPC_ADDC_DIR is not set: run inside the DC's namespace with \
         scripts/peers/addc.sh exec DIR cargo test -p msrpc --test addc_ccache -- --include-ignored",
    );
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).unwrap();
    let env = read("env")
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let password = read("alice.password").trim().to_owned();
    Dc {
        dir: dir.into(),
        env,
        password,
    }
}

async fn tcp_port(iface: SyntaxId) -> u16 {
    let epm_b = Binding::from_string("ncacn_ip_tcp:127.0.0.1[135]").unwrap();
    let towers = epm::map_tcp(&epm_b, iface, None, 4).await.unwrap();
    towers.iter().find_map(|t| t.tcp_port()).unwrap()
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// SamrConnect2, SamrEnumerateDomainsInSamServer, SamrCloseHandle: the enumeration's reply.
async fn samr_domains(b: &Binding) -> msrpc::Result<Vec<u8>> {
    let mut connect = vec![0u8; 4];
    connect.extend_from_slice(&0x30u32.to_le_bytes());
    let r = b.call(SAMR, 57, move |_, _| Ok(connect)).await?;
    assert_eq!(&r.stub[20..], &[0; 4], "SamrConnect2 status");
    let handle = r.stub[..20].to_vec();
    let mut enumerate = handle.clone();
    enumerate.extend_from_slice(&0u32.to_le_bytes());
    enumerate.extend_from_slice(&1000u32.to_le_bytes());
    let domains = b.call(SAMR, 6, move |_, _| Ok(enumerate)).await?;
    let close = b.call(SAMR, 1, move |_, _| Ok(handle)).await?;
    assert_eq!(&close.stub[20..], &[0; 4], "SamrCloseHandle status");
    Ok(domains.stub)
}

#[tokio::test]
#[ignore = "needs addc: ./scripts/test starts it"]
async fn addc_a_ccache_tgt_calls_the_dcs_mgmt_samr_and_lsarpc_at_every_level() {
    let dc = dc();
    let cache = dc.kinit("ccache-test.alice", &[]);
    let spn = dc.var("MSRPC_ADDC_DC_SPN").to_owned();
    let samr = tcp_port(SAMR).await;
    let lsa = tcp_port(LSARPC).await;
    for level in LEVELS {
        let b = dc.binding(135, dc.auth(level, &cache, &spn));
        let ids = mgmt::inq_if_ids(&b)
            .await
            .unwrap_or_else(|e| panic!("{level}: mgmt inq_if_ids: {e}"));
        assert!(ids.iter().any(|i| i.uuid == EPM), "{level}: {ids:?}");
        assert!(mgmt::is_server_listening(&b).await.unwrap(), "{level}");
        // Several calls on one connection: the sequence numbers move on.
        for _ in 0..3 {
            assert!(mgmt::is_server_listening(&b).await.unwrap(), "{level}");
        }

        let b = dc.binding(samr, dc.auth(level, &cache, &spn));
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
            }
            Err(e) => {
                assert_eq!(level, AuthnLevel::Connect, "samr at {level}: {e}");
                assert_eq!(e.status(), Win32Status::ERROR_ACCESS_DENIED, "{e}");
            }
        }

        // lsarpc over TCP: the bind is accepted, LsarOpenPolicy2 refused, as with a password.
        let b = dc.binding(lsa, dc.auth(level, &cache, &spn));
        let mut open = vec![0u8; 4];
        open.extend_from_slice(&24u32.to_le_bytes());
        open.extend_from_slice(&[0; 20]);
        open.extend_from_slice(&1u32.to_le_bytes());
        let e = b
            .call(LSARPC, 44, move |_, _| Ok(open))
            .await
            .expect_err("LSA policy over TCP");
        assert_eq!(e.status(), Win32Status::ERROR_ACCESS_DENIED, "{level}: {e}");
    }
}

const WHO: SyntaxId = SyntaxId::new(uuid::uuid!("0e3f5a7c-1b2d-4e6f-8a9b-0c1d2e3f4a62"), 1, 0);

#[derive(Default)]
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
        let out = match call.client() {
            Some(c) => format!("{}@{} {}", c.user, c.domain, c.level),
            None => "anonymous".into(),
        };
        call.answer(out.into_bytes())
    }
}

#[tokio::test]
#[ignore = "needs addc: ./scripts/test starts it"]
async fn addc_a_ccache_tgt_logs_on_to_a_keytab_server_at_every_level() {
    let dc = dc();
    let cache = dc.kinit("ccache-test.server", &[]);
    let keytab = Keytab::from_file(dc.var("MSRPC_ADDC_KEYTAB")).unwrap();
    let spn = dc.var("MSRPC_ADDC_SERVICE_SPN").to_owned();
    let service =
        KerberosService::from_keytab(&keytab, Some(&spn), dc.var("MSRPC_ADDC_KDC_URL")).unwrap();
    let s = Server::builder()
        .interface(Arc::new(Who))
        .kerberos(service)
        .interface_security(WHO, InterfaceSecurity::min_level(AuthnLevel::Connect))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let text = s.bindings()[0].to_string();
    for level in LEVELS {
        let b = binding(&text, dc.auth(level, &cache, &spn));
        for _ in 0..3 {
            let r = b
                .call(WHO, 0, |_, _| Ok(Vec::new()))
                .await
                .unwrap_or_else(|e| panic!("{level}: {e}"));
            let who = String::from_utf8(r.stub).unwrap();
            assert_eq!(
                who.to_lowercase(),
                format!("alice@{} {level}", dc.var("MSRPC_ADDC_REALM")).to_lowercase()
            );
        }
    }
    // A ticket for another service (the DC's): the keytab server cannot read it.
    let b = binding(
        &text,
        dc.auth(
            AuthnLevel::PktIntegrity,
            &cache,
            dc.var("MSRPC_ADDC_DC_SPN"),
        ),
    );
    let e = b.call(WHO, 0, |_, _| Ok(Vec::new())).await.unwrap_err();
    assert_eq!(e.status(), Win32Status::ERROR_ACCESS_DENIED, "{e}");
    s.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
#[ignore = "needs addc: ./scripts/test starts it"]
async fn addc_an_expired_tgt_a_cache_without_one_and_a_kdc_refusal_give_clear_errors() {
    let dc = dc();
    let spn = dc.var("MSRPC_ADDC_DC_SPN").to_owned();
    let kdc = dc.var("MSRPC_ADDC_KDC_URL");
    let level = AuthnLevel::PktIntegrity;
    // A TGT that lives 2 seconds, read after it has expired.
    let short = dc.kinit("ccache-test.short", &["-l", "2s"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let e = AuthInfo::kerberos(level, Credentials::new("", "", ""), kdc, &spn)
        .with_ccache(&short)
        .unwrap_err();
    eprintln!("expired: {e}");
    assert!(e.detail.contains("expired"), "{e}");
    // A cache with no TGT for the realm asked for.
    let cache = dc.kinit("ccache-test.errors", &[]);
    let e = AuthInfo::kerberos(
        level,
        Credentials::new("alice", "OTHER.TEST", ""),
        kdc,
        &spn,
    )
    .with_ccache(&cache)
    .unwrap_err();
    eprintln!("no TGT: {e}");
    assert!(
        e.detail.contains("no TGT (krbtgt/OTHER.TEST@OTHER.TEST)"),
        "{e}"
    );
    // Not a cache at all.
    let e = AuthInfo::kerberos(level, Credentials::new("", "", ""), kdc, &spn)
        .with_ccache(dc.var("MSRPC_ADDC_KEYTAB"))
        .unwrap_err();
    eprintln!("a keytab: {e}");
    assert!(e.detail.contains("malformed credential cache"), "{e}");
    // The KDC refuses a TGS-REQ for a principal it does not know.
    let b = dc.binding(135, dc.auth(level, &cache, "host/nosuch.ad.msrpc.test"));
    let e = mgmt::is_server_listening(&b).await.unwrap_err();
    eprintln!("unknown SPN: {e}");
    assert_eq!(e.status(), Win32Status::ERROR_ACCESS_DENIED, "{e}");
    assert!(e.to_string().contains("server not found"), "{e}");
    // An unreachable KDC.
    let auth = AuthInfo::kerberos(
        level,
        Credentials::new("", "", ""),
        "tcp://127.0.0.1:9",
        &spn,
    )
    .with_ccache(&cache)
    .unwrap();
    let e = mgmt::is_server_listening(&dc.binding(135, auth))
        .await
        .unwrap_err();
    eprintln!("unreachable KDC: {e}");
    assert_eq!(e.status(), Win32Status::ERROR_ACCESS_DENIED, "{e}");
    assert!(e.to_string().contains("KDC 127.0.0.1:9"), "{e}");
}

#[tokio::test]
#[ignore = "needs addc: ./scripts/test starts it"]
async fn addc_spnego_with_a_ccache_tgt_to_the_dc_and_a_keytab_server_at_every_level() {
    let dc = dc();
    let cache = dc.kinit("ccache-test.spnego", &[]);
    let dc_spn = dc.var("MSRPC_ADDC_DC_SPN").to_owned();
    let samr = tcp_port(SAMR).await;
    let keytab = Keytab::from_file(dc.var("MSRPC_ADDC_KEYTAB")).unwrap();
    let spn = dc.var("MSRPC_ADDC_SERVICE_SPN").to_owned();
    let service =
        KerberosService::from_keytab(&keytab, Some(&spn), dc.var("MSRPC_ADDC_KDC_URL")).unwrap();
    let s = Server::builder()
        .interface(Arc::new(Who))
        .kerberos(service)
        .interface_security(WHO, InterfaceSecurity::min_level(AuthnLevel::Connect))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let text = s.bindings()[0].to_string();
    for level in LEVELS {
        let b = dc.binding(135, dc.negotiate(level, &cache, &dc_spn));
        for _ in 0..3 {
            assert!(
                mgmt::is_server_listening(&b)
                    .await
                    .unwrap_or_else(|e| panic!("{level}: DC mgmt: {e}")),
                "{level}"
            );
        }
        if level != AuthnLevel::Connect {
            let b = dc.binding(samr, dc.negotiate(level, &cache, &dc_spn));
            let reply = samr_domains(&b)
                .await
                .unwrap_or_else(|e| panic!("{level}: samr: {e}"));
            let n = utf16("BUILTIN");
            assert!(reply.windows(n.len()).any(|w| w == n.as_slice()), "{level}");
        }
        let b = binding(&text, dc.negotiate(level, &cache, &spn));
        for _ in 0..3 {
            let r = b
                .call(WHO, 0, |_, _| Ok(Vec::new()))
                .await
                .unwrap_or_else(|e| panic!("{level}: keytab server: {e}"));
            let who = String::from_utf8(r.stub).unwrap();
            assert_eq!(
                who.to_lowercase(),
                format!("alice@{} {level}", dc.var("MSRPC_ADDC_REALM")).to_lowercase()
            );
        }
    }
    s.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
#[ignore = "needs addc: ./scripts/test starts it"]
async fn addc_parallel_calls_with_a_ccache_tgt_on_one_signed_and_one_sealed_connection() {
    let dc = dc();
    let cache = dc.kinit("ccache-test.parallel", &[]);
    let spn = dc.var("MSRPC_ADDC_DC_SPN").to_owned();
    for level in [AuthnLevel::PktIntegrity, AuthnLevel::PktPrivacy] {
        let b = dc.binding(135, dc.auth(level, &cache, &spn));
        mgmt::is_server_listening(&b).await.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move { mgmt::inq_if_ids(&b).await }));
        }
        for t in tasks {
            let ids = t.await.unwrap().unwrap_or_else(|e| panic!("{level}: {e}"));
            assert!(ids.iter().any(|i| i.uuid == EPM), "{level}");
        }
    }
}
