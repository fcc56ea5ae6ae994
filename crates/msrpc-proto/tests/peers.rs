//! The server state machine against real clients (python3-samba, impacket) over loopback TCP,
//! through a minimal blocking shim. Ignored by a plain `cargo test`; `./scripts/test` installs the
//! peers and runs them with `--include-ignored`, and a missing peer then fails the test.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use msrpc_proto::{
    Execution, FaultStatus, ServerConfig, ServerConnection, ServerEvent, StaticRegistry, SyntaxId,
};
use uuid::uuid;

const ASYNC: SyntaxId = SyntaxId::new(uuid!("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b"), 1, 0);
const MGMT: SyntaxId = SyntaxId::new(uuid!("afa8bd80-7d8a-11c9-bef4-08002b102989"), 1, 0);

/// Drive one ServerConnection over one TCP connection until the peer goes away.
fn serve_connection(mut sock: TcpStream) -> Vec<String> {
    let registry = Arc::new(StaticRegistry::new(vec![
        (ASYNC, vec![SyntaxId::NDR20]),
        (MGMT, vec![SyntaxId::NDR20]),
    ]));
    let mut config = ServerConfig::default();
    config.sec_addr = sock.local_addr().unwrap().port().to_string();
    let mut conn = ServerConnection::new(config, registry);
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut log = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        while let Some(ev) = conn.poll_event() {
            match ev {
                ServerEvent::Call(c) => {
                    log.push(format!(
                        "call {} op {} len {}",
                        c.call_id,
                        c.opnum,
                        c.stub.len()
                    ));
                    if c.opnum == 9 {
                        conn.fault(
                            c.call_id,
                            FaultStatus::NCA_S_OP_RNG_ERROR,
                            Execution::DidNotExecute,
                        )
                        .unwrap();
                    } else {
                        let mut out = b"echo:".to_vec();
                        if c.object.is_some() {
                            out.extend_from_slice(b"obj:");
                        }
                        out.extend_from_slice(&c.stub);
                        conn.respond(c.call_id, Bytes::from(out)).unwrap();
                    }
                }
                other => log.push(format!("{other:?}")),
            }
        }
        while let Some(pdu) = conn.poll_transmit() {
            if sock.write_all(&pdu).is_err() {
                return log;
            }
        }
        if conn.is_closed() {
            return log;
        }
        match sock.read(&mut buf) {
            Ok(0) | Err(_) => {
                conn.handle_transport_closed();
                return log;
            }
            Ok(n) => conn.handle_bytes(Instant::now(), &buf[..n]),
        }
    }
}

fn run_peer(python: &Path, script: &str) -> Option<(bool, String, Vec<Vec<String>>)> {
    if !python.exists() {
        return None;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        // Each peer uses one connection (impacket's alter_ctx shares it). Bounded wait, so a peer
        // that dies before connecting cannot hang the test.
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut logs = Vec::new();
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((sock, _)) => {
                    sock.set_nonblocking(false).unwrap();
                    logs.push(serve_connection(sock));
                    break;
                }
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
        logs
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(script);
    let out = Command::new(python)
        .arg(script)
        .arg(port.to_string())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let logs = server.join().unwrap();
    Some((out.status.success(), text, logs))
}

fn check(python: PathBuf, import: &str, script: &str) {
    let has = python.exists()
        && Command::new(&python)
            .args(["-c", &format!("import {import}")])
            .output()
            .is_ok_and(|o| o.status.success());
    assert!(
        has,
        "peer {import} not available at {} (./scripts/peers/install.sh installs it)",
        python.display()
    );
    let (ok, text, logs) = run_peer(&python, script).unwrap();
    assert!(
        ok && text.contains("ok"),
        "{script} failed:\n{text}\nserver log: {logs:#?}"
    );
    println!("{script}: {}", logs.concat().join("; "));
}

#[test]
#[ignore = "needs python3-samba: ./scripts/test installs it"]
fn python3_samba_client() {
    check(
        PathBuf::from("/usr/bin/python3"),
        "samba.dcerpc.base",
        "samba_raw.py",
    );
}

#[test]
#[ignore = "needs impacket: ./scripts/test installs it"]
fn impacket_client() {
    // `./scripts/test` names its venv's python; by default the one under this workspace's target/.
    let python = std::env::var_os("MSRPC_IMPACKET_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/peers/venv/bin/python"),
        PathBuf::from,
    );
    check(python, "impacket", "impacket_raw.py");
}
