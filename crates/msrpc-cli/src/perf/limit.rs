//! The `limit` rows: raw TCP on blocking sockets carrying the bytes msrpc puts on the wire.

use super::*;

// ---------------------------------------------------------------------------------------------
// (a) the limit: raw TCP

/// A raw TCP server thread answering each `req`-byte message with `resp` bytes until EOF.
pub(super) fn raw_server(
    req: usize,
    resp: usize,
) -> std::io::Result<(u16, std::thread::JoinHandle<()>)> {
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

pub(super) fn raw_pingpong(payload: usize, dur: Duration) -> std::io::Result<Row> {
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
pub(super) fn raw_stream(
    payload: usize,
    window: usize,
    conns: usize,
    dur: Duration,
) -> std::io::Result<Row> {
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
