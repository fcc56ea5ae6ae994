//! Byte-exact vectors: hand-computed, and from real traffic (impacket <-> Samba ept_map).

#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv4Addr;

use msrpc_ndr::tower::{Floor, Tower, Twr};
use msrpc_ndr::{
    ConformantArray, ConformantVaryingArray, ContextHandle, DataRep, DecodeLimits, Decoder,
    Encoder, ErrorKind, Full, NdrDecode, NdrEncode, NdrString, Ref, Syntax, SyntaxId, Unique,
    VaryingArray, WideString, decode_all, encode_all,
};
use uuid::Uuid;

use common::*;

const LE: DataRep = DataRep::LITTLE_ENDIAN;
const BE: DataRep = DataRep::BIG_ENDIAN;

fn enc<T: NdrEncode>(v: &T, s: Syntax, r: DataRep) -> String {
    hex::encode(encode_all(v, s, r).expect("encode"))
}

fn dec<T: NdrDecode>(h: &str, s: Syntax, r: DataRep) -> T {
    decode_all(
        &hex::decode(h).expect("hex"),
        s,
        r,
        DecodeLimits::default(),
        true,
    )
    .expect("decode")
}

fn round<T: NdrEncode + NdrDecode + PartialEq + std::fmt::Debug>(
    v: T,
    s: Syntax,
    r: DataRep,
    h: &str,
) {
    assert_eq!(enc(&v, s, r), h, "encode {v:?}");
    assert_eq!(dec::<T>(h, s, r), v, "decode {h}");
}

#[test]
fn drep_parse() {
    assert_eq!(DataRep::parse([0x10, 0, 0, 0]).unwrap(), LE);
    assert_eq!(DataRep::parse([0x00, 0, 0, 0]).unwrap(), BE);
    assert_eq!(
        *DataRep::parse([0x11, 0, 0, 0]).unwrap_err().kind(),
        ErrorKind::UnsupportedEbcdic
    );
    assert_eq!(
        *DataRep::parse([0x10, 1, 0, 0]).unwrap_err().kind(),
        ErrorKind::UnsupportedFloatRep(1)
    );
    assert_eq!(
        *DataRep::parse([0x10, 2, 0, 0]).unwrap_err().kind(),
        ErrorKind::UnsupportedFloatRep(2)
    );
    assert_eq!(
        *DataRep::parse([0x10, 3, 0, 0]).unwrap_err().kind(),
        ErrorKind::UnsupportedFloatRep(3)
    );
    assert_eq!(
        *DataRep::parse([0x20, 0, 0, 0]).unwrap_err().kind(),
        ErrorKind::UnsupportedIntegerRep(2)
    );
    assert_eq!(LE.to_bytes(), [0x10, 0, 0, 0]);
}

#[test]
fn primitives_and_alignment() {
    // small, short, long, hyper in sequence: padding before each wider value.
    let v = (1u8, 0x0203u16, 0x04050607u32, 0x08090a0b0c0d0e0fu64);
    round(v, Syntax::Ndr20, LE, "01000302070605040f0e0d0c0b0a0908");
    round(v, Syntax::Ndr20, BE, "010002030405060708090a0b0c0d0e0f");
    round(
        (-1i8, -2i16, -3i32, -4i64),
        Syntax::Ndr20,
        LE,
        "ff00fefffdfffffffcffffffffffffff",
    );
    round(
        (true, 1.5f32, -2.0f64),
        Syntax::Ndr20,
        LE,
        "010000000000c03f00000000000000c0",
    );
    round((false, 1.5f32), Syntax::Ndr20, BE, "000000003fc00000");
}

#[test]
fn enums() {
    let mut e = Encoder::new(Syntax::Ndr20, LE);
    e.write_u8(1);
    e.write_enum(3).unwrap();
    e.write_v1_enum(4);
    assert_eq!(hex::encode(e.as_bytes()), "0100030004000000");
    assert_eq!(
        *Encoder::new(Syntax::Ndr20, LE)
            .write_enum(0x10000)
            .unwrap_err()
            .kind(),
        ErrorKind::ValueTooLarge(0x10000)
    );
    let mut e = Encoder::new(Syntax::Ndr64, LE);
    e.write_enum(0x10000).unwrap();
    assert_eq!(hex::encode(e.as_bytes()), "00000100");
    let b = hex::decode("0300").unwrap();
    assert_eq!(Decoder::new(&b, Syntax::Ndr20, LE).read_enum().unwrap(), 3);
}

#[test]
fn uuid_and_handles() {
    let u = Uuid::parse_str("12345678-1234-abcd-ef00-0123456789ab").unwrap();
    round(u, Syntax::Ndr20, LE, "785634123412cdabef000123456789ab");
    round(u, Syntax::Ndr20, BE, "123456781234abcdef000123456789ab");
    round(
        ContextHandle {
            attributes: 1,
            uuid: u,
        },
        Syntax::Ndr20,
        LE,
        "01000000785634123412cdabef000123456789ab",
    );
    round(
        ContextHandle {
            attributes: 1,
            uuid: u,
        },
        Syntax::Ndr64,
        LE,
        "01000000785634123412cdabef000123456789ab",
    );
    round(
        SyntaxId::NDR20,
        Syntax::Ndr20,
        LE,
        "045d888aeb1cc9119fe808002b10486002000000",
    );
    round(
        SyntaxId::NDR64,
        Syntax::Ndr20,
        LE,
        "33057171babe37498319b5dbef9ccc3601000000",
    );
}

#[test]
fn strings() {
    round(
        WideString::from("ab"),
        Syntax::Ndr20,
        LE,
        "030000000000000003000000610062000000",
    );
    round(
        WideString::from("ab"),
        Syntax::Ndr20,
        BE,
        "000000030000000000000003006100620000",
    );
    round(
        WideString::from("ab"),
        Syntax::Ndr64,
        LE,
        "030000000000000000000000000000000300000000000000610062000000",
    );
    round(
        NdrString::from("hi"),
        Syntax::Ndr20,
        LE,
        "030000000000000003000000686900",
    );
    round(
        WideString::default(),
        Syntax::Ndr20,
        LE,
        "0100000000000000010000000000",
    );
}

#[test]
fn string_validation() {
    let bad = |h: &str| {
        let b = hex::decode(h).unwrap();
        decode_all::<WideString>(&b, Syntax::Ndr20, LE, DecodeLimits::default(), true).unwrap_err()
    };
    // actual 5 > max 3
    let e = bad("030000000000000005000000610062006300640000000000");
    assert_eq!(*e.kind(), ErrorKind::StringTooLong { actual: 5, max: 3 });
    assert_eq!(e.to_string(), "string length 5 exceeds max_count 3");
    // not terminated
    assert_eq!(
        *bad("0200000000000000020000006100620000").kind(),
        ErrorKind::StringNotTerminated
    );
    // zero count
    assert_eq!(
        *bad("000000000000000000000000").kind(),
        ErrorKind::StringNotTerminated
    );
    // huge count, little data
    assert!(matches!(
        bad("ffffffff00000000ffffffff6100").kind(),
        ErrorKind::CountTooLarge { .. }
    ));
}

#[test]
fn arrays() {
    round(
        ConformantArray(vec![1u16, 2, 3]),
        Syntax::Ndr20,
        LE,
        "03000000010002000300",
    );
    round(
        ConformantArray(vec![1u16, 2, 3]),
        Syntax::Ndr64,
        LE,
        "0300000000000000010002000300",
    );
    round(
        ConformantArray::<u64>(vec![]),
        Syntax::Ndr20,
        LE,
        "00000000",
    );
    round(
        ConformantArray(vec![7u64]),
        Syntax::Ndr20,
        LE,
        "01000000000000000700000000000000",
    );
    round([1u8, 2, 3], Syntax::Ndr20, LE, "010203");
    round(
        VaryingArray::<u16, 4> {
            offset: 1,
            items: vec![5, 6],
        },
        Syntax::Ndr20,
        LE,
        "010000000200000005000600",
    );
    round(
        ConformantVaryingArray {
            max_count: 4,
            offset: 0,
            items: vec![0x61u16, 0x62],
        },
        Syntax::Ndr20,
        LE,
        "04000000000000000200000061006200",
    );
    // varying bounds
    let b = hex::decode("030000000200000005000600").unwrap();
    let e =
        decode_all::<VaryingArray<u16, 4>>(&b, Syntax::Ndr20, LE, DecodeLimits::default(), true)
            .unwrap_err();
    assert_eq!(
        *e.kind(),
        ErrorKind::VaryingBounds {
            offset: 3,
            actual: 2,
            max: 4
        }
    );
}

// ---------------------------------------------------------------- real traffic

/// Stub data of impacket's `ept_map` request for lsarpc (impacket-to-samba-epm-ntlm.pcap, frame 36).
const EPT_MAP_REQUEST: &str = concat!(
    "01000000",
    "00000000000000000000000000000000", // [ptr] uuid_t *object: referent 1, nil uuid
    "02000000",
    "4b000000",
    "4b000000", // [ptr] twr_p_t map_tower: referent 2, max_count, tower_length
    "050013000d785734123412cdabef000123456789ab00000200000013000d045d888aeb1cc9119fe808002b10486002",
    "000200000001000b0200000001000702000000010009040000000000",
    "ab",                                       // alignment padding (content not checked)
    "0000000000000000000000000000000000000000", // entry_handle
    "04000000",                                 // max_towers
);

/// Stub data of Samba's `ept_map` response (frame 37).
const EPT_MAP_RESPONSE: &str = concat!(
    "0000000000000000000000000000000000000000", // entry_handle
    "01000000",                                 // num_towers
    "04000000",
    "00000000",
    "01000000", // towers: max_count, offset, actual_count
    "03000000", // twr_p_t referent (Samba's full pointer ids are small)
    "4b000000",
    "4b000000",
    "050013000d785734123412cdabef000123456789ab00000200000013000d045d888aeb1cc9119fe808002b10486002",
    "000200000001000b020000000100070200c03201000904007f000001",
    "00",       // padding
    "00000000", // status
);

fn lsarpc() -> SyntaxId {
    SyntaxId::new(
        Uuid::parse_str("12345778-1234-abcd-ef00-0123456789ab").unwrap(),
        0,
        0,
    )
}

#[test]
fn ept_map_request_from_capture() {
    type Req = (Full<Uuid>, Full<Twr>, ContextHandle, u32);
    let (object, tower, handle, max_towers): Req = dec(EPT_MAP_REQUEST, Syntax::Ndr20, LE);
    assert_eq!(object.as_ref(), Some(&Uuid::nil()));
    assert!(handle.is_null());
    assert_eq!(max_towers, 4);
    let t = tower.as_ref().unwrap().tower().unwrap();
    assert_eq!(
        t,
        Tower::ncacn_ip_tcp(lsarpc(), SyntaxId::NDR20, 0, Ipv4Addr::UNSPECIFIED)
    );
    // Our own encoding differs only in referent ids (ours start at 0x00020000) and padding.
    let ours = enc(&(object, tower, handle, max_towers), Syntax::Ndr20, LE);
    let expected = format!(
        "00000200{}04000200{}",
        &EPT_MAP_REQUEST[8..40],
        EPT_MAP_REQUEST[48..].replace("0000ab0000", "0000000000")
    );
    assert_eq!(ours, expected);
}

#[test]
fn ept_map_response_from_capture() {
    type Resp = (ContextHandle, u32, ConformantVaryingArray<Full<Twr>>, u32);
    let (handle, num, towers, status): Resp = dec(EPT_MAP_RESPONSE, Syntax::Ndr20, LE);
    assert!(handle.is_null());
    assert_eq!((num, status), (1, 0));
    assert_eq!(towers.max_count, 4);
    assert_eq!(towers.items.len(), 1);
    let t = towers.items[0].as_ref().unwrap().tower().unwrap();
    assert_eq!(t.interface(), Some(lsarpc()));
    assert_eq!(t.transfer_syntax(), Some(SyntaxId::NDR20));
    assert_eq!(t.tcp_port(), Some(49202));
    assert_eq!(t.ip(), Some(Ipv4Addr::LOCALHOST));
    assert_eq!(t.floors[2], Floor::Ncacn { minor: 0 });
    // Re-encoding the tower itself is byte-exact.
    let twr = Twr::from_tower(&t).unwrap();
    assert_eq!(&twr, towers.items[0].as_ref().unwrap());
    let ours = enc(&(handle, num, towers, status), Syntax::Ndr20, LE);
    assert_eq!(ours, EPT_MAP_RESPONSE.replacen("03000000", "00000200", 1));
}

#[test]
fn tower_parse_and_build() {
    let t = Tower::ncalrpc(lsarpc(), SyntaxId::NDR20, "LRPC-abc");
    let b = t.to_bytes().unwrap();
    assert_eq!(
        hex::encode(&b),
        "040013000d785734123412cdabef000123456789ab00000200000013000d045d888aeb1cc9119fe808002b10486002000200000001000c0200000001001009004c5250432d61626300"
    );
    assert_eq!(Tower::parse(&b).unwrap(), t);
    assert_eq!(t.named_pipe(), Some("LRPC-abc"));
    // Lengths are little-endian even in a big-endian stub; the twr_t wrapper follows drep.
    let twr = Twr::from_tower(&t).unwrap();
    let be = encode_all(&twr, Syntax::Ndr20, BE).unwrap();
    assert_eq!(&be[..8], &[0, 0, 0, b.len() as u8, 0, 0, 0, b.len() as u8]);
    assert_eq!(&be[8..], &b[..]);
    // Unknown floors survive verbatim; truncation and trailing bytes are errors.
    let odd = Tower {
        floors: vec![Floor::Other {
            lhs: vec![0x1f, 1],
            rhs: vec![],
        }],
    };
    assert_eq!(Tower::parse(&odd.to_bytes().unwrap()).unwrap(), odd);
    assert!(Tower::parse(&b[..b.len() - 1]).is_err());
    let mut long = b.clone();
    long.push(0);
    assert!(Tower::parse(&long).is_err());
    assert!(Tower::parse(&[0xff, 0xff]).is_err());
}

#[test]
fn twr_size_mismatch_is_reported_with_path() {
    let b = hex::decode("0500000004000000000000000000").unwrap();
    let e = decode_all::<Twr>(&b, Syntax::Ndr20, LE, DecodeLimits::default(), true).unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::SizeMismatch { wire: 5, field: 4 });
    assert_eq!(e.path(), "twr_t.tower_length");
}

// ---------------------------------------------------------------- constructed types

#[test]
fn conformant_struct_hoists_and_defers() {
    let v = Conf {
        id: 0x1122,
        r: Ref::new(-1),
        name: Unique::new(WideString::from("a")),
        tag: 5,
        count: 2,
        values: ConformantArray(vec![7, 8]),
    };
    let h = concat!(
        "02000000",
        "00000000",         // hoisted max_count, pad to 8
        "2211000000000000", // id
        "00000200",
        "04000200", // r, name referents
        "05",
        "000000",
        "02000000",                         // tag, pad, count
        "07000800",                         // values
        "ffffffff",                         // *r (deferred)
        "02000000000000000200000061000000", // *name
    );
    round(v.clone(), Syntax::Ndr20, LE, h);
    let h64 = concat!(
        "0200000000000000", // hoisted max_count (u64)
        "2211000000000000", // id
        "0000020000000000",
        "0400020000000000", // referents (u64)
        "05",
        "000000",
        "02000000", // tag, count
        "07000800",
        "00000000", // values, NDR64 trailing pad to 8
        "ffffffff",
        "00000000", // *r, pad
        "0200000000000000",
        "0000000000000000",
        "0200000000000000",
        "61000000",
    );
    round(v, Syntax::Ndr64, LE, h64);
}

#[test]
fn full_pointers_alias() {
    let shared = std::sync::Arc::new(9u32);
    let p = Pair {
        a: Full(Some(shared.clone())),
        b: Full(Some(shared)),
    };
    let h = "000002000000020009000000";
    assert_eq!(enc(&p, Syntax::Ndr20, LE), h);
    let back: Pair = dec(h, Syntax::Ndr20, LE);
    assert!(std::sync::Arc::ptr_eq(
        back.a.0.as_ref().unwrap(),
        back.b.0.as_ref().unwrap()
    ));
    let distinct = Pair {
        a: Full::new(1),
        b: Full::new(1),
    };
    round(
        distinct,
        Syntax::Ndr20,
        LE,
        "00000200040002000100000001000000",
    );
    round(
        Pair {
            a: Full::null(),
            b: Full::new(3),
        },
        Syntax::Ndr20,
        LE,
        "000000000000020003000000",
    );
}

#[test]
fn encapsulated_union_and_range() {
    round(Enc::A(5), Syntax::Ndr20, LE, "010000000000000005000000");
    round(
        Enc::A(5),
        Syntax::Ndr64,
        LE,
        "01000000000000000500000000000000",
    );
    round(
        Enc::B(-1),
        Syntax::Ndr20,
        BE,
        "0002000000000000ffffffffffffffff",
    );
    round(Enc::Other(9, -2), Syntax::Ndr20, LE, "0900000000000000fe");
    round(Ranged { n: 10 }, Syntax::Ndr20, LE, "0a000000");
    let b = hex::decode("0b000000").unwrap();
    let e = decode_all::<Ranged>(&b, Syntax::Ndr20, LE, DecodeLimits::default(), true).unwrap_err();
    assert_eq!(
        *e.kind(),
        ErrorKind::OutOfRange {
            value: 11,
            min: 1,
            max: 10
        }
    );
    assert_eq!(e.to_string(), "Ranged.n: value 11 outside range 1..=10");
}

#[test]
fn full_pointers_across_parameters_and_temporaries() {
    let a = std::sync::Arc::new(5u32);
    let mut e = Encoder::new(Syntax::Ndr20, LE);
    // The same object as two parameters: the second is an alias without pointee, even though
    // the two temporaries live at the same stack address.
    e.encode_param(&Full(Some(a.clone()))).unwrap();
    e.encode_param(&Full(Some(a.clone()))).unwrap();
    // Distinct temporaries whose heap memory could be reused: never mistaken for aliases.
    for v in 6..10u32 {
        e.encode_param(&Full::new(v)).unwrap();
    }
    assert_eq!(
        hex::encode(e.as_bytes()),
        concat!(
            "0000020005000000",
            "00000200",
            "0400020006000000",
            "0800020007000000",
            "0c00020008000000",
            "1000020009000000"
        )
    );
    let b = e.into_bytes();
    let mut d = Decoder::new(&b, Syntax::Ndr20, LE);
    let x: Full<u32> = d.decode_param().unwrap();
    let y: Full<u32> = d.decode_param().unwrap();
    assert!(std::sync::Arc::ptr_eq(
        x.0.as_ref().unwrap(),
        y.0.as_ref().unwrap()
    ));
    for v in 6..10u32 {
        assert_eq!(d.decode_param::<Full<u32>>().unwrap().as_ref(), Some(&v));
    }
    d.finish().unwrap();
}

#[test]
fn encoder_decoder_and_error_are_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Encoder>();
    assert_send_sync::<Decoder<'static>>();
    assert_send_sync::<msrpc_ndr::Error>();
    assert_send_sync::<DecodeLimits>();
}
