//! Connection-oriented PDUs (C706 §12.6, MS-RPCE 2.2.2): open code-space newtypes, the common
//! header, and parse/emit for every PDU type, in both integer data representations.
//!
//! Parsing is checked: [`Pdu::parse`] validates the header (`rpc_vers`, `frag_length`,
//! `auth_length`) against the buffer, reads the body with the byte order from `drep`, and rejects
//! trailing bytes. Nothing panics once the length checks pass. [`Pdu::emit`] is the inverse and
//! reproduces captured PDUs byte for byte (reserved fields that real peers fill with junk, such as
//! the rpc_auth_3 pad, are kept).
//!
//! The files: `header.rs` (the common header, PTYPE, `pfc_flags`, `drep`), `bind.rs` (bind,
//! alter_context and their answers), `call.rs` (request, response, fault), `auth.rs` (the
//! security trailer), `pdu.rs` ([`Pdu`] and its parse/emit), `codec.rs` (the reader and writer).

/// An open code space: a newtype over the wire integer with named consts; unknown values stay
/// representable and print in hex.
macro_rules! open_code {
    ($(#[$m:meta])* $ty:ident($inner:ty), $width:literal { $( $(#[$doc:meta])* $name:ident = $val:expr; )* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $ty(pub $inner);

        impl $ty {
            $( $(#[$doc])* pub const $name: $ty = $ty($val); )*

            /// The name of a known value.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some(stringify!($name)), )*
                    _ => None,
                }
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => write!(f, concat!("{}({:#0", $width, "x})"), n, self.0),
                    None => write!(f, concat!(stringify!($ty), "({:#0", $width, "x})"), self.0),
                }
            }
        }

        impl From<$inner> for $ty {
            fn from(v: $inner) -> Self {
                $ty(v)
            }
        }
    };
}

mod auth;
mod bind;
mod call;
mod codec;
mod header;
mod pdu;

pub use self::auth::{AuthLevel, AuthType, AuthVerifier, SEC_TRAILER_LEN};
pub use self::bind::{
    Bind, BindAck, BindAckResult, BindNak, ContextElement, ContextResult, ProviderReason,
    RejectReason,
};
pub use self::call::{Execution, Fault, Request, Response};
pub(crate) use self::codec::{Reader, Writer};
pub use self::codec::{put_uuid, uuid_from_wire};
pub use self::header::{Drep, HEADER_LEN, Header, PacketType, PfcFlags};
pub use self::pdu::{Pdu, PduBody};

/// An interface or transfer syntax identifier (`p_syntax_id_t`): one type shared with msrpc-ndr.
pub use msrpc_ndr::SyntaxId;
