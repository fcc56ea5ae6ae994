//! AsyncRPC client that polls with `RpcAsyncGetCallStatus` (`RpcNotificationTypeNone`). The page
//! warns that this uses more CPU than the other ways; sleep between polls.
//!
//! Usage: `client_polling [STRING_BINDING] [DELAY_MS]`, default `ncacn_ip_tcp:127.0.0.1[8765]`, 1000.

use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use msrpc::notify::{AsyncState, Notification};
use msrpc::{Binding, Win32Status};
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
    // Async.NotificationType = RpcNotificationTypeNone;
    let state: AsyncState<()> = AsyncState::new(Notification::None);

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
    sample::non_async_func_blocking(&binding, "Hello from client_polling")?;
    eprintln!(
        "While 'AsyncFunc' is running asynchronously,\n\
         we still can send message to the server in the mean time.\n"
    );

    // while (RpcAsyncGetCallStatus(&Async) == RPC_S_ASYNC_CALL_PENDING) Sleep(50);
    let limit = Instant::now() + Duration::from_millis(u64::from(delay)) + Duration::from_secs(30);
    let mut polls = 0u32;
    while state.status() == Win32Status::RPC_S_ASYNC_CALL_PENDING {
        if Instant::now() > limit {
            return Err("AsyncFunc did not complete in time".into());
        }
        polls += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "RpcAsyncGetCallStatus: {:?} after {polls} polls",
        state.status()
    );

    // RpcAsyncCompleteCall(&Async, NULL)
    match state.complete() {
        Ok(()) => println!("AsyncFunc completed (status 0)"),
        Err(e) => return Err(format!("AsyncFunc failed: {e}").into()),
    }
    Ok(())
}
