/* AsyncRPC client, window-message style: the runtime posts u.HWND.Msg to a message-only window
 * (lParam: the async handle); GetMessage receives it. */
#include "sample.h"

#define WM_ASYNC_DONE (WM_USER + 1)

int main(int argc, char **argv)
{
    unsigned long nAsychDelay = sample_bind(argc, argv);
    RPC_ASYNC_STATE Async;
    MSG msg;
    HWND hwnd = CreateWindowEx(0, "STATIC", "asyncrpc", 0, 0, 0, 0, 0, HWND_MESSAGE, NULL, NULL, NULL);
    BOOL got;

    if (hwnd == NULL || RpcAsyncInitializeHandle(&Async, sizeof(RPC_ASYNC_STATE)))
        return 1;
    Async.UserInfo = NULL;
    Async.NotificationType = RpcNotificationTypeHwnd;
    Async.u.HWND.hWnd = hwnd;
    Async.u.HWND.Msg = WM_ASYNC_DONE;
    if (sample_calls(&Async, nAsychDelay))
        return 1;
    printf("PeekMessage before completion: %d\n", PeekMessage(&msg, hwnd, 0, 0, PM_NOREMOVE));
    got = GetMessage(&msg, hwnd, 0, 0);
    printf("GetMessage: %d message 0x%x lParam %s\n", got, msg.message,
           msg.lParam == (LPARAM)&Async && msg.wParam == 0 && msg.hwnd == hwnd ? "ok" : "wrong");
    /* As Windows documents RpcNotificationTypeHwnd: the message u.HWND.Msg, to u.HWND.hWnd, with
     * wParam 0 and lParam the RPC_ASYNC_STATE's address. */
    if (got != TRUE || msg.message != WM_ASYNC_DONE || msg.lParam != (LPARAM)&Async || msg.wParam != 0 ||
        msg.hwnd != hwnd)
        return 1;
    DestroyWindow(hwnd);
    return sample_end(RpcAsyncCompleteCall((PRPC_ASYNC_STATE)msg.lParam, NULL));
}
