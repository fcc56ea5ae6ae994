//! COM (DCOM) `[object]` interfaces in C: msrpc-idl's `tests/fixtures/com.idl` (ICalc : IUnknown,
//! ICalc2 : ICalc) through `msrpc idl --lang c`'s header (MIDL's `lpVtbl` C declarations and
//! COBJMACROS macros) and proxies (`MsrpcCreateProxy`), against the Rust server of the same
//! fixture's Rust stubs: the IPID as the request's object UUID, ORPCTHIS (COM version 5.7, a
//! fresh causality id each call) first in the request, the HRESULT back, and the request bytes
//! the Rust stubs' encoding of the same values.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use msrpc::codegen::{Dispatch, IncomingCall, Interface, Win32Status};
use msrpc::server::Server;
use msrpc::{DataRep, Stub as _, Syntax, SyntaxId, Uuid};
use msrpc_ndr::{ConformantArray, Unique, WideString};

// Generated code names `crate::codegen`.
use msrpc::codegen;

#[allow(
    clippy::all,
    clippy::pedantic,
    dead_code,
    unreachable_pub,
    missing_debug_implementations
)]
mod com_idl {
    include!("../../msrpc-idl/tests/fixtures/com.rs");
}
use com_idl::{ORPC_EXTENT, ORPC_EXTENT_ARRAY, ORPCTHAT, i_calc, i_calc2};

use common::*;

const ASAN: &[&str] = &["-fsanitize=address", "-fno-omit-frame-pointer"];

/// Each request: IID, opnum, object UUID, stub bytes.
type Log = Arc<Mutex<Vec<(Uuid, u16, Option<Uuid>, Vec<u8>)>>>;

#[derive(Clone, Default)]
struct Calc;

fn that() -> ORPCTHAT {
    ORPCTHAT {
        flags: 0,
        extensions: Unique::null(),
    }
}

/// An ORPCTHAT with one extension of 5 bytes (8 on the wire) and a null second slot.
fn that_with_extension() -> ORPCTHAT {
    ORPCTHAT {
        flags: 0,
        extensions: Unique::new(ORPC_EXTENT_ARRAY {
            size: 1,
            reserved: 0,
            extent: Unique::new(ConformantArray::from(vec![
                Unique::new(ORPC_EXTENT {
                    id: Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10),
                    size: 5,
                    data: ConformantArray::from(vec![1, 2, 3, 4, 5, 0, 0, 0]),
                }),
                Unique::null(),
            ])),
        }),
    }
}

impl i_calc::Server for Calc {
    fn add(
        &self,
        _: &IncomingCall,
        req: i_calc::AddRequest,
    ) -> Result<i_calc::AddResponse, Win32Status> {
        Ok(i_calc::AddResponse {
            ORPCthat: that(),
            sum: req.a.wrapping_add(req.b),
            return_value: 0,
        })
    }
    fn echo(
        &self,
        _: &IncomingCall,
        req: i_calc::EchoRequest,
    ) -> Result<i_calc::EchoResponse, Win32Status> {
        Ok(i_calc::EchoResponse {
            ORPCthat: that(),
            back: req.text,
            return_value: 0,
        })
    }
}

impl i_calc2::Server for Calc {
    fn add(
        &self,
        _: &IncomingCall,
        req: i_calc2::AddRequest,
    ) -> Result<i_calc2::AddResponse, Win32Status> {
        Ok(i_calc2::AddResponse {
            ORPCthat: that(),
            sum: req.a.wrapping_add(req.b),
            return_value: 0,
        })
    }
    fn echo(
        &self,
        _: &IncomingCall,
        req: i_calc2::EchoRequest,
    ) -> Result<i_calc2::EchoResponse, Win32Status> {
        Ok(i_calc2::EchoResponse {
            ORPCthat: that(),
            back: req.text,
            return_value: 0,
        })
    }
    fn twice(
        &self,
        _: &IncomingCall,
        req: i_calc2::TwiceRequest,
    ) -> Result<i_calc2::TwiceResponse, Win32Status> {
        Ok(i_calc2::TwiceResponse {
            // Twice(21) gets an ORPCTHAT with an extension (the C proxy decodes and frees it).
            ORPCthat: if req.a == 21 {
                that_with_extension()
            } else {
                that()
            },
            r: req.a.wrapping_mul(2),
            return_value: if req.a < 0 { 0x8007_0057_u32 as i32 } else { 0 },
        })
    }
}

/// A Rust service recording each request before it dispatches.
struct Recorder<S> {
    inner: S,
    log: Log,
}

impl<S: Interface> Interface for Recorder<S> {
    fn syntax(&self) -> SyntaxId {
        self.inner.syntax()
    }
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn operation_count(&self) -> u16 {
        self.inner.operation_count()
    }
    fn dispatch(&self, call: IncomingCall) -> Dispatch {
        let info = call.info();
        self.log.lock().unwrap().push((
            self.inner.syntax().uuid,
            info.opnum,
            info.object,
            call.stub().to_vec(),
        ));
        self.inner.dispatch(call)
    }
}

fn idl() -> std::path::PathBuf {
    root().join("crates/msrpc-idl/tests/fixtures/com.idl")
}

#[test]
fn the_header_has_midls_c_interface_shape() {
    let dir = scratch("com-header");
    stubs(&idl(), None, &dir);
    let h = std::fs::read_to_string(dir.join("com.h")).unwrap();
    for want in [
        "#include <objbase.h>",
        "typedef struct ICalc ICalc;",
        "EXTERN_C const IID IID_ICalc;",
        "typedef struct ICalcVtbl\n{\n    BEGIN_INTERFACE\n    HRESULT (STDMETHODCALLTYPE *QueryInterface)(ICalc *This, REFIID riid, void **ppvObject);\n    ULONG (STDMETHODCALLTYPE *AddRef)(ICalc *This);\n    ULONG (STDMETHODCALLTYPE *Release)(ICalc *This);\n    HRESULT (STDMETHODCALLTYPE *Add)(ICalc *This, long a, long b, long *sum);",
        "struct ICalc\n{\n    const struct ICalcVtbl *lpVtbl;\n};",
        "#define ICalc_Add(This,a,b,sum) ((This)->lpVtbl->Add(This,a,b,sum))",
        // The derived vtable has the inherited methods first, in order.
        "    ULONG (STDMETHODCALLTYPE *Release)(ICalc2 *This);\n    HRESULT (STDMETHODCALLTYPE *Add)(ICalc2 *This, long a, long b, long *sum);\n    HRESULT (STDMETHODCALLTYPE *Echo)(ICalc2 *This, WCHAR *text, WCHAR **back);\n    HRESULT (STDMETHODCALLTYPE *Twice)(ICalc2 *This, long a, long *r);\n    END_INTERFACE\n} ICalc2Vtbl;",
        "#define ICalc2_Twice(This,a,r) ((This)->lpVtbl->Twice(This,a,r))",
    ] {
        assert!(h.contains(want), "com.h lacks:\n{want}\n---\n{h}");
    }
    assert!(
        !h.contains("ORPCthis"),
        "ORPCTHIS is hidden from the methods"
    );
}

#[test]
fn c_client_against_the_rust_server_at_ndr20_and_ndr64() {
    for syntax in [Syntax::Ndr20, Syntax::Ndr64] {
        c_client_against_the_rust_server(syntax);
    }
}

fn c_client_against_the_rust_server(syntax: Syntax) {
    let dir = scratch(&format!("com-c-rust-{syntax:?}"));
    stubs(&idl(), None, &dir);
    // Under AddressSanitizer with LeakSanitizer: the ORPCTHAT extensions freed, nothing leaked.
    let exe = build_c(&dir, "com_client", "com_c.c", ASAN);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let log: Log = Arc::default();
    let server = rt.block_on(async {
        Server::builder()
            .interface(Arc::new(Recorder {
                inner: i_calc::Service::new(Calc),
                log: log.clone(),
            }))
            .interface(Arc::new(Recorder {
                inner: i_calc2::Service::new(Calc),
                log: log.clone(),
            }))
            .interface_syntax(i_calc::Service::<Calc>::new(Calc).syntax(), syntax)
            .interface_syntax(i_calc2::Service::<Calc>::new(Calc).syntax(), syntax)
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
    let ipid = Uuid::parse_str("a1b2c3d4-0102-0304-0506-0708090a0b0c").unwrap();
    let r = run(
        &exe,
        &[&port.to_string(), &ipid.to_string()],
        &[("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")],
        Duration::from_secs(120),
    );
    rt.block_on(server.shutdown(Duration::from_secs(5)));
    assert_eq!(r.code, Some(0), "{syntax:?}: {r:?}");
    assert!(r.stdout.contains("0 failures"), "{syntax:?}: {r:?}");
    assert!(!r.stderr.contains("Sanitizer"), "{syntax:?}: {r:?}");

    let got = log.lock().unwrap().clone();
    let c1 = i_calc::INTERFACE.uuid;
    let c2 = i_calc2::INTERFACE.uuid;
    let calls: Vec<(Uuid, u16)> = got.iter().map(|(i, o, _, _)| (*i, *o)).collect();
    // Add, Echo, Twice, Twice through ICalc2; Add through ICalc; Add through ICalc2 again.
    assert_eq!(
        calls,
        [(c2, 3), (c2, 4), (c2, 5), (c2, 5), (c1, 3), (c2, 3)]
    );
    let mut cids = Vec::new();
    for (iid, op, object, bytes) in &got {
        assert_eq!(*object, Some(ipid), "the IPID is the object UUID");
        // Each request is the Rust stubs' encoding of what it decodes to, ORPCTHIS included.
        let rep = DataRep::LITTLE_ENDIAN;
        let s = syntax;
        let (this, again) = match (*iid == c2, *op) {
            (false, 3) => {
                let q = i_calc::AddRequest::decode(bytes, s, rep).unwrap();
                assert_eq!((q.a, q.b), (-5, 3));
                let want = i_calc::AddRequest {
                    ORPCthis: q.ORPCthis.clone(),
                    a: -5,
                    b: 3,
                };
                (q.ORPCthis.clone(), want.encode(s, rep).unwrap())
            }
            (true, 3) => {
                let q = i_calc2::AddRequest::decode(bytes, s, rep).unwrap();
                assert!(matches!((q.a, q.b), (40, 2) | (1, 1)), "{q:?}");
                (q.ORPCthis.clone(), q.encode(s, rep).unwrap())
            }
            (true, 4) => {
                let q = i_calc2::EchoRequest::decode(bytes, s, rep).unwrap();
                let want = i_calc2::EchoRequest {
                    ORPCthis: q.ORPCthis.clone(),
                    text: Unique::new(WideString::from("hi")),
                };
                assert_eq!(q, want);
                (q.ORPCthis.clone(), want.encode(s, rep).unwrap())
            }
            (true, 5) => {
                let q = i_calc2::TwiceRequest::decode(bytes, s, rep).unwrap();
                assert!(matches!(q.a, 21 | -1), "{q:?}");
                (q.ORPCthis.clone(), q.encode(s, rep).unwrap())
            }
            other => panic!("unexpected call {other:?}"),
        };
        assert_eq!(&again, bytes, "C and Rust stubs differ");
        assert_eq!(
            (this.version.MajorVersion, this.version.MinorVersion),
            (5, 7)
        );
        assert_eq!((this.flags, this.reserved1), (0, 0));
        assert!(this.extensions.is_null());
        cids.push(this.cid);
    }
    let mut distinct = cids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), cids.len(), "a fresh causality id per call");
}

/// Starts com_server (the C object under `ipid`, `revoked` registered and revoked) on an
/// ephemeral loopback port and reads the port it prints.
fn start_c_server(exe: &Path, dir: &Path, ipid: Uuid, revoked: Uuid) -> (Child, u16) {
    let err = dir.join("server.err");
    let child = Command::new(exe)
        .env("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
        .args(["0", &ipid.to_string(), &revoked.to_string()])
        .env("LD_LIBRARY_PATH", lib_dir())
        .env("MSRPC_LISTEN_ADDRESS", "127.0.0.1")
        .stdout(std::fs::File::create(dir.join("server.out")).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let port = listening_port(&err, None);
    (child, port)
}

fn build_c(dir: &Path, program: &str, stub: &str, extra: &[&str]) -> PathBuf {
    let exe = dir.join(program);
    cc(
        dir,
        &[
            root().join(format!("crates/msrpc-c/tests/fixtures/{program}.c")),
            dir.join(stub),
        ],
        &exe,
        extra,
    );
    exe
}

/// The fault status of a failed call.
fn fault<T: std::fmt::Debug>(r: Result<T, msrpc::Error>) -> u32 {
    r.unwrap_err().status().0
}

#[test]
fn rust_client_and_c_client_against_the_c_server() {
    let dir = scratch("com-c-server");
    stubs(&idl(), None, &dir);
    let server = build_c(&dir, "com_server", "com_s.c", &[]);
    let client = build_c(&dir, "com_client", "com_c.c", &[]);
    let ipid = Uuid::parse_str("11112222-3333-4444-5555-666677778888").unwrap();
    let revoked = Uuid::parse_str("99990000-aaaa-bbbb-cccc-ddddeeeeffff").unwrap();
    let (mut child, port) = start_c_server(&server, &dir, ipid, revoked);

    // C client -> C server: the same checks as against the Rust server.
    let r = run(
        &client,
        &[&port.to_string(), &ipid.to_string()],
        &[],
        Duration::from_secs(60),
    );

    // The Rust client of the same IDL.
    let b = msrpc::Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{port}]")).unwrap();
    let c2 = i_calc2::Client(&b);
    let add = c2.add_blocking(
        ipid,
        i_calc2::AddRequest {
            ORPCthis: i_calc2::orpcthis(),
            a: 7,
            b: 8,
        },
    );
    let echo = c2.echo_blocking(
        ipid,
        i_calc2::EchoRequest {
            ORPCthis: i_calc2::orpcthis(),
            text: Unique::new(WideString::from("wide")),
        },
    );
    let twice = c2.twice_blocking(
        ipid,
        i_calc2::TwiceRequest {
            ORPCthis: i_calc2::orpcthis(),
            a: -3,
        },
    );
    // Through the base's IID (its stubs are linked, so registered with the object).
    let base = i_calc::Client(&b).add_blocking(
        ipid,
        i_calc::AddRequest {
            ORPCthis: i_calc::orpcthis(),
            a: 1,
            b: -1,
        },
    );
    let gone = c2.twice_blocking(
        revoked,
        i_calc2::TwiceRequest {
            ORPCthis: i_calc2::orpcthis(),
            a: 1,
        },
    );
    let unknown = c2.twice_blocking(
        Uuid::nil(),
        i_calc2::TwiceRequest {
            ORPCthis: i_calc2::orpcthis(),
            a: 1,
        },
    );
    let mut bad_header = i_calc2::orpcthis();
    bad_header.flags = 1;
    let bad = c2.twice_blocking(
        ipid,
        i_calc2::TwiceRequest {
            ORPCthis: bad_header,
            a: 1,
        },
    );
    // IUnknown's opnums are never on the wire: out of range.
    let iunknown_opnum = b
        .call_with_object_blocking(
            SyntaxId::new(i_calc2::INTERFACE.uuid, 0, 0),
            1,
            ipid,
            |_, _| Ok(Vec::new()),
        )
        .err()
        .map(|e| e.status().0);
    let _ = child.kill();
    let _ = child.wait();

    assert_eq!(r.code, Some(0), "C -> C: {r:?}");
    assert_eq!(
        iunknown_opnum,
        Some(1745),
        "opnum 1 (AddRef): RPC_S_PROCNUM_OUT_OF_RANGE"
    );
    assert!(r.stdout.contains("0 failures"), "{r:?}");
    let add = add.unwrap();
    assert_eq!((add.sum, add.return_value), (15, 0));
    assert_eq!(add.ORPCthat.flags, 0);
    assert!(add.ORPCthat.extensions.is_null());
    let echo = echo.unwrap();
    assert_eq!(echo.back, Unique::new(WideString::from("wide")));
    assert_eq!(echo.return_value, 0);
    let twice = twice.unwrap();
    assert_eq!((twice.r, twice.return_value as u32), (-6, 0x8007_0057));
    let base = base.unwrap();
    assert_eq!((base.sum, base.return_value), (0, 0));
    // MS-DCOM 3.1.1.5.4.
    assert_eq!(fault(gone), 0x8001_0108, "revoked IPID: RPC_E_DISCONNECTED");
    assert_eq!(
        fault(unknown),
        0x8001_0108,
        "unknown IPID: RPC_E_DISCONNECTED"
    );
    assert_eq!(
        fault(bad),
        0x8001_0111,
        "ORPCTHIS flags 1: RPC_E_INVALID_HEADER"
    );
}

/// C client against C server, both under AddressSanitizer (with LeakSanitizer on the client):
/// the proxies, the server thunks and the objects' vtables without a memory error or a leak.
#[test]
fn c_to_c_under_address_sanitizer() {
    let dir = scratch("com-asan");
    stubs(&idl(), None, &dir);
    let server = build_c(&dir, "com_server", "com_s.c", ASAN);
    let client = build_c(&dir, "com_client", "com_c.c", ASAN);
    let ipid = Uuid::parse_str("0a0b0c0d-1111-2222-3333-444455556666").unwrap();
    let revoked = Uuid::parse_str("0a0b0c0d-1111-2222-3333-444455556667").unwrap();
    let (mut child, port) = start_c_server(&server, &dir, ipid, revoked);
    let r = run(
        &client,
        &[&port.to_string(), &ipid.to_string()],
        &[("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")],
        Duration::from_secs(120),
    );
    let _ = child.kill();
    let _ = child.wait();
    let server_err = std::fs::read_to_string(dir.join("server.err")).unwrap_or_default();
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("0 failures"), "{r:?}");
    assert!(!r.stderr.contains("Sanitizer"), "{r:?}");
    assert!(!server_err.contains("Sanitizer"), "{server_err}");
}

/// MS-DCOM's own IDL (IRemUnknown and IRemUnknown2 are `[object]` interfaces beside the DCE
/// IObjectExporter, IActivation and IRemoteSCMActivator) goes through `msrpc idl --lang c` and
/// its stubs compile with `-Wall -Werror`.
#[test]
fn ms_dcom_idl_compiles_in_c() {
    let dir = scratch("com-ms-dcom");
    // IRemoteSCMActivator's first three methods have no handle (they are not used on the wire).
    let acf = dir.join("ms-dcom.acf");
    std::fs::write(
        &acf,
        "[explicit_handle] interface IRemoteSCMActivator { }\n",
    )
    .unwrap();
    let stem = stubs(
        &root().join("crates/msrpc-idl/tests/specs/ms-dcom.idl"),
        Some(&acf),
        &dir,
    );
    let h = std::fs::read_to_string(dir.join(format!("{stem}.h"))).unwrap();
    assert!(h.contains("} IRemUnknown2Vtbl;"), "{h}");
    std::fs::write(
        dir.join("main.c"),
        format!(
            "#include <stdlib.h>\n#include \"{stem}.h\"\nvoid *MIDL_user_allocate(size_t n) {{ return malloc(n); }}\nvoid MIDL_user_free(void *p) {{ free(p); }}\nint main(void) {{ return IID_IRemUnknown2.Data1 == 0; }}\n"
        ),
    )
    .unwrap();
    let exe = dir.join("main");
    cc(
        &dir,
        &[
            dir.join("main.c"),
            dir.join(format!("{stem}_c.c")),
            dir.join(format!("{stem}_s.c")),
        ],
        &exe,
        &[],
    );
    let r = run(&exe, &[], &[], Duration::from_secs(30));
    assert_eq!(r.code, Some(0), "IID_IRemUnknown2 is 00000143-...: {r:?}");
}
