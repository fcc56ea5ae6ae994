//! DCE pipes between two msrpc peers over TCP on loopback (the IDL is msrpc-idl's
//! tests/fixtures/pipes.idl): an `[in]` pipe, an `[out]` pipe, a pipe of structures both ways and
//! an `[in, out]` pipe, in NDR20 and NDR64; pipes larger than a fragment; empty pipes; and a
//! request whose pipe has no terminating empty chunk, which the server faults with
//! `RPC_X_BAD_STUB_DATA`.
//!
//! Pipes are buffered (the whole request and the whole response, fragmented by the runtime), not
//! streamed: docs/codegen.md, "Pipes".

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use msrpc::server::Server;
use msrpc::{Binding, BindingOptions, Win32Status};
use msrpc_ndr::{DataRep, Pipe, Syntax};
use proptest::prelude::*;

// Generated code names `crate::codegen`, which here is msrpc's.
use msrpc::codegen;

mod pipes_idl {
    include!("../../msrpc-idl/tests/fixtures/pipes.rs");
}
use pipes_idl::pipe_demo as p;
use pipes_idl::{HYPER_PIPE_element, PAIR};

/// Octet `i` of a downloaded stream.
fn octet(i: usize) -> u8 {
    (i % 251) as u8
}

struct Demo;

impl p::Server for Demo {
    fn upload(
        &self,
        _: &msrpc::IncomingCall,
        req: p::UploadRequest,
    ) -> Result<p::UploadResponse, Win32Status> {
        // The manager sees the chunks as they were sent; answer with a digest of them.
        let total = req.data.total_len() as u32;
        let sum = req.data.chunks().iter().flatten().fold(req.tag, |acc, &b| {
            acc.wrapping_mul(31).wrapping_add(u32::from(b))
        });
        Ok(p::UploadResponse {
            total: total ^ (sum & 0xff00_0000),
            return_value: req.data.chunks().len() as i32,
        })
    }

    fn download(
        &self,
        _: &msrpc::IncomingCall,
        req: p::DownloadRequest,
    ) -> Result<p::DownloadResponse, Win32Status> {
        let (chunks, len) = (req.chunks as usize, req.chunk_len as usize);
        if chunks.saturating_mul(len) > 1 << 20 {
            return Err(Win32Status(87));
        }
        let data: Pipe<u8> = (0..chunks)
            .map(|c| (0..len).map(|i| octet(c * len + i)).collect())
            .collect();
        Ok(p::DownloadResponse {
            sent: (chunks * len) as u32,
            data,
            return_value: 0,
        })
    }

    fn echo(
        &self,
        _: &msrpc::IncomingCall,
        req: p::EchoRequest,
    ) -> Result<p::EchoResponse, Win32Status> {
        let back = req
            .pairs
            .into_chunks()
            .into_iter()
            .map(|c| {
                c.into_iter()
                    .map(|x| PAIR {
                        key: x.key,
                        value: x.value.wrapping_neg(),
                    })
                    .collect()
            })
            .collect();
        Ok(p::EchoResponse { back })
    }

    fn sum(
        &self,
        _: &msrpc::IncomingCall,
        req: p::SumRequest,
    ) -> Result<p::SumResponse, Win32Status> {
        let values = req.values.concat();
        Ok(p::SumResponse {
            count: values.len() as u32,
            return_value: values.iter().fold(0i64, |a, x| a.wrapping_add(x.v)),
        })
    }

    fn reverse(
        &self,
        _: &msrpc::IncomingCall,
        req: p::ReverseRequest,
    ) -> Result<p::ReverseResponse, Win32Status> {
        let mut chunks = req.data.into_chunks();
        chunks.reverse();
        Ok(p::ReverseResponse {
            count: chunks.len() as u32,
            data: Pipe::new(chunks),
        })
    }
}

/// What `Demo::upload` answers for `data` (total octets, with the digest's top byte).
fn digest(tag: u32, data: &[Vec<u8>]) -> u32 {
    let total: usize = data.iter().map(Vec::len).sum();
    let sum = data.iter().flatten().fold(tag, |acc, &b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    });
    total as u32 ^ (sum & 0xff00_0000)
}

async fn start() -> (Server, String) {
    let server = Server::builder()
        .interface(Arc::new(p::Service::new(Demo)))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let address = server.bindings()[0].to_string();
    (server, address)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipes_round_trip_in_both_directions_and_both_syntaxes() {
    let (server, address) = start().await;
    let max_fragment = usize::from(BindingOptions::default().max_fragment);
    for offer_ndr64 in [false, true] {
        let mut options = BindingOptions::default();
        options.offer_ndr64 = offer_ndr64;
        let b = Binding::with_options(&address, options).unwrap();
        let c = p::Client(&b);
        // The syntax offered is the syntax used (the server prefers NDR64).
        let reply = b
            .call(p::INTERFACE.syntax_id(), 1, |syntax, rep| {
                msrpc_ndr::Stub::encode(
                    &p::DownloadRequest {
                        chunks: 1,
                        chunk_len: 1,
                    },
                    syntax,
                    rep,
                )
            })
            .await
            .unwrap();
        assert_eq!(reply.syntax.is_ndr64(), offer_ndr64);

        // [in]: chunks of uneven sizes, together many fragments long.
        let sizes = [1usize, 7, 4096, 0, 30_000, 70_001, 3];
        let chunks: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(k, &n)| (0..n).map(|i| (i * 7 + k) as u8).collect())
            .collect();
        let total: usize = sizes.iter().sum();
        assert!(total > 10 * max_fragment, "the pipe spans many fragments");
        let resp = c
            .upload(p::UploadRequest {
                tag: 0x1234,
                data: Pipe::new(chunks.clone()),
            })
            .await
            .unwrap();
        // The empty chunk is not sent (it would end the pipe): six chunks arrive.
        assert_eq!(resp.return_value, 6, "ndr64: {offer_ndr64}");
        assert_eq!(resp.total, digest(0x1234, &chunks), "ndr64: {offer_ndr64}");

        // [out]: 40 chunks of 5000 octets, in order, then the non-pipe [out] after them.
        let resp = c
            .download(p::DownloadRequest {
                chunks: 40,
                chunk_len: 5000,
            })
            .await
            .unwrap();
        assert_eq!(resp.sent, 200_000);
        assert_eq!(resp.return_value, 0);
        assert_eq!(resp.data.chunks().len(), 40);
        assert!(resp.data.chunks().iter().all(|c| c.len() == 5000));
        let flat = resp.data.concat();
        assert!(flat.iter().enumerate().all(|(i, &b)| b == octet(i)));

        // Empty pipes both ways.
        let resp = c
            .upload(p::UploadRequest {
                tag: 9,
                data: Pipe::default(),
            })
            .await
            .unwrap();
        assert_eq!((resp.return_value, resp.total), (0, digest(9, &[])));
        let resp = c
            .download(p::DownloadRequest {
                chunks: 0,
                chunk_len: 100,
            })
            .await
            .unwrap();
        assert!(resp.data.is_empty() && resp.data.chunks().is_empty());
        assert_eq!(resp.sent, 0);

        // A pipe of structures (8 octets each in NDR20, with padding) keeps its chunking.
        let pairs: Vec<Vec<PAIR>> = (0..5)
            .map(|c| {
                (0..(c * 900 + 1))
                    .map(|i| PAIR {
                        key: i * 3 - c,
                        value: (i % 3000) as i16,
                    })
                    .collect()
            })
            .collect();
        let resp = c
            .echo(p::EchoRequest {
                pairs: Pipe::new(pairs.clone()),
            })
            .await
            .unwrap();
        let want: Vec<Vec<PAIR>> = pairs
            .iter()
            .map(|c| {
                c.iter()
                    .map(|x| PAIR {
                        key: x.key,
                        value: x.value.wrapping_neg(),
                    })
                    .collect()
            })
            .collect();
        assert_eq!(resp.back.into_chunks(), want, "ndr64: {offer_ndr64}");

        // 8-byte elements (padding after each NDR20 count), 3 chunks.
        let values: Vec<HYPER_PIPE_element> = (0..2500i64)
            .map(|i| HYPER_PIPE_element { v: i << 33 })
            .collect();
        let resp = c
            .sum(p::SumRequest {
                values: Pipe::from_slice(&values, 1000),
            })
            .await
            .unwrap();
        assert_eq!(resp.count, 2500);
        assert_eq!(
            resp.return_value,
            (0..2500i64).map(|i| i << 33).sum::<i64>()
        );

        // [in, out]: the same pipe parameter both ways.
        let chunks: Vec<Vec<u8>> = (0..3u8)
            .map(|i| vec![i; 3000 * usize::from(i + 1)])
            .collect();
        let resp = c
            .reverse(p::ReverseRequest {
                data: Pipe::new(chunks.clone()),
            })
            .await
            .unwrap();
        assert_eq!(resp.count, 3);
        let mut want = chunks;
        want.reverse();
        assert_eq!(resp.data.into_chunks(), want);
        b.close();
    }
    server.shutdown(Duration::from_secs(2)).await;
}

/// A request whose pipe stops without its empty terminating chunk (and one whose chunk claims
/// more octets than the request holds) is bad stub data: the server faults it, its manager never
/// runs, and the connection serves the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipe_without_its_terminator_is_refused() {
    let (server, address) = start().await;
    let b = Binding::from_string(&address).unwrap();
    let iface = p::INTERFACE.syntax_id();
    let good = |syntax: Syntax, rep: DataRep| {
        msrpc_ndr::Stub::encode(
            &p::UploadRequest {
                tag: 1,
                data: Pipe::new(vec![vec![1, 2, 3]]),
            },
            syntax,
            rep,
        )
    };
    let cut = move |syntax, rep| {
        let mut stub = good(syntax, rep)?;
        // Drop the terminator: a zero count in NDR20 (4 octets), two zero u64s in NDR64.
        stub.truncate(stub.len() - if syntax.is_ndr64() { 16 } else { 4 });
        Ok(stub)
    };
    let err = b.call(iface, 0, cut).await.unwrap_err();
    assert_eq!(err.status(), Win32Status::RPC_X_BAD_STUB_DATA, "{err}");
    let oversized = |syntax: Syntax, rep: DataRep| {
        // tag, then a chunk that claims 1,000,000 octets and carries 3.
        assert_eq!(rep, DataRep::LITTLE_ENDIAN);
        let mut stub = vec![1, 0, 0, 0];
        if syntax.is_ndr64() {
            stub.extend_from_slice(&[0; 4]);
            stub.extend_from_slice(&1_000_000u64.to_le_bytes());
        } else {
            stub.extend_from_slice(&1_000_000u32.to_le_bytes());
        }
        stub.extend_from_slice(&[1, 2, 3]);
        Ok(stub)
    };
    let err = b.call(iface, 0, oversized).await.unwrap_err();
    assert_eq!(err.status(), Win32Status::RPC_X_BAD_STUB_DATA, "{err}");
    // The well-formed request still works on the same binding.
    let reply = b.call(iface, 0, good).await.unwrap();
    assert!(!reply.stub.is_empty());
    b.close();
    server.shutdown(Duration::from_secs(2)).await;
}

/// The generated stubs put an `[in]` pipe after the other `[in]` parameters and an `[out]` pipe
/// before the other `[out]` parameters and the return value, whatever the declaration order; the
/// bytes are computed by hand from C706 (NDR20 pipes) and MS-RPCE 2.2.5.3.4.5 (NDR64 pipes).
#[test]
fn pipe_stubs_match_hand_computed_bytes() {
    use msrpc_ndr::Stub as _;
    let le = DataRep::LITTLE_ENDIAN;
    let req = p::UploadRequest {
        tag: 0x1122_3344,
        // The empty chunk is skipped: an empty chunk on the wire ends the pipe.
        data: Pipe::new(vec![vec![0xaa, 0xbb], vec![], vec![0xcc]]),
    };
    #[rustfmt::skip]
    let ndr20: &[u8] = &[
        0x44, 0x33, 0x22, 0x11,             // tag
        2, 0, 0, 0, 0xaa, 0xbb, 0, 0,       // chunk of 2, padding to 4
        1, 0, 0, 0, 0xcc, 0, 0, 0,          // chunk of 1, padding to 4
        0, 0, 0, 0,                         // the empty chunk that ends the pipe
    ];
    assert_eq!(req.encode(Syntax::Ndr20, le).unwrap(), ndr20);
    #[rustfmt::skip]
    let ndr64: &[u8] = &[
        0x44, 0x33, 0x22, 0x11, 0, 0, 0, 0, // tag, padding to 8
        2, 0, 0, 0, 0, 0, 0, 0,             // count 2 (u64)
        0xaa, 0xbb, 0, 0, 0, 0, 0, 0,       // elements, padding to 8
        0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // -2
        1, 0, 0, 0, 0, 0, 0, 0,             // count 1
        0xcc, 0, 0, 0, 0, 0, 0, 0,          // element, padding
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // -1
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // the final chunk: two zero u64s
    ];
    assert_eq!(req.encode(Syntax::Ndr64, le).unwrap(), ndr64);
    assert_eq!(
        p::UploadRequest::decode(ndr20, Syntax::Ndr20, le).unwrap(),
        p::UploadRequest {
            tag: 0x1122_3344,
            data: Pipe::new(vec![vec![0xaa, 0xbb], vec![0xcc]]),
        }
    );
    assert_eq!(
        p::UploadRequest::decode(ndr64, Syntax::Ndr64, le)
            .unwrap()
            .data
            .into_chunks(),
        vec![vec![0xaa, 0xbb], vec![0xcc]]
    );
    // `sent` is declared before `data`, but the pipe goes first.
    let resp = p::DownloadResponse {
        sent: 3,
        data: Pipe::new(vec![vec![1, 2, 3]]),
        return_value: -1,
    };
    #[rustfmt::skip]
    let ndr20: &[u8] = &[
        3, 0, 0, 0, 1, 2, 3, 0,             // chunk of 3, padding
        0, 0, 0, 0,                         // end of pipe
        3, 0, 0, 0,                         // sent
        0xff, 0xff, 0xff, 0xff,             // return value
    ];
    assert_eq!(resp.encode(Syntax::Ndr20, le).unwrap(), ndr20);
    assert_eq!(
        p::DownloadResponse::decode(ndr20, Syntax::Ndr20, le).unwrap(),
        resp
    );
    // An 8-byte aligned element: the NDR20 count is padded to 8 before it.
    let sum = p::SumRequest {
        values: Pipe::new(vec![vec![HYPER_PIPE_element { v: 0x0102 }]]),
    };
    #[rustfmt::skip]
    let ndr20: &[u8] = &[
        1, 0, 0, 0, 0, 0, 0, 0,             // count 1, padding to 8
        2, 1, 0, 0, 0, 0, 0, 0,             // v
        0, 0, 0, 0,                         // end of pipe
    ];
    assert_eq!(sum.encode(Syntax::Ndr20, le).unwrap(), ndr20);
    assert_eq!(
        p::SumRequest::decode(ndr20, Syntax::Ndr20, le).unwrap(),
        sum
    );
    // Big-endian data representation: the counts swap, the octets do not.
    assert_eq!(
        req.encode(Syntax::Ndr20, DataRep::BIG_ENDIAN).unwrap()[..8],
        [0x11, 0x22, 0x33, 0x44, 0, 0, 0, 2]
    );
}

/// Every syntax and byte order.
fn encodings() -> impl Strategy<Value = (Syntax, DataRep)> {
    (any::<bool>(), any::<bool>()).prop_map(|(ndr64, big)| {
        (
            if ndr64 { Syntax::Ndr64 } else { Syntax::Ndr20 },
            if big {
                DataRep::BIG_ENDIAN
            } else {
                DataRep::LITTLE_ENDIAN
            },
        )
    })
}

proptest! {
    /// Any chunks survive the trip (the empty ones are dropped, as they are never sent).
    #[test]
    fn any_chunks_round_trip(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..12),
        tag in any::<u32>(),
        (syntax, rep) in encodings(),
    ) {
        use msrpc_ndr::Stub as _;
        let req = p::UploadRequest { tag, data: Pipe::new(chunks.clone()) };
        let bytes = req.encode(syntax, rep).unwrap();
        let back = p::UploadRequest::decode(&bytes, syntax, rep).unwrap();
        let want: Vec<Vec<u8>> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        prop_assert_eq!(back.tag, tag);
        prop_assert_eq!(back.data.into_chunks(), want);
    }

    /// Arbitrary stub data never panics the pipe decoders, and what decodes re-encodes to bytes
    /// that decode to the same value.
    #[test]
    fn arbitrary_stubs_decode_or_fail_cleanly(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        (syntax, rep) in encodings(),
    ) {
        use msrpc_ndr::Stub as _;
        if let Ok(v) = p::UploadRequest::decode(&bytes, syntax, rep) {
            let again = v.encode(syntax, rep).unwrap();
            prop_assert_eq!(p::UploadRequest::decode(&again, syntax, rep).unwrap(), v);
        }
        if let Ok(v) = p::DownloadResponse::decode(&bytes, syntax, rep) {
            let again = v.encode(syntax, rep).unwrap();
            prop_assert_eq!(p::DownloadResponse::decode(&again, syntax, rep).unwrap(), v);
        }
        if let Ok(v) = p::SumRequest::decode(&bytes, syntax, rep) {
            let again = v.encode(syntax, rep).unwrap();
            prop_assert_eq!(p::SumRequest::decode(&again, syntax, rep).unwrap(), v);
        }
        let _ = p::EchoRequest::decode(&bytes, syntax, rep);
    }
}
