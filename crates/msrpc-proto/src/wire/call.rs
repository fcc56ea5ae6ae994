//! The bodies of a call: request, response and fault.

use bytes::Bytes;
use uuid::Uuid;

use super::PfcFlags;
use crate::status::FaultStatus;

/// Body of request (C706 §12.6.4.9).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Request {
    /// `alloc_hint`: the sender's guess of the whole stub size; a hint only.
    pub alloc_hint: u32,
    /// `p_cont_id`.
    pub context_id: u16,
    /// `opnum`.
    pub opnum: u16,
    /// Object UUID, present iff `PFC_OBJECT_UUID` is set.
    pub object: Option<Uuid>,
    /// This fragment's stub data (without auth padding).
    pub stub: Bytes,
}

/// Body of response (C706 §12.6.4.10).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Response {
    /// `alloc_hint`.
    pub alloc_hint: u32,
    /// `p_cont_id`.
    pub context_id: u16,
    /// `cancel_count`.
    pub cancel_count: u8,
    /// The reserved byte.
    pub reserved: u8,
    /// This fragment's stub data.
    pub stub: Bytes,
}

/// Body of fault (C706 §12.6.4.7, MS-RPCE 2.2.2.8).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Fault {
    /// `alloc_hint`.
    pub alloc_hint: u32,
    /// `p_cont_id`.
    pub context_id: u16,
    /// `cancel_count`.
    pub cancel_count: u8,
    /// MS-RPCE fault flags: bit 0 = extended error information follows in `stub`.
    pub flags: u8,
    /// The status.
    pub status: FaultStatus,
    /// The reserved `u32` after the status.
    pub reserved: u32,
    /// Stub data (extended error information when flag 0x01 is set).
    pub stub: Bytes,
}

/// Whether a faulted call's manager routine ran, as a fault says with `PFC_DID_NOT_EXECUTE`
/// (C706 §12.6.3.1). A call that did not execute (RPC_S_CALL_FAILED_DNE's "DNE") may be retried
/// safely, even when it is not idempotent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Execution {
    /// `PFC_DID_NOT_EXECUTE` is set: the call was refused before its manager routine was entered
    /// (unknown interface or operation, a request that could not be taken).
    DidNotExecute,
    /// The flag is clear: the manager routine may have run (a fault it raised, or one the server
    /// cannot vouch for).
    MayHaveExecuted,
}

impl Execution {
    /// What a fault's `pfc_flags` say.
    pub fn from_flags(flags: PfcFlags) -> Execution {
        if flags.contains(PfcFlags::DID_NOT_EXECUTE) {
            Execution::DidNotExecute
        } else {
            Execution::MayHaveExecuted
        }
    }

    /// The `pfc_flags` bit for a fault: `PFC_DID_NOT_EXECUTE` or none.
    pub fn flags(self) -> PfcFlags {
        match self {
            Execution::DidNotExecute => PfcFlags::DID_NOT_EXECUTE,
            Execution::MayHaveExecuted => PfcFlags::NONE,
        }
    }
}

impl Fault {
    /// Fault flag: extended error information is present (MS-RPCE 2.2.2.8; its length is
    /// `alloc_hint - 0x20`).
    pub const EXTENDED_ERROR_PRESENT: u8 = 0x01;
}
