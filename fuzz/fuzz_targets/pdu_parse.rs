//! Any bytes into the PDU parser and the verification-trailer parser: no panic, and whatever
//! parses re-emits to bytes that parse to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msrpc_proto::Pdu;
use msrpc_proto::vt::VerificationTrailer;

fuzz_target!(|data: &[u8]| {
    if let Ok(pdu) = Pdu::parse(data) {
        let again = pdu.emit().expect("a parsed PDU re-emits");
        assert_eq!(Pdu::parse(&again).expect("re-emitted PDU parses"), pdu);
    }
    let _ = VerificationTrailer::parse(data, true);
    let _ = VerificationTrailer::find(data, false);
});
