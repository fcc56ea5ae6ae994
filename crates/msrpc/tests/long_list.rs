//! A 100,000-node linked list (`struct _NODE { long value; struct _NODE *next; }`) as an
//! `[in, out]` parameter between two msrpc peers over TCP on loopback: the generated list node
//! is encoded, decoded, dropped and compared in loops, so neither the client (on tokio workers
//! with 2 MiB stacks) nor the server's manager thread overflows its stack, and the list is not cut
//! off by `DecodeLimits::max_depth`. Run with the client offering NDR20 only and NDR20 + NDR64
//! (the server chooses).

use std::sync::Arc;
use std::time::Duration;

use msrpc::server::Server;
use msrpc::{Binding, BindingOptions, Win32Status};
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
    fn bump(&self, req: l::BumpRequest) -> Result<l::BumpResponse, Win32Status> {
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
