//! DCE pipes in the C stubs (`typedef pipe T NAME;`), buffered as the Rust stubs' are
//! (docs/codegen.md, "Pipes"; docs/c-abi.md, "Pipes").
//!
//! The C side is MIDL's pipe control structure: `pull`, `push`, `alloc` and `state`.
//! - Client, `[in]` pipe: before the call, the engine calls the program's `pull` with a buffer of
//!   [`pull_elements`] elements until it returns 0 elements; each pull is a chunk on the wire.
//! - Client, `[out]` pipe: after the reply, for each chunk received, the program's `alloc` (for a
//!   buffer) then `push` (its elements, split if `alloc` gave less room), then a final `push` of 0.
//! - Server: the manager gets a structure whose functions are the library's: `pull` hands out the
//!   `[in]` chunks received (a chunk larger than the manager's buffer is split) then 0; `push`
//!   buffers the `[out]` chunks, and a `push` of 0 ends the pipe; `alloc` lends a buffer.
//!
//! Everything is in memory for the whole call (as the Rust side), bounded by the decode limits'
//! numbers: [`MAX_PIPE_CHUNKS`] chunks and [`MAX_PIPE_BYTES`] bytes of elements per pipe.

use std::ffi::{c_char, c_ulong, c_void};
use std::sync::Mutex;

use crate::rich::{self, Side, V};
use crate::status::*;

/// Chunks one pipe may carry, each way (msrpc-ndr's `DEFAULT_MAX_PIPE_CHUNKS`, the decoder's
/// bound on the other side).
pub(crate) const MAX_PIPE_CHUNKS: usize = 65_536;
/// C bytes of elements one pipe may carry, each way (msrpc-ndr's default `max_bytes`, 64 MiB).
pub(crate) const MAX_PIPE_BYTES: usize = 64 << 20;
/// The client's pull buffer, in bytes (`esize` is this over the element's size, at least 1).
pub(crate) const PULL_BUFFER_BYTES: usize = 64 << 10;
/// The most a server `alloc` lends at once, in bytes.
pub(crate) const SERVER_ALLOC_BYTES: usize = 64 << 10;

/// `RPC_X_PIPE_CLOSED`: a `push` after the one of 0 elements that ended the pipe.
pub(crate) const RPC_X_PIPE_CLOSED: i32 = 1916;
/// `RPC_X_PIPE_DISCIPLINE_ERROR`: the manager returned with an `[in]` pipe not pulled to its end
/// or an `[out]` pipe not ended by a `push` of 0 ("The RPC call completed before all pipes were
/// processed"); also a client `pull` that returns more elements than its buffer holds.
pub(crate) const RPC_X_PIPE_DISCIPLINE_ERROR: i32 = 1917;

type PullFn = unsafe extern "C" fn(*mut c_char, *mut u8, c_ulong, *mut c_ulong);
type PushFn = unsafe extern "C" fn(*mut c_char, *mut u8, c_ulong);
type AllocFn = unsafe extern "C" fn(*mut c_char, c_ulong, *mut *mut u8, *mut c_ulong);

/// MIDL's pipe structure (`typedef struct pipe_NAME { pull; push; alloc; state; } NAME;`).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct CPipe {
    pull: Option<PullFn>,
    push: Option<PushFn>,
    alloc: Option<AllocFn>,
    state: *mut c_char,
}

/// Elements per client pull.
pub(crate) fn pull_elements(elem: u32) -> usize {
    (PULL_BUFFER_BYTES / rich::elem_size(elem)).max(1)
}

/// Reads `n` elements at `buf` (C memory of node `elem`).
///
/// # Safety
/// `buf` holds `n` initialised C elements of node `elem`.
unsafe fn read_elements(elem: u32, buf: *const u8, n: usize, side: Side) -> Result<Vec<V>, i32> {
    let size = rich::elem_size(elem);
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: element i of the caller's buffer; a pipe element has no pointers or
        // parameter expressions (the IDL compiler refuses them).
        v.push(unsafe { rich::read_top(elem, buf.add(i * size), std::ptr::null(), side, None) }?);
    }
    Ok(v)
}

/// Writes elements to `buf`.
///
/// # Safety
/// `buf` has room for `items.len()` C elements of node `elem`.
unsafe fn write_elements(elem: u32, buf: *mut u8, items: &[V], side: Side) -> Result<(), i32> {
    let size = rich::elem_size(elem);
    let mut w = rich::Writer::new(side);
    for (i, it) in items.iter().enumerate() {
        // SAFETY: element i of the caller's buffer.
        unsafe { w.write_top(elem, buf.add(i * size), it) }?;
    }
    Ok(())
}

/// Client, `[in]` pipe: pulls the program's chunks until a pull of 0.
///
/// # Safety
/// `p` points to the program's pipe structure, whose `pull` follows MIDL's contract.
pub(crate) unsafe fn client_pull(elem: u32, p: *const CPipe) -> Result<Vec<Vec<V>>, i32> {
    // SAFETY: the program's structure (caller).
    let (pull, state) = unsafe { ((*p).pull, (*p).state) };
    let pull = pull.ok_or(RPC_X_NULL_REF_POINTER)?;
    let size = rich::elem_size(elem);
    let esize = pull_elements(elem);
    // u64 words: aligned for any element.
    let mut buf = vec![0u64; (esize * size).div_ceil(8)];
    let mut chunks = Vec::new();
    let mut bytes = 0usize;
    loop {
        let mut n: c_ulong = 0;
        // SAFETY: the program's pull, with a buffer of esize elements; behind a barrier, so a
        // pull that raises cannot jump over Rust frames.
        crate::exc::with_barrier(|| unsafe {
            pull(state, buf.as_mut_ptr().cast(), esize as c_ulong, &mut n)
        });
        let n = n as usize;
        if n == 0 {
            return Ok(chunks);
        }
        if n > esize {
            return Err(RPC_X_PIPE_DISCIPLINE_ERROR);
        }
        bytes = bytes.saturating_add(n * size);
        if chunks.len() >= MAX_PIPE_CHUNKS || bytes > MAX_PIPE_BYTES {
            return Err(RPC_S_OUT_OF_MEMORY);
        }
        // SAFETY: the pull filled n elements of the buffer.
        chunks.push(unsafe { read_elements(elem, buf.as_ptr().cast(), n, Side::Client) }?);
    }
}

/// Client, `[out]` pipe: hands the received chunks to the program (`alloc`, then `push`, per
/// piece), then a `push` of 0.
///
/// # Safety
/// `p` points to the program's pipe structure, whose `alloc` and `push` follow MIDL's contract.
pub(crate) unsafe fn client_push(elem: u32, p: *const CPipe, chunks: &[Vec<V>]) -> Result<(), i32> {
    // SAFETY: the program's structure (caller).
    let (push, alloc, state) = unsafe { ((*p).push, (*p).alloc, (*p).state) };
    let (push, alloc) = (
        push.ok_or(RPC_X_NULL_REF_POINTER)?,
        alloc.ok_or(RPC_X_NULL_REF_POINTER)?,
    );
    let size = rich::elem_size(elem);
    let get = |want: usize| -> Result<(*mut u8, usize), i32> {
        let mut buf: *mut u8 = std::ptr::null_mut();
        let mut bcount: c_ulong = 0;
        // SAFETY: the program's alloc (bsize and bcount in bytes); behind a barrier.
        crate::exc::with_barrier(|| unsafe {
            alloc(state, (want * size) as c_ulong, &mut buf, &mut bcount)
        });
        let room = bcount as usize / size;
        if buf.is_null() || room == 0 {
            return Err(RPC_S_OUT_OF_MEMORY);
        }
        Ok((buf, room.min(want)))
    };
    let mut last = None;
    for chunk in chunks {
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let (buf, n) = get(rest.len())?;
            // SAFETY: alloc gave room for n (>= 1) elements.
            unsafe { write_elements(elem, buf, &rest[..n], Side::Client) }?;
            // SAFETY: the program's push with the n elements just written.
            crate::exc::with_barrier(|| unsafe { push(state, buf, n as c_ulong) });
            rest = &rest[n..];
            last = Some(buf);
        }
    }
    let buf = match last {
        Some(b) => b,
        None => get(1)?.0,
    };
    // SAFETY: the end of the pipe: a push of 0 elements.
    crate::exc::with_barrier(|| unsafe { push(state, buf, 0) });
    Ok(())
}

/// A server call's pipe: the structure handed to the manager and the library's state behind it.
#[derive(Debug)]
pub(crate) struct ServerPipe {
    /// The structure the manager gets (its address, or a copy of it by value).
    pub(crate) c: Box<CPipe>,
    state: Box<Mutex<PipeState>>,
}

#[derive(Debug)]
struct PipeState {
    elem: u32,
    /// `[in]`: the chunks received, what the manager has pulled (chunk, element), ended.
    inp: Option<Vec<Vec<V>>>,
    cursor: (usize, usize),
    drained: bool,
    /// `[out]`: the chunks pushed, their bytes, ended by a push of 0.
    out: Option<Vec<Vec<V>>>,
    out_bytes: usize,
    ended: bool,
    /// The first misuse (a pipe status), faulting the call.
    error: i32,
    lent: Vec<u64>,
}

impl ServerPipe {
    /// A pipe with the `[in]` chunks received (`inp`) and/or an `[out]` side.
    pub(crate) fn new(elem: u32, inp: Option<Vec<Vec<V>>>, out: bool) -> ServerPipe {
        let state = Box::new(Mutex::new(PipeState {
            elem,
            inp,
            cursor: (0, 0),
            drained: false,
            out: out.then(Vec::new),
            out_bytes: 0,
            ended: false,
            error: 0,
            lent: Vec::new(),
        }));
        let c = Box::new(CPipe {
            pull: Some(server_pull),
            push: Some(server_push),
            alloc: Some(server_alloc),
            state: (&*state as *const Mutex<PipeState>).cast_mut().cast(),
        });
        ServerPipe { c, state }
    }

    /// After the manager returned: the `[out]` chunks (None for an `[in]`-only pipe), or the
    /// status that faults the call.
    pub(crate) fn finish(&self) -> Result<Option<Vec<Vec<V>>>, i32> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.error != 0 {
            return Err(s.error);
        }
        if (s.inp.is_some() && !s.drained) || (s.out.is_some() && !s.ended) {
            return Err(RPC_X_PIPE_DISCIPLINE_ERROR);
        }
        Ok(s.out.take())
    }
}

fn lock(state: *mut c_char) -> Option<std::sync::MutexGuard<'static, PipeState>> {
    if state.is_null() {
        return None;
    }
    // SAFETY: `state` is the library's, from ServerPipe::new, alive while the manager runs (the
    // frame holding it outlives the manager's call).
    let m = unsafe { &*(state as *const Mutex<PipeState>) };
    Some(m.lock().unwrap_or_else(|p| p.into_inner()))
}

/// The server's `pull`: the next piece of the `[in]` data (at most `esize` elements), 0 at the
/// end.
unsafe extern "C" fn server_pull(
    state: *mut c_char,
    buf: *mut u8,
    esize: c_ulong,
    ecount: *mut c_ulong,
) {
    let Some(mut s) = lock(state) else { return };
    if ecount.is_null() {
        return;
    }
    let esize = esize as usize;
    let (ci, ei) = s.cursor;
    let elem = s.elem;
    let piece: Vec<V> = match &s.inp {
        Some(chunks) if ci < chunks.len() && esize > 0 && !buf.is_null() => {
            let c = &chunks[ci];
            let n = (c.len() - ei).min(esize);
            c[ei..ei + n].to_vec()
        }
        _ => Vec::new(),
    };
    let n = piece.len();
    if n == 0 {
        // Everything handed out: the pipe is drained (a call with no room changes nothing).
        if s.inp.as_ref().is_some_and(|c| ci >= c.len()) {
            s.drained = true;
        }
    } else {
        // SAFETY: the manager's buffer has room for esize >= n elements (MIDL's contract).
        if let Err(e) = unsafe { write_elements(elem, buf, &piece, Side::Server) } {
            s.error = e;
        }
        let len = s.inp.as_ref().map_or(0, |c| c[ci].len());
        s.cursor = if ei + n >= len {
            (ci + 1, 0)
        } else {
            (ci, ei + n)
        };
    }
    // SAFETY: the manager's count.
    unsafe { ecount.write(n as c_ulong) };
}

/// The server's `push`: buffers `ecount` elements as a chunk; 0 ends the pipe.
unsafe extern "C" fn server_push(state: *mut c_char, buf: *mut u8, ecount: c_ulong) {
    let Some(mut s) = lock(state) else { return };
    if s.out.is_none() || s.ended {
        if s.error == 0 {
            s.error = RPC_X_PIPE_CLOSED;
        }
        return;
    }
    let n = ecount as usize;
    if n == 0 {
        s.ended = true;
        return;
    }
    let size = rich::elem_size(s.elem);
    let bytes = s.out_bytes.saturating_add(n.saturating_mul(size));
    if buf.is_null()
        || s.out.as_ref().is_some_and(|o| o.len() >= MAX_PIPE_CHUNKS)
        || bytes > MAX_PIPE_BYTES
    {
        if s.error == 0 {
            s.error = if buf.is_null() {
                RPC_X_NULL_REF_POINTER
            } else {
                RPC_S_OUT_OF_MEMORY
            };
        }
        return;
    }
    // SAFETY: the manager's buffer holds ecount elements (MIDL's contract).
    match unsafe { read_elements(s.elem, buf, n, Side::Server) } {
        Ok(v) => {
            s.out_bytes = bytes;
            if let Some(o) = s.out.as_mut() {
                o.push(v);
            }
        }
        Err(e) => {
            if s.error == 0 {
                s.error = e;
            }
        }
    }
}

/// The server's `alloc`: lends a buffer of up to [`SERVER_ALLOC_BYTES`] (valid until the next
/// `alloc` on this pipe or the call's end).
unsafe extern "C" fn server_alloc(
    state: *mut c_char,
    bsize: c_ulong,
    buf: *mut *mut u8,
    bcount: *mut c_ulong,
) {
    let Some(mut s) = lock(state) else { return };
    if buf.is_null() || bcount.is_null() {
        return;
    }
    let want = (bsize as usize).clamp(1, SERVER_ALLOC_BYTES);
    s.lent = vec![0u64; want.div_ceil(8)];
    // SAFETY: the manager's out-pointers.
    unsafe {
        buf.write(s.lent.as_mut_ptr().cast());
        bcount.write(want as c_ulong);
    }
}

// SAFETY: the raw `state` pointer in CPipe points at the Mutex the ServerPipe owns.
unsafe impl Send for ServerPipe {}

// MIDL's structure: three function pointers and a pointer.
const _: () = assert!(std::mem::size_of::<CPipe>() == 4 * std::mem::size_of::<*const c_void>());
