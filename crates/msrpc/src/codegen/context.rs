//! Client context handles: [`ClientContext`] and [`ContextCall`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

/// A client context handle: the 20-byte wire value ([`ContextHandle`](ndr::ContextHandle)) and the
/// binding handle (association) it was returned on, as a Windows client's `NDR_CCONTEXT` keeps its
/// binding (`RpcSsGetContextBinding`). Cheap to clone: clones share one state, so closing the
/// handle through one clone closes it for all.
///
/// The generated client methods of operations without an explicit `handle_t` parameter take and
/// return these for their `[context_handle]` parameters, and make the call over the binding of the
/// leftmost non-null `[in]` context handle (the MIDL rule, "Microsoft RPC Binding-Handle
/// Extensions": the leftmost `[in]` handle parameter is the binding handle), so the server finds
/// the handle in the table of the association group that created it. A handle used on another
/// association is faulted by the server with `nca_s_fault_context_mismatch` (0x1C00001A).
///
/// Refused before anything is sent, as the Windows client stubs do:
/// - a null handle as an `[in]` (not `[in, out]`) parameter: `RPC_X_SS_IN_NULL_CONTEXT` (1775;
///   "context handle parameters marked \[in\] do not accept NULL pointers", "Interface Development
///   Using Context Handles");
/// - a handle already closed (an `[in, out]` call that gave back null or another handle, through
///   any clone): `RPC_X_SS_CONTEXT_MISMATCH`, which Windows reports as `ERROR_INVALID_HANDLE` (6),
///   the exception the client runtime raises for an invalid client context
///   (`RpcSsDestroyClientContext`).
pub struct ClientContext<B = Binding> {
    inner: Arc<ContextState<B>>,
}

struct ContextState<B> {
    handle: ndr::ContextHandle,
    binding: Option<B>,
    closed: AtomicBool,
}

impl<B> Clone for ClientContext<B> {
    fn clone(&self) -> Self {
        ClientContext {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<B> fmt::Debug for ClientContext<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientContext")
            .field("handle", &self.inner.handle)
            .field("bound", &self.inner.binding.is_some())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<B> Default for ClientContext<B> {
    fn default() -> Self {
        Self::null()
    }
}

impl<B> ClientContext<B> {
    /// A handle value returned on `binding` (or obtained some other way and known to belong to
    /// its association).
    pub fn new(handle: ndr::ContextHandle, binding: B) -> Self {
        ClientContext {
            inner: Arc::new(ContextState {
                handle,
                binding: Some(binding),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// The null handle, tied to no binding: what an `[in, out]` parameter that opens a handle
    /// starts from.
    pub fn null() -> Self {
        ClientContext {
            inner: Arc::new(ContextState {
                handle: ndr::ContextHandle::NULL,
                binding: None,
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// The wire value (as it was received, even once closed).
    pub fn handle(&self) -> ndr::ContextHandle {
        self.inner.handle
    }

    /// The binding handle (association) the handle was returned on; `None` for [`ClientContext::null`].
    pub fn binding(&self) -> Option<&B> {
        self.inner.binding.as_ref()
    }

    /// True for the null handle (all zeros).
    pub fn is_null(&self) -> bool {
        self.inner.handle.is_null()
    }

    /// True once a call closed or replaced the handle (through this value or a clone).
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Checks the handle as parameter `parameter` of `operation` before a call: `in_out` is true
    /// for `[in, out]` (which may be null). Called by generated code.
    #[doc(hidden)]
    pub fn check_in(
        &self,
        operation: &'static str,
        parameter: &'static str,
        in_out: bool,
    ) -> Result<(), ContextRefused> {
        let refuse = |reason| {
            Err(ContextRefused {
                operation,
                parameter,
                reason,
            })
        };
        if self.is_closed() {
            refuse(ContextRefusal::Closed)
        } else if self.is_null() && !in_out {
            refuse(ContextRefusal::Null)
        } else {
            Ok(())
        }
    }

    /// The binding of the first live (non-null, open) handle in `ctxs`: what a call that presents
    /// them goes over. Called by generated code.
    #[doc(hidden)]
    pub fn route<'a>(ctxs: &[&'a ClientContext<B>]) -> Option<&'a B> {
        ctxs.iter()
            .filter(|c| !c.is_null() && !c.is_closed())
            .find_map(|c| c.binding())
    }

    /// What a call over `association` gave back for a context handle parameter; `input` is the
    /// value sent for an `[in, out]` one. The same handle back is the same `ClientContext`;
    /// null or another handle closes `input` (for all its clones). Called by generated code.
    #[doc(hidden)]
    pub fn returned(
        handle: ndr::ContextHandle,
        association: &B,
        input: Option<&ClientContext<B>>,
    ) -> Self
    where
        B: Clone,
    {
        if let Some(input) = input {
            if input.handle() == handle && !handle.is_null() {
                return input.clone();
            }
            if !input.is_null() {
                input.inner.closed.store(true, Ordering::Release);
            }
        }
        ClientContext::new(handle, association.clone())
    }
}

/// Why a context handle was refused before a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContextRefusal {
    /// A null handle as an `[in]` parameter (`RPC_X_SS_IN_NULL_CONTEXT`, 1775).
    Null,
    /// A handle already closed (`RPC_X_SS_CONTEXT_MISMATCH`, reported as `ERROR_INVALID_HANDLE`, 6).
    Closed,
}

/// A context handle refused before a call was made (nothing was sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextRefused {
    /// The operation's IDL name.
    pub operation: &'static str,
    /// The parameter's IDL name.
    pub parameter: &'static str,
    /// Why.
    pub reason: ContextRefusal,
}

impl ContextRefused {
    /// The Win32 status a Windows client sees.
    pub fn status(&self) -> Win32Status {
        match self.reason {
            ContextRefusal::Null => Win32Status::RPC_X_SS_IN_NULL_CONTEXT,
            ContextRefusal::Closed => Win32Status::ERROR_INVALID_HANDLE,
        }
    }
}

impl fmt::Display for ContextRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (op, p) = (self.operation, self.parameter);
        match self.reason {
            ContextRefusal::Null => write!(
                f,
                "null context handle for [in] parameter `{p}` of `{op}`: open one first (RPC_X_SS_IN_NULL_CONTEXT 1775)"
            ),
            ContextRefusal::Closed => write!(
                f,
                "context handle for parameter `{p}` of `{op}` was already closed (RPC_X_SS_CONTEXT_MISMATCH, ERROR_INVALID_HANDLE 6)"
            ),
        }
    }
}

impl std::error::Error for ContextRefused {}

impl From<ContextRefused> for Error {
    fn from(r: ContextRefused) -> Self {
        Error::status_msg(r.status(), &r)
    }
}

/// A binding handle the generated methods of context-handle operations can use: it names the
/// association its calls go over, so handles returned by them can be tied to it.
pub trait ContextCall: ClientCall<Error: From<ContextRefused>> {
    /// An owned handle on the same association (for msrpc: a clone of the `Binding`).
    type Association: ClientCall<Error = Self::Error> + Clone + Send + Sync + 'static;

    /// The association calls on `self` go over.
    fn association(&self) -> Self::Association;
}

impl ContextCall for Binding {
    type Association = Binding;

    fn association(&self) -> Binding {
        self.clone()
    }
}

impl<T: ContextCall + Sync + ?Sized> ContextCall for &T {
    type Association = T::Association;

    fn association(&self) -> T::Association {
        (**self).association()
    }
}
