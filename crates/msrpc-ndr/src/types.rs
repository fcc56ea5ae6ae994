//! Hand-written impls for the base types the runtime needs: UUIDs, context handles and
//! syntax identifiers.

use uuid::Uuid;

use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::Result;
use crate::rep::Syntax;
use crate::traits::{NdrDecode, NdrEncode, NdrType};

/// A UUID (`GUID`) is the structure `{u32, u16, u16, u8[8]}` on the wire, so its first three
/// fields follow the data representation's byte order (the DCE "mixed-endian" form in
/// little-endian). Alignment 4, 16 bytes.
impl NdrType for Uuid {
    fn align(_: Syntax) -> usize {
        4
    }
    fn min_size(_: Syntax) -> usize {
        16
    }
}

impl NdrEncode for Uuid {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        let (d1, d2, d3, d4) = self.as_fields();
        e.write_u32(d1);
        e.write_u16(d2);
        e.write_u16(d3);
        e.write_bytes(d4);
        Ok(())
    }
}

impl NdrDecode for Uuid {
    type Head = Uuid;
    fn decode_head(d: &mut Decoder<'_>) -> Result<Uuid> {
        let d1 = d.read_u32()?;
        let d2 = d.read_u16()?;
        let d3 = d.read_u16()?;
        let mut d4 = [0u8; 8];
        d4.copy_from_slice(d.take(8)?);
        Ok(Uuid::from_fields(d1, d2, d3, &d4))
    }
    fn decode_deferred(head: Uuid, _: &mut Decoder<'_>) -> Result<Uuid> {
        Ok(head)
    }
}

/// A context handle (`policy_handle`, `[context_handle] void *`): 20 bytes, a u32 of attributes
/// and a UUID. The all-zero handle is the null handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ContextHandle {
    /// Attributes (Samba's `handle_type`); 0 in practice.
    pub attributes: u32,
    /// The handle's identity.
    pub uuid: Uuid,
}

impl ContextHandle {
    /// The null handle (all zeros).
    pub const NULL: ContextHandle = ContextHandle {
        attributes: 0,
        uuid: Uuid::nil(),
    };

    /// True for the all-zero handle.
    pub fn is_null(&self) -> bool {
        self.attributes == 0 && self.uuid.is_nil()
    }
}

impl NdrType for ContextHandle {
    fn align(_: Syntax) -> usize {
        4
    }
    fn min_size(_: Syntax) -> usize {
        20
    }
}

impl NdrEncode for ContextHandle {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        e.write_u32(self.attributes);
        self.uuid.encode_head(e)
    }
}

impl NdrDecode for ContextHandle {
    type Head = ContextHandle;
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self> {
        let attributes = d.read_u32()?;
        let uuid = Uuid::decode_head(d)?;
        Ok(ContextHandle { attributes, uuid })
    }
    fn decode_deferred(head: Self, _: &mut Decoder<'_>) -> Result<Self> {
        Ok(head)
    }
}

/// An interface or transfer syntax identifier (`RPC_SYNTAX_IDENTIFIER`, `p_syntax_id_t`):
/// UUID, u16 major version, u16 minor version. 20 bytes, alignment 4.
///
/// In little-endian this is byte-identical to C706's `{uuid; u32 if_version}` with the major
/// version in the low 16 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SyntaxId {
    /// Interface or transfer syntax UUID.
    pub uuid: Uuid,
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl SyntaxId {
    /// NDR20: `8a885d04-1ceb-11c9-9fe8-08002b104860` v2.0.
    pub const NDR20: SyntaxId = SyntaxId {
        uuid: Uuid::from_u128(0x8a885d04_1ceb_11c9_9fe8_08002b104860),
        major: 2,
        minor: 0,
    };
    /// NDR64: `71710533-beba-4937-8319-b5dbef9ccc36` v1.0.
    pub const NDR64: SyntaxId = SyntaxId {
        uuid: Uuid::from_u128(0x71710533_beba_4937_8319_b5dbef9ccc36),
        major: 1,
        minor: 0,
    };

    /// The nil syntax a server returns with rejected presentation contexts.
    pub const NIL: SyntaxId = SyntaxId {
        uuid: Uuid::nil(),
        major: 0,
        minor: 0,
    };

    /// A syntax id.
    pub const fn new(uuid: Uuid, major: u16, minor: u16) -> Self {
        SyntaxId { uuid, major, minor }
    }

    /// The version as one wire `u32`, major version in the low 16 bits (C706 `p_syntax_id_t`).
    pub fn version_u32(&self) -> u32 {
        u32::from(self.major) | (u32::from(self.minor) << 16)
    }

    /// The interface version rule (C706 12.6.4.3, MS-RPCE 3.3.1.5.1): the same UUID and major version,
    /// and the served minor version at least the one asked for.
    pub fn is_served_by(&self, served: &SyntaxId) -> bool {
        self.uuid == served.uuid && self.major == served.major && served.minor >= self.minor
    }
}

impl std::fmt::Display for SyntaxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} v{}.{}", self.uuid, self.major, self.minor)
    }
}

impl NdrType for SyntaxId {
    fn align(_: Syntax) -> usize {
        4
    }
    fn min_size(_: Syntax) -> usize {
        20
    }
}

impl NdrEncode for SyntaxId {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        self.uuid.encode_head(e)?;
        e.write_u16(self.major);
        e.write_u16(self.minor);
        Ok(())
    }
}

impl NdrDecode for SyntaxId {
    type Head = SyntaxId;
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self> {
        let uuid = Uuid::decode_head(d)?;
        let major = d.read_u16()?;
        let minor = d.read_u16()?;
        Ok(SyntaxId { uuid, major, minor })
    }
    fn decode_deferred(head: Self, _: &mut Decoder<'_>) -> Result<Self> {
        Ok(head)
    }
}
