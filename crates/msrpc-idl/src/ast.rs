//! Syntax tree of MIDL and ACF files, as written (nothing resolved).
//!
//! Some spans and operands are kept for diagnostics and future checks without being read yet.
#![allow(dead_code)]

use std::collections::HashMap;

use crate::diag::Span;

/// An attribute such as `size_is(n)` or `uuid(...)`.
#[derive(Clone, Debug)]
pub(crate) struct Attr {
    pub(crate) name: String,
    pub(crate) args: Vec<AttrArg>,
    pub(crate) span: Span,
}

#[derive(Clone, Debug)]
pub(crate) enum AttrArg {
    /// An omitted argument, as in `size_is(, n)`.
    Empty,
    Expr(Expr),
    Type(TypeSpec),
    /// `implicit_handle(handle_t name)`.
    TypedName(TypeSpec, String),
    /// Raw text between the parentheses (`uuid`, `version`, `custom`).
    Raw(String),
}

pub(crate) fn find_attr<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|a| a.name == name)
}

pub(crate) fn has_attr(attrs: &[Attr], name: &str) -> bool {
    find_attr(attrs, name).is_some()
}

#[derive(Clone, Debug)]
pub(crate) struct Expr {
    pub(crate) kind: ExprKind,
    pub(crate) span: Span,
}

#[derive(Clone, Debug)]
pub(crate) enum ExprKind {
    Int(i64),
    Char(u32),
    Str(String),
    Ident(String),
    Unary(&'static str, Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `a.b` or `a->b`.
    Member(Box<Expr>, String),
    Sizeof(TypeSpec),
    Cast(TypeSpec, Box<Expr>),
}

/// Evaluates an integer constant expression; identifiers are looked up in `consts`.
pub(crate) fn eval_const(e: &Expr, consts: &HashMap<String, i64>) -> Option<i64> {
    Some(match &e.kind {
        ExprKind::Int(v) => *v,
        ExprKind::Char(c) => i64::from(*c),
        ExprKind::Ident(n) => *consts.get(n)?,
        ExprKind::Cast(_, x) => eval_const(x, consts)?,
        ExprKind::Unary(op, x) => {
            let v = eval_const(x, consts)?;
            match *op {
                "-" => v.wrapping_neg(),
                "+" => v,
                "~" => !v,
                "!" => i64::from(v == 0),
                _ => return None,
            }
        }
        ExprKind::Binary(op, a, b) => {
            let a = eval_const(a, consts)?;
            let b = eval_const(b, consts)?;
            binary(op, a, b)?
        }
        ExprKind::Ternary(c, a, b) => {
            if eval_const(c, consts)? != 0 {
                eval_const(a, consts)?
            } else {
                eval_const(b, consts)?
            }
        }
        _ => return None,
    })
}

pub(crate) fn binary(op: &str, a: i64, b: i64) -> Option<i64> {
    Some(match op {
        "+" => a.wrapping_add(b),
        "-" => a.wrapping_sub(b),
        "*" => a.wrapping_mul(b),
        "/" => a.checked_div(b)?,
        "%" => a.checked_rem(b)?,
        "<<" => a.checked_shl(u32::try_from(b).ok()?)?,
        ">>" => a.checked_shr(u32::try_from(b).ok()?)?,
        "&" => a & b,
        "|" => a | b,
        "^" => a ^ b,
        "&&" => i64::from(a != 0 && b != 0),
        "||" => i64::from(a != 0 || b != 0),
        "==" => i64::from(a == b),
        "!=" => i64::from(a != b),
        "<" => i64::from(a < b),
        ">" => i64::from(a > b),
        "<=" => i64::from(a <= b),
        ">=" => i64::from(a >= b),
        _ => return None,
    })
}

/// A type as written before the declarator: `unsigned long`, `struct _X`, `struct { ... }`, `FOO`.
#[derive(Clone, Debug)]
pub(crate) struct TypeSpec {
    pub(crate) kind: TypeSpecKind,
    pub(crate) span: Span,
}

#[derive(Clone, Debug)]
pub(crate) enum TypeSpecKind {
    /// A base type keyword combination, normalised (`unsigned long`, `hyper`, `wchar_t`...).
    Base(BaseType),
    Named(String),
    /// `struct tag` (reference) or `struct [tag] { ... }` (definition).
    Struct(Option<String>, Option<Vec<Field>>),
    Union(Box<UnionSpec>),
    Enum(Option<String>, Option<Vec<Enumerator>>),
    /// `pipe T` (only in a typedef: `typedef pipe T NAME;`).
    Pipe(Box<TypeSpec>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BaseType {
    Void,
    Boolean,
    Byte,
    Char,
    UChar,
    Small,
    USmall,
    Short,
    UShort,
    Long,
    ULong,
    Hyper,
    UHyper,
    Int3264,
    UInt3264,
    Float,
    Double,
    WChar,
    HandleT,
    ErrorStatusT,
}

#[derive(Clone, Debug)]
pub(crate) struct UnionSpec {
    pub(crate) tag: Option<String>,
    /// Encapsulated: `switch (type name) [union_name]`.
    pub(crate) switch: Option<(TypeSpec, String, Option<String>)>,
    /// `None` for a reference to a union tag.
    pub(crate) arms: Option<Vec<UnionArm>>,
}

#[derive(Clone, Debug)]
pub(crate) struct UnionArm {
    /// `None` means `default`.
    pub(crate) cases: Vec<Option<Expr>>,
    /// `None` for an empty arm (`case 1: ;`).
    pub(crate) field: Option<Field>,
    pub(crate) span: Span,
}

#[derive(Clone, Debug)]
pub(crate) struct Enumerator {
    pub(crate) name: String,
    pub(crate) value: Option<Expr>,
    pub(crate) span: Span,
}

/// A declarator: pointer levels, name and array suffixes.
#[derive(Clone, Debug)]
pub(crate) struct Declarator {
    pub(crate) ptrs: usize,
    pub(crate) name: String,
    /// Array dimensions, outermost first; `None` for `[]` or `[*]`.
    pub(crate) dims: Vec<Option<Expr>>,
    pub(crate) span: Span,
}

/// A struct member, union arm member or parameter.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub(crate) attrs: Vec<Attr>,
    pub(crate) ty: TypeSpec,
    pub(crate) decl: Declarator,
}

#[derive(Clone, Debug)]
pub(crate) struct Typedef {
    pub(crate) attrs: Vec<Attr>,
    pub(crate) ty: TypeSpec,
    pub(crate) decls: Vec<Declarator>,
    pub(crate) span: Span,
}

#[derive(Clone, Debug)]
pub(crate) struct Const {
    pub(crate) ty: TypeSpec,
    pub(crate) ptrs: usize,
    pub(crate) name: String,
    pub(crate) value: Expr,
    pub(crate) span: Span,
}

#[derive(Clone, Debug)]
pub(crate) struct Operation {
    pub(crate) attrs: Vec<Attr>,
    pub(crate) ret: TypeSpec,
    pub(crate) ret_ptrs: usize,
    pub(crate) name: String,
    pub(crate) params: Vec<Field>,
    pub(crate) span: Span,
}

#[derive(Clone, Debug)]
pub(crate) enum Item {
    Import(Vec<(String, Span)>),
    Typedef(Typedef),
    Const(Const),
    /// `struct X {...};`, `union ...;`, `enum ...;` outside a typedef.
    TypeDecl(TypeSpec, Vec<Attr>),
    Operation(Operation),
}

#[derive(Clone, Debug)]
pub(crate) struct Interface {
    pub(crate) attrs: Vec<Attr>,
    pub(crate) name: String,
    pub(crate) base: Option<String>,
    pub(crate) items: Vec<Item>,
    pub(crate) span: Span,
}

/// A whole IDL file.
#[derive(Clone, Debug, Default)]
pub(crate) struct File {
    /// Items outside any interface.
    pub(crate) items: Vec<Item>,
    pub(crate) interfaces: Vec<Interface>,
}

/// An ACF: attributes per interface, and per operation or parameter.
#[derive(Clone, Debug, Default)]
pub(crate) struct Acf {
    pub(crate) interfaces: Vec<AcfInterface>,
}

#[derive(Clone, Debug)]
pub(crate) struct AcfInterface {
    pub(crate) attrs: Vec<Attr>,
    pub(crate) name: String,
    pub(crate) ops: Vec<AcfOp>,
    pub(crate) span: Span,
}

#[derive(Clone, Debug)]
pub(crate) struct AcfOp {
    pub(crate) attrs: Vec<Attr>,
    pub(crate) name: String,
    pub(crate) params: Vec<(Vec<Attr>, String)>,
    pub(crate) span: Span,
}
