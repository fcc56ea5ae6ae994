//! svcctl: the 16 operations Samba implements, on its RemoteRegistry service.

use msrpc::codegen::ndr::{ConformantArray, Unique, WideString};
use msrpc::{Binding, ClientContext};
use msrpc_windows::svcctl::SC_STATUS_TYPE;
use msrpc_windows::svcctl::svcctl::*;

use crate::call;
use crate::ops::*;

/// `SC_MANAGER_CONNECT | SC_MANAGER_ENUMERATE_SERVICE | SC_MANAGER_QUERY_LOCK_STATUS`.
const SCM_READ: u32 = 0x0001 | 0x0004 | 0x0010;
/// `SERVICE_QUERY_CONFIG | SERVICE_QUERY_STATUS | SERVICE_ENUMERATE_DEPENDENTS |
/// SERVICE_INTERROGATE | READ_CONTROL`: what an unprivileged user may have.
const SERVICE_READ: u32 = 0x0001 | 0x0004 | 0x0008 | 0x0080 | 0x0002_0000;
const SERVICE_CONTROL_STOP: u32 = 1;
const SERVICE_CONTROL_INTERROGATE: u32 = 4;
const SERVICE_RUNNING: u32 = 4;
/// `ERROR_SERVICE_DOES_NOT_EXIST`.
const ERROR_SERVICE_DOES_NOT_EXIST: u32 = 1060;

pub(crate) async fn run(b: &Binding, peer: Peer) -> Tally {
    let mut t = Tally::new("svcctl", peer);
    let c = Client(b);
    // samba-dcerpcd does not serve svcctl over TCP (ops::NOT_SERVED): its endpoint mapper
    // refuses the interface and the run stops there.
    let scm = call!(
        t,
        "ROpenSCManagerW",
        c.r_open_sc_manager_w(ROpenSCManagerWRequest {
            lpMachineName: Unique::default(),
            lpDatabaseName: Unique::default(),
            dwDesiredAccess: SCM_READ,
        }),
        peer.pick(OK, Fault(EPT_S_NOT_REGISTERED))
    );
    if t.unserved() {
        return t;
    }
    let Some(scm) = scm else {
        return t;
    };
    let scm: ClientContext<Binding> = scm.lpScHandle;
    // SC_MANAGER_LOCK was not asked for.
    call!(
        t,
        "RLockServiceDatabase",
        c.r_lock_service_database(RLockServiceDatabaseArgs {
            hSCManager: scm.clone()
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    // A lock handle the server never gave: faulted (nca_s_fault_context_mismatch).
    call!(
        t,
        "RUnlockServiceDatabase",
        c.r_unlock_service_database(RUnlockServiceDatabaseArgs { Lock: forged(b) }),
        Fault(ERROR_INVALID_HANDLE)
    );
    if let Some(o) = call!(
        t,
        "REnumServicesStatusW",
        c.r_enum_services_status_w(REnumServicesStatusWArgs {
            hSCManager: scm.clone(),
            dwServiceType: 0x30,
            dwServiceState: 3,
            cbBufSize: 64 * 1024,
            lpResumeIndex: Unique::new(0),
        }),
        OK
    ) {
        t.expect(
            "REnumServicesStatusW",
            o.lpServicesReturned >= 1,
            format!("{} services", o.lpServicesReturned),
        );
    }
    // MS-SCMR's `[in, out] DWORD *lpcchBuffer` is a top-level [ref] pointer (no wire form);
    // Samba's IDL has it `[unique]` (a referent first), so it reads the spec's request short
    // and faults it with nca_s_fault_ndr.
    call!(
        t,
        "RGetServiceDisplayNameW",
        c.r_get_service_display_name_w(RGetServiceDisplayNameWArgs {
            hSCManager: scm.clone(),
            lpServiceName: WideString::from("RemoteRegistry"),
            lpcchBuffer: 256,
        }),
        Fault(RPC_X_BAD_STUB_DATA)
    );
    call!(
        t,
        "ROpenServiceW",
        c.r_open_service_w(ROpenServiceWArgs {
            hSCManager: scm.clone(),
            lpServiceName: WideString::from("NoSuchService"),
            dwDesiredAccess: SERVICE_READ,
        }),
        Status(ERROR_SERVICE_DOES_NOT_EXIST)
    );
    let Some(svc) = call!(
        t,
        "ROpenServiceW",
        c.r_open_service_w(ROpenServiceWArgs {
            hSCManager: scm.clone(),
            lpServiceName: WideString::from("RemoteRegistry"),
            dwDesiredAccess: SERVICE_READ,
        }),
        OK
    ) else {
        return t;
    };
    let svc = svc.lpServiceHandle;
    if let Some(o) = call!(
        t,
        "RQueryServiceStatus",
        c.r_query_service_status(RQueryServiceStatusArgs {
            hService: svc.clone()
        }),
        OK
    ) {
        t.expect(
            "RQueryServiceStatus",
            o.lpServiceStatus.dwCurrentState == SERVICE_RUNNING,
            format!("{:?}", o.lpServiceStatus),
        );
    }
    call!(
        t,
        "RQueryServiceStatusEx",
        c.r_query_service_status_ex(RQueryServiceStatusExArgs {
            hService: svc.clone(),
            InfoLevel: SC_STATUS_TYPE::SC_STATUS_PROCESS_INFO,
            cbBufSize: 36,
        }),
        OK
    );
    call!(
        t,
        "RControlService",
        c.r_control_service(RControlServiceArgs {
            hService: svc.clone(),
            dwControl: SERVICE_CONTROL_INTERROGATE,
        }),
        OK
    );
    call!(
        t,
        "RControlService",
        c.r_control_service(RControlServiceArgs {
            hService: svc.clone(),
            dwControl: SERVICE_CONTROL_STOP,
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    call!(
        t,
        "RStartServiceW",
        c.r_start_service_w(RStartServiceWArgs {
            hService: svc.clone(),
            argc: 0,
            argv: Unique::default(),
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    call!(
        t,
        "REnumDependentServicesW",
        c.r_enum_dependent_services_w(REnumDependentServicesWArgs {
            hService: svc.clone(),
            dwServiceState: 3,
            cbBufSize: 1024,
        }),
        OK
    );
    if let Some(o) = call!(
        t,
        "RQueryServiceConfigW",
        c.r_query_service_config_w(RQueryServiceConfigWArgs {
            hService: svc.clone(),
            cbBufSize: 8192,
        }),
        OK
    ) {
        let display = o
            .lpServiceConfig
            .lpDisplayName
            .as_ref()
            .map(|d| d.to_string_lossy())
            .unwrap_or_default();
        t.expect(
            "RQueryServiceConfigW",
            !display.is_empty(),
            format!("display name {display:?}"),
        );
    }
    // SERVICE_CONFIG_DESCRIPTION (1).
    call!(
        t,
        "RQueryServiceConfig2W",
        c.r_query_service_config2_w(RQueryServiceConfig2WArgs {
            hService: svc.clone(),
            dwInfoLevel: 1,
            cbBufSize: 8192,
        }),
        OK
    );
    // DACL_SECURITY_INFORMATION (4).
    let sd = call!(
        t,
        "RQueryServiceObjectSecurity",
        c.r_query_service_object_security(RQueryServiceObjectSecurityArgs {
            hService: svc.clone(),
            dwSecurityInformation: 4,
            cbBufSize: 8192,
        }),
        OK
    )
    .map(|o| o.lpSecurityDescriptor.0)
    .unwrap_or_default();
    let n = sd.len() as u32;
    call!(
        t,
        "RSetServiceObjectSecurity",
        c.r_set_service_object_security(RSetServiceObjectSecurityArgs {
            hService: svc.clone(),
            dwSecurityInformation: 4,
            lpSecurityDescriptor: ConformantArray(sd),
            cbBufSize: n,
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    for h in [svc, scm] {
        call!(
            t,
            "RCloseServiceHandle",
            c.r_close_service_handle(RCloseServiceHandleArgs { hSCObject: h }),
            OK
        );
    }
    t
}
