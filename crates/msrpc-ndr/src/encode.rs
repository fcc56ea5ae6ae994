//! The encoder.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::rep::{DataRep, Endian, Syntax};
use crate::traits::NdrEncode;

/// First referent id handed out; later ones step by 4 (the convention Windows and Samba share).
pub const FIRST_REFERENT_ID: u32 = 0x0002_0000;

/// Writes NDR into a growable buffer. Offsets (for alignment) count from the buffer's start,
/// which must be the start of the stub data.
#[derive(Debug)]
pub struct Encoder {
    buf: Vec<u8>,
    syntax: Syntax,
    rep: DataRep,
    next_referent: u64,
    full: HashMap<usize, FullSlot>,
    keep_alive: Vec<Arc<dyn Any + Send + Sync>>,
}

#[derive(Debug, Clone, Copy)]
struct FullSlot {
    id: u64,
    owner: usize,
    written: bool,
}

impl Encoder {
    /// A new encoder for `syntax` in data representation `rep`.
    pub fn new(syntax: Syntax, rep: DataRep) -> Self {
        Encoder {
            buf: Vec::new(),
            syntax,
            rep,
            next_referent: u64::from(FIRST_REFERENT_ID),
            full: HashMap::new(),
            keep_alive: Vec::new(),
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

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True if nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Finishes and returns the bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Encodes a top-level parameter (or a whole value): its head, then at once its pointees.
    ///
    /// Generated client stubs call this for each `[in]` parameter in order; server stubs for each
    /// `[out]` parameter and then the return value. A top-level `[ref]` pointer is transparent:
    /// pass the pointee itself.
    pub fn encode_param<T: NdrEncode + ?Sized>(&mut self, value: &T) -> Result<()> {
        value.encode_head(self)?;
        value.encode_deferred(self)
    }

    /// Pads with zeros to a multiple of `n` (1, 2, 4, 8, 16) from the buffer start.
    pub fn align(&mut self, n: usize) {
        if n > 1 {
            let pad = (n - self.buf.len() % n) % n;
            self.buf.resize(self.buf.len() + pad, 0);
        }
    }

    /// NDR64 only: aligns to `n` (for union arms and structure trailing padding). No-op in NDR20.
    pub fn align_ndr64(&mut self, n: usize) {
        if self.syntax.is_ndr64() {
            self.align(n);
        }
    }

    /// Reserves room for `additional` more bytes.
    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
    }

    /// Appends raw bytes without alignment or byte swapping.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Writes an 8-bit value (small, byte, char, boolean).
    pub fn write_u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Writes a signed 8-bit value.
    pub fn write_i8(&mut self, v: i8) {
        self.buf.push(v as u8);
    }

    /// Writes an aligned 16-bit value in the data representation's byte order.
    pub fn write_u16(&mut self, v: u16) {
        self.align(2);
        match self.rep.endian() {
            Endian::Little => self.buf.extend_from_slice(&v.to_le_bytes()),
            Endian::Big => self.buf.extend_from_slice(&v.to_be_bytes()),
        }
    }

    /// Writes an aligned 32-bit value in the data representation's byte order.
    pub fn write_u32(&mut self, v: u32) {
        self.align(4);
        match self.rep.endian() {
            Endian::Little => self.buf.extend_from_slice(&v.to_le_bytes()),
            Endian::Big => self.buf.extend_from_slice(&v.to_be_bytes()),
        }
    }

    /// Writes an aligned 64-bit value in the data representation's byte order.
    pub fn write_u64(&mut self, v: u64) {
        self.align(8);
        match self.rep.endian() {
            Endian::Little => self.buf.extend_from_slice(&v.to_le_bytes()),
            Endian::Big => self.buf.extend_from_slice(&v.to_be_bytes()),
        }
    }

    /// Writes a conformance (max_count): u32 in NDR20, u64 in NDR64, aligned to its size.
    pub fn write_conformance(&mut self, max_count: u64) -> Result<()> {
        self.write_count(max_count)
    }

    /// Writes a variance (offset, actual_count): each u32 in NDR20, u64 in NDR64.
    pub fn write_variance(&mut self, offset: u64, actual_count: u64) -> Result<()> {
        self.write_count(offset)?;
        self.write_count(actual_count)
    }

    fn write_count(&mut self, v: u64) -> Result<()> {
        match self.syntax {
            Syntax::Ndr20 => {
                let v = u32::try_from(v).map_err(|_| Error::new(ErrorKind::ValueTooLarge(v)))?;
                self.write_u32(v);
            }
            Syntax::Ndr64 => self.write_u64(v),
        }
        Ok(())
    }

    /// Writes a raw referent id (4 bytes in NDR20, 8 in NDR64).
    pub fn write_referent(&mut self, id: u64) -> Result<()> {
        self.write_count(id)
    }

    /// Writes a `[unique]` / `[ref]` pointer's referent id: 0 for null, otherwise a fresh id.
    /// Returns the id written.
    pub fn write_pointer(&mut self, non_null: bool) -> Result<u64> {
        let id = if non_null { self.fresh_referent() } else { 0 };
        self.write_referent(id)?;
        Ok(id)
    }

    fn fresh_referent(&mut self) -> u64 {
        let id = self.next_referent;
        self.next_referent = self.next_referent.wrapping_add(4);
        id
    }

    /// Writes a full (`[ptr]`) pointer's referent id.
    ///
    /// `object` is a stable key for the pointee (such as its address; `None` for null) and
    /// `occurrence` a stable key for this pointer (such as the address of the pointer value).
    /// The first occurrence to name an object gets a fresh id and owns the pointee: in the
    /// deferred phase it calls [`Encoder::claim_full_pointee`], which says whether to write the
    /// pointee (true once); later occurrences write the same id and nothing else.
    ///
    /// The key must stay unique for the whole message: [`crate::Full`] keeps its object alive in
    /// the encoder so that its address cannot be reused by another object.
    pub fn write_full_pointer(&mut self, object: Option<usize>, occurrence: usize) -> Result<()> {
        let id = match object {
            None => 0,
            Some(key) => match self.full.get(&key) {
                Some(slot) => slot.id,
                None => {
                    let id = self.fresh_referent();
                    self.full.insert(
                        key,
                        FullSlot {
                            id,
                            owner: occurrence,
                            written: false,
                        },
                    );
                    id
                }
            },
        };
        self.write_referent(id)
    }

    /// True if `occurrence` was the first full pointer to name `object` (see
    /// [`Encoder::write_full_pointer`]).
    pub fn owns_full_pointee(&self, object: usize, occurrence: usize) -> bool {
        self.full
            .get(&object)
            .is_some_and(|slot| slot.owner == occurrence)
    }

    /// Returns true exactly once per object, to its owning occurrence: the caller must then write
    /// the pointee. Every other call returns false.
    pub fn claim_full_pointee(&mut self, object: usize, occurrence: usize) -> bool {
        match self.full.get_mut(&object) {
            Some(slot) if slot.owner == occurrence && !slot.written => {
                slot.written = true;
                true
            }
            _ => false,
        }
    }

    /// Keeps a full pointer's object alive until the encoder is dropped, so that its address
    /// (the aliasing key) is not reused by another object during this message.
    pub(crate) fn keep_alive(&mut self, object: Arc<dyn Any + Send + Sync>) {
        self.keep_alive.push(object);
    }

    /// Writes an NDR enum: 16-bit in NDR20 (values above `u16::MAX` are an error), 32-bit in NDR64.
    pub fn write_enum(&mut self, v: u32) -> Result<()> {
        match self.syntax {
            Syntax::Ndr20 => {
                let v = u16::try_from(v)
                    .map_err(|_| Error::new(ErrorKind::ValueTooLarge(u64::from(v))))?;
                self.write_u16(v);
            }
            Syntax::Ndr64 => self.write_u32(v),
        }
        Ok(())
    }

    /// Writes a `[v1_enum]` enum: always 32-bit.
    pub fn write_v1_enum(&mut self, v: u32) {
        self.write_u32(v);
    }
}
