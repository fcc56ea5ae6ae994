//! `msrpc epm BINDING`: every endpoint an endpoint mapper has registered, like rpcdump.

use std::time::{Duration, Instant};

use msrpc::binding::StringBinding;
use msrpc::epm::{self, Entry};
use msrpc::{Binding, BindingOptions};
use msrpc_ndr::tower::{Floor, Tower};

use crate::output::{Failure, known_interface_name};

/// Lists the endpoint map at `binding` (its endpoint defaults to 135).
pub(crate) fn run(
    binding: &str,
    json: bool,
    timeout_ms: u64,
    auth: &crate::auth::ClientAuthArgs,
    smb: &crate::auth::SmbArgs,
) -> Result<(), Failure> {
    let text = with_default_endpoint(binding)?;
    let mut options = BindingOptions::default();
    options.connect_timeout = Duration::from_millis(timeout_ms);
    options.call_timeout = Some(Duration::from_millis(timeout_ms));
    auth.apply(&mut options)?;
    smb.apply(&mut options);
    let b = Binding::with_options(&text, options).map_err(Failure::rpc)?;
    let rt = crate::runtime()?;
    let t0 = Instant::now();
    let entries = rt.block_on(async {
        // Progress for a slow mapper: a note on stderr after a second.
        let note = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            eprintln!("asking the endpoint mapper at {text} (ept_lookup)...");
            std::future::pending::<()>().await
        };
        tokio::select! {
            r = epm::lookup_all(&b) => r,
            _ = note => unreachable!(),
        }
    });
    b.close();
    let entries = entries.map_err(Failure::rpc)?;
    // A reader that goes away (`| head`) ends the listing quietly.
    match print(&entries, json) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        Err(e) => return Err(Failure::other(format!("cannot write the listing: {e}"))),
        Ok(()) if json => return Ok(()),
        Ok(()) => {}
    }
    eprintln!(
        "{} endpoints from {text} in {:.0} ms",
        entries.len(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

fn print(entries: &[Entry], json: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if json {
        let v: Vec<_> = entries.iter().map(entry_json).collect();
        writeln!(out, "{}", serde_json::Value::Array(v))?;
        return out.flush();
    }
    writeln!(
        out,
        "{:<38} {:<7} {:<46} {:<24} NAME",
        "UUID", "VERSION", "BINDING", "ANNOTATION"
    )?;
    for e in entries {
        let (uuid, version) = interface(&e.tower);
        let name = e
            .tower
            .interface()
            .and_then(|i| known_interface_name(&i.uuid))
            .unwrap_or("");
        writeln!(
            out,
            "{uuid:<38} {version:<7} {:<46} {:<24} {name}",
            tower_binding(e),
            e.annotation
        )?;
    }
    out.flush()
}

/// `ncacn_ip_tcp:HOST` → `ncacn_ip_tcp:HOST[135]`, `ncacn_np:HOST` → `ncacn_np:HOST[\pipe\epmapper]`:
/// the endpoint mapper's well-known endpoint.
fn with_default_endpoint(binding: &str) -> Result<String, Failure> {
    let parsed: StringBinding = binding
        .parse()
        .map_err(|e: msrpc::binding::BindingError| Failure::rpc(e.into()))?;
    Ok(if parsed.endpoint().is_none_or(str::is_empty) {
        let ep = if parsed.protseq() == msrpc::binding::ProtocolSequence::NcacnNp {
            r"\pipe\epmapper".to_owned()
        } else {
            epm::EPM_PORT.to_string()
        };
        parsed.with_endpoint(ep).to_string()
    } else {
        parsed.to_string()
    })
}

fn interface(t: &Tower) -> (String, String) {
    match t.interface() {
        Some(i) => (i.uuid.to_string(), format!("{}.{}", i.major, i.minor)),
        None => ("?".into(), "?".into()),
    }
}

/// The string binding a tower describes (`ncacn_ip_tcp:127.0.0.1[49152]`), with the object UUID
/// in front when it is not nil.
pub(crate) fn tower_binding(e: &Entry) -> String {
    let floors = e.tower.floors.get(2..).unwrap_or(&[]);
    let host_ip = e.tower.ip().map(|a| a.to_string()).unwrap_or_default();
    let text = match floors.first() {
        Some(Floor::Ncacn { .. }) => match floors.get(1) {
            Some(Floor::Tcp(p)) => format!("ncacn_ip_tcp:{host_ip}[{p}]"),
            Some(Floor::Smb(pipe)) => {
                let host = floors
                    .iter()
                    .find_map(|f| match f {
                        Floor::NetBios(h) => Some(h.as_str()),
                        _ => None,
                    })
                    .unwrap_or("");
                format!("ncacn_np:{host}[{pipe}]")
            }
            Some(Floor::NamedPipe(name)) => format!("ncalrpc:[{name}]"),
            // 0x1f: the RPC-over-HTTP port, big-endian like TCP's (Floor keeps it raw).
            Some(Floor::Other { lhs, rhs }) if lhs.as_slice() == [0x1f] && rhs.len() == 2 => {
                format!(
                    "ncacn_http:{host_ip}[{}]",
                    u16::from_be_bytes([rhs[0], rhs[1]])
                )
            }
            _ => "ncacn (unknown transport)".into(),
        },
        Some(Floor::Ncadg { .. }) => match floors.get(1) {
            Some(Floor::Udp(p)) => format!("ncadg_ip_udp:{host_ip}[{p}]"),
            _ => "ncadg (unknown transport)".into(),
        },
        Some(Floor::Ncalrpc { .. }) => match floors.get(1) {
            Some(Floor::NamedPipe(name)) => format!("ncalrpc:[{name}]"),
            _ => "ncalrpc:".into(),
        },
        _ => "(unknown protocol)".into(),
    };
    if e.object.is_nil() {
        text
    } else {
        format!("{}@{text}", e.object)
    }
}

fn entry_json(e: &Entry) -> serde_json::Value {
    let (uuid, version) = interface(&e.tower);
    serde_json::json!({
        "uuid": uuid,
        "version": version,
        "object": e.object.to_string(),
        "binding": tower_binding(e),
        "annotation": e.annotation,
        "name": e.tower.interface().and_then(|i| known_interface_name(&i.uuid)),
        "transfer_syntax": e.tower.transfer_syntax().map(|s| s.uuid.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use msrpc::SyntaxId;

    use super::*;

    #[test]
    fn bindings_from_towers() {
        let id = SyntaxId::new(uuid::Uuid::from_u128(1), 1, 0);
        let mut e = Entry {
            object: uuid::Uuid::nil(),
            tower: Tower::ncacn_ip_tcp(id, SyntaxId::NDR20, 49152, Ipv4Addr::LOCALHOST),
            annotation: String::new(),
        };
        assert_eq!(tower_binding(&e), "ncacn_ip_tcp:127.0.0.1[49152]");
        e.tower = Tower::ncalrpc(id, SyntaxId::NDR20, "epmapper");
        assert_eq!(tower_binding(&e), "ncalrpc:[epmapper]");
        e.object = uuid::Uuid::from_u128(2);
        assert!(tower_binding(&e).ends_with("@ncalrpc:[epmapper]"));
        e.object = uuid::Uuid::nil();
        let mut http = Tower::ncacn_ip_tcp(id, SyntaxId::NDR20, 593, Ipv4Addr::LOCALHOST);
        http.floors[3] = Floor::Other {
            lhs: vec![0x1f],
            rhs: 593u16.to_be_bytes().to_vec(),
        };
        e.tower = http;
        assert_eq!(tower_binding(&e), "ncacn_http:127.0.0.1[593]");
        e.tower = Tower::default();
        assert!(tower_binding(&e).contains("unknown"));
        assert_eq!(
            with_default_endpoint("ncacn_ip_tcp:127.0.0.1").unwrap(),
            "ncacn_ip_tcp:127.0.0.1[135]"
        );
        assert_eq!(
            with_default_endpoint("ncacn_ip_tcp:127.0.0.1[1350]").unwrap(),
            "ncacn_ip_tcp:127.0.0.1[1350]"
        );
    }
}
