//! The server side: `RpcServerUseProtseqEp`, `RpcServerRegisterIf(2/3)`, `RpcServerListen`,
//! `RpcMgmtStopServerListening`, `RpcMgmtWaitServerListen`, `RpcServerUnregisterIf`, and for
//! `[async]` managers `RpcAsyncCompleteCall`, `RpcAsyncAbortCall` and `RpcServerTestCancel`.
//!
//! A registered `STEM_s.c` interface becomes an [`msrpc::Interface`]: each call's `[in]` values
//! are decoded by msrpc-ndr into storage the engine owns, the generated thunk calls the manager
//! with them on a blocking thread (inside `RpcTryExcept`, behind a barrier), and the `[out]`
//! values and return value are encoded back. An `[async]` manager gets a runtime-owned
//! `RPC_ASYNC_STATE`; the call is answered when the manager calls `RpcAsyncCompleteCall` (with a
//! pointer to the return value) or `RpcAsyncAbortCall`, from any thread, and the handle is freed
//! then.

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use msrpc::server::{Dispatch, IncomingCall, Interface, Server};
use msrpc::{SyntaxId, Win32Status};
use msrpc_ndr::{DataRep, Syntax};

use crate::asyncs::RpcAsyncState;
use crate::engine::{self, MsrpcInterface, P, Val};
use crate::exc::with_barrier;
use crate::status::*;
use crate::strings;

const RPC_S_ALREADY_LISTENING: i32 = 1713;
const RPC_S_NO_PROTSEQS_REGISTERED: i32 = 1714;
const RPC_S_NOT_LISTENING: i32 = 1715;
const RPC_S_UNKNOWN_IF: i32 = 1717;
const RPC_S_CALL_IN_PROGRESS: i32 = 1791;
const RPC_S_NO_CALL_ACTIVE: i32 = 1725;

/// How long `RpcMgmtStopServerListening` lets calls in progress finish.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);

/// The environment variable naming the address `RpcServerUseProtseqEp` listens on (default
/// `0.0.0.0`, every address, as Windows does); the tests set 127.0.0.1.
pub(crate) const LISTEN_ADDRESS_VAR: &str = "MSRPC_LISTEN_ADDRESS";

type Thunk = unsafe extern "C" fn(*mut RpcAsyncState, *mut *mut c_void, *mut c_void) -> i32;

/// `MSRPC_SERVER_INTERFACE`.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct MsrpcServerInterface {
    itf: *const MsrpcInterface,
    thunks: *const Option<Thunk>,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("msrpc-c-server")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the server runtime: {e}"))
    })
}

#[derive(Default)]
struct State {
    listen: Vec<String>,
    /// Registered interfaces by syntax.
    ifaces: Vec<(SyntaxId, Arc<CInterface>)>,
    server: Option<Arc<Server>>,
}

fn state() -> MutexGuard<'static, State> {
    static S: OnceLock<Mutex<State>> = OnceLock::new();
    S.get_or_init(|| Mutex::new(State::default()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// One procedure of a C interface.
struct CProc {
    opnum: u16,
    is_async: bool,
    params: Vec<P>,
    thunk: Thunk,
}

/// A `STEM_s.c` interface as an msrpc interface.
struct CInterface {
    syntax: SyntaxId,
    name: String,
    procs: Vec<CProc>,
}

/// The storage of one call's C parameters: every slot is 16 bytes, 8-aligned, on the heap, so
/// the addresses handed to the manager stay put.
struct Frame {
    slots: Box<[[u64; 2]]>,
    // Each pointee's address is handed to the manager: boxes keep it put as the Vec grows.
    #[allow(clippy::vec_box)]
    pointees: Vec<Box<[u64; 2]>>,
    strings8: Vec<Vec<u8>>,
    strings16: Vec<Vec<u16>>,
    ret: Box<[u64; 2]>,
    args: Vec<*mut c_void>,
    /// (param, address of its [out] pointee) in order.
    outs: Vec<(P, *mut u8)>,
    ret_p: Option<P>,
    /// Constructed-type storage (descriptor root, object), from `MIDL_user_allocate`: freed
    /// with its pointees when the frame goes (rich.rs).
    rich: Vec<(u32, *mut u8)>,
    /// Context handles that came in (address of their C object, UUID), for closing.
    ctx_in: Vec<(usize, u128)>,
}

impl Drop for Frame {
    fn drop(&mut self) {
        for (root, at) in self.rich.drain(..) {
            // SAFETY: at is this frame's allocation for root; its pointers are NULL or
            // MIDL_user_allocate'd (by the engine or the manager).
            unsafe { crate::rich::free_pointees(root, at) };
            crate::rich::free_top(at);
        }
    }
}

// SAFETY: the raw pointers in a Frame point only into the Frame's own heap allocations (slots,
// pointees, strings, ret), which move with it; the frame is used by one thread at a time (the
// manager's, then whoever completes the call, under the table's lock).
unsafe impl Send for Frame {}

impl Frame {
    /// Lays out the parameters, filling the `[in]` ones from `vals` (in order).
    fn new(params: &[P], vals: Vec<Val>) -> Result<Frame, i32> {
        let n = params.iter().filter(|p| !p.is_return()).count();
        let mut f = Frame {
            slots: vec![[0u64; 2]; n.max(1)].into_boxed_slice(),
            pointees: Vec::new(),
            strings8: Vec::new(),
            strings16: Vec::new(),
            ret: Box::new([0; 2]),
            args: Vec::with_capacity(n),
            outs: Vec::new(),
            ret_p: params.iter().find(|p| p.is_return()).copied(),
            rich: Vec::new(),
            ctx_in: Vec::new(),
        };
        let mut vals = vals.into_iter();
        let mut out_only: Vec<(usize, usize, u32)> = Vec::new();
        for (i, p) in params.iter().filter(|p| !p.is_return()).enumerate() {
            let slot = f.slots[i].as_mut_ptr().cast::<u8>();
            f.args.push(slot.cast());
            if p.is_handle() {
                // The server binding handle: NULL here (the call is the thread's, for
                // RpcServerTestCancel(NULL)).
                continue;
            }
            let v = if p.is_in() {
                Some(vals.next().ok_or(RPC_X_BAD_STUB_DATA)?)
            } else {
                None
            };
            if let Some(root) = p.rich_root() {
                let v = match v {
                    Some(Val::Rich(_, v)) => Some(v),
                    _ => None,
                };
                if v.is_none() && p.is_byref() {
                    // [out]-only: sized once every parameter is in place (below).
                    out_only.push((i, f.outs.len(), root));
                    f.outs.push((*p, std::ptr::null_mut()));
                    continue;
                }
                let at = crate::rich::alloc_for(root, v.as_ref())?;
                f.rich.push((root, at));
                if let Some(v) = &v {
                    let mut w = crate::rich::Writer::new(crate::rich::Side::Server);
                    // SAFETY: at is a fresh zeroed allocation sized for v.
                    let r = unsafe { w.write_top(root, at, v) };
                    f.ctx_in.append(&mut w.ctx_in);
                    r?;
                }
                if p.is_out() {
                    f.outs.push((*p, at));
                }
                if p.is_byref() {
                    // SAFETY: slot is writable (this frame's).
                    unsafe { slot.cast::<usize>().write(at as usize) };
                } else {
                    // A constructed value by value: the manager's argument is the object.
                    if let Some(a) = f.args.last_mut() {
                        *a = at.cast();
                    }
                }
                continue;
            }
            if p.is_string() {
                let ptr: usize = match v {
                    Some(Val::Str8(Some(mut s)) | Val::UStr8(Some(mut s))) => {
                        s.push(0);
                        f.strings8.push(s);
                        f.strings8.last().map_or(0, |s| s.as_ptr() as usize)
                    }
                    Some(Val::Str16(Some(mut s)) | Val::UStr16(Some(mut s))) => {
                        s.push(0);
                        f.strings16.push(s);
                        f.strings16.last().map_or(0, |s| s.as_ptr() as usize)
                    }
                    _ => 0,
                };
                // SAFETY: slot is 16 writable, 8-aligned bytes of this frame.
                unsafe { slot.cast::<usize>().write(ptr) };
                continue;
            }
            if p.is_byref() {
                let mut b = Box::new([0u64; 2]);
                let at = b.as_mut_ptr().cast::<u8>();
                if let Some(v) = &v {
                    // SAFETY: at is 16 writable bytes, enough for any scalar of mem_size <= 8.
                    unsafe { engine::write_val(p, at, v) };
                }
                if p.is_out() {
                    f.outs.push((*p, at));
                }
                f.pointees.push(b);
                // SAFETY: slot is writable (this frame's).
                unsafe { slot.cast::<usize>().write(at as usize) };
            } else if let Some(v) = &v {
                // SAFETY: slot is 16 writable bytes.
                unsafe { engine::write_val(p, slot, v) };
            }
        }
        f.place_out_only(out_only)?;
        Ok(f)
    }

    /// Allocates the `[out]`-only constructed parameters once the others are in place (their
    /// `size_is` may name any parameter). Their `[out]` order is kept.
    fn place_out_only(&mut self, out_only: Vec<(usize, usize, u32)>) -> Result<(), i32> {
        for (i, k, root) in out_only {
            // SAFETY: every argument of the frame is in place.
            let at = unsafe { crate::rich::alloc_out(root, self.args.as_ptr()) }?;
            self.rich.push((root, at));
            let slot = self.slots[i].as_mut_ptr().cast::<usize>();
            // SAFETY: slot is this frame's, writable.
            unsafe { slot.write(at as usize) };
            self.outs[k].1 = at;
        }
        Ok(())
    }

    /// The `[out]` values and the return value, read back after the manager ran.
    fn outs(&self) -> Result<Vec<Val>, i32> {
        let mut v = Vec::new();
        for (p, at) in &self.outs {
            if let Some(root) = p.rich_root() {
                // SAFETY: at is this frame's object for root; args are the frame's arguments.
                let r = unsafe {
                    crate::rich::read_top(
                        root,
                        *at,
                        self.args.as_ptr(),
                        crate::rich::Side::Server,
                        &self.ctx_in,
                    )
                }?;
                v.push(Val::Rich(root, r));
                continue;
            }
            // SAFETY: at is this frame's pointee storage for p, initialised (zero or the manager's).
            v.push(unsafe { engine::read_val(p, *at) }?);
        }
        if let Some(p) = &self.ret_p {
            // SAFETY: ret is this frame's storage, written by the thunk (or zero).
            v.push(unsafe { engine::read_val(p, self.ret.as_ptr().cast()) }?);
        }
        Ok(v)
    }
}

/// Encodes the reply of a call whose manager has run.
fn answer(call: IncomingCall, frame: &Frame, syntax: Syntax) {
    let vals = match frame.outs() {
        Ok(v) => v,
        Err(s) => return call.fault(Win32Status(s as u32)),
    };
    match engine::encode(&vals, syntax, DataRep::LITTLE_ENDIAN) {
        Ok(stub) => call.reply(stub),
        Err(_) => call.fault(Win32Status(RPC_X_BAD_STUB_DATA as u32)),
    }
}

thread_local! {
    /// The call whose synchronous manager runs on this thread (for RpcServerTestCancel(NULL)).
    static CURRENT: Cell<*const IncomingCall> = const { Cell::new(std::ptr::null()) };
}

/// An `[async]` call waiting for its manager.
struct Pending {
    call: IncomingCall,
    frame: Frame,
    syntax: Syntax,
    handle: Box<RpcAsyncState>,
}

// SAFETY: the handle is a heap RPC_ASYNC_STATE owned by this entry, whose only pointers are its
// own address (RuntimeInfo) and NULLs; the manager may use it from any thread, as on Windows, and
// the library touches it only under the table's lock.
unsafe impl Send for Pending {}

fn pending() -> MutexGuard<'static, HashMap<usize, Pending>> {
    static P: OnceLock<Mutex<HashMap<usize, Pending>>> = OnceLock::new();
    P.get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

impl Interface for CInterface {
    fn syntax(&self) -> SyntaxId {
        self.syntax
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn operation_count(&self) -> u16 {
        self.procs.iter().map(|p| p.opnum + 1).max().unwrap_or(0)
    }
    fn dispatch(&self, call: IncomingCall) -> Dispatch {
        let info = call.info();
        let (opnum, syntax, drep, limits) =
            (info.opnum, info.syntax, info.drep, info.decode_limits);
        let Some(proc) = self.procs.iter().find(|p| p.opnum == opnum) else {
            return call.answer_fault(Win32Status::RPC_S_PROCNUM_OUT_OF_RANGE);
        };
        let plan: Vec<P> = proc
            .params
            .iter()
            .filter(|p| p.is_in() && !p.is_handle() && !p.is_return())
            .copied()
            .collect();
        let vals = match engine::decode_values(&plan, call.stub(), syntax, drep, limits) {
            Ok(v) => v,
            Err(_) => return call.answer_fault(Win32Status::RPC_X_BAD_STUB_DATA),
        };
        let mut frame = match Frame::new(&proc.params, vals) {
            Ok(f) => f,
            Err(s) => return call.answer_fault(Win32Status(s as u32)),
        };
        let thunk = proc.thunk;
        if proc.is_async {
            let mut handle = RpcAsyncState::new_server();
            let key = &mut *handle as *mut RpcAsyncState as usize;
            let args = frame.args.as_mut_ptr() as usize;
            pending().insert(
                key,
                Pending {
                    call,
                    frame,
                    syntax,
                    handle,
                },
            );
            tokio::task::spawn_blocking(move || {
                // SAFETY: the generated thunk with its handle (alive in the table until the
                // manager completes or aborts) and the frame's argument array, which lives in
                // the same entry and does not move (a Vec's buffer stays where it is when the
                // Vec moves).
                let s = with_barrier(|| unsafe {
                    thunk(
                        key as *mut RpcAsyncState,
                        args as *mut *mut c_void,
                        std::ptr::null_mut(),
                    )
                });
                if s != 0 {
                    // The manager raised before completing: the call faults with its code.
                    if let Some(p) = pending().remove(&key) {
                        p.call.fault(Win32Status(s as u32));
                    }
                }
            });
            return Dispatch::Deferred;
        }
        tokio::task::spawn_blocking(move || {
            CURRENT.with(|c| c.set(&call));
            let ret = frame.ret.as_mut_ptr().cast::<c_void>();
            // SAFETY: the generated thunk with this call's frame: args point at its slots, ret at
            // its return storage, all alive for the call.
            let s = with_barrier(|| unsafe {
                thunk(std::ptr::null_mut(), frame.args.as_mut_ptr(), ret)
            });
            CURRENT.with(|c| c.set(std::ptr::null()));
            if s != 0 {
                call.fault(Win32Status(s as u32));
            } else {
                answer(call, &frame, syntax);
            }
        });
        Dispatch::Deferred
    }
}

/// `RpcAsyncCompleteCall` on a server handle: answers the call with the `[out]` values and the
/// return value at `reply`, and frees the handle. `None` when `p` is not a server handle.
///
/// # Safety
/// `reply` is NULL or points to the operation's return value.
pub(crate) unsafe fn complete(p: *mut RpcAsyncState, reply: *mut c_void) -> Option<i32> {
    let mut entry = pending().remove(&(p as usize))?;
    if let (Some(rp), false) = (entry.frame.ret_p, reply.is_null()) {
        // SAFETY: reply points to the return value (caller), mem_size bytes.
        match unsafe { engine::read_val(&rp, reply.cast()) } {
            // SAFETY: ret is the frame's 16-byte storage.
            Ok(v) => unsafe { engine::write_val(&rp, entry.frame.ret.as_mut_ptr().cast(), &v) },
            Err(s) => {
                entry.call.fault(Win32Status(s as u32));
                return Some(s);
            }
        }
    }
    answer(entry.call, &entry.frame, entry.syntax);
    drop(entry.handle);
    Some(RPC_S_OK)
}

/// `RpcAsyncAbortCall`: faults the server's `[async]` call with `ExceptionCode` and frees the
/// handle. 1914 for anything but a pending server handle.
#[unsafe(no_mangle)]
pub extern "C" fn RpcAsyncAbortCall(p: *mut RpcAsyncState, code: std::ffi::c_ulong) -> i32 {
    match pending().remove(&(p as usize)) {
        Some(e) => {
            // A Win32 or nca status: 32 bits on the wire (the C `unsigned long` may be wider).
            e.call.fault(Win32Status(code as u32));
            RPC_S_OK
        }
        None => RPC_S_INVALID_ASYNC_HANDLE,
    }
}

/// `RpcServerTestCancel`: on `RpcAsyncGetCallHandle(pAsync)` of an `[async]` call, or NULL for
/// the synchronous call this thread's manager is running: `RPC_S_OK` when the client cancelled
/// it, 1791 `RPC_S_CALL_IN_PROGRESS` otherwise, 1725 `RPC_S_NO_CALL_ACTIVE` with no such call.
#[unsafe(no_mangle)]
pub extern "C" fn RpcServerTestCancel(call: *mut c_void) -> i32 {
    let s = if call.is_null() {
        let cur = CURRENT.with(Cell::get);
        if cur.is_null() {
            return RPC_S_NO_CALL_ACTIVE;
        }
        // SAFETY: CURRENT points at the IncomingCall owned by the closure running this thread's
        // manager; it is reset before that closure uses the call again.
        unsafe { &*cur }.test_cancel()
    } else {
        match pending().get(&(call as usize)) {
            Some(e) => e.call.test_cancel(),
            None => return RPC_S_NO_CALL_ACTIVE,
        }
    };
    if s == Win32Status::RPC_S_CALL_CANCELLED || s == Win32Status::OK {
        RPC_S_OK
    } else {
        let _ = RPC_S_CALL_IN_PROGRESS;
        s.0 as i32
    }
}

fn use_protseq(protseq: Option<String>, endpoint: Option<String>) -> i32 {
    let (Some(protseq), Some(endpoint)) = (protseq, endpoint) else {
        return RPC_S_INVALID_ARG;
    };
    let binding = match protseq.as_str() {
        "ncacn_ip_tcp" => {
            let addr = std::env::var(LISTEN_ADDRESS_VAR).unwrap_or_else(|_| "0.0.0.0".to_string());
            format!("ncacn_ip_tcp:{addr}[{endpoint}]")
        }
        "ncalrpc" => format!("ncalrpc:[{endpoint}]"),
        _ => return 1703,
    };
    state().listen.push(binding);
    RPC_S_OK
}

/// `RpcServerUseProtseqEpA`: listen on `Endpoint` with `Protseq` (`ncacn_ip_tcp`: on the address
/// `MSRPC_LISTEN_ADDRESS` names, default every address; `ncalrpc`) once the server listens.
/// `MaxCalls` and the security descriptor are not used (the server's limits apply).
///
/// # Safety
/// The strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcServerUseProtseqEpA(
    protseq: *const u8,
    _max_calls: u32,
    endpoint: *const u8,
    _security: *mut c_void,
) -> i32 {
    // SAFETY: NULL or NUL-terminated (caller).
    let (p, e) = unsafe { (strings::arg_a(protseq), strings::arg_a(endpoint)) };
    use_protseq(p.ok().flatten(), e.ok().flatten())
}

/// `RpcServerUseProtseqEpW`.
///
/// # Safety
/// The strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcServerUseProtseqEpW(
    protseq: *const u16,
    _max_calls: u32,
    endpoint: *const u16,
    _security: *mut c_void,
) -> i32 {
    // SAFETY: NULL or NUL-terminated (caller).
    let (p, e) = unsafe { (strings::arg_w(protseq), strings::arg_w(endpoint)) };
    use_protseq(p.ok().flatten(), e.ok().flatten())
}

/// `RpcServerRegisterIf3`: registers a `STEM_s.c` interface (`Itf_vM_m_s_ifspec`); the manager
/// type, EPV, flags, limits, callback and security descriptor are accepted and not used (a C
/// server's managers are the functions the prototypes name). Registering while listening adds
/// the interface to the running server.
///
/// # Safety
/// `ifspec` is a server interface spec from `STEM_s.c`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn RpcServerRegisterIf3(
    ifspec: *mut c_void,
    _mgr_type: *mut c_void,
    _mgr_epv: *mut c_void,
    _flags: u32,
    _max_calls: u32,
    _max_rpc_size: u32,
    _callback: *mut c_void,
    _security: *mut c_void,
) -> i32 {
    let s = ifspec as *const MsrpcServerInterface;
    if s.is_null() {
        return RPC_S_INVALID_ARG;
    }
    // SAFETY: ifspec is a generated MSRPC_SERVER_INTERFACE (caller).
    let (itf, thunks) = unsafe { ((*s).itf, (*s).thunks) };
    // SAFETY: its interface table (generated).
    let (syntax, name, procs) = match unsafe { engine::load_all(itf) } {
        Ok(x) => x,
        Err(e) => return e,
    };
    let mut cprocs = Vec::new();
    for (i, (opnum, is_async, params)) in procs.into_iter().enumerate() {
        // SAFETY: thunks has one entry per procedure (generated).
        let Some(thunk) = (unsafe { *thunks.add(i) }) else {
            return RPC_S_INVALID_ARG;
        };
        cprocs.push(CProc {
            opnum,
            is_async,
            params,
            thunk,
        });
    }
    let itf = Arc::new(CInterface {
        syntax,
        name,
        procs: cprocs,
    });
    let mut st = state();
    if st.ifaces.iter().any(|(s, _)| *s == syntax) {
        return 1711;
    }
    if let Some(server) = &st.server
        && server.register(itf.clone()).is_err()
    {
        return 1711;
    }
    st.ifaces.push((syntax, itf));
    RPC_S_OK
}

/// `RpcServerRegisterIf2`.
///
/// # Safety
/// As [`RpcServerRegisterIf3`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcServerRegisterIf2(
    ifspec: *mut c_void,
    mgr_type: *mut c_void,
    mgr_epv: *mut c_void,
    flags: u32,
    max_calls: u32,
    max_rpc_size: u32,
    callback: *mut c_void,
) -> i32 {
    // SAFETY: the same contract.
    unsafe {
        RpcServerRegisterIf3(
            ifspec,
            mgr_type,
            mgr_epv,
            flags,
            max_calls,
            max_rpc_size,
            callback,
            std::ptr::null_mut(),
        )
    }
}

/// `RpcServerRegisterIf`.
///
/// # Safety
/// As [`RpcServerRegisterIf3`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcServerRegisterIf(
    ifspec: *mut c_void,
    mgr_type: *mut c_void,
    mgr_epv: *mut c_void,
) -> i32 {
    // SAFETY: the same contract.
    unsafe {
        RpcServerRegisterIf3(
            ifspec,
            mgr_type,
            mgr_epv,
            0,
            1234,
            u32::MAX,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// `RpcServerUnregisterIf`: NULL unregisters every interface (before the next
/// `RpcServerListen`; a running server keeps serving what it has until it stops).
#[unsafe(no_mangle)]
pub extern "C" fn RpcServerUnregisterIf(ifspec: *mut c_void, _mgr: *mut c_void, _wait: u32) -> i32 {
    let mut st = state();
    if ifspec.is_null() {
        st.ifaces.clear();
        return RPC_S_OK;
    }
    let s = ifspec as *const MsrpcServerInterface;
    // SAFETY: ifspec is a generated MSRPC_SERVER_INTERFACE (the caller's contract, as on Windows).
    let (syntax, _, _) = match unsafe { engine::load_all((*s).itf) } {
        Ok(x) => x,
        Err(e) => return e,
    };
    let before = st.ifaces.len();
    st.ifaces.retain(|(s, _)| *s != syntax);
    if st.ifaces.len() == before {
        RPC_S_UNKNOWN_IF
    } else {
        RPC_S_OK
    }
}

/// `RpcServerListen`: starts the server on the endpoints and interfaces registered so far;
/// with `DontWait = FALSE` blocks until `RpcMgmtStopServerListening`. 1713 when already listening,
/// 1714 with no endpoint; a listener that cannot be opened gives its status.
#[unsafe(no_mangle)]
pub extern "C" fn RpcServerListen(_min_threads: u32, _max_calls: u32, dont_wait: u32) -> i32 {
    let server = {
        let mut st = state();
        if st.server.is_some() {
            return RPC_S_ALREADY_LISTENING;
        }
        if st.listen.is_empty() {
            return RPC_S_NO_PROTSEQS_REGISTERED;
        }
        let mut b = Server::builder();
        for (_, itf) in &st.ifaces {
            b = b.interface(itf.clone() as Arc<dyn Interface>);
        }
        for l in &st.listen {
            b = b.listen(l.clone());
        }
        let server = match runtime().block_on(b.start()) {
            Ok(s) => Arc::new(s),
            Err(e) => return of(&e),
        };
        for binding in server.bindings() {
            eprintln!("libmsrpc_c: listening on {binding}");
        }
        st.server = Some(server.clone());
        server
    };
    if dont_wait != 0 {
        return RPC_S_OK;
    }
    wait_stopped(&server);
    RPC_S_OK
}

/// Waits until the server stops listening, then until the calls in progress (the manager that
/// called `RpcMgmtStopServerListening` among them) have been answered, for up to
/// [`STOP_GRACE`], as `RpcServerListen` returns on Windows once its calls are done.
fn wait_stopped(server: &Server) {
    runtime().block_on(async {
        server.stopped().await;
        server.shutdown(STOP_GRACE).await;
    });
    state().server = None;
}

/// `RpcMgmtWaitServerListen`: blocks until the server stops (1715 when it is not listening).
#[unsafe(no_mangle)]
pub extern "C" fn RpcMgmtWaitServerListen() -> i32 {
    let Some(server) = state().server.clone() else {
        return RPC_S_NOT_LISTENING;
    };
    wait_stopped(&server);
    RPC_S_OK
}

/// `RpcMgmtStopServerListening(NULL)`: stops the server (calls in progress get
/// 5 s, `STOP_GRACE`); returns at once, `RpcServerListen` and `RpcMgmtWaitServerListen` return when
/// it has stopped. A binding handle (a remote stop) is not supported: 1702.
#[unsafe(no_mangle)]
pub extern "C" fn RpcMgmtStopServerListening(binding: *mut c_void) -> i32 {
    if !binding.is_null() {
        return RPC_S_INVALID_BINDING;
    }
    let Some(server) = state().server.clone() else {
        return RPC_S_NOT_LISTENING;
    };
    runtime().spawn(async move { server.shutdown(STOP_GRACE).await });
    RPC_S_OK
}
