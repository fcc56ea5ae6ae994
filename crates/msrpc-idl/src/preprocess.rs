//! A small C preprocessor over the lexer.
//!
//! It understands what MIDL files in the Windows protocol specifications use:
//! `#include "file"` (inlined when found; `.h` headers that cannot be found are skipped),
//! object-like `#define NAME tokens` and function-like `#define NAME(a, b) tokens`, `#undef`,
//! `#ifdef`, `#ifndef`, `#if`/`#elif` over integer constant expressions with `defined(NAME)`,
//! `#else`, `#endif`, and `#pragma` (ignored).
//!
//! Macro expansion follows C (and so MIDL, which runs the C preprocessor first): a function-like
//! macro's name is expanded only when a `(` follows (on the same line or a later one); its
//! arguments are split at top-level commas (commas inside nested parentheses belong to the
//! argument), each is fully macro-expanded before it replaces its parameter, and the result is
//! rescanned with the rest of the text. A macro is not expanded again inside its own expansion
//! (each token carries the set of macros it came out of, Prosser's hide sets, as C99 6.10.3.4
//! describes). The `#` (stringize) and `##` (token paste) operators and variadic macros are not
//! supported: none of the specifications' IDL uses them, and each is a clear error.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::diag::{Diagnostic, Sources, Span};
use crate::lexer::{Tok, Token, lex_one, lex_quoted};

#[derive(Clone, Debug)]
enum Macro {
    Object(Vec<Token>),
    Function {
        params: Vec<String>,
        body: Vec<Token>,
    },
}

/// How deeply macros may expand inside one another (the length of a token's chain of macros),
/// and how deeply function-like macro calls may nest inside one another's arguments. Default 16.
const MAX_MACRO_DEPTH: usize = 16;
/// The most tokens a preprocessed file may hold (a guard against exponential macro expansion).
/// Default 2^20.
const MAX_EXPANDED_TOKENS: usize = 1 << 20;
/// The most tokens macro replacement may produce while one file (with its includes) is
/// preprocessed, counting the intermediate results that rescanning consumes, so a hostile set of
/// macros cannot make the work grow without bound before the output does. Default 2^21.
const MAX_REPLACEMENT_TOKENS: usize = 1 << 21;
/// How many directives may come between a function-like macro's `(` and its `)` (each makes
/// the arguments so far be scanned again). Default 64.
const MAX_DIRECTIVES_IN_ARGUMENTS: usize = 64;
/// The most parameters a function-like macro may have. Default 64.
const MAX_MACRO_PARAMS: usize = 64;

/// A hide set: the names of the macros a token came out of (none of them is expanded again
/// from it). Shared by the tokens of one replacement; `None` is the empty set.
type Hide = Option<Rc<[Rc<str>]>>;

/// A token on its way through macro expansion, with its hide set.
#[derive(Clone, Debug)]
struct PTok {
    tok: Token,
    hide: Hide,
}

impl PTok {
    fn raw(tok: Token) -> Self {
        PTok { tok, hide: None }
    }

    fn hide(&self) -> &[Rc<str>] {
        self.hide.as_deref().unwrap_or_default()
    }

    fn hides(&self, name: &str) -> bool {
        self.hide().iter().any(|h| &**h == name)
    }
}

fn same_hide(a: &Hide, b: &Hide) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Rc::ptr_eq(a, b),
        _ => false,
    }
}

/// Runs the lexer and preprocessor over files, loading `#include`d files through `Sources`.

#[derive(Debug)]
pub(crate) struct Preprocessor<'a> {
    pub(crate) sources: &'a mut Sources,
    include_dirs: &'a [PathBuf],
    defines: HashMap<String, Macro>,
    depth: usize,
    /// Tokens macro replacement has produced so far (against `MAX_REPLACEMENT_TOKENS`).
    replaced: usize,
}

struct Cond {
    /// This branch is being emitted.
    active: bool,
    /// Some branch of this `#if` chain has been taken.
    taken: bool,
    /// The enclosing region was active.
    parent: bool,
}

impl<'a> Preprocessor<'a> {
    pub(crate) fn new(sources: &'a mut Sources, include_dirs: &'a [PathBuf]) -> Self {
        Preprocessor {
            sources,
            include_dirs,
            defines: HashMap::new(),
            depth: 0,
            replaced: 0,
        }
    }

    /// Tokenizes one loaded file (with its includes inlined), ending with `Tok::Eof`.
    pub(crate) fn tokenize(&mut self, file: u32) -> Result<Vec<Token>, Diagnostic> {
        let mut out = Vec::new();
        self.lex_into(file, &mut out)?;
        let end = self.sources.file(file).text.len();
        out.push(Token {
            tok: Tok::Eof,
            span: Span::new(file, end, end),
        });
        Ok(out)
    }

    fn lex_into(&mut self, file: u32, out: &mut Vec<Token>) -> Result<(), Diagnostic> {
        self.depth += 1;
        if self.depth > 32 {
            return Err(self.sources.diagnostic(
                Span::new(file, 0, 0),
                "#include nesting is deeper than 32 levels",
            ));
        }
        let text = self.sources.file(file).text.clone();
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut at_line_start = true;
        let mut conds: Vec<Cond> = Vec::new();
        // Tokens lexed but not yet macro-expanded: a function-like macro's arguments may run over
        // several lines, so expansion happens at each directive and at the end of the file, and
        // an invocation still open at a directive waits for the rest of its arguments.
        let mut pending: Vec<PTok> = Vec::new();
        let mut open_across = 0usize;
        let active = |conds: &Vec<Cond>| conds.last().is_none_or(|c| c.active);
        while i < bytes.len() {
            let c = bytes[i];
            if c == b'\n' {
                at_line_start = true;
                i += 1;
                continue;
            }
            if c.is_ascii_whitespace() {
                i += 1;
                continue;
            }
            // U+00A0 NO-BREAK SPACE (UTF-8 C2 A0) is whitespace: IDL copied out of the Windows
            // protocol specifications' documents carries it between tokens.
            if c == 0xC2 && bytes.get(i + 1) == Some(&0xA0) {
                i += 2;
                continue;
            }
            if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
                let start = i;
                i += 2;
                loop {
                    if i + 1 >= bytes.len() {
                        return Err(self.sources.diagnostic(
                            Span::new(file, start, start + 2),
                            "unterminated comment",
                        ));
                    }
                    if bytes[i] == b'*' && bytes[i + 1] == b'/' {
                        i += 2;
                        break;
                    }
                    i += 1;
                }
                continue;
            }
            if c == b'#' && at_line_start {
                // A directive runs to the end of the line, with backslash continuations.
                let start = i;
                let mut end = i;
                while end < bytes.len() && bytes[end] != b'\n' {
                    if bytes[end] == b'\\' && bytes.get(end + 1) == Some(&b'\n') {
                        end += 2;
                        continue;
                    }
                    end += 1;
                }
                self.flush(&mut pending, out, false)?;
                // Each directive inside an open invocation rescans its arguments so far: bound
                // how many there may be, so that rescanning stays linear in the file.
                open_across = if pending.is_empty() {
                    0
                } else {
                    open_across + 1
                };
                if open_across > MAX_DIRECTIVES_IN_ARGUMENTS {
                    return Err(self.sources.diagnostic(
                        Span::new(file, start, end),
                        format!(
                            "the arguments of a function-like macro run across more than {MAX_DIRECTIVES_IN_ARGUMENTS} directives"
                        ),
                    ));
                }
                if !pending.is_empty() && is_include(&text[start..end]) {
                    return Err(self.sources.diagnostic(
                        Span::new(file, start, end),
                        "#include inside the arguments of a function-like macro",
                    ));
                }
                self.directive(file, &text, start, end, &mut conds, out)?;
                i = end;
                continue;
            }
            at_line_start = false;
            if !active(&conds) {
                // Skip one token's worth of text; strings matter so `"#"` is not a directive.
                if c == b'"' || c == b'\'' {
                    let (_, next) = lex_quoted(&text, file, i, self.sources)?;
                    i = next;
                } else {
                    i += 1;
                }
                continue;
            }
            let (tok, next) = lex_one(&text, file, i, self.sources)?;
            i = next;
            pending.push(PTok::raw(tok));
        }
        self.flush(&mut pending, out, true)?;
        if let Some(_c) = conds.last() {
            return Err(self.sources.diagnostic(
                Span::new(file, text.len(), text.len()),
                "missing #endif at end of file",
            ));
        }
        self.depth -= 1;
        Ok(())
    }

    /// Macro-expands `pending` into `out`. Unless `last`, an invocation of a function-like macro
    /// whose arguments are not closed yet (or a name that a `(` may still follow) stays in
    /// `pending`.
    fn flush(
        &mut self,
        pending: &mut Vec<PTok>,
        out: &mut Vec<Token>,
        last: bool,
    ) -> Result<(), Diagnostic> {
        if pending.is_empty() {
            return Ok(());
        }
        let input: VecDeque<PTok> = std::mem::take(pending).into();
        let mut replaced = self.replaced;
        let (done, rest) = self.expand(input, last, 0, &mut replaced)?;
        self.replaced = replaced;
        if out.len() + done.len() > MAX_EXPANDED_TOKENS {
            let span = done.last().map_or(Span::new(0, 0, 0), |t| t.tok.span);
            return Err(self.sources.diagnostic(
                span,
                format!("macro expansion exceeds {MAX_EXPANDED_TOKENS} tokens"),
            ));
        }
        out.extend(done.into_iter().map(|t| t.tok));
        *pending = rest;
        Ok(())
    }

    /// Expands the macros in `input` (C99 6.10.3: replacement, argument pre-expansion,
    /// rescanning, hide sets). Returns the expanded tokens and, unless `last`, the tail that
    /// starts an unfinished function-like macro invocation. `depth` counts the nesting of
    /// argument pre-expansion; `replaced` the tokens replacement has produced.
    fn expand(
        &self,
        mut input: VecDeque<PTok>,
        last: bool,
        depth: usize,
        replaced: &mut usize,
    ) -> Result<(Vec<PTok>, Vec<PTok>), Diagnostic> {
        let mut out = Vec::new();
        while let Some(t) = input.pop_front() {
            let Tok::Ident(name) = &t.tok.tok else {
                out.push(t);
                continue;
            };
            if t.hides(name) {
                out.push(t);
                continue;
            }
            let Some(m) = self.defines.get(name) else {
                out.push(t);
                continue;
            };
            if t.hide().len() >= MAX_MACRO_DEPTH {
                return Err(self.sources.diagnostic(
                    t.tok.span,
                    format!("macro `{name}` nests deeper than {MAX_MACRO_DEPTH} expansions"),
                ));
            }
            let replacement = match m {
                Macro::Object(body) => {
                    let mut hide = t.hide().to_vec();
                    hide.push(Rc::from(name.as_str()));
                    let hide: Hide = Some(hide.into());
                    body.iter()
                        .map(|b| PTok {
                            tok: Token {
                                tok: b.tok.clone(),
                                span: t.tok.span,
                            },
                            hide: hide.clone(),
                        })
                        .collect::<Vec<_>>()
                }
                Macro::Function { params, body } => {
                    match input.front().map(|n| &n.tok.tok) {
                        Some(Tok::Punct("(")) => {}
                        // The name alone, with no `(`: not an invocation (C99 6.10.3p10). At a
                        // directive, the `(` may still come on a later line.
                        None if !last => return Ok((out, vec![t])),
                        _ => {
                            out.push(t);
                            continue;
                        }
                    }
                    let Some((args, close)) = split_args(&input) else {
                        if last {
                            return Err(self.sources.diagnostic(
                                t.tok.span,
                                format!("the arguments of macro `{name}` are not closed with `)`"),
                            ));
                        }
                        let mut rest = vec![t];
                        rest.extend(input);
                        return Ok((out, rest));
                    };
                    let args = if params.is_empty() && args.len() == 1 && args[0].is_empty() {
                        Vec::new()
                    } else {
                        args
                    };
                    if args.len() != params.len() {
                        return Err(self.sources.diagnostic(
                            t.tok.span,
                            format!(
                                "macro `{name}` takes {} argument{}, given {}",
                                params.len(),
                                if params.len() == 1 { "" } else { "s" },
                                args.len()
                            ),
                        ));
                    }
                    // The hide set of the expansion: the macros both the name and the closing
                    // parenthesis came out of, and this one.
                    let rparen = &input[close];
                    let mut hide: Vec<Rc<str>> = t
                        .hide()
                        .iter()
                        .filter(|h| rparen.hides(h))
                        .cloned()
                        .collect();
                    hide.push(Rc::from(name.as_str()));
                    let hide_set: Hide = Some(hide.clone().into());
                    // An argument's tokens mostly share hide sets: the union with `hide` is
                    // made once per run of tokens with the same one.
                    let mut union: Option<(Hide, Hide)> = None;
                    let mut expanded: Vec<Option<Vec<PTok>>> = vec![None; params.len()];
                    let mut rep = Vec::new();
                    for b in body {
                        let param = match &b.tok {
                            Tok::Ident(id) => params.iter().position(|p| p == id),
                            _ => None,
                        };
                        match param {
                            Some(k) => {
                                if expanded[k].is_none() {
                                    if depth + 1 >= MAX_MACRO_DEPTH {
                                        return Err(self.sources.diagnostic(
                                            t.tok.span,
                                            format!(
                                                "macro calls nest deeper than {MAX_MACRO_DEPTH} levels inside arguments"
                                            ),
                                        ));
                                    }
                                    let arg: VecDeque<PTok> =
                                        args[k].iter().map(|&i| input[i].clone()).collect();
                                    let (e, _) = self.expand(arg, true, depth + 1, replaced)?;
                                    expanded[k] = Some(e);
                                }
                                for a in expanded[k].as_deref().unwrap_or_default() {
                                    let merged = match &union {
                                        Some((from, to)) if same_hide(from, &a.hide) => to.clone(),
                                        _ => {
                                            let mut v = a.hide().to_vec();
                                            for h in &hide {
                                                if !a.hides(h) {
                                                    v.push(h.clone());
                                                }
                                            }
                                            let to: Hide = Some(v.into());
                                            union = Some((a.hide.clone(), to.clone()));
                                            to
                                        }
                                    };
                                    rep.push(PTok {
                                        tok: a.tok.clone(),
                                        hide: merged,
                                    });
                                }
                            }
                            None => rep.push(PTok {
                                tok: Token {
                                    tok: b.tok.clone(),
                                    span: t.tok.span,
                                },
                                hide: hide_set.clone(),
                            }),
                        }
                    }
                    input.drain(..=close);
                    rep
                }
            };
            *replaced += replacement.len();
            if *replaced > MAX_REPLACEMENT_TOKENS {
                return Err(self.sources.diagnostic(
                    t.tok.span,
                    format!("macro replacement produces more than {MAX_REPLACEMENT_TOKENS} tokens"),
                ));
            }
            for r in replacement.into_iter().rev() {
                input.push_front(r);
            }
        }
        Ok((out, Vec::new()))
    }

    fn directive(
        &mut self,
        file: u32,
        text: &str,
        start: usize,
        end: usize,
        conds: &mut Vec<Cond>,
        out: &mut Vec<Token>,
    ) -> Result<(), Diagnostic> {
        let toks = self.directive_tokens(file, text, start, end)?;
        let dir_span = Span::new(file, start, end);
        let Some(first) = toks.first() else {
            return Ok(()); // null directive
        };
        let name = match &first.tok {
            Tok::Ident(n) => n.clone(),
            _ => {
                return Err(self
                    .sources
                    .diagnostic(first.span, "expected a directive name"));
            }
        };
        let args = &toks[1..];
        if self.conditional(&name, args, dir_span, conds)? {
            return Ok(());
        }
        if !conds.last().is_none_or(|c| c.active) {
            return Ok(());
        }
        match name.as_str() {
            "define" => self.define(args, dir_span)?,
            "undef" => {
                if let Some(Tok::Ident(n)) = args.first().map(|t| &t.tok) {
                    self.defines.remove(n);
                }
            }
            "include" => self.include(file, args, dir_span, out)?,
            "error" => return Err(self.sources.diagnostic(dir_span, "#error directive")),
            "pragma" | "line" | "warning" => {}
            other => {
                return Err(self
                    .sources
                    .diagnostic(first.span, format!("unknown directive `#{other}`")));
            }
        }
        Ok(())
    }

    /// The tokens of the directive line `text[start..end]` (after the `#`), comments and line
    /// continuations dropped; `<file>` after the directive name is one string token.
    fn directive_tokens(
        &mut self,
        file: u32,
        text: &str,
        start: usize,
        end: usize,
    ) -> Result<Vec<Token>, Diagnostic> {
        let mut toks = Vec::new();
        let mut i = start + 1;
        let bytes = text.as_bytes();
        while i < end {
            let c = bytes[i];
            if c == b'\\' || c.is_ascii_whitespace() {
                i += 1;
                continue;
            }
            if c == 0xC2 && bytes.get(i + 1) == Some(&0xA0) {
                i += 2;
                continue;
            }
            if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
                break;
            }
            if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
                match text[i + 2..end].find("*/") {
                    Some(e) => {
                        i = i + 2 + e + 2;
                        continue;
                    }
                    None => break,
                }
            }
            if c == b'#'
                && matches!(toks.first(), Some(Token { tok: Tok::Ident(d), .. }) if d == "define")
            {
                return Err(self.sources.diagnostic(
                    Span::new(file, i, i + 1),
                    "the `#` (stringize) and `##` (token paste) macro operators are not supported",
                ));
            }
            if c == b'<' && toks.len() == 1 {
                // `#include <file>`
                if let Some(e) = text[i..end].find('>') {
                    toks.push(Token {
                        tok: Tok::Str(text[i + 1..i + e].to_string()),
                        span: Span::new(file, i, i + e + 1),
                    });
                    i += e + 1;
                    continue;
                }
            }
            let (tok, next) = lex_one(text, file, i, self.sources)?;
            toks.push(tok);
            i = next;
        }
        Ok(toks)
    }

    /// Handles `#ifdef`, `#ifndef`, `#if`, `#elif`, `#else` and `#endif` (which apply even in an
    /// inactive region); returns false for any other directive.
    fn conditional(
        &mut self,
        name: &str,
        args: &[Token],
        dir_span: Span,
        conds: &mut Vec<Cond>,
    ) -> Result<bool, Diagnostic> {
        let is_active = conds.last().is_none_or(|c| c.active);
        match name {
            "ifdef" | "ifndef" => {
                let defined = match args.first().map(|t| &t.tok) {
                    Some(Tok::Ident(n)) => self.defines.contains_key(n),
                    _ => {
                        return Err(self
                            .sources
                            .diagnostic(dir_span, format!("#{name} needs a macro name")));
                    }
                };
                let take = if name == "ifdef" { defined } else { !defined };
                conds.push(Cond {
                    active: is_active && take,
                    taken: take,
                    parent: is_active,
                });
            }
            "if" => {
                let take = is_active && self.eval_cond(args, dir_span)? != 0;
                conds.push(Cond {
                    active: take,
                    taken: take,
                    parent: is_active,
                });
            }
            "elif" => {
                let Some(top) = conds.last() else {
                    return Err(self.sources.diagnostic(dir_span, "#elif without #if"));
                };
                let (parent, taken) = (top.parent, top.taken);
                let take = parent && !taken && self.eval_cond(args, dir_span)? != 0;
                let top = conds.last_mut().expect("checked above");
                top.active = take;
                top.taken |= take;
            }
            "else" => {
                let Some(top) = conds.last_mut() else {
                    return Err(self.sources.diagnostic(dir_span, "#else without #if"));
                };
                top.active = top.parent && !top.taken;
                top.taken = true;
            }
            "endif" => {
                if conds.pop().is_none() {
                    return Err(self.sources.diagnostic(dir_span, "#endif without #if"));
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `#define NAME tokens` (object-like) or `#define NAME(a, b) tokens` (function-like: a `(`
    /// right after the name, with no space).
    fn define(&mut self, args: &[Token], dir_span: Span) -> Result<(), Diagnostic> {
        let Some(Token {
            tok: Tok::Ident(mname),
            span: mspan,
        }) = args.first()
        else {
            return Err(self.sources.diagnostic(dir_span, "#define needs a name"));
        };
        let is_fn = matches!(args.get(1), Some(Token { tok: Tok::Punct("("), span })
            if span.lo == mspan.hi);
        if !is_fn {
            self.defines
                .insert(mname.clone(), Macro::Object(args[1..].to_vec()));
            return Ok(());
        }
        let mut params: Vec<String> = Vec::new();
        let mut i = 2;
        let close_needed = |i: usize| args.get(i).map_or(dir_span, |t| t.span);
        if matches!(
            args.get(i),
            Some(Token {
                tok: Tok::Punct(")"),
                ..
            })
        ) {
            i += 1;
        } else {
            loop {
                match args.get(i) {
                    Some(Token {
                        tok: Tok::Ident(p),
                        span,
                    }) => {
                        if params.contains(p) {
                            return Err(self.sources.diagnostic(
                                *span,
                                format!("macro parameter `{p}` appears twice"),
                            ));
                        }
                        if params.len() == MAX_MACRO_PARAMS {
                            return Err(self.sources.diagnostic(
                                *span,
                                format!("a macro may have at most {MAX_MACRO_PARAMS} parameters"),
                            ));
                        }
                        params.push(p.clone());
                    }
                    Some(Token {
                        tok: Tok::Punct("..."),
                        span,
                    }) => {
                        return Err(self
                            .sources
                            .diagnostic(*span, "variadic macros (`...`) are not supported"));
                    }
                    _ => {
                        return Err(self
                            .sources
                            .diagnostic(close_needed(i), "expected a macro parameter name"));
                    }
                }
                i += 1;
                match args.get(i).map(|t| &t.tok) {
                    Some(Tok::Punct(",")) => i += 1,
                    Some(Tok::Punct(")")) => {
                        i += 1;
                        break;
                    }
                    _ => {
                        return Err(self.sources.diagnostic(
                            close_needed(i),
                            "expected `,` or `)` in the macro's parameter list",
                        ));
                    }
                }
            }
        }
        self.defines.insert(
            mname.clone(),
            Macro::Function {
                params,
                body: args[i..].to_vec(),
            },
        );
        Ok(())
    }

    /// `#include "file"` or `<file>`: lexes the file in place; a `.h` that is not found is
    /// skipped.
    fn include(
        &mut self,
        file: u32,
        args: &[Token],
        dir_span: Span,
        out: &mut Vec<Token>,
    ) -> Result<(), Diagnostic> {
        let Some(Token {
            tok: Tok::Str(path),
            span,
        }) = args.first()
        else {
            return Err(self
                .sources
                .diagnostic(dir_span, "#include needs \"file\" or <file>"));
        };
        let base = self.sources.file(file).path.clone();
        match find_file(path, base.as_deref(), self.include_dirs) {
            Some(found) => {
                let text = std::fs::read_to_string(&found).map_err(|e| {
                    self.sources
                        .diagnostic(*span, format!("cannot read {}: {e}", found.display()))
                })?;
                let id = self.sources.add(path.clone(), Some(found), text);
                self.lex_into(id, out)
            }
            // System and SDK headers carry no wire types we need; the MS-DTYP prelude provides
            // the base types.
            None if path.ends_with(".h") => Ok(()),
            None => Err(self
                .sources
                .diagnostic(*span, format!("cannot find include file `{path}`"))),
        }
    }

    fn eval_cond(&self, args: &[Token], span: Span) -> Result<i64, Diagnostic> {
        // Replace `defined X` / `defined(X)` first, then expand macros, then evaluate.
        let mut toks = Vec::new();
        let mut i = 0;
        while i < args.len() {
            if args[i].tok == Tok::Ident("defined".into()) {
                let (name, skip) = match (args.get(i + 1), args.get(i + 2), args.get(i + 3)) {
                    (
                        Some(Token {
                            tok: Tok::Punct("("),
                            ..
                        }),
                        Some(t),
                        Some(_),
                    ) => (t, 4),
                    (Some(t), _, _) => (t, 2),
                    _ => return Err(self.sources.diagnostic(span, "bad `defined`")),
                };
                let v = matches!(&name.tok, Tok::Ident(n) if self.defines.contains_key(n));
                toks.push(Token {
                    tok: Tok::Number(if v { "1" } else { "0" }.into()),
                    span: name.span,
                });
                i += skip;
                continue;
            }
            toks.push(args[i].clone());
            i += 1;
        }
        let mut replaced = 0;
        let (expanded, _) = self.expand(
            toks.into_iter().map(PTok::raw).collect(),
            true,
            0,
            &mut replaced,
        )?;
        let mut toks: Vec<Token> = expanded.into_iter().map(|t| t.tok).collect();
        // Unknown identifiers evaluate to 0, as in C.
        for t in &mut toks {
            if matches!(t.tok, Tok::Ident(_)) {
                t.tok = Tok::Number("0".into());
            }
        }
        toks.push(Token {
            tok: Tok::Eof,
            span,
        });
        let mut p = crate::parser::Parser::new(&toks, self.sources);
        let e = p.expr().map_err(|d| *d)?;
        let consts = HashMap::new();
        crate::ast::eval_const(&e, &consts).ok_or_else(|| {
            self.sources
                .diagnostic(span, "cannot evaluate #if condition")
        })
    }
}

/// The arguments of the invocation whose `(` is `input[0]`: for each, the indices of its tokens
/// (split at commas outside nested parentheses), and the index of the closing `)`; `None` if
/// `input` ends first.
fn split_args(input: &VecDeque<PTok>) -> Option<(Vec<Vec<usize>>, usize)> {
    let mut args = vec![Vec::new()];
    let mut nest = 0usize;
    for (i, t) in input.iter().enumerate().skip(1) {
        match t.tok.tok {
            Tok::Punct("(") => nest += 1,
            Tok::Punct(")") if nest == 0 => return Some((args, i)),
            Tok::Punct(")") => nest -= 1,
            Tok::Punct(",") if nest == 0 => {
                args.push(Vec::new());
                continue;
            }
            _ => {}
        }
        args.last_mut().expect("one argument at least").push(i);
    }
    None
}

/// Whether a directive line (`#` included) is an `#include`.
fn is_include(line: &str) -> bool {
    line[1..].trim_start().starts_with("include")
}

/// Finds an included or imported file: beside the including file, then in the include dirs.
pub(crate) fn find_file(name: &str, base: Option<&Path>, dirs: &[PathBuf]) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    if let Some(dir) = base.and_then(Path::parent) {
        let c = dir.join(p);
        if c.is_file() {
            return Some(c);
        }
    }
    dirs.iter().map(|d| d.join(p)).find(|c| c.is_file())
}
