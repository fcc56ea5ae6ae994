//! The `memory` rows: heap per idle connection and per outstanding call.

use super::*;

// ---------------------------------------------------------------------------------------------
// memory

/// Lets the connection tasks finish what they were doing before the heap is read.
pub(super) fn settle() {
    std::thread::sleep(Duration::from_millis(150));
}

pub(super) fn memory_idle(bench: &Bench, n: usize) -> msrpc::Result<Row> {
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

pub(super) fn memory_outstanding(bench: &Bench, n: usize, delay_ms: u32) -> msrpc::Result<Row> {
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
