//! Arrays: fixed, conformant, varying and conformant-varying.
//!
//! Elements are written head by head; the deferred phase then visits every element's deferred
//! part in order (so pointees of embedded pointers in an array follow the whole array).

use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::{ErrorKind, Result};
use crate::rep::Syntax;
use crate::traits::{NdrConformant, NdrConformantDecode, NdrDecode, NdrEncode, NdrType};

fn encode_heads<T: NdrEncode>(items: &[T], e: &mut Encoder) -> Result<()> {
    T::encode_array_heads(items, e)
}

fn encode_deferreds<T: NdrEncode>(items: &[T], e: &mut Encoder) -> Result<()> {
    T::encode_array_deferreds(items, e)
}

/// Most elements reserved up front when decoding an array.
pub(crate) const MAX_PREALLOC: usize = 4096;

/// Reads `count` element heads after checking the input can hold them.
pub(crate) fn decode_heads<T: NdrDecode>(d: &mut Decoder<'_>, count: u64) -> Result<Vec<T::Head>> {
    T::decode_array_heads(d, count)
}

/// [`NdrDecode::decode_array_heads`]'s default: one head at a time, each index on the error path.
pub(crate) fn decode_heads_one_by_one<T: NdrDecode>(
    d: &mut Decoder<'_>,
    count: u64,
) -> Result<Vec<T::Head>> {
    let n = d.check_count(count, T::min_size(d.syntax()))?;
    d.charge::<T>(n)?;
    // The count is bounded by the input, but an element's in-memory head can be much larger
    // than its wire size: reserve a bounded amount and grow only as elements really decode.
    let mut v = Vec::with_capacity(n.min(MAX_PREALLOC));
    for i in 0..n {
        d.push_index(i as u64);
        v.push(T::decode_head(d)?);
        d.pop();
    }
    Ok(v)
}

/// Completes element heads with their deferred parts.
pub(crate) fn decode_deferreds<T: NdrDecode>(
    d: &mut Decoder<'_>,
    heads: Vec<T::Head>,
) -> Result<Vec<T>> {
    T::decode_array_deferreds(d, heads)
}

/// [`NdrDecode::decode_array_deferreds`]'s default: one element at a time.
pub(crate) fn decode_deferreds_one_by_one<T: NdrDecode>(
    d: &mut Decoder<'_>,
    heads: Vec<T::Head>,
) -> Result<Vec<T>> {
    let mut v = Vec::with_capacity(heads.len());
    for (i, h) in heads.into_iter().enumerate() {
        d.push_index(i as u64);
        v.push(T::decode_deferred(h, d)?);
        d.pop();
    }
    Ok(v)
}

fn count_of(len: usize) -> u64 {
    len as u64
}

// ---- fixed arrays ----

impl<T: NdrType, const N: usize> NdrType for [T; N] {
    fn align(syntax: Syntax) -> usize {
        T::align(syntax)
    }
    fn min_size(syntax: Syntax) -> usize {
        T::min_size(syntax).saturating_mul(N)
    }
}

impl<T: NdrEncode, const N: usize> NdrEncode for [T; N] {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        e.align(T::align(e.syntax()));
        encode_heads(self, e)
    }
    fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
        encode_deferreds(self, e)
    }
}

impl<T: NdrDecode, const N: usize> NdrDecode for [T; N] {
    type Head = Vec<T::Head>;
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self::Head> {
        d.align(T::align(d.syntax()))?;
        decode_heads::<T>(d, N as u64)
    }
    fn decode_deferred(head: Self::Head, d: &mut Decoder<'_>) -> Result<Self> {
        let v = decode_deferreds::<T>(d, head)?;
        let len = v.len();
        v.try_into().map_err(|_| {
            d.error(ErrorKind::LengthMismatch {
                expected: N as u64,
                actual: len as u64,
            })
        })
    }
}

// ---- conformant ----

/// A conformant array (`[size_is(n)] T a[]` or a `[size_is(n)] T *` pointee): max_count, then
/// the elements.
///
/// As the last member of a structure its max_count is hoisted (see [`NdrConformant`]).
/// When `size_is` names another field, generated code should check it on decode with
/// [`Decoder::check_size`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ConformantArray<T>(pub Vec<T>);

impl<T> From<Vec<T>> for ConformantArray<T> {
    fn from(v: Vec<T>) -> Self {
        ConformantArray(v)
    }
}

impl<T: NdrType> NdrType for ConformantArray<T> {
    fn align(syntax: Syntax) -> usize {
        syntax.count_size().max(T::align(syntax))
    }
    fn min_size(syntax: Syntax) -> usize {
        syntax.count_size()
    }
}

impl<T: NdrEncode> NdrEncode for ConformantArray<T> {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        e.write_conformance(count_of(self.0.len()))?;
        self.encode_body_head(e)
    }
    fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
        encode_deferreds(&self.0, e)
    }
}

impl<T: NdrEncode> NdrConformant for ConformantArray<T> {
    fn max_count(&self) -> u64 {
        count_of(self.0.len())
    }
    fn encode_body_head(&self, e: &mut Encoder) -> Result<()> {
        encode_heads(&self.0, e)
    }
}

impl<T: NdrDecode> NdrDecode for ConformantArray<T> {
    type Head = Vec<T::Head>;
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self::Head> {
        let max = d.read_conformance()?;
        Self::decode_body_head(d, max)
    }
    fn decode_deferred(head: Self::Head, d: &mut Decoder<'_>) -> Result<Self> {
        Ok(ConformantArray(decode_deferreds::<T>(d, head)?))
    }
}

impl<T: NdrDecode> NdrConformantDecode for ConformantArray<T> {
    fn decode_body_head(d: &mut Decoder<'_>, max_count: u64) -> Result<Self::Head> {
        decode_heads::<T>(d, max_count)
    }
}

// ---- varying ----

/// A varying array of declared size `N` (`[length_is(n)] T a[N]`): offset, actual_count, then
/// the transmitted elements. `offset + items.len()` must not exceed `N`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct VaryingArray<T, const N: usize> {
    /// First transmitted index (almost always 0).
    pub offset: u64,
    /// The transmitted elements.
    pub items: Vec<T>,
}

impl<T, const N: usize> VaryingArray<T, N> {
    /// A varying array with offset 0.
    pub fn new(items: Vec<T>) -> Self {
        VaryingArray { offset: 0, items }
    }
}

fn check_bounds(offset: u64, actual: u64, max: u64) -> Result<(), ErrorKind> {
    match offset.checked_add(actual) {
        Some(end) if end <= max => Ok(()),
        _ => Err(ErrorKind::VaryingBounds {
            offset,
            actual,
            max,
        }),
    }
}

impl<T: NdrType, const N: usize> NdrType for VaryingArray<T, N> {
    fn align(syntax: Syntax) -> usize {
        syntax.count_size().max(T::align(syntax))
    }
    fn min_size(syntax: Syntax) -> usize {
        2 * syntax.count_size()
    }
}

impl<T: NdrEncode, const N: usize> NdrEncode for VaryingArray<T, N> {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        let actual = count_of(self.items.len());
        check_bounds(self.offset, actual, N as u64)?;
        e.write_variance(self.offset, actual)?;
        encode_heads(&self.items, e)
    }
    fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
        encode_deferreds(&self.items, e)
    }
}

impl<T: NdrDecode, const N: usize> NdrDecode for VaryingArray<T, N> {
    type Head = (u64, Vec<T::Head>);
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self::Head> {
        let (offset, actual) = d.read_variance()?;
        check_bounds(offset, actual, N as u64).map_err(|k| d.error(k))?;
        Ok((offset, decode_heads::<T>(d, actual)?))
    }
    fn decode_deferred((offset, heads): Self::Head, d: &mut Decoder<'_>) -> Result<Self> {
        Ok(VaryingArray {
            offset,
            items: decode_deferreds::<T>(d, heads)?,
        })
    }
}

// ---- conformant varying ----

/// A conformant-varying array (`[size_is(m), length_is(n)] T *p`): max_count, offset,
/// actual_count, then the transmitted elements.
///
/// `offset + items.len()` must not exceed `max_count`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ConformantVaryingArray<T> {
    /// Allocated size (max_count).
    pub max_count: u64,
    /// First transmitted index (almost always 0).
    pub offset: u64,
    /// The transmitted elements.
    pub items: Vec<T>,
}

impl<T> ConformantVaryingArray<T> {
    /// An array whose max_count equals its length and offset is 0.
    pub fn new(items: Vec<T>) -> Self {
        ConformantVaryingArray {
            max_count: count_of(items.len()),
            offset: 0,
            items,
        }
    }
}

impl<T> From<Vec<T>> for ConformantVaryingArray<T> {
    fn from(v: Vec<T>) -> Self {
        Self::new(v)
    }
}

impl<T: NdrType> NdrType for ConformantVaryingArray<T> {
    fn align(syntax: Syntax) -> usize {
        syntax.count_size().max(T::align(syntax))
    }
    fn min_size(syntax: Syntax) -> usize {
        3 * syntax.count_size()
    }
}

impl<T: NdrEncode> NdrEncode for ConformantVaryingArray<T> {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        e.write_conformance(self.max_count)?;
        self.encode_body_head(e)
    }
    fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
        encode_deferreds(&self.items, e)
    }
}

impl<T: NdrEncode> NdrConformant for ConformantVaryingArray<T> {
    fn max_count(&self) -> u64 {
        self.max_count
    }
    fn encode_body_head(&self, e: &mut Encoder) -> Result<()> {
        let actual = count_of(self.items.len());
        check_bounds(self.offset, actual, self.max_count)?;
        e.write_variance(self.offset, actual)?;
        encode_heads(&self.items, e)
    }
}

impl<T: NdrDecode> NdrDecode for ConformantVaryingArray<T> {
    type Head = (u64, u64, Vec<T::Head>);
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self::Head> {
        let max = d.read_conformance()?;
        Self::decode_body_head(d, max)
    }
    fn decode_deferred(
        (max_count, offset, heads): Self::Head,
        d: &mut Decoder<'_>,
    ) -> Result<Self> {
        Ok(ConformantVaryingArray {
            max_count,
            offset,
            items: decode_deferreds::<T>(d, heads)?,
        })
    }
}

impl<T: NdrDecode> NdrConformantDecode for ConformantVaryingArray<T> {
    fn decode_body_head(d: &mut Decoder<'_>, max_count: u64) -> Result<Self::Head> {
        let (offset, actual) = d.read_variance()?;
        check_bounds(offset, actual, max_count).map_err(|k| d.error(k))?;
        Ok((max_count, offset, decode_heads::<T>(d, actual)?))
    }
}
