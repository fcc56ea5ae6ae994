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

use std::sync::Weak;
use std::sync::atomic::Ordering;

use msrpc_ndr::{Decoder, Encoder, NdrDecode, NdrEncode};
use msrpc_proto::{FaultStatus, SyntaxId, Win32Status};

use crate::client::Binding;
use crate::error::{Error, Result};
use crate::server::{IncomingCall, Interface, Shared};

/// The mgmt interface id.
pub const MGMT: SyntaxId = SyntaxId::new(uuid::uuid!("afa8bd80-7d8a-11c9-bef4-08002b102989"), 1, 0);

/// The server's built-in mgmt implementation.
#[derive(Debug)]
pub(crate) struct MgmtInterface {
    server: Weak<Shared>,
}

impl MgmtInterface {
    pub(crate) fn new(server: Weak<Shared>) -> Self {
        MgmtInterface { server }
    }
}

/// Number of statistics `inq_stats` returns (`rpc_c_stats_array_max_size`).
const STATS_COUNT: u32 = 4;

impl Interface for MgmtInterface {
    fn syntax(&self) -> SyntaxId {
        MGMT
    }

    fn name(&self) -> &str {
        "mgmt"
    }

    fn operation_count(&self) -> u16 {
        5
    }

    fn dispatch(&self, call: IncomingCall) {
        let Some(server) = self.server.upgrade() else {
            call.fault(Win32Status::RPC_S_NOT_LISTENING);
            return;
        };
        let info = call.info();
        if info.opnum >= self.operation_count() {
            call.fault(FaultStatus::NCA_S_OP_RNG_ERROR);
            return;
        }
        let mut e = Encoder::new(info.syntax, info.drep);
        let mut d = Decoder::new(call.stub(), info.syntax, info.drep);
        let result: Result<(), msrpc_ndr::Error> = (|| {
            match info.opnum {
                0 => {
                    d.finish()?;
                    let ids = server.interface_ids();
                    // [out] rpc_if_id_vector_p_t *if_id_vector: a [ptr] to a conformant structure
                    // { unsigned32 count; [size_is(count)] rpc_if_id_p_t if_id[]; }
                    e.write_pointer(true)?;
                    e.write_conformance(ids.len() as u64)?;
                    e.align(e.syntax().pointer_size());
                    e.write_u32(ids.len() as u32);
                    for _ in &ids {
                        e.write_pointer(true)?;
                    }
                    for id in &ids {
                        id.uuid.encode_head(&mut e)?;
                        e.write_u16(id.major);
                        e.write_u16(id.minor);
                    }
                    e.write_u32(0);
                }
                1 => {
                    let asked = d.read_u32()?;
                    // Samba's mgmt IDL sends a second [in] u32 ("unknown") that MS-RPCE 2.2.1.3.3
                    // does not have; accept it so python3-samba's typed client interoperates.
                    if d.remaining() == 4 {
                        d.read_u32()?;
                    }
                    d.finish()?;
                    let stats = &server.stats;
                    let values = [
                        stats.calls_received.load(Ordering::Relaxed),
                        stats.calls_sent.load(Ordering::Relaxed),
                        stats.pkts_received.load(Ordering::Relaxed),
                        stats.pkts_sent.load(Ordering::Relaxed),
                    ];
                    let n = asked.min(STATS_COUNT);
                    // [in,out] unsigned32 *count; [out, size_is(*count)] unsigned32 statistics[]
                    e.write_u32(n);
                    e.write_conformance(u64::from(n))?;
                    for v in values.iter().take(n as usize) {
                        e.write_u32(*v as u32);
                    }
                    e.write_u32(0);
                }
                2 => {
                    d.finish()?;
                    // [out] error_status_t *status, then the boolean32 result
                    e.write_u32(0);
                    e.write_u32(u32::from(server.is_listening()));
                }
                3 => {
                    d.finish()?;
                    if server.config.allow_remote_stop {
                        server.stop_listening();
                        e.write_u32(0);
                    } else {
                        e.write_u32(Win32Status::ERROR_ACCESS_DENIED.0);
                    }
                }
                4 => {
                    let _authn_proto = d.read_u32()?;
                    let size = d.read_u32()?;
                    d.finish()?;
                    // [out, string, size_is(princ_name_size)] char princ_name[]
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
                    e.write_conformance(u64::from(size))?;
                    e.write_variance(0, text.len() as u64 + 1)?;
                    e.write_bytes(text);
                    e.write_u8(0);
                    e.align(4);
                    e.write_u32(status);
                }
                _ => {}
            }
            Ok(())
        })();
        match result {
            Ok(()) => call.reply(e.into_bytes()),
            Err(err) => {
                tracing::debug!(error = %err, "bad mgmt request");
                call.fault(FaultStatus::NCA_S_FAULT_NDR);
            }
        }
    }
}

/// An interface id as `inq_if_ids` returns it.
pub type IfId = SyntaxId;

/// `rpc_mgmt_is_server_listening` (`RpcMgmtIsServerListening`): true while the server listens.
pub async fn is_server_listening(binding: &Binding) -> Result<bool> {
    let reply = binding.call(MGMT, 2, |_| Ok(Vec::new())).await?;
    let mut d = Decoder::new(&reply.stub, reply.syntax, reply.drep);
    let status = d.read_u32()?;
    let listening = d.read_u32()?;
    d.finish()?;
    check_status(status)?;
    Ok(listening != 0)
}

/// `rpc_mgmt_inq_if_ids` (`RpcMgmtInqIfIds`): the interfaces the server offers.
pub async fn inq_if_ids(binding: &Binding) -> Result<Vec<IfId>> {
    let reply = binding.call(MGMT, 0, |_| Ok(Vec::new())).await?;
    let mut d = Decoder::new(&reply.stub, reply.syntax, reply.drep);
    let mut ids = Vec::new();
    if d.read_referent()? != 0 {
        let max = d.read_conformance()?;
        d.align(d.syntax().pointer_size())?;
        let count = d.read_u32()?;
        if u64::from(count) != max {
            return Err(Error::Ndr(d.error(msrpc_ndr::ErrorKind::SizeMismatch {
                wire: max,
                field: u64::from(count),
            })));
        }
        let n = d.check_count(max, d.syntax().pointer_size())?;
        let mut present = Vec::with_capacity(n);
        for _ in 0..n {
            present.push(d.read_referent()? != 0);
        }
        for p in present {
            if p {
                let uuid = uuid::Uuid::decode_head(&mut d)?;
                let major = d.read_u16()?;
                let minor = d.read_u16()?;
                ids.push(SyntaxId::new(uuid, major, minor));
            }
        }
    }
    d.align(4)?;
    let status = d.read_u32()?;
    d.finish()?;
    check_status(status)?;
    Ok(ids)
}

/// `rpc_mgmt_inq_stats` (`RpcMgmtInqStats`): calls in, calls out, PDUs in, PDUs out.
pub async fn inq_stats(binding: &Binding) -> Result<Vec<u32>> {
    let reply = binding
        .call(MGMT, 1, |syntax| {
            let mut e = Encoder::new(syntax, msrpc_ndr::DataRep::LITTLE_ENDIAN);
            e.write_u32(STATS_COUNT);
            Ok(e.into_bytes())
        })
        .await?;
    let mut d = Decoder::new(&reply.stub, reply.syntax, reply.drep);
    let _count = d.read_u32()?;
    let max = d.read_conformance()?;
    let n = d.check_count(max, 4)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(d.read_u32()?);
    }
    let status = d.read_u32()?;
    d.finish()?;
    check_status(status)?;
    Ok(v)
}

/// `rpc_mgmt_stop_server_listening` (`RpcMgmtStopServerListening`) on a remote server.
pub async fn stop_server_listening(binding: &Binding) -> Result<()> {
    let reply = binding.call(MGMT, 3, |_| Ok(Vec::new())).await?;
    let mut d = Decoder::new(&reply.stub, reply.syntax, reply.drep);
    let status = d.read_u32()?;
    d.finish()?;
    check_status(status)
}

/// `rpc_mgmt_inq_princ_name` (`RpcMgmtInqServerPrincName`): the server's principal name.
pub async fn inq_princ_name(binding: &Binding, authn_svc: u32) -> Result<String> {
    const SIZE: u32 = 1024;
    let reply = binding
        .call(MGMT, 4, |syntax| {
            let mut e = Encoder::new(syntax, msrpc_ndr::DataRep::LITTLE_ENDIAN);
            e.write_u32(authn_svc);
            e.write_u32(SIZE);
            Ok(e.into_bytes())
        })
        .await?;
    let mut d = Decoder::new(&reply.stub, reply.syntax, reply.drep);
    let _max = d.read_conformance()?;
    let (_offset, actual) = d.read_variance()?;
    let n = d.check_count(actual, 1)?;
    let bytes = d.take(n)?;
    let text = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    let name = String::from_utf8_lossy(text).into_owned();
    d.align(4)?;
    let status = d.read_u32()?;
    d.finish()?;
    check_status(status)?;
    Ok(name)
}

fn check_status(status: u32) -> Result<()> {
    if status == 0 {
        Ok(())
    } else {
        Err(Error::from(Win32Status(status)))
    }
}
