//! The thin layer over srvsvc: [`shares`].

use msrpc::Binding;
use msrpc::codegen::ndr;

use super::srvsvc::{Client, NetrShareEnumRequest};
use super::{SHARE_ENUM_STRUCT, SHARE_ENUM_UNION, SHARE_INFO_1_CONTAINER};
use crate::{Error, Result};

/// `ERROR_MORE_DATA`: NetrShareEnum has more entries for the resume handle.
const ERROR_MORE_DATA: u32 = 234;
/// The most NetrShareEnum calls one listing makes (each returns at least one share, and a
/// server's share count is bounded far below this).
pub const MAX_SHARE_PAGES: usize = 4096;

/// One share (`SHARE_INFO_1`, [MS-SRVS] 2.2.4.23).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Share {
    /// `shi1_netname`.
    pub name: String,
    /// `shi1_type`: `STYPE_DISKTREE` 0, `STYPE_PRINTQ` 1, `STYPE_DEVICE` 2, `STYPE_IPC` 3, with
    /// `STYPE_SPECIAL` (0x80000000) and `STYPE_TEMPORARY` (0x40000000) flags.
    pub kind: u32,
    /// `shi1_remark`.
    pub remark: String,
}

impl Share {
    /// `shi1_type` in words: `Disk`, `Printer`, `Device`, `IPC`, with ` (special)`.
    pub fn kind_name(&self) -> String {
        let base = match self.kind & 0x0FFF_FFFF {
            0 => "Disk".to_string(),
            1 => "Printer".to_string(),
            2 => "Device".to_string(),
            3 => "IPC".to_string(),
            other => format!("type {other}"),
        };
        if self.kind & 0x8000_0000 != 0 {
            format!("{base} (special)")
        } else {
            base
        }
    }
}

/// Every share of the server (NetrShareEnum at level 1, following the resume handle while the
/// server answers `ERROR_MORE_DATA`), over a binding to `\pipe\srvsvc` or srvsvc's TCP port.
pub async fn shares(b: &Binding) -> Result<Vec<Share>> {
    let client = Client(b);
    let mut out = Vec::new();
    let mut resume = 0u32;
    for _ in 0..MAX_SHARE_PAGES {
        let resp = client
            .netr_share_enum(NetrShareEnumRequest {
                ServerName: ndr::Unique::default(),
                InfoStruct: SHARE_ENUM_STRUCT {
                    Level: 1,
                    ShareInfo: SHARE_ENUM_UNION::Level1(ndr::Unique::new(SHARE_INFO_1_CONTAINER {
                        EntriesRead: 0,
                        Buffer: ndr::Unique::default(),
                    })),
                },
                PreferedMaximumLength: u32::MAX,
                ResumeHandle: ndr::Unique::new(resume),
            })
            .await?;
        if resp.return_value != 0 && resp.return_value != ERROR_MORE_DATA {
            return Err(Error::Win32 {
                op: "NetrShareEnum",
                status: msrpc::Win32Status(resp.return_value),
            });
        }
        let SHARE_ENUM_UNION::Level1(c) = resp.InfoStruct.ShareInfo else {
            return Err(Error::Reply {
                op: "NetrShareEnum",
                what: "the reply is not at level 1".into(),
            });
        };
        let before = out.len();
        if let Some(items) = c.as_ref().and_then(|c| c.Buffer.as_ref()) {
            out.extend(items.0.iter().map(|s| Share {
                name: s.shi1_netname.as_ref().map(|n| n.to_string_lossy()).unwrap_or_default(),
                kind: s.shi1_type,
                remark: s.shi1_remark.as_ref().map(|n| n.to_string_lossy()).unwrap_or_default(),
            }));
        }
        let next = resp.ResumeHandle.as_ref().copied();
        if resp.return_value != ERROR_MORE_DATA || out.len() == before || next.is_none() {
            return Ok(out);
        }
        resume = next.unwrap_or_default();
    }
    Err(Error::Reply {
        op: "NetrShareEnum",
        what: format!("more than {MAX_SHARE_PAGES} pages of shares"),
    })
}
