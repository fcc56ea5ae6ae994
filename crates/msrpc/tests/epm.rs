//! The endpoint mapper end to end over TCP: a server serving epm and registering its dynamic
//! endpoints, a client resolving a binding without an endpoint through it, paging `ept_lookup`
//! with entry handles, `ept_map` paging, local-only `ept_insert` / `ept_delete` /
//! `ept_mgmt_delete`, bad input, and unregistering at shutdown.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use common::Quiet;
use msrpc::epm::{self, EPT_S_CANT_PERFORM_OP, EPT_S_NOT_REGISTERED, Entry};
use msrpc::generated::epm::{self as idl, epm as e};
use msrpc::server::Server;
use msrpc::{Binding, BindingOptions, DataRep, Stub as _, SyntaxId, Win32Status};
use msrpc_ndr::tower::Tower;
use msrpc_ndr::{ConformantArray, ContextHandle, Unique};
use msrpc_sample as sample;
use uuid::Uuid;

/// A server with the endpoint mapper on an ephemeral port and the AsyncRPC sample on another.
/// Returns the server and the epm port.
async fn server(listen_ip: &str) -> (Server, u16) {
    let s = Server::builder()
        .interface(Arc::new(msrpc_sample::service(Quiet)))
        .listen(format!("ncacn_ip_tcp:{listen_ip}[0]"))
        .endpoint_mapper(format!("ncacn_ip_tcp:{listen_ip}[0]"))
        .start()
        .await
        .unwrap();
    let port = s.bindings()[1].endpoint().unwrap().parse().unwrap();
    (s, port)
}

fn epm_binding(host: &str, port: u16) -> Binding {
    Binding::from_string(&format!("ncacn_ip_tcp:{host}[{port}]")).unwrap()
}

async fn call<T>(
    b: &Binding,
    opnum: u16,
    encode: impl FnOnce(msrpc::Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>>,
    decode: impl FnOnce(&[u8], msrpc::Syntax, DataRep) -> msrpc_ndr::Result<T>,
) -> msrpc::Result<T> {
    let r = b.call(epm::EPM, opnum, encode).await?;
    Ok(decode(&r.stub, r.syntax, r.drep)?)
}

async fn lookup(
    b: &Binding,
    handle: ContextHandle,
    max_ents: u32,
) -> msrpc::Result<e::EptLookupResponse> {
    let req = e::EptLookupRequest {
        inquiry_type: 0,
        object: Unique::null(),
        interface_id: Unique::null(),
        vers_option: 1,
        entry_handle: handle,
        max_ents,
    };
    call(
        b,
        2,
        move |s, rep| req.encode(s, rep),
        e::EptLookupResponse::decode,
    )
    .await
}

fn entry(i: u16) -> Entry {
    let iface = SyntaxId::new(Uuid::from_u128(0x1234_0000 + u128::from(i)), 1, 0);
    Entry {
        object: Uuid::nil(),
        tower: Tower::ncacn_ip_tcp(iface, SyntaxId::NDR20, 2000 + i, Ipv4Addr::LOCALHOST),
        annotation: format!("test {i}"),
    }
}

#[tokio::test]
async fn registered_endpoints_resolve_and_unregister_at_shutdown() {
    let (s, epm_port) = server("127.0.0.1").await;
    let sample_port: u16 = s.bindings()[0].endpoint().unwrap().parse().unwrap();
    let epm_b = epm_binding("127.0.0.1", epm_port);
    let all = epm::lookup_all(&epm_b).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].tower.interface(), Some(sample::ASYNC_RPC));
    assert_eq!(all[0].tower.tcp_port(), Some(sample_port));
    assert_eq!(all[0].annotation, "AsyncRPC");

    // A binding without an endpoint is resolved through the endpoint mapper.
    let mut opts = BindingOptions::default();
    opts.endpoint_mapper_port = epm_port;
    let b = Binding::with_options("ncacn_ip_tcp:127.0.0.1", opts.clone()).unwrap();
    sample::non_async_func(&b, "resolved").await.unwrap();
    assert_eq!(b.resolved_port(), Some(sample_port));

    // An interface nobody registered: EPT_S_NOT_REGISTERED (1753), naming the interface.
    let b2 = Binding::with_options("ncacn_ip_tcp:127.0.0.1", opts).unwrap();
    let err = msrpc::mgmt::is_server_listening(&b2).await.unwrap_err();
    assert_eq!(err.status(), Win32Status::EPT_S_NOT_REGISTERED, "{err}");
    assert!(
        err.to_string()
            .contains("afa8bd80-7d8a-11c9-bef4-08002b102989"),
        "{err}"
    );

    let db = s.endpoint_db().unwrap();
    s.shutdown(Duration::from_secs(1)).await;
    assert!(db.is_empty(), "shutdown unregisters");
}

#[tokio::test]
async fn lookup_pages_with_an_entry_handle() {
    let (s, epm_port) = server("127.0.0.1").await;
    let b = epm_binding("127.0.0.1", epm_port);
    let extra: Vec<Entry> = (0..24).map(entry).collect();
    epm::insert(&b, &extra, false).await.unwrap();
    // 25 entries, 10 a page: 10, 10 with status 0 and the handle kept, then 5 with status 0
    // and a null handle (a page that is not full ends the walk; impacket relies on it).
    let mut handle = ContextHandle::NULL;
    let mut sizes = Vec::new();
    loop {
        let r = lookup(&b, handle, 10).await.unwrap();
        assert_eq!(r.entries.max_count, 10, "size_is(max_ents)");
        sizes.push((r.num_ents, r.status, r.entry_handle.is_null()));
        handle = r.entry_handle;
        if handle.is_null() {
            break;
        }
    }
    assert_eq!(sizes, vec![(10, 0, false), (10, 0, false), (5, 0, true)]);
    // A page that is exactly full keeps the handle; the next call finds nothing:
    // ept_s_not_registered and a null handle (rpcclient's walk ends on that).
    let r = lookup(&b, ContextHandle::NULL, 25).await.unwrap();
    assert_eq!((r.num_ents, r.status), (25, 0));
    assert!(!r.entry_handle.is_null());
    let r = lookup(&b, r.entry_handle, 25).await.unwrap();
    assert_eq!((r.num_ents, r.status), (0, EPT_S_NOT_REGISTERED));
    assert!(r.entry_handle.is_null());
    // Nothing matching: ept_s_not_registered and a null handle.
    let req = e::EptLookupRequest {
        inquiry_type: 1,
        object: Unique::null(),
        interface_id: Unique::new(idl::rpc_if_id_t {
            uuid: Uuid::from_fields(1, 2, 3, &[4; 8]),
            vers_major: 1,
            vers_minor: 0,
        }),
        vers_option: 1,
        entry_handle: ContextHandle::NULL,
        max_ents: 10,
    };
    let r = call(
        &b,
        2,
        move |s, rep| req.encode(s, rep),
        e::EptLookupResponse::decode,
    )
    .await
    .unwrap();
    assert_eq!((r.num_ents, r.status), (0, EPT_S_NOT_REGISTERED));
    assert!(r.entry_handle.is_null());
    assert_eq!(epm::lookup_all(&b).await.unwrap().len(), 25);

    // A handle freed with ept_lookup_handle_free is gone: using it faults.
    let r = lookup(&b, ContextHandle::NULL, 3).await.unwrap();
    let req = e::EptLookupHandleFreeRequest {
        entry_handle: r.entry_handle,
    };
    let freed = call(
        &b,
        4,
        move |s, rep| req.encode(s, rep),
        e::EptLookupHandleFreeResponse::decode,
    )
    .await
    .unwrap();
    assert_eq!(freed.status, 0);
    assert!(freed.entry_handle.is_null());
    let err = lookup(&b, r.entry_handle, 3).await.unwrap_err();
    assert!(
        matches!(&err, msrpc::Error::Fault { status, .. } if status.0 == 0x1c00_001a),
        "nca_s_fault_context_mismatch: {err}"
    );

    // A huge max_ents is capped; the array still says what was asked.
    let r = lookup(&b, ContextHandle::NULL, u32::MAX).await.unwrap();
    assert_eq!(r.num_ents, 25);
    assert_eq!(r.entries.max_count, u64::from(u32::MAX));
    s.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn map_pages_and_bad_towers() {
    let (s, epm_port) = server("127.0.0.1").await;
    let b = epm_binding("127.0.0.1", epm_port);
    let iface = SyntaxId::new(Uuid::from_u128(0xabcd), 2, 1);
    let many: Vec<Entry> = (0..5)
        .map(|i| Entry {
            object: Uuid::nil(),
            tower: Tower::ncacn_ip_tcp(iface, SyntaxId::NDR20, 3000 + i, Ipv4Addr::UNSPECIFIED),
            annotation: String::new(),
        })
        .collect();
    epm::insert(&b, &many, false).await.unwrap();
    // 2 at a time: a handle while more remain, null with the last page.
    let ask = Tower::ncacn_ip_tcp(iface, SyntaxId::NDR20, 0, Ipv4Addr::UNSPECIFIED);
    let mut handle = ContextHandle::NULL;
    let mut ports = Vec::new();
    for round in 0..3 {
        let req = e::EptMapRequest {
            object: Unique::null(),
            map_tower: Unique::new(idl::twr_t {
                tower_length: ask.to_bytes().unwrap().len() as u32,
                tower_octet_string: ConformantArray(ask.to_bytes().unwrap()),
            }),
            entry_handle: handle,
            max_towers: 2,
        };
        let r = call(
            &b,
            3,
            move |s, rep| req.encode(s, rep),
            e::EptMapResponse::decode,
        )
        .await
        .unwrap();
        assert_eq!(r.status, 0);
        for t in r.towers.items.iter().filter_map(|t| t.as_ref()) {
            let t = Tower::parse(&t.tower_octet_string.0).unwrap();
            assert_eq!(t.ip(), Some(Ipv4Addr::LOCALHOST), "0.0.0.0 filled in");
            ports.push(t.tcp_port().unwrap());
        }
        handle = r.entry_handle;
        assert_eq!(handle.is_null(), round == 2);
    }
    assert_eq!(ports, vec![3000, 3001, 3002, 3003, 3004]);
    // A compatible older minor is served; NDR64 and a newer minor are not.
    assert_eq!(
        epm::map_tcp(&b, SyntaxId::new(iface.uuid, 2, 0), None, 10)
            .await
            .unwrap()
            .len(),
        5
    );
    let newer = epm::map_tcp(&b, SyntaxId::new(iface.uuid, 2, 2), None, 10).await;
    assert_eq!(
        newer.unwrap_err().status(),
        Win32Status::EPT_S_NOT_REGISTERED
    );
    // A map tower that is not a tower: not registered, no fault, and the association lives on.
    for bad in [vec![], vec![0xff, 0xff, 1], vec![1, 0, 1, 0]] {
        let req = e::EptMapRequest {
            object: Unique::null(),
            map_tower: Unique::new(idl::twr_t {
                tower_length: bad.len() as u32,
                tower_octet_string: ConformantArray(bad),
            }),
            entry_handle: ContextHandle::NULL,
            max_towers: 1,
        };
        let r = call(
            &b,
            3,
            move |s, rep| req.encode(s, rep),
            e::EptMapResponse::decode,
        )
        .await
        .unwrap();
        assert_eq!((r.status, r.num_towers), (EPT_S_NOT_REGISTERED, 0));
    }
    // Garbage stub data: a fault, not a crash.
    let err = b
        .call(epm::EPM, 3, |_, _| Ok(vec![1, 2, 3]))
        .await
        .unwrap_err();
    assert_eq!(err.status().0, 0x6f7, "{err}");
    assert_eq!(epm::lookup_all(&b).await.unwrap().len(), 6);
    s.shutdown(Duration::from_secs(1)).await;
}

/// This host's address on a non-loopback interface, if it has one.
fn non_loopback_ipv4() -> Option<Ipv4Addr> {
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect("192.0.2.1:9")
        .or_else(|_| sock.connect("10.255.255.1:9"))
        .ok()?;
    match sock.local_addr().ok()?.ip() {
        IpAddr::V4(a) if !a.is_loopback() && !a.is_unspecified() => Some(a),
        _ => None,
    }
}

#[tokio::test]
async fn insert_and_delete_are_for_local_callers_only() {
    let Some(ip) = non_loopback_ipv4() else {
        eprintln!("SKIP: this host has no non-loopback IPv4 address to call from");
        return;
    };
    let (s, epm_port) = server("0.0.0.0").await;
    let remote = epm_binding(&ip.to_string(), epm_port);
    let local = epm_binding("127.0.0.1", epm_port);
    let err = epm::insert(&remote, &[entry(1)], false).await.unwrap_err();
    assert_eq!(err.status(), Win32Status(1752), "{err}");
    epm::insert(&local, &[entry(1)], false).await.unwrap();
    let err = epm::delete(&remote, &[entry(1)]).await.unwrap_err();
    assert_eq!(err.status(), Win32Status(1752), "{err}");
    // ept_mgmt_delete from afar: the status, not a fault.
    let tower = entry(1).tower.to_bytes().unwrap();
    let req = e::EptMgmtDeleteRequest {
        object_speced: 0,
        object: Unique::null(),
        tower: Unique::new(idl::twr_t {
            tower_length: tower.len() as u32,
            tower_octet_string: ConformantArray(tower),
        }),
    };
    let req2 = req.clone();
    let r = call(
        &remote,
        6,
        move |s, rep| req.encode(s, rep),
        e::EptMgmtDeleteResponse::decode,
    )
    .await
    .unwrap();
    assert_eq!(r.status, EPT_S_CANT_PERFORM_OP);
    // Lookups work from anywhere, and the 0.0.0.0 entries of the server itself are there.
    assert_eq!(epm::lookup_all(&remote).await.unwrap().len(), 2);
    let r = call(
        &local,
        6,
        move |s, rep| req2.encode(s, rep),
        e::EptMgmtDeleteResponse::decode,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 0);
    assert_eq!(epm::lookup_all(&local).await.unwrap().len(), 1);
    s.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn register_with_an_external_endpoint_mapper() {
    let (epm_server, epm_port) = server("127.0.0.1").await;
    let b = epm_binding("127.0.0.1", epm_port);
    let app = Server::builder()
        .interface(Arc::new(msrpc_sample::service(Quiet)))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .register_with_endpoint_mapper(format!("ncacn_ip_tcp:127.0.0.1[{epm_port}]"))
        .start()
        .await
        .unwrap();
    let app_port: u16 = app.bindings()[0].endpoint().unwrap().parse().unwrap();
    let ports: Vec<_> = epm::map_tcp(&b, sample::ASYNC_RPC, None, 10)
        .await
        .unwrap()
        .iter()
        .filter_map(|t| t.tcp_port())
        .collect();
    assert!(ports.contains(&app_port), "{ports:?} {app_port}");
    app.shutdown(Duration::from_secs(1)).await;
    // The app's registration replaced the epm server's own AsyncRPC entry (same interface,
    // object and protocol: RpcEpRegister replaces), so nothing is left.
    let err = epm::map_tcp(&b, sample::ASYNC_RPC, None, 10)
        .await
        .unwrap_err();
    assert_eq!(
        err.status(),
        Win32Status::EPT_S_NOT_REGISTERED,
        "unregistered at shutdown"
    );
    epm_server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn ncalrpc_bindings_without_an_endpoint_resolve_too() {
    let name = format!("msrpc-epm-test-{}", std::process::id());
    let s = Server::builder()
        .interface(Arc::new(msrpc_sample::service(Quiet)))
        .listen(format!("ncalrpc:[{name}]"))
        .endpoint_mapper("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let epm_port: u16 = s.bindings()[1].endpoint().unwrap().parse().unwrap();
    let all = epm::lookup_all(&epm_binding("127.0.0.1", epm_port))
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].tower.named_pipe(), Some(name.as_str()));
    let mut opts = BindingOptions::default();
    opts.endpoint_mapper_port = epm_port;
    let b = Binding::with_options("ncalrpc:", opts.clone()).unwrap();
    sample::non_async_func(&b, "over ncalrpc").await.unwrap();
    assert!(
        matches!(b.resolved_address(), Some(msrpc::transport::Address::Local(p)) if p.ends_with(&name)),
        "{:?}",
        b.resolved_address()
    );
    // Not registered for ncalrpc: 1753 naming the protocol.
    let b2 = Binding::with_options("ncalrpc:", opts).unwrap();
    let err = msrpc::mgmt::is_server_listening(&b2).await.unwrap_err();
    assert_eq!(err.status(), Win32Status::EPT_S_NOT_REGISTERED, "{err}");
    assert!(err.to_string().contains("ncalrpc"), "{err}");
    s.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn interfaces_registered_later_are_announced() {
    let s = Server::builder()
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .endpoint_mapper("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let epm_port: u16 = s.bindings()[1].endpoint().unwrap().parse().unwrap();
    let b = epm_binding("127.0.0.1", epm_port);
    assert!(epm::lookup_all(&b).await.unwrap().is_empty());
    s.register_and_announce(Arc::new(msrpc_sample::service(Quiet)))
        .await
        .unwrap();
    let towers = epm::map_tcp(&b, sample::ASYNC_RPC, None, 4).await.unwrap();
    assert_eq!(towers.len(), 1);
    s.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn entry_handles_per_association_are_bounded() {
    let (s, epm_port) = server("127.0.0.1").await;
    let b = epm_binding("127.0.0.1", epm_port);
    epm::insert(&b, &[entry(1)], false).await.unwrap();
    // Two entries, one a page: each walk started leaves a handle open.
    for _ in 0..epm::MAX_HANDLES {
        let r = lookup(&b, ContextHandle::NULL, 1).await.unwrap();
        assert_eq!(r.status, 0);
        assert!(!r.entry_handle.is_null());
    }
    let r = lookup(&b, ContextHandle::NULL, 1).await.unwrap();
    assert_eq!((r.num_ents, r.status), (0, EPT_S_CANT_PERFORM_OP));
    // Another association has its own allowance.
    let other = epm_binding("127.0.0.1", epm_port);
    assert_eq!(
        lookup(&other, ContextHandle::NULL, 1).await.unwrap().status,
        0
    );
    s.shutdown(Duration::from_secs(1)).await;
}
