//! The fast path: an unauthenticated request of one fragment on a bound presentation context,
//! taken from its header and eight body bytes and handed to the runtime inline, and a response
//! of one fragment written straight into the transport's batch.
//!
//! Each path is taken only when the general one would do exactly the same thing (the same call,
//! the same state afterwards, the same bytes on the wire); anything else goes the general way
//! (`call.rs`, `transmit.rs`), which keeps every wire rule: faults, call id checks,
//! `max_recv_frag`, causal order.

use bytes::{Buf, Bytes};
use msrpc_ndr::DataRep;

use super::{ActiveCall, IncomingCall, ServerConnection, State};
use crate::error::Error;
use crate::frag::{Frame, OutKind, Outgoing, Stub, plain_room};
use crate::input::Receive;
use crate::wire::{Drep, HEADER_LEN, PacketType, PfcFlags};

/// The request body's fixed fields: `alloc_hint`, `p_cont_id`, `opnum`.
const REQUEST_FIELDS: usize = 8;
/// A response's header and body fields: the common header, `alloc_hint`, `p_cont_id`,
/// `cancel_count` and a reserved byte.
const RESPONSE_HEADER: usize = HEADER_LEN + 8;

impl ServerConnection {
    /// [`handle_input`](Self::handle_input), handing each call that takes the fast path
    /// straight to `on_call` (with the connection, so that it can answer there and then)
    /// instead of queueing a [`ServerEvent::Call`](super::ServerEvent::Call). A call is
    /// passed this way only while no event is waiting in [`poll_event`](Self::poll_event),
    /// so the runtime still sees everything in the order it arrived: `on_call` gets a call only
    /// once every earlier event has been polled, and the events that follow it (a co_cancel
    /// of it, say) are queued as usual. Every other PDU is handled as `handle_input` does.
    pub fn handle_input_calls<F>(&mut self, now: std::time::Instant, n: usize, mut on_call: F)
    where
        F: FnMut(&mut ServerConnection, IncomingCall),
    {
        self.input.framer.filled(n);
        if self.closed() {
            return;
        }
        self.input.last_activity = Some(now);
        while !self.closed() {
            match self.input.framer.next_frame(usize::from(u16::MAX)) {
                Ok(Some(frame)) => {
                    self.input.pdus_received += 1;
                    match self.fast_request(frame) {
                        Ok(call) => on_call(self, call),
                        Err(frame) => self.handle_pdu(frame),
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let call_id = self.input.framer.peek_call_id();
                    self.framing_error(e, call_id);
                    break;
                }
            }
        }
    }

    /// The call a request PDU makes when it needs none of the general path's work: one
    /// fragment, no security trailer, no object UUID, on an association with no security
    /// context, nothing in reassembly, nothing queued for the runtime, within
    /// `max_recv_frag` and `max_request_size`, on a known presentation context, a call id not
    /// in progress, a data representation this side decodes. `Err` gives the frame back for
    /// the general path. The state afterwards is what `on_request` and `push_fragment` leave.
    fn fast_request(&mut self, frame: Frame) -> Result<IncomingCall, Frame> {
        let h = frame.header;
        let len = frame.bytes.len();
        if h.ptype != PacketType::REQUEST
            || h.auth_length != 0
            || h.flags.0 & (PfcFlags::FIRST_AND_LAST.0 | PfcFlags::OBJECT_UUID.0)
                != PfcFlags::FIRST_AND_LAST.0
            || self.state != State::Bound
            || len < HEADER_LEN + REQUEST_FIELDS
            || len != usize::from(h.frag_length)
            || len > usize::from(self.config.max_recv_frag)
            || len - HEADER_LEN - REQUEST_FIELDS > self.config.max_request_size
            || !self.events.is_empty()
            || !self.auth.is_empty()
            || self.reassembler.in_progress() != 0
        {
            return Err(frame);
        }
        let Ok(drep) = DataRep::parse(h.drep.0) else {
            return Err(frame);
        };
        let b = &frame.bytes[HEADER_LEN..HEADER_LEN + REQUEST_FIELDS];
        let le = h.drep.is_little_endian();
        let u16_at = |i: usize| {
            let v = [b[i], b[i + 1]];
            if le {
                u16::from_le_bytes(v)
            } else {
                u16::from_be_bytes(v)
            }
        };
        let (context_id, opnum) = (u16_at(4), u16_at(6));
        let call_id = h.call_id;
        let Some(ctx) = self.contexts.get(&context_id) else {
            return Err(frame);
        };
        let (interface, syntax) = (ctx.interface, ctx.syntax());
        let std::collections::hash_map::Entry::Vacant(slot) = self.calls.entry(call_id) else {
            return Err(frame);
        };
        slot.insert(ActiveCall {
            context_id,
            cancel_count: 0,
            auth: None,
        });
        let flags = h.flags;
        // What on_request and push_fragment leave behind for such a request.
        self.reassembling_auth = Some(None);
        self.discarding = None;
        self.last_call_id = call_id;
        let cancelled = self.cancelled_partial == Some(call_id);
        if cancelled {
            self.cancelled_partial = None;
        }
        // The stub is the PDU's bytes past the fields, moved in place (no second reference).
        let mut stub: Bytes = frame.bytes;
        stub.advance(HEADER_LEN + REQUEST_FIELDS);
        Ok(IncomingCall {
            call_id,
            context_id,
            interface,
            syntax,
            opnum,
            object: None,
            stub,
            drep,
            maybe: flags.contains(PfcFlags::MAYBE),
            pending_cancel: flags.contains(PfcFlags::PENDING_CANCEL) || cancelled,
            auth: None,
        })
    }

    /// [`respond`](Self::respond), writing the response into `buf` (the transport's batch,
    /// after what it holds) when it is one unprotected fragment and nothing else is waiting to
    /// be sent, so that it would be the next PDU [`poll_transmit_into`](Self::poll_transmit_into)
    /// returns anyway: true when it was written, false when it was queued as `respond` queues
    /// it. The bytes are those `poll_transmit_into` would give.
    pub fn respond_into(
        &mut self,
        call_id: u32,
        stub: impl Into<Stub>,
        buf: &mut Vec<u8>,
    ) -> Result<bool, Error> {
        let stub = stub.into();
        let fits = stub.len() <= plain_room(self.xmit_frag, RESPONSE_HEADER)
            && RESPONSE_HEADER + stub.len() <= usize::from(u16::MAX);
        let direct = self.state != State::Closed && fits && !self.transmit.wants(true);
        // One lookup: the call is taken out, and put back for `respond` when it is protected.
        let call = match direct.then(|| self.calls.remove(&call_id)).flatten() {
            Some(c) if c.auth.is_none() => c,
            taken => {
                if let Some(c) = taken {
                    self.calls.insert(call_id, c);
                }
                self.respond(call_id, stub)?;
                return Ok(false);
            }
        };
        // The same fragment `respond` queues and `poll_transmit_into` writes, written now.
        let mut out = Outgoing::new(
            call_id,
            OutKind::Response {
                // Windows writes only the low byte of the request's context id (see `respond`).
                context_id: call.context_id & 0xff,
                cancel_count: call.cancel_count,
            },
            stub,
            Drep::LITTLE_ENDIAN,
        );
        let last = out.next_fragment_into(buf, self.xmit_frag, None)?;
        debug_assert!(last, "a stub that fits is one fragment");
        Ok(true)
    }
}
