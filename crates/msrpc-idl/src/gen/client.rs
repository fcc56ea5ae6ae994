//! The client-call layer: the only part of the generator that assumes a shape for the runtime's
//! client API (`Builder::client`, on by default).
//!
//! Emitted shape, inside each interface module:
//!
//! ```text
//! pub struct Client<C>(pub C);
//! impl<C: <rt>::ClientCall> Client<C> {
//!     pub async fn op(&self, req: OpRequest) -> Result<OpResponse, C::Error>;
//!     pub fn op_blocking(&self, req: OpRequest) -> Result<OpResponse, C::Error>;
//!     // a COM [object] interface's operations take the IPID first:
//!     // pub async fn op(&self, ipid: <rt>::Uuid, req: OpRequest) -> Result<OpResponse, C::Error>;
//!     // [async] operations only: the AsyncState form, awaited or from a plain thread
//!     pub async fn op_start(&self, state: &<rt>::AsyncState<OpResponse>, req: OpRequest)
//!         -> Result<(), C::Error>;
//!     pub fn op_start_blocking(&self, state: &<rt>::AsyncState<OpResponse>, req: OpRequest)
//!         -> Result<(), C::Error>;
//! }
//!     // operations with top-level [context_handle] parameters (or return value): context handles
//!     // as ClientContext, the call routed over their binding (unless it has an explicit handle_t)
//!     pub async fn op(&self, args: OpArgs<C::Association>) -> Result<OpOutput<C::Association>, C::Error>
//!         where C: <rt>::ContextCall;
//!     pub fn op_blocking(&self, args: OpArgs<C::Association>) -> ... where C: <rt>::ContextCall;
//! }
//! pub struct OpArgs<B> { /* the [in] parameters; context handles as <rt>::ClientContext<B> */ }
//! pub struct OpOutput<B> { /* the [out] parameters and return value, likewise */ }
//! ```
//!
//! `OpArgs` is generated only when the operation has `[in]` context handles (else the method
//! takes `OpRequest`), `OpOutput` only when it has `[out]` ones or returns one (else it returns
//! `OpResponse`). An operation with an explicit `handle_t` takes and returns `ClientContext`s
//! too, but its call is not routed by them: the explicit handle (the client's binding) is its
//! binding (MIDL's rule). `[async]` context-handle operations get `op_start` and
//! `op_start_blocking` with the same `OpArgs`, on an `AsyncState<OpOutput<..>>`.
//!
//! where the runtime provides (the transfer syntax is known only once the interface is bound,
//! so the request is encoded by a closure the runtime calls):
//!
//! ```text
//! pub struct Reply { pub stub: Vec<u8>, pub syntax: ndr::Syntax, pub drep: ndr::DataRep }
//! fn decode_reply<T: ndr::Stub>(reply: &Reply) -> ndr::Result<T>;  // under the binding's limits
//! pub trait ClientCall {
//!     type Error: From<ndr::Error>;
//!     fn call<E>(&self, interface: &'static InterfaceDescriptor, opnum: u16, encode: E)
//!         -> impl Future<Output = Result<Reply, Self::Error>> + Send
//!         where E: FnOnce(ndr::Syntax, ndr::DataRep) -> ndr::Result<Vec<u8>> + Send + 'static;
//!     fn call_blocking<E>(&self, interface, opnum, encode: E) -> Result<Reply, Self::Error>;
//!     // COM [object] interfaces: `object` (the IPID) is this call's object UUID.
//!     fn call_object<E>(&self, interface, opnum, object: Uuid, encode: E)
//!         -> impl Future<Output = Result<Reply, Self::Error>> + Send;
//!     fn call_object_blocking<E>(&self, interface, opnum, object: Uuid, encode: E)
//!         -> Result<Reply, Self::Error>;
//!     fn start<R, E, D>(&self, state: &AsyncState<R>, interface, opnum, encode: E, decode: D)
//!         -> impl Future<Output = Result<(), Self::Error>> + Send
//!         where D: FnOnce(Reply) -> ndr::Result<R> + Send + 'static;
//!     fn start_blocking<R, E, D>(&self, state, interface, opnum, encode: E, decode: D)
//!         -> Result<(), Self::Error>;
//! }
//! pub trait ContextCall: ClientCall<Error: From<ContextRefused>> {
//!     type Association: ClientCall<Error = Self::Error> + Clone + Send + Sync + 'static;
//!     fn association(&self) -> Self::Association;
//! }
//! impl<B> ClientContext<B> {
//!     fn handle(&self) -> ndr::ContextHandle;
//!     fn check_in(&self, operation: &'static str, parameter: &'static str, in_out: bool)
//!         -> Result<(), ContextRefused>;
//!     fn route<'a>(ctxs: &[&'a ClientContext<B>]) -> Option<&'a B>;
//!     fn returned(handle: ndr::ContextHandle, association: &B, input: Option<&ClientContext<B>>)
//!         -> ClientContext<B> where B: Clone;
//! }
//! ```

use std::fmt::Write as _;

use super::{Gen, ident, snake, upper_camel};
use crate::model::{Interface, Operation, Ty};

pub(super) fn client_layer(g: &Gen<'_>, itf: &Interface, out: &mut String) {
    let rt = &g.rt;
    let _ = writeln!(
        out,
        "/// Typed client calls over a binding handle (for msrpc: `Binding` or `&Binding`).\n\
         #[derive(Debug, Clone)] pub struct Client<C>(pub C);\n\
         impl<C: {rt}::ClientCall> Client<C> {{"
    );
    let mut structs = String::new();
    if itf.object {
        object_methods(g, itf, out);
        out.push_str("}\n");
        return;
    }
    for op in &itf.ops {
        if let Some(form) = ContextForm::of(op) {
            context_methods(g, op, &form, out, &mut structs);
            continue;
        }
        let s = upper_camel(&op.name);
        let m = snake(&op.name);
        let f = m.trim_start_matches("r#");
        let opnum = op.opnum;
        let name = &op.name;
        if op.comm_status.is_some() || op.fault_status.is_some() {
            status_methods(g, op, out);
            continue;
        }
        let _ = writeln!(
            out,
            "/// Calls `{name}` (opnum {opnum}) and awaits the reply. Dropping the future cancels the call.\n\
             pub async fn {m}(&self, req: {s}Request) -> ::core::result::Result<{s}Response, C::Error> {{ \
             let reply = self.0.call(&INTERFACE, {opnum}, move |syntax, rep| req.encode(syntax, rep)).await?; \
             Ok({rt}::decode_reply(&reply)?) }}\n\
             /// Calls `{name}` (opnum {opnum}) from synchronous code: blocks the thread until the reply.\n\
             pub fn {f}_blocking(&self, req: {s}Request) -> ::core::result::Result<{s}Response, C::Error> {{ \
             let reply = self.0.call_blocking(&INTERFACE, {opnum}, move |syntax, rep| req.encode(syntax, rep))?; \
             Ok({rt}::decode_reply(&reply)?) }}"
        );
        if op.is_async {
            async_start(g, op, out);
        }
    }
    out.push_str("}\n");
    out.push_str(&structs);
}

/// A COM interface's methods: each takes the IPID of the object (interface pointer) it calls,
/// sent as the request's object UUID, and the request, whose `ORPCthis` comes first
/// (`orpcthis()` makes one); the response's `ORPCthat` comes back first. The binding must reach
/// the object exporter that holds the IPID: DCOM activation and OXID resolution, which give
/// both, are not this layer's (nor msrpc's) business.
fn object_methods(g: &Gen<'_>, itf: &Interface, out: &mut String) {
    let rt = &g.rt;
    for op in &itf.ops {
        let s = upper_camel(&op.name);
        let m = snake(&op.name);
        let f = m.trim_start_matches("r#");
        let opnum = op.opnum;
        let name = &op.name;
        let _ = writeln!(
            out,
            "/// Calls `{name}` (opnum {opnum}) on the object `ipid` and awaits the reply. Dropping the future cancels the call.\n\
             pub async fn {m}(&self, ipid: {rt}::Uuid, req: {s}Request) -> ::core::result::Result<{s}Response, C::Error> {{ \
             let reply = self.0.call_object(&INTERFACE, {opnum}, ipid, move |syntax, rep| req.encode(syntax, rep)).await?; \
             Ok({rt}::decode_reply(&reply)?) }}\n\
             /// Calls `{name}` (opnum {opnum}) on the object `ipid` from synchronous code: blocks the thread until the reply.\n\
             pub fn {f}_blocking(&self, ipid: {rt}::Uuid, req: {s}Request) -> ::core::result::Result<{s}Response, C::Error> {{ \
             let reply = self.0.call_object_blocking(&INTERFACE, {opnum}, ipid, move |syntax, rep| req.encode(syntax, rep))?; \
             Ok({rt}::decode_reply(&reply)?) }}"
        );
    }
}

/// An operation with ACF `[comm_status]`/`[fault_status]`: its methods give a
/// `StatusOutcome`, `Status(..)` for the failures the attributes cover (where MIDL's stub stores
/// the status in the attributed `error_status_t` instead of raising it); other errors are
/// errors as before.
fn status_methods(g: &Gen<'_>, op: &Operation, out: &mut String) {
    let rt = &g.rt;
    let s = upper_camel(&op.name);
    let m = snake(&op.name);
    let f = m.trim_start_matches("r#");
    let opnum = op.opnum;
    let name = &op.name;
    let (comm, fault) = (op.comm_status.is_some(), op.fault_status.is_some());
    let which = |x: &Option<String>| match x.as_deref() {
        None => None,
        Some("") => Some("the return value".to_string()),
        Some(p) => Some(format!("`{p}`")),
    };
    let mut doc = Vec::new();
    if let Some(w) = which(&op.comm_status) {
        doc.push(format!("a communication failure ([comm_status] on {w})"));
    }
    if let Some(w) = which(&op.fault_status) {
        doc.push(format!("a fault from the server ([fault_status] on {w})"));
    }
    let doc = doc.join(" or ");
    let _ = writeln!(
        out,
        "/// Calls `{name}` (opnum {opnum}) and awaits the reply. Dropping the future cancels the call. ACF: {doc} is `Ok(StatusOutcome::Status(status))`, not an error.\n\
         pub async fn {m}(&self, req: {s}Request) -> ::core::result::Result<{rt}::StatusOutcome<{s}Response>, C::Error>          where C::Error: {rt}::StatusError {{ \
         match self.0.call(&INTERFACE, {opnum}, move |syntax, rep| req.encode(syntax, rep)).await {{ \
         Ok(reply) => Ok({rt}::StatusOutcome::Reply({rt}::decode_reply(&reply)?)), \
         Err(e) => match {rt}::StatusError::covered_status(&e, {comm}, {fault}) {{ \
         Some(s) => Ok({rt}::StatusOutcome::Status(s)), None => Err(e) }} }} }}\n\
         /// Calls `{name}` (opnum {opnum}) from synchronous code: blocks the thread until the reply. ACF: {doc} is `Ok(StatusOutcome::Status(status))`, not an error.\n\
         pub fn {f}_blocking(&self, req: {s}Request) -> ::core::result::Result<{rt}::StatusOutcome<{s}Response>, C::Error>          where C::Error: {rt}::StatusError {{ \
         match self.0.call_blocking(&INTERFACE, {opnum}, move |syntax, rep| req.encode(syntax, rep)) {{ \
         Ok(reply) => Ok({rt}::StatusOutcome::Reply({rt}::decode_reply(&reply)?)), \
         Err(e) => match {rt}::StatusError::covered_status(&e, {comm}, {fault}) {{ \
         Some(s) => Ok({rt}::StatusOutcome::Status(s)), None => Err(e) }} }} }}"
    );
    if op.is_async {
        async_start(g, op, out);
    }
}

fn async_start(g: &Gen<'_>, op: &Operation, out: &mut String) {
    let rt = &g.rt;
    let s = upper_camel(&op.name);
    let f = snake(&op.name);
    let f = f.trim_start_matches("r#");
    let (opnum, name) = (op.opnum, &op.name);
    let _ = writeln!(
        out,
        "/// Starts `{name}` (opnum {opnum}, `[async]`) on `state` and resolves once the request is on its way;\n\
         /// the reply comes through `state`'s notification and `state.complete()`. Never blocks a runtime worker.\n\
         pub async fn {f}_start(&self, state: &{rt}::AsyncState<{s}Response>, req: {s}Request) -> ::core::result::Result<(), C::Error> {{ \
         self.0.start(state, &INTERFACE, {opnum}, move |syntax, rep| req.encode(syntax, rep), \
         |reply| {rt}::decode_reply(&reply)).await }}\n\
         /// [`Self::{f}_start`] from synchronous code (the page's form): blocks the thread until the request is on its way.\n\
         pub fn {f}_start_blocking(&self, state: &{rt}::AsyncState<{s}Response>, req: {s}Request) -> ::core::result::Result<(), C::Error> {{ \
         self.0.start_blocking(state, &INTERFACE, {opnum}, move |syntax, rep| req.encode(syntax, rep), \
         |reply| {rt}::decode_reply(&reply)) }}"
    );
}

/// How an operation's context handles appear in the client layer.
struct ContextForm {
    /// `[in]` context handles: (parameter index, also `[out]`).
    ins: Vec<(usize, bool)>,
    /// `[out]` context handles (parameter indices).
    outs: Vec<usize>,
    /// The return value is a context handle.
    ret: bool,
    /// The operation has an explicit `handle_t`: that is its binding (MIDL's rule), so the call
    /// is not routed by its context handles.
    explicit: bool,
}

impl ContextForm {
    /// `None` for operations with no top-level context handle.
    fn of(op: &Operation) -> Option<Self> {
        let is_ctx = |t: &Ty| matches!(t, Ty::ContextHandle);
        let form = ContextForm {
            ins: (op.params.iter().enumerate())
                .filter(|(_, p)| p.is_in && is_ctx(&p.ty))
                .map(|(i, p)| (i, p.is_out))
                .collect(),
            outs: (op.params.iter().enumerate())
                .filter(|(_, p)| p.is_out && is_ctx(&p.ty))
                .map(|(i, _)| i)
                .collect(),
            ret: op.ret.as_ref().is_some_and(is_ctx),
            explicit: op.params.iter().any(|p| matches!(p.ty, Ty::Handle)),
        };
        (!form.ins.is_empty() || !form.outs.is_empty() || form.ret).then_some(form)
    }
}

/// The async and blocking methods of an operation with context handles, and its `Args`/`Output`
/// structs (into `structs`, emitted after the `impl`).
fn context_methods(
    g: &Gen<'_>,
    op: &Operation,
    form: &ContextForm,
    out: &mut String,
    structs: &mut String,
) {
    let rt = &g.rt;
    let s = upper_camel(&op.name);
    let m = snake(&op.name);
    let f = m.trim_start_matches("r#");
    let (opnum, name) = (op.opnum, &op.name);
    let is_ctx_in = |i: usize| form.ins.iter().any(|&(j, _)| j == i);
    let ins: Vec<usize> = (0..op.params.len())
        .filter(|&i| op.params[i].is_in)
        .collect();
    let outs: Vec<usize> = (0..op.params.len())
        .filter(|&i| op.params[i].is_out)
        .collect();
    let has_args = !form.ins.is_empty();
    let has_output = !form.outs.is_empty() || form.ret;
    let ctx_ty = format!("{rt}::ClientContext<B>");
    if has_args {
        let _ = writeln!(
            structs,
            "/// The `[in]` parameters of `{name}` for [`Client`]: context handles as `ClientContext`\n\
             /// (the call goes over the binding of the first live one).\n\
             #[derive(Debug, Clone)] pub struct {s}Args<B> {{"
        );
        for &i in &ins {
            let p = &op.params[i];
            if matches!(p.ty, Ty::Handle) {
                // The explicit binding handle is the client's own.
                continue;
            }
            let ty = if is_ctx_in(i) {
                ctx_ty.clone()
            } else {
                g.rust_ty(&p.ty)
            };
            let _ = writeln!(structs, "pub {}: {ty},", ident(&p.name));
        }
        structs.push_str("}\n");
    }
    if has_output {
        let _ = writeln!(
            structs,
            "/// The `[out]` parameters and return value of `{name}` for [`Client`]: context handles as\n\
             /// `ClientContext`, tied to the binding the call went over.\n\
             #[derive(Debug, Clone)] pub struct {s}Output<B> {{"
        );
        for &i in &outs {
            let p = &op.params[i];
            let ty = if form.outs.contains(&i) {
                ctx_ty.clone()
            } else {
                g.rust_ty(&p.ty)
            };
            let _ = writeln!(structs, "pub {}: {ty},", ident(&p.name));
        }
        if let Some(r) = &op.ret {
            let ty = if form.ret {
                ctx_ty.clone()
            } else {
                g.rust_ty(r)
            };
            let _ = writeln!(structs, "pub return_value: {ty},");
        }
        structs.push_str("}\n");
    }
    let assoc = format!("<C as {rt}::ContextCall>::Association");
    let (arg, arg_ty) = if has_args {
        ("args", format!("{s}Args<{assoc}>"))
    } else {
        ("req", format!("{s}Request"))
    };
    let ret_ty = if has_output {
        format!("{s}Output<{assoc}>")
    } else {
        format!("{s}Response")
    };
    // The call goes over the binding of the first live [in] handle, unless the operation names
    // its binding (an explicit handle_t) or presents no handle.
    let route = has_args && !form.explicit;
    // Before the call: check the handles, build the wire request, pick the binding.
    let mut pre = String::new();
    if has_args {
        for &(i, in_out) in &form.ins {
            let p = &op.params[i];
            let _ = write!(
                pre,
                "args.{}.check_in({name:?}, {:?}, {in_out})?; ",
                ident(&p.name),
                p.name
            );
        }
        let fields: Vec<String> = ins
            .iter()
            .filter(|&&i| !matches!(op.params[i].ty, Ty::Handle))
            .map(|&i| {
                let n = ident(&op.params[i].name);
                if is_ctx_in(i) {
                    format!("{n}: args.{n}.handle()")
                } else {
                    format!("{n}: args.{n}")
                }
            })
            .collect();
        let _ = write!(pre, "let req = {s}Request {{ {} }};", fields.join(", "));
    }
    if route {
        let ctxs: Vec<String> = form
            .ins
            .iter()
            .map(|&(i, _)| format!("&args.{}", ident(&op.params[i].name)))
            .collect();
        let _ = write!(
            pre,
            " let via = {rt}::ClientContext::route(&[{}]);",
            ctxs.join(", ")
        );
    }
    // The association the handles that come back are tied to.
    let assoc_expr = if route {
        format!(
            "match via {{ Some(b) => ::core::clone::Clone::clone(b), None => {rt}::ContextCall::association(&self.0) }}"
        )
    } else {
        format!("{rt}::ContextCall::association(&self.0)")
    };
    // After the call: wrap the handles that came back (`resp` decoded, `assoc` bound).
    let post = if has_output {
        let mut fields = Vec::new();
        for &i in &outs {
            let n = ident(&op.params[i].name);
            if form.outs.contains(&i) {
                let input = if has_args && is_ctx_in(i) {
                    format!("Some(&args.{n})")
                } else {
                    "None".into()
                };
                fields.push(format!(
                    "{n}: {rt}::ClientContext::returned(resp.{n}, &assoc, {input})"
                ));
            } else {
                fields.push(format!("{n}: resp.{n}"));
            }
        }
        if op.ret.is_some() {
            fields.push(if form.ret {
                format!(
                    "return_value: {rt}::ClientContext::returned(resp.return_value, &assoc, None)"
                )
            } else {
                "return_value: resp.return_value".into()
            });
        }
        format!("Ok({s}Output {{ {} }})", fields.join(", "))
    } else {
        "Ok(resp)".into()
    };
    let post_call = if has_output {
        format!("let assoc = {assoc_expr}; {post}")
    } else {
        post.clone()
    };
    let enc = "move |syntax, rep| req.encode(syntax, rep)";
    let (call_async, call_blocking, doc) = if route {
        (
            format!(
                "match via {{ Some(b) => {rt}::ClientCall::call(b, &INTERFACE, {opnum}, {enc}).await?, \
                 None => self.0.call(&INTERFACE, {opnum}, {enc}).await? }}"
            ),
            format!(
                "match via {{ Some(b) => {rt}::ClientCall::call_blocking(b, &INTERFACE, {opnum}, {enc})?, \
                 None => self.0.call_blocking(&INTERFACE, {opnum}, {enc})? }}"
            ),
            "over the binding of the first live `[in]`\n\
             /// context handle (else this client's). A null `[in]` or a closed handle is refused before\n\
             /// anything is sent.",
        )
    } else {
        (
            format!("self.0.call(&INTERFACE, {opnum}, {enc}).await?"),
            format!("self.0.call_blocking(&INTERFACE, {opnum}, {enc})?"),
            if form.explicit {
                "over this client's binding (the explicit\n\
                 /// `handle_t`); the context handles that come back are tied to it."
            } else {
                "over this client's binding; the context\n\
                 /// handles that come back are tied to it."
            },
        )
    };
    if op.comm_status.is_some() || op.fault_status.is_some() {
        // ACF [comm_status]/[fault_status]: the covered failures of the call are
        // `Ok(StatusOutcome::Status(..))` (status_methods); the handle checks before it are
        // still errors.
        let (comm, fault) = (op.comm_status.is_some(), op.fault_status.is_some());
        let covered = |call: String, strip: &str, put: &str| {
            format!(
                "match {} {{ Ok(r) => r, Err(e) => return match {rt}::StatusError::covered_status(&e, {comm}, {fault}) {{ \
                 Some(s) => Ok({rt}::StatusOutcome::Status(s)), None => Err(e) }} }}",
                call.replace(strip, put)
            )
        };
        let call_async = covered(call_async, ".await?", ".await");
        let call_blocking = covered(call_blocking, ")?", ")");
        let _ = writeln!(
            out,
            "/// Calls `{name}` (opnum {opnum}) and awaits the reply, {doc} Dropping the future cancels the call. ACF [comm_status]/[fault_status]: the failures they cover are `Ok(StatusOutcome::Status(status))`.\n\
             pub async fn {m}(&self, {arg}: {arg_ty}) -> ::core::result::Result<{rt}::StatusOutcome<{ret_ty}>, C::Error> \
             where C: {rt}::ContextCall, C::Error: {rt}::StatusError {{ \
             {pre} let reply = {call_async}; \
             let resp: {s}Response = {rt}::decode_reply(&reply)?; \
             let out: ::core::result::Result<{ret_ty}, C::Error> = {{ {post_call} }}; out.map({rt}::StatusOutcome::Reply) }}\n\
             /// Calls `{name}` (opnum {opnum}) from synchronous code, as [`Client::{f}`] does: blocks the thread until the reply.\n\
             pub fn {f}_blocking(&self, {arg}: {arg_ty}) -> ::core::result::Result<{rt}::StatusOutcome<{ret_ty}>, C::Error> \
             where C: {rt}::ContextCall, C::Error: {rt}::StatusError {{ \
             {pre} let reply = {call_blocking}; \
             let resp: {s}Response = {rt}::decode_reply(&reply)?; \
             let out: ::core::result::Result<{ret_ty}, C::Error> = {{ {post_call} }}; out.map({rt}::StatusOutcome::Reply) }}"
        );
    } else {
        let _ = writeln!(
            out,
            "/// Calls `{name}` (opnum {opnum}) and awaits the reply, {doc} Dropping the future cancels the call.\n\
             pub async fn {m}(&self, {arg}: {arg_ty}) -> ::core::result::Result<{ret_ty}, C::Error> where C: {rt}::ContextCall {{ \
             {pre} let reply = {call_async}; \
             let resp: {s}Response = {rt}::decode_reply(&reply)?; {post_call} }}\n\
             /// Calls `{name}` (opnum {opnum}) from synchronous code, as [`Client::{f}`] does: blocks the thread until the reply.\n\
             pub fn {f}_blocking(&self, {arg}: {arg_ty}) -> ::core::result::Result<{ret_ty}, C::Error> where C: {rt}::ContextCall {{ \
             {pre} let reply = {call_blocking}; \
             let resp: {s}Response = {rt}::decode_reply(&reply)?; {post_call} }}"
        );
    }
    if !op.is_async {
        return;
    }
    // The AsyncState forms take and give the same values: `decode` owns what wrapping the reply's
    // handles needs (the association, and the `[in, out]` handles it may close), so the binding
    // routed to is owned too.
    let mut start_pre = pre;
    // `decode` may own `[in, out]` handles of `args`, which `via` borrows: own the binding.
    let own_via = route && has_output;
    if own_via {
        start_pre
            .push_str(" let via = ::core::option::Option::map(via, ::core::clone::Clone::clone);");
    }
    let via_ref = if own_via { "&via" } else { "via" };
    let decode = if has_output {
        let assoc_expr = if route {
            format!(
                "match &via {{ Some(b) => ::core::clone::Clone::clone(b), None => {rt}::ContextCall::association(&self.0) }}"
            )
        } else {
            assoc_expr
        };
        let _ = write!(start_pre, " let assoc = {assoc_expr};");
        format!("move |reply| {{ let resp: {s}Response = {rt}::decode_reply(&reply)?; {post} }}")
    } else {
        format!("|reply| {rt}::decode_reply(&reply)")
    };
    let (start_async, start_blocking) = if route {
        (
            format!(
                "match {via_ref} {{ Some(b) => {rt}::ClientCall::start(b, state, &INTERFACE, {opnum}, {enc}, decode).await, \
                 None => self.0.start(state, &INTERFACE, {opnum}, {enc}, decode).await }}"
            ),
            format!(
                "match {via_ref} {{ Some(b) => {rt}::ClientCall::start_blocking(b, state, &INTERFACE, {opnum}, {enc}, decode), \
                 None => self.0.start_blocking(state, &INTERFACE, {opnum}, {enc}, decode) }}"
            ),
        )
    } else {
        (
            format!("self.0.start(state, &INTERFACE, {opnum}, {enc}, decode).await"),
            format!("self.0.start_blocking(state, &INTERFACE, {opnum}, {enc}, decode)"),
        )
    };
    let _ = writeln!(
        out,
        "/// Starts `{name}` (opnum {opnum}, `[async]`) on `state`, taking and giving what [`Client::{f}`] does, and\n\
         /// resolves once the request is on its way; the reply comes through `state`'s notification and\n\
         /// `state.complete()`. Never blocks a runtime worker.\n\
         pub async fn {f}_start(&self, state: &{rt}::AsyncState<{ret_ty}>, {arg}: {arg_ty}) -> ::core::result::Result<(), C::Error> where C: {rt}::ContextCall {{ \
         {start_pre} let decode = {decode}; {start_async} }}\n\
         /// [`Self::{f}_start`] from synchronous code (the page's form): blocks the thread until the request is on its way.\n\
         pub fn {f}_start_blocking(&self, state: &{rt}::AsyncState<{ret_ty}>, {arg}: {arg_ty}) -> ::core::result::Result<(), C::Error> where C: {rt}::ContextCall {{ \
         {start_pre} let decode = {decode}; {start_blocking} }}"
    );
}
