//! The status codes the C API returns (Win32 values, as in `rpc.h`).

pub(crate) const RPC_S_OK: i32 = 0;
pub(crate) const ERROR_INVALID_HANDLE: u32 = 6;
pub(crate) const RPC_S_OUT_OF_MEMORY: i32 = 14;
pub(crate) const RPC_S_INVALID_ARG: i32 = 87;
pub(crate) const ERROR_INVALID_PARAMETER: u32 = 87;
pub(crate) const WAIT_TIMEOUT: u32 = 258;
pub(crate) const RPC_S_INVALID_STRING_BINDING: i32 = 1700;
pub(crate) const RPC_S_INVALID_BINDING: i32 = 1702;
pub(crate) const RPC_S_PROCNUM_OUT_OF_RANGE: i32 = 1745;
pub(crate) const RPC_X_NULL_REF_POINTER: i32 = 1780;
pub(crate) const RPC_X_BAD_STUB_DATA: i32 = 1783;
pub(crate) const RPC_X_INVALID_BOUND: i32 = 1734;
pub(crate) const RPC_S_INVALID_ASYNC_HANDLE: i32 = 1914;
pub(crate) const RPC_S_INVALID_ASYNC_CALL: i32 = 1915;

/// The status an msrpc error stands for, as `RPC_STATUS`.
pub(crate) fn of(e: &msrpc::Error) -> i32 {
    e.status().0 as i32
}
