//! The `srvsvc_np` example against the smbd `./scripts/test` starts (scripts/peers/smbd.sh,
//! `MSRPC_SMBD_DIR`): it lists the server and its shares over `\pipe\srvsvc`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
#[ignore = "needs smbd: ./scripts/test starts it"]
fn srvsvc_np_lists_the_shares() {
    let dir = std::env::var_os("MSRPC_SMBD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peers/run/smbd"));
    let port = std::fs::read_to_string(dir.join("port")).unwrap();
    let pw = std::fs::read_to_string(dir.join("password")).unwrap();
    let run = |password: &str| {
        Command::new(env!("CARGO_BIN_EXE_srvsvc_np"))
            .arg(r"ncacn_np:127.0.0.1[\pipe\srvsvc]")
            .arg(port.trim())
            .env("MSRPC_USER", "msrpc")
            .env("MSRPC_PASSWORD", password)
            .output()
            .unwrap()
    };
    let out = run(pw.trim());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("server NPSRV ")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("share IPC$ 0x80000003")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("share scratch 0x0")),
        "{stdout}"
    );

    let out = run("wrong-password");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ERROR_ACCESS_DENIED"));
}
