//! The generated code compiles and works: the golden files are `include!`d against a stand-in
//! for the runtime's `codegen` module, and values round-trip through encode/decode in NDR20 and
//! NDR64, little- and big-endian.

#[path = "support/rt.rs"]
mod rt;
use rt as codegen;

mod features_idl {
    include!("fixtures/features.rs");
}
mod asyncrpc_idl {
    include!("fixtures/shipped/asyncrpc.rs");
}
mod mgmt_idl {
    include!("fixtures/shipped/mgmt.rs");
}
mod epm_idl {
    include!("fixtures/shipped/epm.rs");
}
mod srvsvc_idl {
    include!("fixtures/shipped/srvsvc.rs");
}
mod spec_idl {
    include!("fixtures/spec.rs");
}

use msrpc_ndr::{
    ConformantArray, ConformantVaryingArray, ContextHandle, DataRep, ErrorKind, Full, NdrString,
    Ref, Stub as _, Syntax, Unique, VaryingArray, WideString,
};

const REPS: [(Syntax, DataRep); 4] = [
    (Syntax::Ndr20, DataRep::LITTLE_ENDIAN),
    (Syntax::Ndr20, DataRep::BIG_ENDIAN),
    (Syntax::Ndr64, DataRep::LITTLE_ENDIAN),
    (Syntax::Ndr64, DataRep::BIG_ENDIAN),
];

fn round<T>(v: &T)
where
    T: msrpc_ndr::NdrEncode + msrpc_ndr::NdrDecode + PartialEq + std::fmt::Debug,
{
    for (s, r) in REPS {
        let bytes = msrpc_ndr::encode_all(v, s, r).expect("encode");
        let back: T = msrpc_ndr::decode_all(&bytes, s, r, Default::default(), true)
            .unwrap_or_else(|e| panic!("{s:?} {r:?}: {e}"));
        assert_eq!(&back, v, "{s:?} {r:?}");
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn shape() -> features_idl::SHAPE {
    use features_idl::*;
    SHAPE {
        count: 2,
        points: Unique::new(ConformantArray(vec![
            POINT { x: 1, y: -2 },
            POINT { x: 3, y: 4 },
        ])),
        label: Unique::new(WideString::from("label")),
        name: VaryingArray::new(b"name\0".to_vec()),
        color: COLOR::Blue,
        size: SIZE16::Large,
        flag: true,
        big: -5,
        ratio: 0.5,
        raw: [1, 2, 3, 4],
    }
}

#[test]
fn features_types_round_trip() {
    use features_idl::*;
    round(&shape());
    round(&BLOB {
        len: 3,
        data: ConformantArray(vec![7, 8, 9]),
    });
    round(&BUFFERS {
        max: 4,
        used: 2,
        bytes: Unique::new(ConformantVaryingArray {
            max_count: 4,
            offset: 0,
            items: vec![1, 2],
        }),
        fixed: VaryingArray::new(vec![-1, 1]),
    });
    for value in [
        VALUE::Number(-7),
        VALUE::Text(Unique::new(WideString::from("t"))),
        VALUE::Text(Unique::null()),
        VALUE::Point(4, POINT { x: 9, y: 9 }),
        VALUE::Case5,
        VALUE::Default(77),
    ] {
        round(&TAGGED {
            kind: value.discriminant(),
            value,
        });
    }
    for enc in [
        ENCAPSULATED::H(1 << 40),
        ENCAPSULATED::Blob(
            3,
            Unique::new(BLOB {
                len: 1,
                data: ConformantArray(vec![5]),
            }),
        ),
        ENCAPSULATED::Default(-1),
    ] {
        round(&enc);
    }
    for v in [BY_ENUM::S(-1), BY_ENUM::L(1 << 50)] {
        round(&HOLDS_ENUM_UNION {
            which: v.discriminant(),
            v,
        });
    }
    let wire =
        msrpc_ndr::encode_all(&BY_ENUM::S(7), Syntax::Ndr20, DataRep::LITTLE_ENDIAN).unwrap();
    assert_eq!(hex(&wire), "0000000007000000"); // 16-bit discriminant, then the aligned long
    let wire =
        msrpc_ndr::encode_all(&BY_ENUM::S(7), Syntax::Ndr64, DataRep::LITTLE_ENDIAN).unwrap();
    // NDR64: the union aligns to its largest arm (hyper), the discriminant is 32 bits.
    assert_eq!(hex(&wire), "000000000000000007000000");
    round(&CSTR {
        n: 3,
        s: ConformantVaryingArray::new(vec![0x41, 0x42, 0]),
    });
    round(&KEYWORDS {
        r#type: 1,
        r#match: 2,
        self_: 3,
        v: Unique::new(ConformantArray(vec![4])),
    });
    round(&NAMED_DEFAULT::Default(5));
    round(&USES_DTYP {
        name: RPC_UNICODE_STRING {
            Length: 2,
            MaximumLength: 4,
            Buffer: Unique::new(ConformantVaryingArray {
                max_count: 2,
                offset: 0,
                items: vec![0x61],
            }),
        },
        when: FILETIME {
            dwLowDateTime: 1,
            dwHighDateTime: 2,
        },
        big: LARGE_INTEGER { QuadPart: -3 },
        id: uuid::Uuid::from_fields(4, 5, 6, &[7; 8]),
        sid: Unique::new(RPC_SID {
            Revision: 1,
            SubAuthorityCount: 1,
            IdentifierAuthority: RPC_SID_IDENTIFIER_AUTHORITY {
                Value: [0, 0, 0, 0, 0, 5],
            },
            SubAuthority: ConformantArray(vec![18]),
        }),
    });
    round(&NAMED_DEFAULT::Other(9, 6));
    let tail = NODE {
        value: 2,
        next: Unique::null(),
        origin: Ref::new(POINT { x: 0, y: 0 }),
        shared: Full::null(),
    };
    round(&NODE {
        value: 1,
        next: Unique::new(tail),
        origin: Ref::new(POINT { x: 5, y: 6 }),
        shared: Full::new(POINT { x: 7, y: 8 }),
    });
}

#[test]
fn constants_and_enums() {
    assert_eq!(features_idl::NEG, -2);
    assert_eq!(features_idl::MASK, 0x13);
    assert_eq!(features_idl::COLOR::Green, features_idl::COLOR(2));
    assert_eq!(features_idl::SIZE16::Large.0, 6);
    assert_eq!(asyncrpc_idl::DEFAULT_ASYNC_DELAY_MS, 10000);
    assert_eq!(asyncrpc_idl::DEFAULT_PROTOCOL_SEQUENCE, "ncacn_ip_tcp");
    assert_eq!(asyncrpc_idl::DEFAULT_ENDPOINT_NAME, "8765");
    // v1_enum is 32 bits in both syntaxes; a plain enum 16 bits in NDR20.
    let le = DataRep::LITTLE_ENDIAN;
    assert_eq!(
        hex(&msrpc_ndr::encode_all(&features_idl::COLOR::Blue, Syntax::Ndr20, le).unwrap()),
        "10000000"
    );
    assert_eq!(
        hex(&msrpc_ndr::encode_all(&features_idl::SIZE16::Large, Syntax::Ndr20, le).unwrap()),
        "0600"
    );
    assert_eq!(
        hex(&msrpc_ndr::encode_all(&features_idl::SIZE16::Large, Syntax::Ndr64, le).unwrap()),
        "06000000"
    );
}

#[test]
fn sizing_fields_are_checked_both_ways() {
    use features_idl::*;
    // Encoding refuses a count that disagrees with the array.
    let mut bad = shape();
    bad.count = 3;
    let err = msrpc_ndr::encode_all(&bad, Syntax::Ndr20, DataRep::LITTLE_ENDIAN).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::SizeMismatch { wire: 2, field: 3 }),
        "{err}"
    );
    // Decoding refuses it too, naming the type.
    let good = msrpc_ndr::encode_all(&shape(), Syntax::Ndr20, DataRep::LITTLE_ENDIAN).unwrap();
    let mut tampered = good.clone();
    tampered[0] = 3; // count
    let err = msrpc_ndr::decode_all::<SHAPE>(
        &tampered,
        Syntax::Ndr20,
        DataRep::LITTLE_ENDIAN,
        Default::default(),
        true,
    )
    .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::SizeMismatch { .. }),
        "{err}"
    );
    assert!(err.path().starts_with("SHAPE"), "{}", err.path());
    // [range(0, 100)]
    tampered[0] = 101;
    let err = msrpc_ndr::decode_all::<SHAPE>(
        &tampered,
        Syntax::Ndr20,
        DataRep::LITTLE_ENDIAN,
        Default::default(),
        true,
    )
    .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::OutOfRange { value: 101, .. }),
        "{err}"
    );
    // switch_is: the discriminant must agree with the tag field.
    let bad = TAGGED {
        kind: 1,
        value: VALUE::Case5,
    };
    let err = msrpc_ndr::encode_all(&bad, Syntax::Ndr64, DataRep::LITTLE_ENDIAN).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::SwitchMismatch {
                wire: 5,
                expected: 1
            }
        ),
        "{err}"
    );
    // A union without [default] rejects unknown discriminants.
    let b = unhex("09000000");
    let err = msrpc_ndr::decode_all::<srvsvc_idl::SERVER_INFO>(
        &b,
        Syntax::Ndr20,
        DataRep::LITTLE_ENDIAN,
        Default::default(),
        true,
    )
    .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::BadSwitch(9)), "{err}");
}

#[test]
fn requests_and_responses_round_trip() {
    use features_idl::features::*;
    let h = ContextHandle {
        attributes: 0,
        uuid: uuid::Uuid::from_u128(0x1234),
    };
    for (s, r) in REPS {
        let req = DrawRequest {
            handle: h,
            shape: shape(),
            list: Unique::null(),
            tagged: features_idl::TAGGED {
                kind: 2,
                value: features_idl::VALUE::Text(Unique::new(WideString::from("x"))),
            },
            enc: features_idl::ENCAPSULATED::H(3),
            by_enum: features_idl::HOLDS_ENUM_UNION {
                which: features_idl::SIZE16::Small,
                v: features_idl::BY_ENUM::S(1),
            },
            cstr: features_idl::CSTR {
                n: 1,
                s: ConformantVaryingArray::new(vec![0]),
            },
        };
        let stub = req.encode(s, r).unwrap();
        assert_eq!(DrawRequest::decode(&stub, s, r).unwrap(), req);
        // Trailing bytes are rejected, apart from up to 7 zero bytes of alignment padding.
        let mut long = stub.clone();
        long.push(0x5a);
        assert!(DrawRequest::decode(&long, s, r).is_err());
        let mut padded = stub.clone();
        padded.extend_from_slice(&[0; 3]);
        assert_eq!(DrawRequest::decode(&padded, s, r).unwrap(), req);

        let resp = ReadResponse {
            data: ConformantVaryingArray {
                max_count: 8,
                offset: 0,
                items: vec![1, 2, 3],
            },
            actual: 3,
            buffers: Unique::null(),
            return_value: 0,
        };
        let stub = resp.encode(s, r).unwrap();
        assert_eq!(ReadResponse::decode(&stub, s, r).unwrap(), resp);
        // length_is(*actual) is checked.
        let bad = ReadResponse {
            actual: 2,
            ..resp.clone()
        };
        assert!(bad.encode(s, r).is_err());
    }
    // [range(1, 4096)] on an [in] parameter.
    let req = ReadRequest {
        handle: h,
        size: 0,
        buffers: Unique::null(),
    };
    assert!(matches!(
        req.encode(Syntax::Ndr20, DataRep::LITTLE_ENDIAN)
            .unwrap_err()
            .kind(),
        ErrorKind::OutOfRange { .. }
    ));
}

#[test]
fn interface_descriptors() {
    let i = &asyncrpc_idl::async_rpc::INTERFACE;
    assert_eq!(i.name, "AsyncRPC");
    assert_eq!(
        i.uuid,
        uuid::Uuid::parse_str("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b").unwrap()
    );
    assert_eq!(i.version, (1, 0));
    let ops: Vec<(&str, u16, bool)> = i
        .operations
        .iter()
        .map(|o| (o.name, o.opnum, o.is_async))
        .collect();
    assert_eq!(
        ops,
        [
            ("NonAsyncFunc", 0, false),
            ("AsyncFunc", 1, true),
            ("Shutdown", 2, false)
        ]
    );
    assert_eq!(asyncrpc_idl::async_rpc::ENDPOINTS, ["ncacn_ip_tcp:[8765]"]);

    let m = &mgmt_idl::mgmt::INTERFACE;
    assert_eq!(
        m.uuid,
        uuid::Uuid::parse_str("afa8bd80-7d8a-11c9-bef4-08002b102989").unwrap()
    );
    assert_eq!(m.version, (1, 0));
    let names: Vec<_> = m.operations.iter().map(|o| o.name).collect();
    assert_eq!(
        names,
        [
            "rpc_mgmt_inq_if_ids",
            "rpc_mgmt_inq_stats",
            "rpc_mgmt_is_server_listening",
            "rpc_mgmt_stop_server_listening",
            "rpc_mgmt_inq_princ_name"
        ]
    );

    let e = &epm_idl::epm::INTERFACE;
    assert_eq!(
        e.uuid,
        uuid::Uuid::parse_str("e1af8308-5d1f-11c9-91a4-08002b14a0fa").unwrap()
    );
    assert_eq!(e.version, (3, 0));
    assert_eq!(e.operations[3].name, "ept_map");
    assert_eq!(e.operations.len(), 7);

    let s = &srvsvc_idl::srvsvc::INTERFACE;
    assert_eq!(s.version, (3, 0));
    assert_eq!(s.operations[15].name, "NetrShareEnum");
    assert_eq!(s.operations[21].name, "NetrServerGetInfo");
    assert_eq!(srvsvc_idl::srvsvc::NetrServerGetInfoRequest::OPNUM, 21);

    let f = &features_idl::features::INTERFACE;
    assert_eq!(f.version, (2, 1));
    assert!(f.operations[4].idempotent);
    assert!(f.operations[1].is_async);
}

#[test]
fn asyncrpc_request_bytes() {
    use asyncrpc_idl::async_rpc::*;
    // [in, string] unsigned char *: top-level [ref], so the conformant varying string itself.
    let req = NonAsyncFuncRequest {
        pszMessage: NdrString::from("hi"),
    };
    let stub = req.encode(Syntax::Ndr20, DataRep::LITTLE_ENDIAN).unwrap();
    assert_eq!(
        hex(&stub),
        "03000000000000000300000068690000"[..30].to_string()
    );
    let req = AsyncFuncRequest { nAsychDelay: 10000 };
    assert_eq!(
        hex(&req.encode(Syntax::Ndr20, DataRep::LITTLE_ENDIAN).unwrap()),
        "10270000"
    );
    assert_eq!(
        hex(&req.encode(Syntax::Ndr20, DataRep::BIG_ENDIAN).unwrap()),
        "00002710"
    );
    // handle_t is not marshalled: Shutdown has an empty stub both ways.
    assert!(
        ShutdownRequest {}
            .encode(Syntax::Ndr64, DataRep::LITTLE_ENDIAN)
            .unwrap()
            .is_empty()
    );
    assert!(
        ShutdownResponse {}
            .encode(Syntax::Ndr64, DataRep::LITTLE_ENDIAN)
            .unwrap()
            .is_empty()
    );
}

/// Stub data of impacket's `ept_map` request (from ../shared/captures, as in msrpc-ndr's vectors).
const EPT_MAP_REQUEST: &str = concat!(
    "01000000",
    "00000000000000000000000000000000",
    "02000000",
    "4b000000",
    "4b000000",
    "050013000d785734123412cdabef000123456789ab00000200000013000d045d888aeb1cc9119fe808002b10486002",
    "000200000001000b0200000001000702000000010009040000000000",
    "ab",
    "0000000000000000000000000000000000000000",
    "04000000",
);

/// Stub data of Samba's `ept_map` response.
const EPT_MAP_RESPONSE: &str = concat!(
    "0000000000000000000000000000000000000000",
    "01000000",
    "04000000",
    "00000000",
    "01000000",
    "03000000",
    "4b000000",
    "4b000000",
    "050013000d785734123412cdabef000123456789ab00000200000013000d045d888aeb1cc9119fe808002b10486002",
    "000200000001000b020000000100070200c03201000904007f000001",
    "00",
    "00000000",
);

#[test]
fn epm_ept_map_matches_real_traffic() {
    use epm_idl::epm::*;
    let le = DataRep::LITTLE_ENDIAN;
    let req = EptMapRequest::decode(&unhex(EPT_MAP_REQUEST), Syntax::Ndr20, le).unwrap();
    assert_eq!(req.object.as_ref().map(|g| g.as_fields().0), Some(0));
    assert_eq!(req.max_towers, 4);
    assert!(req.entry_handle.is_null());
    let tower = req.map_tower.as_ref().unwrap();
    assert_eq!(tower.tower_length, 0x4b);
    assert_eq!(tower.tower_octet_string.0.len(), 0x4b);
    // Re-encoded, only our referent ids (from 0x00020000) and the zeroed padding differ.
    let ours = hex(&req.encode(Syntax::Ndr20, le).unwrap());
    let expected = format!(
        "00000200{}04000200{}",
        &EPT_MAP_REQUEST[8..40],
        EPT_MAP_REQUEST[48..].replace("0000ab0000", "0000000000")
    );
    assert_eq!(ours, expected);

    let resp = EptMapResponse::decode(&unhex(EPT_MAP_RESPONSE), Syntax::Ndr20, le).unwrap();
    assert_eq!((resp.num_towers, resp.status), (1, 0));
    assert_eq!(resp.towers.max_count, 4);
    assert_eq!(resp.towers.items[0].as_ref().unwrap().tower_length, 0x4b);
    let ours = hex(&resp.encode(Syntax::Ndr20, le).unwrap());
    assert_eq!(ours, EPT_MAP_RESPONSE.replacen("03000000", "00000200", 1));
    // And every syntax round-trips.
    for (s, r) in REPS {
        assert_eq!(
            EptMapResponse::decode(&resp.encode(s, r).unwrap(), s, r).unwrap(),
            resp
        );
        assert_eq!(
            EptMapRequest::decode(&req.encode(s, r).unwrap(), s, r).unwrap(),
            req
        );
    }
}

struct Mgmt;

impl mgmt_idl::mgmt::Server for Mgmt {
    fn rpc_mgmt_inq_if_ids(
        &self,
        _: &rt::IncomingCall,
        _: mgmt_idl::mgmt::RpcMgmtInqIfIdsRequest,
    ) -> Result<mgmt_idl::mgmt::RpcMgmtInqIfIdsResponse, rt::Win32Status> {
        let id = mgmt_idl::rpc_if_id_t {
            uuid: uuid::Uuid::from_u128(0xafa8bd80_7d8a_11c9_bef4_08002b102989),
            vers_major: 1,
            vers_minor: 0,
        };
        Ok(mgmt_idl::mgmt::RpcMgmtInqIfIdsResponse {
            if_id_vector: Unique::new(mgmt_idl::rpc_if_id_vector_t {
                count: 1,
                if_id: ConformantArray(vec![Unique::new(id)]),
            }),
            status: 0,
        })
    }
    fn rpc_mgmt_inq_stats(
        &self,
        _: &rt::IncomingCall,
        req: mgmt_idl::mgmt::RpcMgmtInqStatsRequest,
    ) -> Result<mgmt_idl::mgmt::RpcMgmtInqStatsResponse, rt::Win32Status> {
        let n = req.count.min(4);
        Ok(mgmt_idl::mgmt::RpcMgmtInqStatsResponse {
            count: n,
            statistics: ConformantArray((0..n).collect()),
            status: 0,
        })
    }
    fn rpc_mgmt_is_server_listening(
        &self,
        _: &rt::IncomingCall,
        _: mgmt_idl::mgmt::RpcMgmtIsServerListeningRequest,
    ) -> Result<mgmt_idl::mgmt::RpcMgmtIsServerListeningResponse, rt::Win32Status> {
        Ok(mgmt_idl::mgmt::RpcMgmtIsServerListeningResponse {
            status: 0,
            return_value: 1,
        })
    }
    fn rpc_mgmt_stop_server_listening(
        &self,
        _: &rt::IncomingCall,
        _: mgmt_idl::mgmt::RpcMgmtStopServerListeningRequest,
    ) -> Result<mgmt_idl::mgmt::RpcMgmtStopServerListeningResponse, rt::Win32Status> {
        Err(rt::Win32Status(5))
    }
    fn rpc_mgmt_inq_princ_name(
        &self,
        _: &rt::IncomingCall,
        req: mgmt_idl::mgmt::RpcMgmtInqPrincNameRequest,
    ) -> Result<mgmt_idl::mgmt::RpcMgmtInqPrincNameResponse, rt::Win32Status> {
        Ok(mgmt_idl::mgmt::RpcMgmtInqPrincNameResponse {
            princ_name: ConformantVaryingArray {
                max_count: u64::from(req.princ_name_size),
                offset: 0,
                items: b"host\0".to_vec(),
            },
            status: 0,
        })
    }
}

#[test]
fn mgmt_dispatch() {
    use mgmt_idl::mgmt::*;
    // Replies are always little-endian (what msrpc servers announce), under default limits.
    let (le, lim) = (DataRep::LITTLE_ENDIAN, msrpc_ndr::DecodeLimits::default());
    for (s, r) in REPS {
        // What the managers get for their `handle_t`; these ones do not look at it.
        let info = rt::CallInfo {
            opnum: 0,
            syntax: s,
            drep: r,
        };
        let (call, _answers) = rt::IncomingCall::new(info, Vec::new());
        let call = &call;
        let stub = RpcMgmtInqIfIdsRequest {}.encode(s, r).unwrap();
        let reply = dispatch(&Mgmt, call, 0, &stub, s, r, lim).unwrap();
        let resp = RpcMgmtInqIfIdsResponse::decode(&reply, s, le).unwrap();
        let v = resp.if_id_vector.as_ref().unwrap();
        assert_eq!(v.count, 1);
        assert_eq!(v.if_id.0[0].as_ref().unwrap().vers_major, 1);

        let reply = dispatch(
            &Mgmt,
            call,
            1,
            &RpcMgmtInqStatsRequest { count: 9 }.encode(s, r).unwrap(),
            s,
            r,
            lim,
        )
        .unwrap();
        let resp = RpcMgmtInqStatsResponse::decode(&reply, s, le).unwrap();
        assert_eq!(resp.statistics.0, [0, 1, 2, 3]);

        let reply = dispatch(&Mgmt, call, 2, &[], s, r, lim).unwrap();
        assert_eq!(
            RpcMgmtIsServerListeningResponse::decode(&reply, s, le)
                .unwrap()
                .return_value,
            1
        );

        let reply = dispatch(
            &Mgmt,
            call,
            4,
            &RpcMgmtInqPrincNameRequest {
                authn_proto: 9,
                princ_name_size: 64,
            }
            .encode(s, r)
            .unwrap(),
            s,
            r,
            lim,
        )
        .unwrap();
        let resp = RpcMgmtInqPrincNameResponse::decode(&reply, s, le).unwrap();
        assert_eq!(resp.princ_name.items, b"host\0");
        assert_eq!(resp.princ_name.max_count, 64);

        assert!(matches!(
            dispatch(&Mgmt, call, 3, &[], s, r, lim),
            Err(rt::DispatchError::Manager(rt::Win32Status(5)))
        ));
        assert!(matches!(
            dispatch(&Mgmt, call, 5, &[], s, r, lim),
            Err(rt::DispatchError::UnknownOpnum(5))
        ));
        assert!(matches!(
            dispatch(&Mgmt, call, 1, &[1], s, r, lim),
            Err(rt::DispatchError::Decode(_))
        ));
    }
}

struct Srv;

impl srvsvc_idl::srvsvc::Server for Srv {
    fn netr_share_enum(
        &self,
        req: srvsvc_idl::srvsvc::NetrShareEnumRequest,
    ) -> Result<srvsvc_idl::srvsvc::NetrShareEnumResponse, rt::Win32Status> {
        use srvsvc_idl::*;
        let shares = vec![SHARE_INFO_1 {
            shi1_netname: Unique::new(WideString::from("IPC$")),
            shi1_type: STYPE_IPC | STYPE_SPECIAL,
            shi1_remark: Unique::new(WideString::from("IPC Service")),
        }];
        assert_eq!(req.InfoStruct.Level, 1);
        Ok(srvsvc_idl::srvsvc::NetrShareEnumResponse {
            InfoStruct: SHARE_ENUM_STRUCT {
                Level: 1,
                ShareInfo: SHARE_ENUM_UNION::Level1(Unique::new(SHARE_INFO_1_CONTAINER {
                    EntriesRead: 1,
                    Buffer: Unique::new(ConformantArray(shares)),
                })),
            },
            TotalEntries: 1,
            ResumeHandle: req.ResumeHandle,
            return_value: 0,
        })
    }
    fn netr_server_get_info(
        &self,
        req: srvsvc_idl::srvsvc::NetrServerGetInfoRequest,
    ) -> Result<srvsvc_idl::srvsvc::NetrServerGetInfoResponse, rt::Win32Status> {
        use srvsvc_idl::*;
        let info = match req.Level {
            100 => SERVER_INFO::ServerInfo100(Unique::new(SERVER_INFO_100 {
                sv100_platform_id: PLATFORM_ID_NT,
                sv100_name: Unique::new(WideString::from("HOST")),
            })),
            _ => return Err(rt::Win32Status(124)),
        };
        Ok(srvsvc_idl::srvsvc::NetrServerGetInfoResponse {
            InfoStruct: info,
            return_value: 0,
        })
    }
}

#[test]
fn srvsvc_dispatch_and_placeholders() {
    let (le, lim) = (DataRep::LITTLE_ENDIAN, msrpc_ndr::DecodeLimits::default());
    use srvsvc_idl::srvsvc::*;
    for (s, r) in REPS {
        let req = NetrShareEnumRequest {
            ServerName: Unique::new(WideString::from("\\\\host")),
            InfoStruct: srvsvc_idl::SHARE_ENUM_STRUCT {
                Level: 1,
                ShareInfo: srvsvc_idl::SHARE_ENUM_UNION::Level1(Unique::new(
                    srvsvc_idl::SHARE_INFO_1_CONTAINER {
                        EntriesRead: 0,
                        Buffer: Unique::null(),
                    },
                )),
            },
            PreferedMaximumLength: u32::MAX,
            ResumeHandle: Unique::new(0),
        };
        let reply = dispatch(&Srv, 15, &req.encode(s, r).unwrap(), s, r, lim).unwrap();
        let resp = NetrShareEnumResponse::decode(&reply, s, le).unwrap();
        let srvsvc_idl::SHARE_ENUM_UNION::Level1(c) = &resp.InfoStruct.ShareInfo else {
            panic!("level")
        };
        let shares = &c.as_ref().unwrap().Buffer.as_ref().unwrap().0;
        assert_eq!(shares[0].shi1_netname.as_ref().unwrap().to_string(), "IPC$");

        let reply = dispatch(
            &Srv,
            21,
            &NetrServerGetInfoRequest {
                ServerName: Unique::null(),
                Level: 100,
            }
            .encode(s, r)
            .unwrap(),
            s,
            r,
            lim,
        )
        .unwrap();
        let resp = NetrServerGetInfoResponse::decode(&reply, s, le).unwrap();
        assert_eq!(resp.InfoStruct.discriminant(), 100);
        // Placeholders fault with RPC_S_PROCNUM_OUT_OF_RANGE unless implemented.
        assert!(matches!(
            dispatch(&Srv, 9, &[], s, r, lim),
            Err(rt::DispatchError::Manager(rt::Win32Status(1745)))
        ));
        // The caller's limits apply: ServerName, the level-1 container and ResumeHandle are
        // three pointees.
        let stub = req.encode(s, r).unwrap();
        let tight = lim.with_max_pointees(2);
        match dispatch(&Srv, 15, &stub, s, r, tight) {
            Err(rt::DispatchError::Decode(e)) => {
                assert_eq!(e.kind(), &ErrorKind::PointeeLimit(2), "{e}")
            }
            other => panic!("decoded past max_pointees: {other:?}"),
        }
        assert!(dispatch(&Srv, 15, &stub, s, r, lim.with_max_pointees(3)).is_ok());
    }
}

/// A 100 000-node list (`struct _NODE { ...; struct _NODE *next; }`) round-trips in both
/// syntaxes, and is dropped, cloned, compared and printed, on a thread with a tokio worker's
/// 2 MiB stack: nothing recurses once per node. Its length is bounded by `max_pointees`, not by
/// `max_depth` (64).
#[test]
fn long_list_on_a_small_stack() {
    use features_idl::{NODE, POINT};
    use msrpc_ndr::list::Linked as _;
    const N: i32 = 100_000;
    let run = || {
        let node = |value: i32, next: Unique<NODE>| NODE {
            value,
            next,
            origin: Ref::new(POINT {
                x: value,
                y: -value,
            }),
            shared: Full::null(),
        };
        let mut list = node(N - 1, Unique::null());
        for v in (0..N - 1).rev() {
            list = node(v, Unique::new(list));
        }
        assert_eq!(list.iter().count(), N as usize);
        let copy = list.clone();
        assert_eq!(copy, list);
        let mut other = list.clone();
        let mut last = &mut other;
        while let Some(next) = last.next.0.as_deref_mut() {
            last = next;
        }
        last.value = -1;
        assert_ne!(other, list, "the last node differs");
        drop(other);
        let text = format!("{list:?}");
        assert!(text.starts_with("[NODE { value: 0, origin: Ref(POINT { x: 0, y: 0 })"));
        assert!(
            text.contains("NODE { value: 99999,"),
            "every node is printed"
        );
        // Pointees: N-1 links and N `origin`s (`shared` is null).
        let pointees = (2 * N - 1) as usize;
        for (syntax, rep) in REPS {
            let bytes = msrpc_ndr::encode_all(&list, syntax, rep).unwrap();
            let limits = msrpc_ndr::DecodeLimits::default();
            assert_eq!(limits.max_depth, 64);
            let back: NODE = msrpc_ndr::decode_all(&bytes, syntax, rep, limits, true).unwrap();
            assert_eq!(back, list);
            let at = limits.with_max_pointees(pointees);
            let back: NODE = msrpc_ndr::decode_all(&bytes, syntax, rep, at, true).unwrap();
            assert_eq!(back.iter().count(), N as usize);
            let past = limits.with_max_pointees(pointees - 1);
            let err = msrpc_ndr::decode_all::<NODE>(&bytes, syntax, rep, past, true).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::PointeeLimit(pointees - 1), "{err}");
        }
    };
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
}

/// The wire order of a list is unchanged: each node's pointees before the link, then the next
/// node, then its pointees after the link (here `origin`, innermost node first).
#[test]
fn list_wire_order_is_depth_first() {
    use features_idl::{NODE, POINT};
    let tail = NODE {
        value: 2,
        next: Unique::null(),
        origin: Ref::new(POINT { x: 3, y: 4 }),
        shared: Full::null(),
    };
    let head = NODE {
        value: 1,
        next: Unique::new(tail),
        origin: Ref::new(POINT { x: 5, y: 6 }),
        shared: Full::null(),
    };
    let bytes = msrpc_ndr::encode_all(&head, Syntax::Ndr20, DataRep::LITTLE_ENDIAN).unwrap();
    assert_eq!(
        hex(&bytes),
        concat!(
            "01000000", "00000200", "04000200",
            "00000000", // head: value, next, origin, shared
            "02000000", "00000000", "08000200", "00000000", // next node's head
            "03000000", "04000000", // next node's origin
            "05000000", "06000000", // this node's origin
        )
    );
}

// ---- constructs of the specifications' full IDL (fixtures/spec.idl) -------------------------

fn spec_config() -> spec_idl::CONFIG {
    use spec_idl::*;
    CONFIG {
        Level: 1,
        u: _CONFIG_u::Description(Unique::new(WideString::from("svc"))),
        s: _CONFIG_s {
            Handle: msrpc_ndr::UInt3264(0xFFFF_FFFF),
            Offset: msrpc_ndr::Int3264(-2),
        },
    }
}

#[test]
fn inline_unions_and_structures_round_trip() {
    use spec_idl::*;
    round(&spec_config());
    round(&ENUM_STRUCT {
        Level: 1,
        Info: _ENUM_UNION::Level1(Unique::new(INFO_1 {
            id: 7,
            name: Unique::new(WideString::from("one")),
        })),
    });
    let name = RPC_UNICODE_STRING {
        Length: 4,
        MaximumLength: 4,
        Buffer: Unique::new(ConformantVaryingArray::new(vec![0x61, 0x62])),
    };
    for data in [
        _RECORD_Data::Number(5),
        _RECORD_Data::Name(name),
        _RECORD_Data::Default(9),
    ] {
        let r = RECORD {
            Type: data.discriminant(),
            Data: data,
        };
        round(&r);
    }
}

#[test]
fn inline_union_discriminant_must_match_its_switch() {
    let mut c = spec_config();
    c.Level = 2;
    let err = msrpc_ndr::encode_all(&c, Syntax::Ndr20, DataRep::LITTLE_ENDIAN)
        .expect_err("Level 2 with the Description arm");
    assert!(
        err.to_string().contains("Level") || err.to_string().contains("switch"),
        "{err}"
    );
}

#[test]
fn int3264_is_four_octets_in_ndr20_and_eight_in_ndr64() {
    let c = spec_config();
    let le = DataRep::LITTLE_ENDIAN;
    let n20 = msrpc_ndr::encode_all(&c.s, Syntax::Ndr20, le).expect("ndr20");
    let n64 = msrpc_ndr::encode_all(&c.s, Syntax::Ndr64, le).expect("ndr64");
    assert_eq!(hex(&n20), "fffffffffeffffff");
    assert_eq!(hex(&n64), "ffffffff00000000feffffffffffffff");
    // A value wider than 32 bits cannot go out as NDR20.
    let mut wide = c.s.clone();
    wide.Handle = msrpc_ndr::UInt3264(1 << 32);
    assert!(msrpc_ndr::encode_all(&wide, Syntax::Ndr20, le).is_err());
    assert!(msrpc_ndr::encode_all(&wide, Syntax::Ndr64, le).is_ok());
}

#[test]
fn sizeof_in_a_range_is_computed() {
    use spec_idl::*;
    // NAME_MAX = 8 + 16 * sizeof(WCHAR) + sizeof(ULONG) = 44.
    let job = |cb| JOB {
        JobTime: msrpc_ndr::UInt3264(1),
        Size: msrpc_ndr::UInt3264(2),
        cbName: cb,
        Luid: LUID {
            LowPart: 3,
            HighPart: -4,
        },
    };
    round(&job(44));
    assert!(msrpc_ndr::encode_all(&job(45), Syntax::Ndr20, DataRep::LITTLE_ENDIAN).is_err());
}

/// With no `switch_type`, a non-encapsulated union's discriminant has the type of its
/// `switch_is` field or parameter (MIDL's rule): 16 bits after `USHORT Kind`, 8 after
/// `BYTE Tag`; it used to be 32 bits whatever the field.
#[test]
fn implied_discriminant_takes_the_switch_is_type() {
    use spec_idl::spec::SpecSwitchRequest;
    use spec_idl::*;
    let le = DataRep::LITTLE_ENDIAN;
    let number = SHORT_SWITCH {
        Kind: 1,
        Data: _SHORT_SWITCH_Data::Number(5),
    };
    let small = SHORT_SWITCH {
        Kind: 2,
        Data: _SHORT_SWITCH_Data::Small(9),
    };
    round(&number);
    round(&small);
    let wire = |v: &SHORT_SWITCH, s| hex(&msrpc_ndr::encode_all(v, s, le).expect("encode"));
    // NDR20: Kind, the union's own 2-octet discriminant, the arm at its alignment.
    assert_eq!(wire(&number, Syntax::Ndr20), "0100010005000000");
    assert_eq!(wire(&small, Syntax::Ndr20), "020002000900");
    // NDR64: the union is aligned to its largest member (4), its discriminant still 2 octets,
    // and the structure is padded to its alignment.
    assert_eq!(wire(&number, Syntax::Ndr64), "010000000100000005000000");
    assert_eq!(wire(&small, Syntax::Ndr64), "020000000200000009000000");
    for (s, r) in REPS {
        let req = SpecSwitchRequest {
            Tag: 1,
            Value: BYTE_UNION::Number(7),
            Short: small.clone(),
        };
        let stub = req.encode(s, r).unwrap();
        assert_eq!(SpecSwitchRequest::decode(&stub, s, r).unwrap(), req);
        // Tag, then the union's one-octet discriminant (NDR64 aligns the union to 4), then
        // Number.
        match (s, r == le) {
            (Syntax::Ndr20, true) => assert_eq!(hex(&stub[..8]), "0101000007000000"),
            (Syntax::Ndr64, true) => assert_eq!(hex(&stub[..12]), "010000000100000007000000"),
            _ => {}
        }
    }
    assert_eq!(BYTE_UNION::Default(200).discriminant(), 200u8);
}
