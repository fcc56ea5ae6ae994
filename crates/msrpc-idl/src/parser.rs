//! Recursive-descent parser for MIDL and ACF files.

use crate::ast::*;
use crate::diag::{Diagnostic, Sources, Span};
use crate::lexer::{Tok, Token, parse_int};

pub(crate) type PResult<T> = Result<T, Box<Diagnostic>>;

/// Words that cannot start a user type name.
const QUALIFIERS: &[&str] = &[
    "const",
    "volatile",
    "__RPC_FAR",
    "__RPC_far",
    "__RPC_NEAR",
    "far",
    "near",
    "__far",
    "__near",
    "__ptr64",
    "__ptr32",
    "__RPC_API",
    "__stdcall",
    "__cdecl",
    "_stdcall",
    "__RPC_USER",
];

#[derive(Debug)]
pub(crate) struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    sources: &'a Sources,
    /// Nesting of expressions and aggregate bodies, bounded so hostile input cannot overflow
    /// the stack.
    depth: usize,
}

/// Deepest nesting of parentheses, unary operators and struct/union bodies accepted.
const MAX_DEPTH: usize = 200;

impl<'a> Parser<'a> {
    pub(crate) fn new(toks: &'a [Token], sources: &'a Sources) -> Self {
        Parser {
            toks,
            pos: 0,
            sources,
            depth: 0,
        }
    }

    // ---- token helpers -------------------------------------------------------------------

    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn span(&self) -> Span {
        self.toks[self.pos.min(self.toks.len() - 1)].span
    }

    fn prev_span(&self) -> Span {
        self.toks[self.pos.saturating_sub(1)].span
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos.min(self.toks.len() - 1)].clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn err<T>(&self, span: Span, msg: impl Into<String>) -> PResult<T> {
        Err(Box::new(self.sources.diagnostic(span, msg)))
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn is_ident(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(q) if q == w)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn eat_ident(&mut self, w: &str) -> bool {
        if self.is_ident(w) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn describe(t: &Tok) -> String {
        match t {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Number(s) => format!("number `{s}`"),
            Tok::Str(_) => "a string".into(),
            Tok::Char(_) => "a character literal".into(),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Eof => "end of file".into(),
        }
    }

    fn expect_punct(&mut self, p: &str) -> PResult<Span> {
        if self.is_punct(p) {
            Ok(self.bump().span)
        } else {
            self.err(
                self.span(),
                format!("expected `{p}`, found {}", Self::describe(self.peek())),
            )
        }
    }

    fn expect_ident(&mut self, what: &str) -> PResult<(String, Span)> {
        match self.peek().clone() {
            Tok::Ident(s) => {
                let sp = self.bump().span;
                Ok((s, sp))
            }
            other => self.err(
                self.span(),
                format!("expected {what}, found {}", Self::describe(&other)),
            ),
        }
    }

    /// Skips a balanced parenthesised group starting at `(`.
    fn skip_parens(&mut self) -> PResult<Span> {
        let open = self.expect_punct("(")?;
        let mut depth = 1;
        loop {
            match self.peek() {
                Tok::Eof => return self.err(open, "unclosed `(`"),
                Tok::Punct("(") => depth += 1,
                Tok::Punct(")") => {
                    depth -= 1;
                    if depth == 0 {
                        let close = self.bump().span;
                        return Ok(open.to(close));
                    }
                }
                _ => {}
            }
            self.bump();
        }
    }

    fn skip_qualifiers(&mut self) {
        while let Tok::Ident(w) = self.peek() {
            if QUALIFIERS.contains(&w.as_str()) {
                self.bump();
            } else {
                break;
            }
        }
    }

    // ---- files ---------------------------------------------------------------------------

    /// Parses a whole IDL file.
    pub(crate) fn idl_file(&mut self) -> PResult<File> {
        let mut file = File::default();
        loop {
            if matches!(self.peek(), Tok::Eof) {
                return Ok(file);
            }
            if self.eat_punct(";") || self.skip_cpp_quote_or_pragma()? {
                continue;
            }
            let attrs = self.attr_lists()?;
            if self.is_ident("interface") {
                let start = self.bump().span;
                let (name, _) = self.expect_ident("an interface name")?;
                if self.eat_punct(";") {
                    continue; // forward declaration
                }
                file.interfaces
                    .push(self.interface_rest(attrs, name, start)?);
                continue;
            }
            for kw in ["library", "coclass", "dispinterface", "module"] {
                if self.is_ident(kw) {
                    return self.err(
                        self.span(),
                        format!("`{kw}` (COM type libraries) is not supported; only DCE RPC interfaces are"),
                    );
                }
            }
            if let Some(item) = self.item(attrs)? {
                file.items.push(item);
            }
        }
    }

    fn interface_rest(
        &mut self,
        attrs: Vec<Attr>,
        name: String,
        start: Span,
    ) -> PResult<Interface> {
        if let Some(a) = find_attr(&attrs, "dual").or(find_attr(&attrs, "oleautomation")) {
            return self.err(a.span, "COM automation interfaces are not supported");
        }
        let base = if self.eat_punct(":") {
            Some(self.expect_ident("a base interface name")?.0)
        } else {
            None
        };
        self.expect_punct("{")?;
        let mut items = Vec::new();
        loop {
            if self.is_punct("}") {
                let end = self.bump().span;
                self.eat_punct(";");
                return Ok(Interface {
                    attrs,
                    name,
                    base,
                    items,
                    span: start.to(end),
                });
            }
            if matches!(self.peek(), Tok::Eof) {
                return self.err(
                    start,
                    format!("interface `{name}` is missing its closing `}}`"),
                );
            }
            if self.eat_punct(";") || self.skip_cpp_quote_or_pragma()? {
                continue;
            }
            let attrs = self.attr_lists()?;
            if let Some(item) = self.item(attrs)? {
                items.push(item);
            }
        }
    }

    fn skip_cpp_quote_or_pragma(&mut self) -> PResult<bool> {
        if self.is_ident("cpp_quote") {
            self.bump();
            self.skip_parens()?;
            self.eat_punct(";");
            return Ok(true);
        }
        if self.is_ident("midl_pragma") {
            self.bump();
            self.expect_ident("a pragma name")?;
            if self.is_punct("(") {
                self.skip_parens()?;
            }
            self.eat_punct(";");
            return Ok(true);
        }
        Ok(false)
    }

    /// One item: import, typedef, const, type declaration or operation.
    fn item(&mut self, attrs: Vec<Attr>) -> PResult<Option<Item>> {
        let start = self.span();
        if self.eat_ident("import") {
            let mut names = Vec::new();
            loop {
                match self.peek().clone() {
                    Tok::Str(s) => names.push((s, self.bump().span)),
                    other => {
                        return self.err(
                            self.span(),
                            format!(
                                "expected a file name string, found {}",
                                Self::describe(&other)
                            ),
                        );
                    }
                }
                if !self.eat_punct(",") {
                    break;
                }
            }
            self.expect_punct(";")?;
            return Ok(Some(Item::Import(names)));
        }
        if self.eat_ident("importlib") {
            return self.err(start, "`importlib` (COM type libraries) is not supported");
        }
        if self.eat_ident("typedef") {
            let mut attrs = attrs;
            attrs.extend(self.attr_lists()?);
            let ty = self.type_spec()?;
            let mut decls = vec![self.declarator(true)?];
            while self.eat_punct(",") {
                decls.push(self.declarator(true)?);
            }
            let end = self.expect_punct(";")?;
            return Ok(Some(Item::Typedef(Typedef {
                attrs,
                ty,
                decls,
                span: start.to(end),
            })));
        }
        if self.eat_ident("const") {
            let ty = self.type_spec()?;
            let mut ptrs = 0;
            loop {
                self.skip_qualifiers();
                if !self.eat_punct("*") {
                    break;
                }
                ptrs += 1;
            }
            let (name, _) = self.expect_ident("a constant name")?;
            self.expect_punct("=")?;
            let value = self.expr()?;
            let end = self.expect_punct(";")?;
            return Ok(Some(Item::Const(Const {
                ty,
                ptrs,
                name,
                value,
                span: start.to(end),
            })));
        }
        // A type declaration or an operation.
        let ty_start = self.pos;
        let ty = self.type_spec()?;
        if self.is_punct(";") {
            self.bump();
            return Ok(Some(Item::TypeDecl(ty, attrs)));
        }
        // `int const NAME = 1;` (C's other order for a constant; MS-DHCPM writes it so).
        let const_after = self.toks[ty_start..self.pos]
            .iter()
            .any(|t| t.tok == Tok::Ident("const".into()));
        let mut ret_ptrs = 0;
        loop {
            self.skip_qualifiers();
            if !self.eat_punct("*") {
                break;
            }
            ret_ptrs += 1;
        }
        self.skip_qualifiers();
        let (name, name_span) = self.expect_ident("an operation name")?;
        if const_after && ret_ptrs == 0 && self.eat_punct("=") {
            let value = self.expr()?;
            let end = self.expect_punct(";")?;
            return Ok(Some(Item::Const(Const {
                ty,
                ptrs: 0,
                name,
                value,
                span: start.to(end),
            })));
        }
        if !self.is_punct("(") {
            return self.err(
                self.span(),
                format!(
                    "expected `(` after `{name}`; declarations of variables are not allowed in an interface"
                ),
            );
        }
        let params = self.params()?;
        let end = self.prev_span();
        self.expect_punct(";")?;
        Ok(Some(Item::Operation(Operation {
            attrs,
            ret: ty,
            ret_ptrs,
            name,
            params,
            span: name_span.to(end),
        })))
    }

    fn params(&mut self) -> PResult<Vec<Field>> {
        self.expect_punct("(")?;
        let mut params = Vec::new();
        if self.eat_punct(")") {
            return Ok(params);
        }
        if self.is_ident("void") && matches!(self.peek_at(1), Tok::Punct(")")) {
            self.bump();
            self.bump();
            return Ok(params);
        }
        loop {
            if self.is_punct("...") {
                return self.err(self.span(), "variable argument lists are not supported");
            }
            let attrs = self.attr_lists()?;
            let ty = self.type_spec()?;
            let mut decl = self.declarator(false)?;
            if decl.name.is_empty() {
                decl.name = format!("arg{}", params.len());
            }
            params.push(Field { attrs, ty, decl });
            if self.eat_punct(")") {
                return Ok(params);
            }
            self.expect_punct(",")?;
        }
    }

    // ---- attributes ----------------------------------------------------------------------

    /// Zero or more `[...]` lists, merged.
    pub(crate) fn attr_lists(&mut self) -> PResult<Vec<Attr>> {
        let mut attrs = Vec::new();
        while self.eat_punct("[") {
            if self.eat_punct("]") {
                continue;
            }
            loop {
                attrs.push(self.attr()?);
                if self.eat_punct("]") {
                    break;
                }
                self.expect_punct(",")?;
                // MIDL accepts a trailing comma: `[uuid(...), version(1.0), ]`.
                if self.eat_punct("]") {
                    break;
                }
            }
        }
        Ok(attrs)
    }

    fn attr(&mut self) -> PResult<Attr> {
        let (name, start) = self.expect_ident("an attribute name")?;
        let mut args = Vec::new();
        if self.is_punct("(") {
            match name.as_str() {
                "uuid" | "version" | "custom" | "guid" | "optimize" => {
                    let group = self.skip_parens()?;
                    let raw = self.sources.slice(Span {
                        file: group.file,
                        lo: group.lo + 1,
                        hi: group.hi - 1,
                    });
                    let raw: String = raw
                        .chars()
                        .filter(|c| !c.is_whitespace() && *c != '"')
                        .collect();
                    args.push(AttrArg::Raw(raw));
                }
                "switch_type" => {
                    self.bump();
                    args.push(AttrArg::Type(self.type_spec_with_ptrs()?));
                    self.expect_punct(")")?;
                }
                "implicit_handle" => {
                    self.bump();
                    let ty = self.type_spec()?;
                    let (n, _) = self.expect_ident("a handle name")?;
                    args.push(AttrArg::TypedName(ty, n));
                    self.expect_punct(")")?;
                }
                _ => {
                    self.bump();
                    loop {
                        if self.is_punct(",") || self.is_punct(")") {
                            args.push(AttrArg::Empty);
                        } else {
                            args.push(AttrArg::Expr(self.expr()?));
                        }
                        if self.eat_punct(")") {
                            break;
                        }
                        self.expect_punct(",")?;
                    }
                }
            }
        }
        Ok(Attr {
            name,
            args,
            span: start.to(self.prev_span()),
        })
    }

    // ---- types ---------------------------------------------------------------------------

    fn type_spec_with_ptrs(&mut self) -> PResult<TypeSpec> {
        let t = self.type_spec()?;
        if self.is_punct("*") {
            return self.err(self.span(), "a pointer type is not allowed here");
        }
        Ok(t)
    }

    pub(crate) fn type_spec(&mut self) -> PResult<TypeSpec> {
        self.enter()?;
        let t = self.type_spec_inner();
        self.depth -= 1;
        t
    }

    fn type_spec_inner(&mut self) -> PResult<TypeSpec> {
        self.skip_qualifiers();
        let start = self.span();
        let kind = self.type_spec_kind()?;
        self.skip_qualifiers();
        Ok(TypeSpec {
            kind,
            span: start.to(self.prev_span()),
        })
    }

    fn type_spec_kind(&mut self) -> PResult<TypeSpecKind> {
        let start = self.span();
        let word = match self.peek().clone() {
            Tok::Ident(w) => w,
            other => {
                return self.err(
                    start,
                    format!("expected a type, found {}", Self::describe(&other)),
                );
            }
        };
        use BaseType::*;
        match word.as_str() {
            "struct" => {
                self.bump();
                let tag = self.opt_tag();
                let fields = if self.is_punct("{") {
                    Some(self.struct_body()?)
                } else {
                    None
                };
                if tag.is_none() && fields.is_none() {
                    return self.err(start, "`struct` needs a tag or a body");
                }
                return Ok(TypeSpecKind::Struct(tag, fields));
            }
            "union" => {
                self.bump();
                return Ok(TypeSpecKind::Union(Box::new(self.union_rest(start)?)));
            }
            "enum" => {
                self.bump();
                let tag = self.opt_tag();
                let body = if self.is_punct("{") {
                    Some(self.enum_body()?)
                } else {
                    None
                };
                return Ok(TypeSpecKind::Enum(tag, body));
            }
            "pipe" => {
                self.bump();
                let elem = self.type_spec()?;
                if self.is_punct("*") {
                    return self.err(self.span(), "a pipe's element type cannot be a pointer");
                }
                return Ok(TypeSpecKind::Pipe(Box::new(elem)));
            }
            _ => {}
        }
        // Base types with sign and size modifiers.
        let mut sign: Option<bool> = None; // Some(true) = unsigned
        let mut base: Option<BaseType> = None;
        let mut longs = 0;
        while let Tok::Ident(w) = self.peek().clone() {
            match w.as_str() {
                "unsigned" => sign = Some(true),
                "signed" => sign = Some(false),
                "long" if base.is_none() || base == Some(Long) => {
                    longs += 1;
                    base = Some(Long);
                }
                "int" if matches!(base, None | Some(Short) | Some(Long) | Some(Small)) => {
                    if base.is_none() {
                        base = Some(Long);
                    }
                }
                _ if base.is_some() || QUALIFIERS.contains(&w.as_str()) => {
                    if QUALIFIERS.contains(&w.as_str()) {
                        self.bump();
                        continue;
                    }
                    break;
                }
                "void" => base = Some(Void),
                "boolean" => base = Some(Boolean),
                "byte" => base = Some(Byte),
                "char" => base = Some(Char),
                "small" | "__int8" => base = Some(Small),
                "short" | "__int16" => base = Some(Short),
                "__int32" => base = Some(Long),
                "hyper" | "__int64" => base = Some(Hyper),
                "__int3264" => base = Some(Int3264),
                "float" => base = Some(Float),
                "double" => base = Some(Double),
                "wchar_t" => base = Some(WChar),
                "handle_t" => base = Some(HandleT),
                "error_status_t" => base = Some(ErrorStatusT),
                _ => break,
            }
            self.bump();
        }
        if longs > 1 {
            base = Some(Hyper);
        }
        let unsigned = sign == Some(true);
        if let Some(b) = base {
            let b = match (b, unsigned) {
                (Char, true) => UChar,
                (Small, true) => USmall,
                (Short, true) => UShort,
                (Long, true) => ULong,
                (Hyper, true) => UHyper,
                (Int3264, true) => UInt3264,
                (b, _) => b,
            };
            return Ok(TypeSpecKind::Base(b));
        }
        if sign.is_some() {
            return Ok(TypeSpecKind::Base(if unsigned { ULong } else { Long }));
        }
        self.bump();
        Ok(TypeSpecKind::Named(word))
    }

    fn opt_tag(&mut self) -> Option<String> {
        if let Tok::Ident(w) = self.peek().clone()
            && !QUALIFIERS.contains(&w.as_str())
            && w != "switch"
        {
            self.bump();
            return Some(w);
        }
        None
    }

    fn struct_body(&mut self) -> PResult<Vec<Field>> {
        let open = self.expect_punct("{")?;
        let mut fields = Vec::new();
        loop {
            if self.eat_punct("}") {
                return Ok(fields);
            }
            if matches!(self.peek(), Tok::Eof) {
                return self.err(open, "unclosed `{`");
            }
            if self.skip_cpp_quote_or_pragma()? {
                continue;
            }
            let attrs = self.attr_lists()?;
            let ty = self.type_spec()?;
            if let Some(decl) = self.anonymous_member(&ty, &fields) {
                fields.push(Field { attrs, ty, decl });
                self.expect_punct(";")?;
                continue;
            }
            loop {
                let decl = self.declarator(true)?;
                fields.push(Field {
                    attrs: attrs.clone(),
                    ty: ty.clone(),
                    decl,
                });
                if !self.eat_punct(",") {
                    break;
                }
            }
            self.expect_punct(";")?;
        }
    }

    /// A member that is an inline structure or union definition with no name (`union { ... };`,
    /// which MIDL accepts as C does) gets one: `u` for a union, `s` for a structure, numbered
    /// from 2 when a sibling already has the name.
    fn anonymous_member(&self, ty: &TypeSpec, siblings: &[Field]) -> Option<Declarator> {
        if !self.is_punct(";") {
            return None;
        }
        let base = match &ty.kind {
            TypeSpecKind::Union(u) if u.arms.is_some() => "u",
            TypeSpecKind::Struct(_, Some(_)) => "s",
            _ => return None,
        };
        let taken = |n: &str| siblings.iter().any(|f| f.decl.name == n);
        let mut name = base.to_string();
        let mut k = 2;
        while taken(&name) {
            name = format!("{base}{k}");
            k += 1;
        }
        Some(Declarator {
            ptrs: 0,
            name,
            dims: Vec::new(),
            span: ty.span,
        })
    }

    fn union_rest(&mut self, start: Span) -> PResult<UnionSpec> {
        let tag = self.opt_tag();
        if self.eat_ident("switch") {
            // Encapsulated union: `union [tag] switch (type name) [arm_name] { case ...: ... }`.
            self.expect_punct("(")?;
            let sty = self.type_spec_with_ptrs()?;
            let (sname, _) = self.expect_ident("a discriminant name")?;
            self.expect_punct(")")?;
            let uname = match self.peek().clone() {
                Tok::Ident(n) => {
                    self.bump();
                    Some(n)
                }
                _ => None,
            };
            let open = self.expect_punct("{")?;
            let mut arms = Vec::new();
            loop {
                if self.eat_punct("}") {
                    break;
                }
                if matches!(self.peek(), Tok::Eof) {
                    return self.err(open, "unclosed `{`");
                }
                let arm_start = self.span();
                let mut cases = Vec::new();
                loop {
                    if self.eat_ident("case") {
                        cases.push(Some(self.expr()?));
                        self.expect_punct(":")?;
                    } else if self.eat_ident("default") {
                        cases.push(None);
                        self.expect_punct(":")?;
                    } else {
                        break;
                    }
                }
                if cases.is_empty() {
                    return self.err(self.span(), "expected `case` or `default`");
                }
                let field = if self.eat_punct(";") {
                    None
                } else {
                    let attrs = self.attr_lists()?;
                    let ty = self.type_spec()?;
                    let decl = self.declarator(true)?;
                    self.expect_punct(";")?;
                    Some(Field { attrs, ty, decl })
                };
                arms.push(UnionArm {
                    cases,
                    field,
                    span: arm_start.to(self.prev_span()),
                });
            }
            return Ok(UnionSpec {
                tag,
                switch: Some((sty, sname, uname)),
                arms: Some(arms),
            });
        }
        if !self.is_punct("{") {
            if tag.is_none() {
                return self.err(start, "`union` needs a tag or a body");
            }
            return Ok(UnionSpec {
                tag,
                switch: None,
                arms: None,
            });
        }
        let open = self.expect_punct("{")?;
        let mut arms = Vec::new();
        loop {
            if self.eat_punct("}") {
                break;
            }
            if matches!(self.peek(), Tok::Eof) {
                return self.err(open, "unclosed `{`");
            }
            let arm_start = self.span();
            let all = self.attr_lists()?;
            let mut cases = Vec::new();
            let mut attrs = Vec::new();
            for a in all {
                match a.name.as_str() {
                    "case" => {
                        for arg in &a.args {
                            match arg {
                                AttrArg::Expr(e) => cases.push(Some(e.clone())),
                                _ => return self.err(a.span, "`case` needs values"),
                            }
                        }
                    }
                    "default" => cases.push(None),
                    _ => attrs.push(a),
                }
            }
            // An arm without `[case]` or `[default]` is a C union's member: it parses (MS-DTYP's
            // EVENT_HEADER has one) and the checker refuses the union if anything uses it.
            let field = if self.eat_punct(";") {
                None
            } else {
                let ty = self.type_spec()?;
                let siblings: Vec<Field> = arms
                    .iter()
                    .filter_map(|a: &UnionArm| a.field.clone())
                    .collect();
                let decl = match self.anonymous_member(&ty, &siblings) {
                    Some(d) => d,
                    None => self.declarator(true)?,
                };
                self.expect_punct(";")?;
                Some(Field { attrs, ty, decl })
            };
            arms.push(UnionArm {
                cases,
                field,
                span: arm_start.to(self.prev_span()),
            });
        }
        Ok(UnionSpec {
            tag,
            switch: None,
            arms: Some(arms),
        })
    }

    fn enum_body(&mut self) -> PResult<Vec<Enumerator>> {
        self.expect_punct("{")?;
        let mut out = Vec::new();
        loop {
            if self.eat_punct("}") {
                return Ok(out);
            }
            let (name, span) = self.expect_ident("an enumerator")?;
            let value = if self.eat_punct("=") {
                Some(self.expr()?)
            } else {
                None
            };
            out.push(Enumerator { name, value, span });
            if !self.eat_punct(",") {
                self.expect_punct("}")?;
                return Ok(out);
            }
        }
    }

    /// `* * name [dims]`; the name may be omitted for parameters.
    fn declarator(&mut self, name_required: bool) -> PResult<Declarator> {
        let start = self.span();
        let mut ptrs = 0;
        loop {
            self.skip_qualifiers();
            if self.eat_punct("*") {
                ptrs += 1;
            } else if self.is_punct("&") {
                return self.err(self.span(), "C++ references are not supported");
            } else {
                break;
            }
        }
        if self.is_punct("(") {
            return self.err(self.span(), "function pointers are not supported");
        }
        let name = match self.peek().clone() {
            Tok::Ident(n) => {
                self.bump();
                n
            }
            other if name_required => {
                return self.err(
                    self.span(),
                    format!("expected a name, found {}", Self::describe(&other)),
                );
            }
            _ => String::new(),
        };
        let mut dims = Vec::new();
        while self.eat_punct("[") {
            if self.eat_punct("]") {
                dims.push(None);
                continue;
            }
            if self.is_punct("*") && matches!(self.peek_at(1), Tok::Punct("]")) {
                self.bump();
                self.bump();
                dims.push(None);
                continue;
            }
            dims.push(Some(self.expr()?));
            self.expect_punct("]")?;
        }
        if self.eat_punct(":") {
            return self.err(self.prev_span(), "bit fields are not supported");
        }
        Ok(Declarator {
            ptrs,
            name,
            dims,
            span: start.to(self.prev_span()),
        })
    }

    // ---- expressions ---------------------------------------------------------------------

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(
                self.span(),
                format!("nesting deeper than {MAX_DEPTH} levels"),
            );
        }
        Ok(())
    }

    pub(crate) fn expr(&mut self) -> PResult<Expr> {
        self.enter()?;
        let e = self.expr_inner();
        self.depth -= 1;
        e
    }

    fn expr_inner(&mut self) -> PResult<Expr> {
        let c = self.binary(0)?;
        if self.eat_punct("?") {
            let a = self.expr()?;
            self.expect_punct(":")?;
            let b = self.expr()?;
            let span = c.span.to(b.span);
            return Ok(Expr {
                kind: ExprKind::Ternary(Box::new(c), Box::new(a), Box::new(b)),
                span,
            });
        }
        Ok(c)
    }

    fn binary(&mut self, min_prec: u8) -> PResult<Expr> {
        let mut lhs = self.unary()?;
        while let Tok::Punct(p) = self.peek() {
            let (op, prec) = match *p {
                "||" => ("||", 1),
                "&&" => ("&&", 2),
                "|" => ("|", 3),
                "^" => ("^", 4),
                "&" => ("&", 5),
                "==" => ("==", 6),
                "!=" => ("!=", 6),
                "<" => ("<", 7),
                ">" => (">", 7),
                "<=" => ("<=", 7),
                ">=" => (">=", 7),
                "<<" => ("<<", 8),
                ">>" => (">>", 8),
                "+" => ("+", 9),
                "-" => ("-", 9),
                "*" => ("*", 10),
                "/" => ("/", 10),
                "%" => ("%", 10),
                _ => break,
            };
            if prec < min_prec {
                break;
            }
            self.bump();
            let rhs = self.binary(prec + 1)?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
        Ok(lhs)
    }

    fn starts_type(&self, n: usize) -> bool {
        matches!(self.peek_at(n), Tok::Ident(w) if matches!(w.as_str(),
            "unsigned" | "signed" | "long" | "short" | "small" | "char" | "int" | "hyper" | "byte"
            | "boolean" | "wchar_t" | "float" | "double" | "struct" | "union" | "enum"
            | "__int8" | "__int16" | "__int32" | "__int64" | "__int3264"
            | "DWORD" | "WORD" | "BYTE" | "ULONG" | "LONG" | "USHORT" | "UINT" | "ULONG_PTR"))
    }

    fn unary(&mut self) -> PResult<Expr> {
        self.enter()?;
        let e = self.unary_inner();
        self.depth -= 1;
        e
    }

    fn unary_inner(&mut self) -> PResult<Expr> {
        let start = self.span();
        if let Tok::Punct(p) = self.peek() {
            let op = match *p {
                "-" => Some("-"),
                "+" => Some("+"),
                "~" => Some("~"),
                "!" => Some("!"),
                "*" => Some("*"),
                "&" => Some("&"),
                _ => None,
            };
            if let Some(op) = op {
                self.bump();
                let e = self.unary()?;
                let span = start.to(e.span);
                return Ok(Expr {
                    kind: ExprKind::Unary(op, Box::new(e)),
                    span,
                });
            }
            if *p == "(" && self.starts_type(1) {
                self.bump();
                let ty = self.type_spec()?;
                while self.eat_punct("*") {}
                self.expect_punct(")")?;
                let e = self.unary()?;
                let span = start.to(e.span);
                return Ok(Expr {
                    kind: ExprKind::Cast(ty, Box::new(e)),
                    span,
                });
            }
        }
        let mut e = self.primary()?;
        loop {
            if self.eat_punct(".") || self.eat_punct("->") {
                let (m, sp) = self.expect_ident("a member name")?;
                let span = e.span.to(sp);
                e = Expr {
                    kind: ExprKind::Member(Box::new(e), m),
                    span,
                };
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> PResult<Expr> {
        let t = self.bump();
        let kind = match t.tok {
            Tok::Number(s) => match parse_int(&s) {
                Some(v) => ExprKind::Int(v),
                None => return self.err(t.span, format!("`{s}` is not an integer")),
            },
            Tok::Char(c) => ExprKind::Char(c),
            Tok::Str(s) => ExprKind::Str(s),
            Tok::Ident(w) if w == "sizeof" => {
                self.expect_punct("(")?;
                let ty = self.type_spec()?;
                self.expect_punct(")")?;
                ExprKind::Sizeof(ty)
            }
            Tok::Ident(w) if w == "TRUE" => ExprKind::Int(1),
            Tok::Ident(w) if w == "FALSE" => ExprKind::Int(0),
            Tok::Ident(w) => ExprKind::Ident(w),
            Tok::Punct("(") => {
                let e = self.expr()?;
                let end = self.expect_punct(")")?;
                return Ok(Expr {
                    kind: e.kind,
                    span: t.span.to(end),
                });
            }
            other => {
                return self.err(
                    t.span,
                    format!("expected an expression, found {}", Self::describe(&other)),
                );
            }
        };
        Ok(Expr { kind, span: t.span })
    }

    // ---- ACF -----------------------------------------------------------------------------

    /// Parses an ACF file.
    pub(crate) fn acf_file(&mut self) -> PResult<Acf> {
        let mut acf = Acf::default();
        loop {
            if matches!(self.peek(), Tok::Eof) {
                return Ok(acf);
            }
            if self.eat_punct(";") {
                continue;
            }
            if self.eat_ident("include") || self.eat_ident("import") {
                while !self.eat_punct(";") {
                    if matches!(self.peek(), Tok::Eof) {
                        return self.err(self.span(), "expected `;`");
                    }
                    self.bump();
                }
                continue;
            }
            let attrs = self.attr_lists()?;
            let start = self.span();
            if !self.eat_ident("interface") {
                return self.err(
                    self.span(),
                    format!(
                        "expected `interface`, found {}",
                        Self::describe(self.peek())
                    ),
                );
            }
            let (name, _) = self.expect_ident("an interface name")?;
            self.expect_punct("{")?;
            let mut ops = Vec::new();
            loop {
                if self.eat_punct("}") {
                    break;
                }
                if matches!(self.peek(), Tok::Eof) {
                    return self.err(start, "unclosed interface");
                }
                if self.eat_punct(";") {
                    continue;
                }
                if self.eat_ident("include") {
                    while !self.eat_punct(";") {
                        self.bump();
                    }
                    continue;
                }
                if self.eat_ident("typedef") {
                    let attrs = self.attr_lists()?;
                    let (tname, tspan) = self.expect_ident("a type name")?;
                    self.expect_punct(";")?;
                    for a in &attrs {
                        if matches!(
                            a.name.as_str(),
                            "represent_as" | "transmit_as" | "wire_marshal" | "user_marshal"
                        ) {
                            return self.err(
                                a.span,
                                format!("ACF `[{}]` on `{tname}` is not supported", a.name),
                            );
                        }
                    }
                    let _ = tspan;
                    continue;
                }
                let attrs = self.attr_lists()?;
                let (oname, ospan) = self.expect_ident("an operation name")?;
                self.expect_punct("(")?;
                let mut params = Vec::new();
                if !self.eat_punct(")") {
                    loop {
                        let pattrs = self.attr_lists()?;
                        let (pname, _) = self.expect_ident("a parameter name")?;
                        params.push((pattrs, pname));
                        if self.eat_punct(")") {
                            break;
                        }
                        self.expect_punct(",")?;
                    }
                }
                self.expect_punct(";")?;
                ops.push(AcfOp {
                    attrs,
                    name: oname,
                    params,
                    span: ospan,
                });
            }
            acf.interfaces.push(AcfInterface {
                attrs,
                name,
                ops,
                span: start,
            });
        }
    }
}
