/* AsyncRPC client, polling style: NotificationType None, RpcAsyncGetCallStatus until it stops
 * returning RPC_S_ASYNC_CALL_PENDING (the page: "uses more CPU time than the other methods"). */
#include "sample.h"

int main(int argc, char **argv)
{
    unsigned long nAsychDelay = sample_bind(argc, argv);
    RPC_ASYNC_STATE Async;
    RPC_STATUS status;
    int polls = 0;

    if (RpcAsyncInitializeHandle(&Async, sizeof(RPC_ASYNC_STATE)))
        return 1;
    Async.UserInfo = NULL;
    Async.NotificationType = RpcNotificationTypeNone;
    if (sample_calls(&Async, nAsychDelay))
        return 1;
    /* Bounded: at most 60 s of 10 ms polls. */
    while ((status = RpcAsyncGetCallStatus(&Async)) == RPC_S_ASYNC_CALL_PENDING && polls < 6000) {
        Sleep(10);
        polls++;
    }
    printf("polled %d times; RpcAsyncGetCallStatus returned %ld\n", polls, (long)status);
    return sample_end(RpcAsyncCompleteCall(&Async, NULL));
}
