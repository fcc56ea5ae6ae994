//! The thin layer over lsarpc: [`Policy`] (a policy handle that closes on drop), the account
//! domain, and SID-to-name translation ([MS-LSAT] 3.1.4.11, LsarLookupSids); and the
//! handle-less LsarLookupSids3 / LsarLookupNames4 ([`lookup_sids3`], [`lookup_names4`]), which a
//! DC serves over TCP only under Schannel (a binding from netlogon's
//! `SecureChannel::binding`).

use msrpc::codegen::ndr;
use msrpc::{Binding, ClientContext};

use super::lsarpc::{
    Client, LsarCloseArgs, LsarLookupNames4Request, LsarLookupSids3Request, LsarLookupSidsArgs,
    LsarOpenPolicy2Request,
};
use super::{
    LSAP_LOOKUP_LEVEL, LSAPR_OBJECT_ATTRIBUTES, LSAPR_REFERENCED_DOMAIN_LIST,
    LSAPR_SID_ENUM_BUFFER, LSAPR_SID_INFORMATION, LSAPR_TRANSLATED_NAMES,
    LSAPR_TRANSLATED_NAMES_EX, LSAPR_TRANSLATED_SIDS_EX2, SID_NAME_USE,
};
use crate::lsad::lsarpc::{Client as LsadClient, LsarQueryInformationPolicyArgs};
use crate::lsad::{LSAPR_POLICY_INFORMATION, POLICY_INFORMATION_CLASS};
use crate::status::nt;
use crate::{Error, NtStatus, Result, Sid, string_of, unicode_string};

/// `POLICY_VIEW_LOCAL_INFORMATION | POLICY_LOOKUP_NAMES` ([MS-LSAD] 2.2.1.1.2).
pub const POLICY_READ_AND_LOOKUP: u32 = 0x0000_0001 | 0x0000_0800;
/// The most SIDs one LsarLookupSids call may carry ([MS-LSAT] 2.2.17: `[range(0, 20480)]`).
pub const MAX_SIDS_PER_LOOKUP: usize = 20_480;
/// The most names one LsarLookupNames4 call may carry ([MS-LSAT] 3.1.4.4: `[range(0,1000)]`).
pub const MAX_NAMES_PER_LOOKUP: usize = 1000;
/// `ClientRevision` of LsarLookupSids3 / LsarLookupNames4: `LSA_CLIENT_REVISION_2`
/// ([MS-LSAT] 3.1.4.9).
const LSA_CLIENT_REVISION_2: u32 = 2;

/// An open policy object (`LsarOpenPolicy2`); `LsarClose` when dropped inside a tokio runtime,
/// or now with [`Policy::close`].
#[derive(Debug)]
pub struct Policy {
    binding: Binding,
    ctx: Option<ClientContext<Binding>>,
}

/// One translated name (LsarLookupNames4).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TranslatedName {
    /// The name asked about.
    pub name: String,
    /// Its SID; `None` when the name did not map.
    pub sid: Option<Sid>,
    /// The name of its domain, when the server gave one.
    pub domain: String,
    /// `SID_NAME_USE`, as in [`Translated::kind`].
    pub kind: u32,
}

fn domain_names(d: Option<&LSAPR_REFERENCED_DOMAIN_LIST>) -> Vec<String> {
    d.and_then(|d| d.Domains.as_ref())
        .map(|d| d.0.iter().map(|t| string_of(&t.Name)).collect())
        .unwrap_or_default()
}

fn domain_at(domains: &[String], index: i32) -> String {
    usize::try_from(index)
        .ok()
        .and_then(|i| domains.get(i).cloned())
        .unwrap_or_default()
}

/// Translates SIDs to names without a policy handle (`LsarLookupSids3`, [MS-LSAT] 3.1.4.9, at
/// `LsapLookupWksta`), over `b`: lsarpc's TCP endpoint with Schannel at privacy (a DC refuses
/// it otherwise), or `\pipe\lsarpc`. One [`Translated`] per SID in order; empty when none
/// maps (`STATUS_NONE_MAPPED`).
pub async fn lookup_sids3(b: &Binding, sids: &[Sid]) -> Result<Vec<Translated>> {
    const OP: &str = "LsarLookupSids3";
    if sids.len() > MAX_SIDS_PER_LOOKUP {
        return Err(Error::Reply {
            op: OP,
            what: format!("{} SIDs, more than {MAX_SIDS_PER_LOOKUP} in one call", sids.len()),
        });
    }
    let r = Client(b)
        .lsar_lookup_sids3(LsarLookupSids3Request {
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
            TranslatedNames: LSAPR_TRANSLATED_NAMES_EX {
                Entries: 0,
                Names: ndr::Unique::default(),
            },
            LookupLevel: LSAP_LOOKUP_LEVEL::LsapLookupWksta,
            MappedCount: 0,
            LookupOptions: 0,
            ClientRevision: LSA_CLIENT_REVISION_2,
        })
        .await?;
    if NtStatus::from_return(r.return_value) == NtStatus::STATUS_NONE_MAPPED {
        return Ok(Vec::new());
    }
    nt(OP, r.return_value)?;
    let domains = domain_names(r.ReferencedDomains.as_ref());
    let names = r.TranslatedNames.Names.as_ref().map(|n| &n.0[..]).unwrap_or(&[]);
    if names.len() != sids.len() {
        return Err(Error::Reply {
            op: OP,
            what: format!("{} names for {} SIDs", names.len(), sids.len()),
        });
    }
    Ok(sids
        .iter()
        .zip(names)
        .map(|(sid, n)| Translated {
            sid: sid.clone(),
            name: string_of(&n.Name),
            domain: domain_at(&domains, n.DomainIndex),
            kind: n.Use.0,
        })
        .collect())
}

/// Translates names (`user`, `DOMAIN\\user`) to SIDs without a policy handle
/// (`LsarLookupNames4`, [MS-LSAT] 3.1.4.4, at `LsapLookupWksta`), over `b` as for
/// [`lookup_sids3`]. One [`TranslatedName`] per name in order; empty when none maps.
pub async fn lookup_names4(b: &Binding, names: &[&str]) -> Result<Vec<TranslatedName>> {
    const OP: &str = "LsarLookupNames4";
    if names.len() > MAX_NAMES_PER_LOOKUP {
        return Err(Error::Reply {
            op: OP,
            what: format!("{} names, more than {MAX_NAMES_PER_LOOKUP} in one call", names.len()),
        });
    }
    let r = Client(b)
        .lsar_lookup_names4(LsarLookupNames4Request {
            Count: names.len() as u32,
            Names: ndr::ConformantArray(names.iter().map(|n| unicode_string(n)).collect()),
            TranslatedSids: LSAPR_TRANSLATED_SIDS_EX2 {
                Entries: 0,
                Sids: ndr::Unique::default(),
            },
            LookupLevel: LSAP_LOOKUP_LEVEL::LsapLookupWksta,
            MappedCount: 0,
            LookupOptions: 0,
            ClientRevision: LSA_CLIENT_REVISION_2,
        })
        .await?;
    if NtStatus::from_return(r.return_value) == NtStatus::STATUS_NONE_MAPPED {
        return Ok(Vec::new());
    }
    nt(OP, r.return_value)?;
    let domains = domain_names(r.ReferencedDomains.as_ref());
    let sids = r.TranslatedSids.Sids.as_ref().map(|n| &n.0[..]).unwrap_or(&[]);
    if sids.len() != names.len() {
        return Err(Error::Reply {
            op: OP,
            what: format!("{} SIDs for {} names", sids.len(), names.len()),
        });
    }
    Ok(names
        .iter()
        .zip(sids)
        .map(|(name, s)| TranslatedName {
            name: (*name).to_owned(),
            sid: s.Sid.as_ref().map(Sid::from),
            domain: domain_at(&domains, s.DomainIndex),
            kind: s.Use.0,
        })
        .collect())
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
