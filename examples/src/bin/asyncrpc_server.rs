//! The AsyncRPC sample server.
//!
//! `AsyncFunc` is an `[async]` manager (the ACF says so): it returns at once and the call is
//! completed later, after `nAsychDelay` milliseconds, with `RpcAsyncCompleteCall`, or aborted
//! with `RPC_S_CALL_CANCELLED` when the client cancels it. `NonAsyncFunc` prints its message.
//! `Shutdown` stops the server, as does Ctrl-C.
//!
//! Usage: `asyncrpc_server [STRING_BINDING]`, default `ncacn_ip_tcp:127.0.0.1[8765]`. Port 0
//! picks a free port; the first line printed names the binding to use.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use msrpc::Win32Status;
use msrpc::server::{AsyncCall, Server};
use msrpc_sample::{self as sample, AsyncRpcHandler};
use tokio::sync::Notify;

struct Manager {
    stop: Arc<Notify>,
}

impl AsyncRpcHandler for Manager {
    // void NonAsyncFunc(handle_t hBinding, unsigned char *pszMessage)
    fn non_async_func(&self, message: &[u8]) {
        println!("NonAsyncFunc: {}", String::from_utf8_lossy(message));
    }

    // void AsyncFunc(PRPC_ASYNC_STATE pAsync, handle_t hBinding, unsigned long nAsychDelay)
    fn async_func(&self, call: AsyncCall<()>, delay_ms: u32) {
        println!("AsyncFunc: will complete in {delay_ms} ms");
        // Returns at once; a task calls RpcAsyncCompleteCall (call.complete) when the delay is
        // over, or RpcAsyncAbortCall (call.abort) if the client cancels first.
        sample::complete_after_delay(call, delay_ms);
    }

    // void Shutdown(handle_t hBinding)
    fn shutdown(&self) -> Result<(), Win32Status> {
        println!("Shutdown requested");
        // RpcMgmtStopServerListening(NULL): main() stops the server once this call is answered.
        self.stop.notify_one();
        Ok(())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let binding = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("ncacn_ip_tcp:127.0.0.1[{}]", sample::DEFAULT_ENDPOINT));
    let stop = Arc::new(Notify::new());

    // RpcServerUseProtseqEp + RpcServerRegisterIf + RpcServerListen.
    let server = match Server::builder()
        .interface(Arc::new(sample::service(Manager { stop: stop.clone() })))
        .listen(binding)
        .start()
        .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start the server: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", server.bindings()[0]);

    tokio::select! {
        _ = stop.notified() => {}
        _ = tokio::signal::ctrl_c() => println!("Ctrl-C"),
    }
    // Calls in progress get up to 5 s to finish.
    server.shutdown(Duration::from_secs(5)).await;
    println!("server stopped");
    ExitCode::SUCCESS
}
