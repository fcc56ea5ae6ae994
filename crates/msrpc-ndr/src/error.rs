//! The crate's single error type.

use std::fmt;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An encoding or decoding failure, with the field path where it happened.
///
/// The path is built from the [`Decoder`](crate::Decoder)'s field stack (for example
/// `NetSrvInfo101.sv101_name`); it is empty for errors raised outside any named field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    path: String,
}

impl Error {
    /// Builds an error with no field path.
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            path: String::new(),
        }
    }

    /// Builds an error at the given field path.
    pub fn with_path(kind: ErrorKind, path: impl Into<String>) -> Self {
        Error {
            kind,
            path: path.into(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The field path, such as `NetSrvInfo101.sv101_name` (may be empty).
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.path, self.kind)
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

/// The reason an NDR operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended before a value was complete.
    #[error("unexpected end of data: needed {needed} bytes, {remaining} remain")]
    UnexpectedEof {
        /// Bytes the read needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// Bytes were left after the last value of a whole message.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The data representation's integer format byte is not 0 (big) or 1 (little endian).
    #[error("unsupported integer representation {0:#04x} in drep")]
    UnsupportedIntegerRep(u8),
    /// EBCDIC character representation is not supported.
    #[error("EBCDIC character representation is not supported")]
    UnsupportedEbcdic,
    /// Only IEEE floating point is supported (VAX, Cray and IBM are rejected).
    #[error("unsupported floating-point representation {0:#04x} in drep (only IEEE is supported)")]
    UnsupportedFloatRep(u8),
    /// A count would need more bytes than the input has left.
    #[error("count {count} needs at least {needed} bytes but only {remaining} remain")]
    CountTooLarge {
        /// The count on the wire.
        count: u64,
        /// Minimum bytes needed for that many elements.
        needed: u64,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A value does not fit the wire field (for example a count above `u32::MAX` in NDR20).
    #[error("value {0} does not fit its wire field")]
    ValueTooLarge(u64),
    /// Nesting went deeper than [`DecodeLimits::max_depth`](crate::DecodeLimits::max_depth).
    #[error("recursion depth limit {0} exceeded")]
    DepthLimit(usize),
    /// More full pointers than [`DecodeLimits::max_full_pointers`](crate::DecodeLimits::max_full_pointers).
    #[error("full pointer limit {0} exceeded")]
    FullPointerLimit(usize),
    /// More pointees than [`DecodeLimits::max_pointees`](crate::DecodeLimits::max_pointees).
    #[error("pointee limit {0} exceeded")]
    PointeeLimit(usize),
    /// The decoded value would take more memory than
    /// [`DecodeLimits::max_bytes`](crate::DecodeLimits::max_bytes).
    #[error("decoded-size limit of {0} bytes exceeded")]
    ByteLimit(usize),
    /// A `[ref]` pointer had a null referent id.
    #[error("null [ref] pointer")]
    NullRefPointer,
    /// A full pointer's referent refers to an object that is still being decoded (a cycle),
    /// or to an object of another type.
    #[error("full pointer referent {0:#x} aliases an incompatible or incomplete object")]
    BadAlias(u64),
    /// A string's actual count exceeds its max count.
    #[error("string length {actual} exceeds max_count {max}")]
    StringTooLong {
        /// Actual count on the wire.
        actual: u64,
        /// Max count on the wire.
        max: u64,
    },
    /// A `[string]` was not terminated by a NUL as its last element, or had a zero count.
    #[error("string is not NUL-terminated")]
    StringNotTerminated,
    /// A varying array's offset + actual count exceeds its maximum.
    #[error("varying array offset {offset} + actual_count {actual} exceeds max {max}")]
    VaryingBounds {
        /// Offset on the wire.
        offset: u64,
        /// Actual count on the wire.
        actual: u64,
        /// Maximum (max_count or the fixed size).
        max: u64,
    },
    /// A fixed-size value had the wrong number of elements.
    #[error("expected {expected} elements, got {actual}")]
    LengthMismatch {
        /// Required count.
        expected: u64,
        /// Count found.
        actual: u64,
    },
    /// A count on the wire disagrees with the field that sizes it (`size_is`, `length_is`).
    #[error("wire count {wire} disagrees with sizing field value {field}")]
    SizeMismatch {
        /// Count on the wire.
        wire: u64,
        /// Value of the sizing field.
        field: u64,
    },
    /// A `[range]` check failed.
    #[error("value {value} outside range {min}..={max}")]
    OutOfRange {
        /// Value found.
        value: u64,
        /// Lower bound.
        min: u64,
        /// Upper bound.
        max: u64,
    },
    /// A union discriminant selects no arm and the union has no default.
    #[error("bad union discriminant {0:#x}")]
    BadSwitch(u64),
    /// A union's discriminant disagrees with its `switch_is` value.
    #[error("union discriminant {wire:#x} disagrees with switch_is value {expected:#x}")]
    SwitchMismatch {
        /// Discriminant on the wire.
        wire: u64,
        /// Value of the `switch_is` field.
        expected: u64,
    },
    /// An enum value outside what the type allows.
    #[error("invalid enum value {0:#x}")]
    BadEnum(u64),
    /// A malformed protocol tower.
    #[error("invalid tower: {0}")]
    InvalidTower(&'static str),
    /// A pipe's data ended before its terminating empty chunk.
    #[error(
        "pipe not terminated: the data ends after {chunks} chunks without the empty chunk that ends a pipe"
    )]
    PipeNotTerminated {
        /// Chunks read before the data ended.
        chunks: usize,
    },
    /// A pipe had more chunks than
    /// [`DecodeLimits::max_pipe_chunks`](crate::DecodeLimits::max_pipe_chunks).
    #[error("pipe chunk limit {0} exceeded")]
    PipeChunkLimit(usize),
    /// An NDR64 pipe chunk's trailing negated count does not negate its count.
    #[error("NDR64 pipe chunk of {count} elements ends with {negated:#x}, not the negated count")]
    PipeChunkMismatch {
        /// The chunk's element count.
        count: u64,
        /// The 64-bit value after the elements.
        negated: u64,
    },
    /// Any other invariant violation, described.
    #[error("{0}")]
    Invalid(&'static str),
}
