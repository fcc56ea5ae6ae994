//! Shared by the integration tests of `msrpc`: the quiet AsyncRPC handler, a sample server on an
//! ephemeral loopback port, and bounded waits that poll for a condition instead of sleeping.
//!
//! Each test file that needs it says `mod common;`; a file uses only part of it.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use msrpc::Win32Status;
use msrpc::server::{Server, ServerConfig};
use msrpc_sample::AsyncRpcHandler;

/// The longest any test waits for something that should happen soon. A deadline, not a timing
/// target: a test that hits it fails with the name of what it waited for.
pub const WAIT: Duration = Duration::from_secs(10);

/// How often the waits below look again.
const POLL: Duration = Duration::from_millis(5);

/// The AsyncRPC sample's manager with nothing to observe: `NonAsyncFunc` does nothing,
/// `Shutdown` is refused with `ERROR_ACCESS_DENIED` (so no test can stop a shared server), and
/// `AsyncFunc` is the sample's own (completes after its delay).
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl AsyncRpcHandler for Quiet {
    fn non_async_func(&self, _: &[u8]) {}
    fn shutdown(&self) -> Result<(), Win32Status> {
        Err(Win32Status::ERROR_ACCESS_DENIED)
    }
}

/// The AsyncRPC sample served by `handler` on `ncacn_ip_tcp:127.0.0.1[0]` with `config`.
/// Returns the server (the test stops it) and its binding text.
pub async fn sample_server_with(
    handler: impl AsyncRpcHandler,
    config: ServerConfig,
) -> (Server, String) {
    let server = Server::builder()
        .config(config)
        .interface(Arc::new(msrpc_sample::service(handler)))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .expect("the test server starts on 127.0.0.1");
    let text = server.bindings()[0].to_string();
    (server, text)
}

/// The AsyncRPC sample with [`Quiet`] and the default configuration on 127.0.0.1.
pub async fn sample_server() -> (Server, String) {
    sample_server_with(Quiet, ServerConfig::default()).await
}

/// The TCP port of a server's first listener.
pub fn port_of(server: &Server) -> u16 {
    server.bindings()[0]
        .endpoint()
        .and_then(|e| e.parse().ok())
        .expect("the first listener is ncacn_ip_tcp with a port")
}

/// Polls `f` until it is true; fails the test naming `what` if it is still false after [`WAIT`].
/// For plain threads (the test thread of a `#[test]`).
#[track_caller]
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for: {what}");
        std::thread::sleep(POLL);
    }
}

/// [`eventually`] inside a tokio runtime: yields to the runtime between looks, so a server on the
/// same (current-thread) runtime keeps running.
pub async fn eventually_async(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for: {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// Checks that `f` stays true for the whole of `window`, looking every few milliseconds: the
/// check that something does *not* happen (a second notification, a late answer). The window is
/// how long we watch, not a synchronisation.
#[track_caller]
pub fn stays(what: &str, window: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + window;
    loop {
        assert!(f(), "{what}");
        if Instant::now() >= end {
            return;
        }
        std::thread::sleep(POLL);
    }
}

/// Whether `f` becomes true within `deadline` (polled): for a test that records a miss instead of
/// failing at once.
pub fn within(deadline: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

// Peers. A test that needs one is `#[ignore = "needs PEER: ./scripts/test starts it"]`, so a plain
// `cargo test` reports it as ignored; `./scripts/test` provides the peer and runs the ignored
// tests too, and then a missing peer fails the test (these functions panic) instead of passing.

/// The workspace root (the repository checkout).
pub fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Fails the test unless samba-dcerpcd's endpoint mapper listens on 127.0.0.1:135.
#[track_caller]
pub fn require_samba() {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 135));
    if let Err(e) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        panic!(
            "samba-dcerpcd is not listening on 127.0.0.1:135 ({e}); \
             scripts/peers/samba.sh start DIR starts it"
        );
    }
}

/// Fails the test unless `/usr/bin/python3` can `import module` (python3-samba).
#[track_caller]
pub fn require_python3_samba(module: &str) {
    let ok = std::process::Command::new("/usr/bin/python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "/usr/bin/python3 cannot import {module} (python3-samba; scripts/peers/install.sh installs it)"
    );
}

/// The impacket venv's python (`MSRPC_IMPACKET_PYTHON`, else `target/peers/venv/bin/python` in
/// this workspace); fails the test if it is not there.
#[track_caller]
pub fn impacket_python() -> std::path::PathBuf {
    let python = std::env::var_os("MSRPC_IMPACKET_PYTHON").map_or_else(
        || workspace().join("target/peers/venv/bin/python"),
        std::path::PathBuf::from,
    );
    assert!(
        python.exists(),
        "no impacket venv at {} (scripts/peers/install.sh makes it)",
        python.display()
    );
    python
}
