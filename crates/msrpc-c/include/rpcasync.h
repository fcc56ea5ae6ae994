/* rpcasync.h for libmsrpc_c: asynchronous RPC (RPC_ASYNC_STATE and the RpcAsync* functions),
 * with Windows' structure layout and status codes. See docs/c-abi.md. */
#ifndef MSRPC_C_RPCASYNC_H
#define MSRPC_C_RPCASYNC_H

#include <rpc.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RPC_ASYNC_VERSION_1_0 sizeof(RPC_ASYNC_STATE)
#define RPC_ASYNC_SIGNATURE 0x43595341u

/* RPC_ASYNC_STATE.Flags */
#define RPC_C_NOTIFY_ON_SEND_COMPLETE 0x1
#define RPC_C_INFINITE_TIMEOUT INFINITE

typedef enum _RPC_NOTIFICATION_TYPES {
    RpcNotificationTypeNone,
    RpcNotificationTypeEvent,
    RpcNotificationTypeApc,
    RpcNotificationTypeIoc,
    RpcNotificationTypeHwnd,
    RpcNotificationTypeCallback
} RPC_NOTIFICATION_TYPES;

typedef enum _RPC_ASYNC_EVENT {
    RpcCallComplete,
    RpcSendComplete,
    RpcReceiveComplete,
    RpcClientDisconnect,
    RpcClientCancel
} RPC_ASYNC_EVENT;

struct _RPC_ASYNC_STATE;

typedef void RPC_ENTRY RPCNOTIFICATION_ROUTINE(struct _RPC_ASYNC_STATE *pAsync, void *Context,
                                               RPC_ASYNC_EVENT Event);
typedef RPCNOTIFICATION_ROUTINE *PFN_RPCNOTIFICATION_ROUTINE;

typedef union _RPC_ASYNC_NOTIFICATION_INFO {
    struct {
        PFN_RPCNOTIFICATION_ROUTINE NotificationRoutine;
        HANDLE hThread;
    } APC;
    struct {
        HANDLE hIOPort;
        DWORD dwNumberOfBytesTransferred;
        DWORD_PTR dwCompletionKey;
        LPOVERLAPPED lpOverlapped;
    } IOC;
    struct {
        HWND hWnd;
        UINT Msg;
    } HWND;
    HANDLE hEvent;
    PFN_RPCNOTIFICATION_ROUTINE NotificationRoutine;
} RPC_ASYNC_NOTIFICATION_INFO, *PRPC_ASYNC_NOTIFICATION_INFO;

typedef struct _RPC_ASYNC_STATE {
    unsigned int Size;
    ULONG Signature;
    LONG Lock;
    ULONG Flags;
    void *StubInfo;
    void *UserInfo;
    void *RuntimeInfo;
    RPC_ASYNC_EVENT Event;
    RPC_NOTIFICATION_TYPES NotificationType;
    RPC_ASYNC_NOTIFICATION_INFO u;
    LONG_PTR Reserved[4];
} RPC_ASYNC_STATE, *PRPC_ASYNC_STATE;

/* The layout of 64-bit Windows (112 bytes), so code that sizes or copies the structure agrees. */
_Static_assert(sizeof(void *) != 8 || sizeof(RPC_ASYNC_STATE) == 112, "RPC_ASYNC_STATE has Windows x64's layout");

#define RpcAsyncGetCallHandle(pAsync) (((PRPC_ASYNC_STATE)(pAsync))->RuntimeInfo)

RPC_STATUS RPC_ENTRY RpcAsyncInitializeHandle(PRPC_ASYNC_STATE pAsync, unsigned int Size);
RPC_STATUS RPC_ENTRY RpcAsyncGetCallStatus(PRPC_ASYNC_STATE pAsync);
RPC_STATUS RPC_ENTRY RpcAsyncCompleteCall(PRPC_ASYNC_STATE pAsync, void *Reply);
RPC_STATUS RPC_ENTRY RpcAsyncCancelCall(PRPC_ASYNC_STATE pAsync, BOOL fAbortCall);
/* Server side: fault the [async] call with ExceptionCode (the handle is freed). */
RPC_STATUS RPC_ENTRY RpcAsyncAbortCall(PRPC_ASYNC_STATE pAsync, unsigned long ExceptionCode);

/* Server side: be told when an [async] call's client disconnects or cancels, on
 * RpcAsyncGetCallHandle(pAsync), in one of the handle's notification styles (the routines get
 * the async handle, a NULL context and RpcClientDisconnect or RpcClientCancel; a Callback runs
 * on a thread of its own). Until the call is answered. */
typedef enum _RPC_NOTIFICATIONS {
    RpcNotificationCallNone = 0,
    RpcNotificationClientDisconnect = 1,
    RpcNotificationCallCancel = 2
} RPC_NOTIFICATIONS;
RPC_STATUS RPC_ENTRY RpcServerSubscribeForNotification(RPC_BINDING_HANDLE Binding, RPC_NOTIFICATIONS Notification,
                                                       RPC_NOTIFICATION_TYPES NotificationType,
                                                       RPC_ASYNC_NOTIFICATION_INFO *NotificationInfo);
RPC_STATUS RPC_ENTRY RpcServerUnsubscribeForNotification(RPC_BINDING_HANDLE Binding, RPC_NOTIFICATIONS Notification,
                                                         unsigned long *NotificationsQueued);

#ifdef __cplusplus
}
#endif

#endif
