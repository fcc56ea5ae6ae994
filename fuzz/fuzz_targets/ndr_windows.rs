//! NDR decoding of the ready-made Windows interfaces' stubs (crate msrpc-windows with every
//! interface, generated from the specifications' full IDL): the replies a client decodes from an untrusted server, fed arbitrary
//! stub data in every transfer syntax and byte order. No panic, and whatever decodes re-encodes
//! to bytes that decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msrpc::Stub as _;
use msrpc_ndr::{DataRep, Syntax};
use msrpc_windows::atsvc::atsvc;
use msrpc_windows::eventlog::eventlog as even;
use msrpc_windows::lsad::lsarpc as lsad;
use msrpc_windows::lsat::lsarpc as lsat;
use msrpc_windows::netlogon::logon;
use msrpc_windows::samr::samr;
use msrpc_windows::schrpc::i_task_scheduler_service as schrpc;
use msrpc_windows::srvsvc::srvsvc;
use msrpc_windows::svcctl::svcctl;
use msrpc_windows::winreg::winreg;
use msrpc_windows::wkssvc::wkssvc;

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
    let syntax = if sel & 0x80 != 0 {
        Syntax::Ndr64
    } else {
        Syntax::Ndr20
    };
    let rep = if sel & 0x40 != 0 {
        DataRep::BIG_ENDIAN
    } else {
        DataRep::LITTLE_ENDIAN
    };
    match sel & 0x1f {
        0 => round_trip!(srvsvc::NetrShareEnumResponse, stub, syntax, rep),
        1 => round_trip!(srvsvc::NetrServerGetInfoResponse, stub, syntax, rep),
        2 => round_trip!(srvsvc::NetrShareGetInfoResponse, stub, syntax, rep),
        3 => round_trip!(samr::SamrConnect5Response, stub, syntax, rep),
        4 => round_trip!(
            samr::SamrEnumerateDomainsInSamServerResponse,
            stub,
            syntax,
            rep
        ),
        5 => round_trip!(samr::SamrLookupDomainInSamServerResponse, stub, syntax, rep),
        6 => round_trip!(samr::SamrEnumerateUsersInDomainResponse, stub, syntax, rep),
        7 => round_trip!(samr::SamrQueryInformationUserResponse, stub, syntax, rep),
        8 => round_trip!(samr::SamrQueryInformationDomainResponse, stub, syntax, rep),
        9 => round_trip!(samr::SamrGetGroupsForUserResponse, stub, syntax, rep),
        10 => round_trip!(lsat::LsarLookupSidsResponse, stub, syntax, rep),
        11 => round_trip!(lsat::LsarLookupNamesResponse, stub, syntax, rep),
        12 => round_trip!(lsad::LsarQueryInformationPolicyResponse, stub, syntax, rep),
        13 => round_trip!(
            lsad::LsarEnumerateTrustedDomainsExResponse,
            stub,
            syntax,
            rep
        ),
        14 => round_trip!(svcctl::REnumServicesStatusWResponse, stub, syntax, rep),
        15 => round_trip!(svcctl::RQueryServiceConfigWResponse, stub, syntax, rep),
        16 => round_trip!(winreg::BaseRegEnumKeyResponse, stub, syntax, rep),
        17 => round_trip!(winreg::BaseRegEnumValueResponse, stub, syntax, rep),
        18 => round_trip!(winreg::BaseRegQueryInfoKeyResponse, stub, syntax, rep),
        19 => round_trip!(even::ElfrReadELWResponse, stub, syntax, rep),
        20 => round_trip!(srvsvc::NetrShareEnumRequest, stub, syntax, rep),
        21 => round_trip!(samr::SamrConnect5Request, stub, syntax, rep),
        22 => round_trip!(lsat::LsarLookupSidsRequest, stub, syntax, rep),
        23 => round_trip!(wkssvc::NetrWkstaGetInfoResponse, stub, syntax, rep),
        24 => round_trip!(wkssvc::NetrWkstaUserEnumResponse, stub, syntax, rep),
        25 => round_trip!(logon::DsrGetDcNameEx2Response, stub, syntax, rep),
        26 => round_trip!(logon::NetrServerAuthenticate3Response, stub, syntax, rep),
        27 => round_trip!(logon::NetrLogonGetCapabilitiesResponse, stub, syntax, rep),
        28 => round_trip!(atsvc::NetrJobEnumResponse, stub, syntax, rep),
        29 => round_trip!(schrpc::SchRpcEnumTasksResponse, stub, syntax, rep),
        30 => round_trip!(schrpc::SchRpcGetTaskInfoResponse, stub, syntax, rep),
        _ => {}
    }
});
