//! `msrpc bench` (without `--soak`): speed side by side in one run, against the physical limit and the
//! peers (BENCHMARKS.md).
//!
//! Groups of rows, each measured for a fixed time (`--row-seconds`), in this process over TCP on
//! 127.0.0.1:
//! - `limit`: raw TCP on blocking sockets carrying exactly the bytes msrpc puts on the wire for the same
//!   call (request PDUs with their headers, response PDUs): a ping-pong; and a batched client (one
//!   write per batch of requests, buffered reads) with N requests outstanding on one or several
//!   connections to a framing server that only reads each PDU by its `frag_length` and answers it
//!   with a canned response carrying its call id.
//! - `server`: the same batched client against msrpc's server (the echo interface): the server's
//!   throughput against that limit.
//! - `null`: a blocking msrpc call ([`Binding::call_blocking`]) of the bench echo interface with each
//!   payload, one at a time. The server decodes the NDR byte array and encodes it back. Allocations
//!   per call are counted (client and server together); the 0 B row is measured again with a
//!   subscriber listening to every call's span at `debug` (formatted, written nowhere).
//! - `async`: N `async` calls ([`Binding::call`]) outstanding on one connection, then over several.
//! - `mgmt`: `mgmt is_server_listening` against msrpc's own server (the call the Samba comparison makes).
//! - `tonic`: rows from the tonic gRPC echo benchmark (benches/tonic-echo), run as a child process
//!   when `--tonic PATH` is given.
//! - `samba`: `mgmt is_server_listening` against samba-dcerpcd (`--against-samba BINDING`), from msrpc
//!   and (with `--samba-python SCRIPT`) from python3-samba's client.
//! - `ndr`: encode and decode of a 1 MiB conformant byte array and of 10,000 small structures with
//!   strings and unique pointers, against memcpy of the same bytes.
//! - `memory`: heap per idle connection and per outstanding small call (client and server together:
//!   both live in this process, counted by the tool's global allocator), and RSS for reference.
//!
//! Every loop is bounded by its row's deadline; every server started here is stopped before the row
//! or the run ends.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use msrpc::server::{Dispatch, IncomingCall, Interface, Server, ServerConfig};
use msrpc::{Binding, BindingOptions, DataRep, Syntax, SyntaxId, Win32Status, mgmt};
use msrpc_ndr::{ConformantArray, Decoder, Encoder, Unique, WideString};
use msrpc_sample as sample;
use msrpc_sample::AsyncRpcHandler;
use serde_json::{Value, json};

/// The bench echo interface: opnum 0 takes a conformant byte array and returns it; opnum 1
/// ([`NULL_OPNUM`]) takes and returns nothing.
pub(crate) const ECHO: SyntaxId = SyntaxId {
    uuid: uuid::Uuid::from_u128(0x6d737270_6265_6e63_8000_000000000001),
    major: 1,
    minor: 0,
};

/// The bench interface's null operation: no parameters, no results (the server rows'
/// counterpart of the framing server's canned answer).
pub(crate) const NULL_OPNUM: u16 = 1;

/// The fragment size client and server negotiate by default (both offer 5840).
const MAX_FRAG: usize = 5840;

/// What a run measures.
#[derive(Clone, Debug)]
pub(crate) struct PerfConfig {
    pub row_time: Duration,
    pub payloads: Vec<usize>,
    pub concurrency: Vec<usize>,
    pub connections: usize,
    pub groups: Vec<String>,
    pub tonic: Option<PathBuf>,
    pub samba: Option<String>,
    /// The options of the `samba` rows' binding: `--smb-port`, and `--user` for an `ncacn_np`
    /// binding (smbd).
    pub samba_options: BindingOptions,
    pub samba_python: Option<PathBuf>,
    pub idle_connections: usize,
    pub outstanding_calls: usize,
    pub smoke: bool,
}

impl PerfConfig {
    fn wants(&self, group: &str) -> bool {
        self.groups.is_empty() || self.groups.iter().any(|g| g == group)
    }
}

/// One measured row.
#[derive(Clone, Debug, Default)]
pub(crate) struct Row {
    pub group: String,
    pub name: String,
    pub payload: usize,
    pub outstanding: usize,
    pub connections: usize,
    pub calls: u64,
    pub errors: u64,
    pub seconds: f64,
    /// Payload bytes moved one way (for MiB/s).
    pub bytes: u64,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// Memory rows: bytes per item (connection or call).
    pub heap_each: Option<f64>,
    /// Heap allocations per call (client and server together), where counted.
    pub allocs_each: Option<f64>,
    pub rss_each: Option<f64>,
    pub note: String,
}

impl Row {
    fn new(group: &str, name: impl Into<String>) -> Row {
        Row {
            group: group.to_string(),
            name: name.into(),
            ..Row::default()
        }
    }

    pub(crate) fn calls_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.calls as f64 / self.seconds
        } else {
            0.0
        }
    }

    pub(crate) fn mib_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 / self.seconds / 1048576.0
        } else {
            0.0
        }
    }

    fn with_latency(mut self, lat: &mut Latencies) -> Row {
        self.p50_us = lat.percentile_us(50.0);
        self.p99_us = lat.percentile_us(99.0);
        self
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "group": self.group,
            "name": self.name,
            "payload": self.payload,
            "outstanding": self.outstanding,
            "connections": self.connections,
            "calls": self.calls,
            "errors": self.errors,
            "seconds": self.seconds,
            "bytes": self.bytes,
            "calls_per_s": self.calls_per_s(),
            "mib_per_s": self.mib_per_s(),
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
            "heap_bytes_each": self.heap_each,
            "allocations_each": self.allocs_each,
            "rss_bytes_each": self.rss_each,
            "note": self.note,
        })
    }

    /// A row another program printed in the same JSON shape (tonic, the python3-samba client).
    pub(crate) fn from_json(v: &Value) -> Option<Row> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let u = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let f = |k: &str| v.get(k).and_then(Value::as_f64);
        Some(Row {
            group: s("group")?,
            name: s("name")?,
            payload: u("payload") as usize,
            outstanding: u("outstanding") as usize,
            connections: u("connections") as usize,
            calls: u("calls"),
            errors: u("errors"),
            seconds: f("seconds")?,
            bytes: u("bytes"),
            p50_us: f("p50_us"),
            p99_us: f("p99_us"),
            heap_each: None,
            allocs_each: None,
            rss_each: None,
            note: s("note").unwrap_or_default(),
        })
    }

    /// Sane: something was measured and nothing failed.
    fn sane(&self) -> bool {
        if self.group == "memory" {
            return self.calls > 0 && self.heap_each.is_some_and(f64::is_finite);
        }
        self.calls > 0 && self.errors == 0 && self.seconds > 0.0
    }
}

/// Call latencies in nanoseconds.
#[derive(Debug, Default)]
pub(crate) struct Latencies(Vec<u64>);

impl Latencies {
    fn record(&mut self, since: Instant) {
        self.0.push(since.elapsed().as_nanos() as u64);
    }

    fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// The nearest-rank percentile, in microseconds.
    pub(crate) fn percentile_us(&mut self, p: f64) -> Option<f64> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        let i = rank.clamp(1, self.0.len()) - 1;
        Some(self.0[i] as f64 / 1e3)
    }
}

/// The bytes msrpc puts on the wire for a request or response stub of `stub` bytes: one 24-byte
/// header per fragment, each fragment carrying at most `(max_frag - 24) & !7` stub bytes (the rule of
/// msrpc-proto's fragmenter).
pub(crate) fn wire_bytes(stub: usize, max_frag: usize) -> usize {
    let room = (max_frag - 24) & !7;
    let frags = stub.div_ceil(room).max(1);
    stub + 24 * frags
}

/// The echo stub for a payload: the NDR20 conformant byte array (max_count, then the bytes).
fn echo_stub_len(payload: usize) -> usize {
    4 + payload
}

mod calls;
mod limit;
mod memory;
mod ndr;

use calls::*;
use limit::*;
use memory::*;
use ndr::*;

// ---------------------------------------------------------------------------------------------
// peers run as child processes

fn child_rows(cmd: &mut std::process::Command, what: &str) -> Result<Vec<Row>, String> {
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what}: exited with {}", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Row> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| Row::from_json(&v))
        .collect();
    if rows.is_empty() {
        return Err(format!("{what}: printed no rows"));
    }
    Ok(rows)
}

/// (outstanding in all, connections) of the throughput rows: each concurrency on one connection,
/// then spread over `--connections` where it divides into at least one each.
fn spreads(cfg: &PerfConfig) -> Vec<(usize, usize)> {
    let mut v: Vec<(usize, usize)> = cfg.concurrency.iter().map(|&k| (k, 1)).collect();
    if cfg.connections > 1 {
        v.extend(
            cfg.concurrency
                .iter()
                .filter(|&&k| k >= cfg.connections)
                .map(|&k| (k, cfg.connections)),
        );
    }
    v
}

fn list(v: &[usize]) -> String {
    v.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

// ---------------------------------------------------------------------------------------------
// the run

/// Runs every group asked for; rows in the order of the list.
pub(crate) fn measure(cfg: &PerfConfig) -> Result<Vec<Row>, String> {
    let dur = cfg.row_time;
    let mut rows = Vec::new();
    let io = |e: std::io::Error| format!("raw TCP: {e}");
    let rpc = |e: msrpc::Error| format!("msrpc: {e}");
    if cfg.wants("limit") {
        for &p in &cfg.payloads {
            rows.push(raw_pingpong(p, dur).map_err(io)?);
        }
        for (k, c) in spreads(cfg) {
            rows.push(raw_framing(k / c, c, dur).map_err(io)?);
        }
    }
    let needs_server = ["null", "server", "async", "mgmt", "memory", "samba"]
        .iter()
        .any(|g| cfg.wants(g));
    if needs_server {
        let bench = Bench::start(cfg)?;
        let r = (|| {
            if cfg.wants("null") {
                for &p in &cfg.payloads {
                    rows.push(null_blocking(&bench, p, dur, false).map_err(rpc)?);
                }
                // The 0 B call again with a subscriber that listens to every call's span.
                rows.push(null_blocking(&bench, 0, dur, true).map_err(rpc)?);
                // And with the client's I/O on the calling thread (an experiment, no runtime).
                rows.push(null_on_calling_thread(&bench, 0, dur, false).map_err(io)?);
                // The same, the socket also registered with the client runtime's reactor.
                rows.push(null_on_calling_thread(&bench, 0, dur, true).map_err(io)?);
            }
            if cfg.wants("server") {
                for (k, c) in spreads(cfg) {
                    rows.push(batched_msrpc(bench.port, k / c, c, dur, false).map_err(io)?);
                }
                // The null operation: what the framing server's canned answer compares with.
                for (k, c) in spreads(cfg) {
                    rows.push(batched_msrpc(bench.port, k / c, c, dur, true).map_err(io)?);
                }
            }
            if cfg.wants("async") {
                for &k in &cfg.concurrency {
                    rows.push(async_calls(&bench, 0, k, 1, dur).map_err(rpc)?);
                }
                for &k in &cfg.concurrency {
                    if k >= cfg.connections && cfg.connections > 1 {
                        rows.push(async_calls(&bench, 0, k, cfg.connections, dur).map_err(rpc)?);
                    }
                }
            }
            for k in MGMT_OUTSTANDING {
                if cfg.wants("mgmt") || cfg.samba.is_some() {
                    rows.push(
                        mgmt_calls(
                            &bench.client_rt,
                            &bench.binding,
                            &BindingOptions::default(),
                            "mgmt",
                            "msrpc client -> msrpc server: mgmt is_server_listening",
                            k,
                            dur,
                        )
                        .map_err(rpc)?,
                    );
                }
                if let Some(target) = &cfg.samba {
                    // Over a named pipe the peer is smbd (with samba-dcerpcd behind it): rows of
                    // group `smbd`, which the TCP targets against samba-dcerpcd do not read.
                    let (group, name) = if target.to_ascii_lowercase().starts_with("ncacn_np:") {
                        (
                            "smbd",
                            "msrpc client -> smbd named pipe: mgmt is_server_listening",
                        )
                    } else {
                        (
                            "samba",
                            "msrpc client -> samba-dcerpcd: mgmt is_server_listening",
                        )
                    };
                    rows.push(
                        mgmt_calls(
                            &bench.client_rt,
                            target,
                            &cfg.samba_options,
                            group,
                            name,
                            k,
                            dur,
                        )
                        .map_err(|e| format!("samba-dcerpcd at {target}: {e} (is it running?)"))?,
                    );
                }
            }
            if cfg.wants("memory") {
                rows.push(memory_idle(&bench, cfg.idle_connections).map_err(rpc)?);
                let delay = if cfg.smoke { 600 } else { 3000 };
                rows.push(memory_outstanding(&bench, cfg.outstanding_calls, delay).map_err(rpc)?);
            }
            Ok::<(), String>(())
        })();
        bench.stop();
        r?;
    }
    if let (Some(script), Some(target)) = (&cfg.samba_python, &cfg.samba) {
        let mut cmd = std::process::Command::new("/usr/bin/python3");
        cmd.arg(script)
            .arg(target)
            .arg(format!("{}", dur.as_secs_f64()));
        rows.extend(child_rows(&mut cmd, "python3-samba client")?);
    }
    if let Some(tonic) = &cfg.tonic {
        let mut cmd = std::process::Command::new(tonic);
        cmd.arg("--row-seconds")
            .arg(format!("{}", dur.as_secs_f64()))
            .arg("--payloads")
            .arg(list(&cfg.payloads))
            .arg("--concurrency")
            .arg(list(&cfg.concurrency))
            .arg("--connections")
            .arg(cfg.connections.to_string());
        rows.extend(child_rows(&mut cmd, "tonic echo benchmark")?);
    }
    if cfg.wants("ndr") {
        rows.extend(ndr_rows(dur));
    }
    Ok(rows)
}

mod report;

pub(crate) use report::run;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_bytes_follow_the_fragmenter() {
        // 0 B payload: a 4-byte stub in one 24-byte-header fragment.
        assert_eq!(wire_bytes(echo_stub_len(0), MAX_FRAG), 28);
        // 5816 stub bytes fit one fragment; one more needs a second.
        assert_eq!(wire_bytes(5816, MAX_FRAG), 5840);
        assert_eq!(wire_bytes(5817, MAX_FRAG), 5817 + 48);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut l = Latencies((1..=100).map(|i| i * 1000).collect());
        assert_eq!(l.percentile_us(50.0), Some(50.0));
        assert_eq!(l.percentile_us(99.0), Some(99.0));
        assert_eq!(Latencies::default().percentile_us(50.0), None);
    }

    #[test]
    fn shares_round_trip() {
        let list = Unique::new(shares(50));
        let mut e = Encoder::new(Syntax::Ndr20, DataRep::LITTLE_ENDIAN);
        e.encode_param(&list).unwrap_or_else(|e| panic!("{e}"));
        let bytes = e.into_bytes();
        let back = Decoder::new(&bytes, Syntax::Ndr20, DataRep::LITTLE_ENDIAN)
            .decode_param::<Unique<ConformantArray<Share>>>()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, list);
    }
}
