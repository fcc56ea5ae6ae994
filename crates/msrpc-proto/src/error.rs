//! The crate's one error type, and the one place that maps errors to what goes on the wire.

use crate::status::FaultStatus;
use crate::wire::{Execution, PacketType, RejectReason};

/// Everything that can go wrong in this crate: malformed PDUs, protocol violations by the peer,
/// limits, and misuse of the state machines by the local caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fewer bytes than a field or the header's `frag_length` needs.
    #[error("truncated PDU: needed {needed} bytes, had {available}")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// Bytes left over after a whole message was read.
    #[error("{0} trailing bytes after the PDU body")]
    TrailingBytes(usize),
    /// `rpc_vers`/`rpc_vers_minor` is not 5.0 (or 5.1).
    #[error("unsupported RPC protocol version {major}.{minor}")]
    UnsupportedVersion {
        /// `rpc_vers`.
        major: u8,
        /// `rpc_vers_minor`.
        minor: u8,
    },
    /// `frag_length` is smaller than the header or does not match the buffer.
    #[error("bad frag_length {frag_length} for {available} bytes")]
    BadFragLength {
        /// Value in the header.
        frag_length: u16,
        /// Bytes in the buffer.
        available: usize,
    },
    /// `auth_length` does not fit in the PDU, or `auth_pad_length` does not fit in the body.
    #[error("bad auth_length {0}")]
    BadAuthLength(u16),
    /// A PTYPE this crate does not know (connectionless types included).
    #[error("unknown or unsupported packet type {0:?}")]
    UnknownPacketType(PacketType),
    /// A body field holds an impossible value.
    #[error("malformed {pdu:?} PDU: {what}")]
    Malformed {
        /// The PDU being read.
        pdu: PacketType,
        /// What was wrong.
        what: &'static str,
    },
    /// A PDU that the peer must not send in the current state (or to this role).
    #[error("unexpected {0:?} PDU in this state")]
    UnexpectedPdu(PacketType),
    /// A fragment larger than the negotiated receive size.
    #[error("fragment of {len} bytes exceeds the negotiated maximum {max}")]
    FragmentTooLarge {
        /// Fragment length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Request fragments of a new call arrived before the last fragment of the previous call.
    #[error("fragments of call {new} interleaved with the unfinished call {previous}")]
    InterleavedFragments {
        /// The call still being reassembled.
        previous: u32,
        /// The call that cut in.
        new: u32,
    },
    /// A middle or last fragment for a call that has no first fragment.
    #[error("fragment of call {0} without a first fragment")]
    MissingFirstFragment(u32),
    /// A call's reassembled stub would exceed the configured limit.
    #[error("call {call_id}: reassembled stub would exceed {limit} bytes")]
    ReassemblyLimit {
        /// The call.
        call_id: u32,
        /// The limit in bytes.
        limit: usize,
    },
    /// A request named a presentation context that was not negotiated.
    #[error("unknown presentation context {0}")]
    UnknownContext(u16),
    /// A request or second bind arrived before the association was established.
    #[error("no association: bind first")]
    NotBound,
    /// The PDU carries a security trailer but no security provider is configured or it failed.
    #[error("authentication: {0}")]
    Auth(&'static str),
    /// The security provider refused a token or a fragment's signature.
    #[error("security: {0}")]
    Security(crate::auth::AuthError),
    /// A header field the peer set inconsistently with an earlier fragment or PDU.
    #[error("inconsistent fragment for call {0}")]
    InconsistentFragment(u32),
    /// The local caller used an unknown or finished call id.
    #[error("no such call {0}")]
    NoSuchCall(u32),
    /// The local caller started something the connection cannot do now.
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// A value does not fit in its wire field (for example more than 255 contexts).
    #[error("value too large for the wire: {0}")]
    TooLarge(&'static str),
}

/// What the receiving side does on the wire about an [`Error`] caused by the peer.
///
/// [`Error::reaction`] is the only place in the crate that decides this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireReaction {
    /// Fault the call with this status and keep the connection.
    Fault {
        /// The status in the fault PDU.
        status: FaultStatus,
        /// Whether the fault carries `PFC_DID_NOT_EXECUTE`.
        execution: Execution,
    },
    /// Answer the bind with a bind_nak carrying this reason, then keep the connection.
    BindNak(RejectReason),
    /// Fault with `nca_s_proto_error` when a call id is known, then close the connection.
    FaultAndClose,
    /// Close the connection without sending anything.
    Close,
}

impl Error {
    /// What a server does about this error when it is caused by the client's bytes.
    pub fn reaction(&self) -> WireReaction {
        match self {
            Error::UnknownContext(_) => WireReaction::Fault {
                status: FaultStatus::NCA_S_UNK_IF,
                execution: Execution::DidNotExecute,
            },
            // MS-RPCE 3.3.3.5.4: a request over the size limit SHOULD be faulted with status 5.
            // Windows sets no PFC_DID_NOT_EXECUTE on it (the raw suite's
            // test_fragmented_requests04 and 05), and closes the connection after it.
            Error::ReassemblyLimit { .. } => WireReaction::Fault {
                status: FaultStatus::ACCESS_DENIED,
                execution: Execution::MayHaveExecuted,
            },
            Error::UnsupportedVersion { .. } => {
                WireReaction::BindNak(RejectReason::PROTOCOL_VERSION_NOT_SUPPORTED)
            }
            Error::Auth(_) => {
                WireReaction::BindNak(RejectReason::AUTHENTICATION_TYPE_NOT_RECOGNIZED)
            }
            // A fragment over max_recv_frag: Windows faults it nca_s_proto_error (0x03), then
            // disconnects (the suite's _test_neg_xmit_check_values).
            Error::FragmentTooLarge { .. }
            | Error::NotBound
            | Error::InterleavedFragments { .. }
            | Error::MissingFirstFragment(_) => WireReaction::FaultAndClose,
            _ => WireReaction::Close,
        }
    }
}

/// Who caused a failure (h2's `Initiator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// This side: the local caller or this state machine.
    Local,
    /// The peer, by what it sent or by closing the transport.
    Remote,
}

/// Why a connection (association) ended; distinct from a single call's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The local side called `close()`.
    #[error("this side closed the connection")]
    LocallyClosed,
    /// The transport reported end of stream or an I/O error.
    #[error("the transport closed")]
    TransportClosed,
    /// A protocol violation; `initiator` says which side committed it.
    #[error("{}: {error}", if *initiator == Initiator::Local { "this side broke the protocol" } else { "the peer broke the protocol" })]
    Protocol {
        /// Who broke the protocol.
        initiator: Initiator,
        /// What was wrong.
        error: Error,
    },
    /// The client orphaned a call whose request was still being sent, and keep-connection-on-orphan
    /// was not negotiated (MS-RPCE 3.3.1.5.10).
    #[error(
        "a call was orphaned while its request was being sent, and keep-connection-on-orphan \
         was not negotiated"
    )]
    Orphaned,
    /// A bind_nak ended the association: on the client, the server rejected the bind; on the
    /// server, the bind it refused (Windows disconnects after every bind_nak).
    #[error("a bind_nak ended the association: {0:?}")]
    BindRejected(RejectReason),
    /// The server answered the bind with a fault PDU.
    #[error("the server faulted the bind: {0}")]
    BindFaulted(FaultStatus),
}

impl ConnectionError {
    /// Which side caused the connection to end.
    pub fn initiator(&self) -> Initiator {
        match self {
            ConnectionError::LocallyClosed | ConnectionError::Orphaned => Initiator::Local,
            ConnectionError::TransportClosed
            | ConnectionError::BindRejected(_)
            | ConnectionError::BindFaulted(_) => Initiator::Remote,
            ConnectionError::Protocol { initiator, .. } => *initiator,
        }
    }
}
