//! The thin layer over srvsvc: [`shares`].

use msrpc::Binding;
use msrpc::codegen::ndr;

use super::srvsvc::{Client, NetrShareEnumRequest};
use super::{SHARE_ENUM_STRUCT, SHARE_ENUM_UNION, SHARE_INFO_1_CONTAINER};
use crate::paging::{Page, Paged};
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
/// server answers `ERROR_MORE_DATA`), over a binding to `\\pipe\\srvsvc` or srvsvc's TCP port.
pub async fn shares(b: &Binding) -> Result<Vec<Share>> {
    enumerate_shares(b).collect(&mut |_| {}).await
}

/// The shares, a page (one NetrShareEnum call) at a time, at most [`MAX_SHARE_PAGES`] calls.
pub fn enumerate_shares(b: &Binding) -> Paged<'_, u32, Share> {
    let b = b.clone();
    Paged::new("NetrShareEnum", 0u32, move |resume| {
        let b = b.clone();
        async move { share_page(&b, resume).await }
    })
    .max_pages(MAX_SHARE_PAGES)
}

async fn share_page(b: &Binding, resume: u32) -> Result<Page<u32, Share>> {
    let resp = Client(b)
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
    let items: Vec<Share> = c
        .as_ref()
        .and_then(|c| c.Buffer.as_ref())
        .map(|items| {
            items
                .0
                .iter()
                .map(|s| Share {
                    name: s.shi1_netname.as_ref().map(|n| n.to_string_lossy()).unwrap_or_default(),
                    kind: s.shi1_type,
                    remark: s.shi1_remark.as_ref().map(|n| n.to_string_lossy()).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    // More only while the server says so, sends entries and a resume handle to go on from.
    let next = resp.ResumeHandle.as_ref().copied();
    let more = resp.return_value == ERROR_MORE_DATA && !items.is_empty();
    Ok(Page {
        items,
        next: next.filter(|_| more),
    })
}
