//! String bindings and binding handles: `RpcStringBindingCompose`, `RpcBindingFromStringBinding`,
//! `RpcStringFree`, `RpcBindingFree` (A and W). A binding handle is an index into a table of
//! [`msrpc::Binding`]s.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Mutex, MutexGuard, OnceLock};

use msrpc::Binding;

use crate::status::*;
use crate::strings;

/// Binding handles open at once; past it, `RpcBindingFromStringBinding` fails with
/// `RPC_S_OUT_OF_MEMORY`.
pub(crate) const MAX_BINDINGS: usize = 1 << 16;

struct Table {
    next: usize,
    map: HashMap<usize, Binding>,
}

fn table() -> MutexGuard<'static, Table> {
    static T: OnceLock<Mutex<Table>> = OnceLock::new();
    T.get_or_init(|| {
        Mutex::new(Table {
            next: 0x1000,
            map: HashMap::new(),
        })
    })
    .lock()
    .unwrap_or_else(|p| p.into_inner())
}

/// The binding a handle names.
pub(crate) fn lookup(h: *mut c_void) -> Option<Binding> {
    table().map.get(&(h as usize)).cloned()
}

fn insert(b: Binding) -> Option<usize> {
    let mut t = table();
    if t.map.len() >= MAX_BINDINGS {
        return None;
    }
    loop {
        let h = t.next;
        t.next = if t.next >= usize::MAX / 2 {
            0x1000
        } else {
            t.next + 8
        };
        if let std::collections::hash_map::Entry::Vacant(v) = t.map.entry(h) {
            v.insert(b);
            return Some(h);
        }
    }
}

/// `ObjUuid@ProtSeq:NetworkAddr[Endpoint,Options]`, as `RpcStringBindingCompose` writes it:
/// empty parts are left out, the brackets only appear with an endpoint or options.
fn compose(
    obj: Option<String>,
    protseq: Option<String>,
    addr: Option<String>,
    ep: Option<String>,
    opts: Option<String>,
) -> String {
    let mut s = String::new();
    if let Some(o) = obj.filter(|o| !o.is_empty()) {
        s.push_str(&o);
        s.push('@');
    }
    if let Some(p) = protseq.filter(|p| !p.is_empty()) {
        s.push_str(&p);
        s.push(':');
    }
    if let Some(a) = addr {
        s.push_str(&a);
    }
    let ep = ep.filter(|e| !e.is_empty());
    let opts = opts.filter(|o| !o.is_empty());
    if ep.is_some() || opts.is_some() {
        s.push('[');
        if let Some(e) = ep {
            s.push_str(&e);
        }
        if let Some(o) = opts {
            s.push(',');
            s.push_str(&o);
        }
        s.push(']');
    }
    s
}

/// `RpcStringBindingComposeA`: composes a string binding; free it with `RpcStringFreeA`.
/// `RPC_S_INVALID_ARG` when `StringBinding` is NULL or a part is not UTF-8 or is too long.
///
/// # Safety
/// Each part is NULL or a NUL-terminated string; `StringBinding` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcStringBindingComposeA(
    obj_uuid: *const u8,
    prot_seq: *const u8,
    network_addr: *const u8,
    endpoint: *const u8,
    options: *const u8,
    string_binding: *mut *mut u8,
) -> i32 {
    // SAFETY: each part is NULL or a NUL-terminated string (caller).
    let parts = unsafe {
        (
            strings::arg_a(obj_uuid),
            strings::arg_a(prot_seq),
            strings::arg_a(network_addr),
            strings::arg_a(endpoint),
            strings::arg_a(options),
        )
    };
    let (Ok(o), Ok(p), Ok(a), Ok(e), Ok(x)) = parts else {
        return RPC_S_INVALID_ARG;
    };
    if string_binding.is_null() {
        return RPC_S_INVALID_ARG;
    }
    let Some(out) = strings::give_a(&compose(o, p, a, e, x)) else {
        return RPC_S_INVALID_ARG;
    };
    // SAFETY: string_binding is not NULL and writable (caller).
    unsafe { *string_binding = out };
    RPC_S_OK
}

/// `RpcStringBindingComposeW`: the UTF-16 form.
///
/// # Safety
/// As [`RpcStringBindingComposeA`], with 16-bit strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcStringBindingComposeW(
    obj_uuid: *const u16,
    prot_seq: *const u16,
    network_addr: *const u16,
    endpoint: *const u16,
    options: *const u16,
    string_binding: *mut *mut u16,
) -> i32 {
    // SAFETY: each part is NULL or a NUL-terminated 16-bit string (caller).
    let parts = unsafe {
        (
            strings::arg_w(obj_uuid),
            strings::arg_w(prot_seq),
            strings::arg_w(network_addr),
            strings::arg_w(endpoint),
            strings::arg_w(options),
        )
    };
    let (Ok(o), Ok(p), Ok(a), Ok(e), Ok(x)) = parts else {
        return RPC_S_INVALID_ARG;
    };
    if string_binding.is_null() {
        return RPC_S_INVALID_ARG;
    }
    let out = strings::give_w(&compose(o, p, a, e, x));
    // SAFETY: string_binding is not NULL and writable (caller).
    unsafe { *string_binding = out };
    RPC_S_OK
}

fn from_string(s: Result<Option<String>, ()>, binding: *mut *mut c_void) -> i32 {
    if binding.is_null() {
        return RPC_S_INVALID_ARG;
    }
    let s = match s {
        Ok(Some(s)) => s,
        _ => return RPC_S_INVALID_STRING_BINDING,
    };
    let b = match Binding::from_string(&s) {
        Ok(b) => b,
        Err(e) => return of(&e),
    };
    let Some(h) = insert(b) else {
        return RPC_S_OUT_OF_MEMORY;
    };
    // SAFETY: binding is not NULL and writable (the callers' contract).
    unsafe { *binding = h as *mut c_void };
    RPC_S_OK
}

/// `RpcBindingFromStringBindingA`: a binding handle from a string binding; free it with
/// `RpcBindingFree`. The string's errors are msrpc's (`RPC_S_INVALID_STRING_BINDING`,
/// `RPC_S_PROTSEQ_NOT_SUPPORTED`, ...).
///
/// # Safety
/// `string_binding` is NULL or NUL-terminated; `binding` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingFromStringBindingA(
    string_binding: *const u8,
    binding: *mut *mut c_void,
) -> i32 {
    // SAFETY: NULL or NUL-terminated (caller).
    from_string(unsafe { strings::arg_a(string_binding) }, binding)
}

/// `RpcBindingFromStringBindingW`.
///
/// # Safety
/// As [`RpcBindingFromStringBindingA`], with a 16-bit string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingFromStringBindingW(
    string_binding: *const u16,
    binding: *mut *mut c_void,
) -> i32 {
    // SAFETY: NULL or NUL-terminated (caller).
    from_string(unsafe { strings::arg_w(string_binding) }, binding)
}

/// `RpcStringFreeA`: frees a string the runtime returned and sets `*String` to NULL. NULL
/// `*String` is fine; a string the runtime did not hand out gives `RPC_S_INVALID_ARG`.
///
/// # Safety
/// `string` is NULL or points to a readable and writable string pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcStringFreeA(string: *mut *mut u8) -> i32 {
    if string.is_null() {
        return RPC_S_INVALID_ARG;
    }
    // SAFETY: string is not NULL, readable (caller).
    let p = unsafe { *string };
    if p.is_null() {
        return RPC_S_OK;
    }
    if !strings::free_a(p) {
        return RPC_S_INVALID_ARG;
    }
    // SAFETY: string is writable (caller).
    unsafe { *string = std::ptr::null_mut() };
    RPC_S_OK
}

/// `RpcStringFreeW`.
///
/// # Safety
/// As [`RpcStringFreeA`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcStringFreeW(string: *mut *mut u16) -> i32 {
    if string.is_null() {
        return RPC_S_INVALID_ARG;
    }
    // SAFETY: string is not NULL, readable (caller).
    let p = unsafe { *string };
    if p.is_null() {
        return RPC_S_OK;
    }
    if !strings::free_w(p) {
        return RPC_S_INVALID_ARG;
    }
    // SAFETY: string is writable (caller).
    unsafe { *string = std::ptr::null_mut() };
    RPC_S_OK
}

/// `RpcBindingFree`: releases the handle and sets `*Binding` to NULL; calls still pending on it
/// finish normally (they hold the association). `RPC_S_INVALID_BINDING` for a handle that is
/// not one.
///
/// # Safety
/// `binding` is NULL or points to a readable and writable handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingFree(binding: *mut *mut c_void) -> i32 {
    if binding.is_null() {
        return RPC_S_INVALID_BINDING;
    }
    // SAFETY: binding is not NULL, readable (caller).
    let h = unsafe { *binding };
    if table().map.remove(&(h as usize)).is_none() {
        return RPC_S_INVALID_BINDING;
    }
    // SAFETY: binding is writable (caller).
    unsafe { *binding = std::ptr::null_mut() };
    RPC_S_OK
}

/// `RPC_C_OPT_BINDING_NONCAUSAL`.
const RPC_C_OPT_BINDING_NONCAUSAL: u32 = 9;
/// `RPC_C_OPT_CALL_TIMEOUT`.
const RPC_C_OPT_CALL_TIMEOUT: u32 = 12;

/// `RpcBindingSetOption`: `RPC_C_OPT_CALL_TIMEOUT` (milliseconds; 0 = none: a call that outlives
/// it ends as 1818 cancelled) and `RPC_C_OPT_BINDING_NONCAUSAL` (0 or 1). The handle then names a
/// binding with the new options (calls already made keep theirs; the next call opens a new
/// association). Other options: `RPC_S_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn RpcBindingSetOption(
    h: *mut c_void,
    option: std::ffi::c_ulong,
    value: usize,
) -> i32 {
    let Ok(option) = u32::try_from(option) else {
        return RPC_S_INVALID_ARG;
    };
    let Some(b) = lookup(h) else {
        return RPC_S_INVALID_BINDING;
    };
    let mut opts = b.options().clone();
    match option {
        RPC_C_OPT_CALL_TIMEOUT => {
            opts.call_timeout =
                (value != 0).then(|| std::time::Duration::from_millis(value as u64));
        }
        RPC_C_OPT_BINDING_NONCAUSAL => opts.noncausal = value != 0,
        _ => return RPC_S_INVALID_ARG,
    }
    let nb = match Binding::with_options(&b.string_binding().to_string(), opts) {
        Ok(nb) => nb,
        Err(e) => return of(&e),
    };
    match table().map.get_mut(&(h as usize)) {
        Some(slot) => {
            *slot = nb;
            RPC_S_OK
        }
        None => RPC_S_INVALID_BINDING,
    }
}

/// `RpcBindingInqOption` for the options [`RpcBindingSetOption`] sets.
///
/// # Safety
/// `value` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingInqOption(
    h: *mut c_void,
    option: std::ffi::c_ulong,
    value: *mut usize,
) -> i32 {
    let Ok(option) = u32::try_from(option) else {
        return RPC_S_INVALID_ARG;
    };
    let Some(b) = lookup(h) else {
        return RPC_S_INVALID_BINDING;
    };
    if value.is_null() {
        return RPC_S_INVALID_ARG;
    }
    let v = match option {
        RPC_C_OPT_CALL_TIMEOUT => b
            .options()
            .call_timeout
            .map_or(0, |d| d.as_millis() as usize),
        RPC_C_OPT_BINDING_NONCAUSAL => usize::from(b.options().noncausal),
        _ => return RPC_S_INVALID_ARG,
    };
    // SAFETY: value is not NULL and writable (caller).
    unsafe { *value = v };
    RPC_S_OK
}

#[cfg(test)]
mod tests {
    use super::compose;

    fn s(x: &str) -> Option<String> {
        Some(x.to_string())
    }

    #[test]
    fn compose_as_windows_writes_it() {
        assert_eq!(
            compose(None, s("ncacn_ip_tcp"), s("127.0.0.1"), s("8765"), None),
            "ncacn_ip_tcp:127.0.0.1[8765]"
        );
        assert_eq!(
            compose(
                s("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b"),
                s("ncalrpc"),
                None,
                None,
                s("Security=x")
            ),
            "7f6c4340-eb67-11d1-b9d7-00c04fad9a3b@ncalrpc:[,Security=x]"
        );
        assert_eq!(
            compose(None, s("ncacn_ip_tcp"), s("h"), s(""), s("")),
            "ncacn_ip_tcp:h"
        );
    }
}
