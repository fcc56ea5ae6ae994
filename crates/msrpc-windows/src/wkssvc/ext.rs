//! The thin layer over wkssvc: [`workstation_info`] (NetrWkstaGetInfo at levels 100, 101 and
//! 102) and [`logged_on_users`] (NetrWkstaUserEnum at level 1, resume handle followed).

use msrpc::codegen::ndr;
use msrpc::{Binding, Win32Status};

use super::wkssvc::{Client, NetrWkstaGetInfoRequest, NetrWkstaUserEnumRequest};
use super::{
    _WKSTA_USER_ENUM_UNION, WKSTA_INFO, WKSTA_USER_ENUM_STRUCT, WKSTA_USER_INFO_1_CONTAINER,
};
use crate::paging::{Page, Paged};
use crate::{Error, Result};

/// `ERROR_MORE_DATA`: NetrWkstaUserEnum has more entries for the resume handle.
const ERROR_MORE_DATA: u32 = 234;
/// The most NetrWkstaUserEnum calls one listing makes (each page brings at least one user).
pub const MAX_USER_PAGES: usize = 4096;
/// `PreferredMaximumLength` of each NetrWkstaUserEnum call: as much as the server will send.
pub const USER_PAGE_BYTES: u32 = u32::MAX;

/// The level of [`workstation_info`]: what NetrWkstaGetInfo returns ([MS-WKST] 2.2.5.1-2.2.5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InfoLevel {
    /// `WKSTA_INFO_100`: platform, computer name, domain, version. Any caller.
    L100,
    /// `WKSTA_INFO_101`: level 100 and the LAN root. Authenticated users on Windows;
    /// administrators on Samba.
    L101,
    /// `WKSTA_INFO_102`: level 101 and the number of logged-on users. As level 101.
    L102,
}

impl InfoLevel {
    /// The wire level.
    pub fn number(self) -> u32 {
        match self {
            InfoLevel::L100 => 100,
            InfoLevel::L101 => 101,
            InfoLevel::L102 => 102,
        }
    }
}

/// A workstation's description (`WKSTA_INFO_100`/`101`/`102`); the fields a lower level lacks
/// are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkstationInfo {
    /// `wki1xx_platform_id`: 500 for `PLATFORM_ID_NT`.
    pub platform_id: u32,
    /// `wki1xx_computername`.
    pub computer_name: String,
    /// `wki1xx_langroup`: the domain or workgroup.
    pub domain: String,
    /// `wki1xx_ver_major`, `wki1xx_ver_minor`.
    pub version: (u32, u32),
    /// `wki101_lanroot` (levels 101 and 102).
    pub lan_root: Option<String>,
    /// `wki102_logged_on_users` (level 102).
    pub logged_on_users: Option<u32>,
}

fn text(s: &ndr::Unique<ndr::WideString>) -> String {
    s.as_ref().map(|s| s.to_string_lossy()).unwrap_or_default()
}

/// NetrWkstaGetInfo at `level`, over a binding to `\pipe\wkssvc`.
pub async fn workstation_info(b: &Binding, level: InfoLevel) -> Result<WorkstationInfo> {
    let op = "NetrWkstaGetInfo";
    let resp = Client(b)
        .netr_wksta_get_info(NetrWkstaGetInfoRequest {
            ServerName: ndr::Unique::default(),
            Level: level.number(),
        })
        .await?;
    if resp.return_value != 0 {
        return Err(Error::Win32 {
            op,
            status: Win32Status(resp.return_value),
        });
    }
    let missing = || Error::Reply {
        op,
        what: format!("no WKSTA_INFO_{} in the reply", level.number()),
    };
    Ok(match (level, resp.WkstaInfo) {
        (InfoLevel::L100, WKSTA_INFO::WkstaInfo100(i)) => {
            let i = i.as_ref().ok_or_else(missing)?;
            WorkstationInfo {
                platform_id: i.wki100_platform_id,
                computer_name: text(&i.wki100_computername),
                domain: text(&i.wki100_langroup),
                version: (i.wki100_ver_major, i.wki100_ver_minor),
                lan_root: None,
                logged_on_users: None,
            }
        }
        (InfoLevel::L101, WKSTA_INFO::WkstaInfo101(i)) => {
            let i = i.as_ref().ok_or_else(missing)?;
            WorkstationInfo {
                platform_id: i.wki101_platform_id,
                computer_name: text(&i.wki101_computername),
                domain: text(&i.wki101_langroup),
                version: (i.wki101_ver_major, i.wki101_ver_minor),
                lan_root: Some(text(&i.wki101_lanroot)),
                logged_on_users: None,
            }
        }
        (InfoLevel::L102, WKSTA_INFO::WkstaInfo102(i)) => {
            let i = i.as_ref().ok_or_else(missing)?;
            WorkstationInfo {
                platform_id: i.wki102_platform_id,
                computer_name: text(&i.wki102_computername),
                domain: text(&i.wki102_langroup),
                version: (i.wki102_ver_major, i.wki102_ver_minor),
                lan_root: Some(text(&i.wki102_lanroot)),
                logged_on_users: Some(i.wki102_logged_on_users),
            }
        }
        _ => return Err(missing()),
    })
}

/// One user logged on to the workstation (`WKSTA_USER_INFO_1`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggedOnUser {
    /// `wkui1_username`.
    pub name: String,
    /// `wkui1_logon_domain`.
    pub logon_domain: String,
    /// `wkui1_oth_domains`.
    pub other_domains: String,
    /// `wkui1_logon_server`.
    pub logon_server: String,
}

/// Every user logged on to the workstation (NetrWkstaUserEnum at level 1, following the resume
/// handle while the server answers `ERROR_MORE_DATA`). Windows and Samba allow it to
/// administrators only (`ERROR_ACCESS_DENIED` otherwise).
pub async fn logged_on_users(b: &Binding) -> Result<Vec<LoggedOnUser>> {
    enumerate_logged_on_users(b).collect(&mut |_| {}).await
}

/// The logged-on users, a page (one NetrWkstaUserEnum call) at a time, at most
/// [`MAX_USER_PAGES`] calls.
pub fn enumerate_logged_on_users(b: &Binding) -> Paged<'_, u32, LoggedOnUser> {
    let b = b.clone();
    Paged::new("NetrWkstaUserEnum", 0u32, move |resume| {
        let b = b.clone();
        async move { user_page(&b, resume).await }
    })
    .max_pages(MAX_USER_PAGES)
}

async fn user_page(b: &Binding, resume: u32) -> Result<Page<u32, LoggedOnUser>> {
    let op = "NetrWkstaUserEnum";
    let resp = Client(b)
        .netr_wksta_user_enum(NetrWkstaUserEnumRequest {
            ServerName: ndr::Unique::default(),
            UserInfo: WKSTA_USER_ENUM_STRUCT {
                Level: 1,
                WkstaUserInfo: _WKSTA_USER_ENUM_UNION::Level1(ndr::Unique::new(
                    WKSTA_USER_INFO_1_CONTAINER {
                        EntriesRead: 0,
                        Buffer: ndr::Unique::default(),
                    },
                )),
            },
            PreferredMaximumLength: USER_PAGE_BYTES,
            ResumeHandle: ndr::Unique::new(resume),
        })
        .await?;
    if resp.return_value != 0 && resp.return_value != ERROR_MORE_DATA {
        return Err(Error::Win32 {
            op,
            status: Win32Status(resp.return_value),
        });
    }
    let _WKSTA_USER_ENUM_UNION::Level1(c) = resp.UserInfo.WkstaUserInfo else {
        return Err(Error::Reply {
            op,
            what: "the reply is not at level 1".into(),
        });
    };
    let items: Vec<LoggedOnUser> = c
        .as_ref()
        .and_then(|c| c.Buffer.as_ref())
        .map(|items| {
            items
                .0
                .iter()
                .map(|u| LoggedOnUser {
                    name: text(&u.wkui1_username),
                    logon_domain: text(&u.wkui1_logon_domain),
                    other_domains: text(&u.wkui1_oth_domains),
                    logon_server: text(&u.wkui1_logon_server),
                })
                .collect()
        })
        .unwrap_or_default();
    let more = resp.return_value == ERROR_MORE_DATA && !items.is_empty();
    let next = resp.ResumeHandle.as_ref().copied().filter(|_| more);
    Ok(Page { items, next })
}
