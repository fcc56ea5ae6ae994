//! What the peer tests share: where a peer's run directory is, and a binding to one of smbd's
//! pipes as user `msrpc` (scripts/peers/smbd.sh writes its port and the password there).

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use msrpc::{Binding, BindingOptions, Credentials};

/// The run directory `env` names, or `default` below this crate.
pub(crate) fn peer_dir(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(default))
}

/// smbd's port and user `msrpc`'s password (`MSRPC_SMBD_DIR`).
pub(crate) fn smbd() -> (u16, String) {
    let dir = peer_dir("MSRPC_SMBD_DIR", "../../target/peers/run/smbd");
    let port = std::fs::read_to_string(dir.join("port"))
        .unwrap_or_else(|e| panic!("{}/port: {e}; start scripts/peers/smbd.sh", dir.display()));
    let pw = std::fs::read_to_string(dir.join("password")).unwrap();
    (port.trim().parse().unwrap(), pw.trim().to_owned())
}

/// `ncacn_np:127.0.0.1[\pipe\PIPE]` on smbd, as user `msrpc`.
pub(crate) fn np(pipe: &str) -> Binding {
    let (port, pw) = smbd();
    let mut o = BindingOptions::default();
    o.smb.port = port;
    o.smb.credentials = Some(Credentials::parse("msrpc", &pw));
    Binding::with_options(&format!(r"ncacn_np:127.0.0.1[\pipe\{pipe}]"), o).unwrap()
}
