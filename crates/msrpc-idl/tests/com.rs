//! COM (DCOM) `[object]` interfaces: base interfaces, opnums, the implicit ORPCTHIS/ORPCTHAT
//! parameters, what an import contributes (types, no stubs), and the errors. The calls
//! themselves, over TCP, are in crates/msrpc/tests/dcom.rs (fixture `tests/fixtures/com.idl`).

use std::path::PathBuf;

fn specs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/specs")
}

fn compile(idl: &str) -> Result<String, msrpc_idl::Diagnostics> {
    msrpc_idl::Builder::new()
        .include_dir(specs())
        .generate_from_str("t.idl", idl, None)
}

#[track_caller]
fn ok(idl: &str) -> String {
    compile(idl).unwrap_or_else(|d| panic!("does not compile:\n{d}"))
}

#[track_caller]
fn err(idl: &str, line: usize, col: usize, msg: &str) {
    let d = compile(idl).expect_err("should not compile");
    let e = d.iter().next().expect("one error");
    assert_eq!((e.line(), e.column()), (line, col), "{d}");
    assert!(e.message().contains(msg), "{:?} lacks {msg:?}", e.message());
}

const DCOM: &str = "import \"ms-dcom.idl\";\n";

fn object(name: &str, base: &str, body: &str) -> String {
    format!(
        "[object, uuid(6b3c1f2e-93a1-4c55-9d0e-5a4f3e2d1c0b), pointer_default(unique)]\n\
         interface {name} : {base}\n{{\n{body}}};\n"
    )
}

/// The `opnum: N` values of the generated INTERFACE of module `m`, in order.
fn opnums(code: &str, m: &str) -> Vec<u16> {
    let start = code
        .find(&format!("pub mod {m} {{"))
        .unwrap_or_else(|| panic!("no module {m}"));
    let ops = &code[start..];
    let ops = &ops[..ops.find("pub const ENDPOINTS").expect("after INTERFACE")];
    ops.match_indices("opnum: ")
        .map(|(i, _)| {
            let n: String = ops[i + 7..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            n.parse().expect("opnum")
        })
        .collect()
}

#[test]
fn opnums_start_after_iunknown_and_continue_from_the_base() {
    let idl = format!(
        "{DCOM}{}{}",
        object(
            "IA",
            "IUnknown",
            "HRESULT One([in] long x);\nHRESULT Two([out] long *y);\n"
        ),
        object("IB", "IA", "HRESULT Three(void);\n").replace("6b3c1f2e", "7b3c1f2e"),
    );
    let code = ok(&idl);
    assert_eq!(opnums(&code, "ia"), [3, 4]);
    // IB inherits One and Two (3, 4); its own Three follows.
    assert_eq!(opnums(&code, "ib"), [3, 4, 5]);
    // The request starts with ORPCthis, the response with ORPCthat; the HRESULT comes last.
    let req = &code[code.find("pub struct OneRequest").unwrap()..];
    let req = &req[..req.find('}').unwrap()];
    assert!(
        req.find("pub ORPCthis: ORPCTHIS").unwrap() < req.find("pub x: i32").unwrap(),
        "{req}"
    );
    let resp = &code[code.find("pub struct TwoResponse").unwrap()..];
    let resp = &resp[..resp.find('}').unwrap()];
    let (that, y, ret) = (
        resp.find("pub ORPCthat: ORPCTHAT").unwrap(),
        resp.find("pub y: i32").unwrap(),
        resp.find("pub return_value: i32").unwrap(),
    );
    assert!(that < y && y < ret, "{resp}");
    // The client takes the IPID and sends it as the object UUID; the server gets the call.
    assert!(code.contains("ipid: rt::Uuid"), "{code}");
    assert!(code.contains(".call_object("), "{code}");
    assert!(code.contains("call: &rt::IncomingCall"), "{code}");
    assert!(code.contains("pub fn orpcthis() -> ORPCTHIS"), "{code}");
    // MS-DCOM's own IUnknown (declared in the import) gets no stubs.
    assert!(!code.contains("pub mod i_unknown"), "{code}");
}

#[test]
fn iunknown_need_not_be_declared() {
    // MS-DCOM's IDL without its IUnknown (as an IDL that imports the SDK's unknwn.idl has it):
    // the base is still known, with its three methods.
    let dcom = std::fs::read_to_string(specs().join("ms-dcom.idl")).expect("ms-dcom.idl");
    let start = dcom
        .find("[\nobject,\nuuid(00000000-0000-0000-C000-000000000046)")
        .expect("IUnknown in ms-dcom.idl");
    let end = start + dcom[start..].find("};\n").expect("its end") + 3;
    let without = format!("{}{}", &dcom[..start], &dcom[end..]);
    assert!(!without.contains("interface IUnknown\n"));
    let code = ok(&format!(
        "{without}{}",
        object("IA", "IUnknown", "HRESULT One(void);\n")
    ));
    assert_eq!(opnums(&code, "ia"), [3]);
    // IRemUnknown (: IUnknown) in the same file starts at 3 as well.
    assert_eq!(opnums(&code, "i_rem_unknown"), [3, 4, 5]);
}

#[test]
fn an_import_gives_types_and_no_stubs() {
    // MS-ICPR imports MS-WCCE: CERTTRANSBLOB comes with it, ICertRequestD's stubs do not.
    let code = msrpc_idl::Builder::new()
        .include_dir(specs())
        .generate(&specs().join("icpr.idl"), None)
        .unwrap_or_else(|d| panic!("{d}"));
    assert!(code.contains("pub struct CERTTRANSBLOB"), "{code}");
    assert!(code.contains("pub mod i_cert_passage"));
    assert!(!code.contains("pub mod i_cert_request_d"));
    assert!(!code.contains("ORPCTHIS"));
    // MS-WCCE itself: ICertRequestD at 3..=5, ICertRequestD2 with those and its own at 6..=9.
    let code = msrpc_idl::Builder::new()
        .include_dir(specs())
        .generate(&specs().join("ms-wcce.idl"), None)
        .unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(opnums(&code, "i_cert_request_d"), [3, 4, 5]);
    assert_eq!(opnums(&code, "i_cert_request_d2"), [3, 4, 5, 6, 7, 8, 9]);
}

#[test]
fn errors() {
    err(
        &object("IA", "IUnknown", "HRESULT One(void);\n"),
        2,
        1,
        "needs MS-DCOM's ORPCTHIS and ORPCTHAT",
    );
    err(
        &format!("{DCOM}{}", object("IA", "INowhere", "HRESULT One(void);\n")),
        3,
        1,
        "base interface `INowhere` of `IA` is not declared",
    );
    err(
        &format!(
            "{DCOM}[uuid(12345678-1234-abcd-ef00-0123456789ab)] interface P {{ void F(void); }}\n{}",
            object("IA", "P", "HRESULT One(void);\n")
        ),
        4,
        1,
        "base interface `P` is not a COM `[object]` interface",
    );
    err(
        &format!(
            "{DCOM}{}{}",
            object("IA", "IB", ""),
            object("IB", "IA", "").replace("6b3c", "7b3c")
        ),
        3,
        1,
        "derives through more than 32 interfaces",
    );
    err(
        "[uuid(12345678-1234-abcd-ef00-0123456789ab)] interface P : Q { void F(void); }\n",
        1,
        46,
        "interface inheritance is only for COM `[object]` interfaces",
    );
    let idl = format!("{DCOM}{}", object("IA", "IUnknown", "HRESULT One(void);\n"));
    let d = msrpc_idl::Builder::new()
        .include_dir(specs())
        .generate_from_str("t.idl", &idl, Some("interface IA { [async] One(); }\n"))
        .expect_err("[async] COM");
    assert!(d.to_string().contains("`[async]` operation `One`"), "{d}");
    // The C stubs give MIDL's C interface (docs/c-abi.md "COM [object] interfaces").
    let c = msrpc_idl::Builder::new()
        .include_dir(specs())
        .generate_c_from_str("t.idl", &idl, None)
        .unwrap();
    assert!(
        c.header.contains(
            "    HRESULT (STDMETHODCALLTYPE *One)(IA *This);\n    END_INTERFACE\n} IAVtbl;"
        ),
        "{}",
        c.header
    );
    assert!(
        c.client
            .contains("MsrpcProxyCall((void *)This, &IA__c_interface, 0,")
    );
    assert!(
        c.server
            .contains("MsrpcServerObject(*(handle_t *)msrpc_args[0], &IID_IA)")
    );
}
