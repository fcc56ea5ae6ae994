//! The MIT credential cache reader (`msrpc::auth::Ccache::parse`) fed arbitrary bytes: no panic,
//! no allocation past the input (every length is checked against what is left), and a cache that
//! parses answers the TGT lookup with a ticket or a clear error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msrpc::auth::Ccache;

fuzz_target!(|data: &[u8]| {
    if let Ok(cc) = Ccache::parse(data) {
        let total: usize = cc.credentials().iter().map(|c| c.ticket.len()).sum();
        assert!(total <= data.len());
        match cc.tgt(None, 0) {
            Ok(tgt) => assert!(tgt.is_tgt_of(&cc.principal.realm)),
            Err(e) => assert!(!e.detail.is_empty()),
        }
    }
});
