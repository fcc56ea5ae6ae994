//! A ServerConnection fed arbitrary bytes in arbitrary chunks, with the runtime side answering
//! every call: no panic, bounded buffers, and everything it transmits parses.
#![no_main]

use std::sync::Arc;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use msrpc_proto::{Pdu, ServerConfig, ServerConnection, ServerEvent, StaticRegistry, SyntaxId};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let iface = SyntaxId::new(
        uuid::Uuid::from_u128(0x7f6c4340_eb67_11d1_b9d7_00c04fad9a3b),
        1,
        0,
    );
    let registry = Arc::new(StaticRegistry::new(vec![(
        iface,
        vec![SyntaxId::NDR20, SyntaxId::NDR64],
    )]));
    let mut config = ServerConfig::default();
    config.max_request_size = 64 * 1024;
    let mut server = ServerConnection::new(config, registry);
    let now = Instant::now();
    for c in rest.chunks(usize::from(chunk).max(1)) {
        server.handle_bytes(now, c);
        assert!(server.buffered_bytes() <= 64 * 1024 + 65535);
        while let Some(out) = server.poll_transmit() {
            assert!(Pdu::parse(&out).is_ok());
        }
        while let Some(ev) = server.poll_event() {
            if let ServerEvent::Call(call) = ev {
                let _ = server.respond(call.call_id, call.stub);
            }
        }
    }
});
