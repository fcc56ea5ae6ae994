//! The bounded decoder for untrusted input.

use std::any::Any;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::rep::{DataRep, Endian, Syntax};
use crate::traits::NdrDecode;

/// Limits applied while decoding untrusted input. Every limit has a documented default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeLimits {
    /// Maximum nesting of structures, unions and pointees (default [`DecodeLimits::DEFAULT_MAX_DEPTH`] = 64).
    pub max_depth: usize,
    /// Maximum number of distinct full-pointer (`[ptr]`) referents per message
    /// (default [`DecodeLimits::DEFAULT_MAX_FULL_POINTERS`] = 65 536).
    pub max_full_pointers: usize,
    /// Maximum number of non-null pointees (`[unique]`, `[ref]`, `[ptr]`, and each node of a
    /// linked list) decoded per message (default [`DecodeLimits::DEFAULT_MAX_POINTEES`] =
    /// 1 048 576). Bounds the work of a message whose length is in pointers rather than nesting:
    /// a linked list decodes without recursing, so its length is bounded here, not by
    /// [`DecodeLimits::max_depth`].
    pub max_pointees: usize,
    /// Maximum memory, in bytes, the decoded value may take (default
    /// [`DecodeLimits::DEFAULT_MAX_BYTES`] = 64 MiB), as the decoder counts it: the in-memory
    /// size of every pointee and of every array, string and conformant element it allocates.
    /// A small wire value can be larger in memory (a 4-byte referent id becomes a boxed value);
    /// this bounds that amplification per message.
    pub max_bytes: usize,
    /// Maximum number of chunks in one DCE pipe (default
    /// [`DecodeLimits::DEFAULT_MAX_PIPE_CHUNKS`] = 65 536). A pipe's elements are also charged
    /// against [`DecodeLimits::max_bytes`], so this bounds the per-chunk overhead (a chunk of one
    /// octet is a `Vec` of its own).
    pub max_pipe_chunks: usize,
}

impl DecodeLimits {
    /// Default for [`DecodeLimits::max_depth`].
    pub const DEFAULT_MAX_DEPTH: usize = 64;
    /// Default for [`DecodeLimits::max_full_pointers`].
    pub const DEFAULT_MAX_FULL_POINTERS: usize = 65_536;
    /// Default for [`DecodeLimits::max_pointees`].
    pub const DEFAULT_MAX_POINTEES: usize = 1 << 20;
    /// Default for [`DecodeLimits::max_bytes`] (64 MiB).
    pub const DEFAULT_MAX_BYTES: usize = 64 << 20;
    /// Default for [`DecodeLimits::max_pipe_chunks`].
    pub const DEFAULT_MAX_PIPE_CHUNKS: usize = 65_536;

    /// Sets [`DecodeLimits::max_pipe_chunks`].
    pub fn with_max_pipe_chunks(mut self, v: usize) -> Self {
        self.max_pipe_chunks = v;
        self
    }

    /// Sets [`DecodeLimits::max_depth`].
    pub fn with_max_depth(mut self, v: usize) -> Self {
        self.max_depth = v;
        self
    }

    /// Sets [`DecodeLimits::max_full_pointers`].
    pub fn with_max_full_pointers(mut self, v: usize) -> Self {
        self.max_full_pointers = v;
        self
    }

    /// Sets [`DecodeLimits::max_pointees`].
    pub fn with_max_pointees(mut self, v: usize) -> Self {
        self.max_pointees = v;
        self
    }

    /// Sets [`DecodeLimits::max_bytes`].
    pub fn with_max_bytes(mut self, v: usize) -> Self {
        self.max_bytes = v;
        self
    }
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_full_pointers: Self::DEFAULT_MAX_FULL_POINTERS,
            max_pointees: Self::DEFAULT_MAX_POINTEES,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_pipe_chunks: Self::DEFAULT_MAX_PIPE_CHUNKS,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Seg {
    Type(&'static str),
    Field(&'static str),
    Index(u64),
}

type Shared = Arc<dyn Any + Send + Sync>;

#[derive(Debug)]
enum FullEntry {
    /// Seen in a head; `owner` is the occurrence number that will decode the pointee.
    Pending { owner: u64 },
    /// Decoded.
    Done(Shared),
}

/// Reads NDR from a byte slice with bounds, limits and a field path for errors.
///
/// Offsets (for alignment) count from the slice's start, which must be the start of the stub
/// data. Reads never panic: running out of input is [`ErrorKind::UnexpectedEof`].
#[derive(Debug)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    syntax: Syntax,
    rep: DataRep,
    limits: DecodeLimits,
    depth: usize,
    path: Vec<Seg>,
    full: HashMap<u64, FullEntry>,
    full_occurrences: u64,
    pointees: usize,
    bytes: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder over `bytes` with default [`DecodeLimits`].
    pub fn new(bytes: &'a [u8], syntax: Syntax, rep: DataRep) -> Self {
        Self::with_limits(bytes, syntax, rep, DecodeLimits::default())
    }

    /// A decoder with explicit limits.
    pub fn with_limits(
        bytes: &'a [u8],
        syntax: Syntax,
        rep: DataRep,
        limits: DecodeLimits,
    ) -> Self {
        Decoder {
            buf: bytes,
            pos: 0,
            syntax,
            rep,
            limits,
            depth: 0,
            path: Vec::new(),
            full: HashMap::new(),
            full_occurrences: 0,
            pointees: 0,
            bytes: 0,
        }
    }

    /// The transfer syntax.
    pub fn syntax(&self) -> Syntax {
        self.syntax
    }

    /// The data representation.
    pub fn rep(&self) -> DataRep {
        self.rep
    }

    /// The limits in force.
    pub fn limits(&self) -> &DecodeLimits {
        &self.limits
    }

    /// Current offset from the start.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Decodes a top-level parameter (or a whole value): its head, then at once its pointees.
    pub fn decode_param<T: NdrDecode>(&mut self) -> Result<T> {
        let head = T::decode_head(self)?;
        T::decode_deferred(head, self)
    }

    /// Succeeds only if every byte was consumed ([`ErrorKind::TrailingBytes`] otherwise),
    /// apart from up to 7 zero bytes of alignment padding: a client pads the stub to 4 bytes
    /// before a verification trailer (MS-RPCE 2.2.2.13), and the server strips only the trailer.
    pub fn finish(&self) -> Result<()> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        match rest.len() {
            0 => Ok(()),
            n if n < 8 && rest.iter().all(|b| *b == 0) => Ok(()),
            n => Err(Error::new(ErrorKind::TrailingBytes(n))),
        }
    }

    // ---- field path and depth ----

    /// Enters a named type (structure, union): checks the depth limit and pushes the name onto
    /// the field path. Pair with [`Decoder::leave`].
    pub fn enter(&mut self, type_name: &'static str) -> Result<()> {
        self.descend()?;
        self.path.push(Seg::Type(type_name));
        Ok(())
    }

    /// Leaves what [`Decoder::enter`] entered.
    pub fn leave(&mut self) {
        self.path.pop();
        self.ascend();
    }

    /// Increments the nesting depth without naming anything (pointees use this).
    pub fn descend(&mut self) -> Result<()> {
        if self.depth >= self.limits.max_depth {
            return Err(self.error(ErrorKind::DepthLimit(self.limits.max_depth)));
        }
        self.depth += 1;
        Ok(())
    }

    /// Undoes [`Decoder::descend`].
    pub fn ascend(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Pushes a field name onto the path. Pair with [`Decoder::pop`].
    pub fn push_field(&mut self, name: &'static str) {
        self.path.push(Seg::Field(name));
    }

    /// Pushes an array index onto the path. Pair with [`Decoder::pop`].
    pub fn push_index(&mut self, index: u64) {
        self.path.push(Seg::Index(index));
    }

    /// Pops what [`Decoder::push_field`] or [`Decoder::push_index`] pushed.
    pub fn pop(&mut self) {
        self.path.pop();
    }

    /// Runs `f` with `name` pushed as a field; pops it on success.
    ///
    /// On error the path is left as it was at the failure; that does not matter because the
    /// decode is abandoned.
    pub fn field<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        self.push_field(name);
        let v = f(self)?;
        self.pop();
        Ok(v)
    }

    /// The current field path, rendered like `NetSrvInfo101.sv101_name[2]`.
    ///
    /// A type name is shown only at the root; below a field, the field name says enough.
    pub fn path(&self) -> String {
        let mut s = String::new();
        for (i, seg) in self.path.iter().enumerate() {
            match *seg {
                Seg::Type(t) => {
                    if i == 0 {
                        s.push_str(t);
                    }
                }
                Seg::Field(f) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(f);
                }
                Seg::Index(n) => {
                    let _ = write!(s, "[{n}]");
                }
            }
        }
        s
    }

    /// Builds an error at the current field path.
    pub fn error(&self, kind: ErrorKind) -> Error {
        Error::with_path(kind, self.path())
    }

    // ---- work limits ----

    /// Counts one non-null pointee of type `T` against [`DecodeLimits::max_pointees`] and its
    /// in-memory size against [`DecodeLimits::max_bytes`]. Pointer types call it before
    /// decoding their pointee, and [`crate::list`] once per list node.
    pub fn pointee<T>(&mut self) -> Result<()> {
        if self.pointees >= self.limits.max_pointees {
            return Err(self.error(ErrorKind::PointeeLimit(self.limits.max_pointees)));
        }
        self.pointees += 1;
        self.charge::<T>(1)
    }

    /// Counts `count` values of type `T` that are about to be allocated (array elements, string
    /// units) against [`DecodeLimits::max_bytes`].
    pub fn charge<T>(&mut self, count: usize) -> Result<()> {
        let size = std::mem::size_of::<T>().max(1);
        let total = count
            .checked_mul(size)
            .and_then(|n| n.checked_add(self.bytes))
            .filter(|&n| n <= self.limits.max_bytes);
        match total {
            Some(n) => {
                self.bytes = n;
                Ok(())
            }
            None => Err(self.error(ErrorKind::ByteLimit(self.limits.max_bytes))),
        }
    }

    /// Non-null pointees decoded so far.
    pub fn pointees(&self) -> usize {
        self.pointees
    }

    /// Bytes charged so far (see [`DecodeLimits::max_bytes`]).
    pub fn bytes_charged(&self) -> usize {
        self.bytes
    }

    // ---- primitive reads ----

    /// Skips padding up to a multiple of `n` from the start. Padding content is not checked.
    pub fn align(&mut self, n: usize) -> Result<()> {
        if n > 1 {
            let pad = (n - self.pos % n) % n;
            self.take(pad)?;
        }
        Ok(())
    }

    /// NDR64 only: aligns to `n` (union arms, structure trailing padding). No-op in NDR20.
    pub fn align_ndr64(&mut self, n: usize) -> Result<()> {
        if self.syntax.is_ndr64() {
            self.align(n)?;
        }
        Ok(())
    }

    /// Takes `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(self.error(ErrorKind::UnexpectedEof {
                needed: n,
                remaining,
            }));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads an 8-bit value.
    pub fn read_u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a signed 8-bit value.
    pub fn read_i8(&mut self) -> Result<i8> {
        Ok(self.read_u8()? as i8)
    }

    /// Reads an aligned 16-bit value.
    pub fn read_u16(&mut self) -> Result<u16> {
        self.align(2)?;
        let a = self.array::<2>()?;
        Ok(match self.rep.endian() {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        })
    }

    /// Reads an aligned 32-bit value.
    pub fn read_u32(&mut self) -> Result<u32> {
        self.align(4)?;
        let a = self.array::<4>()?;
        Ok(match self.rep.endian() {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        })
    }

    /// Reads an aligned 64-bit value.
    pub fn read_u64(&mut self) -> Result<u64> {
        self.align(8)?;
        let a = self.array::<8>()?;
        Ok(match self.rep.endian() {
            Endian::Little => u64::from_le_bytes(a),
            Endian::Big => u64::from_be_bytes(a),
        })
    }

    fn read_count(&mut self) -> Result<u64> {
        match self.syntax {
            Syntax::Ndr20 => Ok(u64::from(self.read_u32()?)),
            Syntax::Ndr64 => self.read_u64(),
        }
    }

    /// Reads a conformance (max_count): u32 in NDR20, u64 in NDR64.
    pub fn read_conformance(&mut self) -> Result<u64> {
        self.read_count()
    }

    /// Reads a variance `(offset, actual_count)`.
    pub fn read_variance(&mut self) -> Result<(u64, u64)> {
        let offset = self.read_count()?;
        let actual = self.read_count()?;
        Ok((offset, actual))
    }

    /// Reads a referent id (4 bytes in NDR20, 8 in NDR64); 0 is null.
    pub fn read_referent(&mut self) -> Result<u64> {
        self.read_count()
    }

    /// Reads an NDR enum: 16-bit in NDR20, 32-bit in NDR64.
    pub fn read_enum(&mut self) -> Result<u32> {
        match self.syntax {
            Syntax::Ndr20 => Ok(u32::from(self.read_u16()?)),
            Syntax::Ndr64 => self.read_u32(),
        }
    }

    /// Reads a `[v1_enum]` enum: always 32-bit.
    pub fn read_v1_enum(&mut self) -> Result<u32> {
        self.read_u32()
    }

    // ---- checks ----

    /// Refuses a count of elements whose minimum size the remaining input could not hold.
    /// Call before allocating `count` elements. Returns the count as `usize`.
    pub fn check_count(&self, count: u64, min_element_size: usize) -> Result<usize> {
        let remaining = self.remaining();
        let needed = count.saturating_mul(min_element_size.max(1) as u64);
        if needed > remaining as u64 {
            return Err(self.error(ErrorKind::CountTooLarge {
                count,
                needed,
                remaining,
            }));
        }
        usize::try_from(count).map_err(|_| self.error(ErrorKind::ValueTooLarge(count)))
    }

    /// Checks a `[range(min, max)]` attribute.
    pub fn check_range(&self, value: u64, min: u64, max: u64) -> Result<()> {
        if value < min || value > max {
            return Err(self.error(ErrorKind::OutOfRange { value, min, max }));
        }
        Ok(())
    }

    /// Checks that a wire count agrees with its `size_is` / `length_is` field's value.
    pub fn check_size(&self, wire: u64, field: u64) -> Result<()> {
        if wire != field {
            return Err(self.error(ErrorKind::SizeMismatch { wire, field }));
        }
        Ok(())
    }

    /// Checks that a union's wire discriminant equals its `switch_is` value.
    pub fn check_switch(&self, wire: u64, expected: u64) -> Result<()> {
        if wire != expected {
            return Err(self.error(ErrorKind::SwitchMismatch { wire, expected }));
        }
        Ok(())
    }

    // ---- full pointers ----

    /// Reads a full (`[ptr]`) pointer's head. Returns `(referent_id, occurrence)` to keep in the
    /// head and pass to [`Decoder::full_pointee`] in the deferred phase.
    pub fn read_full_pointer(&mut self) -> Result<(u64, u64)> {
        let id = self.read_referent()?;
        let occurrence = self.full_occurrences;
        self.full_occurrences += 1;
        if id != 0 && !self.full.contains_key(&id) {
            if self.full.len() >= self.limits.max_full_pointers {
                return Err(self.error(ErrorKind::FullPointerLimit(self.limits.max_full_pointers)));
            }
            self.full
                .insert(id, FullEntry::Pending { owner: occurrence });
        }
        Ok((id, occurrence))
    }

    /// Resolves a full pointer in the deferred phase: decodes the pointee if this occurrence
    /// introduced the referent id, otherwise returns the object decoded earlier.
    ///
    /// An alias whose object is decoded only later in the stream (a forward alias or a cycle)
    /// is [`ErrorKind::BadAlias`].
    pub fn full_pointee<T: NdrDecode + Send + Sync + 'static>(
        &mut self,
        id: u64,
        occurrence: u64,
    ) -> Result<Option<Arc<T>>> {
        if id == 0 {
            return Ok(None);
        }
        match self.full.get(&id) {
            Some(FullEntry::Pending { owner }) if *owner == occurrence => {
                self.pointee::<T>()?;
                self.descend()?;
                let v: T = self.decode_param()?;
                self.ascend();
                let arc = Arc::new(v);
                let shared: Shared = arc.clone();
                self.full.insert(id, FullEntry::Done(shared));
                Ok(Some(arc))
            }
            Some(FullEntry::Done(shared)) => match shared.clone().downcast::<T>() {
                Ok(arc) => Ok(Some(arc)),
                Err(_) => Err(self.error(ErrorKind::BadAlias(id))),
            },
            _ => Err(self.error(ErrorKind::BadAlias(id))),
        }
    }
}

/// Decodes one whole value of type `T` from `bytes` (head then pointees).
///
/// With `reject_trailing`, any byte left over is [`ErrorKind::TrailingBytes`].
pub fn decode_all<T: NdrDecode>(
    bytes: &[u8],
    syntax: Syntax,
    rep: DataRep,
    limits: DecodeLimits,
    reject_trailing: bool,
) -> Result<T> {
    let mut d = Decoder::with_limits(bytes, syntax, rep, limits);
    let v = d.decode_param()?;
    if reject_trailing {
        d.finish()?;
    }
    Ok(v)
}

/// Encodes one whole value (head then pointees) into a fresh buffer.
pub fn encode_all<T: crate::NdrEncode + ?Sized>(
    value: &T,
    syntax: Syntax,
    rep: DataRep,
) -> Result<Vec<u8>> {
    let mut e = crate::Encoder::new(syntax, rep);
    e.encode_param(value)?;
    Ok(e.into_bytes())
}
