//! Our client against impacket's DCERPCServer (a server no one here wrote), on its happy path.
//!
//! Ignored by a plain `cargo test`; `./scripts/test` provides impacket in `target/peers/venv`
//! and runs it with `--include-ignored`, and a missing impacket then fails it.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::{impacket_python, workspace};

use msrpc::{Binding, mgmt};
use msrpc_sample as sample;

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_impacket() -> (Peer, u16) {
    let mut child = Command::new(impacket_python())
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
    (peer, port)
}

#[tokio::test]
#[ignore = "needs impacket: ./scripts/test installs it"]
async fn our_client_calls_impacket_dcerpc_server() {
    let (_peer, port) = start_impacket();
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
