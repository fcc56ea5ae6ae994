//! The thin layer over lsarpc: [`Policy`] (a policy handle that closes on drop), the account
//! domain, and SID-to-name translation ([MS-LSAT] 3.1.4.11, LsarLookupSids).

use msrpc::codegen::ndr;
use msrpc::{Binding, ClientContext};

use super::lsarpc::{Client, LsarCloseArgs, LsarLookupSidsArgs, LsarOpenPolicy2Request};
use super::{
    LSAP_LOOKUP_LEVEL, LSAPR_OBJECT_ATTRIBUTES, LSAPR_SID_ENUM_BUFFER, LSAPR_SID_INFORMATION,
    LSAPR_TRANSLATED_NAMES, SID_NAME_USE,
};
use crate::lsad::lsarpc::{Client as LsadClient, LsarQueryInformationPolicyArgs};
use crate::lsad::{LSAPR_POLICY_INFORMATION, POLICY_INFORMATION_CLASS};
use crate::status::nt;
use crate::{Error, NtStatus, Result, Sid, string_of};

/// `POLICY_VIEW_LOCAL_INFORMATION | POLICY_LOOKUP_NAMES` ([MS-LSAD] 2.2.1.1.2).
pub const POLICY_READ_AND_LOOKUP: u32 = 0x0000_0001 | 0x0000_0800;
/// The most SIDs one LsarLookupSids call may carry ([MS-LSAT] 2.2.17: `[range(0, 20480)]`).
pub const MAX_SIDS_PER_LOOKUP: usize = 20_480;

/// An open policy object (`LsarOpenPolicy2`); `LsarClose` when dropped inside a tokio runtime,
/// or now with [`Policy::close`].
#[derive(Debug)]
pub struct Policy {
    binding: Binding,
    ctx: Option<ClientContext<Binding>>,
}

/// One translated SID.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Translated {
    /// The SID asked about.
    pub sid: Sid,
    /// The account name; empty when the SID did not map.
    pub name: String,
    /// The name of its domain, when the server gave one.
    pub domain: String,
    /// `SID_NAME_USE`: 1 user, 2 group, 3 domain, 4 alias, 5 well-known group, 6 deleted
    /// account, 7 invalid, 8 unknown, 9 computer, 10 label.
    pub kind: u32,
}

impl Translated {
    /// `SidTypeUser` and the rest, as [MS-LSAT] 2.2.13 names them.
    pub fn kind_name(&self) -> &'static str {
        match SID_NAME_USE(self.kind) {
            SID_NAME_USE::SidTypeUser => "SidTypeUser",
            SID_NAME_USE::SidTypeGroup => "SidTypeGroup",
            SID_NAME_USE::SidTypeDomain => "SidTypeDomain",
            SID_NAME_USE::SidTypeAlias => "SidTypeAlias",
            SID_NAME_USE::SidTypeWellKnownGroup => "SidTypeWellKnownGroup",
            SID_NAME_USE::SidTypeDeletedAccount => "SidTypeDeletedAccount",
            SID_NAME_USE::SidTypeInvalid => "SidTypeInvalid",
            SID_NAME_USE::SidTypeUnknown => "SidTypeUnknown",
            SID_NAME_USE::SidTypeComputer => "SidTypeComputer",
            SID_NAME_USE::SidTypeLabel => "SidTypeLabel",
            _ => "SidType?",
        }
    }
}

impl Policy {
    /// Opens the policy object with `access` over a binding to `\pipe\lsarpc` or lsarpc's port.
    pub async fn open(b: &Binding, access: u32) -> Result<Policy> {
        let out = Client(b)
            .lsar_open_policy2(LsarOpenPolicy2Request {
                SystemName: ndr::Unique::default(),
                ObjectAttributes: LSAPR_OBJECT_ATTRIBUTES {
                    Length: 0,
                    RootDirectory: ndr::Unique::default(),
                    ObjectName: ndr::Unique::default(),
                    Attributes: 0,
                    SecurityDescriptor: ndr::Unique::default(),
                    SecurityQualityOfService: ndr::Unique::default(),
                },
                DesiredAccess: access,
            })
            .await?;
        nt("LsarOpenPolicy2", out.return_value)?;
        Ok(Policy {
            binding: b.clone(),
            ctx: Some(out.PolicyHandle),
        })
    }

    fn handle(&self) -> ClientContext<Binding> {
        self.ctx
            .clone()
            .expect("a Policy holds its handle until closed")
    }

    /// The account domain's name and SID (`LsarQueryInformationPolicy`,
    /// `PolicyAccountDomainInformation`).
    pub async fn account_domain(&self) -> Result<(String, Sid)> {
        let r = LsadClient(&self.binding)
            .lsar_query_information_policy(LsarQueryInformationPolicyArgs {
                PolicyHandle: self.handle(),
                InformationClass: POLICY_INFORMATION_CLASS::PolicyAccountDomainInformation,
            })
            .await?;
        nt("LsarQueryInformationPolicy", r.return_value)?;
        let bad = |what: &str| Error::Reply {
            op: "LsarQueryInformationPolicy",
            what: what.into(),
        };
        match r.PolicyInformation.as_ref() {
            Some(LSAPR_POLICY_INFORMATION::PolicyAccountDomainInfo(i)) => Ok((
                string_of(&i.DomainName),
                i.DomainSid
                    .as_ref()
                    .map(Sid::from)
                    .ok_or_else(|| bad("no DomainSid"))?,
            )),
            _ => Err(bad("not PolicyAccountDomainInformation")),
        }
    }

    /// Translates SIDs to names (`LsarLookupSids` at `LsapLookupWksta`), one [`Translated`] per
    /// SID in order. A SID that does not map comes back as `SidTypeUnknown` (8), with whatever
    /// name the server gives (Samba: the SID's text); when none maps (`STATUS_NONE_MAPPED`) the
    /// result is empty.
    pub async fn lookup_sids(&self, sids: &[Sid]) -> Result<Vec<Translated>> {
        if sids.len() > MAX_SIDS_PER_LOOKUP {
            return Err(Error::Reply {
                op: "LsarLookupSids",
                what: format!("{} SIDs, more than {MAX_SIDS_PER_LOOKUP} in one call", sids.len()),
            });
        }
        let r = Client(&self.binding)
            .lsar_lookup_sids(LsarLookupSidsArgs {
                PolicyHandle: self.handle(),
                SidEnumBuffer: LSAPR_SID_ENUM_BUFFER {
                    Entries: sids.len() as u32,
                    SidInfo: ndr::Unique::new(ndr::ConformantArray(
                        sids.iter()
                            .map(|s| LSAPR_SID_INFORMATION {
                                Sid: ndr::Unique::new(s.into()),
                            })
                            .collect(),
                    )),
                },
                TranslatedNames: LSAPR_TRANSLATED_NAMES {
                    Entries: 0,
                    Names: ndr::Unique::default(),
                },
                LookupLevel: LSAP_LOOKUP_LEVEL::LsapLookupWksta,
                MappedCount: 0,
            })
            .await?;
        if NtStatus::from_return(r.return_value) == NtStatus::STATUS_NONE_MAPPED {
            return Ok(Vec::new());
        }
        nt("LsarLookupSids", r.return_value)?;
        let domains: Vec<String> = r
            .ReferencedDomains
            .as_ref()
            .and_then(|d| d.Domains.as_ref())
            .map(|d| d.0.iter().map(|t| string_of(&t.Name)).collect())
            .unwrap_or_default();
        let names = r.TranslatedNames.Names.as_ref().map(|n| &n.0[..]).unwrap_or(&[]);
        if names.len() != sids.len() {
            return Err(Error::Reply {
                op: "LsarLookupSids",
                what: format!("{} names for {} SIDs", names.len(), sids.len()),
            });
        }
        Ok(sids
            .iter()
            .zip(names)
            .map(|(sid, n)| Translated {
                sid: sid.clone(),
                name: string_of(&n.Name),
                domain: usize::try_from(n.DomainIndex)
                    .ok()
                    .and_then(|i| domains.get(i).cloned())
                    .unwrap_or_default(),
                kind: n.Use.0,
            })
            .collect())
    }

    /// Closes the handle now.
    pub async fn close(mut self) -> Result<()> {
        match self.ctx.take() {
            Some(ctx) => close(&self.binding, ctx).await,
            None => Ok(()),
        }
    }
}

async fn close(b: &Binding, ctx: ClientContext<Binding>) -> Result<()> {
    if ctx.is_closed() || ctx.is_null() {
        return Ok(());
    }
    let out = Client(b)
        .lsar_close(LsarCloseArgs { ObjectHandle: ctx })
        .await?;
    nt("LsarClose", out.return_value).map(|_| ())
}

impl Drop for Policy {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take()
            && !ctx.is_closed()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let b = self.binding.clone();
            rt.spawn(async move {
                let _ = close(&b, ctx).await;
            });
        }
    }
}
