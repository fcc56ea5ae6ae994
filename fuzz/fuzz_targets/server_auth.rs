//! A ServerConnection with an NTLM acceptor fed arbitrary bytes: binds, alter_contexts and
//! rpc_auth_3 with arbitrary security trailers and tokens (sspi's NTLM parsers and msrpc's
//! AUTHENTICATE parsing), and requests with arbitrary signatures. No panic, bounded buffers, every
//! transmitted PDU parses, and no call is dispatched on a context that did not log on.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use msrpc::UserStore;
use msrpc_proto::{Pdu, ServerConfig, ServerConnection, ServerEvent, StaticRegistry, SyntaxId};

fn store() -> Arc<UserStore> {
    static STORE: OnceLock<Arc<UserStore>> = OnceLock::new();
    STORE
        .get_or_init(|| {
            let mut s = UserStore::new();
            s.insert("alice", "Al1ce-pw");
            Arc::new(s)
        })
        .clone()
}

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
    server.set_acceptor(msrpc::auth::ntlm_acceptor(store()));
    let now = Instant::now();
    for c in rest.chunks(usize::from(chunk).max(1)) {
        server.handle_bytes(now, c);
        assert!(server.buffered_bytes() <= 64 * 1024 + 65535);
        while let Some(out) = server.poll_transmit() {
            assert!(Pdu::parse(&out).is_ok());
        }
        while let Some(ev) = server.poll_event() {
            if let ServerEvent::Call(call) = ev {
                // Nobody can log on without alice's password: an authenticated call cannot appear.
                assert!(
                    call.auth.is_none(),
                    "a call on a context that did not log on"
                );
                let _ = server.respond(call.call_id, call.stub);
            }
        }
    }
});
