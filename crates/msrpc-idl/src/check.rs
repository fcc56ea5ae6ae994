//! From syntax trees to the checked [`Model`].

use std::collections::HashMap;

use crate::ast::{
    self, Attr, AttrArg, BaseType, Expr, ExprKind, TypeSpec, TypeSpecKind, find_attr,
};
use crate::diag::{Diagnostic, Sources, Span};
use crate::model::*;

type CResult<T> = Result<T, Box<Diagnostic>>;

/// One parsed IDL file and whether it is the file being compiled.
#[derive(Debug)]
pub(crate) struct Unit {
    pub(crate) file: ast::File,
    pub(crate) main: bool,
}

/// Where a typedef was declared, for pointer defaults.
#[derive(Debug, Clone)]
struct TypedefDecl {
    attrs: Vec<Attr>,
    spec: TypeSpec,
    decl: ast::Declarator,
    ptr_default: PtrKind,
    main: bool,
    span: Span,
}

/// A resolved typedef name.
#[derive(Debug, Clone)]
struct Resolved {
    ty: Ty,
    /// The outermost pointer carries no pointer attribute; its kind depends on where it is used.
    top_ptr_open: bool,
    /// A non-encapsulated union that needs `switch_is` where it is used.
    needs_switch: bool,
}

#[derive(Debug, Clone)]
struct TagEntry {
    decl: TagDecl,
    span: Span,
    /// The Rust name: the first plain typedef name, else the tag.
    rust_name: String,
}

#[derive(Debug, Clone)]
enum TagDecl {
    Struct(Vec<ast::Field>, PtrKind, bool),
    Union(ast::UnionSpec, Vec<Attr>, PtrKind, bool),
    Enum(Vec<ast::Enumerator>, bool, bool),
}

#[derive(Debug)]
pub(crate) struct Checker<'a> {
    sources: &'a Sources,
    model: Model,
    typedefs: HashMap<String, TypedefDecl>,
    resolved: HashMap<String, Resolved>,
    /// struct/union/enum tags (`struct _X`, or `struct @file:offset` when anonymous).
    tags: HashMap<String, TagEntry>,
    tag_ids: HashMap<String, TypeId>,
    consts: HashMap<String, i64>,
    resolving: Vec<String>,
    /// The source id of the built-in prelude.
    prelude_file: Option<u32>,
    /// Types of the main file that do not resolve are left out instead of failing the
    /// compilation (for generating the prelude's own module, whose non-NDR types are
    /// declared for names only).
    tolerant: bool,
    /// Unions declared without `switch_type` whose discriminant a `switch_is` use has set: the
    /// type it took and where, so that a use switching on another type is refused.
    implied_switch: HashMap<TypeId, ((Prim, Option<TypeId>), Span)>,
}

/// Names of siblings visible to conformance expressions, and whether each is a pointer.
struct Scope<'s> {
    names: &'s [(String, bool)],
}

/// The methods of IUnknown (QueryInterface, AddRef, Release), opnums 0-2 of every COM interface;
/// a derived interface's own methods start after them (MS-DCOM 3.1.1.5.8: they "reserve opnums 0
/// through 2, inclusive, for every interface").
const IUNKNOWN_METHODS: usize = 3;
/// How many interfaces a COM interface may derive through below IUnknown. Default 32.
const MAX_COM_INHERITANCE: usize = 32;

impl<'a> Checker<'a> {
    pub(crate) fn new(sources: &'a Sources) -> Self {
        Checker {
            sources,
            model: Model::default(),
            typedefs: HashMap::new(),
            resolved: HashMap::new(),
            tags: HashMap::new(),
            tag_ids: HashMap::new(),
            consts: HashMap::new(),
            resolving: Vec::new(),
            prelude_file: None,
            tolerant: false,
            implied_switch: HashMap::new(),
        }
    }

    /// Marks source `file` as the built-in prelude.
    pub(crate) fn prelude_file(mut self, file: u32) -> Self {
        self.prelude_file = Some(file);
        self
    }

    /// Leaves out main-file types that do not resolve (see the field).
    pub(crate) fn tolerant(mut self, on: bool) -> Self {
        self.tolerant = on;
        self
    }

    fn err<T>(&self, span: Span, msg: impl Into<String>) -> CResult<T> {
        Err(Box::new(self.sources.diagnostic(span, msg)))
    }

    /// Checks all units (imports and prelude first, main file last) with the optional ACF.
    pub(crate) fn check(mut self, units: &[Unit], acf: Option<&ast::Acf>) -> CResult<Model> {
        // Pass 1: collect declarations (names only, so order within a file does not matter).
        for u in units {
            for item in &u.file.items {
                self.collect(item, PtrKind::Unique, u.main)?;
            }
            for itf in &u.file.interfaces {
                let pd = self.pointer_default(&itf.attrs)?;
                for item in &itf.items {
                    self.collect(item, pd, u.main)?;
                }
            }
        }
        // Pass 2: resolve every typedef and tag of the main file (imports resolve on demand).
        let mut names: Vec<(String, bool)> = self
            .typedefs
            .iter()
            .map(|(n, d)| (n.clone(), d.main))
            .collect();
        names.sort_by_key(|(n, _)| self.typedefs[n].span.lo);
        names.sort_by_key(|(n, _)| self.typedefs[n].span.file);
        for (n, main) in names {
            // `typedef void *PVOID;` and the like (MS-DTYP has several) have no NDR form; as
            // with MIDL, only a use of one is an error.
            let td = &self.typedefs[&n];
            let untyped = matches!(td.spec.kind, TypeSpecKind::Base(BaseType::Void))
                && !ast::has_attr(&td.attrs, "context_handle")
                || match &td.spec.kind {
                    TypeSpecKind::Struct(_, Some(fields)) => fields.iter().any(is_c_union_member),
                    TypeSpecKind::Union(u) => is_c_union(u),
                    _ => false,
                };
            if main && !untyped {
                let r = self.resolve_name(&n, self.typedefs[&n].span);
                if !self.tolerant {
                    r?;
                } else {
                    self.resolving.clear();
                }
            }
        }
        let mut tags: Vec<String> = self
            .tags
            .iter()
            .filter(|(_, e)| match &e.decl {
                TagDecl::Struct(fields, _, m) => *m && !fields.iter().any(is_c_union_member),
                // A C union (arms without `[case]`) is refused where it is used, not here.
                TagDecl::Union(u, _, _, m) => *m && !is_c_union(u),
                TagDecl::Enum(_, _, m) => *m,
            })
            .map(|(n, _)| n.clone())
            .collect();
        tags.sort_by_key(|n| (self.tags[n].span.file, self.tags[n].span.lo));
        for t in tags {
            let span = self.tags[&t].span;
            let before = self.model.types.len();
            match self.tag_type(&t, span) {
                Ok(_) => {}
                Err(e) if !self.tolerant => return Err(e),
                Err(_) => {
                    // Left out: what it pushed stays Pending, which the generator skips.
                    for t in &mut self.model.types[before..] {
                        t.kind = DefKind::Pending;
                    }
                }
            }
        }
        // Pass 3: interfaces of the main file. Imported files give their types (and COM base
        // interfaces) only, as with MIDL, which generates no stubs for an imported interface.
        let all: Vec<&ast::Interface> = units.iter().flat_map(|u| &u.file.interfaces).collect();
        for u in units.iter().filter(|u| u.main) {
            for itf in &u.file.interfaces {
                if itf.name == "IUnknown" && ast::has_attr(&itf.attrs, "object") {
                    // Its three methods are never on the wire (MS-DCOM's IDL calls them
                    // OpnumNNotUsedOnWire): IRemUnknown stands in for them.
                    continue;
                }
                let acf_itf = acf.and_then(|a| a.interfaces.iter().find(|i| i.name == itf.name));
                let i = self.interface(itf, acf_itf, &all)?;
                self.model.interfaces.push(i);
            }
        }
        if let Some(acf) = acf {
            for ai in &acf.interfaces {
                if !self.model.interfaces.iter().any(|i| i.name == ai.name) {
                    return self.err(
                        ai.span,
                        format!(
                            "the ACF names interface `{}`, which the IDL does not define",
                            ai.name
                        ),
                    );
                }
            }
        }
        Ok(self.model)
    }

    fn pointer_default(&self, attrs: &[Attr]) -> CResult<PtrKind> {
        match find_attr(attrs, "pointer_default") {
            None => Ok(PtrKind::Unique),
            Some(a) => match a.args.first() {
                Some(AttrArg::Expr(Expr {
                    kind: ExprKind::Ident(k),
                    ..
                })) => match k.as_str() {
                    "ref" => Ok(PtrKind::Ref),
                    "unique" => Ok(PtrKind::Unique),
                    "ptr" => Ok(PtrKind::Full),
                    _ => self.err(a.span, "pointer_default must be ref, unique or ptr"),
                },
                _ => self.err(a.span, "pointer_default must be ref, unique or ptr"),
            },
        }
    }

    fn collect(&mut self, item: &ast::Item, pd: PtrKind, main: bool) -> CResult<()> {
        match item {
            ast::Item::Import(_) | ast::Item::Operation(_) => {}
            ast::Item::Const(c) => {
                let value = match &c.value.kind {
                    ExprKind::Str(s) if c.ptrs > 0 => ConstValue::Str(s.clone()),
                    _ => {
                        // `sizeof(type)` folded first (`MAX_PAYLOAD / sizeof(WCHAR)`, MS-EVEN6).
                        let folded = self.fold_sizeof(&c.value)?;
                        let Some(v) = ast::eval_const(&folded, &self.consts) else {
                            return self.err(c.value.span, "not an integer constant expression");
                        };
                        self.consts.insert(c.name.clone(), v);
                        let prim = match &c.ty.kind {
                            TypeSpecKind::Base(b) => base_prim(*b).unwrap_or(Prim::I32),
                            TypeSpecKind::Named(n) => match self.typedefs.get(n).cloned() {
                                Some(_) => match self.resolve_name(n, c.ty.span)?.ty {
                                    Ty::Prim(p) => p,
                                    _ => Prim::I32,
                                },
                                None => Prim::I32,
                            },
                            _ => Prim::I32,
                        };
                        ConstValue::Int(v, prim)
                    }
                };
                self.model.consts.push(ConstDef {
                    name: c.name.clone(),
                    value,
                    main,
                });
            }
            ast::Item::Typedef(td) => {
                let hint = td
                    .decls
                    .iter()
                    .find(|d| d.ptrs == 0 && d.dims.is_empty())
                    .or(td.decls.first())
                    .map(|d| d.name.clone());
                self.collect_spec(&td.ty, &td.attrs, pd, main, hint.as_deref())?;
                if let Some(key) = spec_key(&td.ty)
                    && let Some(d) = td.decls.iter().find(|d| d.ptrs == 0 && d.dims.is_empty())
                    && let Some(e) = self.tags.get_mut(&key)
                    && e.span == td.ty.span
                {
                    e.rust_name = d.name.clone();
                }
                for d in &td.decls {
                    self.typedefs.insert(
                        d.name.clone(),
                        TypedefDecl {
                            attrs: td.attrs.clone(),
                            spec: td.ty.clone(),
                            decl: d.clone(),
                            ptr_default: pd,
                            main,
                            span: d.span,
                        },
                    );
                }
            }
            ast::Item::TypeDecl(spec, attrs) => self.collect_spec(spec, attrs, pd, main, None)?,
        }
        Ok(())
    }

    /// Records tagged struct/union/enum definitions (and their enumerator constants), and those
    /// defined inline inside a structure or union, named (`union _U { ... } u;`) or anonymous
    /// (`union { ... } u;`). An anonymous one is named after where it sits: `hint` is the
    /// enclosing typedef's name, and a member's aggregate gets `<enclosing>_<member>`.
    fn collect_spec(
        &mut self,
        spec: &TypeSpec,
        attrs: &[Attr],
        pd: PtrKind,
        main: bool,
        hint: Option<&str>,
    ) -> CResult<()> {
        // `typedef pipe struct { ... } P;`: the element aggregate, named `P_element` if anonymous.
        if let TypeSpecKind::Pipe(elem) = &spec.kind {
            let hint = hint.map(|h| format!("{h}_element"));
            return self.collect_spec(elem, attrs, pd, main, hint.as_deref());
        }
        let Some(key) = spec_key(spec) else {
            return Ok(());
        };
        let tagged = !key.contains('@');
        let rust_name = match hint {
            Some(h) if !tagged => h.to_string(),
            _ => key
                .rsplit(' ')
                .next()
                .unwrap_or("Anon")
                .replace(['@', ':'], "_"),
        };
        let inner: Vec<&ast::Field> = match &spec.kind {
            TypeSpecKind::Struct(_, Some(fields)) => fields.iter().collect(),
            TypeSpecKind::Union(u) => u
                .arms
                .iter()
                .flatten()
                .filter_map(|a| a.field.as_ref())
                .collect(),
            _ => Vec::new(),
        };
        for f in inner {
            let nested = format!("{rust_name}_{}", f.decl.name);
            self.collect_spec(&f.ty, &f.attrs, pd, main, Some(&nested))?;
        }
        let decl = match &spec.kind {
            TypeSpecKind::Struct(_, Some(fields)) => TagDecl::Struct(fields.clone(), pd, main),
            TypeSpecKind::Union(u) if u.arms.is_some() => {
                TagDecl::Union((**u).clone(), attrs.to_vec(), pd, main)
            }
            TypeSpecKind::Enum(_, Some(items)) => {
                let mut next = 0i64;
                for e in items {
                    let v = match &e.value {
                        Some(x) => match ast::eval_const(x, &self.consts) {
                            Some(v) => v,
                            None => return self.err(x.span, "not an integer constant expression"),
                        },
                        None => next,
                    };
                    self.consts.insert(e.name.clone(), v);
                    next = v.wrapping_add(1);
                }
                TagDecl::Enum(items.clone(), ast::has_attr(attrs, "v1_enum"), main)
            }
            _ => return Ok(()),
        };
        self.tags.insert(
            key,
            TagEntry {
                decl,
                span: spec.span,
                rust_name,
            },
        );
        Ok(())
    }

    // ---- names -------------------------------------------------------------------------------

    fn resolve_name(&mut self, name: &str, use_span: Span) -> CResult<Resolved> {
        if let Some(r) = self.resolved.get(name) {
            return Ok(r.clone());
        }
        let Some(td) = self.typedefs.get(name).cloned() else {
            return self.err(use_span, format!("unknown type `{name}`"));
        };
        if self.resolving.iter().any(|n| n == name) {
            return self.err(
                use_span,
                format!("type `{name}` is defined in terms of itself"),
            );
        }
        self.resolving.push(name.to_string());
        let r = self.resolve_typedef(name, &td);
        self.resolving.pop();
        // A type of another file (the prelude, an import) that cannot be used: say so where
        // it is used, and where it was declared.
        let r = r.map_err(|e| {
            if td.span.file != use_span.file && self.resolving.is_empty() {
                Box::new(self.sources.diagnostic(
                    use_span,
                    format!(
                        "`{name}` cannot be used here: {} (declared at {}:{}:{})",
                        e.message(),
                        e.file(),
                        e.line(),
                        e.column()
                    ),
                ))
            } else {
                e
            }
        })?;
        self.resolved.insert(name.to_string(), r.clone());
        Ok(r)
    }

    fn resolve_typedef(&mut self, name: &str, td: &TypedefDecl) -> CResult<Resolved> {
        for a in &td.attrs {
            if matches!(
                a.name.as_str(),
                "transmit_as" | "wire_marshal" | "user_marshal" | "represent_as"
            ) {
                return self.err(a.span, format!("`[{}]` is not supported", a.name));
            }
        }
        check_attrs(self.sources, &td.attrs, &[TYPE_ATTRS], "a typedef")?;
        if ast::has_attr(&td.attrs, "context_handle") {
            if !self.model.context_handles.iter().any(|n| n == name) {
                self.model.context_handles.push(name.to_string());
                if ast::has_attr(&td.attrs, "context_handle_noserialize") {
                    self.model.noserialize_contexts.push(name.to_string());
                }
                if ast::has_attr(&td.attrs, "type_strict_context_handle") {
                    self.model.type_strict_contexts.push(name.to_string());
                }
            }
            return Ok(Resolved {
                ty: Ty::ContextHandle,
                top_ptr_open: false,
                needs_switch: false,
            });
        }
        for a in &td.attrs {
            if matches!(
                a.name.as_str(),
                "transmit_as" | "wire_marshal" | "user_marshal" | "represent_as"
            ) {
                return self.err(a.span, format!("`[{}]` is not supported", a.name));
            }
            if a.name == "pipe" {
                return self.err(
                    a.span,
                    "`pipe` is a type constructor, not an attribute: `typedef pipe T NAME;`",
                );
            }
        }
        // An aggregate named by this typedef's first plain declarator takes the typedef's name.
        let plain = td.decl.ptrs == 0 && td.decl.dims.is_empty();
        let base = self.spec_type(&td.spec)?;
        let scope_names: Vec<(String, bool)> = Vec::new();
        let scope = Scope {
            names: &scope_names,
        };
        let declared_ptr = td
            .attrs
            .iter()
            .any(|a| matches!(a.name.as_str(), "ref" | "unique" | "ptr"));
        let ty = self.apply_declarator(
            base.clone(),
            &td.decl,
            &td.attrs,
            &scope,
            td.ptr_default,
            false,
            true,
        )?;
        let top_ptr_open = td.decl.ptrs > 0 && td.decl.dims.is_empty() && !declared_ptr
            || (plain && base.top_ptr_open);
        // The C header's typedef of a base or named type (`typedef unsigned long unsigned32;`,
        // `typedef rpc_if_id_t *rpc_if_id_p_t;`), for the C stubs; the prelude's are windows.h's.
        if td.decl.dims.is_empty()
            && self.prelude_file != Some(td.span.file)
            && !matches!(ty.ty, Ty::Def(id) if self.model.types[id].name == name)
            && let Some(c) = c_spelling(&td.spec.kind)
            && !self.model.c_typedefs.iter().any(|(n, _)| n == name)
        {
            let line = format!("typedef {c} {}{name};", "*".repeat(td.decl.ptrs));
            self.model.c_typedefs.push((name.to_string(), line));
        }
        // A plain typedef of a base type or of another name: record an alias for the generator.
        if plain && td.main && !matches!(ty.ty, Ty::Def(id) if self.model.types[id].name == name) {
            match &ty.ty {
                Ty::Prim(_) | Ty::Def(_) => {
                    self.model.types.push(TypeDef {
                        name: name.to_string(),
                        kind: DefKind::Alias(ty.ty.clone()),
                        main: true,
                        prelude: self.prelude_file == Some(td.span.file),
                    });
                }
                _ => {}
            }
        }
        Ok(Resolved {
            ty: ty.ty,
            top_ptr_open,
            needs_switch: ty.needs_switch,
        })
    }

    /// The type a type specifier names, before any declarator.
    fn spec_type(&mut self, spec: &TypeSpec) -> CResult<Resolved> {
        let plain = |ty| Resolved {
            ty,
            top_ptr_open: false,
            needs_switch: false,
        };
        match &spec.kind {
            TypeSpecKind::Base(BaseType::Void) => self.err(
                spec.span,
                "`void` is only allowed as a return type or as `void *` with [context_handle]",
            ),
            TypeSpecKind::Base(BaseType::HandleT) => Ok(plain(Ty::Handle)),
            TypeSpecKind::Base(BaseType::Int3264) => Ok(plain(Ty::Int3264 { signed: true })),
            TypeSpecKind::Base(BaseType::UInt3264) => Ok(plain(Ty::Int3264 { signed: false })),
            TypeSpecKind::Base(b) => Ok(plain(Ty::Prim(base_prim(*b).expect("non-void base")))),
            TypeSpecKind::Named(n) => self.resolve_name(n, spec.span),
            TypeSpecKind::Pipe(elem) => {
                let e = self.spec_type(elem)?;
                let problem = if e.needs_switch {
                    Some("a union")
                } else {
                    pipe_element_problem(&self.model, &e.ty, 0)
                };
                if let Some(what) = problem {
                    return self.err(
                        elem.span,
                        format!("a pipe's element type cannot be or contain {what}"),
                    );
                }
                Ok(plain(Ty::Pipe(Box::new(e.ty))))
            }
            TypeSpecKind::Struct(..) | TypeSpecKind::Enum(..) => {
                let key = spec_key(spec).unwrap_or_default();
                Ok(plain(Ty::Def(self.tag_type(&key, spec.span)?)))
            }
            TypeSpecKind::Union(_) => {
                let key = spec_key(spec).unwrap_or_default();
                let id = self.tag_type(&key, spec.span)?;
                let needs_switch = matches!(&self.model.types[id].kind, DefKind::Union(u) if u.encapsulated.is_none());
                Ok(Resolved {
                    ty: Ty::Def(id),
                    top_ptr_open: false,
                    needs_switch,
                })
            }
        }
    }

    fn tag_type(&mut self, key: &str, use_span: Span) -> CResult<TypeId> {
        if let Some(&id) = self.tag_ids.get(key) {
            return Ok(id);
        }
        let Some(TagEntry {
            decl,
            span,
            rust_name: name,
        }) = self.tags.get(key).cloned()
        else {
            return self.err(use_span, format!("unknown type `{key}`"));
        };
        let main = match &decl {
            TagDecl::Struct(_, _, m) | TagDecl::Union(_, _, _, m) | TagDecl::Enum(_, _, m) => *m,
        };
        let id = self.model.types.len();
        self.model.types.push(TypeDef {
            name,
            kind: DefKind::Pending,
            main,
            prelude: self.prelude_file == Some(span.file),
        });
        self.tag_ids.insert(key.to_string(), id);
        let kind = match decl {
            TagDecl::Struct(fields, pd, _) => DefKind::Struct(StructDef {
                fields: self.fields(&fields, pd, span)?,
            }),
            TagDecl::Enum(items, v1, _) => DefKind::Enum(EnumDef {
                v1,
                variants: items
                    .iter()
                    .map(|e| (e.name.clone(), self.consts[&e.name]))
                    .collect(),
            }),
            TagDecl::Union(u, attrs, pd, _) => {
                DefKind::Union(self.union_def(&u, &attrs, pd, span)?)
            }
        };
        self.model.types[id].kind = kind;
        Ok(id)
    }

    fn fields(&mut self, fields: &[ast::Field], pd: PtrKind, _span: Span) -> CResult<Vec<Field>> {
        let names: Vec<(String, bool)> = fields
            .iter()
            .map(|f| (f.decl.name.clone(), f.decl.ptrs > 0))
            .collect();
        let scope = Scope { names: &names };
        let mut out = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            let ty = self.field_type(f, &scope, pd, false)?;
            if matches!(ty, Ty::Handle) {
                return self.err(f.ty.span, "`handle_t` cannot be a structure member");
            }
            if i + 1 != fields.len() && self.is_conformant(&ty) {
                return self.err(
                    f.decl.span,
                    "a conformant array, conformant string or conformant structure must be the last member of a structure",
                );
            }
            out.push(Field {
                name: f.decl.name.clone(),
                ty,
                range: self.range(&f.attrs)?,
            });
        }
        let siblings: Vec<(&Ty, Span)> = out
            .iter()
            .zip(fields)
            .map(|(o, f)| (&o.ty, f.decl.span))
            .collect();
        self.imply_switch_types(&siblings)?;
        Ok(out)
    }

    /// A type whose size NDR hoists into the enclosing structure (see the NDR conformant rule).
    fn is_conformant(&self, ty: &Ty) -> bool {
        match ty {
            Ty::Array(a) => matches!(a.size, ArraySize::Conformant(_)),
            Ty::String { fixed, .. } => fixed.is_none(),
            Ty::Def(id) => match &self.model.types[*id].kind {
                DefKind::Struct(s) => s.fields.last().is_some_and(|f| self.is_conformant(&f.ty)),
                _ => false,
            },
            _ => false,
        }
    }

    fn union_def(
        &mut self,
        u: &ast::UnionSpec,
        attrs: &[Attr],
        pd: PtrKind,
        span: Span,
    ) -> CResult<UnionDef> {
        let mut switch_implied = false;
        let ((switch_type, switch_enum), encapsulated) = match &u.switch {
            Some((sty, sname, uname)) => {
                let t = self.switch_prim(sty)?;
                (
                    t,
                    Some((sname.clone(), uname.clone().unwrap_or_else(|| "u".into()))),
                )
            }
            None => match find_attr(attrs, "switch_type") {
                Some(Attr {
                    args, span: aspan, ..
                }) => match args.first() {
                    Some(AttrArg::Type(t)) => (self.switch_prim(t)?, None),
                    _ => return self.err(*aspan, "switch_type needs a type"),
                },
                // MIDL allows omitting switch_type; the discriminant then has the type of the
                // switch_is field or parameter (see `imply_switch_types`), a long until then.
                None => {
                    switch_implied = true;
                    ((Prim::I32, None), None)
                }
            },
        };
        let names: Vec<(String, bool)> = Vec::new();
        let scope = Scope { names: &names };
        let mut arms = Vec::new();
        let arm_list = u.arms.as_deref().unwrap_or(&[]);
        let mut seen_cases = std::collections::HashSet::new();
        let mut seen_default = false;
        for arm in arm_list {
            if arm.cases.is_empty() {
                return self.err(
                    arm.span,
                    "a union arm needs `[case(...)]` or `[default]` (a C union without them has no NDR form)",
                );
            }
            let mut cases = Vec::new();
            let mut default = false;
            for c in &arm.cases {
                match c {
                    None => {
                        if seen_default {
                            return self.err(arm.span, "a union has at most one [default] arm");
                        }
                        seen_default = true;
                        default = true;
                    }
                    Some(e) => match ast::eval_const(e, &self.consts) {
                        Some(v) => {
                            // Values must fit the discriminant's width (either signedness); an
                            // implied discriminant is checked at the use that sets it.
                            let bits = disc_bits(switch_type);
                            if !switch_implied && !fits_bits(v, bits) {
                                return self.err(
                                    e.span,
                                    format!(
                                        "case value {v} does not fit the {bits}-bit discriminant"
                                    ),
                                );
                            }
                            if !seen_cases.insert(v) {
                                return self.err(e.span, format!("case value {v} appears twice"));
                            }
                            cases.push(v);
                        }
                        None => return self.err(e.span, "a case label must be a constant"),
                    },
                }
            }
            let field = match &arm.field {
                None => None,
                Some(f) => Some(Field {
                    name: f.decl.name.clone(),
                    ty: self.field_type(f, &scope, pd, false)?,
                    range: self.range(&f.attrs)?,
                }),
            };
            arms.push(Arm {
                cases,
                default,
                field,
            });
        }
        if arms.is_empty() {
            return self.err(span, "a union needs at least one arm");
        }
        Ok(UnionDef {
            switch_type,
            switch_implied,
            switch_enum,
            encapsulated,
            arms,
        })
    }

    /// MIDL's rule for a non-encapsulated union declared without `switch_type`: its discriminant
    /// has the type of the field or parameter its `switch_is` names (`USHORT Type;
    /// [switch_is(Type)] union {...}` switches on 16 bits). `siblings` are the types of a
    /// structure's fields or an operation's parameters (a top-level `[ref]` removed) with each
    /// one's span. A switch on an expression other than `name` or `*name` keeps the `long`; a
    /// union switched on two different types is refused (give it a `switch_type`).
    fn imply_switch_types(&mut self, siblings: &[(&Ty, Span)]) -> CResult<()> {
        for &(ty, span) in siblings {
            let Some((id, sw)) = union_use(ty) else {
                continue;
            };
            let DefKind::Union(u) = &self.model.types[id].kind else {
                continue;
            };
            if !u.switch_implied {
                continue;
            }
            let field = match sw {
                CExpr::Sibling(i) => siblings.get(*i).map(|s| s.0),
                // `*p`: a structure's pointer field, or a parameter whose `[ref]` is removed.
                CExpr::Deref(i) => siblings.get(*i).map(|s| match s.0 {
                    Ty::Ptr(_, inner) => &**inner,
                    other => other,
                }),
                _ => None,
            };
            let Some(disc) = field.and_then(|t| self.disc_of(t)) else {
                continue;
            };
            let name = self.model.types[id].name.clone();
            if let Some(&(first, at)) = self.implied_switch.get(&id) {
                if first != disc {
                    let d = self.sources.diagnostic(at, "");
                    let at = format!("{}:{}", d.file(), d.line());
                    return self.err(
                        span,
                        format!(
                            "union `{name}` has no switch_type and is switched here on {} but on {} at its first use ({at}); give it a switch_type",
                            self.disc_name(disc),
                            self.disc_name(first),
                        ),
                    );
                }
                continue;
            }
            let bits = if disc.1.is_some() {
                16
            } else {
                disc_bits(disc.0)
            };
            let DefKind::Union(u) = &mut self.model.types[id].kind else {
                continue;
            };
            if let Some(v) = u
                .arms
                .iter()
                .flat_map(|a| a.cases.iter().copied())
                .find(|&v| !fits_bits(v, bits))
            {
                return self.err(
                    span,
                    format!(
                        "union `{name}` is switched here on {bits} bits, which its case value {v} does not fit"
                    ),
                );
            }
            u.switch_type = disc.0;
            u.switch_enum = disc.1;
            self.implied_switch.insert(id, (disc, span));
        }
        Ok(())
    }

    /// The discriminant a `switch_is` field of type `ty` gives (as `switch_prim` does for a
    /// `switch_type`), through aliases; `None` for a type that cannot be one.
    fn disc_of(&self, ty: &Ty) -> Option<(Prim, Option<TypeId>)> {
        let mut ty = ty;
        for _ in 0..MAX_ALIAS_DEPTH {
            match ty {
                Ty::Prim(Prim::Bool) => return Some((Prim::U8, None)),
                Ty::Prim(p) if p.is_integer() => return Some((*p, None)),
                Ty::Def(id) => match &self.model.types[*id].kind {
                    DefKind::Enum(_) => return Some((Prim::U32, Some(*id))),
                    DefKind::Alias(t) => ty = t,
                    _ => return None,
                },
                _ => return None,
            }
        }
        None
    }

    fn disc_name(&self, (p, e): (Prim, Option<TypeId>)) -> String {
        match e {
            Some(id) => format!("enum `{}`", self.model.types[id].name),
            None => format!("`{}`", p.rust()),
        }
    }

    fn switch_prim(&mut self, t: &TypeSpec) -> CResult<(Prim, Option<TypeId>)> {
        let r = self.spec_type(t)?;
        match r.ty {
            Ty::Prim(Prim::Bool) => Ok((Prim::U8, None)),
            Ty::Prim(p) if p.is_integer() => Ok((p, None)),
            Ty::Def(id) if matches!(self.model.types[id].kind, DefKind::Enum(_)) => {
                Ok((Prim::U32, Some(id)))
            }
            _ => self.err(
                t.span,
                "a union discriminant must be an integer, char, boolean or enum",
            ),
        }
    }

    fn range(&mut self, attrs: &[Attr]) -> CResult<Option<(i64, i64)>> {
        let Some(a) = find_attr(attrs, "range") else {
            return Ok(None);
        };
        match a.args.as_slice() {
            [AttrArg::Expr(lo), AttrArg::Expr(hi)] => {
                let (lo, hi) = (self.fold_sizeof(lo)?, self.fold_sizeof(hi)?);
                match (
                    ast::eval_const(&lo, &self.consts),
                    ast::eval_const(&hi, &self.consts),
                ) {
                    (Some(l), Some(h)) => Ok(Some((l, h))),
                    _ => self.err(a.span, "range bounds must be constants"),
                }
            }
            _ => self.err(a.span, "range needs two bounds: range(min, max)"),
        }
    }

    fn field_type(
        &mut self,
        f: &ast::Field,
        scope: &Scope<'_>,
        pd: PtrKind,
        top_param: bool,
    ) -> CResult<Ty> {
        for a in &f.attrs {
            if a.name == "iid_is" {
                return self.err(a.span, "[iid_is] (COM interface pointers) is not supported");
            }
        }
        if let TypeSpecKind::Pipe(_) = f.ty.kind {
            return self.err(
                f.ty.span,
                "a pipe type must be declared with `typedef pipe T NAME;` and used by name",
            );
        }
        if top_param {
            check_attrs(
                self.sources,
                &f.attrs,
                &[TYPE_ATTRS, PARAM_ATTRS],
                "a parameter",
            )?;
        } else {
            check_attrs(
                self.sources,
                &f.attrs,
                &[TYPE_ATTRS],
                "a structure or union member",
            )?;
        }
        if ast::has_attr(&f.attrs, "context_handle") {
            // On a type that is already a `[context_handle]` typedef (`[out, context_handle]
            // PCONTEXT_HANDLE_REMOTE_SUBSCRIPTION *handle`, MS-EVEN6) the attribute repeats
            // the typedef's: each pointer of the declarator is a reference to the handle.
            if !matches!(f.ty.kind, TypeSpecKind::Base(BaseType::Void))
                && matches!(self.spec_type(&f.ty)?.ty, Ty::ContextHandle)
            {
                let mut ty = Ty::ContextHandle;
                for _ in 0..f.decl.ptrs {
                    ty = Ty::Ptr(PtrKind::Ref, Box::new(ty));
                }
                return Ok(ty);
            }
            if f.decl.ptrs == 0 {
                return self.err(f.decl.span, "a [context_handle] must be a pointer type");
            }
            let mut ty = Ty::ContextHandle;
            for _ in 1..f.decl.ptrs {
                ty = Ty::Ptr(PtrKind::Ref, Box::new(ty));
            }
            return Ok(ty);
        }
        if let TypeSpecKind::Base(BaseType::Void) = f.ty.kind {
            return self.err(
                f.ty.span,
                "`void` data needs [context_handle]; untyped pointers cannot be marshalled",
            );
        }
        let base = self.spec_type(&f.ty)?;
        let r = self.apply_declarator(base, &f.decl, &f.attrs, scope, pd, top_param, false)?;
        if !top_param && contains_pipe(&r.ty) {
            return self.err(
                f.decl.span,
                format!(
                    "`{}`: a pipe cannot be a structure or union member (only a parameter)",
                    f.decl.name
                ),
            );
        }
        Ok(r.ty)
    }

    /// Applies pointer levels, array dimensions and their attributes to a base type.
    #[allow(clippy::too_many_arguments)]
    fn apply_declarator(
        &mut self,
        base: Resolved,
        decl: &ast::Declarator,
        attrs: &[Attr],
        scope: &Scope<'_>,
        pd: PtrKind,
        top_param: bool,
        in_typedef: bool,
    ) -> CResult<Resolved> {
        let mut base = base;
        let mut levels: Vec<Level<'_>> = decl.dims.iter().map(|d| Level::Dim(d.as_ref())).collect();
        levels.extend((0..decl.ptrs).map(|_| Level::Ptr));
        // A pointer typedef used with array attributes and no pointer or array of its own
        // (`[size_is(n)] LPFOO p`): the typedef's pointer is the sized level.
        let mut is_string = ast::has_attr(attrs, "string");
        let wanted_levels = SIZING
            .iter()
            .filter_map(|n| find_attr(attrs, n))
            .map(|a| a.args.len())
            .max()
            .unwrap_or(0);
        // `[string]` on a string typedef with a size of its own (`[string, size_is(n)] LPSTR p`):
        // the typedef's pointer is the sized string level, so look through its `[string]`.
        if is_string
            && levels.is_empty()
            && wanted_levels > 0
            && let Ty::Ptr(k, s) = &base.ty
            && let Ty::String {
                wide,
                fixed: None,
                size: None,
            } = **s
        {
            let unit = if wide { Prim::U16 } else { Prim::U8 };
            base.ty = Ty::Ptr(*k, Box::new(Ty::Prim(unit)));
        }
        // Sizing attributes that reach into a pointer typedef's levels (`[size_is(, n)]
        // TASK_NAMES *p` with `typedef [string] wchar_t **TASK_NAMES`): the typedef's pointers
        // become levels of this declaration, and a `[string]` the typedef already applies is
        // not applied again.
        if !levels.is_empty() && wanted_levels > levels.len() && matches!(base.ty, Ty::Ptr(..)) {
            if is_string && ends_in_string(&base.ty) {
                is_string = false;
            }
            while levels.len() < wanted_levels
                && let Ty::Ptr(_, inner) = base.ty.clone()
            {
                base.ty = *inner;
                base.top_ptr_open = false;
                levels.push(Level::Ptr);
            }
        }
        // `[string]` on a pointer or array of a string typedef (`[out, string] LPWSTR *p`,
        // MS-FSRVP; `[size_is(count), string] LPWSTR *ptr`, MS-EVEN6): MIDL takes it as the
        // typedef's `[string]`, not a second one.
        if is_string
            && !levels.is_empty()
            && wanted_levels <= levels.len()
            && ends_in_string(&base.ty)
        {
            is_string = false;
        }
        let sizing = SIZING.iter().any(|n| ast::has_attr(attrs, n))
            || (is_string
                && !matches!(&base.ty, Ty::Ptr(_, s) if matches!(**s, Ty::String { .. })));
        let mut alias_ptr_kind: Option<PtrKind> = None;
        if levels.is_empty()
            && sizing
            && let Ty::Ptr(k, inner) = base.ty.clone()
        {
            alias_ptr_kind = (!base.top_ptr_open).then_some(k);
            base.ty = *inner;
            base.top_ptr_open = false;
            levels.push(Level::Ptr);
        }
        let nlev = levels.len();
        for name in SIZING {
            if let Some(a) = find_attr(attrs, name)
                && a.args.len() > nlev.max(1)
            {
                return self.err(a.span, format!("`{name}` has more arguments than the declaration has pointer or array levels"));
            }
        }
        let bounds = LevelAttrs::of(attrs);
        let ptr_attr = attrs.iter().find_map(|a| match a.name.as_str() {
            "ref" => Some(PtrKind::Ref),
            "unique" => Some(PtrKind::Unique),
            "ptr" => Some(PtrKind::Full),
            _ => None,
        });
        let first_ptr_level = levels.iter().position(|l| matches!(l, Level::Ptr));

        // The innermost type, with the union switch and an open alias pointer settled.
        let (mut ty, needs_switch) = self.settle_switch(&base, decl, attrs, scope, in_typedef)?;
        if base.top_ptr_open
            && let Ty::Ptr(kind, _) = &mut ty
        {
            *kind = if nlev == 0 {
                ptr_attr.unwrap_or(if top_param { PtrKind::Ref } else { pd })
            } else {
                pd
            };
        }

        for (i, level) in levels.iter().enumerate().rev() {
            let string_here = is_string && i + 1 == nlev;
            let sfl = self.level_bounds(&bounds, i, scope)?;
            let inner = self.level_type(ty, level, sfl, string_here, decl, attrs)?;
            ty = match level {
                Level::Dim(_) => inner,
                Level::Ptr => {
                    let kind = if Some(i) == first_ptr_level {
                        ptr_attr
                            .or(alias_ptr_kind)
                            .unwrap_or(if top_param && i == 0 {
                                PtrKind::Ref
                            } else {
                                pd
                            })
                    } else {
                        pd
                    };
                    Ty::Ptr(kind, Box::new(inner))
                }
            };
        }
        if nlev == 0 {
            self.check_unsized(&ty, decl, attrs, is_string)?;
        }
        Ok(Resolved {
            ty,
            top_ptr_open: false,
            needs_switch,
        })
    }

    /// The declarator's innermost type with a non-encapsulated union's `[switch_is]` attached,
    /// and whether the switch is still needed (a typedef leaves it to the use).
    fn settle_switch(
        &mut self,
        base: &Resolved,
        decl: &ast::Declarator,
        attrs: &[Attr],
        scope: &Scope<'_>,
        in_typedef: bool,
    ) -> CResult<(Ty, bool)> {
        let ty = base.ty.clone();
        let switch = find_attr(attrs, "switch_is");
        if base.needs_switch {
            return match switch {
                Some(sw) => {
                    let Some(AttrArg::Expr(e)) = sw.args.first() else {
                        return self.err(sw.span, "switch_is needs an expression");
                    };
                    Ok((attach_switch(ty, self.cexpr(e, scope)?), false))
                }
                None if in_typedef => Ok((ty, true)),
                None => self.err(
                    decl.span,
                    format!(
                        "`{}` is a non-encapsulated union and needs [switch_is(...)]",
                        decl.name
                    ),
                ),
            };
        }
        if let Some(sw) = switch
            && !matches!(ty, Ty::Ptr(..))
        {
            return self.err(
                sw.span,
                "switch_is applies only to a non-encapsulated union",
            );
        }
        Ok((ty, false))
    }

    /// Level `i`'s size, first and length expressions from the sizing attributes.
    fn level_bounds(
        &mut self,
        bounds: &LevelAttrs<'_>,
        i: usize,
        scope: &Scope<'_>,
    ) -> CResult<(Option<CExpr>, Option<CExpr>, Option<CExpr>)> {
        let at = |v: &Vec<Option<&'_ Expr>>| v.get(i).copied().flatten().cloned();
        let size = match (at(&bounds.size_is), at(&bounds.max_is)) {
            (Some(s), _) => Some(self.bound(&s, scope)?),
            (None, Some(m)) => Some(CExpr::Binary(
                "+",
                Box::new(self.bound(&m, scope)?),
                Box::new(CExpr::Const(1)),
            )),
            (None, None) => None,
        };
        let first = match at(&bounds.first_is) {
            Some(e) => Some(self.bound(&e, scope)?),
            None => None,
        };
        let length = match (at(&bounds.length_is), at(&bounds.last_is)) {
            (Some(l), _) => Some(self.bound(&l, scope)?),
            (None, Some(l)) => {
                let last = self.bound(&l, scope)?;
                let f = first.clone().unwrap_or(CExpr::Const(0));
                Some(CExpr::Binary(
                    "+",
                    Box::new(CExpr::Binary("-", Box::new(last), Box::new(f))),
                    Box::new(CExpr::Const(1)),
                ))
            }
            (None, None) => None,
        };
        Ok((size, first, length))
    }

    /// What one pointer or array level makes of `ty` given its (size, first, length), before
    /// the pointer itself is wrapped around it: a string, an array, or `ty` unchanged.
    fn level_type(
        &mut self,
        ty: Ty,
        level: &Level<'_>,
        (size, first, length): (Option<CExpr>, Option<CExpr>, Option<CExpr>),
        string_here: bool,
        decl: &ast::Declarator,
        attrs: &[Attr],
    ) -> CResult<Ty> {
        if string_here {
            let wide = match ty {
                Ty::Prim(Prim::U8) | Ty::Prim(Prim::I8) => false,
                Ty::Prim(Prim::U16) => true,
                _ => {
                    let a = find_attr(attrs, "string").map_or(decl.span, |a| a.span);
                    return self.err(
                        a,
                        "[string] applies only to char, byte or wchar_t arrays and pointers",
                    );
                }
            };
            if length.is_some() || first.is_some() {
                return self.err(
                    decl.span,
                    "[string] cannot be combined with length_is, last_is or first_is",
                );
            }
            let fixed = match level {
                Level::Dim(Some(e)) if size.is_none() => Some(self.const_u64(e)?),
                _ => None,
            };
            if matches!(level, Level::Dim(None)) && size.is_none() {
                return self.err(
                    decl.span,
                    "a conformant [string] array needs size_is or max_is",
                );
            }
            return Ok(Ty::String { wide, fixed, size });
        }
        let size = match (level, size) {
            (_, Some(s)) => ArraySize::Conformant(s),
            (Level::Ptr, None) => {
                if length.is_some() || first.is_some() {
                    return self.err(
                        decl.span,
                        "length_is/first_is on a pointer needs size_is or max_is",
                    );
                }
                return Ok(ty);
            }
            (Level::Dim(Some(e)), None) => ArraySize::Fixed(self.const_u64(e)?),
            (Level::Dim(None), None) => {
                return self.err(
                    decl.span,
                    format!(
                        "the conformant array `{}` needs size_is or max_is",
                        decl.name
                    ),
                );
            }
        };
        Ok(Ty::Array(Box::new(Array {
            elem: ty,
            size,
            length,
            first,
        })))
    }

    /// A declarator with no pointer or array level of its own: `[string]` and the sizing
    /// attributes need one (here, through a pointer typedef).
    fn check_unsized(
        &self,
        ty: &Ty,
        decl: &ast::Declarator,
        attrs: &[Attr],
        is_string: bool,
    ) -> CResult<()> {
        if is_string && !matches!(ty, Ty::Ptr(_, s) if matches!(**s, Ty::String { .. })) {
            let a = find_attr(attrs, "string").map_or(decl.span, |a| a.span);
            return self.err(
                a,
                "[string] applies only to char, byte or wchar_t arrays and pointers",
            );
        }
        for name in SIZING {
            if let Some(a) = find_attr(attrs, name)
                && !matches!(ty, Ty::Ptr(..))
            {
                return self.err(
                    a.span,
                    format!("`{name}` applies only to arrays and pointers"),
                );
            }
        }
        Ok(())
    }

    /// `e` with each `sizeof(type)` replaced by the type's size, for constant expressions such
    /// as MS-WKST's `MAX_PASSWORDBLOB_SIZE`. Only types of a fixed NDR size that C agrees with
    /// are measured: the integer, character and floating types and enums (4 octets, as MIDL's
    /// C compiler lays them out); a structure's C size depends on the C compiler's packing, so
    /// `sizeof` of one is an error.
    fn fold_sizeof(&mut self, e: &Expr) -> CResult<Expr> {
        let kind = match &e.kind {
            ExprKind::Sizeof(t) => {
                let r = self.spec_type(t)?;
                let Some((n, _)) = c_layout(&r.ty, &self.model.types, 0) else {
                    return self.err(
                        e.span,
                        "sizeof is only computed for integer, character, floating and enum types \
                         and structs and fixed arrays of them",
                    );
                };
                ExprKind::Int(n as i64)
            }
            ExprKind::Unary(op, x) => ExprKind::Unary(op, Box::new(self.fold_sizeof(x)?)),
            ExprKind::Binary(op, a, b) => ExprKind::Binary(
                op,
                Box::new(self.fold_sizeof(a)?),
                Box::new(self.fold_sizeof(b)?),
            ),
            ExprKind::Ternary(c, a, b) => ExprKind::Ternary(
                Box::new(self.fold_sizeof(c)?),
                Box::new(self.fold_sizeof(a)?),
                Box::new(self.fold_sizeof(b)?),
            ),
            ExprKind::Cast(t, x) => ExprKind::Cast(t.clone(), Box::new(self.fold_sizeof(x)?)),
            other => other.clone(),
        };
        Ok(Expr { kind, span: e.span })
    }

    fn const_u64(&mut self, e: &Expr) -> CResult<u64> {
        let e = &self.fold_sizeof(e)?;
        match ast::eval_const(e, &self.consts) {
            Some(v) if v >= 0 => Ok(v as u64),
            Some(_) => self.err(e.span, "an array size cannot be negative"),
            None => self.err(
                e.span,
                "a fixed array size must be a constant (use size_is for a conformant array)",
            ),
        }
    }

    /// A sizing attribute's expression bound to siblings and constants, `sizeof(type)` folded
    /// first (`size_is(cbValueName / sizeof(wchar_t))`, MS-RPRN and MS-PAR).
    fn bound(&mut self, e: &Expr, scope: &Scope<'_>) -> CResult<CExpr> {
        let e = self.fold_sizeof(e)?;
        self.cexpr(&e, scope)
    }

    /// Binds a conformance expression to siblings and constants.
    fn cexpr(&self, e: &Expr, scope: &Scope<'_>) -> CResult<CExpr> {
        Ok(match &e.kind {
            ExprKind::Int(v) => CExpr::Const(*v),
            ExprKind::Char(c) => CExpr::Const(i64::from(*c)),
            ExprKind::Ident(n) => match scope.names.iter().position(|(s, _)| s == n) {
                Some(i) => CExpr::Sibling(i),
                None => match self.consts.get(n) {
                    Some(v) => CExpr::Const(*v),
                    None => {
                        return self.err(
                            e.span,
                            format!("`{n}` is not a field, parameter or constant in scope"),
                        );
                    }
                },
            },
            ExprKind::Unary("*", inner) => match &inner.kind {
                ExprKind::Ident(n) => match scope.names.iter().position(|(s, _)| s == n) {
                    Some(i) if scope.names[i].1 => CExpr::Deref(i),
                    Some(_) => return self.err(e.span, format!("`{n}` is not a pointer")),
                    None => {
                        return self.err(
                            inner.span,
                            format!("`{n}` is not a field or parameter in scope"),
                        );
                    }
                },
                _ => {
                    return self.err(
                        e.span,
                        "only `*name` dereferences are supported in conformance expressions",
                    );
                }
            },
            ExprKind::Unary(op, inner) if matches!(*op, "-" | "~" | "!" | "+") => {
                CExpr::Unary(op, Box::new(self.cexpr(inner, scope)?))
            }
            ExprKind::Binary(op, a, b) => CExpr::Binary(
                op,
                Box::new(self.cexpr(a, scope)?),
                Box::new(self.cexpr(b, scope)?),
            ),
            ExprKind::Ternary(a, b, c) => CExpr::Ternary(
                Box::new(self.cexpr(a, scope)?),
                Box::new(self.cexpr(b, scope)?),
                Box::new(self.cexpr(c, scope)?),
            ),
            ExprKind::Cast(_, inner) => self.cexpr(inner, scope)?,
            ExprKind::Member(..) => {
                return self.err(
                    e.span,
                    "member access in conformance expressions is not supported",
                );
            }
            _ => return self.err(e.span, "unsupported conformance expression"),
        })
    }

    // ---- interfaces ----------------------------------------------------------------------

    /// A COM interface's base chain: the operations it inherits below IUnknown (the furthest
    /// base's first, each with its interface's pointer default). IUnknown's three methods take
    /// opnums 0-2 (MS-DCOM 3.1.1.5.8), and each derived interface's methods continue from its
    /// base's count (the C vtable order, which MIDL numbers opnums by).
    fn com_base<'u>(
        &self,
        itf: &ast::Interface,
        all: &[&'u ast::Interface],
    ) -> CResult<Vec<(&'u ast::Operation, PtrKind)>> {
        let must_derive = |i: &ast::Interface| {
            format!(
                "COM `[object]` interface `{}` must derive from IUnknown or another [object] interface (`interface {} : IUnknown`)",
                i.name, i.name
            )
        };
        let Some(mut name) = itf.base.clone() else {
            return self.err(itf.span, must_derive(itf));
        };
        let mut chain: Vec<&ast::Interface> = Vec::new();
        while name != "IUnknown" {
            if chain.len() >= MAX_COM_INHERITANCE {
                return self.err(
                    itf.span,
                    format!(
                        "interface `{}` derives through more than {MAX_COM_INHERITANCE} interfaces (a cycle?)",
                        itf.name
                    ),
                );
            }
            let Some(b) = all.iter().find(|i| i.name == name) else {
                return self.err(
                    itf.span,
                    format!(
                        "base interface `{name}` of `{}` is not declared here or in an imported file",
                        itf.name
                    ),
                );
            };
            if !ast::has_attr(&b.attrs, "object") {
                return self.err(
                    itf.span,
                    format!("base interface `{name}` is not a COM `[object]` interface"),
                );
            }
            chain.push(b);
            name = match &b.base {
                Some(n) => n.clone(),
                None => return self.err(b.span, must_derive(b)),
            };
        }
        let mut ops = Vec::new();
        for b in chain.iter().rev() {
            let pd = self.pointer_default(&b.attrs)?;
            for item in &b.items {
                if let ast::Item::Operation(op) = item {
                    ops.push((op, pd));
                }
            }
        }
        Ok(ops)
    }

    /// A COM operation as its call goes on the wire: the binding handle (the server's manager
    /// gets the call, and with it the IPID, the request's object UUID), then the implicit
    /// `[in] ORPCTHIS *ORPCthis` and `[out] ORPCTHAT *ORPCthat` before the declared parameters
    /// (MS-DCOM 3.2.4.2: the request's stub data starts with ORPCTHIS, the response's with
    /// ORPCTHAT; the HRESULT return value comes last, as any return value does).
    fn orpc_operation(op: &ast::Operation) -> ast::Operation {
        let span = op.span;
        let param = |dir: &str, ty: TypeSpecKind, ptrs: usize, name: &str| ast::Field {
            attrs: vec![Attr {
                name: dir.to_string(),
                args: Vec::new(),
                span,
            }],
            ty: ast::TypeSpec { kind: ty, span },
            decl: ast::Declarator {
                ptrs,
                name: name.to_string(),
                dims: Vec::new(),
                span,
            },
        };
        let mut op = op.clone();
        let mut params = vec![
            param("in", TypeSpecKind::Base(BaseType::HandleT), 0, "binding"),
            param("in", TypeSpecKind::Named("ORPCTHIS".into()), 1, "ORPCthis"),
            param("out", TypeSpecKind::Named("ORPCTHAT".into()), 1, "ORPCthat"),
        ];
        params.append(&mut op.params);
        op.params = params;
        op
    }

    fn interface(
        &mut self,
        itf: &ast::Interface,
        acf: Option<&ast::AcfInterface>,
        all: &[&ast::Interface],
    ) -> CResult<Interface> {
        let object = ast::has_attr(&itf.attrs, "object");
        if itf.base.is_some() && !object {
            return self.err(
                itf.span,
                "interface inheritance is only for COM `[object]` interfaces",
            );
        }
        let mut bases = Vec::new();
        if object {
            let mut b = itf.base.clone();
            while let Some(n) = b.filter(|n| n != "IUnknown") {
                if bases.len() >= MAX_COM_INHERITANCE {
                    break;
                }
                b = all
                    .iter()
                    .find(|i| i.name == n)
                    .and_then(|i| i.base.clone());
                bases.push(n);
            }
        }
        let inherited = if object {
            let inherited = self.com_base(itf, all)?;
            for t in ["ORPCTHIS", "ORPCTHAT"] {
                if !self.typedefs.contains_key(t) {
                    return self.err(
                        itf.span,
                        format!(
                            "COM `[object]` interface `{}` needs MS-DCOM's ORPCTHIS and ORPCTHAT, which every DCOM call carries first: import \"ms-dcom.idl\" (MS-DCOM's full IDL)",
                            itf.name
                        ),
                    );
                }
            }
            inherited
        } else {
            Vec::new()
        };
        if let Some(a) = find_attr(&itf.attrs, "local") {
            return self.err(
                a.span,
                "`[local]` interfaces have no wire form; remove [local] to generate stubs",
            );
        }
        check_attrs(
            self.sources,
            &itf.attrs,
            &[&[
                "uuid",
                "version",
                "pointer_default",
                "endpoint",
                "lcid",
                "nonextensible",
                "object",
            ]],
            "an interface",
        )?;
        let Some(uuid_attr) = find_attr(&itf.attrs, "uuid") else {
            return self.err(
                itf.span,
                format!("interface `{}` needs a [uuid(...)] attribute", itf.name),
            );
        };
        let uuid_text = match uuid_attr.args.first() {
            Some(AttrArg::Raw(r)) => r.to_ascii_lowercase(),
            _ => String::new(),
        };
        let Some(uuid) = parse_uuid(&uuid_text) else {
            return self.err(
                uuid_attr.span,
                "malformed uuid: expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
            );
        };
        let version = match find_attr(&itf.attrs, "version") {
            None => (0, 0),
            Some(a) => {
                let raw = match a.args.first() {
                    Some(AttrArg::Raw(r)) => r.clone(),
                    _ => String::new(),
                };
                let mut it = raw.splitn(2, '.');
                let major = it.next().and_then(|s| s.parse::<u16>().ok());
                let minor = match it.next() {
                    None => Some(0),
                    Some(s) => s.parse::<u16>().ok(),
                };
                match (major, minor) {
                    (Some(a), Some(b)) => (a, b),
                    _ => return self.err(a.span, "malformed version: expected major.minor"),
                }
            }
        };
        let pointer_default = self.pointer_default(&itf.attrs)?;
        let mut endpoints = Vec::new();
        if let Some(a) = find_attr(&itf.attrs, "endpoint") {
            for x in &a.args {
                match x {
                    AttrArg::Expr(Expr {
                        kind: ExprKind::Str(s),
                        ..
                    }) => endpoints.push(s.clone()),
                    _ => {
                        return self.err(
                            a.span,
                            "endpoint takes strings such as \"ncacn_ip_tcp:[135]\"",
                        );
                    }
                }
            }
        }
        let mut binding = Binding::Default;
        if let Some(acf) = acf {
            check_attrs(
                self.sources,
                &acf.attrs,
                &[&[
                    "explicit_handle",
                    "implicit_handle",
                    "auto_handle",
                    "encode",
                    "decode",
                    "strict_context_handle",
                    "context_handle_noserialize",
                    "type_strict_context_handle",
                ]],
                "an ACF interface",
            )?;
            for a in &acf.attrs {
                match a.name.as_str() {
                    "explicit_handle" => binding = Binding::Explicit,
                    "auto_handle" => binding = Binding::Auto,
                    "implicit_handle" => match a.args.first() {
                        Some(AttrArg::TypedName(_, n)) => binding = Binding::Implicit(n.clone()),
                        _ => return self.err(a.span, "implicit_handle needs `(handle_t name)`"),
                    },
                    "encode" | "decode" => {
                        return self.err(
                            a.span,
                            "type serialization ([encode]/[decode]) is not supported",
                        );
                    }
                    _ => {}
                }
            }
        }
        let mut ops = Vec::new();
        let own = itf.items.iter().filter_map(|i| match i {
            ast::Item::Operation(op) => Some((op, pointer_default)),
            _ => None,
        });
        let first = if object { IUNKNOWN_METHODS } else { 0 };
        for (op, pd) in inherited.into_iter().chain(own) {
            let opnum = u16::try_from(first + ops.len())
                .map_err(|_| Box::new(self.sources.diagnostic(op.span, "too many operations")))?;
            if object {
                ops.push(self.operation(&Self::orpc_operation(op), opnum, pd)?);
            } else {
                ops.push(self.operation(op, opnum, pd)?);
            }
        }
        if let Some(acf) = acf {
            for aop in &acf.ops {
                let Some(op) = ops.iter_mut().find(|o| o.name == aop.name) else {
                    return self.err(
                        aop.span,
                        format!(
                            "the ACF names operation `{}`, which interface `{}` does not declare",
                            aop.name, itf.name
                        ),
                    );
                };
                check_attrs(
                    self.sources,
                    &aop.attrs,
                    &[&[
                        "async",
                        "comm_status",
                        "fault_status",
                        "explicit_handle",
                        "encode",
                        "decode",
                    ]],
                    "an ACF operation",
                )?;
                for (pattrs, _) in &aop.params {
                    check_attrs(
                        self.sources,
                        pattrs,
                        &[&["comm_status", "fault_status", "force_allocate"]],
                        "an ACF parameter",
                    )?;
                }
                for a in &aop.attrs {
                    match a.name.as_str() {
                        "async" => op.is_async = true,
                        "comm_status" => op.comm_status = Some(String::new()),
                        "fault_status" => op.fault_status = Some(String::new()),
                        "encode" | "decode" => {
                            return self.err(
                                a.span,
                                "type serialization ([encode]/[decode]) is not supported",
                            );
                        }
                        _ => {}
                    }
                }
                for (pattrs, pname) in &aop.params {
                    for a in pattrs {
                        match a.name.as_str() {
                            "comm_status" => op.comm_status = Some(pname.clone()),
                            "fault_status" => op.fault_status = Some(pname.clone()),
                            _ => {}
                        }
                    }
                }
            }
        }
        if object {
            for op in &ops {
                if op.is_async {
                    return self.err(
                        itf.span,
                        format!(
                            "`[async]` operation `{}` in COM interface `{}` is not supported",
                            op.name, itf.name
                        ),
                    );
                }
                let ctx = |t: &Ty| matches!(t, Ty::ContextHandle);
                if op.params.iter().any(|p| ctx(&p.ty)) || op.ret.as_ref().is_some_and(ctx) {
                    return self.err(
                        itf.span,
                        format!(
                            "context handles in COM interface `{}` (operation `{}`) are not supported",
                            itf.name, op.name
                        ),
                    );
                }
            }
        }
        Ok(Interface {
            name: itf.name.clone(),
            uuid,
            uuid_text,
            version,
            pointer_default,
            endpoints,
            binding,
            ops,
            object,
            bases,
            strict_context: ast::has_attr(&itf.attrs, "strict_context_handle")
                || acf.is_some_and(|a| ast::has_attr(&a.attrs, "strict_context_handle")),
            noserialize_context: ast::has_attr(&itf.attrs, "context_handle_noserialize")
                || acf.is_some_and(|a| ast::has_attr(&a.attrs, "context_handle_noserialize")),
            type_strict_context: ast::has_attr(&itf.attrs, "type_strict_context_handle")
                || acf.is_some_and(|a| ast::has_attr(&a.attrs, "type_strict_context_handle")),
        })
    }

    fn operation(&mut self, op: &ast::Operation, opnum: u16, pd: PtrKind) -> CResult<Operation> {
        for a in &op.attrs {
            match a.name.as_str() {
                "callback" => return self.err(a.span, "[callback] operations are not supported"),
                "local" => {
                    return self.err(
                        a.span,
                        "[local] operations have no wire form and are not supported",
                    );
                }
                "call_as" => return self.err(a.span, "[call_as] is not supported"),
                "async" => return self.err(a.span, "[async] belongs in the ACF, not the IDL"),
                _ => {}
            }
        }
        check_attrs(
            self.sources,
            &op.attrs,
            &[&["idempotent", "maybe", "broadcast"]],
            "an operation",
        )?;
        let names: Vec<(String, bool)> = op
            .params
            .iter()
            .map(|p| {
                (
                    p.decl.name.clone(),
                    p.decl.ptrs > 0 || self.param_is_pointer_alias(p),
                )
            })
            .collect();
        let scope = Scope { names: &names };
        let mut params = Vec::new();
        for p in &op.params {
            let is_in = ast::has_attr(&p.attrs, "in");
            let is_out = ast::has_attr(&p.attrs, "out");
            let is_in = is_in || !is_out;
            for a in &p.attrs {
                if a.name == "retval" || a.name == "lcid" {
                    continue;
                }
                if a.name == "iid_is" {
                    return self.err(a.span, "[iid_is] (COM interface pointers) is not supported");
                }
            }
            let ty = self.field_type(p, &scope, pd, true)?;
            let (ty, by_ref) = match ty {
                Ty::Ptr(PtrKind::Ref, inner) => (*inner, true),
                other => (other, false),
            };
            if is_out
                && !by_ref
                && !matches!(ty, Ty::Ptr(..))
                && !matches!(ty, Ty::Array(_) | Ty::String { .. })
            {
                return self.err(
                    p.decl.span,
                    format!("[out] parameter `{}` must be a pointer", p.decl.name),
                );
            }
            if matches!(ty, Ty::Handle) && is_out {
                return self.err(p.decl.span, "a handle_t parameter cannot be [out]");
            }
            // Pipes (the MIDL `pipe` page): by value or through a top-level [ref] pointer only,
            // and not in an [idempotent] operation.
            let pipe_here = match &ty {
                Ty::Pipe(elem) => !contains_pipe(elem),
                other => !contains_pipe(other),
            };
            if !pipe_here {
                return self.err(
                    p.decl.span,
                    format!(
                        "pipe parameter `{}` must be passed by value or through a [ref] pointer (not [unique], [ptr], an array or a pointer to a pointer)",
                        p.decl.name
                    ),
                );
            }
            if matches!(ty, Ty::Pipe(_))
                && let Some(a) = find_attr(&op.attrs, "idempotent")
            {
                return self.err(
                    a.span,
                    format!(
                        "[idempotent] cannot be applied to `{}`: it has a pipe parameter",
                        op.name
                    ),
                );
            }
            params.push(Param {
                name: p.decl.name.clone(),
                is_in,
                is_out,
                ty,
                by_ref,
                range: self.range(&p.attrs)?,
                // An array parameter (`x[]`, `x[*]`) is a pointer in C.
                c_decl: c_spelling(&p.ty.kind).map(|base| {
                    let ptrs = p.decl.ptrs + usize::from(!p.decl.dims.is_empty());
                    format!("{base} {}{}", "*".repeat(ptrs), p.decl.name)
                }),
            });
        }
        let siblings: Vec<(&Ty, Span)> = params
            .iter()
            .zip(&op.params)
            .map(|(p, a)| (&p.ty, a.decl.span))
            .collect();
        self.imply_switch_types(&siblings)?;
        let ret = match (&op.ret.kind, op.ret_ptrs) {
            (TypeSpecKind::Base(BaseType::Void), 0) => None,
            (TypeSpecKind::Base(BaseType::Void), _) => {
                return self.err(op.ret.span, "an operation cannot return `void *`");
            }
            _ => {
                let base = self.spec_type(&op.ret)?;
                if base.needs_switch {
                    return self.err(
                        op.ret.span,
                        "an operation cannot return a non-encapsulated union",
                    );
                }
                let mut ty = base.ty;
                for _ in 0..op.ret_ptrs {
                    ty = Ty::Ptr(PtrKind::Unique, Box::new(ty));
                }
                if matches!(ty, Ty::Handle) {
                    return self.err(op.ret.span, "an operation cannot return handle_t");
                }
                if contains_pipe(&ty) {
                    return self.err(op.ret.span, "an operation cannot return a pipe");
                }
                Some(ty)
            }
        };
        let ret_c = match ret {
            None => None,
            Some(_) => c_spelling(&op.ret.kind).map(|b| format!("{b}{}", " *".repeat(op.ret_ptrs))),
        };
        Ok(Operation {
            name: op.name.clone(),
            opnum,
            params,
            ret,
            ret_c,
            is_async: false,
            idempotent: ast::has_attr(&op.attrs, "idempotent"),
            maybe: ast::has_attr(&op.attrs, "maybe"),
            broadcast: ast::has_attr(&op.attrs, "broadcast"),
            comm_status: None,
            fault_status: None,
        })
    }

    fn param_is_pointer_alias(&self, p: &ast::Field) -> bool {
        match &p.ty.kind {
            TypeSpecKind::Named(n) => self.typedefs.get(n).is_some_and(|t| t.decl.ptrs > 0),
            _ => false,
        }
    }
}

/// Whether `ty` is or holds (through pointers and arrays) a pipe.
fn contains_pipe(ty: &Ty) -> bool {
    match ty {
        Ty::Pipe(_) => true,
        Ty::Ptr(_, t) => contains_pipe(t),
        Ty::Array(a) => contains_pipe(&a.elem),
        _ => false,
    }
}

/// What makes `ty` unfit as a pipe's element, if anything (the MIDL `pipe` page: no pointer,
/// conformant or varying array, handle or context handle; in Microsoft's pipes no union, 16-bit
/// enum or `__int3264` either).
fn pipe_element_problem(m: &Model, ty: &Ty, depth: usize) -> Option<&'static str> {
    if depth > 64 {
        return None;
    }
    match ty {
        Ty::Prim(_) => None,
        Ty::Ptr(..) => Some("a pointer"),
        Ty::Array(a) => match (&a.size, &a.length) {
            (ArraySize::Fixed(_), None) => pipe_element_problem(m, &a.elem, depth + 1),
            _ => Some("a conformant or varying array"),
        },
        Ty::String { .. } => Some("a string (a conformant or varying array)"),
        Ty::ContextHandle => Some("a context handle"),
        Ty::Handle => Some("a handle"),
        Ty::Int3264 { .. } => Some("an __int3264"),
        Ty::Pipe(_) => Some("a pipe"),
        Ty::Union(..) => Some("a union"),
        Ty::Def(id) => match &m.types[*id].kind {
            DefKind::Struct(s) => s
                .fields
                .iter()
                .find_map(|f| pipe_element_problem(m, &f.ty, depth + 1)),
            DefKind::Union(_) => Some("a union"),
            DefKind::Enum(e) if !e.v1 => Some("a 16-bit enum (declare it [v1_enum])"),
            DefKind::Enum(_) => None,
            DefKind::Alias(t) => pipe_element_problem(m, t, depth + 1),
            DefKind::Pending => Some("a pointer"),
        },
    }
}

/// The C spelling of a base or named type, as MIDL writes it in a header (`wchar_t` is `WCHAR`,
/// 16 bits, on every platform; docs/c-abi.md).
fn c_spelling(kind: &TypeSpecKind) -> Option<String> {
    let s = match kind {
        TypeSpecKind::Named(n) => return Some(n.clone()),
        TypeSpecKind::Base(b) => match b {
            BaseType::Void => "void",
            BaseType::Boolean => "boolean",
            BaseType::Byte => "byte",
            BaseType::Char => "char",
            BaseType::UChar => "unsigned char",
            BaseType::Small => "small",
            BaseType::USmall => "unsigned char",
            BaseType::Short => "short",
            BaseType::UShort => "unsigned short",
            BaseType::Long => "long",
            BaseType::ULong => "unsigned long",
            BaseType::Hyper => "hyper",
            BaseType::UHyper => "MIDL_uhyper",
            BaseType::Int3264 => "INT_PTR",
            BaseType::UInt3264 => "UINT_PTR",
            BaseType::Float => "float",
            BaseType::Double => "double",
            BaseType::WChar => "WCHAR",
            BaseType::HandleT => "handle_t",
            BaseType::ErrorStatusT => "error_status_t",
        },
        _ => return None,
    };
    Some(s.to_string())
}

/// Attributes that only document or tune the C stubs: accepted everywhere and ignored.
const DOC_ATTRS: &[&str] = &[
    "helpstring",
    "helpcontext",
    "helpfile",
    "helpstringcontext",
    "hidden",
    "restricted",
    "custom",
    "public",
    "annotation",
    "nonbrowsable",
    "code",
    "nocode",
    "optimize",
    "disable_consistency_check",
    "strict_context_handle",
    "type_strict_context_handle",
    "context_handle_noserialize",
    "context_handle_serialize",
    "ms_union",
    "enable_allocate",
];

/// Attributes that change how a field, parameter or typedef is marshalled, all understood.
const TYPE_ATTRS: &[&str] = &[
    "size_is",
    "max_is",
    "length_is",
    "first_is",
    "last_is",
    "string",
    "range",
    "ref",
    "unique",
    "ptr",
    "switch_is",
    "switch_type",
    "context_handle",
    "handle",
    "v1_enum",
];

/// Attributes valid only on parameters.
const PARAM_ATTRS: &[&str] = &["in", "out", "retval", "comm_status", "fault_status", "lcid"];

/// Refuses any attribute not in `allowed` or [`DOC_ATTRS`]: an unknown attribute might change
/// the wire format, and msrpc-idl never guesses.
fn check_attrs(sources: &Sources, attrs: &[Attr], allowed: &[&[&str]], what: &str) -> CResult<()> {
    for a in attrs {
        let known = DOC_ATTRS.contains(&a.name.as_str())
            || allowed.iter().any(|set| set.contains(&a.name.as_str()));
        if !known {
            return Err(Box::new(sources.diagnostic(
                a.span,
                format!("attribute `[{}]` is not supported on {what}", a.name),
            )));
        }
    }
    Ok(())
}

/// The attributes that size or bound a pointer or array level.
const SIZING: [&str; 5] = ["size_is", "max_is", "length_is", "first_is", "last_is"];

/// One pointer or array level of a declarator, outermost first.
enum Level<'e> {
    /// `[N]` or `[]`.
    Dim(Option<&'e Expr>),
    /// `*`.
    Ptr,
}

/// The sizing attributes' arguments, one per level (`None` where a level's argument is empty).
struct LevelAttrs<'a> {
    size_is: Vec<Option<&'a Expr>>,
    max_is: Vec<Option<&'a Expr>>,
    length_is: Vec<Option<&'a Expr>>,
    last_is: Vec<Option<&'a Expr>>,
    first_is: Vec<Option<&'a Expr>>,
}

impl<'a> LevelAttrs<'a> {
    fn of(attrs: &'a [Attr]) -> Self {
        let per_level = |name: &str| -> Vec<Option<&'a Expr>> {
            find_attr(attrs, name).map_or_else(Vec::new, |a| {
                (a.args.iter())
                    .map(|x| match x {
                        AttrArg::Expr(e) => Some(e),
                        _ => None,
                    })
                    .collect()
            })
        };
        LevelAttrs {
            size_is: per_level("size_is"),
            max_is: per_level("max_is"),
            length_is: per_level("length_is"),
            last_is: per_level("last_is"),
            first_is: per_level("first_is"),
        }
    }
}

/// How deep `disc_of` follows aliases of aliases (a typedef chain; real IDL has two or three).
const MAX_ALIAS_DEPTH: usize = 64;

/// The width of a discriminant of type `p`.
fn disc_bits(p: Prim) -> u32 {
    match p {
        Prim::U8 | Prim::I8 | Prim::Bool => 8,
        Prim::U16 | Prim::I16 => 16,
        Prim::U32 | Prim::I32 | Prim::F32 => 32,
        _ => 64,
    }
}

/// `v` fits `bits` bits, read as signed or unsigned.
fn fits_bits(v: i64, bits: u32) -> bool {
    bits >= 64 || (v >= -(1i64 << (bits - 1)) && v < (1i64 << bits))
}

/// The non-encapsulated union a field or parameter holds (inside pointers and arrays), with its
/// `switch_is` expression.
fn union_use(ty: &Ty) -> Option<(TypeId, &CExpr)> {
    match ty {
        Ty::Union(id, sw) => Some((*id, sw)),
        Ty::Ptr(_, inner) => union_use(inner),
        Ty::Array(a) => union_use(&a.elem),
        _ => None,
    }
}

/// Puts a `switch_is` on the union inside pointers and arrays.
fn attach_switch(ty: Ty, sw: CExpr) -> Ty {
    match ty {
        Ty::Def(id) => Ty::Union(id, sw),
        Ty::Ptr(k, inner) => Ty::Ptr(k, Box::new(attach_switch(*inner, sw))),
        Ty::Array(mut a) => {
            a.elem = attach_switch(a.elem, sw);
            Ty::Array(a)
        }
        other => other,
    }
}

/// A union with an arm that has no `[case]` or `[default]`, as in C (MS-DTYP's EVENT_HEADER).
fn is_c_union(u: &ast::UnionSpec) -> bool {
    u.switch.is_none() && u.arms.iter().flatten().any(|a| a.cases.is_empty())
}

/// A structure member whose type is, or holds inline, such a union.
fn is_c_union_member(f: &ast::Field) -> bool {
    match &f.ty.kind {
        TypeSpecKind::Union(u) => {
            is_c_union(u)
                || u.arms
                    .iter()
                    .flatten()
                    .filter_map(|a| a.field.as_ref())
                    .any(is_c_union_member)
        }
        TypeSpecKind::Struct(_, Some(fields)) => fields.iter().any(is_c_union_member),
        _ => false,
    }
}

/// Whether a type is a string behind zero or more pointers.
/// How deep [`c_layout`] follows nested structs before it gives up.
const MAX_SIZEOF_DEPTH: usize = 16;

/// The C size and alignment of `ty` (natural alignment, as MIDL's `sizeof` sees it): integer,
/// character, floating and enum types, and structs and fixed arrays of them (`sizeof(GUID)` is
/// 16, MS-EVEN6). `None` for anything with a pointer, a conformant part or a union.
fn c_layout(ty: &Ty, types: &[TypeDef], depth: usize) -> Option<(u64, u64)> {
    if depth > MAX_SIZEOF_DEPTH {
        return None;
    }
    match ty {
        Ty::Prim(p) => {
            let n = match p {
                Prim::Bool | Prim::U8 | Prim::I8 => 1,
                Prim::U16 | Prim::I16 => 2,
                Prim::U32 | Prim::I32 | Prim::F32 => 4,
                Prim::U64 | Prim::I64 | Prim::F64 => 8,
            };
            Some((n, n))
        }
        Ty::Def(id) => match &types.get(*id)?.kind {
            DefKind::Enum(_) => Some((4, 4)),
            DefKind::Alias(t) => c_layout(t, types, depth + 1),
            DefKind::Struct(st) => {
                let (mut size, mut align) = (0u64, 1u64);
                for f in &st.fields {
                    let (n, a) = c_layout(&f.ty, types, depth + 1)?;
                    size = size.next_multiple_of(a).checked_add(n)?;
                    align = align.max(a);
                }
                Some((size.next_multiple_of(align), align))
            }
            _ => None,
        },
        Ty::Array(a) => match a.size {
            ArraySize::Fixed(n) if a.length.is_none() && a.first.is_none() => {
                let (m, al) = c_layout(&a.elem, types, depth + 1)?;
                Some((m.checked_mul(n)?, al))
            }
            _ => None,
        },
        _ => None,
    }
}

fn ends_in_string(ty: &Ty) -> bool {
    match ty {
        Ty::String { .. } => true,
        Ty::Ptr(_, t) => ends_in_string(t),
        _ => false,
    }
}

/// The tag table key of an aggregate specifier: `struct _X`, or `struct @file:offset` if anonymous.
fn spec_key(spec: &TypeSpec) -> Option<String> {
    let (kw, tag) = match &spec.kind {
        TypeSpecKind::Struct(t, _) => ("struct", t.clone()),
        TypeSpecKind::Union(u) => ("union", u.tag.clone()),
        TypeSpecKind::Enum(t, _) => ("enum", t.clone()),
        _ => return None,
    };
    Some(match tag {
        Some(t) => format!("{kw} {t}"),
        None => format!("{kw} @{}:{}", spec.span.file, spec.span.lo),
    })
}

fn base_prim(b: BaseType) -> Option<Prim> {
    Some(match b {
        BaseType::Boolean => Prim::Bool,
        BaseType::Byte | BaseType::Char | BaseType::UChar | BaseType::USmall => Prim::U8,
        BaseType::Small => Prim::I8,
        BaseType::Short => Prim::I16,
        BaseType::UShort | BaseType::WChar => Prim::U16,
        BaseType::Long => Prim::I32,
        BaseType::ULong | BaseType::ErrorStatusT => Prim::U32,
        BaseType::Hyper => Prim::I64,
        BaseType::UHyper => Prim::U64,
        BaseType::Float => Prim::F32,
        BaseType::Double => Prim::F64,
        BaseType::Void | BaseType::HandleT | BaseType::Int3264 | BaseType::UInt3264 => return None,
    })
}

/// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` into its 16 bytes in text order.
fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let parts: Vec<&str> = s.split('-').collect();
    if parts.len() != 5 || [8, 4, 4, 4, 12] != parts.iter().map(|p| p.len()).collect::<Vec<_>>()[..]
    {
        return None;
    }
    let hex: String = parts.concat();
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use crate::model::*;

    fn model(idl: &str, acf: Option<&str>) -> Model {
        let acf = acf.map(|a| ("t.acf".to_string(), a.to_string()));
        crate::Builder::new()
            .model("t.idl".into(), None, idl.into(), acf)
            .unwrap_or_else(|d| panic!("{d}"))
    }

    fn param<'m>(m: &'m Model, op: &str, p: &str) -> &'m Param {
        m.interfaces[0]
            .ops
            .iter()
            .find(|o| o.name == op)
            .and_then(|o| o.params.iter().find(|x| x.name == p))
            .expect("param")
    }

    fn def<'m>(m: &'m Model, name: &str) -> &'m DefKind {
        &m.types.iter().find(|t| t.name == name).expect("type").kind
    }

    const HEAD: &str = "[uuid(12345678-1234-abcd-ef00-0123456789ab), version(1.2), pointer_default(ptr)]\ninterface T {\n";

    #[test]
    fn pointer_defaults_and_top_level_ref() {
        let m = model(
            &format!(
                "{HEAD}typedef struct {{ long *embedded; [unique] long *u; [ref] long *r; }} S;\n\
                 void F([in] long *top, [in, unique] long *u, [in] LPWSTR name, [in] S *s,\n\
                        [in, size_is(, n)] long **two, [in] long n);\n}}\n"
            ),
            None,
        );
        let DefKind::Struct(s) = def(&m, "S") else {
            panic!("struct")
        };
        let kinds: Vec<_> = s
            .fields
            .iter()
            .map(|f| match f.ty {
                Ty::Ptr(k, _) => k,
                _ => panic!("pointer"),
            })
            .collect();
        // Embedded pointers take the interface's pointer_default(ptr) unless attributed.
        assert_eq!(kinds, [PtrKind::Full, PtrKind::Unique, PtrKind::Ref]);
        // Top-level pointer parameters are [ref] (and so transparent) unless attributed.
        let top = param(&m, "F", "top");
        assert!(top.by_ref && matches!(top.ty, Ty::Prim(Prim::I32)));
        assert!(matches!(
            param(&m, "F", "u").ty,
            Ty::Ptr(PtrKind::Unique, _)
        ));
        let name = param(&m, "F", "name");
        assert!(name.by_ref && matches!(name.ty, Ty::String { wide: true, .. }));
        // size_is(, n): the second pointer level is the sized one; it takes the default.
        let two = param(&m, "F", "two");
        let Ty::Ptr(PtrKind::Full, inner) = &two.ty else {
            panic!("{:?}", two.ty)
        };
        let Ty::Array(a) = &**inner else {
            panic!("array")
        };
        assert!(matches!(a.size, ArraySize::Conformant(CExpr::Sibling(5))));
    }

    #[test]
    fn opnums_version_uuid_and_acf() {
        let m = model(
            &format!(
                "{HEAD}void A(void);\nvoid B([in] handle_t h);\n[idempotent] long C(void);\n}}\n"
            ),
            Some("[implicit_handle(handle_t hT)] interface T { [async] B(); [fault_status] C(); }"),
        );
        let i = &m.interfaces[0];
        assert_eq!(i.version, (1, 2));
        assert_eq!(i.uuid[..4], [0x12, 0x34, 0x56, 0x78]);
        assert_eq!(i.binding, Binding::Implicit("hT".into()));
        let ops: Vec<_> = i
            .ops
            .iter()
            .map(|o| (o.name.as_str(), o.opnum, o.is_async))
            .collect();
        assert_eq!(ops, [("A", 0, false), ("B", 1, true), ("C", 2, false)]);
        assert!(i.ops[2].idempotent);
        assert_eq!(i.ops[2].fault_status.as_deref(), Some(""));
        assert!(matches!(i.ops[1].params[0].ty, Ty::Handle));
    }

    #[test]
    fn conformance_expressions_bind_to_siblings() {
        let m = model(
            &format!(
                "{HEAD}const long K = 2;\n\
                 void F([in] long n, [in, size_is(n * K + 1), length_is(*pn)] byte *b, [in] long *pn,\n\
                        [in, max_is(n), first_is(1), last_is(n)] byte fixed[]);\n}}\n"
            ),
            None,
        );
        let Ty::Array(a) = &param(&m, "F", "b").ty else {
            panic!("array")
        };
        let ArraySize::Conformant(CExpr::Binary("+", l, r)) = &a.size else {
            panic!("{:?}", a.size)
        };
        assert!(
            matches!(&**l, CExpr::Binary("*", x, k) if matches!(**x, CExpr::Sibling(0)) && matches!(**k, CExpr::Const(2)))
        );
        assert!(matches!(**r, CExpr::Const(1)));
        assert!(matches!(a.length, Some(CExpr::Deref(2))));
        let Ty::Array(f) = &param(&m, "F", "fixed").ty else {
            panic!("array")
        };
        // max_is(n) is size n + 1; last_is(n) with first_is(1) is length n - 1 + 1.
        assert!(matches!(
            &f.size,
            ArraySize::Conformant(CExpr::Binary("+", _, _))
        ));
        assert!(matches!(f.first, Some(CExpr::Const(1))));
        assert!(f.length.is_some());
    }

    #[test]
    fn preprocessor_defines_and_conditionals() {
        let m = model(
            "#define N 4\n#define WIDE\n#ifdef WIDE\ntypedef wchar_t CH;\n#else\ntypedef char CH;\n#endif\n\
             #if N > 3 && !defined(NARROW)\nconst long BIG = N * 2;\n#elif 1\nconst long BIG = 0;\n#endif\n",
            None,
        );
        assert!(
            m.types
                .iter()
                .any(|t| t.name == "CH" && matches!(t.kind, DefKind::Alias(Ty::Prim(Prim::U16))))
        );
        let big = m.consts.iter().find(|c| c.name == "BIG").expect("BIG");
        assert!(matches!(big.value, ConstValue::Int(8, Prim::I32)));
        assert_eq!(m.consts.iter().filter(|c| c.name == "BIG").count(), 1);
    }
}
