//! The `limit` rows, and the batched client that drives both the limit and msrpc's server.
//!
//! - The ping-pong: raw TCP on blocking sockets carrying the bytes msrpc puts on the wire for the
//!   same call, one message at a time.
//! - The framing server: reads each request PDU by its `frag_length` and answers it with a canned
//!   response PDU carrying its `call_id`, nothing else; all the answers to one read go out in one
//!   write. It is what a server costs when it only frames PDUs: the limit for msrpc's server.
//! - The batched client: `window` requests outstanding on each connection, written in one write
//!   per batch (the requests made free by one read), answers read through one buffer. It speaks
//!   just enough DCE/RPC for msrpc's server (a bind of the echo interface first), so the same
//!   client drives the framing server (`limit` rows) and msrpc's server (`server` rows).

use std::collections::HashMap;

use super::*;

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

// ---------------------------------------------------------------------------------------------
// PDUs, by hand (C706 12.6; the 16-byte common header of DESIGN.md)

const PTYPE_REQUEST: u8 = 0;
const PTYPE_RESPONSE: u8 = 2;
const PTYPE_BIND: u8 = 11;
const PTYPE_BIND_ACK: u8 = 12;
/// PFC_FIRST_FRAG | PFC_LAST_FRAG.
const FIRST_LAST: u8 = 0x03;
/// The largest PDU the framing server and the batched client accept (a bound on their buffers).
const MAX_PDU: usize = 65535;

fn header(out: &mut Vec<u8>, ptype: u8, frag_len: usize, call_id: u32) {
    out.extend_from_slice(&[5, 0, ptype, FIRST_LAST, 0x10, 0, 0, 0]);
    out.extend_from_slice(&(frag_len as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&call_id.to_le_bytes());
}

fn syntax_bytes(out: &mut Vec<u8>, s: &SyntaxId) {
    out.extend_from_slice(&s.uuid.to_bytes_le());
    out.extend_from_slice(&s.major.to_le_bytes());
    out.extend_from_slice(&s.minor.to_le_bytes());
}

/// A bind of the echo interface in NDR20, context id 0.
fn bind_pdu(call_id: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(72);
    header(&mut b, PTYPE_BIND, 72, call_id);
    b.extend_from_slice(&(MAX_FRAG as u16).to_le_bytes());
    b.extend_from_slice(&(MAX_FRAG as u16).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes()); // assoc_group: a new one
    b.extend_from_slice(&[1, 0, 0, 0]); // one context element
    b.extend_from_slice(&0u16.to_le_bytes()); // p_cont_id
    b.extend_from_slice(&[1, 0]); // one transfer syntax
    syntax_bytes(&mut b, &ECHO);
    syntax_bytes(&mut b, &SyntaxId::NDR20);
    b
}

/// The 0 B echo request (opnum 0, context 0): an empty conformant byte array, max_count 0.
/// With `null`, the bench interface's null operation instead (opnum 1): no stub, 24 B.
fn request_pdu(out: &mut Vec<u8>, call_id: u32, null: bool) {
    if null {
        header(out, PTYPE_REQUEST, 24, call_id);
        out.extend_from_slice(&0u32.to_le_bytes()); // alloc_hint
        out.extend_from_slice(&0u16.to_le_bytes()); // p_cont_id
        out.extend_from_slice(&NULL_OPNUM.to_le_bytes()); // opnum
        return;
    }
    header(out, PTYPE_REQUEST, 28, call_id);
    out.extend_from_slice(&4u32.to_le_bytes()); // alloc_hint
    out.extend_from_slice(&0u16.to_le_bytes()); // p_cont_id
    out.extend_from_slice(&0u16.to_le_bytes()); // opnum
    out.extend_from_slice(&0u32.to_le_bytes()); // max_count
}

/// The canned answer: the response msrpc's server sends to the 0 B echo request.
fn response_pdu(out: &mut Vec<u8>, ptype: u8, call_id: u32) {
    header(out, ptype, 28, call_id);
    out.extend_from_slice(&4u32.to_le_bytes()); // alloc_hint
    out.extend_from_slice(&[0, 0, 0, 0]); // p_cont_id, cancel_count, reserved
    out.extend_from_slice(&0u32.to_le_bytes()); // max_count
}

/// Complete PDUs at the front of `buf`: (ptype, call_id, length) each; stops at a partial one.
/// `None` when a header is not DCE/RPC version 5 or its length is out of bounds.
fn pdus(buf: &[u8], mut f: impl FnMut(u8, u32)) -> Option<usize> {
    let mut at = 0;
    while buf.len() - at >= 16 {
        let h = &buf[at..at + 16];
        let len = u16::from_le_bytes([h[8], h[9]]) as usize;
        if h[0] != 5 || !(16..=MAX_PDU).contains(&len) {
            return None;
        }
        if buf.len() - at < len {
            break;
        }
        f(h[2], u32::from_le_bytes([h[12], h[13], h[14], h[15]]));
        at += len;
    }
    Some(at)
}

/// A buffer the socket reads into, compacted as PDUs are consumed.
struct ReadBuf {
    buf: Vec<u8>,
    len: usize,
}

impl ReadBuf {
    fn new() -> ReadBuf {
        ReadBuf {
            buf: vec![0; 2 * MAX_PDU],
            len: 0,
        }
    }

    /// One read; false at EOF or on an error.
    fn fill(&mut self, s: &mut TcpStream) -> bool {
        match s.read(&mut self.buf[self.len..]) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.len += n;
                true
            }
        }
    }

    fn data(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn consume(&mut self, n: usize) {
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

/// The framing server: one thread per connection it accepts (`conns` of them), each answering
/// every PDU with the canned response and its call id (a bind_ack's ptype for a bind).
pub(super) fn framing_server(conns: usize) -> std::io::Result<(u16, std::thread::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let h = std::thread::spawn(move || {
        let mut threads = Vec::new();
        for _ in 0..conns {
            let Ok((mut s, _)) = listener.accept() else {
                break;
            };
            let _ = s.set_nodelay(true);
            threads.push(std::thread::spawn(move || {
                let mut rb = ReadBuf::new();
                let mut out = Vec::with_capacity(64 * 1024);
                // Ends when the client closes (EOF) or sends what is not a PDU.
                while rb.fill(&mut s) {
                    out.clear();
                    let Some(used) = pdus(rb.data(), |ptype, call_id| {
                        let answer = if ptype == PTYPE_BIND {
                            PTYPE_BIND_ACK
                        } else {
                            PTYPE_RESPONSE
                        };
                        response_pdu(&mut out, answer, call_id);
                    }) else {
                        break;
                    };
                    rb.consume(used);
                    if !out.is_empty() && s.write_all(&out).is_err() {
                        break;
                    }
                }
            }));
        }
        for t in threads {
            let _ = t.join();
        }
    });
    Ok((port, h))
}

/// One connection of the batched client: binds, then keeps `window` 0 B echo requests
/// outstanding until `deadline`, writing the requests freed by each read in one write.
fn batched_connection(
    port: u16,
    window: usize,
    deadline: Instant,
    null: bool,
) -> std::io::Result<(Latencies, u64)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut rb = ReadBuf::new();
    s.write_all(&bind_pdu(1))?;
    let mut bound = false;
    while !bound {
        if !rb.fill(&mut s) {
            return Err(std::io::Error::other("no answer to the bind"));
        }
        let used = pdus(rb.data(), |ptype, _| bound = ptype == PTYPE_BIND_ACK)
            .ok_or_else(|| std::io::Error::other("not a PDU"))?;
        rb.consume(used);
        if used > 0 && !bound {
            return Err(std::io::Error::other("the bind was not acknowledged"));
        }
    }
    let mut sent: HashMap<u32, Instant> = HashMap::with_capacity(window * 2);
    let mut next_id = 2u32;
    let mut out = Vec::with_capacity(window * 28);
    let now = Instant::now();
    for _ in 0..window {
        request_pdu(&mut out, next_id, null);
        sent.insert(next_id, now);
        next_id = next_id.wrapping_add(1);
    }
    s.write_all(&out)?;
    let mut lat = Latencies::default();
    let mut errors = 0u64;
    while !sent.is_empty() {
        if !rb.fill(&mut s) {
            errors += sent.len() as u64;
            break;
        }
        out.clear();
        let now = Instant::now();
        let more = now < deadline;
        let used = pdus(rb.data(), |ptype, call_id| match sent.remove(&call_id) {
            Some(t) if ptype == PTYPE_RESPONSE => {
                lat.0.push(now.duration_since(t).as_nanos() as u64);
                if more {
                    request_pdu(&mut out, next_id, null);
                    sent.insert(next_id, now);
                    next_id = next_id.wrapping_add(1);
                }
            }
            _ => errors += 1,
        })
        .ok_or_else(|| std::io::Error::other("not a PDU"))?;
        rb.consume(used);
        if !out.is_empty() {
            s.write_all(&out)?;
        }
        if errors > 100 {
            break;
        }
    }
    Ok((lat, errors))
}

/// The batched client with `window` requests outstanding on each of `conns` connections to
/// `port`, one thread per connection; with `null`, calling the null operation.
pub(super) fn batched_client(
    port: u16,
    window: usize,
    conns: usize,
    dur: Duration,
    null: bool,
) -> std::io::Result<(Latencies, u64, f64)> {
    let t0 = Instant::now();
    let deadline = t0 + dur;
    let threads: Vec<_> = (0..conns)
        .map(|_| std::thread::spawn(move || batched_connection(port, window, deadline, null)))
        .collect();
    let mut lat = Latencies::default();
    let mut errors = 0;
    let mut first_err = None;
    for t in threads {
        match t.join() {
            Ok(Ok((l, e))) => {
                lat.extend(l);
                errors += e;
            }
            Ok(Err(e)) => first_err = Some(e),
            Err(_) => errors += 1,
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    Ok((lat, errors, t0.elapsed().as_secs_f64()))
}

/// A batched-client row against the framing server.
pub(super) fn raw_framing(window: usize, conns: usize, dur: Duration) -> std::io::Result<Row> {
    let (port, server) = framing_server(conns)?;
    let r = batched_client(port, window, conns, dur, false);
    // The server's threads end at the client's EOF (its sockets are closed by now).
    let _ = server.join();
    let (mut lat, errors, seconds) = r?;
    Ok(Row {
        outstanding: window * conns,
        connections: conns,
        calls: lat.0.len() as u64,
        errors,
        seconds,
        note: "28 B request and response PDUs".into(),
        ..Row::new("limit", "batched raw client -> raw framing server")
    }
    .with_latency(&mut lat))
}

/// The same batched client against msrpc's server (the bench echo interface, answered inline).
/// With `null`, the interface's null operation (no stub decoded or encoded): the counterpart of
/// the framing server's canned answer, group `server-null`.
pub(super) fn batched_msrpc(
    port: u16,
    window: usize,
    conns: usize,
    dur: Duration,
    null: bool,
) -> std::io::Result<Row> {
    let (mut lat, errors, seconds) = batched_client(port, window, conns, dur, null)?;
    let row = if null {
        Row {
            note: "24 B request and response PDUs".into(),
            ..Row::new(
                "server-null",
                "batched raw client -> msrpc server: null operation",
            )
        }
    } else {
        Row {
            note: "28 B request and response PDUs".into(),
            ..Row::new("server", "batched raw client -> msrpc server")
        }
    };
    Ok(Row {
        outstanding: window * conns,
        connections: conns,
        calls: lat.0.len() as u64,
        errors,
        seconds,
        ..row
    }
    .with_latency(&mut lat))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pdus_are_what_they_say() {
        let b = bind_pdu(7);
        assert_eq!(b.len(), 72);
        assert_eq!(u16::from_le_bytes([b[8], b[9]]), 72);
        let mut r = Vec::new();
        request_pdu(&mut r, 9, false);
        assert_eq!(r.len(), 28);
        request_pdu(&mut r, 9, true);
        assert_eq!(r.len(), 52);
        assert_eq!(u16::from_le_bytes([r[36], r[37]]), 24);
        r.truncate(28);
        response_pdu(&mut r, PTYPE_RESPONSE, 10);
        assert_eq!(r.len(), 56);
        let mut seen = Vec::new();
        // One and a half PDUs more: the half is left for the next read.
        r.extend_from_slice(&b[..30]);
        let used = pdus(&r, |p, id| seen.push((p, id)));
        assert_eq!(used, Some(56));
        assert_eq!(seen, [(PTYPE_REQUEST, 9), (PTYPE_RESPONSE, 10)]);
        assert_eq!(pdus(&[4; 16], |_, _| ()), None);
    }

    /// The batched client against the framing server: every call answered, none lost.
    #[test]
    fn batched_client_and_framing_server_agree() {
        let row = raw_framing(8, 2, Duration::from_millis(100)).unwrap_or_else(|e| panic!("{e}"));
        assert!(row.calls > 16, "{row:?}");
        assert_eq!(row.errors, 0, "{row:?}");
    }
}
