/* AsyncRPC client, APC style: the notification routine is queued to the calling thread
 * (u.APC.hThread = 0) and runs only in an alertable wait, here SleepEx(..., TRUE). A user APC
 * queued with QueueUserAPC runs in the same wait. */
#include "sample.h"

static PRPC_ASYNC_STATE completed_handle;
static RPC_ASYNC_EVENT completed_event = (RPC_ASYNC_EVENT)-1;
static ULONG_PTR user_apc_data;

static void RPC_ENTRY on_complete(PRPC_ASYNC_STATE pAsync, void *Context, RPC_ASYNC_EVENT Event)
{
    (void)Context;
    completed_handle = pAsync;
    completed_event = Event;
}

static void WINAPI user_apc(ULONG_PTR data) { user_apc_data = data; }

int main(int argc, char **argv)
{
    unsigned long nAsychDelay = sample_bind(argc, argv);
    RPC_ASYNC_STATE Async;
    DWORD wait = 0;
    int rounds;

    if (RpcAsyncInitializeHandle(&Async, sizeof(RPC_ASYNC_STATE)))
        return 1;
    Async.UserInfo = NULL;
    Async.NotificationType = RpcNotificationTypeApc;
    Async.u.APC.NotificationRoutine = on_complete;
    Async.u.APC.hThread = 0;
    if (sample_calls(&Async, nAsychDelay))
        return 1;
    /* Not alertable: the call completes meanwhile, but its APC must wait. */
    Sleep(nAsychDelay + 500);
    printf("after a plain Sleep: status %ld, APC ran: %s\n", (long)RpcAsyncGetCallStatus(&Async),
           completed_handle ? "yes" : "no");
    if (!QueueUserAPC(user_apc, GetCurrentThread(), 0x5150))
        printf("QueueUserAPC failed: %lu\n", (unsigned long)GetLastError());
    for (rounds = 0; rounds < 60 && completed_handle == NULL; rounds++)
        wait = SleepEx(1000, TRUE);
    printf("SleepEx returned 0x%lx; APC: handle %s, event %d; user APC data 0x%lx\n", (unsigned long)wait,
           completed_handle == &Async ? "ok" : "wrong", (int)completed_event, (unsigned long)user_apc_data);
    if (completed_handle != &Async || completed_event != RpcCallComplete)
        return 1;
    return sample_end(RpcAsyncCompleteCall(&Async, NULL));
}
