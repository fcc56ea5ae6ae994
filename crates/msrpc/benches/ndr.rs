//! NDR micro-benchmarks (BENCHMARKS.md, group f): encode and decode of a 1 MiB conformant byte array
//! and of 10,000 srvsvc `SHARE_INFO_1` structures (two `[string] wchar_t *` unique pointers and a
//! DWORD each, as `NetShareEnum` returns them), next to memcpy of the same bytes.
//!
//! `cargo bench -p msrpc --bench ndr`; `cargo bench -p msrpc --bench ndr -- --quick` for a short run.
//! `msrpc bench --only ndr` measures the same in the CLI's table.

#![allow(clippy::unwrap_used, non_snake_case, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use msrpc_ndr::{ConformantArray, DataRep, Decoder, Encoder, Syntax, Unique, WideString};

// Generated code names the runtime `crate::codegen`; mount it at this crate's root.
use msrpc::codegen;

mod srvsvc_idl {
    include!(concat!(env!("OUT_DIR"), "/srvsvc.rs"));
}

use srvsvc_idl::{SHARE_INFO_1, SHARE_INFO_1_CONTAINER};

const REP: DataRep = DataRep::LITTLE_ENDIAN;

fn encode<T: msrpc_ndr::NdrEncode>(v: &T) -> Vec<u8> {
    let mut e = Encoder::new(Syntax::Ndr20, REP);
    e.encode_param(v).unwrap();
    e.into_bytes()
}

fn shares(n: usize) -> SHARE_INFO_1_CONTAINER {
    let list: Vec<SHARE_INFO_1> = (0..n)
        .map(|i| SHARE_INFO_1 {
            shi1_netname: Unique::new(WideString::from(format!("share{i}").as_str())),
            shi1_type: (i % 4) as u32,
            shi1_remark: if i % 5 == 0 {
                Unique::null()
            } else {
                Unique::new(WideString::from(format!("remark for share {i}").as_str()))
            },
        })
        .collect();
    SHARE_INFO_1_CONTAINER {
        EntriesRead: n as u32,
        Buffer: Unique::new(ConformantArray(list)),
    }
}

fn byte_array(c: &mut Criterion) {
    let data = ConformantArray((0..1usize << 20).map(|i| i as u8).collect::<Vec<u8>>());
    let wire = encode(&data);
    let mut g = c.benchmark_group("1 MiB conformant byte array");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("encode", |b| b.iter(|| encode(black_box(&data))));
    g.bench_function("decode", |b| {
        b.iter(|| {
            Decoder::new(black_box(&wire), Syntax::Ndr20, REP)
                .decode_param::<ConformantArray<u8>>()
                .unwrap()
        })
    });
    let mut dst = vec![0u8; wire.len()];
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&wire));
            black_box(&dst);
        })
    });
    g.finish();
}

fn structures(c: &mut Criterion) {
    let value = shares(10_000);
    let wire = encode(&value);
    let mut g = c.benchmark_group("10,000 SHARE_INFO_1");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("encode", |b| b.iter(|| encode(black_box(&value))));
    g.bench_function("decode", |b| {
        b.iter(|| {
            Decoder::new(black_box(&wire), Syntax::Ndr20, REP)
                .decode_param::<SHARE_INFO_1_CONTAINER>()
                .unwrap()
        })
    });
    let mut dst = vec![0u8; wire.len()];
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&wire));
            black_box(&dst);
        })
    });
    g.finish();
}

criterion_group!(benches, byte_array, structures);
criterion_main!(benches);
