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

#define MSRPC_STUB_VERSION 1u

/* MSRPC_PARAM.flags */
#define MSRPC_P_IN 0x1u
#define MSRPC_P_OUT 0x2u
#define MSRPC_P_RETURN 0x4u
/* The parameter is a top-level pointer in C ([ref] or [unique]) whose pointee is the type. */
#define MSRPC_P_BYREF 0x8u

/* MSRPC_TYPE.kind */
#define MSRPC_T_HANDLE 1u   /* handle_t: not on the wire; the call's binding */
#define MSRPC_T_INT 2u      /* integer: wire_size 1, 2, 4 or 8; signed in flags */
#define MSRPC_T_STRING 3u   /* [string] char* (unit 1) or WCHAR* (unit 2) */
#define MSRPC_T_FLOAT 4u    /* float (mem 4) or double (mem 8) */
#define MSRPC_T_ENUM 5u     /* enum: 16 bits on the NDR20 wire, 32 in NDR64 (v1_enum: 32) */

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

typedef struct _MSRPC_PARAM {
    const char *name;
    unsigned int flags;
    MSRPC_TYPE type;
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

#ifdef __cplusplus
}
#endif

#endif
