//! AsyncRPC client notified through an I/O completion port (`RpcNotificationTypeIoc`).
//!
//! Usage: `client_iocp [STRING_BINDING] [DELAY_MS]`, default `ncacn_ip_tcp:127.0.0.1[8765]`, 1000.

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use msrpc::Binding;
use msrpc::notify::{AsyncState, CompletionPort, Notification};
use msrpc_sample as sample;

/// The completion key and the "OVERLAPPED" value this client gives its call.
const KEY: usize = 0xA5;
const OVERLAPPED: usize = 0x1000;

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

    // hPort = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    let port = CompletionPort::new();
    // RpcAsyncInitializeHandle(&Async, sizeof(RPC_ASYNC_STATE));
    // Async.NotificationType = RpcNotificationTypeIoc;
    // Async.u.IOC = { hIOPort, dwNumberOfBytesTransferred, dwCompletionKey, lpOverlapped };
    let state: AsyncState<()> = AsyncState::new(Notification::IoCompletionPort {
        port: port.clone(),
        bytes: 0,
        key: KEY,
        overlapped: OVERLAPPED,
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
    sample::non_async_func_blocking(&binding, "Hello from client_iocp")?;
    eprintln!(
        "While 'AsyncFunc' is running asynchronously,\n\
         we still can send message to the server in the mean time.\n"
    );

    // GetQueuedCompletionStatus(hPort, &bytes, &key, &lpOverlapped, INFINITE), with a bound.
    let limit = Duration::from_millis(u64::from(delay)) + Duration::from_secs(30);
    let Some(packet) = port.get_queued_completion_status(limit) else {
        return Err("no completion packet in time".into());
    };
    println!(
        "GetQueuedCompletionStatus: bytes {}, key {:#x}, overlapped {:#x}",
        packet.bytes, packet.key, packet.overlapped
    );
    if (packet.key, packet.overlapped) != (KEY, OVERLAPPED) {
        return Err("the packet is not our call's".into());
    }

    // RpcAsyncCompleteCall(&Async, NULL)
    match state.complete() {
        Ok(()) => println!("AsyncFunc completed (status 0)"),
        Err(e) => return Err(format!("AsyncFunc failed: {e}").into()),
    }
    Ok(())
}
