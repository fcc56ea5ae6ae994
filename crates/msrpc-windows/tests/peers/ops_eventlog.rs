//! eventlog: 7 of the 8 operations Samba implements (ElfrFlushEL is opnum 23, which MS-EVEN's
//! IDL has as Opnum23NotUsedOnWire). smbd here keeps no event log (no
//! `eventlog list`), so ElfrOpenELW is refused (`STATUS_OBJECT_PATH_INVALID`) and the handle
//! operations are called with a handle the server never gave: each reaches Samba's handle
//! lookup, which faults the call with `nca_s_fault_context_mismatch` (`ERROR_INVALID_HANDLE`),
//! so these six decode a fault, not a reply.

use msrpc::Binding;
use msrpc::codegen::ndr::{ConformantArray, Unique};
use msrpc_windows::eventlog::eventlog::*;
use msrpc_windows::unicode_string;

use crate::call;
use crate::ops::*;

/// `EVENTLOG_SEQUENTIAL_READ | EVENTLOG_FORWARDS_READ`.
const EVENTLOG_READ: u32 = 0x0001 | 0x0004;

pub(crate) async fn run(b: &Binding, peer: Peer) -> Tally {
    let mut t = Tally::new("eventlog", peer);
    let c = Client(b);
    call!(
        t,
        "ElfrOpenELW",
        c.elfr_open_elw(ElfrOpenELWRequest {
            UNCServerName: Unique::default(),
            ModuleName: unicode_string("Application"),
            RegModuleName: unicode_string(""),
            MajorVersion: 1,
            MinorVersion: 1,
        }),
        // samba-dcerpcd does not serve eventlog over TCP (ops::NOT_SERVED): its endpoint
        // mapper refuses the interface and the run stops there.
        peer.pick(
            Status(STATUS_OBJECT_PATH_INVALID),
            Fault(EPT_S_NOT_REGISTERED)
        )
    );
    if t.unserved() {
        return t;
    }
    call!(
        t,
        "ElfrNumberOfRecords",
        c.elfr_number_of_records(ElfrNumberOfRecordsArgs {
            LogHandle: forged(b)
        }),
        Fault(ERROR_INVALID_HANDLE)
    );
    call!(
        t,
        "ElfrOldestRecord",
        c.elfr_oldest_record(ElfrOldestRecordArgs {
            LogHandle: forged(b)
        }),
        Fault(ERROR_INVALID_HANDLE)
    );
    call!(
        t,
        "ElfrReadELW",
        c.elfr_read_elw(ElfrReadELWArgs {
            LogHandle: forged(b),
            ReadFlags: EVENTLOG_READ,
            RecordOffset: 0,
            NumberOfBytesToRead: 4096,
        }),
        Fault(ERROR_INVALID_HANDLE)
    );
    call!(
        t,
        "ElfrGetLogInformation",
        c.elfr_get_log_information(ElfrGetLogInformationArgs {
            LogHandle: forged(b),
            InfoLevel: 0,
            cbBufSize: 4,
        }),
        Fault(ERROR_INVALID_HANDLE)
    );
    call!(
        t,
        "ElfrClearELFW",
        c.elfr_clear_elfw(ElfrClearELFWArgs {
            LogHandle: forged(b),
            BackupFileName: Unique::default(),
        }),
        Fault(ERROR_INVALID_HANDLE)
    );
    call!(
        t,
        "ElfrReportEventW",
        c.elfr_report_event_w(ElfrReportEventWArgs {
            LogHandle: forged(b),
            Time: 0,
            EventType: 4,
            EventCategory: 0,
            EventID: 1,
            NumStrings: 0,
            DataSize: 0,
            ComputerName: unicode_string("msrpc"),
            UserSID: Unique::default(),
            Strings: ConformantArray(Vec::new()),
            Data: Unique::<ConformantArray<u8>>::default(),
            Flags: 0,
            RecordNumber: Unique::new(0),
            TimeWritten: Unique::new(0),
        }),
        Fault(ERROR_INVALID_HANDLE)
    );
    t
}
