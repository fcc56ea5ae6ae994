//! A server's registration of its dynamic endpoints (`RpcEpRegister` / `RpcEpUnregister`): into the
//! endpoint mapper the server serves itself, or into the host's endpoint mapper through
//! `ept_insert`, and out again at shutdown.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use msrpc_ndr::tower::Tower;
use msrpc_proto::SyntaxId;
use uuid::Uuid;

use super::db::{EndpointDb, Entry, MAX_ANNOTATION};
use crate::binding::{BindingTarget, StringBinding};
use crate::client::Binding;
use crate::error::Result;

/// Where a server's entries go, and which ones it registered.
#[derive(Debug)]
pub(crate) struct Registration {
    /// The endpoint map the server serves itself.
    local: Option<Arc<EndpointDb>>,
    /// The host's endpoint mapper, as a binding (`ncacn_ip_tcp:127.0.0.1[135]`).
    external: Option<Binding>,
    /// The server's dynamic endpoints (every listener but the endpoint mapper's own).
    endpoints: Vec<StringBinding>,
    registered: Mutex<Vec<Entry>>,
}

impl Registration {
    pub(crate) fn new(
        local: Option<Arc<EndpointDb>>,
        external: Option<Binding>,
        endpoints: Vec<StringBinding>,
    ) -> Self {
        Registration {
            local,
            external,
            endpoints,
            registered: Mutex::new(Vec::new()),
        }
    }

    /// The endpoint map the server serves, if it serves one.
    pub(crate) fn local_db(&self) -> Option<&Arc<EndpointDb>> {
        self.local.as_ref()
    }

    /// Registers `ifaces` at every dynamic endpoint (replacing what an earlier run of the same
    /// server left behind).
    pub(crate) async fn add(&self, ifaces: &[(SyntaxId, String)]) -> Result<()> {
        let entries: Vec<Entry> = ifaces
            .iter()
            .flat_map(|(id, name)| entries_for(*id, name, &self.endpoints))
            .collect();
        if entries.is_empty() {
            return Ok(());
        }
        if let Some(db) = &self.local {
            db.insert(entries.clone(), true).map_err(|e| {
                crate::Error::status_msg(
                    e.status(),
                    format!("the endpoint map refused the entries: {e}"),
                )
            })?;
        }
        if let Some(epm) = &self.external {
            super::insert(epm, &entries, true).await?;
        }
        self.lock().extend(entries);
        Ok(())
    }

    /// Removes every entry this server registered (at shutdown); errors are logged, not returned.
    pub(crate) async fn remove_all(&self) {
        let entries = std::mem::take(&mut *self.lock());
        if entries.is_empty() {
            return;
        }
        if let Some(db) = &self.local {
            db.remove(&entries);
        }
        if let Some(epm) = &self.external {
            if let Err(e) = super::delete(epm, &entries).await {
                tracing::warn!(error = %e, "could not unregister from the endpoint mapper");
            }
            epm.close();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.registered.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The entries for one interface at some endpoints: an NDR20 tower per endpoint, `ncacn_ip_tcp`
/// with the listener's IPv4 address (0.0.0.0 for every address; the mapper fills in the one the
/// client reached it on), and `ncalrpc` with the endpoint name. IPv6 and host-name listeners
/// have no tower form (the IP floor is IPv4) and are left out.
pub(crate) fn entries_for(iface: SyntaxId, name: &str, endpoints: &[StringBinding]) -> Vec<Entry> {
    let annotation: String = name.chars().take(MAX_ANNOTATION - 1).collect();
    endpoints
        .iter()
        .filter_map(|b| match b.target().ok()? {
            BindingTarget::Tcp {
                host,
                port: Some(port),
            } => {
                let ip: Ipv4Addr = host.parse().ok()?;
                Some(Tower::ncacn_ip_tcp(iface, SyntaxId::NDR20, port, ip))
            }
            BindingTarget::Lrpc(ep) => Some(Tower::ncalrpc(iface, SyntaxId::NDR20, ep.name()?)),
            _ => None,
        })
        .map(|tower| Entry {
            object: Uuid::nil(),
            tower,
            annotation: annotation.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn towers_for_tcp_and_ncalrpc_listeners() {
        let id = SyntaxId::new(uuid::uuid!("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b"), 1, 0);
        let eps: Vec<StringBinding> = [
            "ncacn_ip_tcp:127.0.0.1[49999]",
            "ncacn_ip_tcp:::1[50000]",
            "ncalrpc:[asyncrpc]",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let e = entries_for(id, "AsyncRPC", &eps);
        assert_eq!(e.len(), 2, "the IPv6 listener has no tower");
        assert_eq!(e[0].tower.tcp_port(), Some(49999));
        assert_eq!(e[0].tower.ip(), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(e[1].tower.named_pipe(), Some("asyncrpc"));
        assert!(e.iter().all(|x| x.annotation == "AsyncRPC"));
    }
}
