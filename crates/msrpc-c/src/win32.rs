//! The Win32 objects the notification styles need, on msrpc's primitives: events, waits (plain
//! and alertable), APCs, I/O completion ports, message-only windows, `CloseHandle` and the last
//! error. Handles are table indices ([`crate::handles`]).

use std::cell::Cell;
use std::ffi::c_void;
use std::time::Duration;

use msrpc::notify::{
    CompletionPort, Event, INFINITE, Message, ThreadRef, WaitOutcome, sleep_alertable,
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

/// `ERROR_FILE_NOT_FOUND`: `OpenEvent` of a name nothing has.
const ERROR_FILE_NOT_FOUND: u32 = 2;
/// `ERROR_ALREADY_EXISTS`: `CreateEvent` of a name that exists (the handle names that event).
const ERROR_ALREADY_EXISTS: u32 = 183;
/// The longest object name, in UTF-16 units (`MAX_PATH`); longer: 87.
pub(crate) const MAX_NAME_UNITS: usize = 260;

/// Named events, within this process: name -> (the event, handles open to it). A name lives
/// while a handle to it is open, as on Windows.
#[derive(Default)]
struct Names {
    by_name: std::collections::HashMap<String, (Event, usize)>,
    by_handle: std::collections::HashMap<usize, String>,
}

fn names() -> std::sync::MutexGuard<'static, Names> {
    static N: std::sync::OnceLock<std::sync::Mutex<Names>> = std::sync::OnceLock::new();
    N.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// A handle to the named event `name`, creating it (`create`) with `manual`/`initial` when it
/// does not exist. NULL with the last error set otherwise.
fn named_event(name: &str, create: Option<(bool, bool)>) -> *mut c_void {
    let mut n = names();
    let existing = n.by_name.get(name).map(|(e, _)| e.clone());
    let (event, existed) = match (existing, create) {
        (Some(e), _) => (e, true),
        (None, Some((manual, initial))) => (Event::new(manual, initial), false),
        (None, None) => return fail(ERROR_FILE_NOT_FOUND, std::ptr::null_mut()),
    };
    let Some(h) = handles::insert(Object::Event(event.clone())) else {
        return fail(8, std::ptr::null_mut());
    };
    n.by_name.entry(name.to_string()).or_insert((event, 0)).1 += 1;
    n.by_handle.insert(h, name.to_string());
    // CreateEvent reports an existing name through the last error, and succeeds.
    SetLastError(if existed && create.is_some() {
        ERROR_ALREADY_EXISTS
    } else {
        0
    });
    h as *mut c_void
}

/// A closed handle no longer keeps its name alive.
fn close_name(h: usize) {
    let mut n = names();
    if let Some(name) = n.by_handle.remove(&h)
        && let Some(entry) = n.by_name.get_mut(&name)
    {
        entry.1 -= 1;
        if entry.1 == 0 {
            n.by_name.remove(&name);
        }
    }
}

fn create_event(manual: i32, initial: i32, name: Result<Option<String>, ()>) -> *mut c_void {
    match name {
        Err(()) => fail(ERROR_INVALID_PARAMETER, std::ptr::null_mut()),
        Ok(Some(n)) if n.encode_utf16().count() > MAX_NAME_UNITS => {
            fail(ERROR_INVALID_PARAMETER, std::ptr::null_mut())
        }
        Ok(Some(n)) => named_event(&n, Some((manual != 0, initial != 0))),
        Ok(None) => match handles::insert(Object::Event(Event::new(manual != 0, initial != 0))) {
            Some(h) => {
                SetLastError(0);
                h as *mut c_void
            }
            None => fail(8, std::ptr::null_mut()),
        },
    }
}

/// `CreateEventA`: a new event handle, or NULL. With a name (at most 260 characters), the
/// event of that name in this process: created if new, else a new handle to it with
/// `GetLastError()` 183 `ERROR_ALREADY_EXISTS` (the flags are then ignored, as on Windows).
/// Names are per process (there are no other processes' objects here). The security
/// attributes are ignored.
///
/// # Safety
/// `name` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CreateEventA(
    _attributes: *mut c_void,
    manual_reset: i32,
    initial_state: i32,
    name: *const u8,
) -> *mut c_void {
    // SAFETY: NULL or NUL-terminated (caller).
    create_event(manual_reset, initial_state, unsafe {
        crate::strings::arg_a(name)
    })
}

/// `CreateEventW`.
///
/// # Safety
/// As [`CreateEventA`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CreateEventW(
    _attributes: *mut c_void,
    manual_reset: i32,
    initial_state: i32,
    name: *const u16,
) -> *mut c_void {
    // SAFETY: NULL or NUL-terminated (caller).
    create_event(manual_reset, initial_state, unsafe {
        crate::strings::arg_w(name)
    })
}

fn open_event(name: Result<Option<String>, ()>) -> *mut c_void {
    match name {
        Ok(Some(n)) => named_event(&n, None),
        _ => fail(ERROR_INVALID_PARAMETER, std::ptr::null_mut()),
    }
}

/// `OpenEventA`: a new handle to the named event, or NULL with 2 `ERROR_FILE_NOT_FOUND`. The
/// access mask and inheritance are ignored.
///
/// # Safety
/// `name` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn OpenEventA(_access: u32, _inherit: i32, name: *const u8) -> *mut c_void {
    // SAFETY: NULL or NUL-terminated (caller).
    open_event(unsafe { crate::strings::arg_a(name) })
}

/// `OpenEventW`.
///
/// # Safety
/// As [`OpenEventA`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn OpenEventW(_access: u32, _inherit: i32, name: *const u16) -> *mut c_void {
    // SAFETY: NULL or NUL-terminated (caller).
    open_event(unsafe { crate::strings::arg_w(name) })
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

/// `WaitForSingleObject` on an event or a thread (signaled once it has exited):
/// `WAIT_OBJECT_0`, `WAIT_TIMEOUT`, or `WAIT_FAILED` (`ERROR_INVALID_HANDLE`) for anything else.
#[unsafe(no_mangle)]
pub extern "C" fn WaitForSingleObject(h: *mut c_void, ms: u32) -> u32 {
    WaitForSingleObjectEx(h, ms, 0)
}

/// `WaitForSingleObjectEx`: alertable waits also run the thread's queued APCs and then return
/// `WAIT_IO_COMPLETION`.
#[unsafe(no_mangle)]
pub extern "C" fn WaitForSingleObjectEx(h: *mut c_void, ms: u32, alertable: i32) -> u32 {
    let Some(e) = waitable(h as usize) else {
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

/// How often a `bWaitAll = TRUE` wait looks at its objects again (msrpc's events can be waited
/// for one at a time or any of several, not all at once). Default 1 ms.
pub const WAIT_ALL_POLL: Duration = Duration::from_millis(1);

/// The object a wait on handle `h` waits for: an event, or a thread's exit.
fn waitable(h: usize) -> Option<Event> {
    match handles::get(h)? {
        Object::Event(e) => Some(e),
        Object::Thread(t) => Some(t.done.clone()),
        _ => None,
    }
}

/// Takes every one of `events` at once, if all are signaled (consuming the auto-reset ones),
/// else none. Serialised among wait-all waiters; a single waiter taking one in between undoes
/// the attempt.
fn take_all(events: &[Event]) -> bool {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if !events.iter().all(Event::is_set) {
        return false;
    }
    let mut taken: Vec<&Event> = Vec::new();
    for e in events {
        if e.is_manual_reset() {
            continue;
        }
        if e.try_wait() {
            taken.push(e);
        } else {
            // Lost to another waiter: give back what this attempt consumed.
            for t in taken {
                t.set();
            }
            return false;
        }
    }
    true
}

/// `WaitForMultipleObjects` on events and threads. `bWaitAll = FALSE`: `WAIT_OBJECT_0 + i` for
/// the lowest signaled one (only it is consumed). `bWaitAll = TRUE`: `WAIT_OBJECT_0` once all
/// are signaled at the same time, consuming every auto-reset one then (checked every
/// [`WAIT_ALL_POLL`]). `WAIT_TIMEOUT`, or `WAIT_FAILED` with 87 (count 0 or above 64, a handle
/// given twice with `bWaitAll`) or 6 (a handle that is not an event or thread).
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
    if count == 0 || count > MAXIMUM_WAIT_OBJECTS || handles.is_null() {
        return fail(ERROR_INVALID_PARAMETER, WAIT_FAILED);
    }
    // SAFETY: handles points to count readable handles (caller); count <= 64.
    let hs = unsafe { std::slice::from_raw_parts(handles, count as usize) };
    let mut events = Vec::with_capacity(hs.len());
    for &h in hs {
        match waitable(h as usize) {
            Some(e) => events.push(e),
            None => return fail(ERROR_INVALID_HANDLE, WAIT_FAILED),
        }
    }
    if wait_all != 0 {
        let mut seen = std::collections::HashSet::new();
        if !hs.iter().all(|h| seen.insert(*h as usize)) {
            // Windows: ERROR_INVALID_PARAMETER for a duplicate in a wait-all.
            return fail(ERROR_INVALID_PARAMETER, WAIT_FAILED);
        }
        let deadline = (ms != INFINITE_MS)
            .then(|| std::time::Instant::now() + Duration::from_millis(u64::from(ms)));
        loop {
            if take_all(&events) {
                return WAIT_OBJECT_0;
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return WAIT_TIMEOUT;
            }
            std::thread::sleep(WAIT_ALL_POLL);
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

/// `QueueUserAPC` to the calling thread (`GetCurrentThread()`) or a `CreateThread` thread: the
/// routine runs with `data` on that thread, in its next alertable wait. 0 with
/// `ERROR_INVALID_HANDLE` for another handle or a thread that has exited.
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
    match handles::get(h)? {
        Object::Thread(t) if !t.exited.load(std::sync::atomic::Ordering::Acquire) => {
            t.thread.get().cloned()
        }
        _ => None,
    }
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

/// A message queue (a window's, or a thread's): messages in the order posted, taken by
/// `GetMessage`/`PeekMessage` with their filter range.
#[derive(Clone, Default)]
pub(crate) struct MsgQueue {
    inner: std::sync::Arc<(
        std::sync::Mutex<std::collections::VecDeque<Message>>,
        std::sync::Condvar,
    )>,
}

impl std::fmt::Debug for MsgQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgQueue").finish_non_exhaustive()
    }
}

/// The most messages a queue holds, as Windows' per-thread limit (10000 by default): past it
/// `PostMessage`/`PostThreadMessage` fail with 1816 `ERROR_NOT_ENOUGH_QUOTA`.
pub(crate) const MAX_QUEUED_MESSAGES: usize = 10_000;
const ERROR_NOT_ENOUGH_QUOTA: u32 = 1816;

/// A `GetMessage`/`PeekMessage` filter: `wMsgFilterMin`..=`wMsgFilterMax`, both 0 for every
/// message; `WM_QUIT` is always taken, as the documentation says.
#[derive(Clone, Copy)]
struct Filter(u32, u32);

impl Filter {
    fn takes(self, m: &Message) -> bool {
        (self.0 == 0 && self.1 == 0) || (self.0..=self.1).contains(&m.msg) || m.msg == WM_QUIT
    }
}

impl MsgQueue {
    fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Message>> {
        self.inner.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a message the program posts; false when [`MAX_QUEUED_MESSAGES`] are queued.
    fn try_post(&self, m: Message) -> bool {
        let mut q = self.lock();
        if q.len() >= MAX_QUEUED_MESSAGES {
            return false;
        }
        q.push_back(m);
        self.inner.1.notify_all();
        true
    }

    /// Appends a notification the runtime posts (an `HWND`-style completion: one per call,
    /// never refused).
    pub(crate) fn post(&self, m: Message) {
        self.lock().push_back(m);
        self.inner.1.notify_all();
    }

    /// The oldest message the filter takes, removed when `remove`.
    fn take(&self, f: Filter, remove: bool) -> Option<Message> {
        let mut q = self.lock();
        let i = q.iter().position(|m| f.takes(m))?;
        if remove {
            q.remove(i)
        } else {
            q.get(i).copied()
        }
    }

    /// Waits for the oldest message the filter takes and removes it.
    fn wait_take(&self, f: Filter) -> Message {
        let mut q = self.lock();
        loop {
            if let Some(i) = q.iter().position(|m| f.takes(m))
                && let Some(m) = q.remove(i)
            {
                return m;
            }
            q = self.inner.1.wait(q).unwrap_or_else(|p| p.into_inner());
        }
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
    // A USER call: the thread gets its message queue, as on Windows.
    let _ = my_queue();
    match handles::insert(Object::Window(MsgQueue::new())) {
        Some(h) => {
            owners().insert(h, std::thread::current().id());
            h as *mut c_void
        }
        None => fail(8, std::ptr::null_mut()),
    }
}

/// Which thread created each window: `GetMessage(NULL, ..)` reads that thread's windows.
fn owners()
-> std::sync::MutexGuard<'static, std::collections::HashMap<usize, std::thread::ThreadId>> {
    static O: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<usize, std::thread::ThreadId>>,
    > = std::sync::OnceLock::new();
    O.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// The calling thread's queues: its thread message queue (`hwnd` NULL, created now if it has
/// none), then its windows, oldest first.
fn my_windows() -> Vec<(usize, MsgQueue)> {
    let me = std::thread::current().id();
    let mut hs: Vec<usize> = owners()
        .iter()
        .filter(|(_, t)| **t == me)
        .map(|(h, _)| *h)
        .collect();
    hs.sort_unstable();
    std::iter::once((0, my_queue()))
        .chain(
            hs.into_iter()
                .filter_map(|h| handles::window(h).map(|q| (h, q))),
        )
        .collect()
}

/// Thread message queues by thread id (`PostThreadMessage`): a thread has one from its first
/// `GetMessage`, `PeekMessage` or `CreateWindowEx`, as on Windows, until it ends.
fn thread_queues() -> std::sync::MutexGuard<'static, std::collections::HashMap<u32, MsgQueue>> {
    static Q: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<u32, MsgQueue>>> =
        std::sync::OnceLock::new();
    Q.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Removes a thread's queue when the thread ends.
struct QueueGuard(u32);

impl Drop for QueueGuard {
    fn drop(&mut self) {
        thread_queues().remove(&self.0);
    }
}

thread_local! {
    /// This thread's message queue, once it has one.
    static MY_QUEUE: std::cell::RefCell<Option<(MsgQueue, QueueGuard)>> =
        const { std::cell::RefCell::new(None) };
    /// This thread's id (`GetCurrentThreadId`), 0 until asked for.
    static THREAD_ID: Cell<u32> = const { Cell::new(0) };
    /// The `CreateThread` object of this thread, if it is one (`SuspendThread` on itself).
    static MY_THREAD: std::cell::RefCell<Option<std::sync::Arc<ThreadObj>>> =
        const { std::cell::RefCell::new(None) };
}

/// The calling thread's message queue, created (and registered for `PostThreadMessage`) on
/// first use.
fn my_queue() -> MsgQueue {
    MY_QUEUE
        .try_with(|q| {
            q.borrow_mut()
                .get_or_insert_with(|| {
                    let id = current_thread_id();
                    let queue = MsgQueue::new();
                    thread_queues().insert(id, queue.clone());
                    (queue, QueueGuard(id))
                })
                .0
                .clone()
        })
        .unwrap_or_default()
}

/// Thread ids, as `CreateThread`'s `lpThreadId` and `GetCurrentThreadId` give them: multiples of
/// 4 from 0x1000, never 0.
static NEXT_ID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0x1000);

fn next_thread_id() -> u32 {
    loop {
        let id = NEXT_ID.fetch_add(4, std::sync::atomic::Ordering::Relaxed);
        if id != 0 {
            return id;
        }
    }
}

fn current_thread_id() -> u32 {
    THREAD_ID
        .try_with(|c| {
            if c.get() == 0 {
                c.set(next_thread_id());
            }
            c.get()
        })
        .unwrap_or(0)
}

/// `GetCurrentThreadId`: the calling thread's id (for a `CreateThread` thread, the one
/// `lpThreadId` received); `PostThreadMessage` takes it.
#[unsafe(no_mangle)]
pub extern "C" fn GetCurrentThreadId() -> u32 {
    current_thread_id()
}

/// `ERROR_INVALID_THREAD_ID`: `PostThreadMessage` to a thread with no message queue.
const ERROR_INVALID_THREAD_ID: u32 = 1444;

/// `PostThreadMessageA`: posts to the message queue of thread `idThread` (`GetMessage` or
/// `PeekMessage` with `hWnd = NULL` on that thread receive it, with `MSG.hwnd` NULL). FALSE with
/// 1444 `ERROR_INVALID_THREAD_ID` when the thread has no queue (it has not called
/// `GetMessage`, `PeekMessage` or `CreateWindowEx` yet, or it has ended), as on Windows.
#[unsafe(no_mangle)]
pub extern "C" fn PostThreadMessageA(tid: u32, msg: u32, wparam: usize, lparam: isize) -> i32 {
    let q = thread_queues().get(&tid).cloned();
    match q {
        Some(q) => {
            if q.try_post(Message {
                msg,
                wparam,
                lparam: lparam as usize,
            }) {
                1
            } else {
                fail(ERROR_NOT_ENOUGH_QUOTA, 0)
            }
        }
        None => fail(ERROR_INVALID_THREAD_ID, 0),
    }
}

/// `PostThreadMessageW`.
#[unsafe(no_mangle)]
pub extern "C" fn PostThreadMessageW(tid: u32, msg: u32, wparam: usize, lparam: isize) -> i32 {
    PostThreadMessageA(tid, msg, wparam, lparam)
}

/// `DestroyWindow`.
#[unsafe(no_mangle)]
pub extern "C" fn DestroyWindow(hwnd: *mut c_void) -> i32 {
    match handles::get(hwnd as usize) {
        Some(Object::Window(_)) => {
            handles::remove(hwnd as usize);
            owners().remove(&(hwnd as usize));
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
            if q.try_post(Message {
                msg,
                wparam,
                lparam: lparam as usize,
            }) {
                1
            } else {
                fail(ERROR_NOT_ENOUGH_QUOTA, 0)
            }
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

/// `GetMessageA` on a message-only window, or with `hWnd = NULL` on the calling thread's
/// message queue (`PostThreadMessage`, `MSG.hwnd` NULL) and every window it created (the first
/// message of any of them; with several, they are looked at every [`WAIT_ALL_POLL`]): blocks
/// for the next message the filter range takes (`wMsgFilterMin`..=`wMsgFilterMax`, both 0 for
/// any; `WM_QUIT` always); returns 0 for `WM_QUIT`, -1 for a window that is not one.
///
/// # Safety
/// `msg` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn GetMessageA(msg: *mut Msg, hwnd: *mut c_void, min: u32, max: u32) -> i32 {
    // A USER call: the thread gets its message queue (PostThreadMessage can reach it).
    let _ = my_queue();
    if msg.is_null() {
        return fail(ERROR_INVALID_PARAMETER, -1);
    }
    let f = Filter(min, max);
    let (from, m) = if hwnd.is_null() {
        let ws = my_windows();
        match ws.as_slice() {
            [] => return fail(1400, -1),
            [(h, q)] => (*h, q.wait_take(f)),
            _ => loop {
                if let Some((h, m)) = ws
                    .iter()
                    .find_map(|(h, q)| q.take(f, true).map(|m| (*h, m)))
                {
                    break (h, m);
                }
                std::thread::sleep(WAIT_ALL_POLL);
            },
        }
    } else {
        let Some(q) = handles::window(hwnd as usize) else {
            return fail(1400, -1);
        };
        (hwnd as usize, q.wait_take(f))
    };
    // SAFETY: msg is writable (caller) and not NULL.
    unsafe { store(msg, from as *mut c_void, &m) };
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

/// `PeekMessageA` on a message-only window, or with `hWnd = NULL` on the calling thread's
/// message queue and windows: TRUE with a message (removed with `PM_REMOVE`), FALSE when none is
/// queued. The first call gives the thread its message queue (`PeekMessage(&msg, NULL, 0, 0,
/// PM_NOREMOVE)` before `PostThreadMessage` reaches it, as on Windows).
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
    let _ = my_queue();
    if msg.is_null() {
        return fail(ERROR_INVALID_PARAMETER, 0);
    }
    let f = Filter(min, max);
    let queues = if hwnd.is_null() {
        my_windows()
    } else {
        match handles::window(hwnd as usize) {
            Some(q) => vec![(hwnd as usize, q)],
            None => return fail(1400, 0),
        }
    };
    match queues
        .iter()
        .find_map(|(h, q)| q.take(f, remove & PM_REMOVE != 0).map(|m| (*h, m)))
    {
        Some((h, m)) => {
            // SAFETY: msg is writable (caller) and not NULL.
            unsafe { store(msg, h as *mut c_void, &m) };
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

/// `CloseHandle` on an event, port or thread (the thread runs on; windows are destroyed with
/// `DestroyWindow`); the
/// pseudo-handle of `GetCurrentThread` closes as a no-op, as on Windows.
#[unsafe(no_mangle)]
pub extern "C" fn CloseHandle(h: *mut c_void) -> i32 {
    if h as usize == CURRENT_THREAD {
        return 1;
    }
    match handles::get(h as usize) {
        Some(Object::Event(_) | Object::Port(_) | Object::Thread(_)) => {
            handles::remove(h as usize);
            close_name(h as usize);
            1
        }
        _ => fail(ERROR_INVALID_HANDLE, 0),
    }
}

/// `STILL_ACTIVE`: `GetExitCodeThread` of a thread that runs.
const STILL_ACTIVE: u32 = 259;
/// `CREATE_SUSPENDED`: the thread waits for `ResumeThread` before its routine runs.
const CREATE_SUSPENDED: u32 = 0x4;
/// `MAXIMUM_SUSPEND_COUNT`: `SuspendThread` past it fails with 156 `ERROR_SIGNAL_REFUSED`.
const MAXIMUM_SUSPEND_COUNT: u32 = 0x7F;
const ERROR_SIGNAL_REFUSED: u32 = 156;
/// `ERROR_NOT_SUPPORTED`: `SuspendThread` of another thread that already runs.
const ERROR_NOT_SUPPORTED: u32 = 50;
/// The smallest stack `CreateThread` gives a thread (a smaller `dwStackSize` is raised to it).
pub(crate) const MIN_THREAD_STACK: usize = 64 * 1024;
/// The stack of a thread created with `dwStackSize = 0` (Rust's and glibc's usual 2 MiB).
pub(crate) const DEFAULT_THREAD_STACK: usize = 2 << 20;

/// A `CreateThread` thread: its APC queue (once it runs), its exit (a manual-reset event, what
/// waits on the handle wait for) and exit code.
#[derive(Debug)]
pub(crate) struct ThreadObj {
    pub(crate) thread: std::sync::OnceLock<ThreadRef>,
    pub(crate) done: Event,
    /// Set before `done`: from then on the thread takes no APCs (its queue closes a little
    /// later, when its thread-local storage is torn down).
    exited: std::sync::atomic::AtomicBool,
    code: std::sync::atomic::AtomicU32,
    id: u32,
    /// (suspend count, the routine has started), and the gate the thread waits at.
    suspend: std::sync::Mutex<(u32, bool)>,
    resumed: std::sync::Condvar,
}

impl ThreadObj {
    fn gate(&self) -> std::sync::MutexGuard<'_, (u32, bool)> {
        self.suspend.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits while the suspend count is above 0 (the guard's lock is released while waiting).
    fn wait_resumed<'a>(
        &self,
        mut g: std::sync::MutexGuard<'a, (u32, bool)>,
    ) -> std::sync::MutexGuard<'a, (u32, bool)> {
        while g.0 > 0 {
            g = self.resumed.wait(g).unwrap_or_else(|p| p.into_inner());
        }
        g
    }
}

/// `LPTHREAD_START_ROUTINE`.
type StartFn = unsafe extern "C" fn(*mut c_void) -> u32;
/// The header's `MsrpcThreadTrampoline`: calls the start routine in a C frame that `ExitThread`
/// can jump back to.
type TrampolineFn = unsafe extern "C" fn(Option<StartFn>, *mut c_void) -> u32;

thread_local! {
    /// This thread's trampoline frame and the exception-frame depth at its entry.
    static THREAD_FRAME: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// `CreateThread` (through the inline wrapper in `windows.h`, which passes its trampoline): runs
/// `start(param)` on a new thread; the handle is signaled when it ends, `GetExitCodeThread` then
/// gives its return value (or `ExitThread`'s code). With `dwCreationFlags` `CREATE_SUSPENDED`
/// the routine waits for `ResumeThread`. The thread id is written to `lpThreadId` if not NULL.
///
/// # Safety
/// `start` and `trampoline` are C functions of those types; `tid` is NULL or writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn MsrpcCreateThread(
    _attributes: *mut c_void,
    stack: usize,
    start: Option<StartFn>,
    param: *mut c_void,
    flags: u32,
    tid: *mut u32,
    trampoline: Option<TrampolineFn>,
) -> *mut c_void {
    let (Some(start), Some(trampoline)) = (start, trampoline) else {
        return fail(ERROR_INVALID_PARAMETER, std::ptr::null_mut());
    };
    let obj = std::sync::Arc::new(ThreadObj {
        thread: std::sync::OnceLock::new(),
        done: Event::manual_reset(),
        exited: std::sync::atomic::AtomicBool::new(false),
        code: std::sync::atomic::AtomicU32::new(STILL_ACTIVE),
        id: next_thread_id(),
        suspend: std::sync::Mutex::new((u32::from(flags & CREATE_SUSPENDED != 0), false)),
        resumed: std::sync::Condvar::new(),
    });
    let Some(h) = handles::insert(Object::Thread(obj.clone())) else {
        return fail(8, std::ptr::null_mut());
    };
    let started = Event::manual_reset();
    let (o, st, param) = (obj.clone(), started.clone(), param as usize);
    let spawned = std::thread::Builder::new()
        .name("msrpc-c-thread".into())
        .stack_size(if stack == 0 {
            DEFAULT_THREAD_STACK
        } else {
            stack.max(MIN_THREAD_STACK)
        })
        .spawn(move || {
            let _ = o.thread.set(ThreadRef::current());
            let _ = THREAD_ID.try_with(|c| c.set(o.id));
            let _ = MY_THREAD.try_with(|t| *t.borrow_mut() = Some(o.clone()));
            st.set();
            // CREATE_SUSPENDED: the routine waits for ResumeThread (APCs queued meanwhile wait
            // for its first alertable wait, as on Windows).
            o.wait_resumed(o.gate()).1 = true;
            // SAFETY: the header's trampoline with the program's start routine and parameter,
            // behind a barrier (an exception the routine does not catch ends the process).
            let code = with_barrier(|| unsafe { trampoline(Some(start), param as *mut c_void) });
            let _ = THREAD_FRAME.try_with(|f| f.set((0, 0)));
            // Its message queue ends with it: PostThreadMessage fails from the moment a wait
            // sees the thread ended.
            let _ = MY_QUEUE.try_with(|q| q.borrow_mut().take());
            o.code.store(code, std::sync::atomic::Ordering::Release);
            o.exited.store(true, std::sync::atomic::Ordering::Release);
            o.done.set();
        });
    if spawned.is_err() {
        handles::remove(h);
        return fail(8, std::ptr::null_mut());
    }
    // Return once the thread can take APCs (QueueUserAPC right after CreateThread works).
    started.wait();
    if !tid.is_null() {
        // SAFETY: writable (caller).
        unsafe { *tid = obj.id };
    }
    h as *mut c_void
}

/// Called by the header's trampoline on the new thread, before the start routine: `frame` is
/// where `ExitThread` jumps.
#[unsafe(no_mangle)]
pub extern "C" fn MsrpcThreadEnter(frame: *mut c_void) {
    let d = crate::exc::depth();
    let _ = THREAD_FRAME.try_with(|f| f.set((frame as usize, d)));
}

/// `ExitThread`'s first half (inline in `windows.h`): the trampoline frame to jump to, with the
/// exception frames above it dropped; NULL when this is not a `CreateThread` thread, or when a
/// library callback (an APC, a notification routine) lies between, which the jump would cross.
#[unsafe(no_mangle)]
pub extern "C" fn MsrpcThreadExitFrame() -> *mut c_void {
    let (frame, depth) = THREAD_FRAME.try_with(Cell::get).unwrap_or((0, 0));
    if frame == 0 || !crate::exc::unwind_to(depth) {
        return std::ptr::null_mut();
    }
    frame as *mut c_void
}

/// `ExitThread` where it cannot jump: the process ends with a message (never a jump across the
/// library's frames).
#[unsafe(no_mangle)]
pub extern "C" fn MsrpcThreadExitUnhandled(code: u32) -> ! {
    eprintln!(
        "libmsrpc_c: ExitThread({code}) outside a CreateThread thread's own code (the main \
         thread, or inside a routine the library called back): not supported"
    );
    std::process::abort()
}

/// `GetExitCodeThread`: the thread's exit code, or 259 `STILL_ACTIVE` while it runs.
///
/// # Safety
/// `code` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn GetExitCodeThread(h: *mut c_void, code: *mut u32) -> i32 {
    let Some(Object::Thread(t)) = handles::get(h as usize) else {
        return fail(ERROR_INVALID_HANDLE, 0);
    };
    if code.is_null() {
        return fail(ERROR_INVALID_PARAMETER, 0);
    }
    // SAFETY: writable (caller).
    unsafe { *code = t.code.load(std::sync::atomic::Ordering::Acquire) };
    1
}

/// The thread object a handle names for `SuspendThread`/`ResumeThread`: `GetCurrentThread()` is
/// the calling thread's (a `CreateThread` thread's only).
fn thread_obj(h: usize) -> Result<std::sync::Arc<ThreadObj>, u32> {
    if h == CURRENT_THREAD {
        return MY_THREAD
            .try_with(|t| t.borrow().clone())
            .ok()
            .flatten()
            .ok_or(ERROR_NOT_SUPPORTED);
    }
    match handles::get(h) {
        Some(Object::Thread(t)) => Ok(t),
        _ => Err(ERROR_INVALID_HANDLE),
    }
}

/// `SuspendThread`: raises the thread's suspend count and returns the previous one. A thread
/// created with `CREATE_SUSPENDED` that has not run yet, or the calling thread itself (which then
/// waits until `ResumeThread` brings the count to 0), as on Windows. Stopping another thread
/// that already runs at an arbitrary point is not done here (it would stop it holding whatever
/// lock it holds): `(DWORD)-1` with 50 `ERROR_NOT_SUPPORTED`; 156 past 127 suspensions, 6 for
/// a handle that is not a thread.
#[unsafe(no_mangle)]
pub extern "C" fn SuspendThread(h: *mut c_void) -> u32 {
    let t = match thread_obj(h as usize) {
        Ok(t) => t,
        Err(e) => return fail(e, u32::MAX),
    };
    let me = MY_THREAD
        .try_with(|m| {
            m.borrow()
                .as_ref()
                .is_some_and(|m| std::sync::Arc::ptr_eq(m, &t))
        })
        .unwrap_or(false);
    let mut g = t.gate();
    if g.1 && !me {
        return fail(ERROR_NOT_SUPPORTED, u32::MAX);
    }
    if g.0 >= MAXIMUM_SUSPEND_COUNT {
        return fail(ERROR_SIGNAL_REFUSED, u32::MAX);
    }
    let previous = g.0;
    g.0 += 1;
    if me {
        // Suspends itself: back when another thread resumes it.
        drop(t.wait_resumed(g));
    }
    previous
}

/// `ResumeThread`: lowers the suspend count and returns the previous one (0: it was not
/// suspended, nothing changes); at 0 the thread runs. `(DWORD)-1` with 6 for a handle that is not
/// a thread.
#[unsafe(no_mangle)]
pub extern "C" fn ResumeThread(h: *mut c_void) -> u32 {
    if h as usize == CURRENT_THREAD {
        // The calling thread runs: its count is 0.
        return 0;
    }
    let t = match thread_obj(h as usize) {
        Ok(t) => t,
        Err(e) => return fail(e, u32::MAX),
    };
    let mut g = t.gate();
    let previous = g.0;
    if previous > 0 {
        g.0 -= 1;
        if g.0 == 0 {
            t.resumed.notify_all();
        }
    }
    previous
}
