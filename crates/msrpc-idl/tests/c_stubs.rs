//! `msrpc idl --lang c`: MIDL's names in the C stubs, and clear errors for what the C stubs do not
//! support yet. (The stubs are compiled and run against real servers in crates/msrpc-c's tests.)

#![allow(clippy::unwrap_used)]

const IDL: &str = r#"
[uuid(7f6c4340-eb67-11d1-b9d7-00c04fad9a3b), version(1.0), pointer_default(unique)]
interface AsyncRPC
{
    const unsigned long DEFAULT_ASYNC_DELAY_MS = 10000;
    void NonAsyncFunc([in] handle_t hBinding, [in, string] unsigned char *pszMessage);
    void AsyncFunc([in] handle_t hBinding, [in] unsigned long nAsychDelay);
    void Shutdown([in] handle_t hBinding);
}
"#;

#[test]
fn midl_names() {
    let acf = "[implicit_handle(handle_t AsyncRPC_ClientIfHandle)] interface AsyncRPC { [async] AsyncFunc(); }";
    let s = msrpc_idl::Builder::new()
        .generate_c_from_str("asyncrpc.idl", IDL, Some(acf))
        .unwrap();
    assert_eq!(s.stem, "asyncrpc");
    for want in [
        "#define DEFAULT_ASYNC_DELAY_MS (10000)",
        "extern handle_t AsyncRPC_ClientIfHandle;",
        "void NonAsyncFunc(handle_t hBinding, unsigned char *pszMessage);",
        "void AsyncFunc(PRPC_ASYNC_STATE AsyncFunc_AsyncHandle, handle_t hBinding, unsigned long nAsychDelay);",
        "void Shutdown(handle_t hBinding);",
        "extern RPC_IF_HANDLE AsyncRPC_v1_0_c_ifspec;",
        "extern RPC_IF_HANDLE AsyncRPC_v1_0_s_ifspec;",
    ] {
        assert!(s.header.contains(want), "{want}\n{}", s.header);
    }
    assert!(s.client.contains("#include \"asyncrpc.h\""));
    assert!(s.client.contains("handle_t AsyncRPC_ClientIfHandle;"));
    assert!(s.client.contains("RPC_IF_HANDLE AsyncRPC_v1_0_c_ifspec ="));
    // The UUID's fields and the version, as the engine binds to them.
    assert!(s.client.contains(
        "0x7f6c4340, 0xeb67, 0x11d1, { 0xb9, 0xd7, 0x00, 0xc0, 0x4f, 0xad, 0x9a, 0x3b }"
    ));
    // Wire size from the IDL (4), C size from the compiler.
    assert!(
        s.client
            .contains("{ MSRPC_T_INT, 0, 4, sizeof(unsigned long) }")
    );
    assert!(s.client.contains(
        "MsrpcAsyncClientCall(&AsyncRPC__c_interface, 1, AsyncFunc_AsyncHandle, msrpc_args)"
    ));
    assert!(s.server.contains("RPC_IF_HANDLE AsyncRPC_v1_0_s_ifspec ="));
    assert!(s.server.contains(
        "AsyncFunc(msrpc_async, *(handle_t *)msrpc_args[0], *(unsigned long *)msrpc_args[1]);"
    ));
}

#[test]
fn explicit_handle_adds_idl_handle() {
    let idl = "[uuid(11111111-2222-3333-4444-555555555555), version(1.0)] interface T { long F([in] long x); }";
    let s = msrpc_idl::Builder::new()
        .generate_c_from_str("t.idl", idl, Some("[explicit_handle] interface T { }"))
        .unwrap();
    assert!(
        s.header.contains("long F(handle_t IDL_handle, long x);"),
        "{}",
        s.header
    );
}

#[test]
fn structures_get_typedefs_and_offsetof_tables() {
    let idl = "[uuid(11111111-2222-3333-4444-555555555555), version(1.0)] interface T { typedef struct { long n; [size_is(n)] short a[]; } S; void F([in] handle_t h, [in] S *s); }";
    let s = msrpc_idl::Builder::new()
        .generate_c_from_str("t.idl", idl, None)
        .unwrap();
    assert!(s.header.contains("typedef struct _S S;"), "{}", s.header);
    assert!(s.header.contains("    short a[1];"), "{}", s.header);
    assert!(s.client.contains("offsetof(S, a)"), "{}", s.client);
    assert!(s.client.contains("MSRPC_DF_CONFORMANT"), "{}", s.client);
    assert!(s.client.contains("return (long long)s->n;"), "{}", s.client);
}

#[test]
fn unsupported_constructs_are_errors() {
    // [auto_handle] is still refused (__int3264 is supported now).
    let idl = "[uuid(11111111-2222-3333-4444-555555555555), version(1.0)] interface T { void F([in] long x); }";
    let acf = "[auto_handle] interface T {}";
    let e = msrpc_idl::Builder::new()
        .generate_c_from_str("t.idl", idl, Some(acf))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("T::F: [auto_handle] is not supported by the C stubs")
            && e.contains("RPC name service"),
        "{e}"
    );
    let idl = "[uuid(11111111-2222-3333-4444-555555555555), version(1.0)] interface T { void F([in] long x); }";
    let e = msrpc_idl::Builder::new()
        .generate_c_from_str("t.idl", idl, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("has no binding handle"), "{e}");
}

#[test]
fn context_handles_bind_and_name_their_rundown() {
    // No handle_t: the [in] context handle is the binding. The server's tables name
    // PCTX_rundown (declared in the header, as MIDL does); the client's have none.
    let idl = "[uuid(11111111-2222-3333-4444-555555555555), version(1.0)] interface T { typedef [context_handle] void *PCTX; long Open([in] handle_t h, [out] PCTX *c); long Use([in] PCTX c); long Close([in, out] PCTX *c); }";
    let s = msrpc_idl::Builder::new()
        .generate_c_from_str("t.idl", idl, None)
        .unwrap();
    assert!(s.header.contains("long Use(PCTX c);"), "{}", s.header);
    assert!(
        s.header.contains("void __RPC_USER PCTX_rundown(PCTX);"),
        "{}",
        s.header
    );
    assert!(s.server.contains("#define MSRPC_CTX_RUNDOWN(f) (f)"));
    assert!(s.client.contains("#define MSRPC_CTX_RUNDOWN(f) NULL"));
    assert!(
        s.server
            .contains(".rundown = MSRPC_CTX_RUNDOWN(PCTX_rundown)")
    );
    // An [out]-only context handle is no binding.
    let idl = "[uuid(11111111-2222-3333-4444-555555555555), version(1.0)] interface T { typedef [context_handle] void *PCTX; long Open([out] PCTX *c); }";
    let e = msrpc_idl::Builder::new()
        .generate_c_from_str("t.idl", idl, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("has no binding handle"), "{e}");
}

#[test]
fn comm_and_fault_status_flag_their_rows() {
    let idl = "[uuid(11111111-2222-3333-4444-555555555555), version(1.0)] interface T { long F([in] handle_t h, [out] error_status_t *st); error_status_t G([in] handle_t h); long H([in] handle_t h, [out] long *n); }";
    let s = msrpc_idl::Builder::new()
        .generate_c_from_str(
            "t.idl",
            idl,
            Some("interface T { F([comm_status] st); [fault_status] G(); }"),
        )
        .unwrap();
    assert!(
        s.client
            .contains("{ \"st\", MSRPC_P_OUT | MSRPC_P_BYREF | MSRPC_P_COMM_STATUS, {"),
        "{}",
        s.client
    );
    assert!(
        s.client
            .contains("{ \"return\", MSRPC_P_RETURN | MSRPC_P_FAULT_STATUS, {"),
        "{}",
        s.client
    );
    // On a parameter that is not an [out] error_status_t: an error naming it.
    let e = msrpc_idl::Builder::new()
        .generate_c_from_str("t.idl", idl, Some("interface T { H([comm_status] n); }"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("T::H") && e.contains("`n` is neither"), "{e}");
}

#[test]
fn pipes_get_midl_s_structure_and_async_pipes_are_refused() {
    let idl = "[uuid(11111111-2222-3333-4444-555555555555), version(1.0)] interface T { typedef pipe unsigned char BP; void F([in] handle_t h, [in] BP *data); void G([in] handle_t h, [in] BP data); }";
    let s = msrpc_idl::Builder::new()
        .generate_c_from_str("t.idl", idl, None)
        .unwrap();
    // MIDL's pipe structure, by value and through a pointer.
    assert!(
        s.header.contains(
            "typedef struct pipe_BP {\n    void (__RPC_USER *pull)(char *state, unsigned char *buf, unsigned long esize, unsigned long *ecount);\n    void (__RPC_USER *push)(char *state, unsigned char *buf, unsigned long ecount);\n    void (__RPC_USER *alloc)(char *state, unsigned long bsize, unsigned char **buf, unsigned long *bcount);\n    char *state;\n} BP;"
        ),
        "{}",
        s.header
    );
    assert!(
        s.header.contains("void F(handle_t h, BP *data);"),
        "{}",
        s.header
    );
    assert!(
        s.header.contains("void G(handle_t h, BP data);"),
        "{}",
        s.header
    );
    assert!(
        s.client.contains(
            "{ \"data\", MSRPC_P_IN | MSRPC_P_BYREF, { MSRPC_T_PIPE, 0, 0, sizeof(BP) }, "
        ),
        "{}",
        s.client
    );
    assert!(
        s.client
            .contains("{ \"data\", MSRPC_P_IN, { MSRPC_T_PIPE, 0, 0, sizeof(BP) }, "),
        "{}",
        s.client
    );
    // An [async] operation with a pipe (MIDL's RpcAsyncPull/RpcAsyncPush): refused, naming it.
    let acf = "interface T { [async] F(); }";
    let e = msrpc_idl::Builder::new()
        .generate_c_from_str("t.idl", idl, Some(acf))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "T::F: a DCE pipe (`data`) on an [async] operation is not supported by the C stubs yet"
        ),
        "{e}"
    );
}
