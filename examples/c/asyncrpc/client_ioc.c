/* AsyncRPC client, I/O completion port style: the runtime posts a packet with the handle's three
 * values to the port; GetQueuedCompletionStatus returns them. */
#include "sample.h"

int main(int argc, char **argv)
{
    unsigned long nAsychDelay = sample_bind(argc, argv);
    RPC_ASYNC_STATE Async;
    OVERLAPPED ov;
    HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    DWORD bytes = 0;
    ULONG_PTR key = 0;
    LPOVERLAPPED pov = NULL;
    BOOL got;

    if (port == NULL || RpcAsyncInitializeHandle(&Async, sizeof(RPC_ASYNC_STATE)))
        return 1;
    Async.UserInfo = NULL;
    Async.NotificationType = RpcNotificationTypeIoc;
    Async.u.IOC.hIOPort = port;
    Async.u.IOC.dwNumberOfBytesTransferred = 42;
    Async.u.IOC.dwCompletionKey = 7;
    Async.u.IOC.lpOverlapped = &ov;
    if (sample_calls(&Async, nAsychDelay))
        return 1;
    got = GetQueuedCompletionStatus(port, &bytes, &key, &pov, 60000);
    printf("GetQueuedCompletionStatus: %d bytes=%lu key=%lu overlapped %s\n", got, (unsigned long)bytes,
           (unsigned long)key, pov == &ov ? "ok" : "wrong");
    if (!got || bytes != 42 || key != 7 || pov != &ov)
        return 1;
    CloseHandle(port);
    return sample_end(RpcAsyncCompleteCall(&Async, NULL));
}
