//! COM (DCOM) `[object]` interfaces on the client: the proxies behind `MsrpcCreateProxy`
//! (docs/c-abi.md "COM [object] interfaces").
//!
//! A generated `STEM_c.c` registers one proxy description per interface (its IIDs, own and
//! bases', and its vtable of `STEM__Op_Proxy` functions) from a constructor. A proxy is a
//! library-owned object whose first field is the vtable pointer, so `This->lpVtbl->Add(This, ..)`
//! works from C; the methods call [`MsrpcProxyCall`], which finds the proxy again in the table of
//! live proxies (a made-up or released pointer is `E_POINTER`, not a crash) and makes the call
//! with its IPID as the object UUID. IUnknown's three methods are local: AddRef and Release count
//! references (no IRemUnknown), QueryInterface answers IUnknown and the IIDs the proxy
//! description lists.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::engine::{Guid, MsrpcInterface};

/// `S_OK`.
pub(crate) const S_OK: i32 = 0;
/// `E_NOINTERFACE`.
pub(crate) const E_NOINTERFACE: i32 = 0x8000_4002_u32 as i32;
/// `E_POINTER`.
pub(crate) const E_POINTER: i32 = 0x8000_4003_u32 as i32;
/// `E_INVALIDARG`.
pub(crate) const E_INVALIDARG: i32 = 0x8007_0057_u32 as i32;
/// `RPC_S_OUT_OF_RESOURCES`.
const RPC_S_OUT_OF_RESOURCES: i32 = 1721;
/// How many IIDs one proxy description may list (its own and its bases'). Default 64; the IDL
/// compiler allows 32 levels of inheritance (msrpc-idl's `MAX_COM_INHERITANCE`).
pub const MAX_PROXY_IIDS: usize = 64;
/// How many proxies may be alive at once. Default 2^20.
pub const MAX_PROXIES: usize = 1 << 20;

/// IUnknown's IID, 00000000-0000-0000-C000-000000000046.
const IID_IUNKNOWN: uuid::Uuid = uuid::Uuid::from_u128(0x0000_0000_0000_0000_c000_0000_0000_0046);

/// `MSRPC_PROXY_INFO`, one per generated interface.
#[repr(C)]
#[derive(Debug)]
pub struct MsrpcProxyInfo {
    version: u32,
    /// The interface's IID first, then its bases' (nearest first), NULL-terminated.
    iids: *const *const Guid,
    vtbl: *const c_void,
}

/// A proxy: `lpVtbl` first, as C reads it.
#[repr(C)]
struct Proxy {
    vtbl: *const c_void,
    refs: AtomicU32,
    /// The binding handle the proxy holds (a copy of the one it was made from).
    binding: usize,
    ipid: uuid::Uuid,
    iids: Vec<uuid::Uuid>,
}

/// Registered proxy descriptions by their own IID (the description's address).
fn infos() -> MutexGuard<'static, HashMap<uuid::Uuid, usize>> {
    static T: OnceLock<Mutex<HashMap<uuid::Uuid, usize>>> = OnceLock::new();
    T.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Live proxies by address.
fn live() -> MutexGuard<'static, HashMap<usize, ()>> {
    static T: OnceLock<Mutex<HashMap<usize, ()>>> = OnceLock::new();
    T.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// The IIDs of a description.
///
/// # Safety
/// `info` is a generated description (static, NULL-terminated IID list).
unsafe fn iids_of(info: *const MsrpcProxyInfo) -> Option<Vec<uuid::Uuid>> {
    // SAFETY: the generated static (caller).
    let info = unsafe { &*info };
    if info.version != crate::engine::MSRPC_STUB_VERSION
        || info.iids.is_null()
        || info.vtbl.is_null()
    {
        return None;
    }
    let mut v = Vec::new();
    for i in 0..=MAX_PROXY_IIDS {
        // SAFETY: NULL-terminated array of IID pointers (the generated static).
        let p = unsafe { *info.iids.add(i) };
        if p.is_null() {
            return (!v.is_empty()).then_some(v);
        }
        // SAFETY: each entry points to a generated IID.
        v.push(unsafe { (*p).uuid() });
    }
    None
}

/// Registers a generated interface's proxy description (called by `STEM_c.c`'s constructor).
/// A second description for the same IID replaces the first.
///
/// # Safety
/// `info` is NULL or a generated `MSRPC_PROXY_INFO` that lives as long as the program.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MsrpcRegisterProxy(info: *const MsrpcProxyInfo) -> i32 {
    if info.is_null() {
        return crate::status::RPC_S_INVALID_ARG;
    }
    // SAFETY: a generated description (caller).
    let Some(iids) = (unsafe { iids_of(info) }) else {
        return crate::status::RPC_S_INVALID_ARG;
    };
    infos().insert(iids[0], info as usize);
    0
}

/// `MsrpcCreateProxy(binding, ipid, riid, ppv)`: an interface pointer for the object `ipid`
/// reached through `binding` (the object exporter's), as interface `riid`, whose proxy the
/// program linked (its `STEM_c.c`). The proxy holds its own copy of the binding. `S_OK`;
/// `E_POINTER` for a NULL `ipid`/`riid`/`ppv`; `E_NOINTERFACE` when no linked proxy has `riid`;
/// `HRESULT_FROM_WIN32(RPC_S_INVALID_BINDING)` for a bad binding.
///
/// # Safety
/// `ipid` and `riid` are NULL or readable GUIDs; `ppv` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MsrpcCreateProxy(
    binding: *mut c_void,
    ipid: *const Guid,
    riid: *const Guid,
    ppv: *mut *mut c_void,
) -> i32 {
    if ppv.is_null() {
        return E_POINTER;
    }
    // SAFETY: writable (caller).
    unsafe { *ppv = std::ptr::null_mut() };
    if ipid.is_null() || riid.is_null() {
        return E_POINTER;
    }
    // SAFETY: readable GUIDs (caller).
    let (ipid, riid) = unsafe { ((*ipid).uuid(), (*riid).uuid()) };
    let Some(info) = infos().get(&riid).copied() else {
        return E_NOINTERFACE;
    };
    let info = info as *const MsrpcProxyInfo;
    // SAFETY: registered descriptions are generated statics.
    let (Some(iids), vtbl) = (unsafe { iids_of(info) }, unsafe { (*info).vtbl }) else {
        return E_NOINTERFACE;
    };
    let Some(b) = crate::binding::lookup(binding) else {
        return hresult_of(crate::status::RPC_S_INVALID_BINDING);
    };
    if live().len() >= MAX_PROXIES {
        return hresult_of(RPC_S_OUT_OF_RESOURCES);
    }
    let Some(h) = crate::binding::insert(b) else {
        return hresult_of(RPC_S_OUT_OF_RESOURCES);
    };
    let p = Box::into_raw(Box::new(Proxy {
        vtbl,
        refs: AtomicU32::new(1),
        binding: h,
        ipid,
        iids,
    }));
    live().insert(p as usize, ());
    // SAFETY: writable (caller).
    unsafe { *ppv = p.cast() };
    S_OK
}

/// A live proxy at `this`, or None.
fn proxy<'a>(this: *mut c_void) -> Option<&'a Proxy> {
    let l = live();
    // SAFETY: in the live table, so a Proxy this module allocated and has not freed; the
    // reference is used while the program holds a reference (COM's rule: no call after the
    // last Release).
    l.contains_key(&(this as usize))
        .then(|| unsafe { &*(this as *const Proxy) })
}

/// The proxies' `IUnknown::QueryInterface`: IUnknown and the IIDs of the proxy's description
/// (its own, its bases') answer the same proxy (AddRef'd); others `E_NOINTERFACE`, decided
/// locally (no IRemUnknown::RemQueryInterface).
///
/// # Safety
/// `riid` is NULL or a readable GUID; `ppv` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MsrpcProxyQueryInterface(
    this: *mut c_void,
    riid: *const Guid,
    ppv: *mut *mut c_void,
) -> i32 {
    if ppv.is_null() {
        return E_POINTER;
    }
    // SAFETY: writable (caller).
    unsafe { *ppv = std::ptr::null_mut() };
    let Some(p) = proxy(this) else {
        return E_POINTER;
    };
    if riid.is_null() {
        return E_POINTER;
    }
    // SAFETY: readable (caller).
    let riid = unsafe { (*riid).uuid() };
    if riid != IID_IUNKNOWN && !p.iids.contains(&riid) {
        return E_NOINTERFACE;
    }
    p.refs.fetch_add(1, Ordering::AcqRel);
    // SAFETY: writable (caller).
    unsafe { *ppv = this };
    S_OK
}

/// The proxies' `IUnknown::AddRef`: the new count (0 for a pointer that is not a live proxy).
#[unsafe(no_mangle)]
pub extern "C" fn MsrpcProxyAddRef(this: *mut c_void) -> u32 {
    proxy(this).map_or(0, |p| {
        p.refs.fetch_add(1, Ordering::AcqRel).saturating_add(1)
    })
}

/// The proxies' `IUnknown::Release`: the new count; at 0 the proxy and its binding copy are
/// freed (nothing is sent: no IRemUnknown::RemRelease).
#[unsafe(no_mangle)]
pub extern "C" fn MsrpcProxyRelease(this: *mut c_void) -> u32 {
    let mut l = live();
    if !l.contains_key(&(this as usize)) {
        return 0;
    }
    // SAFETY: a live proxy (in the table, whose lock we hold).
    let p = unsafe { &*(this as *const Proxy) };
    let n = p.refs.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
    if n == 0 {
        l.remove(&(this as usize));
        drop(l);
        // SAFETY: allocated by MsrpcCreateProxy with Box, now out of the live table.
        let p = unsafe { Box::from_raw(this.cast::<Proxy>()) };
        let mut h = p.binding as *mut c_void;
        // SAFETY: a local handle variable.
        let _ = unsafe { crate::binding::RpcBindingFree(&mut h) };
    }
    n
}

/// HRESULT of an RPC status, as MIDL's proxies return one: a status that is already an
/// HRESULT (a failure code, top bit set: a fault like `RPC_E_INVALID_OBJECT`) as it is, others
/// `HRESULT_FROM_WIN32`.
pub(crate) fn hresult_of(status: i32) -> i32 {
    if status <= 0 {
        status
    } else {
        ((status as u32 & 0xFFFF) | 0x8007_0000) as i32
    }
}

/// One method call of a generated proxy: sets `args[0]` (the table's handle_t) to the proxy's
/// binding and `*cid` to a fresh causality id, calls with the IPID as the object UUID, and
/// writes the out values and the HRESULT to `ret` as `MsrpcClientCall` does. Returns `S_OK`
/// when the call completed (the method's HRESULT is then in `ret`), `E_POINTER` when `this`
/// is not a live proxy, or the call's failure as an HRESULT (a status that already is an
/// HRESULT as it is, any other through `HRESULT_FROM_WIN32`). Never raises.
///
/// # Safety
/// As `MsrpcClientCall`; `args[0]` points to a writable `handle_t`, `cid` to a writable GUID.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MsrpcProxyCall(
    this: *mut c_void,
    itf: *const MsrpcInterface,
    proc: u32,
    cid: *mut Guid,
    args: *const *mut c_void,
    ret: *mut c_void,
) -> i32 {
    let Some(p) = proxy(this) else {
        return E_POINTER;
    };
    if args.is_null() || cid.is_null() {
        return E_INVALIDARG;
    }
    let (h, ipid) = (p.binding, p.ipid);
    // SAFETY: args[0] points to the stub's handle_t, cid to its ORPCTHIS's cid (caller).
    unsafe {
        *(*args).cast::<*mut c_void>() = h as *mut c_void;
        *cid = Guid::of(uuid::Uuid::new_v4());
    }
    // SAFETY: as MsrpcClientCall (caller).
    hresult_of(unsafe { crate::engine::client_call(itf, proc, Some(ipid), args, ret) })
}

// ---- the server: objects registered under IPIDs ----------------------------------------------

/// How many objects may be registered at once. Default 2^16.
pub const MAX_OBJECTS: usize = 1 << 16;

/// `MSRPC_STUB_INFO`, one per generated interface in `STEM_s.c`.
#[repr(C)]
#[derive(Debug)]
pub struct MsrpcStubInfo {
    version: u32,
    /// As [`MsrpcProxyInfo`]'s: the interface's IID first, then its bases'.
    iids: *const *const Guid,
    /// The interface's `MSRPC_SERVER_INTERFACE` (what `RpcServerRegisterIf` takes).
    ifspec: *mut c_void,
}

/// A registered object: the IIDs it answers (its interface's, its bases') and the pointer.
struct Object {
    iids: Vec<uuid::Uuid>,
    this: usize,
}

/// Registered stubs by their own IID (the description's address).
fn stubs() -> MutexGuard<'static, HashMap<uuid::Uuid, usize>> {
    static T: OnceLock<Mutex<HashMap<uuid::Uuid, usize>>> = OnceLock::new();
    T.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Registered objects by IPID, and the interfaces (`MSRPC_SERVER_INTERFACE` addresses)
/// registered with the server for them.
type Objects = (HashMap<uuid::Uuid, Object>, Vec<usize>);

fn objects() -> MutexGuard<'static, Objects> {
    static T: OnceLock<Mutex<Objects>> = OnceLock::new();
    T.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Registers a generated interface's server stubs (called by `STEM_s.c`'s constructor).
///
/// # Safety
/// `info` is NULL or a generated `MSRPC_STUB_INFO` that lives as long as the program.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MsrpcRegisterStub(info: *const MsrpcStubInfo) -> i32 {
    if info.is_null() {
        return crate::status::RPC_S_INVALID_ARG;
    }
    // SAFETY: a generated description (caller); the same layout up to the third field.
    let Some(iids) = (unsafe { iids_of(info.cast()) }) else {
        return crate::status::RPC_S_INVALID_ARG;
    };
    stubs().insert(iids[0], info as usize);
    0
}

/// `MsrpcRegisterObject(ipid, riid, pUnk)`: serves the C object `pUnk` (its first member the
/// vtable pointer of interface `riid`, whose stubs the program linked: its `STEM_s.c`) under
/// `ipid`; calls whose object UUID is `ipid` and whose interface is `riid` or one of its bases
/// go to its vtable. The interface (and its bases whose stubs are linked) is registered with
/// the server (`RpcServerRegisterIf`) the first time. The program keeps the object alive until `MsrpcRevokeObject` (no reference is
/// taken: the library does not call AddRef/Release). `S_OK`; `E_POINTER` for NULL arguments;
/// `E_NOINTERFACE` when no linked stub has `riid`; `E_INVALIDARG` when `ipid` is registered
/// already; an `RpcServerRegisterIf` failure as an HRESULT.
///
/// # Safety
/// `ipid` and `riid` are NULL or readable GUIDs; `punk` is NULL or a C object of `riid`'s
/// interface that outlives its registration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MsrpcRegisterObject(
    ipid: *const Guid,
    riid: *const Guid,
    punk: *mut c_void,
) -> i32 {
    if ipid.is_null() || riid.is_null() || punk.is_null() {
        return E_POINTER;
    }
    // SAFETY: readable GUIDs (caller).
    let (ipid, riid) = unsafe { ((*ipid).uuid(), (*riid).uuid()) };
    let Some(info) = stubs().get(&riid).copied() else {
        return E_NOINTERFACE;
    };
    let info = info as *const MsrpcStubInfo;
    // SAFETY: registered descriptions are generated statics.
    let (Some(iids), ifspec) = (unsafe { iids_of(info.cast()) }, unsafe { (*info).ifspec }) else {
        return E_NOINTERFACE;
    };
    let mut o = objects();
    if o.0.contains_key(&ipid) {
        return E_INVALIDARG;
    }
    if o.0.len() >= MAX_OBJECTS {
        return hresult_of(RPC_S_OUT_OF_RESOURCES);
    }
    // The interface's stubs, and its bases' where linked (a client may call a base's methods
    // through the base's IID).
    let mut specs = vec![ifspec];
    {
        let st = stubs();
        for b in &iids[1..] {
            if let Some(i) = st.get(b) {
                // SAFETY: registered descriptions are generated statics.
                specs.push(unsafe { (*(*i as *const MsrpcStubInfo)).ifspec });
            }
        }
    }
    for spec in specs {
        if o.1.contains(&(spec as usize)) {
            continue;
        }
        // SAFETY: a generated MSRPC_SERVER_INTERFACE.
        let s = unsafe {
            crate::server::RpcServerRegisterIf(spec, std::ptr::null_mut(), std::ptr::null_mut())
        };
        if s != 0 {
            return hresult_of(s);
        }
        o.1.push(spec as usize);
    }
    o.0.insert(
        ipid,
        Object {
            iids,
            this: punk as usize,
        },
    );
    S_OK
}

/// `MsrpcRevokeObject(ipid)`: stops serving the object registered under `ipid` (calls then
/// fault with `RPC_E_DISCONNECTED`); the interface stays registered. `S_OK`, `E_POINTER`, or
/// `E_INVALIDARG` for an IPID that is not registered.
///
/// # Safety
/// `ipid` is NULL or a readable GUID.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MsrpcRevokeObject(ipid: *const Guid) -> i32 {
    if ipid.is_null() {
        return E_POINTER;
    }
    // SAFETY: readable (caller).
    let ipid = unsafe { (*ipid).uuid() };
    match objects().0.remove(&ipid) {
        Some(_) => S_OK,
        None => E_INVALIDARG,
    }
}

/// For a generated server thunk: the object a call on server binding `h` is for (its object
/// UUID, the IPID) when it was registered for interface `riid` or a derived one; NULL otherwise
/// (the thunk then faults with `RPC_E_DISCONNECTED`, 0x80010108: MS-DCOM 3.1.1.5.4, "If the
/// IPID entry is not found, the object exporter MUST return RPC_E_DISCONNECTED").
///
/// # Safety
/// `riid` is NULL or a readable GUID.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MsrpcServerObject(h: *mut c_void, riid: *const Guid) -> *mut c_void {
    if riid.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: readable (caller).
    let riid = unsafe { (*riid).uuid() };
    let Some(ipid) = crate::binding::lookup_server(h).and_then(|c| c.object) else {
        return std::ptr::null_mut();
    };
    match objects().0.get(&ipid) {
        Some(o) if o.iids.contains(&riid) => o.this as *mut c_void,
        _ => std::ptr::null_mut(),
    }
}
