//! The runtime's error type.
//!
//! Every error carries the Win32 status a Windows RPC program would see (`RpcExceptionCode()`), so code
//! ported from Windows can keep matching on status values, while Rust code can match on the variant.
//! Call-level failures (a fault for one call) and connection-level failures (the association is gone) are
//! kept apart, and each records which side caused it.

use std::fmt;
use std::io;

pub use msrpc_proto::Initiator;
pub use msrpc_proto::wire::{BindAckResult, ProviderReason, RejectReason};
use msrpc_proto::{ConnectionError, Execution, FaultStatus, Win32Status};

/// An error from the msrpc runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered this call with a fault PDU.
    #[error("the server faulted the call: {status} ({})", short(*win32))]
    Fault {
        /// The status in the fault PDU.
        status: FaultStatus,
        /// The fault's Win32 equivalent (MS-RPCE 3.1.1.5.5).
        win32: Win32Status,
        /// Whether the manager routine may have run: [`Execution::DidNotExecute`] when the
        /// server set PFC_DID_NOT_EXECUTE (the call is safe to retry).
        execution: Execution,
    },
    /// The call was cancelled (RPC_S_CALL_CANCELLED, 1818): by `cancel`, by a call timeout, or by drop.
    #[error("the call was cancelled ({initiator:?}): RPC_S_CALL_CANCELLED (1818)")]
    Cancelled {
        /// Who cancelled it.
        initiator: Initiator,
    },
    /// The bind or alter_context was rejected.
    #[error("the server rejected the binding: {reason} ({})", short(*status))]
    BindRejected {
        /// The Win32 status for the rejection (RPC_S_UNKNOWN_IF, RPC_S_UNSUPPORTED_TRANS_SYN, ...).
        status: Win32Status,
        /// What the server said: the reason code of its bind_ack result or bind_nak.
        reason: BindRejection,
    },
    /// The server could not be reached (RPC_S_SERVER_UNAVAILABLE, 1722).
    #[error("the RPC server is unavailable: {source} (RPC_S_SERVER_UNAVAILABLE 1722)")]
    ServerUnavailable {
        /// The transport's error.
        #[source]
        source: io::Error,
    },
    /// The connection failed while calls were pending (RPC_S_COMM_FAILURE, 1820, or
    /// RPC_S_CALL_FAILED, 1726, where the call may have executed).
    #[error("the connection failed: {cause} ({})", short(*status))]
    Connection {
        /// The status reported to the caller.
        status: Win32Status,
        /// Who broke it.
        initiator: Initiator,
        /// What ended the connection, as the protocol core reported it.
        cause: ConnectionError,
    },
    /// The peer violated the protocol (RPC_S_PROTOCOL_ERROR, 1728).
    #[error("protocol error ({initiator:?}): {reason} (RPC_S_PROTOCOL_ERROR 1728)")]
    Protocol {
        /// Who violated it: `Remote` when we saw a bad PDU.
        initiator: Initiator,
        /// What was wrong.
        reason: String,
    },
    /// Stub data could not be marshalled or unmarshalled (RPC_X_BAD_STUB_DATA, 1783).
    #[error("bad stub data: {0} (RPC_X_BAD_STUB_DATA 1783)")]
    Ndr(#[from] msrpc_ndr::Error),
    /// A call timed out: the binding's call timeout expired (reported as RPC_S_CALL_CANCELLED, 1818).
    #[error("the call timed out after {0:?} (RPC_S_CALL_CANCELLED 1818)")]
    CallTimeout(std::time::Duration),
    /// Connecting did not finish within the connect timeout.
    #[error("connecting timed out after {0:?} (RPC_S_SERVER_UNAVAILABLE 1722)")]
    ConnectTimeout(std::time::Duration),
    /// The SMB layer under a named pipe (`ncacn_np`) refused: the SMB session setup (a wrong
    /// password is `ERROR_ACCESS_DENIED` here, not at the RPC layer), the tree connect to `IPC$`,
    /// opening the pipe (no such pipe is `RPC_S_SERVER_UNAVAILABLE`), or signing or encryption
    /// the server requires.
    #[error("{message} ({status})")]
    Smb {
        /// The Win32 status reported to the caller.
        status: Win32Status,
        /// The NTSTATUS the SMB server answered with, when it answered one.
        nt_status: Option<u32>,
        /// What happened, in words.
        message: String,
    },
    /// Any other status, with a message: invalid arguments, misuse of a handle, limits.
    #[error("{message} ({})", short(*status))]
    Status {
        /// The Win32 status.
        status: Win32Status,
        /// What happened and what to try.
        message: String,
    },
}

/// Why a server refused a bind or alter_context ([`Error::BindRejected`]): the reason code it sent,
/// which prints in words (`abstract syntax not supported`). Unknown codes stay representable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BindRejection {
    /// The interface's presentation context was rejected in bind_ack or alter_context_resp; the
    /// association itself stands.
    Context {
        /// `provider_rejection` (the RPC runtime) or `user_rejection` (the server application).
        result: BindAckResult,
        /// `p_provider_reason_t`.
        reason: ProviderReason,
    },
    /// The whole bind was refused with bind_nak (`p_reject_reason_t`); the server closes the
    /// connection.
    Nak(RejectReason),
}

impl BindRejection {
    /// The Win32 status a Windows client reports for this rejection. A presentation context
    /// rejected for its abstract syntax is `RPC_S_UNKNOWN_IF` (1717), for its transfer syntaxes
    /// `RPC_S_UNSUPPORTED_TRANS_SYN` (1730), for any other reason `RPC_S_CALL_FAILED_DNE` (1727). A
    /// bind_nak for an unknown authentication type is `RPC_S_UNKNOWN_AUTHN_SERVICE` (1747); any
    /// other bind_nak is `ERROR_ACCESS_DENIED` (5) on an authenticated bind (`secured`) and
    /// `RPC_S_SERVER_UNAVAILABLE` (1722) on an unauthenticated one.
    pub(crate) fn status(self, secured: bool) -> Win32Status {
        match self {
            BindRejection::Context { reason, .. } => match reason {
                ProviderReason::ABSTRACT_SYNTAX_NOT_SUPPORTED => Win32Status::RPC_S_UNKNOWN_IF,
                ProviderReason::PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED => {
                    Win32Status::RPC_S_UNSUPPORTED_TRANS_SYN
                }
                _ => Win32Status::RPC_S_CALL_FAILED_DNE,
            },
            BindRejection::Nak(RejectReason::AUTHENTICATION_TYPE_NOT_RECOGNIZED) => {
                Win32Status::RPC_S_UNKNOWN_AUTHN_SERVICE
            }
            BindRejection::Nak(_) if secured => Win32Status::ERROR_ACCESS_DENIED,
            BindRejection::Nak(_) => Win32Status::RPC_S_SERVER_UNAVAILABLE,
        }
    }
}

impl fmt::Display for BindRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BindRejection::Context { result, reason } => {
                if result == BindAckResult::USER_REJECTION {
                    f.write_str("user rejection, ")?;
                }
                match reason {
                    ProviderReason::NOT_SPECIFIED => f.write_str("reason not specified"),
                    ProviderReason::ABSTRACT_SYNTAX_NOT_SUPPORTED => {
                        f.write_str("abstract syntax not supported")
                    }
                    ProviderReason::PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED => {
                        f.write_str("proposed transfer syntaxes not supported")
                    }
                    ProviderReason::LOCAL_LIMIT_EXCEEDED => f.write_str("local limit exceeded"),
                    ProviderReason(other) => write!(f, "provider reason {other:#06x}"),
                }
            }
            BindRejection::Nak(reason) => {
                f.write_str("bind_nak, ")?;
                f.write_str(match reason {
                    RejectReason::NOT_SPECIFIED => "reason not specified",
                    RejectReason::TEMPORARY_CONGESTION => "temporary congestion",
                    RejectReason::LOCAL_LIMIT_EXCEEDED => "local limit exceeded",
                    RejectReason::CALLED_PADDR_UNKNOWN => "called presentation address unknown",
                    RejectReason::PROTOCOL_VERSION_NOT_SUPPORTED => {
                        "protocol version not supported"
                    }
                    RejectReason::DEFAULT_CONTEXT_NOT_SUPPORTED => "default context not supported",
                    RejectReason::USER_DATA_NOT_READABLE => "user data not readable",
                    RejectReason::NO_PSAP_AVAILABLE => "no PSAP available",
                    RejectReason::AUTHENTICATION_TYPE_NOT_RECOGNIZED => {
                        "authentication type not recognized"
                    }
                    RejectReason::INVALID_CHECKSUM => "invalid checksum",
                    RejectReason(other) => return write!(f, "reject reason {other:#06x}"),
                })
            }
        }
    }
}

impl Error {
    /// The Win32 status a Windows RPC program would see for this error.
    pub fn status(&self) -> Win32Status {
        match self {
            Error::Fault { win32, .. } => *win32,
            Error::Cancelled { .. } | Error::CallTimeout(_) => Win32Status::RPC_S_CALL_CANCELLED,
            Error::BindRejected { status, .. } => *status,
            Error::ServerUnavailable { .. } | Error::ConnectTimeout(_) => {
                Win32Status::RPC_S_SERVER_UNAVAILABLE
            }
            Error::Connection { status, .. } => *status,
            Error::Protocol { .. } => Win32Status::RPC_S_PROTOCOL_ERROR,
            Error::Ndr(_) => Win32Status::RPC_X_BAD_STUB_DATA,
            Error::Status { status, .. } | Error::Smb { status, .. } => *status,
        }
    }

    /// An error with a status and a message.
    pub fn status_msg(status: Win32Status, message: impl fmt::Display) -> Self {
        Error::Status {
            status,
            message: message.to_string(),
        }
    }

    /// A fault received from the server (the runtime's; applications match [`Error::Fault`]).
    pub(crate) fn fault(status: FaultStatus, execution: Execution) -> Self {
        Error::Fault {
            status,
            win32: status.to_win32(),
            execution,
        }
    }

    /// True if the error concerns only this call and the connection can carry on.
    pub fn is_call_level(&self) -> bool {
        matches!(
            self,
            Error::Fault { .. } | Error::Cancelled { .. } | Error::Ndr(_) | Error::CallTimeout(_)
        )
    }
}

impl From<Win32Status> for Error {
    fn from(status: Win32Status) -> Self {
        Error::Status {
            status,
            message: status.description().unwrap_or("RPC error").to_string(),
        }
    }
}

/// A status as every message of this type ends: its name and number, once (`RPC_S_UNKNOWN_IF 1717`).
fn short(status: Win32Status) -> String {
    match status.name() {
        Some(name) => format!("{name} {}", status.0),
        None => format!("status {} = {:#x}", status.0, status.0),
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<crate::binding::BindingError> for Error {
    fn from(e: crate::binding::BindingError) -> Self {
        Error::Status {
            status: e.status(),
            // The status is named once, by this error's own message.
            message: e.without_status().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bind_rejection_prints_its_reason_in_words_and_its_status_once() {
        let unknown_if = BindRejection::Context {
            result: BindAckResult::PROVIDER_REJECTION,
            reason: ProviderReason::ABSTRACT_SYNTAX_NOT_SUPPORTED,
        };
        let e = Error::BindRejected {
            status: unknown_if.status(false),
            reason: unknown_if,
        };
        assert_eq!(e.status(), Win32Status::RPC_S_UNKNOWN_IF);
        assert_eq!(
            e.to_string(),
            "the server rejected the binding: abstract syntax not supported (RPC_S_UNKNOWN_IF 1717)"
        );
        let ts = BindRejection::Context {
            result: BindAckResult::PROVIDER_REJECTION,
            reason: ProviderReason::PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED,
        };
        assert_eq!(ts.status(false), Win32Status::RPC_S_UNSUPPORTED_TRANS_SYN);
        assert_eq!(ts.to_string(), "proposed transfer syntaxes not supported");
        let user = BindRejection::Context {
            result: BindAckResult::USER_REJECTION,
            reason: ProviderReason(0x77),
        };
        assert_eq!(user.status(true), Win32Status::RPC_S_CALL_FAILED_DNE);
        assert_eq!(user.to_string(), "user rejection, provider reason 0x0077");

        let auth = BindRejection::Nak(RejectReason::AUTHENTICATION_TYPE_NOT_RECOGNIZED);
        assert_eq!(auth.status(true), Win32Status::RPC_S_UNKNOWN_AUTHN_SERVICE);
        assert_eq!(
            auth.to_string(),
            "bind_nak, authentication type not recognized"
        );
        let nak = BindRejection::Nak(RejectReason::NOT_SPECIFIED);
        assert_eq!(nak.status(true), Win32Status::ERROR_ACCESS_DENIED);
        assert_eq!(nak.status(false), Win32Status::RPC_S_SERVER_UNAVAILABLE);
        assert_eq!(
            BindRejection::Nak(RejectReason(42)).to_string(),
            "bind_nak, reject reason 0x002a"
        );
    }
}
