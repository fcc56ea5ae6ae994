//! `[strict_context_handle]` in the Rust generator and server (tests/fixtures/strict.idl, whose
//! Rust stubs are tests/fixtures/strict_gen.rs): a handle Maker's manager created is accepted by
//! Lax's (any interface's handle, MIDL's default) and refused to Strict's with
//! `nca_s_fault_context_mismatch`, which accepts its own; a PH handle presented as the
//! `[type_strict_context_handle]` PT is refused (in Rust by its value's type); the same Rust
//! client against the C server of the same IDL (strict_server.c) gets the same answers.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use msrpc::Binding;
use msrpc::codegen::{IncomingCall, Win32Status};
use msrpc::server::Server;

use common::*;

#[allow(
    clippy::all,
    clippy::pedantic,
    dead_code,
    unreachable_pub,
    missing_debug_implementations
)]
mod strict_idl {
    include!("fixtures/strict_gen.rs");
}
use strict_idl::{lax, maker, strict};

#[test]
fn the_strict_rust_stubs_are_current() {
    let idl = root().join("crates/msrpc-c/tests/fixtures/strict.idl");
    let code = msrpc_idl::Builder::new().generate(&idl, None).unwrap();
    let kept = std::fs::read_to_string(root().join("crates/msrpc-c/tests/fixtures/strict_gen.rs"))
        .unwrap();
    assert!(
        code == kept,
        "regenerate: msrpc idl crates/msrpc-c/tests/fixtures/strict.idl -o crates/msrpc-c/tests/fixtures/strict_gen.rs"
    );
    // Only the [strict_context_handle] interface says so.
    assert_eq!(
        code.matches("fn strict_context_handles(&self) -> bool")
            .count(),
        1
    );
}

/// One manager for the three interfaces: a handle's value is an `i32`.
struct M;

fn fault(s: msrpc::FaultStatus) -> Win32Status {
    s.to_win32()
}

impl maker::Server for M {
    fn make(
        &self,
        call: &IncomingCall,
        req: maker::MakeRequest,
    ) -> Result<maker::MakeResponse, Win32Status> {
        Ok(maker::MakeResponse {
            p: call.new_context(req.v, drop).map_err(fault)?,
            return_value: 0,
        })
    }
    /// A PT's value is an `i64`: its Rust type is its IDL type (type-strict by construction).
    fn make_t(
        &self,
        call: &IncomingCall,
        req: maker::MakeTRequest,
    ) -> Result<maker::MakeTResponse, Win32Status> {
        Ok(maker::MakeTResponse {
            p: call.new_context(i64::from(req.v), drop).map_err(fault)?,
            return_value: 0,
        })
    }
}

impl lax::Server for M {
    fn lax_use(
        &self,
        call: &IncomingCall,
        req: lax::LaxUseRequest,
    ) -> Result<lax::LaxUseResponse, Win32Status> {
        let v = *call.context::<i32>(&req.p).map_err(fault)?.lock().unwrap();
        Ok(lax::LaxUseResponse { v, return_value: 1 })
    }
    fn typed_use(
        &self,
        call: &IncomingCall,
        req: lax::TypedUseRequest,
    ) -> Result<lax::TypedUseResponse, Win32Status> {
        let v = *call.context::<i64>(&req.p).map_err(fault)?.lock().unwrap();
        Ok(lax::TypedUseResponse {
            v: v as i32,
            return_value: 3,
        })
    }
}

impl strict::Server for M {
    fn strict_use(
        &self,
        call: &IncomingCall,
        req: strict::StrictUseRequest,
    ) -> Result<strict::StrictUseResponse, Win32Status> {
        let v = *call.context::<i32>(&req.p).map_err(fault)?.lock().unwrap();
        Ok(strict::StrictUseResponse { v, return_value: 2 })
    }
    fn strict_make(
        &self,
        call: &IncomingCall,
        req: strict::StrictMakeRequest,
    ) -> Result<strict::StrictMakeResponse, Win32Status> {
        Ok(strict::StrictMakeResponse {
            p: call.new_context(req.v, drop).map_err(fault)?,
            return_value: 0,
        })
    }
}

/// (return value, v), or the call's status.
type Answer = Result<(i32, i32), u32>;

/// The calls of strict_client.c from the Rust client: LaxUse, StrictUse of Maker's handle,
/// StrictUse of Strict's own handle, TypedUse of a PH, TypedUse of a PT.
fn calls(port: u16) -> [Answer; 5] {
    let b = Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{port}]")).unwrap();
    let made = maker::Client(&b)
        .make_blocking(maker::MakeRequest { v: 41 })
        .unwrap();
    let lax = lax::Client(&b)
        .lax_use_blocking(lax::LaxUseArgs { p: made.p.clone() })
        .map(|r| (r.return_value, r.v))
        .map_err(|e| e.status().0);
    let foreign = strict::Client(&b)
        .strict_use_blocking(strict::StrictUseArgs { p: made.p.clone() })
        .map(|r| (r.return_value, r.v))
        .map_err(|e| e.status().0);
    let own = strict::Client(&b)
        .strict_make_blocking(strict::StrictMakeRequest { v: 42 })
        .unwrap();
    let own = strict::Client(&b)
        .strict_use_blocking(strict::StrictUseArgs { p: own.p })
        .map(|r| (r.return_value, r.v))
        .map_err(|e| e.status().0);
    // A PH presented as the type-strict PT, and a PT.
    let as_pt = lax::Client(&b)
        .typed_use_blocking(lax::TypedUseArgs { p: made.p.clone() })
        .map(|r| (r.return_value, r.v))
        .map_err(|e| e.status().0);
    let pt = maker::Client(&b)
        .make_t_blocking(maker::MakeTRequest { v: 43 })
        .unwrap();
    let pt = lax::Client(&b)
        .typed_use_blocking(lax::TypedUseArgs { p: pt.p })
        .map(|r| (r.return_value, r.v))
        .map_err(|e| e.status().0);
    [lax, foreign, own, as_pt, pt]
}

#[test]
fn a_strict_interface_refuses_another_interface_s_handle_in_rust_and_in_c() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let m = Arc::new(M);
    let server = rt.block_on(async {
        Server::builder()
            .interface(Arc::new(maker::Service(m.clone())))
            .interface(Arc::new(lax::Service(m.clone())))
            .interface(Arc::new(strict::Service(m)))
            .listen("ncacn_ip_tcp:127.0.0.1[0]")
            .start()
            .await
            .unwrap()
    });
    let b = server.bindings()[0].to_string();
    let port: u16 = b
        .rsplit_once('[')
        .and_then(|(_, p)| p.trim_end_matches(']').parse().ok())
        .unwrap();
    let rust = calls(port);
    rt.block_on(server.shutdown(Duration::from_secs(5)));

    // The C server of the same IDL.
    let dir = scratch("strict-rust");
    let fx = root().join("crates/msrpc-c/tests/fixtures");
    stubs(&fx.join("strict.idl"), None, &dir);
    let exe = dir.join("strict_server");
    cc(
        &dir,
        &[fx.join("strict_server.c"), dir.join("strict_s.c")],
        &exe,
        &[],
    );
    let err = dir.join("server.err");
    let mut child = Command::new(&exe)
        .arg("0")
        .env("LD_LIBRARY_PATH", lib_dir())
        .env("MSRPC_LISTEN_ADDRESS", "127.0.0.1")
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let cport = loop {
        let text = std::fs::read_to_string(&err).unwrap_or_default();
        if let Some(rest) = text.split("listening on ncacn_ip_tcp:127.0.0.1[").nth(1)
            && let Some(p) = rest.split(']').next().and_then(|p| p.parse::<u16>().ok())
        {
            break Some(p);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let c = cport
        .filter(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
        .map(calls);
    let _ = child.kill();
    let _ = child.wait();

    // nca_s_fault_context_mismatch reaches the client as 6.
    let want = [Ok((1, 41)), Err(6), Ok((2, 42)), Err(6), Ok((3, 43))];
    assert_eq!(rust, want, "the Rust server");
    assert_eq!(c, Some(want), "the C server");
}
