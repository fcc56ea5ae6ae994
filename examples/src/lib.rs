//! The Windows SDK "AsyncRPC" sample, as a Windows RPC programmer would write it with msrpc.
//!
//! Each program in `src/bin` is standalone, so it can be copied as it is:
//!
//! | program | what it shows |
//! |---|---|
//! | `asyncrpc_server` | the server: `AsyncFunc` is an `[async]` manager, `NonAsyncFunc` and `Shutdown` are plain |
//! | `client_event` | `RpcNotificationTypeEvent`: an event object is set when the call completes |
//! | `client_polling` | `RpcNotificationTypeNone`: `RpcAsyncGetCallStatus` until it is not 997 |
//! | `client_apc` | `RpcNotificationTypeApc`: an APC runs in the calling thread's alertable wait |
//! | `client_iocp` | `RpcNotificationTypeIoc`: a packet is posted to an I/O completion port |
//! | `client_hwnd` | `RpcNotificationTypeHwnd`: a message is posted to a window's queue |
//! | `client_callback` | `RpcNotificationTypeCallback`: a routine runs when the call completes |
//! | `client_future` | no Windows equivalent: the call is a Rust `Future` |
//!
//! Run the server, then any client:
//!
//! ```text
//! cargo run -p msrpc-examples --bin asyncrpc_server                # ncacn_ip_tcp:127.0.0.1[8765]
//! cargo run -p msrpc-examples --bin client_event                   # same binding, 1000 ms delay
//! cargo run -p msrpc-examples --bin client_apc -- ncacn_ip_tcp:127.0.0.1[8765] 3000
//! ```
//!
//! Every client takes the string binding as its first argument and the `AsyncFunc` delay in
//! milliseconds as its second, follows the page's code fragment (initialize the handle, choose the
//! notification, call `AsyncFunc`, call `NonAsyncFunc` while it is pending, wait, complete), and
//! exits with status 0 when the call completed.
