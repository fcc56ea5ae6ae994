//! `msrpc ifids` and `msrpc epm` over named pipes (`ncacn_np`) against the smbd `./scripts/test`
//! starts (scripts/peers/smbd.sh, `MSRPC_SMBD_DIR`): the README's newcomer path, and a wrong
//! password (exit 1, access denied).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn smbd() -> (u16, String) {
    let dir = std::env::var_os("MSRPC_SMBD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/peers/run/smbd")
        });
    let port = std::fs::read_to_string(dir.join("port"))
        .unwrap_or_else(|e| panic!("{}/port: {e}; start scripts/peers/smbd.sh", dir.display()));
    let pw = std::fs::read_to_string(dir.join("password")).unwrap();
    (port.trim().parse().unwrap(), pw.trim().to_owned())
}

fn msrpc(args: &[&str], password: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_msrpc"))
        .args(args)
        .env("MSRPC_PASSWORD", password)
        .output()
        .unwrap()
}

#[test]
#[ignore = "needs smbd: ./scripts/test starts it"]
fn ifids_over_a_pipe_and_a_wrong_password() {
    let (port, pw) = smbd();
    let port = port.to_string();
    let out = msrpc(
        &[
            "ifids",
            "--smb-port",
            &port,
            "--user",
            "msrpc",
            r"ncacn_np:127.0.0.1[\pipe\srvsvc]",
        ],
        &pw,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("4b324fc8-1670-01d3-1278-5a47bf6ee188"),
        "srvsvc listed: {stdout}"
    );

    let out = msrpc(
        &[
            "ifids",
            "--smb-port",
            &port,
            "--user",
            "msrpc",
            r"ncacn_np:127.0.0.1[\pipe\srvsvc]",
        ],
        "wrong-password",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ERROR_ACCESS_DENIED"), "{stderr}");
    assert!(stderr.contains("session setup"), "SMB-level: {stderr}");
}

#[test]
#[ignore = "needs smbd: ./scripts/test starts it"]
fn epm_over_the_epmapper_pipe() {
    let (port, pw) = smbd();
    let out = msrpc(
        &[
            "epm",
            "--smb-port",
            &port.to_string(),
            "--user",
            "msrpc",
            "--auth-level",
            "none",
            "ncacn_np:127.0.0.1",
        ],
        &pw,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains(r"ncacn_np:127.0.0.1[\\pipe\\epmapper]"),
        "{stderr}"
    );
}

/// The AD DC of `scripts/peers/addc.sh` (run inside its namespace: `addc.sh exec DIR cargo test
/// ... addc_`): `msrpc ifids` over `\pipe\lsarpc` with Kerberos at the SMB layer and RPC privacy,
/// and a wrong password (exit 1, the KDC's refusal in words).
#[test]
#[ignore = "needs addc: ./scripts/test starts it"]
fn addc_ifids_over_a_pipe_with_kerberos() {
    let dir =
        std::env::var("MSRPC_ADDC_DIR").expect("run inside the DC's namespace (addc.sh exec)");
    let pw = std::fs::read_to_string(format!("{dir}/alice.password")).unwrap();
    let args = |level: &'static str| {
        [
            "ifids",
            "--user",
            "alice@AD.MSRPC.TEST",
            "--auth-service",
            "kerberos",
            "--kdc",
            "tcp://127.0.0.1:88",
            "--server-principal",
            "host/dc1.ad.msrpc.test",
            "--auth-level",
            level,
            r"ncacn_np:dc1.ad.msrpc.test[\pipe\lsarpc]",
        ]
    };
    let out = msrpc(&args("privacy"), pw.trim());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("12345778-1234-abcd-ef00-0123456789ab"),
        "lsarpc listed: {stdout}"
    );
    let out = msrpc(&args("none"), "Wr0ng-pw!");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("KDC_ERR_PREAUTH_FAILED") && stderr.contains("ERROR_ACCESS_DENIED"),
        "{stderr}"
    );
}

/// `msrpc shares`, `users`, `groups` and `lookupsid` over `ncacn_np:HOST` (each interface's own
/// pipe): --json is an array of objects with `name`; a wrong password is exit 1 by name.
#[test]
#[ignore = "needs smbd: ./scripts/test starts it"]
fn windows_tools_over_pipes() {
    let (port, pw) = smbd();
    let port = port.to_string();
    let run = |tool: &str, pw: &str| {
        msrpc(
            &[
                tool,
                "--json",
                "--smb-port",
                &port,
                "--user",
                "msrpc",
                "ncacn_np:127.0.0.1",
            ],
            pw,
        )
    };
    let names = |out: &Output| -> Vec<String> {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(names(&run("shares", &pw)).contains(&"IPC$".to_owned()));
    assert!(names(&run("users", &pw)).contains(&"msrpc".to_owned()));
    names(&run("groups", &pw));
    let found = names(&run("lookupsid", &pw));
    assert!(found.contains(&"msrpc".to_owned()), "{found:?}");
    // Samba's svcctl lists its own services (smbd runs as root here; as another user
    // OpenSCManager is access denied), and its registry has the CurrentVersion key.
    let services = names(&run("services", &pw));
    assert!(
        services.contains(&"RemoteRegistry".to_owned()),
        "{services:?}"
    );
    let reg = msrpc(
        &[
            "reg",
            "query",
            "--json",
            "--smb-port",
            &port,
            "--user",
            "msrpc",
            "ncacn_np:127.0.0.1",
            r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion",
        ],
        &pw,
    );
    let reg = names(&reg);
    assert!(reg.contains(&"SystemRoot".to_owned()), "{reg:?}");

    let out = run("users", "wrong-password");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ERROR_ACCESS_DENIED"), "{stderr}");
}
