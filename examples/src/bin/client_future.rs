//! AsyncRPC client in async Rust: each call is a `Future` (no Windows equivalent). Dropping a
//! call's future before it resolves cancels the call on the wire.
//!
//! Usage: `client_future [STRING_BINDING] [DELAY_MS]`, default `ncacn_ip_tcp:127.0.0.1[8765]`, 1000.

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use msrpc::Binding;
use msrpc_sample as sample;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let binding = args
        .get(1)
        .map_or("ncacn_ip_tcp:127.0.0.1[8765]", String::as_str);
    let delay = args.get(2).and_then(|d| d.parse().ok()).unwrap_or(1000);
    match run(binding, delay).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(binding: &str, delay: u32) -> Result<(), Box<dyn Error>> {
    // RpcBindingFromStringBinding
    let binding = Binding::from_string(binding)?;

    // AsyncFunc as a future, running on its own task while we go on.
    println!("Calling the remote procedure 'AsyncFunc'");
    let call = tokio::spawn({
        let binding = binding.clone();
        async move { sample::async_func(&binding, delay).await }
    });

    // A synchronous-style call while AsyncFunc is pending, on the same binding.
    println!("Calling the remote procedure 'NonAsyncFunc'");
    sample::non_async_func(&binding, "Hello from client_future").await?;
    eprintln!(
        "While 'AsyncFunc' is running asynchronously,\n\
         we still can send message to the server in the mean time.\n"
    );

    // Awaiting the future is waiting and RpcAsyncCompleteCall in one step.
    let limit = Duration::from_millis(u64::from(delay)) + Duration::from_secs(30);
    let mut call = call;
    match tokio::time::timeout(limit, &mut call).await {
        Ok(joined) => joined??,
        Err(_) => {
            // Aborting the task drops the call's future, which cancels the call on the wire.
            call.abort();
            return Err("AsyncFunc did not complete in time".into());
        }
    }
    println!("AsyncFunc completed (status 0)");
    Ok(())
}
