//! The transmit scheduler both machines share: the PDUs a connection makes itself (bind and its
//! answers, faults, co_cancel, orphaned, shutdown) and the fragments of its calls' requests or
//! responses, cut lazily, one PDU per [`Transmit::poll`].
//!
//! The fragments of one call go out contiguously; the connection's own PDUs go out between
//! calls. Cutting fragments only when the transport can take one is the backpressure.

use std::collections::VecDeque;

use crate::auth::SecurityContext;
use crate::error::Error;
use crate::frag::Outgoing;
use crate::wire::{Pdu, PduBody, PfcFlags};

/// The security contexts that protect a connection's fragments, by `auth_context_id`.
pub(crate) trait Signers {
    /// The context for `auth_context_id`, or `None` when it is gone.
    fn signer(&mut self, auth_context_id: u32) -> Option<&mut dyn SecurityContext>;
}

/// A call whose next fragment could not be made. It is no longer queued.
#[derive(Debug)]
pub(crate) struct Unsendable {
    pub(crate) call_id: u32,
    pub(crate) error: Error,
}

/// What a connection has to send.
#[derive(Debug, Default)]
pub(crate) struct Transmit {
    /// Whole PDUs of the connection itself, ahead of the next call.
    control: VecDeque<Vec<u8>>,
    /// Calls waiting for their turn.
    calls: VecDeque<Outgoing>,
    /// The call whose fragments are going out.
    current: Option<Outgoing>,
}

impl Transmit {
    /// Queue a PDU of the connection's own, ahead of calls not yet started.
    pub(crate) fn push_control(&mut self, pdu: Vec<u8>) {
        self.control.push_back(pdu);
    }

    /// Queue a call's request or response.
    pub(crate) fn push_call(&mut self, out: Outgoing) {
        self.calls.push_back(out);
    }

    /// The next PDU, cut into at most `max_frag` bytes, appended to `buf`. With `open` false
    /// (the connection is closing) only the fragments of the current call and the connection's
    /// own PDUs go out; a call whose security context is gone is dropped. `Err` is a call that
    /// cannot be sent (`buf` is left as it was): the caller decides what becomes of it, and
    /// polls again.
    pub(crate) fn poll(
        &mut self,
        buf: &mut Vec<u8>,
        max_frag: usize,
        open: bool,
        signers: &mut dyn Signers,
    ) -> Option<Result<(), Unsendable>> {
        loop {
            if let Some(cur) = self.current.as_mut() {
                let sec = match cur.auth {
                    None => None,
                    Some(id) => match signers.signer(id) {
                        Some(ctx) => Some(ctx),
                        None => {
                            self.current = None;
                            continue;
                        }
                    },
                };
                match cur.next_fragment_into(buf, max_frag, sec) {
                    Ok(last) => {
                        // `take` ends the call's turn; a cancel made before it went out follows it.
                        if last
                            && let Some(done) = self.current.take()
                            && done.cancel_after
                        {
                            let mut cancel =
                                Pdu::new(done.call_id, PfcFlags::FIRST_AND_LAST, PduBody::CoCancel);
                            cancel.drep = done.drep;
                            // A body-less PDU always emits.
                            if let Ok(b) = cancel.emit() {
                                self.control.push_back(b);
                            }
                        }
                        return Some(Ok(()));
                    }
                    Err(error) => {
                        let call_id = cur.call_id;
                        self.current = None;
                        return Some(Err(Unsendable { call_id, error }));
                    }
                }
            }
            if let Some(c) = self.control.pop_front() {
                if buf.is_empty() {
                    *buf = c;
                } else {
                    buf.extend_from_slice(&c);
                }
                return Some(Ok(()));
            }
            if !open {
                return None;
            }
            self.current = Some(self.calls.pop_front()?);
        }
    }

    /// True if [`poll`](Self::poll) has something to return.
    pub(crate) fn wants(&self, open: bool) -> bool {
        !self.control.is_empty() || (open && (self.current.is_some() || !self.calls.is_empty()))
    }

    /// PDUs and calls queued.
    pub(crate) fn backlog(&self) -> usize {
        self.control.len() + self.calls.len() + usize::from(self.current.is_some())
    }

    /// The queued or current call `call_id`.
    pub(crate) fn find_mut(&mut self, call_id: u32) -> Option<&mut Outgoing> {
        self.calls
            .iter_mut()
            .chain(self.current.as_mut())
            .find(|o| o.call_id == call_id)
    }

    /// Drop `call_id` if it has not started; true if it was queued.
    pub(crate) fn drop_queued(&mut self, call_id: u32) -> bool {
        let queued = self.calls.len();
        self.calls.retain(|o| o.call_id != call_id);
        self.calls.len() != queued
    }

    /// Stop sending `call_id` if its fragments are going out; true if they were.
    pub(crate) fn stop_current(&mut self, call_id: u32) -> bool {
        if self.current.as_ref().is_some_and(|o| o.call_id == call_id) {
            self.current = None;
            return true;
        }
        false
    }

    /// Drop every call, started or not.
    pub(crate) fn clear_calls(&mut self) {
        self.current = None;
        self.calls.clear();
    }

    /// Drop the connection's own PDUs not yet sent.
    pub(crate) fn clear_control(&mut self) {
        self.control.clear();
    }
}
