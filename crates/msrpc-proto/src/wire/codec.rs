//! DCE UUIDs on the wire, and the bounds-checked reader and byte-order-aware writer the PDUs
//! are parsed and emitted with.

use bytes::Bytes;
use uuid::Uuid;

use super::{PacketType, SyntaxId};
use crate::error::Error;

/// Encode a UUID in DCE wire form: the first three fields in the given byte order, then 8 bytes.
pub fn put_uuid(buf: &mut Vec<u8>, u: &Uuid, little_endian: bool) {
    let (d1, d2, d3, d4) = u.as_fields();
    if little_endian {
        buf.extend_from_slice(&d1.to_le_bytes());
        buf.extend_from_slice(&d2.to_le_bytes());
        buf.extend_from_slice(&d3.to_le_bytes());
    } else {
        buf.extend_from_slice(&d1.to_be_bytes());
        buf.extend_from_slice(&d2.to_be_bytes());
        buf.extend_from_slice(&d3.to_be_bytes());
    }
    buf.extend_from_slice(d4);
}

/// Decode a DCE wire UUID from exactly 16 bytes.
pub fn uuid_from_wire(b: &[u8; 16], little_endian: bool) -> Uuid {
    let (d1, d2, d3) = if little_endian {
        (
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_le_bytes([b[4], b[5]]),
            u16::from_le_bytes([b[6], b[7]]),
        )
    } else {
        (
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_be_bytes([b[4], b[5]]),
            u16::from_be_bytes([b[6], b[7]]),
        )
    };
    let mut d4 = [0u8; 8];
    d4.copy_from_slice(&b[8..16]);
    Uuid::from_fields(d1, d2, d3, &d4)
}

/// A bounds-checked reader over `buf[start..end]` (rustls `Reader` style).
pub(crate) struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
    end: usize,
    le: bool,
    ptype: PacketType,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(
        buf: &'a Bytes,
        start: usize,
        end: usize,
        le: bool,
        ptype: PacketType,
    ) -> Self {
        Reader {
            buf,
            pos: start,
            end,
            le,
            ptype,
        }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.end - self.pos
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.remaining() < n {
            return Err(Error::Truncated {
                needed: self.pos + n,
                available: self.end,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        self.take(n)
    }
    pub(crate) fn bytes_shared(&mut self, n: usize) -> Result<Bytes, Error> {
        let start = self.pos;
        self.take(n)?;
        Ok(self.buf.slice(start..start + n))
    }
    pub(crate) fn rest(&mut self) -> Bytes {
        let s = self.buf.slice(self.pos..self.end);
        self.pos = self.end;
        s
    }
    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, Error> {
        let b = self.take(2)?;
        let b = [b[0], b[1]];
        Ok(if self.le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }
    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        let b = self.take(4)?;
        let b = [b[0], b[1], b[2], b[3]];
        Ok(if self.le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    pub(crate) fn uuid(&mut self) -> Result<Uuid, Error> {
        let b = self.take(16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(uuid_from_wire(&a, self.le))
    }
    pub(crate) fn syntax(&mut self) -> Result<SyntaxId, Error> {
        let uuid = self.uuid()?;
        let v = self.u32()?;
        Ok(SyntaxId {
            uuid,
            major: (v & 0xFFFF) as u16,
            minor: (v >> 16) as u16,
        })
    }
    /// Skip padding up to a multiple of `n` of the absolute offset in the PDU.
    pub(crate) fn align(&mut self, n: usize) -> Result<(), Error> {
        let pad = (n - self.pos % n) % n;
        self.take(pad).map(|_| ())
    }
    pub(crate) fn finish(&self) -> Result<(), Error> {
        if self.pos != self.end {
            return Err(Error::TrailingBytes(self.end - self.pos));
        }
        let _ = self.ptype;
        Ok(())
    }
}

/// A byte-order-aware writer.
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
    pub(crate) le: bool,
}

impl Writer {
    pub(crate) fn u16(&mut self, v: u16) {
        if self.le {
            self.buf.extend_from_slice(&v.to_le_bytes());
        } else {
            self.buf.extend_from_slice(&v.to_be_bytes());
        }
    }
    pub(crate) fn u32(&mut self, v: u32) {
        if self.le {
            self.buf.extend_from_slice(&v.to_le_bytes());
        } else {
            self.buf.extend_from_slice(&v.to_be_bytes());
        }
    }
    pub(crate) fn uuid(&mut self, u: &Uuid) {
        put_uuid(&mut self.buf, u, self.le);
    }
    pub(crate) fn syntax(&mut self, s: &SyntaxId) {
        self.uuid(&s.uuid);
        self.u32(s.version_u32());
    }
    pub(super) fn put_u16_at(&mut self, at: usize, v: u16) {
        let b = if self.le {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        };
        self.buf[at..at + 2].copy_from_slice(&b);
    }
}
