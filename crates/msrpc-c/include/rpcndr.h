/* rpcndr.h for libmsrpc_c: the base types MIDL-generated code uses, MIDL_user_allocate and
 * MIDL_user_free (which the program provides, as on Windows), and the stub descriptors that
 * `msrpc idl --lang c` writes and libmsrpc_c's engine interprets. See docs/c-abi.md. */
#ifndef MSRPC_C_RPCNDR_H
#define MSRPC_C_RPCNDR_H

#include <rpc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef unsigned char byte;
typedef unsigned char boolean;
typedef char small;
typedef long long hyper;
typedef unsigned long long MIDL_uhyper;
typedef unsigned long error_status_t;
typedef WCHAR wchar_t_idl;

void *__RPC_USER MIDL_user_allocate(size_t size);
void __RPC_USER MIDL_user_free(void *ptr);

/* ---- Stub descriptors (written by `msrpc idl --lang c`; not an API for hand-written code) ----
 *
 * The tables describe each operation's parameters in terms of the checked IDL model; the C
 * compiler fills in every C size and offset (sizeof, offsetof), so the engine in libmsrpc_c
 * never assumes a C layout. The engine marshals through msrpc-ndr, the one NDR implementation. */

/* 2: MSRPC_TYPEDESC.rundown; stubs compiled against an older header are refused (87). */
#define MSRPC_STUB_VERSION 2u

/* MSRPC_PARAM.flags */
#define MSRPC_P_IN 0x1u
#define MSRPC_P_OUT 0x2u
#define MSRPC_P_RETURN 0x4u
/* The parameter is a top-level pointer in C ([ref] or [unique]) whose pointee is the type. */
#define MSRPC_P_BYREF 0x8u
/* ACF [comm_status] / [fault_status] on this error_status_t ([out] parameter or return value):
 * a communication failure / a fault from the server is stored here instead of raised. */
#define MSRPC_P_COMM_STATUS 0x10u
#define MSRPC_P_FAULT_STATUS 0x20u

/* MSRPC_TYPE.kind */
#define MSRPC_T_HANDLE 1u   /* handle_t: not on the wire; the call's binding */
#define MSRPC_T_INT 2u      /* integer: wire_size 1, 2, 4 or 8; signed in flags */
#define MSRPC_T_STRING 3u   /* [string] char* (unit 1) or WCHAR* (unit 2) */
#define MSRPC_T_FLOAT 4u    /* float (mem 4) or double (mem 8) */
#define MSRPC_T_ENUM 5u     /* enum: 16 bits on the NDR20 wire, 32 in NDR64 (v1_enum: 32) */
/* A DCE pipe (`typedef pipe T NAME;`): the C object is MIDL's pipe structure (pull, push, alloc,
 * state; mem_size its sizeof), MSRPC_PARAM.desc the element's descriptor. */
#define MSRPC_T_PIPE 7u

/* MSRPC_TYPE.flags */
#define MSRPC_TF_SIGNED 0x1u
#define MSRPC_TF_UNIQUE 0x2u /* a [unique] pointer (NULL allowed); else [ref] */
#define MSRPC_TF_V1ENUM 0x4u

typedef struct _MSRPC_TYPE {
    unsigned short kind;
    unsigned short flags;
    unsigned short wire_size; /* integers: octets on the wire; strings: the unit size */
    unsigned short mem_size;  /* sizeof the C object */
} MSRPC_TYPE;

/* Constructed types (MSRPC_T_DESC parameters): a graph of descriptors, one per named type and
 * one per use of an array, pointer or non-encapsulated union (whose size_is / length_is /
 * switch_is belong to the use). Every C size and offset is sizeof / offsetof; the expressions are
 * C functions the generator writes, evaluated on the struct holding the member (`base`) or on the
 * operation's arguments (`args`, as the client stub passes them). */
#define MSRPC_T_DESC 6u     /* MSRPC_PARAM.desc describes the parameter (its pointee if BYREF) */

#define MSRPC_D_INT 1u      /* wire_size 1, 2, 4, 8, or 0 for __int3264 (4 at NDR20, 8 at NDR64); MSRPC_DF_SIGNED */
#define MSRPC_D_FLOAT 2u    /* mem_size 4 or 8 */
#define MSRPC_D_ENUM 3u     /* 16 bits at NDR20, 32 at NDR64; MSRPC_DF_V1ENUM: always 32 */
#define MSRPC_D_STRING 4u   /* [string]: the characters (wire_size 1 or 2 per unit), NUL-terminated */
#define MSRPC_D_POINTER 5u  /* MSRPC_DF_REF / UNIQUE / FULL; inner: the pointee */
#define MSRPC_D_STRUCT 6u   /* count fields */
#define MSRPC_D_ARRAY 7u    /* inner: element (mem_size: the element's sizeof); count: fixed size */
#define MSRPC_D_UNION 8u    /* inner: discriminant; count arms; MSRPC_DF_ENCAPSULATED */
#define MSRPC_D_CONTEXT 9u  /* [context_handle] (a void * in C; 20 bytes on the wire) */

#define MSRPC_DF_SIGNED 0x1u
#define MSRPC_DF_V1ENUM 0x2u
#define MSRPC_DF_REF 0x4u
#define MSRPC_DF_UNIQUE 0x8u
#define MSRPC_DF_FULL 0x10u
#define MSRPC_DF_CONFORMANT 0x20u
#define MSRPC_DF_VARYING 0x40u
#define MSRPC_DF_ENCAPSULATED 0x80u
#define MSRPC_DF_STRING 0x100u /* a conformant varying array of characters: its length runs to the NUL */
/* MSRPC_D_CONTEXT of a [strict_context_handle] interface: the server accepts only the handles
 * this interface created (others: nca_s_fault_context_mismatch). */
#define MSRPC_DF_STRICT_CONTEXT 0x200u
/* MSRPC_D_CONTEXT declared [context_handle_noserialize] (on its typedef or the interface): calls
 * presenting the handle do not take turns on the server. */
#define MSRPC_DF_NOSERIALIZE 0x400u
/* MSRPC_D_CONTEXT declared [type_strict_context_handle] (typedef or interface): the server
 * accepts only a handle created as the same type (the type's rundown routine identifies it). */
#define MSRPC_DF_TYPE_STRICT_CONTEXT 0x800u

typedef long long (*MSRPC_EXPR)(const void *base, void *const *args);
typedef struct _MSRPC_TYPEDESC MSRPC_TYPEDESC;

typedef struct _MSRPC_FIELD {
    const char *name;
    unsigned int offset; /* offsetof */
    const MSRPC_TYPEDESC *type;
} MSRPC_FIELD;

typedef struct _MSRPC_ARM {
    long long value;
    unsigned int is_default;
    const MSRPC_TYPEDESC *type; /* NULL: an empty arm */
} MSRPC_ARM;

struct _MSRPC_TYPEDESC {
    unsigned short kind;
    unsigned short flags;
    unsigned int wire_size;
    unsigned int mem_size;
    unsigned int count;
    const MSRPC_TYPEDESC *inner;
    const MSRPC_FIELD *fields;
    const MSRPC_ARM *arms;
    MSRPC_EXPR size_is;
    MSRPC_EXPR length_is;
    MSRPC_EXPR first_is;
    MSRPC_EXPR switch_is;
    unsigned int disc_offset; /* encapsulated union: offsetof the discriminant */
    unsigned int arm_offset;  /* encapsulated union: offsetof the union member */
    const char *name;
    void (__RPC_USER *rundown)(void *); /* MSRPC_D_CONTEXT in STEM_s.c: TYPE_rundown, else NULL */
};

typedef struct _MSRPC_PARAM {
    const char *name;
    unsigned int flags;
    MSRPC_TYPE type;
    const MSRPC_TYPEDESC *desc; /* MSRPC_T_DESC only */
} MSRPC_PARAM;

typedef struct _MSRPC_PROC {
    const char *name;
    unsigned short opnum;
    unsigned short is_async;
    unsigned int param_count;
    const MSRPC_PARAM *params; /* in declaration order; the return value last (MSRPC_P_RETURN) */
} MSRPC_PROC;

typedef struct _MSRPC_INTERFACE {
    unsigned int version; /* MSRPC_STUB_VERSION */
    const char *name;
    RPC_SYNTAX_IDENTIFIER id;
    unsigned int proc_count;
    const MSRPC_PROC *procs;
    handle_t *implicit_handle; /* the ACF's implicit_handle global, or NULL */
} MSRPC_INTERFACE;

/* A server thunk (STEM_s.c): calls the manager routine with the unmarshalled parameters
 * (`args[i]` points at the i-th C parameter's value), inside RpcTryExcept; returns the code a
 * manager raised, or 0. */
typedef RPC_STATUS (*MSRPC_SERVER_THUNK)(PRPC_ASYNC_STATE pAsync, void **args, void *ret);

typedef struct _MSRPC_SERVER_INTERFACE {
    const MSRPC_INTERFACE *itf;
    const MSRPC_SERVER_THUNK *thunks; /* one per procedure */
} MSRPC_SERVER_INTERFACE;

/* The engine's entry points, called by the generated client stubs. `args[i]` points at the
 * i-th C parameter; `ret` at the return value's storage (NULL for void). A non-zero status is
 * raised by the stub (RpcRaiseException), never by the library. */
RPC_STATUS RPC_ENTRY MsrpcClientCall(const MSRPC_INTERFACE *itf, unsigned int proc, void **args, void *ret);
RPC_STATUS RPC_ENTRY MsrpcAsyncClientCall(const MSRPC_INTERFACE *itf, unsigned int proc, PRPC_ASYNC_STATE pAsync,
                                          void **args);

/* RpcSsDestroyClientContext: frees a client context handle's record without telling the server
 * (whose rundown runs when the association ends) and sets *ContextHandle to NULL. A pointer that
 * is not a live context handle raises RPC_X_SS_CONTEXT_MISMATCH (6), as on Windows. */
RPC_STATUS RPC_ENTRY MsrpcSsDestroyClientContext(void **ContextHandle);
static inline void RpcSsDestroyClientContext(void **ContextHandle)
{
    RPC_STATUS s = MsrpcSsDestroyClientContext(ContextHandle);
    if (s != 0)
        RpcRaiseException(s);
}

/* COM [object] proxies (STEM_c.c; docs/c-abi.md "COM [object] interfaces"). */
typedef struct _MSRPC_PROXY_INFO {
    unsigned int version; /* MSRPC_STUB_VERSION */
    const IID *const *iids; /* the interface's IID, then its bases' (nearest first), NULL-ended */
    const void *vtbl;
} MSRPC_PROXY_INFO;
RPC_STATUS RPC_ENTRY MsrpcRegisterProxy(const MSRPC_PROXY_INFO *info);
HRESULT RPC_ENTRY MsrpcProxyQueryInterface(void *This, const IID *riid, void **ppv);
ULONG RPC_ENTRY MsrpcProxyAddRef(void *This);
ULONG RPC_ENTRY MsrpcProxyRelease(void *This);
/* One proxy method: sets args[0] (the handle_t) and *cid, calls with the proxy's IPID as the
 * object UUID; S_OK (the method's HRESULT is in *ret) or the failure as an HRESULT. */
HRESULT RPC_ENTRY MsrpcProxyCall(void *This, const MSRPC_INTERFACE *itf, unsigned int proc, GUID *cid, void **args,
                                 void *ret);

/* COM [object] servers (STEM_s.c). */
typedef struct _MSRPC_STUB_INFO {
    unsigned int version; /* MSRPC_STUB_VERSION */
    const IID *const *iids; /* as MSRPC_PROXY_INFO's */
    RPC_IF_HANDLE ifspec; /* the interface's MSRPC_SERVER_INTERFACE */
} MSRPC_STUB_INFO;
RPC_STATUS RPC_ENTRY MsrpcRegisterStub(const MSRPC_STUB_INFO *info);
/* The object a server call (its binding handle) is for, by the call's object UUID, if it was
 * registered for riid or an interface derived from it; NULL otherwise. */
void *RPC_ENTRY MsrpcServerObject(handle_t binding, const IID *riid);

#ifdef __cplusplus
}
#endif

#endif
