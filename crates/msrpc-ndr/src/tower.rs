//! Protocol towers (the endpoint mapper's `twr_t`).
//!
//! A tower is an octet string: a u16 floor count, then per floor a u16 length and the left-hand
//! side (protocol id first), a u16 length and the right-hand side. All these lengths are
//! **little-endian regardless of the data representation**, and the typed values inside follow
//! their own fixed rules: interface UUIDs and versions little-endian, TCP/UDP ports and IPv4
//! addresses big-endian (network order).
//!
//! [`Twr`] is the NDR type (`twr_t`: a conformant structure carrying the octet string); [`Tower`]
//! parses and builds the octet string.

use std::net::Ipv4Addr;

use uuid::Uuid;

use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::{Error, ErrorKind, Result};
use crate::rep::Syntax;
use crate::traits::{NdrDecode, NdrEncode, NdrType};
use crate::types::SyntaxId;

/// Protocol identifier: DNA/NSP.
pub const PROTO_DNET_NSP: u8 = 0x04;
/// Protocol identifier: TCP port (rhs: u16 big-endian).
pub const PROTO_TCP: u8 = 0x07;
/// Protocol identifier: UDP port (rhs: u16 big-endian).
pub const PROTO_UDP: u8 = 0x08;
/// Protocol identifier: IPv4 host (rhs: 4 octets, network order).
pub const PROTO_IP: u8 = 0x09;
/// Protocol identifier: RPC connectionless (rhs: u16 minor version).
pub const PROTO_NCADG: u8 = 0x0a;
/// Protocol identifier: RPC connection-oriented (rhs: u16 minor version).
pub const PROTO_NCACN: u8 = 0x0b;
/// Protocol identifier: local RPC (rhs: u16 minor version).
pub const PROTO_NCALRPC: u8 = 0x0c;
/// Protocol identifier: interface or transfer syntax UUID (lhs: uuid + u16 major; rhs: u16 minor).
pub const PROTO_UUID: u8 = 0x0d;
/// Protocol identifier: SMB named pipe (rhs: NUL-terminated name).
pub const PROTO_SMB: u8 = 0x0f;
/// Protocol identifier: named pipe / local endpoint name (rhs: NUL-terminated name).
pub const PROTO_NAMED_PIPE: u8 = 0x10;
/// Protocol identifier: NetBIOS host (rhs: NUL-terminated name).
pub const PROTO_NETBIOS: u8 = 0x11;

/// One floor of a tower.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Floor {
    /// 0x0d: an interface or transfer syntax.
    Uuid(SyntaxId),
    /// 0x0b: connection-oriented RPC (`ncacn`), with the protocol minor version.
    Ncacn {
        /// Minor version (normally 0).
        minor: u16,
    },
    /// 0x0a: connectionless RPC (`ncadg`), with the protocol minor version.
    Ncadg {
        /// Minor version (normally 0).
        minor: u16,
    },
    /// 0x0c: local RPC (`ncalrpc`), with the protocol minor version.
    Ncalrpc {
        /// Minor version (normally 0).
        minor: u16,
    },
    /// 0x07: TCP port.
    Tcp(u16),
    /// 0x08: UDP port.
    Udp(u16),
    /// 0x09: IPv4 address.
    Ip(Ipv4Addr),
    /// 0x0f: SMB named pipe name (such as `\PIPE\srvsvc`).
    Smb(String),
    /// 0x10: named pipe / local endpoint name (the `ncalrpc` endpoint).
    NamedPipe(String),
    /// 0x11: NetBIOS host name.
    NetBios(String),
    /// Anything else, or a known protocol with an unexpected layout, kept verbatim.
    Other {
        /// Left-hand side, protocol id first.
        lhs: Vec<u8>,
        /// Right-hand side.
        rhs: Vec<u8>,
    },
}

fn u16_rhs(rhs: &[u8], big: bool) -> Option<u16> {
    let a: [u8; 2] = rhs.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    })
}

fn str_rhs(rhs: &[u8]) -> Option<String> {
    let (last, body) = rhs.split_last()?;
    if *last != 0 || body.contains(&0) {
        return None;
    }
    String::from_utf8(body.to_vec()).ok()
}

impl Floor {
    /// Interprets raw left- and right-hand sides. Unknown or irregular floors become
    /// [`Floor::Other`], so `Floor::from_raw(l, r).to_raw() == (l, r)` always holds.
    pub fn from_raw(lhs: &[u8], rhs: &[u8]) -> Floor {
        Self::typed(lhs, rhs).unwrap_or_else(|| Floor::Other {
            lhs: lhs.to_vec(),
            rhs: rhs.to_vec(),
        })
    }

    fn typed(lhs: &[u8], rhs: &[u8]) -> Option<Floor> {
        let (&proto, rest) = lhs.split_first()?;
        let simple = rest.is_empty();
        Some(match proto {
            PROTO_UUID if rest.len() == 18 => {
                let u = Uuid::from_slice_le(&rest[..16]).ok()?;
                let major = u16::from_le_bytes([rest[16], rest[17]]);
                let minor = u16_rhs(rhs, false)?;
                Floor::Uuid(SyntaxId {
                    uuid: u,
                    major,
                    minor,
                })
            }
            PROTO_NCACN if simple => Floor::Ncacn {
                minor: u16_rhs(rhs, false)?,
            },
            PROTO_NCADG if simple => Floor::Ncadg {
                minor: u16_rhs(rhs, false)?,
            },
            PROTO_NCALRPC if simple => Floor::Ncalrpc {
                minor: u16_rhs(rhs, false)?,
            },
            PROTO_TCP if simple => Floor::Tcp(u16_rhs(rhs, true)?),
            PROTO_UDP if simple => Floor::Udp(u16_rhs(rhs, true)?),
            PROTO_IP if simple => {
                let a: [u8; 4] = rhs.try_into().ok()?;
                Floor::Ip(Ipv4Addr::from(a))
            }
            PROTO_SMB if simple => Floor::Smb(str_rhs(rhs)?),
            PROTO_NAMED_PIPE if simple => Floor::NamedPipe(str_rhs(rhs)?),
            PROTO_NETBIOS if simple => Floor::NetBios(str_rhs(rhs)?),
            _ => return None,
        })
    }

    /// The floor's raw left- and right-hand sides.
    pub fn to_raw(&self) -> (Vec<u8>, Vec<u8>) {
        fn s(proto: u8, name: &str) -> (Vec<u8>, Vec<u8>) {
            let mut r = name.as_bytes().to_vec();
            r.push(0);
            (vec![proto], r)
        }
        match self {
            Floor::Uuid(id) => {
                let mut l = vec![PROTO_UUID];
                l.extend_from_slice(&id.uuid.to_bytes_le());
                l.extend_from_slice(&id.major.to_le_bytes());
                (l, id.minor.to_le_bytes().to_vec())
            }
            Floor::Ncacn { minor } => (vec![PROTO_NCACN], minor.to_le_bytes().to_vec()),
            Floor::Ncadg { minor } => (vec![PROTO_NCADG], minor.to_le_bytes().to_vec()),
            Floor::Ncalrpc { minor } => (vec![PROTO_NCALRPC], minor.to_le_bytes().to_vec()),
            Floor::Tcp(p) => (vec![PROTO_TCP], p.to_be_bytes().to_vec()),
            Floor::Udp(p) => (vec![PROTO_UDP], p.to_be_bytes().to_vec()),
            Floor::Ip(a) => (vec![PROTO_IP], a.octets().to_vec()),
            Floor::Smb(n) => s(PROTO_SMB, n),
            Floor::NamedPipe(n) => s(PROTO_NAMED_PIPE, n),
            Floor::NetBios(n) => s(PROTO_NETBIOS, n),
            Floor::Other { lhs, rhs } => (lhs.clone(), rhs.clone()),
        }
    }

    /// The protocol identifier (first octet of the left-hand side), if any.
    pub fn protocol(&self) -> Option<u8> {
        self.to_raw().0.first().copied()
    }
}

/// A parsed protocol tower.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Tower {
    /// The floors, interface first.
    pub floors: Vec<Floor>,
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
    if b.len() < n {
        return Err(Error::new(ErrorKind::InvalidTower("truncated")));
    }
    let (h, t) = b.split_at(n);
    *b = t;
    Ok(h)
}

fn take_u16(b: &mut &[u8]) -> Result<u16> {
    let s = take(b, 2)?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

impl Tower {
    /// Parses a tower octet string. Trailing bytes after the last floor are an error.
    pub fn parse(bytes: &[u8]) -> Result<Tower> {
        let mut b = bytes;
        let count = take_u16(&mut b)?;
        // Each floor needs at least 4 bytes of lengths: bound the allocation by the input.
        if usize::from(count) * 4 > b.len() {
            return Err(Error::new(ErrorKind::InvalidTower(
                "floor count exceeds data",
            )));
        }
        let mut floors = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let ll = take_u16(&mut b)?;
            let lhs = take(&mut b, usize::from(ll))?;
            let rl = take_u16(&mut b)?;
            let rhs = take(&mut b, usize::from(rl))?;
            floors.push(Floor::from_raw(lhs, rhs));
        }
        if !b.is_empty() {
            return Err(Error::new(ErrorKind::InvalidTower("trailing bytes")));
        }
        Ok(Tower { floors })
    }

    /// Builds the octet string. Fails if there are more than 65 535 floors or a side is longer
    /// than 65 535 bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let too_big = || Error::new(ErrorKind::InvalidTower("too large"));
        let mut out = Vec::new();
        let n = u16::try_from(self.floors.len()).map_err(|_| too_big())?;
        out.extend_from_slice(&n.to_le_bytes());
        for f in &self.floors {
            let (l, r) = f.to_raw();
            for side in [l, r] {
                let len = u16::try_from(side.len()).map_err(|_| too_big())?;
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(&side);
            }
        }
        Ok(out)
    }

    /// The standard 5-floor `ncacn_ip_tcp` tower: interface, transfer syntax, ncacn, TCP port,
    /// IPv4 address.
    pub fn ncacn_ip_tcp(
        interface: SyntaxId,
        transfer: SyntaxId,
        port: u16,
        addr: Ipv4Addr,
    ) -> Tower {
        Tower {
            floors: vec![
                Floor::Uuid(interface),
                Floor::Uuid(transfer),
                Floor::Ncacn { minor: 0 },
                Floor::Tcp(port),
                Floor::Ip(addr),
            ],
        }
    }

    /// The 4-floor `ncalrpc` tower: interface, transfer syntax, ncalrpc, endpoint name.
    pub fn ncalrpc(interface: SyntaxId, transfer: SyntaxId, endpoint: &str) -> Tower {
        Tower {
            floors: vec![
                Floor::Uuid(interface),
                Floor::Uuid(transfer),
                Floor::Ncalrpc { minor: 0 },
                Floor::NamedPipe(endpoint.to_owned()),
            ],
        }
    }

    /// Floor 1: the interface id.
    pub fn interface(&self) -> Option<SyntaxId> {
        match self.floors.first() {
            Some(Floor::Uuid(id)) => Some(*id),
            _ => None,
        }
    }

    /// Floor 2: the transfer syntax.
    pub fn transfer_syntax(&self) -> Option<SyntaxId> {
        match self.floors.get(1) {
            Some(Floor::Uuid(id)) => Some(*id),
            _ => None,
        }
    }

    /// The TCP port, if a TCP floor is present.
    pub fn tcp_port(&self) -> Option<u16> {
        self.floors.iter().find_map(|f| match f {
            Floor::Tcp(p) => Some(*p),
            _ => None,
        })
    }

    /// The IPv4 address, if an IP floor is present.
    pub fn ip(&self) -> Option<Ipv4Addr> {
        self.floors.iter().find_map(|f| match f {
            Floor::Ip(a) => Some(*a),
            _ => None,
        })
    }

    /// The named-pipe / local endpoint name, if present.
    pub fn named_pipe(&self) -> Option<&str> {
        self.floors.iter().find_map(|f| match f {
            Floor::NamedPipe(n) => Some(n.as_str()),
            _ => None,
        })
    }
}

/// `twr_t`: `struct { u32 tower_length; [size_is(tower_length)] byte tower_octet_string[]; }`.
///
/// A conformant structure, so the max_count (equal to `tower_length`) comes first. Decoding
/// rejects a max_count that disagrees with `tower_length`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Twr {
    /// The tower octet string (parse with [`Tower::parse`]).
    pub tower_octet_string: Vec<u8>,
}

impl Twr {
    /// Wraps a built tower.
    pub fn from_tower(t: &Tower) -> Result<Twr> {
        Ok(Twr {
            tower_octet_string: t.to_bytes()?,
        })
    }

    /// Parses the octet string.
    pub fn tower(&self) -> Result<Tower> {
        Tower::parse(&self.tower_octet_string)
    }
}

impl NdrType for Twr {
    fn align(syntax: Syntax) -> usize {
        syntax.count_size().max(4)
    }
    fn min_size(syntax: Syntax) -> usize {
        syntax.count_size() + 4
    }
}

impl NdrEncode for Twr {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        let len = self.tower_octet_string.len() as u64;
        let len32 = u32::try_from(len).map_err(|_| Error::new(ErrorKind::ValueTooLarge(len)))?;
        e.write_conformance(len)?;
        e.align(Self::align(e.syntax()));
        e.write_u32(len32);
        e.write_bytes(&self.tower_octet_string);
        e.align_ndr64(Self::align(e.syntax()));
        Ok(())
    }
}

impl NdrDecode for Twr {
    type Head = Twr;
    fn decode_head(d: &mut Decoder<'_>) -> Result<Twr> {
        d.enter("twr_t")?;
        let max = d.read_conformance()?;
        d.align(Self::align(d.syntax()))?;
        d.push_field("tower_length");
        let len = d.read_u32()?;
        d.check_size(max, u64::from(len))?;
        d.pop();
        d.push_field("tower_octet_string");
        let n = d.check_count(max, 1)?;
        d.charge::<u8>(n)?;
        let bytes = d.take(n)?.to_vec();
        d.pop();
        d.align_ndr64(Self::align(d.syntax()))?;
        d.leave();
        Ok(Twr {
            tower_octet_string: bytes,
        })
    }
    fn decode_deferred(head: Twr, _: &mut Decoder<'_>) -> Result<Twr> {
        Ok(head)
    }
}
