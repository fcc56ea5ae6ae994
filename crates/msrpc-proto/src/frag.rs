//! Fragmentation and reassembly (C706 chapter 12; MS-RPCE 3.3.3.5.2, 3.3.3.5.4, 3.3.3.5.6), and framing of PDUs from a
//! byte stream.

use crate::idmap::IdMap;

use bytes::{Bytes, BytesMut};
use uuid::Uuid;

use crate::auth::{SecurityContext, auth_pad_len};
use crate::error::Error;
use crate::wire::{
    Drep, HEADER_LEN, Header, PacketType, Pdu, PduBody, PfcFlags, Request, Response,
    SEC_TRAILER_LEN, Writer,
};

/// The smallest fragment every implementation must accept (C706 `MustRecvFragSize`). A peer's
/// advertised `max_recv_frag` below this is raised to it.
pub const MIN_FRAG: u16 = 1432;

/// `alloc_hint` is a hint: never pre-allocate more than this for a reassembly.
pub const ALLOC_HINT_CAP: usize = 64 * 1024;

/// Cuts a transport byte stream into whole PDUs by their `frag_length`.
///
/// The framer's buffer is the connection's one input buffer: the runtime reads the transport
/// straight into [`PduFramer::read_buf`] (no copy from a read buffer of its own), and the PDUs
/// cut from it share its allocation.
#[derive(Debug)]
pub struct PduFramer {
    buf: BytesMut,
    /// The room the next read gets: [`READ_MIN`], doubled (up to [`READ_MAX`]) while reads fill
    /// it, back to the minimum when the connection goes idle.
    read_size: usize,
    /// The header of the PDU at the front of `buf`, parsed once when its first 16 bytes arrived.
    header: Option<Header>,
}

/// One PDU cut from the stream: its bytes, and its header, parsed (and checked) once by the
/// framer. Decode it with [`Pdu::decode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The checked common header.
    pub header: Header,
    /// The whole PDU (`frag_length` bytes), sharing the input buffer's allocation.
    pub bytes: Bytes,
}

/// The smallest room a transport read gets (and what an idle connection holds).
pub const READ_MIN: usize = 4 * 1024;
/// The largest room a transport read gets.
pub const READ_MAX: usize = 64 * 1024;

impl Default for PduFramer {
    fn default() -> Self {
        PduFramer {
            buf: BytesMut::new(),
            read_size: READ_MIN,
            header: None,
        }
    }
}

impl PduFramer {
    /// An empty framer.
    pub fn new() -> PduFramer {
        PduFramer::default()
    }

    /// Append transport bytes (for callers that did not read into [`PduFramer::read_buf`]).
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The buffer to read the transport into: the bytes not yet framed, with room for the next
    /// read after them. Call [`PduFramer::filled`] with what the read added.
    pub fn read_buf(&mut self) -> &mut BytesMut {
        if self.buf.capacity() - self.buf.len() < self.read_size {
            self.buf.reserve(self.read_size);
        }
        &mut self.buf
    }

    /// A read into [`PduFramer::read_buf`] added `n` bytes: one that filled its room means more
    /// is waiting, so the next read gets more.
    pub fn filled(&mut self, n: usize) {
        if n >= self.read_size && self.read_size < READ_MAX {
            self.read_size = (self.read_size * 2).min(READ_MAX);
        }
    }

    /// The connection has nothing in progress: give back a large empty buffer.
    pub fn idle(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > READ_MIN {
            self.buf = BytesMut::new();
            self.read_size = READ_MIN;
        }
    }

    /// Bytes buffered and not yet returned as PDUs.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The `call_id` of the buffered PDU, read without checking the header (for answering a PDU
    /// whose header was refused, such as a bind with an unsupported version).
    pub fn peek_call_id(&self) -> Option<u32> {
        let b = self.buf.get(..HEADER_LEN)?;
        let id = [b[12], b[13], b[14], b[15]];
        Some(if b[4] & 0xF0 == 0x10 {
            u32::from_le_bytes(id)
        } else {
            u32::from_be_bytes(id)
        })
    }

    /// The next whole PDU, if buffered, with its header. The header is parsed and checked
    /// (version, `frag_length` >= 16 and <= `max_len`) once, as soon as its first 16 bytes
    /// arrive; nothing after this parses it again.
    pub fn next_frame(&mut self, max_len: usize) -> Result<Option<Frame>, Error> {
        let header = match self.header {
            Some(h) => h,
            None => {
                if self.buf.len() < HEADER_LEN {
                    return Ok(None);
                }
                let h = Header::parse(&self.buf[..HEADER_LEN])?;
                let len = usize::from(h.frag_length);
                if len > max_len {
                    return Err(Error::FragmentTooLarge { len, max: max_len });
                }
                self.header = Some(h);
                h
            }
        };
        let len = usize::from(header.frag_length);
        if self.buf.len() < len {
            return Ok(None);
        }
        self.header = None;
        Ok(Some(Frame {
            header,
            bytes: self.buf.split_to(len).freeze(),
        }))
    }

    /// The next whole PDU's bytes, if buffered (as [`next_frame`](Self::next_frame), without
    /// the header).
    pub fn next_pdu(&mut self, max_len: usize) -> Result<Option<Bytes>, Error> {
        Ok(self.next_frame(max_len)?.map(|f| f.bytes))
    }
}

/// A reassembled request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The call.
    pub call_id: u32,
    /// Request or response.
    pub ptype: PacketType,
    /// `p_cont_id` of the first fragment.
    pub context_id: u16,
    /// `opnum` (requests; 0 for responses).
    pub opnum: u16,
    /// Object UUID (requests).
    pub object: Option<Uuid>,
    /// The data representation of the first fragment.
    pub drep: Drep,
    /// The highest `cancel_count` seen (responses).
    pub cancel_count: u8,
    /// Flags of the first fragment (for PENDING_CANCEL, MAYBE).
    pub first_flags: PfcFlags,
    /// The whole stub.
    pub stub: Bytes,
}

#[derive(Debug)]
struct Partial {
    msg: Message,
    buf: Vec<u8>,
}

/// Reassembles request or response fragments into [`Message`]s with a size limit.
///
/// With `interleave == false` (a server), only one call may be in reassembly: a first fragment of
/// another call before the last fragment of the current one is a protocol error. MS-RPCE 3.3.3.5.2
/// requires request call ids to increase monotonically with every fragment of a request carrying
/// the same call id, and says violations SHOULD be rejected as protocol errors (3.3.3.5.7): going
/// back to an unfinished lower call id after starting a higher one cannot be valid, so a client
/// must send one call's fragments contiguously. samba-dcerpcd enforces the same (it faults the
/// next call with `nca_s_proto_error` when an orphaned partial request is left behind). A
/// client accepts interleaved response fragments of different calls, each bounded by the limit.
#[derive(Debug)]
pub struct Reassembler {
    limit: usize,
    interleave: bool,
    partial: IdMap<u32, Partial>,
}

impl Reassembler {
    /// A reassembler whose messages may not exceed `limit` stub bytes.
    pub fn new(limit: usize, interleave: bool) -> Reassembler {
        Reassembler {
            limit,
            interleave,
            partial: IdMap::default(),
        }
    }

    /// Calls with fragments buffered.
    pub fn in_progress(&self) -> usize {
        self.partial.len()
    }

    /// Bytes buffered over all calls.
    pub fn buffered(&self) -> usize {
        self.partial.values().map(|p| p.buf.len()).sum()
    }

    /// True if `call_id` has fragments buffered.
    pub fn contains(&self, call_id: u32) -> bool {
        self.partial.contains_key(&call_id)
    }

    /// The call in reassembly and the presentation context its first fragment named, when
    /// exactly one is (always the case without interleaving).
    pub fn single(&self) -> Option<(u32, u16)> {
        let mut it = self.partial.iter();
        match (it.next(), it.next()) {
            (Some((id, p)), None) => Some((*id, p.msg.context_id)),
            _ => None,
        }
    }

    /// Drop a call's buffered fragments.
    pub fn discard(&mut self, call_id: u32) -> bool {
        self.partial.remove(&call_id).is_some()
    }

    /// Feed one request or response fragment. Returns the message when its last fragment arrives.
    pub fn push(&mut self, pdu: Pdu) -> Result<Option<Message>, Error> {
        let (ptype, context_id, opnum, object, cancel_count, alloc_hint, stub) = match pdu.body {
            PduBody::Request(Request {
                context_id,
                opnum,
                object,
                stub,
                alloc_hint,
            }) => (
                PacketType::REQUEST,
                context_id,
                opnum,
                object,
                0,
                alloc_hint,
                stub,
            ),
            PduBody::Response(Response {
                context_id,
                cancel_count,
                stub,
                alloc_hint,
                ..
            }) => (
                PacketType::RESPONSE,
                context_id,
                0,
                None,
                cancel_count,
                alloc_hint,
                stub,
            ),
            other => return Err(Error::UnexpectedPdu(other.packet_type())),
        };
        let call_id = pdu.call_id;
        let first = pdu.flags.contains(PfcFlags::FIRST_FRAG);
        let last = pdu.flags.contains(PfcFlags::LAST_FRAG);
        if first {
            if self.partial.contains_key(&call_id) {
                self.partial.remove(&call_id);
                return Err(Error::InconsistentFragment(call_id));
            }
            if let (false, Some(&previous)) = (self.interleave, self.partial.keys().next()) {
                return Err(Error::InterleavedFragments {
                    previous,
                    new: call_id,
                });
            }
            // A request whose first fragment announces more than the limit (alloc_hint) is
            // refused there, before its other fragments come, as Windows (the raw suite's
            // test_fragmented_requests04: alloc_hint 4 MiB + 1).
            let announced =
                ptype == PacketType::REQUEST && !last && alloc_hint as usize > self.limit;
            if stub.len() > self.limit || announced {
                return Err(Error::ReassemblyLimit {
                    call_id,
                    limit: self.limit,
                });
            }
            let msg = Message {
                call_id,
                ptype,
                context_id,
                opnum,
                object,
                drep: pdu.drep,
                cancel_count,
                first_flags: pdu.flags,
                stub: Bytes::new(),
            };
            if last {
                return Ok(Some(Message { stub, ..msg }));
            }
            // alloc_hint is only a hint: cap what we reserve from it.
            let hint = (alloc_hint as usize).min(self.limit).min(ALLOC_HINT_CAP);
            let mut buf = Vec::with_capacity(hint.max(stub.len()));
            buf.extend_from_slice(&stub);
            self.partial.insert(call_id, Partial { msg, buf });
            return Ok(None);
        }
        let Some(p) = self.partial.get_mut(&call_id) else {
            return Err(Error::MissingFirstFragment(call_id));
        };
        if p.msg.ptype != ptype || p.msg.context_id != context_id {
            self.partial.remove(&call_id);
            return Err(Error::InconsistentFragment(call_id));
        }
        if p.buf.len() + stub.len() > self.limit {
            self.partial.remove(&call_id);
            return Err(Error::ReassemblyLimit {
                call_id,
                limit: self.limit,
            });
        }
        p.buf.extend_from_slice(&stub);
        p.msg.cancel_count = p.msg.cancel_count.max(cancel_count);
        if !last {
            return Ok(None);
        }
        let Some(p) = self.partial.remove(&call_id) else {
            return Err(Error::MissingFirstFragment(call_id));
        };
        Ok(Some(Message {
            stub: Bytes::from(p.buf),
            ..p.msg
        }))
    }
}

/// What an outgoing message carries besides its stub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutKind {
    Request {
        context_id: u16,
        opnum: u16,
        object: Option<Uuid>,
    },
    Response {
        context_id: u16,
        cancel_count: u8,
    },
}

/// A request or response stub handed to a machine to send: bytes shared with something else
/// ([`Bytes`]) or a vector of its own (what an NDR encoder returns). Taking the vector as it is
/// saves the allocation `Bytes::from(Vec)` makes for a vector whose capacity exceeds its length.
#[derive(Clone, Debug)]
pub enum Stub {
    /// Shared bytes.
    Shared(Bytes),
    /// A vector of its own.
    Owned(Vec<u8>),
}

impl Stub {
    /// The stub's bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Stub::Shared(b) => b,
            Stub::Owned(v) => v,
        }
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// True for an empty stub.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

impl Default for Stub {
    fn default() -> Stub {
        Stub::Owned(Vec::new())
    }
}

impl From<Bytes> for Stub {
    fn from(b: Bytes) -> Stub {
        Stub::Shared(b)
    }
}

impl From<Vec<u8>> for Stub {
    fn from(v: Vec<u8>) -> Stub {
        Stub::Owned(v)
    }
}

impl std::ops::Deref for Stub {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// The stub bytes an unprotected fragment of at most `max_frag` bytes carries after `header`
/// bytes of header and body fields: a multiple of 8, and at least 8.
pub(crate) fn plain_room(max_frag: usize, header: usize) -> usize {
    max_frag.saturating_sub(header).max(8) & !7
}

/// A request or response being sent, cut into fragments lazily, one per call to
/// [`next_fragment`](Outgoing::next_fragment).
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) call_id: u32,
    pub(crate) kind: OutKind,
    pub(crate) stub: Stub,
    pub(crate) offset: usize,
    pub(crate) started: bool,
    pub(crate) drep: Drep,
    pub(crate) extra_flags: PfcFlags,
    /// Send co_cancel right after the last fragment (the call was cancelled before it went out).
    pub(crate) cancel_after: bool,
    /// The `auth_context_id` whose context signs (and seals) the fragments, if any.
    pub(crate) auth: Option<u32>,
}

impl Outgoing {
    pub(crate) fn new(call_id: u32, kind: OutKind, stub: Stub, drep: Drep) -> Outgoing {
        Outgoing {
            call_id,
            kind,
            stub,
            offset: 0,
            started: false,
            drep,
            extra_flags: PfcFlags::NONE,
            cancel_after: false,
            auth: None,
        }
    }

    /// Emit the next fragment of at most `max_frag` bytes; true when it was the last. With a
    /// security context the fragment carries the security trailer and is signed (and sealed):
    /// every stub chunk but the last is a multiple of 16 bytes, so only the last needs a pad.
    #[cfg(test)]
    pub(crate) fn next_fragment(
        &mut self,
        max_frag: usize,
        sec: Option<&mut dyn SecurityContext>,
    ) -> Result<(Vec<u8>, bool), Error> {
        let mut buf = Vec::new();
        let last = self.next_fragment_into(&mut buf, max_frag, sec)?;
        Ok((buf, last))
    }

    /// [`next_fragment`](Self::next_fragment), appending the fragment to `buf` (the transport's
    /// batch) instead of a buffer of its own; true when it was the last. On an error `buf` is as
    /// it was.
    pub(crate) fn next_fragment_into(
        &mut self,
        buf: &mut Vec<u8>,
        max_frag: usize,
        sec: Option<&mut dyn SecurityContext>,
    ) -> Result<bool, Error> {
        let header = match self.kind {
            OutKind::Request { object, .. } => 24 + if object.is_some() { 16 } else { 0 },
            OutKind::Response { .. } => 24,
        };
        let room = match &sec {
            None => plain_room(max_frag, header),
            Some(ctx) => {
                max_frag
                    .saturating_sub(header + SEC_TRAILER_LEN + ctx.signature_len())
                    .max(16)
                    & !15
            }
        };
        let remaining = self.stub.len() - self.offset;
        let take = remaining.min(room);
        let mut flags = self.extra_flags;
        if !self.started {
            flags = flags | PfcFlags::FIRST_FRAG;
        }
        let last = take == remaining;
        if last {
            flags = flags | PfcFlags::LAST_FRAG;
        }
        let alloc_hint = u32::try_from(remaining).unwrap_or(u32::MAX);
        let chunk = self.offset..self.offset + take;
        self.emit_fragment(buf, flags, alloc_hint, chunk, sec)?;
        self.offset += take;
        self.started = true;
        Ok(last)
    }

    /// Write one fragment carrying `chunk` into a buffer allocated once at its final size
    /// (header, body fields, stub, and with a security context the pad, the trailer and the
    /// signature), then let the context sign (and seal) it in place. The bytes are those
    /// [`Pdu::emit`] and [`protect_fragment`](crate::auth::protect_fragment) give.
    fn emit_fragment(
        &self,
        out: &mut Vec<u8>,
        flags: PfcFlags,
        alloc_hint: u32,
        chunk: std::ops::Range<usize>,
        sec: Option<&mut dyn SecurityContext>,
    ) -> Result<(), Error> {
        let chunk = &self.stub[chunk];
        let (ptype, flags, stub_at) = match self.kind {
            OutKind::Request { object, .. } => (
                PacketType::REQUEST,
                flags.with(PfcFlags::OBJECT_UUID, object.is_some()),
                HEADER_LEN + 8 + if object.is_some() { 16 } else { 0 },
            ),
            OutKind::Response { .. } => (PacketType::RESPONSE, flags, HEADER_LEN + 8),
        };
        let (pad, sig_len) = match &sec {
            None => (0, 0),
            Some(ctx) => (auth_pad_len(chunk.len()), ctx.signature_len()),
        };
        let trailer = if sec.is_some() { SEC_TRAILER_LEN } else { 0 };
        let len = stub_at + chunk.len() + pad + trailer + sig_len;
        let frag_length = u16::try_from(len).map_err(|_| Error::TooLarge("frag_length"))?;
        let auth_length = u16::try_from(sig_len).map_err(|_| Error::TooLarge("auth_length"))?;
        // The fragment goes after what `out` holds: `at` is where it starts. `reserve` on an
        // empty buffer allocates exactly `len`, so a fragment of its own is right-sized.
        let at = out.len();
        out.reserve(len);
        let Some(ctx) = sec else {
            // Unprotected: the header and body fields made on the stack, then two copies.
            let mut head = [0u8; HEADER_LEN + 8 + 16];
            let le = self.drep.is_little_endian();
            let u16b = |v: u16| if le { v.to_le_bytes() } else { v.to_be_bytes() };
            let u32b = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
            head[..4].copy_from_slice(&[5, 0, ptype.0, flags.0]);
            head[4..8].copy_from_slice(&self.drep.0);
            head[8..10].copy_from_slice(&u16b(frag_length));
            head[10..12].copy_from_slice(&u16b(auth_length));
            head[12..16].copy_from_slice(&u32b(self.call_id));
            head[16..20].copy_from_slice(&u32b(alloc_hint));
            match self.kind {
                OutKind::Request {
                    context_id,
                    opnum,
                    object,
                } => {
                    head[20..22].copy_from_slice(&u16b(context_id));
                    head[22..24].copy_from_slice(&u16b(opnum));
                    if let Some(o) = &object {
                        let (d1, d2, d3, d4) = o.as_fields();
                        head[24..28].copy_from_slice(&u32b(d1));
                        head[28..30].copy_from_slice(&u16b(d2));
                        head[30..32].copy_from_slice(&u16b(d3));
                        head[32..40].copy_from_slice(d4);
                    }
                }
                OutKind::Response {
                    context_id,
                    cancel_count,
                } => {
                    head[20..22].copy_from_slice(&u16b(context_id));
                    head[22] = cancel_count;
                }
            }
            out.extend_from_slice(&head[..stub_at]);
            out.extend_from_slice(chunk);
            return Ok(());
        };
        let mut w = Writer {
            buf: std::mem::take(out),
            le: self.drep.is_little_endian(),
        };
        w.buf.extend_from_slice(&[5, 0, ptype.0, flags.0]);
        w.buf.extend_from_slice(&self.drep.0);
        w.u16(frag_length);
        w.u16(auth_length);
        w.u32(self.call_id);
        w.u32(alloc_hint);
        match self.kind {
            OutKind::Request {
                context_id,
                opnum,
                object,
            } => {
                w.u16(context_id);
                w.u16(opnum);
                if let Some(o) = &object {
                    w.uuid(o);
                }
            }
            OutKind::Response {
                context_id,
                cancel_count,
            } => {
                w.u16(context_id);
                w.buf.extend_from_slice(&[cancel_count, 0]);
            }
        }
        w.buf.extend_from_slice(chunk);
        w.buf.resize(at + stub_at + chunk.len() + pad, 0);
        // pad < 16, so it fits auth_pad_length.
        w.buf
            .extend_from_slice(&[ctx.auth_type().0, ctx.auth_level().0, pad as u8, 0]);
        w.u32(ctx.context_id());
        w.buf.resize(at + len, 0);
        let body = stub_at..stub_at + chunk.len() + pad;
        let signed = ctx.protect(&mut w.buf[at..], body, len - sig_len..len);
        *out = w.buf;
        if let Err(e) = signed {
            out.truncate(at);
            return Err(Error::Security(e));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input buffer's room starts at READ_MIN, doubles while reads fill it (up to READ_MAX),
    /// and an idle framer with nothing buffered gives a large buffer back.
    #[test]
    fn the_read_room_grows_with_full_reads_and_shrinks_when_idle() {
        let mut f = PduFramer::new();
        assert!(f.read_buf().capacity() >= READ_MIN);
        let mut room = READ_MIN;
        while room < READ_MAX {
            f.filled(room);
            room = (room * 2).min(READ_MAX);
            let b = f.read_buf();
            assert!(b.capacity() - b.len() >= room, "room {room}");
        }
        f.filled(READ_MAX);
        let b = f.read_buf();
        assert!(
            b.capacity() - b.len() < 2 * READ_MAX + READ_MIN,
            "capped at READ_MAX"
        );
        f.idle();
        assert_eq!(
            f.buf.capacity(),
            0,
            "idle and empty: the buffer is given back"
        );
        // Bytes read into the buffer frame like pushed ones.
        let pdu = [5u8, 0, 11, 3, 0x10, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0];
        f.read_buf().extend_from_slice(&pdu);
        f.filled(pdu.len());
        assert_eq!(
            f.next_pdu(usize::from(u16::MAX)).unwrap().unwrap().as_ref(),
            &pdu
        );
        assert_eq!(f.buffered(), 0);
    }

    /// A toy package: "seals" by XOR and "signs" with a sum over the whole fragment.
    struct Toy;

    impl SecurityContext for Toy {
        fn auth_type(&self) -> crate::wire::AuthType {
            crate::wire::AuthType::NTLM
        }
        fn auth_level(&self) -> crate::wire::AuthLevel {
            crate::wire::AuthLevel::PKT_PRIVACY
        }
        fn context_id(&self) -> u32 {
            0x0102_0304
        }
        fn step(
            &mut self,
            _: Option<&[u8]>,
        ) -> Result<crate::auth::AuthStep, crate::auth::AuthError> {
            Ok(crate::auth::AuthStep::Complete(None))
        }
        fn signature_len(&self) -> usize {
            16
        }
        fn protect(
            &mut self,
            pdu: &mut [u8],
            body: std::ops::Range<usize>,
            signature: std::ops::Range<usize>,
        ) -> Result<(), crate::auth::AuthError> {
            let sum = pdu[..signature.start]
                .iter()
                .fold(7u8, |a, b| a.wrapping_mul(31).wrapping_add(*b));
            for b in &mut pdu[body] {
                *b ^= 0x5a;
            }
            pdu[signature].fill(sum);
            Ok(())
        }
        fn verify(
            &mut self,
            _: &mut [u8],
            _: std::ops::Range<usize>,
            _: std::ops::Range<usize>,
        ) -> Result<(), crate::auth::AuthError> {
            Ok(())
        }
    }

    /// The fragments written straight into their buffer are byte for byte those a `Pdu` emits
    /// (and `protect_fragment` protects), for requests with and without an object, responses,
    /// both byte orders, with and without a security context, cut into one or many fragments;
    /// each buffer is allocated at its final size.
    #[test]
    fn fragments_are_the_bytes_a_pdu_emits_in_a_buffer_of_their_size() {
        let object = Some(uuid::uuid!("00112233-4455-6677-8899-aabbccddeeff"));
        let kinds = [
            OutKind::Request {
                context_id: 3,
                opnum: 9,
                object: None,
            },
            OutKind::Request {
                context_id: 0x0102,
                opnum: 0x0304,
                object,
            },
            OutKind::Response {
                context_id: 1,
                cancel_count: 2,
            },
        ];
        let mut checked = 0;
        for kind in kinds {
            for drep in [Drep::LITTLE_ENDIAN, Drep::BIG_ENDIAN] {
                for secured in [false, true] {
                    for len in [0usize, 5, 100, 5000] {
                        for max_frag in [1432usize, 5840] {
                            let stub = Bytes::from((0..len).map(|i| i as u8).collect::<Vec<_>>());
                            let mut out = Outgoing::new(77, kind, stub.clone().into(), drep);
                            out.extra_flags = PfcFlags::MAYBE;
                            let mut offset = 0;
                            loop {
                                let mut toy = Toy;
                                let sec = secured.then_some(&mut toy as &mut dyn SecurityContext);
                                let (bytes, last) = out.next_fragment(max_frag, sec).unwrap();
                                assert_eq!(bytes.capacity(), bytes.len(), "one right-sized buffer");
                                let take = out.offset - offset;
                                let mut flags = PfcFlags::MAYBE;
                                if offset == 0 {
                                    flags = flags | PfcFlags::FIRST_FRAG;
                                }
                                if last {
                                    flags = flags | PfcFlags::LAST_FRAG;
                                }
                                let chunk = stub.slice(offset..offset + take);
                                let alloc_hint = (len - offset) as u32;
                                let body = match kind {
                                    OutKind::Request {
                                        context_id,
                                        opnum,
                                        object,
                                    } => PduBody::Request(Request {
                                        alloc_hint,
                                        context_id,
                                        opnum,
                                        object,
                                        stub: chunk,
                                    }),
                                    OutKind::Response {
                                        context_id,
                                        cancel_count,
                                    } => PduBody::Response(Response {
                                        alloc_hint,
                                        context_id,
                                        cancel_count,
                                        reserved: 0,
                                        stub: chunk,
                                    }),
                                };
                                let mut pdu = Pdu::new(77, flags, body);
                                pdu.drep = drep;
                                let expected = if secured {
                                    crate::auth::protect_fragment(pdu, &mut Toy).unwrap()
                                } else {
                                    pdu.emit().unwrap()
                                };
                                assert_eq!(
                                    bytes, expected,
                                    "{kind:?} {drep:?} {secured} {len} {max_frag}"
                                );
                                assert!(bytes.len() <= max_frag);
                                checked += 1;
                                offset = out.offset;
                                if last {
                                    break;
                                }
                            }
                            assert_eq!(offset, len);
                        }
                    }
                }
            }
        }
        assert!(checked > 48, "several fragments per message were compared");
    }
}
