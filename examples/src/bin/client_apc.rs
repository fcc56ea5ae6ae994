//! AsyncRPC client notified by an APC (`RpcNotificationTypeApc`) queued to the calling thread
//! (`hThread` = 0). The APC runs only while this thread waits alertably (`SleepEx(.., TRUE)`).
//!
//! Usage: `client_apc [STRING_BINDING] [DELAY_MS]`, default `ncacn_ip_tcp:127.0.0.1[8765]`, 1000.

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use msrpc::Binding;
use msrpc::notify::{AsyncState, Notification, sleep_alertable};
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
    // Async.NotificationType = RpcNotificationTypeApc;
    // Async.u.APC.NotificationRoutine = ApcRoutine; Async.u.APC.hThread = 0;
    let done = Arc::new(AtomicBool::new(false));
    let state: AsyncState<()> = AsyncState::new(Notification::apc({
        let done = done.clone();
        // RPCNOTIFICATION_ROUTINE: (PRPC_ASYNC_STATE, void *Context, RPC_ASYNC_EVENT Event)
        move |_call, event| {
            println!("APC routine: {event:?} on the calling thread");
            done.store(true, Ordering::SeqCst);
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
    sample::non_async_func_blocking(&binding, "Hello from client_apc")?;
    eprintln!(
        "While 'AsyncFunc' is running asynchronously,\n\
         we still can send message to the server in the mean time.\n"
    );

    // SleepEx(INFINITE, TRUE): the APC runs inside this alertable wait.
    let limit = Instant::now() + Duration::from_millis(u64::from(delay)) + Duration::from_secs(30);
    while !done.load(Ordering::SeqCst) {
        if Instant::now() > limit {
            return Err("the APC did not run in time".into());
        }
        sleep_alertable(Duration::from_millis(500));
    }

    // RpcAsyncCompleteCall(&Async, NULL)
    match state.complete() {
        Ok(()) => println!("AsyncFunc completed (status 0)"),
        Err(e) => return Err(format!("AsyncFunc failed: {e}").into()),
    }
    Ok(())
}
