//! The common header: PTYPE, `pfc_flags`, the data representation, and [`Header`] itself.

use std::fmt;

use crate::error::Error;

open_code!(
    /// The PTYPE field of the common header.
    PacketType(u8), "4" {
    /// request.
    REQUEST = 0;
    /// ping (connectionless only).
    PING = 1;
    /// response.
    RESPONSE = 2;
    /// fault.
    FAULT = 3;
    /// working (connectionless only).
    WORKING = 4;
    /// nocall (connectionless only).
    NOCALL = 5;
    /// reject (connectionless only).
    REJECT = 6;
    /// ack (connectionless only).
    ACK = 7;
    /// cl_cancel (connectionless only).
    CL_CANCEL = 8;
    /// fack (connectionless only).
    FACK = 9;
    /// cancel_ack (connectionless only).
    CANCEL_ACK = 10;
    /// bind.
    BIND = 11;
    /// bind_ack.
    BIND_ACK = 12;
    /// bind_nak.
    BIND_NAK = 13;
    /// alter_context.
    ALTER_CONTEXT = 14;
    /// alter_context_resp.
    ALTER_CONTEXT_RESP = 15;
    /// rpc_auth_3.
    AUTH3 = 16;
    /// shutdown.
    SHUTDOWN = 17;
    /// co_cancel.
    CO_CANCEL = 18;
    /// orphaned.
    ORPHANED = 19;
});

open_code!(
    /// The `pfc_flags` field: a bit set (C706 §12.6.3.1, MS-RPCE 2.2.2.3).
    PfcFlags(u8), "4" {
    /// No flags.
    NONE = 0x00;
    /// First fragment of a message.
    FIRST_FRAG = 0x01;
    /// Last fragment of a message.
    LAST_FRAG = 0x02;
    /// Both FIRST_FRAG and LAST_FRAG: an unfragmented message.
    FIRST_AND_LAST = 0x03;
    /// A cancel was pending at the sender (request/response); SUPPORT_HEADER_SIGN on bind,
    /// alter_context and their replies.
    PENDING_CANCEL = 0x04;
    /// Reserved.
    RESERVED_1 = 0x08;
    /// Concurrent multiplexing supported (bind/bind_ack).
    CONC_MPX = 0x10;
    /// The call did not execute (fault).
    DID_NOT_EXECUTE = 0x20;
    /// `maybe` call semantics.
    MAYBE = 0x40;
    /// An object UUID is present (request).
    OBJECT_UUID = 0x80;
});

impl PfcFlags {
    /// SUPPORT_HEADER_SIGN, the same bit as PENDING_CANCEL on bind-family PDUs (MS-RPCE 2.2.2.3).
    pub const SUPPORT_HEADER_SIGN: PfcFlags = PfcFlags(0x04);

    /// True if every bit of `other` is set.
    pub fn contains(self, other: PfcFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// `self` with the bits of `other` set or cleared.
    #[must_use]
    pub fn with(self, other: PfcFlags, on: bool) -> PfcFlags {
        if on {
            PfcFlags(self.0 | other.0)
        } else {
            PfcFlags(self.0 & !other.0)
        }
    }
}

impl std::ops::BitOr for PfcFlags {
    type Output = PfcFlags;
    fn bitor(self, rhs: PfcFlags) -> PfcFlags {
        PfcFlags(self.0 | rhs.0)
    }
}

/// The data representation label (`drep`): byte 0 holds the integer (high nibble) and character
/// (low nibble) formats, byte 1 the floating-point format.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Drep(pub [u8; 4]);

impl Drep {
    /// Little-endian integers, ASCII, IEEE floats: `10 00 00 00`.
    pub const LITTLE_ENDIAN: Drep = Drep([0x10, 0, 0, 0]);
    /// Big-endian integers, ASCII, IEEE floats: `00 00 00 00`.
    pub const BIG_ENDIAN: Drep = Drep([0x00, 0, 0, 0]);

    /// True if integers are little-endian.
    pub fn is_little_endian(self) -> bool {
        self.0[0] & 0xF0 == 0x10
    }
}

impl Default for Drep {
    fn default() -> Self {
        Drep::LITTLE_ENDIAN
    }
}

impl fmt::Debug for Drep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Drep({:02x} {:02x} {:02x} {:02x}{})",
            self.0[0],
            self.0[1],
            self.0[2],
            self.0[3],
            if self.is_little_endian() {
                ", LE"
            } else {
                ", BE"
            }
        )
    }
}

/// The common 16-byte header of every connection-oriented PDU.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Header {
    /// `rpc_vers_minor` (0; 1 is also accepted on input).
    pub rpc_vers_minor: u8,
    /// PTYPE.
    pub ptype: PacketType,
    /// `pfc_flags`.
    pub flags: PfcFlags,
    /// Data representation.
    pub drep: Drep,
    /// `frag_length`: the whole PDU in bytes.
    pub frag_length: u16,
    /// `auth_length`: the length of the `auth_value` after the 8-byte security trailer.
    pub auth_length: u16,
    /// `call_id`.
    pub call_id: u32,
}

/// Size of the common header.
pub const HEADER_LEN: usize = 16;

impl Header {
    /// Peek the header at the start of `buf` (at least 16 bytes), checking the version.
    pub fn parse(buf: &[u8]) -> Result<Header, Error> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated {
                needed: HEADER_LEN,
                available: buf.len(),
            });
        }
        if buf[0] != 5 || buf[1] > 1 {
            return Err(Error::UnsupportedVersion {
                major: buf[0],
                minor: buf[1],
            });
        }
        let drep = Drep([buf[4], buf[5], buf[6], buf[7]]);
        let le = drep.is_little_endian();
        let u16_at = |i: usize| {
            let b = [buf[i], buf[i + 1]];
            if le {
                u16::from_le_bytes(b)
            } else {
                u16::from_be_bytes(b)
            }
        };
        let b = [buf[12], buf[13], buf[14], buf[15]];
        let call_id = if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        };
        let frag_length = u16_at(8);
        if usize::from(frag_length) < HEADER_LEN {
            return Err(Error::BadFragLength {
                frag_length,
                available: buf.len(),
            });
        }
        Ok(Header {
            rpc_vers_minor: buf[1],
            ptype: PacketType(buf[2]),
            flags: PfcFlags(buf[3]),
            drep,
            frag_length,
            auth_length: u16_at(10),
            call_id,
        })
    }
}
