//! Calling an endpoint mapper: `ept_map` (what the client runtime does for a binding without an
//! endpoint), the whole endpoint map through paged `ept_lookup`, and `ept_insert` / `ept_delete`
//! for servers registering their dynamic endpoints.

use std::net::Ipv4Addr;

use msrpc_ndr::tower::Tower;
use msrpc_ndr::{ConformantArray, ContextHandle, Unique};
use msrpc_proto::{SyntaxId, Win32Status};
use uuid::Uuid;

use super::db::{EPT_S_NOT_REGISTERED, Entry, EptError};
use super::server::{entry_from_wire, entry_to_wire, twr};
use crate::client::{Binding, BindingOptions};
use crate::codegen::Stub as _;
use crate::error::{Error, Result};
use crate::generated::epm::epm as e;

/// The endpoint mapper's well-known TCP port.
pub const EPM_PORT: u16 = 135;

/// Entries asked for per `ept_lookup` call by [`lookup_all`].
const LOOKUP_PAGE: u32 = 100;

/// `ept_lookup` calls [`lookup_all`] makes at most (a server that never ends the walk).
const MAX_LOOKUP_CALLS: usize = 1000;

/// The status an epm operation answered, as an error (the status's name when Win32 knows it).
fn ept_status(op: &str, status: u32) -> Error {
    match EptError::from_code(status) {
        Some(e) => Error::status_msg(e.status(), format!("{op} answered status {status:#x}: {e}")),
        None => Error::status_msg(
            Win32Status(status),
            format!("{op} answered status {status:#x}"),
        ),
    }
}

/// `ept_map` for `iface` over NDR20 and `ncacn_ip_tcp`: the towers the endpoint mapper knows, at
/// most `max` of them. The entry handle, if the mapper returns one, is freed.
pub async fn map_tcp(
    epm: &Binding,
    iface: SyntaxId,
    object: Option<Uuid>,
    max: u32,
) -> Result<Vec<Tower>> {
    let ask = Tower::ncacn_ip_tcp(iface, SyntaxId::NDR20, 0, Ipv4Addr::UNSPECIFIED);
    map(epm, &ask, object, max).await
}

/// `ept_map` with any tower (floors 3 and up name the protocol wanted).
pub async fn map(
    epm: &Binding,
    tower: &Tower,
    object: Option<Uuid>,
    max: u32,
) -> Result<Vec<Tower>> {
    let bytes = tower.to_bytes()?;
    let req = e::EptMapRequest {
        object: object.map_or_else(Unique::null, Unique::new),
        map_tower: Unique::new(twr(bytes)),
        entry_handle: ContextHandle::NULL,
        max_towers: max,
    };
    let reply = epm
        .call(EPM, e::EptMapRequest::OPNUM, move |syntax, rep| {
            req.encode(syntax, rep)
        })
        .await?;
    let resp = e::EptMapResponse::decode(&reply.stub, reply.syntax, reply.drep)?;
    if !resp.entry_handle.is_null() {
        free_handle(epm, resp.entry_handle).await;
    }
    if resp.status != 0 {
        return Err(ept_status("ept_map", resp.status));
    }
    Ok(resp
        .towers
        .items
        .iter()
        .filter_map(|t| t.as_ref())
        .filter_map(|t| Tower::parse(&t.tower_octet_string.0).ok())
        .collect())
}

/// Every entry of the endpoint map (`ept_lookup` with `rpc_c_ep_all_elts`, paged through the entry
/// handle, which is freed if the walk stops early).
pub async fn lookup_all(epm: &Binding) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut handle = ContextHandle::NULL;
    for _ in 0..MAX_LOOKUP_CALLS {
        let req = e::EptLookupRequest {
            inquiry_type: 0,
            object: Unique::null(),
            interface_id: Unique::null(),
            vers_option: 1,
            entry_handle: handle,
            max_ents: LOOKUP_PAGE,
        };
        let reply = epm
            .call(EPM, e::EptLookupRequest::OPNUM, move |syntax, rep| {
                req.encode(syntax, rep)
            })
            .await;
        let resp = match reply
            .and_then(|r| Ok(e::EptLookupResponse::decode(&r.stub, r.syntax, r.drep)?))
        {
            Ok(r) => r,
            Err(err) => {
                if !handle.is_null() {
                    free_handle(epm, handle).await;
                }
                return Err(err);
            }
        };
        out.extend(resp.entries.items.iter().filter_map(entry_from_wire));
        handle = resp.entry_handle;
        match resp.status {
            0 if !handle.is_null() => continue,
            0 | EPT_S_NOT_REGISTERED => return Ok(out),
            s => {
                if !handle.is_null() {
                    free_handle(epm, handle).await;
                }
                return Err(ept_status("ept_lookup", s));
            }
        }
    }
    if !handle.is_null() {
        free_handle(epm, handle).await;
    }
    Ok(out)
}

/// `ept_lookup_handle_free`, errors ignored (the handle also runs down with the association).
async fn free_handle(epm: &Binding, handle: ContextHandle) {
    let req = e::EptLookupHandleFreeRequest {
        entry_handle: handle,
    };
    let _ = epm
        .call(
            EPM,
            e::EptLookupHandleFreeRequest::OPNUM,
            move |syntax, rep| req.encode(syntax, rep),
        )
        .await;
}

/// `ept_insert`: registers entries (the mapper accepts it from local callers only).
pub async fn insert(epm: &Binding, entries: &[Entry], replace: bool) -> Result<()> {
    let wire: Vec<_> = entries.iter().map(entry_to_wire).collect();
    let req = e::EptInsertRequest {
        num_ents: wire.len() as u32,
        entries: ConformantArray(wire),
        replace: u32::from(replace),
    };
    let reply = epm
        .call(EPM, e::EptInsertRequest::OPNUM, move |syntax, rep| {
            req.encode(syntax, rep)
        })
        .await?;
    match e::EptInsertResponse::decode(&reply.stub, reply.syntax, reply.drep)?.status {
        0 => Ok(()),
        s => Err(ept_status("ept_insert", s)),
    }
}

/// `ept_delete`: removes entries (local callers only).
pub async fn delete(epm: &Binding, entries: &[Entry]) -> Result<()> {
    let wire: Vec<_> = entries.iter().map(entry_to_wire).collect();
    let req = e::EptDeleteRequest {
        num_ents: wire.len() as u32,
        entries: ConformantArray(wire),
    };
    let reply = epm
        .call(EPM, e::EptDeleteRequest::OPNUM, move |syntax, rep| {
            req.encode(syntax, rep)
        })
        .await?;
    match e::EptDeleteResponse::decode(&reply.stub, reply.syntax, reply.drep)?.status {
        0 => Ok(()),
        s => Err(ept_status("ept_delete", s)),
    }
}

/// The interface's TCP port on `host`, from the endpoint mapper at `host:epm_port` (what the
/// Windows runtime does for a partially bound `ncacn_ip_tcp` binding).
pub(crate) async fn resolve_tcp(
    host: &str,
    epm_port: u16,
    iface: SyntaxId,
    object: Option<Uuid>,
    options: &BindingOptions,
) -> Result<u16> {
    // IPv6 literals go unbracketed, as string bindings write them.
    let text = format!("ncacn_ip_tcp:{host}[{epm_port}]");
    let epm = Binding::with_options(&text, epm_options(options))?;
    let result = map_tcp(&epm, iface, object, 4).await;
    epm.close();
    let towers = match result {
        Ok(t) => t,
        Err(err) if err.status() == Win32Status::EPT_S_NOT_REGISTERED => {
            return Err(not_registered(iface, &text));
        }
        Err(err) => {
            return Err(Error::status_msg(
                err.status(),
                format!("asking the endpoint mapper at {text} for {iface}: {err}"),
            ));
        }
    };
    towers
        .iter()
        .find_map(|t| t.tcp_port().filter(|p| *p != 0))
        .ok_or_else(|| not_registered(iface, &text))
}

/// The socket of the interface's `ncalrpc` endpoint on this host, from the endpoint mapper at
/// `127.0.0.1:epm_port` (an `ncalrpc` map tower).
pub(crate) async fn resolve_lrpc(
    epm_port: u16,
    iface: SyntaxId,
    object: Option<Uuid>,
    options: &BindingOptions,
) -> Result<crate::transport::Address> {
    let text = format!("ncacn_ip_tcp:127.0.0.1[{epm_port}]");
    let epm = Binding::with_options(&text, epm_options(options))?;
    let ask = Tower::ncalrpc(iface, SyntaxId::NDR20, "");
    let result = map(&epm, &ask, object, 4).await;
    epm.close();
    let towers = result.map_err(|err| {
        if err.status() == Win32Status::EPT_S_NOT_REGISTERED {
            not_registered_for(iface, &text, "ncalrpc")
        } else {
            Error::status_msg(
                err.status(),
                format!("asking the endpoint mapper at {text} for {iface}: {err}"),
            )
        }
    })?;
    let name = towers
        .iter()
        .find_map(|t| t.named_pipe().filter(|n| !n.is_empty()))
        .ok_or_else(|| not_registered_for(iface, &text, "ncalrpc"))?;
    let bad = || {
        Error::status_msg(
            Win32Status::RPC_S_INVALID_ENDPOINT_FORMAT,
            format!("the endpoint mapper at {text} gave an unusable ncalrpc endpoint {name:?}"),
        )
    };
    let binding: crate::binding::StringBinding =
        format!("ncalrpc:[{name}]").parse().map_err(|_| bad())?;
    crate::transport::Address::for_connect(&binding).map_err(|_| bad())
}

/// The pipe of the interface's `ncacn_np` endpoint on `host`, from the endpoint mapper over
/// `\pipe\epmapper` on the same SMB server and session (an `ncacn_np` map tower). The name comes
/// back without its `\pipe\` prefix.
#[cfg(feature = "ncacn-np")]
pub(crate) async fn resolve_np(
    host: &str,
    iface: SyntaxId,
    object: Option<Uuid>,
    options: &BindingOptions,
) -> Result<String> {
    use msrpc_ndr::tower::Floor;
    let text = format!("ncacn_np:{host}[\\pipe\\epmapper]");
    let mut opts = epm_options(options);
    // The same SMB session as the binding's pipes (its port and credentials); the endpoint
    // mapper call itself stays unauthenticated at the RPC level, as on Windows.
    opts.smb = options.smb.clone();
    if opts.smb.credentials.is_none() {
        opts.smb.credentials = options.auth.as_ref().map(|a| a.credentials.clone());
    }
    let epm = Binding::with_options(&text, opts)?;
    let ask = Tower {
        floors: vec![
            Floor::Uuid(iface),
            Floor::Uuid(SyntaxId::NDR20),
            Floor::Ncacn { minor: 0 },
            Floor::Smb(String::new()),
            Floor::NetBios(String::new()),
        ],
    };
    let result = map(&epm, &ask, object, 4).await;
    epm.close();
    let towers = result.map_err(|err| {
        if err.status() == Win32Status::EPT_S_NOT_REGISTERED {
            not_registered_for(iface, &text, "ncacn_np")
        } else {
            Error::status_msg(
                err.status(),
                format!("asking the endpoint mapper at {text} for {iface}: {err}"),
            )
        }
    })?;
    towers
        .iter()
        .flat_map(|t| t.floors.iter())
        .find_map(|f| match f {
            Floor::Smb(p) => crate::binding::pipe_name(p).map(str::to_owned),
            _ => None,
        })
        .ok_or_else(|| not_registered_for(iface, &text, "ncacn_np"))
}

/// Options for the call to the endpoint mapper: the caller's timeouts.
fn epm_options(options: &BindingOptions) -> BindingOptions {
    BindingOptions {
        connect_timeout: options.connect_timeout,
        call_timeout: Some(options.call_timeout.unwrap_or(options.connect_timeout)),
        ..BindingOptions::default()
    }
}

fn not_registered(iface: SyntaxId, epm: &str) -> Error {
    not_registered_for(iface, epm, "ncacn_ip_tcp")
}

fn not_registered_for(iface: SyntaxId, epm: &str, protseq: &str) -> Error {
    Error::status_msg(
        Win32Status::EPT_S_NOT_REGISTERED,
        format!(
            "interface {} v{}.{} is not registered with the endpoint mapper at {epm} for \
             {protseq}",
            iface.uuid, iface.major, iface.minor
        ),
    )
}

/// The epm interface id.
const EPM: SyntaxId = super::server::EPM;
