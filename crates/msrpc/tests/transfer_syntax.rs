//! Which transfer syntax two msrpc peers agree on: NDR64 by default (MS-RPCE 3.3.1.5.6: the server
//! accepts its preferred syntax among those offered), NDR20 where the server or one interface
//! prefers it or the client offers only NDR20; calls work either way.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use msrpc::server::{Server, ServerBuilder, ServerConfig};
use msrpc::{Binding, BindingOptions, Syntax, Win32Status, mgmt};
use msrpc_sample::{self as sample, ASYNC_RPC, AsyncRpcHandler};

struct Quiet;

impl AsyncRpcHandler for Quiet {
    fn non_async_func(&self, _message: &[u8]) {}
    fn shutdown(&self) -> Result<(), Win32Status> {
        Err(Win32Status::ERROR_ACCESS_DENIED)
    }
}

fn builder(preferred: Syntax) -> ServerBuilder {
    let mut config = ServerConfig::default();
    config.preferred_syntax = preferred;
    Server::builder()
        .config(config)
        .interface(Arc::new(msrpc_sample::service(Quiet)))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
}

/// The syntax the reply to a mgmt call and to an AsyncRPC call came in.
async fn syntaxes(server: &Server, offer_ndr64: bool) -> (Syntax, Syntax) {
    let mut opts = BindingOptions::default();
    opts.offer_ndr64 = offer_ndr64;
    let b = Binding::with_options(&server.bindings()[0].to_string(), opts).unwrap();
    let m = b
        .call(mgmt::MGMT, 2, |_, _| Ok(Vec::new())) // is_server_listening: no [in] parameters
        .await
        .unwrap();
    // The reply decodes in the syntax it names, whichever that is.
    sample::non_async_func(&b, "hello").await.unwrap();
    let s = b
        .call(ASYNC_RPC, sample::OP_NON_ASYNC_FUNC, |syntax, rep| {
            let mut e = msrpc_ndr::Encoder::new(syntax, rep);
            e.encode_param(&msrpc_ndr::NdrString::from("x"))?;
            Ok(e.into_bytes())
        })
        .await
        .unwrap();
    (m.syntax, s.syntax)
}

#[tokio::test]
async fn two_msrpc_peers_choose_ndr64_by_default() {
    let server = Server::builder()
        .interface(Arc::new(msrpc_sample::service(Quiet)))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    assert_eq!(
        syntaxes(&server, BindingOptions::default().offer_ndr64).await,
        (Syntax::Ndr64, Syntax::Ndr64)
    );
    // A client that offers NDR20 only (as Samba and impacket do) gets NDR20.
    assert_eq!(
        syntaxes(&server, false).await,
        (Syntax::Ndr20, Syntax::Ndr20)
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn the_server_and_each_interface_choose_the_preference() {
    let server = builder(Syntax::Ndr20).start().await.unwrap();
    assert_eq!(
        syntaxes(&server, true).await,
        (Syntax::Ndr20, Syntax::Ndr20)
    );
    server.shutdown(Duration::from_secs(1)).await;

    // NDR20 server-wide, NDR64 for AsyncRPC alone.
    let server = builder(Syntax::Ndr20)
        .interface_syntax(ASYNC_RPC, Syntax::Ndr64)
        .start()
        .await
        .unwrap();
    assert_eq!(
        syntaxes(&server, true).await,
        (Syntax::Ndr20, Syntax::Ndr64)
    );
    server.shutdown(Duration::from_secs(1)).await;
}

/// The endpoint mapper prefers NDR20 (its clients speak NDR20, tshark dissects only NDR20 towers),
/// in a server whose other interfaces prefer NDR64.
#[tokio::test]
async fn the_endpoint_mapper_prefers_ndr20() {
    let server = Server::builder()
        .interface(Arc::new(msrpc_sample::service(Quiet)))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .endpoint_mapper("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    // The endpoint mapper is an interface of the server: every listener serves it.
    let epm_binding = server.bindings()[0].to_string();
    let b = Binding::from_string(&epm_binding).unwrap();
    // ept_lookup_handle_free (opnum 4) of a null handle: 20 zero bytes in either syntax.
    let r = b
        .call(msrpc::epm::EPM, 4, |_, _| Ok(vec![0; 20]))
        .await
        .unwrap();
    assert_eq!(r.syntax, Syntax::Ndr20);
    let m = b.call(mgmt::MGMT, 2, |_, _| Ok(Vec::new())).await.unwrap();
    assert_eq!(
        m.syntax,
        Syntax::Ndr64,
        "mgmt on the same server keeps NDR64"
    );
    server.shutdown(Duration::from_secs(1)).await;
}
