//! NDR decoding of the generated stubs (epm, mgmt, the AsyncRPC sample) fed arbitrary stub data in
//! every transfer syntax and byte order: no panic, and whatever decodes re-encodes to bytes that
//! decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msrpc::generated::{asyncrpc::async_rpc, epm::epm, mgmt::mgmt};
use msrpc_ndr::{DataRep, Syntax};

macro_rules! round_trip {
    ($ty:ty, $stub:expr, $syntax:expr, $rep:expr) => {{
        if let Ok(v) = <$ty>::decode($stub, $syntax, $rep) {
            let bytes = v.encode($syntax, $rep).expect("a decoded value encodes");
            let again = <$ty>::decode(&bytes, $syntax, $rep).expect("our own encoding decodes");
            assert_eq!(v, again);
        }
    }};
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, stub)) = data.split_first() else {
        return;
    };
    let syntax = if sel & 0x80 != 0 { Syntax::Ndr64 } else { Syntax::Ndr20 };
    let rep = if sel & 0x40 != 0 { DataRep::BIG_ENDIAN } else { DataRep::LITTLE_ENDIAN };
    match sel & 0x1f {
        0 => round_trip!(epm::EptInsertRequest, stub, syntax, rep),
        1 => round_trip!(epm::EptDeleteRequest, stub, syntax, rep),
        2 => round_trip!(epm::EptLookupRequest, stub, syntax, rep),
        3 => round_trip!(epm::EptLookupResponse, stub, syntax, rep),
        4 => round_trip!(epm::EptMapRequest, stub, syntax, rep),
        5 => round_trip!(epm::EptMapResponse, stub, syntax, rep),
        6 => round_trip!(epm::EptLookupHandleFreeRequest, stub, syntax, rep),
        7 => round_trip!(epm::EptInqObjectResponse, stub, syntax, rep),
        8 => round_trip!(epm::EptMgmtDeleteRequest, stub, syntax, rep),
        9 => round_trip!(mgmt::RpcMgmtInqIfIdsResponse, stub, syntax, rep),
        10 => round_trip!(mgmt::RpcMgmtInqStatsRequest, stub, syntax, rep),
        11 => round_trip!(mgmt::RpcMgmtInqStatsResponse, stub, syntax, rep),
        12 => round_trip!(mgmt::RpcMgmtInqPrincNameRequest, stub, syntax, rep),
        13 => round_trip!(mgmt::RpcMgmtInqPrincNameResponse, stub, syntax, rep),
        14 => round_trip!(mgmt::RpcMgmtIsServerListeningResponse, stub, syntax, rep),
        15 => round_trip!(async_rpc::NonAsyncFuncRequest, stub, syntax, rep),
        16 => round_trip!(async_rpc::AsyncFuncRequest, stub, syntax, rep),
        _ => {}
    }
});
