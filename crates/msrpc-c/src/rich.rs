//! Constructed types for the C stubs: structures, arrays, strings, pointers, unions, enums and
//! context handles, described by the `MSRPC_TYPEDESC` graphs `msrpc idl --lang c` writes.
//!
//! Three steps, each its own function: C memory to an owned value ([`V`], on the thread that owns
//! the memory: the sizes and offsets are the C compiler's `sizeof`/`offsetof`, the conformance
//! and switch expressions are C functions of the stubs), the value to NDR and back through
//! msrpc-ndr's `Encoder`/`Decoder` and its types (`NdrString`, `WideString`, `ContextHandle`,
//! the primitives' `NdrEncode`/`NdrDecode`), following the Rust stubs' layout rules (heads, then
//! deferred pointees; hoisted conformance; NDR64's union and structure padding), and the value
//! back to C memory, pointees allocated with the program's `MIDL_user_allocate`.

use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, c_void};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use msrpc_ndr::{
    ContextHandle, Decoder, Encoder, Error, ErrorKind, Int3264, NdrConformant, NdrConformantDecode,
    NdrDecode, NdrEncode, NdrString, Syntax, UInt3264, WideString,
};

use crate::status::*;

/// Nesting (structures, pointees) followed in C memory and on the wire, so that a cyclic list
/// in C memory or a deep message cannot exhaust the stack.
pub(crate) const MAX_NESTING: usize = 256;
/// Descriptor nodes the library keeps (all interfaces together).
pub(crate) const MAX_TYPE_NODES: usize = 1 << 16;
/// Elements of one array read from C memory (a size_is past it is `RPC_X_INVALID_BOUND`).
pub(crate) const MAX_ELEMENTS: u64 = 1 << 24;

const RPC_S_INVALID_TAG: i32 = 1733;
pub(crate) const RPC_X_SS_CONTEXT_MISMATCH: i32 = 6;

const D_INT: u16 = 1;
const D_FLOAT: u16 = 2;
const D_ENUM: u16 = 3;
const D_STRING: u16 = 4;
const D_POINTER: u16 = 5;
const D_STRUCT: u16 = 6;
const D_ARRAY: u16 = 7;
const D_UNION: u16 = 8;
const D_CONTEXT: u16 = 9;

const DF_SIGNED: u16 = 0x1;
const DF_V1ENUM: u16 = 0x2;
const DF_REF: u16 = 0x4;
const DF_FULL: u16 = 0x10;
const DF_CONFORMANT: u16 = 0x20;
const DF_VARYING: u16 = 0x40;
const DF_ENCAPSULATED: u16 = 0x80;
const DF_STRING: u16 = 0x100;
/// `MSRPC_DF_STRICT_CONTEXT`: a `[strict_context_handle]` interface's context handle.
const DF_STRICT_CONTEXT: u16 = 0x200;
/// `MSRPC_DF_NOSERIALIZE`: a `[context_handle_noserialize]` handle.
const DF_NOSERIALIZE: u16 = 0x400;
/// `MSRPC_DF_TYPE_STRICT_CONTEXT`: a `[type_strict_context_handle]` handle.
const DF_TYPE_STRICT_CONTEXT: u16 = 0x800;

type Expr = unsafe extern "C" fn(*const c_void, *const *mut c_void) -> i64;

/// A context handle type's rundown routine (`PCTX_rundown`), from the server stub's tables.
pub(crate) type RundownFn = unsafe extern "C" fn(*mut c_void);

/// `MSRPC_TYPEDESC`.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct TypeDesc {
    kind: u16,
    flags: u16,
    wire_size: u32,
    mem_size: u32,
    count: u32,
    inner: *const TypeDesc,
    fields: *const FieldDesc,
    arms: *const ArmDesc,
    size_is: Option<Expr>,
    length_is: Option<Expr>,
    first_is: Option<Expr>,
    switch_is: Option<Expr>,
    disc_offset: u32,
    arm_offset: u32,
    name: *const c_char,
    /// `MSRPC_D_CONTEXT` in a server stub: the type's rundown routine (NULL in a client stub).
    rundown: Option<RundownFn>,
}

/// `MSRPC_FIELD`.
#[repr(C)]
#[derive(Debug)]
struct FieldDesc {
    name: *const c_char,
    offset: u32,
    ty: *const TypeDesc,
}

/// `MSRPC_ARM`.
#[repr(C)]
#[derive(Debug)]
struct ArmDesc {
    value: i64,
    is_default: u32,
    ty: *const TypeDesc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PtrK {
    Ref,
    Unique,
    Full,
}

/// A descriptor, copied out of the C tables (indices into the arena).
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Int {
        wire: u8,
        signed: bool,
        mem: u32,
    },
    Float {
        mem: u32,
    },
    Enum {
        v1: bool,
        mem: u32,
    },
    Str {
        wide: bool,
    },
    Ptr {
        kind: PtrK,
        inner: usize,
    },
    Struct {
        mem: u32,
        fields: Vec<(u32, usize)>,
    },
    Array {
        elem: usize,
        elem_mem: u32,
        count: u32,
        conformant: bool,
        varying: bool,
        /// `[string, size_is]`: the length runs to the first NUL (included).
        string: bool,
        size_is: Option<Expr>,
        length_is: Option<Expr>,
        first_is: Option<Expr>,
    },
    Union {
        encaps: Option<(u32, u32)>,
        disc: usize,
        arms: Vec<(i64, bool, Option<usize>)>,
        switch_is: Option<Expr>,
        mem: u32,
    },
    Ctx {
        rundown: Option<RundownFn>,
        /// A `[strict_context_handle]` interface's (server.rs checks the handle's interface).
        strict: bool,
        /// `[context_handle_noserialize]`: calls presenting it do not take turns.
        noserialize: bool,
        /// `[type_strict_context_handle]`: a handle created as another type is refused.
        type_strict: bool,
    },
}

#[derive(Debug, Default)]
struct Arena {
    nodes: Arc<Vec<Node>>,
    by_addr: HashMap<usize, usize>,
}

fn arena() -> MutexGuard<'static, Arena> {
    static A: OnceLock<Mutex<Arena>> = OnceLock::new();
    A.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// The nodes loaded so far (a snapshot: nodes are never changed once loaded).
pub(crate) fn nodes() -> Arc<Vec<Node>> {
    arena().nodes.clone()
}

/// Loads a descriptor graph; returns its root's index.
///
/// # Safety
/// `d` is NULL or a descriptor `msrpc idl --lang c` wrote (static, alive for the program).
pub(crate) unsafe fn load(d: *const TypeDesc) -> Result<u32, i32> {
    let mut a = arena();
    // SAFETY: the caller's descriptor.
    let r = unsafe { load_in(&mut a, d, 0) }?;
    u32::try_from(r).map_err(|_| RPC_S_INVALID_ARG)
}

unsafe fn load_in(a: &mut Arena, d: *const TypeDesc, depth: usize) -> Result<usize, i32> {
    if d.is_null() || depth > MAX_NESTING {
        return Err(RPC_S_INVALID_ARG);
    }
    if let Some(&i) = a.by_addr.get(&(d as usize)) {
        return Ok(i);
    }
    if a.nodes.len() >= MAX_TYPE_NODES {
        return Err(RPC_S_OUT_OF_MEMORY);
    }
    let idx = a.nodes.len();
    Arc::make_mut(&mut a.nodes).push(Node::Ctx {
        rundown: None,
        strict: false,
        noserialize: false,
        type_strict: false,
    });
    a.by_addr.insert(d as usize, idx);
    // SAFETY: d points to a generated descriptor (caller).
    let t = unsafe { &*d };
    let node = match t.kind {
        // wire_size 0: `__int3264` (4 bytes at NDR20, 8 at NDR64).
        D_INT
            if matches!(t.wire_size, 0 | 1 | 2 | 4 | 8) && matches!(t.mem_size, 1 | 2 | 4 | 8) =>
        {
            Node::Int {
                wire: t.wire_size as u8,
                signed: t.flags & DF_SIGNED != 0,
                mem: t.mem_size,
            }
        }
        D_FLOAT if matches!(t.mem_size, 4 | 8) => Node::Float { mem: t.mem_size },
        D_ENUM if matches!(t.mem_size, 1 | 2 | 4 | 8) => Node::Enum {
            v1: t.flags & DF_V1ENUM != 0,
            mem: t.mem_size,
        },
        D_STRING if matches!(t.wire_size, 1 | 2) => Node::Str {
            wide: t.wire_size == 2,
        },
        D_POINTER => Node::Ptr {
            kind: if t.flags & DF_REF != 0 {
                PtrK::Ref
            } else if t.flags & DF_FULL != 0 {
                PtrK::Full
            } else {
                PtrK::Unique
            },
            // SAFETY: the pointee's descriptor, from the same tables.
            inner: unsafe { load_in(a, t.inner, depth + 1) }?,
        },
        D_STRUCT if t.count == 0 || !t.fields.is_null() => {
            let mut fields = Vec::new();
            for i in 0..t.count.min(4096) as usize {
                // SAFETY: fields has count entries (generated table).
                let f = unsafe { &*t.fields.add(i) };
                if f.offset >= t.mem_size {
                    return Err(RPC_S_INVALID_ARG);
                }
                // SAFETY: as above.
                fields.push((f.offset, unsafe { load_in(a, f.ty, depth + 1) }?));
            }
            Node::Struct {
                mem: t.mem_size,
                fields,
            }
        }
        D_ARRAY if t.mem_size > 0 => Node::Array {
            // SAFETY: the element's descriptor.
            elem: unsafe { load_in(a, t.inner, depth + 1) }?,
            elem_mem: t.mem_size,
            count: t.count,
            conformant: t.flags & DF_CONFORMANT != 0,
            varying: t.flags & DF_VARYING != 0,
            string: t.flags & DF_STRING != 0,
            size_is: t.size_is,
            length_is: t.length_is,
            first_is: t.first_is,
        },
        D_UNION if !t.arms.is_null() => {
            let mut arms = Vec::new();
            for i in 0..t.count.min(4096) as usize {
                // SAFETY: arms has count entries (generated table) — at least one row.
                let r = unsafe { &*t.arms.add(i) };
                let ty = if r.ty.is_null() {
                    None
                } else {
                    // SAFETY: the arm's descriptor.
                    Some(unsafe { load_in(a, r.ty, depth + 1) }?)
                };
                arms.push((r.value, r.is_default != 0, ty));
            }
            Node::Union {
                encaps: (t.flags & DF_ENCAPSULATED != 0).then_some((t.disc_offset, t.arm_offset)),
                // SAFETY: the discriminant's descriptor.
                disc: unsafe { load_in(a, t.inner, depth + 1) }?,
                arms,
                switch_is: t.switch_is,
                mem: t.mem_size,
            }
        }
        D_CONTEXT => Node::Ctx {
            rundown: t.rundown,
            strict: t.flags & DF_STRICT_CONTEXT != 0,
            noserialize: t.flags & DF_NOSERIALIZE != 0,
            type_strict: t.flags & DF_TYPE_STRICT_CONTEXT != 0,
        },
        _ => return Err(RPC_S_INVALID_ARG),
    };
    Arc::make_mut(&mut a.nodes)[idx] = node;
    Ok(idx)
}

/// An owned value of a constructed type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum V {
    U(u64),
    I(i64),
    F32(f32),
    F64(f64),
    Enum(u32),
    Str8(Vec<u8>),
    Str16(Vec<u16>),
    /// A pointer: its pointee and a key (the C address when read from C, the referent id when
    /// decoded; full pointers alias by it).
    Ptr(Option<Box<V>>, u64),
    /// A decoded full pointer naming an object decoded earlier (by referent id).
    Alias(u64),
    /// A pointer's head between the decoder's two phases.
    Pending(u64, u64),
    Struct(Vec<V>),
    Array {
        max: u64,
        offset: u64,
        items: Vec<V>,
    },
    Union {
        disc: i64,
        arm: Option<Box<V>>,
    },
    Ctx(ContextHandle),
}

/// Which side of the call the C memory is on (context handles differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

// ---- context handles -------------------------------------------------------------------------

/// A client context handle: the `void *` the program holds points at one of these. It keeps the
/// binding it was returned on (as rpcrt4's client context does), for the operations that bind
/// through the handle.
#[repr(C)]
#[derive(Debug)]
struct ClientCtx {
    wire: ContextHandle,
    binding: Option<msrpc::Binding>,
}

pub(crate) const RPC_X_SS_IN_NULL_CONTEXT: i32 = 1775;

/// The binding a client context handle of node `n` at `at` was returned on: `None` when node `n`
/// is not a context handle; `RPC_X_SS_IN_NULL_CONTEXT` for a null one, `RPC_X_SS_CONTEXT_MISMATCH`
/// for a pointer that is not one of the library's records.
///
/// # Safety
/// `at` points to the C object (a `void *`) of a parameter of node `n`'s type.
pub(crate) unsafe fn client_ctx_binding(
    n: u32,
    at: *const u8,
) -> Option<Result<msrpc::Binding, i32>> {
    if !matches!(nodes().get(n as usize), Some(Node::Ctx { .. })) {
        return None;
    }
    // SAFETY: the caller's `void *` object.
    let p = unsafe { at.cast::<*mut ClientCtx>().read_unaligned() };
    if p.is_null() {
        return Some(Err(RPC_X_SS_IN_NULL_CONTEXT));
    }
    let ctxs = client_ctxs();
    if !ctxs.contains(&(p as usize)) {
        return Some(Err(RPC_X_SS_CONTEXT_MISMATCH));
    }
    // SAFETY: p is one of the library's live records (in the set, checked under its lock).
    let b = unsafe { (*p).binding.clone() };
    Some(b.ok_or(RPC_X_SS_CONTEXT_MISMATCH))
}

fn client_ctxs() -> MutexGuard<'static, HashSet<usize>> {
    static S: OnceLock<Mutex<HashSet<usize>>> = OnceLock::new();
    S.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// The server side of context handles going out: given the address of the C object, the
/// manager's `void *` there and the type's rundown routine, the handle to send (server.rs maps
/// it into the client's association group).
pub(crate) type CtxOut<'a> =
    &'a dyn Fn(usize, usize, Option<RundownFn>) -> Result<ContextHandle, i32>;

/// `RpcSsDestroyClientContext` (the header's inline raises what this returns): frees the
/// library's record behind `*ctx` without a call to the server, and sets `*ctx` to NULL.
/// `RPC_X_SS_CONTEXT_MISMATCH` (6) for NULL or a pointer that is not a live record.
///
/// # Safety
/// `ctx` is NULL or points to a readable and writable `void *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MsrpcSsDestroyClientContext(ctx: *mut *mut c_void) -> i32 {
    if ctx.is_null() {
        return RPC_X_SS_CONTEXT_MISMATCH;
    }
    // SAFETY: ctx points to the program's `void *` (caller).
    let p = unsafe { ctx.read_unaligned() }.cast::<ClientCtx>();
    if p.is_null() || !client_ctxs().remove(&(p as usize)) {
        return RPC_X_SS_CONTEXT_MISMATCH;
    }
    // SAFETY: p was a live record (just taken out of the set, so no one else frees it); it came
    // from Box::into_raw.
    drop(unsafe { Box::from_raw(p) });
    // SAFETY: as above.
    unsafe { ctx.write_unaligned(std::ptr::null_mut()) };
    RPC_S_OK
}

// ---- C memory: allocation ----------------------------------------------------------------------

unsafe extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn malloc(size: usize) -> *mut c_void;
    fn free(p: *mut c_void);
}

type AllocFn = unsafe extern "C" fn(usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);

/// The program's `MIDL_user_allocate`/`MIDL_user_free` (found at run time: the Rust tests link
/// this crate without them), else malloc/free.
fn user_fns() -> (AllocFn, FreeFn) {
    static F: OnceLock<(usize, usize)> = OnceLock::new();
    let (a, f) = *F.get_or_init(|| {
        // SAFETY: dlsym with RTLD_DEFAULT (NULL) and NUL-terminated names.
        unsafe {
            let a = dlsym(std::ptr::null_mut(), c"MIDL_user_allocate".as_ptr());
            let f = dlsym(std::ptr::null_mut(), c"MIDL_user_free".as_ptr());
            if a.is_null() || f.is_null() {
                (malloc as AllocFn as usize, free as FreeFn as usize)
            } else {
                (a as usize, f as usize)
            }
        }
    });
    // SAFETY: both are addresses of functions of these signatures (above).
    unsafe {
        (
            std::mem::transmute::<usize, AllocFn>(a),
            std::mem::transmute::<usize, FreeFn>(f),
        )
    }
}

/// Zeroed memory from `MIDL_user_allocate`.
pub(crate) fn user_alloc(size: usize) -> Result<*mut u8, i32> {
    let (a, _) = user_fns();
    // SAFETY: the allocator takes a size and returns NULL or `size` writable bytes.
    let p = unsafe { a(size.max(1)) }.cast::<u8>();
    if p.is_null() {
        return Err(RPC_S_OUT_OF_MEMORY);
    }
    // SAFETY: p has size.max(1) writable bytes.
    unsafe { p.write_bytes(0, size.max(1)) };
    Ok(p)
}

/// Frees a top-level object from [`alloc_for`].
pub(crate) fn free_top(p: *mut u8) {
    user_free(p);
}

fn user_free(p: *mut u8) {
    let (_, f) = user_fns();
    // SAFETY: p came from the matching allocator (user_alloc, or the manager's MIDL_user_allocate).
    unsafe { f(p.cast()) };
}

/// The bytes a pointee holding `v` needs.
fn size_for(nodes: &[Node], n: usize, v: &V) -> usize {
    match (&nodes[n], v) {
        (Node::Str { wide }, V::Str8(s)) => (s.len() + 1) * if *wide { 2 } else { 1 },
        (Node::Str { .. }, V::Str16(s)) => (s.len() + 1) * 2,
        (
            Node::Array {
                elem_mem, count, ..
            },
            V::Array { max, offset, items },
        ) => {
            let n = (*max)
                .max(*offset + items.len() as u64)
                .max(u64::from(*count));
            (n as usize).saturating_mul(*elem_mem as usize)
        }
        (Node::Struct { mem, fields }, V::Struct(vals)) => {
            // A conformant last member extends past sizeof (declared with one element).
            match (fields.last(), vals.last()) {
                (Some((off, last)), Some(lv))
                    if matches!(
                        nodes[*last],
                        Node::Array {
                            conformant: true,
                            ..
                        }
                    ) =>
                {
                    (*mem as usize).max(*off as usize + size_for(nodes, *last, lv))
                }
                _ => *mem as usize,
            }
        }
        _ => mem_size(nodes, n),
    }
}

fn mem_size(nodes: &[Node], n: usize) -> usize {
    match &nodes[n] {
        Node::Int { mem, .. } | Node::Float { mem } | Node::Enum { mem, .. } => *mem as usize,
        Node::Str { .. } => 2,
        Node::Ptr { .. } | Node::Ctx { .. } => std::mem::size_of::<usize>(),
        Node::Struct { mem, .. } | Node::Union { mem, .. } => *mem as usize,
        Node::Array {
            elem_mem, count, ..
        } => (*elem_mem as usize) * (*count as usize).max(1),
    }
}

/// Storage for a server's `[out]`-only parameter of node `n`: a conformant array's size comes
/// from its `size_is` over the call's arguments.
///
/// # Safety
/// `args` is the frame's argument array, every parameter already in place.
pub(crate) unsafe fn alloc_out(n: u32, args: *const *mut c_void) -> Result<*mut u8, i32> {
    let nodes = nodes();
    let size = match &nodes[n as usize] {
        Node::Array {
            conformant: true,
            size_is: Some(f),
            elem_mem,
            ..
        } => {
            // SAFETY: a generated expression over the arguments (caller).
            let v = unsafe { f(std::ptr::null(), args) };
            if v < 0 || v as u64 > MAX_ELEMENTS {
                return Err(RPC_X_INVALID_BOUND);
            }
            (v as usize).saturating_mul(*elem_mem as usize)
        }
        _ => mem_size(&nodes, n as usize),
    };
    user_alloc(size)
}

/// Storage for a top-level value of node `n` (server side).
pub(crate) fn alloc_for(n: u32, v: Option<&V>) -> Result<*mut u8, i32> {
    let nodes = nodes();
    let size = match v {
        Some(v) => size_for(&nodes, n as usize, v),
        None => mem_size(&nodes, n as usize),
    };
    user_alloc(size)
}

/// `sizeof` a pipe element of node `n` (as the table says; at least 1).
pub(crate) fn elem_size(n: u32) -> usize {
    mem_size(&nodes(), n as usize).max(1)
}

/// `sizeof` the C object of node `n` (as the table says).
pub(crate) fn top_size(n: u32) -> usize {
    mem_size(&nodes(), n as usize)
}

// ---- C memory: reading -------------------------------------------------------------------------

struct Reader<'a> {
    nodes: &'a [Node],
    args: *const *mut c_void,
    side: Side,
    /// Server: maps the manager's context handles going out (None on the client).
    ctx_out: Option<CtxOut<'a>>,
}

/// Reads a top-level value of node `n` at `at` (for a string or conformant array, `at` is the
/// first element).
///
/// # Safety
/// `at` points to a C object of node `n`'s type as the tables describe it; `args` is the
/// operation's argument array (for parameter expressions).
pub(crate) unsafe fn read_top(
    n: u32,
    at: *const u8,
    args: *const *mut c_void,
    side: Side,
    ctx_out: Option<CtxOut<'_>>,
) -> Result<V, i32> {
    let nodes = nodes();
    let r = Reader {
        nodes: &nodes,
        args,
        side,
        ctx_out,
    };
    // SAFETY: the caller's object.
    unsafe { r.read(n as usize, at, std::ptr::null(), 0) }
}

impl Reader<'_> {
    unsafe fn eval(&self, f: Option<Expr>, base: *const u8) -> Result<u64, i32> {
        let f = f.ok_or(RPC_S_INVALID_ARG)?;
        // SAFETY: a generated expression over the structure at `base` or the arguments.
        let v = unsafe { f(base.cast(), self.args) };
        if v < 0 || v as u64 > MAX_ELEMENTS {
            return Err(RPC_X_INVALID_BOUND);
        }
        Ok(v as u64)
    }

    unsafe fn read(
        &self,
        n: usize,
        at: *const u8,
        base: *const u8,
        depth: usize,
    ) -> Result<V, i32> {
        if depth > MAX_NESTING {
            return Err(RPC_X_INVALID_BOUND);
        }
        // SAFETY: (for the whole match) `at` is a C object of node n (caller); members, elements
        // and pointees are at the offsets and sizes the C compiler gave the tables.
        unsafe {
            Ok(match &self.nodes[n] {
                Node::Int { wire, signed, mem } => {
                    let raw = read_int(at, *mem, *signed);
                    // __int3264 (wire 0) is checked against NDR20's 32 bits when encoded.
                    let bits = if *wire == 0 { 64 } else { u32::from(*wire) * 8 };
                    if *signed {
                        let (lo, hi) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
                        if raw < lo || raw > hi {
                            return Err(RPC_X_INVALID_BOUND);
                        }
                        V::I(raw as i64)
                    } else {
                        if raw < 0 || raw >= (1i128 << bits) {
                            return Err(RPC_X_INVALID_BOUND);
                        }
                        V::U(raw as u64)
                    }
                }
                Node::Float { mem: 4 } => V::F32(at.cast::<f32>().read_unaligned()),
                Node::Float { .. } => V::F64(at.cast::<f64>().read_unaligned()),
                Node::Enum { mem, .. } => {
                    let raw = read_int(at, *mem, true);
                    V::Enum(u32::try_from(raw).map_err(|_| RPC_X_INVALID_BOUND)?)
                }
                Node::Str { wide: false } => {
                    V::Str8(crate::strings::read_units(at).ok_or(RPC_X_INVALID_BOUND)?)
                }
                Node::Str { wide: true } => V::Str16(
                    crate::strings::read_units(at.cast::<u16>()).ok_or(RPC_X_INVALID_BOUND)?,
                ),
                Node::Ptr { kind, inner } => {
                    let p = at.cast::<*const u8>().read_unaligned();
                    if p.is_null() {
                        if *kind == PtrK::Ref {
                            return Err(RPC_X_NULL_REF_POINTER);
                        }
                        V::Ptr(None, 0)
                    } else {
                        V::Ptr(
                            Some(Box::new(self.read(*inner, p, base, depth + 1)?)),
                            p as u64,
                        )
                    }
                }
                Node::Struct { fields, .. } => {
                    let mut v = Vec::with_capacity(fields.len());
                    for (off, f) in fields {
                        v.push(self.read(*f, at.add(*off as usize), at, depth + 1)?);
                    }
                    V::Struct(v)
                }
                Node::Array {
                    elem,
                    elem_mem,
                    count,
                    conformant,
                    varying,
                    string,
                    size_is,
                    length_is,
                    first_is,
                } => {
                    let max = if *conformant {
                        self.eval(*size_is, base)?
                    } else {
                        u64::from(*count)
                    };
                    let (offset, len) = if *string {
                        // The characters up to and with the NUL, within the buffer.
                        let unit = *elem_mem as usize;
                        let len = (0..max)
                            .find(|&i| {
                                let p = at.add(i as usize * unit);
                                read_int(p, *elem_mem, false) == 0
                            })
                            .ok_or(RPC_X_INVALID_BOUND)?;
                        (0, len + 1)
                    } else if *varying {
                        let off = if first_is.is_some() {
                            self.eval(*first_is, base)?
                        } else {
                            0
                        };
                        (off, self.eval(*length_is, base)?)
                    } else {
                        (0, max)
                    };
                    if offset.checked_add(len).is_none_or(|e| e > max) {
                        return Err(RPC_X_INVALID_BOUND);
                    }
                    let mut items = Vec::with_capacity(len.min(4096) as usize);
                    for i in 0..len {
                        let p = at.add(((offset + i) as usize) * (*elem_mem as usize));
                        items.push(self.read(*elem, p, base, depth + 1)?);
                    }
                    V::Array { max, offset, items }
                }
                Node::Union {
                    encaps,
                    disc,
                    arms,
                    switch_is,
                    ..
                } => {
                    let (d, arm_at) = match encaps {
                        Some((doff, aoff)) => {
                            let d = match self.read(*disc, at.add(*doff as usize), at, depth + 1)? {
                                V::U(x) => x as i64,
                                V::I(x) => x,
                                V::Enum(x) => i64::from(x),
                                _ => return Err(RPC_S_INVALID_ARG),
                            };
                            (d, at.add(*aoff as usize))
                        }
                        None => {
                            let f = switch_is.ok_or(RPC_S_INVALID_ARG)?;
                            (f(base.cast(), self.args), at)
                        }
                    };
                    let arm = pick(arms, d).ok_or(RPC_S_INVALID_TAG)?;
                    let arm = match arm {
                        Some(t) => Some(Box::new(self.read(t, arm_at, base, depth + 1)?)),
                        None => None,
                    };
                    V::Union { disc: d, arm }
                }
                Node::Ctx { rundown, .. } => {
                    let p = at.cast::<*mut ClientCtx>().read_unaligned();
                    match self.side {
                        Side::Client => {
                            if p.is_null() {
                                V::Ctx(ContextHandle::NULL)
                            } else if client_ctxs().contains(&(p as usize)) {
                                V::Ctx((*p).wire)
                            } else {
                                return Err(RPC_X_SS_CONTEXT_MISMATCH);
                            }
                        }
                        Side::Server => {
                            let f = self.ctx_out.ok_or(RPC_X_SS_CONTEXT_MISMATCH)?;
                            V::Ctx(f(at as usize, p as usize, *rundown)?)
                        }
                    }
                }
            })
        }
    }
}

fn pick(arms: &[(i64, bool, Option<usize>)], d: i64) -> Option<Option<usize>> {
    (arms.iter().find(|(v, def, _)| !def && *v == d))
        .or_else(|| arms.iter().find(|(_, def, _)| *def))
        .map(|(_, _, t)| *t)
}

/// # Safety
/// `at` has `mem` readable bytes.
unsafe fn read_int(at: *const u8, mem: u32, signed: bool) -> i128 {
    // SAFETY: the caller's bytes; unaligned reads.
    unsafe {
        match (mem, signed) {
            (1, false) => i128::from(at.read()),
            (1, true) => i128::from(at.cast::<i8>().read()),
            (2, false) => i128::from(at.cast::<u16>().read_unaligned()),
            (2, true) => i128::from(at.cast::<i16>().read_unaligned()),
            (4, false) => i128::from(at.cast::<u32>().read_unaligned()),
            (4, true) => i128::from(at.cast::<i32>().read_unaligned()),
            (_, false) => i128::from(at.cast::<u64>().read_unaligned()),
            (_, true) => i128::from(at.cast::<i64>().read_unaligned()),
        }
    }
}

/// # Safety
/// `at` has `mem` writable bytes.
unsafe fn write_int(at: *mut u8, mem: u32, v: i128) {
    // SAFETY: the caller's bytes; unaligned writes.
    unsafe {
        match mem {
            1 => at.write(v as u8),
            2 => at.cast::<u16>().write_unaligned(v as u16),
            4 => at.cast::<u32>().write_unaligned(v as u32),
            _ => at.cast::<u64>().write_unaligned(v as u64),
        }
    }
}

// ---- C memory: writing -------------------------------------------------------------------------

/// Writes C memory from decoded values.
#[derive(Debug)]
pub(crate) struct Writer {
    side: Side,
    /// Full pointers: referent id to the address of its pointee.
    full: HashMap<u64, usize>,
    /// Server: the context handles that came in (address of the C object, UUID; 0 for a null
    /// handle), for server.rs to resolve in the client's association group.
    pub(crate) ctx_in: Vec<(usize, u128)>,
    /// Server: one of them is a `[strict_context_handle]` interface's.
    pub(crate) strict_in: bool,
    /// Server: the UUIDs of those that are `[context_handle_noserialize]`.
    pub(crate) noserialize_in: Vec<u128>,
    /// Server: those that are `[type_strict_context_handle]`, with their type's rundown routine
    /// (the type's identity).
    pub(crate) type_strict_in: Vec<(u128, Option<RundownFn>)>,
    /// Client: the call's binding, kept by the context handles the reply creates.
    pub(crate) binding: Option<msrpc::Binding>,
}

impl Writer {
    pub(crate) fn new(side: Side) -> Self {
        Writer {
            side,
            full: HashMap::new(),
            ctx_in: Vec::new(),
            strict_in: false,
            noserialize_in: Vec::new(),
            type_strict_in: Vec::new(),
            binding: None,
        }
    }

    /// Writes a top-level value of node `n` at `at`.
    ///
    /// # Safety
    /// `at` is a writable C object of node `n` big enough for `v` (see [`alloc_for`]).
    pub(crate) unsafe fn write_top(&mut self, n: u32, at: *mut u8, v: &V) -> Result<(), i32> {
        let nodes = nodes();
        // SAFETY: the caller's object.
        unsafe { self.write(&nodes, n as usize, at, v, 0) }
    }

    unsafe fn write(
        &mut self,
        nodes: &[Node],
        n: usize,
        at: *mut u8,
        v: &V,
        depth: usize,
    ) -> Result<(), i32> {
        if depth > MAX_NESTING {
            return Err(RPC_X_BAD_STUB_DATA);
        }
        // SAFETY: (for the whole match) `at` is a writable C object of node n, sized for `v`
        // (caller); pointees are fresh allocations sized by size_for.
        unsafe {
            match (&nodes[n], v) {
                (Node::Int { mem, .. } | Node::Enum { mem, .. }, _) => {
                    let x = match v {
                        V::U(x) => i128::from(*x),
                        V::I(x) => i128::from(*x),
                        V::Enum(x) => i128::from(*x),
                        _ => return Err(RPC_X_BAD_STUB_DATA),
                    };
                    write_int(at, *mem, x);
                }
                (Node::Float { .. }, V::F32(x)) => at.cast::<f32>().write_unaligned(*x),
                (Node::Float { .. }, V::F64(x)) => at.cast::<f64>().write_unaligned(*x),
                (Node::Str { .. }, V::Str8(s)) => {
                    std::ptr::copy_nonoverlapping(s.as_ptr(), at, s.len());
                    at.add(s.len()).write(0);
                }
                (Node::Str { .. }, V::Str16(s)) => {
                    let p = at.cast::<u16>();
                    for (i, u) in s.iter().enumerate() {
                        p.add(i).write_unaligned(*u);
                    }
                    p.add(s.len()).write_unaligned(0);
                }
                (Node::Ptr { inner, .. }, V::Ptr(val, key)) => {
                    let p = match val {
                        None => std::ptr::null_mut(),
                        Some(val) => {
                            let p = user_alloc(size_for(nodes, *inner, val))?;
                            self.write(nodes, *inner, p, val, depth + 1)?;
                            self.full.insert(*key, p as usize);
                            p
                        }
                    };
                    at.cast::<*mut u8>().write_unaligned(p);
                }
                (Node::Ptr { .. }, V::Alias(key)) => {
                    let p = self.full.get(key).copied().unwrap_or(0) as *mut u8;
                    at.cast::<*mut u8>().write_unaligned(p);
                }
                (Node::Struct { fields, .. }, V::Struct(vals)) => {
                    for ((off, f), fv) in fields.iter().zip(vals) {
                        self.write(nodes, *f, at.add(*off as usize), fv, depth + 1)?;
                    }
                }
                (Node::Array { elem, elem_mem, .. }, V::Array { offset, items, .. }) => {
                    for (i, it) in items.iter().enumerate() {
                        let p = at.add((*offset as usize + i) * (*elem_mem as usize));
                        self.write(nodes, *elem, p, it, depth + 1)?;
                    }
                }
                (
                    Node::Union {
                        encaps, disc, arms, ..
                    },
                    V::Union { disc: d, arm },
                ) => {
                    let arm_at = match encaps {
                        Some((doff, aoff)) => {
                            self.write(nodes, *disc, at.add(*doff as usize), &V::I(*d), depth + 1)?;
                            at.add(*aoff as usize)
                        }
                        None => at,
                    };
                    if let (Some(Some(t)), Some(a)) = (pick(arms, *d), arm) {
                        self.write(nodes, t, arm_at, a, depth + 1)?;
                    }
                }
                (
                    Node::Ctx {
                        strict,
                        noserialize,
                        type_strict,
                        rundown,
                    },
                    V::Ctx(h),
                ) => {
                    self.strict_in |= *strict;
                    if *noserialize && !h.is_null() {
                        self.noserialize_in.push(h.uuid.as_u128());
                    }
                    if *type_strict && !h.is_null() {
                        self.type_strict_in.push((h.uuid.as_u128(), *rundown));
                    }
                    let slot = at.cast::<*mut ClientCtx>();
                    match self.side {
                        Side::Client => {
                            let old = slot.read_unaligned();
                            let ours = !old.is_null() && client_ctxs().contains(&(old as usize));
                            if h.is_null() {
                                if ours {
                                    client_ctxs().remove(&(old as usize));
                                    drop(Box::from_raw(old));
                                }
                                slot.write_unaligned(std::ptr::null_mut());
                            } else if ours {
                                (*old).wire = *h;
                                if self.binding.is_some() {
                                    (*old).binding = self.binding.clone();
                                }
                            } else {
                                let b = Box::into_raw(Box::new(ClientCtx {
                                    wire: *h,
                                    binding: self.binding.clone(),
                                }));
                                client_ctxs().insert(b as usize);
                                slot.write_unaligned(b);
                            }
                        }
                        Side::Server => {
                            // server.rs looks the handle up in the client's association group
                            // and writes the manager's pointer here (NULL until then).
                            let id = if h.is_null() { 0 } else { h.uuid.as_u128() };
                            self.ctx_in.push((at as usize, id));
                            slot.cast::<usize>().write_unaligned(0);
                        }
                    }
                }
                _ => return Err(RPC_X_BAD_STUB_DATA),
            }
        }
        Ok(())
    }
}

/// Frees what a server call's C object of node `n` points to (pointees, recursively, with
/// `MIDL_user_free`), not the object itself.
///
/// # Safety
/// `at` is a C object of node `n` whose pointers are NULL or `MIDL_user_allocate`d.
pub(crate) unsafe fn free_pointees(n: u32, at: *mut u8) {
    let nodes = nodes();
    let mut seen = HashSet::new();
    // SAFETY: the caller's object.
    unsafe { free_in(&nodes, n as usize, at, &mut seen, 0) };
}

unsafe fn free_in(nodes: &[Node], n: usize, at: *mut u8, seen: &mut HashSet<usize>, depth: usize) {
    if depth > MAX_NESTING {
        return;
    }
    // SAFETY: `at` is a C object of node n (caller); only pointers it holds are followed.
    unsafe {
        match &nodes[n] {
            Node::Ptr { inner, .. } => {
                let p = at.cast::<*mut u8>().read_unaligned();
                if !p.is_null() && seen.insert(p as usize) {
                    free_in(nodes, *inner, p, seen, depth + 1);
                    user_free(p);
                }
            }
            Node::Struct { fields, .. } => {
                for (off, f) in fields {
                    free_in(nodes, *f, at.add(*off as usize), seen, depth + 1);
                }
            }
            // Elements with pointers are not freed one by one: their count is in the data (a
            // leak, never a double free); arrays of pointers are rare in server replies.
            Node::Union { .. } | Node::Array { .. } => {}
            _ => {}
        }
    }
}

// ---- NDR: encoding -----------------------------------------------------------------------------

fn align_of(nodes: &[Node], n: usize, s: Syntax, depth: usize) -> usize {
    if depth > MAX_NESTING {
        return 1;
    }
    match &nodes[n] {
        Node::Int { wire: 0, .. } => s.count_size(),
        Node::Int { wire, .. } => usize::from(*wire),
        Node::Float { mem } => *mem as usize,
        Node::Enum { v1: true, .. } => 4,
        Node::Enum { .. } => s.enum_size(),
        Node::Str { .. } => s.count_size(),
        Node::Ptr { .. } => s.pointer_size(),
        Node::Struct { fields, .. } => fields
            .iter()
            .map(|(_, f)| align_of(nodes, *f, s, depth + 1))
            .fold(1, usize::max),
        Node::Array {
            elem,
            conformant,
            varying,
            ..
        } => {
            let e = align_of(nodes, *elem, s, depth + 1);
            if *conformant || *varying {
                e.max(s.count_size())
            } else {
                e
            }
        }
        Node::Union { disc, .. } => {
            align_of(nodes, *disc, s, depth + 1).max(arm_align(nodes, n, s, depth))
        }
        Node::Ctx { .. } => 4,
    }
}

fn arm_align(nodes: &[Node], n: usize, s: Syntax, depth: usize) -> usize {
    match &nodes[n] {
        Node::Union { arms, .. } => arms
            .iter()
            .filter_map(|(_, _, t)| *t)
            .map(|t| align_of(nodes, t, s, depth + 1))
            .fold(1, usize::max),
        _ => 1,
    }
}

fn is_conformant(nodes: &[Node], n: usize) -> bool {
    match &nodes[n] {
        Node::Array { conformant, .. } => *conformant,
        Node::Str { .. } => true,
        Node::Struct { fields, .. } => fields.last().is_some_and(|(_, f)| is_conformant(nodes, *f)),
        _ => false,
    }
}

fn bad(what: &'static str) -> Error {
    Error::new(ErrorKind::Invalid(what))
}

fn max_count(nodes: &[Node], n: usize, v: &V) -> msrpc_ndr::Result<u64> {
    match (&nodes[n], v) {
        (Node::Array { varying: false, .. }, V::Array { items, .. }) => Ok(items.len() as u64),
        (Node::Array { .. }, V::Array { max, .. }) => Ok(*max),
        (Node::Str { .. }, V::Str8(s)) => Ok(s.len() as u64 + 1),
        (Node::Str { .. }, V::Str16(s)) => Ok(s.len() as u64 + 1),
        (Node::Struct { fields, .. }, V::Struct(vals)) => match (fields.last(), vals.last()) {
            (Some((_, f)), Some(lv)) => max_count(nodes, *f, lv),
            _ => Err(bad("a conformant structure without members")),
        },
        _ => Err(bad("a value that does not match its C type")),
    }
}

/// Encodes a top-level parameter: its head, then its pointees.
pub(crate) fn encode_param(
    nodes: &[Node],
    n: u32,
    v: &V,
    e: &mut Encoder,
) -> msrpc_ndr::Result<()> {
    head(nodes, n as usize, v, e, false, 0)?;
    deferred(nodes, n as usize, v, e, 0)
}

/// Encodes a DCE pipe of `elem` elements: msrpc-ndr's pipe framing (the counts, NDR64's negated
/// counts, the terminator), each element a head (a pipe element has no pointers).
pub(crate) fn encode_pipe(
    nodes: &[Node],
    elem: u32,
    chunks: &[Vec<V>],
    e: &mut Encoder,
) -> msrpc_ndr::Result<()> {
    msrpc_ndr::encode_pipe_chunks(e, chunks, Vec::len, |chunk, e| {
        for v in chunk {
            encode_param(nodes, elem, v, e)?;
        }
        Ok(())
    })
}

fn head(
    nodes: &[Node],
    n: usize,
    v: &V,
    e: &mut Encoder,
    hoisted: bool,
    depth: usize,
) -> msrpc_ndr::Result<()> {
    if depth > MAX_NESTING {
        return Err(bad("values nested too deeply"));
    }
    let s = e.syntax();
    match (&nodes[n], v) {
        (Node::Int { wire, .. }, V::U(x)) => match wire {
            0 => UInt3264(*x).encode_head(e),
            1 => (*x as u8).encode_head(e),
            2 => (*x as u16).encode_head(e),
            4 => (*x as u32).encode_head(e),
            _ => x.encode_head(e),
        },
        (Node::Int { wire, .. }, V::I(x)) => match wire {
            0 => Int3264(*x).encode_head(e),
            1 => (*x as i8).encode_head(e),
            2 => (*x as i16).encode_head(e),
            4 => (*x as i32).encode_head(e),
            _ => x.encode_head(e),
        },
        (Node::Float { .. }, V::F32(x)) => x.encode_head(e),
        (Node::Float { .. }, V::F64(x)) => x.encode_head(e),
        (Node::Enum { v1: true, .. }, V::Enum(x)) => {
            e.write_v1_enum(*x);
            Ok(())
        }
        (Node::Enum { .. }, V::Enum(x)) => e.write_enum(*x),
        (Node::Str { .. }, V::Str8(x)) => {
            let s = NdrString(x.clone());
            if hoisted {
                s.encode_body_head(e)
            } else {
                s.encode_head(e)
            }
        }
        (Node::Str { .. }, V::Str16(x)) => {
            let s = WideString(x.clone());
            if hoisted {
                s.encode_body_head(e)
            } else {
                s.encode_head(e)
            }
        }
        (Node::Ptr { kind, .. }, V::Ptr(val, key)) => match kind {
            PtrK::Ref => e.write_pointer(true).map(|_| ()),
            PtrK::Unique => e.write_pointer(val.is_some()).map(|_| ()),
            PtrK::Full => {
                e.write_full_pointer(val.as_ref().map(|_| *key as usize), v as *const V as usize)
            }
        },
        (Node::Struct { fields, .. }, V::Struct(vals)) => {
            let conf = is_conformant(nodes, n);
            if conf && !hoisted {
                e.write_conformance(max_count(nodes, n, v)?)?;
            }
            let a = align_of(nodes, n, s, depth);
            e.align(a);
            let last = fields.len().saturating_sub(1);
            for (i, ((_, f), fv)) in fields.iter().zip(vals).enumerate() {
                head(nodes, *f, fv, e, conf && i == last, depth + 1)?;
            }
            e.align_ndr64(a);
            Ok(())
        }
        (
            Node::Array {
                elem,
                count,
                conformant,
                varying,
                ..
            },
            V::Array { max, offset, items },
        ) => {
            match (conformant, varying) {
                (false, false) => e.align(align_of(nodes, *elem, s, depth + 1)),
                (false, true) => {
                    if offset + items.len() as u64 > u64::from(*count) {
                        return Err(bad("a varying array past its size"));
                    }
                    e.write_variance(*offset, items.len() as u64)?;
                }
                (true, false) => {
                    if !hoisted {
                        e.write_conformance(items.len() as u64)?;
                    }
                }
                (true, true) => {
                    if !hoisted {
                        e.write_conformance(*max)?;
                    }
                    if offset + items.len() as u64 > *max {
                        return Err(bad("a conformant varying array past its size"));
                    }
                    e.write_variance(*offset, items.len() as u64)?;
                }
            }
            for it in items {
                head(nodes, *elem, it, e, false, depth + 1)?;
            }
            Ok(())
        }
        (
            Node::Union {
                encaps, disc, arms, ..
            },
            V::Union { disc: d, arm },
        ) => {
            let own = align_of(nodes, n, s, depth);
            let dv = disc_value(nodes, *disc, *d);
            let t = pick(arms, *d).ok_or_else(|| Error::new(ErrorKind::BadSwitch(*d as u64)))?;
            if encaps.is_some() {
                e.align(own);
                head(nodes, *disc, &dv, e, false, depth + 1)?;
                e.align(arm_align(nodes, n, s, depth));
            } else {
                e.align_ndr64(own);
                head(nodes, *disc, &dv, e, false, depth + 1)?;
                e.align_ndr64(own);
            }
            if let (Some(t), Some(a)) = (t, arm) {
                head(nodes, t, a, e, false, depth + 1)?;
            }
            if encaps.is_some() {
                e.align_ndr64(own);
            }
            Ok(())
        }
        (Node::Ctx { .. }, V::Ctx(h)) => h.encode_head(e),
        _ => Err(bad("a value that does not match its C type")),
    }
}

fn disc_value(nodes: &[Node], disc: usize, d: i64) -> V {
    match &nodes[disc] {
        Node::Enum { .. } => V::Enum(d as u32),
        Node::Int { signed: true, .. } => V::I(d),
        _ => V::U(d as u64),
    }
}

fn deferred(
    nodes: &[Node],
    n: usize,
    v: &V,
    e: &mut Encoder,
    depth: usize,
) -> msrpc_ndr::Result<()> {
    if depth > MAX_NESTING {
        return Err(bad("values nested too deeply"));
    }
    match (&nodes[n], v) {
        (Node::Ptr { kind, inner }, V::Ptr(Some(val), key)) => {
            if *kind == PtrK::Full && !e.claim_full_pointee(*key as usize, v as *const V as usize) {
                return Ok(());
            }
            head(nodes, *inner, val, e, false, depth + 1)?;
            deferred(nodes, *inner, val, e, depth + 1)
        }
        (Node::Struct { fields, .. }, V::Struct(vals)) => {
            for ((_, f), fv) in fields.iter().zip(vals) {
                deferred(nodes, *f, fv, e, depth + 1)?;
            }
            Ok(())
        }
        (Node::Array { elem, .. }, V::Array { items, .. }) => {
            for it in items {
                deferred(nodes, *elem, it, e, depth + 1)?;
            }
            Ok(())
        }
        (Node::Union { arms, .. }, V::Union { disc, arm: Some(a) }) => match pick(arms, *disc) {
            Some(Some(t)) => deferred(nodes, t, a, e, depth + 1),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

// ---- NDR: decoding -----------------------------------------------------------------------------

/// Decodes one message's constructed values (full pointers are per message).
#[derive(Debug)]
pub(crate) struct Dec {
    nodes: Arc<Vec<Node>>,
    /// Full pointers: referent id to (owning occurrence, decoded).
    full: HashMap<u64, (u64, bool)>,
    occurrences: u64,
}

impl Dec {
    pub(crate) fn new() -> Self {
        Dec {
            nodes: nodes(),
            full: HashMap::new(),
            occurrences: 0,
        }
    }

    /// Decodes a top-level parameter of node `n`.
    pub(crate) fn param(&mut self, n: u32, d: &mut Decoder<'_>) -> msrpc_ndr::Result<V> {
        let h = self.head(n as usize, d, None)?;
        self.deferred(n as usize, h, d)
    }

    /// Decodes a DCE pipe of `elem` elements (msrpc-ndr's framing and limits).
    pub(crate) fn pipe(
        &mut self,
        elem: u32,
        d: &mut Decoder<'_>,
    ) -> msrpc_ndr::Result<Vec<Vec<V>>> {
        msrpc_ndr::decode_pipe_chunks(d, |d, n| {
            let heads = self.items(elem as usize, n, d)?;
            heads
                .into_iter()
                .map(|h| self.deferred(elem as usize, h, d))
                .collect()
        })
    }

    fn items(&mut self, elem: usize, count: u64, d: &mut Decoder<'_>) -> msrpc_ndr::Result<Vec<V>> {
        let k = d.check_count(count, 1)?;
        d.charge::<V>(k)?;
        let mut v = Vec::with_capacity(k.min(4096));
        for i in 0..k {
            d.push_index(i as u64);
            v.push(self.head(elem, d, None)?);
            d.pop();
        }
        Ok(v)
    }

    fn head(
        &mut self,
        n: usize,
        d: &mut Decoder<'_>,
        hoisted: Option<u64>,
    ) -> msrpc_ndr::Result<V> {
        let nodes = self.nodes.clone();
        let s = d.syntax();
        Ok(match &nodes[n] {
            Node::Int {
                wire,
                signed: false,
                ..
            } => V::U(match wire {
                0 => UInt3264::decode_head(d)?.0,
                1 => u64::from(u8::decode_head(d)?),
                2 => u64::from(u16::decode_head(d)?),
                4 => u64::from(u32::decode_head(d)?),
                _ => u64::decode_head(d)?,
            }),
            Node::Int { wire, .. } => V::I(match wire {
                0 => Int3264::decode_head(d)?.0,
                1 => i64::from(i8::decode_head(d)?),
                2 => i64::from(i16::decode_head(d)?),
                4 => i64::from(i32::decode_head(d)?),
                _ => i64::decode_head(d)?,
            }),
            Node::Float { mem: 4 } => V::F32(f32::decode_head(d)?),
            Node::Float { .. } => V::F64(f64::decode_head(d)?),
            Node::Enum { v1: true, .. } => V::Enum(d.read_v1_enum()?),
            Node::Enum { .. } => V::Enum(d.read_enum()?),
            Node::Str { wide: false } => V::Str8(
                match hoisted {
                    Some(m) => NdrString::decode_body_head(d, m)?,
                    None => NdrString::decode_head(d)?,
                }
                .0,
            ),
            Node::Str { wide: true } => V::Str16(
                match hoisted {
                    Some(m) => WideString::decode_body_head(d, m)?,
                    None => WideString::decode_head(d)?,
                }
                .0,
            ),
            Node::Ptr { kind, .. } => match kind {
                PtrK::Ref => match d.read_referent()? {
                    0 => return Err(d.error(ErrorKind::NullRefPointer)),
                    id => V::Pending(id, 0),
                },
                PtrK::Unique => V::Pending(d.read_referent()?, 0),
                PtrK::Full => {
                    let id = d.read_referent()?;
                    let occ = self.occurrences;
                    self.occurrences += 1;
                    if id != 0 {
                        if self.full.len() >= d.limits().max_full_pointers
                            && !self.full.contains_key(&id)
                        {
                            return Err(
                                d.error(ErrorKind::FullPointerLimit(d.limits().max_full_pointers))
                            );
                        }
                        self.full.entry(id).or_insert((occ, false));
                    }
                    V::Pending(id, occ)
                }
            },
            Node::Struct { fields, .. } => {
                d.enter("struct")?;
                let conf = is_conformant(&nodes, n);
                let max = match (conf, hoisted) {
                    (true, Some(m)) => Some(m),
                    (true, None) => Some(d.read_conformance()?),
                    _ => None,
                };
                let a = align_of(&nodes, n, s, 0);
                d.align(a)?;
                let last = fields.len().saturating_sub(1);
                let mut v = Vec::with_capacity(fields.len());
                for (i, (_, f)) in fields.iter().enumerate() {
                    v.push(self.head(*f, d, if i == last { max } else { None })?);
                }
                d.align_ndr64(a)?;
                d.leave();
                V::Struct(v)
            }
            Node::Array {
                elem,
                count,
                conformant,
                varying,
                ..
            } => match (conformant, varying) {
                (false, false) => {
                    d.align(align_of(&nodes, *elem, s, 0))?;
                    let items = self.items(*elem, u64::from(*count), d)?;
                    V::Array {
                        max: u64::from(*count),
                        offset: 0,
                        items,
                    }
                }
                (false, true) => {
                    let (offset, actual) = d.read_variance()?;
                    if offset
                        .checked_add(actual)
                        .is_none_or(|e| e > u64::from(*count))
                    {
                        return Err(d.error(ErrorKind::VaryingBounds {
                            offset,
                            actual,
                            max: u64::from(*count),
                        }));
                    }
                    let items = self.items(*elem, actual, d)?;
                    V::Array {
                        max: u64::from(*count),
                        offset,
                        items,
                    }
                }
                (true, false) => {
                    let max = match hoisted {
                        Some(m) => m,
                        None => d.read_conformance()?,
                    };
                    let items = self.items(*elem, max, d)?;
                    V::Array {
                        max,
                        offset: 0,
                        items,
                    }
                }
                (true, true) => {
                    let max = match hoisted {
                        Some(m) => m,
                        None => d.read_conformance()?,
                    };
                    let (offset, actual) = d.read_variance()?;
                    if offset.checked_add(actual).is_none_or(|e| e > max) {
                        return Err(d.error(ErrorKind::VaryingBounds {
                            offset,
                            actual,
                            max,
                        }));
                    }
                    let items = self.items(*elem, actual, d)?;
                    V::Array { max, offset, items }
                }
            },
            Node::Union {
                encaps, disc, arms, ..
            } => {
                d.enter("union")?;
                let own = align_of(&nodes, n, s, 0);
                if encaps.is_some() {
                    d.align(own)?;
                } else {
                    d.align_ndr64(own)?;
                }
                let dv = match self.head(*disc, d, None)? {
                    V::U(x) => x as i64,
                    V::I(x) => x,
                    V::Enum(x) => i64::from(x),
                    _ => return Err(d.error(ErrorKind::Invalid("a discriminant"))),
                };
                if encaps.is_some() {
                    d.align(arm_align(&nodes, n, s, 0))?;
                } else {
                    d.align_ndr64(own)?;
                }
                let t = pick(arms, dv).ok_or_else(|| d.error(ErrorKind::BadSwitch(dv as u64)))?;
                let arm = match t {
                    Some(t) => Some(Box::new(self.head(t, d, None)?)),
                    None => None,
                };
                if encaps.is_some() {
                    d.align_ndr64(own)?;
                }
                d.leave();
                V::Union { disc: dv, arm }
            }
            Node::Ctx { .. } => V::Ctx(ContextHandle::decode_head(d)?),
        })
    }

    fn deferred(&mut self, n: usize, v: V, d: &mut Decoder<'_>) -> msrpc_ndr::Result<V> {
        let nodes = self.nodes.clone();
        Ok(match (&nodes[n], v) {
            (Node::Ptr { .. }, V::Pending(0, _)) => V::Ptr(None, 0),
            (Node::Ptr { kind, inner }, V::Pending(id, occ)) => {
                if *kind == PtrK::Full {
                    match self.full.get(&id).copied() {
                        Some((owner, false)) if owner == occ => {
                            self.full.insert(id, (owner, true));
                        }
                        Some((_, true)) => return Ok(V::Alias(id)),
                        _ => return Err(d.error(ErrorKind::BadAlias(id))),
                    }
                }
                d.pointee::<V>()?;
                d.descend()?;
                let h = self.head(*inner, d, None)?;
                let val = self.deferred(*inner, h, d)?;
                d.ascend();
                V::Ptr(Some(Box::new(val)), id)
            }
            (Node::Struct { fields, .. }, V::Struct(vals)) => {
                d.enter("struct")?;
                let mut out = Vec::with_capacity(vals.len());
                for ((_, f), fv) in fields.iter().zip(vals) {
                    out.push(self.deferred(*f, fv, d)?);
                }
                d.leave();
                V::Struct(out)
            }
            (Node::Array { elem, .. }, V::Array { max, offset, items }) => {
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    out.push(self.deferred(*elem, it, d)?);
                }
                V::Array {
                    max,
                    offset,
                    items: out,
                }
            }
            (Node::Union { arms, .. }, V::Union { disc, arm }) => {
                let arm = match (pick(arms, disc), arm) {
                    (Some(Some(t)), Some(a)) => Some(Box::new(self.deferred(t, *a, d)?)),
                    (_, a) => a,
                };
                V::Union { disc, arm }
            }
            (_, v) => v,
        })
    }
}
