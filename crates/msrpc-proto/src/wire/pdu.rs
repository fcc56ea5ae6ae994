//! A whole PDU: its typed body, and parse/emit.

use bytes::Bytes;

use super::bind::{parse_bind, parse_bind_ack};
use super::{
    AuthLevel, AuthType, AuthVerifier, Bind, BindAck, BindNak, Drep, Fault, HEADER_LEN, Header,
    PacketType, PfcFlags, Reader, RejectReason, Request, Response, SEC_TRAILER_LEN, Writer,
};
use crate::error::Error;
use crate::status::FaultStatus;

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

/// The offset an auth_pad_length of a bind or alter_context is counted from (the 24 bytes of a
/// request's header and fixed fields, as Windows checks it).
const BIND_PAD_BASE: usize = 24;

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
        Self::decode(&Header::parse(buf)?, buf)
    }

    /// Decode one PDU whose header was already parsed from `buf`'s first 16 bytes (by the
    /// framer: [`Frame`](crate::frag::Frame)); the header is not parsed again. Stub data is
    /// sliced, not copied.
    pub fn decode(h: &Header, buf: &Bytes) -> Result<Pdu, Error> {
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
            let in_body = in_body_pad(h);
            let body_end = if in_body || h.ptype == PacketType::ALTER_CONTEXT {
                // Windows does not strip auth_pad_length from a bind, alter_context or
                // rpc_auth_3: the body runs to the trailer, and the pad is only checked to fit
                // after the first 24 bytes (the suite's test_ntlmssp_auth_pad_ok,
                // test_spnego_auth_pad_fail_bind, test_spnego_auth_pad_fail_alter).
                // For rpc_auth_3 the pad must fit after its own 4-byte body: Windows faults a
                // pad of 1 on a 20-byte one (test_ntlmssp_auth_pad_fail_auth3); whether it also
                // counts from 24 there is not shown, so well-formed pads stay accepted.
                let base = if h.ptype == PacketType::AUTH3 {
                    HEADER_LEN + 4
                } else {
                    BIND_PAD_BASE
                };
                if pad_len > trailer_at.saturating_sub(base) {
                    return Err(Error::BadAuthLength(h.auth_length));
                }
                trailer_at
            } else {
                trailer_at
                    .checked_sub(pad_len)
                    .filter(|&e| e >= HEADER_LEN)
                    .ok_or(Error::BadAuthLength(h.auth_length))?
            };
            (
                body_end,
                Some(AuthVerifier {
                    auth_type: AuthType(t[0]),
                    auth_level: AuthLevel(t[1]),
                    reserved: t[3],
                    context_id,
                    // For bind and alter_context the pad bytes stay in the body too (the
                    // body parser ignores what follows the context list).
                    pad: if in_body {
                        buf.slice(trailer_at - pad_len.min(trailer_at - HEADER_LEN)..trailer_at)
                    } else {
                        buf.slice(body_end..trailer_at)
                    },
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
        // A bind or alter_context with a security trailer may end with bytes its body does not
        // use, whatever auth_pad_length says: Windows reads the context list and takes the trailer
        // from the end. impacket's Kerberos (SPNEGO) third leg, an alter_context, repeats its
        // 44-byte context item after a context count of 1, with a pad length of 0, and Windows
        // servers accept it (impacket's `-k` tools work against them; docs/interop.md). rpc_auth_3
        // may end with up to auth_pad_length bytes.
        let slack = match &auth {
            Some(_) if h.ptype == PacketType::BIND || h.ptype == PacketType::ALTER_CONTEXT => {
                usize::MAX
            }
            Some(a) if in_body_pad(h) => a.pad.len(),
            _ => 0,
        };
        let body = parse_body(h, &mut r, slack)?;
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

fn parse_body(h: &Header, r: &mut Reader<'_>, slack: usize) -> Result<PduBody, Error> {
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
    if r.remaining() > slack {
        r.finish()?;
    }
    Ok(body)
}

fn in_body_pad(h: &Header) -> bool {
    h.ptype == PacketType::BIND
        || h.ptype == PacketType::ALTER_CONTEXT
        || h.ptype == PacketType::AUTH3
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
