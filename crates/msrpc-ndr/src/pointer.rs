//! Pointers: `[unique]`, `[ref]` and full (`[ptr]`).
//!
//! Embedded pointers (in structures, unions and arrays) write a referent id in the head and their
//! pointee in the deferred phase. At the top level, [`Encoder::encode_param`] runs the deferred
//! phase at once, so a `[unique]` parameter's pointee follows its referent id immediately.
//! A top-level `[ref]` pointer has no wire representation of its own: generated code passes the
//! pointee directly instead of a [`Ref`].

use std::sync::Arc;

use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::{ErrorKind, Result};
use crate::rep::Syntax;
use crate::traits::{NdrDecode, NdrEncode, NdrType};

/// A `[unique]` pointer: may be null, never aliased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Unique<T>(pub Option<Box<T>>);

impl<T> Unique<T> {
    /// A non-null pointer to `value`.
    pub fn new(value: T) -> Self {
        Unique(Some(Box::new(value)))
    }

    /// The null pointer.
    pub const fn null() -> Self {
        Unique(None)
    }

    /// The pointee, if any.
    pub fn as_ref(&self) -> Option<&T> {
        self.0.as_deref()
    }

    /// True if null.
    pub fn is_null(&self) -> bool {
        self.0.is_none()
    }

    /// Takes the pointee out.
    pub fn into_inner(self) -> Option<T> {
        self.0.map(|b| *b)
    }
}

impl<T> Default for Unique<T> {
    fn default() -> Self {
        Unique(None)
    }
}

impl<T> From<Option<T>> for Unique<T> {
    fn from(v: Option<T>) -> Self {
        Unique(v.map(Box::new))
    }
}

impl<T> NdrType for Unique<T> {
    fn align(syntax: Syntax) -> usize {
        syntax.pointer_size()
    }
    fn min_size(syntax: Syntax) -> usize {
        syntax.pointer_size()
    }
}

impl<T: NdrEncode> NdrEncode for Unique<T> {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        e.write_pointer(self.0.is_some()).map(|_| ())
    }
    fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
        match &self.0 {
            Some(v) => e.encode_param(&**v),
            None => Ok(()),
        }
    }
}

impl<T: NdrDecode> NdrDecode for Unique<T> {
    /// True if the referent id was non-zero.
    type Head = bool;
    fn decode_head(d: &mut Decoder<'_>) -> Result<bool> {
        Ok(d.read_referent()? != 0)
    }
    fn decode_deferred(head: bool, d: &mut Decoder<'_>) -> Result<Self> {
        if !head {
            return Ok(Unique(None));
        }
        d.pointee::<T>()?;
        d.descend()?;
        let v = d.decode_param::<T>()?;
        d.ascend();
        Ok(Unique(Some(Box::new(v))))
    }
}

/// An embedded `[ref]` pointer: never null. (At the top level, pass `T` itself.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ref<T>(pub Box<T>);

impl<T> Ref<T> {
    /// A pointer to `value`.
    pub fn new(value: T) -> Self {
        Ref(Box::new(value))
    }
}

impl<T> std::ops::Deref for Ref<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> NdrType for Ref<T> {
    fn align(syntax: Syntax) -> usize {
        syntax.pointer_size()
    }
    fn min_size(syntax: Syntax) -> usize {
        syntax.pointer_size()
    }
}

impl<T: NdrEncode> NdrEncode for Ref<T> {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        e.write_pointer(true).map(|_| ())
    }
    fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
        e.encode_param(&*self.0)
    }
}

impl<T: NdrDecode> NdrDecode for Ref<T> {
    /// The (non-zero) referent id.
    type Head = u64;
    fn decode_head(d: &mut Decoder<'_>) -> Result<u64> {
        match d.read_referent()? {
            0 => Err(d.error(ErrorKind::NullRefPointer)),
            id => Ok(id),
        }
    }
    fn decode_deferred(_: u64, d: &mut Decoder<'_>) -> Result<Self> {
        d.pointee::<T>()?;
        d.descend()?;
        let v = d.decode_param::<T>()?;
        d.ascend();
        Ok(Ref(Box::new(v)))
    }
}

/// A full (`[ptr]`) pointer: may be null and may alias.
///
/// Pointers that share an [`Arc`] get the same referent id on the wire and the pointee is written
/// once, at the first pointer (in head order) that names it. Decoding rebuilds the sharing: every
/// pointer with the same referent id yields a clone of the same `Arc`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Full<T>(pub Option<Arc<T>>);

impl<T> Full<T> {
    /// A non-null pointer to a new object.
    pub fn new(value: T) -> Self {
        Full(Some(Arc::new(value)))
    }

    /// The null pointer.
    pub const fn null() -> Self {
        Full(None)
    }

    /// The pointee, if any.
    pub fn as_ref(&self) -> Option<&T> {
        self.0.as_deref()
    }

    fn object_key(&self) -> Option<usize> {
        self.0
            .as_ref()
            .map(|a| Arc::as_ptr(a) as *const () as usize)
    }

    fn occurrence_key(&self) -> usize {
        self as *const Self as *const () as usize
    }
}

impl<T> Default for Full<T> {
    fn default() -> Self {
        Full(None)
    }
}

impl<T> NdrType for Full<T> {
    fn align(syntax: Syntax) -> usize {
        syntax.pointer_size()
    }
    fn min_size(syntax: Syntax) -> usize {
        syntax.pointer_size()
    }
}

impl<T: NdrEncode + Send + Sync + 'static> NdrEncode for Full<T> {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        if let Some(a) = &self.0 {
            e.keep_alive(a.clone());
        }
        e.write_full_pointer(self.object_key(), self.occurrence_key())
    }
    fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
        match (&self.0, self.object_key()) {
            (Some(v), Some(key)) if e.claim_full_pointee(key, self.occurrence_key()) => {
                e.encode_param(&**v)
            }
            _ => Ok(()),
        }
    }
}

impl<T: NdrDecode + Send + Sync + 'static> NdrDecode for Full<T> {
    /// `(referent_id, occurrence)` from [`Decoder::read_full_pointer`].
    type Head = (u64, u64);
    fn decode_head(d: &mut Decoder<'_>) -> Result<(u64, u64)> {
        d.read_full_pointer()
    }
    fn decode_deferred((id, occ): (u64, u64), d: &mut Decoder<'_>) -> Result<Self> {
        Ok(Full(d.full_pointee::<T>(id, occ)?))
    }
}
