/* AsyncRPC client, callback style: the routine runs on a runtime thread when the call completes;
 * it completes the call there and signals the main thread with an event. */
#include "sample.h"

static HANDLE done;
static volatile RPC_STATUS completed = -1;

static void RPC_ENTRY on_complete(PRPC_ASYNC_STATE pAsync, void *Context, RPC_ASYNC_EVENT Event)
{
    (void)Context;
    if (Event == RpcCallComplete)
        completed = RpcAsyncCompleteCall(pAsync, NULL);
    SetEvent(done);
}

int main(int argc, char **argv)
{
    unsigned long nAsychDelay = sample_bind(argc, argv);
    RPC_ASYNC_STATE Async;

    done = CreateEvent(NULL, TRUE, FALSE, NULL);
    if (done == NULL || RpcAsyncInitializeHandle(&Async, sizeof(RPC_ASYNC_STATE)))
        return 1;
    Async.UserInfo = NULL;
    Async.NotificationType = RpcNotificationTypeCallback;
    Async.u.NotificationRoutine = on_complete;
    if (sample_calls(&Async, nAsychDelay))
        return 1;
    if (WaitForSingleObject(done, 60000) != WAIT_OBJECT_0) {
        printf("the callback never ran\n");
        return 1;
    }
    /* Completed in the callback; a second completion has nothing left to take. */
    printf("second RpcAsyncCompleteCall: %ld\n", (long)RpcAsyncCompleteCall(&Async, NULL));
    CloseHandle(done);
    return sample_end(completed);
}
