//! The thin layer over samr: [`SamServer`] and [`SamDomain`], whose handles close on drop, and
//! the enumerations that follow `EnumerationContext` ([MS-SAMR] 3.1.5.2).

use msrpc::codegen::ndr;
use msrpc::{Binding, ClientContext};

use super::samr::{
    Client, SamrCloseHandleArgs, SamrConnect5Request, SamrEnumerateAliasesInDomainArgs,
    SamrEnumerateDomainsInSamServerArgs, SamrEnumerateGroupsInDomainArgs,
    SamrEnumerateUsersInDomainArgs, SamrLookupDomainInSamServerArgs, SamrOpenDomainArgs,
};
use super::{SAMPR_ENUMERATION_BUFFER, SAMPR_REVISION_INFO, SAMPR_REVISION_INFO_V1};
use crate::status::nt;
use crate::paging::{Page, Paged};
use crate::{Error, NtStatus, Result, Sid, string_of, unicode_string};

/// `MAXIMUM_ALLOWED` ([MS-DTYP] 2.4.3): the access the caller's rights allow.
pub const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
/// The most enumeration calls one listing makes before giving up (a server that keeps
/// answering `STATUS_MORE_ENTRIES` with no entries would otherwise loop for ever).
pub const MAX_ENUMERATION_PAGES: usize = 65_536;
/// `PreferedMaximumLength` of each enumeration call, in bytes (a hint to the server).
pub const PAGE_BYTES: u32 = 0x1_0000;

/// A samr context handle that is closed (`SamrCloseHandle`) when dropped, if a tokio runtime is
/// running then; [`SamHandle::close`] closes it and reports the status.
#[derive(Debug)]
pub struct SamHandle {
    ctx: Option<ClientContext<Binding>>,
}

impl SamHandle {
    fn new(ctx: ClientContext<Binding>) -> Self {
        SamHandle { ctx: Some(ctx) }
    }

    /// The raw handle, for the generated calls.
    pub fn context(&self) -> &ClientContext<Binding> {
        self.ctx
            .as_ref()
            .expect("a SamHandle holds its context until closed")
    }

    /// Closes the handle now.
    pub async fn close(mut self) -> Result<()> {
        match self.ctx.take() {
            Some(ctx) => close(ctx).await,
            None => Ok(()),
        }
    }
}

async fn close(ctx: ClientContext<Binding>) -> Result<()> {
    let Some(b) = ctx.binding().cloned() else {
        return Ok(());
    };
    if ctx.is_closed() || ctx.is_null() {
        return Ok(());
    }
    let out = Client(&b)
        .samr_close_handle(SamrCloseHandleArgs { SamHandle: ctx })
        .await?;
    nt("SamrCloseHandle", out.return_value).map(|_| ())
}

impl Drop for SamHandle {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take()
            && !ctx.is_closed()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = close(ctx).await;
            });
        }
    }
}

/// One account of an enumeration: its RID and name (`SAMPR_RID_ENUMERATION`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Account {
    /// The relative identifier.
    pub rid: u32,
    /// The account name.
    pub name: String,
}

/// A connection to the SAM server (`SamrConnect5`).
#[derive(Debug)]
pub struct SamServer {
    binding: Binding,
    handle: SamHandle,
}

impl SamServer {
    /// Connects with `MAXIMUM_ALLOWED`, over a binding to `\pipe\samr` or samr's TCP port.
    pub async fn connect(b: &Binding) -> Result<SamServer> {
        let out = Client(b)
            .samr_connect5(SamrConnect5Request {
                ServerName: ndr::Unique::default(),
                DesiredAccess: MAXIMUM_ALLOWED,
                InVersion: 1,
                InRevisionInfo: SAMPR_REVISION_INFO::V1(SAMPR_REVISION_INFO_V1 {
                    Revision: 3,
                    SupportedFeatures: 0,
                }),
            })
            .await?;
        nt("SamrConnect5", out.return_value)?;
        Ok(SamServer {
            binding: b.clone(),
            handle: SamHandle::new(out.ServerHandle),
        })
    }

    /// The names of the server's domains (`SamrEnumerateDomainsInSamServer`): the account
    /// domain and `Builtin`.
    pub async fn domains(&self) -> Result<Vec<String>> {
        let (b, h) = (self.binding.clone(), self.handle.context().clone());
        accounts("SamrEnumerateDomainsInSamServer", move |ctx| {
            let (b, h) = (b.clone(), h.clone());
            async move {
                let r = Client(&b)
                    .samr_enumerate_domains_in_sam_server(SamrEnumerateDomainsInSamServerArgs {
                        ServerHandle: h,
                        EnumerationContext: ctx,
                        PreferedMaximumLength: PAGE_BYTES,
                    })
                    .await?;
                Ok((r.return_value, r.EnumerationContext, r.Buffer.as_ref().cloned()))
            }
        })
        .collect(&mut |_| {})
        .await
        .map(|v| v.into_iter().map(|a| a.name).collect())
    }

    /// A domain's SID (`SamrLookupDomainInSamServer`).
    pub async fn lookup_domain(&self, name: &str) -> Result<Sid> {
        let r = Client(&self.binding)
            .samr_lookup_domain_in_sam_server(SamrLookupDomainInSamServerArgs {
                ServerHandle: self.handle.context().clone(),
                Name: unicode_string(name),
            })
            .await?;
        nt("SamrLookupDomainInSamServer", r.return_value)?;
        r.DomainId.as_ref().map(Sid::from).ok_or(Error::Reply {
            op: "SamrLookupDomainInSamServer",
            what: "no DomainId in a successful reply".into(),
        })
    }

    /// Opens a domain with `MAXIMUM_ALLOWED` (`SamrOpenDomain`).
    pub async fn open_domain(&self, sid: &Sid) -> Result<SamDomain> {
        let r = Client(&self.binding)
            .samr_open_domain(SamrOpenDomainArgs {
                ServerHandle: self.handle.context().clone(),
                DesiredAccess: MAXIMUM_ALLOWED,
                DomainId: sid.into(),
            })
            .await?;
        nt("SamrOpenDomain", r.return_value)?;
        Ok(SamDomain {
            binding: self.binding.clone(),
            sid: sid.clone(),
            handle: SamHandle::new(r.DomainHandle),
        })
    }

    /// The account domain: the first domain that is not `Builtin`, with its SID, opened.
    pub async fn account_domain(&self) -> Result<(String, SamDomain)> {
        let names = self.domains().await?;
        let Some(name) = names.into_iter().find(|n| !n.eq_ignore_ascii_case("Builtin")) else {
            return Err(Error::Nt {
                op: "SamrEnumerateDomainsInSamServer",
                status: NtStatus::STATUS_NO_SUCH_DOMAIN,
            });
        };
        let sid = self.lookup_domain(&name).await?;
        Ok((name.clone(), self.open_domain(&sid).await?))
    }

    /// Closes the server handle now (dropping closes it too).
    pub async fn close(self) -> Result<()> {
        self.handle.close().await
    }
}

/// An open domain (`SamrOpenDomain`).
#[derive(Debug)]
pub struct SamDomain {
    binding: Binding,
    sid: Sid,
    handle: SamHandle,
}

impl SamDomain {
    /// The domain's SID.
    pub fn sid(&self) -> &Sid {
        &self.sid
    }

    /// The domain handle, for the generated calls.
    pub fn handle(&self) -> &SamHandle {
        &self.handle
    }

    /// Every user (`SamrEnumerateUsersInDomain`, all account types); `progress` gets the count
    /// so far after each page.
    pub async fn users(&self, progress: &mut dyn FnMut(usize)) -> Result<Vec<Account>> {
        self.enumerate_users().collect(progress).await
    }

    /// The users, fetched a page at a time as they are read (`SamrEnumerateUsersInDomain`).
    pub fn enumerate_users(&self) -> Paged<'_, u32, Account> {
        let (b, h) = (self.binding.clone(), self.handle.context().clone());
        accounts("SamrEnumerateUsersInDomain", move |ctx| {
            let (b, h) = (b.clone(), h.clone());
            async move {
                let r = Client(&b)
                    .samr_enumerate_users_in_domain(SamrEnumerateUsersInDomainArgs {
                        DomainHandle: h,
                        EnumerationContext: ctx,
                        UserAccountControl: 0,
                        PreferedMaximumLength: PAGE_BYTES,
                    })
                    .await?;
                Ok((r.return_value, r.EnumerationContext, r.Buffer.as_ref().cloned()))
            }
        })
    }

    /// Every domain group (`SamrEnumerateGroupsInDomain`).
    pub async fn groups(&self, progress: &mut dyn FnMut(usize)) -> Result<Vec<Account>> {
        self.enumerate_groups().collect(progress).await
    }

    /// The domain groups, a page at a time (`SamrEnumerateGroupsInDomain`).
    pub fn enumerate_groups(&self) -> Paged<'_, u32, Account> {
        let (b, h) = (self.binding.clone(), self.handle.context().clone());
        accounts("SamrEnumerateGroupsInDomain", move |ctx| {
            let (b, h) = (b.clone(), h.clone());
            async move {
                let r = Client(&b)
                    .samr_enumerate_groups_in_domain(SamrEnumerateGroupsInDomainArgs {
                        DomainHandle: h,
                        EnumerationContext: ctx,
                        PreferedMaximumLength: PAGE_BYTES,
                    })
                    .await?;
                Ok((r.return_value, r.EnumerationContext, r.Buffer.as_ref().cloned()))
            }
        })
    }

    /// Every alias (local group; `SamrEnumerateAliasesInDomain`).
    pub async fn aliases(&self, progress: &mut dyn FnMut(usize)) -> Result<Vec<Account>> {
        self.enumerate_aliases().collect(progress).await
    }

    /// The aliases, a page at a time (`SamrEnumerateAliasesInDomain`).
    pub fn enumerate_aliases(&self) -> Paged<'_, u32, Account> {
        let (b, h) = (self.binding.clone(), self.handle.context().clone());
        accounts("SamrEnumerateAliasesInDomain", move |ctx| {
            let (b, h) = (b.clone(), h.clone());
            async move {
                let r = Client(&b)
                    .samr_enumerate_aliases_in_domain(SamrEnumerateAliasesInDomainArgs {
                        DomainHandle: h,
                        EnumerationContext: ctx,
                        PreferedMaximumLength: PAGE_BYTES,
                    })
                    .await?;
                Ok((r.return_value, r.EnumerationContext, r.Buffer.as_ref().cloned()))
            }
        })
    }

    /// Closes the domain handle now (dropping closes it too).
    pub async fn close(self) -> Result<()> {
        self.handle.close().await
    }
}

/// An enumeration that follows the enumeration context while the server answers
/// `STATUS_MORE_ENTRIES` with entries (a page with none ends it: such a server would otherwise
/// be asked for ever), at most [`MAX_ENUMERATION_PAGES`] calls.
fn accounts<'a, F, Fut>(op: &'static str, mut call: F) -> Paged<'a, u32, Account>
where
    F: FnMut(u32) -> Fut + Send + 'a,
    Fut: Future<Output = Result<(i32, u32, Option<SAMPR_ENUMERATION_BUFFER>)>> + Send + 'a,
{
    Paged::new(op, 0u32, move |ctx| {
        let reply = call(ctx);
        async move {
            let (ret, next, buf) = reply.await?;
            let status = nt(op, ret)?;
            let items: Vec<Account> = buf
                .as_ref()
                .and_then(|b| b.Buffer.as_ref())
                .map(|items| {
                    items
                        .0
                        .iter()
                        .map(|e| Account {
                            rid: e.RelativeId,
                            name: string_of(&e.Name),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let more = status == NtStatus::STATUS_MORE_ENTRIES && !items.is_empty();
            Ok(Page {
                items,
                next: more.then_some(next),
            })
        }
    })
    .max_pages(MAX_ENUMERATION_PAGES)
}
