//! wkssvc: the 4 operations Samba implements, through the thin layer where it has one.

use msrpc::Binding;
use msrpc::codegen::ndr::{Unique, WideString};
use msrpc_windows::wkssvc::wkssvc::*;
use msrpc_windows::wkssvc::{InfoLevel, JOINPR_ENCRYPTED_USER_PASSWORD};

use crate::call;
use crate::ops::*;

fn outcome<T>(r: &msrpc_windows::Result<T>) -> Outcome {
    match r {
        Ok(_) => OK,
        Err(msrpc_windows::Error::Win32 { status, .. }) => Status(status.0),
        Err(e) => Fault(e.win32().map(|w| w.0).unwrap_or(u32::MAX)),
    }
}

pub(crate) async fn run(b: &Binding, peer: Peer) -> Tally {
    let mut t = Tally::new("wkssvc", peer);
    // Level 100 is open to anyone, 101 to authenticated users; Samba gives 102 to
    // administrators only.
    let r = msrpc_windows::wkssvc::workstation_info(b, InfoLevel::L100).await;
    t.record("NetrWkstaGetInfo", outcome(&r), OK);
    if let Ok(i) = &r {
        t.expect(
            "NetrWkstaGetInfo",
            i.platform_id == 500
                && i.computer_name.eq_ignore_ascii_case(peer.server())
                && i.domain.eq_ignore_ascii_case("MSRPCTEST"),
            format!("level 100: {i:?}"),
        );
    }
    let r = msrpc_windows::wkssvc::workstation_info(b, InfoLevel::L101).await;
    t.record("NetrWkstaGetInfo", outcome(&r), OK);
    if let Ok(i) = &r {
        t.expect(
            "NetrWkstaGetInfo",
            i.computer_name.eq_ignore_ascii_case(peer.server()) && i.lan_root.is_some(),
            format!("level 101: {i:?}"),
        );
    }
    let r = msrpc_windows::wkssvc::workstation_info(b, InfoLevel::L102).await;
    t.record("NetrWkstaGetInfo", outcome(&r), Status(ERROR_ACCESS_DENIED));
    let c = Client(b);
    call!(
        t,
        "NetrWkstaGetInfo",
        c.netr_wksta_get_info(NetrWkstaGetInfoRequest {
            ServerName: Unique::default(),
            Level: 7,
        }),
        Status(ERROR_INVALID_LEVEL)
    );
    let r = msrpc_windows::wkssvc::logged_on_users(b).await;
    t.record(
        "NetrWkstaUserEnum",
        outcome(&r),
        Status(ERROR_ACCESS_DENIED),
    );
    let password = || Unique::new(JOINPR_ENCRYPTED_USER_PASSWORD { Buffer: [0; 524] });
    call!(
        t,
        "NetrJoinDomain2",
        c.netr_join_domain2(NetrJoinDomain2Request {
            ServerName: Unique::default(),
            DomainNameParam: WideString::from("NOSUCHDOMAIN"),
            MachineAccountOU: Unique::default(),
            AccountName: Unique::new(WideString::from("msrpc")),
            Password: password(),
            Options: 1,
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    call!(
        t,
        "NetrUnjoinDomain2",
        c.netr_unjoin_domain2(NetrUnjoinDomain2Request {
            ServerName: Unique::default(),
            AccountName: Unique::new(WideString::from("msrpc")),
            Password: password(),
            Options: 0,
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    t
}
