//! Arrays of primitives are written and read as one run (`NdrEncode::encode_array_heads`,
//! `NdrDecode::decode_array_heads`); the bytes must be exactly those of the element-by-element path,
//! in both byte orders and both transfer syntaxes, from any starting alignment.

#![allow(clippy::unwrap_used)]

use msrpc_ndr::{
    ConformantArray, ConformantVaryingArray, DataRep, Decoder, Encoder, NdrDecode, NdrEncode,
    NdrString, Syntax, WideString,
};
use proptest::prelude::*;

/// The element-by-element encoding: max_count, then each element's head.
fn one_by_one<T: NdrEncode>(lead: usize, items: &[T], syntax: Syntax, rep: DataRep) -> Vec<u8> {
    let mut e = Encoder::new(syntax, rep);
    for _ in 0..lead {
        e.write_u8(0xee);
    }
    e.write_conformance(items.len() as u64).unwrap();
    for v in items {
        v.encode_head(&mut e).unwrap();
    }
    e.into_bytes()
}

fn bulk<T: NdrEncode + Clone>(lead: usize, items: &[T], syntax: Syntax, rep: DataRep) -> Vec<u8> {
    let mut e = Encoder::new(syntax, rep);
    for _ in 0..lead {
        e.write_u8(0xee);
    }
    e.encode_param(&ConformantArray(items.to_vec())).unwrap();
    e.into_bytes()
}

fn back<T: NdrDecode + PartialEq + std::fmt::Debug>(
    bytes: &[u8],
    lead: usize,
    syntax: Syntax,
    rep: DataRep,
) -> Vec<T> {
    let mut d = Decoder::new(bytes, syntax, rep);
    for _ in 0..lead {
        d.read_u8().unwrap();
    }
    let v = d.decode_param::<ConformantArray<T>>().unwrap();
    d.finish().unwrap();
    v.0
}

fn check<T>(lead: usize, items: Vec<T>)
where
    T: NdrEncode + NdrDecode + Clone + PartialEq + std::fmt::Debug,
{
    for syntax in [Syntax::Ndr20, Syntax::Ndr64] {
        for rep in [DataRep::LITTLE_ENDIAN, DataRep::BIG_ENDIAN] {
            let a = one_by_one(lead, &items, syntax, rep);
            let b = bulk(lead, &items, syntax, rep);
            assert_eq!(a, b, "{syntax:?} {rep:?} lead {lead}");
            assert_eq!(back::<T>(&b, lead, syntax, rep), items);
        }
    }
}

proptest! {
    #[test]
    fn octets(lead in 0usize..9, items in proptest::collection::vec(any::<u8>(), 0..300)) {
        check(lead, items);
    }

    #[test]
    fn u16s(lead in 0usize..9, items in proptest::collection::vec(any::<u16>(), 0..100)) {
        check(lead, items);
    }

    #[test]
    fn i32s(lead in 0usize..9, items in proptest::collection::vec(any::<i32>(), 0..100)) {
        check(lead, items);
    }

    #[test]
    fn u64s(lead in 0usize..9, items in proptest::collection::vec(any::<u64>(), 0..50)) {
        check(lead, items);
    }

    #[test]
    fn strings_round_trip(s in "\\PC{0,40}", o in proptest::collection::vec(1u8..=255, 0..40)) {
        let w = WideString::from(s.as_str());
        let n = NdrString(o);
        let mut e = Encoder::new(Syntax::Ndr20, DataRep::BIG_ENDIAN);
        e.encode_param(&w).unwrap();
        e.encode_param(&n).unwrap();
        let bytes = e.into_bytes();
        let mut d = Decoder::new(&bytes, Syntax::Ndr20, DataRep::BIG_ENDIAN);
        prop_assert_eq!(d.decode_param::<WideString>().unwrap(), w);
        prop_assert_eq!(d.decode_param::<NdrString>().unwrap(), n);
    }
}

/// A count the input cannot hold is refused before anything is allocated, as before.
#[test]
fn short_input_is_refused() {
    // max_count 1000, then 3 bytes.
    let bytes = [0xe8, 0x03, 0, 0, 1, 2, 3];
    let err = Decoder::new(&bytes, Syntax::Ndr20, DataRep::LITTLE_ENDIAN)
        .decode_param::<ConformantArray<u8>>()
        .unwrap_err();
    assert!(err.to_string().contains("1000"), "{err}");
    let err = Decoder::new(&bytes, Syntax::Ndr20, DataRep::LITTLE_ENDIAN)
        .decode_param::<ConformantArray<u32>>()
        .unwrap_err();
    assert!(err.to_string().contains("1000"), "{err}");
}

/// A conformant-varying array of u16 (the shape of a counted string) goes through the same run.
#[test]
fn conformant_varying_u16() {
    let v = ConformantVaryingArray::new(vec![1u16, 2, 3, 0xfffe]);
    let mut e = Encoder::new(Syntax::Ndr20, DataRep::LITTLE_ENDIAN);
    e.write_u8(7);
    e.encode_param(&v).unwrap();
    let bytes = e.into_bytes();
    assert_eq!(
        bytes,
        [
            7, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 1, 0, 2, 0, 3, 0, 0xfe, 0xff
        ]
    );
    let mut d = Decoder::new(&bytes, Syntax::Ndr20, DataRep::LITTLE_ENDIAN);
    d.read_u8().unwrap();
    assert_eq!(d.decode_param::<ConformantVaryingArray<u16>>().unwrap(), v);
}
