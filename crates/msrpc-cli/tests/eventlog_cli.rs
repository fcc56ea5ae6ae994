//! `msrpc eventlog BINDING LOG` over smbd's `\pipe\eventlog` (scripts/peers/smbd.sh,
//! `MSRPC_SMBD_DIR`), which writes two records into log `MsrpcTest` with Samba's `eventlogadm`
//! when it starts: event 4242 (warning), then 4243 (error, the newest).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

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

#[test]
#[ignore = "needs smbd: ./scripts/test starts it"]
fn eventlog_json_lists_the_records_eventlogadm_wrote() {
    let (port, pw) = smbd();
    let port = port.to_string();
    let run = |log: &str| {
        Command::new(env!("CARGO_BIN_EXE_msrpc"))
            .args([
                "eventlog",
                "--json",
                "--smb-port",
                &port,
                "--user",
                "msrpc",
                "ncacn_np:127.0.0.1",
                log,
            ])
            .env("MSRPC_PASSWORD", &pw)
            .output()
            .unwrap()
    };
    let out = run("MsrpcTest");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let records = v.as_array().expect("an array");
    assert_eq!(records.len(), 2, "{v}");
    let ids: Vec<_> = records.iter().map(|r| r["event_id"].as_u64()).collect();
    assert_eq!(ids, [Some(4243), Some(4242)], "newest first: {v}");
    assert_eq!(records[0]["event_type"], 1);
    assert_eq!(records[0]["name"], "msrpc-test", "name is the source");
    assert_eq!(records[0]["computer"], "NPSRV");
    assert_eq!(
        records[0]["strings"],
        serde_json::json!(["second record", "the newest"])
    );
    assert_eq!(
        records[1]["strings"],
        serde_json::json!(["first record", "written by smbd.sh"])
    );

    let out = run("Security");
    assert_eq!(out.status.code(), Some(1), "refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ElfrOpenELW: STATUS_OBJECT_PATH_INVALID (0xC0000039)"),
        "{err}"
    );
}
