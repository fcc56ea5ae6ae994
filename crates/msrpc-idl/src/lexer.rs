//! The lexer: tokens with positions. The C preprocessor that drives it is [`crate::preprocess`].

use crate::diag::{Diagnostic, Sources, Span};

/// Kind of a token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    /// A number as written: `10`, `0x1F`, `10L`, `1.0`.
    Number(String),
    Str(String),
    Char(u32),
    Punct(&'static str),
    Eof,
}

/// A token and where it came from.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) span: Span,
}

const PUNCTS: &[&str] = &[
    "...", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "->", "::", "(", ")", "[", "]", "{",
    "}", ";", ",", ":", "=", "*", "&", "|", "^", "~", "!", "+", "-", "/", "%", "<", ">", "?", ".",
];

pub(crate) fn lex_quoted(
    text: &str,
    file: u32,
    start: usize,
    sources: &Sources,
) -> Result<(Token, usize), Diagnostic> {
    let bytes = text.as_bytes();
    let quote = bytes[start];
    let mut i = start + 1;
    let mut s = String::new();
    loop {
        let Some(&c) = bytes.get(i) else {
            return Err(
                sources.diagnostic(Span::new(file, start, start + 1), "unterminated literal")
            );
        };
        if c == b'\n' {
            return Err(sources.diagnostic(Span::new(file, start, i), "unterminated literal"));
        }
        if c == quote {
            i += 1;
            break;
        }
        if c == b'\\' {
            let Some(e) = text.get(i + 1..).and_then(|t| t.chars().next()) else {
                return Err(
                    sources.diagnostic(Span::new(file, start, i + 1), "unterminated literal")
                );
            };
            i += 1 + e.len_utf8();
            let ch = match e {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                'a' => '\u{7}',
                'b' => '\u{8}',
                'f' => '\u{c}',
                'v' => '\u{b}',
                'x' => {
                    // Up to two hex digits.
                    let digits: String = text[i..]
                        .chars()
                        .take_while(char::is_ascii_hexdigit)
                        .take(2)
                        .collect();
                    i += digits.len();
                    char::from(u8::from_str_radix(&digits, 16).unwrap_or(0))
                }
                '0'..='7' => {
                    // Up to three octal digits, the first already read.
                    let more: String = text[i..]
                        .chars()
                        .take_while(|c| ('0'..='7').contains(c))
                        .take(2)
                        .collect();
                    i += more.len();
                    let v = u32::from_str_radix(&format!("{e}{more}"), 8).unwrap_or(0);
                    char::from_u32(v).unwrap_or('\u{fffd}')
                }
                other => other,
            };
            s.push(ch);
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
        s.push(ch);
        i += ch.len_utf8();
    }
    let span = Span::new(file, start, i);
    let tok = if quote == b'"' {
        Tok::Str(s)
    } else {
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Tok::Char(c as u32),
            _ => return Err(sources.diagnostic(span, "a character literal holds one character")),
        }
    };
    Ok((Token { tok, span }, i))
}

pub(crate) fn lex_one(
    text: &str,
    file: u32,
    start: usize,
    sources: &Sources,
) -> Result<(Token, usize), Diagnostic> {
    let bytes = text.as_bytes();
    let c = bytes[start];
    if c == b'"' || c == b'\'' {
        return lex_quoted(text, file, start, sources);
    }
    // `L"wide"` strings are plain strings for our purposes.
    if c == b'L' && matches!(bytes.get(start + 1), Some(b'"') | Some(b'\'')) {
        let (mut t, next) = lex_quoted(text, file, start + 1, sources)?;
        t.span.lo = start as u32;
        return Ok((t, next));
    }
    if c.is_ascii_alphabetic() || c == b'_' {
        let mut i = start;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        let t = Token {
            tok: Tok::Ident(text[start..i].to_string()),
            span: Span::new(file, start, i),
        };
        return Ok((t, i));
    }
    if c.is_ascii_digit() {
        let mut i = start;
        while i < bytes.len()
            && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
        {
            i += 1;
        }
        let t = Token {
            tok: Tok::Number(text[start..i].to_string()),
            span: Span::new(file, start, i),
        };
        return Ok((t, i));
    }
    for p in PUNCTS {
        if text[start..].starts_with(p) {
            let t = Token {
                tok: Tok::Punct(p),
                span: Span::new(file, start, start + p.len()),
            };
            return Ok((t, start + p.len()));
        }
    }
    let ch = text[start..].chars().next().unwrap_or('?');
    Err(sources.diagnostic(
        Span::new(file, start, start + ch.len_utf8()),
        format!("unexpected character `{ch}`"),
    ))
}

/// Parses a C integer literal (`10`, `0x1F`, `017`, with `u`/`l` suffixes).
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim_end_matches(['u', 'U', 'l', 'L']);
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()?
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()?
    } else {
        t.parse::<u64>().ok()?
    };
    Some(v as i64)
}
