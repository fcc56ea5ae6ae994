//! AsyncRPC client notified by a callback (`RpcNotificationTypeCallback`, Windows 7 and later).
//! The routine runs on a runtime thread: keep it short and hand the work back to the caller.
//!
//! Usage: `client_callback [STRING_BINDING] [DELAY_MS]`, default `ncacn_ip_tcp:127.0.0.1[8765]`, 1000.

use std::error::Error;
use std::process::ExitCode;
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use msrpc::Binding;
use msrpc::notify::{AsyncState, Notification};
use msrpc_sample as sample;

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

    // RpcAsyncInitializeHandle(&Async, sizeof(RPC_ASYNC_STATE));
    // Async.NotificationType = RpcNotificationTypeCallback;
    // Async.u.NotificationRoutine = CallbackRoutine;
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let state: AsyncState<()> = AsyncState::new(Notification::callback(move |_call, event| {
        if let Ok(tx) = tx.lock() {
            let _ = tx.send(event);
        }
    }));

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
    sample::non_async_func_blocking(&binding, "Hello from client_callback")?;
    eprintln!(
        "While 'AsyncFunc' is running asynchronously,\n\
         we still can send message to the server in the mean time.\n"
    );

    let limit = Duration::from_millis(u64::from(delay)) + Duration::from_secs(30);
    let event = rx
        .recv_timeout(limit)
        .map_err(|_| "the callback did not run in time")?;
    println!("callback routine: {event:?}");

    // RpcAsyncCompleteCall(&Async, NULL)
    match state.complete() {
        Ok(()) => println!("AsyncFunc completed (status 0)"),
        Err(e) => return Err(format!("AsyncFunc failed: {e}").into()),
    }
    Ok(())
}
