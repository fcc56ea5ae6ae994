//! The server's idle timer follows the connection's activity: a call made before the idle timeout
//! runs out moves the deadline on (the connection stays open past the first deadline), and a
//! connection left idle is closed once the timeout has passed since its last bytes, never before.
//!
//! Every wait is bounded; the server the test starts is stopped by it.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use msrpc::server::{Server, ServerConfig};
use msrpc::{Binding, mgmt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_moves_the_idle_deadline_and_idleness_closes() {
    let idle = Duration::from_millis(1600);
    let mut c = ServerConfig::default();
    c.idle_timeout = idle;
    let server = Server::builder()
        .config(c)
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let b = Binding::from_string(&server.bindings()[0].to_string()).unwrap();
    let t0 = Instant::now();
    mgmt::is_server_listening(&b).await.unwrap();
    // Half the timeout later, another call on the same connection.
    tokio::time::sleep(idle / 2).await;
    // The server saw the second call's bytes no earlier than this.
    let last = Instant::now();
    mgmt::is_server_listening(&b).await.unwrap();
    // Past the first call's deadline, short of the second's: still open. (The stats are read
    // first, so a check that comes late on a loaded machine proves nothing and is skipped.)
    tokio::time::sleep_until((t0 + idle + Duration::from_millis(100)).into()).await;
    let closed = server.stats().idle_closed;
    if Instant::now() < last + idle {
        assert_eq!(
            closed, 0,
            "closed before the timeout ran out since the last call"
        );
    }
    // Then it is closed, no earlier than the timeout after the last call.
    let closed_at = loop {
        if server.stats().idle_closed >= 1 {
            break Instant::now();
        }
        assert!(
            last.elapsed() < Duration::from_secs(10),
            "idle connection still open 10 s after its last call"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        closed_at >= last + idle,
        "closed {:?} after the last call, the timeout is {idle:?}",
        closed_at - last
    );
    drop(b);
    server.shutdown(Duration::from_secs(1)).await;
}
