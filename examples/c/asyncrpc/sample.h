/* What every AsyncRPC client here shares: the binding from the command line, the allocator MIDL
 * code needs, and the end of the run (Shutdown, which `msrpc serve` refuses with 5, and cleanup). */
#ifndef ASYNCRPC_SAMPLE_H
#define ASYNCRPC_SAMPLE_H

#include <stdio.h>
#include <stdlib.h>
#include <windows.h>
#include "asyncrpc.h"

void __RPC_FAR *__RPC_USER MIDL_user_allocate(size_t len) { return malloc(len); }
void __RPC_USER MIDL_user_free(void __RPC_FAR *ptr) { free(ptr); }

static unsigned char *sample_string_binding;

/* Binds AsyncRPC_ClientIfHandle to 127.0.0.1[argv[1]]; returns the delay (argv[2], ms). */
static inline unsigned long sample_bind(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [DELAY_MS]\n", argv[0]);
        exit(2);
    }
    if (RpcStringBindingCompose(NULL, (unsigned char *)DEFAULT_PROTOCOL_SEQUENCE, (unsigned char *)"127.0.0.1",
                                (unsigned char *)argv[1], NULL, &sample_string_binding) ||
        RpcBindingFromStringBinding(sample_string_binding, &AsyncRPC_ClientIfHandle)) {
        fprintf(stderr, "cannot make the binding\n");
        exit(1);
    }
    printf("binding %s\n", sample_string_binding);
    return argc > 2 ? strtoul(argv[2], NULL, 10) : DEFAULT_ASYNC_DELAY_MS;
}

/* Starts AsyncFunc on pAsync, then NonAsyncFunc while it runs; reports the overlap. Returns 0 when
 * AsyncFunc was made (an exception means it was not, and no notification will come). */
static inline int sample_calls(PRPC_ASYNC_STATE pAsync, unsigned long nAsychDelay)
{
    unsigned char pszMessage[] = "hello from the page's C code";
    volatile int made = 0;
    unsigned long ulCode;
    RPC_STATUS pending;

    RpcTryExcept
    {
        AsyncFunc(pAsync, AsyncRPC_ClientIfHandle, nAsychDelay);
        made = 1;
    }
    RpcExcept(1)
    {
        ulCode = RpcExceptionCode();
        printf("AsyncFunc: Run time reported exception 0x%lx = %ld\n", ulCode, ulCode);
    }
    RpcEndExcept
    RpcTryExcept
    {
        NonAsyncFunc(AsyncRPC_ClientIfHandle, pszMessage);
    }
    RpcExcept(1)
    {
        ulCode = RpcExceptionCode();
        printf("NonAsyncFunc: Run time reported exception 0x%lx = %ld\n", ulCode, ulCode);
    }
    RpcEndExcept
    pending = RpcAsyncGetCallStatus(pAsync);
    printf("after NonAsyncFunc, AsyncFunc status %ld (%s)\n", (long)pending,
           pending == RPC_S_ASYNC_CALL_PENDING ? "still pending" : "done");
    return made ? 0 : 1;
}

/* Shutdown (refused by `msrpc serve` with 5) and cleanup; returns the exit code. */
static inline int sample_end(RPC_STATUS completed)
{
    unsigned long ulCode;
    printf("AsyncFunc completed: RpcAsyncCompleteCall returned %ld\n", (long)completed);
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
    RpcStringFree(&sample_string_binding);
    RpcBindingFree(&AsyncRPC_ClientIfHandle);
    return completed == RPC_S_OK ? 0 : 1;
}

#endif
