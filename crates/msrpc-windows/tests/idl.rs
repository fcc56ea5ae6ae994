//! Every transcription of the specifications' full IDL in idl/ compiles with msrpc-idl (the build
//! script generates the enabled ones; this checks all of them, whatever the features).

use std::path::PathBuf;

fn idl_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("idl")
}

/// Each file and the interfaces it must define.
const FILES: &[(&str, &[&str])] = &[
    ("srvsvc", &["srvsvc"]),
    ("wkssvc", &["wkssvc"]),
    ("winreg", &["winreg"]),
    ("svcctl", &["svcctl"]),
    ("samr", &["samr"]),
    ("lsad", &["lsarpc"]),
    ("lsat", &["lsarpc"]),
    ("eventlog", &["eventlog"]),
    ("netlogon", &["logon"]),
    ("atsvc", &["atsvc"]),
    ("sasec", &["sasec"]),
    ("schrpc", &["i_task_scheduler_service"]),
];

#[test]
fn every_interface_idl_compiles() {
    let b = msrpc_idl::Builder::new().include_dir(idl_dir());
    let mut failed = Vec::new();
    for (stem, itfs) in FILES {
        match b.generate(&idl_dir().join(format!("{stem}.idl")), None) {
            Ok(code) => {
                for i in *itfs {
                    assert!(
                        code.contains(&format!("pub mod {i} {{")),
                        "{stem}.idl: no interface {i}"
                    );
                }
            }
            Err(d) => failed.push(format!("{stem}: {d}")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} compile:\n{}",
        FILES.len() - failed.len(),
        FILES.len(),
        failed.join("\n")
    );
}

/// MS-DTYP's Appendix A on its own: everything up to the self-relative claim structures, which
/// the appendix declares with a conformant array that has no size (they are never sent as NDR;
/// MS-DTYP 2.4.10.2). The prelude carries the appendix and leaves those out of the shared module.
#[test]
fn ms_dtyp_appendix_alone_stops_only_at_the_sizeless_claim_array() {
    let b = msrpc_idl::Builder::new();
    let err = b
        .generate(&idl_dir().join("ms-dtyp.idl"), None)
        .expect_err("OctetString[] has no size_is");
    let text = err.to_string();
    assert!(text.contains("OctetString"), "{text}");
}
