//! Source files, spans and diagnostics rendered as `file:line:col` with a caret line.

use std::fmt;
use std::path::PathBuf;

/// A byte range inside one loaded source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub(crate) file: u32,
    pub(crate) lo: u32,
    pub(crate) hi: u32,
}

impl Span {
    pub(crate) fn new(file: u32, lo: usize, hi: usize) -> Span {
        Span {
            file,
            lo: lo as u32,
            hi: hi as u32,
        }
    }

    /// The span covering `self` through `other` (same file assumed).
    pub(crate) fn to(self, other: Span) -> Span {
        if self.file != other.file {
            return self;
        }
        Span {
            file: self.file,
            lo: self.lo.min(other.lo),
            hi: self.hi.max(other.hi),
        }
    }
}

/// One loaded source file.
#[derive(Debug)]
pub(crate) struct SourceFile {
    pub(crate) name: String,
    pub(crate) path: Option<PathBuf>,
    pub(crate) text: String,
    line_starts: Vec<usize>,
}

/// All files loaded for one compilation; spans index into it.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    pub(crate) files: Vec<SourceFile>,
}

impl Sources {
    pub(crate) fn add(&mut self, name: String, path: Option<PathBuf>, text: String) -> u32 {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        self.files.push(SourceFile {
            name,
            path,
            text,
            line_starts,
        });
        (self.files.len() - 1) as u32
    }

    pub(crate) fn file(&self, id: u32) -> &SourceFile {
        &self.files[id as usize]
    }

    /// The text a span covers.
    pub(crate) fn slice(&self, span: Span) -> &str {
        let f = self.file(span.file);
        f.text.get(span.lo as usize..span.hi as usize).unwrap_or("")
    }

    /// Renders a diagnostic at `span`.
    pub(crate) fn diagnostic(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        let f = self.file(span.file);
        let lo = (span.lo as usize).min(f.text.len());
        let line_idx = match f.line_starts.binary_search(&lo) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = f.line_starts[line_idx];
        let end = f.text[start..]
            .find('\n')
            .map_or(f.text.len(), |e| start + e);
        let source_line = f.text[start..end].trim_end_matches('\r').to_string();
        let column = f.text[start..lo].chars().count() + 1;
        let hi = (span.hi as usize).clamp(lo, end);
        let width = f.text[lo..hi].chars().count().max(1);
        Diagnostic {
            file: f.name.clone(),
            line: line_idx + 1,
            column,
            message: message.into(),
            source_line,
            width,
        }
    }
}

/// One error, located in a source file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    file: String,
    line: usize,
    column: usize,
    message: String,
    source_line: String,
    width: usize,
}

impl Diagnostic {
    /// A diagnostic that is not tied to a source position (such as an unreadable file).
    pub(crate) fn without_location(file: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.into(),
            line: 0,
            column: 0,
            message: message.into(),
            source_line: String::new(),
            width: 0,
        }
    }

    /// The file name as given to the compiler.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// 1-based line; 0 when the diagnostic has no position.
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based column in characters; 0 when the diagnostic has no position.
    pub fn column(&self) -> usize {
        self.column
    }

    /// The message, without location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: error: {}", self.file, self.message);
        }
        writeln!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.line, self.column, self.message
        )?;
        let gutter = self.line.to_string().len();
        writeln!(f, "{:gutter$} |", "")?;
        writeln!(f, "{} | {}", self.line, self.source_line)?;
        let pad: String = self
            .source_line
            .chars()
            .take(self.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(f, "{:gutter$} | {}{}", "", pad, "^".repeat(self.width))
    }
}

/// The errors of a failed compilation, in source order of discovery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// The individual diagnostics.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// How many errors there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True if there are none (never the case for a returned error).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics { items: vec![d] }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
