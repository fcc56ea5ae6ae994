//! Primitive NDR types.
//!
//! | IDL | Rust |
//! |---|---|
//! | `small` / `unsigned small` | `i8` / `u8` |
//! | `byte`, `char`, `unsigned char` | `u8` |
//! | `boolean` | `bool` (one octet; any non-zero octet decodes as `true`) |
//! | `short` / `unsigned short`, `wchar_t` | `i16` / `u16` |
//! | `long` / `unsigned long`, `error_status_t` | `i32` / `u32` |
//! | `hyper` / `unsigned hyper` | `i64` / `u64` |
//! | `float` / `double` | `f32` / `f64` (IEEE) |
//! | `__int3264`, `unsigned __int3264` | [`Int3264`], [`UInt3264`] (4 bytes in NDR20, 8 in NDR64) |
//! | enums | generated code calls [`Encoder::write_enum`] / [`Decoder::read_enum`] |

use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::{Error, ErrorKind, Result};
use crate::rep::{Endian, Syntax};
use crate::traits::{NdrDecode, NdrEncode, NdrType};

macro_rules! prim {
    ($t:ty, $size:expr, |$e:ident, $v:ident| $enc:expr, |$d:ident| $dec:expr $(, bulk: $bulk:ident)?) => {
        impl NdrType for $t {
            fn align(_: Syntax) -> usize {
                $size
            }
            fn min_size(_: Syntax) -> usize {
                $size
            }
        }
        impl NdrEncode for $t {
            fn encode_head(&self, $e: &mut Encoder) -> Result<()> {
                let $v = *self;
                $enc;
                Ok(())
            }
            $( bulk_encode!($bulk, $t, $size); )?
            fn encode_array_deferreds(_: &[$t], _: &mut Encoder) -> Result<()> {
                Ok(())
            }
        }
        impl NdrDecode for $t {
            type Head = $t;
            fn decode_head($d: &mut Decoder<'_>) -> Result<$t> {
                $dec
            }
            fn decode_deferred(head: $t, _: &mut Decoder<'_>) -> Result<$t> {
                Ok(head)
            }
            $( bulk_decode!($bulk, $t, $size); )?
            fn decode_array_deferreds(_: &mut Decoder<'_>, heads: Vec<$t>) -> Result<Vec<$t>> {
                Ok(heads)
            }
        }
    };
}

/// Array heads of a primitive written as one run: `octets` (u8) copies the slice, `numbers` converts
/// each element to the data representation's byte order into a buffer reserved once.
macro_rules! bulk_encode {
    (octets, $t:ty, $size:expr) => {
        fn encode_array_heads(items: &[$t], e: &mut Encoder) -> Result<()> {
            e.write_bytes(items);
            Ok(())
        }
    };
    (numbers, $t:ty, $size:expr) => {
        fn encode_array_heads(items: &[$t], e: &mut Encoder) -> Result<()> {
            if items.is_empty() {
                return Ok(());
            }
            e.align($size);
            e.reserve(items.len() * $size);
            match e.rep().endian() {
                Endian::Little => items.iter().for_each(|v| e.write_bytes(&v.to_le_bytes())),
                Endian::Big => items.iter().for_each(|v| e.write_bytes(&v.to_be_bytes())),
            }
            Ok(())
        }
    };
}

/// Array heads of a primitive read as one run after one bounds check. Where the run does not fit
/// (only possible through the first element's alignment padding), the element-by-element path
/// runs instead so the error is the same as before.
macro_rules! bulk_decode {
    (octets, $t:ty, $size:expr) => {
        fn decode_array_heads(d: &mut Decoder<'_>, count: u64) -> Result<Vec<$t>> {
            let n = d.check_count(count, 1)?;
            d.charge::<$t>(n)?;
            Ok(d.take(n)?.to_vec())
        }
    };
    (numbers, $t:ty, $size:expr) => {
        fn decode_array_heads(d: &mut Decoder<'_>, count: u64) -> Result<Vec<$t>> {
            let n = d.check_count(count, $size)?;
            let pad = ($size - d.position() % $size) % $size;
            if n == 0 || pad + n * $size > d.remaining() {
                return crate::array::decode_heads_one_by_one::<$t>(d, count);
            }
            d.align($size)?;
            d.charge::<$t>(n)?;
            let run = d.take(n * $size)?;
            let chunks = run.chunks_exact($size);
            Ok(match d.rep().endian() {
                Endian::Little => chunks
                    .map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or([0; $size])))
                    .collect(),
                Endian::Big => chunks
                    .map(|c| <$t>::from_be_bytes(c.try_into().unwrap_or([0; $size])))
                    .collect(),
            })
        }
    };
}

prim!(u8, 1, |e, v| e.write_u8(v), |d| d.read_u8(), bulk: octets);
prim!(i8, 1, |e, v| e.write_i8(v), |d| d.read_i8());
prim!(bool, 1, |e, v| e.write_u8(u8::from(v)), |d| Ok(d
    .read_u8()?
    != 0));
prim!(u16, 2, |e, v| e.write_u16(v), |d| d.read_u16(), bulk: numbers);
prim!(i16, 2, |e, v| e.write_u16(v as u16), |d| Ok(
    d.read_u16()? as i16
), bulk: numbers);
prim!(u32, 4, |e, v| e.write_u32(v), |d| d.read_u32(), bulk: numbers);
prim!(i32, 4, |e, v| e.write_u32(v as u32), |d| Ok(
    d.read_u32()? as i32
), bulk: numbers);
prim!(u64, 8, |e, v| e.write_u64(v), |d| d.read_u64(), bulk: numbers);
prim!(i64, 8, |e, v| e.write_u64(v as u64), |d| Ok(
    d.read_u64()? as i64
), bulk: numbers);
prim!(f32, 4, |e, v| e.write_u32(v.to_bits()), |d| Ok(
    f32::from_bits(d.read_u32()?)
), bulk: numbers);
prim!(f64, 8, |e, v| e.write_u64(v.to_bits()), |d| Ok(
    f64::from_bits(d.read_u64()?)
), bulk: numbers);

/// `error_status_t`: a 32-bit status code.
pub type ErrorStatus = u32;

/// `__int3264` / `LONG_PTR`: 32 bits in NDR20, 64 bits in NDR64.
///
/// Encoding a value that does not fit 32 bits in NDR20 is [`ErrorKind::ValueTooLarge`]; decoding
/// NDR20 sign-extends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Int3264(pub i64);

/// `unsigned __int3264` / `ULONG_PTR` / `SIZE_T`: 32 bits in NDR20, 64 bits in NDR64.
///
/// Encoding a value above `u32::MAX` in NDR20 is [`ErrorKind::ValueTooLarge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct UInt3264(pub u64);

impl NdrType for Int3264 {
    fn align(syntax: Syntax) -> usize {
        syntax.count_size()
    }
    fn min_size(syntax: Syntax) -> usize {
        syntax.count_size()
    }
}

impl NdrType for UInt3264 {
    fn align(syntax: Syntax) -> usize {
        syntax.count_size()
    }
    fn min_size(syntax: Syntax) -> usize {
        syntax.count_size()
    }
}

impl NdrEncode for Int3264 {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        match e.syntax() {
            Syntax::Ndr20 => {
                let v = i32::try_from(self.0)
                    .map_err(|_| Error::new(ErrorKind::ValueTooLarge(self.0 as u64)))?;
                e.write_u32(v as u32);
            }
            Syntax::Ndr64 => e.write_u64(self.0 as u64),
        }
        Ok(())
    }
}

impl NdrEncode for UInt3264 {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        match e.syntax() {
            Syntax::Ndr20 => {
                let v = u32::try_from(self.0)
                    .map_err(|_| Error::new(ErrorKind::ValueTooLarge(self.0)))?;
                e.write_u32(v);
            }
            Syntax::Ndr64 => e.write_u64(self.0),
        }
        Ok(())
    }
}

impl NdrDecode for Int3264 {
    type Head = Self;
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self> {
        Ok(Int3264(match d.syntax() {
            Syntax::Ndr20 => i64::from(d.read_u32()? as i32),
            Syntax::Ndr64 => d.read_u64()? as i64,
        }))
    }
    fn decode_deferred(head: Self, _: &mut Decoder<'_>) -> Result<Self> {
        Ok(head)
    }
}

impl NdrDecode for UInt3264 {
    type Head = Self;
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self> {
        Ok(UInt3264(match d.syntax() {
            Syntax::Ndr20 => u64::from(d.read_u32()?),
            Syntax::Ndr64 => d.read_u64()?,
        }))
    }
    fn decode_deferred(head: Self, _: &mut Decoder<'_>) -> Result<Self> {
        Ok(head)
    }
}
