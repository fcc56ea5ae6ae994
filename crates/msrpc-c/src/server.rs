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
    /// `RpcServerListen` was called (the server may have started earlier, for
    /// `RpcServerInqBindings`).
    listening: bool,
    /// The `RpcEpRegister` entries, by interface, for `RpcEpUnregister`.
    ep_entries: Vec<(SyntaxId, Vec<msrpc::epm::Entry>)>,
    /// `RpcServerUseProtseq` endpoints handed out for ncalrpc.
    dynamic_lrpc: u32,
    /// `RpcServerRegisterAuthInfo` with NTLM or Negotiate: the accounts of `MSRPC_USERS_FILE`.
    users: Option<Arc<msrpc::UserStore>>,
    /// `RpcServerRegisterAuthInfo` with Kerberos: the service from the keytab `KRB5_KTNAME` names.
    kerberos: Option<msrpc::KerberosService>,
    /// The principal name registered (what `RpcBindingInqAuthClient` reports as the server's).
    principal: String,
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

/// `RPC_IF_CALLBACK_FN`: the interface's security callback, with the interface handle and the
/// call's server binding handle.
type IfCallback = unsafe extern "C" fn(*mut c_void, *mut c_void) -> i32;

/// `RPC_IF_ALLOW_SECURE_ONLY`: calls without authentication (or at level none) are refused.
const RPC_IF_ALLOW_SECURE_ONLY: u32 = 0x0008;
/// `RPC_IF_ALLOW_CALLBACKS_WITH_NO_AUTH`: the security callback is asked about unauthenticated
/// calls too (without it they are refused before the callback, as on Windows).
const RPC_IF_ALLOW_CALLBACKS_WITH_NO_AUTH: u32 = 0x0010;
/// `RPC_IF_ALLOW_LOCAL_ONLY`: only local callers (`ncalrpc`); TCP calls are refused, even from
/// the loopback address, as Windows refuses every `ncacn_ip_tcp` call.
const RPC_IF_ALLOW_LOCAL_ONLY: u32 = 0x0020;
/// `RPC_S_ACCESS_DENIED`: what a refused call gets.
const RPC_S_ACCESS_DENIED: u32 = 5;

/// A `STEM_s.c` interface as an msrpc interface.
struct CInterface {
    syntax: SyntaxId,
    name: String,
    procs: Vec<CProc>,
    security: Arc<IfSecurity>,
    /// `MaxRpcSize`: a request stub larger than this is refused with 5 before decoding.
    max_rpc_size: usize,
    /// An `RPC_IF_AUTOLISTEN` interface's `MaxCalls`: calls in progress on it beyond this are
    /// refused with 1723 `RPC_S_SERVER_TOO_BUSY` (`None`: only the server's limit applies).
    max_calls: Option<usize>,
    /// Its calls in progress (dispatched and not yet answered).
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
}

/// `RPC_IF_AUTOLISTEN`: the interface is served from its registration, without
/// `RpcServerListen`, and its `MaxCalls` applies.
const RPC_IF_AUTOLISTEN: u32 = 0x0001;
/// `RPC_S_SERVER_TOO_BUSY`: an auto-listen interface has `MaxCalls` calls in progress.
const RPC_S_SERVER_TOO_BUSY: u32 = 1723;

/// One call in progress on an auto-listen interface, counted until it is answered (dropped).
struct CallSlot(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for CallSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl CInterface {
    /// A slot for one more call, or `None` when the interface's `MaxCalls` are in progress.
    fn call_slot(&self) -> Option<Option<CallSlot>> {
        let Some(max) = self.max_calls else {
            return Some(None);
        };
        let n = self
            .in_flight
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let slot = CallSlot(self.in_flight.clone());
        // Past the limit: the slot just taken is given back as it drops.
        (n < max).then_some(Some(slot))
    }
}

/// What `RpcServerRegisterIf2/3` asked of an interface's callers.
struct IfSecurity {
    /// The flags this library acts on.
    flags: u32,
    callback: Option<IfCallback>,
    /// The `RPC_IF_HANDLE` registered, passed to the callback.
    ifspec: usize,
}

impl IfSecurity {
    /// The flag checks, which run no program code: done before the request is decoded (as
    /// Windows refuses before unmarshalling), and again in [`IfSecurity::admit`].
    fn precheck(&self, client: Option<&msrpc::ClientIdentity>, local: bool) -> bool {
        let authenticated = client.is_some_and(|c| c.level != msrpc::AuthnLevel::None);
        if self.flags & RPC_IF_ALLOW_LOCAL_ONLY != 0 && !local {
            return false;
        }
        if self.flags & RPC_IF_ALLOW_SECURE_ONLY != 0 && !authenticated {
            return false;
        }
        // Without RPC_IF_ALLOW_CALLBACKS_WITH_NO_AUTH an interface with a callback refuses
        // unauthenticated calls before asking it.
        !(self.callback.is_some()
            && !authenticated
            && self.flags & RPC_IF_ALLOW_CALLBACKS_WITH_NO_AUTH == 0)
    }

    /// The checks `RpcServerRegisterIf2/3` asked for, before the manager runs: `false` refuses
    /// the call with 5. Runs on a blocking thread (the callback is the program's C code).
    fn admit(&self, client: Option<&msrpc::ClientIdentity>, local: bool, handle: usize) -> bool {
        if !self.precheck(client, local) {
            return false;
        }
        let Some(cb) = self.callback else {
            return true;
        };
        // SAFETY: the program's RPC_IF_CALLBACK_FN, with the interface handle it registered and
        // this call's server binding handle (valid until the call is answered), behind a barrier.
        let s = with_barrier(|| unsafe { cb(self.ifspec as *mut c_void, handle as *mut c_void) });
        s == 0
    }
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
    /// A constructed return value's object (in `rich`, freed with it), else NULL: `ret` is used.
    ret_rich: *mut u8,
    args: Vec<*mut c_void>,
    /// (param, address of its [out] pointee) in order.
    outs: Vec<(P, *mut u8)>,
    ret_p: Option<P>,
    /// Constructed-type storage (descriptor root, object), from `MIDL_user_allocate`: freed
    /// with its pointees when the frame goes (rich.rs).
    rich: Vec<(u32, *mut u8)>,
    /// Context handles that came in (address of their C object, UUID; 0 for a null one).
    ctx_in: Vec<(usize, u128)>,
    /// Their values, held until the call is answered (a rundown waits for them).
    ctx_held: Vec<(u128, HeldCtx)>,
    /// The DCE pipes handed to the manager (pipes.rs).
    pipes: Vec<crate::pipes::ServerPipe>,
    /// A `[strict_context_handle]` interface's handle came in: each must be this interface's.
    strict: bool,
    /// The handles that came in declared `[context_handle_noserialize]` (no turns on them).
    noserialize: Vec<u128>,
    /// The `[type_strict_context_handle]` ones, with the rundown routine of their type.
    type_strict: Vec<(u128, Option<crate::rich::RundownFn>)>,
    /// The turns this call holds on the handles it presented (`[context_handle_serialize]`),
    /// released when the frame goes, after the reply.
    turns: Vec<TurnHeld>,
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
    fn new(params: &[P], vals: Vec<Val>, handle: usize) -> Result<Frame, i32> {
        let n = params.iter().filter(|p| !p.is_return()).count();
        let mut f = Frame {
            slots: vec![[0u64; 2]; n.max(1)].into_boxed_slice(),
            pointees: Vec::new(),
            strings8: Vec::new(),
            strings16: Vec::new(),
            ret: Box::new([0; 2]),
            ret_rich: std::ptr::null_mut(),
            args: Vec::with_capacity(n),
            outs: Vec::new(),
            ret_p: params.iter().find(|p| p.is_return()).copied(),
            rich: Vec::new(),
            ctx_in: Vec::new(),
            ctx_held: Vec::new(),
            pipes: Vec::new(),
            strict: false,
            noserialize: Vec::new(),
            type_strict: Vec::new(),
            turns: Vec::new(),
        };
        let mut vals = vals.into_iter();
        let mut out_only: Vec<(usize, usize, u32)> = Vec::new();
        for (i, p) in params.iter().filter(|p| !p.is_return()).enumerate() {
            let slot = f.slots[i].as_mut_ptr().cast::<u8>();
            f.args.push(slot.cast());
            if p.is_handle() {
                // The call's server binding handle (RpcBindingInqAuthClient takes it).
                // SAFETY: slot is 16 writable, 8-aligned bytes of this frame.
                unsafe { slot.cast::<usize>().write(handle) };
                continue;
            }
            let v = if p.is_in() {
                Some(vals.next().ok_or(RPC_X_BAD_STUB_DATA)?)
            } else {
                None
            };
            if let Some(elem) = p.pipe_elem() {
                let inp = match v {
                    Some(Val::Pipe(_, chunks)) => Some(chunks),
                    _ => None,
                };
                let sp = crate::pipes::ServerPipe::new(elem, inp, p.is_out());
                let at = (&*sp.c as *const crate::pipes::CPipe)
                    .cast_mut()
                    .cast::<u8>();
                f.pipes.push(sp);
                if p.is_out() {
                    f.outs.push((*p, at));
                }
                if p.is_byref() {
                    // SAFETY: slot is writable (this frame's).
                    unsafe { slot.cast::<usize>().write(at as usize) };
                } else if let Some(a) = f.args.last_mut() {
                    // A pipe by value: the manager's argument is (a copy of) the structure.
                    *a = at.cast();
                }
                continue;
            }
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
                    f.strict |= w.strict_in;
                    f.noserialize.append(&mut w.noserialize_in);
                    f.type_strict.append(&mut w.type_strict_in);
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
        if let Some(root) = f.ret_p.and_then(|p| p.rich_root()) {
            // The manager's constructed return value lands here; its pointees (the manager's
            // MIDL_user_allocate'd memory) are freed with it after the reply.
            let at = crate::rich::alloc_for(root, None)?;
            f.rich.push((root, at));
            f.ret_rich = at;
        }
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

    /// Where the thunk writes the manager's return value.
    fn ret_ptr(&mut self) -> *mut c_void {
        if self.ret_rich.is_null() {
            self.ret.as_mut_ptr().cast()
        } else {
            self.ret_rich.cast()
        }
    }

    /// Puts the manager's `void *` of each context handle that came in into its C object: the
    /// handle is looked up in the client's association group, so a handle of another association
    /// (or a closed, unknown one) faults the call with `nca_s_fault_context_mismatch`.
    /// The handles are held (`ctx_held`) until the frame goes, after the reply.
    fn resolve_ctx_in(&mut self, call: &IncomingCall) -> Result<(), msrpc::FaultStatus> {
        for (at, id) in &self.ctx_in {
            if *id == 0 {
                continue;
            }
            let ctx = call.context::<CCtx>(&wire_ctx(*id))?;
            let (p, iface, rundown) = {
                let c = lock_ctx(&ctx);
                (c.ptr, c.iface, c.rundown)
            };
            if self.strict && iface != call.info().interface {
                // [strict_context_handle]: a handle another interface created.
                return Err(msrpc::FaultStatus::NCA_S_FAULT_CONTEXT_MISMATCH);
            }
            let same = |a: Option<crate::rich::RundownFn>, b: Option<crate::rich::RundownFn>| {
                a.map(|f| f as usize) == b.map(|f| f as usize)
            };
            if let Some((_, want)) = self.type_strict.iter().find(|(h, _)| h == id)
                && !same(*want, rundown)
            {
                // [type_strict_context_handle]: a handle created as another type.
                return Err(msrpc::FaultStatus::NCA_S_FAULT_CONTEXT_MISMATCH);
            }
            // SAFETY: `at` is the address of a context handle's C object (a `void *`) in this
            // frame's own storage, recorded by the writer that filled it.
            unsafe { (*at as *mut usize).write_unaligned(p) };
            if !self.ctx_held.iter().any(|(h, _)| h == id) {
                self.ctx_held.push((*id, ctx));
            }
        }
        Ok(())
    }

    /// The `[out]` values and the return value, read back after the manager ran.
    fn outs(&self, call: &IncomingCall) -> Result<Vec<Val>, i32> {
        let ctx_out = |at: usize, p: usize, rundown| {
            ctx_out(call, &self.ctx_in, &self.ctx_held, at, p, rundown)
        };
        let ctx_out: crate::rich::CtxOut<'_> = &ctx_out;
        // Every pipe was drained ([in]) and ended ([out]) by the manager, else the call faults.
        let mut pipes_out = Vec::new();
        for sp in &self.pipes {
            let at = (&*sp.c as *const crate::pipes::CPipe) as usize;
            pipes_out.push((at, sp.finish()?));
        }
        let mut v = Vec::new();
        for (p, at) in &self.outs {
            if let Some(elem) = p.pipe_elem() {
                let chunks = pipes_out
                    .iter_mut()
                    .find(|(a, _)| *a == *at as usize)
                    .and_then(|(_, c)| c.take())
                    .ok_or(RPC_X_BAD_STUB_DATA)?;
                v.push(Val::Pipe(elem, chunks));
                continue;
            }
            if let Some(root) = p.rich_root() {
                // SAFETY: at is this frame's object for root; args are the frame's arguments.
                let r = unsafe {
                    crate::rich::read_top(
                        root,
                        *at,
                        self.args.as_ptr(),
                        crate::rich::Side::Server,
                        Some(ctx_out),
                    )
                }?;
                v.push(Val::Rich(root, r));
                continue;
            }
            // SAFETY: at is this frame's pointee storage for p, initialised (zero or the manager's).
            v.push(unsafe { engine::read_val(p, *at) }?);
        }
        if let (Some(root), false) = (
            self.ret_p.and_then(|p| p.rich_root()),
            self.ret_rich.is_null(),
        ) {
            // SAFETY: ret_rich is this frame's object for root, written by the thunk (or zero).
            let r = unsafe {
                crate::rich::read_top(
                    root,
                    self.ret_rich,
                    self.args.as_ptr(),
                    crate::rich::Side::Server,
                    Some(ctx_out),
                )
            }?;
            v.push(Val::Rich(root, r));
        } else if let Some(p) = &self.ret_p {
            // SAFETY: ret is this frame's storage, written by the thunk (or zero).
            v.push(unsafe { engine::read_val(p, self.ret.as_ptr().cast()) }?);
        }
        Ok(v)
    }
}

/// A C manager's context handle, kept in the client's association group (msrpc's context
/// handles): the manager's `void *` and the type's rundown routine.
///
/// The rundown runs when the value is dropped while `armed`: the group drops it when it ends
/// (the client went away), and a call that presented the handle holds a clone (its frame's
/// `ctx_held`) until it is answered, so a rundown never runs while a manager still uses the
/// pointer: it waits for the last such call, as rpcrt4's does. A handle the manager closes is
/// disarmed first.
#[derive(Debug)]
struct CCtx {
    ptr: usize,
    rundown: Option<crate::rich::RundownFn>,
    armed: bool,
    /// The interface whose manager created it (`[strict_context_handle]`).
    iface: msrpc::SyntaxId,
    /// Calls presenting the handle take turns on it (`[context_handle_serialize]`, MIDL's
    /// default for context handles).
    turn: Arc<Turn>,
}

/// One context handle's turn: held by the call whose manager uses the handle.
#[derive(Debug, Default)]
struct Turn {
    busy: Mutex<bool>,
    cv: std::sync::Condvar,
}

/// How often a call waiting for a handle's turn looks whether its client went away.
const TURN_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// A turn held; released (and the next waiting call woken) when dropped.
#[derive(Debug)]
struct TurnHeld(Arc<Turn>);

impl Drop for TurnHeld {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.0.cv.notify_all();
    }
}

/// Waits for each handle's turn, in UUID order (two calls presenting the same two handles
/// cannot deadlock). The wait lasts while another call's manager uses a handle; it ends early,
/// with None, when `gone` says the waiting call's client went away or cancelled, so that a dead
/// client's queued call ends without running its manager (and the handle's rundown is not held
/// up by it).
fn take_turns(turns: &[Arc<Turn>], gone: &std::sync::atomic::AtomicBool) -> Option<Vec<TurnHeld>> {
    let mut held = Vec::with_capacity(turns.len());
    for t in turns {
        let mut busy = t.busy.lock().unwrap_or_else(|p| p.into_inner());
        while *busy {
            if gone.load(std::sync::atomic::Ordering::Acquire) {
                return None;
            }
            busy =
                t.cv.wait_timeout(busy, TURN_POLL)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
        }
        *busy = true;
        drop(busy);
        held.push(TurnHeld(t.clone()));
    }
    Some(held)
}

impl Frame {
    /// The turns of the handles this call presented, in UUID order.
    fn turns_wanted(&self) -> Vec<Arc<Turn>> {
        let mut v: Vec<(u128, Arc<Turn>)> = self
            .ctx_held
            .iter()
            .filter(|(id, _)| !self.noserialize.contains(id))
            .map(|(id, c)| (*id, lock_ctx(c).turn.clone()))
            .collect();
        v.sort_by_key(|(id, _)| *id);
        v.into_iter().map(|(_, t)| t).collect()
    }
}

impl Drop for CCtx {
    fn drop(&mut self) {
        if let (true, Some(f)) = (self.armed, self.rundown) {
            // SAFETY: the rundown routine the server stub's tables name, called once (the value
            // is dropped once) with the pointer its manager returned, as rpcrt4 does; behind a
            // barrier, so a rundown that raises cannot jump into Rust frames.
            with_barrier(|| unsafe { f(self.ptr as *mut c_void) });
        }
    }
}

type HeldCtx = msrpc::server::ContextValue<CCtx>;

fn lock_ctx(c: &HeldCtx) -> MutexGuard<'_, CCtx> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

fn wire_ctx(id: u128) -> msrpc_ndr::ContextHandle {
    msrpc_ndr::ContextHandle {
        attributes: 0,
        uuid: uuid::Uuid::from_u128(id),
    }
}

/// A context handle going out of a C manager (`p` at the C object `at`): an `[in, out]` handle
/// that came in keeps its UUID (with the manager's new pointer) or, set to NULL, is closed
/// without its rundown; any other non-NULL pointer becomes a new handle in the client's
/// association group, run down with `rundown` if the group ends with it open.
fn ctx_out(
    call: &IncomingCall,
    ctx_in: &[(usize, u128)],
    held: &[(u128, HeldCtx)],
    at: usize,
    p: usize,
    rundown: Option<crate::rich::RundownFn>,
) -> Result<msrpc_ndr::ContextHandle, i32> {
    let came = ctx_in
        .iter()
        .find(|(a, id)| *a == at && *id != 0)
        .map(|(_, id)| *id);
    let held_of = |id: u128| {
        held.iter()
            .find(|(h, _)| *h == id)
            .map(|(_, c)| c)
            .ok_or(crate::rich::RPC_X_SS_CONTEXT_MISMATCH)
    };
    match (came, p) {
        (Some(id), 0) => {
            // Closed by the manager: disarmed (never run down), then out of the group (already
            // gone if another call closed it, or the group ended meanwhile).
            lock_ctx(held_of(id)?).armed = false;
            let _ = call.close_context::<CCtx>(&wire_ctx(id));
            Ok(msrpc_ndr::ContextHandle::NULL)
        }
        (Some(id), p) => {
            lock_ctx(held_of(id)?).ptr = p;
            Ok(wire_ctx(id))
        }
        (None, 0) => Ok(msrpc_ndr::ContextHandle::NULL),
        (None, p) => call
            .new_context(
                CCtx {
                    ptr: p,
                    rundown,
                    armed: true,
                    iface: call.info().interface,
                    turn: Arc::default(),
                },
                // The group ended with the handle open: dropping the value runs the rundown.
                drop,
            )
            .map_err(|_| crate::rich::RPC_X_SS_CONTEXT_MISMATCH),
    }
}

/// Encodes the reply of a call whose manager has run.
fn answer(call: IncomingCall, frame: &Frame, syntax: Syntax) {
    let vals = match frame.outs(&call) {
        Ok(v) => v,
        Err(s) => return call.fault(Win32Status(s as u32)),
    };
    match engine::encode_dir(&vals, syntax, DataRep::LITTLE_ENDIAN, true) {
        Ok(stub) => call.reply(stub),
        Err(_) => call.fault(Win32Status(RPC_X_BAD_STUB_DATA as u32)),
    }
}

thread_local! {
    /// The call whose synchronous manager runs on this thread (for RpcServerTestCancel(NULL)).
    static CURRENT: Cell<*const IncomingCall> = const { Cell::new(std::ptr::null()) };
    /// Its server binding handle (for RpcBindingInqAuthClient(NULL)).
    static CURRENT_BINDING: Cell<usize> = const { Cell::new(0) };
}

/// The server binding handle of the synchronous call this thread's manager is running (0:
/// none), for the functions that take NULL for it.
pub(crate) fn current_binding() -> usize {
    CURRENT_BINDING.with(Cell::get)
}

/// An `[async]` call waiting for its manager.
struct Pending {
    call: IncomingCall,
    frame: Frame,
    syntax: Syntax,
    handle: Box<RpcAsyncState>,
    /// The call's server binding handle, ended with the call.
    _binding: BindingGuard,
    /// Its place among an auto-listen interface's `MaxCalls`, given back as the manager
    /// answers (before the reply is sent, so a client's next call finds room).
    slot: Option<CallSlot>,
    /// `RpcServerSubscribeForNotification` subscriptions: (notification, still subscribed,
    /// deliveries so far).
    subs: Vec<(
        u32,
        Arc<std::sync::atomic::AtomicBool>,
        Arc<std::sync::atomic::AtomicU32>,
    )>,
}

/// A server binding handle, valid until this is dropped (the call answered).
struct BindingGuard(usize);

impl Drop for BindingGuard {
    fn drop(&mut self) {
        crate::binding::remove_server(self.0);
    }
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
        if call.stub().len() > self.max_rpc_size {
            return call.answer_fault(Win32Status(RPC_S_ACCESS_DENIED));
        }
        let local = matches!(info.peer, msrpc::transport::PeerAddr::Local);
        if !self.security.precheck(call.client(), local) {
            return call.answer_fault(Win32Status(RPC_S_ACCESS_DENIED));
        }
        let Some(slot) = self.call_slot() else {
            return call.answer_fault(Win32Status(RPC_S_SERVER_TOO_BUSY));
        };
        let plan: Vec<P> = proc
            .params
            .iter()
            .filter(|p| p.is_in() && !p.is_handle() && !p.is_return())
            .copied()
            .collect();
        let vals = match engine::decode_values(&plan, call.stub(), syntax, drep, limits, false) {
            Ok(v) => v,
            Err(_) => return call.answer_fault(Win32Status::RPC_X_BAD_STUB_DATA),
        };
        let principal = state().principal.clone();
        let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = cancelled.clone();
        // The client went away or cancelled: a call waiting for a context handle's turn gives up.
        let gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let gone_flag = gone.clone();
        call.subscribe(move |e| {
            if e == msrpc::server::CallEvent::Cancel {
                flag.store(true, std::sync::atomic::Ordering::Release);
            }
            gone_flag.store(true, std::sync::atomic::Ordering::Release);
        });
        let peer = crate::binding::client_string_binding(info.object, &info.peer);
        let binding = BindingGuard(crate::binding::insert_server(
            crate::binding::ServerCall::new(call.client().cloned(), principal, cancelled)
                .with_peer(peer)
                .with_object(info.object),
        ));
        let mut frame = match Frame::new(&proc.params, vals, binding.0) {
            Ok(f) => f,
            Err(s) => return call.answer_fault(Win32Status(s as u32)),
        };
        if let Err(f) = frame.resolve_ctx_in(&call) {
            return call.answer_fault(f);
        }
        let turns = frame.turns_wanted();
        let thunk = proc.thunk;
        let sec = self.security.clone();
        let client = call.client().cloned();
        if proc.is_async {
            let mut handle = RpcAsyncState::new_server();
            let key = &mut *handle as *mut RpcAsyncState as usize;
            let args = frame.args.as_mut_ptr() as usize;
            let bh = binding.0;
            pending().insert(
                key,
                Pending {
                    call,
                    frame,
                    syntax,
                    handle,
                    _binding: binding,
                    subs: Vec::new(),
                    slot,
                },
            );
            tokio::task::spawn_blocking(move || {
                if !sec.admit(client.as_ref(), local, bh) {
                    if let Some(p) = pending().remove(&key) {
                        p.call.fault(Win32Status(RPC_S_ACCESS_DENIED));
                    }
                    return;
                }
                // [context_handle_serialize]: the manager runs once no other call uses its
                // handles; the turns are the pending call's until it completes or aborts.
                match take_turns(&turns, &gone) {
                    Some(held) => match pending().get_mut(&key) {
                        Some(p) => p.frame.turns = held,
                        None => return,
                    },
                    None => {
                        if let Some(p) = pending().remove(&key) {
                            p.call.fault(Win32Status::RPC_S_CALL_CANCELLED);
                        }
                        return;
                    }
                }
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
            // Counted among the interface's MaxCalls until the manager has returned (given back
            // before the reply is sent: a client's next call must find room).
            let slot = slot;
            if !sec.admit(client.as_ref(), local, binding.0) {
                drop(binding);
                return call.fault(Win32Status(RPC_S_ACCESS_DENIED));
            }
            // [context_handle_serialize]: the manager runs once no other call uses its handles.
            match take_turns(&turns, &gone) {
                Some(held) => frame.turns = held,
                None => {
                    drop(binding);
                    return call.fault(Win32Status::RPC_S_CALL_CANCELLED);
                }
            }
            CURRENT.with(|c| c.set(&call));
            CURRENT_BINDING.with(|c| c.set(binding.0));
            let ret = frame.ret_ptr();
            // SAFETY: the generated thunk with this call's frame: args point at its slots, ret at
            // its return storage, all alive for the call.
            let s = with_barrier(|| unsafe {
                thunk(std::ptr::null_mut(), frame.args.as_mut_ptr(), ret)
            });
            CURRENT.with(|c| c.set(std::ptr::null()));
            CURRENT_BINDING.with(|c| c.set(0));
            drop(binding);
            drop(slot);
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
    // The manager has answered: the call no longer counts among the interface's MaxCalls.
    drop(entry.slot.take());
    if let (Some(root), false) = (
        entry.frame.ret_p.and_then(|p| p.rich_root()),
        reply.is_null() || entry.frame.ret_rich.is_null(),
    ) {
        // A constructed return value: the manager's object, copied as C copies a return value;
        // its pointees are the frame's from now on.
        let n = entry
            .frame
            .ret_p
            .map_or(0, |p| p.mem_size())
            .min(crate::rich::top_size(root));
        // SAFETY: reply points to the manager's return value of the C type (caller), at least
        // `n` bytes; ret_rich is the frame's allocation of the same type.
        unsafe { std::ptr::copy_nonoverlapping(reply.cast::<u8>(), entry.frame.ret_rich, n) };
    } else if let (Some(rp), false) = (entry.frame.ret_p, reply.is_null()) {
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
        Some(mut e) => {
            drop(e.slot.take());
            // A Win32 or nca status: 32 bits on the wire (the C `unsigned long` may be wider).
            e.call.fault(Win32Status(code as u32));
            RPC_S_OK
        }
        None => RPC_S_INVALID_ASYNC_HANDLE,
    }
}

/// `RpcServerTestCancel`: on `RpcAsyncGetCallHandle(pAsync)` of an `[async]` call, on a
/// manager's server binding handle, or NULL for the synchronous call this thread's manager is
/// running: `RPC_S_OK` when the client cancelled
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
        let async_call = pending()
            .get(&(call as usize))
            .map(|e| e.call.test_cancel());
        match async_call {
            Some(s) => s,
            // A manager's server binding handle (its call's, sync or [async]).
            None => match crate::binding::lookup_server(call) {
                Some(c) if c.cancelled.load(std::sync::atomic::Ordering::Acquire) => {
                    Win32Status::RPC_S_CALL_CANCELLED
                }
                Some(_) => Win32Status::RPC_S_CALL_IN_PROGRESS,
                None => return RPC_S_NO_CALL_ACTIVE,
            },
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

/// `RpcServerRegisterIf3`: registers a `STEM_s.c` interface (`Itf_vM_m_s_ifspec`) with the
/// flags, `MaxRpcSize` and security callback of "Security on the C server" (docs/c-abi.md). With
/// `RPC_IF_AUTOLISTEN` the server starts at once (the endpoints must be registered, else 1714)
/// and `MaxCalls` bounds the interface's calls in progress (beyond: 1723
/// `RPC_S_SERVER_TOO_BUSY`; 0: no limit of its own); without it `MaxCalls` is ignored, as on
/// Windows. The manager type, EPV and security descriptor are accepted and not used (a C
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
    flags: u32,
    max_calls: u32,
    max_rpc_size: u32,
    callback: Option<IfCallback>,
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
        security: Arc::new(IfSecurity {
            flags,
            callback,
            ifspec: ifspec as usize,
        }),
        max_rpc_size: if max_rpc_size == u32::MAX {
            usize::MAX
        } else {
            max_rpc_size as usize
        },
        // Windows applies MaxCalls to auto-listen interfaces only (0: no limit of its own).
        max_calls: (flags & RPC_IF_AUTOLISTEN != 0 && max_calls != 0).then_some(max_calls as usize),
        in_flight: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
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
    if flags & RPC_IF_AUTOLISTEN != 0 && st.server.is_none() {
        // Auto-listen: served from now on, without RpcServerListen (the endpoints must be
        // registered first: 1714 otherwise, and the interface is not registered).
        if let Err(e) = start_server(&mut st, 0) {
            st.ifaces.retain(|(s, _)| *s != syntax);
            return e;
        }
    }
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
    callback: Option<IfCallback>,
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
            None,
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
        // Auto-listen interfaces stay: NULL does not affect them, as on Windows.
        st.ifaces
            .retain(|(_, i)| i.security.flags & RPC_IF_AUTOLISTEN != 0);
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

/// `RpcServerListen`: starts the server on the endpoints and interfaces registered so far (and
/// the authentication `RpcServerRegisterAuthInfo` registered); `MaxCalls` bounds the calls in
/// progress (msrpc's `ServerConfig::max_calls`; 0 keeps its default, 1234); with
/// `DontWait = FALSE` blocks until `RpcMgmtStopServerListening`. 1713 when already listening,
/// 1714 with no endpoint; a listener that cannot be opened gives its status.
#[unsafe(no_mangle)]
pub extern "C" fn RpcServerListen(_min_threads: u32, max_calls: u32, dont_wait: u32) -> i32 {
    let server = {
        let mut st = state();
        if st.listening {
            return RPC_S_ALREADY_LISTENING;
        }
        let server = match &st.server {
            // Started early by RpcServerInqBindings (its endpoints had to exist).
            Some(s) => s.clone(),
            None => match start_server(&mut st, max_calls) {
                Ok(s) => s,
                Err(e) => return e,
            },
        };
        st.listening = true;
        server
    };
    if dont_wait != 0 {
        return RPC_S_OK;
    }
    wait_stopped(&server);
    RPC_S_OK
}

/// Starts the msrpc server on the endpoints, interfaces and authentication registered so far.
fn start_server(st: &mut State, max_calls: u32) -> Result<Arc<Server>, i32> {
    if st.listen.is_empty() {
        return Err(RPC_S_NO_PROTSEQS_REGISTERED);
    }
    let mut config = msrpc::ServerConfig::default();
    // MaxCalls: calls in progress in the whole server (past it: RPC_S_SERVER_TOO_BUSY).
    if max_calls != 0 {
        config.max_calls = max_calls as usize;
    }
    config.principal_name = st.principal.clone();
    let mut b = Server::builder().config(config);
    if let Some(users) = &st.users {
        b = b.authentication(users.clone());
    }
    if let Some(k) = &st.kerberos {
        b = b.kerberos(k.clone());
    }
    for (_, itf) in &st.ifaces {
        b = b.interface(itf.clone() as Arc<dyn Interface>);
    }
    for l in &st.listen {
        b = b.listen(l.clone());
    }
    let server = match runtime().block_on(b.start()) {
        Ok(s) => Arc::new(s),
        Err(e) => return Err(of(&e)),
    };
    for binding in server.bindings() {
        eprintln!("libmsrpc_c: listening on {binding}");
    }
    st.server = Some(server.clone());
    Ok(server)
}

/// Waits until the server stops listening, then until the calls in progress (the manager that
/// called `RpcMgmtStopServerListening` among them) have been answered, for up to
/// [`STOP_GRACE`], as `RpcServerListen` returns on Windows once its calls are done.
fn wait_stopped(server: &Server) {
    runtime().block_on(async {
        server.stopped().await;
        server.shutdown(STOP_GRACE).await;
    });
    let mut st = state();
    st.server = None;
    st.listening = false;
}

/// `RpcMgmtWaitServerListen`: blocks until the server stops (1715 when it is not listening).
#[unsafe(no_mangle)]
pub extern "C" fn RpcMgmtWaitServerListen() -> i32 {
    let server = {
        let st = state();
        match &st.server {
            Some(s) if st.listening => s.clone(),
            _ => return RPC_S_NOT_LISTENING,
        }
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

/// The environment variable naming the users file (`user:password` or `DOMAIN\user:password`
/// lines, as `msrpc serve --users`) whose accounts `RpcServerRegisterAuthInfo` with NTLM or
/// Negotiate accepts: a Windows server checks logons against the machine's accounts; here they
/// come from the file.
pub(crate) const USERS_FILE_VAR: &str = "MSRPC_USERS_FILE";
/// The environment variable naming the keytab (`FILE:` prefix taken) for
/// `RpcServerRegisterAuthInfo` with Kerberos, as MIT Kerberos names it.
pub(crate) const KEYTAB_VAR: &str = "KRB5_KTNAME";

/// The NTLM accounts of the users file [`USERS_FILE_VAR`] names (1749 with the reason on
/// standard error when it is missing or bad).
fn load_users() -> Result<Arc<msrpc::UserStore>, i32> {
    use crate::binding::RPC_S_INVALID_AUTH_IDENTITY;
    let Some(path) = std::env::var_os(USERS_FILE_VAR) else {
        eprintln!(
            "libmsrpc_c: RpcServerRegisterAuthInfo: set {USERS_FILE_VAR} to a users file \
             (user:password lines) for NTLM logons"
        );
        return Err(RPC_S_INVALID_AUTH_IDENTITY);
    };
    msrpc::UserStore::from_file(&path)
        .map(Arc::new)
        .map_err(|e| {
            eprintln!("libmsrpc_c: RpcServerRegisterAuthInfo: users file {e}");
            RPC_S_INVALID_AUTH_IDENTITY
        })
}

/// The Kerberos service `principal` (or the keytab's first principal when empty) with its key
/// from the keytab [`KEYTAB_VAR`] names (1749 with the reason on standard error otherwise).
fn load_keytab(principal: &str) -> Result<msrpc::KerberosService, i32> {
    use crate::binding::RPC_S_INVALID_AUTH_IDENTITY;
    let Some(path) = std::env::var(KEYTAB_VAR).ok().filter(|p| !p.is_empty()) else {
        eprintln!("libmsrpc_c: RpcServerRegisterAuthInfo: set {KEYTAB_VAR} to a keytab");
        return Err(RPC_S_INVALID_AUTH_IDENTITY);
    };
    let path = path.strip_prefix("FILE:").unwrap_or(&path).to_string();
    msrpc::Keytab::from_file(&path)
        .and_then(|k| {
            msrpc::KerberosService::from_keytab(
                &k,
                (!principal.is_empty()).then_some(principal),
                // Only asked for user-to-user tickets, which msrpc's server does not use.
                "tcp://127.0.0.1:88",
            )
        })
        .map_err(|e| {
            eprintln!(
                "libmsrpc_c: RpcServerRegisterAuthInfo: keytab {path}: {}",
                e.detail
            );
            RPC_S_INVALID_AUTH_IDENTITY
        })
}

fn register_auth_info(principal: Option<String>, service: u32, get_key: *mut c_void) -> i32 {
    use crate::binding::{
        RPC_C_AUTHN_DEFAULT, RPC_C_AUTHN_GSS_KERBEROS, RPC_C_AUTHN_GSS_NEGOTIATE,
        RPC_C_AUTHN_WINNT, RPC_S_INVALID_AUTH_IDENTITY, RPC_S_UNKNOWN_AUTHN_SERVICE,
    };
    if !get_key.is_null() {
        // A key-retrieval function is for the retired RPC_C_AUTHN_DCE_PRIVATE package.
        return RPC_S_INVALID_ARG;
    }
    let principal = principal.unwrap_or_default();
    let mut st = state();
    if st.server.is_some() {
        // msrpc fixes a server's security when it starts: register before RpcServerListen.
        return RPC_S_ALREADY_LISTENING;
    }
    match service {
        RPC_C_AUTHN_WINNT | RPC_C_AUTHN_DEFAULT => match load_users() {
            Ok(u) => st.users = Some(u),
            Err(s) => return s,
        },
        RPC_C_AUTHN_GSS_NEGOTIATE => {
            // SPNEGO offers what the server has: NTLM with the users file, Kerberos with the
            // keytab (either or both; Windows' Negotiate has both from the machine's domain).
            let have_users = std::env::var_os(USERS_FILE_VAR).is_some();
            let have_keytab = std::env::var(KEYTAB_VAR).is_ok_and(|p| !p.is_empty());
            if !have_users && !have_keytab {
                eprintln!(
                    "libmsrpc_c: RpcServerRegisterAuthInfo: set {USERS_FILE_VAR} (NTLM accounts) \
                     or {KEYTAB_VAR} (a keytab, for Kerberos) for RPC_C_AUTHN_GSS_NEGOTIATE"
                );
                return RPC_S_INVALID_AUTH_IDENTITY;
            }
            if have_users {
                match load_users() {
                    Ok(u) => st.users = Some(u),
                    Err(s) => return s,
                }
            }
            if have_keytab {
                match load_keytab(&principal) {
                    Ok(k) => st.kerberos = Some(k),
                    Err(s) => return s,
                }
            }
        }
        RPC_C_AUTHN_GSS_KERBEROS => match load_keytab(&principal) {
            Ok(k) => st.kerberos = Some(k),
            Err(s) => return s,
        },
        _ => return RPC_S_UNKNOWN_AUTHN_SERVICE,
    }
    st.principal = principal;
    RPC_S_OK
}

/// `RpcServerRegisterAuthInfoA`: accept clients authenticated with `AuthnSvc`:
/// `RPC_C_AUTHN_WINNT` or `RPC_C_AUTHN_DEFAULT` (NTLM, directly or in SPNEGO, against the
/// accounts of the users file `MSRPC_USERS_FILE` names), `RPC_C_AUTHN_GSS_KERBEROS` (the keytab
/// `KRB5_KTNAME` names, for `ServerPrincName`), or `RPC_C_AUTHN_GSS_NEGOTIATE` (whichever of the
/// two is set, at least one). Call it
/// before `RpcServerListen` (after: 1713). `GetKeyFn` must be NULL, as Windows requires for
/// these packages; `Arg` is not used. 1747 for another package, 1749 when the file is missing
/// or bad (the reason goes to standard error).
///
/// # Safety
/// `principal` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcServerRegisterAuthInfoA(
    principal: *const u8,
    service: std::ffi::c_ulong,
    get_key: *mut c_void,
    _arg: *mut c_void,
) -> i32 {
    // SAFETY: NULL or NUL-terminated (caller).
    let Ok(p) = (unsafe { strings::arg_a(principal) }) else {
        return RPC_S_INVALID_ARG;
    };
    let Ok(service) = u32::try_from(service) else {
        return crate::binding::RPC_S_UNKNOWN_AUTHN_SERVICE;
    };
    register_auth_info(p, service, get_key)
}

/// `RpcServerRegisterAuthInfoW`.
///
/// # Safety
/// As [`RpcServerRegisterAuthInfoA`], with a 16-bit string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcServerRegisterAuthInfoW(
    principal: *const u16,
    service: std::ffi::c_ulong,
    get_key: *mut c_void,
    _arg: *mut c_void,
) -> i32 {
    // SAFETY: NULL or NUL-terminated (caller).
    let Ok(p) = (unsafe { strings::arg_w(principal) }) else {
        return RPC_S_INVALID_ARG;
    };
    let Ok(service) = u32::try_from(service) else {
        return crate::binding::RPC_S_UNKNOWN_AUTHN_SERVICE;
    };
    register_auth_info(p, service, get_key)
}

/// `RPC_S_BINDING_HAS_NO_AUTH`: the call is not authenticated.
const RPC_S_BINDING_HAS_NO_AUTH: i32 = 1746;
/// `RPC_QUERY_SERVER_PRINCIPAL_NAME`, `RPC_QUERY_CLIENT_PRINCIPAL_NAME`: the Ex flags accepted
/// (both names are always available).
const RPC_QUERY_FLAGS: u32 = 0x2 | 0x4;

/// The common part of `RpcBindingInqAuthClient(Ex)A/W`: `wide` picks the string form.
///
/// # Safety
/// Each out pointer is NULL or writable.
#[allow(clippy::too_many_arguments)]
unsafe fn inq_auth_client(
    h: *mut c_void,
    privs: *mut *mut c_void,
    server_princ: *mut *mut c_void,
    level: *mut std::ffi::c_ulong,
    service: *mut std::ffi::c_ulong,
    authz: *mut std::ffi::c_ulong,
    flags: u32,
    wide: bool,
) -> i32 {
    let call = if h.is_null() {
        // NULL: the call this thread's manager is running.
        match CURRENT_BINDING.with(Cell::get) {
            0 => return RPC_S_NO_CALL_ACTIVE,
            b => crate::binding::lookup_server(b as *mut c_void),
        }
    } else {
        crate::binding::lookup_server(h)
    };
    let Some(call) = call else {
        return if crate::binding::lookup(h).is_some() {
            crate::binding::RPC_S_WRONG_KIND_OF_BINDING
        } else {
            RPC_S_INVALID_BINDING
        };
    };
    if flags & !RPC_QUERY_FLAGS != 0 {
        return RPC_S_INVALID_ARG;
    }
    let Some(client) = &call.client else {
        return RPC_S_BINDING_HAS_NO_AUTH;
    };
    let svc = match client.service {
        msrpc::AuthnService::Negotiate => crate::binding::RPC_C_AUTHN_GSS_NEGOTIATE,
        msrpc::AuthnService::Kerberos => crate::binding::RPC_C_AUTHN_GSS_KERBEROS,
        _ => crate::binding::RPC_C_AUTHN_WINNT,
    };
    let lvl: u32 = match client.level {
        msrpc::AuthnLevel::None => 1,
        msrpc::AuthnLevel::Connect => 2,
        msrpc::AuthnLevel::Call => 3,
        msrpc::AuthnLevel::Pkt => 4,
        msrpc::AuthnLevel::PktIntegrity => 5,
        _ => 6,
    };
    if !server_princ.is_null() {
        let p: *mut c_void = if wide {
            strings::give_w(&call.server_principal).cast()
        } else {
            match strings::give_a(&call.server_principal) {
                Some(p) => p.cast(),
                None => return RPC_S_OUT_OF_MEMORY,
            }
        };
        // SAFETY: writable (caller); the string is freed with RpcStringFree, as on Windows.
        unsafe { *server_princ = p };
    }
    if !privs.is_null() {
        // The client's principal name, `DOMAIN\user`, owned by the call (valid until it ends).
        let p: *mut c_void = if wide {
            call.privs_w.as_ptr() as *mut c_void
        } else {
            call.privs_a.as_ptr() as *mut c_void
        };
        // SAFETY: writable (caller).
        unsafe { *privs = p };
    }
    // SAFETY: each is NULL or writable (caller).
    unsafe {
        if !level.is_null() {
            *level = lvl.into();
        }
        if !service.is_null() {
            *service = svc.into();
        }
        if !authz.is_null() {
            *authz = 0;
        }
    }
    RPC_S_OK
}

/// `RpcBindingInqAuthClientA`: who made the call whose server binding handle `ClientBinding` is
/// (the manager's `handle_t`, or NULL for this thread's call): `Privs` gets the client's name
/// (`DOMAIN\user`, valid during the call), `ServerPrincName` the registered principal (free it
/// with `RpcStringFree`), `AuthnLevel` and `AuthnSvc` what the call used, `AuthzSvc`
/// `RPC_C_AUTHZ_NONE`. 1746 `RPC_S_BINDING_HAS_NO_AUTH` for an unauthenticated call.
///
/// # Safety
/// Each out pointer is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingInqAuthClientA(
    h: *mut c_void,
    privs: *mut *mut c_void,
    server_princ: *mut *mut u8,
    level: *mut std::ffi::c_ulong,
    service: *mut std::ffi::c_ulong,
    authz: *mut std::ffi::c_ulong,
) -> i32 {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        inq_auth_client(
            h,
            privs,
            server_princ.cast(),
            level,
            service,
            authz,
            0,
            false,
        )
    }
}

/// `RpcBindingInqAuthClientW`.
///
/// # Safety
/// As [`RpcBindingInqAuthClientA`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingInqAuthClientW(
    h: *mut c_void,
    privs: *mut *mut c_void,
    server_princ: *mut *mut u16,
    level: *mut std::ffi::c_ulong,
    service: *mut std::ffi::c_ulong,
    authz: *mut std::ffi::c_ulong,
) -> i32 {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        inq_auth_client(
            h,
            privs,
            server_princ.cast(),
            level,
            service,
            authz,
            0,
            true,
        )
    }
}

/// `RpcBindingInqAuthClientExA`: as [`RpcBindingInqAuthClientA`], with `Flags`
/// (`RPC_QUERY_SERVER_PRINCIPAL_NAME`, `RPC_QUERY_CLIENT_PRINCIPAL_NAME`; others: 87).
///
/// # Safety
/// As [`RpcBindingInqAuthClientA`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingInqAuthClientExA(
    h: *mut c_void,
    privs: *mut *mut c_void,
    server_princ: *mut *mut u8,
    level: *mut std::ffi::c_ulong,
    service: *mut std::ffi::c_ulong,
    authz: *mut std::ffi::c_ulong,
    flags: std::ffi::c_ulong,
) -> i32 {
    let flags = u32::try_from(flags).unwrap_or(u32::MAX);
    // SAFETY: the caller's contract, passed on.
    unsafe {
        inq_auth_client(
            h,
            privs,
            server_princ.cast(),
            level,
            service,
            authz,
            flags,
            false,
        )
    }
}

/// `RpcBindingInqAuthClientExW`.
///
/// # Safety
/// As [`RpcBindingInqAuthClientA`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingInqAuthClientExW(
    h: *mut c_void,
    privs: *mut *mut c_void,
    server_princ: *mut *mut u16,
    level: *mut std::ffi::c_ulong,
    service: *mut std::ffi::c_ulong,
    authz: *mut std::ffi::c_ulong,
    flags: std::ffi::c_ulong,
) -> i32 {
    let flags = u32::try_from(flags).unwrap_or(u32::MAX);
    // SAFETY: the caller's contract, passed on.
    unsafe {
        inq_auth_client(
            h,
            privs,
            server_princ.cast(),
            level,
            service,
            authz,
            flags,
            true,
        )
    }
}

fn use_protseq_dynamic(protseq: Option<String>) -> i32 {
    let Some(protseq) = protseq else {
        return RPC_S_INVALID_ARG;
    };
    let endpoint = match protseq.as_str() {
        // Port 0: the system picks one; RpcServerInqBindings tells which.
        "ncacn_ip_tcp" => "0".to_string(),
        "ncalrpc" => {
            let mut st = state();
            st.dynamic_lrpc += 1;
            format!("msrpc-c-{}-{}", std::process::id(), st.dynamic_lrpc)
        }
        _ => return 1703,
    };
    use_protseq(Some(protseq), Some(endpoint))
}

/// `RpcServerUseProtseqA`: listen with `Protseq` on an endpoint the runtime picks (a free TCP
/// port; for `ncalrpc` a name of its own); `RpcServerInqBindings` says which.
///
/// # Safety
/// `protseq` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcServerUseProtseqA(
    protseq: *const u8,
    _max_calls: u32,
    _security: *mut c_void,
) -> i32 {
    // SAFETY: NULL or NUL-terminated (caller).
    use_protseq_dynamic(unsafe { strings::arg_a(protseq) }.ok().flatten())
}

/// `RpcServerUseProtseqW`.
///
/// # Safety
/// `protseq` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcServerUseProtseqW(
    protseq: *const u16,
    _max_calls: u32,
    _security: *mut c_void,
) -> i32 {
    // SAFETY: NULL or NUL-terminated (caller).
    use_protseq_dynamic(unsafe { strings::arg_w(protseq) }.ok().flatten())
}

/// Binding vectors handed out and not yet freed: address -> words (count + handles).
fn vectors() -> MutexGuard<'static, HashMap<usize, usize>> {
    static V: OnceLock<Mutex<HashMap<usize, usize>>> = OnceLock::new();
    V.get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// `RpcServerInqBindings`: an `RPC_BINDING_VECTOR` of binding handles for the server's
/// endpoints, with the real ports (free it with `RpcBindingVectorFree`). The endpoints must be
/// open for that, so the first call starts the server's listeners (calls are served from then
/// on, before `RpcServerListen`; authentication must be registered before it). 1714 with no
/// endpoint.
///
/// # Safety
/// `vector` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcServerInqBindings(vector: *mut *mut c_void) -> i32 {
    if vector.is_null() {
        return RPC_S_INVALID_ARG;
    }
    let server = {
        let mut st = state();
        match &st.server {
            Some(s) => s.clone(),
            None => match start_server(&mut st, 0) {
                Ok(s) => s,
                Err(e) => return e,
            },
        }
    };
    let mut words: Vec<usize> = vec![0];
    for sb in server.bindings() {
        let Ok(b) = msrpc::Binding::from_string(&sb.to_string()) else {
            continue;
        };
        match crate::binding::insert(b) {
            Some(h) => words.push(h),
            None => {
                for h in &words[1..] {
                    let mut p = *h as *mut c_void;
                    // SAFETY: a handle just made, in a local.
                    let _ = unsafe { crate::binding::RpcBindingFree(&mut p) };
                }
                return RPC_S_OUT_OF_MEMORY;
            }
        }
    }
    words[0] = words.len() - 1;
    let len = words.len();
    let p = Box::into_raw(words.into_boxed_slice()) as *mut usize;
    vectors().insert(p as usize, len);
    // SAFETY: vector is writable (caller).
    unsafe { *vector = p.cast() };
    RPC_S_OK
}

/// `RpcBindingVectorFree`: frees the vector and its binding handles, and sets `*BindingVector`
/// to NULL. A vector the runtime did not hand out: 87.
///
/// # Safety
/// `vector` is NULL or points to a readable and writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingVectorFree(vector: *mut *mut c_void) -> i32 {
    if vector.is_null() {
        return RPC_S_INVALID_ARG;
    }
    // SAFETY: readable (caller).
    let p = unsafe { *vector } as usize;
    let Some(len) = vectors().remove(&p) else {
        return RPC_S_INVALID_ARG;
    };
    // SAFETY: p and len came from Box::into_raw of a boxed slice in RpcServerInqBindings, and
    // were just removed from the table, so this frees it once.
    let words = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p as *mut usize, len)) };
    for h in &words[1..] {
        let mut hp = *h as *mut c_void;
        // SAFETY: a local copy of the handle; a handle the program freed already is refused.
        let _ = unsafe { crate::binding::RpcBindingFree(&mut hp) };
    }
    // SAFETY: writable (caller).
    unsafe { *vector = std::ptr::null_mut() };
    RPC_S_OK
}

/// The largest `RPC_BINDING_VECTOR` / `UUID_VECTOR` count read from C memory.
pub(crate) const MAX_VECTOR: usize = 1 << 16;

/// The endpoint-map entries of `RpcEpRegister`'s arguments.
///
/// # Safety
/// `ifspec` is a generated server ifspec; `bindings` an `RPC_BINDING_VECTOR`; `uuids` NULL or a
/// `UUID_VECTOR`.
unsafe fn ep_entries(
    ifspec: *mut c_void,
    bindings: *const c_void,
    uuids: *const c_void,
    annotation: Option<String>,
) -> Result<(SyntaxId, Vec<msrpc::epm::Entry>), i32> {
    if ifspec.is_null() || bindings.is_null() {
        return Err(RPC_S_INVALID_ARG);
    }
    let s = ifspec as *const MsrpcServerInterface;
    // SAFETY: a generated MSRPC_SERVER_INTERFACE (caller).
    let (syntax, name, _) = unsafe { engine::load_all((*s).itf) }?;
    // SAFETY: an RPC_BINDING_VECTOR: an unsigned long count, then the handles (caller).
    let n = unsafe { *(bindings as *const std::ffi::c_ulong) } as usize;
    if n > MAX_VECTOR {
        return Err(RPC_S_INVALID_ARG);
    }
    // SAFETY: the handles follow the count, each pointer-sized and aligned (the C layout).
    let hs = unsafe { std::slice::from_raw_parts((bindings as *const usize).add(1), n) };
    let mut objects = vec![uuid::Uuid::nil()];
    if !uuids.is_null() {
        // SAFETY: a UUID_VECTOR: an unsigned long count, then UUID pointers (caller).
        let m = unsafe { *(uuids as *const std::ffi::c_ulong) } as usize;
        if m > MAX_VECTOR {
            return Err(RPC_S_INVALID_ARG);
        }
        // SAFETY: the pointers follow the count.
        let ps = unsafe { std::slice::from_raw_parts((uuids as *const *const [u8; 16]).add(1), m) };
        objects.clear();
        for p in ps {
            if p.is_null() {
                return Err(RPC_S_INVALID_ARG);
            }
            // SAFETY: a GUID: 16 readable bytes, Data1..3 little-endian on this platform.
            let g = unsafe { **p };
            objects.push(uuid::Uuid::from_bytes_le(g));
        }
        if objects.is_empty() {
            objects.push(uuid::Uuid::nil());
        }
    }
    let annotation: String = annotation
        .unwrap_or(name)
        .chars()
        .take(msrpc::epm::MAX_ANNOTATION - 1)
        .collect();
    let mut out = Vec::new();
    for h in hs {
        let Some(b) = crate::binding::lookup(*h as *mut c_void) else {
            return Err(RPC_S_INVALID_BINDING);
        };
        let tower = match b.string_binding().target() {
            Ok(msrpc::binding::BindingTarget::Tcp {
                host,
                port: Some(port),
            }) => {
                let Ok(ip) = host.parse::<std::net::Ipv4Addr>() else {
                    // IPv6 and host names have no tower form (the IP floor is IPv4).
                    continue;
                };
                msrpc_ndr::tower::Tower::ncacn_ip_tcp(syntax, SyntaxId::NDR20, port, ip)
            }
            Ok(msrpc::binding::BindingTarget::Lrpc(ep)) => match ep.name() {
                Some(n) => msrpc_ndr::tower::Tower::ncalrpc(syntax, SyntaxId::NDR20, n),
                None => continue,
            },
            // No tower form for this protocol sequence here: RPC_S_PROTSEQ_NOT_SUPPORTED.
            _ => return Err(1703),
        };
        for o in &objects {
            out.push(msrpc::epm::Entry {
                object: *o,
                tower: tower.clone(),
                annotation: annotation.clone(),
            });
        }
    }
    Ok((syntax, out))
}

/// The local endpoint mapper: `ncacn_ip_tcp:127.0.0.1[PORT]`, PORT from `MSRPC_EPM_PORT` or 135.
fn local_epm() -> Result<msrpc::Binding, i32> {
    let port = crate::binding::epm_port().unwrap_or(135);
    msrpc::Binding::from_string(&format!("ncacn_ip_tcp:127.0.0.1[{port}]")).map_err(|e| of(&e))
}

/// The common part of the `RpcEpRegister` functions.
///
/// # Safety
/// As [`ep_entries`].
unsafe fn ep_register(
    ifspec: *mut c_void,
    bindings: *const c_void,
    uuids: *const c_void,
    annotation: Result<Option<String>, ()>,
    replace: bool,
) -> i32 {
    let Ok(annotation) = annotation else {
        return RPC_S_INVALID_ARG;
    };
    // SAFETY: the caller's contract, passed on.
    let (syntax, entries) = match unsafe { ep_entries(ifspec, bindings, uuids, annotation) } {
        Ok(x) => x,
        Err(e) => return e,
    };
    let epm = match local_epm() {
        Ok(b) => b,
        Err(e) => return e,
    };
    let r = runtime().block_on(async {
        let r = msrpc::epm::insert(&epm, &entries, replace).await;
        epm.close();
        r
    });
    if let Err(e) = r {
        return of(&e);
    }
    let mut st = state();
    match st.ep_entries.iter_mut().find(|(s, _)| *s == syntax) {
        Some((_, v)) => v.extend(entries),
        None => st.ep_entries.push((syntax, entries)),
    }
    RPC_S_OK
}

/// `RpcEpRegisterA`: registers the interface at the endpoints of `BindingVector` (from
/// `RpcServerInqBindings`), for the objects of `UuidVector` (NULL: the nil object), with the
/// local endpoint mapper (`ept_insert` on 127.0.0.1, port `MSRPC_EPM_PORT` or 135), replacing
/// entries for the same interface, object and endpoint. Clients then bind with no endpoint.
/// The mapper's refusal or absence gives its status (1722 when nothing listens).
///
/// # Safety
/// `ifspec` a generated server ifspec; `bindings` an `RPC_BINDING_VECTOR`; `uuids` NULL or a
/// `UUID_VECTOR`; `annotation` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcEpRegisterA(
    ifspec: *mut c_void,
    bindings: *const c_void,
    uuids: *const c_void,
    annotation: *const u8,
) -> i32 {
    // SAFETY: the caller's contract, passed on.
    unsafe { ep_register(ifspec, bindings, uuids, strings::arg_a(annotation), true) }
}

/// `RpcEpRegisterW`.
///
/// # Safety
/// As [`RpcEpRegisterA`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcEpRegisterW(
    ifspec: *mut c_void,
    bindings: *const c_void,
    uuids: *const c_void,
    annotation: *const u16,
) -> i32 {
    // SAFETY: the caller's contract, passed on.
    unsafe { ep_register(ifspec, bindings, uuids, strings::arg_w(annotation), true) }
}

/// `RpcEpRegisterNoReplaceA`: as [`RpcEpRegisterA`], keeping existing entries.
///
/// # Safety
/// As [`RpcEpRegisterA`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcEpRegisterNoReplaceA(
    ifspec: *mut c_void,
    bindings: *const c_void,
    uuids: *const c_void,
    annotation: *const u8,
) -> i32 {
    // SAFETY: the caller's contract, passed on.
    unsafe { ep_register(ifspec, bindings, uuids, strings::arg_a(annotation), false) }
}

/// `RpcEpRegisterNoReplaceW`.
///
/// # Safety
/// As [`RpcEpRegisterA`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcEpRegisterNoReplaceW(
    ifspec: *mut c_void,
    bindings: *const c_void,
    uuids: *const c_void,
    annotation: *const u16,
) -> i32 {
    // SAFETY: the caller's contract, passed on.
    unsafe { ep_register(ifspec, bindings, uuids, strings::arg_w(annotation), false) }
}

/// `RpcEpUnregister`: removes the interface's entries for the endpoints of `BindingVector` and
/// the objects of `UuidVector` from the local endpoint mapper (`ept_delete`).
///
/// # Safety
/// As [`RpcEpRegisterA`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcEpUnregister(
    ifspec: *mut c_void,
    bindings: *const c_void,
    uuids: *const c_void,
) -> i32 {
    // SAFETY: the caller's contract, passed on; the annotation does not take part in deletes
    // (the registered one is used).
    let (syntax, entries) = match unsafe { ep_entries(ifspec, bindings, uuids, None) } {
        Ok(x) => x,
        Err(e) => return e,
    };
    // Delete what was registered (with its annotation) for these towers and objects.
    let registered: Vec<msrpc::epm::Entry> = {
        let st = state();
        st.ep_entries
            .iter()
            .filter(|(s, _)| *s == syntax)
            .flat_map(|(_, v)| v.iter())
            .filter(|e| {
                entries
                    .iter()
                    .any(|x| x.object == e.object && x.tower == e.tower)
            })
            .cloned()
            .collect()
    };
    let to_delete = if registered.is_empty() {
        entries
    } else {
        registered
    };
    let epm = match local_epm() {
        Ok(b) => b,
        Err(e) => return e,
    };
    let r = runtime().block_on(async {
        let r = msrpc::epm::delete(&epm, &to_delete).await;
        epm.close();
        r
    });
    if let Err(e) = r {
        return of(&e);
    }
    let mut st = state();
    for (s, v) in st.ep_entries.iter_mut() {
        if *s == syntax {
            v.retain(|e| !to_delete.contains(e));
        }
    }
    RPC_S_OK
}

/// `RpcNotificationClientDisconnect`, `RpcNotificationCallCancel`.
const RPC_NOTIFICATION_CLIENT_DISCONNECT: u32 = 1;
const RPC_NOTIFICATION_CALL_CANCEL: u32 = 2;
/// `RPC_ASYNC_EVENT` `RpcClientDisconnect`, `RpcClientCancel`.
const RPC_CLIENT_DISCONNECT: u32 = 3;
const RPC_CLIENT_CANCEL: u32 = 4;

/// `RpcServerSubscribeForNotification`: on an `[async]` call's handle
/// (`RpcAsyncGetCallHandle(pAsync)` in its manager), be told when the client disconnects
/// (`RpcNotificationClientDisconnect`, event `RpcClientDisconnect`) or cancels the call
/// (`RpcNotificationCallCancel`, `RpcClientCancel`), in the style `NotificationType` and
/// `NotificationInfo` give (those of `RPC_ASYNC_STATE`). An event that already happened is
/// delivered at once; each is delivered once. Until the call is answered. 1725 for a handle
/// that is not a pending server call, 87 for another notification or a bad style.
///
/// # Safety
/// `info` is NULL or points to an `RPC_ASYNC_NOTIFICATION_INFO`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcServerSubscribeForNotification(
    call: *mut c_void,
    notification: u32,
    kind: u32,
    info: *const c_void,
) -> i32 {
    let want = match notification {
        RPC_NOTIFICATION_CLIENT_DISCONNECT => msrpc::server::CallEvent::ClientDisconnect,
        RPC_NOTIFICATION_CALL_CANCEL => msrpc::server::CallEvent::Cancel,
        _ => return RPC_S_INVALID_ARG,
    };
    if !pending().contains_key(&(call as usize)) {
        return RPC_S_NO_CALL_ACTIVE;
    }
    // SAFETY: info is NULL or an RPC_ASYNC_NOTIFICATION_INFO (caller).
    let deliver = match unsafe { crate::asyncs::subscriber(call as usize, kind, info.cast()) } {
        Ok(d) => d,
        Err(e) => return e,
    };
    let active = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let count = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let mut table = pending();
    let Some(p) = table.get_mut(&(call as usize)) else {
        return RPC_S_NO_CALL_ACTIVE;
    };
    // A new subscription to the same notification replaces the old one.
    for (n, a, _) in &p.subs {
        if *n == notification {
            a.store(false, std::sync::atomic::Ordering::Release);
        }
    }
    p.subs.retain(|(n, _, _)| *n != notification);
    p.subs.push((notification, active.clone(), count.clone()));
    let ev = if notification == RPC_NOTIFICATION_CALL_CANCEL {
        RPC_CLIENT_CANCEL
    } else {
        RPC_CLIENT_DISCONNECT
    };
    // Subscribed under the table's lock: msrpc delivers at once for an event already past, and
    // no delivery runs the program's code on this thread (a Callback runs on a thread of its
    // own), so nothing re-enters the table here.
    p.call.subscribe(move |e| {
        if e == want && active.load(std::sync::atomic::Ordering::Acquire) {
            count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            deliver(ev);
        }
    });
    RPC_S_OK
}

/// `RpcServerUnsubscribeForNotification`: ends the subscription; `NotificationsQueued` (if not
/// NULL) gets how many notifications it delivered. 1725 for a handle that is not a pending
/// server call; 87 when there was no such subscription.
///
/// # Safety
/// `queued` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcServerUnsubscribeForNotification(
    call: *mut c_void,
    notification: u32,
    queued: *mut std::ffi::c_ulong,
) -> i32 {
    let mut table = pending();
    let Some(p) = table.get_mut(&(call as usize)) else {
        return RPC_S_NO_CALL_ACTIVE;
    };
    let Some(i) = p.subs.iter().position(|(n, _, _)| *n == notification) else {
        return RPC_S_INVALID_ARG;
    };
    let (_, active, count) = p.subs.remove(i);
    active.store(false, std::sync::atomic::Ordering::Release);
    if !queued.is_null() {
        // SAFETY: writable (caller).
        unsafe { *queued = count.load(std::sync::atomic::Ordering::Acquire).into() };
    }
    RPC_S_OK
}
