//! Every `msrpc` subcommand end to end (`idl` and `epm` have their own files): `demo` exits 0,
//! `serve` prints its bindings and stops on SIGTERM with 0, `ping` and `ifids` against it in text
//! and JSON, and the exit codes scripts rely on (2 bad usage, 3 unreachable).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn msrpc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_msrpc"))
}

/// A `msrpc serve` child, killed when the test ends however it ends.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve() -> (Serve, String) {
    let mut child = msrpc()
        .args(["serve", "--listen", "ncacn_ip_tcp:127.0.0.1[0]"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run msrpc serve");
    let out = child.stdout.take().expect("stdout");
    let s = Serve(child);
    let line = BufReader::new(out)
        .lines()
        .next()
        .expect("a line")
        .expect("utf-8");
    let binding = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    (s, binding)
}

#[test]
fn demo_replays_the_page_and_exits_0() {
    let out = msrpc()
        .args(["demo", "--delay", "100"])
        .output()
        .expect("run msrpc demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("demo   done"), "{text}");
}

#[test]
fn serve_ping_ifids_and_sigterm() {
    let (mut s, binding) = serve();
    assert!(binding.starts_with("ncacn_ip_tcp:127.0.0.1["), "{binding}");

    let out = msrpc().args(["ping", &binding]).output().expect("ping");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("is_server_listening = true"), "{text}");

    let out = msrpc()
        .args(["ping", "--json", "--count", "3", &binding])
        .output()
        .expect("ping --json");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let calls = v["calls"].as_array().expect("calls");
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|c| c["listening"] == true));

    let out = msrpc().args(["ifids", &binding]).output().expect("ifids");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("AsyncRPC (Windows SDK sample)"), "{text}");
    assert!(text.contains("mgmt (remote management)"), "{text}");

    let out = msrpc()
        .args(["ifids", "--json", &binding])
        .output()
        .expect("ifids --json");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ids: Vec<_> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|i| format!("{} {}", i["uuid"].as_str().unwrap_or(""), i["version"]))
        .collect();
    assert!(
        ids.contains(&"7f6c4340-eb67-11d1-b9d7-00c04fad9a3b \"1.0\"".to_owned()),
        "{ids:?}"
    );

    // SIGTERM: a graceful stop, exit status 0.
    let pid = s.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let end = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = s.0.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < end, "msrpc serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn exit_codes_scripts_rely_on() {
    // 2: a bad string binding, named in words.
    let out = msrpc().args(["ping", "bogus:x"]).output().expect("ping");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("(RPC_S_INVALID_RPC_PROTSEQ 1704)"), "{err}");
    // The status is named once, not once per layer the error passed through.
    assert_eq!(err.matches("RPC_S_INVALID_RPC_PROTSEQ").count(), 1, "{err}");
    // 2: bad usage.
    let out = msrpc().args(["ping"]).output().expect("ping");
    assert_eq!(out.status.code(), Some(2));
    // 3: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let out = msrpc()
        .args(["ifids", &format!("ncacn_ip_tcp:127.0.0.1[{port}]")])
        .output()
        .expect("ifids");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("(RPC_S_SERVER_UNAVAILABLE 1722)") && err.contains("try:"),
        "{err}"
    );
}

#[test]
fn demo_and_serve_print_json_when_asked() {
    let out = msrpc()
        .args(["demo", "--delay", "50", "--json"])
        .output()
        .expect("run msrpc demo --json");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    assert!(events.len() > 50, "{} events", events.len());
    assert!(
        events
            .iter()
            .all(|e| e["t_ms"].is_number() && e["who"].is_string())
    );
    let last = events.last().expect("events");
    assert!(
        last["what"].as_str().unwrap_or("").starts_with("done"),
        "{last}"
    );

    let mut child = msrpc()
        .args(["serve", "--json", "--listen", "ncacn_ip_tcp:127.0.0.1[0]"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run msrpc serve --json");
    let stdout = child.stdout.take().expect("stdout");
    let _serve = Serve(child);
    let line = BufReader::new(stdout)
        .lines()
        .next()
        .expect("a line")
        .expect("utf-8");
    let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert!(
        v["listening"]
            .as_str()
            .unwrap_or("")
            .starts_with("ncacn_ip_tcp:127.0.0.1["),
        "{v}"
    );
}

/// `msrpc serve --log-level debug` prints one line per call with its status in words: the span of
/// the `ping`'s is_server_listening, and of a call to an opnum mgmt does not have.
#[test]
fn serve_log_level_debug_prints_a_line_per_call() {
    let mut child = msrpc()
        .args([
            "serve",
            "--log-level",
            "debug",
            "--listen",
            "ncacn_ip_tcp:127.0.0.1[0]",
        ])
        .env_remove("RUST_LOG")
        .env_remove("MSRPC_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run msrpc serve");
    let out = child.stdout.take().expect("stdout");
    let err = child.stderr.take().expect("stderr");
    let s = Serve(child);
    let line = BufReader::new(out)
        .lines()
        .next()
        .expect("a line")
        .expect("utf-8");
    let binding = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    // The server's stderr, line by line, read on a thread so the wait below is bounded.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });

    let ping = msrpc()
        .args(["ping", &binding])
        .env_remove("RUST_LOG")
        .output()
        .expect("ping");
    assert!(ping.status.success());

    let end = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let call_line = loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.contains("rpc_call") => break l,
            Ok(l) => seen.push(l),
            Err(_) => panic!(
                "no per-call line within 10 s; stderr so far:\n{}",
                seen.join("\n")
            ),
        }
    };
    for want in [
        "side=\"server\"",
        "interface=mgmt",
        "opnum=2",
        "status=\"ok\"",
        "duration_us=",
        "call ended",
    ] {
        assert!(call_line.contains(want), "{want} missing in {call_line}");
    }
    // Not a terminal: no colour codes in the line.
    assert!(!call_line.contains('\u{1b}'), "{call_line}");
    drop(s);
}

/// `RUST_LOG` is taken as tracing-subscriber's `EnvFilter` does, and `MSRPC_LOG` still works when
/// `RUST_LOG` is not set; a bad filter is bad usage (2).
#[test]
fn log_filters_from_the_environment() {
    for (var, value) in [("RUST_LOG", "msrpc=info"), ("MSRPC_LOG", "msrpc=info")] {
        let mut cmd = msrpc();
        cmd.args(["serve", "--listen", "ncacn_ip_tcp:127.0.0.1[0]"])
            .env_remove("RUST_LOG")
            .env_remove("MSRPC_LOG")
            .env(var, value)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run msrpc serve");
        let err = child.stderr.take().expect("stderr");
        let out = child.stdout.take().expect("stdout");
        let s = Serve(child);
        let _ = BufReader::new(out).lines().next();
        // The server logs `listening` at info once its listener is up.
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{var}={value}: nothing logged"));
        assert!(
            line.contains("INFO") && line.contains("listening"),
            "{var}: {line}"
        );
        drop(s);
    }
    let out = msrpc()
        .args(["--log-level", "msrpc=notalevel", "ifids", "x"])
        .output()
        .expect("run msrpc");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn windows_tools_exit_codes() {
    // A bad binding is exit 2, an unreachable server exit 3, for each of the tools.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    for tool in ["shares", "users", "groups", "lookupsid"] {
        let out = msrpc().args([tool, "bogus:x"]).output().expect(tool);
        assert_eq!(out.status.code(), Some(2), "{tool}");
        let out = msrpc()
            .args([tool, &format!("ncacn_ip_tcp:127.0.0.1[{port}]")])
            .output()
            .expect(tool);
        assert_eq!(out.status.code(), Some(3), "{tool}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("RPC_S_SERVER_UNAVAILABLE"), "{tool}: {err}");
    }
    let out = msrpc()
        .args(["lookupsid", "--max-rid", "10", "ncacn_ip_tcp:127.0.0.1[1]"])
        .output()
        .expect("lookupsid");
    assert_eq!(out.status.code(), Some(2));
}
