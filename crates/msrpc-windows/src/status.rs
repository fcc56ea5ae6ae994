//! NTSTATUS values ([MS-ERREF] 2.3) as an open newtype, and the error type of the thin layer.

use std::fmt;

use msrpc::Win32Status;

/// An NTSTATUS, as samr and lsarpc return them: an open newtype; unknown values print in hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NtStatus(pub u32);

macro_rules! nt_statuses {
    ($($name:ident = $value:expr,)*) => {
        impl NtStatus {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                pub const $name: NtStatus = NtStatus($value);
            )*

            /// The symbolic name of a known value.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

nt_statuses! {
    STATUS_SUCCESS = 0x0000_0000,
    STATUS_MORE_ENTRIES = 0x0000_0105,
    STATUS_SOME_NOT_MAPPED = 0x0000_0107,
    STATUS_BUFFER_OVERFLOW = 0x8000_0005,
    STATUS_NO_MORE_ENTRIES = 0x8000_001A,
    STATUS_UNSUCCESSFUL = 0xC000_0001,
    STATUS_NOT_IMPLEMENTED = 0xC000_0002,
    STATUS_INVALID_INFO_CLASS = 0xC000_0003,
    STATUS_INVALID_HANDLE = 0xC000_0008,
    STATUS_INVALID_PARAMETER = 0xC000_000D,
    STATUS_ACCESS_DENIED = 0xC000_0022,
    STATUS_BUFFER_TOO_SMALL = 0xC000_0023,
    STATUS_END_OF_FILE = 0xC000_0011,
    STATUS_OBJECT_NAME_NOT_FOUND = 0xC000_0034,
    STATUS_OBJECT_PATH_INVALID = 0xC000_0039,
    STATUS_NO_SUCH_USER = 0xC000_0064,
    STATUS_NO_SUCH_GROUP = 0xC000_0066,
    STATUS_WRONG_PASSWORD = 0xC000_006A,
    STATUS_LOGON_FAILURE = 0xC000_006D,
    STATUS_NONE_MAPPED = 0xC000_0073,
    STATUS_INSUFFICIENT_RESOURCES = 0xC000_009A,
    STATUS_NOT_SUPPORTED = 0xC000_00BB,
    STATUS_NO_SUCH_DOMAIN = 0xC000_00DF,
    STATUS_NO_SUCH_ALIAS = 0xC000_0151,
}

impl NtStatus {
    /// From the `long` an operation returns.
    pub fn from_return(v: i32) -> NtStatus {
        NtStatus(v as u32)
    }

    /// Success and informational values (severity 0 or 1).
    pub fn is_success(self) -> bool {
        self.0 >> 30 <= 1
    }
}

impl fmt::Display for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} (0x{:08X})", self.0),
            None => write!(f, "NTSTATUS 0x{:08X}", self.0),
        }
    }
}

/// What an operation of the thin layer can fail with: the RPC call itself, or the status the
/// operation returned (NTSTATUS for samr and lsarpc, Win32 for srvsvc, winreg, svcctl, eventlog).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The call failed: not reached, refused, faulted, or a reply that did not decode.
    #[error(transparent)]
    Rpc(#[from] msrpc::Error),
    /// The operation returned an NTSTATUS error.
    #[error("{op}: {status}")]
    Nt {
        /// The operation, as the specification names it.
        op: &'static str,
        /// What it returned.
        status: NtStatus,
    },
    /// The operation returned a Win32 error.
    #[error("{op}: {status}")]
    Win32 {
        /// The operation, as the specification names it.
        op: &'static str,
        /// What it returned.
        status: Win32Status,
    },
    /// The reply was well-formed NDR but not what the specification says (a missing buffer,
    /// counts that disagree).
    #[error("{op}: {what}")]
    Reply {
        /// The operation.
        op: &'static str,
        /// What was wrong.
        what: String,
    },
}

impl Error {
    /// The Win32 status to report: the RPC error's, the operation's, or for an NTSTATUS the
    /// status itself (as a Windows tool prints it, in hex).
    pub fn win32(&self) -> Option<Win32Status> {
        match self {
            Error::Rpc(e) => Some(e.status()),
            Error::Win32 { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// `Result` of the thin layer.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg_attr(not(any(feature = "samr", feature = "lsarpc")), allow(dead_code))]
pub(crate) fn nt(op: &'static str, v: i32) -> Result<NtStatus> {
    let s = NtStatus::from_return(v);
    if s.is_success() {
        Ok(s)
    } else {
        Err(Error::Nt { op, status: s })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_hex() {
        assert_eq!(
            NtStatus::STATUS_ACCESS_DENIED.to_string(),
            "STATUS_ACCESS_DENIED (0xC0000022)"
        );
        assert_eq!(NtStatus(0xC0DE_0001).to_string(), "NTSTATUS 0xC0DE0001");
        assert!(NtStatus::STATUS_MORE_ENTRIES.is_success());
        assert!(!NtStatus::STATUS_NO_MORE_ENTRIES.is_success());
        assert!(nt("SamrOpenDomain", 0xC000_0022u32 as i32).is_err());
    }
}
