//! The tsch thin layers (`atsvc::jobs`, `schrpc::tasks`, `schrpc::task_info`) against managers
//! of the generated `Server` traits served by msrpc itself on loopback: the paging (resume
//! handle, `startIndex` with `S_FALSE`), the decoding of NetrJobEnum's reply with the layer's
//! wire-correct `AtEnum`, and errors by status. No peer: Samba implements neither interface
//! (its atsvc NDR is compared in `ndr_samba.rs`).

#![allow(clippy::unwrap_used)]
#![cfg(feature = "tsch")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use msrpc::codegen::ndr::{ConformantArray, UInt3264, Unique, WideString};
use msrpc::{Binding, Win32Status};
use msrpc_windows::Error;

mod at {
    use super::*;
    use msrpc_windows::atsvc::atsvc::*;
    use msrpc_windows::atsvc::*;

    /// Three jobs over two pages; `deny` answers ERROR_ACCESS_DENIED.
    pub(crate) struct Jobs {
        pub(crate) deny: bool,
        pub(crate) resumes: Mutex<Vec<u32>>,
    }

    fn job(id: u32) -> AT_ENUM {
        AT_ENUM {
            JobId: id,
            JobTime: UInt3264(u64::from(id) * 60_000),
            DaysOfMonth: 1 << id,
            DaysOfWeek: 1,
            Flags: 0x10,
            Command: Unique::default(),
        }
    }

    impl Server for Jobs {
        fn netr_job_add(&self, _: NetrJobAddRequest) -> Result<NetrJobAddResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn netr_job_del(&self, _: NetrJobDelRequest) -> Result<NetrJobDelResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn netr_job_get_info(
            &self,
            _: NetrJobGetInfoRequest,
        ) -> Result<NetrJobGetInfoResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn netr_job_enum(
            &self,
            req: NetrJobEnumRequest,
        ) -> Result<NetrJobEnumResponse, Win32Status> {
            let resume = req.pResumeHandle.as_ref().copied().unwrap_or(0);
            self.resumes.lock().unwrap().push(resume);
            let (jobs, next, status) = match (self.deny, resume) {
                (true, _) => (vec![], 0, 5),
                (false, 0) => (vec![job(1), job(2)], 2, 234),
                (false, _) => (vec![job(3)], 3, 0),
            };
            Ok(NetrJobEnumResponse {
                pEnumContainer: AT_ENUM_CONTAINER {
                    EntriesRead: jobs.len() as u32,
                    Buffer: Unique::new(ConformantArray(jobs)),
                },
                pTotalEntries: 3,
                pResumeHandle: Unique::new(next),
                return_value: status,
            })
        }
    }
}

mod sch {
    use super::*;
    use msrpc_windows::schrpc::i_task_scheduler_service::*;

    pub(crate) struct Tasks {
        pub(crate) asked: Mutex<Vec<(String, u32, u32)>>,
    }

    impl Server for Tasks {
        fn sch_rpc_enum_tasks(
            &self,
            req: SchRpcEnumTasksRequest,
        ) -> Result<SchRpcEnumTasksResponse, Win32Status> {
            self.asked.lock().unwrap().push((
                req.path.to_string_lossy(),
                req.startIndex,
                req.cRequested,
            ));
            let (names, next, hr): (&[&str], u32, i32) = match req.startIndex {
                0 => (&["A", "B"], 2, 1), // S_FALSE: more
                _ => (&["C"], 3, 0),
            };
            Ok(SchRpcEnumTasksResponse {
                startIndex: next,
                pcNames: names.len() as u32,
                pNames: Unique::new(ConformantArray(
                    names
                        .iter()
                        .map(|n| Unique::new(WideString::from(*n)))
                        .collect(),
                )),
                return_value: hr,
            })
        }
        fn sch_rpc_get_task_info(
            &self,
            req: SchRpcGetTaskInfoRequest,
        ) -> Result<SchRpcGetTaskInfoResponse, Win32Status> {
            let known = req.path.to_string_lossy() == r"\A"
                && req.flags == msrpc_windows::schrpc::SCH_FLAG_STATE;
            Ok(SchRpcGetTaskInfoResponse {
                pEnabled: 1,
                pState: 3,
                // HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND) for any other task.
                return_value: if known { 0 } else { 0x8007_0002_u32 as i32 },
            })
        }
        fn sch_rpc_highest_version(
            &self,
            _: SchRpcHighestVersionRequest,
        ) -> Result<SchRpcHighestVersionResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_register_task(
            &self,
            _: SchRpcRegisterTaskRequest,
        ) -> Result<SchRpcRegisterTaskResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_retrieve_task(
            &self,
            _: SchRpcRetrieveTaskRequest,
        ) -> Result<SchRpcRetrieveTaskResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_create_folder(
            &self,
            _: SchRpcCreateFolderRequest,
        ) -> Result<SchRpcCreateFolderResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_set_security(
            &self,
            _: SchRpcSetSecurityRequest,
        ) -> Result<SchRpcSetSecurityResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_get_security(
            &self,
            _: SchRpcGetSecurityRequest,
        ) -> Result<SchRpcGetSecurityResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_enum_folders(
            &self,
            _: SchRpcEnumFoldersRequest,
        ) -> Result<SchRpcEnumFoldersResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_enum_instances(
            &self,
            _: SchRpcEnumInstancesRequest,
        ) -> Result<SchRpcEnumInstancesResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_get_instance_info(
            &self,
            _: SchRpcGetInstanceInfoRequest,
        ) -> Result<SchRpcGetInstanceInfoResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_stop_instance(
            &self,
            _: SchRpcStopInstanceRequest,
        ) -> Result<SchRpcStopInstanceResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_stop(&self, _: SchRpcStopRequest) -> Result<SchRpcStopResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_run(&self, _: SchRpcRunRequest) -> Result<SchRpcRunResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_delete(
            &self,
            _: SchRpcDeleteRequest,
        ) -> Result<SchRpcDeleteResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_rename(
            &self,
            _: SchRpcRenameRequest,
        ) -> Result<SchRpcRenameResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_get_last_run_info(
            &self,
            _: SchRpcGetLastRunInfoRequest,
        ) -> Result<SchRpcGetLastRunInfoResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_enable_task(
            &self,
            _: SchRpcEnableTaskRequest,
        ) -> Result<SchRpcEnableTaskResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_scheduled_runtimes(
            &self,
            _: SchRpcScheduledRuntimesRequest,
        ) -> Result<SchRpcScheduledRuntimesResponse, Win32Status> {
            Err(Win32Status(1))
        }
        fn sch_rpc_get_number_of_missed_runs(
            &self,
            _: SchRpcGetNumberOfMissedRunsRequest,
        ) -> Result<SchRpcGetNumberOfMissedRunsResponse, Win32Status> {
            Err(Win32Status(1))
        }
    }
}

async fn serve(i: Arc<dyn msrpc::Interface>) -> (msrpc::Server, Binding) {
    let server = msrpc::Server::builder()
        .interface(i)
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let b = Binding::from_string(&server.bindings()[0].to_string()).unwrap();
    (server, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atsvc_jobs_follows_the_resume_handle() {
    use msrpc_windows::atsvc::{atsvc::Service, jobs};
    let m = Arc::new(at::Jobs {
        deny: false,
        resumes: Mutex::new(Vec::new()),
    });
    let (server, b) = serve(Arc::new(Service(m.clone()))).await;
    let got = jobs(&b).await.unwrap();
    server.shutdown(Duration::from_secs(2)).await;
    let ids: Vec<_> = got
        .iter()
        .map(|j| (j.id, j.time_ms, j.days_of_month))
        .collect();
    assert_eq!(ids, [(1, 60_000, 2), (2, 120_000, 4), (3, 180_000, 8)]);
    assert!(got.iter().all(|j| j.command.is_empty() && j.flags == 0x10));
    assert_eq!(*m.resumes.lock().unwrap(), [0, 2]);

    let m = Arc::new(at::Jobs {
        deny: true,
        resumes: Mutex::new(Vec::new()),
    });
    let (server, b) = serve(Arc::new(Service(m))).await;
    let err = jobs(&b).await.expect_err("denied");
    server.shutdown(Duration::from_secs(2)).await;
    assert!(
        matches!(
            err,
            Error::Win32 {
                status: Win32Status(5),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schrpc_tasks_pages_and_task_info() {
    use msrpc_windows::schrpc::i_task_scheduler_service::Service;
    use msrpc_windows::schrpc::{TASK_BATCH, task_info, tasks};
    let m = Arc::new(sch::Tasks {
        asked: Mutex::new(Vec::new()),
    });
    let (server, b) = serve(Arc::new(Service(m.clone()))).await;
    let names = tasks(&b, "\\", 0).await.unwrap();
    let info = task_info(&b, r"\A").await.unwrap();
    let missing = task_info(&b, r"\Nope").await.expect_err("not found");
    server.shutdown(Duration::from_secs(2)).await;
    assert_eq!(names, ["A", "B", "C"]);
    assert_eq!(
        *m.asked.lock().unwrap(),
        [
            ("\\".to_owned(), 0, TASK_BATCH),
            ("\\".to_owned(), 2, TASK_BATCH)
        ]
    );
    assert_eq!((info.enabled, info.state), (true, 3));
    assert!(
        matches!(
            missing,
            Error::Win32 {
                status: Win32Status(2),
                ..
            }
        ),
        "{missing:?}"
    );
}
