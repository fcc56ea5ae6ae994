//! Fragments (PDUs framed from the input) into a small-limit reassembler, interleaving allowed
//! or not: no panic, messages and buffers stay under the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msrpc_proto::Pdu;
use msrpc_proto::frag::{PduFramer, Reassembler};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let limit = 4096;
    let mut r = Reassembler::new(limit, mode & 1 == 1);
    let mut framer = PduFramer::new();
    for chunk in rest.chunks(usize::from(mode >> 1).max(1)) {
        framer.push(chunk);
        loop {
            match framer.next_pdu(65535) {
                Ok(Some(raw)) => {
                    if let Ok(pdu) = Pdu::parse(&raw) {
                        if let Ok(Some(msg)) = r.push(pdu) {
                            assert!(msg.stub.len() <= limit);
                        }
                    }
                    assert!(r.buffered() <= limit * r.in_progress().max(1));
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
