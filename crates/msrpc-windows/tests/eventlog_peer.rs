//! `eventlog::newest_records` against smbd's `\pipe\eventlog` (scripts/peers/smbd.sh,
//! `MSRPC_SMBD_DIR`), which writes two records into event log `MsrpcTest` with Samba's
//! `eventlogadm` when it starts: event 4242 (warning), then 4243 (error, the newest).
//! Ignored by a plain `cargo test`; `./scripts/test` starts smbd and runs it.

#![allow(clippy::unwrap_used)]
#![cfg(all(feature = "eventlog", feature = "ncacn-np"))]

mod common;

use common::np;
use msrpc_windows::Error;
use msrpc_windows::eventlog::newest_records;

#[test]
#[ignore = "needs smbd: ./scripts/test starts it (scripts/peers/smbd.sh)"]
fn newest_records_are_the_ones_eventlogadm_wrote() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = np("eventlog");
        let all = newest_records(&b, "MsrpcTest", 10).await.unwrap();
        assert_eq!(all.len(), 2, "{all:?}");
        let (newest, older) = (&all[0], &all[1]);
        assert_eq!(newest.number, older.number + 1, "newest first: {all:?}");
        assert_eq!(
            (newest.event_id, newest.event_type),
            (4243, 1),
            "EVENTLOG_ERROR_TYPE"
        );
        assert_eq!(newest.strings, ["second record", "the newest"]);
        assert_eq!(
            (older.event_id, older.event_type),
            (4242, 2),
            "EVENTLOG_WARNING_TYPE"
        );
        assert_eq!(older.strings, ["first record", "written by smbd.sh"]);
        for r in &all {
            assert_eq!(
                (r.source.as_str(), r.computer.as_str()),
                ("msrpc-test", "NPSRV")
            );
            // Written when smbd.sh started: after 2020-01-01 (Samba prunes records older
            // than the log's retention, so an old timestamp would not be there at all).
            assert!(r.time_generated > 1_577_836_800, "{r:?}");
        }

        // `max` stops the reading: the newest record alone.
        let one = newest_records(&b, "MsrpcTest", 1).await.unwrap();
        assert_eq!(one, all[..1]);

        // A log smbd does not keep is refused by NT name.
        let err = newest_records(&b, "Security", 5)
            .await
            .expect_err("no Security log");
        assert!(matches!(err, Error::Nt { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "ElfrOpenELW: STATUS_OBJECT_PATH_INVALID (0xC0000039)"
        );
    });
}
