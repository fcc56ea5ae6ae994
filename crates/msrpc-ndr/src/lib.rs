//! NDR (Network Data Representation) for Microsoft RPC: NDR20 and NDR64, with bounded decoding of
//! untrusted input.
//!
//! No I/O, no `unsafe`, and no panics on any input. The same trait API serves both transfer
//! syntaxes: the [`Encoder`] and [`Decoder`] carry a [`Syntax`] and a [`DataRep`] (byte order,
//! parsed from the PDU header's drep with [`DataRep::parse`]) and every size that differs
//! between NDR20 and NDR64 (conformance, variance, referent ids, enums, alignment) is chosen
//! there.
//!
//! # The model
//!
//! Every value has a **head** (its inline representation; for an embedded pointer only the
//! referent id) and a **deferred** part (pointees). A structure writes all of its members' heads,
//! then each member's deferred part in member order; so embedded pointees follow the containing
//! structure or array, and a pointee's own pointees follow it (depth first). That is the order
//! Windows and Samba use. A top-level parameter is head then deferred at once
//! ([`Encoder::encode_param`], [`Decoder::decode_param`]), so its pointees follow it immediately.
//!
//! | Trait | Role |
//! |---|---|
//! | [`NdrType`] | `align(syntax)` and `min_size(syntax)` (a lower bound used to refuse huge counts) |
//! | [`NdrEncode`] | `encode_head`, `encode_deferred` |
//! | [`NdrDecode`] | `type Head`, `decode_head -> Head`, `decode_deferred(Head) -> Self` |
//! | [`NdrConformant`] / [`NdrConformantDecode`] | conformant members whose max_count is hoisted |
//!
//! Provided types: primitives (`u8` … `u64`, `i8` … `i64`, `bool`, `f32`, `f64`; see
//! [`primitives`]), [`Unique`], [`Ref`], [`Full`] pointers, fixed arrays `[T; N]`,
//! [`ConformantArray`], [`VaryingArray`], [`ConformantVaryingArray`], [`WideString`] and
//! [`NdrString`], [`uuid::Uuid`], [`ContextHandle`], [`SyntaxId`], and the endpoint mapper's
//! [`tower::Twr`] with the [`tower::Tower`] parser.
//!
//! # Rules for generated code
//!
//! 1. For each IDL type emit `NdrType`, `NdrEncode` and `NdrDecode` impls.
//!    `align` is the largest member alignment (for a union: of the discriminant and all arms).
//! 2. `encode_head` begins with `e.align(Self::align(e.syntax()))`, writes each member's head in
//!    order, and ends with `e.align_ndr64(Self::align(e.syntax()))` (NDR64 trailing padding).
//!    `encode_deferred` calls each member's `encode_deferred` in order (members without pointers
//!    may be skipped: their deferred part is empty).
//! 3. `decode_head` mirrors it and returns a tuple of the members' heads; `decode_deferred` takes
//!    the tuple and builds the value. Types without pointers may use `type Head = Self`.
//!    Wrap each type in `d.enter("TypeName")?` … `d.leave()` (depth limit, path) and each member
//!    in `d.field("member", |d| …)` so errors read `TypeName.member: …`.
//! 4. A **conformant structure** (last member a [`ConformantArray`], [`ConformantVaryingArray`],
//!    [`WideString`], [`NdrString`] or another conformant structure) writes
//!    `e.write_conformance(last.max_count())` *before* its alignment, and the last member with
//!    [`NdrConformant::encode_body_head`]. On decode, `d.read_conformance()` first and
//!    [`NdrConformantDecode::decode_body_head`] for the last member. A conformant structure also
//!    implements both conformant traits, so it can itself be hoisted into an outer structure.
//! 5. `size_is`/`length_is` fields are plain members; check them against the wire counts with
//!    [`Decoder::check_size`]. `[range]` uses [`Decoder::check_range`].
//! 6. Enums are open newtypes; encode with [`Encoder::write_enum`] (16-bit in NDR20, 32-bit in
//!    NDR64) or [`Encoder::write_v1_enum`], decode with the matching `read_*`.
//! 7. Unions: a **non-encapsulated** union's value knows its discriminant (its variant). Its head
//!    is `e.align_ndr64(A)`, the discriminant (its `switch_type`), `e.align_ndr64(A)`, then the arm's
//!    head (`A` = `Self::align`); the deferred part is the arm's deferred part. The enclosing type
//!    checks the discriminant against its `switch_is` member with [`Decoder::check_switch`]. An
//!    **encapsulated** union is a structure: align to `A`, the discriminant, `e.align(max arm
//!    alignment)`, the arm. Unknown discriminants without `[default]` are
//!    [`ErrorKind::BadSwitch`].
//! 8. Operations: the client stub calls `e.encode_param(&p)` for each `[in]` parameter in order;
//!    a top-level `[ref]` pointer is transparent (pass the pointee), a top-level `[unique]` pointer
//!    is a [`Unique`]. The server decodes them with `d.decode_param::<T>()` and calls
//!    [`Decoder::finish`] to reject trailing bytes. `[out]` parameters then the return value go
//!    the other way. `handle_t` parameters are not marshalled.
//!
//! # Example: what the IDL compiler emits
//!
//! ```idl
//! typedef struct {
//!     unsigned long count;
//!     [unique, string] wchar_t *name;
//!     [size_is(count)] unsigned short values[];
//! } Item;
//!
//! typedef [switch_type(unsigned long)] union {
//!     [case(1)] unsigned long number;
//!     [case(2)] [unique] Item *item;
//!     [default] ;
//! } Info;
//!
//! long Op([in, string] wchar_t *server, [in] unsigned long level,
//!         [in, switch_is(level)] Info *info);  // [ref] by default at the top level
//! ```
//!
//! ```
//! use msrpc_ndr::{
//!     ConformantArray, DataRep, Decoder, Encoder, ErrorKind, NdrConformant, NdrConformantDecode,
//!     NdrDecode, NdrEncode, NdrType, Result, Syntax, Unique, WideString,
//! };
//!
//! #[derive(Debug, Clone, PartialEq)]
//! pub struct Item {
//!     pub count: u32,
//!     pub name: Unique<WideString>,
//!     pub values: ConformantArray<u16>,
//! }
//!
//! impl NdrType for Item {
//!     fn align(s: Syntax) -> usize {
//!         u32::align(s).max(Unique::<WideString>::align(s)).max(ConformantArray::<u16>::align(s))
//!     }
//! }
//!
//! impl NdrEncode for Item {
//!     fn encode_head(&self, e: &mut Encoder) -> Result<()> {
//!         e.write_conformance(self.values.max_count())?; // hoisted: conformant structure
//!         e.align(Self::align(e.syntax()));
//!         self.count.encode_head(e)?;
//!         self.name.encode_head(e)?; // referent id only
//!         self.values.encode_body_head(e)?;
//!         e.align_ndr64(Self::align(e.syntax()));
//!         Ok(())
//!     }
//!     fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
//!         self.name.encode_deferred(e)?; // the string, after the whole structure
//!         self.values.encode_deferred(e)
//!     }
//! }
//!
//! impl NdrDecode for Item {
//!     type Head = (
//!         u32,
//!         <Unique<WideString> as NdrDecode>::Head,
//!         <ConformantArray<u16> as NdrDecode>::Head,
//!     );
//!     fn decode_head(d: &mut Decoder<'_>) -> Result<Self::Head> {
//!         d.enter("Item")?;
//!         let max_count = d.read_conformance()?;
//!         d.align(Self::align(d.syntax()))?;
//!         let count = d.field("count", |d| u32::decode_head(d))?;
//!         let name = d.field("name", |d| Unique::<WideString>::decode_head(d))?;
//!         let values = d.field("values", |d| {
//!             d.check_size(max_count, u64::from(count))?; // size_is(count)
//!             ConformantArray::<u16>::decode_body_head(d, max_count)
//!         })?;
//!         d.align_ndr64(Self::align(d.syntax()))?;
//!         d.leave();
//!         Ok((count, name, values))
//!     }
//!     fn decode_deferred((count, name, values): Self::Head, d: &mut Decoder<'_>) -> Result<Self> {
//!         d.enter("Item")?;
//!         let name = d.field("name", |d| Unique::decode_deferred(name, d))?;
//!         let values = d.field("values", |d| ConformantArray::decode_deferred(values, d))?;
//!         d.leave();
//!         Ok(Item { count, name, values })
//!     }
//! }
//!
//! /// A non-encapsulated union: the discriminant is the variant.
//! #[derive(Debug, Clone, PartialEq)]
//! pub enum Info {
//!     Number(u32),
//!     Item(Unique<Item>),
//!     /// `[default]` arm with no data: keeps the discriminant.
//!     Default(u32),
//! }
//!
//! impl Info {
//!     pub fn discriminant(&self) -> u32 {
//!         match self { Info::Number(_) => 1, Info::Item(_) => 2, Info::Default(d) => *d }
//!     }
//! }
//!
//! impl NdrType for Info {
//!     fn align(s: Syntax) -> usize {
//!         u32::align(s).max(u32::align(s)).max(Unique::<Item>::align(s))
//!     }
//! }
//!
//! impl NdrEncode for Info {
//!     fn encode_head(&self, e: &mut Encoder) -> Result<()> {
//!         let a = Self::align(e.syntax());
//!         e.align_ndr64(a);
//!         e.write_u32(self.discriminant());
//!         e.align_ndr64(a);
//!         match self {
//!             Info::Number(v) => v.encode_head(e),
//!             Info::Item(v) => v.encode_head(e),
//!             Info::Default(_) => Ok(()),
//!         }
//!     }
//!     fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
//!         match self {
//!             Info::Item(v) => v.encode_deferred(e),
//!             _ => Ok(()),
//!         }
//!     }
//! }
//!
//! pub enum InfoHead {
//!     Number(u32),
//!     Item(<Unique<Item> as NdrDecode>::Head),
//!     Default(u32),
//! }
//!
//! impl NdrDecode for Info {
//!     type Head = InfoHead;
//!     fn decode_head(d: &mut Decoder<'_>) -> Result<InfoHead> {
//!         d.enter("Info")?;
//!         let a = Self::align(d.syntax());
//!         d.align_ndr64(a)?;
//!         let disc = d.read_u32()?;
//!         d.align_ndr64(a)?;
//!         let head = match disc {
//!             1 => InfoHead::Number(d.field("number", |d| u32::decode_head(d))?),
//!             2 => InfoHead::Item(d.field("item", |d| Unique::<Item>::decode_head(d))?),
//!             other => InfoHead::Default(other),
//!         };
//!         d.leave();
//!         Ok(head)
//!     }
//!     fn decode_deferred(head: InfoHead, d: &mut Decoder<'_>) -> Result<Info> {
//!         d.enter("Info")?;
//!         let v = match head {
//!             InfoHead::Number(v) => Info::Number(v),
//!             InfoHead::Item(h) => Info::Item(d.field("item", |d| Unique::decode_deferred(h, d))?),
//!             InfoHead::Default(disc) => Info::Default(disc),
//!         };
//!         d.leave();
//!         Ok(v)
//!     }
//! }
//!
//! // Client stub for `Op`: [in] parameters in order.
//! let item = Item {
//!     count: 2,
//!     name: Unique::new(WideString::from("x")),
//!     values: ConformantArray(vec![7, 8]),
//! };
//! let (server, level, info) = (WideString::from("srv"), 2u32, Info::Item(Unique::new(item)));
//! let mut e = Encoder::new(Syntax::Ndr20, DataRep::LITTLE_ENDIAN);
//! e.encode_param(&server)?; // top-level [ref]: the pointee itself
//! e.encode_param(&level)?;
//! e.encode_param(&info)?;
//! let stub = e.into_bytes();
//!
//! // Server stub: decode in the same order, check switch_is, reject trailing bytes.
//! let mut d = Decoder::new(&stub, Syntax::Ndr20, DataRep::LITTLE_ENDIAN);
//! let server2: WideString = d.decode_param()?;
//! let level2: u32 = d.decode_param()?;
//! let info2: Info = d.decode_param()?;
//! d.check_switch(u64::from(info2.discriminant()), u64::from(level2))?;
//! d.finish()?;
//! assert_eq!((server2, level2, info2), (server, level, info));
//!
//! // Errors carry the field path.
//! let mut bad = stub.clone();
//! bad[32] = 9; // Item's hoisted conformance no longer matches `count`
//! let err = msrpc_ndr::decode_all::<(WideString, u32, Info)>(&bad, Syntax::Ndr20,
//!     DataRep::LITTLE_ENDIAN, Default::default(), true).unwrap_err();
//! assert!(matches!(err.kind(), ErrorKind::SizeMismatch { .. }), "{err}");
//! assert_eq!(err.path(), "Info.item.values");
//! # Ok::<(), msrpc_ndr::Error>(())
//! ```
//!
//! # Untrusted input
//!
//! - A count is checked with [`Decoder::check_count`] (`count * min_size <= remaining`) before
//!   anything is allocated, and arrays reserve at most 4096 elements up front (an element's
//!   in-memory size can exceed its wire size), growing only as elements really decode.
//! - Nesting (types entered and pointees followed) is bounded by [`DecodeLimits::max_depth`]
//!   (default 64); full-pointer referents by [`DecodeLimits::max_full_pointers`] (65 536).
//! - Work is bounded per message, whatever its shape: non-null pointees by
//!   [`DecodeLimits::max_pointees`] (default 1 048 576) and the memory the decoded value takes
//!   by [`DecodeLimits::max_bytes`] (default 64 MiB, counted as the in-memory size of every
//!   pointee and array element allocated). Linked lists ([`list`]) decode in a loop, so their
//!   length is bounded by these, not by the depth.
//! - [`decode_all`] / [`Decoder::finish`] reject trailing bytes when asked.
//! - Every error is an [`Error`] with an [`ErrorKind`] and the field path. Server stubs that
//!   want the parameter name in the path decode with
//!   `d.field("server_unc", |d| d.decode_param())`.
//! - Encoding trusts its input (it is the program's own data) and has no depth limit.
//!
//! # Wire details worth knowing
//!
//! - **Referent ids.** The encoder numbers non-null `[unique]`, embedded `[ref]` and full
//!   pointers `0x00020000, 0x00020004, …` per message, as Windows and Samba do for unique
//!   pointers. Decoders accept any non-zero id. Samba numbers *full* pointers `1, 2, …` and
//!   impacket does the same for its `[ptr]`s; both decode fine here.
//! - **Full pointers.** A referent is written once, at the first pointer (in head order) naming
//!   it; later pointers repeat the id only. Samba's generated code repeats the id but also
//!   re-sends the pointee, so a Samba message with *aliased* full pointers does not decode as
//!   aliased here (no real interface we ship relies on aliasing). A forward alias (a later
//!   pointer resolved before the owner's pointee) is [`ErrorKind::BadAlias`], never a panic.
//! - **Padding** bytes are written as zeros and not checked when read.
//! - **NDR64** ([`Syntax::Ndr64`]): conformance, variance and referent ids are u64 (aligned
//!   to 8), enums are 32-bit, structures get trailing padding to their alignment, and a
//!   non-encapsulated union aligns to its union alignment before the discriminant and again
//!   before the arm. These rules match Samba's NDR64 output byte for byte for srvsvc's
//!   `NetrServerGetInfo` (see `tests/samba_differential.rs`).
//! - **[`SyntaxId`]** is UUID + u16 major + u16 minor, each in the data representation's byte
//!   order (the layout MS-RPCE and Wireshark use for presentation contexts).
//!
//! - **[`Pipe`]** (DCE pipes) is buffered: all chunks in memory, encoded as C706's chunks in NDR20
//!   and MS-RPCE 2.2.5.3.4.5's (count, elements, negated count) in NDR64; empty chunks are not
//!   sent, and decoding is bounded by [`DecodeLimits::max_pipe_chunks`] and `max_bytes`.
//!
//! # Not supported
//!
//! Streamed (push/pull) pipes, multi-dimensional conformant arrays, `[transmit_as]`/`[wire_marshal]`, interface
//! pointers and cyclic full-pointer graphs. `[string]` types always send
//! `max_count == actual_count`; for `[size_is(n), string]` buffers use a
//! [`ConformantVaryingArray`] of `u8`/`u16` and check the terminator in generated code.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod array;
mod decode;
mod encode;
mod error;
pub mod list;
mod pipe;
mod pointer;
pub mod primitives;
mod rep;
mod string;
mod stub;
pub mod tower;
mod traits;
mod tuple;
mod types;

pub use array::{ConformantArray, ConformantVaryingArray, VaryingArray};
pub use decode::{DecodeLimits, Decoder, decode_all, encode_all};
pub use encode::{Encoder, FIRST_REFERENT_ID};
pub use error::{Error, ErrorKind, Result};
pub use pipe::{
    NDR20_MAX_CHUNK_ELEMENTS, NDR64_MAX_CHUNK_ELEMENTS, Pipe, decode_pipe_chunks,
    encode_pipe_chunks,
};
pub use pointer::{Full, Ref, Unique};
pub use primitives::{ErrorStatus, Int3264, UInt3264};
pub use rep::{DataRep, Endian, Syntax};
pub use string::{NdrString, WideString};
pub use stub::Stub;
pub use traits::{NdrConformant, NdrConformantDecode, NdrDecode, NdrEncode, NdrType};
pub use types::{ContextHandle, SyntaxId};
