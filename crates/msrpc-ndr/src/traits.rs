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
