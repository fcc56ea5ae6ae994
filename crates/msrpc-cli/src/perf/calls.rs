//! The msrpc rows: the bench server (the echo interface and the AsyncRPC sample), and the `null`,
//! `async` and `mgmt` calls against it (and against samba-dcerpcd).

use super::*;

// ---------------------------------------------------------------------------------------------
// the msrpc server

/// The echo interface, answered inline in `dispatch` (no task or thread per call): opnum 0
/// decodes the byte array and encodes it back; opnum 1 ([`NULL_OPNUM`]) takes and gives nothing.
#[derive(Debug)]
pub(super) struct Echo;

impl Interface for Echo {
    fn syntax(&self) -> SyntaxId {
        ECHO
    }
    fn name(&self) -> &str {
        "msrpc-bench-echo"
    }
    fn operation_count(&self) -> u16 {
        2
    }
    fn dispatch(&self, call: IncomingCall) -> Dispatch {
        let info = call.info();
        if info.opnum == NULL_OPNUM {
            // The null operation: no parameters, an empty answer.
            return call.answer(Vec::new());
        }
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
pub(super) struct Quiet;

impl AsyncRpcHandler for Quiet {
    fn non_async_func(&self, _message: &[u8]) {}
    fn shutdown(&self) -> Result<(), Win32Status> {
        Err(Win32Status::ERROR_ACCESS_DENIED)
    }
}

pub(super) struct Bench {
    pub(super) server_rt: tokio::runtime::Runtime,
    pub(super) client_rt: tokio::runtime::Runtime,
    pub(super) server: Server,
    pub(super) binding: String,
    /// The server's TCP port (for the batched raw client).
    pub(super) port: u16,
}

pub(super) fn two_worker_runtime(name: &str) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))
}

impl Bench {
    pub(super) fn start(cfg: &PerfConfig) -> Result<Bench, String> {
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
                    .interface(Arc::new(msrpc_sample::service(Quiet)))
                    .listen("ncacn_ip_tcp:127.0.0.1[0]")
                    .start(),
            )
            .map_err(|e| format!("cannot start the msrpc server: {e}"))?;
        let binding = server
            .bindings()
            .first()
            .map(|b| b.to_string())
            .ok_or("the server has no listener")?;
        let port = binding
            .rsplit_once('[')
            .and_then(|(_, p)| p.trim_end_matches(']').parse().ok())
            .ok_or_else(|| format!("no port in {binding}"))?;
        Ok(Bench {
            port,
            server_rt,
            client_rt,
            server,
            binding,
        })
    }

    pub(super) fn binding(&self) -> msrpc::Result<Binding> {
        let _in = self.client_rt.enter();
        let mut o = BindingOptions::default();
        o.call_timeout = Some(Duration::from_secs(30));
        o.noncausal = true;
        Binding::with_options(&self.binding, o)
    }

    pub(super) fn stop(self) {
        let server = self.server;
        self.server_rt
            .block_on(async move { server.shutdown(Duration::from_secs(2)).await });
        self.client_rt.shutdown_timeout(Duration::from_secs(2));
        self.server_rt.shutdown_timeout(Duration::from_secs(2));
    }
}

pub(super) fn encode_echo(
    payload: Arc<ConformantArray<u8>>,
) -> impl FnOnce(Syntax, DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send + 'static {
    move |syntax, rep| {
        let mut e = Encoder::new(syntax, rep);
        e.encode_param(&*payload)?;
        Ok(e.into_bytes())
    }
}

/// Decodes an echo reply; true when it holds `len` bytes.
pub(super) fn check_echo(reply: &msrpc::Reply, len: usize) -> bool {
    let mut d = Decoder::new(&reply.stub, reply.syntax, reply.drep);
    d.decode_param::<ConformantArray<u8>>()
        .is_ok_and(|v| v.0.len() == len)
}

pub(super) fn payload_of(n: usize) -> Arc<ConformantArray<u8>> {
    Arc::new(ConformantArray((0..n).map(|i| i as u8).collect()))
}

// (b) blocking null calls
pub(super) fn null_blocking(
    bench: &Bench,
    payload: usize,
    dur: Duration,
    subscriber: bool,
) -> msrpc::Result<Row> {
    let listening = if subscriber {
        Some(
            crate::logging::listen_to_calls()
                .map_err(|e| msrpc::Error::status_msg(Win32Status::RPC_S_INTERNAL_ERROR, e))?,
        )
    } else {
        None
    };
    let b = bench.binding()?;
    let data = payload_of(payload);
    b.call_blocking(ECHO, 0, encode_echo(data.clone()))?;
    let mut lat = Latencies::default();
    // Reserved before counting: the latency list's growth is the harness's, not the call's.
    lat.0.reserve(4_000_000);
    let mut errors = 0;
    let allocs0 = crate::heap::allocations();
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
    let allocs = crate::heap::allocations() - allocs0;
    drop(listening);
    b.close();
    let calls = lat.0.len() as u64;
    let allocs_each = (calls > 0).then(|| allocs as f64 / calls as f64);
    Ok(Row {
        payload,
        outstanding: 1,
        connections: 1,
        calls,
        errors,
        seconds,
        bytes: calls * payload as u64,
        allocs_each,
        note: format!(
            "{:.1} allocations per call (client and server)",
            allocs_each.unwrap_or(f64::NAN)
        ),
        ..Row::new(
            "null",
            if subscriber {
                "msrpc blocking call, a subscriber listening to the spans"
            } else {
                "msrpc blocking call"
            },
        )
    }
    .with_latency(&mut lat))
}

// (c) async calls
pub(super) fn async_calls(
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
pub(super) const MGMT_OUTSTANDING: [usize; 2] = [1, 64];

/// `mgmt is_server_listening` at `target`, with `outstanding` calls in flight on one binding.
pub(super) fn mgmt_calls(
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
pub(super) async fn closed_loop<G, Fut>(
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

// (b') the same call, the I/O on the calling thread
/// The 0 B echo call with msrpc's client state machine (`msrpc_proto::ClientConnection`, the
/// one `Binding` runs in its connection task) driven on the calling thread over a blocking
/// socket, against msrpc's server: what a blocking call would cost if it did its own I/O instead
/// of handing the call to the runtime and waiting to be woken (docs/runtime.md, "Synchronous
/// callers"). The server and the bytes on the wire are the same as the `null` row's.
///
/// With `registered`, a duplicate of the socket's descriptor is also registered with the client
/// runtime's reactor (a `tokio::net::TcpStream` nobody polls), as a connection task's socket would stay if
/// the caller borrowed it for a call: the reactor's worker is then woken by every answer the
/// calling thread reads (docs/runtime.md, "The blocking call and its thread hand-offs", blocker
/// 2). The difference between the two rows is what that registration costs.
pub(super) fn null_on_calling_thread(
    bench: &Bench,
    payload: usize,
    dur: Duration,
    registered: bool,
) -> std::io::Result<Row> {
    use msrpc_proto::{ClientConfig, ClientConnection, ClientEvent};
    let bad = |m: String| std::io::Error::other(m);
    let mut s = TcpStream::connect(("127.0.0.1", bench.port))?;
    s.set_nodelay(true)?;
    // Edge-triggered read and write interest on the same open file, for the whole row.
    // (tokio refuses a blocking socket, and the flag belongs to the open file both descriptors
    // share: registered non-blocking, then made blocking again for the calling thread's reads.
    // Nothing ever polls the registered one.)
    let _registration = if registered {
        let dup = s.try_clone()?;
        dup.set_nonblocking(true)?;
        let _rt = bench.client_rt.enter();
        let reg = tokio::net::TcpStream::from_std(dup)?;
        s.set_nonblocking(false)?;
        Some(reg)
    } else {
        None
    };
    let mut cfg = ClientConfig::default();
    cfg.transfer_syntaxes = vec![SyntaxId::NDR20, SyntaxId::NDR64];
    let mut c = ClientConnection::new(cfg);
    let mut out = Vec::new();
    let mut inb = vec![0u8; 64 * 1024];
    // One round: write what the core has to send, then read until `done` says the answer came.
    let mut round = |c: &mut ClientConnection,
                     s: &mut TcpStream,
                     done: &mut dyn FnMut(ClientEvent) -> bool|
     -> std::io::Result<()> {
        out.clear();
        while c.poll_transmit_into(&mut out) {}
        s.write_all(&out)?;
        loop {
            while let Some(ev) = c.poll_event() {
                if done(ev) {
                    return Ok(());
                }
            }
            let n = s.read(&mut inb)?;
            if n == 0 {
                return Err(bad("the server closed the connection".into()));
            }
            c.handle_bytes(Instant::now(), &inb[..n]);
        }
    };
    c.bind(&[ECHO]).map_err(|e| bad(e.to_string()))?;
    round(&mut c, &mut s, &mut |ev| {
        matches!(ev, ClientEvent::Bound(_))
    })?;
    let ctx = c
        .context_for(&ECHO)
        .ok_or_else(|| bad("the echo interface was not accepted".into()))?;
    let data = payload_of(payload);
    let mut lat = Latencies::default();
    lat.0.reserve(4_000_000);
    let mut errors = 0;
    let t0 = Instant::now();
    while t0.elapsed() < dur && errors <= 100 {
        let t = Instant::now();
        let stub = encode_echo(data.clone())(ctx.syntax(), DataRep::LITTLE_ENDIAN)
            .map_err(|e| bad(e.to_string()))?;
        c.start_call(ctx.context_id, 0, None, stub)
            .map_err(|e| bad(e.to_string()))?;
        let mut ok = false;
        round(&mut c, &mut s, &mut |ev| match ev {
            ClientEvent::Response {
                stub, syntax, drep, ..
            } => {
                let mut d = Decoder::new(&stub, syntax, drep);
                ok = d
                    .decode_param::<ConformantArray<u8>>()
                    .is_ok_and(|v| v.0.len() == payload);
                true
            }
            ClientEvent::Fault { .. } | ClientEvent::Closed { .. } => true,
            _ => false,
        })?;
        if ok {
            lat.record(t);
        } else {
            errors += 1;
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    let calls = lat.0.len() as u64;
    Ok(Row {
        payload,
        outstanding: 1,
        connections: 1,
        calls,
        errors,
        seconds,
        bytes: calls * payload as u64,
        note: if registered {
            "msrpc_proto::ClientConnection on the calling thread, blocking socket, also registered with the client runtime's reactor".into()
        } else {
            "msrpc_proto::ClientConnection on the calling thread, blocking socket".into()
        },
        ..Row::new(
            "null",
            if registered {
                "msrpc client core on the calling thread, socket registered with the runtime (an experiment)"
            } else {
                "msrpc client core on the calling thread (an experiment), msrpc server"
            },
        )
    }
    .with_latency(&mut lat))
}
