//! `[string]` types: conformant-varying arrays of `char` / `wchar_t` ending in a NUL.
//!
//! The Rust value holds the characters **without** the terminator. Encoding writes
//! max_count = actual_count = length + 1, offset 0, the characters and a NUL. Decoding requires
//! offset 0, actual_count <= max_count, actual_count >= 1 and a NUL as the last element; the
//! terminator is stripped (embedded NULs before it are kept).

use std::fmt;

use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::{ErrorKind, Result};
use crate::rep::Syntax;
use crate::traits::{NdrConformant, NdrConformantDecode, NdrDecode, NdrEncode, NdrType};

/// A `[string] wchar_t *` (UTF-16 code units, lossless: unpaired surrogates are kept).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct WideString(pub Vec<u16>);

/// A `[string] char *` (octets; the character set is the application's business).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NdrString(pub Vec<u8>);

impl WideString {
    /// The code units, without terminator.
    pub fn as_units(&self) -> &[u16] {
        &self.0
    }

    /// Decodes as UTF-16, replacing invalid sequences with U+FFFD.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf16_lossy(&self.0)
    }
}

impl From<&str> for WideString {
    fn from(s: &str) -> Self {
        WideString(s.encode_utf16().collect())
    }
}

impl fmt::Display for WideString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl NdrString {
    /// The octets, without terminator.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for NdrString {
    fn from(s: &str) -> Self {
        NdrString(s.as_bytes().to_vec())
    }
}

impl fmt::Display for NdrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

trait Unit: NdrEncode + NdrDecode<Head = Self> + Copy + PartialEq + Default {}
impl Unit for u8 {}
impl Unit for u16 {}

fn encode_string<U: Unit>(units: &[U], e: &mut Encoder, hoisted: bool) -> Result<()> {
    let n = units.len() as u64 + 1;
    if !hoisted {
        e.write_conformance(n)?;
    }
    e.write_variance(0, n)?;
    U::encode_array_heads(units, e)?;
    U::default().encode_head(e)
}

fn decode_string<U: Unit>(d: &mut Decoder<'_>, max: u64) -> Result<Vec<U>> {
    let (offset, actual) = d.read_variance()?;
    if offset != 0 {
        return Err(d.error(ErrorKind::Invalid("string offset is not 0")));
    }
    if actual > max {
        return Err(d.error(ErrorKind::StringTooLong { actual, max }));
    }
    if actual == 0 {
        return Err(d.error(ErrorKind::StringNotTerminated));
    }
    let mut v = U::decode_array_heads(d, actual)?;
    match v.pop() {
        Some(last) if last == U::default() => Ok(v),
        _ => Err(d.error(ErrorKind::StringNotTerminated)),
    }
}

macro_rules! string_impls {
    ($ty:ident, $unit:ty) => {
        impl NdrType for $ty {
            fn align(syntax: Syntax) -> usize {
                syntax.count_size()
            }
            fn min_size(syntax: Syntax) -> usize {
                3 * syntax.count_size()
            }
        }

        impl NdrEncode for $ty {
            fn encode_head(&self, e: &mut Encoder) -> Result<()> {
                encode_string::<$unit>(&self.0, e, false)
            }
        }

        impl NdrConformant for $ty {
            fn max_count(&self) -> u64 {
                self.0.len() as u64 + 1
            }
            fn encode_body_head(&self, e: &mut Encoder) -> Result<()> {
                encode_string::<$unit>(&self.0, e, true)
            }
        }

        impl NdrDecode for $ty {
            type Head = Self;
            fn decode_head(d: &mut Decoder<'_>) -> Result<Self> {
                let max = d.read_conformance()?;
                Self::decode_body_head(d, max)
            }
            fn decode_deferred(head: Self, _: &mut Decoder<'_>) -> Result<Self> {
                Ok(head)
            }
        }

        impl NdrConformantDecode for $ty {
            fn decode_body_head(d: &mut Decoder<'_>, max_count: u64) -> Result<Self> {
                Ok($ty(decode_string::<$unit>(d, max_count)?))
            }
        }
    };
}

string_impls!(WideString, u16);
string_impls!(NdrString, u8);
