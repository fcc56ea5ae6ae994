/* objbase.h: the COM subset of libmsrpc_c (docs/c-abi.md "COM [object] interfaces"): the types
 * and macros MIDL's C interface declarations use, with Windows' values, and msrpc's proxy
 * extension (MsrpcCreateProxy). There is no COM runtime: no CoInitialize, no activation. */
#ifndef MSRPC_OBJBASE_H
#define MSRPC_OBJBASE_H

#include <string.h>

#include <rpc.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef STDMETHODCALLTYPE
#define STDMETHODCALLTYPE
#endif
#ifndef BEGIN_INTERFACE
#define BEGIN_INTERFACE
#define END_INTERFACE
#endif
#ifndef EXTERN_C
#ifdef __cplusplus
#define EXTERN_C extern "C"
#else
#define EXTERN_C extern
#endif
#endif

typedef GUID CLSID;
typedef const IID *REFIID;
typedef const CLSID *REFCLSID;
typedef const GUID *REFGUID;

#define S_OK ((HRESULT)0L)
#define S_FALSE ((HRESULT)1L)
#define E_NOTIMPL ((HRESULT)0x80004001L)
#define E_NOINTERFACE ((HRESULT)0x80004002L)
#define E_POINTER ((HRESULT)0x80004003L)
#define E_ABORT ((HRESULT)0x80004004L)
#define E_FAIL ((HRESULT)0x80004005L)
#define E_UNEXPECTED ((HRESULT)0x8000FFFFL)
#define E_ACCESSDENIED ((HRESULT)0x80070005L)
#define E_OUTOFMEMORY ((HRESULT)0x8007000EL)
#define E_INVALIDARG ((HRESULT)0x80070057L)
#define RPC_E_INVALID_OBJECT ((HRESULT)0x80010114L)
#define RPC_E_DISCONNECTED ((HRESULT)0x80010108L)
#define RPC_E_INVALID_HEADER ((HRESULT)0x80010111L)

#define SUCCEEDED(hr) (((HRESULT)(hr)) >= 0)
#define FAILED(hr) (((HRESULT)(hr)) < 0)
#define FACILITY_WIN32 7
#define HRESULT_CODE(hr) ((hr) & 0xFFFF)
#define HRESULT_FACILITY(hr) (((hr) >> 16) & 0x1fff)
#define HRESULT_FROM_WIN32(x) \
    ((HRESULT)(x) <= 0 ? ((HRESULT)(x)) : ((HRESULT)(((x) & 0x0000FFFF) | (FACILITY_WIN32 << 16) | 0x80000000)))

#define IsEqualGUID(a, b) (memcmp((a), (b), sizeof(GUID)) == 0)
#define IsEqualIID(a, b) IsEqualGUID(a, b)

/* IUnknown (00000000-0000-0000-C000-000000000046), as MIDL's unknwn.h declares it in C. */
typedef struct IUnknown IUnknown;
typedef struct IUnknownVtbl {
    BEGIN_INTERFACE
    HRESULT(STDMETHODCALLTYPE *QueryInterface)(IUnknown *This, REFIID riid, void **ppvObject);
    ULONG(STDMETHODCALLTYPE *AddRef)(IUnknown *This);
    ULONG(STDMETHODCALLTYPE *Release)(IUnknown *This);
    END_INTERFACE
} IUnknownVtbl;
struct IUnknown {
    const struct IUnknownVtbl *lpVtbl;
};
static const IID IID_IUnknown = {0x00000000, 0x0000, 0x0000, {0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}};
#ifdef COBJMACROS
#define IUnknown_QueryInterface(This, riid, ppvObject) ((This)->lpVtbl->QueryInterface(This, riid, ppvObject))
#define IUnknown_AddRef(This) ((This)->lpVtbl->AddRef(This))
#define IUnknown_Release(This) ((This)->lpVtbl->Release(This))
#endif

/* msrpc's extension (MIDL has no such call: activation and OXID resolution make interface
 * pointers, and libmsrpc_c has neither): an interface pointer for the object `ipid` reached
 * through `binding` (the object exporter's), as `riid`, whose proxy the program linked (the
 * interface's STEM_c.c). AddRef/Release count locally; QueryInterface answers IUnknown, riid
 * and riid's bases locally, E_NOINTERFACE otherwise. Methods return the call's HRESULT, or a
 * failed call's status as an HRESULT (HRESULT_FROM_WIN32 unless it already is one); they never
 * raise. */
HRESULT RPC_ENTRY MsrpcCreateProxy(RPC_BINDING_HANDLE binding, const UUID *ipid, REFIID riid, void **ppv);

/* msrpc's server extension (MIDL's servers get objects through CoRegisterClassObject and
 * activation): serve the C object pUnk (its first member the vtable pointer of riid's
 * interface, whose STEM_s.c the program linked) under ipid: RpcServerListen then dispatches
 * calls whose object UUID is ipid, on riid or one of its bases, to its vtable (the interface
 * is registered with the server the first time). The program keeps the object alive until
 * MsrpcRevokeObject; the library takes no reference. A call for an IPID that is not
 * registered faults with RPC_E_DISCONNECTED (MS-DCOM 3.1.1.5.4), one whose ORPCTHIS flags are
 * not 0 with RPC_E_INVALID_HEADER. */
HRESULT RPC_ENTRY MsrpcRegisterObject(const UUID *ipid, REFIID riid, void *pUnk);
HRESULT RPC_ENTRY MsrpcRevokeObject(const UUID *ipid);

#ifdef __cplusplus
}
#endif

#endif
