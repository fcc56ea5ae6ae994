//! The per-operation runs' modules, one per interface (see `ops.rs`), declared together so that
//! `peers.rs` gates them with one `cfg`.

#[path = "ops.rs"]
pub(crate) mod ops;
#[path = "ops_eventlog.rs"]
pub(crate) mod ops_eventlog;
#[path = "ops_lsa.rs"]
pub(crate) mod ops_lsa;
#[path = "ops_samr.rs"]
pub(crate) mod ops_samr;
#[path = "ops_srvsvc.rs"]
pub(crate) mod ops_srvsvc;
#[path = "ops_svcctl.rs"]
pub(crate) mod ops_svcctl;
#[path = "ops_winreg.rs"]
pub(crate) mod ops_winreg;
#[path = "ops_wkssvc.rs"]
pub(crate) mod ops_wkssvc;
