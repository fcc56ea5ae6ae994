//! The thin layer over atsvc: [`jobs`] lists the AT jobs (NetrJobEnum, [MS-TSCH] 3.2.5.2.3,
//! following the resume handle).
//!
//! **`AT_ENUM.Command` as servers send it.** MS-TSCH's published IDL (2.3.6 and Appendix A.1)
//! declares `wchar_t* Command;` without `[string]`, which makes the generated
//! [`AT_ENUM`](super::AT_ENUM) carry a pointer to *one* UTF-16 unit; the same section says its
//! fields are "interpreted according to ... AT_INFO", whose `Command` is `[string]`, and Samba
//! (and the Windows servers its IDL was written against) send a string. The IDL is kept as
//! published, so the raw `atsvc::Client::netr_job_enum` only decodes replies whose commands are
//! null; this layer decodes the reply with [`AtEnum`], an `AT_ENUM` whose `Command` is the string
//! of an [`AT_INFO`] (the differential test against Samba checks it byte for byte).

use msrpc::codegen::ndr::{self, Stub as _};
use msrpc::codegen::{self as rt, ClientCall};
use msrpc::{Binding, Win32Status};

use super::AT_INFO;
use super::atsvc::{INTERFACE, NetrJobEnumRequest};
use crate::paging::{Page, Paged};
use crate::{Error, Result};

/// `ERROR_MORE_DATA`: NetrJobEnum has more jobs for the resume handle.
const ERROR_MORE_DATA: u32 = 234;
/// NetrJobEnum's opnum.
const NETR_JOB_ENUM: u16 = 2;
/// The most NetrJobEnum calls one [`jobs`] makes (each brings at least one new job).
pub const MAX_JOB_PAGES: usize = 4096;

/// `AT_ENUM` as it is on the wire: `JobId`, then the fields of [`AT_INFO`] (whose `Command` is
/// `[string]`). Wire-identical to the flat structure in NDR20 and NDR64: an embedded structure
/// aligns to its largest member, as the flat structure's next member would.
#[derive(Debug, Clone, PartialEq)]
pub struct AtEnum {
    /// `JobId`.
    pub job_id: u32,
    /// `JobTime`, `DaysOfMonth`, `DaysOfWeek`, `Flags`, `Command`.
    pub info: AT_INFO,
}

impl ndr::NdrType for AtEnum {
    fn align(s: ndr::Syntax) -> usize {
        <u32 as ndr::NdrType>::align(s).max(<AT_INFO as ndr::NdrType>::align(s))
    }
    fn min_size(s: ndr::Syntax) -> usize {
        4 + <AT_INFO as ndr::NdrType>::min_size(s)
    }
}

impl ndr::NdrEncode for AtEnum {
    fn encode_head(&self, e: &mut ndr::Encoder) -> ndr::Result<()> {
        let a = <Self as ndr::NdrType>::align(e.syntax());
        e.align(a);
        self.job_id.encode_head(e)?;
        self.info.encode_head(e)?;
        e.align_ndr64(a);
        Ok(())
    }
    fn encode_deferred(&self, e: &mut ndr::Encoder) -> ndr::Result<()> {
        self.info.encode_deferred(e)
    }
}

impl ndr::NdrDecode for AtEnum {
    type Head = (u32, <AT_INFO as ndr::NdrDecode>::Head);
    fn decode_head(d: &mut ndr::Decoder<'_>) -> ndr::Result<Self::Head> {
        d.enter("AT_ENUM")?;
        let a = <Self as ndr::NdrType>::align(d.syntax());
        d.align(a)?;
        let id = d.field("JobId", |d| u32::decode_head(d))?;
        let info = AT_INFO::decode_head(d)?;
        d.align_ndr64(a)?;
        d.leave();
        Ok((id, info))
    }
    fn decode_deferred((job_id, info): Self::Head, d: &mut ndr::Decoder<'_>) -> ndr::Result<Self> {
        d.enter("AT_ENUM")?;
        let info = AT_INFO::decode_deferred(info, d)?;
        d.leave();
        Ok(AtEnum { job_id, info })
    }
}

/// NetrJobEnum's reply with [`AtEnum`] entries: `pEnumContainer` (`EntriesRead` and the
/// entries), `pTotalEntries`, `pResumeHandle` and the return value.
#[derive(Debug, Clone, PartialEq)]
pub struct NetrJobEnumReply {
    /// `pEnumContainer->EntriesRead`.
    pub entries_read: u32,
    /// `pEnumContainer->Buffer`.
    pub entries: ndr::Unique<ndr::ConformantArray<AtEnum>>,
    /// `pTotalEntries`.
    pub total_entries: u32,
    /// `pResumeHandle`.
    pub resume_handle: ndr::Unique<u32>,
    /// The return value (a Win32 status).
    pub return_value: u32,
}

/// `AT_ENUM_CONTAINER` with [`AtEnum`] entries.
#[derive(Debug, Clone, PartialEq)]
struct Container {
    entries_read: u32,
    entries: ndr::Unique<ndr::ConformantArray<AtEnum>>,
}

type Entries = ndr::Unique<ndr::ConformantArray<AtEnum>>;

impl ndr::NdrType for Container {
    fn align(s: ndr::Syntax) -> usize {
        <u32 as ndr::NdrType>::align(s).max(<Entries as ndr::NdrType>::align(s))
    }
}

impl ndr::NdrEncode for Container {
    fn encode_head(&self, e: &mut ndr::Encoder) -> ndr::Result<()> {
        let a = <Self as ndr::NdrType>::align(e.syntax());
        e.align(a);
        self.entries_read.encode_head(e)?;
        self.entries.encode_head(e)?;
        e.align_ndr64(a);
        Ok(())
    }
    fn encode_deferred(&self, e: &mut ndr::Encoder) -> ndr::Result<()> {
        self.entries.encode_deferred(e)
    }
}

impl ndr::NdrDecode for Container {
    type Head = (u32, <Entries as ndr::NdrDecode>::Head);
    fn decode_head(d: &mut ndr::Decoder<'_>) -> ndr::Result<Self::Head> {
        d.enter("AT_ENUM_CONTAINER")?;
        let a = <Self as ndr::NdrType>::align(d.syntax());
        d.align(a)?;
        let n = d.field("EntriesRead", |d| u32::decode_head(d))?;
        let b = d.field("Buffer", |d| Entries::decode_head(d))?;
        d.align_ndr64(a)?;
        d.leave();
        Ok((n, b))
    }
    fn decode_deferred((n, b): Self::Head, d: &mut ndr::Decoder<'_>) -> ndr::Result<Self> {
        d.enter("AT_ENUM_CONTAINER")?;
        let entries = d.field("Buffer", |d| Entries::decode_deferred(b, d))?;
        if let Some(a) = entries.as_ref() {
            d.check_size(a.0.len() as u64, u64::from(n))?; // [size_is(EntriesRead)]
        }
        d.leave();
        Ok(Container {
            entries_read: n,
            entries,
        })
    }
}

impl ndr::Stub for NetrJobEnumReply {
    const OPNUM: u16 = NETR_JOB_ENUM;
    fn encode_into(&self, e: &mut ndr::Encoder) -> ndr::Result<()> {
        e.encode_param(&Container {
            entries_read: self.entries_read,
            entries: self.entries.clone(),
        })?;
        e.encode_param(&self.total_entries)?;
        e.encode_param(&self.resume_handle)?;
        e.encode_param(&self.return_value)
    }
    fn decode_from(d: &mut ndr::Decoder<'_>) -> ndr::Result<Self> {
        let c: Container = d.field("pEnumContainer", |d| d.decode_param())?;
        Ok(NetrJobEnumReply {
            entries_read: c.entries_read,
            entries: c.entries,
            total_entries: d.field("pTotalEntries", |d| d.decode_param())?,
            resume_handle: d.field("pResumeHandle", |d| d.decode_param())?,
            return_value: d.field("return_value", |d| d.decode_param())?,
        })
    }
}

/// One AT job.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Job {
    /// `JobId`.
    pub id: u32,
    /// `JobTime`: milliseconds after midnight.
    pub time_ms: u64,
    /// `DaysOfMonth`: bit n set for day n + 1.
    pub days_of_month: u32,
    /// `DaysOfWeek`: bit 0 Monday ... bit 6 Sunday.
    pub days_of_week: u8,
    /// `Flags`: `JOB_RUN_PERIODICALLY` 0x01, `JOB_EXEC_ERROR` 0x02, `JOB_RUNS_TODAY` 0x04,
    /// `JOB_ADD_CURRENT_DATE` 0x08, `JOB_NONINTERACTIVE` 0x10.
    pub flags: u8,
    /// `Command` (empty when null).
    pub command: String,
}

/// Every AT job of the server over `b` (`\pipe\atsvc`), following the resume handle while the
/// server answers `ERROR_MORE_DATA`.
pub async fn jobs(b: &Binding) -> Result<Vec<Job>> {
    enumerate_jobs(b).collect(&mut |_| {}).await
}

/// The AT jobs, a page (one NetrJobEnum call) at a time, at most [`MAX_JOB_PAGES`] calls.
pub fn enumerate_jobs(b: &Binding) -> Paged<'_, u32, Job> {
    let b = b.clone();
    Paged::new("NetrJobEnum", 0u32, move |resume| {
        let b = b.clone();
        async move { job_page(&b, resume).await }
    })
    .max_pages(MAX_JOB_PAGES)
}

async fn job_page(b: &Binding, resume: u32) -> Result<Page<u32, Job>> {
    let req = NetrJobEnumRequest {
        ServerName: ndr::Unique::default(),
        pEnumContainer: super::AT_ENUM_CONTAINER {
            EntriesRead: 0,
            Buffer: ndr::Unique::default(),
        },
        PreferedMaximumLength: u32::MAX,
        pResumeHandle: ndr::Unique::new(resume),
    };
    let reply = ClientCall::call(&b, &INTERFACE, NETR_JOB_ENUM, move |syntax, rep| {
        req.encode(syntax, rep)
    })
    .await?;
    let r: NetrJobEnumReply = rt::decode_reply(&reply).map_err(msrpc::Error::from)?;
    if r.return_value != 0 && r.return_value != ERROR_MORE_DATA {
        return Err(Error::Win32 {
            op: "NetrJobEnum",
            status: Win32Status(r.return_value),
        });
    }
    let got = r.entries.into_inner().map(|a| a.0).unwrap_or_default();
    let items: Vec<Job> = got
        .into_iter()
        .map(|e| Job {
            id: e.job_id,
            time_ms: e.info.JobTime.0,
            days_of_month: e.info.DaysOfMonth,
            days_of_week: e.info.DaysOfWeek,
            flags: e.info.Flags,
            command: e
                .info
                .Command
                .as_ref()
                .map(|c| c.to_string_lossy())
                .unwrap_or_default(),
        })
        .collect();
    // More only while the server says so, sends jobs and a new resume handle to go on from.
    let more = r.return_value == ERROR_MORE_DATA && !items.is_empty();
    let next = r.resume_handle.as_ref().copied().filter(|n| more && *n != resume);
    Ok(Page { items, next })
}
