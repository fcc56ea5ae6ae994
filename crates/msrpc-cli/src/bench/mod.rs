//! `msrpc bench`: speed side by side (the `perf` module), or the soak (`--soak`).
//!
//! The soak starts a server and N clients in this process over TCP on loopback. Each client is a
//! separate [`Binding`](msrpc::Binding) (its own connection) with K workers, each keeping one call
//! outstanding, for a set duration. Calls mix `NonAsyncFunc` with strings of 0..256 KiB and
//! `AsyncFunc` with small delays; workers randomly abandon calls (dropping the future), cancel them
//! through [`AsyncState::cancel`](msrpc::AsyncState::cancel) (abortive and non-abortive), and close
//! their binding under calls in progress ([`Binding::close`](msrpc::Binding::close)). Every call is
//! accounted for: answered, cancelled at the caller's request, abandoned by the caller, failed
//! after a disconnect this client caused, or an error that nothing explains (which fails the soak),
//! plus calls that did not resolve within the bound (hung). The server records the id of every
//! `NonAsyncFunc` it executes, so a call executed twice (duplicated) or answered without being
//! executed (wrong answer) is caught too.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

/// Arguments of `msrpc bench`.
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  msrpc bench                                   the table: limit, null, async, mgmt, ndr, memory
  msrpc bench --json-out target/bench.json      the table, and the JSON written to a file
  msrpc bench --tonic target/release/msrpc-bench-tonic   with tonic gRPC side by side
  msrpc bench --only async --concurrency 64 --row-seconds 10
  msrpc bench --against-samba 'ncacn_ip_tcp:127.0.0.1[135]' --only mgmt   (scripts/bench-samba)
  MSRPC_PASSWORD=... msrpc bench --only mgmt --against-samba 'ncacn_np:127.0.0.1[\\pipe\\srvsvc]' \\
      --smb-port 4455 --user msrpc --auth-level none        (the same over a named pipe to smbd)
  msrpc bench --smoke                           seconds-long, for scripts/test
  msrpc bench --soak
  msrpc bench --soak --clients 200 --outstanding 16 --seconds 60 --json

Groups (--only): limit (raw TCP: ping-pong; a batched client against a framing server), server
(the same batched client against msrpc's server), null (blocking calls, allocations per call, and
with a subscriber listening to the spans), async (outstanding calls), mgmt
(is_server_listening), ndr (encode/decode vs memcpy), memory (per idle connection and per
outstanding call); tonic and samba rows come with --tonic and --against-samba.

Exit codes: 0 done (the soak: passed); 1 a row measured no calls or had errors, a peer could not be
run, or (the soak) a call was lost, duplicated, hung or failed for no reason, or the server's calls,
connections, file descriptors or memory did not return to baseline; 2 bad usage.
Speed targets are reported (met / NOT MET), never turned into the exit code.")]
pub(crate) struct BenchArgs {
    /// Run the soak instead of the speed benchmarks.
    #[arg(long)]
    soak: bool,
    /// Seconds-long run of every group (for scripts/test): checks the harness, not the speed.
    #[arg(long)]
    smoke: bool,
    /// How long each row is measured, in seconds.
    #[arg(long, default_value_t = 3.0)]
    row_seconds: f64,
    /// Payloads of the raw ping-pong and blocking-call rows, in bytes.
    #[arg(long, value_delimiter = ',', default_values_t = [0usize, 1024, 65536, 1048576])]
    payloads: Vec<usize>,
    /// Calls outstanding in the batched-client (limit, server) and async rows.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 16, 64, 256])]
    concurrency: Vec<usize>,
    /// Connections of the multi-connection rows (the outstanding calls are spread over them).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Only these groups (limit, server, null, async, mgmt, ndr, memory); default all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The tonic echo benchmark binary (benches/tonic-echo), run as a child for the tonic rows.
    #[arg(long, value_name = "PATH")]
    tonic: Option<std::path::PathBuf>,
    /// Compare with samba-dcerpcd at this binding (mgmt is_server_listening); it must be running.
    #[arg(long, value_name = "BINDING")]
    against_samba: Option<String>,
    #[command(flatten)]
    smb: crate::auth::SmbArgs,
    /// With --against-samba: authentication of that binding (an ncacn_np binding to smbd needs
    /// --user, with --auth-level none for the SMB session only).
    #[command(flatten)]
    auth: crate::auth::ClientAuthArgs,
    /// With --against-samba: the python3-samba client script (scripts/bench-samba-client.py).
    #[arg(long, value_name = "SCRIPT", requires = "against_samba")]
    samba_python: Option<std::path::PathBuf>,
    /// Idle connections opened for the memory row.
    #[arg(long, default_value_t = 500)]
    idle_connections: usize,
    /// Outstanding calls held for the memory row.
    #[arg(long, default_value_t = 1000)]
    outstanding_calls: usize,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    json_out: Option<std::path::PathBuf>,
    /// Clients, each a separate binding (connection).
    #[arg(long, default_value_t = 200)]
    clients: usize,
    /// Calls each client keeps outstanding.
    #[arg(long, default_value_t = 16)]
    outstanding: usize,
    /// How long the clients keep starting calls.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seed for the random choices (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Abandon calls only once their request is on its way (drop the `AsyncState`), never by
    /// dropping a call's future while it may still be connecting (the case that once leaked
    /// connections; see RELIABILITY.md).
    #[arg(long)]
    drop_after_send_only: bool,
    /// Run the soak this many times in one process (each round starts its own server): RSS that
    /// stays put from round to round is memory the allocator keeps, RSS that grows is a leak.
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// Print JSON instead of the table (the soak: one object per round).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: BenchArgs) -> ExitCode {
    if !args.soak {
        return run_perf(args);
    }
    if args.clients == 0 || args.outstanding == 0 || args.seconds == 0 {
        eprintln!("msrpc bench: --clients, --outstanding and --seconds must be at least 1");
        return ExitCode::from(2);
    }
    let rt = match crate::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let cfg = SoakConfig {
        clients: args.clients,
        outstanding: args.outstanding,
        duration: Duration::from_secs(args.seconds),
        seed: args.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        }),
        drop_futures_anywhere: !args.drop_after_send_only,
        ..SoakConfig::default()
    };
    let mut passed = true;
    for round in 1..=args.rounds.max(1) {
        let report = rt.block_on(run_soak(cfg.clone()));
        passed &= report.passed();
        if args.json {
            let mut j = report.to_json();
            j["round"] = serde_json::json!(round);
            println!("{j}");
        } else {
            if args.rounds > 1 {
                println!("round {round}");
            }
            print!("{}", report.table());
        }
    }
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn run_perf(args: BenchArgs) -> ExitCode {
    if !(args.row_seconds > 0.0 && args.row_seconds <= 600.0)
        || args.connections == 0
        || args.concurrency.contains(&0)
        || args.idle_connections == 0
        || args.outstanding_calls == 0
    {
        eprintln!(
            "msrpc bench: --row-seconds must be in (0, 600], --connections, --concurrency, \
             --idle-connections and --outstanding-calls at least 1"
        );
        return ExitCode::from(2);
    }
    const GROUPS: [&str; 7] = ["limit", "server", "null", "async", "mgmt", "ndr", "memory"];
    if let Some(g) = args.only.iter().find(|g| !GROUPS.contains(&g.as_str())) {
        eprintln!(
            "msrpc bench: unknown group `{g}` (known: {})",
            GROUPS.join(", ")
        );
        return ExitCode::from(2);
    }
    let mut samba_options = msrpc::BindingOptions::default();
    args.smb.apply(&mut samba_options);
    if let Err(e) = args.auth.apply(&mut samba_options) {
        eprintln!("msrpc bench: {e}");
        return ExitCode::from(2);
    }
    let cfg = if args.smoke {
        crate::perf::PerfConfig {
            row_time: Duration::from_millis(150),
            payloads: vec![0, 1024, 65536, 1048576],
            concurrency: vec![1, 16],
            connections: 4,
            groups: args.only,
            tonic: args.tonic,
            samba: args.against_samba,
            samba_options: samba_options.clone(),
            samba_python: args.samba_python,
            idle_connections: 20,
            outstanding_calls: 50,
            smoke: true,
        }
    } else {
        crate::perf::PerfConfig {
            row_time: Duration::from_secs_f64(args.row_seconds),
            payloads: args.payloads,
            concurrency: args.concurrency,
            connections: args.connections,
            groups: args.only,
            tonic: args.tonic,
            samba: args.against_samba,
            samba_options: samba_options.clone(),
            samba_python: args.samba_python,
            idle_connections: args.idle_connections,
            outstanding_calls: args.outstanding_calls,
            smoke: false,
        }
    };
    crate::perf::run(cfg, args.json, args.json_out)
}

mod soak;

pub(crate) use soak::rss_kib;
use soak::{SoakConfig, run_soak};
