//! Heap allocations of the protocol core, counted by a global allocator (this test binary only):
//! an emitted fragment is one buffer of its final size, and a null call costs the handful of
//! allocations printed here (run with `--nocapture` to see the numbers).
//!
//! `unsafe` is here only because implementing `GlobalAlloc` requires it (as in msrpc-cli's
//! `heap.rs`): each method forwards to the system allocator unchanged and bumps a counter.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use msrpc_proto::{
    ClientConfig, ClientConnection, ClientEvent, ServerConfig, ServerConnection, ServerEvent,
    StaticRegistry, SyntaxId,
};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call forwards to the system allocator unchanged; the count is a thread-local.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

fn bound_pair() -> (ClientConnection, ServerConnection, u16) {
    let iface = SyntaxId::new(uuid::uuid!("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b"), 1, 0);
    let registry = Arc::new(StaticRegistry::new(vec![(iface, vec![SyntaxId::NDR20])]));
    let mut server = ServerConnection::new(ServerConfig::default(), registry);
    let mut client = ClientConnection::new(ClientConfig::default());
    client.bind(&[iface]).unwrap();
    pump(&mut client, &mut server);
    let ctx = client.context_for(&iface).unwrap().context_id;
    while client.poll_event().is_some() {}
    while server.poll_event().is_some() {}
    (client, server, ctx)
}

fn pump(c: &mut ClientConnection, s: &mut ServerConnection) {
    let now = Instant::now();
    loop {
        let mut moved = false;
        while let Some(pdu) = c.poll_transmit() {
            s.input_buffer().extend_from_slice(&pdu);
            s.handle_input(now, pdu.len());
            moved = true;
        }
        while let Some(pdu) = s.poll_transmit() {
            c.input_buffer().extend_from_slice(&pdu);
            c.handle_input(now, pdu.len());
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

/// One call through both machines; returns the allocations it took.
fn one_call(c: &mut ClientConnection, s: &mut ServerConnection, ctx: u16, stub: &Bytes) -> u64 {
    let before = allocs();
    let id = c.start_call(ctx, 1, None, stub.clone()).unwrap();
    pump(c, s);
    let Some(ServerEvent::Call(call)) = s.poll_event() else {
        panic!("no call")
    };
    s.respond(call.call_id, call.stub).unwrap();
    pump(c, s);
    let Some(ClientEvent::Response { call_id, .. }) = c.poll_event() else {
        panic!("no response")
    };
    assert_eq!(call_id, id);
    allocs() - before
}

#[test]
fn each_emitted_fragment_is_one_allocation_of_its_size() {
    let (mut client, _server, ctx) = bound_pair();
    // A 20,000-byte request: several fragments at the default 5840.
    let stub = Bytes::from(vec![0x5a; 20_000]);
    client.start_call(ctx, 1, None, stub).unwrap();
    let mut fragments = 0;
    loop {
        let before = allocs();
        let Some(pdu) = client.poll_transmit() else {
            break;
        };
        assert_eq!(allocs() - before, 1, "fragment {fragments}: one allocation");
        assert_eq!(
            pdu.capacity(),
            pdu.len(),
            "fragment {fragments}: of its size"
        );
        fragments += 1;
    }
    assert!(fragments >= 4, "{fragments} fragments");
}

#[test]
fn allocations_per_call() {
    let (mut client, mut server, ctx) = bound_pair();
    for (name, len) in [("null", 0usize), ("1 KiB", 1024), ("64 KiB", 65536)] {
        let stub = Bytes::from(vec![1u8; len]);
        // Warm up the buffers and maps, then take the steady state.
        for _ in 0..8 {
            one_call(&mut client, &mut server, ctx, &stub);
        }
        let n = 64;
        let total: u64 = (0..n)
            .map(|_| one_call(&mut client, &mut server, ctx, &stub))
            .sum();
        println!("{name} call: {} allocations (client and server)", total / n);
        assert!(total > 0);
    }
}
