//! What generated clients call: [`ClientCall`], implemented for [`Binding`].

use msrpc_ndr::{DataRep, Syntax};

use super::*;

/// What generated clients call: a binding handle that can make calls in three forms.
pub trait ClientCall {
    /// The error a call ends with.
    type Error: From<ndr::Error>;

    /// Makes a call and awaits its reply; `encode` gets the negotiated transfer syntax and the
    /// data representation to encode in.
    fn call<E>(
        &self,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        encode: E,
    ) -> impl Future<Output = Result<Reply, Self::Error>> + Send
    where
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static;

    /// Makes a call from synchronous code, blocking the thread until the reply.
    fn call_blocking<E>(
        &self,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        encode: E,
    ) -> Result<Reply, Self::Error>
    where
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static;

    /// [`ClientCall::call`] with `object` as the request's object UUID for this call (a DCOM
    /// call's IPID; generated clients of COM `[object]` interfaces call this).
    fn call_object<E>(
        &self,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        object: uuid::Uuid,
        encode: E,
    ) -> impl Future<Output = Result<Reply, Self::Error>> + Send
    where
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static;

    /// [`ClientCall::call_object`] from synchronous code, blocking the thread until the reply.
    fn call_object_blocking<E>(
        &self,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        object: uuid::Uuid,
        encode: E,
    ) -> Result<Reply, Self::Error>
    where
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static;

    /// Starts an asynchronous call on `state` (the page's form) from async code, resolving once
    /// the request is on its way; `decode` runs when `state.complete()` takes the reply, and its
    /// value is what that returns.
    fn start<R, E, D>(
        &self,
        state: &AsyncState<R>,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        encode: E,
        decode: D,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send
    where
        R: Send + 'static,
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static,
        D: FnOnce(Reply) -> ndr::Result<R> + Send + 'static;

    /// [`ClientCall::start`] from synchronous code: blocks the thread until the request is on its
    /// way (the page's `AsyncFunc(&Async, hBinding, ...)`).
    fn start_blocking<R, E, D>(
        &self,
        state: &AsyncState<R>,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        encode: E,
        decode: D,
    ) -> Result<(), Self::Error>
    where
        R: Send + 'static,
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static,
        D: FnOnce(Reply) -> ndr::Result<R> + Send + 'static;
}

impl ClientCall for Binding {
    type Error = Error;

    fn call<E>(
        &self,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        encode: E,
    ) -> impl Future<Output = Result<Reply, Error>> + Send
    where
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static,
    {
        Binding::call_from(
            self,
            interface.syntax_id(),
            Some(interface.name),
            opnum,
            encode,
            None,
        )
    }

    fn call_blocking<E>(
        &self,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        encode: E,
    ) -> Result<Reply, Error>
    where
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static,
    {
        Binding::call_blocking_named(
            self,
            interface.syntax_id(),
            Some(interface.name),
            opnum,
            encode,
        )
    }

    fn call_object<E>(
        &self,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        object: uuid::Uuid,
        encode: E,
    ) -> impl Future<Output = Result<Reply, Error>> + Send
    where
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static,
    {
        Binding::call_from_object(
            self,
            interface.syntax_id(),
            Some(interface.name),
            opnum,
            Some(object),
            encode,
            None,
        )
    }

    fn call_object_blocking<E>(
        &self,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        object: uuid::Uuid,
        encode: E,
    ) -> Result<Reply, Error>
    where
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static,
    {
        Binding::call_object_blocking_named(
            self,
            interface.syntax_id(),
            Some(interface.name),
            opnum,
            object,
            encode,
        )
    }

    fn start<R, E, D>(
        &self,
        state: &AsyncState<R>,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        encode: E,
        decode: D,
    ) -> impl Future<Output = Result<(), Error>> + Send
    where
        R: Send + 'static,
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static,
        D: FnOnce(Reply) -> ndr::Result<R> + Send + 'static,
    {
        Binding::start_async(
            self,
            state,
            (interface.syntax_id(), Some(interface.name)),
            opnum,
            encode,
            decode,
            None,
        )
    }

    fn start_blocking<R, E, D>(
        &self,
        state: &AsyncState<R>,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        encode: E,
        decode: D,
    ) -> Result<(), Error>
    where
        R: Send + 'static,
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static,
        D: FnOnce(Reply) -> ndr::Result<R> + Send + 'static,
    {
        Binding::start_blocking_named(
            self,
            state,
            interface.syntax_id(),
            Some(interface.name),
            opnum,
            encode,
            decode,
        )
    }
}

impl<T: ClientCall + Sync + ?Sized> ClientCall for &T {
    type Error = T::Error;

    fn call<E>(
        &self,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        encode: E,
    ) -> impl Future<Output = Result<Reply, T::Error>> + Send
    where
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static,
    {
        (**self).call(interface, opnum, encode)
    }

    fn call_blocking<E>(
        &self,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        encode: E,
    ) -> Result<Reply, T::Error>
    where
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static,
    {
        (**self).call_blocking(interface, opnum, encode)
    }

    fn call_object<E>(
        &self,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        object: uuid::Uuid,
        encode: E,
    ) -> impl Future<Output = Result<Reply, T::Error>> + Send
    where
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static,
    {
        (**self).call_object(interface, opnum, object, encode)
    }

    fn call_object_blocking<E>(
        &self,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        object: uuid::Uuid,
        encode: E,
    ) -> Result<Reply, T::Error>
    where
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static,
    {
        (**self).call_object_blocking(interface, opnum, object, encode)
    }

    fn start<R, E, D>(
        &self,
        state: &AsyncState<R>,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        encode: E,
        decode: D,
    ) -> impl Future<Output = Result<(), T::Error>> + Send
    where
        R: Send + 'static,
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static,
        D: FnOnce(Reply) -> ndr::Result<R> + Send + 'static,
    {
        (**self).start(state, interface, opnum, encode, decode)
    }

    fn start_blocking<R, E, D>(
        &self,
        state: &AsyncState<R>,
        interface: &'static InterfaceDescriptor,
        opnum: u16,
        encode: E,
        decode: D,
    ) -> Result<(), T::Error>
    where
        R: Send + 'static,
        E: FnOnce(Syntax, DataRep) -> ndr::Result<Vec<u8>> + Send + 'static,
        D: FnOnce(Reply) -> ndr::Result<R> + Send + 'static,
    {
        (**self).start_blocking(state, interface, opnum, encode, decode)
    }
}

/// What a call of an operation with ACF `[comm_status]` or `[fault_status]` ends with, when it
/// does not end with an error: the reply, or the status MIDL's stub would have stored in the
/// attributed `error_status_t` (an `[out]` parameter or the return value) instead of raising it.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusOutcome<R> {
    /// The server answered: the `[out]` parameters and return value, as the server set them.
    Reply(R),
    /// A failure the attributes cover: `[comm_status]`, a communication failure (the server
    /// unreachable, the connection lost, the bind refused, a protocol error, a timeout or
    /// cancel); `[fault_status]`, a fault from the server (the manager's status, or the
    /// runtime's, such as `nca_s_fault_context_mismatch`).
    Status(Win32Status),
}

/// The errors of a binding handle that can stand for `[comm_status]`/`[fault_status]` values
/// (implemented for msrpc's [`Error`]).
pub trait StatusError {
    /// The status `self` is stored as, if `comm` (`[comm_status]`) or `fault`
    /// (`[fault_status]`) covers it; `None`: raised as before (the stub's own failures,
    /// marshalling errors, misuse, and the kinds not covered).
    fn covered_status(&self, comm: bool, fault: bool) -> Option<Win32Status>;
}

impl StatusError for Error {
    fn covered_status(&self, comm: bool, fault: bool) -> Option<Win32Status> {
        let covered = match self {
            Error::Fault { .. } => fault,
            // Local to the call: bad arguments, a handle misused, marshalling.
            Error::Ndr(_) | Error::Status { .. } => false,
            _ => comm,
        };
        covered.then(|| self.status())
    }
}
