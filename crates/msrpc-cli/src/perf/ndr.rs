//! The `ndr` rows: encode and decode of a 1 MiB byte array and of 10,000 small structures, against
//! memcpy of the same bytes.

use super::*;

// ---------------------------------------------------------------------------------------------
// (f) NDR

/// A small structure with strings and unique pointers, shaped like srvsvc's SHARE_INFO_1
/// (`[string] wchar_t *netname; DWORD type; [string] wchar_t *remark`), written by hand the way
/// msrpc-idl generates it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Share {
    pub name: Unique<WideString>,
    pub kind: u32,
    pub remark: Unique<WideString>,
}

impl NdrType for Share {
    fn align(s: Syntax) -> usize {
        <Unique<WideString>>::align(s).max(4)
    }
    fn min_size(s: Syntax) -> usize {
        2 * <Unique<WideString>>::min_size(s) + 4
    }
}

impl NdrEncode for Share {
    fn encode_head(&self, e: &mut Encoder) -> msrpc_ndr::Result<()> {
        e.align(Self::align(e.syntax()));
        self.name.encode_head(e)?;
        self.kind.encode_head(e)?;
        self.remark.encode_head(e)
    }
    fn encode_deferred(&self, e: &mut Encoder) -> msrpc_ndr::Result<()> {
        self.name.encode_deferred(e)?;
        self.remark.encode_deferred(e)
    }
}

impl NdrDecode for Share {
    type Head = (
        <Unique<WideString> as NdrDecode>::Head,
        u32,
        <Unique<WideString> as NdrDecode>::Head,
    );
    fn decode_head(d: &mut Decoder<'_>) -> msrpc_ndr::Result<Self::Head> {
        d.align(Self::align(d.syntax()))?;
        Ok((
            <Unique<WideString>>::decode_head(d)?,
            u32::decode_head(d)?,
            <Unique<WideString>>::decode_head(d)?,
        ))
    }
    fn decode_deferred(h: Self::Head, d: &mut Decoder<'_>) -> msrpc_ndr::Result<Self> {
        Ok(Share {
            name: <Unique<WideString>>::decode_deferred(h.0, d)?,
            kind: h.1,
            remark: <Unique<WideString>>::decode_deferred(h.2, d)?,
        })
    }
}

/// 10,000 shares with short names and remarks (some remarks null).
pub(crate) fn shares(n: usize) -> ConformantArray<Share> {
    ConformantArray(
        (0..n)
            .map(|i| Share {
                name: Unique::new(WideString::from(format!("share{i}").as_str())),
                kind: (i % 4) as u32,
                remark: if i % 5 == 0 {
                    Unique::null()
                } else {
                    Unique::new(WideString::from(format!("remark for share {i}").as_str()))
                },
            })
            .collect(),
    )
}

/// Runs `f` repeatedly for `dur` (at least once) and makes a row of it.
pub(super) fn timed_loop(
    name: &str,
    bytes_each: usize,
    dur: Duration,
    mut f: impl FnMut() -> bool,
) -> Row {
    let mut lat = Latencies::default();
    let mut errors = 0;
    let t0 = Instant::now();
    loop {
        let t = Instant::now();
        if f() {
            lat.record(t);
        } else {
            errors += 1;
        }
        if t0.elapsed() >= dur || errors > 0 {
            break;
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    let calls = lat.0.len() as u64;
    Row {
        payload: bytes_each,
        calls,
        errors,
        seconds,
        bytes: calls * bytes_each as u64,
        ..Row::new("ndr", name)
    }
    .with_latency(&mut lat)
}

pub(super) fn ndr_rows(dur: Duration) -> Vec<Row> {
    use std::hint::black_box;
    let mut rows = Vec::new();
    let syntax = Syntax::Ndr20;
    let rep = DataRep::LITTLE_ENDIAN;
    let encode = |v: &dyn Fn(&mut Encoder) -> msrpc_ndr::Result<()>| {
        let mut e = Encoder::new(syntax, rep);
        v(&mut e).ok().map(|_| e.into_bytes())
    };

    // 1 MiB conformant byte array.
    let mib = ConformantArray((0..1usize << 20).map(|i| i as u8).collect::<Vec<u8>>());
    let wire = encode(&|e| e.encode_param(&mib)).unwrap_or_default();
    let n = wire.len();
    rows.push(timed_loop("encode 1 MiB byte array", n, dur, || {
        encode(&|e| e.encode_param(black_box(&mib))).is_some_and(|b| black_box(b).len() == n)
    }));
    rows.push(timed_loop("decode 1 MiB byte array", n, dur, || {
        Decoder::new(black_box(&wire), syntax, rep)
            .decode_param::<ConformantArray<u8>>()
            .is_ok_and(|v| black_box(v).0.len() == 1 << 20)
    }));
    let mut dst = vec![0u8; n];
    rows.push(timed_loop("memcpy 1 MiB", n, dur, || {
        dst.copy_from_slice(black_box(&wire));
        black_box(&dst).len() == n
    }));

    // 10,000 small structures.
    let list = shares(10_000);
    let wire = encode(&|e| e.encode_param(&Unique::new(list.clone()))).unwrap_or_default();
    let n = wire.len();
    let boxed = Unique::new(list);
    rows.push(timed_loop("encode 10,000 structures", n, dur, || {
        encode(&|e| e.encode_param(black_box(&boxed))).is_some_and(|b| black_box(b).len() == n)
    }));
    rows.push(timed_loop("decode 10,000 structures", n, dur, || {
        Decoder::new(black_box(&wire), syntax, rep)
            .decode_param::<Unique<ConformantArray<Share>>>()
            .is_ok_and(|v| v.0.is_some_and(|l| l.0.len() == 10_000))
    }));
    let mut dst = vec![0u8; n];
    rows.push(timed_loop(
        &format!("memcpy {} KiB (the structures' bytes)", n / 1024),
        n,
        dur,
        || {
            dst.copy_from_slice(black_box(&wire));
            black_box(&dst).len() == n
        },
    ));
    rows
}
