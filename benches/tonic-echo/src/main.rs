//! tonic gRPC unary echo, the peer of `msrpc bench`'s echo rows (BENCHMARKS.md, group `tonic`).
//!
//! A server and a client in this process over TCP on 127.0.0.1, each on its own two-worker tokio
//! runtime, as `msrpc bench` runs msrpc. The message is one protobuf `bytes` field, declared by hand
//! with prost's derive (no protoc), and the service is written by hand against tonic's server API.
//! Rows (one JSON object a line, the shape `msrpc bench` reads):
//! - one call at a time with each payload;
//! - N calls outstanding on one HTTP/2 connection, then spread over several connections (0 B).
//!
//! Every loop stops at its row's deadline; the server is stopped before the program exits.
//!
//! Usage: msrpc-bench-tonic [--row-seconds F] [--payloads 0,1024,...] [--concurrency 1,16,...]
//! [--connections N]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tonic::body::Body;
use tonic::codegen::Service;
use tonic::codegen::http;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

/// `message Blob { bytes data = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
struct Blob {
    #[prost(bytes = "bytes", tag = "1")]
    data: Bytes,
}

const METHOD: &str = "/msrpcbench.Echo/Echo";

/// The echo method: answers with the request's message.
#[derive(Clone, Copy)]
struct EchoMethod;

impl Service<Request<Blob>> for EchoMethod {
    type Response = Response<Blob>;
    type Error = Status;
    type Future = std::future::Ready<Result<Response<Blob>, Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Blob>) -> Self::Future {
        std::future::ready(Ok(Response::new(req.into_inner())))
    }
}

/// The service `msrpcbench.Echo`, routing its one method.
#[derive(Clone, Copy)]
struct EchoService;

impl NamedService for EchoService {
    const NAME: &'static str = "msrpcbench.Echo";
}

type HttpFuture = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

impl Service<http::Request<Body>> for EchoService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = HttpFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> HttpFuture {
        Box::pin(async move {
            if req.uri().path() != METHOD {
                return Ok(Status::unimplemented("no such method").into_http());
            }
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<Blob, Blob>::default());
            Ok(grpc.unary(EchoMethod, req).await)
        })
    }
}

#[derive(Default)]
struct Latencies(Vec<u64>);

impl Latencies {
    fn percentile_us(&mut self, p: f64) -> Option<f64> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        Some(self.0[rank.clamp(1, self.0.len()) - 1] as f64 / 1e3)
    }
}

struct Config {
    row_time: Duration,
    payloads: Vec<usize>,
    concurrency: Vec<usize>,
    connections: usize,
}

fn parse_args() -> Result<Config, String> {
    let mut cfg = Config {
        row_time: Duration::from_secs(3),
        payloads: vec![0, 1024, 65536, 1048576],
        concurrency: vec![1, 16, 64, 256],
        connections: 4,
    };
    let list = |v: &str| -> Result<Vec<usize>, String> {
        v.split(',')
            .map(|x| x.trim().parse().map_err(|e| format!("{x}: {e}")))
            .collect()
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--row-seconds" => {
                let s: f64 = v.parse().map_err(|e| format!("{v}: {e}"))?;
                if !(s > 0.0 && s <= 600.0) {
                    return Err("--row-seconds must be in (0, 600]".into());
                }
                cfg.row_time = Duration::from_secs_f64(s);
            }
            "--payloads" => cfg.payloads = list(&v)?,
            "--concurrency" => cfg.concurrency = list(&v)?,
            "--connections" => cfg.connections = v.parse().map_err(|e| format!("{v}: {e}"))?,
            _ => return Err(format!("unknown option {a}")),
        }
    }
    if cfg.connections == 0 || cfg.concurrency.contains(&0) {
        return Err("--connections and --concurrency must be at least 1".into());
    }
    Ok(cfg)
}

fn runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

async fn echo(channel: tonic::transport::Channel, data: Bytes) -> Result<usize, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let r = grpc
        .unary(
            Request::new(Blob { data }),
            http::uri::PathAndQuery::from_static(METHOD),
            ProstCodec::<Blob, Blob>::default(),
        )
        .await?;
    Ok(r.into_inner().data.len())
}

async fn connect(port: u16) -> Result<tonic::transport::Channel, String> {
    tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .map_err(|e| e.to_string())?
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))
}

/// One row: `outstanding` calls kept in flight over `conns` connections for `dur`.
async fn row(
    name: &str,
    port: u16,
    payload: usize,
    outstanding: usize,
    conns: usize,
    dur: Duration,
) -> Result<serde_json::Value, String> {
    let mut channels = Vec::new();
    for _ in 0..conns {
        channels.push(connect(port).await?);
    }
    let data = Bytes::from((0..payload).map(|i| i as u8).collect::<Vec<u8>>());
    for c in &channels {
        echo(c.clone(), data.clone())
            .await
            .map_err(|e| format!("warm-up call: {e}"))?;
    }
    let t0 = Instant::now();
    let deadline = t0 + dur;
    let mut tasks = Vec::new();
    for i in 0..outstanding {
        let channel = channels[i % conns].clone();
        let data = data.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline && errors < 100 {
                let t = Instant::now();
                match echo(channel.clone(), data.clone()).await {
                    Ok(n) if n == payload => lat.push(t.elapsed().as_nanos() as u64),
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Latencies::default();
    let mut errors = 0;
    for t in tasks {
        match t.await {
            Ok((l, e)) => {
                lat.0.extend(l);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    let calls = lat.0.len() as u64;
    Ok(serde_json::json!({
        "group": "tonic",
        "name": name,
        "payload": payload,
        "outstanding": outstanding,
        "connections": conns,
        "calls": calls,
        "errors": errors,
        "seconds": seconds,
        "bytes": calls * payload as u64,
        "p50_us": lat.percentile_us(50.0),
        "p99_us": lat.percentile_us(99.0),
        "note": "",
    }))
}

fn main() -> std::process::ExitCode {
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("msrpc-bench-tonic: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let server_rt = runtime("tonic-server");
    let client_rt = runtime("tonic-client");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (port, server) = match server_rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let incoming =
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(EchoService)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stop_rx.await;
                }),
        );
        Ok::<_, std::io::Error>((port, server))
    }) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("msrpc-bench-tonic: server: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let result = client_rt.block_on(async {
        let dur = cfg.row_time;
        let mut rows = Vec::new();
        for &p in &cfg.payloads {
            rows.push(row("tonic unary echo, one at a time", port, p, 1, 1, dur).await?);
        }
        for &k in &cfg.concurrency {
            rows.push(row("tonic unary echo, outstanding", port, 0, k, 1, dur).await?);
        }
        for &k in &cfg.concurrency {
            if k >= cfg.connections && cfg.connections > 1 {
                rows.push(row("tonic unary echo, outstanding", port, 0, k, cfg.connections, dur).await?);
            }
        }
        Ok::<_, String>(rows)
    });
    let _ = stop_tx.send(());
    let _ = server_rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), server).await });
    client_rt.shutdown_timeout(Duration::from_secs(2));
    server_rt.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(rows) => {
            for r in rows {
                println!("{r}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("msrpc-bench-tonic: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
