/* rpc.h for libmsrpc_c: the Windows RPC runtime API (rpcdce.h, rpcnterr.h and the exception
 * macros), on msrpc. See docs/c-abi.md. */
#ifndef MSRPC_C_RPC_H
#define MSRPC_C_RPC_H

#include <windows.h>
#include <setjmp.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RPC_ENTRY
#define RPC_VAR_ENTRY
#define __RPC_FAR
#define __RPC_API
#define __RPC_USER
#define __RPC_STUB
#define __RPC_CALLEE

typedef LONG RPC_STATUS;
typedef void *RPC_BINDING_HANDLE;
typedef RPC_BINDING_HANDLE handle_t;
typedef void *RPC_IF_HANDLE;
typedef unsigned char *RPC_CSTR;
typedef unsigned short *RPC_WSTR;
typedef const unsigned char *RPC_CCSTR;
typedef const unsigned short *RPC_CWSTR;
typedef void *RPC_AUTH_IDENTITY_HANDLE;
typedef void *RPC_AUTHZ_HANDLE;

#ifndef GUID_DEFINED
#define GUID_DEFINED
typedef struct _GUID {
    DWORD Data1;
    WORD Data2;
    WORD Data3;
    BYTE Data4[8];
} GUID;
#endif
typedef GUID UUID;
typedef GUID IID;

typedef struct _RPC_VERSION {
    unsigned short MajorVersion;
    unsigned short MinorVersion;
} RPC_VERSION;

typedef struct _RPC_SYNTAX_IDENTIFIER {
    GUID SyntaxGUID;
    RPC_VERSION SyntaxVersion;
} RPC_SYNTAX_IDENTIFIER, *PRPC_SYNTAX_IDENTIFIER;

/* Status codes (Win32 values). */
#define RPC_S_OK 0L
#define RPC_S_ACCESS_DENIED 5L
#define RPC_S_INVALID_HANDLE 6L
#define RPC_S_OUT_OF_MEMORY 14L
#define RPC_S_INVALID_ARG 87L
#define RPC_S_ASYNC_CALL_PENDING 997L
#define RPC_S_TIMEOUT 1460L
#define RPC_S_INVALID_STRING_BINDING 1700L
#define RPC_S_WRONG_KIND_OF_BINDING 1701L
#define RPC_S_INVALID_BINDING 1702L
#define RPC_S_PROTSEQ_NOT_SUPPORTED 1703L
#define RPC_S_INVALID_RPC_PROTSEQ 1704L
#define RPC_S_INVALID_STRING_UUID 1705L
#define RPC_S_INVALID_ENDPOINT_FORMAT 1706L
#define RPC_S_INVALID_NET_ADDR 1707L
#define RPC_S_NO_ENDPOINT_FOUND 1708L
#define RPC_S_ALREADY_REGISTERED 1711L
#define RPC_S_TYPE_ALREADY_REGISTERED 1712L
#define RPC_S_ALREADY_LISTENING 1713L
#define RPC_S_NO_PROTSEQS_REGISTERED 1714L
#define RPC_S_NOT_LISTENING 1715L
#define RPC_S_UNKNOWN_IF 1717L
#define RPC_S_SERVER_UNAVAILABLE 1722L
#define RPC_S_SERVER_TOO_BUSY 1723L
#define RPC_S_NO_CALL_ACTIVE 1725L
#define RPC_S_CALL_FAILED 1726L
#define RPC_S_CALL_FAILED_DNE 1727L
#define RPC_S_PROTOCOL_ERROR 1728L
#define RPC_S_UNSUPPORTED_TRANS_SYN 1730L
#define RPC_S_PROCNUM_OUT_OF_RANGE 1745L
#define RPC_S_CANNOT_SUPPORT 1764L
#define RPC_X_NULL_REF_POINTER 1780L
#define RPC_X_BAD_STUB_DATA 1783L
#define RPC_S_CALL_IN_PROGRESS 1791L
#define RPC_S_CALL_CANCELLED 1818L
#define RPC_S_COMM_FAILURE 1820L
#define RPC_X_INVALID_BOUND 1734L
#define RPC_S_INVALID_ASYNC_HANDLE 1914L
#define RPC_S_INVALID_ASYNC_CALL 1915L
#define EPT_S_NOT_REGISTERED 1753L
#define EPT_S_CANT_PERFORM_OP 1752L
#define RPC_X_SS_CONTEXT_MISMATCH 6L
#define RPC_S_BINDING_HAS_NO_AUTH 1746L
#define RPC_S_UNKNOWN_AUTHN_SERVICE 1747L
#define RPC_S_UNKNOWN_AUTHN_LEVEL 1748L
#define RPC_S_INVALID_AUTH_IDENTITY 1749L
#define RPC_S_UNKNOWN_AUTHZ_SERVICE 1750L
#define ERROR_LOGON_FAILURE 1326L

#define RPC_C_LISTEN_MAX_CALLS_DEFAULT 1234
#define RPC_C_PROTSEQ_MAX_REQS_DEFAULT 10

/* String bindings. The strings the runtime returns are freed with RpcStringFree. */
RPC_STATUS RPC_ENTRY RpcStringBindingComposeA(RPC_CSTR ObjUuid, RPC_CSTR ProtSeq, RPC_CSTR NetworkAddr,
                                              RPC_CSTR Endpoint, RPC_CSTR Options, RPC_CSTR *StringBinding);
RPC_STATUS RPC_ENTRY RpcStringBindingComposeW(RPC_WSTR ObjUuid, RPC_WSTR ProtSeq, RPC_WSTR NetworkAddr,
                                              RPC_WSTR Endpoint, RPC_WSTR Options, RPC_WSTR *StringBinding);
RPC_STATUS RPC_ENTRY RpcBindingFromStringBindingA(RPC_CSTR StringBinding, RPC_BINDING_HANDLE *Binding);
RPC_STATUS RPC_ENTRY RpcBindingFromStringBindingW(RPC_WSTR StringBinding, RPC_BINDING_HANDLE *Binding);
RPC_STATUS RPC_ENTRY RpcStringFreeA(RPC_CSTR *String);
RPC_STATUS RPC_ENTRY RpcStringFreeW(RPC_WSTR *String);
RPC_STATUS RPC_ENTRY RpcBindingFree(RPC_BINDING_HANDLE *Binding);

/* Binding options: RPC_C_OPT_CALL_TIMEOUT (ms, 0 = none; an expired call ends as 1818) and
 * RPC_C_OPT_BINDING_NONCAUSAL. */
#define RPC_C_OPT_BINDING_NONCAUSAL 9
#define RPC_C_OPT_CALL_TIMEOUT 12
RPC_STATUS RPC_ENTRY RpcBindingSetOption(RPC_BINDING_HANDLE hBinding, unsigned long option, ULONG_PTR optionValue);
RPC_STATUS RPC_ENTRY RpcBindingInqOption(RPC_BINDING_HANDLE hBinding, unsigned long option, ULONG_PTR *pOptionValue);

/* Authentication (client). RpcBindingSetAuthInfo(Ex) maps onto msrpc's AuthInfo: NTLM
 * (RPC_C_AUTHN_WINNT, and RPC_C_AUTHN_DEFAULT), SPNEGO (RPC_C_AUTHN_GSS_NEGOTIATE) and Kerberos
 * (RPC_C_AUTHN_GSS_KERBEROS: ServerPrincName is the SPN, the KDC is named by the environment
 * variable MSRPC_KDC, tcp://HOST:PORT; a NULL identity uses the credential cache KRB5CCNAME
 * names). NTLM needs an identity (there is no logged-on user to default to: 1749). A logon the
 * server refuses fails the next call with RPC_S_ACCESS_DENIED (5). See docs/c-abi.md. */
#define RPC_C_AUTHN_LEVEL_DEFAULT 0
#define RPC_C_AUTHN_LEVEL_NONE 1
#define RPC_C_AUTHN_LEVEL_CONNECT 2
#define RPC_C_AUTHN_LEVEL_CALL 3
#define RPC_C_AUTHN_LEVEL_PKT 4
#define RPC_C_AUTHN_LEVEL_PKT_INTEGRITY 5
#define RPC_C_AUTHN_LEVEL_PKT_PRIVACY 6

#define RPC_C_AUTHN_NONE 0
#define RPC_C_AUTHN_GSS_NEGOTIATE 9
#define RPC_C_AUTHN_WINNT 10
#define RPC_C_AUTHN_GSS_KERBEROS 16
#define RPC_C_AUTHN_DEFAULT 0xFFFFFFFFL

#define RPC_C_AUTHZ_NONE 0
#define RPC_C_AUTHZ_NAME 1
#define RPC_C_AUTHZ_DCE 2
#define RPC_C_AUTHZ_DEFAULT 0xFFFFFFFF

/* SEC_WINNT_AUTH_IDENTITY with Windows' layout: lengths are 32-bit, in characters, without the
 * NUL; Flags says which of the two forms it is, whichever function receives it. */
#define SEC_WINNT_AUTH_IDENTITY_ANSI 0x1
#define SEC_WINNT_AUTH_IDENTITY_UNICODE 0x2
typedef struct _SEC_WINNT_AUTH_IDENTITY_A {
    unsigned char *User;
    ULONG UserLength;
    unsigned char *Domain;
    ULONG DomainLength;
    unsigned char *Password;
    ULONG PasswordLength;
    ULONG Flags;
} SEC_WINNT_AUTH_IDENTITY_A, *PSEC_WINNT_AUTH_IDENTITY_A;
typedef struct _SEC_WINNT_AUTH_IDENTITY_W {
    unsigned short *User;
    ULONG UserLength;
    unsigned short *Domain;
    ULONG DomainLength;
    unsigned short *Password;
    ULONG PasswordLength;
    ULONG Flags;
} SEC_WINNT_AUTH_IDENTITY_W, *PSEC_WINNT_AUTH_IDENTITY_W;
#ifdef UNICODE
#define SEC_WINNT_AUTH_IDENTITY SEC_WINNT_AUTH_IDENTITY_W
#define PSEC_WINNT_AUTH_IDENTITY PSEC_WINNT_AUTH_IDENTITY_W
#else
#define SEC_WINNT_AUTH_IDENTITY SEC_WINNT_AUTH_IDENTITY_A
#define PSEC_WINNT_AUTH_IDENTITY PSEC_WINNT_AUTH_IDENTITY_A
#endif

/* RPC_SECURITY_QOS (Windows' layout). Version is checked (1..5); the rest is accepted and not
 * used: msrpc's packages authenticate the client; mutual authentication is Kerberos' own. */
#define RPC_C_SECURITY_QOS_VERSION 1L
#define RPC_C_SECURITY_QOS_VERSION_1 1L
#define RPC_C_QOS_CAPABILITIES_DEFAULT 0x0
#define RPC_C_QOS_CAPABILITIES_MUTUAL_AUTH 0x1
#define RPC_C_QOS_IDENTITY_STATIC 0
#define RPC_C_QOS_IDENTITY_DYNAMIC 1
#define RPC_C_IMP_LEVEL_DEFAULT 0
#define RPC_C_IMP_LEVEL_ANONYMOUS 1
#define RPC_C_IMP_LEVEL_IDENTIFY 2
#define RPC_C_IMP_LEVEL_IMPERSONATE 3
#define RPC_C_IMP_LEVEL_DELEGATE 4
typedef struct _RPC_SECURITY_QOS {
    ULONG Version;
    ULONG Capabilities;
    ULONG IdentityTracking;
    ULONG ImpersonationType;
} RPC_SECURITY_QOS, *PRPC_SECURITY_QOS;

RPC_STATUS RPC_ENTRY RpcBindingSetAuthInfoA(RPC_BINDING_HANDLE Binding, RPC_CSTR ServerPrincName,
                                            unsigned long AuthnLevel, unsigned long AuthnSvc,
                                            RPC_AUTH_IDENTITY_HANDLE AuthIdentity, unsigned long AuthzSvc);
RPC_STATUS RPC_ENTRY RpcBindingSetAuthInfoW(RPC_BINDING_HANDLE Binding, RPC_WSTR ServerPrincName,
                                            unsigned long AuthnLevel, unsigned long AuthnSvc,
                                            RPC_AUTH_IDENTITY_HANDLE AuthIdentity, unsigned long AuthzSvc);
RPC_STATUS RPC_ENTRY RpcBindingSetAuthInfoExA(RPC_BINDING_HANDLE Binding, RPC_CSTR ServerPrincName,
                                              unsigned long AuthnLevel, unsigned long AuthnSvc,
                                              RPC_AUTH_IDENTITY_HANDLE AuthIdentity, unsigned long AuthzSvc,
                                              RPC_SECURITY_QOS *SecurityQOS);
RPC_STATUS RPC_ENTRY RpcBindingSetAuthInfoExW(RPC_BINDING_HANDLE Binding, RPC_WSTR ServerPrincName,
                                              unsigned long AuthnLevel, unsigned long AuthnSvc,
                                              RPC_AUTH_IDENTITY_HANDLE AuthIdentity, unsigned long AuthzSvc,
                                              RPC_SECURITY_QOS *SecurityQOS);
#ifdef UNICODE
#define RpcBindingSetAuthInfo RpcBindingSetAuthInfoW
#define RpcBindingSetAuthInfoEx RpcBindingSetAuthInfoExW
#else
#define RpcBindingSetAuthInfo RpcBindingSetAuthInfoA
#define RpcBindingSetAuthInfoEx RpcBindingSetAuthInfoExA
#endif

/* Servers. RpcServerUseProtseqEp listens on every address, as Windows does, unless the environment
 * variable MSRPC_LISTEN_ADDRESS names one (e.g. 127.0.0.1). Interfaces are the _s_ifspec of
 * `msrpc idl --lang c`. RpcServerRegisterIf2/3 act on RPC_IF_ALLOW_SECURE_ONLY,
 * RPC_IF_ALLOW_CALLBACKS_WITH_NO_AUTH, RPC_IF_ALLOW_LOCAL_ONLY, the security callback (asked on
 * every call, as with RPC_IF_SEC_NO_CACHE), MaxRpcSize (a larger request: 5) and RPC_IF_AUTOLISTEN
 * (served from the registration, no RpcServerListen needed; MaxCalls bounds its calls in
 * progress, beyond: 1723 RPC_S_SERVER_TOO_BUSY); manager types, EPVs and security descriptors
 * are accepted and not used (docs/c-abi.md). Managers get a server binding handle valid during
 * their call. */
#define RPC_IF_AUTOLISTEN 0x0001
#define RPC_IF_OLE 0x0002
#define RPC_IF_ALLOW_UNKNOWN_AUTHORITY 0x0004
#define RPC_IF_ALLOW_SECURE_ONLY 0x0008
#define RPC_IF_ALLOW_CALLBACKS_WITH_NO_AUTH 0x0010
#define RPC_IF_ALLOW_LOCAL_ONLY 0x0020
#define RPC_IF_SEC_NO_CACHE 0x0040
/* The security callback: Context is the call's server binding handle (RpcBindingInqAuthClient
 * takes it); a non-zero return refuses the call with RPC_S_ACCESS_DENIED (5). */
typedef RPC_STATUS RPC_ENTRY RPC_IF_CALLBACK_FN(RPC_IF_HANDLE InterfaceUuid, void *Context);
typedef RPC_IF_CALLBACK_FN RPC_IF_CALLBACK_FN_T;

RPC_STATUS RPC_ENTRY RpcServerUseProtseqEpA(RPC_CSTR Protseq, unsigned int MaxCalls, RPC_CSTR Endpoint,
                                            void *SecurityDescriptor);
RPC_STATUS RPC_ENTRY RpcServerUseProtseqEpW(RPC_WSTR Protseq, unsigned int MaxCalls, RPC_WSTR Endpoint,
                                            void *SecurityDescriptor);
RPC_STATUS RPC_ENTRY RpcServerRegisterIf(RPC_IF_HANDLE IfSpec, UUID *MgrTypeUuid, void *MgrEpv);
RPC_STATUS RPC_ENTRY RpcServerRegisterIf2(RPC_IF_HANDLE IfSpec, UUID *MgrTypeUuid, void *MgrEpv, unsigned int Flags,
                                          unsigned int MaxCalls, unsigned int MaxRpcSize,
                                          RPC_IF_CALLBACK_FN *IfCallbackFn);
RPC_STATUS RPC_ENTRY RpcServerRegisterIf3(RPC_IF_HANDLE IfSpec, UUID *MgrTypeUuid, void *MgrEpv, unsigned int Flags,
                                          unsigned int MaxCalls, unsigned int MaxRpcSize,
                                          RPC_IF_CALLBACK_FN *IfCallback, void *SecurityDescriptor);
RPC_STATUS RPC_ENTRY RpcServerUnregisterIf(RPC_IF_HANDLE IfSpec, UUID *MgrTypeUuid, unsigned int WaitForCallsToComplete);
RPC_STATUS RPC_ENTRY RpcServerListen(unsigned int MinimumCallThreads, unsigned int MaxCalls, unsigned int DontWait);
RPC_STATUS RPC_ENTRY RpcMgmtStopServerListening(RPC_BINDING_HANDLE Binding);
RPC_STATUS RPC_ENTRY RpcMgmtWaitServerListen(void);
/* RpcServerTestCancel: on RpcAsyncGetCallHandle(pAsync), a manager's binding handle, or NULL for
 * the calling thread's synchronous call: RPC_S_OK once the client cancelled, else 1791. */
RPC_STATUS RPC_ENTRY RpcServerTestCancel(RPC_BINDING_HANDLE BindingHandle);

/* Dynamic endpoints and the endpoint mapper. RpcServerUseProtseq listens on an endpoint the
 * runtime picks; RpcServerInqBindings gives the server's bindings with the real endpoints (its
 * first call opens the listeners, so calls are served from then on; register authentication
 * before it); RpcEpRegister / RpcEpUnregister add and remove them at the local endpoint mapper
 * (127.0.0.1, port MSRPC_EPM_PORT or 135), where clients with no endpoint in their binding find
 * them (those clients ask MSRPC_EPM_PORT too). */
typedef struct _RPC_BINDING_VECTOR {
    unsigned long Count;
    RPC_BINDING_HANDLE BindingH[1];
} RPC_BINDING_VECTOR;
typedef struct _UUID_VECTOR {
    unsigned long Count;
    UUID *Uuid[1];
} UUID_VECTOR;
RPC_STATUS RPC_ENTRY RpcServerUseProtseqA(RPC_CSTR Protseq, unsigned int MaxCalls, void *SecurityDescriptor);
RPC_STATUS RPC_ENTRY RpcServerUseProtseqW(RPC_WSTR Protseq, unsigned int MaxCalls, void *SecurityDescriptor);
RPC_STATUS RPC_ENTRY RpcServerInqBindings(RPC_BINDING_VECTOR **BindingVector);
RPC_STATUS RPC_ENTRY RpcBindingVectorFree(RPC_BINDING_VECTOR **BindingVector);
RPC_STATUS RPC_ENTRY RpcEpRegisterA(RPC_IF_HANDLE IfSpec, RPC_BINDING_VECTOR *BindingVector, UUID_VECTOR *UuidVector,
                                    RPC_CSTR Annotation);
RPC_STATUS RPC_ENTRY RpcEpRegisterW(RPC_IF_HANDLE IfSpec, RPC_BINDING_VECTOR *BindingVector, UUID_VECTOR *UuidVector,
                                    RPC_WSTR Annotation);
RPC_STATUS RPC_ENTRY RpcEpRegisterNoReplaceA(RPC_IF_HANDLE IfSpec, RPC_BINDING_VECTOR *BindingVector,
                                             UUID_VECTOR *UuidVector, RPC_CSTR Annotation);
RPC_STATUS RPC_ENTRY RpcEpRegisterNoReplaceW(RPC_IF_HANDLE IfSpec, RPC_BINDING_VECTOR *BindingVector,
                                             UUID_VECTOR *UuidVector, RPC_WSTR Annotation);
RPC_STATUS RPC_ENTRY RpcEpUnregister(RPC_IF_HANDLE IfSpec, RPC_BINDING_VECTOR *BindingVector, UUID_VECTOR *UuidVector);
#ifdef UNICODE
#define RpcServerUseProtseq RpcServerUseProtseqW
#define RpcEpRegister RpcEpRegisterW
#define RpcEpRegisterNoReplace RpcEpRegisterNoReplaceW
#else
#define RpcServerUseProtseq RpcServerUseProtseqA
#define RpcEpRegister RpcEpRegisterA
#define RpcEpRegisterNoReplace RpcEpRegisterNoReplaceA
#endif

/* Server authentication. RpcServerRegisterAuthInfo with RPC_C_AUTHN_WINNT or RPC_C_AUTHN_DEFAULT
 * accepts NTLM logons (directly or in SPNEGO) of the accounts in the users file the environment
 * variable MSRPC_USERS_FILE names (user:password or DOMAIN\user:password lines, as `msrpc serve
 * --users`); with RPC_C_AUTHN_GSS_KERBEROS, tickets for ServerPrincName with the key in the keytab
 * KRB5_KTNAME names; RPC_C_AUTHN_GSS_NEGOTIATE takes whichever of the two is set. Call it before
 * RpcServerListen. */
typedef void(RPC_ENTRY *RPC_AUTH_KEY_RETRIEVAL_FN)(void *Arg, RPC_WSTR ServerPrincName, unsigned long KeyVer,
                                                   void **Key, RPC_STATUS *Status);
RPC_STATUS RPC_ENTRY RpcServerRegisterAuthInfoA(RPC_CSTR ServerPrincName, unsigned long AuthnSvc,
                                                RPC_AUTH_KEY_RETRIEVAL_FN GetKeyFn, void *Arg);
RPC_STATUS RPC_ENTRY RpcServerRegisterAuthInfoW(RPC_WSTR ServerPrincName, unsigned long AuthnSvc,
                                                RPC_AUTH_KEY_RETRIEVAL_FN GetKeyFn, void *Arg);

/* Who called: on the manager's binding handle (or NULL for the calling thread's synchronous
 * call). Privs is the client's name, DOMAIN\user (valid during the call); ServerPrincName is
 * freed with RpcStringFree. RPC_S_BINDING_HAS_NO_AUTH (1746) for an unauthenticated call. */
#define RPC_QUERY_SERVER_PRINCIPAL_NAME 0x02
#define RPC_QUERY_CLIENT_PRINCIPAL_NAME 0x04
RPC_STATUS RPC_ENTRY RpcBindingInqAuthClientA(RPC_BINDING_HANDLE ClientBinding, RPC_AUTHZ_HANDLE *Privs,
                                              RPC_CSTR *ServerPrincName, unsigned long *AuthnLevel,
                                              unsigned long *AuthnSvc, unsigned long *AuthzSvc);
RPC_STATUS RPC_ENTRY RpcBindingInqAuthClientW(RPC_BINDING_HANDLE ClientBinding, RPC_AUTHZ_HANDLE *Privs,
                                              RPC_WSTR *ServerPrincName, unsigned long *AuthnLevel,
                                              unsigned long *AuthnSvc, unsigned long *AuthzSvc);
RPC_STATUS RPC_ENTRY RpcBindingInqAuthClientExA(RPC_BINDING_HANDLE ClientBinding, RPC_AUTHZ_HANDLE *Privs,
                                                RPC_CSTR *ServerPrincName, unsigned long *AuthnLevel,
                                                unsigned long *AuthnSvc, unsigned long *AuthzSvc,
                                                unsigned long Flags);
RPC_STATUS RPC_ENTRY RpcBindingInqAuthClientExW(RPC_BINDING_HANDLE ClientBinding, RPC_AUTHZ_HANDLE *Privs,
                                                RPC_WSTR *ServerPrincName, unsigned long *AuthnLevel,
                                                unsigned long *AuthnSvc, unsigned long *AuthzSvc,
                                                unsigned long Flags);
#ifdef UNICODE
#define RpcServerRegisterAuthInfo RpcServerRegisterAuthInfoW
#define RpcBindingInqAuthClient RpcBindingInqAuthClientW
#define RpcBindingInqAuthClientEx RpcBindingInqAuthClientExW
#else
#define RpcServerRegisterAuthInfo RpcServerRegisterAuthInfoA
#define RpcBindingInqAuthClient RpcBindingInqAuthClientA
#define RpcBindingInqAuthClientEx RpcBindingInqAuthClientExA
#endif

/* The client handle's authentication (what RpcBindingSetAuthInfo(Ex) set: the level and service
 * as the calls use them, the AuthIdentity handle passed, the principal, freed with RpcStringFree,
 * NULL if none was given; RPC_S_BINDING_HAS_NO_AUTH without), its string binding (on a manager's
 * server binding handle: the client's protseq and network address), a copy, and a reset (the
 * endpoint removed: the next call asks the endpoint mapper). */
RPC_STATUS RPC_ENTRY RpcBindingInqAuthInfoA(RPC_BINDING_HANDLE Binding, RPC_CSTR *ServerPrincName,
                                            unsigned long *AuthnLevel, unsigned long *AuthnSvc,
                                            RPC_AUTH_IDENTITY_HANDLE *AuthIdentity, unsigned long *AuthzSvc);
RPC_STATUS RPC_ENTRY RpcBindingInqAuthInfoW(RPC_BINDING_HANDLE Binding, RPC_WSTR *ServerPrincName,
                                            unsigned long *AuthnLevel, unsigned long *AuthnSvc,
                                            RPC_AUTH_IDENTITY_HANDLE *AuthIdentity, unsigned long *AuthzSvc);
RPC_STATUS RPC_ENTRY RpcBindingInqAuthInfoExA(RPC_BINDING_HANDLE Binding, RPC_CSTR *ServerPrincName,
                                              unsigned long *AuthnLevel, unsigned long *AuthnSvc,
                                              RPC_AUTH_IDENTITY_HANDLE *AuthIdentity, unsigned long *AuthzSvc,
                                              unsigned long RpcQosVersion, RPC_SECURITY_QOS *SecurityQOS);
RPC_STATUS RPC_ENTRY RpcBindingInqAuthInfoExW(RPC_BINDING_HANDLE Binding, RPC_WSTR *ServerPrincName,
                                              unsigned long *AuthnLevel, unsigned long *AuthnSvc,
                                              RPC_AUTH_IDENTITY_HANDLE *AuthIdentity, unsigned long *AuthzSvc,
                                              unsigned long RpcQosVersion, RPC_SECURITY_QOS *SecurityQOS);
RPC_STATUS RPC_ENTRY RpcBindingToStringBindingA(RPC_BINDING_HANDLE Binding, RPC_CSTR *StringBinding);
RPC_STATUS RPC_ENTRY RpcBindingToStringBindingW(RPC_BINDING_HANDLE Binding, RPC_WSTR *StringBinding);
RPC_STATUS RPC_ENTRY RpcBindingCopy(RPC_BINDING_HANDLE SourceBinding, RPC_BINDING_HANDLE *DestinationBinding);
RPC_STATUS RPC_ENTRY RpcBindingReset(RPC_BINDING_HANDLE Binding);
/* On a manager's binding handle (or NULL in a synchronous manager): a partially-bound handle to
 * the caller (its address, no endpoint, no authentication); RPC_S_CANNOT_SUPPORT for ncalrpc. */
RPC_STATUS RPC_ENTRY RpcBindingServerFromClient(RPC_BINDING_HANDLE ClientBinding, RPC_BINDING_HANDLE *ServerBinding);
#ifdef UNICODE
#define RpcBindingInqAuthInfo RpcBindingInqAuthInfoW
#define RpcBindingInqAuthInfoEx RpcBindingInqAuthInfoExW
#define RpcBindingToStringBinding RpcBindingToStringBindingW
#else
#define RpcBindingInqAuthInfo RpcBindingInqAuthInfoA
#define RpcBindingInqAuthInfoEx RpcBindingInqAuthInfoExA
#define RpcBindingToStringBinding RpcBindingToStringBindingA
#endif

#ifdef UNICODE
#define RpcServerUseProtseqEp RpcServerUseProtseqEpW
#else
#define RpcServerUseProtseqEp RpcServerUseProtseqEpA
#endif

#ifdef UNICODE
#define RpcStringBindingCompose RpcStringBindingComposeW
#define RpcBindingFromStringBinding RpcBindingFromStringBindingW
#define RpcStringFree RpcStringFreeW
#else
#define RpcStringBindingCompose RpcStringBindingComposeA
#define RpcBindingFromStringBinding RpcBindingFromStringBindingA
#define RpcStringFree RpcStringFreeA
#endif

/* ---- Exceptions: RpcTryExcept / RpcExcept / RpcEndExcept, RpcTryFinally ----------------------
 *
 * Windows implements these with structured exception handling; here they are setjmp/longjmp.
 * Each RpcTryExcept pushes a frame on the calling thread's frame stack in libmsrpc_c;
 * RpcRaiseException pops the innermost frame and longjmps to it from C code (this header),
 * never across a Rust frame: the library's own functions return a status and the generated
 * stubs raise it. A raise with no frame, or from a routine the library calls back (an APC, a
 * notification callback, a manager routine) with no frame of its own inside that routine,
 * prints the code and aborts the process, as an unhandled exception ends a Windows process.
 *
 * Caveats of setjmp: a local variable changed inside the RpcTryExcept block and read in the
 * handler must be `volatile`; do not leave the block with return, goto or break (the frame
 * would stay pushed; the next raise on the thread pops it and jumps into a dead stack frame). */

typedef struct _MSRPC_EXC_FRAME {
    volatile RPC_STATUS code;
    volatile int abnormal;
    jmp_buf jb;
} MSRPC_EXC_FRAME;

void RPC_ENTRY MsrpcExcPush(MSRPC_EXC_FRAME *frame);
void RPC_ENTRY MsrpcExcPop(MSRPC_EXC_FRAME *frame);
MSRPC_EXC_FRAME *RPC_ENTRY MsrpcExcUnwind(void);
__attribute__((noreturn)) void RPC_ENTRY MsrpcExcUnhandled(RPC_STATUS code);

__attribute__((noreturn)) static inline void RpcRaiseException(RPC_STATUS exception)
{
    MSRPC_EXC_FRAME *frame = MsrpcExcUnwind();
    if (frame == NULL)
        MsrpcExcUnhandled(exception);
    frame->code = exception;
    longjmp(frame->jb, 1);
}

#define EXCEPTION_EXECUTE_HANDLER 1
#define EXCEPTION_CONTINUE_SEARCH 0

#define RpcTryExcept                                                                              \
    {                                                                                             \
        MSRPC_EXC_FRAME __msrpc_frame;                                                            \
        MsrpcExcPush(&__msrpc_frame);                                                             \
        if (setjmp(__msrpc_frame.jb) == 0) {

#define RpcExcept(filter)                                                                         \
        MsrpcExcPop(&__msrpc_frame);                                                              \
        } else if (!(filter)) {                                                                   \
            RpcRaiseException(__msrpc_frame.code);                                                \
        } else {

#define RpcEndExcept                                                                              \
        }                                                                                         \
    }

#define RpcExceptionCode() (__msrpc_frame.code)

#define RpcTryFinally                                                                             \
    {                                                                                             \
        MSRPC_EXC_FRAME __msrpc_frame;                                                            \
        __msrpc_frame.abnormal = 0;                                                               \
        MsrpcExcPush(&__msrpc_frame);                                                             \
        if (setjmp(__msrpc_frame.jb) == 0) {

#define RpcFinally                                                                                \
        MsrpcExcPop(&__msrpc_frame);                                                              \
        } else {                                                                                  \
            __msrpc_frame.abnormal = 1;                                                           \
        }                                                                                         \
        {

#define RpcEndFinally                                                                             \
        }                                                                                         \
        if (__msrpc_frame.abnormal)                                                               \
            RpcRaiseException(__msrpc_frame.code);                                                \
    }

#define RpcAbnormalTermination() (__msrpc_frame.abnormal)

#ifdef __cplusplus
}
#endif

#include <rpcasync.h>
#include <rpcndr.h>

#endif
