//! `msrpc serve --netlogon` called by msrpc's own netlogon client over TCP: NetrServerReqChallenge
//! answers a fresh server challenge, DsrGetDcNameEx2 is ERROR_NOT_SUPPORTED, with `--machines`
//! msrpc-windows' `SecureChannel` is established (NetrServerAuthenticate3, the server's credential
//! verified by the client) and a wrong password or an unknown account refused, and without the
//! flag the interface is not there.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use msrpc::{Binding, Error as RpcError, FaultStatus, Win32Status};
use msrpc_windows::Error;
use msrpc_windows::NtStatus;
use msrpc_windows::netlogon::{
    MachineSecret, NETLOGON_NEG_SUPPORTS_AES, NETLOGON_SECURE_CHANNEL_TYPE, SecureChannel, dc_name,
    server_req_challenge,
};

/// A `msrpc serve` child, killed when the test ends however it ends.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(extra: &[&str]) -> (Serve, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_msrpc"))
        .args(["serve", "--listen", "ncacn_ip_tcp:127.0.0.1[0]"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run msrpc serve");
    let out = child.stdout.take().expect("stdout");
    let s = Serve(child);
    let line = BufReader::new(out).lines().next().expect("a line").unwrap();
    let binding = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    (s, binding)
}

/// `ERROR_NOT_SUPPORTED`.
const ERROR_NOT_SUPPORTED: u32 = 0x32;

#[test]
fn serve_netlogon_answers_req_challenge_and_not_supported() {
    let (_s, binding) = serve(&["--netlogon", "--netlogon-max-challenges", "2"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = Binding::from_string(&binding).unwrap();
        let one = server_req_challenge(&b, "WS1", [1, 2, 3, 4, 5, 6, 7, 8])
            .await
            .unwrap();
        let two = server_req_challenge(&b, "WS1", [1, 2, 3, 4, 5, 6, 7, 8])
            .await
            .unwrap();
        // Random 8-byte challenges: alike twice with odds of 2^-64.
        assert_ne!(one, two);
        // More names than the table holds: still answered (the oldest is forgotten).
        for name in ["WS2", "WS3", "WS4"] {
            server_req_challenge(&b, name, [9; 8]).await.unwrap();
        }
        let err = dc_name(&b, "CORP", 0).await.expect_err("not supported");
        assert!(
            matches!(
                err,
                Error::Win32 {
                    status: Win32Status(ERROR_NOT_SUPPORTED),
                    ..
                }
            ),
            "{err:?}"
        );
    });
}

#[test]
fn serve_without_netlogon_does_not_have_it() {
    let (_s, binding) = serve(&[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = Binding::from_string(&binding).unwrap();
        let err = server_req_challenge(&b, "WS1", [1; 8])
            .await
            .expect_err("no netlogon");
        assert!(
            matches!(
                &err,
                Error::Rpc(RpcError::BindRejected { .. })
                    | Error::Rpc(RpcError::Fault {
                        status: FaultStatus::NCA_S_UNK_IF,
                        ..
                    })
            ),
            "{err:?}"
        );
    });
}

/// A file removed when the test ends.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn serve_netlogon_machines_authenticates_a_secure_channel() {
    let path = std::env::temp_dir().join(format!("msrpc-machines-{}.txt", std::process::id()));
    std::fs::write(&path, "# machine accounts\nWS0:unused\nws1$:Machine-Pw-1\n").unwrap();
    let file = TempFile(path);
    let (_s, binding) = serve(&["--netlogon", "--machines", file.0.to_str().unwrap()]);
    let ws = NETLOGON_SECURE_CHANNEL_TYPE::WorkstationSecureChannel;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = Binding::from_string(&binding).unwrap();
        let good = MachineSecret::Password("Machine-Pw-1".into());
        let sc = SecureChannel::establish(&b, "WS1", "MSRPCTEST", &good, ws)
            .await
            .unwrap();
        assert_eq!(sc.negotiated_flags(), NETLOGON_NEG_SUPPORTS_AES);
        // The second account of the file.
        assert_eq!(sc.account_rid(), 1001);
        assert_ne!(sc.session_key(), [0; 16]);

        let wrong = MachineSecret::Password("Machine-Pw-2".into());
        let err = SecureChannel::establish(&b, "WS1", "MSRPCTEST", &wrong, ws)
            .await
            .expect_err("wrong password");
        assert!(
            matches!(
                err,
                Error::Nt {
                    status: NtStatus::STATUS_ACCESS_DENIED,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = SecureChannel::establish(&b, "WS9", "MSRPCTEST", &good, ws)
            .await
            .expect_err("no such account");
        assert!(
            matches!(
                err,
                Error::Nt {
                    status: NtStatus(0xC000_018B),
                    ..
                }
            ),
            "{err:?}"
        );
    });
}

#[test]
fn serve_netlogon_refuses_a_bad_machines_file() {
    let path = std::env::temp_dir().join(format!("msrpc-machines-bad-{}.txt", std::process::id()));
    std::fs::write(&path, "WS1 has no password\n").unwrap();
    let file = TempFile(path);
    let out = Command::new(env!("CARGO_BIN_EXE_msrpc"))
        .args([
            "serve",
            "--listen",
            "ncacn_ip_tcp:127.0.0.1[0]",
            "--netlogon",
            "--machines",
        ])
        .arg(&file.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 1"), "{err}");
}
