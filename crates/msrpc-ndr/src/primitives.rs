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
//! | enums | generated code calls [`Encoder::write_enum`] / [`Decoder::read_enum`] |

use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::Result;
use crate::rep::Syntax;
use crate::traits::{NdrDecode, NdrEncode, NdrType};

macro_rules! prim {
    ($t:ty, $size:expr, |$e:ident, $v:ident| $enc:expr, |$d:ident| $dec:expr) => {
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
        }
        impl NdrDecode for $t {
            type Head = $t;
            fn decode_head($d: &mut Decoder<'_>) -> Result<$t> {
                $dec
            }
            fn decode_deferred(head: $t, _: &mut Decoder<'_>) -> Result<$t> {
                Ok(head)
            }
        }
    };
}

prim!(u8, 1, |e, v| e.write_u8(v), |d| d.read_u8());
prim!(i8, 1, |e, v| e.write_i8(v), |d| d.read_i8());
prim!(bool, 1, |e, v| e.write_u8(u8::from(v)), |d| Ok(d
    .read_u8()?
    != 0));
prim!(u16, 2, |e, v| e.write_u16(v), |d| d.read_u16());
prim!(i16, 2, |e, v| e.write_u16(v as u16), |d| Ok(
    d.read_u16()? as i16
));
prim!(u32, 4, |e, v| e.write_u32(v), |d| d.read_u32());
prim!(i32, 4, |e, v| e.write_u32(v as u32), |d| Ok(
    d.read_u32()? as i32
));
prim!(u64, 8, |e, v| e.write_u64(v), |d| d.read_u64());
prim!(i64, 8, |e, v| e.write_u64(v as u64), |d| Ok(
    d.read_u64()? as i64
));
prim!(f32, 4, |e, v| e.write_u32(v.to_bits()), |d| Ok(
    f32::from_bits(d.read_u32()?)
));
prim!(f64, 8, |e, v| e.write_u64(v.to_bits()), |d| Ok(
    f64::from_bits(d.read_u64()?)
));

/// `error_status_t`: a 32-bit status code.
pub type ErrorStatus = u32;
