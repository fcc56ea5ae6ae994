//! libmsrpc_c: the Windows RPC C API on msrpc, so that C programs written for Windows RPC (the
//! page "Making the asynchronous call" and the SDK's AsyncRPC sample among them) build and run on
//! Linux with `cc ... -lmsrpc_c`.
//!
//! The headers are in `include/` (`windows.h` subset, `rpc.h`, `rpcasync.h`, `rpcndr.h`); the
//! stubs come from `msrpc idl --lang c`. Design and decisions (LP64, 16-bit `WCHAR`, exceptions
//! with setjmp/longjmp, the table-driven stub engine) are in `docs/c-abi.md`.
//!
//! Every exported function validates what it can (handles are looked up in tables, never
//! dereferenced as pointers; `RPC_ASYNC_STATE` is checked for its Size and Signature) and
//! returns Windows' status codes. Nothing here unwinds or jumps across a Rust frame: the library
//! returns statuses, and the C stubs raise them.

mod asyncs;
mod binding;
mod com;
mod engine;
mod exc;
mod handles;
mod pipes;
mod rich;
mod server;
mod status;
mod strings;
mod win32;

pub use asyncs::{
    RpcAsyncCancelCall, RpcAsyncCompleteCall, RpcAsyncGetCallStatus, RpcAsyncInitializeHandle,
    RpcAsyncState,
};
pub use binding::{
    RpcBindingCopy, RpcBindingInqAuthInfoA, RpcBindingInqAuthInfoExA, RpcBindingInqAuthInfoExW,
    RpcBindingInqAuthInfoW, RpcBindingReset, RpcBindingServerFromClient,
    RpcBindingToStringBindingA, RpcBindingToStringBindingW,
};
pub use binding::{
    RpcBindingFree, RpcBindingFromStringBindingA, RpcBindingFromStringBindingW,
    RpcBindingInqOption, RpcBindingSetAuthInfoA, RpcBindingSetAuthInfoExA,
    RpcBindingSetAuthInfoExW, RpcBindingSetAuthInfoW, RpcBindingSetOption, RpcSecurityQos,
    RpcStringBindingComposeA, RpcStringBindingComposeW, RpcStringFreeA, RpcStringFreeW,
    SecWinntAuthIdentity,
};
pub use com::{
    MAX_OBJECTS, MAX_PROXIES, MAX_PROXY_IIDS, MsrpcCreateProxy, MsrpcProxyAddRef, MsrpcProxyCall,
    MsrpcProxyInfo, MsrpcProxyQueryInterface, MsrpcProxyRelease, MsrpcRegisterObject,
    MsrpcRegisterProxy, MsrpcRegisterStub, MsrpcRevokeObject, MsrpcServerObject, MsrpcStubInfo,
};
pub use engine::{Guid, MsrpcAsyncClientCall, MsrpcClientCall, MsrpcInterface};
pub use exc::{MsrpcExcPop, MsrpcExcPush, MsrpcExcUnhandled, MsrpcExcUnwind};
pub use rich::MsrpcSsDestroyClientContext;
pub use server::{
    RpcAsyncAbortCall, RpcBindingInqAuthClientA, RpcBindingInqAuthClientExA,
    RpcBindingInqAuthClientExW, RpcBindingInqAuthClientW, RpcBindingVectorFree, RpcEpRegisterA,
    RpcEpRegisterNoReplaceA, RpcEpRegisterNoReplaceW, RpcEpRegisterW, RpcEpUnregister,
    RpcMgmtStopServerListening, RpcMgmtWaitServerListen, RpcServerInqBindings, RpcServerListen,
    RpcServerRegisterAuthInfoA, RpcServerRegisterAuthInfoW, RpcServerRegisterIf,
    RpcServerRegisterIf2, RpcServerRegisterIf3, RpcServerSubscribeForNotification,
    RpcServerTestCancel, RpcServerUnregisterIf, RpcServerUnsubscribeForNotification,
    RpcServerUseProtseqA, RpcServerUseProtseqEpA, RpcServerUseProtseqEpW, RpcServerUseProtseqW,
};
pub use win32::{
    CloseHandle, CreateEventA, CreateEventW, CreateIoCompletionPort, CreateWindowExA,
    DestroyWindow, GetCurrentThread, GetExitCodeThread, GetLastError, GetMessageA, GetMessageW,
    GetQueuedCompletionStatus, Msg, MsrpcCreateThread, MsrpcThreadEnter, MsrpcThreadExitFrame,
    MsrpcThreadExitUnhandled, OpenEventA, OpenEventW, PeekMessageA, PeekMessageW, PostMessageA,
    PostMessageW, PostQueuedCompletionStatus, QueueUserAPC, ResetEvent, SetEvent, SetLastError,
    Sleep, SleepEx, WAIT_ALL_POLL, WaitForMultipleObjects, WaitForSingleObject,
    WaitForSingleObjectEx,
};
pub use win32::{
    GetCurrentThreadId, PostThreadMessageA, PostThreadMessageW, ResumeThread, SuspendThread,
};
