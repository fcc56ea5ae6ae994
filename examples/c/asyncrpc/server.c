/* The AsyncRPC sample's server, as a Windows programmer writes it: register the interface, listen,
 * serve NonAsyncFunc synchronously and AsyncFunc asynchronously (the manager gets the async handle
 * and completes the call later, from another thread, with RpcAsyncCompleteCall; or aborts it with
 * RpcAsyncAbortCall when RpcServerTestCancel says the client cancelled), stop on Shutdown.
 *
 * Usage: server PORT   (listens on every address unless MSRPC_LISTEN_ADDRESS names one)
 * The worker thread is a pthread where Windows code would call CreateThread. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <windows.h>
#include "asyncrpc.h"

void __RPC_FAR *__RPC_USER MIDL_user_allocate(size_t len) { return malloc(len); }
void __RPC_USER MIDL_user_free(void __RPC_FAR *ptr) { free(ptr); }

void NonAsyncFunc(handle_t hBinding, unsigned char *pszMessage)
{
    (void)hBinding;
    printf("NonAsyncFunc: %s\n", pszMessage);
    fflush(stdout);
}

struct async_work {
    PRPC_ASYNC_STATE pAsync;
    unsigned long delay;
};

static void *async_worker(void *arg)
{
    struct async_work *w = arg;
    unsigned long waited;
    RPC_STATUS status;

    for (waited = 0; waited < w->delay; waited += 10) {
        if (RpcServerTestCancel(RpcAsyncGetCallHandle(w->pAsync)) == RPC_S_OK) {
            status = RpcAsyncAbortCall(w->pAsync, RPC_S_CALL_CANCELLED);
            printf("AsyncFunc: cancelled by the client after %lu ms, RpcAsyncAbortCall returned %ld\n", waited,
                   (long)status);
            fflush(stdout);
            free(w);
            return NULL;
        }
        Sleep(10);
    }
    status = RpcAsyncCompleteCall(w->pAsync, NULL);
    printf("AsyncFunc: completed after %lu ms, RpcAsyncCompleteCall returned %ld\n", w->delay, (long)status);
    fflush(stdout);
    free(w);
    return NULL;
}

void AsyncFunc(PRPC_ASYNC_STATE AsyncFunc_AsyncHandle, handle_t hBinding, unsigned long nAsychDelay)
{
    pthread_t t;
    struct async_work *w = malloc(sizeof *w);
    (void)hBinding;
    if (w == NULL) {
        RpcAsyncAbortCall(AsyncFunc_AsyncHandle, RPC_S_OUT_OF_MEMORY);
        return;
    }
    w->pAsync = AsyncFunc_AsyncHandle;
    w->delay = nAsychDelay;
    if (pthread_create(&t, NULL, async_worker, w) != 0) {
        free(w);
        RpcAsyncAbortCall(AsyncFunc_AsyncHandle, RPC_S_OUT_OF_MEMORY);
        return;
    }
    pthread_detach(t);
}

void Shutdown(handle_t hBinding)
{
    RPC_STATUS status;
    (void)hBinding;
    printf("Calling RpcMgmtStopServerListening\n");
    status = RpcMgmtStopServerListening(NULL);
    printf("RpcMgmtStopServerListening returned: %ld\n", (long)status);
    printf("Calling RpcServerUnregisterIf\n");
    status = RpcServerUnregisterIf(NULL, NULL, FALSE);
    printf("RpcServerUnregisterIf returned %ld\n", (long)status);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    RPC_STATUS status;

    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    status = RpcServerUseProtseqEp((RPC_CSTR)DEFAULT_PROTOCOL_SEQUENCE, RPC_C_PROTSEQ_MAX_REQS_DEFAULT,
                                   (RPC_CSTR)argv[1], NULL);
    printf("RpcServerUseProtseqEp returned %ld\n", (long)status);
    if (status)
        return 1;
    status = RpcServerRegisterIf2(AsyncRPC_v1_0_s_ifspec, NULL, NULL, RPC_IF_ALLOW_CALLBACKS_WITH_NO_AUTH,
                                  RPC_C_LISTEN_MAX_CALLS_DEFAULT, (unsigned)-1, NULL);
    printf("RpcServerRegisterIf2 returned %ld\n", (long)status);
    if (status)
        return 1;
    printf("Calling RpcServerListen\n");
    fflush(stdout);
    status = RpcServerListen(1, RPC_C_LISTEN_MAX_CALLS_DEFAULT, FALSE);
    printf("RpcServerListen returned %ld; server stopped\n", (long)status);
    return status == RPC_S_OK ? 0 : 1;
}
