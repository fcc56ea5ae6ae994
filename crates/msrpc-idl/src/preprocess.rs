//! A small C preprocessor over the lexer.
//!
//! It understands what MIDL files in the Windows protocol specifications use:
//! `#include "file"` (inlined when found; `.h` headers that cannot be found are skipped),
//! object-like `#define NAME tokens`, `#undef`, `#ifdef`, `#ifndef`, `#if`/`#elif` over integer
//! constant expressions with `defined(NAME)`, `#else`, `#endif`, and `#pragma` (ignored).
//! Function-like macros are recorded as unsupported and reported where they are used.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Sources, Span};
use crate::lexer::{Tok, Token, lex_one, lex_quoted};

#[derive(Clone, Debug)]
enum Macro {
    Object(Vec<Token>),
    Function,
}

/// Runs the lexer and preprocessor over files, loading `#include`d files through `Sources`.
/// How deeply object-like macros may expand inside one another.
const MAX_MACRO_DEPTH: usize = 16;
/// The most tokens a preprocessed file may hold (a guard against exponential macro expansion).
const MAX_EXPANDED_TOKENS: usize = 1 << 20;

#[derive(Debug)]
pub(crate) struct Preprocessor<'a> {
    pub(crate) sources: &'a mut Sources,
    include_dirs: &'a [PathBuf],
    defines: HashMap<String, Macro>,
    depth: usize,
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
            self.push_expanded(tok, out, 0)?;
        }
        if let Some(_c) = conds.last() {
            return Err(self.sources.diagnostic(
                Span::new(file, text.len(), text.len()),
                "missing #endif at end of file",
            ));
        }
        self.depth -= 1;
        Ok(())
    }

    fn push_expanded(
        &self,
        tok: Token,
        out: &mut Vec<Token>,
        depth: usize,
    ) -> Result<(), Diagnostic> {
        self.expand(tok, out, depth, &mut Vec::new())
    }

    /// Object-like macro expansion with C's rule that a macro is not expanded again inside its own
    /// expansion (`active`), a nesting limit, and a cap on the tokens one line may expand to, so a
    /// hostile file cannot make the expansion grow without bound.
    fn expand(
        &self,
        tok: Token,
        out: &mut Vec<Token>,
        depth: usize,
        active: &mut Vec<String>,
    ) -> Result<(), Diagnostic> {
        if let Tok::Ident(name) = &tok.tok
            && !active.iter().any(|a| a == name)
        {
            match self.defines.get(name) {
                Some(Macro::Object(body)) if depth < MAX_MACRO_DEPTH => {
                    active.push(name.clone());
                    for t in body {
                        let t = Token {
                            tok: t.tok.clone(),
                            span: tok.span,
                        };
                        self.expand(t, out, depth + 1, active)?;
                    }
                    active.pop();
                    return Ok(());
                }
                Some(Macro::Object(_)) => {
                    return Err(self.sources.diagnostic(
                        tok.span,
                        format!("macro `{name}` nests deeper than {MAX_MACRO_DEPTH} expansions"),
                    ));
                }
                Some(Macro::Function) => {
                    return Err(self.sources.diagnostic(
                        tok.span,
                        format!("function-like macro `{name}` is not supported"),
                    ));
                }
                None => {}
            }
        }
        if out.len() >= MAX_EXPANDED_TOKENS {
            return Err(self.sources.diagnostic(
                tok.span,
                format!("macro expansion exceeds {MAX_EXPANDED_TOKENS} tokens"),
            ));
        }
        out.push(tok);
        Ok(())
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

    /// `#define NAME tokens` (object-like), or `#define NAME(` (function-like: recorded as
    /// unsupported, reported where used).
    fn define(&mut self, args: &[Token], dir_span: Span) -> Result<(), Diagnostic> {
        let Some(Token {
            tok: Tok::Ident(mname),
            span: mspan,
        }) = args.first()
        else {
            return Err(self.sources.diagnostic(dir_span, "#define needs a name"));
        };
        // `NAME(` with no space is a function-like macro.
        let is_fn = matches!(args.get(1), Some(Token { tok: Tok::Punct("("), span })
            if span.lo == mspan.hi);
        let m = if is_fn {
            Macro::Function
        } else {
            Macro::Object(args[1..].to_vec())
        };
        self.defines.insert(mname.clone(), m);
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
            self.push_expanded(args[i].clone(), &mut toks, 0)?;
            i += 1;
        }
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
