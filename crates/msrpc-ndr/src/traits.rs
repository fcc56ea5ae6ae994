//! The traits that generated code implements and calls.

use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::Result;
use crate::rep::Syntax;

/// Static layout facts about an NDR type.
///
/// Every encodable or decodable type implements this; generated code emits one impl per IDL type.
pub trait NdrType {
    /// Alignment (1, 2, 4 or 8) of the type's head in `syntax`.
    ///
    /// For a structure this is the largest alignment of its members (including the element
    /// alignment of a trailing conformant array); for a union in NDR64 it is the largest of the
    /// discriminant's and every arm's alignment.
    fn align(syntax: Syntax) -> usize;

    /// A lower bound on the bytes one value's head takes on the wire (default 1).
    ///
    /// Decoders use it to refuse counts the remaining input could never hold before allocating:
    /// `count * min_size <= remaining`. It must never be larger than the real minimum.
    fn min_size(syntax: Syntax) -> usize {
        let _ = syntax;
        1
    }
}

/// Encoding in two phases: the head (inline part) and the deferred part (pointees).
///
/// Contract for implementors:
/// - `encode_head` starts by aligning the encoder to [`NdrType::align`] (primitives do it
///   themselves, so a struct that begins with `e.align(..)` is enough) and writes every inline
///   field's head in order: for embedded pointers only the referent id.
/// - `encode_deferred` writes, in field order, each field's deferred part (pointees of embedded
///   pointers, each as head then deferred). Types without pointers keep the default no-op.
///
/// A top-level parameter is written with [`Encoder::encode_param`], which runs both phases.
pub trait NdrEncode: NdrType {
    /// Writes the inline representation.
    fn encode_head(&self, e: &mut Encoder) -> Result<()>;

    /// Writes the deferred pointees (default: none).
    fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
        let _ = e;
        Ok(())
    }

    /// Writes the heads of an array's elements, in order. The default calls
    /// [`encode_head`](NdrEncode::encode_head) for each; primitives override it to write the whole
    /// run at once (one alignment, one reservation, one copy for octets). An empty slice writes
    /// nothing, not even alignment.
    fn encode_array_heads(items: &[Self], e: &mut Encoder) -> Result<()>
    where
        Self: Sized,
    {
        items.iter().try_for_each(|v| v.encode_head(e))
    }

    /// Writes the deferred parts of an array's elements, in order. The default calls
    /// [`encode_deferred`](NdrEncode::encode_deferred) for each; types without pointers override
    /// it with nothing.
    fn encode_array_deferreds(items: &[Self], e: &mut Encoder) -> Result<()>
    where
        Self: Sized,
    {
        items.iter().try_for_each(|v| v.encode_deferred(e))
    }
}

/// Decoding in two phases, mirroring [`NdrEncode`].
///
/// `decode_head` reads the inline part into a [`Head`](NdrDecode::Head) value, in which an
/// embedded pointer is only its referent id. `decode_deferred` consumes that head, reads the
/// pointees in the same order the encoder wrote them, and yields the finished value.
///
/// Types with no embedded pointers use `type Head = Self` and return the head unchanged.
/// A generated structure uses a tuple of its fields' heads; a generated union uses an enum of
/// its arms' heads.
///
/// A top-level parameter is read with [`Decoder::decode_param`], which runs both phases.
pub trait NdrDecode: NdrType + Sized {
    /// The inline part of a value, waiting for its deferred pointees.
    type Head;

    /// Reads the inline representation (aligning first, like [`NdrEncode::encode_head`]).
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self::Head>;

    /// Reads the deferred pointees and completes the value.
    fn decode_deferred(head: Self::Head, d: &mut Decoder<'_>) -> Result<Self>;

    /// Reads the heads of `count` array elements, after checking that the input can hold them
    /// ([`Decoder::check_count`]). The default decodes each head with its index on the error path;
    /// primitives override it to read the whole run at once.
    fn decode_array_heads(d: &mut Decoder<'_>, count: u64) -> Result<Vec<Self::Head>> {
        crate::array::decode_heads_one_by_one::<Self>(d, count)
    }

    /// Completes array elements with their deferred parts, in order. The default calls
    /// [`decode_deferred`](NdrDecode::decode_deferred) for each; primitives (whose head is the
    /// value) override it to hand the heads back unchanged.
    fn decode_array_deferreds(d: &mut Decoder<'_>, heads: Vec<Self::Head>) -> Result<Vec<Self>> {
        crate::array::decode_deferreds_one_by_one::<Self>(d, heads)
    }
}

/// A type whose size is set by a conformance (max_count) that NDR hoists to the front of the
/// enclosing structure: conformant and conformant-varying arrays, [`crate::WideString`] /
/// [`crate::NdrString`] used as a structure's last member, and conformant structures.
///
/// When such a value is the **last member of a structure**, generated code writes
/// `e.write_conformance(field.max_count())` *before* aligning the structure, and then
/// [`encode_body_head`](NdrConformant::encode_body_head) in the member's place.
/// Elsewhere (as a pointee or a top-level parameter) the ordinary [`NdrEncode::encode_head`]
/// writes the conformance itself.
pub trait NdrConformant: NdrEncode {
    /// The conformance (max_count) to hoist.
    fn max_count(&self) -> u64;

    /// Writes the head without the conformance (which was hoisted).
    fn encode_body_head(&self, e: &mut Encoder) -> Result<()>;
}

/// Decoding counterpart of [`NdrConformant`].
///
/// Generated code for a conformant structure calls `d.read_conformance()` before aligning the
/// structure and passes the value to
/// [`decode_body_head`](NdrConformantDecode::decode_body_head) for the last member.
pub trait NdrConformantDecode: NdrDecode {
    /// Reads the head after the hoisted conformance `max_count` was read.
    fn decode_body_head(d: &mut Decoder<'_>, max_count: u64) -> Result<Self::Head>;
}
