//! Server context handles (`[context_handle]`), kept per association group.
//!
//! A manager creates a handle with [`IncomingCall::new_context`](super::IncomingCall::new_context),
//! giving the value and its rundown routine. Later calls present the 20-byte handle and get the value
//! back with [`IncomingCall::context`](super::IncomingCall::context), checked for its type; a handle of
//! another type, a closed or an unknown one gets the fault `nca_s_fault_context_mismatch` (0x1C00001A).
//! When the last connection of the client's association group closes, the rundown routine of every
//! handle still open runs (the client went away without closing them).
//!
//! Serialization: the value sits behind a mutex, so calls that use the same handle at the same time
//! take turns on it (`[context_handle_serialize]`, the default). A manager that wants
//! `[context_handle_noserialize]` keeps its own interior mutability and holds the lock only briefly.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use msrpc_ndr::ContextHandle;
use msrpc_proto::FaultStatus;

/// A rundown routine, run when the client's association ends with the handle still open.
type Rundown = Box<dyn FnOnce(Box<dyn Any + Send>) + Send>;

/// Takes a handle's value out of its shared cell, if no call holds it.
type TakeValue = fn(Arc<dyn Any + Send + Sync>) -> Option<Box<dyn Any + Send>>;

struct Entry {
    type_name: &'static str,
    /// The interface whose manager created it (`[strict_context_handle]`).
    iface: msrpc_proto::SyntaxId,
    value: Arc<dyn Any + Send + Sync>,
    rundown: Option<Rundown>,
    take: TakeValue,
}

/// The live context handles of one association group.
#[derive(Default)]
pub(crate) struct AssocGroup {
    handles: Mutex<HashMap<uuid::Uuid, Entry>>,
    connections: Mutex<usize>,
}

impl fmt::Debug for AssocGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.handles.lock().map(|h| h.len()).unwrap_or(0);
        f.debug_struct("AssocGroup").field("handles", &n).finish()
    }
}

/// A context-handle value as managers see it: shared, and locked for use.
pub type ContextValue<T> = Arc<Mutex<T>>;

impl AssocGroup {
    pub(crate) fn create<T: Send + 'static>(
        &self,
        value: T,
        rundown: impl FnOnce(T) + Send + 'static,
        iface: msrpc_proto::SyntaxId,
    ) -> ContextHandle {
        let uuid = uuid::Uuid::new_v4();
        let value: ContextValue<T> = Arc::new(Mutex::new(value));
        let entry = Entry {
            type_name: std::any::type_name::<T>(),
            iface,
            value: value as Arc<dyn Any + Send + Sync>,
            rundown: Some(Box::new(move |v: Box<dyn Any + Send>| {
                if let Ok(v) = v.downcast::<T>() {
                    rundown(*v);
                }
            })),
            take: take_value::<T>,
        };
        self.lock().insert(uuid, entry);
        ContextHandle {
            attributes: 0,
            uuid,
        }
    }

    pub(crate) fn get<T: Send + 'static>(
        &self,
        handle: &ContextHandle,
        strict: Option<msrpc_proto::SyntaxId>,
    ) -> Result<ContextValue<T>, FaultStatus> {
        let handles = self.lock();
        let entry = handles
            .get(&handle.uuid)
            .filter(|e| strict.is_none_or(|i| e.iface == i))
            .ok_or(FaultStatus::NCA_S_FAULT_CONTEXT_MISMATCH)?;
        entry
            .value
            .clone()
            .downcast::<Mutex<T>>()
            .map_err(|_| {
                tracing::debug!(handle = %handle.uuid, held = entry.type_name, "context handle of another type");
                FaultStatus::NCA_S_FAULT_CONTEXT_MISMATCH
            })
    }

    /// Closes the handle and returns its value (the rundown does not run). Waits for calls that still
    /// hold the value only as long as they hold its lock.
    pub(crate) fn close<T: Send + 'static>(
        &self,
        handle: &ContextHandle,
        strict: Option<msrpc_proto::SyntaxId>,
    ) -> Result<T, FaultStatus> {
        let mut handles = self.lock();
        match handles.get(&handle.uuid) {
            Some(e)
                if e.value.clone().downcast::<Mutex<T>>().is_ok()
                    && strict.is_none_or(|i| e.iface == i) => {}
            _ => return Err(FaultStatus::NCA_S_FAULT_CONTEXT_MISMATCH),
        }
        let entry = handles
            .remove(&handle.uuid)
            .ok_or(FaultStatus::NCA_S_FAULT_CONTEXT_MISMATCH)?;
        drop(handles);
        let value = entry
            .value
            .downcast::<Mutex<T>>()
            .map_err(|_| FaultStatus::NCA_S_FAULT_CONTEXT_MISMATCH)?;
        match Arc::try_unwrap(value) {
            Ok(m) => Ok(m.into_inner().unwrap_or_else(|p| p.into_inner())),
            // Another call still uses it: that call keeps it alive, and the handle is gone for new calls.
            Err(_) => Err(FaultStatus::NCA_S_FAULT_CONTEXT_MISMATCH),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<uuid::Uuid, Entry>> {
        self.handles.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The group lost its last connection: run every rundown.
    fn run_down(&self) {
        let entries: Vec<Entry> = self.lock().drain().map(|(_, e)| e).collect();
        for mut e in entries {
            let Some(rundown) = e.rundown.take() else {
                continue;
            };
            match (e.take)(e.value) {
                Some(v) => rundown(v),
                None => tracing::warn!(ty = e.type_name, "context handle still in use at rundown"),
            }
        }
    }
}

fn take_value<T: Send + 'static>(v: Arc<dyn Any + Send + Sync>) -> Option<Box<dyn Any + Send>> {
    let m = v.downcast::<Mutex<T>>().ok()?;
    let m = Arc::try_unwrap(m).ok()?;
    Some(Box::new(m.into_inner().unwrap_or_else(|p| p.into_inner())))
}

/// Every association group of a server.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    groups: Mutex<HashMap<u32, Arc<AssocGroup>>>,
}

impl Groups {
    /// A connection joins group `id` (created on first use).
    pub(crate) fn join(&self, id: u32) -> Arc<AssocGroup> {
        let mut g = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let group = g.entry(id).or_default().clone();
        *group.connections.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        group
    }

    /// A connection of group `id` closed; the last one runs the group's rundowns.
    pub(crate) fn leave(&self, id: u32, group: &Arc<AssocGroup>) {
        let last = {
            let mut n = group.connections.lock().unwrap_or_else(|p| p.into_inner());
            *n = n.saturating_sub(1);
            *n == 0
        };
        if last {
            let mut g = self.groups.lock().unwrap_or_else(|p| p.into_inner());
            if g.get(&id).is_some_and(|x| Arc::ptr_eq(x, group))
                && *group.connections.lock().unwrap_or_else(|p| p.into_inner()) == 0
            {
                g.remove(&id);
                drop(g);
                group.run_down();
            }
        }
    }

    /// Whether a group with this id exists (a client may only join a live group).
    pub(crate) fn exists(&self, id: u32) -> bool {
        self.groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&id)
    }
}
