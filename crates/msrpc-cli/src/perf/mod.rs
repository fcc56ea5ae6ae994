//! `msrpc bench` (without `--soak`): speed side by side in one run, against the physical limit and the
//! peers (BENCHMARKS.md).
//!
//! Groups of rows, each measured for a fixed time (`--row-seconds`), in this process over TCP on
//! 127.0.0.1:
//! - `limit`: raw TCP on blocking sockets carrying exactly the bytes msrpc puts on the wire for the same
//!   call (request PDUs with their headers, response PDUs): a ping-pong, and a pipelined stream with
//!   N requests in flight on one or on several connections.
//! - `null`: a blocking msrpc call ([`Binding::call_blocking`]) of the bench echo interface with each
//!   payload, one at a time. The server decodes the NDR byte array and encodes it back.
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
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use msrpc::sample::{AsyncRpcHandler, AsyncRpcServer};
use msrpc::server::{Dispatch, IncomingCall, Interface, Server, ServerConfig};
use msrpc::{Binding, BindingOptions, DataRep, Syntax, SyntaxId, Win32Status, mgmt, sample};
use msrpc_ndr::{
    ConformantArray, Decoder, Encoder, NdrDecode, NdrEncode, NdrType, Unique, WideString,
};
use serde_json::{Value, json};

/// The bench echo interface: opnum 0 takes a conformant byte array and returns it.
pub(crate) const ECHO: SyntaxId = SyntaxId {
    uuid: uuid::Uuid::from_u128(0x6d737270_6265_6e63_8000_000000000001),
    major: 1,
    minor: 0,
};

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

// ---------------------------------------------------------------------------------------------
// (a) the limit: raw TCP

/// A raw TCP server thread answering each `req`-byte message with `resp` bytes until EOF.
fn raw_server(req: usize, resp: usize) -> std::io::Result<(u16, std::thread::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let h = std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let _ = s.set_nodelay(true);
        let mut inb = vec![0u8; req];
        let out = vec![0x5au8; resp];
        // Ends when the client closes its side (read_exact fails at EOF).
        while s.read_exact(&mut inb).is_ok() {
            if s.write_all(&out).is_err() {
                break;
            }
        }
    });
    Ok((port, h))
}

fn raw_pingpong(payload: usize, dur: Duration) -> std::io::Result<Row> {
    let req = wire_bytes(echo_stub_len(payload), MAX_FRAG);
    let resp = req;
    let (port, server) = raw_server(req, resp)?;
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    let out = vec![0xa5u8; req];
    let mut inb = vec![0u8; resp];
    let mut lat = Latencies::default();
    let mut errors = 0;
    let t0 = Instant::now();
    while t0.elapsed() < dur {
        let t = Instant::now();
        if s.write_all(&out)
            .and_then(|_| s.read_exact(&mut inb))
            .is_err()
        {
            errors += 1;
            break;
        }
        lat.record(t);
    }
    let seconds = t0.elapsed().as_secs_f64();
    drop(s);
    let _ = server.join();
    let calls = lat.0.len() as u64;
    Ok(Row {
        payload,
        outstanding: 1,
        connections: 1,
        calls,
        errors,
        seconds,
        bytes: calls * payload as u64,
        note: format!("{req} B each way"),
        ..Row::new("limit", "raw TCP ping-pong")
    }
    .with_latency(&mut lat))
}

/// Raw TCP with `window` requests in flight on each of `conns` connections: a writer thread and a
/// reader thread per connection, the writer waiting for a free slot.
fn raw_stream(payload: usize, window: usize, conns: usize, dur: Duration) -> std::io::Result<Row> {
    let req = wire_bytes(echo_stub_len(payload), MAX_FRAG);
    let resp = req;
    let deadline = Instant::now() + dur;
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..conns {
        let (port, server) = raw_server(req, resp)?;
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_nodelay(true)?;
        let mut reader = s.try_clone()?;
        let mut writer = s;
        let (slot_tx, slot_rx) = std::sync::mpsc::sync_channel::<()>(window);
        for _ in 0..window {
            let _ = slot_tx.send(());
        }
        let (sent_tx, sent_rx) = std::sync::mpsc::channel::<Instant>();
        let w = std::thread::spawn(move || {
            let out = vec![0xa5u8; req];
            while Instant::now() < deadline {
                if slot_rx.recv_timeout(Duration::from_secs(5)).is_err() {
                    break;
                }
                if sent_tx.send(Instant::now()).is_err() || writer.write_all(&out).is_err() {
                    break;
                }
            }
            let _ = writer.shutdown(Shutdown::Write);
        });
        let r = std::thread::spawn(move || {
            let mut inb = vec![0u8; resp];
            let mut lat = Latencies::default();
            // Ends at EOF: the writer shut its side, the server answered what it had and closed.
            while let Ok(t) = sent_rx.recv() {
                if reader.read_exact(&mut inb).is_err() {
                    break;
                }
                lat.record(t);
                let _ = slot_tx.try_send(());
            }
            lat
        });
        handles.push((w, r, server));
    }
    let mut lat = Latencies::default();
    for (w, r, server) in handles {
        let _ = w.join();
        if let Ok(l) = r.join() {
            lat.extend(l);
        }
        let _ = server.join();
    }
    let seconds = t0.elapsed().as_secs_f64();
    let calls = lat.0.len() as u64;
    Ok(Row {
        payload,
        outstanding: window * conns,
        connections: conns,
        calls,
        seconds,
        bytes: calls * payload as u64,
        note: format!("{req} B each way"),
        ..Row::new("limit", "raw TCP stream")
    }
    .with_latency(&mut lat))
}

// ---------------------------------------------------------------------------------------------
// the msrpc server

/// The echo interface, answered inline in `dispatch` (no task or thread per call): decode the byte
/// array, encode it back.
#[derive(Debug)]
struct Echo;

impl Interface for Echo {
    fn syntax(&self) -> SyntaxId {
        ECHO
    }
    fn name(&self) -> &str {
        "msrpc-bench-echo"
    }
    fn operation_count(&self) -> u16 {
        1
    }
    fn dispatch(&self, call: IncomingCall) -> Dispatch {
        let info = call.info();
        let mut d = Decoder::new(call.stub(), info.syntax, info.drep);
        let data = match d
            .decode_param::<ConformantArray<u8>>()
            .and_then(|v| d.finish().map(|_| v))
        {
            Ok(v) => v,
            Err(_) => return call.answer_fault(Win32Status::RPC_X_BAD_STUB_DATA),
        };
        let mut e = Encoder::new(info.syntax, DataRep::LITTLE_ENDIAN);
        match e.encode_param(&data) {
            Ok(()) => call.answer(e.into_bytes()),
            Err(_) => call.answer_fault(Win32Status::RPC_X_BAD_STUB_DATA),
        }
    }
}

/// The AsyncRPC sample's handler, for the outstanding-call memory row (AsyncFunc with a delay).
struct Quiet;

impl AsyncRpcHandler for Quiet {
    fn non_async_func(&self, _message: &[u8]) {}
    fn shutdown(&self) -> Result<(), Win32Status> {
        Err(Win32Status::ERROR_ACCESS_DENIED)
    }
}

struct Bench {
    server_rt: tokio::runtime::Runtime,
    client_rt: tokio::runtime::Runtime,
    server: Server,
    binding: String,
}

fn two_worker_runtime(name: &str) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))
}

impl Bench {
    fn start(cfg: &PerfConfig) -> Result<Bench, String> {
        let server_rt = two_worker_runtime("bench-server")?;
        let client_rt = two_worker_runtime("bench-client")?;
        let mut sc = ServerConfig::default();
        sc.max_connections = cfg.idle_connections + 64;
        sc.max_calls = (cfg.outstanding_calls + 512).max(1234);
        sc.max_calls_per_connection = sc.max_calls;
        let server = server_rt
            .block_on(
                Server::builder()
                    .config(sc)
                    .interface(Arc::new(Echo))
                    .interface(Arc::new(AsyncRpcServer::new(Quiet)))
                    .listen("ncacn_ip_tcp:127.0.0.1[0]")
                    .start(),
            )
            .map_err(|e| format!("cannot start the msrpc server: {e}"))?;
        let binding = server
            .bindings()
            .first()
            .map(|b| b.to_string())
            .ok_or("the server has no listener")?;
        Ok(Bench {
            server_rt,
            client_rt,
            server,
            binding,
        })
    }

    fn binding(&self) -> msrpc::Result<Binding> {
        let _in = self.client_rt.enter();
        let mut o = BindingOptions::default();
        o.call_timeout = Some(Duration::from_secs(30));
        o.noncausal = true;
        Binding::with_options(&self.binding, o)
    }

    fn stop(self) {
        let server = self.server;
        self.server_rt
            .block_on(async move { server.shutdown(Duration::from_secs(2)).await });
        self.client_rt.shutdown_timeout(Duration::from_secs(2));
        self.server_rt.shutdown_timeout(Duration::from_secs(2));
    }
}

fn encode_echo(
    payload: Arc<ConformantArray<u8>>,
) -> impl FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static {
    move |syntax, rep| {
        let mut e = Encoder::new(syntax, rep);
        e.encode_param(&*payload)?;
        Ok(e.into_bytes())
    }
}

/// Decodes an echo reply; true when it holds `len` bytes.
fn check_echo(reply: &msrpc::Reply, len: usize) -> bool {
    let mut d = Decoder::new(&reply.stub, reply.syntax, reply.drep);
    d.decode_param::<ConformantArray<u8>>()
        .is_ok_and(|v| v.0.len() == len)
}

fn payload_of(n: usize) -> Arc<ConformantArray<u8>> {
    Arc::new(ConformantArray((0..n).map(|i| i as u8).collect()))
}

// (b) blocking null calls
fn null_blocking(bench: &Bench, payload: usize, dur: Duration) -> msrpc::Result<Row> {
    let b = bench.binding()?;
    let data = payload_of(payload);
    b.call_blocking(ECHO, 0, encode_echo(data.clone()))?;
    let mut lat = Latencies::default();
    let mut errors = 0;
    let t0 = Instant::now();
    while t0.elapsed() < dur {
        let t = Instant::now();
        match b.call_blocking(ECHO, 0, encode_echo(data.clone())) {
            Ok(r) if check_echo(&r, payload) => lat.record(t),
            _ => errors += 1,
        }
        if errors > 100 {
            break;
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    b.close();
    let calls = lat.0.len() as u64;
    Ok(Row {
        payload,
        outstanding: 1,
        connections: 1,
        calls,
        errors,
        seconds,
        bytes: calls * payload as u64,
        ..Row::new("null", "msrpc blocking call")
    }
    .with_latency(&mut lat))
}

// (c) async calls
fn async_calls(
    bench: &Bench,
    payload: usize,
    outstanding: usize,
    conns: usize,
    dur: Duration,
) -> msrpc::Result<Row> {
    let bindings = (0..conns)
        .map(|_| bench.binding())
        .collect::<msrpc::Result<Vec<_>>>()?;
    let data = payload_of(payload);
    let (lat, errors, seconds) = bench.client_rt.block_on(async {
        for b in &bindings {
            b.call(ECHO, 0, encode_echo(data.clone())).await?;
        }
        let t0 = Instant::now();
        let (lat, errors) = closed_loop(outstanding, t0 + dur, |i| {
            let b = bindings[i % conns].clone();
            let data = data.clone();
            move || {
                let (b, data) = (b.clone(), data.clone());
                async move {
                    matches!(b.call(ECHO, 0, encode_echo(data)).await,
                        Ok(r) if check_echo(&r, payload))
                }
            }
        })
        .await;
        Ok::<_, msrpc::Error>((lat, errors, t0.elapsed().as_secs_f64()))
    })?;
    for b in &bindings {
        b.close();
    }
    let mut lat = lat;
    let calls = lat.0.len() as u64;
    Ok(Row {
        payload,
        outstanding,
        connections: conns,
        calls,
        errors,
        seconds,
        bytes: calls * payload as u64,
        ..Row::new("async", "msrpc async calls")
    }
    .with_latency(&mut lat))
}

/// Outstanding mgmt calls in the mgmt and samba groups: one at a time (the round trip), and 64 on
/// one connection (what the server answers under load).
const MGMT_OUTSTANDING: [usize; 2] = [1, 64];

/// `mgmt is_server_listening` at `target`, with `outstanding` calls in flight on one binding.
fn mgmt_calls(
    rt: &tokio::runtime::Runtime,
    target: &str,
    options: &BindingOptions,
    group: &str,
    name: &str,
    outstanding: usize,
    dur: Duration,
) -> msrpc::Result<Row> {
    let b = {
        let _in = rt.enter();
        let mut o = options.clone();
        o.call_timeout = Some(Duration::from_secs(10));
        Binding::with_options(target, o)?
    };
    let (lat, errors, seconds) = rt.block_on(async {
        mgmt::is_server_listening(&b).await?;
        let t0 = Instant::now();
        let (lat, errors) = closed_loop(outstanding.max(1), t0 + dur, |_| {
            let b = b.clone();
            move || {
                let b = b.clone();
                async move { matches!(mgmt::is_server_listening(&b).await, Ok(true)) }
            }
        })
        .await;
        Ok::<_, msrpc::Error>((lat, errors, t0.elapsed().as_secs_f64()))
    })?;
    let connections = b.connection_count().max(1);
    b.close();
    let mut lat = lat;
    let calls = lat.0.len() as u64;
    Ok(Row {
        outstanding,
        connections,
        calls,
        errors,
        seconds,
        ..Row::new(group, format!("{name}, {outstanding} outstanding"))
    }
    .with_latency(&mut lat))
}

/// Keeps `outstanding` calls in flight until `deadline`: task `i` repeats the call that
/// `call(i)` makes, which resolves to whether the answer was right; a task stops after 100 wrong
/// answers. The latencies of the right answers, and how many were wrong (or lost with a task).
async fn closed_loop<G, Fut>(
    outstanding: usize,
    deadline: Instant,
    call: impl Fn(usize) -> G,
) -> (Latencies, u64)
where
    G: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let tasks: Vec<_> = (0..outstanding)
        .map(|i| {
            let one = call(i);
            tokio::spawn(async move {
                let mut lat = Latencies::default();
                let mut errors = 0u64;
                while Instant::now() < deadline && errors < 100 {
                    let t = Instant::now();
                    if one().await {
                        lat.record(t);
                    } else {
                        errors += 1;
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let mut lat = Latencies::default();
    let mut errors = 0u64;
    for t in tasks {
        match t.await {
            Ok((l, e)) => {
                lat.extend(l);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    (lat, errors)
}

// ---------------------------------------------------------------------------------------------
// (f) NDR

/// A small structure with strings and unique pointers, shaped like srvsvc's SHARE_INFO_1
/// (`[string] wchar_t *netname; DWORD type; [string] wchar_t *remark`), written by hand the way
/// msrpc-idl generates it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Share {
    pub name: Unique<WideString>,
    pub kind: u32,
    pub remark: Unique<WideString>,
}

impl NdrType for Share {
    fn align(s: Syntax) -> usize {
        <Unique<WideString>>::align(s).max(4)
    }
    fn min_size(s: Syntax) -> usize {
        2 * <Unique<WideString>>::min_size(s) + 4
    }
}

impl NdrEncode for Share {
    fn encode_head(&self, e: &mut Encoder) -> msrpc_ndr::Result<()> {
        e.align(Self::align(e.syntax()));
        self.name.encode_head(e)?;
        self.kind.encode_head(e)?;
        self.remark.encode_head(e)
    }
    fn encode_deferred(&self, e: &mut Encoder) -> msrpc_ndr::Result<()> {
        self.name.encode_deferred(e)?;
        self.remark.encode_deferred(e)
    }
}

impl NdrDecode for Share {
    type Head = (
        <Unique<WideString> as NdrDecode>::Head,
        u32,
        <Unique<WideString> as NdrDecode>::Head,
    );
    fn decode_head(d: &mut Decoder<'_>) -> msrpc_ndr::Result<Self::Head> {
        d.align(Self::align(d.syntax()))?;
        Ok((
            <Unique<WideString>>::decode_head(d)?,
            u32::decode_head(d)?,
            <Unique<WideString>>::decode_head(d)?,
        ))
    }
    fn decode_deferred(h: Self::Head, d: &mut Decoder<'_>) -> msrpc_ndr::Result<Self> {
        Ok(Share {
            name: <Unique<WideString>>::decode_deferred(h.0, d)?,
            kind: h.1,
            remark: <Unique<WideString>>::decode_deferred(h.2, d)?,
        })
    }
}

/// 10,000 shares with short names and remarks (some remarks null).
pub(crate) fn shares(n: usize) -> ConformantArray<Share> {
    ConformantArray(
        (0..n)
            .map(|i| Share {
                name: Unique::new(WideString::from(format!("share{i}").as_str())),
                kind: (i % 4) as u32,
                remark: if i % 5 == 0 {
                    Unique::null()
                } else {
                    Unique::new(WideString::from(format!("remark for share {i}").as_str()))
                },
            })
            .collect(),
    )
}

/// Runs `f` repeatedly for `dur` (at least once) and makes a row of it.
fn timed_loop(name: &str, bytes_each: usize, dur: Duration, mut f: impl FnMut() -> bool) -> Row {
    let mut lat = Latencies::default();
    let mut errors = 0;
    let t0 = Instant::now();
    loop {
        let t = Instant::now();
        if f() {
            lat.record(t);
        } else {
            errors += 1;
        }
        if t0.elapsed() >= dur || errors > 0 {
            break;
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    let calls = lat.0.len() as u64;
    Row {
        payload: bytes_each,
        calls,
        errors,
        seconds,
        bytes: calls * bytes_each as u64,
        ..Row::new("ndr", name)
    }
    .with_latency(&mut lat)
}

fn ndr_rows(dur: Duration) -> Vec<Row> {
    use std::hint::black_box;
    let mut rows = Vec::new();
    let syntax = Syntax::Ndr20;
    let rep = DataRep::LITTLE_ENDIAN;
    let encode = |v: &dyn Fn(&mut Encoder) -> msrpc_ndr::Result<()>| {
        let mut e = Encoder::new(syntax, rep);
        v(&mut e).ok().map(|_| e.into_bytes())
    };

    // 1 MiB conformant byte array.
    let mib = ConformantArray((0..1usize << 20).map(|i| i as u8).collect::<Vec<u8>>());
    let wire = encode(&|e| e.encode_param(&mib)).unwrap_or_default();
    let n = wire.len();
    rows.push(timed_loop("encode 1 MiB byte array", n, dur, || {
        encode(&|e| e.encode_param(black_box(&mib))).is_some_and(|b| black_box(b).len() == n)
    }));
    rows.push(timed_loop("decode 1 MiB byte array", n, dur, || {
        Decoder::new(black_box(&wire), syntax, rep)
            .decode_param::<ConformantArray<u8>>()
            .is_ok_and(|v| black_box(v).0.len() == 1 << 20)
    }));
    let mut dst = vec![0u8; n];
    rows.push(timed_loop("memcpy 1 MiB", n, dur, || {
        dst.copy_from_slice(black_box(&wire));
        black_box(&dst).len() == n
    }));

    // 10,000 small structures.
    let list = shares(10_000);
    let wire = encode(&|e| e.encode_param(&Unique::new(list.clone()))).unwrap_or_default();
    let n = wire.len();
    let boxed = Unique::new(list);
    rows.push(timed_loop("encode 10,000 structures", n, dur, || {
        encode(&|e| e.encode_param(black_box(&boxed))).is_some_and(|b| black_box(b).len() == n)
    }));
    rows.push(timed_loop("decode 10,000 structures", n, dur, || {
        Decoder::new(black_box(&wire), syntax, rep)
            .decode_param::<Unique<ConformantArray<Share>>>()
            .is_ok_and(|v| v.0.is_some_and(|l| l.0.len() == 10_000))
    }));
    let mut dst = vec![0u8; n];
    rows.push(timed_loop(
        &format!("memcpy {} KiB (the structures' bytes)", n / 1024),
        n,
        dur,
        || {
            dst.copy_from_slice(black_box(&wire));
            black_box(&dst).len() == n
        },
    ));
    rows
}

// ---------------------------------------------------------------------------------------------
// memory

/// Lets the connection tasks finish what they were doing before the heap is read.
fn settle() {
    std::thread::sleep(Duration::from_millis(150));
}

fn memory_idle(bench: &Bench, n: usize) -> msrpc::Result<Row> {
    // One warm-up connection so lazily built parts are in the baseline.
    let warm = bench.binding()?;
    warm.call_blocking(ECHO, 0, encode_echo(payload_of(0)))?;
    settle();
    let open_before = bench.server.stats().connections_open;
    let heap0 = crate::heap::live_bytes() as f64;
    let rss0 = crate::bench::rss_kib() as f64 * 1024.0;
    let mut bindings = Vec::with_capacity(n);
    for _ in 0..n {
        let b = bench.binding()?;
        b.call_blocking(ECHO, 0, encode_echo(payload_of(0)))?;
        bindings.push(b);
    }
    settle();
    let heap1 = crate::heap::live_bytes() as f64;
    let rss1 = crate::bench::rss_kib() as f64 * 1024.0;
    let opened = bench.server.stats().connections_open - open_before;
    for b in &bindings {
        b.close();
    }
    drop(bindings);
    warm.close();
    let each = n as f64;
    Ok(Row {
        connections: opened as usize,
        calls: n as u64,
        seconds: 1.0,
        heap_each: Some((heap1 - heap0) / each),
        rss_each: Some((rss1 - rss0) / each),
        note: format!(
            "{n} connections, each after one call; client and server heap together; {opened} open at the server"
        ),
        ..Row::new("memory", "heap per idle connection")
    })
}

fn memory_outstanding(bench: &Bench, n: usize, delay_ms: u32) -> msrpc::Result<Row> {
    let b = bench.binding()?;
    let server = bench.server.clone();
    bench.client_rt.block_on(async {
        sample::async_func(&b, 0).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let base = server.stats().calls_in_progress;
        let heap0 = crate::heap::live_bytes() as f64;
        let rss0 = crate::bench::rss_kib() as f64 * 1024.0;
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move { sample::async_func(&b, delay_ms).await })
            })
            .collect();
        // Wait (bounded) until the server holds them all.
        let t0 = Instant::now();
        while server.stats().calls_in_progress < base + n as u64
            && t0.elapsed() < Duration::from_millis(u64::from(delay_ms) / 2)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let held = server.stats().calls_in_progress - base;
        let heap1 = crate::heap::live_bytes() as f64;
        let rss1 = crate::bench::rss_kib() as f64 * 1024.0;
        let mut errors = 0;
        for t in tasks {
            if !matches!(t.await, Ok(Ok(()))) {
                errors += 1;
            }
        }
        b.close();
        let each = n as f64;
        Ok(Row {
            outstanding: n,
            connections: 1,
            calls: n as u64,
            errors,
            seconds: 1.0,
            heap_each: Some((heap1 - heap0) / each),
            rss_each: Some((rss1 - rss0) / each),
            note: format!(
                "{n} AsyncFunc calls held by the server ({held} seen in progress); client and server heap together"
            ),
            ..Row::new("memory", "heap per outstanding small call")
        })
    })
}

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
        for &k in &cfg.concurrency {
            rows.push(raw_stream(0, k, 1, dur).map_err(io)?);
        }
        for &k in &cfg.concurrency {
            if k >= cfg.connections && cfg.connections > 1 {
                rows.push(raw_stream(0, k / cfg.connections, cfg.connections, dur).map_err(io)?);
            }
        }
    }
    let needs_server = ["null", "async", "mgmt", "memory", "samba"]
        .iter()
        .any(|g| cfg.wants(g));
    if needs_server {
        let bench = Bench::start(cfg)?;
        let r = (|| {
            if cfg.wants("null") {
                for &p in &cfg.payloads {
                    rows.push(null_blocking(&bench, p, dur).map_err(rpc)?);
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
