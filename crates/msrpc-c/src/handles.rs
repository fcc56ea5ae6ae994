//! The kernel-object table behind `HANDLE` and `HWND`: a handle is an index into it, never a
//! pointer the library dereferences, so a stale or made-up handle gets `ERROR_INVALID_HANDLE`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

use msrpc::notify::{CompletionPort, Event};

use crate::win32::MsgQueue;

/// What a handle names.
#[derive(Clone)]
pub(crate) enum Object {
    Event(Event),
    Port(CompletionPort),
    /// A message-only window: its queue.
    Window(MsgQueue),
    /// A thread from `CreateThread`.
    Thread(std::sync::Arc<crate::win32::ThreadObj>),
}

/// Handle values, as Windows spaces them: multiples of 4 from 0x100, so NULL,
/// `INVALID_HANDLE_VALUE` (-1) and the pseudo-handles (-2, -3) are never one.
const FIRST: usize = 0x100;
/// Handles open at once; past it, creating one fails with `ERROR_NOT_ENOUGH_MEMORY`.
pub(crate) const MAX_HANDLES: usize = 1 << 20;

struct Table {
    next: usize,
    map: HashMap<usize, Object>,
}

fn table() -> MutexGuard<'static, Table> {
    static T: OnceLock<Mutex<Table>> = OnceLock::new();
    T.get_or_init(|| {
        Mutex::new(Table {
            next: FIRST,
            map: HashMap::new(),
        })
    })
    .lock()
    .unwrap_or_else(|p| p.into_inner())
}

/// A new handle for `obj`, or `None` when [`MAX_HANDLES`] are open.
pub(crate) fn insert(obj: Object) -> Option<usize> {
    let mut t = table();
    if t.map.len() >= MAX_HANDLES {
        return None;
    }
    loop {
        let h = t.next;
        t.next = if t.next >= usize::MAX / 2 {
            FIRST
        } else {
            t.next + 4
        };
        if let std::collections::hash_map::Entry::Vacant(v) = t.map.entry(h) {
            v.insert(obj);
            return Some(h);
        }
    }
}

pub(crate) fn get(h: usize) -> Option<Object> {
    table().map.get(&h).cloned()
}

pub(crate) fn remove(h: usize) -> Option<Object> {
    table().map.remove(&h)
}

pub(crate) fn event(h: usize) -> Option<Event> {
    match get(h) {
        Some(Object::Event(e)) => Some(e),
        _ => None,
    }
}

pub(crate) fn port(h: usize) -> Option<CompletionPort> {
    match get(h) {
        Some(Object::Port(p)) => Some(p),
        _ => None,
    }
}

pub(crate) fn window(h: usize) -> Option<MsgQueue> {
    match get(h) {
        Some(Object::Window(q)) => Some(q),
        _ => None,
    }
}
