//! proptest round-trips for every construct, in both syntaxes and both byte orders, plus
//! "any bytes never panic" checks for the decoders.

#![allow(clippy::unwrap_used)]

mod common;

use std::fmt::Debug;
use std::net::Ipv4Addr;
use std::sync::Arc;

use msrpc_ndr::tower::{Floor, Tower, Twr};
use msrpc_ndr::{
    ConformantArray, ConformantVaryingArray, ContextHandle, DataRep, DecodeLimits, Decoder, Endian,
    ErrorKind, Full, NdrDecode, NdrEncode, NdrString, Ref, Syntax, SyntaxId, Unique, VaryingArray,
    WideString, decode_all, encode_all,
};
use proptest::collection::vec;
use proptest::prelude::*;
use uuid::Uuid;

use common::*;

fn syntax() -> impl Strategy<Value = Syntax> {
    prop_oneof![Just(Syntax::Ndr20), Just(Syntax::Ndr64)]
}

fn rep() -> impl Strategy<Value = DataRep> {
    prop_oneof![
        Just(DataRep::new(Endian::Little)),
        Just(DataRep::new(Endian::Big))
    ]
}

/// Encode, decode (rejecting trailing bytes), compare, and re-encode to the same bytes.
fn rt<T: NdrEncode + NdrDecode + PartialEq + Debug>(
    v: &T,
    s: Syntax,
    r: DataRep,
) -> Result<(), TestCaseError> {
    let bytes = encode_all(v, s, r).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T = decode_all(&bytes, s, r, DecodeLimits::default(), true)
        .map_err(|e| TestCaseError::fail(format!("{e} decoding {}", hex::encode(&bytes))))?;
    prop_assert_eq!(&back, v);
    let again = encode_all(&back, s, r).unwrap();
    prop_assert_eq!(again, bytes);
    Ok(())
}

fn opt_str() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("\\PC{0,10}")
}

fn wide() -> impl Strategy<Value = WideString> {
    vec(1u16.., 0..12).prop_map(WideString)
}

fn i101() -> impl Strategy<Value = NetSrvInfo101> {
    (
        any::<u32>(),
        opt_str(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        opt_str(),
    )
        .prop_map(|(p, n, ma, mi, t, c)| NetSrvInfo101 {
            platform_id: p,
            server_name: n.as_deref().map(WideString::from).into(),
            version_major: ma,
            version_minor: mi,
            server_type: t,
            comment: c.as_deref().map(WideString::from).into(),
        })
}

fn conf() -> impl Strategy<Value = Conf> {
    (
        any::<u64>(),
        any::<i32>(),
        proptest::option::of(wide()),
        any::<i8>(),
        vec(any::<i16>(), 0..10),
    )
        .prop_map(|(id, r, name, tag, values)| Conf {
            id,
            r: Ref::new(r),
            name: name.into(),
            tag,
            count: values.len() as u32,
            values: ConformantArray(values),
        })
}

fn syntax_id() -> impl Strategy<Value = SyntaxId> {
    (any::<u128>(), any::<u16>(), any::<u16>())
        .prop_map(|(u, a, b)| SyntaxId::new(Uuid::from_u128(u), a, b))
}

fn floor() -> impl Strategy<Value = Floor> {
    prop_oneof![
        syntax_id().prop_map(Floor::Uuid),
        any::<u16>().prop_map(|minor| Floor::Ncacn { minor }),
        any::<u16>().prop_map(|minor| Floor::Ncalrpc { minor }),
        any::<u16>().prop_map(Floor::Tcp),
        any::<u16>().prop_map(Floor::Udp),
        any::<u32>().prop_map(|a| Floor::Ip(Ipv4Addr::from(a))),
        "[a-zA-Z0-9\\\\-]{0,16}".prop_map(Floor::NamedPipe),
        "[a-zA-Z0-9\\\\-]{0,16}".prop_map(Floor::Smb),
        (0x20u8.., vec(any::<u8>(), 0..8), vec(any::<u8>(), 0..8)).prop_map(|(p, mut l, r)| {
            l.insert(0, p);
            Floor::Other { lhs: l, rhs: r }
        }),
    ]
}

fn node(len: usize, seed: u32) -> Node {
    let mut n = Node {
        v: seed,
        next: Unique::null(),
    };
    for i in 1..len {
        n = Node {
            v: seed.wrapping_add(i as u32),
            next: Unique::new(n),
        };
    }
    n
}

proptest! {

    #[test]
    fn primitives(s in syntax(), r in rep(), a in any::<(u8, i8, bool, u16, i16, u32)>(), b in any::<(i32, u64, i64)>(),
                  f in any::<f32>().prop_filter("nan", |f| !f.is_nan()), g in any::<f64>().prop_filter("nan", |f| !f.is_nan())) {
        rt(&a, s, r)?;
        rt(&b, s, r)?;
        rt(&(f, a.0, g), s, r)?;
        rt(&(msrpc_ndr::Int3264(i64::from(b.0)), a.0, msrpc_ndr::UInt3264(u64::from(a.5))), s, r)?;
    }

    #[test]
    fn arrays(s in syntax(), r in rep(), v in vec(any::<u32>(), 0..20), w in vec(proptest::option::of(any::<u16>()), 0..10),
              fixed in any::<[u16; 5]>(), off in 0u64..4, var in vec(any::<u16>(), 0..4), extra in 0u64..5, cv in vec(any::<i64>(), 0..6)) {
        rt(&ConformantArray(v.clone()), s, r)?;
        rt(&ConformantArray(v.into_iter().map(u64::from).collect::<Vec<_>>()), s, r)?;
        rt(&ConformantArray(w.iter().map(|x| Unique::from(*x)).collect::<Vec<_>>()), s, r)?;
        rt(&fixed, s, r)?;
        let ptrs: [Unique<u16>; 3] = [w.first().copied().flatten().into(), Unique::null(), Unique::new(7)];
        rt(&ptrs, s, r)?;
        rt(&VaryingArray::<u16, 8> { offset: off, items: var }, s, r)?;
        let max = cv.len() as u64 + extra;
        rt(&ConformantVaryingArray { max_count: max, offset: extra.min(1).min(max - cv.len() as u64), items: cv }, s, r)?;
    }

    #[test]
    fn strings_and_pointers(s in syntax(), r in rep(), w in wide(), n in "[^\\x00]{0,12}", o in opt_str(), x in any::<u64>()) {
        rt(&w, s, r)?;
        rt(&NdrString::from(n.as_str()), s, r)?;
        rt(&Unique::from(o.as_deref().map(WideString::from)), s, r)?;
        rt(&(Unique::from(o.as_deref().map(NdrString::from)), Ref::new(x), Unique::new(Unique::new(w))), s, r)?;
        rt(&node(5, x as u32), s, r)?;
    }

    #[test]
    fn full_pointers(s in syntax(), r in rep(), a in any::<u32>(), b in any::<u32>(), alias in any::<bool>()) {
        let sa = Arc::new(a);
        let p = Pair { a: Full(Some(sa.clone())), b: if alias { Full(Some(sa)) } else { Full::new(b) } };
        let bytes = encode_all(&p, s, r).unwrap();
        let back: Pair = decode_all(&bytes, s, r, DecodeLimits::default(), true).unwrap();
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(Arc::ptr_eq(back.a.0.as_ref().unwrap(), back.b.0.as_ref().unwrap()), alias);
        // As two top-level parameters.
        rt(&(p.a.clone(), p.b.clone(), Full::<u32>::null()), s, r)?;
    }

    #[test]
    fn structs_and_unions(s in syntax(), r in rep(), c in conf(), i in i101(), l in opt_str(), level in any::<bool>(), res in any::<u32>()) {
        rt(&c, s, r)?;
        rt(&ConformantArray(vec![c.clone(), c]), s, r)?;
        rt(&i, s, r)?;
        let u = if level {
            NetSrvInfo::Info101(Unique::new(i))
        } else {
            NetSrvInfo::Info102(Unique::new(NetSrvInfo102 { server_name: i.server_name, users: res, ..Default::default() }))
        };
        rt(&(u, res), s, r)?;
        rt(&NetSrvInfo::Info101(Unique::null()), s, r)?;
        rt(&LsaString::<false>::new(l.as_deref()), s, r)?;
        rt(&LsaString::<true>::new(l.as_deref()), s, r)?;
    }

    #[test]
    fn encapsulated_unions(s in syntax(), r in rep(), a in any::<i32>(), b in any::<i64>(), k in 3u16.., c in any::<i8>()) {
        rt(&Enc::A(a), s, r)?;
        rt(&Enc::B(b), s, r)?;
        rt(&Enc::Other(k, c), s, r)?;
        rt(&ConformantArray(vec![Enc::A(a), Enc::Other(k, c), Enc::B(b)]), s, r)?;
        rt(&(c, Enc::Other(k, c), Ranged { n: 1 + (a as u32 % 10) }), s, r)?;
    }

    #[test]
    fn base_types(s in syntax(), r in rep(), id in syntax_id(), attr in any::<u32>(), u in any::<u128>(), floors in vec(floor(), 0..7)) {
        rt(&id, s, r)?;
        rt(&ContextHandle { attributes: attr, uuid: Uuid::from_u128(u) }, s, r)?;
        rt(&Uuid::from_u128(u), s, r)?;
        let t = Tower { floors };
        let bytes = t.to_bytes().unwrap();
        prop_assert_eq!(Tower::parse(&bytes).unwrap(), t);
        rt(&Twr { tower_octet_string: bytes }, s, r)?;
    }

    /// Any input, any type: an error or a value, never a panic (and never a huge allocation).
    #[test]
    fn random_bytes_never_panic(s in syntax(), r in rep(), bytes in vec(any::<u8>(), 0..300)) {
        fn probe<T: NdrDecode>(b: &[u8], s: Syntax, r: DataRep) {
            let _ = decode_all::<T>(b, s, r, DecodeLimits::default(), false);
        }
        probe::<Conf>(&bytes, s, r);
        probe::<NetSrvInfo101>(&bytes, s, r);
        probe::<(NetSrvInfo, u32)>(&bytes, s, r);
        probe::<LsaString<true>>(&bytes, s, r);
        probe::<Twr>(&bytes, s, r);
        probe::<ConformantVaryingArray<Full<Twr>>>(&bytes, s, r);
        probe::<(WideString, NdrString)>(&bytes, s, r);
        probe::<VaryingArray<Unique<u32>, 4>>(&bytes, s, r);
        probe::<ConformantArray<Pair>>(&bytes, s, r);
        probe::<Node>(&bytes, s, r);
        probe::<[Ref<u16>; 2]>(&bytes, s, r);
        probe::<(Enc, Ranged)>(&bytes, s, r);
        let _ = Tower::parse(&bytes);
    }

    /// Valid encodings with a few bytes changed: the decoder must still fail cleanly.
    #[test]
    fn mutated_encodings_never_panic(s in syntax(), r in rep(), c in conf(), i in i101(),
                                     edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut a = encode_all(&c, s, r).unwrap();
        let mut b = encode_all(&(NetSrvInfo::Info101(Unique::new(i)), 0u32), s, r).unwrap();
        for (ix, val) in &edits {
            let n = ix.index(a.len());
            a[n] = *val;
            let n = ix.index(b.len());
            b[n] = *val;
        }
        let _ = decode_all::<Conf>(&a, s, r, DecodeLimits::default(), true);
        let _ = decode_all::<(NetSrvInfo, u32)>(&b, s, r, DecodeLimits::default(), true);
    }
}

#[test]
fn depth_limit() {
    let s = Syntax::Ndr20;
    let r = DataRep::LITTLE_ENDIAN;
    let ok = encode_all(&node(20, 1), s, r).unwrap();
    assert_eq!(
        decode_all::<Node>(&ok, s, r, DecodeLimits::default(), true).unwrap(),
        node(20, 1)
    );
    let deep = encode_all(&node(100, 1), s, r).unwrap();
    let e = decode_all::<Node>(&deep, s, r, DecodeLimits::default(), true).unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::DepthLimit(64));
    assert!(e.path().starts_with("Node.next.next"), "{}", e.path());
    let lim = DecodeLimits::default().with_max_depth(1000);
    assert!(decode_all::<Node>(&deep, s, r, lim, true).is_ok());
}

#[test]
fn counts_are_bounded_by_input() {
    // max_count 0x40000000 u64 elements with 4 bytes of data: refused before allocating.
    let b = hex::decode("0000004000000000").unwrap();
    let e = decode_all::<ConformantArray<u64>>(
        &b,
        Syntax::Ndr20,
        DataRep::LITTLE_ENDIAN,
        DecodeLimits::default(),
        true,
    )
    .unwrap_err();
    assert_eq!(
        *e.kind(),
        ErrorKind::CountTooLarge {
            count: 0x4000_0000,
            needed: 0x2_0000_0000,
            remaining: 4
        }
    );
}

#[test]
fn trailing_bytes() {
    let b = hex::decode("0100000002").unwrap();
    let r = DataRep::LITTLE_ENDIAN;
    assert_eq!(
        decode_all::<u32>(&b, Syntax::Ndr20, r, DecodeLimits::default(), false).unwrap(),
        1
    );
    let e = decode_all::<u32>(&b, Syntax::Ndr20, r, DecodeLimits::default(), true).unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::TrailingBytes(1));
    let mut d = Decoder::new(&b, Syntax::Ndr20, r);
    assert_eq!(d.decode_param::<u32>().unwrap(), 1);
    assert!(d.finish().is_err());
    // Up to 7 zero bytes are alignment padding (before a verification trailer); 8 are not.
    for (pad, ok) in [(3usize, true), (7, true), (8, false)] {
        let mut b = hex::decode("01000000").unwrap();
        b.resize(4 + pad, 0);
        let r = decode_all::<u32>(&b, Syntax::Ndr20, r, DecodeLimits::default(), true);
        assert_eq!(r.is_ok(), ok, "{pad} zero bytes");
    }
}

#[test]
fn field_path_in_errors() {
    // NetSrvInfo101 whose server_name string says actual 5 > max 3.
    let mut h = String::from("f401000000000200060000000100000003900000");
    h += "00000000"; // comment: null
    h += "030000000000000005000000"; // server_name: max 3, offset 0, actual 5
    h += "530052005600000000000000";
    let b = hex::decode(h).unwrap();
    let e = decode_all::<NetSrvInfo101>(
        &b,
        Syntax::Ndr20,
        DataRep::LITTLE_ENDIAN,
        DecodeLimits::default(),
        true,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "NetSrvInfo101.server_name: string length 5 exceeds max_count 3"
    );
    // A null [ref] pointer.
    let b = hex::decode("0000000000000000").unwrap();
    let e = decode_all::<[Ref<u16>; 2]>(
        &b,
        Syntax::Ndr20,
        DataRep::LITTLE_ENDIAN,
        DecodeLimits::default(),
        true,
    )
    .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::NullRefPointer);
    assert_eq!(e.path(), "[0]");
}

#[test]
fn bad_union_discriminant() {
    let b = hex::decode("6400000000000000").unwrap();
    let e = decode_all::<NetSrvInfo>(
        &b,
        Syntax::Ndr20,
        DataRep::LITTLE_ENDIAN,
        DecodeLimits::default(),
        true,
    )
    .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::BadSwitch(100));
    assert_eq!(e.path(), "NetSrvInfo");
}

#[test]
fn full_pointer_forward_alias_is_an_error_not_a_panic() {
    // Pair whose b aliases a referent that a's deferred never produces (a is null, b says id 4
    // twice via a crafted array).
    let b = hex::decode("0400000004000000").unwrap();
    let r = decode_all::<Pair>(
        &b,
        Syntax::Ndr20,
        DataRep::LITTLE_ENDIAN,
        DecodeLimits::default(),
        true,
    );
    assert!(r.is_err());
}
