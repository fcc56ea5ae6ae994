//! srvsvc over a named pipe: `NetrServerGetInfo` (level 101) and `NetrShareEnum` (level 1) through
//! `ncacn_np`, the way Windows tools reach a file server.
//!
//! ```sh
//! MSRPC_USER='DOMAIN\user' MSRPC_PASSWORD=... cargo run -p msrpc-examples --bin srvsvc_np -- \
//!     'ncacn_np:HOST[\pipe\srvsvc]' [SMB_PORT]
//! ```
//! Prints `server NAME VERSION COMMENT` and one `share NAME TYPE REMARK` line per share; exits 1 with
//! the error (and its Win32 status) when a call fails.

use std::process::ExitCode;

use msrpc::{Binding, BindingOptions, Credentials};
use msrpc_ndr::Unique;

mod srvsvc {
    include!(concat!(env!("OUT_DIR"), "/srvsvc.rs"));
}

use srvsvc::srvsvc::{Client, NetrServerGetInfoRequest, NetrShareEnumRequest};
use srvsvc::{SERVER_INFO, SHARE_ENUM_STRUCT, SHARE_ENUM_UNION, SHARE_INFO_1_CONTAINER};

async fn run(binding: &str, port: u16) -> Result<(), msrpc::Error> {
    let mut options = BindingOptions::default();
    options.smb.port = port;
    let user = std::env::var("MSRPC_USER").unwrap_or_default();
    let password = std::env::var("MSRPC_PASSWORD").unwrap_or_default();
    if !user.is_empty() {
        options.smb.credentials = Some(Credentials::parse(&user, password));
    }
    let b = Binding::with_options(binding, options)?;
    let srvsvc = Client(&b);

    let reply = srvsvc
        .netr_server_get_info(NetrServerGetInfoRequest {
            ServerName: Unique::null(),
            Level: 101,
        })
        .await?;
    if let SERVER_INFO::ServerInfo101(info) = &reply.InfoStruct
        && let Some(i) = info.as_ref()
    {
        let text = |s: &Unique<msrpc_ndr::WideString>| {
            s.as_ref().map(|w| w.to_string()).unwrap_or_default()
        };
        println!(
            "server {} {}.{} {}",
            text(&i.sv101_name),
            i.sv101_version_major,
            i.sv101_version_minor,
            text(&i.sv101_comment)
        );
    }

    let reply = srvsvc
        .netr_share_enum(NetrShareEnumRequest {
            ServerName: Unique::null(),
            InfoStruct: SHARE_ENUM_STRUCT {
                Level: 1,
                ShareInfo: SHARE_ENUM_UNION::Level1(Unique::new(SHARE_INFO_1_CONTAINER {
                    EntriesRead: 0,
                    Buffer: Unique::null(),
                })),
            },
            PreferedMaximumLength: u32::MAX,
            ResumeHandle: Unique::new(0),
        })
        .await?;
    if let SHARE_ENUM_UNION::Level1(ctr) = &reply.InfoStruct.ShareInfo
        && let Some(ctr) = ctr.as_ref()
    {
        for sh in ctr.Buffer.as_ref().map(|a| a.0.as_slice()).unwrap_or(&[]) {
            let text = |s: &Unique<msrpc_ndr::WideString>| {
                s.as_ref().map(|w| w.to_string()).unwrap_or_default()
            };
            println!(
                "share {} {:#x} {}",
                text(&sh.shi1_netname),
                sh.shi1_type,
                text(&sh.shi1_remark)
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let binding = args
        .next()
        .unwrap_or_else(|| r"ncacn_np:127.0.0.1[\pipe\srvsvc]".to_owned());
    let port = match args.next().map(|p| p.parse::<u16>()) {
        None => 445,
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            eprintln!("SMB_PORT: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&binding, port).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
