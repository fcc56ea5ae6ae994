//! The soak of `msrpc bench --soak`: a server and N clients in this process, every call accounted
//! for (see the `bench` module's docs).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use msrpc::CancelMode;
use msrpc::notify::{AsyncState, Notification};
use msrpc::server::{Server, ServerConfig};
use msrpc::{Binding, Win32Status};
use msrpc_sample::{self as sample, AsyncRpcHandler};

/// What the soak does.
#[derive(Clone, Debug)]
pub(crate) struct SoakConfig {
    pub clients: usize,
    pub outstanding: usize,
    pub duration: Duration,
    pub seed: u64,
    /// The largest NonAsyncFunc string.
    pub max_payload: usize,
    /// A call not resolved within this is hung.
    pub call_bound: Duration,
    /// File descriptors allowed above the baseline afterwards.
    pub fd_tolerance: u64,
    /// RSS growth (KiB) allowed above the baseline afterwards: the allocator keeps freed memory
    /// (glibc arenas), so RSS does not return exactly; this bounds what it keeps.
    pub rss_tolerance_kib: u64,
    /// Live heap bytes allowed above the baseline afterwards (the process's own allocations, counted
    /// by the tool's global allocator: unlike RSS, this must come back).
    pub heap_tolerance_bytes: u64,
    /// Abandon calls by dropping their futures at any point (true), or only once the request is
    /// on its way, by dropping the call's `AsyncState` (false).
    pub drop_futures_anywhere: bool,
}

impl Default for SoakConfig {
    fn default() -> Self {
        SoakConfig {
            clients: 20,
            outstanding: 8,
            duration: Duration::from_secs(5),
            seed: 1,
            max_payload: 256 * 1024,
            call_bound: Duration::from_secs(60),
            fd_tolerance: 2,
            rss_tolerance_kib: 256 * 1024,
            heap_tolerance_bytes: 4 * 1024 * 1024,
            drop_futures_anywhere: true,
        }
    }
}

/// The soak's accounting.
#[derive(Debug, Default, Clone)]
pub(crate) struct SoakReport {
    pub clients: usize,
    pub outstanding: usize,
    pub seconds: f64,
    pub seed: u64,
    pub started: u64,
    pub answered: u64,
    /// Ended as RPC_S_CALL_CANCELLED (1818) after the caller cancelled them through AsyncState.
    pub cancelled: u64,
    /// Futures the caller dropped before the answer (abortive cancel by abandonment).
    pub abandoned: u64,
    /// Failed with 1820/1726 (or 1818 on a cancel raced by the close) while this client closed
    /// its binding.
    pub failed_disconnect: u64,
    /// Errors nothing explains, by status.
    pub unexplained: Vec<(u32, String)>,
    pub hung: u64,
    /// NonAsyncFunc ids the server executed more than once.
    pub duplicated: u64,
    /// NonAsyncFunc calls answered OK although the server never executed them.
    pub answered_not_executed: u64,
    pub disconnects: u64,
    pub cancels_requested_abortive: u64,
    pub cancels_requested_nonabortive: u64,
    pub payload_bytes: u64,
    pub server_calls_received: u64,
    pub server_calls_in_progress_after: u64,
    pub server_connections_open_after: u64,
    pub fds_before: u64,
    pub fds_after: u64,
    pub rss_before_kib: u64,
    pub rss_peak_kib: u64,
    pub rss_after_kib: u64,
    pub fd_tolerance: u64,
    pub rss_tolerance_kib: u64,
    pub heap_before: u64,
    pub heap_peak: u64,
    pub heap_after: u64,
    pub heap_tolerance_bytes: u64,
}

impl SoakReport {
    /// Calls started and not accounted for in any outcome.
    pub(crate) fn lost(&self) -> i64 {
        self.started as i64
            - (self.answered
                + self.cancelled
                + self.abandoned
                + self.failed_disconnect
                + self.unexplained.len() as u64
                + self.hung) as i64
    }

    pub(crate) fn resources_returned(&self) -> bool {
        self.server_calls_in_progress_after == 0
            && self.server_connections_open_after == 0
            && self.fds_after <= self.fds_before + self.fd_tolerance
            && self.rss_after_kib <= self.rss_before_kib + self.rss_tolerance_kib
            && self.heap_after <= self.heap_before + self.heap_tolerance_bytes
    }

    pub(crate) fn passed(&self) -> bool {
        self.lost() == 0
            && self.hung == 0
            && self.duplicated == 0
            && self.answered_not_executed == 0
            && self.unexplained.is_empty()
            && self.resources_returned()
    }

    pub(crate) fn table(&self) -> String {
        let mut s = String::new();
        let mut row = |k: &str, v: String| s.push_str(&format!("{k:<34} {v}\n"));
        row(
            "soak",
            format!(
                "{} clients x {} outstanding, {:.1} s, seed {}",
                self.clients, self.outstanding, self.seconds, self.seed
            ),
        );
        row("calls started", self.started.to_string());
        row("  answered", self.answered.to_string());
        row("  cancelled (1818, asked)", self.cancelled.to_string());
        row("  abandoned (future dropped)", self.abandoned.to_string());
        row(
            "  failed after a disconnect",
            self.failed_disconnect.to_string(),
        );
        row("  unexplained errors", self.unexplained.len().to_string());
        row("  hung", self.hung.to_string());
        row("  lost (not accounted)", self.lost().to_string());
        row("duplicated (executed twice)", self.duplicated.to_string());
        row(
            "answered, never executed",
            self.answered_not_executed.to_string(),
        );
        row(
            "cancels asked (abortive/non)",
            format!(
                "{}/{}",
                self.cancels_requested_abortive, self.cancels_requested_nonabortive
            ),
        );
        row("disconnects (Binding::close)", self.disconnects.to_string());
        row(
            "payload sent",
            format!("{:.1} MiB", self.payload_bytes as f64 / 1048576.0),
        );
        row(
            "server calls received",
            self.server_calls_received.to_string(),
        );
        row(
            "server calls in progress after",
            self.server_calls_in_progress_after.to_string(),
        );
        row(
            "server connections open after",
            self.server_connections_open_after.to_string(),
        );
        row(
            "fds before/after",
            format!(
                "{}/{} (tolerance +{})",
                self.fds_before, self.fds_after, self.fd_tolerance
            ),
        );
        row(
            "RSS before/peak/after",
            format!(
                "{}/{}/{} KiB (tolerance +{} KiB)",
                self.rss_before_kib, self.rss_peak_kib, self.rss_after_kib, self.rss_tolerance_kib
            ),
        );
        row(
            "live heap before/peak/after",
            format!(
                "{}/{}/{} KiB (tolerance +{} KiB)",
                self.heap_before / 1024,
                self.heap_peak / 1024,
                self.heap_after / 1024,
                self.heap_tolerance_bytes / 1024
            ),
        );
        for (st, e) in self.unexplained.iter().take(10) {
            row("unexplained", format!("{st}: {e}"));
        }
        row(
            "result",
            if self.passed() { "PASS" } else { "FAIL" }.to_string(),
        );
        s
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "clients": self.clients,
            "outstanding": self.outstanding,
            "seconds": self.seconds,
            "seed": self.seed,
            "started": self.started,
            "answered": self.answered,
            "cancelled": self.cancelled,
            "abandoned": self.abandoned,
            "failed_disconnect": self.failed_disconnect,
            "unexplained": self.unexplained.len(),
            "hung": self.hung,
            "lost": self.lost(),
            "duplicated": self.duplicated,
            "answered_not_executed": self.answered_not_executed,
            "cancels_abortive": self.cancels_requested_abortive,
            "cancels_nonabortive": self.cancels_requested_nonabortive,
            "disconnects": self.disconnects,
            "payload_bytes": self.payload_bytes,
            "server_calls_received": self.server_calls_received,
            "server_calls_in_progress_after": self.server_calls_in_progress_after,
            "server_connections_open_after": self.server_connections_open_after,
            "fds_before": self.fds_before,
            "fds_after": self.fds_after,
            "rss_before_kib": self.rss_before_kib,
            "rss_peak_kib": self.rss_peak_kib,
            "rss_after_kib": self.rss_after_kib,
            "heap_before_bytes": self.heap_before,
            "heap_peak_bytes": self.heap_peak,
            "heap_after_bytes": self.heap_after,
            "passed": self.passed(),
        })
    }
}

pub(crate) fn fd_count() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

pub(crate) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The server side: records every NonAsyncFunc id it executes.
#[derive(Default)]
struct Recorder {
    seen: Mutex<HashSet<u64>>,
    duplicated: AtomicU64,
}

struct Handler(Arc<Recorder>);

impl AsyncRpcHandler for Handler {
    fn non_async_func(&self, message: &[u8]) {
        let id = parse_id(message);
        if let Some(id) = id {
            let fresh = self
                .0
                .seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id);
            if !fresh {
                self.0.duplicated.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    fn shutdown(&self) -> Result<(), Win32Status> {
        Err(Win32Status::ERROR_ACCESS_DENIED)
    }
}

fn parse_id(message: &[u8]) -> Option<u64> {
    let rest = message.strip_prefix(b"#")?;
    let end = rest.iter().position(|&b| b == b';')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// xorshift64*: enough randomness for choosing what a worker does.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

#[derive(Default)]
struct Counters {
    started: AtomicU64,
    answered: AtomicU64,
    cancelled: AtomicU64,
    abandoned: AtomicU64,
    failed_disconnect: AtomicU64,
    hung: AtomicU64,
    answered_not_executed: AtomicU64,
    disconnects: AtomicU64,
    cancels_abortive: AtomicU64,
    cancels_nonabortive: AtomicU64,
    payload: AtomicU64,
    unexplained: Mutex<Vec<(u32, String)>>,
}

/// One client: a binding and the count of disconnects it caused (an "epoch"), so a call that
/// fails with a connection error can be told apart: explained if a disconnect happened while it
/// was in progress.
struct Client {
    binding: Binding,
    epoch: AtomicU64,
}

enum Outcome {
    Answered,
    Cancelled,
    Abandoned,
    Error(msrpc::Error),
    Hung,
}

pub(crate) async fn run_soak(cfg: SoakConfig) -> SoakReport {
    let recorder = Arc::new(Recorder::default());
    let mut sc = ServerConfig::default();
    sc.max_calls = cfg.clients * cfg.outstanding * 2 + 64;
    sc.max_connections = cfg.clients * 4 + 64;
    let server = match Server::builder()
        .config(sc)
        .interface(Arc::new(msrpc_sample::service(Handler(recorder.clone()))))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
    {
        Ok(s) => s,
        Err(e) => {
            return SoakReport {
                unexplained: vec![(e.status().0, format!("server start: {e}"))],
                ..SoakReport::default()
            };
        }
    };
    let text = server.bindings()[0].to_string();
    // A first call warms up the runtime's lazily created parts, so the baseline includes them.
    if let Ok(b) = Binding::from_string(&text) {
        let _ = sample::non_async_func(&b, "warm-up").await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fds_before = fd_count();
    let rss_before = rss_kib();
    let heap_before = crate::heap::live_bytes() as u64;
    let peak = Arc::new(AtomicU64::new(rss_before));
    let heap_peak = Arc::new(AtomicU64::new(heap_before));
    let counters = Arc::new(Counters::default());
    let next_id = Arc::new(AtomicU64::new(1));
    let t0 = Instant::now();
    let deadline = t0 + cfg.duration;
    let sampler = {
        let peak = peak.clone();
        let heap_peak = heap_peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                heap_peak.fetch_max(crate::heap::live_bytes() as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let payload: Arc<str> = "a".repeat(cfg.max_payload).into();
    let mut tasks = Vec::new();
    for c in 0..cfg.clients {
        let Ok(binding) = Binding::from_string(&text) else {
            continue;
        };
        let client = Arc::new(Client {
            binding,
            epoch: AtomicU64::new(0),
        });
        for w in 0..cfg.outstanding {
            let client = client.clone();
            let counters = counters.clone();
            let recorder = recorder.clone();
            let next_id = next_id.clone();
            let payload = payload.clone();
            let cfg = cfg.clone();
            let mut rng = Rng((cfg.seed ^ ((c as u64) << 32 | w as u64))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                | 1);
            tasks.push(tokio::spawn(async move {
                // Bounded: the loop ends at the deadline and each call is bounded by call_bound.
                while Instant::now() < deadline {
                    worker_call(
                        &client, &counters, &recorder, &next_id, &payload, &cfg, &mut rng,
                    )
                    .await;
                }
            }));
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    let seconds = t0.elapsed().as_secs_f64();
    // Every binding is dropped with its worker tasks; wait (bounded) for the server to see the
    // connections close.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(30) {
        let st = server.stats();
        if st.connections_open == 0 && st.calls_in_progress == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    sampler.abort();
    let st = server.stats();
    let fds_after = fd_count();
    let rss_after = rss_kib();
    server.shutdown(Duration::from_secs(2)).await;
    // The live heap is measured once the soak's own bookkeeping (the executed-call ids the server
    // recorded for the duplicate check) is released, so only the runtime's memory is judged.
    let duplicated = recorder.duplicated.load(Ordering::Relaxed);
    std::mem::take(&mut *recorder.seen.lock().unwrap_or_else(|p| p.into_inner()));
    let heap_after = crate::heap::live_bytes() as u64;
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let unexplained = std::mem::take(
        &mut *counters
            .unexplained
            .lock()
            .unwrap_or_else(|p| p.into_inner()),
    );
    SoakReport {
        clients: cfg.clients,
        outstanding: cfg.outstanding,
        seconds,
        seed: cfg.seed,
        started: l(&counters.started),
        answered: l(&counters.answered),
        cancelled: l(&counters.cancelled),
        abandoned: l(&counters.abandoned),
        failed_disconnect: l(&counters.failed_disconnect),
        unexplained,
        hung: l(&counters.hung),
        duplicated,
        answered_not_executed: l(&counters.answered_not_executed),
        disconnects: l(&counters.disconnects),
        cancels_requested_abortive: l(&counters.cancels_abortive),
        cancels_requested_nonabortive: l(&counters.cancels_nonabortive),
        payload_bytes: l(&counters.payload),
        server_calls_received: st.calls_received,
        server_calls_in_progress_after: st.calls_in_progress,
        server_connections_open_after: st.connections_open,
        fds_before,
        fds_after,
        rss_before_kib: rss_before,
        rss_peak_kib: peak.load(Ordering::Relaxed).max(rss_after),
        rss_after_kib: rss_after,
        fd_tolerance: cfg.fd_tolerance,
        rss_tolerance_kib: cfg.rss_tolerance_kib,
        heap_before,
        heap_peak: heap_peak.load(Ordering::Relaxed).max(heap_after),
        heap_after,
        heap_tolerance_bytes: cfg.heap_tolerance_bytes,
    }
}

async fn worker_call(
    client: &Client,
    counters: &Counters,
    recorder: &Recorder,
    next_id: &AtomicU64,
    payload: &str,
    cfg: &SoakConfig,
    rng: &mut Rng,
) {
    let b = &client.binding;
    let epoch0 = client.epoch.load(Ordering::Acquire);
    counters.started.fetch_add(1, Ordering::Relaxed);
    let bound = cfg.call_bound;
    let kind = rng.below(100);
    let mut executed_id = None;
    let outcome = if kind < 55 {
        // NonAsyncFunc with a string of 0..256 KiB (most small, some large).
        let len = if rng.below(10) < 7 {
            rng.below(4096) as usize
        } else {
            rng.below(cfg.max_payload as u64 + 1) as usize
        };
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let head = format!("#{id};");
        let len = len.max(head.len());
        let msg = format!(
            "{head}{}",
            &payload[..(len - head.len()).min(payload.len())]
        );
        counters
            .payload
            .fetch_add(msg.len() as u64, Ordering::Relaxed);
        executed_id = Some(id);
        timed(bound, sample::non_async_func(b, &msg)).await
    } else if kind < 75 {
        // AsyncFunc with a small delay, awaited.
        let delay = rng.below(50) as u32;
        timed(bound, sample::async_func(b, delay)).await
    } else if kind < 85 {
        // AsyncFunc whose future the caller may drop before the answer.
        let delay = 20 + rng.below(180) as u32;
        let patience = Duration::from_millis(rng.below(150));
        if cfg.drop_futures_anywhere {
            match tokio::time::timeout(patience, sample::async_func(b, delay)).await {
                Ok(r) => outcome_of(r),
                Err(_) => Outcome::Abandoned,
            }
        } else {
            abandon_after_send(b, delay, patience, bound).await
        }
    } else if kind < 97 {
        // AsyncFunc through AsyncState, cancelled (abortive or not) after a random wait.
        let abortive = rng.below(2) == 0;
        let delay = 50 + rng.below(250) as u32;
        let wait = Duration::from_millis(rng.below(100));
        state_call(b, counters, delay, wait, abortive, bound).await
    } else {
        // A disconnect: close the binding under the calls in progress (then continue with it; the
        // next call reconnects). Rare: about one close per 500 calls.
        if rng.below(15) == 0 {
            client.epoch.fetch_add(1, Ordering::AcqRel);
            counters.disconnects.fetch_add(1, Ordering::Relaxed);
            let pending = sample::async_func(b, 100);
            tokio::pin!(pending);
            // Give the call a moment to reach the server, then close under it.
            let early = tokio::time::timeout(Duration::from_millis(10), &mut pending).await;
            b.close();
            // Bumped before and after the close: a call that took the connection between the two
            // sees the change.
            client.epoch.fetch_add(1, Ordering::AcqRel);
            match early {
                Ok(r) => outcome_of(r),
                Err(_) => timed(bound, pending).await,
            }
        } else {
            timed(bound, sample::async_func(b, 1)).await
        }
    };
    let disconnected_meanwhile = client.epoch.load(Ordering::Acquire) != epoch0;
    match outcome {
        Outcome::Answered => {
            counters.answered.fetch_add(1, Ordering::Relaxed);
            if let Some(id) = executed_id {
                let seen = recorder
                    .seen
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains(&id);
                if !seen {
                    counters
                        .answered_not_executed
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Outcome::Cancelled => {
            counters.cancelled.fetch_add(1, Ordering::Relaxed);
        }
        Outcome::Abandoned => {
            counters.abandoned.fetch_add(1, Ordering::Relaxed);
        }
        Outcome::Hung => {
            counters.hung.fetch_add(1, Ordering::Relaxed);
        }
        Outcome::Error(e) => {
            let st = e.status();
            let connection_error = st == Win32Status::RPC_S_COMM_FAILURE
                || st == Win32Status::RPC_S_CALL_FAILED
                || st == Win32Status::RPC_S_CALL_FAILED_DNE;
            if connection_error && disconnected_meanwhile {
                counters.failed_disconnect.fetch_add(1, Ordering::Relaxed);
            } else {
                counters
                    .unexplained
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((st.0, e.to_string()));
            }
        }
    }
}

fn outcome_of(r: msrpc::Result<()>) -> Outcome {
    match r {
        Ok(()) => Outcome::Answered,
        Err(e) => Outcome::Error(e),
    }
}

async fn timed(
    bound: Duration,
    f: impl std::future::Future<Output = msrpc::Result<()>>,
) -> Outcome {
    match tokio::time::timeout(bound, f).await {
        Ok(r) => outcome_of(r),
        Err(_) => Outcome::Hung,
    }
}

fn encode_delay(
    delay: u32,
) -> impl FnOnce(msrpc::Syntax, msrpc::DataRep) -> msrpc_ndr::Result<Vec<u8>> + Send {
    move |syntax, rep| {
        let mut e = msrpc_ndr::Encoder::new(syntax, rep);
        e.encode_param(&delay)?;
        Ok(e.into_bytes())
    }
}

/// AsyncFunc through `AsyncState`, abandoned after `patience` by dropping the state (the call is
/// orphaned) unless it completed before.
async fn abandon_after_send(
    b: &Binding,
    delay: u32,
    patience: Duration,
    bound: Duration,
) -> Outcome {
    let state: AsyncState<()> = AsyncState::new(Notification::None);
    let started = tokio::time::timeout(
        bound,
        b.start(
            &state,
            sample::ASYNC_RPC,
            sample::OP_ASYNC_FUNC,
            encode_delay(delay),
            |_| Ok(()),
        ),
    )
    .await;
    match started {
        Err(_) => return Outcome::Hung,
        Ok(Err(e)) => return Outcome::Error(e),
        Ok(Ok(())) => {}
    }
    tokio::time::sleep(patience).await;
    if state.status() == Win32Status::RPC_S_ASYNC_CALL_PENDING {
        drop(state);
        return Outcome::Abandoned;
    }
    match state.complete() {
        Ok(()) => Outcome::Answered,
        Err(e) => Outcome::Error(e),
    }
}

/// AsyncFunc through `AsyncState` (the RPC_ASYNC_STATE model), cancelled after `wait`.
async fn state_call(
    b: &Binding,
    counters: &Counters,
    delay: u32,
    wait: Duration,
    abortive: bool,
    bound: Duration,
) -> Outcome {
    let state: AsyncState<()> = AsyncState::new(Notification::None);
    let started = b
        .start(
            &state,
            sample::ASYNC_RPC,
            sample::OP_ASYNC_FUNC,
            encode_delay(delay),
            |_| Ok(()),
        )
        .await;
    if let Err(e) = started {
        return Outcome::Error(e);
    }
    tokio::time::sleep(wait).await;
    let asked = state.status() == Win32Status::RPC_S_ASYNC_CALL_PENDING
        && state
            .cancel(if abortive {
                CancelMode::Abortive
            } else {
                CancelMode::NonAbortive
            })
            .is_ok();
    if asked {
        if abortive {
            counters.cancels_abortive.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.cancels_nonabortive.fetch_add(1, Ordering::Relaxed);
        }
    }
    // Bounded wait for completion.
    let t0 = Instant::now();
    while state.status() == Win32Status::RPC_S_ASYNC_CALL_PENDING {
        if t0.elapsed() > bound {
            // Abandon it abortively so it does not linger, and count it hung.
            let _ = state.cancel(CancelMode::Abortive);
            return Outcome::Hung;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    match state.complete() {
        Ok(()) => Outcome::Answered,
        Err(e) if e.status() == Win32Status::RPC_S_CALL_CANCELLED && asked => Outcome::Cancelled,
        Err(e) => Outcome::Error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The soak's short form: 20 clients x 8 outstanding calls for 5 s, with call futures dropped at
    /// any point (also while a connection is being opened, the case that once leaked connections).
    #[test]
    fn soak_short_form_loses_nothing_and_returns_resources() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let cfg = SoakConfig {
            seed: 0x5eed_1234,
            drop_futures_anywhere: true,
            ..SoakConfig::default()
        };
        let report = rt.block_on(run_soak(cfg));
        eprint!("{}", report.table());
        assert!(report.started > 100, "too few calls: {}", report.started);
        assert!(report.answered > 0);
        assert!(report.passed(), "soak failed:\n{}", report.table());
    }
}
