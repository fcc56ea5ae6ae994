//! Transfer syntax and data representation.

use crate::error::{ErrorKind, Result};

/// The NDR transfer syntax in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Syntax {
    /// NDR 2.0, `8a885d04-1ceb-11c9-9fe8-08002b104860` v2.
    #[default]
    Ndr20,
    /// NDR64, `71710533-beba-4937-8319-b5dbef9ccc36` v1.
    Ndr64,
}

impl Syntax {
    /// Size in bytes of conformance, variance and pointer (referent id) fields: 4 or 8.
    pub const fn count_size(self) -> usize {
        match self {
            Syntax::Ndr20 => 4,
            Syntax::Ndr64 => 8,
        }
    }

    /// Size in bytes of a pointer (referent id): 4 in NDR20, 8 in NDR64.
    pub const fn pointer_size(self) -> usize {
        self.count_size()
    }

    /// Size in bytes of an enum on the wire: 2 in NDR20 (unless `v1_enum`), 4 in NDR64.
    pub const fn enum_size(self) -> usize {
        match self {
            Syntax::Ndr20 => 2,
            Syntax::Ndr64 => 4,
        }
    }

    /// True for NDR64.
    pub const fn is_ndr64(self) -> bool {
        matches!(self, Syntax::Ndr64)
    }
}

/// Integer byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Endian {
    /// Little-endian (drep byte 0 high nibble = 1).
    #[default]
    Little,
    /// Big-endian (drep byte 0 high nibble = 0).
    Big,
}

/// The data representation from the 4 `drep` bytes of a PDU header.
///
/// Only ASCII characters and IEEE floating point are supported; [`DataRep::parse`] rejects the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DataRep {
    endian: Endian,
}

impl DataRep {
    /// Little-endian, ASCII, IEEE: drep `10 00 00 00`.
    pub const LITTLE_ENDIAN: DataRep = DataRep {
        endian: Endian::Little,
    };
    /// Big-endian, ASCII, IEEE: drep `00 00 00 00`.
    pub const BIG_ENDIAN: DataRep = DataRep {
        endian: Endian::Big,
    };

    /// A data representation with the given byte order (ASCII, IEEE).
    pub const fn new(endian: Endian) -> Self {
        DataRep { endian }
    }

    /// Parses the 4 drep bytes. Rejects EBCDIC and non-IEEE floating point.
    pub fn parse(drep: [u8; 4]) -> Result<Self> {
        let endian = match drep[0] >> 4 {
            0 => Endian::Big,
            1 => Endian::Little,
            other => return Err(ErrorKind::UnsupportedIntegerRep(other).into()),
        };
        match drep[0] & 0x0f {
            0 => {}
            _ => return Err(ErrorKind::UnsupportedEbcdic.into()),
        }
        if drep[1] != 0 {
            return Err(ErrorKind::UnsupportedFloatRep(drep[1]).into());
        }
        Ok(DataRep { endian })
    }

    /// The 4 drep bytes for this representation.
    pub const fn to_bytes(self) -> [u8; 4] {
        match self.endian {
            Endian::Little => [0x10, 0, 0, 0],
            Endian::Big => [0, 0, 0, 0],
        }
    }

    /// The integer byte order.
    pub const fn endian(self) -> Endian {
        self.endian
    }
}
