//! The bodies of a call: request, response and fault.

use bytes::Bytes;
use uuid::Uuid;

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

impl Fault {
    /// Fault flag: extended error information is present (MS-RPCE 2.2.2.8; its length is
    /// `alloc_hint - 0x20`).
    pub const EXTENDED_ERROR_PRESENT: u8 = 0x01;
}
