//! The per-message work limits: `DecodeLimits::max_pointees` and `max_bytes`, at and one past
//! the limit, and their defaults.

use msrpc_ndr::{
    ConformantArray, DataRep, DecodeLimits, ErrorKind, Syntax, Unique, decode_all, encode_all,
};

const LE: DataRep = DataRep::LITTLE_ENDIAN;

fn decode<T: msrpc_ndr::NdrDecode>(
    bytes: &[u8],
    syntax: Syntax,
    limits: DecodeLimits,
) -> msrpc_ndr::Result<T> {
    decode_all::<T>(bytes, syntax, LE, limits, true)
}

#[test]
fn defaults_are_documented_values() {
    let l = DecodeLimits::default();
    assert_eq!(l.max_pointees, 1_048_576);
    assert_eq!(l.max_bytes, 64 * 1024 * 1024);
    assert_eq!(l.max_depth, 64);
    let l = l.with_max_pointees(3).with_max_bytes(5);
    assert_eq!((l.max_pointees, l.max_bytes), (3, 5));
}

#[test]
fn pointees_are_counted_per_message() {
    // Ten non-null [unique] pointers (and two null ones, which are not pointees).
    let mut v: Vec<Unique<u32>> = (0..10).map(Unique::new).collect();
    v.push(Unique::null());
    v.insert(3, Unique::null());
    let value = ConformantArray(v);
    for syntax in [Syntax::Ndr20, Syntax::Ndr64] {
        let bytes = encode_all(&value, syntax, LE).unwrap();
        let at = DecodeLimits::default().with_max_pointees(10);
        let back: ConformantArray<Unique<u32>> = decode(&bytes, syntax, at).unwrap();
        assert_eq!(back, value);
        let past = DecodeLimits::default().with_max_pointees(9);
        let err = decode::<ConformantArray<Unique<u32>>>(&bytes, syntax, past).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::PointeeLimit(9), "{err}");
    }
}

#[test]
fn bytes_count_what_the_decoded_value_allocates() {
    // 100 u64 elements: 800 bytes in memory.
    let value = ConformantArray((0..100u64).collect::<Vec<_>>());
    let bytes = encode_all(&value, Syntax::Ndr20, LE).unwrap();
    let at = DecodeLimits::default().with_max_bytes(800);
    let back: ConformantArray<u64> = decode(&bytes, Syntax::Ndr20, at).unwrap();
    assert_eq!(back, value);
    let past = DecodeLimits::default().with_max_bytes(799);
    let err = decode::<ConformantArray<u64>>(&bytes, Syntax::Ndr20, past).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::ByteLimit(799), "{err}");
    // A boxed pointee is charged at its in-memory size too: 4-byte wire ids, 8-byte boxes here.
    let ptrs = ConformantArray((0..4u64).map(Unique::new).collect::<Vec<_>>());
    let bytes = encode_all(&ptrs, Syntax::Ndr20, LE).unwrap();
    let need = 4 * std::mem::size_of::<Unique<u64>>() + 4 * std::mem::size_of::<u64>();
    let at = DecodeLimits::default().with_max_bytes(need);
    assert!(decode::<ConformantArray<Unique<u64>>>(&bytes, Syntax::Ndr20, at).is_ok());
    let past = DecodeLimits::default().with_max_bytes(need - 1);
    let err = decode::<ConformantArray<Unique<u64>>>(&bytes, Syntax::Ndr20, past).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::ByteLimit(need - 1), "{err}");
}
