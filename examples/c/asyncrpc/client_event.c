/* The AsyncRPC sample's client, event style: the code of "Making the asynchronous call"
 * (Microsoft's RPC documentation), verbatim between the two markers below, inside the main()
 * a Windows programmer writes around it. Builds on Linux with
 *
 *     msrpc idl --lang c asyncrpc.idl -o build
 *     cc -Wall -Werror -Ibuild -I../../../crates/msrpc-c/include client_event.c build/asyncrpc_c.c \
 *        -L../../../target/release -lmsrpc_c -o client_event
 *
 * Usage: client_event PORT [DELAY_MS]   (against `msrpc serve --listen ncacn_ip_tcp:127.0.0.1[PORT]`)
 */
#include <stdio.h>
#include <stdlib.h>
#include <windows.h>
#include "asyncrpc.h"

void __RPC_FAR *__RPC_USER MIDL_user_allocate(size_t len) { return malloc(len); }
void __RPC_USER MIDL_user_free(void __RPC_FAR *ptr) { free(ptr); }

int main(int argc, char **argv)
{
    unsigned char *pszStringBinding = NULL;
    unsigned char pszMessage[] = "hello from the page's C code";
    unsigned long nAsychDelay = argc > 2 ? strtoul(argv[2], NULL, 10) : DEFAULT_ASYNC_DELAY_MS;
    unsigned long ulCode;
    RPC_STATUS pending;
    DWORD wait;

    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [DELAY_MS]\n", argv[0]);
        return 2;
    }
    if (RpcStringBindingCompose(NULL, (unsigned char *)DEFAULT_PROTOCOL_SEQUENCE, (unsigned char *)"127.0.0.1",
                                (unsigned char *)argv[1], NULL, &pszStringBinding) ||
        RpcBindingFromStringBinding(pszStringBinding, &AsyncRPC_ClientIfHandle)) {
        fprintf(stderr, "cannot make the binding\n");
        return 1;
    }
    printf("binding %s\n", pszStringBinding);

    /* ---- the page's snippet, verbatim ---- */
RPC_ASYNC_STATE Async;
RPC_STATUS status;
 
// Initialize the handle.
status = RpcAsyncInitializeHandle(&Async, sizeof(RPC_ASYNC_STATE));
if (status)
{
    // Code to handle the error goes here.
}
 
Async.UserInfo = NULL;
Async.NotificationType = RpcNotificationTypeEvent;
 
Async.u.hEvent = CreateEvent(NULL, FALSE, FALSE, NULL);
if (Async.u.hEvent == 0)
{
    // Code to handle the error goes here.
}
// Call an asynchronous RPC routine here
RpcTryExcept
{
    printf("\nCalling the remote procedure 'AsyncFunc'\n");
    AsyncFunc(&Async, AsyncRPC_ClientIfHandle, nAsychDelay);
}
RpcExcept(1)
{
    ulCode = RpcExceptionCode();
    printf("AsyncFunc: Run time reported exception 0x%lx = %ld\n", 
            ulCode, ulCode);
}
RpcEndExcept
 
// Call a synchronous routine while
// the asynchronous procedure is still running
RpcTryExcept
{
    printf("\nCalling the remote procedure 'NonAsyncFunc'\n");
    NonAsyncFunc(AsyncRPC_ClientIfHandle, pszMessage);
    fprintf(stderr, 
            "While 'AsyncFunc' is running asynchronously,\n"
            "we still can send message to the server in the mean "
            "time.\n\n");
}
RpcExcept(1)
{
    ulCode = RpcExceptionCode();
    printf("NonAsyncFunc: Run time reported exception 0x%lx = %ld\n", 
            ulCode, ulCode);
}
RpcEndExcept
    /* ---- end of the page's snippet ---- */

    /* The sample then waits for the event and completes the call. */
    pending = RpcAsyncGetCallStatus(&Async);
    printf("after NonAsyncFunc, AsyncFunc status %ld (%s)\n", (long)pending,
           pending == RPC_S_ASYNC_CALL_PENDING ? "still pending" : "done");
    if (pending == RPC_S_INVALID_ASYNC_HANDLE) {
        /* The call failed as it was made (the exception above): no notification will come. */
        printf("AsyncFunc was never made\n");
        return 1;
    }
    wait = WaitForSingleObject(Async.u.hEvent, 60000);
    if (wait != WAIT_OBJECT_0) {
        printf("AsyncFunc: no completion event (wait %lu)\n", (unsigned long)wait);
        return 1;
    }
    status = RpcAsyncCompleteCall(&Async, NULL);
    printf("AsyncFunc completed: RpcAsyncCompleteCall returned %ld\n", (long)status);

    /* Shutdown: `msrpc serve` without --allow-shutdown refuses it with 5 (access denied). */
    RpcTryExcept
    {
        Shutdown(AsyncRPC_ClientIfHandle);
        printf("Shutdown: accepted\n");
    }
    RpcExcept(1)
    {
        ulCode = RpcExceptionCode();
        printf("Shutdown: Run time reported exception 0x%lx = %ld\n", ulCode, ulCode);
    }
    RpcEndExcept

    CloseHandle(Async.u.hEvent);
    RpcStringFree(&pszStringBinding);
    RpcBindingFree(&AsyncRPC_ClientIfHandle);
    return status == RPC_S_OK ? 0 : 1;
}
