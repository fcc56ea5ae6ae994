//! The frame stack behind `RpcTryExcept`: the macros in `rpc.h` push and pop frames here, and
//! `RpcRaiseException` (inline C in `rpc.h`) pops the innermost one and longjmps to it. This
//! module never jumps: it only keeps the addresses, per thread.
//!
//! When the library calls back into C (an APC, a notification callback) it pushes a barrier, so
//! a raise inside the callback that the callback does not catch itself finds the barrier and
//! aborts with a message, instead of jumping across the Rust frames between.

use std::cell::RefCell;
use std::ffi::c_void;

/// A barrier entry: no C frame has address 0.
const BARRIER: usize = 0;

thread_local! {
    static FRAMES: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// `RpcTryExcept` / `RpcTryFinally` entered: `frame` is the innermost handler now.
#[unsafe(no_mangle)]
pub extern "C" fn MsrpcExcPush(frame: *mut c_void) {
    let _ = FRAMES.try_with(|f| f.borrow_mut().push(frame as usize));
}

/// The guarded block ended normally: `frame` (and anything a block left pushed above it by
/// leaving early) is no longer a handler.
#[unsafe(no_mangle)]
pub extern "C" fn MsrpcExcPop(frame: *mut c_void) {
    let _ = FRAMES.try_with(|f| {
        let mut v = f.borrow_mut();
        if let Some(pos) = v.iter().rposition(|&x| x == frame as usize) {
            v.truncate(pos);
        }
    });
}

/// `RpcRaiseException`'s first half: pops and returns the innermost frame, or NULL when there
/// is none on this thread or a barrier comes first (the raise is then unhandled).
#[unsafe(no_mangle)]
pub extern "C" fn MsrpcExcUnwind() -> *mut c_void {
    FRAMES
        .try_with(|f| {
            let mut v = f.borrow_mut();
            match v.last() {
                Some(&top) if top != BARRIER => {
                    v.pop();
                    top as *mut c_void
                }
                _ => std::ptr::null_mut(),
            }
        })
        .unwrap_or(std::ptr::null_mut())
}

/// An exception no handler caught: as on Windows, the process ends.
#[unsafe(no_mangle)]
pub extern "C" fn MsrpcExcUnhandled(code: i32) -> ! {
    eprintln!(
        "libmsrpc_c: unhandled RPC exception 0x{:x} ({code}); no RpcTryExcept on this thread \
         (or in this callback) caught it",
        code as u32
    );
    std::process::abort()
}

/// Runs `f` (which calls into C) behind a barrier, removed afterwards.
pub(crate) fn with_barrier<T>(f: impl FnOnce() -> T) -> T {
    let _ = FRAMES.try_with(|v| v.borrow_mut().push(BARRIER));
    let out = f();
    let _ = FRAMES.try_with(|v| {
        let mut v = v.borrow_mut();
        if let Some(pos) = v.iter().rposition(|&x| x == BARRIER) {
            v.truncate(pos);
        }
    });
    out
}

/// How many frames (and barriers) this thread has pushed.
pub(crate) fn depth() -> usize {
    FRAMES.try_with(|v| v.borrow().len()).unwrap_or(0)
}

/// Drops every frame above `depth`, if none of them is a barrier (a jump to a C frame at that
/// depth would then cross only C frames); false, leaving the stack alone, otherwise.
pub(crate) fn unwind_to(depth: usize) -> bool {
    FRAMES
        .try_with(|v| {
            let mut v = v.borrow_mut();
            if v.len() < depth || v[depth..].contains(&BARRIER) {
                return false;
            }
            v.truncate(depth);
            true
        })
        .unwrap_or(false)
}
