//! `msrpc serve --epm` and `msrpc epm` end to end: the server registers its dynamic endpoint with
//! the endpoint mapper it serves, `msrpc epm` lists it (table and JSON), and a client binding
//! without a port reaches it through the endpoint mapper.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn msrpc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_msrpc"))
}

/// Stops the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `msrpc serve --epm --epm-port 0`: the server, its AsyncRPC port and its epm port.
fn serve() -> (Server, u16, u16) {
    let mut child = msrpc()
        .args([
            "serve",
            "--epm",
            "--epm-port",
            "0",
            "--listen",
            "ncacn_ip_tcp:127.0.0.1[0]",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run msrpc serve");
    let out = child.stdout.take().expect("stdout");
    let server = Server(child);
    let mut lines = BufReader::new(out).lines();
    let mut port = || -> u16 {
        let line = lines.next().expect("a line").expect("utf-8");
        let p = line
            .rsplit_once('[')
            .and_then(|(_, p)| p.strip_suffix(']'))
            .unwrap_or_else(|| panic!("{line}"));
        p.parse().expect("port")
    };
    let app = port();
    let epm = port();
    (server, app, epm)
}

#[test]
fn serve_epm_registers_and_epm_lists() {
    let (_server, app, epm) = serve();
    let out = msrpc()
        .args(["epm", &format!("ncacn_ip_tcp:127.0.0.1[{epm}]")])
        .output()
        .expect("run msrpc epm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.starts_with("UUID"), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains(&format!("ncacn_ip_tcp:127.0.0.1[{app}]")),
        "{row}"
    );
    assert!(row.contains("AsyncRPC (Windows SDK sample)"), "{row}");

    let out = msrpc()
        .args(["epm", "--json", &format!("ncacn_ip_tcp:127.0.0.1[{epm}]")])
        .output()
        .expect("run msrpc epm --json");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = v.as_array().expect("array");
    assert_eq!(rows.len(), 1, "{v}");
    assert_eq!(rows[0]["version"], "1.0");
    assert_eq!(rows[0]["annotation"], "AsyncRPC");
    assert_eq!(rows[0]["binding"], format!("ncacn_ip_tcp:127.0.0.1[{app}]"));
}

#[test]
fn epm_without_a_server_fails_with_exit_3_and_words() {
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let out = msrpc()
        .args(["epm", &format!("ncacn_ip_tcp:127.0.0.1[{port}]")])
        .output()
        .expect("run msrpc epm");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("(RPC_S_SERVER_UNAVAILABLE 1722)"), "{err}");
    let out = msrpc()
        .args(["epm", "nonsense"])
        .output()
        .expect("run msrpc epm");
    assert_eq!(out.status.code(), Some(2));
}
