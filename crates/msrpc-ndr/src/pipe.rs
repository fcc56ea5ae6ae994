//! DCE pipes (`typedef pipe T NAME;`), buffered: a [`Pipe`] holds every chunk in memory.
//!
//! On the wire a pipe is a sequence of chunks ended by an empty one:
//! - NDR20 (C706 chapter 14, "Pipes"): each chunk is an unsigned long element count (aligned
//!   to 4) followed by that many elements, as the body of a conformant array; the last chunk
//!   is a count of 0 and no elements.
//! - NDR64 (MS-RPCE 2.2.5.3.4.5): each chunk is a 64-bit count, the elements, then the
//!   arithmetic negation of the count as a 64-bit integer; the last chunk is two 64-bit zeros.
//!   A chunk holds at most 2^31 - 1 elements.
//!
//! A pipe's element type has no pointers and no conformant or varying parts (the IDL compiler
//! refuses others), so a chunk's elements are written head after head with no deferred part.
//!
//! Decoding is bounded: at most [`DecodeLimits::max_pipe_chunks`](crate::DecodeLimits::max_pipe_chunks)
//! chunks per pipe, every count checked against the input left before anything is allocated,
//! and every element charged against [`DecodeLimits::max_bytes`](crate::DecodeLimits::max_bytes).
//! Input that ends before the terminating empty chunk fails with
//! [`ErrorKind::PipeNotTerminated`].

use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::{ErrorKind, Result};
use crate::rep::Syntax;
use crate::traits::{NdrDecode, NdrEncode, NdrType};

/// Most elements one NDR64 chunk may carry (MS-RPCE 2.2.5.3.4.5: 2^31 - 1).
pub const NDR64_MAX_CHUNK_ELEMENTS: u64 = (1 << 31) - 1;
/// Most elements one NDR20 chunk may carry (the count is an unsigned long).
pub const NDR20_MAX_CHUNK_ELEMENTS: u64 = u32::MAX as u64;

/// A DCE pipe's data, buffered: the chunks in the order they are sent.
///
/// Encoding skips empty chunks (an empty chunk on the wire ends the pipe), so the chunks
/// decoded are never empty; `Pipe::default()` is an empty pipe (only the terminator).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Pipe<T>(pub Vec<Vec<T>>);

impl<T> Pipe<T> {
    /// A pipe of these chunks.
    pub fn new(chunks: Vec<Vec<T>>) -> Self {
        Pipe(chunks)
    }

    /// The chunks.
    pub fn chunks(&self) -> &[Vec<T>] {
        &self.0
    }

    /// The chunks, owned.
    pub fn into_chunks(self) -> Vec<Vec<T>> {
        self.0
    }

    /// Elements in all chunks.
    pub fn total_len(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }

    /// True when no chunk has an element.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Vec::is_empty)
    }

    /// All elements, in order, in one vector.
    pub fn concat(&self) -> Vec<T>
    where
        T: Clone,
    {
        self.0.concat()
    }

    /// Splits `items` into chunks of at most `chunk_len` elements (one chunk if `chunk_len`
    /// is 0).
    pub fn from_slice(items: &[T], chunk_len: usize) -> Self
    where
        T: Clone,
    {
        if chunk_len == 0 {
            return Pipe(vec![items.to_vec()]);
        }
        Pipe(items.chunks(chunk_len).map(<[T]>::to_vec).collect())
    }
}

impl<T> From<Vec<Vec<T>>> for Pipe<T> {
    fn from(chunks: Vec<Vec<T>>) -> Self {
        Pipe(chunks)
    }
}

impl<T> FromIterator<Vec<T>> for Pipe<T> {
    fn from_iter<I: IntoIterator<Item = Vec<T>>>(iter: I) -> Self {
        Pipe(iter.into_iter().collect())
    }
}

impl<T: NdrType> NdrType for Pipe<T> {
    fn align(syntax: Syntax) -> usize {
        syntax.count_size().max(T::align(syntax))
    }
    fn min_size(syntax: Syntax) -> usize {
        // The terminator: one count in NDR20, count and negated count in NDR64.
        match syntax {
            Syntax::Ndr20 => 4,
            Syntax::Ndr64 => 16,
        }
    }
}

fn max_chunk(syntax: Syntax) -> u64 {
    match syntax {
        Syntax::Ndr20 => NDR20_MAX_CHUNK_ELEMENTS,
        Syntax::Ndr64 => NDR64_MAX_CHUNK_ELEMENTS,
    }
}

impl<T: NdrEncode> NdrEncode for Pipe<T> {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        let syntax = e.syntax();
        for chunk in self.0.iter().filter(|c| !c.is_empty()) {
            let n = chunk.len() as u64;
            if n > max_chunk(syntax) {
                return Err(ErrorKind::ValueTooLarge(n).into());
            }
            e.write_conformance(n)?;
            T::encode_array_heads(chunk, e)?;
            if syntax.is_ndr64() {
                e.write_u64(n.wrapping_neg());
            }
        }
        e.write_conformance(0)?;
        if syntax.is_ndr64() {
            e.write_u64(0);
        }
        Ok(())
    }
}

impl<T: NdrDecode> NdrDecode for Pipe<T> {
    type Head = Pipe<T>;

    fn decode_head(d: &mut Decoder<'_>) -> Result<Self::Head> {
        let syntax = d.syntax();
        let limit = d.limits().max_pipe_chunks;
        let mut chunks = Vec::new();
        loop {
            // The next count must be there: the pipe has not been terminated yet.
            let pad =
                (syntax.count_size() - d.position() % syntax.count_size()) % syntax.count_size();
            if d.remaining() < pad + syntax.count_size() {
                return Err(d.error(ErrorKind::PipeNotTerminated {
                    chunks: chunks.len(),
                }));
            }
            let n = d.read_conformance()?;
            if n == 0 {
                if syntax.is_ndr64() {
                    let neg = d.read_u64()?;
                    if neg != 0 {
                        return Err(d.error(ErrorKind::PipeChunkMismatch {
                            count: 0,
                            negated: neg,
                        }));
                    }
                }
                break;
            }
            if chunks.len() >= limit {
                return Err(d.error(ErrorKind::PipeChunkLimit(limit)));
            }
            if n > max_chunk(syntax) {
                return Err(d.error(ErrorKind::ValueTooLarge(n)));
            }
            d.push_index(chunks.len() as u64);
            d.charge::<Vec<T>>(1)?;
            let heads = T::decode_array_heads(d, n)?;
            let items = T::decode_array_deferreds(d, heads)?;
            d.pop();
            if syntax.is_ndr64() {
                let neg = d.read_u64()?;
                if neg != n.wrapping_neg() {
                    return Err(d.error(ErrorKind::PipeChunkMismatch {
                        count: n,
                        negated: neg,
                    }));
                }
            }
            chunks.push(items);
        }
        Ok(Pipe(chunks))
    }

    fn decode_deferred(head: Self::Head, _d: &mut Decoder<'_>) -> Result<Self> {
        Ok(head)
    }
}
