//! The built-in remote management interface (`mgmt`, `afa8bd80-7d8a-11c9-bef4-08002b102989` v1.0),
//! served by every msrpc server (C706 appendix Q; MS-RPCE 2.2.1.3).
//!
//! | opnum | operation | msrpc answers |
//! |---|---|---|
//! | 0 | `inq_if_ids` | every registered interface, mgmt included |
//! | 1 | `inq_stats` | calls in, calls out, PDUs in, PDUs out |
//! | 2 | `is_server_listening` | true while listening |
//! | 3 | `stop_server_listening` | `ERROR_ACCESS_DENIED` unless [`ServerConfig::allow_remote_stop`](crate::server::ServerConfig) |
//! | 4 | `inq_princ_name` | [`ServerConfig::principal_name`](crate::server::ServerConfig), cut to the client's buffer |

use std::sync::{Arc, Weak};

use msrpc_ndr::{ConformantArray, ConformantVaryingArray, Unique};
use msrpc_proto::{SyntaxId, Win32Status};

use crate::client::Binding;
use crate::codegen::RunOn;
use crate::error::{Error, Result};
use crate::generated::mgmt::{self as idl, mgmt as m};
use crate::server::{IncomingCall, Shared};

/// The mgmt interface id.
pub const MGMT: SyntaxId = m::INTERFACE.syntax_id();

/// The server's built-in mgmt implementation: the generated `Service` (`idl/mgmt.idl`) around
/// these manager routines, which read the server's state.
pub(crate) type MgmtInterface = m::Service<Manager>;

/// The manager routines, over the server they describe.
#[derive(Debug)]
pub(crate) struct Manager {
    server: Weak<Shared>,
}

impl Manager {
    pub(crate) fn new(server: Weak<Shared>) -> Self {
        Manager { server }
    }

    /// The server, or `RPC_S_NOT_LISTENING` once it is gone.
    fn server(&self) -> std::result::Result<Arc<Shared>, Win32Status> {
        self.server
            .upgrade()
            .ok_or(Win32Status::RPC_S_NOT_LISTENING)
    }
}

/// Number of statistics `inq_stats` returns (`rpc_c_stats_array_max_size`).
const STATS_COUNT: u32 = 4;

impl m::Server for Manager {
    fn accept(&self, _call: &mut IncomingCall) -> std::result::Result<RunOn, Win32Status> {
        self.server()?;
        // Bytes after the parameters (Samba's mgmt IDL sends a second [in] u32 in inq_stats
        // that MS-RPCE 2.2.1.3.3 does not have; Samba's raw_protocol suite, test_neg_xmit_*,
        // calls inq_if_ids with up to 5816 zero bytes) are ignored by the generated stubs'
        // decode_request, as Windows ignores them (docs/interop.md).
        // Every manager routine below only reads counters or flips a flag: run them inline.
        Ok(RunOn::ConnectionTask)
    }

    fn rpc_mgmt_inq_if_ids(
        &self,
        _: &IncomingCall,
        _: m::RpcMgmtInqIfIdsRequest,
    ) -> std::result::Result<m::RpcMgmtInqIfIdsResponse, Win32Status> {
        let ids: Vec<Unique<idl::rpc_if_id_t>> = self
            .server()?
            .interface_ids()
            .into_iter()
            .map(|id| {
                Unique::new(idl::rpc_if_id_t {
                    uuid: id.uuid,
                    vers_major: id.major,
                    vers_minor: id.minor,
                })
            })
            .collect();
        Ok(m::RpcMgmtInqIfIdsResponse {
            if_id_vector: Unique::new(idl::rpc_if_id_vector_t {
                count: ids.len() as u32,
                if_id: ConformantArray(ids),
            }),
            status: 0,
        })
    }

    fn rpc_mgmt_inq_stats(
        &self,
        _: &IncomingCall,
        req: m::RpcMgmtInqStatsRequest,
    ) -> std::result::Result<m::RpcMgmtInqStatsResponse, Win32Status> {
        let server = self.server()?;
        // calls in, calls out, PDUs in, PDUs out: the first four of the server's totals.
        let t = server.stats.totals();
        let values = [t[0], t[1], t[2], t[3]];
        let n = req.count.min(STATS_COUNT);
        Ok(m::RpcMgmtInqStatsResponse {
            count: n,
            statistics: ConformantArray(
                values.iter().take(n as usize).map(|v| *v as u32).collect(),
            ),
            status: 0,
        })
    }

    fn rpc_mgmt_is_server_listening(
        &self,
        _: &IncomingCall,
        _: m::RpcMgmtIsServerListeningRequest,
    ) -> std::result::Result<m::RpcMgmtIsServerListeningResponse, Win32Status> {
        Ok(m::RpcMgmtIsServerListeningResponse {
            status: 0,
            return_value: u32::from(self.server()?.is_listening()),
        })
    }

    fn rpc_mgmt_stop_server_listening(
        &self,
        _: &IncomingCall,
        _: m::RpcMgmtStopServerListeningRequest,
    ) -> std::result::Result<m::RpcMgmtStopServerListeningResponse, Win32Status> {
        let server = self.server()?;
        let status = if server.config.allow_remote_stop {
            server.stop_listening();
            0
        } else {
            Win32Status::ERROR_ACCESS_DENIED.0
        };
        Ok(m::RpcMgmtStopServerListeningResponse { status })
    }

    fn rpc_mgmt_inq_princ_name(
        &self,
        _: &IncomingCall,
        req: m::RpcMgmtInqPrincNameRequest,
    ) -> std::result::Result<m::RpcMgmtInqPrincNameResponse, Win32Status> {
        // [out, string, size_is(princ_name_size)] char princ_name[]: the text and its NUL,
        // cut to the client's buffer.
        let size = req.princ_name_size;
        let server = self.server()?;
        let name = server.config.principal_name.as_bytes();
        let (status, text): (u32, &[u8]) = if size == 0 {
            (Win32Status::ERROR_INVALID_PARAMETER.0, &[])
        } else if name.len() + 1 > size as usize {
            (
                Win32Status::RPC_X_BYTE_COUNT_TOO_SMALL.0,
                &name[..size as usize - 1],
            )
        } else {
            (0, name)
        };
        let mut items = text.to_vec();
        if size != 0 {
            items.push(0);
        }
        Ok(m::RpcMgmtInqPrincNameResponse {
            princ_name: ConformantVaryingArray {
                max_count: u64::from(size),
                offset: 0,
                items,
            },
            status,
        })
    }
}

/// An interface id as `inq_if_ids` returns it.
pub type IfId = SyntaxId;

fn client(binding: &Binding) -> m::Client<&Binding> {
    m::Client(binding)
}

/// `rpc_mgmt_is_server_listening` (`RpcMgmtIsServerListening`): true while the server listens.
pub async fn is_server_listening(binding: &Binding) -> Result<bool> {
    let r = client(binding)
        .rpc_mgmt_is_server_listening(m::RpcMgmtIsServerListeningRequest {})
        .await?;
    check_status(r.status)?;
    Ok(r.return_value != 0)
}

/// `rpc_mgmt_inq_if_ids` (`RpcMgmtInqIfIds`): the interfaces the server offers.
pub async fn inq_if_ids(binding: &Binding) -> Result<Vec<IfId>> {
    let r = client(binding)
        .rpc_mgmt_inq_if_ids(m::RpcMgmtInqIfIdsRequest {})
        .await?;
    check_status(r.status)?;
    let ids = match r.if_id_vector.into_inner() {
        None => Vec::new(),
        Some(v) => v
            .if_id
            .0
            .into_iter()
            .filter_map(Unique::into_inner)
            .map(|id| SyntaxId::new(id.uuid, id.vers_major, id.vers_minor))
            .collect(),
    };
    Ok(ids)
}

/// `rpc_mgmt_inq_stats` (`RpcMgmtInqStats`): calls in, calls out, PDUs in, PDUs out.
pub async fn inq_stats(binding: &Binding) -> Result<Vec<u32>> {
    let r = client(binding)
        .rpc_mgmt_inq_stats(m::RpcMgmtInqStatsRequest { count: STATS_COUNT })
        .await?;
    check_status(r.status)?;
    Ok(r.statistics.0)
}

/// `rpc_mgmt_stop_server_listening` (`RpcMgmtStopServerListening`) on a remote server.
pub async fn stop_server_listening(binding: &Binding) -> Result<()> {
    let r = client(binding)
        .rpc_mgmt_stop_server_listening(m::RpcMgmtStopServerListeningRequest {})
        .await?;
    check_status(r.status)
}

/// `rpc_mgmt_inq_princ_name` (`RpcMgmtInqServerPrincName`): the server's principal name.
pub async fn inq_princ_name(binding: &Binding, authn_svc: u32) -> Result<String> {
    const SIZE: u32 = 1024;
    let r = client(binding)
        .rpc_mgmt_inq_princ_name(m::RpcMgmtInqPrincNameRequest {
            authn_proto: authn_svc,
            princ_name_size: SIZE,
        })
        .await?;
    check_status(r.status)?;
    let bytes = &r.princ_name.items;
    let text = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    Ok(String::from_utf8_lossy(text).into_owned())
}

fn check_status(status: u32) -> Result<()> {
    if status == 0 {
        Ok(())
    } else {
        Err(Error::from(Win32Status(status)))
    }
}
