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

/// What a binding handle names: a client binding (`RpcBindingFromStringBinding`), or the server
/// binding handle a manager receives for its call (valid during the call).
enum Entry {
    Client(Binding),
    Server(std::sync::Arc<ServerCall>),
}

/// The server side of one call, as `RpcBindingInqAuthClient` sees it through the manager's
/// binding handle. The principal strings are owned here, so the `Privs` pointers handed out stay
/// valid until the call ends (as on Windows).
#[derive(Debug)]
pub(crate) struct ServerCall {
    pub(crate) client: Option<msrpc::ClientIdentity>,
    /// The server's principal name (`RpcServerRegisterAuthInfo`).
    pub(crate) server_principal: String,
    pub(crate) privs_a: std::ffi::CString,
    pub(crate) privs_w: Vec<u16>,
    /// Set when the client cancels the call (`RpcServerTestCancel` on this handle).
    pub(crate) cancelled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// `RpcBindingToStringBinding` of this handle: the client's protocol sequence and network
    /// address (and the call's object UUID), without an endpoint, as Windows gives it.
    pub(crate) peer: String,
    /// The request's object UUID (a COM call's IPID).
    pub(crate) object: Option<uuid::Uuid>,
}

impl ServerCall {
    pub(crate) fn new(
        client: Option<msrpc::ClientIdentity>,
        server_principal: String,
        cancelled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        let name = client.as_ref().map(|c| c.to_string()).unwrap_or_default();
        let mut w: Vec<u16> = name.encode_utf16().collect();
        w.push(0);
        ServerCall {
            privs_a: std::ffi::CString::new(name.replace('\0', "")).unwrap_or_default(),
            privs_w: w,
            client,
            server_principal,
            cancelled,
            peer: String::new(),
            object: None,
        }
    }

    /// The same, with `RpcBindingToStringBinding`'s string for the call.
    pub(crate) fn with_peer(mut self, peer: String) -> Self {
        self.peer = peer;
        self
    }

    /// The same, with the request's object UUID.
    pub(crate) fn with_object(mut self, object: Option<uuid::Uuid>) -> Self {
        self.object = object;
        self
    }
}

/// The string binding of a server call's binding handle: `[object@]protseq:client-address`, as
/// `RpcBindingToStringBinding` gives it on Windows for a server call (the client's address; a
/// local `ncalrpc` caller has no network address, so it is `ncalrpc:`).
pub(crate) fn client_string_binding(
    object: Option<uuid::Uuid>,
    peer: &msrpc::transport::PeerAddr,
) -> String {
    let mut s = String::new();
    if let Some(o) = object.filter(|o| !o.is_nil()) {
        s.push_str(&o.hyphenated().to_string());
        s.push('@');
    }
    match peer {
        msrpc::transport::PeerAddr::Tcp(a) => {
            s.push_str("ncacn_ip_tcp:");
            s.push_str(&a.ip().to_string());
        }
        msrpc::transport::PeerAddr::Local => s.push_str("ncalrpc:"),
    }
    s
}

struct Table {
    next: usize,
    map: HashMap<usize, Entry>,
    /// What `RpcBindingSetAuthInfo(Ex)` set on each client handle (`RpcBindingInqAuthInfo`).
    auth: HashMap<usize, AuthRecord>,
}

/// The authentication `RpcBindingSetAuthInfo(Ex)` set on a client handle, as
/// `RpcBindingInqAuthInfo(Ex)` reports it: the level and service in effect (default and
/// `RPC_C_AUTHN_LEVEL_CALL` resolved as they are used), the identity handle the program passed,
/// the principal name, the authorization service and the version-1 QOS fields.
#[derive(Clone, Debug)]
struct AuthRecord {
    principal: Option<String>,
    level: u32,
    service: u32,
    identity: usize,
    authz: u32,
    /// Capabilities, IdentityTracking, ImpersonationType (zero: the defaults, without a QOS).
    qos: [u32; 3],
}

fn table() -> MutexGuard<'static, Table> {
    static T: OnceLock<Mutex<Table>> = OnceLock::new();
    T.get_or_init(|| {
        Mutex::new(Table {
            next: 0x1000,
            map: HashMap::new(),
            auth: HashMap::new(),
        })
    })
    .lock()
    .unwrap_or_else(|p| p.into_inner())
}

/// The binding a handle names.
pub(crate) fn lookup(h: *mut c_void) -> Option<Binding> {
    match table().map.get(&(h as usize)) {
        Some(Entry::Client(b)) => Some(b.clone()),
        _ => None,
    }
}

/// The server call a manager's binding handle names.
pub(crate) fn lookup_server(h: *mut c_void) -> Option<std::sync::Arc<ServerCall>> {
    match table().map.get(&(h as usize)) {
        Some(Entry::Server(c)) => Some(c.clone()),
        _ => None,
    }
}

/// A server binding handle for a call (NULL-like 0 when the table is full: the manager then
/// gets NULL, as before).
pub(crate) fn insert_server(c: ServerCall) -> usize {
    insert_entry(Entry::Server(std::sync::Arc::new(c))).unwrap_or(0)
}

/// Ends a server binding handle (the call was answered).
pub(crate) fn remove_server(h: usize) {
    let mut t = table();
    if let Some(Entry::Server(_)) = t.map.get(&h) {
        t.map.remove(&h);
    }
}

pub(crate) fn insert(b: Binding) -> Option<usize> {
    insert_entry(Entry::Client(b))
}

fn insert_entry(b: Entry) -> Option<usize> {
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

/// The environment variable naming the endpoint mapper's TCP port on 127.0.0.1 (default 135, the
/// well-known one): where bindings without an endpoint are resolved and `RpcEpRegister`
/// registers. For tests and for hosts whose endpoint mapper is elsewhere.
pub(crate) const EPM_PORT_VAR: &str = "MSRPC_EPM_PORT";

/// The endpoint mapper's port from [`EPM_PORT_VAR`], when set and valid.
pub(crate) fn epm_port() -> Option<u16> {
    std::env::var(EPM_PORT_VAR).ok()?.parse().ok()
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
    // A binding without an endpoint asks the endpoint mapper on MSRPC_EPM_PORT (default 135).
    let b = match epm_port() {
        Some(port) if port != b.options().endpoint_mapper_port => {
            let mut o = b.options().clone();
            o.endpoint_mapper_port = port;
            match Binding::with_options(&s, o) {
                Ok(b) => b,
                Err(e) => return of(&e),
            }
        }
        _ => b,
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
    {
        let mut t = table();
        match t.map.get(&(h as usize)) {
            Some(Entry::Client(_)) => {
                t.map.remove(&(h as usize));
                t.auth.remove(&(h as usize));
            }
            Some(Entry::Server(_)) => return RPC_S_WRONG_KIND_OF_BINDING,
            None => return RPC_S_INVALID_BINDING,
        }
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
    replace_options(h, &b, opts)
}

/// Points handle `h` (naming `b`) at a binding like `b` with `opts`.
fn replace_options(h: *mut c_void, b: &Binding, opts: msrpc::BindingOptions) -> i32 {
    let nb = match Binding::with_options(&b.string_binding().to_string(), opts) {
        Ok(nb) => nb,
        Err(e) => return of(&e),
    };
    match table().map.get_mut(&(h as usize)) {
        Some(slot @ Entry::Client(_)) => {
            *slot = Entry::Client(nb);
            RPC_S_OK
        }
        _ => RPC_S_INVALID_BINDING,
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

/// `RPC_S_WRONG_KIND_OF_BINDING`: a server binding handle where a client one is needed.
pub(crate) const RPC_S_WRONG_KIND_OF_BINDING: i32 = 1701;
/// `RPC_S_UNKNOWN_AUTHN_SERVICE`.
pub(crate) const RPC_S_UNKNOWN_AUTHN_SERVICE: i32 = 1747;
/// `RPC_S_UNKNOWN_AUTHN_LEVEL`.
pub(crate) const RPC_S_UNKNOWN_AUTHN_LEVEL: i32 = 1748;
/// `RPC_S_INVALID_AUTH_IDENTITY`.
pub(crate) const RPC_S_INVALID_AUTH_IDENTITY: i32 = 1749;
/// `RPC_S_UNKNOWN_AUTHZ_SERVICE`.
pub(crate) const RPC_S_UNKNOWN_AUTHZ_SERVICE: i32 = 1750;

/// `RPC_C_AUTHN_NONE`, `RPC_C_AUTHN_GSS_NEGOTIATE`, `RPC_C_AUTHN_WINNT`,
/// `RPC_C_AUTHN_GSS_KERBEROS`, `RPC_C_AUTHN_DEFAULT`.
pub(crate) const RPC_C_AUTHN_NONE: u32 = 0;
pub(crate) const RPC_C_AUTHN_GSS_NEGOTIATE: u32 = 9;
pub(crate) const RPC_C_AUTHN_WINNT: u32 = 10;
pub(crate) const RPC_C_AUTHN_GSS_KERBEROS: u32 = 16;
pub(crate) const RPC_C_AUTHN_DEFAULT: u32 = 0xFFFF_FFFF;
/// `SEC_WINNT_AUTH_IDENTITY_ANSI` / `_UNICODE`: how the identity's strings are encoded.
const SEC_WINNT_AUTH_IDENTITY_ANSI: u32 = 0x1;
const SEC_WINNT_AUTH_IDENTITY_UNICODE: u32 = 0x2;
/// `RPC_C_SECURITY_QOS_VERSION`: the oldest `RPC_SECURITY_QOS` (later versions extend it).
const RPC_C_SECURITY_QOS_VERSION: u32 = 1;
/// The newest `RPC_SECURITY_QOS_V*` version Windows defines.
const RPC_C_SECURITY_QOS_VERSION_MAX: u32 = 5;

/// The environment variable naming the KDC (`tcp://HOST:PORT`) for Kerberos bindings
/// (`RPC_C_AUTHN_GSS_KERBEROS`, and `RPC_C_AUTHN_GSS_NEGOTIATE` choosing Kerberos): Windows
/// finds the domain's KDC itself; here it must be named.
pub(crate) const KDC_VAR: &str = "MSRPC_KDC";

/// `SEC_WINNT_AUTH_IDENTITY_A` / `_W` with Windows' layout (the lengths are 32-bit `ULONG`s,
/// in characters, without a NUL): `U` is `u8` or `u16`.
#[repr(C)]
#[derive(Debug)]
pub struct SecWinntAuthIdentity<U> {
    user: *const U,
    user_length: u32,
    domain: *const U,
    domain_length: u32,
    password: *const U,
    password_length: u32,
    flags: u32,
}

/// `RPC_SECURITY_QOS` (version 1; the later versions start the same).
#[repr(C)]
#[derive(Debug)]
pub struct RpcSecurityQos {
    version: u32,
    capabilities: u32,
    identity_tracking: u32,
    impersonation_type: u32,
}

/// Reads `len` units at `p` (NULL with length 0 is the empty string).
///
/// # Safety
/// `p` points to `len` readable units, or is NULL.
unsafe fn units<U: Copy>(p: *const U, len: u32) -> Result<Vec<U>, i32> {
    let len = len as usize;
    if len > strings::MAX_STRING_UNITS {
        return Err(RPC_S_INVALID_ARG);
    }
    if p.is_null() {
        return if len == 0 {
            Ok(Vec::new())
        } else {
            Err(RPC_S_INVALID_ARG)
        };
    }
    // SAFETY: p points to len readable units (caller), len is bounded.
    Ok(unsafe { std::slice::from_raw_parts(p, len) }.to_vec())
}

/// The credentials of a `SEC_WINNT_AUTH_IDENTITY_A/W` (which one by its Flags, as on Windows,
/// whichever function was called).
///
/// # Safety
/// `id` points to a `SEC_WINNT_AUTH_IDENTITY_A` or `_W` whose pointers and lengths agree.
unsafe fn identity(id: *const c_void) -> Result<msrpc::Credentials, i32> {
    // SAFETY: both forms have the same layout up to the pointee type; Flags is read first.
    let flags = unsafe { (*(id as *const SecWinntAuthIdentity<u8>)).flags };
    let (user, domain, password) = match flags {
        SEC_WINNT_AUTH_IDENTITY_ANSI => {
            // SAFETY: an ANSI identity (its Flags say so, the caller's contract).
            let i = unsafe { &*(id as *const SecWinntAuthIdentity<u8>) };
            let s = |p, n| -> Result<String, i32> {
                // SAFETY: the identity's pointer and length (caller).
                let v = unsafe { units(p, n) }?;
                String::from_utf8(v).map_err(|_| RPC_S_INVALID_ARG)
            };
            (
                s(i.user, i.user_length)?,
                s(i.domain, i.domain_length)?,
                s(i.password, i.password_length)?,
            )
        }
        SEC_WINNT_AUTH_IDENTITY_UNICODE => {
            // SAFETY: a UTF-16 identity (its Flags say so).
            let i = unsafe { &*(id as *const SecWinntAuthIdentity<u16>) };
            let s = |p, n| -> Result<String, i32> {
                // SAFETY: the identity's pointer and length (caller).
                let v = unsafe { units(p, n) }?;
                String::from_utf16(&v).map_err(|_| RPC_S_INVALID_ARG)
            };
            (
                s(i.user, i.user_length)?,
                s(i.domain, i.domain_length)?,
                s(i.password, i.password_length)?,
            )
        }
        _ => return Err(RPC_S_INVALID_ARG),
    };
    if [&user, &domain, &password].iter().any(|s| s.contains('\0')) {
        return Err(RPC_S_INVALID_ARG);
    }
    Ok(if domain.is_empty() {
        // `DOMAIN\user` or `user@domain` in User, as Windows accepts it.
        msrpc::Credentials::parse(&user, password)
    } else {
        msrpc::Credentials::new(user, domain, password)
    })
}

/// The `AuthInfo` of `RpcBindingSetAuthInfo(Ex)`'s arguments; `None`: no authentication.
pub(crate) fn auth_info(
    principal: Option<String>,
    level: u32,
    service: u32,
    credentials: Option<msrpc::Credentials>,
    authz: u32,
    kdc: Option<String>,
) -> Result<Option<msrpc::AuthInfo>, i32> {
    use msrpc::{AuthInfo, AuthnLevel, AuthnService};
    // RPC_C_AUTHZ_NONE, _NAME, _DCE, _DEFAULT: accepted, not used (the packages have none).
    if !matches!(authz, 0..=2 | 0xFFFF_FFFF) {
        return Err(RPC_S_UNKNOWN_AUTHZ_SERVICE);
    }
    // RPC_C_AUTHN_LEVEL_DEFAULT (0) is connect, as Windows' default for these packages.
    let level = match level {
        0 | 2 => AuthnLevel::Connect,
        1 => AuthnLevel::None,
        3 => AuthnLevel::Call,
        4 => AuthnLevel::Pkt,
        5 => AuthnLevel::PktIntegrity,
        6 => AuthnLevel::PktPrivacy,
        _ => return Err(RPC_S_UNKNOWN_AUTHN_LEVEL),
    };
    let service = match service {
        RPC_C_AUTHN_NONE => return Ok(None),
        RPC_C_AUTHN_WINNT | RPC_C_AUTHN_DEFAULT => AuthnService::Ntlm,
        RPC_C_AUTHN_GSS_NEGOTIATE => AuthnService::Negotiate,
        RPC_C_AUTHN_GSS_KERBEROS => AuthnService::Kerberos,
        _ => return Err(RPC_S_UNKNOWN_AUTHN_SERVICE),
    };
    if level == AuthnLevel::None {
        return Ok(None);
    }
    let kerberos =
        service == AuthnService::Kerberos || (service == AuthnService::Negotiate && kdc.is_some());
    if kerberos {
        // A NULL identity: the TGT of the cache KRB5CCNAME names (the library reads it).
        let creds = credentials.unwrap_or_else(|| msrpc::Credentials::new("", "", ""));
        let (Some(kdc), Some(spn)) = (kdc, principal.filter(|p| !p.is_empty())) else {
            // Kerberos needs the KDC (MSRPC_KDC) and the server's principal name.
            return Err(RPC_S_INVALID_AUTH_IDENTITY);
        };
        return Ok(Some(if service == AuthnService::Kerberos {
            AuthInfo::kerberos(level, creds, kdc, spn)
        } else {
            AuthInfo::negotiate_kerberos(level, creds, kdc, spn)
        }));
    }
    // NTLM needs the user's credentials: there is no logged-on Windows user to default to.
    let creds = credentials.ok_or(RPC_S_INVALID_AUTH_IDENTITY)?;
    Ok(Some(match service {
        AuthnService::Negotiate => AuthInfo::negotiate(level, creds),
        _ => AuthInfo::ntlm(level, creds),
    }))
}

/// The common part of the four `RpcBindingSetAuthInfo` functions.
///
/// # Safety
/// `identity` is NULL or a `SEC_WINNT_AUTH_IDENTITY_A/W`; `qos` is NULL or an `RPC_SECURITY_QOS`.
#[allow(clippy::too_many_arguments)]
unsafe fn set_auth_info(
    h: *mut c_void,
    principal: Result<Option<String>, ()>,
    level: std::ffi::c_ulong,
    service: std::ffi::c_ulong,
    identity_p: *mut c_void,
    authz: std::ffi::c_ulong,
    qos: *const RpcSecurityQos,
) -> i32 {
    let Some(b) = lookup(h) else {
        return match table().map.get(&(h as usize)) {
            Some(Entry::Server(_)) => RPC_S_WRONG_KIND_OF_BINDING,
            _ => RPC_S_INVALID_BINDING,
        };
    };
    let Ok(principal) = principal else {
        return RPC_S_INVALID_ARG;
    };
    let (Ok(level), Ok(service), Ok(authz)) = (
        u32::try_from(level),
        u32::try_from(service),
        u32::try_from(authz),
    ) else {
        return RPC_S_INVALID_ARG;
    };
    let mut qos_fields = [0u32; 3];
    if !qos.is_null() {
        // SAFETY: qos points to an RPC_SECURITY_QOS (caller).
        let q = unsafe { &*qos };
        if !(RPC_C_SECURITY_QOS_VERSION..=RPC_C_SECURITY_QOS_VERSION_MAX).contains(&q.version) {
            return RPC_S_INVALID_ARG;
        }
        qos_fields = [q.capabilities, q.identity_tracking, q.impersonation_type];
    }
    let creds = if identity_p.is_null() {
        None
    } else {
        // SAFETY: identity_p is a SEC_WINNT_AUTH_IDENTITY_A/W (caller).
        match unsafe { identity(identity_p) } {
            Ok(c) => Some(c),
            Err(s) => return s,
        }
    };
    let kdc = std::env::var(KDC_VAR).ok().filter(|k| !k.is_empty());
    let info = match auth_info(principal.clone(), level, service, creds, authz, kdc) {
        Ok(i) => i,
        Err(s) => return s,
    };
    let record = info.as_ref().map(|_| AuthRecord {
        principal,
        // As the calls use them: default is connect, call is raised to packet.
        level: match level {
            0 => 2,
            3 => 4,
            l => l,
        },
        service: if service == RPC_C_AUTHN_DEFAULT {
            RPC_C_AUTHN_WINNT
        } else {
            service
        },
        identity: identity_p as usize,
        authz: if authz == 0xFFFF_FFFF { 0 } else { authz },
        qos: qos_fields,
    });
    let mut opts = b.options().clone();
    opts.auth = info;
    let s = replace_options(h, &b, opts);
    if s == RPC_S_OK {
        let mut t = table();
        match record {
            Some(r) => t.auth.insert(h as usize, r),
            None => t.auth.remove(&(h as usize)),
        };
    }
    s
}

/// `RPC_S_BINDING_HAS_NO_AUTH`: a client handle without `RpcBindingSetAuthInfo`.
const RPC_S_BINDING_HAS_NO_AUTH: i32 = 1746;

/// The client handle's record for `RpcBindingInqAuthInfo`: 1702 for a handle that is not one,
/// 1701 for a server call's handle, 1746 without authentication.
fn auth_record(h: *mut c_void) -> Result<AuthRecord, i32> {
    let t = table();
    match t.map.get(&(h as usize)) {
        Some(Entry::Client(_)) => t
            .auth
            .get(&(h as usize))
            .cloned()
            .ok_or(RPC_S_BINDING_HAS_NO_AUTH),
        Some(Entry::Server(_)) => Err(RPC_S_WRONG_KIND_OF_BINDING),
        None => Err(RPC_S_INVALID_BINDING),
    }
}

/// The common part of the four `RpcBindingInqAuthInfo` functions; `wide` picks the string form.
///
/// # Safety
/// Each out pointer is NULL or writable; `qos` is NULL or a writable `RPC_SECURITY_QOS`.
#[allow(clippy::too_many_arguments)]
unsafe fn inq_auth_info(
    h: *mut c_void,
    principal: *mut *mut c_void,
    level: *mut std::ffi::c_ulong,
    service: *mut std::ffi::c_ulong,
    identity: *mut *mut c_void,
    authz: *mut std::ffi::c_ulong,
    qos_version: std::ffi::c_ulong,
    qos: *mut RpcSecurityQos,
    wide: bool,
) -> i32 {
    let r = match auth_record(h) {
        Ok(r) => r,
        Err(s) => return s,
    };
    if !qos.is_null() && qos_version < std::ffi::c_ulong::from(RPC_C_SECURITY_QOS_VERSION) {
        return RPC_S_INVALID_ARG;
    }
    let name: *mut c_void = match (&r.principal, wide) {
        (None, _) => std::ptr::null_mut(),
        (Some(p), true) => strings::give_w(p).cast(),
        (Some(p), false) => match strings::give_a(p) {
            Some(p) => p.cast(),
            None => return RPC_S_OUT_OF_MEMORY,
        },
    };
    // SAFETY: each out pointer is NULL (skipped) or writable (caller).
    unsafe {
        if !principal.is_null() {
            // The program frees it with RpcStringFree (NULL when none was set).
            *principal = name;
        } else if !name.is_null() {
            if wide {
                strings::free_w(name.cast());
            } else {
                strings::free_a(name.cast());
            }
        }
        if !level.is_null() {
            *level = r.level.into();
        }
        if !service.is_null() {
            *service = r.service.into();
        }
        if !identity.is_null() {
            *identity = r.identity as *mut c_void;
        }
        if !authz.is_null() {
            *authz = r.authz.into();
        }
        if !qos.is_null() {
            *qos = RpcSecurityQos {
                version: RPC_C_SECURITY_QOS_VERSION,
                capabilities: r.qos[0],
                identity_tracking: r.qos[1],
                impersonation_type: r.qos[2],
            };
        }
    }
    RPC_S_OK
}

/// `RpcBindingInqAuthInfoA`: what `RpcBindingSetAuthInfo(Ex)` set on the client handle:
/// `ServerPrincName` (free it with `RpcStringFree`; NULL when none was given), `AuthnLevel` and
/// `AuthnSvc` as the calls use them (`RPC_C_AUTHN_LEVEL_DEFAULT` is connect, `_CALL` packet,
/// `RPC_C_AUTHN_DEFAULT` is `RPC_C_AUTHN_WINNT`), the `AuthIdentity` handle the program passed,
/// `AuthzSvc` (`RPC_C_AUTHZ_DEFAULT` is `NONE`). 1746 `RPC_S_BINDING_HAS_NO_AUTH` when none is
/// set (or it was removed with level or service none), 1701 for a server call's handle, 1702
/// for one that is not a handle.
///
/// # Safety
/// Each out pointer is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingInqAuthInfoA(
    h: *mut c_void,
    principal: *mut *mut u8,
    level: *mut std::ffi::c_ulong,
    service: *mut std::ffi::c_ulong,
    identity: *mut *mut c_void,
    authz: *mut std::ffi::c_ulong,
) -> i32 {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        inq_auth_info(
            h,
            principal.cast(),
            level,
            service,
            identity,
            authz,
            0,
            std::ptr::null_mut(),
            false,
        )
    }
}

/// `RpcBindingInqAuthInfoW`.
///
/// # Safety
/// As [`RpcBindingInqAuthInfoA`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingInqAuthInfoW(
    h: *mut c_void,
    principal: *mut *mut u16,
    level: *mut std::ffi::c_ulong,
    service: *mut std::ffi::c_ulong,
    identity: *mut *mut c_void,
    authz: *mut std::ffi::c_ulong,
) -> i32 {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        inq_auth_info(
            h,
            principal.cast(),
            level,
            service,
            identity,
            authz,
            0,
            std::ptr::null_mut(),
            true,
        )
    }
}

/// `RpcBindingInqAuthInfoExA`: [`RpcBindingInqAuthInfoA`] and the QOS: `SecurityQOS` (if not
/// NULL) gets the version-1 fields `RpcBindingSetAuthInfoEx` set (zeros, the defaults, when it
/// was given none), `Version` 1. `RpcQosVersion` below 1 with a QOS: 87.
///
/// # Safety
/// As [`RpcBindingInqAuthInfoA`]; `qos` is NULL or a writable `RPC_SECURITY_QOS`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn RpcBindingInqAuthInfoExA(
    h: *mut c_void,
    principal: *mut *mut u8,
    level: *mut std::ffi::c_ulong,
    service: *mut std::ffi::c_ulong,
    identity: *mut *mut c_void,
    authz: *mut std::ffi::c_ulong,
    qos_version: std::ffi::c_ulong,
    qos: *mut RpcSecurityQos,
) -> i32 {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        inq_auth_info(
            h,
            principal.cast(),
            level,
            service,
            identity,
            authz,
            qos_version,
            qos,
            false,
        )
    }
}

/// `RpcBindingInqAuthInfoExW`.
///
/// # Safety
/// As [`RpcBindingInqAuthInfoExA`].
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn RpcBindingInqAuthInfoExW(
    h: *mut c_void,
    principal: *mut *mut u16,
    level: *mut std::ffi::c_ulong,
    service: *mut std::ffi::c_ulong,
    identity: *mut *mut c_void,
    authz: *mut std::ffi::c_ulong,
    qos_version: std::ffi::c_ulong,
    qos: *mut RpcSecurityQos,
) -> i32 {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        inq_auth_info(
            h,
            principal.cast(),
            level,
            service,
            identity,
            authz,
            qos_version,
            qos,
            true,
        )
    }
}

/// The string `RpcBindingToStringBinding` gives for handle `h`: a client handle's binding
/// (`[object@]protseq:address[endpoint,options]`, as msrpc writes it), or a server call's
/// `protseq:client-address`.
fn to_string_binding(h: *mut c_void) -> Result<String, i32> {
    match table().map.get(&(h as usize)) {
        Some(Entry::Client(b)) => Ok(b.string_binding().to_string()),
        Some(Entry::Server(c)) => Ok(c.peer.clone()),
        None => Err(RPC_S_INVALID_BINDING),
    }
}

/// `RpcBindingToStringBindingA`: the string binding of a client handle (its protocol sequence,
/// address, endpoint and options, and object UUID if any), or of a manager's server binding
/// handle: the client's protocol sequence and network address, no endpoint (as Windows gives
/// it). Free it with `RpcStringFree`. A NULL `StringBinding` returns nothing (RPC_S_OK, as the
/// documentation allows); 1702 for a handle that is not one.
///
/// # Safety
/// `string_binding` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingToStringBindingA(
    h: *mut c_void,
    string_binding: *mut *mut u8,
) -> i32 {
    let s = match to_string_binding(h) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if string_binding.is_null() {
        return RPC_S_OK;
    }
    let Some(p) = strings::give_a(&s) else {
        return RPC_S_OUT_OF_MEMORY;
    };
    // SAFETY: not NULL, writable (caller).
    unsafe { *string_binding = p };
    RPC_S_OK
}

/// `RpcBindingToStringBindingW`.
///
/// # Safety
/// As [`RpcBindingToStringBindingA`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingToStringBindingW(
    h: *mut c_void,
    string_binding: *mut *mut u16,
) -> i32 {
    let s = match to_string_binding(h) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if !string_binding.is_null() {
        // SAFETY: not NULL, writable (caller).
        unsafe { *string_binding = strings::give_w(&s) };
    }
    RPC_S_OK
}

/// `RpcBindingCopy`: a new client handle naming the same binding, with its options and
/// authentication (`RpcBindingInqAuthInfo` reports the same); each handle changes and frees on
/// its own from then on. 1701 for a server call's handle, 1702 for one that is not a handle, 87
/// for a NULL `DestinationBinding`, 14 when `MAX_BINDINGS` (2^16) handles are open.
///
/// # Safety
/// `dest` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingCopy(src: *mut c_void, dest: *mut *mut c_void) -> i32 {
    let (b, auth) = {
        let t = table();
        match t.map.get(&(src as usize)) {
            Some(Entry::Client(b)) => (b.clone(), t.auth.get(&(src as usize)).cloned()),
            Some(Entry::Server(_)) => return RPC_S_WRONG_KIND_OF_BINDING,
            None => return RPC_S_INVALID_BINDING,
        }
    };
    if dest.is_null() {
        return RPC_S_INVALID_ARG;
    }
    let Some(h) = insert(b) else {
        return RPC_S_OUT_OF_MEMORY;
    };
    if let Some(a) = auth {
        table().auth.insert(h, a);
    }
    // SAFETY: not NULL, writable (caller).
    unsafe { *dest = h as *mut c_void };
    RPC_S_OK
}

/// `RpcBindingReset`: removes the client handle's endpoint, so the next call asks the endpoint
/// mapper again (port `MSRPC_EPM_PORT`, default 135); options and authentication stay. 1701 for a
/// server call's handle, 1702 for one that is not a handle.
#[unsafe(no_mangle)]
pub extern "C" fn RpcBindingReset(h: *mut c_void) -> i32 {
    let b = match table().map.get(&(h as usize)) {
        Some(Entry::Client(b)) => b.clone(),
        Some(Entry::Server(_)) => return RPC_S_WRONG_KIND_OF_BINDING,
        None => return RPC_S_INVALID_BINDING,
    };
    let sb = b.string_binding().clone().with_endpoint("");
    let mut opts = b.options().clone();
    if let Some(port) = epm_port() {
        opts.endpoint_mapper_port = port;
    }
    let nb = match Binding::with_options(&sb.to_string(), opts) {
        Ok(nb) => nb,
        Err(e) => return of(&e),
    };
    match table().map.get_mut(&(h as usize)) {
        Some(slot @ Entry::Client(_)) => {
            *slot = Entry::Client(nb);
            RPC_S_OK
        }
        _ => RPC_S_INVALID_BINDING,
    }
}

/// `RpcBindingSetAuthInfoExA`: authenticate the binding's calls. `AuthnLevel` 0 (default:
/// connect) or 1..6 (1, none, and `AuthnSvc` `RPC_C_AUTHN_NONE` remove authentication);
/// `AuthnSvc` `RPC_C_AUTHN_WINNT` (NTLM), `RPC_C_AUTHN_GSS_NEGOTIATE` (SPNEGO),
/// `RPC_C_AUTHN_GSS_KERBEROS` or `RPC_C_AUTHN_DEFAULT` (NTLM); `AuthIdentity` a
/// `SEC_WINNT_AUTH_IDENTITY_A` or `_W` (by its Flags). Kerberos needs `ServerPrincName` (the SPN)
/// and the KDC in `MSRPC_KDC`. `SecurityQos` is checked for its version and otherwise not used.
/// The next call opens a new, authenticated association; a logon the server refuses fails the
/// call with 5 `RPC_S_ACCESS_DENIED`.
///
/// # Safety
/// `principal` is NULL or NUL-terminated; `identity` NULL or a valid identity; `qos` NULL or a
/// valid `RPC_SECURITY_QOS`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingSetAuthInfoExA(
    h: *mut c_void,
    principal: *const u8,
    level: std::ffi::c_ulong,
    service: std::ffi::c_ulong,
    identity: *mut c_void,
    authz: std::ffi::c_ulong,
    qos: *const RpcSecurityQos,
) -> i32 {
    // SAFETY: the contract is the caller's, passed on.
    unsafe {
        set_auth_info(
            h,
            strings::arg_a(principal),
            level,
            service,
            identity,
            authz,
            qos,
        )
    }
}

/// `RpcBindingSetAuthInfoExW`.
///
/// # Safety
/// As [`RpcBindingSetAuthInfoExA`], with a 16-bit principal name.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingSetAuthInfoExW(
    h: *mut c_void,
    principal: *const u16,
    level: std::ffi::c_ulong,
    service: std::ffi::c_ulong,
    identity: *mut c_void,
    authz: std::ffi::c_ulong,
    qos: *const RpcSecurityQos,
) -> i32 {
    // SAFETY: the contract is the caller's, passed on.
    unsafe {
        set_auth_info(
            h,
            strings::arg_w(principal),
            level,
            service,
            identity,
            authz,
            qos,
        )
    }
}

/// `RpcBindingSetAuthInfoA`: [`RpcBindingSetAuthInfoExA`] without a QOS.
///
/// # Safety
/// As [`RpcBindingSetAuthInfoExA`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingSetAuthInfoA(
    h: *mut c_void,
    principal: *const u8,
    level: std::ffi::c_ulong,
    service: std::ffi::c_ulong,
    identity: *mut c_void,
    authz: std::ffi::c_ulong,
) -> i32 {
    // SAFETY: the contract is the caller's, passed on.
    unsafe {
        RpcBindingSetAuthInfoExA(
            h,
            principal,
            level,
            service,
            identity,
            authz,
            std::ptr::null(),
        )
    }
}

/// `RpcBindingSetAuthInfoW`.
///
/// # Safety
/// As [`RpcBindingSetAuthInfoExW`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingSetAuthInfoW(
    h: *mut c_void,
    principal: *const u16,
    level: std::ffi::c_ulong,
    service: std::ffi::c_ulong,
    identity: *mut c_void,
    authz: std::ffi::c_ulong,
) -> i32 {
    // SAFETY: the contract is the caller's, passed on.
    unsafe {
        RpcBindingSetAuthInfoExW(
            h,
            principal,
            level,
            service,
            identity,
            authz,
            std::ptr::null(),
        )
    }
}

/// `RPC_S_CANNOT_SUPPORT`: `RpcBindingServerFromClient` cannot name the client's host.
const RPC_S_CANNOT_SUPPORT: i32 = 1764;

/// `RpcBindingServerFromClient`: a partially-bound client handle to the caller of a manager's
/// call (`ClientBinding` its server binding handle, or NULL for the call this thread's
/// synchronous manager runs): the client's protocol sequence and network address and the call's
/// object UUID, no endpoint and no authentication, as the documentation describes it (free it
/// with `RpcBindingFree`; `RpcBindingToStringBinding` names the client's address). 1764
/// `RPC_S_CANNOT_SUPPORT` for an `ncalrpc` caller (a local socket has no address to bind to
/// here), 1701 for a client handle, 1702 for one that is not a handle (or NULL outside a call).
///
/// # Safety
/// `server_binding` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RpcBindingServerFromClient(
    client_binding: *mut c_void,
    server_binding: *mut *mut c_void,
) -> i32 {
    let h = if client_binding.is_null() {
        crate::server::current_binding()
    } else {
        client_binding as usize
    };
    let peer = match table().map.get(&h) {
        Some(Entry::Server(c)) => c.peer.clone(),
        Some(Entry::Client(_)) => return RPC_S_WRONG_KIND_OF_BINDING,
        None => return RPC_S_INVALID_BINDING,
    };
    if !peer.contains("ncacn_ip_tcp:") {
        return RPC_S_CANNOT_SUPPORT;
    }
    from_string(Ok(Some(peer)), server_binding)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn auth_arguments_map_onto_auth_info() {
        use msrpc::{AuthnLevel, AuthnService, Credentials};
        let c = || Some(Credentials::new("alice", "", "pw"));
        let i = auth_info(None, 6, RPC_C_AUTHN_WINNT, c(), 0, None)
            .unwrap()
            .unwrap();
        assert_eq!(
            (i.level, i.service),
            (AuthnLevel::PktPrivacy, AuthnService::Ntlm)
        );
        let i = auth_info(None, 0, RPC_C_AUTHN_DEFAULT, c(), 0, None)
            .unwrap()
            .unwrap();
        assert_eq!(
            (i.level, i.service),
            (AuthnLevel::Connect, AuthnService::Ntlm)
        );
        let i = auth_info(None, 5, RPC_C_AUTHN_GSS_NEGOTIATE, c(), 0, None)
            .unwrap()
            .unwrap();
        assert_eq!(i.service, AuthnService::Negotiate);
        assert!(i.kerberos.is_none());
        let k = auth_info(
            s("host/server.example"),
            4,
            RPC_C_AUTHN_GSS_KERBEROS,
            None,
            0,
            s("tcp://127.0.0.1:88"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(k.service, AuthnService::Kerberos);
        assert_eq!(
            k.kerberos.as_ref().map(|t| t.service_principal.as_str()),
            Some("host/server.example")
        );
        // Level none and service none: no authentication.
        assert_eq!(
            auth_info(None, 1, RPC_C_AUTHN_WINNT, c(), 0, None),
            Ok(None)
        );
        assert_eq!(auth_info(None, 6, RPC_C_AUTHN_NONE, c(), 0, None), Ok(None));
        // Errors, with Windows' codes.
        assert_eq!(
            auth_info(None, 7, RPC_C_AUTHN_WINNT, c(), 0, None),
            Err(RPC_S_UNKNOWN_AUTHN_LEVEL)
        );
        assert_eq!(
            auth_info(None, 6, 68, c(), 0, None),
            Err(RPC_S_UNKNOWN_AUTHN_SERVICE)
        );
        assert_eq!(
            auth_info(None, 6, RPC_C_AUTHN_WINNT, c(), 9, None),
            Err(RPC_S_UNKNOWN_AUTHZ_SERVICE)
        );
        assert_eq!(
            auth_info(None, 6, RPC_C_AUTHN_WINNT, None, 0, None),
            Err(RPC_S_INVALID_AUTH_IDENTITY)
        );
        assert_eq!(
            auth_info(None, 6, RPC_C_AUTHN_GSS_KERBEROS, c(), 0, None),
            Err(RPC_S_INVALID_AUTH_IDENTITY)
        );
    }
}
