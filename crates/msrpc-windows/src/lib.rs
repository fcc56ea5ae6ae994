//! Ready-made msrpc clients for the Windows RPC interfaces people call.
#![forbid(unsafe_code)]

/// The MS-DTYP types the interfaces share (`RPC_UNICODE_STRING`, `RPC_SID`, `FILETIME`...),
/// generated once.
pub mod dtyp {
    include!(concat!(env!("OUT_DIR"), "/dtyp.rs"));
}

macro_rules! interface {
    ($feature:literal, $name:ident, $doc:literal) => {
        #[cfg(feature = $feature)]
        #[doc = $doc]
        pub mod $name {
            include!(concat!(env!("OUT_DIR"), "/", stringify!($name), ".rs"));
        }
    };
}

interface!(
    "srvsvc",
    srvsvc,
    "[MS-SRVS] Server Service Remote Protocol (generated)."
);
interface!(
    "wkssvc",
    wkssvc,
    "[MS-WKST] Workstation Service Remote Protocol (generated)."
);
interface!(
    "winreg",
    winreg,
    "[MS-RRP] Windows Remote Registry Protocol (generated)."
);
interface!(
    "svcctl",
    svcctl,
    "[MS-SCMR] Service Control Manager Remote Protocol (generated)."
);
interface!(
    "samr",
    samr,
    "[MS-SAMR] Security Account Manager Remote Protocol (generated)."
);
interface!(
    "lsarpc",
    lsad,
    "[MS-LSAD] Local Security Authority (Domain Policy) Remote Protocol (generated)."
);
interface!(
    "lsarpc",
    lsat,
    "[MS-LSAT] Local Security Authority (Translation Methods) Remote Protocol (generated)."
);
interface!(
    "eventlog",
    eventlog,
    "[MS-EVEN] EventLog Remoting Protocol (generated)."
);
interface!(
    "netlogon",
    netlogon,
    "[MS-NRPC] Netlogon Remote Protocol (generated)."
);
interface!("tsch", atsvc, "[MS-TSCH] ATSvc interface (generated).");
interface!("tsch", sasec, "[MS-TSCH] SASec interface (generated).");
interface!(
    "tsch",
    schrpc,
    "[MS-TSCH] ITaskSchedulerService interface (generated)."
);
