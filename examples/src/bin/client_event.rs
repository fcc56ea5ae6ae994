//! AsyncRPC client, notified through an event object (`RpcNotificationTypeEvent`).
//!
//! Usage: `client_event [STRING_BINDING] [DELAY_MS]`, default `ncacn_ip_tcp:127.0.0.1[8765]`, 1000.

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use msrpc::Binding;
use msrpc::notify::{AsyncState, Event, Notification};
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
    // Async.NotificationType = RpcNotificationTypeEvent;
    // Async.u.hEvent = CreateEvent(NULL, FALSE, FALSE, NULL);
    let event = Event::auto_reset();
    let state = AsyncState::new(Notification::Event(event.clone()));

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
    sample::non_async_func_blocking(&binding, "Hello from client_event")?;
    eprintln!(
        "While 'AsyncFunc' is running asynchronously,\n\
         we still can send message to the server in the mean time.\n"
    );

    // WaitForSingleObject(Async.u.hEvent, INFINITE), with a bound.
    let limit = Duration::from_millis(u64::from(delay)) + Duration::from_secs(30);
    if !event.wait_timeout(limit) {
        return Err("AsyncFunc did not complete in time".into());
    }
    println!("the event was set");

    // RpcAsyncCompleteCall(&Async, NULL)
    match state.complete() {
        Ok(()) => println!("AsyncFunc completed (status 0)"),
        Err(e) => return Err(format!("AsyncFunc failed: {e}").into()),
    }
    Ok(())
}
