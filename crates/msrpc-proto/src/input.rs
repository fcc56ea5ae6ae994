//! The input side both machines share: the connection's one input buffer, which the transport is
//! read into and PDUs are cut from, each with its header parsed once ([`Frame`]).

use std::time::Instant;

use bytes::BytesMut;

use crate::error::Error;
use crate::frag::{Frame, PduFramer};

/// The connection's input: the framer, when bytes last arrived, and how many PDUs came.
#[derive(Debug, Default)]
pub(crate) struct Input {
    pub(crate) framer: PduFramer,
    pub(crate) last_activity: Option<Instant>,
    pub(crate) pdus_received: u64,
}

impl Input {
    /// Bytes buffered and not yet cut into PDUs.
    pub(crate) fn buffered(&self) -> usize {
        self.framer.buffered()
    }

    /// When the last bytes arrived.
    pub(crate) fn last_activity(&self) -> Option<Instant> {
        self.last_activity
    }

    /// Whole PDUs cut so far.
    pub(crate) fn pdus_received(&self) -> u64 {
        self.pdus_received
    }

    /// The connection is over: drop what is buffered.
    pub(crate) fn discard(&mut self) {
        self.framer = PduFramer::new();
    }
}

/// A machine that takes PDUs from an [`Input`]: the provided methods are the input half of
/// both connections' API (`handle_bytes`, `input_buffer`, `handle_input`,
/// `release_input_buffer`), written once.
pub(crate) trait Receive {
    /// The machine's input.
    fn input(&mut self) -> &mut Input;
    /// True once the connection is closed: nothing more is read.
    fn closed(&self) -> bool;
    /// One whole PDU.
    fn handle_frame(&mut self, frame: Frame);
    /// The stream cannot be framed (a bad header): `call_id` is the offending PDU's, read
    /// without checks, for an answer. The machine closes.
    fn framing_error(&mut self, error: Error, call_id: Option<u32>);

    /// Feed bytes read from the transport, in any chunking.
    fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        if !self.closed() {
            self.input().framer.push(bytes);
        }
        self.process_input(now);
    }

    /// The buffer to read the transport into.
    fn input_buffer(&mut self) -> &mut BytesMut {
        self.input().framer.read_buf()
    }

    /// `n` bytes were read into the input buffer.
    fn handle_input(&mut self, now: Instant, n: usize) {
        self.input().framer.filled(n);
        self.process_input(now);
    }

    /// Nothing is in progress: let the input buffer shrink back to its minimum.
    fn release_input_buffer(&mut self) {
        self.input().framer.idle();
    }

    /// Cut and handle every whole PDU buffered.
    fn process_input(&mut self, now: Instant) {
        if self.closed() {
            return;
        }
        self.input().last_activity = Some(now);
        while !self.closed() {
            let input = self.input();
            match input.framer.next_frame(usize::from(u16::MAX)) {
                Ok(Some(frame)) => {
                    input.pdus_received += 1;
                    self.handle_frame(frame);
                }
                Ok(None) => break,
                Err(e) => {
                    let call_id = self.input().framer.peek_call_id();
                    self.framing_error(e, call_id);
                    break;
                }
            }
        }
    }
}

/// The input half of a connection's public API, delegating to its [`Receive`] impl (one text
/// for both machines).
macro_rules! input_api {
    () => {
        /// Feed bytes read from the transport, in any chunking.
        pub fn handle_bytes(&mut self, now: std::time::Instant, bytes: &[u8]) {
            crate::input::Receive::handle_bytes(self, now, bytes);
        }

        /// The connection's input buffer, to read the transport into (tokio's `read_buf`, say):
        /// the bytes not yet framed, with room for the next read after them. Then call
        /// [`handle_input`](Self::handle_input) with the number of bytes the read added. Reading
        /// here saves the copy [`handle_bytes`](Self::handle_bytes) makes.
        pub fn input_buffer(&mut self) -> &mut bytes::BytesMut {
            crate::input::Receive::input_buffer(self)
        }

        /// `n` bytes were read into [`input_buffer`](Self::input_buffer): frame and handle what
        /// is complete, as [`handle_bytes`](Self::handle_bytes) does.
        pub fn handle_input(&mut self, now: std::time::Instant, n: usize) {
            crate::input::Receive::handle_input(self, now, n);
        }

        /// Nothing is in progress: let the input buffer shrink back to its minimum.
        pub fn release_input_buffer(&mut self) {
            crate::input::Receive::release_input_buffer(self);
        }

        /// When the last bytes arrived (for the runtime's idle timeouts).
        pub fn last_activity(&self) -> Option<std::time::Instant> {
            self.input.last_activity()
        }
    };
}
pub(crate) use input_api;
