//! `RPC_ASYNC_STATE` and the `RpcAsync*` functions.
//!
//! The program owns the structure; the library keeps each call's state (an
//! [`msrpc::AsyncState`] with the reply's destinations) in a table keyed by the structure's
//! address, from the call's start until `RpcAsyncCompleteCall` takes its final result. So a
//! handle that was never initialised (no `RPC_ASYNC_SIGNATURE`), one with a call pending, and one
//! already completed are told apart without trusting anything the program could have scribbled
//! into the structure.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use msrpc::AsyncState;
use msrpc::notify::{CancelMode, Message, Notification};

use crate::engine::{self, MsrpcInterface, Op, Outs, Sinks};
use crate::exc::with_barrier;
use crate::handles;
use crate::status::*;
use crate::win32::CURRENT_THREAD;

/// `RPC_ASYNC_SIGNATURE`.
pub(crate) const RPC_ASYNC_SIGNATURE: u32 = 0x4359_5341;

const NOTIFY_NONE: u32 = 0;
const NOTIFY_EVENT: u32 = 1;
const NOTIFY_APC: u32 = 2;
const NOTIFY_IOC: u32 = 3;
const NOTIFY_HWND: u32 = 4;
const NOTIFY_CALLBACK: u32 = 5;

/// `RPCNOTIFICATION_ROUTINE`.
pub(crate) type NotifyFn = unsafe extern "C" fn(*mut RpcAsyncState, *mut c_void, u32);

/// `RPC_ASYNC_NOTIFICATION_INFO.APC`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct ApcInfo {
    routine: Option<NotifyFn>,
    thread: *mut c_void,
}

/// `RPC_ASYNC_NOTIFICATION_INFO.IOC`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct IocInfo {
    port: *mut c_void,
    bytes: u32,
    key: usize,
    overlapped: *mut c_void,
}

/// `RPC_ASYNC_NOTIFICATION_INFO.HWND`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct HwndInfo {
    hwnd: *mut c_void,
    msg: u32,
}

/// `RPC_ASYNC_NOTIFICATION_INFO`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) union NotificationInfo {
    apc: ApcInfo,
    ioc: IocInfo,
    hwnd: HwndInfo,
    event: *mut c_void,
    routine: Option<NotifyFn>,
}

impl std::fmt::Debug for NotificationInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RPC_ASYNC_NOTIFICATION_INFO")
    }
}

/// `RPC_ASYNC_STATE`, field for field as `rpcasync.h` (and Windows) declares it.
#[repr(C)]
#[derive(Debug)]
pub struct RpcAsyncState {
    size: u32,
    signature: u32,
    lock: i32,
    flags: u32,
    stub_info: *mut c_void,
    user_info: *mut c_void,
    runtime_info: *mut c_void,
    event: u32,
    notification_type: u32,
    u: NotificationInfo,
    reserved: [isize; 4],
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<RpcAsyncState>() == 112);

impl RpcAsyncState {
    /// A server-side handle, owned by the runtime for one `[async]` call: initialised, with
    /// `RuntimeInfo` its own address (what `RpcAsyncGetCallHandle` gives `RpcServerTestCancel`).
    pub(crate) fn new_server() -> Box<RpcAsyncState> {
        let mut b = Box::new(RpcAsyncState {
            size: std::mem::size_of::<RpcAsyncState>() as u32,
            signature: RPC_ASYNC_SIGNATURE,
            lock: 0,
            flags: 0,
            stub_info: std::ptr::null_mut(),
            user_info: std::ptr::null_mut(),
            runtime_info: std::ptr::null_mut(),
            event: 0,
            notification_type: NOTIFY_NONE,
            u: NotificationInfo {
                event: std::ptr::null_mut(),
            },
            reserved: [0; 4],
        });
        b.runtime_info = (&mut *b as *mut RpcAsyncState).cast();
        b
    }
}

/// One call started on a handle and not yet completed.
#[derive(Clone)]
struct Call {
    id: u64,
    state: AsyncState<Outs>,
    sinks: Arc<Sinks>,
}

fn calls() -> MutexGuard<'static, HashMap<usize, Call>> {
    static T: OnceLock<Mutex<HashMap<usize, Call>>> = OnceLock::new();
    T.get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn call_of(p: *mut RpcAsyncState) -> Option<Call> {
    calls().get(&(p as usize)).cloned()
}

/// Removes the entry if it is still call `id` (another thread may have replaced it).
fn forget(p: *mut RpcAsyncState, id: u64) {
    let mut t = calls();
    if t.get(&(p as usize)).is_some_and(|c| c.id == id) {
        t.remove(&(p as usize));
    }
}

/// Checks Size and Signature.
///
/// # Safety
/// `p` is NULL or points to a readable `RPC_ASYNC_STATE`.
unsafe fn valid(p: *mut RpcAsyncState) -> bool {
    if p.is_null() {
        return false;
    }
    // SAFETY: p points to a readable RPC_ASYNC_STATE (caller); the two fields are plain u32s.
    let (size, sig) = unsafe { ((*p).size, (*p).signature) };
    size as usize == std::mem::size_of::<RpcAsyncState>() && sig == RPC_ASYNC_SIGNATURE
}

/// `RpcAsyncInitializeHandle`: `RPC_S_INVALID_ARG` (87) when Size is not
/// `sizeof(RPC_ASYNC_STATE)`, `RPC_S_INVALID_ASYNC_HANDLE` (1914) for NULL or a handle whose
/// call is still pending (its memory cannot be reused yet). A completed handle whose result was
/// not taken is re-initialised, dropping that result.
///
/// # Safety
/// `p` is NULL or points to a writable `RPC_ASYNC_STATE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcAsyncInitializeHandle(p: *mut RpcAsyncState, size: u32) -> i32 {
    if p.is_null() {
        return RPC_S_INVALID_ASYNC_HANDLE;
    }
    if size as usize != std::mem::size_of::<RpcAsyncState>() {
        return RPC_S_INVALID_ARG;
    }
    {
        let mut t = calls();
        if let Some(c) = t.get(&(p as usize)) {
            if c.state.is_pending() {
                return RPC_S_INVALID_ASYNC_HANDLE;
            }
            t.remove(&(p as usize));
        }
    }
    // SAFETY: p points to a writable RPC_ASYNC_STATE (caller). The fields the program sets after
    // this (UserInfo, NotificationType, u) are left alone.
    unsafe {
        (*p).size = size;
        (*p).signature = RPC_ASYNC_SIGNATURE;
        (*p).lock = 0;
        (*p).flags = 0;
        (*p).stub_info = std::ptr::null_mut();
        (*p).runtime_info = std::ptr::null_mut();
        (*p).event = 0;
        (*p).reserved = [0; 4];
    }
    RPC_S_OK
}

/// `RpcAsyncGetCallStatus`: 997 `RPC_S_ASYNC_CALL_PENDING` while the call runs, then its final
/// status (0, 1818 cancelled, or the fault's status) until `RpcAsyncCompleteCall` takes it;
/// 1914 for a handle not initialised or with no call.
///
/// # Safety
/// `p` is NULL or points to a readable `RPC_ASYNC_STATE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcAsyncGetCallStatus(p: *mut RpcAsyncState) -> i32 {
    // SAFETY: NULL or readable (caller).
    if !unsafe { valid(p) } {
        return RPC_S_INVALID_ASYNC_HANDLE;
    }
    match call_of(p) {
        Some(c) => c.state.status().0 as i32,
        None => RPC_S_INVALID_ASYNC_HANDLE,
    }
}

/// `RpcAsyncCompleteCall`: 997 while pending (nothing taken; try again); otherwise the call's
/// final status, with the `[out]` parameters written and the return value stored at `reply`
/// (when the operation has one and `reply` is not NULL). Afterwards the handle must be
/// re-initialised before it carries a new call; until then every function, and completing again,
/// gives 1914.
///
/// # Safety
/// `p` is NULL or points to a readable `RPC_ASYNC_STATE`; `reply` is NULL or the operation's
/// return value storage; the call's `[out]` buffers are still alive.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcAsyncCompleteCall(p: *mut RpcAsyncState, reply: *mut c_void) -> i32 {
    // SAFETY: NULL or readable (caller).
    if !unsafe { valid(p) } {
        return RPC_S_INVALID_ASYNC_HANDLE;
    }
    // A server manager completing its [async] call.
    // SAFETY: reply is the return value's storage (caller).
    if let Some(s) = unsafe { crate::server::complete(p, reply) } {
        return s;
    }
    let Some(c) = call_of(p) else {
        return RPC_S_INVALID_ASYNC_HANDLE;
    };
    match c.state.complete() {
        Ok(outs) => {
            forget(p, c.id);
            // SAFETY: p is the handle the call was started on, writable (caller).
            unsafe { spend(p) };
            // SAFETY: the program keeps the [out] buffers alive until the reply (the page's
            // rule) and passes the return value's storage as `reply` (caller).
            unsafe { engine::store(&c.sinks, &outs, reply) };
            RPC_S_OK
        }
        Err(e) => {
            let s = of(&e);
            if s != 997 {
                forget(p, c.id);
                // SAFETY: as above.
                unsafe { spend(p) };
                // ACF [comm_status]/[fault_status]: the status goes to its parameter or to
                // `reply`, and the completion succeeds (docs/c-abi.md).
                // SAFETY: the [out] buffers are alive and `reply` is the return value's
                // storage (caller).
                if unsafe { c.sinks.store_status(&e, reply) } {
                    return RPC_S_OK;
                }
            }
            s
        }
    }
}

/// A completed call's handle must be re-initialised before it carries another call (the page:
/// "before making another call on an existing asynchronous handle, the client must re-initialise
/// it", or the stub may raise): its signature is cleared, so every function and the next call's
/// stub see an uninitialised handle (1914) until `RpcAsyncInitializeHandle`, which keeps the
/// program's own fields (UserInfo, NotificationType, `u`).
///
/// # Safety
/// `p` points to a writable `RPC_ASYNC_STATE`.
unsafe fn spend(p: *mut RpcAsyncState) {
    // SAFETY: writable (caller); a plain u32 field.
    unsafe { (*p).signature = 0 };
}

/// `RpcAsyncCancelCall`: `fAbortCall = FALSE` asks the server and keeps waiting for its answer;
/// TRUE also completes the call at once as 1818. The notification fires either way. 1914 when
/// no call is pending.
///
/// # Safety
/// `p` is NULL or points to a readable `RPC_ASYNC_STATE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcAsyncCancelCall(p: *mut RpcAsyncState, abort: i32) -> i32 {
    // SAFETY: NULL or readable (caller).
    if !unsafe { valid(p) } {
        return RPC_S_INVALID_ASYNC_HANDLE;
    }
    let Some(c) = call_of(p) else {
        return RPC_S_INVALID_ASYNC_HANDLE;
    };
    let mode = if abort != 0 {
        CancelMode::Abortive
    } else {
        CancelMode::NonAbortive
    };
    match c.state.cancel(mode) {
        Ok(()) => RPC_S_OK,
        Err(e) => of(&e),
    }
}

/// The notification the handle's `NotificationType` and `u` ask for.
///
/// # Safety
/// `p` points to a valid, readable `RPC_ASYNC_STATE` that stays alive until the call completes
/// (the page's rule), so the routines may be handed its address.
unsafe fn notification(p: *mut RpcAsyncState) -> Result<Notification, i32> {
    // SAFETY: p is readable (caller); the union member read is the one NotificationType names,
    // all of them plain pointers and integers.
    let (kind, u) = unsafe { ((*p).notification_type, (*p).u) };
    let addr = p as usize;
    Ok(match kind {
        NOTIFY_NONE => Notification::None,
        NOTIFY_EVENT => {
            // SAFETY: reading a Copy union field of plain data (the one the type names).
            let h = unsafe { u.event } as usize;
            Notification::Event(handles::event(h).ok_or(RPC_S_INVALID_ARG)?)
        }
        NOTIFY_APC => {
            // SAFETY: as above.
            let apc = unsafe { u.apc };
            let routine = apc.routine.ok_or(RPC_S_INVALID_ARG)?;
            let call = move |_: msrpc::notify::CallToken, ev: msrpc::notify::RpcAsyncEvent| {
                // SAFETY: the program's RPCNOTIFICATION_ROUTINE, called with the handle's address
                // (alive until completion), no context and the event, as Windows calls it.
                with_barrier(|| unsafe {
                    routine(
                        addr as *mut RpcAsyncState,
                        std::ptr::null_mut(),
                        ev.as_u32(),
                    )
                })
            };
            let t = apc.thread as usize;
            if t == 0 || t == CURRENT_THREAD {
                // hThread = 0: the thread that makes the call (resolved as it starts).
                Notification::apc(call)
            } else {
                return Err(RPC_S_INVALID_ARG);
            }
        }
        NOTIFY_IOC => {
            // SAFETY: as above.
            let ioc = unsafe { u.ioc };
            Notification::IoCompletionPort {
                port: handles::port(ioc.port as usize).ok_or(RPC_S_INVALID_ARG)?,
                bytes: ioc.bytes,
                key: ioc.key,
                overlapped: ioc.overlapped as usize,
            }
        }
        NOTIFY_HWND => {
            // SAFETY: as above.
            let h = unsafe { u.hwnd };
            let queue = handles::window(h.hwnd as usize).ok_or(RPC_S_INVALID_ARG)?;
            let msg = h.msg;
            // The message carries the handle's address in lParam, for the window procedure.
            Notification::callback(move |_, _| {
                queue.post(Message {
                    msg,
                    wparam: 0,
                    lparam: addr,
                })
            })
        }
        NOTIFY_CALLBACK => {
            // SAFETY: as above.
            let routine = unsafe { u.routine }.ok_or(RPC_S_INVALID_ARG)?;
            Notification::callback(move |_, ev| {
                // SAFETY: as for the APC: the program's routine with the handle's address.
                with_barrier(|| unsafe {
                    routine(
                        addr as *mut RpcAsyncState,
                        std::ptr::null_mut(),
                        ev.as_u32(),
                    )
                })
            })
        }
        _ => return Err(RPC_S_INVALID_ARG),
    })
}

/// A delivery of a server-side notification (`RpcServerSubscribeForNotification`): the event
/// value (`RpcClientDisconnect` 3, `RpcClientCancel` 4) in.
pub(crate) type Deliver = Box<dyn Fn(u32) + Send + Sync>;

/// How a subscription delivers, from its `NotificationType` and `NotificationInfo` (the async
/// handle's styles): Event sets the event; APC queues the routine to `hThread` (0 or
/// `GetCurrentThread()`: the subscribing thread; or a `CreateThread` handle), run in its next
/// alertable wait; IOC posts the packet; HWND posts `Msg` with `lParam` the handle's address;
/// Callback calls the routine on a thread of its own. Routines get the async handle's address
/// (`addr`), a NULL context and the event.
///
/// # Safety
/// `info` points to a readable `RPC_ASYNC_NOTIFICATION_INFO`.
pub(crate) unsafe fn subscriber(
    addr: usize,
    kind: u32,
    info: *const NotificationInfo,
) -> Result<Deliver, i32> {
    if info.is_null() && kind != NOTIFY_NONE {
        return Err(RPC_S_INVALID_ARG);
    }
    let routine_call = move |routine: NotifyFn, ev: u32| {
        // SAFETY: the program's RPCNOTIFICATION_ROUTINE with the server async handle (alive until
        // the call is answered; the subscription ends then), no context and the event.
        with_barrier(|| unsafe { routine(addr as *mut RpcAsyncState, std::ptr::null_mut(), ev) })
    };
    Ok(match kind {
        NOTIFY_NONE => Box::new(|_| {}),
        NOTIFY_EVENT => {
            // SAFETY: readable (caller); the member NotificationType names, plain data.
            let h = unsafe { (*info).event } as usize;
            let e = handles::event(h).ok_or(RPC_S_INVALID_ARG)?;
            Box::new(move |_| e.set())
        }
        NOTIFY_APC => {
            // SAFETY: as above.
            let apc = unsafe { (*info).apc };
            let routine = apc.routine.ok_or(RPC_S_INVALID_ARG)?;
            let t = match apc.thread as usize {
                0 => CURRENT_THREAD,
                t => t,
            };
            let thread = crate::win32::thread_ref(t).ok_or(RPC_S_INVALID_ARG)?;
            Box::new(move |ev| {
                let _ = thread.queue_apc(Box::new(move || routine_call(routine, ev)));
            })
        }
        NOTIFY_IOC => {
            // SAFETY: as above.
            let ioc = unsafe { (*info).ioc };
            let port = handles::port(ioc.port as usize).ok_or(RPC_S_INVALID_ARG)?;
            let (bytes, key, ov) = (ioc.bytes, ioc.key, ioc.overlapped as usize);
            Box::new(move |_| port.post(bytes, key, ov))
        }
        NOTIFY_HWND => {
            // SAFETY: as above.
            let h = unsafe { (*info).hwnd };
            let queue = handles::window(h.hwnd as usize).ok_or(RPC_S_INVALID_ARG)?;
            let msg = h.msg;
            Box::new(move |_| {
                queue.post(Message {
                    msg,
                    wparam: 0,
                    lparam: addr,
                })
            })
        }
        NOTIFY_CALLBACK => {
            // SAFETY: as above.
            let routine = unsafe { (*info).routine }.ok_or(RPC_S_INVALID_ARG)?;
            // On a thread of its own: the routine may call back into the library (complete or
            // abort the call) while the runtime holds the call's state.
            Box::new(move |ev| {
                let _ = std::thread::Builder::new()
                    .name("msrpc-c-notify".into())
                    .spawn(move || routine_call(routine, ev));
            })
        }
        _ => return Err(RPC_S_INVALID_ARG),
    })
}

static NEXT_CALL: AtomicU64 = AtomicU64::new(1);

/// The asynchronous call of a generated client stub (an `[async]` operation): marshals the
/// `[in]` values now, starts the call on `pAsync` and returns once the request is on its way.
/// Completion comes through the handle's notification; `RpcAsyncCompleteCall` then writes the
/// `[out]` values. A non-zero status means the call was never made (the stub raises it, and no
/// notification follows): 1914 for a handle not initialised or already carrying a call.
///
/// # Safety
/// As `MsrpcClientCall`; `p` is NULL or points to an `RPC_ASYNC_STATE` that stays alive and
/// in place until the call completes, and so do the `[out]` buffers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MsrpcAsyncClientCall(
    itf: *const MsrpcInterface,
    proc: u32,
    p: *mut RpcAsyncState,
    args: *const *mut c_void,
) -> i32 {
    // SAFETY: NULL or readable (caller).
    if !unsafe { valid(p) } {
        return RPC_S_INVALID_ASYNC_HANDLE;
    }
    // SAFETY: the generated stub passes its table and arguments (caller); async operations
    // return their value through RpcAsyncCompleteCall, so the return storage comes later.
    let prepared = unsafe {
        Op::load(itf, proc).and_then(|op| {
            let b = op.binding(args)?;
            let (vals, sinks) = op.gather(args, std::ptr::null_mut())?;
            Ok((op, b, vals, sinks))
        })
    };
    let (op, binding, vals, mut sinks) = match prepared {
        Ok(x) => x,
        Err(s) => return s,
    };
    if !op.is_async {
        return RPC_S_INVALID_ASYNC_CALL;
    }
    // The return value's type is known now; its storage is RpcAsyncCompleteCall's Reply.
    sinks.set_async_return(&op);
    // SAFETY: p is valid and stays alive until completion (caller).
    let notify = match unsafe { notification(p) } {
        Ok(n) => n,
        Err(s) => return s,
    };
    let state: AsyncState<Outs> = AsyncState::new(notify);
    let id = NEXT_CALL.fetch_add(1, Ordering::Relaxed);
    {
        let mut t = calls();
        if t.contains_key(&(p as usize)) {
            // A call pending on this handle, or completed and not taken yet.
            return RPC_S_INVALID_ASYNC_HANDLE;
        }
        t.insert(
            p as usize,
            Call {
                id,
                state: state.clone(),
                sinks: Arc::new(sinks),
            },
        );
    }
    let plan = op.reply_plan();
    let started = binding.start_blocking(
        &state,
        op.iface,
        op.opnum,
        move |syntax, rep| engine::encode(&vals, syntax, rep),
        move |reply| engine::decode(&plan, &reply),
    );
    match started {
        Ok(()) => RPC_S_OK,
        Err(e) => {
            forget(p, id);
            of(&e)
        }
    }
}
