//! `RpcServerUseProtseq` + `RpcServerInqBindings` + `RpcEpRegister` / `RpcEpUnregister` from a C
//! server (tests/fixtures/ep_server.c) against msrpc's own endpoint mapper (a Rust server
//! serving epm on an ephemeral port, named to the C programs by `MSRPC_EPM_PORT`), and clients,
//! Rust and C, that bind with no endpoint and find the C server's port through the mapper.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use msrpc::server::Server;
use msrpc::{Binding, BindingOptions, Win32Status};

use common::*;

const ASYNCRPC: uuid::Uuid = uuid::uuid!("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b");

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn asyncrpc_entries(server: &Server) -> Vec<msrpc::epm::Entry> {
    server
        .endpoint_db()
        .unwrap()
        .entries()
        .into_iter()
        .filter(|e| e.tower.interface().map(|i| i.uuid) == Some(ASYNCRPC))
        .collect()
}

#[test]
fn c_server_registers_its_dynamic_endpoint_and_clients_resolve_it() {
    let dir = asyncrpc_stubs("epm");
    let fx = root().join("crates/msrpc-c/tests/fixtures");
    let server_exe = dir.join("ep_server");
    cc(
        &dir,
        &[fx.join("ep_server.c"), dir.join("asyncrpc_s.c")],
        &server_exe,
        &[],
    );
    let client_exe = dir.join("auth_client");
    cc(
        &dir,
        &[fx.join("auth_client.c"), dir.join("asyncrpc_c.c")],
        &client_exe,
        &[],
    );

    // msrpc's endpoint mapper, on a free port (135 belongs to the host).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let epm_port = free_port();
    let epm = rt.block_on(async {
        Server::builder()
            .listen("ncacn_ip_tcp:127.0.0.1[0]")
            .endpoint_mapper(format!("ncacn_ip_tcp:127.0.0.1[{epm_port}]"))
            .start()
            .await
            .unwrap()
    });
    let epm = Arc::new(epm);

    let out = dir.join("ep_server.out");
    let mut child = Command::new(&server_exe)
        .env("LD_LIBRARY_PATH", lib_dir())
        .env("MSRPC_LISTEN_ADDRESS", "127.0.0.1")
        .env("MSRPC_EPM_PORT", epm_port.to_string())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(dir.join("ep_server.err")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(&out).unwrap_or_default();
        if log.contains("RpcEpRegister: 0") {
            break;
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the C server did not register: {log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    // The mapper has the C server's endpoint, with its annotation.
    let entries = asyncrpc_entries(&epm);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].annotation, "AsyncRPC sample from C");
    let port = entries[0].tower.tcp_port().unwrap();
    assert_ne!(port, 0);

    // A Rust client with no endpoint in its binding.
    let mut o = BindingOptions::default();
    o.endpoint_mapper_port = epm_port;
    let dynamic = Binding::with_options("ncacn_ip_tcp:127.0.0.1", o.clone()).unwrap();
    msrpc_sample::non_async_func_blocking(&dynamic, "resolved by Rust").unwrap();

    // A C client with no endpoint (RpcStringBindingCompose with an empty endpoint).
    let r = run(
        &client_exe,
        &["", "NONE", "0", "-", "-"],
        &[("MSRPC_EPM_PORT", &epm_port.to_string())],
        Duration::from_secs(60),
    );
    assert!(r.stdout.contains("call: 0\n"), "{r:?}");

    // Shutdown: the manager unregisters, then stops.
    msrpc_sample::shutdown_blocking(&dynamic).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = std::fs::read_to_string(&out).unwrap();
    let left = asyncrpc_entries(&epm);
    // Now nothing resolves the interface: EPT_S_NOT_REGISTERED.
    let again = Binding::with_options("ncacn_ip_tcp:127.0.0.1", o).unwrap();
    let e = msrpc_sample::non_async_func_blocking(&again, "too late").unwrap_err();
    rt.block_on(epm.shutdown(Duration::from_secs(5)));
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("RpcServerUseProtseq: 0"), "{log}");
    assert!(
        log.contains("RpcServerInqBindings: 0, 1 binding(s)"),
        "{log}"
    );
    assert!(log.contains("NonAsyncFunc: resolved by Rust"), "{log}");
    assert!(log.contains("NonAsyncFunc: authenticated hello"), "{log}");
    assert!(log.contains("RpcEpUnregister: 0"), "{log}");
    assert!(log.contains("RpcBindingVectorFree: 0"), "{log}");
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(e.status(), Win32Status::EPT_S_NOT_REGISTERED, "{e}");
}
