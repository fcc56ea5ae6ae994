//! COM (DCOM) `[object]` interfaces between two msrpc peers over TCP on 127.0.0.1: the generated
//! client of msrpc-idl's `tests/fixtures/com.idl` (ICalc : IUnknown, ICalc2 : ICalc) calls the
//! generated server. The IPID goes as the request's object UUID (PFC_OBJECT_UUID) and arrives in
//! `CallInfo::object`; ORPCTHIS goes first in the request and ORPCTHAT first in the response
//! (MS-DCOM 2.2.13, 3.2.4.2); the first method of an interface deriving from IUnknown is opnum 3,
//! and a derived interface's own methods follow the ones it inherits. Also the bytes of ORPCTHIS
//! against MS-DCOM 2.2.13.3's layout, written out here by hand, and (a peer test) against
//! impacket's encoding of the same ORPCTHIS.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use msrpc::server::Server;
use msrpc::{Binding, DataRep, Stub as _, Syntax, Uuid, Win32Status};
use msrpc_ndr::{ConformantArray, Unique, WideString};

// Generated code names `crate::codegen`, which here is msrpc's.
use msrpc::codegen;

mod com_idl {
    include!("../../msrpc-idl/tests/fixtures/com.rs");
}
use com_idl::{ORPC_EXTENT, ORPC_EXTENT_ARRAY, ORPCTHAT, ORPCTHIS, i_calc, i_calc2};

/// What the server saw of each call: opnum, object UUID, the ORPCTHIS that came.
type Seen = Arc<Mutex<Vec<(u16, Option<Uuid>, ORPCTHIS)>>>;

#[derive(Clone, Default)]
struct Calc {
    seen: Seen,
}

impl Calc {
    fn record(&self, call: &msrpc::IncomingCall, this: &ORPCTHIS) -> ORPCTHAT {
        let info = call.info();
        self.seen
            .lock()
            .unwrap()
            .push((info.opnum, info.object, this.clone()));
        // Flags "can be set to any arbitrary value" (MS-DCOM 2.2.13.4): a marker the client
        // can check came back.
        ORPCTHAT {
            flags: 0x5A5A_0001,
            extensions: Unique::null(),
        }
    }
}

impl i_calc::Server for Calc {
    fn add(
        &self,
        call: &msrpc::IncomingCall,
        req: i_calc::AddRequest,
    ) -> Result<i_calc::AddResponse, Win32Status> {
        Ok(i_calc::AddResponse {
            ORPCthat: self.record(call, &req.ORPCthis),
            sum: req.a.wrapping_add(req.b),
            return_value: 0, // S_OK
        })
    }

    fn echo(
        &self,
        call: &msrpc::IncomingCall,
        req: i_calc::EchoRequest,
    ) -> Result<i_calc::EchoResponse, Win32Status> {
        Ok(i_calc::EchoResponse {
            ORPCthat: self.record(call, &req.ORPCthis),
            back: req.text,
            return_value: 0,
        })
    }
}

impl i_calc2::Server for Calc {
    fn add(
        &self,
        call: &msrpc::IncomingCall,
        req: i_calc2::AddRequest,
    ) -> Result<i_calc2::AddResponse, Win32Status> {
        Ok(i_calc2::AddResponse {
            ORPCthat: self.record(call, &req.ORPCthis),
            sum: req.a.wrapping_add(req.b),
            return_value: 0,
        })
    }

    fn echo(
        &self,
        call: &msrpc::IncomingCall,
        req: i_calc2::EchoRequest,
    ) -> Result<i_calc2::EchoResponse, Win32Status> {
        Ok(i_calc2::EchoResponse {
            ORPCthat: self.record(call, &req.ORPCthis),
            back: req.text,
            return_value: 0,
        })
    }

    fn twice(
        &self,
        call: &msrpc::IncomingCall,
        req: i_calc2::TwiceRequest,
    ) -> Result<i_calc2::TwiceResponse, Win32Status> {
        Ok(i_calc2::TwiceResponse {
            ORPCthat: self.record(call, &req.ORPCthis),
            r: req.a.wrapping_mul(2),
            // E_INVALIDARG for a negative input: an HRESULT comes back as the return value.
            return_value: if req.a < 0 { 0x8007_0057_u32 as i32 } else { 0 },
        })
    }
}

#[test]
fn opnums_follow_iunknown_and_the_base_interface() {
    let ops = |d: &msrpc::codegen::InterfaceDescriptor| {
        d.operations
            .iter()
            .map(|o| (o.name, o.opnum))
            .collect::<Vec<_>>()
    };
    assert_eq!(ops(&i_calc::INTERFACE), [("Add", 3), ("Echo", 4)]);
    assert_eq!(
        ops(&i_calc2::INTERFACE),
        [("Add", 3), ("Echo", 4), ("Twice", 5)]
    );
    assert_eq!(i_calc::INTERFACE.version, (0, 0));
    assert_eq!(
        i_calc::INTERFACE.uuid,
        Uuid::parse_str("6b3c1f2e-93a1-4c55-9d0e-5a4f3e2d1c0b").unwrap()
    );
}

#[test]
fn orpcthis_has_the_ms_dcom_layout() {
    let mut this = i_calc::orpcthis();
    assert_eq!(
        (this.version.MajorVersion, this.version.MinorVersion),
        (5, 7)
    );
    assert_eq!((this.flags, this.reserved1), (0, 0));
    assert!(this.extensions.is_null());
    assert_ne!(
        this.cid,
        i_calc::orpcthis().cid,
        "each call gets a fresh causality id"
    );
    this.cid = Uuid::parse_str("00112233-4455-6677-8899-aabbccddeeff").unwrap();
    let req = i_calc::AddRequest {
        ORPCthis: this.clone(),
        a: 0x0102_0304,
        b: -1,
    };
    let bytes = req.encode(Syntax::Ndr20, DataRep::LITTLE_ENDIAN).unwrap();
    // MS-DCOM 2.2.13.3 in NDR20, little-endian: COMVERSION (two u16), flags, reserved1, the CID
    // (a GUID: Data1 u32, Data2 u16, Data3 u16 little-endian, Data4 as 8 bytes), the unique
    // pointer to the extensions (null: 0); then the declared [in] parameters.
    let mut want = Vec::new();
    want.extend([5, 0, 7, 0]);
    want.extend([0, 0, 0, 0]);
    want.extend([0, 0, 0, 0]);
    want.extend([0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66]);
    want.extend([0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
    want.extend([0, 0, 0, 0]);
    want.extend([4, 3, 2, 1]);
    want.extend([0xff, 0xff, 0xff, 0xff]);
    assert_eq!(bytes, want);
    let back = i_calc::AddRequest::decode(&bytes, Syntax::Ndr20, DataRep::LITTLE_ENDIAN).unwrap();
    assert_eq!(back.ORPCthis, this);

    // With one extension (8 bytes of data, 5 of them meaningful; ORPC_EXTENT_ARRAY's array of
    // (1 + 1) & !1 = 2 pointers, the second null) it round-trips.
    this.extensions = Unique::new(ORPC_EXTENT_ARRAY {
        size: 1,
        reserved: 0,
        extent: Unique::new(ConformantArray::from(vec![
            Unique::new(ORPC_EXTENT {
                id: Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10),
                size: 5,
                data: ConformantArray::from(vec![1, 2, 3, 4, 5, 0, 0, 0]),
            }),
            Unique::null(),
        ])),
    });
    let req = i_calc::EchoRequest {
        ORPCthis: this.clone(),
        text: Unique::null(),
    };
    let bytes = req.encode(Syntax::Ndr20, DataRep::LITTLE_ENDIAN).unwrap();
    let back = i_calc::EchoRequest::decode(&bytes, Syntax::Ndr20, DataRep::LITTLE_ENDIAN).unwrap();
    assert_eq!(back.ORPCthis, this);
    // The fixed part is as before up to the extensions pointer, which is now a referent id.
    assert_eq!(bytes[..28], want[..28]);
    assert_ne!(bytes[28..32], [0, 0, 0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dcom_call_carries_the_ipid_orpcthis_and_orpcthat_over_tcp() {
    let calc = Calc::default();
    let server = Server::builder()
        .interface(Arc::new(i_calc::Service::new(calc.clone())))
        .interface(Arc::new(i_calc2::Service::new(calc.clone())))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let address = server.bindings()[0].to_string();
    let b = Binding::from_string(&address).unwrap();
    let ipid1 = Uuid::parse_str("11111111-2222-3333-4444-555555555555").unwrap();
    let ipid2 = Uuid::parse_str("66666666-7777-8888-9999-aaaaaaaaaaaa").unwrap();

    let this = i_calc::orpcthis();
    let resp = i_calc::Client(&b)
        .add(
            ipid1,
            i_calc::AddRequest {
                ORPCthis: this.clone(),
                a: 40,
                b: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!((resp.sum, resp.return_value), (42, 0));
    assert_eq!(resp.ORPCthat.flags, 0x5A5A_0001, "ORPCTHAT came back");
    assert!(resp.ORPCthat.extensions.is_null());

    let resp = i_calc::Client(&b)
        .echo(
            ipid2,
            i_calc::EchoRequest {
                ORPCthis: i_calc::orpcthis(),
                text: Unique::new(WideString::from("über")),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        resp.back.as_ref().map(|s| s.to_string_lossy()),
        Some("über".into())
    );

    // ICalc2: the inherited Add is opnum 3 on ICalc2's IID, its own Twice opnum 5; an HRESULT
    // failure is a return value, not a fault.
    let c2 = i_calc2::Client(&b);
    let resp = c2
        .add(
            ipid2,
            i_calc2::AddRequest {
                ORPCthis: i_calc2::orpcthis(),
                a: 1,
                b: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(resp.sum, 3);
    let resp = c2
        .twice(
            ipid1,
            i_calc2::TwiceRequest {
                ORPCthis: i_calc2::orpcthis(),
                a: -4,
            },
        )
        .await
        .unwrap();
    assert_eq!((resp.r, resp.return_value as u32), (-8, 0x8007_0057));

    // The blocking form, from a thread of its own.
    let b2 = b.clone();
    let resp = tokio::task::spawn_blocking(move || {
        i_calc2::Client(&b2).twice_blocking(
            ipid2,
            i_calc2::TwiceRequest {
                ORPCthis: i_calc2::orpcthis(),
                a: 21,
            },
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!((resp.r, resp.return_value), (42, 0));

    let seen = calc.seen.lock().unwrap().clone();
    let got: Vec<(u16, Option<Uuid>)> = seen.iter().map(|(o, u, _)| (*o, *u)).collect();
    assert_eq!(
        got,
        [
            (3, Some(ipid1)),
            (4, Some(ipid2)),
            (3, Some(ipid2)),
            (5, Some(ipid1)),
            (5, Some(ipid2)),
        ],
        "each call's IPID arrived as its object UUID, whatever the binding's own"
    );
    assert_eq!(seen[0].2, this, "ORPCTHIS arrived as sent");
    for (_, _, t) in &seen {
        assert_eq!((t.version.MajorVersion, t.version.MinorVersion), (5, 7));
    }
    assert_eq!(
        b.object(),
        None,
        "the binding's own object UUID is untouched"
    );

    // Binding::call_with_object by hand, on a binding with an object UUID of its own: the call's
    // wins for that call, and the binding keeps its own.
    let own = Uuid::parse_str("99999999-0000-0000-0000-000000000001").unwrap();
    b.set_object(Some(own));
    let req = i_calc::AddRequest {
        ORPCthis: i_calc::orpcthis(),
        a: 5,
        b: 6,
    };
    let reply = b
        .call_with_object(i_calc::INTERFACE.syntax_id(), 3, ipid1, move |s, r| {
            req.encode(s, r)
        })
        .await
        .unwrap();
    let resp = msrpc::codegen::decode_reply::<i_calc::AddResponse>(&reply).unwrap();
    assert_eq!(resp.sum, 11);
    assert_eq!(b.object(), Some(own));
    let last = calc.seen.lock().unwrap().last().map(|(o, u, _)| (*o, *u));
    assert_eq!(last, Some((3, Some(ipid1))));

    // Opnums 0-2 (IUnknown's) are not on the wire: the server refuses them as out of range.
    let err = b
        .call(i_calc::INTERFACE.syntax_id(), 0, |_, _| Ok(Vec::new()))
        .await
        .unwrap_err();
    assert_eq!(
        err.status(),
        Win32Status(1745),
        "RPC_S_PROCNUM_OUT_OF_RANGE: {err}"
    );

    b.close();
    server.shutdown(Duration::from_secs(2)).await;
}

/// impacket's `dcomrt.ORPCTHIS` encodes the same ORPCTHIS to the same bytes (a differential check
/// of the layout; nothing of impacket's is used but its output).
#[test]
#[ignore = "needs PEER: impacket (target/peers/venv, or MSRPC_IMPACKET_PYTHON)"]
fn orpcthis_bytes_match_impacket() {
    let script = "from impacket.dcerpc.v5.dcomrt import ORPCTHIS\n\
        from impacket.dcerpc.v5.ndr import NULL\n\
        from impacket.uuid import string_to_bin\n\
        o = ORPCTHIS()\n\
        o['version']['MajorVersion'] = 5\n\
        o['version']['MinorVersion'] = 7\n\
        o['flags'] = 0\n\
        o['reserved1'] = 0\n\
        o['cid'] = string_to_bin('00112233-4455-6677-8899-aabbccddeeff')\n\
        o['extensions'] = NULL\n\
        print(o.getData().hex())\n";
    let out = std::process::Command::new(common::impacket_python())
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = String::from_utf8(out.stdout).unwrap();
    let mut this = i_calc::orpcthis();
    this.cid = Uuid::parse_str("00112233-4455-6677-8899-aabbccddeeff").unwrap();
    let ours = msrpc_ndr::encode_all(&this, Syntax::Ndr20, DataRep::LITTLE_ENDIAN).unwrap();
    assert_eq!(hex::encode(ours), theirs.trim());
}
