//! Our client against impacket's DCERPCServer (a server no one here wrote), on its happy path.
//!
//! `./scripts/test` provides impacket in `target/peers/venv` and sets `MSRPC_REQUIRE_PEERS=1`;
//! without impacket and without that variable the test prints SKIP and passes.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use msrpc::{Binding, mgmt, sample};

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn start_impacket() -> Option<(Peer, u16)> {
    let python = std::env::var("MSRPC_IMPACKET_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace().join("target/peers/venv/bin/python"));
    let required = std::env::var("MSRPC_REQUIRE_PEERS").as_deref() == Ok("1");
    if !python.exists() {
        assert!(!required, "impacket venv missing at {}", python.display());
        eprintln!("SKIP: no impacket venv at {}", python.display());
        return None;
    }
    let mut child = Command::new(python)
        .arg(workspace().join("tests/interop/impacket_server.py"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let peer = Peer(child);
    let mut line = String::new();
    // One line, written once the server listens; read_line returns at EOF if it dies first.
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let port = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|p| p.parse().ok());
    let port = port.unwrap_or_else(|| panic!("impacket server did not start: {line:?}"));
    Some((peer, port))
}

#[tokio::test]
async fn our_client_calls_impacket_dcerpc_server() {
    let Some((_peer, port)) = start_impacket() else {
        return;
    };
    let b = Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{port}]")).unwrap();
    assert!(mgmt::is_server_listening(&b).await.unwrap());
    assert!(mgmt::is_server_listening(&b).await.unwrap());
    // A second binding (impacket binds one interface per connection).
    let b2 = Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{port}]")).unwrap();
    b.close();
    sample::non_async_func(&b2, "hello, impacket")
        .await
        .unwrap();
}
