//! The checked model: names resolved, pointer defaults applied, opnums assigned, conformance
//! expressions bound to fields or parameters.
//!
//! The generator reads only this model, never the syntax tree.

/// Index into [`Model::types`].
pub(crate) type TypeId = usize;

#[derive(Debug, Default)]
pub(crate) struct Model {
    pub(crate) types: Vec<TypeDef>,
    pub(crate) consts: Vec<ConstDef>,
    pub(crate) interfaces: Vec<Interface>,
    /// The names of `[context_handle]` typedefs (`typedef [context_handle] void *PCTX;`), which
    /// the C header declares as `void *`.
    pub(crate) context_handles: Vec<String>,
    /// Those of them declared `[context_handle_noserialize]`: calls presenting one need not take
    /// turns on the server.
    pub(crate) noserialize_contexts: Vec<String>,
    /// Those declared `[type_strict_context_handle]`: the server accepts only handles of the
    /// same typedef.
    pub(crate) type_strict_contexts: Vec<String>,
    /// The C typedefs of base and named types outside the prelude, in resolution order (name,
    /// the `typedef ...;` line), for the C header.
    pub(crate) c_typedefs: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct ConstDef {
    pub(crate) name: String,
    pub(crate) value: ConstValue,
    /// Defined in the main file (not an import or the prelude).
    pub(crate) main: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum ConstValue {
    Int(i64, Prim),
    Str(String),
}

#[derive(Debug, Clone)]
pub(crate) struct TypeDef {
    pub(crate) name: String,
    pub(crate) kind: DefKind,
    /// Defined in the main file (not an import or the prelude).
    pub(crate) main: bool,
    /// Defined in the built-in MS-DTYP prelude (generated once into a shared module when
    /// `Builder::shared_prelude` is set).
    pub(crate) prelude: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum DefKind {
    /// Being resolved (cycle guard); never seen by the generator.
    Pending,
    Struct(StructDef),
    Union(UnionDef),
    Enum(EnumDef),
    /// `typedef X Y;` for a non-pointer, non-aggregate X: emitted as a Rust type alias.
    Alias(Ty),
}

#[derive(Debug, Clone)]
pub(crate) struct StructDef {
    pub(crate) fields: Vec<Field>,
}

#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) ty: Ty,
    /// `[range(min, max)]`.
    pub(crate) range: Option<(i64, i64)>,
}

#[derive(Debug, Clone)]
pub(crate) struct UnionDef {
    /// The discriminant's wire type.
    pub(crate) switch_type: Prim,
    /// Declared without `switch_type` (and not encapsulated): the discriminant takes the type of
    /// the `switch_is` field or parameter that selects it (MIDL's rule), `long` until a use says.
    pub(crate) switch_implied: bool,
    /// The discriminant is this enum type (its wire size differs between NDR20 and NDR64).
    pub(crate) switch_enum: Option<TypeId>,
    /// For an encapsulated union, the discriminant's name and the union's own name.
    pub(crate) encapsulated: Option<(String, String)>,
    pub(crate) arms: Vec<Arm>,
}

#[derive(Debug, Clone)]
pub(crate) struct Arm {
    /// Case values; empty with `default` set for the default arm.
    pub(crate) cases: Vec<i64>,
    pub(crate) default: bool,
    /// `None` for an empty arm.
    pub(crate) field: Option<Field>,
}

#[derive(Debug, Clone)]
pub(crate) struct EnumDef {
    pub(crate) v1: bool,
    pub(crate) variants: Vec<(String, i64)>,
}

/// Primitive wire types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prim {
    Bool,
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

impl Prim {
    pub(crate) fn rust(self) -> &'static str {
        match self {
            Prim::Bool => "bool",
            Prim::U8 => "u8",
            Prim::I8 => "i8",
            Prim::U16 => "u16",
            Prim::I16 => "i16",
            Prim::U32 => "u32",
            Prim::I32 => "i32",
            Prim::U64 => "u64",
            Prim::I64 => "i64",
            Prim::F32 => "f32",
            Prim::F64 => "f64",
        }
    }

    pub(crate) fn is_integer(self) -> bool {
        !matches!(self, Prim::F32 | Prim::F64 | Prim::Bool)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PtrKind {
    Ref,
    Unique,
    Full,
}

/// A resolved type.
#[derive(Debug, Clone)]
pub(crate) enum Ty {
    Prim(Prim),
    /// A struct, enum or encapsulated union, or an alias of one.
    Def(TypeId),
    /// A non-encapsulated union with its `switch_is` expression.
    Union(TypeId, CExpr),
    Ptr(PtrKind, Box<Ty>),
    Array(Box<Array>),
    /// `[string]` of `char`/`byte` (`wide == false`) or `wchar_t` (`wide == true`).
    String {
        wide: bool,
        /// `Some(n)` for a fixed-size string array (`[string] char s[n]`): a varying string.
        fixed: Option<u64>,
        /// `[size_is]` on a conformant string.
        size: Option<CExpr>,
    },
    /// `__int3264` (`signed == true`) or `unsigned __int3264`: 4 octets in NDR20, 8 in NDR64
    /// (`msrpc_ndr::Int3264` / `UInt3264`).
    Int3264 {
        signed: bool,
    },
    /// `[context_handle]`: 20 bytes on the wire.
    ContextHandle,
    /// `handle_t`: a binding handle, not on the wire.
    Handle,
    /// `pipe T` (`typedef pipe T NAME;`): only as a parameter, by value or through a top-level
    /// `[ref]` pointer (`msrpc_ndr::Pipe<T>`, buffered).
    Pipe(Box<Ty>),
}

#[derive(Debug, Clone)]
pub(crate) struct Array {
    pub(crate) elem: Ty,
    pub(crate) size: ArraySize,
    /// `[length_is]` (or `last_is`, turned into a length).
    pub(crate) length: Option<CExpr>,
    /// `[first_is]`.
    pub(crate) first: Option<CExpr>,
}

#[derive(Debug, Clone)]
pub(crate) enum ArraySize {
    Fixed(u64),
    /// `[size_is]` (or `max_is + 1`).
    Conformant(CExpr),
}

/// A conformance, variance or switch expression, bound to sibling fields or parameters.
#[derive(Debug, Clone)]
pub(crate) enum CExpr {
    Const(i64),
    /// A sibling field (struct) or parameter (operation), by index.
    Sibling(usize),
    /// `*p` where `p` is a sibling pointer to an integer.
    Deref(usize),
    Unary(&'static str, Box<CExpr>),
    Binary(&'static str, Box<CExpr>, Box<CExpr>),
    Ternary(Box<CExpr>, Box<CExpr>, Box<CExpr>),
}

#[derive(Debug, Clone)]
pub(crate) struct Interface {
    pub(crate) name: String,
    pub(crate) uuid: [u8; 16],
    pub(crate) uuid_text: String,
    pub(crate) version: (u16, u16),
    pub(crate) pointer_default: PtrKind,
    pub(crate) endpoints: Vec<String>,
    pub(crate) binding: Binding,
    pub(crate) ops: Vec<Operation>,
    /// A COM (DCOM) `[object]` interface: its operations' opnums follow its base interfaces'
    /// (IUnknown's three first), inherited operations included, and each takes the implicit
    /// `ORPCthis` first and returns `ORPCthat` first (MS-DCOM 2.2.13, 3.2.4.2). The object's IPID
    /// is the request's object UUID.
    pub(crate) object: bool,
    /// A COM interface's base interfaces below IUnknown, nearest first (the C stubs' proxy
    /// answers QueryInterface for their IIDs).
    pub(crate) bases: Vec<String>,
    /// `[strict_context_handle]` (IDL interface or ACF): the server accepts only context
    /// handles its own interface created (others: `nca_s_fault_context_mismatch`).
    pub(crate) strict_context: bool,
    /// `[context_handle_noserialize]` (IDL interface or ACF): its context handles are not
    /// serialised on the server.
    pub(crate) noserialize_context: bool,
    /// `[type_strict_context_handle]` (IDL interface or ACF): each of its context handles must
    /// be of the typedef it was created as.
    pub(crate) type_strict_context: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Binding {
    /// Nothing said in the ACF: handles are whatever the operations declare.
    Default,
    Explicit,
    Implicit(String),
    Auto,
}

#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub(crate) name: String,
    pub(crate) opnum: u16,
    pub(crate) params: Vec<Param>,
    /// `None` for `void`.
    pub(crate) ret: Option<Ty>,
    /// The return type's C spelling (`None` for `void` or a spelling the C stubs do not write).
    pub(crate) ret_c: Option<String>,
    pub(crate) is_async: bool,
    pub(crate) idempotent: bool,
    pub(crate) maybe: bool,
    pub(crate) broadcast: bool,
    /// Where `[comm_status]` / `[fault_status]` apply: `""` for the return value, else a parameter
    /// name (possibly one declared only in the ACF).
    pub(crate) comm_status: Option<String>,
    pub(crate) fault_status: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Param {
    pub(crate) name: String,
    pub(crate) is_in: bool,
    pub(crate) is_out: bool,
    /// The parameter's type with its top-level `[ref]` pointer (if any) removed:
    /// NDR gives a top-level `[ref]` no wire representation.
    pub(crate) ty: Ty,
    /// The declared type was a top-level `[ref]` pointer (so `*p` in expressions reads `ty`).
    pub(crate) by_ref: bool,
    pub(crate) range: Option<(i64, i64)>,
    /// The parameter's C declaration as the IDL spells it (base type, pointers, name), for the
    /// C stubs' prototypes; `None` where the spelling is not a plain base or named type.
    pub(crate) c_decl: Option<String>,
}
