//! ACF `[comm_status]`/`[fault_status]` on `[async]` operations (tests/fixtures/astatus.idl and
//! astatus.acf): a failed call's status is stored in the parameter (or the return value) when
//! `RpcAsyncCompleteCall` takes the call, which then returns 0; without the attributes it returns
//! the status; a call that cannot even start is raised by the stub. C client against C server.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn async_comm_and_fault_status_c_to_c() {
    let dir = scratch("astatus");
    let fx = root().join("crates/msrpc-c/tests/fixtures");
    stubs(&fx.join("astatus.idl"), Some(&fx.join("astatus.acf")), &dir);
    let server = dir.join("astatus_server");
    cc(
        &dir,
        &[fx.join("astatus_server.c"), dir.join("astatus_s.c")],
        &server,
        &[],
    );
    let client = dir.join("astatus_client");
    cc(
        &dir,
        &[fx.join("astatus_client.c"), dir.join("astatus_c.c")],
        &client,
        &[],
    );

    let err = dir.join("server.err");
    let mut child = Command::new(&server)
        .arg("0")
        .env("LD_LIBRARY_PATH", lib_dir())
        .env("MSRPC_LISTEN_ADDRESS", "127.0.0.1")
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let port = listening_port(&err, None);
    let dead = {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let r = run(
        &client,
        &[&port.to_string(), &dead.to_string()],
        &[],
        Duration::from_secs(60),
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.code, Some(0), "{r:?}");
    for want in [
        "Fail(0): complete 0, reply 3, st 0",
        // The fault lands in `st`; the completion succeeds.
        "Fail(1234): complete 0, st 1234",
        // [fault_status] on the return value: RpcAsyncCompleteCall's Reply gets the status.
        "FailRet(5678): complete 0, reply 5678",
        "FailRet(0): complete 0, reply 0",
        // No attribute: the status is RpcAsyncCompleteCall's.
        "Plain(4321): complete 4321",
        // A call that cannot start (no server: RPC_S_SERVER_UNAVAILABLE) is raised by the
        // stub even with [comm_status], as Windows' table for asynchronous calls says ("Client
        // call to remote function fails: the call raises an exception").
        "Fail on a dead port: raised 1722",
    ] {
        assert!(r.stdout.contains(want), "{want}: {r:?}");
    }
}
