//! msrpc's endpoint-mapper client against samba-dcerpcd's endpoint mapper on 127.0.0.1:135:
//!
//! 1. a binding without an endpoint, `ncacn_ip_tcp:127.0.0.1`, is resolved through Samba's epm
//!    (`ept_map` for srvsvc v3.0, NDR20, TCP) and `NetrServerGetInfo` level 101 goes through the
//!    generated srvsvc client on it; the port is Samba's dynamic one (49200..=49300);
//! 2. `epm::lookup_all` walks Samba's whole endpoint map (Samba marks its last page with
//!    `ept_s_not_registered`) and finds srvsvc on ncacn_ip_tcp at that port;
//! 3. an interface Samba does not serve fails with EPT_S_NOT_REGISTERED (1753), naming it.
//!
//! Ignored by a plain `cargo test`; `./scripts/test` starts samba-dcerpcd and runs them with
//! `--include-ignored`, and a missing Samba then fails them.

#![allow(clippy::unwrap_used, non_snake_case)]

mod common;

use msrpc::{Binding, SyntaxId, Win32Status};
use msrpc_ndr::Unique;

// Generated code names the runtime as `crate::codegen`; mount it at the crate root.
use msrpc::codegen;

mod srvsvc_idl {
    include!(concat!(env!("OUT_DIR"), "/srvsvc.rs"));
}

use srvsvc_idl::SERVER_INFO;
use srvsvc_idl::srvsvc::{self as s, Client};

#[tokio::test]
#[ignore = "needs samba-dcerpcd: ./scripts/test starts it"]
async fn resolves_srvsvc_through_sambas_endpoint_mapper_and_calls_it() {
    common::require_samba();
    let b = Binding::from_string("ncacn_ip_tcp:127.0.0.1").unwrap();
    let r = Client(&b)
        .netr_server_get_info(s::NetrServerGetInfoRequest {
            ServerName: Unique::null(),
            Level: 101,
        })
        .await
        .unwrap();
    assert_eq!(r.return_value, 0, "NetrServerGetInfo(101)");
    let SERVER_INFO::ServerInfo101(info) = &r.InfoStruct else {
        panic!("level 101 answered {:?}", r.InfoStruct.discriminant());
    };
    let info = info.as_ref().unwrap();
    assert_eq!(info.sv101_platform_id, 500, "PLATFORM_ID_NT");
    let port = b
        .resolved_port()
        .expect("resolved through the endpoint mapper");
    assert!(
        (49200..=49300).contains(&port),
        "Samba's dynamic port: {port}"
    );

    // The whole map, paged: srvsvc is there at the port the binding was resolved to.
    let epm_b = Binding::from_string("ncacn_ip_tcp:127.0.0.1[135]").unwrap();
    let all = msrpc::epm::lookup_all(&epm_b).await.unwrap();
    assert!(
        all.len() > 10,
        "Samba registers dozens of endpoints: {}",
        all.len()
    );
    let srvsvc = s::INTERFACE.syntax_id();
    assert!(
        all.iter()
            .any(|e| e.tower.interface() == Some(srvsvc) && e.tower.tcp_port() == Some(port)),
        "srvsvc at {port} in {all:?}"
    );
    assert!(all.iter().any(|e| e.annotation == "srvsvc"));
}

#[tokio::test]
#[ignore = "needs samba-dcerpcd: ./scripts/test starts it"]
async fn an_interface_samba_does_not_serve_is_not_registered() {
    common::require_samba();
    let b = Binding::from_string("ncacn_ip_tcp:127.0.0.1").unwrap();
    let missing = SyntaxId::new(uuid::uuid!("01234567-89ab-cdef-0123-456789abcdef"), 1, 0);
    let err = b.call(missing, 0, |_, _| Ok(Vec::new())).await.unwrap_err();
    assert_eq!(err.status(), Win32Status::EPT_S_NOT_REGISTERED, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("01234567-89ab-cdef-0123-456789abcdef") && text.contains("127.0.0.1[135]"),
        "{text}"
    );
}
