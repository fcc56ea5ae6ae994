//! Generates the interfaces of the enabled features from idl/ (the Microsoft Open
//! Specifications' IDL, transcribed by scripts/openspecs-idl.py) into OUT_DIR, and the MS-DTYP
//! types they share once, into `dtyp.rs`.

use std::path::PathBuf;

/// Feature, IDL files (stems in idl/).
const INTERFACES: &[(&str, &[&str])] = &[
    ("SRVSVC", &["srvsvc"]),
    ("WKSSVC", &["wkssvc"]),
    ("WINREG", &["winreg"]),
    ("SVCCTL", &["svcctl"]),
    ("SAMR", &["samr"]),
    ("LSARPC", &["lsad", "lsat"]),
    ("EVENTLOG", &["eventlog"]),
    ("NETLOGON", &["netlogon"]),
    ("TSCH", &["atsvc", "sasec", "schrpc"]),
];

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("idl");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    println!("cargo:rerun-if-changed=build.rs");
    let builder = msrpc_idl::Builder::new()
        .include_dir(&dir)
        .shared_prelude("crate::dtyp");
    let prelude = builder
        .generate_prelude()
        .unwrap_or_else(|e| panic!("MS-DTYP prelude:\n{e}"));
    std::fs::write(out.join("dtyp.rs"), prelude).expect("write dtyp.rs");
    let mut idls = Vec::new();
    for (feature, stems) in INTERFACES {
        if std::env::var_os(format!("CARGO_FEATURE_{feature}")).is_some() {
            idls.extend(stems.iter().map(|s| dir.join(format!("{s}.idl"))));
        }
    }
    builder
        .compile(&idls, &[] as &[PathBuf])
        .unwrap_or_else(|e| panic!("IDL compile failed:\n{e}"));
}
