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
