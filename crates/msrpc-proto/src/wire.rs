//! Connection-oriented PDUs (C706 §12.6, MS-RPCE 2.2.2): open code-space newtypes, the common
//! header, and parse/emit for every PDU type, in both integer data representations.
//!
//! Parsing is checked: [`Pdu::parse`] validates the header (`rpc_vers`, `frag_length`,
//! `auth_length`) against the buffer, reads the body with the byte order from `drep`, and rejects
//! trailing bytes. Nothing panics once the length checks pass. [`Pdu::emit`] is the inverse and
//! reproduces captured PDUs byte for byte (reserved fields that real peers fill with junk, such as
//! the rpc_auth_3 pad, are kept).

use std::fmt;

use bytes::Bytes;
use uuid::Uuid;

use crate::error::Error;
use crate::status::FaultStatus;

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

open_code!(
    /// The result of one presentation context in bind_ack / alter_context_resp.
    BindAckResult(u16), "6" {
    /// Accepted.
    ACCEPTANCE = 0;
    /// Rejected by the user (server application).
    USER_REJECTION = 1;
    /// Rejected by the RPC runtime; see [`ProviderReason`].
    PROVIDER_REJECTION = 2;
    /// Bind-time feature negotiation answer; the reason field holds the accepted
    /// [`BindTimeFeatures`](crate::negotiate::BindTimeFeatures) (MS-RPCE 3.3.1.5.3).
    NEGOTIATE_ACK = 3;
});

open_code!(
    /// The reason of a rejected presentation context (`p_provider_reason_t`).
    ProviderReason(u16), "6" {
    /// Reason not specified.
    NOT_SPECIFIED = 0;
    /// The abstract syntax (interface) is not supported.
    ABSTRACT_SYNTAX_NOT_SUPPORTED = 1;
    /// None of the proposed transfer syntaxes is supported.
    PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED = 2;
    /// A local limit was exceeded.
    LOCAL_LIMIT_EXCEEDED = 3;
});

open_code!(
    /// The reason in a bind_nak (`p_reject_reason_t`, C706 §12.6.4.5).
    RejectReason(u16), "6" {
    /// Reason not specified.
    NOT_SPECIFIED = 0;
    /// Temporary congestion.
    TEMPORARY_CONGESTION = 1;
    /// A local limit was exceeded.
    LOCAL_LIMIT_EXCEEDED = 2;
    /// Called presentation address unknown.
    CALLED_PADDR_UNKNOWN = 3;
    /// The protocol version is not supported.
    PROTOCOL_VERSION_NOT_SUPPORTED = 4;
    /// The default context is not supported.
    DEFAULT_CONTEXT_NOT_SUPPORTED = 5;
    /// User data not readable.
    USER_DATA_NOT_READABLE = 6;
    /// No PSAP available.
    NO_PSAP_AVAILABLE = 7;
    /// The authentication type is not recognized.
    AUTHENTICATION_TYPE_NOT_RECOGNIZED = 8;
    /// The checksum is invalid.
    INVALID_CHECKSUM = 9;
});

open_code!(
    /// `auth_type` in the security trailer (MS-RPCE 2.2.1.1.7).
    AuthType(u8), "4" {
    /// No authentication.
    NONE = 0x00;
    /// SPNEGO (Negotiate).
    SPNEGO = 0x09;
    /// NTLM.
    NTLM = 0x0A;
    /// Kerberos.
    KERBEROS = 0x10;
    /// Netlogon secure channel.
    NETLOGON = 0x44;
    /// Default.
    DEFAULT = 0xFF;
});

open_code!(
    /// `auth_level` in the security trailer (MS-RPCE 2.2.1.1.8).
    AuthLevel(u8), "4" {
    /// Default level.
    DEFAULT = 0;
    /// No protection.
    NONE = 1;
    /// Authenticate at connect only.
    CONNECT = 2;
    /// Authenticate the first fragment of each call.
    CALL = 3;
    /// Authenticate every packet.
    PACKET = 4;
    /// Sign every packet.
    PKT_INTEGRITY = 5;
    /// Sign and seal every packet.
    PKT_PRIVACY = 6;
});

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

/// An interface or transfer syntax identifier (`p_syntax_id_t`): one type shared with msrpc-ndr.
pub use msrpc_ndr::SyntaxId;

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
/// Size of the security trailer before `auth_value`.
pub const SEC_TRAILER_LEN: usize = 8;

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

/// The 8-byte security trailer plus `auth_value`, and the pad bytes before it
/// (MS-RPCE 2.2.2.11).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuthVerifier {
    /// `auth_type`.
    pub auth_type: AuthType,
    /// `auth_level`.
    pub auth_level: AuthLevel,
    /// The reserved byte (kept for byte-exact re-emission).
    pub reserved: u8,
    /// `auth_context_id`.
    pub context_id: u32,
    /// The pad bytes between the body and the trailer; their count is `auth_pad_length`.
    pub pad: Bytes,
    /// `auth_value` (token or signature); its length is `auth_length`.
    pub value: Bytes,
}

impl AuthVerifier {
    /// A verifier with no padding.
    pub fn new(auth_type: AuthType, auth_level: AuthLevel, context_id: u32, value: Bytes) -> Self {
        AuthVerifier {
            auth_type,
            auth_level,
            reserved: 0,
            context_id,
            pad: Bytes::new(),
            value,
        }
    }
}

/// A presentation context element of bind / alter_context (`p_cont_elem_t`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ContextElement {
    /// `p_cont_id`.
    pub context_id: u16,
    /// The interface.
    pub abstract_syntax: SyntaxId,
    /// Offered transfer syntaxes, in preference order.
    pub transfer_syntaxes: Vec<SyntaxId>,
}

/// One entry of the bind_ack result list (`p_result_t`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ContextResult {
    /// Result.
    pub result: BindAckResult,
    /// Reason: a [`ProviderReason`] for rejections, the accepted feature bits for NEGOTIATE_ACK.
    pub reason: u16,
    /// The accepted transfer syntax ([`SyntaxId::NIL`] when rejected).
    pub transfer_syntax: SyntaxId,
}

/// Body of request (C706 §12.6.4.9).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Request {
    /// `alloc_hint`: the sender's guess of the whole stub size; a hint only.
    pub alloc_hint: u32,
    /// `p_cont_id`.
    pub context_id: u16,
    /// `opnum`.
    pub opnum: u16,
    /// Object UUID, present iff `PFC_OBJECT_UUID` is set.
    pub object: Option<Uuid>,
    /// This fragment's stub data (without auth padding).
    pub stub: Bytes,
}

/// Body of response (C706 §12.6.4.10).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Response {
    /// `alloc_hint`.
    pub alloc_hint: u32,
    /// `p_cont_id`.
    pub context_id: u16,
    /// `cancel_count`.
    pub cancel_count: u8,
    /// The reserved byte.
    pub reserved: u8,
    /// This fragment's stub data.
    pub stub: Bytes,
}

/// Body of fault (C706 §12.6.4.7, MS-RPCE 2.2.2.8).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Fault {
    /// `alloc_hint`.
    pub alloc_hint: u32,
    /// `p_cont_id`.
    pub context_id: u16,
    /// `cancel_count`.
    pub cancel_count: u8,
    /// MS-RPCE fault flags: bit 0 = extended error information follows in `stub`.
    pub flags: u8,
    /// The status.
    pub status: FaultStatus,
    /// The reserved `u32` after the status.
    pub reserved: u32,
    /// Stub data (extended error information when flag 0x01 is set).
    pub stub: Bytes,
}

impl Fault {
    /// Fault flag: extended error information is present (MS-RPCE 2.2.2.8; its length is
    /// `alloc_hint - 0x20`).
    pub const EXTENDED_ERROR_PRESENT: u8 = 0x01;
}

/// Body of bind and alter_context (C706 §12.6.4.3, §12.6.4.1).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Bind {
    /// `max_xmit_frag`.
    pub max_xmit_frag: u16,
    /// `max_recv_frag`.
    pub max_recv_frag: u16,
    /// `assoc_group_id`: 0 for a new group.
    pub assoc_group: u32,
    /// The presentation contexts.
    pub contexts: Vec<ContextElement>,
}

/// Body of bind_ack and alter_context_resp (C706 §12.6.4.4, §12.6.4.2).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BindAck {
    /// `max_xmit_frag`.
    pub max_xmit_frag: u16,
    /// `max_recv_frag`.
    pub max_recv_frag: u16,
    /// `assoc_group_id`.
    pub assoc_group: u32,
    /// `sec_addr.port_spec` as sent, including its terminating NUL (empty when length 0, as in
    /// alter_context_resp).
    pub sec_addr: Bytes,
    /// The result list, one per offered context.
    pub results: Vec<ContextResult>,
}

impl BindAck {
    /// The secondary address as text, without the terminating NUL.
    pub fn sec_addr_str(&self) -> String {
        let raw = self.sec_addr.strip_suffix(b"\0").unwrap_or(&self.sec_addr);
        String::from_utf8_lossy(raw).into_owned()
    }

    /// A `sec_addr` field for `s`: its bytes and a NUL, or empty for an empty string.
    pub fn sec_addr_from_str(s: &str) -> Bytes {
        if s.is_empty() {
            return Bytes::new();
        }
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        Bytes::from(v)
    }
}

/// Body of bind_nak (C706 §12.6.4.5, with MS-RPCE's additions kept raw in `extra`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BindNak {
    /// The reason.
    pub reason: RejectReason,
    /// Supported protocol versions `(major, minor)`.
    pub versions: Vec<(u8, u8)>,
    /// Anything after the version list (MS-RPCE pad, signature and extended error), kept raw.
    pub extra: Bytes,
}

/// The typed body of a PDU.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum PduBody {
    /// request.
    Request(Request),
    /// response.
    Response(Response),
    /// fault.
    Fault(Fault),
    /// bind.
    Bind(Bind),
    /// bind_ack.
    BindAck(BindAck),
    /// bind_nak.
    BindNak(BindNak),
    /// alter_context.
    AlterContext(Bind),
    /// alter_context_resp.
    AlterContextResp(BindAck),
    /// rpc_auth_3 (MS-RPCE 2.2.2.10); the 4 pad bytes (any value, ignored on receipt) are kept raw.
    Auth3 {
        /// The 4 bytes before the security trailer.
        pad: [u8; 4],
    },
    /// shutdown.
    Shutdown,
    /// co_cancel.
    CoCancel,
    /// orphaned.
    Orphaned,
}

impl PduBody {
    /// The PTYPE for this body.
    pub fn packet_type(&self) -> PacketType {
        match self {
            PduBody::Request(_) => PacketType::REQUEST,
            PduBody::Response(_) => PacketType::RESPONSE,
            PduBody::Fault(_) => PacketType::FAULT,
            PduBody::Bind(_) => PacketType::BIND,
            PduBody::BindAck(_) => PacketType::BIND_ACK,
            PduBody::BindNak(_) => PacketType::BIND_NAK,
            PduBody::AlterContext(_) => PacketType::ALTER_CONTEXT,
            PduBody::AlterContextResp(_) => PacketType::ALTER_CONTEXT_RESP,
            PduBody::Auth3 { .. } => PacketType::AUTH3,
            PduBody::Shutdown => PacketType::SHUTDOWN,
            PduBody::CoCancel => PacketType::CO_CANCEL,
            PduBody::Orphaned => PacketType::ORPHANED,
        }
    }
}

/// A whole connection-oriented PDU.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Pdu {
    /// `rpc_vers_minor` (0 on output unless copied).
    pub rpc_vers_minor: u8,
    /// `pfc_flags`. On emit, `OBJECT_UUID` is derived from the request's object field.
    pub flags: PfcFlags,
    /// Data representation: selects the byte order of header and body integers.
    pub drep: Drep,
    /// `call_id`.
    pub call_id: u32,
    /// The body.
    pub body: PduBody,
    /// The security trailer, if `auth_length` was non-zero or a trailer is to be sent.
    pub auth: Option<AuthVerifier>,
}

impl Pdu {
    /// A PDU with default drep, minor version 0 and no auth.
    pub fn new(call_id: u32, flags: PfcFlags, body: PduBody) -> Pdu {
        Pdu {
            rpc_vers_minor: 0,
            flags,
            drep: Drep::LITTLE_ENDIAN,
            call_id,
            body,
            auth: None,
        }
    }

    /// The PTYPE.
    pub fn packet_type(&self) -> PacketType {
        self.body.packet_type()
    }

    /// Parse exactly one PDU: `buf.len()` must equal `frag_length`.
    pub fn parse(buf: &[u8]) -> Result<Pdu, Error> {
        Self::parse_bytes(&Bytes::copy_from_slice(buf))
    }

    /// Parse exactly one PDU from shared bytes; stub data is sliced, not copied.
    pub fn parse_bytes(buf: &Bytes) -> Result<Pdu, Error> {
        let h = Header::parse(buf)?;
        let frag_len = usize::from(h.frag_length);
        if frag_len != buf.len() {
            return Err(Error::BadFragLength {
                frag_length: h.frag_length,
                available: buf.len(),
            });
        }
        let auth_len = usize::from(h.auth_length);
        let (body_end, auth) = if auth_len == 0 {
            (frag_len, None)
        } else {
            let trailer_at = frag_len
                .checked_sub(auth_len + SEC_TRAILER_LEN)
                .filter(|&t| t >= HEADER_LEN)
                .ok_or(Error::BadAuthLength(h.auth_length))?;
            let t = &buf[trailer_at..trailer_at + SEC_TRAILER_LEN];
            let pad_len = usize::from(t[2]);
            let ctx_bytes = [t[4], t[5], t[6], t[7]];
            let context_id = if h.drep.is_little_endian() {
                u32::from_le_bytes(ctx_bytes)
            } else {
                u32::from_be_bytes(ctx_bytes)
            };
            let body_end = trailer_at
                .checked_sub(pad_len)
                .filter(|&e| e >= HEADER_LEN)
                .ok_or(Error::BadAuthLength(h.auth_length))?;
            (
                body_end,
                Some(AuthVerifier {
                    auth_type: AuthType(t[0]),
                    auth_level: AuthLevel(t[1]),
                    reserved: t[3],
                    context_id,
                    pad: buf.slice(body_end..trailer_at),
                    value: buf.slice(trailer_at + SEC_TRAILER_LEN..),
                }),
            )
        };
        let mut r = Reader::new(
            buf,
            HEADER_LEN,
            body_end,
            h.drep.is_little_endian(),
            h.ptype,
        );
        let body = parse_body(&h, &mut r)?;
        Ok(Pdu {
            rpc_vers_minor: h.rpc_vers_minor,
            flags: h.flags,
            drep: h.drep,
            call_id: h.call_id,
            body,
            auth,
        })
    }

    /// Emit the PDU, computing `frag_length`, `auth_length` and `auth_pad_length`.
    pub fn emit(&self) -> Result<Vec<u8>, Error> {
        let mut w = Writer {
            buf: Vec::with_capacity(64),
            le: self.drep.is_little_endian(),
        };
        let mut flags = self.flags;
        if let PduBody::Request(r) = &self.body {
            flags = flags.with(PfcFlags::OBJECT_UUID, r.object.is_some());
        }
        w.buf
            .extend_from_slice(&[5, self.rpc_vers_minor, self.packet_type().0, flags.0]);
        w.buf.extend_from_slice(&self.drep.0);
        w.u16(0); // frag_length, patched below
        w.u16(0); // auth_length
        w.u32(self.call_id);
        emit_body(&self.body, &mut w)?;
        if let Some(a) = &self.auth {
            let pad_len =
                u8::try_from(a.pad.len()).map_err(|_| Error::TooLarge("auth_pad_length"))?;
            let auth_len =
                u16::try_from(a.value.len()).map_err(|_| Error::TooLarge("auth_length"))?;
            w.buf.extend_from_slice(&a.pad);
            w.buf
                .extend_from_slice(&[a.auth_type.0, a.auth_level.0, pad_len, a.reserved]);
            w.u32(a.context_id);
            w.buf.extend_from_slice(&a.value);
            w.put_u16_at(10, auth_len);
        }
        let frag_len = u16::try_from(w.buf.len()).map_err(|_| Error::TooLarge("frag_length"))?;
        w.put_u16_at(8, frag_len);
        Ok(w.buf)
    }
}

fn parse_body(h: &Header, r: &mut Reader<'_>) -> Result<PduBody, Error> {
    let body = match h.ptype {
        PacketType::REQUEST => {
            let alloc_hint = r.u32()?;
            let context_id = r.u16()?;
            let opnum = r.u16()?;
            let object = if h.flags.contains(PfcFlags::OBJECT_UUID) {
                Some(r.uuid()?)
            } else {
                None
            };
            PduBody::Request(Request {
                alloc_hint,
                context_id,
                opnum,
                object,
                stub: r.rest(),
            })
        }
        PacketType::RESPONSE => PduBody::Response(Response {
            alloc_hint: r.u32()?,
            context_id: r.u16()?,
            cancel_count: r.u8()?,
            reserved: r.u8()?,
            stub: r.rest(),
        }),
        PacketType::FAULT => PduBody::Fault(Fault {
            alloc_hint: r.u32()?,
            context_id: r.u16()?,
            cancel_count: r.u8()?,
            flags: r.u8()?,
            status: FaultStatus(r.u32()?),
            reserved: r.u32()?,
            stub: r.rest(),
        }),
        PacketType::BIND => PduBody::Bind(parse_bind(r)?),
        PacketType::ALTER_CONTEXT => PduBody::AlterContext(parse_bind(r)?),
        PacketType::BIND_ACK => PduBody::BindAck(parse_bind_ack(r)?),
        PacketType::ALTER_CONTEXT_RESP => PduBody::AlterContextResp(parse_bind_ack(r)?),
        PacketType::BIND_NAK => {
            let reason = RejectReason(r.u16()?);
            // A bare bind_nak (some peers send only the reason) has no version list.
            let versions = if r.remaining() == 0 {
                Vec::new()
            } else {
                let n = r.u8()?;
                let mut v = Vec::with_capacity(usize::from(n).min(r.remaining() / 2));
                for _ in 0..n {
                    v.push((r.u8()?, r.u8()?));
                }
                v
            };
            PduBody::BindNak(BindNak {
                reason,
                versions,
                extra: r.rest(),
            })
        }
        PacketType::AUTH3 => {
            let b = r.bytes(4)?;
            PduBody::Auth3 {
                pad: [b[0], b[1], b[2], b[3]],
            }
        }
        PacketType::SHUTDOWN => PduBody::Shutdown,
        PacketType::CO_CANCEL => PduBody::CoCancel,
        PacketType::ORPHANED => PduBody::Orphaned,
        other => return Err(Error::UnknownPacketType(other)),
    };
    r.finish()?;
    Ok(body)
}

fn parse_bind(r: &mut Reader<'_>) -> Result<Bind, Error> {
    let max_xmit_frag = r.u16()?;
    let max_recv_frag = r.u16()?;
    let assoc_group = r.u32()?;
    let n = r.u8()?;
    r.bytes(3)?; // reserved, reserved2
    // Each element is at least 44 bytes: never allocate for more than the buffer can hold.
    let mut contexts = Vec::with_capacity(usize::from(n).min(r.remaining() / 44));
    for _ in 0..n {
        let context_id = r.u16()?;
        let n_ts = r.u8()?;
        r.u8()?;
        let abstract_syntax = r.syntax()?;
        let mut transfer_syntaxes = Vec::with_capacity(usize::from(n_ts).min(r.remaining() / 20));
        for _ in 0..n_ts {
            transfer_syntaxes.push(r.syntax()?);
        }
        contexts.push(ContextElement {
            context_id,
            abstract_syntax,
            transfer_syntaxes,
        });
    }
    Ok(Bind {
        max_xmit_frag,
        max_recv_frag,
        assoc_group,
        contexts,
    })
}

fn parse_bind_ack(r: &mut Reader<'_>) -> Result<BindAck, Error> {
    let max_xmit_frag = r.u16()?;
    let max_recv_frag = r.u16()?;
    let assoc_group = r.u32()?;
    let len = r.u16()?;
    let sec_addr = r.bytes_shared(usize::from(len))?;
    r.align(4)?;
    let n = r.u8()?;
    r.bytes(3)?;
    let mut results = Vec::with_capacity(usize::from(n).min(r.remaining() / 24));
    for _ in 0..n {
        results.push(ContextResult {
            result: BindAckResult(r.u16()?),
            reason: r.u16()?,
            transfer_syntax: r.syntax()?,
        });
    }
    // Windows answers a leg that completed a security context with an empty trailer
    // (auth_length 0, so the 8 bytes are not framed as a trailer): accept what follows the
    // results instead of rejecting it as trailing bytes.
    let _ = r.rest();
    Ok(BindAck {
        max_xmit_frag,
        max_recv_frag,
        assoc_group,
        sec_addr,
        results,
    })
}

fn emit_body(body: &PduBody, w: &mut Writer) -> Result<(), Error> {
    match body {
        PduBody::Request(r) => {
            w.u32(r.alloc_hint);
            w.u16(r.context_id);
            w.u16(r.opnum);
            if let Some(o) = &r.object {
                w.uuid(o);
            }
            w.buf.extend_from_slice(&r.stub);
        }
        PduBody::Response(r) => {
            w.u32(r.alloc_hint);
            w.u16(r.context_id);
            w.buf.extend_from_slice(&[r.cancel_count, r.reserved]);
            w.buf.extend_from_slice(&r.stub);
        }
        PduBody::Fault(f) => {
            w.u32(f.alloc_hint);
            w.u16(f.context_id);
            w.buf.extend_from_slice(&[f.cancel_count, f.flags]);
            w.u32(f.status.0);
            w.u32(f.reserved);
            w.buf.extend_from_slice(&f.stub);
        }
        PduBody::Bind(b) | PduBody::AlterContext(b) => {
            w.u16(b.max_xmit_frag);
            w.u16(b.max_recv_frag);
            w.u32(b.assoc_group);
            let n =
                u8::try_from(b.contexts.len()).map_err(|_| Error::TooLarge("n_context_elem"))?;
            w.buf.extend_from_slice(&[n, 0, 0, 0]);
            for c in &b.contexts {
                w.u16(c.context_id);
                let n_ts = u8::try_from(c.transfer_syntaxes.len())
                    .map_err(|_| Error::TooLarge("n_transfer_syn"))?;
                w.buf.extend_from_slice(&[n_ts, 0]);
                w.syntax(&c.abstract_syntax);
                for t in &c.transfer_syntaxes {
                    w.syntax(t);
                }
            }
        }
        PduBody::BindAck(a) | PduBody::AlterContextResp(a) => {
            w.u16(a.max_xmit_frag);
            w.u16(a.max_recv_frag);
            w.u32(a.assoc_group);
            let len = u16::try_from(a.sec_addr.len()).map_err(|_| Error::TooLarge("sec_addr"))?;
            w.u16(len);
            w.buf.extend_from_slice(&a.sec_addr);
            while !w.buf.len().is_multiple_of(4) {
                w.buf.push(0);
            }
            let n = u8::try_from(a.results.len()).map_err(|_| Error::TooLarge("n_results"))?;
            w.buf.extend_from_slice(&[n, 0, 0, 0]);
            for res in &a.results {
                w.u16(res.result.0);
                w.u16(res.reason);
                w.syntax(&res.transfer_syntax);
            }
        }
        PduBody::BindNak(n) => {
            w.u16(n.reason.0);
            let count =
                u8::try_from(n.versions.len()).map_err(|_| Error::TooLarge("n_protocols"))?;
            w.buf.push(count);
            for (maj, min) in &n.versions {
                w.buf.extend_from_slice(&[*maj, *min]);
            }
            w.buf.extend_from_slice(&n.extra);
        }
        PduBody::Auth3 { pad } => w.buf.extend_from_slice(pad),
        PduBody::Shutdown | PduBody::CoCancel | PduBody::Orphaned => {}
    }
    Ok(())
}

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
    fn put_u16_at(&mut self, at: usize, v: u16) {
        let b = if self.le {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        };
        self.buf[at..at + 2].copy_from_slice(&b);
    }
}
