//! Errors in words, exit codes, the names of well-known interfaces, and printing that survives a
//! closed pipe.

/// `println!` for the tool's output: when stdout is a pipe whose reader has gone (`msrpc ping ... |
/// head`), the tool stops quietly with exit 0 instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, $($arg)*).and_then(|()| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write the output: {e}");
            std::process::exit(1);
        }
    }};
}
pub(crate) use outln;

use std::fmt;

use msrpc::{Error, Win32Status};

/// A failure to report: the message, and the exit code scripts can rely on.
#[derive(Debug)]
pub(crate) struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    /// An RPC error: `error: RPC_S_SERVER_UNAVAILABLE (1722): ...` plus what to try.
    pub(crate) fn rpc(e: Error) -> Failure {
        let status = e.status();
        let code = match status {
            Win32Status::RPC_S_SERVER_UNAVAILABLE => 3,
            Win32Status::RPC_S_INVALID_STRING_BINDING
            | Win32Status::RPC_S_INVALID_RPC_PROTSEQ
            | Win32Status::RPC_S_PROTSEQ_NOT_SUPPORTED
            | Win32Status::RPC_S_INVALID_ENDPOINT_FORMAT
            | Win32Status::RPC_S_INVALID_STRING_UUID
            | Win32Status::RPC_S_INVALID_NET_ADDR => 2,
            _ => 1,
        };
        // The error names its status once, at the end of its message.
        let mut message = format!("error: {e}");
        if let Some(hint) = hint(status) {
            message.push_str("\n  try: ");
            message.push_str(hint);
        }
        Failure { message, code }
    }

    /// A failure outside RPC (the runtime, the terminal).
    pub(crate) fn other(message: impl Into<String>) -> Failure {
        Failure {
            message: format!("error: {}", message.into()),
            code: 1,
        }
    }

    /// Bad usage (exit code 2).
    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure {
            message: format!("error: {}", message.into()),
            code: 2,
        }
    }

    pub(crate) fn exit_code(&self) -> u8 {
        self.code
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn hint(status: Win32Status) -> Option<&'static str> {
    Some(match status {
        Win32Status::RPC_S_SERVER_UNAVAILABLE => {
            "check that the server runs and listens on that address and port (msrpc serve prints them)"
        }
        Win32Status::RPC_S_UNKNOWN_IF => {
            "the server does not offer this interface; list what it offers with `msrpc ifids BINDING`"
        }
        Win32Status::RPC_S_INVALID_STRING_BINDING => {
            "write the binding as Windows does: ncacn_ip_tcp:HOST[PORT] or ncalrpc:[NAME]"
        }
        Win32Status::EPT_S_NOT_REGISTERED => {
            "the host's endpoint mapper does not know this interface; list what it knows with \
             `msrpc epm ncacn_ip_tcp:HOST`, or give the port: ncacn_ip_tcp:HOST[PORT]"
        }
        Win32Status::ERROR_ACCESS_DENIED => {
            "the server refused the call: check the user and password (--user, $MSRPC_PASSWORD), \
             or the server wants a higher --auth-level"
        }
        Win32Status::RPC_S_UNKNOWN_AUTHN_SERVICE => {
            "the server does not do this authentication; drop --user, or start it with --users FILE"
        }
        Win32Status::RPC_S_SEC_PKG_ERROR => {
            "a signature did not verify: the traffic was altered, or the peer's NTLM is broken"
        }
        Win32Status::RPC_S_CALL_CANCELLED => {
            "the call timed out or was cancelled; raise --timeout-ms if the server is slow"
        }
        Win32Status::RPC_S_PROTSEQ_NOT_SUPPORTED => "use ncacn_ip_tcp or ncalrpc",
        _ => return None,
    })
}

/// Names of well-known interfaces (MS-RPCE and the MS-* protocol specifications).
pub(crate) fn known_interface_name(uuid: &uuid::Uuid) -> Option<&'static str> {
    const KNOWN: &[(&str, &str)] = &[
        (
            "e1af8308-5d1f-11c9-91a4-08002b14a0fa",
            "epm (endpoint mapper)",
        ),
        (
            "afa8bd80-7d8a-11c9-bef4-08002b102989",
            "mgmt (remote management)",
        ),
        (
            "7f6c4340-eb67-11d1-b9d7-00c04fad9a3b",
            "AsyncRPC (Windows SDK sample)",
        ),
        ("4b324fc8-1670-01d3-1278-5a47bf6ee188", "srvsvc (MS-SRVS)"),
        ("12345778-1234-abcd-ef00-0123456789ab", "lsarpc (MS-LSAD)"),
        ("12345778-1234-abcd-ef00-0123456789ac", "samr (MS-SAMR)"),
        ("12345678-1234-abcd-ef00-01234567cffb", "netlogon (MS-NRPC)"),
        ("338cd001-2244-31f1-aaaa-900038001003", "winreg (MS-RRP)"),
        ("367abb81-9844-35f1-ad32-98f038001003", "svcctl (MS-SCMR)"),
        ("6bffd098-a112-3610-9833-46c3f87e345a", "wkssvc (MS-WKST)"),
        ("82273fdc-e32a-18c3-3f78-827929dc23ea", "eventlog (MS-EVEN)"),
        (
            "86d35949-83c9-4044-b424-db363231fd0c",
            "ITaskSchedulerService (MS-TSCH)",
        ),
        ("1ff70682-0a51-30e8-076d-740be8cee98b", "atsvc (MS-TSCH)"),
        ("12345678-1234-abcd-ef00-0123456789ab", "spoolss (MS-RPRN)"),
        ("e3514235-4b06-11d1-ab04-00c04fc2dcd2", "drsuapi (MS-DRSR)"),
        ("3919286a-b10c-11d0-9ba8-00c04fd92ef5", "dssetup (MS-DSSP)"),
        ("c681d488-d850-11d0-8c52-00c04fd90f7e", "efsrpc (MS-EFSR)"),
        (
            "8d9f4e40-a03d-11ce-8f69-08003e30051b",
            "ntsvcs / plugplay (MS-PNPR)",
        ),
        (
            "a8e0653c-2744-4389-a61d-7373df8b2292",
            "FileServerVssAgent (MS-FSRVP)",
        ),
        ("885d85fb-c754-4062-a0e7-6872ce0064f4", "mdssvc"),
        ("4fc742e0-4a10-11cf-8273-00aa004ae673", "netdfs (MS-DFSNM)"),
        (
            "00000131-0000-0000-c000-000000000046",
            "IRemUnknown2 (MS-DCOM)",
        ),
        (
            "99fcfec4-5260-101b-bbcb-00aa0021347a",
            "IObjectExporter (MS-DCOM)",
        ),
        (
            "000001a0-0000-0000-c000-000000000046",
            "IRemoteSCMActivator (MS-DCOM)",
        ),
    ];
    let text = uuid.to_string();
    KNOWN.iter().find(|(u, _)| *u == text).map(|(_, n)| *n)
}
