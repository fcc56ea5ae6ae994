//! The Win32 objects the notification styles need, on msrpc's primitives: events, waits (plain
//! and alertable), APCs, I/O completion ports, message-only windows, `CloseHandle` and the last
//! error. Handles are table indices ([`crate::handles`]).

use std::cell::Cell;
use std::ffi::c_void;
use std::time::Duration;

use msrpc::notify::{
    CompletionPort, Event, INFINITE, Message, MessageQueue, ThreadRef, WaitOutcome, sleep_alertable,
};

use crate::exc::with_barrier;
use crate::handles::{self, Object};
use crate::status::*;

const WAIT_OBJECT_0: u32 = 0;
const WAIT_IO_COMPLETION: u32 = 0xC0;
const WAIT_FAILED: u32 = 0xFFFF_FFFF;
const INFINITE_MS: u32 = 0xFFFF_FFFF;
const MAXIMUM_WAIT_OBJECTS: u32 = 64;
/// `GetCurrentThread()`'s pseudo-handle, as on Windows.
pub(crate) const CURRENT_THREAD: usize = usize::MAX - 1;
/// `INVALID_HANDLE_VALUE`.
const INVALID_HANDLE_VALUE: usize = usize::MAX;
/// `HWND_MESSAGE`.
const HWND_MESSAGE: usize = usize::MAX - 2;
const WM_QUIT: u32 = 0x12;
const PM_REMOVE: u32 = 1;

thread_local! {
    static LAST_ERROR: Cell<u32> = const { Cell::new(0) };
}

/// `GetLastError`.
#[unsafe(no_mangle)]
pub extern "C" fn GetLastError() -> u32 {
    LAST_ERROR.try_with(Cell::get).unwrap_or(0)
}

/// `SetLastError`.
#[unsafe(no_mangle)]
pub extern "C" fn SetLastError(code: u32) {
    let _ = LAST_ERROR.try_with(|c| c.set(code));
}

fn fail<T>(code: u32, value: T) -> T {
    SetLastError(code);
    value
}

fn timeout(ms: u32) -> Duration {
    if ms == INFINITE_MS {
        INFINITE
    } else {
        Duration::from_millis(u64::from(ms))
    }
}

fn create_event(manual: i32, initial: i32, named: bool) -> *mut c_void {
    if named {
        // Named (shared) kernel objects do not exist here.
        return fail(ERROR_INVALID_PARAMETER, std::ptr::null_mut());
    }
    match handles::insert(Object::Event(Event::new(manual != 0, initial != 0))) {
        Some(h) => h as *mut c_void,
        None => fail(8, std::ptr::null_mut()),
    }
}

/// `CreateEventA`: a new event handle, or NULL (`GetLastError`: 87 for a name, as named objects
/// are not supported). The security attributes are ignored.
#[unsafe(no_mangle)]
pub extern "C" fn CreateEventA(
    _attributes: *mut c_void,
    manual_reset: i32,
    initial_state: i32,
    name: *const u8,
) -> *mut c_void {
    create_event(manual_reset, initial_state, !name.is_null())
}

/// `CreateEventW`.
#[unsafe(no_mangle)]
pub extern "C" fn CreateEventW(
    _attributes: *mut c_void,
    manual_reset: i32,
    initial_state: i32,
    name: *const u16,
) -> *mut c_void {
    create_event(manual_reset, initial_state, !name.is_null())
}

/// `SetEvent`.
#[unsafe(no_mangle)]
pub extern "C" fn SetEvent(h: *mut c_void) -> i32 {
    match handles::event(h as usize) {
        Some(e) => {
            e.set();
            1
        }
        None => fail(ERROR_INVALID_HANDLE, 0),
    }
}

/// `ResetEvent`.
#[unsafe(no_mangle)]
pub extern "C" fn ResetEvent(h: *mut c_void) -> i32 {
    match handles::event(h as usize) {
        Some(e) => {
            e.reset();
            1
        }
        None => fail(ERROR_INVALID_HANDLE, 0),
    }
}

/// `WaitForSingleObject` on an event: `WAIT_OBJECT_0`, `WAIT_TIMEOUT`, or `WAIT_FAILED`
/// (`ERROR_INVALID_HANDLE`) for anything but an event.
#[unsafe(no_mangle)]
pub extern "C" fn WaitForSingleObject(h: *mut c_void, ms: u32) -> u32 {
    WaitForSingleObjectEx(h, ms, 0)
}

/// `WaitForSingleObjectEx`: alertable waits also run the thread's queued APCs and then return
/// `WAIT_IO_COMPLETION`.
#[unsafe(no_mangle)]
pub extern "C" fn WaitForSingleObjectEx(h: *mut c_void, ms: u32, alertable: i32) -> u32 {
    let Some(e) = handles::event(h as usize) else {
        return fail(ERROR_INVALID_HANDLE, WAIT_FAILED);
    };
    if alertable != 0 {
        return match e.wait_alertable(timeout(ms)) {
            WaitOutcome::Signaled => WAIT_OBJECT_0,
            WaitOutcome::IoCompletion => WAIT_IO_COMPLETION,
            WaitOutcome::Timeout => WAIT_TIMEOUT,
        };
    }
    if ms == INFINITE_MS {
        e.wait();
        WAIT_OBJECT_0
    } else if e.wait_timeout(timeout(ms)) {
        WAIT_OBJECT_0
    } else {
        WAIT_TIMEOUT
    }
}

/// `WaitForMultipleObjects` on events with `bWaitAll = FALSE`: `WAIT_OBJECT_0 + i` for the
/// first signaled one. `bWaitAll = TRUE` is not supported (`WAIT_FAILED`, 87).
///
/// # Safety
/// `handles` points to `count` readable handles.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn WaitForMultipleObjects(
    count: u32,
    handles: *const *mut c_void,
    wait_all: i32,
    ms: u32,
) -> u32 {
    if count == 0 || count > MAXIMUM_WAIT_OBJECTS || handles.is_null() || wait_all != 0 {
        return fail(ERROR_INVALID_PARAMETER, WAIT_FAILED);
    }
    // SAFETY: handles points to count readable handles (caller); count <= 64.
    let hs = unsafe { std::slice::from_raw_parts(handles, count as usize) };
    let mut events = Vec::with_capacity(hs.len());
    for &h in hs {
        match handles::event(h as usize) {
            Some(e) => events.push(e),
            None => return fail(ERROR_INVALID_HANDLE, WAIT_FAILED),
        }
    }
    let refs: Vec<&Event> = events.iter().collect();
    match Event::wait_any(&refs, timeout(ms)) {
        Some(i) => WAIT_OBJECT_0 + i as u32,
        None => WAIT_TIMEOUT,
    }
}

/// `SleepEx`: 0 after the time, or `WAIT_IO_COMPLETION` when alertable and APCs ran.
#[unsafe(no_mangle)]
pub extern "C" fn SleepEx(ms: u32, alertable: i32) -> u32 {
    if alertable != 0 {
        return match sleep_alertable(timeout(ms)) {
            WaitOutcome::IoCompletion => WAIT_IO_COMPLETION,
            _ => 0,
        };
    }
    Sleep(ms);
    0
}

/// `Sleep`.
#[unsafe(no_mangle)]
pub extern "C" fn Sleep(ms: u32) {
    if ms == INFINITE_MS {
        loop {
            std::thread::park();
        }
    }
    std::thread::sleep(Duration::from_millis(u64::from(ms)));
}

/// `GetCurrentThread`: the pseudo-handle `(HANDLE)-2`.
#[unsafe(no_mangle)]
pub extern "C" fn GetCurrentThread() -> *mut c_void {
    CURRENT_THREAD as *mut c_void
}

/// A C APC or notification routine pointer, called on the thread that runs it.
pub(crate) type ApcFn = unsafe extern "C" fn(usize);

/// `QueueUserAPC` to the calling thread (`GetCurrentThread()`): the routine runs with `data` in
/// the thread's next alertable wait. Other thread handles do not exist here (0,
/// `ERROR_INVALID_HANDLE`).
#[unsafe(no_mangle)]
pub extern "C" fn QueueUserAPC(routine: Option<ApcFn>, thread: *mut c_void, data: usize) -> u32 {
    let Some(routine) = routine else {
        return fail(ERROR_INVALID_PARAMETER, 0);
    };
    let Some(target) = thread_ref(thread as usize) else {
        return fail(ERROR_INVALID_HANDLE, 0);
    };
    let apc = Box::new(move || {
        // SAFETY: the program gave a PAPCFUNC; Windows calls it with its ULONG_PTR, as here, on
        // the thread it was queued to.
        with_barrier(|| unsafe { routine(data) })
    });
    match target.queue_apc(apc) {
        Ok(()) => 1,
        Err(_) => fail(ERROR_INVALID_HANDLE, 0),
    }
}

/// The thread a thread handle names: `GetCurrentThread()`'s pseudo-handle is the calling thread.
pub(crate) fn thread_ref(h: usize) -> Option<ThreadRef> {
    if h == CURRENT_THREAD {
        return Some(ThreadRef::current());
    }
    None
}

/// `CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, n)`: a new port. Associating files
/// with a port is not supported (NULL, 87); naming an existing port returns it.
#[unsafe(no_mangle)]
pub extern "C" fn CreateIoCompletionPort(
    file: *mut c_void,
    existing: *mut c_void,
    _key: usize,
    _threads: u32,
) -> *mut c_void {
    if file as usize != INVALID_HANDLE_VALUE {
        return fail(ERROR_INVALID_PARAMETER, std::ptr::null_mut());
    }
    if !existing.is_null() {
        return match handles::port(existing as usize) {
            Some(_) => existing,
            None => fail(ERROR_INVALID_HANDLE, std::ptr::null_mut()),
        };
    }
    match handles::insert(Object::Port(CompletionPort::new())) {
        Some(h) => h as *mut c_void,
        None => fail(8, std::ptr::null_mut()),
    }
}

/// `GetQueuedCompletionStatus`: TRUE with the packet's three values, or FALSE with
/// `*lpOverlapped = NULL` and `WAIT_TIMEOUT` (258) as the last error.
///
/// # Safety
/// The three out pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn GetQueuedCompletionStatus(
    port: *mut c_void,
    bytes: *mut u32,
    key: *mut usize,
    overlapped: *mut *mut c_void,
    ms: u32,
) -> i32 {
    let Some(p) = handles::port(port as usize) else {
        return fail(ERROR_INVALID_HANDLE, 0);
    };
    let got = p.get_queued_completion_status(timeout(ms));
    // SAFETY: each out pointer is NULL (skipped) or writable (caller).
    unsafe {
        if let Some(c) = &got {
            if !bytes.is_null() {
                *bytes = c.bytes;
            }
            if !key.is_null() {
                *key = c.key;
            }
        }
        if !overlapped.is_null() {
            *overlapped = got.as_ref().map_or(0, |c| c.overlapped) as *mut c_void;
        }
    }
    match got {
        Some(_) => 1,
        None => fail(WAIT_TIMEOUT, 0),
    }
}

/// `PostQueuedCompletionStatus`.
#[unsafe(no_mangle)]
pub extern "C" fn PostQueuedCompletionStatus(
    port: *mut c_void,
    bytes: u32,
    key: usize,
    overlapped: *mut c_void,
) -> i32 {
    match handles::port(port as usize) {
        Some(p) => {
            p.post(bytes, key, overlapped as usize);
            1
        }
        None => fail(ERROR_INVALID_HANDLE, 0),
    }
}

/// `CreateWindowExA` for a message-only window (`hWndParent = HWND_MESSAGE`; the class, names,
/// styles and geometry are ignored). Other windows do not exist here (NULL, 87).
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn CreateWindowExA(
    _ex_style: u32,
    _class: *const u8,
    _name: *const u8,
    _style: u32,
    _x: i32,
    _y: i32,
    _w: i32,
    _h: i32,
    parent: *mut c_void,
    _menu: *mut c_void,
    _instance: *mut c_void,
    _param: *mut c_void,
) -> *mut c_void {
    if parent as usize != HWND_MESSAGE {
        return fail(ERROR_INVALID_PARAMETER, std::ptr::null_mut());
    }
    match handles::insert(Object::Window(MessageQueue::new())) {
        Some(h) => h as *mut c_void,
        None => fail(8, std::ptr::null_mut()),
    }
}

/// `DestroyWindow`.
#[unsafe(no_mangle)]
pub extern "C" fn DestroyWindow(hwnd: *mut c_void) -> i32 {
    match handles::get(hwnd as usize) {
        Some(Object::Window(_)) => {
            handles::remove(hwnd as usize);
            1
        }
        _ => fail(1400, 0),
    }
}

/// The `MSG` structure of `windows.h`.
#[repr(C)]
#[derive(Debug)]
pub struct Msg {
    hwnd: *mut c_void,
    message: u32,
    wparam: usize,
    lparam: isize,
    time: u32,
    pt: [i32; 2],
}

/// `PostMessageA` to a message-only window (1400 `ERROR_INVALID_WINDOW_HANDLE` otherwise).
#[unsafe(no_mangle)]
pub extern "C" fn PostMessageA(hwnd: *mut c_void, msg: u32, wparam: usize, lparam: isize) -> i32 {
    match handles::window(hwnd as usize) {
        Some(q) => {
            q.post(Message {
                msg,
                wparam,
                lparam: lparam as usize,
            });
            1
        }
        None => fail(1400, 0),
    }
}

/// `PostMessageW`.
#[unsafe(no_mangle)]
pub extern "C" fn PostMessageW(hwnd: *mut c_void, msg: u32, wparam: usize, lparam: isize) -> i32 {
    PostMessageA(hwnd, msg, wparam, lparam)
}

/// Writes `m` for window `hwnd` into `out`.
///
/// # Safety
/// `out` is writable.
unsafe fn store(out: *mut Msg, hwnd: *mut c_void, m: &Message) {
    // SAFETY: out is writable (caller).
    unsafe {
        *out = Msg {
            hwnd,
            message: m.msg,
            wparam: m.wparam,
            lparam: m.lparam as isize,
            time: 0,
            pt: [0, 0],
        }
    };
}

/// `GetMessageA` on a message-only window: blocks for its next message; returns 0 for
/// `WM_QUIT`, -1 for a window that is not one (or `hWnd = NULL`, since threads have no queue of
/// their own here). The filter range must be 0, 0.
///
/// # Safety
/// `msg` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn GetMessageA(msg: *mut Msg, hwnd: *mut c_void, min: u32, max: u32) -> i32 {
    let Some(q) = handles::window(hwnd as usize) else {
        return fail(1400, -1);
    };
    if msg.is_null() || min != 0 || max != 0 {
        return fail(ERROR_INVALID_PARAMETER, -1);
    }
    let m = q.get_message();
    // SAFETY: msg is writable (caller) and not NULL.
    unsafe { store(msg, hwnd, &m) };
    i32::from(m.msg != WM_QUIT)
}

/// `GetMessageW`.
///
/// # Safety
/// As [`GetMessageA`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn GetMessageW(msg: *mut Msg, hwnd: *mut c_void, min: u32, max: u32) -> i32 {
    // SAFETY: the same contract.
    unsafe { GetMessageA(msg, hwnd, min, max) }
}

/// `PeekMessageA` on a message-only window: TRUE with a message (removed with `PM_REMOVE`),
/// FALSE when none is queued.
///
/// # Safety
/// `msg` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeekMessageA(
    msg: *mut Msg,
    hwnd: *mut c_void,
    min: u32,
    max: u32,
    remove: u32,
) -> i32 {
    let Some(q) = handles::window(hwnd as usize) else {
        return fail(1400, 0);
    };
    if msg.is_null() || min != 0 || max != 0 {
        return fail(ERROR_INVALID_PARAMETER, 0);
    }
    match q.peek_message(remove & PM_REMOVE != 0) {
        Some(m) => {
            // SAFETY: msg is writable (caller) and not NULL.
            unsafe { store(msg, hwnd, &m) };
            1
        }
        None => 0,
    }
}

/// `PeekMessageW`.
///
/// # Safety
/// As [`PeekMessageA`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeekMessageW(
    msg: *mut Msg,
    hwnd: *mut c_void,
    min: u32,
    max: u32,
    remove: u32,
) -> i32 {
    // SAFETY: the same contract.
    unsafe { PeekMessageA(msg, hwnd, min, max, remove) }
}

/// `CloseHandle` on an event or port (windows are destroyed with `DestroyWindow`); the
/// pseudo-handle of `GetCurrentThread` closes as a no-op, as on Windows.
#[unsafe(no_mangle)]
pub extern "C" fn CloseHandle(h: *mut c_void) -> i32 {
    if h as usize == CURRENT_THREAD {
        return 1;
    }
    match handles::get(h as usize) {
        Some(Object::Event(_) | Object::Port(_)) => {
            handles::remove(h as usize);
            1
        }
        _ => fail(ERROR_INVALID_HANDLE, 0),
    }
}
