//! A 100,000-node linked list (`struct _NODE { long value; struct _NODE *next; }`) as an
//! `[in, out]` parameter between two msrpc peers over TCP on loopback: the generated list node
//! is encoded, decoded, dropped and compared in loops, so neither the client (on tokio workers
//! with 2 MiB stacks) nor the server's manager thread overflows its stack, and the list is not cut
//! off by `DecodeLimits::max_depth`. Run at NDR20 (the client offering NDR20 only) and at NDR64
//! (the client offering both, and the server preferring NDR64 by default). The decode limits
//! that bound such a list are a server setting and a binding setting.

use std::sync::Arc;
use std::time::Duration;

use msrpc::server::{Server, ServerConfig};
use msrpc::{Binding, BindingOptions, DecodeLimits, Win32Status};
use msrpc_ndr::Unique;
use msrpc_ndr::list::Linked as _;

// Generated code names `crate::codegen`, which here is msrpc's.
use msrpc::codegen;

mod list_idl {
    include!("../../msrpc-idl/tests/fixtures/list.rs");
}
use list_idl::NODE;
use list_idl::long_list as l;

const N: i32 = 100_000;

struct Bumper;

impl l::Server for Bumper {
    fn bump(
        &self,
        _: &msrpc::IncomingCall,
        req: l::BumpRequest,
    ) -> Result<l::BumpResponse, Win32Status> {
        let mut list = req.list;
        let mut count = 0;
        let mut cur = list.0.as_deref_mut();
        while let Some(node) = cur {
            node.value += 1;
            count += 1;
            cur = node.next.0.as_deref_mut();
        }
        Ok(l::BumpResponse {
            list,
            return_value: count,
        })
    }
}

fn list(n: i32, offset: i32) -> Unique<NODE> {
    let mut next = Unique::null();
    for v in (0..n).rev() {
        next = Unique::new(NODE {
            value: v + offset,
            next,
        });
    }
    next
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_list_round_trips_between_msrpc_peers() {
    let server = Server::builder()
        .interface(Arc::new(l::Service::new(Bumper)))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let address = server.bindings()[0].to_string();
    for offer_ndr64 in [false, true] {
        let mut options = BindingOptions::default();
        options.offer_ndr64 = offer_ndr64;
        let b = Binding::with_options(&address, options).unwrap();
        // The work runs on a tokio worker (2 MiB stack): build, call, compare and drop there.
        let expected = tokio::spawn(async move {
            let resp = l::Client(&b)
                .bump(l::BumpRequest { list: list(N, 0) })
                .await
                .unwrap();
            assert_eq!(resp.return_value, N);
            let back = resp.list.as_ref().expect("a list came back");
            assert_eq!(back.iter().count(), N as usize);
            assert_eq!(
                resp.list,
                list(N, 1),
                "every value was bumped once, in order"
            );
            b.close();
            resp.return_value
        })
        .await
        .unwrap();
        assert_eq!(expected, N, "offer_ndr64: {offer_ndr64}");
    }
    server.shutdown(Duration::from_secs(2)).await;
}

/// `ServerConfig::decode_limits` bounds what the server decodes, `BindingOptions::decode_limits`
/// what the client decodes: a 100-node list passes a limit of 100 pointees, and fails one of 99
/// with `RPC_X_BAD_STUB_DATA` on whichever side the limit is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decode_limits_are_a_server_and_a_binding_setting() {
    let limits = |n| DecodeLimits::default().with_max_pointees(n);
    let start = |server_limit| async move {
        let mut config = ServerConfig::default();
        config.decode_limits = limits(server_limit);
        Server::builder()
            .config(config)
            .interface(Arc::new(l::Service::new(Bumper)))
            .listen("ncacn_ip_tcp:127.0.0.1[0]")
            .start()
            .await
            .unwrap()
    };
    let bump = |address: String, client_limit| async move {
        let options = BindingOptions::new().with_decode_limits(limits(client_limit));
        let b = Binding::with_options(&address, options).unwrap();
        let r = l::Client(&b)
            .bump(l::BumpRequest { list: list(100, 0) })
            .await;
        b.close();
        r.map(|resp| resp.return_value)
    };
    for (server_limit, client_limit, outcome) in [
        (100, 100, Ok(100)),
        (99, 1_000_000, Err(Win32Status::RPC_X_BAD_STUB_DATA)),
        (1_000_000, 99, Err(Win32Status::RPC_X_BAD_STUB_DATA)),
    ] {
        let server = start(server_limit).await;
        let address = server.bindings()[0].to_string();
        let got = bump(address, client_limit).await.map_err(|e| e.status());
        assert_eq!(got, outcome, "server {server_limit}, client {client_limit}");
        server.shutdown(Duration::from_secs(2)).await;
    }
}
