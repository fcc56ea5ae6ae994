//! AsyncRPC client notified by a window message (`RpcNotificationTypeHwnd`): the runtime posts
//! `WM_ASYNC_DONE` with wParam 0 and lParam the call's handle to the window's queue.
//!
//! Usage: `client_hwnd [STRING_BINDING] [DELAY_MS]`, default `ncacn_ip_tcp:127.0.0.1[8765]`, 1000.

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use msrpc::Binding;
use msrpc::notify::{AsyncState, MessageQueue, Notification, WM_USER};
use msrpc_sample as sample;

/// The message the runtime posts when the call completes.
const WM_ASYNC_DONE: u32 = WM_USER + 1;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let binding = args
        .get(1)
        .map_or("ncacn_ip_tcp:127.0.0.1[8765]", String::as_str);
    let delay = args.get(2).and_then(|d| d.parse().ok()).unwrap_or(1000);
    match run(binding, delay) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(binding: &str, delay: u32) -> Result<(), Box<dyn Error>> {
    // RpcBindingFromStringBinding
    let binding = Binding::from_string(binding)?;

    // The window's message queue (hWnd = CreateWindow(...)).
    let window = MessageQueue::new();
    // RpcAsyncInitializeHandle(&Async, sizeof(RPC_ASYNC_STATE));
    // Async.NotificationType = RpcNotificationTypeHwnd;
    // Async.u.HWND = { hWnd, WM_ASYNC_DONE };
    let state: AsyncState<()> = AsyncState::new(Notification::Hwnd {
        queue: window.clone(),
        msg: WM_ASYNC_DONE,
    });

    // RpcTryExcept { AsyncFunc(&Async, AsyncRPC_ClientIfHandle, nAsychDelay); }
    println!("Calling the remote procedure 'AsyncFunc'");
    if let Err(e) = sample::async_func_start_blocking(&state, &binding, delay) {
        // RpcExcept(1): the call was not made, and no notification will follow.
        let code = e.status().0;
        println!("AsyncFunc: Run time reported exception {code:#x} = {code}");
        return Err(e.into());
    }

    // A synchronous call while the asynchronous one is still running.
    println!("Calling the remote procedure 'NonAsyncFunc'");
    sample::non_async_func_blocking(&binding, "Hello from client_hwnd")?;
    eprintln!(
        "While 'AsyncFunc' is running asynchronously,\n\
         we still can send message to the server in the mean time.\n"
    );

    // while (GetMessage(&msg, hWnd, 0, 0)) { ... case WM_ASYNC_DONE: ... }
    let limit = Duration::from_millis(u64::from(delay)) + Duration::from_secs(30);
    let Some(msg) = window.get_message_timeout(limit) else {
        return Err("no window message in time".into());
    };
    println!(
        "GetMessage: WM_USER+{}, wParam {}, lParam is our call: {}",
        msg.msg - WM_USER,
        msg.wparam,
        msg.lparam == state.token().0
    );
    if msg.msg != WM_ASYNC_DONE || msg.lparam != state.token().0 {
        return Err("the message is not our call's".into());
    }

    // RpcAsyncCompleteCall(&Async, NULL)
    match state.complete() {
        Ok(()) => println!("AsyncFunc completed (status 0)"),
        Err(e) => return Err(format!("AsyncFunc failed: {e}").into()),
    }
    Ok(())
}
