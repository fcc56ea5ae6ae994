/* Misuse from C gets Windows' status codes, never a crash: each check prints
 * `ok NAME: got G` or `FAIL NAME: got G, want W`; the exit status is the number of failures.
 * `misuse PORT` runs the checks against `msrpc serve`; `misuse PORT unhandled` raises an
 * exception no RpcTryExcept catches (the process aborts, as an unhandled exception ends a Windows
 * process). */
#include <string.h>
#include "sample.h"

static int failures;

static void check(const char *name, long got, long want)
{
    if (got == want) {
        printf("ok %s: got %ld\n", name, got);
    } else {
        printf("FAIL %s: got %ld, want %ld\n", name, got, want);
        failures++;
    }
}

/* AsyncFunc on pAsync; the exception code it raises, or 0. */
static RPC_STATUS try_async(PRPC_ASYNC_STATE pAsync, unsigned long delay)
{
    volatile RPC_STATUS code = 0;
    RpcTryExcept
    {
        AsyncFunc(pAsync, AsyncRPC_ClientIfHandle, delay);
    }
    RpcExcept(1)
    {
        code = RpcExceptionCode();
    }
    RpcEndExcept
    return code;
}

static RPC_STATUS try_sync(handle_t h, unsigned char *msg)
{
    volatile RPC_STATUS code = 0;
    RpcTryExcept
    {
        NonAsyncFunc(h, msg);
    }
    RpcExcept(1)
    {
        code = RpcExceptionCode();
    }
    RpcEndExcept
    return code;
}

static RPC_STATUS wait_and_complete(PRPC_ASYNC_STATE pAsync)
{
    if (WaitForSingleObject(pAsync->u.hEvent, 60000) != WAIT_OBJECT_0)
        return -1;
    return RpcAsyncCompleteCall(pAsync, NULL);
}

int main(int argc, char **argv)
{
    RPC_ASYNC_STATE A, B;
    HANDLE ev;
    unsigned char msg[] = "misuse";
    unsigned char not_ours[] = "not the runtime's";
    unsigned char *p = not_ours;
    RPC_BINDING_HANDLE copy;

    sample_bind(argc, argv);
    if (argc > 2 && strcmp(argv[2], "unhandled") == 0) {
        printf("raising 0x6f7 with no handler\n");
        fflush(stdout);
        RpcRaiseException(RPC_X_BAD_STUB_DATA);
    }
    ev = CreateEvent(NULL, FALSE, FALSE, NULL);

    /* Size and NULL. */
    check("initialize with Size too small", RpcAsyncInitializeHandle(&A, sizeof(A) - 8), RPC_S_INVALID_ARG);
    check("initialize with Size too large", RpcAsyncInitializeHandle(&A, sizeof(A) + 8), RPC_S_INVALID_ARG);
    check("initialize NULL", RpcAsyncInitializeHandle(NULL, sizeof(A)), RPC_S_INVALID_ASYNC_HANDLE);

    /* A handle never initialised: zeroed, then garbage. */
    memset(&B, 0, sizeof(B));
    B.NotificationType = RpcNotificationTypeEvent;
    B.u.hEvent = ev;
    check("call on a zeroed handle", try_async(&B, 10), RPC_S_INVALID_ASYNC_HANDLE);
    check("status of a zeroed handle", RpcAsyncGetCallStatus(&B), RPC_S_INVALID_ASYNC_HANDLE);
    check("complete a zeroed handle", RpcAsyncCompleteCall(&B, NULL), RPC_S_INVALID_ASYNC_HANDLE);
    check("cancel a zeroed handle", RpcAsyncCancelCall(&B, FALSE), RPC_S_INVALID_ASYNC_HANDLE);
    memset(&B, 0xAB, sizeof(B));
    check("call on a garbage handle", try_async(&B, 10), RPC_S_INVALID_ASYNC_HANDLE);
    check("complete a garbage handle", RpcAsyncCompleteCall(&B, NULL), RPC_S_INVALID_ASYNC_HANDLE);
    check("complete NULL", RpcAsyncCompleteCall(NULL, NULL), RPC_S_INVALID_ASYNC_HANDLE);

    /* An initialised handle with no call yet. */
    check("initialize", RpcAsyncInitializeHandle(&A, sizeof(A)), RPC_S_OK);
    A.UserInfo = NULL;
    A.NotificationType = RpcNotificationTypeEvent;
    A.u.hEvent = ev;
    check("status before any call", RpcAsyncGetCallStatus(&A), RPC_S_INVALID_ASYNC_HANDLE);
    check("complete before any call", RpcAsyncCompleteCall(&A, NULL), RPC_S_INVALID_ASYNC_HANDLE);

    /* A pending handle reused. */
    check("start AsyncFunc", try_async(&A, 1500), 0);
    check("status while pending", RpcAsyncGetCallStatus(&A), RPC_S_ASYNC_CALL_PENDING);
    check("second call on the pending handle", try_async(&A, 10), RPC_S_INVALID_ASYNC_HANDLE);
    check("re-initialise the pending handle", RpcAsyncInitializeHandle(&A, sizeof(A)), RPC_S_INVALID_ASYNC_HANDLE);
    check("complete while pending", RpcAsyncCompleteCall(&A, NULL), RPC_S_ASYNC_CALL_PENDING);
    check("the pending call completes", wait_and_complete(&A), RPC_S_OK);
    check("complete twice", RpcAsyncCompleteCall(&A, NULL), RPC_S_INVALID_ASYNC_HANDLE);
    check("cancel a completed call", RpcAsyncCancelCall(&A, FALSE), RPC_S_INVALID_ASYNC_HANDLE);

    /* Reused after completion without re-initialising: the page says the stub may raise; it does. */
    check("reuse after completion without re-initialising", try_async(&A, 10), RPC_S_INVALID_ASYNC_HANDLE);
    check("status of the completed handle", RpcAsyncGetCallStatus(&A), RPC_S_INVALID_ASYNC_HANDLE);
    check("re-initialise the completed handle", RpcAsyncInitializeHandle(&A, sizeof(A)), RPC_S_OK);
    check("the re-initialised handle carries a call", try_async(&A, 10), 0);
    check("that call completes", wait_and_complete(&A), RPC_S_OK);

    /* Cancels: the sample server aborts AsyncFunc with 1818 when it sees the cancel. */
    check("re-initialise", RpcAsyncInitializeHandle(&A, sizeof(A)), RPC_S_OK);
    check("start a long AsyncFunc", try_async(&A, 30000), 0);
    check("non-abortive cancel", RpcAsyncCancelCall(&A, FALSE), RPC_S_OK);
    check("the server's answer to the cancel", wait_and_complete(&A), RPC_S_CALL_CANCELLED);
    check("re-initialise", RpcAsyncInitializeHandle(&A, sizeof(A)), RPC_S_OK);
    check("start another long AsyncFunc", try_async(&A, 30000), 0);
    check("abortive cancel", RpcAsyncCancelCall(&A, TRUE), RPC_S_OK);
    check("completed at once as cancelled", wait_and_complete(&A), RPC_S_CALL_CANCELLED);
    check("a sync call still works after the cancels", try_sync(AsyncRPC_ClientIfHandle, msg), 0);

    /* RPC_C_OPT_CALL_TIMEOUT: a call that outlives it ends as cancelled (1818). */
    {
        RPC_BINDING_HANDLE saved = AsyncRPC_ClientIfHandle;
        RPC_BINDING_HANDLE timed = NULL;
        ULONG_PTR v = 0;
        check("a second binding", RpcBindingFromStringBinding(sample_string_binding, &timed), RPC_S_OK);
        check("RpcBindingSetOption(RPC_C_OPT_CALL_TIMEOUT, 300)", RpcBindingSetOption(timed, RPC_C_OPT_CALL_TIMEOUT, 300),
              RPC_S_OK);
        check("RpcBindingInqOption(RPC_C_OPT_CALL_TIMEOUT)", RpcBindingInqOption(timed, RPC_C_OPT_CALL_TIMEOUT, &v) == 0
                  ? (long)v : -1, 300);
        check("an unknown option", RpcBindingSetOption(timed, 999, 1), RPC_S_INVALID_ARG);
        AsyncRPC_ClientIfHandle = timed;
        check("re-initialise", RpcAsyncInitializeHandle(&A, sizeof(A)), RPC_S_OK);
        check("start a 30 s AsyncFunc on it", try_async(&A, 30000), 0);
        AsyncRPC_ClientIfHandle = saved;
        check("it ends at the timeout as cancelled", wait_and_complete(&A), RPC_S_CALL_CANCELLED);
        check("free the second binding", RpcBindingFree(&timed), RPC_S_OK);
    }

    /* Bindings and strings. */
    check("call on a made-up binding", try_sync((handle_t)(ULONG_PTR)0x1234, msg), RPC_S_INVALID_BINDING);
    check("NULL [ref] string", try_sync(AsyncRPC_ClientIfHandle, NULL), RPC_X_NULL_REF_POINTER);
    check("bad string binding", RpcBindingFromStringBinding((RPC_CSTR) "no_such_protseq:x", &copy),
          RPC_S_INVALID_RPC_PROTSEQ);
    check("RpcStringFree of a string the runtime did not return", RpcStringFree(&p), RPC_S_INVALID_ARG);
    copy = (RPC_BINDING_HANDLE)(ULONG_PTR)0x4321;
    check("RpcBindingFree of a made-up handle", RpcBindingFree(&copy), RPC_S_INVALID_BINDING);

    /* Win32 handles. */
    check("CloseHandle of a made-up handle", CloseHandle((HANDLE)(ULONG_PTR)0x7777), FALSE);
    check("its last error", (long)GetLastError(), ERROR_INVALID_HANDLE);
    check("WaitForSingleObject on a made-up handle", (long)WaitForSingleObject((HANDLE)(ULONG_PTR)0x7777, 0),
          (long)WAIT_FAILED);
    check("CloseHandle of the event", CloseHandle(ev), TRUE);
    check("CloseHandle again", CloseHandle(ev), FALSE);

    RpcStringFree(&sample_string_binding);
    RpcBindingFree(&AsyncRPC_ClientIfHandle);
    printf("%d failures\n", failures);
    return failures;
}
