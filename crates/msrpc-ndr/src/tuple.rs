//! Tuples as parameter lists.
//!
//! A tuple `(A, B, ..)` encodes as a sequence of top-level parameters: `A`'s head and deferred
//! part, then `B`'s, and so on. That makes `decode_all::<(A, B)>` a whole-message helper for an
//! operation's parameters. (A tuple is *not* an NDR structure: a structure writes all heads
//! before any deferred part.)

use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::Result;
use crate::rep::Syntax;
use crate::traits::{NdrDecode, NdrEncode, NdrType};

macro_rules! tuple {
    ($($n:ident $i:tt),+) => {
        impl<$($n: NdrType),+> NdrType for ($($n,)+) {
            fn align(syntax: Syntax) -> usize {
                tuple!(@first syntax; $($n),+)
            }
            fn min_size(syntax: Syntax) -> usize {
                0 $(+ $n::min_size(syntax))+
            }
        }

        impl<$($n: NdrEncode),+> NdrEncode for ($($n,)+) {
            fn encode_head(&self, e: &mut Encoder) -> Result<()> {
                $( e.encode_param(&self.$i)?; )+
                Ok(())
            }
        }

        impl<$($n: NdrDecode),+> NdrDecode for ($($n,)+) {
            type Head = Self;
            fn decode_head(d: &mut Decoder<'_>) -> Result<Self> {
                Ok(($( d.decode_param::<$n>()?, )+))
            }
            fn decode_deferred(head: Self, _: &mut Decoder<'_>) -> Result<Self> {
                Ok(head)
            }
        }
    };
    (@first $s:ident; $first:ident $(, $rest:ident)*) => { $first::align($s) };
}

tuple!(A 0);
tuple!(A 0, B 1);
tuple!(A 0, B 1, C 2);
tuple!(A 0, B 1, C 2, D 3);
tuple!(A 0, B 1, C 2, D 3, E 4);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
