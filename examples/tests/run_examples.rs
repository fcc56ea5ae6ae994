//! Runs the example server and every example client against it over TCP on 127.0.0.1, checking
//! exit codes and the lines each prints.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// The example server, with its stdout lines arriving on a channel.
struct ServerProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    binding: String,
}

impl ServerProcess {
    fn start() -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_asyncrpc_server"))
            .arg("ncacn_ip_tcp:127.0.0.1[0]")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(WAIT)
            .expect("the server printed nothing");
        let binding = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_string();
        ServerProcess {
            child,
            lines,
            binding,
        }
    }

    /// Every line printed so far.
    fn drain(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Every line the server printed after those already read, once it has exited: read until
    /// its stdout closes (the reader thread may still be forwarding lines when the process is
    /// gone), within WAIT.
    fn rest_after_exit(&self) -> Vec<String> {
        let end = Instant::now() + WAIT;
        let mut rest = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => rest.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => return rest,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the server's stdout stayed open: {rest:?}")
                }
            }
        }
    }

    /// Waits for the process to exit by itself.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let end = Instant::now() + WAIT;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("the server did not exit");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a client to the end, bounded.
fn run_client(exe: &str, args: &[&str]) -> Output {
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{exe} hung; stdout:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

const CLIENTS: [(&str, &str, &str); 7] = [
    (
        "client_event",
        env!("CARGO_BIN_EXE_client_event"),
        "the event was set",
    ),
    (
        "client_polling",
        env!("CARGO_BIN_EXE_client_polling"),
        "RpcAsyncGetCallStatus: OK (0) after",
    ),
    (
        "client_apc",
        env!("CARGO_BIN_EXE_client_apc"),
        "APC routine: CallComplete on the calling thread",
    ),
    (
        "client_iocp",
        env!("CARGO_BIN_EXE_client_iocp"),
        "GetQueuedCompletionStatus: bytes 0, key 0xa5, overlapped 0x1000",
    ),
    (
        "client_hwnd",
        env!("CARGO_BIN_EXE_client_hwnd"),
        "GetMessage: WM_USER+1, wParam 0, lParam is our call: true",
    ),
    (
        "client_callback",
        env!("CARGO_BIN_EXE_client_callback"),
        "callback routine: CallComplete",
    ),
    ("client_future", env!("CARGO_BIN_EXE_client_future"), ""),
];

#[test]
fn every_client_against_the_example_server() {
    let server = ServerProcess::start();
    for (name, exe, style_line) in CLIENTS {
        let out = run_client(exe, &[&server.binding, "200"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{name} failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
        let lines: Vec<&str> = stdout.lines().collect();
        let pos = |want: &str| {
            lines
                .iter()
                .position(|l| l.starts_with(want))
                .unwrap_or_else(|| panic!("{name}: no line {want:?} in:\n{stdout}"))
        };
        // The page's order: AsyncFunc, NonAsyncFunc while it is pending, then completion.
        let a = pos("Calling the remote procedure 'AsyncFunc'");
        let n = pos("Calling the remote procedure 'NonAsyncFunc'");
        let done = pos("AsyncFunc completed (status 0)");
        assert!(a < n && n < done, "{name}: out of order:\n{stdout}");
        if !style_line.is_empty() {
            let s = pos(style_line);
            assert!(
                n < s && s < done,
                "{name}: notified out of order:\n{stdout}"
            );
        }
        assert!(
            stderr.contains("While 'AsyncFunc' is running asynchronously,"),
            "{name} stderr:\n{stderr}"
        );
    }

    // The server saw each client's messages and AsyncFunc calls.
    let mut seen = server.drain();
    let end = Instant::now() + WAIT;
    while seen
        .iter()
        .filter(|l| l.starts_with("NonAsyncFunc: Hello from client_"))
        .count()
        < CLIENTS.len()
    {
        assert!(Instant::now() < end, "server output: {seen:#?}");
        if let Ok(l) = server.lines.recv_timeout(Duration::from_millis(100)) {
            seen.push(l);
        }
    }
    for (name, _, _) in CLIENTS {
        let want = format!("NonAsyncFunc: Hello from {name}");
        assert!(seen.contains(&want), "{want:?} not in {seen:#?}");
    }
    assert_eq!(
        seen.iter()
            .filter(|l| l.as_str() == "AsyncFunc: will complete in 200 ms")
            .count(),
        CLIENTS.len()
    );

    // The server is killed when `server` is dropped;
    // `shutdown_call_is_answered_then_the_server_exits` covers the orderly way.
}

/// Calls `Shutdown` as the Windows sample's client does at the end, and checks the server exits
/// with 0 after answering it.
fn shutdown_and_wait(server: &mut ServerProcess) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let binding = msrpc::Binding::from_string(&server.binding).unwrap();
    rt.block_on(msrpc_sample::shutdown(&binding))
        .expect("the Shutdown call was not answered");
    let st = server.wait_exit();
    assert!(st.success(), "server exit: {st:?}");
    let rest = server.rest_after_exit();
    assert!(rest.contains(&"Shutdown requested".to_string()), "{rest:?}");
    assert!(rest.contains(&"server stopped".to_string()), "{rest:?}");
}

/// The Shutdown call gets its answer (not thrown away: `shutdown_and_wait` fails on an error)
/// and the server then exits 0, ten times over, since the answer races the exit.
#[test]
fn shutdown_call_is_answered_then_the_server_exits() {
    for _ in 0..10 {
        let mut server = ServerProcess::start();
        shutdown_and_wait(&mut server);
    }
}

#[test]
fn a_client_whose_call_cannot_be_made_reports_the_exception() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let binding = format!("ncacn_ip_tcp:127.0.0.1[{port}]");
    let out = run_client(env!("CARGO_BIN_EXE_client_event"), &[&binding, "10"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("AsyncFunc: Run time reported exception 0x6ba = 1722"),
        "{stdout}"
    );
    assert!(!stdout.contains("NonAsyncFunc"), "{stdout}");
}
