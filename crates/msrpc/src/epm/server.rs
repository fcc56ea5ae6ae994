//! The endpoint mapper as a served interface: [`EndpointMapper`] answers the seven epm operations
//! from an [`EndpointDb`], served through the generated `Service` ([`EndpointMapperService`]).
//!
//! | opnum | operation | msrpc answers |
//! |---|---|---|
//! | 0 | `ept_insert` | local callers only (loopback TCP, ncalrpc); others get `ept_s_cant_perform_op` |
//! | 1 | `ept_delete` | local callers only, as `ept_insert` |
//! | 2 | `ept_lookup` | every inquiry type and version option, paged through an entry handle |
//! | 3 | `ept_map` | the DCE version rule, transfer syntax and protocol; paged through an entry handle |
//! | 4 | `ept_lookup_handle_free` | closes the handle, answers a null one |
//! | 5 | `ept_inq_object` | the endpoint map's object UUID (made when the mapper starts) |
//! | 6 | `ept_mgmt_delete` | local callers only, as `ept_insert` |
//!
//! Refusing remote `ept_insert`, `ept_delete` and `ept_mgmt_delete` with the *status*
//! `ept_s_cant_perform_op` (not a fault) is what the DCE reference rpcd does for unprivileged
//! callers and what Windows reports for remote endpoint-map management (`RpcMgmtEpUnregister`:
//! "returns EP_S_CANT_PERFORM_OP" on Windows versions after NT). samba-dcerpcd 4.17 does not offer
//! these operations (nor `ept_inq_object`) over `ncacn_ip_tcp` at all: it faults them with
//! `nca_s_op_rng_error`.
//!
//! Paging, as Windows must do it for the clients below to work against it (inferred, not observed
//! here): a page with entries has status 0. A page that is not full ends the
//! walk: its handle comes back null (C706 O.2.3). A full page keeps the handle open even when
//! nothing is left, and a call that finds nothing (nothing matches, or a walk at its end) answers
//! `ept_s_not_registered` with a null handle. Both common clients end their walks on this:
//! `rpcclient epmlookup` asks one entry at a time and stops only at `ept_s_not_registered`;
//! impacket's `hept_lookup` asks 500, stops at the null handle and raises on any non-zero status.
//! Samba's own epmapper differs: its last page carries the entries *and* `ept_s_not_registered`
//! (samba-dcerpcd 4.17), so impacket's `hept_lookup` fails against Samba. `ept_map` closes its
//! handle as soon as nothing remains. Handles are context handles of the client's association
//! group, run down when it ends; each holds a small cursor, never a copy of the entries.
//!
//! Limits: a page holds at most [`MAX_PAGE`] entries or towers whatever `max_ents` /
//! `max_towers` asks (the array's size on the wire still says what the client asked, as
//! `size_is(max_ents)` requires); an association group may hold [`MAX_HANDLES`] handles;
//! the database holds [`MAX_ENTRIES`](super::MAX_ENTRIES) entries.

use std::net::Ipv4Addr;
use std::sync::Arc;

use msrpc_ndr::tower::Tower;
use msrpc_ndr::{ConformantArray, ConformantVaryingArray, ContextHandle, Unique, VaryingArray};
use msrpc_proto::{FaultStatus, SyntaxId, Win32Status};
use uuid::Uuid;

use super::db::{
    EPT_S_CANT_PERFORM_OP, EPT_S_INVALID_ENTRY, EPT_S_NOT_REGISTERED, EndpointDb, Entry, Inquiry,
    VersionOption,
};
use crate::generated::epm::{self as idl, epm as e};
use crate::server::{IncomingCall, RunOn};
use crate::transport::PeerAddr;

/// The epm interface id (`e1af8308-5d1f-11c9-91a4-08002b14a0fa` v3.0).
pub const EPM: SyntaxId = e::INTERFACE.syntax_id();

/// The endpoint mapper as a served interface: the generated `Service` of `idl/epm.idl` around an
/// [`EndpointMapper`].
pub type EndpointMapperService = e::Service<EndpointMapper>;

/// Entries or towers in one `ept_lookup` / `ept_map` reply, at most.
pub const MAX_PAGE: usize = 500;

/// Open entry handles per association group, at most; past it a call that would open one more
/// answers `ept_s_cant_perform_op`.
pub const MAX_HANDLES: usize = 256;

/// The endpoint mapper's manager routines over a shared [`EndpointDb`]. Register
/// [`EndpointMapper::service`] with a server (the server builder's `endpoint_mapper` option does).
#[derive(Debug, Clone)]
pub struct EndpointMapper {
    db: Arc<EndpointDb>,
    object: Uuid,
}

/// What an entry handle holds between calls.
#[derive(Debug)]
enum Cursor {
    Lookup {
        inquiry: Inquiry,
        object: Option<Uuid>,
        interface: Option<SyntaxId>,
        vers: VersionOption,
        after: u64,
    },
    Map {
        object: Option<Uuid>,
        tower: Tower,
        next: usize,
    },
}

impl EndpointMapper {
    /// An endpoint mapper over `db`.
    pub fn new(db: Arc<EndpointDb>) -> Self {
        EndpointMapper {
            db,
            object: Uuid::new_v4(),
        }
    }

    /// The generated `Service` serving it: the interface to register.
    pub fn service(self) -> EndpointMapperService {
        e::Service::new(self)
    }

    /// The database it answers from.
    pub fn db(&self) -> &Arc<EndpointDb> {
        &self.db
    }

    fn lookup(
        &self,
        call: &IncomingCall,
        req: e::EptLookupRequest,
    ) -> Result<e::EptLookupResponse, FaultStatus> {
        let reply = |handle, entries: Vec<idl::ept_entry_t>, status| e::EptLookupResponse {
            entry_handle: handle,
            num_ents: entries.len() as u32,
            entries: ConformantVaryingArray {
                max_count: u64::from(req.max_ents),
                offset: 0,
                items: entries,
            },
            status,
        };
        if req.max_ents == 0 {
            return Ok(reply(req.entry_handle, Vec::new(), EPT_S_CANT_PERFORM_OP));
        }
        let (inquiry, object, interface, vers, after) = if req.entry_handle.is_null() {
            let Some(inquiry) = Inquiry::from_u32(req.inquiry_type) else {
                return Ok(reply(
                    ContextHandle::NULL,
                    Vec::new(),
                    EPT_S_CANT_PERFORM_OP,
                ));
            };
            // C706: the version option only matters when matching by interface.
            let vers = match inquiry {
                Inquiry::ByInterface | Inquiry::ByBoth => {
                    match VersionOption::from_u32(req.vers_option) {
                        Some(v) => v,
                        None => {
                            return Ok(reply(
                                ContextHandle::NULL,
                                Vec::new(),
                                EPT_S_CANT_PERFORM_OP,
                            ));
                        }
                    }
                }
                _ => VersionOption::All,
            };
            let interface = req
                .interface_id
                .as_ref()
                .map(|i| SyntaxId::new(i.uuid, i.vers_major, i.vers_minor));
            (inquiry, req.object.as_ref().copied(), interface, vers, 0)
        } else {
            let cursor = call.context::<Cursor>(&req.entry_handle)?;
            let c = cursor.lock().unwrap_or_else(|p| p.into_inner());
            match &*c {
                Cursor::Lookup {
                    inquiry,
                    object,
                    interface,
                    vers,
                    after,
                } => (*inquiry, *object, *interface, *vers, *after),
                Cursor::Map { .. } => return Err(FaultStatus::NCA_S_FAULT_CONTEXT_MISMATCH),
            }
        };
        let max = (req.max_ents as usize).min(MAX_PAGE);
        let page = self.db.lookup(inquiry, object, interface, vers, after, max);
        if page.entries.is_empty() {
            if !req.entry_handle.is_null() {
                call.close_context::<Cursor>(&req.entry_handle)?;
            }
            return Ok(reply(ContextHandle::NULL, Vec::new(), EPT_S_NOT_REGISTERED));
        }
        // The walk ends (null handle, status 0) with a page that is not full. A full page keeps
        // the handle even when nothing is left, and the next call answers ept_s_not_registered:
        // Windows' way, on which both rpcclient (max_ents 1, stops at 0x16c9a0d6) and impacket
        // (max_ents 500, stops at the null handle, raises on any other status) end their walks.
        let keep = page.more || page.entries.len() >= req.max_ents as usize;
        let handle = match (keep, req.entry_handle.is_null()) {
            // The last page: the walk is over, the handle closes (C706 O.2.3).
            (false, true) => ContextHandle::NULL,
            (false, false) => {
                call.close_context::<Cursor>(&req.entry_handle)?;
                ContextHandle::NULL
            }
            (true, true) => {
                if call.open_contexts() >= MAX_HANDLES {
                    return Ok(reply(
                        ContextHandle::NULL,
                        Vec::new(),
                        EPT_S_CANT_PERFORM_OP,
                    ));
                }
                let cursor = Cursor::Lookup {
                    inquiry,
                    object,
                    interface,
                    vers,
                    after: page.next,
                };
                call.new_context(cursor, drop)?
            }
            (true, false) => {
                let cursor = call.context::<Cursor>(&req.entry_handle)?;
                if let Cursor::Lookup { after, .. } =
                    &mut *cursor.lock().unwrap_or_else(|p| p.into_inner())
                {
                    *after = page.next;
                }
                req.entry_handle
            }
        };
        let entries = page.entries.iter().map(entry_to_wire).collect();
        Ok(reply(handle, entries, 0))
    }

    fn map(
        &self,
        call: &IncomingCall,
        req: e::EptMapRequest,
    ) -> Result<e::EptMapResponse, FaultStatus> {
        let reply = |handle, towers: Vec<Unique<idl::twr_t>>, status| e::EptMapResponse {
            entry_handle: handle,
            num_towers: towers.len() as u32,
            towers: ConformantVaryingArray {
                max_count: u64::from(req.max_towers),
                offset: 0,
                items: towers,
            },
            status,
        };
        let (object, tower, start) = if req.entry_handle.is_null() {
            let tower = req
                .map_tower
                .as_ref()
                .and_then(|t| Tower::parse(&t.tower_octet_string.0).ok());
            let Some(tower) = tower.filter(|t| t.interface().is_some()) else {
                return Ok(reply(ContextHandle::NULL, Vec::new(), EPT_S_NOT_REGISTERED));
            };
            (req.object.as_ref().copied(), tower, 0)
        } else {
            let cursor = call.context::<Cursor>(&req.entry_handle)?;
            let c = cursor.lock().unwrap_or_else(|p| p.into_inner());
            match &*c {
                Cursor::Map {
                    object,
                    tower,
                    next,
                } => (*object, tower.clone(), *next),
                Cursor::Lookup { .. } => return Err(FaultStatus::NCA_S_FAULT_CONTEXT_MISMATCH),
            }
        };
        let max = (req.max_towers as usize).min(MAX_PAGE);
        if max == 0 {
            return Ok(reply(req.entry_handle, Vec::new(), EPT_S_CANT_PERFORM_OP));
        }
        let local_ip = match call.info().peer {
            PeerAddr::Tcp(a) if a.ip().is_loopback() => Some(Ipv4Addr::LOCALHOST),
            _ => None,
        };
        let (towers, next) = self.db.map(object, &tower, local_ip, start, max);
        let wire: Vec<Unique<idl::twr_t>> = towers
            .iter()
            .filter_map(|t| t.to_bytes().ok())
            .map(|b| Unique::new(twr(b)))
            .collect();
        let status = if wire.is_empty() {
            EPT_S_NOT_REGISTERED
        } else {
            0
        };
        let handle = match (next, req.entry_handle.is_null()) {
            (None, true) => ContextHandle::NULL,
            (None, false) => {
                call.close_context::<Cursor>(&req.entry_handle)?;
                ContextHandle::NULL
            }
            (Some(next), true) => {
                if call.open_contexts() >= MAX_HANDLES {
                    return Ok(reply(ContextHandle::NULL, wire, status));
                }
                call.new_context(
                    Cursor::Map {
                        object,
                        tower,
                        next,
                    },
                    drop,
                )?
            }
            (Some(n), false) => {
                let cursor = call.context::<Cursor>(&req.entry_handle)?;
                if let Cursor::Map { next, .. } =
                    &mut *cursor.lock().unwrap_or_else(|p| p.into_inner())
                {
                    *next = n;
                }
                req.entry_handle
            }
        };
        Ok(reply(handle, wire, status))
    }
}

/// The manager routines: each is a short walk over an in-memory table under a mutex, so they run
/// on the connection's task and are answered there ([`RunOn::ConnectionTask`]). A fault status
/// from the context-handle table (`nca_s_fault_context_mismatch`) travels as its Win32 status,
/// which faults the call with the same code.
impl e::Server for EndpointMapper {
    fn accept(&self, _: &mut IncomingCall) -> Result<RunOn, Win32Status> {
        Ok(RunOn::ConnectionTask)
    }

    fn ept_insert(
        &self,
        call: &IncomingCall,
        req: e::EptInsertRequest,
    ) -> Result<e::EptInsertResponse, Win32Status> {
        let status = if call.info().peer.is_local() {
            entries_from_wire(&req.entries.0)
                .and_then(|v| self.db.insert(v, req.replace != 0).map_err(|e| e.code()))
                .err()
                .unwrap_or(0)
        } else {
            EPT_S_CANT_PERFORM_OP
        };
        Ok(e::EptInsertResponse { status })
    }

    fn ept_delete(
        &self,
        call: &IncomingCall,
        req: e::EptDeleteRequest,
    ) -> Result<e::EptDeleteResponse, Win32Status> {
        let status = if call.info().peer.is_local() {
            entries_from_wire(&req.entries.0)
                .and_then(|v| self.db.delete(&v).map_err(|e| e.code()))
                .err()
                .unwrap_or(0)
        } else {
            EPT_S_CANT_PERFORM_OP
        };
        Ok(e::EptDeleteResponse { status })
    }

    fn ept_lookup(
        &self,
        call: &IncomingCall,
        req: e::EptLookupRequest,
    ) -> Result<e::EptLookupResponse, Win32Status> {
        self.lookup(call, req).map_err(FaultStatus::to_win32)
    }

    fn ept_map(
        &self,
        call: &IncomingCall,
        req: e::EptMapRequest,
    ) -> Result<e::EptMapResponse, Win32Status> {
        self.map(call, req).map_err(FaultStatus::to_win32)
    }

    fn ept_lookup_handle_free(
        &self,
        call: &IncomingCall,
        req: e::EptLookupHandleFreeRequest,
    ) -> Result<e::EptLookupHandleFreeResponse, Win32Status> {
        if !req.entry_handle.is_null() {
            call.close_context::<Cursor>(&req.entry_handle)
                .map_err(FaultStatus::to_win32)?;
        }
        Ok(e::EptLookupHandleFreeResponse {
            entry_handle: ContextHandle::NULL,
            status: 0,
        })
    }

    fn ept_inq_object(
        &self,
        _: &IncomingCall,
        _: e::EptInqObjectRequest,
    ) -> Result<e::EptInqObjectResponse, Win32Status> {
        Ok(e::EptInqObjectResponse {
            ept_object: self.object,
            status: 0,
        })
    }

    fn ept_mgmt_delete(
        &self,
        call: &IncomingCall,
        req: e::EptMgmtDeleteRequest,
    ) -> Result<e::EptMgmtDeleteResponse, Win32Status> {
        let status = if !call.info().peer.is_local() {
            EPT_S_CANT_PERFORM_OP
        } else {
            match req
                .tower
                .as_ref()
                .map(|t| Tower::parse(&t.tower_octet_string.0))
            {
                Some(Ok(tower)) => {
                    let object = (req.object_speced != 0)
                        .then(|| req.object.as_ref().copied().unwrap_or_default());
                    self.db
                        .delete_tower(object, &tower)
                        .err()
                        .map_or(0, |e| e.code())
                }
                _ => EPT_S_INVALID_ENTRY,
            }
        };
        Ok(e::EptMgmtDeleteResponse { status })
    }
}

/// A twr_t carrying `bytes`.
pub(crate) fn twr(bytes: Vec<u8>) -> idl::twr_t {
    idl::twr_t {
        tower_length: bytes.len() as u32,
        tower_octet_string: ConformantArray(bytes),
    }
}

/// An entry as `ept_entry_t`: the annotation NUL-terminated, as Windows and Samba send it.
pub(crate) fn entry_to_wire(en: &Entry) -> idl::ept_entry_t {
    let mut annotation: Vec<u8> = en
        .annotation
        .bytes()
        .take(super::MAX_ANNOTATION - 1)
        .collect();
    annotation.push(0);
    idl::ept_entry_t {
        object: en.object,
        tower: match en.tower.to_bytes() {
            Ok(b) => Unique::new(twr(b)),
            Err(_) => Unique::null(),
        },
        annotation: VaryingArray::new(annotation),
    }
}

/// An `ept_entry_t` from the wire; `None` when its tower is missing or does not parse.
pub(crate) fn entry_from_wire(w: &idl::ept_entry_t) -> Option<Entry> {
    let tower = Tower::parse(&w.tower.as_ref()?.tower_octet_string.0).ok()?;
    let text = w.annotation.items.split(|b| *b == 0).next().unwrap_or(&[]);
    Some(Entry {
        object: w.object,
        tower,
        annotation: String::from_utf8_lossy(text).into_owned(),
    })
}

fn entries_from_wire(w: &[idl::ept_entry_t]) -> Result<Vec<Entry>, u32> {
    w.iter()
        .map(|x| entry_from_wire(x).ok_or(EPT_S_INVALID_ENTRY))
        .collect()
}
