//! Stand-in for `msrpc::codegen`: exactly the items generated code may name (see the crate
//! docs). Shared by the tests that `include!` the golden files.
#![allow(dead_code, unreachable_pub)]

pub use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Win32Status(pub u32);

#[derive(Debug, Clone, Copy)]
pub struct OperationDescriptor {
    pub name: &'static str,
    pub opnum: u16,
    pub is_async: bool,
    pub idempotent: bool,
    pub maybe: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct InterfaceDescriptor {
    pub name: &'static str,
    pub uuid: Uuid,
    pub version: (u16, u16),
    pub operations: &'static [OperationDescriptor],
}

#[derive(Debug)]
pub enum DispatchError {
    UnknownOpnum(u16),
    Decode(msrpc_ndr::Error),
    Encode(msrpc_ndr::Error),
    Manager(Win32Status),
}

/// What the generated client layer (`Builder::client(true)`) calls.
pub trait ClientCall {
    type Error: From<msrpc_ndr::Error>;
    fn transfer(&self) -> (msrpc_ndr::Syntax, msrpc_ndr::DataRep);
    fn call(
        &self,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        stub: Vec<u8>,
    ) -> impl std::future::Future<Output = Result<Vec<u8>, Self::Error>> + Send;
}
