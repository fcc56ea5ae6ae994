//! The richer IDL in C (examples/c/rich/rich.idl: structures, unions, enums, the four kinds of
//! arrays, strings in and out, the three pointer kinds, context handles): the C client against a
//! Rust server built from the Rust stubs, the Rust client against the C server, C against C, and
//! the C and Rust stubs putting the same request bytes on the wire for the same values, at NDR20
//! and at NDR64.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use msrpc::Binding;
use msrpc::codegen::{Dispatch, IncomingCall, Interface, Win32Status};
use msrpc::server::Server;
use msrpc_ndr::{
    ConformantArray, ConformantVaryingArray, ContextHandle, DataRep, Full, Int3264, NdrString,
    Stub as _, Syntax, SyntaxId, UInt3264, Unique, VaryingArray, WideString,
};

use common::*;

/// The Rust stubs of rich.idl (`msrpc idl examples/c/rich/rich.idl`; kept current by
/// `the_rust_stubs_are_current`).
#[allow(
    clippy::all,
    clippy::pedantic,
    dead_code,
    unreachable_pub,
    missing_debug_implementations
)]
mod rich_idl {
    include!("fixtures/rich_gen.rs");
}

use rich_idl::rich::*;
use rich_idl::*;

fn idl() -> PathBuf {
    root().join("examples/c/rich/rich.idl")
}

#[test]
fn the_rust_stubs_are_current() {
    let code = msrpc_idl::Builder::new().generate(&idl(), None).unwrap();
    let kept =
        std::fs::read_to_string(root().join("crates/msrpc-c/tests/fixtures/rich_gen.rs")).unwrap();
    assert!(
        code == kept,
        "regenerate: msrpc idl examples/c/rich/rich.idl -o crates/msrpc-c/tests/fixtures/rich_gen.rs"
    );
}

/// The Rust manager: answers as examples/c/rich/rich_server.c does.
#[derive(Default)]
struct Manager {
    contexts: Mutex<HashMap<u128, i32>>,
}

fn pt(x: i32, y: i16) -> POINT2 {
    POINT2 { x, y }
}

impl rich_idl::rich::Server for Manager {
    fn send_shape(
        &self,
        _: &IncomingCall,
        req: SendShapeRequest,
    ) -> Result<SendShapeResponse, Win32Status> {
        let mut back = req.s;
        back.a.x += 1;
        Ok(SendShapeResponse {
            back,
            return_value: 7,
        })
    }
    fn send_conf(
        &self,
        _: &IncomingCall,
        req: SendConfRequest,
    ) -> Result<SendConfResponse, Win32Status> {
        Ok(SendConfResponse {
            sum: req.c.data.0.iter().sum(),
            return_value: req.c.n as i32,
        })
    }
    fn send_bag(
        &self,
        _: &IncomingCall,
        req: SendBagRequest,
    ) -> Result<SendBagResponse, Win32Status> {
        let b = req.b;
        let f1 = b.full1.as_ref().copied().unwrap_or(0);
        let f2 = b.full2.as_ref().copied().unwrap_or(0);
        let id = b.shape.as_ref().map_or(0, |s| s.id as i32);
        let one = Full::new(f1 + 1);
        let back = BAG {
            full1: one.clone(),
            full2: one,
            shape: Unique::null(),
            ..b
        };
        Ok(SendBagResponse {
            back,
            return_value: f1 + f2 + id,
        })
    }
    fn arrays(&self, _: &IncomingCall, req: ArraysRequest) -> Result<ArraysResponse, Win32Status> {
        let sum =
            req.a.0.iter().sum::<i32>() + req.cv.items.iter().map(|&v| i32::from(v)).sum::<i32>();
        Ok(ArraysResponse {
            sum,
            return_value: (req.n + req.len) as i32,
        })
    }
    fn unions(&self, _: &IncomingCall, req: UnionsRequest) -> Result<UnionsResponse, Win32Status> {
        let eu_back = match req.nu {
            NU::L(l) => EU::D(f64::from(l) * 1.5),
            NU::S(s) => EU::L(s.as_ref().map_or(-1, |s| s.0.len() as i32)),
            NU::P(p) => EU::L(p.x + i32::from(p.y)),
            NU::Default(_) => EU::Default(9),
        };
        let return_value = match req.eu {
            EU::L(l) => l,
            EU::D(d) => d as i32,
            EU::Default(k) => -i32::from(k),
        };
        Ok(UnionsResponse {
            eu_back,
            return_value,
        })
    }
    fn strings(
        &self,
        _: &IncomingCall,
        req: StringsRequest,
    ) -> Result<StringsResponse, Win32Status> {
        let mut s = b"<".to_vec();
        s.extend_from_slice(&req.s.0);
        s.push(b'>');
        Ok(StringsResponse {
            s_back: Unique::new(NdrString(s)),
            w_back: Unique::new(WideString::from("wide back")),
            return_value: req.s.0.len() as i32,
        })
    }
    fn open_ctx(
        &self,
        _: &IncomingCall,
        req: OpenCtxRequest,
    ) -> Result<OpenCtxResponse, Win32Status> {
        let id = uuid::Uuid::new_v4();
        self.contexts.lock().unwrap().insert(id.as_u128(), req.v);
        Ok(OpenCtxResponse {
            ctx: ContextHandle {
                attributes: 0,
                uuid: id,
            },
            return_value: 0,
        })
    }
    fn use_ctx(&self, _: &IncomingCall, req: UseCtxRequest) -> Result<UseCtxResponse, Win32Status> {
        let v = *self
            .contexts
            .lock()
            .unwrap()
            .get(&req.ctx.uuid.as_u128())
            .ok_or(Win32Status(6))?;
        Ok(UseCtxResponse { v, return_value: 1 })
    }
    fn close_ctx(
        &self,
        _: &IncomingCall,
        req: CloseCtxRequest,
    ) -> Result<CloseCtxResponse, Win32Status> {
        self.contexts
            .lock()
            .unwrap()
            .remove(&req.ctx.uuid.as_u128())
            .ok_or(Win32Status(6))?;
        Ok(CloseCtxResponse {
            ctx: ContextHandle::NULL,
            return_value: 2,
        })
    }
    fn extras(&self, _: &IncomingCall, req: ExtrasRequest) -> Result<ExtrasResponse, Win32Status> {
        let e = req.e;
        let n = e.tag.items.len() as i32;
        Ok(ExtrasResponse {
            back: EXTRA {
                sp: Int3264(e.sp.0 + req.ip.0),
                up: UInt3264(e.up.0 + 1),
                ..e
            },
            return_value: n,
        })
    }
    fn ret_shape(
        &self,
        _: &IncomingCall,
        req: RetShapeRequest,
    ) -> Result<RetShapeResponse, Win32Status> {
        Ok(RetShapeResponse {
            return_value: SHAPE {
                a: pt(req.x, 0),
                b: pt(0, 3),
                color: COLOR::GREEN,
                id: -i64::from(req.x),
                filled: true,
            },
        })
    }
    fn ret_point(
        &self,
        _: &IncomingCall,
        req: RetPointRequest,
    ) -> Result<RetPointResponse, Win32Status> {
        Ok(RetPointResponse {
            return_value: if req.x == 0 {
                Unique::null()
            } else {
                Unique::new(pt(req.x, -1))
            },
        })
    }
    fn ret_eu(&self, _: &IncomingCall, req: RetEuRequest) -> Result<RetEuResponse, Win32Status> {
        Ok(RetEuResponse {
            return_value: match req.kind {
                1 => EU::L(11),
                2 => EU::D(0.5),
                k => EU::Default(k),
            },
        })
    }
    fn ret_color(
        &self,
        _: &IncomingCall,
        req: RetColorRequest,
    ) -> Result<RetColorResponse, Win32Status> {
        Ok(RetColorResponse {
            return_value: if req.i == 0 { COLOR::RED } else { COLOR::BLUE },
        })
    }
    fn ret_wide(
        &self,
        _: &IncomingCall,
        req: RetWideRequest,
    ) -> Result<RetWideResponse, Win32Status> {
        Ok(RetWideResponse {
            return_value: Int3264(req.v.0 * 2),
        })
    }
}

/// The `EXTRA` rich_client.c sends: `[string] char tag[20]` and `WCHAR wtag[6]` (the characters
/// with the NUL), `__int3264` and `unsigned __int3264`.
fn extra() -> EXTRA {
    EXTRA {
        tag: VaryingArray::new(b"hello\0".to_vec()),
        sp: Int3264(-70_000),
        up: UInt3264(0x7fff_ffff),
        wtag: VaryingArray::new("wide\0".encode_utf16().collect()),
    }
}

type Log = Arc<Mutex<Vec<(u16, Syntax, Vec<u8>)>>>;

/// The Rust service, recording each request's stub bytes before it dispatches.
struct Recorder {
    inner: Service<Manager>,
    log: Log,
}

impl Interface for Recorder {
    fn syntax(&self) -> SyntaxId {
        self.inner.syntax()
    }
    fn name(&self) -> &str {
        "Rich"
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

/// The requests rich_client.c sends, in order (before its last, refused call), as the Rust stubs
/// encode them.
fn rust_requests(syntax: Syntax) -> Vec<(u16, Vec<u8>)> {
    let rep = DataRep::LITTLE_ENDIAN;
    let shared = Full::new(42);
    let shape = SHAPE {
        a: pt(1, -2),
        b: pt(300_000, 7),
        color: COLOR::BLUE,
        id: -5_000_000_000,
        filled: true,
    };
    let mut v = vec![
        (
            0,
            SendShapeRequest { s: shape }.encode(syntax, rep).unwrap(),
        ),
        (
            1,
            SendConfRequest {
                c: CONF {
                    n: 4,
                    data: ConformantArray(vec![10, 20, 30, 40]),
                },
            }
            .encode(syntax, rep)
            .unwrap(),
        ),
        (
            2,
            SendBagRequest {
                b: BAG {
                    name: Unique::new(NdrString::from("bag")),
                    wname: Unique::new(WideString::from("wide")),
                    count: 2,
                    points: Unique::new(ConformantArray(vec![pt(1, 2), pt(3, 4)])),
                    used: 3,
                    vary: VaryingArray::new(vec![5, 6, 7]),
                    fixed: [8, 9, 10],
                    full1: shared.clone(),
                    full2: shared,
                    shape: Unique::new(SHAPE {
                        a: pt(5, 6),
                        b: pt(7, 8),
                        color: COLOR::GREEN,
                        id: 9,
                        filled: false,
                    }),
                },
            }
            .encode(syntax, rep)
            .unwrap(),
        ),
        (
            3,
            ArraysRequest {
                n: 3,
                a: ConformantArray(vec![1, 2, 3]),
                max: 5,
                len: 2,
                cv: ConformantVaryingArray {
                    max_count: 5,
                    offset: 0,
                    items: vec![100, 200],
                },
            }
            .encode(syntax, rep)
            .unwrap(),
        ),
    ];
    for (sw, nu, eu) in [
        (1, NU::L(4), EU::L(11)),
        (2, NU::S(Unique::new(NdrString::from("four"))), EU::D(2.5)),
        (3, NU::P(pt(30, 12)), EU::Default(7)),
        (99, NU::Default(99), EU::Default(7)),
    ] {
        v.push((4, UnionsRequest { sw, nu, eu }.encode(syntax, rep).unwrap()));
    }
    v.push((
        5,
        StringsRequest {
            s: NdrString::from("text"),
        }
        .encode(syntax, rep)
        .unwrap(),
    ));
    v.push((
        9,
        ExtrasRequest {
            ip: Int3264(-3),
            e: extra(),
        }
        .encode(syntax, rep)
        .unwrap(),
    ));
    v.push((10, RetShapeRequest { x: 21 }.encode(syntax, rep).unwrap()));
    v.push((11, RetPointRequest { x: 5 }.encode(syntax, rep).unwrap()));
    v.push((12, RetEuRequest { kind: 2 }.encode(syntax, rep).unwrap()));
    v.push((11, RetPointRequest { x: 0 }.encode(syntax, rep).unwrap()));
    v.push((13, RetColorRequest { i: 1 }.encode(syntax, rep).unwrap()));
    v.push((
        14,
        RetWideRequest {
            v: Int3264(-40_000),
        }
        .encode(syntax, rep)
        .unwrap(),
    ));
    v.push((6, OpenCtxRequest { v: 1234 }.encode(syntax, rep).unwrap()));
    v
}

fn build(dir: &Path, program: &str, stubs_file: &str, extra: &[&str]) -> PathBuf {
    let exe = dir.join(program);
    cc(
        dir,
        &[
            root().join("examples/c/rich").join(format!("{program}.c")),
            dir.join(stubs_file),
        ],
        &exe,
        extra,
    );
    exe
}

#[test]
fn c_client_against_the_rust_server_same_bytes_at_ndr20_and_ndr64() {
    let dir = scratch("rich-c-rust");
    stubs(&idl(), None, &dir);
    let client = build(&dir, "rich_client", "rich_c.c", &[]);
    for syntax in [Syntax::Ndr20, Syntax::Ndr64] {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let log: Log = Arc::default();
        let rec = Recorder {
            inner: Service::new(Manager::default()),
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
        assert!(
            got.len() >= want.len(),
            "{syntax:?}: {} requests",
            got.len()
        );
        for (i, ((op, s, bytes), (wop, wbytes))) in got.iter().zip(&want).enumerate() {
            assert_eq!((*op, *s), (*wop, syntax), "request {i}");
            assert_eq!(
                bytes, wbytes,
                "{syntax:?}: request {i} (opnum {op}): C and Rust stubs differ"
            );
        }
    }
}

/// Starts rich_server on an ephemeral loopback port and reads the port it prints.
fn start(exe: &Path, dir: &Path, extra_env: &[(&str, &str)]) -> (Child, u16) {
    let err = dir.join("server.err");
    let child = Command::new(exe)
        .arg("0")
        .env("LD_LIBRARY_PATH", lib_dir())
        .env("MSRPC_LISTEN_ADDRESS", "127.0.0.1")
        .envs(extra_env.iter().copied())
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

#[test]
fn c_to_c_and_the_rust_client_against_the_c_server() {
    let dir = scratch("rich-c-c");
    stubs(&idl(), None, &dir);
    let server = build(&dir, "rich_server", "rich_s.c", &[]);
    let client = build(&dir, "rich_client", "rich_c.c", &[]);
    let (child, port) = start(&server, &dir, &[]);

    let r = run(&client, &[&port.to_string()], &[], Duration::from_secs(60));

    let binding = Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{port}]")).unwrap();
    let c = Client(&binding);
    let shared = Full::new(5);
    let bag = c
        .send_bag_blocking(SendBagRequest {
            b: BAG {
                name: Unique::new(NdrString::from("rust")),
                wname: Unique::null(),
                count: 1,
                points: Unique::new(ConformantArray(vec![pt(-1, -2)])),
                used: 2,
                vary: VaryingArray::new(vec![-3, 4]),
                fixed: [1, 2, 3],
                full1: shared.clone(),
                full2: shared,
                shape: Unique::null(),
            },
        })
        .map_err(|e| e.to_string());
    let unions = c
        .unions_blocking(UnionsRequest {
            sw: 2,
            nu: NU::S(Unique::new(NdrString::from("abcde"))),
            eu: EU::D(8.75),
        })
        .map_err(|e| e.to_string());
    let strings = c
        .strings_blocking(StringsRequest {
            s: NdrString::from("rs"),
        })
        .map_err(|e| e.to_string());
    let extras = c
        .extras_blocking(ExtrasRequest {
            ip: Int3264(10),
            e: extra(),
        })
        .map_err(|e| e.to_string());
    let shape = c
        .ret_shape_blocking(RetShapeRequest { x: 8 })
        .map_err(|e| e.to_string());
    let point = c
        .ret_point_blocking(RetPointRequest { x: 4 })
        .map_err(|e| e.to_string());
    let opened = c
        .open_ctx_blocking(OpenCtxRequest { v: 77 })
        .map_err(|e| e.to_string());
    let used = opened.as_ref().ok().map(|o| {
        c.use_ctx_blocking(UseCtxArgs { ctx: o.ctx.clone() })
            .map_err(|e| e.to_string())
    });
    stop(child);

    assert_eq!(r.code, Some(0), "C to C: {r:?}");
    let bag = bag.unwrap();
    assert_eq!(bag.return_value, 10);
    assert_eq!(
        bag.back.name.as_ref().map(|s| s.0.clone()),
        Some(b"rust".to_vec())
    );
    assert!(bag.back.wname.is_null());
    assert_eq!(
        bag.back.points.as_ref().map(|p| p.0.clone()),
        Some(vec![pt(-1, -2)])
    );
    assert_eq!(bag.back.vary.items, vec![-3, 4]);
    assert_eq!(bag.back.fixed, [1, 2, 3]);
    assert_eq!(bag.back.full1.as_ref(), Some(&6));
    assert_eq!(bag.back.full2.as_ref(), Some(&6));
    let unions = unions.unwrap();
    assert_eq!((unions.eu_back, unions.return_value), (EU::L(5), 8));
    let strings = strings.unwrap();
    assert_eq!(
        strings.s_back.as_ref().map(|s| s.0.clone()),
        Some(b"<rs>".to_vec())
    );
    assert_eq!(
        strings.w_back.as_ref().map(|s| s.to_string_lossy()),
        Some("wide back".to_string())
    );
    let extras = extras.unwrap();
    assert_eq!(extras.return_value, 6);
    assert_eq!(extras.back.tag.items, b"hello\0".to_vec());
    assert_eq!(extras.back.sp, Int3264(-69_990));
    assert_eq!(extras.back.up, UInt3264(0x8000_0000));
    assert_eq!(
        extras.back.wtag.items,
        "wide\0".encode_utf16().collect::<Vec<u16>>()
    );
    let shape = shape.unwrap().return_value;
    assert_eq!(
        (shape.a, shape.b, shape.color, shape.id, shape.filled),
        (pt(8, 0), pt(0, 3), COLOR::GREEN, -8, true)
    );
    assert_eq!(
        point.unwrap().return_value.as_ref().cloned(),
        Some(pt(4, -1))
    );
    let opened = opened.unwrap();
    assert_eq!(opened.return_value, 0);
    let used = used.unwrap().unwrap();
    assert_eq!((used.v, used.return_value), (77, 1));
}

#[test]
fn c_to_c_under_address_sanitizer() {
    // Both programs under AddressSanitizer; the client (which exits) also under LeakSanitizer:
    // its [out] pointees, strings and context handles are all freed or closed.
    let asan = &["-fsanitize=address", "-fno-omit-frame-pointer"];
    let dir = scratch("rich-asan");
    stubs(&idl(), None, &dir);
    let server = build(&dir, "rich_server", "rich_s.c", asan);
    let client = build(&dir, "rich_client", "rich_c.c", asan);
    let (child, port) = start(&server, &dir, &[("ASAN_OPTIONS", "detect_leaks=0")]);
    let r = run(
        &client,
        &[&port.to_string()],
        &[("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")],
        Duration::from_secs(120),
    );
    stop(child);
    let server_err = std::fs::read_to_string(dir.join("server.err")).unwrap();
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(!r.stderr.contains("Sanitizer"), "client: {}", r.stderr);
    assert!(!server_err.contains("Sanitizer"), "server: {server_err}");
}

#[test]
fn mgmt_c_client_against_msrpc() {
    // The C stubs of crates/msrpc/idl/mgmt.idl (imported types, pointer typedefs, an [out]-only
    // conformant array, a [string, size_is] buffer) against msrpc's built-in mgmt.
    let dir = scratch("mgmt-c");
    stubs(&root().join("crates/msrpc/idl/mgmt.idl"), None, &dir);
    let exe = dir.join("mgmt_client");
    cc(
        &dir,
        &[
            root().join("examples/c/mgmt/mgmt_client.c"),
            dir.join("mgmt_c.c"),
        ],
        &exe,
        &["-fsanitize=address", "-fno-omit-frame-pointer"],
    );
    let srv = SampleServer::start();
    let r = run(
        &exe,
        &["127.0.0.1", &srv.port.to_string()],
        &[("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")],
        Duration::from_secs(60),
    );
    srv.stop();
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout.contains("interface afa8bd80-7d8a-11c9 v1.0"),
        "{r:?}"
    );
    assert!(!r.stderr.contains("Sanitizer"), "{}", r.stderr);
}

#[test]
fn the_c_server_faults_bad_stubs_and_keeps_serving() {
    // Every third truncation of valid SendBag and Unions requests (in the negotiated syntax) is
    // faulted with RPC_X_BAD_STUB_DATA (1783) by the C server's engine; nothing crashes, and a
    // valid call still succeeds afterwards.
    let dir = scratch("rich-bad");
    stubs(&idl(), None, &dir);
    let server = build(&dir, "rich_server", "rich_s.c", &[]);
    let (child, port) = start(&server, &dir, &[]);
    let binding = Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{port}]")).unwrap();
    let iface = INTERFACE.syntax_id();
    // The syntax the association negotiated (the bad stubs are cut from requests in it).
    let negotiated = Arc::new(Mutex::new(None));
    let n2 = negotiated.clone();
    binding
        .call_blocking(iface, 5, move |syntax, rep| {
            *n2.lock().unwrap() = Some(syntax);
            StringsRequest {
                s: NdrString::from("x"),
            }
            .encode(syntax, rep)
        })
        .unwrap();
    let syntax = negotiated.lock().unwrap().unwrap();
    let requests: Vec<(u16, Vec<u8>)> = rust_requests(syntax)
        .into_iter()
        .filter(|(op, _)| matches!(op, 2 | 4))
        .collect();
    let mut statuses = Vec::new();
    for (op, full) in &requests {
        for cut in (0..full.len()).step_by(3) {
            let bytes = full[..cut].to_vec();
            let r = binding.call_blocking(iface, *op, move |s, _| {
                assert_eq!(s, syntax, "one association, one syntax");
                Ok(bytes)
            });
            statuses.push((*op, cut, r.map(|_| ()).map_err(|e| e.status())));
        }
    }
    let ok = Client(&binding).strings_blocking(StringsRequest {
        s: NdrString::from("still here"),
    });
    stop(child);
    for (op, cut, s) in &statuses {
        assert_eq!(
            *s,
            Err(Win32Status(1783)),
            "{syntax:?}: opnum {op} cut at {cut} bytes"
        );
    }
    assert_eq!(ok.unwrap().return_value, 10);
}

/// The lines of the C server's standard output that start with `word`.
fn server_lines(dir: &Path, word: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join("server.out"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(word))
        .map(str::to_string)
        .collect()
}

#[test]
fn c_server_context_handles_belong_to_the_association_and_run_down_once() {
    let dir = scratch("rich-rundown");
    stubs(&idl(), None, &dir);
    let server = build(&dir, "rich_server", "rich_s.c", &[]);
    let (child, port) = start(&server, &dir, &[]);
    let text = format!("ncacn_ip_tcp:127.0.0.1[{port}]");

    // Association A opens a handle; association B (another binding, another connection and
    // association group) presents it, and opens and closes one of its own.
    let a = Binding::from_string(&text).unwrap();
    let opened = Client(&a)
        .open_ctx_blocking(OpenCtxRequest { v: 4242 })
        .map_err(|e| e.to_string());
    let b = Binding::from_string(&text).unwrap();
    let foreign = opened.as_ref().ok().map(|o| {
        Client(&b)
            .use_ctx_blocking(UseCtxArgs {
                ctx: msrpc::codegen::ClientContext::new(o.ctx.handle(), b.clone()),
            })
            .map(|r| r.v)
            .map_err(|e| e.status().0)
    });
    let own = Client(&b)
        .open_ctx_blocking(OpenCtxRequest { v: 99 })
        .map_err(|e| e.to_string());
    let used_a = opened.as_ref().ok().map(|o| {
        Client(&a)
            .use_ctx_blocking(UseCtxArgs { ctx: o.ctx.clone() })
            .map(|r| r.v)
            .map_err(|e| e.to_string())
    });
    let closed = own.as_ref().ok().map(|o| {
        Client(&b)
            .close_ctx_blocking(CloseCtxArgs { ctx: o.ctx.clone() })
            .map(|r| (r.return_value, r.ctx.is_null()))
            .map_err(|e| e.to_string())
    });
    // A goes away with its handle open: the server runs PCTX_rundown once with the manager's
    // pointer. (Bounded wait for the server to see the connection close.)
    drop(opened);
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(20);
    while server_lines(&dir, "rundown").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // B is still connected: a call on it still answers after A's rundown (and B's closed
    // handle is not run down when B goes).
    let after = Client(&b)
        .open_ctx_blocking(OpenCtxRequest { v: 5 })
        .map(|r| r.return_value)
        .map_err(|e| e.to_string());
    // Every clone of B goes (the handles keep their binding).
    drop(own);
    drop(b);
    let deadline = Instant::now() + Duration::from_secs(20);
    while server_lines(&dir, "rundown").len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop(child);

    let opens = server_lines(&dir, "open");
    let rundowns = server_lines(&dir, "rundown");
    assert_eq!(used_a.unwrap(), Ok(4242));
    // nca_s_fault_context_mismatch, which the client reports as ERROR_INVALID_HANDLE (6).
    assert_eq!(
        foreign.unwrap(),
        Err(6),
        "another association used A's handle"
    );
    assert_eq!(closed.unwrap(), Ok((2, true)));
    assert_eq!(after, Ok(0));
    let ptr = |l: &str| l.rsplit(' ').next().map(str::to_string);
    let open_a = opens.iter().find(|l| l.starts_with("open 4242 ")).unwrap();
    let open_5 = opens.iter().find(|l| l.starts_with("open 5 ")).unwrap();
    assert_eq!(
        rundowns
            .iter()
            .filter(|l| l.starts_with("rundown 4242 "))
            .count(),
        1,
        "{rundowns:?}"
    );
    let run_a = rundowns
        .iter()
        .find(|l| l.starts_with("rundown 4242 "))
        .unwrap();
    assert_eq!(
        ptr(run_a),
        ptr(open_a),
        "the rundown got the manager's pointer"
    );
    assert!(
        rundowns.iter().all(|l| !l.starts_with("rundown 99 ")),
        "a handle closed by the manager was run down: {rundowns:?}"
    );
    assert_eq!(rundowns.len(), 2, "{rundowns:?}");
    assert!(
        rundowns
            .iter()
            .any(|l| l.starts_with("rundown 5 ") && ptr(l) == ptr(open_5))
    );
}
