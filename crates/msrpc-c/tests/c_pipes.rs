//! DCE pipes in the C stubs (crates/msrpc-idl/tests/fixtures/pipes.idl): the C client
//! (fixtures/pipes_client.c, MIDL's pull/push/alloc callbacks) against a Rust server built from
//! the Rust stubs, its requests byte for byte what the Rust stubs encode for the same values at
//! NDR20 and NDR64; the C server (fixtures/pipes_server.c, the library's pull and push) against
//! the C client and the Rust client, its replies byte for byte the Rust stubs' encoding; the
//! server's pipe discipline (an undrained `[in]` pipe, a push on an `[in]` pipe) and a request
//! whose pipe is cut before its terminator.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use msrpc::codegen::{Dispatch, IncomingCall, Interface, Win32Status};
use msrpc::server::Server;
use msrpc::{Binding, BindingOptions};
use msrpc_ndr::{DataRep, Pipe, Stub as _, Syntax, SyntaxId};

use common::*;

// The generated Rust stubs name `crate::codegen`: here msrpc's.
use msrpc::codegen;

#[allow(
    clippy::all,
    clippy::pedantic,
    dead_code,
    unreachable_pub,
    missing_debug_implementations
)]
mod pipes_idl {
    include!("../../msrpc-idl/tests/fixtures/pipes.rs");
}
use pipes_idl::pipe_demo as p;
use pipes_idl::{HYPER_PIPE_element, PAIR};

fn idl() -> PathBuf {
    root().join("crates/msrpc-idl/tests/fixtures/pipes.idl")
}

fn octet(i: usize) -> u8 {
    (i % 251) as u8
}

/// `sizes` octets per chunk, octet i of the stream `i mod 251` (as pipes_client.c pulls them).
fn stream(sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut k = 0;
    sizes
        .iter()
        .map(|&n| {
            let c = (k..k + n).map(octet).collect();
            k += n;
            c
        })
        .collect()
}

fn digest(tag: u32, data: &[Vec<u8>]) -> u32 {
    let total: usize = data.iter().map(Vec::len).sum();
    let sum = data.iter().flatten().fold(tag, |acc, &b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    });
    total as u32 ^ (sum & 0xff00_0000)
}

/// The Rust manager (as crates/msrpc/tests/pipes.rs's, and pipes_server.c).
struct Demo;

impl p::Server for Demo {
    fn upload(
        &self,
        _: &IncomingCall,
        req: p::UploadRequest,
    ) -> Result<p::UploadResponse, Win32Status> {
        Ok(p::UploadResponse {
            total: digest(req.tag, req.data.chunks()),
            return_value: req.data.chunks().len() as i32,
        })
    }
    fn download(
        &self,
        _: &IncomingCall,
        req: p::DownloadRequest,
    ) -> Result<p::DownloadResponse, Win32Status> {
        let (chunks, len) = (req.chunks as usize, req.chunk_len as usize);
        if chunks.saturating_mul(len) > 1 << 20 {
            return Err(Win32Status(87));
        }
        Ok(p::DownloadResponse {
            sent: (chunks * len) as u32,
            data: Pipe::new(stream(&vec![len; chunks])),
            return_value: 0,
        })
    }
    fn echo(&self, _: &IncomingCall, req: p::EchoRequest) -> Result<p::EchoResponse, Win32Status> {
        Ok(p::EchoResponse {
            back: negated(req.pairs.chunks()),
        })
    }
    fn sum(&self, _: &IncomingCall, req: p::SumRequest) -> Result<p::SumResponse, Win32Status> {
        let v = req.values.concat();
        Ok(p::SumResponse {
            count: v.len() as u32,
            return_value: v.iter().fold(0i64, |a, x| a.wrapping_add(x.v)),
        })
    }
    fn reverse(
        &self,
        _: &IncomingCall,
        req: p::ReverseRequest,
    ) -> Result<p::ReverseResponse, Win32Status> {
        let mut c = req.data.into_chunks();
        c.reverse();
        Ok(p::ReverseResponse {
            count: c.len() as u32,
            data: Pipe::new(c),
        })
    }
}

fn negated(chunks: &[Vec<PAIR>]) -> Pipe<PAIR> {
    chunks
        .iter()
        .map(|c| {
            c.iter()
                .map(|x| PAIR {
                    key: x.key,
                    value: x.value.wrapping_neg(),
                })
                .collect()
        })
        .collect()
}

/// The pairs pipes_client.c sends to Echo: six, in chunks of 3, 1 and 2.
fn pairs() -> Pipe<PAIR> {
    let all: Vec<PAIR> = (0..6)
        .map(|i| PAIR {
            key: 1000 * i - 2,
            value: (i * 11 - 30) as i16,
        })
        .collect();
    Pipe::new(vec![
        all[..3].to_vec(),
        all[3..4].to_vec(),
        all[4..].to_vec(),
    ])
}

/// The hypers pipes_client.c sends to Sum: 257, in chunks of 250 and 7.
fn hypers() -> Pipe<HYPER_PIPE_element> {
    let all: Vec<HYPER_PIPE_element> = (0..257i64)
        .map(|i| HYPER_PIPE_element {
            v: i * 1_000_000_007 - 3,
        })
        .collect();
    Pipe::new(vec![all[..250].to_vec(), all[250..].to_vec()])
}

type Log = Arc<Mutex<Vec<(u16, Syntax, Vec<u8>)>>>;

/// The Rust service, recording each request's stub bytes before it dispatches.
struct Recorder {
    inner: p::Service<Demo>,
    log: Log,
}

impl Interface for Recorder {
    fn syntax(&self) -> SyntaxId {
        self.inner.syntax()
    }
    fn name(&self) -> &str {
        "pipe_demo"
    }
    fn operation_count(&self) -> u16 {
        self.inner.operation_count()
    }
    fn dispatch(&self, call: IncomingCall) -> Dispatch {
        let info = call.info();
        self.log
            .lock()
            .unwrap()
            .push((info.opnum, info.syntax, call.stub().to_vec()));
        self.inner.dispatch(call)
    }
}

/// The requests pipes_client.c sends (without `c`), in order, as the Rust stubs encode them.
fn rust_requests(syntax: Syntax) -> Vec<(u16, Vec<u8>)> {
    let rep = DataRep::LITTLE_ENDIAN;
    vec![
        (
            0,
            p::UploadRequest {
                data: Pipe::new(stream(&[1000, 17000, 3, 40000, 1, 46104])),
                tag: 77,
            }
            .encode(syntax, rep)
            .unwrap(),
        ),
        (
            0,
            p::UploadRequest {
                data: Pipe::default(),
                tag: 0x1234_5678,
            }
            .encode(syntax, rep)
            .unwrap(),
        ),
        (
            1,
            p::DownloadRequest {
                chunks: 40,
                chunk_len: 5000,
            }
            .encode(syntax, rep)
            .unwrap(),
        ),
        (
            1,
            p::DownloadRequest {
                chunks: 0,
                chunk_len: 0,
            }
            .encode(syntax, rep)
            .unwrap(),
        ),
        (
            1,
            p::DownloadRequest {
                chunks: 2000,
                chunk_len: 1000,
            }
            .encode(syntax, rep)
            .unwrap(),
        ),
        (
            2,
            p::EchoRequest { pairs: pairs() }
                .encode(syntax, rep)
                .unwrap(),
        ),
        (
            3,
            p::SumRequest { values: hypers() }
                .encode(syntax, rep)
                .unwrap(),
        ),
        (
            4,
            p::ReverseRequest {
                data: Pipe::new(stream(&[2, 3, 1])),
            }
            .encode(syntax, rep)
            .unwrap(),
        ),
    ]
}

fn build(dir: &Path, program: &str, stubs_file: &str, extra: &[&str]) -> PathBuf {
    let exe = dir.join(program);
    cc(
        dir,
        &[
            root()
                .join("crates/msrpc-c/tests/fixtures")
                .join(format!("{program}.c")),
            dir.join(stubs_file),
        ],
        &exe,
        extra,
    );
    exe
}

#[test]
fn c_client_against_the_rust_server_same_bytes_at_ndr20_and_ndr64() {
    let dir = scratch("pipes-c-rust");
    stubs(&idl(), None, &dir);
    let client = build(&dir, "pipes_client", "pipes_c.c", &[]);
    for syntax in [Syntax::Ndr20, Syntax::Ndr64] {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let log: Log = Arc::default();
        let rec = Recorder {
            inner: p::Service::new(Demo),
            log: log.clone(),
        };
        let id = rec.syntax();
        let server = rt.block_on(async {
            Server::builder()
                .interface(Arc::new(rec))
                .interface_syntax(id, syntax)
                .listen("ncacn_ip_tcp:127.0.0.1[0]")
                .start()
                .await
                .unwrap()
        });
        let b = server.bindings()[0].to_string();
        let port: u16 = b
            .rsplit_once('[')
            .and_then(|(_, p)| p.trim_end_matches(']').parse().ok())
            .unwrap();
        let r = run(&client, &[&port.to_string()], &[], Duration::from_secs(60));
        rt.block_on(server.shutdown(Duration::from_secs(5)));
        assert_eq!(r.code, Some(0), "{syntax:?}: {r:?}");
        assert!(r.stdout.contains("0 failures"), "{r:?}");
        let got = log.lock().unwrap().clone();
        let want = rust_requests(syntax);
        // The overfilling pull sends nothing.
        assert_eq!(got.len(), want.len(), "{syntax:?}: {} requests", got.len());
        for (i, ((op, s, bytes), (wop, wbytes))) in got.iter().zip(&want).enumerate() {
            assert_eq!((*op, *s), (*wop, syntax), "request {i}");
            assert!(
                bytes == wbytes,
                "{syntax:?}: request {i} (opnum {op}): C and Rust stubs differ ({} and {} bytes)",
                bytes.len(),
                wbytes.len()
            );
        }
    }
}

/// Starts pipes_server on an ephemeral loopback port and reads the port it prints.
fn start(exe: &Path, dir: &Path) -> (Child, u16) {
    let err = dir.join("server.err");
    let child = Command::new(exe)
        .arg("0")
        .env("LD_LIBRARY_PATH", lib_dir())
        .env("MSRPC_LISTEN_ADDRESS", "127.0.0.1")
        .stdout(std::fs::File::create(dir.join("server.out")).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let port = listening_port(&err, None);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    (child, port)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A call from the Rust client with its request `encode`d: the reply's stub and syntax.
fn raw(
    b: &Binding,
    opnum: u16,
    encode: impl Fn(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static,
) -> Result<(Vec<u8>, Syntax), String> {
    b.call_blocking(p::INTERFACE.syntax_id(), opnum, encode)
        .map(|r| (r.stub.to_vec(), r.syntax))
        .map_err(|e| e.to_string())
}

/// The Rust client's calls to the C server, in NDR20 and NDR64: each reply is the Rust stubs'
/// encoding of the expected response.
fn rust_client_calls(port: u16) -> Result<(), String> {
    let rep = DataRep::LITTLE_ENDIAN;
    for offer_ndr64 in [false, true] {
        let mut options = BindingOptions::default();
        options.offer_ndr64 = offer_ndr64;
        let b = Binding::with_options(&format!("ncacn_ip_tcp:127.0.0.1[{port}]"), options)
            .map_err(|e| e.to_string())?;
        let check = |what: &str, got: (Vec<u8>, Syntax), want: Vec<u8>| -> Result<(), String> {
            if got.1.is_ndr64() != offer_ndr64 {
                return Err(format!("{what}: syntax {:?}", got.1));
            }
            if got.0 != want {
                return Err(format!(
                    "{what} (ndr64 {offer_ndr64}): the C server's reply differs from the Rust stubs' ({} and {} bytes)",
                    got.0.len(),
                    want.len()
                ));
            }
            Ok(())
        };
        // [in] pipe: chunks of uneven sizes, many fragments long.
        let data = stream(&[1, 7, 4096, 30_000, 70_001, 3]);
        let req = p::UploadRequest {
            data: Pipe::new(data.clone()),
            tag: 0x1234,
        };
        let got = raw(&b, 0, move |s, r| req.encode(s, r))?;
        let want = p::UploadResponse {
            total: digest(0x1234, &data),
            return_value: 6,
        }
        .encode(got.1, rep)
        .map_err(|e| e.to_string())?;
        check("Upload", got, want)?;
        // [out] pipe.
        let got = raw(&b, 1, |s, r| {
            p::DownloadRequest {
                chunks: 40,
                chunk_len: 5000,
            }
            .encode(s, r)
        })?;
        let want = p::DownloadResponse {
            sent: 200_000,
            data: Pipe::new(stream(&[5000; 40])),
            return_value: 0,
        }
        .encode(got.1, rep)
        .map_err(|e| e.to_string())?;
        check("Download", got, want)?;
        let got = raw(&b, 2, |s, r| p::EchoRequest { pairs: pairs() }.encode(s, r))?;
        let want = p::EchoResponse {
            back: negated(pairs().chunks()),
        }
        .encode(got.1, rep)
        .map_err(|e| e.to_string())?;
        check("Echo", got, want)?;
        let got = raw(&b, 3, |s, r| {
            p::SumRequest { values: hypers() }.encode(s, r)
        })?;
        let want = p::SumResponse {
            count: 257,
            return_value: hypers().concat().iter().map(|x| x.v).sum(),
        }
        .encode(got.1, rep)
        .map_err(|e| e.to_string())?;
        check("Sum", got, want)?;
        let got = raw(&b, 4, |s, r| {
            p::ReverseRequest {
                data: Pipe::new(stream(&[5, 0, 9, 1])),
            }
            .encode(s, r)
        })?;
        let mut back = stream(&[5, 9, 1]);
        back.reverse();
        let want = p::ReverseResponse {
            data: Pipe::new(back),
            count: 3,
        }
        .encode(got.1, rep)
        .map_err(|e| e.to_string())?;
        check("Reverse", got, want)?;
        // A request whose pipe ends before its terminator: RPC_X_BAD_STUB_DATA, and the
        // connection serves the next call.
        let cut = raw(&b, 0, |s, r| {
            let mut v = p::UploadRequest {
                data: Pipe::new(stream(&[10])),
                tag: 1,
            }
            .encode(s, r)?;
            v.truncate(v.len() - if s.is_ndr64() { 16 } else { 4 });
            Ok(v)
        });
        match cut {
            Err(e) if e.contains("1783") || e.contains("RPC_X_BAD_STUB_DATA") => {}
            other => return Err(format!("a cut pipe: {other:?}")),
        }
        let c = p::Client(&b);
        let r = c
            .upload_blocking(p::UploadRequest {
                data: Pipe::new(stream(&[3, 4])),
                tag: 9,
            })
            .map_err(|e| e.to_string())?;
        if r.return_value != 2 || r.total != digest(9, &stream(&[3, 4])) {
            return Err(format!("after the cut pipe: {r:?}"));
        }
    }
    Ok(())
}

#[test]
fn c_to_c_and_the_rust_client_against_the_c_server_same_bytes() {
    let dir = scratch("pipes-c-c");
    stubs(&idl(), None, &dir);
    let server = build(&dir, "pipes_server", "pipes_s.c", &[]);
    let client = build(&dir, "pipes_client", "pipes_c.c", &[]);
    let (child, port) = start(&server, &dir);
    let r = run(
        &client,
        &[&port.to_string(), "c"],
        &[],
        Duration::from_secs(60),
    );
    let rust = rust_client_calls(port);
    stop(child);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("0 failures"), "{r:?}");
    rust.unwrap();
}

/// The same C client and C server under AddressSanitizer (with LeakSanitizer for the client,
/// which exits): no error, no leak.
#[test]
fn c_to_c_under_address_sanitizer() {
    const ASAN: &[&str] = &["-fsanitize=address", "-fno-omit-frame-pointer"];
    let dir = scratch("pipes-asan");
    stubs(&idl(), None, &dir);
    let server = build(&dir, "pipes_server", "pipes_s.c", ASAN);
    let client = build(&dir, "pipes_client", "pipes_c.c", ASAN);
    let (child, port) = start(&server, &dir);
    let r = run(
        &client,
        &[&port.to_string(), "c"],
        &[("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")],
        Duration::from_secs(120),
    );
    let rust = rust_client_calls(port);
    stop(child);
    let server_err = std::fs::read_to_string(dir.join("server.err")).unwrap_or_default();
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("0 failures"), "{r:?}");
    assert!(!r.stderr.contains("Sanitizer"), "{}", r.stderr);
    assert!(!server_err.contains("Sanitizer"), "{server_err}");
    rust.unwrap();
}
