//! The thin layer over ITaskSchedulerService: [`tasks`] lists a folder's tasks
//! (SchRpcEnumTasks, [MS-TSCH] 3.2.5.4.8, following `startIndex` while the server answers
//! `S_FALSE`) and [`task_info`] reads a task's enabled flag and state (SchRpcGetTaskInfo,
//! 3.2.5.4.18).

use msrpc::codegen::ndr;
use msrpc::{Binding, Win32Status};

use super::i_task_scheduler_service::{Client, SchRpcEnumTasksRequest, SchRpcGetTaskInfoRequest};
use crate::paging::{Page, Paged};
use crate::{Error, Result};

/// `TASK_ENUM_HIDDEN`: also list hidden tasks.
pub const TASK_ENUM_HIDDEN: u32 = 0x0000_0001;
/// `SCH_FLAG_STATE`: SchRpcGetTaskInfo fills in `pState`.
pub const SCH_FLAG_STATE: u32 = 0x1000_0000;
/// `S_FALSE`: more to enumerate.
const S_FALSE: i32 = 1;
/// Names asked per SchRpcEnumTasks call.
pub const TASK_BATCH: u32 = 100;
/// The most SchRpcEnumTasks calls one [`tasks`] makes (each brings at least one new name).
pub const MAX_TASK_PAGES: usize = 4096;

/// An HRESULT failure as an [`Error`]: a Win32 one (`HRESULT_FROM_WIN32`, 0x8007xxxx) by its
/// Win32 status, any other by its value.
fn hresult(op: &'static str, hr: i32) -> Error {
    let v = hr as u32;
    if v & 0xFFFF_0000 == 0x8007_0000 {
        Error::Win32 {
            op,
            status: Win32Status(v & 0xFFFF),
        }
    } else {
        Error::Reply {
            op,
            what: format!("HRESULT 0x{v:08X}"),
        }
    }
}

/// The names of the tasks in `folder` (`\` for the root, `\Microsoft\Windows` ...), over a
/// binding to ITaskSchedulerService (`\pipe\atsvc`, or its TCP port), with `flags`
/// ([`TASK_ENUM_HIDDEN`] or 0).
pub async fn tasks(b: &Binding, folder: &str, flags: u32) -> Result<Vec<String>> {
    enumerate_tasks(b, folder, flags).collect(&mut |_| {}).await
}

/// The task names, [`TASK_BATCH`] per SchRpcEnumTasks call, following `startIndex` while the
/// server answers `S_FALSE`, at most [`MAX_TASK_PAGES`] calls.
pub fn enumerate_tasks<'a>(b: &'a Binding, folder: &str, flags: u32) -> Paged<'a, u32, String> {
    let (b, folder) = (b.clone(), folder.to_owned());
    Paged::new("SchRpcEnumTasks", 0u32, move |start| {
        let (b, folder) = (b.clone(), folder.clone());
        async move { task_page(&b, &folder, flags, start).await }
    })
    .max_pages(MAX_TASK_PAGES)
}

async fn task_page(b: &Binding, folder: &str, flags: u32, start: u32) -> Result<Page<u32, String>> {
    let r = Client(b)
        .sch_rpc_enum_tasks(SchRpcEnumTasksRequest {
            path: folder.into(),
            flags,
            startIndex: start,
            cRequested: TASK_BATCH,
        })
        .await?;
    if r.return_value != 0 && r.return_value != S_FALSE {
        return Err(hresult("SchRpcEnumTasks", r.return_value));
    }
    let names: Vec<ndr::Unique<ndr::WideString>> =
        r.pNames.into_inner().map(|a| a.0).unwrap_or_default();
    if names.len() as u64 != u64::from(r.pcNames) {
        return Err(Error::Reply {
            op: "SchRpcEnumTasks",
            what: format!("{} names for pcNames {}", names.len(), r.pcNames),
        });
    }
    let items: Vec<String> = names
        .into_iter()
        .map(|n| n.as_ref().map(|s| s.to_string_lossy()).unwrap_or_default())
        .collect();
    // More while the server says so, brings names and moves `startIndex` forward.
    let more = r.return_value == S_FALSE && !items.is_empty() && r.startIndex > start;
    Ok(Page {
        items,
        next: more.then_some(r.startIndex),
    })
}

/// A task's `pEnabled` and `pState` (`TASK_STATE`: 0 unknown, 1 disabled, 2 queued, 3 ready,
/// 4 running).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// `pEnabled` is non-zero.
    pub enabled: bool,
    /// `pState`.
    pub state: u32,
}

/// The task at `path` (`\Folder\Name`): enabled, and its state.
pub async fn task_info(b: &Binding, path: &str) -> Result<TaskInfo> {
    let r = Client(b)
        .sch_rpc_get_task_info(SchRpcGetTaskInfoRequest {
            path: path.into(),
            flags: SCH_FLAG_STATE,
        })
        .await?;
    if r.return_value != 0 {
        return Err(hresult("SchRpcGetTaskInfo", r.return_value));
    }
    Ok(TaskInfo {
        enabled: r.pEnabled != 0,
        state: r.pState,
    })
}
