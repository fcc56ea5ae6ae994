//! C strings in and out: bounded reads of NUL-terminated strings the program passes, and the
//! strings the runtime hands out (freed with `RpcStringFree`), tracked so that freeing anything
//! else is refused instead of corrupting the heap.

use std::collections::HashMap;
use std::ffi::{CString, c_char};
use std::sync::{Mutex, OnceLock};

/// The longest string (in units, without the NUL) read from C memory; a longer one is an error
/// (`RPC_X_INVALID_BOUND`, or `RPC_S_INVALID_ARG` for API arguments) instead of a read without
/// end. 16 Mi units: above the 4 MiB default request limit, so the limit that bites is the wire's.
pub(crate) const MAX_STRING_UNITS: usize = 16 << 20;

/// Reads a NUL-terminated string of `U` units at `p` (not NULL).
///
/// # Safety
/// `p` must point to readable units up to and including a NUL, or to at least
/// [`MAX_STRING_UNITS`] + 1 readable units.
pub(crate) unsafe fn read_units<U: Copy + Default + PartialEq>(p: *const U) -> Option<Vec<U>> {
    let mut n = 0;
    loop {
        if n > MAX_STRING_UNITS {
            return None;
        }
        // SAFETY: the caller guarantees the units up to the NUL (or the bound) are readable, and
        // n never passes the NUL (we stop there) nor the bound.
        let u = unsafe { *p.add(n) };
        if u == U::default() {
            break;
        }
        n += 1;
    }
    // SAFETY: the n units before the NUL were just read one by one; they are readable and
    // initialised.
    Some(unsafe { std::slice::from_raw_parts(p, n) }.to_vec())
}

/// An optional API string argument (A form) as UTF-8: `Ok(None)` for NULL; `Err` when too
/// long or not UTF-8.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
pub(crate) unsafe fn arg_a(p: *const u8) -> Result<Option<String>, ()> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: p is a NUL-terminated string (caller).
    let v = unsafe { read_units(p) }.ok_or(())?;
    String::from_utf8(v).map(Some).map_err(|_| ())
}

/// [`arg_a`] for the W form (UTF-16).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string of 16-bit units.
pub(crate) unsafe fn arg_w(p: *const u16) -> Result<Option<String>, ()> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: p is a NUL-terminated UTF-16 string (caller).
    let v = unsafe { read_units(p) }.ok_or(())?;
    String::from_utf16(&v).map(Some).map_err(|_| ())
}

/// Strings handed out and not yet freed: address -> units allocated (W strings; 0 for A).
fn live() -> std::sync::MutexGuard<'static, HashMap<usize, usize>> {
    static L: OnceLock<Mutex<HashMap<usize, usize>>> = OnceLock::new();
    L.get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// A runtime-allocated A string (`s` has no NUL inside: checked by the caller).
pub(crate) fn give_a(s: &str) -> Option<*mut u8> {
    let c = CString::new(s).ok()?;
    let p = c.into_raw();
    live().insert(p as usize, 0);
    Some(p.cast())
}

/// A runtime-allocated W string.
pub(crate) fn give_w(s: &str) -> *mut u16 {
    let mut v: Vec<u16> = s.encode_utf16().collect();
    v.push(0);
    let b = v.into_boxed_slice();
    let len = b.len();
    let p = Box::into_raw(b) as *mut u16;
    live().insert(p as usize, len);
    p
}

/// Frees a string [`give_a`] returned; false if `p` is not one.
pub(crate) fn free_a(p: *mut u8) -> bool {
    {
        let mut l = live();
        if l.get(&(p as usize)) != Some(&0) {
            return false;
        }
        l.remove(&(p as usize));
    }
    // SAFETY: p came from CString::into_raw in give_a (it was in the live table, and is removed
    // now, so it is freed once).
    drop(unsafe { CString::from_raw(p as *mut c_char) });
    true
}

/// Frees a string [`give_w`] returned; false if `p` is not one.
pub(crate) fn free_w(p: *mut u16) -> bool {
    let len = {
        let mut l = live();
        match l.get(&(p as usize)) {
            Some(&len) if len > 0 => {
                l.remove(&(p as usize));
                len
            }
            _ => return false,
        }
    };
    // SAFETY: p and len came from Box::into_raw of a boxed slice of len units in give_w, and the
    // entry was just removed, so it is freed once.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, len)) });
    true
}
