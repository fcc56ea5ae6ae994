//! The stub engine: interprets the tables `msrpc idl --lang c` writes (`MSRPC_INTERFACE`,
//! `MSRPC_PROC`, `MSRPC_PARAM` in `rpcndr.h`) and marshals through msrpc-ndr, the one NDR
//! implementation. The C compiler filled in every C size; the engine reads the program's
//! arguments with those sizes, turns them into msrpc-ndr values, and writes the replies back.
//!
//! The C memory is read on the calling thread before the call and written on the thread that
//! takes the reply (the caller, or the one calling `RpcAsyncCompleteCall`); the runtime's
//! threads only ever see owned values.

use std::ffi::{c_char, c_void};

use msrpc::{Binding, SyntaxId};
use msrpc_ndr::{DataRep, Decoder, Encoder, NdrString, Syntax, Unique, WideString};

use crate::status::*;
use crate::strings;

/// 2: `MSRPC_TYPEDESC.rundown` (context handle rundown routines) was added.
pub(crate) const MSRPC_STUB_VERSION: u32 = 2;

const P_IN: u32 = 0x1;
const P_OUT: u32 = 0x2;
const P_RETURN: u32 = 0x4;
const P_BYREF: u32 = 0x8;
/// ACF `[comm_status]`: a communication failure is stored here (an `[out] error_status_t` or the
/// return value) instead of raised.
const P_COMM_STATUS: u32 = 0x10;
/// ACF `[fault_status]`: a fault from the server is stored here instead of raised.
const P_FAULT_STATUS: u32 = 0x20;

const T_HANDLE: u16 = 1;
const T_INT: u16 = 2;
const T_STRING: u16 = 3;
const T_FLOAT: u16 = 4;
const T_DESC: u16 = 6;
/// A DCE pipe (`typedef pipe T NAME;`): the C object is MIDL's pipe structure, `desc` the
/// element's descriptor (pipes.rs).
const T_PIPE: u16 = 7;

const TF_SIGNED: u16 = 0x1;
const TF_UNIQUE: u16 = 0x2;

/// Operations' parameters past this are refused as a corrupt table.
const MAX_PARAMS: u32 = 256;

/// `MSRPC_TYPE`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct MsrpcType {
    kind: u16,
    flags: u16,
    wire_size: u16,
    mem_size: u16,
}

/// `MSRPC_PARAM`.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct MsrpcParam {
    name: *const c_char,
    flags: u32,
    ty: MsrpcType,
    desc: *const crate::rich::TypeDesc,
}

/// `MSRPC_PROC`.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct MsrpcProc {
    name: *const c_char,
    opnum: u16,
    is_async: u16,
    param_count: u32,
    params: *const MsrpcParam,
}

/// `GUID`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Guid {
    data1: u32,
    data2: u16,
    data3: u16,
    data4: [u8; 8],
}

impl Guid {
    pub(crate) fn uuid(&self) -> uuid::Uuid {
        uuid::Uuid::from_fields(self.data1, self.data2, self.data3, &self.data4)
    }

    pub(crate) fn of(u: uuid::Uuid) -> Guid {
        let (data1, data2, data3, d4) = u.as_fields();
        Guid {
            data1,
            data2,
            data3,
            data4: *d4,
        }
    }
}

/// `RPC_SYNTAX_IDENTIFIER`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct RpcSyntaxIdentifier {
    guid: Guid,
    major: u16,
    minor: u16,
}

impl RpcSyntaxIdentifier {
    pub(crate) fn syntax_id(&self) -> SyntaxId {
        let g = &self.guid;
        SyntaxId::new(
            uuid::Uuid::from_fields(g.data1, g.data2, g.data3, &g.data4),
            self.major,
            self.minor,
        )
    }
}

/// `MSRPC_INTERFACE`.
#[repr(C)]
#[derive(Debug)]
pub struct MsrpcInterface {
    version: u32,
    name: *const c_char,
    pub(crate) id: RpcSyntaxIdentifier,
    proc_count: u32,
    procs: *const MsrpcProc,
    implicit_handle: *mut *mut c_void,
}

/// One procedure for the server: opnum, `[async]`, parameters.
pub(crate) type ProcInfo = (u16, bool, Vec<P>);

/// The checked operations of a generated interface table, for the server: (opnum, is_async,
/// params) per procedure, in table order.
///
/// # Safety
/// `itf` is NULL or points to a table `msrpc idl --lang c` wrote.
pub(crate) unsafe fn load_all(
    itf: *const MsrpcInterface,
) -> Result<(SyntaxId, String, Vec<ProcInfo>), i32> {
    if itf.is_null() {
        return Err(RPC_S_INVALID_ARG);
    }
    // SAFETY: itf points to a generated table (caller).
    let (count, id, name) = unsafe { ((*itf).proc_count, (*itf).id, (*itf).name) };
    let name = if name.is_null() {
        String::from("interface")
    } else {
        // SAFETY: the generated name is a NUL-terminated C string literal.
        unsafe { std::ffi::CStr::from_ptr(name) }
            .to_string_lossy()
            .into_owned()
    };
    let mut procs = Vec::new();
    for i in 0..count.min(u32::from(u16::MAX)) {
        // SAFETY: the same table (caller).
        let op = unsafe { Op::load(itf, i) }?;
        procs.push((op.opnum, op.is_async, op.params));
    }
    Ok((id.syntax_id(), name, procs))
}

/// One parameter, copied out of the table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct P {
    flags: u32,
    ty: MsrpcType,
    /// A constructed type's descriptor root (`T_DESC`; see rich.rs).
    root: u32,
}

impl P {
    pub(crate) fn is_in(&self) -> bool {
        self.flags & P_IN != 0
    }
    pub(crate) fn is_out(&self) -> bool {
        self.flags & P_OUT != 0
    }
    pub(crate) fn is_return(&self) -> bool {
        self.flags & P_RETURN != 0
    }
    pub(crate) fn is_handle(&self) -> bool {
        self.ty.kind == T_HANDLE
    }
    pub(crate) fn is_byref(&self) -> bool {
        self.flags & P_BYREF != 0
    }
    pub(crate) fn is_string(&self) -> bool {
        self.ty.kind == T_STRING
    }
    /// `sizeof` the C type (for `MSRPC_P_BYREF`, the pointee's).
    pub(crate) fn mem_size(&self) -> usize {
        self.ty.mem_size as usize
    }
    /// A DCE pipe: its element's descriptor root.
    pub(crate) fn pipe_elem(&self) -> Option<u32> {
        (self.ty.kind == T_PIPE).then_some(self.root)
    }
    /// A constructed type: its descriptor root.
    pub(crate) fn rich_root(&self) -> Option<u32> {
        (self.ty.kind == T_DESC).then_some(self.root)
    }
}

/// An operation, loaded and checked.
#[derive(Debug)]
pub(crate) struct Op {
    pub(crate) iface: SyntaxId,
    pub(crate) opnum: u16,
    pub(crate) is_async: bool,
    pub(crate) params: Vec<P>,
    implicit: *mut *mut c_void,
}

/// A marshalled value: what the engine hands msrpc-ndr.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    U(u64, u16),
    I(i64, u16),
    F32(f32),
    F64(f64),
    /// A `[ref]` string (`None` never leaves the engine: a NULL `[ref]` is refused).
    Str8(Option<Vec<u8>>),
    Str16(Option<Vec<u16>>),
    /// A `[unique]` string: NULL or not.
    UStr8(Option<Vec<u8>>),
    UStr16(Option<Vec<u16>>),
    /// A constructed type (descriptor root, value).
    Rich(u32, crate::rich::V),
    /// A DCE pipe (element's descriptor root, chunks).
    Pipe(u32, Vec<Vec<crate::rich::V>>),
}

/// The reply of an operation, decoded: out values in parameter order, then the return value.
pub(crate) type Outs = Vec<Val>;

/// Where a reply's values go: the `[out]` parameters' pointees, then the return value's storage.
#[derive(Debug, Default)]
pub(crate) struct Sinks {
    outs: Vec<(P, usize)>,
    ret: Option<P>,
    /// The call's binding: context handles the reply creates keep it.
    binding: Option<Binding>,
}

impl Sinks {
    /// `[comm_status]`/`[fault_status]` of an `[async]` operation, at `RpcAsyncCompleteCall`:
    /// a failure of the kind the attribute names is written to its parameter (or to `reply`,
    /// the return value's storage) and the completion succeeds; true when it was.
    ///
    /// # Safety
    /// The sinks' `[out]` objects are alive (the program keeps them until completion) and
    /// `reply` is NULL or the return value's storage.
    pub(crate) unsafe fn store_status(&self, e: &msrpc::Error, reply: *mut c_void) -> bool {
        let Some(want) = status_kind(e) else {
            return false;
        };
        let at = match self.outs.iter().find(|(p, _)| p.flags & want != 0) {
            Some((p, at)) => Some((*p, *at)),
            None => self
                .ret
                .filter(|p| p.flags & want != 0 && !reply.is_null())
                .map(|p| (p, reply as usize)),
        };
        let Some((p, at)) = at else {
            return false;
        };
        // SAFETY: `at` is the program's error_status_t (caller).
        unsafe { write_val(&p, at as *mut u8, &Val::U(u64::from(e.status().0), 4)) };
        true
    }

    /// An `[async]` operation's return value goes to `RpcAsyncCompleteCall`'s `Reply`.
    pub(crate) fn set_async_return(&mut self, op: &Op) {
        self.ret = op.params.iter().find(|p| p.flags & P_RETURN != 0).copied();
    }
}

fn int_ok(ty: &MsrpcType) -> bool {
    matches!(ty.mem_size, 1 | 2 | 4 | 8) && matches!(ty.wire_size, 1 | 2 | 4 | 8)
}

impl Op {
    /// Loads operation `proc` of `itf`, checking the table.
    ///
    /// # Safety
    /// `itf` is NULL or points to a table `msrpc idl --lang c` wrote (alive for the call).
    pub(crate) unsafe fn load(itf: *const MsrpcInterface, proc: u32) -> Result<Op, i32> {
        if itf.is_null() {
            return Err(RPC_S_INVALID_ARG);
        }
        // SAFETY: itf points to a generated MSRPC_INTERFACE (caller).
        let itf = unsafe { &*itf };
        if itf.version != MSRPC_STUB_VERSION || itf.procs.is_null() {
            return Err(RPC_S_INVALID_ARG);
        }
        if proc >= itf.proc_count {
            return Err(RPC_S_PROCNUM_OUT_OF_RANGE);
        }
        // SAFETY: procs has proc_count entries (generated table) and proc < proc_count.
        let pr = unsafe { &*itf.procs.add(proc as usize) };
        if pr.param_count > MAX_PARAMS || (pr.param_count > 0 && pr.params.is_null()) {
            return Err(RPC_S_INVALID_ARG);
        }
        let mut params = Vec::with_capacity(pr.param_count as usize);
        for i in 0..pr.param_count as usize {
            // SAFETY: params has param_count entries (generated table).
            let p = unsafe { &*pr.params.add(i) };
            let ok = match p.ty.kind {
                T_HANDLE => true,
                T_INT => int_ok(&p.ty),
                T_FLOAT => matches!(p.ty.mem_size, 4 | 8),
                T_STRING => matches!(p.ty.wire_size, 1 | 2),
                T_DESC => true,
                // Asynchronous pipes (RpcAsyncPush/Pull) are not built.
                T_PIPE => pr.is_async == 0 && p.flags & P_RETURN == 0,
                _ => false,
            };
            if !ok {
                return Err(RPC_S_INVALID_ARG);
            }
            let root = if matches!(p.ty.kind, T_DESC | T_PIPE) {
                // SAFETY: the generated descriptor of this parameter.
                unsafe { crate::rich::load(p.desc) }?
            } else {
                0
            };
            params.push(P {
                flags: p.flags,
                ty: p.ty,
                root,
            });
        }
        Ok(Op {
            iface: itf.id.syntax_id(),
            opnum: pr.opnum,
            is_async: pr.is_async != 0,
            params,
            implicit: itf.implicit_handle,
        })
    }

    /// The call's binding: the first `handle_t` parameter; else the binding of the leftmost
    /// non-null `[in]` context handle (the MIDL rule: the handle's own association); else the
    /// implicit handle. `[in]` context handles that are all null and no implicit handle:
    /// `RPC_X_SS_IN_NULL_CONTEXT` (1775), as Windows raises.
    ///
    /// # Safety
    /// `args` holds a pointer to each C parameter of the operation.
    pub(crate) unsafe fn binding(&self, args: *const *mut c_void) -> Result<Binding, i32> {
        if args.is_null() && !self.params.iter().all(|p| p.is_return()) {
            return Err(RPC_S_INVALID_ARG);
        }
        let explicit = self
            .params
            .iter()
            .position(|p| p.ty.kind == T_HANDLE && p.flags & P_RETURN == 0);
        if let Some(i) = explicit {
            // SAFETY: args[i] points to the handle_t parameter (caller).
            let h = unsafe { *(*args.add(i) as *const *mut c_void) };
            return crate::binding::lookup(h).ok_or(RPC_S_INVALID_BINDING);
        }
        let mut ctx_err = None;
        for (i, p) in self.params.iter().filter(|p| !p.is_return()).enumerate() {
            if p.ty.kind != T_DESC || !p.is_in() {
                continue;
            }
            // SAFETY: args[i] points to the C parameter (caller); BYREF: a pointer to the handle.
            let at = unsafe {
                let a = *args.add(i) as *const u8;
                if p.is_byref() {
                    *(a as *const *const u8)
                } else {
                    a
                }
            };
            if at.is_null() {
                continue;
            }
            // SAFETY: `at` is the parameter's C object, of node p.root's type.
            match unsafe { crate::rich::client_ctx_binding(p.root, at) } {
                None => {}
                Some(Ok(b)) => return Ok(b),
                Some(Err(e)) => {
                    ctx_err.get_or_insert(e);
                }
            }
        }
        if !self.implicit.is_null() {
            // SAFETY: implicit points to the stub's implicit_handle global.
            let h = unsafe { *self.implicit };
            return crate::binding::lookup(h).ok_or(RPC_S_INVALID_BINDING);
        }
        Err(ctx_err.unwrap_or(RPC_S_INVALID_BINDING))
    }

    /// Where a failed call's status goes instead of being raised (ACF `[comm_status]` for a
    /// communication failure, `[fault_status]` for a fault from the server): the parameter's or
    /// return value's sink, if the operation has one for this kind of error.
    fn status_sink(&self, sinks: &Sinks, e: &msrpc::Error, ret: *mut c_void) -> Option<(P, usize)> {
        let want = status_kind(e)?;
        if let Some((p, at)) = sinks.outs.iter().find(|(p, _)| p.flags & want != 0) {
            return Some((*p, *at));
        }
        let p = self
            .params
            .iter()
            .find(|p| p.is_return() && p.flags & want != 0)?;
        (!ret.is_null()).then_some((*p, ret as usize))
    }

    /// Reads the `[in]` values and notes where the `[out]` ones go.
    ///
    /// # Safety
    /// `args` holds a pointer to each C parameter (not the return value), each pointing to a
    /// value of the C type the table describes; `ret` is NULL or the return value's storage.
    pub(crate) unsafe fn gather(
        &self,
        args: *const *mut c_void,
        ret: *mut c_void,
    ) -> Result<(Vec<Val>, Sinks), i32> {
        let mut vals = Vec::new();
        let mut sinks = Sinks {
            // SAFETY: the caller's arguments.
            binding: unsafe { self.binding(args) }.ok(),
            ..Sinks::default()
        };
        let mut argi = 0;
        for p in &self.params {
            if p.flags & P_RETURN != 0 {
                if !ret.is_null() {
                    sinks.ret = Some(*p);
                }
                continue;
            }
            if args.is_null() {
                return Err(RPC_S_INVALID_ARG);
            }
            // SAFETY: args has one entry per non-return parameter (caller).
            let a = unsafe { *args.add(argi) } as *const u8;
            argi += 1;
            if p.ty.kind == T_HANDLE {
                continue;
            }
            let at = if p.flags & P_BYREF != 0 {
                // SAFETY: a points to the C parameter, a pointer (BYREF).
                let q = unsafe { *(a as *const *const u8) };
                if q.is_null() {
                    return Err(RPC_X_NULL_REF_POINTER);
                }
                q
            } else {
                a
            };
            if p.flags & P_OUT != 0 {
                sinks.outs.push((*p, at as usize));
            }
            if p.ty.kind == T_PIPE {
                if p.flags & P_IN != 0 {
                    // SAFETY: `at` is the program's pipe structure (the parameter or its pointee).
                    let chunks = unsafe { crate::pipes::client_pull(p.root, at.cast()) }?;
                    vals.push(Val::Pipe(p.root, chunks));
                }
                continue;
            }
            if p.flags & P_IN != 0 {
                if p.ty.kind == T_DESC && p.flags & P_OUT == 0 {
                    // An [in] (not [in, out]) context handle cannot be NULL: the stub raises
                    // RPC_X_SS_IN_NULL_CONTEXT (1775), as Windows' does.
                    // SAFETY: `at` is the parameter's C object, of node p.root's type.
                    if let Some(Err(e)) = unsafe { crate::rich::client_ctx_binding(p.root, at) }
                        && e == crate::rich::RPC_X_SS_IN_NULL_CONTEXT
                    {
                        return Err(e);
                    }
                }
                if p.ty.kind == T_DESC {
                    // SAFETY: `at` is the C object the descriptor describes; args the stub's.
                    let v = unsafe {
                        crate::rich::read_top(p.root, at, args, crate::rich::Side::Client, None)
                    }?;
                    vals.push(Val::Rich(p.root, v));
                    continue;
                }
                // SAFETY: `at` points to a C value of the type the table describes.
                vals.push(unsafe { read_val(p, at) }?);
            }
        }
        Ok((vals, sinks))
    }

    /// The types of the reply's values, in order (the `[out]` parameters, then the return).
    pub(crate) fn reply_plan(&self) -> Vec<P> {
        let mut v: Vec<P> = self
            .params
            .iter()
            .filter(|p| p.flags & P_OUT != 0 && p.ty.kind != T_HANDLE)
            .copied()
            .collect();
        v.extend(self.params.iter().filter(|p| p.flags & P_RETURN != 0));
        v
    }
}

/// Which attribute covers a failed call: `P_FAULT_STATUS` for a fault from the server,
/// `P_COMM_STATUS` for a communication failure, None for the stub's own errors (always raised):
/// the split the Rust client's StatusOutcome uses.
fn status_kind(e: &msrpc::Error) -> Option<u32> {
    use msrpc::codegen::StatusError as _;
    if e.covered_status(false, true).is_some() {
        Some(P_FAULT_STATUS)
    } else if e.covered_status(true, false).is_some() {
        Some(P_COMM_STATUS)
    } else {
        None
    }
}

/// Reads one C value.
///
/// # Safety
/// `at` points to a readable C object of `p.ty` (`mem_size` bytes; for a string, the pointer).
pub(crate) unsafe fn read_val(p: &P, at: *const u8) -> Result<Val, i32> {
    let ty = &p.ty;
    match ty.kind {
        T_INT => {
            let signed = ty.flags & TF_SIGNED != 0;
            // SAFETY: `at` points to mem_size readable bytes (caller); unaligned reads.
            let raw: i128 = unsafe {
                match (ty.mem_size, signed) {
                    (1, false) => i128::from(at.read()),
                    (1, true) => i128::from(at.cast::<i8>().read()),
                    (2, false) => i128::from(at.cast::<u16>().read_unaligned()),
                    (2, true) => i128::from(at.cast::<i16>().read_unaligned()),
                    (4, false) => i128::from(at.cast::<u32>().read_unaligned()),
                    (4, true) => i128::from(at.cast::<i32>().read_unaligned()),
                    (_, false) => i128::from(at.cast::<u64>().read_unaligned()),
                    (_, true) => i128::from(at.cast::<i64>().read_unaligned()),
                }
            };
            let bits = u32::from(ty.wire_size) * 8;
            // An LP64 `long` that does not fit the wire's 32 bits is refused, never truncated.
            if signed {
                let (lo, hi) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
                if raw < lo || raw > hi {
                    return Err(RPC_X_INVALID_BOUND);
                }
                Ok(Val::I(raw as i64, ty.wire_size))
            } else {
                if raw < 0 || raw >= (1i128 << bits) {
                    return Err(RPC_X_INVALID_BOUND);
                }
                Ok(Val::U(raw as u64, ty.wire_size))
            }
        }
        T_FLOAT => {
            // SAFETY: `at` points to a float or double (caller).
            Ok(unsafe {
                if ty.mem_size == 4 {
                    Val::F32(at.cast::<f32>().read_unaligned())
                } else {
                    Val::F64(at.cast::<f64>().read_unaligned())
                }
            })
        }
        T_STRING => {
            // SAFETY: `at` points to the C string pointer (caller).
            let s = unsafe { at.cast::<*const u8>().read_unaligned() };
            if s.is_null() {
                if ty.flags & TF_UNIQUE == 0 {
                    return Err(RPC_X_NULL_REF_POINTER);
                }
                return Ok(if ty.wire_size == 1 {
                    Val::UStr8(None)
                } else {
                    Val::UStr16(None)
                });
            }
            if ty.wire_size == 1 {
                // SAFETY: a non-NULL [string] parameter is NUL-terminated (the IDL's contract).
                let v = unsafe { strings::read_units(s) }.ok_or(RPC_X_INVALID_BOUND)?;
                Ok(if ty.flags & TF_UNIQUE != 0 {
                    Val::UStr8(Some(v))
                } else {
                    Val::Str8(Some(v))
                })
            } else {
                // SAFETY: as above, in 16-bit units.
                let v =
                    unsafe { strings::read_units(s.cast::<u16>()) }.ok_or(RPC_X_INVALID_BOUND)?;
                // A non-NULL [unique] wide string keeps its referent id, as the 8-bit one does.
                Ok(if ty.flags & TF_UNIQUE != 0 {
                    Val::UStr16(Some(v))
                } else {
                    Val::Str16(Some(v))
                })
            }
        }
        _ => Err(RPC_S_INVALID_ARG),
    }
}

/// Encodes the `[in]` values (each a top-level parameter) in the negotiated syntax.
pub(crate) fn encode(vals: &[Val], syntax: Syntax, rep: DataRep) -> msrpc_ndr::Result<Vec<u8>> {
    encode_dir(vals, syntax, rep, false)
}

/// The order values go on the wire (MIDL's "Combining Pipe and Nonpipe Parameters", as the Rust
/// stubs order their fields): a request's non-pipe values, then its pipes; a reply's pipes,
/// then its other values and the return value. `is_pipe` tells them apart.
pub(crate) fn wire_order<T>(items: &[T], is_pipe: impl Fn(&T) -> bool, reply: bool) -> Vec<usize> {
    let (pipes, rest): (Vec<usize>, Vec<usize>) =
        (0..items.len()).partition(|&i| is_pipe(&items[i]));
    if reply {
        pipes.into_iter().chain(rest).collect()
    } else {
        rest.into_iter().chain(pipes).collect()
    }
}

/// Encodes a request's (`reply` false) or a reply's values, in the wire order of
/// [`wire_order`].
pub(crate) fn encode_dir(
    vals: &[Val],
    syntax: Syntax,
    rep: DataRep,
    reply: bool,
) -> msrpc_ndr::Result<Vec<u8>> {
    let mut e = Encoder::new(syntax, rep);
    let nodes = crate::rich::nodes();
    for i in wire_order(vals, |v| matches!(v, Val::Pipe(..)), reply) {
        let v = &vals[i];
        match v {
            Val::Pipe(elem, chunks) => crate::rich::encode_pipe(&nodes, *elem, chunks, &mut e)?,
            Val::Rich(root, v) => crate::rich::encode_param(&nodes, *root, v, &mut e)?,
            Val::U(x, 1) => e.encode_param(&(*x as u8))?,
            Val::U(x, 2) => e.encode_param(&(*x as u16))?,
            Val::U(x, 4) => e.encode_param(&(*x as u32))?,
            Val::U(x, _) => e.encode_param(x)?,
            Val::I(x, 1) => e.encode_param(&(*x as i8))?,
            Val::I(x, 2) => e.encode_param(&(*x as i16))?,
            Val::I(x, 4) => e.encode_param(&(*x as i32))?,
            Val::I(x, _) => e.encode_param(x)?,
            Val::F32(x) => e.encode_param(x)?,
            Val::F64(x) => e.encode_param(x)?,
            // A [ref] string is its pointee; a [unique] one a Unique pointer (see read_val).
            Val::Str8(Some(s)) => e.encode_param(&NdrString(s.clone()))?,
            Val::Str16(Some(s)) => e.encode_param(&WideString(s.clone()))?,
            Val::Str8(None) | Val::Str16(None) => {
                return Err(msrpc_ndr::Error::new(msrpc_ndr::ErrorKind::Invalid(
                    "a NULL [ref] string",
                )));
            }
            Val::UStr8(s) => e.encode_param(&Unique(s.clone().map(|s| Box::new(NdrString(s)))))?,
            Val::UStr16(s) => {
                e.encode_param(&Unique(s.clone().map(|s| Box::new(WideString(s)))))?
            }
        }
    }
    Ok(e.into_bytes())
}

/// Decodes a reply's values under the binding's limits.
pub(crate) fn decode(plan: &[P], reply: &msrpc::Reply) -> msrpc_ndr::Result<Outs> {
    decode_values(
        plan,
        &reply.stub,
        reply.syntax,
        reply.drep,
        reply.limits,
        true,
    )
}

/// Decodes top-level values of the plan's types (a request's `[in]`, `reply` false, or a
/// reply's `[out]`), read in wire order ([`wire_order`]) and returned in the plan's order.
pub(crate) fn decode_values(
    plan: &[P],
    stub: &[u8],
    syntax: Syntax,
    rep: DataRep,
    limits: msrpc_ndr::DecodeLimits,
    reply: bool,
) -> msrpc_ndr::Result<Outs> {
    let mut d = Decoder::with_limits(stub, syntax, rep, limits);
    let mut slots: Vec<Option<Val>> = vec![None; plan.len()];
    let mut rich = crate::rich::Dec::new();
    for i in wire_order(plan, |p| p.ty.kind == T_PIPE, reply) {
        let p = &plan[i];
        let out = &mut slots[i];
        if p.ty.kind == T_PIPE {
            *out = Some(Val::Pipe(p.root, rich.pipe(p.root, &mut d)?));
            continue;
        }
        if p.ty.kind == T_DESC {
            *out = Some(Val::Rich(p.root, rich.param(p.root, &mut d)?));
            continue;
        }
        let signed = p.ty.flags & TF_SIGNED != 0;
        let v = match (p.ty.kind, p.ty.wire_size, signed) {
            (T_INT, 1, false) => Val::U(u64::from(d.decode_param::<u8>()?), 1),
            (T_INT, 2, false) => Val::U(u64::from(d.decode_param::<u16>()?), 2),
            (T_INT, 4, false) => Val::U(u64::from(d.decode_param::<u32>()?), 4),
            (T_INT, _, false) => Val::U(d.decode_param::<u64>()?, 8),
            (T_INT, 1, true) => Val::I(i64::from(d.decode_param::<i8>()?), 1),
            (T_INT, 2, true) => Val::I(i64::from(d.decode_param::<i16>()?), 2),
            (T_INT, 4, true) => Val::I(i64::from(d.decode_param::<i32>()?), 4),
            (T_INT, _, true) => Val::I(d.decode_param::<i64>()?, 8),
            (T_STRING, 1, _) if p.ty.flags & TF_UNIQUE != 0 => Val::Str8(
                d.decode_param::<Unique<NdrString>>()?
                    .into_inner()
                    .map(|s| s.0),
            ),
            (T_STRING, 1, _) => Val::Str8(Some(d.decode_param::<NdrString>()?.0)),
            (T_STRING, _, _) if p.ty.flags & TF_UNIQUE != 0 => Val::Str16(
                d.decode_param::<Unique<WideString>>()?
                    .into_inner()
                    .map(|s| s.0),
            ),
            (T_STRING, _, _) => Val::Str16(Some(d.decode_param::<WideString>()?.0)),
            (T_FLOAT, _, _) if p.ty.mem_size == 4 => Val::F32(d.decode_param::<f32>()?),
            (T_FLOAT, _, _) => Val::F64(d.decode_param::<f64>()?),
            _ => {
                return Err(msrpc_ndr::Error::new(msrpc_ndr::ErrorKind::Invalid(
                    "an [out] type the C engine does not support",
                )));
            }
        };
        *out = Some(v);
    }
    d.finish()?;
    Ok(slots.into_iter().flatten().collect())
}

/// Writes a reply's values to where the program wants them.
///
/// # Safety
/// Each sink address is still a writable C object of its type (the program keeps `[out]`
/// buffers alive until the reply, as the page requires); `ret` is NULL or the return value's
/// storage.
pub(crate) unsafe fn store(sinks: &Sinks, outs: &[Val], ret: *mut c_void) {
    let mut it = outs.iter();
    let b = sinks.binding.as_ref();
    for (p, at) in &sinks.outs {
        if let Some(v) = it.next() {
            // SAFETY: `at` is a writable object of p's type (caller).
            unsafe { write_val_in(p, *at as *mut u8, v, b) };
        }
    }
    if let (Some(p), Some(v)) = (&sinks.ret, it.next())
        && !ret.is_null()
    {
        // SAFETY: ret is the return value's storage (caller).
        unsafe { write_val_in(p, ret.cast(), v, b) };
    }
}

/// # Safety
/// `at` is a writable C object of `p.ty`.
pub(crate) unsafe fn write_val(p: &P, at: *mut u8, v: &Val) {
    // SAFETY: the caller's object.
    unsafe { write_val_in(p, at, v, None) }
}

/// [`write_val`] on the client, where context handles created keep the call's `binding`.
///
/// # Safety
/// `at` is a writable C object of `p.ty`.
unsafe fn write_val_in(p: &P, at: *mut u8, v: &Val, binding: Option<&Binding>) {
    if let Val::Rich(root, v) = v {
        let mut w = crate::rich::Writer::new(crate::rich::Side::Client);
        w.binding = binding.cloned();
        // SAFETY: `at` is the caller's C object of this type; [out] pointees are allocated.
        let _ = unsafe { w.write_top(*root, at, v) };
        return;
    }
    let n: i128 = match v {
        Val::U(x, _) => i128::from(*x),
        Val::I(x, _) => i128::from(*x),
        _ => 0,
    };
    // SAFETY: `at` is writable for mem_size bytes (caller); unaligned writes.
    unsafe {
        match (p.ty.kind, v) {
            (T_FLOAT, Val::F32(x)) => at.cast::<f32>().write_unaligned(*x),
            (T_FLOAT, Val::F64(x)) => at.cast::<f64>().write_unaligned(*x),
            (T_INT, _) => match p.ty.mem_size {
                1 => at.write(n as u8),
                2 => at.cast::<u16>().write_unaligned(n as u16),
                4 => at.cast::<u32>().write_unaligned(n as u32),
                _ => at.cast::<u64>().write_unaligned(n as u64),
            },
            _ => {}
        }
    }
}

/// The synchronous call of a generated client stub: marshals, calls and waits, writes the
/// `[out]` values and the return value. Returns the status the stub raises (0 on success).
///
/// # Safety
/// `itf` is a generated interface table; `args` holds a pointer to each C parameter of operation
/// `proc` and `ret` is NULL or its return value's storage, as the generated stub passes them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MsrpcClientCall(
    itf: *const MsrpcInterface,
    proc: u32,
    args: *const *mut c_void,
    ret: *mut c_void,
) -> i32 {
    // SAFETY: as this function's (caller).
    unsafe { client_call(itf, proc, None, args, ret) }
}

/// [`MsrpcClientCall`] with `object` as the request's object UUID (a COM proxy's IPID).
///
/// # Safety
/// As [`MsrpcClientCall`].
pub(crate) unsafe fn client_call(
    itf: *const MsrpcInterface,
    proc: u32,
    object: Option<uuid::Uuid>,
    args: *const *mut c_void,
    ret: *mut c_void,
) -> i32 {
    // SAFETY: the generated stub passes its table, arguments and return storage (caller).
    let prepared = unsafe {
        Op::load(itf, proc).and_then(|op| {
            let b = op.binding(args)?;
            let (vals, sinks) = op.gather(args, ret)?;
            Ok((op, b, vals, sinks))
        })
    };
    let (op, binding, vals, sinks) = match prepared {
        Ok(x) => x,
        Err(s) => return s,
    };
    if op.is_async {
        // An [async] operation's stub passes its handle (MsrpcAsyncClientCall).
        return RPC_S_INVALID_ASYNC_CALL;
    }
    let enc = move |syntax, rep| encode(&vals, syntax, rep);
    let reply = match match object {
        Some(o) => binding.call_with_object_blocking(op.iface, op.opnum, o, enc),
        None => binding.call_blocking(op.iface, op.opnum, enc),
    } {
        Ok(r) => r,
        Err(e) => {
            return match op.status_sink(&sinks, &e, ret) {
                Some((p, at)) => {
                    // [comm_status] / [fault_status]: the status goes to the parameter (or the
                    // return value) and the call returns normally.
                    // SAFETY: `at` is the caller's error_status_t object (an [out] pointee or
                    // the return value's storage), alive during this synchronous call.
                    unsafe { write_val(&p, at as *mut u8, &Val::U(u64::from(e.status().0), 4)) };
                    RPC_S_OK
                }
                None => of(&e),
            };
        }
    };
    match decode(&op.reply_plan(), &reply) {
        Ok(outs) => {
            // The [out] pipes first (their data came first), to the program's alloc and push.
            for ((p, at), v) in sinks.outs.iter().zip(&outs) {
                if let Val::Pipe(elem, chunks) = v {
                    debug_assert!(p.ty.kind == T_PIPE);
                    // SAFETY: `at` is the program's pipe structure, alive during this call.
                    let pushed =
                        unsafe { crate::pipes::client_push(*elem, *at as *const _, chunks) };
                    if let Err(s) = pushed {
                        return s;
                    }
                }
            }
            // SAFETY: the sinks are the caller's [out] objects and return storage, alive during
            // this synchronous call.
            unsafe { store(&sinks, &outs, ret) };
            RPC_S_OK
        }
        Err(_) => RPC_X_BAD_STUB_DATA,
    }
}

pub use crate::asyncs::MsrpcAsyncClientCall;

#[cfg(test)]
mod tests {
    use msrpc_ndr::{DataRep, Stub as _, Syntax};
    use msrpc_sample::idl::async_rpc as a;

    use super::*;

    /// The C engine and the Rust stubs put the same bytes on the wire for the same values, at
    /// NDR20 and NDR64 (the requests of the AsyncRPC sample, as C tables describe them).
    #[test]
    fn same_bytes_as_the_rust_stubs() {
        for syntax in [Syntax::Ndr20, Syntax::Ndr64] {
            let rep = DataRep::LITTLE_ENDIAN;
            let c = encode(&[Val::Str8(Some(b"hello".to_vec()))], syntax, rep).unwrap();
            let rust = a::NonAsyncFuncRequest {
                pszMessage: msrpc_ndr::NdrString(b"hello".to_vec()),
            }
            .encode(syntax, rep)
            .unwrap();
            assert_eq!(c, rust, "{syntax:?}");
            let c = encode(&[Val::U(10_000, 4)], syntax, rep).unwrap();
            let rust = a::AsyncFuncRequest {
                nAsychDelay: 10_000,
            }
            .encode(syntax, rep)
            .unwrap();
            assert_eq!(c, rust, "{syntax:?}");
        }
    }

    /// A non-NULL `[in, string, unique] wchar_t *` keeps its referent id (it was once read as a
    /// [ref] string, which a server then failed to decode).
    #[test]
    fn unique_wide_string_keeps_its_referent() {
        let p = P {
            flags: P_IN,
            ty: MsrpcType {
                kind: T_STRING,
                flags: TF_UNIQUE,
                wire_size: 2,
                mem_size: 8,
            },
            root: 0,
        };
        let text: [u16; 3] = [u16::from(b'h'), u16::from(b'i'), 0];
        let at: *const u16 = text.as_ptr();
        // SAFETY: a pointer to a NUL-terminated UTF-16 string, on the stack.
        let v = unsafe { read_val(&p, (&at as *const *const u16).cast()) }.unwrap();
        assert_eq!(v, Val::UStr16(Some(text[..2].to_vec())));
    }

    /// What the engine reads from C memory: an LP64 `unsigned long` (8 bytes) within the wire's
    /// 32 bits is sent as 32 bits; above it, refused.
    #[test]
    fn lp64_long_against_the_wire() {
        let p = P {
            flags: P_IN,
            ty: MsrpcType {
                kind: T_INT,
                flags: 0,
                wire_size: 4,
                mem_size: 8,
            },
            root: 0,
        };
        let ok: u64 = 0xFFFF_FFFF;
        // SAFETY: a u64 on the stack, 8 readable bytes.
        let v = unsafe { read_val(&p, (&ok as *const u64).cast()) }.unwrap();
        assert_eq!(v, Val::U(0xFFFF_FFFF, 4));
        let big: u64 = 0x1_0000_0000;
        // SAFETY: as above.
        let e = unsafe { read_val(&p, (&big as *const u64).cast()) }.unwrap_err();
        assert_eq!(e, RPC_X_INVALID_BOUND);
    }
}
