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

/// Writes a pipe's chunks and its terminator, the framing of [`Pipe`]'s encoding, with each
/// chunk's elements written by `elements` (for encoders that are not generic over the element
/// type, as libmsrpc_c's engine, whose elements are described by tables at run time). Empty
/// chunks are skipped; `len` gives a chunk's element count.
pub fn encode_pipe_chunks<C>(
    e: &mut Encoder,
    chunks: &[C],
    len: impl Fn(&C) -> usize,
    mut elements: impl FnMut(&C, &mut Encoder) -> Result<()>,
) -> Result<()> {
    let syntax = e.syntax();
    for chunk in chunks.iter().filter(|c| len(c) != 0) {
        let n = len(chunk) as u64;
        if n > max_chunk(syntax) {
            return Err(ErrorKind::ValueTooLarge(n).into());
        }
        e.write_conformance(n)?;
        elements(chunk, e)?;
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

/// Reads a pipe's chunks up to its terminator, the framing of [`Pipe`]'s decoding, with each
/// chunk's `n` elements read by `elements` (called once per non-empty chunk). Bounded as
/// [`Pipe`]'s decoding is: [`DecodeLimits::max_pipe_chunks`](crate::DecodeLimits::max_pipe_chunks)
/// chunks, each chunk charged to `max_bytes`; `elements` charges its elements.
pub fn decode_pipe_chunks<C>(
    d: &mut Decoder<'_>,
    mut elements: impl FnMut(&mut Decoder<'_>, u64) -> Result<C>,
) -> Result<Vec<C>> {
    let syntax = d.syntax();
    let limit = d.limits().max_pipe_chunks;
    let mut chunks = Vec::new();
    loop {
        // The next count must be there: the pipe has not been terminated yet.
        let pad = (syntax.count_size() - d.position() % syntax.count_size()) % syntax.count_size();
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
        d.charge::<Vec<C>>(1)?;
        let items = elements(d, n)?;
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
    Ok(chunks)
}

impl<T: NdrEncode> NdrEncode for Pipe<T> {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        encode_pipe_chunks(e, &self.0, Vec::len, |chunk, e| {
            T::encode_array_heads(chunk, e)
        })
    }
}

impl<T: NdrDecode> NdrDecode for Pipe<T> {
    type Head = Pipe<T>;

    fn decode_head(d: &mut Decoder<'_>) -> Result<Self::Head> {
        decode_pipe_chunks(d, |d, n| {
            let heads = T::decode_array_heads(d, n)?;
            T::decode_array_deferreds(d, heads)
        })
        .map(Pipe)
    }

    fn decode_deferred(head: Self::Head, _d: &mut Decoder<'_>) -> Result<Self> {
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DataRep, DecodeLimits, decode_all, encode_all};

    const LE: DataRep = DataRep::LITTLE_ENDIAN;

    fn decode<T: NdrDecode>(bytes: &[u8], syntax: Syntax) -> Result<Pipe<T>> {
        decode_all::<Pipe<T>>(bytes, syntax, LE, DecodeLimits::default(), true)
    }

    #[test]
    fn u16_chunks_align_after_the_count() {
        let p = Pipe::new(vec![vec![0x0102u16, 0x0304]]);
        let b = encode_all(&p, Syntax::Ndr20, LE).unwrap();
        assert_eq!(b, [2, 0, 0, 0, 2, 1, 4, 3, 0, 0, 0, 0]);
        assert_eq!(decode::<u16>(&b, Syntax::Ndr20).unwrap(), p);
        // u64 elements: the count (4 octets) is followed by padding to 8 in NDR20.
        let p = Pipe::new(vec![vec![7u64]]);
        let b = encode_all(&p, Syntax::Ndr20, LE).unwrap();
        assert_eq!(b.len(), 4 + 4 + 8 + 4);
        assert_eq!(decode::<u64>(&b, Syntax::Ndr20).unwrap(), p);
    }

    #[test]
    fn an_empty_pipe_is_only_the_terminator() {
        let p: Pipe<u8> = Pipe::default();
        assert_eq!(encode_all(&p, Syntax::Ndr20, LE).unwrap(), [0; 4]);
        assert_eq!(encode_all(&p, Syntax::Ndr64, LE).unwrap(), [0; 16]);
        assert!(
            decode::<u8>(&[0; 4], Syntax::Ndr20)
                .unwrap()
                .chunks()
                .is_empty()
        );
        assert!(
            decode::<u8>(&[0; 16], Syntax::Ndr64)
                .unwrap()
                .chunks()
                .is_empty()
        );
    }

    #[test]
    fn a_missing_terminator_is_a_clear_error() {
        let e = decode::<u8>(&[2, 0, 0, 0, 9, 9], Syntax::Ndr20).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::PipeNotTerminated { chunks: 1 });
        assert!(e.to_string().contains("pipe not terminated"), "{e}");
        let e = decode::<u8>(&[], Syntax::Ndr20).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::PipeNotTerminated { chunks: 0 });
    }

    #[test]
    fn a_count_larger_than_the_input_is_refused_before_allocating() {
        let mut b = u32::MAX.to_le_bytes().to_vec();
        b.extend_from_slice(&[1, 2, 3, 0, 0, 0, 0]);
        let e = decode::<u8>(&b, Syntax::Ndr20).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::CountTooLarge { count, .. } if *count == u64::from(u32::MAX)),
            "{e}"
        );
        // NDR64: above 2^31 - 1 elements a chunk is invalid whatever the input.
        let mut b = (1u64 << 31).to_le_bytes().to_vec();
        b.extend_from_slice(&[0; 16]);
        let e = decode::<u8>(&b, Syntax::Ndr64).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::ValueTooLarge(1 << 31));
    }

    #[test]
    fn ndr64_checks_the_negated_count() {
        let p = Pipe::new(vec![vec![5u8, 6]]);
        let mut b = encode_all(&p, Syntax::Ndr64, LE).unwrap();
        assert_eq!(decode::<u8>(&b, Syntax::Ndr64).unwrap(), p);
        b[16] = 0xfd; // -3 instead of -2
        let e = decode::<u8>(&b, Syntax::Ndr64).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::PipeChunkMismatch { count: 2, .. }),
            "{e}"
        );
        // A terminator whose second u64 is not zero.
        let mut t = vec![0u8; 16];
        t[8] = 1;
        let e = decode::<u8>(&t, Syntax::Ndr64).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::PipeChunkMismatch {
                    count: 0,
                    negated: 1
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn the_chunk_limit_and_the_byte_limit_bound_a_pipe() {
        let p: Pipe<u8> = (0..10).map(|i| vec![i]).collect();
        let b = encode_all(&p, Syntax::Ndr20, LE).unwrap();
        let limits = DecodeLimits::default().with_max_pipe_chunks(10);
        assert_eq!(
            decode_all::<Pipe<u8>>(&b, Syntax::Ndr20, LE, limits, true).unwrap(),
            p
        );
        let limits = DecodeLimits::default().with_max_pipe_chunks(9);
        let e = decode_all::<Pipe<u8>>(&b, Syntax::Ndr20, LE, limits, true).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::PipeChunkLimit(9));
        let p = Pipe::new(vec![vec![0u8; 1000]]);
        let b = encode_all(&p, Syntax::Ndr20, LE).unwrap();
        let limits = DecodeLimits::default().with_max_bytes(999);
        let e = decode_all::<Pipe<u8>>(&b, Syntax::Ndr20, LE, limits, true).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::ByteLimit(999));
    }

    #[test]
    fn helpers() {
        let p = Pipe::from_slice(&[1u8, 2, 3, 4, 5], 2);
        assert_eq!(p.chunks(), [vec![1, 2], vec![3, 4], vec![5]]);
        assert_eq!((p.total_len(), p.concat()), (5, vec![1, 2, 3, 4, 5]));
        assert_eq!(Pipe::from_slice(&[1u8], 0).chunks().len(), 1);
        assert!(Pipe::<u8>::new(vec![vec![]]).is_empty());
    }
}
