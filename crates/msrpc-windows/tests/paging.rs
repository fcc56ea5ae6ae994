//! The enumerations as streams (`msrpc_windows::Paged`) against smbd's named pipes
//! (scripts/peers/smbd.sh, `MSRPC_SMBD_DIR`): entry for entry what the `Vec` forms return.
//! Ignored by a plain `cargo test`; `./scripts/test` starts smbd and runs them.

#![allow(clippy::unwrap_used)]
#![cfg(all(feature = "srvsvc", feature = "samr", feature = "ncacn-np"))]

mod common;

use common::np;
use std::future::poll_fn;
use std::pin::Pin;

use msrpc_windows::paging::Stream;
use msrpc_windows::samr::SamServer;
use msrpc_windows::srvsvc;

#[tokio::test]
#[ignore = "needs PEER: smbd (scripts/peers/smbd.sh)"]
async fn streamed_enumerations_equal_the_lists() {
    // Shares, entry by entry with try_next.
    let b = np("srvsvc");
    let listed = srvsvc::shares(&b).await.unwrap();
    let mut paged = srvsvc::enumerate_shares(&b);
    let mut streamed = Vec::new();
    while let Some(s) = paged.try_next().await.unwrap() {
        streamed.push(s);
    }
    assert!(listed.iter().any(|s| s.name == "IPC$"), "{listed:?}");
    assert_eq!(streamed, listed);
    assert!(paged.pages() >= 1);
    assert_eq!(paged.count(), listed.len());

    // The account domain's users, through the Stream trait itself.
    let sam_b = np("samr");
    let sam = SamServer::connect(&sam_b).await.unwrap();
    let (_, domain) = sam.account_domain().await.unwrap();
    let listed = domain.users(&mut |_| {}).await.unwrap();
    assert!(
        listed.iter().any(|a| a.name == "msrpc"),
        "user msrpc in {listed:?}"
    );
    let mut stream = domain.enumerate_users();
    let mut streamed = Vec::new();
    while let Some(a) = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
        streamed.push(a.unwrap());
    }
    assert_eq!(streamed, listed);
    assert_eq!(stream.size_hint(), (0, Some(0)), "ended");
    drop(stream);

    // Stopping early is allowed: one entry, then the enumeration is dropped.
    let first = domain.enumerate_users().try_next().await.unwrap();
    assert_eq!(first.as_ref(), listed.first());
    domain.close().await.unwrap();
    sam.close().await.unwrap();
}
