//! Status code spaces: Win32 `RPC_STATUS` values and the `nca_s_*` fault statuses carried in fault PDUs.
//!
//! Both are open newtypes: every `u32` is representable, the well-known values have named
//! constants, and unknown values print in hex. [`FaultStatus::to_win32`] and
//! [`Win32Status::to_fault`] are the one mapping between them (MS-RPCE 3.1.1.5.5).

use std::fmt;

macro_rules! codes {
    ($ty:ident { $( $(#[$doc:meta])* $name:ident = $val:expr, $text:expr; )* }) => {
        impl $ty {
            $( $(#[$doc])* pub const $name: $ty = $ty($val); )*

            /// The symbolic name of a known value, such as `"RPC_S_SERVER_UNAVAILABLE"`.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some(stringify!($name)), )*
                    _ => None,
                }
            }

            /// A short English description of a known value.
            pub fn description(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some($text), )*
                    _ => None,
                }
            }
        }
    };
}

/// A Win32 status as returned by the Windows RPC runtime (`RPC_STATUS`, `error_status_t`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Win32Status(pub u32);

codes!(Win32Status {
    /// Success.
    OK = 0, "the operation completed successfully";
    /// `ERROR_ACCESS_DENIED`.
    ERROR_ACCESS_DENIED = 5, "access is denied";
    /// `ERROR_OUTOFMEMORY`.
    ERROR_OUTOFMEMORY = 14, "not enough memory is available";
    /// `ERROR_INVALID_PARAMETER`.
    ERROR_INVALID_PARAMETER = 87, "the parameter is incorrect";
    /// `ERROR_IO_PENDING` / `RPC_S_ASYNC_CALL_PENDING`: the asynchronous call has not completed.
    RPC_S_ASYNC_CALL_PENDING = 997, "the asynchronous call is still pending";
    /// `ERROR_TIMEOUT`.
    ERROR_TIMEOUT = 1460, "the operation timed out";
    /// `RPC_S_INVALID_STRING_BINDING`.
    RPC_S_INVALID_STRING_BINDING = 1700, "the string binding is invalid";
    /// `RPC_S_WRONG_KIND_OF_BINDING`.
    RPC_S_WRONG_KIND_OF_BINDING = 1701, "the binding handle is not the correct type";
    /// `RPC_S_INVALID_BINDING`.
    RPC_S_INVALID_BINDING = 1702, "the binding handle is invalid";
    /// `RPC_S_PROTSEQ_NOT_SUPPORTED`.
    RPC_S_PROTSEQ_NOT_SUPPORTED = 1703, "the protocol sequence is not supported";
    /// `RPC_S_INVALID_RPC_PROTSEQ`.
    RPC_S_INVALID_RPC_PROTSEQ = 1704, "the protocol sequence is invalid";
    /// `RPC_S_INVALID_STRING_UUID`.
    RPC_S_INVALID_STRING_UUID = 1705, "the string UUID is invalid";
    /// `RPC_S_INVALID_ENDPOINT_FORMAT`.
    RPC_S_INVALID_ENDPOINT_FORMAT = 1706, "the endpoint format is invalid";
    /// `RPC_S_INVALID_NET_ADDR`.
    RPC_S_INVALID_NET_ADDR = 1707, "the network address is invalid";
    /// `RPC_S_NO_ENDPOINT_FOUND`.
    RPC_S_NO_ENDPOINT_FOUND = 1708, "no endpoint was found";
    /// `RPC_S_INVALID_TIMEOUT`.
    RPC_S_INVALID_TIMEOUT = 1709, "the timeout value is invalid";
    /// `RPC_S_OBJECT_NOT_FOUND`.
    RPC_S_OBJECT_NOT_FOUND = 1710, "the object UUID was not found";
    /// `RPC_S_ALREADY_REGISTERED`.
    RPC_S_ALREADY_REGISTERED = 1711, "the object UUID has already been registered";
    /// `RPC_S_TYPE_ALREADY_REGISTERED`.
    RPC_S_TYPE_ALREADY_REGISTERED = 1712, "the type UUID has already been registered";
    /// `RPC_S_ALREADY_LISTENING`.
    RPC_S_ALREADY_LISTENING = 1713, "the RPC server is already listening";
    /// `RPC_S_NO_PROTSEQS_REGISTERED`.
    RPC_S_NO_PROTSEQS_REGISTERED = 1714, "no protocol sequences have been registered";
    /// `RPC_S_NOT_LISTENING`.
    RPC_S_NOT_LISTENING = 1715, "the RPC server is not listening";
    /// `RPC_S_UNKNOWN_MGR_TYPE`.
    RPC_S_UNKNOWN_MGR_TYPE = 1716, "the manager type is unknown";
    /// `RPC_S_UNKNOWN_IF`.
    RPC_S_UNKNOWN_IF = 1717, "the interface is unknown";
    /// `RPC_S_NO_BINDINGS`.
    RPC_S_NO_BINDINGS = 1718, "there are no bindings";
    /// `RPC_S_NO_PROTSEQS`.
    RPC_S_NO_PROTSEQS = 1719, "there are no protocol sequences";
    /// `RPC_S_CANT_CREATE_ENDPOINT`.
    RPC_S_CANT_CREATE_ENDPOINT = 1720, "the endpoint cannot be created";
    /// `RPC_S_OUT_OF_RESOURCES`.
    RPC_S_OUT_OF_RESOURCES = 1721, "not enough resources are available to complete this operation";
    /// `RPC_S_SERVER_UNAVAILABLE`.
    RPC_S_SERVER_UNAVAILABLE = 1722, "the RPC server is unavailable";
    /// `RPC_S_SERVER_TOO_BUSY`.
    RPC_S_SERVER_TOO_BUSY = 1723, "the RPC server is too busy to complete this operation";
    /// `RPC_S_INVALID_NETWORK_OPTIONS`.
    RPC_S_INVALID_NETWORK_OPTIONS = 1724, "the network options are invalid";
    /// `RPC_S_NO_CALL_ACTIVE`.
    RPC_S_NO_CALL_ACTIVE = 1725, "there are no remote procedure calls active on this thread";
    /// `RPC_S_CALL_FAILED`.
    RPC_S_CALL_FAILED = 1726, "the remote procedure call failed";
    /// `RPC_S_CALL_FAILED_DNE`.
    RPC_S_CALL_FAILED_DNE = 1727, "the remote procedure call failed and did not execute";
    /// `RPC_S_PROTOCOL_ERROR`.
    RPC_S_PROTOCOL_ERROR = 1728, "a remote procedure call (RPC) protocol error occurred";
    /// `RPC_S_UNSUPPORTED_TRANS_SYN`.
    RPC_S_UNSUPPORTED_TRANS_SYN = 1730, "the transfer syntax is not supported by the RPC server";
    /// `RPC_S_UNSUPPORTED_TYPE`.
    RPC_S_UNSUPPORTED_TYPE = 1732, "the UUID type is not supported";
    /// `RPC_S_INVALID_TAG`.
    RPC_S_INVALID_TAG = 1733, "the tag is invalid";
    /// `RPC_S_INVALID_BOUND`.
    RPC_S_INVALID_BOUND = 1734, "the array bounds are invalid";
    /// `RPC_S_NO_ENTRY_NAME`.
    RPC_S_NO_ENTRY_NAME = 1735, "the binding does not contain an entry name";
    /// `RPC_S_UNKNOWN_AUTHN_SERVICE`.
    RPC_S_UNKNOWN_AUTHN_SERVICE = 1747, "the authentication service is unknown";
    /// `RPC_S_UNKNOWN_AUTHN_LEVEL`.
    RPC_S_UNKNOWN_AUTHN_LEVEL = 1748, "the authentication level is unknown";
    /// `RPC_S_INVALID_AUTH_IDENTITY`.
    RPC_S_INVALID_AUTH_IDENTITY = 1749, "the security context is invalid";
    /// `RPC_S_NOTHING_TO_EXPORT`.
    RPC_S_NOTHING_TO_EXPORT = 1754, "there are no interfaces to export";
    /// `RPC_S_PROCNUM_OUT_OF_RANGE`.
    RPC_S_PROCNUM_OUT_OF_RANGE = 1745, "the procedure number is out of range";
    /// `RPC_S_BINDING_HAS_NO_AUTH`.
    RPC_S_BINDING_HAS_NO_AUTH = 1746, "the binding does not contain any authentication information";
    /// `RPC_S_INVALID_ASYNC_HANDLE`.
    RPC_S_INVALID_ASYNC_HANDLE = 1914, "invalid asynchronous remote procedure call handle for this operation";
    /// `RPC_S_INVALID_ASYNC_CALL`.
    RPC_S_INVALID_ASYNC_CALL = 1915, "invalid asynchronous RPC call handle for this operation";
    /// `RPC_S_CANNOT_SUPPORT`.
    RPC_S_CANNOT_SUPPORT = 1764, "the requested operation is not supported";
    /// `RPC_S_NO_CONTEXT_AVAILABLE`.
    RPC_S_NO_CONTEXT_AVAILABLE = 1765, "no security context is available to allow impersonation";
    /// `RPC_S_INTERNAL_ERROR`.
    RPC_S_INTERNAL_ERROR = 1766, "an internal error occurred in a remote procedure call (RPC)";
    /// `RPC_S_ZERO_DIVIDE`.
    RPC_S_ZERO_DIVIDE = 1767, "the RPC server attempted an integer division by zero";
    /// `RPC_S_ADDRESS_ERROR`.
    RPC_S_ADDRESS_ERROR = 1768, "an addressing error occurred in the RPC server";
    /// `RPC_X_NULL_REF_POINTER`.
    RPC_X_NULL_REF_POINTER = 1780, "a null reference pointer was passed to the stub";
    /// `RPC_X_ENUM_VALUE_OUT_OF_RANGE`.
    RPC_X_ENUM_VALUE_OUT_OF_RANGE = 1781, "the enumeration value is out of range";
    /// `RPC_X_BYTE_COUNT_TOO_SMALL`.
    RPC_X_BYTE_COUNT_TOO_SMALL = 1782, "the byte count is too small";
    /// `RPC_X_BAD_STUB_DATA`.
    RPC_X_BAD_STUB_DATA = 1783, "the stub received bad data";
    /// `RPC_S_CALL_IN_PROGRESS`.
    RPC_S_CALL_IN_PROGRESS = 1791, "a remote procedure call is already in progress";
    /// `RPC_S_NO_MORE_BINDINGS`.
    RPC_S_NO_MORE_BINDINGS = 1806, "there are no more bindings";
    /// `RPC_S_CALL_CANCELLED`.
    RPC_S_CALL_CANCELLED = 1818, "the remote procedure call was cancelled";
    /// `RPC_S_COMM_FAILURE`.
    RPC_S_COMM_FAILURE = 1820, "a communications failure occurred during a remote procedure call";
    /// `RPC_S_UNSUPPORTED_AUTHN_LEVEL`.
    RPC_S_UNSUPPORTED_AUTHN_LEVEL = 1821, "the requested authentication level is not supported";
    /// `EPT_S_NOT_REGISTERED`.
    EPT_S_NOT_REGISTERED = 1753, "there are no more endpoints available from the endpoint mapper";
    /// `EPT_S_INVALID_ENTRY`.
    EPT_S_INVALID_ENTRY = 1751, "the entry is invalid";
    /// `EPT_S_CANT_PERFORM_OP`.
    EPT_S_CANT_PERFORM_OP = 1752, "the requested operation cannot be performed";
    /// `RPC_X_SS_CONTEXT_MISMATCH` / `ERROR_INVALID_HANDLE` as the runtime reports a bad context handle.
    ERROR_INVALID_HANDLE = 6, "the handle is invalid";
    /// `RPC_X_SS_IN_NULL_CONTEXT`.
    RPC_X_SS_IN_NULL_CONTEXT = 1775, "a null context handle was passed from the client to the host";
    /// `RPC_X_SS_CONTEXT_DAMAGED`.
    RPC_X_SS_CONTEXT_DAMAGED = 1777, "the context handle changed during a remote procedure call";
    /// `RPC_X_SS_HANDLES_MISMATCH`.
    RPC_X_SS_HANDLES_MISMATCH = 1778, "the binding handles passed to a remote procedure call do not match";
    /// `RPC_X_PIPE_EMPTY`.
    RPC_X_PIPE_EMPTY = 1918, "no more data is available from the RPC pipe";
    /// `RPC_S_SEC_PKG_ERROR`.
    RPC_S_SEC_PKG_ERROR = 1825, "a security package-specific error occurred";
    /// `SEC_E_INVALID_TOKEN`-class failures reported as a Win32 logon failure.
    ERROR_LOGON_FAILURE = 1326, "the user name or password is incorrect";
});

impl Win32Status {
    /// True for [`Win32Status::OK`].
    pub fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// The `nca_s_*` status to put in a fault PDU for this Win32 status (MS-RPCE 3.1.1.5.5).
    ///
    /// Win32 codes without an nca equivalent travel unchanged, as Windows servers do with, for
    /// example, `ERROR_ACCESS_DENIED` (5).
    pub fn to_fault(self) -> FaultStatus {
        match self {
            Self::RPC_S_COMM_FAILURE => FaultStatus::NCA_S_COMM_FAILURE,
            Self::RPC_S_PROCNUM_OUT_OF_RANGE => FaultStatus::NCA_S_OP_RNG_ERROR,
            Self::RPC_S_UNKNOWN_IF => FaultStatus::NCA_S_UNK_IF,
            Self::RPC_S_PROTOCOL_ERROR => FaultStatus::NCA_S_PROTO_ERROR,
            Self::RPC_S_SERVER_TOO_BUSY => FaultStatus::NCA_S_SERVER_TOO_BUSY,
            Self::RPC_S_CALL_FAILED => FaultStatus::NCA_S_UNSPEC_REJECT,
            Self::RPC_S_CALL_FAILED_DNE => FaultStatus::NCA_S_MANAGER_NOT_ENTERED,
            Self::RPC_S_CALL_CANCELLED => FaultStatus::NCA_S_FAULT_CANCEL,
            Self::RPC_X_BAD_STUB_DATA => FaultStatus::NCA_S_FAULT_NDR,
            Self::RPC_S_ZERO_DIVIDE => FaultStatus::NCA_S_FAULT_INT_DIV_BY_ZERO,
            Self::RPC_S_ADDRESS_ERROR => FaultStatus::NCA_S_FAULT_ADDR_ERROR,
            Self::ERROR_INVALID_HANDLE => FaultStatus::NCA_S_FAULT_CONTEXT_MISMATCH,
            other => FaultStatus(other.0),
        }
    }
}

impl fmt::Debug for Win32Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "Win32Status({:#x})", self.0),
        }
    }
}

impl fmt::Display for Win32Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), self.description()) {
            (Some(name), Some(text)) => write!(f, "{name} ({} = {:#x}): {text}", self.0, self.0),
            _ => write!(f, "status {} ({:#010x})", self.0, self.0),
        }
    }
}

impl From<u32> for Win32Status {
    fn from(v: u32) -> Self {
        Win32Status(v)
    }
}

/// The status in a fault PDU: an `nca_s_*` value or a plain Win32 code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FaultStatus(pub u32);

codes!(FaultStatus {
    /// `nca_s_comm_failure`.
    NCA_S_COMM_FAILURE = 0x1C01_0001, "communications failure";
    /// `nca_s_op_rng_error`: the opnum is out of range.
    NCA_S_OP_RNG_ERROR = 0x1C01_0002, "operation number out of range";
    /// `nca_s_unk_if`: unknown interface.
    NCA_S_UNK_IF = 0x1C01_0003, "unknown interface";
    /// `nca_s_wrong_boot_time`.
    NCA_S_WRONG_BOOT_TIME = 0x1C01_0006, "wrong boot time";
    /// `nca_s_you_crashed`.
    NCA_S_YOU_CRASHED = 0x1C01_0009, "you crashed";
    /// `nca_s_proto_error`: protocol error.
    NCA_S_PROTO_ERROR = 0x1C01_000B, "protocol error";
    /// `nca_s_out_args_too_big`.
    NCA_S_OUT_ARGS_TOO_BIG = 0x1C01_0013, "out arguments too big";
    /// `nca_s_server_too_busy`.
    NCA_S_SERVER_TOO_BUSY = 0x1C01_0014, "server too busy";
    /// `nca_s_fault_string_too_long`.
    NCA_S_FAULT_STRING_TOO_LONG = 0x1C01_0015, "string too long";
    /// `nca_s_unsupported_type`.
    NCA_S_UNSUPPORTED_TYPE = 0x1C01_0017, "unsupported type";
    /// `nca_s_fault_int_div_by_zero`.
    NCA_S_FAULT_INT_DIV_BY_ZERO = 0x1C00_0001, "integer division by zero";
    /// `nca_s_fault_addr_error`.
    NCA_S_FAULT_ADDR_ERROR = 0x1C00_0002, "address error";
    /// `nca_s_fault_invalid_tag`.
    NCA_S_FAULT_INVALID_TAG = 0x1C00_0006, "invalid union tag";
    /// `nca_s_fault_invalid_bound`.
    NCA_S_FAULT_INVALID_BOUND = 0x1C00_0007, "invalid array bound";
    /// `nca_s_fault_unspec_reject` (`nca_s_unspec_reject`).
    NCA_S_UNSPEC_REJECT = 0x1C00_0009, "unspecified reject";
    /// `nca_s_fault_bad_actid`.
    NCA_S_FAULT_BAD_ACTID = 0x1C00_000A, "bad activity id";
    /// `nca_s_fault_manager_not_entered`.
    NCA_S_MANAGER_NOT_ENTERED = 0x1C00_000C, "manager not entered";
    /// `nca_s_fault_cancel`.
    NCA_S_FAULT_CANCEL = 0x1C00_000D, "call cancelled";
    /// `nca_s_fault_ill_inst`.
    NCA_S_FAULT_ILL_INST = 0x1C00_000E, "illegal instruction";
    /// `nca_s_fault_unspec`.
    NCA_S_FAULT_UNSPEC = 0x1C00_0012, "unspecified fault";
    /// `nca_s_fault_pipe_empty`.
    NCA_S_FAULT_PIPE_EMPTY = 0x1C00_0014, "pipe empty";
    /// `nca_s_fault_pipe_closed`.
    NCA_S_FAULT_PIPE_CLOSED = 0x1C00_0015, "pipe closed";
    /// `nca_s_fault_pipe_order`.
    NCA_S_FAULT_PIPE_ORDER = 0x1C00_0016, "pipe order";
    /// `nca_s_fault_pipe_discipline`.
    NCA_S_FAULT_PIPE_DISCIPLINE = 0x1C00_0017, "pipe discipline";
    /// `nca_s_fault_pipe_comm_error`.
    NCA_S_FAULT_PIPE_COMM_ERROR = 0x1C00_0018, "pipe communication error";
    /// `nca_s_fault_context_mismatch`: unknown, closed or wrongly typed context handle.
    NCA_S_FAULT_CONTEXT_MISMATCH = 0x1C00_001A, "context handle mismatch";
    /// `nca_s_fault_remote_no_memory`.
    NCA_S_FAULT_REMOTE_NO_MEMORY = 0x1C00_001B, "remote out of memory";
    /// `nca_s_fault_ndr` (`RPC_X_BAD_STUB_DATA` on the wire, 0x6F7).
    NCA_S_FAULT_NDR = 0x0000_06F7, "bad stub data";
});

impl FaultStatus {
    /// `ERROR_ACCESS_DENIED` (5) in a fault PDU, as Windows servers send it: refused logons,
    /// calls below an interface's security, requests over the size limit (MS-RPCE 3.3.3.5.4).
    /// Kept outside the named `nca_s_*` codes, so it prints as the number it is.
    pub const ACCESS_DENIED: FaultStatus = FaultStatus(5);

    /// Statuses a server MUST NOT put in a fault PDU (MS-RPCE 3.3.3.5.1); a client treats them
    /// as a protocol error (3.3.2.5.1).
    pub const FORBIDDEN_ON_WIRE: [FaultStatus; 14] = [
        FaultStatus(0x0000_0000),
        FaultStatus(0x8000_0001),
        FaultStatus(0x8000_0002),
        FaultStatus(0x8000_0003),
        FaultStatus(0xC000_0005),
        FaultStatus(0xC000_0006),
        FaultStatus(0xC000_001D),
        FaultStatus(0xC000_0096),
        FaultStatus(0xC000_00AA),
        FaultStatus(0xC000_00FD),
        FaultStatus(0xC000_0194),
        FaultStatus(0xC000_0235),
        FaultStatus(0xC000_0409),
        FaultStatus(0xC000_0420),
    ];

    /// True for the statuses of [`FaultStatus::FORBIDDEN_ON_WIRE`].
    pub fn is_forbidden_on_wire(self) -> bool {
        Self::FORBIDDEN_ON_WIRE.contains(&self)
    }

    /// The Win32 status a client reports for this fault (MS-RPCE 3.1.1.5.5).
    pub fn to_win32(self) -> Win32Status {
        match self {
            Self::NCA_S_COMM_FAILURE => Win32Status::RPC_S_COMM_FAILURE,
            Self::NCA_S_OP_RNG_ERROR => Win32Status::RPC_S_PROCNUM_OUT_OF_RANGE,
            Self::NCA_S_UNK_IF => Win32Status::RPC_S_UNKNOWN_IF,
            Self::NCA_S_PROTO_ERROR => Win32Status::RPC_S_PROTOCOL_ERROR,
            Self::NCA_S_SERVER_TOO_BUSY => Win32Status::RPC_S_SERVER_TOO_BUSY,
            Self::NCA_S_UNSPEC_REJECT => Win32Status::RPC_S_CALL_FAILED,
            Self::NCA_S_MANAGER_NOT_ENTERED => Win32Status::RPC_S_CALL_FAILED_DNE,
            Self::NCA_S_FAULT_CANCEL => Win32Status::RPC_S_CALL_CANCELLED,
            Self::NCA_S_FAULT_INT_DIV_BY_ZERO => Win32Status::RPC_S_ZERO_DIVIDE,
            Self::NCA_S_FAULT_ADDR_ERROR => Win32Status::RPC_S_ADDRESS_ERROR,
            Self::NCA_S_FAULT_INVALID_TAG => Win32Status::RPC_S_INVALID_TAG,
            Self::NCA_S_FAULT_INVALID_BOUND => Win32Status::RPC_S_INVALID_BOUND,
            Self::NCA_S_UNSUPPORTED_TYPE => Win32Status::RPC_S_UNSUPPORTED_TYPE,
            Self::NCA_S_FAULT_CONTEXT_MISMATCH => Win32Status::ERROR_INVALID_HANDLE,
            Self::NCA_S_FAULT_REMOTE_NO_MEMORY => Win32Status::ERROR_OUTOFMEMORY,
            Self::NCA_S_FAULT_UNSPEC | Self::NCA_S_FAULT_ILL_INST | Self::NCA_S_YOU_CRASHED => {
                Win32Status::RPC_S_CALL_FAILED
            }
            other => Win32Status(other.0),
        }
    }
}

impl fmt::Debug for FaultStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({:#010x})", self.0),
            None => write!(f, "FaultStatus({:#010x})", self.0),
        }
    }
}

impl fmt::Display for FaultStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), self.description()) {
            (Some(name), Some(text)) => write!(
                f,
                "{} ({:#010x}): {text}",
                name.to_ascii_lowercase(),
                self.0
            ),
            _ => write!(f, "fault {:#010x}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nca_mapping_follows_ms_rpce() {
        assert_eq!(FaultStatus(0x1C01_0002).to_win32(), Win32Status(1745));
        assert_eq!(FaultStatus(0x1C01_0003).to_win32(), Win32Status(1717));
        assert_eq!(FaultStatus(0x1C00_000D).to_win32(), Win32Status(1818));
        assert_eq!(FaultStatus(0x1C00_001A).to_win32(), Win32Status(6));
        assert_eq!(FaultStatus(5).to_win32(), Win32Status::ERROR_ACCESS_DENIED);
        assert_eq!(Win32Status(1818).to_fault(), FaultStatus(0x1C00_000D));
        assert_eq!(Win32Status(5).to_fault(), FaultStatus(5));
    }

    #[test]
    fn unknown_values_print_in_hex() {
        assert_eq!(format!("{:?}", Win32Status(0xdead)), "Win32Status(0xdead)");
        assert_eq!(
            format!("{:?}", FaultStatus(0x1234)),
            "FaultStatus(0x00001234)"
        );
        assert_eq!(
            format!("{:?}", Win32Status(1722)),
            "RPC_S_SERVER_UNAVAILABLE (1722)"
        );
    }
}
