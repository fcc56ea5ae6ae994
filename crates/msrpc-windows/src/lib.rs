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
    ($feature:literal, $name:ident, $doc:literal, ext) => {
        #[cfg(feature = $feature)]
        #[doc = $doc]
        pub mod $name {
            include!(concat!(env!("OUT_DIR"), "/", stringify!($name), ".rs"));
            mod ext;
            pub use self::ext::*;
        }
    };
}

pub mod paging;
mod sid;
mod status;

pub use paging::{Page, Paged};
pub use sid::{MAX_SUB_AUTHORITIES, Sid, SidParseError, string_of, unicode_string};
pub use status::{Error, NtStatus, Result};

interface!(
    "srvsvc",
    srvsvc,
    "[MS-SRVS] Server Service Remote Protocol: the generated stubs (`srvsvc::srvsvc::Client`) and [`srvsvc::shares`].",
    ext
);
interface!(
    "wkssvc",
    wkssvc,
    "[MS-WKST] Workstation Service Remote Protocol: the generated stubs (`wkssvc::wkssvc::Client`), [`wkssvc::workstation_info`] and [`wkssvc::logged_on_users`].",
    ext
);
interface!(
    "winreg",
    winreg,
    "[MS-RRP] Windows Remote Registry Protocol: the generated stubs (`winreg::winreg::Client`) and [`winreg::Key`].",
    ext
);
interface!(
    "svcctl",
    svcctl,
    "[MS-SCMR] Service Control Manager Remote Protocol: the generated stubs (`svcctl::svcctl::Client`) and [`svcctl::services`].",
    ext
);
interface!(
    "samr",
    samr,
    "[MS-SAMR] Security Account Manager Remote Protocol: the generated stubs (`samr::samr::Client`) and [`samr::SamServer`].",
    ext
);
interface!(
    "lsarpc",
    lsad,
    "[MS-LSAD] Local Security Authority (Domain Policy) Remote Protocol (generated stubs: `lsad::lsarpc::Client`)."
);
interface!(
    "lsarpc",
    lsat,
    "[MS-LSAT] Local Security Authority (Translation Methods) Remote Protocol: the generated stubs (`lsat::lsarpc::Client`) and [`lsat::Policy`].",
    ext
);
interface!(
    "eventlog",
    eventlog,
    "[MS-EVEN] EventLog Remoting Protocol: the generated stubs (`eventlog::eventlog::Client`) and [`eventlog::newest_records`].",
    ext
);
interface!(
    "netlogon",
    netlogon,
    "[MS-NRPC] Netlogon Remote Protocol: the generated stubs (`netlogon::logon::Client`), [`netlogon::dc_name`], [`netlogon::server_req_challenge`] and the secure channel, [`netlogon::SecureChannel`] (with Schannel bindings).",
    ext
);
interface!(
    "tsch",
    atsvc,
    "[MS-TSCH] ATSvc interface: the generated stubs (`atsvc::atsvc::Client`) and [`atsvc::jobs`].",
    ext
);
interface!(
    "tsch",
    sasec,
    "[MS-TSCH] SASec interface (generated stubs: `sasec::sasec::Client`)."
);
interface!(
    "tsch",
    schrpc,
    "[MS-TSCH] ITaskSchedulerService interface: the generated stubs (`schrpc::i_task_scheduler_service::Client`), [`schrpc::tasks`] and [`schrpc::task_info`].",
    ext
);
