//! MIDL/ACF compiler for msrpc: reads the IDL and ACF that Windows programmers have and that the
//! Windows protocol specifications publish, and generates Rust.
//!
//! Three stages, kept apart:
//!
//! 1. **Front end** — a lexer with positions and a small C preprocessor, and a recursive-descent
//!    parser for MIDL and ACF syntax.
//! 2. **Checked model** — names resolved, the base types of MS-DTYP available from a built-in
//!    prelude (this crate's `idl/ms-dtyp.idl`), pointer defaults applied, opnums assigned and every
//!    `size_is`/`length_is`/`switch_is` expression bound to a field or parameter.
//! 3. **Generator** — Rust types with NDR20/NDR64 impls of the `msrpc_ndr` traits, per-operation
//!    request/response structs, an interface descriptor, a server trait and a dispatch function;
//!    formatted with prettyplease.
//!
//! Errors are [`Diagnostics`]: `file:line:col: error: message`, the source line and a caret.
//! Unsupported constructs (`[callback]`, `[transmit_as]`…) are errors, never silently wrong
//! code.
//!
//! # From build.rs
//!
//! ```no_run
//! // build.rs
//! msrpc_idl::Builder::new()
//!     .include_dir("idl")
//!     .compile(&["idl/mgmt.idl"], &["idl/mgmt.acf"])
//!     .expect("IDL compiles");
//! ```
//!
//! and in the crate: `include!(concat!(env!("OUT_DIR"), "/mgmt.rs"));`. Each IDL file becomes
//! `<stem>.rs`; an ACF is matched to the IDL with the same stem.
//!
//! # From a program
//!
//! ```no_run
//! let rust = msrpc_idl::compile_to_string("idl/epm.idl", None)?;
//! # Ok::<(), msrpc_idl::Diagnostics>(())
//! ```
//!
//! # What the generated code looks like
//!
//! Everything is generated into one private module, `__msrpc_idl`, which the file re-exports
//! (`pub use self::__msrpc_idl::*;`): one `#[allow(..)]` for the IDL's naming and for helpers an
//! interface does not use, and two short aliases, `rt` for the runtime module
//! ([`Builder::runtime_path`], default `::msrpc::codegen`) and `ndr` for the NDR crate
//! ([`Builder::ndr_path`], default `<runtime_path>::ndr`, i.e. the runtime re-exports
//! `msrpc_ndr` as `ndr`). Generated code names nothing else. The runtime module must provide:
//!
//! | Item | Used for |
//! |---|---|
//! | `ndr` | re-export of `msrpc_ndr` (unless `ndr_path` points elsewhere) |
//! | `Uuid` | re-export of `uuid::Uuid` (interface UUIDs, built with `Uuid::from_u128`) |
//! | `InterfaceDescriptor { name: &'static str, uuid: Uuid, version: (u16, u16), operations: &'static [OperationDescriptor] }` | per-interface constant `INTERFACE` |
//! | `OperationDescriptor { name: &'static str, opnum: u16, is_async: bool, idempotent: bool, maybe: bool }` | one per operation |
//! | `Win32Status` | the error a server manager routine returns (the call faults with it) |
//! | `DispatchError` with variants `UnknownOpnum(u16)`, `Decode(ndr::Error)`, `Encode(ndr::Error)`, `Manager(Win32Status)` | what `dispatch` returns |
//! | `dispatch_op<Req: ndr::Stub, Resp: ndr::Stub>((stub, syntax, rep, limits), manager: impl FnOnce(Req) -> Result<Resp, Win32Status>) -> Result<Vec<u8>, DispatchError>` and `dispatch_op_future` (the same with an `async` manager) | each arm of `dispatch`: decode under the limits, run the manager, encode the reply |
//! | `Interface`, `IncomingCall` (`info().opnum`), `AsyncCall<R>`, `RunOn` (`Pool`, `ConnectionTask`), `refuse(call, Win32Status) -> Dispatch`, `serve_blocking(call, run: RunOn, f)`, `serve_future(call, f)` (their `f` gets opnum, stub, syntax, rep and the `ndr::DecodeLimits` to decode under), `serve_async::<Req, Resp>(call, manager)` | the server adapter `Service` and `Server::accept` |
//! | `serve_blocking_call(call, run, f)` (as `serve_blocking`, `f` also gets `&IncomingCall`), `serve_future_call` (`f` gets `&'c IncomingCall` and the stub, returns `Pin<Box<dyn Future + Send + 'c>>`) | `Service` of an interface whose managers take the call (context handles, `handle_t`) |
//! | `ClientCall::call_object(interface, opnum, object: Uuid, encode)` and `call_object_blocking` | the client of a COM `[object]` interface (the IPID as the call's object UUID) |
//! | `ClientCall`, `Reply { stub, syntax, drep }`, `decode_reply<T: ndr::Stub>(&Reply) -> ndr::Result<T>`, `AsyncState<R>` | the client layer `Client` |
//! | `ClientContext<B>` (`handle`, `check_in`, `route`, `returned`), `ContextCall` (`type Association`, `association()`), `ContextRefused` | the client layer's context-handle operations (see [context handles](#context-handles)) |
//!
//! For each IDL type: a Rust type (structs with `pub` fields named as in the IDL; unions as
//! enums whose variant carries the discriminant; enums as open newtypes with associated
//! constants) implementing `NdrType`, `NdrEncode`, `NdrDecode` (and the conformant traits for
//! conformant structures). `size_is`/`length_is`/`switch_is` fields stay ordinary fields and are
//! checked against the data on encode and on decode. MS-DTYP's `GUID` is `Uuid` (same NDR).
//! A structure with one `[unique]` pointer to its own type is a linked-list node: it implements
//! `ndr::list::{Linked, LinkedEncode, LinkedDecode}`, and its `Drop`, `Clone`, `PartialEq` and
//! `Debug` (which prints the nodes as a list) and its NDR walk the list in a loop, so a long list
//! neither overflows the stack nor counts against the decoder's depth limit.
//!
//! For each interface a module named like the interface holds:
//!
//! - `INTERFACE: InterfaceDescriptor` (uuid, version, operations with opnums and `[async]` flags;
//!   `INTERFACE.syntax_id()` is what a client binds to);
//! - for each operation `Op`, `OpRequest` (the `[in]` parameters) and `OpResponse` (the `[out]`
//!   parameters and `return_value`), each implementing `ndr::Stub`: `OPNUM`, `encode(syntax,
//!   rep)`, `encode_into(&mut Encoder)`, `decode(stub, syntax, rep)`, `decode_with_limits(..,
//!   limits)` and `decode_from(&mut Decoder)` (`use msrpc::Stub as _;` to call them). A client
//!   encodes the request and decodes the response; a server does the reverse.
//!   `handle_t` parameters are not part of either; a top-level `[ref]` pointer is its pointee.
//! - `trait Server` with one method per operation: `fn op(&self, req: OpRequest) ->
//!   Result<OpResponse, Win32Status>` (return `Err(status)` to fault the call with it; with
//!   [`Builder::async_server`] it returns `impl Future<Output = that> + Send`, written as an
//!   `async fn` in the implementation, and `dispatch` is an `async fn`), or for an
//!   `[async]` operation `fn op(&self, call: AsyncCall<OpResponse>, req: OpRequest)`: the manager
//!   returns at once and finishes the call later, from any thread, with `call.complete(resp)` or
//!   `call.abort(status)`. A synchronous operation with an `[in] handle_t` parameter (or context
//!   handles, below) gets the call too, `fn op(&self, call: &IncomingCall, req: OpRequest)`, as a
//!   Windows manager gets its binding handle: who called (`call.client()`, `RpcBindingInqAuthClient`)
//!   and from where (`call.info()`); an `[async]` manager reaches the same through
//!   `AsyncCall::incoming()`. One provided method sees every call first, on the connection's
//!   task, before its request is decoded: `fn accept(&self, call: &mut IncomingCall) ->
//!   Result<RunOn, Win32Status>` (a Windows interface security callback's place): `Err(status)`
//!   faults the call without entering a manager, `Ok(RunOn::Pool)` (the default) runs a
//!   synchronous manager on the blocking pool, `Ok(RunOn::ConnectionTask)` runs it there and then
//!   (for routines that never block: msrpc's mgmt and endpoint mapper);
//! - `fn dispatch<S: Server>(server, opnum, stub, syntax, rep, limits: ndr::DecodeLimits) ->
//!   Result<Vec<u8>, DispatchError>` for the synchronous operations: decodes under `limits`
//!   (rejecting trailing bytes), calls the manager routine and encodes the reply, through
//!   `dispatch_op` (`dispatch(server, call, opnum, …)` in an interface with context-handle
//!   whose managers take the call);
//! - `struct Service<S>(pub Arc<S>)` (`Service::new(server)`), the runtime `Interface` for a
//!   `Server`: it asks `accept`, then synchronous managers run where it said (by default on the
//!   blocking thread pool, so they may block; `async fn` managers run on a task each, through
//!   `serve_future`), `[async]`
//!   ones are handed an `AsyncCall` at once; a request that does not decode is faulted with
//!   `nca_s_fault_ndr` (0x6F7), an unknown opnum with `nca_s_op_rng_error`, and `Err(status)`
//!   with that status;
//! - unless [`Builder::client`] is off, `struct Client<C>(pub C)` over a binding handle (for
//!   msrpc: `Binding` or `&Binding`) with, per operation, `async fn op(&self, req) ->
//!   Result<OpResponse, C::Error>` (dropping the future cancels the call), `fn
//!   op_blocking(&self, req)`, and for `[async]` operations `fn op_start(&self, state:
//!   &AsyncState<OpResponse>, req) -> Result<(), C::Error>` (the `RPC_ASYNC_STATE` form: the
//!   reply comes through the state's notification and `state.complete()`; it takes and gives
//!   what `op` does, `ClientContext`s included). The request is
//!   encoded in a closure the runtime calls once the interface is bound, because only then is
//!   the transfer syntax (NDR20 or NDR64) known.

//! ## Context handles
//!
//! Request and response structs carry `[context_handle]` parameters as the 20-byte wire value
//! `ContextHandle`, on both sides.
//!
//! - **Server.** The manager routine of a synchronous operation with a context-handle parameter
//!   (or return value) also gets the call: `fn op(&self, call: &IncomingCall, req: OpRequest)`,
//!   so it can create (`call.new_context(value, rundown)`), look up (`call.context::<T>(&h)`) and
//!   close (`call.close_context::<T>(&h)`) handles in the client's association group; the rundown
//!   given to `new_context` runs if the association ends with the handle open. Such an
//!   interface's `dispatch` takes the call after the server, and its `Service` runs managers
//!   through `serve_blocking_call`; with [`Builder::async_server`] the manager's future borrows
//!   the call (`fn op(&self, call: &IncomingCall, req) -> impl Future + Send`, an `async fn` in
//!   the implementation) and `Service` runs it through `serve_future_call`, which keeps the call
//!   until the future is done. `[async]` managers get their `AsyncCall` as before.
//! - **Client.** An operation whose parameters (or return value) include top-level context
//!   handles gets methods that use `ClientContext<B>`: a handle
//!   value tied to the binding handle (association) it came back on (for msrpc,
//!   `msrpc::ClientContext`). They take `OpArgs<B>` (the `[in]` parameters, context handles as
//!   `ClientContext`; or `OpRequest` if there are none) and return `OpOutput<B>` (the `[out]`
//!   parameters and return value, likewise; or `OpResponse`), need `C: ContextCall`, and make the
//!   call over the binding of the first live `[in]` context handle (the MIDL rule: the leftmost
//!   `[in]` handle parameter is the binding handle), else over the client's own. A null `[in]`
//!   handle (not `[in, out]`) or a closed one is refused before anything is sent. An `[in, out]`
//!   handle that comes back null (a close) or changed is closed for every clone of the value sent,
//!   and comes back as a null (or new) `ClientContext`. An operation with an explicit `handle_t`
//!   takes and returns `ClientContext`s the same way, but its call goes over the client's own
//!   binding, which is that handle (the server faults a context handle of another association
//!   with `nca_s_fault_context_mismatch`). `[async]` operations' `op_start` and
//!   `op_start_blocking` take the same `OpArgs` and complete on an `AsyncState<OpOutput<B>>`.
//!
//! ## Notes for the runtime
//!
//! - Inside the `msrpc` crate itself, generate with `runtime_path("crate::codegen")`.
//! - `Win32Status` must be a tuple struct with a public `u32` (placeholder operations named
//!   `Opnum<N>…` with no parameters get a default method returning `Win32Status(1745)`,
//!   `RPC_S_PROCNUM_OUT_OF_RANGE`).
//! - `OpRequest::decode` uses default `DecodeLimits`; `decode_with_limits` takes others. The
//!   generated `Service` decodes under the limits its `serve_*` helpers pass, and the client
//!   layer through `decode_reply`, so the runtime sets both.
//! - `[comm_status]`/`[fault_status]`: the client methods of the operation return
//!   `Result<rt::StatusOutcome<OpResponse>, C::Error>`, `Ok(StatusOutcome::Status(status))` for
//!   the failures the attributes cover (docs/codegen.md); for the `_start` forms of `[async]`
//!   operations they are still recorded in the request struct's docs only.
//!
//! # Supported MIDL
//!
//! - Files: `import` (files named `ms-dtyp.idl`, `wtypes.idl`, `unknwn.idl`… are satisfied by the
//!   built-in MS-DTYP prelude; others are searched beside the importing file and in the include
//!   directories), `cpp_quote` and `midl_pragma` (ignored), and a small C preprocessor:
//!   `#include "file"` (inlined; an unfound `.h` such as `<windows.h>` is skipped), object-like and
//!   function-like `#define` (`#define MASK(E) ...`, expanded as C does: arguments split at
//!   top-level commas and macro-expanded, the result rescanned, no macro expanded inside its own
//!   expansion; no `#`/`##` operators, no variadic macros) and `#undef`, `#if`/`#elif` over
//!   integer expressions with `defined(NAME)`,
//!   `#ifdef`/`#ifndef`/`#else`/`#endif`, and `#pragma` (ignored).
//! - Interfaces: `uuid`, `version`, `pointer_default`, `endpoint`, `ms_union`, `helpstring` and
//!   other documentation attributes (a trailing comma in an attribute list is accepted, as MIDL
//!   does); operations get opnums in declaration order. A no-break space (U+00A0, which IDL
//!   copied from the specifications' documents carries) is whitespace.
//! - Structures and unions defined inline inside a structure or union, named
//!   (`[switch_is(Level)] union _U { ... } Name;`) or anonymous (`union { ... } u;`, and with no
//!   member name at all, `union { ... };`, whose member is then called `u`, or `s` for a
//!   structure). An anonymous one is generated as `<Enclosing>_<member>`.
//! - `__int3264` (`ULONG_PTR`, `DWORD_PTR`, `SIZE_T`) as `ndr::Int3264` / `ndr::UInt3264`: 4
//!   octets in NDR20, 8 in NDR64. `sizeof` of integer, character, floating and enum types in
//!   constant expressions (`[range(0, 8 + 256 * sizeof(WCHAR))]`).
//! - `[string]` on a type that is already a string typedef (`[in, string] LPWSTR s`, also with a
//!   size: `[string, size_is(n)] LPSTR s`), and sizing attributes that reach into a pointer
//!   typedef's levels (`[size_is(, n)] TASK_NAMES *p` with `typedef [string] wchar_t **TASK_NAMES`).
//! - The whole of MS-DTYP's Appendix A in the prelude; its types with no NDR form (`void *`
//!   handles, C unions whose arms have no `[case]`) are an error only where an IDL uses them.
//!   [`Builder::shared_prelude`] and [`Builder::generate_prelude`] generate the prelude's types
//!   once for a crate of many interfaces.
//! - Types: all base types (`small`, `short`, `long`, `hyper`, `__int8`…`__int64`, `unsigned`,
//!   `char`, `wchar_t`, `byte`, `boolean`, `float`, `double`, `error_status_t`, `handle_t`),
//!   `const`, `typedef` with attributes, `struct`, `enum` and `[v1_enum]`, non-encapsulated
//!   unions (`switch_type`/`switch_is`/`case`/`default`, on integers or enums; with no
//!   `switch_type` the discriminant has the type of the `switch_is` field, as in MIDL) and encapsulated
//!   unions (`union switch (long x) u {…}`), fixed/conformant/varying/conformant-varying arrays
//!   (`size_is`, `max_is`, `length_is`, `first_is`, `last_is`, including `size_is(, n)` on inner
//!   pointer levels and on pointer typedefs), `[string]`, `[range]`, `[ref]`/`[unique]`/`[ptr]`,
//!   `[context_handle]`, `[handle]` typedefs (marshalled as their type, as MIDL does),
//!   `[in]`, `[out]`, `[retval]`, `[idempotent]`/`[maybe]`/`[broadcast]` (recorded).
//! - COM (DCOM) `[object]` interfaces deriving from IUnknown (declared, as MS-DCOM's
//!   `ms-dcom.idl` does, or not) or from another `[object]` interface: opnums start at 3 after
//!   IUnknown's methods and continue from the base's, a derived interface's module includes its
//!   bases' operations, requests carry `ORPCthis: ORPCTHIS` first and responses `ORPCthat:
//!   ORPCTHAT` first (MS-DCOM's types: import `ms-dcom.idl`), every manager takes the call (the
//!   IPID is `call.info().object`), and the client's methods take the IPID (`op(&self, ipid,
//!   req)`, through `ClientCall::call_object`); `orpcthis()` makes a client's ORPCTHIS. No module
//!   for IUnknown itself; an imported interface gives types only (as MIDL generates no stubs for
//!   one). DCOM activation and OXID resolution are not in scope: the IPID and a binding to the
//!   object exporter come from elsewhere.
//! - ACF: `[explicit_handle]`, `[implicit_handle(handle_t name)]`, `[auto_handle]` on the
//!   interface (recorded as `BINDING`), `[async]`, `[comm_status]`, `[fault_status]` on
//!   operations and parameters; `include` and `typedef` lines are accepted.
//!
//! Rust mapping: integers and floats as themselves, `boolean` as `bool`, `char`/`byte` as `u8`,
//! `wchar_t` as `u16`, enums as `struct E(pub u32)`, `[string]` pointers as `WideString` /
//! `NdrString` (conformant varying strings; a `[string]` array with a fixed bound or a
//! `size_is` becomes a `VaryingArray` / `ConformantVaryingArray` whose items include the NUL),
//! pointers as `Unique<T>` / `Ref<T>` / `Full<T>` (a top-level `[ref]` parameter is the pointee
//! itself), arrays as `[T; N]` / `ConformantArray<T>` / `VaryingArray<T, N>` /
//! `ConformantVaryingArray<T>`, context handles as `ContextHandle`, DCE pipes
//! (`typedef pipe T NAME;`) as `Pipe<T>`, buffered: every chunk in the request or response, an
//! `[in]` pipe after the other `[in]` parameters and an `[out]` pipe before the other `[out]`
//! parameters, as on the wire (docs/codegen.md, "Pipes").
//!
//! # Not supported (each is an error naming the construct)
//!
//! Streamed pipes (pipes are buffered), `[callback]`, `[local]`, `[call_as]`, COM type libraries and
//! automation (`library`, `coclass`, `dispinterface`, `importlib`, `[dual]`, `[oleautomation]`),
//! `[iid_is]`, interface inheritance outside COM `[object]` interfaces, `[transmit_as]`,
//! `[wire_marshal]`, `[user_marshal]`, `[represent_as]`, `[encode]`/`[decode]` serialization,
//! function pointers, bit fields, varargs, the `#` and `##` macro operators and variadic macros,
//! member access in
//! conformance expressions. Not yet handled: union arms or parameters that are themselves
//! conformant in ways beyond the above, parameters that exist only in the ACF.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ast;
mod c_gen;
mod check;
mod diag;
mod r#gen;
mod lexer;
mod model;
mod parser;
mod preprocess;

use std::path::{Path, PathBuf};

pub use c_gen::CStubs;
pub use diag::{Diagnostic, Diagnostics};

use diag::Sources;

/// The MS-DTYP base types, always loaded before the compiled file.
const PRELUDE: &str = include_str!("../idl/ms-dtyp.idl");

/// File names whose `import` is satisfied by the built-in prelude.
const PRELUDE_NAMES: &[&str] = &[
    "ms-dtyp.idl",
    "ms-rpce.idl",
    "wtypes.idl",
    "wtypesbase.idl",
    "basetsd.h",
    // The Windows SDK header that declares GUID; real IDL (MS-TSCH's, for one) includes it.
    "guiddef.h",
    "unknwn.idl",
    "oaidl.idl",
    "objidl.idl",
    "ms-oaut.idl",
];

/// The errors of [`Builder::compile`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The IDL or ACF did not compile.
    #[error("{0}")]
    Compile(#[from] Diagnostics),
    /// Writing the output failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No output directory: neither [`Builder::out_dir`] nor `OUT_DIR` is set.
    #[error("no output directory: set Builder::out_dir or run from build.rs (OUT_DIR)")]
    NoOutDir,
}

/// Compiles IDL files to Rust, in the manner of `prost-build`.
#[derive(Debug, Clone)]
pub struct Builder {
    include_dirs: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    opts: r#gen::Options,
    emit_rerun: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// A builder with the default paths (`::msrpc::codegen`).
    pub fn new() -> Self {
        Builder {
            include_dirs: Vec::new(),
            out_dir: None,
            opts: r#gen::Options::default(),
            emit_rerun: true,
        }
    }

    /// Adds a directory searched for `import` and `#include` files.
    pub fn include_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.include_dirs.push(dir.into());
        self
    }

    /// Where [`Builder::compile`] writes (default: `$OUT_DIR`).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// The path through which generated code names runtime items (default `::msrpc::codegen`).
    pub fn runtime_path(mut self, path: impl Into<String>) -> Self {
        self.opts.runtime_path = path.into();
        self
    }

    /// The path through which generated code names `msrpc_ndr` items (default
    /// `<runtime_path>::ndr`); set `::msrpc_ndr` to use the crate directly.
    pub fn ndr_path(mut self, path: impl Into<String>) -> Self {
        self.opts.ndr_path = Some(path.into());
        self
    }

    /// Whether to generate the client-call layer `Client` (on by default; see the crate docs).
    pub fn client(mut self, on: bool) -> Self {
        self.opts.client = on;
        self
    }

    /// Whether the manager routines of synchronous operations are `async fn`s (`fn op(&self, req)
    /// -> impl Future<Output = Result<OpResponse, Win32Status>> + Send`, implemented with
    /// `async fn`; `Service` runs each on a task of its own) instead of blocking `fn`s run on the
    /// blocking thread pool (the default). `[async]` operations get an `AsyncCall` either way.
    pub fn async_server(mut self, on: bool) -> Self {
        self.opts.async_server = on;
        self
    }

    /// Generates the MS-DTYP prelude's types (`RPC_UNICODE_STRING`, `RPC_SID`, `FILETIME`...)
    /// into no file: each file names them as `<path>::NAME` instead, and the crate generates
    /// them once with [`Builder::generate_prelude`] into the module at `path` (for example
    /// `crate::dtyp`). Without it (the default) each file carries the prelude types it uses.
    pub fn shared_prelude(mut self, path: impl Into<String>) -> Self {
        self.opts.shared_prelude = Some(path.into());
        self
    }

    /// The Rust of every MS-DTYP prelude type that has an NDR form, for the module that
    /// [`Builder::shared_prelude`] names (the prelude's `void *` handles and C unions, which
    /// have none, are left out).
    pub fn generate_prelude(&self) -> Result<String, Diagnostics> {
        let mut sources = Sources::default();
        let prelude = sources.add("ms-dtyp.idl".into(), None, PRELUDE.to_string());
        let file = parse_idl(&mut sources, &self.include_dirs, prelude)?;
        let units = vec![check::Unit { file, main: true }];
        let model = check::Checker::new(&sources)
            .prelude_file(prelude)
            .tolerant(true)
            .check(&units, None)
            .map_err(|d| *d)?;
        let mut opts = self.opts.clone();
        opts.shared_prelude = None;
        r#gen::generate(&model, &opts).map_err(|msg| {
            Diagnostic::without_location("msrpc-idl", format!("internal error: {msg}")).into()
        })
    }

    /// Whether [`Builder::compile`] prints `cargo:rerun-if-changed` lines (default true).
    pub fn emit_rerun_if_changed(mut self, on: bool) -> Self {
        self.emit_rerun = on;
        self
    }

    /// Compiles each IDL file (with the ACF of the same stem from `acfs`, if any) into
    /// `<out_dir>/<stem>.rs`.
    pub fn compile(
        &self,
        idls: &[impl AsRef<Path>],
        acfs: &[impl AsRef<Path>],
    ) -> Result<(), Error> {
        let out_dir = match &self.out_dir {
            Some(d) => d.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(Error::NoOutDir)?,
        };
        if self.emit_rerun {
            // Imported files live beside the IDL or in the include directories; a directory
            // makes cargo rerun when anything in it changes.
            for dir in &self.include_dirs {
                println!("cargo:rerun-if-changed={}", dir.display());
            }
        }
        for idl in idls {
            let idl = idl.as_ref();
            let stem = idl.file_stem().unwrap_or_default();
            let acf = acfs
                .iter()
                .map(AsRef::as_ref)
                .find(|a| a.file_stem() == Some(stem));
            if self.emit_rerun {
                println!("cargo:rerun-if-changed={}", idl.display());
                if let Some(a) = acf {
                    println!("cargo:rerun-if-changed={}", a.display());
                }
            }
            let code = self.generate(idl, acf)?;
            let path = out_dir.join(Path::new(stem).with_extension("rs"));
            std::fs::write(&path, code).map_err(|source| Error::Io { path, source })?;
        }
        Ok(())
    }

    /// Compiles one IDL file (and optional ACF) to a string of Rust.
    pub fn generate(&self, idl: &Path, acf: Option<&Path>) -> Result<String, Diagnostics> {
        let idl_text = read(idl)?;
        let acf_text = match acf {
            Some(a) => Some((a.display().to_string(), read(a)?)),
            None => None,
        };
        self.run(
            idl.display().to_string(),
            Some(idl.to_path_buf()),
            idl_text,
            acf_text,
        )
    }

    /// Compiles IDL (and optional ACF) text; `name` labels diagnostics. Imports are looked up in
    /// the include directories.
    pub fn generate_from_str(
        &self,
        name: &str,
        idl: &str,
        acf: Option<&str>,
    ) -> Result<String, Diagnostics> {
        let acf = acf.map(|a| {
            (
                format!("{}.acf", name.trim_end_matches(".idl")),
                a.to_string(),
            )
        });
        self.run(name.to_string(), None, idl.to_string(), acf)
    }

    /// Compiles one IDL file (and optional ACF) to the C stubs of `msrpc idl --lang c`
    /// (`STEM.h`, `STEM_c.c`, `STEM_s.c`, for libmsrpc_c; docs/c-abi.md).
    pub fn generate_c(&self, idl: &Path, acf: Option<&Path>) -> Result<CStubs, Diagnostics> {
        let idl_text = read(idl)?;
        let acf_text = match acf {
            Some(a) => Some((a.display().to_string(), read(a)?)),
            None => None,
        };
        let stem = idl
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("stubs")
            .to_string();
        let source = idl
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("stubs.idl")
            .to_string();
        let model = self.model(
            idl.display().to_string(),
            Some(idl.to_path_buf()),
            idl_text,
            acf_text,
        )?;
        c_gen::generate(&model, &stem, &source)
            .map_err(|msg| Diagnostic::without_location(idl.display().to_string(), msg).into())
    }

    /// [`Builder::generate_c`] from text; `name` (`x.idl`) gives the stem and labels diagnostics.
    pub fn generate_c_from_str(
        &self,
        name: &str,
        idl: &str,
        acf: Option<&str>,
    ) -> Result<CStubs, Diagnostics> {
        let acf = acf.map(|a| {
            (
                format!("{}.acf", name.trim_end_matches(".idl")),
                a.to_string(),
            )
        });
        let stem = name.trim_end_matches(".idl").to_string();
        let model = self.model(name.to_string(), None, idl.to_string(), acf)?;
        c_gen::generate(&model, &stem, name)
            .map_err(|msg| Diagnostic::without_location(name, msg).into())
    }

    fn run(
        &self,
        name: String,
        path: Option<PathBuf>,
        text: String,
        acf: Option<(String, String)>,
    ) -> Result<String, Diagnostics> {
        let model = self.model(name, path, text, acf)?;
        r#gen::generate(&model, &self.opts).map_err(|msg| {
            Diagnostic::without_location("msrpc-idl", format!("internal error: {msg}")).into()
        })
    }

    /// Front end and checker: the checked model of one IDL (plus optional ACF).
    fn model(
        &self,
        name: String,
        path: Option<PathBuf>,
        text: String,
        acf: Option<(String, String)>,
    ) -> Result<model::Model, Diagnostics> {
        let mut sources = Sources::default();
        let mut units = Vec::new();
        let mut loaded: Vec<PathBuf> = Vec::new();
        let prelude = sources.add("ms-dtyp.idl".into(), None, PRELUDE.to_string());
        let file = parse_idl(&mut sources, &self.include_dirs, prelude)?;
        units.push(check::Unit { file, main: false });
        let main_id = sources.add(name, path, text);
        let main = parse_idl(&mut sources, &self.include_dirs, main_id)?;
        self.load_imports(&mut sources, &main, main_id, &mut units, &mut loaded, 0)?;
        units.push(check::Unit {
            file: main,
            main: true,
        });
        let acf = match acf {
            None => None,
            Some((aname, atext)) => {
                let id = sources.add(aname, None, atext);
                let toks =
                    preprocess::Preprocessor::new(&mut sources, &self.include_dirs).tokenize(id)?;
                Some(
                    parser::Parser::new(&toks, &sources)
                        .acf_file()
                        .map_err(|d| *d)?,
                )
            }
        };
        Ok(check::Checker::new(&sources)
            .prelude_file(prelude)
            .check(&units, acf.as_ref())
            .map_err(|d| *d)?)
    }

    fn load_imports(
        &self,
        sources: &mut Sources,
        file: &ast::File,
        from: u32,
        units: &mut Vec<check::Unit>,
        loaded: &mut Vec<PathBuf>,
        depth: usize,
    ) -> Result<(), Diagnostics> {
        let imports = file
            .items
            .iter()
            .chain(file.interfaces.iter().flat_map(|i| i.items.iter()))
            .filter_map(|i| match i {
                ast::Item::Import(names) => Some(names.clone()),
                _ => None,
            })
            .flatten()
            .collect::<Vec<_>>();
        for (name, span) in imports {
            let base = Path::new(&name)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("");
            if PRELUDE_NAMES.iter().any(|p| p.eq_ignore_ascii_case(base)) {
                continue;
            }
            let from_path = sources.file(from).path.clone();
            let Some(found) =
                preprocess::find_file(&name, from_path.as_deref(), &self.include_dirs)
            else {
                let hint = if base.to_ascii_lowercase().ends_with(".h") {
                    "msrpc-idl ships no Windows SDK headers; the built-in MS-DTYP prelude stands in for"
                } else {
                    "the IDL of another protocol (MS-ICPR imports MS-WCCE's ms-wcce.idl, say) must be written beside this file or in an include_dir; the built-in MS-DTYP prelude stands in for"
                };
                return Err(sources
                    .diagnostic(
                        span,
                        format!(
                            "cannot find imported file `{name}` beside the importing file or in an include_dir ({hint} {})",
                            PRELUDE_NAMES.join(", ")
                        ),
                    )
                    .into());
            };
            let canon = found.canonicalize().unwrap_or(found.clone());
            if loaded.contains(&canon) {
                continue;
            }
            if depth > 16 {
                return Err(sources
                    .diagnostic(span, "imports nest deeper than 16 levels")
                    .into());
            }
            loaded.push(canon);
            let text = read(&found)?;
            let id = sources.add(name.clone(), Some(found), text);
            let f = parse_idl(sources, &self.include_dirs, id)?;
            self.load_imports(sources, &f, id, units, loaded, depth + 1)?;
            units.push(check::Unit {
                file: f,
                main: false,
            });
        }
        Ok(())
    }
}

fn read(path: &Path) -> Result<String, Diagnostics> {
    std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::without_location(path.display().to_string(), format!("cannot read: {e}")).into()
    })
}

fn parse_idl(
    sources: &mut Sources,
    include_dirs: &[PathBuf],
    id: u32,
) -> Result<ast::File, Diagnostics> {
    let toks = preprocess::Preprocessor::new(sources, include_dirs).tokenize(id)?;
    Ok(parser::Parser::new(&toks, sources)
        .idl_file()
        .map_err(|d| *d)?)
}

/// Compiles one IDL file (and optional ACF) with default options, for the CLI's `msrpc idl`.
pub fn compile_to_string(
    idl_path: impl AsRef<Path>,
    acf_path: Option<&Path>,
) -> Result<String, Diagnostics> {
    Builder::new().generate(idl_path.as_ref(), acf_path)
}
